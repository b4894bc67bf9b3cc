//! Shared set-up for the hub's integration tests: a hub on a fresh SQLite file, a payer and a
//! payee simulator onboarded through the admin API, and helpers to craft FSPIOP requests (good
//! and bad), wait for callbacks and read positions. Everything talks real HTTP on loopback.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfsp::client::Answer;
use dfsp::operator::Provisioned;
use dfsp::provision::{AdminClient, Onboarding};
use dfsp::simulator::{Received, SignatureCheck, SimOptions, SimParty, Simulator};
use fspiop::FspiopDateTime;
use fspiop::headers::{Method, Resource};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Currency of every participant.
pub const CURRENCY: &str = "USD";
/// The payer DFSP.
pub const PAYER: &str = "payerfsp";
/// The payee DFSP.
pub const PAYEE: &str = "payeefsp";
/// The hub's own name.
pub const HUB: &str = "Hub";
/// The party the payee owns.
pub const PAYEE_MSISDN: &str = "27713803912";
/// Net debit cap of both DFSPs.
pub const CAP: &str = "1000";
/// Liquidity cover of the payer (below the cap, so liquidity and cap can fail separately).
pub const PAYER_FUNDS: &str = "500";
/// Liquidity cover of the payee.
pub const PAYEE_FUNDS: &str = "500";
/// How long to wait for a callback that must arrive.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long to watch for a message that must not arrive (after the expected ones came).
pub const QUIET: Duration = Duration::from_millis(300);

/// `(value, reservedValue)` of a position.
pub type Position = (String, String);

