//! The two header layers: the `FSPIOP-Signature` value ([`SignatureHeader`]) and the JWS
//! protected header inside it ([`ProtectedHeader`]).

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::RequestParts;
use crate::error::{JwsError, Malformed};
use crate::json::{self, Value};

/// A JWS algorithm this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Alg {
    /// ECDSA P-256 with SHA-256, signature as 64-byte `r || s`.
    Es256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl Alg {
    /// The JOSE name, as in the protected header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Rs256 => "RS256",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Alg {
    type Err = JwsError;

    /// Parses a JOSE name exactly (case-sensitive, as JOSE requires).
    fn from_str(name: &str) -> Result<Self, JwsError> {
        match name {
            "ES256" => Ok(Self::Es256),
            "RS256" => Ok(Self::Rs256),
            other => Err(JwsError::UnknownAlgorithm(truncate(other, 32))),
        }
    }
}

/// The JWS protected header of an FSPIOP request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProtectedHeader {
    /// `alg`.
    pub alg: Alg,
    /// `FSPIOP-URI`: the path from the resource segment, e.g. `/transfers/{ID}`.
    pub uri: String,
    /// `FSPIOP-HTTP-Method`, upper case.
    pub method: String,
    /// `FSPIOP-Source`.
    pub source: String,
    /// `FSPIOP-Destination`, when signed.
    pub destination: Option<String>,
    /// `Date`, when signed.
    pub date: Option<String>,
    /// Any other members, in received order: name and the value's JSON text as received.
    pub other: Vec<(String, String)>,
}

impl ProtectedHeader {
    /// The header the SDK signer would build for `request` (method upper-cased; destination
    /// and date only when present).
    pub fn for_request(alg: Alg, request: &RequestParts<'_>) -> Self {
        Self {
            alg,
            uri: request.uri.to_owned(),
            method: request.method.to_ascii_uppercase(),
            source: request.source.to_owned(),
            destination: request.destination.map(str::to_owned),
            date: request.date.map(str::to_owned),
            other: Vec::new(),
        }
    }

    /// Parses the decoded protected header JSON.
    ///
    /// `alg`, `FSPIOP-URI`, `FSPIOP-HTTP-Method` and `FSPIOP-Source` are required; like the
    /// SDK, an empty string counts as absent (also for `FSPIOP-Destination` and `Date`).
    /// Duplicate members and `crit` are refused.
    ///
    /// # Errors
    /// [`JwsError::Malformed`], or [`JwsError::UnknownAlgorithm`] for an `alg` other than
    /// `RS256`/`ES256`.
    pub fn parse(json: &[u8]) -> Result<Self, JwsError> {
        const WHAT: &str = "protected header";
        let text = std::str::from_utf8(json).map_err(|_| Malformed::NotUtf8)?;
        let Value::Object(members) = json::parse(text).map_err(|_| Malformed::NotJson(WHAT))?
        else {
            return Err(Malformed::NotObject(WHAT).into());
        };
        let mut alg = None;
        let mut uri = None;
        let mut method = None;
        let mut source = None;
        let mut destination = None;
        let mut date = None;
        let mut other = Vec::new();
        let mut names: HashSet<&str> = HashSet::with_capacity(members.len());
        for member in &members {
            let name: &str = &member.key;
            if !names.insert(name) {
                return Err(Malformed::DuplicateMember(truncate(name, 64)).into());
            }
            let slot = match name {
                "alg" => &mut alg,
                "FSPIOP-URI" => &mut uri,
                "FSPIOP-HTTP-Method" => &mut method,
                "FSPIOP-Source" => &mut source,
                "FSPIOP-Destination" => &mut destination,
                "Date" => &mut date,
                "crit" => return Err(Malformed::Critical.into()),
                _ => {
                    other.push((name.to_owned(), member.raw.to_owned()));
                    continue;
                }
            };
            *slot = Some(member);
        }
        let alg: Alg = required_string(alg, "alg")?.parse()?;
        Ok(Self {
            alg,
            uri: required_string(uri, "FSPIOP-URI")?,
            method: required_string(method, "FSPIOP-HTTP-Method")?,
            source: required_string(source, "FSPIOP-Source")?,
            destination: optional_string(destination, "FSPIOP-Destination")?,
            date: optional_string(date, "Date")?,
            other,
        })
    }

