//! Oracles for the `jws` parsers of untrusted input: the `FSPIOP-Signature` header and its
//! protected header, JWS verification, the `Date` freshness check, key PEM/DER loading and the
//! SDK-exact canonical JSON.
//!
//! This file is shared: the fuzz targets call it through the `ferroloop_fuzz` library, and
//! `crates/jws/tests/fuzz_corpus.rs` includes it with `#[path]` to replay the committed seeds
//! under a plain `cargo test`. It may therefore only use the `jws` crate, `jws`'s own
//! dependencies (`base64`) and its dev-dependencies (`serde_json`), and every function in it
//! must be used by that test.
//!
//! The verification oracle uses a fixed request, body and key set: the worked example of
//! fspiop.md §3.5 (its documented throwaway RSA-2048 public key) plus the throwaway P-256 key of
//! `crates/jws/testdata/vectors/p256.*`. The only header values that may verify are the ones
//! made by those keys' owners ([`SIGNED`]); for anything else, `verify` must fail, and fail for
//! the reason the parsed parts predict.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jws::{
    Alg, BodyForm, DateError, JwsError, PROTECTED_HEADER_MAX, ProtectedHeader, RequestParts,
    SIGNATURE_MAX, SignatureHeader, SigningKey, VerifyingKey, canonical_json, check_date_freshness,
    sign, verify, verify_bodyless,
};
use serde_json::Value;

/// `jws_signature`: the input as an `FSPIOP-Signature` value, as a protected header, and as a
/// `Date`.
///
/// Never panics, and:
/// * [`verify`] of the input (lossy UTF-8, as a header value) fails with the error that
///   [`SignatureHeader::parse`] or [`SignatureHeader::protected_header`] gives, else with a
///   header mismatch exactly when the protected header disagrees with the request, else with
///   `BadSignature`; it succeeds only for the [`SIGNED`] headers (whatever the JSON spelling),
///   over the signed body as is and over a reordered spelling of it via the sorted form;
/// * [`verify_bodyless`] fails as [`verify`] does, with `BadSignature` where that verifies;
/// * a parsed header prints ([`SignatureHeader::to_header_value`]) as a value that parses back
///   to an equal header, and a parsed protected header prints
///   ([`ProtectedHeader::to_json`]) as JSON that parses back to an equal header;
/// * the raw input is also parsed as a decoded protected header, and wrapped (base64url) into
///   header values carrying the two known signatures, so that the fuzzer reaches the request
///   and signature checks without having to discover base64url;
/// * error messages stay short, whatever the input.
pub fn signature_header(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    header_value(&text);
    protected_header(data);
    let protected = URL_SAFE_NO_PAD.encode(data);
    for signature in [RS256_SIGNATURE, ES256_SIGNATURE] {
        header_value(&format!(
            r#"{{"protectedHeader":"{protected}","signature":"{signature}"}}"#
        ));
    }
    date(&text);
}

/// `jws_key_pem`: [`VerifyingKey::from_pem`] and [`SigningKey::from_pem`] over the input as
/// text, every `from_*_der` loader over the raw bytes, and `from_pem` over the raw bytes wrapped
/// in a PEM block of each accepted label (so that the fuzzer reaches the DER walks without
/// having to discover base64).
///
/// Never panics; error messages stay short; a loaded verifying key is RSA 2048..=4096 (RS256)
/// or P-256 (ES256), prints as a PEM that loads back to an equal key and has a SHA-256
/// fingerprint; a loaded signing key signs a request that its verifying key verifies, and
/// exports a PKCS#8 PEM that loads back to the same key.
pub fn key_pem(data: &[u8]) {
    key_text(&String::from_utf8_lossy(data));
    public_key_result(VerifyingKey::from_spki_der(data));
    public_key_result(VerifyingKey::from_pkcs1_der(data));
    public_key_result(VerifyingKey::from_certificate_der(data));
    private_key_result(SigningKey::from_pkcs8_der(data));
    private_key_result(SigningKey::from_pkcs1_der(data));
    private_key_result(SigningKey::from_sec1_der(data));
    let base64 = STANDARD.encode(data);
    for label in PEM_LABELS {
        key_text(&format!(
            "-----BEGIN {label}-----\n{base64}\n-----END {label}-----\n"
        ));
    }
}

