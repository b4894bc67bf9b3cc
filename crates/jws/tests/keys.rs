//! Key loading: every accepted PEM form loads and agrees with the others; weak, foreign and
//! broken keys are refused at load time with the precise reason. The fixtures were made once
//! with OpenSSL (see `testdata/vectors/README.md`).

mod common;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use common::read_vector;
use jws::{Alg, KeyError, SigningKey, VerifyingKey};

fn verifying(file: &str) -> Result<VerifyingKey, KeyError> {
    VerifyingKey::from_pem(&read_vector(file))
}

fn signing(file: &str) -> Result<SigningKey, KeyError> {
    SigningKey::from_pem(&read_vector(file))
}

#[test]
fn rsa_public_forms_agree() {
    let spki = verifying("fspiop-3.5-rsa2048.pub.pem").expect("SPKI");
    let pkcs1 = verifying("fspiop-3.5-rsa2048.pkcs1.pub.pem").expect("PKCS#1");
    let certificate = verifying("fspiop-3.5-rsa2048.cert.pem").expect("certificate");
    assert_eq!(spki.alg(), Alg::Rs256);
    assert_eq!(spki, pkcs1);
    assert_eq!(spki, certificate);
    assert_eq!(pkcs1.spki_der(), spki.spki_der());
    assert_eq!(
        VerifyingKey::from_pem(&spki.to_pem()).expect("re-read"),
        spki
    );
    assert_eq!(
        format!("{spki:?}"),
        format!(
            "VerifyingKey {{ alg: Rs256, bits: 2048, fingerprint: {:?} }}",
            spki.fingerprint()
        )
    );
}

#[test]
fn rsa_private_forms_agree() {
    let pkcs8 = signing("fspiop-3.5-rsa2048.key.pem").expect("PKCS#8");
    let pkcs1 = signing("fspiop-3.5-rsa2048.pkcs1.key.pem").expect("PKCS#1");
    let public = verifying("fspiop-3.5-rsa2048.pub.pem").expect("SPKI");
    assert_eq!(pkcs8.verifying_key(), &public);
    assert_eq!(pkcs1.verifying_key(), &public);
    let debug = format!("{pkcs8:?}");
    assert!(
        debug.contains(public.fingerprint()) && !debug.contains("MII"),
        "{debug}"
    );
}

#[test]
fn p256_forms_agree_and_sign_es256() {
    let public = verifying("p256.pub.pem").expect("SPKI");
    let certificate = verifying("p256.cert.pem").expect("certificate");
    // `openssl ecparam -genkey` writes an EC PARAMETERS block first: skipped.
    let sec1 = signing("p256-with-params.sec1.key.pem").expect("SEC1");
    let pkcs8 = signing("p256.pkcs8.key.pem").expect("PKCS#8");
    assert_eq!(public.alg(), Alg::Es256);
    assert_eq!(public.bits(), 256);
    assert_eq!(certificate, public);
    assert_eq!(sec1.verifying_key(), &public);
    // Unlike the SDK, a PKCS#8 EC key signs ES256 (the SDK would mislabel it RS256).
    assert_eq!(pkcs8.alg(), Alg::Es256);
    assert_eq!(pkcs8.verifying_key(), &public);
}

#[test]
fn pkcs8_export_round_trips() {
    for key in [
        SigningKey::generate_es256().expect("EC"),
        SigningKey::from_pem(&read_vector("fspiop-3.5-rsa2048.pkcs1.key.pem")).expect("RSA"),
    ] {
        let pem = key.to_pkcs8_pem().expect("export");
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = SigningKey::from_pem(&pem).expect("re-import");
        assert_eq!(again.verifying_key(), key.verifying_key());
        assert_eq!(again.alg(), key.alg());
    }
}

#[test]
fn rsa_1024_is_refused_at_load() {
    assert_eq!(
        verifying("rsa1024.pub.pem").unwrap_err(),
        KeyError::RsaKeySize { bits: 1024 }
    );
    assert_eq!(
        signing("rsa1024.key.pem").unwrap_err(),
        KeyError::RsaKeySize { bits: 1024 }
    );
    assert_eq!(
        SigningKey::generate_rs256(1024).unwrap_err(),
        KeyError::RsaKeySize { bits: 1024 }
    );
    assert_eq!(
        SigningKey::generate_rs256(8192).unwrap_err(),
        KeyError::RsaKeySize { bits: 8192 }
    );
}

#[test]
fn other_curves_and_key_types_are_refused() {
    let p384 = KeyError::UnsupportedCurve("1.3.132.0.34".into());
    assert_eq!(verifying("p384.pub.pem").unwrap_err(), p384);
    assert_eq!(signing("p384.sec1.key.pem").unwrap_err(), p384);
    assert_eq!(signing("p384.pkcs8.key.pem").unwrap_err(), p384);
    assert_eq!(
        verifying("secp256k1.pub.pem").unwrap_err(),
        KeyError::UnsupportedCurve("1.3.132.0.10".into())
    );
    assert_eq!(
        verifying("ed25519.pub.pem").unwrap_err(),
        KeyError::UnsupportedKeyType("1.3.101.112".into())
    );
    // A P-384 key made by aws-lc-rs itself, as DER.
    let pair = EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("generate");
    let spki = pair.public_key().as_der().expect("SPKI");
    assert_eq!(
        VerifyingKey::from_spki_der(spki.as_ref()).unwrap_err(),
        p384
    );
}

#[test]
fn wrong_kinds_of_pem_are_refused() {
    assert_eq!(
        signing("p256.encrypted.key.pem").unwrap_err(),
        KeyError::Encrypted
    );
    assert!(matches!(
        verifying("p256.pkcs8.key.pem").unwrap_err(),
        KeyError::UnexpectedPemLabel { label, .. } if label == "PRIVATE KEY"
    ));
    assert!(matches!(
        signing("p256.pub.pem").unwrap_err(),
        KeyError::UnexpectedPemLabel { label, .. } if label == "PUBLIC KEY"
    ));
    assert_eq!(VerifyingKey::from_pem("").unwrap_err(), KeyError::NoPem);
    assert_eq!(
        SigningKey::from_pem(
            "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
        )
        .unwrap_err(),
        KeyError::NoPem
    );
}

#[test]
fn broken_der_is_refused_without_panicking() {
    let spki = verifying("fspiop-3.5-rsa2048.pub.pem")
        .expect("SPKI")
        .spki_der()
        .to_vec();
    // Every truncation, and trailing garbage.
    for len in 0..spki.len() {
        assert!(
            VerifyingKey::from_spki_der(&spki[..len]).is_err(),
            "len {len}"
        );
    }
    let mut trailing = spki.clone();
    trailing.push(0);
    assert_eq!(
        VerifyingKey::from_spki_der(&trailing).unwrap_err(),
        KeyError::Der("SubjectPublicKeyInfo")
    );
    // Every single-byte corruption either fails cleanly or still yields a key.
    for index in 0..spki.len() {
        let mut corrupt = spki.clone();
        corrupt[index] ^= 0x41;
        let _ = VerifyingKey::from_spki_der(&corrupt);
        let _ = VerifyingKey::from_certificate_der(&corrupt);
        let _ = SigningKey::from_pkcs8_der(&corrupt);
        let _ = SigningKey::from_sec1_der(&corrupt);
        let _ = SigningKey::from_pkcs1_der(&corrupt);
    }
    assert!(matches!(
        VerifyingKey::from_certificate_der(&spki).unwrap_err(),
        KeyError::Der("certificate")
    ));
}
