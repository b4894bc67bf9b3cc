//! Randomness from aws-lc-rs, the hub's one crypto provider.

use crate::IamError;

/// `N` bytes from the system CSPRNG.
pub(crate) fn bytes<const N: usize>() -> Result<[u8; N], IamError> {
    let mut out = [0u8; N];
    aws_lc_rs::rand::fill(&mut out).map_err(|_| IamError::Random)?;
    Ok(out)
}

/// Compares two secrets in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}
