//! FSPIOP JWS: the `FSPIOP-Signature` header of Mojaloop requests, signed and verified on
//! aws-lc-rs, byte-compatible with `@mojaloop/sdk-standard-components` (fspiop.md §3, §12).
//!
//! # Layout
//!
//! * [`sign`] builds the header value exactly as the SDK signer does: protected header members
//!   in the SDK's order, the value JSON with sorted keys, signature over
//!   `BASE64URL(protected header) "." BASE64URL(body bytes as given)`.
//! * [`verify`] parses the header ([`SignatureHeader`], [`ProtectedHeader`]), checks the
//!   algorithm against an allow-list and the protected header against the request
//!   ([`RequestParts`]), then checks the signature with each candidate key (rotation overlap)
//!   over the raw body first and, failing that, over the compact re-serialisations the SDK
//!   generations verify against: keys in received order (17.x, 19.18) and sorted (19.19). The
//!   [`Verified`] result says which key and which [`BodyForm`] matched. The hub must forward
//!   the raw bytes in any case.
//! * [`VerifyingKey`] and [`SigningKey`] load PEM (SPKI, PKCS#1, X.509 certificate; PKCS#8,
//!   PKCS#1, SEC1), refuse RSA outside 2048..=4096 bits and EC curves other than P-256, and
//!   cache the parsed key.
//! * [`check_date_freshness`] is the optional `Date` window check, kept separate because it is
//!   policy, not signature validity.
//!
//! Everything is pure (no I/O, no clock reads, no globals); nothing panics on untrusted input.
//!
//! # Example
//!
//! ```
//! use jws::{Alg, RequestParts, SigningKey, sign, verify};
//!
//! let key = SigningKey::generate_es256().unwrap();
//! let request = RequestParts {
//!     method: "PUT",
//!     uri: "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069",
//!     source: "Hub",
//!     destination: Some("payerfsp"),
//!     date: Some("Wed, 01 Jan 2025 00:00:01 GMT"),
//! };
//! let body = br#"{"transferState":"ABORTED"}"#;
//! let header = sign(&key, &request, body).unwrap();
//! let keys = [key.verifying_key().clone()];
//! let verified = verify(&header, &request, body, &keys, &[Alg::Es256, Alg::Rs256]).unwrap();
//! assert_eq!(verified.key_index, 0);
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Library code handles bytes from DFSPs: it must not be able to panic on them.
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::string_slice,
        clippy::unreachable,
        clippy::unwrap_used
    )
)]

mod der;
mod error;
mod header;
mod json;
mod key;
mod pem;

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub use error::{DateError, HeaderField, JwsError, KeyError, Malformed, Mismatch};
pub use header::{Alg, PROTECTED_HEADER_MAX, ProtectedHeader, SIGNATURE_MAX, SignatureHeader};
pub use key::{SigningKey, VerifyingKey};

/// The request values a signature covers, as the HTTP request carries them.
///
/// For verification pass the received header values: `uri` from `FSPIOP-URI`, `method` from
/// `FSPIOP-HTTP-Method` (compared exactly, as the SDK does), `source` from `FSPIOP-Source`,
/// `destination` from `FSPIOP-Destination` and `date` from `Date` (`None` when absent; an
/// empty value counts as absent). Checking that `FSPIOP-URI` and `FSPIOP-HTTP-Method` agree
/// with the actual request line is the caller's job; the SDK does not check it either.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestParts<'a> {
    /// HTTP method; [`sign`] upper-cases it, as the SDK does.
    pub method: &'a str,
    /// `FSPIOP-URI`: the path from the resource segment, e.g. `/transfers/{ID}`, no query.
    pub uri: &'a str,
    /// `FSPIOP-Source`.
    pub source: &'a str,
    /// `FSPIOP-Destination`, if the request has one.
    pub destination: Option<&'a str>,
    /// `Date`, if the request has one (RFC 1123 / IMF-fixdate).
    pub date: Option<&'a str>,
}

/// Which bytes a verified signature covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BodyForm {
    /// The body exactly as received (what a spec-strict signer signs).
    Raw,
    /// The parsed body re-serialised compactly with keys in received (JavaScript property)
    /// order, as SDK 17.x and 19.18 validators do.
    ReceivedOrder,
    /// The parsed body re-serialised compactly with keys sorted, as SDK 19.19 validators do.
    SortedKeys,
}

