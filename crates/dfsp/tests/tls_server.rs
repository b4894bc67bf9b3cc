//! The simulator's callback server over TLS: HTTPS with a certificate for `localhost`, mutual
//! TLS when a client CA is set (only a client certificate from that CA gets in, and the
//! identity it names is recorded), plain HTTP unchanged. Everything runs on loopback with
//! throwaway CAs.

use std::net::SocketAddr;
use std::time::Duration;

use dfsp::simulator::{SimOptions, SimServerTls, Simulator};
use pki::CertificateAuthority;
use serde_json::json;

const WAIT: Duration = Duration::from_secs(5);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().expect("loopback address")
}

/// A CA with a server certificate for `localhost` and a client certificate for `Hub`.
struct Pki {
    ca: CertificateAuthority,
    server_cert: String,
    server_key: String,
    client_cert: String,
    client_key: String,
}

fn pki(name: &str) -> Pki {
    let ca = CertificateAuthority::create(name, 2).expect("CA");
    let server = ca
        .issue_server(&["localhost".to_string()], &[], 1)
        .expect("server certificate");
    let client = ca.issue_client("Hub", 1).expect("client certificate");
    Pki {
        server_cert: server.cert_pem,
        server_key: server.key_pem.expect("server key"),
        client_cert: client.cert_pem,
        client_key: client.key_pem.expect("client key"),
        ca,
    }
}

/// A simulator whose own requests go nowhere (these tests only call it).
async fn simulator(tls: Option<SimServerTls>) -> Simulator {
    let mut options = SimOptions::new(reqwest::Client::new());
    options.tls = tls;
    Simulator::start_with_options(
        "tlsfsp",
        "USD",
        vec![],
        "http://127.0.0.1:9",
        loopback(),
        options,
    )
    .await
    .expect("simulator")
}

/// `PUT /transfers/{id}` (a callback the simulator only records) through `http`.
async fn put_transfer(
    http: &reqwest::Client,
    sim: &Simulator,
    id: &str,
) -> Result<u16, reqwest::Error> {
    let response = http
        .put(format!("{}/transfers/{id}", sim.base_url()))
        .header(
            "content-type",
            "application/vnd.interoperability.transfers+json;version=1.1",
        )
        .header("fspiop-source", "Hub")
        .body(json!({"transferState": "COMMITTED"}).to_string())
        .send()
        .await?;
    Ok(response.status().as_u16())
}

/// The error and its sources, as one string (to see which TLS alert ended the handshake).
fn chain(error: &reqwest::Error) -> String {
    let mut text = format!("{error:?}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!(" <- {cause:?}"));
        source = cause.source();
    }
    text
}

fn client_trusting(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("CA")])
        .build()
        .expect("client")
}

fn mutual(pki: &Pki) -> SimServerTls {
    SimServerTls::new(&pki.server_cert, &pki.server_key).with_client_ca(pki.ca.cert_pem())
}

#[tokio::test]
async fn mutual_tls_accepts_the_hub_certificate_and_records_its_identity() {
    let pki = pki("Test Hub CA");
    let sim = simulator(Some(mutual(&pki))).await;
    assert!(sim.is_tls());
    assert_eq!(
        sim.base_url(),
        format!("https://localhost:{}", sim.local_addr().port())
    );
    let http = dfsp::client::mtls_client(pki.ca.cert_pem(), &pki.client_cert, &pki.client_key)
        .expect("mTLS client");
    // Twice over the same pooled connection: the identity is per connection, not per request.
    for id in ["t-1", "t-2"] {
        let status = put_transfer(&http, &sim, id).await.expect("PUT over mTLS");
        assert_eq!(status, 200);
        let received = sim
            .wait_path("PUT", &format!("/transfers/{id}"), WAIT)
            .await
            .expect("recorded");
        assert_eq!(received.peer.as_deref(), Some("Hub"));
        assert_eq!(received.header("fspiop-source"), Some("Hub"));
    }
}

