//! A simulated DFSP backend: answers the hub's callbacks the way a DFSP running the Mojaloop
//! SDK would, with real ILP packets, conditions and fulfilments, and records every message it
//! receives so tests and the demo can wait for them.
//!
//! With [`SimOptions`] it signs everything it sends (`FSPIOP-Signature`) and verifies what it
//! receives the way the SDK does with `VALIDATE_INBOUND_JWS=true`: a message from the hub
//! that is unsigned or badly signed, or a forwarded peer message with a bad signature, is
//! answered `400` with `3105 Invalid signature`, recorded (see [`Received::signature`] and
//! [`Simulator::signature_failures`]) and otherwise ignored.
//!
//! With [`SimOptions::tls`] the callback server speaks HTTPS (rustls on aws-lc-rs, TLS 1.3 and
//! 1.2 only) and, when [`SimServerTls::client_ca_pem`] is set, requires a client certificate
//! issued by that CA, as a DFSP that only accepts the hub over mutual TLS does; the identity the
//! certificate names is recorded in [`Received::peer`]. To let in the hub and nobody else, the
//! CA must be the hub callback CA (`hub-callback-ca.pem` of the hub's PKI directory), which
//! issues the hub's client certificate only — not the CA of the DFSPs' client certificates,
//! or any DFSP could call another directly — and [`SimServerTls::only_client`] names the hub,
//! so that a certificate naming anyone else fails the handshake even from a trusted CA.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::connect_info::{ConnectInfo, Connected};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::IncomingStream;
use fspiop::FspiopDateTime;
use fspiop::headers::{Method, Resource};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::sync::Notify;

use crate::client::FspiopClient;

/// A party (customer) held by the simulated DFSP.
#[derive(Clone, Debug)]
pub struct SimParty {
    /// `partyIdType`, e.g. `MSISDN`.
    pub id_type: String,
    /// `partyIdentifier`.
    pub identifier: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
}

/// How the simulator answers a transfer it receives as payee.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PayeeBehaviour {
    /// Fulfil with `transferState: COMMITTED`.
    Commit,
    /// Fulfil with `transferState: RESERVED` (asks the hub for a PATCH notification).
    Reserve,
    /// Refuse with `PUT /transfers/{ID}/error` and this code.
    Abort(String),
    /// Send a fulfilment that does not match the condition.
    WrongFulfilment,
    /// Never answer (the transfer will expire).
    Silent,
}

/// One message the simulator received.
#[derive(Clone, Debug)]
pub struct Received {
    /// HTTP method.
    pub method: String,
    /// Path (without query).
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub raw: Bytes,
    /// Parsed body (`Null` when empty or not JSON).
    pub body: Value,
    /// When it arrived.
    pub at: Instant,
    /// The outcome of the `FSPIOP-Signature` check.
    pub signature: SignatureCheck,
    /// Who the client certificate of the connection names (its SAN URI
    /// `urn:ferroloop:participant:<name>`, else its subject CN); `None` over plain HTTP, or
    /// over TLS without a client certificate.
    pub peer: Option<String>,
}

/// What the simulator made of a received message's `FSPIOP-Signature`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignatureCheck {
    /// Not checked: the simulator has no hub key, or the message has no body (GET).
    NotChecked,
    /// No `FSPIOP-Signature` header although the sender's key is known (refused with `3105`
    /// when the sender is the hub, accepted from a peer: `PUT /parties` is usually unsigned).
    Unsigned,
    /// The signature verifies with the key of `signer` (its `FSPIOP-Source`).
    Verified {
        /// `FSPIOP-Source` of the message.
        signer: String,
    },
    /// The signature does not verify (refused with `3105`); the reason.
    Invalid(String),
    /// No key is known for the `FSPIOP-Source` (accepted).
    Unverifiable,
}

/// How to start a [`Simulator`]: transport and JWS keys.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The HTTP client requests to the hub are sent with (plain or mTLS).
    pub http: reqwest::Client,
    /// Key every message with a body is signed with (`None`: unsigned).
    pub signing_key: Option<Arc<jws::SigningKey>>,
    /// The hub's public key; when set, every inbound message with a body is verified.
    pub hub_key: Option<jws::VerifyingKey>,
    /// The hub's `FSPIOP-Source` name (compared case-insensitively); default `Hub`, the
    /// hub's default `hub_name`.
    pub hub_name: String,
    /// Public keys of other DFSPs, by name, for the messages the hub forwards from them.
    pub peer_keys: HashMap<String, jws::VerifyingKey>,
    /// Serve callbacks over TLS (`None`: plain HTTP).
    pub tls: Option<SimServerTls>,
}

