//! The FSPIOP listener: every request passes the same gate, in a fixed order, before a resource
//! handler sees it:
//!
//! 1. route (resource and shape of the path) — unknown → `3002`/404, wrong method → `3000`/405;
//! 2. body read with a hard size limit — `3104`;
//! 3. headers (`Accept`, `Date`, `Content-Length`, `Content-Type`, `FSPIOP-Source`) — `310x`/`3001`;
//! 4. the caller (from the connection) may send as `FSPIOP-Source`, which must be a registered,
//!    active participant — `3000`/`3200`;
//! 5. the JWS signature (`FSPIOP-Signature`) with the sender's registered keys, over the body
//!    bytes as received, before anything parses the body — `3105`;
//! 6. JSON syntax (a key repeated in any object is refused with `3101`) and the v1.1 schema —
//!    `3100`–`3103`.
//!
//! Identity and signature refusals are audited.
//!
//! Only then is the request accepted (`202`/`200`, empty body) and handled.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use fspiop::headers::{self, Method, Resource};
use fspiop::schema::{BodyKind, BodySchemas};
use fspiop::{ErrorCode, FspiopError};

use crate::caller::Caller;
use crate::handlers;
use crate::message::Inbound;
use crate::signatures::{InboundRequest, SignedBy, verify_inbound};
use crate::state::HubState;

/// The shape of a request path below its resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// `/{resource}` (POST).
    Collection,
    /// `/{resource}/{ID}`.
    Item(String),
    /// `/{resource}/{ID}/error`.
    ItemError(String),
    /// `/parties|participants/{Type}/{ID}[/{SubId}]`.
    Party {
        id_type: String,
        identifier: String,
        sub_id: Option<String>,
    },
    /// `/parties|participants/{Type}/{ID}[/{SubId}]/error`.
    PartyError {
        id_type: String,
        identifier: String,
        sub_id: Option<String>,
    },
}

/// A request that passed the gate.
pub struct Accepted {
    /// Method.
    pub method: Method,
    /// Resource.
    pub resource: Resource,
    /// Path shape.
    pub route: Route,
    /// `FSPIOP-Source` (authorised).
    pub source: String,
    /// `FSPIOP-Destination`, if any.
    pub destination: Option<String>,
    /// Version of the body's media type.
    pub content_version: (u8, u8),
    /// Parsed body (`Null` when there is none).
    pub body: serde_json::Value,
    /// The raw request for forwarding.
    pub inbound: Inbound,
    /// Query string, if any.
    pub query: Option<String>,
    /// The verified signature, when the message carried one (kept as evidence).
    pub signed: Option<SignedBy>,
}

/// Axum handler for every FSPIOP path.
pub async fn handle(State(state): State<Arc<HubState>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let caller = request.extensions().get::<Caller>().cloned();
    let Some(caller) = caller else {
        return error_response(&FspiopError::internal(
            "no caller identity on the connection",
        ));
    };
    state.metrics.request();
    match gate(&state, &caller, request).await {
        Ok(accepted) => {
            let status = match accepted.method {
                Method::Put | Method::Patch => StatusCode::OK,
                _ => StatusCode::ACCEPTED,
            };
            match handlers::dispatch(&state, accepted).await {
                Ok(()) => status.into_response(),
                Err(error) => error_response(&error),
            }
        }
        Err(error) => {
            tracing::info!(code = %error.code, description = %crate::logsafe::Escaped(&error.description), "request refused");
            state.metrics.refusal(&error.code.to_string());
            let mut response = error_response(&error);
            if response.status() == StatusCode::METHOD_NOT_ALLOWED
                && let Ok((resource, route)) = parse_path(&path)
                && let Ok(allow) = header::HeaderValue::from_str(&allowed_methods(resource, &route))
            {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            response
        }
    }
}

/// A synchronous FSPIOP error response.
pub fn error_response(error: &FspiopError) -> Response {
    let status = StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let body = serde_json::to_vec(&error.to_body()).unwrap_or_default();
    let mut response = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        response.headers_mut().insert(
            header::ALLOW,
            header::HeaderValue::from_static("GET, POST, PUT, DELETE"),
        );
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        // Nothing was recorded: the DFSP may resend the same request after this delay.
        response.headers_mut().insert(
            header::RETRY_AFTER,
            header::HeaderValue::from(crate::writer::RETRY_AFTER_SECS),
        );
    }
    response
}

