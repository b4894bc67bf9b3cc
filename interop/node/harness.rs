//! Shared by the Rust tests that run the Node interop oracle in this directory (included with
//! `#[path]`): the `FERROLOOP_NODE_INTEROP=1` gate, the one-time `npm ci`, and running `node`.
//!
//! Without the variable the tests print a note and pass (a plain `cargo test` needs no Node);
//! with it, a missing `node`, `npm` or registry is a failure, never a skip. `scripts/test` sets
//! it.
#![allow(dead_code)] // each including test uses part of it

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The environment variable that enables the Node interop tests.
pub const ENABLE: &str = "FERROLOOP_NODE_INTEROP";

/// The interop directory with its npm dependencies installed, or `None` (after a note) when
/// the interop tests are not enabled.
pub fn interop_dir() -> Option<PathBuf> {
    if std::env::var(ENABLE).as_deref() != Ok("1") {
        eprintln!("skipped: set {ENABLE}=1 to run the Node interop tests (needs node and npm)");
        return None;
    }
    static READY: OnceLock<PathBuf> = OnceLock::new();
    Some(READY.get_or_init(install).clone())
}

fn install() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../interop/node")
        .canonicalize()
        .expect("interop/node exists");
    if !dir
        .join("node_modules/@mojaloop/sdk-standard-components")
        .is_dir()
    {
        let output = run(Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir));
        assert_success("npm ci", &output);
    }
    dir
}

/// Runs a command to completion, panicking if it cannot start.
pub fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// Runs `node <script> <args>` in `dir` with `stdin` as its standard input (written from
/// another thread, so a large answer cannot dead-lock against a large request).
pub fn node_with_input(dir: &Path, script: &str, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new("node")
        .arg(script)
        .args(args)
        .current_dir(dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{ENABLE}=1 but `node {script}` cannot be run: {e}"));
    let mut pipe = child.stdin.take().expect("stdin");
    let input = stdin.to_vec();
    let writer = std::thread::spawn(move || pipe.write_all(&input));
    let output = child.wait_with_output().expect("node finishes");
    let written = writer.join().expect("stdin writer");
    assert!(
        written.is_ok() || !output.status.success(),
        "node {script} exited 0 without reading its input: {written:?}"
    );
    output
}

/// Fails with both output streams unless the command succeeded; echoes its stdout.
pub fn assert_success(what: &str, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{what} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    print!("{stdout}");
}
