//! `ferroloop audit verify` and `ferroloop audit export` against a real data directory, and
//! tampering done the way an intruder with the file would do it: raw SQL on `hub.db`.

use std::path::Path;
use std::process::{Command, Output};

use ledger::{AUDIT_GENESIS_HASH, AuditEntry, LedgerStore};
use serde_json::Value;
use sqlx::ConnectOptions as _;
use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use store::SqliteStore;

fn entry(n: i64) -> AuditEntry {
    AuditEntry {
        at_ms: 1_700_000_000_000 + n,
        actor: "operator".to_owned(),
        action: format!("participant.action{n}"),
        subject: "payerfsp".to_owned(),
        detail: format!("{{\"n\":{n}}}"),
        outcome: "ok".to_owned(),
        ..AuditEntry::default()
    }
}

/// A data directory whose audit log holds 6 entries: 3 appended in one transaction, 3 more in
/// one transaction each.
async fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("open store");
    let mut tx = store.begin().await.unwrap();
    for n in 1..=3 {
        tx.append_audit(&entry(n)).await.unwrap();
    }
    tx.commit().await.unwrap();
    for n in 4..=6 {
        let mut tx = store.begin().await.unwrap();
        tx.append_audit(&entry(n)).await.unwrap();
        tx.commit().await.unwrap();
    }
    store.close().await;
    dir
}

