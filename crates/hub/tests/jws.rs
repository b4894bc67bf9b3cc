//! JWS at the hub, end to end on loopback: inbound verification before anything else (3105,
//! nothing stored or forwarded, refusal audited), the key registry (rotation with overlap,
//! retirement, validity windows, refused uploads), hub-originated messages signed with the
//! published key, and the stored evidence re-verified offline.

mod common;

use std::time::{Duration, SystemTime};

use common::*;
use fspiop::headers::{Method, Resource};
use serde_json::{Value, json};

/// A 1024-bit RSA public key (too small) — public material, generated for this test.
const RSA_1024: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDvASu8WhtDO5u5xGgusz0jnyzc
Y6FkrwshSONGaf+Wt7jDD4ipPRueOtAYA7m1PSrcd2wgzJ87asw2uvRg/f0H4tl2
bqih0FbhKZtXfZMQKeGquziTiAKhECRp2CQYZslBb/lfvjF4GUzrzljqn1eI9nZy
rY5c+k7OxlirNStFxwIDAQAB
-----END PUBLIC KEY-----
";

/// A P-384 public key (curve not accepted).
const P384: &str = "-----BEGIN PUBLIC KEY-----
MHYwEAYHKoZIzj0CAQYFK4EEACIDYgAEEH1opB3dta+QTFDdYeJ8aZdAsCsCAQWN
XvUtdtnkkmCsBiEaf6MRmtFc+EKn1pP7eJcNg5Zfkv2QrZkUo909aGQRt01B36HK
4DCc4HoPHqQXsAQelgJ8Wb06XHDnpVez
-----END PUBLIC KEY-----
";

/// An Ed25519 public key (algorithm not accepted).
const ED25519: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAbyvgtofb5PPnwvtu2vffbzrFFBkprA2TpNPcwPE2YG4=
-----END PUBLIC KEY-----
";

/// What to sign, independently of what is sent.
struct Signing<'a> {
    key: &'a jws::SigningKey,
    uri: &'a str,
    method: &'a str,
    source: &'a str,
    destination: Option<&'a str>,
    date: Option<&'a str>,
}

fn header_value(headers: &[(String, String)], name: &str) -> Option<String> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

fn signature(signing: &Signing<'_>, body: &[u8]) -> String {
    let parts = jws::RequestParts {
        method: signing.method,
        uri: signing.uri,
        source: signing.source,
        destination: signing.destination,
        date: signing.date,
    };
    jws::sign(signing.key, &parts, body).expect("signed")
}

/// The payer's standard prepare headers, without a signature.
fn prepare_headers(t: &TestHub) -> Vec<(String, String)> {
    t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    )
}

/// Sends a prepare with exactly these headers and body (no signature added).
async fn send_prepare_as_is(
    t: &TestHub,
    headers: &[(String, String)],
    body: &str,
) -> dfsp::client::Answer {
    t.send_unsigned(
        &t.payer,
        Method::Post,
        "/transfers",
        headers,
        Some(body.to_string()),
    )
    .await
}

/// Sends a prepare signed by `key` as the payer (all signed parts true to the request).
async fn prepare_signed_by(
    t: &TestHub,
    key: &jws::SigningKey,
    body: &Value,
) -> dfsp::client::Answer {
    let mut headers = prepare_headers(t);
    let text = fspiop::canonical::to_canonical_string(body);
    let date = header_value(&headers, "date");
    let value = signature(
        &Signing {
            key,
            uri: "/transfers",
            method: "POST",
            source: PAYER,
            destination: Some(PAYEE),
            date: date.as_deref(),
        },
        text.as_bytes(),
    );
    set_header(&mut headers, "fspiop-signature", &value);
    send_prepare_as_is(t, &headers, &text).await
}

