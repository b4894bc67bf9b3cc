//! SQLite-specific behaviour: durability, connection settings, locking, corruption, migrations.

use std::path::Path;
use std::time::{Duration, Instant};

use ledger::{
    AUDIT_GENESIS_HASH, AccountType, ApiTokenRecord, ApprovalRecord, AuditEntry, CustomRole,
    Evidence, JournalEntry, JwsKey, LedgerStore, NewAccount, Operator, Participant, ParticipantTls,
    SessionRecord, StoreError, Transfer, TransferState,
};
use rust_decimal::Decimal;
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use store::{MIGRATIONS, SqliteStore};

fn participant(name: &str) -> Participant {
    Participant {
        name: name.to_owned(),
        is_active: true,
        created_at_ms: 1,
    }
}

fn transfer(id: &str) -> Transfer {
    Transfer {
        id: id.to_owned(),
        payer: "payerfsp".to_owned(),
        payee: "payeefsp".to_owned(),
        amount: Decimal::new(1025, 2),
        currency: "USD".to_owned(),
        condition: "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM".to_owned(),
        ilp_packet: "A".repeat(600),
        expiration_ms: 1_700_000_060_000,
        state: TransferState::Reserved,
        prepare_hash: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".to_owned(),
        fulfil_hash: None,
        error_hash: None,
        fulfilment: None,
        error_code: None,
        error_description: None,
        created_at_ms: 1_700_000_000_000,
        completed_at_ms: None,
    }
}

/// A plain connection to the same file, outside the store.
async fn raw(path: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::ZERO)
        .connect()
        .await
        .expect("raw connection")
}

#[tokio::test]
async fn committed_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.commit().await.unwrap();
    // Not committed: must not come back.
    let mut tx = store.begin().await.unwrap();
    tx.insert_transfer(&transfer("t2")).await.unwrap();
    drop(tx);
    drop(store);

    // Reopening runs the migrations again (a no-op) and sees the commit.
    let store = SqliteStore::open(&path).await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.transfer("t1").await.unwrap(), Some(transfer("t1")));
    assert_eq!(tx.transfer("t2").await.unwrap(), None);
    drop(tx);
    store.close().await;

    // And again after a clean close (WAL checkpointed into the main file).
    let store = SqliteStore::open(&path).await.unwrap();
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.transfer("t1").await.unwrap(), Some(transfer("t1")));
}

#[tokio::test]
async fn writer_is_wal_and_synchronous_full() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db")).await.unwrap();
    let pragmas = store.writer_pragmas().await.unwrap();
    assert_eq!(pragmas.journal_mode, "wal");
    assert_eq!(pragmas.synchronous, 2, "FULL");
    assert!(pragmas.foreign_keys);
    assert_eq!(
        pragmas.busy_timeout_ms,
        i64::try_from(store::BUSY_TIMEOUT.as_millis()).unwrap()
    );
    assert_eq!(
        store.describe(),
        format!("sqlite:{}", dir.path().join("hub.db").display())
    );
}

#[tokio::test]
async fn begin_takes_the_write_lock_up_front() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut other = raw(&path).await;

    // No statement has run in the transaction yet, but the lock is already held.
    let tx = store.begin().await.unwrap();
    let err = sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut other)
        .await
        .expect_err("another writer must be locked out");
    assert!(err.to_string().contains("locked"), "{err}");
    drop(tx);

    // Once the transaction is gone, the other writer gets the lock.
    let mut attempts = 0;
    loop {
        match sqlx::query("BEGIN IMMEDIATE").execute(&mut other).await {
            Ok(_) => break,
            Err(_) if attempts < 100 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(err) => panic!("lock not released: {err}"),
        }
    }
    sqlx::query("ROLLBACK").execute(&mut other).await.unwrap();
}

#[tokio::test]
async fn second_writer_waits_for_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db")).await.unwrap();
    let mut first = store.begin().await.unwrap();
    first.insert_participant(&participant("a")).await.unwrap();

    let waiting = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let seen = tx.participant("a").await.unwrap();
            tx.insert_participant(&participant("b")).await.unwrap();
            tx.commit().await.unwrap();
            seen
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !waiting.is_finished(),
        "begin must wait for the open transaction"
    );
    first.commit().await.unwrap();
    let seen = waiting.await.unwrap();
    assert_eq!(
        seen,
        Some(participant("a")),
        "the second writer starts after the first"
    );
    let mut tx = store.read().await.unwrap();
    assert_eq!(tx.participants().await.unwrap().len(), 2);
}

