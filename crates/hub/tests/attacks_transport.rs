//! Transport attacks from the security audit (issue 12), each reproduced against the real hub
//! on loopback with real mutual TLS from the hub's own PKI:
//!
//! - **2. Connection exhaustion.** Connections beyond a participant's cap, or beyond the
//!   listener's global cap, are closed at once (other participants still connect; the admin
//!   and metrics listeners keep answering); a client that sends its headers a byte a second
//!   (slowloris) is cut at the header deadline, a body that never comes at the body deadline,
//!   and an idle keep-alive connection at the idle deadline.
//! - **10. One DFSP calling another directly.** A DFSP's certificate presented to another
//!   DFSP's inbound (callback) server fails the TLS handshake, while the hub's callbacks still
//!   get through.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dfsp::client::mtls_client;
use dfsp::provision::Onboarding;
use dfsp::simulator::{SimOptions, SimParty, SimServerTls, Simulator};
use fspiop::headers::{Method, Resource};
use hub::connections::{ConnectionLimits, Timeouts};
use hub::tls::TlsFiles;
use pki::dir::PkiDir;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

type Identity = (String, String);

/// A hub with mutual TLS from a fresh PKI and the given connection limits; no DFSP is
/// onboarded (connection limits apply to certificate identities, before any FSPIOP rule).
struct LimitHub {
    _dir: tempfile::TempDir,
    pki: PkiDir,
    hub: hub::RunningHub,
}

fn test_limits() -> ConnectionLimits {
    ConnectionLimits {
        timeouts: Timeouts {
            header: Duration::from_secs(1),
            idle: Duration::from_secs(2),
            body: Duration::from_secs(1),
        },
        max_per_participant: 1000,
        max_connections: Some(1000),
        max_handshakes: 64,
    }
}

