//! Shared by the SDK interop tests: the golden file `testdata/sdk-vectors.json` written by
//! `interop/node/ilp.js vectors`, and the checks that hold for any terms or packet built by
//! `@mojaloop/sdk-standard-components` / `ilp-packet` (golden or fresh from Node).
//!
//! JSON shapes are those of `interop/node/ilp.js` (described at the top of each command there).

#![allow(dead_code)] // each test binary uses a different subset

use std::path::PathBuf;

use ilp::{
    Address, Condition, ErrorCode, Fulfill, Fulfilment, IlpError, Packet, Payment, Prepare, Reject,
    Terms, Timestamp, transaction_from_ilp_packet, v1_terms, v4_terms,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The golden vectors.
pub fn golden() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/sdk-vectors.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The array `key` of a vector document.
pub fn list<'v>(document: &'v Value, key: &str) -> &'v [Value] {
    document[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key:?} array"))
}

/// A string field, or a panic naming it.
pub fn text<'v>(value: &'v Value, key: &str) -> &'v str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key:?} is not a string in {value}"))
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes hex (either case).
pub fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// The ILPv4 17-digit timestamp of an ISO 8601 instant as `Date.prototype.toISOString` writes it.
pub fn iso_to_ilp_time(iso: &str) -> String {
    iso.chars().filter(char::is_ascii_digit).collect()
}

/// Our terms for a Transaction object, the way the SDK's `getResponseIlp` is called: ILPv4
/// takes its `expiresAt` from the Transaction's own `expiration`.
pub fn our_terms(version: &str, transaction: &Value, secret: &str) -> Result<Terms, IlpError> {
    match version {
        "v1" => v1_terms(transaction, secret.as_bytes()),
        "v4" => v4_terms(transaction, expiration(transaction), secret.as_bytes()),
        other => Err(IlpError::InvalidTransaction(format!(
            "unknown ILP version {other} in a test vector"
        ))),
    }
}

/// A Transaction's `expiration` (RFC 3339).
pub fn expiration(transaction: &Value) -> OffsetDateTime {
    let text = transaction["expiration"]
        .as_str()
        .expect("transaction expiration");
    OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("expiration {text}: {e}"))
}

/// Checks terms built by the SDK (`generate` results and golden `terms`) against this crate:
/// our strict decoder takes the packet and finds what the SDK's decoder found, the fulfilment
/// hashes to the condition, the Transaction reads back, and our builders reproduce the three
/// strings exactly (FX terms excepted: this crate does not build them).
pub fn check_sdk_terms(vector: &Value) {
    let name = text(vector, "name");
    let version = text(vector, "version");
    let ilp_packet = text(vector, "ilpPacket");
    let condition_text = text(vector, "condition");
    let fulfilment_text = text(vector, "fulfilment");
    let decoded = &vector["decoded"];

    let packet = Packet::from_base64url(ilp_packet)
        .unwrap_or_else(|e| panic!("{name}: our decoder refuses the SDK's ilpPacket: {e}"));
    assert_eq!(packet.to_base64url(), ilp_packet, "{name}: re-encoding");
    let expected_amount: u64 = text(decoded, "amount").parse().expect("amount");
    match (version, &packet) {
        ("v1", Packet::Payment(payment)) => {
            assert_eq!(payment.amount(), expected_amount, "{name}: amount");
            assert_eq!(
                hex(payment.account()),
                text(decoded, "accountHex"),
                "{name}: account"
            );
        }
        ("v4", Packet::Prepare(prepare)) => {
            assert_eq!(prepare.amount(), expected_amount, "{name}: amount");
            assert_eq!(
                prepare.expires_at().to_string(),
                iso_to_ilp_time(text(decoded, "expiresAt")),
                "{name}: expiresAt"
            );
            assert_eq!(
                prepare.execution_condition().to_base64url(),
                text(decoded, "executionCondition"),
                "{name}: executionCondition"
            );
            assert_eq!(
                prepare.execution_condition().to_base64url(),
                condition_text,
                "{name}: the Prepare embeds the condition"
            );
            assert_eq!(
                prepare.destination().as_str(),
                text(decoded, "destination"),
                "{name}: destination"
            );
        }
        (version, packet) => panic!("{name}: {version} terms carry a {:?}", packet.packet_type()),
    }
    assert_eq!(
        Some(packet.data().len() as u64),
        decoded["dataLength"].as_u64(),
        "{name}: data length"
    );
    assert_eq!(
        hex(&Sha256::digest(packet.data())),
        text(decoded, "dataSha256"),
        "{name}: data"
    );

    let condition = Condition::from_base64url(condition_text)
        .unwrap_or_else(|e| panic!("{name}: condition: {e}"));
    let fulfilment = Fulfilment::from_base64url(fulfilment_text)
        .unwrap_or_else(|e| panic!("{name}: fulfilment: {e}"));
    assert!(
        condition.is_fulfilled_by(&fulfilment),
        "{name}: fulfilment does not hash to the condition"
    );
    assert_eq!(fulfilment.condition().to_base64url(), condition_text);

    let transaction = transaction_from_ilp_packet(ilp_packet)
        .unwrap_or_else(|e| panic!("{name}: Transaction: {e}"));
    assert_eq!(
        transaction, vector["transactionObject"],
        "{name}: Transaction read back"
    );

    if transaction.get("conversionTerms").is_some() {
        // FX terms (`getFxQuoteResponseIlp`) are decoded and checked above; building them is
        // not implemented here (no FX in FSPIOP v1.1), so there is nothing to reproduce.
        return;
    }
    let secret = text(vector, "secret");
    let ours = our_terms(version, &transaction, secret)
        .unwrap_or_else(|e| panic!("{name}: our {version} terms: {e}"));
    assert_eq!(
        ours,
        Terms {
            ilp_packet: ilp_packet.to_owned(),
            condition: condition_text.to_owned(),
            fulfilment: fulfilment_text.to_owned(),
        },
        "{name}: our terms differ from the SDK's"
    );
}

