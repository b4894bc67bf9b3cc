//! Role-based access control: permissions, roles, separation of duties, and the admin routes.
//!
//! Every operator operation of the admin API is one [`Permission`]; a role is a set of them
//! ([`PermissionSet`]). The five built-in roles are `const` tables ([`BuiltinRole`]); an
//! operator may define custom roles ([`CustomRole`]). A user's permissions are the union of
//! their roles'.
//!
//! **Separation of duties.** [`SOD_RULES`] lists pairs of permissions no single user may hold
//! together, each with its reason. [`check_assignment`] refuses a role assignment that would
//! give a user both halves of a pair (the hub calls it whenever roles are granted or a custom
//! role changes); [`check_action`] checks again at every action, so a rule added later also
//! stops users whose old assignment breaks it, and refuses a checker acting on their own
//! request.
//!
//! **Checkers.** Approving someone else's request needs [`Permission::RequestsApprove`] and
//! nothing else: the checker reviews the request's payload, they do not need to be able to
//! make it. Money makers (funds in, out and settle) may never be checkers (see [`SOD_RULES`]),
//! so every movement of money is seen by someone outside the finance desk.
//!
//! **Routes.** [`route_permission`] maps each admin route (method and axum path template) to
//! what it needs; a test reads `crates/hub/src/admin.rs` and fails when a route has no entry.

use std::fmt;
use std::str::FromStr;

use serde::Deserialize;
use serde::Deserializer;
use serde::Serialize;
use serde::Serializer;

/// One operator operation. The string form ([`Permission::as_str`]) is stable: it is stored
/// in role definitions, API token scopes and approval requests.
///
/// Variants follow the admin API's resources, then the IAM ones, rather than the alphabet: the
/// role matrix reads by resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Permission {
    /// List participants and read one (`GET /participants`, `GET /participants/{name}`).
    ParticipantsRead,
    /// Create a participant (`POST /participants`).
    ParticipantsCreate,
    /// Activate or deactivate a participant (`PUT /participants/{name}`).
    ParticipantsUpdate,
    /// Read a participant's callback endpoints.
    EndpointsRead,
    /// Set a participant's callback endpoint.
    EndpointsSet,
    /// Read a participant's limits (net debit cap).
    LimitsRead,
    /// Set a participant's limit.
    LimitsSet,
    /// Set a participant's initial position and limits (onboarding).
    InitialPositionSet,
    /// Read a participant's accounts.
    AccountsRead,
    /// Create a participant's accounts for a currency.
    AccountsCreate,
    /// Activate or deactivate an account.
    AccountsUpdate,
    /// Record funds in (`recordFundsIn`).
    FundsIn,
    /// Reserve funds out (`recordFundsOutPrepareReserve`).
    FundsOut,
    /// Commit or abort a reserved funds out (`recordFundsOutCommit`/`Abort`).
    FundsSettle,
    /// Read a participant's positions.
    PositionsRead,
    /// Read a transfer.
    TransfersRead,
    /// Read the audit log.
    AuditRead,
    /// Export the audit log (evidence for regulators and auditors).
    AuditExport,
    /// Read the callback delivery log.
    DeliveriesRead,
    /// List a participant's JWS keys.
    JwsKeysRead,
    /// Add a JWS key for a participant.
    JwsKeysAdd,
    /// Retire a participant's JWS key.
    JwsKeysRetire,
    /// Read a participant's TLS settings (key pin).
    ParticipantTlsRead,
    /// Set a participant's TLS settings (key pin).
    ParticipantTlsSet,
    /// Reload the FSPIOP listener's TLS material (certificate, trust store, CRL).
    TlsReload,
    /// Read the hub's public JWS key.
    HubKeyRead,
    /// Create, change, disable operator accounts and assign their roles.
    UsersManage,
    /// Define and change custom roles.
    RolesManage,
    /// Approve or reject other operators' pending requests (maker/checker).
    RequestsApprove,
    /// Change the password, session and approval policies.
    PolicyManage,
    /// Read operators, roles and the IAM policy (`GET /operators`, `/roles`, `/policy`).
    IamRead,
}

impl Permission {
    /// Every permission, in declaration order (`ALL[p as usize] == p`).
    pub const ALL: [Permission; 31] = [
        Self::ParticipantsRead,
        Self::ParticipantsCreate,
        Self::ParticipantsUpdate,
        Self::EndpointsRead,
        Self::EndpointsSet,
        Self::LimitsRead,
        Self::LimitsSet,
        Self::InitialPositionSet,
        Self::AccountsRead,
        Self::AccountsCreate,
        Self::AccountsUpdate,
        Self::FundsIn,
        Self::FundsOut,
        Self::FundsSettle,
        Self::PositionsRead,
        Self::TransfersRead,
        Self::AuditRead,
        Self::AuditExport,
        Self::DeliveriesRead,
        Self::JwsKeysRead,
        Self::JwsKeysAdd,
        Self::JwsKeysRetire,
        Self::ParticipantTlsRead,
        Self::ParticipantTlsSet,
        Self::TlsReload,
        Self::HubKeyRead,
        Self::UsersManage,
        Self::RolesManage,
        Self::RequestsApprove,
        Self::PolicyManage,
        Self::IamRead,
    ];

