//! FSPIOP integration tests: a real hub, real HTTP on loopback, two simulated DFSPs.
//!
//! Every test checks the synchronous answer (status and `errorInformation.errorCode`), the
//! callbacks each DFSP receives, and — for every refusal — that no position moved.

mod common;

use std::time::{Duration, Instant};

use common::*;
use dfsp::simulator::{PayeeBehaviour, Received, SignatureCheck, SimError};
use fspiop::headers::{Method, Resource};
use serde_json::{Value, json};

fn header_of<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn fulfils(fulfilment: &str, condition: &str) -> bool {
    let fulfilment =
        ilp::Fulfilment::from_base64url(fulfilment).expect("fulfilment is 32 bytes of base64url");
    let condition =
        ilp::Condition::from_base64url(condition).expect("condition is 32 bytes of base64url");
    condition.is_fulfilled_by(&fulfilment)
}

fn pos(value: &str, reserved: &str) -> Position {
    (value.to_string(), reserved.to_string())
}

fn transfer_id(body: &Value) -> String {
    body["transferId"].as_str().expect("transferId").to_string()
}

fn failed_code(error: SimError) -> String {
    match error {
        SimError::Failed { code, .. } => code,
        other => panic!("expected an error callback, got {other}"),
    }
}

/// The payee's prepare for a transfer (the one it received from the hub).
async fn received_prepare(t: &TestHub) -> Received {
    t.wait_path(&t.payee, "POST", "/transfers").await
}

// ------------------------------------------------------------------------------------------
// Happy paths

#[tokio::test]
async fn happy_path_lookup_quote_transfer() {
    let t = TestHub::start().await;
    let outcome = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "100.5", WAIT)
        .await
        .expect("P2P transfer completes");
    assert_eq!(outcome.payee_fsp, PAYEE);
    assert_eq!(outcome.state, "COMMITTED");

    // Lookup: the hub found the owner in its oracle and routed the GET there.
    let party_path = format!("/parties/MSISDN/{PAYEE_MSISDN}");
    let lookup = t.wait_path(&t.payee, "GET", &party_path).await;
    assert_eq!(lookup.header("fspiop-source"), Some(PAYER));
    assert_eq!(lookup.header("fspiop-destination"), Some(PAYEE));
    let party = t.wait_path(&t.payer, "PUT", &party_path).await;
    assert_eq!(party.header("fspiop-source"), Some(PAYEE));
    assert_eq!(party.body["party"]["partyIdInfo"]["fspId"], PAYEE);

    // Quote: forwarded both ways.
    let quote_request = t.wait_path(&t.payee, "POST", "/quotes").await;
    assert_eq!(quote_request.header("fspiop-source"), Some(PAYER));
    let quote_path = format!(
        "/quotes/{}",
        quote_request.body["quoteId"].as_str().expect("quoteId")
    );
    let quote = t.wait_path(&t.payer, "PUT", &quote_path).await;
    assert_eq!(quote.header("fspiop-source"), Some(PAYEE));
    assert_eq!(quote.body["transferAmount"]["amount"], "100.5");

    // Transfer: the payee got the prepare, the payer the payee's fulfil.
    let prepare = received_prepare(&t).await;
    assert_eq!(transfer_id(&prepare.body), outcome.transfer_id);
    assert_eq!(prepare.header("fspiop-source"), Some(PAYER));
    assert_eq!(
        prepare.raw,
        fspiop::canonical::to_canonical_string(&prepare.body).as_bytes(),
        "prepare body rewritten"
    );
    let path = format!("/transfers/{}", outcome.transfer_id);
    let fulfil = t.wait_path(&t.payer, "PUT", &path).await;
    assert_eq!(
        fulfil.header("fspiop-source"),
        Some(PAYEE),
        "payer must get the payee's own PUT"
    );
    assert_eq!(fulfil.body["transferState"], "COMMITTED");
    let fulfilment = outcome.fulfilment.as_deref().expect("fulfilment delivered");
    assert!(fulfils(
        fulfilment,
        prepare.body["condition"].as_str().expect("condition")
    ));

    assert_eq!(t.position(PAYER).await, pos("100.5", "0"));
    assert_eq!(t.position(PAYEE).await, pos("-100.5", "0"));
    t.assert_none(&t.payer, "an error callback", |r| {
        r.path.ends_with("/error")
    })
    .await;
}

