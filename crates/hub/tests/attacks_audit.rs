//! Issue 12, audit and operational attacks, reproduced against the real hub on loopback:
//!
//! - **audit flooding**: thousands of failed TLS handshakes, unauthenticated admin calls and
//!   FSPIOP refusals write a few audit rows that count them, not one row each;
//! - **hidden audit entries**: 17 approvals behind more than 100 000 newer entries are all
//!   found by `GET /audit?action=request.approve` (filtered in the store), with paging;
//! - **tampered audit log**: a row edited with SQL keeps the hub from starting, naming the
//!   entry;
//! - **file modes**: `hub.db`, `-wal`, `-shm` are 0600 and the data directory 0700;
//! - **admin plane on the network**: a non-loopback admin listener is refused without an
//!   explicit override.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ledger::{AuditEntry, LedgerStore};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// A hub configuration on `dir`, every listener on loopback, plain HTTP FSPIOP.
fn config(dir: &Path) -> hub::HubConfig {
    let mut config = hub::HubConfig::new(dir);
    config.fspiop_listen = loopback();
    config.admin_listen = loopback();
    config.metrics_listen = None;
    config
}

async fn open(dir: &Path) -> Arc<store::SqliteStore> {
    Arc::new(
        store::SqliteStore::open(&dir.join("hub.db"))
            .await
            .expect("open the store"),
    )
}

