//! DFSP-side "terms" (ilpPacket, condition, fulfilment) built exactly as
//! `@mojaloop/sdk-standard-components` 19.x builds them, and the reverse: reading the
//! Transaction object back out of an `ilpPacket`.
//!
//! Shared by both versions:
//! * the Transaction object is serialised as canonical JSON ([`crate::canonical_json`]) and
//!   the packet `data` is the ASCII of its unpadded base64url;
//! * the packet amount is `transaction.amount.amount` in minor units of
//!   `transaction.amount.currency` ([`amount_to_minor_units`], [`currency_exponent`]);
//! * the HMAC-SHA256 key is the ASCII of the *standard* (padded) base64 of the secret;
//! * condition = SHA-256(fulfilment).
//!
//! ILPv1 ([`v1_terms`]): the packet is a Payment to the payee's account ([`payee_account`],
//! not always an RFC 15 address); fulfilment = HMAC(key, ASCII of the base64url `ilpPacket`).
//!
//! ILPv4 ([`v4_terms`]): fulfilment = HMAC(key, ASCII of the standard padded base64 of the
//! canonical JSON); the packet is a Prepare to `g.mojaloop` embedding that condition.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use thiserror::Error;
use time::OffsetDateTime;

use crate::IlpError;
use crate::address::{Address, MAX_ADDRESS_LEN};
use crate::base64url;
use crate::canonical_json;
use crate::condition::Fulfilment;
use crate::packet::{Packet, Payment, Prepare};
use crate::timestamp::Timestamp;

/// Destination address the SDK puts in every ILPv4 Prepare.
pub const V4_DESTINATION: &str = "g.mojaloop";

/// The three strings a payee DFSP puts in its quote response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Terms {
    /// The base64url (unpadded) ILP packet.
    pub ilp_packet: String,
    /// The base64url (unpadded, 43 chars) condition.
    pub condition: String,
    /// The base64url (unpadded, 43 chars) fulfilment. Secret until the transfer is fulfilled.
    pub fulfilment: String,
}

/// Why a decimal amount cannot be converted to minor units.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AmountError {
    /// Not a plain non-negative decimal (`digits` or `digits.digits`).
    #[error("not a non-negative decimal number")]
    NotDecimal,
    /// The value does not fit in a u64 once scaled to minor units.
    #[error("amount in minor units does not fit in 64 bits")]
    Overflow,
    /// More non-zero fractional digits than the currency has minor units.
    #[error("more fractional digits than the currency's {exponent} minor-unit digit(s)")]
    TooPrecise {
        /// The currency's number of minor-unit digits.
        exponent: u32,
    },
}

/// Number of minor-unit digits the SDK uses for an ISO 4217 currency code.
///
/// This is the SDK's own table, not the full ISO list: 0 for BIF CLP DJF GNF ISK JPY KMF KRW
/// PYG RWF UGX UYI VUV VND XAF XOF XPF; 3 for BHD IQD JOD KWD LYD OMR TND; 4 for CLF UYW XTS
/// XXX; 2 for everything else (including unknown codes). Lookup is case-sensitive, as in the
/// SDK.
pub fn currency_exponent(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VUV" | "VND" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" | "XTS" | "XXX" => 4,
        _ => 2,
    }
}

/// Converts a decimal amount string (e.g. `"100.5"`) to integer minor units of `currency`
/// (e.g. `10050` for USD).
///
/// `currency` must be three upper-case ASCII letters. Fractional digits beyond the currency's
/// exponent are accepted only if they are zeros: an amount that cannot be represented exactly
/// is an error, never rounded.
pub fn amount_to_minor_units(amount: &str, currency: &str) -> Result<u64, IlpError> {
    if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(IlpError::InvalidCurrency(currency.to_owned()));
    }
    let exponent = currency_exponent(currency);
    let (int, frac) = match amount.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return Err(AmountError::NotDecimal.into()),
        None => (amount, ""),
    };
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !is_digits(int) || !is_digits(frac) {
        return Err(AmountError::NotDecimal.into());
    }
    let exponent_len = usize::try_from(exponent).unwrap_or(usize::MAX);
    if frac.bytes().skip(exponent_len).any(|b| b != b'0') {
        return Err(AmountError::TooPrecise { exponent }.into());
    }
    let padded_frac = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(exponent_len);
    int.bytes()
        .chain(padded_frac)
        .try_fold(0u64, |acc, b| {
            acc.checked_mul(10)?
                .checked_add(u64::from(b.saturating_sub(b'0')))
        })
        .ok_or(AmountError::Overflow.into())
}

