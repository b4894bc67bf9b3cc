//! FSPIOP header rules (API Definition v1.1 §3.2 and the reference switch's order of checks).
//!
//! [`check_request_headers`] runs the checks in the reference order — `Accept`, `Date`,
//! `Content-Length`, `Content-Type`, then the FSPIOP routing headers — and returns the values the
//! hub routes on. It is transport-agnostic: the caller supplies a header lookup function.

use std::time::SystemTime;

use crate::error::{ErrorCode, FspiopError};
use crate::types::FspId;

/// Largest body the hub accepts (5 MB, API Definition §3.2.2).
pub const MAX_BODY_BYTES: usize = 5_242_880;

/// Protocol versions this hub speaks, as (major, minor).
pub const SUPPORTED_VERSIONS: [(u8, u8); 2] = [(1, 0), (1, 1)];

/// The version the hub uses for the messages it originates.
pub const HUB_VERSION: (u8, u8) = (1, 1);

/// The FSPIOP resources, named by the first path segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Resource {
    /// `/authorizations`
    Authorizations,
    /// `/bulkQuotes`
    BulkQuotes,
    /// `/bulkTransfers`
    BulkTransfers,
    /// `/participants`
    Participants,
    /// `/parties`
    Parties,
    /// `/quotes`
    Quotes,
    /// `/transactionRequests`
    TransactionRequests,
    /// `/transactions`
    Transactions,
    /// `/transfers`
    Transfers,
}

impl Resource {
    /// The resource for a path segment, if it is one the hub serves.
    pub fn from_segment(segment: &str) -> Option<Resource> {
        Some(match segment {
            "authorizations" => Resource::Authorizations,
            "bulkQuotes" => Resource::BulkQuotes,
            "bulkTransfers" => Resource::BulkTransfers,
            "participants" => Resource::Participants,
            "parties" => Resource::Parties,
            "quotes" => Resource::Quotes,
            "transactionRequests" => Resource::TransactionRequests,
            "transactions" => Resource::Transactions,
            "transfers" => Resource::Transfers,
            _ => return None,
        })
    }

    /// The path segment and media-type name.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Authorizations => "authorizations",
            Resource::BulkQuotes => "bulkQuotes",
            Resource::BulkTransfers => "bulkTransfers",
            Resource::Participants => "participants",
            Resource::Parties => "parties",
            Resource::Quotes => "quotes",
            Resource::TransactionRequests => "transactionRequests",
            Resource::Transactions => "transactions",
            Resource::Transfers => "transfers",
        }
    }

    /// The `Content-Type` the hub uses for messages it originates.
    pub fn content_type(self) -> String {
        format!(
            "application/vnd.interoperability.{}+json;version={}.{}",
            self.name(),
            HUB_VERSION.0,
            HUB_VERSION.1
        )
    }

    /// The `Accept` the hub sends on requests it originates.
    pub fn accept(self) -> String {
        format!(
            "application/vnd.interoperability.{}+json;version={}",
            self.name(),
            HUB_VERSION.0
        )
    }
}

/// The HTTP methods FSPIOP uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Method {
    /// DELETE
    Delete,
    /// GET
    Get,
    /// PATCH
    Patch,
    /// POST
    Post,
    /// PUT
    Put,
}

impl Method {
    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Delete => "DELETE",
            Method::Get => "GET",
            Method::Patch => "PATCH",
            Method::Post => "POST",
            Method::Put => "PUT",
        }
    }

    fn requires_accept(self) -> bool {
        matches!(self, Method::Get | Method::Post | Method::Delete)
    }
}

/// What the header checks found: the values the hub routes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestHeaders {
    /// `FSPIOP-Source`, as sent.
    pub source: String,
    /// `FSPIOP-Destination`, if sent.
    pub destination: Option<String>,
    /// The `Date` header, parsed.
    pub date: SystemTime,
    /// The version from `Content-Type`.
    pub content_version: (u8, u8),
}

