//! Maker/checker: which operations need approval, and the life of a request that waits for it.
//!
//! A sensitive operation is not performed when its maker asks: the hub records a
//! [`PendingRequest`] with the operation's [`Permission`] and its payload, and performs it only
//! once enough *other* operators with [`Permission::RequestsApprove`] have approved
//! ([`PendingRequest::approve`]). Then it executes the payload and records that it did
//! ([`PendingRequest::mark_executed`]), exactly once.
//!
//! ```text
//!            approve (enough)          mark_executed
//! Pending ───────────────────▶ Approved ─────────────▶ Executed
//!    │  ╲ reject                  │
//!    │   ╲──────▶ Rejected        │ expire
//!    │ expire                     ▼
//!    └──────────────────────▶ Expired
//! ```
//!
//! Every transition is pure: it takes the time and the acting user, and either changes the
//! request and returns `Ok`, or returns why not and leaves the request exactly as it was.
//! The hub persists the request after each successful transition, in the same store
//! transaction as its audit entry (and, for `mark_executed`, as the operation itself), and
//! should also enforce `maker ≠ approver` and one approval per user in the store (a CHECK or a
//! unique key), as a second line of defence.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::Serialize;

use crate::UnixSeconds;
use crate::rbac;
use crate::rbac::ActionDenied;
use crate::rbac::Permission;
use crate::rbac::Role;

/// The operations that need approval by default: every change to a participant's money,
/// limits, reachability or trust, and every change to who may do what. Reads, the TLS reload
/// (which only re-reads files an operator already placed) and approving itself do not.
pub const SENSITIVE: &[Permission] = &[
    Permission::ParticipantsCreate,
    Permission::ParticipantsUpdate,
    Permission::EndpointsSet,
    Permission::LimitsSet,
    Permission::InitialPositionSet,
    Permission::AccountsCreate,
    Permission::AccountsUpdate,
    Permission::FundsIn,
    Permission::FundsOut,
    Permission::FundsSettle,
    Permission::JwsKeysAdd,
    Permission::JwsKeysRetire,
    Permission::ParticipantTlsSet,
    Permission::UsersManage,
    Permission::RolesManage,
    Permission::PolicyManage,
];

/// How many approvals each operation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPolicy {
    required: BTreeMap<Permission, u8>,
}

impl Default for ApprovalPolicy {
    /// One approval for every [`SENSITIVE`] operation, none for the rest.
    fn default() -> Self {
        Self {
            required: SENSITIVE
                .iter()
                .map(|permission| (*permission, 1))
                .collect(),
        }
    }
}

impl ApprovalPolicy {
    /// The sandbox profile: nothing needs approval. For development and demos only; the hub
    /// must warn loudly while it is in force ([`ApprovalPolicy::is_relaxed`]).
    pub fn sandbox() -> Self {
        Self {
            required: BTreeMap::new(),
        }
    }

    /// The policy with `permission` needing `approvals` approvals. Approving itself never
    /// needs approval, so [`Permission::RequestsApprove`] is ignored.
    pub fn with_required(mut self, permission: Permission, approvals: u8) -> Self {
        if permission == Permission::RequestsApprove {
            return self;
        }
        if approvals == 0 {
            self.required.remove(&permission);
        } else {
            self.required.insert(permission, approvals);
        }
        self
    }

    /// How many approvals `permission` needs (0: the hub performs it directly).
    pub fn required_approvals(&self, permission: Permission) -> u8 {
        self.required.get(&permission).copied().unwrap_or(0)
    }

    /// Whether `permission` needs approval.
    pub fn needs_approval(&self, permission: Permission) -> bool {
        self.required_approvals(permission) > 0
    }

    /// Whether some [`SENSITIVE`] operation can be performed without approval. The hub logs a
    /// warning at start and shows a banner while this holds.
    pub fn is_relaxed(&self) -> bool {
        SENSITIVE
            .iter()
            .any(|permission| !self.needs_approval(*permission))
    }
}

