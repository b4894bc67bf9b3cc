//! FSPIOP error codes and the `errorInformation` object.
//!
//! Every failure a DFSP can see is an [`FspiopError`]: a code from the specification's table
//! (API Definition v1.1 §7.6) plus a detail sentence the DFSP engineer can act on. This module is
//! the one place where codes, their standard names and their synchronous HTTP statuses live.

use serde::{Deserialize, Serialize};

/// A four-digit FSPIOP error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ErrorCode(u16);

macro_rules! codes {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        impl ErrorCode {
            $(
                #[doc = $text]
                pub const $name: ErrorCode = ErrorCode($code);
            )*

            /// The standard name of the code as the reference tables spell it, if known.
            pub fn standard_name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($text),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    COMMUNICATION_ERROR = 1000, "Communication error";
    DESTINATION_COMMUNICATION_ERROR = 1001, "Destination communication error";
    GENERIC_SERVER_ERROR = 2000, "Generic server error";
    INTERNAL_SERVER_ERROR = 2001, "Internal server error";
    NOT_IMPLEMENTED = 2002, "Not implemented";
    SERVICE_UNAVAILABLE = 2003, "Service currently unavailable";
    SERVER_TIMED_OUT = 2004, "Server timed out";
    SERVER_BUSY = 2005, "Server busy";
    GENERIC_CLIENT_ERROR = 3000, "Generic client error";
    UNACCEPTABLE_VERSION = 3001, "Unacceptable version requested";
    UNKNOWN_URI = 3002, "Unknown URI";
    ADD_PARTY_INFORMATION_ERROR = 3003, "Add Party information error";
    DELETE_PARTY_INFORMATION_ERROR = 3040, "Delete Party information error";
    GENERIC_VALIDATION_ERROR = 3100, "Generic validation error";
    MALFORMED_SYNTAX = 3101, "Malformed syntax";
    MISSING_ELEMENT = 3102, "Missing mandatory element";
    TOO_MANY_ELEMENTS = 3103, "Too many elements";
    TOO_LARGE_PAYLOAD = 3104, "Too large payload";
    INVALID_SIGNATURE = 3105, "Invalid signature";
    MODIFIED_REQUEST = 3106, "Modified request";
    MISSING_EXTENSION = 3107, "Missing mandatory extension parameter";
    ID_NOT_FOUND = 3200, "Generic ID not found";
    DESTINATION_FSP_ERROR = 3201, "Destination FSP Error";
    PAYER_FSP_NOT_FOUND = 3202, "Payer FSP ID not found";
    PAYEE_FSP_NOT_FOUND = 3203, "Payee FSP ID not found";
    PARTY_NOT_FOUND = 3204, "Party not found";
    QUOTE_NOT_FOUND = 3205, "Quote ID not found";
    TRANSACTION_REQUEST_NOT_FOUND = 3206, "Transaction request ID not found";
    TRANSACTION_NOT_FOUND = 3207, "Transaction ID not found";
    TRANSFER_NOT_FOUND = 3208, "Transfer ID not found";
    BULK_QUOTE_NOT_FOUND = 3209, "Bulk quote ID not found";
    BULK_TRANSFER_NOT_FOUND = 3210, "Bulk transfer ID not found";
    GENERIC_EXPIRED = 3300, "Generic expired error";
    TRANSACTION_REQUEST_EXPIRED = 3301, "Transaction request expired";
    QUOTE_EXPIRED = 3302, "Quote expired";
    TRANSFER_EXPIRED = 3303, "Transfer expired";
    GENERIC_PAYER_ERROR = 4000, "Generic Payer error";
    PAYER_INSUFFICIENT_LIQUIDITY = 4001, "Payer FSP insufficient liquidity";
    GENERIC_PAYER_REJECTION = 4100, "Generic Payer rejection";
    PAYER_REJECTED_REQUEST = 4101, "Payer rejected transaction request";
    PAYER_UNSUPPORTED_TRANSACTION_TYPE = 4102, "Payer FSP unsupported transaction type";
    PAYER_UNSUPPORTED_CURRENCY = 4103, "Payer unsupported currency";
    PAYER_LIMIT_ERROR = 4200, "Payer limit error";
    PAYER_PERMISSION_ERROR = 4300, "Payer permission error";
    PAYER_BLOCKED = 4400, "Generic Payer blocked error";
    GENERIC_PAYEE_ERROR = 5000, "Generic Payee error";
    PAYEE_INSUFFICIENT_LIQUIDITY = 5001, "Payee FSP insufficient liquidity";
    GENERIC_PAYEE_REJECTION = 5100, "Generic Payee rejection";
    PAYEE_REJECTED_QUOTE = 5101, "Payee rejected quote";
    PAYEE_UNSUPPORTED_TRANSACTION_TYPE = 5102, "Payee FSP unsupported transaction type";
    PAYEE_FSP_REJECTED_QUOTE = 5103, "Payee FSP rejected quote";
    PAYEE_REJECTED_TRANSACTION = 5104, "Payee rejected transaction";
    PAYEE_FSP_REJECTED_TRANSACTION = 5105, "Payee FSP rejected transaction";
    PAYEE_UNSUPPORTED_CURRENCY = 5106, "Payee unsupported currency";
    PAYEE_LIMIT_ERROR = 5200, "Payee limit error";
    PAYEE_PERMISSION_ERROR = 5300, "Payee permission error";
    PAYEE_BLOCKED = 5400, "Generic Payee blocked error";
    SETTLEMENT_ERROR = 6000, "Generic Settlement Error";
}

impl ErrorCode {
    /// Parses a code as it appears on the wire (`^[1-9]\d{3}$`).
    pub fn parse(text: &str) -> Option<ErrorCode> {
        let bytes = text.as_bytes();
        if bytes.len() != 4 || !bytes.iter().all(u8::is_ascii_digit) || bytes.first() == Some(&b'0')
        {
            return None;
        }
        text.parse().ok().map(ErrorCode)
    }

    /// The numeric value.
    pub fn value(self) -> u16 {
        self.0
    }

    /// Whether a payee-supplied code is one the hub forwards as is: a known code, or one in a
    /// family the specification defines (10xx, 20xx, 30xx–33xx, 40xx–44xx, 50xx–54xx, 60xx).
    pub fn is_in_defined_family(self) -> bool {
        if self.standard_name().is_some() {
            return true;
        }
        let family = self.0 / 100;
        matches!(family, 10 | 20 | 30..=33 | 40..=44 | 50..=54 | 60)
    }

    /// The HTTP status used when this code is returned synchronously.
    pub fn http_status(self) -> u16 {
        match self.0 {
            2002 => 501,
            2003 | 2006 => 503,
            1000..=1999 => 503,
            2000..=2999 => 500,
            3001 => 406,
            3002 => 404,
            3000 => 400,
            _ => 400,
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A protocol failure: the code plus a detail that tells the DFSP what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code} {description}")]
pub struct FspiopError {
    /// The specification's code.
    pub code: ErrorCode,
    /// `<standard name> - <detail>`, at most 128 characters.
    pub description: String,
    /// Extra key/value pairs for `extensionList` (for example supported versions on 3001).
    pub extensions: Vec<(String, String)>,
    /// HTTP status for a synchronous answer when it differs from the code's default (405 for
    /// a method the path does not allow).
    pub status: Option<u16>,
}

impl FspiopError {
    /// An error with the code's standard name followed by `detail`.
    pub fn new(code: ErrorCode, detail: impl AsRef<str>) -> FspiopError {
        let name = code.standard_name().unwrap_or("Error");
        let detail = detail.as_ref();
        let text = if detail.is_empty() {
            name.to_string()
        } else {
            format!("{name} - {detail}")
        };
        FspiopError {
            code,
            description: truncate_chars(&text, MAX_DESCRIPTION_CHARS),
            extensions: Vec::new(),
            status: None,
        }
    }

    /// An error carrying a payee's own code and description unchanged.
    pub fn verbatim(code: ErrorCode, description: impl AsRef<str>) -> FspiopError {
        FspiopError {
            code,
            description: truncate_chars(description.as_ref(), MAX_DESCRIPTION_CHARS),
            extensions: Vec::new(),
            status: None,
        }
    }

    /// `3000` with HTTP 405: the path exists but not with this method.
    pub fn method_not_allowed(method: &str) -> FspiopError {
        let mut error = FspiopError::new(
            ErrorCode::GENERIC_CLIENT_ERROR,
            format!("method {method} is not allowed on this path"),
        );
        error.status = Some(405);
        error
    }

    /// The HTTP status of a synchronous answer carrying this error.
    pub fn http_status(&self) -> u16 {
        self.status.unwrap_or_else(|| self.code.http_status())
    }

    /// Adds an extension (only the first 16 are kept, as the schema allows).
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if self.extensions.len() < 16 {
            self.extensions.push((
                truncate_chars(&key.into(), 32),
                truncate_chars(&value.into(), 128),
            ));
        }
        self
    }

    /// The `ErrorInformationObject` body (`{"errorInformation": {...}}`).
    pub fn to_body(&self) -> ErrorInformationObject {
        let extension_list = if self.extensions.is_empty() {
            None
        } else {
            Some(ExtensionList {
                extension: self
                    .extensions
                    .iter()
                    .map(|(key, value)| Extension {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
            })
        };
        ErrorInformationObject {
            error_information: ErrorInformation {
                error_code: self.code.to_string(),
                error_description: self.description.clone(),
                extension_list,
            },
        }
    }

    /// Shorthand for 3100 with a detail.
    pub fn validation(detail: impl AsRef<str>) -> FspiopError {
        FspiopError::new(ErrorCode::GENERIC_VALIDATION_ERROR, detail)
    }

    /// Shorthand for 2001, used when the hub itself failed.
    pub fn internal(detail: impl AsRef<str>) -> FspiopError {
        FspiopError::new(ErrorCode::INTERNAL_SERVER_ERROR, detail)
    }
}

/// The body of an error callback and of a synchronous error response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInformationObject {
    /// The error.
    #[serde(rename = "errorInformation")]
    pub error_information: ErrorInformation,
}

/// `ErrorInformation`: code, description and optional extensions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInformation {
    /// Four-digit code as a string.
    #[serde(rename = "errorCode")]
    pub error_code: String,
    /// Description, 1..128 characters.
    #[serde(rename = "errorDescription")]
    pub error_description: String,
    /// Optional extensions.
    #[serde(rename = "extensionList", skip_serializing_if = "Option::is_none")]
    pub extension_list: Option<ExtensionList>,
}

/// `ExtensionList`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtensionList {
    /// 1..16 extensions.
    pub extension: Vec<Extension>,
}

/// One key/value extension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    /// Key, 1..32 characters.
    pub key: String,
    /// Value, 1..128 characters.
    pub value: String,
}

