//! The certificate authority: pure, no I/O.

use std::fmt;
use std::net::IpAddr;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, PublicKeyData, RevokedCertParams, SanType, SerialNumber,
    SubjectPublicKeyInfo,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateSigningRequestDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::error::X509Error;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::public_key::PublicKey;

use crate::inspect::{
    CertInfo, CrlInfo, cert_der_from_pem, crl_der_from_pem, inspect_crl, inspect_der, parse_cert,
    parse_crl,
};
use crate::util::{
    BACKDATE, fingerprint_sha256_hex, now, participant_uri, pem_encode, random_serial,
    serial_bytes, serial_hex_from_raw, validate_common_name, validate_dns_name,
    validate_participant, validity_duration,
};
use crate::{Error, Result};

/// Smallest RSA modulus accepted in a CSR.
const MIN_RSA_BITS: usize = 2048;

/// The hub's certificate authority: a CA certificate and its private key.
///
/// Created with [`create`](Self::create) (new P-256 key, self-signed, `pathLen 0`, key usages
/// keyCertSign and cRLSign) or loaded with [`from_pem`](Self::from_pem). Every certificate it
/// issues gets a random 16-byte serial, `notBefore` five minutes in the past (clock skew) and
/// `notAfter` the requested number of days from now, which may not exceed the CA's own
/// `notAfter`.
///
/// The `Debug` output never contains the private key.
pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_der: CertificateDer<'static>,
    cert_pem: String,
    info: CertInfo,
    /// The CA's subjectKeyIdentifier, reused as the CRL's authorityKeyIdentifier.
    key_identifier: Option<Vec<u8>>,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("subject_cn", &self.info.subject_cn)
            .field("serial_hex", &self.info.serial_hex)
            .field("not_after", &self.info.not_after)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A certificate the CA just issued.
///
/// `key_pem` holds the freshly generated private key (PKCS#8 PEM) when the CA generated the
/// key pair, and is `None` for a signed CSR. It is a secret: hand it to its owner over a
/// protected channel, store it with mode 0600 and never log it. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM, if the CA generated it. Secret.
    pub key_pem: Option<String>,
    /// Serial number, lower-case hex (always 32 digits for certificates issued here).
    pub serial_hex: String,
    /// End of validity as encoded in the certificate.
    pub not_after: OffsetDateTime,
    /// Lower-case hex SHA-256 of the certificate DER.
    pub fingerprint_sha256_hex: String,
}

impl fmt::Debug for IssuedCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedCertificate")
            .field("serial_hex", &self.serial_hex)
            .field("not_after", &self.not_after)
            .field("fingerprint_sha256_hex", &self.fingerprint_sha256_hex)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

impl IssuedCertificate {
    fn new(cert: &rcgen::Certificate, key_pem: Option<String>) -> Result<Self> {
        let der: &[u8] = cert.der();
        let parsed = parse_cert(der)?;
        Ok(Self {
            cert_pem: cert.pem(),
            key_pem,
            serial_hex: serial_hex_from_raw(parsed.raw_serial()),
            not_after: parsed.validity().not_after.to_datetime(),
            fingerprint_sha256_hex: fingerprint_sha256_hex(der),
        })
    }
}

/// Why a certificate was revoked (RFC 5280 §5.3.1, the subset the hub uses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevocationReason {
    /// No reason given. Encoded by omitting the reason code, as RFC 5280 asks.
    #[default]
    Unspecified,
    /// The private key is known or suspected to be compromised.
    KeyCompromise,
    /// Replaced by a newer certificate (rotation).
    Superseded,
    /// The participant left the scheme.
    CessationOfOperation,
}

impl From<RevocationReason> for rcgen::RevocationReason {
    fn from(reason: RevocationReason) -> Self {
        match reason {
            RevocationReason::Unspecified => Self::Unspecified,
            RevocationReason::KeyCompromise => Self::KeyCompromise,
            RevocationReason::Superseded => Self::Superseded,
            RevocationReason::CessationOfOperation => Self::CessationOfOperation,
        }
    }
}

/// One entry of a CRL to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revoked {
    /// Serial number in hex (any spelling [`crate::normalize_serial_hex`] accepts).
    pub serial_hex: String,
    /// When the revocation was processed.
    pub revoked_at: OffsetDateTime,
    /// Why.
    pub reason: RevocationReason,
}

