//! The hub's configuration file (TOML) and its precedence: command line > file > defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::Deserialize;

/// The file as written by an operator.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Data directory (database, secrets).
    pub data_dir: Option<PathBuf>,
    /// FSPIOP listener.
    pub fspiop_listen: Option<SocketAddr>,
    /// Admin listener.
    pub admin_listen: Option<SocketAddr>,
    /// Hub participant name.
    pub hub_name: Option<String>,
    /// Ledger batch size.
    pub batch_max: Option<usize>,
    /// `strict` (default) or `condition-only`.
    pub ilp_policy: Option<String>,
    /// Callback settings.
    #[serde(default)]
    pub callbacks: CallbackFile,
}

/// `[callbacks]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackFile {
    /// Timeout per attempt, ms.
    pub timeout_ms: Option<u64>,
    /// Attempts per message.
    pub attempts: Option<u32>,
    /// Deliveries in flight.
    pub concurrency: Option<usize>,
    /// First retry delay, ms.
    pub backoff_ms: Option<u64>,
}

/// Reads a config file.
pub fn read(path: &Path) -> anyhow::Result<FileConfig> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Builds the hub configuration: explicit flags win over the file, the file over defaults.
pub fn resolve(
    file: FileConfig,
    data_dir: Option<PathBuf>,
    fspiop_listen: Option<SocketAddr>,
    admin_listen: Option<SocketAddr>,
) -> anyhow::Result<hub::HubConfig> {
    let data_dir = data_dir
        .or(file.data_dir)
        .unwrap_or_else(|| PathBuf::from("data/hub"));
    let mut config = hub::HubConfig::new(data_dir);
    if let Some(addr) = fspiop_listen.or(file.fspiop_listen) {
        config.fspiop_listen = addr;
    }
    if let Some(addr) = admin_listen.or(file.admin_listen) {
        config.admin_listen = addr;
    }
    if let Some(name) = file.hub_name {
        fspiop::FspId::parse(&name).map_err(|e| anyhow::anyhow!("hub_name: {e}"))?;
        config.hub_name = name;
    }
    if let Some(batch) = file.batch_max {
        anyhow::ensure!(
            (1..=10_000).contains(&batch),
            "batch_max must be between 1 and 10000"
        );
        config.batch_max = batch;
    }
    match file.ilp_policy.as_deref() {
        None | Some("strict") => {}
        Some("condition-only") => config.ilp_policy = ledger::IlpPolicy::ConditionOnly,
        Some(other) => anyhow::bail!("ilp_policy must be strict or condition-only, not {other}"),
    }
    let callbacks = &mut config.callbacks;
    if let Some(ms) = file.callbacks.timeout_ms {
        callbacks.timeout = Duration::from_millis(ms);
    }
    if let Some(attempts) = file.callbacks.attempts {
        anyhow::ensure!(
            (1..=20).contains(&attempts),
            "callbacks.attempts must be between 1 and 20"
        );
        callbacks.attempts = attempts;
    }
    if let Some(concurrency) = file.callbacks.concurrency {
        callbacks.concurrency = concurrency.max(1);
    }
    if let Some(ms) = file.callbacks.backoff_ms {
        callbacks.backoff = Duration::from_millis(ms);
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_file_beats_defaults() {
        let file: FileConfig = toml::from_str(
            "data_dir = \"/tmp/x\"\nfspiop_listen = \"127.0.0.1:5000\"\nhub_name = \"switch\"\n[callbacks]\nattempts = 2\n",
        )
        .unwrap();
        let config = resolve(file, None, Some("127.0.0.1:6000".parse().unwrap()), None).unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(config.fspiop_listen.port(), 6000);
        assert_eq!(config.admin_listen.port(), 3001);
        assert_eq!(config.hub_name, "switch");
        assert_eq!(config.callbacks.attempts, 2);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("datadir = \"x\"").is_err());
    }
}
