//! Oracles for the `fspiop` parsers of untrusted input.
//!
//! This file is shared: the fuzz targets call it through the `ferroloop_fuzz` library, and
//! `crates/fspiop/tests/fuzz_corpus.rs` includes it with `#[path]` to replay the committed
//! seeds under a plain `cargo test`. It may therefore only use the `fspiop` crate and
//! `fspiop`'s own dependencies, and every function in it must be used by that test.

use std::sync::OnceLock;

use fspiop::canonical::to_canonical_string;
use fspiop::headers::{
    MAX_BODY_BYTES, Method, Resource, SUPPORTED_VERSIONS, check_request_headers, format_date,
    parse_date,
};
use fspiop::json::find_duplicate_key;
use fspiop::schema::{BodyKind, BodySchemas};
use fspiop::types::check_correlation_id;
use fspiop::{Amount, Currency, ErrorCode, FspId, FspiopDateTime};
use regex::Regex;
use serde_json::Value;

/// `fspiop_headers`: [`check_request_headers`] over an arbitrary header set.
///
/// The input is text shaped like a request head (non-UTF-8 input is skipped, as the hub refuses
/// non-text header values before this check):
///
/// ```text
/// POST transfers 1024            method, resource, Content-Length; unknown words fall back
/// Accept: application/vnd...     one `name: value` per line; one space after ':' is dropped
/// Date: Wed, 01 Jan 2025 ...
/// ```
///
/// Never panics; errors carry one of the four header error codes and a description of at most
/// 128 characters; on success every returned value is one the checks admit.
pub fn headers(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let (method, resource, content_length) = request_line(lines.next().unwrap_or_default());
    let fields: Vec<(String, &str)> = lines
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            Some((
                name.trim().to_ascii_lowercase(),
                value.strip_prefix(' ').unwrap_or(value),
            ))
        })
        .collect();
    let lookup = |name: &str| {
        fields
            .iter()
            .find(|(field, _)| field == name)
            .map(|(_, value)| *value)
    };
    match check_request_headers(method, resource, lookup, content_length) {
        Ok(parsed) => {
            assert!(FspId::parse(&parsed.source).is_ok());
            if let Some(destination) = &parsed.destination {
                assert!(FspId::parse(destination).is_ok());
            }
            assert!(SUPPORTED_VERSIONS.contains(&parsed.content_version));
            assert!(content_length <= MAX_BODY_BYTES);
            assert_eq!(Some(parsed.date), lookup("date").and_then(parse_date));
        }
        Err(error) => {
            let expected = [
                ErrorCode::UNACCEPTABLE_VERSION,
                ErrorCode::MALFORMED_SYNTAX,
                ErrorCode::MISSING_ELEMENT,
                ErrorCode::TOO_LARGE_PAYLOAD,
            ];
            assert!(
                expected.contains(&error.code),
                "unexpected {:?}",
                error.code
            );
            assert!(error.description.chars().count() <= 128);
            if error.code == ErrorCode::UNACCEPTABLE_VERSION {
                assert_eq!(error.extensions.len(), SUPPORTED_VERSIONS.len());
            }
        }
    }
}

/// `fspiop_values`: the scalar parsers over arbitrary UTF-8 text (other input is skipped).
///
/// Never panics, and:
/// * `Amount` and `CorrelationId` accept exactly what the v1.1 OpenAPI patterns accept, and
///   every `DateTime` the pattern accepts parses (the parser may be more lenient: the hub
///   checks the schema first);
/// * each parsed value prints in a form its parser reads back to the same value: an `Amount`
///   prints exactly as received (the grammar admits one form per value), a lenient amount prints
///   in the strict form, a `DateTime` prints as UTC and survives the hub's round trip through
///   Unix milliseconds, and an IMF-fixdate formats back to the same instant.
///
/// Skips the `DateTime` printing checks for instants outside years 1..=9999 UTC, a known bug
/// that [`values_including_known_bugs`] still checks.
pub fn values(data: &[u8]) {
    check_values(data, KnownBugs::Skip);
}

/// [`values`] without skipping the known bugs; run by the `#[ignore]`d reproducer test.
pub fn values_including_known_bugs(data: &[u8]) {
    check_values(data, KnownBugs::Check);
}

