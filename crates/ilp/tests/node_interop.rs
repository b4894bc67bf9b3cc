//! Interop both ways with the reference implementation under Node (`interop/node/ilp.js`):
//! `@mojaloop/sdk-standard-components` 19.19.1 (`Ilp` v1 and v4) for terms, and `ilp-packet`
//! 3.1.3 for Prepare, Fulfill and Reject packets.
//!
//! * the SDK builds terms for seeded random quotes and we verify them (decode, amount, account,
//!   expiry, condition from fulfilment, Transaction, and our builders reproduce them exactly);
//! * we build terms for seeded random Transactions and the SDK checks them (`decodeIlpPacket`,
//!   `getTransactionObject`, `validateFulfil`, `calculateConditionFromFulfil`, `calculateFulfil`,
//!   `getResponseIlp` regenerates the same strings, `validateIlpAgainstTransferRequest`), with
//!   a negative control the SDK must refuse;
//! * packets: we encode random Fulfill/Reject/Prepare packets that `ilp-packet` decodes, and
//!   `ilp-packet` encodes ones we decode and re-encode byte for byte.
//!
//! Runs only with `FERROLOOP_NODE_INTEROP=1`; otherwise each test prints a skip note and passes.
//! With it set, a missing `node` fails the tests; missing npm dependencies are installed
//! (`interop/node/harness.rs`, as `scripts/test` does).
//! `FERROLOOP_ILP_INTEROP_SEED=<u64>` replays another seed (the seed is printed).
//! The committed `testdata/sdk-vectors.json` covers the SDK side without Node
//! (`sdk_vectors_terms.rs`, `sdk_vectors_packets.rs`).

mod common;

#[path = "../../../interop/node/harness.rs"]
mod harness;

use std::path::Path;

use harness::interop_dir;

use common::{
    check_sdk_packet, check_sdk_terms, hex, normalise_iso, our_terms, packet_fields, text,
};
use ilp::terms::payee_account;
use ilp::{Address, ErrorCode, Fulfill, Fulfilment, IlpError, Packet, Prepare, Reject, Timestamp};
use serde_json::{Value, json};

const SEED: &str = "FERROLOOP_ILP_INTEROP_SEED";
const DEFAULT_SEED: u64 = 0x1150_5d4b_2025_0005;

/// Random cases per test and direction (each terms case runs for v1 and v4).
const CASES: usize = 12;

#[test]
fn node_generates_and_we_verify() {
    let Some(dir) = interop_dir() else { return };
    let mut rng = Rng::new(1);
    let quotes: Vec<Value> = (0..CASES).map(|i| random_quote(&mut rng, i)).collect();
    let mut cases = Vec::new();
    for quote in &quotes {
        for version in ["v1", "v4"] {
            let mut case = quote.clone();
            case["version"] = json!(version);
            case["name"] = json!(format!("{}/{version}", text(quote, "name")));
            cases.push(case);
        }
    }
    let response = node(&dir, "generate", &json!({ "cases": cases }));
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), cases.len());
    for (case, result) in cases.iter().zip(results) {
        let name = text(case, "name");
        assert_eq!(result["ok"], true, "{name}: the SDK failed: {result}");
        assert_eq!(result["validateFulfil"], true, "{name}");
        // The Transaction is the SDK's transactionObjectDto of the quote.
        let expected = transaction_dto(&case["quoteRequest"], &case["quoteResponse"]);
        assert_eq!(result["transactionObject"], expected, "{name}: Transaction");
        // Independently of the packet: amount in minor units and the v1 account.
        let amount = &case["quoteResponse"]["transferAmount"];
        let minor = ilp::amount_to_minor_units(text(amount, "amount"), text(amount, "currency"))
            .expect("amount");
        assert_eq!(
            text(&result["decoded"], "amount"),
            minor.to_string(),
            "{name}"
        );
        if text(case, "version") == "v1" {
            assert_eq!(
                text(&result["decoded"], "accountHex"),
                hex(&payee_account(&expected).expect("account")),
                "{name}: account"
            );
        }
        let mut vector = result.clone();
        vector["secret"] = case["secret"].clone();
        check_sdk_terms(&vector);
    }
    println!(
        "verified {} fresh SDK terms ({})",
        results.len(),
        response["versions"]
    );
}