/// Where a request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// Waiting for approvals.
    Pending,
    /// Approved by enough checkers; the hub may execute it.
    Approved,
    /// Refused by a checker or withdrawn by its maker. Final.
    Rejected,
    /// Not approved, or not executed, in time. Final.
    Expired,
    /// Performed. Final.
    Executed,
}

impl RequestState {
    /// The stable name, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Executed => "executed",
        }
    }
}

/// Who rejected a request, when, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    /// The checker who refused, or the maker who withdrew.
    pub by: String,
    /// When.
    pub at: UnixSeconds,
    /// Why, in the user's words.
    pub reason: String,
}

/// A sensitive operation waiting for, or past, its approvals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingRequest {
    /// The request's id (the hub chooses it, e.g. a UUIDv7).
    pub id: String,
    /// The operation.
    pub permission: Permission,
    /// The operation's parameters, as the hub will execute them (JSON).
    pub payload_json: String,
    /// Who asked.
    pub maker: String,
    /// When the request was made.
    pub created_at: UnixSeconds,
    /// When it expires unless executed.
    pub expires_at: UnixSeconds,
    /// Approvals needed, fixed from the policy when the request was made, so a policy change
    /// does not move requests already in flight.
    pub required_approvals: u8,
    /// Who approved, and when, in order. Distinct users, never the maker.
    pub approvals: Vec<(String, UnixSeconds)>,
    /// Where the request is.
    pub state: RequestState,
    /// Set when the request was rejected or withdrawn.
    pub rejection: Option<Rejection>,
}

