//! `ferroloop evidence verify <transferId>`: re-verifies, from the data directory alone, every
//! signed message the hub kept for a transfer and the quote it names, and prints who signed
//! what and when. Exit status 0 only when everything verifies.

use std::path::PathBuf;

/// Evidence commands.
#[derive(clap::Args)]
pub struct EvidenceArgs {
    #[command(subcommand)]
    command: EvidenceCommand,
}

#[derive(clap::Subcommand)]
enum EvidenceCommand {
    /// Re-verify the signatures and the quote → prepare → fulfil chain of one transfer.
    Verify {
        /// The transfer id.
        transfer_id: String,
        /// The hub's data directory (a copy will do; the hub need not run).
        #[arg(long, env = "FERROLOOP_DATA_DIR", default_value = "data/hub")]
        data_dir: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: EvidenceArgs) -> anyhow::Result<()> {
    match args.command {
        EvidenceCommand::Verify {
            transfer_id,
            data_dir,
            json,
        } => verify(&transfer_id, &data_dir, json).await,
    }
}

async fn verify(transfer_id: &str, data_dir: &std::path::Path, json: bool) -> anyhow::Result<()> {
    let store = crate::config::open_existing_store(data_dir).await?;
    let report = hub::evidence::verify_transfer(&store, transfer_id).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    anyhow::ensure!(
        report.ok(),
        "evidence for transfer {transfer_id} does NOT verify"
    );
    Ok(())
}

fn print_report(report: &hub::evidence::EvidenceReport) {
    let t = &report.transfer;
    println!(
        "transfer  {}  {} {} from {} to {}  state {}",
        report.transfer_id,
        t["amount"].as_str().unwrap_or_default(),
        t["currency"].as_str().unwrap_or_default(),
        t["payer"].as_str().unwrap_or_default(),
        t["payee"].as_str().unwrap_or_default(),
        t["state"].as_str().unwrap_or_default(),
    );
    if let Some(quote) = &report.quote_id {
        println!("quote     {quote}");
    }
    println!();
    for message in &report.messages {
        let verdict = match &message.problem {
            None => "VERIFIED".to_string(),
            Some(problem) => format!("FAILED: {problem}"),
        };
        println!(
            "{:<17} {:<10} {}",
            message.kind, message.signer, message.request
        );
        println!(
            "                  signed {} with {} key {}; received {}",
            message.date.as_deref().unwrap_or("(no Date)"),
            message.alg.as_deref().unwrap_or("?"),
            message.key_fingerprint.as_deref().unwrap_or("(none)"),
            message.received
        );
        println!("                  {verdict}");
    }
    if report.messages.is_empty() {
        println!("(no signed messages stored for this transfer)");
    }
    println!();
    for check in &report.chain {
        match &check.problem {
            None => println!("ok        {}", check.what),
            Some(problem) => println!("FAILED    {}: {problem}", check.what),
        }
    }
    println!();
    println!(
        "{}",
        if report.ok() {
            "evidence verifies"
        } else {
            "evidence does NOT verify"
        }
    );
}