    /// The header as compact JSON, members in the SDK's order (`alg`, `FSPIOP-URI`,
    /// `FSPIOP-HTTP-Method`, `FSPIOP-Source`, `FSPIOP-Destination`, `Date`), then the others.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(160);
        out.push('{');
        let mut member = |name: &str, value: &str| {
            if out.len() > 1 {
                out.push(',');
            }
            json::write_string(name, &mut out);
            out.push(':');
            json::write_string(value, &mut out);
        };
        member("alg", self.alg.as_str());
        member("FSPIOP-URI", &self.uri);
        member("FSPIOP-HTTP-Method", &self.method);
        member("FSPIOP-Source", &self.source);
        if let Some(destination) = &self.destination {
            member("FSPIOP-Destination", destination);
        }
        if let Some(date) = &self.date {
            member("Date", date);
        }
        for (name, raw) in &self.other {
            out.push(',');
            json::write_string(name, &mut out);
            out.push(':');
            out.push_str(raw);
        }
        out.push('}');
        out
    }

    /// [`to_json`](Self::to_json), base64url-encoded: the first segment of the compact JWS.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.to_json())
    }
}

/// The parsed `FSPIOP-Signature` header value,
/// `{"protectedHeader":"<b64url>","signature":"<b64url>"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    protected_header: String,
    signature: Vec<u8>,
}

impl SignatureHeader {
    /// Parses a header value. Both members are required strings of canonical unpadded
    /// base64url, `protectedHeader` at most 32768 and `signature` at most 683 characters;
    /// other members are ignored (as the SDK ignores them), duplicates refused.
    ///
    /// The signature limit is the spec's 512 stretched to fit RSA-4096 signatures, which the
    /// SDK produces and accepts.
    ///
    /// # Errors
    /// [`JwsError::Missing`] for an empty value, [`JwsError::Malformed`] otherwise.
    pub fn parse(value: &str) -> Result<Self, JwsError> {
        const WHAT: &str = "FSPIOP-Signature";
        if value.trim().is_empty() {
            return Err(JwsError::Missing);
        }
        if value.len() > HEADER_VALUE_MAX {
            return Err(Malformed::TooLong {
                what: WHAT,
                len: value.len(),
                max: HEADER_VALUE_MAX,
            }
            .into());
        }
        let Value::Object(members) = json::parse(value).map_err(|_| Malformed::NotJson(WHAT))?
        else {
            return Err(Malformed::NotObject(WHAT).into());
        };
        let mut protected_header = None;
        let mut signature = None;
        for member in &members {
            let slot = match &*member.key {
                "protectedHeader" => &mut protected_header,
                "signature" => &mut signature,
                _ => continue,
            };
            if slot.is_some() {
                return Err(Malformed::DuplicateMember(truncate(&member.key, 64)).into());
            }
            *slot = Some(member);
        }
        let protected_header = required_string(protected_header, "protectedHeader")?;
        let signature_text = required_string(signature, "signature")?;
        check_length("protectedHeader", &protected_header, PROTECTED_HEADER_MAX)?;
        check_length("signature", &signature_text, SIGNATURE_MAX)?;
        // Decode both up front: this is the strict base64url check for the protected header.
        URL_SAFE_NO_PAD
            .decode(&protected_header)
            .map_err(|_| Malformed::Base64("protectedHeader"))?;
        let signature = URL_SAFE_NO_PAD
            .decode(&signature_text)
            .map_err(|_| Malformed::Base64("signature"))?;
        Ok(Self {
            protected_header,
            signature,
        })
    }

    /// Builds a header from its two parts.
    pub fn new(protected_header: &ProtectedHeader, signature: Vec<u8>) -> Self {
        Self {
            protected_header: protected_header.encode(),
            signature,
        }
    }

