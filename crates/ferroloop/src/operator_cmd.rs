//! Operator account commands that need the host, not the API:
//!
//! - `ferroloop operator create <name> --role <role>...`: the second, independent channel of
//!   the bootstrap ceremony (four eyes need two people, and the first administrator must not
//!   make the second). See `hub::iam::host_create_operator`.
//! - `ferroloop operator reset <name>`: break glass when no administrator can log in any more.
//!   See `hub::iam::break_glass_reset`.
//!
//! Both write a one-time password to a 0600 file under the data directory (never to the
//! terminal or the log) and record what they did in the audit chain (actor `host`) in the same
//! transaction. Both are safe while a hub runs on the same data directory: they take the
//! store's write lock before reading the audit head. Someone who can run them can read the
//! database anyway; the audit entry makes sure it shows.

use std::path::PathBuf;

use ledger::Clock as _;

/// Operator account commands that need the host, not the API.
#[derive(clap::Args)]
pub struct OperatorArgs {
    #[command(subcommand)]
    command: OperatorCommand,
}

#[derive(clap::Subcommand)]
enum OperatorCommand {
    /// Create an operator from the host (e.g. the second administrator, who approves the
    /// first one's requests) with a one-time password in a 0600 file.
    Create {
        /// The new operator's name (1 to 64 of letters, digits, '-', '_', '.', '@').
        name: String,
        /// A role (built-in, e.g. hub-administrator, or custom); repeat for several.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// The hub's data directory.
        #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
        data_dir: PathBuf,
    },
    /// Give an operator a new one-time password and clear its second factor (break glass).
    Reset {
        /// The operator (e.g. admin).
        name: String,
        /// The hub's data directory.
        #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
        data_dir: PathBuf,
    },
}

fn now_ms() -> i64 {
    ledger::SystemClock
        .now()
        .unix_timestamp()
        .saturating_mul(1000)
}

pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    match args.command {
        OperatorCommand::Create {
            name,
            roles,
            data_dir,
        } => {
            let store = crate::config::open_existing_store(&data_dir).await?;
            let created =
                hub::iam::host_create_operator(&store, &data_dir, &name, &roles, now_ms())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "created {} ({}): one-time password in {} (0600); log in, change it and enrol \
                 TOTP. {} operator(s) can approve now{}. The creation is in the audit log \
                 (operator.host_create).",
                created.name,
                created.roles.join(", "),
                created.password_file.display(),
                created.approvers,
                if created.approvers < hub::iam::MIN_APPROVERS {
                    format!(
                        " — four eyes need {}: the admin API refuses operations that need a \
                         checker until then",
                        hub::iam::MIN_APPROVERS
                    )
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        OperatorCommand::Reset { name, data_dir } => {
            let store = crate::config::open_existing_store(&data_dir).await?;
            let file = hub::iam::break_glass_reset(&store, &data_dir, &name, now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!(
                "reset {name}: one-time password in {} (0600); log in, change it and enrol TOTP. \
                 The reset is in the audit log (operator.break_glass).",
                file.display()
            );
            Ok(())
        }
    }
}