async fn audit(t: &TestHub) -> Vec<Value> {
    let (status, entries) = t
        .admin_raw(
            reqwest::Method::GET,
            "/audit?limit=1000",
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(status, 200);
    entries.as_array().cloned().unwrap_or_default()
}

#[tokio::test]
async fn bad_signatures_are_refused_before_anything_else_and_change_nothing() {
    let t = TestHub::start().await;
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    let before = t.positions().await;
    let canonical = fspiop::canonical::to_canonical_string(&body);
    let base = prepare_headers(&t);
    let date = header_value(&base, "date").expect("date");
    let good = Signing {
        key: &t.payer_key,
        uri: "/transfers",
        method: "POST",
        source: PAYER,
        destination: Some(PAYEE),
        date: Some(&date),
    };
    let stale_date = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(600));
    let mut tampered = body.clone();
    tampered["amount"]["amount"] = json!("11");

    // (what, headers, body, expected words in the description)
    type Case<'a> = (&'a str, Vec<(String, String)>, String, &'a str);
    let mut cases: Vec<Case> = Vec::new();
    cases.push(("unsigned", base.clone(), canonical.clone(), "missing"));
    let mut headers = base.clone();
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&good, canonical.as_bytes()),
    );
    cases.push((
        "body changed after signing",
        headers.clone(),
        fspiop::canonical::to_canonical_string(&tampered),
        "verify",
    ));
    // Unsigned and not even JSON: the signature is checked before the body is parsed.
    cases.push((
        "unsigned garbage",
        base.clone(),
        "{not json".into(),
        "missing",
    ));
    let wrong_key = Signing {
        key: &t.payee_key,
        ..good
    };
    let mut headers = base.clone();
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&wrong_key, canonical.as_bytes()),
    );
    cases.push((
        "signed with the payee's key",
        headers,
        canonical.clone(),
        "verify",
    ));
    let other_uri = Signing {
        uri: "/quotes",
        ..good
    };
    let mut headers = base.clone();
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&other_uri, canonical.as_bytes()),
    );
    cases.push(("signed for another URI", headers, canonical.clone(), "URI"));
    let other_destination = Signing {
        destination: Some("otherfsp"),
        ..good
    };
    let mut headers = base.clone();
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&other_destination, canonical.as_bytes()),
    );
    cases.push((
        "signed for another destination",
        headers,
        canonical.clone(),
        "Destination",
    ));
    let undated = Signing { date: None, ..good };
    let mut headers = base.clone();
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&undated, canonical.as_bytes()),
    );
    cases.push(("Date not signed", headers, canonical.clone(), "Date"));
    let stale = Signing {
        date: Some(&stale_date),
        ..good
    };
    let mut headers = base.clone();
    set_header(&mut headers, "date", &stale_date);
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&stale, canonical.as_bytes()),
    );
    cases.push(("stale Date", headers, canonical.clone(), "clock"));
    let mut headers = base.clone();
    set_header(&mut headers, "fspiop-signature", "not a JWS");
    cases.push(("malformed header", headers, canonical.clone(), "malformed"));
    let mut headers = base.clone();
    set_header(
        &mut headers,
        "fspiop-signature",
        &signature(&good, canonical.as_bytes()),
    );
    set_header(&mut headers, "fspiop-uri", "/transfers/elsewhere");
    cases.push((
        "FSPIOP-URI header not the request path",
        headers,
        canonical.clone(),
        "FSPIOP-URI",
    ));

    let refused = cases.len();
    for (what, headers, text, words) in cases {
        let answer = send_prepare_as_is(&t, &headers, &text).await;
        assert_refused(&answer, 400, "3105", what);
        let description = answer.body.clone();
        assert!(
            description.contains("Invalid signature") && description.contains(words),
            "{what}: {description}"
        );
    }
    t.assert_no_prepare_forwarded().await;
    t.assert_positions_unchanged(&before, "refused signatures")
        .await;
    let denied: Vec<Value> = audit(&t)
        .await
        .into_iter()
        .filter(|e| e["action"] == "fspiop.signature_refused")
        .collect();
    assert_eq!(denied.len(), refused, "every refusal is audited");
    assert!(
        denied
            .iter()
            .all(|e| e["outcome"] == "denied" && e["subject"] == PAYER)
    );

    // The same prepare, properly signed, goes through: the refusals above were the signature's.
    let answer = t.send_prepare(&body).await;
    assert_accepted(&answer, 202, "signed prepare");
    received_prepare(&t).await;
}

async fn received_prepare(t: &TestHub) -> dfsp::simulator::Received {
    t.wait_path(&t.payee, "POST", "/transfers").await
}