/// Checks the headers of an inbound FSPIOP request, in the reference switch's order.
///
/// `header` looks a header up case-insensitively; `content_length` is the body size.
pub fn check_request_headers<'a>(
    method: Method,
    resource: Resource,
    header: impl Fn(&str) -> Option<&'a str>,
    content_length: usize,
) -> Result<RequestHeaders, FspiopError> {
    match header("accept") {
        // HTTP clients add `*/*` when no Accept is given; on callbacks (which need none) that
        // default says nothing and is not an error.
        Some("*/*") if !method.requires_accept() => {}
        Some(accept) => check_accept(resource, accept)?,
        None if method.requires_accept() => {
            return Err(FspiopError::new(
                ErrorCode::MISSING_ELEMENT,
                "Accept is required",
            ));
        }
        None => {}
    }
    let date = match header("date") {
        Some(text) => parse_date(text).ok_or_else(|| {
            FspiopError::new(
                ErrorCode::MALFORMED_SYNTAX,
                format!("Invalid date header {text:?}: use RFC 7231 IMF-fixdate, e.g. 'Wed, 01 Jan 2025 00:00:01 GMT'"),
            )
        })?,
        None => {
            return Err(FspiopError::new(ErrorCode::MISSING_ELEMENT, "Missing required date header"));
        }
    };
    if content_length > MAX_BODY_BYTES {
        return Err(too_large(content_length));
    }
    let content_version = match header("content-type") {
        Some(text) => check_content_type(resource, text)?,
        None => {
            return Err(FspiopError::new(
                ErrorCode::MISSING_ELEMENT,
                "Content-type is required",
            ));
        }
    };
    let source = match header("fspiop-source") {
        Some(text) if !text.trim().is_empty() => text.to_string(),
        _ => {
            return Err(FspiopError::new(
                ErrorCode::MISSING_ELEMENT,
                "FSPIOP-Source is required",
            ));
        }
    };
    if FspId::parse(&source).is_err() {
        return Err(FspiopError::new(
            ErrorCode::MALFORMED_SYNTAX,
            format!("FSPIOP-Source {source:?} is not a valid participant name"),
        ));
    }
    let destination = match header("fspiop-destination") {
        Some(text) if !text.trim().is_empty() => {
            if FspId::parse(text).is_err() {
                return Err(FspiopError::new(
                    ErrorCode::MALFORMED_SYNTAX,
                    format!("FSPIOP-Destination {text:?} is not a valid participant name"),
                ));
            }
            Some(text.to_string())
        }
        _ => None,
    };
    Ok(RequestHeaders {
        source,
        destination,
        date,
        content_version,
    })
}

/// The error for a body over [`MAX_BODY_BYTES`].
pub fn too_large(length: usize) -> FspiopError {
    FspiopError::new(
        ErrorCode::TOO_LARGE_PAYLOAD,
        format!("body of {length} bytes exceeds the limit of {MAX_BODY_BYTES} bytes"),
    )
}

/// The 3001 error listing the supported versions in its extension list.
pub fn unsupported_version(detail: &str) -> FspiopError {
    let mut error = FspiopError::new(ErrorCode::UNACCEPTABLE_VERSION, detail);
    for (major, minor) in SUPPORTED_VERSIONS {
        error = error.with_extension(major.to_string(), minor.to_string());
    }
    error
}

fn check_accept(resource: Resource, accept: &str) -> Result<(), FspiopError> {
    let prefix = format!("application/vnd.interoperability.{}+json", resource.name());
    let mut any_supported = false;
    for element in accept.split(',') {
        let element = element.trim();
        let Some(rest) = element.strip_prefix(prefix.as_str()) else {
            return Err(invalid_accept(accept));
        };
        if rest.is_empty() {
            any_supported = true;
            continue;
        }
        let version = parse_version_parameter(rest).ok_or_else(|| invalid_accept(accept))?;
        let supported = match version {
            (major, None) => SUPPORTED_VERSIONS.iter().any(|(m, _)| *m == major),
            (major, Some(minor)) => SUPPORTED_VERSIONS.contains(&(major, minor)),
        };
        any_supported |= supported;
    }
    if any_supported {
        Ok(())
    } else {
        Err(unsupported_version(
            "The Client requested an unsupported version, see extension list for supported version(s).",
        ))
    }
}

