//! An FSPIOP client: builds the headers a DFSP must send and posts to the hub.
//!
//! With a signing key ([`FspiopClient::with_signing_key`]) every request that has a body carries
//! an `FSPIOP-Signature` over exactly the bytes sent (fspiop.md §3), as the Mojaloop SDK signs
//! with `JWS_SIGN=true`.

use std::sync::Arc;
use std::time::SystemTime;

use fspiop::headers::{Method, Resource, format_date};
use serde_json::Value;

/// Sends FSPIOP requests to a hub as one participant.
#[derive(Clone)]
pub struct FspiopClient {
    http: reqwest::Client,
    hub: String,
    name: String,
    signing_key: Option<Arc<jws::SigningKey>>,
}

/// The hub's synchronous answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body (empty on success).
    pub body: String,
}

impl Answer {
    /// The `errorInformation.errorCode` of an error answer.
    pub fn error_code(&self) -> Option<String> {
        let value: Value = serde_json::from_str(&self.body).ok()?;
        value
            .pointer("/errorInformation/errorCode")?
            .as_str()
            .map(str::to_string)
    }
}

impl FspiopClient {
    /// A client for participant `name` talking to the hub at `hub` (e.g. `http://127.0.0.1:3000`).
    pub fn new(
        http: reqwest::Client,
        hub: impl Into<String>,
        name: impl Into<String>,
    ) -> FspiopClient {
        FspiopClient {
            http,
            hub: hub.into(),
            name: name.into(),
            signing_key: None,
        }
    }

    /// The same client, signing every request that has a body with `key`
    /// (`FSPIOP-Signature`).
    pub fn with_signing_key(mut self, key: Arc<jws::SigningKey>) -> FspiopClient {
        self.signing_key = Some(key);
        self
    }

    /// The key this client signs with, if any.
    pub fn signing_key(&self) -> Option<&Arc<jws::SigningKey>> {
        self.signing_key.as_ref()
    }

    /// This participant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The standard headers of a request (never a signature: see
    /// [`FspiopClient::signed_request`]).
    pub fn headers(
        &self,
        method: Method,
        resource: Resource,
        path: &str,
        destination: Option<&str>,
    ) -> Vec<(String, String)> {
        let mut headers = vec![
            ("content-type".to_string(), resource.content_type()),
            ("date".to_string(), format_date(SystemTime::now())),
            ("fspiop-source".to_string(), self.name.clone()),
            ("fspiop-uri".to_string(), fspiop_uri(path).to_string()),
            (
                "fspiop-http-method".to_string(),
                method.as_str().to_string(),
            ),
        ];
        if matches!(method, Method::Get | Method::Post | Method::Delete) {
            headers.push(("accept".to_string(), resource.accept()));
        }
        if let Some(destination) = destination {
            headers.push(("fspiop-destination".to_string(), destination.to_string()));
        }
        headers
    }

    /// The headers and body [`FspiopClient::send`] would send: the body in canonical form
    /// (sorted keys, compact) and, when a signing key is set and there is a body (or the
    /// request is a `DELETE`, signed over the empty payload), `fspiop-signature` over exactly
    /// those bytes. Pass both to [`FspiopClient::send_raw`]
    /// (the load generator pre-signs this way).
    ///
    /// If the request cannot be signed (a header value that is not printable ASCII) the
    /// signature is left out, a warning is logged, and the receiver will refuse it with `3105`.
    pub fn signed_request(
        &self,
        method: Method,
        resource: Resource,
        path: &str,
        destination: Option<&str>,
        body: Option<&Value>,
    ) -> (Vec<(String, String)>, Option<String>) {
        let mut headers = self.headers(method, resource, path, destination);
        let body = body.map(fspiop::canonical::to_canonical_string);
        // A DELETE has no body but changes state: it is signed over the empty payload.
        let payload = match (&body, method) {
            (Some(bytes), _) => Some(bytes.as_bytes()),
            (None, Method::Delete) => Some(&b""[..]),
            (None, _) => None,
        };
        if let (Some(key), Some(bytes)) = (&self.signing_key, payload) {
            let header = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let parts = jws::RequestParts {
                method: method.as_str(),
                uri: header("fspiop-uri").unwrap_or_default(),
                source: &self.name,
                destination,
                date: header("date"),
            };
            let signed = if bytes.is_empty() {
                jws::sign_bodyless(key, &parts)
            } else {
                jws::sign(key, &parts, bytes)
            };
            match signed {
                Ok(signature) => headers.push(("fspiop-signature".to_string(), signature)),
                Err(error) => {
                    tracing::warn!(source = %self.name, %path, %error, "request sent unsigned");
                }
            }
        }
        (headers, body)
    }

    /// Sends a request with a JSON body (canonical form) or none, signed when a signing key
    /// is set and there is a body.
    pub async fn send(
        &self,
        method: Method,
        resource: Resource,
        path: &str,
        destination: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, reqwest::Error> {
        let (headers, body) = self.signed_request(method, resource, path, destination, body);
        self.send_raw(method, path, &headers, body).await
    }

    /// Sends exactly the given headers and body bytes (tests use it for malformed requests).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(String, String)],
        body: Option<String>,
    ) -> Result<Answer, reqwest::Error> {
        let url = format!("{}{}", self.hub.trim_end_matches('/'), path);
        let method =
            reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self.http.request(method, url);
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.text().await?;
        Ok(Answer { status, body })
    }
}

/// `FSPIOP-URI` for a request path: the path without its query string.
fn fspiop_uri(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}

/// An HTTP client that trusts only `ca_pem` and presents `cert_pem`/`key_pem` (mutual TLS).
pub fn mtls_client(
    ca_pem: &str,
    cert_pem: &str,
    key_pem: &str,
) -> Result<reqwest::Client, reqwest::Error> {
    let ca = reqwest::Certificate::from_pem(ca_pem.as_bytes())?;
    let identity = reqwest::Identity::from_pem(format!("{cert_pem}\n{key_pem}").as_bytes())?;
    reqwest::Client::builder()
        .tls_certs_only([ca])
        .identity(identity)
        .pool_idle_timeout(std::time::Duration::from_secs(60))
        .build()
}
