//! The mutual-TLS transport of the FSPIOP listener.
//!
//! - TLS 1.3 and 1.2 only, with rustls's AEAD, forward-secret suites on aws-lc-rs (the one
//!   crypto provider of the tree);
//! - a client certificate is required and verified against the hub's trust store, with the CRL
//!   checked, before any HTTP is read;
//! - handshakes run concurrently with a timeout (tls-listener), so a stalled peer blocks no one;
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
use axum::extract::connect_info::Connected;
use axum::serve::IncomingStream;
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use tls_listener::{AsyncTls, TlsListener};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

use crate::caller::{Caller, CallerIdentity};
use crate::connections::{ClosableStream, ConnectionRegistry};
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

impl<C: AsyncRead + AsyncWrite + Unpin> AsyncTls<C> for ReloadableAcceptor {
    type Stream = tokio_rustls::server::TlsStream<C>;
    type Error = io::Error;
    type AcceptFuture = tokio_rustls::Accept<C>;

    fn accept(&self, stream: C) -> Self::AcceptFuture {
        tokio_rustls::TlsAcceptor::from(self.current.load_full()).accept(stream)
    }
}

/// The listener type the FSPIOP plane serves on.
pub type MtlsListener = TlsListener<TcpListener, ReloadableAcceptor>;

/// Wraps a bound TCP listener.
pub fn listener(
    tcp: TcpListener,
    acceptor: ReloadableAcceptor,
    handshake_timeout: Duration,
) -> MtlsListener {
    tls_listener::builder(acceptor)
        .handshake_timeout(handshake_timeout)
        .listen(tcp)
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

/// The FSPIOP listener: mutual TLS with concurrent handshakes and a timeout (tls-listener),
/// every refusal reported, the certificate's key checked against the participant's pin, and
/// every accepted connection registered so that the hub can close it.
pub struct FspiopListener {
    inner: MtlsListener,
    guard: TlsGuard,
}

impl FspiopListener {
    /// Wraps the TLS listener.
    pub fn new(inner: MtlsListener, guard: TlsGuard) -> FspiopListener {
        FspiopListener { inner, guard }
    }
}

/// A connection the FSPIOP listener accepted.
pub type FspiopStream = ClosableStream<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>;

impl axum::serve::Listener for FspiopListener {
    type Io = FspiopStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    if let Some(accepted) = self.admit(stream, remote) {
                        return (accepted, remote);
                    }
                }
                Err(tls_listener::Error::ListenerError(error)) => {
                    if !is_connection_error(&error) {
                        tracing::error!(%error, "FSPIOP listener accept failed");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                Err(tls_listener::Error::TlsAcceptError {
                    error, peer_addr, ..
                }) => self.guard.refuse(TlsRefusal {
                    remote: Some(peer_addr),
                    reason: classify(&error),
                    participant: None,
                    detail: error.to_string(),
                }),
                Err(tls_listener::Error::HandshakeTimeout { peer_addr, .. }) => {
                    self.guard.refuse(TlsRefusal {
                        remote: Some(peer_addr),
                        reason: "timeout",
                        participant: None,
                        detail: "TLS handshake timed out".into(),
                    })
                }
                Err(other) => self.guard.refuse(TlsRefusal {
                    remote: None,
                    reason: "handshake_failed",
                    participant: None,
                    detail: other.to_string(),
                }),
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

impl FspiopListener {
    /// Registers a handshaken connection, or refuses it when its key is not the one pinned for
    /// its participant.
    fn admit(
        &self,
        stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
        remote: SocketAddr,
    ) -> Option<FspiopStream> {
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
        let (id, token) = self.guard.registry.register(&participant, &serial);
        Some(ClosableStream::new(
            stream,
            self.guard.registry.clone(),
            id,
            token,
        ))
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

impl Connected<IncomingStream<'_, FspiopListener>> for Caller {
    fn connect_info(stream: IncomingStream<'_, FspiopListener>) -> Self {
        let remote: SocketAddr = *stream.remote_addr();
        let (_, connection) = stream.io().get_ref().get_ref();
        let participant = connection
            .peer_certificates()
            .and_then(|chain| chain.first())
            .and_then(|leaf| participant_of(leaf));
        let identity = match participant {
            Some(name) => CallerIdentity::Participant(name),
            // The verifier requires a certificate, so this only happens for a certificate that
            // names no participant: such a caller can act as nobody.
            None => CallerIdentity::Participant(String::new()),
        };
        Caller {
            identity,
            remote: Some(remote),
        }
    }
}