/// TLS of the simulator's callback server: HTTPS with this certificate, and mutual TLS when
/// `client_ca_pem` is set.
#[derive(Clone, PartialEq, Eq)]
pub struct SimServerTls {
    /// The server certificate chain, PEM, leaf first. The hub connects to
    /// `https://localhost:<port>`, so the leaf must name `localhost`.
    pub cert_pem: String,
    /// Its private key, PEM (PKCS#8, SEC1 or PKCS#1). Secret: `Debug` redacts it.
    pub key_pem: String,
    /// When set, a client certificate signed by one of these CA certificates (PEM) is
    /// required during the handshake; when `None`, no client certificate is asked for. To let
    /// in only the hub this must be the hub callback CA, not the CA that issues DFSP client
    /// certificates (see the module docs).
    pub client_ca_pem: Option<String>,
    /// When set (with `client_ca_pem`), the client certificate must also name this
    /// participant (SAN URI or CN, case-insensitive): the hub's name.
    pub client_name: Option<String>,
}

impl fmt::Debug for SimServerTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimServerTls")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"<redacted>")
            .field("client_ca_pem", &self.client_ca_pem)
            .field("client_name", &self.client_name)
            .finish()
    }
}

impl SimServerTls {
    /// HTTPS with this certificate chain and key, no client certificate asked for.
    pub fn new(cert_pem: impl Into<String>, key_pem: impl Into<String>) -> SimServerTls {
        SimServerTls {
            cert_pem: cert_pem.into(),
            key_pem: key_pem.into(),
            client_ca_pem: None,
            client_name: None,
        }
    }

    /// The same, requiring a client certificate issued by `ca_pem` (mutual TLS).
    pub fn with_client_ca(mut self, ca_pem: impl Into<String>) -> SimServerTls {
        self.client_ca_pem = Some(ca_pem.into());
        self
    }

    /// The same, refusing at the handshake a client certificate that does not name
    /// `participant` (the hub), even when its CA is trusted.
    pub fn only_client(mut self, participant: impl Into<String>) -> SimServerTls {
        self.client_name = Some(participant.into());
        self
    }

    /// The rustls server configuration: aws-lc-rs, TLS 1.3 and 1.2 only, ALPN `http/1.1`,
    /// and a [`rustls::server::WebPkiClientVerifier`] over `client_ca_pem` when it is set.
    /// Errors (unreadable PEM, a key that does not match) are `InvalidInput`.
    pub fn server_config(&self) -> std::io::Result<rustls::ServerConfig> {
        let invalid = |what: &str, e: &dyn fmt::Display| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("simulator TLS {what}: {e}"),
            )
        };
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let chain: Vec<CertificateDer<'static>> =
            CertificateDer::pem_slice_iter(self.cert_pem.as_bytes())
                .collect::<Result<_, _>>()
                .map_err(|e| invalid("certificate", &e))?;
        if chain.is_empty() {
            return Err(invalid("certificate", &"no certificate found"));
        }
        let key = PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| invalid("key", &e))?;
        let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| invalid("configuration", &e))?;
        let builder = match &self.client_ca_pem {
            None => builder.with_no_client_auth(),
            Some(ca_pem) => {
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
                    let cert = cert.map_err(|e| invalid("client CA", &e))?;
                    roots.add(cert).map_err(|e| invalid("client CA", &e))?;
                }
                if roots.is_empty() {
                    return Err(invalid("client CA", &"no CA certificate found"));
                }
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    provider,
                )
                .build()
                .map_err(|e| invalid("client verifier", &e))?;
                match &self.client_name {
                    None => builder.with_client_cert_verifier(verifier),
                    Some(name) => builder.with_client_cert_verifier(Arc::new(OnlyParticipant {
                        inner: verifier,
                        name: name.clone(),
                    })),
                }
            }
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| invalid("certificate and key", &e))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(config)
    }
}

/// A client certificate verifier that also requires the certificate to name one participant.
#[derive(Debug)]
struct OnlyParticipant {
    inner: Arc<dyn rustls::server::danger::ClientCertVerifier>,
    name: String,
}

impl rustls::server::danger::ClientCertVerifier for OnlyParticipant {
    fn offer_client_auth(&self) -> bool {
        self.inner.offer_client_auth()
    }

    fn client_auth_mandatory(&self) -> bool {
        self.inner.client_auth_mandatory()
    }

