//! An in-memory [`LedgerStore`]: the reference model the property tests compare the engine and
//! the real backends against.
//!
//! It follows the semantics of the SQL backends (`store` crate) row for row:
//!
//! - **Transactions work on a private snapshot.** [`LedgerStore::begin`] takes the committed
//!   state (an `Arc`, so beginning is cheap); the first write copies it, later writes go to the
//!   copy, [`LedgerTx::commit`] swaps the copy in under a [`std::sync::Mutex`], and dropping the
//!   transaction discards it. [`LedgerStore::read`] sees the state committed when it began and
//!   refuses writes, like the SQLite backend's read-only connections.
//! - **One writer.** The hub has a single writer task, so write transactions are not queued the
//!   way SQLite's `BEGIN IMMEDIATE` queues them. Instead, a write transaction that tries to commit
//!   after another write transaction committed since it began fails with
//!   [`StoreError::Backend`] (first committer wins): overlapping writers are a bug in the caller,
//!   and this makes it loud rather than silently losing the first writer's updates.
//! - **Keys and constraints match the SQL schema.** Participant names are unique ignoring ASCII
//!   case (SQLite's `NOCASE`) but looked up exactly; account ids count up from 1 (a rolled-back
//!   insert's id is handed out again, as SQLite's `INTEGER PRIMARY KEY` does); duplicate
//!   participants, accounts (participant, currency, type), transfers, quotes and funds transfers
//!   fail with [`StoreError::Duplicate`]; rows that reference a missing participant or account,
//!   and updates of rows that do not exist, fail with [`StoreError::Backend`] (foreign keys and
//!   "not found" in SQL). JWS keys are unique by (participant ignoring ASCII case, fingerprint),
//!   and that uniqueness is checked before the participant reference, as SQLite checks a unique
//!   index before an immediate foreign key; keys are looked up ignoring the participant's case.
//!   Participant TLS settings are one row per participant, keyed and looked up by exact name
//!   (an upsert replaces the whole row).
//! - **Operator IAM follows the same rules.** Operator names are unique ignoring ASCII case;
//!   rows that refer to an operator (password history, role assignments, sessions, API tokens,
//!   approval requests and votes) need its exact name, and reads and deletions keyed by an
//!   operator's name ignore ASCII case. The schema's CHECK constraints are checked too (PHC
//!   strings, hex SHA-256 hashes, base32 TOTP secrets, JSON columns, approval states, the maker
//!   never deciding unless withdrawing), before uniqueness and then references, in SQLite's
//!   order; a vote by a request's maker fails with [`StoreError::Backend`] (SQLite's trigger)
//!   before a second vote by the same voter is found a duplicate.
//! - **Hub settings** are one row per key (exact), replaced whole by
//!   [`LedgerTx::put_setting`]. The schema's CHECKs on them are checked too: keys of 1 to 64
//!   bytes of `[a-z0-9._-]`, values that are JSON (read with `serde_json`, as the SQLite
//!   backend also reads them before writing).
//! - **Decimals are stored normalized** (`1.50` reads back as `1.5`), as the SQLite backend
//!   stores canonical text.
//! - **Orderings are the SQL `ORDER BY`s**: participants by name (byte order), accounts by id,
//!   limits by currency, endpoints by type, open transfers by (expiration, id), parties by
//!   (sub-id, currency) (and the owner of a party is its oldest registration: each new
//!   registration key, or one handed to another FSP, gets the next number), audit entries and deliveries newest (last appended) first, JWS keys by
//!   (added time, registration order), evidence of a subject in append order, participant TLS
//!   settings by participant name (byte order), operators and custom roles by name and an
//!   operator's roles by role name (byte order), password history newest (last pushed) first,
//!   API tokens by (created time, insertion order), approval requests newest (created time, then
//!   insertion) first, approval votes in insertion order.
//! - **The audit log is a hash chain** ([`AuditEntry`]): `seq` counts up from 1 inside the
//!   writing transaction (a rolled-back append leaves no gap), each entry carries the previous
//!   entry's hash, and [`LedgerTx::audit_range`] pages through it oldest first.
//!
//! A write transaction copies the whole state once, so the model is meant for tests of modest
//! size, not for production.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use rust_decimal::Decimal;

use crate::model::*;
use crate::store::{LedgerStore, LedgerTx, StoreError, chain_audit_entry};

/// The committed state and a counter of write commits.
#[derive(Debug, Default)]
struct Shared {
    version: u64,
    state: Arc<State>,
}

