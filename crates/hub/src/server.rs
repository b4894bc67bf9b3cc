//! Wiring and lifecycle: build the state, bind the listeners, rebuild expiry timers, and shut
//! down cleanly.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::middleware::{self, Next};
use axum::response::Response;
use ledger::engine::Ledger;
use ledger::{Clock, IlpPolicy, LedgerStore, SystemClock};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::{self, AdminState};
use crate::callbacks::{CallbackConfig, Dispatcher};
use crate::caller::{Caller, CallerIdentity};
use crate::connections::ConnectionRegistry;
use crate::endpoints::Directory;
use crate::expiry::{ExpiryScheduler, OnDue};
use crate::metrics::Metrics;
use crate::operations::{Operations, Transport};
use crate::outbound::{OutboundClients, OutboundTls};
use crate::signatures::{HubSigner, JwsPolicy, KeyRegistry, SignerError};
use crate::state::HubState;
use crate::tls::{FspiopListener, ReloadableAcceptor, TlsControl, TlsError, TlsFiles, TlsGuard};
use crate::writer::LedgerWriter;

/// How to run a hub.
#[derive(Clone)]
pub struct HubConfig {
    /// Where the admin token (and, with the embedded store, the database) live.
    pub data_dir: PathBuf,
    /// FSPIOP listener address.
    pub fspiop_listen: SocketAddr,
    /// Admin listener address (loopback by default).
    pub admin_listen: SocketAddr,
    /// The hub's participant name in `FSPIOP-Source`.
    pub hub_name: String,
    /// Commands per ledger transaction at most.
    pub batch_max: usize,
    /// Commands waiting for the writer at most (back-pressure beyond).
    pub queue: usize,
    /// Outbound delivery settings.
    pub callbacks: CallbackConfig,
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// How much of the agreed ILP terms a prepare must match (strict by default).
    pub ilp_policy: IlpPolicy,
    /// Mutual TLS for the FSPIOP listener; `None` serves plain HTTP (development only).
    pub tls: Option<TlsFiles>,
    /// Longest a TLS handshake may take.
    pub handshake_timeout: Duration,
    /// JWS: inbound verification policy and the hub's signing key.
    pub jws: JwsPolicy,
    /// Metrics and health listener (its own plane); `None` serves no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// Operator IAM: the policy in force until operators change it, and the sandbox profile.
    pub iam: crate::iam::IamConfig,
    /// The hub's own CA directory (`pki::dir`), when it runs one: participant certificates
    /// are then issued from CSRs and revoked through the admin API (maker/checker).
    pub ca_dir: Option<PathBuf>,
    /// Whether the party oracle lets different FSPs own one party in different currencies
    /// (a scheme rule; default `false`: one owner per party, its oldest registration).
    pub oracle_per_currency_owners: bool,
    /// Serve the admin API (plain HTTP) on an address that is not loopback. Off by default:
    /// the admin plane has no TLS of its own, so a non-loopback `admin_listen` is refused
    /// unless this is set (and then announced loudly at every start).
    pub admin_allow_plaintext: bool,
    /// Start even when the audit log's hash chain is broken (the break is logged as an error
    /// and recorded in the log). Off by default: the hub refuses to start.
    pub allow_broken_audit: bool,
    /// How long repeated refusals of one kind from one source are counted before their summary
    /// is audited ([`crate::refusals`]).
    pub refusal_interval: Duration,
    /// The FSPIOP listener's connection limits and deadlines (mutual-TLS mode).
    pub limits: crate::connections::ConnectionLimits,
}

