//! `ferroloop demo`: a hub on the embedded store, two simulated DFSPs, one P2P transfer.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use dfsp::operator::Provisioned;
use dfsp::provision::{AdminClient, ApprovedRequest, Onboarding};
use dfsp::simulator::{SimOptions, SimParty, SimServerTls, Simulator};
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
        client_cert: Some(pki.client_cert_path()),
        client_key: Some(pki.client_key_path()),
    });
    let store = crate::open_store(&args.data_dir).await?;
    let running = hub::start(config, store.clone()).await?;
    let hub_url = format!("https://localhost:{}", running.fspiop_addr.port());
    let ca_pem = pki.ca().cert_pem().to_string();
    let payer_identity = dfsp_identity(&mut pki, &args.data_dir, "payerfsp")?;
    let payee_identity = dfsp_identity(&mut pki, &args.data_dir, "payeefsp")?;
    let admin_url = format!("http://{}", running.admin_addr);
    println!("hub         FSPIOP {hub_url}   admin {admin_url}");
    println!("            data in {}", args.data_dir.display());

    // Each DFSP signs with its own JWS key (the payer RS256, the payee ES256, to show both)
    // and verifies what the hub originates with the hub's published key.
    let payer_key = dfsp_jws_key(&args.data_dir, "payerfsp", jws::Alg::Rs256)?;
    let payee_key = dfsp_jws_key(&args.data_dir, "payeefsp", jws::Alg::Es256)?;
    // The DFSPs' callback servers: HTTPS with a certificate from the hub's CA; callbacks are
    // mutual TLS too, and only the hub gets in: the client certificate must come from the hub
    // callback CA (which issues the hub's certificate and nothing else, so another DFSP's
    // certificate fails the handshake) and name the hub.
    let server = pki
        .ca()
        .issue_server(&["localhost".to_string()], &[], 365)
        .map_err(|e| anyhow::anyhow!("issuing the DFSP callback server certificate: {e}"))?;
    let callback_ca_pem = pki
        .callback_ca()
        .map(|ca| ca.cert_pem().to_string())
        .context("the hub's PKI directory has no hub callback CA")?;
    let hub_name = pki.hub_name().to_string();
    let server_tls = SimServerTls::new(server.cert_pem, server.key_pem.unwrap_or_default())
        .with_client_ca(callback_ca_pem)
        .only_client(hub_name.clone());
    let options =
        |http, own: &Arc<jws::SigningKey>, peer: &str, peer_key: &Arc<jws::SigningKey>| {
            let mut options = SimOptions::new(http);
            options.tls = Some(server_tls.clone());
            options.signing_key = Some(own.clone());
            options.hub_key = Some(running.jws_public_key.clone());
            options
                .peer_keys
                .insert(peer.to_string(), peer_key.verifying_key().clone());
            options
        };
    let payer_http =
        dfsp::client::mtls_client(&ca_pem, &payer_identity.cert_pem, &payer_identity.key_pem)?;
    let payer = Simulator::start_with_options(
        "payerfsp",
        CURRENCY,
        vec![],
        &hub_url,
        args.payer_listen,
        options(payer_http, &payer_key, "payeefsp", &payee_key),
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
    let payee = Simulator::start_with_options(
        "payeefsp",
        CURRENCY,
        vec![payee_party],
        &hub_url,
        args.payee_listen,
        options(payee_http, &payee_key, "payerfsp", &payer_key),
    )
    .await?;
    // Operator IAM with four eyes: `integration` (API token) asks, `admin` approves. The
    // second administrator, who approved `integration` itself, comes from the host (the demo
    // owns its data directory), as `ferroloop operator create` makes it.
    let http = reqwest::Client::new();
    let operators =
        demo_operators(&http, &admin_url, &running, store.as_ref(), &args.data_dir).await?;
    let admin = operators.provisioned.admin_client(http, &admin_url);
    println!(
        "operators   {} and {} (hub-administrator, approve; {} made on the host) and {} \
         (integration, API token); credentials in {} (0600)",
        operators.provisioned.admin.name(),
        operators.provisioned.second_admin.name(),
        operators.provisioned.second_admin.name(),
        operators.provisioned.integration.name(),
        operators.dir.display()
    );
    for (sim, funds, key) in [(&payer, "10000", &payer_key), (&payee, "10000", &payee_key)] {
        onboard(&admin, sim, funds, key).await?;
    }
    print_approvals(&admin.take_approved())?;
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
    let failures = payer.signature_failure_count() + payee.signature_failure_count();
    anyhow::ensure!(
        failures == 0,
        "{failures} hub message(s) failed the DFSPs' signature check"
    );
    println!(
        "signatures  every DFSP message verified by the hub; every hub message verified by the DFSPs (hub key {})",
        running.jws_public_key.fingerprint()
    );
    println!(
        "evidence    ferroloop evidence verify {} --data-dir {}",
        outcome.transfer_id,
        args.data_dir.display()
    );

    let demo_json = json!({
        "hub": {
            "name": "Hub",
            "fspiopUrl": hub_url,
            "adminUrl": admin_url,
            "transport": "mutual TLS both ways (TLS 1.2+): DFSPs present client certificates from the hub's CA to the FSPIOP listener; the hub presents its client certificate (from the hub callback CA) to the DFSPs' https callback servers and verifies their certificates against the hub's CA",
            "hubClientCertificate": pki.client_cert_path(),
            "caCertificate": pki.ca_cert_path(),
            "hubCallbackCaCertificate": pki.callback_ca_cert_path(),
            "dfspInboundServerMustTrust": {
                "clientCa": pki.callback_ca_cert_path(),
                "clientName": hub_name,
                "notThis": pki.ca_cert_path(),
                "why": "hub-callback-ca.pem issues the hub's client certificate and nothing else; ca.pem also issues every DFSP's client certificate, so an inbound server trusting it lets any DFSP call another directly. Require a client certificate from hub-callback-ca.pem whose SAN URI urn:ferroloop:participant:<name> (or CN) is the hub's name.",
            },
            "jws": {
                "alg": running.jws_public_key.alg().as_str(),
                "fingerprint": running.jws_public_key.fingerprint(),
                "publicKey": running.jws_public_key.to_pem(),
                "published": [format!("{hub_url}/hub/jwsKey"), format!("{admin_url}/hub/jwsKey")],
                "signs": "every message the hub originates (error callbacks, PATCH notifications, GET answers, party-oracle answers); DFSP messages are forwarded with their own signature",
                "verifies": "every DFSP POST/PUT/PATCH against the sender's registered keys (3105 on failure)",
            },
        },
        "operators": {
            "fourEyes": "every sensitive admin operation needs one approval by another operator; none is accepted while fewer than two operators can approve",
            "admin": {
                "name": operators.provisioned.admin.name(),
                "roles": ["hub-administrator"],
                "passwordFile": operators.file(ADMIN_NAME, PASSWORD_FILE),
                "totpSecretFile": operators.file(ADMIN_NAME, TOTP_FILE),
            },
            "secondAdmin": {
                "name": operators.provisioned.second_admin.name(),
                "roles": ["hub-administrator"],
                "createdFrom": "the host (ferroloop operator create)",
                "passwordFile": operators.file(SECOND_ADMIN_NAME, PASSWORD_FILE),
                "totpSecretFile": operators.file(SECOND_ADMIN_NAME, TOTP_FILE),
            },
            "integration": {
                "name": operators.provisioned.integration.name(),
                "roles": ["integration"],
                "passwordFile": operators.file(INTEGRATION_NAME, PASSWORD_FILE),
                "totpSecretFile": operators.file(INTEGRATION_NAME, TOTP_FILE),
                "apiTokenFile": operators.file(INTEGRATION_NAME, TOKEN_FILE),
            },
        },
        "currency": CURRENCY,
        "participants": [
            {"name": "payerfsp", "callbackUrl": payer.base_url(), "certificate": payer_identity.cert_path, "key": payer_identity.key_path, "jwsKey": jws_key_path(&args.data_dir, "payerfsp"), "jwsFingerprint": payer_key.verifying_key().fingerprint(), "parties": []},
            {"name": "payeefsp", "callbackUrl": payee.base_url(), "certificate": payee_identity.cert_path, "key": payee_identity.key_path, "jwsKey": jws_key_path(&args.data_dir, "payeefsp"), "jwsFingerprint": payee_key.verifying_key().fingerprint(), "parties": [{"partyIdType": "MSISDN", "partyIdentifier": PAYEE_MSISDN}]},
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

/// Onboards a simulated DFSP, or (when the data directory is reused) refreshes its endpoints
/// and makes sure its JWS key is registered.
async fn onboard(
    admin: &AdminClient,
    sim: &Simulator,
    funds: &str,
    key: &jws::SigningKey,
) -> anyhow::Result<()> {
    let public = key.verifying_key();
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
        let keys = admin.jws_keys(sim.name()).await?;
        let registered = keys.as_array().is_some_and(|keys| {
            keys.iter()
                .any(|k| k["fingerprint"] == public.fingerprint() && k["status"] == "active")
        });
        if !registered {
            admin.add_jws_key(sim.name(), &public.to_pem()).await?;
        }
        return Ok(());
    }
    let onboarding = Onboarding::new(sim.name(), CURRENCY, "5000", funds, sim.base_url())
        .with_jws_public_key(public.to_pem());
    admin.onboard(&onboarding).await?;
    Ok(())
}

const ADMIN_NAME: &str = dfsp::operator::ADMIN;
const INTEGRATION_NAME: &str = dfsp::operator::INTEGRATION;
const SECOND_ADMIN_NAME: &str = dfsp::operator::SECOND_ADMIN;
const PASSWORD_FILE: &str = "password";
const TOTP_FILE: &str = "totp-secret";
const TOKEN_FILE: &str = "api-token";

/// The demo's operators and where their credentials are kept
/// (`<data-dir>/operators/<name>/{password,totp-secret,api-token}`, 0600).
struct DemoOperators {
    provisioned: Provisioned,
    dir: PathBuf,
}

impl DemoOperators {
    fn file(&self, operator: &str, what: &str) -> PathBuf {
        self.dir.join(operator).join(what)
    }
}

/// Sets up the operators on a fresh hub — the second administrator from the host
/// ([`hub::iam::host_create_operator`], what `ferroloop operator create` runs), the rest
/// through the API ([`dfsp::operator::provision`]) — and keeps their credentials; on a reused
/// data directory (the one-time passwords are gone) logs them in again with the kept
/// credentials and makes a new API token.
async fn demo_operators(
    http: &reqwest::Client,
    admin_url: &str,
    running: &hub::RunningHub,
    store: &dyn ledger::LedgerStore,
    data_dir: &std::path::Path,
) -> anyhow::Result<DemoOperators> {
    let dir = data_dir.join("operators");
    let operators = |provisioned| DemoOperators {
        provisioned,
        dir: dir.clone(),
    };
    if running.initial_admin_password_path.exists() {
        let second = hub::iam::reset_password_file(data_dir, SECOND_ADMIN_NAME);
        if !second.exists() {
            let now_ms = time::OffsetDateTime::now_utc()
                .unix_timestamp()
                .saturating_mul(1000);
            hub::iam::host_create_operator(
                store,
                data_dir,
                SECOND_ADMIN_NAME,
                &["hub-administrator".to_string()],
                now_ms,
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating {SECOND_ADMIN_NAME} from the host: {e}"))?;
        }
        let provisioned = dfsp::operator::provision(
            http.clone(),
            admin_url,
            &running.initial_admin_password_path,
            &second,
        )
        .await
        .context("setting up the hub's operators")?;
        let operators = operators(provisioned);
        for session in [
            &operators.provisioned.admin,
            &operators.provisioned.second_admin,
            &operators.provisioned.integration,
        ] {
            let totp = session
                .totp()
                .map(|t| t.to_base32())
                .context("operator without TOTP")?;
            keep(
                &operators.file(session.name(), PASSWORD_FILE),
                session.password(),
            )?;
            keep(&operators.file(session.name(), TOTP_FILE), &totp)?;
        }
        keep(
            &operators.file(INTEGRATION_NAME, TOKEN_FILE),
            &operators.provisioned.token,
        )?;
        return Ok(operators);
    }
    let login = |name: &'static str| {
        let (password, totp) = (
            dir.join(name).join(PASSWORD_FILE),
            dir.join(name).join(TOTP_FILE),
        );
        async move {
            let read = |path: &std::path::Path| {
                std::fs::read_to_string(path)
                    .map(|text| text.trim().to_string())
                    .with_context(|| {
                        format!(
                            "{} is gone and so is {}: this data directory's operators were not \
                             set up by the demo; use a fresh --data-dir",
                            running.initial_admin_password_path.display(),
                            path.display()
                        )
                    })
            };
            let secret = dfsp::operator::TotpSecret::from_base32(&read(&totp)?)
                .map_err(|e| anyhow::anyhow!("{}: {e}", totp.display()))?;
            dfsp::operator::OperatorSession::login(
                http.clone(),
                admin_url,
                name,
                &read(&password)?,
                Some(&secret),
            )
            .await
            .with_context(|| format!("logging in as {name}"))
        }
    };
    let admin = login(ADMIN_NAME).await?;
    let second_admin = login(SECOND_ADMIN_NAME).await?;
    let integration = login(INTEGRATION_NAME).await?;
    let token = integration
        .create_full_api_token("demo", dfsp::operator::PROVISIONED_TOKEN_SECS)
        .await
        .context("creating integration's API token")?;
    let operators = operators(Provisioned {
        admin,
        integration,
        token,
        second_admin,
    });
    keep(
        &operators.file(INTEGRATION_NAME, TOKEN_FILE),
        &operators.provisioned.token,
    )?;
    Ok(operators)
}

/// Writes a credential readable by its owner only (0600, in 0700 directories).
fn keep(path: &std::path::Path, secret: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // `<data-dir>/operators/<name>/`: both levels 0700.
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        for level in [Some(dir), dir.parent()].into_iter().flatten() {
            std::fs::set_permissions(level, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    crate::pki_cmd::write_private(path, &format!("{secret}\n"))
        .with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// Prints the four-eyes trail of the onboarding: who asked for each step, who approved it.
/// Every step must have been made by `integration` and approved by `admin`.
fn print_approvals(approved: &[ApprovedRequest]) -> anyhow::Result<()> {
    if approved.is_empty() {
        println!("four eyes   nothing needed an approval (the data directory was already set up)");
        return Ok(());
    }
    for request in approved {
        anyhow::ensure!(
            request.maker == INTEGRATION_NAME && request.approver == ADMIN_NAME,
            "request {} ({}) was made by {} and approved by {}",
            request.request_id,
            request.operation,
            request.maker,
            request.approver
        );
    }
    println!(
        "four eyes   {} onboarding steps, each made by {INTEGRATION_NAME} and approved by {ADMIN_NAME}:",
        approved.len()
    );
    // One line per step; a participant's many endpoint changes on one line.
    let mut lines: Vec<(String, String, usize)> = Vec::new();
    for request in approved {
        let subject = request.subject.clone().unwrap_or_default();
        match lines.last_mut() {
            Some((operation, last_subject, count))
                if *operation == request.permission && *last_subject == subject =>
            {
                *count += 1;
            }
            _ => lines.push((request.permission.clone(), subject, 1)),
        }
    }
    for (operation, subject, count) in lines {
        let times = if count > 1 {
            format!(" ×{count}")
        } else {
            String::new()
        };
        println!(
            "            {subject:<9} {operation}{times}: made by {INTEGRATION_NAME}, approved by {ADMIN_NAME}"
        );
    }
    Ok(())
}

fn jws_key_path(data_dir: &std::path::Path, name: &str) -> PathBuf {
    data_dir
        .join("dfsps")
        .join(name)
        .join("jws-signing-key.pem")
}

/// A demo DFSP's JWS signing key: reused from `<data-dir>/dfsps/<name>/` when present, else
/// generated there (0600).
fn dfsp_jws_key(
    data_dir: &std::path::Path,
    name: &str,
    alg: jws::Alg,
) -> anyhow::Result<Arc<jws::SigningKey>> {
    let path = jws_key_path(data_dir, name);
    if path.exists() {
        let pem = std::fs::read_to_string(&path)?;
        let key = jws::SigningKey::from_pem(&pem)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        return Ok(Arc::new(key));
    }
    let key = match alg {
        jws::Alg::Rs256 => jws::SigningKey::generate_rs256(2048),
        _ => jws::SigningKey::generate_es256(),
    }
    .map_err(|e| anyhow::anyhow!("generating {name}'s JWS key: {e}"))?;
    let pem = key
        .to_pkcs8_pem()
        .map_err(|e| anyhow::anyhow!("encoding {name}'s JWS key: {e}"))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::pki_cmd::write_private(&path, &pem)?;
    Ok(Arc::new(key))
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
    crate::pki_cmd::write_private(&key_path, &key_pem)?;
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