#[tokio::test]
async fn bad_stored_values_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
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
    tx.insert_transfer(&transfer("t1")).await.unwrap();
    tx.commit().await.unwrap();

    let mut other = raw(&path).await;
    for bad in ["1_000", "abc", "1e3", "", " 1"] {
        sqlx::query("UPDATE accounts SET value = ?1 WHERE id = ?2")
            .bind(bad)
            .bind(account.id)
            .execute(&mut other)
            .await
            .unwrap();
        let mut tx = store.read().await.unwrap();
        match tx.account(account.id).await {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("accounts"), "{message}")
            }
            other => panic!("{bad:?}: expected Corrupt, got {other:?}"),
        }
    }
    sqlx::query("UPDATE transfers SET amount = '12.5.1' WHERE id = 't1'")
        .execute(&mut other)
        .await
        .unwrap();
    let mut tx = store.read().await.unwrap();
    assert!(matches!(
        tx.transfer("t1").await,
        Err(StoreError::Corrupt(_))
    ));
}

#[tokio::test]
async fn duplicate_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db")).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_transfer(&transfer("t-42")).await.unwrap();
    match tx.insert_transfer(&transfer("t-42")).await {
        Err(StoreError::Duplicate(message)) => {
            assert!(message.contains("t-42"), "{message}");
            assert!(message.contains("transfers.id"), "{message}");
        }
        other => panic!("expected Duplicate, got {other:?}"),
    }
}

fn jws_key(participant: &str) -> JwsKey {
    JwsKey {
        participant: participant.to_owned(),
        fingerprint: "ab".repeat(32),
        alg: "RS256".to_owned(),
        public_key_pem: "-----BEGIN PUBLIC KEY-----\n-----END PUBLIC KEY-----\n".to_owned(),
        not_before_ms: None,
        not_after_ms: None,
        added_at_ms: 1,
        retired_at_ms: None,
    }
}

fn evidence(subject: &str, body: &[u8]) -> Evidence {
    Evidence {
        subject: subject.to_owned(),
        kind: "transfer.prepare".to_owned(),
        participant: "payerfsp".to_owned(),
        method: "POST".to_owned(),
        uri: "/transfers".to_owned(),
        destination: None,
        date: None,
        signature: None,
        key_fingerprint: None,
        body: body.to_vec(),
        received_at_ms: 1,
    }
}

/// The key and evidence lookups are index searches, not table scans (the statements are the
/// ones `SqliteTx` runs).
#[tokio::test]
async fn jws_and_evidence_lookups_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = raw(&path).await;
    for (statement, index) in [
        (
            "SELECT participant FROM jws_keys WHERE participant = ?1 COLLATE NOCASE \
             ORDER BY added_at_ms, id",
            "jws_keys_by_participant",
        ),
        (
            "UPDATE jws_keys SET retired_at_ms = ?3 \
             WHERE participant = ?1 COLLATE NOCASE AND fingerprint = ?2 \
             AND retired_at_ms IS NULL",
            "jws_keys_by_participant",
        ),
        (
            "SELECT body FROM evidence WHERE subject = ?1 ORDER BY seq",
            "evidence_by_subject",
        ),
    ] {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {statement}"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let details: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert!(
            details
                .iter()
                .any(|d| d.starts_with("SEARCH") && d.contains(index)),
            "{statement}: {details:?}"
        );
        if statement.contains("FROM evidence") {
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "append order comes from the index: {details:?}"
            );
        }
    }
    store.close().await;
}

/// Bodies are stored as BLOBs (an empty body too, never NULL or TEXT), and text that does not
/// decode is reported as corruption of the table it is in.
#[tokio::test]
async fn jws_and_evidence_storage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_participant(&participant("payerfsp"))
        .await
        .unwrap();
    tx.insert_jws_key(&jws_key("payerfsp")).await.unwrap();
    tx.append_evidence(&evidence("t1", b"")).await.unwrap();
    tx.append_evidence(&evidence("t2", b"{}")).await.unwrap();
    tx.commit().await.unwrap();

    let mut other = raw(&path).await;
    let types: Vec<(String, i64)> =
        sqlx::query_as("SELECT typeof(body), length(body) FROM evidence ORDER BY seq")
            .fetch_all(&mut other)
            .await
            .unwrap();
    assert_eq!(types, [("blob".to_owned(), 0), ("blob".to_owned(), 2)]);

    sqlx::query("UPDATE evidence SET uri = CAST(X'FF' AS TEXT) WHERE subject = 't2'")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("UPDATE jws_keys SET alg = CAST(X'C328' AS TEXT)")
        .execute(&mut other)
        .await
        .unwrap();
    let mut tx = store.read().await.unwrap();
    match tx.evidence("t2").await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("evidence"), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    match tx.jws_keys("payerfsp").await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("jws_keys"), "{message}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert_eq!(tx.evidence("t1").await.unwrap(), [evidence("t1", b"")]);
}

