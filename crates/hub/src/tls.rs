//! The mutual-TLS transport of the FSPIOP listener.
//!
//! - TLS 1.3 and 1.2 only, with rustls's AEAD, forward-secret suites on aws-lc-rs (the one
//!   crypto provider of the tree);
//! - a client certificate is required and verified against the hub's trust store, with the CRL
//!   checked, before any HTTP is read;
//! - handshakes run concurrently (a bounded number at once) with a timeout, so a stalled peer
//!   blocks no one;
//! - connections are limited (globally and per participant) and every request cycle has
//!   deadlines ([`ConnectionLimits`]);
//! - the configuration sits behind an atomic swap: certificates, trust store and CRL can be
//!   replaced while the hub runs, and new connections use the new set at once;
//! - each connection yields a [`Caller`] naming the participant its certificate was issued to.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::caller::{Caller, CallerIdentity};
use crate::connections::{
    Activity, ClosableStream, ConnectionLimits, ConnectionRegistry, REFUSAL_LOG_INTERVAL,
    RateLimitedLog,
};
use crate::metrics::Metrics;

/// Where the listener's TLS material lives (PEM files).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    /// The hub's server certificate chain.
    pub server_cert: PathBuf,
    /// Its private key.
    pub server_key: PathBuf,
    /// CA certificates whose client certificates are accepted.
    pub client_ca: PathBuf,
    /// Certificate revocation lists of those CAs (optional).
    pub crl: Option<PathBuf>,
    /// The hub's client certificate chain, presented on callbacks to DFSPs (outbound mTLS).
    pub client_cert: Option<PathBuf>,
    /// Its private key.
    pub client_key: Option<PathBuf>,
}

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or parsed.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// rustls refused the combination.
    #[error("TLS configuration: {0}")]
    Config(String),
}

fn file_error(path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// Builds the server configuration from the files.
pub fn server_config(files: &TlsFiles) -> Result<ServerConfig, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.server_cert)
        .map_err(|e| file_error(&files.server_cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(&files.server_cert, e))?;
    if chain.is_empty() {
        return Err(file_error(&files.server_cert, "no certificate found"));
    }
    let key = PrivateKeyDer::from_pem_file(&files.server_key)
        .map_err(|e| file_error(&files.server_key, e))?;
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(&files.client_ca)
        .map_err(|e| file_error(&files.client_ca, e))?
    {
        let cert = cert.map_err(|e| file_error(&files.client_ca, e))?;
        roots
            .add(cert)
            .map_err(|e| file_error(&files.client_ca, e))?;
    }
    if roots.is_empty() {
        return Err(file_error(&files.client_ca, "no CA certificate found"));
    }
    let mut crls = Vec::new();
    if let Some(path) = &files.crl {
        for crl in
            CertificateRevocationListDer::pem_file_iter(path).map_err(|e| file_error(path, e))?
        {
            crls.push(crl.map_err(|e| file_error(path, e))?);
        }
    }
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .with_crls(crls)
        .build()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// An acceptor whose configuration can be swapped while the listener runs.
#[derive(Clone)]
pub struct ReloadableAcceptor {
    current: Arc<ArcSwap<ServerConfig>>,
    files: TlsFiles,
}

impl ReloadableAcceptor {
    /// Loads the files.
    pub fn new(files: TlsFiles) -> Result<ReloadableAcceptor, TlsError> {
        let config = server_config(&files)?;
        Ok(ReloadableAcceptor {
            current: Arc::new(ArcSwap::from_pointee(config)),
            files,
        })
    }

    /// Re-reads the files and swaps them in atomically; on error the old set stays in force.
    pub fn reload(&self) -> Result<(), TlsError> {
        let config = server_config(&self.files)?;
        self.current.store(Arc::new(config));
        Ok(())
    }
}

impl ReloadableAcceptor {
    /// Starts a handshake with the configuration in force now.
    pub fn accept<C: AsyncRead + AsyncWrite + Unpin>(&self, stream: C) -> tokio_rustls::Accept<C> {
        tokio_rustls::TlsAcceptor::from(self.current.load_full()).accept(stream)
    }
}

/// The participant a client certificate names: our SAN URI
/// (`urn:ferroloop:participant:<name>`) if present, else the subject common name.
pub fn participant_of(certificate: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    if let Ok(Some(san)) = parsed.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && let Some(participant) = uri.strip_prefix(PARTICIPANT_URI_PREFIX)
            {
                return Some(participant.to_string());
            }
        }
    }
    parsed
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