impl HubConfig {
    /// Defaults for a data directory: FSPIOP on 127.0.0.1:3000, admin on 127.0.0.1:3001.
    pub fn new(data_dir: impl Into<PathBuf>) -> HubConfig {
        HubConfig {
            data_dir: data_dir.into(),
            fspiop_listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            admin_listen: SocketAddr::from(([127, 0, 0, 1], 3001)),
            hub_name: "Hub".into(),
            batch_max: 512,
            queue: 8192,
            callbacks: CallbackConfig::default(),
            clock: Arc::new(SystemClock),
            ilp_policy: IlpPolicy::Strict,
            tls: None,
            handshake_timeout: Duration::from_secs(10),
            jws: JwsPolicy::default(),
            metrics_listen: Some(SocketAddr::from(([127, 0, 0, 1], 3002))),
            iam: crate::iam::IamConfig::default(),
            ca_dir: None,
            oracle_per_currency_owners: false,
            admin_allow_plaintext: false,
            allow_broken_audit: false,
            refusal_interval: crate::refusals::REFUSAL_INTERVAL,
            limits: crate::connections::ConnectionLimits::default(),
        }
    }
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// A listener could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The data directory or a secret file is unusable.
    #[error("data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// The store failed at start.
    #[error("store: {0}")]
    Store(String),
    /// The HTTP client could not be built.
    #[error("http client: {0}")]
    Client(String),
    /// TLS material is unusable.
    #[error("tls: {0}")]
    Tls(#[from] TlsError),
    /// The hub's JWS signing key is unusable.
    #[error("{0}")]
    Signer(#[from] SignerError),
    /// The audit log's hash chain is broken (an entry edited, removed or reordered).
    #[error(
        "the audit log is broken: {first}{more}; the hub does not start on a tampered audit \
         log. Inspect it with `ferroloop audit verify`, restore the database from a backup, or \
         start with --allow-broken-audit to run with the break on record"
    )]
    AuditBroken {
        /// The first broken entry.
        first: String,
        /// How many more problems, as text.
        more: String,
    },
    /// The admin listener would serve plain HTTP beyond this host.
    #[error(
        "admin_listen {0} is not a loopback address, and the admin API has no TLS: operators' \
         passwords, session tokens and TOTP codes would cross the network in clear text. \
         Listen on 127.0.0.1/::1 (reach it through an SSH tunnel or a TLS-terminating proxy on \
         this host), or set admin_allow_plaintext = true if the network is otherwise protected"
    )]
    AdminPlaintext(SocketAddr),
    /// The connection limits do not fit the process.
    #[error("{0}")]
    Limits(#[from] crate::connections::LimitsError),
}