/// The TLS settings table is STRICT, keyed by participant with a foreign key to participants,
/// and text that does not decode is reported as corruption of that table.
#[tokio::test]
async fn participant_tls_storage() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let tls = ParticipantTls {
        participant: "payerfsp".to_owned(),
        spki_pin: Some("ab".repeat(32)),
        callback_ca_pem: None,
        updated_at_ms: 7,
    };
    let mut tx = store.begin().await.unwrap();
    tx.insert_participant(&participant("payerfsp"))
        .await
        .unwrap();
    tx.upsert_participant_tls(&tls).await.unwrap();
    tx.commit().await.unwrap();

    let mut other = raw(&path).await;
    let (strict, pk): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT strict FROM pragma_table_list WHERE name = 'participant_tls'), \
         (SELECT pk FROM pragma_table_info('participant_tls') WHERE name = 'participant')",
    )
    .fetch_one(&mut other)
    .await
    .unwrap();
    assert_eq!((strict, pk), (1, 1));
    let references: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list('participant_tls')",
    )
    .fetch_all(&mut other)
    .await
    .unwrap();
    assert_eq!(
        references,
        [(
            "participants".to_owned(),
            "participant".to_owned(),
            "name".to_owned()
        )]
    );
    let types: (String, String) =
        sqlx::query_as("SELECT typeof(spki_pin), typeof(callback_ca_pem) FROM participant_tls")
            .fetch_one(&mut other)
            .await
            .unwrap();
    assert_eq!(types, ("text".to_owned(), "null".to_owned()));

    sqlx::query("UPDATE participant_tls SET spki_pin = CAST(X'C328' AS TEXT)")
        .execute(&mut other)
        .await
        .unwrap();
    let mut tx = store.read().await.unwrap();
    for result in [
        tx.participant_tls("payerfsp").await.map(|_| ()),
        tx.all_participant_tls().await.map(|_| ()),
    ] {
        match result {
            Err(StoreError::Corrupt(message)) => {
                assert!(message.contains("participant_tls"), "{message}")
            }
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn open_fails_cleanly_on_a_non_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a.db");
    std::fs::write(&path, vec![b'x'; 4096]).unwrap();
    match SqliteStore::open(&path).await {
        Err(StoreError::Backend(message)) => assert!(message.contains("not-a.db"), "{message}"),
        other => panic!("expected Backend, got {:?}", other.map(|s| s.describe())),
    }
}

/// `MIGRATIONS` embeds exactly the files of `migrations/sqlite`, in order.
#[test]
fn embedded_migrations_match_the_directory() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    let mut files: Vec<(i64, String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let stem = name.strip_suffix(".sql").expect("only .sql files");
            let (version, description) = stem.split_once('_').expect("<version>_<description>");
            (
                version.parse().unwrap(),
                description.replace('_', " "),
                std::fs::read_to_string(&path).unwrap(),
            )
        })
        .collect();
    files.sort();
    let embedded: Vec<(i64, String, String)> = MIGRATIONS
        .iter()
        .map(|&(v, d, sql)| (v, d.to_owned(), sql.to_owned()))
        .collect();
    assert_eq!(embedded, files);
}

/// Not a benchmark: prints how long one group-commit batch of 500 transfers takes
/// (insert_transfer + update_account + append_journal each, then one commit).
#[tokio::test]
async fn batch_of_500_timing() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("hub.db")).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_participant(&participant("payerfsp"))
        .await
        .unwrap();
    let mut account = tx
        .insert_account(&NewAccount {
            participant: "payerfsp".to_owned(),
            currency: "USD".to_owned(),
            kind: AccountType::Position,
            at_ms: 0,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut totals = Vec::new();
    for batch in 0..5 {
        let start = Instant::now();
        let mut tx = store.begin().await.unwrap();
        for n in 0..500 {
            let id = format!("b{batch}-t{n}");
            tx.insert_transfer(&transfer(&id)).await.unwrap();
            account.reserved += Decimal::new(1025, 2);
            account.changed_at_ms = n;
            tx.update_account(&account).await.unwrap();
            tx.append_journal(&JournalEntry {
                account_id: account.id,
                reference: id,
                reason: "PREPARE".to_owned(),
                value_delta: Decimal::ZERO,
                reserved_delta: Decimal::new(1025, 2),
                at_ms: n,
            })
            .await
            .unwrap();
        }
        let statements = start.elapsed();
        tx.commit().await.unwrap();
        let total = start.elapsed();
        println!(
            "batch {batch}: 500 × (insert_transfer + update_account + append_journal): \
             statements {statements:?}, commit {:?}, total {total:?} ({:.0} transfers/s)",
            total - statements,
            500.0 / total.as_secs_f64()
        );
        totals.push(total);
    }
    totals.sort();
    println!("median batch total: {:?}", totals[totals.len() / 2]);
}

// ---------------------------------------------------------------------------------------------
// The audit hash chain.

/// A database created by a build from before the audit chain: migrations 1–3 only.
async fn database_before_the_audit_chain(path: &Path) -> SqliteConnection {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::{AssertSqlSafe, SqlSafeStr};
    let migrator = Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .filter(|(version, _, _)| *version <= 3)
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    std::borrow::Cow::Borrowed(description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    migrator.run(&mut conn).await.unwrap();
    conn
}

fn entry(n: i64, at_ms: i64) -> AuditEntry {
    AuditEntry {
        at_ms,
        actor: "operator".to_owned(),
        action: format!("action.{n}"),
        subject: "payerfsp".to_owned(),
        detail: format!("{{\"n\":{n}}}"),
        outcome: "ok".to_owned(),
        ..AuditEntry::default()
    }
}

/// Checks the whole log: seq 1, 2, 3, … each linked to the one before with the right hash.
async fn chained_log(store: &SqliteStore) -> Vec<AuditEntry> {
    let mut tx = store.read().await.unwrap();
    let all = tx.audit_range(0, u32::MAX).await.unwrap();
    let mut prev = AUDIT_GENESIS_HASH.to_owned();
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e.seq, i64::try_from(i).unwrap() + 1, "{all:#?}");
        assert_eq!(e.prev_hash, prev);
        assert_eq!(Some(e.hash.clone()), e.chain_hash(&prev));
        prev.clone_from(&e.hash);
    }
    all
}