#[tokio::test]
async fn prepare_and_fulfil_are_forwarded_byte_for_byte() {
    let t = TestHub::start().await;
    t.payee.set_behaviour(PayeeBehaviour::Silent);
    let (body, fulfilment) = t.prepare("25.25", &in_millis(30_000)).await;
    let id = transfer_id(&body);
    // Not canonical on purpose: key order, spacing and a newline must all survive.
    let prepare_raw = format!(
        "{{ \"transferId\": \"{id}\",\n  \"payeeFsp\": \"{PAYEE}\", \"payerFsp\": \"{PAYER}\",\
         \"amount\": {{\"currency\": \"USD\", \"amount\": \"25.25\"}}, \"ilpPacket\": \"{}\",\
         \"condition\": \"{}\", \"expiration\": \"{}\" }}",
        body["ilpPacket"].as_str().unwrap(),
        body["condition"].as_str().unwrap(),
        body["expiration"].as_str().unwrap(),
    );
    let mut headers = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    set_header(
        &mut headers,
        "traceparent",
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    // The payer signs these exact bytes; the signature must travel untouched.
    sign_crafted(
        &t.payer,
        Method::Post,
        "/transfers",
        &mut headers,
        prepare_raw.as_bytes(),
    );
    let answer = t
        .send_raw(
            &t.payer,
            Method::Post,
            "/transfers",
            &headers,
            Some(prepare_raw.clone()),
        )
        .await;
    assert_accepted(&answer, 202, "prepare");

    let prepare = received_prepare(&t).await;
    assert_eq!(
        prepare.raw,
        prepare_raw.as_bytes(),
        "prepare body bytes changed on the way"
    );
    for name in [
        "fspiop-signature",
        "fspiop-source",
        "fspiop-destination",
        "fspiop-uri",
        "fspiop-http-method",
        "date",
        "content-type",
        "accept",
        "traceparent",
    ] {
        assert_eq!(
            prepare.header(name),
            header_of(&headers, name),
            "prepare header {name}"
        );
    }
    assert_eq!(
        t.position(PAYER).await,
        pos("0", "25.25"),
        "amount reserved while the payee decides"
    );

    let path = format!("/transfers/{id}");
    let fulfil_raw = format!(
        "{{\"transferState\" : \"COMMITTED\",\n \"fulfilment\": \"{fulfilment}\", \"completedTimestamp\": \"{}\"}}",
        in_millis(0)
    );
    let mut headers = t.headers(
        &t.payee,
        Method::Put,
        Resource::Transfers,
        &path,
        Some(PAYER),
    );
    sign_crafted(
        &t.payee,
        Method::Put,
        &path,
        &mut headers,
        fulfil_raw.as_bytes(),
    );
    let answer = t
        .send_raw(
            &t.payee,
            Method::Put,
            &path,
            &headers,
            Some(fulfil_raw.clone()),
        )
        .await;
    assert_accepted(&answer, 200, "fulfil");

    let forwarded = t.wait_path(&t.payer, "PUT", &path).await;
    assert_eq!(
        forwarded.raw,
        fulfil_raw.as_bytes(),
        "fulfil body bytes changed on the way"
    );
    assert_eq!(
        forwarded.signature,
        SignatureCheck::Verified {
            signer: PAYEE.into()
        },
        "the payer verifies the payee's own signature on the forwarded fulfil"
    );
    for name in [
        "fspiop-signature",
        "fspiop-source",
        "fspiop-destination",
        "fspiop-uri",
        "fspiop-http-method",
        "date",
        "content-type",
    ] {
        assert_eq!(
            forwarded.header(name),
            header_of(&headers, name),
            "fulfil header {name}"
        );
    }
    assert_eq!(t.position(PAYER).await, pos("25.25", "0"));
    assert_eq!(t.position(PAYEE).await, pos("-25.25", "0"));
}

#[tokio::test]
async fn reserved_fulfil_gets_commit_notifications() {
    let t = TestHub::start().await;
    t.payee.set_behaviour(PayeeBehaviour::Reserve);
    let outcome = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "40", WAIT)
        .await
        .expect("transfer completes");
    assert_eq!(outcome.state, "COMMITTED");
    let path = format!("/transfers/{}", outcome.transfer_id);
    let prepare = received_prepare(&t).await;
    let condition = prepare.body["condition"].as_str().expect("condition");

    let put = t.wait_path(&t.payer, "PUT", &path).await;
    assert_eq!(
        put.header("fspiop-source"),
        Some(HUB),
        "the payer's PUT must be hub-originated"
    );
    assert_eq!(put.header("fspiop-destination"), Some(PAYER));
    assert_eq!(put.header("fspiop-uri"), Some(path.as_str()));
    assert_eq!(put.body["transferState"], "COMMITTED");
    assert!(put.body["completedTimestamp"].is_string());
    assert!(fulfils(
        put.body["fulfilment"]
            .as_str()
            .expect("fulfilment in the hub's PUT"),
        condition
    ));

    let patch = t.wait_path(&t.payee, "PATCH", &path).await;
    assert_eq!(patch.header("fspiop-source"), Some(HUB));
    assert_eq!(patch.header("fspiop-destination"), Some(PAYEE));
    assert_eq!(patch.header("fspiop-http-method"), Some("PATCH"));
    assert_hub_signed(&patch);
    assert_eq!(patch.header("fspiop-uri"), Some(path.as_str()));
    assert_eq!(patch.body["transferState"], "COMMITTED");
    assert!(patch.body["completedTimestamp"].is_string());
    assert!(
        patch.body.get("fulfilment").is_none(),
        "PATCH carries no fulfilment: {}",
        patch.body
    );

    assert_eq!(t.position(PAYER).await, pos("40", "0"));
    assert_eq!(t.position(PAYEE).await, pos("-40", "0"));
}

// ------------------------------------------------------------------------------------------
// Aborts and expiry

#[tokio::test]
async fn payee_abort_is_forwarded_and_releases_the_reservation() {
    let t = TestHub::start().await;
    t.payee.set_behaviour(PayeeBehaviour::Abort("5104".into()));
    let before = t.positions().await;
    let error = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "30", WAIT)
        .await
        .expect_err("payee refuses");
    assert_eq!(failed_code(error), "5104");

    let id = transfer_id(&received_prepare(&t).await.body);
    let path = format!("/transfers/{id}/error");
    let forwarded = t.wait_path(&t.payer, "PUT", &path).await;
    assert_eq!(
        forwarded.header("fspiop-source"),
        Some(PAYEE),
        "the payee's own error must be forwarded"
    );
    assert_eq!(forwarded.header("fspiop-destination"), Some(PAYER));
    assert_eq!(
        forwarded.raw,
        r#"{"errorInformation":{"errorCode":"5104","errorDescription":"Payee rejected transaction"}}"#.as_bytes(),
        "the payee's error body must arrive unchanged"
    );
    t.assert_positions_unchanged(&before, "a payee abort").await;
    t.assert_none(&t.payee, "a callback about its own abort", |r| {
        r.path.starts_with("/transfers/")
    })
    .await;
}