/// Prefix of the SAN URI the hub CA puts in participant certificates.
pub const PARTICIPANT_URI_PREFIX: &str = "urn:ferroloop:participant:";

/// Reloading the FSPIOP listener's TLS material at run time.
pub struct TlsControl {
    acceptor: Option<ReloadableAcceptor>,
    crl: Option<PathBuf>,
    /// Live connections.
    pub registry: Arc<ConnectionRegistry>,
}

impl TlsControl {
    /// Control over `acceptor` (none for plain HTTP) with the CRL at `crl`.
    pub fn new(
        acceptor: Option<ReloadableAcceptor>,
        crl: Option<PathBuf>,
        registry: Arc<ConnectionRegistry>,
    ) -> TlsControl {
        TlsControl {
            acceptor,
            crl,
            registry,
        }
    }

    /// Re-reads certificate, trust store and CRL and swaps them in for new connections (on
    /// error the previous set stays), then closes open connections the CRL revokes. Returns
    /// how many connections were closed.
    pub fn reload(&self) -> Result<usize, TlsError> {
        let Some(acceptor) = &self.acceptor else {
            return Ok(0);
        };
        acceptor.reload()?;
        Ok(self.reload_revocations())
    }

    /// Closes open connections whose certificate the CRL revokes; returns how many.
    pub fn reload_revocations(&self) -> usize {
        let Some(path) = &self.crl else {
            return 0;
        };
        match revoked_serials(path) {
            Ok(serials) => {
                let closed = self.registry.close_serials(&serials);
                if closed > 0 {
                    tracing::warn!(closed, "closed connections of revoked certificates");
                }
                closed
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the CRL to close revoked connections");
                0
            }
        }
    }

    /// Whether the listener is mutual TLS.
    pub fn is_mtls(&self) -> bool {
        self.acceptor.is_some()
    }
}

/// Why the TLS layer refused a connection.
#[derive(Clone, Debug)]
pub struct TlsRefusal {
    /// Peer address.
    pub remote: Option<SocketAddr>,
    /// Fixed label: `no_certificate`, `unknown_issuer`, `expired`, `revoked`,
    /// `bad_certificate`, `protocol`, `timeout`, `binding`, `handshake_failed`.
    pub reason: &'static str,
    /// The participant the certificate names, when the handshake got that far.
    pub participant: Option<String>,
    /// What the TLS library said.
    pub detail: String,
}

/// What the FSPIOP listener's TLS layer reports to and checks against.
#[derive(Clone)]
pub struct TlsGuard {
    /// Live connections (closable).
    pub registry: Arc<ConnectionRegistry>,
    /// Refusal counters.
    pub metrics: Arc<Metrics>,
    /// Pinned SubjectPublicKeyInfo SHA-256 per participant (lower-case name → hex).
    pub pins: Arc<ArcSwap<HashMap<String, String>>>,
    /// Called for every refusal (the hub audits it).
    pub on_refusal: Arc<dyn Fn(TlsRefusal) + Send + Sync>,
}

impl TlsGuard {
    fn refuse(&self, refusal: TlsRefusal) {
        tracing::info!(remote = ?refusal.remote, reason = refusal.reason, participant = refusal.participant.as_deref().map(crate::logsafe::Escaped).map(tracing::field::display), detail = %crate::logsafe::Escaped(&refusal.detail), "TLS connection refused");
        self.metrics.handshake_refusal(refusal.reason);
        (self.on_refusal)(refusal);
    }
}

/// The FSPIOP listener: mutual TLS with concurrent handshakes and a timeout, every refusal
/// reported, the certificate's key checked against the participant's pin, every accepted
/// connection registered so that the hub can close it, and the connection limits enforced:
///
/// - a global cap on open connections (handshakes in progress included): beyond it a new
///   connection is closed right after `accept`, before any TLS work;
/// - at most `max_handshakes` handshakes at once: beyond, the listener waits for one to end;
/// - a cap per participant (the certificate's identity): beyond it a new connection is closed
///   right after its handshake, while other participants still connect;
/// - deadlines on each request cycle (headers, body, idle keep-alive), enforced by the
///   connection's [`ClosableStream`].
///
/// Limit refusals are counted (`ferroloop_fspiop_connections_refused_total`) and logged at
/// most once per [`REFUSAL_LOG_INTERVAL`] per limit.
pub struct FspiopListener {
    tcp: TcpListener,
    acceptor: ReloadableAcceptor,
    handshake_timeout: Duration,
    limits: ConnectionLimits,
    slots: Arc<Semaphore>,
    max_connections: usize,
    handshakes: Arc<Semaphore>,
    guard: TlsGuard,
    global_log: Arc<RateLimitedLog>,
    participant_log: Arc<RateLimitedLog>,
}

