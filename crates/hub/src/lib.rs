//! The Ferroloop hub as a library: configuration in, running listeners out.
//!
//! Layout:
//! - [`api`]: the FSPIOP listener's gate (routing, headers, caller, schema) and
//!   [`handlers`]: what each resource does;
//! - [`writer`]: the single ledger writer (group commit) over a [`ledger::LedgerStore`];
//! - [`callbacks`] and [`message`]: outbound delivery with retries and a delivery log;
//! - [`expiry`]: deadline-driven transfer expiry;
//! - [`admin`], `admin_iam` and [`operations`]: the operator plane; [`iam`]: who the operator
//!   is and what they may do; [`requests`]: maker/checker for every sensitive change;
//! - [`evidence`]: offline re-verification of the signed messages kept per transfer;
//! - [`audit`]: verification of the hash-chained audit log;
//! - [`caller`]: the identity the transport proved;
//! - [`refusals`]: aggregated audit of repeated refusals; [`logsafe`]: peer text in logs;
//! - [`signatures`]: JWS verification at ingress, the hub's signing key and the key registry;
//! - [`server`]: wiring and lifecycle.
#![forbid(unsafe_code)]
// The hub handles bytes from DFSPs: library code must not be able to panic on them.
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

pub mod admin;
mod admin_iam;
pub mod api;
pub mod audit;
pub mod callbacks;
pub mod caller;
pub mod connections;
pub mod endpoints;
pub mod evidence;
pub mod expiry;
pub mod handlers;
pub mod iam;
pub mod logsafe;
pub mod message;
pub mod metrics;
pub mod operations;
pub mod outbound;
pub mod refusals;
pub mod requests;
pub mod server;
pub mod signatures;
pub mod state;
pub mod tls;
pub mod writer;

pub use server::{HubConfig, HubError, RunningHub, start};
pub use signatures::JwsPolicy;
