//! The admin API: central-ledger-compatible provisioning paths on their own listener, and the
//! operator API (sessions, MFA, tokens, operators, roles, policy, maker/checker requests).
//!
//! Every route but `/health`, `/openapi.json` and `POST /auth/login` needs an operator's
//! session or API token; [`authorize`] resolves it to a [`Principal`] and checks the permission
//! `iam::rbac::route_permission` names for the route (deny by default). Sensitive changes are
//! [`Operation`]s handed to [`Requests::submit`]: executed at once when the policy needs no
//! checker, otherwise kept as a pending request (`202`).

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use fspiop::{Amount, Currency, ErrorCode, FspiopDateTime, FspiopError};
use iam::rbac::RoutePermission;
use ledger::{Account, AccountType, Participant};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::iam::{Denied, Iam, Principal};
use crate::operations::{Actor, Operations};
use crate::requests::{Operation, Requests, Submitted};

/// The operator API described in OpenAPI 3.1 (kept in step with the routes and the permissions
/// they need by a test in `crates/iam`).
pub const OPENAPI_DOCUMENT: &str = include_str!("../openapi/admin.json");

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "ferroloop_session";

/// State of the admin listener.
#[derive(Clone)]
pub struct AdminState {
    /// Operations layer (queries and side effects).
    pub operations: Operations,
    /// Operator identity and access.
    pub iam: Iam,
    /// Maker/checker.
    pub requests: Requests,
    /// The hub's published JWS key (`GET /hub/jwsKey`).
    pub hub_jws_key: Arc<Value>,
    /// The FSPIOP listener's TLS material (`POST /tls/reload`).
    pub tls: Arc<crate::tls::TlsControl>,
    /// Audit of unauthenticated refusals, repeated ones aggregated.
    pub refusals: Arc<crate::refusals::RefusalAudit>,
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    let protected = Router::new()
        .route(
            "/participants",
            get(list_participants).post(create_participant),
        )
        .route(
            "/participants/{name}",
            get(get_participant).put(update_participant),
        )
        .route(
            "/participants/{name}/endpoints",
            get(list_endpoints).post(add_endpoint),
        )
        .route(
            "/participants/{name}/initialPositionAndLimits",
            post(initial_position_and_limits),
        )
        .route(
            "/participants/{name}/limits",
            get(list_limits).put(set_limit),
        )
        .route(
            "/participants/{name}/accounts",
            get(list_accounts).post(create_hub_account),
        )
        .route(
            "/participants/{name}/accounts/{id}",
            post(record_funds).put(update_account),
        )
        .route(
            "/participants/{name}/accounts/{id}/transfers/{transfer_id}",
            put(settle_funds_out),
        )
        .route("/participants/{name}/positions", get(positions))
        .route(
            "/participants/{name}/jwsKeys",
            get(list_jws_keys).post(add_jws_key),
        )
        .route(
            "/participants/{name}/jwsKeys/{fingerprint}",
            delete(retire_jws_key),
        )
        .route(
            "/participants/{name}/tls",
            get(get_participant_tls).put(set_participant_tls),
        )
        .route(
            "/participants/{name}/certificates",
            get(list_certificates).post(issue_certificate),
        )
        .route(
            "/participants/{name}/certificates/{serial}",
            delete(revoke_certificate),
        )
        .route("/hub/jwsKey", get(hub_jws_key))
        .route("/tls/reload", post(reload_tls))
        .route("/transfers/{id}", get(transfer))
        .route("/audit", get(audit))
        .route("/audit/export", get(crate::admin_iam::audit_export))
        .route("/deliveries", get(deliveries))
        .route("/auth/logout", post(crate::admin_iam::logout))
        .route("/auth/me", get(crate::admin_iam::me))
        .route("/auth/password", post(crate::admin_iam::change_password))
        .route("/auth/mfa/enrol", post(crate::admin_iam::mfa_enrol))
        .route("/auth/mfa/confirm", post(crate::admin_iam::mfa_confirm))
        .route("/auth/mfa", post(crate::admin_iam::mfa_step_up))
        .route(
            "/auth/tokens",
            get(crate::admin_iam::list_tokens).post(crate::admin_iam::create_token),
        )
        .route("/auth/tokens/{id}", delete(crate::admin_iam::revoke_token))
        .route(
            "/operators",
            get(crate::admin_iam::list_operators).post(crate::admin_iam::create_operator),
        )
        .route("/operators/{name}", put(crate::admin_iam::update_operator))
        .route(
            "/operators/{name}/roles",
            put(crate::admin_iam::set_operator_roles),
        )
        .route(
            "/operators/{name}/reset",
            post(crate::admin_iam::reset_operator),
        )
        .route(
            "/roles",
            get(crate::admin_iam::list_roles).post(crate::admin_iam::define_role),
        )
        .route("/roles/{name}", delete(crate::admin_iam::delete_role))
        .route(
            "/policy",
            get(crate::admin_iam::get_policy).put(crate::admin_iam::set_policy),
        )
        .route("/requests", get(crate::admin_iam::list_requests))
        .route("/requests/{id}", get(crate::admin_iam::get_request))
        .route(
            "/requests/{id}/approve",
            post(crate::admin_iam::approve_request),
        )
        .route(
            "/requests/{id}/reject",
            post(crate::admin_iam::reject_request),
        )
        .route_layer(middleware::from_fn_with_state(state.clone(), authorize))
        .with_state(state.clone());
    Router::new()
        .route("/health", get(|| async { Json(json!({"status": "OK"})) }))
        .route(
            "/openapi.json",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    OPENAPI_DOCUMENT,
                )
            }),
        )
        .route("/auth/login", post(crate::admin_iam::login))
        .with_state(state)
        .merge(protected)
}