    /// Builds a header from an already encoded protected header.
    pub(crate) fn from_encoded(protected_header: String, signature: Vec<u8>) -> Self {
        Self {
            protected_header,
            signature,
        }
    }

    /// The `protectedHeader` member as received: base64url, the first segment of the
    /// signing input.
    pub fn protected_header_b64(&self) -> &str {
        &self.protected_header
    }

    /// The decoded signature bytes.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Decodes and parses the protected header.
    ///
    /// # Errors
    /// As for [`ProtectedHeader::parse`].
    pub fn protected_header(&self) -> Result<ProtectedHeader, JwsError> {
        let json = URL_SAFE_NO_PAD
            .decode(&self.protected_header)
            .map_err(|_| Malformed::Base64("protectedHeader"))?;
        ProtectedHeader::parse(&json)
    }

    /// The header value as the SDK writes it (sorted keys, compact).
    pub fn to_header_value(&self) -> String {
        let signature = URL_SAFE_NO_PAD.encode(&self.signature);
        let mut out = String::with_capacity(HEADER_VALUE_MAX.min(1024));
        out.push_str("{\"protectedHeader\":");
        json::write_string(&self.protected_header, &mut out);
        out.push_str(",\"signature\":");
        json::write_string(&signature, &mut out);
        out.push('}');
        out
    }
}

fn required_string(
    member: Option<&json::Member<'_>>,
    name: &'static str,
) -> Result<String, JwsError> {
    optional_string(member, name)?.ok_or_else(|| Malformed::MissingMember(name).into())
}

fn optional_string(
    member: Option<&json::Member<'_>>,
    name: &'static str,
) -> Result<Option<String>, JwsError> {
    match member.map(|member| &member.value) {
        None => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.to_string())),
        Some(_) => Err(Malformed::NotString(name).into()),
    }
}

