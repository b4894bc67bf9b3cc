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

#[tokio::test]
async fn break_glass_reset_starts_the_first_login_again_and_is_audited() {
    let dir = tempfile::tempdir().expect("tempdir");
    let hub = start_hub(dir.path()).await;
    let url = format!("http://{}", hub.admin_addr);
    let http = reqwest::Client::new();
    let provisioned =
        dfsp::operator::provision(http.clone(), &url, &hub.initial_admin_password_path)
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
