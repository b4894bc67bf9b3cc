//! Who is calling: produced by the transport layer, never read from a header by handlers.
//!
//! Over mutual TLS the caller is the participant bound to the client certificate. Over plain
//! HTTP (a development mode the hub announces loudly) there is no cryptographic identity, and
//! the transport records that fact; [`Caller::authorize_source`] is then the one place that
//! decides whether a claimed `FSPIOP-Source` is acceptable.

use fspiop::{ErrorCode, FspiopError};
use std::net::SocketAddr;

/// How the connection identified its peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallerIdentity {
    /// A participant proven by its client certificate.
    Participant(String),
    /// A plain-HTTP connection: no identity is proven; the claimed source is trusted only
    /// because the operator chose the insecure transport.
    Unauthenticated,
}

/// The caller of one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Identity proven by the transport.
    pub identity: CallerIdentity,
    /// Peer address.
    pub remote: Option<SocketAddr>,
}

impl Caller {
    /// Checks that the caller may send as `source`. The hub's own name is never accepted from
    /// outside: no DFSP can speak as the hub.
    pub fn authorize_source(&self, source: &str, hub_name: &str) -> Result<(), FspiopError> {
        if source.eq_ignore_ascii_case(hub_name) {
            return Err(FspiopError::new(
                ErrorCode::GENERIC_CLIENT_ERROR,
                format!(
                    "FSPIOP-Source {source} is the hub's own name; participants cannot send as the hub"
                ),
            ));
        }
        match &self.identity {
            CallerIdentity::Participant(name) if name.eq_ignore_ascii_case(source) => Ok(()),
            CallerIdentity::Participant(name) => Err(FspiopError::new(
                ErrorCode::GENERIC_CLIENT_ERROR,
                format!("FSPIOP-Source {source} does not match the certificate identity {name}"),
            )),
            CallerIdentity::Unauthenticated => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_speaks_as_the_hub() {
        let caller = Caller {
            identity: CallerIdentity::Unauthenticated,
            remote: None,
        };
        assert!(caller.authorize_source("hub", "Hub").is_err());
        assert!(caller.authorize_source("payerfsp", "Hub").is_ok());
    }

    #[test]
    fn certificate_identity_must_match_source() {
        let caller = Caller {
            identity: CallerIdentity::Participant("payerfsp".into()),
            remote: None,
        };
        assert!(caller.authorize_source("PayerFSP", "Hub").is_ok());
        assert!(caller.authorize_source("payeefsp", "Hub").is_err());
    }
}