async fn gate(
    state: &HubState,
    caller: &Caller,
    request: Request,
) -> Result<Accepted, FspiopError> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().map(str::to_string);
    let (resource, route) = parse_path(&path)?;
    let method = parse_method(parts.method.as_str())?;
    let kind = body_kind(method, resource, &route)?;
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    if declared_length > headers::MAX_BODY_BYTES {
        return Err(headers::too_large(declared_length));
    }
    let body = read_body(body).await?;
    let header_list = header_pairs(&parts.headers);
    let lookup = |name: &str| {
        header_list
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let checked = headers::check_request_headers(method, resource, lookup, body.len())?;
    if let Err(error) = caller.authorize_source(&checked.source, &state.hub_name) {
        audit_refusal(
            state,
            caller,
            "fspiop.source_refused",
            &checked.source,
            &error,
        );
        return Err(error);
    }
    match state.directory.active(&checked.source).await {
        Some(true) => {}
        Some(false) => {
            return Err(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!(
                    "FSPIOP-Source {} is an inactive participant",
                    checked.source
                ),
            ));
        }
        None => {
            return Err(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!(
                    "FSPIOP-Source {} is not a registered participant",
                    checked.source
                ),
            ));
        }
    }
    let signed = verify_inbound(
        &state.jws,
        &state.keys,
        state.writer.ledger().now_ms(),
        &InboundRequest {
            method,
            resource,
            party_path: matches!(route, Route::Party { .. } | Route::PartyError { .. }),
            uri: fspiop_uri_of(&path),
            source: &checked.source,
            destination: checked.destination.as_deref(),
            date: lookup("date"),
            fspiop_uri: lookup("fspiop-uri"),
            fspiop_method: lookup("fspiop-http-method"),
            signature: lookup("fspiop-signature"),
            body: &body,
        },
    )
    .await;
    let signed = match signed {
        Ok(signed) => signed,
        Err(error) => {
            audit_refusal(
                state,
                caller,
                "fspiop.signature_refused",
                &checked.source,
                &error,
            );
            return Err(error);
        }
    };
    let parsed = match kind {
        None => {
            if !body.is_empty() {
                return Err(FspiopError::new(
                    ErrorCode::MALFORMED_SYNTAX,
                    format!("{} requests carry no body", method.as_str()),
                ));
            }
            serde_json::Value::Null
        }
        Some(kind) => {
            // A repeated key would mean one thing to the hub (serde keeps the last) and maybe
            // another to the peer or a log reader: refuse it before anything reads the body.
            fspiop::json::check_unique_keys(&body)?;
            let value: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
                FspiopError::new(
                    ErrorCode::MALFORMED_SYNTAX,
                    format!("body is not valid JSON: {e}"),
                )
            })?;
            BodySchemas::v1_1()
                .validate(kind, &value)
                .map_err(|v| v.to_fspiop_error())?;
            value
        }
    };
    let full_path = match &query {
        Some(q) => format!("{path}?{q}"),
        None => path.clone(),
    };
    Ok(Accepted {
        method,
        resource,
        route,
        source: checked.source,
        destination: checked.destination,
        content_version: checked.content_version,
        body: parsed,
        inbound: Inbound {
            method,
            resource,
            path: full_path,
            headers: header_list,
            body,
        },
        query,
        signed,
    })
}

/// The request path from its resource segment on (what `FSPIOP-URI` carries), as received:
/// `/switch/transfers/abc` → `/transfers/abc`.
pub fn fspiop_uri_of(path: &str) -> &str {
    let mut offset: usize = 0;
    for segment in path.split('/') {
        if Resource::from_segment(segment).is_some() {
            return path.get(offset.saturating_sub(1)..).unwrap_or(path);
        }
        offset = offset.saturating_add(segment.len()).saturating_add(1);
    }
    path
}

/// Records a refusal (a caller speaking as someone else, a bad signature) in the audit log.
fn audit_refusal(
    state: &HubState,
    caller: &Caller,
    action: &'static str,
    claimed: &str,
    error: &FspiopError,
) {
    state.metrics.security_refusal(action);
    let actor = match &caller.identity {
        crate::caller::CallerIdentity::Participant(name) => name.as_str(),
        crate::caller::CallerIdentity::Unauthenticated => crate::refusals::UNAUTHENTICATED,
    };
    // The first refusals of a kind from a source are audited in full, the rest counted
    // (`hub::refusals`).
    let code = error.code.to_string();
    state.refusals.refused(crate::refusals::Refusal {
        source: caller.remote.map(|r| r.ip()),
        actor,
        action,
        reason: &code,
        subject: claimed,
        detail: serde_json::json!({
            "remote": caller.remote.map(|r| r.to_string()),
            "reason": error.description,
        }),
    });
}