#[test]
fn we_generate_and_node_validates() {
    let Some(dir) = interop_dir() else { return };
    let mut rng = Rng::new(2);
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for i in 0..CASES {
        let quote = random_quote(&mut rng, i);
        let transaction = transaction_dto(&quote["quoteRequest"], &quote["quoteResponse"]);
        let secret = text(&quote, "secret");
        for version in ["v1", "v4"] {
            let terms = our_terms(version, &transaction, secret)
                .unwrap_or_else(|e| panic!("{}: {e}", text(&quote, "name")));
            let amount = &transaction["amount"];
            cases.push(json!({
                "name": format!("{}/{version}", text(&quote, "name")),
                "version": version,
                "secret": secret,
                "ilpPacket": terms.ilp_packet,
                "condition": terms.condition,
                "fulfilment": terms.fulfilment,
                "transfer": {
                    "payerFsp": transaction["payer"]["partyIdInfo"]["fspId"],
                    "payeeFsp": transaction["payee"]["partyIdInfo"]["fspId"],
                    "amount": amount,
                },
            }));
            ours.push((transaction.clone(), terms));
        }
    }
    // Negative controls: a fulfilment of other terms, and a packet whose amount was altered
    // after the fulfilment was computed.
    let mut wrong_fulfilment = cases[0].clone();
    wrong_fulfilment["name"] = json!("negative/wrong-fulfilment");
    wrong_fulfilment["fulfilment"] = cases[2]["fulfilment"].clone();
    let mut altered = cases[0].clone();
    altered["name"] = json!("negative/altered-v1-amount");
    let mut bytes = ilp::base64url::decode(text(&altered, "ilpPacket")).expect("base64url");
    bytes[11] ^= 1; // the last amount byte (type, 3-byte length, 8-byte amount)
    altered["ilpPacket"] = json!(ilp::base64url::encode(&bytes));
    let mut request = cases.clone();
    request.push(wrong_fulfilment);
    request.push(altered);

    let response = node(&dir, "validate", &json!({ "cases": request }));
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), request.len());
    for ((case, (transaction, terms)), result) in cases.iter().zip(&ours).zip(results) {
        let name = text(case, "name");
        assert_eq!(result["ok"], true, "{name}: the SDK failed: {result}");
        assert_eq!(result["validateFulfil"], true, "{name}: validateFulfil");
        assert_eq!(
            text(result, "conditionFromFulfil"),
            terms.condition,
            "{name}"
        );
        assert_eq!(
            text(result, "calculateFulfil"),
            terms.fulfilment,
            "{name}: calculateFulfil"
        );
        assert_eq!(
            result["regenerated"],
            json!({
                "ilpPacket": terms.ilp_packet,
                "condition": terms.condition,
                "fulfilment": terms.fulfilment,
            }),
            "{name}: the SDK's getResponseIlp builds other terms"
        );
        assert_eq!(&result["transactionObject"], transaction, "{name}");
        assert_eq!(result["validateIlpAgainstTransferRequest"], true, "{name}");
        let decoded = &result["decoded"];
        match Packet::from_base64url(&terms.ilp_packet).expect("ours decodes") {
            Packet::Payment(p) => {
                assert_eq!(text(decoded, "amount"), p.amount().to_string(), "{name}");
                assert_eq!(text(decoded, "accountHex"), hex(p.account()), "{name}");
            }
            Packet::Prepare(p) => {
                assert_eq!(text(decoded, "amount"), p.amount().to_string(), "{name}");
                assert_eq!(
                    text(decoded, "expiresAt"),
                    normalise_iso(text(transaction, "expiration")),
                    "{name}"
                );
                assert_eq!(text(decoded, "executionCondition"), terms.condition);
                assert_eq!(text(decoded, "destination"), "g.mojaloop");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let negatives = &results[cases.len()..];
    assert_eq!(negatives[0]["ok"], true);
    assert_eq!(
        negatives[0]["validateFulfil"], false,
        "the SDK accepted a wrong fulfilment"
    );
    assert_eq!(negatives[1]["ok"], true);
    assert_ne!(
        negatives[1]["calculateFulfil"], cases[0]["fulfilment"],
        "the SDK's fulfilment ignores the packet amount"
    );
    println!(
        "the SDK validated all {} of our terms and refused both negative controls",
        cases.len()
    );
}

#[test]
fn packets_both_ways() {
    let Some(dir) = interop_dir() else { return };
    let mut rng = Rng::new(3);
    let packets: Vec<(String, Packet)> = (0..3 * CASES)
        .map(|i| (format!("random-{i}"), random_packet(&mut rng, i)))
        .collect();

    // We encode, ilp-packet decodes.
    let request: Vec<Value> = packets
        .iter()
        .map(|(name, packet)| json!({ "name": name, "packet": packet.to_base64url() }))
        .collect();
    let response = node(&dir, "deserialize", &json!({ "packets": request }));
    let results = response["results"].as_array().expect("results");
    assert_eq!(results.len(), packets.len());
    for ((name, packet), result) in packets.iter().zip(results) {
        assert_eq!(
            result["ok"], true,
            "{name}: ilp-packet refused ours: {result}"
        );
        let mut theirs = result.clone();
        let theirs = theirs.as_object_mut().expect("object");
        theirs.remove("name");
        theirs.remove("ok");
        assert_eq!(
            Value::Object(theirs.clone()),
            packet_fields(packet),
            "{name}: ilp-packet reads other fields"
        );
    }

    // ilp-packet encodes, we decode and re-encode.
    let request: Vec<Value> = packets
        .iter()
        .map(|(name, packet)| {
            let mut fields = packet_fields(packet);
            fields["name"] = json!(name);
            fields.as_object_mut().expect("object").remove("messageHex");
            fields
        })
        .collect();
    let response = node(&dir, "serialize", &json!({ "packets": request }));
    let results = response["results"].as_array().expect("results");
    for (fields, result) in request.iter().zip(results) {
        let name = text(fields, "name");
        assert_eq!(result["ok"], true, "{name}: ilp-packet failed: {result}");
        check_sdk_packet(name, fields, text(result, "packet"));
    }
    println!(
        "{} random Fulfill/Reject/Prepare packets agree both ways",
        packets.len()
    );
}

#[test]
fn ilp_packet_is_laxer_than_we_are() {
    // Documented differences (sdk_vectors_packets.rs): ilp-packet takes these, we refuse them.
    let Some(dir) = interop_dir() else { return };
    let fulfill = |data: &[u8], extra: &[u8]| {
        let mut w = ilp::oer::Writer::new();
        w.write_bytes(&[7; 32]);
        w.write_var_octet_string(data);
        w.write_bytes(extra);
        let mut e = ilp::oer::Writer::new();
        e.write_u8(13);
        e.write_var_octet_string(&w.into_bytes());
        e.into_bytes()
    };
    let reject = |triggered_by: &[u8], message: &[u8]| {
        let mut w = ilp::oer::Writer::new();
        w.write_bytes(b"F02");
        w.write_var_octet_string(triggered_by);
        w.write_var_octet_string(message);
        w.write_var_octet_string(b"");
        let mut e = ilp::oer::Writer::new();
        e.write_u8(14);
        e.write_var_octet_string(&w.into_bytes());
        e.into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, IlpError)> = vec![
        (
            "trailing-byte",
            fulfill(b"", &[0]),
            IlpError::Malformed {
                field: "packet contents",
                source: ilp::OerError::TrailingBytes {
                    layer: ilp::oer::Layer::Inner,
                    count: 1,
                },
            },
        ),
        (
            "data-too-long",
            fulfill(&[1; ilp::packet::MAX_DATA_LEN + 1], &[]),
            IlpError::TooLong {
                field: "data",
                len: ilp::packet::MAX_DATA_LEN + 1,
                max: ilp::packet::MAX_DATA_LEN,
            },
        ),
        (
            "invalid-utf8-message",
            reject(b"g.a", &[0xc3, 0x28]),
            IlpError::InvalidUtf8 { field: "message" },
        ),
        (
            "non-ascii-triggered-by",
            reject(b"g.\xe9", b""),
            IlpError::InvalidAddress {
                field: "triggeredBy",
                source: ilp::AddressError::InvalidCharacter {
                    byte: 0xe9,
                    offset: 2,
                },
            },
        ),
    ];
    let request: Vec<Value> = cases
        .iter()
        .map(|(name, bytes, _)| json!({ "name": name, "packet": ilp::base64url::encode(bytes) }))
        .collect();
    let response = node(&dir, "deserialize", &json!({ "packets": request }));
    for ((name, bytes, error), result) in cases
        .iter()
        .zip(response["results"].as_array().expect("results"))
    {
        assert_eq!(
            result["ok"], true,
            "{name}: ilp-packet now refuses it: {result}"
        );
        assert_eq!(Packet::decode(bytes).as_ref(), Err(error), "{name}");
    }
    let results = response["results"].as_array().expect("results");
    assert_eq!(results[2]["message"], "\u{fffd}(");
    assert_eq!(
        results[3]["triggeredBy"], "g.i",
        "0xe9 with the high bit cleared"
    );
}

// -------------------------------------------------------------------------------------------
// random inputs

/// SplitMix64: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn new(stream: u64) -> Self {
        let seed = std::env::var(SEED)
            .ok()
            .map(|s| {
                s.parse::<u64>()
                    .unwrap_or_else(|e| panic!("{SEED}={s}: {e}"))
            })
            .unwrap_or(DEFAULT_SEED);
        println!("{SEED}={seed}");
        Self(seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("n")).expect("index")
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn digits(&mut self, count: usize) -> String {
        (0..count)
            .map(|_| char::from(b'0' + u8::try_from(self.below(10)).expect("digit")))
            .collect()
    }

    /// `min` to `max` digits.
    fn some_digits(&mut self, min: usize, max: usize) -> String {
        let count = min + self.below(max - min + 1);
        self.digits(count)
    }

    fn bytes(&mut self, count: usize) -> Vec<u8> {
        (0..count).map(|_| self.next().to_le_bytes()[0]).collect()
    }

    fn uuid(&mut self) -> String {
        let h = hex(&self.bytes(16));
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..32]
        )
    }

    fn text(&mut self, max_pieces: usize) -> String {
        const PIECES: &[&str] = &[
            "a",
            "Zoë",
            "Ünal",
            "田中",
            "😀",
            "ΟΔΟΣ",
            " ",
            "\"",
            "\\",
            "\n",
            "\t",
            "\u{1}",
            "</script>",
            "\u{2028}",
            "\u{7f}",
            "x1",
            "ß",
            "İ",
            "ｱ",
            "-",
            "_",
        ];
        let count = 1 + self.below(max_pieces);
        (0..count).map(|_| *self.pick(PIECES)).collect()
    }
}

