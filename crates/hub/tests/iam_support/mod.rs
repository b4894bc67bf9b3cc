//! Shared helpers of the operator IAM tests (`tests/iam.rs`, `tests/iam_matrix.rs`): a hub on a
//! fresh SQLite file with a manual clock, raw admin API calls, and operators taken through
//! their first login (one-time password, new password, TOTP enrolment).
//!
//! Four eyes need two people: [`Hub::admin`] also makes the second administrator `admin2` on
//! the host (as `ferroloop operator create` does) and keeps it as the hub's default checker,
//! which approves what a test creates without naming an approver.
//!
//! TOTP codes are computed at the hub clock's time. A code is accepted once per operator and
//! for the current step ±1, so [`Hub::next_code`] hands out the step after the last one the
//! operator used and moves the clock on by a step only when that would leave the window.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

use iam::totp::TotpSecret;
use ledger::{Clock, ManualClock};
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// Length of a TOTP step.
pub const STEP: u64 = 30;

/// The second administrator [`Hub::admin`] makes on the host.
pub const SECOND_ADMIN: &str = "admin2";

/// Which IAM profile the hub runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// The default: one checker for every sensitive operation.
    FourEyes,
    /// No approvals at all.
    Sandbox,
}

/// An answer of the admin API.
#[derive(Debug)]
pub struct Reply {
    /// HTTP status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The body as text.
    pub text: String,
}

impl Reply {
    /// The FSPIOP error description, or "".
    pub fn desc(&self) -> String {
        desc(&self.body)
    }

    /// A header as text.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// The FSPIOP error description of a body, or "".
pub fn desc(body: &Value) -> String {
    body["errorInformation"]["errorDescription"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// An operator after their first login.
#[derive(Debug, Clone)]
pub struct Op {
    /// Name.
    pub name: String,
    /// Current password.
    pub password: String,
    /// TOTP secret (base32).
    pub totp_secret: String,
    /// Current session token.
    pub session: String,
    /// Recovery codes not used yet.
    pub recovery_codes: Vec<String>,
    /// The last TOTP step this operator used (or that was handed out for a try).
    pub last_step: Option<u64>,
}

/// A strong password the policy accepts (four classes, long, unique).
pub fn strong_password() -> String {
    format!("Tq7!{}", uuid::Uuid::new_v4().simple())
}

/// A running hub with a manual clock.
pub struct Hub {
    /// The hub (None only while restarting).
    pub running: Option<hub::RunningHub>,
    /// `http://` base of the admin listener.
    pub url: String,
    /// The hub's clock.
    pub clock: Arc<ManualClock>,
    /// HTTP client.
    pub http: reqwest::Client,
    /// The data directory.
    pub data_dir: PathBuf,
    /// The profile.
    pub profile: Profile,
    /// The default checker: the second administrator, made on the host by [`Hub::admin`].
    pub checker: tokio::sync::Mutex<Option<Op>>,
    _dir: tempfile::TempDir,
}

fn loopback() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

async fn launch(
    data_dir: &std::path::Path,
    clock: Arc<ManualClock>,
    profile: Profile,
) -> hub::RunningHub {
    let store = store::SqliteStore::open(&data_dir.join("hub.db"))
        .await
        .expect("open the SQLite store");
    let mut config = hub::HubConfig::new(data_dir);
    config.fspiop_listen = loopback();
    config.admin_listen = loopback();
    config.metrics_listen = None;
    config.clock = clock;
    config.iam = match profile {
        Profile::FourEyes => hub::iam::IamConfig::default(),
        Profile::Sandbox => hub::iam::IamConfig::sandbox(),
    };
    hub::start(config, Arc::new(store))
        .await
        .expect("hub starts")
}

impl Hub {
    /// A hub on a fresh data directory, its clock stopped 5 s into a TOTP step.
    pub async fn start(profile: Profile) -> Hub {
        let dir = tempfile::tempdir().expect("temporary directory");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let start = now - now.rem_euclid(STEP as i64) + 5;
        let clock = Arc::new(ManualClock::new(
            time::OffsetDateTime::from_unix_timestamp(start).expect("a valid time"),
        ));
        let running = launch(dir.path(), clock.clone(), profile).await;
        Hub {
            url: format!("http://{}", running.admin_addr),
            running: Some(running),
            clock,
            http: reqwest::Client::new(),
            data_dir: dir.path().to_path_buf(),
            profile,
            checker: tokio::sync::Mutex::new(None),
            _dir: dir,
        }
    }

    /// Stops the hub and starts it again on the same data directory and clock.
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
        let running = launch(&self.data_dir, self.clock.clone(), self.profile).await;
        self.url = format!("http://{}", running.admin_addr);
        self.running = Some(running);
    }

    /// The running hub.
    pub fn running(&self) -> &hub::RunningHub {
        self.running.as_ref().expect("the hub runs")
    }

    /// The hub clock, in Unix seconds.
    pub fn now_secs(&self) -> u64 {
        u64::try_from(self.clock.now().unix_timestamp()).expect("after 1970")
    }

    /// Moves the hub clock forward.
    pub fn advance(&self, secs: i64) {
        self.clock.advance(time::Duration::seconds(secs));
    }

    // Raw calls.

    /// A call with a bearer token (or none).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::reply(request).await
    }

    /// A call with the session in the `ferroloop_session` cookie.
    pub async fn send_cookie(&self, method: Method, path: &str, cookie: &str) -> Reply {
        let request = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Cookie", format!("theme=dark; ferroloop_session={cookie}"));
        Self::reply(request).await
    }

    async fn reply(request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.expect("admin API reachable");
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.expect("admin body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            text,
        }
    }

    /// A call: status and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let reply = self.send(method, path, token, body).await;
        (reply.status, reply.body)
    }