/// Routes a session that may only take the first-login steps can use.
const FIRST_LOGIN_ROUTES: &[(&str, &str)] = &[
    ("POST", "/auth/password"),
    ("POST", "/auth/mfa/enrol"),
    ("POST", "/auth/mfa/confirm"),
    ("POST", "/auth/logout"),
    ("GET", "/auth/me"),
];

/// The credential a request presents: the bearer token, else the session cookie.
pub(crate) fn presented_credential(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(bearer) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(bearer.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// Authenticates the caller and checks the route's permission; refusals are audited.
async fn authorize(State(state): State<AdminState>, mut request: Request, next: Next) -> Response {
    let method = request.method().as_str().to_string();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let Some(rule) = iam::rbac::route_permission(&method, &template) else {
        // A route without a rule is refused, whoever calls (deny by default).
        return AdminError::from(Denied::forbidden(format!(
            "{method} {template} has no permission rule"
        )))
        .into_response();
    };
    let principal = match presented_credential(&request) {
        None => Err(Denied::unauthenticated(
            "missing credentials: send `Authorization: Bearer <session or API token>` \
             (POST /auth/login gives a session)",
        )),
        Some(presented) => state.iam.authenticate(&presented).await,
    };
    let principal = match principal {
        Ok(principal) => principal,
        Err(denied) => {
            if denied.status == 401 {
                // Repeats from one source are counted, not audited one by one.
                let remote = request
                    .extensions()
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|c| c.0);
                state.refusals.refused(crate::refusals::Refusal {
                    source: remote.map(|r| r.ip()),
                    actor: crate::refusals::UNAUTHENTICATED,
                    action: "admin.unauthenticated",
                    reason: "401",
                    subject: "",
                    detail: json!({
                        "method": method,
                        "path": template,
                        "reason": denied.error.description,
                        "remote": remote.map(|r| r.to_string()),
                    }),
                });
            }
            return AdminError::from(denied).into_response();
        }
    };
    if let Some(reason) = principal.restricted
        && !FIRST_LOGIN_ROUTES.contains(&(method.as_str(), template.as_str()))
    {
        return AdminError::from(Denied::forbidden(reason)).into_response();
    }
    let allowed = match rule {
        RoutePermission::AnyOperator => true,
        other => !other
            .candidates()
            .intersection(principal.permissions)
            .is_empty(),
    };
    // Separation of duties is checked again at every call: an assignment that breaks it
    // (however it came about) grants nothing until it is fixed.
    if let Err(violation) = iam::rbac::check_permissions(principal.permissions) {
        state.operations.record(
            &principal.name,
            "admin.forbidden",
            &template,
            &json!({"method": method, "separationOfDuties": violation.to_string()}).to_string(),
            "denied",
        );
        return AdminError::from(Denied::forbidden(format!(
            "your roles break separation of duties ({} with {}): ask an administrator to fix \
             the assignment",
            violation.rule.first, violation.rule.second
        )))
        .into_response();
    }
    if !allowed {
        let needed: Vec<&str> = rule.candidates().iter().map(|p| p.as_str()).collect();
        state.operations.record(
            &principal.name,
            "admin.forbidden",
            &template,
            &json!({"method": method, "needs": needed}).to_string(),
            "denied",
        );
        return AdminError::from(Denied::forbidden(format!(
            "{method} {template} needs {}; your roles do not grant it",
            needed.join(" or ")
        )))
        .into_response();
    }
    request.extensions_mut().insert(Actor {
        name: principal.name.clone(),
    });
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// An admin error response.
pub(crate) struct AdminError {
    status: StatusCode,
    error: FspiopError,
    retry_after: Option<u64>,
}

impl From<FspiopError> for AdminError {
    fn from(error: FspiopError) -> Self {
        let status = match error.code {
            ErrorCode::ID_NOT_FOUND => StatusCode::NOT_FOUND,
            code => StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        };
        AdminError {
            status,
            error,
            retry_after: None,
        }
    }
}

impl From<Denied> for AdminError {
    fn from(denied: Denied) -> Self {
        AdminError {
            status: StatusCode::from_u16(denied.status).unwrap_or(StatusCode::FORBIDDEN),
            error: denied.error,
            retry_after: denied.retry_after,
        }
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.error.to_body())).into_response();
        if let Some(secs) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&secs.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"ferroloop-admin\""),
            );
        }
        response
    }
}