async fn table_exists(path: &Path, name: &str) -> bool {
    let mut conn = raw(path).await;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE name = ?1)")
        .bind(name)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Entries written before migration 4 are chained when the store opens, in the order they were
/// written (not by time), and the chain continues from them.
#[tokio::test]
async fn audit_entries_from_before_the_chain_are_chained_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let mut old = database_before_the_audit_chain(&path).await;
    // Written in this order; the clock went backwards once.
    let legacy = [entry(1, 30), entry(2, 10), entry(3, 20)];
    for e in &legacy {
        sqlx::query(
            "INSERT INTO audit (at_ms, actor, action, subject, detail, outcome) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .bind(e.at_ms)
        .bind(&e.actor)
        .bind(&e.action)
        .bind(&e.subject)
        .bind(&e.detail)
        .bind(&e.outcome)
        .execute(&mut old)
        .await
        .unwrap();
    }
    // More than one page of them.
    sqlx::query(
        "WITH RECURSIVE n(i) AS (SELECT 4 UNION ALL SELECT i + 1 FROM n WHERE i < 2500) \
         INSERT INTO audit (at_ms, actor, action, subject, detail, outcome) \
         SELECT i, 'bulk', 'action.' || i, '', '{}', 'ok' FROM n",
    )
    .execute(&mut old)
    .await
    .unwrap();
    drop(old);

    let store = SqliteStore::open(&path).await.unwrap();
    assert!(!table_exists(&path, "audit_legacy").await);
    let all = chained_log(&store).await;
    assert_eq!(all.len(), 2500);
    assert!(
        all.iter()
            .skip(3)
            .all(|e| e.action == format!("action.{}", e.seq))
    );
    let content: Vec<(i64, String)> = all
        .iter()
        .take(3)
        .map(|e| (e.at_ms, e.action.clone()))
        .collect();
    assert_eq!(
        content,
        [
            (30, "action.1".to_owned()),
            (10, "action.2".to_owned()),
            (20, "action.3".to_owned())
        ]
    );
    assert_eq!(all[2].detail, legacy[2].detail);

    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&entry(2501, 40)).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;

    // Reopening changes nothing.
    let store = SqliteStore::open(&path).await.unwrap();
    let again = chained_log(&store).await;
    assert_eq!(again.len(), 2501);
    assert_eq!(again[..2500], all[..]);
}

/// A database whose legacy table was left next to a chained log (by hand) is not guessed at.
#[tokio::test]
async fn legacy_audit_next_to_a_chained_log_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&entry(1, 1)).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    let mut conn = raw(&path).await;
    sqlx::query("CREATE TABLE audit_legacy (id INTEGER PRIMARY KEY, at_ms INTEGER)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    match SqliteStore::open(&path).await {
        Err(StoreError::Corrupt(message)) => assert!(message.contains("audit_legacy"), "{message}"),
        other => panic!("expected Corrupt, got {:?}", other.map(|s| s.describe())),
    }
}

