//! Untrusted input never panics: arbitrary header values, protected headers, bodies, PEM and
//! DER go through the parsers and come back as errors (or, rarely, values), never as panics.
//! The generators aim near the valid shapes so that the deeper code paths are reached.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::BOTH;
use jws::{
    JwsError, ProtectedHeader, RequestParts, SignatureHeader, SigningKey, VerifyingKey,
    canonical_json, verify,
};
use proptest::prelude::*;

fn request() -> RequestParts<'static> {
    RequestParts {
        method: "PUT",
        uri: "/transfers/1",
        source: "payeefsp",
        destination: Some("payerfsp"),
        date: None,
    }
}

fn keys() -> Vec<VerifyingKey> {
    let pem = common::read_vector("fspiop-3.5-rsa2048.pub.pem");
    vec![VerifyingKey::from_pem(&pem).expect("key")]
}

/// Text that looks like JSON: punctuation, quotes, escapes, member names we read.
fn json_like() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("[".to_owned()),
        Just("]".to_owned()),
        Just(":".to_owned()),
        Just(",".to_owned()),
        Just("\"".to_owned()),
        Just("\\".to_owned()),
        Just("\\u".to_owned()),
        Just("\\ud83d".to_owned()),
        Just("\"protectedHeader\"".to_owned()),
        Just("\"signature\"".to_owned()),
        Just("\"alg\"".to_owned()),
        Just("\"RS256\"".to_owned()),
        Just("\"FSPIOP-URI\"".to_owned()),
        Just("\"crit\"".to_owned()),
        Just("-1.5e+9".to_owned()),
        Just("true".to_owned()),
        Just("null".to_owned()),
        "[a-zA-Z0-9_-]{0,12}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(token, 0..40).prop_map(|tokens| tokens.concat())
}

/// An `FSPIOP-Signature` value whose protected header is arbitrary bytes.
fn header_with_protected(protected: &[u8], signature: &[u8]) -> String {
    format!(
        r#"{{"protectedHeader":"{}","signature":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(protected),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_header_values_never_panic(value in any::<String>()) {
        let _ = SignatureHeader::parse(&value);
        let result = verify(&value, &request(), b"{}", &keys(), BOTH);
        prop_assert!(result.is_err());
    }

    #[test]
    fn json_like_header_values_never_panic(value in json_like()) {
        if let Ok(header) = SignatureHeader::parse(&value) {
            let _ = header.protected_header();
            let _ = header.to_header_value();
        }
        let result = verify(&value, &request(), b"{}", &keys(), BOTH);
        prop_assert!(result.is_err());
    }

    #[test]
    fn arbitrary_protected_headers_never_panic(
        protected in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..200),
            json_like().prop_map(String::into_bytes),
        ],
        signature in prop::collection::vec(any::<u8>(), 0..300),
    ) {
        let _ = ProtectedHeader::parse(&protected);
        let value = header_with_protected(&protected, &signature);
        let result = verify(&value, &request(), b"{\"a\":1}", &keys(), BOTH);
        prop_assert!(result.is_err());
    }

    #[test]
    fn well_formed_headers_with_bad_signatures_are_bad_signatures(
        signature in prop::collection::vec(any::<u8>(), 0..600),
        body in prop::collection::vec(any::<u8>(), 1..300),
    ) {
        let protected = br#"{"alg":"RS256","FSPIOP-URI":"/transfers/1","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp"}"#;
        let value = header_with_protected(protected, &signature);
        let result = verify(&value, &request(), &body, &keys(), BOTH);
        // An empty signature is a missing member; more than 512 bytes is over the limit.
        let expected = if signature.is_empty() || signature.len() > 512 {
            matches!(result, Err(JwsError::Malformed(_)))
        } else {
            result == Err(JwsError::BadSignature)
        };
        prop_assert!(expected, "{:?}", result);
    }

    #[test]
    fn arbitrary_bodies_never_panic(body in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json_like().prop_map(String::into_bytes),
    ]) {
        if let Some(canonical) = canonical_json(&body) {
            // Canonicalisation is idempotent.
            prop_assert_eq!(canonical_json(canonical.as_bytes()), Some(canonical));
        }
    }

    #[test]
    fn arbitrary_pem_and_der_never_panic(
        text in any::<String>(),
        der in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let _ = VerifyingKey::from_pem(&text);
        let _ = SigningKey::from_pem(&text);
        let wrapped = format!("-----BEGIN PUBLIC KEY-----\n{text}\n-----END PUBLIC KEY-----\n");
        let _ = VerifyingKey::from_pem(&wrapped);
        let _ = VerifyingKey::from_spki_der(&der);
        let _ = VerifyingKey::from_pkcs1_der(&der);
        let _ = VerifyingKey::from_certificate_der(&der);
        let _ = SigningKey::from_pkcs8_der(&der);
        let _ = SigningKey::from_pkcs1_der(&der);
        let _ = SigningKey::from_sec1_der(&der);
    }
}

#[test]
fn canonical_json_of_serde_values_matches_sorted_serde_output() {
    // serde_json's default map is sorted by bytes, which equals UTF-16 order for these keys,
    // and it prints these numbers and strings as JavaScript does.
    let value = serde_json::json!({
        "z": [1, 2, {"y": "x\"\\\n\u{1}", "a": null}],
        "a": {"c": true, "b": false},
        "m": "ü€😀",
    });
    let pretty = serde_json::to_vec_pretty(&value).expect("serialise");
    let compact = serde_json::to_string(&value).expect("serialise");
    assert_eq!(canonical_json(&pretty), Some(compact));
}