impl Revoked {
    /// An entry with reason [`RevocationReason::Unspecified`].
    pub fn new(serial_hex: impl Into<String>, revoked_at: OffsetDateTime) -> Self {
        Self {
            serial_hex: serial_hex.into(),
            revoked_at,
            reason: RevocationReason::Unspecified,
        }
    }
}

impl CertificateAuthority {
    /// Creates a new self-signed CA with a fresh P-256 key.
    ///
    /// The certificate has `basicConstraints cA=TRUE, pathLen=0` (it may only issue end-entity
    /// certificates), key usages keyCertSign and cRLSign, a subjectKeyIdentifier and a random
    /// 16-byte serial. `common_name` must be 1..=64 printable characters.
    pub fn create(common_name: &str, validity_days: u32) -> Result<Self> {
        validate_common_name(common_name)?;
        let lifetime = validity_duration(validity_days)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let now = now();
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.serial_number = Some(random_serial()?);
        params.not_before = now.saturating_sub(BACKDATE);
        params.not_after = now
            .checked_add(lifetime)
            .ok_or(Error::InvalidValidity(validity_days))?;
        let cert = params.self_signed(&key)?;
        Self::from_parts(cert.der().clone(), key)
    }

    /// Loads a CA from its certificate PEM and its unencrypted PKCS#8 private key PEM
    /// (`-----BEGIN PRIVATE KEY-----`; convert others with `openssl pkcs8 -topk8 -nocrypt`).
    ///
    /// Checks that the certificate is a CA (`cA=TRUE`, keyCertSign if key usage is present)
    /// and that the key belongs to it. The certificate need not be self-signed, so an
    /// intermediate issued by an external root works too.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self> {
        let cert_der = cert_der_from_pem(cert_pem)?;
        // PKCS#8 only: rcgen would keep SEC1/PKCS#1 bytes as they are and `key_pem` would
        // then label them wrongly.
        let key = match PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) {
            Ok(key @ PrivateKeyDer::Pkcs8(_)) => {
                KeyPair::try_from(&key).map_err(|_| Error::PrivateKey)?
            }
            _ => return Err(Error::PrivateKey),
        };
        Self::from_parts(cert_der, key)
    }

    fn from_parts(cert_der: CertificateDer<'static>, key: KeyPair) -> Result<Self> {
        let key_identifier = {
            let cert = parse_cert(&cert_der)?;
            if !cert.is_ca() {
                return Err(Error::NotCa("basicConstraints cA is not TRUE".into()));
            }
            match cert.key_usage() {
                Ok(Some(ku)) if !ku.value.key_cert_sign() => {
                    return Err(Error::NotCa("keyUsage lacks keyCertSign".into()));
                }
                Ok(_) => {}
                Err(e) => return Err(Error::NotCa(format!("keyUsage: {e}"))),
            }
            if key.subject_public_key_info() != cert.public_key().raw {
                return Err(Error::KeyMismatch);
            }
            cert.iter_extensions()
                .find_map(|ext| match ext.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                    _ => None,
                })
        };
        let info = inspect_der(&cert_der)?;
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)?;
        let cert_pem = pem_encode("CERTIFICATE", &cert_der);
        Ok(Self {
            issuer,
            cert_der,
            cert_pem,
            info,
            key_identifier,
        })
    }

    /// The CA certificate, PEM. Public: distribute it to every DFSP as the trust anchor.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// The CA's private key as PKCS#8 PEM.
    ///
    /// **Secret.** Whoever holds it can issue certificates every DFSP link accepts. Write it
    /// only to a file with mode 0600 (as [`crate::dir::PkiDir`] does), never log it, never
    /// send it anywhere.
    pub fn key_pem(&self) -> String {
        self.issuer.key().serialize_pem()
    }

    /// What the CA certificate says (subject, serial, validity, fingerprint).
    pub fn info(&self) -> &CertInfo {
        &self.info
    }

    /// Issues a TLS server certificate (EKU serverAuth) with a fresh P-256 key.
    ///
    /// The SANs are the given DNS names (validated, duplicates dropped) and IP addresses; the
    /// subject CN is the first DNS name, or the first IP address if there is none.
    pub fn issue_server(
        &self,
        dns_names: &[String],
        ip_addrs: &[IpAddr],
        validity_days: u32,
    ) -> Result<IssuedCertificate> {
        let mut dns: Vec<&str> = Vec::new();
        for name in dns_names {
            validate_dns_name(name)?;
            if !dns.iter().any(|seen| seen.eq_ignore_ascii_case(name)) {
                dns.push(name);
            }
        }
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in ip_addrs {
            if !ips.contains(ip) {
                ips.push(*ip);
            }
        }
        let cn = match (dns.first(), ips.first()) {
            (Some(name), _) => (*name).to_string(),
            (None, Some(ip)) => ip.to_string(),
            (None, None) => return Err(Error::NoSubjectAltNames),
        };
        let mut sans = Vec::with_capacity(dns.len().saturating_add(ips.len()));
        for name in dns {
            sans.push(SanType::DnsName(name.try_into()?));
        }
        sans.extend(ips.into_iter().map(SanType::IpAddress));
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = self.sign_leaf(
            &cn,
            sans,
            ExtendedKeyUsagePurpose::ServerAuth,
            &key,
            validity_days,
        )?;
        IssuedCertificate::new(&cert, Some(key.serialize_pem()))
    }

    /// Issues a participant client certificate (EKU clientAuth) with a fresh P-256 key:
    /// CN = `participant`, SAN URI `urn:ferroloop:participant:<participant>`.
    pub fn issue_client(&self, participant: &str, validity_days: u32) -> Result<IssuedCertificate> {
        validate_participant(participant)?;
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
        let cert = self.sign_participant(participant, &key, validity_days)?;
        IssuedCertificate::new(&cert, Some(key.serialize_pem()))
    }

    /// Signs a participant's PKCS#10 CSR (PEM) as a client certificate for `participant`.
    ///
    /// The CSR's self-signature is verified (proof of possession), then **only its public key
    /// is used**: the subject, requested SANs, EKUs and any other requested extensions are
    /// ignored. The certificate gets exactly what [`issue_client`](Self::issue_client) would
    /// give: CN = `participant`, our SAN URI, EKU clientAuth, a random serial. Accepted keys:
    /// EC P-256/P-384/P-521, Ed25519, RSA of at least 2048 bits. `key_pem` of the result is
    /// `None`.
    pub fn sign_csr(
        &self,
        csr_pem: &str,
        participant: &str,
        validity_days: u32,
    ) -> Result<IssuedCertificate> {
        validate_participant(participant)?;
        let der = CertificateSigningRequestDer::from_pem_slice(csr_pem.as_bytes())
            .map_err(|e| Error::Pem(format!("expected a CERTIFICATE REQUEST block: {e}")))?;
        let (rest, csr) = X509CertificationRequest::from_der(der.as_ref())
            .map_err(|e| Error::Csr(e.to_string()))?;
        if !rest.is_empty() {
            return Err(Error::Csr(format!(
                "{} trailing bytes after the request",
                rest.len()
            )));
        }
        let spki = &csr.certification_request_info.subject_pki;
        // rcgen's SPKI parser below refuses algorithms it cannot encode (DSA, GOST, unknown
        // curves); RSA additionally needs a minimum size.
        match spki.parsed() {
            Ok(PublicKey::RSA(rsa)) => {
                let bits = unsigned_bits(rsa.modulus);
                if bits < MIN_RSA_BITS {
                    return Err(Error::UnsupportedKey(format!(
                        "RSA key of {bits} bits, at least {MIN_RSA_BITS} required"
                    )));
                }
            }
            Ok(_) => {}
            Err(e) => return Err(Error::UnsupportedKey(e.to_string())),
        }
        // Proof of possession: the request is signed by the key it carries.
        csr.verify_signature().map_err(|e| match e {
            X509Error::SignatureUnsupportedAlgorithm => {
                Error::UnsupportedKey("CSR signature algorithm not supported".into())
            }
            _ => Error::CsrSignature,
        })?;
        let public_key = SubjectPublicKeyInfo::from_der(spki.raw)
            .map_err(|e| Error::UnsupportedKey(e.to_string()))?;
        if public_key.subject_public_key_info() == self.issuer.key().subject_public_key_info() {
            return Err(Error::UnsupportedKey(
                "the CSR carries the CA's own public key".into(),
            ));
        }
        let cert = self.sign_participant(participant, &public_key, validity_days)?;
        IssuedCertificate::new(&cert, None)
    }

    /// Generates a CRL (PEM) signed by the CA listing `revoked`, with CRL number `crl_number`
    /// (callers must make it strictly increase), `thisUpdate` five minutes ago and
    /// `nextUpdate` `next_update_days` from now. Relying parties that enforce `nextUpdate`
    /// (OpenSSL does) reject the CRL afterwards, so reissue it before then.
    pub fn crl_pem(
        &self,
        revoked: &[Revoked],
        crl_number: u64,
        next_update_days: u32,
    ) -> Result<String> {
        let lifetime = validity_duration(next_update_days)?;
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&serial_bytes(&r.serial_hex)?),
                    revocation_time: r.revoked_at,
                    reason_code: Some(r.reason.into()),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let now = now();
        let params = CertificateRevocationListParams {
            this_update: now.saturating_sub(BACKDATE),
            next_update: now
                .checked_add(lifetime)
                .ok_or(Error::InvalidValidity(next_update_days))?,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: match &self.key_identifier {
                Some(id) => KeyIdMethod::PreSpecified(id.clone()),
                None => KeyIdMethod::Sha256,
            },
        };
        Ok(params.signed_by(&self.issuer)?.pem()?)
    }

    /// Checks that a certificate (PEM) was issued by this CA: issuer name equal to the CA's
    /// subject and signature valid under the CA key. Returns what the certificate says.
    /// Validity dates, EKU and revocation are not checked here.
    pub fn verify_issued(&self, cert_pem: &str) -> Result<CertInfo> {
        let der = cert_der_from_pem(cert_pem)?;
        self.verify_issued_der(der.as_ref())
    }

    /// [`verify_issued`](Self::verify_issued) for DER input.
    pub fn verify_issued_der(&self, der: &[u8]) -> Result<CertInfo> {
        let ca = parse_cert(&self.cert_der)?;
        let cert = parse_cert(der)?;
        if cert.issuer().as_raw() != ca.subject().as_raw() {
            return Err(Error::NotIssuedByCa(
                "issuer name differs from the CA subject".into(),
            ));
        }
        cert.verify_signature(Some(ca.public_key()))
            .map_err(|e| Error::NotIssuedByCa(format!("signature: {e}")))?;
        inspect_der(der)
    }

    /// Checks that a CRL (PEM) was issued by this CA (issuer name and signature) and returns
    /// its contents.
    pub fn verify_crl(&self, crl_pem: &str) -> Result<CrlInfo> {
        let ca = parse_cert(&self.cert_der)?;
        let der = crl_der_from_pem(crl_pem)?;
        let crl = parse_crl(der.as_ref())?;
        if crl.issuer().as_raw() != ca.subject().as_raw() {
            return Err(Error::NotIssuedByCa(
                "CRL issuer name differs from the CA subject".into(),
            ));
        }
        crl.verify_signature(ca.public_key())
            .map_err(|e| Error::NotIssuedByCa(format!("CRL signature: {e}")))?;
        inspect_crl(crl_pem)
    }

    fn sign_participant(
        &self,
        participant: &str,
        public_key: &impl PublicKeyData,
        validity_days: u32,
    ) -> Result<rcgen::Certificate> {
        let uri = participant_uri(participant)?;
        self.sign_leaf(
            participant,
            vec![SanType::URI(uri.try_into()?)],
            ExtendedKeyUsagePurpose::ClientAuth,
            public_key,
            validity_days,
        )
    }

    /// Signs an end-entity certificate: `cA=FALSE`, digitalSignature, one EKU, AKI, random
    /// serial, backdated `notBefore`.
    fn sign_leaf(
        &self,
        common_name: &str,
        subject_alt_names: Vec<SanType>,
        eku: ExtendedKeyUsagePurpose,
        public_key: &impl PublicKeyData,
        validity_days: u32,
    ) -> Result<rcgen::Certificate> {
        let lifetime = validity_duration(validity_days)?;
        let now = now();
        let not_after = now
            .checked_add(lifetime)
            .ok_or(Error::InvalidValidity(validity_days))?;
        if not_after > self.info.not_after {
            return Err(Error::ValidityExceedsCa {
                requested: not_after,
                ca_not_after: self.info.not_after,
            });
        }
        let mut params = CertificateParams::default();
        params.distinguished_name = common_name_dn(common_name);
        params.subject_alt_names = subject_alt_names;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![eku];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        params.not_before = now.saturating_sub(BACKDATE);
        params.not_after = not_after;
        Ok(params.signed_by(public_key, &self.issuer)?)
    }
}

