//! Maker/checker: every sensitive operator operation as a value, executed at once or kept as a
//! request until enough other operators approve it.
//!
//! An [`Operation`] is what an admin route asks for, validated and serialisable (it is the
//! stored payload of a pending request). [`Requests::submit`] executes it when the policy needs
//! no approval (the `sandbox` profile), refuses it (409) while fewer than two operators can
//! approve, or stores a pending request and answers `202`. [`Requests::approve`] records a
//! checker's vote and, at the last required one, executes the operation in the same store
//! transaction as the request's new state and the audit entries: exactly once, whoever
//! approves at the same moment. Side effects outside the store (caches, open connections) run
//! after the commit.

use std::path::PathBuf;
use std::sync::Arc;

use fspiop::{Amount, ErrorCode, FspiopError};
use iam::approval::{PendingRequest, RequestState};
use iam::rbac::{BuiltinRole, CustomRole, Permission, PermissionSet, Role};
use ledger::engine::{FundsAction, Ledger};
use ledger::{AccountType, ApprovalRecord, Endpoint, LedgerTx, StoreError};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::admin::{
    account_json, jws_key_json, limit_json, participant_json, participant_tls_json,
};
use crate::iam::{
    Denied, Iam, IamPolicy, MIN_APPROVERS, POLICY_SETTING, Principal, audit_in, hash_password,
    new_operator, no_checker_error, one_time_password, resolve_roles, secs_to_ms, unix_secs,
};
use crate::operations::Operations;
use crate::signatures::{RegisteredKey, check_upload};

/// One callback endpoint: its FSPIOP type and URL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointValue {
    /// `FSPIOP_CALLBACK_URL_…`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL (template).
    pub value: String,
}

/// Most endpoints one request may set (a DFSP has about twenty).
pub const MAX_ENDPOINTS_PER_REQUEST: usize = 64;

/// A sensitive operator operation, as requested (the payload of a maker/checker request).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "operation",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum Operation {
    /// Create a participant or add a currency to it.
    CreateParticipant { name: String, currency: String },
    /// Activate or deactivate a participant.
    SetParticipantActive { name: String, active: bool },
    /// Add or replace a callback endpoint.
    SetEndpoint {
        participant: String,
        kind: String,
        value: String,
    },
    /// Add or replace several callback endpoints at once (one approval for a DFSP's set).
    SetEndpoints {
        participant: String,
        endpoints: Vec<EndpointValue>,
    },
    /// First net debit cap and initial position.
    InitialPositionAndLimits {
        name: String,
        currency: String,
        cap: String,
        initial_position: String,
    },
    /// Change a net debit cap.
    SetLimit {
        name: String,
        currency: String,
        cap: String,
        alarm_percentage: String,
    },
    /// Create a hub account.
    CreateHubAccount { currency: String, kind: String },
    /// Activate or deactivate an account.
    SetAccountActive {
        name: String,
        account: i64,
        active: bool,
    },
    /// Funds in, or the reservation of funds out.
    Funds {
        name: String,
        account: i64,
        transfer_id: String,
        action: String,
        amount: String,
        currency: String,
        reason: String,
        external_reference: String,
    },
    /// Commit or abort a reserved funds-out.
    SettleFundsOut {
        name: String,
        account: i64,
        transfer_id: String,
        commit: bool,
    },
    /// Register a JWS verification key.
    AddJwsKey {
        participant: String,
        public_key_pem: String,
        not_before_ms: Option<i64>,
        not_after_ms: Option<i64>,
    },
    /// Retire a JWS key.
    RetireJwsKey {
        participant: String,
        fingerprint: String,
    },
    /// Key pin and callback CA.
    SetParticipantTls {
        participant: String,
        spki_pin: Option<String>,
        callback_ca_pem: Option<String>,
    },
    /// A new operator with a one-time password.
    CreateOperator { name: String, roles: Vec<String> },
    /// Disable or re-enable an operator.
    SetOperatorDisabled { name: String, disabled: bool },
    /// Replace an operator's roles.
    SetOperatorRoles { name: String, roles: Vec<String> },
    /// New one-time password; TOTP, recovery codes, sessions and tokens cleared.
    ResetOperator { name: String },
    /// Define or redefine a custom role.
    DefineRole {
        name: String,
        permissions: Vec<String>,
    },
    /// Delete a custom role and its assignments.
    DeleteRole { name: String },
    /// Replace the IAM policy.
    SetPolicy { policy: IamPolicy },
    /// Issue a participant's client certificate from its CSR (the hub's own CA).
    IssueCertificate {
        participant: String,
        csr_pem: String,
        days: u32,
    },
    /// Revoke one of a participant's client certificates (the hub's own CA).
    RevokeCertificate {
        participant: String,
        serial: String,
        reason: pki::RevocationReason,
    },
}

impl Operation {
    /// The permission the operation needs (and whose approval count applies).
    pub fn permission(&self) -> Permission {
        use Operation as O;
        use Permission as P;
        match self {
            O::CreateParticipant { .. } => P::ParticipantsCreate,
            O::SetParticipantActive { .. } => P::ParticipantsUpdate,
            O::SetEndpoint { .. } | O::SetEndpoints { .. } => P::EndpointsSet,
            O::InitialPositionAndLimits { .. } => P::InitialPositionSet,
            O::SetLimit { .. } => P::LimitsSet,
            O::CreateHubAccount { .. } => P::AccountsCreate,
            O::SetAccountActive { .. } => P::AccountsUpdate,
            O::Funds { action, .. } if action == "recordFundsIn" => P::FundsIn,
            O::Funds { .. } => P::FundsOut,
            O::SettleFundsOut { .. } => P::FundsSettle,
            O::AddJwsKey { .. } => P::JwsKeysAdd,
            O::RetireJwsKey { .. } => P::JwsKeysRetire,
            O::SetParticipantTls { .. } => P::ParticipantTlsSet,
            O::CreateOperator { .. }
            | O::SetOperatorDisabled { .. }
            | O::SetOperatorRoles { .. }
            | O::ResetOperator { .. } => P::UsersManage,
            O::DefineRole { .. } | O::DeleteRole { .. } => P::RolesManage,
            O::SetPolicy { .. } => P::PolicyManage,
            O::IssueCertificate { .. } | O::RevokeCertificate { .. } => P::ParticipantTlsSet,
        }
    }

