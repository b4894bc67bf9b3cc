//! Golden vectors signed by the Mojaloop SDK (`interop/node/vectors.js`, committed as
//! `testdata/vectors/sdk-signed.json`), verified without Node: every key size and private key
//! form the SDK signs with, every public key form, and the re-serialisation cases.

mod common;

#[test]
fn every_sdk_signed_vector_verifies_and_tampering_is_caught() {
    let document: serde_json::Value =
        serde_json::from_str(&common::read_vector("sdk-signed.json")).expect("vector JSON");
    let checked = common::check_sdk_document(&document);
    assert!(checked >= 41, "only {checked} vectors");
}

#[test]
fn the_sdk_vectors_cover_what_they_claim() {
    let document: serde_json::Value =
        serde_json::from_str(&common::read_vector("sdk-signed.json")).expect("vector JSON");
    let vectors = document["vectors"].as_array().expect("vectors");
    let has = |predicate: &dyn Fn(&serde_json::Value) -> bool| vectors.iter().any(predicate);
    for key in [
        "rsa2048-pkcs1",
        "rsa2048-pkcs8",
        "rsa3072-pkcs1",
        "rsa3072-pkcs8",
        "rsa4096-pkcs1",
        "rsa4096-pkcs8",
        "p256-sec1",
    ] {
        assert!(has(&|v| v["key"] == key), "{key}");
    }
    assert!(has(&|v| v["alg"] == "ES256"));
    assert!(has(&|v| v["body_form"] == "received-order"));
    assert!(has(&|v| v["body_form"] == "sorted-keys"));
    assert!(has(&|v| v["headers"].get("date").is_none()));
    assert!(has(&|v| v["headers"].get("fspiop-destination").is_none()));
    // What the SDK 19.19 validator itself does with each form (fspiop.md §12).
    for vector in vectors {
        let accepts = vector["sdk_validator_accepts"].as_bool().expect("bool");
        assert_eq!(
            accepts,
            vector["body_form"] != "received-order",
            "{}",
            vector["name"]
        );
    }
}