/// Every table.
#[derive(Clone, Debug, Default)]
struct State {
    /// Keyed by exact name.
    participants: BTreeMap<String, Participant>,
    accounts: BTreeMap<i64, Account>,
    /// (participant, currency, type) → account id.
    account_keys: HashMap<(String, String, AccountType), i64>,
    /// The last account id handed out.
    last_account_id: i64,
    journal: Vec<JournalEntry>,
    /// (participant, currency).
    limits: BTreeMap<(String, String), Limit>,
    /// (participant, type).
    endpoints: BTreeMap<(String, String), Endpoint>,
    transfers: HashMap<String, Transfer>,
    quotes: HashMap<String, Quote>,
    /// (type, identifier, sub-id, currency).
    parties: BTreeMap<(String, String, String, String), PartyRegistration>,
    funds: HashMap<String, FundsTransfer>,
    audit: Vec<AuditEntry>,
    deliveries: Vec<Delivery>,
    /// In registration order.
    jws_keys: Vec<JwsKey>,
    /// Subject → rows in append order.
    evidence: BTreeMap<String, Vec<Evidence>>,
    /// Keyed by exact participant name.
    participant_tls: BTreeMap<String, ParticipantTls>,
    /// Keyed by exact operator name.
    operators: BTreeMap<String, Operator>,
    /// (operator, PHC string, time) in append order.
    password_history: Vec<(String, String, i64)>,
    /// Keyed by exact role name.
    custom_roles: BTreeMap<String, CustomRole>,
    /// (operator, role).
    operator_roles: BTreeSet<(String, String)>,
    /// Keyed by id hash.
    sessions: HashMap<String, SessionRecord>,
    /// In insertion order.
    api_tokens: Vec<ApiTokenRecord>,
    /// In insertion order.
    approvals: Vec<ApprovalRecord>,
    /// In insertion order.
    approval_votes: Vec<ApprovalVote>,
    /// Keyed by exact key.
    settings: BTreeMap<String, Setting>,
    /// Registration order of each `parties` key (the SQL `registered_seq`).
    party_registered: BTreeMap<(String, String, String, String), u64>,
    /// The last registration number handed out.
    last_party_seq: u64,
    /// (type, identifier, sub-id, requester, routed-to).
    party_lookups: BTreeMap<(String, String, String, String, String), PartyLookup>,
}

/// An in-memory ledger store (see the module docs for its semantics).
#[derive(Clone, Debug, Default)]
pub struct MemStore {
    shared: Arc<Mutex<Shared>>,
}

impl MemStore {
    /// An empty store.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Every committed journal entry, oldest first (the trait has no journal read; tests replay
    /// the journal to check balances).
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.lock().state.journal.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic while holding the lock cannot leave a half-written state: commit only swaps
        // one `Arc`.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open(&self, writable: bool) -> MemTx {
        let shared = self.lock();
        MemTx {
            shared: Arc::clone(&self.shared),
            base_version: shared.version,
            state: Arc::clone(&shared.state),
            writable,
            dirty: false,
        }
    }
}

#[async_trait]
impl LedgerStore for MemStore {
    async fn begin(&self) -> Result<Box<dyn LedgerTx>, StoreError> {
        Ok(Box::new(self.open(true)))
    }

    async fn read(&self) -> Result<Box<dyn LedgerTx>, StoreError> {
        Ok(Box::new(self.open(false)))
    }

    fn describe(&self) -> String {
        "memory".to_owned()
    }
}

/// A transaction of a [`MemStore`].
#[derive(Debug)]
pub struct MemTx {
    shared: Arc<Mutex<Shared>>,
    base_version: u64,
    /// Shared with the committed state until the first write copies it.
    state: Arc<State>,
    writable: bool,
    dirty: bool,
}

impl MemTx {
    /// The state for a write: refuses read-only transactions, copies on first write.
    fn write(&mut self) -> Result<&mut State, StoreError> {
        if !self.writable {
            return Err(StoreError::Backend(
                "memory: cannot write in a read-only transaction".to_owned(),
            ));
        }
        self.dirty = true;
        Ok(Arc::make_mut(&mut self.state))
    }
}

fn not_found(what: &str, key: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("memory: {what} {key} does not exist"))
}

fn missing_reference(what: &str, key: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!(
        "memory: foreign key violated: {what} {key} does not exist"
    ))
}

fn duplicate(what: &str, key: impl std::fmt::Display) -> StoreError {
    StoreError::Duplicate(format!("{what} {key}"))
}

fn norm(value: Decimal) -> Decimal {
    value.normalize()
}

impl State {
    fn require_participant(&self, name: &str) -> Result<(), StoreError> {
        if self.participants.contains_key(name) {
            Ok(())
        } else {
            Err(missing_reference("participant", name))
        }
    }

    fn require_account(&self, id: i64) -> Result<(), StoreError> {
        if self.accounts.contains_key(&id) {
            Ok(())
        } else {
            Err(missing_reference("account", id))
        }
    }

    fn require_operator(&self, name: &str) -> Result<(), StoreError> {
        if self.operators.contains_key(name) {
            Ok(())
        } else {
            Err(missing_reference("operator", name))
        }
    }
}

/// A broken CHECK constraint of the SQL schema.
fn check_failed(what: &str, rule: &str) -> StoreError {
    StoreError::Backend(format!("memory: check constraint failed: {what}: {rule}"))
}

/// SQL `text GLOB '$*$*'`: the PHC form `$<id>$…`.
fn is_phc(text: &str) -> bool {
    text.strip_prefix('$')
        .is_some_and(|rest| rest.contains('$'))
}

/// 64 lower-case hex digits (a SHA-256).
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// RFC 4648 base32 without padding, at least 128 bits.
fn is_totp_secret(text: &str) -> bool {
    text.len() >= 26 && text.bytes().all(|b| matches!(b, b'A'..=b'Z' | b'2'..=b'7'))
}

fn is_json(text: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(text).is_ok()
}

fn is_json_array(text: &str) -> bool {
    matches!(
        serde_json::from_str::<serde_json::Value>(text),
        Ok(serde_json::Value::Array(_))
    )
}

