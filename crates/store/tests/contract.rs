//! The contract suite against every backend.

use ledger::mem::MemStore;
use store::SqliteStore;
use tempfile::TempDir;

async fn sqlite_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(&dir.path().join("ledger.db"))
        .await
        .expect("open sqlite store");
    (store, dir)
}

async fn memory_store() -> (MemStore, ()) {
    (MemStore::new(), ())
}

mod sqlite {
    store::contract_tests!(super::sqlite_store);
}

mod memory {
    store::contract_tests!(super::memory_store);
}

/// Every public contract function is listed in `contract_tests!`.
#[test]
fn macro_lists_every_contract_function() {
    let contract = include_str!("../src/contract.rs");
    let lib = include_str!("../src/lib.rs");
    let listed: Vec<&str> = lib
        .split_once("@each $factory;")
        .expect("macro list")
        .1
        .split_once(");")
        .expect("end of macro list")
        .0
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .collect();
    let defined: Vec<&str> = contract
        .lines()
        .filter_map(|line| line.strip_prefix("pub async fn "))
        .map(|rest| rest.split('(').next().unwrap_or_default().trim())
        .collect();
    assert!(!defined.is_empty());
    for name in &defined {
        assert!(
            listed.contains(name),
            "contract::{name} is missing from contract_tests!"
        );
    }
    assert_eq!(listed.len(), defined.len(), "listed: {listed:?}");
}