#[tokio::test]
async fn wrong_fulfilment_aborts_for_both_sides() {
    let t = TestHub::start().await;
    t.payee.set_behaviour(PayeeBehaviour::WrongFulfilment);
    let before = t.positions().await;
    let error = t
        .payer
        .send_money("MSISDN", PAYEE_MSISDN, "30", WAIT)
        .await
        .expect_err("fulfilment is wrong");
    assert_eq!(failed_code(error), "3100");

    let id = transfer_id(&received_prepare(&t).await.body);
    let path = format!("/transfers/{id}");
    t.hub_error(&t.payer, &path, "3100").await;
    t.hub_error(&t.payee, &path, "3100").await;
    t.assert_positions_unchanged(&before, "an invalid fulfilment")
        .await;
    t.assert_none(&t.payer, "a committed PUT", |r| {
        r.method == "PUT" && r.path == path
    })
    .await;
}

#[tokio::test]
async fn reserved_transfer_expires_for_both_sides() {
    let t = TestHub::start().await;
    t.payee.set_behaviour(PayeeBehaviour::Silent);
    let before = t.positions().await;
    let sent = Instant::now();
    let (body, _) = t.prepare("50", &in_millis(1_500)).await;
    let answer = t.send_prepare(&body).await;
    assert_accepted(&answer, 202, "prepare");
    received_prepare(&t).await;
    assert_eq!(
        t.position(PAYER).await,
        pos("0", "50"),
        "reserved until it expires"
    );

    let path = format!("/transfers/{}", transfer_id(&body));
    let to_payer = t.hub_error(&t.payer, &path, "3303").await;
    let to_payee = t.hub_error(&t.payee, &path, "3303").await;
    for (who, received) in [(PAYER, &to_payer), (PAYEE, &to_payee)] {
        let after = received.at.duration_since(sent);
        assert!(
            after >= Duration::from_millis(1_400),
            "{who} told of expiry too early ({after:?})"
        );
        assert!(
            after <= Duration::from_millis(2_500),
            "{who} told of expiry too late ({after:?})"
        );
    }
    t.assert_positions_unchanged(&before, "an expiry").await;
}

#[tokio::test]
async fn prepare_already_expired_is_refused_without_reservation() {
    let t = TestHub::start().await;
    let before = t.positions().await;
    let (body, _) = t.prepare("20", &in_millis(-10_000)).await;
    let answer = t.send_prepare(&body).await;
    assert_accepted(&answer, 202, "prepare");
    t.hub_error(
        &t.payer,
        &format!("/transfers/{}", transfer_id(&body)),
        "3100",
    )
    .await;
    t.assert_no_prepare_forwarded().await;
    t.assert_positions_unchanged(&before, "an expired prepare")
        .await;
}

// ------------------------------------------------------------------------------------------
// Duplicates

#[tokio::test]
async fn duplicate_prepares() {
    let t = TestHub::start().await;
    let (body, fulfilment) = t.prepare("10", &in_millis(30_000)).await;
    let id = transfer_id(&body);
    let path = format!("/transfers/{id}");
    assert_accepted(&t.send_prepare(&body).await, 202, "first prepare");
    let first = t.wait_path(&t.payer, "PUT", &path).await;
    assert_eq!(first.header("fspiop-source"), Some(PAYEE));
    assert_eq!(first.body["transferState"], "COMMITTED");
    let after_commit = t.positions().await;
    assert_eq!(after_commit[0], pos("10", "0"));

    // Same id, same content, after completion: the payer is told the current state.
    assert_accepted(&t.send_prepare(&body).await, 202, "resent prepare");
    let puts = t
        .wait_count(&t.payer, 2, |r| r.method == "PUT" && r.path == path)
        .await;
    let resend = &puts[1];
    assert_eq!(resend.header("fspiop-source"), Some(HUB));
    assert_eq!(resend.header("fspiop-destination"), Some(PAYER));
    assert_eq!(resend.body["transferState"], "COMMITTED");
    assert_eq!(resend.body["fulfilment"], fulfilment.as_str());
    assert!(resend.body["completedTimestamp"].is_string());

    // Same id, different amount: modified request.
    let mut modified = body.clone();
    modified["amount"]["amount"] = json!("11");
    assert_accepted(&t.send_prepare(&modified).await, 202, "modified prepare");
    t.hub_error(&t.payer, &path, "3106").await;

    t.assert_positions_unchanged(&after_commit, "duplicate prepares")
        .await;
    tokio::time::sleep(QUIET).await;
    let prepares = t
        .payee
        .received()
        .into_iter()
        .filter(|r| r.method == "POST" && r.path == "/transfers")
        .count();
    assert_eq!(prepares, 1, "duplicates must not reach the payee");
}

// ------------------------------------------------------------------------------------------
// Liquidity and limits

#[tokio::test]
async fn net_debit_cap_exceeded_is_4200() {
    let t = TestHub::start().await;
    // Liquidity 1500 > cap 1000: only the cap can refuse 1200.
    t.admin
        .funds_in(PAYER, CURRENCY, "1000")
        .await
        .expect("funds in");
    let before = t.positions().await;
    let (body, _) = t.prepare("1200", &in_millis(30_000)).await;
    assert_accepted(&t.send_prepare(&body).await, 202, "prepare");
    t.hub_error(
        &t.payer,
        &format!("/transfers/{}", transfer_id(&body)),
        "4200",
    )
    .await;
    t.assert_no_prepare_forwarded().await;
    t.assert_positions_unchanged(&before, "a cap refusal").await;
}