/// `fspiop_schema`: every v1.1 body validator over any JSON value the input parses to (other
/// input is skipped, as the hub answers it with 3101 before validation).
///
/// Never panics; a violation points at a JSON pointer, words itself in at most 100 characters
/// and maps to the error code of its kind.
///
/// The duplicate-key scan the gate runs first ([`find_duplicate_key`]) never panics on any
/// input and, on every input that parses, finds a duplicate exactly when a serde visitor that
/// collects each object's keys does (keys compared decoded: `"a"` and `"\u0061"` are one key).
pub fn schema(data: &[u8]) {
    let duplicate = find_duplicate_key(data);
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let repeated = serde_json::from_slice::<UniqueKeys>(data).is_err();
    assert_eq!(
        duplicate.is_some(),
        repeated,
        "duplicate-key scan says {duplicate:?}, serde says repeated = {repeated}"
    );
    if let Some(duplicate) = &duplicate {
        let error = duplicate.to_fspiop_error();
        assert_eq!(error.code, ErrorCode::MALFORMED_SYNTAX);
        assert!(error.description.chars().count() <= 128);
        assert!(duplicate.pointer.is_empty() || duplicate.pointer.starts_with('/'));
    }
    let schemas = BodySchemas::v1_1();
    for kind in BodyKind::ALL {
        let Err(violation) = schemas.validate(kind, &value) else {
            assert!(value.is_object(), "{kind:?} accepted a non-object body");
            continue;
        };
        assert!(violation.pointer.is_empty() || violation.pointer.starts_with('/'));
        let length = violation.message.chars().count();
        assert!(
            (1..=100).contains(&length),
            "{kind:?}: message of {length} chars"
        );
        let error = violation.to_fspiop_error();
        assert_eq!(error.code, violation.kind.error_code());
        assert!(error.description.chars().count() <= 128);
    }
}

/// The value with every number as an f64, the way JavaScript holds it.
fn as_js_numbers(value: &Value) -> Value {
    match value {
        Value::Number(n) => n
            .as_f64()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Value::Array(items) => Value::Array(items.iter().map(as_js_numbers).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), as_js_numbers(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `canonical_json`: [`to_canonical_string`] over any JSON value the input parses to.
///
/// Never panics; the canonical form parses back to an equal value (numbers compared as
/// JavaScript numbers, since the form writes them as `JSON.stringify` does: `3000.0` is `3000`),
/// and is a fixed point (canonicalising it again gives the same text).
pub fn canonical(data: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let canonical = to_canonical_string(&value);
    let reparsed: Value = match serde_json::from_str(&canonical) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("canonical form does not parse ({error}): {canonical}"),
    };
    assert_eq!(
        as_js_numbers(&reparsed),
        as_js_numbers(&value),
        "canonical form changes the value"
    );
    assert_eq!(to_canonical_string(&reparsed), canonical, "not idempotent");
}

/// Whether an oracle checks the properties that currently fail on a known bug.
#[derive(Clone, Copy, PartialEq, Eq)]
enum KnownBugs {
    Check,
    Skip,
}

fn check_values(data: &[u8], known_bugs: KnownBugs) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let patterns = Patterns::get();
    assert_eq!(Amount::parse(text).is_ok(), patterns.amount.is_match(text));
    if let Ok(amount) = Amount::parse(text) {
        assert_eq!(amount.to_string(), text);
    }
    if let Ok(amount) = Amount::parse_lenient(text) {
        assert_eq!(Amount::parse(&amount.to_string()), Ok(amount));
    }
    let at = FspiopDateTime::parse(text);
    if patterns.date_time.is_match(text) {
        // The only schema-valid DateTimes the hub refuses are those whose instant leaves the
        // years 1000..=9999 once converted to UTC (e.g. 9999-12-31T23:59:59.999-01:00).
        let utc_year_in_range =
            time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                .ok()
                .and_then(|t| t.checked_to_offset(time::UtcOffset::UTC))
                .is_some_and(|t| (1000..=9999).contains(&t.year()));
        assert_eq!(
            at.is_ok(),
            utc_year_in_range,
            "schema-valid DateTime: {text:?} gave {at:?}"
        );
    }
    if let Ok(at) = at {
        datetime(at, known_bugs);
    }
    if let Ok(id) = FspId::parse(text) {
        assert_eq!(id.as_str(), text);
        assert!((1..=32).contains(&text.len()));
        assert!(id.matches(&text.to_ascii_uppercase()));
    }
    if let Ok(currency) = Currency::parse(text) {
        assert_eq!(currency.as_str(), text);
    }
    assert_eq!(
        check_correlation_id(text).is_ok(),
        patterns.correlation_id.is_match(text)
    );
    if let Some(at) = parse_date(text) {
        assert_eq!(parse_date(&format_date(at)), Some(at));
    }
}

/// Checks the promises of a parsed `DateTime`.
fn datetime(at: FspiopDateTime, known_bugs: KnownBugs) {
    // Known bug: `parse` admits instants whose UTC year is outside 1..=9999 (a local year
    // 0000 or 9999 with an offset). Printing one then panics inside `time` (year 10000) or
    // gives a year `parse` refuses (`-001`), and `from_unix_millis` cannot rebuild it.
    let printable = (FIRST_PRINTABLE_MS..END_PRINTABLE_MS).contains(&at.unix_millis());
    if !printable && known_bugs == KnownBugs::Skip {
        return;
    }
    let shown = at.to_string();
    assert_eq!(
        FspiopDateTime::parse(&shown),
        Ok(at),
        "DateTime prints as {shown:?}, which does not parse back"
    );
    assert_eq!(FspiopDateTime::from_unix_millis(at.unix_millis()), Some(at));
}

/// The v1.1 OpenAPI patterns the scalar parsers must agree with, compiled once. ECMAScript
/// `\d` is ASCII-only, so it is spelled `[0-9]` here (Rust's `\d` is Unicode).
struct Patterns {
    amount: Regex,
    correlation_id: Regex,
    date_time: Regex,
}

impl Patterns {
    fn get() -> &'static Patterns {
        static PATTERNS: OnceLock<Patterns> = OnceLock::new();
        PATTERNS.get_or_init(|| Patterns {
            amount: compile(AMOUNT_PATTERN),
            correlation_id: compile(CORRELATION_ID_PATTERN),
            date_time: compile(DATE_TIME_PATTERN),
        })
    }
}