/// `jws_canonical`: [`canonical_json`] over arbitrary bytes.
///
/// Never panics; when it gives a canonical form, that form is a fixed point (canonicalising it
/// again gives the same text), and, when `serde_json` also reads the input, the form parses to
/// the same value (numbers compared as the `f64` JavaScript holds, within one ulp since
/// `serde_json`'s default float parsing is best-effort).
pub fn canonical(data: &[u8]) {
    let Some(canonical) = canonical_json(data) else {
        return;
    };
    assert_eq!(
        canonical_json(canonical.as_bytes()).as_deref(),
        Some(canonical.as_str()),
        "canonical form is not a fixed point"
    );
    let Ok(value) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let reparsed: Value = match serde_json::from_str(&canonical) {
        Ok(reparsed) => reparsed,
        Err(error) => panic!("canonical form does not parse ({error}): {canonical}"),
    };
    assert!(
        same_value(&value, &reparsed),
        "canonical form changes the value: {canonical}"
    );
}

/// The headers signed by the owners of the oracle's keys for [`request`] and [`BODY`], as
/// (`protectedHeader`, `signature`): the §3.5 worked example (RS256, deterministic), an ES256
/// signature by the `p256` test key, and the same ES256 signature with `s` replaced by `n - s`,
/// which ECDSA also accepts (JOSE does not require low-`s`, and neither does the SDK).
const SIGNED: [(&str, &str); 3] = [
    (RS256_PROTECTED, RS256_SIGNATURE),
    (ES256_PROTECTED, ES256_SIGNATURE),
    (ES256_PROTECTED, ES256_SIGNATURE_HIGH_S),
];

/// Checks one `FSPIOP-Signature` value against the fixed request, with the signed body and
/// with a reordered spelling of it.
fn header_value(value: &str) {
    let raw = verify(value, &request(), BODY, keys(), BOTH);
    let reordered = verify(value, &request(), BODY_REORDERED, keys(), BOTH);
    for result in [&raw, &reordered] {
        if let Err(error) = result {
            short_message(error);
        }
    }
    // Nobody signed the empty payload: without a body, whatever gets as far as the signature
    // check fails it, and everything else fails as with the body.
    let bodyless = verify_bodyless(value, &request(), keys(), BOTH);
    let expected = match &raw {
        Ok(_) | Err(JwsError::BadSignature) => Err(JwsError::BadSignature),
        Err(error) => Err(error.clone()),
    };
    assert_eq!(bodyless, expected, "verify_bodyless disagrees with verify");
    if value.trim().is_empty() {
        assert_eq!(SignatureHeader::parse(value), Err(JwsError::Missing));
        assert_eq!(raw, Err(JwsError::Missing));
        return;
    }
    let parsed = match SignatureHeader::parse(value) {
        Ok(parsed) => parsed,
        Err(error) => {
            assert_eq!(raw, Err(error), "verify and parse disagree");
            return;
        }
    };
    let printed = parsed.to_header_value();
    assert_eq!(
        SignatureHeader::parse(&printed).as_ref(),
        Ok(&parsed),
        "printed header does not parse back: {printed}"
    );
    assert!(parsed.protected_header_b64().len() <= PROTECTED_HEADER_MAX);
    assert!(parsed.signature().len() <= SIGNATURE_MAX * 3 / 4);
    let header = match parsed.protected_header() {
        Ok(header) => header,
        Err(error) => {
            assert_eq!(raw, Err(error), "verify and protected_header disagree");
            return;
        }
    };
    check_protected_header(&header);
    let signature = URL_SAFE_NO_PAD.encode(parsed.signature());
    let signed = SIGNED.contains(&(parsed.protected_header_b64(), signature.as_str()));
    for (result, form) in [(raw, BodyForm::Raw), (reordered, BodyForm::SortedKeys)] {
        match result {
            Ok(verified) => {
                assert!(signed, "verified a header nobody signed: {printed}");
                assert_eq!(verified.header, header);
                assert_eq!(verified.body_form, form);
                let expected_key = match header.alg {
                    Alg::Rs256 => 0,
                    _ => 1,
                };
                assert_eq!(verified.key_index, expected_key);
            }
            Err(JwsError::BadSignature) => {
                assert!(matches_request(&header), "BadSignature for {header:?}");
                assert!(!signed, "a signed header did not verify: {printed}");
            }
            Err(JwsError::HeaderMismatch { .. }) => {
                assert!(!matches_request(&header), "{header:?} matches the request");
            }
            Err(other) => panic!("unexpected {other:?} for {header:?}"),
        }
    }
}

