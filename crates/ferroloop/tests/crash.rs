//! Crash safety: kill the hub process with SIGKILL while transfers are in flight, restart it on
//! the same data directory, and prove that every transfer acknowledged with `202` survived,
//! reached a final state (expiry timers are rebuilt on restart), and that positions reconcile
//! with the transfers. Resending acknowledged prepares after the restart must not double them.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use dfsp::provision::Onboarding;
use dfsp::simulator::{SimOptions, SimParty, Simulator, in_seconds};
use fspiop::headers::{Method, Resource};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use tokio::sync::Mutex;

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Starts `ferroloop hub` and waits for its "listening" line; returns the child and the path
/// of the initial admin password file it names (which exists until `admin` changes the
/// password, so only after the first start).
fn spawn_hub(data_dir: &Path, fspiop: SocketAddr, admin: SocketAddr) -> (Child, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(["hub", "--data-dir"])
        .arg(data_dir)
        .args([
            "--fspiop-listen",
            &fspiop.to_string(),
            "--admin-listen",
            &admin.to_string(),
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        // This test is about durability; the transport is covered by the hub's mTLS tests.
        .args(["--tls", "off"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
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
    let password_file = line
        .split("initial_admin_password_file=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("initial admin password file");
    (child, PathBuf::from(password_file))
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_no_acknowledged_transfer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fspiop, admin_addr) = (free_port(), free_port());
    let (mut hub, password_file) = spawn_hub(dir.path(), fspiop, admin_addr);
    let admin_url = format!("http://{admin_addr}");
    // `admin` and `integration` (with an API token); four eyes on, `admin` approves. They
    // outlive the restart below: the one-time password is gone by then.
    // Four eyes need two people: the second administrator comes from the host, made by
    // another process while the hub runs.
    let output = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(["operator", "create", dfsp::operator::SECOND_ADMIN])
        .args(["--role", "hub-administrator", "--data-dir"])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run ferroloop operator create");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let second_admin = hub::iam::reset_password_file(dir.path(), dfsp::operator::SECOND_ADMIN);
    let operators = dfsp::operator::provision(
        reqwest::Client::new(),
        &admin_url,
        &password_file,
        &second_admin,
    )
    .await
    .expect("operators provisioned");
    let hub_url = format!("http://{fspiop}");
    let any = SocketAddr::from(([127, 0, 0, 1], 0));
    // Both DFSPs sign (the hub verifies by default); their keys are registered at onboarding.
    let payer_key = Arc::new(jws::SigningKey::generate_es256().expect("payer key"));
    let payee_key = Arc::new(jws::SigningKey::generate_es256().expect("payee key"));
    let signing = |key: &Arc<jws::SigningKey>| {
        let mut options = SimOptions::new(reqwest::Client::new());
        options.signing_key = Some(key.clone());
        options
    };
    let payer = Simulator::start_with_options(
        "crashpayer",
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
        identifier: "15551230000".into(),
        first_name: "C".into(),
        last_name: "P".into(),
    };
    let payee = Simulator::start_with_options(
        "crashpayee",
        "USD",
        vec![party],
        &hub_url,
        any,
        signing(&payee_key),
    )
    .await
    .expect("payee");
    let admin = operators.admin_client(reqwest::Client::new(), &admin_url);
    for (sim, key) in [(&payer, &payer_key), (&payee, &payee_key)] {
        let onboarding = Onboarding::new(sim.name(), "USD", "1000000", "1000000", sim.base_url())
            .with_jws_public_key(key.verifying_key().to_pem());
        admin.onboard(&onboarding).await.expect("onboard");
    }
    payee.set_quote_validity(3600);
    let payee_party = json!({"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "15551230000", "fspId": "crashpayee"}});
    let quoted = payer
        .quote("crashpayee", &payee_party, "1", Duration::from_secs(15))
        .await
        .expect("quote");
    let terms = (
        quoted.body["ilpPacket"].clone(),
        quoted.body["condition"].clone(),
    );

    // Fire prepares until well after the kill; remember which were acknowledged.
    let acknowledged: Arc<Mutex<Vec<(String, Value)>>> = Arc::default();
    let acked_count = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for worker in 0..16 {
        let (payer, terms, acknowledged, acked_count) = (
            payer.clone(),
            terms.clone(),
            acknowledged.clone(),
            acked_count.clone(),
        );
        senders.spawn(async move {
            for round in 0..40 {
                // Every prepare repeats the agreed terms (amount 1); the hub checks them.
                let _ = (worker, round);
                let amount = "1";
                let body = json!({
                    "transferId": uuid::Uuid::new_v4().to_string(),
                    "payerFsp": "crashpayer",
                    "payeeFsp": "crashpayee",
                    "amount": {"amount": amount, "currency": "USD"},
                    "ilpPacket": terms.0,
                    "condition": terms.1,
                    "expiration": in_seconds(4),
                });
                let sent = payer
                    .client()
                    .send(
                        Method::Post,
                        Resource::Transfers,
                        "/transfers",
                        Some("crashpayee"),
                        Some(&body),
                    )
                    .await;
                if let Ok(answer) = sent
                    && answer.status == 202
                {
                    let id = body["transferId"].as_str().unwrap_or_default().to_string();
                    acknowledged.lock().await.push((id, body));
                    acked_count.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    }
    let started = Instant::now();
    while acked_count.load(Ordering::SeqCst) < 150 && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    hub.kill().expect("SIGKILL the hub");
    let _ = hub.wait();
    while senders.join_next().await.is_some() {}
    let acknowledged = acknowledged.lock().await.clone();
    assert!(
        acknowledged.len() >= 150,
        "only {} transfers were acknowledged before the kill",
        acknowledged.len()
    );

    let (mut hub, password_file) = spawn_hub(dir.path(), fspiop, admin_addr);
    assert!(
        !password_file.exists(),
        "the one-time password is gone once admin changed it"
    );
    // The same API token and approver as before the crash.
    let admin = operators.admin_client(reqwest::Client::new(), &admin_url);

    // Every acknowledged transfer exists and becomes final (commit, or expiry within ~1 s).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut committed = Decimal::ZERO;
    let mut committed_id = None;
    for (id, body) in &acknowledged {
        let state = loop {
            let transfer = admin
                .call(reqwest::Method::GET, &format!("/transfers/{id}"), None)
                .await;
            let transfer =
                transfer.unwrap_or_else(|e| panic!("acknowledged transfer {id} lost: {e}"));
            let state = transfer["state"].as_str().unwrap_or_default().to_string();
            if state != "RESERVED" || Instant::now() > deadline {
                break state;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert!(
            matches!(state.as_str(), "COMMITTED" | "EXPIRED_RESERVED"),
            "transfer {id} ended {state}"
        );
        if state == "COMMITTED" {
            committed += dec(body["amount"]["amount"].as_str().unwrap_or("0"));
            if committed_id.is_none() {
                committed_id = Some(id.clone());
            }
        }
    }

    let reconcile = |label: &'static str| {
        let admin = admin.clone();
        async move {
            let (payer_value, payer_reserved) = admin
                .position("crashpayer", "USD")
                .await
                .expect("payer position");
            let (payee_value, payee_reserved) = admin
                .position("crashpayee", "USD")
                .await
                .expect("payee position");
            assert_eq!(
                dec(&payer_reserved),
                Decimal::ZERO,
                "{label}: payer reservation left"
            );
            assert_eq!(dec(&payee_reserved), Decimal::ZERO, "{label}");
            assert_eq!(
                dec(&payer_value),
                committed,
                "{label}: payer position vs committed transfers"
            );
            assert_eq!(
                dec(&payee_value),
                -committed,
                "{label}: payee position vs committed transfers"
            );
        }
    };
    reconcile("after restart").await;

    // Resending acknowledged prepares is recognised as duplicates: nothing moves twice.
    for (_, body) in acknowledged.iter().take(20) {
        let answer = payer
            .client()
            .send(
                Method::Post,
                Resource::Transfers,
                "/transfers",
                Some("crashpayee"),
                Some(body),
            )
            .await
            .expect("resend");
        assert_eq!(answer.status, 202, "{}", answer.body);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    reconcile("after resends").await;

    hub.kill().expect("stop hub");
    let _ = hub.wait();

    // The signed evidence of a transfer acknowledged before the crash re-verifies offline,
    // from the data directory alone.
    let id = committed_id.expect("at least one transfer committed");
    let output = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(["evidence", "verify", &id, "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run ferroloop evidence verify");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "evidence verify failed: {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for expected in [
        "transfer.prepare",
        "crashpayer",
        "transfer.fulfil",
        "crashpayee",
        "VERIFIED",
        "evidence verifies",
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from:\n{text}"
        );
    }
    let unknown = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(["evidence", "verify", "no-such-transfer", "--data-dir"])
        .arg(dir.path())
        .output()
        .expect("run ferroloop evidence verify");
    assert!(!unknown.status.success(), "an unknown transfer must fail");
}