pub(crate) type AdminResult = Result<Response, AdminError>;

pub(crate) fn bad(detail: impl AsRef<str>) -> AdminError {
    AdminError::from(FspiopError::validation(detail))
}

/// Hands a sensitive operation to maker/checker and answers as the route would.
pub(crate) async fn submit(
    state: &AdminState,
    principal: &Principal,
    operation: Operation,
) -> AdminResult {
    match state.requests.submit(principal, operation).await? {
        Submitted::Executed(executed) => Ok(executed_response(executed.status, executed.body)),
        Submitted::Pending(body) => {
            let location = format!(
                "/requests/{}",
                body.get("requestId")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
            );
            let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, value);
            }
            Ok(response)
        }
    }
}

fn executed_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if body.is_null() {
        status.into_response()
    } else {
        (status, Json(body)).into_response()
    }
}

/// The caller, put there by [`authorize`].
pub(crate) type Caller = axum::Extension<Principal>;

/// A JSON body whose rejection (not JSON, wrong content type, a missing or mistyped field) is an
/// FSPIOP validation error naming the problem, like every other refusal of the admin API.
pub(crate) struct Body<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for Body<T> {
    type Rejection = AdminError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(bad(format!("request body: {}", rejection.body_text()))),
        }
    }
}

/// Query parameters, refused like [`Body`].
pub(crate) struct Params<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequestParts<S>
    for Params<T>
{
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Params(value)),
            Err(rejection) => Err(bad(format!("query: {}", rejection.body_text()))),
        }
    }
}

/// Path segments (an account id must be a number), refused like [`Body`].
pub(crate) struct Segments<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> axum::extract::FromRequestParts<S>
    for Segments<T>
{
    type Rejection = AdminError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Segments(value)),
            Err(rejection) => Err(bad(format!("path: {}", rejection.body_text()))),
        }
    }
}

pub(crate) fn date(ms: i64) -> String {
    FspiopDateTime::from_unix_millis(ms)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

pub(crate) fn account_json(account: &Account) -> Value {
    json!({
        "id": account.id,
        "ledgerAccountType": account.kind.as_str(),
        "currency": account.currency,
        "isActive": if account.is_active { 1 } else { 0 },
        "value": account.value.normalize().to_string(),
        "reservedValue": account.reserved.normalize().to_string(),
        "changedDate": date(account.changed_at_ms),
    })
}

pub(crate) fn participant_json(participant: &Participant, accounts: &[Account]) -> Value {
    json!({
        "name": participant.name,
        "id": format!("/participants/{}", participant.name),
        "created": date(participant.created_at_ms),
        "isActive": if participant.is_active { 1 } else { 0 },
        "links": {"self": format!("/participants/{}", participant.name)},
        "accounts": accounts.iter().map(|a| json!({
            "id": a.id,
            "ledgerAccountType": a.kind.as_str(),
            "currency": a.currency,
            "isActive": if a.is_active { 1 } else { 0 },
            "createdDate": date(a.changed_at_ms),
        })).collect::<Vec<_>>(),
        "isProxy": false,
    })
}

fn currency(text: &str) -> Result<String, AdminError> {
    Currency::parse(text)
        .map(|c| c.to_string())
        .map_err(|e| bad(e.to_string()))
}

/// Amounts may arrive as JSON numbers or strings in the admin API.
fn decimal_value(value: &Value, field: &str) -> Result<Amount, AdminError> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(bad(format!("{field} must be a number"))),
    };
    Amount::parse_lenient(&text).map_err(|e| bad(format!("{field}: {e}")))
}

