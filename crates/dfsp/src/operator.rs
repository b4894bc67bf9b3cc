//! Operators on the hub's admin API (docs/OPERATORS.md): logging in, the first login with a
//! one-time password (new password, TOTP enrolment), fresh MFA, maker/checker approvals, API
//! tokens, and [`provision`], which turns a freshly started hub (and a second administrator made
//! on its host) into an `integration` operator with an API token plus an `admin` who approves
//! what it asks for.
//!
//! Secrets (passwords, TOTP secrets, recovery codes, session and API tokens) are kept in memory
//! for the caller and never shown by `Debug`.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use iam::totp::TotpSecret;
use serde_json::{Value, json};

use crate::provision::{AdminClient, AdminError};

/// The operator the hub creates at its first start.
pub const ADMIN: &str = "admin";
/// The operator [`provision`] creates for automation, and its built-in role.
pub const INTEGRATION: &str = "integration";
/// Permissions an API token can never hold (docs/OPERATORS.md, "API tokens").
pub const NEVER_IN_TOKENS: [&str; 4] = [
    "requests.approve",
    "users.manage",
    "roles.manage",
    "policy.manage",
];
/// How long the API token [`provision`] creates is valid: 30 days.
pub const PROVISIONED_TOKEN_SECS: u64 = 30 * 24 * 60 * 60;

/// Length of a TOTP time step (RFC 6238, as the hub uses it).
const STEP_SECS: u64 = 30;
/// Prefix of the hub's answer when a route needs a TOTP code entered in the last minutes.
const FRESH_MFA_REQUIRED: &str = "fresh MFA required";

/// What a sensitive operation answered: done at once, or waiting for a checker.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The route executed: its status and body (`Null` when empty).
    Done {
        /// HTTP status.
        status: u16,
        /// Body.
        body: Value,
    },
    /// Maker/checker: the request waits for approval (HTTP 202 with a `requestId`).
    Pending {
        /// The request's id (`/requests/{id}`).
        request_id: String,
        /// The whole answer (`permission`, `approvalsRequired`, `expiresAt`, ...).
        body: Value,
    },
}

impl Outcome {
    /// Classifies a route's answer. A 202 whose body names a pending request is
    /// [`Outcome::Pending`]; anything else successful is [`Outcome::Done`] (a funds action
    /// answers 202 with an empty body when it is done).
    pub fn of(status: u16, body: Value) -> Outcome {
        match pending_request_id(status, &body) {
            Some(request_id) => Outcome::Pending { request_id, body },
            None => Outcome::Done { status, body },
        }
    }
}

/// The request id of a maker/checker "pending" answer (202, `requestId`, `state: pending`).
pub fn pending_request_id(status: u16, body: &Value) -> Option<String> {
    if status != 202 || body["state"] != "pending" {
        return None;
    }
    body["requestId"].as_str().map(str::to_string)
}

/// An operator logged in on the admin API. Cheap to clone; clones share the session and the
/// record of the last TOTP step used, so they never replay a code to each other.
#[derive(Clone)]
pub struct OperatorSession {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    name: String,
    password: String,
    totp: Option<TotpSecret>,
    recovery_codes: Vec<String>,
    session: Mutex<String>,
    /// The last TOTP step this operator used (login, confirm, step-up); a lock held while a
    /// code is computed and sent, so concurrent step-ups never pick the same step.
    last_step: tokio::sync::Mutex<Option<u64>>,
}

impl fmt::Debug for OperatorSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OperatorSession")
            .field("name", &self.inner.name)
            .field("admin_url", &self.inner.base)
            .field("mfa_enrolled", &self.inner.totp.is_some())
            .finish_non_exhaustive()
    }
}

