//! The hub against the reference JavaScript implementation, live, both ways:
//!
//! * **they sign, our hub verifies** — `@mojaloop/sdk-standard-components`' `Jws.signer`
//!   (pinned in `interop/node`) signs a quote and a prepare with an RSA key registered for the
//!   payer; the requests are sent to the running hub exactly as the SDK produced them and must
//!   be accepted (and forwarded with the SDK's signature intact);
//! * **we sign, they verify** — messages the hub originated (party-oracle answer, `GET`
//!   answer, error callback, `PATCH` notification), captured as the DFSP received them, pass the
//!   SDK's `Jws.validator` with the hub's published key; a tampered copy does not.
//!
//! Runs only with `FERROLOOP_NODE_INTEROP=1` (set by `scripts/test`).

mod common;

#[path = "../../../interop/node/harness.rs"]
mod harness;

use common::*;
use dfsp::simulator::{PayeeBehaviour, Received};
use fspiop::headers::{Method, Resource};
use serde_json::{Value, json};

/// Signs a request with the SDK: returns the headers and body text the SDK would send.
fn sdk_sign(
    dir: &std::path::Path,
    private_key: &str,
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &Value,
) -> (Vec<(String, String)>, String) {
    let headers: serde_json::Map<String, Value> =
        headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let input = json!({
        "privateKey": private_key,
        "method": method,
        "url": url,
        "headers": headers,
        "body": body,
    });
    let output = harness::node_with_input(dir, "sign.js", &[], input.to_string().as_bytes());
    assert!(
        output.status.success(),
        "node sign.js failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let signed: Value = serde_json::from_slice(&output.stdout).expect("sign.js prints JSON");
    let headers = signed["headers"]
        .as_object()
        .expect("headers")
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    (headers, signed["body"].as_str().expect("body").to_string())
}

#[tokio::test]
async fn sdk_signed_requests_are_accepted_by_the_hub() {
    let Some(dir) = harness::interop_dir() else {
        return;
    };
    // The key is registered with a raw admin call, answered directly: no checker.
    let t = TestHub::sandbox().await;
    t.payee.set_behaviour(PayeeBehaviour::Silent);
    // An RSA key as SDK deployments use, registered next to the simulator's own key.
    let key = jws::SigningKey::generate_rs256(2048).expect("RSA key");
    let private = key.to_pkcs8_pem().expect("PEM");
    let (status, added) = t
        .admin_raw(
            reqwest::Method::POST,
            &format!("/participants/{PAYER}/jwsKeys"),
            Some(&t.token),
            Some(json!({"publicKey": key.verifying_key().to_pem()})),
        )
        .await;
    assert_eq!(status, 201, "{added}");

    let (body, _) = t.prepare("12.34", &in_millis(30_000)).await;
    let headers = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    let url = format!("{}/transfers", t.fspiop_url);
    let (signed_headers, wire) = sdk_sign(&dir, &private, "POST", &url, &headers, &body);
    let signature = signed_headers
        .iter()
        .find(|(k, _)| k == "fspiop-signature")
        .map(|(_, v)| v.clone())
        .expect("the SDK signed");
    let answer = t
        .send_unsigned(
            &t.payer,
            Method::Post,
            "/transfers",
            &signed_headers,
            Some(wire.clone()),
        )
        .await;
    assert_accepted(&answer, 202, "SDK-signed prepare");
    let forwarded = t.wait_path(&t.payee, "POST", "/transfers").await;
    assert_eq!(forwarded.raw, wire.as_bytes(), "body forwarded untouched");
    assert_eq!(
        forwarded.header("fspiop-signature"),
        Some(signature.as_str()),
        "the SDK's signature is forwarded untouched"
    );

    // The same request with one byte of the body changed is refused.
    let tampered = wire.replacen("12.34", "12.35", 1);
    let answer = t
        .send_unsigned(
            &t.payer,
            Method::Post,
            "/transfers",
            &signed_headers,
            Some(tampered),
        )
        .await;
    assert_refused(&answer, 400, "3105", "SDK-signed prepare, body altered");
}

/// The SDK validator's verdict on messages captured at a simulator.
fn sdk_validates(dir: &std::path::Path, hub_key: &str, messages: &[(&str, &Received, &str)]) {
    let vectors: Vec<Value> = messages
        .iter()
        .map(|(name, received, expect)| {
            let headers: serde_json::Map<String, Value> = received
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            json!({
                "name": name,
                "key": "hub",
                "headers": headers,
                "body": String::from_utf8_lossy(&received.raw),
                "expect": expect,
            })
        })
        .collect();
    let document = json!({"keys": {"hub": hub_key}, "vectors": vectors});
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), document.to_string()).expect("write vectors");
    let output = harness::run(
        std::process::Command::new("node")
            .arg("verify.js")
            .arg(file.path())
            .current_dir(dir),
    );
    harness::assert_success("node verify.js (hub messages)", &output);
}

#[tokio::test]
async fn hub_signed_messages_pass_the_sdk_validator() {
    let Some(dir) = harness::interop_dir() else {
        return;
    };
    let t = TestHub::start().await;
    let registered = t
        .wait_path(
            &t.payee,
            "PUT",
            &format!("/participants/MSISDN/{PAYEE_MSISDN}"),
        )
        .await;
    let outcome = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "3", WAIT)
        .await
        .expect("transfer");
    let path = format!("/transfers/{}", outcome.transfer_id);
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Transfers, &path, None, None)
        .await
        .expect("reachable");
    assert_accepted(&answer, 202, "GET transfer");
    let answers = t
        .wait_count(&t.payer, 2, |r| r.method == "PUT" && r.path == path)
        .await;
    let get_answer = answers
        .iter()
        .find(|r| r.header("fspiop-source") == Some(HUB))
        .expect("the hub answered")
        .clone();
    let lookup = "/parties/MSISDN/0000000";
    t.payer
        .client()
        .send(Method::Get, Resource::Parties, lookup, None, None)
        .await
        .expect("reachable");
    let error = t.hub_error(&t.payer, lookup, "3204").await;

    // A PATCH notification: the payee fulfils RESERVED.
    t.payee.set_behaviour(PayeeBehaviour::Reserve);
    let reserved = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "2", WAIT)
        .await
        .expect("transfer");
    let patch = t
        .wait_path(
            &t.payee,
            "PATCH",
            &format!("/transfers/{}", reserved.transfer_id),
        )
        .await;

    let mut tampered = error.clone();
    tampered.raw = String::from_utf8_lossy(&error.raw)
        .replace("3204", "3205")
        .into_bytes()
        .into();
    sdk_validates(
        &dir,
        &t.hub.jws_public_key.to_pem(),
        &[
            ("party-oracle answer", &registered, "accept"),
            ("GET /transfers answer", &get_answer, "accept"),
            ("error callback", &error, "accept"),
            ("PATCH notification", &patch, "accept"),
            ("error callback, body altered", &tampered, "reject"),
        ],
    );
}
