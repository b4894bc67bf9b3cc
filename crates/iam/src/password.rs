//! Passwords: the policy a new password must pass, argon2id hashing, and lockout.
//!
//! The policy follows NIST SP 800-63B where it can (length first, a block list of common
//! passwords, no composition rules beyond what the operator configures) and adds what a
//! payments hub's auditors expect: character classes, history and a maximum age, all
//! configurable and all reported at once so an operator can fix every problem in one go.

use std::collections::HashSet;
use std::sync::LazyLock;

use argon2::Argon2;
use argon2::PasswordHash;
use argon2::PasswordHasher;
use argon2::PasswordVerifier;
use serde::Deserialize;
use serde::Serialize;

use crate::IamError;
use crate::UnixSeconds;
use crate::random;

/// Hashes a password with argon2id (`Argon2::default()`: v19, m = 19 MiB, t = 2, p = 1) and a
/// fresh 16-byte salt from aws-lc-rs, and returns the PHC string to store
/// (`$argon2id$v=19$m=19456,t=2,p=1$…`).
///
/// Slow by design: call it from a blocking task.
pub fn hash(password: &str) -> Result<String, IamError> {
    let salt = random::bytes::<SALT_LEN>()?;
    let phc = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|error| IamError::Hash(error.to_string()))?;
    Ok(phc.to_string())
}

/// Whether `password` matches the stored PHC string. A malformed PHC string, or one of another
/// algorithm, never matches. The parameters are read from the PHC string, so hashes made with
/// older parameters keep verifying after the defaults change.
///
/// Slow by design: call it from a blocking task.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    // The argon2 crate compares the outputs in constant time.
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

/// The rules a new password must pass, and the lockout and expiry settings that go with them.
///
/// Deserialisable so the hub can read it from its configuration file (every field optional,
/// unknown fields refused); call [`PasswordPolicy::validate`] after loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    /// Minimum length in characters (Unicode scalar values). Default 12.
    pub min_length: usize,
    /// Maximum length in characters, so a request cannot make the hub hash megabytes.
    /// Default 128.
    pub max_length: usize,
    /// How many of the four classes (lower-case, upper-case, digit, other) must appear.
    /// Default 3.
    pub require_classes: u8,
    /// How many previous passwords may not be reused. Default 5.
    pub history: usize,
    /// Days after which a password must be changed; `None` for never. Default 90.
    pub max_age_days: Option<u32>,
    /// Failed logins after which the account locks. Default 5.
    pub max_failed_attempts: u32,
    /// Lockout after the `max_failed_attempts`-th failure, doubled with every further failure.
    /// Default 60 s.
    pub lockout_base_secs: u64,
    /// The longest lockout, however many failures. Default 3 600 s.
    pub lockout_max_secs: u64,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 128,
            require_classes: 3,
            history: 5,
            max_age_days: Some(90),
            max_failed_attempts: 5,
            lockout_base_secs: 60,
            lockout_max_secs: 3_600,
        }
    }
}

impl PasswordPolicy {
    /// Checks a configured policy for settings that would make it meaningless or unusable.
    pub fn validate(&self) -> Result<(), PolicyConfigError> {
        if self.min_length < MIN_LENGTH_FLOOR {
            return Err(PolicyConfigError::MinLengthTooLow {
                floor: MIN_LENGTH_FLOOR,
            });
        }
        if self.max_length < self.min_length || self.max_length > MAX_LENGTH_CEILING {
            return Err(PolicyConfigError::MaxLength {
                ceiling: MAX_LENGTH_CEILING,
            });
        }
        if self.require_classes > CLASS_COUNT {
            return Err(PolicyConfigError::TooManyClasses);
        }
        if self.max_failed_attempts == 0 {
            return Err(PolicyConfigError::NoFailedAttempts);
        }
        if self.lockout_base_secs == 0 || self.lockout_max_secs < self.lockout_base_secs {
            return Err(PolicyConfigError::Lockout);
        }
        if self.max_age_days == Some(0) {
            return Err(PolicyConfigError::ZeroMaxAge);
        }
        Ok(())
    }

