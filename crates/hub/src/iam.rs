//! Operator identity and access: who is calling the admin API, and what they may do.
//!
//! The rules are the pure `iam` crate's; this module keeps their state in the ledger store
//! (operators, sessions, API tokens, the policy) and answers the admin plane's questions:
//! [`Iam::authenticate`] turns a presented session or API token into a [`Principal`] with its
//! effective permissions, [`Iam::login`] checks a password, TOTP or recovery code with lockout,
//! [`Iam::bootstrap`] creates the first administrator at first start and
//! [`host_create_operator`] the second one from the host (four eyes need two people). Every security event
//! (login, failure, lockout, MFA, token) is written to the audit log in the same transaction as
//! the state it changes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use fspiop::{ErrorCode, FspiopError};
use iam::approval::{ApprovalPolicy, SENSITIVE};
use iam::password::{Lockout, PasswordPolicy};
use iam::rbac::{BuiltinRole, CustomRole, Permission, PermissionSet, Role};
use iam::token::TokenKind;
use iam::totp::TotpSecret;
use ledger::{AuditEntry, LedgerTx, Operator, SessionRecord, StoreError};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::writer::{LedgerWriter, WriterError};

/// The name of the operator created at first start.
pub const FIRST_ADMINISTRATOR: &str = "admin";
/// The file holding the first administrator's one-time password until it is changed.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";
/// The key sealing the operators' TOTP seeds, under the data directory (32 bytes, 0600). Every
/// hub node sharing a database needs the same file.
pub const SEALING_KEY_FILE: &str = "iam/sealing.key";
/// How often (ms) a node re-reads the stored IAM policy.
pub const POLICY_REFRESH_MS: i64 = 30_000;
/// The settings key of the policy operators set through the API.
pub const POLICY_SETTING: &str = "iam.policy";
/// How many recovery codes an operator gets at TOTP enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Longest an API token may live.
pub const MAX_API_TOKEN_SECS: u64 = 90 * 24 * 60 * 60;
/// Permissions an API token can never carry: only a person approves, and people, roles and
/// policy are administered by people.
pub const NOT_FOR_TOKENS: PermissionSet = PermissionSet::of(&[
    Permission::RequestsApprove,
    Permission::UsersManage,
    Permission::RolesManage,
    Permission::PolicyManage,
]);
/// A session's `last_seen` is written at most this often (ms), to keep reads cheap.
const TOUCH_EVERY_MS: i64 = 30_000;

/// Session timeouts and MFA freshness.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct SessionPolicy {
    /// A session unused this long ends.
    pub idle_timeout_secs: u64,
    /// A session ends this long after login whatever its use.
    pub absolute_timeout_secs: u64,
    /// A TOTP code counts as fresh this long (sensitive actions need a fresh one).
    pub mfa_freshness_secs: u64,
    /// Maker/checker requests expire after this long.
    pub request_ttl_secs: u64,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle_timeout_secs: iam::token::DEFAULT_IDLE_TIMEOUT_SECS,
            absolute_timeout_secs: iam::token::DEFAULT_ABSOLUTE_TIMEOUT_SECS,
            mfa_freshness_secs: iam::token::DEFAULT_MFA_FRESHNESS_SECS,
            request_ttl_secs: iam::approval::DEFAULT_TTL_SECS,
        }
    }
}

/// The IAM policy: password rules, approvals per sensitive permission, session timeouts.
/// Changed through `PUT /policy` (itself a maker/checker operation) and kept in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IamPolicy {
    /// What a new password must satisfy, lockout and maximum age.
    #[serde(default)]
    pub password: PasswordPolicy,
    /// Approvals each sensitive permission needs (absent: 0).
    pub approvals: BTreeMap<Permission, u8>,
    /// Timeouts.
    #[serde(default)]
    pub sessions: SessionPolicy,
}

impl IamPolicy {
    /// Four eyes: one checker for every sensitive operation.
    pub fn four_eyes() -> IamPolicy {
        IamPolicy {
            password: PasswordPolicy::default(),
            approvals: SENSITIVE.iter().map(|p| (*p, 1)).collect(),
            sessions: SessionPolicy::default(),
        }
    }

    /// The approval counts as the `iam` crate's policy.
    pub fn approval_policy(&self) -> ApprovalPolicy {
        self.approvals
            .iter()
            .fold(ApprovalPolicy::sandbox(), |policy, (permission, n)| {
                policy.with_required(*permission, *n)
            })
    }

    /// Refuses a policy that could not work: approvals on a permission that is not sensitive,
    /// more than 5 approvals, bad password settings, zero or absurd timeouts.
    pub fn validate(&self) -> Result<(), String> {
        self.password.validate().map_err(|e| e.to_string())?;
        for (permission, n) in &self.approvals {
            if !SENSITIVE.contains(permission) {
                return Err(format!(
                    "{permission} is not a sensitive permission; approvals apply to: {}",
                    SENSITIVE
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            if *n > 5 {
                return Err(format!("{permission}: at most 5 approvals"));
            }
        }
        let s = &self.sessions;
        if !(60..=86_400).contains(&s.idle_timeout_secs) {
            return Err("sessions.idleTimeoutSecs must be between 60 and 86400".into());
        }
        if !(s.idle_timeout_secs..=7 * 86_400).contains(&s.absolute_timeout_secs) {
            return Err(
                "sessions.absoluteTimeoutSecs must be between the idle timeout and 7 days".into(),
            );
        }
        if !(30..=3_600).contains(&s.mfa_freshness_secs) {
            return Err("sessions.mfaFreshnessSecs must be between 30 and 3600".into());
        }
        if !(60..=iam::approval::MAX_TTL_SECS).contains(&s.request_ttl_secs) {
            return Err(format!(
                "sessions.requestTtlSecs must be between 60 and {}",
                iam::approval::MAX_TTL_SECS
            ));
        }
        Ok(())
    }
}

/// How the hub starts its IAM.
#[derive(Debug, Clone)]
pub struct IamConfig {
    /// The policy in force until operators store one through the API.
    pub policy: IamPolicy,
    /// Development profile: no approvals at all, whatever is stored (said loudly at start).
    pub sandbox: bool,
}

impl Default for IamConfig {
    fn default() -> Self {
        IamConfig {
            policy: IamPolicy::four_eyes(),
            sandbox: false,
        }
    }
}

impl IamConfig {
    /// No approvals (development and tests that are not about four eyes).
    pub fn sandbox() -> IamConfig {
        IamConfig {
            policy: IamPolicy {
                approvals: BTreeMap::new(),
                ..IamPolicy::four_eyes()
            },
            sandbox: true,
        }
    }
}

/// How a principal authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A login session.
    Session {
        /// SHA-256 of the session id.
        id_hash: String,
        /// When TOTP (or a recovery code) was last entered in this session.
        mfa_at_ms: Option<i64>,
        /// When the session ends.
        expires_at_ms: i64,
    },
    /// An API token.
    Token {
        /// SHA-256 of the token.
        id_hash: String,
    },
}

/// An authenticated operator and what they may do now.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The operator's name as registered.
    pub name: String,
    /// The operator's roles.
    pub roles: Vec<Role>,
    /// What this call may do: the roles' permissions (narrowed to the scopes for a token).
    pub permissions: PermissionSet,
    /// Session or token.
    pub via: Via,
    /// Whether only the first-login steps are open (one-time or expired password, or no TOTP).
    pub restricted: Option<&'static str>,
    /// Whether the operator has TOTP enrolled.
    pub mfa_enrolled: bool,
}

impl Principal {
    /// Whether a TOTP code was entered within `window_secs` (sessions only).
    pub fn fresh_mfa(&self, now_ms: i64, window_secs: u64) -> bool {
        match &self.via {
            Via::Session {
                mfa_at_ms: Some(at),
                ..
            } => {
                let window = secs_to_ms(window_secs);
                now_ms.saturating_sub(*at) <= window
            }
            _ => false,
        }
    }

