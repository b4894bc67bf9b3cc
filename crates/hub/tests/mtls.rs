//! Mutual TLS on the FSPIOP listener, tested with real certificates from the hub's own PKI:
//! a DFSP with a certificate issued to it completes a transfer; no certificate, a certificate
//! from another CA, a revoked certificate (revoked while the hub runs), a certificate of A
//! speaking as B, a DFSP speaking as the hub, TLS 1.1 and weak suites are all refused, and
//! nothing changes. A non-Rust client (curl) completes a request with a valid certificate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use dfsp::client::{FspiopClient, mtls_client};
use dfsp::provision::{AdminClient, Onboarding};
use dfsp::simulator::{SimOptions, SimParty, SimServerTls, Simulator};
use fspiop::headers::{Method, Resource};
use hub::tls::TlsFiles;
use pki::dir::PkiDir;
use rustls_pki_types::pem::PemObject;
use serde_json::json;

struct Fixture {
    _dir: tempfile::TempDir,
    pki: PkiDir,
    hub: hub::RunningHub,
    hub_url: String,
    admin: AdminClient,
    payer: Simulator,
    payee: Simulator,
    payer_cert: (String, String),
    /// `integration`'s API token (a maker without an approver).
    token: String,
}

async fn start() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut pki =
        PkiDir::open_or_bootstrap(dir.path().join("pki"), "Hub", &["localhost".to_string()])
            .expect("pki");
    let mut config = hub::HubConfig::new(dir.path());
    config.fspiop_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.metrics_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    config.ca_dir = Some(pki.root().to_path_buf());
    config.tls = Some(TlsFiles {
        server_cert: pki.server_cert_path(),
        server_key: pki.server_key_path(),
        client_ca: pki.ca_cert_path(),
        crl: Some(pki.crl_path()),
        client_cert: Some(pki.client_cert_path()),
        client_key: Some(pki.client_key_path()),
    });
    let store = store::SqliteStore::open(&dir.path().join("hub.db"))
        .await
        .expect("store");
    let hub = hub::start(config, Arc::new(store)).await.expect("hub");
    assert!(hub.mtls);
    let hub_url = format!("https://127.0.0.1:{}", hub.fspiop_addr.port());
    let ca = pki.ca().cert_pem().to_string();
    let mut identity = |name: &str| {
        let issued = pki.issue_client(name, 30).expect("issue");
        (issued.cert_pem, issued.key_pem.expect("key"))
    };
    let payer_cert = identity("payerfsp");
    let payee_cert = identity("payeefsp");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let payer_http = mtls_client(&ca, &payer_cert.0, &payer_cert.1).expect("client");
    let payee_http = mtls_client(&ca, &payee_cert.0, &payee_cert.1).expect("client");
    let payer_key = Arc::new(jws::SigningKey::generate_es256().expect("payer JWS key"));
    let payee_key = Arc::new(jws::SigningKey::generate_es256().expect("payee JWS key"));
    // Callback servers over mutual TLS: a server certificate from the hub's CA, and only
    // the hub's client certificate is let in (the hub callback CA, the hub's name).
    let server = pki
        .ca()
        .issue_server(&["localhost".to_string()], &[], 30)
        .expect("DFSP server certificate");
    let server_tls = SimServerTls::new(
        server.cert_pem.clone(),
        server.key_pem.clone().expect("server key"),
    )
    .with_client_ca(pki.callback_ca().expect("callback CA").cert_pem())
    .only_client("Hub");
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
        any,
        options(payer_http, &payer_key),
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
        any,
        options(payee_http, &payee_key),
    )
    .await
    .expect("payee");
    let admin_url = format!("http://{}", hub.admin_addr);
    let http = reqwest::Client::new();
    let operators = dfsp::operator::provision(
        http.clone(),
        &admin_url,
        &hub.initial_admin_password_path,
        &host_second_admin(dir.path()).await,
    )
    .await
    .expect("operators provisioned");
    // Four eyes stay on: `admin` approves what `integration`'s token asks for.
    let admin = operators.admin_client(http, &admin_url);
    for (sim, key) in [(&payer, &payer_key), (&payee, &payee_key)] {
        let onboarding = Onboarding::new(sim.name(), "USD", "1000", "1000", sim.base_url())
            .with_jws_public_key(key.verifying_key().to_pem());
        admin.onboard(&onboarding).await.expect("onboard");
    }
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
        .expect("register party over mTLS");
    assert_eq!(answer.status, 202, "{}", answer.body);
    payee
        .wait_path("PUT", path, Duration::from_secs(5))
        .await
        .expect("party registered");
    Fixture {
        _dir: dir,
        pki,
        hub,
        hub_url,
        admin,
        payer,
        payee,
        payer_cert,
        token: operators.token.clone(),
    }
}

