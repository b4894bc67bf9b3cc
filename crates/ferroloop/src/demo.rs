//! `ferroloop demo`: a hub on the embedded store, two simulated DFSPs, one P2P transfer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use dfsp::provision::{AdminClient, Onboarding};
use dfsp::simulator::{SimParty, Simulator};
use fspiop::headers::{Method, Resource};
use serde_json::json;

/// Demo options.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// Data directory of the demo hub.
    #[arg(long, default_value = "data/demo")]
    data_dir: PathBuf,
    /// FSPIOP listener.
    #[arg(long, default_value = "127.0.0.1:3000")]
    fspiop_listen: SocketAddr,
    /// Admin listener.
    #[arg(long, default_value = "127.0.0.1:3001")]
    admin_listen: SocketAddr,
    /// Callback server of the payer DFSP.
    #[arg(long, default_value = "127.0.0.1:4001")]
    payer_listen: SocketAddr,
    /// Callback server of the payee DFSP.
    #[arg(long, default_value = "127.0.0.1:4002")]
    payee_listen: SocketAddr,
    /// Run the transfer and exit instead of serving until Ctrl-C.
    #[arg(long)]
    once: bool,
}

const CURRENCY: &str = "USD";
const PAYEE_MSISDN: &str = "27713803912";

pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let mut config = hub::HubConfig::new(&args.data_dir);
    config.fspiop_listen = args.fspiop_listen;
    config.admin_listen = args.admin_listen;
    // Mutual TLS end to end: the hub's own CA (created on first run) issues each DFSP's client
    // certificate; the certificate is the DFSP's identity.
    let mut pki =
        crate::config::bootstrap_pki(&args.data_dir, &config.hub_name, &["localhost".to_string()])?;
    config.tls = Some(hub::tls::TlsFiles {
        server_cert: pki.server_cert_path(),
        server_key: pki.server_key_path(),
        client_ca: pki.ca_cert_path(),
        crl: Some(pki.crl_path()),
    });
    let store = crate::open_store(&args.data_dir).await?;
    let running = hub::start(config, store).await?;
    let hub_url = format!("https://localhost:{}", running.fspiop_addr.port());
    let ca_pem = pki.ca().cert_pem().to_string();
    let payer_identity = dfsp_identity(&mut pki, &args.data_dir, "payerfsp")?;
    let payee_identity = dfsp_identity(&mut pki, &args.data_dir, "payeefsp")?;
    let admin_url = format!("http://{}", running.admin_addr);
    println!("hub         FSPIOP {hub_url}   admin {admin_url}");
    println!(
        "            data in {}, admin token in {}",
        args.data_dir.display(),
        running.admin_token_path.display()
    );

    let payer_http =
        dfsp::client::mtls_client(&ca_pem, &payer_identity.cert_pem, &payer_identity.key_pem)?;
    let payer = Simulator::start_with_client(
        "payerfsp",
        CURRENCY,
        vec![],
        &hub_url,
        args.payer_listen,
        payer_http,
    )
    .await?;
    let payee_party = SimParty {
        id_type: "MSISDN".into(),
        identifier: PAYEE_MSISDN.into(),
        first_name: "Ada".into(),
        last_name: "Lovelace".into(),
    };
    let payee_http =
        dfsp::client::mtls_client(&ca_pem, &payee_identity.cert_pem, &payee_identity.key_pem)?;
    let payee = Simulator::start_with_client(
        "payeefsp",
        CURRENCY,
        vec![payee_party],
        &hub_url,
        args.payee_listen,
        payee_http,
    )
    .await?;
    let admin = AdminClient::new(reqwest::Client::new(), &admin_url, &running.admin_token);
    for (sim, funds) in [(&payer, "10000"), (&payee, "10000")] {
        onboard(&admin, sim, funds).await?;
    }
    // The payee registers its customer in the hub's party oracle over FSPIOP.
    let path = format!("/participants/MSISDN/{PAYEE_MSISDN}");
    let answer = payee
        .client()
        .send(
            Method::Post,
            Resource::Participants,
            &path,
            None,
            Some(&json!({"fspId": "payeefsp", "currency": CURRENCY})),
        )
        .await?;
    anyhow::ensure!(
        answer.status == 202,
        "party registration refused: {} {}",
        answer.status,
        answer.body
    );
    payee
        .wait_path("PUT", &path, Duration::from_secs(10))
        .await
        .context("no answer to the party registration")?;
    println!(
        "dfsps       payerfsp at {}   payeefsp at {} (owns MSISDN {PAYEE_MSISDN})",
        payer.base_url(),
        payee.base_url()
    );

    let before = balances(&admin).await?;
    println!("\nbefore      {before}");
    println!(
        "transfer    payerfsp sends 100.5 {CURRENCY} to MSISDN {PAYEE_MSISDN}: lookup → quote → transfer"
    );
    let outcome = payer
        .send_money("MSISDN", PAYEE_MSISDN, "100.5", Duration::from_secs(15))
        .await?;
    println!(
        "            transfer {} {} (lookup {:?}, quote {:?}, transfer {:?})",
        outcome.transfer_id, outcome.state, outcome.lookup, outcome.quote, outcome.transfer
    );
    println!(
        "            fulfilment {}",
        outcome.fulfilment.as_deref().unwrap_or("-")
    );
    let after = balances(&admin).await?;
    println!("after       {after}");

    let demo_json = json!({
        "hub": {
            "name": "Hub",
            "fspiopUrl": hub_url,
            "adminUrl": admin_url,
            "adminTokenFile": running.admin_token_path,
            "transport": "DFSP to hub: mutual TLS (TLS 1.2+, client certificate required); hub to DFSP callbacks: plain HTTP on loopback (outbound mTLS not yet built)",
            "caCertificate": pki.ca_cert_path(),
        },
        "currency": CURRENCY,
        "participants": [
            {"name": "payerfsp", "callbackUrl": payer.base_url(), "certificate": payer_identity.cert_path, "key": payer_identity.key_path, "parties": []},
            {"name": "payeefsp", "callbackUrl": payee.base_url(), "certificate": payee_identity.cert_path, "key": payee_identity.key_path, "parties": [{"partyIdType": "MSISDN", "partyIdentifier": PAYEE_MSISDN}]},
        ],
        "lastTransfer": {"transferId": outcome.transfer_id, "state": outcome.state},
    });
    let demo_path = args.data_dir.join("demo.json");
    std::fs::write(&demo_path, serde_json::to_string_pretty(&demo_json)?)
        .with_context(|| format!("writing {}", demo_path.display()))?;
    println!("\nwrote       {}", demo_path.display());
    if args.once {
        running.shutdown().await;
        return Ok(());
    }
    println!("serving     until Ctrl-C");
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}