/// The payee account of the SDK's ILPv1 Payment, byte for byte:
/// `g.{fspId}.{partyIdType lower}.{partyIdentifier lower}[.{partySubIdOrType lower}]`, written
/// as the SDK writes it (Node's `ascii` encoding: the low byte of each UTF-16 code unit).
///
/// Unlike [`party_ilp_address`] this does not require an RFC 15 address: the SDK builds this
/// account for any identifier (the `@` of an `EMAIL`, spaces, non-ASCII text), and a payee
/// must produce the very same bytes. Like the SDK, refuses an empty `partyIdType` or
/// `partyIdentifier`; `fspId` is not lower-cased and an empty `partySubIdOrType` is left out.
pub fn sdk_party_account(
    fsp_id: &str,
    party_id_type: &str,
    party_identifier: &str,
    party_sub_id_or_type: Option<&str>,
) -> Result<Vec<u8>, IlpError> {
    if party_id_type.is_empty() {
        return Err(IlpError::Empty {
            field: "payee.partyIdInfo.partyIdType",
        });
    }
    if party_identifier.is_empty() {
        return Err(IlpError::Empty {
            field: "payee.partyIdInfo.partyIdentifier",
        });
    }
    let mut s = format!(
        "g.{fsp_id}.{}.{}",
        party_id_type.to_lowercase(),
        party_identifier.to_lowercase()
    );
    if let Some(sub) = party_sub_id_or_type.filter(|s| !s.is_empty()) {
        s.push('.');
        s.push_str(&sub.to_lowercase());
    }
    let account: Vec<u8> = s
        .encode_utf16()
        .map(|unit| {
            let [_, low] = unit.to_be_bytes();
            low
        })
        .collect();
    if account.len() > MAX_ADDRESS_LEN {
        return Err(IlpError::TooLong {
            field: "account",
            len: account.len(),
            max: MAX_ADDRESS_LEN,
        });
    }
    Ok(account)
}

/// The SDK's ILPv1 payee account from `transaction.payee.partyIdInfo` (see
/// [`sdk_party_account`]).
pub fn payee_account(transaction: &Value) -> Result<Vec<u8>, IlpError> {
    let (fsp_id, party_id_type, party_identifier, sub_id) = payee_party(transaction)?;
    sdk_party_account(fsp_id, party_id_type, party_identifier, sub_id)
}

/// The SDK's ILP address for a party:
/// `g.{fspId}.{partyIdType lower}.{partyIdentifier lower}[.{partySubIdOrType lower}]`.
///
/// `fspId` is not lower-cased; an empty `partySubIdOrType` is left out, as in the SDK. Fails if
/// the result is not a valid RFC 15 address (e.g. an `EMAIL` identifier containing `@`).
pub fn party_ilp_address(
    fsp_id: &str,
    party_id_type: &str,
    party_identifier: &str,
    party_sub_id_or_type: Option<&str>,
) -> Result<Address, IlpError> {
    let mut s = format!(
        "g.{fsp_id}.{}.{}",
        party_id_type.to_lowercase(),
        party_identifier.to_lowercase()
    );
    if let Some(sub) = party_sub_id_or_type.filter(|s| !s.is_empty()) {
        s.push('.');
        s.push_str(&sub.to_lowercase());
    }
    Address::try_from(s).map_err(|source| IlpError::InvalidAddress {
        field: "payee address",
        source,
    })
}

/// The payee ILP address from `transaction.payee.partyIdInfo` (see [`party_ilp_address`]).
///
/// Fails where the SDK's account is not an RFC 15 address; [`payee_account`] gives the bytes
/// the SDK actually writes.
pub fn payee_ilp_address(transaction: &Value) -> Result<Address, IlpError> {
    let (fsp_id, party_id_type, party_identifier, sub_id) = payee_party(transaction)?;
    party_ilp_address(fsp_id, party_id_type, party_identifier, sub_id)
}

