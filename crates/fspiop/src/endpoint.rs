//! Participant callback endpoints (`FSPIOP_CALLBACK_URL_*`) and their templates.
//!
//! Each DFSP registers one URL per endpoint type. Values are Mustache-style templates
//! (`{{transferId}}`, `{{partyIdType}}`, ...) or base URLs to which the hub appends the path,
//! depending on the type (protocol digest §8.1).

/// An endpoint type a participant can register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointType {
    /// `FSPIOP_CALLBACK_URL_AUTHORIZATIONS` (base URL).
    Authorizations,
    /// `FSPIOP_CALLBACK_URL_BULK_QUOTES` (base URL).
    BulkQuotes,
    /// `FSPIOP_CALLBACK_URL_BULK_TRANSFER_ERROR`
    BulkTransferError,
    /// `FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST`
    BulkTransferPost,
    /// `FSPIOP_CALLBACK_URL_BULK_TRANSFER_PUT`
    BulkTransferPut,
    /// `FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT`
    ParticipantBatchPut,
    /// `FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR`
    ParticipantBatchPutError,
    /// `FSPIOP_CALLBACK_URL_PARTICIPANT_PUT`
    ParticipantPut,
    /// `FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR`
    ParticipantPutError,
    /// `FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT`
    ParticipantSubIdPut,
    /// `FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR`
    ParticipantSubIdPutError,
    /// `FSPIOP_CALLBACK_URL_PARTIES_GET`
    PartiesGet,
    /// `FSPIOP_CALLBACK_URL_PARTIES_PUT`
    PartiesPut,
    /// `FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR`
    PartiesPutError,
    /// `FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET`
    PartiesSubIdGet,
    /// `FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT`
    PartiesSubIdPut,
    /// `FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR`
    PartiesSubIdPutError,
    /// `FSPIOP_CALLBACK_URL_QUOTES` (base URL).
    Quotes,
    /// `FSPIOP_CALLBACK_URL_TRANSFER_ERROR`
    TransferError,
    /// `FSPIOP_CALLBACK_URL_TRANSFER_POST`
    TransferPost,
    /// `FSPIOP_CALLBACK_URL_TRANSFER_PUT` (also used for PATCH notifications).
    TransferPut,
    /// `FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE` (base URL).
    TransactionRequests,
}

/// All endpoint types, for listings and validation messages.
pub const ALL_ENDPOINT_TYPES: [EndpointType; 22] = [
    EndpointType::Authorizations,
    EndpointType::BulkQuotes,
    EndpointType::BulkTransferError,
    EndpointType::BulkTransferPost,
    EndpointType::BulkTransferPut,
    EndpointType::ParticipantBatchPut,
    EndpointType::ParticipantBatchPutError,
    EndpointType::ParticipantPut,
    EndpointType::ParticipantPutError,
    EndpointType::ParticipantSubIdPut,
    EndpointType::ParticipantSubIdPutError,
    EndpointType::PartiesGet,
    EndpointType::PartiesPut,
    EndpointType::PartiesPutError,
    EndpointType::PartiesSubIdGet,
    EndpointType::PartiesSubIdPut,
    EndpointType::PartiesSubIdPutError,
    EndpointType::Quotes,
    EndpointType::TransferError,
    EndpointType::TransferPost,
    EndpointType::TransferPut,
    EndpointType::TransactionRequests,
];

