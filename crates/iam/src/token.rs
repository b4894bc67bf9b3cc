//! Session ids and API tokens, and the rules that say whether one is still good.
//!
//! A token is 256 random bits from aws-lc-rs, shown to its owner once as
//! `<prefix><base64url>` (`fls_…` for a session, `flt_…` for an API token; the prefix makes a
//! leaked token easy to recognise in logs and by secret scanners). The hub stores only the
//! SHA-256 of the whole string, in hex ([`hash`]), and looks tokens up by it: a stolen
//! database does not yield usable tokens, and no slow hash is needed because the input has
//! 256 bits of entropy.
//!
//! Sessions have an idle and an absolute timeout and remember when MFA last succeeded, so the
//! hub can demand a fresh second factor for sensitive actions ([`Session::fresh_mfa`]). The hub
//! issues a new session id at login and whenever the user's privileges change.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde::Serialize;

use crate::IamError;
use crate::UnixSeconds;
use crate::random;
use crate::rbac::Permission;
use crate::rbac::PermissionSet;

/// What a token is for; decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    /// A browser session (cookie), prefix `fls_`.
    Session,
    /// An API token for automation, prefix `flt_`.
    Api,
}

impl TokenKind {
    /// The prefix of tokens of this kind.
    pub const fn prefix(self) -> &'static str {
        match self {
            Self::Session => "fls_",
            Self::Api => "flt_",
        }
    }

    /// The kind of a presented token, if it is well formed: the prefix, then exactly 43
    /// base64url characters (32 bytes). The hub calls this before any store lookup, so
    /// garbage is refused cheaply and never hashed into a query.
    pub fn of_presented(presented: &str) -> Option<Self> {
        [Self::Session, Self::Api].into_iter().find(|kind| {
            presented.strip_prefix(kind.prefix()).is_some_and(|body| {
                body.len() == ENCODED_LEN
                    && URL_SAFE_NO_PAD
                        .decode(body)
                        .is_ok_and(|bytes| bytes.len() == TOKEN_BYTES)
            })
        })
    }
}

/// A freshly issued token: the text to show once, and the hash to store.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// What the token is for.
    pub kind: TokenKind,
    /// The token as given to its owner (`fls_…`/`flt_…`). Never stored, never logged.
    pub plain: String,
    /// SHA-256 of `plain`, lower-case hex: what the store keeps and looks up.
    pub hash: String,
}

impl fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedToken")
            .field("kind", &self.kind)
            .field("plain", &"<redacted>")
            .field("hash", &self.hash)
            .finish()
    }
}

/// Issues a new token of `kind`.
pub fn issue(kind: TokenKind) -> Result<IssuedToken, IamError> {
    let bytes = random::bytes::<TOKEN_BYTES>()?;
    let plain = format!("{}{}", kind.prefix(), URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&plain);
    Ok(IssuedToken { kind, plain, hash })
}

/// SHA-256 of a presented token, lower-case hex: the key to look it up by.
pub fn hash(presented: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, presented.as_bytes()))
}

/// Whether a presented token matches a stored hash, compared in constant time. (A lookup by
/// [`hash`] already matches; this is for a hub that loads the record by another key.)
pub fn verify(presented: &str, stored_hash: &str) -> bool {
    random::constant_time_eq(hash(presented).as_bytes(), stored_hash.as_bytes())
}

/// A browser session as the hub stores it (under the hash of its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user's id.
    pub user: String,
    /// When the session started (login).
    pub created_at: UnixSeconds,
    /// When the session was last used.
    pub last_seen: UnixSeconds,
    /// Seconds of inactivity after which the session ends.
    pub idle_timeout: u64,
    /// Seconds after `created_at` at which the session ends, however active.
    pub absolute_timeout: u64,
    /// When the user last completed the second factor in this session, if ever.
    pub mfa_at: Option<UnixSeconds>,
}

