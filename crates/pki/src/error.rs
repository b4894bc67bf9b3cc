//! The crate's error type. Messages never contain private key material.

use std::io;
use std::path::PathBuf;

use time::OffsetDateTime;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the PKI.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A participant name outside the hub's FSP id rule.
    #[error("invalid participant name {0:?}: expected 1..=32 characters from [A-Za-z0-9._-]")]
    InvalidParticipant(String),
    /// A CA common name that is empty, too long or contains control characters.
    #[error("invalid common name {0:?}: expected 1..=64 printable characters")]
    InvalidCommonName(String),
    /// A server name that is neither a valid DNS name nor an IP address.
    #[error("invalid DNS name {0:?}")]
    InvalidDnsName(String),
    /// A server certificate was requested without any DNS name or IP address.
    #[error("a server certificate needs at least one DNS name or IP address")]
    NoSubjectAltNames,
    /// A validity period of zero days or more than [`crate::MAX_VALIDITY_DAYS`].
    #[error("validity of {0} days is out of range (1..={max})", max = crate::MAX_VALIDITY_DAYS)]
    InvalidValidity(u32),
    /// The certificate would outlive the CA certificate that signs it.
    #[error("requested validity ends {requested} but the CA certificate expires {ca_not_after}")]
    ValidityExceedsCa {
        /// The requested `notAfter`.
        requested: OffsetDateTime,
        /// The CA certificate's `notAfter`.
        ca_not_after: OffsetDateTime,
    },
    /// The input is not PEM of the expected kind.
    #[error("invalid PEM: {0}")]
    Pem(String),
    /// The input does not parse as an X.509 certificate.
    #[error("invalid certificate: {0}")]
    Certificate(String),
    /// The input does not parse as a PKCS#10 certificate signing request.
    #[error("invalid certificate signing request: {0}")]
    Csr(String),
    /// The CSR's self-signature does not verify against its own public key.
    #[error("certificate signing request signature does not verify")]
    CsrSignature,
    /// A public key of an unsupported algorithm or insufficient strength.
    #[error("unsupported public key: {0}")]
    UnsupportedKey(String),
    /// The private key could not be parsed (details withheld on purpose).
    #[error("invalid or unsupported private key (expected unencrypted PKCS#8 PEM)")]
    PrivateKey,
    /// The certificate given as CA is not usable as a CA.
    #[error("not a usable CA certificate: {0}")]
    NotCa(String),
    /// The CA private key does not belong to the CA certificate.
    #[error("the private key does not match the CA certificate")]
    KeyMismatch,
    /// A serial number that is not 1..=20 bytes of hex.
    #[error("invalid serial number {0:?}")]
    InvalidSerial(String),
    /// The input does not parse as a CRL.
    #[error("invalid CRL: {0}")]
    Crl(String),
    /// A certificate that this CA did not issue (wrong issuer or bad signature).
    #[error("certificate was not issued by this CA: {0}")]
    NotIssuedByCa(String),
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// rcgen refused to build or sign a certificate or CRL.
    #[error("certificate generation failed: {0}")]
    Rcgen(#[from] rcgen::Error),
    /// A file system operation in [`crate::dir`] failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// [`crate::dir::PkiDir::open`] found no initialised PKI directory.
    #[error("no PKI directory at {} (missing {})", dir.display(), missing)]
    NotInitialized {
        /// The directory.
        dir: PathBuf,
        /// The first required file that is missing.
        missing: &'static str,
    },
    /// Bootstrap found files from an earlier, incomplete bootstrap and will not overwrite them.
    #[error(
        "PKI directory {} is partially initialised ({} exists without inventory.json); \
         refusing to overwrite, inspect and clean it up by hand",
        dir.display(),
        existing
    )]
    PartiallyInitialized {
        /// The directory.
        dir: PathBuf,
        /// A file that already exists.
        existing: &'static str,
    },
    /// `inventory.json` is unreadable or inconsistent.
    #[error("inventory: {0}")]
    Inventory(String),
    /// A revocation for a serial number not in the inventory.
    #[error("unknown serial number {0}")]
    UnknownSerial(String),
    /// A revocation for a certificate that is already revoked.
    #[error("certificate {0} is already revoked")]
    AlreadyRevoked(String),
    /// A revocation of the CA certificate itself (replace the CA instead).
    #[error("refusing to revoke the CA certificate {0}")]
    CannotRevokeCa(String),
}