#[tokio::test]
async fn keys_rotate_with_overlap_and_retire() {
    // Raw key changes, answered directly: no checker.
    let t = TestHub::sandbox().await;
    let mut bodies = Vec::new();
    for _ in 0..4 {
        bodies.push(t.prepare("1", &in_millis(30_000)).await.0);
    }
    let old = t.payer_key.clone();
    let new = jws::SigningKey::generate_rs256(2048).expect("new RSA key");
    let token = Some(t.token.as_str());
    let keys_path = format!("/participants/{PAYER}/jwsKeys");

    // A new key before it is registered: refused.
    let answer = prepare_signed_by(&t, &new, &bodies[0]).await;
    assert_refused(&answer, 400, "3105", "unregistered key");

    let (status, added) = t
        .admin_raw(
            reqwest::Method::POST,
            &keys_path,
            token,
            Some(json!({"publicKey": new.verifying_key().to_pem()})),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    assert_eq!(added["fingerprint"], new.verifying_key().fingerprint());
    assert_eq!(added["alg"], "RS256");
    assert_eq!(added["bits"], 2048);
    assert_eq!(added["status"], "active");
    // The same key twice: refused.
    let (status, _) = t
        .admin_raw(
            reqwest::Method::POST,
            &keys_path,
            token,
            Some(json!({"publicKey": new.verifying_key().to_pem()})),
        )
        .await;
    assert_eq!(status, 400, "duplicate key");

    // Overlap: both keys verify.
    assert_accepted(
        &prepare_signed_by(&t, &new, &bodies[0]).await,
        202,
        "new key during overlap",
    );
    assert_accepted(
        &prepare_signed_by(&t, &old, &bodies[1]).await,
        202,
        "old key during overlap",
    );

    // Retire the old key: it stops verifying, the new one goes on, the old one is still listed.
    let old_path = format!("{keys_path}/{}", old.verifying_key().fingerprint());
    let (status, _) = t
        .admin_raw(reqwest::Method::DELETE, &old_path, token, None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = t
        .admin_raw(reqwest::Method::DELETE, &old_path, token, None)
        .await;
    assert_eq!(status, 404, "retiring twice");
    let answer = prepare_signed_by(&t, &old, &bodies[2]).await;
    assert_refused(&answer, 400, "3105", "retired key");
    assert_accepted(
        &prepare_signed_by(&t, &new, &bodies[3]).await,
        202,
        "new key after retirement",
    );
    let (status, list) = t
        .admin_raw(reqwest::Method::GET, &keys_path, token, None)
        .await;
    assert_eq!(status, 200);
    let status_of = |fingerprint: &str| {
        list.as_array()
            .and_then(|keys| keys.iter().find(|k| k["fingerprint"] == fingerprint))
            .map(|k| k["status"].clone())
    };
    assert_eq!(
        status_of(old.verifying_key().fingerprint()),
        Some(json!("retired"))
    );
    assert_eq!(
        status_of(new.verifying_key().fingerprint()),
        Some(json!("active"))
    );

    // A key valid only from tomorrow does not verify today.
    let future = jws::SigningKey::generate_es256().expect("key");
    let (status, pending) = t
        .admin_raw(
            reqwest::Method::POST,
            &keys_path,
            token,
            Some(json!({"publicKey": future.verifying_key().to_pem(), "notBefore": in_millis(86_400_000)})),
        )
        .await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["status"], "pending");
    let (body, _) = {
        // Quotes are still signed by the simulator's (retired) key: craft this prepare from
        // one of the earlier bodies with a fresh id.
        let mut body = bodies[0].clone();
        body["transferId"] = json!(uuid::Uuid::new_v4().to_string());
        (body, ())
    };
    let answer = prepare_signed_by(&t, &future, &body).await;
    assert_refused(&answer, 400, "3105", "not-yet-valid key");

    let actions: Vec<String> = audit(&t)
        .await
        .iter()
        .filter(|e| e["outcome"] == "ok" && e["subject"] == PAYER)
        .filter_map(|e| e["action"].as_str().map(str::to_string))
        .filter(|a| a.starts_with("jws_key."))
        .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "jws_key.add").count(),
        3,
        "onboarding, rotation, future key: {actions:?}"
    );
    assert_eq!(actions.iter().filter(|a| *a == "jws_key.retire").count(), 1);
}

