//! The storage contract as executable checks, shared by every backend.
//!
//! Each function takes a **fresh, empty** store, exercises part of the [`LedgerStore`] /
//! [`LedgerTx`] contract and panics on the first violation. Run them all for a backend with
//! [`contract_tests!`](crate::contract_tests), which makes one `#[tokio::test]` per function.
//!
//! What the suite pins down beyond the trait docs (every backend must agree, so that the
//! in-memory model predicts the SQL backends):
//! - participant names are unique ignoring ASCII case but looked up exactly;
//! - amounts read back normalized (`1.50` → `1.5`);
//! - orderings: participants by name (byte order), accounts by id, limits by currency, endpoints
//!   by type, open transfers by (expiration, id), parties by (sub-id, currency), audit entries and
//!   deliveries newest (last appended) first, JWS keys by (added time, registration order),
//!   evidence of a subject in append order;
//! - the audit log is a hash chain: the store assigns `seq` 1, 2, 3, … (no gap, also after a
//!   rollback), `prev_hash` and `hash` exactly as `ledger::AuditEntry` documents, whatever the
//!   appended entry carried in those fields; `audit_range` pages through it oldest first;
//! - JWS keys are unique by (participant ignoring ASCII case, fingerprint) — retired keys
//!   included — and looked up and retired ignoring the participant's case; fingerprints are
//!   compared exactly; evidence bodies are kept byte for byte (empty and non-UTF-8 included);
//! - participant TLS settings are one row per participant, looked up by exact name, replaced
//!   whole by an upsert, and listed by participant name (byte order);
//! - operator IAM: operator names are unique ignoring ASCII case; rows referring to an operator
//!   need its exact name, reads and deletions keyed by it ignore ASCII case; secrets are stored
//!   only as PHC strings, hex SHA-256 and base32 (other forms are refused); password history
//!   newest (last pushed) first; role assignments replaced whole and listed by name, deleted
//!   with their custom role; API tokens oldest created first; approval requests newest created
//!   first; a second vote by the same checker is a duplicate, a vote by the maker a
//!   [`StoreError::Backend`]; the maker decides a request only to withdraw it;
//! - hub settings: one row per key (exact), replaced whole by `put_setting`, the JSON text
//!   read back byte for byte; keys outside 1 to 64 bytes of `[a-z0-9._-]` and values that
//!   `serde_json` cannot read are refused;
//! - updates of rows that do not exist, and rows referring to a missing participant or account,
//!   fail with an error other than [`StoreError::Duplicate`];
//! - a [`LedgerStore::read`] transaction sees committed data only and refuses writes;
//! - `audit_query` answers exactly the entries `AuditFilter::matches`, newest first, from the
//!   whole log (an old match is found behind any number of newer entries); an action prefix is
//!   byte for byte (case-sensitive; `_`, `%`, `*` are ordinary characters).
//!
//! Errors are fatal for the transaction they happen in (PostgreSQL aborts the whole
//! transaction), so every expected failure here is provoked in a transaction of its own, which is
//! then dropped.

use ledger::{
    AUDIT_GENESIS_HASH, Account, AccountType, ApiTokenRecord, ApprovalRecord, ApprovalVote,
    AuditEntry, CustomRole, Delivery, Endpoint, Evidence, FundsTransfer, JournalEntry, JwsKey,
    LedgerStore, LedgerTx, Limit, NewAccount, Operator, Participant, ParticipantTls,
    PartyRegistration, Quote, SessionRecord, Setting, StoreError, Transfer, TransferState,
    parse_audit_hash,
};
use rust_decimal::Decimal;

// ---------------------------------------------------------------------------------------------
// Fixtures.

fn dec(text: &str) -> Decimal {
    Decimal::from_str_exact(text).expect("test decimal")
}

fn participant(name: &str) -> Participant {
    Participant {
        name: name.to_owned(),
        is_active: true,
        created_at_ms: 1_700_000_000_000,
    }
}

fn new_account(participant: &str, currency: &str, kind: AccountType) -> NewAccount {
    NewAccount {
        participant: participant.to_owned(),
        currency: currency.to_owned(),
        kind,
        at_ms: 1_700_000_000_100,
    }
}

fn transfer(id: &str) -> Transfer {
    Transfer {
        id: id.to_owned(),
        payer: "payerfsp".to_owned(),
        payee: "payeefsp".to_owned(),
        amount: dec("10.25"),
        currency: "USD".to_owned(),
        condition: "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM".to_owned(),
        ilp_packet: "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3".to_owned(),
        expiration_ms: 1_700_000_060_000,
        state: TransferState::Reserved,
        prepare_hash: "prepare-hash".to_owned(),
        fulfil_hash: None,
        error_hash: None,
        fulfilment: None,
        error_code: None,
        error_description: None,
        created_at_ms: 1_700_000_000_000,
        completed_at_ms: None,
    }
}

fn quote(id: &str) -> Quote {
    Quote {
        id: id.to_owned(),
        transaction_id: format!("tx-{id}"),
        payer: "payerfsp".to_owned(),
        payee: "payeefsp".to_owned(),
        amount: dec("99.5"),
        currency: "EUR".to_owned(),
        request_hash: "request-hash".to_owned(),
        response_hash: None,
        transfer_amount: None,
        condition: None,
        ilp_packet: None,
        expiration_ms: None,
        created_at_ms: 1_700_000_000_000,
    }
}

fn party(
    id_type: &str,
    identifier: &str,
    sub_id: &str,
    currency: &str,
    fsp: &str,
) -> PartyRegistration {
    PartyRegistration {
        id_type: id_type.to_owned(),
        identifier: identifier.to_owned(),
        sub_id: sub_id.to_owned(),
        fsp_id: fsp.to_owned(),
        currency: currency.to_owned(),
    }
}

fn audit(n: i64) -> AuditEntry {
    AuditEntry {
        at_ms: 1_700_000_000_000 + n,
        actor: "operator".to_owned(),
        action: format!("action.{n}"),
        subject: "payerfsp".to_owned(),
        detail: format!("{{\"n\":{n}}}"),
        outcome: "ok".to_owned(),
        ..AuditEntry::default()
    }
}

/// Audit entries without what the store assigns (`seq`, `prev_hash`, `hash`), to compare
/// with what was appended.
fn unchained(entries: &[AuditEntry]) -> Vec<AuditEntry> {
    entries
        .iter()
        .map(|e| AuditEntry {
            seq: 0,
            prev_hash: String::new(),
            hash: String::new(),
            ..e.clone()
        })
        .collect()
}

/// Checks that `entries` (oldest first) are the chain positions `first_seq`, `first_seq + 1`, …
/// each linked to the one before (the first to `prev`) with the hash the canonical encoding
/// gives.
fn assert_chained(entries: &[AuditEntry], first_seq: i64, prev: &str) {
    let mut prev = prev.to_owned();
    for (i, entry) in entries.iter().enumerate() {
        let seq = first_seq + i64::try_from(i).unwrap();
        assert_eq!(entry.seq, seq, "dense seq: {entries:#?}");
        assert_eq!(entry.prev_hash, prev, "entry {seq} links to the one before");
        assert_eq!(
            Some(entry.hash.clone()),
            entry.chain_hash(&prev),
            "hash of entry {seq}"
        );
        assert!(parse_audit_hash(&entry.hash).is_some(), "{}", entry.hash);
        prev.clone_from(&entry.hash);
    }
}

fn delivery(n: u32) -> Delivery {
    Delivery {
        at_ms: 1_700_000_000_000 + i64::from(n),
        participant: "payeefsp".to_owned(),
        method: "PUT".to_owned(),
        url: format!("https://payee.example/transfers/{n}"),
        fspiop_uri: format!("/transfers/{n}"),
        attempt: n,
        status: if n.is_multiple_of(2) { Some(200) } else { None },
        error: if n.is_multiple_of(2) {
            None
        } else {
            Some(format!("connect error {n}"))
        },
        duration_ms: u64::from(n) * 7,
    }
}

/// A key of `participant` whose fingerprint is the byte `n` repeated (64 hex digits).
fn jws_key(participant: &str, n: u8) -> JwsKey {
    JwsKey {
        participant: participant.to_owned(),
        fingerprint: format!("{n:02x}").repeat(32),
        alg: if n.is_multiple_of(2) {
            "ES256"
        } else {
            "RS256"
        }
        .to_owned(),
        public_key_pem: format!(
            "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE{n}\n-----END PUBLIC KEY-----\n"
        ),
        not_before_ms: None,
        not_after_ms: None,
        added_at_ms: 1_700_000_000_000 + i64::from(n),
        retired_at_ms: None,
    }
}

/// A signed transfer message received from `payerfsp`, with a small JSON body.
fn evidence(subject: &str, kind: &str, n: i64) -> Evidence {
    Evidence {
        subject: subject.to_owned(),
        kind: kind.to_owned(),
        participant: "payerfsp".to_owned(),
        method: "POST".to_owned(),
        uri: "/transfers".to_owned(),
        destination: Some("payeefsp".to_owned()),
        date: Some("Tue, 14 Nov 2023 22:13:20 GMT".to_owned()),
        signature: Some(format!(
            "{{\"signature\":\"sig-{n}\",\"protectedHeader\":\"eyJhbGciOiJSUzI1NiJ9\"}}"
        )),
        key_fingerprint: Some("ab".repeat(32)),
        body: format!("{{\"transferId\":\"{subject}\",\"n\":{n}}}").into_bytes(),
        received_at_ms: 1_700_000_000_000 + n,
    }
}

/// TLS settings of `participant` with both fields set: a pin of the byte `n` repeated (64 hex
/// digits) and a one-certificate CA bundle.
fn participant_tls(participant: &str, n: u8) -> ParticipantTls {
    ParticipantTls {
        participant: participant.to_owned(),
        spki_pin: Some(format!("{n:02x}").repeat(32)),
        callback_ca_pem: Some(format!(
            "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU{n}\n-----END CERTIFICATE-----\n"
        )),
        updated_at_ms: 1_700_000_000_000 + i64::from(n),
    }
}

async fn begin(store: &dyn LedgerStore) -> Box<dyn LedgerTx> {
    store.begin().await.expect("begin")
}

async fn read(store: &dyn LedgerStore) -> Box<dyn LedgerTx> {
    store.read().await.expect("read")
}

/// Commits `participants` (and nothing else) in one transaction.
async fn seed_participants(store: &dyn LedgerStore, names: &[&str]) {
    let mut tx = begin(store).await;
    for name in names {
        tx.insert_participant(&participant(name))
            .await
            .expect("insert participant");
    }
    tx.commit().await.expect("commit");
}

/// Commits a participant with one POSITION account in USD and returns the account.
async fn seed_account(store: &dyn LedgerStore, name: &str) -> Account {
    let mut tx = begin(store).await;
    tx.insert_participant(&participant(name))
        .await
        .expect("insert participant");
    let account = tx
        .insert_account(&new_account(name, "USD", AccountType::Position))
        .await
        .expect("insert account");
    tx.commit().await.expect("commit");
    account
}

#[track_caller]
fn assert_duplicate<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Duplicate(_)) => {}
        other => panic!("{what}: expected StoreError::Duplicate, got {other:?}"),
    }
}

#[track_caller]
fn assert_refused<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    match result {
        Err(StoreError::Backend(_) | StoreError::Corrupt(_)) => {}
        other => panic!("{what}: expected a non-duplicate error, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Participants.

/// Participants round-trip, are listed by name, are found by exact name only, and
/// `set_participant_active` changes only the flag.
pub async fn participants_round_trip(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    assert_eq!(tx.participant("payerfsp").await.unwrap(), None);
    assert!(tx.participants().await.unwrap().is_empty());
    let rows = [
        participant("payerfsp"),
        Participant {
            name: "Hub".to_owned(),
            is_active: false,
            created_at_ms: -5,
        },
        participant("PayeeFSP"),
    ];
    for row in &rows {
        tx.insert_participant(row).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    for row in &rows {
        assert_eq!(tx.participant(&row.name).await.unwrap().as_ref(), Some(row));
    }
    // Exact lookup: a differently cased name is another name.
    assert_eq!(tx.participant("PAYERFSP").await.unwrap(), None);
    let names: Vec<String> = tx
        .participants()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(
        names,
        ["Hub", "PayeeFSP", "payerfsp"],
        "byte order of names"
    );
    drop(tx);

    let mut tx = begin(store).await;
    tx.set_participant_active("payerfsp", false).await.unwrap();
    tx.set_participant_active("Hub", true).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let payer = tx.participant("payerfsp").await.unwrap().unwrap();
    assert_eq!(
        payer,
        Participant {
            is_active: false,
            ..rows[0].clone()
        }
    );
    let hub = tx.participant("Hub").await.unwrap().unwrap();
    assert_eq!(
        hub,
        Participant {
            is_active: true,
            ..rows[1].clone()
        }
    );
}

/// A participant name that differs from an existing one only in ASCII case is a duplicate, in
/// the same transaction and across transactions.
pub async fn participant_names_unique_ignoring_case(store: &dyn LedgerStore) {
    seed_participants(store, &["PayerFSP"]).await;

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_participant(&participant("payerfsp")).await,
        "same name, other case",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_participant(&participant("PayerFSP")).await,
        "same name",
    );
    drop(tx);
    let mut tx = begin(store).await;
    tx.insert_participant(&participant("newfsp")).await.unwrap();
    assert_duplicate(
        tx.insert_participant(&participant("NEWFSP")).await,
        "other case, same transaction",
    );
    drop(tx);

    let mut tx = read(store).await;
    let names: Vec<String> = tx
        .participants()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["PayerFSP"]);
}

// ---------------------------------------------------------------------------------------------
// Accounts and journal.

/// Accounts round-trip through every lookup; `update_account` writes value, reserved, is_active
/// and changed_at only; amounts read back exact and normalized.
pub async fn accounts_round_trip(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let mut tx = begin(store).await;
    let pos = tx
        .insert_account(&new_account("payerfsp", "USD", AccountType::Position))
        .await
        .unwrap();
    assert_eq!(
        pos,
        Account {
            id: pos.id,
            participant: "payerfsp".to_owned(),
            currency: "USD".to_owned(),
            kind: AccountType::Position,
            is_active: true,
            value: Decimal::ZERO,
            reserved: Decimal::ZERO,
            changed_at_ms: 1_700_000_000_100,
        }
    );
    let settle = tx
        .insert_account(&new_account("payerfsp", "USD", AccountType::Settlement))
        .await
        .unwrap();
    let eur = tx
        .insert_account(&new_account("payerfsp", "EUR", AccountType::Position))
        .await
        .unwrap();
    let payee = tx
        .insert_account(&new_account("payeefsp", "USD", AccountType::Position))
        .await
        .unwrap();

    // Read-your-writes of freshly inserted accounts.
    assert_eq!(tx.account(pos.id).await.unwrap().as_ref(), Some(&pos));

    let updated = Account {
        value: dec("123456789012345678.0001"),
        reserved: dec("-0.5"),
        is_active: false,
        changed_at_ms: 1_700_000_000_999,
        // Identity fields are not rewritten by update_account.
        participant: "payeefsp".to_owned(),
        currency: "XOF".to_owned(),
        kind: AccountType::HubReconciliation,
        ..pos.clone()
    };
    tx.update_account(&updated).await.unwrap();
    let settle_updated = Account {
        value: dec("-1000.50"),
        ..settle.clone()
    };
    tx.update_account(&settle_updated).await.unwrap();
    tx.commit().await.unwrap();

    let expected_pos = Account {
        participant: pos.participant.clone(),
        currency: pos.currency.clone(),
        kind: pos.kind,
        ..updated
    };
    let mut tx = read(store).await;
    assert_eq!(
        tx.account(pos.id).await.unwrap().as_ref(),
        Some(&expected_pos)
    );
    let got = tx.account(settle.id).await.unwrap().unwrap();
    assert_eq!(got, settle_updated);
    assert_eq!(
        got.value.to_string(),
        "-1000.5",
        "amounts read back normalized"
    );
    let got = tx.account(pos.id).await.unwrap().unwrap();
    assert_eq!(got.value.to_string(), "123456789012345678.0001");
    assert_eq!(got.reserved.to_string(), "-0.5");
    assert_eq!(tx.account(i64::MAX).await.unwrap(), None);

    assert_eq!(
        tx.account_for("payerfsp", "USD", AccountType::Settlement)
            .await
            .unwrap()
            .as_ref(),
        Some(&settle_updated)
    );
    assert_eq!(
        tx.account_for("payerfsp", "EUR", AccountType::Position)
            .await
            .unwrap()
            .as_ref(),
        Some(&eur)
    );
    assert_eq!(
        tx.account_for("payerfsp", "EUR", AccountType::Settlement)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        tx.account_for("PAYERFSP", "USD", AccountType::Position)
            .await
            .unwrap(),
        None,
        "participant names are matched exactly"
    );

    assert_eq!(
        tx.accounts("payerfsp").await.unwrap(),
        [expected_pos.clone(), settle_updated.clone(), eur.clone()],
        "accounts of a participant, by id"
    );
    assert_eq!(
        tx.accounts("payeefsp").await.unwrap(),
        std::slice::from_ref(&payee)
    );
    assert!(tx.accounts("nobody").await.unwrap().is_empty());
    assert_eq!(
        tx.accounts_in_currency("USD").await.unwrap(),
        [expected_pos, settle_updated, payee],
        "accounts in a currency, by id"
    );
    assert_eq!(tx.accounts_in_currency("EUR").await.unwrap(), [eur]);
    assert!(tx.accounts_in_currency("JPY").await.unwrap().is_empty());
}

/// Account ids are distinct and increasing in creation order, and stay the same after commit,
/// in later transactions and in read views.
pub async fn account_ids_stable(store: &dyn LedgerStore) {
    seed_participants(store, &["a", "b"]).await;
    let mut tx = begin(store).await;
    let mut created = Vec::new();
    for (name, currency, kind) in [
        ("a", "USD", AccountType::Position),
        ("a", "USD", AccountType::Settlement),
        ("b", "USD", AccountType::Position),
        ("b", "EUR", AccountType::HubMultilateralSettlement),
    ] {
        created.push(
            tx.insert_account(&new_account(name, currency, kind))
                .await
                .unwrap(),
        );
    }
    assert!(created[0].id > 0, "ids are positive");
    assert!(
        created.windows(2).all(|w| w[0].id < w[1].id),
        "ids increase: {created:?}"
    );
    tx.commit().await.unwrap();

    // A rolled-back insert does not disturb committed ids.
    let mut tx = begin(store).await;
    tx.insert_account(&new_account("a", "EUR", AccountType::Position))
        .await
        .unwrap();
    drop(tx);

    let mut tx = begin(store).await;
    let later = tx
        .insert_account(&new_account("b", "XOF", AccountType::Position))
        .await
        .unwrap();
    assert!(
        created.iter().all(|a| a.id < later.id),
        "later ids are larger"
    );
    tx.commit().await.unwrap();

    for _ in 0..2 {
        let mut tx = read(store).await;
        for account in &created {
            assert_eq!(
                tx.account(account.id).await.unwrap().as_ref(),
                Some(account)
            );
            assert_eq!(
                tx.account_for(&account.participant, &account.currency, account.kind)
                    .await
                    .unwrap()
                    .map(|a| a.id),
                Some(account.id)
            );
        }
        assert_eq!(tx.account(later.id).await.unwrap(), Some(later.clone()));
        assert_eq!(
            tx.account_for("a", "EUR", AccountType::Position)
                .await
                .unwrap(),
            None,
            "the rolled-back account does not exist"
        );
    }
}

/// A second account with the same participant, currency and type is a duplicate.
pub async fn duplicate_account(store: &dyn LedgerStore) {
    seed_account(store, "payerfsp").await;
    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_account(&new_account("payerfsp", "USD", AccountType::Position))
            .await,
        "same participant, currency and type",
    );
    drop(tx);
    let mut tx = begin(store).await;
    tx.insert_account(&new_account("payerfsp", "USD", AccountType::Settlement))
        .await
        .unwrap();
    assert_duplicate(
        tx.insert_account(&new_account("payerfsp", "USD", AccountType::Settlement))
            .await,
        "duplicate inside one transaction",
    );
}