/// Two stores on one file (two processes, say) append in turn: each reads the head inside its
/// own write transaction, so the chain stays dense and linked.
#[tokio::test]
async fn two_stores_on_one_file_extend_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let a = SqliteStore::open(&path).await.unwrap();
    let b = SqliteStore::open(&path).await.unwrap();
    let mut writers = Vec::new();
    for (i, store) in [a.clone(), b.clone()].into_iter().enumerate() {
        writers.push(tokio::spawn(async move {
            for n in 0..20 {
                let mut tx = store.begin().await.unwrap();
                tx.append_audit(&entry(n, i64::try_from(i).unwrap()))
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
                tx.append_audit(&entry(n, 100)).await.unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for writer in writers {
        writer.await.unwrap();
    }
    assert_eq!(chained_log(&a).await.len(), 80);
    assert_eq!(chained_log(&b).await, chained_log(&a).await);
}

/// The schema refuses rows that are not chain links (a bug would fail loudly, not store them).
#[tokio::test]
async fn audit_chain_columns_are_constrained() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let _store = SqliteStore::open(&path).await.unwrap();
    let mut conn = raw(&path).await;
    let good = "ab".repeat(32);
    for (seq, prev, hash) in [
        (0, good.as_str(), good.as_str()),
        (1, "AB", good.as_str()),
        (1, good.as_str(), &"AB".repeat(32)),
        (1, good.as_str(), &"ab".repeat(31)),
    ] {
        let result = sqlx::query(
            "INSERT INTO audit (seq, at_ms, actor, action, subject, detail, outcome, prev_hash, \
             hash) VALUES (?1, 0, '', '', '', '', '', ?2, ?3)",
        )
        .bind(seq)
        .bind(prev)
        .bind(hash)
        .execute(&mut conn)
        .await;
        assert!(result.is_err(), "{seq} {prev} {hash}");
    }
    for missing in ["prev_hash", "hash"] {
        let sql = format!(
            "INSERT INTO audit (seq, at_ms, actor, action, subject, detail, outcome, {missing}) \
             VALUES (1, 0, '', '', '', '', '', '{good}')"
        );
        let result = sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await;
        assert!(result.is_err(), "without {missing}");
    }
}

// ---------------------------------------------------------------------------------------------
// Operator IAM.

fn iam_operator(name: &str) -> Operator {
    Operator {
        name: name.to_owned(),
        password_phc: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned(), // secret-scan: allow (fake PHC: salt "salt", hash "hash")
        password_changed_at_ms: 1,
        must_change_password: false,
        failed_attempts: 0,
        last_failure_at_ms: None,
        totp_secret_b32: Some("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP".to_owned()),
        totp_last_step: Some(7),
        recovery_code_hashes: vec!["$argon2id$v=19$m=19456,t=2,p=1$cg$aA".to_owned()],
        disabled: false,
        created_at_ms: 1,
    }
}

fn iam_approval(id: &str, maker: &str) -> ApprovalRecord {
    ApprovalRecord {
        id: id.to_owned(),
        permission: "funds.in".to_owned(),
        payload_json: "{}".to_owned(),
        maker: maker.to_owned(),
        created_at_ms: 1,
        expires_at_ms: 2,
        required_approvals: 1,
        state: ApprovalRecord::PENDING.to_owned(),
        approvals_json: "[]".to_owned(),
        decided_by: None,
        reason: None,
        executed_at_ms: None,
        result_json: None,
    }
}

/// A store with operators `maker` and `checker`, one of each IAM row, committed.
async fn iam_store(path: &Path) -> SqliteStore {
    let store = SqliteStore::open(path).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_operator(&iam_operator("maker")).await.unwrap();
    tx.insert_operator(&iam_operator("checker")).await.unwrap();
    tx.push_password_history("maker", "$argon2id$v=19$old", 1)
        .await
        .unwrap();
    tx.upsert_custom_role(&CustomRole {
        name: "desk".to_owned(),
        permissions: vec!["participants.read".to_owned()],
        created_at_ms: 1,
    })
    .await
    .unwrap();
    tx.set_operator_roles("maker", &["desk".to_owned()])
        .await
        .unwrap();
    tx.insert_session(&SessionRecord {
        id_hash: "ab".repeat(32),
        operator: "maker".to_owned(),
        created_at_ms: 1,
        last_seen_ms: 1,
        idle_timeout_ms: 1,
        absolute_timeout_ms: 1,
        mfa_at_ms: None,
    })
    .await
    .unwrap();
    tx.insert_api_token(&ApiTokenRecord {
        id_hash: "cd".repeat(32),
        operator: "maker".to_owned(),
        label: "ci".to_owned(),
        scopes: vec!["participants.read".to_owned()],
        created_at_ms: 1,
        expires_at_ms: 2,
        revoked_at_ms: None,
    })
    .await
    .unwrap();
    tx.insert_approval(&iam_approval("r1", "maker"))
        .await
        .unwrap();
    tx.add_approval_vote("r1", "checker", 1).await.unwrap();
    tx.commit().await.unwrap();
    store
}

const IAM_TABLES: [&str; 8] = [
    "operators",
    "password_history",
    "custom_roles",
    "operator_roles",
    "sessions",
    "api_tokens",
    "approvals",
    "approval_votes",
];

/// The IAM tables are STRICT, every reference to an operator or a request is a foreign key,
/// and the maker rules are triggers.
#[tokio::test]
async fn iam_schema_is_strict_and_keyed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let _store = iam_store(&path).await;
    let mut conn = raw(&path).await;
    for table in IAM_TABLES {
        let strict: i64 =
            sqlx::query_scalar("SELECT strict FROM pragma_table_list WHERE name = ?1")
                .bind(table)
                .fetch_one(&mut conn)
                .await
                .unwrap();
        assert_eq!(strict, 1, "{table}");
    }
    let mut references: Vec<(String, String, String, String)> = Vec::new();
    for table in IAM_TABLES {
        let rows: Vec<(String, String, String)> =
            sqlx::query_as("SELECT \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?1)")
                .bind(table)
                .fetch_all(&mut conn)
                .await
                .unwrap();
        references.extend(
            rows.into_iter()
                .map(|(to_table, from, to)| (table.to_owned(), from, to_table, to)),
        );
    }
    references.sort();
    let expected: Vec<(String, String, String, String)> = [
        ("api_tokens", "operator", "operators", "name"),
        ("approval_votes", "approval_id", "approvals", "id"),
        ("approval_votes", "voter", "operators", "name"),
        ("approvals", "decided_by", "operators", "name"),
        ("approvals", "maker", "operators", "name"),
        ("operator_roles", "operator", "operators", "name"),
        ("password_history", "operator", "operators", "name"),
        ("sessions", "operator", "operators", "name"),
    ]
    .iter()
    .map(|&(a, b, c, d)| (a.to_owned(), b.to_owned(), c.to_owned(), d.to_owned()))
    .collect();
    assert_eq!(references, expected);
    let triggers: Vec<String> =
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        triggers,
        [
            "approval_votes_not_by_maker",
            "approval_votes_not_by_maker_on_update",
            "approvals_maker_fixed"
        ]
    );
    // Lists are JSON text; secrets are never stored in the clear.
    let types: (String, String, String) = sqlx::query_as(
        "SELECT typeof(recovery_code_hashes), typeof(totp_last_step), typeof(failed_attempts) \
         FROM operators WHERE name = 'maker'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        types,
        (
            "text".to_owned(),
            "integer".to_owned(),
            "integer".to_owned()
        )
    );
}

/// The schema itself refuses what the store would never write (so a bug, or a hand edit,
/// fails loudly): a vote by the maker (also by changing a vote), a changed maker, the maker
/// as the approving decider, plain secrets, lists that are not JSON arrays.
#[tokio::test]
async fn iam_schema_refuses_broken_rules() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let _store = iam_store(&path).await;
    let mut conn = raw(&path).await;
    for statement in [
        "INSERT INTO approval_votes (approval_id, voter, at_ms) VALUES ('r1', 'maker', 2)",
        "UPDATE approval_votes SET voter = 'maker'",
        "UPDATE approvals SET maker = 'checker'",
        "UPDATE approvals SET state = 'approved', decided_by = 'maker'",
        "UPDATE approvals SET state = 'executed'",
        "UPDATE approvals SET state = 'Pending'",
        "UPDATE approvals SET approvals_json = '{}'",
        "UPDATE approvals SET payload_json = 'nope'",
        "UPDATE operators SET password_phc = 'hunter2'", // secret-scan: allow (not a PHC string: the CHECK must refuse it)
        "UPDATE operators SET totp_secret_b32 = 'jbswy3dpehpk3pxpjbswy3dpehpk3pxp'", // secret-scan: allow (lower case: the CHECK must refuse it)
        "UPDATE operators SET totp_last_step = -1",
        "UPDATE operators SET failed_attempts = 4294967296",
        "UPDATE operators SET recovery_code_hashes = 'x'",
        "UPDATE operators SET recovery_code_hashes = '\"a\"'",
        "UPDATE password_history SET phc = 'hunter2'",
        "UPDATE custom_roles SET permissions = '{}'",
        "UPDATE sessions SET id_hash = upper(id_hash)",
        "UPDATE sessions SET idle_timeout_ms = 0",
        "UPDATE api_tokens SET expires_at_ms = created_at_ms",
        "UPDATE api_tokens SET scopes = 'participants.read'",
        "INSERT INTO operators (name, password_phc, password_changed_at_ms, \
         must_change_password, failed_attempts, recovery_code_hashes, disabled, created_at_ms) \
         VALUES ('MAKER', '$argon2id$x', 1, 0, 0, '[]', 0, 1)",
        "INSERT INTO operator_roles (operator, role) VALUES ('MAKER', 'desk')",
        "INSERT INTO operator_roles (operator, role) VALUES ('maker', 'desk')",
    ] {
        let result = sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut conn)
            .await;
        assert!(result.is_err(), "{statement}");
    }
    // A maker withdrawing their own request is allowed.
    sqlx::query("UPDATE approvals SET state = 'rejected', decided_by = 'maker', reason = 'oops'")
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The IAM lookups are index searches, and their orderings come from the indexes (the
/// statements are the ones `SqliteTx` runs).
#[tokio::test]
async fn iam_lookups_use_their_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let mut conn = raw(&path).await;
    for (statement, index, sorted_by_index) in [
        (
            "SELECT name FROM operators WHERE name = ?1 COLLATE NOCASE",
            "operators_name_nocase",
            true,
        ),
        (
            "SELECT phc FROM password_history WHERE operator = ?1 COLLATE NOCASE \
             ORDER BY id DESC LIMIT ?2",
            "password_history_by_operator",
            true,
        ),
        (
            "SELECT role FROM operator_roles WHERE operator = ?1 COLLATE NOCASE ORDER BY role",
            "operator_roles_key",
            true,
        ),
        (
            "DELETE FROM operator_roles WHERE role = ?1",
            "operator_roles_by_role",
            true,
        ),
        (
            "DELETE FROM sessions WHERE operator = ?1 COLLATE NOCASE",
            "sessions_by_operator",
            true,
        ),
        (
            "SELECT id_hash FROM api_tokens WHERE operator = ?1 COLLATE NOCASE \
             ORDER BY created_at_ms, rowid",
            "api_tokens_by_operator",
            true,
        ),
        (
            "SELECT id FROM approvals WHERE state = ?1 \
             ORDER BY created_at_ms DESC, rowid DESC LIMIT ?2",
            "approvals_by_state",
            true,
        ),
        (
            "SELECT voter FROM approval_votes WHERE approval_id = ?1 ORDER BY rowid",
            "sqlite_autoindex_approval_votes_1",
            false,
        ),
    ] {
        let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {statement}"
        )))
        .fetch_all(&mut conn)
        .await
        .unwrap();
        let details: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
        assert!(
            details
                .iter()
                .any(|d| d.starts_with("SEARCH") && d.contains(index)),
            "{statement}: {details:?}"
        );
        if sorted_by_index {
            assert!(
                !details.iter().any(|d| d.contains("TEMP B-TREE")),
                "{statement}: order from the index: {details:?}"
            );
        }
    }
    // Newest first over all requests walks the time index.
    let plan: Vec<(i64, i64, i64, String)> = sqlx::query_as(
        "EXPLAIN QUERY PLAN SELECT id FROM approvals \
         ORDER BY created_at_ms DESC, rowid DESC LIMIT ?1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let details: Vec<&str> = plan.iter().map(|row| row.3.as_str()).collect();
    assert!(
        details
            .iter()
            .any(|d| d.contains("approvals_by_time") && !d.contains("TEMP B-TREE")),
        "{details:?}"
    );
    assert!(
        !details.iter().any(|d| d.contains("TEMP B-TREE")),
        "{details:?}"
    );
    store.close().await;
}

