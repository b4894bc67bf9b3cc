//! ILPv1 / ILPv4 terms (ilpPacket, condition, fulfilment) from the reference JavaScript library,
//! `@mojaloop/sdk-standard-components` 19.19.1 (`Ilp.ilpFactory('v1' | 'v4')`), checked
//! without Node against the golden file `testdata/sdk-vectors.json`.
//!
//! Regenerate the golden file (deterministic: same SDK version, same bytes) with
//!
//! ```sh
//! cd interop/node && npm ci --no-audit --no-fund --ignore-scripts && node ilp.js vectors
//! ```
//!
//! The live both-ways tests are in `node_interop.rs` (`FERROLOOP_NODE_INTEROP=1`).
//!
//! Where the SDK and this crate deliberately disagree, `sdk_quirks` pins both sides down:
//!
//! * amounts the SDK cannot represent exactly: ILPv1 silently truncates sub-minor-unit digits
//!   (`1.005` USD becomes 100) and both versions wrap amounts beyond 2^64-1 modulo 2^64 (a
//!   negative v1 amount wraps too); we refuse all of these rather than sign a different amount;
//! * amount strings that are not FSPIOP `Amount`s (`.5`, `5.`, `1e3`, ` 1`): the SDK's
//!   BigNumber reads them, we refuse them;
//! * currencies outside the SDK's ISO 4217 table (or lower-case): the SDK refuses; we use two
//!   minor-unit digits for unknown upper-case codes;
//! * a `null` `partySubIdOrType` (SDK refuses, we treat it as absent) and a missing `fspId`
//!   (SDK writes `g.undefined...`, we refuse).
//!
//! One disagreement was our bug and is fixed: the SDK writes the payee's ILPv1 account
//! `g.{fspId}.{type}.{identifier}` whatever the identifier holds (`@` of an EMAIL, spaces,
//! non-ASCII text as the low byte of each UTF-16 unit), so it is not always an RFC 15 address.
//! Our decoder refused such packets (and with them the transfer, under the hub's strict terms
//! check) and `v1_terms` could not build them; the account is now carried as raw bytes.

mod common;

use std::collections::BTreeSet;

use common::{check_sdk_terms, golden, hex, list, our_terms, text};
use ilp::address::AddressError;
use ilp::{AmountError, Condition, Fulfilment, IlpError, Packet};
use serde_json::Value;

#[test]
fn sdk_terms_reproduce_exactly() {
    let document = golden();
    let terms = list(&document, "terms");
    for vector in terms {
        check_sdk_terms(vector);
    }
    assert!(terms.len() >= 70, "only {} terms vectors", terms.len());

    // What the file covers, so that a regeneration cannot quietly drop it.
    let versions: BTreeSet<&str> = terms.iter().map(|v| text(v, "version")).collect();
    assert_eq!(versions, BTreeSet::from(["v1", "v4"]));
    let currencies: BTreeSet<&str> = terms
        .iter()
        .filter_map(|v| v["transactionObject"]["amount"]["currency"].as_str())
        .collect();
    for currency in [
        "USD", "EUR", "TZS", "JPY", "KRW", "XOF", "KWD", "BHD", "CLF", "XTS",
    ] {
        assert!(currencies.contains(currency), "no {currency} vector");
    }
    let id_types: BTreeSet<&str> = terms
        .iter()
        .filter_map(|v| v["transactionObject"]["payee"]["partyIdInfo"]["partyIdType"].as_str())
        .collect();
    for id_type in [
        "MSISDN",
        "EMAIL",
        "PERSONAL_ID",
        "BUSINESS",
        "DEVICE",
        "ACCOUNT_ID",
        "IBAN",
        "ALIAS",
    ] {
        assert!(id_types.contains(id_type), "no {id_type} payee");
    }
    let secrets: BTreeSet<&str> = terms.iter().map(|v| text(v, "secret")).collect();
    assert!(secrets.len() >= 3);
    assert!(terms.iter().any(|v| {
        v["transactionObject"]["note"]
            .as_str()
            .is_some_and(|n| !n.is_ascii())
    }));
}

