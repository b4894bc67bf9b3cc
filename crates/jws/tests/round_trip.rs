//! Sign-then-verify with fresh keys of every supported kind, the body forms the verifier
//! accepts, and what `sign` refuses.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::BOTH;
use jws::{
    Alg, BodyForm, HeaderField, JwsError, RequestParts, SignatureHeader, SigningKey, sign, verify,
};

const BODY: &[u8] = br#"{"amount":{"amount":"100","currency":"USD"},"payeeFsp":"payeefsp","payerFsp":"payerfsp","transferId":"0191b1e2-7c2a-7f3e-8c4d-5e6f7a8b9c0d"}"#;

fn request() -> RequestParts<'static> {
    RequestParts {
        method: "POST",
        uri: "/transfers",
        source: "payerfsp",
        destination: Some("payeefsp"),
        date: Some("Thu, 02 Jan 2025 03:04:05 GMT"),
    }
}

fn round_trip(key: &SigningKey) -> String {
    let header = sign(key, &request(), BODY).expect("sign");
    let keys = [key.verifying_key().clone()];
    let verified = verify(&header, &request(), BODY, &keys, BOTH).expect("verify");
    assert_eq!(verified.body_form, BodyForm::Raw);
    assert_eq!(verified.header.alg, key.alg());
    assert_eq!(verified.header.destination.as_deref(), Some("payeefsp"));
    header
}

#[test]
fn es256_round_trip_uses_64_byte_r_s() {
    let key = SigningKey::generate_es256().expect("generate");
    assert_eq!(key.alg(), Alg::Es256);
    let header = round_trip(&key);
    let parsed = SignatureHeader::parse(&header).expect("parse");
    assert_eq!(parsed.signature().len(), 64);
    assert_eq!(URL_SAFE_NO_PAD.encode(parsed.signature()).len(), 86);
    // ECDSA is randomised: two signatures differ, both verify.
    assert_ne!(round_trip(&key), header);
}

#[test]
fn rsa_round_trips_for_every_supported_size() {
    for bits in [2048, 3072, 4096] {
        let key = SigningKey::generate_rs256(bits).expect("generate");
        assert_eq!(key.alg(), Alg::Rs256);
        assert_eq!(key.verifying_key().bits(), bits);
        let header = round_trip(&key);
        let parsed = SignatureHeader::parse(&header).expect("parse");
        assert_eq!(parsed.signature().len() * 8, bits as usize);
        // Deterministic: signing again gives the same header.
        assert_eq!(sign(&key, &request(), BODY).expect("sign"), header);
    }
}

#[test]
fn a_der_ecdsa_signature_is_not_accepted() {
    // JOSE wants r || s; a DER-encoded signature (the classic interop bug) must fail.
    let key = SigningKey::generate_es256().expect("generate");
    let header = sign(&key, &request(), BODY).expect("sign");
    let parsed = SignatureHeader::parse(&header).expect("parse");
    let (r, s) = parsed.signature().split_at(32);
    let integer = |bytes: &[u8]| {
        let mut out = vec![0x02, 33, 0];
        out.extend_from_slice(bytes);
        out
    };
    let mut der = vec![0x30, 70];
    der.extend(integer(r));
    der.extend(integer(s));
    let forged = format!(
        r#"{{"protectedHeader":"{}","signature":"{}"}}"#,
        parsed.protected_header_b64(),
        URL_SAFE_NO_PAD.encode(&der)
    );
    let keys = [key.verifying_key().clone()];
    assert_eq!(
        verify(&forged, &request(), BODY, &keys, BOTH),
        Err(JwsError::BadSignature)
    );
}

