//! An FSPIOP client: builds the headers a DFSP must send and posts to the hub.

use std::time::SystemTime;

use fspiop::headers::{Method, Resource, format_date};
use serde_json::Value;

/// Sends FSPIOP requests to a hub as one participant.
#[derive(Clone)]
pub struct FspiopClient {
    http: reqwest::Client,
    hub: String,
    name: String,
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
        }
    }

    /// This participant's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The standard headers of a request.
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
            (
                "fspiop-uri".to_string(),
                path.split('?').next().unwrap_or(path).to_string(),
            ),
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

    /// Sends a request with a JSON body (canonical form) or none.
    pub async fn send(
        &self,
        method: Method,
        resource: Resource,
        path: &str,
        destination: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, reqwest::Error> {
        let headers = self.headers(method, resource, path, destination);
        let bytes = body.map(fspiop::canonical::to_canonical_string);
        self.send_raw(method, path, &headers, bytes).await
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
