//! The operations layer: the hub's state as operators see it.
//!
//! Changes go through [`crate::requests`] (maker/checker), which executes them in the ledger
//! with their audit entry in the same transaction and then calls the `*_changed` methods here
//! to refresh what lives outside the store (directory, key registry, pins, open connections).
//! Queries read without blocking the writer.

use fspiop::FspiopError;
use ledger::{Account, AuditEntry, Delivery, Endpoint, Limit, Participant};

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::connections::ConnectionRegistry;
use crate::endpoints::Directory;
use crate::outbound::OutboundClients;
use crate::signatures::{JwsPolicy, KeyRegistry, RegisteredKey};
use crate::writer::{LedgerWriter, WriterError};

/// Who performs an operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor {
    /// Name recorded in the audit log.
    pub name: String,
}

/// Operator actions and queries.
#[derive(Clone)]
pub struct Operations {
    writer: LedgerWriter,
    directory: Directory,
    keys: KeyRegistry,
    jws: JwsPolicy,
    transport: Transport,
}

/// What operator changes to a participant's TLS settings act on at once.
#[derive(Clone)]
pub struct Transport {
    /// Open connections (closed on deactivation or a new key pin).
    pub connections: Arc<ConnectionRegistry>,
    /// Key pins the listener checks.
    pub pins: Arc<ArcSwap<HashMap<String, String>>>,
    /// Callback clients (their CA).
    pub outbound: Arc<OutboundClients>,
}

fn failed(error: WriterError) -> FspiopError {
    FspiopError::new(
        fspiop::ErrorCode::SERVICE_UNAVAILABLE,
        format!("the ledger could not record the action: {error}"),
    )
}

impl Operations {
    /// Operations over a writer; `directory` and `keys` are refreshed after changes; `jws`
    /// says which uploaded keys are acceptable.
    pub fn new(
        writer: LedgerWriter,
        directory: Directory,
        keys: KeyRegistry,
        jws: JwsPolicy,
        transport: Transport,
    ) -> Operations {
        Operations {
            writer,
            directory,
            keys,
            jws,
            transport,
        }
    }

    /// Whether callbacks use mutual TLS (then endpoints must be `https://`).
    pub fn callbacks_secure(&self) -> bool {
        self.transport.outbound.is_secure()
    }

    /// Which uploaded JWS keys are acceptable.
    pub fn jws_policy(&self) -> &JwsPolicy {
        &self.jws
    }

    /// After a participant, its currencies or endpoints changed: refresh the directory and,
    /// when it was deactivated, close its open connections.
    pub fn participant_changed(&self, name: &str, deactivated: bool) {
        self.directory.invalidate(name);
        if deactivated {
            let closed = self.transport.connections.close_participant(name);
            if closed > 0 {
                tracing::info!(
                    participant = %crate::logsafe::Escaped(name),
                    closed,
                    "closed the connections of a deactivated participant"
                );
            }
        }
    }

    /// After a participant's JWS keys changed.
    pub fn keys_changed(&self, participant: &str) {
        self.keys.invalidate(participant);
    }

    /// After a participant's TLS settings changed: the listener's pins, the callback CA, and
    /// its open connections (closed, so the next one must present the pinned key).
    pub fn tls_changed(&self, stored: &ledger::ParticipantTls) {
        let name = stored.participant.to_ascii_lowercase();
        let mut pins = HashMap::clone(&self.transport.pins.load());
        match &stored.spki_pin {
            Some(pin) => pins.insert(name, pin.clone()),
            None => pins.remove(&name),
        };
        self.transport.pins.store(Arc::new(pins));
        self.transport
            .outbound
            .set_callback_ca(&stored.participant, stored.callback_ca_pem.clone());
        self.transport
            .connections
            .close_participant(&stored.participant);
    }

    /// A participant's TLS settings, if any were set.
    pub async fn participant_tls(
        &self,
        participant: &str,
    ) -> Result<Option<ledger::ParticipantTls>, FspiopError> {
        let name = participant.to_string();
        self.writer
            .read(move |_, tx| Box::pin(async move { tx.participant_tls(&name).await }))
            .await
            .map_err(failed)
    }