impl PendingRequest {
    /// A new request by `maker` at `now`, expiring `ttl_secs` later. The maker must hold
    /// `permission` (checked against `maker_roles`). With no approval required by `policy`,
    /// the request starts [`RequestState::Approved`] and the hub executes it at once (the
    /// record still documents who did what).
    #[expect(
        clippy::too_many_arguments,
        reason = "each is a distinct fact about the request; a builder would only hide them"
    )]
    pub fn new(
        id: &str,
        permission: Permission,
        payload_json: &str,
        maker: &str,
        maker_roles: &[Role],
        policy: &ApprovalPolicy,
        now: UnixSeconds,
        ttl_secs: u64,
    ) -> Result<Self, ApprovalError> {
        if permission == Permission::RequestsApprove {
            return Err(ApprovalError::NotApprovable);
        }
        if payload_json.len() > MAX_PAYLOAD_BYTES {
            return Err(ApprovalError::PayloadTooLarge {
                max_bytes: MAX_PAYLOAD_BYTES,
            });
        }
        if ttl_secs == 0 || ttl_secs > MAX_TTL_SECS {
            return Err(ApprovalError::Ttl {
                max_secs: MAX_TTL_SECS,
            });
        }
        rbac::check_action(maker_roles, permission, None, maker).map_err(ApprovalError::Denied)?;
        let required_approvals = policy.required_approvals(permission);
        let state = if required_approvals == 0 {
            RequestState::Approved
        } else {
            RequestState::Pending
        };
        Ok(Self {
            id: id.to_owned(),
            permission,
            payload_json: payload_json.to_owned(),
            maker: maker.to_owned(),
            created_at: now,
            expires_at: now.saturating_add(ttl_secs),
            required_approvals,
            approvals: Vec::new(),
            state,
            rejection: None,
        })
    }

    /// `user` (holding `user_roles`) approves at `now`. Refused if the request is not pending
    /// or has expired, if the user is the maker, lacks [`Permission::RequestsApprove`] or holds
    /// conflicting roles, or has already approved. Returns the state after the approval:
    /// [`RequestState::Approved`] once enough distinct checkers have approved.
    pub fn approve(
        &mut self,
        user: &str,
        user_roles: &[Role],
        now: UnixSeconds,
    ) -> Result<RequestState, ApprovalError> {
        self.ensure_pending(now)?;
        rbac::check_action(
            user_roles,
            Permission::RequestsApprove,
            Some(&self.maker),
            user,
        )
        .map_err(ApprovalError::Denied)?;
        if self.approvals.iter().any(|(approver, _)| approver == user) {
            return Err(ApprovalError::AlreadyApproved);
        }
        self.approvals.push((user.to_owned(), now));
        if self.approvals.len() >= usize::from(self.required_approvals) {
            self.state = RequestState::Approved;
        }
        Ok(self.state)
    }

    /// `user` rejects at `now`, with a reason (1 to 1 000 characters). A checker (holding
    /// [`Permission::RequestsApprove`], not the maker) refuses; the maker may also withdraw
    /// their own request. Only a pending, unexpired request can be rejected.
    pub fn reject(
        &mut self,
        user: &str,
        user_roles: &[Role],
        now: UnixSeconds,
        reason: &str,
    ) -> Result<(), ApprovalError> {
        self.ensure_pending(now)?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(ApprovalError::Reason {
                max_chars: MAX_REASON_CHARS,
            });
        }
        if user != self.maker {
            rbac::check_action(
                user_roles,
                Permission::RequestsApprove,
                Some(&self.maker),
                user,
            )
            .map_err(ApprovalError::Denied)?;
        }
        self.state = RequestState::Rejected;
        self.rejection = Some(Rejection {
            by: user.to_owned(),
            at: now,
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// Expires the request if its time is up at `now` and it is still pending or approved but
    /// not executed. Returns whether it expired now. The hub calls it from its sweeper and
    /// before showing or acting on a request.
    pub fn expire(&mut self, now: UnixSeconds) -> bool {
        let open = matches!(self.state, RequestState::Pending | RequestState::Approved);
        if open && now >= self.expires_at {
            self.state = RequestState::Expired;
            return true;
        }
        false
    }

    /// Records that the hub performed the approved operation. Allowed exactly once, and only
    /// from [`RequestState::Approved`]; the hub calls it in the same store transaction as the
    /// operation, so a second attempt fails instead of performing it twice.
    pub fn mark_executed(&mut self) -> Result<(), ApprovalError> {
        match self.state {
            RequestState::Approved => {
                debug_assert!(self.approvals.len() >= usize::from(self.required_approvals));
                self.state = RequestState::Executed;
                Ok(())
            }
            RequestState::Executed => Err(ApprovalError::AlreadyExecuted),
            other => Err(ApprovalError::NotApproved(other)),
        }
    }

    /// Approvals still missing.
    pub fn approvals_missing(&self) -> u8 {
        let have = u8::try_from(self.approvals.len()).unwrap_or(u8::MAX);
        self.required_approvals.saturating_sub(have)
    }

    fn ensure_pending(&self, now: UnixSeconds) -> Result<(), ApprovalError> {
        if self.state != RequestState::Pending {
            return Err(ApprovalError::NotPending(self.state));
        }
        if now >= self.expires_at {
            return Err(ApprovalError::Expired);
        }
        Ok(())
    }
}

/// Why a request transition was refused. The request is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// The acting user may not do this (missing permission, own request, conflicting roles).
    #[error("{0}")]
    Denied(ActionDenied),
    /// The user has already approved this request.
    #[error("you have already approved this request")]
    AlreadyApproved,
    /// The request is no longer waiting for approvals.
    #[error("the request is {}, no longer pending", .0.as_str())]
    NotPending(RequestState),
    /// The request's time is up.
    #[error("the request has expired")]
    Expired,
    /// Execution was attempted before approval, or after rejection or expiry.
    #[error("the request is {}, not approved", .0.as_str())]
    NotApproved(RequestState),
    /// The request was already executed.
    #[error("the request was already executed")]
    AlreadyExecuted,
    /// Approving is not an operation that can itself be requested.
    #[error("approving cannot itself be requested")]
    NotApprovable,
    /// The payload is too large to store.
    #[error("the request payload exceeds {max_bytes} bytes")]
    PayloadTooLarge {
        /// The limit.
        max_bytes: usize,
    },
    /// The time to live is zero or too long.
    #[error("a request must expire within 1 to {max_secs} seconds")]
    Ttl {
        /// The limit.
        max_secs: u64,
    },
    /// The rejection reason is missing or too long.
    #[error("give a reason of 1 to {max_chars} characters")]
    Reason {
        /// The limit.
        max_chars: usize,
    },
}

