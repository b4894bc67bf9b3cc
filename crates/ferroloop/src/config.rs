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
    /// Metrics and health listener (its own plane); `"off"` serves none.
    pub metrics_listen: Option<String>,
    /// Hub participant name.
    pub hub_name: Option<String>,
    /// Ledger batch size.
    pub batch_max: Option<usize>,
    /// `strict` (default) or `condition-only`.
    pub ilp_policy: Option<String>,
    /// Callback settings.
    #[serde(default)]
    pub callbacks: CallbackFile,
    /// Transport security of the FSPIOP listener.
    #[serde(default)]
    pub tls: TlsFile,
    /// JWS signatures.
    #[serde(default)]
    pub jws: JwsFile,
    /// Operator IAM.
    #[serde(default)]
    pub iam: IamFile,
    /// Whether the party oracle lets different FSPs own one party in different currencies
    /// (default `false`: one owner per party across currencies, its oldest registration).
    pub oracle_per_currency_owners: Option<bool>,
    /// Serve the admin API (plain HTTP) on a non-loopback `admin_listen` (default false: such
    /// an address is refused at start, since the admin plane has no TLS).
    pub admin_allow_plaintext: Option<bool>,
    /// Connection limits and deadlines of the FSPIOP listener.
    #[serde(default)]
    pub limits: LimitsFile,
}

/// `[limits]`: the FSPIOP listener's connection limits and deadlines (mutual-TLS mode).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsFile {
    /// Seconds a request's headers may take after its first byte (default 10).
    pub header_timeout_secs: Option<u64>,
    /// Seconds a keep-alive connection may stay idle between requests (default 75; Mojaloop
    /// clients keep connections 65 s and more, so keep it above that).
    pub idle_timeout_secs: Option<u64>,
    /// Seconds a request's body may take after its headers (default 30).
    pub body_timeout_secs: Option<u64>,
    /// Open connections per participant (certificate identity) (default 256).
    pub max_connections_per_participant: Option<usize>,
    /// Open connections on the FSPIOP listener, handshakes included (default: the process's
    /// open-file limit less a reserve for the store, callbacks and the admin and metrics
    /// listeners; a higher value is refused at start).
    pub max_connections: Option<usize>,
    /// TLS handshakes in progress at once (default 256).
    pub max_handshakes: Option<usize>,
}

/// `[iam]`: operator identity and access (docs/OPERATORS.md).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IamFile {
    /// `default` (four eyes: every sensitive operation needs one approval by another operator)
    /// or `sandbox` (no approvals, for development only; the hub says so at every start, in
    /// `GET /policy` and in `GET /auth/me`).
    pub profile: Option<String>,
}

/// `[jws]`: signature verification and the hub's signing key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwsFile {
    /// Verify inbound signatures (default true; false is for development only).
    pub verify: Option<bool>,
    /// Accepted algorithms (default `["RS256", "ES256"]`).
    pub algorithms: Option<Vec<String>>,
    /// Largest distance of `Date` from the hub's clock, seconds (default 300).
    pub date_window_secs: Option<u64>,
    /// The signature must cover `Date` (default true).
    pub require_signed_date: Option<bool>,
    /// Accept unsigned `PUT /parties` (default false; the SDK does not sign them unless
    /// `JWS_SIGN_PUT_PARTIES=true`).
    pub unsigned_put_parties: Option<bool>,
    /// Require signed GET requests, over the empty payload (default false).
    pub verify_get: Option<bool>,
    /// Accept unsigned DELETE (default false: a DELETE must be signed over the empty payload,
    /// which the SDK cannot do).
    pub unsigned_delete: Option<bool>,
    /// The hub's signing key (PEM); default `<data_dir>/jws/hub-signing-key.pem`, generated.
    pub signing_key: Option<PathBuf>,
}

/// `[tls]`: how the FSPIOP listener gets its certificates.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFile {
    /// `bootstrap` (default: the hub's own CA under `<data_dir>/pki`, created on first start),
    /// `files` (an external CA: the four paths below), or `off` (plain HTTP, development only).
    pub mode: Option<String>,
    /// Names the hub's server certificate is issued for (bootstrap mode).
    pub server_names: Option<Vec<String>>,
    /// Server certificate chain (files mode).
    pub server_cert: Option<PathBuf>,
    /// Server key (files mode).
    pub server_key: Option<PathBuf>,
    /// CA certificates trusted for client certificates (files mode).
    pub client_ca: Option<PathBuf>,
    /// CRL (files mode, optional).
    pub crl: Option<PathBuf>,
    /// The hub's client certificate for callbacks to DFSPs (files mode).
    pub client_cert: Option<PathBuf>,
    /// Its key (files mode).
    pub client_key: Option<PathBuf>,
}

