//! Just enough DER to find and classify keys: a bounds-checked TLV reader, the walks through
//! X.509 certificates, SubjectPublicKeyInfo, PKCS#8, PKCS#1 and SEC1 structures, and the one
//! DER writer we need (wrapping a PKCS#1 public key in a SubjectPublicKeyInfo).
//!
//! The crypto library parses the key material itself; these walks exist to pick the right
//! parser, to give precise errors (key size, curve) before handing over, and to dig the
//! SubjectPublicKeyInfo out of a certificate. Certificates are *not* validated (no signature,
//! validity or usage checks): a certificate here is only a container for a DFSP's public key,
//! whose trust comes from provisioning.

use crate::error::KeyError;

/// What a SubjectPublicKeyInfo holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PublicKeyKind {
    /// RSA, with the exact modulus size in bits.
    Rsa { bits: u32 },
    /// EC on P-256.
    P256,
}

/// What a PKCS#8 PrivateKeyInfo holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PrivateKeyKind {
    Rsa { bits: u32 },
    P256,
}

/// Classifies a DER SubjectPublicKeyInfo, checking it is exactly one well-formed structure.
pub(crate) fn classify_spki(der: &[u8]) -> Result<PublicKeyKind, KeyError> {
    const WHAT: &str = "SubjectPublicKeyInfo";
    let spki = single(der, SEQUENCE, WHAT)?;
    let mut fields = Reader::new(spki.content);
    let algorithm = fields.expect(SEQUENCE, WHAT)?;
    let key_bits = fields.expect(BIT_STRING, WHAT)?;
    fields.finish(WHAT)?;
    let key = bit_string_bytes(key_bits.content, WHAT)?;
    match algorithm_identifier(algorithm.content, WHAT)? {
        Algorithm::Rsa => Ok(PublicKeyKind::Rsa {
            bits: rsa_public_key_bits(key)?,
        }),
        Algorithm::P256 => Ok(PublicKeyKind::P256),
    }
}

/// Classifies a DER PKCS#1 `RSAPublicKey`, returning its modulus size.
pub(crate) fn rsa_public_key_bits(der: &[u8]) -> Result<u32, KeyError> {
    const WHAT: &str = "RSAPublicKey";
    let key = single(der, SEQUENCE, WHAT)?;
    let mut fields = Reader::new(key.content);
    let modulus = fields.expect(INTEGER, WHAT)?;
    let exponent = fields.expect(INTEGER, WHAT)?;
    fields.finish(WHAT)?;
    unsigned_integer(exponent.content, WHAT)?;
    unsigned_bits(modulus.content, WHAT)
}

/// Wraps a DER PKCS#1 `RSAPublicKey` into a SubjectPublicKeyInfo.
pub(crate) fn spki_from_rsa_public_key(pkcs1: &[u8]) -> Vec<u8> {
    let mut algorithm = Vec::new();
    push_tlv(&mut algorithm, OBJECT_IDENTIFIER, RSA_ENCRYPTION);
    push_tlv(&mut algorithm, NULL, &[]);
    let mut bits = vec![0]; // no unused bits
    bits.extend_from_slice(pkcs1);
    let mut content = Vec::new();
    push_tlv(&mut content, SEQUENCE, &algorithm);
    push_tlv(&mut content, BIT_STRING, &bits);
    let mut spki = Vec::new();
    push_tlv(&mut spki, SEQUENCE, &content);
    spki
}

/// Returns the SubjectPublicKeyInfo (as its complete DER) inside an X.509 certificate.
pub(crate) fn certificate_spki(der: &[u8]) -> Result<&[u8], KeyError> {
    const WHAT: &str = "certificate";
    let certificate = single(der, SEQUENCE, WHAT)?;
    let mut outer = Reader::new(certificate.content);
    let tbs = outer.expect(SEQUENCE, WHAT)?;
    outer.expect(SEQUENCE, WHAT)?; // signatureAlgorithm
    outer.expect(BIT_STRING, WHAT)?; // signatureValue
    outer.finish(WHAT)?;
    let mut fields = Reader::new(tbs.content);
    if fields.peek_tag() == Some(CONTEXT_0) {
        fields.read(WHAT)?; // [0] EXPLICIT version
    }
    fields.expect(INTEGER, WHAT)?; // serialNumber
    fields.expect(SEQUENCE, WHAT)?; // signature AlgorithmIdentifier
    fields.expect(SEQUENCE, WHAT)?; // issuer
    fields.expect(SEQUENCE, WHAT)?; // validity
    fields.expect(SEQUENCE, WHAT)?; // subject
    Ok(fields.expect(SEQUENCE, WHAT)?.whole)
}

