//! Oracles for the Ferroloop fuzz targets.
//!
//! Each fuzz target in `fuzz_targets/` is one line that hands the input to a function here.
//! The `ilp`, `fspiop`, `jws` and `iam` oracles are plain functions over `&[u8]` that use nothing but
//! their crate and its dependencies, so the corpus tests of those crates include the same files
//! and replay `seeds/` under a stable `cargo test`.
#![forbid(unsafe_code)]

pub mod fspiop_oracle;
pub mod hub_oracle;
pub mod iam_oracle;
pub mod ilp_oracle;
pub mod jws_oracle;