#[tokio::test]
async fn liquidity_exceeded_is_4001() {
    let t = TestHub::start().await;
    // Liquidity 500 < 600 <= cap 1000: only liquidity can refuse.
    let before = t.positions().await;
    let (body, _) = t.prepare("600", &in_millis(30_000)).await;
    assert_accepted(&t.send_prepare(&body).await, 202, "prepare");
    t.hub_error(
        &t.payer,
        &format!("/transfers/{}", transfer_id(&body)),
        "4001",
    )
    .await;
    t.assert_no_prepare_forwarded().await;
    t.assert_positions_unchanged(&before, "a liquidity refusal")
        .await;
}

// ------------------------------------------------------------------------------------------
// Participants: inactive, unknown

#[tokio::test]
async fn prepare_to_inactive_payee_is_3100() {
    let t = TestHub::start().await;
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    t.set_active(PAYEE, false).await;
    let before = t.positions().await;
    assert_accepted(&t.send_prepare(&body).await, 202, "prepare");
    t.hub_error(
        &t.payer,
        &format!("/transfers/{}", transfer_id(&body)),
        "3100",
    )
    .await;
    t.assert_no_prepare_forwarded().await;
    t.assert_positions_unchanged(&before, "a prepare to an inactive payee")
        .await;
}

#[tokio::test]
async fn inactive_source_is_refused_synchronously_with_3200() {
    let t = TestHub::start().await;
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    t.set_active(PAYER, false).await;
    let before = t.positions().await;
    assert_refused(
        &t.send_prepare(&body).await,
        400,
        "3200",
        "prepare from an inactive payer",
    );
    t.assert_no_prepare_forwarded().await;
    t.assert_no_transfer_callback_to_payer().await;
    t.assert_positions_unchanged(&before, "a prepare from an inactive payer")
        .await;
}

#[tokio::test]
async fn unknown_participants_and_parties() {
    let t = TestHub::start().await;
    let before = t.positions().await;

    // POST /quotes to an FSP that does not exist: 3201 callback to the payer.
    let quote_id = uuid::Uuid::new_v4().to_string();
    let quote = json!({
        "quoteId": quote_id,
        "transactionId": uuid::Uuid::new_v4().to_string(),
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "123456", "fspId": "ghostfsp"}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": PAYER}},
        "amountType": "SEND",
        "amount": {"amount": "10", "currency": CURRENCY},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
    });
    let answer = t
        .payer
        .client()
        .send(
            Method::Post,
            Resource::Quotes,
            "/quotes",
            Some("ghostfsp"),
            Some(&quote),
        )
        .await;
    assert_accepted(
        &answer.expect("hub reachable"),
        202,
        "quote to an unknown FSP",
    );
    t.hub_error(&t.payer, &format!("/quotes/{quote_id}"), "3201")
        .await;

    // Unknown FSPIOP-Source: synchronous 3200.
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    let mut headers = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    set_header(&mut headers, "fspiop-source", "ghostfsp");
    let canonical = fspiop::canonical::to_canonical_string(&body);
    let answer = t
        .send_raw(
            &t.payer,
            Method::Post,
            "/transfers",
            &headers,
            Some(canonical),
        )
        .await;
    assert_refused(&answer, 400, "3200", "unknown FSPIOP-Source");

    // A party nobody registered: 3204 callback.
    let party_path = "/parties/MSISDN/19995550000";
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Parties, party_path, None, None)
        .await;
    assert_accepted(
        &answer.expect("hub reachable"),
        202,
        "lookup of an unknown party",
    );
    t.hub_error(&t.payer, party_path, "3204").await;

    t.assert_none(&t.payee, "a lookup or a prepare", |r| {
        r.path.starts_with("/parties") || r.path.starts_with("/transfers")
    })
    .await;
    t.assert_positions_unchanged(&before, "unknown participants")
        .await;
}

// ------------------------------------------------------------------------------------------
// Header, schema and gate refusals

#[tokio::test]
async fn bad_headers_are_refused() {
    let t = TestHub::start().await;
    let before = t.positions().await;
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    let canonical = fspiop::canonical::to_canonical_string(&body);
    let good = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    let send = |headers: Vec<(String, String)>| {
        let body = canonical.clone();
        let t = &t;
        async move {
            t.send_raw(&t.payer, Method::Post, "/transfers", &headers, Some(body))
                .await
        }
    };

    let mut h = good.clone();
    remove_header(&mut h, "date");
    assert_refused(&send(h).await, 400, "3102", "missing Date");

    for bad in [
        "2025-01-01T00:00:00.000Z",
        "Wednesday, 01-Jan-25 00:00:01 GMT",
        "Wed, 01 Jan 2025 00:00:01 UTC",
    ] {
        let mut h = good.clone();
        set_header(&mut h, "date", bad);
        assert_refused(
            &send(h).await,
            400,
            "3101",
            &format!("malformed Date {bad}"),
        );
    }

    let mut h = good.clone();
    remove_header(&mut h, "fspiop-source");
    assert_refused(&send(h).await, 400, "3102", "missing FSPIOP-Source");

    // The HTTP client always adds `Accept: */*`; a bare connection sends no Accept at all.
    let mut h = good.clone();
    remove_header(&mut h, "accept");
    let answer = t
        .send_bare("POST", "/transfers", &h, canonical.as_bytes())
        .await;
    assert_eq!(
        (answer.status, answer.error_code()),
        (400, Some("3102")),
        "missing Accept: {answer:?}"
    );

    for bad in [
        "application/json",
        "application/vnd.interoperability.quotes+json;version=1",
    ] {
        let mut h = good.clone();
        set_header(&mut h, "accept", bad);
        assert_refused(
            &send(h).await,
            400,
            "3101",
            &format!("malformed Accept {bad}"),
        );
    }

    let mut h = good.clone();
    set_header(
        &mut h,
        "content-type",
        "application/vnd.interoperability.transfers+json;version=2.0",
    );
    let answer = send(h).await;
    assert_refused(&answer, 406, "3001", "Content-Type version 2.0");
    let parsed: Value = serde_json::from_str(&answer.body).expect("JSON error body");
    assert_eq!(
        parsed["errorInformation"]["extensionList"]["extension"],
        json!([{"key": "1", "value": "0"}, {"key": "1", "value": "1"}]),
        "3001 must list the supported versions"
    );

    let mut h = good.clone();
    set_header(
        &mut h,
        "content-type",
        "application/vnd.interoperability.transfers+json;version=1",
    );
    assert_refused(
        &send(h).await,
        400,
        "3101",
        "Content-Type without minor version",
    );

    t.assert_no_prepare_forwarded().await;
    t.assert_no_transfer_callback_to_payer().await;
    t.assert_positions_unchanged(&before, "header refusals")
        .await;

    // Nothing was recorded: the same prepare with good headers goes through.
    assert_accepted(&send(good).await, 202, "the same prepare with good headers");
    let done = t
        .callback(&t.payer, &format!("/transfers/{}", transfer_id(&body)))
        .await;
    assert_eq!(done.body["transferState"], "COMMITTED", "{}", done.body);
}

