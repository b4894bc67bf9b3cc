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

impl Connected<IncomingStream<'_, MtlsListener>> for Caller {
    fn connect_info(stream: IncomingStream<'_, MtlsListener>) -> Self {
        let remote: SocketAddr = *stream.remote_addr();
        let (_, connection) = stream.io().get_ref();
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
