//! Crash safety, repeatedly: the hub process is killed with SIGKILL at a random moment under a
//! stream of signed prepares (and the payee's fulfils), restarted on the same data directory,
//! and checked — every round, on the state accumulated over all rounds:
//!
//! - every transfer acknowledged with `202` (in any round) exists and reaches a final state
//!   (`COMMITTED`, or `EXPIRED_RESERVED` when its forward or fulfil died with the process);
//! - positions reconcile: the payer's position equals the sum of committed transfers, the
//!   payee's its negation, and nothing stays reserved — so nothing was lost or applied twice;
//! - resending acknowledged prepares is recognised as duplicates (nothing moves twice);
//! - `ferroloop audit verify` passes, and the head recorded in the previous round is still in
//!   the chain unchanged (`--expect-head`).
//!
//! A last round stops the hub with SIGTERM instead: it must drain and exit 0 within a deadline,
//! and the same checks hold after the restart.
//!
//! The number of rounds is `FERROLOOP_CRASH_LOOPS` (default 3, which the test command runs);
//! `scripts/crash-loop` runs 100 and keeps a report. The kill moments come from
//! `FERROLOOP_CRASH_SEED` (printed, so a failing run can be replayed).

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Pair, free_port, spawn_hub};
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::sync::Mutex;

/// Rounds the test command runs.
const DEFAULT_LOOPS: usize = 3;
/// Concurrent senders of prepares.
const SENDERS: usize = 12;
/// The kill comes this long after the round's load started, at the earliest …
const KILL_AFTER_MIN_MS: u64 = 30;
/// … and at the latest.
const KILL_AFTER_MAX_MS: u64 = 900;
/// Expiration of every prepare: short, so that transfers cut off by the crash expire quickly.
const EXPIRY_SECS: i64 = 2;
/// How long the hub may take to drain and exit after SIGTERM (its own deadline is shorter).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(30);

