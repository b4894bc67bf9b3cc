//! The crate's error type.

use thiserror::Error;

use crate::address::AddressError;
use crate::base64url::Base64Error;
use crate::oer::OerError;
use crate::packet::PacketType;
use crate::terms::AmountError;
use crate::timestamp::TimestampError;

/// Everything that can go wrong in this crate.
///
/// Variants that concern one field name it in `field`, using the ILP/FSPIOP field name.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum IlpError {
    /// A base64url string could not be decoded.
    #[error("{field}: {source}")]
    Base64 {
        /// The field being decoded.
        field: &'static str,
        /// What was wrong.
        #[source]
        source: Base64Error,
    },
    /// A required input is empty.
    #[error("{field} is empty")]
    Empty {
        /// The empty field.
        field: &'static str,
    },
    /// An ILP address is invalid.
    #[error("invalid {field}: {source}")]
    InvalidAddress {
        /// The address field.
        field: &'static str,
        /// What was wrong.
        #[source]
        source: AddressError,
    },
    /// A decimal amount cannot be converted to minor units.
    #[error("invalid amount: {0}")]
    InvalidAmount(#[source] AmountError),
    /// A currency code is not three upper-case ASCII letters.
    #[error("invalid currency code {0:?}")]
    InvalidCurrency(String),
    /// An ILP Reject `code` is not three ASCII letters or digits.
    #[error("invalid ILP error code {0:02x?}")]
    InvalidErrorCode([u8; 3]),
    /// A value has the wrong length.
    #[error("{field} must be {expected} long, got {actual}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// Expected length (bytes or characters, as the field defines).
        expected: usize,
        /// Actual length.
        actual: usize,
    },
    /// The Prepare `expiresAt` (or an expiry given to a builder) is not a valid timestamp.
    #[error("invalid expiresAt: {0}")]
    InvalidTimestamp(#[source] TimestampError),
    /// The Transaction carried in a packet's data cannot be read.
    #[error("invalid transaction data: {0}")]
    InvalidTransaction(String),
    /// A text field is not valid UTF-8.
    #[error("{field} is not valid UTF-8")]
    InvalidUtf8 {
        /// The field.
        field: &'static str,
    },
    /// The bytes are not canonical OER for the expected structure.
    #[error("malformed {field}: {source}")]
    Malformed {
        /// The field (or structure) being read.
        field: &'static str,
        /// What was wrong.
        #[source]
        source: OerError,
    },
    /// A field of the Transaction object is missing or is not a string.
    #[error("transaction field {0} is missing or not a string")]
    MissingField(&'static str),
    /// A field exceeds its maximum length.
    #[error("{field} is {len} bytes long, more than the maximum {max}")]
    TooLong {
        /// The field.
        field: &'static str,
        /// Its length.
        len: usize,
        /// The maximum allowed.
        max: usize,
    },
    /// The packet decoded but is not of the type the caller asked for.
    #[error("expected a {expected:?} packet, got {actual:?}")]
    UnexpectedPacketType {
        /// The type the caller asked for.
        expected: PacketType,
        /// The type found.
        actual: PacketType,
    },
    /// The packet type byte is not one this crate knows.
    #[error("unknown packet type {0:#04x}")]
    UnknownPacketType(u8),
    /// The ILPv1 Payment extensibility byte is not `0x00` (extensions are not supported).
    #[error("unsupported ILPv1 extensions marker {0:#04x} (only 0x00 is accepted)")]
    UnsupportedExtensions(u8),
}

impl From<TimestampError> for IlpError {
    fn from(e: TimestampError) -> Self {
        Self::InvalidTimestamp(e)
    }
}

impl From<AmountError> for IlpError {
    fn from(e: AmountError) -> Self {
        Self::InvalidAmount(e)
    }
}
