//! `ferroloop load`: two simulated DFSPs drive transfers through an embedded hub and the
//! command reports completed transfers per second and latency percentiles.
//!
//! A transfer counts as completed when the payer receives the hub's `PUT /transfers/{ID}` with
//! `COMMITTED`; its latency runs from sending `POST /transfers` to that callback. The payer keeps
//! `concurrency` transfers in flight (closed loop).
//!
//! With JWS on (the default, as in production) the payer signs with RS256, the SDK's default
//! algorithm, and every prepare is signed *before* the clock starts, so the figure is the hub's
//! cost (verification included), not the generator's; the payee signs its fulfils with ES256
//! (25 µs each). The simulators do not verify what they receive (the tests do that).
//!
//! `--transport` picks how the DFSPs reach the hub:
//! - `plain` (the default, so figures stay comparable with earlier runs): plain HTTP both ways
//!   on loopback, the hub's FSPIOP listener without TLS;
//! - `mtls`: mutual TLS both ways, as in production. The hub's PKI is bootstrapped in the data
//!   directory (CA, the hub's server and client certificates, CRL); the hub requires a client
//!   certificate on its FSPIOP listener, and each simulated DFSP sends with a client
//!   certificate the hub's CA issued to it. The DFSPs' callback servers speak HTTPS with a
//!   `localhost` certificate from the same CA and require the hub's client certificate; the
//!   run checks that the set-up flow's callbacks arrived with it. Both sides pool their
//!   connections (idle timeout 60 s), so the handshakes happen during the warm-up and the
//!   measured figure is the per-request cost of TLS, not of handshakes.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use dfsp::provision::Onboarding;
use dfsp::simulator::{SimOptions, SimParty, SimServerTls, Simulator};
use fspiop::headers::{Method, Resource};
use hdrhistogram::Histogram;
use serde_json::json;
use tokio::sync::Semaphore;

/// Load options.
#[derive(clap::Args)]
pub struct LoadArgs {
    /// Transfers to complete.
    #[arg(long, default_value_t = 5000)]
    transfers: u64,
    /// Transfers in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Data directory of the embedded hub (default: a fresh temporary directory).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Transfers sent before measuring (connection set-up, caches).
    #[arg(long, default_value_t = 200)]
    warmup: u64,
    /// Sign every DFSP message and verify it at the hub (`on`, the default), or run without
    /// JWS (`off`) to measure what signatures cost.
    #[arg(long, default_value = "on", value_parser = ["on", "off"])]
    jws: String,
    /// Transport between the DFSPs and the hub: `plain` HTTP both ways (the default,
    /// comparable with earlier figures) or `mtls`, mutual TLS both ways as in production
    /// (certificates from the hub's CA, bootstrapped in the data directory).
    #[arg(long, value_enum, default_value_t = Transport::Plain)]
    transport: Transport,
}

/// How the simulated DFSPs reach the hub.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Transport {
    /// Plain HTTP on loopback, no TLS.
    Plain,
    /// Mutual TLS both ways: certificates from the hub's CA, client certificates required.
    Mtls,
}

/// Days the load run's DFSP certificates are valid.
const DFSP_CERT_DAYS: u32 = 2;