    fn root_hint_subjects(&self) -> &[rustls::DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::server::danger::ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        match participant_of(end_entity) {
            Some(name) if name.eq_ignore_ascii_case(&self.name) => Ok(verified),
            _ => Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::ApplicationVerificationFailure,
            )),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// How long a TLS handshake on the callback server may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The callback server's TLS listener (handshakes run concurrently, with a timeout).
type TlsCallbackListener = tls_listener::TlsListener<TcpListener, tokio_rustls::TlsAcceptor>;

/// The identity a connection proved with its client certificate (request extension, through
/// `ConnectInfo`).
#[derive(Clone, Debug)]
struct Peer(Option<String>);

impl Connected<IncomingStream<'_, TcpListener>> for Peer {
    fn connect_info(_: IncomingStream<'_, TcpListener>) -> Self {
        Peer(None)
    }
}

impl Connected<IncomingStream<'_, TlsCallbackListener>> for Peer {
    fn connect_info(stream: IncomingStream<'_, TlsCallbackListener>) -> Self {
        let (_, connection) = stream.io().get_ref();
        Peer(
            connection
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|leaf| participant_of(leaf)),
        )
    }
}

/// Prefix of the SAN URI the hub CA puts in participant certificates.
const PARTICIPANT_URI_PREFIX: &str = "urn:ferroloop:participant:";

/// The participant a certificate (DER) names: the SAN URI `urn:ferroloop:participant:<name>`
/// if present, else the subject common name.
fn participant_of(certificate: &[u8]) -> Option<String> {
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

impl SimOptions {
    /// No keys (nothing signed, nothing verified), hub named `Hub`, sending through `http`.
    pub fn new(http: reqwest::Client) -> SimOptions {
        SimOptions {
            http,
            signing_key: None,
            hub_key: None,
            hub_name: DEFAULT_HUB_NAME.to_string(),
            peer_keys: HashMap::new(),
            tls: None,
        }
    }
}

/// The hub's default `FSPIOP-Source` name (`HubConfig::hub_name`).
pub const DEFAULT_HUB_NAME: &str = "Hub";

/// At most this many signature failures are kept for [`Simulator::signature_failures`].
const MAX_KEPT_FAILURES: usize = 1024;

impl Received {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `errorInformation.errorCode`, if this is an error callback.
    pub fn error_code(&self) -> Option<&str> {
        self.body
            .pointer("/errorInformation/errorCode")
            .and_then(Value::as_str)
    }
}

/// Why a simulated flow failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The hub refused a request synchronously.
    #[error("hub refused {what}: HTTP {status} {body}")]
    Refused {
        /// Which request.
        what: String,
        /// Status.
        status: u16,
        /// Body.
        body: String,
    },
    /// A callback did not arrive in time.
    #[error("no callback for {0} within the timeout")]
    Timeout(String),
    /// The callback was an error.
    #[error("{what} failed with {code}: {body}")]
    Failed {
        /// Which step.
        what: String,
        /// Error code.
        code: String,
        /// Body.
        body: String,
    },
    /// Transport failure.
    #[error("transport: {0}")]
    Http(#[from] reqwest::Error),
    /// ILP failure.
    #[error("ilp: {0}")]
    Ilp(String),
}

/// Outcome of a P2P transfer driven by [`Simulator::send_money`].
#[derive(Clone, Debug)]
pub struct P2pOutcome {
    /// The transfer id.
    pub transfer_id: String,
    /// Payee FSP found by the lookup.
    pub payee_fsp: String,
    /// Final `transferState` the payer was told.
    pub state: String,
    /// The fulfilment the payer received.
    pub fulfilment: Option<String>,
    /// Time per phase.
    pub lookup: Duration,
    /// Time of the quote.
    pub quote: Duration,
    /// Time of the transfer.
    pub transfer: Duration,
}

struct Inner {
    name: String,
    currency: String,
    secret: Vec<u8>,
    parties: Vec<SimParty>,
    client: FspiopClient,
    behaviour: Mutex<PayeeBehaviour>,
    events: Mutex<Vec<Received>>,
    notify: Notify,
    record: std::sync::atomic::AtomicBool,
    waiters: Mutex<std::collections::HashMap<String, tokio::sync::oneshot::Sender<Received>>>,
    quote_validity_seconds: std::sync::atomic::AtomicI64,
    hub_key: Option<jws::VerifyingKey>,
    hub_name: String,
    peer_keys: HashMap<String, jws::VerifyingKey>,
    failures: Mutex<Vec<Received>>,
    failure_count: std::sync::atomic::AtomicU64,
}

impl Inner {
    /// Whether `received` comes from the hub (by `FSPIOP-Source`).
    fn is_from_hub(&self, received: &Received) -> bool {
        received
            .header("fspiop-source")
            .is_some_and(|source| source.eq_ignore_ascii_case(&self.hub_name))
    }

    /// Whether the message was refused with `3105` (and so not acted upon).
    fn rejected(&self, received: &Received) -> bool {
        match received.signature {
            SignatureCheck::Invalid(_) => true,
            SignatureCheck::Unsigned => self.is_from_hub(received),
            _ => false,
        }
    }

    /// Verifies the `FSPIOP-Signature` of a received message.
    fn check_signature(&self, received: &Received) -> SignatureCheck {
        let Some(hub_key) = &self.hub_key else {
            return SignatureCheck::NotChecked;
        };
        if received.raw.is_empty() {
            return SignatureCheck::NotChecked;
        }
        let source = received.header("fspiop-source").unwrap_or_default();
        let key = if source.eq_ignore_ascii_case(&self.hub_name) {
            hub_key
        } else if let Some(key) = self.peer_keys.get(source).or_else(|| {
            self.peer_keys
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(source))
                .map(|(_, key)| key)
        }) {
            key
        } else {
            return SignatureCheck::Unverifiable;
        };
        let signature = received.header("fspiop-signature").unwrap_or_default();
        if signature.trim().is_empty() {
            return SignatureCheck::Unsigned;
        }
        let parts = jws::RequestParts {
            method: received.header("fspiop-http-method").unwrap_or_default(),
            uri: received.header("fspiop-uri").unwrap_or_default(),
            source,
            destination: received.header("fspiop-destination"),
            date: received.header("date"),
        };
        match jws::verify(
            signature,
            &parts,
            &received.raw,
            std::slice::from_ref(key),
            &[jws::Alg::Rs256, jws::Alg::Es256],
        ) {
            Ok(_) => SignatureCheck::Verified {
                signer: source.to_string(),
            },
            Err(error) => SignatureCheck::Invalid(error.to_string()),
        }
    }
}

