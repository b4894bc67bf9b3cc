//! Interop both ways with the reference implementation, `@mojaloop/sdk-standard-components`
//! under Node (`interop/node/`): the SDK signs fresh vectors that we verify, and we sign
//! vectors that the SDK validator checks, including ones it must reject.
//!
//! Runs only with `FERROLOOP_NODE_INTEROP=1` (it needs `node` and `npm` on PATH and, when
//! `interop/node/node_modules` is missing, the npm registry for `npm ci --ignore-scripts`);
//! otherwise each test prints a skip note and passes.
//! The committed `testdata/vectors/sdk-signed.json` covers the first direction without Node.

mod common;

#[path = "../../../interop/node/harness.rs"]
mod harness;

use std::process::Command;

use harness::{assert_success, interop_dir, run};

use common::{BOTH, read_vector};
use jws::{RequestParts, SigningKey, canonical_json, sign};
use serde_json::{Value, json};

#[test]
fn node_signs_and_we_verify() {
    let Some(dir) = interop_dir() else { return };
    let scratch = tempfile::tempdir().expect("temp dir");
    let out = scratch.path().join("sdk-signed.json");
    let output = run(Command::new("node")
        .arg("vectors.js")
        .arg("--out")
        .arg(&out)
        .current_dir(&dir));
    assert_success("node vectors.js", &output);
    let document: Value =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("read")).expect("JSON");
    let checked = common::check_sdk_document(&document);
    assert!(checked >= 41, "only {checked} vectors");
    println!("verified {checked} fresh SDK-signed vectors");
}

#[test]
fn we_sign_and_node_verifies() {
    let Some(dir) = interop_dir() else { return };
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = scratch.path().join("ferroloop-signed.json");
    let document = our_vectors();
    let count = document["vectors"].as_array().map_or(0, Vec::len);
    std::fs::write(&path, serde_json::to_vec_pretty(&document).expect("JSON")).expect("write");
    let output = run(Command::new("node")
        .arg("verify.js")
        .env("FERROLOOP_JWS_VECTORS", &path)
        .current_dir(&dir));
    assert_success("node verify.js", &output);
    let summary = format!("sdk validator: {count} of {count} vectors as expected");
    assert!(
        String::from_utf8_lossy(&output.stdout).contains(&summary),
        "no summary line {summary:?}"
    );
    println!("the SDK validator agreed on all {count} of our vectors");
}

#[test]
fn node_verifier_reports_a_wrong_expectation() {
    // Negative control: the oracle must be able to fail. A tampered vector labelled
    // "accept" has to make verify.js exit non-zero.
    let Some(dir) = interop_dir() else { return };
    let scratch = tempfile::tempdir().expect("temp dir");
    let path = scratch.path().join("mislabelled.json");
    let mut document = our_vectors();
    let vectors = document["vectors"].as_array_mut().expect("vectors");
    let mut bad = vectors
        .iter()
        .find(|vector| vector["name"] == "tampered-body")
        .cloned()
        .expect("tampered-body vector");
    bad["expect"] = json!("accept");
    *vectors = vec![bad];
    std::fs::write(&path, serde_json::to_vec(&document).expect("JSON")).expect("write");
    let output = run(Command::new("node")
        .arg("verify.js")
        .env("FERROLOOP_JWS_VECTORS", &path)
        .current_dir(&dir));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !output.status.success(),
        "verify.js passed a bad vector:\n{stdout}"
    );
    assert!(stdout.contains("FAIL tampered-body"), "{stdout}");
}

/// Vectors signed here. Accepted ones use canonical (sorted, compact) bodies, as the hub
/// sends; rejected ones show the SDK refusing what it must refuse.
fn our_vectors() -> Value {
    let worked_example =
        SigningKey::from_pem(&read_vector("fspiop-3.5-rsa2048.key.pem")).expect("§3.5 key");
    let keys: Vec<(&str, SigningKey)> = vec![
        ("rsa2048-fspiop-3.5", worked_example),
        (
            "rsa2048",
            SigningKey::generate_rs256(2048).expect("generate"),
        ),
        (
            "rsa3072",
            SigningKey::generate_rs256(3072).expect("generate"),
        ),
        (
            "rsa4096",
            SigningKey::generate_rs256(4096).expect("generate"),
        ),
        ("p256", SigningKey::generate_es256().expect("generate")),
        (
            "p256-other",
            SigningKey::generate_es256().expect("generate"),
        ),
    ];
    let mut vectors = Vec::new();
    for (id, key) in &keys {
        for request in requests() {
            let body = canonical_json(request.body.as_bytes()).expect("JSON body");
            vectors.push(vector(
                &format!("{}/{id}", request.name),
                id,
                key,
                &request.parts,
                &body,
                "accept",
            ));
        }
    }
    vectors.extend(rejected_vectors(&keys));
    let mut public = serde_json::Map::new();
    for (id, key) in &keys {
        public.insert((*id).to_owned(), json!(key.verifying_key().to_pem()));
    }
    json!({ "keys": public, "vectors": vectors })
}

