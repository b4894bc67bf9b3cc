//! Secrets the hub must read back, sealed at rest.
//!
//! A TOTP seed cannot be hashed: checking a code needs it. So the hub stores it sealed with
//! AES-256-GCM (aws-lc-rs) under a key kept outside the database (`<data_dir>/iam/sealing.key`,
//! mode 0600, generated at first start). A copy of the database alone — a backup, a replica, a
//! dump attached to a ticket — then gives nobody the operators' second factor.
//!
//! The sealed text is `base32(nonce ‖ ciphertext ‖ tag)` (RFC 4648, no padding: the alphabet
//! the store's CHECK accepts), with a fresh 96-bit random nonce per sealing. The operator's
//! name is the associated data, so a sealed seed copied into another operator's row does not
//! open.

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::IamError;
use crate::random;
use crate::totp::{TotpError, TotpSecret};

/// Length of a sealing key in bytes.
pub const KEY_LEN: usize = 32;

const ALPHABET: base32::Alphabet = base32::Alphabet::Rfc4648 { padding: false };

/// An AES-256-GCM key that seals and opens stored secrets. `Debug` does not show it.
pub struct SealingKey(LessSafeKey);

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SealingKey(<redacted>)")
    }
}

impl SealingKey {
    /// Fresh key material, to write to the key file.
    pub fn generate() -> Result<[u8; KEY_LEN], IamError> {
        random::bytes::<KEY_LEN>()
    }

    /// The key from its 32 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IamError> {
        if bytes.len() != KEY_LEN {
            return Err(IamError::Hash(format!(
                "a sealing key is {KEY_LEN} bytes, not {}",
                bytes.len()
            )));
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| IamError::Hash("unusable sealing key".into()))?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Seals `secret` for the operator `owner`.
    pub fn seal_totp(&self, secret: &TotpSecret, owner: &str) -> Result<String, IamError> {
        let nonce = random::bytes::<NONCE_LEN>()?;
        let mut data = secret.to_bytes();
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(owner.as_bytes()),
                &mut data,
            )
            .map_err(|_| IamError::Hash("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(base32::encode(ALPHABET, &out))
    }

    /// Opens what [`SealingKey::seal_totp`] sealed for `owner`. Any change to the text, another
    /// owner or another key gives [`TotpError::InvalidSecret`].
    pub fn open_totp(&self, sealed: &str, owner: &str) -> Result<TotpSecret, TotpError> {
        let bytes = base32::decode(ALPHABET, sealed).ok_or(TotpError::InvalidSecret)?;
        let (nonce, rest) = bytes
            .split_at_checked(NONCE_LEN)
            .ok_or(TotpError::InvalidSecret)?;
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| TotpError::InvalidSecret)?;
        let mut data = rest.to_vec();
        let plain = self
            .0
            .open_in_place(nonce, Aad::from(owner.as_bytes()), &mut data)
            .map_err(|_| TotpError::InvalidSecret)?;
        TotpSecret::from_bytes(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SealingKey {
        SealingKey::from_bytes(&SealingKey::generate().expect("random")).expect("key")
    }

    #[test]
    fn seals_and_opens_for_the_same_owner_only() {
        let key = key();
        let secret = TotpSecret::generate().expect("random");
        let sealed = key.seal_totp(&secret, "alice").expect("seal");
        assert!(sealed.len() >= 26);
        assert!(
            sealed
                .bytes()
                .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
        );
        assert!(!sealed.contains(&secret.to_base32()));
        assert_eq!(key.open_totp(&sealed, "alice").expect("open"), secret);
        assert_eq!(
            key.open_totp(&sealed, "bob"),
            Err(TotpError::InvalidSecret),
            "bound to its owner"
        );
    }

    #[test]
    fn every_sealing_differs_and_tampering_is_refused() {
        let key = key();
        let secret = TotpSecret::generate().expect("random");
        let a = key.seal_totp(&secret, "alice").expect("seal");
        let b = key.seal_totp(&secret, "alice").expect("seal");
        assert_ne!(a, b, "fresh nonce each time");
        let mut bytes = base32::decode(ALPHABET, &a).expect("base32");
        for index in [0, NONCE_LEN, bytes.len() - 1] {
            bytes[index] ^= 1;
            let tampered = base32::encode(ALPHABET, &bytes);
            assert_eq!(
                key.open_totp(&tampered, "alice"),
                Err(TotpError::InvalidSecret)
            );
            bytes[index] ^= 1;
        }
        assert_eq!(
            key.open_totp("AAAA", "alice"),
            Err(TotpError::InvalidSecret)
        );
        assert_eq!(
            key.open_totp(&secret.to_base32(), "alice"),
            Err(TotpError::InvalidSecret),
            "a plain seed is not a sealed one"
        );
        let other = self::key();
        assert_eq!(other.open_totp(&a, "alice"), Err(TotpError::InvalidSecret));
    }

    #[test]
    fn key_length_is_checked_and_debug_is_redacted() {
        assert!(SealingKey::from_bytes(&[0u8; 16]).is_err());
        assert_eq!(format!("{:?}", key()), "SealingKey(<redacted>)");
    }
}