async fn list_participants(State(state): State<AdminState>) -> AdminResult {
    let all = state.operations.participants().await?;
    let body: Vec<Value> = all.iter().map(|(p, a)| participant_json(p, a)).collect();
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct CreateParticipant {
    name: String,
    currency: String,
}

async fn create_participant(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<CreateParticipant>,
) -> AdminResult {
    let currency = currency(&body.currency)?;
    let operation = Operation::CreateParticipant {
        name: body.name,
        currency,
    };
    submit(&state, &who, operation).await
}

async fn get_participant(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
) -> AdminResult {
    match state.operations.participant(&name).await? {
        Some((participant, accounts)) => {
            Ok(Json(participant_json(&participant, &accounts)).into_response())
        }
        None => Err(AdminError::from(FspiopError::new(
            ErrorCode::ID_NOT_FOUND,
            format!("participant {name} does not exist"),
        ))),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UpdateParticipant {
    is_active: Value,
}

fn flag(value: &Value) -> Result<bool, AdminError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) if n.as_u64() == Some(1) => Ok(true),
        Value::Number(n) if n.as_u64() == Some(0) => Ok(false),
        _ => Err(bad("isActive must be true, false, 1 or 0")),
    }
}

async fn update_participant(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<UpdateParticipant>,
) -> AdminResult {
    let active = flag(&body.is_active)?;
    submit(
        &state,
        &who,
        Operation::SetParticipantActive { name, active },
    )
    .await
}

async fn list_endpoints(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
) -> AdminResult {
    let endpoints = state.operations.endpoints(&name).await?;
    let body: Vec<Value> = endpoints
        .iter()
        .map(|e| json!({"type": e.kind, "value": e.value}))
        .collect();
    Ok(Json(body).into_response())
}