/// A running hub.
pub struct RunningHub {
    /// Where the FSPIOP listener is bound.
    pub fspiop_addr: SocketAddr,
    /// Where the admin listener is bound.
    pub admin_addr: SocketAddr,
    /// Where the first administrator's one-time password is written at first start (the file
    /// is deleted when the password is changed).
    pub initial_admin_password_path: PathBuf,
    /// Whether the FSPIOP listener requires mutual TLS.
    pub mtls: bool,
    /// The hub's public JWS key (what DFSPs verify hub messages with).
    pub jws_public_key: jws::VerifyingKey,
    /// Where the hub's JWS signing key is kept.
    pub jws_signing_key_path: PathBuf,
    /// Where the metrics listener is bound.
    pub metrics_addr: Option<SocketAddr>,
    /// Counters (also served on the metrics listener).
    pub metrics: Arc<Metrics>,
    tls: Arc<TlsControl>,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningHub {
    /// Stops accepting, finishes in-flight requests, and returns.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Re-reads the TLS files (server certificate, trust store, CRL) and swaps them in for new
    /// connections, then closes open connections whose certificate the CRL now revokes;
    /// returns how many were closed. On error the previous set stays in force.
    pub fn reload_tls(&self) -> Result<usize, TlsError> {
        self.tls.reload()
    }

    /// Mutual-TLS connections open on the FSPIOP listener.
    pub fn open_connections(&self) -> usize {
        self.tls.registry.open()
    }

    /// A token that is cancelled when the hub stops.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
}

/// Starts a hub over `store`.
pub async fn start(config: HubConfig, store: Arc<dyn LedgerStore>) -> Result<RunningHub, HubError> {
    private_dir(&config.data_dir).map_err(|e| HubError::DataDir(config.data_dir.clone(), e))?;
    check_admin_listen(&config)?;
    check_audit_chain(&config, store.as_ref()).await?;
    let signer = Arc::new(HubSigner::load_or_generate(
        &config.data_dir,
        config.jws.signing_key.as_deref(),
        &config.hub_name,
    )?);
    if !config.jws.verify {
        tracing::warn!(
            "inbound JWS verification is OFF: DFSP messages are accepted unsigned (development only)"
        );
    }

    let ledger = Ledger::new(config.clock.clone())
        .with_ilp_policy(config.ilp_policy)
        .with_per_currency_party_owners(config.oracle_per_currency_owners);
    if config.ilp_policy != IlpPolicy::Strict {
        tracing::warn!(
            "ILP terms checks are reduced to the condition check (ilp_policy = condition-only)"
        );
    }
    let writer = LedgerWriter::start(store.clone(), ledger, config.queue, config.batch_max);
    let refusals = crate::refusals::RefusalAudit::new(writer.clone());
    let directory = Directory::new(writer.clone(), Duration::from_secs(30));
    let metrics = Arc::new(Metrics::default());
    let registry = Arc::new(ConnectionRegistry::default());
    // Per-participant TLS settings: key pins for the listener, callback CAs for delivery.
    let settings = writer
        .read(|_, tx| Box::pin(async move { tx.all_participant_tls().await }))
        .await
        .map_err(|e| HubError::Store(e.to_string()))?;
    let pins: Arc<ArcSwap<HashMap<String, String>>> = Arc::new(ArcSwap::from_pointee(
        settings
            .iter()
            .filter_map(|s| {
                s.spki_pin
                    .clone()
                    .map(|pin| (s.participant.to_ascii_lowercase(), pin))
            })
            .collect(),
    ));
    let outbound = Arc::new(match &config.tls {
        Some(files) => {
            let tls = outbound_tls(files)?;
            let cas = settings
                .iter()
                .filter_map(|s| {
                    s.callback_ca_pem
                        .clone()
                        .map(|pem| (s.participant.clone(), pem))
                })
                .collect();
            OutboundClients::secure(tls, cas).map_err(HubError::Client)?
        }
        None => OutboundClients::plain().map_err(HubError::Client)?,
    });
    let dispatcher = Dispatcher::new(
        outbound.clone(),
        directory.clone(),
        writer.clone(),
        config.callbacks.clone(),
        signer.clone(),
        metrics.clone(),
    );
    let keys = KeyRegistry::new(writer.clone(), Duration::from_secs(30));

    let weak: Arc<OnceLock<Weak<HubState>>> = Arc::new(OnceLock::new());
    let on_due: OnDue = {
        let weak = weak.clone();
        Arc::new(move |ids| {
            let state = weak.get().and_then(Weak::upgrade);
            Box::pin(async move {
                if let Some(state) = state {
                    crate::handlers::expire(&state, ids).await;
                }
            })
        })
    };
    let expiry = ExpiryScheduler::start(config.clock.clone(), on_due);
    let state = Arc::new(HubState {
        hub_name: config.hub_name.clone(),
        writer: writer.clone(),
        dispatcher,
        directory: directory.clone(),
        expiry: expiry.clone(),
        jws: config.jws.clone(),
        keys: keys.clone(),
        metrics: metrics.clone(),
        refusals: refusals.clone(),
    });
    let _ = weak.set(Arc::downgrade(&state));

    // Transfers left open by a previous run get their timers back.
    let open = writer
        .read(|_, tx| Box::pin(async move { tx.open_transfers().await }))
        .await
        .map_err(|e| HubError::Store(e.to_string()))?;
    tracing::info!(open = open.len(), store = %store.describe(), "expiry timers rebuilt");
    for (id, deadline) in open {
        expiry.schedule(deadline, id);
    }

    // The FSPIOP listener may not use up the descriptors the rest of the hub needs.
    let nofile = crate::connections::raise_file_limit();
    let max_connections = config.limits.resolve(nofile)?;
    let shutdown = CancellationToken::new();
    let fspiop_listener = TcpListener::bind(config.fspiop_listen)
        .await
        .map_err(|e| HubError::Bind(config.fspiop_listen, e))?;
    let admin_listener = TcpListener::bind(config.admin_listen)
        .await
        .map_err(|e| HubError::Bind(config.admin_listen, e))?;
    let fspiop_addr = fspiop_listener
        .local_addr()
        .map_err(|e| HubError::Bind(config.fspiop_listen, e))?;
    let admin_addr = admin_listener
        .local_addr()
        .map_err(|e| HubError::Bind(config.admin_listen, e))?;

    // DFSPs fetch the hub's public JWS key over the same authenticated link they send on.
    let published = Arc::new(signer.published());
    let fspiop_app = Router::new()
        .route(
            "/hub/jwsKey",
            axum::routing::get(move || {
                let published = published.clone();
                async move { axum::Json((*published).clone()) }
            }),
        )
        .fallback(crate::api::handle)
        .with_state(state.clone())
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            panic_response,
        ));
    let acceptor = match &config.tls {
        Some(files) => Some(ReloadableAcceptor::new(files.clone())?),
        None => None,
    };
    let tls = Arc::new(TlsControl::new(
        acceptor.clone(),
        config.tls.as_ref().and_then(|f| f.crl.clone()),
        registry.clone(),
    ));
    // Connections a CRL already revokes are closed at once when the CRL changes.
    tls.reload_revocations();
    let operations = Operations::new(
        writer.clone(),
        directory,
        keys,
        config.jws.clone(),
        Transport {
            connections: registry.clone(),
            pins: pins.clone(),
            outbound: outbound.clone(),
        },
    );
    let iam = crate::iam::Iam::start(writer.clone(), &config.iam, &config.data_dir)
        .await
        .map_err(HubError::Store)?;
    iam.bootstrap().await.map_err(HubError::Store)?;
    let admin_app = admin::router(AdminState {
        operations: operations.clone(),
        requests: crate::requests::Requests::new(operations.clone(), iam.clone())
            .with_certificates(
                config
                    .ca_dir
                    .clone()
                    .map(|path| Arc::new(crate::requests::CaDir::new(path))),
                tls.clone(),
            ),
        iam: iam.clone(),
        hub_jws_key: Arc::new(signer.published()),
        tls: tls.clone(),
        refusals: refusals.clone(),
    })
    .layer(tower_http::catch_panic::CatchPanicLayer::new());

    let mut tasks = Vec::new();
    let token = shutdown.clone();
    let refusals_task = refusals.start(config.refusal_interval, shutdown.clone());
    match acceptor.clone() {
        Some(acceptor) => {
            let guard = TlsGuard {
                registry: registry.clone(),
                metrics: metrics.clone(),
                pins: pins.clone(),
                on_refusal: {
                    // The first refusals per source and reason in an interval are audited in
                    // full, the rest counted into one summary (`hub::refusals`).
                    let refusals = refusals.clone();
                    Arc::new(move |refusal: crate::tls::TlsRefusal| {
                        let participant = refusal.participant.as_deref();
                        refusals.refused(crate::refusals::Refusal {
                            source: refusal.remote.map(|r| r.ip()),
                            actor: participant.unwrap_or(crate::refusals::UNAUTHENTICATED),
                            action: "tls.refused",
                            reason: refusal.reason,
                            subject: participant.unwrap_or(""),
                            detail: serde_json::json!({
                                "remote": refusal.remote.map(|r| r.to_string()),
                                "reason": refusal.reason,
                                "detail": refusal.detail,
                            }),
                        });
                    })
                },
            };
            let listener = FspiopListener::new(
                fspiop_listener,
                acceptor,
                config.handshake_timeout,
                config.limits,
                max_connections,
                guard,
            );
            tracing::info!(
                max_connections,
                max_per_participant = config.limits.max_per_participant,
                file_limit = ?nofile,
                "FSPIOP connection limits"
            );
            let app = fspiop_app.layer(middleware::from_fn(connection_caller));
            tasks.push(tokio::spawn(listener.serve(app, token)));
        }
        None => {
            let app = fspiop_app.layer(middleware::from_fn(plain_http_caller));
            tasks.push(tokio::spawn(async move {
                let service = app.into_make_service_with_connect_info::<SocketAddr>();
                let served = axum::serve(fspiop_listener, service)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "FSPIOP listener failed");
                }
            }));
            tracing::warn!(%fspiop_addr, "FSPIOP listener is plain HTTP: caller identity is not proven (development transport)");
        }
    }
    let token = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let service = admin_app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(admin_listener, service)
            .with_graceful_shutdown(token.cancelled_owned())
            .await;
        if let Err(error) = served {
            tracing::error!(%error, "admin listener failed");
        }
    }));
    let metrics_addr = match config.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|e| HubError::Bind(addr, e))?;
            let bound = listener.local_addr().map_err(|e| HubError::Bind(addr, e))?;
            let app = metrics_router(metrics.clone(), registry.clone());
            let token = shutdown.clone();
            tasks.push(tokio::spawn(async move {
                let served = axum::serve(listener, app)
                    .with_graceful_shutdown(token.cancelled_owned())
                    .await;
                if let Err(error) = served {
                    tracing::error!(%error, "metrics listener failed");
                }
            }));
            Some(bound)
        }
        None => None,
    };
    // Last, so that the final summary of refusals is written after the listeners stopped.
    tasks.push(refusals_task);
    let mtls = acceptor.is_some();
    tracing::info!(%fspiop_addr, %admin_addr, hub = %config.hub_name, mtls, "hub started");
    Ok(RunningHub {
        fspiop_addr,
        admin_addr,
        initial_admin_password_path: iam.initial_password_path(),
        mtls,
        jws_public_key: signer.public_key().clone(),
        jws_signing_key_path: signer.path().to_path_buf(),
        metrics_addr,
        metrics,
        tls,
        shutdown,
        tasks,
    })
}

