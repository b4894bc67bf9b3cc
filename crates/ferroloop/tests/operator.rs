//! `ferroloop operator reset`: break glass from the host. After the reset the operator's old
//! password and second factor are useless, the one-time password (in a 0600 file) starts the
//! first-login steps again, and the audit chain records the reset and still verifies.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use dfsp::operator::OperatorSession;

async fn start_hub(dir: &Path) -> hub::RunningHub {
    let store = store::SqliteStore::open(&dir.join("hub.db"))
        .await
        .expect("store");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = hub::HubConfig::new(dir);
    config.fspiop_listen = any;
    config.admin_listen = any;
    config.metrics_listen = None;
    hub::start(config, Arc::new(store)).await.expect("hub")
}

fn ferroloop(args: &[&str], dir: &Path) -> (bool, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferroloop");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// `ferroloop operator create admin2 --role hub-administrator`, run as another process while
/// the hub runs; returns the file with its one-time password.
fn host_second_admin(dir: &Path) -> std::path::PathBuf {
    let (ok, out) = ferroloop(
        &[
            "operator",
            "create",
            dfsp::operator::SECOND_ADMIN,
            "--role",
            "hub-administrator",
        ],
        dir,
    );
    assert!(ok, "{out}");
    hub::iam::reset_password_file(dir, dfsp::operator::SECOND_ADMIN)
}

#[tokio::test]
async fn break_glass_reset_starts_the_first_login_again_and_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = start_hub(dir.path()).await;
    let url = format!("http://{}", hub.admin_addr);
    let http = reqwest::Client::new();
    let provisioned = dfsp::operator::provision(
        http.clone(),
        &url,
        &hub.initial_admin_password_path,
        &host_second_admin(dir.path()),
    )
    .await
    .expect("provisioned");
    let old_password = provisioned.admin.password().to_string();
    hub.shutdown().await;

    let (ok, out) = ferroloop(&["operator", "reset", "nobody"], dir.path());
    assert!(!ok, "an unknown operator is refused: {out}");
    let (ok, out) = ferroloop(&["operator", "reset", "admin"], dir.path());
    assert!(ok, "{out}");
    let file = hub::iam::reset_password_file(dir.path(), "admin");
    assert!(out.contains(&file.display().to_string()), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let one_time = std::fs::read_to_string(&file).expect("one-time password");
    assert!(
        !out.contains(one_time.trim()),
        "the password is not printed"
    );

    let hub = start_hub(dir.path()).await;
    let url = format!("http://{}", hub.admin_addr);
    let old = OperatorSession::login(
        http.clone(),
        &url,
        "admin",
        &old_password,
        provisioned.admin.totp(),
    )
    .await
    .expect_err("the old password is void");
    assert_eq!(old.status(), Some(401), "{old}");
    let admin = OperatorSession::first_login(http.clone(), &url, "admin", one_time.trim())
        .await
        .expect("first login again with the one-time password");
    assert!(!file.exists(), "the file goes once the password is changed");
    let (status, me) = admin
        .call(reqwest::Method::GET, "/auth/me", None)
        .await
        .expect("me");
    assert_eq!(status, 200, "{me}");
    assert_eq!(
        me["roles"],
        serde_json::json!(["hub-administrator"]),
        "roles kept"
    );
    // Only admin was reset: integration's token still works.
    dfsp::provision::AdminClient::new(http.clone(), &url, &provisioned.token)
        .call(reqwest::Method::GET, "/participants", None)
        .await
        .expect("integration's token");
    let (status, audit) = admin
        .call(reqwest::Method::GET, "/audit?limit=1000", None)
        .await
        .expect("audit");
    assert_eq!(status, 200);
    let reset = audit
        .as_array()
        .and_then(|entries| {
            entries
                .iter()
                .find(|e| e["action"] == "operator.break_glass")
        })
        .expect("the reset is audited")
        .clone();
    assert_eq!(reset["actor"], "host", "{reset}");
    assert_eq!(reset["subject"], "admin", "{reset}");
    hub.shutdown().await;
    let (ok, out) = ferroloop(&["audit", "verify"], dir.path());
    assert!(ok, "the chain still verifies: {out}");
}

/// `ferroloop operator create` is the second channel of the four-eyes ceremony: it runs as
/// another process while the hub runs and writes the audit chain at the same time (failed
/// logins), and the chain stays whole; the one-time password goes to a 0600 file, never to the
/// terminal; a taken name or an unknown role is refused; the hub counts the new approver at
/// once (provisioning, which needs two approvers, works right after).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_create_runs_beside_a_running_hub_and_keeps_the_chain_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = start_hub(dir.path()).await;
    let url = format!("http://{}", hub.admin_addr);
    let http = reqwest::Client::new();
    let noise = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            for n in 0..40 {
                let _ = http
                    .post(format!("{url}/auth/login"))
                    .json(&serde_json::json!({"username": format!("ghost{n}"), "password": "x"}))
                    .send()
                    .await;
            }
        })
    };
    let path = dir.path().to_path_buf();
    let outputs = tokio::task::spawn_blocking(move || {
        [
            ("admin2", "hub-administrator"),
            ("aud1", "auditor"),
            ("op1", "operator"),
        ]
        .map(|(name, role)| ferroloop(&["operator", "create", name, "--role", role], &path))
    })
    .await
    .expect("the host commands ran");
    noise.await.expect("the hub's own writes");
    for (ok, out) in &outputs {
        assert!(ok, "{out}");
    }
    let file = hub::iam::reset_password_file(dir.path(), "admin2");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let one_time = std::fs::read_to_string(&file).expect("one-time password");
    assert!(
        outputs
            .iter()
            .all(|(_, out)| !out.contains(one_time.trim())),
        "the password is not printed"
    );
    assert!(
        outputs[0].1.contains("2 operator(s) can approve"),
        "{}",
        outputs[0].1
    );
    let (ok, out) = ferroloop(
        &["operator", "create", "ADMIN2", "--role", "auditor"],
        dir.path(),
    );
    assert!(!ok && out.contains("already exists"), "{out}");
    let (ok, out) = ferroloop(
        &["operator", "create", "x", "--role", "no-such-role"],
        dir.path(),
    );
    assert!(!ok && out.contains("unknown role"), "{out}");

    let provisioned =
        dfsp::operator::provision(http.clone(), &url, &hub.initial_admin_password_path, &file)
            .await
            .expect("provisioned with the host-made second administrator");
    assert!(!file.exists(), "the file goes once the password is changed");
    let (status, audit) = provisioned
        .admin
        .call(
            reqwest::Method::GET,
            "/audit?action=operator.host_create",
            None,
        )
        .await
        .expect("audit");
    assert_eq!(status, 200, "{audit}");
    let created = audit.as_array().expect("entries");
    assert_eq!(created.len(), 3, "{audit}");
    assert!(created.iter().all(|e| e["actor"] == "host"), "{audit}");
    hub.shutdown().await;
    let (ok, out) = ferroloop(&["audit", "verify"], dir.path());
    assert!(ok, "the chain still verifies: {out}");
}