impl OperatorSession {
    /// Logs in as `name` (`POST /auth/login`), with a code from `totp` when the operator has
    /// TOTP enrolled. When such a login is refused (401) it is tried once more with the next
    /// time step's code: the current step's code may already have been used (a code is
    /// accepted once per operator), and the hub's answer does not say which factor failed.
    pub async fn login(
        http: reqwest::Client,
        admin_url: impl Into<String>,
        name: &str,
        password: &str,
        totp: Option<&TotpSecret>,
    ) -> Result<OperatorSession, AdminError> {
        let base = admin_url.into();
        let totp = totp.cloned();
        let last_step = tokio::sync::Mutex::new(None);
        let session = {
            let mut last = last_step.lock().await;
            login_once(&http, &base, name, password, totp.as_ref(), &mut last).await?
        };
        Ok(OperatorSession {
            inner: Arc::new(Inner {
                http,
                base,
                name: name.to_string(),
                password: password.to_string(),
                totp,
                recovery_codes: Vec::new(),
                session: Mutex::new(session),
                last_step,
            }),
        })
    }

    /// The first login of an operator with its one-time password: logs in (a restricted
    /// session), changes the password to a fresh random one, enrols TOTP (enrol, then confirm
    /// with a computed code) and keeps the new password, the TOTP secret and the recovery
    /// codes. The session it returns is a full one, with fresh MFA.
    pub async fn first_login(
        http: reqwest::Client,
        admin_url: impl Into<String>,
        name: &str,
        one_time_password: &str,
    ) -> Result<OperatorSession, AdminError> {
        let base = admin_url.into();
        let (status, answer) = send(
            &http,
            &base,
            None,
            reqwest::Method::POST,
            "/auth/login",
            Some(json!({"username": name, "password": one_time_password})),
        )
        .await?;
        expect_success(status, &answer, "POST /auth/login")?;
        let mut session = string_field(&answer, "session", "POST /auth/login")?;

        let password = iam::token::issue(iam::token::TokenKind::Api)
            .map_err(|e| AdminError::Local(format!("generating a password: {e}")))?
            .plain;
        let (status, answer) = send(
            &http,
            &base,
            Some(&session),
            reqwest::Method::POST,
            "/auth/password",
            Some(json!({"currentPassword": one_time_password, "newPassword": password})),
        )
        .await?;
        expect_success(status, &answer, "POST /auth/password")?;
        if let Some(new) = answer["session"].as_str() {
            session = new.to_string();
        }

        let (status, answer) = send(
            &http,
            &base,
            Some(&session),
            reqwest::Method::POST,
            "/auth/mfa/enrol",
            None,
        )
        .await?;
        expect_success(status, &answer, "POST /auth/mfa/enrol")?;
        let secret_text = string_field(&answer, "secret", "POST /auth/mfa/enrol")?;
        let secret = TotpSecret::from_base32(&secret_text)
            .map_err(|e| AdminError::Local(format!("the hub's TOTP secret: {e}")))?;
        // A brand-new secret: no step of it was used yet.
        let step = current_step();
        let code = code_for(&secret, step)?;
        let (status, answer) = send(
            &http,
            &base,
            Some(&session),
            reqwest::Method::POST,
            "/auth/mfa/confirm",
            Some(json!({"secret": secret_text, "code": code})),
        )
        .await?;
        expect_success(status, &answer, "POST /auth/mfa/confirm")?;
        if let Some(new) = answer["session"].as_str() {
            session = new.to_string();
        }
        let recovery_codes = answer["recoveryCodes"]
            .as_array()
            .map(|codes| {
                codes
                    .iter()
                    .filter_map(|c| c.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(OperatorSession {
            inner: Arc::new(Inner {
                http,
                base,
                name: name.to_string(),
                password,
                totp: Some(secret),
                recovery_codes,
                session: Mutex::new(session),
                last_step: tokio::sync::Mutex::new(Some(step)),
            }),
        })
    }

    /// The current session token (`fls_…`).
    pub fn session_token(&self) -> String {
        self.inner
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// The operator's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The operator's password (after [`OperatorSession::first_login`], the random one it set).
    pub fn password(&self) -> &str {
        &self.inner.password
    }

    /// The operator's TOTP secret, when known.
    pub fn totp(&self) -> Option<&TotpSecret> {
        self.inner.totp.as_ref()
    }

    /// The recovery codes the hub gave at enrolment ([`OperatorSession::first_login`] only).
    pub fn recovery_codes(&self) -> &[String] {
        &self.inner.recovery_codes
    }

    /// The admin API's base URL.
    pub fn admin_url(&self) -> &str {
        &self.inner.base
    }

    /// Fresh MFA (`POST /auth/mfa`) with a code of a time step later than any this operator
    /// used through this session; waits for the next 30-second step when needed.
    pub async fn step_up(&self) -> Result<(), AdminError> {
        let totp = self.inner.totp.as_ref().ok_or_else(|| {
            AdminError::Local(format!("{}: no TOTP secret to step up with", self.name()))
        })?;
        let mut last = self.inner.last_step.lock().await;
        let step = next_step(*last).await;
        let code = code_for(totp, step)?;
        let token = self.session_token();
        let (status, answer) = send(
            &self.inner.http,
            &self.inner.base,
            Some(&token),
            reqwest::Method::POST,
            "/auth/mfa",
            Some(json!({"code": code})),
        )
        .await?;
        // Sent: the hub may have recorded the step even if it refused the call.
        *last = Some(step);
        expect_success(status, &answer, "POST /auth/mfa")?;
        if let Some(new) = answer["session"].as_str() {
            self.set_session(new);
        }
        Ok(())
    }

    /// Calls the admin API with this session: status and JSON body (`Null` when empty, a JSON
    /// string when the body is not JSON). When the hub answers that fresh MFA is required it
    /// steps up ([`OperatorSession::step_up`]) and retries once; when the session has expired
    /// it logs in again (password and TOTP) and retries once. Other answers, errors included,
    /// are returned as they are.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), AdminError> {
        let (status, answer) = self.send_once(method.clone(), path, body.clone()).await?;
        if status != 401 {
            return Ok((status, answer));
        }
        if is_fresh_mfa_required(&answer) {
            self.step_up().await?;
        } else if !self.relogin().await? {
            return Ok((status, answer));
        }
        self.send_once(method, path, body).await
    }

    /// Creates an operator (`POST /operators`): `Pending` under four eyes (another
    /// administrator approves; the approver gets `{"name","oneTimePassword"}`), `Done` with
    /// that body at once in the sandbox profile.
    pub async fn create_operator(&self, name: &str, roles: &[&str]) -> Result<Outcome, AdminError> {
        let (status, answer) = self
            .call(
                reqwest::Method::POST,
                "/operators",
                Some(json!({"name": name, "roles": roles})),
            )
            .await?;
        expect_success(status, &answer, "POST /operators")?;
        Ok(Outcome::of(status, answer))
    }

    /// Approves another operator's request (`POST /requests/{id}/approve`); answers
    /// `{"request":{…},"result":{"status","body"}}` (`result` once executed).
    pub async fn approve(&self, request_id: &str) -> Result<Value, AdminError> {
        let path = format!("/requests/{request_id}/approve");
        let (status, answer) = self.call(reqwest::Method::POST, &path, None).await?;
        expect_success(status, &answer, &format!("POST {path}"))?;
        Ok(answer)
    }

    /// Rejects a request (or withdraws one's own) with a reason.
    pub async fn reject(&self, request_id: &str, reason: &str) -> Result<Value, AdminError> {
        let path = format!("/requests/{request_id}/reject");
        let (status, answer) = self
            .call(
                reqwest::Method::POST,
                &path,
                Some(json!({"reason": reason})),
            )
            .await?;
        expect_success(status, &answer, &format!("POST {path}"))?;
        Ok(answer)
    }

    /// Creates an API token of this operator (`POST /auth/tokens`) with these permission
    /// scopes, valid for `expires_in_secs`; returns the token (`flt_…`), shown only this once.
    pub async fn create_api_token(
        &self,
        label: &str,
        scopes: &[&str],
        expires_in_secs: u64,
    ) -> Result<String, AdminError> {
        let (status, answer) = self
            .call(
                reqwest::Method::POST,
                "/auth/tokens",
                Some(json!({"label": label, "scopes": scopes, "expiresInSecs": expires_in_secs})),
            )
            .await?;
        expect_success(status, &answer, "POST /auth/tokens")?;
        string_field(&answer, "token", "POST /auth/tokens")
    }

    /// Creates an API token with every permission this operator holds that a token may hold
    /// (all but [`NEVER_IN_TOKENS`]), as `GET /auth/me` lists them.
    pub async fn create_full_api_token(
        &self,
        label: &str,
        expires_in_secs: u64,
    ) -> Result<String, AdminError> {
        let me = self.me().await?;
        let scopes: Vec<&str> = me["permissions"]
            .as_array()
            .map(|list| {
                list.iter()
                    .filter_map(Value::as_str)
                    .filter(|p| !NEVER_IN_TOKENS.contains(p))
                    .collect()
            })
            .unwrap_or_default();
        if scopes.is_empty() {
            return Err(AdminError::Local(format!(
                "GET /auth/me lists no permission {} could give an API token",
                self.name()
            )));
        }
        self.create_api_token(label, &scopes, expires_in_secs).await
    }

    /// Who the session belongs to (`GET /auth/me`): name, roles, permissions, expiry.
    pub async fn me(&self) -> Result<Value, AdminError> {
        let (status, answer) = self.call(reqwest::Method::GET, "/auth/me", None).await?;
        expect_success(status, &answer, "GET /auth/me")?;
        Ok(answer)
    }

    async fn send_once(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), AdminError> {
        let token = self.session_token();
        send(
            &self.inner.http,
            &self.inner.base,
            Some(&token),
            method,
            path,
            body,
        )
        .await
    }

    /// Logs in again with the stored password and TOTP (the session ended, e.g. idle). Only
    /// for an operator whose TOTP secret is known; `false` when not possible.
    async fn relogin(&self) -> Result<bool, AdminError> {
        let Some(totp) = self.inner.totp.as_ref() else {
            return Ok(false);
        };
        let mut last = self.inner.last_step.lock().await;
        match login_once(
            &self.inner.http,
            &self.inner.base,
            &self.inner.name,
            &self.inner.password,
            Some(totp),
            &mut last,
        )
        .await
        {
            Ok(session) => {
                self.set_session(&session);
                Ok(true)
            }
            Err(AdminError::Refused { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    fn set_session(&self, token: &str) {
        *self
            .inner
            .session
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = token.to_string();
    }
}

/// `POST /auth/login`; with TOTP, a refused login (401) is retried once with the next step's
/// code: this step's code may already have been used (a code is accepted once per operator).
/// The hub's refusal does not say which factor failed (so that it never tells a caller the
/// password was right), so a wrong password is tried twice too, and counts twice towards
/// the lockout. A lockout (429) and every other answer are final.
/// Records the last step used in `last`. Returns the session token.
async fn login_once(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    password: &str,
    totp: Option<&TotpSecret>,
    last: &mut Option<u64>,
) -> Result<String, AdminError> {
    let attempts = if totp.is_some() { 2 } else { 1 };
    let mut refusal = None;
    for _ in 0..attempts {
        let mut body = json!({"username": name, "password": password});
        if let Some(totp) = totp {
            let step = next_step(*last).await;
            body["totp"] = Value::String(code_for(totp, step)?);
            *last = Some(step);
        }
        let (status, answer) = send(
            http,
            base,
            None,
            reqwest::Method::POST,
            "/auth/login",
            Some(body),
        )
        .await?;
        match expect_success(status, &answer, "POST /auth/login") {
            Ok(()) => return string_field(&answer, "session", "POST /auth/login"),
            Err(error) if status == 401 => refusal = Some(error),
            Err(error) => return Err(error),
        }
    }
    Err(refusal.unwrap_or_else(|| AdminError::Local("login not attempted".into())))
}

/// The result of [`provision`]: the two administrators and the `integration` operator, logged
/// in with their own random passwords and TOTP, and an API token of `integration`.
#[derive(Clone)]
pub struct Provisioned {
    /// `admin` (role `hub-administrator`): approves what `integration` asks for.
    pub admin: OperatorSession,
    /// `integration` (role `integration`): onboarding automation.
    pub integration: OperatorSession,
    /// An API token (`flt_…`) of `integration` with all of its role's permissions, 30 days.
    pub token: String,
    /// The second administrator (made on the host, see [`provision`]): approved the creation
    /// of `integration`, and approves what `admin` asks for.
    pub second_admin: OperatorSession,
}

impl fmt::Debug for Provisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provisioned")
            .field("admin", &self.admin)
            .field("integration", &self.integration)
            .field("token", &"<redacted>")
            .field("second_admin", &self.second_admin)
            .finish()
    }
}

impl Provisioned {
    /// An admin-API client that calls with `integration`'s API token and has `admin` approve
    /// what waits for a checker.
    pub fn admin_client(&self, http: reqwest::Client, base: impl Into<String>) -> AdminClient {
        AdminClient::new(http, base, &self.token).with_approver(self.admin.clone())
    }
}

/// The second administrator [`provision`] expects: made on the hub's host, e.g.
/// `ferroloop operator create admin2 --role hub-administrator` (or
/// `hub::iam::host_create_operator`), before it runs.
pub const SECOND_ADMIN: &str = "admin2";

/// Sets up a freshly started hub's operators with four eyes from the start
/// (docs/OPERATORS.md, "First start"): reads `admin`'s one-time password from
/// `initial_password_path` (`<data_dir>/initial-admin-password`) and [`SECOND_ADMIN`]'s from
/// `second_admin_password_path` (`<data_dir>/one-time-password-admin2`, written by the host
/// command that created it), takes both through their first login, has `admin` ask for the
/// operator `integration` (role `integration`) and `admin2` approve it (the hub accepts no
/// operation without a checker, and refuses one while fewer than two operators can approve),
/// logs `integration` in for the first time and creates an API token for it with every
/// permission of its role, valid 30 days.
pub async fn provision(
    http: reqwest::Client,
    admin_url: &str,
    initial_password_path: &Path,
    second_admin_password_path: &Path,
) -> Result<Provisioned, AdminError> {
    let read = |path: &Path, what: &str| {
        std::fs::read_to_string(path)
            .map(|text| text.trim_end_matches(['\r', '\n']).to_string())
            .map_err(|e| AdminError::Local(format!("reading {what} {}: {e}", path.display())))
    };
    let one_time = read(initial_password_path, "the initial admin password")?;
    let second_one_time = read(
        second_admin_password_path,
        "the second administrator's one-time password (ferroloop operator create)",
    )?;
    let admin = OperatorSession::first_login(http.clone(), admin_url, ADMIN, &one_time).await?;
    let second_admin =
        OperatorSession::first_login(http.clone(), admin_url, SECOND_ADMIN, &second_one_time)
            .await?;
    let created = match admin.create_operator(INTEGRATION, &[INTEGRATION]).await? {
        Outcome::Pending { request_id, .. } => {
            let answer = second_admin.approve(&request_id).await?;
            let result = &answer["result"];
            if result["status"] != 201 {
                return Err(AdminError::Local(format!(
                    "creating operator {INTEGRATION} (request {request_id}) failed: {result}"
                )));
            }
            result["body"].clone()
        }
        Outcome::Done { body, .. } => body,
    };
    let one_time = string_field(&created, "oneTimePassword", "POST /operators")?;
    let integration =
        OperatorSession::first_login(http.clone(), admin_url, INTEGRATION, &one_time).await?;
    let token = integration
        .create_full_api_token("provisioned", PROVISIONED_TOKEN_SECS)
        .await?;
    Ok(Provisioned {
        admin,
        integration,
        token,
        second_admin,
    })
}

/// One admin-API exchange: status and body (`Null` when empty, a JSON string when not JSON).
async fn send(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), AdminError> {
    let mut request = http.request(method, format!("{}{}", base.trim_end_matches('/'), path));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((status, parse_body(text)))
}

/// A response body as JSON: `Null` when empty, a string when it is not JSON.
pub(crate) fn parse_body(text: String) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}

/// Whether an answer is the hub's "fresh MFA required" refusal (HTTP 401): its description
/// starts with `fresh MFA required`, possibly after the FSPIOP error code's own description
/// (`Generic client error - fresh MFA required: …`).
pub fn is_fresh_mfa_required(answer: &Value) -> bool {
    answer["errorInformation"]["errorDescription"]
        .as_str()
        .is_some_and(|d| {
            d.starts_with(FRESH_MFA_REQUIRED)
                || d.split_once(" - ")
                    .is_some_and(|(_, rest)| rest.starts_with(FRESH_MFA_REQUIRED))
        })
}

fn expect_success(status: u16, answer: &Value, what: &str) -> Result<(), AdminError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    Err(AdminError::Refused {
        status,
        body: format!("{what}: {}", body_text(answer)),
    })
}

/// A body for an error message: the JSON, or the text itself.
pub(crate) fn body_text(answer: &Value) -> String {
    match answer {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn string_field(answer: &Value, field: &str, what: &str) -> Result<String, AdminError> {
    answer[field]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| AdminError::Local(format!("{what}: no {field:?} in the hub's answer")))
}

fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

fn current_step() -> u64 {
    unix_now().as_secs() / STEP_SECS
}

/// The current step if it is later than `last`, else waits for the step after `last`.
async fn next_step(last: Option<u64>) -> u64 {
    let step = current_step();
    let Some(last) = last else {
        return step;
    };
    if step > last {
        return step;
    }
    let wanted = last + 1;
    let starts = Duration::from_secs(wanted * STEP_SECS);
    // A little past the boundary, so the hub's clock (whole seconds) is in the step too.
    let wait = starts.saturating_sub(unix_now()) + Duration::from_millis(50);
    tokio::time::sleep(wait).await;
    wanted.max(current_step())
}

fn code_for(totp: &TotpSecret, step: u64) -> Result<String, AdminError> {
    totp.code_at(step * STEP_SECS)
        .map_err(|e| AdminError::Local(format!("computing a TOTP code: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_answers_are_told_from_empty_202s() {
        let pending = json!({"requestId": "r1", "state": "pending", "permission": "funds.in"});
        assert_eq!(
            Outcome::of(202, pending.clone()),
            Outcome::Pending {
                request_id: "r1".into(),
                body: pending
            }
        );
        assert_eq!(
            Outcome::of(202, Value::Null),
            Outcome::Done {
                status: 202,
                body: Value::Null
            }
        );
        assert_eq!(
            pending_request_id(201, &json!({"requestId": "r1", "state": "pending"})),
            None
        );
    }

    #[test]
    fn fresh_mfa_refusals_are_recognised() {
        let answer = json!({"errorInformation": {"errorCode": "3000", "errorDescription": "fresh MFA required: enter a code"}});
        assert!(is_fresh_mfa_required(&answer));
        let prefixed = json!({"errorInformation": {"errorCode": "3000", "errorDescription": "Generic client error - fresh MFA required: enter a TOTP code"}});
        assert!(is_fresh_mfa_required(&prefixed));
        let other = json!({"errorInformation": {"errorCode": "3000", "errorDescription": "Generic client error - session expired"}});
        assert!(!is_fresh_mfa_required(&other));
    }

    #[tokio::test]
    async fn steps_never_repeat() {
        let now = current_step();
        assert!(next_step(None).await >= now);
        assert!(next_step(Some(now - 1)).await >= now);
    }

    #[test]
    fn debug_shows_no_secret() {
        let secret = TotpSecret::generate().expect("secret");
        let session = OperatorSession {
            inner: Arc::new(Inner {
                http: reqwest::Client::new(),
                base: "http://127.0.0.1:1".into(),
                name: "admin".into(),
                password: "correct horse battery staple".into(), // secret-scan: allow (test fixture)
                totp: Some(secret.clone()),
                recovery_codes: vec!["ABCDEFGHIJ".into()],
                session: Mutex::new("fls_session".into()),
                last_step: tokio::sync::Mutex::new(None),
            }),
        };
        let provisioned = Provisioned {
            admin: session.clone(),
            integration: session.clone(),
            token: "flt_token".into(), // secret-scan: allow (test fixture)
            second_admin: session,
        };
        let shown = format!("{provisioned:?}");
        for secret in [
            "correct horse",
            "ABCDEFGHIJ",
            "fls_session",
            "flt_token",
            &secret.to_base32(),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("admin"));
    }
}
