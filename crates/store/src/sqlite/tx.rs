//! [`LedgerTx`] over one SQLite transaction.
//!
//! Every statement is a `&'static str`, so sqlx prepares it once per connection and reuses it
//! from its statement cache; rows are decoded by column index.

use async_trait::async_trait;
use ledger::{
    Account, AccountType, ApiTokenRecord, ApprovalRecord, ApprovalVote, AuditEntry, CustomRole,
    Delivery, Endpoint, Evidence, FundsTransfer, JournalEntry, JwsKey, LedgerTx, Limit, NewAccount,
    Operator, Participant, ParticipantTls, PartyLookup, PartyRegistration, Quote, SessionRecord,
    Setting, StoreError, Transfer,
};
use ledger::{AuditAction, AuditFilter};
use rust_decimal::Decimal;
use sqlx::sqlite::{SqliteQueryResult, SqliteRow};
use sqlx::{Sqlite, Transaction};

use super::codec::{Cols, decimal_text, map_err, string_list_text};

/// One open transaction (read-write from the writer pool, or read-only from the reader pool).
pub(crate) struct SqliteTx {
    tx: Transaction<'static, Sqlite>,
}

impl SqliteTx {
    pub(crate) fn new(tx: Transaction<'static, Sqlite>) -> Self {
        SqliteTx { tx }
    }

    /// The connection, for statements outside the [`LedgerTx`] methods (store maintenance).
    pub(crate) fn conn(&mut self) -> &mut sqlx::SqliteConnection {
        &mut self.tx
    }
}

/// An UPDATE that must hit exactly one row.
fn one_row(
    result: SqliteQueryResult,
    what: &str,
    key: impl std::fmt::Display,
) -> Result<(), StoreError> {
    match result.rows_affected() {
        1 => Ok(()),
        0 => Err(StoreError::Backend(format!(
            "sqlite: {what} {key} does not exist"
        ))),
        n => Err(StoreError::Corrupt(format!(
            "sqlite: {n} rows updated for {what} {key}"
        ))),
    }
}

fn i64_from(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("sqlite: {what} {value} is out of range")))
}

fn participant_row(row: &SqliteRow) -> Result<Participant, StoreError> {
    let c = Cols::new(row, "participants");
    Ok(Participant {
        name: c.text(0)?,
        is_active: c.flag(1)?,
        created_at_ms: c.int(2)?,
    })
}

fn account_row(row: &SqliteRow) -> Result<Account, StoreError> {
    let c = Cols::new(row, "accounts");
    Ok(Account {
        id: c.int(0)?,
        participant: c.text(1)?,
        currency: c.text(2)?,
        kind: c.account_type(3)?,
        is_active: c.flag(4)?,
        value: c.decimal(5)?,
        reserved: c.decimal(6)?,
        changed_at_ms: c.int(7)?,
    })
}

fn limit_row(row: &SqliteRow) -> Result<Limit, StoreError> {
    let c = Cols::new(row, "limits");
    Ok(Limit {
        participant: c.text(0)?,
        currency: c.text(1)?,
        value: c.decimal(2)?,
        alarm_percentage: c.decimal(3)?,
    })
}

fn endpoint_row(row: &SqliteRow) -> Result<Endpoint, StoreError> {
    let c = Cols::new(row, "endpoints");
    Ok(Endpoint {
        participant: c.text(0)?,
        kind: c.text(1)?,
        value: c.text(2)?,
    })
}

fn transfer_row(row: &SqliteRow) -> Result<Transfer, StoreError> {
    let c = Cols::new(row, "transfers");
    Ok(Transfer {
        id: c.text(0)?,
        payer: c.text(1)?,
        payee: c.text(2)?,
        amount: c.decimal(3)?,
        currency: c.text(4)?,
        condition: c.text(5)?,
        ilp_packet: c.text(6)?,
        expiration_ms: c.int(7)?,
        state: c.transfer_state(8)?,
        prepare_hash: c.text(9)?,
        fulfil_hash: c.opt_text(10)?,
        error_hash: c.opt_text(11)?,
        fulfilment: c.opt_text(12)?,
        error_code: c.opt_text(13)?,
        error_description: c.opt_text(14)?,
        created_at_ms: c.int(15)?,
        completed_at_ms: c.opt_int(16)?,
    })
}

fn quote_row(row: &SqliteRow) -> Result<Quote, StoreError> {
    let c = Cols::new(row, "quotes");
    Ok(Quote {
        id: c.text(0)?,
        transaction_id: c.text(1)?,
        payer: c.text(2)?,
        payee: c.text(3)?,
        amount: c.decimal(4)?,
        currency: c.text(5)?,
        request_hash: c.text(6)?,
        response_hash: c.opt_text(7)?,
        transfer_amount: c.opt_decimal(8)?,
        condition: c.opt_text(9)?,
        ilp_packet: c.opt_text(10)?,
        expiration_ms: c.opt_int(11)?,
        created_at_ms: c.int(12)?,
    })
}

fn party_row(row: &SqliteRow) -> Result<PartyRegistration, StoreError> {
    let c = Cols::new(row, "parties");
    Ok(PartyRegistration {
        id_type: c.text(0)?,
        identifier: c.text(1)?,
        sub_id: c.text(2)?,
        fsp_id: c.text(3)?,
        currency: c.text(4)?,
    })
}

fn funds_row(row: &SqliteRow) -> Result<FundsTransfer, StoreError> {
    let c = Cols::new(row, "funds_transfers");
    Ok(FundsTransfer {
        id: c.text(0)?,
        participant: c.text(1)?,
        account_id: c.int(2)?,
        action: c.text(3)?,
        amount: c.decimal(4)?,
        currency: c.text(5)?,
        state: c.text(6)?,
        reason: c.text(7)?,
        external_reference: c.text(8)?,
        created_at_ms: c.int(9)?,
    })
}

fn audit_row(row: &SqliteRow) -> Result<AuditEntry, StoreError> {
    let c = Cols::new(row, "audit");
    Ok(AuditEntry {
        seq: c.int(0)?,
        at_ms: c.int(1)?,
        actor: c.text(2)?,
        action: c.text(3)?,
        subject: c.text(4)?,
        detail: c.text(5)?,
        outcome: c.text(6)?,
        prev_hash: c.text(7)?,
        hash: c.text(8)?,
    })
}

fn delivery_row(row: &SqliteRow) -> Result<Delivery, StoreError> {
    let c = Cols::new(row, "deliveries");
    Ok(Delivery {
        at_ms: c.int(0)?,
        participant: c.text(1)?,
        method: c.text(2)?,
        url: c.text(3)?,
        fspiop_uri: c.text(4)?,
        attempt: c.int_as(5)?,
        status: c.opt_int_as(6)?,
        error: c.opt_text(7)?,
        duration_ms: c.int_as(8)?,
    })
}