fn compile(pattern: &str) -> Regex {
    match Regex::new(pattern) {
        Ok(regex) => regex,
        Err(error) => panic!("pattern {pattern:?} does not compile: {error}"),
    }
}

/// Reads `METHOD resource content-length`, falling back to `POST transfers 0` word by word so
/// that every input reaches the header checks.
fn request_line(line: &str) -> (Method, Resource, usize) {
    let mut words = line.split_whitespace();
    let method = match words.next().unwrap_or_default() {
        "DELETE" => Method::Delete,
        "GET" => Method::Get,
        "PATCH" => Method::Patch,
        "PUT" => Method::Put,
        _ => Method::Post,
    };
    let resource = words
        .next()
        .and_then(Resource::from_segment)
        .unwrap_or(Resource::Transfers);
    let content_length = words.next().and_then(|word| word.parse().ok()).unwrap_or(0);
    (method, resource, content_length)
}

/// The instants a `DateTime` can print as a four-digit UTC year (1..=9999), in Unix ms.
const FIRST_PRINTABLE_MS: i64 = -62_135_596_800_000; // 0001-01-01T00:00:00.000Z
const END_PRINTABLE_MS: i64 = 253_402_300_800_000; // 10000-01-01T00:00:00.000Z

/// OpenAPI v1.1 `Amount`.
const AMOUNT_PATTERN: &str = r"^([0]|([1-9][0-9]{0,17}))([.][0-9]{0,3}[1-9])?$";
/// OpenAPI v1.1 `CorrelationId`.
const CORRELATION_ID_PATTERN: &str =
    r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$";
/// OpenAPI v1.1 `DateTime` (leap-year aware, milliseconds mandatory, `Z` or an offset).
const DATE_TIME_PATTERN: &str = concat!(
    r"^(?:[1-9][0-9]{3}-(?:(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])-(?:29|30)",
    r"|(?:0[13578]|1[02])-31)|(?:[1-9][0-9](?:0[48]|[2468][048]|[13579][26])",
    r"|(?:[2468][048]|[13579][26])00)-02-29)T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]",
    r"(?:(\.[0-9]{3}))(?:Z|[+-][01][0-9]:[0-5][0-9])$",
);

/// A JSON value deserialised only to refuse an object that repeats a key (the reference for the
/// duplicate-key scan).
struct UniqueKeys;

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<UniqueKeys, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key) {
                return Err(serde::de::Error::custom("duplicate key"));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}