/// One endpoint `{"type","value"}` (the central-ledger body) or, a Ferroloop extension, an
/// array of them set together under one approval.
async fn add_endpoint(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<Value>,
) -> AdminResult {
    let operation = if body.is_array() {
        let endpoints = serde_json::from_value(body).map_err(|e| {
            bad(format!(
                "endpoints: {e} (send an array of {{\"type\", \"value\"}} objects)"
            ))
        })?;
        Operation::SetEndpoints {
            participant: name,
            endpoints,
        }
    } else {
        let endpoint: crate::requests::EndpointValue = serde_json::from_value(body)
            .map_err(|e| bad(format!("endpoint: {e} (send {{\"type\", \"value\"}})")))?;
        Operation::SetEndpoint {
            participant: name,
            kind: endpoint.kind,
            value: endpoint.value,
        }
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AddJwsKey {
    public_key: String,
    not_before: Option<String>,
    not_after: Option<String>,
}

fn optional_instant(text: Option<&str>, field: &str) -> Result<Option<i64>, AdminError> {
    text.map(|t| {
        FspiopDateTime::parse(t)
            .map(FspiopDateTime::unix_millis)
            .map_err(|e| bad(format!("{field}: {e}")))
    })
    .transpose()
}

pub(crate) fn jws_key_json(key: &crate::signatures::RegisteredKey, now_ms: i64) -> Value {
    let record = &key.record;
    json!({
        "fingerprint": record.fingerprint,
        "alg": record.alg,
        "bits": key.key.bits(),
        "publicKey": record.public_key_pem,
        "notBefore": record.not_before_ms.map(date),
        "notAfter": record.not_after_ms.map(date),
        "added": date(record.added_at_ms),
        "retired": record.retired_at_ms.map(date),
        "status": key.status_at(now_ms),
    })
}

async fn add_jws_key(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<AddJwsKey>,
) -> AdminResult {
    let operation = Operation::AddJwsKey {
        participant: name,
        public_key_pem: body.public_key,
        not_before_ms: optional_instant(body.not_before.as_deref(), "notBefore")?,
        not_after_ms: optional_instant(body.not_after.as_deref(), "notAfter")?,
    };
    submit(&state, &who, operation).await
}

async fn list_jws_keys(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
) -> AdminResult {
    if state.operations.participant(&name).await?.is_none() {
        return Err(AdminError::from(FspiopError::new(
            ErrorCode::ID_NOT_FOUND,
            format!("participant {name} does not exist"),
        )));
    }
    let keys = state.operations.jws_keys(&name).await?;
    let now = state.operations.now_ms();
    let list: Vec<Value> = keys.iter().map(|k| jws_key_json(k, now)).collect();
    Ok(Json(Value::Array(list)).into_response())
}

async fn retire_jws_key(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments((name, fingerprint)): Segments<(String, String)>,
) -> AdminResult {
    let operation = Operation::RetireJwsKey {
        participant: name,
        fingerprint,
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetParticipantTls {
    spki_pin: Option<String>,
    callback_ca_pem: Option<String>,
}

pub(crate) fn participant_tls_json(tls: &ledger::ParticipantTls) -> Value {
    json!({
        "participant": tls.participant,
        "binding": match &tls.spki_pin {
            Some(_) => "name+spki",
            None => "name",
        },
        "spkiPin": tls.spki_pin,
        "callbackCaPem": tls.callback_ca_pem,
        "updated": date(tls.updated_at_ms),
    })
}

/// A participant's certificate binding and callback CA. Without settings the binding is by
/// name (the certificate's SAN URI or CN) and callbacks are verified against the hub's CA.
async fn get_participant_tls(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
) -> AdminResult {
    if state.operations.participant(&name).await?.is_none() {
        return Err(AdminError::from(FspiopError::new(
            ErrorCode::ID_NOT_FOUND,
            format!("participant {name} does not exist"),
        )));
    }
    let settings = state.operations.participant_tls(&name).await?;
    Ok(Json(match settings {
        Some(tls) => participant_tls_json(&tls),
        None => {
            json!({"participant": name, "binding": "name", "spkiPin": null, "callbackCaPem": null})
        }
    })
    .into_response())
}

async fn set_participant_tls(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<SetParticipantTls>,
) -> AdminResult {
    let operation = Operation::SetParticipantTls {
        participant: name,
        spki_pin: body.spki_pin,
        callback_ca_pem: body.callback_ca_pem,
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IssueCertificate {
    csr: String,
    days: Option<u32>,
}

/// A participant's client certificates issued by the hub's own CA, revoked ones included.
async fn list_certificates(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
) -> AdminResult {
    if state.operations.participant(&name).await?.is_none() {
        return Err(AdminError::from(FspiopError::new(
            ErrorCode::ID_NOT_FOUND,
            format!("participant {name} does not exist"),
        )));
    }
    let Some(ca) = state.requests.ca().cloned() else {
        return Ok(Json(Vec::<Value>::new()).into_response());
    };
    let list = tokio::task::spawn_blocking(move || ca.certificates(&name))
        .await
        .map_err(|e| AdminError::from(FspiopError::internal(e.to_string())))??;
    Ok(Json(
        list.iter()
            .map(crate::requests::certificate_json)
            .collect::<Vec<_>>(),
    )
    .into_response())
}

/// Signs a participant's CSR with the hub's CA (maker/checker). The hub never sees the key.
async fn issue_certificate(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<IssueCertificate>,
) -> AdminResult {
    let operation = Operation::IssueCertificate {
        participant: name,
        csr_pem: body.csr,
        days: body.days.unwrap_or(365),
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
struct RevokeQuery {
    reason: Option<String>,
}

/// Revokes a participant's certificate (maker/checker); on execution the CRL is rewritten and
/// the listener reloads it, closing the certificate's open connections.
async fn revoke_certificate(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments((name, serial)): Segments<(String, String)>,
    Params(query): Params<RevokeQuery>,
) -> AdminResult {
    let reason = match query.reason.as_deref() {
        None => pki::RevocationReason::Unspecified,
        Some(text) => serde_json::from_value(Value::String(text.to_string())).map_err(|_| {
            bad("reason must be unspecified, keyCompromise, superseded or cessationOfOperation")
        })?,
    };
    let operation = Operation::RevokeCertificate {
        participant: name,
        serial,
        reason,
    };
    submit(&state, &who, operation).await
}

/// Re-reads the FSPIOP listener's certificate, trust store and CRL (after `ferroloop pki
/// revoke`, a rotation or a new CA) and closes connections whose certificate is now revoked.
async fn reload_tls(
    State(state): State<AdminState>,
    axum::Extension(who): axum::Extension<Actor>,
) -> AdminResult {
    let tls = state.tls.clone();
    let result = tokio::task::spawn_blocking(move || tls.reload())
        .await
        .map_err(|e| AdminError::from(FspiopError::internal(e.to_string())))?;
    match result {
        Ok(closed) => {
            state.operations.record(
                &who.name,
                "tls.reload",
                "",
                &json!({"closedConnections": closed}).to_string(),
                "ok",
            );
            Ok(
                Json(json!({"reloaded": state.tls.is_mtls(), "closedConnections": closed}))
                    .into_response(),
            )
        }
        Err(error) => {
            state.operations.record(
                &who.name,
                "tls.reload",
                "",
                &json!({"error": error.to_string()}).to_string(),
                "failed",
            );
            Err(AdminError::from(FspiopError::validation(format!(
                "TLS material not reloaded (the previous set stays in force): {error}"
            ))))
        }
    }
}

async fn hub_jws_key(State(state): State<AdminState>) -> AdminResult {
    Ok(Json((*state.hub_jws_key).clone()).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitialPositionAndLimits {
    currency: String,
    limit: LimitBody,
    initial_position: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LimitBody {
    #[serde(rename = "type")]
    kind: String,
    value: Value,
    alarm_percentage: Option<Value>,
}

fn check_limit_type(limit: &LimitBody) -> Result<(), AdminError> {
    if limit.kind != "NET_DEBIT_CAP" {
        return Err(bad(format!(
            "limit type {} is not supported; use NET_DEBIT_CAP",
            limit.kind
        )));
    }
    Ok(())
}

async fn initial_position_and_limits(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<InitialPositionAndLimits>,
) -> AdminResult {
    check_limit_type(&body.limit)?;
    let currency = currency(&body.currency)?;
    let cap = decimal_value(&body.limit.value, "limit.value")?;
    let initial = match &body.initial_position {
        None | Some(Value::Null) => Decimal::ZERO,
        Some(value) => decimal_value(value, "initialPosition")?.decimal(),
    };
    let operation = Operation::InitialPositionAndLimits {
        name,
        currency,
        cap: cap.to_string(),
        initial_position: initial.to_string(),
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
struct LimitQuery {
    currency: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn list_limits(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
    Params(query): Params<LimitQuery>,
) -> AdminResult {
    if query.kind.as_deref().is_some_and(|k| k != "NET_DEBIT_CAP") {
        return Ok(Json(Vec::<Value>::new()).into_response());
    }
    let limits = state.operations.limits(&name).await?;
    let body: Vec<Value> = limits
        .iter()
        .filter(|l| query.currency.as_deref().is_none_or(|c| c == l.currency))
        .map(limit_json)
        .collect();
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct SetLimit {
    currency: String,
    limit: LimitBody,
}

async fn set_limit(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<SetLimit>,
) -> AdminResult {
    check_limit_type(&body.limit)?;
    let currency = currency(&body.currency)?;
    let cap = decimal_value(&body.limit.value, "limit.value")?;
    let alarm = match &body.limit.alarm_percentage {
        None | Some(Value::Null) => Decimal::from(10),
        Some(value) => decimal_value(value, "limit.alarmPercentage")?.decimal(),
    };
    let operation = Operation::SetLimit {
        name,
        currency,
        cap: cap.to_string(),
        alarm_percentage: alarm.to_string(),
    };
    submit(&state, &who, operation).await
}

/// A limit as the admin API shows it.
pub(crate) fn limit_json(limit: &ledger::Limit) -> Value {
    json!({"currency": limit.currency, "limit": {"type": "NET_DEBIT_CAP", "value": limit.value.normalize().to_string(), "alarmPercentage": limit.alarm_percentage.normalize().to_string()}})
}

async fn list_accounts(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
) -> AdminResult {
    match state.operations.participant(&name).await? {
        Some((_, accounts)) => {
            Ok(Json(accounts.iter().map(account_json).collect::<Vec<_>>()).into_response())
        }
        None => Err(AdminError::from(FspiopError::new(
            ErrorCode::ID_NOT_FOUND,
            format!("participant {name} does not exist"),
        ))),
    }
}

#[derive(Deserialize)]
struct HubAccount {
    currency: String,
    #[serde(rename = "type")]
    kind: String,
}

async fn create_hub_account(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<HubAccount>,
) -> AdminResult {
    if !name.eq_ignore_ascii_case(ledger::HUB_PARTICIPANT) {
        return Err(bad(format!(
            "accounts can only be added to the hub participant {}",
            ledger::HUB_PARTICIPANT
        )));
    }
    let kind = AccountType::parse(&body.kind)
        .ok_or_else(|| bad(format!("unknown account type {}", body.kind)))?;
    let operation = Operation::CreateHubAccount {
        currency: currency(&body.currency)?,
        kind: kind.as_str().to_string(),
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FundsBody {
    transfer_id: Option<String>,
    external_reference: Option<String>,
    action: Option<String>,
    reason: Option<String>,
    amount: Option<MoneyBody>,
    is_active: Option<Value>,
}

#[derive(Deserialize)]
struct MoneyBody {
    amount: Value,
    currency: String,
}

async fn record_funds(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments((name, id)): Segments<(String, i64)>,
    Body(body): Body<FundsBody>,
) -> AdminResult {
    let action = match body.action.as_deref() {
        Some(action @ ("recordFundsIn" | "recordFundsOutPrepareReserve")) => action.to_string(),
        other => {
            return Err(bad(format!(
                "action {other:?} must be recordFundsIn or recordFundsOutPrepareReserve"
            )));
        }
    };
    let transfer_id = body
        .transfer_id
        .ok_or_else(|| bad("transferId is required"))?;
    if !uuid_like(&transfer_id) {
        return Err(bad("transferId must be a UUID or ULID"));
    }
    let money = body.amount.ok_or_else(|| bad("amount is required"))?;
    let amount = decimal_value(&money.amount, "amount.amount")?;
    let operation = Operation::Funds {
        name,
        account: id,
        transfer_id,
        action,
        amount: amount.to_string(),
        currency: currency(&money.currency)?,
        reason: body.reason.unwrap_or_default(),
        external_reference: body.external_reference.unwrap_or_default(),
    };
    submit(&state, &who, operation).await
}

fn uuid_like(text: &str) -> bool {
    let uuid = text.len() == 36
        && text.chars().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    let ulid = text.len() == 26 && text.chars().all(|c| c.is_ascii_alphanumeric());
    uuid || ulid
}

async fn update_account(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments((name, id)): Segments<(String, i64)>,
    Body(body): Body<FundsBody>,
) -> AdminResult {
    let active = flag(
        body.is_active
            .as_ref()
            .ok_or_else(|| bad("isActive is required"))?,
    )?;
    let operation = Operation::SetAccountActive {
        name,
        account: id,
        active,
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
struct SettleBody {
    action: String,
}

async fn settle_funds_out(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments((name, id, transfer_id)): Segments<(String, i64, String)>,
    Body(body): Body<SettleBody>,
) -> AdminResult {
    let commit = match body.action.as_str() {
        "recordFundsOutCommit" => true,
        "recordFundsOutAbort" => false,
        other => {
            return Err(bad(format!(
                "action {other} must be recordFundsOutCommit or recordFundsOutAbort"
            )));
        }
    };
    let operation = Operation::SettleFundsOut {
        name,
        account: id,
        transfer_id,
        commit,
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
struct PositionQuery {
    currency: Option<String>,
}

async fn positions(
    State(state): State<AdminState>,
    Segments(name): Segments<String>,
    Params(query): Params<PositionQuery>,
) -> AdminResult {
    let Some((_, accounts)) = state.operations.participant(&name).await? else {
        return Err(AdminError::from(FspiopError::new(
            ErrorCode::ID_NOT_FOUND,
            format!("participant {name} does not exist"),
        )));
    };
    let list: Vec<Value> = accounts
        .iter()
        .filter(|a| a.kind == AccountType::Position)
        .filter(|a| query.currency.as_deref().is_none_or(|c| c == a.currency))
        .map(|a| json!({"currency": a.currency, "value": a.value.normalize().to_string(), "reservedValue": a.reserved.normalize().to_string(), "changedDate": date(a.changed_at_ms)}))
        .collect();
    if query.currency.is_some() {
        return match list.into_iter().next() {
            Some(one) => Ok(Json(one).into_response()),
            None => Err(AdminError::from(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!("{name} has no position in that currency"),
            ))),
        };
    }
    Ok(Json(list).into_response())
}

async fn transfer(State(state): State<AdminState>, Segments(id): Segments<String>) -> AdminResult {
    match state.operations.transfer(&id).await? {
        Some(t) => Ok(Json(json!({
            "transferId": t.id,
            "payerFsp": t.payer,
            "payeeFsp": t.payee,
            "amount": {"amount": t.amount.normalize().to_string(), "currency": t.currency},
            "state": t.state.as_str(),
            "transferState": t.state.external(),
            "expiration": date(t.expiration_ms),
            "fulfilment": t.fulfilment,
            "errorCode": t.error_code,
            "errorDescription": t.error_description,
            "createdDate": date(t.created_at_ms),
            "completedTimestamp": t.completed_at_ms.map(date),
        }))
        .into_response()),
        None => Err(AdminError::from(FspiopError::new(
            ErrorCode::TRANSFER_NOT_FOUND,
            format!("transfer {id} does not exist"),
        ))),
    }
}

#[derive(Deserialize)]
struct LimitParam {
    limit: Option<u32>,
}

/// `GET /audit` answers this many entries when no `limit` is given.
pub const AUDIT_DEFAULT_LIMIT: u32 = 100;

/// `GET /audit` answers at most this many entries (a larger `limit` is lowered to it).
pub const AUDIT_MAX_LIMIT: u32 = 10_000;

/// Response header of `GET /audit`: `true` when more entries match than were answered.
pub const AUDIT_TRUNCATED_HEADER: &str = "ferroloop-audit-truncated";

/// Response header of `GET /audit` when truncated: the `before` value of the next page (the
/// `seq` of the last entry answered).
pub const AUDIT_NEXT_BEFORE_HEADER: &str = "ferroloop-audit-next-before";

/// `GET /audit` filters: each given one must match.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Most entries answered ([`AUDIT_DEFAULT_LIMIT`], at most [`AUDIT_MAX_LIMIT`]).
    limit: Option<u32>,
    /// Only entries with a `seq` below this one (the next page: the value of
    /// [`AUDIT_NEXT_BEFORE_HEADER`]).
    before: Option<i64>,
    /// The operator (or `host`, `hub`, a participant for refusals), exactly.
    actor: Option<String>,
    /// The action, or its start when it ends with `.` or `*` (`auth.`, `request.*`).
    action: Option<String>,
    /// The subject (participant, operator, request id), exactly.
    subject: Option<String>,
    /// `ok`, `denied` or `failed`.
    outcome: Option<String>,
    /// Entries at or after this instant (RFC 3339).
    since: Option<String>,
    /// Entries before this instant (RFC 3339).
    until: Option<String>,
}

/// The audit log, newest first, optionally filtered: who did what to whom, how it ended, when.
/// The filters run in the store over the whole log (indexed), so a match is found however many
/// entries came after it; when more entries match than `limit`, the answer says so
/// ([`AUDIT_TRUNCATED_HEADER`]) and where the next page starts ([`AUDIT_NEXT_BEFORE_HEADER`]).
async fn audit(State(state): State<AdminState>, Params(query): Params<AuditQuery>) -> AdminResult {
    let instant = |text: Option<&str>, field: &str| -> Result<Option<i64>, AdminError> {
        text.map(|t| {
            time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map(|at| {
                    i64::try_from(at.unix_timestamp_nanos().div_euclid(1_000_000))
                        .unwrap_or(i64::MAX)
                })
                .map_err(|e| bad(format!("{field} must be an RFC 3339 instant: {e}")))
        })
        .transpose()
    };
    let since_ms = instant(query.since.as_deref(), "since")?;
    let until_ms = instant(query.until.as_deref(), "until")?;
    let limit = query
        .limit
        .unwrap_or(AUDIT_DEFAULT_LIMIT)
        .min(AUDIT_MAX_LIMIT);
    let action = query.action.map(|a| match a.strip_suffix('*') {
        Some(prefix) => ledger::AuditAction::Prefix(prefix.to_owned()),
        None if a.ends_with('.') => ledger::AuditAction::Prefix(a),
        None => ledger::AuditAction::Exact(a),
    });
    let filter = ledger::AuditFilter {
        actor: query.actor,
        action,
        subject: query.subject,
        outcome: query.outcome,
        since_ms,
        until_ms,
        before_seq: query.before,
        // One more than answered tells whether the answer is truncated.
        limit: limit.saturating_add(1),
    };
    let mut entries = state
        .iam
        .writer()
        .read(move |_, tx| Box::pin(async move { tx.audit_query(&filter).await }))
        .await
        .map_err(|e| AdminError::from(FspiopError::internal(e.to_string())))?;
    let truncated = entries.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    entries.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let mut response = Json(&entries).into_response();
    let headers = response.headers_mut();
    headers.insert(
        AUDIT_TRUNCATED_HEADER,
        HeaderValue::from_static(if truncated { "true" } else { "false" }),
    );
    if truncated
        && let Some(last) = entries.last()
        && let Ok(value) = HeaderValue::from_str(&last.seq.to_string())
    {
        headers.insert(AUDIT_NEXT_BEFORE_HEADER, value);
    }
    Ok(response)
}

async fn deliveries(
    State(state): State<AdminState>,
    Params(query): Params<LimitParam>,
) -> AdminResult {
    let entries = state
        .operations
        .deliveries(query.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(entries).into_response())
}
