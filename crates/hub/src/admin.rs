//! The admin API: central-ledger-compatible provisioning paths on their own listener.
//!
//! Until operator IAM lands, every call needs the bootstrap admin token generated at first
//! start (`Authorization: Bearer <token>`); there is no default secret. Every change goes
//! through [`Operations`], which audits it.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use fspiop::{Amount, Currency, ErrorCode, FspiopDateTime, FspiopError};
use ledger::engine::FundsAction;
use ledger::{Account, AccountType, Endpoint, Participant};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::operations::{Actor, Operations};

/// The operator API described in OpenAPI 3.1 (kept in step with the routes and the permissions
/// they need by a test in `crates/iam`).
pub const OPENAPI_DOCUMENT: &str = include_str!("../openapi/admin.json");

/// State of the admin listener.
#[derive(Clone)]
pub struct AdminState {
    /// Operations layer.
    pub operations: Operations,
    /// The bootstrap token (compared in constant time).
    pub token: Arc<String>,
    /// The hub's published JWS key (`GET /hub/jwsKey`).
    pub hub_jws_key: Arc<Value>,
    /// The FSPIOP listener's TLS material (`POST /tls/reload`).
    pub tls: Arc<crate::tls::TlsControl>,
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
        .route("/hub/jwsKey", get(hub_jws_key))
        .route("/tls/reload", post(reload_tls))
        .route("/transfers/{id}", get(transfer))
        .route("/audit", get(audit))
        .route("/deliveries", get(deliveries))
        .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .with_state(state);
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
        .merge(protected)
}

async fn authenticate(
    State(state): State<AdminState>,
    mut request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), state.token.as_bytes()) {
        let path = request.uri().path().to_string();
        state.operations.record_denied(
            "unknown",
            "admin.authenticate",
            &json!({"path": path}).to_string(),
        );
        let error = FspiopError::new(
            ErrorCode::GENERIC_CLIENT_ERROR,
            "missing or invalid admin token",
        );
        return (StatusCode::UNAUTHORIZED, Json(error.to_body())).into_response();
    }
    request.extensions_mut().insert(Actor {
        name: "bootstrap-admin".into(),
    });
    next.run(request).await
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// An admin error response.
struct AdminError(FspiopError);

impl From<FspiopError> for AdminError {
    fn from(error: FspiopError) -> Self {
        AdminError(error)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let status = match self.0.code {
            ErrorCode::ID_NOT_FOUND => StatusCode::NOT_FOUND,
            code => StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::BAD_REQUEST),
        };
        (status, Json(self.0.to_body())).into_response()
    }
}

type AdminResult = Result<Response, AdminError>;

fn bad(detail: impl AsRef<str>) -> AdminError {
    AdminError(FspiopError::validation(detail))
}

fn actor(request_actor: Option<axum::Extension<Actor>>) -> Actor {
    request_actor.map(|a| a.0).unwrap_or(Actor {
        name: "unknown".into(),
    })
}

fn date(ms: i64) -> String {
    FspiopDateTime::from_unix_millis(ms)
        .map(|d| d.to_string())
        .unwrap_or_default()
}