    /// Whether this is a person's session (not an API token).
    pub fn is_session(&self) -> bool {
        matches!(self.via, Via::Session { .. })
    }
}

/// Why an admin call is refused before it reaches its handler.
#[derive(Debug)]
pub struct Denied {
    /// HTTP status (401, 403, 429, 503).
    pub status: u16,
    /// The FSPIOP error.
    pub error: FspiopError,
    /// Seconds to wait (lockout).
    pub retry_after: Option<u64>,
}

impl Denied {
    /// 401: not authenticated.
    pub fn unauthenticated(detail: impl AsRef<str>) -> Denied {
        Denied {
            status: 401,
            error: FspiopError::new(ErrorCode::GENERIC_CLIENT_ERROR, detail),
            retry_after: None,
        }
    }

    /// 403: authenticated, not allowed.
    pub fn forbidden(detail: impl AsRef<str>) -> Denied {
        Denied {
            status: 403,
            error: FspiopError::new(ErrorCode::GENERIC_CLIENT_ERROR, detail),
            retry_after: None,
        }
    }

    /// 400 with the validation error code.
    pub fn invalid(detail: impl AsRef<str>) -> Denied {
        Denied {
            status: 400,
            error: FspiopError::validation(detail),
            retry_after: None,
        }
    }

    /// 401 asking for a fresh TOTP code (`POST /auth/mfa`).
    pub fn fresh_mfa_required(window_secs: u64) -> Denied {
        Denied::unauthenticated(format!(
            "fresh MFA required: enter a TOTP code with POST /auth/mfa (valid {window_secs} s) \
             and repeat the call"
        ))
    }

    fn store(error: impl std::fmt::Display) -> Denied {
        Denied {
            status: 503,
            error: FspiopError::new(
                ErrorCode::SERVICE_UNAVAILABLE,
                format!("the IAM store is unavailable: {error}"),
            ),
            retry_after: None,
        }
    }
}

impl From<WriterError> for Denied {
    fn from(error: WriterError) -> Self {
        Denied::store(error)
    }
}

/// What a successful login returns.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The session token, shown once.
    pub session: String,
    /// The principal behind it.
    pub principal: Principal,
}

/// Login input.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoginRequest {
    /// Operator name (any ASCII case).
    pub username: String,
    /// Password.
    pub password: String,
    /// TOTP code (required once enrolled).
    pub totp: Option<String>,
    /// One of the recovery codes, instead of a TOTP code.
    pub recovery_code: Option<String>,
}

/// The IAM service of one hub.
#[derive(Clone)]
pub struct Iam {
    writer: LedgerWriter,
    policy: Arc<ArcSwap<IamPolicy>>,
    /// When the policy was last read from the store (ms): hub nodes sharing a database see
    /// another node's approved change within [`POLICY_REFRESH_MS`].
    policy_read_at: Arc<std::sync::atomic::AtomicI64>,
    sandbox: bool,
    /// A hash checked when the user does not exist, so that the answer takes as long.
    decoy: Arc<String>,
    /// Seals the TOTP seeds at rest (`<data_dir>/iam/sealing.key`).
    sealing: Arc<iam::sealing::SealingKey>,
    data_dir: PathBuf,
}

/// Unix seconds of a time in ms (0 before 1970).
pub(crate) fn unix_secs(ms: i64) -> u64 {
    u64::try_from(ms.div_euclid(1000)).unwrap_or(0)
}

/// A duration or time in seconds as ms (saturating).
pub(crate) fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

/// Appends an audit entry inside a transaction.
pub(crate) async fn audit_in(
    tx: &mut dyn LedgerTx,
    at_ms: i64,
    actor: &str,
    action: &str,
    subject: &str,
    detail: serde_json::Value,
    outcome: &str,
) -> Result<(), StoreError> {
    tx.append_audit(&AuditEntry {
        at_ms,
        actor: actor.into(),
        action: action.into(),
        subject: subject.into(),
        detail: detail.to_string(),
        outcome: outcome.into(),
        ..Default::default()
    })
    .await
}

/// Roles by name: built-in ones from code, custom ones from the store. Unknown names are
/// skipped (a deleted custom role grants nothing).
pub(crate) async fn resolve_roles(
    tx: &mut dyn LedgerTx,
    names: &[String],
) -> Result<Vec<Role>, StoreError> {
    let mut roles = Vec::new();
    let mut custom: Option<Vec<ledger::CustomRole>> = None;
    for name in names {
        if let Ok(builtin) = name.parse::<BuiltinRole>() {
            roles.push(Role::Builtin(builtin));
            continue;
        }
        if custom.is_none() {
            custom = Some(tx.custom_roles().await?);
        }
        let Some(record) = custom.iter().flatten().find(|r| &r.name == name) else {
            continue;
        };
        let permissions: PermissionSet = record
            .permissions
            .iter()
            .filter_map(|p| p.parse::<Permission>().ok())
            .collect();
        if let Ok(role) = CustomRole::new(&record.name, permissions) {
            roles.push(Role::Custom(role));
        }
    }
    Ok(roles)
}

/// A fresh random password for a one-time use (256 bits, URL-safe base64: lower, upper and
/// digits all but certainly present; checked against the policy by the caller).
pub(crate) fn one_time_password() -> Result<String, FspiopError> {
    loop {
        let issued = iam::token::issue(TokenKind::Api)
            .map_err(|e| FspiopError::internal(format!("no randomness: {e}")))?;
        let text = issued
            .plain
            .strip_prefix(TokenKind::Api.prefix())
            .unwrap_or(&issued.plain)
            .to_string();
        let classes = [
            text.bytes().any(|b| b.is_ascii_lowercase()),
            text.bytes().any(|b| b.is_ascii_uppercase()),
            text.bytes().any(|b| b.is_ascii_digit()),
        ];
        if classes.iter().all(|c| *c) {
            return Ok(text);
        }
    }
}

