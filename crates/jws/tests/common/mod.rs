//! Shared by the integration tests: reading vector documents written by
//! `interop/node/vectors.js`, and checking every vector in one.

#![allow(dead_code)] // each test binary uses a different subset

use std::collections::HashMap;
use std::path::PathBuf;

use jws::{Alg, BodyForm, HeaderField, JwsError, Mismatch, RequestParts, VerifyingKey, verify};
use serde_json::Value;

/// Both algorithms, the allow-list a hub would use.
pub const BOTH: &[Alg] = &[Alg::Rs256, Alg::Es256];

/// Path of a file under `testdata/vectors`.
pub fn vector_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("testdata/vectors")
        .join(name)
}

/// Contents of a file under `testdata/vectors`.
pub fn read_vector(name: &str) -> String {
    let path = vector_path(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Request parts from a vector's lower-case header map.
pub fn request_parts(headers: &Value) -> RequestParts<'_> {
    let header = |name: &str| headers.get(name).and_then(Value::as_str);
    RequestParts {
        method: header("fspiop-http-method").expect("fspiop-http-method"),
        uri: header("fspiop-uri").expect("fspiop-uri"),
        source: header("fspiop-source").expect("fspiop-source"),
        destination: header("fspiop-destination"),
        date: header("date"),
    }
}

fn body_form(name: &str) -> BodyForm {
    match name {
        "raw" => BodyForm::Raw,
        "received-order" => BodyForm::ReceivedOrder,
        "sorted-keys" => BodyForm::SortedKeys,
        other => panic!("unknown body_form {other}"),
    }
}

/// Loads every public form of every key in a vectors.js document, checking that the forms
/// of one key agree (same fingerprint, algorithm and size).
pub fn load_keys(document: &Value) -> HashMap<String, Vec<(String, VerifyingKey)>> {
    let mut keys = HashMap::new();
    for key in document["keys"].as_array().expect("keys") {
        let id = key["id"].as_str().expect("key id").to_owned();
        let bits = key["bits"].as_u64().expect("bits");
        let mut forms = Vec::new();
        for (form, pem) in key["public"].as_object().expect("public forms") {
            let pem = pem.as_str().expect("PEM text");
            let loaded = VerifyingKey::from_pem(pem)
                .unwrap_or_else(|e| panic!("key {id}, form {form}: {e}"));
            assert_eq!(u64::from(loaded.bits()), bits, "key {id}, form {form}");
            forms.push((form.clone(), loaded));
        }
        assert!(!forms.is_empty(), "key {id} has no public form");
        let first = &forms[0].1;
        for (form, other) in &forms {
            assert_eq!(
                other.fingerprint(),
                first.fingerprint(),
                "key {id}, form {form}"
            );
            assert_eq!(other, first, "key {id}, form {form}");
        }
        keys.insert(id, forms);
    }
    keys
}

/// Checks every vector of a vectors.js document: it verifies with every public form of its
/// key, in the expected body form, and fails in the expected way when tampered with.
/// Returns the number of vectors checked.
pub fn check_sdk_document(document: &Value) -> usize {
    let keys = load_keys(document);
    let vectors = document["vectors"].as_array().expect("vectors");
    for vector in vectors {
        let name = vector["name"].as_str().expect("name");
        let forms = &keys[vector["key"].as_str().expect("key")];
        let alg: Alg = vector["alg"]
            .as_str()
            .expect("alg")
            .parse()
            .expect("known alg");
        let headers = &vector["headers"];
        let signature = headers["fspiop-signature"].as_str().expect("signature");
        let request = request_parts(headers);
        let body = vector["body"].as_str().expect("body").as_bytes();
        let expected_form = body_form(vector["body_form"].as_str().expect("body_form"));

        for (form, key) in forms {
            let verified = verify(signature, &request, body, std::slice::from_ref(key), BOTH)
                .unwrap_or_else(|e| panic!("{name} with {form} key: {e}"));
            assert_eq!(verified.body_form, expected_form, "{name}");
            assert_eq!(verified.header.alg, alg, "{name}");
            assert_eq!(verified.header.source, request.source, "{name}");
        }
        let key = &forms[0].1;
        if expected_form == BodyForm::SortedKeys || expected_form == BodyForm::Raw {
            let signed = vector["signed_body"].as_str().expect("signed_body");
            assert_eq!(jws::canonical_json(body).as_deref(), Some(signed), "{name}");
        }
        check_tampering(name, signature, &request, body, key, alg);
        check_key_choice(name, signature, &request, body, key, &keys, alg);
    }
    vectors.len()
}

fn check_tampering(
    name: &str,
    signature: &str,
    request: &RequestParts<'_>,
    body: &[u8],
    key: &VerifyingKey,
    alg: Alg,
) {
    let keys = std::slice::from_ref(key);
    let uri = format!("{}x", request.uri);
    let tampered = RequestParts {
        uri: &uri,
        ..*request
    };
    assert_eq!(
        verify(signature, &tampered, body, keys, BOTH).unwrap_err(),
        JwsError::HeaderMismatch {
            field: HeaderField::Uri,
            reason: Mismatch::Differs
        },
        "{name}"
    );
    let tampered = RequestParts {
        destination: Some("elsewhere"),
        ..*request
    };
    let expected = if request.destination.is_some() {
        Mismatch::Differs
    } else {
        Mismatch::NotSigned
    };
    assert_eq!(
        verify(signature, &tampered, body, keys, BOTH).unwrap_err(),
        JwsError::HeaderMismatch {
            field: HeaderField::Destination,
            reason: expected
        },
        "{name}"
    );
    if request.date.is_some() {
        let tampered = RequestParts {
            date: Some("Sat, 01 Jan 2000 00:00:00 GMT"),
            ..*request
        };
        assert_eq!(
            verify(signature, &tampered, body, keys, BOTH).unwrap_err(),
            JwsError::HeaderMismatch {
                field: HeaderField::Date,
                reason: Mismatch::Differs
            },
            "{name}"
        );
    }
    let mut parsed: Value = serde_json::from_slice(body).expect("JSON body");
    parsed["tampered"] = Value::Bool(true);
    let tampered_body = serde_json::to_vec(&parsed).expect("serialise");
    assert_eq!(
        verify(signature, request, &tampered_body, keys, BOTH).unwrap_err(),
        JwsError::BadSignature,
        "{name}"
    );
    let other_alg = if alg == Alg::Rs256 {
        Alg::Es256
    } else {
        Alg::Rs256
    };
    assert_eq!(
        verify(signature, request, body, keys, &[other_alg]).unwrap_err(),
        JwsError::AlgorithmNotAllowed(alg),
        "{name}"
    );
}

fn check_key_choice(
    name: &str,
    signature: &str,
    request: &RequestParts<'_>,
    body: &[u8],
    key: &VerifyingKey,
    keys: &HashMap<String, Vec<(String, VerifyingKey)>>,
    alg: Alg,
) {
    // Another key of the same algorithm fails; listed first, rotation still finds ours.
    let mut others = keys
        .values()
        .map(|forms| &forms[0].1)
        .filter(|other| other.alg() == alg && *other != key);
    let Some(other) = others.next() else {
        return;
    };
    assert_eq!(
        verify(signature, request, body, std::slice::from_ref(other), BOTH).unwrap_err(),
        JwsError::BadSignature,
        "{name}"
    );
    let rotation = [other.clone(), key.clone()];
    let verified = verify(signature, request, body, &rotation, BOTH).expect(name);
    assert_eq!(verified.key_index, 1, "{name}");
}
