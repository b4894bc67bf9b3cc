//! Small shared helpers: name validation, serial numbers, fingerprints, validity windows.

use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::{Error, Result};

/// Longest validity accepted for any certificate or CRL, in days (about 100 years); it only
/// guards against overflow and typos, real policies are much shorter.
pub const MAX_VALIDITY_DAYS: u32 = 36_500;

/// Prefix of the SAN URI that names a participant: `urn:ferroloop:participant:<name>`.
pub const PARTICIPANT_URI_PREFIX: &str = "urn:ferroloop:participant:";

/// How far `notBefore` (and a CRL's `thisUpdate`) is backdated to tolerate clock skew.
pub(crate) const BACKDATE: Duration = Duration::minutes(5);

/// Size of generated serial numbers.
pub(crate) const SERIAL_LEN: usize = 16;

/// Checks a participant (FSP) name: 1..=32 characters from `[A-Za-z0-9._-]`, the same rule as
/// the hub's `FspId`. The name goes into a certificate CN, a URI and file names, so nothing
/// else is allowed.
pub fn validate_participant(name: &str) -> Result<()> {
    if is_participant_name(name) {
        Ok(())
    } else {
        Err(Error::InvalidParticipant(name.to_string()))
    }
}

pub(crate) fn is_participant_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 32
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The SAN URI for a participant: `urn:ferroloop:participant:<name>`.
pub fn participant_uri(participant: &str) -> Result<String> {
    validate_participant(participant)?;
    Ok(format!("{PARTICIPANT_URI_PREFIX}{participant}"))
}

/// Checks a free-form common name (used for the CA): 1..=64 characters (the X.520 upper
/// bound), no control characters.
pub(crate) fn validate_common_name(cn: &str) -> Result<()> {
    let len = cn.chars().count();
    if (1..=64).contains(&len) && !cn.chars().any(char::is_control) && cn.trim() == cn {
        Ok(())
    } else {
        Err(Error::InvalidCommonName(cn.to_string()))
    }
}

/// Checks a DNS name for a server certificate: LDH labels of 1..=63 characters, at most 253
/// characters in total, optionally `*.` as the whole first label.
pub(crate) fn validate_dns_name(name: &str) -> Result<()> {
    let bad = || Error::InvalidDnsName(name.to_string());
    let rest = name.strip_prefix("*.").unwrap_or(name);
    if name.is_empty() || name.len() > 253 {
        return Err(bad());
    }
    for label in rest.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(bad());
        }
    }
    Ok(())
}

/// Normalises a serial number written in hex: accepts upper or lower case, optional `:`
/// separators (OpenSSL style) and an optional `0x` prefix; drops leading zero bytes. The result
/// is lower-case hex of the minimal big-endian magnitude, which is how this crate reports
/// serials everywhere.
pub fn normalize_serial_hex(serial: &str) -> Result<String> {
    let bytes = serial_bytes(serial)?;
    Ok(hex::encode(bytes))
}

/// Decodes a serial number (see [`normalize_serial_hex`]) to its minimal magnitude bytes.
pub(crate) fn serial_bytes(serial: &str) -> Result<Vec<u8>> {
    let bad = || Error::InvalidSerial(serial.to_string());
    let trimmed = serial.trim();
    let trimmed = trimmed
        .strip_prefix("0x")
        .or_else(|| trimmed.strip_prefix("0X"))
        .unwrap_or(trimmed);
    let mut digits: String = trimmed.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad());
    }
    if digits.len() % 2 == 1 {
        digits.insert(0, '0');
    }
    let bytes = hex::decode(&digits).map_err(|_| bad())?;
    let bytes = strip_leading_zeros(&bytes);
    // RFC 5280 §4.1.2.2: at most 20 octets (a leading 0x00 sign octet included).
    if bytes.len() > 20 || (bytes.len() == 20 && bytes.first().is_some_and(|b| b & 0x80 != 0)) {
        return Err(bad());
    }
    Ok(bytes.to_vec())
}

/// Hex of a DER INTEGER's content octets as x509-parser returns them, normalised the same way
/// as [`normalize_serial_hex`].
pub(crate) fn serial_hex_from_raw(raw: &[u8]) -> String {
    hex::encode(strip_leading_zeros(raw))
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    // Drops zero bytes from the front but keeps the last byte, so zero stays `[0]`.
    let mut rest = bytes;
    while let [0, tail @ ..] = rest
        && !tail.is_empty()
    {
        rest = tail;
    }
    rest
}

