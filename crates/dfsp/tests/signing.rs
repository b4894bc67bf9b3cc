//! `FSPIOP-Signature` on the DFSP side: the client signs what it sends, the simulator signs
//! what it answers and refuses unsigned or badly signed hub messages with `3105`.
//! Everything runs on loopback.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use dfsp::client::FspiopClient;
use dfsp::simulator::{SignatureCheck, SimOptions, SimParty, Simulator};
use fspiop::headers::{Method, Resource};
use jws::{Alg, RequestParts, SigningKey, VerifyingKey};
use serde_json::{Value, json};

const HUB: &str = "Hub";
const ALGS: [Alg; 2] = [Alg::Rs256, Alg::Es256];

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

/// One request a test server received.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Bytes,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Verifies the request's `FSPIOP-Signature` with `key`, as a hub would.
    fn verify(&self, key: &VerifyingKey) -> Result<jws::Verified, jws::JwsError> {
        let request = RequestParts {
            method: self.header("fspiop-http-method").unwrap_or_default(),
            uri: self.header("fspiop-uri").unwrap_or_default(),
            source: self.header("fspiop-source").unwrap_or_default(),
            destination: self.header("fspiop-destination"),
            date: self.header("date"),
        };
        jws::verify(
            self.header("fspiop-signature").unwrap_or_default(),
            &request,
            &self.body,
            std::slice::from_ref(key),
            &ALGS,
        )
    }
}

type Log = Arc<Mutex<Vec<Seen>>>;

async fn seen(request: Request) -> Seen {
    let (parts, body) = request.into_parts();
    Seen {
        method: parts.method.to_string(),
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        body: axum::body::to_bytes(body, 1 << 20)
            .await
            .expect("request body"),
    }
}