/// A successful verification.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Verified {
    /// The protected header (its `date` is `None` when the signature does not cover `Date`).
    pub header: ProtectedHeader,
    /// Index into the `keys` slice of the key that verified.
    pub key_index: usize,
    /// The body bytes the signature covers.
    pub body_form: BodyForm,
}

/// Signs a request and returns the `FSPIOP-Signature` header value, byte for byte what SDK
/// 19.19 produces for the same key and inputs (RS256 is deterministic; ES256 is not).
///
/// `body` is signed exactly as given and must be sent exactly as given. To interoperate with
/// every SDK generation, make it compact JSON with sorted keys (see [`canonical_json`]). The
/// caller sends `FSPIOP-URI`, `FSPIOP-HTTP-Method` (upper case), `FSPIOP-Source` and, when
/// given here, `FSPIOP-Destination` and `Date` with the same values.
///
/// # Errors
/// [`JwsError::EmptyBody`]; [`JwsError::InvalidRequestPart`] when a part is empty or not
/// printable ASCII (the SDK encodes the protected header as Latin-1, so anything else would
/// not round-trip); [`JwsError::SigningFailed`].
pub fn sign(key: &SigningKey, request: &RequestParts<'_>, body: &[u8]) -> Result<String, JwsError> {
    if body.is_empty() {
        return Err(JwsError::EmptyBody);
    }
    sign_payload(key, request, body)
}

/// Signs a request without a body (`GET`, `DELETE`) over the empty payload, as RFC 7515
/// allows: the signing input is `BASE64URL(protected header) "."`.
///
/// The reference SDK never signs such requests; use this only where the scheme has agreed to
/// sign them (the hub's `verify_bodyless` policy).
///
/// # Errors
/// As [`sign`], except that there is no body to be missing.
pub fn sign_bodyless(key: &SigningKey, request: &RequestParts<'_>) -> Result<String, JwsError> {
    sign_payload(key, request, &[])
}

fn sign_payload(
    key: &SigningKey,
    request: &RequestParts<'_>,
    body: &[u8],
) -> Result<String, JwsError> {
    let parts = [
        (HeaderField::Uri, Some(request.uri)),
        (HeaderField::Method, Some(request.method)),
        (HeaderField::Source, Some(request.source)),
        (HeaderField::Destination, request.destination),
        (HeaderField::Date, request.date),
    ];
    for (field, value) in parts {
        if value.is_some_and(|value| value.is_empty() || !value.bytes().all(is_printable_ascii)) {
            return Err(JwsError::InvalidRequestPart { field });
        }
    }
    let protected_header = ProtectedHeader::for_request(key.alg(), request).encode();
    let mut input = String::with_capacity(signing_input_len(&protected_header, body));
    input.push_str(&protected_header);
    input.push('.');
    URL_SAFE_NO_PAD.encode_string(body, &mut input);
    let signature = key.sign_message(input.as_bytes())?;
    Ok(SignatureHeader::from_encoded(protected_header, signature).to_header_value())
}

/// Verifies an `FSPIOP-Signature` header value against the request and its body.
///
/// Order of checks: header present, body present, header well-formed, `alg` known and in
/// `allowed_algs`, protected header equal to the request (`FSPIOP-URI`,
/// `FSPIOP-HTTP-Method`, `FSPIOP-Source` always; `FSPIOP-Destination` signed if and only if
/// the request has it; `Date`, when signed, equal to the request's), then the signature
/// with each key of the header's algorithm over the raw body, the received-order
/// re-serialisation and the sorted re-serialisation, in that order.
///
/// # Errors
/// The precise [`JwsError`]; all of them mean FSPIOP `3105 Invalid signature`.
pub fn verify(
    header_value: &str,
    request: &RequestParts<'_>,
    body: &[u8],
    keys: &[VerifyingKey],
    allowed_algs: &[Alg],
) -> Result<Verified, JwsError> {
    if header_value.trim().is_empty() {
        return Err(JwsError::Missing);
    }
    if body.is_empty() {
        return Err(JwsError::EmptyBody);
    }
    verify_payload(header_value, request, body, keys, allowed_algs)
}

/// Verifies the signature of a request without a body (`GET`, `DELETE`) made by
/// [`sign_bodyless`]: the same checks as [`verify`], over the empty payload.
///
/// # Errors
/// As [`verify`]; [`JwsError::EmptyBody`] is never returned.
pub fn verify_bodyless(
    header_value: &str,
    request: &RequestParts<'_>,
    keys: &[VerifyingKey],
    allowed_algs: &[Alg],
) -> Result<Verified, JwsError> {
    if header_value.trim().is_empty() {
        return Err(JwsError::Missing);
    }
    verify_payload(header_value, request, &[], keys, allowed_algs)
}

