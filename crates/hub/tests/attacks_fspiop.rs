//! FSPIOP-plane attacks from the security audit of issue 12, each reproduced against the real
//! hub (loopback, the demo's two DFSPs plus a third, `evilfsp`, onboarded like any other with
//! its own JWS key, every message signed):
//!
//! - party takeover: a claim on someone else's party in another currency (or none), answering
//!   a lookup the hub did not route to you, deleting someone else's registration;
//! - a quote error (or answer) from an FSP outside the quote;
//! - duplicate JSON keys (the last one would win).

mod common;

use std::sync::Arc;

use common::*;
use dfsp::provision::Onboarding;
use dfsp::simulator::{SimOptions, SimParty, Simulator};
use fspiop::headers::{Method, Resource};
use serde_json::{Value, json};

/// The third DFSP.
const EVIL: &str = "evilfsp";
/// A number `evilfsp` really serves (it is not in the oracle).
const EVIL_MSISDN: &str = "27700000666";

/// Starts `evilfsp` (a simulator serving [`EVIL_MSISDN`], signing with its own key, verifying
/// the hub's) and onboards it: a participant in good standing.
async fn evil(t: &TestHub) -> Simulator {
    let key = Arc::new(jws::SigningKey::generate_es256().expect("evil JWS key"));
    let mut options = SimOptions::new(reqwest::Client::new());
    options.signing_key = Some(key.clone());
    options.hub_key = Some(t.hub.jws_public_key.clone());
    let party = SimParty {
        id_type: "MSISDN".into(),
        identifier: EVIL_MSISDN.into(),
        first_name: "Mallory".into(),
        last_name: "Evil".into(),
    };
    let sim = Simulator::start_with_options(
        EVIL,
        CURRENCY,
        vec![party],
        &t.fspiop_url,
        loopback(),
        options,
    )
    .await
    .expect("evil simulator");
    let onboarding = Onboarding::new(EVIL, CURRENCY, CAP, "500", sim.base_url())
        .with_jws_public_key(key.verifying_key().to_pem());
    t.admin
        .onboard(&onboarding)
        .await
        .expect("evilfsp onboarded");
    sim
}

/// `(actor, subject, outcome, detail)` of every audit entry with this action, oldest first,
/// read from the hub's database (the hash-chained `audit` table).
async fn audited(t: &TestHub, action: &str) -> Vec<(String, String, String, String)> {
    use sqlx::Connection as _;
    let url = format!("sqlite://{}?mode=ro", t.data_dir.join("hub.db").display());
    let mut db = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open the hub's database");
    sqlx::query_as(
        "SELECT actor, subject, outcome, detail FROM audit WHERE action = ?1 ORDER BY seq",
    )
    .bind(action)
    .fetch_all(&mut db)
    .await
    .expect("read the audit log")
}

fn party_path() -> String {
    format!("/parties/MSISDN/{PAYEE_MSISDN}")
}

fn registration_path() -> String {
    format!("/participants/MSISDN/{PAYEE_MSISDN}")
}

/// A `PUT /parties` body in which `fsp` claims to serve the payee's number.
fn party_answer(fsp: &str) -> Value {
    json!({"party": {
        "partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": PAYEE_MSISDN, "fspId": fsp},
        "name": "Mallory Evil",
    }})
}

/// Sends a lookup of the payee's number from the payer, without a destination (the oracle
/// routes it), and checks that it reached the payee and only the payee.
async fn lookup_reaches_the_owner(t: &TestHub, evil: &Simulator, seen_before: usize) {
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Parties, &party_path(), None, None)
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "lookup");
    let lookups = t
        .wait_count(&t.payee, seen_before + 1, |r| {
            r.method == "GET" && r.path == party_path()
        })
        .await;
    assert_eq!(lookups.len(), seen_before + 1);
    t.assert_none(evil, "the payee's lookup", |r| {
        r.method == "GET" && r.path.starts_with("/parties")
    })
    .await;
}

// ------------------------------------------------------------------------------------------
// 1. Party takeover