/// Onboards a simulated DFSP, or (when the data directory is reused) refreshes its endpoints.
async fn onboard(admin: &AdminClient, sim: &Simulator, funds: &str) -> anyhow::Result<()> {
    let existing = admin
        .call(
            reqwest::Method::GET,
            &format!("/participants/{}", sim.name()),
            None,
        )
        .await;
    if existing.is_ok() {
        for (kind, value) in dfsp::provision::callback_endpoints(&sim.base_url()) {
            admin
                .call(
                    reqwest::Method::POST,
                    &format!("/participants/{}/endpoints", sim.name()),
                    Some(json!({"type": kind, "value": value})),
                )
                .await?;
        }
        return Ok(());
    }
    let onboarding = Onboarding {
        name: sim.name().into(),
        currency: CURRENCY.into(),
        net_debit_cap: "5000".into(),
        funds_in: funds.into(),
        callback_base: sim.base_url(),
    };
    admin.onboard(&onboarding).await?;
    Ok(())
}

/// A demo DFSP's client certificate: reused from `<data-dir>/dfsps/<name>/` when present,
/// else issued by the hub's CA and written there (key 0600).
struct Identity {
    cert_pem: String,
    key_pem: String,
    cert_path: PathBuf,
    key_path: PathBuf,
}

fn dfsp_identity(
    pki: &mut pki::dir::PkiDir,
    data_dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<Identity> {
    let dir = data_dir.join("dfsps").join(name);
    let cert_path = dir.join("client.pem");
    let key_path = dir.join("client.key");
    if cert_path.exists() && key_path.exists() {
        return Ok(Identity {
            cert_pem: std::fs::read_to_string(&cert_path)?,
            key_pem: std::fs::read_to_string(&key_path)?,
            cert_path,
            key_path,
        });
    }
    std::fs::create_dir_all(&dir)?;
    let issued = pki
        .issue_client(name, 365)
        .map_err(|e| anyhow::anyhow!("issuing {name}'s certificate: {e}"))?;
    let key_pem = issued.key_pem.clone().unwrap_or_default();
    std::fs::write(&cert_path, &issued.cert_pem)?;
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&key_path)?;
        file.write_all(key_pem.as_bytes())?;
    }
    Ok(Identity {
        cert_pem: issued.cert_pem,
        key_pem,
        cert_path,
        key_path,
    })
}

async fn balances(admin: &AdminClient) -> anyhow::Result<String> {
    let mut parts = Vec::new();
    for name in ["payerfsp", "payeefsp"] {
        let (value, reserved) = admin.position(name, CURRENCY).await?;
        parts.push(format!("{name} position {value} (reserved {reserved})"));
    }
    Ok(parts.join(", "))
}
