//! JWS at the hub's edge (fspiop.md §3): every inbound message is verified against its
//! sender's registered keys before anything else looks at its body, and every message the hub
//! originates is signed with the hub's own key.
//!
//! * [`JwsPolicy`] — what is verified and how strictly (on by default).
//! * [`HubSigner`] — the hub's signing key, generated on first start in
//!   `<data_dir>/jws/hub-signing-key.pem` (mode 0600) unless the operator supplies one.
//! * [`KeyRegistry`] — participants' verification keys from the store, cached per participant
//!   (dropped on every operator change and after a TTL, so several nodes converge).
//! * [`verify_inbound`] — the check the FSPIOP gate runs; every failure is `3105`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime};

use fspiop::headers::{Method, Resource};
use fspiop::{ErrorCode, FspiopError};
use jws::{Alg, JwsError, RequestParts, SigningKey, VerifyingKey};

use crate::message::Outbound;
use crate::writer::LedgerWriter;

/// How the hub treats signatures.
#[derive(Clone, Debug)]
pub struct JwsPolicy {
    /// Verify inbound signatures (on by default; off only for development against DFSPs
    /// that cannot sign, and announced loudly at start).
    pub verify: bool,
    /// Algorithms the hub accepts at all; a participant's own allow-list is the algorithms
    /// of its usable registered keys, within this list.
    pub algorithms: Vec<Alg>,
    /// How far the `Date` header may be from the hub's clock, either way.
    pub date_window: Duration,
    /// The protected header must cover `Date` (the SDK signs it whenever the request has
    /// one, and FSPIOP requires the header), so a captured message cannot be replayed later
    /// with a fresh `Date`.
    pub require_signed_date: bool,
    /// Accept `PUT /parties/...` without a signature (the SDK's default is not to sign them:
    /// `JWS_SIGN_PUT_PARTIES=false`). A signature that is present is always verified.
    pub unsigned_put_parties: bool,
    /// Also require signatures on `GET` requests, over the empty payload (RFC 7515). The
    /// reference SDK never signs them, so this is off by default.
    pub verify_get: bool,
    /// Accept `DELETE` (a party de-registration) without a signature. Off by default: a
    /// `DELETE` changes state, so it must be signed over the empty payload like a `GET` under
    /// `verify_get`. The reference SDK cannot sign it; turn this on for SDK-based DFSPs that
    /// de-register parties through the hub.
    pub unsigned_delete: bool,
    /// The hub's signing key (PEM). `None`: `<data_dir>/jws/hub-signing-key.pem`, generated
    /// (ES256) on first start.
    pub signing_key: Option<PathBuf>,
}

impl Default for JwsPolicy {
    fn default() -> Self {
        JwsPolicy {
            verify: true,
            algorithms: vec![Alg::Rs256, Alg::Es256],
            date_window: Duration::from_secs(300),
            require_signed_date: true,
            unsigned_put_parties: false,
            verify_get: false,
            unsigned_delete: false,
            signing_key: None,
        }
    }
}

/// The hub's own signing key.
pub struct HubSigner {
    key: SigningKey,
    path: PathBuf,
    name: String,
}

/// Why the hub's key could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum SignerError {
    /// The key file could not be read or written.
    #[error("JWS signing key {0}: {1}")]
    Io(PathBuf, std::io::Error),
    /// The key file does not hold a usable key.
    #[error("JWS signing key {0}: {1}")]
    Key(PathBuf, jws::KeyError),
}

impl HubSigner {
    /// The default location of the hub's key under `data_dir`.
    pub fn default_path(data_dir: &Path) -> PathBuf {
        data_dir.join("jws").join("hub-signing-key.pem")
    }