    /// The stable name, `resource.action`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ParticipantsRead => "participants.read",
            Self::ParticipantsCreate => "participants.create",
            Self::ParticipantsUpdate => "participants.update",
            Self::EndpointsRead => "endpoints.read",
            Self::EndpointsSet => "endpoints.set",
            Self::LimitsRead => "limits.read",
            Self::LimitsSet => "limits.set",
            Self::InitialPositionSet => "initial_position.set",
            Self::AccountsRead => "accounts.read",
            Self::AccountsCreate => "accounts.create",
            Self::AccountsUpdate => "accounts.update",
            Self::FundsIn => "funds.in",
            Self::FundsOut => "funds.out",
            Self::FundsSettle => "funds.settle",
            Self::PositionsRead => "positions.read",
            Self::TransfersRead => "transfers.read",
            Self::AuditRead => "audit.read",
            Self::AuditExport => "audit.export",
            Self::DeliveriesRead => "deliveries.read",
            Self::JwsKeysRead => "jws_keys.read",
            Self::JwsKeysAdd => "jws_keys.add",
            Self::JwsKeysRetire => "jws_keys.retire",
            Self::ParticipantTlsRead => "participant_tls.read",
            Self::ParticipantTlsSet => "participant_tls.set",
            Self::TlsReload => "tls.reload",
            Self::HubKeyRead => "hub_key.read",
            Self::UsersManage => "users.manage",
            Self::RolesManage => "roles.manage",
            Self::RequestsApprove => "requests.approve",
            Self::PolicyManage => "policy.manage",
            Self::IamRead => "iam.read",
        }
    }

    /// Whether the permission only reads.
    pub const fn is_read_only(self) -> bool {
        matches!(
            self,
            Self::ParticipantsRead
                | Self::EndpointsRead
                | Self::LimitsRead
                | Self::AccountsRead
                | Self::PositionsRead
                | Self::TransfersRead
                | Self::AuditRead
                | Self::DeliveriesRead
                | Self::JwsKeysRead
                | Self::ParticipantTlsRead
                | Self::HubKeyRead
                | Self::IamRead
        )
    }

    const fn bit(self) -> u64 {
        1 << (self as u8)
    }
}

/// `Display`, `FromStr` and serde for an enum named by its stable `as_str` form (one of `ALL`).
macro_rules! named_by_str {
    ($type:ty) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $type {
            type Err = UnknownName;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .into_iter()
                    .find(|value| value.as_str() == name)
                    .ok_or_else(|| UnknownName(name.to_owned()))
            }
        }

        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = String::deserialize(deserializer)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

named_by_str!(Permission);

/// A set of permissions (a bit set: cheap to copy, usable in `const` tables). Serialises as the
/// list of permission names, in [`Permission::ALL`] order.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct PermissionSet(u64);

impl PermissionSet {
    /// No permission.
    pub const EMPTY: Self = Self(0);
    /// Every permission.
    pub const ALL: Self = Self::of(&Permission::ALL);

    /// The set of the given permissions.
    pub const fn of(permissions: &[Permission]) -> Self {
        let mut bits = 0;
        let mut rest = permissions;
        while let [first, tail @ ..] = rest {
            bits |= first.bit();
            rest = tail;
        }
        Self(bits)
    }

    /// Whether `permission` is in the set.
    pub const fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    /// The set with `permission` added.
    pub const fn with(self, permission: Permission) -> Self {
        Self(self.0 | permission.bit())
    }

    /// The set with `permission` removed.
    pub const fn without(self, permission: Permission) -> Self {
        Self(self.0 & !permission.bit())
    }

    /// Permissions in either set.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Permissions in both sets (an API token's scopes within its owner's permissions).
    pub const fn intersection(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    /// Whether every permission of `self` is in `other`.
    pub const fn is_subset(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    /// Whether the set is empty.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// How many permissions the set holds.
    pub const fn len(self) -> usize {
        self.0.count_ones() as usize
    }

    /// The permissions, in [`Permission::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL
            .into_iter()
            .filter(move |permission| self.contains(*permission))
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        iter.into_iter().fold(Self::EMPTY, Self::with)
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Permission::as_str))
            .finish()
    }
}

impl Serialize for PermissionSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for PermissionSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Permission>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// The built-in roles. Their permissions are fixed in code ([`BuiltinRole::permissions`]) and
/// satisfy every [`SOD_RULES`] pair (tested).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BuiltinRole {
    /// Runs the hub: onboards participants and configures their endpoints, accounts, keys and
    /// TLS; manages operator accounts; approves requests. No money movements, no limits.
    HubAdministrator,
    /// The finance desk: funds in and out, settlement of funds out, limits and initial
    /// positions. Never a checker.
    FinanceManager,
    /// Day-to-day operations: reads everything operational, reloads TLS material.
    Operator,
    /// Owns the security policies and custom roles, exports the audit log, approves requests.
    /// Does not manage operator accounts.
    SecurityOfficer,
    /// Read-only, including audit export.
    Auditor,
    /// An onboarding or operations pipeline (through an API token): participants, endpoints,
    /// limits, accounts, money movements, keys and TLS settings — as a maker only. Never a
    /// checker, never user, role or policy administration.
    Integration,
}

impl BuiltinRole {
    /// Every built-in role.
    pub const ALL: [BuiltinRole; 6] = [
        Self::HubAdministrator,
        Self::FinanceManager,
        Self::Operator,
        Self::SecurityOfficer,
        Self::Auditor,
        Self::Integration,
    ];

    /// The stable name, as stored in user records.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::HubAdministrator => "hub-administrator",
            Self::FinanceManager => "finance-manager",
            Self::Operator => "operator",
            Self::SecurityOfficer => "security-officer",
            Self::Auditor => "auditor",
            Self::Integration => "integration",
        }
    }

    /// The role's permissions.
    pub const fn permissions(self) -> PermissionSet {
        match self {
            Self::HubAdministrator => HUB_ADMINISTRATOR,
            Self::FinanceManager => FINANCE_MANAGER,
            Self::Operator => OPERATOR,
            Self::SecurityOfficer => SECURITY_OFFICER,
            Self::Auditor => AUDITOR,
            Self::Integration => INTEGRATION,
        }
    }
}