    /// A GET that must succeed.
    pub async fn get_ok(&self, path: &str, token: &str) -> Value {
        let reply = self.send(Method::GET, path, Some(token), None).await;
        assert_eq!(reply.status, StatusCode::OK, "GET {path}: {}", reply.text);
        reply.body
    }

    /// Waits until every write queued so far (detached audit entries, session touches) is
    /// committed: a failed login of an unknown operator writes its audit entry through the
    /// same writer queue and answers after the commit.
    pub async fn barrier(&self) {
        let reply = self
            .send(
                Method::POST,
                "/auth/login",
                None,
                Some(json!({"username": "barrier", "password": "not-a-password"})), // secret-scan: allow (a wrong password on purpose)
            )
            .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{}", reply.text);
    }

    // TOTP.

    /// The code of `secret` for `step`.
    pub fn code_for(secret: &str, step: u64) -> String {
        TotpSecret::from_base32(secret)
            .expect("TOTP secret")
            .code_at(step * STEP)
            .expect("TOTP code")
    }

    /// The code of `secret` at the hub clock's time.
    pub fn code_now(&self, secret: &str) -> String {
        Self::code_for(secret, self.now_secs() / STEP)
    }

    /// A code the hub accepts for `op` now: the step after the last one used, moving the
    /// clock on when that step is beyond the window (current step + 1).
    pub fn next_code(&self, op: &mut Op) -> String {
        let current = self.now_secs() / STEP;
        let step = match op.last_step {
            Some(last) if last >= current => last + 1,
            _ => current,
        };
        if step > current + 1 {
            let by = (step - 1 - current) * STEP;
            self.advance(i64::try_from(by).expect("small"));
        }
        op.last_step = Some(step);
        Self::code_for(&op.totp_secret, step)
    }

    /// A code none of the steps in the window matches.
    pub fn wrong_code(&self, secret: &str) -> String {
        let current = self.now_secs() / STEP;
        let valid: Vec<String> = (current - 1..=current + 1)
            .map(|s| Self::code_for(secret, s))
            .collect();
        (0..1000u32)
            .map(|n| format!("{:06}", (n * 7919 + 123_457) % 1_000_000))
            .find(|c| !valid.contains(c))
            .expect("a wrong code")
    }

    // Operators.

    /// The first administrator's one-time password.
    pub fn initial_password(&self) -> String {
        std::fs::read_to_string(&self.running().initial_admin_password_path)
            .expect("initial-admin-password file")
            .trim()
            .to_string()
    }

    /// `admin`'s first login, and the second administrator ([`SECOND_ADMIN`], made on the
    /// host, first login done) as the hub's default checker.
    pub async fn admin(&self) -> Op {
        let admin = self.admin_alone().await;
        self.ensure_checker().await;
        admin
    }

    /// `admin`'s first login only: the only operator who can approve.
    pub async fn admin_alone(&self) -> Op {
        let password = self.initial_password();
        self.first_login("admin", &password).await
    }

    /// Makes [`SECOND_ADMIN`] on the host and takes it through its first login, once.
    pub async fn ensure_checker(&self) {
        let mut checker = self.checker.lock().await;
        if checker.is_none() {
            let password = self
                .host_operator(SECOND_ADMIN, &["hub-administrator"])
                .await;
            *checker = Some(self.first_login(SECOND_ADMIN, &password).await);
        }
    }

    /// The second administrator (after [`Hub::admin`]).
    pub async fn second_admin(&self) -> Op {
        self.ensure_checker().await;
        self.checker.lock().await.clone().expect("the checker")
    }