#[tokio::test]
async fn schema_violations_are_refused() {
    let t = TestHub::start().await;
    let before = t.positions().await;
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    let headers = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    let send = |bytes: String| {
        let (t, headers) = (&t, headers.clone());
        async move {
            t.send_raw(&t.payer, Method::Post, "/transfers", &headers, Some(bytes))
                .await
        }
    };
    let canonical = |value: &Value| fspiop::canonical::to_canonical_string(value);

    let mut missing = body.clone();
    missing.as_object_mut().unwrap().remove("transferId");
    assert_refused(
        &send(canonical(&missing)).await,
        400,
        "3102",
        "missing transferId",
    );

    let mut number = body.clone();
    number["amount"]["amount"] = json!(10);
    assert_refused(
        &send(canonical(&number)).await,
        400,
        "3101",
        "amount as a JSON number",
    );

    let mut trailing_zero = body.clone();
    trailing_zero["amount"]["amount"] = json!("1.50");
    assert_refused(
        &send(canonical(&trailing_zero)).await,
        400,
        "3100",
        "amount 1.50",
    );

    let mut extensions = body.clone();
    let list: Vec<Value> = (0..17)
        .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
        .collect();
    extensions["extensionList"] = json!({ "extension": list });
    assert_refused(
        &send(canonical(&extensions)).await,
        400,
        "3103",
        "17 extensions",
    );

    assert_refused(
        &send("{\"transferId\": ".to_string()).await,
        400,
        "3101",
        "body not JSON",
    );

    t.assert_no_prepare_forwarded().await;
    t.assert_no_transfer_callback_to_payer().await;
    t.assert_positions_unchanged(&before, "schema refusals")
        .await;
}

#[tokio::test]
async fn gate_refuses_oversize_unknown_paths_and_the_hub_name() {
    let t = TestHub::start().await;
    let before = t.positions().await;

    let headers = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    let oversize = format!(
        "{{\"pad\":\"{}\"}}",
        "x".repeat(fspiop::headers::MAX_BODY_BYTES)
    );
    let answer = t
        .send_raw(
            &t.payer,
            Method::Post,
            "/transfers",
            &headers,
            Some(oversize),
        )
        .await;
    assert_refused(&answer, 400, "3104", "body over 5 MB");

    let headers = t.headers(
        &t.payer,
        Method::Get,
        Resource::Transfers,
        "/transfer/abc",
        None,
    );
    let answer = t
        .send_raw(&t.payer, Method::Get, "/nothing/here", &headers, None)
        .await;
    assert_refused(&answer, 404, "3002", "unknown path");

    for hub_name in [HUB, "hub"] {
        let (body, _) = t.prepare("10", &in_millis(30_000)).await;
        let mut headers = t.headers(
            &t.payer,
            Method::Post,
            Resource::Transfers,
            "/transfers",
            Some(PAYEE),
        );
        set_header(&mut headers, "fspiop-source", hub_name);
        let canonical = fspiop::canonical::to_canonical_string(&body);
        let answer = t
            .send_raw(
                &t.payer,
                Method::Post,
                "/transfers",
                &headers,
                Some(canonical),
            )
            .await;
        assert_refused(
            &answer,
            400,
            "3000",
            &format!("a DFSP sending as {hub_name}"),
        );
    }

    t.assert_no_prepare_forwarded().await;
    t.assert_no_transfer_callback_to_payer().await;
    t.assert_positions_unchanged(&before, "gate refusals").await;
}

