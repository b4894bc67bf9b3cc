//! Store trouble: a full disk, a database another process holds locked, and a corrupt database
//! file. In each, the hub refuses new work cleanly (`503`, `2003`, nothing recorded, no crash),
//! never acknowledges what is not durable, and takes work again once the condition clears.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Pair, free_port, provision, spawn_hub};
use dfsp::provision::{AdminClient, AdminError};
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::Connection;

/// Size of the small filesystem the full-disk test fills.
const SMALL_FS: &str = "size=48m";
/// How long a condition may take to show or to clear.
const PATIENCE: Duration = Duration::from_secs(90);

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// A tmpfs of [`SMALL_FS`] mounted for the test's lifetime.
struct SmallFs(PathBuf);

impl SmallFs {
    fn mount(at: &Path) -> SmallFs {
        std::fs::create_dir_all(at).expect("mount point");
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", SMALL_FS, "ferroloop-test"])
            .arg(at)
            .status()
            .expect("run mount");
        assert!(
            status.success(),
            "mounting a small tmpfs needs root (CI runs as root): {status}"
        );
        SmallFs(at.to_path_buf())
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Writes a file until the filesystem is full.
fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).expect("filler");
    let big = vec![0xA5u8; 1 << 20];
    while file.write_all(&big).is_ok() {}
    let small = vec![0xA5u8; 512];
    while file.write_all(&small).is_ok() {}
    let _ = file.sync_all();
}

/// The hub's state of transfer `id`, or `None` when it does not know it (`3208`).
async fn state_of(admin: &AdminClient, id: &str) -> Option<String> {
    match admin
        .call(reqwest::Method::GET, &format!("/transfers/{id}"), None)
        .await
    {
        Ok(transfer) => Some(transfer["state"].as_str().unwrap_or_default().to_string()),
        Err(AdminError::Refused { body, .. }) if body.contains("\"3208\"") => None,
        Err(e) => panic!("GET /transfers/{id}: {e}"),
    }
}

/// Waits until every acknowledged transfer is final and checks that positions equal the
/// committed ones; refused prepares must be unknown to the hub. Returns the committed sum.
async fn reconcile(pair: &Pair, admin: &AdminClient, sent: &[(Value, bool)], label: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut committed = Decimal::ZERO;
    for (body, acknowledged) in sent {
        let id = body["transferId"].as_str().expect("id");
        let state = loop {
            let state = state_of(admin, id).await;
            match state.as_deref() {
                Some("RESERVED") if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                _ => break state,
            }
        };
        match (acknowledged, state.as_deref()) {
            (true, Some("COMMITTED")) => committed += Decimal::ONE,
            (true, Some("EXPIRED_RESERVED")) => {}
            (false, None) => {}
            (acknowledged, state) => panic!(
                "{label}: transfer {id} (acknowledged: {acknowledged}) is {state:?}: a refused \
                 prepare must leave nothing, an acknowledged one must be final"
            ),
        }
    }
    let (payer, payer_reserved) = admin
        .position(pair.payer.name(), "USD")
        .await
        .expect("payer position");
    let (payee, payee_reserved) = admin
        .position(pair.payee.name(), "USD")
        .await
        .expect("payee position");
    assert_eq!(
        dec(&payer_reserved),
        Decimal::ZERO,
        "{label}: reserved left"
    );
    assert_eq!(
        dec(&payee_reserved),
        Decimal::ZERO,
        "{label}: reserved left"
    );
    assert_eq!(dec(&payer), committed, "{label}: payer position");
    assert_eq!(dec(&payee), -committed, "{label}: payee position");
}

