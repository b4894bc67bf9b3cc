//! Revocation without a restart, as an operator does it: `ferroloop hub` (bootstrap PKI,
//! mutual TLS) runs; `ferroloop pki issue-client` gives a DFSP a certificate that works;
//! `ferroloop pki revoke` plus `SIGHUP` make the hub refuse it on new connections while the hub
//! keeps running (closing open connections on reload is tested in `crates/hub/tests/mtls.rs`).
//! Curl is the (non-Rust) client.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// `ferroloop pki --data-dir <dir> <args>`.
fn pki(args: &[&str], data_dir: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_ferroloop"))
        .args(["pki", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .output()
        .expect("run ferroloop");
    assert!(
        output.status.success(),
        "ferroloop {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn spawn_hub(data_dir: &Path, fspiop: SocketAddr, admin: SocketAddr) -> Child {
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
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn ferroloop hub");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    assert!(line.contains("fspiop=https://"), "{line}");
    child
}

/// `curl` with the DFSP's certificate: the HTTP status, or `None` when TLS failed.
fn curl_status(dir: &Path, fspiop: SocketAddr, name: &str) -> Option<String> {
    let output = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.join("pki").join("ca.pem"))
        .arg("--cert")
        .arg(dir.join("certs").join(format!("{name}.pem")))
        .arg("--key")
        .arg(dir.join("certs").join(format!("{name}.key")))
        .args([
            "--resolve",
            &format!("localhost:{}:127.0.0.1", fspiop.port()),
        ])
        .arg(format!(
            "https://localhost:{}/parties/MSISDN/1",
            fspiop.port()
        ))
        .output()
        .expect("curl");
    let code = String::from_utf8_lossy(&output.stdout).trim().to_string();
    (output.status.success() && code != "000").then_some(code)
}

#[test]
fn revocation_takes_effect_on_sighup_without_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fspiop, admin) = (free_port(), free_port());
    let mut hub = spawn_hub(dir.path(), fspiop, admin);
    let certs = dir.path().join("certs");
    let issued = pki(
        &[
            "issue-client",
            "payerfsp",
            "--out",
            certs.to_str().expect("utf-8"),
        ],
        dir.path(),
    );
    let serial = issued
        .split_whitespace()
        .nth(1)
        .expect("serial in the output")
        .to_string();
    // The certificate is accepted (the request itself is refused: payerfsp is not onboarded,
    // which is an FSPIOP answer, so TLS worked).
    let before = curl_status(dir.path(), fspiop, "payerfsp");
    assert!(
        before.is_some(),
        "the valid certificate completes a TLS handshake"
    );

    pki(&["revoke", &serial], dir.path());
    let status = Command::new("kill")
        .args(["-HUP", &hub.id().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(status.success());
    let mut refused = false;
    for _ in 0..50 {
        if curl_status(dir.path(), fspiop, "payerfsp").is_none() {
            refused = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(refused, "the revoked certificate is refused after SIGHUP");
    assert!(
        hub.try_wait().expect("status").is_none(),
        "the hub keeps running"
    );
    hub.kill().expect("stop the hub");
    let _ = hub.wait();
}
