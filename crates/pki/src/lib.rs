//! The Ferroloop hub's certificate authority: every DFSP link is mutual TLS, and this crate
//! issues and revokes the certificates for it.
//!
//! # Layout
//!
//! * [`CertificateAuthority`] is pure: it creates a P-256 CA (or loads one from PEM), issues
//!   server and participant client certificates, signs participant CSRs and produces CRLs. It
//!   does no file I/O and keeps no state besides the CA certificate and key.
//! * [`inspect`] / [`inspect_der`] and [`inspect_crl`] read certificates and CRLs with
//!   x509-parser and return typed errors on any malformed input; they never panic.
//! * [`dir`] is the only module that touches the file system: a PKI directory holding the CA,
//!   the hub's own server and client identities, the CRL and an inventory of every issued
//!   certificate ([`dir::PkiDir`]).
//!
//! # Participant identity
//!
//! A participant client certificate carries the participant name twice: as the subject
//! common name and as the SAN URI `urn:ferroloop:participant:<name>` ([`participant_uri`]).
//! Names follow the hub's FSP id rule: 1..=32 characters from `[A-Za-z0-9._-]`. When the hub
//! signs a CSR, only the CSR's public key is used; its subject and requested extensions are
//! ignored, so a participant cannot obtain a certificate naming someone else.
//!
//! # Secrets
//!
//! Private keys only ever leave this crate as PKCS#8 PEM strings ([`CertificateAuthority::key_pem`],
//! [`IssuedCertificate::key_pem`]). No `Debug` impl and no error message contains key material.
//!
//! # Example
//!
//! ```
//! use pki::{CertificateAuthority, inspect};
//!
//! let ca = CertificateAuthority::create("Example Hub CA", 365).unwrap();
//! let issued = ca.issue_client("payerfsp", 30).unwrap();
//! let info = inspect(&issued.cert_pem).unwrap();
//! assert_eq!(info.participant.as_deref(), Some("payerfsp"));
//! assert_eq!(info.issuer_cn.as_deref(), Some("Example Hub CA"));
//! ca.verify_issued(&issued.cert_pem).unwrap();
//! ```

#![forbid(unsafe_code)]
// Library code parses certificates, CSRs and CRLs from participants and from disk: it must
// not be able to panic on them.
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

mod ca;
pub mod dir;
mod error;
mod inspect;
mod util;

pub use ca::{CertificateAuthority, IssuedCertificate, RevocationReason, Revoked};
pub use error::{Error, Result};
pub use inspect::{CertInfo, CrlEntry, CrlInfo, inspect, inspect_crl, inspect_der};
pub use util::{
    MAX_VALIDITY_DAYS, PARTICIPANT_URI_PREFIX, normalize_serial_hex, participant_uri,
    validate_participant,
};
