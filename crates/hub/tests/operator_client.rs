//! The DFSP-side operator client (`dfsp::operator`, `dfsp::provision::AdminClient`) against a
//! real hub with four eyes on: provisioning from the one-time password, pending answers never
//! taken for success, approval through an approver (success and failed execution), rejection,
//! a later login with TOTP, and the fresh-MFA step-up with the TOTP replay rule.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfsp::operator::{OperatorSession, Outcome, Provisioned};
use dfsp::provision::{AdminClient, AdminError};
use serde_json::{Value, json};

struct Fixture {
    hub: hub::RunningHub,
    admin_url: String,
    http: reqwest::Client,
    operators: Provisioned,
    _dir: tempfile::TempDir,
}

async fn start(configure: impl FnOnce(&mut hub::HubConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("store");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut config = hub::HubConfig::new(dir.path());
    config.fspiop_listen = any;
    config.admin_listen = any;
    config.metrics_listen = None;
    configure(&mut config);
    let hub = hub::start(config, Arc::new(store)).await.expect("hub");
    let admin_url = format!("http://{}", hub.admin_addr);
    let http = reqwest::Client::new();
    assert!(hub.initial_admin_password_path.exists());
    let operators = dfsp::operator::provision(
        http.clone(),
        &admin_url,
        &hub.initial_admin_password_path,
        &host_second_admin(dir.path()).await,
    )
    .await
    .expect("provisioned");
    Fixture {
        hub,
        admin_url,
        http,
        operators,
        _dir: dir,
    }
}

impl Fixture {
    /// A client with `integration`'s API token and no approver.
    fn maker(&self) -> AdminClient {
        AdminClient::new(self.http.clone(), &self.admin_url, &self.operators.token)
    }

    /// A client with `integration`'s API token and `admin` approving.
    fn with_approver(&self) -> AdminClient {
        self.operators
            .admin_client(self.http.clone(), &self.admin_url)
    }

    async fn participant_exists(&self, name: &str) -> bool {
        match self
            .maker()
            .call(reqwest::Method::GET, &format!("/participants/{name}"), None)
            .await
        {
            Ok(_) => true,
            Err(AdminError::Refused { status: 404, .. }) => false,
            Err(other) => panic!("reading {name}: {other}"),
        }
    }
}

fn create(name: &str) -> Value {
    json!({"name": name, "currency": "USD"})
}

#[tokio::test]
async fn provisioning_sets_up_both_operators_and_a_scoped_token() {
    let f = start(|_| {}).await;
    let p = &f.operators;
    assert!(
        !f.hub.initial_admin_password_path.exists(),
        "the one-time password is gone once admin changed it"
    );
    assert_eq!(p.admin.name(), "admin");
    assert_eq!(p.integration.name(), "integration");
    assert!(p.token.starts_with("flt_"));
    for session in [&p.admin, &p.integration] {
        assert!(session.session_token().starts_with("fls_"));
        assert!(session.totp().is_some());
        assert!(!session.recovery_codes().is_empty());
        assert!(session.password().len() >= 12);
    }
    let shown = format!("{p:?}");
    for secret in [
        p.token.as_str(),
        p.admin.password(),
        &p.admin.session_token(),
    ] {
        assert!(!shown.contains(secret), "Debug shows a secret: {shown}");
    }

    // The token reads, and never holds what only people may do.
    f.maker()
        .call(reqwest::Method::GET, "/participants", None)
        .await
        .expect("the token reads");
    let (status, tokens) = p
        .integration
        .call(reqwest::Method::GET, "/auth/tokens", None)
        .await
        .expect("token list");
    assert_eq!(status, 200, "{tokens}");
    let text = tokens.to_string();
    for never in dfsp::operator::NEVER_IN_TOKENS {
        assert!(!text.contains(never), "{never} in {text}");
    }
    assert!(text.contains("participants.create"), "{text}");

    // Both operators exist with MFA; `integration` cannot approve.
    let (status, operators) = p
        .admin
        .call(reqwest::Method::GET, "/operators", None)
        .await
        .expect("operators");
    assert_eq!(status, 200, "{operators}");
    let me = p.integration.me().await.expect("me");
    let permissions = me["permissions"].to_string();
    assert!(!permissions.contains("requests.approve"), "{permissions}");
    f.hub.shutdown().await;
}

#[tokio::test]
async fn a_pending_answer_is_never_success_and_an_approver_completes_it() {
    let f = start(|_| {}).await;

    // Without an approver: an error naming the request, and nothing happened.
    let error = f
        .maker()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspa")),
        )
        .await
        .expect_err("a pending request is not a success");
    let AdminError::Pending { request_id } = error else {
        panic!("expected Pending, got {error}");
    };
    assert!(!f.participant_exists("dfspa").await, "nothing changed yet");
    // The maker's own request waits for someone else; `admin` approves it.
    let approved = f
        .operators
        .admin
        .approve(&request_id)
        .await
        .expect("approve");
    assert_eq!(approved["request"]["state"], "executed", "{approved}");
    assert_eq!(approved["result"]["status"], 201, "{approved}");
    assert!(f.participant_exists("dfspa").await);

    // With an approver: the route's own answer, as if it had acted at once.
    let created = f
        .with_approver()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspb")),
        )
        .await
        .expect("created through the approver");
    assert_ne!(created, Value::Null);
    assert!(f.participant_exists("dfspb").await);

    // Two requests for the same participant: the second fails on execution, and the approver
    // client reports the failure the route would have given.
    let first = f
        .maker()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspc")),
        )
        .await
        .expect_err("pending");
    let second = f
        .maker()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspc")),
        )
        .await
        .expect_err("pending");
    let (AdminError::Pending { request_id: first }, AdminError::Pending { request_id: second }) =
        (first, second)
    else {
        panic!("both requests pending");
    };
    let one = f.operators.admin.approve(&first).await.expect("approve");
    assert_eq!(one["result"]["status"], 201, "{one}");
    let two = f.operators.admin.approve(&second).await.expect("approve");
    assert_eq!(two["request"]["state"], "executed", "{two}");
    let status = two["result"]["status"].as_u64().expect("status");
    assert!((400..500).contains(&status), "{two}");
    let error = f
        .with_approver()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspc")),
        )
        .await
        .expect_err("a duplicate participant is refused");
    assert!(
        matches!(error, AdminError::Refused { status, .. } if (400..500).contains(&status)),
        "{error}"
    );

    // A rejected request changes nothing.
    let AdminError::Pending { request_id } = f
        .maker()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspd")),
        )
        .await
        .expect_err("pending")
    else {
        panic!("expected Pending");
    };
    let rejected = f
        .operators
        .admin
        .reject(&request_id, "not this one")
        .await
        .expect("reject");
    assert!(rejected.to_string().contains("rejected"), "{rejected}");
    assert!(!f.participant_exists("dfspd").await);

    // No bootstrap bypass: creating an operator waits for the other administrator too.
    let outcome = f
        .operators
        .admin
        .create_operator("auditor1", &["auditor"])
        .await
        .expect("operator");
    let Outcome::Pending { request_id, .. } = outcome else {
        panic!("four eyes: operator creation waits for a checker, got {outcome:?}");
    };
    let answer = f
        .operators
        .second_admin
        .approve(&request_id)
        .await
        .expect("approved by the second administrator");
    assert_eq!(answer["result"]["status"], 201, "{answer}");
    let body = &answer["result"]["body"];
    assert!(body["oneTimePassword"].is_string());
    f.hub.shutdown().await;
}