/// Classifies a DER PKCS#8 `PrivateKeyInfo` (v1 or v2, unencrypted).
pub(crate) fn classify_pkcs8(der: &[u8]) -> Result<PrivateKeyKind, KeyError> {
    const WHAT: &str = "PKCS#8 PrivateKeyInfo";
    let info = single(der, SEQUENCE, WHAT)?;
    let mut fields = Reader::new(info.content);
    let version = fields.expect(INTEGER, WHAT)?;
    if !matches!(version.content, [0] | [1]) {
        return Err(KeyError::Der(WHAT));
    }
    let algorithm = fields.expect(SEQUENCE, WHAT)?;
    let private_key = fields.expect(OCTET_STRING, WHAT)?;
    Ok(match algorithm_identifier(algorithm.content, WHAT)? {
        Algorithm::Rsa => PrivateKeyKind::Rsa {
            bits: rsa_private_key_bits(private_key.content)?,
        },
        Algorithm::P256 => PrivateKeyKind::P256,
    })
}

/// The modulus size of a DER PKCS#1 `RSAPrivateKey`.
pub(crate) fn rsa_private_key_bits(der: &[u8]) -> Result<u32, KeyError> {
    const WHAT: &str = "RSAPrivateKey";
    let key = single(der, SEQUENCE, WHAT)?;
    let mut fields = Reader::new(key.content);
    fields.expect(INTEGER, WHAT)?; // version
    let modulus = fields.expect(INTEGER, WHAT)?;
    unsigned_bits(modulus.content, WHAT)
}

/// Checks that a DER SEC1 `ECPrivateKey` names P-256 when it names a curve at all.
pub(crate) fn check_sec1_curve(der: &[u8]) -> Result<(), KeyError> {
    const WHAT: &str = "SEC1 ECPrivateKey";
    let key = single(der, SEQUENCE, WHAT)?;
    let mut fields = Reader::new(key.content);
    let version = fields.expect(INTEGER, WHAT)?;
    if version.content != [1] {
        return Err(KeyError::Der(WHAT));
    }
    fields.expect(OCTET_STRING, WHAT)?;
    if fields.peek_tag() == Some(CONTEXT_0) {
        let parameters = fields.read(WHAT)?;
        curve(parameters.content, WHAT)?;
    }
    Ok(())
}

