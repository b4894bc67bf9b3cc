//! The DFSP side of Ferroloop: what a bank or mobile-money provider runs to talk to the hub.
//!
//! - [`client`]: an FSPIOP client that sends requests with the right headers;
//! - [`simulator`]: a DFSP backend that answers the hub's callbacks (lookups, quotes with real
//!   ILP conditions, transfers with real fulfilments) and records what it received, used by the
//!   demo, the load generator and the integration tests;
//! - [`provision`]: an admin-API client for onboarding participants;
//! - [`operator`]: operator sessions on the admin API (login, TOTP, fresh MFA, approvals, API
//!   tokens) and [`operator::provision`], which sets up a fresh hub's operators.
#![forbid(unsafe_code)]

pub mod client;
pub mod operator;
pub mod provision;
pub mod simulator;