/// A hub with two onboarded DFSP simulators.
pub struct TestHub {
    /// The running hub.
    pub hub: hub::RunningHub,
    /// Admin API client: `integration`'s API token, `admin` approving what waits for a checker.
    pub admin: AdminClient,
    /// The operators set up at start (`admin`, `integration`) and `integration`'s API token.
    pub operators: Provisioned,
    /// `integration`'s API token (for raw admin calls).
    pub token: String,
    /// `http://` base of the admin listener.
    pub admin_url: String,
    /// `http://` base of the FSPIOP listener.
    pub fspiop_url: String,
    /// The payer DFSP.
    pub payer: Simulator,
    /// The payee DFSP (owns [`PAYEE_MSISDN`]).
    pub payee: Simulator,
    /// The payer's JWS signing key (registered at onboarding).
    pub payer_key: Arc<jws::SigningKey>,
    /// The payee's JWS signing key (registered at onboarding).
    pub payee_key: Arc<jws::SigningKey>,
    /// The hub's data directory (its SQLite file is `hub.db` there).
    pub data_dir: std::path::PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl TestHub {
    /// Starts the hub (four eyes: one approval per sensitive operation, given by `admin`
    /// through [`TestHub::admin`]) and both simulators, onboards them and registers the
    /// payee's party.
    pub async fn start() -> TestHub {
        Self::start_with(|_| {}).await
    }

    /// [`TestHub::start`] with the sandbox IAM profile (no approvals): for tests that make raw
    /// sensitive admin calls and check their direct answers.
    pub async fn sandbox() -> TestHub {
        Self::start_with(|config| config.iam = hub::iam::IamConfig::sandbox()).await
    }

    /// [`TestHub::start`] with the hub's configuration adjusted by `configure`.
    pub async fn start_with(configure: impl FnOnce(&mut hub::HubConfig)) -> TestHub {
        let dir = tempfile::tempdir().expect("temporary directory");
        let store = store::SqliteStore::open(&dir.path().join("hub.db"))
            .await
            .expect("open the SQLite store");
        let mut config = hub::HubConfig::new(dir.path());
        config.fspiop_listen = loopback();
        config.admin_listen = loopback();
        config.callbacks.backoff = Duration::from_millis(20);
        config.metrics_listen = Some(loopback());
        configure(&mut config);
        let running = hub::start(config, Arc::new(store))
            .await
            .expect("hub starts");
        let fspiop_url = format!("http://{}", running.fspiop_addr);
        let admin_url = format!("http://{}", running.admin_addr);
        let payer_key = Arc::new(jws::SigningKey::generate_es256().expect("payer JWS key"));
        let payee_key = Arc::new(jws::SigningKey::generate_es256().expect("payee JWS key"));
        let options = |key: &Arc<jws::SigningKey>, peer: &str, peer_key: &Arc<jws::SigningKey>| {
            let mut options = SimOptions::new(reqwest::Client::new());
            options.signing_key = Some(key.clone());
            options.hub_key = Some(running.jws_public_key.clone());
            options
                .peer_keys
                .insert(peer.to_string(), peer_key.verifying_key().clone());
            options
        };
        let payer = Simulator::start_with_options(
            PAYER,
            CURRENCY,
            vec![],
            &fspiop_url,
            loopback(),
            options(&payer_key, PAYEE, &payee_key),
        )
        .await
        .expect("payer simulator");
        let party = SimParty {
            id_type: "MSISDN".into(),
            identifier: PAYEE_MSISDN.into(),
            first_name: "Ada".into(),
            last_name: "Lovelace".into(),
        };
        let payee = Simulator::start_with_options(
            PAYEE,
            CURRENCY,
            vec![party],
            &fspiop_url,
            loopback(),
            options(&payee_key, PAYER, &payer_key),
        )
        .await
        .expect("payee simulator");
        let http = reqwest::Client::new();
        let second_admin = host_second_admin(dir.path()).await;
        let operators = dfsp::operator::provision(
            http.clone(),
            &admin_url,
            &running.initial_admin_password_path,
            &second_admin,
        )
        .await
        .expect("operators provisioned");
        let admin = operators.admin_client(http.clone(), &admin_url);
        let token = operators.token.clone();
        for (sim, funds, key) in [
            (&payer, PAYER_FUNDS, &payer_key),
            (&payee, PAYEE_FUNDS, &payee_key),
        ] {
            let onboarding = Onboarding::new(sim.name(), CURRENCY, CAP, funds, sim.base_url())
                .with_jws_public_key(key.verifying_key().to_pem());
            admin.onboard(&onboarding).await.expect("onboarding");
        }
        let path = format!("/participants/MSISDN/{PAYEE_MSISDN}");
        let body = json!({"fspId": PAYEE, "currency": CURRENCY});
        let answer = payee
            .client()
            .send(
                Method::Post,
                Resource::Participants,
                &path,
                None,
                Some(&body),
            )
            .await
            .expect("party registration sent");
        assert_eq!(
            answer.status, 202,
            "party registration refused: {}",
            answer.body
        );
        let registered = payee
            .wait_path("PUT", &path, WAIT)
            .await
            .expect("party registration answered");
        assert_eq!(registered.body["fspId"], PAYEE);
        TestHub {
            hub: running,
            admin,
            operators,
            token,
            admin_url,
            fspiop_url,
            payer,
            payee,
            payer_key,
            payee_key,
            data_dir: dir.path().to_path_buf(),
            http,
            _dir: dir,
        }
    }

    /// `(value, reservedValue)` of a participant's USD position.
    pub async fn position(&self, name: &str) -> Position {
        self.admin
            .position(name, CURRENCY)
            .await
            .expect("position readable")
    }

    /// Positions of payer and payee, for "nothing changed" checks.
    pub async fn positions(&self) -> [Position; 2] {
        [self.position(PAYER).await, self.position(PAYEE).await]
    }

    /// Asserts that the positions equal `before`.
    pub async fn assert_positions_unchanged(&self, before: &[Position; 2], what: &str) {
        let now = self.positions().await;
        assert_eq!(&now, before, "positions changed after {what}");
    }

    /// The simulator of a participant.
    pub fn sim(&self, name: &str) -> &Simulator {
        if name == PAYER {
            &self.payer
        } else {
            &self.payee
        }
    }

    /// An admin call with an explicit token (or none): status and JSON body.
    pub async fn admin_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.admin_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin API reachable");
        let status = response.status().as_u16();
        let text = response.text().await.expect("admin body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Sets a participant's `isActive` through the admin API.
    pub async fn set_active(&self, name: &str, active: bool) {
        self.admin
            .call(
                reqwest::Method::PUT,
                &format!("/participants/{name}"),
                Some(json!({"isActive": active})),
            )
            .await
            .expect("participant update accepted");
    }

    /// Agrees a quote for `amount` between payer and payee through the hub (the hub only
    /// accepts prepares that repeat a quote it forwarded), then returns a prepare body with
    /// those terms and the fulfilment the payee will reveal.
    pub async fn prepare(&self, amount: &str, expiration: &str) -> (Value, String) {
        let quote_id = uuid::Uuid::new_v4().to_string();
        let request = json!({
            "quoteId": quote_id,
            "transactionId": uuid::Uuid::new_v4().to_string(),
            "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
            "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": PAYEE_MSISDN, "fspId": PAYEE}},
            "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": PAYER}},
            "amountType": "SEND",
            "amount": {"amount": amount, "currency": CURRENCY},
        });
        let answer = self
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
        assert_eq!(answer.status, 202, "quote refused: {}", answer.body);
        let quoted = self
            .callback(&self.payer, &format!("/quotes/{quote_id}"))
            .await;
        assert_eq!(quoted.error_code(), None, "quote failed: {}", quoted.body);
        let agreed_expiry = quoted.body["expiration"]
            .as_str()
            .expect("quote expiration");
        let terms = self
            .payee
            .terms_for(&request, agreed_expiry)
            .expect("ILP terms");
        assert_eq!(
            quoted.body["ilpPacket"],
            terms.ilp_packet.as_str(),
            "simulator terms differ"
        );
        let body = json!({
            "transferId": uuid::Uuid::new_v4().to_string(),
            "payerFsp": PAYER,
            "payeeFsp": PAYEE,
            "amount": quoted.body["transferAmount"].clone(),
            "ilpPacket": quoted.body["ilpPacket"].clone(),
            "condition": quoted.body["condition"].clone(),
            "expiration": expiration,
        });
        (body, terms.fulfilment)
    }

    /// Fails if the payer received any transfer callback.
    pub async fn assert_no_transfer_callback_to_payer(&self) {
        self.assert_none(&self.payer, "a transfer callback", |r| {
            r.path.starts_with("/transfers")
        })
        .await;
    }

    /// Sends a prepare from the payer (standard headers, canonical body).
    pub async fn send_prepare(&self, body: &Value) -> Answer {
        self.payer
            .client()
            .send(
                Method::Post,
                Resource::Transfers,
                "/transfers",
                Some(PAYEE),
                Some(body),
            )
            .await
            .expect("hub reachable")
    }

    /// Standard headers of `from` for a request to the hub.
    pub fn headers(
        &self,
        from: &Simulator,
        method: Method,
        resource: Resource,
        path: &str,
        destination: Option<&str>,
    ) -> Vec<(String, String)> {
        from.client().headers(method, resource, path, destination)
    }

    /// Sends these headers and body bytes as `from`, signed by `from` over exactly those
    /// bytes and headers (unless the headers already carry `fspiop-signature`), so that the
    /// request gets past the signature check to whatever the test is about.
    pub async fn send_raw(
        &self,
        from: &Simulator,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> Answer {
        let mut headers = headers.to_vec();
        sign_crafted(
            from,
            method,
            path,
            &mut headers,
            body.as_deref().unwrap_or_default().as_bytes(),
        );
        self.send_unsigned(from, method, path, &headers, body).await
    }

    /// Sends exactly these headers and body bytes as `from`, adding nothing.
    pub async fn send_unsigned(
        &self,
        from: &Simulator,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> Answer {
        from.client()
            .send_raw(method, path, headers, body)
            .await
            .expect("hub reachable")
    }

    /// Sends a request over a bare TCP connection (no header added by an HTTP client, e.g. no
    /// default `Accept`), signed as the simulator its `fspiop-source` names would sign it.
    pub async fn send_bare(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> BareAnswer {
        let mut headers = headers.to_vec();
        let source = headers
            .iter()
            .find(|(k, _)| k == "fspiop-source")
            .map(|(_, v)| v.clone());
        let parsed = hub::api::parse_method(method).ok();
        if let (Some(source), Some(parsed)) = (source, parsed)
            && (source == PAYER || source == PAYEE)
        {
            sign_crafted(self.sim(&source), parsed, path, &mut headers, body);
        }
        raw_http(self.hub.fspiop_addr, method, path, headers.as_slice(), body).await
    }

    /// Waits for a callback to `path` or `path/error` (a PUT) at `sim`.
    pub async fn callback(&self, sim: &Simulator, path: &str) -> Received {
        let error = format!("{path}/error");
        sim.wait_for(WAIT, |r| {
            r.method == "PUT" && (r.path == path || r.path == error)
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "{} got no callback for {path}; received {:?}",
                sim.name(),
                summary(sim)
            )
        })
    }

    /// Waits for a message with this method and path.
    pub async fn wait_path(&self, sim: &Simulator, method: &str, path: &str) -> Received {
        sim.wait_path(method, path, WAIT).await.unwrap_or_else(|| {
            panic!(
                "{} got no {method} {path}; received {:?}",
                sim.name(),
                summary(sim)
            )
        })
    }

    /// Waits for an error callback (`PUT {path}/error`) and checks its code and that the hub
    /// originated it.
    pub async fn hub_error(&self, sim: &Simulator, path: &str, code: &str) -> Received {
        let received = self.wait_path(sim, "PUT", &format!("{path}/error")).await;
        assert_eq!(
            received.error_code(),
            Some(code),
            "{} got {}",
            sim.name(),
            received.body
        );
        assert_eq!(
            received.header("fspiop-source"),
            Some(HUB),
            "error to {} not from the hub",
            sim.name()
        );
        assert_eq!(received.header("fspiop-destination"), Some(sim.name()));
        assert_eq!(
            received.header("fspiop-uri"),
            Some(format!("{path}/error").as_str())
        );
        assert_eq!(received.header("fspiop-http-method"), Some("PUT"));
        assert_hub_signed(&received);
        received
    }

    /// Waits until `sim` holds at least `n` messages matching `predicate`; returns them.
    pub async fn wait_count(
        &self,
        sim: &Simulator,
        n: usize,
        predicate: impl Fn(&Received) -> bool,
    ) -> Vec<Received> {
        let deadline = Instant::now() + WAIT;
        loop {
            let found: Vec<Received> = sim
                .received()
                .into_iter()
                .filter(|r| predicate(r))
                .collect();
            if found.len() >= n {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "{} has {} of {n} expected messages",
                sim.name(),
                found.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Watches `sim` for [`QUIET`] and fails if a message matching `predicate` arrives (or
    /// already arrived).
    pub async fn assert_none(
        &self,
        sim: &Simulator,
        what: &str,
        predicate: impl Fn(&Received) -> bool,
    ) {
        let found = sim.wait_for(QUIET, predicate).await;
        assert!(
            found.is_none(),
            "{} unexpectedly received {what}: {:?}",
            sim.name(),
            found.map(|r| (r.method, r.path))
        );
    }

    /// Fails if the payee received any prepare.
    pub async fn assert_no_prepare_forwarded(&self) {
        self.assert_none(&self.payee, "a prepare", |r| {
            r.method == "POST" && r.path == "/transfers"
        })
        .await;
    }
}

/// Asserts that the hub signed a message it originated, verified by the receiving simulator
/// with the hub's published key.
pub fn assert_hub_signed(received: &Received) {
    assert_eq!(
        received.signature,
        SignatureCheck::Verified {
            signer: HUB.to_string()
        },
        "{} {} from the hub is not signed by the hub's key",
        received.method,
        received.path
    );
}

/// Signs crafted headers and body as `sim` would, over exactly these bytes, unless the headers
/// already hold a signature, there is no body, or a header the signature binds is missing or
/// unsignable (those requests are refused before the signature check anyway).
pub fn sign_crafted(
    sim: &Simulator,
    method: Method,
    path: &str,
    headers: &mut Vec<(String, String)>,
    body: &[u8],
) {
    let Some(key) = sim.client().signing_key() else {
        return;
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if body.is_empty() || header("fspiop-signature").is_some() {
        return;
    }
    let Some(source) = header("fspiop-source") else {
        return;
    };
    let destination = header("fspiop-destination");
    let date = header("date");
    let uri = hub::api::fspiop_uri_of(path.split('?').next().unwrap_or(path)).to_string();
    let parts = jws::RequestParts {
        method: method.as_str(),
        uri: &uri,
        source: &source,
        destination: destination.as_deref(),
        date: date.as_deref(),
    };
    if let Ok(signature) = jws::sign(key, &parts, body) {
        headers.push(("fspiop-signature".to_string(), signature));
    }
}

/// 127.0.0.1 on a free port.
pub fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// An FSPIOP DateTime `ms` milliseconds from now (negative for the past).
pub fn in_millis(ms: i64) -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    let at = i64::try_from(now).expect("time fits") + ms;
    FspiopDateTime::from_unix_millis(at)
        .expect("valid instant")
        .to_string()
}

/// Sets (or adds) a header by lower-case name.
pub fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: &str) {
    headers.retain(|(k, _)| k != name);
    headers.push((name.to_string(), value.to_string()));
}

/// Removes a header by lower-case name.
pub fn remove_header(headers: &mut Vec<(String, String)>, name: &str) {
    headers.retain(|(k, _)| k != name);
}

/// The `errorInformation.errorCode` of a synchronous answer.
pub fn sync_code(answer: &Answer) -> String {
    answer
        .error_code()
        .unwrap_or_else(|| panic!("no errorCode in HTTP {} {:?}", answer.status, answer.body))
}

/// Asserts a synchronous refusal: HTTP status and error code.
pub fn assert_refused(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(
        (answer.status, sync_code(answer).as_str()),
        (status, code),
        "{what}: {}",
        answer.body
    );
}

/// Asserts an empty 202 (or 200) acceptance.
pub fn assert_accepted(answer: &Answer, status: u16, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert!(
        answer.body.is_empty(),
        "{what}: acceptance must have an empty body, got {}",
        answer.body
    );
}

/// Method and path of everything a simulator received (for failure messages).
pub fn summary(sim: &Simulator) -> Vec<String> {
    sim.received()
        .iter()
        .map(|r| format!("{} {} {}", r.method, r.path, r.error_code().unwrap_or("")))
        .collect()
}

/// The answer to a bare HTTP exchange.
#[derive(Debug)]
pub struct BareAnswer {
    /// HTTP status.
    pub status: u16,
    /// Response headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// JSON body (`Null` when empty or not JSON).
    pub body: Value,
}

impl BareAnswer {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `errorInformation.errorCode`, if any.
    pub fn error_code(&self) -> Option<&str> {
        self.body
            .pointer("/errorInformation/errorCode")
            .and_then(Value::as_str)
    }
}

/// A minimal HTTP/1.1 exchange over a new TCP connection (`connection: close`).
pub async fn raw_http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> BareAnswer {
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("write head");
    stream.write_all(body).await.expect("write body");
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .await
        .expect("read answer");
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, payload) = text.split_once("\r\n\r\n").unwrap_or((text.as_str(), ""));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    BareAnswer {
        status,
        headers,
        body: serde_json::from_str(payload).unwrap_or(Value::Null),
    }
}

/// Makes the second administrator (`admin2`) from the host, as `ferroloop operator create`
/// does, through a store of its own on the hub's database (the hub keeps running): four eyes
/// need two people, and the admin API accepts no operation that needs a checker before.
/// Returns the file holding its one-time password.
pub async fn host_second_admin(data_dir: &std::path::Path) -> std::path::PathBuf {
    let store = store::SqliteStore::open(&data_dir.join("hub.db"))
        .await
        .expect("open the hub's store from the host");
    let now_ms = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    hub::iam::host_create_operator(
        &store,
        data_dir,
        dfsp::operator::SECOND_ADMIN,
        &["hub-administrator".to_string()],
        now_ms,
    )
    .await
    .expect("the host creates the second administrator")
    .password_file
}
