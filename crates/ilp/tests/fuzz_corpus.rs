//! Replays the committed fuzz corpus through the fuzz oracles on stable Rust.
//!
//! The oracles are the fuzz targets' own (`fuzz/src/ilp_oracle.rs`, included below), and the
//! inputs are every file in `fuzz/seeds/<target>/`: the hand-made seeds, the minimised corpus
//! kept from fuzzing runs and any `crash-*` reproducer. So a plain `cargo test` checks exactly
//! what `cargo fuzz run` checks, on every input the fuzzer found interesting.

#[path = "../../../fuzz/src/ilp_oracle.rs"]
mod ilp_oracle;

use std::fs;
use std::panic;
use std::path::PathBuf;

#[test]
fn ilp_packet_corpus() {
    replay("ilp_packet", ilp_oracle::packet);
}

#[test]
fn ilp_base64_corpus() {
    replay("ilp_base64", ilp_oracle::base64);
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
