//! Error types: one enum per concern, each variant naming exactly what went wrong.
//!
//! Every [`JwsError`] maps to FSPIOP `3105 Invalid signature` at the API edge; the variants exist
//! so that the hub can log (and a DFSP operator can fix) the precise cause.

use std::fmt;

use crate::Alg;

/// Why an `FSPIOP-Signature` header could not be signed or verified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JwsError {
    /// The `FSPIOP-Signature` header value is empty (or only whitespace).
    #[error("FSPIOP-Signature header is missing or empty")]
    Missing,
    /// There is no body: the SDK neither signs nor validates an empty payload.
    #[error("request has no body to sign or verify")]
    EmptyBody,
    /// The header value, or the protected header inside it, is not what the FSPIOP JWS
    /// format prescribes.
    #[error("malformed FSPIOP-Signature: {0}")]
    Malformed(#[from] Malformed),
    /// The protected header names an algorithm other than `RS256` or `ES256`.
    #[error("unknown JWS algorithm {0:?}")]
    UnknownAlgorithm(String),
    /// The algorithm is known but not in the caller's allow-list.
    #[error("JWS algorithm {0} is not allowed")]
    AlgorithmNotAllowed(Alg),
    /// A protected header member disagrees with the request (§3.2 rules).
    #[error("protected header {field}: {reason}")]
    HeaderMismatch {
        /// The member that disagrees.
        field: HeaderField,
        /// How it disagrees.
        reason: Mismatch,
    },
    /// None of the supplied verification keys is of the header's algorithm.
    #[error("no verification key for {alg}")]
    NoKey {
        /// Algorithm named by the protected header.
        alg: Alg,
    },
    /// No key verifies the signature over the raw body or any accepted re-serialisation.
    #[error("signature does not verify")]
    BadSignature,
    /// A request part handed to [`sign`](crate::sign) is empty, or holds a character that the
    /// SDK would not round-trip (anything but printable ASCII).
    #[error("cannot sign: {field} is empty or holds characters other than printable ASCII")]
    InvalidRequestPart {
        /// The offending part.
        field: HeaderField,
    },
    /// The crypto library failed to produce a signature (not expected with a loaded key).
    #[error("signing failed")]
    SigningFailed,
}

/// The precise way in which an `FSPIOP-Signature` header value is malformed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Malformed {
    /// A part is longer than its limit (counted in bytes of the received text).
    #[error("{what} is {len} characters long, limit {max}")]
    TooLong {
        /// Which part.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Not parseable as JSON.
    #[error("{0} is not valid JSON")]
    NotJson(&'static str),
    /// Valid JSON, but not an object.
    #[error("{0} is not a JSON object")]
    NotObject(&'static str),
    /// A required member is absent (or an empty string, which the SDK treats as absent).
    #[error("member {0:?} is missing")]
    MissingMember(&'static str),
    /// A member appears twice; JSON parsers disagree on which one wins, so we refuse.
    #[error("member {0:?} appears more than once")]
    DuplicateMember(String),
    /// A member has the wrong JSON type (all the members we read are strings).
    #[error("member {0:?} is not a string")]
    NotString(&'static str),
    /// A member is not unpadded, canonical base64url.
    #[error("member {0:?} is not canonical unpadded base64url")]
    Base64(&'static str),
    /// The decoded protected header is not UTF-8.
    #[error("protected header is not UTF-8")]
    NotUtf8,
    /// The protected header carries `crit`; no JOSE extension is understood here (RFC 7515
    /// §4.1.11 says to reject).
    #[error("protected header carries \"crit\", which is not supported")]
    Critical,
}

/// The protected header members that are compared with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderField {
    /// `FSPIOP-URI`.
    Uri,
    /// `FSPIOP-HTTP-Method`.
    Method,
    /// `FSPIOP-Source`.
    Source,
    /// `FSPIOP-Destination`.
    Destination,
    /// `Date`.
    Date,
}

impl HeaderField {
    /// The member name as it appears in the protected header (and, case-insensitively, as the
    /// HTTP header name).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Uri => "FSPIOP-URI",
            Self::Method => "FSPIOP-HTTP-Method",
            Self::Source => "FSPIOP-Source",
            Self::Destination => "FSPIOP-Destination",
            Self::Date => "Date",
        }
    }
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a protected header member disagrees with the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Mismatch {
    /// Both have it, with different values (compared byte for byte).
    #[error("value differs from the request header")]
    Differs,
    /// The protected header has it, the request does not.
    #[error("signed but absent from the request")]
    MissingFromRequest,
    /// The request has it, the protected header does not.
    #[error("present in the request but not signed")]
    NotSigned,
}

/// Why a verification or signing key could not be loaded or made.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text holds no `-----BEGIN …-----` block.
    #[error("no PEM block found")]
    NoPem,
    /// A PEM block is structurally broken (unterminated, bad base64, too large).
    #[error("malformed PEM: {0}")]
    Pem(&'static str),
    /// The PEM block is of a kind this function does not load.
    #[error("PEM block {label:?} is not accepted here (expected {expected})")]
    UnexpectedPemLabel {
        /// The label found (truncated to 64 characters).
        label: String,
        /// What would have been accepted.
        expected: &'static str,
    },
    /// The private key is encrypted (PKCS#8 `ENCRYPTED PRIVATE KEY` or legacy `Proc-Type`).
    #[error("encrypted private keys are not supported; decrypt it first")]
    Encrypted,
    /// The DER inside is not the structure it claims to be.
    #[error("malformed DER in {0}")]
    Der(&'static str),
    /// The key algorithm is neither RSA nor EC (for example Ed25519 or RSASSA-PSS).
    #[error("unsupported key algorithm, OID {0}")]
    UnsupportedKeyType(String),
    /// An EC key on a curve other than P-256 (prime256v1).
    #[error("unsupported elliptic curve {0}; only P-256 is accepted")]
    UnsupportedCurve(String),
    /// An RSA key outside 2048..=4096 bits.
    #[error("RSA key of {bits} bits; 2048 to 4096 bits required")]
    RsaKeySize {
        /// The modulus size found.
        bits: u32,
    },
    /// The crypto library rejected the key (the reason is its own).
    #[error("key rejected: {0}")]
    Rejected(&'static str),
    /// Key generation failed in the crypto library.
    #[error("key generation failed")]
    Generation,
    /// Serialising a key failed in the crypto library.
    #[error("key serialisation failed")]
    Serialisation,
}

/// Why a `Date` header fails [`check_date_freshness`](crate::check_date_freshness).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DateError {
    /// Not an IMF-fixdate (`Wed, 01 Jan 2025 00:00:01 GMT`) with the correct weekday.
    #[error("Date is not an IMF-fixdate")]
    Invalid,
    /// Further from `now` than the window allows; positive skew means in the future.
    #[error("Date is {skew_secs} s from now, outside the window")]
    OutsideWindow {
        /// `date - now` in whole seconds.
        skew_secs: i64,
    },
}