named_by_str!(BuiltinRole);

/// A role defined by an operator: a name and a permission set. Build it with
/// [`CustomRole::new`], which refuses names of built-in roles and permission sets that break
/// separation of duties on their own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRole {
    name: String,
    permissions: PermissionSet,
}

impl CustomRole {
    /// A custom role. The name is 1 to 64 characters of `a-z`, `0-9`, `-`, `_` and `.`, and is
    /// not a built-in role's name; the permission set is not empty and breaks no
    /// [`SOD_RULES`] pair by itself.
    pub fn new(name: &str, permissions: PermissionSet) -> Result<Self, RoleError> {
        let valid = (1..=MAX_ROLE_NAME_LEN).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_.".contains(&b));
        if !valid {
            return Err(RoleError::InvalidName(name.to_owned()));
        }
        if name.parse::<BuiltinRole>().is_ok() {
            return Err(RoleError::ReservedName(name.to_owned()));
        }
        if permissions.is_empty() {
            return Err(RoleError::Empty);
        }
        check_permissions(permissions).map_err(RoleError::Sod)?;
        Ok(Self {
            name: name.to_owned(),
            permissions,
        })
    }

    /// The role's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The role's permissions.
    pub fn permissions(&self) -> PermissionSet {
        self.permissions
    }
}

/// A role a user holds: built-in or custom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// A built-in role.
    Builtin(BuiltinRole),
    /// An operator-defined role.
    Custom(CustomRole),
}

impl Role {
    /// The role's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Builtin(role) => role.as_str(),
            Self::Custom(role) => role.name(),
        }
    }

    /// The role's permissions.
    pub fn permissions(&self) -> PermissionSet {
        match self {
            Self::Builtin(role) => role.permissions(),
            Self::Custom(role) => role.permissions(),
        }
    }
}

impl From<BuiltinRole> for Role {
    fn from(role: BuiltinRole) -> Self {
        Self::Builtin(role)
    }
}

impl From<CustomRole> for Role {
    fn from(role: CustomRole) -> Self {
        Self::Custom(role)
    }
}

/// Two permissions no single user may hold together, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SodRule {
    /// One half of the pair.
    pub first: Permission,
    /// The other half.
    pub second: Permission,
    /// Why they are kept apart, for the operator who is refused.
    pub reason: &'static str,
}

/// The separation-of-duties rules.
pub const SOD_RULES: &[SodRule] = &[
    SodRule {
        first: Permission::FundsIn,
        second: Permission::RequestsApprove,
        reason: "whoever records money coming in must not also be a checker, or two finance \
                 operators could approve each other's movements with no one else looking",
    },
    SodRule {
        first: Permission::FundsOut,
        second: Permission::RequestsApprove,
        reason: "whoever reserves money going out must not also be a checker, or two finance \
                 operators could approve each other's movements with no one else looking",
    },
    SodRule {
        first: Permission::FundsSettle,
        second: Permission::RequestsApprove,
        reason: "whoever commits money going out must not also be a checker, or two finance \
                 operators could approve each other's movements with no one else looking",
    },
    SodRule {
        first: Permission::UsersManage,
        second: Permission::AuditExport,
        reason: "whoever administers operator accounts must not also produce the audit \
                 evidence that reviews those accounts' actions",
    },
    SodRule {
        first: Permission::UsersManage,
        second: Permission::RolesManage,
        reason: "defining what a role may do and granting roles to people are split, so no one \
                 can both craft a powerful role and hand it out",
    },
    SodRule {
        first: Permission::UsersManage,
        second: Permission::PolicyManage,
        reason: "whoever administers operator accounts must not also relax the password, \
                 session and approval rules those accounts are held to",
    },
];

/// Checks that the union of `roles` holds no [`SOD_RULES`] pair. The hub calls it before it
/// grants a role to a user (with all the roles the user would then hold) and before it changes
/// a custom role (for every user holding it).
pub fn check_assignment(roles: &[Role]) -> Result<(), SodViolation> {
    check_permissions(permissions_of(roles))
}

/// Checks that a permission set holds no [`SOD_RULES`] pair; returns the first broken rule.
pub fn check_permissions(permissions: PermissionSet) -> Result<(), SodViolation> {
    match SOD_RULES
        .iter()
        .find(|rule| permissions.contains(rule.first) && permissions.contains(rule.second))
    {
        Some(rule) => Err(SodViolation { rule: *rule }),
        None => Ok(()),
    }
}

/// The union of the roles' permissions.
pub fn permissions_of(roles: &[Role]) -> PermissionSet {
    roles.iter().fold(PermissionSet::EMPTY, |set, role| {
        set.union(role.permissions())
    })
}

/// Whether `user`, holding `user_roles`, may perform `permission` now.
///
/// `maker` is the maker of the request the user acts on *as a checker* (approving or rejecting
/// it): a user is never the checker of their own request. Pass `None` for ordinary actions.
/// The roles are checked against [`SOD_RULES`] again, so an assignment that slipped through,
/// or predates a rule, does not work. User names are compared exactly: the hub passes its
/// canonical user ids.
pub fn check_action(
    user_roles: &[Role],
    permission: Permission,
    maker: Option<&str>,
    user: &str,
) -> Result<(), ActionDenied> {
    let permissions = permissions_of(user_roles);
    check_permissions(permissions).map_err(ActionDenied::Sod)?;
    if !permissions.contains(permission) {
        return Err(ActionDenied::MissingPermission(permission));
    }
    if maker == Some(user) {
        return Err(ActionDenied::OwnRequest);
    }
    Ok(())
}