/// Dotted-decimal form of an OID's content octets, for error messages. The OID comes from
/// untrusted DER, so one longer than [`MAX_PRINTED_OID_BYTES`] is described, not printed.
pub(crate) fn oid_to_string(content: &[u8]) -> String {
    if content.len() > MAX_PRINTED_OID_BYTES {
        return format!("(OID of {} bytes)", content.len());
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    let mut pending = false;
    for &byte in content {
        if !pending && byte == 0x80 {
            return hex_fallback(content); // non-minimal sub-identifier
        }
        let Some(next) = value
            .checked_mul(128)
            .and_then(|shifted| shifted.checked_add(u64::from(byte & 0x7f)))
        else {
            return hex_fallback(content);
        };
        value = next;
        pending = byte & 0x80 != 0;
        if pending {
            continue;
        }
        if arcs.is_empty() {
            // The first sub-identifier packs two arcs: 40 * first + second, first <= 2.
            let first = (value / 40).min(2);
            arcs.push(first);
            arcs.push(value.saturating_sub(first.saturating_mul(40)));
        } else {
            arcs.push(value);
        }
        value = 0;
    }
    if pending || arcs.is_empty() {
        return hex_fallback(content);
    }
    let parts: Vec<String> = arcs.iter().map(u64::to_string).collect();
    parts.join(".")
}

fn hex_fallback(content: &[u8]) -> String {
    let hex: String = content.iter().map(|b| format!("{b:02x}")).collect();
    format!("(malformed OID {hex})")
}

enum Algorithm {
    Rsa,
    P256,
}

/// Reads an AlgorithmIdentifier's content: rsaEncryption (NULL or absent parameters) or
/// id-ecPublicKey with a named curve.
fn algorithm_identifier(content: &[u8], what: &'static str) -> Result<Algorithm, KeyError> {
    let mut fields = Reader::new(content);
    let oid = fields.expect(OBJECT_IDENTIFIER, what)?;
    match oid.content {
        RSA_ENCRYPTION => {
            if !fields.is_empty() {
                let parameters = fields.expect(NULL, what)?;
                if !parameters.content.is_empty() {
                    return Err(KeyError::Der(what));
                }
            }
            fields.finish(what)?;
            Ok(Algorithm::Rsa)
        }
        EC_PUBLIC_KEY => {
            let parameters = fields.read(what)?;
            fields.finish(what)?;
            curve(parameters.whole, what)?;
            Ok(Algorithm::P256)
        }
        other => Err(KeyError::UnsupportedKeyType(oid_to_string(other))),
    }
}

/// Accepts exactly the named curve P-256; names any other.
fn curve(der: &[u8], what: &'static str) -> Result<(), KeyError> {
    // Any tag is read: explicit curve parameters (a SEQUENCE) are refused by name below.
    let mut reader = Reader::new(der);
    let parameters = reader.read(what)?;
    reader.finish(what)?;
    match parameters.tag {
        OBJECT_IDENTIFIER if parameters.content == PRIME256V1 => Ok(()),
        OBJECT_IDENTIFIER => Err(KeyError::UnsupportedCurve(oid_to_string(
            parameters.content,
        ))),
        _ => Err(KeyError::UnsupportedCurve(
            "(explicit or implicit parameters)".into(),
        )),
    }
}

/// The bytes of a BIT STRING with no unused bits.
fn bit_string_bytes<'a>(content: &'a [u8], what: &'static str) -> Result<&'a [u8], KeyError> {
    match content {
        [0, rest @ ..] => Ok(rest),
        _ => Err(KeyError::Der(what)),
    }
}

/// Checks an INTEGER is positive and minimally encoded; returns its magnitude bytes.
fn unsigned_integer<'a>(content: &'a [u8], what: &'static str) -> Result<&'a [u8], KeyError> {
    match content {
        [] => Err(KeyError::Der(what)),
        [0] => Ok(&[]),
        [0, next, ..] if next & 0x80 == 0 => Err(KeyError::Der(what)),
        [0, rest @ ..] => Ok(rest),
        [first, ..] if first & 0x80 != 0 => Err(KeyError::Der(what)),
        _ => Ok(content),
    }
}

/// Size in bits of a positive INTEGER.
fn unsigned_bits(content: &[u8], what: &'static str) -> Result<u32, KeyError> {
    let magnitude = unsigned_integer(content, what)?;
    let Some(&first) = magnitude.first() else {
        return Ok(0);
    };
    let leading_bits = u8::BITS.saturating_sub(first.leading_zeros());
    u32::try_from(magnitude.len())
        .ok()
        .and_then(|bytes| bytes.checked_sub(1))
        .and_then(|rest| rest.checked_mul(8))
        .and_then(|rest_bits| rest_bits.checked_add(leading_bits))
        .ok_or(KeyError::Der(what))
}

/// Reads exactly one TLV of `tag` spanning all of `der`.
fn single<'a>(der: &'a [u8], tag: u8, what: &'static str) -> Result<Tlv<'a>, KeyError> {
    let mut reader = Reader::new(der);
    let tlv = reader.expect(tag, what)?;
    reader.finish(what)?;
    Ok(tlv)
}

fn push_tlv(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    match u8::try_from(content.len()) {
        Ok(short) if short < 0x80 => out.push(short),
        _ => {
            let bytes = content.len().to_be_bytes();
            let significant: Vec<u8> = bytes.iter().copied().skip_while(|&b| b == 0).collect();
            // At most size_of::<usize>() bytes, so the count fits in the low seven bits.
            out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0x7f));
            out.extend_from_slice(&significant);
        }
    }
    out.extend_from_slice(content);
}

/// One tag-length-value element.
#[derive(Clone, Copy, Debug)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
    whole: &'a [u8],
}

