//! Keys: [`VerifyingKey`] (a DFSP's or the hub's public key, parsed once and cached) and
//! [`SigningKey`] (the hub's own private key).

use std::fmt;

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, ParsedPublicKey, RsaKeyPair};

use crate::Alg;
use crate::der::{self, PrivateKeyKind, PublicKeyKind};
use crate::error::{JwsError, KeyError};
use crate::pem;

/// A public key that verifies `FSPIOP-Signature` headers: RSA (2048 to 4096 bits, for
/// `RS256`) or EC P-256 (for `ES256`).
///
/// Parsing is done once, at load; keep the value (behind an `Arc` if shared) rather than
/// re-parsing per message (limits.md: 24 µs per RS256 verify with a cached key).
#[derive(Clone)]
pub struct VerifyingKey {
    alg: Alg,
    bits: u32,
    spki_der: Box<[u8]>,
    fingerprint: String,
    parsed: ParsedPublicKey,
}

impl VerifyingKey {
    /// Loads the first PEM block of `pem`, which must be a SubjectPublicKeyInfo
    /// (`BEGIN PUBLIC KEY`), a PKCS#1 RSA public key (`BEGIN RSA PUBLIC KEY`) or an X.509
    /// certificate (`BEGIN CERTIFICATE`; in a chain, the first one, the leaf, is used).
    ///
    /// A certificate is only a container here: its signature, validity and usage are not
    /// checked.
    ///
    /// # Errors
    /// [`KeyError`] naming what is wrong: PEM, DER, key type, curve or RSA size.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let blocks = pem::blocks(pem)?;
        let block = blocks.first().ok_or(KeyError::NoPem)?;
        match block.label {
            "PUBLIC KEY" => Self::from_spki_der(&block.der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&block.der),
            "CERTIFICATE" => Self::from_certificate_der(&block.der),
            label => Err(KeyError::UnexpectedPemLabel {
                label: pem::label_for_error(label),
                expected: "PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE",
            }),
        }
    }

    /// Loads a DER SubjectPublicKeyInfo.
    ///
    /// # Errors
    /// [`KeyError`] as for [`from_pem`](Self::from_pem).
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let (alg, bits, algorithm): (_, _, &'static dyn signature::VerificationAlgorithm) =
            match der::classify_spki(der)? {
                PublicKeyKind::Rsa { bits } => {
                    check_rsa_bits(bits)?;
                    (Alg::Rs256, bits, &signature::RSA_PKCS1_2048_8192_SHA256)
                }
                PublicKeyKind::P256 => (Alg::Es256, 256, &signature::ECDSA_P256_SHA256_FIXED),
            };
        let parsed = ParsedPublicKey::new(algorithm, der)
            .map_err(|rejected| KeyError::Rejected(rejected.description_()))?;
        Ok(Self {
            alg,
            bits,
            spki_der: der.into(),
            fingerprint: hex(digest::digest(&digest::SHA256, der).as_ref()),
            parsed,
        })
    }

    /// Loads a DER PKCS#1 `RSAPublicKey`.
    ///
    /// # Errors
    /// [`KeyError`] as for [`from_pem`](Self::from_pem).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        der::rsa_public_key_bits(der)?;
        Self::from_spki_der(&der::spki_from_rsa_public_key(der))
    }

    /// Loads the public key of a DER X.509 certificate (not validated, see
    /// [`from_pem`](Self::from_pem)).
    ///
    /// # Errors
    /// [`KeyError`] as for [`from_pem`](Self::from_pem).
    pub fn from_certificate_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::from_spki_der(der::certificate_spki(der)?)
    }

    /// The algorithm this key verifies.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Key size in bits: the RSA modulus size, or 256 for P-256.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// SHA-256 of the SubjectPublicKeyInfo DER, lower-case hex: the same value for the
    /// SPKI, PKCS#1 and certificate forms of one key (`openssl pkey -pubin -outform DER |
    /// sha256sum`).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The SubjectPublicKeyInfo DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as a `BEGIN PUBLIC KEY` PEM, the form to hand to DFSPs.
    pub fn to_pem(&self) -> String {
        pem::encode("PUBLIC KEY", &self.spki_der)
    }

    /// `true` when `signature` is valid for `message` under this key.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey")
            .field("alg", &self.alg)
            .field("bits", &self.bits)
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

impl PartialEq for VerifyingKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

impl Eq for VerifyingKey {}

/// A private key that signs `FSPIOP-Signature` headers: RSA (2048 to 4096 bits, `RS256`) or
/// EC P-256 (`ES256`).
///
/// Unlike the SDK, which picks `ES256` only for a `BEGIN EC PRIVATE KEY` PEM, the algorithm
/// follows the key itself, so a PKCS#8 EC key signs `ES256` too.
pub struct SigningKey {
    pair: Pair,
    verifying: VerifyingKey,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
}

