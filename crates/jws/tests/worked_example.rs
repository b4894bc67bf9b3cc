//! The worked example of fspiop.md §3.5, generated with sdk-standard-components 19.19.1 and a
//! documented throwaway RSA-2048 key (`testdata/vectors/fspiop-3.5-rsa2048.*`). RS256 is
//! deterministic, so our signer must reproduce the SDK's header value byte for byte, and our
//! verifier must accept it and reject every tampered variant with the precise reason.

mod common;

use common::{BOTH, read_vector};
use jws::{
    Alg, BodyForm, HeaderField, JwsError, Mismatch, RequestParts, SigningKey, VerifyingKey, sign,
    verify,
};

const URI: &str = "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069";
const DATE: &str = "Wed, 01 Jan 2025 00:00:01 GMT";
const BODY: &[u8] = br#"{"completedTimestamp":"2025-01-01T00:00:01.000Z","fulfilment":"CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk","transferState":"COMMITTED"}"#;
const SIGNATURE: &str = r#"{"protectedHeader":"eyJhbGciOiJSUzI1NiIsIkZTUElPUC1VUkkiOiIvdHJhbnNmZXJzL2I1MWVjNTM0LWVlNDgtNDU3NS1iNmE5LWVhZDI5NTViODA2OSIsIkZTUElPUC1IVFRQLU1ldGhvZCI6IlBVVCIsIkZTUElPUC1Tb3VyY2UiOiJwYXllZWZzcCIsIkZTUElPUC1EZXN0aW5hdGlvbiI6InBheWVyZnNwIiwiRGF0ZSI6IldlZCwgMDEgSmFuIDIwMjUgMDA6MDA6MDEgR01UIn0","signature":"nM2XS5uad8CjTtc9dyytO9s_lKIpY8rU4Z-k_QSul9877AC8Er6oXTcxaKKpzC6PT8eIOI6Ira52r_ds6CpzvVszBtDlH6xSiZYVGQiSGa6CqTmhrjKopHZ79cTSGU6MsSRd-El_HXDSAYxVVNyVdf4ItCpX0WXHksyO_vX5Le7ltc6ccgDh5hP4tmHsxagYJfDkSekX3ICXgC0zftxzYdgE0lAX--UOnsgekGTJi_In5gpweR3hbY4Ms-Q8pve83yChaC8-qu6OUYj1pQDF243ZVwr4cv3BZHa_FN0V6kFM-sIvelbo9YCGh5EKh36zg16A48-lrYcNoqjfRTMjSA"}"#;
const PROTECTED_HEADER_JSON: &str = r#"{"alg":"RS256","FSPIOP-URI":"/transfers/b51ec534-ee48-4575-b6a9-ead2955b8069","FSPIOP-HTTP-Method":"PUT","FSPIOP-Source":"payeefsp","FSPIOP-Destination":"payerfsp","Date":"Wed, 01 Jan 2025 00:00:01 GMT"}"#;
/// `openssl pkey -pubin -in fspiop-3.5-rsa2048.pub.pem -outform DER | sha256sum`
const FINGERPRINT: &str = "5fc6fd65a6cd98138af72d620e29246630bac6539edf3db817b22efde650b9f5";

fn request() -> RequestParts<'static> {
    RequestParts {
        method: "PUT",
        uri: URI,
        source: "payeefsp",
        destination: Some("payerfsp"),
        date: Some(DATE),
    }
}

fn public_keys() -> Vec<(&'static str, VerifyingKey)> {
    ["pub.pem", "pkcs1.pub.pem", "cert.pem"]
        .into_iter()
        .map(|suffix| {
            let pem = read_vector(&format!("fspiop-3.5-rsa2048.{suffix}"));
            let key = VerifyingKey::from_pem(&pem).unwrap_or_else(|e| panic!("{suffix}: {e}"));
            (suffix, key)
        })
        .collect()
}

fn spki_key() -> Vec<VerifyingKey> {
    vec![public_keys().remove(0).1]
}

#[test]
fn sign_reproduces_the_sdk_signature_byte_for_byte() {
    for file in [
        "fspiop-3.5-rsa2048.key.pem",
        "fspiop-3.5-rsa2048.pkcs1.key.pem",
    ] {
        let key = SigningKey::from_pem(&read_vector(file)).expect(file);
        assert_eq!(key.alg(), Alg::Rs256);
        assert_eq!(key.verifying_key().fingerprint(), FINGERPRINT, "{file}");
        // Lower-case method: the signer upper-cases it, as the SDK does.
        let lower = RequestParts {
            method: "put",
            ..request()
        };
        assert_eq!(sign(&key, &lower, BODY).expect(file), SIGNATURE, "{file}");
    }
}

#[test]
fn the_protected_header_decodes_to_the_documented_json() {
    let header = jws::SignatureHeader::parse(SIGNATURE).expect("valid header");
    let decoded = header.protected_header().expect("valid protected header");
    assert_eq!(decoded.to_json(), PROTECTED_HEADER_JSON);
    assert_eq!(header.signature().len(), 256);
    assert_eq!(header.to_header_value(), SIGNATURE);
}

#[test]
fn verify_accepts_it_with_every_public_key_form() {
    for (form, key) in public_keys() {
        assert_eq!(key.fingerprint(), FINGERPRINT, "{form}");
        assert_eq!(key.bits(), 2048, "{form}");
        let verified = verify(SIGNATURE, &request(), BODY, &[key], &[Alg::Rs256]).expect(form);
        assert_eq!(verified.body_form, BodyForm::Raw);
        assert_eq!(verified.key_index, 0);
        assert_eq!(verified.header.date.as_deref(), Some(DATE));
        assert_eq!(verified.header.to_json(), PROTECTED_HEADER_JSON);
    }
}