/// The audit's attack: `evilfsp` registers the payee's number without a currency (and in
/// another one, and in the owner's). Each claim gets a `3003` callback and an
/// `oracle.claim_refused` audit entry; lookups still go to the payee.
#[tokio::test]
async fn a_claim_on_someone_elses_party_is_refused_in_any_currency() {
    let t = TestHub::start().await;
    let evil = evil(&t).await;
    let bodies = [
        json!({"fspId": EVIL}),
        json!({"fspId": EVIL, "currency": "EUR"}),
        json!({"fspId": EVIL, "currency": CURRENCY}),
    ];
    for (n, body) in bodies.iter().enumerate() {
        let answer = evil
            .client()
            .send(
                Method::Post,
                Resource::Participants,
                &registration_path(),
                None,
                Some(body),
            )
            .await
            .expect("hub reachable");
        assert_accepted(&answer, 202, "claim");
        let errors = t
            .wait_count(&evil, n + 1, |r| {
                r.method == "PUT" && r.path == format!("{}/error", registration_path())
            })
            .await;
        let error = errors.last().expect("an answer");
        assert_eq!(error.error_code(), Some("3003"), "{body}: {}", error.body);
        let description = error.body["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap_or_default();
        assert!(
            description.contains("registered to payeefsp"),
            "{description}"
        );
        assert_hub_signed(error);
    }
    t.assert_none(&evil, "a successful registration", |r| {
        r.method == "PUT" && r.path == registration_path()
    })
    .await;
    let refusals = audited(&t, "oracle.claim_refused").await;
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    for (actor, subject, outcome, detail) in &refusals {
        assert_eq!(
            (actor.as_str(), subject.as_str(), outcome.as_str()),
            (EVIL, format!("MSISDN/{PAYEE_MSISDN}").as_str(), "denied")
        );
        assert!(detail.contains("\"owner\":\"payeefsp\""), "{detail}");
    }

    // The oracle still names the payee, and lookups reach only the payee.
    let answer = t
        .payer
        .client()
        .send(
            Method::Get,
            Resource::Participants,
            &registration_path(),
            None,
            None,
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "oracle query");
    let found = t.wait_path(&t.payer, "PUT", &registration_path()).await;
    assert_eq!(found.body["fspId"], PAYEE);
    lookup_reaches_the_owner(&t, &evil, 0).await;
    let party = t.wait_path(&t.payer, "PUT", &party_path()).await;
    assert_eq!(party.header("fspiop-source"), Some(PAYEE));
}

/// The same claim 20 times at once from `evilfsp` while the owner re-registers 20 times: every
/// claim is refused, every re-registration accepted, the party never moves.
#[tokio::test]
async fn concurrent_claims_never_move_the_party() {
    let t = TestHub::start().await;
    let evil = evil(&t).await;
    let claim = json!({"fspId": EVIL});
    let again = json!({"fspId": PAYEE, "currency": CURRENCY});
    let path = registration_path();
    let mut sends = Vec::new();
    for _ in 0..20 {
        sends.push(evil.client().send(
            Method::Post,
            Resource::Participants,
            &path,
            None,
            Some(&claim),
        ));
        sends.push(t.payee.client().send(
            Method::Post,
            Resource::Participants,
            &path,
            None,
            Some(&again),
        ));
    }
    for answer in futures_util::future::join_all(sends).await {
        assert_accepted(&answer.expect("hub reachable"), 202, "registration");
    }
    let error = format!("{path}/error");
    let refused = t
        .wait_count(&evil, 20, |r| r.method == "PUT" && r.path == error)
        .await;
    assert!(refused.iter().all(|r| r.error_code() == Some("3003")));
    // The payee's set-up registration plus these 20.
    let accepted = t
        .wait_count(&t.payee, 21, |r| r.method == "PUT" && r.path == path)
        .await;
    assert!(accepted.iter().all(|r| r.body["fspId"] == PAYEE));
    t.assert_none(&evil, "an accepted claim", |r| {
        r.method == "PUT" && r.path == path
    })
    .await;
    t.assert_none(&t.payee, "a refused re-registration", |r| r.path == error)
        .await;
    assert_eq!(audited(&t, "oracle.claim_refused").await.len(), 20);
    lookup_reaches_the_owner(&t, &evil, 0).await;
}

/// `evilfsp` answers a lookup the hub routed to the payee (and sends an error for it): both
/// refused synchronously with `3100`, audited as `oracle.answer_refused`, never forwarded. The
/// owner's answer still gets through.
#[tokio::test]
async fn an_answer_from_an_fsp_the_lookup_was_not_routed_to_is_refused() {
    let t = TestHub::start().await;
    let evil = evil(&t).await;
    lookup_reaches_the_owner(&t, &evil, 0).await;
    let genuine = t.wait_path(&t.payer, "PUT", &party_path()).await;
    assert_eq!(genuine.header("fspiop-source"), Some(PAYEE));

    let answer = evil
        .client()
        .send(
            Method::Put,
            Resource::Parties,
            &party_path(),
            Some(PAYER),
            Some(&party_answer(EVIL)),
        )
        .await
        .expect("hub reachable");
    assert_refused(&answer, 400, "3100", "answer from an FSP not asked");
    assert!(
        answer.body.contains("payerfsp did not ask evilfsp"),
        "{}",
        answer.body
    );
    let error =
        json!({"errorInformation": {"errorCode": "3204", "errorDescription": "Party not found"}});
    let answer = evil
        .client()
        .send(
            Method::Put,
            Resource::Parties,
            &format!("{}/error", party_path()),
            Some(PAYER),
            Some(&error),
        )
        .await
        .expect("hub reachable");
    assert_refused(&answer, 400, "3100", "error from an FSP not asked");
    t.assert_none(&t.payer, "a party answer from evilfsp", |r| {
        r.path.starts_with("/parties") && r.header("fspiop-source") == Some(EVIL)
    })
    .await;
    let refusals = audited(&t, "oracle.answer_refused").await;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    for (actor, subject, outcome, detail) in &refusals {
        assert_eq!(
            (actor.as_str(), subject.as_str(), outcome.as_str()),
            (EVIL, format!("MSISDN/{PAYEE_MSISDN}").as_str(), "denied")
        );
        assert!(detail.contains("\"requester\":\"payerfsp\""), "{detail}");
    }

    // The owner may answer (again).
    let answer = t
        .payee
        .client()
        .send(
            Method::Put,
            Resource::Parties,
            &party_path(),
            Some(PAYER),
            Some(&party_answer(PAYEE)),
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 200, "the owner's answer");
    t.wait_count(&t.payer, 2, |r| {
        r.method == "PUT" && r.path == party_path() && r.header("fspiop-source") == Some(PAYEE)
    })
    .await;
}

/// A lookup of a party nobody registered, sent to the FSP the requester names: that FSP's
/// answer is forwarded, another FSP's answer about the same party is refused.
#[tokio::test]
async fn a_lookup_routed_to_a_named_fsp_may_be_answered_only_by_it() {
    let t = TestHub::start().await;
    let evil = evil(&t).await;
    let path = format!("/parties/MSISDN/{EVIL_MSISDN}");
    // The payee pretends to serve evilfsp's customer before anyone asked: refused.
    let answer = t
        .payee
        .client()
        .send(
            Method::Put,
            Resource::Parties,
            &path,
            Some(PAYER),
            Some(&json!({"party": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": EVIL_MSISDN, "fspId": PAYEE}}})),
        )
        .await
        .expect("hub reachable");
    assert_refused(&answer, 400, "3100", "unsolicited answer");

    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Parties, &path, Some(EVIL), None)
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "lookup with a destination");
    let routed = t.wait_path(&evil, "GET", &path).await;
    assert_eq!(routed.header("fspiop-source"), Some(PAYER));
    // evilfsp's simulator answers it: forwarded.
    let party = t.wait_path(&t.payer, "PUT", &path).await;
    assert_eq!(party.header("fspiop-source"), Some(EVIL));
    assert_eq!(party.body["party"]["partyIdInfo"]["fspId"], EVIL);

    // The lookup went to evilfsp, not to the payee: the payee still may not answer it.
    let answer = t
        .payee
        .client()
        .send(
            Method::Put,
            Resource::Parties,
            &path,
            Some(PAYER),
            Some(&json!({"party": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": EVIL_MSISDN, "fspId": PAYEE}}})),
        )
        .await
        .expect("hub reachable");
    assert_refused(&answer, 400, "3100", "answer from the FSP not named");
    t.assert_none(&t.payer, "the payee's answer", |r| {
        r.path == path && r.header("fspiop-source") == Some(PAYEE)
    })
    .await;
    assert_eq!(audited(&t, "oracle.answer_refused").await.len(), 2);
}

/// `evilfsp` deletes the payee's registration: `3040`, audited, and the party stays the
/// payee's; the payee's own delete works.
#[tokio::test]
async fn only_the_owner_may_delete_its_registration() {
    let t = TestHub::start().await;
    let evil = evil(&t).await;
    let path = registration_path();
    let answer = evil
        .client()
        .send(Method::Delete, Resource::Participants, &path, None, None)
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "delete");
    t.hub_error(&evil, &path, "3040").await;
    let refusals = audited(&t, "oracle.delete_refused").await;
    assert_eq!(refusals.len(), 1, "{refusals:?}");
    assert_eq!(refusals[0].0, EVIL);
    lookup_reaches_the_owner(&t, &evil, 0).await;

    let answer = t
        .payee
        .client()
        .send(Method::Delete, Resource::Participants, &path, None, None)
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "the owner's delete");
    t.wait_count(&t.payee, 2, |r| r.method == "PUT" && r.path == path)
        .await;
    // Now free: a lookup finds no one.
    let answer = t
        .payer
        .client()
        .send(Method::Get, Resource::Parties, &party_path(), None, None)
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "lookup");
    t.hub_error(&t.payer, &party_path(), "3204").await;
}

// ------------------------------------------------------------------------------------------
// 8. Quote error from a non-party

/// A quote between payer and payee, answered by the payee; returns its id.
async fn agreed_quote(t: &TestHub) -> String {
    let quote_id = uuid::Uuid::new_v4().to_string();
    let request = json!({
        "quoteId": quote_id,
        "transactionId": uuid::Uuid::new_v4().to_string(),
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": PAYEE_MSISDN, "fspId": PAYEE}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": PAYER}},
        "amountType": "SEND",
        "amount": {"amount": "10", "currency": CURRENCY},
    });
    let answer = t
        .payer
        .client()
        .send(
            Method::Post,
            Resource::Quotes,
            "/quotes",
            Some(PAYEE),
            Some(&request),
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 202, "quote");
    let quoted = t.callback(&t.payer, &format!("/quotes/{quote_id}")).await;
    assert_eq!(quoted.error_code(), None, "{}", quoted.body);
    quote_id
}