fn account_json(account: &Account) -> Value {
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

fn participant_json(participant: &Participant, accounts: &[Account]) -> Value {
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
    who: Option<axum::Extension<Actor>>,
    Json(body): Json<CreateParticipant>,
) -> AdminResult {
    let currency = currency(&body.currency)?;
    state
        .operations
        .create_participant(&actor(who), &body.name, &currency)
        .await?;
    let (participant, accounts) = state
        .operations
        .participant(&body.name)
        .await?
        .ok_or_else(|| AdminError(FspiopError::internal("participant vanished after creation")))?;
    Ok((
        StatusCode::CREATED,
        Json(participant_json(&participant, &accounts)),
    )
        .into_response())
}

async fn get_participant(State(state): State<AdminState>, Path(name): Path<String>) -> AdminResult {
    match state.operations.participant(&name).await? {
        Some((participant, accounts)) => {
            Ok(Json(participant_json(&participant, &accounts)).into_response())
        }
        None => Err(AdminError(FspiopError::new(
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
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<UpdateParticipant>,
) -> AdminResult {
    let active = flag(&body.is_active)?;
    state
        .operations
        .set_participant_active(&actor(who), &name, active)
        .await?;
    get_participant(State(state), Path(name)).await
}

async fn list_endpoints(State(state): State<AdminState>, Path(name): Path<String>) -> AdminResult {
    let endpoints = state.operations.endpoints(&name).await?;
    let body: Vec<Value> = endpoints
        .iter()
        .map(|e| json!({"type": e.kind, "value": e.value}))
        .collect();
    Ok(Json(body).into_response())
}

#[derive(Deserialize)]
struct AddEndpoint {
    #[serde(rename = "type")]
    kind: String,
    value: String,
}

async fn add_endpoint(
    State(state): State<AdminState>,
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<AddEndpoint>,
) -> AdminResult {
    let endpoint = Endpoint {
        participant: name,
        kind: body.kind,
        value: body.value,
    };
    state.operations.set_endpoint(&actor(who), endpoint).await?;
    Ok(StatusCode::CREATED.into_response())
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

fn jws_key_json(key: &crate::signatures::RegisteredKey, now_ms: i64) -> Value {
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
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<AddJwsKey>,
) -> AdminResult {
    let not_before = optional_instant(body.not_before.as_deref(), "notBefore")?;
    let not_after = optional_instant(body.not_after.as_deref(), "notAfter")?;
    let key = state
        .operations
        .add_jws_key(&actor(who), &name, &body.public_key, not_before, not_after)
        .await?;
    let now = state.operations.now_ms();
    Ok((StatusCode::CREATED, Json(jws_key_json(&key, now))).into_response())
}

async fn list_jws_keys(State(state): State<AdminState>, Path(name): Path<String>) -> AdminResult {
    if state.operations.participant(&name).await?.is_none() {
        return Err(AdminError(FspiopError::new(
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
    who: Option<axum::Extension<Actor>>,
    Path((name, fingerprint)): Path<(String, String)>,
) -> AdminResult {
    state
        .operations
        .retire_jws_key(&actor(who), &name, &fingerprint)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SetParticipantTls {
    spki_pin: Option<String>,
    callback_ca_pem: Option<String>,
}

fn participant_tls_json(tls: &ledger::ParticipantTls) -> Value {
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
    Path(name): Path<String>,
) -> AdminResult {
    if state.operations.participant(&name).await?.is_none() {
        return Err(AdminError(FspiopError::new(
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
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<SetParticipantTls>,
) -> AdminResult {
    let stored = state
        .operations
        .set_participant_tls(&actor(who), &name, body.spki_pin, body.callback_ca_pem)
        .await?;
    Ok(Json(participant_tls_json(&stored)).into_response())
}

/// Re-reads the FSPIOP listener's certificate, trust store and CRL (after `ferroloop pki
/// revoke`, a rotation or a new CA) and closes connections whose certificate is now revoked.
async fn reload_tls(
    State(state): State<AdminState>,
    who: Option<axum::Extension<Actor>>,
) -> AdminResult {
    let who = actor(who);
    let tls = state.tls.clone();
    let result = tokio::task::spawn_blocking(move || tls.reload())
        .await
        .map_err(|e| AdminError(FspiopError::internal(e.to_string())))?;
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
            Err(AdminError(FspiopError::validation(format!(
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
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<InitialPositionAndLimits>,
) -> AdminResult {
    check_limit_type(&body.limit)?;
    let currency = currency(&body.currency)?;
    let cap = decimal_value(&body.limit.value, "limit.value")?;
    let initial = match &body.initial_position {
        None | Some(Value::Null) => Decimal::ZERO,
        Some(value) => decimal_value(value, "initialPosition")?.decimal(),
    };
    state
        .operations
        .initial_position_and_limits(&actor(who), &name, &currency, cap, initial)
        .await?;
    Ok(StatusCode::CREATED.into_response())
}

#[derive(Deserialize)]
struct LimitQuery {
    currency: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
}

async fn list_limits(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<LimitQuery>,
) -> AdminResult {
    if query.kind.as_deref().is_some_and(|k| k != "NET_DEBIT_CAP") {
        return Ok(Json(Vec::<Value>::new()).into_response());
    }
    let limits = state.operations.limits(&name).await?;
    let body: Vec<Value> = limits
        .iter()
        .filter(|l| query.currency.as_deref().is_none_or(|c| c == l.currency))
        .map(|l| {
            json!({"currency": l.currency, "limit": {"type": "NET_DEBIT_CAP", "value": l.value.normalize().to_string(), "alarmPercentage": l.alarm_percentage.normalize().to_string()}})
        })
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
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<SetLimit>,
) -> AdminResult {
    check_limit_type(&body.limit)?;
    let currency = currency(&body.currency)?;
    let cap = decimal_value(&body.limit.value, "limit.value")?;
    let alarm = match &body.limit.alarm_percentage {
        None | Some(Value::Null) => Decimal::from(10),
        Some(value) => decimal_value(value, "limit.alarmPercentage")?.decimal(),
    };
    let limit = state
        .operations
        .set_limit(&actor(who), &name, &currency, cap, alarm)
        .await?;
    Ok(Json(json!({"currency": limit.currency, "limit": {"type": "NET_DEBIT_CAP", "value": limit.value.normalize().to_string(), "alarmPercentage": limit.alarm_percentage.normalize().to_string()}})).into_response())
}

async fn list_accounts(State(state): State<AdminState>, Path(name): Path<String>) -> AdminResult {
    match state.operations.participant(&name).await? {
        Some((_, accounts)) => {
            Ok(Json(accounts.iter().map(account_json).collect::<Vec<_>>()).into_response())
        }
        None => Err(AdminError(FspiopError::new(
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
    who: Option<axum::Extension<Actor>>,
    Path(name): Path<String>,
    Json(body): Json<HubAccount>,
) -> AdminResult {
    if !name.eq_ignore_ascii_case(ledger::HUB_PARTICIPANT) {
        return Err(bad(format!(
            "accounts can only be added to the hub participant {}",
            ledger::HUB_PARTICIPANT
        )));
    }
    let kind = AccountType::parse(&body.kind)
        .ok_or_else(|| bad(format!("unknown account type {}", body.kind)))?;
    let currency = currency(&body.currency)?;
    let account = state
        .operations
        .create_hub_account(&actor(who), &currency, kind)
        .await?;
    Ok((StatusCode::CREATED, Json(account_json(&account))).into_response())
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
    who: Option<axum::Extension<Actor>>,
    Path((name, id)): Path<(String, i64)>,
    Json(body): Json<FundsBody>,
) -> AdminResult {
    let action = match body.action.as_deref() {
        Some("recordFundsIn") => FundsAction::In,
        Some("recordFundsOutPrepareReserve") => FundsAction::OutReserve,
        other => {
            return Err(bad(format!(
                "action {other:?} must be recordFundsIn or recordFundsOutPrepareReserve"
            )));
        }
    };
    let transfer_id = body
        .transfer_id
        .ok_or_else(|| bad("transferId is required"))?;
    let is_id = uuid_like(&transfer_id);
    if !is_id {
        return Err(bad("transferId must be a UUID or ULID"));
    }
    let money = body.amount.ok_or_else(|| bad("amount is required"))?;
    let amount = decimal_value(&money.amount, "amount.amount")?;
    let currency = currency(&money.currency)?;
    state
        .operations
        .funds(
            &actor(who),
            &name,
            id,
            &transfer_id,
            action,
            amount,
            &currency,
            body.reason.as_deref().unwrap_or(""),
            body.external_reference.as_deref().unwrap_or(""),
        )
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
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
    who: Option<axum::Extension<Actor>>,
    Path((name, id)): Path<(String, i64)>,
    Json(body): Json<FundsBody>,
) -> AdminResult {
    let active = flag(
        body.is_active
            .as_ref()
            .ok_or_else(|| bad("isActive is required"))?,
    )?;
    let account = state
        .operations
        .set_account_active(&actor(who), &name, id, active)
        .await?;
    Ok(Json(account_json(&account)).into_response())
}

#[derive(Deserialize)]
struct SettleBody {
    action: String,
}

async fn settle_funds_out(
    State(state): State<AdminState>,
    who: Option<axum::Extension<Actor>>,
    Path((name, id, transfer_id)): Path<(String, i64, String)>,
    Json(body): Json<SettleBody>,
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
    state
        .operations
        .settle_funds_out(&actor(who), &name, id, &transfer_id, commit)
        .await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[derive(Deserialize)]
struct PositionQuery {
    currency: Option<String>,
}

async fn positions(
    State(state): State<AdminState>,
    Path(name): Path<String>,
    Query(query): Query<PositionQuery>,
) -> AdminResult {
    let Some((_, accounts)) = state.operations.participant(&name).await? else {
        return Err(AdminError(FspiopError::new(
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
            None => Err(AdminError(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!("{name} has no position in that currency"),
            ))),
        };
    }
    Ok(Json(list).into_response())
}

async fn transfer(State(state): State<AdminState>, Path(id): Path<String>) -> AdminResult {
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
        None => Err(AdminError(FspiopError::new(
            ErrorCode::TRANSFER_NOT_FOUND,
            format!("transfer {id} does not exist"),
        ))),
    }
}

#[derive(Deserialize)]
struct LimitParam {
    limit: Option<u32>,
}

async fn audit(State(state): State<AdminState>, Query(query): Query<LimitParam>) -> AdminResult {
    let entries = state
        .operations
        .audit(query.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(entries).into_response())
}

async fn deliveries(
    State(state): State<AdminState>,
    Query(query): Query<LimitParam>,
) -> AdminResult {
    let entries = state
        .operations
        .deliveries(query.limit.unwrap_or(100).min(10_000))
        .await?;
    Ok(Json(entries).into_response())
}