/// The hub's outbound TLS material from the listener's files: its client certificate and key
/// (if configured) and, as the default trust anchor for DFSP callback servers, the CA that
/// issues DFSP certificates.
fn outbound_tls(files: &TlsFiles) -> Result<OutboundTls, HubError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| {
            HubError::Tls(TlsError::File {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        })
    };
    let identity_pem = match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => Some(format!("{}\n{}", read(cert)?, read(key)?)),
        _ => {
            tracing::warn!(
                "no hub client certificate configured (tls.client_cert/client_key): callbacks verify DFSP servers but present no certificate"
            );
            None
        }
    };
    Ok(OutboundTls {
        identity_pem,
        default_ca_pem: read(&files.client_ca)?,
    })
}

/// The metrics plane: Prometheus text at `/metrics`, liveness at `/health`.
fn metrics_router(metrics: Arc<Metrics>, registry: Arc<ConnectionRegistry>) -> Router {
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let text = metrics.render(registry.open(), registry.closed_by_hub());
                async move {
                    (
                        [(
                            axum::http::header::CONTENT_TYPE,
                            "text/plain; version=0.0.4",
                        )],
                        text,
                    )
                }
            }),
        )
        .route(
            "/health",
            axum::routing::get(|| async { axum::Json(serde_json::json!({"status": "OK"})) }),
        )
}