fn jws_key_row(row: &SqliteRow) -> Result<JwsKey, StoreError> {
    let c = Cols::new(row, "jws_keys");
    Ok(JwsKey {
        participant: c.text(0)?,
        fingerprint: c.text(1)?,
        alg: c.text(2)?,
        public_key_pem: c.text(3)?,
        not_before_ms: c.opt_int(4)?,
        not_after_ms: c.opt_int(5)?,
        added_at_ms: c.int(6)?,
        retired_at_ms: c.opt_int(7)?,
    })
}

fn evidence_row(row: &SqliteRow) -> Result<Evidence, StoreError> {
    let c = Cols::new(row, "evidence");
    Ok(Evidence {
        subject: c.text(0)?,
        kind: c.text(1)?,
        participant: c.text(2)?,
        method: c.text(3)?,
        uri: c.text(4)?,
        destination: c.opt_text(5)?,
        date: c.opt_text(6)?,
        signature: c.opt_text(7)?,
        key_fingerprint: c.opt_text(8)?,
        body: c.blob(9)?,
        received_at_ms: c.int(10)?,
    })
}

fn participant_tls_row(row: &SqliteRow) -> Result<ParticipantTls, StoreError> {
    let c = Cols::new(row, "participant_tls");
    Ok(ParticipantTls {
        participant: c.text(0)?,
        spki_pin: c.opt_text(1)?,
        callback_ca_pem: c.opt_text(2)?,
        updated_at_ms: c.int(3)?,
    })
}

fn operator_row(row: &SqliteRow) -> Result<Operator, StoreError> {
    let c = Cols::new(row, "operators");
    Ok(Operator {
        name: c.text(0)?,
        password_phc: c.text(1)?,
        password_changed_at_ms: c.int(2)?,
        must_change_password: c.flag(3)?,
        failed_attempts: c.int_as(4)?,
        last_failure_at_ms: c.opt_int(5)?,
        totp_secret_b32: c.opt_text(6)?,
        totp_last_step: c.opt_int_as(7)?,
        recovery_code_hashes: c.string_list(8)?,
        disabled: c.flag(9)?,
        created_at_ms: c.int(10)?,
    })
}

fn custom_role_row(row: &SqliteRow) -> Result<CustomRole, StoreError> {
    let c = Cols::new(row, "custom_roles");
    Ok(CustomRole {
        name: c.text(0)?,
        permissions: c.string_list(1)?,
        created_at_ms: c.int(2)?,
    })
}

fn session_row(row: &SqliteRow) -> Result<SessionRecord, StoreError> {
    let c = Cols::new(row, "sessions");
    Ok(SessionRecord {
        id_hash: c.text(0)?,
        operator: c.text(1)?,
        created_at_ms: c.int(2)?,
        last_seen_ms: c.int(3)?,
        idle_timeout_ms: c.int(4)?,
        absolute_timeout_ms: c.int(5)?,
        mfa_at_ms: c.opt_int(6)?,
    })
}

fn api_token_row(row: &SqliteRow) -> Result<ApiTokenRecord, StoreError> {
    let c = Cols::new(row, "api_tokens");
    Ok(ApiTokenRecord {
        id_hash: c.text(0)?,
        operator: c.text(1)?,
        label: c.text(2)?,
        scopes: c.string_list(3)?,
        created_at_ms: c.int(4)?,
        expires_at_ms: c.int(5)?,
        revoked_at_ms: c.opt_int(6)?,
    })
}

fn approval_row(row: &SqliteRow) -> Result<ApprovalRecord, StoreError> {
    let c = Cols::new(row, "approvals");
    Ok(ApprovalRecord {
        id: c.text(0)?,
        permission: c.text(1)?,
        payload_json: c.text(2)?,
        maker: c.text(3)?,
        created_at_ms: c.int(4)?,
        expires_at_ms: c.int(5)?,
        required_approvals: c.int_as(6)?,
        state: c.text(7)?,
        approvals_json: c.text(8)?,
        decided_by: c.opt_text(9)?,
        reason: c.opt_text(10)?,
        executed_at_ms: c.opt_int(11)?,
        result_json: c.opt_text(12)?,
    })
}

fn approval_vote_row(row: &SqliteRow) -> Result<ApprovalVote, StoreError> {
    let c = Cols::new(row, "approval_votes");
    Ok(ApprovalVote {
        approval_id: c.text(0)?,
        voter: c.text(1)?,
        at_ms: c.int(2)?,
    })
}

fn setting_row(row: &SqliteRow) -> Result<Setting, StoreError> {
    let c = Cols::new(row, "settings");
    Ok(Setting {
        key: c.text(0)?,
        value_json: c.text(1)?,
        updated_at_ms: c.int(2)?,
        updated_by: c.text(3)?,
    })
}

/// A DELETE or UPDATE that hits at most one row (by primary key): whether it did.
fn at_most_one_row(
    result: SqliteQueryResult,
    what: &str,
    key: impl std::fmt::Display,
) -> Result<bool, StoreError> {
    match result.rows_affected() {
        0 => Ok(false),
        1 => Ok(true),
        n => Err(StoreError::Corrupt(format!(
            "sqlite: {n} rows changed for {what} {key}"
        ))),
    }
}