/// A running simulated DFSP.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
    addr: SocketAddr,
    tls: bool,
}

impl Simulator {
    /// Starts a simulator named `name` on `bind`, sending to the hub at `hub_url`.
    pub async fn start(
        name: &str,
        currency: &str,
        parties: Vec<SimParty>,
        hub_url: &str,
        bind: SocketAddr,
    ) -> std::io::Result<Simulator> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(std::io::Error::other)?;
        Simulator::start_with_client(name, currency, parties, hub_url, bind, http).await
    }

    /// Like [`Simulator::start`], sending through `http` (for example an mTLS client from
    /// [`crate::client::mtls_client`]).
    pub async fn start_with_client(
        name: &str,
        currency: &str,
        parties: Vec<SimParty>,
        hub_url: &str,
        bind: SocketAddr,
        http: reqwest::Client,
    ) -> std::io::Result<Simulator> {
        Simulator::start_with_options(
            name,
            currency,
            parties,
            hub_url,
            bind,
            SimOptions::new(http),
        )
        .await
    }

    /// Like [`Simulator::start`], with a transport and JWS keys: signs everything it sends
    /// with `options.signing_key` and, when `options.hub_key` is set, verifies everything it
    /// receives. With `options.tls` the callback server speaks HTTPS (mutual TLS when it has a
    /// client CA); bad TLS material fails here with `InvalidInput`, before anything listens.
    pub async fn start_with_options(
        name: &str,
        currency: &str,
        parties: Vec<SimParty>,
        hub_url: &str,
        bind: SocketAddr,
        options: SimOptions,
    ) -> std::io::Result<Simulator> {
        let SimOptions {
            http,
            signing_key,
            hub_key,
            hub_name,
            peer_keys,
            tls,
        } = options;
        // Refuse bad TLS material before anything is started.
        let acceptor = tls
            .as_ref()
            .map(|tls| {
                tls.server_config()
                    .map(|config| tokio_rustls::TlsAcceptor::from(Arc::new(config)))
            })
            .transpose()?;
        let mut client = FspiopClient::new(http, hub_url, name);
        if let Some(key) = signing_key {
            client = client.with_signing_key(key);
        }
        let inner = Arc::new(Inner {
            name: name.into(),
            currency: currency.into(),
            secret: format!("{name}-ilp-secret").into_bytes(),
            parties,
            client,
            behaviour: Mutex::new(PayeeBehaviour::Commit),
            events: Mutex::new(Vec::new()),
            notify: Notify::new(),
            record: std::sync::atomic::AtomicBool::new(true),
            waiters: Mutex::new(std::collections::HashMap::new()),
            quote_validity_seconds: std::sync::atomic::AtomicI64::new(60),
            hub_key,
            hub_name,
            peer_keys,
            failures: Mutex::new(Vec::new()),
            failure_count: std::sync::atomic::AtomicU64::new(0),
        });
        let listener = TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let app = Router::new().fallback(receive).with_state(inner.clone());
        let tls = acceptor.is_some();
        match acceptor {
            None => {
                let service = app.into_make_service_with_connect_info::<Peer>();
                tokio::spawn(async move {
                    let _ = axum::serve(listener, service).await;
                });
            }
            Some(acceptor) => {
                let listener: TlsCallbackListener = tls_listener::builder(acceptor)
                    .handshake_timeout(HANDSHAKE_TIMEOUT)
                    .listen(listener);
                let service = app.into_make_service_with_connect_info::<Peer>();
                tokio::spawn(async move {
                    let _ = axum::serve(listener, service).await;
                });
            }
        }
        Ok(Simulator { inner, addr, tls })
    }

    /// The participant name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The callback base URL to register at the hub: `http://<addr>`, or with TLS
    /// `https://localhost:<port>` (the name the server certificate must carry).
    pub fn base_url(&self) -> String {
        if self.tls {
            format!("https://localhost:{}", self.addr.port())
        } else {
            format!("http://{}", self.addr)
        }
    }

    /// The address the callback server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Whether the callback server speaks TLS.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// The FSPIOP client this simulator sends with.
    pub fn client(&self) -> &FspiopClient {
        &self.inner.client
    }

    /// Changes how transfers received as payee are answered.
    pub fn set_behaviour(&self, behaviour: PayeeBehaviour) {
        *self
            .inner
            .behaviour
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = behaviour;
    }

    /// How long quotes this DFSP answers as payee stay valid (default 60 s).
    pub fn set_quote_validity(&self, seconds: i64) {
        self.inner
            .quote_validity_seconds
            .store(seconds, std::sync::atomic::Ordering::Relaxed);
    }

    /// Stops (or resumes) keeping received messages (the load generator turns it off).
    pub fn set_recording(&self, on: bool) {
        self.inner
            .record
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Registers interest in the next message to `path` or `path/error` (cheaper than
    /// [`Simulator::wait_for`] when many are in flight, as in the load generator).
    pub fn expect(&self, path: &str) -> tokio::sync::oneshot::Receiver<Received> {
        let (sender, receiver) = tokio::sync::oneshot::channel();
        self.inner
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(path.to_string(), sender);
        receiver
    }

    /// Every message received so far.
    pub fn received(&self) -> Vec<Received> {
        self.inner
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The messages refused with `3105`: unsigned from the hub, or with a signature that does
    /// not verify. Kept even when recording is off (the first 1024). Empty means every hub
    /// message was correctly signed.
    pub fn signature_failures(&self) -> Vec<Received> {
        self.inner
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many messages were refused with `3105` (all of them, not only those kept).
    pub fn signature_failure_count(&self) -> u64 {
        self.inner
            .failure_count
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until a received message satisfies `predicate`.
    pub async fn wait_for(
        &self,
        timeout: Duration,
        predicate: impl Fn(&Received) -> bool,
    ) -> Option<Received> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.inner.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(found) = self
                .inner
                .events
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .find(|r| predicate(r))
            {
                return Some(found.clone());
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Waits for a message with this method and path.
    pub async fn wait_path(&self, method: &str, path: &str, timeout: Duration) -> Option<Received> {
        self.wait_for(timeout, |r| r.method == method && r.path == path)
            .await
    }

    /// Lookup, quote and transfer to a party, as a payer DFSP; waits for each callback.
    pub async fn send_money(
        &self,
        id_type: &str,
        identifier: &str,
        amount: &str,
        timeout: Duration,
    ) -> Result<P2pOutcome, SimError> {
        let client = &self.inner.client;
        let started = Instant::now();
        let party_path = format!("/parties/{id_type}/{identifier}");
        let answer = client
            .send(Method::Get, Resource::Parties, &party_path, None, None)
            .await?;
        refused("GET /parties", &answer)?;
        let party = self
            .wait_for(timeout, |r| {
                r.method == "PUT"
                    && (r.path == party_path || r.path == format!("{party_path}/error"))
            })
            .await
            .ok_or_else(|| SimError::Timeout(party_path.clone()))?;
        self.failed("party lookup", &party)?;
        let payee_fsp = party
            .body
            .pointer("/party/partyIdInfo/fspId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let lookup = started.elapsed();

        let started = Instant::now();
        let quoted = self
            .quote(&payee_fsp, &party.body["party"], amount, timeout)
            .await?;
        let quote_time = started.elapsed();

        let started = Instant::now();
        let transfer_id = uuid::Uuid::new_v4().to_string();
        let prepare = json!({
            "transferId": transfer_id,
            "payerFsp": self.inner.name,
            "payeeFsp": payee_fsp,
            "amount": quoted.body["transferAmount"].clone(),
            "ilpPacket": quoted.body["ilpPacket"].clone(),
            "condition": quoted.body["condition"].clone(),
            "expiration": in_seconds(30),
        });
        let answer = client
            .send(
                Method::Post,
                Resource::Transfers,
                "/transfers",
                Some(&payee_fsp),
                Some(&prepare),
            )
            .await?;
        refused("POST /transfers", &answer)?;
        let transfer_path = format!("/transfers/{transfer_id}");
        let done = self
            .wait_for(timeout, |r| {
                r.method == "PUT"
                    && (r.path == transfer_path || r.path == format!("{transfer_path}/error"))
            })
            .await
            .ok_or_else(|| SimError::Timeout(transfer_path.clone()))?;
        self.failed("transfer", &done)?;
        Ok(P2pOutcome {
            transfer_id,
            payee_fsp,
            state: done.body["transferState"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            fulfilment: done.body["fulfilment"].as_str().map(str::to_string),
            lookup,
            quote: quote_time,
            transfer: started.elapsed(),
        })
    }

    /// Asks `payee_fsp` for a quote (SEND amount) through the hub and waits for the answer;
    /// returns the `PUT /quotes/{ID}` body.
    pub async fn quote(
        &self,
        payee_fsp: &str,
        payee: &Value,
        amount: &str,
        timeout: Duration,
    ) -> Result<Received, SimError> {
        let quote_id = uuid::Uuid::new_v4().to_string();
        let quote = json!({
            "quoteId": quote_id,
            "transactionId": uuid::Uuid::new_v4().to_string(),
            "payee": payee,
            "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": self.inner.name}},
            "amountType": "SEND",
            "amount": {"amount": amount, "currency": self.inner.currency},
            "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
        });
        let answer = self
            .inner
            .client
            .send(
                Method::Post,
                Resource::Quotes,
                "/quotes",
                Some(payee_fsp),
                Some(&quote),
            )
            .await?;
        refused("POST /quotes", &answer)?;
        let quote_path = format!("/quotes/{quote_id}");
        let quoted = self
            .wait_for(timeout, |r| {
                r.method == "PUT"
                    && (r.path == quote_path || r.path == format!("{quote_path}/error"))
            })
            .await
            .ok_or_else(|| SimError::Timeout(quote_path.clone()))?;
        self.failed("quote", &quoted)?;
        Ok(quoted)
    }

    /// `Err` if `received` is an error callback, or was refused for its signature (as
    /// `3105`).
    fn failed(&self, what: &str, received: &Received) -> Result<(), SimError> {
        if self.inner.rejected(received) {
            let reason = rejection_reason(&received.signature);
            return Err(SimError::Failed {
                what: what.into(),
                code: "3105".into(),
                body: format!("Invalid signature - {reason}"),
            });
        }
        failed(what, received)
    }

    /// The ILP terms this DFSP, as payee, produces for a quote request (v1, as the SDK does).
    pub fn terms_for(
        &self,
        quote_request: &Value,
        expiration: &str,
    ) -> Result<ilp::Terms, SimError> {
        let transaction = transaction_of(quote_request, expiration);
        ilp::v1_terms(&transaction, &self.inner.secret).map_err(|e| SimError::Ilp(e.to_string()))
    }
}

fn refused(what: &str, answer: &crate::client::Answer) -> Result<(), SimError> {
    if (200..300).contains(&answer.status) {
        return Ok(());
    }
    Err(SimError::Refused {
        what: what.into(),
        status: answer.status,
        body: answer.body.clone(),
    })
}

fn failed(what: &str, received: &Received) -> Result<(), SimError> {
    match received.error_code() {
        Some(code) => Err(SimError::Failed {
            what: what.into(),
            code: code.into(),
            body: received.body.to_string(),
        }),
        None => Ok(()),
    }
}

/// An FSPIOP DateTime `seconds` from now.
pub fn in_seconds(seconds: i64) -> String {
    FspiopDateTime::from_offset(OffsetDateTime::now_utc() + time::Duration::seconds(seconds))
        .to_string()
}

/// The SDK's Transaction object for a quote request answered with `expiration`.
fn transaction_of(quote: &Value, expiration: &str) -> Value {
    let mut transaction = json!({
        "quoteId": quote["quoteId"],
        "transactionId": quote["transactionId"],
        "transactionType": quote["transactionType"],
        "payee": quote["payee"],
        "payer": quote["payer"],
        "expiration": expiration,
        "amount": quote["amount"],
    });
    if let Some(note) = quote.get("note") {
        transaction["note"] = note.clone();
    }
    transaction
}

async fn receive(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<Peer>>()
        .and_then(|ConnectInfo(peer)| peer.0.clone());
    let raw = axum::body::to_bytes(body, 5_242_880)
        .await
        .unwrap_or_default();
    let mut received = Received {
        method: parts.method.as_str().to_string(),
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(k, v)| {
                v.to_str()
                    .ok()
                    .map(|v| (k.as_str().to_string(), v.to_string()))
            })
            .collect(),
        body: serde_json::from_slice(&raw).unwrap_or(Value::Null),
        raw,
        at: Instant::now(),
        signature: SignatureCheck::NotChecked,
        peer,
    };
    received.signature = inner.check_signature(&received);
    if inner.rejected(&received) {
        return refuse(&inner, received);
    }
    let status = if matches!(received.method.as_str(), "PUT" | "PATCH") {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let key = received
        .path
        .strip_suffix("/error")
        .unwrap_or(&received.path)
        .to_string();
    let waiter = inner
        .waiters
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&key);
    if let Some(waiter) = waiter {
        let _ = waiter.send(received.clone());
    }
    let reply = inner.clone();
    let event = received.clone();
    tokio::spawn(async move { act(&reply, &event).await });
    if inner.record.load(std::sync::atomic::Ordering::Relaxed)
        || received.path.starts_with("/parties")
    {
        inner
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(received);
        inner.notify.notify_waiters();
    }
    status.into_response()
}

/// Why a message was refused, for `Invalid signature - <reason>`.
fn rejection_reason(check: &SignatureCheck) -> String {
    match check {
        SignatureCheck::Invalid(reason) => reason.clone(),
        _ => jws::JwsError::Missing.to_string(),
    }
}

/// Records a message refused for its signature and answers `400` with `3105`, as the SDK
/// does; nothing else happens: no [`Simulator::expect`] waiter gets it, no answer is sent.
fn refuse(inner: &Inner, received: Received) -> Response {
    let reason = rejection_reason(&received.signature);
    tracing::warn!(
        dfsp = %inner.name,
        method = %received.method,
        path = %received.path,
        source = received.header("fspiop-source").unwrap_or_default(),
        %reason,
        "simulator refused a message for its signature"
    );
    inner
        .failure_count
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    {
        let mut failures = inner.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() < MAX_KEPT_FAILURES {
            failures.push(received.clone());
        }
    }
    if inner.record.load(std::sync::atomic::Ordering::Relaxed)
        || received.path.starts_with("/parties")
    {
        inner
            .events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(received);
    }
    inner.notify.notify_waiters();
    let body = json!({"errorInformation": {
        "errorCode": "3105",
        "errorDescription": format!("Invalid signature - {reason}"),
    }});
    (
        StatusCode::BAD_REQUEST,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// Answers what a DFSP must answer.
async fn act(inner: &Inner, received: &Received) {
    let segments: Vec<&str> = received.path.split('/').filter(|s| !s.is_empty()).collect();
    let source = received
        .header("fspiop-source")
        .unwrap_or_default()
        .to_string();
    let result = match (received.method.as_str(), segments.as_slice()) {
        ("GET", ["parties", id_type, identifier]) => {
            answer_party(inner, &source, id_type, identifier).await
        }
        ("POST", ["quotes"]) => answer_quote(inner, &source, &received.body).await,
        ("POST", ["transfers"]) => answer_transfer(inner, &source, &received.body).await,
        _ => Ok(()),
    };
    if let Err(error) = result {
        tracing::warn!(dfsp = %inner.name, %error, "simulator could not answer");
    }
}

async fn answer_party(
    inner: &Inner,
    source: &str,
    id_type: &str,
    identifier: &str,
) -> Result<(), reqwest::Error> {
    let path = format!("/parties/{id_type}/{identifier}");
    let party = inner
        .parties
        .iter()
        .find(|p| p.id_type == *id_type && p.identifier == *identifier);
    match party {
        Some(party) => {
            let body = json!({"party": {
                "partyIdInfo": {"partyIdType": party.id_type, "partyIdentifier": party.identifier, "fspId": inner.name},
                "personalInfo": {"complexName": {"firstName": party.first_name, "lastName": party.last_name}},
                "name": format!("{} {}", party.first_name, party.last_name),
            }});
            inner
                .client
                .send(
                    Method::Put,
                    Resource::Parties,
                    &path,
                    Some(source),
                    Some(&body),
                )
                .await?;
        }
        None => {
            let body = json!({"errorInformation": {"errorCode": "3204", "errorDescription": "Party not found"}});
            inner
                .client
                .send(
                    Method::Put,
                    Resource::Parties,
                    &format!("{path}/error"),
                    Some(source),
                    Some(&body),
                )
                .await?;
        }
    }
    Ok(())
}

async fn answer_quote(inner: &Inner, source: &str, quote: &Value) -> Result<(), reqwest::Error> {
    let id = quote["quoteId"].as_str().unwrap_or_default();
    let expiration = in_seconds(
        inner
            .quote_validity_seconds
            .load(std::sync::atomic::Ordering::Relaxed),
    );
    let transaction = transaction_of(quote, &expiration);
    let path = format!("/quotes/{id}");
    match ilp::v1_terms(&transaction, &inner.secret) {
        Ok(terms) => {
            let body = json!({
                "transferAmount": quote["amount"],
                "payeeReceiveAmount": quote["amount"],
                "expiration": expiration,
                "ilpPacket": terms.ilp_packet,
                "condition": terms.condition,
            });
            inner
                .client
                .send(
                    Method::Put,
                    Resource::Quotes,
                    &path,
                    Some(source),
                    Some(&body),
                )
                .await?;
        }
        Err(error) => {
            let body = json!({"errorInformation": {"errorCode": "5101", "errorDescription": format!("Payee rejected quote - {error}").chars().take(128).collect::<String>()}});
            inner
                .client
                .send(
                    Method::Put,
                    Resource::Quotes,
                    &format!("{path}/error"),
                    Some(source),
                    Some(&body),
                )
                .await?;
        }
    }
    Ok(())
}

async fn answer_transfer(
    inner: &Inner,
    source: &str,
    prepare: &Value,
) -> Result<(), reqwest::Error> {
    let id = prepare["transferId"].as_str().unwrap_or_default();
    let behaviour = inner
        .behaviour
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let path = format!("/transfers/{id}");
    let fulfilment = fulfilment_for(inner, prepare);
    let now = FspiopDateTime::from_offset(OffsetDateTime::now_utc()).to_string();
    let (path, body) = match (behaviour, fulfilment) {
        (PayeeBehaviour::Silent, _) => return Ok(()),
        (PayeeBehaviour::Abort(code), _) => (
            format!("{path}/error"),
            json!({"errorInformation": {"errorCode": code, "errorDescription": "Payee rejected transaction"}}),
        ),
        (PayeeBehaviour::WrongFulfilment, _) => (
            path,
            json!({"transferState": "COMMITTED", "fulfilment": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "completedTimestamp": now}),
        ),
        (_, None) => (
            format!("{path}/error"),
            json!({"errorInformation": {"errorCode": "5105", "errorDescription": "Payee FSP rejected transaction - ILP packet was not issued by this DFSP"}}),
        ),
        (PayeeBehaviour::Commit, Some(fulfilment)) => (
            path,
            json!({"transferState": "COMMITTED", "fulfilment": fulfilment, "completedTimestamp": now}),
        ),
        (PayeeBehaviour::Reserve, Some(fulfilment)) => (
            path,
            json!({"transferState": "RESERVED", "fulfilment": fulfilment, "completedTimestamp": now}),
        ),
    };
    inner
        .client
        .send(
            Method::Put,
            Resource::Transfers,
            &path,
            Some(source),
            Some(&body),
        )
        .await?;
    Ok(())
}

/// Re-derives the fulfilment from the packet, as the SDK payee does; `None` if the packet or
/// condition was not issued by this DFSP.
fn fulfilment_for(inner: &Inner, prepare: &Value) -> Option<String> {
    let packet = prepare["ilpPacket"].as_str()?;
    let condition = prepare["condition"].as_str()?;
    let transaction = ilp::transaction_from_ilp_packet(packet).ok()?;
    let terms = ilp::v1_terms(&transaction, &inner.secret).ok()?;
    (terms.ilp_packet == packet && terms.condition == condition).then_some(terms.fulfilment)
}
