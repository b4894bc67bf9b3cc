//! The storage contract: a unit of work the ledger runs its rules in.
//!
//! A backend implements [`LedgerStore`] (which opens transactions) and [`LedgerTx`] (the reads
//! and writes inside one). Writes become visible to later reads in the same transaction and
//! durable only at [`LedgerTx::commit`]; dropping a transaction without committing rolls it back.
//! The hub runs one writer that packs many commands into one transaction (group commit), so a
//! backend must be correct when the same row is read and written many times in one transaction.

use async_trait::async_trait;

use crate::model::*;

/// A storage failure. The ledger treats every one as fatal for the current transaction.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The backend failed (I/O, SQL, connection).
    #[error("storage backend failed: {0}")]
    Backend(String),
    /// A row violated a uniqueness rule.
    #[error("duplicate key: {0}")]
    Duplicate(String),
    /// A stored row could not be decoded (corruption or a bad migration).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

/// The audit entry a backend stores when `entry` is appended after `last` — the `(seq, hash)`
/// of the entry with the highest `seq`, `None` when the log is empty: `entry` with `seq`,
/// `prev_hash` and `hash` assigned (see [`AuditEntry`]). Fails with [`StoreError::Corrupt`]
/// when the stored last hash is not 64 lower-case hex digits or `seq` would overflow; a log
/// whose head is unreadable is not extended.
pub fn chain_audit_entry(
    entry: &AuditEntry,
    last: Option<(i64, &str)>,
) -> Result<AuditEntry, StoreError> {
    let (last_seq, prev_hash) = last.unwrap_or((0, AUDIT_GENESIS_HASH));
    let seq = last_seq
        .checked_add(1)
        .ok_or_else(|| StoreError::Corrupt(format!("audit: seq {last_seq} cannot be followed")))?;
    let mut chained = AuditEntry {
        seq,
        prev_hash: prev_hash.to_owned(),
        hash: String::new(),
        ..entry.clone()
    };
    chained.hash = chained.chain_hash(prev_hash).ok_or_else(|| {
        StoreError::Corrupt(format!(
            "audit: the hash of entry {last_seq} is not 64 lower-case hex digits: {prev_hash:?}"
        ))
    })?;
    Ok(chained)
}

/// Opens transactions.
#[async_trait]
pub trait LedgerStore: Send + Sync + 'static {
    /// A read-write transaction. The hub has a single writer, so backends may take an exclusive
    /// lock for its duration.
    async fn begin(&self) -> Result<Box<dyn LedgerTx>, StoreError>;

    /// A read-only view for queries (admin reads, GET /transfers); never used to write.
    async fn read(&self) -> Result<Box<dyn LedgerTx>, StoreError>;

    /// A short human-readable name of the backend, e.g. `sqlite:/data/hub.db`.
    fn describe(&self) -> String;
}

/// Reads and writes inside one transaction.
#[async_trait]
pub trait LedgerTx: Send {
    // Participants.
    /// One participant by exact name.
    async fn participant(&mut self, name: &str) -> Result<Option<Participant>, StoreError>;
    /// All participants, ordered by name.
    async fn participants(&mut self) -> Result<Vec<Participant>, StoreError>;
    /// Adds a participant (name unique, case-insensitively).
    async fn insert_participant(&mut self, participant: &Participant) -> Result<(), StoreError>;
    /// Sets `is_active`.
    async fn set_participant_active(&mut self, name: &str, active: bool) -> Result<(), StoreError>;

