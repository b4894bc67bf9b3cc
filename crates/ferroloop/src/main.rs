//! `ferroloop`: the one binary — run a hub, run the demo, generate load.
#![forbid(unsafe_code)]

mod audit_cmd;
mod config;
mod demo;
mod evidence_cmd;
mod load;
mod operator_cmd;
mod pki_cmd;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferroloop",
    version,
    about = "A Mojaloop-compatible payments hub, secure by construction"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a hub.
    Hub {
        /// Configuration file (TOML).
        #[arg(long, env = "FERROLOOP_CONFIG")]
        config: Option<PathBuf>,
        /// Data directory (overrides the file).
        #[arg(long, env = "FERROLOOP_DATA_DIR")]
        data_dir: Option<PathBuf>,
        /// FSPIOP listener address (overrides the file).
        #[arg(long)]
        fspiop_listen: Option<SocketAddr>,
        /// Admin listener address (overrides the file).
        #[arg(long)]
        admin_listen: Option<SocketAddr>,
        /// Transport security of the FSPIOP listener (overrides the file; default bootstrap).
        #[arg(long, value_enum)]
        tls: Option<config::TlsMode>,
        /// Metrics listener address (overrides the file; default 127.0.0.1:3002).
        #[arg(long)]
        metrics_listen: Option<SocketAddr>,
        /// Start even though the audit log's hash chain is broken (the break is logged as an
        /// error and recorded in the log). Without it the hub refuses to start on a tampered
        /// log.
        #[arg(long)]
        allow_broken_audit: bool,
    },
    /// Manage the hub's certificate authority (`<data-dir>/pki`).
    Pki(pki_cmd::PkiArgs),
    /// Start a hub with two simulated DFSPs, run one transfer end to end, keep serving.
    Demo(demo::DemoArgs),
    /// Measure end-to-end transfers per second against an embedded hub.
    Load(load::LoadArgs),
    /// Non-repudiation evidence kept by the hub (`verify <transferId>`).
    Evidence(evidence_cmd::EvidenceArgs),
    /// The tamper-evident audit log (`verify`, `export`).
    Audit(audit_cmd::AuditArgs),
    /// Operator accounts from the host: `create <name> --role <role>` (the second
    /// administrator of the four-eyes ceremony), `reset <name>` (break glass).
    Operator(operator_cmd::OperatorArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal; a log file or collector gets no escape sequences.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .fmt_fields(escaped_fields())
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Hub {
                config,
                data_dir,
                fspiop_listen,
                admin_listen,
                tls,
                metrics_listen,
                allow_broken_audit,
            } => {
                let file = match config {
                    Some(path) => config::read(&path)?,
                    None => config::FileConfig::default(),
                };
                let mut config = config::resolve(file, data_dir, fspiop_listen, admin_listen, tls)?;
                if metrics_listen.is_some() {
                    config.metrics_listen = metrics_listen;
                }
                config.allow_broken_audit = allow_broken_audit;
                run_hub(config).await
            }
            Command::Demo(args) => demo::run(args).await,
            Command::Load(args) => load::run(args).await,
            Command::Evidence(args) => evidence_cmd::run(args).await,
            Command::Audit(args) => audit_cmd::run(args).await,
            Command::Operator(args) => operator_cmd::run(args).await,
            Command::Pki(args) => pki_cmd::run(args),
        }
    })
}

/// Opens the embedded store in the data directory.
pub async fn open_store(data_dir: &std::path::Path) -> anyhow::Result<Arc<store::SqliteStore>> {
    // The directory holds the database and the hub's secrets: the hub's user only.
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(
        std::fs::DirBuilder::new().recursive(true),
        hub::server::DATA_DIR_MODE,
    )
    .create(data_dir)
    .with_context(|| format!("creating {}", data_dir.display()))?;
    #[cfg(not(unix))]
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let path = data_dir.join("hub.db");
    let store = store::SqliteStore::open(&path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(Arc::new(store))
}

/// How long a stopping hub may take to drain requests in flight.
const SHUTDOWN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

async fn run_hub(config: hub::HubConfig) -> anyhow::Result<()> {
    let store = open_store(&config.data_dir).await?;
    let running = hub::start(config, store).await?;
    // One machine-readable line for scripts and tests.
    let scheme = if running.mtls { "https" } else { "http" };
    let metrics = running
        .metrics_addr
        .map(|addr| format!("http://{addr}"))
        .unwrap_or_else(|| "off".into());
    println!(
        "ferroloop hub listening fspiop={scheme}://{} admin=http://{} initial_admin_password_file={} metrics={metrics}",
        running.fspiop_addr,
        running.admin_addr,
        running.initial_admin_password_path.display()
    );
    // SIGHUP re-reads the TLS material (after `ferroloop pki revoke`, a rotation or a new
    // CA) without a restart, like `POST /tls/reload` on the admin API.
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .context("installing the SIGHUP handler")?;
    // SIGTERM (what service managers and container runtimes send) stops the hub like Ctrl-C.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    loop {
        tokio::select! {
            signal = tokio::signal::ctrl_c() => {
                signal.context("waiting for Ctrl-C")?;
                break;
            }
            _ = terminate.recv() => break,
            _ = hangup.recv() => match running.reload_tls() {
                Ok(closed) => tracing::info!(closed, "SIGHUP: TLS material reloaded"),
                Err(error) => tracing::error!(%error, "SIGHUP: TLS material not reloaded; the previous set stays in force"),
            },
        }
    }
    // Graceful: the listeners stop accepting, requests in flight finish (each command the
    // writer took is committed or failed and answered), then the process exits 0. Whatever is
    // still running at the deadline is cut: nothing acknowledged depends on it (a `202` is only
    // sent after the commit), and an unforwarded transfer expires after the next start.
    tracing::info!(deadline_s = SHUTDOWN_DEADLINE.as_secs(), "shutting down");
    if tokio::time::timeout(SHUTDOWN_DEADLINE, running.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown deadline passed; stopping with work still in flight");
    } else {
        tracing::info!("stopped cleanly");
    }
    Ok(())
}

/// Formats every field of every log line with its control and format characters escaped
/// (`hub::logsafe`), whatever the call site logged: a peer's CR/LF cannot forge a line, its ESC
/// cannot reach the operator's terminal. The call sites escape peer text themselves too.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = format!("{value:?}");
        if field.name() != "message" {
            write!(writer, "{}=", field.name())?;
        }
        hub::logsafe::escape_controls_into(writer, &text)
    })
    .delimited(" ")
}