/// A fresh random serial: 16 bytes from the system CSPRNG, first byte forced into
/// `0x40..=0x7f` so the DER INTEGER is positive, needs no sign octet and is always exactly
/// 16 bytes (126 random bits).
pub(crate) fn random_serial() -> Result<rcgen::SerialNumber> {
    let mut bytes = [0u8; SERIAL_LEN];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| Error::Rng)?;
    bytes[0] = (bytes[0] & 0x3f) | 0x40;
    Ok(rcgen::SerialNumber::from_slice(&bytes))
}

/// PEM-encodes DER under `label` (64-column base64, LF line endings), the same layout rcgen
/// produces.
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let capacity = b64
        .len()
        .saturating_add(b64.len() / 64)
        .saturating_add(label.len().saturating_mul(2))
        .saturating_add(40);
    let mut out = String::with_capacity(capacity);
    out.push_str("-----BEGIN ");
    out.push_str(label);
    out.push_str("-----\n");
    for line in b64.as_bytes().chunks(64) {
        // base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push_str("-----END ");
    out.push_str(label);
    out.push_str("-----\n");
    out
}

/// Lower-case hex SHA-256 of DER bytes (the certificate fingerprint used for peer mapping).
pub(crate) fn fingerprint_sha256_hex(der: &[u8]) -> String {
    hex::encode(Sha256::digest(der))
}

/// The current time truncated to whole seconds (X.509 times have second precision).
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().truncate_to_second()
}

/// Checks `days` against 1..=[`MAX_VALIDITY_DAYS`] and returns it as a duration.
pub(crate) fn validity_duration(days: u32) -> Result<Duration> {
    if days == 0 || days > MAX_VALIDITY_DAYS {
        return Err(Error::InvalidValidity(days));
    }
    Ok(Duration::days(i64::from(days)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_names() {
        assert!(validate_participant("payerfsp").is_ok());
        assert!(validate_participant("dfsp-a_1.test").is_ok());
        assert!(validate_participant(&"a".repeat(32)).is_ok());
        for bad in ["", "a b", "a/b", "é", "x:y", "a\n", &"a".repeat(33)] {
            assert!(
                matches!(validate_participant(bad), Err(Error::InvalidParticipant(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            participant_uri("payerfsp").unwrap(),
            "urn:ferroloop:participant:payerfsp"
        );
    }

    #[test]
    fn dns_names() {
        for good in ["localhost", "hub.example.com", "*.example.com", "a-1.b"] {
            assert!(validate_dns_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "a..b",
            "-a.b",
            "a-.b",
            "a_b.c",
            "a.*.b",
            "*",
            "exa mple",
            "hub.example.",
        ] {
            assert!(validate_dns_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_dns_name(&format!("{}.com", "a".repeat(64))).is_err());
    }

    #[test]
    fn common_names() {
        assert!(validate_common_name("Ferroloop Hub CA").is_ok());
        assert!(validate_common_name("").is_err());
        assert!(validate_common_name(" padded").is_err());
        assert!(validate_common_name("a\u{0}b").is_err());
        assert!(validate_common_name(&"x".repeat(65)).is_err());
    }

    #[test]
    fn serial_normalisation() {
        assert_eq!(normalize_serial_hex("0A:bc").unwrap(), "0abc");
        assert_eq!(normalize_serial_hex("00:0a:bc").unwrap(), "0abc");
        assert_eq!(normalize_serial_hex("0xABC").unwrap(), "0abc");
        assert_eq!(normalize_serial_hex("00").unwrap(), "00");
        assert_eq!(normalize_serial_hex("7f").unwrap(), "7f");
        for bad in [
            "",
            "xyz",
            "0x",
            ":",
            "12 34",
            &"ff".repeat(21),
            &"80".repeat(20),
        ] {
            assert!(normalize_serial_hex(bad).is_err(), "{bad:?}");
        }
        assert!(normalize_serial_hex(&"7f".repeat(20)).is_ok());
        assert_eq!(serial_hex_from_raw(&[0, 0x80, 1]), "8001");
        assert_eq!(serial_hex_from_raw(&[0]), "00");
        assert_eq!(serial_hex_from_raw(&[]), "");
    }

    #[test]
    fn random_serials_are_positive_16_bytes_and_distinct() {
        let a = random_serial().unwrap();
        let b = random_serial().unwrap();
        assert_ne!(a, b);
        for s in [a, b] {
            assert_eq!(s.len(), SERIAL_LEN);
            let first = s.as_ref()[0];
            assert!((0x40..=0x7f).contains(&first));
        }
    }

    #[test]
    fn validity_bounds() {
        assert!(validity_duration(0).is_err());
        assert!(validity_duration(MAX_VALIDITY_DAYS + 1).is_err());
        assert_eq!(validity_duration(2).unwrap(), Duration::days(2));
        assert_eq!(now().nanosecond(), 0);
    }
}
