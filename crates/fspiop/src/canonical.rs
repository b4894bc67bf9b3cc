//! Canonical JSON (object keys sorted, no whitespace) and content hashes for duplicate
//! detection.
//!
//! Mojaloop's reference SDK signs and re-serialises bodies in this form (see the protocol digest
//! §3.3). The duplicate check compares a hash of the canonical form, so a resend that only
//! reorders keys or whitespace still counts as the same request.

use base64::Engine;
use sha2::{Digest, Sha256};

/// Serialises a JSON value with object keys sorted and no insignificant whitespace.
pub fn to_canonical_string(value: &serde_json::Value) -> String {
    let mut out = String::new();
    write_value(value, &mut out);
    out
}

/// SHA-256 of the canonical form, base64url without padding.
pub fn content_hash(value: &serde_json::Value) -> String {
    let digest = Sha256::digest(to_canonical_string(value).as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

fn write_value(value: &serde_json::Value, out: &mut String) {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            // Rust compares strings by bytes; for UTF-16 order (the SDK's) keys would have to be
            // compared by code units. FSPIOP keys are ASCII, where both orders agree.
            keys.sort();
            out.push('{');
            for (index, key) in keys.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::Value::String((*key).clone()).to_string());
                out.push(':');
                if let Some(inner) = map.get(*key) {
                    write_value(inner, out);
                }
            }
            out.push('}');
        }
        serde_json::Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
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
