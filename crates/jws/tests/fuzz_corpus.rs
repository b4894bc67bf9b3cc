//! Replays the committed fuzz corpus through the fuzz oracles on stable Rust.
//!
//! The oracles are the fuzz targets' own (`fuzz/src/jws_oracle.rs`, included below), and the
//! inputs are every file in `fuzz/seeds/<target>/`: the hand-made seeds, the minimised corpus
//! kept from fuzzing runs and any `crash-*` reproducer. So a plain `cargo test` checks exactly
//! what `cargo fuzz run` checks, on every input the fuzzer found interesting.
//!
//! The `canonical_json` seeds (JSON bodies for the `fspiop` canonical form) are replayed through
//! the `jws` canonical oracle too: both implement the SDK's sorted-key form.

#[path = "../../../fuzz/src/jws_oracle.rs"]
mod jws_oracle;

use std::fs;
use std::panic;
use std::path::PathBuf;

#[test]
fn jws_signature_corpus() {
    replay("jws_signature", jws_oracle::signature_header);
}

#[test]
fn jws_key_pem_corpus() {
    replay("jws_key_pem", jws_oracle::key_pem);
}

#[test]
fn jws_canonical_corpus() {
    replay("jws_canonical", jws_oracle::canonical);
}

#[test]
fn canonical_json_corpus_through_jws() {
    replay("canonical_json", jws_oracle::canonical);
}

/// Runs `oracle` on every file of `fuzz/seeds/<target>/` and fails naming each input it
/// rejects.
fn replay(target: &str, oracle: fn(&[u8])) {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no seeds in {}", directory.display());
    let failures: Vec<String> = paths
        .iter()
        .filter(|path| {
            let input = fs::read(path).expect("seed file");
            panic::catch_unwind(|| oracle(&input)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(
        failures.is_empty(),
        "{target}: {} of {} inputs fail the oracle:\n{}",
        failures.len(),
        paths.len(),
        failures.join("\n")
    );
}