fn rejected_vectors(keys: &[(&str, SigningKey)]) -> Vec<Value> {
    let (id, key) = (keys[4].0, &keys[4].1);
    let request = &requests()[0];
    let canonical = canonical_json(request.body.as_bytes()).expect("JSON body");
    let mut out = Vec::new();

    // Compact but unsorted: SDK 19.19 re-serialises sorted, so this fails there (§3.3).
    let unsorted = r#"{"transferState":"COMMITTED","fulfilment":"CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk","completedTimestamp":"2025-01-01T00:00:01.000Z"}"#;
    out.push(vector(
        "unsorted-body",
        id,
        key,
        &request.parts,
        unsorted,
        "reject",
    ));

    let mut tampered = vector(
        "tampered-uri",
        id,
        key,
        &request.parts,
        &canonical,
        "reject",
    );
    tampered["headers"]["fspiop-uri"] = json!("/transfers/00000000-0000-0000-0000-000000000000");
    out.push(tampered);

    let mut tampered = vector(
        "tampered-destination",
        id,
        key,
        &request.parts,
        &canonical,
        "reject",
    );
    tampered["headers"]["fspiop-destination"] = json!("otherfsp");
    out.push(tampered);

    let mut tampered = vector(
        "tampered-date",
        id,
        key,
        &request.parts,
        &canonical,
        "reject",
    );
    tampered["headers"]["date"] = json!("Sat, 01 Jan 2000 00:00:00 GMT");
    out.push(tampered);

    let mut tampered = vector(
        "tampered-body",
        id,
        key,
        &request.parts,
        &canonical,
        "reject",
    );
    tampered["body"] = json!(canonical.replace("COMMITTED", "ABORTED"));
    out.push(tampered);

    let mut wrong_key = vector("wrong-key", id, key, &request.parts, &canonical, "reject");
    wrong_key["key"] = json!(keys[5].0);
    out.push(wrong_key);
    out
}

fn vector(
    name: &str,
    id: &str,
    key: &SigningKey,
    parts: &RequestParts<'_>,
    body: &str,
    expect: &str,
) -> Value {
    let signature = sign(key, parts, body.as_bytes()).expect("sign");
    // Our own verifier agrees before Node is asked.
    let keys = [key.verifying_key().clone()];
    let verified = jws::verify(&signature, parts, body.as_bytes(), &keys, BOTH);
    assert!(verified.is_ok(), "{name}: {verified:?}");
    let mut headers = serde_json::Map::new();
    headers.insert("fspiop-uri".into(), json!(parts.uri));
    headers.insert("fspiop-http-method".into(), json!(parts.method));
    headers.insert("fspiop-source".into(), json!(parts.source));
    if let Some(destination) = parts.destination {
        headers.insert("fspiop-destination".into(), json!(destination));
    }
    if let Some(date) = parts.date {
        headers.insert("date".into(), json!(date));
    }
    headers.insert("fspiop-signature".into(), json!(signature));
    json!({ "name": name, "key": id, "headers": headers, "body": body, "expect": expect })
}

struct Request {
    name: &'static str,
    parts: RequestParts<'static>,
    body: &'static str,
}

fn requests() -> Vec<Request> {
    const TRANSFER: &str = "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069";
    vec![
        Request {
            name: "put-transfer-fulfil",
            parts: RequestParts {
                method: "PUT",
                uri: TRANSFER,
                source: "payeefsp",
                destination: Some("payerfsp"),
                date: Some("Wed, 01 Jan 2025 00:00:01 GMT"),
            },
            body: r#"{"transferState":"COMMITTED","fulfilment":"CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk","completedTimestamp":"2025-01-01T00:00:01.000Z"}"#,
        },
        Request {
            name: "put-transfer-error-from-hub-without-date",
            parts: RequestParts {
                method: "PUT",
                uri: "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069/error",
                source: "Hub",
                destination: Some("payerfsp"),
                date: None,
            },
            body: r#"{"errorInformation":{"errorCode":"3303","errorDescription":"Transfer expired"}}"#,
        },
        Request {
            name: "post-participants-without-destination",
            parts: RequestParts {
                method: "POST",
                uri: "/participants/MSISDN/123456789",
                source: "payerfsp",
                destination: None,
                date: Some("Fri, 03 Jan 2025 23:59:59 GMT"),
            },
            body: r#"{"fspId":"payerfsp","currency":"USD"}"#,
        },
        Request {
            name: "patch-transfer-from-hub",
            parts: RequestParts {
                method: "PATCH",
                uri: TRANSFER,
                source: "Hub",
                destination: Some("payeefsp"),
                date: Some("Wed, 01 Jan 2025 00:00:02 GMT"),
            },
            body: r#"{"transferState":"COMMITTED","completedTimestamp":"2025-01-01T00:00:02.000Z"}"#,
        },
        Request {
            // Our canonical form of every JavaScript edge case must equal safe-stable-stringify's.
            name: "post-quote-edge-cases",
            parts: RequestParts {
                method: "POST",
                uri: "/quotes",
                source: "payerfsp",
                destination: Some("payeefsp"),
                date: Some("Thu, 02 Jan 2025 10:20:30 GMT"),
            },
            body: EDGE_CASES,
        },
    ]
}

const EDGE_CASES: &str = r#"{
  "quoteId" : "7c23e80c-d078-4077-8263-2c047876fcf6",
  "b" : 1,
  "4294967295" : "not an index", "4294967294" : "largest index", "10" : "ten", "2" : "two",
  "01" : "leading zero",
  "numbers" : [1.0, 1e21, 1e20, 0.0000001, 12.50, -0, 1E+2, 123456789012345678901, 5e-324],
  "escapes" : "\u0041\/\u00e9\ud83d\ude00\u2028\u001f\"\\\b\f\n\r\t\u007f",
  "name" : "Zoë Ünal-Søren 田中 😀",
  "é" : 1, "😀" : 2, "ｱ" : 3, "Z" : 4, "a" : 5, "" : 6,
  "nested" : { "z" : [ { "y" : null, "x" : true } ], "a" : false, "extensionList" : { "extension" : [] } },
  "b" : "duplicate wins"
}"#;
