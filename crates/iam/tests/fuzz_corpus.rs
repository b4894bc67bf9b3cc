//! Replays the committed fuzz corpus through the fuzz oracle on stable Rust.
//!
//! The oracle is the fuzz target's own (`fuzz/src/iam_oracle.rs`, included below), and the
//! inputs are every file in `fuzz/seeds/iam_credentials/`. So a plain `cargo test` checks
//! exactly what `cargo fuzz run iam_credentials` checks, on every input kept.

#[path = "../../../fuzz/src/iam_oracle.rs"]
mod iam_oracle;

use std::fs;
use std::panic;
use std::path::PathBuf;

fn seeds() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/iam_credentials")
}

#[test]
fn iam_credentials_corpus() {
    let directory = seeds();
    let mut paths: Vec<PathBuf> = fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    assert!(paths.len() >= 10, "seeds in {}", directory.display());
    let failures: Vec<String> = paths
        .iter()
        .filter(|path| {
            let input = fs::read(path).expect("seed file");
            panic::catch_unwind(|| iam_oracle::credentials(&input)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failures.is_empty(), "the oracle rejects: {failures:?}");
}

/// The seeds reach the accepting branches: codes the oracle accepts, tokens it recognises, a
/// password the policy accepts.
#[test]
fn the_seeds_cover_the_accepting_branches() {
    let secret = iam_oracle::secret();
    let read = |name: &str| fs::read_to_string(seeds().join(name)).expect("seed");
    assert_eq!(
        read("totp-current.txt"),
        secret.code_at(iam_oracle::NOW).expect("code")
    );
    for name in ["totp-previous-spaced.txt", "totp-next.txt"] {
        assert!(
            iam::totp::verify(&secret, &read(name), iam_oracle::NOW, None).is_ok(),
            "{name}"
        );
    }
    assert!(iam::totp::verify(&secret, &read("totp-too-old.txt"), iam_oracle::NOW, None).is_err());
    for name in ["token-session.txt", "token-api.txt"] {
        assert!(
            iam::token::TokenKind::of_presented(&read(name)).is_some(),
            "{name}"
        );
    }
    assert!(
        iam::password::PasswordPolicy::default()
            .check(&read("password-good.txt"), "admin", &[])
            .is_ok()
    );
}