/// `fspId`, `partyIdType`, `partyIdentifier` and `partySubIdOrType` (absent when missing or
/// `null`) of `transaction.payee.partyIdInfo`.
fn payee_party(transaction: &Value) -> Result<(&str, &str, &str, Option<&str>), IlpError> {
    let info = transaction
        .get("payee")
        .and_then(|p| p.get("partyIdInfo"))
        .ok_or(IlpError::MissingField("payee.partyIdInfo"))?;
    let sub_id = match info.get("partySubIdOrType") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => return Err(IlpError::MissingField("payee.partyIdInfo.partySubIdOrType")),
    };
    Ok((
        str_field(info, "fspId", "payee.partyIdInfo.fspId")?,
        str_field(info, "partyIdType", "payee.partyIdInfo.partyIdType")?,
        str_field(info, "partyIdentifier", "payee.partyIdInfo.partyIdentifier")?,
        sub_id,
    ))
}

/// The packet amount for a Transaction: `amount.amount` in minor units of `amount.currency`.
pub fn transaction_amount(transaction: &Value) -> Result<u64, IlpError> {
    let amount = transaction
        .get("amount")
        .ok_or(IlpError::MissingField("amount"))?;
    amount_to_minor_units(
        str_field(amount, "amount", "amount.amount")?,
        str_field(amount, "currency", "amount.currency")?,
    )
}

/// The packet `data` for a Transaction: ASCII of base64url(canonical JSON).
pub fn transaction_data(transaction: &Value) -> Vec<u8> {
    base64url::encode(canonical_json::to_string(transaction)).into_bytes()
}

/// ILPv1 terms for a Transaction object, as the SDK's `IlpV1.getResponseIlp` builds them.
///
/// `secret` is the payee DFSP's ILP secret (the UTF-8 bytes of the SDK's `ILP_SECRET`).
pub fn v1_terms(transaction: &Value, secret: &[u8]) -> Result<Terms, IlpError> {
    let amount = transaction_amount(transaction)?;
    let account = payee_account(transaction)?;
    let packet = Payment::with_raw_account(amount, account, transaction_data(transaction))?;
    let ilp_packet = base64url::encode(packet.encode());
    let fulfilment = sdk_fulfilment(secret, ilp_packet.as_bytes());
    Ok(Terms {
        condition: fulfilment.condition().to_base64url(),
        fulfilment: fulfilment.to_base64url(),
        ilp_packet,
    })
}

/// ILPv4 terms for a Transaction object, as the SDK's `IlpV4.getResponseIlp` builds them.
///
/// `expiration` becomes the Prepare `expiresAt` (converted to UTC, truncated to
/// milliseconds); the SDK uses the quote response `expiration`, which is also the
/// Transaction's `expiration` field.
pub fn v4_terms(
    transaction: &Value,
    expiration: OffsetDateTime,
    secret: &[u8],
) -> Result<Terms, IlpError> {
    let amount = transaction_amount(transaction)?;
    let expires_at = Timestamp::from_offset_datetime(expiration)?;
    let canonical = canonical_json::to_string(transaction);
    let fulfilment = sdk_fulfilment(secret, base64url::encode_standard(&canonical).as_bytes());
    let condition = fulfilment.condition();
    let destination = Address::new(V4_DESTINATION).map_err(|source| IlpError::InvalidAddress {
        field: "destination",
        source,
    })?;
    let data = base64url::encode(&canonical).into_bytes();
    let packet = Prepare::new(amount, expires_at, condition, destination, data)?;
    Ok(Terms {
        ilp_packet: base64url::encode(packet.encode()),
        condition: condition.to_base64url(),
        fulfilment: fulfilment.to_base64url(),
    })
}

/// Decodes an `ilpPacket` string (ILPv1 Payment or ILPv4 Prepare) and returns the
/// Transaction object carried in its data.
pub fn transaction_from_ilp_packet(ilp_packet: &str) -> Result<Value, IlpError> {
    match Packet::from_base64url(ilp_packet)? {
        Packet::Payment(p) => transaction_from_data(p.data()),
        Packet::Prepare(p) => transaction_from_data(p.data()),
        other => Err(IlpError::InvalidTransaction(format!(
            "a {:?} packet carries no Transaction",
            other.packet_type()
        ))),
    }
}