    /// The operation's name in requests and audit entries.
    pub fn name(&self) -> &'static str {
        use Operation as O;
        match self {
            O::CreateParticipant { .. } => "participants.create",
            O::SetParticipantActive { .. } => "participants.set_active",
            O::SetEndpoint { .. } => "endpoints.set",
            O::SetEndpoints { .. } => "endpoints.set_many",
            O::InitialPositionAndLimits { .. } => "initial_position_and_limits",
            O::SetLimit { .. } => "limits.set",
            O::CreateHubAccount { .. } => "accounts.create",
            O::SetAccountActive { .. } => "accounts.set_active",
            O::Funds { .. } => "funds",
            O::SettleFundsOut { .. } => "funds.settle",
            O::AddJwsKey { .. } => "jws_keys.add",
            O::RetireJwsKey { .. } => "jws_keys.retire",
            O::SetParticipantTls { .. } => "participant_tls.set",
            O::CreateOperator { .. } => "operators.create",
            O::SetOperatorDisabled { .. } => "operators.set_disabled",
            O::SetOperatorRoles { .. } => "operators.set_roles",
            O::ResetOperator { .. } => "operators.reset",
            O::DefineRole { .. } => "roles.define",
            O::DeleteRole { .. } => "roles.delete",
            O::SetPolicy { .. } => "policy.set",
            O::IssueCertificate { .. } => "certificates.issue",
            O::RevokeCertificate { .. } => "certificates.revoke",
        }
    }

    /// The operator the operation acts on, for user management.
    fn target_operator(&self) -> Option<&str> {
        match self {
            Operation::SetOperatorDisabled { name, .. }
            | Operation::SetOperatorRoles { name, .. }
            | Operation::ResetOperator { name } => Some(name),
            _ => None,
        }
    }

    /// Checks what can be checked without the store, so a maker hears at once what is wrong.
    pub fn validate(&self, operations: &Operations) -> Result<(), FspiopError> {
        use Operation as O;
        match self {
            O::SetEndpoint { kind, value, .. } => check_endpoint(operations, kind, value)?,
            O::SetEndpoints { endpoints, .. } => {
                if endpoints.is_empty() || endpoints.len() > MAX_ENDPOINTS_PER_REQUEST {
                    return Err(FspiopError::validation(format!(
                        "give 1 to {MAX_ENDPOINTS_PER_REQUEST} endpoints"
                    )));
                }
                let mut seen = std::collections::BTreeSet::new();
                for endpoint in endpoints {
                    check_endpoint(operations, &endpoint.kind, &endpoint.value)?;
                    if !seen.insert(endpoint.kind.as_str()) {
                        return Err(FspiopError::validation(format!(
                            "{} is given twice",
                            endpoint.kind
                        )));
                    }
                }
            }
            O::InitialPositionAndLimits {
                cap,
                initial_position,
                ..
            } => {
                amount(cap, "limit.value")?;
                decimal(initial_position, "initialPosition")?;
            }
            O::SetLimit {
                cap,
                alarm_percentage,
                ..
            } => {
                amount(cap, "limit.value")?;
                decimal(alarm_percentage, "limit.alarmPercentage")?;
            }
            O::CreateHubAccount { kind, .. } => {
                AccountType::parse(kind).ok_or_else(|| {
                    FspiopError::validation(format!("unknown account type {kind}"))
                })?;
            }
            O::Funds { amount: a, .. } => {
                amount(a, "amount.amount")?;
            }
            O::AddJwsKey { public_key_pem, .. } => {
                check_upload(public_key_pem, operations.jws_policy())?;
            }
            O::SetParticipantTls {
                callback_ca_pem: Some(pem),
                ..
            } => {
                crate::outbound::check_ca_bundle(pem).map_err(FspiopError::validation)?;
            }
            O::CreateOperator { name, roles } => {
                check_operator_name(name)?;
                check_role_names(roles)?;
            }
            O::SetOperatorRoles { roles, .. } => check_role_names(roles)?,
            O::DefineRole { name, permissions } => {
                CustomRole::new(name, permission_set(permissions)?)
                    .map_err(|e| FspiopError::validation(e.to_string()))?;
            }
            O::SetPolicy { policy } => policy.validate().map_err(FspiopError::validation)?,
            O::IssueCertificate { csr_pem, days, .. } => {
                if !(1..=MAX_CERTIFICATE_DAYS).contains(days) {
                    return Err(FspiopError::validation(format!(
                        "days must be between 1 and {MAX_CERTIFICATE_DAYS}"
                    )));
                }
                if csr_pem.len() > 16 * 1024 || !csr_pem.contains("CERTIFICATE REQUEST-----") {
                    return Err(FspiopError::validation(
                        "csr must be a PEM certificate signing request (PKCS #10)",
                    ));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// What the ledger would refuse in an endpoint, checked before anything is written (so a set of
/// endpoints is stored whole or not at all), and `https://` in secure mode.
fn check_endpoint(operations: &Operations, kind: &str, value: &str) -> Result<(), FspiopError> {
    if fspiop::endpoint::EndpointType::parse(kind).is_none() {
        return Err(FspiopError::validation(format!(
            "unknown endpoint type {kind}"
        )));
    }
    if operations.callbacks_secure() && !value.starts_with("https://") {
        return Err(FspiopError::validation(format!(
            "{kind} must be an https:// URL: callbacks use mutual TLS"
        )));
    }
    if !(value.starts_with("http://") || value.starts_with("https://")) {
        return Err(FspiopError::validation(format!(
            "{kind}: an endpoint value must be an http:// or https:// URL"
        )));
    }
    Ok(())
}

fn amount(text: &str, field: &str) -> Result<Amount, FspiopError> {
    Amount::parse_lenient(text).map_err(|e| FspiopError::validation(format!("{field}: {e}")))
}

fn decimal(text: &str, field: &str) -> Result<Decimal, FspiopError> {
    text.parse::<Decimal>()
        .map_err(|e| FspiopError::validation(format!("{field}: {e}")))
}

pub(crate) fn check_operator_name(name: &str) -> Result<(), FspiopError> {
    let valid = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(FspiopError::validation(
            "an operator name is 1 to 64 characters of letters, digits, '-', '_', '.', '@'",
        ))
    }
}

pub(crate) fn check_role_names(roles: &[String]) -> Result<(), FspiopError> {
    if roles.is_empty() {
        return Err(FspiopError::validation(
            "give the operator at least one role",
        ));
    }
    if roles.len() > 16 {
        return Err(FspiopError::validation("at most 16 roles"));
    }
    Ok(())
}

fn permission_set(names: &[String]) -> Result<PermissionSet, FspiopError> {
    names
        .iter()
        .map(|n| {
            n.parse::<Permission>()
                .map_err(|e| FspiopError::validation(format!("unknown permission: {e}")))
        })
        .collect()
}

/// What executing an operation answers: the status and body the route would have given, and
/// the body to store in the request (without one-time secrets).
#[derive(Debug, Clone)]
pub struct Executed {
    /// HTTP status.
    pub status: u16,
    /// Body (`Value::Null` for none).
    pub body: Value,
    /// What is kept in the request's `result` (secrets removed).
    pub stored: Value,
    effect: Effect,
}

impl Executed {
    fn new(status: u16, body: Value, effect: Effect) -> Executed {
        Executed {
            status,
            stored: body.clone(),
            body,
            effect,
        }
    }

    fn failed(error: &FspiopError) -> Executed {
        let status = if error.code == ErrorCode::ID_NOT_FOUND {
            404
        } else {
            error.code.http_status()
        };
        Executed::new(
            status,
            serde_json::to_value(error.to_body()).unwrap_or(Value::Null),
            Effect::None,
        )
    }
}

/// What must change outside the store once the transaction committed.
#[derive(Debug, Clone)]
enum Effect {
    None,
    Participant {
        name: String,
        deactivated: bool,
    },
    JwsKeys(String),
    Tls(ledger::ParticipantTls),
    Policy(Box<IamPolicy>),
    /// The CRL changed: reload the listener's TLS material (closes revoked connections).
    Crl,
}

/// Values computed before the transaction (slow or I/O-free work kept out of the writer).
struct Prepared {
    password: Option<(String, String)>,
    jws_key: Option<jws::VerifyingKey>,
    ca: Option<Arc<CaDir>>,
}

/// Longest validity of a participant certificate issued through the API.
pub const MAX_CERTIFICATE_DAYS: u32 = 825;

/// The hub's own certificate authority (`tls.mode = bootstrap`), for the certificate
/// operations: one at a time, on the files `pki::dir` keeps.
pub struct CaDir {
    path: PathBuf,
    lock: std::sync::Mutex<()>,
}

impl CaDir {
    /// The CA directory at `path` (opened anew for each operation).
    pub fn new(path: impl Into<PathBuf>) -> CaDir {
        CaDir {
            path: path.into(),
            lock: std::sync::Mutex::new(()),
        }
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut pki::dir::PkiDir) -> pki::Result<T>,
    ) -> Result<T, FspiopError> {
        let _one_at_a_time = self
            .lock
            .lock()
            .map_err(|_| FspiopError::internal("the CA lock is poisoned"))?;
        let mut dir = pki::dir::PkiDir::open(&self.path)
            .map_err(|e| FspiopError::internal(format!("the hub's CA: {e}")))?;
        f(&mut dir).map_err(|e| match e {
            pki::Error::UnknownSerial(serial) => FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!("no certificate with serial {serial}"),
            ),
            other => FspiopError::validation(other.to_string()),
        })
    }

    /// A participant's certificates, oldest first.
    pub fn certificates(
        &self,
        participant: &str,
    ) -> Result<Vec<pki::dir::InventoryEntry>, FspiopError> {
        self.with(|dir| {
            Ok(dir
                .list()
                .into_iter()
                .filter(|e| {
                    e.purpose == pki::dir::Purpose::Participant
                        && e.participant
                            .as_deref()
                            .is_some_and(|p| p.eq_ignore_ascii_case(participant))
                })
                .collect())
        })
    }
}

/// A participant certificate as the admin API shows it.
pub fn certificate_json(entry: &pki::dir::InventoryEntry) -> Value {
    let rfc3339 = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let status = if entry.is_revoked() {
        "revoked"
    } else if entry.is_expired_at(time::OffsetDateTime::now_utc()) {
        "expired"
    } else {
        "active"
    };
    json!({
        "serial": entry.serial_hex,
        "participant": entry.participant,
        "fingerprint": entry.fingerprint_sha256_hex,
        "fromCsr": entry.from_csr,
        "issuedAt": rfc3339(entry.issued_at),
        "notAfter": rfc3339(entry.not_after),
        "revokedAt": entry.revoked_at.map(rfc3339),
        "revocationReason": entry.revocation_reason,
        "status": status,
    })
}

/// The maker/checker service.
#[derive(Clone)]
pub struct Requests {
    operations: Operations,
    iam: Iam,
    ca: Option<Arc<CaDir>>,
    tls: Option<Arc<crate::tls::TlsControl>>,
}

/// What [`Requests::submit`] did.
pub enum Submitted {
    /// Executed at once.
    Executed(Executed),
    /// Stored as a pending request.
    Pending(Value),
}

fn store_error(error: impl std::fmt::Display) -> FspiopError {
    FspiopError::new(
        ErrorCode::SERVICE_UNAVAILABLE,
        format!("the ledger could not record the action: {error}"),
    )
}

fn denied(error: FspiopError, status: u16) -> Denied {
    Denied {
        status,
        error,
        retry_after: None,
    }
}

impl Requests {
    /// The service over the operations layer and the IAM.
    pub fn new(operations: Operations, iam: Iam) -> Requests {
        Requests {
            operations,
            iam,
            ca: None,
            tls: None,
        }
    }

    /// With the hub's own CA (certificate operations) and the listener to reload after a
    /// revocation.
    pub fn with_certificates(
        mut self,
        ca: Option<Arc<CaDir>>,
        tls: Arc<crate::tls::TlsControl>,
    ) -> Requests {
        self.ca = ca;
        self.tls = Some(tls);
        self
    }

    /// The hub's own CA, if it runs one.
    pub fn ca(&self) -> Option<&Arc<CaDir>> {
        self.ca.as_ref()
    }

    /// Performs `operation` for `principal`, or stores it for approval.
    pub async fn submit(
        &self,
        principal: &Principal,
        operation: Operation,
    ) -> Result<Submitted, Denied> {
        let permission = operation.permission();
        if !principal.permissions.contains(permission) {
            return Err(Denied::forbidden(format!(
                "your roles do not allow {permission}"
            )));
        }
        if operation
            .target_operator()
            .is_some_and(|t| t.eq_ignore_ascii_case(&principal.name))
        {
            return Err(Denied::forbidden(
                "you cannot change your own account's roles, state or credentials this way: ask \
                 another administrator",
            ));
        }
        operation
            .validate(&self.operations)
            .map_err(|e| denied(e, 400))?;
        let policy = self.iam.policy();
        let required = policy.approval_policy().required_approvals(permission);
        if required == 0 {
            let executed = self
                .execute(&principal.name, operation)
                .await
                .map_err(|e| denied(e, 503))?;
            return Ok(Submitted::Executed(executed));
        }
        // Four eyes need two people: with a single approver, whoever holds it could only be
        // checked by an account they made themselves. No operation executes without a
        // checker; the second approver comes from the host (`ferroloop operator create`).
        let approvers = self.iam.approvers().await?;
        if approvers < MIN_APPROVERS {
            let (now, who, name) = (self.iam.now_ms(), principal.name.clone(), operation.name());
            self.iam
                .writer()
                .run(move |_, tx| {
                    Box::pin(async move {
                        audit_in(
                            tx,
                            now,
                            &who,
                            "request.refused",
                            name,
                            json!({"operation": name, "permission": permission.as_str(),
                                   "reason": "fewer than two operators can approve",
                                   "approvers": approvers, "required": MIN_APPROVERS}),
                            "denied",
                        )
                        .await
                    })
                })
                .await?;
            tracing::warn!(
                operator = %principal.name,
                operation = name,
                approvers,
                "refused: four eyes need a second operator who can approve; create one from the \
                 host with `ferroloop operator create`"
            );
            return Err(denied(no_checker_error(approvers), 409));
        }
        // A person making a sensitive request proves presence with a fresh TOTP code.
        let window = policy.sessions.mfa_freshness_secs;
        if principal.is_session() && !principal.fresh_mfa(self.iam.now_ms(), window) {
            return Err(Denied::fresh_mfa_required(window));
        }
        let now = self.iam.now_ms();
        let id = uuid::Uuid::new_v4().to_string();
        let payload = serde_json::to_string(&operation)
            .map_err(|e| denied(FspiopError::internal(e.to_string()), 500))?;
        let request = PendingRequest::new(
            &id,
            permission,
            &payload,
            &principal.name,
            &principal.roles,
            &policy.approval_policy(),
            unix_secs(now),
            policy.sessions.request_ttl_secs,
        )
        .map_err(|e| Denied::forbidden(e.to_string()))?;
        let record = to_record(&request, None, None);
        let stored = record.clone();
        let name = operation.name();
        self.iam
            .writer()
            .run(move |_, tx| {
                Box::pin(async move {
                    tx.insert_approval(&stored).await?;
                    audit_in(
                        tx,
                        now,
                        &stored.maker,
                        "request.create",
                        &stored.id,
                        json!({"operation": name, "permission": stored.permission,
                               "requiredApprovals": stored.required_approvals,
                               "payload": serde_json::from_str::<Value>(&stored.payload_json)
                                   .unwrap_or(Value::Null)}),
                        "ok",
                    )
                    .await
                })
            })
            .await?;
        Ok(Submitted::Pending(json!({
            "requestId": record.id,
            "state": "pending",
            "operation": name,
            "permission": record.permission,
            "approvalsRequired": record.required_approvals,
            "expiresAt": crate::admin::date(record.expires_at_ms),
        })))
    }

    /// Executes an operation now (the policy asks no approval for it).
    async fn execute(&self, who: &str, operation: Operation) -> Result<Executed, FspiopError> {
        let prepared = match self.prepare(&operation).await {
            Ok(prepared) => prepared,
            Err(error) => return Ok(Executed::failed(&error)),
        };
        let who = who.to_string();
        let now = self.iam.now_ms();
        let executed = self
            .iam
            .writer()
            .run(move |ledger, tx| {
                Box::pin(async move { apply(ledger, tx, &who, now, &operation, prepared).await })
            })
            .await
            .map_err(store_error)?;
        self.after(&executed);
        Ok(executed)
    }

    async fn prepare(&self, operation: &Operation) -> Result<Prepared, FspiopError> {
        let mut prepared = Prepared {
            password: None,
            jws_key: None,
            ca: self.ca.clone(),
        };
        match operation {
            Operation::CreateOperator { .. } | Operation::ResetOperator { .. } => {
                let password = one_time_password()?;
                let phc = hash_password(password.clone()).await?;
                prepared.password = Some((password, phc));
            }
            Operation::AddJwsKey { public_key_pem, .. } => {
                prepared.jws_key =
                    Some(check_upload(public_key_pem, self.operations.jws_policy())?);
            }
            _ => {}
        }
        Ok(prepared)
    }

    fn after(&self, executed: &Executed) {
        match &executed.effect {
            Effect::None => {}
            Effect::Participant { name, deactivated } => {
                self.operations.participant_changed(name, *deactivated)
            }
            Effect::JwsKeys(participant) => self.operations.keys_changed(participant),
            Effect::Tls(settings) => self.operations.tls_changed(settings),
            Effect::Policy(policy) => self.iam.set_policy((**policy).clone()),
            Effect::Crl => {
                if let Some(tls) = &self.tls {
                    match tls.reload() {
                        Ok(closed) => tracing::info!(
                            closed,
                            "CRL changed: TLS material reloaded, revoked connections closed"
                        ),
                        Err(error) => tracing::error!(
                            %error,
                            "CRL changed but the listener could not reload it: POST /tls/reload"
                        ),
                    }
                }
            }
        }
    }

    /// A checker approves request `id`. At the last required approval the operation executes
    /// in the same transaction. Returns the request and, once executed, the result.
    pub async fn approve(&self, principal: &Principal, id: &str) -> Result<Value, Denied> {
        if !principal.is_session() {
            return Err(Denied::forbidden(
                "only a person approves: log in; an API token cannot approve",
            ));
        }
        let policy = self.iam.policy();
        let window = policy.sessions.mfa_freshness_secs;
        if !principal.fresh_mfa(self.iam.now_ms(), window) {
            return Err(Denied::fresh_mfa_required(window));
        }
        let record = self.load(id).await?;
        let operation: Operation = serde_json::from_str(&record.payload_json).map_err(|e| {
            denied(
                FspiopError::internal(format!("unreadable request: {e}")),
                500,
            )
        })?;
        // Checked again here: a failure is the execution's result.
        let prepared = self.prepare(&operation).await;
        let (who, roles) = (principal.name.clone(), principal.roles.clone());
        let now = self.iam.now_ms();
        let id = id.to_string();
        let outcome = self
            .iam
            .writer()
            .run(move |ledger, tx| {
                Box::pin(async move {
                    let Some(record) = tx.approval(&id).await? else {
                        return Ok(Err(no_request(&id)));
                    };
                    let mut request = from_record(&record, tx).await?;
                    if request.expire(unix_secs(now)) {
                        let expired = to_record(&request, None, None);
                        tx.update_approval(&expired).await?;
                        return Ok(Err(denied(
                            FspiopError::validation("the request has expired"),
                            409,
                        )));
                    }
                    let state = match request.approve(&who, &roles, unix_secs(now)) {
                        Ok(state) => state,
                        Err(error) => {
                            audit_in(
                                tx,
                                now,
                                &who,
                                "request.approve",
                                &id,
                                json!({"error": error.to_string()}),
                                "denied",
                            )
                            .await?;
                            return Ok(Err(refused(&error)));
                        }
                    };
                    tx.add_approval_vote(&id, &who, now).await?;
                    audit_in(
                        tx,
                        now,
                        &who,
                        "request.approve",
                        &id,
                        json!({"operation": operation.name(), "approvals": request.approvals.len(),
                               "required": request.required_approvals}),
                        "ok",
                    )
                    .await?;
                    let mut executed = None;
                    if state == RequestState::Approved {
                        let result = match prepared {
                            Ok(prepared) => {
                                apply(ledger, tx, &request.maker, now, &operation, prepared).await?
                            }
                            Err(error) => Executed::failed(&error),
                        };
                        if request.mark_executed().is_err() {
                            return Err(StoreError::Backend("request state machine".into()));
                        }
                        let approvers: Vec<&str> =
                            request.approvals.iter().map(|(a, _)| a.as_str()).collect();
                        audit_in(
                            tx,
                            now,
                            &who,
                            "request.executed",
                            &id,
                            json!({"operation": operation.name(), "maker": request.maker,
                                   "approvers": approvers, "status": result.status}),
                            if result.status < 300 { "ok" } else { "failed" },
                        )
                        .await?;
                        executed = Some(result);
                    }
                    let stored = to_record(
                        &request,
                        executed.as_ref().map(|_| now),
                        executed
                            .as_ref()
                            .map(|e| json!({"status": e.status, "body": e.stored})),
                    );
                    tx.update_approval(&stored).await?;
                    Ok(Ok((stored, executed)))
                })
            })
            .await?;
        let (record, executed) = outcome?;
        if let Some(executed) = &executed {
            self.after(executed);
        }
        let mut answer = json!({"request": request_json(&record, self.votes(&record.id).await?, self.iam.now_ms())});
        if let (Some(executed), Some(map)) = (executed, answer.as_object_mut()) {
            map.insert(
                "result".into(),
                json!({"status": executed.status, "body": executed.body}),
            );
        }
        Ok(answer)
    }

    /// Rejects request `id` (a checker), or withdraws it (its maker).
    pub async fn reject(
        &self,
        principal: &Principal,
        id: &str,
        reason: &str,
    ) -> Result<Value, Denied> {
        let record = self.load(id).await?;
        let is_maker = record.maker == principal.name;
        if !is_maker {
            if !principal.is_session() {
                return Err(Denied::forbidden("only a person rejects another's request"));
            }
            if !principal.permissions.contains(Permission::RequestsApprove) {
                return Err(Denied::forbidden(
                    "your roles do not allow requests.approve (a maker may withdraw their own)",
                ));
            }
            let window = self.iam.policy().sessions.mfa_freshness_secs;
            if !principal.fresh_mfa(self.iam.now_ms(), window) {
                return Err(Denied::fresh_mfa_required(window));
            }
        }
        let (who, roles, reason) = (
            principal.name.clone(),
            principal.roles.clone(),
            reason.to_string(),
        );
        let now = self.iam.now_ms();
        let id = id.to_string();
        let outcome = self
            .iam
            .writer()
            .run(move |_, tx| {
                Box::pin(async move {
                    let Some(record) = tx.approval(&id).await? else {
                        return Ok(Err(no_request(&id)));
                    };
                    let mut request = from_record(&record, tx).await?;
                    if let Err(error) = request.reject(&who, &roles, unix_secs(now), &reason) {
                        return Ok(Err(refused(&error)));
                    }
                    let stored = to_record(&request, None, None);
                    tx.update_approval(&stored).await?;
                    audit_in(
                        tx,
                        now,
                        &who,
                        if who == stored.maker {
                            "request.withdraw"
                        } else {
                            "request.reject"
                        },
                        &id,
                        json!({"reason": reason}),
                        "ok",
                    )
                    .await?;
                    Ok(Ok(stored))
                })
            })
            .await?;
        let record = outcome?;
        Ok(request_json(
            &record,
            self.votes(&record.id).await?,
            self.iam.now_ms(),
        ))
    }

    async fn load(&self, id: &str) -> Result<ApprovalRecord, Denied> {
        let key = id.to_string();
        self.iam
            .writer()
            .read(move |_, tx| Box::pin(async move { tx.approval(&key).await }))
            .await?
            .ok_or_else(|| no_request(id))
    }

    async fn votes(&self, id: &str) -> Result<Vec<ledger::ApprovalVote>, Denied> {
        let key = id.to_string();
        Ok(self
            .iam
            .writer()
            .read(move |_, tx| Box::pin(async move { tx.approval_votes(&key).await }))
            .await?)
    }

    /// One request as JSON.
    pub async fn get(&self, id: &str) -> Result<Value, Denied> {
        let record = self.load(id).await?;
        Ok(request_json(
            &record,
            self.votes(id).await?,
            self.iam.now_ms(),
        ))
    }

    /// Requests, newest first, optionally in one state.
    pub async fn list(&self, state: Option<String>, limit: u32) -> Result<Value, Denied> {
        if let Some(s) = &state
            && !ApprovalRecord::STATES.contains(&s.as_str())
        {
            return Err(Denied::invalid(format!(
                "state must be one of {}",
                ApprovalRecord::STATES.join(", ")
            )));
        }
        let now = self.iam.now_ms();
        let records = self
            .iam
            .writer()
            .read(move |_, tx| {
                Box::pin(async move {
                    let mut out = Vec::new();
                    for record in tx.approvals(state.as_deref(), limit).await? {
                        let votes = tx.approval_votes(&record.id).await?;
                        out.push((record, votes));
                    }
                    Ok(out)
                })
            })
            .await?;
        Ok(Value::Array(
            records
                .into_iter()
                .map(|(record, votes)| request_json(&record, votes, now))
                .collect(),
        ))
    }
}

fn no_request(id: &str) -> Denied {
    denied(
        FspiopError::new(ErrorCode::ID_NOT_FOUND, format!("no request {id}")),
        404,
    )
}

/// A maker/checker refusal: 403 for who may not decide, 400 for a bad reason, 409 for a
/// request that can no longer be decided (or was already approved by this checker).
fn refused(error: &iam::approval::ApprovalError) -> Denied {
    let status = match error {
        iam::approval::ApprovalError::Denied(_) => 403,
        iam::approval::ApprovalError::Reason { .. } => 400,
        _ => 409,
    };
    denied(
        FspiopError::new(ErrorCode::GENERIC_CLIENT_ERROR, error.to_string()),
        status,
    )
}

/// The stored form of a request.
fn to_record(
    request: &PendingRequest,
    executed_at_ms: Option<i64>,
    result: Option<Value>,
) -> ApprovalRecord {
    let approvals: Vec<Value> = request
        .approvals
        .iter()
        .map(|(by, at)| json!({"operator": by, "at": secs_to_ms(*at)}))
        .collect();
    ApprovalRecord {
        id: request.id.clone(),
        permission: request.permission.as_str().to_string(),
        payload_json: request.payload_json.clone(),
        maker: request.maker.clone(),
        created_at_ms: secs_to_ms(request.created_at),
        expires_at_ms: secs_to_ms(request.expires_at),
        required_approvals: u32::from(request.required_approvals),
        state: request.state.as_str().to_string(),
        approvals_json: Value::Array(approvals).to_string(),
        decided_by: request.rejection.as_ref().map(|r| r.by.clone()),
        reason: request.rejection.as_ref().map(|r| r.reason.clone()),
        executed_at_ms,
        result_json: result.map(|r| r.to_string()),
    }
}

/// The request state machine's value of a stored request (votes from the vote table).
async fn from_record(
    record: &ApprovalRecord,
    tx: &mut dyn LedgerTx,
) -> Result<PendingRequest, StoreError> {
    let votes = tx.approval_votes(&record.id).await?;
    let state = match record.state.as_str() {
        "pending" => RequestState::Pending,
        "approved" => RequestState::Approved,
        "rejected" => RequestState::Rejected,
        "expired" => RequestState::Expired,
        _ => RequestState::Executed,
    };
    let permission = record
        .permission
        .parse::<Permission>()
        .map_err(|e| StoreError::Backend(format!("stored request: {e}")))?;
    Ok(PendingRequest {
        id: record.id.clone(),
        permission,
        payload_json: record.payload_json.clone(),
        maker: record.maker.clone(),
        created_at: unix_secs(record.created_at_ms),
        expires_at: unix_secs(record.expires_at_ms),
        required_approvals: u8::try_from(record.required_approvals).unwrap_or(u8::MAX),
        approvals: votes
            .iter()
            .map(|v| (v.voter.clone(), unix_secs(v.at_ms)))
            .collect(),
        state,
        rejection: match (&record.decided_by, &record.reason) {
            (Some(by), Some(reason)) => Some(iam::approval::Rejection {
                by: by.clone(),
                at: unix_secs(record.executed_at_ms.unwrap_or(record.created_at_ms)),
                reason: reason.clone(),
            }),
            _ => None,
        },
    })
}

/// A request as the API shows it at `now_ms`: a pending request past its expiry shows as
/// `expired` (it is stored so at the next attempt to decide it).
pub fn request_json(
    record: &ApprovalRecord,
    votes: Vec<ledger::ApprovalVote>,
    now_ms: i64,
) -> Value {
    let payload: Value = serde_json::from_str(&record.payload_json).unwrap_or(Value::Null);
    let operation = serde_json::from_value::<Operation>(payload.clone())
        .map(|o| o.name())
        .unwrap_or("");
    let date = crate::admin::date;
    json!({
        "id": record.id,
        "permission": record.permission,
        "operation": operation,
        "payload": payload,
        "maker": record.maker,
        "createdAt": date(record.created_at_ms),
        "expiresAt": date(record.expires_at_ms),
        "requiredApprovals": record.required_approvals,
        "approvals": votes.iter().map(|v| json!({"operator": v.voter, "at": date(v.at_ms)})).collect::<Vec<_>>(),
        "state": if record.state == ApprovalRecord::PENDING && now_ms >= record.expires_at_ms {
            ApprovalRecord::EXPIRED
        } else {
            record.state.as_str()
        },
        "decidedBy": record.decided_by,
        "reason": record.reason,
        "executedAt": record.executed_at_ms.map(date),
        "result": record.result_json.as_deref().and_then(|r| serde_json::from_str::<Value>(r).ok()),
    })
}

type Applied = Result<Executed, StoreError>;

/// Performs an operation inside a transaction. Business refusals become a failed
/// [`Executed`] (nothing written); store failures roll the transaction back.
async fn apply(
    ledger: &Ledger,
    tx: &mut dyn LedgerTx,
    who: &str,
    now: i64,
    operation: &Operation,
    prepared: Prepared,
) -> Applied {
    use Operation as O;
    let result: Result<Executed, FspiopError> = match operation.clone() {
        O::CreateParticipant { name, currency } => {
            match ledger.create_participant(tx, who, &name, &currency).await? {
                Ok(participant) => {
                    let accounts = tx.accounts(&participant.name).await?;
                    Ok(Executed::new(
                        201,
                        participant_json(&participant, &accounts),
                        Effect::Participant {
                            name,
                            deactivated: false,
                        },
                    ))
                }
                Err(e) => Err(e),
            }
        }
        O::SetParticipantActive { name, active } => {
            match ledger
                .set_participant_active(tx, who, &name, active)
                .await?
            {
                Ok(participant) => {
                    let accounts = tx.accounts(&participant.name).await?;
                    Ok(Executed::new(
                        200,
                        participant_json(&participant, &accounts),
                        Effect::Participant {
                            name,
                            deactivated: !active,
                        },
                    ))
                }
                Err(e) => Err(e),
            }
        }
        O::SetEndpoint {
            participant,
            kind,
            value,
        } => {
            let endpoint = Endpoint {
                participant: participant.clone(),
                kind,
                value,
            };
            ledger.set_endpoint(tx, who, endpoint).await?.map(|()| {
                Executed::new(
                    201,
                    Value::Null,
                    Effect::Participant {
                        name: participant,
                        deactivated: false,
                    },
                )
            })
        }
        O::SetEndpoints {
            participant,
            endpoints,
        } => {
            if tx.participant(&participant).await?.is_none() {
                Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("participant {participant} does not exist"),
                ))
            } else {
                // Each was checked when the request was made; the ledger checks again.
                let mut outcome = Ok(());
                for endpoint in &endpoints {
                    let endpoint = Endpoint {
                        participant: participant.clone(),
                        kind: endpoint.kind.clone(),
                        value: endpoint.value.clone(),
                    };
                    outcome = ledger.set_endpoint(tx, who, endpoint).await?;
                    if outcome.is_err() {
                        // Cannot happen after the checks above; refuse the whole set.
                        return Err(StoreError::Backend(
                            "an endpoint of a checked set was refused".into(),
                        ));
                    }
                }
                outcome.map(|()| {
                    Executed::new(
                        201,
                        Value::Null,
                        Effect::Participant {
                            name: participant,
                            deactivated: false,
                        },
                    )
                })
            }
        }
        O::InitialPositionAndLimits {
            name,
            currency,
            cap,
            initial_position,
        } => match (
            amount(&cap, "limit.value"),
            decimal(&initial_position, "initialPosition"),
        ) {
            (Ok(cap), Ok(initial)) => ledger
                .initial_position_and_limits(tx, who, &name, &currency, cap, initial)
                .await?
                .map(|()| Executed::new(201, Value::Null, Effect::None)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        O::SetLimit {
            name,
            currency,
            cap,
            alarm_percentage,
        } => match (
            amount(&cap, "limit.value"),
            decimal(&alarm_percentage, "alarm"),
        ) {
            (Ok(cap), Ok(alarm)) => ledger
                .set_limit(tx, who, &name, &currency, cap, alarm)
                .await?
                .map(|limit| Executed::new(200, limit_json(&limit), Effect::None)),
            (Err(e), _) | (_, Err(e)) => Err(e),
        },
        O::CreateHubAccount { currency, kind } => match AccountType::parse(&kind) {
            Some(kind) => ledger
                .create_hub_account(tx, who, &currency, kind)
                .await?
                .map(|account| Executed::new(201, account_json(&account), Effect::None)),
            None => Err(FspiopError::validation(format!(
                "unknown account type {kind}"
            ))),
        },
        O::SetAccountActive {
            name,
            account,
            active,
        } => ledger
            .set_account_active(tx, who, &name, account, active)
            .await?
            .map(|account| Executed::new(200, account_json(&account), Effect::None)),
        O::Funds {
            name,
            account,
            transfer_id,
            action,
            amount: value,
            currency,
            reason,
            external_reference,
        } => {
            let action = if action == "recordFundsIn" {
                FundsAction::In
            } else {
                FundsAction::OutReserve
            };
            match amount(&value, "amount.amount") {
                Ok(value) => ledger
                    .funds(
                        tx,
                        who,
                        &name,
                        account,
                        &transfer_id,
                        action,
                        value,
                        &currency,
                        &reason,
                        &external_reference,
                    )
                    .await?
                    .map(|_| Executed::new(202, Value::Null, Effect::None)),
                Err(e) => Err(e),
            }
        }
        O::SettleFundsOut {
            name,
            account,
            transfer_id,
            commit,
        } => ledger
            .settle_funds_out(tx, who, &name, account, &transfer_id, commit)
            .await?
            .map(|_| Executed::new(202, Value::Null, Effect::None)),
        O::AddJwsKey {
            participant,
            not_before_ms,
            not_after_ms,
            ..
        } => match prepared.jws_key {
            Some(key) => {
                let record = ledger::JwsKey {
                    participant: participant.clone(),
                    fingerprint: key.fingerprint().to_string(),
                    alg: key.alg().as_str().to_string(),
                    public_key_pem: key.to_pem(),
                    not_before_ms,
                    not_after_ms,
                    added_at_ms: 0,
                    retired_at_ms: None,
                };
                ledger.add_jws_key(tx, who, record).await?.map(|record| {
                    let registered = RegisteredKey { record, key };
                    Executed::new(
                        201,
                        jws_key_json(&registered, now),
                        Effect::JwsKeys(participant),
                    )
                })
            }
            None => Err(FspiopError::internal("the key was not checked")),
        },
        O::RetireJwsKey {
            participant,
            fingerprint,
        } => ledger
            .retire_jws_key(tx, who, &participant, &fingerprint)
            .await?
            .map(|()| Executed::new(204, Value::Null, Effect::JwsKeys(participant))),
        O::SetParticipantTls {
            participant,
            spki_pin,
            callback_ca_pem,
        } => {
            let settings = ledger::ParticipantTls {
                participant,
                spki_pin: spki_pin.map(|p| p.to_ascii_lowercase()),
                callback_ca_pem,
                updated_at_ms: 0,
            };
            ledger
                .set_participant_tls(tx, who, settings)
                .await?
                .map(|stored| {
                    Executed::new(200, participant_tls_json(&stored), Effect::Tls(stored))
                })
        }
        O::CreateOperator { name, roles } => {
            create_operator(tx, who, now, &name, &roles, prepared.password).await?
        }
        O::SetOperatorDisabled { name, disabled } => match tx.operator(&name).await? {
            None => Err(unknown_operator(&name)),
            Some(mut operator) => {
                operator.disabled = disabled;
                tx.update_operator(&operator).await?;
                let ended = if disabled {
                    tx.delete_operator_sessions(&operator.name).await?
                } else {
                    0
                };
                audit_in(
                    tx,
                    now,
                    who,
                    "operators.set_disabled",
                    &operator.name,
                    json!({"disabled": disabled, "sessionsEnded": ended}),
                    "ok",
                )
                .await?;
                Ok(Executed::new(
                    200,
                    json!({"name": operator.name, "disabled": disabled}),
                    Effect::None,
                ))
            }
        },
        O::SetOperatorRoles { name, roles } => match tx.operator(&name).await? {
            None => Err(unknown_operator(&name)),
            Some(operator) => match check_roles(tx, &roles).await? {
                Err(e) => Err(e),
                Ok(()) => {
                    tx.set_operator_roles(&operator.name, &roles).await?;
                    let ended = tx.delete_operator_sessions(&operator.name).await?;
                    audit_in(
                        tx,
                        now,
                        who,
                        "operators.set_roles",
                        &operator.name,
                        json!({"roles": roles, "sessionsEnded": ended}),
                        "ok",
                    )
                    .await?;
                    Ok(Executed::new(
                        200,
                        json!({"name": operator.name, "roles": roles}),
                        Effect::None,
                    ))
                }
            },
        },
        O::ResetOperator { name } => match (tx.operator(&name).await?, prepared.password) {
            (None, _) => Err(unknown_operator(&name)),
            (Some(_), None) => Err(FspiopError::internal("no one-time password prepared")),
            (Some(mut operator), Some((password, phc))) => {
                operator.password_phc = phc.clone();
                operator.password_changed_at_ms = now;
                operator.must_change_password = true;
                operator.failed_attempts = 0;
                operator.last_failure_at_ms = None;
                operator.totp_secret_b32 = None;
                operator.totp_last_step = None;
                operator.recovery_code_hashes.clear();
                tx.update_operator(&operator).await?;
                tx.push_password_history(&operator.name, &phc, now).await?;
                let ended = tx.delete_operator_sessions(&operator.name).await?;
                let mut revoked = 0u32;
                for token in tx.api_tokens(&operator.name).await? {
                    if token.revoked_at_ms.is_none()
                        && tx.revoke_api_token(&token.id_hash, now).await?
                    {
                        revoked = revoked.saturating_add(1);
                    }
                }
                audit_in(
                    tx,
                    now,
                    who,
                    "operators.reset",
                    &operator.name,
                    json!({"sessionsEnded": ended, "tokensRevoked": revoked}),
                    "ok",
                )
                .await?;
                let mut executed = Executed::new(
                    200,
                    json!({"name": operator.name, "oneTimePassword": password}),
                    Effect::None,
                );
                executed.stored = json!({"name": operator.name, "oneTimePassword": "<given once to the approver>"});
                Ok(executed)
            }
        },
        O::DefineRole { name, permissions } => {
            let set = match permission_set(&permissions) {
                Ok(set) => set,
                Err(e) => return Ok(Executed::failed(&e)),
            };
            match CustomRole::new(&name, set) {
                Err(e) => Err(FspiopError::validation(e.to_string())),
                Ok(role) => {
                    // Every current holder must still satisfy separation of duties.
                    let mut conflict = None;
                    for operator in tx.operators().await? {
                        let mut names = tx.operator_roles(&operator.name).await?;
                        if !names.contains(&name) {
                            continue;
                        }
                        names.retain(|n| n != &name);
                        let mut held = resolve_roles(tx, &names).await?;
                        held.push(Role::Custom(role.clone()));
                        if let Err(violation) = iam::rbac::check_assignment(&held) {
                            conflict = Some(format!("{}: {violation}", operator.name));
                            break;
                        }
                    }
                    match conflict {
                        Some(conflict) => Err(FspiopError::validation(format!(
                            "the new definition breaks separation of duties for {conflict}"
                        ))),
                        None => {
                            let names: Vec<String> =
                                set.iter().map(|p| p.as_str().to_string()).collect();
                            tx.upsert_custom_role(&ledger::CustomRole {
                                name: name.clone(),
                                permissions: names.clone(),
                                created_at_ms: now,
                            })
                            .await?;
                            audit_in(
                                tx,
                                now,
                                who,
                                "roles.define",
                                &name,
                                json!({"permissions": names}),
                                "ok",
                            )
                            .await?;
                            Ok(Executed::new(
                                200,
                                json!({"name": name, "builtin": false, "permissions": names}),
                                Effect::None,
                            ))
                        }
                    }
                }
            }
        }
        O::DeleteRole { name } => {
            if name.parse::<BuiltinRole>().is_ok() {
                Err(FspiopError::validation(format!(
                    "{name} is a built-in role and cannot be deleted"
                )))
            } else if tx.delete_custom_role(&name).await? {
                audit_in(tx, now, who, "roles.delete", &name, json!({}), "ok").await?;
                Ok(Executed::new(204, Value::Null, Effect::None))
            } else {
                Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("no custom role {name}"),
                ))
            }
        }
        O::IssueCertificate {
            participant,
            csr_pem,
            days,
        } => match (tx.participant(&participant).await?, &prepared.ca) {
            (None, _) => Err(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!("participant {participant} does not exist"),
            )),
            (Some(_), None) => Err(no_ca()),
            (Some(registered), Some(ca)) => {
                match ca.with(|dir| dir.sign_csr(&csr_pem, &registered.name, days)) {
                    Err(e) => Err(e),
                    Ok(issued) => {
                        audit_in(
                            tx,
                            now,
                            who,
                            "certificates.issue",
                            &registered.name,
                            json!({"serial": issued.serial_hex,
                                   "fingerprint": issued.fingerprint_sha256_hex, "days": days}),
                            "ok",
                        )
                        .await?;
                        Ok(Executed::new(
                            201,
                            json!({"serial": issued.serial_hex, "participant": registered.name,
                                   "fingerprint": issued.fingerprint_sha256_hex,
                                   "notAfter": issued.not_after
                                       .format(&time::format_description::well_known::Rfc3339)
                                       .unwrap_or_default(),
                                   "certificatePem": issued.cert_pem}),
                            Effect::None,
                        ))
                    }
                }
            }
        },
        O::RevokeCertificate {
            participant,
            serial,
            reason,
        } => match &prepared.ca {
            None => Err(no_ca()),
            Some(ca) => {
                let owned = ca.certificates(&participant).map(|list| {
                    list.iter()
                        .any(|e| e.serial_hex.eq_ignore_ascii_case(serial.trim()))
                });
                match owned {
                    Err(e) => Err(e),
                    Ok(false) => Err(FspiopError::new(
                        ErrorCode::ID_NOT_FOUND,
                        format!("{participant} has no certificate with serial {serial}"),
                    )),
                    Ok(true) => match ca.with(|dir| dir.revoke_with_reason(&serial, reason)) {
                        Err(e) => Err(e),
                        Ok(()) => {
                            audit_in(
                                tx,
                                now,
                                who,
                                "certificates.revoke",
                                &participant,
                                json!({"serial": serial, "reason": reason}),
                                "ok",
                            )
                            .await?;
                            Ok(Executed::new(204, Value::Null, Effect::Crl))
                        }
                    },
                }
            }
        },
        O::SetPolicy { policy } => match policy.validate() {
            Err(e) => Err(FspiopError::validation(e)),
            Ok(()) => {
                let value = serde_json::to_value(&policy)
                    .map_err(|e| StoreError::Backend(e.to_string()))?;
                tx.put_setting(&ledger::Setting {
                    key: POLICY_SETTING.into(),
                    value_json: value.to_string(),
                    updated_at_ms: now,
                    updated_by: who.to_string(),
                })
                .await?;
                audit_in(
                    tx,
                    now,
                    who,
                    "policy.set",
                    POLICY_SETTING,
                    value.clone(),
                    "ok",
                )
                .await?;
                Ok(Executed::new(200, value, Effect::Policy(Box::new(policy))))
            }
        },
    };
    Ok(match result {
        Ok(executed) => executed,
        Err(error) => Executed::failed(&error),
    })
}

