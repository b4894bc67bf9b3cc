//! Oracle for the hub's FSPIOP path router, [`hub::api::parse_path`].
//!
//! Not replayed under `cargo test` by the `fspiop` or `ilp` corpus tests: it needs the `hub`
//! crate, which neither depends on.

use hub::api::{Route, parse_path};

/// `hub_path`: [`parse_path`] over arbitrary UTF-8 text (other input is skipped: the HTTP
/// layer only hands the router a `&str`).
///
/// Never panics; a routed path names its resource in one of its segments and every routed
/// identifier is non-empty; a refusal is `3002 Unknown URI`.
pub fn path(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (resource, route) = match parse_path(text) {
        Ok(routed) => routed,
        Err(error) => {
            assert_eq!(error.code, fspiop::ErrorCode::UNKNOWN_URI);
            return;
        }
    };
    assert!(text.split('/').any(|segment| segment == resource.name()));
    let identifiers: Vec<&String> = match &route {
        Route::Collection => vec![],
        Route::Item(id) | Route::ItemError(id) => vec![id],
        Route::Party {
            id_type,
            identifier,
            sub_id,
        }
        | Route::PartyError {
            id_type,
            identifier,
            sub_id,
        } => [Some(id_type), Some(identifier), sub_id.as_ref()]
            .into_iter()
            .flatten()
            .collect(),
    };
    assert!(
        identifiers.iter().all(|id| !id.is_empty()),
        "empty identifier in {route:?}"
    );
}
