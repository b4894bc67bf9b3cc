//! The operations layer: the one door every operator action goes through.
//!
//! The admin API (and later the portal) calls these methods and nothing else to change the
//! hub. Each call names its [`Actor`]; the ledger writes the audit entry in the same
//! transaction as the change, so an action whose audit entry cannot be stored does not happen.
//! Authorisation, four-eyes approval and the tamper-evident audit chain (the IAM work) slot in
//! here without touching the API handlers or the ledger.

use fspiop::{Amount, FspiopError};
use ledger::engine::FundsAction;
use ledger::{
    Account, AccountType, AuditEntry, Delivery, Endpoint, FundsTransfer, Limit, Participant,
};
use rust_decimal::Decimal;

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::connections::ConnectionRegistry;
use crate::endpoints::Directory;
use crate::outbound::{OutboundClients, check_ca_bundle};
use crate::signatures::{JwsPolicy, KeyRegistry, RegisteredKey, check_upload};
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

macro_rules! write_op {
    ($self:ident, $actor:ident, |$ledger:ident, $tx:ident, $name:ident| $body:expr) => {{
        let $name = $actor.name.clone();
        $self
            .writer
            .run(move |$ledger, $tx| Box::pin(async move { $body.await }))
            .await
            .map_err(failed)?
    }};
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

    /// Sets how a participant's client certificate is recognised (an optional SubjectPublicKeyInfo
    /// SHA-256 pin on top of the name binding) and the CA its callback server is verified
    /// against. A new pin closes the participant's open connections, so the next one must
    /// present the pinned key.
    pub async fn set_participant_tls(
        &self,
        actor: &Actor,
        participant: &str,
        spki_pin: Option<String>,
        callback_ca_pem: Option<String>,
    ) -> Result<ledger::ParticipantTls, FspiopError> {
        if let Some(pem) = &callback_ca_pem {
            check_ca_bundle(pem).map_err(FspiopError::validation)?;
        }
        let settings = ledger::ParticipantTls {
            participant: participant.to_string(),
            spki_pin: spki_pin.map(|p| p.to_ascii_lowercase()),
            callback_ca_pem,
            updated_at_ms: 0,
        };
        let stored = write_op!(self, actor, |ledger, tx, who| ledger
            .set_participant_tls(tx, &who, settings))?;
        let name = participant.to_ascii_lowercase();
        let mut pins = HashMap::clone(&self.transport.pins.load());
        match &stored.spki_pin {
            Some(pin) => pins.insert(name, pin.clone()),
            None => pins.remove(&name),
        };
        self.transport.pins.store(Arc::new(pins));
        self.transport
            .outbound
            .set_callback_ca(participant, stored.callback_ca_pem.clone());
        self.transport.connections.close_participant(participant);
        Ok(stored)
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

    /// Registers a JWS verification key for a participant. The PEM is parsed and checked
    /// here (RSA 2048..=4096 bits or P-256, an algorithm the hub accepts); the fingerprint is
    /// the SHA-256 of the key's SubjectPublicKeyInfo.
    pub async fn add_jws_key(
        &self,
        actor: &Actor,
        participant: &str,
        public_key_pem: &str,
        not_before_ms: Option<i64>,
        not_after_ms: Option<i64>,
    ) -> Result<RegisteredKey, FspiopError> {
        let key = check_upload(public_key_pem, &self.jws)?;
        let record = ledger::JwsKey {
            participant: participant.to_string(),
            fingerprint: key.fingerprint().to_string(),
            alg: key.alg().as_str().to_string(),
            public_key_pem: key.to_pem(),
            not_before_ms,
            not_after_ms,
            added_at_ms: 0,
            retired_at_ms: None,
        };
        let result = write_op!(self, actor, |ledger, tx, who| ledger
            .add_jws_key(tx, &who, record));
        self.keys.invalidate(participant);
        let record = result?;
        Ok(RegisteredKey { record, key })
    }

    /// Retires a participant's JWS key: it no longer verifies new messages, and stays in the
    /// registry so that evidence signed with it can still be checked.
    pub async fn retire_jws_key(
        &self,
        actor: &Actor,
        participant: &str,
        fingerprint: &str,
    ) -> Result<(), FspiopError> {
        let (participant_owned, fingerprint) = (participant.to_string(), fingerprint.to_string());
        let result = write_op!(self, actor, |ledger, tx, who| ledger.retire_jws_key(
            tx,
            &who,
            &participant_owned,
            &fingerprint
        ));
        self.keys.invalidate(participant);
        result
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

    /// Creates a participant or adds a currency to it.
    pub async fn create_participant(
        &self,
        actor: &Actor,
        name: &str,
        currency: &str,
    ) -> Result<Participant, FspiopError> {
        let (n, c) = (name.to_string(), currency.to_string());
        let result = write_op!(self, actor, |ledger, tx, who| ledger
            .create_participant(tx, &who, &n, &c));
        self.directory.invalidate(name);
        result
    }

    /// Activates or deactivates a participant.
    pub async fn set_participant_active(
        &self,
        actor: &Actor,
        name: &str,
        active: bool,
    ) -> Result<Participant, FspiopError> {
        let n = name.to_string();
        let result = write_op!(self, actor, |ledger, tx, who| ledger
            .set_participant_active(tx, &who, &n, active));
        self.directory.invalidate(name);
        if result.is_ok() && !active {
            let closed = self.transport.connections.close_participant(name);
            if closed > 0 {
                tracing::info!(
                    participant = name,
                    closed,
                    "closed the connections of a deactivated participant"
                );
            }
        }
        result
    }

    /// Adds or replaces an endpoint. In secure mode callbacks are mutual TLS, so a plain
    /// `http://` URL is refused.
    pub async fn set_endpoint(&self, actor: &Actor, endpoint: Endpoint) -> Result<(), FspiopError> {
        if self.transport.outbound.is_secure() && !endpoint.value.starts_with("https://") {
            return Err(FspiopError::validation(format!(
                "{} must be an https:// URL: callbacks use mutual TLS",
                endpoint.kind
            )));
        }
        let participant = endpoint.participant.clone();
        let result = write_op!(self, actor, |ledger, tx, who| ledger
            .set_endpoint(tx, &who, endpoint));
        self.directory.invalidate(&participant);
        result
    }

    /// First net debit cap and initial position.
    pub async fn initial_position_and_limits(
        &self,
        actor: &Actor,
        name: &str,
        currency: &str,
        cap: Amount,
        initial_position: Decimal,
    ) -> Result<(), FspiopError> {
        let (n, c) = (name.to_string(), currency.to_string());
        write_op!(self, actor, |ledger, tx, who| ledger
            .initial_position_and_limits(
                tx,
                &who,
                &n,
                &c,
                cap,
                initial_position
            ))
    }

    /// Changes a net debit cap.
    pub async fn set_limit(
        &self,
        actor: &Actor,
        name: &str,
        currency: &str,
        cap: Amount,
        alarm: Decimal,
    ) -> Result<Limit, FspiopError> {
        let (n, c) = (name.to_string(), currency.to_string());
        write_op!(self, actor, |ledger, tx, who| ledger
            .set_limit(tx, &who, &n, &c, cap, alarm))
    }

    /// Creates a hub account.
    pub async fn create_hub_account(
        &self,
        actor: &Actor,
        currency: &str,
        kind: AccountType,
    ) -> Result<Account, FspiopError> {
        let c = currency.to_string();
        write_op!(self, actor, |ledger, tx, who| ledger
            .create_hub_account(tx, &who, &c, kind))
    }

    /// Activates or deactivates an account.
    pub async fn set_account_active(
        &self,
        actor: &Actor,
        name: &str,
        account: i64,
        active: bool,
    ) -> Result<Account, FspiopError> {
        let n = name.to_string();
        write_op!(self, actor, |ledger, tx, who| ledger
            .set_account_active(tx, &who, &n, account, active))
    }

    /// Funds in, or funds-out reservation.
    #[allow(clippy::too_many_arguments)]
    pub async fn funds(
        &self,
        actor: &Actor,
        name: &str,
        account: i64,
        id: &str,
        action: FundsAction,
        amount: Amount,
        currency: &str,
        reason: &str,
        external_reference: &str,
    ) -> Result<FundsTransfer, FspiopError> {
        let (n, i, c, r, e) = (
            name.to_string(),
            id.to_string(),
            currency.to_string(),
            reason.to_string(),
            external_reference.to_string(),
        );
        write_op!(self, actor, |ledger, tx, who| ledger
            .funds(tx, &who, &n, account, &i, action, amount, &c, &r, &e))
    }

    /// Commits or aborts a reserved funds-out.
    pub async fn settle_funds_out(
        &self,
        actor: &Actor,
        name: &str,
        account: i64,
        id: &str,
        commit: bool,
    ) -> Result<FundsTransfer, FspiopError> {
        let (n, i) = (name.to_string(), id.to_string());
        write_op!(self, actor, |ledger, tx, who| ledger
            .settle_funds_out(tx, &who, &n, account, &i, commit))
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