fn env_number(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// A small deterministic generator (SplitMix64) for the kill moments.
struct Moments(u64);

impl Moments {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn kill_after(&mut self) -> Duration {
        let span = KILL_AFTER_MAX_MS - KILL_AFTER_MIN_MS;
        Duration::from_millis(KILL_AFTER_MIN_MS + self.next() % span)
    }
}

fn dec(text: &str) -> Decimal {
    text.parse().expect("decimal")
}

/// `ferroloop audit verify --json` (with the head recorded earlier, if any); returns the head.
fn audit_verify(data_dir: &Path, expect_head: Option<&str>) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferroloop"));
    command
        .args(["audit", "verify", "--json", "--data-dir"])
        .arg(data_dir);
    if let Some(head) = expect_head {
        command.args(["--expect-head", head]);
    }
    let output = command.output().expect("run ferroloop audit verify");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "audit verify failed (expected head {expect_head:?}): {text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(&text).expect("audit verify --json");
    format!(
        "{}:{}",
        report["head_seq"],
        report["head_hash"].as_str().expect("head hash")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_and_doubles_nothing() {
    let loops = env_number("FERROLOOP_CRASH_LOOPS").map_or(DEFAULT_LOOPS, |n| n as usize);
    let seed = env_number("FERROLOOP_CRASH_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    println!("crash-loop: {loops} rounds, FERROLOOP_CRASH_SEED={seed}");
    let mut moments = Moments(seed);

    let dir = tempfile::tempdir().expect("tempdir");
    let (fspiop, admin_addr) = (free_port(), free_port());
    let (mut hub, line) = spawn_hub(dir.path(), fspiop, admin_addr);
    let operators = common::provision(dir.path(), admin_addr, &line).await;
    let admin = operators.admin_client(reqwest::Client::new(), format!("http://{admin_addr}"));
    let pair = Arc::new(Pair::start("loop", fspiop, &admin).await);

    // Every prepare sent in any round (with whether the hub acknowledged it), and the final
    // state of each transfer the hub holds once known. A prepare the hub committed but whose
    // `202` died with the process may exist too: it must be final as well, and counts in the
    // positions if its payee fulfilled it.
    let mut all_sent: Vec<Sent> = Vec::new();
    let mut committed_total = Decimal::ZERO;
    let mut final_states: std::collections::HashMap<String, String> = Default::default();
    let mut head: Option<String> = None;

    // The rounds end with SIGKILL; one last round ends with SIGTERM (graceful shutdown).
    for round in 1..=loops + 1 {
        let graceful = round == loops + 1;
        // Load, then SIGKILL (or SIGTERM) at a random moment while it runs.
        let sent_here: Arc<Mutex<Vec<Sent>>> = Arc::default();
        let acked = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut senders = tokio::task::JoinSet::new();
        for _ in 0..SENDERS {
            let (pair, sent_here, acked, stop) =
                (pair.clone(), sent_here.clone(), acked.clone(), stop.clone());
            senders.spawn(async move {
                while !stop.load(Ordering::SeqCst) {
                    let body = pair.prepare(EXPIRY_SECS);
                    let sent = pair.send(&body).await;
                    let id = body["transferId"].as_str().unwrap_or_default().to_string();
                    let acknowledged = matches!(&sent, Ok(answer) if answer.status == 202);
                    if acknowledged {
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    sent_here.lock().await.push(Sent {
                        id,
                        body,
                        acknowledged,
                    });
                    if sent.is_err() {
                        // The hub is gone: this sender's round is over.
                        break;
                    }
                }
            });
        }
        let kill_after = moments.kill_after();
        tokio::time::sleep(kill_after).await;
        if graceful {
            // SIGTERM: stop accepting, drain what is in flight, exit 0 within the deadline.
            let sent = Command::new("kill")
                .args(["-TERM", &hub.id().to_string()])
                .status()
                .expect("run kill -TERM");
            assert!(sent.success(), "kill -TERM failed");
            let waited = Instant::now();
            let status = loop {
                if let Some(status) = hub.try_wait().expect("wait for the hub") {
                    break status;
                }
                assert!(
                    waited.elapsed() < SHUTDOWN_WAIT,
                    "the hub did not exit within {SHUTDOWN_WAIT:?} of SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert!(
                status.success(),
                "after SIGTERM the hub exited with {status}"
            );
        } else {
            hub.kill().expect("SIGKILL the hub");
            let _ = hub.wait();
        }
        stop.store(true, Ordering::SeqCst);
        while senders.join_next().await.is_some() {}
        let round_sent = sent_here.lock().await.clone();
        let round_acked: Vec<&Sent> = round_sent.iter().filter(|s| s.acknowledged).collect();

        let restarted = Instant::now();
        let (next, _) = spawn_hub(dir.path(), fspiop, admin_addr);
        hub = next;
        let restart_ms = restarted.elapsed().as_millis();

        // Every acknowledged transfer, of this round and every earlier one, is final; so is
        // every unacknowledged one the hub holds.
        let deadline = Instant::now() + Duration::from_secs(30);
        let (mut round_committed, mut round_expired) = (0usize, 0usize);
        for sent in round_sent.iter().chain(all_sent.iter()) {
            let (id, body) = (&sent.id, &sent.body);
            let state = loop {
                let transfer = match admin
                    .call(reqwest::Method::GET, &format!("/transfers/{id}"), None)
                    .await
                {
                    Ok(transfer) => transfer,
                    // Never durable, never acknowledged: the hub rightly does not know it.
                    Err(dfsp::provision::AdminError::Refused { body, .. })
                        if !sent.acknowledged && body.contains("\"3208\"") =>
                    {
                        break None;
                    }
                    Err(e) => panic!(
                        "round {round} (seed {seed}): transfer {id} (acknowledged: {}) lost: {e}",
                        sent.acknowledged
                    ),
                };
                let state = transfer["state"].as_str().unwrap_or_default().to_string();
                if state != "RESERVED" || Instant::now() > deadline {
                    break Some(state);
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            };
            let Some(state) = state else { continue };
            assert!(
                matches!(state.as_str(), "COMMITTED" | "EXPIRED_RESERVED"),
                "round {round} (seed {seed}): transfer {id} ended {state}"
            );
            match final_states.get(id) {
                // A final state never changes afterwards.
                Some(before) => assert_eq!(
                    before, &state,
                    "round {round} (seed {seed}): transfer {id} changed after it was final"
                ),
                None => {
                    if state == "COMMITTED" {
                        assert!(
                            body["amount"]["amount"] == "1",
                            "round {round}: unexpected amount"
                        );
                        committed_total += dec(body["amount"]["amount"].as_str().unwrap_or("0"));
                        round_committed += 1;
                    } else {
                        round_expired += 1;
                    }
                    final_states.insert(id.clone(), state);
                }
            }
        }

        // Resending acknowledged prepares (this round's first few) moves nothing.
        all_sent.extend(round_sent.iter().cloned());
        for Sent { body, .. } in round_acked.iter().take(5).copied() {
            let answer = pair.send(body).await.expect("resend");
            assert_eq!(answer.status, 202, "{}", answer.body);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;

        let (payer_value, payer_reserved) = admin
            .position(pair.payer.name(), "USD")
            .await
            .expect("payer position");
        let (payee_value, payee_reserved) = admin
            .position(pair.payee.name(), "USD")
            .await
            .expect("payee position");
        assert_eq!(
            dec(&payer_reserved),
            Decimal::ZERO,
            "round {round}: reserved left"
        );
        assert_eq!(
            dec(&payee_reserved),
            Decimal::ZERO,
            "round {round}: reserved left"
        );
        assert_eq!(
            dec(&payer_value),
            committed_total,
            "round {round} (seed {seed}): payer position vs committed transfers"
        );
        assert_eq!(
            dec(&payee_value),
            -committed_total,
            "round {round} (seed {seed}): payee position vs committed transfers"
        );

        // The audit chain verifies, and what it held a round ago is still there unchanged.
        head = Some(audit_verify(dir.path(), head.as_deref()));
        println!(
            "crash-loop round {round}/{}: {} after {} ms, acknowledged {} \
             (committed {round_committed}, expired {round_expired}), restart {restart_ms} ms, \
             total committed {committed_total}, audit head {}",
            loops + 1,
            if graceful { "SIGTERM" } else { "SIGKILL" },
            kill_after.as_millis(),
            round_acked.len(),
            head.as_deref().unwrap_or_default(),
        );
    }
    hub.kill().expect("stop hub");
    let _ = hub.wait();
    audit_verify(dir.path(), head.as_deref());
    println!(
        "crash-loop: {loops} rounds passed, {} prepares sent, {} acknowledged, {} committed \
         (seed {seed})",
        all_sent.len(),
        all_sent.iter().filter(|s| s.acknowledged).count(),
        committed_total
    );
}

/// One prepare sent during a round.
#[derive(Clone)]
struct Sent {
    id: String,
    body: Value,
    acknowledged: bool,
}