/// Stored IAM values that pass the schema's checks but do not decode (a JSON array of
/// something other than strings, text that is not UTF-8, an integer out of the model's range)
/// are reported as corruption of their table.
#[tokio::test]
async fn iam_bad_stored_values_are_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let store = iam_store(&path).await;
    let mut other = raw(&path).await;
    for statement in [
        "UPDATE operators SET recovery_code_hashes = '[1]' WHERE name = 'maker'",
        "UPDATE operators SET totp_last_step = NULL, failed_attempts = 0 WHERE name = 'checker'",
        "UPDATE custom_roles SET permissions = '[null]'",
        "UPDATE api_tokens SET scopes = '[[\"participants.read\"]]'",
        "UPDATE approvals SET reason = CAST(X'C328' AS TEXT)",
        "UPDATE password_history SET phc = '$argon2id$' || CAST(X'FF' AS TEXT)",
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut other)
            .await
            .unwrap();
    }
    // Text that is not UTF-8 in a column with a foreign key (checks off, as a hand edit might).
    sqlx::query("PRAGMA foreign_keys = OFF")
        .execute(&mut other)
        .await
        .unwrap();
    sqlx::query("UPDATE sessions SET operator = CAST(X'C328' AS TEXT)")
        .execute(&mut other)
        .await
        .unwrap();
    let mut tx = store.read().await.unwrap();
    let session_hash = "ab".repeat(32);
    let token_hash = "cd".repeat(32);
    for (table, result) in [
        ("operators", tx.operator("maker").await.map(|_| ())),
        ("operators", tx.operators().await.map(|_| ())),
        ("custom_roles", tx.custom_roles().await.map(|_| ())),
        ("api_tokens", tx.api_token(&token_hash).await.map(|_| ())),
        ("api_tokens", tx.api_tokens("maker").await.map(|_| ())),
        ("sessions", tx.session(&session_hash).await.map(|_| ())),
        ("approvals", tx.approval("r1").await.map(|_| ())),
        ("approvals", tx.approvals(None, 10).await.map(|_| ())),
        (
            "password_history",
            tx.password_history("maker", 10).await.map(|_| ()),
        ),
    ] {
        match result {
            Err(StoreError::Corrupt(message)) => assert!(message.contains(table), "{message}"),
            other => panic!("{table}: expected Corrupt, got {other:?}"),
        }
    }
    // Rows that are fine still read.
    assert_eq!(
        tx.operator("checker").await.unwrap(),
        Some(Operator {
            totp_last_step: None,
            ..iam_operator("checker")
        })
    );
}