/// The packet an `ilp-packet` field description (`serialize` request / `deserialize`
/// result) stands for, built with our constructors.
pub fn packet_from_fields(fields: &Value) -> Packet {
    let data = unhex(fields["dataHex"].as_str().unwrap_or_default());
    match text(fields, "type") {
        "fulfill" => Fulfill::new(
            Fulfilment::from_base64url(text(fields, "fulfillment")).expect("fulfillment"),
            data,
        )
        .expect("Fulfill")
        .into(),
        "reject" => {
            let triggered_by = match text(fields, "triggeredBy") {
                "" => None,
                address => Some(Address::new(address).expect("triggeredBy")),
            };
            Reject::new(
                text(fields, "code").parse::<ErrorCode>().expect("code"),
                triggered_by,
                text(fields, "message").to_owned(),
                data,
            )
            .expect("Reject")
            .into()
        }
        "prepare" => {
            let expires_at: Timestamp = iso_to_ilp_time(text(fields, "expiresAt"))
                .parse()
                .expect("expiresAt");
            Prepare::new(
                text(fields, "amount").parse().expect("amount"),
                expires_at,
                Condition::from_base64url(text(fields, "executionCondition"))
                    .expect("executionCondition"),
                Address::new(text(fields, "destination")).expect("destination"),
                data,
            )
            .expect("Prepare")
            .into()
        }
        "payment" => Payment::with_raw_account(
            text(fields, "amount").parse().expect("amount"),
            unhex(text(fields, "accountHex")),
            data,
        )
        .expect("Payment")
        .into(),
        other => panic!("unknown packet type {other}"),
    }
}

/// Our decoding of a Prepare, Fulfill or Reject in the shape of an `ilp.js deserialize` result
/// (`expiresAt` as `toISOString` writes it).
pub fn packet_fields(packet: &Packet) -> Value {
    match packet {
        Packet::Fulfill(p) => json!({
            "type": "fulfill",
            "fulfillment": p.fulfilment().to_base64url(),
            "dataHex": hex(p.data()),
        }),
        Packet::Reject(p) => json!({
            "type": "reject",
            "code": p.code().as_str(),
            "triggeredBy": p.triggered_by().map_or("", Address::as_str),
            "message": p.message(),
            "messageHex": hex(p.message().as_bytes()),
            "dataHex": hex(p.data()),
        }),
        Packet::Prepare(p) => json!({
            "type": "prepare",
            "amount": p.amount().to_string(),
            "expiresAt": timestamp_iso(p.expires_at()),
            "executionCondition": p.execution_condition().to_base64url(),
            "destination": p.destination().as_str(),
            "dataHex": hex(p.data()),
        }),
        Packet::Payment(p) => json!({
            "type": "payment",
            "amount": p.amount().to_string(),
            "accountHex": hex(p.account()),
            "dataHex": hex(p.data()),
        }),
    }
}

/// Checks a packet `ilp-packet` serialised from `fields`: our decoder reads the same fields
/// back and our encoder writes the same bytes.
pub fn check_sdk_packet(name: &str, fields: &Value, ilp_packet: &str) {
    let bytes = ilp::base64url::decode(ilp_packet).expect("base64url");
    let ours = Packet::decode(&bytes)
        .unwrap_or_else(|e| panic!("{name}: our decoder refuses ilp-packet's bytes: {e}"));
    let mut got = packet_fields(&ours);
    got.as_object_mut().expect("object").remove("messageHex");
    let mut expected = fields.clone();
    let object = expected.as_object_mut().expect("object");
    for key in ["name", "comment", "packet", "messageHex"] {
        object.remove(key);
    }
    let data = fields["dataHex"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    object.insert("dataHex".into(), json!(data));
    if let Some(expires_at) = fields["expiresAt"].as_str() {
        object.insert("expiresAt".into(), json!(normalise_iso(expires_at)));
    }
    assert_eq!(got, expected, "{name}: our decoding differs");
    assert_eq!(
        packet_from_fields(fields).encode(),
        bytes,
        "{name}: our encoding differs from ilp-packet's"
    );
}

/// An ILPv4 timestamp as `Date.prototype.toISOString` writes it.
pub fn timestamp_iso(timestamp: Timestamp) -> String {
    let t = timestamp.to_string();
    format!(
        "{}-{}-{}T{}:{}:{}.{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[8..10],
        &t[10..12],
        &t[12..14],
        &t[14..17]
    )
}

/// An RFC 3339 instant in the UTC millisecond form `toISOString` writes.
pub fn normalise_iso(text: &str) -> String {
    let instant = OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"));
    timestamp_iso(Timestamp::from_offset_datetime(instant).expect("timestamp"))
}
