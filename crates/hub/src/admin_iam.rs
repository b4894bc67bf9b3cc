//! The operator API's own routes: login and sessions, password, TOTP, API tokens, operators,
//! roles, the policy, maker/checker requests and the audit export. The routes are declared in
//! [`crate::admin::router`] (one table, checked against `iam::rbac::ADMIN_ROUTES`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fspiop::FspiopError;
use iam::rbac::{BuiltinRole, Permission, PermissionSet, SOD_RULES};
use iam::token::TokenKind;
use iam::totp::TotpSecret;
use ledger::ApiTokenRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::admin::{
    AdminError, AdminResult, AdminState, Body, Caller, Params, SESSION_COOKIE, Segments, bad, date,
    submit,
};
use crate::iam::{
    Denied, FIRST_ADMINISTRATOR, IamPolicy, LoginRequest, MAX_API_TOKEN_SECS, NOT_FOR_TOKENS,
    Principal, RECOVERY_CODES, Via, audit_in, hash_password, resolve_roles, secs_to_ms, unix_secs,
};
use crate::requests::Operation;

fn session_cookie(token: &str, max_age_secs: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age_secs}"
    ))
    .ok()
}

fn with_session(body: Value, token: &str, max_age_secs: u64) -> Response {
    let mut response = Json(body).into_response();
    if let Some(cookie) = session_cookie(token, max_age_secs) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn permissions_json(set: PermissionSet) -> Vec<&'static str> {
    set.iter().map(Permission::as_str).collect()
}

fn me_json(state: &AdminState, principal: &Principal) -> Value {
    let now = state.iam.now_ms();
    let policy = state.iam.policy();
    let window = policy.sessions.mfa_freshness_secs;
    let (credential, expires, mfa_until) = match &principal.via {
        Via::Session {
            expires_at_ms,
            mfa_at_ms,
            ..
        } => (
            "session",
            Some(date(*expires_at_ms)),
            mfa_at_ms.map(|at| date(at.saturating_add(secs_to_ms(window)))),
        ),
        Via::Token { .. } => ("apiToken", None, None),
    };
    json!({
        "name": principal.name,
        "roles": principal.roles.iter().map(|r| r.name().to_string()).collect::<Vec<_>>(),
        "permissions": permissions_json(principal.permissions),
        "credential": credential,
        "restricted": principal.restricted,
        "mustChangePassword": principal.restricted.is_some_and(|r| r.contains("password")),
        "mfaEnrolled": principal.mfa_enrolled,
        "sessionExpiresAt": expires,
        "mfaFresh": principal.fresh_mfa(now, window),
        "mfaFreshUntil": mfa_until,
        "profile": if state.iam.is_sandbox() { "sandbox" } else { "default" },
    })
}

/// `POST /auth/login`.
pub(crate) async fn login(State(state): State<AdminState>, body: axum::body::Bytes) -> AdminResult {
    let request: LoginRequest = serde_json::from_slice(&body).map_err(|e| {
        bad(format!(
            "login body: {e} (send username, password and totp)"
        ))
    })?;
    let outcome = state.iam.login(request).await?;
    let mut body = me_json(&state, &outcome.principal);
    if let Some(map) = body.as_object_mut() {
        map.insert("session".into(), json!(outcome.session));
        map.insert("operator".into(), json!(outcome.principal.name));
        map.insert(
            "expiresAt".into(),
            map.get("sessionExpiresAt").cloned().unwrap_or(Value::Null),
        );
    }
    let max_age = state.iam.policy().sessions.absolute_timeout_secs;
    Ok(with_session(body, &outcome.session, max_age))
}

