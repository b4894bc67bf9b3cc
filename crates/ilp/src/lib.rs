//! Interledger (ILP) packets and conditions as used by FSPIOP (Mojaloop).
//!
//! A pure library: no I/O, no global state, no `unsafe`.
//!
//! * [`oer`]: strict canonical OER [`Reader`](oer::Reader) / [`Writer`](oer::Writer).
//! * [`packet`]: the ILPv1 Payment (FSPIOP v1.x `ilpPacket`) and the ILPv4 Prepare, Fulfill and
//!   Reject, with [`Packet::decode`] / [`Packet::encode`]. Anything that decodes re-encodes to
//!   the same bytes.
//! * [`address`], [`timestamp`]: validated ILP addresses (RFC 15) and ILPv4 timestamps.
//! * [`base64url`]: the base64url forms FSPIOP uses.
//! * [`condition`]: [`Condition`] / [`Fulfilment`] (condition = SHA-256(fulfilment)), with a
//!   constant-time check.
//! * [`canonical_json`] and [`terms`]: the payee DFSP's ilpPacket/condition/fulfilment, byte
//!   for byte as `@mojaloop/sdk-standard-components` builds them, and reading the Transaction
//!   back out of an ilpPacket.
//!
//! The hub itself only needs [`Condition`] and [`Fulfilment`]: it stores and forwards
//! `ilpPacket` verbatim.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::arithmetic_side_effects,
        clippy::cast_possible_truncation,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::unwrap_used
    )
)]

pub mod address;
pub mod base64url;
pub mod canonical_json;
pub mod condition;
mod error;
pub mod oer;
pub mod packet;
pub mod terms;
pub mod timestamp;

#[cfg(test)]
mod test_vectors;

pub use address::{Address, AddressError};
pub use base64url::Base64Error;
pub use condition::{Condition, Fulfilment};
pub use error::IlpError;
pub use oer::OerError;
pub use packet::{ErrorCode, Fulfill, Packet, PacketType, Payment, Prepare, Reject};
pub use terms::{
    AmountError, Terms, amount_to_minor_units, currency_exponent, transaction_from_ilp_packet,
    v1_terms, v4_terms,
};
pub use timestamp::{Timestamp, TimestampError};
