//! Shared state of a running hub: one value, built once at start and handed to every handler.

use crate::callbacks::Dispatcher;
use crate::endpoints::Directory;
use crate::expiry::ExpiryScheduler;
use crate::signatures::{JwsPolicy, KeyRegistry};
use crate::writer::LedgerWriter;

/// Everything a handler needs.
pub struct HubState {
    /// The hub's own participant name (`FSPIOP-Source` of what it originates).
    pub hub_name: String,
    /// The single ledger writer (and read access).
    pub writer: LedgerWriter,
    /// Outbound delivery.
    pub dispatcher: Dispatcher,
    /// Participants and their endpoints.
    pub directory: Directory,
    /// Transfer deadlines.
    pub expiry: ExpiryScheduler,
    /// What inbound signatures must satisfy.
    pub jws: JwsPolicy,
    /// Participants' JWS keys.
    pub keys: KeyRegistry,
    /// Counters for the metrics plane.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Audit of refusals, repeated ones aggregated.
    pub refusals: std::sync::Arc<crate::refusals::RefusalAudit>,
}