/// A server that verifies every request with a body against `key`: `200` when it verifies,
/// `400` with the reason otherwise; a request without a body must carry no signature.
async fn verifying_server(key: VerifyingKey) -> (String, Log) {
    async fn handle(
        State((key, log)): State<(VerifyingKey, Log)>,
        request: Request,
    ) -> (StatusCode, String) {
        let seen = seen(request).await;
        log.lock().expect("log").push(seen.clone());
        if seen.body.is_empty() {
            return match seen.header("fspiop-signature") {
                None => (StatusCode::OK, "no body, no signature".into()),
                Some(_) => (StatusCode::BAD_REQUEST, "signed without a body".into()),
            };
        }
        match seen.verify(&key) {
            Ok(verified) => (StatusCode::OK, format!("{:?}", verified.body_form)),
            Err(error) => (StatusCode::BAD_REQUEST, error.to_string()),
        }
    }
    let log = Log::default();
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new()
        .fallback(handle)
        .with_state((key, log.clone()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

/// A stand-in for the hub that accepts everything the simulator sends and records it.
async fn recording_hub() -> (String, Log) {
    async fn handle(State(log): State<Log>, request: Request) -> StatusCode {
        let seen = seen(request).await;
        let status = if seen.method == "PUT" {
            StatusCode::OK
        } else {
            StatusCode::ACCEPTED
        };
        log.lock().expect("log").push(seen);
        status
    }
    let log = Log::default();
    let listener = tokio::net::TcpListener::bind(loopback())
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new().fallback(handle).with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, log)
}

async fn wait_seen(log: &Log, method: &str, path: &str) -> Seen {
    for _ in 0..200 {
        if let Some(found) = log
            .lock()
            .expect("log")
            .iter()
            .find(|s| s.method == method && s.path == path)
        {
            return found.clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no {method} {path} arrived");
}

fn fulfil_body() -> Value {
    json!({
        "transferState": "COMMITTED",
        "fulfilment": "CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk",
        "completedTimestamp": "2025-01-01T00:00:01.000Z",
    })
}

#[tokio::test]
async fn client_signs_every_request_with_a_body() {
    for key in [
        SigningKey::generate_es256().expect("ES256 key"),
        SigningKey::generate_rs256(2048).expect("RS256 key"),
    ] {
        let alg = key.alg();
        let (url, log) = verifying_server(key.verifying_key().clone()).await;
        let key = Arc::new(key);
        let http = reqwest::Client::new();
        let client =
            FspiopClient::new(http.clone(), &url, "payerfsp").with_signing_key(key.clone());
        assert!(client.signing_key().is_some());

        let path = "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069";
        let answer = client
            .send(
                Method::Put,
                Resource::Transfers,
                path,
                Some("payeefsp"),
                Some(&fulfil_body()),
            )
            .await
            .expect("send");
        assert_eq!(answer.status, 200, "{alg}: {}", answer.body);
        assert_eq!(
            answer.body, "Raw",
            "{alg}: the signature covers the bytes sent"
        );
        let sent = log.lock().expect("log").last().cloned().expect("request");
        assert_eq!(
            sent.body,
            fspiop::canonical::to_canonical_string(&fulfil_body()).as_bytes()
        );
        let protected =
            jws::SignatureHeader::parse(sent.header("fspiop-signature").expect("signed"))
                .expect("header")
                .protected_header()
                .expect("protected header");
        assert_eq!(protected.alg, alg);
        assert_eq!(protected.uri, path);
        assert_eq!(protected.method, "PUT");
        assert_eq!(protected.source, "payerfsp");
        assert_eq!(protected.destination.as_deref(), Some("payeefsp"));
        assert_eq!(protected.date.as_deref(), sent.header("date"));

        // The query string is not part of FSPIOP-URI, and a request without a destination
        // signs none.
        let answer = client
            .send(
                Method::Post,
                Resource::Participants,
                "/participants/MSISDN/123?x=1",
                None,
                Some(&json!({"fspId": "payerfsp"})),
            )
            .await
            .expect("send");
        assert_eq!(answer.status, 200, "{alg}: {}", answer.body);

        // No body, no signature.
        let answer = client
            .send(
                Method::Get,
                Resource::Parties,
                "/parties/MSISDN/123",
                None,
                None,
            )
            .await
            .expect("send");
        assert_eq!(answer.status, 200, "{alg}: {}", answer.body);

        // Pre-signed, sent later through send_raw.
        let (headers, body) = client.signed_request(
            Method::Post,
            Resource::Quotes,
            "/quotes",
            Some("payeefsp"),
            Some(&json!({"quoteId": "q1"})),
        );
        assert!(headers.iter().any(|(k, _)| k == "fspiop-signature"));
        let answer = client
            .send_raw(Method::Post, "/quotes", &headers, body)
            .await
            .expect("send");
        assert_eq!(answer.status, 200, "{alg}: {}", answer.body);
        // ... and a tampered body does not verify.
        let answer = client
            .send_raw(
                Method::Post,
                "/quotes",
                &headers,
                Some(r#"{"quoteId":"q2"}"#.into()),
            )
            .await
            .expect("send");
        assert_eq!(answer.status, 400);
        assert_eq!(answer.body, "signature does not verify");

        // Without a key nothing is signed.
        let unsigned = FspiopClient::new(http, &url, "payerfsp");
        let (headers, _) = unsigned.signed_request(
            Method::Put,
            Resource::Transfers,
            path,
            None,
            Some(&fulfil_body()),
        );
        assert!(headers.iter().all(|(k, _)| k != "fspiop-signature"));
        let answer = unsigned
            .send(
                Method::Put,
                Resource::Transfers,
                path,
                None,
                Some(&fulfil_body()),
            )
            .await
            .expect("send");
        assert_eq!(answer.status, 400);
    }
}

/// A payee simulator that signs with its own key and verifies the hub's and `payerfsp`'s.
struct Setup {
    sim: Simulator,
    sim_key: VerifyingKey,
    hub_log: Log,
    /// Sends to the simulator as the hub, signed with the hub's key.
    hub: FspiopClient,
    /// Sends to the simulator as the hub, unsigned.
    unsigned_hub: FspiopClient,
    /// Sends to the simulator as `payerfsp` (the hub forwards its messages unchanged).
    payer: FspiopClient,
    /// Sends as the hub, signed with a key that is not the hub's.
    impostor: FspiopClient,
}

async fn setup() -> Setup {
    let hub_key = Arc::new(SigningKey::generate_es256().expect("hub key"));
    let sim_key = Arc::new(SigningKey::generate_es256().expect("simulator key"));
    let payer_key = Arc::new(SigningKey::generate_rs256(2048).expect("payer key"));
    let impostor_key = Arc::new(SigningKey::generate_es256().expect("impostor key"));
    let (hub_url, hub_log) = recording_hub().await;
    let http = reqwest::Client::new();
    let mut options = SimOptions::new(http.clone());
    assert_eq!(options.hub_name, HUB);
    options.signing_key = Some(sim_key.clone());
    options.hub_key = Some(hub_key.verifying_key().clone());
    options.peer_keys =
        HashMap::from([("payerfsp".to_string(), payer_key.verifying_key().clone())]);
    let party = SimParty {
        id_type: "MSISDN".into(),
        identifier: "27713803912".into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
    };
    let sim = Simulator::start_with_options(
        "payeefsp",
        "USD",
        vec![party],
        &hub_url,
        loopback(),
        options,
    )
    .await
    .expect("simulator");
    assert!(sim.client().signing_key().is_some());
    let to_sim = |name: &str| FspiopClient::new(http.clone(), sim.base_url(), name);
    Setup {
        sim_key: sim_key.verifying_key().clone(),
        hub_log,
        hub: to_sim(HUB).with_signing_key(hub_key),
        unsigned_hub: to_sim(HUB),
        payer: to_sim("payerfsp").with_signing_key(payer_key),
        impostor: to_sim(HUB).with_signing_key(impostor_key),
        sim,
    }
}

fn check_of(sim: &Simulator, method: &str, path: &str) -> SignatureCheck {
    sim.received()
        .into_iter()
        .find(|r| r.method == method && r.path == path)
        .unwrap_or_else(|| panic!("{method} {path} not recorded"))
        .signature
}

fn assert_3105(answer: &dfsp::client::Answer) {
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert_eq!(
        answer.error_code().as_deref(),
        Some("3105"),
        "{}",
        answer.body
    );
    let body: Value = serde_json::from_str(&answer.body).expect("JSON");
    let description = body["errorInformation"]["errorDescription"]
        .as_str()
        .expect("description");
    assert!(
        description.starts_with("Invalid signature - "),
        "{description}"
    );
}

#[tokio::test]
async fn simulator_refuses_unsigned_or_badly_signed_hub_messages() {
    let t = setup().await;

    // Unsigned from the hub: 400/3105, recorded, not acted upon.
    let path = "/transfers/00000000-0000-4000-8000-000000000001/error";
    let error =
        json!({"errorInformation": {"errorCode": "3303", "errorDescription": "Transfer expired"}});
    let answer = t
        .unsigned_hub
        .send(
            Method::Put,
            Resource::Transfers,
            path,
            Some("payeefsp"),
            Some(&error),
        )
        .await
        .expect("send");
    assert_3105(&answer);
    assert_eq!(check_of(&t.sim, "PUT", path), SignatureCheck::Unsigned);

    // Signed by the hub: accepted.
    let path = "/transfers/00000000-0000-4000-8000-000000000002/error";
    let answer = t
        .hub
        .send(
            Method::Put,
            Resource::Transfers,
            path,
            Some("payeefsp"),
            Some(&error),
        )
        .await
        .expect("send");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        check_of(&t.sim, "PUT", path),
        SignatureCheck::Verified { signer: HUB.into() }
    );

    // Hub name compared case-insensitively; PATCH notifications are checked too.
    let path = "/transfers/00000000-0000-4000-8000-000000000003";
    let patch =
        json!({"transferState": "COMMITTED", "completedTimestamp": "2025-01-01T00:00:01.000Z"});
    let answer = FspiopClient::new(reqwest::Client::new(), t.sim.base_url(), "hub")
        .send(
            Method::Patch,
            Resource::Transfers,
            path,
            Some("payeefsp"),
            Some(&patch),
        )
        .await
        .expect("send");
    assert_3105(&answer);

    // Signed with a key that is not the hub's.
    let path = "/transfers/00000000-0000-4000-8000-000000000004/error";
    let answer = t
        .impostor
        .send(
            Method::Put,
            Resource::Transfers,
            path,
            Some("payeefsp"),
            Some(&error),
        )
        .await
        .expect("send");
    assert_3105(&answer);
    assert_eq!(
        check_of(&t.sim, "PUT", path),
        SignatureCheck::Invalid("signature does not verify".into())
    );

    // Signed by the hub, but a signed header changed on the way.
    let path = "/transfers/00000000-0000-4000-8000-000000000005/error";
    let (mut headers, body) = t.hub.signed_request(
        Method::Put,
        Resource::Transfers,
        path,
        Some("payeefsp"),
        Some(&error),
    );
    for (name, value) in &mut headers {
        if name == "fspiop-destination" {
            *value = "otherfsp".into();
        }
    }
    let answer = t
        .hub
        .send_raw(Method::Put, path, &headers, body)
        .await
        .expect("send");
    assert_3105(&answer);
    assert!(matches!(
        check_of(&t.sim, "PUT", path),
        SignatureCheck::Invalid(_)
    ));

    // An unsigned quote request claiming to come from the hub is not answered.
    let quote_id = "00000000-0000-4000-8000-000000000006";
    let answer = t
        .unsigned_hub
        .send(
            Method::Post,
            Resource::Quotes,
            "/quotes",
            Some("payeefsp"),
            Some(&quote_request(quote_id)),
        )
        .await
        .expect("send");
    assert_3105(&answer);

    let failures = t.sim.signature_failures();
    assert_eq!(failures.len(), 5, "{failures:#?}");
    assert_eq!(t.sim.signature_failure_count(), 5);
    assert!(failures.iter().all(|f| !matches!(
        f.signature,
        SignatureCheck::Verified { .. } | SignatureCheck::NotChecked | SignatureCheck::Unverifiable
    )));

    tokio::time::sleep(Duration::from_millis(300)).await;
    let answered = t
        .hub_log
        .lock()
        .expect("log")
        .iter()
        .any(|s| s.path.contains(quote_id));
    assert!(!answered, "a refused quote request was answered");
}

fn quote_request(quote_id: &str) -> Value {
    json!({
        "quoteId": quote_id,
        "transactionId": "00000000-0000-4000-8000-0000000000ff",
        "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "27713803912", "fspId": "payeefsp"}},
        "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": "payerfsp"}},
        "amountType": "SEND",
        "amount": {"amount": "10", "currency": "USD"},
        "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
    })
}

#[tokio::test]
async fn simulator_verifies_peers_and_signs_its_answers() {
    let t = setup().await;

    // A lookup (no body) is not checked; the PUT /parties answer is signed.
    let path = "/parties/MSISDN/27713803912";
    let answer = t
        .hub
        .send(Method::Get, Resource::Parties, path, Some("payeefsp"), None)
        .await
        .expect("send");
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(check_of(&t.sim, "GET", path), SignatureCheck::NotChecked);
    let party = wait_seen(&t.hub_log, "PUT", path).await;
    party.verify(&t.sim_key).expect("PUT /parties is signed");
    assert_eq!(party.header("fspiop-destination"), Some(HUB));

    // A quote request forwarded from payerfsp, signed by payerfsp: verified with its key and
    // answered with a signed PUT /quotes.
    let quote_id = "00000000-0000-4000-8000-000000000010";
    let answer = t
        .payer
        .send(
            Method::Post,
            Resource::Quotes,
            "/quotes",
            Some("payeefsp"),
            Some(&quote_request(quote_id)),
        )
        .await
        .expect("send");
    assert_eq!(answer.status, 202, "{}", answer.body);
    assert_eq!(
        check_of(&t.sim, "POST", "/quotes"),
        SignatureCheck::Verified {
            signer: "payerfsp".into()
        }
    );
    let quoted = wait_seen(&t.hub_log, "PUT", &format!("/quotes/{quote_id}")).await;
    let verified = quoted.verify(&t.sim_key).expect("PUT /quotes is signed");
    assert_eq!(verified.body_form, jws::BodyForm::Raw);
    let quoted: Value = serde_json::from_slice(&quoted.body).expect("JSON");

    // The prepare forwarded from payerfsp: the fulfil is signed.
    let transfer_id = "00000000-0000-4000-8000-000000000011";
    let prepare = json!({
        "transferId": transfer_id,
        "payerFsp": "payerfsp",
        "payeeFsp": "payeefsp",
        "amount": quoted["transferAmount"],
        "ilpPacket": quoted["ilpPacket"],
        "condition": quoted["condition"],
        "expiration": dfsp::simulator::in_seconds(30),
    });
    let answer = t
        .payer
        .send(
            Method::Post,
            Resource::Transfers,
            "/transfers",
            Some("payeefsp"),
            Some(&prepare),
        )
        .await
        .expect("send");
    assert_eq!(answer.status, 202, "{}", answer.body);
    let fulfil = wait_seen(&t.hub_log, "PUT", &format!("/transfers/{transfer_id}")).await;
    fulfil.verify(&t.sim_key).expect("the fulfil is signed");
    let fulfil: Value = serde_json::from_slice(&fulfil.body).expect("JSON");
    assert_eq!(fulfil["transferState"], "COMMITTED");

    // A peer's PUT /parties is usually unsigned: accepted.
    let path = "/parties/MSISDN/44123456789";
    let party = json!({"party": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": "payerfsp"}}});
    let (headers, _) =
        t.payer
            .signed_request(Method::Put, Resource::Parties, path, Some("payeefsp"), None);
    let answer = t
        .payer
        .send_raw(Method::Put, path, &headers, Some(party.to_string()))
        .await
        .expect("send");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(check_of(&t.sim, "PUT", path), SignatureCheck::Unsigned);

    // A badly signed peer message is refused.
    let path = "/transfers/00000000-0000-4000-8000-000000000012/error";
    let error =
        json!({"errorInformation": {"errorCode": "5000", "errorDescription": "Payer error"}});
    let (headers, body) = t.payer.signed_request(
        Method::Put,
        Resource::Transfers,
        path,
        Some("payeefsp"),
        Some(&error),
    );
    let answer = t
        .payer
        .send_raw(
            Method::Put,
            path,
            &headers,
            body.map(|b| b.replace("5000", "5001")),
        )
        .await
        .expect("send");
    assert_3105(&answer);
    assert!(matches!(
        check_of(&t.sim, "PUT", path),
        SignatureCheck::Invalid(_)
    ));

    // A sender whose key is unknown cannot be checked: accepted.
    let path = "/transfers/00000000-0000-4000-8000-000000000013/error";
    let answer = FspiopClient::new(reqwest::Client::new(), t.sim.base_url(), "otherfsp")
        .send(
            Method::Put,
            Resource::Transfers,
            path,
            Some("payeefsp"),
            Some(&error),
        )
        .await
        .expect("send");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(check_of(&t.sim, "PUT", path), SignatureCheck::Unverifiable);

    assert_eq!(t.sim.signature_failures().len(), 1);
}

#[tokio::test]
async fn simulator_without_hub_key_checks_nothing() {
    let (hub_url, _log) = recording_hub().await;
    let sim = Simulator::start("payeefsp", "USD", vec![], &hub_url, loopback())
        .await
        .expect("simulator");
    assert!(sim.client().signing_key().is_none());
    let path = "/transfers/00000000-0000-4000-8000-000000000020/error";
    let error =
        json!({"errorInformation": {"errorCode": "3303", "errorDescription": "Transfer expired"}});
    let answer = FspiopClient::new(reqwest::Client::new(), sim.base_url(), HUB)
        .send(
            Method::Put,
            Resource::Transfers,
            path,
            Some("payeefsp"),
            Some(&error),
        )
        .await
        .expect("send");
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(check_of(&sim, "PUT", path), SignatureCheck::NotChecked);
    assert!(sim.signature_failures().is_empty());
}