#[test]
fn tampered_request_parts_are_rejected_precisely() {
    let keys = spki_key();
    let mismatch = |field, reason| JwsError::HeaderMismatch { field, reason };
    let cases = [
        (
            RequestParts {
                uri: "/transfers/b51ec534-ee48-4575-b6a9-ead2955b8068",
                ..request()
            },
            mismatch(HeaderField::Uri, Mismatch::Differs),
        ),
        (
            RequestParts {
                method: "POST",
                ..request()
            },
            mismatch(HeaderField::Method, Mismatch::Differs),
        ),
        (
            RequestParts {
                method: "put",
                ..request()
            },
            mismatch(HeaderField::Method, Mismatch::Differs),
        ),
        (
            RequestParts {
                source: "payerfsp",
                ..request()
            },
            mismatch(HeaderField::Source, Mismatch::Differs),
        ),
        (
            RequestParts {
                destination: Some("otherfsp"),
                ..request()
            },
            mismatch(HeaderField::Destination, Mismatch::Differs),
        ),
        (
            RequestParts {
                destination: None,
                ..request()
            },
            mismatch(HeaderField::Destination, Mismatch::MissingFromRequest),
        ),
        (
            RequestParts {
                date: Some("Wed, 01 Jan 2025 00:00:02 GMT"),
                ..request()
            },
            mismatch(HeaderField::Date, Mismatch::Differs),
        ),
        (
            RequestParts {
                date: None,
                ..request()
            },
            mismatch(HeaderField::Date, Mismatch::MissingFromRequest),
        ),
    ];
    for (tampered, expected) in cases {
        assert_eq!(
            verify(SIGNATURE, &tampered, BODY, &keys, BOTH),
            Err(expected.clone()),
            "{tampered:?}"
        );
    }
}

#[test]
fn tampered_body_and_signature_are_rejected() {
    let keys = spki_key();
    let body = String::from_utf8(BODY.to_vec())
        .expect("UTF-8")
        .replace("COMMITTED", "ABORTED");
    assert_eq!(
        verify(SIGNATURE, &request(), body.as_bytes(), &keys, BOTH),
        Err(JwsError::BadSignature)
    );
    // One flipped signature bit.
    let flipped = SIGNATURE.replace("nM2XS5", "nM2XS4");
    assert_eq!(
        verify(&flipped, &request(), BODY, &keys, BOTH),
        Err(JwsError::BadSignature)
    );
    // A truncated signature.
    let truncated = SIGNATURE.replace("jfRTMjSA", "jfRTMg");
    assert_eq!(
        verify(&truncated, &request(), BODY, &keys, BOTH),
        Err(JwsError::BadSignature)
    );
    assert_eq!(
        verify(SIGNATURE, &request(), b"", &keys, BOTH),
        Err(JwsError::EmptyBody)
    );
    assert_eq!(
        verify("", &request(), BODY, &keys, BOTH),
        Err(JwsError::Missing)
    );
}

#[test]
fn reformatted_body_still_verifies_through_re_serialisation() {
    let keys = spki_key();
    let pretty = b"{\n  \"transferState\": \"COMMITTED\",\n  \"fulfilment\": \"CieiTxucECqbnE1Hzr67gaTvRNUDn3Q6A5bHFSibapk\",\n  \"completedTimestamp\": \"2025-01-01T00:00:01.000Z\"\n}";
    let verified = verify(SIGNATURE, &request(), pretty, &keys, BOTH).expect("sorted form");
    assert_eq!(verified.body_form, BodyForm::SortedKeys);
}

#[test]
fn algorithm_and_key_choice() {
    let keys = spki_key();
    assert_eq!(
        verify(SIGNATURE, &request(), BODY, &keys, &[Alg::Es256]),
        Err(JwsError::AlgorithmNotAllowed(Alg::Rs256))
    );
    let ec_only = [SigningKey::generate_es256()
        .expect("generate")
        .verifying_key()
        .clone()];
    assert_eq!(
        verify(SIGNATURE, &request(), BODY, &ec_only, BOTH),
        Err(JwsError::NoKey { alg: Alg::Rs256 })
    );
    assert_eq!(
        verify(SIGNATURE, &request(), BODY, &[], BOTH),
        Err(JwsError::NoKey { alg: Alg::Rs256 })
    );
    // An EC key first and an unrelated RSA key do not get in the way of rotation.
    let other_rsa = SigningKey::generate_rs256(2048).expect("generate");
    let rotation = [
        ec_only[0].clone(),
        other_rsa.verifying_key().clone(),
        keys[0].clone(),
    ];
    let verified = verify(SIGNATURE, &request(), BODY, &rotation, BOTH).expect("rotation");
    assert_eq!(verified.key_index, 2);
}

#[test]
fn an_unsigned_date_is_accepted_like_the_sdk_does() {
    let key = SigningKey::from_pem(&read_vector("fspiop-3.5-rsa2048.key.pem")).expect("key");
    let without_date = RequestParts {
        date: None,
        ..request()
    };
    let header = sign(&key, &without_date, BODY).expect("sign");
    let keys = [key.verifying_key().clone()];
    // The request carries a Date the signature does not cover: accepted, and reported.
    let verified = verify(&header, &request(), BODY, &keys, BOTH).expect("verify");
    assert_eq!(verified.header.date, None);
}