/// Over mutual TLS the caller was established when the connection was accepted.
async fn connection_caller(mut request: Request, next: Next) -> Response {
    let caller = request
        .extensions()
        .get::<ConnectInfo<Caller>>()
        .map(|c| c.0.clone());
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    next.run(request).await
}

/// Plain HTTP proves nothing about the peer: the transport says so in the [`Caller`].
async fn plain_http_caller(mut request: Request, next: Next) -> Response {
    let remote = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    request.extensions_mut().insert(Caller {
        identity: CallerIdentity::Unauthenticated,
        remote,
    });
    next.run(request).await
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    crate::api::error_response(&fspiop::FspiopError::internal(
        "unexpected failure; nothing was changed",
    ))
}

/// Reads a secret file, or creates it (0600) with 256 random bits on first start.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

/// Creates the data directory (it holds the database and the hub's secrets) readable by the
/// hub's user only, and narrows an existing one that others can read.
fn private_dir(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(DATA_DIR_MODE)
            .create(path)?;
        let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(DATA_DIR_MODE))?;
            tracing::warn!(
                dir = %path.display(),
                "the data directory was open to other users ({mode:o}); narrowed to 700"
            );
        }
        Ok(())
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(path)
}

/// The mode of the data directory.
pub const DATA_DIR_MODE: u32 = 0o700;