    /// Checks a candidate password for `user_name` and reports every rule it breaks.
    ///
    /// `previous_hashes` are the user's stored PHC strings, newest first, starting with the
    /// current password; only the first [`PasswordPolicy::history`] are consulted. That check
    /// runs argon2 once per hash, so call this from a blocking task.
    pub fn check(
        &self,
        candidate: &str,
        user_name: &str,
        previous_hashes: &[String],
    ) -> Result<(), Vec<PolicyViolation>> {
        let mut violations = Vec::new();
        let length = candidate.chars().count();
        if length < self.min_length {
            violations.push(PolicyViolation::TooShort {
                min_length: self.min_length,
                length,
            });
        }
        if length > self.max_length {
            violations.push(PolicyViolation::TooLong {
                max_length: self.max_length,
            });
        }
        let classes = character_classes(candidate);
        if classes < self.require_classes {
            violations.push(PolicyViolation::TooFewClasses {
                required: self.require_classes,
                found: classes,
            });
        }
        if contains_user_name(candidate, user_name) {
            violations.push(PolicyViolation::ContainsUserName);
        }
        if is_common(candidate) {
            violations.push(PolicyViolation::Common);
        }
        // Hashing an over-long candidate is the cost the maximum length exists to avoid.
        if length <= self.max_length
            && previous_hashes
                .iter()
                .take(self.history)
                .any(|phc| verify(candidate, phc))
        {
            violations.push(PolicyViolation::Reused {
                history: self.history,
            });
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(violations)
        }
    }

    /// Whether a password last changed at `changed_at` must be changed at `now`.
    pub fn is_expired(&self, changed_at: UnixSeconds, now: UnixSeconds) -> bool {
        match self.max_age_days {
            None => false,
            Some(days) => now.saturating_sub(changed_at) >= u64::from(days) * SECS_PER_DAY,
        }
    }

    /// The lockout that follows `failed_attempts` consecutive failures: nothing below
    /// [`PasswordPolicy::max_failed_attempts`], then `base * 2^(failed - max)` capped at
    /// [`PasswordPolicy::lockout_max_secs`].
    pub fn lockout_secs(&self, failed_attempts: u32) -> u64 {
        if failed_attempts < self.max_failed_attempts {
            return 0;
        }
        let doublings = failed_attempts.saturating_sub(self.max_failed_attempts);
        let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
        self.lockout_base_secs
            .saturating_mul(factor)
            .min(self.lockout_max_secs)
    }
}

/// The state the hub keeps per user for lockout: consecutive failures and when the last one
/// happened. Reset it on a successful login.
///
/// The hub checks [`Lockout::locked_until`] *before* verifying the password and refuses without
/// verifying while it is locked (so a locked account costs no argon2 time and leaks nothing).
/// It counts each attempt (the store's compare-and-set on `failed_attempts`, the equivalent of
/// [`Lockout::record_failure`]) before the argon2 check, so that concurrent attempts cannot all
/// be checked against the same earlier count, and resets the count on success.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lockout {
    /// Consecutive failed attempts.
    pub failed_attempts: u32,
    /// When the last failure happened.
    pub last_failure_at: Option<UnixSeconds>,
}

impl Lockout {
    /// Until when the account is locked, if it is locked at `now`.
    pub fn locked_until(&self, policy: &PasswordPolicy, now: UnixSeconds) -> Option<UnixSeconds> {
        let last_failure_at = self.last_failure_at?;
        let duration = policy.lockout_secs(self.failed_attempts);
        if duration == 0 {
            return None;
        }
        let until = last_failure_at.saturating_add(duration);
        (until > now).then_some(until)
    }

    /// The state after one more failure at `now`.
    pub fn record_failure(&mut self, now: UnixSeconds) {
        self.failed_attempts = self.failed_attempts.saturating_add(1);
        self.last_failure_at = Some(now);
    }

    /// The state after a successful login.
    pub fn reset(&mut self) {
        *self = Self::default();
    }
}