/// A simulated DFSP's transport: the client it sends to the hub with, and the TLS of its
/// callback server (`None`: plain HTTP).
struct DfspTransport {
    http: reqwest::Client,
    server_tls: Option<SimServerTls>,
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    let temporary = tempdir()?;
    let data_dir = args.data_dir.clone().unwrap_or_else(|| temporary.clone());
    let jws_on = args.jws == "on";
    let mut config = hub::HubConfig::new(&data_dir);
    config.fspiop_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin_listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.metrics_listen = None;
    config.jws.verify = jws_on;
    // With mTLS: the hub's PKI in the data directory; the hub presents its client certificate
    // on callbacks and verifies the DFSPs' callback servers against its own CA.
    let mut pki = match args.transport {
        Transport::Plain => None,
        Transport::Mtls => {
            let pki = crate::config::bootstrap_pki(
                &data_dir,
                &config.hub_name,
                &["localhost".to_string()],
            )?;
            config.tls = Some(hub::tls::TlsFiles {
                server_cert: pki.server_cert_path(),
                server_key: pki.server_key_path(),
                client_ca: pki.ca_cert_path(),
                crl: Some(pki.crl_path()),
                client_cert: Some(pki.client_cert_path()),
                client_key: Some(pki.client_key_path()),
            });
            Some(pki)
        }
    };
    // Each DFSP: a client certificate to send with, and a `localhost` server certificate for
    // its callback server, which only lets in the hub's client certificate.
    let mut transport_for = |name: &str| -> anyhow::Result<DfspTransport> {
        let Some(pki) = pki.as_mut() else {
            return Ok(DfspTransport {
                http: reqwest::Client::new(),
                server_tls: None,
            });
        };
        let client = pki
            .issue_client(name, DFSP_CERT_DAYS)
            .map_err(|e| anyhow::anyhow!("issuing {name}'s client certificate: {e}"))?;
        let server = pki
            .issue_server(&["localhost".to_string()], DFSP_CERT_DAYS)
            .map_err(|e| anyhow::anyhow!("issuing {name}'s server certificate: {e}"))?;
        let key = |pem: Option<String>| pem.ok_or_else(|| anyhow::anyhow!("no key for {name}"));
        let ca_pem = pki.ca().cert_pem().to_string();
        // Only the hub gets into the callback server: its CA issues the hub's certificate only.
        let callback_ca_pem = pki
            .callback_ca()
            .map(|ca| ca.cert_pem().to_string())
            .ok_or_else(|| anyhow::anyhow!("the hub's PKI directory has no hub callback CA"))?;
        let hub_name = pki.hub_name().to_string();
        Ok(DfspTransport {
            http: dfsp::client::mtls_client(&ca_pem, &client.cert_pem, &key(client.key_pem)?)?,
            server_tls: Some(
                SimServerTls::new(server.cert_pem, key(server.key_pem)?)
                    .with_client_ca(callback_ca_pem)
                    .only_client(hub_name),
            ),
        })
    };
    let payer_transport = transport_for("loadpayer")?;
    let payee_transport = transport_for("loadpayee")?;
    let hub_name = config.hub_name.clone();
    let store = crate::open_store(&data_dir).await?;
    let running = hub::start(config, store.clone()).await?;
    let hub_url = match args.transport {
        Transport::Plain => format!("http://{}", running.fspiop_addr),
        Transport::Mtls => format!("https://localhost:{}", running.fspiop_addr.port()),
    };
    // Operators as in production (four eyes): `integration`'s API token onboards, `admin`
    // approves.
    let admin_url = format!("http://{}", running.admin_addr);
    let http = reqwest::Client::new();
    // Four eyes need two people: the second administrator comes from the host (this command
    // owns its data directory), as `ferroloop operator create` makes it.
    let second_admin = hub::iam::host_create_operator(
        store.as_ref(),
        &data_dir,
        dfsp::operator::SECOND_ADMIN,
        &["hub-administrator".to_string()],
        time::OffsetDateTime::now_utc()
            .unix_timestamp()
            .saturating_mul(1000),
    )
    .await
    .map_err(|e| anyhow::anyhow!("creating the second administrator from the host: {e}"))?;
    let operators = dfsp::operator::provision(
        http.clone(),
        &admin_url,
        &running.initial_admin_password_path,
        &second_admin.password_file,
    )
    .await
    .context("setting up the hub's operators (a fresh data directory is needed)")?;
    let admin = operators.admin_client(http, &admin_url);
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    let payer_key = Arc::new(
        jws::SigningKey::generate_rs256(2048).map_err(|e| anyhow::anyhow!("payer key: {e}"))?,
    );
    let payee_key =
        Arc::new(jws::SigningKey::generate_es256().map_err(|e| anyhow::anyhow!("payee key: {e}"))?);
    let options = |transport: DfspTransport, key: &Arc<jws::SigningKey>| {
        let mut options = SimOptions::new(transport.http);
        options.tls = transport.server_tls;
        if jws_on {
            options.signing_key = Some(key.clone());
        }
        options
    };
    let payer = Simulator::start_with_options(
        "loadpayer",
        "USD",
        vec![],
        &hub_url,
        any,
        options(payer_transport, &payer_key),
    )
    .await?;
    let party = SimParty {
        id_type: "MSISDN".into(),
        identifier: "15550000001".into(),
        first_name: "Load".into(),
        last_name: "Payee".into(),
    };
    let payee = Simulator::start_with_options(
        "loadpayee",
        "USD",
        vec![party],
        &hub_url,
        any,
        options(payee_transport, &payee_key),
    )
    .await?;
    for (sim, key) in [(&payer, &payer_key), (&payee, &payee_key)] {
        let onboarding = Onboarding::new(
            sim.name(),
            "USD",
            "1000000000",
            "1000000000",
            sim.base_url(),
        )
        .with_jws_public_key(key.verifying_key().to_pem());
        admin
            .onboard(&onboarding)
            .await
            .with_context(|| format!("onboarding {}", sim.name()))?;
    }
    let path = "/participants/MSISDN/15550000001";
    payee
        .client()
        .send(
            Method::Post,
            Resource::Participants,
            path,
            None,
            Some(&json!({"fspId": "loadpayee"})),
        )
        .await?;
    payee
        .wait_path("PUT", path, Duration::from_secs(10))
        .await
        .context("party registration not answered")?;
    // One full P2P flow proves the set-up and yields terms the payee will honour.
    let first = payer
        .send_money("MSISDN", "15550000001", "1", Duration::from_secs(15))
        .await?;
    anyhow::ensure!(
        first.state == "COMMITTED",
        "first transfer ended {}",
        first.state
    );
    // One quote through the hub gives the agreed terms every load transfer repeats (the hub
    // checks each prepare against it).
    payee.set_quote_validity(3600);
    let payee_party = json!({"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "15550000001", "fspId": "loadpayee"}});
    let quoted = payer
        .quote("loadpayee", &payee_party, "1", Duration::from_secs(15))
        .await?;
    let terms = Terms {
        ilp_packet: quoted.body["ilpPacket"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        condition: quoted.body["condition"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        expiration: quoted.body["expiration"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    // Every callback of the set-up flows must have come over the transport asked for: with
    // mTLS, on a connection where the hub presented its own client certificate.
    let callbacks: Vec<_> = payer
        .received()
        .into_iter()
        .chain(payee.received())
        .collect();
    let expected_peer = (args.transport == Transport::Mtls).then_some(hub_name.as_str());
    let wrong = callbacks
        .iter()
        .filter(|r| r.peer.as_deref() != expected_peer)
        .count();
    anyhow::ensure!(
        wrong == 0,
        "{wrong} of {} set-up callbacks did not come from {expected_peer:?}",
        callbacks.len()
    );
    payer.set_recording(false);
    payee.set_recording(false);

    match args.transport {
        Transport::Plain => println!("transport   plain: HTTP both ways on loopback, no TLS"),
        Transport::Mtls => {
            println!(
                "transport   mtls: mutual TLS both ways, certificates from the hub's CA, pooled connections"
            );
            println!(
                "            DFSPs present their certificates to the hub; callbacks to {} and {} present the hub's (seen on all {} set-up callbacks)",
                payer.base_url(),
                payee.base_url(),
                callbacks.len()
            );
        }
    }
    println!(
        "jws         {}",
        if jws_on {
            "on: payer RS256 (pre-signed), payee ES256, hub verifies every message and signs its own"
        } else {
            "off: nothing signed or verified"
        }
    );
    let warmup = presign(&payer, &terms, args.warmup);
    println!("warm-up     {} transfers", args.warmup);
    drive(&payer, warmup, args.concurrency).await?;
    let signing = Instant::now();
    let measured = presign(&payer, &terms, args.transfers);
    println!(
        "pre-signed  {} prepares in {:.2} s (not measured)",
        args.transfers,
        signing.elapsed().as_secs_f64()
    );
    println!(
        "measuring   {} transfers, {} in flight",
        args.transfers, args.concurrency
    );
    let started = Instant::now();
    let (histogram, failures) = drive(&payer, measured, args.concurrency).await?;
    let elapsed = started.elapsed();
    let completed = histogram.len();
    let rate = completed as f64 / elapsed.as_secs_f64();
    println!(
        "completed   {completed} transfers in {:.2} s, {failures} failed",
        elapsed.as_secs_f64()
    );
    println!("throughput  {rate:.0} transfers/s");
    println!(
        "latency     p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        histogram.value_at_quantile(0.50) as f64 / 1000.0,
        histogram.value_at_quantile(0.90) as f64 / 1000.0,
        histogram.value_at_quantile(0.99) as f64 / 1000.0,
        histogram.max() as f64 / 1000.0
    );
    let (value, reserved) = admin.position("loadpayer", "USD").await?;
    println!("positions   loadpayer {value} (reserved {reserved})");
    running.shutdown().await;
    if args.data_dir.is_none() {
        let _ = std::fs::remove_dir_all(&temporary);
    }
    anyhow::ensure!(failures == 0, "{failures} transfers failed");
    Ok(())
}

/// One ready-to-send prepare: id, headers (signature included) and body bytes.
struct Prepared {
    id: String,
    headers: Vec<(String, String)>,
    body: Option<String>,
}

/// Builds and signs `count` prepares up front, so signing is not part of the measurement.
fn presign(payer: &Simulator, terms: &Terms, count: u64) -> Vec<Prepared> {
    (0..count)
        .map(|_| {
            let id = uuid::Uuid::new_v4().to_string();
            let body = json!({
                "transferId": id,
                "payerFsp": "loadpayer",
                "payeeFsp": "loadpayee",
                "amount": {"amount": "1", "currency": "USD"},
                "ilpPacket": terms.ilp_packet,
                "condition": terms.condition,
                "expiration": terms.expiration,
            });
            let (headers, body) = payer.client().signed_request(
                Method::Post,
                Resource::Transfers,
                "/transfers",
                Some("loadpayee"),
                Some(&body),
            );
            Prepared { id, headers, body }
        })
        .collect()
}

async fn drive(
    payer: &Simulator,
    prepared: Vec<Prepared>,
    concurrency: usize,
) -> anyhow::Result<(Histogram<u64>, u64)> {
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut histogram = Histogram::<u64>::new(3)?;
    let mut failures = 0u64;
    let mut record = |result: Result<Duration, String>, histogram: &mut Histogram<u64>| match result
    {
        Ok(latency) => {
            let _ = histogram.record(latency.as_micros() as u64);
        }
        Err(error) => {
            failures += 1;
            if failures <= 5 {
                eprintln!("transfer failed: {error}");
            }
        }
    };
    for prepare in prepared {
        let permit = permits.clone().acquire_owned().await?;
        let payer = payer.clone();
        tasks.spawn(async move {
            let _permit = permit;
            one_transfer(&payer, prepare).await
        });
        while let Some(done) = tasks.try_join_next() {
            record(done?, &mut histogram);
        }
    }
    while let Some(done) = tasks.join_next().await {
        record(done?, &mut histogram);
    }
    Ok((histogram, failures))
}

async fn one_transfer(payer: &Simulator, prepare: Prepared) -> Result<Duration, String> {
    let waiter = payer.expect(&format!("/transfers/{}", prepare.id));
    let started = Instant::now();
    let answer = payer
        .client()
        .send_raw(Method::Post, "/transfers", &prepare.headers, prepare.body)
        .await
        .map_err(|e| e.to_string())?;
    if answer.status != 202 {
        return Err(format!("HTTP {} {}", answer.status, answer.body));
    }
    let callback = tokio::time::timeout(Duration::from_secs(30), waiter)
        .await
        .map_err(|_| "timeout".to_string())?
        .map_err(|e| e.to_string())?;
    if callback.body["transferState"] != "COMMITTED" {
        return Err(format!("ended with {}", callback.body));
    }
    Ok(started.elapsed())
}

/// The agreed terms every load transfer repeats.
struct Terms {
    ilp_packet: String,
    condition: String,
    expiration: String,
}

fn tempdir() -> anyhow::Result<PathBuf> {
    let path = std::env::temp_dir().join(format!("ferroloop-load-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&path)?;
    Ok(path)
}
