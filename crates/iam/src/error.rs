//! The crate's error for failures of the machinery (randomness, hashing), as opposed to the
//! refusals that each module reports with its own type.

/// A failure of the underlying primitives. None of these is caused by user input: the hub
/// answers them with a server error and logs them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IamError {
    /// The system random generator (aws-lc-rs) failed.
    #[error("the system random generator failed")]
    Random,
    /// Argon2 could not hash (for example, parameters out of range).
    #[error("password hashing failed: {0}")]
    Hash(String),
}