    /// Loads the configured key, or the one in `data_dir`, generating an ES256 key there on
    /// first start. A configured key that is missing is an error, never replaced.
    pub fn load_or_generate(
        data_dir: &Path,
        configured: Option<&Path>,
        hub_name: &str,
    ) -> Result<HubSigner, SignerError> {
        let (path, generate) = match configured {
            Some(path) => (path.to_path_buf(), false),
            None => (Self::default_path(data_dir), true),
        };
        let io = |e| SignerError::Io(path.clone(), e);
        let key = if generate && !path.exists() {
            let key =
                SigningKey::generate_es256().map_err(|e| SignerError::Key(path.clone(), e))?;
            let pem = key
                .to_pkcs8_pem()
                .map_err(|e| SignerError::Key(path.clone(), e))?;
            if let Some(parent) = path.parent() {
                create_private_dir(parent).map_err(io)?;
            }
            crate::server::write_private(&path, &pem).map_err(io)?;
            tracing::info!(path = %path.display(), fingerprint = key.verifying_key().fingerprint(), "generated the hub's JWS signing key (ES256)");
            key
        } else {
            warn_if_readable_by_others(&path);
            let pem = std::fs::read_to_string(&path).map_err(io)?;
            SigningKey::from_pem(&pem).map_err(|e| SignerError::Key(path.clone(), e))?
        };
        Ok(HubSigner {
            key,
            path,
            name: hub_name.to_string(),
        })
    }

    /// The public half, to publish.
    pub fn public_key(&self) -> &VerifyingKey {
        self.key.verifying_key()
    }

    /// Where the key is kept.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The published form: `{"alg","fingerprint","publicKey","fspId"}`.
    pub fn published(&self) -> serde_json::Value {
        let public = self.public_key();
        serde_json::json!({
            "fspId": self.name,
            "alg": public.alg().as_str(),
            "fingerprint": public.fingerprint(),
            "publicKey": public.to_pem(),
        })
    }

    /// Adds `FSPIOP-Signature` to a message the hub originates. Messages without a body are
    /// left unsigned (the SDK neither signs nor expects signatures on them).
    pub fn sign(&self, message: &mut Outbound) -> Result<(), JwsError> {
        let Some(body) = &message.body else {
            return Ok(());
        };
        let header = |name: &str| {
            message
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
        };
        let request = RequestParts {
            method: message.method.as_str(),
            uri: &message.fspiop_uri,
            source: header("fspiop-source").unwrap_or(&self.name),
            destination: header("fspiop-destination"),
            date: header("date"),
        };
        let value = jws::sign(&self.key, &request, body)?;
        message.headers.retain(|(k, _)| k != "fspiop-signature");
        message.headers.push(("fspiop-signature".into(), value));
        Ok(())
    }
}

fn create_private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(metadata) = std::fs::metadata(path)
            && metadata.permissions().mode() & 0o077 != 0
        {
            tracing::warn!(path = %path.display(), "the hub's JWS signing key is readable by other users; chmod 600 it");
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}

/// A registered key, parsed once.
#[derive(Clone, Debug)]
pub struct RegisteredKey {
    /// The stored record.
    pub record: ledger::JwsKey,
    /// The parsed key.
    pub key: VerifyingKey,
}

impl RegisteredKey {
    /// Whether the key may verify a message received at `now_ms`: not retired, and inside its
    /// not-before/not-after window.
    pub fn usable_at(&self, now_ms: i64) -> bool {
        self.record
            .retired_at_ms
            .is_none_or(|retired| now_ms < retired)
            && self.record.not_before_ms.is_none_or(|from| now_ms >= from)
            && self.record.not_after_ms.is_none_or(|until| now_ms < until)
    }

    /// `active`, `retired`, `expired` or `pending` at `now_ms`.
    pub fn status_at(&self, now_ms: i64) -> &'static str {
        if self
            .record
            .retired_at_ms
            .is_some_and(|retired| now_ms >= retired)
        {
            "retired"
        } else if self
            .record
            .not_after_ms
            .is_some_and(|until| now_ms >= until)
        {
            "expired"
        } else if self.record.not_before_ms.is_some_and(|from| now_ms < from) {
            "pending"
        } else {
            "active"
        }
    }
}

/// Parses stored key records, skipping (and logging) any that no longer parse.
pub fn parse_keys(records: Vec<ledger::JwsKey>) -> Vec<RegisteredKey> {
    records
        .into_iter()
        .filter_map(|record| match VerifyingKey::from_pem(&record.public_key_pem) {
            Ok(key) => Some(RegisteredKey { record, key }),
            Err(error) => {
                tracing::error!(participant = %crate::logsafe::Escaped(&record.participant), fingerprint = %crate::logsafe::Escaped(&record.fingerprint), error = %crate::logsafe::Escaped(&error.to_string()), "stored JWS key does not parse; ignored");
                None
            }
        })
        .collect()
}