#[tokio::test]
async fn mutual_tls_refuses_a_client_without_a_certificate() {
    let pki = pki("Test Hub CA");
    let sim = simulator(Some(mutual(&pki))).await;
    let anonymous = client_trusting(pki.ca.cert_pem());
    let error = put_transfer(&anonymous, &sim, "t-anon")
        .await
        .expect_err("no client certificate");
    assert!(chain(&error).contains("CertificateRequired"), "{error:?}");
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn mutual_tls_refuses_a_certificate_from_another_ca() {
    let pki = pki("Test Hub CA");
    let other = self::pki("Other CA");
    let sim = simulator(Some(mutual(&pki))).await;
    // Trusts the server, but its own certificate comes from a CA the simulator does not trust.
    let impostor =
        dfsp::client::mtls_client(pki.ca.cert_pem(), &other.client_cert, &other.client_key)
            .expect("client");
    let error = put_transfer(&impostor, &sim, "t-impostor")
        .await
        .expect_err("foreign client certificate");
    assert!(
        chain(&error).contains("AlertReceived(UnknownCA)"),
        "{error:?}"
    );
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn a_client_trusting_another_ca_refuses_the_server() {
    let pki = pki("Test Hub CA");
    let other = self::pki("Other CA");
    let sim = simulator(Some(mutual(&pki))).await;
    let wrong_trust =
        dfsp::client::mtls_client(other.ca.cert_pem(), &other.client_cert, &other.client_key)
            .expect("client");
    let error = put_transfer(&wrong_trust, &sim, "t-wrong")
        .await
        .expect_err("server certificate from an untrusted CA");
    assert!(error.is_connect(), "{error:?}");
    assert!(chain(&error).contains("UnknownIssuer"), "{error:?}");
    assert!(sim.received().is_empty());
}

#[tokio::test]
async fn tls_without_client_ca_asks_for_no_certificate() {
    let pki = pki("Test Hub CA");
    let sim = simulator(Some(SimServerTls::new(&pki.server_cert, &pki.server_key))).await;
    let anonymous = client_trusting(pki.ca.cert_pem());
    assert_eq!(
        put_transfer(&anonymous, &sim, "t-1").await.expect("PUT"),
        200
    );
    let received = sim
        .wait_path("PUT", "/transfers/t-1", WAIT)
        .await
        .expect("recorded");
    assert_eq!(received.peer, None);
}

#[tokio::test]
async fn plain_http_still_works() {
    let sim = simulator(None).await;
    assert!(!sim.is_tls());
    assert_eq!(sim.base_url(), format!("http://{}", sim.local_addr()));
    let http = reqwest::Client::new();
    assert_eq!(put_transfer(&http, &sim, "t-1").await.expect("PUT"), 200);
    let received = sim
        .wait_path("PUT", "/transfers/t-1", WAIT)
        .await
        .expect("recorded");
    assert_eq!(received.peer, None);
}

#[tokio::test]
async fn bad_tls_material_is_refused_at_start() {
    let pki = pki("Test Hub CA");
    let other = self::pki("Other CA");
    let cases = [
        ("no certificate", SimServerTls::new("", &pki.server_key)),
        ("no key", SimServerTls::new(&pki.server_cert, "")),
        (
            "key of another certificate",
            SimServerTls::new(&pki.server_cert, &other.server_key),
        ),
        (
            "empty client CA",
            SimServerTls::new(&pki.server_cert, &pki.server_key).with_client_ca(""),
        ),
    ];
    for (case, tls) in cases {
        let mut options = SimOptions::new(reqwest::Client::new());
        options.tls = Some(tls);
        let started = Simulator::start_with_options(
            "tlsfsp",
            "USD",
            vec![],
            "http://127.0.0.1:9",
            loopback(),
            options,
        )
        .await;
        let error = started.err().unwrap_or_else(|| panic!("{case}: started"));
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput, "{case}");
    }
}

#[test]
fn debug_redacts_the_key() {
    let tls = SimServerTls::new("CERT", "SECRET KEY").with_client_ca("CA");
    let shown = format!("{tls:?}");
    assert!(!shown.contains("SECRET"), "{shown}");
}