fn all<T>(
    rows: Vec<SqliteRow>,
    decode: fn(&SqliteRow) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

// Column lists, in the order the decoders above read them.
macro_rules! account_cols {
    () => {
        "id, participant, currency, kind, is_active, value, reserved, changed_at_ms"
    };
}
macro_rules! transfer_cols {
    () => {
        "id, payer, payee, amount, currency, condition, ilp_packet, expiration_ms, state, \
         prepare_hash, fulfil_hash, error_hash, fulfilment, error_code, error_description, \
         created_at_ms, completed_at_ms"
    };
}
macro_rules! quote_cols {
    () => {
        "id, transaction_id, payer, payee, amount, currency, request_hash, response_hash, \
         transfer_amount, condition, ilp_packet, expiration_ms, created_at_ms"
    };
}
macro_rules! audit_cols {
    () => {
        "seq, at_ms, actor, action, subject, detail, outcome, prev_hash, hash"
    };
}
macro_rules! funds_cols {
    () => {
        "id, participant, account_id, action, amount, currency, state, reason, \
         external_reference, created_at_ms"
    };
}
macro_rules! jws_key_cols {
    () => {
        "participant, fingerprint, alg, public_key_pem, not_before_ms, not_after_ms, \
         added_at_ms, retired_at_ms"
    };
}
macro_rules! evidence_cols {
    () => {
        "subject, kind, participant, method, uri, destination, date, signature, \
         key_fingerprint, body, received_at_ms"
    };
}
macro_rules! participant_tls_cols {
    () => {
        "participant, spki_pin, callback_ca_pem, updated_at_ms"
    };
}

macro_rules! operator_cols {
    () => {
        "name, password_phc, password_changed_at_ms, must_change_password, failed_attempts, \
         last_failure_at_ms, totp_secret_b32, totp_last_step, recovery_code_hashes, disabled, \
         created_at_ms"
    };
}
macro_rules! session_cols {
    () => {
        "id_hash, operator, created_at_ms, last_seen_ms, idle_timeout_ms, absolute_timeout_ms, \
         mfa_at_ms"
    };
}
macro_rules! api_token_cols {
    () => {
        "id_hash, operator, label, scopes, created_at_ms, expires_at_ms, revoked_at_ms"
    };
}
macro_rules! approval_cols {
    () => {
        "id, permission, payload_json, maker, created_at_ms, expires_at_ms, required_approvals, \
         state, approvals_json, decided_by, reason, executed_at_ms, result_json"
    };
}
macro_rules! setting_cols {
    () => {
        "key, value_json, updated_at_ms, updated_by"
    };
}

#[async_trait]
impl LedgerTx for SqliteTx {
    async fn participant(&mut self, name: &str) -> Result<Option<Participant>, StoreError> {
        let row =
            sqlx::query("SELECT name, is_active, created_at_ms FROM participants WHERE name = ?1")
                .bind(name)
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, || format!("read participant {name}")))?;
        row.as_ref().map(participant_row).transpose()
    }

    async fn participants(&mut self) -> Result<Vec<Participant>, StoreError> {
        let rows =
            sqlx::query("SELECT name, is_active, created_at_ms FROM participants ORDER BY name")
                .fetch_all(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, || "read participants".to_owned()))?;
        all(rows, participant_row)
    }

    async fn insert_participant(&mut self, participant: &Participant) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO participants (name, is_active, created_at_ms) VALUES (?1, ?2, ?3)",
        )
        .bind(&participant.name)
        .bind(participant.is_active)
        .bind(participant.created_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert participant {}", participant.name)))?;
        Ok(())
    }

    async fn set_participant_active(&mut self, name: &str, active: bool) -> Result<(), StoreError> {
        let result = sqlx::query("UPDATE participants SET is_active = ?2 WHERE name = ?1")
            .bind(name)
            .bind(active)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || format!("update participant {name}")))?;
        one_row(result, "participant", name)
    }

    async fn accounts(&mut self, participant: &str) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM accounts WHERE participant = ?1 ORDER BY id"
        ))
        .bind(participant)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read accounts of {participant}")))?;
        all(rows, account_row)
    }

    async fn account(&mut self, id: i64) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM accounts WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read account {id}")))?;
        row.as_ref().map(account_row).transpose()
    }

    async fn account_for(
        &mut self,
        participant: &str,
        currency: &str,
        kind: AccountType,
    ) -> Result<Option<Account>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM accounts WHERE participant = ?1 AND currency = ?2 AND kind = ?3"
        ))
        .bind(participant)
        .bind(currency)
        .bind(kind.as_str())
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "read {} account of {participant} in {currency}",
                    kind.as_str()
                )
            })
        })?;
        row.as_ref().map(account_row).transpose()
    }

    async fn insert_account(&mut self, account: &NewAccount) -> Result<Account, StoreError> {
        let result = sqlx::query(
            "INSERT INTO accounts \
             (participant, currency, kind, is_active, value, reserved, changed_at_ms) \
             VALUES (?1, ?2, ?3, 1, '0', '0', ?4)",
        )
        .bind(&account.participant)
        .bind(&account.currency)
        .bind(account.kind.as_str())
        .bind(account.at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "insert {} account of {} in {}",
                    account.kind.as_str(),
                    account.participant,
                    account.currency
                )
            })
        })?;
        Ok(Account {
            id: result.last_insert_rowid(),
            participant: account.participant.clone(),
            currency: account.currency.clone(),
            kind: account.kind,
            is_active: true,
            value: Decimal::ZERO,
            reserved: Decimal::ZERO,
            changed_at_ms: account.at_ms,
        })
    }

    async fn update_account(&mut self, account: &Account) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE accounts SET value = ?2, reserved = ?3, is_active = ?4, changed_at_ms = ?5 \
             WHERE id = ?1",
        )
        .bind(account.id)
        .bind(decimal_text(account.value))
        .bind(decimal_text(account.reserved))
        .bind(account.is_active)
        .bind(account.changed_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("update account {}", account.id)))?;
        one_row(result, "account", account.id)
    }

    async fn append_journal(&mut self, entry: &JournalEntry) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO journal \
             (account_id, reference, reason, value_delta, reserved_delta, at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(entry.account_id)
        .bind(&entry.reference)
        .bind(&entry.reason)
        .bind(decimal_text(entry.value_delta))
        .bind(decimal_text(entry.reserved_delta))
        .bind(entry.at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "append journal of account {} for {}",
                    entry.account_id, entry.reference
                )
            })
        })?;
        Ok(())
    }

    async fn accounts_in_currency(&mut self, currency: &str) -> Result<Vec<Account>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            account_cols!(),
            " FROM accounts WHERE currency = ?1 ORDER BY id"
        ))
        .bind(currency)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read accounts in {currency}")))?;
        all(rows, account_row)
    }

    async fn limit(
        &mut self,
        participant: &str,
        currency: &str,
    ) -> Result<Option<Limit>, StoreError> {
        let row = sqlx::query(
            "SELECT participant, currency, value, alarm_percentage FROM limits \
             WHERE participant = ?1 AND currency = ?2",
        )
        .bind(participant)
        .bind(currency)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read limit of {participant} in {currency}")))?;
        row.as_ref().map(limit_row).transpose()
    }

    async fn limits(&mut self, participant: &str) -> Result<Vec<Limit>, StoreError> {
        let rows = sqlx::query(
            "SELECT participant, currency, value, alarm_percentage FROM limits \
             WHERE participant = ?1 ORDER BY currency",
        )
        .bind(participant)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read limits of {participant}")))?;
        all(rows, limit_row)
    }

    async fn upsert_limit(&mut self, limit: &Limit) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO limits (participant, currency, value, alarm_percentage) \
             VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (participant, currency) DO UPDATE SET \
             value = excluded.value, alarm_percentage = excluded.alarm_percentage",
        )
        .bind(&limit.participant)
        .bind(&limit.currency)
        .bind(decimal_text(limit.value))
        .bind(decimal_text(limit.alarm_percentage))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("write limit of {} in {}", limit.participant, limit.currency)
            })
        })?;
        Ok(())
    }

    async fn endpoints(&mut self, participant: &str) -> Result<Vec<Endpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT participant, kind, value FROM endpoints WHERE participant = ?1 ORDER BY kind",
        )
        .bind(participant)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read endpoints of {participant}")))?;
        all(rows, endpoint_row)
    }

    async fn upsert_endpoint(&mut self, endpoint: &Endpoint) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO endpoints (participant, kind, value) VALUES (?1, ?2, ?3) \
             ON CONFLICT (participant, kind) DO UPDATE SET value = excluded.value",
        )
        .bind(&endpoint.participant)
        .bind(&endpoint.kind)
        .bind(&endpoint.value)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "write endpoint {} of {}",
                    endpoint.kind, endpoint.participant
                )
            })
        })?;
        Ok(())
    }

    async fn transfer(&mut self, id: &str) -> Result<Option<Transfer>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            transfer_cols!(),
            " FROM transfers WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read transfer {id}")))?;
        row.as_ref().map(transfer_row).transpose()
    }

    async fn insert_transfer(&mut self, transfer: &Transfer) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO transfers (",
            transfer_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
        ))
        .bind(&transfer.id)
        .bind(&transfer.payer)
        .bind(&transfer.payee)
        .bind(decimal_text(transfer.amount))
        .bind(&transfer.currency)
        .bind(&transfer.condition)
        .bind(&transfer.ilp_packet)
        .bind(transfer.expiration_ms)
        .bind(transfer.state.as_str())
        .bind(&transfer.prepare_hash)
        .bind(&transfer.fulfil_hash)
        .bind(&transfer.error_hash)
        .bind(&transfer.fulfilment)
        .bind(&transfer.error_code)
        .bind(&transfer.error_description)
        .bind(transfer.created_at_ms)
        .bind(transfer.completed_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert transfer {}", transfer.id)))?;
        Ok(())
    }

    async fn update_transfer(&mut self, transfer: &Transfer) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE transfers SET state = ?2, fulfil_hash = ?3, error_hash = ?4, \
             fulfilment = ?5, error_code = ?6, error_description = ?7, completed_at_ms = ?8 \
             WHERE id = ?1",
        )
        .bind(&transfer.id)
        .bind(transfer.state.as_str())
        .bind(&transfer.fulfil_hash)
        .bind(&transfer.error_hash)
        .bind(&transfer.fulfilment)
        .bind(&transfer.error_code)
        .bind(&transfer.error_description)
        .bind(transfer.completed_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("update transfer {}", transfer.id)))?;
        one_row(result, "transfer", &transfer.id)
    }

    async fn open_transfers(&mut self) -> Result<Vec<(String, i64)>, StoreError> {
        // `state = 'RESERVED'` is spelled out (not bound) so the partial index applies.
        let rows = sqlx::query(
            "SELECT id, expiration_ms FROM transfers WHERE state = 'RESERVED' \
             ORDER BY expiration_ms, id",
        )
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read open transfers".to_owned()))?;
        rows.iter()
            .map(|row| {
                let c = Cols::new(row, "transfers");
                Ok((c.text(0)?, c.int(1)?))
            })
            .collect()
    }

    async fn quote(&mut self, id: &str) -> Result<Option<Quote>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            quote_cols!(),
            " FROM quotes WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read quote {id}")))?;
        row.as_ref().map(quote_row).transpose()
    }

    async fn insert_quote(&mut self, quote: &Quote) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO quotes (",
            quote_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ))
        .bind(&quote.id)
        .bind(&quote.transaction_id)
        .bind(&quote.payer)
        .bind(&quote.payee)
        .bind(decimal_text(quote.amount))
        .bind(&quote.currency)
        .bind(&quote.request_hash)
        .bind(&quote.response_hash)
        .bind(quote.transfer_amount.map(decimal_text))
        .bind(&quote.condition)
        .bind(&quote.ilp_packet)
        .bind(quote.expiration_ms)
        .bind(quote.created_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert quote {}", quote.id)))?;
        Ok(())
    }

    async fn update_quote(&mut self, quote: &Quote) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE quotes SET response_hash = ?2, transfer_amount = ?3, condition = ?4, \
             ilp_packet = ?5, expiration_ms = ?6 WHERE id = ?1",
        )
        .bind(&quote.id)
        .bind(&quote.response_hash)
        .bind(quote.transfer_amount.map(decimal_text))
        .bind(&quote.condition)
        .bind(&quote.ilp_packet)
        .bind(quote.expiration_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("update quote {}", quote.id)))?;
        one_row(result, "quote", &quote.id)
    }

    async fn parties(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: Option<&str>,
    ) -> Result<Vec<PartyRegistration>, StoreError> {
        let context = || format!("read parties {id_type}/{identifier}");
        let rows = match sub_id {
            Some(sub_id) => sqlx::query(
                "SELECT id_type, identifier, sub_id, fsp_id, currency FROM parties \
                 WHERE id_type = ?1 AND identifier = ?2 AND sub_id = ?3 \
                 ORDER BY sub_id, currency",
            )
            .bind(id_type)
            .bind(identifier)
            .bind(sub_id)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, context))?,
            None => sqlx::query(
                "SELECT id_type, identifier, sub_id, fsp_id, currency FROM parties \
                 WHERE id_type = ?1 AND identifier = ?2 ORDER BY sub_id, currency",
            )
            .bind(id_type)
            .bind(identifier)
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, context))?,
        };
        all(rows, party_row)
    }

    async fn upsert_party(&mut self, party: &PartyRegistration) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO parties (id_type, identifier, sub_id, currency, fsp_id, registered_seq) \
             VALUES (?1, ?2, ?3, ?4, ?5, \
                     (SELECT COALESCE(MAX(registered_seq), 0) + 1 FROM parties)) \
             ON CONFLICT (id_type, identifier, sub_id, currency) DO UPDATE SET \
             registered_seq = CASE WHEN fsp_id = excluded.fsp_id THEN registered_seq \
                                   ELSE excluded.registered_seq END, \
             fsp_id = excluded.fsp_id",
        )
        .bind(&party.id_type)
        .bind(&party.identifier)
        .bind(&party.sub_id)
        .bind(&party.currency)
        .bind(&party.fsp_id)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("write party {}/{}", party.id_type, party.identifier)
            })
        })?;
        Ok(())
    }

    async fn delete_party(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
        fsp_id: &str,
    ) -> Result<u64, StoreError> {
        let result = sqlx::query(
            "DELETE FROM parties \
             WHERE id_type = ?1 AND identifier = ?2 AND sub_id = ?3 AND fsp_id = ?4",
        )
        .bind(id_type)
        .bind(identifier)
        .bind(sub_id)
        .bind(fsp_id)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("delete party {id_type}/{identifier}")))?;
        Ok(result.rows_affected())
    }

    async fn funds_transfer(&mut self, id: &str) -> Result<Option<FundsTransfer>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            funds_cols!(),
            " FROM funds_transfers WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read funds transfer {id}")))?;
        row.as_ref().map(funds_row).transpose()
    }

    async fn insert_funds_transfer(&mut self, funds: &FundsTransfer) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO funds_transfers (",
            funds_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))
        .bind(&funds.id)
        .bind(&funds.participant)
        .bind(funds.account_id)
        .bind(&funds.action)
        .bind(decimal_text(funds.amount))
        .bind(&funds.currency)
        .bind(&funds.state)
        .bind(&funds.reason)
        .bind(&funds.external_reference)
        .bind(funds.created_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert funds transfer {}", funds.id)))?;
        Ok(())
    }

    async fn set_funds_transfer_state(&mut self, id: &str, state: &str) -> Result<(), StoreError> {
        let result = sqlx::query("UPDATE funds_transfers SET state = ?2 WHERE id = ?1")
            .bind(id)
            .bind(state)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || format!("update funds transfer {id}")))?;
        one_row(result, "funds transfer", id)
    }

    async fn append_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        // The head is read in this transaction, which (on the writer) holds SQLite's write lock
        // since BEGIN IMMEDIATE: no other connection or process can append in between. Were one
        // to, the primary key on seq would refuse the second row rather than fork the chain.
        let last: Option<(i64, String)> =
            sqlx::query_as("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
                .fetch_optional(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, || "read the audit head".to_owned()))?;
        let row = ledger::store::chain_audit_entry(
            entry,
            last.as_ref().map(|(seq, hash)| (*seq, hash.as_str())),
        )?;
        sqlx::query(concat!(
            "INSERT INTO audit (",
            audit_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(row.seq)
        .bind(row.at_ms)
        .bind(&row.actor)
        .bind(&row.action)
        .bind(&row.subject)
        .bind(&row.detail)
        .bind(&row.outcome)
        .bind(&row.prev_hash)
        .bind(&row.hash)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("append audit {}", entry.action)))?;
        Ok(())
    }

    async fn audit_entries(&mut self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit ORDER BY seq DESC LIMIT ?1"
        ))
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read audit".to_owned()))?;
        all(rows, audit_row)
    }

    async fn audit_range(
        &mut self,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            audit_cols!(),
            " FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read audit after {after_seq}")))?;
        all(rows, audit_row)
    }

    async fn append_delivery(&mut self, delivery: &Delivery) -> Result<(), StoreError> {
        let duration_ms = i64_from(delivery.duration_ms, "delivery duration")?;
        sqlx::query(
            "INSERT INTO deliveries \
             (at_ms, participant, method, url, fspiop_uri, attempt, status, error, duration_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )
        .bind(delivery.at_ms)
        .bind(&delivery.participant)
        .bind(&delivery.method)
        .bind(&delivery.url)
        .bind(&delivery.fspiop_uri)
        .bind(i64::from(delivery.attempt))
        .bind(delivery.status.map(i64::from))
        .bind(&delivery.error)
        .bind(duration_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("append delivery to {}", delivery.participant)))?;
        Ok(())
    }

    async fn deliveries(&mut self, limit: u32) -> Result<Vec<Delivery>, StoreError> {
        let rows = sqlx::query(
            "SELECT at_ms, participant, method, url, fspiop_uri, attempt, status, error, \
             duration_ms FROM deliveries ORDER BY id DESC LIMIT ?1",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read deliveries".to_owned()))?;
        all(rows, delivery_row)
    }

    async fn insert_jws_key(&mut self, key: &JwsKey) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO jws_keys (",
            jws_key_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))
        .bind(&key.participant)
        .bind(&key.fingerprint)
        .bind(&key.alg)
        .bind(&key.public_key_pem)
        .bind(key.not_before_ms)
        .bind(key.not_after_ms)
        .bind(key.added_at_ms)
        .bind(key.retired_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("insert jws key {} of {}", key.fingerprint, key.participant)
            })
        })?;
        Ok(())
    }

    async fn retire_jws_key(
        &mut self,
        participant: &str,
        fingerprint: &str,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE jws_keys SET retired_at_ms = ?3 \
             WHERE participant = ?1 COLLATE NOCASE AND fingerprint = ?2 \
             AND retired_at_ms IS NULL",
        )
        .bind(participant)
        .bind(fingerprint)
        .bind(at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("retire jws key {fingerprint} of {participant}")
            })
        })?;
        match result.rows_affected() {
            0 => Ok(false),
            1 => Ok(true),
            n => Err(StoreError::Corrupt(format!(
                "sqlite: {n} rows updated for jws key {fingerprint} of {participant}"
            ))),
        }
    }

    async fn jws_keys(&mut self, participant: &str) -> Result<Vec<JwsKey>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            jws_key_cols!(),
            " FROM jws_keys WHERE participant = ?1 COLLATE NOCASE ORDER BY added_at_ms, id"
        ))
        .bind(participant)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read jws keys of {participant}")))?;
        all(rows, jws_key_row)
    }

    async fn append_evidence(&mut self, evidence: &Evidence) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO evidence (",
            evidence_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))
        .bind(&evidence.subject)
        .bind(&evidence.kind)
        .bind(&evidence.participant)
        .bind(&evidence.method)
        .bind(&evidence.uri)
        .bind(&evidence.destination)
        .bind(&evidence.date)
        .bind(&evidence.signature)
        .bind(&evidence.key_fingerprint)
        .bind(evidence.body.as_slice())
        .bind(evidence.received_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("append {} evidence of {}", evidence.kind, evidence.subject)
            })
        })?;
        Ok(())
    }

    async fn evidence(&mut self, subject: &str) -> Result<Vec<Evidence>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            evidence_cols!(),
            " FROM evidence WHERE subject = ?1 ORDER BY seq"
        ))
        .bind(subject)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read evidence of {subject}")))?;
        all(rows, evidence_row)
    }

    async fn participant_tls(
        &mut self,
        participant: &str,
    ) -> Result<Option<ParticipantTls>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            participant_tls_cols!(),
            " FROM participant_tls WHERE participant = ?1"
        ))
        .bind(participant)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read tls settings of {participant}")))?;
        row.as_ref().map(participant_tls_row).transpose()
    }

    async fn all_participant_tls(&mut self) -> Result<Vec<ParticipantTls>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            participant_tls_cols!(),
            " FROM participant_tls ORDER BY participant"
        ))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read tls settings".to_owned()))?;
        all(rows, participant_tls_row)
    }

    async fn upsert_participant_tls(&mut self, tls: &ParticipantTls) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO participant_tls (",
            participant_tls_cols!(),
            ") VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (participant) DO UPDATE SET \
             spki_pin = excluded.spki_pin, callback_ca_pem = excluded.callback_ca_pem, \
             updated_at_ms = excluded.updated_at_ms"
        ))
        .bind(&tls.participant)
        .bind(&tls.spki_pin)
        .bind(&tls.callback_ca_pem)
        .bind(tls.updated_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("write tls settings of {}", tls.participant)))?;
        Ok(())
    }

    async fn insert_operator(&mut self, operator: &Operator) -> Result<(), StoreError> {
        let totp_last_step = operator
            .totp_last_step
            .map(|step| i64_from(step, "TOTP step"))
            .transpose()?;
        let recovery = string_list_text(&operator.recovery_code_hashes, "recovery code hashes")?;
        sqlx::query(concat!(
            "INSERT INTO operators (",
            operator_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))
        .bind(&operator.name)
        .bind(&operator.password_phc)
        .bind(operator.password_changed_at_ms)
        .bind(operator.must_change_password)
        .bind(i64::from(operator.failed_attempts))
        .bind(operator.last_failure_at_ms)
        .bind(&operator.totp_secret_b32)
        .bind(totp_last_step)
        .bind(recovery)
        .bind(operator.disabled)
        .bind(operator.created_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert operator {}", operator.name)))?;
        Ok(())
    }

    async fn operator(&mut self, name: &str) -> Result<Option<Operator>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            operator_cols!(),
            " FROM operators WHERE name = ?1 COLLATE NOCASE"
        ))
        .bind(name)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read operator {name}")))?;
        row.as_ref().map(operator_row).transpose()
    }

    async fn operators(&mut self) -> Result<Vec<Operator>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            operator_cols!(),
            " FROM operators ORDER BY name"
        ))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read operators".to_owned()))?;
        all(rows, operator_row)
    }

    async fn update_operator(&mut self, operator: &Operator) -> Result<(), StoreError> {
        let totp_last_step = operator
            .totp_last_step
            .map(|step| i64_from(step, "TOTP step"))
            .transpose()?;
        let recovery = string_list_text(&operator.recovery_code_hashes, "recovery code hashes")?;
        let result = sqlx::query(
            "UPDATE operators SET password_phc = ?2, password_changed_at_ms = ?3, \
             must_change_password = ?4, failed_attempts = ?5, last_failure_at_ms = ?6, \
             totp_secret_b32 = ?7, totp_last_step = ?8, recovery_code_hashes = ?9, \
             disabled = ?10 WHERE name = ?1",
        )
        .bind(&operator.name)
        .bind(&operator.password_phc)
        .bind(operator.password_changed_at_ms)
        .bind(operator.must_change_password)
        .bind(i64::from(operator.failed_attempts))
        .bind(operator.last_failure_at_ms)
        .bind(&operator.totp_secret_b32)
        .bind(totp_last_step)
        .bind(recovery)
        .bind(operator.disabled)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("update operator {}", operator.name)))?;
        one_row(result, "operator", &operator.name)
    }

    async fn push_password_history(
        &mut self,
        operator: &str,
        phc: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO password_history (operator, phc, at_ms) VALUES (?1, ?2, ?3)")
            .bind(operator)
            .bind(phc)
            .bind(at_ms)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || format!("append password history of {operator}")))?;
        Ok(())
    }

    async fn password_history(
        &mut self,
        operator: &str,
        limit: u32,
    ) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT phc FROM password_history WHERE operator = ?1 COLLATE NOCASE \
             ORDER BY id DESC LIMIT ?2",
        )
        .bind(operator)
        .bind(i64::from(limit))
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read password history of {operator}")))?;
        rows.iter()
            .map(|row| Cols::new(row, "password_history").text(0))
            .collect()
    }

    async fn upsert_custom_role(&mut self, role: &CustomRole) -> Result<(), StoreError> {
        let permissions = string_list_text(&role.permissions, "permissions")?;
        sqlx::query(
            "INSERT INTO custom_roles (name, permissions, created_at_ms) VALUES (?1, ?2, ?3) \
             ON CONFLICT (name) DO UPDATE SET permissions = excluded.permissions",
        )
        .bind(&role.name)
        .bind(permissions)
        .bind(role.created_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("write custom role {}", role.name)))?;
        Ok(())
    }

    async fn custom_roles(&mut self) -> Result<Vec<CustomRole>, StoreError> {
        let rows =
            sqlx::query("SELECT name, permissions, created_at_ms FROM custom_roles ORDER BY name")
                .fetch_all(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, || "read custom roles".to_owned()))?;
        all(rows, custom_role_row)
    }

    async fn delete_custom_role(&mut self, name: &str) -> Result<bool, StoreError> {
        let context = || format!("delete custom role {name}");
        let result = sqlx::query("DELETE FROM custom_roles WHERE name = ?1")
            .bind(name)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, context))?;
        let existed = at_most_one_row(result, "custom role", name)?;
        if existed {
            sqlx::query("DELETE FROM operator_roles WHERE role = ?1")
                .bind(name)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, context))?;
        }
        Ok(existed)
    }

    async fn operator_roles(&mut self, operator: &str) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT role FROM operator_roles WHERE operator = ?1 COLLATE NOCASE ORDER BY role",
        )
        .bind(operator)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read roles of {operator}")))?;
        rows.iter()
            .map(|row| Cols::new(row, "operator_roles").text(0))
            .collect()
    }

    async fn set_operator_roles(
        &mut self,
        operator: &str,
        roles: &[String],
    ) -> Result<(), StoreError> {
        let context = || format!("set roles of {operator}");
        // Refused for an unknown operator even when `roles` is empty (no insert would trip the
        // foreign key then). The DELETE comes first so that a read view fails as a write.
        sqlx::query("DELETE FROM operator_roles WHERE operator = ?1")
            .bind(operator)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, context))?;
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM operators WHERE name = ?1)")
                .bind(operator)
                .fetch_one(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, context))?;
        if !exists {
            return Err(StoreError::Backend(format!(
                "sqlite: {}: foreign key violated: operator {operator} does not exist",
                context()
            )));
        }
        let mut unique: Vec<&String> = roles.iter().collect();
        unique.sort();
        unique.dedup();
        for role in unique {
            sqlx::query("INSERT INTO operator_roles (operator, role) VALUES (?1, ?2)")
                .bind(operator)
                .bind(role)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, context))?;
        }
        Ok(())
    }

    async fn insert_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ))
        .bind(&session.id_hash)
        .bind(&session.operator)
        .bind(session.created_at_ms)
        .bind(session.last_seen_ms)
        .bind(session.idle_timeout_ms)
        .bind(session.absolute_timeout_ms)
        .bind(session.mfa_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert session of {}", session.operator)))?;
        Ok(())
    }

    async fn session(&mut self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE id_hash = ?1"
        ))
        .bind(id_hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read session".to_owned()))?;
        row.as_ref().map(session_row).transpose()
    }

    async fn update_session(&mut self, session: &SessionRecord) -> Result<(), StoreError> {
        let result =
            sqlx::query("UPDATE sessions SET last_seen_ms = ?2, mfa_at_ms = ?3 WHERE id_hash = ?1")
                .bind(&session.id_hash)
                .bind(session.last_seen_ms)
                .bind(session.mfa_at_ms)
                .execute(&mut *self.tx)
                .await
                .map_err(|e| map_err(e, || format!("update session of {}", session.operator)))?;
        one_row(result, "session of", &session.operator)
    }

    async fn delete_session(&mut self, id_hash: &str) -> Result<bool, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE id_hash = ?1")
            .bind(id_hash)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || "delete session".to_owned()))?;
        at_most_one_row(result, "session", "")
    }

    async fn delete_operator_sessions(&mut self, operator: &str) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM sessions WHERE operator = ?1 COLLATE NOCASE")
            .bind(operator)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || format!("delete sessions of {operator}")))?;
        Ok(result.rows_affected())
    }

    async fn insert_api_token(&mut self, token: &ApiTokenRecord) -> Result<(), StoreError> {
        let scopes = string_list_text(&token.scopes, "scopes")?;
        sqlx::query(concat!(
            "INSERT INTO api_tokens (",
            api_token_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
        ))
        .bind(&token.id_hash)
        .bind(&token.operator)
        .bind(&token.label)
        .bind(scopes)
        .bind(token.created_at_ms)
        .bind(token.expires_at_ms)
        .bind(token.revoked_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!("insert api token {:?} of {}", token.label, token.operator)
            })
        })?;
        Ok(())
    }

    async fn api_token(&mut self, id_hash: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            api_token_cols!(),
            " FROM api_tokens WHERE id_hash = ?1"
        ))
        .bind(id_hash)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "read api token".to_owned()))?;
        row.as_ref().map(api_token_row).transpose()
    }

    async fn api_tokens(&mut self, operator: &str) -> Result<Vec<ApiTokenRecord>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            api_token_cols!(),
            " FROM api_tokens WHERE operator = ?1 COLLATE NOCASE ORDER BY created_at_ms, rowid"
        ))
        .bind(operator)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read api tokens of {operator}")))?;
        all(rows, api_token_row)
    }

    async fn revoke_api_token(&mut self, id_hash: &str, at_ms: i64) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE api_tokens SET revoked_at_ms = ?2 \
             WHERE id_hash = ?1 AND revoked_at_ms IS NULL",
        )
        .bind(id_hash)
        .bind(at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || "revoke api token".to_owned()))?;
        at_most_one_row(result, "api token", "")
    }

    async fn insert_approval(&mut self, approval: &ApprovalRecord) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO approvals (",
            approval_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
        ))
        .bind(&approval.id)
        .bind(&approval.permission)
        .bind(&approval.payload_json)
        .bind(&approval.maker)
        .bind(approval.created_at_ms)
        .bind(approval.expires_at_ms)
        .bind(i64::from(approval.required_approvals))
        .bind(&approval.state)
        .bind(&approval.approvals_json)
        .bind(&approval.decided_by)
        .bind(&approval.reason)
        .bind(approval.executed_at_ms)
        .bind(&approval.result_json)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("insert approval {}", approval.id)))?;
        Ok(())
    }

    async fn approval(&mut self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            approval_cols!(),
            " FROM approvals WHERE id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read approval {id}")))?;
        row.as_ref().map(approval_row).transpose()
    }

    async fn approvals(
        &mut self,
        state: Option<&str>,
        limit: u32,
    ) -> Result<Vec<ApprovalRecord>, StoreError> {
        let context = || format!("read approvals ({})", state.unwrap_or("any state"));
        let rows = match state {
            Some(state) => sqlx::query(concat!(
                "SELECT ",
                approval_cols!(),
                " FROM approvals WHERE state = ?1 \
                 ORDER BY created_at_ms DESC, rowid DESC LIMIT ?2"
            ))
            .bind(state)
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, context))?,
            None => sqlx::query(concat!(
                "SELECT ",
                approval_cols!(),
                " FROM approvals ORDER BY created_at_ms DESC, rowid DESC LIMIT ?1"
            ))
            .bind(i64::from(limit))
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, context))?,
        };
        all(rows, approval_row)
    }

    async fn update_approval(&mut self, approval: &ApprovalRecord) -> Result<(), StoreError> {
        let result = sqlx::query(
            "UPDATE approvals SET state = ?2, approvals_json = ?3, decided_by = ?4, reason = ?5, \
             executed_at_ms = ?6, result_json = ?7 WHERE id = ?1",
        )
        .bind(&approval.id)
        .bind(&approval.state)
        .bind(&approval.approvals_json)
        .bind(&approval.decided_by)
        .bind(&approval.reason)
        .bind(approval.executed_at_ms)
        .bind(&approval.result_json)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("update approval {}", approval.id)))?;
        one_row(result, "approval", &approval.id)
    }

    async fn add_approval_vote(
        &mut self,
        approval_id: &str,
        voter: &str,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO approval_votes (approval_id, voter, at_ms) VALUES (?1, ?2, ?3)")
            .bind(approval_id)
            .bind(voter)
            .bind(at_ms)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || format!("add the vote of {voter} on {approval_id}")))?;
        Ok(())
    }

    async fn approval_votes(&mut self, approval_id: &str) -> Result<Vec<ApprovalVote>, StoreError> {
        let rows = sqlx::query(
            "SELECT approval_id, voter, at_ms FROM approval_votes WHERE approval_id = ?1 \
             ORDER BY rowid",
        )
        .bind(approval_id)
        .fetch_all(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read votes on {approval_id}")))?;
        all(rows, approval_vote_row)
    }

    async fn setting(&mut self, key: &str) -> Result<Option<Setting>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            setting_cols!(),
            " FROM settings WHERE key = ?1"
        ))
        .bind(key)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read setting {key}")))?;
        row.as_ref().map(setting_row).transpose()
    }

    async fn put_setting(&mut self, setting: &Setting) -> Result<(), StoreError> {
        // The schema's json_valid accepts a little more than serde_json reads (e.g. `1e400`,
        // beyond f64, and lone surrogate escapes such as `"\ud800"`); refuse that too, as the
        // in-memory model does, so that every reader can parse what is stored. The key is left
        // to the CHECK.
        if let Err(e) = serde_json::from_str::<serde_json::Value>(&setting.value_json) {
            return Err(StoreError::Backend(format!(
                "sqlite: write setting {}: value_json is not JSON: {e}",
                setting.key
            )));
        }
        sqlx::query(concat!(
            "INSERT INTO settings (",
            setting_cols!(),
            ") VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, \
             updated_at_ms = excluded.updated_at_ms, updated_by = excluded.updated_by"
        ))
        .bind(&setting.key)
        .bind(&setting.value_json)
        .bind(setting.updated_at_ms)
        .bind(&setting.updated_by)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("write setting {}", setting.key)))?;
        Ok(())
    }

    async fn commit(self: Box<Self>) -> Result<(), StoreError> {
        self.tx
            .commit()
            .await
            .map_err(|e| map_err(e, || "commit".to_owned()))
    }

    async fn consume_totp_step(&mut self, operator: &str, step: u64) -> Result<bool, StoreError> {
        let step = i64_from(step, "TOTP step")?;
        let result = sqlx::query(
            "UPDATE operators SET totp_last_step = ?2 \
             WHERE name = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        )
        .bind(operator)
        .bind(step)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("consume a TOTP step of {operator}")))?;
        Ok(result.rows_affected() == 1)
    }

    async fn claim_login_attempt(
        &mut self,
        operator: &str,
        expected: u32,
        at_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = sqlx::query(
            "UPDATE operators SET failed_attempts = failed_attempts + 1, \
             last_failure_at_ms = ?3 \
             WHERE name = ?1 AND failed_attempts = ?2 AND failed_attempts < ?4",
        )
        .bind(operator)
        .bind(i64::from(expected))
        .bind(at_ms)
        .bind(i64::from(u32::MAX))
        .execute(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("count a login attempt of {operator}")))?;
        Ok(result.rows_affected() == 1)
    }

    async fn party_owner(
        &mut self,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> Result<Option<PartyRegistration>, StoreError> {
        let row = sqlx::query(
            "SELECT id_type, identifier, sub_id, fsp_id, currency FROM parties \
             WHERE id_type = ?1 AND identifier = ?2 AND sub_id = ?3 \
             ORDER BY registered_seq, rowid LIMIT 1",
        )
        .bind(id_type)
        .bind(identifier)
        .bind(sub_id)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read party owner {id_type}/{identifier}")))?;
        row.as_ref().map(party_row).transpose()
    }

    async fn put_party_lookup(&mut self, lookup: &PartyLookup) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO party_lookups \
             (id_type, identifier, sub_id, requester, routed_to, expires_at_ms) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (id_type, identifier, sub_id, requester, routed_to) DO UPDATE SET \
             expires_at_ms = excluded.expires_at_ms",
        )
        .bind(&lookup.id_type)
        .bind(&lookup.identifier)
        .bind(&lookup.sub_id)
        .bind(&lookup.requester)
        .bind(&lookup.routed_to)
        .bind(lookup.expires_at_ms)
        .execute(&mut *self.tx)
        .await
        .map_err(|e| {
            map_err(e, || {
                format!(
                    "write party lookup {}/{}",
                    lookup.id_type, lookup.identifier
                )
            })
        })?;
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
        let row = sqlx::query(
            "SELECT id_type, identifier, sub_id, requester, routed_to, expires_at_ms \
             FROM party_lookups WHERE id_type = ?1 AND identifier = ?2 AND sub_id = ?3 \
             AND requester = ?4 AND routed_to = ?5",
        )
        .bind(id_type)
        .bind(identifier)
        .bind(sub_id)
        .bind(requester)
        .bind(routed_to)
        .fetch_optional(&mut *self.tx)
        .await
        .map_err(|e| map_err(e, || format!("read party lookup {id_type}/{identifier}")))?;
        row.as_ref()
            .map(|row| {
                let c = Cols::new(row, "party_lookups");
                Ok(PartyLookup {
                    id_type: c.text(0)?,
                    identifier: c.text(1)?,
                    sub_id: c.text(2)?,
                    requester: c.text(3)?,
                    routed_to: c.text(4)?,
                    expires_at_ms: c.int(5)?,
                })
            })
            .transpose()
    }

    async fn purge_party_lookups(&mut self, now_ms: i64) -> Result<u64, StoreError> {
        let result = sqlx::query("DELETE FROM party_lookups WHERE expires_at_ms <= ?1")
            .bind(now_ms)
            .execute(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || "purge party lookups".to_owned()))?;
        Ok(result.rows_affected())
    }

    async fn count_party_lookups(&mut self, requester: &str) -> Result<u64, StoreError> {
        let row = sqlx::query("SELECT COUNT(*) FROM party_lookups WHERE requester = ?1")
            .bind(requester)
            .fetch_one(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || format!("count party lookups of {requester}")))?;
        let count = Cols::new(&row, "party_lookups").int(0)?;
        u64::try_from(count)
            .map_err(|_| StoreError::Corrupt(format!("negative party lookup count {count}")))
    }

    async fn audit_query(&mut self, filter: &AuditFilter) -> Result<Vec<AuditEntry>, StoreError> {
        // Only the conditions given are in the statement (an `?n IS NULL OR …` form would keep
        // SQLite from using the indexes of migration 9). Every fragment is a constant; every
        // value is bound.
        enum Bind<'a> {
            Text(&'a str),
            Owned(String),
            Int(i64),
        }
        let mut sql = String::from(concat!("SELECT ", audit_cols!(), " FROM audit WHERE 1"));
        let mut binds: Vec<Bind<'_>> = Vec::new();
        if let Some(actor) = &filter.actor {
            sql.push_str(" AND actor = ?");
            binds.push(Bind::Text(actor));
        }
        match &filter.action {
            None => {}
            Some(AuditAction::Exact(action)) => {
                sql.push_str(" AND action = ?");
                binds.push(Bind::Text(action));
            }
            // A range on the index: prefix <= action < the next string after the prefix.
            Some(AuditAction::Prefix(prefix)) if !prefix.is_empty() => {
                sql.push_str(" AND action >= ?");
                binds.push(Bind::Text(prefix));
                if let Some(upper) = ledger::store::prefix_upper_bound(prefix) {
                    sql.push_str(" AND action < ?");
                    binds.push(Bind::Owned(upper));
                }
            }
            Some(AuditAction::Prefix(_)) => {}
        }
        if let Some(subject) = &filter.subject {
            sql.push_str(" AND subject = ?");
            binds.push(Bind::Text(subject));
        }
        if let Some(outcome) = &filter.outcome {
            sql.push_str(" AND outcome = ?");
            binds.push(Bind::Text(outcome));
        }
        if let Some(since) = filter.since_ms {
            sql.push_str(" AND at_ms >= ?");
            binds.push(Bind::Int(since));
        }
        if let Some(until) = filter.until_ms {
            sql.push_str(" AND at_ms < ?");
            binds.push(Bind::Int(until));
        }
        if let Some(before) = filter.before_seq {
            sql.push_str(" AND seq < ?");
            binds.push(Bind::Int(before));
        }
        sql.push_str(" ORDER BY seq DESC LIMIT ?");
        binds.push(Bind::Int(i64::from(filter.limit)));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for bind in binds {
            query = match bind {
                Bind::Text(text) => query.bind(text),
                Bind::Owned(text) => query.bind(text),
                Bind::Int(value) => query.bind(value),
            };
        }
        let rows = query
            .fetch_all(&mut *self.tx)
            .await
            .map_err(|e| map_err(e, || "query audit".to_owned()))?;
        all(rows, audit_row)
    }
}