#[tokio::test]
async fn an_operator_logs_in_again_with_password_and_totp() {
    let f = start(|_| {}).await;
    let admin = &f.operators.admin;
    // The code of the current step may be the one `admin` just used: the client then waits
    // for the next step and tries again.
    let again = OperatorSession::login(
        f.http.clone(),
        &f.admin_url,
        admin.name(),
        admin.password(),
        admin.totp(),
    )
    .await
    .expect("login with password and TOTP");
    assert_ne!(again.session_token(), admin.session_token());
    let me = again.me().await.expect("me");
    assert_eq!(me["name"], "admin", "{me}");
    let wrong = OperatorSession::login(
        f.http.clone(),
        &f.admin_url,
        admin.name(),
        "not-the-password-at-all", // secret-scan: allow (a wrong password on purpose)
        admin.totp(),
    )
    .await
    .expect_err("a wrong password is refused");
    assert_eq!(wrong.status(), Some(401), "{wrong}");
    f.hub.shutdown().await;
}

/// Slow (about a minute): waits for MFA freshness (30 s at the shortest) to run out.
#[tokio::test]
async fn a_stale_mfa_is_refreshed_once_and_a_code_is_never_reused() {
    let f = start(|config| config.iam.policy.sessions.mfa_freshness_secs = 30).await;
    let AdminError::Pending { request_id } = f
        .maker()
        .call(
            reqwest::Method::POST,
            "/participants",
            Some(create("dfspe")),
        )
        .await
        .expect_err("pending")
    else {
        panic!("expected Pending");
    };
    tokio::time::sleep(Duration::from_secs(32)).await;
    let (status, refused) = raw_post(
        &f,
        &format!("/requests/{request_id}/approve"),
        &f.operators.admin.session_token(),
    )
    .await;
    assert_eq!(status, 401, "{refused}");
    assert!(dfsp::operator::is_fresh_mfa_required(&refused), "{refused}");
    // The approval needs fresh MFA: the client steps up with a new step's code and retries
    // (in the same session: no new login).
    let session = f.operators.admin.session_token();
    let started = Instant::now();
    let approved = f
        .operators
        .admin
        .approve(&request_id)
        .await
        .expect("approve");
    assert_eq!(approved["result"]["status"], 201, "{approved}");
    assert_eq!(
        f.operators.admin.session_token(),
        session,
        "stepped up, not logged in again"
    );
    // A second step-up needs another step's code: the client waits for it rather than
    // replaying the one it just used.
    f.operators.admin.step_up().await.expect("second step-up");
    assert!(started.elapsed() < Duration::from_secs(40));
    f.hub.shutdown().await;
}

async fn raw_post(f: &Fixture, path: &str, token: &str) -> (u16, Value) {
    let response = f
        .http
        .post(format!("{}{path}", f.admin_url))
        .bearer_auth(token)
        .send()
        .await
        .expect("admin API reachable");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Makes the second administrator (`admin2`) from the host, as `ferroloop operator create`
/// does, through a store of its own on the hub's database while the hub runs: four eyes need
/// two people. Returns the file holding its one-time password.
async fn host_second_admin(data_dir: &std::path::Path) -> std::path::PathBuf {
    let store = store::SqliteStore::open(&data_dir.join("hub.db"))
        .await
        .expect("open the hub's store from the host");
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    hub::iam::host_create_operator(
        &store,
        data_dir,
        dfsp::operator::SECOND_ADMIN,
        &["hub-administrator".to_string()],
        now_ms,
    )
    .await
    .expect("the host creates the second administrator")
    .password_file
}