    /// Creates an operator from the host, as `ferroloop operator create` does: through a
    /// store of its own on the hub's database file (like another process), while the hub
    /// runs. Returns its one-time password (read from the 0600 file).
    pub async fn host_operator(&self, name: &str, roles: &[&str]) -> String {
        let store = store::SqliteStore::open(&self.data_dir.join("hub.db"))
            .await
            .expect("open the hub's store from the host");
        let roles: Vec<String> = roles.iter().map(|r| r.to_string()).collect();
        let now_ms = self.clock.now().unix_timestamp() * 1000;
        let created = hub::iam::host_create_operator(&store, &self.data_dir, name, &roles, now_ms)
            .await
            .unwrap_or_else(|e| panic!("host creates {name}: {e}"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&created.password_file)
                .expect("one-time password file")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "the one-time password file is 0600");
        }
        std::fs::read_to_string(&created.password_file)
            .expect("one-time password")
            .trim()
            .to_string()
    }

    /// A raw login.
    pub async fn login_raw(
        &self,
        name: &str,
        password: &str,
        totp: Option<&str>,
        recovery_code: Option<&str>,
    ) -> Reply {
        let mut body = json!({"username": name, "password": password});
        if let Some(code) = totp {
            body["totp"] = json!(code);
        }
        if let Some(code) = recovery_code {
            body["recoveryCode"] = json!(code);
        }
        self.send(Method::POST, "/auth/login", None, Some(body))
            .await
    }

    /// Logs `op` in with a fresh code; `op.session` is the new session.
    pub async fn login(&self, op: &mut Op) -> Reply {
        let code = self.next_code(op);
        let reply = self
            .login_raw(&op.name, &op.password, Some(&code), None)
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "login {}: {}",
            op.name,
            reply.text
        );
        op.session = reply.body["session"].as_str().expect("session").to_string();
        reply
    }

    /// The first login: one-time password, a new password, TOTP enrolment and confirmation.
    /// The session returned is a full one with fresh MFA.
    pub async fn first_login(&self, name: &str, one_time_password: &str) -> Op {
        let reply = self.login_raw(name, one_time_password, None, None).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "first login of {name}: {}",
            reply.text
        );
        assert_eq!(reply.body["mustChangePassword"], true, "{}", reply.text);
        let session = reply.body["session"].as_str().expect("session").to_string();
        let password = strong_password();
        let reply = self
            .send(
                Method::POST,
                "/auth/password",
                Some(&session),
                Some(json!({"currentPassword": one_time_password, "newPassword": password})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "password of {name}: {}",
            reply.text
        );
        let session = reply.body["session"].as_str().expect("session").to_string();
        let reply = self
            .send(Method::POST, "/auth/mfa/enrol", Some(&session), None)
            .await;
        assert_eq!(reply.status, StatusCode::OK, "enrol {name}: {}", reply.text);
        let secret = reply.body["secret"].as_str().expect("secret").to_string();
        let step = self.now_secs() / STEP;
        let code = Self::code_for(&secret, step);
        let reply = self
            .send(
                Method::POST,
                "/auth/mfa/confirm",
                Some(&session),
                Some(json!({"secret": secret, "code": code})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "confirm {name}: {}",
            reply.text
        );
        let recovery_codes: Vec<String> = reply.body["recoveryCodes"]
            .as_array()
            .expect("recovery codes")
            .iter()
            .map(|c| c.as_str().expect("code").to_string())
            .collect();
        assert_eq!(recovery_codes.len(), 10);
        Op {
            name: name.to_string(),
            password,
            totp_secret: secret,
            session: reply.body["session"].as_str().expect("session").to_string(),
            recovery_codes,
            last_step: Some(step),
        }
    }

    /// Fresh MFA for `op`'s session (`POST /auth/mfa`).
    pub async fn mfa(&self, op: &mut Op) {
        let code = self.next_code(op);
        let reply = self
            .send(
                Method::POST,
                "/auth/mfa",
                Some(&op.session),
                Some(json!({"code": code})),
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "MFA of {}: {}",
            op.name,
            reply.text
        );
    }

    /// A call from `op`'s session that retries once after `POST /auth/mfa` when the hub asks
    /// for fresh MFA.
    pub async fn sensitive(
        &self,
        op: &mut Op,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Reply {
        let reply = self
            .send(method.clone(), path, Some(&op.session), body.clone())
            .await;
        if reply.status == StatusCode::UNAUTHORIZED && reply.desc().contains("fresh MFA required") {
            self.mfa(op).await;
            return self.send(method, path, Some(&op.session), body).await;
        }
        reply
    }

    /// `POST /requests/{id}/approve` by `op` (stepping up MFA if asked).
    pub async fn approve(&self, op: &mut Op, id: &str) -> Reply {
        self.sensitive(op, Method::POST, &format!("/requests/{id}/approve"), None)
            .await
    }

    /// Approves and expects the approval to be accepted; returns the answer.
    pub async fn approve_ok(&self, op: &mut Op, id: &str) -> Value {
        let reply = self.approve(op, id).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "approve by {}: {}",
            op.name,
            reply.text
        );
        reply.body
    }

    /// Approves request `id` by `approver`, or by the hub's default checker (the second
    /// administrator) when none is named; expects the approval to be accepted.
    pub async fn approve_with(&self, approver: Option<&mut Op>, id: &str) -> Value {
        match approver {
            Some(approver) => self.approve_ok(approver, id).await,
            None => {
                let mut checker = self.checker.lock().await;
                let checker = checker
                    .as_mut()
                    .expect("a request waits for a checker: start with Hub::admin()");
                self.approve_ok(checker, id).await
            }
        }
    }

    /// Creates an operator: executed at once (201) or, when it waits for a checker (202),
    /// approved by `approver` (or the default checker). Returns the one-time password.
    pub async fn create_operator(
        &self,
        by: &mut Op,
        name: &str,
        roles: &[&str],
        approver: Option<&mut Op>,
    ) -> String {
        let reply = self
            .sensitive(
                by,
                Method::POST,
                "/operators",
                Some(json!({"name": name, "roles": roles})),
            )
            .await;
        match reply.status {
            StatusCode::CREATED => reply.body["oneTimePassword"]
                .as_str()
                .expect("one-time password")
                .to_string(),
            StatusCode::ACCEPTED => {
                let id = reply.body["requestId"].as_str().expect("request id");
                let answer = self.approve_with(approver, id).await;
                assert_eq!(answer["result"]["status"], 201, "{answer}");
                answer["result"]["body"]["oneTimePassword"]
                    .as_str()
                    .expect("one-time password")
                    .to_string()
            }
            other => panic!("POST /operators {name}: {other} {}", reply.text),
        }
    }

    /// Creates an operator and takes them through their first login.
    pub async fn new_operator(
        &self,
        by: &mut Op,
        name: &str,
        roles: &[&str],
        approver: Option<&mut Op>,
    ) -> Op {
        let password = self.create_operator(by, name, roles, approver).await;
        self.first_login(name, &password).await
    }

    /// A participant in USD, created by `maker` and (under four eyes) approved by `checker`.
    pub async fn participant(&self, maker: &mut Op, name: &str, checker: Option<&mut Op>) {
        let reply = self
            .sensitive(
                maker,
                Method::POST,
                "/participants",
                Some(json!({"name": name, "currency": "USD"})),
            )
            .await;
        match reply.status {
            StatusCode::CREATED => {}
            StatusCode::ACCEPTED => {
                let id = reply.body["requestId"].as_str().expect("request id");
                let answer = self.approve_with(checker, id).await;
                assert_eq!(answer["result"]["status"], 201, "{answer}");
            }
            other => panic!("POST /participants {name}: {other} {}", reply.text),
        }
    }

    /// A participant's account of `kind` (`SETTLEMENT`, `POSITION`): id and value.
    pub async fn account(&self, token: &str, participant: &str, kind: &str) -> (i64, String) {
        let accounts = self
            .get_ok(&format!("/participants/{participant}/accounts"), token)
            .await;
        let account = accounts
            .as_array()
            .expect("accounts")
            .iter()
            .find(|a| a["ledgerAccountType"] == kind && a["currency"] == "USD")
            .unwrap_or_else(|| panic!("{participant} has a {kind} account: {accounts}"));
        (
            account["id"].as_i64().expect("account id"),
            account["value"].as_str().expect("value").to_string(),
        )
    }

    // Audit.

    /// The newest audit entries (`GET /audit`), after a [`Hub::barrier`].
    pub async fn audit(&self, token: &str) -> Vec<Value> {
        self.barrier().await;
        let entries = self.get_ok("/audit?limit=10000", token).await;
        entries.as_array().expect("audit entries").clone()
    }

    /// Audit entries with `action` (and, if given, `subject`).
    pub async fn audit_with(&self, token: &str, action: &str, subject: Option<&str>) -> Vec<Value> {
        self.audit(token)
            .await
            .into_iter()
            .filter(|e| e["action"] == action && subject.is_none_or(|s| e["subject"] == s))
            .collect()
    }
}