fn tls_files(pki: &PkiDir) -> TlsFiles {
    TlsFiles {
        server_cert: pki.server_cert_path(),
        server_key: pki.server_key_path(),
        client_ca: pki.ca_cert_path(),
        crl: Some(pki.crl_path()),
        client_cert: Some(pki.client_cert_path()),
        client_key: Some(pki.client_key_path()),
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

async fn limit_hub(limits: ConnectionLimits) -> LimitHub {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = PkiDir::open_or_bootstrap(dir.path().join("pki"), "Hub", &["localhost".into()])
        .expect("pki");
    let mut config = hub::HubConfig::new(dir.path());
    config.fspiop_listen = loopback();
    config.admin_listen = loopback();
    config.metrics_listen = Some(loopback());
    config.tls = Some(tls_files(&pki));
    config.limits = limits;
    let store = store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("store");
    let hub = hub::start(config, Arc::new(store))
        .await
        .expect("hub starts");
    assert!(hub.mtls);
    LimitHub {
        _dir: dir,
        pki,
        hub,
    }
}

impl LimitHub {
    fn identity(&mut self, name: &str) -> Identity {
        let issued = self.pki.issue_client(name, 30).expect("issue");
        (issued.cert_pem, issued.key_pem.expect("key"))
    }

    fn config(&self, identity: &Identity) -> Arc<rustls::ClientConfig> {
        client_config(self.pki.ca().cert_pem(), identity)
    }

    async fn metrics(&self) -> String {
        metrics_text(self.hub.metrics_addr.expect("metrics listener")).await
    }

    /// Waits until the hub counts `n` open connections.
    async fn wait_open(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.hub.open_connections() != n {
            assert!(
                Instant::now() < deadline,
                "expected {n} open connections, the hub has {}",
                self.hub.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn metrics_text(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .expect("metrics listener answers")
        .text()
        .await
        .expect("metrics text")
}

/// The value of one metrics line (0 when absent).
fn metric(text: &str, series: &str) -> u64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

fn client_config(ca_pem: &str, identity: &Identity) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA pem")).expect("CA");
    }
    let chain = CertificateDer::pem_slice_iter(identity.0.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(identity.1.as_bytes()).expect("key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .expect("client auth"),
    )
}

/// A mutual-TLS connection to `addr` (server name `localhost`).
async fn tls_connect(
    addr: SocketAddr,
    config: &Arc<rustls::ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(config.clone());
    let name = ServerName::try_from("localhost").expect("name");
    tokio::time::timeout(Duration::from_secs(5), connector.connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "handshake timed out"))?
}

/// One keep-alive `GET` on an open connection; the status, or an error if the connection is
/// gone.
async fn get(stream: &mut TlsStream<TcpStream>, path: &str) -> std::io::Result<u16> {
    let request = format!("GET {path} HTTP/1.1\r\nhost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    stream.flush().await?;
    read_response(stream).await
}

async fn read_response(stream: &mut TlsStream<TcpStream>) -> std::io::Result<u16> {
    let eof = || std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed");
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))??;
        if n == 0 {
            return Err(eof());
        }
        buffer.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_ascii_lowercase();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(eof)?;
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(eof());
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
    Ok(status)
}

/// Whether the peer closes the connection within `within` (end of stream or an error).
async fn closed_within(stream: &mut TlsStream<TcpStream>, within: Duration) -> bool {
    let mut buf = [0u8; 256];
    match tokio::time::timeout(within, stream.read(&mut buf)).await {
        Ok(Ok(0)) | Ok(Err(_)) => true,
        Ok(Ok(_)) => panic!("unexpected data from the hub"),
        Err(_) => false,
    }
}

/// A new connection as `config` that gets an answer to a request.
async fn served(addr: SocketAddr, config: &Arc<rustls::ClientConfig>) -> bool {
    match tls_connect(addr, config).await {
        Ok(mut stream) => get(&mut stream, "/hub/jwsKey")
            .await
            .is_ok_and(|s| s == 200),
        Err(_) => false,
    }
}

// ---------------------------------------------------------------------------------------
// 2. Connection exhaustion
// ---------------------------------------------------------------------------------------

/// A participant may hold exactly `max_per_participant` connections: all of them are served,
/// the next one is closed right after its handshake (and counted), another participant still
/// connects, and once one of the first closes the participant may connect again.
#[tokio::test]
async fn per_participant_cap_refuses_one_more_while_others_connect() {
    const CAP: usize = 5;
    let mut hub = limit_hub(ConnectionLimits {
        max_per_participant: CAP,
        ..test_limits()
    })
    .await;
    let addr = hub.hub.fspiop_addr;
    let payer = hub.identity("payerfsp");
    let payee = hub.identity("payeefsp");
    let payer_config = hub.config(&payer);
    let payee_config = hub.config(&payee);

    // Exactly CAP connections at once, all served and kept open.
    let mut open = Vec::new();
    for i in 0..CAP {
        let mut stream = tls_connect(addr, &payer_config)
            .await
            .unwrap_or_else(|e| panic!("connection {i} within the cap: {e}"));
        assert_eq!(get(&mut stream, "/hub/jwsKey").await.expect("served"), 200);
        open.push(stream);
    }
    hub.wait_open(CAP).await;

    // CAP + 1, several times, concurrently: all refused.
    let attempts = (0..4).map(|_| served(addr, &payer_config));
    let results = futures_util::future::join_all(attempts).await;
    assert!(
        results.iter().all(|served| !served),
        "a connection beyond the participant's cap was served: {results:?}"
    );
    // Another participant still connects.
    assert!(served(addr, &payee_config).await, "payeefsp locked out");
    // The participant's first connections still work.
    for stream in &mut open {
        assert_eq!(get(stream, "/hub/jwsKey").await.expect("still open"), 200);
    }
    let metrics = hub.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_fspiop_connections_refused_total{reason=\"participant_limit\"}"
        ),
        4,
        "{metrics}"
    );

    // One closes: the participant may connect again, up to the cap.
    drop(open.pop());
    hub.wait_open(CAP - 1).await;
    let mut again = tls_connect(addr, &payer_config).await.expect("reconnect");
    assert_eq!(get(&mut again, "/hub/jwsKey").await.expect("served"), 200);
    assert!(!served(addr, &payer_config).await, "cap enforced again");
}

/// The listener holds at most `max_connections` connections (handshakes included): at the
/// cap, a new connection is closed right after accept, before any TLS work, and counted;
/// when one closes, new connections are served again.
#[tokio::test]
async fn global_cap_closes_new_connections_at_once() {
    const CAP: usize = 12;
    let mut hub = limit_hub(ConnectionLimits {
        max_connections: Some(CAP),
        ..test_limits()
    })
    .await;
    let addr = hub.hub.fspiop_addr;
    let payer = hub.identity("payerfsp");
    let payee = hub.identity("payeefsp");
    let payer_config = hub.config(&payer);
    let payee_config = hub.config(&payee);

    // CAP - 2 served TLS connections and 2 bare TCP connections that never handshake: the
    // latter hold their slots too (until the handshake timeout).
    let mut open = Vec::new();
    for _ in 0..CAP - 2 {
        let mut stream = tls_connect(addr, &payer_config).await.expect("within cap");
        assert_eq!(get(&mut stream, "/hub/jwsKey").await.expect("served"), 200);
        open.push(stream);
    }
    let mut bare = Vec::new();
    for _ in 0..2 {
        bare.push(TcpStream::connect(addr).await.expect("tcp"));
    }
    hub.wait_open(CAP - 2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // At the cap: every participant is turned away, at once.
    for config in [&payer_config, &payee_config, &payer_config] {
        assert!(!served(addr, config).await, "served beyond the global cap");
    }
    let metrics = hub.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_fspiop_connections_refused_total{reason=\"global_limit\"}"
        ),
        3,
        "{metrics}"
    );
    // Nothing in the TLS refusal counters: these never reached TLS.
    assert_eq!(hub.hub.metrics.handshake_refusals_total(), 0);

    // The served connections keep working; one bare connection goes: room for one more.
    for stream in &mut open {
        assert_eq!(get(stream, "/hub/jwsKey").await.expect("still open"), 200);
    }
    drop(bare.pop());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if served(addr, &payee_config).await {
            break;
        }
        assert!(Instant::now() < deadline, "a freed slot was not reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// With the FSPIOP listener at its global cap (and more connections arriving), the admin and
/// metrics listeners still answer.
#[tokio::test]
async fn admin_and_metrics_answer_while_the_fspiop_listener_is_at_its_cap() {
    const CAP: usize = 40;
    let mut hub = limit_hub(ConnectionLimits {
        max_connections: Some(CAP),
        max_per_participant: CAP,
        ..test_limits()
    })
    .await;
    let addr = hub.hub.fspiop_addr;
    let payer = hub.identity("payerfsp");
    let config = hub.config(&payer);
    // Fill the listener with bare TCP connections (what an exhaustion attack costs least),
    // then keep knocking.
    let mut bare = Vec::new();
    for _ in 0..CAP {
        bare.push(TcpStream::connect(addr).await.expect("tcp"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let knocking = tokio::spawn({
        async move {
            let mut refused = 0;
            for _ in 0..50 {
                if let Ok(mut tcp) = TcpStream::connect(addr).await {
                    let mut buf = [0u8; 1];
                    if matches!(
                        tokio::time::timeout(Duration::from_secs(2), tcp.read(&mut buf)).await,
                        Ok(Ok(0)) | Ok(Err(_))
                    ) {
                        refused += 1;
                    }
                }
            }
            refused
        }
    });
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
        .expect("client");
    for _ in 0..5 {
        let admin = http
            .get(format!("http://{}/health", hub.hub.admin_addr))
            .send()
            .await
            .expect("admin listener answers at the FSPIOP cap");
        assert_eq!(admin.status(), 200);
        let metrics_addr = hub.hub.metrics_addr.expect("metrics");
        let health = http
            .get(format!("http://{metrics_addr}/health"))
            .send()
            .await
            .expect("metrics listener answers at the FSPIOP cap");
        assert_eq!(health.status(), 200);
    }
    assert_eq!(knocking.await.expect("knocking"), 50, "all closed at once");
    assert!(!served(addr, &config).await, "FSPIOP at its cap");
    let metrics = hub.metrics().await;
    assert!(
        metric(
            &metrics,
            "ferroloop_fspiop_connections_refused_total{reason=\"global_limit\"}"
        ) >= 51,
        "{metrics}"
    );
    drop(bare);
}

/// Slowloris: a client that sends its request headers a byte a second is closed at the header
/// deadline (1 s here), long before its headers are complete, and the timeout is counted.
#[tokio::test]
async fn slowloris_headers_are_cut_at_the_header_timeout() {
    let mut hub = limit_hub(test_limits()).await;
    let addr = hub.hub.fspiop_addr;
    let payer = hub.identity("payerfsp");
    let config = hub.config(&payer);
    let mut stream = tls_connect(addr, &config).await.expect("connect");
    let request =
        b"GET /hub/jwsKey HTTP/1.1\r\nhost: localhost\r\nx-padding: aaaaaaaaaaaaaaaa\r\n\r\n";
    let started = Instant::now();
    let mut sent = 0;
    let mut cut = false;
    for byte in request.iter() {
        if stream.write_all(&[*byte]).await.is_err() || stream.flush().await.is_err() {
            cut = true;
            break;
        }
        sent += 1;
        if closed_within(&mut stream, Duration::from_secs(1)).await {
            cut = true;
            break;
        }
    }
    assert!(
        cut,
        "the whole request went out a byte a second ({sent} bytes) without being cut"
    );
    assert!(
        sent < request.len() / 2,
        "cut only after {sent} of {} bytes ({:?})",
        request.len(),
        started.elapsed()
    );
    let metrics = hub.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_fspiop_connection_timeouts_total{reason=\"header_timeout\"}"
        ),
        1,
        "{metrics}"
    );
    hub.wait_open(0).await;
    // A normal client is not affected.
    assert!(served(addr, &config).await);
}

/// A request whose body never arrives is cut at the body deadline.
#[tokio::test]
async fn a_body_that_never_comes_is_cut_at_the_body_timeout() {
    let mut hub = limit_hub(test_limits()).await;
    let addr = hub.hub.fspiop_addr;
    let payer = hub.identity("payerfsp");
    let config = hub.config(&payer);
    let mut stream = tls_connect(addr, &config).await.expect("connect");
    stream
        .write_all(
            b"POST /transfers HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/vnd.interoperability.transfers+json;version=1.1\r\ncontent-length: 4096\r\n\r\n{\"transferId\":",
        )
        .await
        .expect("write");
    stream.flush().await.expect("flush");
    // Whatever the gate answers, the connection is closed at the body deadline (1 s).
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(6), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => continue,
            Err(_) => break false,
        }
    };
    assert!(closed, "a body that never came kept the connection open");
    assert!(started.elapsed() < Duration::from_secs(5));
    let metrics = hub.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_fspiop_connection_timeouts_total{reason=\"body_timeout\"}"
        ),
        1,
        "{metrics}"
    );
}

/// An idle keep-alive connection is kept up to the idle timeout (2 s here) between requests,
/// and closed after it; a connection that never sends a request is closed the same way.
#[tokio::test]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let mut hub = limit_hub(test_limits()).await;
    let addr = hub.hub.fspiop_addr;
    let payer = hub.identity("payerfsp");
    let config = hub.config(&payer);
    let mut stream = tls_connect(addr, &config).await.expect("connect");
    assert_eq!(get(&mut stream, "/hub/jwsKey").await.expect("first"), 200);
    // Idle for less than the timeout, twice: the connection is reused.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        assert_eq!(get(&mut stream, "/hub/jwsKey").await.expect("reused"), 200);
    }
    // Idle past it: closed by the hub.
    assert!(
        closed_within(&mut stream, Duration::from_secs(5)).await,
        "an idle keep-alive connection stayed open"
    );
    // Never a request at all: closed too.
    let mut silent = tls_connect(addr, &config).await.expect("connect");
    assert!(closed_within(&mut silent, Duration::from_secs(5)).await);
    hub.wait_open(0).await;
    let metrics = hub.metrics().await;
    assert_eq!(
        metric(
            &metrics,
            "ferroloop_fspiop_connection_timeouts_total{reason=\"idle_timeout\"}"
        ),
        2,
        "{metrics}"
    );
}

/// The default idle timeout outlasts the 65 s Mojaloop clients keep connections idle, and the
/// other defaults are finite.
#[test]
fn default_limits_suit_mojaloop_clients() {
    let limits = ConnectionLimits::default();
    assert!(limits.timeouts.idle > Duration::from_secs(65));
    assert!(limits.timeouts.header <= Duration::from_secs(30));
    assert!(limits.timeouts.body <= Duration::from_secs(60));
    assert!(limits.max_per_participant >= 1);
    assert!(limits.max_handshakes >= 1);
}

// ---------------------------------------------------------------------------------------
// 10. One DFSP calling another directly
// ---------------------------------------------------------------------------------------

struct DfspFixture {
    _dir: tempfile::TempDir,
    pki: PkiDir,
    _hub: hub::RunningHub,
    payer: Simulator,
    payee: Simulator,
    payer_cert: Identity,
    payee_cert: Identity,
}

/// The hub, and payer and payee simulators onboarded over mutual TLS, whose inbound servers
/// trust the hub callback CA and the hub's name only (what the demo does).
async fn dfsps() -> DfspFixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pki = PkiDir::open_or_bootstrap(dir.path().join("pki"), "Hub", &["localhost".into()])
        .expect("pki");
    let mut config = hub::HubConfig::new(dir.path());
    config.fspiop_listen = loopback();
    config.admin_listen = loopback();
    config.metrics_listen = None;
    config.ca_dir = Some(pki.root().to_path_buf());
    config.tls = Some(tls_files(&pki));
    let store = store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("store");
    let hub = hub::start(config, Arc::new(store)).await.expect("hub");
    let hub_url = format!("https://localhost:{}", hub.fspiop_addr.port());
    let ca = pki.ca().cert_pem().to_string();
    let mut identity = |name: &str| {
        let issued = pki.issue_client(name, 30).expect("issue");
        (issued.cert_pem, issued.key_pem.expect("key"))
    };
    let payer_cert = identity("payerfsp");
    let payee_cert = identity("payeefsp");
    let server = pki
        .ca()
        .issue_server(&["localhost".to_string()], &[], 30)
        .expect("DFSP server certificate");
    let server_tls = SimServerTls::new(server.cert_pem, server.key_pem.expect("key"))
        .with_client_ca(pki.callback_ca().expect("callback CA").cert_pem())
        .only_client("Hub");
    let payer_key = Arc::new(jws::SigningKey::generate_es256().expect("key"));
    let payee_key = Arc::new(jws::SigningKey::generate_es256().expect("key"));
    let options = |http, key: &Arc<jws::SigningKey>| {
        let mut options = SimOptions::new(http);
        options.signing_key = Some(key.clone());
        options.hub_key = Some(hub.jws_public_key.clone());
        options.tls = Some(server_tls.clone());
        options
    };
    let payer = Simulator::start_with_options(
        "payerfsp",
        "USD",
        vec![],
        &hub_url,
        loopback(),
        options(
            mtls_client(&ca, &payer_cert.0, &payer_cert.1).expect("client"),
            &payer_key,
        ),
    )
    .await
    .expect("payer");
    let party = SimParty {
        id_type: "MSISDN".into(),
        identifier: "27713803912".into(),
        first_name: "A".into(),
        last_name: "L".into(),
    };
    let payee = Simulator::start_with_options(
        "payeefsp",
        "USD",
        vec![party],
        &hub_url,
        loopback(),
        options(
            mtls_client(&ca, &payee_cert.0, &payee_cert.1).expect("client"),
            &payee_key,
        ),
    )
    .await
    .expect("payee");
    let admin_url = format!("http://{}", hub.admin_addr);
    let http = reqwest::Client::new();
    // Four eyes need two people: the second administrator comes from the host.
    let data_dir = hub
        .initial_admin_password_path
        .parent()
        .expect("data directory");
    let store = store::SqliteStore::open(&data_dir.join("hub.db"))
        .await
        .expect("open the hub's store from the host");
    let second = hub::iam::host_create_operator(
        &store,
        data_dir,
        dfsp::operator::SECOND_ADMIN,
        &["hub-administrator".to_string()],
        time::OffsetDateTime::now_utc().unix_timestamp() * 1000,
    )
    .await
    .expect("the host creates the second administrator");
    let operators = dfsp::operator::provision(
        http.clone(),
        &admin_url,
        &hub.initial_admin_password_path,
        &second.password_file,
    )
    .await
    .expect("operators");
    let admin = operators.admin_client(http, &admin_url);
    for (sim, key) in [(&payer, &payer_key), (&payee, &payee_key)] {
        let onboarding = Onboarding::new(sim.name(), "USD", "1000", "1000", sim.base_url())
            .with_jws_public_key(key.verifying_key().to_pem());
        admin.onboard(&onboarding).await.expect("onboard");
    }
    // The payee registers its party over FSPIOP; the hub's answer is a callback too.
    let path = "/participants/MSISDN/27713803912";
    let answer = payee
        .client()
        .send(
            Method::Post,
            Resource::Participants,
            path,
            None,
            Some(&json!({"fspId": "payeefsp"})),
        )
        .await
        .expect("register the party");
    assert_eq!(answer.status, 202, "{}", answer.body);
    payee
        .wait_path("PUT", path, Duration::from_secs(5))
        .await
        .expect("party registered");
    DfspFixture {
        _dir: dir,
        pki,
        _hub: hub,
        payer,
        payee,
        payer_cert,
        payee_cert,
    }
}

