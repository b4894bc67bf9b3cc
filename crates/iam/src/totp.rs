//! TOTP second factor (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps) and recovery codes.
//!
//! **Enrolment.** [`TotpSecret::generate`] draws 160 bits from aws-lc-rs (RFC 4226's
//! recommendation). The user scans [`TotpSecret::qr_svg`] (or types the
//! [`TotpSecret::otpauth_uri`]) into an authenticator, then proves it works with a first code
//! ([`verify`]); only then does the hub store the secret (base32, [`TotpSecret::to_base32`])
//! and the step the code matched.
//!
//! **Verification.** A code is accepted for the current step and one step either side (clock
//! skew), and never twice: the hub keeps the last step it accepted per user and passes it in;
//! a code for that step or an earlier one is refused as a replay (RFC 6238 §5.2). The hub
//! counts failures with [`crate::password::Lockout`] as for passwords.
//!
//! **Recovery codes.** Ten-character base32 values, stored as argon2id hashes, each usable
//! once ([`use_recovery_code`] returns the index to delete).

use std::fmt;

use qrcode::EcLevel;
use qrcode::QrCode;
use qrcode::render::svg;
use totp_rs::Algorithm;
use totp_rs::Builder;
use totp_rs::Secret;
use totp_rs::Totp;

use crate::IamError;
use crate::UnixSeconds;
use crate::password;
use crate::random;

/// The issuer shown in authenticator apps.
pub const ISSUER: &str = "Ferroloop";

/// A user's TOTP secret. `Debug` does not show it; the secret bytes are zeroed on drop.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Secret);

impl TotpSecret {
    /// A new random secret of 160 bits.
    pub fn generate() -> Result<Self, IamError> {
        let bytes = random::bytes::<SECRET_BYTES>()?;
        Ok(Self(Secret::from(bytes)))
    }

    /// A stored secret, from its base32 form (RFC 4648, no padding). At least 128 bits.
    pub fn from_base32(text: &str) -> Result<Self, TotpError> {
        let secret = Secret::try_from_base32(text).map_err(|_| TotpError::InvalidSecret)?;
        if secret.as_ref().len() < MIN_SECRET_BYTES {
            return Err(TotpError::InvalidSecret);
        }
        Ok(Self(secret))
    }

    /// The raw secret bytes (to seal them: [`crate::sealing`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.as_ref().to_vec()
    }

    /// A secret from its raw bytes. At least 128 bits.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, TotpError> {
        if bytes.len() < MIN_SECRET_BYTES {
            return Err(TotpError::InvalidSecret);
        }
        Ok(Self(Secret::from(bytes)))
    }

    /// The base32 form, to show in the `otpauth://` URI (the hub stores it sealed:
    /// [`crate::sealing`]).
    pub fn to_base32(&self) -> String {
        self.0.to_base32()
    }

    /// The `otpauth://totp/Ferroloop:<account>?secret=…&issuer=Ferroloop` URI for an
    /// authenticator app. The account name may not contain `:`.
    pub fn otpauth_uri(&self, account_name: &str) -> Result<String, TotpError> {
        self.totp(account_name)?
            .to_url()
            .map_err(|error| TotpError::InvalidAccountName(error.to_string()))
    }

    /// The `otpauth://` URI as a QR code, an SVG document (black on white, at least 240 px).
    pub fn qr_svg(&self, account_name: &str) -> Result<String, TotpError> {
        let uri = self.otpauth_uri(account_name)?;
        let code = QrCode::with_error_correction_level(uri.as_bytes(), EcLevel::M)
            .map_err(|error| TotpError::Qr(error.to_string()))?;
        Ok(code
            .render::<svg::Color<'_>>()
            .min_dimensions(QR_MIN_PIXELS, QR_MIN_PIXELS)
            .dark_color(svg::Color("#000000"))
            .light_color(svg::Color("#ffffff"))
            .build())
    }

    /// The code for the step containing `now` (for tests and demos; the hub never needs it).
    pub fn code_at(&self, now: UnixSeconds) -> Result<String, TotpError> {
        Ok(self.totp("")?.generate(now).to_string())
    }

    fn totp(&self, account_name: &str) -> Result<Totp, TotpError> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW_STEPS)
            .with_step_duration(STEP_SECS)
            .with_secret(self.0.clone())
            .with_issuer(Some(ISSUER))
            .with_account_name(account_name)
            .build()
            .map_err(|error| match error {
                totp_rs::TotpError::InvalidAccountName { .. } => {
                    TotpError::InvalidAccountName(error.to_string())
                }
                _ => TotpError::InvalidSecret,
            })
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// Checks `code` at `now` and returns the step it matched, to store as the new
/// `last_used_step`.
///
/// Accepts the steps `now / 30 - 1 ..= now / 30 + 1`. Refuses a code that matches only steps
/// at or before `last_used_step` ([`TotpError::Replayed`]), so each code works once and a code
/// can never be used after a later one. Spaces in the code are ignored (`123 456`).
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now: UnixSeconds,
    last_used_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != usize::from(DIGITS) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed);
    }
    let totp = secret.totp("")?;
    let current = now / STEP_SECS;
    let first = current.saturating_sub(u64::from(SKEW_STEPS));
    let last = current.saturating_add(u64::from(SKEW_STEPS));
    let mut replayed = false;
    // Every step of the window is computed and compared, matched or not.
    let mut accepted = None;
    for step in first..=last {
        let expected = totp.generate(step.saturating_mul(STEP_SECS)).to_string();
        if !random::constant_time_eq(expected.as_bytes(), code.as_bytes()) {
            continue;
        }
        if last_used_step.is_some_and(|used| step <= used) {
            replayed = true;
        } else if accepted.is_none() {
            accepted = Some(step);
        }
    }
    match (accepted, replayed) {
        (Some(step), _) => Ok(step),
        (None, true) => Err(TotpError::Replayed),
        (None, false) => Err(TotpError::Invalid),
    }
}

