//! Issue 12, binary-level: what `ferroloop hub` writes to its log and how it starts.
//!
//! - **log injection**: CR/LF and ESC sent in a request (percent-encoded in the path, or raw
//!   bytes) never reach the log raw: no forged line, no escape sequence;
//! - **tampered audit log**: `ferroloop hub` refuses to start, naming the first broken entry;
//!   `--allow-broken-audit` starts it with the break on record;
//! - **admin listener on the network**: refused without `admin_allow_plaintext = true`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn hub_command(dir: &Path, admin_listen: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferroloop"));
    command
        .args([
            "hub",
            "--tls",
            "off",
            "--fspiop-listen",
            "127.0.0.1:0",
            "--admin-listen",
            admin_listen,
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "info")
        // The formatter's own colours are not what this tests (and are off when stderr is not
        // a terminal); NO_COLOR keeps them off under an older formatter too.
        .env("NO_COLOR", "1")
        .env_remove("FERROLOOP_CONFIG");
    command
}

/// Starts `ferroloop hub` and reads its "listening" line: (child, FSPIOP address, admin
/// address).
fn start(dir: &Path) -> (Child, SocketAddr, SocketAddr) {
    let mut child = hub_command(dir, "127.0.0.1:0")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ferroloop hub");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("listening line");
    let field = |name: &str| -> SocketAddr {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(&format!("{name}=http://")))
            .unwrap_or_else(|| panic!("{name} in {line:?}"))
            .parse()
            .expect("address")
    };
    let (fspiop, admin) = (field("fspiop"), field("admin"));
    (child, fspiop, admin)
}

/// Sends raw bytes as one HTTP request and reads whatever comes back.
fn raw(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    stream.write_all(request).expect("write");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    answer
}

fn fspiop_request(path: &str, source: &str) -> Vec<u8> {
    let date = fspiop::headers::format_date(std::time::SystemTime::now());
    format!(
        "GET {path} HTTP/1.1\r\nhost: hub\r\nconnection: close\r\n\
         accept: application/vnd.interoperability.parties+json;version=1.1\r\n\
         content-type: application/vnd.interoperability.parties+json;version=1.1\r\n\
         date: {date}\r\nfspiop-source: {source}\r\n\r\n"
    )
    .into_bytes()
}

/// Requests that carry CR/LF, ESC and C1/bidi controls (percent-encoded where HTTP forbids
/// them raw, raw where a parser might let them through) leave no raw control character in the
/// hub's log, and no forged line.
#[test]
fn control_characters_from_peers_never_reach_the_log_raw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, fspiop, admin) = start(dir.path());
    let injected =
        "%0D%0A2030-01-01T00:00:00Z%20INFO%20FORGED%20line%1B%5B2J%1B%5D0;owned%07%C2%9B%E2%80%AE";
    let paths = [
        format!("/parties/MSISDN/{injected}"),
        format!("/parties/MSISDN/1/{injected}"),
        format!("/transfers/{injected}"),
        format!("/transfers/{injected}/error"),
        format!("/quotes/{injected}"),
        format!("/{injected}"),
        format!("/participants/{injected}/{injected}"),
    ];
    for path in &paths {
        for source in ["payerfsp", "Hub", "nobody%0D%0AFORGED"] {
            raw(fspiop, &fspiop_request(path, source));
        }
        raw(
            admin,
            format!("GET {path} HTTP/1.1\r\nhost: hub\r\nconnection: close\r\n\r\n").as_bytes(),
        );
    }
    // Raw control bytes in the request line and a header: refused by the HTTP parser.
    raw(
        fspiop,
        b"GET /parties/MSISDN/1\x1b[2J HTTP/1.1\r\nhost: hub\r\n\r\n",
    );
    raw(
        fspiop,
        b"GET /parties/MSISDN/1 HTTP/1.1\r\nhost: hub\r\nfspiop-source: a\x1b[31mb\r\n\r\n",
    );
    raw(
        fspiop,
        b"GET /parties/MSISDN/1\rINFO FORGED HTTP/1.1\r\nhost: hub\r\n\r\n",
    );
    std::thread::sleep(Duration::from_millis(500));
    child.kill().expect("stop the hub");
    let mut log = Vec::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_end(&mut log)
        .expect("read the log");
    child.wait().expect("hub stopped");
    let text = String::from_utf8_lossy(&log);
    assert!(
        text.contains("request refused"),
        "the requests were logged:\n{text}"
    );
    assert!(
        text.contains("FORGED"),
        "the injected text is in the log, escaped:\n{text}"
    );
    for (n, line) in text.lines().enumerate() {
        let bad: Vec<char> = line
            .chars()
            .filter(|&c| {
                c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}')
            })
            .collect();
        assert!(
            bad.is_empty(),
            "line {n} has raw control characters {bad:?}: {line:?}"
        );
        assert!(
            !line.starts_with("2030-01-01") && !line.contains("\tINFO FORGED"),
            "a forged line: {line:?}"
        );
    }
}

fn run_until_exit(command: &mut Command) -> (bool, String) {
    let output = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .expect("run ferroloop");
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// A row edited with SQL: `ferroloop hub` exits with an error naming the entry.
#[tokio::test]
async fn the_hub_binary_refuses_a_tampered_audit_log() {
    use sqlx::ConnectOptions as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut child, _, _) = start(dir.path());
    child.kill().expect("stop");
    child.wait().expect("stopped");
    let mut db = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.path().join("hub.db"))
        .connect()
        .await
        .expect("raw connection");
    let done = sqlx::query("UPDATE audit SET detail = '{\"forged\":true}' WHERE seq = 1")
        .execute(&mut db)
        .await
        .expect("tamper");
    assert_eq!(done.rows_affected(), 1);
    drop(db);
    let (ok, out) = run_until_exit(&mut hub_command(dir.path(), "127.0.0.1:0"));
    assert!(!ok, "started on a tampered log:\n{out}");
    assert!(
        out.contains("the audit log is broken: seq 1: edited"),
        "{out}"
    );
    assert!(out.contains("--allow-broken-audit"), "{out}");
}

/// `admin_listen` on 0.0.0.0 without the override: refused before anything is bound.
#[test]
fn the_hub_binary_refuses_a_plaintext_admin_listener_on_the_network() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ok, out) = run_until_exit(&mut hub_command(dir.path(), "0.0.0.0:0"));
    assert!(!ok, "{out}");
    assert!(out.contains("is not a loopback address"), "{out}");
    assert!(out.contains("admin_allow_plaintext"), "{out}");
}