/// A database from before operator IAM (migrations 1–4, with data) gains the IAM tables on
/// open and keeps its data.
#[tokio::test]
async fn iam_tables_added_to_an_existing_database() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::{AssertSqlSafe, SqlSafeStr};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let migrator = Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .filter(|(version, _, _)| *version <= 4)
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    std::borrow::Cow::Borrowed(description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    migrator.run(&mut conn).await.unwrap();
    sqlx::query("INSERT INTO participants (name, is_active, created_at_ms) VALUES ('a', 1, 1)")
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    assert!(!table_exists(&path, "operators").await);

    let store = SqliteStore::open(&path).await.unwrap();
    for table in IAM_TABLES {
        assert!(table_exists(&path, table).await, "{table}");
    }
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.participant("a").await.unwrap(), Some(participant("a")));
    tx.insert_operator(&iam_operator("admin")).await.unwrap();
    tx.commit().await.unwrap();
}

/// Migration 8 on a database that already holds several FSPs' registrations of one party (the
/// party takeover of issue 12): the one registered first owns it, whatever the rows' currencies,
/// and registrations made afterwards come after every existing one.
#[tokio::test]
async fn party_owners_of_an_existing_database_are_its_oldest_registrations() {
    use sqlx::migrate::{Migration, MigrationType, Migrator};
    use sqlx::{AssertSqlSafe, SqlSafeStr};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let migrator = Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .filter(|(version, _, _)| *version < 8)
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    std::borrow::Cow::Borrowed(description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    false,
                )
            })
            .collect(),
    );
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .create_if_missing(true)
        .connect()
        .await
        .unwrap();
    migrator.run(&mut conn).await.unwrap();
    // Oldest first: the owner's USD row, then the attacker's currency-less row (which sorts
    // first by currency); on party 2 the other way round.
    for (identifier, currency, fsp) in [
        ("1", "USD", "owner"),
        ("1", "", "evil"),
        ("2", "", "evil"),
        ("2", "USD", "owner"),
    ] {
        sqlx::query(
            "INSERT INTO parties (id_type, identifier, sub_id, currency, fsp_id) \
             VALUES ('MSISDN', ?1, '', ?2, ?3)",
        )
        .bind(identifier)
        .bind(currency)
        .bind(fsp)
        .execute(&mut conn)
        .await
        .unwrap();
    }
    drop(conn);

    let store = SqliteStore::open(&path).await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let owner = |p: Option<ledger::PartyRegistration>| p.map(|p| p.fsp_id);
    assert_eq!(
        owner(tx.party_owner("MSISDN", "1", "").await.unwrap()).as_deref(),
        Some("owner")
    );
    assert_eq!(
        owner(tx.party_owner("MSISDN", "2", "").await.unwrap()).as_deref(),
        Some("evil")
    );
    // A new registration of party 2 comes after the old ones.
    tx.upsert_party(&ledger::PartyRegistration {
        id_type: "MSISDN".into(),
        identifier: "2".into(),
        sub_id: String::new(),
        fsp_id: "third".into(),
        currency: "EUR".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        owner(tx.party_owner("MSISDN", "2", "").await.unwrap()).as_deref(),
        Some("evil")
    );
    tx.commit().await.unwrap();
    assert!(table_exists(&path, "party_lookups").await);
}

