//! Execution conditions and fulfilments: 32-byte values where condition = SHA-256(fulfilment).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::IlpError;
use crate::base64url;

/// Length of the base64url (unpadded) form of a 32-byte value: FSPIOP `BinaryString32`.
pub const BINARY32_BASE64URL_LEN: usize = 43;

/// An execution condition: the SHA-256 digest of a [`Fulfilment`].
///
/// Exchanged in FSPIOP as 43 characters of unpadded base64url.
#[derive(Clone, Copy)]
pub struct Condition([u8; 32]);

/// A fulfilment: the 32-byte preimage of a [`Condition`].
///
/// Until the payee releases it, a fulfilment is a secret, so its `Debug` output is redacted.
#[derive(Clone, Copy)]
pub struct Fulfilment([u8; 32]);

impl Condition {
    /// Wraps raw digest bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the 43-character base64url form (no padding, canonical final symbol).
    pub fn from_base64url(s: &str) -> Result<Self, IlpError> {
        parse_binary32("condition", s).map(Self)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 43-character base64url form.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.0)
    }

    /// Whether SHA-256(`fulfilment`) equals this condition.
    ///
    /// The digest comparison runs in constant time (see `ct_eq_32`).
    pub fn is_fulfilled_by(&self, fulfilment: &Fulfilment) -> bool {
        ct_eq_32(&fulfilment.condition().0, &self.0)
    }
}

impl Fulfilment {
    /// Wraps raw preimage bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the 43-character base64url form (no padding, canonical final symbol).
    pub fn from_base64url(s: &str) -> Result<Self, IlpError> {
        parse_binary32("fulfilment", s).map(Self)
    }

    /// The raw 32 bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The 43-character base64url form.
    pub fn to_base64url(&self) -> String {
        base64url::encode(self.0)
    }

    /// The condition this fulfilment satisfies: SHA-256 of its 32 bytes.
    pub fn condition(&self) -> Condition {
        Condition(Sha256::digest(self.0).into())
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        ct_eq_32(&self.0, &other.0)
    }
}

impl Eq for Condition {}

impl PartialEq for Fulfilment {
    fn eq(&self, other: &Self) -> bool {
        ct_eq_32(&self.0, &other.0)
    }
}

impl Eq for Fulfilment {}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Condition")
            .field(&self.to_base64url())
            .finish()
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

impl fmt::Debug for Fulfilment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Fulfilment(<redacted>)")
    }
}

impl FromStr for Condition {
    type Err = IlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64url(s)
    }
}

impl FromStr for Fulfilment {
    type Err = IlpError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_base64url(s)
    }
}

impl From<[u8; 32]> for Condition {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

impl From<[u8; 32]> for Fulfilment {
    fn from(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }
}

fn parse_binary32(field: &'static str, s: &str) -> Result<[u8; 32], IlpError> {
    if s.len() != BINARY32_BASE64URL_LEN {
        return Err(IlpError::InvalidLength {
            field,
            expected: BINARY32_BASE64URL_LEN,
            actual: s.len(),
        });
    }
    let bytes =
        base64url::decode_unpadded(s).map_err(|source| IlpError::Base64 { field, source })?;
    // 43 canonical symbols always decode to 32 bytes; keep the check rather than assume it.
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| IlpError::InvalidLength {
        field,
        expected: 32,
        actual: bytes.len(),
    })
}

/// Compares two 32-byte values in constant time.
///
/// Every byte pair is XORed and OR-folded into one accumulator, with no early exit, so the
/// work done does not depend on where (or whether) the inputs differ; only the final
/// accumulator is tested. `black_box` discourages the optimiser from turning the fold back
/// into a short-circuiting comparison. This is best effort: Rust gives no hard constant-time
/// guarantee (the `subtle` crate would be the stronger tool, but it is not a workspace
/// dependency).
fn ct_eq_32(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut acc = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        acc |= std::hint::black_box(x ^ y);
    }
    std::hint::black_box(acc) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::base64url::Base64Error;

    #[test]
    fn trivial_vectors() {
        let zero: Fulfilment = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
            .parse()
            .unwrap();
        assert_eq!(zero.as_bytes(), &[0u8; 32]);
        assert_eq!(
            zero.condition().to_base64url(),
            "Zmh6rfhivXdsj8GLjp-OIAiXFIVu4jOzkCpZHQ1fKSU"
        );
        let spec: Fulfilment = "WLctttbu2HvTsa1XWvUoGRcQozHsqeu9Ahl2JW9Bsu8"
            .parse()
            .unwrap();
        assert_eq!(
            spec.condition().to_string(),
            "f5sqb7tBTWPd5Y8BDFdMm9BJR_MNI4isf8p8n4D5pHA"
        );
        let condition: Condition = "f5sqb7tBTWPd5Y8BDFdMm9BJR_MNI4isf8p8n4D5pHA"
            .parse()
            .unwrap();
        assert!(condition.is_fulfilled_by(&spec));
        assert!(!condition.is_fulfilled_by(&zero));
        assert_eq!(
            spec.to_base64url(),
            "WLctttbu2HvTsa1XWvUoGRcQozHsqeu9Ahl2JW9Bsu8"
        );
    }

    #[test]
    fn constant_time_compare() {
        let a = [7u8; 32];
        assert!(ct_eq_32(&a, &a));
        for i in 0..32 {
            for bit in 0..8 {
                let mut b = a;
                b[i] ^= 1 << bit;
                assert!(!ct_eq_32(&a, &b));
            }
        }
        assert_eq!(Condition::from_bytes(a), Condition::from(a));
        assert_ne!(Fulfilment::from_bytes(a), Fulfilment::from_bytes([0; 32]));
    }

    #[test]
    fn rejects_bad_strings() {
        assert_eq!(
            Condition::from_base64url("AAAA"),
            Err(IlpError::InvalidLength {
                field: "condition",
                expected: 43,
                actual: 4
            })
        );
        assert_eq!(
            Fulfilment::from_base64url("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(IlpError::InvalidLength {
                field: "fulfilment",
                expected: 43,
                actual: 44
            })
        );
        assert_eq!(
            Condition::from_base64url("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB"),
            Err(IlpError::Base64 {
                field: "condition",
                source: Base64Error::NonCanonical
            })
        );
        assert_eq!(
            Condition::from_base64url("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
            Err(IlpError::Base64 {
                field: "condition",
                source: Base64Error::InvalidPadding
            })
        );
        assert_eq!(
            Condition::from_base64url("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"),
            Err(IlpError::Base64 {
                field: "condition",
                source: Base64Error::InvalidCharacter {
                    byte: b'/',
                    offset: 42
                }
            })
        );
    }

    #[test]
    fn debug_redacts_fulfilment() {
        let f = Fulfilment::from_bytes([1; 32]);
        assert_eq!(format!("{f:?}"), "Fulfilment(<redacted>)");
        let c = f.condition();
        assert!(format!("{c:?}").starts_with("Condition(\""));
    }
}