/// One rule a candidate password breaks. The `Display` text is written for the operator who
/// typed the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Shorter than the minimum length.
    #[error("is too short: use at least {min_length} characters (this one has {length})")]
    TooShort {
        /// The policy's minimum.
        min_length: usize,
        /// The candidate's length in characters.
        length: usize,
    },
    /// Longer than the maximum length.
    #[error("is too long: use at most {max_length} characters")]
    TooLong {
        /// The policy's maximum.
        max_length: usize,
    },
    /// Mixes too few kinds of characters.
    #[error(
        "uses too few kinds of characters: mix at least {required} of lower-case letters, \
         upper-case letters, digits and symbols (this one has {found})"
    )]
    TooFewClasses {
        /// Classes the policy requires.
        required: u8,
        /// Classes the candidate has.
        found: u8,
    },
    /// Contains the user name.
    #[error("contains your user name")]
    ContainsUserName,
    /// Is on the list of common passwords.
    #[error("is a common password that attackers try first: choose something less predictable")]
    Common,
    /// Matches one of the recent passwords.
    #[error("was used recently: choose one you have not used for your last {history} passwords")]
    Reused {
        /// How many previous passwords are remembered.
        history: usize,
    },
}

impl PolicyViolation {
    /// A stable machine-readable code for the admin API and the portal.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooShort { .. } => "too_short",
            Self::TooLong { .. } => "too_long",
            Self::TooFewClasses { .. } => "too_few_classes",
            Self::ContainsUserName => "contains_user_name",
            Self::Common => "common",
            Self::Reused { .. } => "reused",
        }
    }
}

/// A configured [`PasswordPolicy`] that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyConfigError {
    /// The minimum length is below the floor (NIST SP 800-63B: 8).
    #[error("min_length must be at least {floor}")]
    MinLengthTooLow {
        /// The lowest acceptable minimum.
        floor: usize,
    },
    /// The maximum length is below the minimum or above the ceiling.
    #[error("max_length must be at least min_length and at most {ceiling}")]
    MaxLength {
        /// The highest acceptable maximum.
        ceiling: usize,
    },
    /// More classes required than exist.
    #[error("require_classes must be between 0 and 4")]
    TooManyClasses,
    /// Zero failed attempts would lock every account at once.
    #[error("max_failed_attempts must be at least 1")]
    NoFailedAttempts,
    /// The lockout durations are inconsistent.
    #[error("lockout_base_secs must be positive and at most lockout_max_secs")]
    Lockout,
    /// A maximum age of zero days would expire every password at once.
    #[error("max_age_days must be positive (leave it out for no expiry)")]
    ZeroMaxAge,
}

/// Whether `candidate` is on the compiled-in list of common passwords (case-insensitive).
pub fn is_common(candidate: &str) -> bool {
    COMMON_PASSWORDS.contains(candidate.to_lowercase().as_str())
}

/// How many of lower-case, upper-case, digit and other (symbols, spaces, letters without case)
/// appear in `candidate`.
fn character_classes(candidate: &str) -> u8 {
    let (mut lower, mut upper, mut digit, mut other) = (false, false, false, false);
    for c in candidate.chars() {
        if c.is_lowercase() {
            lower = true;
        } else if c.is_uppercase() {
            upper = true;
        } else if c.is_numeric() {
            digit = true;
        } else {
            other = true;
        }
    }
    [lower, upper, digit, other].into_iter().map(u8::from).sum()
}

/// Whether the candidate contains the user name, or the local part of an e-mail-style user
/// name, case-insensitively. Names shorter than three characters are not checked: every
/// password would "contain" a one-letter name.
fn contains_user_name(candidate: &str, user_name: &str) -> bool {
    let candidate = candidate.to_lowercase();
    let user_name = user_name.trim().to_lowercase();
    let local_part = user_name.split('@').next().unwrap_or_default();
    [user_name.as_str(), local_part]
        .into_iter()
        .filter(|name| name.chars().count() >= MIN_USER_NAME_CHECKED)
        .any(|name| candidate.contains(name))
}

/// The compiled-in list, built once on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS_TEXT.lines().collect());

/// Generated by `data/generate-common-passwords.py`; see `data/README.md`.
const COMMON_PASSWORDS_TEXT: &str = include_str!("../data/common-passwords.txt");

/// Argon2 salt length (bytes): the password-hash crate's recommendation.
const SALT_LEN: usize = 16;
/// The four character classes.
const CLASS_COUNT: u8 = 4;
/// No configured minimum length below this (NIST SP 800-63B).
const MIN_LENGTH_FLOOR: usize = 8;
/// No configured maximum length above this.
const MAX_LENGTH_CEILING: usize = 1_024;
/// Shorter user names are not looked for in passwords.
const MIN_USER_NAME_CHECKED: usize = 3;
const SECS_PER_DAY: u64 = 86_400;