/// Parses packet `data` (ASCII base64url of JSON) into the Transaction object.
pub fn transaction_from_data(data: &[u8]) -> Result<Value, IlpError> {
    let json = base64url::decode(data).map_err(|source| IlpError::Base64 {
        field: "data",
        source,
    })?;
    let value: Value =
        serde_json::from_slice(&json).map_err(|e| IlpError::InvalidTransaction(e.to_string()))?;
    if !value.is_object() {
        return Err(IlpError::InvalidTransaction(
            "Transaction is not a JSON object".to_owned(),
        ));
    }
    Ok(value)
}

/// HMAC-SHA256 keyed with the ASCII of base64(secret), as the SDK's `calculateFulfil` does.
fn sdk_fulfilment(secret: &[u8], message: &[u8]) -> Fulfilment {
    let key = base64url::encode_standard(secret);
    // HMAC (RFC 2104) accepts keys of any length: hmac 0.13's `new_from_slice` for
    // `Hmac<Sha256>` always returns `Ok` (its own infallible `KeyInit::new` relies on that).
    #[allow(clippy::expect_used)]
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(message);
    Fulfilment::from_bytes(mac.finalize().into_bytes().into())
}

fn str_field<'v>(object: &'v Value, key: &str, path: &'static str) -> Result<&'v str, IlpError> {
    object
        .get(key)
        .and_then(Value::as_str)
        .ok_or(IlpError::MissingField(path))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;
    use time::format_description::well_known::Rfc3339;

    use super::*;
    use crate::address::AddressError;
    use crate::condition::Condition;
    use crate::test_vectors::{self as tv, hex};

    fn expiration() -> OffsetDateTime {
        OffsetDateTime::parse(tv::EXPIRATION, &Rfc3339).unwrap()
    }

    #[test]
    fn canonical_transaction_matches_vector() {
        let canonical = canonical_json::to_string(&tv::transaction());
        assert_eq!(canonical, tv::TRANSACTION_JSON);
        assert_eq!(canonical.len(), 479);
        assert_eq!(transaction_data(&tv::transaction()).len(), 639);
    }

    #[test]
    fn v1_terms_match_sdk_vector() {
        let terms = v1_terms(&tv::transaction(), tv::SECRET).unwrap();
        assert_eq!(terms.ilp_packet, tv::V1_ILP_PACKET);
        assert_eq!(terms.fulfilment, tv::V1_FULFILMENT);
        assert_eq!(terms.condition, tv::V1_CONDITION);
        let fulfilment = Fulfilment::from_base64url(&terms.fulfilment).unwrap();
        assert_eq!(fulfilment.as_bytes()[..], hex(tv::V1_FULFILMENT_HEX)[..]);
        let condition = Condition::from_base64url(&terms.condition).unwrap();
        assert!(condition.is_fulfilled_by(&fulfilment));
    }

    #[test]
    fn v4_terms_match_sdk_vector() {
        let terms = v4_terms(&tv::transaction(), expiration(), tv::SECRET).unwrap();
        assert_eq!(terms.ilp_packet, tv::V4_ILP_PACKET);
        assert_eq!(terms.fulfilment, tv::V4_FULFILMENT);
        assert_eq!(terms.condition, tv::V4_CONDITION);
        let fulfilment = Fulfilment::from_base64url(&terms.fulfilment).unwrap();
        assert_eq!(fulfilment.as_bytes()[..], hex(tv::V4_FULFILMENT_HEX)[..]);
        let condition = Condition::from_base64url(&terms.condition).unwrap();
        assert!(condition.is_fulfilled_by(&fulfilment));
        // The Prepare embeds the same condition.
        let Packet::Prepare(p) = Packet::from_base64url(&terms.ilp_packet).unwrap() else {
            panic!("not a Prepare")
        };
        assert_eq!(p.execution_condition(), &condition);
    }

    #[test]
    fn terms_do_not_depend_on_key_order_or_secret_encoding() {
        // Same object, keys inserted in sorted order instead: same terms.
        let sorted: Value = serde_json::from_str(tv::TRANSACTION_JSON).unwrap();
        assert_eq!(
            v1_terms(&sorted, tv::SECRET).unwrap(),
            v1_terms(&tv::transaction(), tv::SECRET).unwrap()
        );
        // A different secret changes fulfilment and condition but not the v1 packet.
        let other = v1_terms(&tv::transaction(), b"other").unwrap();
        assert_eq!(other.ilp_packet, tv::V1_ILP_PACKET);
        assert_ne!(other.fulfilment, tv::V1_FULFILMENT);
        // The HMAC key is the ASCII of base64("secret").
        assert_eq!(base64url::encode_standard(tv::SECRET), "c2VjcmV0");
    }

    #[test]
    fn transaction_round_trips_through_ilp_packet() {
        let canonical: Value = serde_json::from_str(tv::TRANSACTION_JSON).unwrap();
        assert_eq!(
            transaction_from_ilp_packet(tv::V1_ILP_PACKET).unwrap(),
            canonical
        );
        assert_eq!(
            transaction_from_ilp_packet(tv::V4_ILP_PACKET).unwrap(),
            canonical
        );
        assert_eq!(canonical, tv::transaction());
        // Padding on the ilpPacket string is tolerated.
        let padded = format!("{}==", tv::V1_ILP_PACKET);
        assert_eq!(
            tv::V1_ILP_PACKET.len() % 4,
            2,
            "vector needs two padding characters"
        );
        assert_eq!(transaction_from_ilp_packet(&padded).unwrap(), canonical);
    }

    #[test]
    fn transaction_errors() {
        let fulfill = crate::packet::Fulfill::new(Fulfilment::from_bytes([0; 32]), vec![])
            .unwrap()
            .encode();
        assert!(matches!(
            transaction_from_ilp_packet(&base64url::encode(fulfill)),
            Err(IlpError::InvalidTransaction(_))
        ));
        assert!(matches!(
            transaction_from_data(b"!!"),
            Err(IlpError::Base64 { field: "data", .. })
        ));
        assert!(matches!(
            transaction_from_data(base64url::encode("{").as_bytes()),
            Err(IlpError::InvalidTransaction(_))
        ));
        assert!(matches!(
            transaction_from_data(base64url::encode("[1]").as_bytes()),
            Err(IlpError::InvalidTransaction(_))
        ));
        assert!(matches!(
            transaction_from_ilp_packet("AQ"),
            Err(IlpError::Malformed {
                field: "envelope",
                ..
            })
        ));
    }

    #[test]
    fn currency_exponents() {
        for c in [
            "BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
            "VUV", "VND", "XAF", "XOF", "XPF",
        ] {
            assert_eq!(currency_exponent(c), 0, "{c}");
        }
        for c in ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"] {
            assert_eq!(currency_exponent(c), 3, "{c}");
        }
        for c in ["CLF", "UYW", "XTS", "XXX"] {
            assert_eq!(currency_exponent(c), 4, "{c}");
        }
        for c in ["USD", "EUR", "TZS", "ZAR", "XYZ", "jpy", ""] {
            assert_eq!(currency_exponent(c), 2, "{c}");
        }
    }

    #[test]
    fn minor_units() {
        let ok: &[(&str, &str, u64)] = &[
            ("100.5", "USD", 10050),
            ("100", "USD", 10000),
            ("0", "USD", 0),
            ("0.01", "USD", 1),
            ("1.10", "USD", 110),
            ("1.100", "USD", 110),
            ("5", "JPY", 5),
            ("5.000", "JPY", 5),
            ("1.234", "KWD", 1234),
            ("1.2345", "CLF", 12345),
            ("007", "USD", 700),
            ("184467440737095516.15", "USD", u64::MAX),
        ];
        for (amount, currency, expected) in ok {
            assert_eq!(
                amount_to_minor_units(amount, currency),
                Ok(*expected),
                "{amount}"
            );
        }
        let err: &[(&str, &str, IlpError)] = &[
            (
                "1.005",
                "USD",
                AmountError::TooPrecise { exponent: 2 }.into(),
            ),
            ("1.5", "JPY", AmountError::TooPrecise { exponent: 0 }.into()),
            ("184467440737095516.16", "USD", AmountError::Overflow.into()),
            ("99999999999999999999", "JPY", AmountError::Overflow.into()),
            ("", "USD", AmountError::NotDecimal.into()),
            (".5", "USD", AmountError::NotDecimal.into()),
            ("5.", "USD", AmountError::NotDecimal.into()),
            ("-5", "USD", AmountError::NotDecimal.into()),
            ("+5", "USD", AmountError::NotDecimal.into()),
            ("1e3", "USD", AmountError::NotDecimal.into()),
            ("1.2.3", "USD", AmountError::NotDecimal.into()),
            (" 1", "USD", AmountError::NotDecimal.into()),
            ("1", "usd", IlpError::InvalidCurrency("usd".into())),
            ("1", "US", IlpError::InvalidCurrency("US".into())),
        ];
        for (amount, currency, expected) in err {
            assert_eq!(
                amount_to_minor_units(amount, currency).as_ref(),
                Err(expected),
                "{amount} {currency}"
            );
        }
    }

    #[test]
    fn party_addresses() {
        let a = party_ilp_address("payeefsp", "MSISDN", "27713803912", None).unwrap();
        assert_eq!(a.as_str(), "g.payeefsp.msisdn.27713803912");
        let a = party_ilp_address("FSP-A", "ACCOUNT_ID", "AbC123", Some("Savings")).unwrap();
        assert_eq!(a.as_str(), "g.FSP-A.account_id.abc123.savings");
        let a = party_ilp_address("fsp", "MSISDN", "1", Some("")).unwrap();
        assert_eq!(a.as_str(), "g.fsp.msisdn.1");
        assert_eq!(
            party_ilp_address("fsp", "EMAIL", "a@b.com", None),
            Err(IlpError::InvalidAddress {
                field: "payee address",
                source: AddressError::InvalidCharacter {
                    byte: b'@',
                    offset: 13
                }
            })
        );
        let tx = json!({"payee": {"partyIdInfo": {
            "fspId": "f", "partyIdType": "IBAN", "partyIdentifier": "X1", "partySubIdOrType": "Y"
        }}});
        assert_eq!(payee_ilp_address(&tx).unwrap().as_str(), "g.f.iban.x1.y");
    }

    #[test]
    fn sdk_party_accounts() {
        // Identical to the address whenever that is valid.
        let a = sdk_party_account("FSP-A", "ACCOUNT_ID", "AbC123", Some("Savings")).unwrap();
        assert_eq!(a, b"g.FSP-A.account_id.abc123.savings");
        assert_eq!(
            sdk_party_account("fsp", "MSISDN", "1", Some("")).unwrap(),
            b"g.fsp.msisdn.1"
        );
        // Not an RFC 15 address, but what the SDK writes (interop/node/ilp.js vectors).
        assert_eq!(
            sdk_party_account("fsp", "EMAIL", "A.B@Example.com", None).unwrap(),
            b"g.fsp.email.a.b@example.com"
        );
        assert_eq!(
            sdk_party_account("fsp", "ACCOUNT_ID", "12 34", None).unwrap(),
            b"g.fsp.account_id.12 34"
        );
        // Lower-cased, then the low byte of each UTF-16 unit: ë = 00EB, 田 = 7530,
        // 😀 = D83D DE00, final sigma as JavaScript's toLowerCase writes it (03C2).
        assert_eq!(
            sdk_party_account("fsp", "ALIAS", "ZOË田😀ΟΔΟΣ", None).unwrap(),
            b"g.fsp.alias.zo\xeb0=\x00\xbf\xb4\xbf\xc2"
        );
        assert_eq!(
            sdk_party_account("fsp", "MSISDN", "", None),
            Err(IlpError::Empty {
                field: "payee.partyIdInfo.partyIdentifier"
            })
        );
        assert_eq!(
            sdk_party_account("fsp", "", "1", None),
            Err(IlpError::Empty {
                field: "payee.partyIdInfo.partyIdType"
            })
        );
        assert!(matches!(
            sdk_party_account("fsp", "ALIAS", &"x".repeat(1024), None),
            Err(IlpError::TooLong {
                field: "account",
                ..
            })
        ));
        // v1 terms for an EMAIL payee: the Payment carries those bytes.
        let mut tx = tv::transaction();
        tx["payee"]["partyIdInfo"] =
            json!({"fspId": "payeefsp", "partyIdType": "EMAIL", "partyIdentifier": "a@b.com"});
        let terms = v1_terms(&tx, tv::SECRET).unwrap();
        let Packet::Payment(p) = Packet::from_base64url(&terms.ilp_packet).unwrap() else {
            panic!("not a Payment")
        };
        assert_eq!(p.account(), b"g.payeefsp.email.a@b.com");
        assert_eq!(payee_account(&tx).unwrap(), p.account());
    }

    #[test]
    fn missing_fields() {
        let mut tx = tv::transaction();
        tx["payee"]["partyIdInfo"]
            .as_object_mut()
            .unwrap()
            .remove("fspId");
        assert_eq!(
            v1_terms(&tx, tv::SECRET),
            Err(IlpError::MissingField("payee.partyIdInfo.fspId"))
        );
        // v4 does not use the payee address.
        assert!(v4_terms(&tx, expiration(), tv::SECRET).is_ok());

        let mut tx = tv::transaction();
        tx["amount"]["currency"] = json!(840);
        assert_eq!(
            v4_terms(&tx, expiration(), tv::SECRET),
            Err(IlpError::MissingField("amount.currency"))
        );
        assert_eq!(
            v1_terms(&json!({}), tv::SECRET),
            Err(IlpError::MissingField("amount"))
        );
        assert_eq!(
            v1_terms(
                &json!({"amount": {"amount": "1", "currency": "USD"}}),
                tv::SECRET
            ),
            Err(IlpError::MissingField("payee.partyIdInfo"))
        );
    }

    #[test]
    fn v4_expiry_is_utc_milliseconds() {
        let tx = tv::transaction();
        let shifted = OffsetDateTime::parse("2030-01-01T03:00:00.000999+03:00", &Rfc3339).unwrap();
        assert_eq!(
            v4_terms(&tx, shifted, tv::SECRET).unwrap(),
            v4_terms(&tx, expiration(), tv::SECRET).unwrap()
        );
    }

    proptest! {
        #[test]
        fn minor_units_round_trip(value in any::<u64>(), currency in prop::sample::select(
            vec!["USD", "JPY", "KWD", "CLF"]
        )) {
            let exponent = usize::try_from(currency_exponent(currency)).unwrap();
            let digits = format!("{value:0>width$}", width = exponent + 1);
            let (int, frac) = digits.split_at(digits.len() - exponent);
            let decimal = if frac.is_empty() { int.to_owned() } else { format!("{int}.{frac}") };
            prop_assert_eq!(amount_to_minor_units(&decimal, currency), Ok(value));
        }

        #[test]
        fn amount_parser_never_panics(amount in "[0-9.+-]{0,30}", currency in "[A-Za-z]{0,4}") {
            let _ = amount_to_minor_units(&amount, &currency);
        }

        #[test]
        fn any_object_round_trips_through_v1(
            note in "\\PC{0,200}",
            identifier in "[0-9]{1,15}",
            amount in "[1-9][0-9]{0,8}(\\.[0-9]{1,2})?",
        ) {
            let mut tx = tv::transaction();
            tx["note"] = json!(note);
            tx["payee"]["partyIdInfo"]["partyIdentifier"] = json!(identifier);
            tx["amount"]["amount"] = json!(amount);
            let terms = v1_terms(&tx, tv::SECRET).unwrap();
            prop_assert_eq!(transaction_from_ilp_packet(&terms.ilp_packet).unwrap(), tx.clone());
            let c = Condition::from_base64url(&terms.condition).unwrap();
            prop_assert!(c.is_fulfilled_by(&Fulfilment::from_base64url(&terms.fulfilment).unwrap()));
            let terms4 = v4_terms(&tx, expiration(), tv::SECRET).unwrap();
            prop_assert_eq!(transaction_from_ilp_packet(&terms4.ilp_packet).unwrap(), tx);
        }
    }
}