const CURRENCIES: &[(&str, usize)] = &[
    ("USD", 2),
    ("EUR", 2),
    ("TZS", 2),
    ("ZAR", 2),
    ("JPY", 0),
    ("KRW", 0),
    ("XOF", 0),
    ("UGX", 0),
    ("KWD", 3),
    ("BHD", 3),
    ("TND", 3),
    ("CLF", 4),
    ("XTS", 4),
];

/// A decimal FSPIOP Amount for a currency with `scale` minor-unit digits.
fn random_amount(rng: &mut Rng, scale: usize) -> String {
    let int = match rng.below(4) {
        0 => "0".to_owned(),
        1 => format!("{}{}", 1 + rng.below(9), rng.some_digits(0, 2)),
        // Large but within 2^64-1 minor units and the FSPIOP 18 integer digits.
        2 => format!("{}{}", 1 + rng.below(9), rng.digits(14 - scale)),
        _ => format!("{}{}", 1 + rng.below(9), rng.some_digits(0, 7)),
    };
    let frac_len = rng.below(scale + 1);
    if frac_len == 0 {
        return if int == "0" { "1".into() } else { int };
    }
    let mut frac = rng.digits(frac_len - 1);
    frac.push(char::from(
        b'1' + u8::try_from(rng.below(9)).expect("digit"),
    ));
    format!("{int}.{frac}")
}