impl EndpointType {
    /// The registered name, e.g. `FSPIOP_CALLBACK_URL_TRANSFER_POST`.
    pub fn name(self) -> &'static str {
        match self {
            EndpointType::Authorizations => "FSPIOP_CALLBACK_URL_AUTHORIZATIONS",
            EndpointType::BulkQuotes => "FSPIOP_CALLBACK_URL_BULK_QUOTES",
            EndpointType::BulkTransferError => "FSPIOP_CALLBACK_URL_BULK_TRANSFER_ERROR",
            EndpointType::BulkTransferPost => "FSPIOP_CALLBACK_URL_BULK_TRANSFER_POST",
            EndpointType::BulkTransferPut => "FSPIOP_CALLBACK_URL_BULK_TRANSFER_PUT",
            EndpointType::ParticipantBatchPut => "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT",
            EndpointType::ParticipantBatchPutError => {
                "FSPIOP_CALLBACK_URL_PARTICIPANT_BATCH_PUT_ERROR"
            }
            EndpointType::ParticipantPut => "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT",
            EndpointType::ParticipantPutError => "FSPIOP_CALLBACK_URL_PARTICIPANT_PUT_ERROR",
            EndpointType::ParticipantSubIdPut => "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT",
            EndpointType::ParticipantSubIdPutError => {
                "FSPIOP_CALLBACK_URL_PARTICIPANT_SUB_ID_PUT_ERROR"
            }
            EndpointType::PartiesGet => "FSPIOP_CALLBACK_URL_PARTIES_GET",
            EndpointType::PartiesPut => "FSPIOP_CALLBACK_URL_PARTIES_PUT",
            EndpointType::PartiesPutError => "FSPIOP_CALLBACK_URL_PARTIES_PUT_ERROR",
            EndpointType::PartiesSubIdGet => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_GET",
            EndpointType::PartiesSubIdPut => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT",
            EndpointType::PartiesSubIdPutError => "FSPIOP_CALLBACK_URL_PARTIES_SUB_ID_PUT_ERROR",
            EndpointType::Quotes => "FSPIOP_CALLBACK_URL_QUOTES",
            EndpointType::TransferError => "FSPIOP_CALLBACK_URL_TRANSFER_ERROR",
            EndpointType::TransferPost => "FSPIOP_CALLBACK_URL_TRANSFER_POST",
            EndpointType::TransferPut => "FSPIOP_CALLBACK_URL_TRANSFER_PUT",
            EndpointType::TransactionRequests => "FSPIOP_CALLBACK_URL_TRX_REQ_SERVICE",
        }
    }

    /// Parses a registered name.
    pub fn parse(name: &str) -> Option<EndpointType> {
        ALL_ENDPOINT_TYPES
            .iter()
            .copied()
            .find(|t| t.name() == name)
    }

    /// Whether the value is a base URL to which the hub appends the resource path.
    pub fn is_base_url(self) -> bool {
        matches!(
            self,
            EndpointType::Quotes
                | EndpointType::BulkQuotes
                | EndpointType::TransactionRequests
                | EndpointType::Authorizations
        )
    }
}

/// Values substituted into endpoint templates.
#[derive(Clone, Debug, Default)]
pub struct TemplateValues<'a> {
    /// `{{transferId}}`
    pub transfer_id: Option<&'a str>,
    /// `{{partyIdType}}`
    pub party_id_type: Option<&'a str>,
    /// `{{partyIdentifier}}`
    pub party_identifier: Option<&'a str>,
    /// `{{partySubIdOrType}}`
    pub party_sub_id: Option<&'a str>,
    /// `{{requestId}}`
    pub request_id: Option<&'a str>,
    /// `{{id}}` (bulk)
    pub id: Option<&'a str>,
}

/// Renders a template; placeholders with no value become empty, as the reference does.
/// Values are percent-encoded as path segments.
pub fn render(template: &str, values: &TemplateValues<'_>) -> String {
    let mut out = String::with_capacity(template.len().saturating_add(40));
    let mut rest = template;
    while let Some((before, after)) = rest.split_once("{{") {
        out.push_str(before);
        let Some((name, tail)) = after.split_once("}}") else {
            // An unterminated placeholder is copied as is, braces included.
            out.push_str("{{");
            out.push_str(after);
            return out;
        };
        let name = name.trim();
        let value = match name {
            "transferId" => values.transfer_id,
            "partyIdType" => values.party_id_type,
            "partyIdentifier" => values.party_identifier,
            "partySubIdOrType" => values.party_sub_id,
            "requestId" => values.request_id,
            "id" => values.id,
            _ => None,
        };
        out.push_str(&encode_segment(value.unwrap_or("")));
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// Percent-encodes a path segment (RFC 3986 unreserved characters and `+`, `@` stay as is).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric()
            || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'+' | b'@' | b':')
        {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Joins a base URL and a path without doubling or dropping the slash.
pub fn join_base(base: &str, path: &str) -> String {
    format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in ALL_ENDPOINT_TYPES {
            assert_eq!(EndpointType::parse(t.name()), Some(t));
        }
        assert_eq!(EndpointType::parse("NOPE"), None);
    }

    #[test]
    fn renders_placeholders() {
        let values = TemplateValues {
            transfer_id: Some("b51ec534-ee48-4575-b6a9-ead2955b8069"),
            ..TemplateValues::default()
        };
        assert_eq!(
            render("http://dfsp:4000/transfers/{{transferId}}/error", &values),
            "http://dfsp:4000/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069/error"
        );
        let party = TemplateValues {
            party_id_type: Some("MSISDN"),
            party_identifier: Some("+123 45/6"),
            ..TemplateValues::default()
        };
        assert_eq!(
            render(
                "http://x/parties/{{partyIdType}}/{{partyIdentifier}}",
                &party
            ),
            "http://x/parties/MSISDN/+123%2045%2F6"
        );
        assert_eq!(join_base("http://x/", "/quotes/1"), "http://x/quotes/1");
    }
}