fn verify_payload(
    header_value: &str,
    request: &RequestParts<'_>,
    body: &[u8],
    keys: &[VerifyingKey],
    allowed_algs: &[Alg],
) -> Result<Verified, JwsError> {
    let signature_header = SignatureHeader::parse(header_value)?;
    let header = signature_header.protected_header()?;
    if !allowed_algs.contains(&header.alg) {
        return Err(JwsError::AlgorithmNotAllowed(header.alg));
    }
    check_request(&header, request)?;
    let candidates: Vec<(usize, &VerifyingKey)> = keys
        .iter()
        .enumerate()
        .filter(|(_, key)| key.alg() == header.alg)
        .collect();
    if candidates.is_empty() {
        return Err(JwsError::NoKey { alg: header.alg });
    }
    let signature = signature_header.signature();
    if header.alg == Alg::Es256 && signature.len() != ES256_SIGNATURE_LEN {
        return Err(JwsError::BadSignature);
    }
    let mut attempt = Attempt::new(signature_header.protected_header_b64(), body);
    let matched = attempt
        .try_payload(body, &candidates, signature)
        .map(|key_index| (key_index, BodyForm::Raw))
        .or_else(|| attempt.try_reserialised(body, &candidates, signature));
    let Some((key_index, body_form)) = matched else {
        return Err(JwsError::BadSignature);
    };
    Ok(Verified {
        header,
        key_index,
        body_form,
    })
}

/// The body as SDK 19.19 sends and re-serialises it: parsed, then written compactly with keys
/// sorted by UTF-16 code units, strings escaped as `JSON.stringify` escapes them and numbers
/// printed as JavaScript prints them. Sign and send this to satisfy every SDK generation.
///
/// `None` when `body` is not UTF-8 JSON, nests deeper than 128 levels, or holds an escaped
/// lone surrogate (which JavaScript keeps and Rust strings cannot).
pub fn canonical_json(body: &[u8]) -> Option<String> {
    let value = json::parse(std::str::from_utf8(body).ok()?).ok()?;
    let mut out = String::with_capacity(body.len());
    json::write(&value, json::KeyOrder::Sorted, &mut out);
    Some(out)
}

/// Checks that a `Date` header is an IMF-fixdate (`Wed, 01 Jan 2025 00:00:01 GMT`, weekday
/// included and correct) within `window` of `now`, in either direction.
///
/// Freshness is the hub's policy, not part of signature validity: call it after [`verify`]
/// when the signature covers `Date` (`Verified::header.date`).
///
/// # Errors
/// [`DateError::Invalid`] or [`DateError::OutsideWindow`].
pub fn check_date_freshness(
    date: &str,
    now: SystemTime,
    window: Duration,
) -> Result<(), DateError> {
    let parsed = httpdate::parse_http_date(date).map_err(|_| DateError::Invalid)?;
    // httpdate also accepts the obsolete RFC 850 and asctime forms; only IMF-fixdate
    // round-trips.
    if httpdate::fmt_http_date(parsed) != date {
        return Err(DateError::Invalid);
    }
    let skew_secs = match parsed.duration_since(now) {
        Ok(ahead) => i64::try_from(ahead.as_secs()).unwrap_or(i64::MAX),
        Err(behind) => i64::try_from(behind.duration().as_secs())
            .map(i64::wrapping_neg)
            .unwrap_or(i64::MIN),
    };
    if skew_secs.unsigned_abs() > window.as_secs() {
        return Err(DateError::OutsideWindow { skew_secs });
    }
    Ok(())
}

/// Builds signing inputs sharing one buffer: `protectedHeader "."` stays, the payload part is
/// replaced per attempt.
struct Attempt {
    input: String,
    prefix_len: usize,
}

impl Attempt {
    fn new(protected_header: &str, body: &[u8]) -> Self {
        let mut input = String::with_capacity(signing_input_len(protected_header, body));
        input.push_str(protected_header);
        input.push('.');
        let prefix_len = input.len();
        Self { input, prefix_len }
    }

    fn try_payload(
        &mut self,
        payload: &[u8],
        candidates: &[(usize, &VerifyingKey)],
        signature: &[u8],
    ) -> Option<usize> {
        self.input.truncate(self.prefix_len);
        URL_SAFE_NO_PAD.encode_string(payload, &mut self.input);
        candidates
            .iter()
            .find(|(_, key)| key.verifies(self.input.as_bytes(), signature))
            .map(|(index, _)| *index)
    }