#[tokio::test]
async fn weak_or_unknown_keys_are_refused_at_upload() {
    // Raw key changes, answered directly: no checker.
    let t = TestHub::sandbox().await;
    let token = Some(t.token.as_str());
    let path = format!("/participants/{PAYER}/jwsKeys");
    let private = jws::SigningKey::generate_es256()
        .expect("key")
        .to_pkcs8_pem()
        .expect("pem");
    for (what, pem) in [
        ("RSA 1024", RSA_1024.to_string()),
        ("P-384", P384.to_string()),
        ("Ed25519", ED25519.to_string()),
        ("not PEM", "hello".to_string()),
        ("a private key", private.clone()),
    ] {
        let (status, body) = t
            .admin_raw(
                reqwest::Method::POST,
                &path,
                token,
                Some(json!({"publicKey": pem})),
            )
            .await;
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["errorInformation"]["errorCode"], "3100", "{what}");
        let secret_line = private.lines().nth(1).expect("PEM body");
        assert!(
            !body.to_string().contains(&secret_line[..16]),
            "{what}: the answer must not echo key material"
        );
    }
    let key = jws::SigningKey::generate_es256().expect("key");
    let (status, _) = t
        .admin_raw(
            reqwest::Method::POST,
            "/participants/nobody/jwsKeys",
            token,
            Some(json!({"publicKey": key.verifying_key().to_pem()})),
        )
        .await;
    assert_eq!(status, 404, "unknown participant");
    let (status, _) = t
        .admin_raw(
            reqwest::Method::POST,
            &path,
            None,
            Some(json!({"publicKey": key.verifying_key().to_pem()})),
        )
        .await;
    assert_eq!(status, 401, "no token");
    let (_, list) = t.admin_raw(reqwest::Method::GET, &path, token, None).await;
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "only the onboarding key"
    );
}

#[tokio::test]
async fn hub_messages_are_signed_with_the_published_key() {
    let t = TestHub::start().await;
    let http = reqwest::Client::new();
    for base in [&t.fspiop_url, &t.admin_url] {
        let mut request = http.get(format!("{base}/hub/jwsKey"));
        if base == &t.admin_url {
            request = request.bearer_auth(&t.token);
        }
        let published: Value = request
            .send()
            .await
            .expect("reachable")
            .json()
            .await
            .expect("json");
        assert_eq!(published["publicKey"], t.hub.jws_public_key.to_pem());
        assert_eq!(published["fspId"], HUB);
        assert_eq!(published["alg"], "ES256");
        assert_eq!(published["fingerprint"], t.hub.jws_public_key.fingerprint());
    }

    // The party-oracle answer the payee got at start-up.
    let registered = t
        .wait_path(
            &t.payee,
            "PUT",
            &format!("/participants/MSISDN/{PAYEE_MSISDN}"),
        )
        .await;
    assert_hub_signed(&registered);

    // A transfer, then the hub's answer to GET /transfers/{ID}.
    let outcome = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "5", WAIT)
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
    let from_hub = answers
        .iter()
        .find(|r| r.header("fspiop-source") == Some(HUB))
        .expect("the hub answered the GET");
    assert_hub_signed(from_hub);

    // An error the hub originates (unknown party).
    let lookup = "/parties/MSISDN/0000000";
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Parties, lookup, None, None)
        .await
        .expect("reachable");
    assert_accepted(&answer, 202, "lookup");
    t.hub_error(&t.payer, lookup, "3204").await;

    for sim in [&t.payer, &t.payee] {
        assert!(
            sim.signature_failures().is_empty(),
            "{} refused hub messages: {:?}",
            sim.name(),
            sim.signature_failures()
        );
    }
}