/// `POST /auth/logout`.
pub(crate) async fn logout(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
) -> AdminResult {
    state.iam.logout(&who).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if let Some(cookie) = session_cookie("", 0) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// `GET /auth/me`.
pub(crate) async fn me(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
) -> AdminResult {
    Ok(Json(me_json(&state, &who)).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /auth/password`: checks the current password and the policy, stores the new hash,
/// ends every session of the operator and opens a new one.
pub(crate) async fn change_password(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<PasswordChange>,
) -> AdminResult {
    if !who.is_session() {
        return Err(Denied::forbidden("change a password from a login session").into());
    }
    let policy = state.iam.policy();
    let operator = state
        .iam
        .operator(&who.name)
        .await?
        .ok_or_else(|| Denied::unauthenticated("unknown operator"))?;
    let (current, phc) = (body.current_password.clone(), operator.password_phc.clone());
    let matches = tokio::task::spawn_blocking(move || iam::password::verify(&current, &phc))
        .await
        .unwrap_or(false);
    if !matches {
        state
            .iam
            .record_failure(&who.name, "password_change")
            .await?;
        return Err(Denied::unauthenticated("the current password is wrong").into());
    }
    let (name, history_len) = (who.name.clone(), policy.password.history);
    let history = state
        .iam
        .writer()
        .read(move |_, tx| {
            Box::pin(async move {
                tx.password_history(&name, u32::try_from(history_len).unwrap_or(u32::MAX))
                    .await
            })
        })
        .await
        .map_err(Denied::from)?;
    let (candidate, user, rules) = (
        body.new_password.clone(),
        who.name.clone(),
        policy.password.clone(),
    );
    let checked = tokio::task::spawn_blocking(move || rules.check(&candidate, &user, &history))
        .await
        .map_err(|e| AdminError::from(FspiopError::internal(e.to_string())))?;
    if let Err(violations) = checked {
        let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
        return Err(bad(format!(
            "the new password does not satisfy the policy: {}",
            list.join("; ")
        )));
    }
    let phc = hash_password(body.new_password).await?;
    let now = state.iam.now_ms();
    let mut updated = operator;
    updated.password_phc = phc.clone();
    updated.password_changed_at_ms = now;
    updated.must_change_password = false;
    state
        .iam
        .writer()
        .run(move |_, tx| {
            Box::pin(async move {
                tx.update_operator(&updated).await?;
                tx.push_password_history(&updated.name, &phc, now).await?;
                let ended = tx.delete_operator_sessions(&updated.name).await?;
                audit_in(
                    tx,
                    now,
                    &updated.name,
                    "auth.password_changed",
                    &updated.name,
                    json!({"sessionsEnded": ended}),
                    "ok",
                )
                .await
            })
        })
        .await
        .map_err(Denied::from)?;
    if who.name == FIRST_ADMINISTRATOR {
        let _ = std::fs::remove_file(state.iam.initial_password_path());
    }
    let _ = std::fs::remove_file(crate::iam::reset_password_file(
        state.iam.data_dir(),
        &who.name,
    ));
    let session = state.iam.renew_session(&who, None, true).await?;
    let max_age = policy.sessions.absolute_timeout_secs;
    Ok(with_session(json!({"session": session}), &session, max_age))
}

/// `POST /auth/mfa/enrol`: a new TOTP secret to scan; nothing is stored until confirmed.
pub(crate) async fn mfa_enrol(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
) -> AdminResult {
    if !who.is_session() {
        return Err(Denied::forbidden("enrol TOTP from a login session").into());
    }
    require_fresh_if_enrolled(&state, &who).await?;
    let secret = TotpSecret::generate().map_err(|e| FspiopError::internal(e.to_string()))?;
    let uri = secret
        .otpauth_uri(&who.name)
        .map_err(|e| FspiopError::internal(e.to_string()))?;
    let svg = secret
        .qr_svg(&who.name)
        .map_err(|e| FspiopError::internal(e.to_string()))?;
    let mut response = Json(json!({
        "secret": secret.to_base32(),
        "otpauthUri": uri,
        "qrSvg": svg,
    }))
    .into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

async fn require_fresh_if_enrolled(state: &AdminState, who: &Principal) -> Result<(), Denied> {
    let operator = state
        .iam
        .operator(&who.name)
        .await?
        .ok_or_else(|| Denied::unauthenticated("unknown operator"))?;
    let window = state.iam.policy().sessions.mfa_freshness_secs;
    if operator.totp_secret_b32.is_some() && !who.fresh_mfa(state.iam.now_ms(), window) {
        return Err(Denied::fresh_mfa_required(window));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MfaConfirm {
    secret: String,
    code: String,
}

/// `POST /auth/mfa/confirm`: the first code proves the secret was scanned; stores it, issues
/// recovery codes (shown once) and renews the session with MFA done.
pub(crate) async fn mfa_confirm(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<MfaConfirm>,
) -> AdminResult {
    if !who.is_session() {
        return Err(Denied::forbidden("enrol TOTP from a login session").into());
    }
    require_fresh_if_enrolled(&state, &who).await?;
    let secret = TotpSecret::from_base32(&body.secret).map_err(|e| {
        bad(format!(
            "secret: {e} (use the one POST /auth/mfa/enrol gave)"
        ))
    })?;
    let now = state.iam.now_ms();
    let step = iam::totp::verify(&secret, &body.code, unix_secs(now), None)
        .map_err(|e| bad(format!("code: {e}")))?;
    let (plain, hashes) =
        tokio::task::spawn_blocking(|| iam::totp::generate_recovery_codes(RECOVERY_CODES))
            .await
            .map_err(|e| FspiopError::internal(e.to_string()))?
            .map_err(|e| FspiopError::internal(e.to_string()))?;
    let mut operator = state
        .iam
        .operator(&who.name)
        .await?
        .ok_or_else(|| Denied::unauthenticated("unknown operator"))?;
    let replaced = operator.totp_secret_b32.is_some();
    operator.totp_secret_b32 = Some(state.iam.seal_totp(&secret, &operator.name)?);
    operator.totp_last_step = Some(step);
    operator.recovery_code_hashes = hashes;
    state
        .iam
        .writer()
        .run(move |_, tx| {
            Box::pin(async move {
                tx.update_operator(&operator).await?;
                audit_in(
                    tx,
                    now,
                    &operator.name,
                    "auth.mfa_enrolled",
                    &operator.name,
                    json!({"replaced": replaced, "recoveryCodes": RECOVERY_CODES}),
                    "ok",
                )
                .await
            })
        })
        .await
        .map_err(Denied::from)?;
    let session = state.iam.renew_session(&who, Some(now), false).await?;
    let max_age = state.iam.policy().sessions.absolute_timeout_secs;
    Ok(with_session(
        json!({"recoveryCodes": plain, "session": session}),
        &session,
        max_age,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct MfaCode {
    code: Option<String>,
    recovery_code: Option<String>,
}

/// `POST /auth/mfa`: a fresh TOTP code (or a recovery code) for the sensitive actions of the
/// next minutes.
pub(crate) async fn mfa_step_up(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<MfaCode>,
) -> AdminResult {
    let Via::Session { id_hash, .. } = &who.via else {
        return Err(Denied::forbidden("an API token has no MFA; log in").into());
    };
    state
        .iam
        .check_second_factor(
            &who.name,
            body.code.as_deref(),
            body.recovery_code.as_deref(),
        )
        .await?;
    let (hash, now) = (id_hash.clone(), state.iam.now_ms());
    state
        .iam
        .writer()
        .run(move |_, tx| {
            Box::pin(async move {
                if let Some(mut session) = tx.session(&hash).await? {
                    session.mfa_at_ms = Some(now);
                    session.last_seen_ms = now;
                    tx.update_session(&session).await?;
                }
                Ok(())
            })
        })
        .await
        .map_err(Denied::from)?;
    let window = state.iam.policy().sessions.mfa_freshness_secs;
    let until = now.saturating_add(secs_to_ms(window));
    Ok(Json(json!({"mfaFreshUntil": date(until)})).into_response())
}

fn token_json(token: &ApiTokenRecord) -> Value {
    json!({
        "id": token.id_hash,
        "label": token.label,
        "scopes": token.scopes,
        "createdAt": date(token.created_at_ms),
        "expiresAt": date(token.expires_at_ms),
        "revokedAt": token.revoked_at_ms.map(date),
    })
}

/// `GET /auth/tokens`.
pub(crate) async fn list_tokens(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
) -> AdminResult {
    let name = who.name.clone();
    let tokens = state
        .iam
        .writer()
        .read(move |_, tx| Box::pin(async move { tx.api_tokens(&name).await }))
        .await
        .map_err(Denied::from)?;
    Ok(Json(tokens.iter().map(token_json).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct TokenRequest {
    label: String,
    scopes: Vec<String>,
    expires_in_secs: u64,
}

/// `POST /auth/tokens`: an API token scoped to some of the caller's permissions.
pub(crate) async fn create_token(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<TokenRequest>,
) -> AdminResult {
    if !who.is_session() {
        return Err(Denied::forbidden("API tokens are created from a login session").into());
    }
    let window = state.iam.policy().sessions.mfa_freshness_secs;
    if !who.fresh_mfa(state.iam.now_ms(), window) {
        return Err(Denied::fresh_mfa_required(window).into());
    }
    let label = body.label.trim().to_string();
    if label.is_empty() || label.chars().count() > 64 {
        return Err(bad("label must be 1 to 64 characters"));
    }
    if body.scopes.is_empty() {
        return Err(bad("scopes must name at least one permission"));
    }
    let mut scopes = PermissionSet::EMPTY;
    for name in &body.scopes {
        let permission = name
            .parse::<Permission>()
            .map_err(|e| bad(format!("scopes: unknown permission {e}")))?;
        if NOT_FOR_TOKENS.contains(permission) {
            return Err(bad(format!(
                "{permission} cannot be given to an API token: only a person does that"
            )));
        }
        if !who.permissions.contains(permission) {
            return Err(AdminError::from(Denied::forbidden(format!(
                "you do not hold {permission}, so a token of yours cannot"
            ))));
        }
        scopes = scopes.with(permission);
    }
    if body.expires_in_secs < 60 || body.expires_in_secs > MAX_API_TOKEN_SECS {
        return Err(bad(format!(
            "expiresInSecs must be between 60 and {MAX_API_TOKEN_SECS}"
        )));
    }
    let issued =
        iam::token::issue(TokenKind::Api).map_err(|e| FspiopError::internal(e.to_string()))?;
    let now = state.iam.now_ms();
    let record = ApiTokenRecord {
        id_hash: issued.hash.clone(),
        operator: who.name.clone(),
        label,
        scopes: permissions_json(scopes)
            .into_iter()
            .map(String::from)
            .collect(),
        created_at_ms: now,
        expires_at_ms: now.saturating_add(secs_to_ms(body.expires_in_secs)),
        revoked_at_ms: None,
    };
    let stored = record.clone();
    state
        .iam
        .writer()
        .run(move |_, tx| {
            Box::pin(async move {
                tx.insert_api_token(&stored).await?;
                audit_in(
                    tx,
                    now,
                    &stored.operator,
                    "auth.token_created",
                    &stored.id_hash,
                    json!({"label": stored.label, "scopes": stored.scopes,
                           "expiresAtMs": stored.expires_at_ms}),
                    "ok",
                )
                .await
            })
        })
        .await
        .map_err(Denied::from)?;
    let mut body = token_json(&record);
    if let Some(map) = body.as_object_mut() {
        map.insert("token".into(), json!(issued.plain));
    }
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `DELETE /auth/tokens/{id}`: revokes one of the caller's tokens.
pub(crate) async fn revoke_token(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(id): Segments<String>,
) -> AdminResult {
    let (name, now) = (who.name.clone(), state.iam.now_ms());
    let revoked = state
        .iam
        .writer()
        .run(move |_, tx| {
            Box::pin(async move {
                let Some(token) = tx.api_token(&id).await? else {
                    return Ok(false);
                };
                if !token.operator.eq_ignore_ascii_case(&name) {
                    return Ok(false);
                }
                let revoked = tx.revoke_api_token(&id, now).await?;
                if revoked {
                    audit_in(tx, now, &name, "auth.token_revoked", &id, json!({}), "ok").await?;
                }
                Ok(revoked)
            })
        })
        .await
        .map_err(Denied::from)?;
    if revoked {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(AdminError::from(FspiopError::new(
            fspiop::ErrorCode::ID_NOT_FOUND,
            "no such active token of yours",
        )))
    }
}

/// `GET /operators`.
pub(crate) async fn list_operators(State(state): State<AdminState>) -> AdminResult {
    let policy = state.iam.policy();
    let now = state.iam.now_ms();
    let operators = state
        .iam
        .writer()
        .read(move |_, tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for operator in tx.operators().await? {
                    let roles = tx.operator_roles(&operator.name).await?;
                    out.push((operator, roles));
                }
                Ok(out)
            })
        })
        .await
        .map_err(Denied::from)?;
    let list: Vec<Value> = operators
        .iter()
        .map(|(operator, roles)| {
            let lockout = iam::password::Lockout {
                failed_attempts: operator.failed_attempts,
                last_failure_at: operator.last_failure_at_ms.map(unix_secs),
            };
            let locked = lockout
                .locked_until(&policy.password, unix_secs(now))
                .map(|s| date(secs_to_ms(s)));
            json!({
                "name": operator.name,
                "roles": roles,
                "disabled": operator.disabled,
                "mfaEnrolled": operator.totp_secret_b32.is_some(),
                "mustChangePassword": operator.must_change_password,
                "failedLogins": operator.failed_attempts,
                "lockedUntil": locked,
                "recoveryCodesLeft": operator.recovery_code_hashes.len(),
                "passwordChanged": date(operator.password_changed_at_ms),
                "created": date(operator.created_at_ms),
            })
        })
        .collect();
    Ok(Json(list).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperatorCreate {
    name: String,
    roles: Vec<String>,
}

/// `POST /operators` (maker/checker).
pub(crate) async fn create_operator(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<OperatorCreate>,
) -> AdminResult {
    let operation = Operation::CreateOperator {
        name: body.name,
        roles: body.roles,
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OperatorUpdate {
    disabled: bool,
}

/// `PUT /operators/{name}` (maker/checker).
pub(crate) async fn update_operator(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<OperatorUpdate>,
) -> AdminResult {
    let operation = Operation::SetOperatorDisabled {
        name,
        disabled: body.disabled,
    };
    submit(&state, &who, operation).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleAssignment {
    roles: Vec<String>,
}

/// `PUT /operators/{name}/roles` (maker/checker).
pub(crate) async fn set_operator_roles(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
    Body(body): Body<RoleAssignment>,
) -> AdminResult {
    let operation = Operation::SetOperatorRoles {
        name,
        roles: body.roles,
    };
    submit(&state, &who, operation).await
}

/// `POST /operators/{name}/reset` (maker/checker).
pub(crate) async fn reset_operator(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
) -> AdminResult {
    submit(&state, &who, Operation::ResetOperator { name }).await
}

/// `GET /roles`: built-in and custom roles, and the separation-of-duties rules.
pub(crate) async fn list_roles(State(state): State<AdminState>) -> AdminResult {
    let custom = state
        .iam
        .writer()
        .read(|_, tx| {
            Box::pin(async move {
                let names: Vec<String> = tx
                    .custom_roles()
                    .await?
                    .into_iter()
                    .map(|r| r.name)
                    .collect();
                resolve_roles(tx, &names).await
            })
        })
        .await
        .map_err(Denied::from)?;
    let mut roles: Vec<Value> = BuiltinRole::ALL
        .iter()
        .map(|r| json!({"name": r.as_str(), "builtin": true, "permissions": permissions_json(r.permissions())}))
        .collect();
    roles.extend(custom.iter().map(
        |r| json!({"name": r.name(), "builtin": false, "permissions": permissions_json(r.permissions())}),
    ));
    let rules: Vec<Value> = SOD_RULES
        .iter()
        .map(
            |r| json!({"first": r.first.as_str(), "second": r.second.as_str(), "reason": r.reason}),
        )
        .collect();
    Ok(Json(json!({"roles": roles, "sodRules": rules})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleDefinition {
    name: String,
    permissions: Vec<String>,
}

/// `POST /roles` (maker/checker).
pub(crate) async fn define_role(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Body(body): Body<RoleDefinition>,
) -> AdminResult {
    let operation = Operation::DefineRole {
        name: body.name,
        permissions: body.permissions,
    };
    submit(&state, &who, operation).await
}

/// `DELETE /roles/{name}` (maker/checker).
pub(crate) async fn delete_role(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(name): Segments<String>,
) -> AdminResult {
    submit(&state, &who, Operation::DeleteRole { name }).await
}

/// `GET /policy`.
pub(crate) async fn get_policy(State(state): State<AdminState>) -> AdminResult {
    let policy = state.iam.policy();
    let mut body = serde_json::to_value(&*policy)
        .map_err(|e| AdminError::from(FspiopError::internal(e.to_string())))?;
    let relaxed: Vec<&str> = iam::approval::SENSITIVE
        .iter()
        .filter(|p| policy.approvals.get(p).copied().unwrap_or(0) == 0)
        .map(|p| p.as_str())
        .collect();
    if let Some(map) = body.as_object_mut() {
        map.insert(
            "profile".into(),
            json!(if state.iam.is_sandbox() {
                "sandbox"
            } else {
                "default"
            }),
        );
        map.insert("withoutChecker".into(), json!(relaxed));
    }
    Ok(Json(body).into_response())
}

/// `PUT /policy` (maker/checker).
pub(crate) async fn set_policy(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    body: axum::body::Bytes,
) -> AdminResult {
    let policy: IamPolicy =
        serde_json::from_slice(&body).map_err(|e| bad(format!("policy: {e}")))?;
    submit(&state, &who, Operation::SetPolicy { policy }).await
}

#[derive(Deserialize)]
pub(crate) struct RequestQuery {
    state: Option<String>,
    limit: Option<u32>,
}

/// `GET /requests`.
pub(crate) async fn list_requests(
    State(state): State<AdminState>,
    Params(query): Params<RequestQuery>,
) -> AdminResult {
    let list = state
        .requests
        .list(query.state, query.limit.unwrap_or(100).min(1000))
        .await?;
    Ok(Json(list).into_response())
}

/// `GET /requests/{id}`.
pub(crate) async fn get_request(
    State(state): State<AdminState>,
    Segments(id): Segments<String>,
) -> AdminResult {
    Ok(Json(state.requests.get(&id).await?).into_response())
}

/// `POST /requests/{id}/approve`.
pub(crate) async fn approve_request(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(id): Segments<String>,
) -> AdminResult {
    Ok(Json(state.requests.approve(&who, &id).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reject {
    reason: String,
}

/// `POST /requests/{id}/reject`: a checker rejects, or the maker withdraws.
pub(crate) async fn reject_request(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Segments(id): Segments<String>,
    Body(body): Body<Reject>,
) -> AdminResult {
    Ok(Json(state.requests.reject(&who, &id, &body.reason).await?).into_response())
}

#[derive(Deserialize)]
pub(crate) struct ExportQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /audit/export`: entries after `after` in chain order, one JSON object per line.
pub(crate) async fn audit_export(
    State(state): State<AdminState>,
    axum::Extension(who): Caller,
    Params(query): Params<ExportQuery>,
) -> AdminResult {
    let after = query.after.unwrap_or(0).max(0);
    let limit = query.limit.unwrap_or(10_000).clamp(1, 100_000);
    let entries = state
        .iam
        .writer()
        .read(move |_, tx| Box::pin(async move { tx.audit_range(after, limit).await }))
        .await
        .map_err(Denied::from)?;
    let mut body = String::new();
    for entry in &entries {
        let line = serde_json::to_string(entry)
            .map_err(|e| AdminError::from(FspiopError::internal(e.to_string())))?;
        body.push_str(&line);
        body.push('\n');
    }
    state.operations.record(
        &who.name,
        "audit.export",
        "",
        &json!({"after": after, "entries": entries.len()}).to_string(),
        "ok",
    );
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], body).into_response())
}