#[tokio::test]
async fn patch_transfer_from_a_dfsp_is_405_3000() {
    let t = TestHub::start().await;
    let before = t.positions().await;
    let path = format!("/transfers/{}", uuid::Uuid::new_v4());
    let headers = t.headers(
        &t.payee,
        Method::Patch,
        Resource::Transfers,
        &path,
        Some(PAYER),
    );
    let body = json!({"transferState": "COMMITTED", "completedTimestamp": in_millis(0)});
    let canonical = fspiop::canonical::to_canonical_string(&body);
    let answer = t
        .send_raw(&t.payee, Method::Patch, &path, &headers, Some(canonical))
        .await;
    assert_refused(&answer, 405, "3000", "PATCH /transfers/{id}");
    // A 405 must say which methods the path does allow.
    let canonical = fspiop::canonical::to_canonical_string(&body);
    let bare = t
        .send_bare("PATCH", &path, &headers, canonical.as_bytes())
        .await;
    assert_eq!(
        (bare.status, bare.error_code()),
        (405, Some("3000")),
        "{bare:?}"
    );
    let allow = bare
        .header("allow")
        .unwrap_or_else(|| panic!("405 without an Allow header: {bare:?}"));
    let allowed: Vec<&str> = allow.split(',').map(str::trim).collect();
    assert!(
        allowed.contains(&"GET") && allowed.contains(&"PUT"),
        "Allow: {allow}"
    );
    assert!(!allowed.contains(&"PATCH"), "Allow: {allow}");
    assert!(!allowed.contains(&"POST"), "Allow: {allow}");
    t.assert_no_transfer_callback_to_payer().await;
    t.assert_positions_unchanged(&before, "a PATCH").await;
}

// ------------------------------------------------------------------------------------------
// The built-in participants oracle

#[tokio::test]
async fn participants_oracle() {
    let t = TestHub::start().await;

    // A DFSP may not register a party for another FSP.
    let path = "/participants/MSISDN/15550001111";
    let body = json!({"fspId": PAYEE, "currency": CURRENCY});
    let answer = t
        .payer
        .client()
        .send(
            Method::Post,
            Resource::Participants,
            path,
            None,
            Some(&body),
        )
        .await;
    assert_accepted(
        &answer.expect("hub reachable"),
        202,
        "registration for another FSP",
    );
    t.hub_error(&t.payer, path, "3003").await;

    // ...and nothing was registered.
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Participants, path, None, None)
        .await;
    assert_accepted(&answer.expect("hub reachable"), 202, "lookup");
    let errors = t
        .wait_count(&t.payer, 2, |r| r.path == format!("{path}/error"))
        .await;
    assert_eq!(errors[1].error_code(), Some("3204"), "{}", errors[1].body);

    // The registered party resolves to its owner.
    let owned = format!("/participants/MSISDN/{PAYEE_MSISDN}");
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Participants, &owned, None, None)
        .await;
    assert_accepted(&answer.expect("hub reachable"), 202, "lookup");
    let found = t.wait_path(&t.payer, "PUT", &owned).await;
    assert_eq!(found.header("fspiop-source"), Some(HUB));
    assert_eq!(found.header("fspiop-destination"), Some(PAYER));
    assert_eq!(found.body["fspId"], PAYEE);
}

// ------------------------------------------------------------------------------------------
// Admin API