/// A connection the FSPIOP listener accepted.
pub type FspiopStream = ClosableStream<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

impl FspiopListener {
    /// The listener on `tcp`, with at most `max_connections` open connections (see
    /// [`ConnectionLimits::resolve`]).
    pub fn new(
        tcp: TcpListener,
        acceptor: ReloadableAcceptor,
        handshake_timeout: Duration,
        limits: ConnectionLimits,
        max_connections: usize,
        guard: TlsGuard,
    ) -> FspiopListener {
        FspiopListener {
            tcp,
            acceptor,
            handshake_timeout,
            limits,
            slots: Arc::new(Semaphore::new(max_connections.min(Semaphore::MAX_PERMITS))),
            max_connections,
            handshakes: Arc::new(Semaphore::new(
                limits.max_handshakes.clamp(1, Semaphore::MAX_PERMITS),
            )),
            guard,
            global_log: Arc::new(RateLimitedLog::new(REFUSAL_LOG_INTERVAL)),
            participant_log: Arc::new(RateLimitedLog::new(REFUSAL_LOG_INTERVAL)),
        }
    }

    /// Where it listens.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Serves `app` on every admitted connection until `shutdown`, then stops accepting, lets
    /// open connections finish their request in flight (idle ones close at once) and returns
    /// when all are gone. Each request carries the connection's [`Caller`] as
    /// `ConnectInfo<Caller>`.
    pub async fn serve(self, app: axum::Router, shutdown: CancellationToken) {
        // Every connection task holds a sender; when all are dropped, all are done.
        let (alive, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
        let this = Arc::new(self);
        loop {
            let handshake = tokio::select! {
                _ = shutdown.cancelled() => break,
                permit = this.handshakes.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break,
                },
            };
            let (tcp, remote) = tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = this.tcp.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        if !is_connection_error(&error) {
                            tracing::error!(%error, "FSPIOP listener accept failed");
                            tokio::time::sleep(Duration::from_secs(1)).await;
                        }
                        continue;
                    }
                },
            };
            let Ok(slot) = this.slots.clone().try_acquire_owned() else {
                drop(tcp);
                this.limit_refusal("global_limit", remote, None);
                continue;
            };
            let this = this.clone();
            let app = app.clone();
            let shutdown = shutdown.clone();
            let alive = alive.clone();
            tokio::spawn(async move {
                let handshaken =
                    tokio::time::timeout(this.handshake_timeout, this.acceptor.accept(tcp)).await;
                drop(handshake);
                let stream = match handshaken {
                    Ok(Ok(stream)) => stream,
                    Ok(Err(error)) => {
                        this.guard.refuse(TlsRefusal {
                            remote: Some(remote),
                            reason: classify(&error),
                            participant: None,
                            detail: error.to_string(),
                        });
                        return;
                    }
                    Err(_) => {
                        this.guard.refuse(TlsRefusal {
                            remote: Some(remote),
                            reason: "timeout",
                            participant: None,
                            detail: "TLS handshake timed out".into(),
                        });
                        return;
                    }
                };
                if let Some((stream, caller, activity)) = this.admit(stream, remote) {
                    serve_connection(stream, caller, activity, app, shutdown).await;
                }
                drop(slot);
                drop(alive);
            });
        }
        drop(alive);
        let _ = all_done.recv().await;
    }

    /// Counts and (at most once per interval) logs a connection closed for a limit.
    fn limit_refusal(&self, reason: &'static str, remote: SocketAddr, participant: Option<&str>) {
        self.guard.metrics.connection_refused(reason);
        let log = if participant.is_some() {
            &self.participant_log
        } else {
            &self.global_log
        };
        if let Some(suppressed) = log.hit() {
            tracing::warn!(
                %remote,
                participant = participant.unwrap_or(""),
                reason,
                max_connections = self.max_connections,
                max_per_participant = self.limits.max_per_participant,
                not_logged_since_last = suppressed,
                "FSPIOP connection refused: connection limit reached"
            );
        }
    }

    /// Registers a handshaken connection, or refuses it when its key is not the one pinned for
    /// its participant or its participant already has as many connections as it may.
    fn admit(
        &self,
        stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        remote: SocketAddr,
    ) -> Option<(FspiopStream, Caller, Arc<Activity>)> {
        let leaf = stream
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|c| c.as_ref().to_vec())
            .unwrap_or_default();
        let participant = participant_of(&leaf).unwrap_or_default();
        let serial = pki::inspect_der(&leaf)
            .map(|info| info.serial_hex)
            .unwrap_or_default();
        let pins = self.guard.pins.load();
        if let Some(pin) = pins.get(&participant.to_ascii_lowercase()) {
            let presented = spki_sha256(&leaf).unwrap_or_default();
            if &presented != pin {
                self.guard.refuse(TlsRefusal {
                    remote: Some(remote),
                    reason: "binding",
                    participant: Some(participant.clone()),
                    detail: format!(
                        "certificate key {presented} is not the key pinned for {participant}"
                    ),
                });
                return None;
            }
        }
        let Some((id, token)) = self.guard.registry.try_register(
            &participant,
            &serial,
            self.limits.max_per_participant,
        ) else {
            self.limit_refusal("participant_limit", remote, Some(&participant));
            return None;
        };
        let activity = Activity::new();
        let caller = Caller {
            // The verifier requires a certificate, so an empty name only happens for a
            // certificate that names no participant: such a caller can act as nobody.
            identity: CallerIdentity::Participant(participant),
            remote: Some(remote),
        };
        let stream = ClosableStream::new(stream, self.guard.registry.clone(), id, token)
            .with_deadlines(
                activity.clone(),
                self.limits.timeouts,
                self.guard.metrics.clone(),
            );
        Some((stream, caller, activity))
    }
}