/// A non-loopback admin listener serves plain HTTP to the network: refused unless
/// [`HubConfig::admin_allow_plaintext`], and then announced.
fn check_admin_listen(config: &HubConfig) -> Result<(), HubError> {
    if config.admin_listen.ip().is_loopback() {
        return Ok(());
    }
    if !config.admin_allow_plaintext {
        return Err(HubError::AdminPlaintext(config.admin_listen));
    }
    tracing::warn!(
        admin_listen = %config.admin_listen,
        "ADMIN API ON A NON-LOOPBACK ADDRESS WITHOUT TLS (admin_allow_plaintext = true): \
         operators' passwords, sessions and TOTP codes cross the network in clear text; \
         anyone on the path can take over the operator plane"
    );
    Ok(())
}

/// Verifies the whole audit hash chain before anything is written to it: a hub does not start
/// on a tampered log unless [`HubConfig::allow_broken_audit`] (then the break is logged and
/// recorded in the log itself).
async fn check_audit_chain(config: &HubConfig, store: &dyn LedgerStore) -> Result<(), HubError> {
    let report = crate::audit::verify_chain(store)
        .await
        .map_err(|e| HubError::Store(format!("verifying the audit log: {e}")))?;
    let Some(first) = report.problems.first() else {
        tracing::info!(
            entries = report.entries,
            head_seq = report.head_seq,
            head_hash = %report.head_hash,
            "audit log verified"
        );
        return Ok(());
    };
    let others = report
        .problems_not_listed
        .saturating_add(u64::try_from(report.problems.len()).unwrap_or(u64::MAX))
        .saturating_sub(1);
    let more = if others == 0 {
        String::new()
    } else {
        format!(" (and {others} more problems)")
    };
    let error = HubError::AuditBroken {
        first: first.to_string(),
        more,
    };
    if !config.allow_broken_audit {
        return Err(error);
    }
    tracing::error!(
        "{error} — STARTING ANYWAY (allow_broken_audit): the log is not trustworthy before \
         this point"
    );
    let entry = ledger::AuditEntry {
        at_ms: config.clock.now_millis(),
        actor: "host".into(),
        action: "audit.broken_chain_accepted".into(),
        subject: String::new(),
        detail: serde_json::json!({
            "firstProblem": first.to_string(),
            "problems": others.saturating_add(1),
            "headSeq": report.head_seq,
        })
        .to_string(),
        outcome: "failed".into(),
        ..Default::default()
    };
    let write = async {
        let mut tx = store.begin().await?;
        tx.append_audit(&entry).await?;
        tx.commit().await
    };
    write
        .await
        .map_err(|e| HubError::Store(format!("recording the broken audit log: {e}")))
}