/// A sensible time to live for a request: one day.
pub const DEFAULT_TTL_SECS: u64 = 24 * 60 * 60;
/// The longest time to live: one week.
pub const MAX_TTL_SECS: u64 = 7 * 24 * 60 * 60;
/// The largest payload: 64 KiB (admin API bodies are small).
pub const MAX_PAYLOAD_BYTES: usize = 64 * 1024;
const MAX_REASON_CHARS: usize = 1_000;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::rbac::BuiltinRole;

    const T0: UnixSeconds = 1_700_000_000;

    fn roles(role: BuiltinRole) -> Vec<Role> {
        vec![role.into()]
    }

    fn funds_in(policy: &ApprovalPolicy) -> PendingRequest {
        PendingRequest::new(
            "req-1",
            Permission::FundsIn,
            r#"{"amount":"100.00","currency":"USD"}"#,
            "fiona",
            &roles(BuiltinRole::FinanceManager),
            policy,
            T0,
            DEFAULT_TTL_SECS,
        )
        .expect("request")
    }

    #[test]
    fn default_policy_needs_one_approval_for_every_sensitive_operation_only() {
        let policy = ApprovalPolicy::default();
        for permission in Permission::ALL {
            let expected = u8::from(SENSITIVE.contains(&permission));
            assert_eq!(
                policy.required_approvals(permission),
                expected,
                "{permission}"
            );
            if permission.is_read_only() {
                assert!(!policy.needs_approval(permission), "{permission}");
            }
        }
        assert!(!policy.is_relaxed());
        assert!(!SENSITIVE.contains(&Permission::RequestsApprove));
    }

    #[test]
    fn sandbox_and_lowered_policies_are_relaxed() {
        let sandbox = ApprovalPolicy::sandbox();
        assert!(sandbox.is_relaxed());
        assert!(Permission::ALL.iter().all(|p| !sandbox.needs_approval(*p)));
        let lowered = ApprovalPolicy::default().with_required(Permission::FundsOut, 0);
        assert!(lowered.is_relaxed());
        let stricter = ApprovalPolicy::default().with_required(Permission::FundsOut, 2);
        assert!(!stricter.is_relaxed());
        assert_eq!(stricter.required_approvals(Permission::FundsOut), 2);
        let ignored = ApprovalPolicy::default().with_required(Permission::RequestsApprove, 3);
        assert_eq!(ignored.required_approvals(Permission::RequestsApprove), 0);
    }

    #[test]
    fn happy_path_make_approve_execute() {
        let mut request = funds_in(&ApprovalPolicy::default());
        assert_eq!(request.state, RequestState::Pending);
        assert_eq!(request.approvals_missing(), 1);
        let state = request
            .approve("hannah", &roles(BuiltinRole::HubAdministrator), T0 + 60)
            .expect("approve");
        assert_eq!(state, RequestState::Approved);
        assert_eq!(request.approvals, [("hannah".to_owned(), T0 + 60)]);
        assert_eq!(request.mark_executed(), Ok(()));
        assert_eq!(request.state, RequestState::Executed);
    }

    #[test]
    fn the_maker_can_never_approve_their_own_request() {
        let mut request = funds_in(&ApprovalPolicy::default());
        // Even when the maker also holds the approve permission (here through another role
        // under the same name).
        let before = request.clone();
        assert_eq!(
            request.approve("fiona", &roles(BuiltinRole::SecurityOfficer), T0 + 1),
            Err(ApprovalError::Denied(ActionDenied::OwnRequest))
        );
        assert_eq!(request, before, "unchanged");
    }

    #[test]
    fn a_checker_needs_the_approve_permission_and_clean_roles() {
        let mut request = funds_in(&ApprovalPolicy::default());
        assert_eq!(
            request.approve("oscar", &roles(BuiltinRole::Operator), T0 + 1),
            Err(ApprovalError::Denied(ActionDenied::MissingPermission(
                Permission::RequestsApprove
            )))
        );
        // A second finance manager is a maker, not a checker.
        assert!(matches!(
            request.approve("frank", &roles(BuiltinRole::FinanceManager), T0 + 1),
            Err(ApprovalError::Denied(ActionDenied::MissingPermission(_)))
        ));
        let conflicted = vec![
            Role::from(BuiltinRole::FinanceManager),
            Role::from(BuiltinRole::SecurityOfficer),
        ];
        assert!(matches!(
            request.approve("frank", &conflicted, T0 + 1),
            Err(ApprovalError::Denied(ActionDenied::Sod(_)))
        ));
        assert_eq!(request.state, RequestState::Pending);
        assert!(request.approvals.is_empty());
    }

    #[test]
    fn each_checker_approves_once_and_distinct_checkers_are_needed() {
        let policy = ApprovalPolicy::default().with_required(Permission::FundsIn, 2);
        let mut request = funds_in(&policy);
        let admin = roles(BuiltinRole::HubAdministrator);
        assert_eq!(
            request.approve("hannah", &admin, T0 + 1),
            Ok(RequestState::Pending)
        );
        assert_eq!(
            request.approve("hannah", &admin, T0 + 2),
            Err(ApprovalError::AlreadyApproved)
        );
        assert_eq!(request.approvals_missing(), 1);
        assert_eq!(
            request.mark_executed(),
            Err(ApprovalError::NotApproved(RequestState::Pending))
        );
        assert_eq!(
            request.approve("sam", &roles(BuiltinRole::SecurityOfficer), T0 + 3),
            Ok(RequestState::Approved)
        );
        // A third approval on an approved request is refused.
        assert_eq!(
            request.approve("henry", &admin, T0 + 4),
            Err(ApprovalError::NotPending(RequestState::Approved))
        );
    }

    #[test]
    fn execution_happens_exactly_once() {
        let mut request = funds_in(&ApprovalPolicy::default());
        request
            .approve("hannah", &roles(BuiltinRole::HubAdministrator), T0 + 1)
            .expect("approve");
        assert_eq!(request.mark_executed(), Ok(()));
        assert_eq!(request.mark_executed(), Err(ApprovalError::AlreadyExecuted));
        assert_eq!(request.state, RequestState::Executed);
        // Executed is final: it does not expire.
        assert!(!request.expire(T0 + MAX_TTL_SECS));
    }

    #[test]
    fn an_expired_request_cannot_be_approved_or_executed() {
        let mut request = funds_in(&ApprovalPolicy::default());
        let admin = roles(BuiltinRole::HubAdministrator);
        let end = request.expires_at;
        assert_eq!(
            request.approve("hannah", &admin, end),
            Err(ApprovalError::Expired)
        );
        assert_eq!(
            request.state,
            RequestState::Pending,
            "refusal changes nothing"
        );
        assert!(!request.expire(end - 1));
        assert!(request.expire(end));
        assert!(!request.expire(end + 1), "only once");
        assert_eq!(
            request.approve("hannah", &admin, end - 1),
            Err(ApprovalError::NotPending(RequestState::Expired))
        );
        assert_eq!(
            request.mark_executed(),
            Err(ApprovalError::NotApproved(RequestState::Expired))
        );
    }

    #[test]
    fn an_approved_request_not_executed_in_time_expires() {
        let mut request = funds_in(&ApprovalPolicy::default());
        request
            .approve("hannah", &roles(BuiltinRole::HubAdministrator), T0 + 1)
            .expect("approve");
        assert!(request.expire(request.expires_at));
        assert_eq!(
            request.mark_executed(),
            Err(ApprovalError::NotApproved(RequestState::Expired))
        );
    }

    #[test]
    fn rejection_by_a_checker_or_withdrawal_by_the_maker() {
        let admin = roles(BuiltinRole::HubAdministrator);
        let mut refused = funds_in(&ApprovalPolicy::default());
        assert_eq!(
            refused.reject("hannah", &admin, T0 + 5, "  wrong amount "),
            Ok(())
        );
        assert_eq!(refused.state, RequestState::Rejected);
        assert_eq!(
            refused.rejection,
            Some(Rejection {
                by: "hannah".into(),
                at: T0 + 5,
                reason: "wrong amount".into()
            })
        );
        assert_eq!(
            refused.approve("sam", &roles(BuiltinRole::SecurityOfficer), T0 + 6),
            Err(ApprovalError::NotPending(RequestState::Rejected))
        );
        assert_eq!(
            refused.mark_executed(),
            Err(ApprovalError::NotApproved(RequestState::Rejected))
        );

        let mut withdrawn = funds_in(&ApprovalPolicy::default());
        let finance = roles(BuiltinRole::FinanceManager);
        assert_eq!(withdrawn.reject("fiona", &finance, T0 + 5, "typo"), Ok(()));
        assert_eq!(withdrawn.state, RequestState::Rejected);

        let mut pending = funds_in(&ApprovalPolicy::default());
        assert!(matches!(
            pending.reject("oscar", &roles(BuiltinRole::Operator), T0 + 5, "no"),
            Err(ApprovalError::Denied(_))
        ));
        assert!(matches!(
            pending.reject("hannah", &admin, T0 + 5, "   "),
            Err(ApprovalError::Reason { .. })
        ));
        assert_eq!(pending.state, RequestState::Pending);
    }

    #[test]
    fn making_a_request_checks_the_maker_and_the_limits() {
        let policy = ApprovalPolicy::default();
        let make = |permission, maker_role: BuiltinRole, payload: &str, ttl| {
            PendingRequest::new(
                "r",
                permission,
                payload,
                "mia",
                &roles(maker_role),
                &policy,
                T0,
                ttl,
            )
        };
        assert!(matches!(
            make(Permission::FundsIn, BuiltinRole::Auditor, "{}", 60),
            Err(ApprovalError::Denied(ActionDenied::MissingPermission(_)))
        ));
        assert_eq!(
            make(
                Permission::RequestsApprove,
                BuiltinRole::HubAdministrator,
                "{}",
                60
            ),
            Err(ApprovalError::NotApprovable)
        );
        let big = "x".repeat(MAX_PAYLOAD_BYTES + 1);
        assert!(matches!(
            make(Permission::FundsIn, BuiltinRole::FinanceManager, &big, 60),
            Err(ApprovalError::PayloadTooLarge { .. })
        ));
        assert!(matches!(
            make(Permission::FundsIn, BuiltinRole::FinanceManager, "{}", 0),
            Err(ApprovalError::Ttl { .. })
        ));
        assert!(matches!(
            make(
                Permission::FundsIn,
                BuiltinRole::FinanceManager,
                "{}",
                MAX_TTL_SECS + 1
            ),
            Err(ApprovalError::Ttl { .. })
        ));
    }

    #[test]
    fn sandbox_requests_start_approved_and_still_execute_once() {
        let mut request = funds_in(&ApprovalPolicy::sandbox());
        assert_eq!(request.state, RequestState::Approved);
        assert_eq!(request.required_approvals, 0);
        assert_eq!(request.mark_executed(), Ok(()));
        assert_eq!(request.mark_executed(), Err(ApprovalError::AlreadyExecuted));
    }

    #[test]
    fn requests_round_trip_through_json() {
        let mut request = funds_in(&ApprovalPolicy::default());
        request
            .approve("hannah", &roles(BuiltinRole::HubAdministrator), T0 + 1)
            .expect("approve");
        let json = serde_json::to_string(&request).expect("serialise");
        assert!(json.contains(r#""permission":"funds.in""#), "{json}");
        assert!(json.contains(r#""state":"approved""#), "{json}");
        let back: PendingRequest = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, request);
    }

    /// One step of a random scenario.
    #[derive(Debug, Clone)]
    enum Step {
        Approve { user: usize, role: usize, dt: u64 },
        Reject { user: usize, role: usize, dt: u64 },
        Expire { dt: u64 },
        Execute,
    }

    /// The maker is user 0; the others are checkers or not depending on the role drawn.
    const USERS: [&str; 4] = ["fiona", "hannah", "sam", "oscar"];

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..USERS.len(), 0..BuiltinRole::ALL.len(), 0u64..20_000)
                .prop_map(|(user, role, dt)| Step::Approve { user, role, dt }),
            1 => (0..USERS.len(), 0..BuiltinRole::ALL.len(), 0u64..20_000)
                .prop_map(|(user, role, dt)| Step::Reject { user, role, dt }),
            1 => (0u64..40_000).prop_map(|dt| Step::Expire { dt }),
            3 => Just(Step::Execute),
        ]
    }

    proptest! {
        /// The goal: whatever operators do, in whatever order and at whatever time, a request is
        /// executed at most once, never counts its maker, counts each checker once, and only
        /// executes with enough approvals from holders of the approve permission. Method:
        /// random sequences of approve/reject/expire/execute by random users with random
        /// built-in roles at increasing times, checking the invariants after every step and
        /// that a refused step changes nothing.
        #[test]
        fn approval_machine_invariants(
            required in 0u8..4,
            ttl in 1u64..50_000,
            steps in proptest::collection::vec(step(), 0..40),
        ) {
            let policy = ApprovalPolicy::default().with_required(Permission::FundsIn, required);
            let mut request = PendingRequest::new(
                "r", Permission::FundsIn, "{}", USERS[0],
                &roles(BuiltinRole::FinanceManager), &policy, T0, ttl,
            ).expect("request");
            let mut now = T0;
            let mut executions = 0;
            for step in steps {
                let before = request.clone();
                let result = match step {
                    Step::Approve { user, role, dt } => {
                        now += dt;
                        let role = BuiltinRole::ALL[role];
                        let result = request.approve(USERS[user], &roles(role), now).map(|_| ());
                        if result.is_ok() {
                            prop_assert!(
                                role.permissions().contains(Permission::RequestsApprove),
                                "only checkers approve"
                            );
                        }
                        result
                    }
                    Step::Reject { user, role, dt } => {
                        now += dt;
                        request.reject(USERS[user], &roles(BuiltinRole::ALL[role]), now, "no")
                    }
                    Step::Expire { dt } => {
                        now += dt;
                        request.expire(now);
                        Ok(())
                    }
                    Step::Execute => {
                        let result = request.mark_executed();
                        if result.is_ok() {
                            executions += 1;
                        }
                        result
                    }
                };
                if result.is_err() {
                    prop_assert_eq!(&request, &before, "a refused step changes nothing");
                }
                prop_assert!(executions <= 1, "executed twice");
                prop_assert!(request.approvals.iter().all(|(user, _)| user != USERS[0]));
                let mut approvers: Vec<&str> =
                    request.approvals.iter().map(|(user, _)| user.as_str()).collect();
                approvers.sort_unstable();
                approvers.dedup();
                prop_assert_eq!(approvers.len(), request.approvals.len(), "distinct");
                prop_assert!(request.approvals.len() <= usize::from(required));
                if request.state == RequestState::Executed {
                    prop_assert!(request.approvals.len() >= usize::from(required));
                    prop_assert_eq!(executions, 1);
                }
                if matches!(request.state, RequestState::Pending) {
                    prop_assert!(request.approvals.len() < usize::from(required));
                }
            }
        }
    }
}