fn random_party(rng: &mut Rng, fsp_id: &str) -> Value {
    let (id_type, identifier, sub): (&str, String, Option<String>) = match rng.below(8) {
        0 => (
            "MSISDN",
            format!("{}{}", 1 + rng.below(9), rng.some_digits(9, 13)),
            None,
        ),
        1 => (
            "EMAIL",
            format!("User.{}@Example{}.com", rng.digits(3), rng.digits(1)),
            None,
        ),
        2 => ("PERSONAL_ID", rng.digits(8), Some("PASSPORT".into())),
        3 => ("BUSINESS", format!("ACME-{}_Ltd", rng.digits(4)), None),
        4 => (
            "DEVICE",
            format!("00:1B:{}:{}", rng.digits(2), rng.digits(2)),
            Some("Till-1".into()),
        ),
        5 => (
            "ACCOUNT_ID",
            format!("{} {}", rng.digits(4), rng.digits(4)),
            Some("Savings".into()),
        ),
        6 => ("IBAN", format!("DE{}", rng.digits(20)), None),
        _ => ("ALIAS", rng.text(6), None),
    };
    let mut info =
        json!({ "partyIdType": id_type, "partyIdentifier": identifier, "fspId": fsp_id });
    if let Some(sub) = sub {
        info["partySubIdOrType"] = json!(sub);
    }
    let mut party = json!({ "partyIdInfo": info });
    if rng.chance(30) {
        party["name"] = json!(rng.text(5));
    }
    party
}