#[test]
fn body_forms_are_tried_in_order() {
    let key = SigningKey::generate_es256().expect("generate");
    let keys = [key.verifying_key().clone()];
    let sorted = br#"{"a":1,"b":{"c":2,"d":3}}"#;
    let received = br#"{"b":{"d":3,"c":2},"a":1}"#;
    let pretty_received = b"{ \"b\": { \"d\": 3, \"c\": 2 }, \"a\": 1.0 }";

    // Signed over the sorted form (SDK 19.19), received pretty: SortedKeys.
    let header = sign(&key, &request(), sorted).expect("sign");
    let verified = verify(&header, &request(), pretty_received, &keys, BOTH).expect("sorted");
    assert_eq!(verified.body_form, BodyForm::SortedKeys);

    // Signed over the received order (SDK 17.x, 19.18), received pretty: ReceivedOrder.
    let header = sign(&key, &request(), received).expect("sign");
    let verified = verify(&header, &request(), pretty_received, &keys, BOTH).expect("received");
    assert_eq!(verified.body_form, BodyForm::ReceivedOrder);
    let verified = verify(&header, &request(), received, &keys, BOTH).expect("raw");
    assert_eq!(verified.body_form, BodyForm::Raw);

    // Signed over pretty bytes (spec-strict signer): only the raw form matches.
    let header = sign(&key, &request(), pretty_received).expect("sign");
    let verified = verify(&header, &request(), pretty_received, &keys, BOTH).expect("raw");
    assert_eq!(verified.body_form, BodyForm::Raw);
    assert_eq!(
        verify(&header, &request(), received, &keys, BOTH),
        Err(JwsError::BadSignature)
    );

    // A non-JSON body verifies only raw.
    let header = sign(&key, &request(), b"not json").expect("sign");
    assert_eq!(
        verify(&header, &request(), b"not json", &keys, BOTH)
            .expect("raw")
            .body_form,
        BodyForm::Raw
    );
    assert_eq!(
        verify(&header, &request(), b"not json ", &keys, BOTH),
        Err(JwsError::BadSignature)
    );
}

#[test]
fn sign_refuses_what_would_not_round_trip() {
    let key = SigningKey::generate_es256().expect("generate");
    assert_eq!(sign(&key, &request(), b""), Err(JwsError::EmptyBody));
    let cases = [
        (
            RequestParts {
                uri: "",
                ..request()
            },
            HeaderField::Uri,
        ),
        (
            RequestParts {
                source: "fsp\u{e9}",
                ..request()
            },
            HeaderField::Source,
        ),
        (
            RequestParts {
                destination: Some("a\nb"),
                ..request()
            },
            HeaderField::Destination,
        ),
        (
            RequestParts {
                date: Some(""),
                ..request()
            },
            HeaderField::Date,
        ),
    ];
    for (parts, field) in cases {
        assert_eq!(
            sign(&key, &parts, BODY),
            Err(JwsError::InvalidRequestPart { field })
        );
    }
    // Without destination and date: neither is signed.
    let minimal = RequestParts {
        destination: None,
        date: None,
        ..request()
    };
    let header = sign(&key, &minimal, BODY).expect("sign");
    let protected = SignatureHeader::parse(&header)
        .expect("parse")
        .protected_header()
        .expect("decode");
    assert_eq!(
        protected.to_json(),
        r#"{"alg":"ES256","FSPIOP-URI":"/transfers","FSPIOP-HTTP-Method":"POST","FSPIOP-Source":"payerfsp"}"#
    );
}

#[test]
fn the_signature_covers_exactly_what_the_protected_header_says() {
    // A valid signature moved onto a request with a different protected header fails.
    let key = SigningKey::generate_es256().expect("generate");
    let keys = [key.verifying_key().clone()];
    let original =
        SignatureHeader::parse(&sign(&key, &request(), BODY).expect("sign")).expect("parse");
    let mut header = original.protected_header().expect("decode");
    header.uri = "/transfers/other".into();
    let moved = SignatureHeader::new(&header, original.signature().to_vec()).to_header_value();
    let other_request = RequestParts {
        uri: "/transfers/other",
        ..request()
    };
    assert_eq!(
        verify(&moved, &other_request, BODY, &keys, BOTH),
        Err(JwsError::BadSignature)
    );
}