#[derive(Clone)]
struct Cached {
    loaded: Instant,
    keys: Arc<[RegisteredKey]>,
}

/// Participants' verification keys, cached.
#[derive(Clone)]
pub struct KeyRegistry {
    writer: LedgerWriter,
    entries: Arc<RwLock<HashMap<String, Cached>>>,
    ttl: Duration,
}

impl KeyRegistry {
    /// An empty cache reading through `writer`.
    pub fn new(writer: LedgerWriter, ttl: Duration) -> KeyRegistry {
        KeyRegistry {
            writer,
            entries: Arc::default(),
            ttl,
        }
    }

    /// Drops a participant's cached keys (after an operator change).
    pub fn invalidate(&self, participant: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(&participant.to_ascii_lowercase());
    }

    /// Every key of a participant (retired ones included), oldest first.
    pub async fn keys(&self, participant: &str) -> Result<Arc<[RegisteredKey]>, FspiopError> {
        let name = participant.to_ascii_lowercase();
        {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if let Some(cached) = entries.get(&name)
                && cached.loaded.elapsed() < self.ttl
            {
                return Ok(cached.keys.clone());
            }
        }
        let lookup = name.clone();
        let records = self
            .writer
            .read(move |_, tx| Box::pin(async move { tx.jws_keys(&lookup).await }))
            .await
            .map_err(|e| FspiopError::internal(format!("cannot read JWS keys: {e}")))?;
        let keys: Arc<[RegisteredKey]> = parse_keys(records).into();
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.insert(
            name,
            Cached {
                loaded: Instant::now(),
                keys: keys.clone(),
            },
        );
        Ok(keys)
    }
}

/// What a verified inbound message carried, kept as evidence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedBy {
    /// The `FSPIOP-Signature` header value as received.
    pub header_value: String,
    /// Fingerprint of the key that verified it.
    pub fingerprint: String,
}

/// The parts of an inbound request the signature check needs.
pub struct InboundRequest<'a> {
    /// Request method.
    pub method: Method,
    /// Resource.
    pub resource: Resource,
    /// Whether the path is a party path (`/parties/{Type}/{ID}...`).
    pub party_path: bool,
    /// The request path from the resource segment on, as received (no query).
    pub uri: &'a str,
    /// `FSPIOP-Source` (already authorised against the connection).
    pub source: &'a str,
    /// `FSPIOP-Destination`.
    pub destination: Option<&'a str>,
    /// `Date`.
    pub date: Option<&'a str>,
    /// `FSPIOP-URI` header.
    pub fspiop_uri: Option<&'a str>,
    /// `FSPIOP-HTTP-Method` header.
    pub fspiop_method: Option<&'a str>,
    /// `FSPIOP-Signature` header.
    pub signature: Option<&'a str>,
    /// Body bytes as received.
    pub body: &'a [u8],
}

/// `3105`; the description reads `Invalid signature - <reason>` as the SDK's does (FSPIOP
/// caps it at 128 characters, so reasons are short).
fn invalid(reason: impl std::fmt::Display) -> FspiopError {
    FspiopError::new(ErrorCode::INVALID_SIGNATURE, reason.to_string())
}