fn random_expiration(rng: &mut Rng) -> String {
    let year = 2025 + rng.below(75);
    let month = 1 + rng.below(12);
    let day = 1 + rng.below(28);
    let (h, m, s, ms) = (rng.below(24), rng.below(60), rng.below(60), rng.below(1000));
    match rng.below(4) {
        0 => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}Z"),
        1 => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}+03:00"),
        _ => format!("{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{ms:03}Z"),
    }
}

/// A quote request / response pair as a payee DFSP answers it, plus a name and an ILP secret.
fn random_quote(rng: &mut Rng, index: usize) -> Value {
    let &(currency, scale) = rng.pick(CURRENCIES);
    let amount = random_amount(rng, scale);
    let payee_fsp = *rng.pick(&["payeefsp", "FSP-Upper", "dfsp_2", "fsp~x"]);
    let payee = random_party(rng, payee_fsp);
    let payer = random_party(rng, "payerfsp");
    let scenario = *rng.pick(&["TRANSFER", "DEPOSIT", "WITHDRAWAL", "PAYMENT", "REFUND"]);
    let mut response = json!({
        "transferAmount": { "currency": currency, "amount": amount },
        "expiration": random_expiration(rng),
        "ilpPacket": "set-by-the-sdk",
        "condition": "set-by-the-sdk",
    });
    match rng.below(3) {
        0 => response["note"] = json!(rng.text(12)),
        1 => response["note"] = json!(""), // dropped by the SDK's transactionObjectDto
        _ => {}
    }
    let secret = match rng.below(3) {
        0 => "secret".to_owned(),
        1 => hex(&rng.bytes(16)),
        _ => rng.text(8),
    };
    json!({
        "name": format!("random-{index}-{currency}-{}", text(&payee["partyIdInfo"], "partyIdType")),
        "secret": secret,
        "quoteRequest": {
            "quoteId": rng.uuid(),
            "transactionId": rng.uuid(),
            "payee": payee,
            "payer": payer,
            "amountType": "RECEIVE",
            "amount": { "currency": currency, "amount": amount },
            "transactionType": {
                "scenario": scenario,
                "initiator": "PAYER",
                "initiatorType": "CONSUMER",
            },
        },
        "quoteResponse": response,
    })
}

