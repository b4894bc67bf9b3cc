//! Operator identity and access management for the hub: the rules, without the I/O.
//!
//! This crate decides; the hub stores and serves. Nothing here reads a clock, a file, the
//! network or global mutable state: every time is passed in as unix seconds, and every result
//! is a value the hub persists (a PHC string, a SHA-256 hex, a step number, a request state).
//!
//! # Layout
//!
//! - [`password`]: the password policy (length, character classes, user name, common
//!   passwords, history, age), argon2id hashing and verification, lockout with exponential
//!   backoff.
//! - [`totp`]: TOTP enrolment (secret, `otpauth://` URI, QR code as SVG), verification with a
//!   skew of one step and replay refusal, argon2-hashed recovery codes.
//! - [`token`]: session ids and API tokens (256 random bits, shown once, stored as SHA-256),
//!   session timeouts and MFA freshness, API token scopes.
//! - [`rbac`]: permissions for every admin operation, built-in and custom roles,
//!   separation-of-duties rules, the route → permission table for the admin API.
//! - [`approval`]: maker/checker: the approval policy and the pending request state machine.
//! - [`sealing`]: AES-256-GCM sealing of the TOTP seeds the hub stores (bound to their owner).
//!
//! # Crypto
//!
//! aws-lc-rs is the hub's only crypto provider: randomness comes from `aws_lc_rs::rand`,
//! SHA-256 from `aws_lc_rs::digest`, and secret comparisons from `aws_lc_rs::constant_time`.
//! Argon2id (RustCrypto `argon2`, salt from aws-lc-rs) hashes passwords and recovery codes;
//! `totp-rs` computes the RFC 6238 codes.
//!
//! Hashing is deliberately slow (tens of milliseconds): the hub must call [`password::hash`],
//! [`password::verify`], [`password::PasswordPolicy::check`] (history),
//! [`totp::generate_recovery_codes`] and [`totp::use_recovery_code`] from a blocking task.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod approval;
pub mod password;
pub mod rbac;
pub mod sealing;
pub mod token;
pub mod totp;

mod error;
mod random;

pub use error::IamError;

/// A point in time as whole seconds since the Unix epoch (UTC). The hub's clock supplies it.
pub type UnixSeconds = u64;