/// `n` new recovery codes: the plain codes to show the user once, and their argon2id hashes
/// to store, in the same order. Each code is 10 characters of the RFC 4648 base32 alphabet
/// (50 bits). Slow (one argon2 hash per code): call it from a blocking task.
pub fn generate_recovery_codes(n: usize) -> Result<(Vec<String>, Vec<String>), IamError> {
    let mut plain = Vec::with_capacity(n);
    let mut hashes = Vec::with_capacity(n);
    for _ in 0..n {
        let code = recovery_code()?;
        hashes.push(password::hash(&code)?);
        plain.push(code);
    }
    Ok((plain, hashes))
}

/// Which stored recovery code `code` is, if any: the index into `hashes` to delete, since
/// each code works once. Case, spaces and dashes in the input are ignored. Slow (up to one
/// argon2 verification per stored hash): call it from a blocking task.
pub fn use_recovery_code(code: &str, hashes: &[String]) -> Option<usize> {
    let normalised: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let well_formed = normalised.len() == RECOVERY_CODE_LEN
        && normalised.bytes().all(|b| BASE32_ALPHABET.contains(&b));
    if !well_formed {
        return None;
    }
    hashes
        .iter()
        .position(|phc| password::verify(&normalised, phc))
}

/// Why a TOTP operation refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TotpError {
    /// The code is not six digits.
    #[error("the code must be 6 digits")]
    Malformed,
    /// The code matches no step in the window.
    #[error("the code is wrong or has expired")]
    Invalid,
    /// The code was already used (or a later one was).
    #[error("this code was already used: wait for the next one")]
    Replayed,
    /// The stored secret is not valid base32 or is shorter than 128 bits.
    #[error("the stored TOTP secret is invalid")]
    InvalidSecret,
    /// The account name cannot go into an `otpauth://` URI (empty, or contains `:`).
    #[error("account name not usable in an authenticator: {0}")]
    InvalidAccountName(String),
    /// The QR code could not be made.
    #[error("QR code: {0}")]
    Qr(String),
}

/// A recovery code: `RECOVERY_CODE_LEN` characters, each uniform over the 32-letter alphabet
/// (a random byte's low five bits).
fn recovery_code() -> Result<String, IamError> {
    let bytes = random::bytes::<RECOVERY_CODE_LEN>()?;
    let code: Option<String> = bytes
        .iter()
        .map(|b| {
            BASE32_ALPHABET
                .get(usize::from(b & 0x1f))
                .map(|c| char::from(*c))
        })
        .collect();
    // Five bits always index the 32-letter alphabet; `None` cannot happen.
    code.ok_or(IamError::Random)
}