impl Session {
    /// A session starting at `now` with the given timeouts (seconds).
    pub fn new(
        user: &str,
        now: UnixSeconds,
        idle_timeout: u64,
        absolute_timeout: u64,
        mfa_at: Option<UnixSeconds>,
    ) -> Self {
        Self {
            user: user.to_owned(),
            created_at: now,
            last_seen: now,
            idle_timeout,
            absolute_timeout,
            mfa_at,
        }
    }

    /// When the session ends if it is not used again.
    pub fn expires_at(&self) -> UnixSeconds {
        let idle_end = self.last_seen.saturating_add(self.idle_timeout);
        let absolute_end = self.created_at.saturating_add(self.absolute_timeout);
        idle_end.min(absolute_end)
    }

    /// Whether the session is still good at `now`.
    pub fn is_valid(&self, now: UnixSeconds) -> bool {
        now < self.expires_at()
    }

    /// Records use at `now` (moves the idle deadline, never the absolute one). Time never goes
    /// backwards here: an older `now` leaves the session as it is.
    pub fn touch(&mut self, now: UnixSeconds) {
        self.last_seen = self.last_seen.max(now);
    }

    /// Records a successful second factor at `now`.
    pub fn record_mfa(&mut self, now: UnixSeconds) {
        self.mfa_at = Some(now);
    }

    /// Whether the second factor was completed within the last `window` seconds: the hub asks
    /// for it again before sensitive actions (approvals, user and policy changes).
    pub fn fresh_mfa(&self, now: UnixSeconds, window: u64) -> bool {
        self.mfa_at
            .and_then(|at| now.checked_sub(at))
            .is_some_and(|age| age <= window)
    }
}

/// An API token as the hub stores it (under its hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiToken {
    /// The user the token acts for.
    pub owner: String,
    /// A name the owner chose, to tell tokens apart.
    pub label: String,
    /// What the token may do. The hub intersects this with the owner's permissions at each
    /// use ([`ApiToken::effective`]), so a token never outlives a role taken away.
    pub scopes: PermissionSet,
    /// When the token was created.
    pub created_at: UnixSeconds,
    /// When the token stops working. Every API token expires.
    pub expires_at: UnixSeconds,
}

impl ApiToken {
    /// Whether the token still works at `now`.
    pub fn is_valid(&self, now: UnixSeconds) -> bool {
        now < self.expires_at
    }

    /// What the token may do given its owner's current permissions.
    pub fn effective(&self, owner_permissions: PermissionSet) -> PermissionSet {
        self.scopes.intersection(owner_permissions)
    }

    /// Whether the token may perform `permission` at `now` for an owner holding
    /// `owner_permissions`.
    pub fn allows(
        &self,
        permission: Permission,
        owner_permissions: PermissionSet,
        now: UnixSeconds,
    ) -> bool {
        self.is_valid(now) && self.effective(owner_permissions).contains(permission)
    }
}

/// Idle timeout of a portal session: 15 minutes.
pub const DEFAULT_IDLE_TIMEOUT_SECS: u64 = 15 * 60;
/// Absolute timeout of a portal session: 8 hours, one working day.
pub const DEFAULT_ABSOLUTE_TIMEOUT_SECS: u64 = 8 * 60 * 60;
/// How recent the second factor must be for a sensitive action: 5 minutes.
pub const DEFAULT_MFA_FRESHNESS_SECS: u64 = 5 * 60;

