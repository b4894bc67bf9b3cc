//! Canonical JSON (object keys sorted, no whitespace) and content hashes for duplicate
//! detection.
//!
//! Mojaloop's reference SDK signs and re-serialises bodies in this form (see the protocol digest
//! §3.3). The duplicate check compares a hash of the canonical form, so a resend that only
//! reorders keys or whitespace still counts as the same request.

use base64::Engine;
use sha2::{Digest, Sha256};

/// Serialises a JSON value with object keys sorted and no insignificant whitespace, exactly as
/// the reference SDK's `safe-stable-stringify` does (one implementation, in the `ilp` crate,
/// shared by the hub's hashes and the DFSP-side ILP terms).
pub fn to_canonical_string(value: &serde_json::Value) -> String {
    ilp::canonical_json::to_string(value)
}

/// SHA-256 of the canonical form, base64url without padding.
pub fn content_hash(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(to_canonical_string(value).as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_recursively_and_compacts() {
        let value: serde_json::Value =
            serde_json::from_str(r#"{ "b": 1, "a": {"z": [ {"y":2,"x":1} ], "c": "é\n"} }"#)
                .unwrap();
        assert_eq!(
            to_canonical_string(&value),
            r#"{"a":{"c":"é\n","z":[{"x":1,"y":2}]},"b":1}"#
        );
    }

    #[test]
    fn hash_ignores_order_and_whitespace() {
        let one: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let two: serde_json::Value = serde_json::from_str("{ \"b\" : 2,\n \"a\": 1 }").unwrap();
        let three: serde_json::Value = serde_json::from_str(r#"{"a":1,"b":3}"#).unwrap();
        assert_eq!(content_hash(&one), content_hash(&two));
        assert_ne!(content_hash(&one), content_hash(&three));
    }
}