fn check_length(what: &'static str, text: &str, max: usize) -> Result<(), JwsError> {
    if text.len() > max {
        return Err(Malformed::TooLong {
            what,
            len: text.len(),
            max,
        }
        .into());
    }
    Ok(())
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// Spec limit for `protectedHeader` (characters).
pub const PROTECTED_HEADER_MAX: usize = 32768;
/// Limit for `signature` (characters): the spec says 512, which fits RSA up to 3072 bits;
/// 683 fits the RSA-4096 signatures the SDK produces.
pub const SIGNATURE_MAX: usize = 683;
/// Whole header value: both parts plus generous room for JSON punctuation and escapes.
const HEADER_VALUE_MAX: usize = 65_536;

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> RequestParts<'static> {
        RequestParts {
            method: "put",
            uri: "/transfers/1",
            source: "payeefsp",
            destination: Some("payerfsp"),
            date: None,
        }
    }

    #[test]
    fn header_json_has_sdk_member_order() {
        let header = ProtectedHeader::for_request(Alg::Rs256, &request());
        assert_eq!(
            header.to_json(),
            r#"{"alg":"RS256","FSPIOP-URI":"/transfers/1","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp"}"#
        );
        assert_eq!(
            ProtectedHeader::parse(header.to_json().as_bytes()),
            Ok(header)
        );
    }

    #[test]
    fn other_members_are_kept_verbatim() {
        let json = br#"{"FSPIOP-Source":"a","kid":"k1","x":{"y" : [1]},"alg":"ES256","FSPIOP-URI":"/quotes","FSPIOP-HTTP-Method":"POST","Date":""}"#;
        let header = ProtectedHeader::parse(json).expect("valid");
        assert_eq!(header.alg, Alg::Es256);
        assert_eq!(header.date, None);
        assert_eq!(
            header.other,
            vec![
                ("kid".to_owned(), "\"k1\"".to_owned()),
                ("x".to_owned(), "{\"y\" : [1]}".to_owned())
            ]
        );
    }

    #[test]
    fn protected_header_errors_are_precise() {
        let cases: [(&[u8], JwsError); 8] = [
            (b"\xff", Malformed::NotUtf8.into()),
            (b"{", Malformed::NotJson("protected header").into()),
            (b"[]", Malformed::NotObject("protected header").into()),
            (
                br#"{"alg":"RS256","alg":"RS256"}"#,
                Malformed::DuplicateMember("alg".into()).into(),
            ),
            (
                br#"{"alg":"HS256","FSPIOP-URI":"/a","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"s"}"#,
                JwsError::UnknownAlgorithm("HS256".into()),
            ),
            (
                br#"{"alg":"RS256","FSPIOP-URI":"","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"s"}"#,
                Malformed::MissingMember("FSPIOP-URI").into(),
            ),
            (
                br#"{"alg":"RS256","FSPIOP-URI":"/a","FSPIOP-HTTP-Method":1,"FSPIOP-Source":"s"}"#,
                Malformed::NotString("FSPIOP-HTTP-Method").into(),
            ),
            (
                br#"{"alg":"RS256","crit":["b64"],"FSPIOP-URI":"/a","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"s"}"#,
                Malformed::Critical.into(),
            ),
        ];
        for (json, expected) in cases {
            assert_eq!(ProtectedHeader::parse(json), Err(expected));
        }
    }

    #[test]
    fn signature_header_is_strict_base64url() {
        let ok = SignatureHeader::parse(r#"{"signature":"AAEC","protectedHeader":"e30"}"#)
            .expect("valid");
        assert_eq!(ok.signature(), &[0, 1, 2]);
        assert_eq!(ok.protected_header_b64(), "e30");
        assert_eq!(
            ok.to_header_value(),
            r#"{"protectedHeader":"e30","signature":"AAEC"}"#
        );
        for (value, member) in [
            (
                r#"{"protectedHeader":"e30=","signature":"AAEC"}"#,
                "protectedHeader",
            ),
            (
                r#"{"protectedHeader":"e3+","signature":"AAEC"}"#,
                "protectedHeader",
            ),
            (
                r#"{"protectedHeader":"e30","signature":"AAE/"}"#,
                "signature",
            ),
            (
                r#"{"protectedHeader":"e30","signature":"AAE D"}"#,
                "signature",
            ),
            (
                r#"{"protectedHeader":"e31","signature":"AAEC"}"#,
                "protectedHeader",
            ),
            (r#"{"protectedHeader":"e30","signature":"A"}"#, "signature"),
        ] {
            assert_eq!(
                SignatureHeader::parse(value),
                Err(Malformed::Base64(member).into()),
                "{value}"
            );
        }
    }

    #[test]
    fn signature_header_limits_and_shapes() {
        assert_eq!(SignatureHeader::parse("  "), Err(JwsError::Missing));
        let long = format!(
            r#"{{"protectedHeader":"e30","signature":"{}"}}"#,
            "A".repeat(SIGNATURE_MAX + 1)
        );
        assert!(matches!(
            SignatureHeader::parse(&long),
            Err(JwsError::Malformed(Malformed::TooLong {
                what: "signature",
                ..
            }))
        ));
        let huge = "x".repeat(HEADER_VALUE_MAX + 1);
        assert!(matches!(
            SignatureHeader::parse(&huge),
            Err(JwsError::Malformed(Malformed::TooLong {
                what: "FSPIOP-Signature",
                ..
            }))
        ));
        assert_eq!(
            SignatureHeader::parse(r#"{"signature":"AAEC"}"#),
            Err(Malformed::MissingMember("protectedHeader").into())
        );
        assert_eq!(
            SignatureHeader::parse(r#"{"protectedHeader":"e30","signature":5}"#),
            Err(Malformed::NotString("signature").into())
        );
        assert_eq!(
            SignatureHeader::parse(
                r#"{"protectedHeader":"e30","signature":"AA","signature":"AA"}"#
            ),
            Err(Malformed::DuplicateMember("signature".into()).into())
        );
        assert_eq!(
            SignatureHeader::parse("e30.e30.AAEC"),
            Err(Malformed::NotJson("FSPIOP-Signature").into())
        );
    }
}