    // Accounts.
    /// All accounts of a participant, ordered by id.
    async fn accounts(&mut self, participant: &str) -> Result<Vec<Account>, StoreError>;
    /// One account by id.
    async fn account(&mut self, id: i64) -> Result<Option<Account>, StoreError>;
    /// The account of a participant for a currency and type.
    async fn account_for(
        &mut self,
        participant: &str,
        currency: &str,
        kind: AccountType,
    ) -> Result<Option<Account>, StoreError>;
    /// Creates an account with zero balances, returning it with its id.
    async fn insert_account(&mut self, account: &NewAccount) -> Result<Account, StoreError>;
    /// Writes `value`, `reserved`, `is_active` and `changed_at_ms` of an existing account.
    async fn update_account(&mut self, account: &Account) -> Result<(), StoreError>;
    /// Appends to the journal.
    async fn append_journal(&mut self, entry: &JournalEntry) -> Result<(), StoreError>;
    /// Every account of every participant in a currency (for reconciliation and invariants).
    async fn accounts_in_currency(&mut self, currency: &str) -> Result<Vec<Account>, StoreError>;

    // Limits and endpoints.
    /// The net debit cap of a participant in a currency.
    async fn limit(
        &mut self,
        participant: &str,
        currency: &str,
    ) -> Result<Option<Limit>, StoreError>;
    /// All limits of a participant.
    async fn limits(&mut self, participant: &str) -> Result<Vec<Limit>, StoreError>;
    /// Inserts or replaces a limit.
    async fn upsert_limit(&mut self, limit: &Limit) -> Result<(), StoreError>;
    /// All endpoints of a participant.
    async fn endpoints(&mut self, participant: &str) -> Result<Vec<Endpoint>, StoreError>;
    /// Inserts or replaces an endpoint of a given type.
    async fn upsert_endpoint(&mut self, endpoint: &Endpoint) -> Result<(), StoreError>;

    // Transfers.
    /// One transfer.
    async fn transfer(&mut self, id: &str) -> Result<Option<Transfer>, StoreError>;
    /// Adds a transfer (id unique).
    async fn insert_transfer(&mut self, transfer: &Transfer) -> Result<(), StoreError>;
    /// Rewrites the mutable fields of a transfer (state, hashes, fulfilment, error, completion).
    async fn update_transfer(&mut self, transfer: &Transfer) -> Result<(), StoreError>;
    /// Ids and expirations of every transfer that is not final (to rebuild expiry timers).
    async fn open_transfers(&mut self) -> Result<Vec<(String, i64)>, StoreError>;

    // Quotes.
    /// One quote.
    async fn quote(&mut self, id: &str) -> Result<Option<Quote>, StoreError>;
    /// Adds a quote.
    async fn insert_quote(&mut self, quote: &Quote) -> Result<(), StoreError>;
    /// Rewrites the answer fields of a quote.
    async fn update_quote(&mut self, quote: &Quote) -> Result<(), StoreError>;

    // Oracle.
    /// Registrations matching a party (any sub-id when `sub_id` is `None`).
    async fn parties(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: Option<&str>,
    ) -> Result<Vec<PartyRegistration>, StoreError>;
    /// Adds or replaces a registration (key: type, identifier, sub-id, currency).
    async fn upsert_party(&mut self, party: &PartyRegistration) -> Result<(), StoreError>;
    /// Removes registrations of an FSP for a party; returns how many were removed.
    async fn delete_party(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
        fsp_id: &str,
    ) -> Result<u64, StoreError>;

    // Funds in/out.
    /// One funds transfer.
    async fn funds_transfer(&mut self, id: &str) -> Result<Option<FundsTransfer>, StoreError>;
    /// Adds a funds transfer.
    async fn insert_funds_transfer(&mut self, funds: &FundsTransfer) -> Result<(), StoreError>;
    /// Sets the state of a funds transfer.
    async fn set_funds_transfer_state(&mut self, id: &str, state: &str) -> Result<(), StoreError>;