fn no_ca() -> FspiopError {
    FspiopError::validation(
        "the hub does not run its own CA (tls.mode = files): issue and revoke certificates with \
         the CA that signs them",
    )
}

fn unknown_operator(name: &str) -> FspiopError {
    FspiopError::new(ErrorCode::ID_NOT_FOUND, format!("no operator {name}"))
}

/// Roles must exist and together satisfy separation of duties.
pub(crate) async fn check_roles(
    tx: &mut dyn LedgerTx,
    names: &[String],
) -> Result<Result<(), FspiopError>, StoreError> {
    let roles = resolve_roles(tx, names).await?;
    if roles.len() != names.len() {
        let known: Vec<&str> = roles.iter().map(Role::name).collect();
        let unknown: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !known.contains(n))
            .collect();
        return Ok(Err(FspiopError::validation(format!(
            "unknown role(s): {} (built-in: {})",
            unknown.join(", "),
            BuiltinRole::ALL.map(|r| r.as_str()).join(", ")
        ))));
    }
    Ok(iam::rbac::check_assignment(&roles).map_err(|e| FspiopError::validation(e.to_string())))
}

async fn create_operator(
    tx: &mut dyn LedgerTx,
    who: &str,
    now: i64,
    name: &str,
    roles: &[String],
    password: Option<(String, String)>,
) -> Result<Result<Executed, FspiopError>, StoreError> {
    if tx.operator(name).await?.is_some() {
        return Ok(Err(FspiopError::validation(format!(
            "an operator named {name} already exists"
        ))));
    }
    if let Err(e) = check_roles(tx, roles).await? {
        return Ok(Err(e));
    }
    let Some((plain, phc)) = password else {
        return Ok(Err(FspiopError::internal("no one-time password prepared")));
    };
    tx.insert_operator(&new_operator(name, phc.clone(), now))
        .await?;
    tx.push_password_history(name, &phc, now).await?;
    tx.set_operator_roles(name, roles).await?;
    audit_in(
        tx,
        now,
        who,
        "operators.create",
        name,
        json!({"roles": roles}),
        "ok",
    )
    .await?;
    let mut executed = Executed::new(
        201,
        json!({"name": name, "roles": roles, "oneTimePassword": plain}),
        Effect::None,
    );
    executed.stored =
        json!({"name": name, "roles": roles, "oneTimePassword": "<given once to the approver>"});
    Ok(Ok(executed))
}