/// What an admin route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoutePermission {
    /// This one permission.
    Fixed(Permission),
    /// `POST /participants/{name}/accounts/{id}`: [`Permission::FundsIn`] or
    /// [`Permission::FundsOut`], depending on the body's `action`. The route layer lets
    /// through a user holding either ([`RoutePermission::candidates`]); the handler must then
    /// check [`funds_action_permission`] for the action it parsed.
    ByFundsAction,
    /// Any authenticated operator: their own session, password, MFA and API tokens, and the
    /// list of maker/checker requests. Such a route checks in its handler what is the caller's
    /// own (a request's maker may withdraw it).
    AnyOperator,
}

impl RoutePermission {
    /// The permissions of which the user must hold at least one to pass the route layer.
    pub const fn candidates(self) -> PermissionSet {
        match self {
            Self::Fixed(permission) => PermissionSet::of(&[permission]),
            Self::ByFundsAction => PermissionSet::of(&[Permission::FundsIn, Permission::FundsOut]),
            Self::AnyOperator => PermissionSet::EMPTY,
        }
    }
}

/// What the admin route `method path_template` needs, where `path_template` is axum's
/// (`MatchedPath`, e.g. `/participants/{name}/limits`). `HEAD` is treated as `GET`.
/// `None` for a route that is not in the table: the hub must refuse it (routes that need no
/// authentication are listed in [`PUBLIC_ADMIN_ROUTES`] instead).
pub fn route_permission(method: &str, path_template: &str) -> Option<RoutePermission> {
    let method = if method.eq_ignore_ascii_case("HEAD") {
        "GET"
    } else {
        method
    };
    ADMIN_ROUTES
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path_template)
        .map(|(_, _, rule)| *rule)
}

/// The permission a funds `action` of the admin API needs (`recordFundsIn`,
/// `recordFundsOutPrepareReserve`, `recordFundsOutCommit`, `recordFundsOutAbort`).
pub fn funds_action_permission(action: &str) -> Option<Permission> {
    match action {
        "recordFundsIn" => Some(Permission::FundsIn),
        "recordFundsOutPrepareReserve" => Some(Permission::FundsOut),
        "recordFundsOutCommit" | "recordFundsOutAbort" => Some(Permission::FundsSettle),
        _ => None,
    }
}

/// Every authenticated admin route: method, axum path template, what it needs.
pub const ADMIN_ROUTES: &[(&str, &str, RoutePermission)] = {
    use Permission as P;
    use RoutePermission::AnyOperator as A;
    use RoutePermission::Fixed as F;
    &[
        ("GET", "/participants", F(P::ParticipantsRead)),
        ("POST", "/participants", F(P::ParticipantsCreate)),
        ("GET", "/participants/{name}", F(P::ParticipantsRead)),
        ("PUT", "/participants/{name}", F(P::ParticipantsUpdate)),
        ("GET", "/participants/{name}/endpoints", F(P::EndpointsRead)),
        ("POST", "/participants/{name}/endpoints", F(P::EndpointsSet)),
        (
            "POST",
            "/participants/{name}/initialPositionAndLimits",
            F(P::InitialPositionSet),
        ),
        ("GET", "/participants/{name}/limits", F(P::LimitsRead)),
        ("PUT", "/participants/{name}/limits", F(P::LimitsSet)),
        ("GET", "/participants/{name}/accounts", F(P::AccountsRead)),
        (
            "POST",
            "/participants/{name}/accounts",
            F(P::AccountsCreate),
        ),
        (
            "POST",
            "/participants/{name}/accounts/{id}",
            RoutePermission::ByFundsAction,
        ),
        (
            "PUT",
            "/participants/{name}/accounts/{id}",
            F(P::AccountsUpdate),
        ),
        (
            "PUT",
            "/participants/{name}/accounts/{id}/transfers/{transfer_id}",
            F(P::FundsSettle),
        ),
        ("GET", "/participants/{name}/positions", F(P::PositionsRead)),
        ("GET", "/participants/{name}/jwsKeys", F(P::JwsKeysRead)),
        ("POST", "/participants/{name}/jwsKeys", F(P::JwsKeysAdd)),
        (
            "DELETE",
            "/participants/{name}/jwsKeys/{fingerprint}",
            F(P::JwsKeysRetire),
        ),
        ("GET", "/participants/{name}/tls", F(P::ParticipantTlsRead)),
        ("PUT", "/participants/{name}/tls", F(P::ParticipantTlsSet)),
        (
            "GET",
            "/participants/{name}/certificates",
            F(P::ParticipantTlsRead),
        ),
        (
            "POST",
            "/participants/{name}/certificates",
            F(P::ParticipantTlsSet),
        ),
        (
            "DELETE",
            "/participants/{name}/certificates/{serial}",
            F(P::ParticipantTlsSet),
        ),
        ("GET", "/hub/jwsKey", F(P::HubKeyRead)),
        ("POST", "/tls/reload", F(P::TlsReload)),
        ("GET", "/transfers/{id}", F(P::TransfersRead)),
        ("GET", "/audit", F(P::AuditRead)),
        ("GET", "/deliveries", F(P::DeliveriesRead)),
        ("GET", "/audit/export", F(P::AuditExport)),
        ("POST", "/auth/logout", A),
        ("GET", "/auth/me", A),
        ("POST", "/auth/password", A),
        ("POST", "/auth/mfa/enrol", A),
        ("POST", "/auth/mfa/confirm", A),
        ("POST", "/auth/mfa", A),
        ("GET", "/auth/tokens", A),
        ("POST", "/auth/tokens", A),
        ("DELETE", "/auth/tokens/{id}", A),
        ("GET", "/operators", F(P::IamRead)),
        ("POST", "/operators", F(P::UsersManage)),
        ("PUT", "/operators/{name}", F(P::UsersManage)),
        ("PUT", "/operators/{name}/roles", F(P::UsersManage)),
        ("POST", "/operators/{name}/reset", F(P::UsersManage)),
        ("GET", "/roles", F(P::IamRead)),
        ("POST", "/roles", F(P::RolesManage)),
        ("DELETE", "/roles/{name}", F(P::RolesManage)),
        ("GET", "/policy", F(P::IamRead)),
        ("PUT", "/policy", F(P::PolicyManage)),
        ("GET", "/requests", A),
        ("GET", "/requests/{id}", A),
        ("POST", "/requests/{id}/approve", F(P::RequestsApprove)),
        ("POST", "/requests/{id}/reject", A),
    ]
};