impl Fixture {
    fn ca_pem(&self) -> String {
        self.pki.ca().cert_pem().to_string()
    }

    /// The metrics listener's Prometheus text.
    async fn metrics(&self) -> String {
        let addr = self.hub.metrics_addr.expect("metrics listener");
        reqwest::get(format!("http://{addr}/metrics"))
            .await
            .expect("metrics reachable")
            .text()
            .await
            .expect("metrics text")
    }

    /// Reasons of the `tls.refused` audit entries.
    async fn tls_refusals(&self) -> Vec<String> {
        let audit = self
            .admin
            .call(reqwest::Method::GET, "/audit?limit=200", None)
            .await
            .expect("audit");
        audit
            .as_array()
            .expect("list")
            .iter()
            .filter(|e| e["action"] == "tls.refused" && e["outcome"] == "denied")
            .filter_map(|e| {
                let detail: serde_json::Value =
                    serde_json::from_str(e["detail"].as_str().unwrap_or("{}")).ok()?;
                detail["reason"].as_str().map(str::to_string)
            })
            .collect()
    }

    /// A client certificate for `participant` signed by the hub's CA that expired yesterday.
    fn expired_identity(&self, participant: &str) -> (String, String) {
        let ca_key = rcgen::KeyPair::from_pem(&self.pki.ca().key_pem()).expect("CA key");
        let issuer =
            rcgen::Issuer::from_ca_cert_pem(self.pki.ca().cert_pem(), ca_key).expect("issuer");
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, participant);
        params.subject_alt_names = vec![rcgen::SanType::URI(
            format!("urn:ferroloop:participant:{participant}")
                .try_into()
                .expect("uri"),
        )];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::days(2);
        params.not_after = now - time::Duration::days(1);
        let cert = params.signed_by(&key, &issuer).expect("signed");
        (cert.pem(), key.serialize_pem())
    }

    /// Waits until `predicate` holds on the open-connection count.
    async fn wait_connections(&self, predicate: impl Fn(usize) -> bool, what: &str) {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !predicate(self.hub.open_connections()) {
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: {} connections open",
                self.hub.open_connections()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A lookup request sent with `http` as `source`.
    async fn lookup(
        &self,
        http: reqwest::Client,
        source: &str,
    ) -> Result<dfsp::client::Answer, reqwest::Error> {
        let client = FspiopClient::new(http, &self.hub_url, source);
        client
            .send(
                Method::Get,
                Resource::Parties,
                "/parties/MSISDN/27713803912",
                None,
                None,
            )
            .await
    }

    async fn positions(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for name in ["payerfsp", "payeefsp"] {
            all.push(self.admin.position(name, "USD").await.expect("position"));
        }
        all
    }
}

#[tokio::test]
async fn transfer_over_mutual_tls() {
    let f = start().await;
    let outcome = f
        .payer
        .send_money("MSISDN", "27713803912", "10", Duration::from_secs(10))
        .await
        .expect("transfer");
    assert_eq!(outcome.state, "COMMITTED");
    assert_eq!(
        f.admin
            .position("payerfsp", "USD")
            .await
            .expect("position")
            .0,
        "10"
    );
    // Every callback came over mutual TLS with the hub's client certificate.
    for sim in [&f.payer, &f.payee] {
        let received = sim.received();
        assert!(!received.is_empty());
        for message in received {
            assert_eq!(
                message.peer.as_deref(),
                Some("Hub"),
                "{} {} reached {} without the hub's certificate",
                message.method,
                message.path,
                sim.name()
            );
        }
    }
    f.hub.shutdown().await;
}

#[tokio::test]
async fn plain_http_callback_urls_are_refused_in_secure_mode() {
    let f = start().await;
    let answer = f
        .admin
        .call(
            reqwest::Method::POST,
            "/participants/payerfsp/endpoints",
            Some(json!({"type": "FSPIOP_CALLBACK_URL_TRANSFER_PUT", "value": "http://127.0.0.1:9/transfers/{{transferId}}"})),
        )
        .await;
    let error = answer.expect_err("http:// refused");
    assert!(error.to_string().contains("https://"), "{error}");
    f.hub.shutdown().await;
}

#[tokio::test]
async fn a_pinned_key_binds_the_participant_to_its_certificate() {
    let mut f = start().await;
    // Pin the payer to the key of its current certificate: it keeps working.
    let (cert, key) = f.payer_cert.clone();
    let der = rustls_pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("der");
    let pin = hub::tls::spki_sha256(&der).expect("pin");
    let answer = f
        .admin
        .call(
            reqwest::Method::PUT,
            "/participants/payerfsp/tls",
            Some(json!({"spkiPin": pin})),
        )
        .await
        .expect("pin set");
    assert_eq!(answer["binding"], "name+spki");
    let pinned = mtls_client(&f.ca_pem(), &cert, &key).expect("client");
    assert_eq!(
        f.lookup(pinned, "payerfsp")
            .await
            .expect("pinned key")
            .status,
        202
    );
    // Another valid certificate of the same CA for the same name, but another key: refused.
    let other = f.pki.issue_client("payerfsp", 30).expect("issue");
    let other_client =
        mtls_client(&f.ca_pem(), &other.cert_pem, &other.key_pem.expect("key")).expect("client");
    assert!(
        f.lookup(other_client, "payerfsp").await.is_err(),
        "a certificate with another key must not speak for a pinned participant"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        f.tls_refusals().await.iter().any(|r| r == "binding"),
        "the binding refusal is audited"
    );
    // Bad settings are refused.
    let bad = f
        .admin
        .call(
            reqwest::Method::PUT,
            "/participants/payerfsp/tls",
            Some(json!({"callbackCaPem": "not a certificate"})),
        )
        .await;
    assert!(bad.is_err());
    f.hub.shutdown().await;
}

#[tokio::test]
async fn connections_without_a_valid_certificate_are_refused() {
    let f = start().await;
    let before = f.positions().await;
    let ca = reqwest::Certificate::from_pem(f.ca_pem().as_bytes()).expect("ca");

    // No client certificate at all.
    let anonymous = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .expect("client");
    assert!(
        f.lookup(anonymous, "payerfsp").await.is_err(),
        "no certificate must fail the handshake"
    );

    // A certificate for the same name from another CA.
    let rogue = pki::CertificateAuthority::create("Rogue CA", 30).expect("rogue ca");
    let forged = rogue.issue_client("payerfsp", 30).expect("forged");
    let forged_client = mtls_client(
        &f.ca_pem(),
        &forged.cert_pem,
        forged.key_pem.as_deref().expect("key"),
    )
    .expect("client");
    assert!(
        f.lookup(forged_client, "payerfsp").await.is_err(),
        "another CA's certificate must be refused"
    );

    // A certificate of the right CA that has expired.
    let expired = f.expired_identity("payerfsp");
    let expired_client = mtls_client(&f.ca_pem(), &expired.0, &expired.1).expect("client");
    assert!(
        f.lookup(expired_client, "payerfsp").await.is_err(),
        "an expired certificate must be refused"
    );

    assert_eq!(f.positions().await, before);
    // Each refusal is in the audit log and the metrics.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reasons = f.tls_refusals().await;
    for reason in ["no_certificate", "unknown_issuer", "expired"] {
        assert!(
            reasons.iter().any(|r| r == reason),
            "{reason} not audited: {reasons:?}"
        );
    }
    let metrics = f.metrics().await;
    for reason in ["no_certificate", "unknown_issuer", "expired"] {
        assert!(
            metrics.contains(&format!(
                "ferroloop_tls_refusals_total{{reason=\"{reason}\"}}"
            )),
            "{reason} not counted:\n{metrics}"
        );
    }
    f.hub.shutdown().await;
}

#[tokio::test]
async fn certificate_revoked_while_running_is_refused_on_new_connections() {
    let mut f = start().await;
    let issued = f.pki.issue_client("payerfsp", 30).expect("issue");
    let key = issued.key_pem.clone().expect("key");
    let works = mtls_client(&f.ca_pem(), &issued.cert_pem, &key).expect("client");
    assert_eq!(
        f.lookup(works, "payerfsp")
            .await
            .expect("before revocation")
            .status,
        202
    );

    let open_before = f.hub.open_connections();
    f.pki.revoke(&issued.serial_hex).expect("revoke");
    let closed = f.hub.reload_tls().expect("reload");
    assert_eq!(
        closed, 1,
        "the revoked certificate's open connection is closed"
    );
    f.wait_connections(|n| n < open_before, "revoked connection dropped")
        .await;
    let fresh = mtls_client(&f.ca_pem(), &issued.cert_pem, &key).expect("client");
    assert!(
        f.lookup(fresh, "payerfsp").await.is_err(),
        "revoked certificate must be refused"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        f.tls_refusals().await.iter().any(|r| r == "revoked"),
        "the revoked handshake is audited"
    );
    assert!(
        f.metrics()
            .await
            .contains("ferroloop_tls_connections_closed_by_hub_total 1"),
        "the closed connection is counted"
    );

    // The other certificates keep working after the reload.
    let (cert, key) = f.payer_cert.clone();
    let still = mtls_client(&f.ca_pem(), &cert, &key).expect("client");
    assert_eq!(
        f.lookup(still, "payerfsp").await.expect("unrevoked").status,
        202
    );
    f.hub.shutdown().await;
}

#[tokio::test]
async fn a_certificate_speaks_only_for_its_participant() {
    let f = start().await;
    let before = f.positions().await;
    let (cert, key) = f.payer_cert.clone();
    let payer_http = mtls_client(&f.ca_pem(), &cert, &key).expect("client");

    let as_payee = f
        .lookup(payer_http.clone(), "payeefsp")
        .await
        .expect("answer");
    assert_eq!(as_payee.status, 400, "{}", as_payee.body);
    assert_eq!(as_payee.error_code().as_deref(), Some("3000"));
    assert!(
        as_payee.body.contains("certificate identity payerfsp"),
        "{}",
        as_payee.body
    );

    let as_hub = f.lookup(payer_http, "Hub").await.expect("answer");
    assert_eq!(as_hub.status, 400, "{}", as_hub.body);
    assert_eq!(f.positions().await, before);

    // Each refusal is in the audit log.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit = f
        .admin
        .call(reqwest::Method::GET, "/audit?limit=50", None)
        .await
        .expect("audit");
    let refusals = audit
        .as_array()
        .expect("list")
        .iter()
        .filter(|e| {
            e["action"] == "fspiop.source_refused"
                && e["outcome"] == "denied"
                && e["actor"] == "payerfsp"
        })
        .count();
    assert_eq!(refusals, 2, "{audit}");
    let metrics = f.metrics().await;
    assert!(
        metrics.contains("ferroloop_security_refusals_total{action=\"fspiop.source_refused\"} 2\n"),
        "{metrics}"
    );
    f.hub.shutdown().await;
}

/// Runs `openssl s_client` against the hub and reports whether the handshake succeeded.
fn s_client(addr: SocketAddr, identity: &(String, String), ca_pem: &str, args: &[&str]) -> bool {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = identity;
    std::fs::write(dir.path().join("c.pem"), cert).expect("write");
    std::fs::write(dir.path().join("k.pem"), key).expect("write");
    std::fs::write(dir.path().join("ca.pem"), ca_pem).expect("write");
    let output = std::process::Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(["-cert"])
        .arg(dir.path().join("c.pem"))
        .args(["-key"])
        .arg(dir.path().join("k.pem"))
        .args(["-CAfile"])
        .arg(dir.path().join("ca.pem"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&output.stdout);
    output.status.success()
        && text.contains("Verify return code: 0")
        && !text.contains("Cipher is (NONE)")
}

// The openssl and curl peers are blocking child processes: they run on a blocking thread while
// the hub keeps serving on the runtime's workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_protocols_and_weak_suites_are_refused() {
    let f = start().await;
    let addr = f.hub.fspiop_addr;
    let material = (f.payer_cert.clone(), f.ca_pem());
    let cases: Vec<(&'static [&'static str], bool, &'static str)> = vec![
        (
            &["-tls1_3"],
            true,
            "TLS 1.3 with a valid certificate must work",
        ),
        (
            &["-tls1_2"],
            true,
            "TLS 1.2 with a valid certificate must work",
        ),
        (
            &["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"],
            false,
            "TLS 1.1 must be refused",
        ),
        (
            &["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"],
            false,
            "TLS 1.0 must be refused",
        ),
        (
            &["-tls1_2", "-cipher", "AES128-SHA256:AES256-SHA:AES128-SHA"],
            false,
            "suites without forward secrecy must be refused",
        ),
        (
            &[
                "-tls1_2",
                "-cipher",
                "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA",
            ],
            false,
            "CBC suites must be refused",
        ),
    ];
    for (args, expected, what) in cases {
        let material = material.clone();
        let ok =
            tokio::task::spawn_blocking(move || s_client(addr, &material.0, &material.1, args))
                .await
                .expect("probe");
        assert_eq!(ok, expected, "{what}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reasons = f.tls_refusals().await;
    assert!(
        reasons.len() >= 4,
        "every refused handshake is audited: {reasons:?}"
    );
    let metrics = f.metrics().await;
    let counted: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("ferroloop_tls_refusals_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(
        counted >= 4,
        "every refused handshake is counted:\n{metrics}"
    );
    f.hub.shutdown().await;
}

#[tokio::test]
async fn deactivating_a_participant_closes_its_connections() {
    let f = start().await;
    let (cert, key) = f.payer_cert.clone();
    let payer_http = mtls_client(&f.ca_pem(), &cert, &key).expect("client");
    let answer = f
        .lookup(payer_http.clone(), "payerfsp")
        .await
        .expect("lookup");
    assert_eq!(answer.status, 202);
    f.wait_connections(|n| n >= 1, "connection open").await;
    let before = f.hub.open_connections();
    f.admin
        .call(
            reqwest::Method::PUT,
            "/participants/payerfsp",
            Some(json!({"isActive": false})),
        )
        .await
        .expect("deactivate");
    f.wait_connections(|n| n < before, "the payer's connections closed")
        .await;
    // It can still connect (its certificate is valid) but may not act.
    let answer = f.lookup(payer_http, "payerfsp").await.expect("answer");
    assert_eq!(answer.status, 400, "{}", answer.body);
    assert!(answer.body.contains("inactive"), "{}", answer.body);
    f.hub.shutdown().await;
}

#[tokio::test]
async fn admin_reload_swaps_tls_material_and_is_audited() {
    let mut f = start().await;
    let rotated = f
        .pki
        .rotate_server(&["localhost".to_string()], 30)
        .expect("rotate");
    let answer = f
        .admin
        .call(reqwest::Method::POST, "/tls/reload", None)
        .await
        .expect("reload");
    assert_eq!(answer["reloaded"], true);
    // New connections get the new server certificate.
    let addr = f.hub.fspiop_addr;
    let material = (f.payer_cert.clone(), f.ca_pem());
    let serial = tokio::task::spawn_blocking(move || {
        server_serial(addr, &material.0, &material.1).expect("serial")
    })
    .await
    .expect("probe");
    assert_eq!(serial.to_ascii_lowercase(), rotated.serial_hex);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let audit = f
        .admin
        .call(reqwest::Method::GET, "/audit?limit=50", None)
        .await
        .expect("audit");
    assert!(
        audit
            .as_array()
            .expect("list")
            .iter()
            .any(|e| e["action"] == "tls.reload" && e["outcome"] == "ok"),
        "{audit}"
    );
    f.hub.shutdown().await;
}

/// The serial of the server certificate a fresh `openssl s_client` connection sees.
fn server_serial(addr: SocketAddr, identity: &(String, String), ca_pem: &str) -> Option<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = identity;
    std::fs::write(dir.path().join("c.pem"), cert).expect("write");
    std::fs::write(dir.path().join("k.pem"), key).expect("write");
    std::fs::write(dir.path().join("ca.pem"), ca_pem).expect("write");
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {addr} -cert c.pem -key k.pem -CAfile ca.pem </dev/null 2>/dev/null | openssl x509 -noout -serial"
        ))
        .current_dir(dir.path())
        .output()
        .expect("openssl");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .strip_prefix("serial=")
        .map(|s| s.trim_start_matches('0').to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_under_traffic_loses_no_request() {
    let mut f = start().await;
    let payer = f.payer.clone();
    let traffic = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..20 {
            outcomes.push(
                payer
                    .send_money("MSISDN", "27713803912", "1", Duration::from_secs(10))
                    .await,
            );
        }
        outcomes
    });
    let mut reloads = 0;
    while !traffic.is_finished() && reloads < 10 {
        f.pki
            .rotate_server(&["localhost".to_string()], 30)
            .expect("rotate");
        f.hub.reload_tls().expect("reload");
        reloads += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let outcomes = traffic.await.expect("traffic");
    assert!(
        reloads >= 2,
        "rotated only {reloads} times during the traffic"
    );
    for outcome in &outcomes {
        let outcome = outcome.as_ref().expect("every transfer completes");
        assert_eq!(outcome.state, "COMMITTED");
    }
    assert_eq!(
        f.admin
            .position("payerfsp", "USD")
            .await
            .expect("position")
            .0,
        "20"
    );
    f.hub.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_completes_a_request_with_a_valid_certificate() {
    let f = start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = &f.payer_cert;
    std::fs::write(dir.path().join("c.pem"), cert).expect("write");
    std::fs::write(dir.path().join("k.pem"), key).expect("write");
    std::fs::write(dir.path().join("ca.pem"), f.ca_pem()).expect("write");
    let date = fspiop::headers::format_date(std::time::SystemTime::now());
    let output = tokio::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.path().join("ca.pem"))
        .arg("--cert")
        .arg(dir.path().join("c.pem"))
        .arg("--key")
        .arg(dir.path().join("k.pem"))
        .args([
            "-H",
            "accept: application/vnd.interoperability.parties+json;version=1",
        ])
        .args([
            "-H",
            "content-type: application/vnd.interoperability.parties+json;version=1.1",
        ])
        .args(["-H", &format!("date: {date}")])
        .args(["-H", "fspiop-source: payerfsp"])
        .arg(format!("{}/parties/MSISDN/27713803912", f.hub_url))
        .output()
        .await
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&output.stdout),
        "202",
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The payee answers the forwarded lookup, so the payer gets the party back.
    f.payer
        .wait_path("PUT", "/parties/MSISDN/27713803912", Duration::from_secs(5))
        .await
        .expect("party callback");
    f.hub.shutdown().await;
}