#[test]
fn golden_file_agrees_with_the_fspiop_digest() {
    // fspiop.md §4.6, the vectors in src/test_vectors.rs.
    let document = golden();
    let find = |name: &str| {
        list(&document, "terms")
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let v1 = find("fspiop-4.6/v1");
    assert_eq!(
        text(v1, "fulfilment"),
        "CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk"
    );
    assert_eq!(
        text(v1, "condition"),
        "Ln8_ebchR3AKKwycPW9Rg17_3u0LsusdbxGTnAMMp6c"
    );
    assert!(text(v1, "ilpPacket").starts_with("AYICqQAAAAAAACdCHWcucGF5ZWVmc3Au"));
    let v4 = find("fspiop-4.6/v4");
    assert_eq!(
        text(v4, "fulfilment"),
        "I8UD5RlAgnc2p-o6nhfcGK8TWwSHvzxUF85ERrNtmyg"
    );
    assert_eq!(
        text(v4, "condition"),
        "zRrpjkDrbAa4Ow7b0AR-ThBAI7U25aV-LxcN1hjSzto"
    );
    assert!(text(v4, "ilpPacket").starts_with(
        "DIICxgAAAAAAACdCMjAzMDAxMDEwMDAwMDAwMDDNGumOQOtsBrg7DtvQBH5OEEAjtTblpX4vFw3WGNLO2gpnLm1v"
    ));
}

#[test]
fn sdk_v1_accounts_are_not_always_ilp_addresses() {
    let document = golden();
    let account = |name: &str| -> Vec<u8> {
        let vector = list(&document, "terms")
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no {name}"));
        match Packet::from_base64url(text(vector, "ilpPacket")).expect("decodes") {
            Packet::Payment(p) => p.account().to_vec(),
            other => panic!("{other:?}"),
        }
    };
    let email = account("payee-email/v1");
    assert_eq!(email, b"g.payeefsp.email.someone.else@example.com");
    assert_eq!(
        ilp::Address::from_bytes(&email),
        Err(AddressError::InvalidCharacter {
            byte: b'@',
            offset: 29
        })
    );
    assert_eq!(
        account("payee-account-id/v1"),
        b"g.payeefsp.account_id.0123 4567 89.savings"
    );
    // "ZOË-田中😀" lower-cased, then the low byte of each UTF-16 code unit:
    // z o ë(00EB) - 田(7530) 中(4E2D) 😀(D83D DE00).
    assert_eq!(
        hex(&account("payee-alias-unicode/v1")),
        hex(b"g.payeefsp.alias.zo\xeb-0-=\x00")
    );
    assert_eq!(
        account("payee-business/v1"),
        b"g.FSP-Upper.business.acme-ltd_01"
    );
    // An ordinary MSISDN account is an RFC 15 address.
    let payment = match Packet::from_base64url(text(&list(&document, "terms")[0], "ilpPacket"))
        .expect("decodes")
    {
        Packet::Payment(p) => p,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        payment.account_address().expect("address").as_str(),
        "g.payeefsp.msisdn.27713803912"
    );
}

/// What the SDK does with an input, and what we do.
struct Quirk {
    name: &'static str,
    /// The SDK's packet amount, or `None` when it refuses.
    sdk: Option<u64>,
    /// Our packet amount, or our refusal.
    ours: Result<u64, IlpError>,
}

fn quirks() -> Vec<Quirk> {
    use AmountError::{NotDecimal, Overflow, TooPrecise};
    let amount = |e: AmountError| Err(IlpError::InvalidAmount(e));
    let q = |name, sdk, ours| Quirk { name, sdk, ours };
    vec![
        q(
            "too-precise/v1",
            Some(100),
            amount(TooPrecise { exponent: 2 }),
        ),
        q("too-precise/v4", None, amount(TooPrecise { exponent: 2 })),
        q(
            "too-precise-jpy/v1",
            Some(1),
            amount(TooPrecise { exponent: 0 }),
        ),
        q(
            "too-precise-jpy/v4",
            None,
            amount(TooPrecise { exponent: 0 }),
        ),
        q(
            "overflow/v1",
            Some(7_766_279_631_452_241_919),
            amount(Overflow),
        ),
        q(
            "overflow/v4",
            Some(7_766_279_631_452_241_919),
            amount(Overflow),
        ),
        q("overflow-by-one/v1", Some(0), amount(Overflow)),
        q("overflow-by-one/v4", Some(0), amount(Overflow)),
        q("negative/v1", Some(u64::MAX - 99), amount(NotDecimal)),
        q("negative/v4", None, amount(NotDecimal)),
        q(
            "not-fspiop-amount-leading-dot/v1",
            Some(50),
            amount(NotDecimal),
        ),
        q(
            "not-fspiop-amount-leading-dot/v4",
            Some(50),
            amount(NotDecimal),
        ),
        q(
            "not-fspiop-amount-trailing-dot/v1",
            Some(500),
            amount(NotDecimal),
        ),
        q(
            "not-fspiop-amount-trailing-dot/v4",
            Some(500),
            amount(NotDecimal),
        ),
        q(
            "not-fspiop-amount-exponent/v1",
            Some(100_000),
            amount(NotDecimal),
        ),
        q(
            "not-fspiop-amount-exponent/v4",
            Some(100_000),
            amount(NotDecimal),
        ),
        q("not-fspiop-amount-space/v1", Some(100), amount(NotDecimal)),
        q("not-fspiop-amount-space/v4", Some(100), amount(NotDecimal)),
        q("unknown-currency/v1", None, Ok(100)),
        q("unknown-currency/v4", None, Ok(100)),
        q(
            "lower-case-currency/v1",
            None,
            Err(IlpError::InvalidCurrency("usd".into())),
        ),
        q(
            "lower-case-currency/v4",
            None,
            Err(IlpError::InvalidCurrency("usd".into())),
        ),
        q(
            "payee-empty-identifier/v1",
            None,
            Err(IlpError::Empty {
                field: "payee.partyIdInfo.partyIdentifier",
            }),
        ),
        q("payee-null-sub-id/v1", None, Ok(100)),
        q(
            "payee-no-fsp-id/v1",
            Some(100),
            Err(IlpError::MissingField("payee.partyIdInfo.fspId")),
        ),
    ]
}

#[test]
fn sdk_quirks() {
    let document = golden();
    let vectors = list(&document, "quirks");
    let expected = quirks();
    let names: Vec<&str> = vectors.iter().map(|v| text(v, "name")).collect();
    let expected_names: Vec<&str> = expected.iter().map(|q| q.name).collect();
    assert_eq!(
        names, expected_names,
        "the golden quirks changed: review them"
    );
    for (vector, quirk) in vectors.iter().zip(&expected) {
        let name = quirk.name;
        let sdk = &vector["sdk"];
        // The SDK side, as recorded.
        match quirk.sdk {
            None => assert_eq!(sdk["ok"], false, "{name}: the SDK no longer refuses: {sdk}"),
            Some(amount) => {
                assert_eq!(sdk["ok"], true, "{name}: the SDK now refuses: {sdk}");
                assert_eq!(
                    text(&sdk["decoded"], "amount"),
                    amount.to_string(),
                    "{name}"
                );
                // Whatever the SDK emits still decodes here, so a hub sees (and its terms
                // check refuses) the amount actually signed.
                let packet = Packet::from_base64url(text(sdk, "ilpPacket"))
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                let packet_amount = match &packet {
                    Packet::Payment(p) => p.amount(),
                    Packet::Prepare(p) => p.amount(),
                    other => panic!("{name}: {other:?}"),
                };
                assert_eq!(packet_amount, amount, "{name}");
                let condition =
                    Condition::from_base64url(text(sdk, "condition")).expect("condition");
                let fulfilment =
                    Fulfilment::from_base64url(text(sdk, "fulfilment")).expect("fulfilment");
                assert!(condition.is_fulfilled_by(&fulfilment), "{name}");
            }
        }
        // Our side.
        let transaction = &vector["transactionObject"];
        let ours = our_terms(text(vector, "version"), transaction, text(vector, "secret"))
            .map(|terms| packet_amount(&terms.ilp_packet));
        assert_eq!(ours, quirk.ours, "{name}");
    }
}

fn packet_amount(ilp_packet: &str) -> u64 {
    match Packet::from_base64url(ilp_packet).expect("our packet decodes") {
        Packet::Payment(p) => p.amount(),
        Packet::Prepare(p) => p.amount(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn empty_note_is_dropped_by_the_sdk_dto() {
    // transactionObjectDto copies `note` only when it is truthy; an object with `note: ""`
    // would give other terms, so a payee building the Transaction itself must drop it too.
    let document = golden();
    let vector = list(&document, "terms")
        .iter()
        .find(|v| v["name"] == "note-empty-dropped/v1")
        .expect("vector");
    assert_eq!(vector["transactionObject"].get("note"), None::<&Value>);
    let mut with_note = vector["transactionObject"].clone();
    with_note["note"] = "".into();
    let ours = our_terms("v1", &with_note, text(vector, "secret")).expect("terms");
    assert_ne!(ours.ilp_packet, text(vector, "ilpPacket"));
}

#[test]
fn json_numbers_parse_exactly() {
    // FSPIOP Transactions carry no JSON numbers (amounts are strings), but a Transaction object
    // is free-form JSON and the SDK serialises any number as JavaScript prints it. Our
    // serialiser does too, given the exact double:
    let text = "123456789012345680000";
    let exact: f64 = text.parse().expect("f64");
    assert_eq!(
        ilp::canonical_json::to_string(&serde_json::json!(exact)),
        text
    );
    // serde_json's default float parser is not correctly rounded (it reads this text as
    // 1.2345678901234567e20); the workspace enables `float_roundtrip` so parsed Transactions
    // re-serialise exactly as the SDK's.
    let parsed: Value = serde_json::from_str(text).expect("JSON");
    assert_eq!(
        parsed.as_f64(),
        Some(exact),
        "serde_json float_roundtrip is off"
    );
    assert_eq!(ilp::canonical_json::to_string(&parsed), text);
}