/// Admin routes served without authentication (method, path template).
pub const PUBLIC_ADMIN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/openapi.json"),
    ("POST", "/auth/login"),
];

/// A role assignment or a permission set that breaks a separation-of-duties rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} and {} cannot be held by the same user: {}",
    rule.first,
    rule.second,
    rule.reason
)]
pub struct SodViolation {
    /// The rule that is broken.
    pub rule: SodRule,
}

/// Why [`check_action`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionDenied {
    /// None of the user's roles grants the permission.
    #[error("your roles do not allow {0}")]
    MissingPermission(Permission),
    /// The user is the maker of the request they try to check.
    #[error("you cannot approve or reject your own request")]
    OwnRequest,
    /// The user's roles together break a separation-of-duties rule.
    #[error("{0}")]
    Sod(SodViolation),
}

/// Why [`CustomRole::new`] refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RoleError {
    /// The name is empty, too long or uses other characters.
    #[error(
        "role name {0:?} must be 1 to 64 characters of lower-case letters, digits, '-', '_', '.'"
    )]
    InvalidName(String),
    /// The name is a built-in role's.
    #[error("role name {0:?} is taken by a built-in role")]
    ReservedName(String),
    /// No permission at all.
    #[error("a role needs at least one permission")]
    Empty,
    /// The permissions break a separation-of-duties rule by themselves.
    #[error("{0}")]
    Sod(SodViolation),
}

/// A name that is not a known permission or role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown name {0:?}")]
pub struct UnknownName(pub String);

const MAX_ROLE_NAME_LEN: usize = 64;

const _: () = assert!(Permission::ALL.len() <= u64::BITS as usize);

const HUB_ADMINISTRATOR: PermissionSet = {
    use Permission as P;
    PermissionSet::of(&[
        P::ParticipantsRead,
        P::ParticipantsCreate,
        P::ParticipantsUpdate,
        P::EndpointsRead,
        P::EndpointsSet,
        P::LimitsRead,
        P::AccountsRead,
        P::AccountsCreate,
        P::AccountsUpdate,
        P::PositionsRead,
        P::TransfersRead,
        P::AuditRead,
        P::DeliveriesRead,
        P::JwsKeysRead,
        P::JwsKeysAdd,
        P::JwsKeysRetire,
        P::ParticipantTlsRead,
        P::ParticipantTlsSet,
        P::TlsReload,
        P::HubKeyRead,
        P::UsersManage,
        P::RequestsApprove,
        P::IamRead,
    ])
};

const FINANCE_MANAGER: PermissionSet = {
    use Permission as P;
    PermissionSet::of(&[
        P::ParticipantsRead,
        P::LimitsRead,
        P::LimitsSet,
        P::InitialPositionSet,
        P::AccountsRead,
        P::FundsIn,
        P::FundsOut,
        P::FundsSettle,
        P::PositionsRead,
        P::TransfersRead,
        P::AuditRead,
    ])
};

const OPERATOR: PermissionSet = {
    use Permission as P;
    PermissionSet::of(&[
        P::ParticipantsRead,
        P::EndpointsRead,
        P::LimitsRead,
        P::AccountsRead,
        P::PositionsRead,
        P::TransfersRead,
        P::AuditRead,
        P::DeliveriesRead,
        P::JwsKeysRead,
        P::ParticipantTlsRead,
        P::TlsReload,
        P::HubKeyRead,
    ])
};

const SECURITY_OFFICER: PermissionSet = {
    use Permission as P;
    PermissionSet::of(&[
        P::ParticipantsRead,
        P::AuditRead,
        P::AuditExport,
        P::DeliveriesRead,
        P::JwsKeysRead,
        P::ParticipantTlsRead,
        P::HubKeyRead,
        P::RolesManage,
        P::RequestsApprove,
        P::PolicyManage,
        P::IamRead,
    ])
};

const AUDITOR: PermissionSet = {
    use Permission as P;
    PermissionSet::of(&[
        P::ParticipantsRead,
        P::EndpointsRead,
        P::LimitsRead,
        P::AccountsRead,
        P::PositionsRead,
        P::TransfersRead,
        P::AuditRead,
        P::AuditExport,
        P::DeliveriesRead,
        P::JwsKeysRead,
        P::ParticipantTlsRead,
        P::HubKeyRead,
        P::IamRead,
    ])
};