    // Records.
    /// Appends an audit entry as the next link of the hash chain (see [`AuditEntry`]): ignores
    /// the entry's `seq`, `prev_hash` and `hash` and stores it with `seq` = the last stored
    /// entry's `seq` + 1 (1 for the first), `prev_hash` = that entry's `hash`
    /// ([`AUDIT_GENESIS_HASH`] for the first) and `hash` computed over both
    /// ([`chain_audit_entry`] does exactly this). The last entry is read in this same
    /// transaction, so entries appended earlier in it count, and a rolled-back transaction
    /// leaves no gap.
    async fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The newest audit entries (highest `seq`), newest first, at most `limit`.
    async fn audit_entries(&mut self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Audit entries with `seq > after_seq`, oldest (lowest `seq`) first, at most `limit`: pages
    /// through the whole log for verification and export (start with `after_seq` 0, continue
    /// after the last `seq` returned).
    async fn audit_range(
        &mut self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Appends a callback delivery record.
    async fn append_delivery(&mut self, delivery: &Delivery) -> Result<(), StoreError>;
    /// The newest deliveries, newest first.
    async fn deliveries(&mut self, limit: u32) -> Result<Vec<Delivery>, StoreError>;

    // JWS keys and non-repudiation evidence.
    /// Registers a JWS verification key. The participant must exist (exact name, like every
    /// other reference to a participant); a key whose fingerprint is already registered for
    /// the same participant (name compared ignoring ASCII case) is [`StoreError::Duplicate`].
    async fn insert_jws_key(&mut self, key: &JwsKey) -> Result<(), StoreError>;
    /// Sets `retired_at_ms` of a key that is not retired yet. Returns `false` (and changes
    /// nothing) when the participant (name compared ignoring ASCII case) has no such key, or the
    /// key is already retired.
    async fn retire_jws_key(
        &mut self,
        participant: &str,
        fingerprint: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Every key of a participant (name compared ignoring ASCII case), retired ones included,
    /// oldest `added_at_ms` first (registration order among equal times).
    async fn jws_keys(&mut self, participant: &str) -> Result<Vec<JwsKey>, StoreError>;
    /// Appends a received message to the evidence log (append-only: rows are never changed).
    async fn append_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError>;
    /// Every evidence row of a subject (exact match), in the order they were appended.
    async fn evidence(&mut self, subject: &str) -> Result<Vec<Evidence>, StoreError>;

    // Participant TLS settings.
    /// The TLS settings of a participant (exact name), `None` when it has none stored.
    async fn participant_tls(
        &mut self,
        participant: &str,
    ) -> Result<Option<ParticipantTls>, StoreError>;
    /// The TLS settings of every participant that has some, ordered by participant name
    /// (byte order).
    async fn all_participant_tls(&mut self) -> Result<Vec<ParticipantTls>, StoreError>;
    /// Inserts or replaces (every field) the TLS settings of a participant. The participant must
    /// exist (exact name, like every other reference to a participant).
    async fn upsert_participant_tls(&mut self, tls: &ParticipantTls) -> Result<(), StoreError>;

    // Operator IAM (see the `iam` crate for the rules). Every row that refers to an operator
    // (password history, role assignments, sessions, API tokens, approval requests and votes)
    // must name an existing operator exactly as registered, like every other reference to a
    // participant; reads and deletions keyed by an operator's name ignore its ASCII case.
    /// Adds an operator. The name is unique ignoring ASCII case ([`StoreError::Duplicate`]).
    /// Refuses (with an error other than `Duplicate`) a `password_phc` not of the PHC form
    /// `$<id>$…`, a `totp_secret_b32` that is not at least 26 characters of `A-Z2-7`, and a
    /// `totp_last_step` above `i64::MAX`.
    async fn insert_operator(&mut self, operator: &Operator) -> Result<(), StoreError>;
    /// One operator, its name compared ignoring ASCII case (the login name in any case finds
    /// the one account; the row carries the name as registered).
    async fn operator(&mut self, name: &str) -> Result<Option<Operator>, StoreError>;
    /// Every operator, ordered by name (byte order).
    async fn operators(&mut self) -> Result<Vec<Operator>, StoreError>;
    /// Rewrites every field of an operator but `name` and `created_at_ms` (the operator is
    /// found by its exact name). Fails, with an error other than `Duplicate`, when there is no
    /// such operator, or when a field breaks a rule of [`LedgerTx::insert_operator`].
    async fn update_operator(&mut self, operator: &Operator) -> Result<(), StoreError>;
    /// Appends a password the operator (exact name) had, as its argon2id PHC string (refused
    /// when not of the PHC form), set at `at_ms`.
    async fn push_password_history(
        &mut self,
        operator: &str,
        phc: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The operator's last `limit` passwords as PHC strings, newest (last pushed) first; the
    /// operator's name compared ignoring ASCII case.
    async fn password_history(
        &mut self,
        operator: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError>;
    /// Defines a custom role, or redefines one of the same name (exact): a redefinition
    /// replaces the permissions and keeps the first `created_at_ms`.
    async fn upsert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError>;
    /// Every custom role, ordered by name (byte order).
    async fn custom_roles(&mut self) -> Result<Vec<CustomRole>, StoreError>;
    /// Deletes a custom role (exact name) and every assignment of it, so that a role defined
    /// later under the same name grants nothing by surprise. Returns whether the role existed
    /// (assignments of a name that is no custom role, such as a built-in role's, are kept).
    async fn delete_custom_role(&mut self, name: &str) -> Result<bool, StoreError>;
    /// The names of the roles (built-in or custom) assigned to an operator, ordered by name
    /// (byte order); the operator's name compared ignoring ASCII case.
    async fn operator_roles(&mut self, operator: &str) -> Result<Vec<String>, StoreError>;
    /// Replaces every role assignment of an operator (exact name, which must exist, even when
    /// `roles` is empty) with `roles`; a name given twice is assigned once. Role names are not
    /// checked against the custom roles (built-in roles have no row).
    async fn set_operator_roles(
        &mut self,
        operator: &str,
        roles: &[String],
    ) -> Result<(), StoreError>;
    /// Adds a session. `id_hash` is unique ([`StoreError::Duplicate`]) and must be 64
    /// lower-case hex digits; both timeouts must be positive.
    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;
    /// One session by the hash of its id (exact).
    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError>;
    /// Writes `last_seen_ms` and `mfa_at_ms` of an existing session (the other fields are
    /// fixed at login). Fails, with an error other than `Duplicate`, when there is no such
    /// session.
    async fn update_session(&mut self, session: &SessionRecord) -> Result<(), StoreError>;
    /// Deletes a session (logout). Returns whether it existed.
    async fn delete_session(&mut self, id_hash: &str) -> Result<bool, StoreError>;
    /// Deletes every session of an operator (its name compared ignoring ASCII case): at
    /// password change, role change, disabling. Returns how many there were.
    async fn delete_operator_sessions(&mut self, operator: &str) -> Result<u64, StoreError>;
    /// Adds an API token. `id_hash` is unique ([`StoreError::Duplicate`]) and must be 64
    /// lower-case hex digits; `expires_at_ms` must be after `created_at_ms`.
    async fn insert_api_token(&mut self, token: &ApiTokenRecord) -> Result<(), StoreError>;
    /// One API token by its hash (exact), revoked or not.
    async fn api_token(&mut self, id_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError>;
    /// Every API token of an operator (its name compared ignoring ASCII case), revoked ones
    /// included, oldest `created_at_ms` first (insertion order among equal times).
    async fn api_tokens(&mut self, operator: &str) -> Result<Vec<ApiTokenRecord>, StoreError>;
    /// Sets `revoked_at_ms` of a token that is not revoked yet. Returns `false` (and changes
    /// nothing) when there is no such token or it is already revoked.
    async fn revoke_api_token(&mut self, id_hash: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Adds an approval request (`id` unique: [`StoreError::Duplicate`]). Refused, with an
    /// error other than `Duplicate`: a `state` not in [`ApprovalRecord::STATES`],
    /// `payload_json`/`result_json` that are not JSON, `approvals_json` that is not a JSON
    /// array, `expires_at_ms` not after `created_at_ms`, `decided_by` equal to the maker
    /// unless the state is `rejected` (a maker may withdraw their request, never approve it),
    /// `executed_at_ms` set in any state but `executed` or missing in that one.
    async fn insert_approval(&mut self, approval: &ApprovalRecord) -> Result<(), StoreError>;
    /// One approval request by id (exact).
    async fn approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;
    /// Approval requests, all or those in one `state`, newest first (highest `created_at_ms`;
    /// the later inserted among equal times), at most `limit`.
    async fn approvals(
        &mut self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError>;
    /// Rewrites `state`, `approvals_json`, `decided_by`, `reason`, `executed_at_ms` and
    /// `result_json` of an existing request (the others are fixed when it is made), under the
    /// rules of [`LedgerTx::insert_approval`]. Fails, with an error other than `Duplicate`,
    /// when there is no such request.
    async fn update_approval(&mut self, approval: &ApprovalRecord) -> Result<(), StoreError>;
    /// Records that `voter` approved the request `approval_id` at `at_ms` — the store's own
    /// check of two maker/checker rules, next to `iam::approval`'s: a second vote by the same
    /// voter on the same request is [`StoreError::Duplicate`]; a vote by the request's maker
    /// is [`StoreError::Backend`] (a broken rule, like a foreign key, not a duplicate), as are
    /// votes on an unknown request or by an unknown operator (exact name). The store does not
    /// look at the request's state; the hub writes the vote in the same transaction as the
    /// updated request.
    async fn add_approval_vote(
        &mut self,
        approval_id: &str,
        voter: &str,
        at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The votes on a request, in the order they were added.
    async fn approval_votes(&mut self, approval_id: &str) -> Result<Vec<ApprovalVote>, StoreError>;

    // Hub settings (the operator IAM policy and other settings changed through the admin API).
    /// One setting by key (exact), `None` when it was never written.
    async fn setting(&mut self, key: &str) -> Result<Option<Setting>, StoreError>;
    /// Inserts a setting, or replaces every field of the one with the same key (exact).
    /// Refuses (with an error other than [`StoreError::Duplicate`]) a `value_json` that is not
    /// JSON (as `serde_json` reads it, so that whatever is stored parses), and a `key` that is
    /// empty, longer than 64 bytes, or has a character outside `a-z`, `0-9`, `.`, `_` and `-`.
    async fn put_setting(&mut self, setting: &Setting) -> Result<(), StoreError>;

    /// Makes every write of this transaction durable, atomically.
    async fn commit(self: Box<Self>) -> Result<(), StoreError>;

    // Atomic operator counters (compare-and-set in one statement, so that concurrent logins,
    // in this process or another one sharing the store, cannot both pass a check made on the
    // same earlier read).
    /// Consumes a TOTP time step of an operator (exact name): sets `totp_last_step` to `step`
    /// only when it is unset or lower than `step`. Returns whether it did — `false` when this
    /// step (or a later one) was already used, or there is no such operator. A `step` above
    /// `i64::MAX` is refused with an error other than `Duplicate`.
    async fn consume_totp_step(&mut self, operator: &str, step: u64) -> Result<bool, StoreError>;
    /// Counts a login attempt of an operator (exact name) before its password is checked:
    /// adds one to `failed_attempts` and sets `last_failure_at_ms` to `at_ms` only when
    /// `failed_attempts` still equals `expected`. Returns whether it did — `false` when
    /// another attempt was counted since `expected` was read (read again and decide again), or
    /// there is no such operator. Never goes past `u32::MAX`.
    async fn claim_login_attempt(
        &mut self,
        operator: &str,
        expected: u32,
        at_ms: i64,
    ) -> Result<bool, StoreError>;

    // Oracle ownership and routed lookups.
    /// The oldest registration of exactly this party (`sub_id` empty for none), in registration
    /// order: [`LedgerTx::upsert_party`] of a new key registers it after every existing one;
    /// an upsert that keeps the key's FSP keeps its place, one that changes the FSP moves it
    /// last. `None` when the party has no registration.
    async fn party_owner(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> Result<Option<PartyRegistration>, StoreError>;
    /// Inserts a routed lookup, or sets `expires_at_ms` of the one with the same (type,
    /// identifier, sub-id, requester, routed-to), all compared exactly.
    async fn put_party_lookup(&mut self, lookup: &PartyLookup) -> Result<(), StoreError>;
    /// One routed lookup by its key (exact), expired or not.
    async fn party_lookup(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
        requester: &str,
        routed_to: &str,
    ) -> Result<Option<PartyLookup>, StoreError>;
    /// Removes every routed lookup with `expires_at_ms <= now_ms`; returns how many.
    async fn purge_party_lookups(&mut self, now_ms: i64) -> Result<u64, StoreError>;
    /// How many routed lookups of `requester` (exact) are stored, expired or not.
    async fn count_party_lookups(&mut self, requester: &str) -> Result<u64, StoreError>;
    // Audit queries.
    /// The audit entries matching every condition of `filter`, newest (highest `seq`) first,
    /// at most `filter.limit`. Filters the whole log in the store (indexes, not a scan of the
    /// newest rows), so a match is found however many other entries follow it; page on with
    /// [`AuditFilter::before_seq`] = the last `seq` answered.
    async fn audit_query(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError>;
}

/// How [`AuditFilter::action`] compares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditAction {
    /// The action is exactly this.
    Exact(String),
    /// The action starts with this (byte for byte, case-sensitive; empty matches every one).
    Prefix(String),
}

/// Which audit entries [`LedgerTx::audit_query`] answers: every condition given must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// `actor`, exactly.
    pub actor: Option<String>,
    /// `action`, exactly or by prefix.
    pub action: Option<AuditAction>,
    /// `subject`, exactly.
    pub subject: Option<String>,
    /// `outcome`, exactly.
    pub outcome: Option<String>,
    /// `at_ms >= since_ms`.
    pub since_ms: Option<i64>,
    /// `at_ms < until_ms`.
    pub until_ms: Option<i64>,
    /// `seq < before_seq` (keyset pagination: the last `seq` of the previous page).
    pub before_seq: Option<i64>,
    /// Entries answered at most.
    pub limit: u32,
}

impl AuditFilter {
    /// Whether `entry` matches every condition (the reference semantics every backend
    /// follows; the limit is not looked at).
    pub fn matches(&self, entry: &AuditEntry) -> bool {
        self.actor.as_deref().is_none_or(|a| entry.actor == a)
            && self.subject.as_deref().is_none_or(|s| entry.subject == s)
            && self.outcome.as_deref().is_none_or(|o| entry.outcome == o)
            && self.action.as_ref().is_none_or(|a| match a {
                AuditAction::Exact(action) => entry.action == *action,
                AuditAction::Prefix(prefix) => entry.action.starts_with(prefix.as_str()),
            })
            && self.since_ms.is_none_or(|t| entry.at_ms >= t)
            && self.until_ms.is_none_or(|t| entry.at_ms < t)
            && self.before_seq.is_none_or(|s| entry.seq < s)
    }
}

/// The smallest string greater than every string that starts with `prefix` (in code point
/// order, which is UTF-8 byte order), `None` when there is none (`prefix` empty or all
/// `char::MAX`): lets a backend answer a prefix match as an index range
/// `prefix <= s < upper`.
pub fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (u32::from(last).saturating_add(1)..=u32::from(char::MAX))
            .find_map(char::from_u32)
            .filter(|&c| c != last);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}