#[cfg(test)]
mod tests {
    use super::*;

    /// A password that passes the default policy.
    const GOOD: &str = "Tangerine-Orbit-47";

    fn violations(candidate: &str) -> Vec<&'static str> {
        match PasswordPolicy::default().check(candidate, "alice", &[]) {
            Ok(()) => Vec::new(),
            Err(list) => list.iter().map(PolicyViolation::code).collect(),
        }
    }

    #[test]
    fn default_policy_matches_the_issue() {
        let policy = PasswordPolicy::default();
        assert_eq!(policy.min_length, 12);
        assert_eq!(policy.require_classes, 3);
        assert_eq!(policy.history, 5);
        assert_eq!(policy.max_age_days, Some(90));
        assert_eq!(policy.max_failed_attempts, 5);
        assert_eq!(policy.validate(), Ok(()));
    }

    #[test]
    fn a_good_password_passes() {
        assert_eq!(violations(GOOD), Vec::<&str>::new());
    }

    #[test]
    fn too_short_is_refused_and_length_counts_characters_not_bytes() {
        assert_eq!(violations("Tang-Orb-47"), ["too_short"]);
        // 12 characters, more bytes than that: long enough.
        assert_eq!(violations("Ünïcödé-Pä5s"), Vec::<&str>::new());
        let Err(list) = PasswordPolicy::default().check("Ab1!", "alice", &[]) else {
            panic!("a four-character password must be refused");
        };
        assert_eq!(
            list[0],
            PolicyViolation::TooShort {
                min_length: 12,
                length: 4
            }
        );
        assert!(list[0].to_string().contains("at least 12 characters"));
    }

    #[test]
    fn too_long_is_refused() {
        let long = format!("{GOOD}{}", "x".repeat(200));
        assert_eq!(violations(&long), ["too_long"]);
    }

    #[test]
    fn too_few_character_classes_is_refused() {
        assert_eq!(violations("tangerineorbitxyz"), ["too_few_classes"]);
        assert_eq!(violations("tangerineorbit47"), ["too_few_classes"]);
        assert_eq!(violations("tangerine-orbit-47"), Vec::<&str>::new());
        assert_eq!(character_classes("aA1!"), 4);
        assert_eq!(character_classes("aa"), 1);
        // A space is a symbol; letters without case count as "other".
        assert_eq!(character_classes("a b"), 2);
        assert_eq!(character_classes("密码"), 1);
    }

    #[test]
    fn the_user_name_or_its_local_part_is_refused_in_any_case() {
        let policy = PasswordPolicy::default();
        let refused = |candidate: &str, user: &str| {
            policy
                .check(candidate, user, &[])
                .err()
                .is_some_and(|list| list.contains(&PolicyViolation::ContainsUserName))
        };
        assert!(refused("Tangerine-ALICE-47", "alice"));
        assert!(refused("Tangerine-bob.smith-47", "Bob.Smith@example.org"));
        assert!(!refused(GOOD, "alice"));
        // Too short to check.
        assert!(!refused("Tangerine-Orbit-47", "or"));
    }

    #[test]
    fn common_passwords_are_refused_case_insensitively() {
        // Each passes every other rule, so only the list refuses them.
        for candidate in [
            "Password123!",
            "P@ssw0rd123!",
            "Ferroloop2024!",
            "Welcome@2025",
            "1qaz2wsx3edc4rfv",
        ] {
            assert_eq!(
                violations(candidate)
                    .into_iter()
                    .filter(|code| *code != "too_few_classes")
                    .collect::<Vec<_>>(),
                ["common"],
                "{candidate}"
            );
        }
        assert!(is_common("QWERTY123456"));
        assert!(!is_common(GOOD));
    }

    #[test]
    fn the_common_password_list_is_sorted_unique_lower_case_and_large() {
        let lines: Vec<&str> = COMMON_PASSWORDS_TEXT.lines().collect();
        assert!(lines.len() >= 10_000, "only {} entries", lines.len());
        assert!(
            lines.windows(2).all(|pair| pair[0] < pair[1]),
            "sorted, unique"
        );
        assert!(lines.iter().all(|line| {
            !line.is_empty()
                && line.is_ascii()
                && *line == line.to_lowercase()
                && *line == line.trim()
        }));
        assert_eq!(COMMON_PASSWORDS.len(), lines.len());
    }

    #[test]
    fn reuse_of_a_recent_password_is_refused_but_older_ones_are_forgotten() {
        let policy = PasswordPolicy {
            history: 2,
            ..PasswordPolicy::default()
        };
        let old = hash(GOOD).expect("hash");
        let other_a = hash("Another-Secret-81").expect("hash");
        let other_b = hash("Third-Secret-Phrase-9").expect("hash");
        let reused = policy.check(GOOD, "alice", &[other_a.clone(), old.clone()]);
        assert_eq!(reused, Err(vec![PolicyViolation::Reused { history: 2 }]));
        // Third from the top: outside a history of 2.
        assert_eq!(
            policy.check(GOOD, "alice", &[other_a, other_b, old]),
            Ok(())
        );
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let codes = violations("alice");
        assert_eq!(
            codes,
            ["too_short", "too_few_classes", "contains_user_name"]
        );
    }

    #[test]
    fn hash_is_argon2id_phc_with_a_fresh_salt_and_verifies() {
        let first = hash(GOOD).expect("hash");
        let second = hash(GOOD).expect("hash");
        assert!(
            first.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{first}"
        );
        assert_ne!(first, second, "a fresh salt every time");
        assert!(verify(GOOD, &first));
        assert!(!verify("Tangerine-Orbit-48", &first));
        assert!(!verify(GOOD, "not a phc string"));
        assert!(!verify(GOOD, ""));
    }

    #[test]
    fn password_age() {
        let policy = PasswordPolicy::default();
        let changed = 1_700_000_000;
        assert!(!policy.is_expired(changed, changed + 89 * SECS_PER_DAY));
        assert!(policy.is_expired(changed, changed + 90 * SECS_PER_DAY));
        let never = PasswordPolicy {
            max_age_days: None,
            ..PasswordPolicy::default()
        };
        assert!(!never.is_expired(0, u64::MAX));
    }

    #[test]
    fn lockout_backs_off_exponentially_and_is_capped() {
        let policy = PasswordPolicy::default();
        let expected = [
            (0, 0),
            (4, 0),
            (5, 60),
            (6, 120),
            (7, 240),
            (8, 480),
            (10, 1_920),
            (11, 3_600),
            (70, 3_600),
            (u32::MAX, 3_600),
        ];
        for (failures, secs) in expected {
            assert_eq!(policy.lockout_secs(failures), secs, "{failures} failures");
        }
    }

    #[test]
    fn lockout_state_follows_failures_and_time() {
        let policy = PasswordPolicy::default();
        let mut lockout = Lockout::default();
        let start = 1_000_000;
        for attempt in 0..4 {
            lockout.record_failure(start + attempt);
            assert_eq!(lockout.locked_until(&policy, start + attempt), None);
        }
        lockout.record_failure(start + 10);
        assert_eq!(lockout.locked_until(&policy, start + 10), Some(start + 70));
        assert_eq!(lockout.locked_until(&policy, start + 69), Some(start + 70));
        assert_eq!(lockout.locked_until(&policy, start + 70), None);
        lockout.record_failure(start + 80);
        assert_eq!(lockout.locked_until(&policy, start + 80), Some(start + 200));
        lockout.reset();
        assert_eq!(lockout, Lockout::default());
        assert_eq!(lockout.locked_until(&policy, start + 80), None);
    }

    #[test]
    fn unusable_configurations_are_refused() {
        let base = PasswordPolicy::default();
        let cases = [
            PasswordPolicy {
                min_length: 6,
                ..base.clone()
            },
            PasswordPolicy {
                max_length: 10,
                ..base.clone()
            },
            PasswordPolicy {
                require_classes: 5,
                ..base.clone()
            },
            PasswordPolicy {
                max_failed_attempts: 0,
                ..base.clone()
            },
            PasswordPolicy {
                lockout_base_secs: 0,
                ..base.clone()
            },
            PasswordPolicy {
                lockout_max_secs: 10,
                ..base.clone()
            },
            PasswordPolicy {
                max_age_days: Some(0),
                ..base.clone()
            },
        ];
        for policy in cases {
            assert!(policy.validate().is_err(), "{policy:?}");
        }
    }
}