/// The rules the SQL schema puts on an operator row.
fn check_operator(operator: &Operator) -> Result<(), StoreError> {
    if !is_phc(&operator.password_phc) {
        return Err(check_failed("operator", "password_phc is a PHC string"));
    }
    if !operator
        .totp_secret_b32
        .as_deref()
        .is_none_or(is_totp_secret)
    {
        return Err(check_failed("operator", "totp_secret_b32 is base32"));
    }
    // The SQL backends store integers as i64.
    if operator
        .totp_last_step
        .is_some_and(|step| i64::try_from(step).is_err())
    {
        return Err(StoreError::Backend(format!(
            "memory: TOTP step {:?} of operator {} is out of range",
            operator.totp_last_step, operator.name
        )));
    }
    Ok(())
}

/// The rules the SQL schema puts on an approval request, given its (stored) maker.
fn check_approval(approval: &ApprovalRecord, maker: &str) -> Result<(), StoreError> {
    let rules = [
        (
            ApprovalRecord::STATES.contains(&approval.state.as_str()),
            "state is a known state",
        ),
        (is_json(&approval.payload_json), "payload_json is JSON"),
        (
            is_json_array(&approval.approvals_json),
            "approvals_json is a JSON array",
        ),
        (
            approval.result_json.as_deref().is_none_or(is_json),
            "result_json is JSON",
        ),
        (
            approval.expires_at_ms > approval.created_at_ms,
            "expires_at_ms > created_at_ms",
        ),
        (
            approval.decided_by.as_deref().is_none_or(|by| by != maker)
                || approval.state == ApprovalRecord::REJECTED,
            "decided_by is not the maker unless rejected",
        ),
        (
            (approval.state == ApprovalRecord::EXECUTED) == approval.executed_at_ms.is_some(),
            "executed_at_ms is set exactly when executed",
        ),
    ];
    match rules.into_iter().find(|(ok, _)| !ok) {
        Some((_, rule)) => Err(check_failed("approval", rule)),
        None => Ok(()),
    }
}