/// A cursor over concatenated DER elements.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(der: &'a [u8]) -> Self {
        Self { rest: der }
    }

    fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    fn finish(&self, what: &'static str) -> Result<(), KeyError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(KeyError::Der(what))
        }
    }

    fn expect(&mut self, tag: u8, what: &'static str) -> Result<Tlv<'a>, KeyError> {
        if self.peek_tag() != Some(tag) {
            return Err(KeyError::Der(what));
        }
        self.read(what)
    }

    /// Reads one element: single-byte tags only, definite minimal lengths up to 4 bytes.
    fn read(&mut self, what: &'static str) -> Result<Tlv<'a>, KeyError> {
        let err = || KeyError::Der(what);
        let (&tag, after_tag) = self.rest.split_first().ok_or_else(err)?;
        if tag & 0x1f == 0x1f {
            return Err(err()); // multi-byte tag numbers never occur in these structures
        }
        let (&first, after_length_byte) = after_tag.split_first().ok_or_else(err)?;
        let (len, after_length) = if first < 0x80 {
            (usize::from(first), after_length_byte)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 {
                return Err(err()); // indefinite or absurd
            }
            let (bytes, after) = after_length_byte.split_at_checked(count).ok_or_else(err)?;
            if bytes.first() == Some(&0) {
                return Err(err()); // not minimal
            }
            let len = bytes
                .iter()
                .try_fold(0usize, |acc, &b| {
                    acc.checked_mul(256)?.checked_add(usize::from(b))
                })
                .ok_or_else(err)?;
            if len < 0x80 {
                return Err(err()); // should have used the short form
            }
            (len, after)
        };
        let (content, rest) = after_length.split_at_checked(len).ok_or_else(err)?;
        let whole_len = self.rest.len().checked_sub(rest.len()).ok_or_else(err)?;
        let whole = self.rest.get(..whole_len).ok_or_else(err)?;
        self.rest = rest;
        Ok(Tlv {
            tag,
            content,
            whole,
        })
    }
}

const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OCTET_STRING: u8 = 0x04;
const NULL: u8 = 0x05;
const OBJECT_IDENTIFIER: u8 = 0x06;
const SEQUENCE: u8 = 0x30;
const CONTEXT_0: u8 = 0xa0;

/// Longest OID printed in an error message; the OIDs of real key types and curves are at most
/// a dozen bytes, and this bounds the message to a few hundred characters.
const MAX_PRINTED_OID_BYTES: usize = 32;

/// 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oids_print_dotted() {
        assert_eq!(oid_to_string(RSA_ENCRYPTION), "1.2.840.113549.1.1.1");
        assert_eq!(oid_to_string(PRIME256V1), "1.2.840.10045.3.1.7");
        assert_eq!(
            oid_to_string(&[0x2b, 0x81, 0x04, 0x00, 0x22]),
            "1.3.132.0.34"
        );
        assert_eq!(oid_to_string(&[0x2b, 0x65, 0x70]), "1.3.101.112");
        assert!(oid_to_string(&[0x2b, 0x81]).starts_with("(malformed"));
        assert!(oid_to_string(&[]).starts_with("(malformed"));
        assert!(oid_to_string(&[0xff; 20]).starts_with("(malformed"));
        assert!(oid_to_string(&[0x80; 32]).starts_with("(malformed"));
        assert_eq!(oid_to_string(&[0x01; 33]), "(OID of 33 bytes)");
        assert_eq!(
            oid_to_string(&vec![0x80; 1 << 20]),
            "(OID of 1048576 bytes)"
        );
    }

    #[test]
    fn lengths_must_be_definite_minimal_and_in_bounds() {
        let bad: [&[u8]; 7] = [
            &[0x30],                            // no length
            &[0x30, 0x80, 0x00, 0x00],          // indefinite
            &[0x30, 0x81, 0x05, 1, 2, 3, 4, 5], // long form for a short length
            &[0x30, 0x82, 0x00, 0x80],          // leading zero length byte
            &[0x30, 0x03, 0x01],                // truncated content
            &[0x30, 0x85, 1, 1, 1, 1, 1],       // five length bytes
            &[0x1f, 0x01, 0x00],                // multi-byte tag
        ];
        for der in bad {
            assert!(Reader::new(der).read("test").is_err(), "{der:02x?}");
        }
        let mut long = vec![0x04, 0x81, 0x80];
        long.extend([7; 0x80]);
        let tlv = Reader::new(&long).read("test").expect("valid long form");
        assert_eq!(tlv.content.len(), 0x80);
        assert_eq!(tlv.whole.len(), long.len());
    }

    #[test]
    fn written_lengths_read_back() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0x1_0000] {
            let content = vec![0x5a; len];
            let mut der = Vec::new();
            push_tlv(&mut der, OCTET_STRING, &content);
            let tlv = single(&der, OCTET_STRING, "test").expect("round trip");
            assert_eq!(tlv.content, content.as_slice());
        }
    }

    #[test]
    fn integers_must_be_positive_and_minimal() {
        assert_eq!(unsigned_bits(&[0x00, 0x80], "t"), Ok(8));
        assert_eq!(unsigned_bits(&[0x01, 0x00], "t"), Ok(9));
        assert_eq!(unsigned_bits(&[0x7f], "t"), Ok(7));
        assert!(unsigned_bits(&[0x80], "t").is_err());
        assert!(unsigned_bits(&[0x00, 0x01], "t").is_err());
        assert!(unsigned_bits(&[], "t").is_err());
    }
}