/// Every audit entry, oldest first, read straight from the store.
async fn all_audit(store: &dyn LedgerStore) -> Vec<AuditEntry> {
    let mut tx = store.read().await.expect("read");
    let mut out = Vec::new();
    loop {
        let after = out.last().map_or(0, |e: &AuditEntry| e.seq);
        let page = tx.audit_range(after, 10_000).await.expect("audit");
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// How many refusals with `action` the audit entries account for: one per full entry, `count`
/// per summary.
fn refusals_counted(entries: &[AuditEntry], action: &str) -> (usize, u64) {
    let rows: Vec<&AuditEntry> = entries.iter().filter(|e| e.action == action).collect();
    let counted = rows
        .iter()
        .map(|e| {
            let detail: Value = serde_json::from_str(&e.detail).expect("JSON detail");
            if detail["summary"] == true {
                detail["count"].as_u64().expect("count")
            } else {
                1
            }
        })
        .sum();
    (rows.len(), counted)
}

/// 2 000 failed TLS handshakes from one address: full entries for the first
/// `AUDITED_IN_FULL`, one summary with the count when the interval ends (here: when the hub
/// stops) — not 2 000 rows.
#[tokio::test]
async fn a_tls_handshake_flood_writes_a_summary_not_a_row_each() {
    const FLOOD: u64 = 2_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::dir::PkiDir::open_or_bootstrap(
        dir.path().join("pki"),
        "Hub",
        &["localhost".to_string()],
    )
    .expect("pki");
    let mut config = config(dir.path());
    config.tls = Some(hub::tls::TlsFiles {
        server_cert: pki.server_cert_path(),
        server_key: pki.server_key_path(),
        client_ca: pki.ca_cert_path(),
        crl: Some(pki.crl_path()),
        client_cert: None,
        client_key: None,
    });
    config.refusal_interval = Duration::from_secs(3600);
    let store = open(dir.path()).await;
    let running = hub::start(config, store.clone()).await.expect("hub");
    let addr = running.fspiop_addr;
    let before = all_audit(store.as_ref()).await.len();

    // Not TLS at all: each handshake fails at once.
    let mut tasks = tokio::task::JoinSet::new();
    for worker in 0..20 {
        tasks.spawn(async move {
            for _ in 0..FLOOD / 20 {
                let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
                let _ = stream
                    .write_all(format!("GET /{worker} HTTP/1.1\r\n\r\n").as_bytes())
                    .await;
                let _ = stream.shutdown().await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while running.metrics.handshake_refusals_total() < FLOOD {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} refusals seen",
            running.metrics.handshake_refusals_total()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    running.shutdown().await;

    let entries = all_audit(store.as_ref()).await;
    let (rows, counted) = refusals_counted(&entries, "tls.refused");
    assert_eq!(counted, FLOOD, "every refusal is counted");
    let most = usize::try_from(hub::refusals::AUDITED_IN_FULL).unwrap() + 3;
    assert!(
        rows <= most,
        "{rows} audit rows for {FLOOD} refusals from one address"
    );
    assert!(
        entries.len() - before <= most,
        "{} new rows",
        entries.len() - before
    );
    let summary = entries
        .iter()
        .find(|e| e.action == "tls.refused" && e.detail.contains("\"summary\":true"))
        .expect("a summary entry");
    let detail: Value = serde_json::from_str(&summary.detail).unwrap();
    assert_eq!(detail["source"], "127.0.0.1");
    assert_eq!(
        detail["total"].as_u64(),
        detail["count"]
            .as_u64()
            .map(|c| c + hub::refusals::AUDITED_IN_FULL)
    );
    assert!(detail["firstAtMs"].as_i64() <= detail["lastAtMs"].as_i64());
    assert_eq!(summary.outcome, "denied");
    assert!(hub::audit::verify_chain(store.as_ref()).await.unwrap().ok());
}

/// Unauthenticated admin calls and FSPIOP requests refused at the gate, 1 000 each from one
/// address: a handful of rows, every refusal counted; the summaries come when the interval
/// ends, while the hub runs.
#[tokio::test]
async fn unauthenticated_admin_and_fspiop_floods_are_counted_not_written() {
    const FLOOD: u64 = 1_000;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.refusal_interval = Duration::from_millis(1500);
    let store = open(dir.path()).await;
    let running = hub::start(config, store.clone()).await.expect("hub");
    let http = reqwest::Client::new();
    let admin = format!("http://{}/participants", running.admin_addr);
    let fspiop = format!("http://{}/parties/MSISDN/27713803912", running.fspiop_addr);
    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
    let began = std::time::Instant::now();
    for _ in 0..FLOOD {
        let reply = http.get(&admin).send().await.expect("admin answers");
        assert_eq!(reply.status(), 401);
        // Speaking as the hub: refused and audited as fspiop.source_refused.
        let reply = http
            .get(&fspiop)
            .header(
                "accept",
                "application/vnd.interoperability.parties+json;version=1.1",
            )
            .header(
                "content-type",
                "application/vnd.interoperability.parties+json;version=1.1",
            )
            .header("date", &date)
            .header("fspiop-source", "Hub")
            .send()
            .await
            .expect("FSPIOP answers");
        assert_eq!(reply.status(), 400);
    }
    // At most one full entry and one summary per kind and interval.
    let intervals = began.elapsed().as_millis() / 1500 + 2;
    let most = usize::try_from(intervals).unwrap()
        * (usize::try_from(hub::refusals::AUDITED_IN_FULL).unwrap() + 1);
    // The interval ends while the hub runs: the summaries appear without a stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let entries = all_audit(store.as_ref()).await;
        let admin = refusals_counted(&entries, "admin.unauthenticated");
        let source = refusals_counted(&entries, "fspiop.source_refused");
        if admin.1 == FLOOD && source.1 == FLOOD {
            assert!(
                admin.0 <= most,
                "{} admin rows in {intervals} intervals",
                admin.0
            );
            assert!(
                source.0 <= most,
                "{} FSPIOP rows in {intervals} intervals",
                source.0
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counted {admin:?} admin and {source:?} FSPIOP refusals"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    running.shutdown().await;
}

/// 17 approvals, then more than 100 000 other entries (what a flood leaves): the action filter
/// runs in the store and finds all 17; a small limit says the answer is truncated and pages
/// on to the same 17.
#[tokio::test]
async fn approvals_behind_a_flood_are_all_found() {
    const HIDDEN: usize = 17;
    const NOISE: i64 = 100_050;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let mut tx = store.begin().await.unwrap();
    for n in 0..HIDDEN {
        tx.append_audit(&AuditEntry {
            at_ms: 1_700_000_000_000,
            actor: format!("checker{}", n % 3),
            action: "request.approve".into(),
            subject: format!("req-{n}"),
            detail: "{}".into(),
            outcome: "ok".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    for n in 0..NOISE {
        tx.append_audit(&AuditEntry {
            at_ms: 1_700_000_000_001 + n,
            actor: "unauthenticated".into(),
            action: "tls.refused".into(),
            subject: String::new(),
            detail: "{}".into(),
            outcome: "denied".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    let running = hub::start(config(dir.path()), store.clone())
        .await
        .expect("hub");
    let url = format!("http://{}", running.admin_addr);
    let http = reqwest::Client::new();
    let token = admin_session(&http, &url, &running).await;

    let get = |query: String| {
        let http = http.clone();
        let url = url.clone();
        let token = token.clone();
        async move {
            let reply = http
                .get(format!("{url}/audit?{query}"))
                .bearer_auth(&token)
                .send()
                .await
                .expect("GET /audit");
            assert_eq!(reply.status(), 200, "{query}");
            let truncated = reply
                .headers()
                .get("ferroloop-audit-truncated")
                .map(|v| v.to_str().unwrap().to_string());
            let next = reply
                .headers()
                .get("ferroloop-audit-next-before")
                .map(|v| v.to_str().unwrap().to_string());
            let body: Vec<Value> = reply.json().await.expect("array");
            (body, truncated, next)
        }
    };
    let (found, truncated, next) = get("action=request.approve".into()).await;
    // The planted ones, and the one provisioning made (admin2 approving `integration`).
    let planted = found
        .iter()
        .filter(|e| e["subject"].as_str().is_some_and(|s| s.starts_with("req-")))
        .count();
    assert_eq!(planted, HIDDEN, "all approvals found");
    assert_eq!(found.len(), HIDDEN + 1, "and provisioning's own");
    assert_eq!(truncated.as_deref(), Some("false"));
    assert_eq!(next, None);
    assert!(found.iter().all(|e| e["action"] == "request.approve"));
    let seqs: Vec<i64> = found.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    let (prefixed, _, _) = get("action=request.*&actor=checker1".into()).await;
    assert_eq!(prefixed.len(), 6);

    // Pages of 5: truncated with a cursor until the last.
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let query = match &before {
            Some(b) => format!("action=request.approve&limit=5&before={b}"),
            None => "action=request.approve&limit=5".to_string(),
        };
        let (page, truncated, next) = get(query).await;
        paged.extend(page.iter().map(|e| e["seq"].as_i64().unwrap()));
        if truncated.as_deref() == Some("true") {
            assert_eq!(page.len(), 5);
            before = Some(next.expect("a cursor"));
        } else {
            assert_eq!(next, None);
            break;
        }
    }
    assert_eq!(paged, seqs);

    // Unfiltered: the limit, truncated.
    let (newest, truncated, next) = get("limit=10000".into()).await;
    assert_eq!(newest.len(), 10_000);
    assert_eq!(truncated.as_deref(), Some("true"));
    assert_eq!(
        next.as_deref(),
        Some(newest[9_999]["seq"].as_i64().unwrap().to_string().as_str())
    );
    // Above the maximum: lowered to it.
    let (capped, _, _) = get("limit=4000000000".into()).await;
    assert_eq!(capped.len(), hub::admin::AUDIT_MAX_LIMIT as usize);
    running.shutdown().await;
}

/// Provisions the operators (first administrator, `integration`) and returns `integration`'s
/// API token (it may read the audit log).
async fn admin_session(http: &reqwest::Client, url: &str, running: &hub::RunningHub) -> String {
    // Four eyes need two people: the second administrator comes from the host.
    let data_dir = running
        .initial_admin_password_path
        .parent()
        .expect("the data directory");
    let store = store::SqliteStore::open(&data_dir.join("hub.db"))
        .await
        .expect("open the hub's store from the host");
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let second = hub::iam::host_create_operator(
        &store,
        data_dir,
        dfsp::operator::SECOND_ADMIN,
        &["hub-administrator".to_string()],
        now_ms,
    )
    .await
    .expect("the host creates the second administrator");
    let operators = dfsp::operator::provision(
        http.clone(),
        url,
        &running.initial_admin_password_path,
        &second.password_file,
    )
    .await
    .expect("operators provisioned");
    operators.token.clone()
}

/// A row of the audit log edited with SQL: the hub refuses to start and names the entry; with
/// the override it starts and records that it did.
#[tokio::test]
async fn a_tampered_audit_log_stops_the_hub_from_starting() {
    use sqlx::ConnectOptions as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let running = hub::start(config(dir.path()), store.clone())
        .await
        .expect("hub");
    running.shutdown().await;
    let entries = all_audit(store.as_ref()).await;
    assert!(!entries.is_empty(), "the first start audits");
    store.close().await;

    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("hub.db"))
        .connect()
        .await
        .expect("raw connection");
    let done = sqlx::query("UPDATE audit SET actor = 'someone-else' WHERE seq = 1")
        .execute(&mut db)
        .await
        .expect("tamper");
    assert_eq!(done.rows_affected(), 1);
    drop(db);

    let store = open(dir.path()).await;
    let refused = hub::start(config(dir.path()), store.clone()).await;
    let error = match refused {
        Ok(_) => panic!("the hub started on a tampered audit log"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("audit log is broken"), "{error}");
    assert!(error.contains("seq 1: edited"), "{error}");
    assert!(error.contains("ferroloop audit verify"), "{error}");
    assert_eq!(
        all_audit(store.as_ref()).await.len(),
        entries.len(),
        "nothing written"
    );

    let mut config = config(dir.path());
    config.allow_broken_audit = true;
    let running = hub::start(config, store.clone())
        .await
        .expect("starts with the override");
    running.shutdown().await;
    let after = all_audit(store.as_ref()).await;
    let accepted = after
        .iter()
        .find(|e| e.action == "audit.broken_chain_accepted")
        .expect("the override is on record");
    assert!(accepted.detail.contains("seq 1"), "{}", accepted.detail);
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

/// `hub.db`, `hub.db-wal` and `hub.db-shm` are readable by the hub's user only, after start
/// and after writes; a data directory and a database left open to others are narrowed.
#[tokio::test]
async fn the_database_and_data_directory_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let store = open(&dir).await;
    let running = hub::start(config(&dir), store.clone()).await.expect("hub");
    assert_eq!(mode(&dir), 0o700, "data directory");
    let db = dir.join("hub.db");
    // Writes: the first administrator exists; add audit entries through the store too.
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&AuditEntry {
        action: "test.write".into(),
        detail: "{}".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
    running.shutdown().await;
    store.close().await;

    // A database someone opened up is narrowed at the next open.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = open(&dir).await;
    let mut tx = store.begin().await.unwrap();
    tx.append_audit(&AuditEntry {
        action: "test.write".into(),
        detail: "{}".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let path = Path::new(&format!("{}{suffix}", db.display())).to_path_buf();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
    }
}

/// The admin API has no TLS: on a non-loopback address the hub refuses to start unless
/// `admin_allow_plaintext` is set.
#[tokio::test]
async fn a_non_loopback_admin_listener_needs_an_explicit_override() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let mut exposed = config(dir.path());
    exposed.admin_listen = SocketAddr::from(([0, 0, 0, 0], 0));
    let error = match hub::start(exposed.clone(), store.clone()).await {
        Ok(_) => panic!("a plain-HTTP admin listener on 0.0.0.0 started"),
        Err(error) => error.to_string(),
    };
    assert!(error.contains("not a loopback address"), "{error}");
    assert!(error.contains("admin_allow_plaintext"), "{error}");
    for loopback in ["127.0.0.1:0", "[::1]:0"] {
        let mut config = config(dir.path());
        config.admin_listen = loopback.parse().unwrap();
        if let Ok(running) = hub::start(config, store.clone()).await {
            running.shutdown().await;
        }
    }
    exposed.admin_allow_plaintext = true;
    let running = hub::start(exposed, store.clone())
        .await
        .expect("starts with the override");
    assert!(running.admin_addr.ip().is_unspecified());
    running.shutdown().await;
}