/// Sends one prepare and records it; a refusal must be `503` with `2003`.
async fn send_one(pair: &Pair, sent: &mut Vec<(Value, bool)>) -> bool {
    let body = pair.prepare(3);
    let answer = pair.send(&body).await.expect("the hub answers");
    let acknowledged = answer.status == 202;
    if !acknowledged {
        assert_eq!(
            answer.status, 503,
            "a refusal under store trouble: {}",
            answer.body
        );
        assert_eq!(
            answer.error_code().as_deref(),
            Some("2003"),
            "{}",
            answer.body
        );
    }
    sent.push((body, acknowledged));
    acknowledged
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_work_and_recovers_when_space_returns() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a small filesystem needs root (CI runs as root)");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fs = SmallFs::mount(&dir.path().join("small"));
    let data = fs.0.join("hub");
    let (fspiop, admin_addr) = (free_port(), free_port());
    let (mut hub, line) = spawn_hub(&data, fspiop, admin_addr);
    let operators = provision(&data, admin_addr, &line).await;
    let admin = operators.admin_client(reqwest::Client::new(), format!("http://{admin_addr}"));
    let pair = Pair::start("disk", fspiop, &admin).await;
    let mut sent = Vec::new();
    for _ in 0..3 {
        assert!(send_one(&pair, &mut sent).await, "before the disk fills");
    }

    let filler = fs.0.join("filler");
    fill(&filler);
    // The WAL may still have room for a while; keep going until the store refuses.
    let started = Instant::now();
    let mut refused = 0;
    while refused < 5 && started.elapsed() < PATIENCE {
        if !send_one(&pair, &mut sent).await {
            refused += 1;
        }
        assert!(
            hub.try_wait().expect("hub").is_none(),
            "the hub died on a full disk"
        );
    }
    assert!(
        refused >= 5,
        "a full disk never refused a prepare ({} sent)",
        sent.len()
    );

    std::fs::remove_file(&filler).expect("free the space");
    let started = Instant::now();
    while !send_one(&pair, &mut sent).await {
        assert!(
            started.elapsed() < PATIENCE,
            "no recovery after the space returned"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in 0..3 {
        assert!(send_one(&pair, &mut sent).await, "after recovery");
    }
    reconcile(&pair, &admin, &sent, "after recovery").await;

    // What was acknowledged is durable: the same after a SIGKILL and a restart.
    hub.kill().expect("kill");
    let _ = hub.wait();
    let (mut hub, _) = spawn_hub(&data, fspiop, admin_addr);
    reconcile(&pair, &admin, &sent, "after restart").await;
    hub.kill().expect("kill");
    let _ = hub.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_database_refuses_new_work_and_recovers_when_released() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fspiop, admin_addr) = (free_port(), free_port());
    let (mut hub, line) = spawn_hub(dir.path(), fspiop, admin_addr);
    let operators = provision(dir.path(), admin_addr, &line).await;
    let admin = operators.admin_client(reqwest::Client::new(), format!("http://{admin_addr}"));
    let pair = Pair::start("lock", fspiop, &admin).await;
    let mut sent = Vec::new();
    assert!(send_one(&pair, &mut sent).await, "before the lock");

    // Another process's connection takes the write lock and keeps it.
    let url = format!("sqlite://{}", dir.path().join("hub.db").display());
    let mut other = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("connect");
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut other)
        .await
        .expect("lock");
    assert!(
        !send_one(&pair, &mut sent).await,
        "a prepare must be refused while the database is locked"
    );
    assert!(
        hub.try_wait().expect("hub").is_none(),
        "the hub died on a lock"
    );

    sqlx::query("COMMIT")
        .execute(&mut other)
        .await
        .expect("unlock");
    other.close().await.expect("close");
    for _ in 0..3 {
        assert!(
            send_one(&pair, &mut sent).await,
            "after the lock is released"
        );
    }
    reconcile(&pair, &admin, &sent, "after the lock").await;
    hub.kill().expect("kill");
    let _ = hub.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_database_is_refused_at_start_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fspiop, admin_addr) = (free_port(), free_port());
    let (mut hub, _) = spawn_hub(dir.path(), fspiop, admin_addr);
    hub.kill().expect("kill");
    let _ = hub.wait();
    // Garbage over the file's header (and its WAL gone, as after a bad copy).
    let db = dir.path().join("hub.db");
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("hub.db{suffix}")));
    }
    let mut bytes = std::fs::read(&db).expect("read db");
    for (i, byte) in bytes.iter_mut().take(4096).enumerate() {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    std::fs::write(&db, &bytes).expect("corrupt db");

    let output = common::hub_command(dir.path(), fspiop, admin_addr)
        .stdin(Stdio::null())
        .output()
        .expect("run hub");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "the hub started on a corrupt database"
    );
    assert!(
        stderr.contains("hub.db"),
        "the error must name the database file: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "no panic: {stderr}");
}