/// Checks [`ProtectedHeader::parse`] on a decoded protected header.
fn protected_header(json: &[u8]) {
    match ProtectedHeader::parse(json) {
        Ok(header) => check_protected_header(&header),
        Err(error) => {
            assert!(
                matches!(
                    error,
                    JwsError::Malformed(_) | JwsError::UnknownAlgorithm(_)
                ),
                "unexpected {error:?}"
            );
            short_message(&error);
        }
    }
}

/// The promises of a parsed protected header.
fn check_protected_header(header: &ProtectedHeader) {
    for required in [&header.uri, &header.method, &header.source] {
        assert!(!required.is_empty());
    }
    for optional in [&header.destination, &header.date].into_iter().flatten() {
        assert!(!optional.is_empty());
    }
    for (index, (name, _)) in header.other.iter().enumerate() {
        assert!(
            !KNOWN_MEMBERS.contains(&name.as_str()),
            "{name:?} kept as other"
        );
        assert!(
            header.other.iter().skip(index + 1).all(|(n, _)| n != name),
            "duplicate {name:?}"
        );
    }
    let json = header.to_json();
    assert_eq!(
        ProtectedHeader::parse(json.as_bytes()).as_ref(),
        Ok(header),
        "to_json does not parse back: {json}"
    );
    assert_eq!(
        SignatureHeader::new(header, vec![1, 2, 3])
            .protected_header()
            .as_ref(),
        Ok(header)
    );
}

/// Whether a protected header agrees with [`request`] by the §3.2 rules.
fn matches_request(header: &ProtectedHeader) -> bool {
    let request = request();
    header.uri == request.uri
        && header.method == request.method
        && header.source == request.source
        && header.destination.as_deref() == request.destination
        && header
            .date
            .as_deref()
            .is_none_or(|date| Some(date) == request.date)
}

/// [`check_date_freshness`]: validity does not depend on the clock, an unlimited window admits
/// every valid date, and the reported skew is exact (moving `now` by it makes the date fresh).
fn date(text: &str) {
    let strict = check_date_freshness(text, now(), Duration::ZERO);
    let wide = check_date_freshness(text, SystemTime::UNIX_EPOCH, Duration::MAX);
    assert!(matches!(wide, Ok(()) | Err(DateError::Invalid)), "{wide:?}");
    assert_eq!(
        strict == Err(DateError::Invalid),
        wide == Err(DateError::Invalid)
    );
    if let Err(DateError::OutsideWindow { skew_secs }) = strict {
        assert_ne!(skew_secs, 0);
        let seconds = Duration::from_secs(skew_secs.unsigned_abs());
        let then = if skew_secs > 0 {
            now().checked_add(seconds)
        } else {
            now().checked_sub(seconds)
        };
        if let Some(then) = then {
            assert_eq!(check_date_freshness(text, then, Duration::ZERO), Ok(()));
        }
    }
}

/// Loads `text` as a public and as a private key PEM.
fn key_text(text: &str) {
    public_key_result(VerifyingKey::from_pem(text));
    private_key_result(SigningKey::from_pem(text));
}

fn public_key_result(result: Result<VerifyingKey, jws::KeyError>) {
    match result {
        Ok(key) => check_verifying_key(&key),
        Err(error) => short_message(&error),
    }
}

fn private_key_result(result: Result<SigningKey, jws::KeyError>) {
    let key = match result {
        Ok(key) => key,
        Err(error) => {
            short_message(&error);
            return;
        }
    };
    let public = key.verifying_key();
    check_verifying_key(public);
    assert_eq!(key.alg(), public.alg());
    let header = match sign(&key, &request(), BODY) {
        Ok(header) => header,
        Err(error) => panic!("a loaded {:?} key cannot sign: {error}", key.alg()),
    };
    let verified = verify(
        &header,
        &request(),
        BODY,
        std::slice::from_ref(public),
        BOTH,
    );
    assert!(
        verified.is_ok(),
        "own signature does not verify: {verified:?}"
    );
    let exported = match key.to_pkcs8_pem() {
        Ok(pem) => pem,
        Err(error) => panic!("a loaded key does not export: {error}"),
    };
    match SigningKey::from_pem(&exported) {
        Ok(again) => assert_eq!(again.verifying_key(), public),
        Err(error) => panic!("exported PKCS#8 does not load back: {error}"),
    }
}

