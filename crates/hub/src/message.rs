//! Outbound FSPIOP messages: forwards of a DFSP's message, and messages the hub originates.

use std::time::SystemTime;

use bytes::Bytes;
use fspiop::endpoint::EndpointType;
use fspiop::headers::{Method, Resource, format_date};

/// Headers copied when a DFSP's message is forwarded (signed headers stay untouched).
const FORWARDED_HEADERS: [&str; 9] = [
    "content-type",
    "accept",
    "date",
    "fspiop-source",
    "fspiop-signature",
    "fspiop-uri",
    "fspiop-http-method",
    "fspiop-encryption",
    "traceparent",
];

/// Values for the endpoint template of the receiver.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// `{{transferId}}`
    pub transfer_id: Option<String>,
    /// `{{partyIdType}}`
    pub party_id_type: Option<String>,
    /// `{{partyIdentifier}}`
    pub party_identifier: Option<String>,
    /// `{{partySubIdOrType}}`
    pub party_sub_id: Option<String>,
    /// `{{requestId}}`
    pub request_id: Option<String>,
    /// Path appended to base-URL endpoint types (e.g. `/quotes/{ID}`), and query string.
    pub path: Option<String>,
}

/// One message to deliver to a participant.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// Receiving participant.
    pub to: String,
    /// Which of its endpoints to use.
    pub endpoint: EndpointType,
    /// Template values / appended path.
    pub target: Target,
    /// HTTP method.
    pub method: Method,
    /// `FSPIOP-URI` of the message (for logs and signatures).
    pub fspiop_uri: String,
    /// Headers to send.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Option<Bytes>,
    /// A message to send instead to the original sender when this one cannot be delivered
    /// (only for requests, never for callbacks, so failures cannot loop).
    pub fallback: Option<Box<Outbound>>,
    /// The hub originates this message, so the dispatcher signs it with the hub's key;
    /// `false` for forwards, which keep their sender's signature untouched.
    pub from_hub: bool,
}

/// An inbound request as received: what a forward needs.
#[derive(Clone, Debug)]
pub struct Inbound {
    /// Method.
    pub method: Method,
    /// Resource.
    pub resource: Resource,
    /// Path from the resource segment on, with the query (e.g. `/transfers/{ID}`).
    pub path: String,
    /// Headers, lower-case names.
    pub headers: Vec<(String, String)>,
    /// Raw body.
    pub body: Bytes,
}

impl Inbound {
    /// A header by lower-case name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Forwards `inbound` to `to`: body bytes and signed headers untouched, `FSPIOP-Destination`
/// set to the routing target, `Accept` dropped on PUT.
pub fn forward(inbound: &Inbound, to: &str, endpoint: EndpointType, target: Target) -> Outbound {
    let mut headers = Vec::with_capacity(inbound.headers.len());
    for (name, value) in &inbound.headers {
        let keep = FORWARDED_HEADERS.contains(&name.as_str())
            || name == "tracestate"
            || name == "x-forwarded-for";
        if !keep || (name == "accept" && inbound.method == Method::Put) {
            continue;
        }
        headers.push((name.clone(), value.clone()));
    }
    headers.push(("fspiop-destination".into(), to.into()));
    Outbound {
        to: to.into(),
        endpoint,
        target,
        method: inbound.method,
        fspiop_uri: inbound
            .path
            .split('?')
            .next()
            .unwrap_or_default()
            .to_string(),
        headers,
        body: if inbound.body.is_empty() {
            None
        } else {
            Some(inbound.body.clone())
        },
        fallback: None,
        from_hub: false,
    }
}

/// A message the hub originates: `FSPIOP-Source` is the hub, body in canonical JSON (sorted
/// keys, so every SDK generation verifies the signature the dispatcher adds).
#[allow(clippy::too_many_arguments)]
pub fn originate(
    hub_name: &str,
    resource: Resource,
    method: Method,
    fspiop_uri: String,
    to: &str,
    endpoint: EndpointType,
    target: Target,
    body: Option<&serde_json::Value>,
) -> Outbound {
    let mut headers = vec![
        ("content-type".to_string(), resource.content_type()),
        ("date".to_string(), format_date(SystemTime::now())),
        ("fspiop-source".to_string(), hub_name.to_string()),
        ("fspiop-destination".to_string(), to.to_string()),
        ("fspiop-uri".to_string(), fspiop_uri.clone()),
        (
            "fspiop-http-method".to_string(),
            method.as_str().to_string(),
        ),
    ];
    if matches!(method, Method::Get | Method::Post | Method::Delete) {
        headers.push(("accept".to_string(), resource.accept()));
    }
    Outbound {
        to: to.into(),
        endpoint,
        target,
        method,
        fspiop_uri,
        headers,
        body: body.map(|b| Bytes::from(fspiop::canonical::to_canonical_string(b))),
        fallback: None,
        from_hub: true,
    }
}

/// An error callback (`PUT .../error`) from the hub.
pub fn error_callback(
    hub_name: &str,
    resource: Resource,
    fspiop_uri: String,
    to: &str,
    endpoint: EndpointType,
    target: Target,
    error: &fspiop::FspiopError,
) -> Outbound {
    let body = serde_json::to_value(error.to_body()).unwrap_or_default();
    originate(
        hub_name,
        resource,
        Method::Put,
        fspiop_uri,
        to,
        endpoint,
        target,
        Some(&body),
    )
}