/// Certificates through the operator API, four eyes: `integration` asks the hub's CA to sign a
/// DFSP's CSR (the key never leaves the DFSP) and `admin` approves; the certificate works.
/// Revoked the same way, its open connection is closed at once and a new one is refused.
#[tokio::test]
async fn certificates_are_issued_from_csrs_and_revoked_through_four_eyes() {
    let f = start().await;
    let key = rcgen::KeyPair::generate().expect("the DFSP's key");
    let mut params = rcgen::CertificateParams::new(vec![]).expect("params");
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "whoever-the-csr-says");
    let csr = params
        .serialize_request(&key)
        .expect("csr")
        .pem()
        .expect("pem");
    let path = "/participants/payerfsp/certificates";
    // Without a checker nothing is issued.
    let maker = AdminClient::new(reqwest::Client::new(), f.admin.base(), &f.token);
    let pending = maker
        .call(
            reqwest::Method::POST,
            path,
            Some(json!({"csr": csr, "days": 30})),
        )
        .await
        .expect_err("waits for a checker");
    let dfsp::provision::AdminError::Pending { request_id } = pending else {
        panic!("expected a pending request: {pending}");
    };
    let listed = f
        .admin
        .call(reqwest::Method::GET, path, None)
        .await
        .expect("list");
    let before = listed.as_array().map(Vec::len).unwrap_or(0);
    let approved = f
        .admin
        .approver()
        .expect("approver")
        .approve(&request_id)
        .await
        .expect("approve");
    assert_eq!(approved["result"]["status"], 201, "{approved}");
    let issued = &approved["result"]["body"];
    let cert_pem = issued["certificatePem"]
        .as_str()
        .expect("certificate")
        .to_string();
    let serial = issued["serial"].as_str().expect("serial").to_string();
    let info = pki::inspect(&cert_pem).expect("a certificate");
    assert!(
        format!("{info:?}").contains("payerfsp"),
        "the certificate names the participant, not what the CSR said: {info:?}"
    );
    let listed = f
        .admin
        .call(reqwest::Method::GET, path, None)
        .await
        .expect("list");
    assert_eq!(
        listed.as_array().map(Vec::len),
        Some(before + 1),
        "{listed}"
    );

    let client = mtls_client(&f.ca_pem(), &cert_pem, &key.serialize_pem()).expect("client");
    let answer = f
        .lookup(client.clone(), "payerfsp")
        .await
        .expect("the new certificate is accepted");
    assert_eq!(answer.status, 202, "{}", answer.body);

    let open_before = f.hub.open_connections();
    let revoked = f
        .admin
        .call(
            reqwest::Method::DELETE,
            &format!("{path}/{serial}?reason=keyCompromise"),
            None,
        )
        .await;
    assert!(revoked.is_ok(), "{revoked:?}");
    f.wait_connections(
        |n| n < open_before,
        "the revoked certificate's connection is closed",
    )
    .await;
    let fresh = mtls_client(&f.ca_pem(), &cert_pem, &key.serialize_pem()).expect("client");
    assert!(
        f.lookup(fresh, "payerfsp").await.is_err(),
        "a revoked certificate is refused"
    );
    let listed = f
        .admin
        .call(reqwest::Method::GET, path, None)
        .await
        .expect("list");
    let entry = listed
        .as_array()
        .and_then(|l| l.iter().find(|e| e["serial"] == serial.as_str()))
        .expect("listed")
        .clone();
    assert_eq!(entry["status"], "revoked", "{entry}");
    assert_eq!(entry["revocationReason"], "keyCompromise", "{entry}");
    assert_eq!(entry["fromCsr"], true, "{entry}");
    // Someone else's serial is not this participant's to revoke.
    let refused = f
        .admin
        .call(
            reqwest::Method::DELETE,
            &format!("/participants/payeefsp/certificates/{serial}"),
            None,
        )
        .await
        .expect_err("not payeefsp's certificate");
    assert_eq!(refused.status(), Some(404), "{refused}");
}

/// Makes the second administrator (`admin2`) from the host, as `ferroloop operator create`
/// does, through a store of its own on the hub's database while the hub runs: four eyes need
/// two people. Returns the file holding its one-time password.
async fn host_second_admin(data_dir: &std::path::Path) -> std::path::PathBuf {
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