/// `evilfsp` sends an error (and an answer) for a quote between payer and payee: refused with
/// a `3100` callback to it, audited as `quote.answer_refused`, nothing reaches the payer. The
/// payee's own error is forwarded.
#[tokio::test]
async fn a_quote_error_from_outside_the_quote_is_refused() {
    let t = TestHub::start().await;
    let evil = evil(&t).await;
    let id = agreed_quote(&t).await;
    let quote_path = format!("/quotes/{id}");
    let error_path = format!("{quote_path}/error");
    let error = json!({"errorInformation": {"errorCode": "5101", "errorDescription": "Payee rejected quote"}});
    let answer = evil
        .client()
        .send(
            Method::Put,
            Resource::Quotes,
            &error_path,
            Some(PAYER),
            Some(&error),
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 200, "callback");
    let refused = t.hub_error(&evil, &quote_path, "3100").await;
    assert!(
        refused.body["errorInformation"]["errorDescription"]
            .as_str()
            .unwrap_or_default()
            .contains("evilfsp is neither payer nor payee of quote"),
        "{}",
        refused.body
    );
    // A forged answer (`PUT /quotes/{id}`) is refused the same way (already enforced).
    let forged = json!({
        "transferAmount": {"amount": "1", "currency": CURRENCY},
        "expiration": in_millis(60_000),
        "ilpPacket": "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF81MDdqUUZERmZlakgyOVc4bXFmNEpLMHlGTFGCAUBQU0svMS4wCk5vbmNlOiB1SXlweUYzY3pYSXBFdzVVc05TYWh3CkVuY3J5cHRpb246IG5vbmUKUGF5bWVudC1JZDogMTMyMzZhM2ItOGZhOC00MTYzLTg0NDctNGMzZWQzZGE5OGE3CgpDb250ZW50LUxlbmd0aDogMTM1CkNvbnRlbnQtVHlwZTogYXBwbGljYXRpb24vanNvbgpTZW5kZXItSWRlbnRpZmllcjogOTI4MDYzOTEKCiJ7XCJmZWVcIjowLFwidHJhbnNmZXJDb2RlXCI6XCJpbnZvaWNlXCIsXCJkZWJpdE5hbWVcIjpcImFsaWNlIGNvb3BlclwiLFwiY3JlZGl0TmFtZVwiOlwibWVyIGNoYW50XCIsXCJkZWJpdElkZW50aWZpZXJcIjpcIjkyODA2MzkxXCJ9IgA",
        "condition": "GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM",
    });
    let answer = evil
        .client()
        .send(
            Method::Put,
            Resource::Quotes,
            &quote_path,
            Some(PAYER),
            Some(&forged),
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 200, "callback");
    let errors = t
        .wait_count(&evil, 2, |r| r.method == "PUT" && r.path == error_path)
        .await;
    assert_eq!(errors[1].error_code(), Some("3100"), "{}", errors[1].body);

    t.assert_none(&t.payer, "a quote message from evilfsp", |r| {
        r.path.starts_with(&quote_path) && r.header("fspiop-source") == Some(EVIL)
    })
    .await;
    t.assert_none(&t.payer, "a quote error", |r| r.path == error_path)
        .await;
    let refusals = audited(&t, "quote.answer_refused").await;
    assert_eq!(refusals.len(), 2, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|(actor, subject, outcome, _)| actor == EVIL
                && *subject == id
                && outcome == "denied")
    );

    // The payee's own error is forwarded to the payer.
    let answer = t
        .payee
        .client()
        .send(
            Method::Put,
            Resource::Quotes,
            &error_path,
            Some(PAYER),
            Some(&error),
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 200, "the payee's error");
    let forwarded = t.wait_path(&t.payer, "PUT", &error_path).await;
    assert_eq!(forwarded.header("fspiop-source"), Some(PAYEE));
    assert_eq!(forwarded.error_code(), Some("5101"));
}