    /// Every JWS key of a participant, retired ones included, oldest first.
    pub async fn jws_keys(&self, participant: &str) -> Result<Vec<RegisteredKey>, FspiopError> {
        let name = participant.to_string();
        let records = self
            .writer
            .read(move |_, tx| Box::pin(async move { tx.jws_keys(&name).await }))
            .await
            .map_err(failed)?;
        Ok(crate::signatures::parse_keys(records))
    }

    /// The hub's clock, in milliseconds.
    pub fn now_ms(&self) -> i64 {
        self.writer.ledger().now_ms()
    }

    /// Records a refused operator attempt (bad credentials and the like).
    pub fn record_denied(&self, actor: &str, action: &str, detail: &str) {
        self.record(actor, action, "", detail, "denied");
    }

    /// Records a security event or an action outside the ledger (TLS reload, a refused
    /// connection) in the audit log, best effort (dropped with a warning if the writer's
    /// bookkeeping queue is full).
    pub fn record(&self, actor: &str, action: &str, subject: &str, detail: &str, outcome: &str) {
        let entry = AuditEntry {
            at_ms: self.writer.ledger().now_ms(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            detail: detail.into(),
            outcome: outcome.into(),
            ..Default::default()
        };
        self.writer
            .submit_detached(move |_, tx| Box::pin(async move { tx.append_audit(&entry).await }));
    }

    // Queries (read connections; never block the writer).

    /// All participants.
    pub async fn participants(&self) -> Result<Vec<(Participant, Vec<Account>)>, FspiopError> {
        self.writer
            .read(|_, tx| {
                Box::pin(async move {
                    let mut out = Vec::new();
                    for participant in tx.participants().await? {
                        let accounts = tx.accounts(&participant.name).await?;
                        out.push((participant, accounts));
                    }
                    Ok(out)
                })
            })
            .await
            .map_err(failed)
    }

    /// One participant with its accounts.
    pub async fn participant(
        &self,
        name: &str,
    ) -> Result<Option<(Participant, Vec<Account>)>, FspiopError> {
        let name = name.to_string();
        self.writer
            .read(move |_, tx| {
                Box::pin(async move {
                    let Some(participant) = tx.participant(&name).await? else {
                        return Ok(None);
                    };
                    let accounts = tx.accounts(&participant.name).await?;
                    Ok(Some((participant, accounts)))
                })
            })
            .await
            .map_err(failed)
    }

    /// Endpoints of a participant.
    pub async fn endpoints(&self, name: &str) -> Result<Vec<Endpoint>, FspiopError> {
        let name = name.to_string();
        self.writer
            .read(move |_, tx| Box::pin(async move { tx.endpoints(&name).await }))
            .await
            .map_err(failed)
    }

    /// Limits of a participant.
    pub async fn limits(&self, name: &str) -> Result<Vec<Limit>, FspiopError> {
        let name = name.to_string();
        self.writer
            .read(move |_, tx| Box::pin(async move { tx.limits(&name).await }))
            .await
            .map_err(failed)
    }

    /// Newest audit entries.
    pub async fn audit(&self, limit: u32) -> Result<Vec<AuditEntry>, FspiopError> {
        self.writer
            .read(move |_, tx| Box::pin(async move { tx.audit_entries(limit).await }))
            .await
            .map_err(failed)
    }

    /// Newest callback deliveries.
    pub async fn deliveries(&self, limit: u32) -> Result<Vec<Delivery>, FspiopError> {
        self.writer
            .read(move |_, tx| Box::pin(async move { tx.deliveries(limit).await }))
            .await
            .map_err(failed)
    }

    /// A transfer, for operators.
    pub async fn transfer(&self, id: &str) -> Result<Option<ledger::Transfer>, FspiopError> {
        let id = id.to_string();
        self.writer
            .read(move |_, tx| Box::pin(async move { tx.transfer(&id).await }))
            .await
            .map_err(failed)
    }
}