/// The SDK's `transactionObjectDto(quoteRequest, quoteResponse)`.
fn transaction_dto(request: &Value, response: &Value) -> Value {
    let mut transaction = json!({
        "quoteId": request["quoteId"],
        "transactionId": request["transactionId"],
        "transactionType": request["transactionType"],
        "payee": request["payee"],
        "payer": request["payer"],
        "expiration": response["expiration"],
        "amount": response["transferAmount"],
    });
    if let Some(note) = response["note"].as_str().filter(|n| !n.is_empty()) {
        transaction["note"] = json!(note);
    }
    transaction
}

fn random_address(rng: &mut Rng) -> Address {
    const SCHEMES: &[&str] = &[
        "g", "private", "example", "peer", "self", "test", "test3", "local",
    ];
    const SEGMENT: &[u8] = b"abcXYZ0189_~-";
    let segments = 1 + rng.below(5);
    let mut s = (*rng.pick(SCHEMES)).to_owned();
    for _ in 0..segments {
        s.push('.');
        for _ in 0..1 + rng.below(12) {
            s.push(char::from(*rng.pick(SEGMENT)));
        }
    }
    if rng.chance(5) {
        // The longest address.
        s.push_str(".x");
        while s.len() < ilp::address::MAX_ADDRESS_LEN {
            s.push('y');
        }
    }
    Address::new(&s).expect("address")
}

fn random_data(rng: &mut Rng, index: usize) -> Vec<u8> {
    // Every length-prefix boundary, then random lengths.
    const LENGTHS: &[usize] = &[
        0,
        1,
        127,
        128,
        255,
        256,
        1000,
        65,
        ilp::packet::MAX_DATA_LEN,
    ];
    let length = if index < LENGTHS.len() {
        LENGTHS[index]
    } else {
        rng.below(600)
    };
    rng.bytes(length)
}

fn random_packet(rng: &mut Rng, index: usize) -> Packet {
    let data = random_data(rng, index / 3);
    match index % 3 {
        0 => Fulfill::new(
            Fulfilment::from_bytes(rng.bytes(32).try_into().expect("32")),
            data,
        )
        .expect("Fulfill")
        .into(),
        1 => {
            let code = format!(
                "{}{}",
                rng.pick(&["F", "T", "R"]),
                rng.pick(&["00", "01", "02", "05", "08", "99"])
            );
            let message = match rng.below(4) {
                0 => String::new(),
                // Beyond 65535 bytes: a three-byte length prefix.
                1 if index < 12 => "Zoë 田中 😀 ".repeat(4500),
                _ => rng.text(40),
            };
            let triggered_by = rng.chance(70).then(|| random_address(rng));
            Reject::new(
                code.parse::<ErrorCode>().expect("code"),
                triggered_by,
                message,
                data,
            )
            .expect("Reject")
            .into()
        }
        _ => {
            let amount = match rng.below(3) {
                0 => 0,
                1 => u64::MAX - rng.next() % 3,
                _ => rng.next(),
            };
            let year = 2000 + rng.below(100);
            let expires_at: Timestamp = format!(
                "{year:04}{:02}{:02}{:02}{:02}{:02}{:03}",
                1 + rng.below(12),
                1 + rng.below(28),
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1000)
            )
            .parse()
            .expect("timestamp");
            Prepare::new(
                amount,
                expires_at,
                ilp::Condition::from_bytes(rng.bytes(32).try_into().expect("32")),
                random_address(rng),
                data,
            )
            .expect("Prepare")
            .into()
        }
    }
}

// -------------------------------------------------------------------------------------------
// Node

/// Runs `node ilp.js <command>` with `request` on stdin and returns its JSON answer.
fn node(dir: &Path, command: &str, request: &Value) -> Value {
    let input = serde_json::to_vec(request).expect("JSON");
    let output = harness::node_with_input(dir, "ilp.js", &[command], &input);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node ilp.js {command} failed ({}):\n{}\n{}",
        output.status,
        stdout.chars().take(2000).collect::<String>(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("node ilp.js {command}: {e}"))
}