/// A quote error for a quote the hub never saw is not forwarded (`3205` to the sender).
#[tokio::test]
async fn a_quote_error_for_an_unknown_quote_is_not_forwarded() {
    let t = TestHub::start().await;
    let id = uuid::Uuid::new_v4().to_string();
    let error = json!({"errorInformation": {"errorCode": "5101", "errorDescription": "Payee rejected quote"}});
    let answer = t
        .payee
        .client()
        .send(
            Method::Put,
            Resource::Quotes,
            &format!("/quotes/{id}/error"),
            Some(PAYER),
            Some(&error),
        )
        .await
        .expect("hub reachable");
    assert_accepted(&answer, 200, "callback");
    t.hub_error(&t.payee, &format!("/quotes/{id}"), "3205")
        .await;
    t.assert_none(&t.payer, "the error", |r| r.path.contains(&id))
        .await;
}

// ------------------------------------------------------------------------------------------
// 11a. Duplicate JSON keys

/// Bodies that repeat a key, at the top level, nested, or spelled with an escape, are refused
/// at the gate with `3101` naming the key — signed over exactly those bytes, so only the
/// duplicate is wrong — and nothing happens.
#[tokio::test]
async fn duplicate_json_keys_are_refused_at_the_gate() {
    let t = TestHub::start().await;
    let before = t.positions().await;
    let (body, _) = t.prepare("10", &in_millis(30_000)).await;
    let canonical = fspiop::canonical::to_canonical_string(&body);
    let amount = fspiop::canonical::to_canonical_string(&body["amount"]);
    let inner = amount.trim_end_matches('}');
    let variants = [
        // The last amount would win: 1000 instead of the 10 agreed.
        (
            canonical.replacen(&amount, &format!("{inner},\"amount\":\"1000\"}}"), 1),
            "amount",
            "/amount",
        ),
        (
            canonical.replacen("{", "{\"payeeFsp\":\"evilfsp\",", 1),
            "payeeFsp",
            "top-level",
        ),
        (
            canonical.replacen("{", "{\"\\u0070ayeeFsp\":\"evilfsp\",", 1),
            "payeeFsp",
            "top-level",
        ),
    ];
    let headers = t.headers(
        &t.payer,
        Method::Post,
        Resource::Transfers,
        "/transfers",
        Some(PAYEE),
    );
    for (crafted, key, place) in variants {
        assert!(serde_json::from_str::<Value>(&crafted).is_ok(), "{crafted}");
        let answer = t
            .send_raw(
                &t.payer,
                Method::Post,
                "/transfers",
                &headers,
                Some(crafted.clone()),
            )
            .await;
        assert_refused(&answer, 400, "3101", &crafted);
        assert!(
            answer
                .body
                .contains(&format!("duplicate key \\\"{key}\\\""))
                && answer.body.contains(place),
            "{}",
            answer.body
        );
    }
    // A registration whose fspId is given twice.
    let path = format!("/participants/MSISDN/{EVIL_MSISDN}");
    let headers = t.headers(&t.payer, Method::Post, Resource::Participants, &path, None);
    let answer = t
        .send_raw(
            &t.payer,
            Method::Post,
            &path,
            &headers,
            Some(format!("{{\"fspId\":\"{PAYER}\",\"fspId\":\"{PAYEE}\"}}")),
        )
        .await;
    assert_refused(&answer, 400, "3101", "registration");
    t.assert_no_prepare_forwarded().await;
    t.assert_none(&t.payer, "an answer to a refused request", |r| {
        r.path.starts_with("/transfers") || r.path.starts_with("/participants/MSISDN/27700000666")
    })
    .await;
    t.assert_positions_unchanged(&before, "duplicate keys")
        .await;
}