/// A setting key: 1 to 64 bytes of `[a-z0-9._-]`.
fn is_setting_key(key: &str) -> bool {
    (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// The rules the SQL schema puts on a setting.
fn check_setting(setting: &Setting) -> Result<(), StoreError> {
    if !is_setting_key(&setting.key) {
        return Err(check_failed(
            "setting",
            "key is 1 to 64 bytes of [a-z0-9._-]",
        ));
    }
    if !is_json(&setting.value_json) {
        return Err(check_failed("setting", "value_json is JSON"));
    }
    Ok(())
}

fn newest_first<T: Clone>(rows: &[T], limit: u32) -> Vec<T> {
    rows.iter()
        .rev()
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .cloned()
        .collect()
}

#[async_trait]
impl LedgerTx for MemTx {
    async fn participant(&mut self, name: &str) -> Result<Option<Participant>, StoreError> {
        Ok(self.state.participants.get(name).cloned())
    }

    async fn participants(&mut self) -> Result<Vec<Participant>, StoreError> {
        Ok(self.state.participants.values().cloned().collect())
    }

    async fn insert_participant(&mut self, participant: &Participant) -> Result<(), StoreError> {
        let state = self.write()?;
        if state
            .participants
            .keys()
            .any(|name| name.eq_ignore_ascii_case(&participant.name))
        {
            return Err(duplicate("participant", &participant.name));
        }
        state
            .participants
            .insert(participant.name.clone(), participant.clone());
        Ok(())
    }

    async fn set_participant_active(&mut self, name: &str, active: bool) -> Result<(), StoreError> {
        let state = self.write()?;
        let row = state
            .participants
            .get_mut(name)
            .ok_or_else(|| not_found("participant", name))?;
        row.is_active = active;
        Ok(())
    }

    async fn accounts(&mut self, participant: &str) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .state
            .accounts
            .values()
            .filter(|a| a.participant == participant)
            .cloned()
            .collect())
    }

    async fn account(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        Ok(self.state.accounts.get(&id).cloned())
    }

    async fn account_for(
        &mut self,
        participant: &str,
        currency: &str,
        kind: AccountType,
    ) -> Result<Option<Account>, StoreError> {
        let key = (participant.to_owned(), currency.to_owned(), kind);
        Ok(self
            .state
            .account_keys
            .get(&key)
            .and_then(|id| self.state.accounts.get(id))
            .cloned())
    }

    async fn insert_account(&mut self, account: &NewAccount) -> Result<Account, StoreError> {
        let state = self.write()?;
        state.require_participant(&account.participant)?;
        let key = (
            account.participant.clone(),
            account.currency.clone(),
            account.kind,
        );
        if state.account_keys.contains_key(&key) {
            return Err(duplicate(
                "account",
                format_args!(
                    "{} {} {}",
                    account.participant,
                    account.currency,
                    account.kind.as_str()
                ),
            ));
        }
        state.last_account_id += 1;
        let row = Account {
            id: state.last_account_id,
            participant: account.participant.clone(),
            currency: account.currency.clone(),
            kind: account.kind,
            is_active: true,
            value: Decimal::ZERO,
            reserved: Decimal::ZERO,
            changed_at_ms: account.at_ms,
        };
        state.account_keys.insert(key, row.id);
        state.accounts.insert(row.id, row.clone());
        Ok(row)
    }

    async fn update_account(&mut self, account: &Account) -> Result<(), StoreError> {
        let state = self.write()?;
        let row = state
            .accounts
            .get_mut(&account.id)
            .ok_or_else(|| not_found("account", account.id))?;
        row.value = norm(account.value);
        row.reserved = norm(account.reserved);
        row.is_active = account.is_active;
        row.changed_at_ms = account.changed_at_ms;
        Ok(())
    }

    async fn append_journal(&mut self, entry: &JournalEntry) -> Result<(), StoreError> {
        let state = self.write()?;
        state.require_account(entry.account_id)?;
        state.journal.push(JournalEntry {
            value_delta: norm(entry.value_delta),
            reserved_delta: norm(entry.reserved_delta),
            ..entry.clone()
        });
        Ok(())
    }

    async fn accounts_in_currency(&mut self, currency: &str) -> Result<Vec<Account>, StoreError> {
        Ok(self
            .state
            .accounts
            .values()
            .filter(|a| a.currency == currency)
            .cloned()
            .collect())
    }

    async fn limit(
        &mut self,
        participant: &str,
        currency: &str,
    ) -> Result<Option<Limit>, StoreError> {
        let key = (participant.to_owned(), currency.to_owned());
        Ok(self.state.limits.get(&key).cloned())
    }

    async fn limits(&mut self, participant: &str) -> Result<Vec<Limit>, StoreError> {
        Ok(self
            .state
            .limits
            .values()
            .filter(|l| l.participant == participant)
            .cloned()
            .collect())
    }

    async fn upsert_limit(&mut self, limit: &Limit) -> Result<(), StoreError> {
        let state = self.write()?;
        state.require_participant(&limit.participant)?;
        let key = (limit.participant.clone(), limit.currency.clone());
        state.limits.insert(
            key,
            Limit {
                value: norm(limit.value),
                alarm_percentage: norm(limit.alarm_percentage),
                ..limit.clone()
            },
        );
        Ok(())
    }

    async fn endpoints(&mut self, participant: &str) -> Result<Vec<Endpoint>, StoreError> {
        Ok(self
            .state
            .endpoints
            .values()
            .filter(|e| e.participant == participant)
            .cloned()
            .collect())
    }

    async fn upsert_endpoint(&mut self, endpoint: &Endpoint) -> Result<(), StoreError> {
        let state = self.write()?;
        state.require_participant(&endpoint.participant)?;
        let key = (endpoint.participant.clone(), endpoint.kind.clone());
        state.endpoints.insert(key, endpoint.clone());
        Ok(())
    }

    async fn transfer(&mut self, id: &str) -> Result<Option<Transfer>, StoreError> {
        Ok(self.state.transfers.get(id).cloned())
    }

    async fn insert_transfer(&mut self, transfer: &Transfer) -> Result<(), StoreError> {
        let state = self.write()?;
        if state.transfers.contains_key(&transfer.id) {
            return Err(duplicate("transfer", &transfer.id));
        }
        state.transfers.insert(
            transfer.id.clone(),
            Transfer {
                amount: norm(transfer.amount),
                ..transfer.clone()
            },
        );
        Ok(())
    }

    async fn update_transfer(&mut self, transfer: &Transfer) -> Result<(), StoreError> {
        let state = self.write()?;
        let row = state
            .transfers
            .get_mut(&transfer.id)
            .ok_or_else(|| not_found("transfer", &transfer.id))?;
        row.state = transfer.state;
        row.fulfil_hash.clone_from(&transfer.fulfil_hash);
        row.error_hash.clone_from(&transfer.error_hash);
        row.fulfilment.clone_from(&transfer.fulfilment);
        row.error_code.clone_from(&transfer.error_code);
        row.error_description
            .clone_from(&transfer.error_description);
        row.completed_at_ms = transfer.completed_at_ms;
        Ok(())
    }

    async fn open_transfers(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        let mut open: Vec<(String, i64)> = self
            .state
            .transfers
            .values()
            .filter(|t| !t.state.is_final())
            .map(|t| (t.id.clone(), t.expiration_ms))
            .collect();
        open.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        Ok(open)
    }

    async fn quote(&mut self, id: &str) -> Result<Option<Quote>, StoreError> {
        Ok(self.state.quotes.get(id).cloned())
    }

    async fn insert_quote(&mut self, quote: &Quote) -> Result<(), StoreError> {
        let state = self.write()?;
        if state.quotes.contains_key(&quote.id) {
            return Err(duplicate("quote", &quote.id));
        }
        state.quotes.insert(
            quote.id.clone(),
            Quote {
                amount: norm(quote.amount),
                transfer_amount: quote.transfer_amount.map(norm),
                ..quote.clone()
            },
        );
        Ok(())
    }

    async fn update_quote(&mut self, quote: &Quote) -> Result<(), StoreError> {
        let state = self.write()?;
        let row = state
            .quotes
            .get_mut(&quote.id)
            .ok_or_else(|| not_found("quote", &quote.id))?;
        row.response_hash.clone_from(&quote.response_hash);
        row.transfer_amount = quote.transfer_amount.map(norm);
        row.condition.clone_from(&quote.condition);
        row.ilp_packet.clone_from(&quote.ilp_packet);
        row.expiration_ms = quote.expiration_ms;
        Ok(())
    }

    async fn parties(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: Option<&str>,
    ) -> Result<Vec<PartyRegistration>, StoreError> {
        Ok(self
            .state
            .parties
            .values()
            .filter(|p| {
                p.id_type == id_type
                    && p.identifier == identifier
                    && sub_id.is_none_or(|s| p.sub_id == s)
            })
            .cloned()
            .collect())
    }

    async fn upsert_party(&mut self, party: &PartyRegistration) -> Result<(), StoreError> {
        let state = self.write()?;
        let key = (
            party.id_type.clone(),
            party.identifier.clone(),
            party.sub_id.clone(),
            party.currency.clone(),
        );
        let moved = state
            .parties
            .get(&key)
            .is_none_or(|old| old.fsp_id != party.fsp_id);
        if moved {
            state.last_party_seq += 1;
            let seq = state.last_party_seq;
            state.party_registered.insert(key.clone(), seq);
        }
        state.parties.insert(key, party.clone());
        Ok(())
    }

    async fn delete_party(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
        fsp_id: &str,
    ) -> Result<u64, StoreError> {
        let state = self.write()?;
        let before = state.parties.len();
        state.parties.retain(|_, p| {
            !(p.id_type == id_type
                && p.identifier == identifier
                && p.sub_id == sub_id
                && p.fsp_id == fsp_id)
        });
        let parties = &state.parties;
        state
            .party_registered
            .retain(|key, _| parties.contains_key(key));
        Ok((before - state.parties.len()) as u64)
    }

    async fn funds_transfer(&mut self, id: &str) -> Result<Option<FundsTransfer>, StoreError> {
        Ok(self.state.funds.get(id).cloned())
    }

    async fn insert_funds_transfer(&mut self, funds: &FundsTransfer) -> Result<(), StoreError> {
        let state = self.write()?;
        state.require_participant(&funds.participant)?;
        state.require_account(funds.account_id)?;
        if state.funds.contains_key(&funds.id) {
            return Err(duplicate("funds transfer", &funds.id));
        }
        state.funds.insert(
            funds.id.clone(),
            FundsTransfer {
                amount: norm(funds.amount),
                ..funds.clone()
            },
        );
        Ok(())
    }

    async fn set_funds_transfer_state(&mut self, id: &str, state: &str) -> Result<(), StoreError> {
        let tables = self.write()?;
        let row = tables
            .funds
            .get_mut(id)
            .ok_or_else(|| not_found("funds transfer", id))?;
        state.clone_into(&mut row.state);
        Ok(())
    }

    async fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        let state = self.write()?;
        let last = state.audit.last().map(|e| (e.seq, e.hash.as_str()));
        let chained = chain_audit_entry(entry, last)?;
        state.audit.push(chained);
        Ok(())
    }

    async fn audit_entries(&mut self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(newest_first(&self.state.audit, limit))
    }

    async fn audit_range(
        &mut self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        // Kept in seq order (appends only ever add last + 1).
        let audit = &self.state.audit;
        let start = audit.partition_point(|e| e.seq <= after_seq);
        Ok(audit[start..]
            .iter()
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn append_delivery(&mut self, delivery: &Delivery) -> Result<(), StoreError> {
        // The SQL backends store integers as i64.
        if i64::try_from(delivery.duration_ms).is_err() {
            return Err(StoreError::Backend(format!(
                "memory: delivery duration {} ms is out of range",
                delivery.duration_ms
            )));
        }
        self.write()?.deliveries.push(delivery.clone());
        Ok(())
    }

    async fn deliveries(&mut self, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        Ok(newest_first(&self.state.deliveries, limit))
    }

    async fn insert_jws_key(&mut self, key: &JwsKey) -> Result<(), StoreError> {
        let state = self.write()?;
        if state.jws_keys.iter().any(|k| {
            k.participant.eq_ignore_ascii_case(&key.participant) && k.fingerprint == key.fingerprint
        }) {
            return Err(duplicate(
                "jws key",
                format_args!("{} {}", key.participant, key.fingerprint),
            ));
        }
        state.require_participant(&key.participant)?;
        state.jws_keys.push(key.clone());
        Ok(())
    }

    async fn retire_jws_key(
        &mut self,
        participant: &str,
        fingerprint: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let state = self.write()?;
        let row = state.jws_keys.iter_mut().find(|k| {
            k.participant.eq_ignore_ascii_case(participant)
                && k.fingerprint == fingerprint
                && k.retired_at_ms.is_none()
        });
        Ok(match row {
            Some(row) => {
                row.retired_at_ms = Some(at_ms);
                true
            }
            None => false,
        })
    }

    async fn jws_keys(&mut self, participant: &str) -> Result<Vec<JwsKey>, StoreError> {
        let mut keys: Vec<JwsKey> = self
            .state
            .jws_keys
            .iter()
            .filter(|k| k.participant.eq_ignore_ascii_case(participant))
            .cloned()
            .collect();
        // Stable: registration order among equal times.
        keys.sort_by_key(|k| k.added_at_ms);
        Ok(keys)
    }

    async fn append_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError> {
        self.write()?
            .evidence
            .entry(evidence.subject.clone())
            .or_default()
            .push(evidence.clone());
        Ok(())
    }

    async fn evidence(&mut self, subject: &str) -> Result<Vec<Evidence>, StoreError> {
        Ok(self
            .state
            .evidence
            .get(subject)
            .cloned()
            .unwrap_or_default())
    }

    async fn participant_tls(
        &mut self,
        participant: &str,
    ) -> Result<Option<ParticipantTls>, StoreError> {
        Ok(self.state.participant_tls.get(participant).cloned())
    }

    async fn all_participant_tls(&mut self) -> Result<Vec<ParticipantTls>, StoreError> {
        Ok(self.state.participant_tls.values().cloned().collect())
    }

    async fn upsert_participant_tls(&mut self, tls: &ParticipantTls) -> Result<(), StoreError> {
        let state = self.write()?;
        state.require_participant(&tls.participant)?;
        state
            .participant_tls
            .insert(tls.participant.clone(), tls.clone());
        Ok(())
    }

    async fn insert_operator(&mut self, operator: &Operator) -> Result<(), StoreError> {
        let state = self.write()?;
        check_operator(operator)?;
        if state
            .operators
            .keys()
            .any(|name| name.eq_ignore_ascii_case(&operator.name))
        {
            return Err(duplicate("operator", &operator.name));
        }
        state
            .operators
            .insert(operator.name.clone(), operator.clone());
        Ok(())
    }

    async fn operator(&mut self, name: &str) -> Result<Option<Operator>, StoreError> {
        Ok(self
            .state
            .operators
            .values()
            .find(|o| o.name.eq_ignore_ascii_case(name))
            .cloned())
    }

    async fn operators(&mut self) -> Result<Vec<Operator>, StoreError> {
        Ok(self.state.operators.values().cloned().collect())
    }

    async fn update_operator(&mut self, operator: &Operator) -> Result<(), StoreError> {
        let state = self.write()?;
        check_operator(operator)?;
        let row = state
            .operators
            .get_mut(&operator.name)
            .ok_or_else(|| not_found("operator", &operator.name))?;
        *row = Operator {
            name: row.name.clone(),
            created_at_ms: row.created_at_ms,
            ..operator.clone()
        };
        Ok(())
    }

    async fn push_password_history(
        &mut self,
        operator: &str,
        phc: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let state = self.write()?;
        if !is_phc(phc) {
            return Err(check_failed("password history", "phc is a PHC string"));
        }
        state.require_operator(operator)?;
        state
            .password_history
            .push((operator.to_owned(), phc.to_owned(), at_ms));
        Ok(())
    }

    async fn password_history(
        &mut self,
        operator: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        Ok(self
            .state
            .password_history
            .iter()
            .rev()
            .filter(|(name, _, _)| name.eq_ignore_ascii_case(operator))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .map(|(_, phc, _)| phc.clone())
            .collect())
    }

    async fn upsert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let state = self.write()?;
        match state.custom_roles.get_mut(&role.name) {
            Some(row) => row.permissions.clone_from(&role.permissions),
            None => {
                state.custom_roles.insert(role.name.clone(), role.clone());
            }
        }
        Ok(())
    }

    async fn custom_roles(&mut self) -> Result<Vec<CustomRole>, StoreError> {
        Ok(self.state.custom_roles.values().cloned().collect())
    }

    async fn delete_custom_role(&mut self, name: &str) -> Result<bool, StoreError> {
        let state = self.write()?;
        if state.custom_roles.remove(name).is_none() {
            return Ok(false);
        }
        state.operator_roles.retain(|(_, role)| role != name);
        Ok(true)
    }

    async fn operator_roles(&mut self, operator: &str) -> Result<Vec<String>, StoreError> {
        let mut roles: Vec<String> = self
            .state
            .operator_roles
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case(operator))
            .map(|(_, role)| role.clone())
            .collect();
        roles.sort();
        Ok(roles)
    }

    async fn set_operator_roles(
        &mut self,
        operator: &str,
        roles: &[String],
    ) -> Result<(), StoreError> {
        let state = self.write()?;
        state.require_operator(operator)?;
        state.operator_roles.retain(|(name, _)| name != operator);
        for role in roles {
            state
                .operator_roles
                .insert((operator.to_owned(), role.clone()));
        }
        Ok(())
    }

    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        let state = self.write()?;
        if !is_sha256_hex(&session.id_hash) {
            return Err(check_failed(
                "session",
                "id_hash is 64 lower-case hex digits",
            ));
        }
        if session.idle_timeout_ms <= 0 || session.absolute_timeout_ms <= 0 {
            return Err(check_failed("session", "timeouts are positive"));
        }
        if state.sessions.contains_key(&session.id_hash) {
            return Err(duplicate("session", &session.id_hash));
        }
        state.require_operator(&session.operator)?;
        state
            .sessions
            .insert(session.id_hash.clone(), session.clone());
        Ok(())
    }

    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        Ok(self.state.sessions.get(id_hash).cloned())
    }

    async fn update_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        let state = self.write()?;
        let row = state
            .sessions
            .get_mut(&session.id_hash)
            .ok_or_else(|| not_found("session", &session.id_hash))?;
        row.last_seen_ms = session.last_seen_ms;
        row.mfa_at_ms = session.mfa_at_ms;
        Ok(())
    }

    async fn delete_session(&mut self, id_hash: &str) -> Result<bool, StoreError> {
        Ok(self.write()?.sessions.remove(id_hash).is_some())
    }

    async fn delete_operator_sessions(&mut self, operator: &str) -> Result<u64, StoreError> {
        let state = self.write()?;
        let before = state.sessions.len();
        state
            .sessions
            .retain(|_, s| !s.operator.eq_ignore_ascii_case(operator));
        Ok((before - state.sessions.len()) as u64)
    }

    async fn insert_api_token(&mut self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        let state = self.write()?;
        if !is_sha256_hex(&token.id_hash) {
            return Err(check_failed(
                "api token",
                "id_hash is 64 lower-case hex digits",
            ));
        }
        if token.expires_at_ms <= token.created_at_ms {
            return Err(check_failed("api token", "expires_at_ms > created_at_ms"));
        }
        if state.api_tokens.iter().any(|t| t.id_hash == token.id_hash) {
            return Err(duplicate("api token", &token.id_hash));
        }
        state.require_operator(&token.operator)?;
        state.api_tokens.push(token.clone());
        Ok(())
    }

    async fn api_token(&mut self, id_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        Ok(self
            .state
            .api_tokens
            .iter()
            .find(|t| t.id_hash == id_hash)
            .cloned())
    }

    async fn api_tokens(&mut self, operator: &str) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let mut tokens: Vec<ApiTokenRecord> = self
            .state
            .api_tokens
            .iter()
            .filter(|t| t.operator.eq_ignore_ascii_case(operator))
            .cloned()
            .collect();
        // Stable: insertion order among equal times.
        tokens.sort_by_key(|t| t.created_at_ms);
        Ok(tokens)
    }

    async fn revoke_api_token(&mut self, id_hash: &str, at_ms: i64) -> Result<bool, StoreError> {
        let state = self.write()?;
        let row = state
            .api_tokens
            .iter_mut()
            .find(|t| t.id_hash == id_hash && t.revoked_at_ms.is_none());
        Ok(match row {
            Some(row) => {
                row.revoked_at_ms = Some(at_ms);
                true
            }
            None => false,
        })
    }

    async fn insert_approval(&mut self, approval: &ApprovalRecord) -> Result<(), StoreError> {
        let state = self.write()?;
        check_approval(approval, &approval.maker)?;
        if state.approvals.iter().any(|a| a.id == approval.id) {
            return Err(duplicate("approval", &approval.id));
        }
        state.require_operator(&approval.maker)?;
        if let Some(by) = &approval.decided_by {
            state.require_operator(by)?;
        }
        state.approvals.push(approval.clone());
        Ok(())
    }

    async fn approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        Ok(self.state.approvals.iter().find(|a| a.id == id).cloned())
    }

    async fn approvals(
        &mut self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let mut rows: Vec<ApprovalRecord> = self
            .state
            .approvals
            .iter()
            .rev()
            .filter(|a| state.is_none_or(|s| a.state == s))
            .cloned()
            .collect();
        // Stable: the later inserted first among equal times.
        rows.sort_by_key(|a| std::cmp::Reverse(a.created_at_ms));
        rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(rows)
    }

    async fn update_approval(&mut self, approval: &ApprovalRecord) -> Result<(), StoreError> {
        let state = self.write()?;
        let index = state
            .approvals
            .iter()
            .position(|a| a.id == approval.id)
            .ok_or_else(|| not_found("approval", &approval.id))?;
        let stored = &state.approvals[index];
        let updated = ApprovalRecord {
            state: approval.state.clone(),
            approvals_json: approval.approvals_json.clone(),
            decided_by: approval.decided_by.clone(),
            reason: approval.reason.clone(),
            executed_at_ms: approval.executed_at_ms,
            result_json: approval.result_json.clone(),
            ..stored.clone()
        };
        check_approval(&updated, &stored.maker)?;
        if let Some(by) = &updated.decided_by {
            state.require_operator(by)?;
        }
        state.approvals[index] = updated;
        Ok(())
    }

    async fn add_approval_vote(
        &mut self,
        approval_id: &str,
        voter: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        let state = self.write()?;
        // In the SQL schema's order: the trigger, the primary key, then the foreign keys.
        if state
            .approvals
            .iter()
            .any(|a| a.id == approval_id && a.maker == voter)
        {
            return Err(StoreError::Backend(format!(
                "memory: approval vote by the maker of the request: {voter} on {approval_id}"
            )));
        }
        if state
            .approval_votes
            .iter()
            .any(|v| v.approval_id == approval_id && v.voter == voter)
        {
            return Err(duplicate(
                "approval vote",
                format_args!("{voter} on {approval_id}"),
            ));
        }
        if !state.approvals.iter().any(|a| a.id == approval_id) {
            return Err(missing_reference("approval", approval_id));
        }
        state.require_operator(voter)?;
        state.approval_votes.push(ApprovalVote {
            approval_id: approval_id.to_owned(),
            voter: voter.to_owned(),
            at_ms,
        });
        Ok(())
    }

    async fn approval_votes(&mut self, approval_id: &str) -> Result<Vec<ApprovalVote>, StoreError> {
        Ok(self
            .state
            .approval_votes
            .iter()
            .filter(|v| v.approval_id == approval_id)
            .cloned()
            .collect())
    }

    async fn setting(&mut self, key: &str) -> Result<Option<Setting>, StoreError> {
        Ok(self.state.settings.get(key).cloned())
    }

    async fn put_setting(&mut self, setting: &Setting) -> Result<(), StoreError> {
        let state = self.write()?;
        check_setting(setting)?;
        state.settings.insert(setting.key.clone(), setting.clone());
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        if !self.dirty {
            return Ok(());
        }
        let mut shared = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        if shared.version != self.base_version {
            return Err(StoreError::Backend(
                "memory: another write transaction committed while this one was open \
                 (the store supports a single writer)"
                    .to_owned(),
            ));
        }
        shared.state = self.state;
        shared.version += 1;
        Ok(())
    }

    async fn consume_totp_step(&mut self, operator: &str, step: u64) -> Result<bool, StoreError> {
        let state = self.write()?;
        if i64::try_from(step).is_err() {
            return Err(check_failed("operators", "totp_last_step fits in i64"));
        }
        let Some(row) = state.operators.get_mut(operator) else {
            return Ok(false);
        };
        if row.totp_last_step.is_some_and(|last| last >= step) {
            return Ok(false);
        }
        row.totp_last_step = Some(step);
        Ok(true)
    }

    async fn claim_login_attempt(
        &mut self,
        operator: &str,
        expected: u32,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let state = self.write()?;
        let Some(row) = state.operators.get_mut(operator) else {
            return Ok(false);
        };
        if row.failed_attempts != expected || expected == u32::MAX {
            return Ok(false);
        }
        row.failed_attempts = expected.saturating_add(1);
        row.last_failure_at_ms = Some(at_ms);
        Ok(true)
    }

    async fn party_owner(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> Result<Option<PartyRegistration>, StoreError> {
        let state = &self.state;
        Ok(state
            .parties
            .iter()
            .filter(|(_, p)| {
                p.id_type == id_type && p.identifier == identifier && p.sub_id == sub_id
            })
            .min_by_key(|(key, _)| state.party_registered.get(*key).copied().unwrap_or(0))
            .map(|(_, p)| p.clone()))
    }

    async fn put_party_lookup(&mut self, lookup: &PartyLookup) -> Result<(), StoreError> {
        let state = self.write()?;
        let key = (
            lookup.id_type.clone(),
            lookup.identifier.clone(),
            lookup.sub_id.clone(),
            lookup.requester.clone(),
            lookup.routed_to.clone(),
        );
        state.party_lookups.insert(key, lookup.clone());
        Ok(())
    }

    async fn party_lookup(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
        requester: &str,
        routed_to: &str,
    ) -> Result<Option<PartyLookup>, StoreError> {
        let key = (
            id_type.to_owned(),
            identifier.to_owned(),
            sub_id.to_owned(),
            requester.to_owned(),
            routed_to.to_owned(),
        );
        Ok(self.state.party_lookups.get(&key).cloned())
    }

    async fn purge_party_lookups(&mut self, now_ms: i64) -> Result<u64, StoreError> {
        if !self
            .state
            .party_lookups
            .values()
            .any(|l| l.expires_at_ms <= now_ms)
        {
            return Ok(0);
        }
        let state = self.write()?;
        let before = state.party_lookups.len();
        state.party_lookups.retain(|_, l| l.expires_at_ms > now_ms);
        Ok((before - state.party_lookups.len()) as u64)
    }

    async fn count_party_lookups(&mut self, requester: &str) -> Result<u64, StoreError> {
        Ok(self
            .state
            .party_lookups
            .values()
            .filter(|l| l.requester == requester)
            .count() as u64)
    }

    async fn audit_query(
        &mut self,
        filter: &crate::store::AuditFilter,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Ok(self
            .state
            .audit
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(usize::try_from(filter.limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn participant(name: &str) -> Participant {
        Participant {
            name: name.to_owned(),
            is_active: true,
            created_at_ms: 1,
        }
    }

    #[tokio::test]
    async fn overlapping_writers_fail_loudly() {
        let store = MemStore::new();
        let mut first = store.begin().await.unwrap();
        let mut second = store.begin().await.unwrap();
        first.insert_participant(&participant("a")).await.unwrap();
        second.insert_participant(&participant("b")).await.unwrap();
        first.commit().await.unwrap();
        let err = second.commit().await.unwrap_err();
        assert!(matches!(err, StoreError::Backend(_)), "{err:?}");
        let mut read = store.read().await.unwrap();
        let names: Vec<String> = read
            .participants()
            .await
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["a"]);
    }

    #[tokio::test]
    async fn read_only_commit_and_empty_write_do_not_conflict() {
        let store = MemStore::new();
        let idle = store.begin().await.unwrap();
        let mut writer = store.begin().await.unwrap();
        writer.insert_participant(&participant("a")).await.unwrap();
        writer.commit().await.unwrap();
        // A transaction that wrote nothing commits without effect.
        idle.commit().await.unwrap();
        let mut read = store.read().await.unwrap();
        assert!(read.participant("a").await.unwrap().is_some());
        assert!(read.insert_participant(&participant("b")).await.is_err());
        read.commit().await.unwrap();
    }

    #[tokio::test]
    async fn journal_is_exposed_after_commit_only() {
        let store = MemStore::new();
        let mut tx = store.begin().await.unwrap();
        tx.insert_participant(&participant("a")).await.unwrap();
        let account = tx
            .insert_account(&NewAccount {
                participant: "a".to_owned(),
                currency: "USD".to_owned(),
                kind: AccountType::Position,
                at_ms: 1,
            })
            .await
            .unwrap();
        let entry = JournalEntry {
            account_id: account.id,
            reference: "t1".to_owned(),
            reason: "PREPARE".to_owned(),
            value_delta: Decimal::ZERO,
            reserved_delta: Decimal::new(1500, 3),
            at_ms: 2,
        };
        tx.append_journal(&entry).await.unwrap();
        assert!(store.journal().is_empty());
        tx.commit().await.unwrap();
        let journal = store.journal();
        assert_eq!(journal, [entry]);
        assert_eq!(journal[0].reserved_delta.to_string(), "1.5");
    }
}
