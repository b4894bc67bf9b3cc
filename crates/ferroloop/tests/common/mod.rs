//! What the binary-level tests share: starting `ferroloop hub` as a child process, the
//! four-eyes provisioning with a second administrator made on the host, and two signing DFSP
//! simulators with agreed terms for prepares.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dfsp::client::Answer;
use dfsp::operator::Provisioned;
use dfsp::provision::{AdminClient, Onboarding};
use dfsp::simulator::{SimOptions, SimParty, Simulator, in_seconds};
use fspiop::headers::{Method, Resource};
use serde_json::{Value, json};

/// A free loopback port.
pub fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Starts `ferroloop hub` on `data_dir` (plain HTTP: these tests are about the store and the
/// process, the transport has its own) and waits for its "listening" line, which it returns.
pub fn spawn_hub(data_dir: &Path, fspiop: SocketAddr, admin: SocketAddr) -> (Child, String) {
    // FERROLOOP_TEST_HUB_LOG=<file> keeps the hubs' logs (appended) for a failing test.
    let stderr = match std::env::var_os("FERROLOOP_TEST_HUB_LOG") {
        Some(path) => std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_or_else(|_| Stdio::null(), Stdio::from),
        None => Stdio::null(),
    };
    let mut child = hub_command(data_dir, fspiop, admin)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn ferroloop hub");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read listening line");
    assert!(
        line.starts_with("ferroloop hub listening"),
        "unexpected first line: {line:?}"
    );
    (child, line)
}

/// The command line of a hub on `data_dir`.
pub fn hub_command(data_dir: &Path, fspiop: SocketAddr, admin: SocketAddr) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferroloop"));
    command
        .args(["hub", "--data-dir"])
        .arg(data_dir)
        .args([
            "--fspiop-listen",
            &fspiop.to_string(),
            "--admin-listen",
            &admin.to_string(),
            "--metrics-listen",
            "127.0.0.1:0",
            "--tls",
            "off",
        ])
        .env("RUST_LOG", "warn");
    command
}

/// The initial admin password file named in the "listening" line.
pub fn password_file(line: &str) -> PathBuf {
    let path = line
        .split("initial_admin_password_file=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("initial admin password file");
    PathBuf::from(path)
}

/// Four eyes from the start: the second administrator is made on the host
/// (`ferroloop operator create`), then `admin` asks for `integration` and the second
/// administrator approves.
pub async fn provision(data_dir: &Path, admin: SocketAddr, listening: &str) -> Provisioned {
    let output = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(["operator", "create", dfsp::operator::SECOND_ADMIN])
        .args(["--role", "hub-administrator", "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferroloop operator create");
    assert!(
        output.status.success(),
        "operator create: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let second = hub::iam::reset_password_file(data_dir, dfsp::operator::SECOND_ADMIN);
    dfsp::operator::provision(
        reqwest::Client::new(),
        &format!("http://{admin}"),
        &password_file(listening),
        &second,
    )
    .await
    .expect("operators provisioned")
}

/// A payer and a payee simulator (both signing), onboarded with large limits, and the terms
/// of an agreed quote of 1 USD that every prepare repeats.
pub struct Pair {
    pub payer: Simulator,
    pub payee: Simulator,
    pub terms: (Value, Value),
}

impl Pair {
    pub async fn start(prefix: &str, fspiop: SocketAddr, admin: &AdminClient) -> Pair {
        let hub_url = format!("http://{fspiop}");
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        let payer_key = Arc::new(jws::SigningKey::generate_es256().expect("payer key"));
        let payee_key = Arc::new(jws::SigningKey::generate_es256().expect("payee key"));
        let signing = |key: &Arc<jws::SigningKey>| {
            let mut options = SimOptions::new(reqwest::Client::new());
            options.signing_key = Some(key.clone());
            options
        };
        let (payer_name, payee_name) = (format!("{prefix}payer"), format!("{prefix}payee"));
        let payer = Simulator::start_with_options(
            &payer_name,
            "USD",
            vec![],
            &hub_url,
            any,
            signing(&payer_key),
        )
        .await
        .expect("payer");
        let party = SimParty {
            id_type: "MSISDN".into(),
            identifier: "15551238888".into(),
            first_name: "S".into(),
            last_name: "T".into(),
        };
        let payee = Simulator::start_with_options(
            &payee_name,
            "USD",
            vec![party],
            &hub_url,
            any,
            signing(&payee_key),
        )
        .await
        .expect("payee");
        for (sim, key) in [(&payer, &payer_key), (&payee, &payee_key)] {
            let onboarding =
                Onboarding::new(sim.name(), "USD", "100000000", "100000000", sim.base_url())
                    .with_jws_public_key(key.verifying_key().to_pem());
            admin.onboard(&onboarding).await.expect("onboard");
        }
        payee.set_quote_validity(24 * 3600);
        let payee_party = json!({"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "15551238888", "fspId": payee_name}});
        let quoted = payer
            .quote(&payee_name, &payee_party, "1", Duration::from_secs(15))
            .await
            .expect("quote");
        let terms = (
            quoted.body["ilpPacket"].clone(),
            quoted.body["condition"].clone(),
        );
        Pair {
            payer,
            payee,
            terms,
        }
    }

    /// A new prepare of 1 USD under the agreed terms, expiring in `expiry_secs`.
    pub fn prepare(&self, expiry_secs: i64) -> Value {
        json!({
            "transferId": uuid::Uuid::new_v4().to_string(),
            "payerFsp": self.payer.name(),
            "payeeFsp": self.payee.name(),
            "amount": {"amount": "1", "currency": "USD"},
            "ilpPacket": self.terms.0,
            "condition": self.terms.1,
            "expiration": in_seconds(expiry_secs),
        })
    }

    /// Sends a prepare signed by the payer.
    pub async fn send(&self, body: &Value) -> Result<Answer, reqwest::Error> {
        self.payer
            .client()
            .send(
                Method::Post,
                Resource::Transfers,
                "/transfers",
                Some(self.payee.name()),
                Some(body),
            )
            .await
    }
}
