//! Replays the committed fuzz corpus through the fuzz oracles on stable Rust.
//!
//! The oracles are the fuzz targets' own (`fuzz/src/fspiop_oracle.rs`, included below), and the
//! inputs are every file in `fuzz/seeds/<target>/`: the hand-made seeds and the minimised corpus
//! kept from fuzzing runs. So a plain `cargo test` checks exactly what `cargo fuzz run` checks,
//! on every input the fuzzer found interesting.
//!
//! The `hub_path` seeds are not replayed here: their oracle needs the `hub` crate, which
//! `fspiop` does not (and must not) depend on.

#[path = "../../../fuzz/src/fspiop_oracle.rs"]
mod fspiop_oracle;

use std::fs;
use std::panic;
use std::path::PathBuf;

#[test]
fn fspiop_headers_corpus() {
    replay("fspiop_headers", "", fspiop_oracle::headers);
}

#[test]
fn fspiop_values_corpus() {
    replay("fspiop_values", "", fspiop_oracle::values);
}

/// `FspiopDateTime::parse` admits instants outside UTC years 1..=9999 (a local year 0000 or
/// 9999 with an offset); `Display` (and so `Serialize`) then panics in `time`'s `to_offset`
/// (`crates/fspiop/src/types.rs`, `impl fmt::Display for FspiopDateTime`) or prints a year
/// `parse` refuses, and `from_unix_millis(unix_millis())` is `None`.
#[test]
fn fspiop_values_known_crashes() {
    replay(
        "fspiop_values",
        "crash-",
        fspiop_oracle::values_including_known_bugs,
    );
}

#[test]
fn fspiop_schema_corpus() {
    replay("fspiop_schema", "", fspiop_oracle::schema);
}

#[test]
fn canonical_json_corpus() {
    replay("canonical_json", "", fspiop_oracle::canonical);
}

/// Runs `oracle` on every file of `fuzz/seeds/<target>/` whose name starts with `prefix` and
/// fails naming each input it rejects.
fn replay(target: &str, prefix: &str, oracle: fn(&[u8])) {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let mut paths: Vec<PathBuf> = fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.is_file())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix))
        })
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