// ---------------------------------------------------------------------------------------------
// File modes and audit indexes.

/// `hub.db` and its `-wal`/`-shm` are readable by the hub's user only: created so, kept so
/// after writes, and narrowed at open when someone widened them.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |path: &Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    let companions = |path: &Path| {
        ["", "-wal", "-shm"]
            .map(|suffix| std::path::PathBuf::from(format!("{}{suffix}", path.display())))
    };
    for round in 0..2 {
        let store = SqliteStore::open(&path).await.unwrap();
        let mut tx = store.begin().await.unwrap();
        tx.insert_participant(&participant(&format!("p{round}")))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        for file in companions(&path) {
            assert_eq!(mode(&file), store::DATABASE_FILE_MODE, "{}", file.display());
        }
        store.close().await;
        // Widened by hand: the next open narrows it again.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

/// The statements `audit_query` builds can use the indexes of migration 9.
#[tokio::test]
async fn audit_filters_use_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hub.db");
    SqliteStore::open(&path).await.unwrap().close().await;
    let mut conn = SqliteConnectOptions::new()
        .filename(&path)
        .connect()
        .await
        .unwrap();
    for (condition, index) in [
        ("action = 'request.approve'", "audit_action"),
        (
            "action >= 'request.' AND action < 'request/'",
            "audit_action",
        ),
        ("actor = 'alice'", "audit_actor"),
        ("subject = 'payerfsp'", "audit_subject"),
        ("at_ms >= 1 AND at_ms < 2", "audit_at"),
    ] {
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT seq FROM audit WHERE 1 AND {condition} ORDER BY seq DESC LIMIT 10"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut conn)
            .await
            .unwrap();
        let plan: Vec<String> = rows
            .iter()
            .map(|row| sqlx::Row::get::<String, _>(row, 3))
            .collect();
        assert!(
            plan.iter().any(|step| step.contains(index)),
            "{condition}: {plan:?}"
        );
    }
}