    /// Tries the re-serialisations that differ from the bytes already tried.
    fn try_reserialised(
        &mut self,
        body: &[u8],
        candidates: &[(usize, &VerifyingKey)],
        signature: &[u8],
    ) -> Option<(usize, BodyForm)> {
        let value = json::parse(std::str::from_utf8(body).ok()?).ok()?;
        let mut received = String::with_capacity(body.len());
        json::write(&value, json::KeyOrder::Received, &mut received);
        if received.as_bytes() != body
            && let Some(index) = self.try_payload(received.as_bytes(), candidates, signature)
        {
            return Some((index, BodyForm::ReceivedOrder));
        }
        let mut sorted = String::with_capacity(body.len());
        json::write(&value, json::KeyOrder::Sorted, &mut sorted);
        if sorted != received
            && sorted.as_bytes() != body
            && let Some(index) = self.try_payload(sorted.as_bytes(), candidates, signature)
        {
            return Some((index, BodyForm::SortedKeys));
        }
        None
    }
}

/// Applies the §3.2 equality rules between the protected header and the request.
fn check_request(header: &ProtectedHeader, request: &RequestParts<'_>) -> Result<(), JwsError> {
    let required = [
        (HeaderField::Uri, &header.uri, request.uri),
        (HeaderField::Method, &header.method, request.method),
        (HeaderField::Source, &header.source, request.source),
    ];
    for (field, signed, actual) in required {
        compare(field, Some(signed), present(Some(actual)), true)?;
    }
    compare(
        HeaderField::Destination,
        header.destination.as_deref(),
        present(request.destination),
        true,
    )?;
    // Like the SDK, an unsigned Date is acceptable; a signed one must match.
    compare(
        HeaderField::Date,
        header.date.as_deref(),
        present(request.date),
        false,
    )
}

/// `None` for an absent or empty request header (the SDK tests truthiness).
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

fn compare(
    field: HeaderField,
    signed: Option<&str>,
    actual: Option<&str>,
    must_be_signed: bool,
) -> Result<(), JwsError> {
    let reason = match (signed, actual) {
        (Some(signed), Some(actual)) if signed == actual => return Ok(()),
        (Some(_), Some(_)) => Mismatch::Differs,
        (Some(_), None) => Mismatch::MissingFromRequest,
        (None, Some(_)) if must_be_signed => Mismatch::NotSigned,
        (None, _) => return Ok(()),
    };
    Err(JwsError::HeaderMismatch { field, reason })
}

/// Length of `protectedHeader "." BASE64URL(body)`, for buffer capacity only.
fn signing_input_len(protected_header: &str, body: &[u8]) -> usize {
    base64::encoded_len(body.len(), false)
        .and_then(|payload| payload.checked_add(protected_header.len()))
        .and_then(|len| len.checked_add(1))
        .unwrap_or(0)
}

fn is_printable_ascii(byte: u8) -> bool {
    (0x20..=0x7e).contains(&byte)
}

const ES256_SIGNATURE_LEN: usize = 64;

