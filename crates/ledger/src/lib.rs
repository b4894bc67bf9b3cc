//! The hub's ledger: participants, accounts, positions, limits and two-phase transfers.
//!
//! The rules live here as plain code over a [`store::LedgerTx`] — a unit of work that a storage
//! backend implements (SQLite embedded, PostgreSQL at scale, an in-memory model in tests). The
//! ledger never performs I/O itself: it reads and writes rows through the transaction it is
//! handed, and it returns *outcomes* (what must be told to whom) for the server to deliver.
//!
//! Sign conventions follow the Mojaloop reference so provisioning tools read familiar numbers:
//! a participant's POSITION grows when it pays (net debit), SETTLEMENT goes negative when funds
//! come in, and HUB_RECONCILIATION mirrors every SETTLEMENT movement so both pairs sum to zero
//! (an initial position set at onboarding is booked against HUB_MULTILATERAL_SETTLEMENT, which
//! then joins the positions' sum).
#![forbid(unsafe_code)]

pub mod clock;
pub mod engine;
pub mod mem;
pub mod model;
pub mod store;
pub mod terms;

pub use clock::{Clock, ManualClock, SystemClock};
pub use model::*;
pub use store::{AuditAction, AuditFilter};
pub use store::{LedgerStore, LedgerTx, StoreError};
pub use terms::IlpPolicy;
