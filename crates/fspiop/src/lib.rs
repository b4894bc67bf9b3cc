//! FSPIOP v1.1 protocol rules with no I/O: identifiers, money, timestamps, header checks,
//! error codes, callback endpoint templates and body schemas.
//!
//! Everything a DFSP sends is parsed here exactly once, at the edge, into a typed value or a
//! precise [`error::FspiopError`] that maps to the specification's error code. The hub
//! server, the ledger and the DFSP tooling all share these types so that one rule has one
//! implementation.
#![forbid(unsafe_code)]
// Library code handles bytes from DFSPs: it must not be able to panic on them.
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

pub mod canonical;
pub mod endpoint;
pub mod error;
pub mod headers;
pub mod json;
pub mod schema;
pub mod types;

pub use error::{ErrorCode, FspiopError};
pub use types::{Amount, Currency, FspId, FspiopDateTime};