fn ferroloop(args: &[&str], data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferroloop")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `ferroloop audit verify`: must fail, and its output must name each of `expected`.
fn assert_refused(dir: &Path, expected: &[&str]) -> String {
    let output = ferroloop(&["audit", "verify"], dir);
    let all = text(&output);
    assert!(!output.status.success(), "tampering not detected:\n{all}");
    assert_eq!(output.status.code(), Some(1), "{all}");
    for needle in expected {
        assert!(all.contains(needle), "{needle:?} not in:\n{all}");
    }
    all
}

async fn raw(dir: &Path) -> SqliteConnection {
    SqliteConnectOptions::new()
        .filename(dir.join("hub.db"))
        .connect()
        .await
        .expect("raw connection")
}

async fn exec(dir: &Path, statements: &[&'static str]) {
    let mut conn = raw(dir).await;
    for sql in statements {
        let done = sqlx::query(*sql).execute(&mut conn).await.expect(sql);
        assert!(done.rows_affected() > 0, "{sql} changed nothing");
    }
}

#[tokio::test]
async fn an_intact_log_verifies_and_exports() {
    let dir = data_dir().await;
    let output = ferroloop(&["audit", "verify"], dir.path());
    let all = text(&output);
    assert!(output.status.success(), "{all}");
    assert!(all.contains("entries    6"), "{all}");
    assert!(all.contains("OK"), "{all}");
    assert!(!all.contains("PROBLEM"), "{all}");

    let output = ferroloop(&["audit", "verify", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert_eq!(report["entries"], 6);
    assert_eq!(report["head_seq"], 6);
    assert_eq!(report["problems"], serde_json::json!([]));

    // The export carries everything an auditor needs to recompute the chain.
    let output = ferroloop(&["audit", "export"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let lines: Vec<AuditEntry> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).expect("one entry per line"))
        .collect();
    assert_eq!(lines.len(), 6);
    let mut prev = AUDIT_GENESIS_HASH.to_owned();
    for (i, e) in lines.iter().enumerate() {
        assert_eq!(e.seq, i64::try_from(i).unwrap() + 1);
        assert_eq!(e.prev_hash, prev);
        assert_eq!(e.chain_hash(&prev), Some(e.hash.clone()));
        assert_eq!(e.detail, entry(e.seq).detail);
        prev.clone_from(&e.hash);
    }
    assert_eq!(report["head_hash"], Value::String(prev));
    assert!(
        all.contains(&lines[5].hash),
        "the text report shows the head hash"
    );

    let output = ferroloop(&["audit", "export", "--after", "4"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let seqs: Vec<i64> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [5, 6]);
}

#[tokio::test]
async fn an_edited_entry_is_detected() {
    let dir = data_dir().await;
    exec(
        dir.path(),
        &[r#"UPDATE audit SET detail = '{"n":99}' WHERE seq = 3"#],
    )
    .await;
    assert_refused(dir.path(), &["seq 3: edited", "does NOT verify"]);
}

#[tokio::test]
async fn an_edited_timestamp_is_detected() {
    let dir = data_dir().await;
    exec(
        dir.path(),
        &["UPDATE audit SET at_ms = at_ms + 1 WHERE seq = 5"],
    )
    .await;
    assert_refused(dir.path(), &["seq 5: edited"]);
}

#[tokio::test]
async fn a_removed_entry_is_detected() {
    let dir = data_dir().await;
    exec(dir.path(), &["DELETE FROM audit WHERE seq = 3"]).await;
    assert_refused(
        dir.path(),
        &[
            "seq 4: missing entries: entry 3 is missing",
            "seq 4: broken link",
        ],
    );
}

#[tokio::test]
async fn a_removed_and_renumbered_entry_is_detected() {
    let dir = data_dir().await;
    exec(
        dir.path(),
        &[
            "DELETE FROM audit WHERE seq = 3",
            "UPDATE audit SET seq = seq - 1 WHERE seq > 3",
        ],
    )
    .await;
    assert_refused(
        dir.path(),
        &[
            "seq 3: reordered: stored at seq 3 but chained as seq 4",
            "seq 3: broken link",
        ],
    );
}

#[tokio::test]
async fn swapped_entries_are_detected() {
    let dir = data_dir().await;
    exec(
        dir.path(),
        &[
            "UPDATE audit SET seq = 1000 WHERE seq = 2",
            "UPDATE audit SET seq = 2 WHERE seq = 3",
            "UPDATE audit SET seq = 3 WHERE seq = 1000",
        ],
    )
    .await;
    assert_refused(
        dir.path(),
        &[
            "seq 2: reordered: stored at seq 2 but chained as seq 3",
            "seq 3: reordered: stored at seq 3 but chained as seq 2",
            "seq 4: broken link",
        ],
    );
}

/// An intruder who edits an entry and recomputes its hash (the encoding is public) breaks the
/// link to the next entry; re-hashing everything after it too is what an archived head hash
/// catches (see `hub::audit`).
#[tokio::test]
async fn an_edited_and_rehashed_entry_is_detected() {
    let dir = data_dir().await;
    let mut conn = raw(dir.path()).await;
    let (prev_hash,): (String,) = sqlx::query_as("SELECT prev_hash FROM audit WHERE seq = 3")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let forged = AuditEntry {
        seq: 3,
        detail: r#"{"n":99}"#.to_owned(),
        ..entry(3)
    };
    let hash = forged.chain_hash(&prev_hash).unwrap();
    sqlx::query("UPDATE audit SET detail = ?1, hash = ?2 WHERE seq = 3")
        .bind(&forged.detail)
        .bind(&hash)
        .execute(&mut conn)
        .await
        .unwrap();
    drop(conn);
    let all = assert_refused(dir.path(), &["seq 4: broken link"]);
    assert!(
        !all.contains("seq 3"),
        "entry 3 itself hashes right:\n{all}"
    );
}

#[tokio::test]
async fn a_missing_database_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = ferroloop(&["audit", "verify"], dir.path());
    assert!(!output.status.success());
    assert!(
        text(&output).contains("no hub database"),
        "{}",
        text(&output)
    );
    assert!(
        !dir.path().join("hub.db").exists(),
        "verify creates nothing"
    );
}

#[tokio::test]
async fn truncation_is_detected_against_a_recorded_head() {
    let dir = data_dir().await;
    let output = ferroloop(&["audit", "verify", "--json"], dir.path());
    assert!(output.status.success(), "{}", text(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let head = format!(
        "{}:{}",
        report["head_seq"].as_i64().expect("head_seq"),
        report["head_hash"].as_str().expect("head_hash")
    );
    let intact = ferroloop(&["audit", "verify", "--expect-head", &head], dir.path());
    assert!(intact.status.success(), "{}", text(&intact));
    assert!(text(&intact).contains("recorded head (seq 6) is still in the log"));

    // Removing the last entries leaves a chain that is intact on its own…
    exec(dir.path(), &["DELETE FROM audit WHERE seq >= 5"]).await;
    let alone = ferroloop(&["audit", "verify"], dir.path());
    assert!(alone.status.success(), "{}", text(&alone));
    // …but not against the head recorded before.
    let checked = ferroloop(&["audit", "verify", "--expect-head", &head], dir.path());
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    assert!(
        text(&checked).contains("entries were removed from the end"),
        "{}",
        text(&checked)
    );
    let bad = ferroloop(&["audit", "verify", "--expect-head", "six"], dir.path());
    assert!(!bad.status.success());
}