fn parties_put(t: &TestHub) -> (String, Vec<(String, String)>, String) {
    let path = format!("/parties/MSISDN/{PAYEE_MSISDN}");
    let headers = t.headers(&t.payee, Method::Put, Resource::Parties, &path, Some(PAYER));
    let body = json!({"party": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": PAYEE_MSISDN, "fspId": PAYEE}}});
    (path, headers, fspiop::canonical::to_canonical_string(&body))
}

#[tokio::test]
async fn unsigned_put_parties_only_when_configured() {
    let strict = TestHub::start().await;
    let (path, headers, body) = parties_put(&strict);
    let answer = strict
        .send_unsigned(&strict.payee, Method::Put, &path, &headers, Some(body))
        .await;
    assert_refused(&answer, 400, "3105", "unsigned PUT /parties by default");

    let lenient = TestHub::start_with(|config| config.jws.unsigned_put_parties = true).await;
    let (path, headers, body) = parties_put(&lenient);
    let answer = lenient
        .send_unsigned(
            &lenient.payee,
            Method::Put,
            &path,
            &headers,
            Some(body.clone()),
        )
        .await;
    assert_accepted(&answer, 200, "unsigned PUT /parties when allowed");
    // A signature that is present is still checked.
    let mut forged = headers.clone();
    let date = header_value(&headers, "date");
    let value = signature(
        &Signing {
            key: &lenient.payer_key,
            uri: &path,
            method: "PUT",
            source: PAYEE,
            destination: Some(PAYER),
            date: date.as_deref(),
        },
        body.as_bytes(),
    );
    set_header(&mut forged, "fspiop-signature", &value);
    let answer = lenient
        .send_unsigned(&lenient.payee, Method::Put, &path, &forged, Some(body))
        .await;
    assert_refused(&answer, 400, "3105", "a bad signature on PUT /parties");
}

#[tokio::test]
async fn get_requests_are_verified_when_configured() {
    let t = TestHub::start_with(|config| config.jws.verify_get = true).await;
    let path = format!("/parties/MSISDN/{PAYEE_MSISDN}");
    let mut headers = t.headers(&t.payer, Method::Get, Resource::Parties, &path, None);
    let answer = t
        .send_unsigned(&t.payer, Method::Get, &path, &headers, None)
        .await;
    assert_refused(
        &answer,
        400,
        "3105",
        "unsigned GET when bodyless signing is on",
    );
    let date = header_value(&headers, "date");
    let parts = jws::RequestParts {
        method: "GET",
        uri: &path,
        source: PAYER,
        destination: None,
        date: date.as_deref(),
    };
    let value = jws::sign_bodyless(&t.payer_key, &parts).expect("signed");
    set_header(&mut headers, "fspiop-signature", &value);
    let answer = t
        .send_unsigned(&t.payer, Method::Get, &path, &headers, None)
        .await;
    assert_accepted(&answer, 202, "signed GET");
}

#[tokio::test]
async fn evidence_reverifies_offline_and_detects_tampering() {
    // Raw key changes, answered directly: no checker.
    let t = TestHub::sandbox().await;
    let outcome = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "7.5", WAIT)
        .await
        .expect("transfer");
    assert_eq!(outcome.state, "COMMITTED");
    // Retiring the payee's key afterwards does not invalidate what it signed before.
    let (status, _) = t
        .admin_raw(
            reqwest::Method::DELETE,
            &format!(
                "/participants/{PAYEE}/jwsKeys/{}",
                t.payee_key.verifying_key().fingerprint()
            ),
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(status, 204);

    let store = store::SqliteStore::open(&t.data_dir.join("hub.db"))
        .await
        .expect("second handle on the store");
    let report = hub::evidence::verify_transfer(&store, &outcome.transfer_id)
        .await
        .expect("report");
    assert!(report.ok(), "{report:#?}");
    let kinds: Vec<&str> = report.messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "quote.request",
            "quote.response",
            "transfer.prepare",
            "transfer.fulfil"
        ]
    );
    let signers: Vec<&str> = report.messages.iter().map(|m| m.signer.as_str()).collect();
    assert_eq!(signers, [PAYER, PAYEE, PAYER, PAYEE]);
    assert!(report.chain.len() >= 3, "{:#?}", report.chain);

    // A stored message whose body was altered no longer verifies.
    use ledger::LedgerStore as _;
    let mut tx = store.read().await.expect("read");
    let mut fulfil = tx
        .evidence(&outcome.transfer_id)
        .await
        .expect("evidence")
        .into_iter()
        .find(|e| e.kind == "transfer.fulfil")
        .expect("fulfil evidence");
    drop(tx);
    let text = String::from_utf8(fulfil.body.clone()).expect("utf-8");
    fulfil.body = text.replace("COMMITTED", "ABORTED").into_bytes();
    let mut tx = store.begin().await.expect("begin");
    tx.append_evidence(&fulfil).await.expect("append");
    tx.commit().await.expect("commit");
    let report = hub::evidence::verify_transfer(&store, &outcome.transfer_id)
        .await
        .expect("report");
    assert!(!report.ok(), "tampering must be detected");
    let bad: Vec<_> = report
        .messages
        .iter()
        .filter_map(|m| m.problem.as_deref())
        .collect();
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("does not verify"), "{bad:?}");

    // A transfer the store does not hold is an error, not an empty success.
    assert!(
        hub::evidence::verify_transfer(&store, "00000000-0000-4000-8000-000000000000")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn deletes_are_signed_over_the_empty_payload() {
    let t = TestHub::start().await;
    let path = format!("/participants/MSISDN/{PAYEE_MSISDN}");
    let headers = t.headers(
        &t.payee,
        Method::Delete,
        Resource::Participants,
        &path,
        None,
    );
    let answer = t
        .send_unsigned(&t.payee, Method::Delete, &path, &headers, None)
        .await;
    assert_refused(&answer, 400, "3105", "unsigned DELETE");
    // Signed for another party: refused.
    let mut other = headers.clone();
    let date = header_value(&headers, "date");
    let parts = jws::RequestParts {
        method: "DELETE",
        uri: "/participants/MSISDN/1",
        source: PAYEE,
        destination: None,
        date: date.as_deref(),
    };
    set_header(
        &mut other,
        "fspiop-signature",
        &jws::sign_bodyless(&t.payee_key, &parts).expect("signed"),
    );
    let answer = t
        .send_unsigned(&t.payee, Method::Delete, &path, &other, None)
        .await;
    assert_refused(&answer, 400, "3105", "DELETE signed for another path");
    // The simulator's client signs DELETE over the empty payload.
    let answer = t
        .payee
        .client()
        .send(Method::Delete, Resource::Participants, &path, None, None)
        .await
        .expect("reachable");
    assert_accepted(&answer, 202, "signed DELETE");

    let lenient = TestHub::start_with(|config| config.jws.unsigned_delete = true).await;
    let headers = lenient.headers(
        &lenient.payee,
        Method::Delete,
        Resource::Participants,
        &path,
        None,
    );
    let answer = lenient
        .send_unsigned(&lenient.payee, Method::Delete, &path, &headers, None)
        .await;
    assert_accepted(&answer, 202, "unsigned DELETE when allowed");
}

#[tokio::test]
async fn evidence_of_an_aborted_transfer_includes_the_payees_signed_abort() {
    let t = TestHub::start().await;
    t.payee
        .set_behaviour(dfsp::simulator::PayeeBehaviour::Abort("5104".into()));
    let (body, _) = t.prepare("4", &in_millis(30_000)).await;
    let id = body["transferId"].as_str().expect("id").to_string();
    assert_accepted(&t.send_prepare(&body).await, 202, "prepare");
    let aborted = t.callback(&t.payer, &format!("/transfers/{id}")).await;
    assert_eq!(aborted.error_code(), Some("5104"), "{}", aborted.body);

    let store = store::SqliteStore::open(&t.data_dir.join("hub.db"))
        .await
        .expect("second handle on the store");
    let report = hub::evidence::verify_transfer(&store, &id)
        .await
        .expect("report");
    assert!(report.ok(), "{report:#?}");
    let kinds: Vec<&str> = report.messages.iter().map(|m| m.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "quote.request",
            "quote.response",
            "transfer.prepare",
            "transfer.abort"
        ]
    );
    assert!(
        report
            .chain
            .iter()
            .any(|c| c.what.contains("signed abort") && c.problem.is_none()),
        "{:#?}",
        report.chain
    );
}
