//! Oracle for the operator credentials the hub parses from untrusted input: the bearer or
//! cookie credential (`iam::token::TokenKind::of_presented`), a TOTP code (`iam::totp::verify`),
//! a password candidate (`iam::password::PasswordPolicy::check`, without history: no hashing)
//! and a stored sealed TOTP seed (`iam::sealing::SealingKey::open_totp`).
//!
//! Uses nothing but the `iam` crate, so `crates/iam/tests/fuzz_corpus.rs` replays the seeds
//! under a stable `cargo test`.

use iam::password::PasswordPolicy;
use iam::sealing::SealingKey;
use iam::token::TokenKind;
use iam::totp::{TotpError, TotpSecret};

/// The fixed time the TOTP checks run at (Unix seconds).
pub const NOW: u64 = 1_700_000_000;

/// The TOTP secret the seeds' valid codes belong to (20 bytes of 7).
pub fn secret() -> TotpSecret {
    TotpSecret::from_bytes(&[7u8; 20]).expect("a 160-bit secret")
}

/// `iam_credentials`: every credential parser over the input as UTF-8 text (other input is
/// skipped: headers and JSON strings reach them as `&str`).
///
/// Never panics, and: a recognised token has its kind's prefix and exact length and verifies
/// against its own hash; an accepted TOTP code is the code of a step within one of now and is
/// refused as a replay the second time; an accepted password is 12..=128 characters, not on
/// the common list and without the user name; a sealed seed that opens re-seals and opens to
/// the same secret, and never for another owner.
pub fn credentials(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(kind) = TokenKind::of_presented(text) {
        assert!(text.starts_with(kind.prefix()));
        assert_eq!(text.len(), kind.prefix().len() + 43);
        let hash = iam::token::hash(text);
        assert_eq!(hash.len(), 64);
        assert!(
            hash.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert!(iam::token::verify(text, &hash));
    }

    let secret = secret();
    match iam::totp::verify(&secret, text, NOW, None) {
        Ok(step) => {
            let current = NOW / 30;
            assert!(step + 1 >= current && step <= current + 1, "step {step}");
            let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
            assert_eq!(digits, secret.code_at(step * 30).expect("code"));
            assert_eq!(
                iam::totp::verify(&secret, text, NOW, Some(step)),
                Err(TotpError::Replayed),
                "a code is accepted once"
            );
        }
        Err(TotpError::Malformed | TotpError::Invalid) => {}
        Err(other) => panic!("unexpected TOTP error {other:?}"),
    }

    let policy = PasswordPolicy::default();
    if policy.check(text, "admin", &[]).is_ok() {
        let length = text.chars().count();
        assert!((policy.min_length..=policy.max_length).contains(&length));
        assert!(!iam::password::is_common(text));
        assert!(!text.to_lowercase().contains("admin"));
    }

    let key = SealingKey::from_bytes(&[9u8; 32]).expect("key");
    if let Ok(opened) = key.open_totp(text, "admin") {
        assert!(opened.to_bytes().len() >= 16);
        assert!(key.open_totp(text, "someone-else").is_err());
        let again = key.seal_totp(&opened, "admin").expect("seal");
        assert_eq!(key.open_totp(&again, "admin").expect("open"), opened);
    }
}
