//! `ferroloop operator reset <name>`: break glass from the host when no administrator can log
//! in any more. See `hub::iam::break_glass_reset`: a new one-time password in a 0600 file,
//! TOTP, recovery codes, lockout, sessions and tokens cleared, the account enabled, and the
//! reset in the audit chain. Someone who can run this can read the database anyway; the audit
//! entry makes sure it shows.

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
    /// Give an operator a new one-time password and clear its second factor (break glass).
    Reset {
        /// The operator (e.g. admin).
        name: String,
        /// The hub's data directory.
        #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
        data_dir: PathBuf,
    },
}

pub async fn run(args: OperatorArgs) -> anyhow::Result<()> {
    match args.command {
        OperatorCommand::Reset { name, data_dir } => {
            let store = crate::config::open_existing_store(&data_dir).await?;
            let now = ledger::SystemClock
                .now()
                .unix_timestamp()
                .saturating_mul(1000);
            let file = hub::iam::break_glass_reset(&store, &data_dir, &name, now)
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