const MAX_DESCRIPTION_CHARS: usize = 128;

fn truncate_chars(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_accepts_only_four_digits_without_leading_zero() {
        assert_eq!(
            ErrorCode::parse("3100"),
            Some(ErrorCode::GENERIC_VALIDATION_ERROR)
        );
        assert_eq!(ErrorCode::parse("0100"), None);
        assert_eq!(ErrorCode::parse("310"), None);
        assert_eq!(ErrorCode::parse("31000"), None);
        assert_eq!(ErrorCode::parse("31a0"), None);
    }

    #[test]
    fn statuses_follow_the_reference_families() {
        assert_eq!(ErrorCode::UNACCEPTABLE_VERSION.http_status(), 406);
        assert_eq!(ErrorCode::UNKNOWN_URI.http_status(), 404);
        assert_eq!(ErrorCode::MALFORMED_SYNTAX.http_status(), 400);
        assert_eq!(ErrorCode::INTERNAL_SERVER_ERROR.http_status(), 500);
        assert_eq!(ErrorCode::NOT_IMPLEMENTED.http_status(), 501);
        assert_eq!(ErrorCode::SERVICE_UNAVAILABLE.http_status(), 503);
        assert_eq!(
            ErrorCode::DESTINATION_COMMUNICATION_ERROR.http_status(),
            503
        );
    }

    #[test]
    fn description_is_name_dash_detail_and_capped() {
        let error = FspiopError::validation("payerFsp does not match FSPIOP-Source");
        assert_eq!(
            error.description,
            "Generic validation error - payerFsp does not match FSPIOP-Source"
        );
        let long = FspiopError::validation("x".repeat(500));
        assert_eq!(long.description.chars().count(), 128);
        let body = serde_json::to_string(&error.to_body()).unwrap();
        assert_eq!(
            body,
            r#"{"errorInformation":{"errorCode":"3100","errorDescription":"Generic validation error - payerFsp does not match FSPIOP-Source"}}"#
        );
    }

    #[test]
    fn payee_codes_in_defined_families_are_kept() {
        assert!(ErrorCode::parse("5104").unwrap().is_in_defined_family());
        assert!(ErrorCode::parse("5155").unwrap().is_in_defined_family());
        assert!(!ErrorCode::parse("3500").unwrap().is_in_defined_family());
        assert!(!ErrorCode::parse("9999").unwrap().is_in_defined_family());
    }
}