impl SigningKey {
    /// Loads the first private key block of `pem`: PKCS#8 (`BEGIN PRIVATE KEY`, RSA or EC),
    /// PKCS#1 (`BEGIN RSA PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`). `BEGIN EC
    /// PARAMETERS` blocks, which `openssl ecparam -genkey` writes first, are skipped.
    ///
    /// # Errors
    /// [`KeyError`] naming what is wrong; [`KeyError::Encrypted`] for encrypted keys.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let blocks = pem::blocks(pem)?;
        let block = blocks
            .iter()
            .find(|block| block.label != "EC PARAMETERS")
            .ok_or(KeyError::NoPem)?;
        match block.label {
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&block.der),
            "EC PRIVATE KEY" => Self::from_sec1_der(&block.der),
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Encrypted),
            label => Err(KeyError::UnexpectedPemLabel {
                label: pem::label_for_error(label),
                expected: "PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY",
            }),
        }
    }

    /// Loads a DER PKCS#8 `PrivateKeyInfo` holding an RSA or P-256 key.
    ///
    /// # Errors
    /// [`KeyError`] as for [`from_pem`](Self::from_pem).
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        match der::classify_pkcs8(der)? {
            PrivateKeyKind::Rsa { bits } => {
                check_rsa_bits(bits)?;
                Self::rsa(RsaKeyPair::from_pkcs8(der).map_err(rejected)?)
            }
            PrivateKeyKind::P256 => Self::ec(
                EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(rejected)?,
            ),
        }
    }

    /// Loads a DER PKCS#1 `RSAPrivateKey`.
    ///
    /// # Errors
    /// [`KeyError`] as for [`from_pem`](Self::from_pem).
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        check_rsa_bits(der::rsa_private_key_bits(der)?)?;
        Self::rsa(RsaKeyPair::from_der(der).map_err(rejected)?)
    }

    /// Loads a DER SEC1 `ECPrivateKey` on P-256.
    ///
    /// # Errors
    /// [`KeyError`] as for [`from_pem`](Self::from_pem).
    pub fn from_sec1_der(der: &[u8]) -> Result<Self, KeyError> {
        der::check_sec1_curve(der)?;
        Self::ec(
            EcdsaKeyPair::from_private_key_der(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(rejected)?,
        )
    }

    /// Generates a fresh P-256 key for `ES256`.
    ///
    /// # Errors
    /// [`KeyError::Generation`] if the crypto library fails.
    pub fn generate_es256() -> Result<Self, KeyError> {
        Self::ec(
            EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| KeyError::Generation)?,
        )
    }

    /// Generates a fresh RSA key of `bits` (2048, 3072 or 4096) for `RS256`.
    ///
    /// # Errors
    /// [`KeyError::RsaKeySize`] for other sizes; [`KeyError::Generation`] if the crypto
    /// library fails.
    pub fn generate_rs256(bits: u32) -> Result<Self, KeyError> {
        let size = match bits {
            2048 => KeySize::Rsa2048,
            3072 => KeySize::Rsa3072,
            4096 => KeySize::Rsa4096,
            _ => return Err(KeyError::RsaKeySize { bits }),
        };
        Self::rsa(RsaKeyPair::generate(size).map_err(|_| KeyError::Generation)?)
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Alg {
        self.verifying.alg
    }

    /// The matching public key.
    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.verifying
    }

    /// The private key as an unencrypted PKCS#8 PEM (`BEGIN PRIVATE KEY`). The returned
    /// string is secret; it is not zeroised on drop.
    ///
    /// # Errors
    /// [`KeyError::Serialisation`] if the crypto library fails.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let der = match &self.pair {
            Pair::Rsa(pair) => {
                let der: Pkcs8V1Der<'static> =
                    pair.as_der().map_err(|_| KeyError::Serialisation)?;
                der.as_ref().to_vec()
            }
            Pair::Ec(pair) => pair
                .to_pkcs8v1()
                .map_err(|_| KeyError::Serialisation)?
                .as_ref()
                .to_vec(),
        };
        Ok(pem::encode("PRIVATE KEY", &der))
    }

    /// Signs `message`: RSASSA-PKCS1-v1_5 with SHA-256, or ECDSA P-256 SHA-256 as the 64-byte
    /// `r || s` that JOSE uses.
    pub(crate) fn sign_message(&self, message: &[u8]) -> Result<Vec<u8>, JwsError> {
        let rng = SystemRandom::new();
        match &self.pair {
            Pair::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&signature::RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| JwsError::SigningFailed)?;
                Ok(signature)
            }
            Pair::Ec(pair) => Ok(pair
                .sign(&rng, message)
                .map_err(|_| JwsError::SigningFailed)?
                .as_ref()
                .to_vec()),
        }
    }

    fn rsa(pair: RsaKeyPair) -> Result<Self, KeyError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Serialisation)?;
        let verifying = VerifyingKey::from_spki_der(spki.as_ref())?;
        Ok(Self {
            pair: Pair::Rsa(pair),
            verifying,
        })
    }

    fn ec(pair: EcdsaKeyPair) -> Result<Self, KeyError> {
        let spki = pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Serialisation)?;
        let verifying = VerifyingKey::from_spki_der(spki.as_ref())?;
        Ok(Self {
            pair: Pair::Ec(pair),
            verifying,
        })
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the private key.
        f.debug_struct("SigningKey")
            .field("alg", &self.alg())
            .field("public_fingerprint", &self.verifying.fingerprint)
            .finish_non_exhaustive()
    }
}

/// RSA sizes we load: 2048 bits minimum (spec), 4096 maximum because the spec caps the
/// signature at 512 characters and we stretch that only as far as 4096-bit keys need.
fn check_rsa_bits(bits: u32) -> Result<(), KeyError> {
    if (RSA_BITS_MIN..=RSA_BITS_MAX).contains(&bits) {
        Ok(())
    } else {
        Err(KeyError::RsaKeySize { bits })
    }
}

fn rejected(rejected: aws_lc_rs::error::KeyRejected) -> KeyError {
    KeyError::Rejected(rejected.description_())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const RSA_BITS_MIN: u32 = 2048;
const RSA_BITS_MAX: u32 = 4096;