/// 256 bits.
const TOKEN_BYTES: usize = 32;
/// base64url without padding of 32 bytes.
const ENCODED_LEN: usize = 43;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_have_the_prefix_256_bits_and_their_sha256() {
        for kind in [TokenKind::Session, TokenKind::Api] {
            let token = issue(kind).expect("issue");
            assert!(token.plain.starts_with(kind.prefix()));
            assert_eq!(token.plain.len(), kind.prefix().len() + ENCODED_LEN);
            let body = &token.plain[kind.prefix().len()..];
            assert_eq!(URL_SAFE_NO_PAD.decode(body).expect("base64url").len(), 32);
            assert_eq!(token.hash, hash(&token.plain));
            assert_eq!(token.hash.len(), 64);
            assert_eq!(TokenKind::of_presented(&token.plain), Some(kind));
            assert!(
                !format!("{token:?}").contains(&token.plain),
                "Debug redacts"
            );
        }
        let a = issue(TokenKind::Api).expect("issue");
        let b = issue(TokenKind::Api).expect("issue");
        assert_ne!(a.plain, b.plain);
    }

    #[test]
    fn hash_is_sha256_hex_of_the_whole_token() {
        // FIPS 180-2 test vector for "abc".
        assert_eq!(
            hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn verification_accepts_only_the_issued_token() {
        let token = issue(TokenKind::Session).expect("issue");
        assert!(verify(&token.plain, &token.hash));
        let mut tampered = token.plain.clone();
        tampered.pop();
        tampered.push(if token.plain.ends_with('A') { 'B' } else { 'A' });
        assert!(!verify(&tampered, &token.hash));
        assert!(!verify(&token.plain, ""));
        assert!(!verify(&token.plain, &token.hash.to_uppercase()));
    }

    #[test]
    fn malformed_tokens_are_recognised_before_lookup() {
        let token = issue(TokenKind::Api).expect("issue");
        let body = &token.plain[4..];
        assert_eq!(
            TokenKind::of_presented(&format!("fls_{body}")),
            Some(TokenKind::Session)
        );
        assert_eq!(TokenKind::of_presented(&format!("xyz_{body}")), None);
        assert_eq!(TokenKind::of_presented(body), None);
        assert_eq!(TokenKind::of_presented(&format!("flt_{body}A")), None);
        assert_eq!(
            TokenKind::of_presented(&format!("flt_{}", &body[1..])),
            None
        );
        assert_eq!(
            TokenKind::of_presented(&format!("flt_{}+", &body[1..])),
            None
        );
        assert_eq!(TokenKind::of_presented(""), None);
    }

    #[test]
    fn session_idle_and_absolute_timeouts() {
        let start = 1_000;
        let mut session = Session::new("alice", start, 900, 8 * 3600, None);
        assert!(session.is_valid(start));
        assert!(session.is_valid(start + 899));
        assert!(!session.is_valid(start + 900), "idle");
        // Activity keeps it alive...
        for minute in 1..=(8 * 60) {
            let now = start + minute * 60;
            if now >= start + 8 * 3600 {
                break;
            }
            assert!(session.is_valid(now), "active at {now}");
            session.touch(now);
        }
        // ...but never past the absolute timeout.
        assert!(!session.is_valid(start + 8 * 3600));
        assert_eq!(session.expires_at(), start + 8 * 3600);
        // The clock going backwards does not move last_seen back.
        let seen = session.last_seen;
        session.touch(start);
        assert_eq!(session.last_seen, seen);
    }

    #[test]
    fn mfa_freshness() {
        let mut session = Session::new("alice", 1_000, 900, 28_800, None);
        assert!(!session.fresh_mfa(1_000, 300), "never done");
        session.record_mfa(1_100);
        assert!(session.fresh_mfa(1_100, 300));
        assert!(session.fresh_mfa(1_400, 300));
        assert!(!session.fresh_mfa(1_401, 300));
        assert!(!session.fresh_mfa(1_099, 300), "not from the future");
    }

    #[test]
    fn api_token_scopes_expiry_and_owner_permissions() {
        let token = ApiToken {
            owner: "ci".into(),
            label: "deploy".into(),
            scopes: PermissionSet::of(&[Permission::ParticipantsRead, Permission::FundsIn]),
            created_at: 100,
            expires_at: 200,
        };
        let owner = PermissionSet::of(&[Permission::ParticipantsRead, Permission::AuditRead]);
        assert!(token.allows(Permission::ParticipantsRead, owner, 150));
        assert!(
            !token.allows(Permission::ParticipantsRead, owner, 200),
            "expired"
        );
        assert!(
            !token.allows(Permission::AuditRead, owner, 150),
            "outside scopes"
        );
        assert!(
            !token.allows(Permission::FundsIn, owner, 150),
            "owner lost it"
        );
        assert_eq!(
            token.effective(owner),
            PermissionSet::of(&[Permission::ParticipantsRead])
        );
    }
}