const SECRET_BYTES: usize = 20;
const MIN_SECRET_BYTES: usize = 16;
const DIGITS: u8 = 6;
const STEP_SECS: u64 = 30;
const SKEW_STEPS: u16 = 1;
const QR_MIN_PIXELS: u32 = 240;
const RECOVERY_CODE_LEN: usize = 10;
const BASE32_ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 seed, "12345678901234567890", in base32.
    const RFC_SEED: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    /// RFC 6238 appendix B, SHA-1: time and the 8-digit TOTP. A 6-digit code is the last six
    /// digits (the value modulo 10^6, and 10^6 divides 10^8).
    const RFC_VECTORS: [(u64, &str); 6] = [
        (59, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ];

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_base32(RFC_SEED).expect("seed")
    }

    #[test]
    fn rfc_6238_vectors() {
        let secret = rfc_secret();
        for (time, eight) in RFC_VECTORS {
            let six = &eight[2..];
            assert_eq!(secret.code_at(time).expect("code"), six, "T = {time}");
            assert_eq!(
                verify(&secret, six, time, None),
                Ok(time / 30),
                "T = {time}"
            );
        }
    }

    #[test]
    fn skew_of_one_step_either_side_and_no_more() {
        let secret = rfc_secret();
        let now = 1_234_567_890;
        let step = now / 30;
        let code_for = |s: u64| secret.code_at(s * 30).expect("code");
        assert_eq!(
            verify(&secret, &code_for(step - 1), now, None),
            Ok(step - 1)
        );
        assert_eq!(
            verify(&secret, &code_for(step + 1), now, None),
            Ok(step + 1)
        );
        assert_eq!(
            verify(&secret, &code_for(step - 2), now, None),
            Err(TotpError::Invalid)
        );
        assert_eq!(
            verify(&secret, &code_for(step + 2), now, None),
            Err(TotpError::Invalid)
        );
    }

    #[test]
    fn a_code_is_accepted_once_and_never_after_a_later_one() {
        let secret = rfc_secret();
        let now = 1_111_111_111;
        let step = now / 30;
        let code = secret.code_at(now).expect("code");
        let used = verify(&secret, &code, now, None).expect("first use");
        assert_eq!(used, step);
        assert_eq!(
            verify(&secret, &code, now + 5, Some(used)),
            Err(TotpError::Replayed)
        );
        // The previous step's code, still inside the skew window, is now too old.
        let previous = secret.code_at(now - 30).expect("code");
        assert_eq!(
            verify(&secret, &previous, now, Some(used)),
            Err(TotpError::Replayed)
        );
        // The next step's code works.
        let next = secret.code_at(now + 30).expect("code");
        assert_eq!(verify(&secret, &next, now + 30, Some(used)), Ok(step + 1));
    }

    #[test]
    fn malformed_and_wrong_codes() {
        let secret = rfc_secret();
        let now = 59;
        assert_eq!(
            verify(&secret, "28708", now, None),
            Err(TotpError::Malformed)
        );
        assert_eq!(
            verify(&secret, "2870822", now, None),
            Err(TotpError::Malformed)
        );
        assert_eq!(
            verify(&secret, "28708a", now, None),
            Err(TotpError::Malformed)
        );
        assert_eq!(verify(&secret, "", now, None), Err(TotpError::Malformed));
        assert_eq!(verify(&secret, "287 082", now, None), Ok(1));
        assert_eq!(
            verify(&secret, "287083", now, None),
            Err(TotpError::Invalid)
        );
        // Step 0 at time 0: the window does not underflow.
        let zero = secret.code_at(0).expect("code");
        assert_eq!(verify(&secret, &zero, 0, None), Ok(0));
    }

    #[test]
    fn generated_secrets_are_160_bits_and_round_trip_through_base32() {
        let secret = TotpSecret::generate().expect("generate");
        let text = secret.to_base32();
        assert_eq!(text.len(), 32, "160 bits in base32");
        assert_eq!(TotpSecret::from_base32(&text).expect("parse"), secret);
        assert_ne!(TotpSecret::generate().expect("generate"), secret);
        assert_eq!(format!("{secret:?}"), "TotpSecret(<redacted>)");
        assert_eq!(
            TotpSecret::from_base32("not base32!"),
            Err(TotpError::InvalidSecret)
        );
        // 80 bits: too short.
        assert_eq!(
            TotpSecret::from_base32("GEZDGNBVGY3TQOJQ"),
            Err(TotpError::InvalidSecret)
        );
    }

    #[test]
    fn enrolment_uri_and_qr_code() {
        let secret = rfc_secret();
        let uri = secret.otpauth_uri("alice@example.org").expect("uri");
        assert!(
            uri.starts_with("otpauth://totp/Ferroloop:alice%40example.org?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={RFC_SEED}")), "{uri}");
        assert!(uri.contains("issuer=Ferroloop"), "{uri}");
        let svg = secret.qr_svg("alice@example.org").expect("qr");
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(matches!(
            secret.otpauth_uri("ali:ce"),
            Err(TotpError::InvalidAccountName(_))
        ));
        assert!(matches!(
            secret.otpauth_uri(""),
            Err(TotpError::InvalidAccountName(_))
        ));
    }

    #[test]
    fn recovery_codes_are_base32_hashed_and_usable_once() {
        let (plain, hashes) = generate_recovery_codes(3).expect("generate");
        assert_eq!(plain.len(), 3);
        assert_eq!(hashes.len(), 3);
        for code in &plain {
            assert_eq!(code.len(), 10);
            assert!(code.bytes().all(|b| BASE32_ALPHABET.contains(&b)), "{code}");
        }
        for (code, phc) in plain.iter().zip(&hashes) {
            assert!(phc.starts_with("$argon2id$"));
            assert!(!phc.contains(code.as_str()));
        }
        assert_eq!(use_recovery_code(&plain[1], &hashes), Some(1));
        // Lower case with a dash, as a user might type it.
        let typed = format!("{}-{}", &plain[2][..5], &plain[2][5..]).to_lowercase();
        assert_eq!(use_recovery_code(&typed, &hashes), Some(2));
        // Once the hub deletes the used hash, the code no longer works.
        let remaining: Vec<String> = hashes
            .iter()
            .enumerate()
            .filter(|(index, _)| *index != 1)
            .map(|(_, phc)| phc.clone())
            .collect();
        assert_eq!(use_recovery_code(&plain[1], &remaining), None);
        assert_eq!(use_recovery_code("AAAAAAAAAA", &hashes), None);
        assert_eq!(use_recovery_code("too short", &hashes), None);
        assert_eq!(
            use_recovery_code("AAAAAAAAA1", &hashes),
            None,
            "1 is not base32"
        );
    }
}