fn check_verifying_key(key: &VerifyingKey) {
    match key.alg() {
        Alg::Rs256 => assert!((2048..=4096).contains(&key.bits()), "{key:?}"),
        _ => assert_eq!((key.alg(), key.bits()), (Alg::Es256, 256)),
    }
    let fingerprint = key.fingerprint();
    assert_eq!(fingerprint.len(), 64);
    assert!(
        fingerprint
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(VerifyingKey::from_pem(&key.to_pem()).as_ref(), Ok(key));
    assert_eq!(
        VerifyingKey::from_spki_der(key.spki_der()).as_ref(),
        Ok(key)
    );
}

/// Error messages name what is wrong without echoing unbounded input into logs.
fn short_message(error: &dyn std::fmt::Display) {
    let message = error.to_string();
    let length = message.chars().count();
    assert!(
        (1..=MAX_ERROR_CHARS).contains(&length),
        "error message of {length} chars: {}",
        message.chars().take(200).collect::<String>()
    );
}

/// Equal JSON values, numbers compared as `f64` within one ulp.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => {
                a == b || (a.signum() == b.signum() && a.to_bits().abs_diff(b.to_bits()) <= 1)
            }
            _ => false,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same_value(a, b))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(key, a)| b.get(key).is_some_and(|b| same_value(a, b)))
        }
        (a, b) => a == b,
    }
}

/// The request of the §3.5 worked example, as the hub receives it.
fn request() -> RequestParts<'static> {
    RequestParts {
        method: "PUT",
        uri: "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069",
        source: "payeefsp",
        destination: Some("payerfsp"),
        date: Some("Wed, 01 Jan 2025 00:00:01 GMT"),
    }
}

/// The `Date` of [`request`], as the clock.
fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_735_689_601)
}

/// The oracle's verification keys: index 0 RS256, index 1 ES256.
fn keys() -> &'static [VerifyingKey] {
    static KEYS: OnceLock<Vec<VerifyingKey>> = OnceLock::new();
    KEYS.get_or_init(|| {
        [RSA_PUBLIC_PEM, P256_PUBLIC_PEM]
            .into_iter()
            .map(|pem| match VerifyingKey::from_pem(pem) {
                Ok(key) => key,
                Err(error) => panic!("oracle key does not load: {error}"),
            })
            .collect()
    })
}

const BOTH: &[Alg] = &[Alg::Rs256, Alg::Es256];

const KNOWN_MEMBERS: [&str; 7] = [
    "alg",
    "FSPIOP-URI",
    "FSPIOP-HTTP-Method",
    "FSPIOP-Source",
    "FSPIOP-Destination",
    "Date",
    "crit",
];

const PEM_LABELS: [&str; 6] = [
    "PUBLIC KEY",
    "RSA PUBLIC KEY",
    "CERTIFICATE",
    "PRIVATE KEY",
    "RSA PRIVATE KEY",
    "EC PRIVATE KEY",
];

/// Longest acceptable error message. Untrusted parts are truncated (a label to 64 characters,
/// an algorithm name to 32) but `Debug`-escaped, which can make one character ten.
const MAX_ERROR_CHARS: usize = 1024;

/// The §3.5 body, compact with sorted keys: the bytes that were signed.
const BODY: &[u8] = br#"{"completedTimestamp":"2025-01-01T00:00:01.000Z","fulfilment":"CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk","transferState":"COMMITTED"}"#;
/// The same JSON value, keys reversed and spaced: only its sorted re-serialisation verifies.
const BODY_REORDERED: &[u8] = br#"{ "transferState": "COMMITTED", "fulfilment": "CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk", "completedTimestamp": "2025-01-01T00:00:01.000Z" }"#;