/// Verifies an inbound request's signature under `policy` with the sender's keys.
///
/// `Ok(None)` when the policy does not ask for a signature on this request and none was
/// sent; `Ok(Some(..))` when a signature verified; `Err` (`3105`) otherwise.
pub async fn verify_inbound(
    policy: &JwsPolicy,
    registry: &KeyRegistry,
    now_ms: i64,
    request: &InboundRequest<'_>,
) -> Result<Option<SignedBy>, FspiopError> {
    if !policy.verify {
        return Ok(None);
    }
    let bodyless = request.body.is_empty();
    let signature = request.signature.filter(|s| !s.trim().is_empty());
    if request.method == Method::Get && !policy.verify_get {
        return Ok(None);
    }
    let Some(signature) = signature else {
        let exempt = match request.method {
            Method::Put => {
                request.resource == Resource::Parties
                    && request.party_path
                    && policy.unsigned_put_parties
            }
            Method::Delete => policy.unsigned_delete,
            _ => false,
        };
        if exempt {
            return Ok(None);
        }
        return Err(invalid(format!(
            "FSPIOP-Signature missing; sign with a key registered for {}",
            request.source
        )));
    };
    if let Some(uri) = request.fspiop_uri
        && uri != request.uri
    {
        return Err(invalid(format!(
            "FSPIOP-URI {uri} is not the request path {}",
            request.uri
        )));
    }
    if let Some(method) = request.fspiop_method
        && method != request.method.as_str()
    {
        return Err(invalid(format!(
            "FSPIOP-HTTP-Method {method} is not the request method {}",
            request.method.as_str()
        )));
    }
    let registered = registry.keys(request.source).await?;
    let usable: Vec<&RegisteredKey> = registered.iter().filter(|k| k.usable_at(now_ms)).collect();
    if usable.is_empty() {
        return Err(invalid(if registered.is_empty() {
            format!(
                "no JWS key registered for {}; ask the hub operator to register yours",
                request.source
            )
        } else {
            format!(
                "no JWS key of {} is valid now (retired, expired or not yet valid)",
                request.source
            )
        }));
    }
    let keys: Vec<VerifyingKey> = usable.iter().map(|k| k.key.clone()).collect();
    let parts = RequestParts {
        method: request.method.as_str(),
        uri: request.uri,
        source: request.source,
        destination: request.destination,
        date: request.date,
    };
    let verified = if bodyless {
        jws::verify_bodyless(signature, &parts, &keys, &policy.algorithms)
    } else {
        jws::verify(signature, &parts, request.body, &keys, &policy.algorithms)
    };
    let verified = verified.map_err(|error| match error {
        JwsError::NoKey { alg } => {
            let registered: Vec<&str> = usable.iter().map(|k| k.key.alg().as_str()).collect();
            invalid(format!(
                "{alg} not allowed for {}: its keys are {}",
                request.source,
                registered.join(", ")
            ))
        }
        JwsError::BadSignature => invalid(format!(
            "does not verify with {}'s keys (body or headers changed, or another key)",
            request.source
        )),
        other => invalid(other),
    })?;
    if policy.require_signed_date && verified.header.date.is_none() {
        return Err(invalid("the protected header must cover Date"));
    }
    if let Some(date) = request.date {
        let now = SystemTime::UNIX_EPOCH
            .checked_add(Duration::from_millis(u64::try_from(now_ms).unwrap_or(0)))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        jws::check_date_freshness(date, now, policy.date_window).map_err(|error| match error {
            jws::DateError::OutsideWindow { skew_secs } => invalid(format!(
                "Date is {} s {} the hub's clock; at most {} s allowed",
                skew_secs.unsigned_abs(),
                if skew_secs < 0 { "behind" } else { "ahead of" },
                policy.date_window.as_secs()
            )),
            other => invalid(format!("Date: {other}")),
        })?;
    }
    let fingerprint = usable
        .get(verified.key_index)
        .map(|k| k.record.fingerprint.clone())
        .unwrap_or_default();
    Ok(Some(SignedBy {
        header_value: signature.to_string(),
        fingerprint,
    }))
}

/// Parses and checks a key an operator uploads: PEM SPKI, PKCS#1 or certificate; RSA 2048
/// to 4096 bits or P-256 only; the algorithm must be one the hub accepts.
pub fn check_upload(pem: &str, policy: &JwsPolicy) -> Result<VerifyingKey, FspiopError> {
    let key = VerifyingKey::from_pem(pem).map_err(|error| {
        FspiopError::validation(format!(
            "publicKey is not an acceptable JWS key: {error} (send a PEM public key or certificate: RSA 2048-4096 bits or EC P-256)"
        ))
    })?;
    if !policy.algorithms.contains(&key.alg()) {
        return Err(FspiopError::validation(format!(
            "publicKey is a {} key, which this hub does not accept",
            key.alg()
        )));
    }
    Ok(key)
}