/// What the audit found: payeefsp's certificate on payerfsp's inbound API, `GET
/// /parties/MSISDN/1`, answered 202. Now the handshake fails (before any HTTP), for the
/// other DFSP's certificate, for a certificate from the DFSPs' CA that names the hub, and for
/// a certificate from the callback CA that names a DFSP; the payer records nothing. The hub's
/// own callbacks still get through: a lookup completes end to end.
#[tokio::test]
async fn a_dfsp_certificate_is_refused_by_another_dfsps_inbound_server() {
    let mut fixture = dfsps().await;
    let hub_named_by_dfsp_ca = {
        let issued = fixture.pki.issue_client("Hub", 1).expect("issue");
        (issued.cert_pem, issued.key_pem.expect("key"))
    };
    let callback_ca = fixture.pki.callback_ca().expect("callback CA");
    let dfsp_named_by_callback_ca = {
        let issued = callback_ca.issue_client("payeefsp", 1).expect("issue");
        (issued.cert_pem, issued.key_pem.expect("key"))
    };
    let ca = fixture.pki.ca().cert_pem().to_string();
    let target = fixture.payer.local_addr();
    let before = fixture.payer.received().len();
    for (what, identity) in [
        ("payeefsp's own certificate", &fixture.payee_cert),
        ("payerfsp's own certificate", &fixture.payer_cert),
        (
            "a DFSP CA certificate naming the hub",
            &hub_named_by_dfsp_ca,
        ),
        (
            "a callback CA certificate naming a DFSP",
            &dfsp_named_by_callback_ca,
        ),
    ] {
        // Bare TLS: the handshake (or, in TLS 1.3, the first read after it) fails with the
        // server's alert; no HTTP answer ever comes.
        let config = client_config(&ca, identity);
        if let Ok(mut stream) = tls_connect(target, &config).await {
            let answer = get(&mut stream, "/parties/MSISDN/1").await;
            assert!(answer.is_err(), "{what}: answered {answer:?}");
        }
        // The way the audit did it, through an HTTP client.
        let http = mtls_client(&ca, &identity.0, &identity.1).expect("client");
        let direct = http
            .get(format!("{}/parties/MSISDN/1", fixture.payer.base_url()))
            .header("fspiop-source", "payeefsp")
            .header("fspiop-destination", "payerfsp")
            .send()
            .await;
        assert!(direct.is_err(), "{what}: {:?}", direct.map(|r| r.status()));
    }
    assert_eq!(
        fixture.payer.received().len(),
        before,
        "the payer received a request that did not come from the hub"
    );

    // The hub's callbacks still get through both inbound servers.
    let answer = fixture
        .payer
        .client()
        .send(
            Method::Get,
            Resource::Parties,
            "/parties/MSISDN/27713803912",
            None,
            None,
        )
        .await
        .expect("lookup sent");
    assert_eq!(answer.status, 202, "{}", answer.body);
    let forwarded = fixture
        .payee
        .wait_path("GET", "/parties/MSISDN/27713803912", Duration::from_secs(5))
        .await
        .expect("the hub's request reached the payee");
    assert_eq!(forwarded.peer.as_deref(), Some("Hub"));
    let answered = fixture
        .payer
        .wait_path("PUT", "/parties/MSISDN/27713803912", Duration::from_secs(5))
        .await
        .expect("the hub's callback reached the payer");
    assert_eq!(answered.peer.as_deref(), Some("Hub"));
}