// Keys are loaded once and shared across request handlers.
const _: () = {
    const fn shareable<T: Send + Sync>() {}
    shareable::<VerifyingKey>();
    shareable::<SigningKey>();
};

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: &str = "Wed, 01 Jan 2025 00:00:01 GMT";

    fn now() -> SystemTime {
        httpdate::parse_http_date(NOW).expect("valid date")
    }

    #[test]
    fn date_window_is_symmetric() {
        let window = Duration::from_secs(300);
        assert_eq!(check_date_freshness(NOW, now(), window), Ok(()));
        assert_eq!(
            check_date_freshness("Wed, 01 Jan 2025 00:05:01 GMT", now(), window),
            Ok(())
        );
        assert_eq!(
            check_date_freshness("Wed, 01 Jan 2025 00:05:02 GMT", now(), window),
            Err(DateError::OutsideWindow { skew_secs: 301 })
        );
        assert_eq!(
            check_date_freshness("Tue, 31 Dec 2024 23:55:00 GMT", now(), window),
            Err(DateError::OutsideWindow { skew_secs: -301 })
        );
    }

    #[test]
    fn date_must_be_imf_fixdate() {
        let window = Duration::from_secs(u64::MAX);
        for date in [
            "",
            "Thu, 01 Jan 2025 00:00:01 GMT",
            "Wednesday, 01-Jan-25 00:00:01 GMT",
            "Wed Jan  1 00:00:01 2025",
            "2025-01-01T00:00:01Z",
            "Wed, 01 Jan 2025 00:00:01 UTC",
        ] {
            assert_eq!(
                check_date_freshness(date, now(), window),
                Err(DateError::Invalid),
                "{date:?}"
            );
        }
    }

    #[test]
    fn header_rules_follow_the_sdk() {
        let header = |destination: Option<&str>, date: Option<&str>| ProtectedHeader {
            alg: Alg::Rs256,
            uri: "/quotes".into(),
            method: "POST".into(),
            source: "a".into(),
            destination: destination.map(Into::into),
            date: date.map(Into::into),
            other: Vec::new(),
        };
        let request = |destination, date| RequestParts {
            method: "POST",
            uri: "/quotes",
            source: "a",
            destination,
            date,
        };
        let mismatch = |field, reason| Err(JwsError::HeaderMismatch { field, reason });
        let d = HeaderField::Destination;
        let t = HeaderField::Date;
        let cases = [
            (header(None, None), request(None, None), Ok(())),
            (header(Some("b"), None), request(Some("b"), None), Ok(())),
            (
                header(Some("b"), None),
                request(Some("c"), None),
                mismatch(d, Mismatch::Differs),
            ),
            (
                header(Some("b"), None),
                request(None, None),
                mismatch(d, Mismatch::MissingFromRequest),
            ),
            (
                header(Some("b"), None),
                request(Some(""), None),
                mismatch(d, Mismatch::MissingFromRequest),
            ),
            (
                header(None, None),
                request(Some("b"), None),
                mismatch(d, Mismatch::NotSigned),
            ),
            (header(None, None), request(None, Some(NOW)), Ok(())),
            (header(None, Some(NOW)), request(None, Some(NOW)), Ok(())),
            (
                header(None, Some(NOW)),
                request(None, None),
                mismatch(t, Mismatch::MissingFromRequest),
            ),
            (
                header(None, Some(NOW)),
                request(None, Some("x")),
                mismatch(t, Mismatch::Differs),
            ),
        ];
        for (header, request, expected) in cases {
            assert_eq!(
                check_request(&header, &request),
                expected,
                "{header:?} {request:?}"
            );
        }
        let mut other = request(None, None);
        other.method = "post";
        assert_eq!(
            check_request(&header(None, None), &other),
            mismatch(HeaderField::Method, Mismatch::Differs)
        );
        other = request(None, None);
        other.uri = "";
        assert_eq!(
            check_request(&header(None, None), &other),
            mismatch(HeaderField::Uri, Mismatch::MissingFromRequest)
        );
    }

    #[test]
    fn canonical_json_sorts_and_compacts() {
        assert_eq!(
            canonical_json(b" {\"b\" : 1.50, \"a\" : [ \"x\" ] } ").as_deref(),
            Some(r#"{"a":["x"],"b":1.5}"#)
        );
        assert_eq!(canonical_json(b"{\"a\":\"\\ud800\"}"), None);
        assert_eq!(canonical_json(b"\xff"), None);
    }

    #[test]
    fn bodyless_requests_sign_over_the_empty_payload() {
        let key = SigningKey::generate_es256().expect("key");
        let request = RequestParts {
            method: "GET",
            uri: "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069",
            source: "payerfsp",
            destination: Some("payeefsp"),
            date: Some(NOW),
        };
        let header = sign_bodyless(&key, &request).expect("signed");
        let keys = [key.verifying_key().clone()];
        let verified = verify_bodyless(&header, &request, &keys, &[Alg::Es256]).expect("valid");
        assert_eq!(verified.body_form, BodyForm::Raw);
        // A bodyless signature does not verify a request with a body, and the URI is bound.
        assert_eq!(
            verify(&header, &request, b"{}", &keys, &[Alg::Es256]),
            Err(JwsError::BadSignature)
        );
        let mut other = request;
        other.uri = "/transfers/00000000-0000-4000-8000-000000000000";
        assert!(matches!(
            verify_bodyless(&header, &other, &keys, &[Alg::Es256]),
            Err(JwsError::HeaderMismatch { .. })
        ));
        assert_eq!(
            verify_bodyless(" ", &request, &keys, &[Alg::Es256]),
            Err(JwsError::Missing)
        );
    }
}
