//! SQLite-specific behaviour: durability, connection settings, locking, corruption, migrations.

use std::path::Path;
use std::time::{Duration, Instant};

use ledger::{
    AUDIT_GENESIS_HASH, AccountType, AuditEntry, Evidence, JournalEntry, JwsKey, LedgerStore,
    NewAccount, Participant, ParticipantTls, StoreError, Transfer, TransferState,
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