fn invalid_accept(accept: &str) -> FspiopError {
    FspiopError::new(
        ErrorCode::MALFORMED_SYNTAX,
        format!("Invalid accept header {accept:?}"),
    )
}

fn check_content_type(resource: Resource, text: &str) -> Result<(u8, u8), FspiopError> {
    let invalid = || {
        FspiopError::new(
            ErrorCode::MALFORMED_SYNTAX,
            format!(
                "Invalid content-type header {text:?}: expected application/vnd.interoperability.{}+json;version=1.1",
                resource.name()
            ),
        )
    };
    let prefix = format!("application/vnd.interoperability.{}+json", resource.name());
    let rest = text
        .trim()
        .strip_prefix(prefix.as_str())
        .ok_or_else(invalid)?;
    let (major, minor) = match parse_version_parameter(rest) {
        Some((major, Some(minor))) => (major, minor),
        _ => return Err(invalid()),
    };
    if !SUPPORTED_VERSIONS.contains(&(major, minor)) {
        return Err(unsupported_version(
            "Client supplied a protocol version which is not supported by the server",
        ));
    }
    Ok((major, minor))
}

/// Parses `\s?;\s?version=M(.m)?` (the tail of an FSPIOP media type).
fn parse_version_parameter(rest: &str) -> Option<(u8, Option<u8>)> {
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let rest = rest.strip_prefix(';')?;
    let rest = rest.strip_prefix(' ').unwrap_or(rest);
    let version = rest.strip_prefix("version=")?;
    let (major, minor) = match version.split_once('.') {
        Some((major, minor)) => (major, Some(minor)),
        None => (version, None),
    };
    let number = |text: &str| -> Option<u8> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok()
    };
    let major = number(major)?;
    let minor = match minor {
        Some(minor) => Some(number(minor)?),
        None => None,
    };
    Some((major, minor))
}

/// Parses an RFC 7231 IMF-fixdate (`Wed, 01 Jan 2025 00:00:01 GMT`); other HTTP date forms are
/// refused, as the reference switch does.
pub fn parse_date(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    let shape_ok = bytes.len() == 29 && text.ends_with(" GMT") && bytes.get(3) == Some(&b',');
    if !shape_ok {
        return None;
    }
    httpdate::parse_http_date(text).ok()
}