/// What [`BuiltinRole::Integration`] holds: everything operational a pipeline does, as a maker.
const INTEGRATION: PermissionSet = {
    use Permission as P;
    PermissionSet::of(&[
        P::ParticipantsRead,
        P::ParticipantsCreate,
        P::ParticipantsUpdate,
        P::EndpointsRead,
        P::EndpointsSet,
        P::LimitsRead,
        P::LimitsSet,
        P::InitialPositionSet,
        P::AccountsRead,
        P::AccountsCreate,
        P::AccountsUpdate,
        P::FundsIn,
        P::FundsOut,
        P::FundsSettle,
        P::PositionsRead,
        P::TransfersRead,
        P::AuditRead,
        P::DeliveriesRead,
        P::JwsKeysRead,
        P::JwsKeysAdd,
        P::JwsKeysRetire,
        P::ParticipantTlsRead,
        P::ParticipantTlsSet,
        P::TlsReload,
        P::HubKeyRead,
    ])
};

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The role × permission matrix, as a reviewer reads it. A change to a role table must
    /// change this snapshot too, deliberately. Columns: HA hub-administrator, FM
    /// finance-manager, OP operator, SO security-officer, AU auditor, IN integration.
    const EXPECTED_MATRIX: &str = "\
permission            HA FM OP SO AU IN
participants.read     x  x  x  x  x  x
participants.create   x  .  .  .  .  x
participants.update   x  .  .  .  .  x
endpoints.read        x  .  x  .  x  x
endpoints.set         x  .  .  .  .  x
limits.read           x  x  x  .  x  x
limits.set            .  x  .  .  .  x
initial_position.set  .  x  .  .  .  x
accounts.read         x  x  x  .  x  x
accounts.create       x  .  .  .  .  x
accounts.update       x  .  .  .  .  x
funds.in              .  x  .  .  .  x
funds.out             .  x  .  .  .  x
funds.settle          .  x  .  .  .  x
positions.read        x  x  x  .  x  x
transfers.read        x  x  x  .  x  x
audit.read            x  x  x  x  x  x
audit.export          .  .  .  x  x  .
deliveries.read       x  .  x  x  x  x
jws_keys.read         x  .  x  x  x  x
jws_keys.add          x  .  .  .  .  x
jws_keys.retire       x  .  .  .  .  x
participant_tls.read  x  .  x  x  x  x
participant_tls.set   x  .  .  .  .  x
tls.reload            x  .  x  .  .  x
hub_key.read          x  .  x  x  x  x
users.manage          x  .  .  .  .  .
roles.manage          .  .  .  x  .  .
requests.approve      x  .  .  x  .  .
policy.manage         .  .  .  x  .  .
iam.read              x  .  .  x  x  .
";

    fn render_matrix() -> String {
        let mut out = String::from("permission            HA FM OP SO AU IN\n");
        for permission in Permission::ALL {
            let mut line = format!("{:<22}", permission.as_str());
            for role in BuiltinRole::ALL {
                let mark = if role.permissions().contains(permission) {
                    "x"
                } else {
                    "."
                };
                line.push_str(mark);
                line.push_str("  ");
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }

    #[test]
    fn role_permission_matrix_matches_the_snapshot() {
        assert_eq!(render_matrix(), EXPECTED_MATRIX);
    }

    #[test]
    fn permission_table_is_complete_and_names_round_trip() {
        for (index, permission) in Permission::ALL.into_iter().enumerate() {
            assert_eq!(permission as usize, index, "ALL is in declaration order");
            assert_eq!(permission.as_str().parse(), Ok(permission));
            assert_eq!(permission.to_string(), permission.as_str());
        }
        // The last variant closes the list, so a variant added at the end without an ALL entry
        // shows up here.
        assert_eq!(Permission::IamRead as usize + 1, Permission::ALL.len());
        let names: BTreeSet<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
        assert_eq!(names.len(), Permission::ALL.len(), "names are unique");
        assert!("funds.steal".parse::<Permission>().is_err());
        for role in BuiltinRole::ALL {
            assert_eq!(role.as_str().parse(), Ok(role));
        }
    }

    #[test]
    fn permission_set_operations() {
        let set = PermissionSet::of(&[Permission::FundsIn, Permission::AuditRead]);
        assert!(set.contains(Permission::FundsIn));
        assert!(!set.contains(Permission::FundsOut));
        assert_eq!(set.len(), 2);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            [Permission::FundsIn, Permission::AuditRead]
        );
        assert_eq!(set.without(Permission::FundsIn).len(), 1);
        assert!(set.is_subset(PermissionSet::ALL));
        assert!(!PermissionSet::ALL.is_subset(set));
        assert_eq!(PermissionSet::ALL.len(), Permission::ALL.len());
        assert_eq!(
            set.intersection(PermissionSet::of(&[Permission::AuditRead])),
            PermissionSet::of(&[Permission::AuditRead])
        );
        let json = serde_json::to_string(&set).expect("serialise");
        assert_eq!(json, r#"["funds.in","audit.read"]"#);
        assert_eq!(
            serde_json::from_str::<PermissionSet>(&json).expect("parse"),
            set
        );
        assert!(serde_json::from_str::<PermissionSet>(r#"["funds.steal"]"#).is_err());
    }

    #[test]
    fn every_builtin_role_satisfies_separation_of_duties() {
        for role in BuiltinRole::ALL {
            assert_eq!(check_assignment(&[role.into()]), Ok(()), "{role}");
        }
    }

    #[test]
    fn every_sod_rule_is_enforced_on_assignment() {
        for rule in SOD_RULES {
            let both = PermissionSet::of(&[rule.first, rule.second]);
            let violation = check_permissions(both).expect_err("refused");
            assert_eq!(violation.rule, *rule);
            assert!(violation.to_string().contains(rule.reason));
            // Either half alone is fine.
            assert_eq!(check_permissions(PermissionSet::of(&[rule.first])), Ok(()));
            assert_eq!(check_permissions(PermissionSet::of(&[rule.second])), Ok(()));
            assert_ne!(rule.first, rule.second);
        }
    }

    #[test]
    fn conflicting_builtin_role_combinations_are_refused() {
        use BuiltinRole::*;
        let refused = |roles: &[BuiltinRole]| {
            let roles: Vec<Role> = roles.iter().map(|r| (*r).into()).collect();
            check_assignment(&roles).map_err(|v| (v.rule.first, v.rule.second))
        };
        assert_eq!(
            refused(&[FinanceManager, HubAdministrator]),
            Err((Permission::FundsIn, Permission::RequestsApprove))
        );
        assert_eq!(
            refused(&[FinanceManager, SecurityOfficer]),
            Err((Permission::FundsIn, Permission::RequestsApprove))
        );
        assert_eq!(
            refused(&[HubAdministrator, Auditor]),
            Err((Permission::UsersManage, Permission::AuditExport))
        );
        assert_eq!(
            refused(&[HubAdministrator, SecurityOfficer]),
            Err((Permission::UsersManage, Permission::AuditExport))
        );
        assert_eq!(refused(&[FinanceManager, Auditor, Operator]), Ok(()));
        assert_eq!(refused(&[SecurityOfficer, Auditor, Operator]), Ok(()));
        assert_eq!(refused(&[]), Ok(()));
    }

    #[test]
    fn custom_roles_are_validated() {
        let readers = PermissionSet::of(&[Permission::AuditRead, Permission::TransfersRead]);
        let role = CustomRole::new("finance-checker.eu_1", readers).expect("valid");
        assert_eq!(role.name(), "finance-checker.eu_1");
        assert_eq!(Role::from(role.clone()).permissions(), readers);
        assert!(matches!(
            CustomRole::new("", readers),
            Err(RoleError::InvalidName(_))
        ));
        assert!(matches!(
            CustomRole::new("Admins", readers),
            Err(RoleError::InvalidName(_))
        ));
        assert!(matches!(
            CustomRole::new(&"x".repeat(65), readers),
            Err(RoleError::InvalidName(_))
        ));
        assert!(matches!(
            CustomRole::new("auditor", readers),
            Err(RoleError::ReservedName(_))
        ));
        assert_eq!(
            CustomRole::new("nothing", PermissionSet::EMPTY),
            Err(RoleError::Empty)
        );
        let toxic = PermissionSet::of(&[Permission::FundsOut, Permission::RequestsApprove]);
        assert!(matches!(
            CustomRole::new("toxic", toxic),
            Err(RoleError::Sod(_))
        ));
        // A custom role can still conflict with another role of the same user.
        let approver = CustomRole::new(
            "approver",
            PermissionSet::of(&[Permission::RequestsApprove]),
        )
        .expect("valid alone");
        assert!(check_assignment(&[approver.into(), BuiltinRole::FinanceManager.into()]).is_err());
    }

    #[test]
    fn check_action_needs_the_permission_and_refuses_own_requests() {
        let admin = [Role::from(BuiltinRole::HubAdministrator)];
        let auditor = [Role::from(BuiltinRole::Auditor)];
        assert_eq!(
            check_action(&admin, Permission::ParticipantsCreate, None, "alice"),
            Ok(())
        );
        assert_eq!(
            check_action(&auditor, Permission::ParticipantsCreate, None, "alice"),
            Err(ActionDenied::MissingPermission(
                Permission::ParticipantsCreate
            ))
        );
        assert_eq!(
            check_action(&admin, Permission::RequestsApprove, Some("bob"), "alice"),
            Ok(())
        );
        assert_eq!(
            check_action(&admin, Permission::RequestsApprove, Some("alice"), "alice"),
            Err(ActionDenied::OwnRequest)
        );
        // No roles, no permissions.
        assert_eq!(
            check_action(&[], Permission::AuditRead, None, "alice"),
            Err(ActionDenied::MissingPermission(Permission::AuditRead))
        );
    }

    #[test]
    fn check_action_refuses_a_conflicting_assignment_even_for_harmless_actions() {
        let roles = [
            Role::from(BuiltinRole::FinanceManager),
            Role::from(BuiltinRole::SecurityOfficer),
        ];
        assert!(matches!(
            check_action(&roles, Permission::AuditRead, None, "alice"),
            Err(ActionDenied::Sod(_))
        ));
    }

    #[test]
    fn funds_actions_map_to_their_permissions() {
        assert_eq!(
            funds_action_permission("recordFundsIn"),
            Some(Permission::FundsIn)
        );
        assert_eq!(
            funds_action_permission("recordFundsOutPrepareReserve"),
            Some(Permission::FundsOut)
        );
        assert_eq!(
            funds_action_permission("recordFundsOutCommit"),
            Some(Permission::FundsSettle)
        );
        assert_eq!(
            funds_action_permission("recordFundsOutAbort"),
            Some(Permission::FundsSettle)
        );
        assert_eq!(funds_action_permission("recordFundsOut"), None);
        assert_eq!(
            RoutePermission::ByFundsAction.candidates(),
            PermissionSet::of(&[Permission::FundsIn, Permission::FundsOut])
        );
    }

    #[test]
    fn route_lookup() {
        assert_eq!(
            route_permission("GET", "/participants/{name}/limits"),
            Some(RoutePermission::Fixed(Permission::LimitsRead))
        );
        assert_eq!(
            route_permission("head", "/participants/{name}/limits"),
            Some(RoutePermission::Fixed(Permission::LimitsRead))
        );
        assert_eq!(
            route_permission("put", "/participants/{name}/limits"),
            Some(RoutePermission::Fixed(Permission::LimitsSet))
        );
        assert_eq!(
            route_permission("DELETE", "/participants/{name}/limits"),
            None
        );
        assert_eq!(route_permission("GET", "/participants/alice/limits"), None);
        assert_eq!(route_permission("GET", "/health"), None);
    }

    /// The goal: a route added to the hub's admin router without a permission fails the build
    /// of this test. Method: read `crates/hub/src/admin.rs`, take every `.route(` call with its
    /// path literal and the method routers (`get(`, `post(`, `put(`, `delete(`, `patch(`)
    /// chained in it, and compare with the tables in both directions.
    #[test]
    fn every_admin_route_of_the_hub_has_a_permission() {
        let source = include_str!("../../hub/src/admin.rs");
        let served = parse_routes(source);
        assert!(served.len() >= 20, "parsed only {served:?}");
        let public: BTreeSet<(String, String)> = PUBLIC_ADMIN_ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        for (method, path) in &served {
            let known = route_permission(method, path).is_some()
                || public.contains(&(method.clone(), path.clone()));
            assert!(
                known,
                "{method} {path} is served by crates/hub/src/admin.rs but has no entry in \
                 iam::rbac::ADMIN_ROUTES (or PUBLIC_ADMIN_ROUTES)"
            );
        }
        for (method, path, _) in ADMIN_ROUTES {
            assert!(
                served.contains(&(method.to_string(), path.to_string())),
                "iam::rbac::ADMIN_ROUTES lists {method} {path}, which the hub no longer serves"
            );
        }
        let unique: BTreeSet<_> = ADMIN_ROUTES.iter().map(|(m, p, _)| (m, p)).collect();
        assert_eq!(unique.len(), ADMIN_ROUTES.len(), "no route listed twice");
    }

    /// The published operator API (`crates/hub/openapi/admin.json`, served at
    /// `GET /openapi.json`) documents exactly the routes the hub serves, and names for each the
    /// permission this table requires.
    #[test]
    fn the_openapi_document_matches_the_routes_and_permissions() {
        let source = include_str!("../../hub/src/admin.rs");
        let served = parse_routes(source);
        let document: serde_json::Value =
            serde_json::from_str(include_str!("../../hub/openapi/admin.json"))
                .expect("admin.json is JSON");
        let mut documented = BTreeSet::new();
        for (path, item) in document["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("path item") {
                let method = method.to_ascii_uppercase();
                documented.insert((method.clone(), path.clone()));
                let named: BTreeSet<String> = match &operation["x-ferroloop-permission"] {
                    serde_json::Value::Null => BTreeSet::new(),
                    serde_json::Value::String(name) => [name.clone()].into(),
                    serde_json::Value::Array(names) => names
                        .iter()
                        .map(|n| n.as_str().expect("permission name").to_string())
                        .collect(),
                    other => panic!("{method} {path}: x-ferroloop-permission {other}"),
                };
                let required: BTreeSet<String> = route_permission(&method, path)
                    .map(|p| {
                        p.candidates()
                            .iter()
                            .map(|p| p.as_str().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                assert_eq!(named, required, "{method} {path}: documented permission");
                let public = PUBLIC_ADMIN_ROUTES.contains(&(method.as_str(), path.as_str()));
                let open = operation["security"].as_array().is_some_and(Vec::is_empty);
                assert_eq!(open, public, "{method} {path}: security");
            }
        }
        assert_eq!(documented, served, "documented routes = served routes");
    }

    /// `(METHOD, path)` for every `.route("path", method(..).method(..))` in `source`.
    fn parse_routes(source: &str) -> BTreeSet<(String, String)> {
        let mut routes = BTreeSet::new();
        let mut rest = source;
        while let Some(start) = rest.find(".route(") {
            let call = &rest[start + ".route(".len()..];
            let end = closing_paren(call).expect("balanced .route( call");
            let arguments = &call[..end];
            let path = arguments
                .split('"')
                .nth(1)
                .expect("a .route( call starts with its path literal");
            for method in method_calls(arguments) {
                routes.insert((method, path.to_owned()));
            }
            rest = &call[end..];
        }
        routes
    }

    /// The offset of the parenthesis closing the call whose arguments start `text`.
    fn closing_paren(text: &str) -> Option<usize> {
        let mut depth = 1usize;
        for (offset, c) in text.char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(offset);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The method routers called in a `.route(` call's arguments: an identifier among
    /// `get post put delete patch` directly followed by `(`.
    fn method_calls(arguments: &str) -> Vec<String> {
        let mut methods = Vec::new();
        for name in ["get", "post", "put", "delete", "patch"] {
            let needle = format!("{name}(");
            let mut from = 0;
            while let Some(found) = arguments[from..].find(&needle) {
                let at = from + found;
                let before = arguments[..at].chars().next_back();
                let standalone = before.is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
                if standalone {
                    methods.push(name.to_ascii_uppercase());
                }
                from = at + needle.len();
            }
        }
        methods
    }

    #[test]
    fn the_route_parser_understands_the_shapes_used() {
        let sample = r#"
            .route(
                "/a/{x}",
                get(get_a).post(post_a),
            )
            .route("/b", delete(retire_b))
            .route_layer(something(get))
            .route("/health", get(|| async { Json(json!({"status": "OK"})) }))
        "#;
        let routes: Vec<(String, String)> = parse_routes(sample).into_iter().collect();
        let expected = [
            ("DELETE", "/b"),
            ("GET", "/a/{x}"),
            ("GET", "/health"),
            ("POST", "/a/{x}"),
        ];
        assert_eq!(
            routes,
            expected
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string()))
                .collect::<Vec<_>>()
        );
    }
}