/// Journal entries are appended for existing accounts (the trait has no journal read; the
/// entries must at least be accepted, many per transaction, and survive commit).
pub async fn journal_append(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;
    let mut tx = begin(store).await;
    for n in 0..10 {
        tx.append_journal(&JournalEntry {
            account_id: account.id,
            reference: format!("t{n}"),
            reason: "PREPARE".to_owned(),
            value_delta: Decimal::ZERO,
            reserved_delta: dec("10.10"),
            at_ms: n,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    tx.append_journal(&JournalEntry {
        account_id: account.id,
        reference: "t0".to_owned(),
        reason: "COMMIT".to_owned(),
        value_delta: dec("-10.1"),
        reserved_delta: dec("-10.1"),
        at_ms: 11,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Rows that refer to a participant or account that does not exist are refused (foreign keys).
pub async fn references_must_exist(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;

    let mut tx = begin(store).await;
    assert_refused(
        tx.insert_account(&new_account("ghost", "USD", AccountType::Position))
            .await,
        "account of an unknown participant",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.upsert_limit(&Limit {
            participant: "ghost".to_owned(),
            currency: "USD".to_owned(),
            value: dec("1"),
            alarm_percentage: dec("10"),
        })
        .await,
        "limit of an unknown participant",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.upsert_endpoint(&Endpoint {
            participant: "ghost".to_owned(),
            kind: "FSPIOP_CALLBACK_URL_TRANSFER_POST".to_owned(),
            value: "http://ghost".to_owned(),
        })
        .await,
        "endpoint of an unknown participant",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.append_journal(&JournalEntry {
            account_id: account.id + 1000,
            reference: "t".to_owned(),
            reason: "PREPARE".to_owned(),
            value_delta: Decimal::ZERO,
            reserved_delta: Decimal::ONE,
            at_ms: 0,
        })
        .await,
        "journal entry of an unknown account",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.insert_funds_transfer(&FundsTransfer {
            id: "f1".to_owned(),
            participant: "payerfsp".to_owned(),
            account_id: account.id + 1000,
            action: "recordFundsIn".to_owned(),
            amount: dec("1"),
            currency: "USD".to_owned(),
            state: "COMMITTED".to_owned(),
            reason: String::new(),
            external_reference: String::new(),
            created_at_ms: 0,
        })
        .await,
        "funds transfer on an unknown account",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.insert_jws_key(&jws_key("ghost", 1)).await,
        "jws key of an unknown participant",
    );
    drop(tx);

    // Transfers and quotes may name unknown FSPs (refused prepares are recorded too), and
    // evidence records what was received, whoever sent it.
    let mut tx = begin(store).await;
    tx.append_evidence(&Evidence {
        participant: "ghost".to_owned(),
        destination: Some("ghost".to_owned()),
        ..evidence("t-unknown-payee", "transfer.prepare", 1)
    })
    .await
    .unwrap();
    tx.insert_transfer(&Transfer {
        payee: "ghost".to_owned(),
        state: TransferState::Invalid,
        ..transfer("t-unknown-payee")
    })
    .await
    .unwrap();
    tx.insert_quote(&Quote {
        payer: "ghost".to_owned(),
        ..quote("q-unknown-payer")
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// Updating a row that does not exist is an error (never a silent no-op, never Duplicate).
pub async fn missing_rows_are_not_updated(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;
    let mut tx = begin(store).await;
    assert_refused(
        tx.set_participant_active("ghost", false).await,
        "unknown participant",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.update_account(&Account {
            id: account.id + 1000,
            ..account.clone()
        })
        .await,
        "unknown account",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.update_transfer(&transfer("ghost")).await,
        "unknown transfer",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(tx.update_quote(&quote("ghost")).await, "unknown quote");
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.set_funds_transfer_state("ghost", "ABORTED").await,
        "unknown funds transfer",
    );
    drop(tx);

    let mut tx = read(store).await;
    assert_eq!(tx.account(account.id).await.unwrap(), Some(account));
    assert_eq!(tx.transfer("ghost").await.unwrap(), None);
    assert_eq!(tx.quote("ghost").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Limits and endpoints.

/// Limits and endpoints round-trip and are replaced by key on upsert.
pub async fn limits_and_endpoints(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let usd = Limit {
        participant: "payerfsp".to_owned(),
        currency: "USD".to_owned(),
        value: dec("10000"),
        alarm_percentage: dec("10"),
    };
    let eur = Limit {
        currency: "EUR".to_owned(),
        value: dec("0.001"),
        ..usd.clone()
    };
    let post = Endpoint {
        participant: "payerfsp".to_owned(),
        kind: "FSPIOP_CALLBACK_URL_TRANSFER_POST".to_owned(),
        value: "https://payer.example/transfers".to_owned(),
    };
    let put = Endpoint {
        kind: "FSPIOP_CALLBACK_URL_TRANSFER_PUT".to_owned(),
        value: "https://payer.example/transfers/{{transferId}}".to_owned(),
        ..post.clone()
    };
    let mut tx = begin(store).await;
    assert_eq!(tx.limit("payerfsp", "USD").await.unwrap(), None);
    tx.upsert_limit(&usd).await.unwrap();
    tx.upsert_limit(&eur).await.unwrap();
    tx.upsert_endpoint(&put).await.unwrap();
    tx.upsert_endpoint(&post).await.unwrap();
    assert_eq!(
        tx.limit("payerfsp", "USD").await.unwrap().as_ref(),
        Some(&usd)
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.limit("payerfsp", "USD").await.unwrap().as_ref(),
        Some(&usd)
    );
    assert_eq!(
        tx.limit("payerfsp", "EUR").await.unwrap().as_ref(),
        Some(&eur)
    );
    assert_eq!(tx.limit("payerfsp", "XOF").await.unwrap(), None);
    assert_eq!(tx.limit("payeefsp", "USD").await.unwrap(), None);
    assert_eq!(
        tx.limits("payerfsp").await.unwrap(),
        [eur.clone(), usd.clone()],
        "by currency"
    );
    assert!(tx.limits("payeefsp").await.unwrap().is_empty());
    assert_eq!(
        tx.endpoints("payerfsp").await.unwrap(),
        [post.clone(), put.clone()],
        "by type"
    );
    assert!(tx.endpoints("payeefsp").await.unwrap().is_empty());
    drop(tx);

    let usd2 = Limit {
        value: dec("25000.50"),
        alarm_percentage: dec("12.5"),
        ..usd.clone()
    };
    let post2 = Endpoint {
        value: "https://payer2.example/transfers".to_owned(),
        ..post.clone()
    };
    let mut tx = begin(store).await;
    tx.upsert_limit(&usd2).await.unwrap();
    tx.upsert_endpoint(&post2).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let got = tx.limit("payerfsp", "USD").await.unwrap().unwrap();
    assert_eq!(got, usd2);
    assert_eq!(got.value.to_string(), "25000.5");
    assert_eq!(tx.limits("payerfsp").await.unwrap(), [eur, usd2]);
    assert_eq!(tx.endpoints("payerfsp").await.unwrap(), [post2, put]);
}

// ---------------------------------------------------------------------------------------------
// Transfers.

/// Transfers round-trip with and without optional fields; `update_transfer` rewrites state,
/// hashes, fulfilment, error and completion only.
pub async fn transfers_round_trip(store: &dyn LedgerStore) {
    let minimal = transfer("b0fc2a40-0c2f-4b8e-9a1e-1f2d3c4b5a60");
    let full = Transfer {
        state: TransferState::AbortedError,
        fulfil_hash: Some("fh".to_owned()),
        error_hash: Some("eh".to_owned()),
        fulfilment: Some("UNlJ98hZTY_dsw0cAqw4i_UN3v4utt7CZFB4yfLbVFA".to_owned()),
        error_code: Some("5105".to_owned()),
        error_description: Some("Payee transaction limit reached — ünïcode".to_owned()),
        completed_at_ms: Some(1_700_000_001_000),
        amount: dec("0.0001"),
        ..transfer("7f3f8d7e-1111-4c5e-8f00-000000000001")
    };
    let mut tx = begin(store).await;
    assert_eq!(tx.transfer(&minimal.id).await.unwrap(), None);
    tx.insert_transfer(&minimal).await.unwrap();
    tx.insert_transfer(&full).await.unwrap();
    assert_eq!(
        tx.transfer(&minimal.id).await.unwrap().as_ref(),
        Some(&minimal)
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.transfer(&minimal.id).await.unwrap().as_ref(),
        Some(&minimal)
    );
    assert_eq!(tx.transfer(&full.id).await.unwrap().as_ref(), Some(&full));
    assert_eq!(tx.transfer("unknown").await.unwrap(), None);
    drop(tx);

    let fulfilled = Transfer {
        state: TransferState::Committed,
        fulfil_hash: Some("fulfil-hash".to_owned()),
        fulfilment: Some("fulfilment".to_owned()),
        completed_at_ms: Some(1_700_000_002_000),
        ..minimal.clone()
    };
    // Immutable fields in the argument are ignored.
    let attempt = Transfer {
        payer: "other".to_owned(),
        payee: "other".to_owned(),
        amount: dec("999"),
        currency: "XOF".to_owned(),
        condition: "other".to_owned(),
        ilp_packet: "other".to_owned(),
        expiration_ms: 1,
        prepare_hash: "other".to_owned(),
        created_at_ms: 2,
        ..fulfilled.clone()
    };
    let cleared = Transfer {
        state: TransferState::Reserved,
        fulfil_hash: None,
        error_hash: None,
        fulfilment: None,
        error_code: None,
        error_description: None,
        completed_at_ms: None,
        ..full.clone()
    };
    let mut tx = begin(store).await;
    tx.update_transfer(&attempt).await.unwrap();
    tx.update_transfer(&cleared).await.unwrap();
    assert_eq!(
        tx.transfer(&minimal.id).await.unwrap().as_ref(),
        Some(&fulfilled)
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.transfer(&minimal.id).await.unwrap(), Some(fulfilled));
    assert_eq!(
        tx.transfer(&full.id).await.unwrap(),
        Some(cleared),
        "options can be cleared"
    );
}

/// A second transfer with an existing id is a duplicate (the idempotency key).
pub async fn duplicate_transfer(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_transfer(&Transfer {
            amount: dec("1"),
            ..transfer("t1")
        })
        .await,
        "committed transfer id",
    );
    drop(tx);
    let mut tx = begin(store).await;
    tx.insert_transfer(&transfer("t2")).await.unwrap();
    assert_duplicate(
        tx.insert_transfer(&transfer("t2")).await,
        "transfer id inserted in the same transaction",
    );
    drop(tx);
    let mut tx = read(store).await;
    assert_eq!(tx.transfer("t1").await.unwrap(), Some(transfer("t1")));
    assert_eq!(tx.transfer("t2").await.unwrap(), None);
}

/// `open_transfers` lists exactly the non-final (RESERVED) transfers, by expiration then id, and
/// follows state changes.
pub async fn open_transfers_only_reserved(store: &dyn LedgerStore) {
    let states = [
        ("a", TransferState::Reserved, 300),
        ("b", TransferState::Committed, 100),
        ("c", TransferState::Reserved, 100),
        ("d", TransferState::AbortedError, 50),
        ("e", TransferState::AbortedRejected, 60),
        ("f", TransferState::ExpiredReserved, 70),
        ("g", TransferState::Invalid, 80),
        ("h", TransferState::Reserved, 200),
        ("0", TransferState::Reserved, 100),
    ];
    let mut tx = begin(store).await;
    assert!(tx.open_transfers().await.unwrap().is_empty());
    for (id, state, expiration) in states {
        tx.insert_transfer(&Transfer {
            state,
            expiration_ms: expiration,
            ..transfer(id)
        })
        .await
        .unwrap();
    }
    let expected = [("0", 100), ("c", 100), ("h", 200), ("a", 300)];
    let as_owned = |rows: &[(&str, i64)]| -> Vec<(String, i64)> {
        rows.iter().map(|&(id, at)| (id.to_owned(), at)).collect()
    };
    assert_eq!(tx.open_transfers().await.unwrap(), as_owned(&expected));
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.open_transfers().await.unwrap(), as_owned(&expected));
    drop(tx);

    let mut tx = begin(store).await;
    let mut c = tx.transfer("c").await.unwrap().unwrap();
    c.state = TransferState::ExpiredReserved;
    c.completed_at_ms = Some(101);
    tx.update_transfer(&c).await.unwrap();
    assert_eq!(
        tx.open_transfers().await.unwrap(),
        as_owned(&[("0", 100), ("h", 200), ("a", 300)]),
        "sees the update in the same transaction"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.open_transfers().await.unwrap(),
        as_owned(&[("0", 100), ("h", 200), ("a", 300)])
    );
}

// ---------------------------------------------------------------------------------------------
// Quotes.

/// Quotes round-trip; `update_quote` rewrites the answer fields only.
pub async fn quotes_round_trip(store: &dyn LedgerStore) {
    let q = quote("q1");
    let mut tx = begin(store).await;
    assert_eq!(tx.quote("q1").await.unwrap(), None);
    tx.insert_quote(&q).await.unwrap();
    assert_eq!(tx.quote("q1").await.unwrap().as_ref(), Some(&q));
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.quote("q1").await.unwrap().as_ref(), Some(&q));
    drop(tx);

    let answered = Quote {
        response_hash: Some("response-hash".to_owned()),
        transfer_amount: Some(dec("100.70")),
        condition: Some("condition".to_owned()),
        ilp_packet: Some("packet".to_owned()),
        expiration_ms: Some(1_700_000_100_000),
        ..q.clone()
    };
    let attempt = Quote {
        transaction_id: "other".to_owned(),
        payer: "other".to_owned(),
        payee: "other".to_owned(),
        amount: dec("1"),
        currency: "XOF".to_owned(),
        request_hash: "other".to_owned(),
        created_at_ms: 5,
        ..answered.clone()
    };
    let mut tx = begin(store).await;
    tx.update_quote(&attempt).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let got = tx.quote("q1").await.unwrap().unwrap();
    assert_eq!(got, answered);
    assert_eq!(got.transfer_amount.unwrap().to_string(), "100.7");
    drop(tx);

    let full = Quote {
        id: "q2".to_owned(),
        ..answered.clone()
    };
    let mut tx = begin(store).await;
    tx.insert_quote(&full).await.unwrap();
    tx.update_quote(&q).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.quote("q2").await.unwrap(), Some(full));
    assert_eq!(
        tx.quote("q1").await.unwrap(),
        Some(q),
        "answer fields can be cleared"
    );
}

/// A second quote with an existing id is a duplicate.
pub async fn duplicate_quote(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    tx.insert_quote(&quote("q1")).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    assert_duplicate(tx.insert_quote(&quote("q1")).await, "committed quote id");
    drop(tx);
    let mut tx = begin(store).await;
    tx.insert_quote(&quote("q2")).await.unwrap();
    assert_duplicate(
        tx.insert_quote(&quote("q2")).await,
        "quote id in the same transaction",
    );
}

// ---------------------------------------------------------------------------------------------
// Oracle.

/// Party lookup with and without sub-id, replacement by key, and `delete_party` counts.
pub async fn parties_lookup(store: &dyn LedgerStore) {
    let plain_usd = party("MSISDN", "123", "", "USD", "fsp1");
    let plain_any = party("MSISDN", "123", "", "", "fsp1");
    let sub_a = party("MSISDN", "123", "A", "", "fsp2");
    let sub_b = party("MSISDN", "123", "B", "EUR", "fsp1");
    let other_id = party("MSISDN", "456", "", "", "fsp1");
    let other_type = party("IBAN", "123", "", "", "fsp1");
    let mut tx = begin(store).await;
    assert!(tx.parties("MSISDN", "123", None).await.unwrap().is_empty());
    for p in [
        &sub_b,
        &plain_usd,
        &other_type,
        &sub_a,
        &plain_any,
        &other_id,
    ] {
        tx.upsert_party(p).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.parties("MSISDN", "123", None).await.unwrap(),
        [
            plain_any.clone(),
            plain_usd.clone(),
            sub_a.clone(),
            sub_b.clone()
        ],
        "any sub-id, by (sub-id, currency)"
    );
    assert_eq!(
        tx.parties("MSISDN", "123", Some("")).await.unwrap(),
        [plain_any.clone(), plain_usd.clone()],
        "empty sub-id means exactly none"
    );
    assert_eq!(
        tx.parties("MSISDN", "123", Some("A")).await.unwrap(),
        std::slice::from_ref(&sub_a)
    );
    assert!(
        tx.parties("MSISDN", "123", Some("C"))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        tx.parties("IBAN", "123", None).await.unwrap(),
        std::slice::from_ref(&other_type)
    );
    assert!(tx.parties("msisdn", "123", None).await.unwrap().is_empty());
    drop(tx);

    // Upsert replaces the FSP of the same (type, identifier, sub-id, currency).
    let moved = party("MSISDN", "123", "A", "", "fsp3");
    let mut tx = begin(store).await;
    tx.upsert_party(&moved).await.unwrap();
    assert_eq!(
        tx.parties("MSISDN", "123", Some("A")).await.unwrap(),
        std::slice::from_ref(&moved)
    );
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    assert_eq!(
        tx.delete_party("MSISDN", "123", "", "fsp1").await.unwrap(),
        2,
        "both currencies of the plain registration"
    );
    assert_eq!(
        tx.delete_party("MSISDN", "123", "A", "fsp2").await.unwrap(),
        0,
        "another FSP owns it now"
    );
    assert_eq!(
        tx.delete_party("MSISDN", "999", "", "fsp1").await.unwrap(),
        0
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.parties("MSISDN", "123", None).await.unwrap(),
        [moved, sub_b]
    );
    assert_eq!(tx.parties("MSISDN", "456", None).await.unwrap(), [other_id]);
    assert_eq!(tx.parties("IBAN", "123", None).await.unwrap(), [other_type]);
}

/// The owner of a party is its oldest registration: a new key comes after every existing one,
/// re-registering keeps the place, handing a row to another FSP moves it last, deleting frees
/// it; routed lookups are keyed exactly, refreshed by a second put, purged once expired and
/// counted per requester.
pub async fn parties_owner_and_lookups(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    assert_eq!(tx.party_owner("MSISDN", "123", "").await.unwrap(), None);
    // Registered in this order; the second FSP's rows sort first by (sub-id, currency).
    let first = party("MSISDN", "123", "", "USD", "owner");
    let second = party("MSISDN", "123", "", "", "late");
    let third = party("MSISDN", "123", "", "EUR", "later");
    let sub = party("MSISDN", "123", "S", "", "subowner");
    for p in [&first, &second, &third, &sub] {
        tx.upsert_party(p).await.unwrap();
    }
    assert_eq!(
        tx.party_owner("MSISDN", "123", "").await.unwrap(),
        Some(first.clone()),
        "oldest first, not (sub-id, currency) first"
    );
    assert_eq!(
        tx.party_owner("MSISDN", "123", "S").await.unwrap(),
        Some(sub.clone()),
        "the sub-id is its own party"
    );
    assert_eq!(tx.party_owner("MSISDN", "12", "").await.unwrap(), None);
    assert_eq!(tx.party_owner("msisdn", "123", "").await.unwrap(), None);
    tx.commit().await.unwrap();

    // Re-registering the same key by its FSP keeps its place.
    let mut tx = begin(store).await;
    tx.upsert_party(&first).await.unwrap();
    assert_eq!(
        tx.party_owner("MSISDN", "123", "").await.unwrap(),
        Some(first.clone())
    );
    // Handing the owner's row to another FSP moves it last: the next oldest owns the party.
    let handed = party("MSISDN", "123", "", "USD", "taker");
    tx.upsert_party(&handed).await.unwrap();
    assert_eq!(
        tx.party_owner("MSISDN", "123", "").await.unwrap(),
        Some(second.clone())
    );
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    assert_eq!(
        tx.delete_party("MSISDN", "123", "", "late").await.unwrap(),
        1
    );
    assert_eq!(
        tx.party_owner("MSISDN", "123", "").await.unwrap(),
        Some(third.clone())
    );
    // A deleted key registered again is new: it comes last.
    tx.upsert_party(&second).await.unwrap();
    assert_eq!(
        tx.party_owner("MSISDN", "123", "").await.unwrap(),
        Some(third.clone())
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.party_owner("MSISDN", "123", "").await.unwrap(),
        Some(third),
        "committed"
    );
    drop(tx);

    // Routed lookups.
    let lookup = |requester: &str, routed_to: &str, expires_at_ms: i64| ledger::PartyLookup {
        id_type: "MSISDN".to_owned(),
        identifier: "999".to_owned(),
        sub_id: String::new(),
        requester: requester.to_owned(),
        routed_to: routed_to.to_owned(),
        expires_at_ms,
    };
    let mut tx = begin(store).await;
    assert_eq!(
        tx.party_lookup("MSISDN", "999", "", "payer", "payee")
            .await
            .unwrap(),
        None
    );
    tx.put_party_lookup(&lookup("payer", "payee", 1_000))
        .await
        .unwrap();
    tx.put_party_lookup(&lookup("payer", "other", 2_000))
        .await
        .unwrap();
    tx.put_party_lookup(&lookup("someone", "payee", 3_000))
        .await
        .unwrap();
    // A second put refreshes the expiry, it adds no row.
    tx.put_party_lookup(&lookup("payer", "payee", 5_000))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    assert_eq!(
        tx.party_lookup("MSISDN", "999", "", "payer", "payee")
            .await
            .unwrap(),
        Some(lookup("payer", "payee", 5_000))
    );
    for (t, i, s, r, d) in [
        ("MSISDN", "999", "", "payee", "payer"),
        ("MSISDN", "999", "X", "payer", "payee"),
        ("MSISDN", "99", "", "payer", "payee"),
        ("IBAN", "999", "", "payer", "payee"),
        ("MSISDN", "999", "", "PAYER", "payee"),
    ] {
        assert_eq!(
            tx.party_lookup(t, i, s, r, d).await.unwrap(),
            None,
            "{t} {i} {s} {r} {d}"
        );
    }
    assert_eq!(tx.count_party_lookups("payer").await.unwrap(), 2);
    assert_eq!(tx.count_party_lookups("nobody").await.unwrap(), 0);
    assert_eq!(
        tx.purge_party_lookups(2_000).await.unwrap(),
        1,
        "expiry 2000 <= now"
    );
    assert_eq!(tx.count_party_lookups("payer").await.unwrap(), 1);
    assert_eq!(tx.purge_party_lookups(2_000).await.unwrap(), 0);
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.count_party_lookups("payer").await.unwrap(), 1);
    assert_eq!(tx.count_party_lookups("someone").await.unwrap(), 1);
    assert_eq!(
        tx.party_lookup("MSISDN", "999", "", "payer", "other")
            .await
            .unwrap(),
        None
    );
}

// ---------------------------------------------------------------------------------------------
// Funds in/out.

/// Funds transfers round-trip and change state.
pub async fn funds_transfers_round_trip(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;
    let funds = FundsTransfer {
        id: "f-1".to_owned(),
        participant: "payerfsp".to_owned(),
        account_id: account.id,
        action: "recordFundsOutPrepareReserve".to_owned(),
        amount: dec("500.00"),
        currency: "USD".to_owned(),
        state: "RESERVED".to_owned(),
        reason: "month end".to_owned(),
        external_reference: "ext-1".to_owned(),
        created_at_ms: 1_700_000_000_000,
    };
    let mut tx = begin(store).await;
    assert_eq!(tx.funds_transfer("f-1").await.unwrap(), None);
    tx.insert_funds_transfer(&funds).await.unwrap();
    assert_eq!(
        tx.funds_transfer("f-1").await.unwrap().as_ref(),
        Some(&funds)
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let got = tx.funds_transfer("f-1").await.unwrap().unwrap();
    assert_eq!(got, funds);
    assert_eq!(got.amount.to_string(), "500");
    drop(tx);

    let mut tx = begin(store).await;
    tx.set_funds_transfer_state("f-1", "COMMITTED")
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.funds_transfer("f-1").await.unwrap(),
        Some(FundsTransfer {
            state: "COMMITTED".to_owned(),
            ..funds
        })
    );
}

/// A second funds transfer with an existing id is a duplicate.
pub async fn duplicate_funds_transfer(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;
    let funds = FundsTransfer {
        id: "f-1".to_owned(),
        participant: "payerfsp".to_owned(),
        account_id: account.id,
        action: "recordFundsIn".to_owned(),
        amount: dec("1"),
        currency: "USD".to_owned(),
        state: "COMMITTED".to_owned(),
        reason: String::new(),
        external_reference: String::new(),
        created_at_ms: 0,
    };
    let mut tx = begin(store).await;
    tx.insert_funds_transfer(&funds).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_funds_transfer(&FundsTransfer {
            amount: dec("2"),
            ..funds.clone()
        })
        .await,
        "committed funds transfer id",
    );
}

// ---------------------------------------------------------------------------------------------
// Records.

/// Audit entries come back newest first, at most `limit` of them.
pub async fn audit_newest_first(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    assert!(tx.audit_entries(10).await.unwrap().is_empty());
    for n in 0..3 {
        tx.append_audit(&audit(n)).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    // Same timestamp as an earlier entry: insertion order decides, not the time.
    tx.append_audit(&AuditEntry {
        at_ms: audit(0).at_ms,
        ..audit(3)
    })
    .await
    .unwrap();
    tx.append_audit(&audit(4)).await.unwrap();
    assert_eq!(unchained(&tx.audit_entries(1).await.unwrap()), [audit(4)]);
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    let third = AuditEntry {
        at_ms: audit(0).at_ms,
        ..audit(3)
    };
    let all = tx.audit_entries(100).await.unwrap();
    assert_eq!(
        unchained(&all),
        [audit(4), third.clone(), audit(2), audit(1), audit(0)]
    );
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [5, 4, 3, 2, 1]
    );
    assert_eq!(tx.audit_entries(2).await.unwrap(), all[..2]);
    assert!(tx.audit_entries(0).await.unwrap().is_empty());
    assert_eq!(tx.audit_entries(u32::MAX).await.unwrap().len(), 5);
}

/// The store numbers audit entries 1, 2, 3, … and chains each to the one before with the
/// documented hash, whether they were appended in one transaction or several, and whatever the
/// caller put in `seq`, `prev_hash` and `hash`.
pub async fn audit_chain_dense_and_linked(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    assert!(tx.audit_range(0, 10).await.unwrap().is_empty());
    for n in 1..=3 {
        tx.append_audit(&audit(n)).await.unwrap();
    }
    // Read your own appends, chained already.
    let first = tx.audit_range(0, 10).await.unwrap();
    assert_eq!(unchained(&first), [audit(1), audit(2), audit(3)]);
    assert_chained(&first, 1, AUDIT_GENESIS_HASH);
    tx.commit().await.unwrap();

    // Across transactions, with caller values that must be ignored.
    let mut tx = begin(store).await;
    tx.append_audit(&AuditEntry {
        seq: 42,
        prev_hash: "f".repeat(64),
        hash: "not a hash".to_owned(),
        ..audit(4)
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    tx.append_audit(&AuditEntry {
        seq: -1,
        ..audit(5)
    })
    .await
    .unwrap();
    tx.append_audit(&AuditEntry {
        at_ms: 0,
        detail: String::new(),
        ..audit(6)
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    let all = tx.audit_range(0, 100).await.unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[..3], first[..]);
    assert_chained(&all, 1, AUDIT_GENESIS_HASH);
    assert_eq!(
        unchained(&all[3..]),
        [
            audit(4),
            audit(5),
            AuditEntry {
                at_ms: 0,
                detail: String::new(),
                ..audit(6)
            }
        ]
    );
    // The newest-first view shows the same rows.
    let mut newest = tx.audit_entries(100).await.unwrap();
    newest.reverse();
    assert_eq!(newest, all);
}

/// A rolled-back append leaves no gap and no trace: the next entry takes its seq and links to
/// the last committed one.
pub async fn audit_chain_rollback_leaves_no_gap(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    tx.append_audit(&audit(1)).await.unwrap();
    tx.append_audit(&audit(2)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.append_audit(&audit(90)).await.unwrap();
    tx.append_audit(&audit(91)).await.unwrap();
    drop(tx);
    let mut tx = begin(store).await;
    tx.append_audit(&audit(92)).await.unwrap();
    drop(tx);

    let mut tx = begin(store).await;
    tx.append_audit(&audit(3)).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    let all = tx.audit_range(0, 100).await.unwrap();
    assert_eq!(unchained(&all), [audit(1), audit(2), audit(3)]);
    assert_chained(&all, 1, AUDIT_GENESIS_HASH);
    drop(tx);

    // A read view cannot append.
    let mut view = read(store).await;
    assert_refused(
        view.append_audit(&audit(4)).await,
        "audit through a read view",
    );
    drop(view);
    let mut tx = read(store).await;
    assert_eq!(tx.audit_range(0, 100).await.unwrap(), all);
}

/// `audit_range` returns the entries after a seq, oldest first, at most `limit`; paging with
/// the last seq returned visits every entry once.
pub async fn audit_range_pages(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    for n in 1..=7 {
        tx.append_audit(&audit(n)).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    let seqs = |entries: &[AuditEntry]| entries.iter().map(|e| e.seq).collect::<Vec<_>>();
    let all = tx.audit_range(0, u32::MAX).await.unwrap();
    assert_eq!(seqs(&all), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(unchained(&all)[6], audit(7));
    assert_eq!(seqs(&tx.audit_range(0, 3).await.unwrap()), [1, 2, 3]);
    assert_eq!(seqs(&tx.audit_range(3, 3).await.unwrap()), [4, 5, 6]);
    assert_eq!(seqs(&tx.audit_range(6, 3).await.unwrap()), [7]);
    assert!(tx.audit_range(7, 3).await.unwrap().is_empty());
    assert!(tx.audit_range(100, 3).await.unwrap().is_empty());
    assert!(tx.audit_range(0, 0).await.unwrap().is_empty());
    assert_eq!(seqs(&tx.audit_range(-5, 2).await.unwrap()), [1, 2]);
    assert_eq!(seqs(&tx.audit_range(i64::MIN, 1).await.unwrap()), [1]);
    assert!(tx.audit_range(i64::MAX, 1).await.unwrap().is_empty());

    // Paging visits everything once, in order.
    let mut paged = Vec::new();
    let mut after = 0;
    loop {
        let page = tx.audit_range(after, 2).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        paged.extend(page);
    }
    assert_eq!(paged, all);
    assert_chained(&paged, 1, AUDIT_GENESIS_HASH);
}

/// Deliveries round-trip (optional status and error, wide integers) and come back newest first,
/// at most `limit` of them.
pub async fn deliveries_newest_first(store: &dyn LedgerStore) {
    let wide = Delivery {
        attempt: u32::MAX,
        status: Some(u16::MAX),
        duration_ms: i64::MAX as u64,
        ..delivery(9)
    };
    let mut tx = begin(store).await;
    assert!(tx.deliveries(10).await.unwrap().is_empty());
    for n in 1..=4 {
        tx.append_delivery(&delivery(n)).await.unwrap();
    }
    tx.append_delivery(&wide).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.deliveries(10).await.unwrap(),
        [
            wide.clone(),
            delivery(4),
            delivery(3),
            delivery(2),
            delivery(1)
        ]
    );
    assert_eq!(tx.deliveries(2).await.unwrap(), [wide, delivery(4)]);
    assert!(tx.deliveries(0).await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// JWS keys and evidence.

/// JWS keys round-trip (optional validity bounds, a key inserted already retired); a
/// participant's keys come back oldest added first, registration order among equal times;
/// retiring keeps the key listed, with its retirement time; the same fingerprint may belong to
/// two participants.
pub async fn jws_keys_round_trip(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let first = JwsKey {
        added_at_ms: 300,
        ..jws_key("payerfsp", 0xa1)
    };
    let older = JwsKey {
        not_before_ms: Some(-5),
        not_after_ms: Some(i64::MAX),
        added_at_ms: 100,
        retired_at_ms: Some(200),
        ..jws_key("payerfsp", 0xb2)
    };
    let same_time = JwsKey {
        not_before_ms: Some(250),
        added_at_ms: 300,
        ..jws_key("payerfsp", 0x03)
    };
    let payee = JwsKey {
        participant: "payeefsp".to_owned(),
        ..first.clone()
    };
    let mut tx = begin(store).await;
    assert!(tx.jws_keys("payerfsp").await.unwrap().is_empty());
    for key in [&first, &older, &same_time, &payee] {
        tx.insert_jws_key(key).await.unwrap();
    }
    let expected = [older.clone(), first.clone(), same_time.clone()];
    assert_eq!(
        tx.jws_keys("payerfsp").await.unwrap(),
        expected,
        "read your writes, oldest added first"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(tx.jws_keys("payerfsp").await.unwrap(), expected);
    assert_eq!(
        tx.jws_keys("payeefsp").await.unwrap(),
        std::slice::from_ref(&payee)
    );
    assert!(tx.jws_keys("nobody").await.unwrap().is_empty());
    drop(tx);

    let mut tx = begin(store).await;
    assert!(
        tx.retire_jws_key("payerfsp", &first.fingerprint, 400)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let retired = JwsKey {
        retired_at_ms: Some(400),
        ..first.clone()
    };
    let mut tx = read(store).await;
    assert_eq!(
        tx.jws_keys("payerfsp").await.unwrap(),
        [older, retired, same_time],
        "retired keys are kept, in place"
    );
    assert_eq!(
        tx.jws_keys("payeefsp").await.unwrap(),
        [payee],
        "retiring is per participant"
    );
}

/// A fingerprint registered twice for one participant is a duplicate — across transactions,
/// in one transaction, and after the first key was retired (retired keys stay registered).
pub async fn duplicate_jws_key(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp"]).await;
    let key = jws_key("payerfsp", 1);
    let mut tx = begin(store).await;
    tx.insert_jws_key(&key).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_jws_key(&JwsKey {
            alg: "ES256".to_owned(),
            public_key_pem: "other".to_owned(),
            added_at_ms: 9,
            ..key.clone()
        })
        .await,
        "committed fingerprint",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert!(
        tx.retire_jws_key("payerfsp", &key.fingerprint, 10)
            .await
            .unwrap()
    );
    assert_duplicate(
        tx.insert_jws_key(&key).await,
        "fingerprint of a retired key",
    );
    drop(tx);
    let mut tx = begin(store).await;
    tx.insert_jws_key(&jws_key("payerfsp", 2)).await.unwrap();
    assert_duplicate(
        tx.insert_jws_key(&jws_key("payerfsp", 2)).await,
        "duplicate inside one transaction",
    );
    drop(tx);

    let mut tx = read(store).await;
    assert_eq!(tx.jws_keys("payerfsp").await.unwrap(), [key]);
}

/// Keys are listed, retired and kept unique ignoring the participant name's ASCII case, but
/// stored under the name as registered (a key naming the participant in another case refers to
/// no participant).
pub async fn jws_keys_ignore_participant_case(store: &dyn LedgerStore) {
    seed_participants(store, &["PayerFSP"]).await;
    let key = jws_key("PayerFSP", 1);
    let mut tx = begin(store).await;
    tx.insert_jws_key(&key).await.unwrap();
    assert_eq!(
        tx.jws_keys("payerfsp").await.unwrap(),
        std::slice::from_ref(&key)
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    for name in ["PayerFSP", "payerfsp", "PAYERFSP"] {
        assert_eq!(
            tx.jws_keys(name).await.unwrap(),
            std::slice::from_ref(&key),
            "{name}"
        );
    }
    drop(tx);

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_jws_key(&jws_key("payerfsp", 1)).await,
        "same fingerprint, participant in another case",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.insert_jws_key(&jws_key("PAYERFSP", 2)).await,
        "participant not named as registered",
    );
    drop(tx);

    let mut tx = begin(store).await;
    assert!(
        tx.retire_jws_key("PAYERFSP", &key.fingerprint, 77)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.jws_keys("payerfsp").await.unwrap(),
        [JwsKey {
            retired_at_ms: Some(77),
            ..key
        }]
    );
}

/// A key is retired once: retiring it again, retiring an unknown key or a key of an unknown
/// participant returns `false` and changes nothing; fingerprints are matched exactly; a retire
/// that is rolled back leaves the key in use.
pub async fn retire_jws_key_only_once(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let key = jws_key("payerfsp", 0xab);
    let mut tx = begin(store).await;
    tx.insert_jws_key(&key).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    assert!(
        tx.retire_jws_key("payerfsp", &key.fingerprint, 50)
            .await
            .unwrap()
    );
    drop(tx);
    let mut tx = read(store).await;
    assert_eq!(
        tx.jws_keys("payerfsp").await.unwrap(),
        std::slice::from_ref(&key),
        "a rolled-back retire changes nothing"
    );
    drop(tx);

    let mut tx = begin(store).await;
    let fingerprint = key.fingerprint.as_str();
    assert!(
        !tx.retire_jws_key("payerfsp", &"cd".repeat(32), 60)
            .await
            .unwrap(),
        "unknown fingerprint"
    );
    assert!(
        !tx.retire_jws_key("payerfsp", &fingerprint.to_uppercase(), 60)
            .await
            .unwrap(),
        "fingerprints are matched exactly"
    );
    assert!(
        !tx.retire_jws_key("payeefsp", fingerprint, 60)
            .await
            .unwrap(),
        "key of another participant"
    );
    assert!(
        !tx.retire_jws_key("nobody", fingerprint, 60).await.unwrap(),
        "unknown participant"
    );
    assert!(
        tx.retire_jws_key("payerfsp", fingerprint, 100)
            .await
            .unwrap()
    );
    assert!(
        !tx.retire_jws_key("payerfsp", fingerprint, 200)
            .await
            .unwrap(),
        "retired twice in one transaction"
    );
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    assert!(
        !tx.retire_jws_key("payerfsp", fingerprint, 300)
            .await
            .unwrap(),
        "retired twice across transactions"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.jws_keys("payerfsp").await.unwrap(),
        [JwsKey {
            retired_at_ms: Some(100),
            ..key
        }],
        "the first retirement time stays"
    );
}

/// Evidence round-trips byte for byte (binary, non-UTF-8 and empty bodies; absent optional
/// headers); a subject's rows come back in append order — not by time — across transactions;
/// subjects are matched exactly; identical rows are all kept.
pub async fn evidence_round_trip(store: &dyn LedgerStore) {
    let prepare = evidence("t1", "transfer.prepare", 5);
    let fulfil = Evidence {
        kind: "transfer.fulfil".to_owned(),
        participant: "payeefsp".to_owned(),
        method: "PUT".to_owned(),
        uri: "/transfers/t1".to_owned(),
        destination: None,
        date: None,
        signature: None,
        key_fingerprint: None,
        // Not UTF-8: a lone continuation byte, an invalid lead, NUL, and a truncated sequence.
        body: vec![0x80, b'{', 0xff, 0xfe, 0x00, b'"', 0xc3, 0x28, 0xe2, 0x82],
        ..evidence("t1", "transfer.fulfil", 9)
    };
    let quote = Evidence {
        kind: "quote.request".to_owned(),
        uri: "/quotes".to_owned(),
        body: Vec::new(),
        ..evidence("q1", "quote.request", 1)
    };
    // Every byte value, and big enough to span several database pages.
    let abort = Evidence {
        kind: "transfer.abort".to_owned(),
        method: "PUT".to_owned(),
        uri: "/transfers/t1/error".to_owned(),
        body: (0..=255_u8).cycle().take(70_000).collect(),
        // Earlier than everything else: order is by append, not by time.
        received_at_ms: 0,
        ..evidence("t1", "transfer.abort", 0)
    };
    assert!(std::str::from_utf8(&fulfil.body).is_err());

    let mut tx = begin(store).await;
    assert!(tx.evidence("t1").await.unwrap().is_empty());
    tx.append_evidence(&prepare).await.unwrap();
    tx.append_evidence(&quote).await.unwrap();
    tx.append_evidence(&fulfil).await.unwrap();
    assert_eq!(
        tx.evidence("t1").await.unwrap(),
        [prepare.clone(), fulfil.clone()],
        "read your writes"
    );
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.append_evidence(&abort).await.unwrap();
    tx.append_evidence(&quote).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    let got = tx.evidence("t1").await.unwrap();
    assert_eq!(got, [prepare, fulfil.clone(), abort]);
    assert_eq!(got[1].body, fulfil.body, "binary body kept byte for byte");
    assert_eq!(
        tx.evidence("q1").await.unwrap(),
        [quote.clone(), quote],
        "identical rows are all kept"
    );
    assert!(tx.evidence("q1").await.unwrap()[0].body.is_empty());
    assert!(tx.evidence("T1").await.unwrap().is_empty(), "exact subject");
    assert!(tx.evidence("t").await.unwrap().is_empty(), "exact subject");
    assert!(tx.evidence("nothing").await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Participant TLS settings.

/// TLS settings round-trip (both fields set, neither set, a multi-line bundle kept byte for
/// byte); they are read back in the same transaction and after commit; lookups are by exact
/// name; a participant without settings has none.
pub async fn participant_tls_round_trip(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp", "otherfsp"]).await;
    let payer = ParticipantTls {
        callback_ca_pem: Some(
            "-----BEGIN CERTIFICATE-----\r\nAAAA\r\n-----END CERTIFICATE-----\r\n\
             -----BEGIN CERTIFICATE-----\nBBBB\n-----END CERTIFICATE-----"
                .to_owned(),
        ),
        ..participant_tls("payerfsp", 0xa1)
    };
    let payee = ParticipantTls {
        spki_pin: None,
        callback_ca_pem: None,
        updated_at_ms: -1,
        ..participant_tls("payeefsp", 2)
    };
    let mut tx = begin(store).await;
    assert_eq!(tx.participant_tls("payerfsp").await.unwrap(), None);
    tx.upsert_participant_tls(&payer).await.unwrap();
    tx.upsert_participant_tls(&payee).await.unwrap();
    assert_eq!(
        tx.participant_tls("payerfsp").await.unwrap(),
        Some(payer.clone()),
        "read your writes"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(tx.participant_tls("payerfsp").await.unwrap(), Some(payer));
    assert_eq!(tx.participant_tls("payeefsp").await.unwrap(), Some(payee));
    assert_eq!(tx.participant_tls("otherfsp").await.unwrap(), None);
    assert_eq!(tx.participant_tls("nobody").await.unwrap(), None);
    assert_eq!(
        tx.participant_tls("PAYERFSP").await.unwrap(),
        None,
        "exact name"
    );
    assert_eq!(
        tx.participant_tls("payer").await.unwrap(),
        None,
        "exact name"
    );
}

/// An upsert replaces every field of the participant's row (a field set to `None` is cleared),
/// in the same transaction and across transactions, and leaves other participants alone.
pub async fn participant_tls_upsert_replaces(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let first = participant_tls("payerfsp", 1);
    let payee = participant_tls("payeefsp", 9);
    let mut tx = begin(store).await;
    tx.upsert_participant_tls(&first).await.unwrap();
    tx.upsert_participant_tls(&payee).await.unwrap();
    let second = ParticipantTls {
        callback_ca_pem: None,
        ..participant_tls("payerfsp", 2)
    };
    tx.upsert_participant_tls(&second).await.unwrap();
    assert_eq!(
        tx.participant_tls("payerfsp").await.unwrap(),
        Some(second.clone()),
        "replaced in the same transaction"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.participant_tls("payerfsp").await.unwrap(),
        Some(second.clone())
    );
    drop(tx);

    let third = ParticipantTls {
        spki_pin: None,
        ..participant_tls("payerfsp", 3)
    };
    let mut tx = begin(store).await;
    tx.upsert_participant_tls(&third).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.participant_tls("payerfsp").await.unwrap(),
        Some(third.clone()),
        "replaced across transactions, the pin cleared"
    );
    assert_eq!(
        tx.participant_tls("payeefsp").await.unwrap(),
        Some(payee.clone()),
        "other participants untouched"
    );
    assert_eq!(
        tx.all_participant_tls().await.unwrap(),
        [payee, third],
        "one row per participant"
    );
}

/// Settings must refer to an existing participant named exactly as registered; a refused
/// upsert stores nothing.
pub async fn participant_tls_unknown_participant_refused(store: &dyn LedgerStore) {
    seed_participants(store, &["PayerFSP"]).await;
    let mut tx = begin(store).await;
    assert_refused(
        tx.upsert_participant_tls(&participant_tls("ghost", 1))
            .await,
        "tls settings of an unknown participant",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.upsert_participant_tls(&participant_tls("payerfsp", 1))
            .await,
        "participant not named as registered",
    );
    drop(tx);

    let mut tx = read(store).await;
    assert!(tx.all_participant_tls().await.unwrap().is_empty());
    assert_eq!(tx.participant_tls("ghost").await.unwrap(), None);
    assert_eq!(tx.participant_tls("payerfsp").await.unwrap(), None);
    drop(tx);

    // The name as registered is accepted.
    let tls = participant_tls("PayerFSP", 1);
    let mut tx = begin(store).await;
    tx.upsert_participant_tls(&tls).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.participant_tls("PayerFSP").await.unwrap(), Some(tls));
}

/// `all_participant_tls` lists every stored row, ordered by participant name in byte order
/// (upper case before lower case), whatever the insertion order; participants without settings
/// are not listed.
pub async fn all_participant_tls_lists_all(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "Zeta", "alpha", "payeefsp", "bare"]).await;
    let mut tx = begin(store).await;
    assert!(tx.all_participant_tls().await.unwrap().is_empty());
    let rows = [
        participant_tls("payerfsp", 1),
        ParticipantTls {
            spki_pin: None,
            ..participant_tls("Zeta", 2)
        },
        ParticipantTls {
            callback_ca_pem: None,
            ..participant_tls("alpha", 3)
        },
        participant_tls("payeefsp", 4),
    ];
    for row in &rows {
        tx.upsert_participant_tls(row).await.unwrap();
    }
    let expected = [
        rows[1].clone(),
        rows[2].clone(),
        rows[3].clone(),
        rows[0].clone(),
    ];
    assert_eq!(
        tx.all_participant_tls().await.unwrap(),
        expected,
        "read your writes, by name"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(tx.all_participant_tls().await.unwrap(), expected);
    assert_eq!(tx.participant_tls("bare").await.unwrap(), None);
}

/// Dropping a transaction discards its upserts — a new row and a replacement alike.
pub async fn participant_tls_rollback_on_drop(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let kept = participant_tls("payerfsp", 1);
    let mut tx = begin(store).await;
    tx.upsert_participant_tls(&kept).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.upsert_participant_tls(&participant_tls("payerfsp", 2))
        .await
        .unwrap();
    tx.upsert_participant_tls(&participant_tls("payeefsp", 3))
        .await
        .unwrap();
    assert_eq!(tx.all_participant_tls().await.unwrap().len(), 2);
    drop(tx);

    // Visible neither to readers nor to the next writer.
    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(
            tx.participant_tls("payerfsp").await.unwrap(),
            Some(kept.clone())
        );
        assert_eq!(tx.participant_tls("payeefsp").await.unwrap(), None);
        assert_eq!(
            tx.all_participant_tls().await.unwrap(),
            std::slice::from_ref(&kept)
        );
    }
}

/// A read view refuses TLS settings writes (for a participant that exists, new or replacing)
/// and still reads them.
pub async fn participant_tls_read_view_refuses_writes(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp", "payeefsp"]).await;
    let stored = participant_tls("payerfsp", 1);
    let mut tx = begin(store).await;
    tx.upsert_participant_tls(&stored).await.unwrap();
    tx.commit().await.unwrap();

    let mut view = read(store).await;
    assert_refused(
        view.upsert_participant_tls(&participant_tls("payerfsp", 2))
            .await,
        "replacing tls settings through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_refused(
        view.upsert_participant_tls(&participant_tls("payeefsp", 3))
            .await,
        "new tls settings through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_eq!(
        view.participant_tls("payerfsp").await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(view.participant_tls("payeefsp").await.unwrap(), None);
    assert_eq!(view.all_participant_tls().await.unwrap(), [stored]);
}

// ---------------------------------------------------------------------------------------------
// Operator IAM.

/// A PHC string of the argon2id form (not a real hash: the store only checks the form).
fn phc(n: u32) -> String {
    format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdC{n:04}$aGFzaC1vZi1wYXNzd29yZC1udW1iZXI{n:04}")
}

/// 64 lower-case hex digits: the byte `n` repeated (a stand-in for a token's SHA-256).
fn sha256_hex(n: u8) -> String {
    format!("{n:02x}").repeat(32)
}

/// A freshly created operator: must change the password, no TOTP, no failures.
fn operator(name: &str) -> Operator {
    Operator {
        name: name.to_owned(),
        password_phc: phc(0),
        password_changed_at_ms: 1_700_000_000_000,
        must_change_password: true,
        failed_attempts: 0,
        last_failure_at_ms: None,
        totp_secret_b32: None,
        totp_last_step: None,
        recovery_code_hashes: Vec::new(),
        disabled: false,
        created_at_ms: 1_700_000_000_000,
    }
}

/// An enrolled operator with every optional field set.
fn enrolled_operator(name: &str) -> Operator {
    Operator {
        password_phc: phc(1),
        password_changed_at_ms: 1_700_000_100_000,
        must_change_password: false,
        failed_attempts: 3,
        last_failure_at_ms: Some(1_700_000_200_000),
        totp_secret_b32: Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned()),
        totp_last_step: Some(56_666_673),
        recovery_code_hashes: vec![phc(10), phc(11), phc(12)],
        ..operator(name)
    }
}

fn session(n: u8, operator: &str) -> SessionRecord {
    SessionRecord {
        id_hash: sha256_hex(n),
        operator: operator.to_owned(),
        created_at_ms: 1_700_000_000_000 + i64::from(n),
        last_seen_ms: 1_700_000_000_000 + i64::from(n),
        idle_timeout_ms: 15 * 60 * 1000,
        absolute_timeout_ms: 8 * 60 * 60 * 1000,
        mfa_at_ms: None,
    }
}

fn api_token(n: u8, operator: &str) -> ApiTokenRecord {
    ApiTokenRecord {
        id_hash: sha256_hex(n),
        operator: operator.to_owned(),
        label: format!("automation {n}"),
        scopes: vec!["participants.read".to_owned(), "transfers.read".to_owned()],
        created_at_ms: 1_700_000_000_000 + i64::from(n),
        expires_at_ms: 1_800_000_000_000,
        revoked_at_ms: None,
    }
}

/// A pending request by `maker`, created at 1_700_000_000_000 + `n`.
fn approval(id: &str, maker: &str, n: i64) -> ApprovalRecord {
    ApprovalRecord {
        id: id.to_owned(),
        permission: "funds.in".to_owned(),
        payload_json: format!(r#"{{"participant":"payerfsp","amount":"{n}.50"}}"#),
        maker: maker.to_owned(),
        created_at_ms: 1_700_000_000_000 + n,
        expires_at_ms: 1_700_086_400_000 + n,
        required_approvals: 1,
        state: ApprovalRecord::PENDING.to_owned(),
        approvals_json: "[]".to_owned(),
        decided_by: None,
        reason: None,
        executed_at_ms: None,
        result_json: None,
    }
}

/// `approval` after `checker` approved it at `at` (enough approvals: approved).
fn approved(approval: &ApprovalRecord, checker: &str, at: i64) -> ApprovalRecord {
    ApprovalRecord {
        state: ApprovalRecord::APPROVED.to_owned(),
        approvals_json: format!(r#"[{{"user":"{checker}","at":{at}}}]"#),
        decided_by: Some(checker.to_owned()),
        ..approval.clone()
    }
}

fn vote(approval_id: &str, voter: &str, at_ms: i64) -> ApprovalVote {
    ApprovalVote {
        approval_id: approval_id.to_owned(),
        voter: voter.to_owned(),
        at_ms,
    }
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|&name| name.to_owned()).collect()
}

/// Commits `operators` (as created by [`operator`]) in one transaction.
async fn seed_operators(store: &dyn LedgerStore, names: &[&str]) {
    let mut tx = begin(store).await;
    for name in names {
        tx.insert_operator(&operator(name))
            .await
            .expect("insert operator");
    }
    tx.commit().await.expect("commit");
}

/// Operators round-trip (every optional field set and unset, extreme integers); `operator`
/// finds one by its name in any ASCII case and returns it as registered; `operators` lists
/// them by name (byte order); `update_operator` rewrites every field but the name and the
/// creation time, options and lists can be cleared.
pub async fn operators_round_trip(store: &dyn LedgerStore) {
    let plain = operator("alice");
    let full = Operator {
        failed_attempts: u32::MAX,
        totp_last_step: Some(i64::MAX as u64),
        disabled: true,
        created_at_ms: -5,
        ..enrolled_operator("Bob")
    };
    let third = operator("carol.o'neil-ünïcode");
    let mut tx = begin(store).await;
    assert_eq!(tx.operator("alice").await.unwrap(), None);
    assert!(tx.operators().await.unwrap().is_empty());
    for row in [&plain, &full, &third] {
        tx.insert_operator(row).await.unwrap();
    }
    assert_eq!(
        tx.operator("alice").await.unwrap().as_ref(),
        Some(&plain),
        "read your writes"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    for row in [&plain, &full, &third] {
        assert_eq!(tx.operator(&row.name).await.unwrap().as_ref(), Some(row));
    }
    for name in ["ALICE", "Alice", "aLiCe"] {
        assert_eq!(
            tx.operator(name).await.unwrap().as_ref(),
            Some(&plain),
            "{name}: found ignoring ASCII case, as registered"
        );
    }
    assert_eq!(tx.operator("bob").await.unwrap().as_ref(), Some(&full));
    assert_eq!(tx.operator("alic").await.unwrap(), None);
    assert_eq!(tx.operator("nobody").await.unwrap(), None);
    assert_eq!(
        tx.operators().await.unwrap(),
        [full.clone(), plain.clone(), third.clone()],
        "byte order of names"
    );
    drop(tx);

    let changed = Operator {
        password_phc: phc(2),
        password_changed_at_ms: 1_700_000_300_000,
        must_change_password: false,
        failed_attempts: 1,
        last_failure_at_ms: Some(1_700_000_400_000),
        totp_secret_b32: Some("GEZDGNBVGY3TQOJQGEZDGNBVGY".to_owned()),
        totp_last_step: Some(0),
        recovery_code_hashes: vec![phc(20)],
        disabled: true,
        // Ignored by update_operator.
        created_at_ms: 42,
        ..plain.clone()
    };
    let cleared = Operator {
        failed_attempts: 0,
        last_failure_at_ms: None,
        totp_secret_b32: None,
        totp_last_step: None,
        recovery_code_hashes: Vec::new(),
        disabled: false,
        ..full.clone()
    };
    let mut tx = begin(store).await;
    tx.update_operator(&changed).await.unwrap();
    tx.update_operator(&cleared).await.unwrap();
    let expected = Operator {
        created_at_ms: plain.created_at_ms,
        ..changed
    };
    assert_eq!(
        tx.operator("alice").await.unwrap().as_ref(),
        Some(&expected)
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.operator("alice").await.unwrap(), Some(expected));
    assert_eq!(
        tx.operator("Bob").await.unwrap(),
        Some(cleared),
        "options and lists can be cleared"
    );
    assert_eq!(tx.operator(&third.name).await.unwrap(), Some(third));
}

/// An operator name that differs from an existing one only in ASCII case is a duplicate, in
/// the same transaction and across transactions; the refused insert changes nothing.
pub async fn operator_names_unique_ignoring_case(store: &dyn LedgerStore) {
    seed_operators(store, &["Alice"]).await;
    for name in ["Alice", "alice", "ALICE"] {
        let mut tx = begin(store).await;
        assert_duplicate(
            tx.insert_operator(&enrolled_operator(name)).await,
            &format!("{name} next to Alice"),
        );
    }
    let mut tx = begin(store).await;
    tx.insert_operator(&operator("bob")).await.unwrap();
    assert_duplicate(
        tx.insert_operator(&operator("BOB")).await,
        "other case, same transaction",
    );
    drop(tx);

    let mut tx = read(store).await;
    assert_eq!(tx.operators().await.unwrap(), [operator("Alice")]);
}

/// Secrets are stored only in their hashed or encoded forms: a password that is not a PHC
/// string, a TOTP secret that is not base32 of at least 128 bits and a TOTP step beyond the
/// stored range are refused (never as duplicates), on insert and on update; updating an
/// operator that does not exist (exact name) is refused.
pub async fn operator_secrets_stored_only_encoded(store: &dyn LedgerStore) {
    seed_operators(store, &["alice"]).await;
    let bad = [
        (
            Operator {
                password_phc: "correct horse battery staple".to_owned(),
                ..operator("x")
            },
            "a plain password",
        ),
        (
            Operator {
                password_phc: "$argon2id".to_owned(),
                ..operator("x")
            },
            "not a PHC string",
        ),
        (
            Operator {
                totp_secret_b32: Some("jbswy3dpehpk3pxpjbswy3dpehpk3pxp".to_owned()),
                ..operator("x")
            },
            "lower-case base32",
        ),
        (
            Operator {
                totp_secret_b32: Some("JBSWY3DPEHPK3PXP".to_owned()),
                ..operator("x")
            },
            "80-bit TOTP secret",
        ),
        (
            Operator {
                totp_secret_b32: Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PX=".to_owned()),
                ..operator("x")
            },
            "padded base32",
        ),
        (
            Operator {
                totp_last_step: Some(u64::MAX),
                ..operator("x")
            },
            "TOTP step beyond i64",
        ),
    ];
    for (row, what) in &bad {
        let mut tx = begin(store).await;
        assert_refused(tx.insert_operator(row).await, what);
        drop(tx);
        let mut tx = begin(store).await;
        assert_refused(
            tx.update_operator(&Operator {
                name: "alice".to_owned(),
                ..row.clone()
            })
            .await,
            what,
        );
    }
    // The same name in another case is another key for an update.
    for name in ["ALICE", "ghost"] {
        let mut tx = begin(store).await;
        assert_refused(
            tx.update_operator(&enrolled_operator(name)).await,
            &format!("update of unknown operator {name}"),
        );
    }
    let mut tx = read(store).await;
    assert_eq!(tx.operators().await.unwrap(), [operator("alice")]);
}

/// The password history comes back newest (last pushed, whatever the times) first, at most
/// `limit` entries, per operator (name compared ignoring ASCII case); pushes need an existing
/// operator named exactly and a PHC string.
pub async fn password_history_newest_first(store: &dyn LedgerStore) {
    seed_operators(store, &["alice", "Bob"]).await;
    let mut tx = begin(store).await;
    assert!(tx.password_history("alice", 5).await.unwrap().is_empty());
    for n in 1..=4 {
        tx.push_password_history("alice", &phc(n), 1_000 - i64::from(n))
            .await
            .unwrap();
    }
    tx.push_password_history("Bob", &phc(100), 0).await.unwrap();
    assert_eq!(
        tx.password_history("alice", 2).await.unwrap(),
        [phc(4), phc(3)],
        "read your writes"
    );
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    for n in 5..=7 {
        tx.push_password_history("alice", &phc(n), 5).await.unwrap();
    }
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.password_history("alice", 5).await.unwrap(),
        [phc(7), phc(6), phc(5), phc(4), phc(3)]
    );
    assert_eq!(
        tx.password_history("alice", u32::MAX).await.unwrap().len(),
        7
    );
    assert!(tx.password_history("alice", 0).await.unwrap().is_empty());
    assert_eq!(
        tx.password_history("ALICE", 1).await.unwrap(),
        [phc(7)],
        "name compared ignoring case"
    );
    assert_eq!(tx.password_history("bob", 5).await.unwrap(), [phc(100)]);
    assert!(tx.password_history("nobody", 5).await.unwrap().is_empty());
    drop(tx);

    for (operator, entry, what) in [
        ("ghost", phc(1), "unknown operator"),
        ("bob", phc(1), "operator not named as registered"),
        ("alice", "hunter2hunter2".to_owned(), "a plain password"),
    ] {
        let mut tx = begin(store).await;
        assert_refused(tx.push_password_history(operator, &entry, 9).await, what);
    }
    let mut tx = read(store).await;
    assert_eq!(
        tx.password_history("alice", u32::MAX).await.unwrap().len(),
        7
    );
    assert_eq!(tx.password_history("bob", 5).await.unwrap(), [phc(100)]);
}

/// Custom roles round-trip and are listed by name; a redefinition replaces the permissions
/// and keeps the creation time; deleting reports whether the role existed and removes its
/// assignments, leaving other roles' (built-in ones included) alone.
pub async fn custom_roles_round_trip(store: &dyn LedgerStore) {
    seed_operators(store, &["alice", "bob"]).await;
    let payments = CustomRole {
        name: "payments-desk".to_owned(),
        permissions: strings(&["participants.read", "transfers.read"]),
        created_at_ms: 1_700_000_000_000,
    };
    let readers = CustomRole {
        name: "readers".to_owned(),
        permissions: strings(&["participants.read"]),
        created_at_ms: 1_700_000_000_001,
    };
    let empty = CustomRole {
        name: "a.empty".to_owned(),
        permissions: Vec::new(),
        created_at_ms: 0,
    };
    let mut tx = begin(store).await;
    assert!(tx.custom_roles().await.unwrap().is_empty());
    for role in [&readers, &payments, &empty] {
        tx.upsert_custom_role(role).await.unwrap();
    }
    assert_eq!(
        tx.custom_roles().await.unwrap(),
        [empty.clone(), payments.clone(), readers.clone()],
        "read your writes, by name"
    );
    tx.set_operator_roles("alice", &strings(&["payments-desk", "auditor"]))
        .await
        .unwrap();
    tx.set_operator_roles("bob", &strings(&["payments-desk", "readers"]))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let redefined = CustomRole {
        permissions: strings(&["transfers.read"]),
        created_at_ms: 1_800_000_000_000,
        ..payments.clone()
    };
    let mut tx = begin(store).await;
    tx.upsert_custom_role(&redefined).await.unwrap();
    tx.commit().await.unwrap();
    let payments_now = CustomRole {
        permissions: redefined.permissions.clone(),
        ..payments.clone()
    };
    let mut tx = read(store).await;
    assert_eq!(
        tx.custom_roles().await.unwrap(),
        [empty.clone(), payments_now, readers.clone()],
        "permissions replaced, creation time kept"
    );
    drop(tx);

    let mut tx = begin(store).await;
    assert!(tx.delete_custom_role("payments-desk").await.unwrap());
    assert!(!tx.delete_custom_role("payments-desk").await.unwrap());
    assert!(
        !tx.delete_custom_role("READERS").await.unwrap(),
        "exact name"
    );
    assert!(
        !tx.delete_custom_role("auditor").await.unwrap(),
        "built-in roles have no row"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.custom_roles().await.unwrap(), [empty, readers]);
    assert_eq!(
        tx.operator_roles("alice").await.unwrap(),
        ["auditor"],
        "assignments of the deleted role are gone, others kept"
    );
    assert_eq!(tx.operator_roles("bob").await.unwrap(), ["readers"]);
}

/// `set_operator_roles` replaces every assignment of one operator (names given twice assigned
/// once, listed by name), leaves other operators alone, and needs an existing operator named
/// exactly, even to clear; `operator_roles` compares the name ignoring ASCII case.
pub async fn operator_roles_replaced(store: &dyn LedgerStore) {
    seed_operators(store, &["Alice", "bob"]).await;
    let mut tx = begin(store).await;
    assert!(tx.operator_roles("Alice").await.unwrap().is_empty());
    tx.set_operator_roles("Alice", &strings(&["operator", "auditor", "operator"]))
        .await
        .unwrap();
    tx.set_operator_roles("bob", &strings(&["hub-administrator"]))
        .await
        .unwrap();
    assert_eq!(
        tx.operator_roles("Alice").await.unwrap(),
        ["auditor", "operator"],
        "read your writes, by name, once each"
    );
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.set_operator_roles("Alice", &strings(&["security-officer", "auditor"]))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.operator_roles("Alice").await.unwrap(),
        ["auditor", "security-officer"],
        "replaced, not merged"
    );
    assert_eq!(
        tx.operator_roles("ALICE").await.unwrap(),
        ["auditor", "security-officer"],
        "looked up ignoring case"
    );
    assert_eq!(
        tx.operator_roles("bob").await.unwrap(),
        ["hub-administrator"]
    );
    assert!(tx.operator_roles("nobody").await.unwrap().is_empty());
    drop(tx);

    for (operator, roles, what) in [
        ("ghost", strings(&["auditor"]), "unknown operator"),
        ("ghost", Vec::new(), "clearing an unknown operator"),
        (
            "alice",
            strings(&["auditor"]),
            "operator not named as registered",
        ),
        (
            "alice",
            Vec::new(),
            "clearing, operator not named as registered",
        ),
    ] {
        let mut tx = begin(store).await;
        assert_refused(tx.set_operator_roles(operator, &roles).await, what);
    }

    let mut tx = begin(store).await;
    tx.set_operator_roles("Alice", &[]).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert!(tx.operator_roles("Alice").await.unwrap().is_empty());
    assert_eq!(
        tx.operator_roles("bob").await.unwrap(),
        ["hub-administrator"]
    );
}

/// Sessions round-trip; `update_session` writes the last use and the MFA time only; deleting
/// reports whether the session existed; ids are unique; the hash must be 64 lower-case hex
/// digits and the timeouts positive; the operator must exist (exact name); updating a missing
/// session is refused.
pub async fn sessions_round_trip(store: &dyn LedgerStore) {
    seed_operators(store, &["alice", "Bob"]).await;
    let first = session(0xa1, "alice");
    let second = SessionRecord {
        mfa_at_ms: Some(1_700_000_000_500),
        created_at_ms: -1,
        ..session(2, "Bob")
    };
    let mut tx = begin(store).await;
    assert_eq!(tx.session(&first.id_hash).await.unwrap(), None);
    tx.insert_session(&first).await.unwrap();
    tx.insert_session(&second).await.unwrap();
    assert_eq!(
        tx.session(&first.id_hash).await.unwrap().as_ref(),
        Some(&first)
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.session(&first.id_hash).await.unwrap().as_ref(),
        Some(&first)
    );
    assert_eq!(
        tx.session(&second.id_hash).await.unwrap().as_ref(),
        Some(&second)
    );
    assert_eq!(
        tx.session(&first.id_hash.to_uppercase()).await.unwrap(),
        None,
        "exact hash"
    );
    assert_eq!(tx.session(&sha256_hex(9)).await.unwrap(), None);
    drop(tx);

    let touched = SessionRecord {
        last_seen_ms: 1_700_000_900_000,
        mfa_at_ms: Some(1_700_000_900_000),
        ..first.clone()
    };
    let attempt = SessionRecord {
        operator: "Bob".to_owned(),
        created_at_ms: 7,
        idle_timeout_ms: 1,
        absolute_timeout_ms: 2,
        ..touched.clone()
    };
    let cleared = SessionRecord {
        mfa_at_ms: None,
        ..second.clone()
    };
    let mut tx = begin(store).await;
    tx.update_session(&attempt).await.unwrap();
    tx.update_session(&cleared).await.unwrap();
    assert_eq!(
        tx.session(&first.id_hash).await.unwrap().as_ref(),
        Some(&touched)
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.session(&first.id_hash).await.unwrap(), Some(touched));
    assert_eq!(tx.session(&second.id_hash).await.unwrap(), Some(cleared));
    drop(tx);

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_session(&session(0xa1, "Bob")).await,
        "committed session id",
    );
    drop(tx);
    for (row, what) in [
        (
            SessionRecord {
                id_hash: sha256_hex(0xab).to_uppercase(),
                ..session(3, "alice")
            },
            "upper-case hash",
        ),
        (
            SessionRecord {
                id_hash: "fls_plain-session-id".to_owned(),
                ..session(3, "alice")
            },
            "the session id itself",
        ),
        (
            SessionRecord {
                id_hash: sha256_hex(3)[1..].to_owned(),
                ..session(3, "alice")
            },
            "63 hex digits",
        ),
        (
            SessionRecord {
                idle_timeout_ms: 0,
                ..session(3, "alice")
            },
            "no idle timeout",
        ),
        (
            SessionRecord {
                absolute_timeout_ms: -1,
                ..session(3, "alice")
            },
            "negative absolute timeout",
        ),
        (session(3, "ghost"), "unknown operator"),
        (session(3, "bob"), "operator not named as registered"),
    ] {
        let mut tx = begin(store).await;
        assert_refused(tx.insert_session(&row).await, what);
    }
    let mut tx = begin(store).await;
    assert_refused(
        tx.update_session(&session(9, "alice")).await,
        "update of a missing session",
    );
    drop(tx);

    let mut tx = begin(store).await;
    assert!(tx.delete_session(&first.id_hash).await.unwrap());
    assert!(!tx.delete_session(&first.id_hash).await.unwrap());
    assert!(!tx.delete_session(&sha256_hex(9)).await.unwrap());
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.session(&first.id_hash).await.unwrap(), None);
    assert!(tx.session(&second.id_hash).await.unwrap().is_some());
    assert_eq!(tx.session(&sha256_hex(3)).await.unwrap(), None);
}

/// `delete_operator_sessions` deletes every session of one operator (name compared ignoring
/// ASCII case), in the same transaction's view and after commit, and counts them.
pub async fn delete_operator_sessions_counts(store: &dyn LedgerStore) {
    seed_operators(store, &["Alice", "bob"]).await;
    let mut tx = begin(store).await;
    for n in 1..=2 {
        tx.insert_session(&session(n, "Alice")).await.unwrap();
    }
    tx.insert_session(&session(10, "bob")).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.insert_session(&session(3, "Alice")).await.unwrap();
    assert_eq!(tx.delete_operator_sessions("alice").await.unwrap(), 3);
    assert_eq!(tx.session(&sha256_hex(3)).await.unwrap(), None);
    assert_eq!(tx.delete_operator_sessions("ALICE").await.unwrap(), 0);
    assert_eq!(tx.delete_operator_sessions("nobody").await.unwrap(), 0);
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    for n in 1..=3 {
        assert_eq!(tx.session(&sha256_hex(n)).await.unwrap(), None);
    }
    assert_eq!(
        tx.session(&sha256_hex(10)).await.unwrap(),
        Some(session(10, "bob")),
        "other operators' sessions stay"
    );
}

/// API tokens round-trip (revoked ones included) and are listed per operator (name compared
/// ignoring ASCII case) oldest first, insertion order among equal times; ids are unique; the
/// hash must be 64 lower-case hex digits; the expiry must follow the creation; the operator
/// must exist (exact name).
pub async fn api_tokens_round_trip(store: &dyn LedgerStore) {
    seed_operators(store, &["Alice", "bob"]).await;
    let later = ApiTokenRecord {
        created_at_ms: 300,
        expires_at_ms: 301,
        ..api_token(1, "Alice")
    };
    let earlier = ApiTokenRecord {
        created_at_ms: 100,
        scopes: Vec::new(),
        label: String::new(),
        revoked_at_ms: Some(200),
        ..api_token(2, "Alice")
    };
    let same_time = ApiTokenRecord {
        created_at_ms: 300,
        ..api_token(3, "Alice")
    };
    let other = api_token(4, "bob");
    let mut tx = begin(store).await;
    assert!(tx.api_tokens("Alice").await.unwrap().is_empty());
    for token in [&later, &earlier, &same_time, &other] {
        tx.insert_api_token(token).await.unwrap();
    }
    let expected = [earlier.clone(), later.clone(), same_time.clone()];
    assert_eq!(
        tx.api_tokens("Alice").await.unwrap(),
        expected,
        "read your writes"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(tx.api_tokens("Alice").await.unwrap(), expected);
    assert_eq!(
        tx.api_tokens("alice").await.unwrap(),
        expected,
        "ignoring case"
    );
    assert_eq!(
        tx.api_tokens("bob").await.unwrap(),
        std::slice::from_ref(&other)
    );
    assert!(tx.api_tokens("nobody").await.unwrap().is_empty());
    for token in [&later, &earlier, &same_time, &other] {
        assert_eq!(
            tx.api_token(&token.id_hash).await.unwrap().as_ref(),
            Some(token)
        );
    }
    assert_eq!(tx.api_token(&sha256_hex(9)).await.unwrap(), None);
    drop(tx);

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_api_token(&api_token(1, "bob")).await,
        "committed token hash",
    );
    drop(tx);
    for (row, what) in [
        (
            ApiTokenRecord {
                id_hash: "flt_plain-token".to_owned(),
                ..api_token(5, "bob")
            },
            "the token itself",
        ),
        (
            ApiTokenRecord {
                id_hash: sha256_hex(0xcd).to_uppercase(),
                ..api_token(5, "bob")
            },
            "upper-case hash",
        ),
        (
            ApiTokenRecord {
                expires_at_ms: api_token(5, "bob").created_at_ms,
                ..api_token(5, "bob")
            },
            "expiry at creation",
        ),
        (api_token(5, "ghost"), "unknown operator"),
        (api_token(5, "BOB"), "operator not named as registered"),
    ] {
        let mut tx = begin(store).await;
        assert_refused(tx.insert_api_token(&row).await, what);
    }
    let mut tx = read(store).await;
    assert_eq!(tx.api_token(&sha256_hex(5)).await.unwrap(), None);
    assert_eq!(tx.api_tokens("bob").await.unwrap(), [other]);
}

/// A token is revoked once: revoking it again (in the same or a later transaction), revoking
/// an unknown token or one inserted revoked returns `false` and keeps the first time; a
/// rolled-back revocation leaves the token usable.
pub async fn revoke_api_token_only_once(store: &dyn LedgerStore) {
    seed_operators(store, &["alice"]).await;
    let token = api_token(0xab, "alice");
    let born_revoked = ApiTokenRecord {
        revoked_at_ms: Some(5),
        ..api_token(2, "alice")
    };
    let mut tx = begin(store).await;
    tx.insert_api_token(&token).await.unwrap();
    tx.insert_api_token(&born_revoked).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    assert!(tx.revoke_api_token(&token.id_hash, 50).await.unwrap());
    drop(tx);
    let mut tx = read(store).await;
    assert_eq!(
        tx.api_token(&token.id_hash).await.unwrap().as_ref(),
        Some(&token),
        "a rolled-back revocation changes nothing"
    );
    drop(tx);

    let mut tx = begin(store).await;
    assert!(
        !tx.revoke_api_token(&sha256_hex(9), 60).await.unwrap(),
        "unknown token"
    );
    assert!(
        !tx.revoke_api_token(&token.id_hash.to_uppercase(), 60)
            .await
            .unwrap(),
        "hashes are matched exactly"
    );
    assert!(
        !tx.revoke_api_token(&born_revoked.id_hash, 60)
            .await
            .unwrap(),
        "inserted revoked"
    );
    assert!(tx.revoke_api_token(&token.id_hash, 100).await.unwrap());
    assert!(
        !tx.revoke_api_token(&token.id_hash, 200).await.unwrap(),
        "revoked twice in one transaction"
    );
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    assert!(
        !tx.revoke_api_token(&token.id_hash, 300).await.unwrap(),
        "revoked twice across transactions"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.api_tokens("alice").await.unwrap(),
        [
            born_revoked,
            ApiTokenRecord {
                revoked_at_ms: Some(100),
                ..token
            }
        ],
        "the first revocation time stays (oldest created first)"
    );
}

/// Approval requests round-trip (every optional field set and unset, wide integers); ids are
/// unique; `update_approval` rewrites the decision fields only, can clear them, and refuses a
/// request that does not exist.
pub async fn approvals_round_trip(store: &dyn LedgerStore) {
    seed_operators(store, &["maker", "checker"]).await;
    let pending = approval("0190a1b2-0000-7000-8000-000000000001", "maker", 1);
    let executed = ApprovalRecord {
        id: "0190a1b2-0000-7000-8000-000000000002".to_owned(),
        permission: "participants.create".to_owned(),
        payload_json: r#"{"name":"newfsp","currency":"USD","note":"déjà vu"}"#.to_owned(),
        required_approvals: u32::MAX,
        state: ApprovalRecord::EXECUTED.to_owned(),
        approvals_json: r#"[{"user":"checker","at":1700000000100}]"#.to_owned(),
        decided_by: Some("checker".to_owned()),
        reason: Some("looks right".to_owned()),
        executed_at_ms: Some(1_700_000_000_200),
        result_json: Some(r#"{"status":201}"#.to_owned()),
        ..approval("x", "maker", 2)
    };
    let mut tx = begin(store).await;
    assert_eq!(tx.approval(&pending.id).await.unwrap(), None);
    tx.insert_approval(&pending).await.unwrap();
    tx.insert_approval(&executed).await.unwrap();
    assert_eq!(
        tx.approval(&pending.id).await.unwrap().as_ref(),
        Some(&pending),
        "read your writes"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.approval(&pending.id).await.unwrap().as_ref(),
        Some(&pending)
    );
    assert_eq!(
        tx.approval(&executed.id).await.unwrap().as_ref(),
        Some(&executed)
    );
    assert_eq!(
        tx.approval(&pending.id.to_uppercase()).await.unwrap(),
        None,
        "exact id"
    );
    drop(tx);

    let decided = approved(&pending, "checker", 1_700_000_000_300);
    // Fields fixed when the request was made are ignored by update_approval.
    let attempt = ApprovalRecord {
        permission: "funds.out".to_owned(),
        payload_json: "{}".to_owned(),
        maker: "checker".to_owned(),
        created_at_ms: 1,
        expires_at_ms: 2,
        required_approvals: 9,
        ..decided.clone()
    };
    let cleared = ApprovalRecord {
        state: ApprovalRecord::PENDING.to_owned(),
        approvals_json: "[]".to_owned(),
        decided_by: None,
        reason: None,
        executed_at_ms: None,
        result_json: None,
        ..executed.clone()
    };
    let mut tx = begin(store).await;
    tx.update_approval(&attempt).await.unwrap();
    tx.update_approval(&cleared).await.unwrap();
    assert_eq!(
        tx.approval(&pending.id).await.unwrap().as_ref(),
        Some(&decided)
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.approval(&pending.id).await.unwrap(), Some(decided));
    assert_eq!(
        tx.approval(&executed.id).await.unwrap(),
        Some(cleared),
        "decision fields can be cleared"
    );
    drop(tx);

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.insert_approval(&approval(&pending.id, "checker", 3))
            .await,
        "committed request id",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_refused(
        tx.update_approval(&approval("ghost", "maker", 1)).await,
        "update of a missing request",
    );
}

/// `approvals` lists the requests in one state (or all), newest created first (the later
/// inserted among equal times), at most `limit`, and follows state changes.
pub async fn approvals_by_state_newest_first(store: &dyn LedgerStore) {
    seed_operators(store, &["maker", "checker"]).await;
    let a = approval("a", "maker", 10);
    let b = approved(&approval("b", "maker", 30), "checker", 31);
    let c = approval("c", "maker", 20);
    let d = ApprovalRecord {
        state: ApprovalRecord::EXPIRED.to_owned(),
        ..approval("d", "maker", 40)
    };
    // Same creation time as c, inserted later.
    let e = approval("0-e", "maker", 20);
    let mut tx = begin(store).await;
    assert!(tx.approvals(None, 10).await.unwrap().is_empty());
    for row in [&a, &b, &c] {
        tx.insert_approval(row).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = begin(store).await;
    tx.insert_approval(&d).await.unwrap();
    tx.insert_approval(&e).await.unwrap();
    assert_eq!(
        tx.approvals(Some("pending"), 10).await.unwrap(),
        [e.clone(), c.clone(), a.clone()],
        "read your writes"
    );
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.approvals(None, 10).await.unwrap(),
        [d.clone(), b.clone(), e.clone(), c.clone(), a.clone()]
    );
    assert_eq!(tx.approvals(None, 2).await.unwrap(), [d.clone(), b.clone()]);
    assert_eq!(
        tx.approvals(Some(ApprovalRecord::PENDING), 10)
            .await
            .unwrap(),
        [e.clone(), c.clone(), a.clone()]
    );
    assert_eq!(
        tx.approvals(Some(ApprovalRecord::PENDING), 1)
            .await
            .unwrap(),
        std::slice::from_ref(&e)
    );
    assert_eq!(
        tx.approvals(Some(ApprovalRecord::APPROVED), 10)
            .await
            .unwrap(),
        std::slice::from_ref(&b)
    );
    assert_eq!(
        tx.approvals(Some(ApprovalRecord::EXPIRED), 10)
            .await
            .unwrap(),
        std::slice::from_ref(&d)
    );
    assert!(
        tx.approvals(Some(ApprovalRecord::EXECUTED), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(tx.approvals(Some("PENDING"), 10).await.unwrap().is_empty());
    assert!(tx.approvals(Some("unknown"), 10).await.unwrap().is_empty());
    assert!(tx.approvals(None, 0).await.unwrap().is_empty());
    assert_eq!(tx.approvals(None, u32::MAX).await.unwrap().len(), 5);
    drop(tx);

    let c_approved = approved(&c, "checker", 50);
    let mut tx = begin(store).await;
    tx.update_approval(&c_approved).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(
        tx.approvals(Some(ApprovalRecord::PENDING), 10)
            .await
            .unwrap(),
        [e, a]
    );
    assert_eq!(
        tx.approvals(Some(ApprovalRecord::APPROVED), 10)
            .await
            .unwrap(),
        [b, c_approved],
        "ordered by creation, not by update"
    );
}

/// The rules on a request's row, on insert and on update (never as duplicates): a known state;
/// JSON payload and result; approvals as a JSON array; expiry after creation; the execution
/// time set exactly when executed; the maker never the decider, except to withdraw
/// (`rejected`); maker and decider existing operators named exactly.
pub async fn approval_rows_checked(store: &dyn LedgerStore) {
    seed_operators(store, &["maker", "checker"]).await;
    let base = approval("r1", "maker", 1);
    let mut tx = begin(store).await;
    tx.insert_approval(&base).await.unwrap();
    tx.commit().await.unwrap();

    let bad = [
        (
            ApprovalRecord {
                state: "PENDING".to_owned(),
                ..base.clone()
            },
            "unknown state",
        ),
        (
            ApprovalRecord {
                payload_json: "{not json".to_owned(),
                ..base.clone()
            },
            "payload not JSON",
        ),
        (
            ApprovalRecord {
                approvals_json: r#"{"user":"checker"}"#.to_owned(),
                ..base.clone()
            },
            "approvals not an array",
        ),
        (
            ApprovalRecord {
                approvals_json: "[".to_owned(),
                ..base.clone()
            },
            "approvals not JSON",
        ),
        (
            ApprovalRecord {
                result_json: Some("ok".to_owned()),
                ..base.clone()
            },
            "result not JSON",
        ),
        (
            ApprovalRecord {
                expires_at_ms: base.created_at_ms,
                ..base.clone()
            },
            "expiry at creation",
        ),
        (
            ApprovalRecord {
                decided_by: Some("maker".to_owned()),
                ..approved(&base, "checker", 2)
            },
            "approved by its maker",
        ),
        (
            ApprovalRecord {
                decided_by: Some("maker".to_owned()),
                state: ApprovalRecord::EXECUTED.to_owned(),
                executed_at_ms: Some(3),
                ..approved(&base, "checker", 2)
            },
            "executed on its maker's decision",
        ),
        (
            ApprovalRecord {
                state: ApprovalRecord::EXECUTED.to_owned(),
                ..approved(&base, "checker", 2)
            },
            "executed without an execution time",
        ),
        (
            ApprovalRecord {
                executed_at_ms: Some(3),
                ..approved(&base, "checker", 2)
            },
            "execution time while approved",
        ),
        (
            ApprovalRecord {
                decided_by: Some("ghost".to_owned()),
                ..approved(&base, "checker", 2)
            },
            "unknown decider",
        ),
        (
            ApprovalRecord {
                decided_by: Some("CHECKER".to_owned()),
                ..approved(&base, "checker", 2)
            },
            "decider not named as registered",
        ),
    ];
    for (row, what) in &bad {
        let mut tx = begin(store).await;
        assert_refused(
            tx.insert_approval(&ApprovalRecord {
                id: "r2".to_owned(),
                ..row.clone()
            })
            .await,
            &format!("insert: {what}"),
        );
        drop(tx);
        // The payload and the expiry are fixed at insert: an update does not write them.
        if row.payload_json != base.payload_json || row.expires_at_ms != base.expires_at_ms {
            continue;
        }
        let mut tx = begin(store).await;
        assert_refused(tx.update_approval(row).await, &format!("update: {what}"));
    }
    for (maker, what) in [
        ("ghost", "unknown maker"),
        ("MAKER", "maker not named as registered"),
    ] {
        let mut tx = begin(store).await;
        assert_refused(tx.insert_approval(&approval("r3", maker, 1)).await, what);
    }
    let mut tx = read(store).await;
    assert_eq!(
        tx.approvals(None, 10).await.unwrap(),
        std::slice::from_ref(&base)
    );
    drop(tx);

    // The maker may withdraw their own request.
    let withdrawn = ApprovalRecord {
        state: ApprovalRecord::REJECTED.to_owned(),
        decided_by: Some("maker".to_owned()),
        reason: Some("typo in the amount".to_owned()),
        ..base.clone()
    };
    let mut tx = begin(store).await;
    tx.update_approval(&withdrawn).await.unwrap();
    tx.insert_approval(&ApprovalRecord {
        id: "r4".to_owned(),
        ..withdrawn.clone()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.approval("r1").await.unwrap(), Some(withdrawn));
}

/// A checker votes once per request: a second vote by the same voter is a duplicate, in the
/// same transaction and across transactions; other checkers, and the same checker on another
/// request, may vote; votes are listed in the order added.
pub async fn approval_vote_twice_refused(store: &dyn LedgerStore) {
    seed_operators(store, &["maker", "checker", "second"]).await;
    let mut tx = begin(store).await;
    tx.insert_approval(&approval("r1", "maker", 1))
        .await
        .unwrap();
    tx.insert_approval(&approval("r2", "maker", 2))
        .await
        .unwrap();
    assert!(tx.approval_votes("r1").await.unwrap().is_empty());
    tx.add_approval_vote("r1", "checker", 10).await.unwrap();
    assert_duplicate(
        tx.add_approval_vote("r1", "checker", 11).await,
        "second vote in the same transaction",
    );
    drop(tx);

    let mut tx = begin(store).await;
    tx.insert_approval(&approval("r1", "maker", 1))
        .await
        .unwrap();
    tx.insert_approval(&approval("r2", "maker", 2))
        .await
        .unwrap();
    tx.add_approval_vote("r1", "second", 20).await.unwrap();
    tx.add_approval_vote("r1", "checker", 10).await.unwrap();
    assert_eq!(
        tx.approval_votes("r1").await.unwrap(),
        [vote("r1", "second", 20), vote("r1", "checker", 10)],
        "read your writes, in the order added"
    );
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    assert_duplicate(
        tx.add_approval_vote("r1", "checker", 30).await,
        "second vote across transactions",
    );
    drop(tx);
    let mut tx = begin(store).await;
    tx.add_approval_vote("r2", "checker", 40).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(
        tx.approval_votes("r1").await.unwrap(),
        [vote("r1", "second", 20), vote("r1", "checker", 10)]
    );
    assert_eq!(
        tx.approval_votes("r2").await.unwrap(),
        [vote("r2", "checker", 40)]
    );
    assert!(
        tx.approval_votes("R1").await.unwrap().is_empty(),
        "exact id"
    );
    assert!(tx.approval_votes("ghost").await.unwrap().is_empty());
}

/// The maker of a request can never vote on it — refused with [`StoreError::Backend`] (a broken
/// rule, not a duplicate), before and after other votes; votes on an unknown request or by an
/// unknown operator (exact name) are refused too; the refused votes leave no trace.
pub async fn approval_vote_by_maker_refused(store: &dyn LedgerStore) {
    seed_operators(store, &["maker", "checker"]).await;
    let mut tx = begin(store).await;
    tx.insert_approval(&approval("r1", "maker", 1))
        .await
        .unwrap();
    tx.insert_approval(&approval("r2", "checker", 2))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    #[track_caller]
    fn assert_backend(result: Result<(), StoreError>, what: &str) {
        match result {
            Err(StoreError::Backend(_)) => {}
            other => panic!("{what}: expected StoreError::Backend, got {other:?}"),
        }
    }
    let mut tx = begin(store).await;
    assert_backend(
        tx.add_approval_vote("r1", "maker", 10).await,
        "the maker's vote",
    );
    drop(tx);
    let mut tx = begin(store).await;
    tx.add_approval_vote("r1", "checker", 10).await.unwrap();
    assert_backend(
        tx.add_approval_vote("r1", "maker", 11).await,
        "the maker's vote after a checker's",
    );
    drop(tx);
    let mut tx = begin(store).await;
    assert_backend(
        tx.add_approval_vote("r2", "checker", 12).await,
        "the maker of the other request",
    );
    drop(tx);
    for (id, voter, what) in [
        ("ghost", "checker", "unknown request"),
        ("r1", "ghost", "unknown voter"),
        ("r1", "CHECKER", "voter not named as registered"),
    ] {
        let mut tx = begin(store).await;
        assert_refused(tx.add_approval_vote(id, voter, 13).await, what);
    }

    let mut tx = begin(store).await;
    tx.add_approval_vote("r2", "maker", 14).await.unwrap();
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert!(tx.approval_votes("r1").await.unwrap().is_empty());
    assert_eq!(
        tx.approval_votes("r2").await.unwrap(),
        [vote("r2", "maker", 14)]
    );
}

/// Dropping a transaction discards every IAM write — new rows, updates, deletions,
/// revocations, role replacements and votes alike — for readers and the next writer, and the
/// rolled-back keys are free again.
pub async fn iam_rollback_on_drop(store: &dyn LedgerStore) {
    let alice = operator("alice");
    let kept_role = CustomRole {
        name: "kept".to_owned(),
        permissions: strings(&["participants.read"]),
        created_at_ms: 1,
    };
    let kept_approval = approval("r1", "alice", 1);
    let mut tx = begin(store).await;
    tx.insert_operator(&alice).await.unwrap();
    tx.insert_operator(&operator("bob")).await.unwrap();
    tx.push_password_history("alice", &phc(1), 1).await.unwrap();
    tx.upsert_custom_role(&kept_role).await.unwrap();
    tx.set_operator_roles("alice", &strings(&["kept"]))
        .await
        .unwrap();
    tx.insert_session(&session(1, "alice")).await.unwrap();
    tx.insert_api_token(&api_token(1, "alice")).await.unwrap();
    tx.insert_approval(&kept_approval).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.insert_operator(&operator("carol")).await.unwrap();
    tx.update_operator(&enrolled_operator("alice"))
        .await
        .unwrap();
    tx.push_password_history("alice", &phc(2), 2).await.unwrap();
    tx.upsert_custom_role(&CustomRole {
        name: "dropped".to_owned(),
        ..kept_role.clone()
    })
    .await
    .unwrap();
    assert!(tx.delete_custom_role("kept").await.unwrap());
    tx.set_operator_roles("bob", &strings(&["auditor"]))
        .await
        .unwrap();
    tx.insert_session(&session(2, "bob")).await.unwrap();
    tx.update_session(&SessionRecord {
        last_seen_ms: 9,
        ..session(1, "alice")
    })
    .await
    .unwrap();
    assert_eq!(tx.delete_operator_sessions("alice").await.unwrap(), 1);
    tx.insert_api_token(&api_token(2, "bob")).await.unwrap();
    assert!(tx.revoke_api_token(&sha256_hex(1), 5).await.unwrap());
    tx.insert_approval(&approval("r2", "bob", 2)).await.unwrap();
    tx.update_approval(&approved(&kept_approval, "bob", 3))
        .await
        .unwrap();
    tx.add_approval_vote("r1", "bob", 3).await.unwrap();
    drop(tx);

    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(tx.operator("carol").await.unwrap(), None);
        assert_eq!(tx.operator("alice").await.unwrap().as_ref(), Some(&alice));
        assert_eq!(tx.password_history("alice", 10).await.unwrap(), [phc(1)]);
        assert_eq!(
            tx.custom_roles().await.unwrap(),
            std::slice::from_ref(&kept_role)
        );
        assert_eq!(tx.operator_roles("alice").await.unwrap(), ["kept"]);
        assert!(tx.operator_roles("bob").await.unwrap().is_empty());
        assert_eq!(
            tx.session(&sha256_hex(1)).await.unwrap(),
            Some(session(1, "alice"))
        );
        assert_eq!(tx.session(&sha256_hex(2)).await.unwrap(), None);
        assert_eq!(
            tx.api_tokens("alice").await.unwrap(),
            [api_token(1, "alice")]
        );
        assert!(tx.api_tokens("bob").await.unwrap().is_empty());
        assert_eq!(
            tx.approvals(None, 10).await.unwrap(),
            std::slice::from_ref(&kept_approval)
        );
        assert!(tx.approval_votes("r1").await.unwrap().is_empty());
    }

    let mut tx = begin(store).await;
    tx.insert_operator(&operator("carol")).await.unwrap();
    tx.insert_session(&session(2, "bob")).await.unwrap();
    tx.insert_api_token(&api_token(2, "bob")).await.unwrap();
    tx.insert_approval(&approval("r2", "bob", 2)).await.unwrap();
    tx.add_approval_vote("r1", "bob", 3).await.unwrap();
    tx.commit().await.unwrap();
}

/// A read view refuses every IAM write (to rows that exist and would accept it) and still
/// reads them.
pub async fn iam_read_view_refuses_writes(store: &dyn LedgerStore) {
    let role = CustomRole {
        name: "kept".to_owned(),
        permissions: strings(&["participants.read"]),
        created_at_ms: 1,
    };
    let pending = approval("r1", "alice", 1);
    let mut tx = begin(store).await;
    tx.insert_operator(&operator("alice")).await.unwrap();
    tx.insert_operator(&operator("bob")).await.unwrap();
    tx.upsert_custom_role(&role).await.unwrap();
    tx.set_operator_roles("alice", &strings(&["kept"]))
        .await
        .unwrap();
    tx.insert_session(&session(1, "alice")).await.unwrap();
    tx.insert_api_token(&api_token(1, "alice")).await.unwrap();
    tx.insert_approval(&pending).await.unwrap();
    tx.commit().await.unwrap();

    macro_rules! refused {
        ($call:ident ( $($arg:expr),* $(,)? ), $what:expr) => {{
            let mut view = read(store).await;
            assert_refused(view.$call($($arg),*).await, $what);
        }};
    }
    refused!(insert_operator(&operator("carol")), "insert_operator");
    refused!(
        update_operator(&enrolled_operator("alice")),
        "update_operator"
    );
    refused!(
        push_password_history("alice", &phc(1), 1),
        "push_password_history"
    );
    refused!(
        upsert_custom_role(&CustomRole {
            name: "new".to_owned(),
            ..role.clone()
        }),
        "upsert_custom_role"
    );
    refused!(delete_custom_role("kept"), "delete_custom_role");
    refused!(
        set_operator_roles("bob", &strings(&["auditor"])),
        "set_operator_roles"
    );
    refused!(set_operator_roles("alice", &[]), "clearing roles");
    refused!(insert_session(&session(2, "bob")), "insert_session");
    refused!(
        update_session(&SessionRecord {
            last_seen_ms: 9,
            ..session(1, "alice")
        }),
        "update_session"
    );
    refused!(delete_session(&sha256_hex(1)), "delete_session");
    refused!(
        delete_operator_sessions("alice"),
        "delete_operator_sessions"
    );
    refused!(insert_api_token(&api_token(2, "bob")), "insert_api_token");
    refused!(revoke_api_token(&sha256_hex(1), 5), "revoke_api_token");
    refused!(
        insert_approval(&approval("r2", "bob", 2)),
        "insert_approval"
    );
    refused!(
        update_approval(&approved(&pending, "bob", 3)),
        "update_approval"
    );
    refused!(add_approval_vote("r1", "bob", 3), "add_approval_vote");

    let mut view = read(store).await;
    assert_eq!(
        view.operators().await.unwrap(),
        [operator("alice"), operator("bob")]
    );
    assert!(view.password_history("alice", 10).await.unwrap().is_empty());
    assert_eq!(view.custom_roles().await.unwrap(), [role]);
    assert_eq!(view.operator_roles("alice").await.unwrap(), ["kept"]);
    assert!(view.operator_roles("bob").await.unwrap().is_empty());
    assert_eq!(
        view.session(&sha256_hex(1)).await.unwrap(),
        Some(session(1, "alice"))
    );
    assert_eq!(view.session(&sha256_hex(2)).await.unwrap(), None);
    assert_eq!(
        view.api_tokens("alice").await.unwrap(),
        [api_token(1, "alice")]
    );
    assert!(view.api_tokens("bob").await.unwrap().is_empty());
    assert_eq!(view.approvals(None, 10).await.unwrap(), [pending]);
    assert!(view.approval_votes("r1").await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------------
// Hub settings.

/// A setting whose fields all depend on `n` (the key is given).
fn setting(key: &str, n: i64) -> Setting {
    Setting {
        key: key.to_owned(),
        value_json: format!(r#"{{"min_length": {n}, "history": [1, 2]}}"#),
        updated_at_ms: 1_700_000_000_000 + n,
        updated_by: format!("operator{n}"),
    }
}

/// A key that was never written reads as `None`, in a write transaction and a read view, also
/// when other keys exist (no prefix or case-insensitive match).
pub async fn settings_missing_key_is_none(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    assert_eq!(tx.setting("iam.password_policy").await.unwrap(), None);
    tx.put_setting(&setting("iam.password_policy", 1))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    for mut tx in [read(store).await, begin(store).await] {
        for missing in [
            "iam.session_timeouts",
            "iam.password",
            "iam.password_policy.x",
            "IAM.PASSWORD_POLICY",
            "",
        ] {
            assert_eq!(tx.setting(missing).await.unwrap(), None, "{missing:?}");
        }
    }
}

/// A setting reads back exactly as written — the JSON text byte for byte, not re-serialised —
/// in the writing transaction and, once committed, in a read view; keys are independent.
pub async fn settings_round_trip(store: &dyn LedgerStore) {
    let policy = setting("iam.password_policy", 1);
    let values = [
        Setting {
            value_json: "  {\"b\": 1,\n\t\"a\": [true, null, -0.50, 1E+2, \"\\u00e9\\n\"]}  "
                .to_owned(),
            ..setting("iam.session_timeouts", 2)
        },
        Setting {
            value_json: "3".to_owned(),
            ..setting("iam.approvals.required", 3)
        },
        Setting {
            value_json: "null".to_owned(),
            ..setting("a", 4)
        },
        Setting {
            value_json: r#""déjà vu ✓""#.to_owned(),
            updated_by: String::new(),
            ..setting(&"z-9_8.7".repeat(10)[..64], 5)
        },
    ];
    let mut tx = begin(store).await;
    tx.put_setting(&policy).await.unwrap();
    for value in &values {
        tx.put_setting(value).await.unwrap();
    }
    assert_eq!(
        tx.setting("iam.password_policy").await.unwrap().as_ref(),
        Some(&policy)
    );
    tx.commit().await.unwrap();

    let mut view = read(store).await;
    assert_eq!(
        view.setting("iam.password_policy").await.unwrap(),
        Some(policy)
    );
    for value in values {
        assert_eq!(
            view.setting(&value.key).await.unwrap().as_ref(),
            Some(&value)
        );
    }
}

/// Writing a key again replaces its value, time and writer, inside the transaction and once
/// committed; other keys are untouched.
pub async fn settings_put_replaces(store: &dyn LedgerStore) {
    let other = setting("iam.session_timeouts", 9);
    let mut tx = begin(store).await;
    tx.put_setting(&setting("iam.password_policy", 1))
        .await
        .unwrap();
    tx.put_setting(&other).await.unwrap();
    tx.commit().await.unwrap();

    let second = setting("iam.password_policy", 2);
    let third = Setting {
        value_json: "[]".to_owned(),
        ..setting("iam.password_policy", 3)
    };
    let mut tx = begin(store).await;
    tx.put_setting(&second).await.unwrap();
    assert_eq!(
        tx.setting("iam.password_policy").await.unwrap().as_ref(),
        Some(&second)
    );
    // Again in the same transaction, and back to an earlier time (the last write wins).
    let earlier = Setting {
        updated_at_ms: 5,
        ..third.clone()
    };
    tx.put_setting(&earlier).await.unwrap();
    tx.commit().await.unwrap();

    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(
            tx.setting("iam.password_policy").await.unwrap().as_ref(),
            Some(&earlier)
        );
        assert_eq!(
            tx.setting("iam.session_timeouts").await.unwrap().as_ref(),
            Some(&other)
        );
    }
}

/// A value that is not JSON is refused (not as a duplicate), for a new key and for a key that
/// exists, whose value stays; so is JSON that `serde_json` cannot read (a number beyond `f64`,
/// a lone surrogate escape), which every backend refuses alike.
pub async fn settings_invalid_json_refused(store: &dyn LedgerStore) {
    let stored = setting("iam.password_policy", 1);
    let mut tx = begin(store).await;
    tx.put_setting(&stored).await.unwrap();
    tx.commit().await.unwrap();

    for bad in [
        "",
        "   ",
        "{",
        "not json",
        "{'a': 1}",
        "{a: 1}",
        "[1, 2,]",
        "{\"a\": 1} {}",
        "{\"a\": 1} x",
        "NaN",
        "Infinity",
        "0x10",
        "01",
        ".5",
        "'text'",
        "\"unterminated",
        "\"raw\ncontrol\"",
        "// comment\n1",
        "1e400",
        "\"\\ud800\"",
    ] {
        for key in ["iam.password_policy", "iam.new"] {
            let mut tx = begin(store).await;
            assert_refused(
                tx.put_setting(&Setting {
                    value_json: bad.to_owned(),
                    ..setting(key, 2)
                })
                .await,
                &format!("value {bad:?} under {key}"),
            );
        }
    }
    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(
            tx.setting("iam.password_policy").await.unwrap().as_ref(),
            Some(&stored)
        );
        assert_eq!(tx.setting("iam.new").await.unwrap(), None);
    }
}

/// Keys must be 1 to 64 bytes of `[a-z0-9._-]`: anything else is refused (not as a duplicate)
/// and not stored.
pub async fn settings_bad_keys_refused(store: &dyn LedgerStore) {
    let longest = "k".repeat(64);
    let too_long = "k".repeat(65);
    let mut tx = begin(store).await;
    tx.put_setting(&setting(&longest, 1)).await.unwrap();
    tx.commit().await.unwrap();

    for bad in [
        "",
        too_long.as_str(),
        "IAM.password_policy",
        "iam.Password_policy",
        "iam password_policy",
        " iam.password_policy",
        "iam.password_policy\n",
        "iam/password_policy",
        "iam:password_policy",
        "iam*",
        "iam.passwörd",
        "iam.\u{0}x",
        "é",
    ] {
        let mut tx = begin(store).await;
        assert_refused(
            tx.put_setting(&setting(bad, 2)).await,
            &format!("key {bad:?}"),
        );
    }
    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(
            tx.setting(&longest).await.unwrap(),
            Some(setting(&longest, 1))
        );
        for bad in ["", too_long.as_str(), "IAM.password_policy", "iam.\u{0}x"] {
            assert_eq!(tx.setting(bad).await.unwrap(), None, "{bad:?}");
        }
    }
}

/// Dropping a transaction discards its settings — a new key and a replacement alike — for
/// readers and the next writer.
pub async fn settings_rollback_on_drop(store: &dyn LedgerStore) {
    let kept = setting("iam.password_policy", 1);
    let mut tx = begin(store).await;
    tx.put_setting(&kept).await.unwrap();
    tx.commit().await.unwrap();

    let mut tx = begin(store).await;
    tx.put_setting(&setting("iam.password_policy", 2))
        .await
        .unwrap();
    tx.put_setting(&setting("iam.session_timeouts", 3))
        .await
        .unwrap();
    assert_eq!(
        tx.setting("iam.session_timeouts").await.unwrap(),
        Some(setting("iam.session_timeouts", 3))
    );
    drop(tx);

    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(
            tx.setting("iam.password_policy").await.unwrap().as_ref(),
            Some(&kept)
        );
        assert_eq!(tx.setting("iam.session_timeouts").await.unwrap(), None);
    }
}

/// A read view refuses to write a setting (new or replacing) and still reads them.
pub async fn settings_read_view_refuses_writes(store: &dyn LedgerStore) {
    let stored = setting("iam.password_policy", 1);
    let mut tx = begin(store).await;
    tx.put_setting(&stored).await.unwrap();
    tx.commit().await.unwrap();

    for replacing in [
        setting("iam.password_policy", 2),
        setting("iam.session_timeouts", 3),
    ] {
        let mut view = read(store).await;
        assert_refused(
            view.put_setting(&replacing).await,
            &format!("setting {} through a read view", replacing.key),
        );
    }
    let mut view = read(store).await;
    assert_eq!(
        view.setting("iam.password_policy").await.unwrap(),
        Some(stored)
    );
    assert_eq!(view.setting("iam.session_timeouts").await.unwrap(), None);
}

// ---------------------------------------------------------------------------------------------
// Transactions.

/// Inside one transaction every write is visible to the following reads.
pub async fn read_your_writes(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    tx.insert_participant(&participant("payerfsp"))
        .await
        .unwrap();
    assert_eq!(
        tx.participant("payerfsp").await.unwrap(),
        Some(participant("payerfsp"))
    );
    tx.set_participant_active("payerfsp", false).await.unwrap();
    assert!(!tx.participant("payerfsp").await.unwrap().unwrap().is_active);
    let account = tx
        .insert_account(&new_account("payerfsp", "USD", AccountType::Position))
        .await
        .unwrap();
    assert_eq!(
        tx.accounts("payerfsp").await.unwrap(),
        std::slice::from_ref(&account)
    );
    let moved = Account {
        reserved: dec("10"),
        ..account.clone()
    };
    tx.update_account(&moved).await.unwrap();
    assert_eq!(tx.account(account.id).await.unwrap(), Some(moved.clone()));
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    assert_eq!(tx.transfer("t1").await.unwrap(), Some(transfer("t1")));
    assert_eq!(tx.open_transfers().await.unwrap().len(), 1);
    tx.insert_quote(&quote("q1")).await.unwrap();
    assert_eq!(tx.quote("q1").await.unwrap(), Some(quote("q1")));
    tx.upsert_party(&party("MSISDN", "1", "", "", "payerfsp"))
        .await
        .unwrap();
    assert_eq!(tx.parties("MSISDN", "1", None).await.unwrap().len(), 1);
    assert_eq!(
        tx.delete_party("MSISDN", "1", "", "payerfsp")
            .await
            .unwrap(),
        1
    );
    assert!(tx.parties("MSISDN", "1", None).await.unwrap().is_empty());
    tx.append_audit(&audit(1)).await.unwrap();
    assert_eq!(unchained(&tx.audit_entries(5).await.unwrap()), [audit(1)]);
    tx.append_delivery(&delivery(1)).await.unwrap();
    assert_eq!(tx.deliveries(5).await.unwrap(), [delivery(1)]);
    tx.commit().await.unwrap();

    let mut tx = read(store).await;
    assert_eq!(tx.account(account.id).await.unwrap(), Some(moved));
}

/// Dropping a transaction without committing discards every write.
pub async fn rollback_on_drop(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;
    let mut tx = begin(store).await;
    tx.insert_participant(&participant("payeefsp"))
        .await
        .unwrap();
    tx.set_participant_active("payerfsp", false).await.unwrap();
    tx.update_account(&Account {
        value: dec("42"),
        ..account.clone()
    })
    .await
    .unwrap();
    tx.append_journal(&JournalEntry {
        account_id: account.id,
        reference: "t1".to_owned(),
        reason: "PREPARE".to_owned(),
        value_delta: dec("42"),
        reserved_delta: Decimal::ZERO,
        at_ms: 0,
    })
    .await
    .unwrap();
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.insert_quote(&quote("q1")).await.unwrap();
    tx.upsert_party(&party("MSISDN", "1", "", "", "payerfsp"))
        .await
        .unwrap();
    tx.append_audit(&audit(1)).await.unwrap();
    tx.append_delivery(&delivery(1)).await.unwrap();
    tx.insert_jws_key(&jws_key("payerfsp", 1)).await.unwrap();
    tx.append_evidence(&evidence("t1", "transfer.prepare", 1))
        .await
        .unwrap();
    drop(tx);

    // Visible neither to readers nor to the next writer.
    for mut tx in [read(store).await, begin(store).await] {
        assert_eq!(tx.participant("payeefsp").await.unwrap(), None);
        assert!(tx.participant("payerfsp").await.unwrap().unwrap().is_active);
        assert_eq!(tx.account(account.id).await.unwrap(), Some(account.clone()));
        assert_eq!(tx.transfer("t1").await.unwrap(), None);
        assert!(tx.open_transfers().await.unwrap().is_empty());
        assert_eq!(tx.quote("q1").await.unwrap(), None);
        assert!(tx.parties("MSISDN", "1", None).await.unwrap().is_empty());
        assert!(tx.audit_entries(10).await.unwrap().is_empty());
        assert!(tx.audit_range(0, 10).await.unwrap().is_empty());
        assert!(tx.deliveries(10).await.unwrap().is_empty());
        assert!(tx.jws_keys("payerfsp").await.unwrap().is_empty());
        assert!(tx.evidence("t1").await.unwrap().is_empty());
    }

    // The rolled-back names and ids are free again.
    let mut tx = begin(store).await;
    tx.insert_participant(&participant("payeefsp"))
        .await
        .unwrap();
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.insert_quote(&quote("q1")).await.unwrap();
    tx.insert_jws_key(&jws_key("payerfsp", 1)).await.unwrap();
    tx.commit().await.unwrap();
}

/// After commit, a new read view and a new write transaction see the writes.
pub async fn commit_visible_to_read(store: &dyn LedgerStore) {
    let mut tx = begin(store).await;
    tx.insert_participant(&participant("payerfsp"))
        .await
        .unwrap();
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.commit().await.unwrap();
    let mut view = read(store).await;
    assert_eq!(
        view.participant("payerfsp").await.unwrap(),
        Some(participant("payerfsp"))
    );
    assert_eq!(view.transfer("t1").await.unwrap(), Some(transfer("t1")));
    view.commit()
        .await
        .expect("committing a read view is harmless");
    let mut tx = begin(store).await;
    assert_eq!(tx.transfer("t1").await.unwrap(), Some(transfer("t1")));
}

/// A read view opened while a write transaction is in progress does not see its writes, and
/// does not block it.
pub async fn uncommitted_invisible_to_read(store: &dyn LedgerStore) {
    seed_participants(store, &["payerfsp"]).await;
    let mut tx = begin(store).await;
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.set_participant_active("payerfsp", false).await.unwrap();

    let mut view = read(store).await;
    assert_eq!(view.transfer("t1").await.unwrap(), None);
    assert!(
        view.participant("payerfsp")
            .await
            .unwrap()
            .unwrap()
            .is_active
    );
    drop(view);

    tx.commit().await.unwrap();
    let mut view = read(store).await;
    assert_eq!(view.transfer("t1").await.unwrap(), Some(transfer("t1")));
}

/// A read view refuses writes.
pub async fn read_view_refuses_writes(store: &dyn LedgerStore) {
    // A participant with a key, so that the key writes below fail for being writes, not for
    // referring to nothing.
    let key = jws_key("payeefsp", 1);
    let mut tx = begin(store).await;
    tx.insert_participant(&participant("payeefsp"))
        .await
        .unwrap();
    tx.insert_jws_key(&key).await.unwrap();
    tx.commit().await.unwrap();

    let mut view = read(store).await;
    assert_refused(
        view.insert_jws_key(&jws_key("payeefsp", 2)).await,
        "jws key through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_refused(
        view.retire_jws_key("payeefsp", &key.fingerprint, 5).await,
        "retire through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_refused(
        view.append_evidence(&evidence("t1", "transfer.prepare", 1))
            .await,
        "evidence through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_eq!(
        view.jws_keys("payeefsp").await.unwrap(),
        std::slice::from_ref(&key)
    );
    assert!(view.evidence("t1").await.unwrap().is_empty());
    drop(view);

    let mut view = read(store).await;
    assert_refused(
        view.insert_participant(&participant("payerfsp")).await,
        "insert through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_refused(
        view.insert_transfer(&transfer("t1")).await,
        "insert through a read view",
    );
    drop(view);
    let mut view = read(store).await;
    assert_eq!(view.participant("payerfsp").await.unwrap(), None);
    assert_eq!(view.transfer("t1").await.unwrap(), None);
}

/// Group commit: the same rows are read and written many times in one transaction, and the
/// last write wins at commit.
pub async fn many_updates_in_one_transaction(store: &dyn LedgerStore) {
    let account = seed_account(store, "payerfsp").await;
    let mut tx = begin(store).await;
    let mut expected = Decimal::ZERO;
    for n in 0..200_i64 {
        let mut row = tx.account(account.id).await.unwrap().unwrap();
        assert_eq!(row.reserved, expected, "step {n}");
        expected += dec("0.01");
        row.reserved = expected;
        row.changed_at_ms = n;
        tx.update_account(&row).await.unwrap();
        let id = format!("t{n}");
        tx.insert_transfer(&transfer(&id)).await.unwrap();
        let mut t = tx.transfer(&id).await.unwrap().unwrap();
        t.state = if n % 2 == 0 {
            TransferState::Committed
        } else {
            TransferState::Reserved
        };
        tx.update_transfer(&t).await.unwrap();
        tx.append_journal(&JournalEntry {
            account_id: account.id,
            reference: id,
            reason: "PREPARE".to_owned(),
            value_delta: Decimal::ZERO,
            reserved_delta: dec("0.01"),
            at_ms: n,
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let row = tx.account(account.id).await.unwrap().unwrap();
    assert_eq!(row.reserved, dec("2"));
    assert_eq!(row.reserved.to_string(), "2");
    assert_eq!(row.changed_at_ms, 199);
    assert_eq!(tx.open_transfers().await.unwrap().len(), 100);
}

/// `consume_totp_step` is a compare-and-set: it moves `totp_last_step` forward only (a step
/// equal to or before the stored one is refused, `false`), finds the operator by exact name
/// only, answers `false` for an unknown one, and refuses a step above `i64::MAX`. The other
/// fields stay as they were.
pub async fn consume_totp_step_only_forward(store: &dyn LedgerStore) {
    seed_operators(store, &["alice"]).await;
    let mut tx = begin(store).await;
    assert!(
        tx.consume_totp_step("alice", 10).await.unwrap(),
        "unset: taken"
    );
    assert!(
        !tx.consume_totp_step("alice", 10).await.unwrap(),
        "replay refused"
    );
    assert!(
        !tx.consume_totp_step("alice", 9).await.unwrap(),
        "an earlier step refused"
    );
    assert!(
        !tx.consume_totp_step("ALICE", 11).await.unwrap(),
        "exact name only"
    );
    assert!(
        !tx.consume_totp_step("nobody", 11).await.unwrap(),
        "unknown operator"
    );
    assert!(
        tx.consume_totp_step("alice", 11).await.unwrap(),
        "a later step taken"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let row = tx.operator("alice").await.unwrap().unwrap();
    assert_eq!(row.totp_last_step, Some(11));
    assert_eq!(
        row,
        Operator {
            totp_last_step: Some(11),
            ..operator("alice")
        },
        "nothing else changed"
    );
    drop(tx);
    let mut tx = begin(store).await;
    let error = tx
        .consume_totp_step("alice", i64::MAX as u64 + 1)
        .await
        .expect_err("a step above i64::MAX is refused");
    assert!(!matches!(error, StoreError::Duplicate(_)), "{error}");
}

/// `claim_login_attempt` is a compare-and-set on `failed_attempts`: of two claims made on the
/// same read value only the first counts; it sets `last_failure_at_ms`, finds the operator by
/// exact name only, answers `false` for an unknown one and never goes past `u32::MAX`.
pub async fn claim_login_attempt_compare_and_set(store: &dyn LedgerStore) {
    seed_operators(store, &["alice", "bob"]).await;
    let mut tx = begin(store).await;
    assert!(tx.claim_login_attempt("alice", 0, 100).await.unwrap());
    assert!(
        !tx.claim_login_attempt("alice", 0, 200).await.unwrap(),
        "a second claim on the same read value is refused"
    );
    assert!(tx.claim_login_attempt("alice", 1, 300).await.unwrap());
    assert!(
        !tx.claim_login_attempt("ALICE", 2, 400).await.unwrap(),
        "exact name only"
    );
    assert!(
        !tx.claim_login_attempt("nobody", 0, 400).await.unwrap(),
        "unknown operator"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let row = tx.operator("alice").await.unwrap().unwrap();
    assert_eq!(
        (row.failed_attempts, row.last_failure_at_ms),
        (2, Some(300))
    );
    assert_eq!(
        row,
        Operator {
            failed_attempts: 2,
            last_failure_at_ms: Some(300),
            ..operator("alice")
        },
        "nothing else changed"
    );
    assert_eq!(tx.operator("bob").await.unwrap().unwrap(), operator("bob"));
    drop(tx);
    let mut tx = begin(store).await;
    let full = Operator {
        failed_attempts: u32::MAX,
        last_failure_at_ms: Some(500),
        ..operator("bob")
    };
    tx.update_operator(&full).await.unwrap();
    assert!(
        !tx.claim_login_attempt("bob", u32::MAX, 600).await.unwrap(),
        "never past u32::MAX"
    );
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    assert_eq!(tx.operator("bob").await.unwrap().unwrap(), full);
}

// ---------------------------------------------------------------------------------------------
// Audit queries.

/// A varied log: actors, actions (prefix look-alikes included), subjects, outcomes and times.
fn audit_query_log() -> Vec<AuditEntry> {
    let actions = [
        "request.approve",
        "request.approved_by_hand",
        "request.reject",
        "requests.approve",
        "Request.approve",
        "request_approve",
        "req%",
        "tls.refused",
    ];
    (0..64_i64)
        .map(|n| {
            let i = usize::try_from(n).unwrap();
            AuditEntry {
                at_ms: 1_700_000_000_000 + n / 2,
                actor: ["alice", "bob", "unauthenticated"][i % 3].to_owned(),
                action: actions[i % actions.len()].to_owned(),
                subject: ["payerfsp", "payeefsp", ""][i % 3 / 2 + i % 2].to_owned(),
                detail: format!("{{\"n\":{n}}}"),
                outcome: ["ok", "denied", "failed"][i % 5 % 3].to_owned(),
                ..AuditEntry::default()
            }
        })
        .collect()
}

/// `audit_query` answers what [`ledger::AuditFilter::matches`] says, newest first, for each
/// filter alone and combined; a prefix is not a LIKE/GLOB pattern and is case-sensitive.
pub async fn audit_query_filters_in_the_store(store: &dyn LedgerStore) {
    use ledger::{AuditAction, AuditFilter};
    let log = audit_query_log();
    let mut tx = begin(store).await;
    for entry in &log {
        tx.append_audit(entry).await.unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let stored = tx.audit_range(0, 1000).await.unwrap();
    assert_eq!(stored.len(), log.len());
    let base = AuditFilter {
        limit: 1000,
        ..AuditFilter::default()
    };
    let prefix = |p: &str| Some(AuditAction::Prefix(p.to_owned()));
    let filters = vec![
        base.clone(),
        AuditFilter {
            actor: Some("alice".into()),
            ..base.clone()
        },
        AuditFilter {
            action: Some(AuditAction::Exact("request.approve".into())),
            ..base.clone()
        },
        AuditFilter {
            action: prefix("request."),
            ..base.clone()
        },
        AuditFilter {
            action: prefix("request"),
            ..base.clone()
        },
        AuditFilter {
            action: prefix("req%"),
            ..base.clone()
        },
        AuditFilter {
            action: prefix("request_"),
            ..base.clone()
        },
        AuditFilter {
            action: prefix("R"),
            ..base.clone()
        },
        AuditFilter {
            action: prefix(""),
            ..base.clone()
        },
        AuditFilter {
            action: prefix("\u{10FFFF}"),
            ..base.clone()
        },
        AuditFilter {
            subject: Some("payeefsp".into()),
            ..base.clone()
        },
        AuditFilter {
            subject: Some(String::new()),
            ..base.clone()
        },
        AuditFilter {
            outcome: Some("denied".into()),
            ..base.clone()
        },
        AuditFilter {
            since_ms: Some(1_700_000_000_010),
            until_ms: Some(1_700_000_000_020),
            ..base.clone()
        },
        AuditFilter {
            actor: Some("bob".into()),
            action: prefix("request."),
            outcome: Some("ok".into()),
            since_ms: Some(1_700_000_000_003),
            ..base.clone()
        },
        AuditFilter {
            actor: Some("nobody".into()),
            ..base.clone()
        },
        AuditFilter {
            before_seq: Some(10),
            action: prefix("request"),
            ..base.clone()
        },
    ];
    for filter in filters {
        let expected: Vec<AuditEntry> = stored
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .cloned()
            .collect();
        let answered = tx.audit_query(&filter).await.unwrap();
        assert_eq!(answered, expected, "{filter:?}");
        let first_two = tx
            .audit_query(&AuditFilter {
                limit: 2,
                ..filter.clone()
            })
            .await
            .unwrap();
        assert_eq!(first_two, expected[..expected.len().min(2)], "{filter:?}");
        let none = tx
            .audit_query(&AuditFilter { limit: 0, ..filter })
            .await
            .unwrap();
        assert!(none.is_empty());
    }
}

/// The answer is newest first and pages with `before_seq`; an old match is found behind many
/// newer entries that do not match.
pub async fn audit_query_pages_newest_first(store: &dyn LedgerStore) {
    use ledger::{AuditAction, AuditFilter};
    let mut tx = begin(store).await;
    for n in 0..5 {
        tx.append_audit(&AuditEntry {
            action: "request.approve".into(),
            ..audit(n)
        })
        .await
        .unwrap();
    }
    for n in 5..1500 {
        tx.append_audit(&AuditEntry {
            action: "tls.refused".into(),
            ..audit(n)
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let mut tx = read(store).await;
    let filter = AuditFilter {
        action: Some(AuditAction::Exact("request.approve".into())),
        limit: 2,
        ..AuditFilter::default()
    };
    let mut seqs = Vec::new();
    let mut before = None;
    loop {
        let page = tx
            .audit_query(&AuditFilter {
                before_seq: before,
                ..filter.clone()
            })
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        seqs.extend(page.iter().map(|e| e.seq));
        before = page.last().map(|e| e.seq);
    }
    assert_eq!(seqs, [5, 4, 3, 2, 1]);
    let newest = tx
        .audit_query(&AuditFilter {
            limit: 3,
            ..AuditFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(
        newest.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [1500, 1499, 1498]
    );
    assert_eq!(newest, tx.audit_entries(3).await.unwrap());
}
