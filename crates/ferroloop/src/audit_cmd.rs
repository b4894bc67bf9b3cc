//! `ferroloop audit verify` and `ferroloop audit export`: the tamper-evident audit log, from the
//! data directory alone (a copy will do; the hub need not run).
//!
//! `verify` recomputes every hash of the chain (`hub::audit::verify_chain`) and exits non-zero
//! when any link is broken. `export` prints the log as JSON lines for archiving; an auditor can
//! re-check an export with any SHA-256 (the encoding is documented on `ledger::AuditEntry`).

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;
use ledger::LedgerStore as _;

/// Entries read per page by `export`.
const EXPORT_PAGE: u32 = 1000;

/// Audit log commands.
#[derive(clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(clap::Subcommand)]
enum AuditCommand {
    /// Recompute the hash chain of the audit log; exit status 1 on any broken link.
    Verify {
        /// The hub's data directory (a copy will do; the hub need not run).
        #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
        data_dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// A head recorded earlier (`SEQ:HASH`, as printed by `verify` or the last line of an
        /// export): that entry must still be in the log with that hash. This is what detects
        /// entries removed from the end, or a log rewritten and re-hashed, since then.
        #[arg(long, value_name = "SEQ:HASH")]
        expect_head: Option<String>,
    },
    /// Print the audit log oldest first, one JSON object per line (with seq, prev_hash and
    /// hash), for archiving.
    Export {
        /// The hub's data directory (a copy will do; the hub need not run).
        #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
        data_dir: PathBuf,
        /// Only the entries after this seq (continue an earlier export).
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify {
            data_dir,
            json,
            expect_head,
        } => verify(&data_dir, json, expect_head.as_deref()).await,
        AuditCommand::Export { data_dir, after } => export(&data_dir, after).await,
    }
}

async fn open(data_dir: &Path) -> anyhow::Result<store::SqliteStore> {
    crate::config::open_existing_store(data_dir).await
}

async fn verify(data_dir: &Path, json: bool, expect_head: Option<&str>) -> anyhow::Result<()> {
    let expected = expect_head
        .map(|text| {
            let (seq, hash) = text
                .split_once(':')
                .context("--expect-head must be SEQ:HASH")?;
            let seq: i64 = seq.parse().context("--expect-head: SEQ must be a number")?;
            anyhow::Ok((seq, hash.to_ascii_lowercase()))
        })
        .transpose()?;
    let store = open(data_dir).await?;
    let report = hub::audit::verify_chain(&store)
        .await
        .context("reading the audit log")?;
    let head_problem = match &expected {
        Some((seq, hash)) => hub::audit::check_head(&store, *seq, hash)
            .await
            .context("reading the audit log")?,
        None => None,
    };
    store.close().await;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("audit log  {}", store.describe());
        println!("entries    {}", report.entries);
        println!(
            "head       seq {}  hash {}",
            report.head_seq, report.head_hash
        );
        for problem in &report.problems {
            println!("PROBLEM    {problem}");
        }
        if report.problems_not_listed > 0 {
            println!(
                "PROBLEM    … and {} more not listed",
                report.problems_not_listed
            );
        }
        if let Some(problem) = &head_problem {
            println!("PROBLEM    {problem}");
        }
        if report.ok() {
            println!("OK         every entry is chained to the one before it");
        }
        if let (Some((seq, _)), None) = (&expected, &head_problem) {
            println!("OK         the recorded head (seq {seq}) is still in the log, unchanged");
        }
    }
    let count = report.problems.len() as u64 + report.problems_not_listed;
    anyhow::ensure!(
        report.ok(),
        "the audit log does NOT verify: {count} problem(s)"
    );
    if let Some(problem) = head_problem {
        anyhow::bail!("the audit log does NOT verify: {problem}");
    }
    Ok(())
}

async fn export(data_dir: &Path, after: i64) -> anyhow::Result<()> {
    let store = open(data_dir).await?;
    // One read transaction: a consistent snapshot while the hub keeps appending.
    let mut tx = store.read().await?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut after = after;
    let written: std::io::Result<()> = async {
        loop {
            let page = tx
                .audit_range(after, EXPORT_PAGE)
                .await
                .map_err(std::io::Error::other)?;
            for entry in &page {
                serde_json::to_writer(&mut out, entry)?;
                out.write_all(b"\n")?;
            }
            match page.last() {
                Some(last) if last.seq > after && page.len() == EXPORT_PAGE as usize => {
                    after = last.seq;
                }
                _ => break,
            }
        }
        out.flush()
    }
    .await;
    drop(tx);
    store.close().await;
    match written {
        // `ferroloop audit export | head` is fine.
        Err(error) if error.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("exporting the audit log"),
    }
}