/// Hashes a password off the async threads (argon2id is slow by design).
pub(crate) async fn hash_password(password: String) -> Result<String, FspiopError> {
    tokio::task::spawn_blocking(move || iam::password::hash(&password))
        .await
        .map_err(|e| FspiopError::internal(e.to_string()))?
        .map_err(|e| FspiopError::internal(e.to_string()))
}

async fn verify_password(password: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || iam::password::verify(&password, &phc))
        .await
        .unwrap_or(false)
}

/// A new operator record with a hashed one-time password.
pub(crate) fn new_operator(name: &str, phc: String, now_ms: i64) -> Operator {
    Operator {
        name: name.to_string(),
        password_phc: phc,
        password_changed_at_ms: now_ms,
        must_change_password: true,
        failed_attempts: 0,
        last_failure_at_ms: None,
        totp_secret_b32: None,
        totp_last_step: None,
        recovery_code_hashes: Vec::new(),
        disabled: false,
        created_at_ms: now_ms,
    }
}

impl Iam {
    /// The IAM over a writer; loads the stored policy (or the configured one).
    pub async fn start(
        writer: LedgerWriter,
        config: &IamConfig,
        data_dir: &Path,
    ) -> Result<Iam, String> {
        let stored = writer
            .read(|_, tx| Box::pin(async move { tx.setting(POLICY_SETTING).await }))
            .await
            .map_err(|e| e.to_string())?;
        let mut policy = match stored {
            Some(setting) => serde_json::from_str::<IamPolicy>(&setting.value_json)
                .map_err(|e| format!("stored IAM policy is unreadable: {e}"))?,
            None => config.policy.clone(),
        };
        if config.sandbox {
            policy.approvals.clear();
            tracing::warn!(
                "IAM SANDBOX PROFILE: maker/checker is OFF — every sensitive operation executes \
                 on its maker's word. Never run a hub that moves real money like this."
            );
        } else if policy.approval_policy().is_relaxed() {
            tracing::warn!(
                "the IAM policy lets some sensitive operations execute without a checker: {}",
                SENSITIVE
                    .iter()
                    .filter(|p| policy.approvals.get(p).copied().unwrap_or(0) == 0)
                    .map(|p| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
        policy.validate()?;
        let decoy =
            tokio::task::spawn_blocking(|| iam::password::hash("decoy password, never set"))
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
        let sealing = load_or_create_sealing_key(&data_dir.join(SEALING_KEY_FILE))?;
        let read_at = writer.ledger().now_ms();
        Ok(Iam {
            writer,
            policy: Arc::new(ArcSwap::from_pointee(policy)),
            policy_read_at: Arc::new(std::sync::atomic::AtomicI64::new(read_at)),
            sandbox: config.sandbox,
            decoy: Arc::new(decoy),
            sealing: Arc::new(sealing),
            data_dir: data_dir.to_path_buf(),
        })
    }

    /// Seals a TOTP seed for storage in `owner`'s row.
    pub(crate) fn seal_totp(&self, secret: &TotpSecret, owner: &str) -> Result<String, Denied> {
        self.sealing
            .seal_totp(secret, owner)
            .map_err(|e| Denied::store(format!("cannot seal the TOTP secret: {e}")))
    }

    /// Opens a stored TOTP seed of `owner`.
    fn open_totp(&self, sealed: &str, owner: &str) -> Result<TotpSecret, Denied> {
        self.sealing.open_totp(sealed, owner).map_err(|_| Denied {
            status: 503,
            error: FspiopError::new(
                ErrorCode::SERVICE_UNAVAILABLE,
                "TOTP secret does not open: wrong <data_dir>/iam/sealing.key",
            ),
            retry_after: None,
        })
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<IamPolicy> {
        self.policy.load_full()
    }

    /// Whether the sandbox profile is on.
    pub fn is_sandbox(&self) -> bool {
        self.sandbox
    }

    /// Reads the stored policy again when the copy in force is older than
    /// [`POLICY_REFRESH_MS`] (another node may have executed a change). A store failure keeps
    /// the copy in force.
    async fn refresh_policy(&self) {
        use std::sync::atomic::Ordering;
        let now = self.now_ms();
        let read_at = self.policy_read_at.load(Ordering::Relaxed);
        if now.saturating_sub(read_at) < POLICY_REFRESH_MS
            || self
                .policy_read_at
                .compare_exchange(read_at, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let stored = self
            .writer
            .read(|_, tx| Box::pin(async move { tx.setting(POLICY_SETTING).await }))
            .await;
        match stored {
            Ok(Some(setting)) => match serde_json::from_str::<IamPolicy>(&setting.value_json) {
                Ok(mut policy) if policy.validate().is_ok() => {
                    if self.sandbox {
                        policy.approvals.clear();
                    }
                    if *self.policy() != policy {
                        tracing::info!("the IAM policy changed in the store; now in force here");
                        self.set_policy(policy);
                    }
                }
                _ => tracing::error!("the stored IAM policy is unreadable; the previous stays"),
            },
            Ok(None) => {}
            Err(error) => tracing::warn!(%error, "could not re-read the IAM policy"),
        }
    }

    /// Puts a newly approved policy in force (the store already has it).
    pub(crate) fn set_policy(&self, mut policy: IamPolicy) {
        if self.sandbox {
            policy.approvals.clear();
        }
        self.policy.store(Arc::new(policy));
    }

    /// The hub's clock in ms.
    pub fn now_ms(&self) -> i64 {
        self.writer.ledger().now_ms()
    }

    /// The hub's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Where the first administrator's one-time password is written.
    pub fn initial_password_path(&self) -> PathBuf {
        self.data_dir.join(INITIAL_PASSWORD_FILE)
    }

    /// At first start (no operator at all), creates [`FIRST_ADMINISTRATOR`] with a one-time
    /// password in [`INITIAL_PASSWORD_FILE`] (mode 0600). Returns whether it did.
    pub async fn bootstrap(&self) -> Result<bool, String> {
        let existing = self
            .writer
            .read(|_, tx| Box::pin(async move { tx.operators().await }))
            .await
            .map_err(|e| e.to_string())?;
        if !existing.is_empty() {
            self.warn_without_checker().await;
            return Ok(false);
        }
        let password = one_time_password().map_err(|e| e.description)?;
        let phc = hash_password(password.clone())
            .await
            .map_err(|e| e.description)?;
        let path = self.initial_password_path();
        let _ = std::fs::remove_file(&path);
        crate::server::write_private(&path, &format!("{password}\n"))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let now = self.now_ms();
        let created = self
            .writer
            .run(move |_, tx| {
                Box::pin(async move {
                    if !tx.operators().await?.is_empty() {
                        return Ok(false);
                    }
                    tx.insert_operator(&new_operator(FIRST_ADMINISTRATOR, phc.clone(), now))
                        .await?;
                    tx.push_password_history(FIRST_ADMINISTRATOR, &phc, now)
                        .await?;
                    tx.set_operator_roles(
                        FIRST_ADMINISTRATOR,
                        &[BuiltinRole::HubAdministrator.as_str().to_string()],
                    )
                    .await?;
                    audit_in(
                        tx,
                        now,
                        "hub",
                        "operator.bootstrap",
                        FIRST_ADMINISTRATOR,
                        json!({"roles": [BuiltinRole::HubAdministrator.as_str()],
                               "oneTimePasswordFile": INITIAL_PASSWORD_FILE}),
                        "ok",
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await
            .map_err(|e| e.to_string())?;
        if created {
            tracing::warn!(
                operator = FIRST_ADMINISTRATOR,
                file = %path.display(),
                "first start: created the first administrator; its one-time password is in the \
                 file (log in, change it and enrol TOTP)"
            );
        }
        self.warn_without_checker().await;
        Ok(created)
    }

    /// Says at start, loudly, when the admin API cannot accept maker/checker operations yet.
    async fn warn_without_checker(&self) {
        if self.sandbox {
            return;
        }
        if let Ok(approvers) = self.approvers().await
            && approvers < MIN_APPROVERS
        {
            tracing::warn!(
                approvers,
                "four eyes: fewer than {MIN_APPROVERS} operators can approve, so the admin API \
                 refuses every operation that needs a checker; create a second administrator \
                 from the host: ferroloop operator create <name> --role hub-administrator"
            );
        }
    }

    /// How many enabled operators can approve requests (hold `requests.approve`). While it is
    /// below [`MIN_APPROVERS`] no maker/checker operation is accepted (see
    /// `hub::requests::Requests::submit`).
    pub async fn approvers(&self) -> Result<usize, Denied> {
        Ok(self
            .writer
            .read(|_, tx| Box::pin(async move { count_approvers(tx).await }))
            .await?)
    }

    /// The principal behind a presented session or API token.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, Denied> {
        self.refresh_policy().await;
        let Some(kind) = TokenKind::of_presented(presented) else {
            return Err(Denied::unauthenticated(
                "missing or malformed credentials: send `Authorization: Bearer <session or API \
                 token>` (POST /auth/login gives a session)",
            ));
        };
        let hash = iam::token::hash(presented);
        let now = self.now_ms();
        let policy = self.policy();
        let found = {
            let hash = hash.clone();
            self.writer
                .read(move |_, tx| {
                    Box::pin(async move {
                        let (operator_name, via, scopes) = match kind {
                            TokenKind::Session => {
                                let Some(session) = tx.session(&hash).await? else {
                                    return Ok(None);
                                };
                                let expires = session
                                    .last_seen_ms
                                    .saturating_add(session.idle_timeout_ms)
                                    .min(
                                        session
                                            .created_at_ms
                                            .saturating_add(session.absolute_timeout_ms),
                                    );
                                if now >= expires {
                                    return Ok(None);
                                }
                                (
                                    session.operator.clone(),
                                    (
                                        Via::Session {
                                            id_hash: hash.clone(),
                                            mfa_at_ms: session.mfa_at_ms,
                                            expires_at_ms: expires,
                                        },
                                        Some(session),
                                    ),
                                    None,
                                )
                            }
                            TokenKind::Api => {
                                let Some(token) = tx.api_token(&hash).await? else {
                                    return Ok(None);
                                };
                                if token.revoked_at_ms.is_some() || now >= token.expires_at_ms {
                                    return Ok(None);
                                }
                                let scopes: PermissionSet = token
                                    .scopes
                                    .iter()
                                    .filter_map(|s| s.parse::<Permission>().ok())
                                    .collect();
                                (
                                    token.operator.clone(),
                                    (
                                        Via::Token {
                                            id_hash: hash.clone(),
                                        },
                                        None,
                                    ),
                                    Some(scopes),
                                )
                            }
                        };
                        let Some(operator) = tx.operator(&operator_name).await? else {
                            return Ok(None);
                        };
                        let names = tx.operator_roles(&operator.name).await?;
                        let roles = resolve_roles(tx, &names).await?;
                        Ok(Some((operator, roles, via, scopes)))
                    })
                })
                .await?
        };
        let Some((operator, roles, (via, session), scopes)) = found else {
            return Err(Denied::unauthenticated(
                "the session or API token is unknown, expired or revoked: log in again",
            ));
        };
        if operator.disabled {
            return Err(Denied::unauthenticated("this operator account is disabled"));
        }
        let mut permissions = iam::rbac::permissions_of(&roles);
        if let Some(scopes) = scopes {
            permissions = permissions
                .intersection(scopes)
                .intersection(PermissionSet::ALL.intersection(complement(NOT_FOR_TOKENS)));
        }
        let restricted = restriction(&operator, &policy, now);
        if restricted.is_some() && !matches!(via, Via::Session { .. }) {
            return Err(Denied::unauthenticated(
                "the token's owner must change their password and enrol TOTP first",
            ));
        }
        if let Some(mut session) = session
            && now.saturating_sub(session.last_seen_ms) >= TOUCH_EVERY_MS
        {
            session.last_seen_ms = now;
            self.writer.submit_detached(move |_, tx| {
                Box::pin(async move {
                    match tx.update_session(&session).await {
                        // Logged out meanwhile: nothing to touch.
                        Err(StoreError::Backend(_)) | Ok(()) => Ok(()),
                        Err(other) => Err(other),
                    }
                })
            });
        }
        Ok(Principal {
            mfa_enrolled: operator.totp_secret_b32.is_some(),
            name: operator.name,
            roles,
            permissions,
            via,
            restricted,
        })
    }

    /// Checks a login and opens a session. Failures count towards lockout and are audited.
    ///
    /// Every refusal before a session exists answers alike ([`LOGIN_REFUSED`], 401): an
    /// unknown or disabled operator, a wrong password, a right password without a second
    /// factor or with a wrong, replayed or used-up one — so the answer never tells that the
    /// password was right, and the password is checked with argon2 in every case. Only a
    /// locked account answers otherwise (429 with `Retry-After`), whatever was sent.
    ///
    /// The attempt is counted in the store *before* the password is checked
    /// ([`LedgerTx::claim_login_attempt`], compare-and-set): concurrent attempts each take
    /// their own count, and once the count reaches the policy's threshold the others are
    /// refused without an argon2 check. A success resets the count. The TOTP step is consumed
    /// with a compare-and-set too ([`LedgerTx::consume_totp_step`]): of concurrent logins with
    /// the same code exactly one gets a session.
    pub async fn login(&self, request: LoginRequest) -> Result<LoginOutcome, Denied> {
        self.refresh_policy().await;
        let invalid = || Denied::unauthenticated(LOGIN_REFUSED);
        let policy = self.policy();
        let now = self.now_ms();
        let name = request.username.trim().to_string();
        if name.is_empty() || name.len() > 64 || request.password.len() > 1024 {
            return Err(invalid());
        }
        let lookup = name.clone();
        let operator = self
            .writer
            .read(move |_, tx| Box::pin(async move { tx.operator(&lookup).await }))
            .await?;
        let refused_as = match &operator {
            None => Some("unknown operator"),
            Some(operator) if operator.disabled => Some("disabled"),
            Some(_) => None,
        };
        let registered = operator.map_or_else(|| name.clone(), |o| o.name);
        if let Some(reason) = refused_as {
            // Take as long as a real check, so the answer does not tell who exists.
            let _ = verify_password(request.password, (*self.decoy).clone()).await;
            self.audit_event(&registered, "auth.login_failed", json!({"reason": reason}))
                .await?;
            return Err(invalid());
        }
        let counted = match self.claim_attempt(&registered).await? {
            Claim::Counted(counted) => counted,
            Claim::Locked { wait, failed } => {
                return Err(self.locked(&registered, wait, failed).await?);
            }
            Claim::Gone => return Err(invalid()),
        };
        let password_ok = verify_password(request.password, counted.password_phc.clone()).await;
        if !password_ok {
            return Err(self.failed(&counted, "password").await?);
        }
        // Second factor, once enrolled.
        let mut consume = None;
        if counted.totp_secret_b32.is_some() {
            match self
                .verify_second_factor(
                    &counted,
                    request.totp.as_deref(),
                    request.recovery_code.as_deref(),
                    now,
                )
                .await
            {
                Ok(accepted) => consume = Some(accepted),
                Err(SecondFactor::Unavailable(denied)) => return Err(denied),
                Err(refused) => return Err(self.failed(&counted, refused.factor()).await?),
            }
        }
        let mfa_at = consume.as_ref().map(|_| now);
        let used_recovery = matches!(consume, Some(Consumed::RecoveryCode(_)));
        let issued = iam::token::issue(TokenKind::Session)
            .map_err(|e| Denied::store(format!("no randomness: {e}")))?;
        let session = SessionRecord {
            id_hash: issued.hash.clone(),
            operator: counted.name.clone(),
            created_at_ms: now,
            last_seen_ms: now,
            idle_timeout_ms: secs_to_ms(policy.sessions.idle_timeout_secs),
            absolute_timeout_ms: secs_to_ms(policy.sessions.absolute_timeout_secs),
            mfa_at_ms: mfa_at,
        };
        let operator_name = counted.name.clone();
        let opened = self
            .writer
            .run(move |_, tx| {
                Box::pin(async move {
                    let Some(mut current) =
                        consume_second_factor(tx, &operator_name, consume.as_ref()).await?
                    else {
                        return Ok(None);
                    };
                    current.failed_attempts = 0;
                    current.last_failure_at_ms = None;
                    tx.update_operator(&current).await?;
                    tx.insert_session(&session).await?;
                    audit_in(
                        tx,
                        now,
                        &current.name,
                        "auth.login",
                        &current.name,
                        json!({"mfa": session.mfa_at_ms.is_some(),
                               "recoveryCodeUsed": used_recovery,
                               "recoveryCodesLeft": current.recovery_code_hashes.len()}),
                        "ok",
                    )
                    .await?;
                    Ok(Some(()))
                })
            })
            .await?;
        if opened.is_none() {
            // Another login took this code first (or the recovery code was used meanwhile).
            return Err(self.failed(&counted, "second_factor_replayed").await?);
        }
        let principal = self.authenticate(&issued.plain).await?;
        Ok(LoginOutcome {
            session: issued.plain,
            principal,
        })
    }

    /// Counts an attempt of `name` in the store before its credentials are checked, unless
    /// the account is locked (see [`Iam::login`]).
    async fn claim_attempt(&self, name: &str) -> Result<Claim, Denied> {
        let now = self.now_ms();
        let policy = self.policy();
        let name = name.to_string();
        let claim = self
            .writer
            .run(move |_, tx| {
                Box::pin(async move {
                    for _ in 0..CLAIM_ROUNDS {
                        let Some(operator) = tx.operator(&name).await? else {
                            return Ok(Some(Claim::Gone));
                        };
                        let lockout = Lockout {
                            failed_attempts: operator.failed_attempts,
                            last_failure_at: operator.last_failure_at_ms.map(unix_secs),
                        };
                        if let Some(until) = lockout.locked_until(&policy.password, unix_secs(now))
                        {
                            return Ok(Some(Claim::Locked {
                                wait: until.saturating_sub(unix_secs(now)),
                                failed: operator.failed_attempts,
                            }));
                        }
                        if tx
                            .claim_login_attempt(&operator.name, operator.failed_attempts, now)
                            .await?
                        {
                            return Ok(Some(Claim::Counted(Operator {
                                failed_attempts: operator.failed_attempts.saturating_add(1),
                                last_failure_at_ms: Some(now),
                                ..operator
                            })));
                        }
                    }
                    Ok(None)
                })
            })
            .await?;
        claim.ok_or_else(|| {
            Denied::store("too many concurrent attempts on this account; try again in a moment")
        })
    }

    /// The 429 of a locked account, audited.
    async fn locked(&self, name: &str, wait: u64, failed: u32) -> Result<Denied, Denied> {
        self.audit_event(
            name,
            "auth.locked_out",
            json!({"retryAfterSecs": wait, "failedAttempts": failed}),
        )
        .await?;
        Ok(Denied {
            status: 429,
            error: FspiopError::new(
                ErrorCode::GENERIC_CLIENT_ERROR,
                format!("too many failed logins: this account is locked for {wait} s more"),
            ),
            retry_after: Some(wait),
        })
    }

    /// Audits a failed attempt already counted by [`Iam::claim_attempt`] (and the lockout it
    /// starts) and answers [`LOGIN_REFUSED`].
    async fn failed(&self, counted: &Operator, factor: &'static str) -> Result<Denied, Denied> {
        let now = self.now_ms();
        let policy = self.policy();
        let name = counted.name.clone();
        let failed = counted.failed_attempts;
        let lockout = Lockout {
            failed_attempts: failed,
            last_failure_at: counted.last_failure_at_ms.map(unix_secs),
        };
        let locked = lockout.locked_until(&policy.password, unix_secs(now));
        self.writer
            .run(move |_, tx| {
                Box::pin(async move {
                    audit_in(
                        tx,
                        now,
                        &name,
                        "auth.login_failed",
                        &name,
                        json!({"factor": factor, "failedAttempts": failed,
                               "lockedUntil": locked}),
                        "denied",
                    )
                    .await?;
                    if locked.is_some() {
                        audit_in(
                            tx,
                            now,
                            &name,
                            "auth.lockout",
                            &name,
                            json!({"until": locked}),
                            "denied",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(Denied::unauthenticated(LOGIN_REFUSED))
    }

    pub(crate) async fn record_failure(
        &self,
        name: &str,
        factor: &'static str,
    ) -> Result<(), Denied> {
        let now = self.now_ms();
        let name = name.to_string();
        let policy = self.policy();
        self.writer
            .run(move |_, tx| {
                Box::pin(async move {
                    let Some(mut operator) = tx.operator(&name).await? else {
                        return Ok(());
                    };
                    let mut lockout = Lockout {
                        failed_attempts: operator.failed_attempts,
                        last_failure_at: operator.last_failure_at_ms.map(unix_secs),
                    };
                    lockout.record_failure(unix_secs(now));
                    operator.failed_attempts = lockout.failed_attempts;
                    operator.last_failure_at_ms = Some(now);
                    tx.update_operator(&operator).await?;
                    let locked = lockout.locked_until(&policy.password, unix_secs(now));
                    audit_in(
                        tx,
                        now,
                        &operator.name,
                        "auth.login_failed",
                        &operator.name,
                        json!({"factor": factor, "failedAttempts": operator.failed_attempts,
                               "lockedUntil": locked}),
                        "denied",
                    )
                    .await?;
                    if locked.is_some() {
                        audit_in(
                            tx,
                            now,
                            &operator.name,
                            "auth.lockout",
                            &operator.name,
                            json!({"until": locked}),
                            "denied",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(())
    }

    /// Appends a security event in its own transaction; fails when the audit log cannot be
    /// written (the caller then refuses what it was doing).
    pub async fn audit_event(
        &self,
        actor: &str,
        action: &str,
        detail: serde_json::Value,
    ) -> Result<(), Denied> {
        let (now, actor, action) = (self.now_ms(), actor.to_string(), action.to_string());
        let outcome = if action.ends_with("failed")
            || action.ends_with("locked_out")
            || action.ends_with("forbidden")
        {
            "denied"
        } else {
            "ok"
        };
        self.writer
            .run(move |_, tx| {
                Box::pin(async move {
                    audit_in(tx, now, &actor, &action, &actor, detail, outcome).await
                })
            })
            .await?;
        Ok(())
    }

    /// The writer (for the handlers' own transactions).
    pub(crate) fn writer(&self) -> &LedgerWriter {
        &self.writer
    }

    /// Reads the operator record.
    pub(crate) async fn operator(&self, name: &str) -> Result<Option<Operator>, Denied> {
        let name = name.to_string();
        Ok(self
            .writer
            .read(move |_, tx| Box::pin(async move { tx.operator(&name).await }))
            .await?)
    }

    /// Verifies a TOTP code (or a recovery code) for `operator` and consumes it atomically
    /// (the step with [`LedgerTx::consume_totp_step`], the recovery code removed in the same
    /// transaction): of concurrent step-ups with one code exactly one succeeds. Like a login
    /// it is counted before the check and refused while the account is locked (429), so
    /// codes cannot be guessed through a stolen session either; a success resets the count.
    pub(crate) async fn check_second_factor(
        &self,
        operator: &str,
        code: Option<&str>,
        recovery_code: Option<&str>,
    ) -> Result<(), Denied> {
        let now = self.now_ms();
        let Some(record) = self.operator(operator).await? else {
            return Err(Denied::unauthenticated("unknown operator"));
        };
        if record.totp_secret_b32.is_none() {
            return Err(Denied::forbidden("enrol TOTP first: POST /auth/mfa/enrol"));
        }
        if code.is_none() && recovery_code.is_none() {
            return Err(Denied::invalid("send `code` (TOTP) or `recoveryCode`"));
        }
        let counted = match self.claim_attempt(&record.name).await? {
            Claim::Counted(counted) => counted,
            Claim::Locked { wait, failed } => {
                return Err(self.locked(&record.name, wait, failed).await?);
            }
            Claim::Gone => return Err(Denied::unauthenticated("unknown operator")),
        };
        let accepted = match self
            .verify_second_factor(&counted, code, recovery_code, now)
            .await
        {
            Ok(accepted) => accepted,
            Err(SecondFactor::Unavailable(denied)) => return Err(denied),
            Err(refused) => {
                self.failed(&counted, refused.factor()).await?;
                return Err(Denied::unauthenticated(refused.to_string()));
            }
        };
        let name = counted.name.clone();
        let consumed = self
            .writer
            .run(move |_, tx| {
                Box::pin(async move {
                    let Some(mut current) =
                        consume_second_factor(tx, &name, Some(&accepted)).await?
                    else {
                        return Ok(false);
                    };
                    current.failed_attempts = 0;
                    current.last_failure_at_ms = None;
                    tx.update_operator(&current).await?;
                    audit_in(
                        tx,
                        now,
                        &current.name,
                        "auth.mfa",
                        &current.name,
                        json!({"recoveryCodesLeft": current.recovery_code_hashes.len()}),
                        "ok",
                    )
                    .await?;
                    Ok(true)
                })
            })
            .await?;
        if !consumed {
            self.failed(&counted, "second_factor_replayed").await?;
            return Err(Denied::unauthenticated(
                SecondFactor::Totp(iam::totp::TotpError::Replayed).to_string(),
            ));
        }
        Ok(())
    }

    /// Checks a TOTP code (preferred) or a recovery code of an enrolled operator against
    /// `operator` as just read; nothing is written (see [`consume_second_factor`]).
    async fn verify_second_factor(
        &self,
        operator: &Operator,
        code: Option<&str>,
        recovery_code: Option<&str>,
        now: i64,
    ) -> Result<Consumed, SecondFactor> {
        let Some(sealed) = &operator.totp_secret_b32 else {
            return Err(SecondFactor::Missing);
        };
        let secret = self
            .open_totp(sealed, &operator.name)
            .map_err(SecondFactor::Unavailable)?;
        if let Some(code) = code {
            return iam::totp::verify(&secret, code, unix_secs(now), operator.totp_last_step)
                .map(Consumed::TotpStep)
                .map_err(SecondFactor::Totp);
        }
        let Some(recovery_code) = recovery_code else {
            return Err(SecondFactor::Missing);
        };
        let (code, hashes) = (
            recovery_code.to_string(),
            operator.recovery_code_hashes.clone(),
        );
        let used = tokio::task::spawn_blocking(move || {
            iam::totp::use_recovery_code(&code, &hashes).and_then(|i| hashes.get(i).cloned())
        })
        .await
        .ok()
        .flatten();
        used.map(Consumed::RecoveryCode)
            .ok_or(SecondFactor::RecoveryCode)
    }

    /// Replaces a session by a new one (new id) for the same operator, keeping or setting the
    /// MFA time: used at every privilege change. Returns the new token.
    pub(crate) async fn renew_session(
        &self,
        principal: &Principal,
        mfa_at_ms: Option<i64>,
        drop_others: bool,
    ) -> Result<String, Denied> {
        let Via::Session {
            id_hash,
            mfa_at_ms: previous_mfa,
            ..
        } = &principal.via
        else {
            return Err(Denied::forbidden(
                "only a login session can do this, not an API token",
            ));
        };
        let policy = self.policy();
        let now = self.now_ms();
        let issued = iam::token::issue(TokenKind::Session)
            .map_err(|e| Denied::store(format!("no randomness: {e}")))?;
        let record = SessionRecord {
            id_hash: issued.hash.clone(),
            operator: principal.name.clone(),
            created_at_ms: now,
            last_seen_ms: now,
            idle_timeout_ms: secs_to_ms(policy.sessions.idle_timeout_secs),
            absolute_timeout_ms: secs_to_ms(policy.sessions.absolute_timeout_secs),
            mfa_at_ms: mfa_at_ms.or(*previous_mfa),
        };
        let old = id_hash.clone();
        let name = principal.name.clone();
        self.writer
            .run(move |_, tx| {
                Box::pin(async move {
                    if drop_others {
                        tx.delete_operator_sessions(&name).await?;
                    } else {
                        tx.delete_session(&old).await?;
                    }
                    tx.insert_session(&record).await
                })
            })
            .await?;
        Ok(issued.plain)
    }

    /// Ends a session.
    pub(crate) async fn logout(&self, principal: &Principal) -> Result<(), Denied> {
        let Via::Session { id_hash, .. } = &principal.via else {
            return Err(Denied::forbidden(
                "an API token has no session to end; revoke it instead",
            ));
        };
        let (hash, name, now) = (id_hash.clone(), principal.name.clone(), self.now_ms());
        self.writer
            .run(move |_, tx| {
                Box::pin(async move {
                    tx.delete_session(&hash).await?;
                    audit_in(tx, now, &name, "auth.logout", &name, json!({}), "ok").await
                })
            })
            .await?;
        Ok(())
    }
}

/// The one answer to every refused login (see [`Iam::login`]): it does not say which factor
/// was wrong.
pub const LOGIN_REFUSED: &str =
    "invalid user name, password or second factor (`totp` or `recoveryCode`)";

/// How many times counting an attempt reads the operator again when concurrent attempts keep
/// changing the count under it before it gives up (503).
const CLAIM_ROUNDS: usize = 16;

/// What counting a login attempt found.
enum Claim {
    /// Counted: the operator as stored with this attempt counted.
    Counted(Operator),
    /// The account is locked: seconds to wait, failures so far.
    Locked { wait: u64, failed: u32 },
    /// No such operator (any more).
    Gone,
}

/// An accepted second factor, to consume in the store.
enum Consumed {
    /// This TOTP step.
    TotpStep(u64),
    /// This recovery code (its stored hash).
    RecoveryCode(String),
}

/// Why a second factor was refused.
#[derive(Debug, thiserror::Error)]
enum SecondFactor {
    #[error("a TOTP code is required: send it (or a recovery code)")]
    Missing,
    #[error("TOTP code: {0}")]
    Totp(iam::totp::TotpError),
    #[error("the recovery code is not valid")]
    RecoveryCode,
    /// The TOTP secret does not open (a 503 of its own, not the operator's fault).
    #[error("the TOTP secret cannot be opened")]
    Unavailable(Denied),
}

impl SecondFactor {
    /// The audit name of the failed factor.
    fn factor(&self) -> &'static str {
        match self {
            SecondFactor::Missing => "second_factor_missing",
            SecondFactor::Totp(iam::totp::TotpError::Replayed) => "totp_replayed",
            SecondFactor::Totp(_) | SecondFactor::Unavailable(_) => "totp",
            SecondFactor::RecoveryCode => "recovery_code",
        }
    }
}

/// Consumes an accepted second factor of `name` in `tx` — the TOTP step by compare-and-set,
/// the recovery code by removing its hash from the row as read in this transaction — and
/// returns the operator as it now is; `None` when another login or step-up consumed it
/// first (or the operator is gone).
async fn consume_second_factor(
    tx: &mut dyn LedgerTx,
    name: &str,
    consume: Option<&Consumed>,
) -> Result<Option<Operator>, StoreError> {
    if let Some(Consumed::TotpStep(step)) = consume
        && !tx.consume_totp_step(name, *step).await?
    {
        return Ok(None);
    }
    let Some(mut current) = tx.operator(name).await? else {
        return Ok(None);
    };
    if let Some(Consumed::RecoveryCode(hash)) = consume {
        let before = current.recovery_code_hashes.len();
        current.recovery_code_hashes.retain(|h| h != hash);
        if current.recovery_code_hashes.len() == before {
            return Ok(None);
        }
    }
    Ok(Some(current))
}

/// Fewest enabled operators able to approve before the admin API accepts any operation that
/// needs a checker. With one, its holder could only ever be checked by an account that
/// holder made (one person acting as two), so the second comes from the host:
/// [`host_create_operator`] (`ferroloop operator create`).
pub const MIN_APPROVERS: usize = 2;

/// What the admin API answers (409) to a maker/checker operation while fewer than
/// [`MIN_APPROVERS`] operators can approve.
pub fn no_checker_message(approvers: usize) -> String {
    format!(
        "four eyes need {MIN_APPROVERS} operators who can approve ({approvers} now): run \
         `ferroloop operator create` on the host"
    )
}

/// The FSPIOP error of [`no_checker_message`], with the whole command in an extension
/// (`action`), since a description holds at most 128 characters.
pub fn no_checker_error(approvers: usize) -> FspiopError {
    FspiopError::new(
        ErrorCode::GENERIC_CLIENT_ERROR,
        no_checker_message(approvers),
    )
    .with_extension(
        "action",
        "ferroloop operator create <name> --role hub-administrator --data-dir <data_dir> \
         (docs/OPERATORS.md, First start)",
    )
}

/// Counts the enabled operators whose roles grant `requests.approve`.
pub(crate) async fn count_approvers(tx: &mut dyn LedgerTx) -> Result<usize, StoreError> {
    let mut approvers = 0usize;
    for operator in tx.operators().await? {
        if operator.disabled {
            continue;
        }
        let names = tx.operator_roles(&operator.name).await?;
        let roles = resolve_roles(tx, &names).await?;
        if iam::rbac::permissions_of(&roles).contains(Permission::RequestsApprove) {
            approvers = approvers.saturating_add(1);
        }
    }
    Ok(approvers)
}

/// Why a session may only take the first-login steps, if it must.
pub(crate) fn restriction(
    operator: &Operator,
    policy: &IamPolicy,
    now_ms: i64,
) -> Option<&'static str> {
    if operator.must_change_password {
        return Some("change your one-time password first: POST /auth/password");
    }
    if policy.password.is_expired(
        unix_secs(operator.password_changed_at_ms),
        unix_secs(now_ms),
    ) {
        return Some("your password has expired: change it with POST /auth/password");
    }
    if operator.totp_secret_b32.is_none() {
        return Some("enrol TOTP first: POST /auth/mfa/enrol, then POST /auth/mfa/confirm");
    }
    None
}

fn complement(set: PermissionSet) -> PermissionSet {
    Permission::ALL
        .into_iter()
        .filter(|p| !set.contains(*p))
        .collect()
}

/// Reads the sealing key, or creates it (0600) at first start.
fn load_or_create_sealing_key(path: &Path) -> Result<iam::sealing::SealingKey, String> {
    let describe = |e: std::io::Error| format!("{}: {e}", path.display());
    if !path.exists() {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(describe)?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
                    .map_err(describe)?;
            }
        }
        let bytes = iam::sealing::SealingKey::generate().map_err(|e| e.to_string())?;
        crate::server::write_private(path, &hex::encode(bytes)).map_err(describe)?;
        tracing::info!(file = %path.display(), "generated the key that seals TOTP secrets at rest");
    }
    let text = std::fs::read_to_string(path).map_err(describe)?;
    let bytes =
        hex::decode(text.trim()).map_err(|e| format!("{}: not hex: {e}", path.display()))?;
    iam::sealing::SealingKey::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The file a host-level reset writes an operator's one-time password to (0600).
pub fn reset_password_file(data_dir: &Path, operator: &str) -> PathBuf {
    data_dir.join(format!("one-time-password-{operator}"))
}

/// Break glass, from the host (`ferroloop operator reset`): when no administrator can log in
/// any more (lost TOTP and recovery codes, all locked or disabled), someone with access to the
/// data directory gives `operator` a new one-time password, clears its TOTP, recovery codes,
/// lockout, sessions and API tokens and enables it; roles stay. The one-time password goes to
/// [`reset_password_file`] (0600), never to the log; the reset is in the audit chain
/// (`operator.break_glass`, actor `host`), in the same transaction. Returns the file.
pub async fn break_glass_reset(
    store: &dyn ledger::LedgerStore,
    data_dir: &Path,
    operator: &str,
    now_ms: i64,
) -> Result<PathBuf, String> {
    let password = one_time_password().map_err(|e| e.description)?;
    let phc = hash_password(password.clone())
        .await
        .map_err(|e| e.description)?;
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    let Some(mut record) = tx.operator(operator).await.map_err(|e| e.to_string())? else {
        return Err(format!("there is no operator {operator}"));
    };
    let name = record.name.clone();
    let was_disabled = record.disabled;
    record.password_phc = phc.clone();
    record.password_changed_at_ms = now_ms;
    record.must_change_password = true;
    record.failed_attempts = 0;
    record.last_failure_at_ms = None;
    record.totp_secret_b32 = None;
    record.totp_last_step = None;
    record.recovery_code_hashes.clear();
    record.disabled = false;
    let result: Result<(u64, u32), StoreError> = async {
        tx.update_operator(&record).await?;
        tx.push_password_history(&name, &phc, now_ms).await?;
        let ended = tx.delete_operator_sessions(&name).await?;
        let mut revoked = 0u32;
        for token in tx.api_tokens(&name).await? {
            if token.revoked_at_ms.is_none() && tx.revoke_api_token(&token.id_hash, now_ms).await? {
                revoked = revoked.saturating_add(1);
            }
        }
        audit_in(
            tx.as_mut(),
            now_ms,
            "host",
            "operator.break_glass",
            &name,
            json!({"sessionsEnded": ended, "tokensRevoked": revoked, "wasDisabled": was_disabled,
                   "reason": "host-level reset from the command line"}),
            "ok",
        )
        .await?;
        Ok((ended, revoked))
    }
    .await;
    result.map_err(|e| e.to_string())?;
    let path = reset_password_file(data_dir, &name);
    let _ = std::fs::remove_file(&path);
    crate::server::write_private(&path, &format!("{password}\n"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Err(error) = tx.commit().await {
        let _ = std::fs::remove_file(&path);
        return Err(error.to_string());
    }
    Ok(path)
}

/// What [`host_create_operator`] did.
#[derive(Debug, Clone)]
pub struct HostCreated {
    /// The operator's name.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// The file holding its one-time password (0600; deleted when the password is changed).
    pub password_file: PathBuf,
    /// How many enabled operators can approve now (with it).
    pub approvers: usize,
}

/// Creates an operator from the host (`ferroloop operator create`): the second, independent
/// channel of the bootstrap ceremony. The admin API accepts no maker/checker operation while
/// fewer than [`MIN_APPROVERS`] operators can approve, and the first administrator cannot make
/// the second one (that person would then check themselves); someone with access to the host
/// and its data directory does, here. The operator gets `roles` (built-in or custom, checked
/// like `POST /operators`, separation of duties included) and a one-time password in
/// [`reset_password_file`] (0600, never logged, deleted at the first password change); the
/// creation is in the audit chain (`operator.host_create`, actor `host`) in the same
/// transaction.
///
/// Safe while a hub runs on the same store: the password is hashed before the transaction,
/// and the transaction takes the store's write lock (SQLite `BEGIN IMMEDIATE`, across
/// processes) before it reads the audit head, so the hub's writer and this one append to the
/// chain one after the other; the hub reads operators from the store at every check, so it
/// counts the new approver at once.
pub async fn host_create_operator(
    store: &dyn ledger::LedgerStore,
    data_dir: &Path,
    name: &str,
    roles: &[String],
    now_ms: i64,
) -> Result<HostCreated, String> {
    crate::requests::check_operator_name(name).map_err(|e| e.description)?;
    crate::requests::check_role_names(roles).map_err(|e| e.description)?;
    let password = one_time_password().map_err(|e| e.description)?;
    let phc = hash_password(password.clone())
        .await
        .map_err(|e| e.description)?;
    let mut tx = store.begin().await.map_err(|e| e.to_string())?;
    let checked: Result<Result<usize, String>, StoreError> = async {
        if let Some(existing) = tx.operator(name).await? {
            return Ok(Err(format!(
                "an operator named {} already exists (to give it a new one-time password: \
                 ferroloop operator reset {})",
                existing.name, existing.name
            )));
        }
        if let Err(e) = crate::requests::check_roles(tx.as_mut(), roles).await? {
            return Ok(Err(e.description));
        }
        tx.insert_operator(&new_operator(name, phc.clone(), now_ms))
            .await?;
        tx.push_password_history(name, &phc, now_ms).await?;
        tx.set_operator_roles(name, roles).await?;
        let approvers = count_approvers(tx.as_mut()).await?;
        audit_in(
            tx.as_mut(),
            now_ms,
            "host",
            "operator.host_create",
            name,
            json!({"roles": roles, "approvers": approvers,
                   "oneTimePasswordFile": reset_password_file(Path::new(""), name),
                   "reason": "created from the host's command line"}),
            "ok",
        )
        .await?;
        Ok(Ok(approvers))
    }
    .await;
    let approvers = checked.map_err(|e| e.to_string())??;
    let path = reset_password_file(data_dir, name);
    let _ = std::fs::remove_file(&path);
    crate::server::write_private(&path, &format!("{password}\n"))
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Err(error) = tx.commit().await {
        let _ = std::fs::remove_file(&path);
        return Err(error.to_string());
    }
    Ok(HostCreated {
        name: name.to_string(),
        roles: roles.to_vec(),
        password_file: path,
        approvers,
    })
}
