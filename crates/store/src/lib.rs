//! Storage backends for the ledger: implementations of [`ledger::LedgerStore`].
//!
//! - [`SqliteStore`]: the embedded default, one SQLite file (WAL, `synchronous=FULL`).
//! - [`contract`]: the backend-independent contract suite; [`contract_tests!`] runs all of it
//!   against a backend (the in-memory [`ledger::mem::MemStore`] model included).
#![forbid(unsafe_code)]

pub mod contract;
mod sqlite;

pub use sqlite::DATABASE_FILE_MODE;
pub use sqlite::{
    BUSY_TIMEOUT, MIGRATIONS, READERS, SqlitePragmas, SqliteStore, WRITER_ACQUIRE_TIMEOUT,
};

/// Generates one `#[tokio::test]` per [`contract`] function for a backend.
///
/// `$factory` is a path to an `async fn() -> (S, G)` returning a fresh, empty store `S` (any
/// [`ledger::LedgerStore`]) and a guard `G` kept alive for the test (a temporary directory, a
/// database to drop, or `()`). The calling crate needs `tokio` (with `macros` and `rt`).
///
/// ```ignore
/// async fn memory() -> (ledger::mem::MemStore, ()) {
///     (ledger::mem::MemStore::new(), ())
/// }
/// mod memory {
///     store::contract_tests!(super::memory);
/// }
/// ```
#[macro_export]
macro_rules! contract_tests {
    ($factory:path) => {
        $crate::contract_tests!(@each $factory;
            participants_round_trip,
            participant_names_unique_ignoring_case,
            accounts_round_trip,
            account_ids_stable,
            duplicate_account,
            journal_append,
            references_must_exist,
            missing_rows_are_not_updated,
            limits_and_endpoints,
            transfers_round_trip,
            duplicate_transfer,
            open_transfers_only_reserved,
            quotes_round_trip,
            duplicate_quote,
            parties_lookup,
            parties_owner_and_lookups,
            funds_transfers_round_trip,
            duplicate_funds_transfer,
            audit_newest_first,
            audit_chain_dense_and_linked,
            audit_chain_rollback_leaves_no_gap,
            audit_range_pages,
            deliveries_newest_first,
            jws_keys_round_trip,
            duplicate_jws_key,
            jws_keys_ignore_participant_case,
            retire_jws_key_only_once,
            evidence_round_trip,
            participant_tls_round_trip,
            participant_tls_upsert_replaces,
            participant_tls_unknown_participant_refused,
            all_participant_tls_lists_all,
            participant_tls_rollback_on_drop,
            participant_tls_read_view_refuses_writes,
            operators_round_trip,
            operator_names_unique_ignoring_case,
            operator_secrets_stored_only_encoded,
            password_history_newest_first,
            custom_roles_round_trip,
            operator_roles_replaced,
            sessions_round_trip,
            delete_operator_sessions_counts,
            api_tokens_round_trip,
            revoke_api_token_only_once,
            approvals_round_trip,
            approvals_by_state_newest_first,
            approval_rows_checked,
            approval_vote_twice_refused,
            approval_vote_by_maker_refused,
            iam_rollback_on_drop,
            iam_read_view_refuses_writes,
            settings_missing_key_is_none,
            settings_round_trip,
            settings_put_replaces,
            settings_invalid_json_refused,
            settings_bad_keys_refused,
            settings_rollback_on_drop,
            settings_read_view_refuses_writes,
            read_your_writes,
            rollback_on_drop,
            commit_visible_to_read,
            uncommitted_invisible_to_read,
            read_view_refuses_writes,
            many_updates_in_one_transaction,
            consume_totp_step_only_forward,
            claim_login_attempt_compare_and_set,
            audit_query_filters_in_the_store,
            audit_query_pages_newest_first,
        );
    };
    (@each $factory:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, _guard) = $factory().await;
                $crate::contract::$name(&store).await;
            }
        )*
    };
}