/// How the FSPIOP listener is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// The hub's own PKI under `<data_dir>/pki`, created on first start.
    Bootstrap,
    /// Certificates from an external CA, named in `[tls]`.
    Files,
    /// Plain HTTP: no caller identity is proven. Development only.
    Off,
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
    tls_mode: Option<TlsMode>,
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
    match file.metrics_listen.as_deref() {
        None => {}
        Some("off") => config.metrics_listen = None,
        Some(addr) => {
            config.metrics_listen = Some(
                addr.parse()
                    .map_err(|e| anyhow::anyhow!("metrics_listen {addr:?}: {e}"))?,
            )
        }
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
    if let Some(allowed) = file.oracle_per_currency_owners {
        config.oracle_per_currency_owners = allowed;
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
    apply_jws(&mut config.jws, file.jws)?;
    config.admin_allow_plaintext = file.admin_allow_plaintext.unwrap_or(false);
    apply_limits(&mut config.limits, &file.limits)?;
    match file.iam.profile.as_deref() {
        None | Some("default") => config.iam = hub::iam::IamConfig::default(),
        Some("sandbox") => config.iam = hub::iam::IamConfig::sandbox(),
        Some(other) => anyhow::bail!("iam.profile must be default or sandbox, not {other}"),
    }
    let mode = match (tls_mode, file.tls.mode.as_deref()) {
        (Some(mode), _) => mode,
        (None, None | Some("bootstrap")) => TlsMode::Bootstrap,
        (None, Some("files")) => TlsMode::Files,
        (None, Some("off")) => TlsMode::Off,
        (None, Some(other)) => {
            anyhow::bail!("tls.mode must be bootstrap, files or off, not {other}")
        }
    };
    config.tls = match mode {
        TlsMode::Off => None,
        TlsMode::Files => {
            let need = |value: Option<PathBuf>, key: &str| {
                value.ok_or_else(|| anyhow::anyhow!("tls.mode = files needs tls.{key}"))
            };
            Some(hub::tls::TlsFiles {
                server_cert: need(file.tls.server_cert, "server_cert")?,
                server_key: need(file.tls.server_key, "server_key")?,
                client_ca: need(file.tls.client_ca, "client_ca")?,
                crl: file.tls.crl,
                client_cert: file.tls.client_cert,
                client_key: file.tls.client_key,
            })
        }
        TlsMode::Bootstrap => {
            let names = file
                .tls
                .server_names
                .unwrap_or_else(|| vec!["localhost".to_string()]);
            let pki = bootstrap_pki(&config.data_dir, &config.hub_name, &names)?;
            config.ca_dir = Some(pki.root().to_path_buf());
            Some(hub::tls::TlsFiles {
                server_cert: pki.server_cert_path(),
                server_key: pki.server_key_path(),
                client_ca: pki.ca_cert_path(),
                crl: Some(pki.crl_path()),
                client_cert: Some(pki.client_cert_path()),
                client_key: Some(pki.client_key_path()),
            })
        }
    };
    Ok(config)
}

fn apply_jws(policy: &mut hub::JwsPolicy, file: JwsFile) -> anyhow::Result<()> {
    if let Some(verify) = file.verify {
        policy.verify = verify;
    }
    if let Some(names) = file.algorithms {
        anyhow::ensure!(!names.is_empty(), "jws.algorithms must name at least one");
        policy.algorithms = names
            .iter()
            .map(|name| {
                name.parse::<jws::Alg>()
                    .map_err(|_| anyhow::anyhow!("jws.algorithms: {name} is not RS256 or ES256"))
            })
            .collect::<anyhow::Result<_>>()?;
    }
    if let Some(secs) = file.date_window_secs {
        anyhow::ensure!(
            (1..=3600).contains(&secs),
            "jws.date_window_secs must be between 1 and 3600"
        );
        policy.date_window = Duration::from_secs(secs);
    }
    if let Some(required) = file.require_signed_date {
        policy.require_signed_date = required;
    }
    if let Some(allowed) = file.unsigned_put_parties {
        policy.unsigned_put_parties = allowed;
    }
    if let Some(get) = file.verify_get {
        policy.verify_get = get;
    }
    if let Some(delete) = file.unsigned_delete {
        policy.unsigned_delete = delete;
    }
    if let Some(path) = file.signing_key {
        policy.signing_key = Some(path);
    }
    Ok(())
}

fn apply_limits(
    limits: &mut hub::connections::ConnectionLimits,
    file: &LimitsFile,
) -> anyhow::Result<()> {
    let secs = |value: Option<u64>, key: &str, current: Duration| -> anyhow::Result<Duration> {
        match value {
            None => Ok(current),
            Some(secs) => {
                anyhow::ensure!(
                    (1..=3600).contains(&secs),
                    "limits.{key} must be between 1 and 3600"
                );
                Ok(Duration::from_secs(secs))
            }
        }
    };
    limits.timeouts.header = secs(
        file.header_timeout_secs,
        "header_timeout_secs",
        limits.timeouts.header,
    )?;
    limits.timeouts.idle = secs(
        file.idle_timeout_secs,
        "idle_timeout_secs",
        limits.timeouts.idle,
    )?;
    limits.timeouts.body = secs(
        file.body_timeout_secs,
        "body_timeout_secs",
        limits.timeouts.body,
    )?;
    if limits.timeouts.idle < Duration::from_secs(65) {
        tracing::warn!(
            idle_timeout_secs = limits.timeouts.idle.as_secs(),
            "limits.idle_timeout_secs is below 65 s: Mojaloop clients that keep connections \
             idle that long will see them closed"
        );
    }
    let count = |value: Option<usize>, key: &str| -> anyhow::Result<Option<usize>> {
        if let Some(n) = value {
            anyhow::ensure!(n >= 1, "limits.{key} must be at least 1");
        }
        Ok(value)
    };
    if let Some(n) = count(
        file.max_connections_per_participant,
        "max_connections_per_participant",
    )? {
        limits.max_per_participant = n;
    }
    if let Some(n) = count(file.max_connections, "max_connections")? {
        limits.max_connections = Some(n);
    }
    if let Some(n) = count(file.max_handshakes, "max_handshakes")? {
        limits.max_handshakes = n;
    }
    Ok(())
}

/// Opens the embedded store of an existing data directory (for the commands that work on a
/// hub's data offline: audit, evidence, operator reset).
pub async fn open_existing_store(data_dir: &Path) -> anyhow::Result<store::SqliteStore> {
    let path = data_dir.join("hub.db");
    anyhow::ensure!(
        path.exists(),
        "no hub database at {} (use --data-dir)",
        path.display()
    );
    store::SqliteStore::open(&path)
        .await
        .map_err(|e| anyhow::anyhow!("opening {}: {e}", path.display()))
}

/// Opens the hub's PKI directory, creating the CA and the hub's certificates on first start.
pub fn bootstrap_pki(
    data_dir: &Path,
    hub_name: &str,
    server_names: &[String],
) -> anyhow::Result<pki::dir::PkiDir> {
    let path = data_dir.join("pki");
    pki::dir::PkiDir::open_or_bootstrap(&path, hub_name, server_names)
        .map_err(|e| anyhow::anyhow!("PKI directory {}: {e}", path.display()))
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
        let dir = tempfile::tempdir().unwrap();
        let mut file = file;
        file.data_dir = Some(dir.path().to_path_buf());
        let config = resolve(
            file,
            None,
            Some("127.0.0.1:6000".parse().unwrap()),
            None,
            None,
        )
        .unwrap();
        assert_eq!(config.data_dir, dir.path());
        let tls = config.tls.as_ref().expect("mutual TLS is on by default");
        assert!(tls.server_cert.starts_with(dir.path().join("pki")));
        assert_eq!(config.fspiop_listen.port(), 6000);
        assert_eq!(config.admin_listen.port(), 3001);
        assert_eq!(config.hub_name, "switch");
        assert_eq!(config.callbacks.attempts, 2);
    }

    #[test]
    fn plain_http_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let file = FileConfig {
            data_dir: Some(dir.path().to_path_buf()),
            ..FileConfig::default()
        };
        assert!(
            resolve(file, None, None, None, Some(TlsMode::Off))
                .unwrap()
                .tls
                .is_none()
        );
        let file: FileConfig = toml::from_str("[tls]\nmode = \"files\"\n").unwrap();
        assert!(resolve(file, Some(dir.path().to_path_buf()), None, None, None).is_err());
    }

    #[test]
    fn jws_section() {
        let dir = tempfile::tempdir().unwrap();
        let file: FileConfig = toml::from_str(
            "[jws]\nalgorithms = [\"ES256\"]\ndate_window_secs = 60\nunsigned_put_parties = true\n",
        )
        .unwrap();
        let config = resolve(
            file,
            Some(dir.path().into()),
            None,
            None,
            Some(TlsMode::Off),
        )
        .unwrap();
        assert!(config.jws.verify, "verification stays on by default");
        assert_eq!(config.jws.algorithms, vec![jws::Alg::Es256]);
        assert_eq!(config.jws.date_window, Duration::from_secs(60));
        assert!(config.jws.unsigned_put_parties);
        let file: FileConfig = toml::from_str("[jws]\nalgorithms = [\"HS256\"]\n").unwrap();
        assert!(
            resolve(
                file,
                Some(dir.path().into()),
                None,
                None,
                Some(TlsMode::Off)
            )
            .is_err()
        );
    }

    #[test]
    fn iam_profile() {
        let dir = tempfile::tempdir().unwrap();
        let resolve_iam = |text: &str| {
            let file: FileConfig = toml::from_str(text).unwrap();
            resolve(
                file,
                Some(dir.path().into()),
                None,
                None,
                Some(TlsMode::Off),
            )
        };
        assert!(
            !resolve_iam("").unwrap().iam.sandbox,
            "four eyes by default"
        );
        assert!(
            !resolve_iam("[iam]\nprofile = \"default\"\n")
                .unwrap()
                .iam
                .sandbox
        );
        assert!(
            resolve_iam("[iam]\nprofile = \"sandbox\"\n")
                .unwrap()
                .iam
                .sandbox
        );
        assert!(resolve_iam("[iam]\nprofile = \"none\"\n").is_err());
        assert!(toml::from_str::<FileConfig>("[iam]\nprofle = \"sandbox\"\n").is_err());
    }

    #[test]
    fn limits_section() {
        let dir = tempfile::tempdir().unwrap();
        let resolve_limits = |text: &str| {
            let file: FileConfig = toml::from_str(text)?;
            resolve(
                file,
                Some(dir.path().into()),
                None,
                None,
                Some(TlsMode::Off),
            )
        };
        let defaults = resolve_limits("").unwrap().limits;
        assert_eq!(defaults, hub::connections::ConnectionLimits::default());
        assert_eq!(defaults.timeouts.idle, Duration::from_secs(75));
        let config = resolve_limits(
            "[limits]\nheader_timeout_secs = 5\nidle_timeout_secs = 90\nbody_timeout_secs = 20\n\
             max_connections_per_participant = 32\nmax_connections = 1000\nmax_handshakes = 16\n",
        )
        .unwrap();
        let limits = config.limits;
        assert_eq!(limits.timeouts.header, Duration::from_secs(5));
        assert_eq!(limits.timeouts.idle, Duration::from_secs(90));
        assert_eq!(limits.timeouts.body, Duration::from_secs(20));
        assert_eq!(limits.max_per_participant, 32);
        assert_eq!(limits.max_connections, Some(1000));
        assert_eq!(limits.max_handshakes, 16);
        assert!(resolve_limits("[limits]\nmax_connections = 0\n").is_err());
        assert!(resolve_limits("[limits]\nheader_timeout_secs = 0\n").is_err());
        assert!(resolve_limits("[limits]\nidle_timeout = 5\n").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("datadir = \"x\"").is_err());
    }

    #[test]
    fn oracle_per_currency_owners_is_off_unless_asked() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("", false),
            ("oracle_per_currency_owners = true\n", true),
            ("oracle_per_currency_owners = false\n", false),
        ] {
            let file: FileConfig = toml::from_str(text).unwrap();
            let config = resolve(
                file,
                Some(dir.path().to_path_buf()),
                None,
                None,
                Some(TlsMode::Off),
            )
            .unwrap();
            assert_eq!(config.oracle_per_currency_owners, expected, "{text}");
        }
    }
}