async fn read_body(body: Body) -> Result<Bytes, FspiopError> {
    axum::body::to_bytes(body, headers::MAX_BODY_BYTES)
        .await
        .map_err(|_| headers::too_large(headers::MAX_BODY_BYTES + 1))
}

fn header_pairs(map: &HeaderMap) -> Vec<(String, String)> {
    map.iter()
        .filter_map(|(name, value)| {
            value
                .to_str()
                .ok()
                .map(|v| (name.as_str().to_ascii_lowercase(), v.to_string()))
        })
        .collect()
}

/// The FSPIOP method of an HTTP method name (`405`/`3000` for anything else).
pub fn parse_method(method: &str) -> Result<Method, FspiopError> {
    Ok(match method {
        "GET" => Method::Get,
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        other => return Err(method_not_allowed(other)),
    })
}

fn method_not_allowed(method: &str) -> FspiopError {
    FspiopError::method_not_allowed(method)
}

/// Splits a path into resource and shape. Paths may carry a prefix before the resource
/// segment; routing uses the first segment that names a resource.
pub fn parse_path(path: &str) -> Result<(Resource, Route), FspiopError> {
    let unknown = || {
        FspiopError::new(
            ErrorCode::UNKNOWN_URI,
            format!("{path} is not an FSPIOP resource path"),
        )
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let position = segments
        .iter()
        .position(|s| Resource::from_segment(s).is_some())
        .ok_or_else(unknown)?;
    let resource = segments
        .get(position)
        .and_then(|s| Resource::from_segment(s))
        .ok_or_else(unknown)?;
    let rest: Vec<String> = segments
        .get(position.saturating_add(1)..)
        .unwrap_or_default()
        .iter()
        .map(|s| percent_decode(s))
        .collect();
    let party_like = matches!(resource, Resource::Parties | Resource::Participants);
    let route = match rest.as_slice() {
        [] => Route::Collection,
        [id] => Route::Item(id.clone()),
        [id, error] if error == "error" && !party_like => Route::ItemError(id.clone()),
        [id, error] if error == "error" && resource == Resource::Participants => {
            Route::ItemError(id.clone())
        }
        [t, i] if party_like => Route::Party {
            id_type: t.clone(),
            identifier: i.clone(),
            sub_id: None,
        },
        [t, i, e] if party_like && e == "error" => Route::PartyError {
            id_type: t.clone(),
            identifier: i.clone(),
            sub_id: None,
        },
        [t, i, s] if party_like => Route::Party {
            id_type: t.clone(),
            identifier: i.clone(),
            sub_id: Some(s.clone()),
        },
        [t, i, s, e] if party_like && e == "error" => Route::PartyError {
            id_type: t.clone(),
            identifier: i.clone(),
            sub_id: Some(s.clone()),
        },
        _ => return Err(unknown()),
    };
    Ok((resource, route))
}

fn percent_decode(segment: &str) -> String {
    let mut rest = segment.as_bytes();
    let mut out = Vec::with_capacity(rest.len());
    while let Some((&byte, tail)) = rest.split_first() {
        if byte == b'%'
            && let Some(hex) = tail.get(..2)
            && hex.iter().all(u8::is_ascii_hexdigit)
            && let Ok(text) = std::str::from_utf8(hex)
            && let Ok(value) = u8::from_str_radix(text, 16)
        {
            out.push(value);
            rest = tail.get(2..).unwrap_or_default();
            continue;
        }
        out.push(byte);
        rest = tail;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The methods a path accepts, for the `Allow` header of a 405.
fn allowed_methods(resource: Resource, route: &Route) -> String {
    [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Delete,
        Method::Patch,
    ]
    .into_iter()
    .filter(|method| body_kind(*method, resource, route).is_ok())
    .map(Method::as_str)
    .collect::<Vec<_>>()
    .join(", ")
}

/// Which body schema applies; `None` for body-less requests; error for unsupported
/// method/path combinations.
fn body_kind(
    method: Method,
    resource: Resource,
    route: &Route,
) -> Result<Option<BodyKind>, FspiopError> {
    use Resource as R;
    use Route as P;
    let not_allowed = || Err(method_not_allowed(method.as_str()));
    let kind = match (resource, method, route) {
        (_, Method::Put, P::ItemError(_) | P::PartyError { .. }) => Some(BodyKind::ErrorPut),
        (R::Parties, Method::Get, P::Party { .. }) => None,
        (R::Parties, Method::Put, P::Party { .. }) => Some(BodyKind::PartiesPut),
        (R::Participants, Method::Get | Method::Delete, P::Party { .. }) => None,
        (R::Participants, Method::Post, P::Party { .. }) => Some(BodyKind::ParticipantsPost),
        (R::Participants, Method::Post, P::Collection) => Some(BodyKind::ParticipantsBatchPost),
        (R::Quotes, Method::Post, P::Collection) => Some(BodyKind::QuotesPost),
        (R::Quotes, Method::Put, P::Item(_)) => Some(BodyKind::QuotesPut),
        (R::Transfers, Method::Post, P::Collection) => Some(BodyKind::TransfersPost),
        (R::Transfers, Method::Put, P::Item(_)) => Some(BodyKind::TransfersPut),
        (R::TransactionRequests, Method::Post, P::Collection) => {
            Some(BodyKind::TransactionRequestsPost)
        }
        (R::TransactionRequests, Method::Put, P::Item(_)) => Some(BodyKind::TransactionRequestsPut),
        (R::Authorizations, Method::Put, P::Item(_)) => Some(BodyKind::AuthorizationsPut),
        (R::BulkQuotes, Method::Post, P::Collection) => Some(BodyKind::BulkQuotesPost),
        (R::BulkQuotes, Method::Put, P::Item(_)) => Some(BodyKind::BulkQuotesPut),
        (
            R::Quotes | R::Transfers | R::TransactionRequests | R::Authorizations | R::BulkQuotes,
            Method::Get,
            P::Item(_),
        ) => None,
        (R::BulkTransfers | R::Transactions, _, _) => {
            return Err(FspiopError::new(
                ErrorCode::NOT_IMPLEMENTED,
                format!("/{} is not served by this hub yet", resource.name()),
            ));
        }
        _ => return not_allowed(),
    };
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            parse_path("/transfers").unwrap(),
            (Resource::Transfers, Route::Collection)
        );
        assert_eq!(
            parse_path("/switch/transfers/abc").unwrap(),
            (Resource::Transfers, Route::Item("abc".into()))
        );
        assert_eq!(
            parse_path("/transfers/abc/error").unwrap(),
            (Resource::Transfers, Route::ItemError("abc".into()))
        );
        assert_eq!(
            parse_path("/parties/MSISDN/123/error").unwrap().1,
            Route::PartyError {
                id_type: "MSISDN".into(),
                identifier: "123".into(),
                sub_id: None
            }
        );
        assert_eq!(
            parse_path("/parties/MSISDN/%2B123/sub").unwrap().1,
            Route::Party {
                id_type: "MSISDN".into(),
                identifier: "+123".into(),
                sub_id: Some("sub".into())
            }
        );
        assert_eq!(
            parse_path("/nothing/here").unwrap_err().code,
            ErrorCode::UNKNOWN_URI
        );
        assert_eq!(
            parse_path("/transfers/a/b/c").unwrap_err().code,
            ErrorCode::UNKNOWN_URI
        );
    }

    #[test]
    fn fspiop_uri_starts_at_the_resource() {
        assert_eq!(fspiop_uri_of("/transfers/abc"), "/transfers/abc");
        assert_eq!(fspiop_uri_of("/switch/transfers/abc"), "/transfers/abc");
        assert_eq!(
            fspiop_uri_of("/parties/MSISDN/%2B123"),
            "/parties/MSISDN/%2B123"
        );
        assert_eq!(fspiop_uri_of("/nothing"), "/nothing");
        assert_eq!(fspiop_uri_of(""), "");
    }

    #[test]
    fn methods() {
        assert!(body_kind(Method::Patch, Resource::Transfers, &Route::Item("x".into())).is_err());
        assert_eq!(
            body_kind(Method::Get, Resource::Transfers, &Route::Item("x".into())).unwrap(),
            None
        );
        assert_eq!(
            body_kind(Method::Post, Resource::BulkTransfers, &Route::Collection)
                .unwrap_err()
                .code,
            ErrorCode::NOT_IMPLEMENTED
        );
    }
}