/// Formats an instant as an IMF-fixdate for the `Date` header.
pub fn format_date(at: SystemTime) -> String {
    httpdate::fmt_http_date(at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn run(method: Method, headers: &[(&str, &str)]) -> Result<RequestHeaders, FspiopError> {
        let map: HashMap<String, String> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect();
        check_request_headers(
            method,
            Resource::Transfers,
            |name| map.get(name).map(String::as_str),
            10,
        )
    }

    const CT: &str = "application/vnd.interoperability.transfers+json;version=1.1";
    const ACCEPT: &str = "application/vnd.interoperability.transfers+json;version=1";
    const DATE: &str = "Wed, 01 Jan 2025 00:00:01 GMT";

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("accept", ACCEPT),
            ("content-type", CT),
            ("date", DATE),
            ("fspiop-source", "payerfsp"),
            ("fspiop-destination", "payeefsp"),
        ]
    }

    fn without(name: &str) -> Vec<(&'static str, &'static str)> {
        good().into_iter().filter(|(k, _)| *k != name).collect()
    }

    fn with(name: &'static str, value: &'static str) -> Vec<(&'static str, &'static str)> {
        let mut headers = without(name);
        headers.push((name, value));
        headers
    }

    #[test]
    fn good_headers_pass() {
        let parsed = run(Method::Post, &good()).unwrap();
        assert_eq!(parsed.source, "payerfsp");
        assert_eq!(parsed.destination.as_deref(), Some("payeefsp"));
        assert_eq!(parsed.content_version, (1, 1));
    }

    #[test]
    fn accept_rules() {
        assert_eq!(
            run(Method::Post, &without("accept")).unwrap_err().code,
            ErrorCode::MISSING_ELEMENT
        );
        assert!(run(Method::Put, &without("accept")).is_ok());
        assert!(run(Method::Put, &with("accept", "*/*")).is_ok());
        assert_eq!(
            run(Method::Post, &with("accept", "*/*")).unwrap_err().code,
            ErrorCode::MALFORMED_SYNTAX
        );
        let wrong = run(Method::Post, &with("accept", "application/json")).unwrap_err();
        assert_eq!(wrong.code, ErrorCode::MALFORMED_SYNTAX);
        let v2 = run(
            Method::Post,
            &with(
                "accept",
                "application/vnd.interoperability.transfers+json;version=2",
            ),
        )
        .unwrap_err();
        assert_eq!(v2.code, ErrorCode::UNACCEPTABLE_VERSION);
        assert_eq!(v2.code.http_status(), 406);
        assert_eq!(
            v2.extensions,
            vec![("1".into(), "0".into()), ("1".into(), "1".into())]
        );
        assert!(run(Method::Post, &with("accept", "application/vnd.interoperability.transfers+json;version=2, application/vnd.interoperability.transfers+json;version=1.0")).is_ok());
        assert!(
            run(
                Method::Post,
                &with("accept", "application/vnd.interoperability.transfers+json")
            )
            .is_ok()
        );
    }

    #[test]
    fn date_rules() {
        assert_eq!(
            run(Method::Post, &without("date")).unwrap_err().code,
            ErrorCode::MISSING_ELEMENT
        );
        let bad = run(Method::Post, &with("date", "2025-01-01T00:00:01Z")).unwrap_err();
        assert_eq!(bad.code, ErrorCode::MALFORMED_SYNTAX);
        assert!(
            run(
                Method::Post,
                &with("date", "Wednesday, 01-Jan-25 00:00:01 GMT")
            )
            .is_err()
        );
    }

    #[test]
    fn content_type_rules() {
        assert_eq!(
            run(Method::Post, &without("content-type"))
                .unwrap_err()
                .code,
            ErrorCode::MISSING_ELEMENT
        );
        let no_minor = run(
            Method::Post,
            &with(
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1",
            ),
        )
        .unwrap_err();
        assert_eq!(no_minor.code, ErrorCode::MALFORMED_SYNTAX);
        let other_resource = run(
            Method::Post,
            &with(
                "content-type",
                "application/vnd.interoperability.quotes+json;version=1.1",
            ),
        )
        .unwrap_err();
        assert_eq!(other_resource.code, ErrorCode::MALFORMED_SYNTAX);
        let v2 = run(
            Method::Post,
            &with(
                "content-type",
                "application/vnd.interoperability.transfers+json;version=2.0",
            ),
        )
        .unwrap_err();
        assert_eq!(v2.code, ErrorCode::UNACCEPTABLE_VERSION);
        let v10 = run(
            Method::Post,
            &with(
                "content-type",
                "application/vnd.interoperability.transfers+json;version=1.0",
            ),
        )
        .unwrap();
        assert_eq!(v10.content_version, (1, 0));
    }

    #[test]
    fn source_rules() {
        assert_eq!(
            run(Method::Post, &without("fspiop-source"))
                .unwrap_err()
                .code,
            ErrorCode::MISSING_ELEMENT
        );
        assert_eq!(
            run(Method::Post, &with("fspiop-source", "bad name"))
                .unwrap_err()
                .code,
            ErrorCode::MALFORMED_SYNTAX
        );
        assert!(
            run(Method::Post, &without("fspiop-destination"))
                .unwrap()
                .destination
                .is_none()
        );
    }

    #[test]
    fn date_round_trip() {
        let at = parse_date(DATE).unwrap();
        assert_eq!(format_date(at), DATE);
    }
}