/// Serves HTTP/1.1 on one admitted connection until it ends or the hub shuts down.
async fn serve_connection(
    stream: FspiopStream,
    caller: Caller,
    activity: Arc<Activity>,
    app: axum::Router,
    shutdown: CancellationToken,
) {
    use tower::ServiceExt;
    let service = tower::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
        let body_pending = !http_body::Body::is_end_stream(request.body());
        activity.headers_received(body_pending);
        let activity = activity.clone();
        let mut request = request.map(|body| {
            axum::body::Body::new(TrackedBody {
                inner: body,
                activity: activity.clone(),
            })
        });
        request
            .extensions_mut()
            .insert(axum::extract::ConnectInfo(caller.clone()));
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await;
            activity.response_ready();
            response
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(
            hyper_util::rt::TokioIo::new(stream),
            hyper_util::service::TowerToHyperService::new(service),
        );
    tokio::pin!(connection);
    let finished = tokio::select! {
        finished = connection.as_mut() => finished,
        _ = shutdown.cancelled() => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(error) = finished {
        tracing::debug!(%error, "FSPIOP connection ended");
    }
}

/// A request body that tells the connection's [`Activity`] when it has been read to the end
/// (the body deadline stops there).
struct TrackedBody {
    inner: hyper::body::Incoming,
    activity: Arc<Activity>,
}

impl http_body::Body for TrackedBody {
    type Data = bytes::Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        let this = self.get_mut();
        let polled = std::pin::Pin::new(&mut this.inner).poll_frame(cx);
        if matches!(polled, std::task::Poll::Ready(None))
            || http_body::Body::is_end_stream(&this.inner)
        {
            this.activity.body_done();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// SHA-256 (lower-case hex) of a certificate's SubjectPublicKeyInfo: what a pin names.
pub fn spki_sha256(certificate: &[u8]) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate).ok()?;
    let digest = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        parsed.tbs_certificate.subject_pki.raw,
    );
    Some(hex::encode(digest.as_ref()))
}

/// A label for a failed handshake.
fn classify(error: &io::Error) -> &'static str {
    use rustls::{CertificateError, Error as R};
    let Some(tls) = error.get_ref().and_then(|e| e.downcast_ref::<R>()) else {
        return "handshake_failed";
    };
    match tls {
        R::NoCertificatesPresented => "no_certificate",
        R::InvalidCertificate(CertificateError::UnknownIssuer) => "unknown_issuer",
        R::InvalidCertificate(
            CertificateError::Expired | CertificateError::ExpiredContext { .. },
        ) => "expired",
        R::InvalidCertificate(CertificateError::Revoked) => "revoked",
        R::InvalidCertificate(_) => "bad_certificate",
        R::PeerIncompatible(_) | R::InappropriateHandshakeMessage { .. } => "protocol",
        _ => "handshake_failed",
    }
}

fn is_connection_error(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}

/// The serials (lower-case hex, as `pki` writes them) a CRL file revokes.
pub fn revoked_serials(path: &Path) -> Result<HashSet<String>, TlsError> {
    let text = std::fs::read_to_string(path).map_err(|e| file_error(path, e))?;
    let info = pki::inspect_crl(&text).map_err(|e| file_error(path, e))?;
    Ok(info.revoked.into_iter().map(|r| r.serial_hex).collect())
}