/// Bit length of a big-endian unsigned integer (leading zero bytes ignored).
fn unsigned_bits(bytes: &[u8]) -> usize {
    let mut significant = bytes.iter().skip_while(|b| **b == 0);
    let Some(first) = significant.next() else {
        return 0;
    };
    // 1..=8 bits in the first non-zero byte, 8 in each byte after it.
    let first_bits = u8::BITS.saturating_sub(first.leading_zeros()) as usize;
    significant
        .count()
        .saturating_mul(8)
        .saturating_add(first_bits)
}

fn common_name_dn(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn ca() -> CertificateAuthority {
        CertificateAuthority::create("Unit Test Hub CA", 365).unwrap()
    }

    #[test]
    fn created_ca_has_expected_shape() {
        let ca = ca();
        let info = ca.info();
        assert!(info.is_ca);
        assert_eq!(info.subject_cn.as_deref(), Some("Unit Test Hub CA"));
        assert_eq!(info.issuer_cn, info.subject_cn);
        assert_eq!(info.serial_hex.len(), 32);
        let lifetime = info.not_after - info.not_before;
        assert_eq!(lifetime, Duration::days(365) + BACKDATE);

        let cert = parse_cert(ca.cert_der()).unwrap();
        let bc = cert.basic_constraints().unwrap().unwrap();
        assert!(bc.critical);
        assert!(bc.value.ca);
        assert_eq!(bc.value.path_len_constraint, Some(0));
        let ku = cert.key_usage().unwrap().unwrap().value;
        assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
        cert.verify_signature(None).unwrap();
        assert!(ca.key_pem().starts_with("-----BEGIN PRIVATE KEY-----"));
    }

    #[test]
    fn pem_round_trip_keeps_identity_and_signing_ability() {
        let ca = ca();
        let again = CertificateAuthority::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        assert_eq!(again.cert_pem(), ca.cert_pem());
        assert_eq!(again.info(), ca.info());
        let issued = again.issue_client("dfsp1", 10).unwrap();
        ca.verify_issued(&issued.cert_pem).unwrap();
    }

    #[test]
    fn from_pem_rejects_mismatched_key_non_ca_and_garbage() {
        let ca = ca();
        let other = CertificateAuthority::create("Other", 10).unwrap();
        assert!(matches!(
            CertificateAuthority::from_pem(ca.cert_pem(), &other.key_pem()),
            Err(Error::KeyMismatch)
        ));
        let leaf = ca.issue_client("dfsp1", 10).unwrap();
        assert!(matches!(
            CertificateAuthority::from_pem(&leaf.cert_pem, leaf.key_pem.as_ref().unwrap()),
            Err(Error::NotCa(_))
        ));
        assert!(matches!(
            CertificateAuthority::from_pem(ca.cert_pem(), "not a key"),
            Err(Error::PrivateKey)
        ));
        assert!(matches!(
            CertificateAuthority::from_pem("junk", &ca.key_pem()),
            Err(Error::Pem(_))
        ));
    }

    #[test]
    fn debug_output_redacts_keys() {
        let ca = ca();
        let key = ca.key_pem();
        let body = key.lines().nth(1).unwrap();
        assert!(!format!("{ca:?}").contains(body));
        let issued = ca.issue_client("dfsp1", 10).unwrap();
        let issued_key = issued.key_pem.clone().unwrap();
        let dbg = format!("{issued:?}");
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains(issued_key.lines().nth(1).unwrap()));
    }

    #[test]
    fn client_certificate_profile() {
        let ca = ca();
        let issued = ca.issue_client("payerfsp", 30).unwrap();
        let info = ca.verify_issued(&issued.cert_pem).unwrap();
        assert_eq!(info.subject_cn.as_deref(), Some("payerfsp"));
        assert_eq!(info.participant.as_deref(), Some("payerfsp"));
        assert_eq!(info.serial_hex, issued.serial_hex);
        assert_eq!(info.not_after, issued.not_after);
        assert_eq!(info.fingerprint_sha256_hex, issued.fingerprint_sha256_hex);
        assert_eq!(
            info.not_after - info.not_before,
            Duration::days(30) + BACKDATE
        );

        let der = cert_der_from_pem(&issued.cert_pem).unwrap();
        let cert = parse_cert(&der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
        assert!(!cert.basic_constraints().unwrap().unwrap().value.ca);
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["URI(urn:ferroloop:participant:payerfsp)"]);
        assert!(
            cert.get_extension_unique(
                &x509_parser::oid_registry::OID_X509_EXT_AUTHORITY_KEY_IDENTIFIER
            )
            .unwrap()
            .is_some()
        );

        // The issued key matches the certificate.
        let key = KeyPair::from_pem(issued.key_pem.as_ref().unwrap()).unwrap();
        assert_eq!(key.subject_public_key_info(), cert.public_key().raw);
    }

    #[test]
    fn server_certificate_profile() {
        let ca = ca();
        let issued = ca
            .issue_server(
                &[
                    "hub.example".into(),
                    "HUB.example".into(),
                    "alt.example".into(),
                ],
                &["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
                30,
            )
            .unwrap();
        let der = cert_der_from_pem(&issued.cert_pem).unwrap();
        let cert = parse_cert(&der).unwrap();
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth && !eku.client_auth);
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        assert_eq!(names.len(), 4, "{names:?}");
        let info = inspect_der(&der).unwrap();
        assert_eq!(info.subject_cn.as_deref(), Some("hub.example"));

        assert!(matches!(
            ca.issue_server(&[], &[], 30),
            Err(Error::NoSubjectAltNames)
        ));
        assert!(matches!(
            ca.issue_server(&["bad name".into()], &[], 30),
            Err(Error::InvalidDnsName(_))
        ));
        let ip_only = ca
            .issue_server(&[], &["10.0.0.1".parse().unwrap()], 30)
            .unwrap();
        assert_eq!(
            inspect_der(&cert_der_from_pem(&ip_only.cert_pem).unwrap())
                .unwrap()
                .subject_cn
                .as_deref(),
            Some("10.0.0.1")
        );
    }

    #[test]
    fn validity_is_bounded_by_the_ca() {
        let ca = CertificateAuthority::create("Short CA", 10).unwrap();
        assert!(matches!(
            ca.issue_client("dfsp1", 11),
            Err(Error::ValidityExceedsCa { .. })
        ));
        assert!(matches!(
            ca.issue_client("dfsp1", 0),
            Err(Error::InvalidValidity(0))
        ));
        assert!(matches!(
            CertificateAuthority::create("", 10),
            Err(Error::InvalidCommonName(_))
        ));
        assert!(matches!(
            ca.issue_client("bad name", 5),
            Err(Error::InvalidParticipant(_))
        ));
    }

    #[test]
    fn serials_are_random_and_distinct() {
        let ca = ca();
        let a = ca.issue_client("dfsp1", 5).unwrap();
        let b = ca.issue_client("dfsp1", 5).unwrap();
        assert_ne!(a.serial_hex, b.serial_hex);
        assert_eq!(a.serial_hex.len(), 32);
        assert_ne!(a.serial_hex, ca.info().serial_hex);
    }

    fn csr_pem(cn: &str, sans: Vec<String>, key: &KeyPair) -> String {
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name = common_name_dn(cn);
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        params.serialize_request(key).unwrap().pem().unwrap()
    }

    #[test]
    fn csr_subject_and_extensions_are_ignored() {
        let ca = ca();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = csr_pem(
            "payeefsp",
            vec!["evil.example".into(), "10.1.1.1".into()],
            &key,
        );
        let issued = ca.sign_csr(&csr, "payerfsp", 30).unwrap();
        assert!(issued.key_pem.is_none());
        let info = ca.verify_issued(&issued.cert_pem).unwrap();
        assert_eq!(info.subject_cn.as_deref(), Some("payerfsp"));
        assert_eq!(info.participant.as_deref(), Some("payerfsp"));
        let der = cert_der_from_pem(&issued.cert_pem).unwrap();
        let cert = parse_cert(&der).unwrap();
        assert_eq!(cert.public_key().raw, key.subject_public_key_info());
        let san = cert.subject_alternative_name().unwrap().unwrap().value;
        let names: Vec<String> = san.general_names.iter().map(|n| n.to_string()).collect();
        assert_eq!(names, ["URI(urn:ferroloop:participant:payerfsp)"]);
        let eku = cert.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.client_auth && !eku.server_auth);
    }

    #[test]
    fn csr_key_types() {
        let ca = ca();
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let key = KeyPair::generate_for(alg).unwrap();
            let issued = ca
                .sign_csr(&csr_pem("x", vec![], &key), "dfsp1", 5)
                .unwrap();
            let der = cert_der_from_pem(&issued.cert_pem).unwrap();
            let cert = parse_cert(&der).unwrap();
            assert_eq!(
                cert.public_key().raw,
                key.subject_public_key_info(),
                "{alg:?}"
            );
            ca.verify_issued(&issued.cert_pem).unwrap();
        }
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(unsigned_bits(&[]), 0);
        assert_eq!(unsigned_bits(&[0, 0]), 0);
        assert_eq!(unsigned_bits(&[0, 0x80, 0]), 16);
        assert_eq!(unsigned_bits(&[0x01, 0xff]), 9);
        assert_eq!(unsigned_bits(&[0x7f; 256]), 2047);
    }

    #[test]
    fn pem_encoding_matches_rcgen() {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let cert = CertificateParams::new(vec!["a.example".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        assert_eq!(pem_encode("CERTIFICATE", cert.der()), cert.pem());
    }

    #[test]
    fn csr_with_bad_signature_or_junk_is_refused() {
        let ca = ca();
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let csr = csr_pem("claimedname", vec![], &key);
        let der = CertificateSigningRequestDer::from_pem_slice(csr.as_bytes()).unwrap();
        let mut bytes = der.to_vec();
        let at = bytes.windows(11).position(|w| w == b"claimedname").unwrap();
        bytes[at] = b'C';
        let tampered = pem_encode("CERTIFICATE REQUEST", &bytes);
        assert!(matches!(
            ca.sign_csr(&tampered, "dfsp1", 5),
            Err(Error::CsrSignature)
        ));
        assert!(matches!(
            ca.sign_csr("nope", "dfsp1", 5),
            Err(Error::Pem(_))
        ));
        assert!(matches!(
            ca.sign_csr(
                &pem_encode("CERTIFICATE REQUEST", &[0x30, 0x00]),
                "dfsp1",
                5
            ),
            Err(Error::Csr(_))
        ));
        assert!(matches!(
            ca.sign_csr(&csr, "not valid", 5),
            Err(Error::InvalidParticipant(_))
        ));
        // The CA's own key in a CSR is refused.
        let own = CertificateParams::default()
            .serialize_request(ca.issuer.key())
            .unwrap()
            .pem()
            .unwrap();
        assert!(matches!(
            ca.sign_csr(&own, "dfsp1", 5),
            Err(Error::UnsupportedKey(_))
        ));
    }

    #[test]
    fn crl_lists_revoked_serials_with_number_and_reason() {
        let ca = ca();
        let a = ca.issue_client("dfsp1", 5).unwrap();
        let b = ca.issue_client("dfsp2", 5).unwrap();
        let at = now() - Duration::hours(1);
        let crl = ca
            .crl_pem(
                &[
                    Revoked::new(a.serial_hex.to_uppercase(), at),
                    Revoked {
                        serial_hex: b.serial_hex.clone(),
                        revoked_at: at,
                        reason: RevocationReason::KeyCompromise,
                    },
                ],
                7,
                30,
            )
            .unwrap();
        let info = ca.verify_crl(&crl).unwrap();
        assert_eq!(info.crl_number, Some(7));
        assert_eq!(info.issuer_cn.as_deref(), Some("Unit Test Hub CA"));
        assert_eq!(info.revoked.len(), 2);
        assert_eq!(info.revoked[0].serial_hex, a.serial_hex);
        assert_eq!(info.revoked[0].reason_code, None);
        assert_eq!(info.revoked[0].revoked_at, at);
        assert_eq!(info.revoked[1].reason_code, Some(1));
        assert!(info.is_revoked(&b.serial_hex));
        assert!(!info.is_revoked(&ca.info().serial_hex));
        let next = info.next_update.unwrap();
        assert_eq!(next - info.this_update, Duration::days(30) + BACKDATE);

        let empty = ca.crl_pem(&[], 1, 1).unwrap();
        let info = ca.verify_crl(&empty).unwrap();
        assert!(info.revoked.is_empty());
        assert_eq!(info.crl_number, Some(1));

        assert!(matches!(
            ca.crl_pem(&[Revoked::new("zz", at)], 2, 1),
            Err(Error::InvalidSerial(_))
        ));
        let other = CertificateAuthority::create("Other", 10).unwrap();
        assert!(matches!(
            other.verify_crl(&crl),
            Err(Error::NotIssuedByCa(_))
        ));
        assert!(matches!(
            other.verify_issued(&a.cert_pem),
            Err(Error::NotIssuedByCa(_))
        ));
    }
}
