//! `ferroloop pki`: the hub's certificate authority from the command line.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

/// PKI options.
#[derive(clap::Args)]
pub struct PkiArgs {
    /// Data directory of the hub (the PKI lives in `<data-dir>/pki`).
    #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
    data_dir: PathBuf,
    #[command(subcommand)]
    command: PkiCommand,
}

#[derive(Subcommand)]
enum PkiCommand {
    /// Create the CA and the hub's server and client certificates (first start does this too).
    Init {
        /// Hub participant name.
        #[arg(long, default_value = "Hub")]
        hub_name: String,
        /// Names for the server certificate.
        #[arg(long = "server-name", default_value = "localhost")]
        server_names: Vec<String>,
    },
    /// Issue a client certificate and key for a participant (writes two files, key 0600).
    IssueClient {
        /// Participant name (becomes the certificate's identity).
        participant: String,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Sign a participant's CSR: only its public key is used; the identity is the participant.
    SignCsr {
        /// Participant name.
        participant: String,
        /// The CSR (PEM).
        csr: PathBuf,
        /// Where to write the certificate.
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Issue a new server certificate for the hub (rotation; the hub reloads it).
    IssueServer {
        /// Names for the certificate.
        #[arg(long = "name", required = true)]
        names: Vec<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Revoke a certificate by serial (updates the CRL).
    Revoke {
        /// Serial number, hex.
        serial: String,
    },
    /// List every certificate issued, with its expiry.
    List,
}

pub fn run(args: PkiArgs) -> anyhow::Result<()> {
    let path = args.data_dir.join("pki");
    let open = || {
        pki::dir::PkiDir::open(&path).map_err(|e| {
            anyhow::anyhow!(
                "{}: {e} (run `ferroloop pki init` or start the hub first)",
                path.display()
            )
        })
    };
    match args.command {
        PkiCommand::Init {
            hub_name,
            server_names,
        } => {
            let dir = crate::config::bootstrap_pki(&args.data_dir, &hub_name, &server_names)?;
            println!("CA certificate {}", dir.ca_cert_path().display());
        }
        PkiCommand::IssueClient {
            participant,
            out,
            days,
        } => {
            let mut dir = open()?;
            let issued = dir
                .issue_client(&participant, days)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
            let cert_path = out.join(format!("{participant}.pem"));
            let key_path = out.join(format!("{participant}.key"));
            std::fs::write(&cert_path, &issued.cert_pem)?;
            write_private(&key_path, issued.key_pem.as_deref().unwrap_or_default())?;
            println!(
                "serial {} expires {} certificate {} key {}",
                issued.serial_hex,
                issued.not_after,
                cert_path.display(),
                key_path.display()
            );
        }
        PkiCommand::SignCsr {
            participant,
            csr,
            out,
            days,
        } => {
            let mut dir = open()?;
            let csr_pem = std::fs::read_to_string(&csr)
                .with_context(|| format!("reading {}", csr.display()))?;
            let issued = dir
                .sign_csr(&csr_pem, &participant, days)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            std::fs::write(&out, &issued.cert_pem)?;
            println!(
                "serial {} expires {} certificate {}",
                issued.serial_hex,
                issued.not_after,
                out.display()
            );
        }
        PkiCommand::IssueServer { names, days } => {
            let mut dir = open()?;
            let issued = dir
                .rotate_server(&names, days)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "serial {} expires {} written to {}",
                issued.serial_hex,
                issued.not_after,
                dir.server_cert_path().display()
            );
        }
        PkiCommand::Revoke { serial } => {
            let mut dir = open()?;
            dir.revoke(&serial).map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "revoked {serial}; CRL {} now number {}",
                dir.crl_path().display(),
                dir.crl_number()
            );
        }
        PkiCommand::List => {
            let dir = open()?;
            let now = time::OffsetDateTime::now_utc();
            for entry in dir.list() {
                let state = if entry.is_revoked() {
                    "revoked"
                } else if entry.is_expired_at(now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{}  {:?}  {}  expires {} ({} days)  {}",
                    entry.serial_hex,
                    entry.purpose,
                    entry.participant.as_deref().unwrap_or("-"),
                    entry.not_after,
                    entry.days_until_expiry(now),
                    state
                );
            }
        }
    }
    Ok(())
}

/// Writes a secret file with mode 0600 (replacing what was there).
pub(crate) fn write_private(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    Ok(())
}