#[tokio::test]
async fn admin_api_authentication_and_audit() {
    // Four eyes: every change below is asked for by `integration` (API token) and approved by
    // `admin` through `t.admin`.
    let t = TestHub::start().await;
    let token = t.token.clone();

    let (status, body) = t
        .admin_raw(reqwest::Method::GET, "/participants", None, None)
        .await;
    assert_eq!(status, 401, "no token: {body}");
    let (status, body) = t
        .admin_raw(
            reqwest::Method::GET,
            "/participants/payerfsp",
            Some("not-the-token"), // secret-scan: allow (a wrong token on purpose)
            None,
        )
        .await;
    assert_eq!(status, 401, "wrong token: {body}");
    let (status, body) = t
        .admin_raw(
            reqwest::Method::PUT,
            "/participants/payerfsp",
            Some("not-the-token"), // secret-scan: allow (a wrong token on purpose)
            Some(json!({"isActive": false})),
        )
        .await;
    assert_eq!(status, 401, "wrong token on a change: {body}");
    assert_eq!(t.position(PAYER).await, pos("0", "0"));
    let (_, payer) = t
        .admin_raw(
            reqwest::Method::GET,
            "/participants/payerfsp",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(
        payer["isActive"], 1,
        "a refused call changed the participant"
    );
    // The API token alone cannot change anything: the change waits for a checker.
    let (status, pending) = t
        .admin_raw(
            reqwest::Method::PUT,
            "/participants/payerfsp",
            Some(&token),
            Some(json!({"isActive": false})),
        )
        .await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["state"], "pending", "{pending}");
    let request_id = pending["requestId"]
        .as_str()
        .expect("requestId")
        .to_string();
    let (_, payer) = t
        .admin_raw(
            reqwest::Method::GET,
            "/participants/payerfsp",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(payer["isActive"], 1, "a pending request changed nothing");
    t.operators
        .admin
        .reject(&request_id, "not today")
        .await
        .expect("admin rejects");

    // More audited actions besides the onboarding.
    t.set_active(PAYEE, false).await;
    t.set_active(PAYEE, true).await;
    let limit = json!({"currency": CURRENCY, "limit": {"type": "NET_DEBIT_CAP", "value": 900}});
    t.admin
        .call(
            reqwest::Method::PUT,
            "/participants/payerfsp/limits",
            Some(limit),
        )
        .await
        .expect("limit set");

    // Denied attempts are recorded in the background: poll.
    let deadline = Instant::now() + WAIT;
    let audit = loop {
        let (status, audit) = t
            .admin_raw(
                reqwest::Method::GET,
                "/audit?limit=1000",
                Some(&token),
                None,
            )
            .await;
        assert_eq!(status, 200, "{audit}");
        let denied = audit
            .as_array()
            .expect("audit list")
            .iter()
            .filter(|e| e["outcome"] == "denied")
            .count();
        if denied >= 3 || Instant::now() > deadline {
            break audit;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let entries = audit.as_array().expect("audit list");
    let denied: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .collect();
    assert_eq!(
        denied.len(),
        3,
        "one denied entry per refused call: {denied:?}"
    );
    assert!(
        denied
            .iter()
            .all(|e| e["action"] == "admin.unauthenticated" && e["actor"] == "unauthenticated"),
        "{denied:?}"
    );
    assert!(
        denied.iter().any(|e| e["detail"]
            .as_str()
            .is_some_and(|d| d.contains("/participants/{name}"))),
        "denied entries name the route: {denied:?}"
    );

    // The changes themselves are attributed to their maker.
    let count = |action: &str, subject: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["subject"] == subject && e["outcome"] == "ok")
            .inspect(|e| assert_eq!(e["actor"], "integration", "{e}"))
            .count()
    };
    let endpoints = dfsp::provision::callback_endpoints("http://x").len();
    for name in [PAYER, PAYEE] {
        assert_eq!(
            count("participant.create", name),
            1,
            "participant.create {name}"
        );
        assert_eq!(count("limits.initial", name), 1, "limits.initial {name}");
        assert_eq!(
            count("endpoint.set", name),
            endpoints,
            "endpoint.set {name}"
        );
        assert_eq!(count("funds.record", name), 1, "funds.record {name}");
        assert_eq!(count("jws_key.add", name), 1, "jws_key.add {name}");
    }
    assert_eq!(count("participant.set_active", PAYEE), 2);
    assert_eq!(count("limits.set", PAYER), 1);
    let changes = 2 * (4 + endpoints) + 3;
    let by_integration = entries
        .iter()
        .filter(|e| e["actor"] == "integration" && e["outcome"] == "ok")
        .filter(|e| {
            let action = e["action"].as_str().unwrap_or_default();
            !action.starts_with("auth.") && !action.starts_with("request.")
        })
        .count();
    assert_eq!(by_integration, changes, "no unexpected audited actions");

    // Four eyes: each request was made by `integration`, approved and executed by `admin`;
    // the rejected one was not executed.
    let of = |action: &str, actor: &str| {
        entries
            .iter()
            .filter(|e| e["action"] == action && e["actor"] == actor && e["outcome"] == "ok")
            .count()
    };
    // Per DFSP: participant, initial position, JWS key, the endpoint set (one request for all
    // its endpoints), funds in; then the three changes above.
    let requests = 2 * 5 + 3;
    assert_eq!(of("request.create", "integration"), requests + 1);
    assert_eq!(of("request.approve", "admin"), requests);
    assert_eq!(of("request.executed", "admin"), requests);
    assert_eq!(of("request.reject", "admin"), 1);
    for executed in entries.iter().filter(|e| e["action"] == "request.executed") {
        let detail: Value =
            serde_json::from_str(executed["detail"].as_str().unwrap_or("{}")).expect("detail");
        if detail["operation"] == "operators.create" {
            // Provisioning: admin asked for `integration`, the host-made admin2 approved.
            assert_eq!(detail["maker"], "admin", "{detail}");
            assert_eq!(detail["approvers"], json!(["admin2"]), "{detail}");
            continue;
        }
        assert_eq!(detail["maker"], "integration", "{detail}");
        assert_eq!(detail["approvers"], json!(["admin"]), "{detail}");
    }
}

#[tokio::test]
async fn the_operator_api_publishes_its_openapi_document() {
    let t = TestHub::start().await;
    let (status, document) = t
        .admin_raw(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(status, 200, "served without a token");
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/participants/{name}/jwsKeys"]["post"].is_object());
    let (status, _) = t
        .admin_raw(reqwest::Method::GET, "/participants", None, None)
        .await;
    assert_eq!(status, 401, "everything else still needs the token");
}

/// An operator action whose audit entry cannot be written does not happen (fail closed): the
/// audit table is made to refuse inserts, behind the hub's back, with a SQLite trigger.
#[tokio::test]
async fn operator_actions_fail_when_the_audit_log_cannot_be_written() {
    use sqlx::Connection as _;
    // Raw endpoint changes, answered directly: no checker.
    let t = TestHub::sandbox().await;
    let endpoints = |t: &TestHub| {
        let admin = t.admin.clone();
        async move {
            admin
                .call(
                    reqwest::Method::GET,
                    &format!("/participants/{PAYER}/endpoints"),
                    None,
                )
                .await
                .expect("endpoints readable")
        }
    };
    let before = endpoints(&t).await;
    let url = format!("sqlite://{}", t.data_dir.join("hub.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    sqlx::query(
        "CREATE TRIGGER audit_unavailable BEFORE INSERT ON audit \
         BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END",
    )
    .execute(&mut db)
    .await
    .expect("trigger");
    let change =
        json!({"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://127.0.0.1:9/changed"});
    let (status, body) = t
        .admin_raw(
            reqwest::Method::POST,
            &format!("/participants/{PAYER}/endpoints"),
            Some(&t.token),
            Some(change.clone()),
        )
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["errorInformation"]["errorCode"], "2003", "{body}");
    assert_eq!(endpoints(&t).await, before, "nothing changed");

    sqlx::query("DROP TRIGGER audit_unavailable")
        .execute(&mut db)
        .await
        .expect("drop trigger");
    let (status, body) = t
        .admin_raw(
            reqwest::Method::POST,
            &format!("/participants/{PAYER}/endpoints"),
            Some(&t.token),
            Some(change),
        )
        .await;
    assert_eq!(
        status, 201,
        "with the audit log back the same action works: {body}"
    );
    assert_ne!(endpoints(&t).await, before);
}

/// Four eyes, fail closed: an approval whose audit entries cannot be written executes nothing
/// and leaves the request pending; a login then opens no session. With the audit log back, the
/// same approval executes.
#[tokio::test]
async fn an_approval_fails_closed_when_the_audit_log_cannot_be_written() {
    use sqlx::Connection as _;
    let t = TestHub::start().await;
    let path = format!("/participants/{PAYER}/endpoints");
    let change =
        json!({"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://127.0.0.1:9/four-eyes"});
    let (status, pending) = t
        .admin_raw(reqwest::Method::POST, &path, Some(&t.token), Some(change))
        .await;
    assert_eq!(
        status, 202,
        "integration's change waits for a checker: {pending}"
    );
    let id = pending["requestId"]
        .as_str()
        .expect("request id")
        .to_string();
    let admin = t.operators.admin.session_token();

    let url = format!("sqlite://{}", t.data_dir.join("hub.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    sqlx::query(
        "CREATE TRIGGER audit_unavailable BEFORE INSERT ON audit \
         BEGIN SELECT RAISE(ABORT, 'audit store unavailable'); END",
    )
    .execute(&mut db)
    .await
    .expect("trigger");
    let approve = format!("/requests/{id}/approve");
    let (status, body) = t
        .admin_raw(reqwest::Method::POST, &approve, Some(&admin), None)
        .await;
    assert_eq!(status, 503, "{body}");
    let (_, request) = t
        .admin_raw(
            reqwest::Method::GET,
            &format!("/requests/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(request["state"], "pending", "{request}");
    assert_eq!(
        request["approvals"],
        json!([]),
        "the vote was not kept: {request}"
    );
    let (_, endpoints) = t
        .admin_raw(reqwest::Method::GET, &path, Some(&t.token), None)
        .await;
    assert!(
        !endpoints.to_string().contains("four-eyes"),
        "nothing executed: {endpoints}"
    );
    // A real recovery code: everything checks out, but the session and the code's use cannot
    // be recorded without their audit entry.
    let code = t.operators.admin.recovery_codes()[0].clone();
    let login = json!({"username": "admin", "password": t.operators.admin.password(), "recoveryCode": code});
    let (status, body) = t
        .admin_raw(
            reqwest::Method::POST,
            "/auth/login",
            None,
            Some(login.clone()),
        )
        .await;
    assert_eq!(status, 503, "no session without its audit entry: {body}");
    assert!(body.get("session").is_none(), "{body}");

    sqlx::query("DROP TRIGGER audit_unavailable")
        .execute(&mut db)
        .await
        .expect("drop trigger");
    let (status, body) = t
        .admin_raw(reqwest::Method::POST, &approve, Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["request"]["state"], "executed", "{body}");
    assert_eq!(body["result"]["status"], 201, "{body}");
    let (_, endpoints) = t
        .admin_raw(reqwest::Method::GET, &path, Some(&t.token), None)
        .await;
    assert!(endpoints.to_string().contains("four-eyes"), "{endpoints}");
    let (status, body) = t
        .admin_raw(reqwest::Method::POST, "/auth/login", None, Some(login))
        .await;
    assert_eq!(
        status, 200,
        "the refused login did not use up the recovery code: {body}"
    );
}

/// A DFSP's endpoints as one set: one request, one approval, stored whole; a set with one bad
/// entry is refused whole before anything waits for a checker.
#[tokio::test]
async fn a_set_of_endpoints_is_one_request_stored_whole() {
    let t = TestHub::start().await;
    let path = format!("/participants/{PAYER}/endpoints");
    let set = json!([
        {"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://127.0.0.1:9/set/quotes"},
        {"type": "FSPIOP_CALLBACK_URL_PARTIES_GET", "value": "http://127.0.0.1:9/set/parties"},
    ]);
    let (status, pending) = t
        .admin_raw(reqwest::Method::POST, &path, Some(&t.token), Some(set))
        .await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["operation"], "endpoints.set_many", "{pending}");
    let id = pending["requestId"].as_str().expect("request id");
    let (_, before) = t
        .admin_raw(reqwest::Method::GET, &path, Some(&t.token), None)
        .await;
    assert!(
        !before.to_string().contains("/set/"),
        "nothing yet: {before}"
    );
    let approved = t.operators.admin.approve(id).await.expect("approve");
    assert_eq!(approved["result"]["status"], 201, "{approved}");
    let (_, after) = t
        .admin_raw(reqwest::Method::GET, &path, Some(&t.token), None)
        .await;
    for url in ["/set/quotes", "/set/parties"] {
        assert!(after.to_string().contains(url), "{url} in {after}");
    }

    for (bad, why) in [
        (
            json!([{"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://127.0.0.1:9/x"},
                   {"type": "NOT_AN_ENDPOINT", "value": "http://127.0.0.1:9/y"}]),
            "unknown endpoint type",
        ),
        (
            json!([{"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://127.0.0.1:9/x"},
                   {"type": "FSPIOP_CALLBACK_URL_QUOTES", "value": "http://127.0.0.1:9/y"}]),
            "given twice",
        ),
        (json!([]), "endpoints"),
        (json!([{"type": "FSPIOP_CALLBACK_URL_QUOTES"}]), "value"),
    ] {
        let (status, body) = t
            .admin_raw(reqwest::Method::POST, &path, Some(&t.token), Some(bad))
            .await;
        assert_eq!(status, 400, "{body}");
        let text = body["errorInformation"]["errorDescription"].to_string();
        assert!(text.contains(why), "{why}: {text}");
    }
    let (_, pending) = t
        .admin_raw(
            reqwest::Method::GET,
            "/requests?state=pending",
            Some(&t.token),
            None,
        )
        .await;
    assert_eq!(pending, json!([]), "no refused set waits for a checker");
}