/// `{"alg":"RS256",…}` of the §3.5 worked example.
const RS256_PROTECTED: &str = "eyJhbGciOiJSUzI1NiIsIkZTUElPUC1VUkkiOiIvdHJhbnNmZXJzL2I1MWVjNTM0LWVlNDgtNDU3NS1iNmE5LWVhZDI5NTViODA2OSIsIkZTUElPUC1IVFRQLU1ldGhvZCI6IlBVVCIsIkZTUElPUC1Tb3VyY2UiOiJwYXllZWZzcCIsIkZTUElPUC1EZXN0aW5hdGlvbiI6InBheWVyZnNwIiwiRGF0ZSI6IldlZCwgMDEgSmFuIDIwMjUgMDA6MDA6MDEgR01UIn0";
/// The §3.5 worked example's RS256 signature (sdk-standard-components 19.19.1).
const RS256_SIGNATURE: &str = "nM2XS5uad8CjTtc9dyytO9s_lKIpY8rU4Z-k_QSul9877AC8Er6oXTcxaKKpzC6PT8eIOI6Ira52r_ds6CpzvVszBtDlH6xSiZYVGQiSGa6CqTmhrjKopHZ79cTSGU6MsSRd-El_HXDSAYxVVNyVdf4ItCpX0WXHksyO_vX5Le7ltc6ccgDh5hP4tmHsxagYJfDkSekX3ICXgC0zftxzYdgE0lAX--UOnsgekGTJi_In5gpweR3hbY4Ms-Q8pve83yChaC8-qu6OUYj1pQDF243ZVwr4cv3BZHa_FN0V6kFM-sIvelbo9YCGh5EKh36zg16A48-lrYcNoqjfRTMjSA";
/// The worked example's protected header with `"alg":"ES256"`.
const ES256_PROTECTED: &str = "eyJhbGciOiJFUzI1NiIsIkZTUElPUC1VUkkiOiIvdHJhbnNmZXJzL2I1MWVjNTM0LWVlNDgtNDU3NS1iNmE5LWVhZDI5NTViODA2OSIsIkZTUElPUC1IVFRQLU1ldGhvZCI6IlBVVCIsIkZTUElPUC1Tb3VyY2UiOiJwYXllZWZzcCIsIkZTUElPUC1EZXN0aW5hdGlvbiI6InBheWVyZnNwIiwiRGF0ZSI6IldlZCwgMDEgSmFuIDIwMjUgMDA6MDA6MDEgR01UIn0";
/// ES256 `r || s` over `ES256_PROTECTED "." BASE64URL(BODY)` by
/// `crates/jws/testdata/vectors/p256.pkcs8.key.pem` (Python `cryptography`, once).
const ES256_SIGNATURE: &str =
    "NkWx-td4BH06GclYFzpl6bNn7acFw1Ubm9klhUAGrKr3Cv4q7sIpy5SUS62y167T0NII0zBUJ1HkNUaSrIdtjA";
/// [`ES256_SIGNATURE`] with `s` replaced by `n - s` (P-256 group order `n`).
const ES256_SIGNATURE_HIGH_S: &str =
    "NkWx-td4BH06GclYFzpl6bNn7acFw1Ubm9klhUAGrKoI9QHUET3WNWtrtFJNKFEr7BTx2nbDdzMPhIQwT9u3xQ";

/// The documented throwaway RSA-2048 public key of fspiop.md §3.5
/// (`crates/jws/testdata/vectors/fspiop-3.5-rsa2048.pub.pem`).
const RSA_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAslCXocjWuk2pIl+RPe+F
jdLAJ4ei/k26OO0myUnAbfs88g48QETs7kW318/RKVdn9Hd5sPrslBrPpK62pt+c
yKmoEEDwFElwidxUARYKRjfhSpVhOAZ9fXvEi7p+NRiGRy76L3BiVRlvwZrpqzz2
Oo+za6oPVFzyCj9eCkLjcV1/d57ZWUUqYidpCXTDf98HI/UENE2kyj2VfceHTBOf
hlS+eQmThmdrE24+KCkCJOHcXlrtszEbzwh3sCHImTQWXvhhQT36BX6YVb/BmIh5
ZTYSjwPvLQCpzkbtatqnPiZcjqHi0i5vwEQ2rbjJ3M/QHI56nojr75JLET3htfek
fQIDAQAB
-----END PUBLIC KEY-----
";

/// The throwaway P-256 test key (`crates/jws/testdata/vectors/p256.pub.pem`).
const P256_PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8hmhatjFST3EJdGOkOI1OyZaeX3S
A+4R9WYdaB7vx6iQt2wyRju6lH4X12HfCaK+WabPqAL8tLmTnuwFThDeNw==
-----END PUBLIC KEY-----
";
