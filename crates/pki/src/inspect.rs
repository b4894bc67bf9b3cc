//! Read-only inspection of certificates and CRLs. Every input is treated as untrusted: parse
//! failures are typed errors, nothing here panics.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use serde::Serialize;
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;
use x509_parser::x509::X509Name;

use crate::util::{
    PARTICIPANT_URI_PREFIX, fingerprint_sha256_hex, is_participant_name, serial_hex_from_raw,
};
use crate::{Error, Result};

/// What the hub needs to know about a certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CertInfo {
    /// The first subject common name, if any (and if it is a string).
    pub subject_cn: Option<String>,
    /// The participant the certificate names: from the `urn:ferroloop:participant:` SAN URI if
    /// present (exactly one distinct value), otherwise the subject CN if the certificate is
    /// not a CA, allows client authentication (no EKU, clientAuth or anyExtendedKeyUsage) and
    /// the CN is a valid participant name. Authorisation should still map the
    /// fingerprint to a participant rather than trust this alone.
    pub participant: Option<String>,
    /// Serial number, lower-case hex without leading zero bytes.
    pub serial_hex: String,
    /// Start of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// The first issuer common name, if any.
    pub issuer_cn: Option<String>,
    /// `basicConstraints cA=TRUE`.
    pub is_ca: bool,
    /// Lower-case hex SHA-256 of the certificate DER.
    pub fingerprint_sha256_hex: String,
}

impl CertInfo {
    /// Whether `at` lies inside `[not_before, not_after]`.
    pub fn is_valid_at(&self, at: OffsetDateTime) -> bool {
        self.not_before <= at && at <= self.not_after
    }
}

/// Inspects the first `CERTIFICATE` block of a PEM string (other blocks are skipped).
pub fn inspect(cert_pem: &str) -> Result<CertInfo> {
    let der = cert_der_from_pem(cert_pem)?;
    inspect_der(der.as_ref())
}

/// Inspects a DER certificate, e.g. a TLS peer's leaf from `peer_certificates()`.
pub fn inspect_der(der: &[u8]) -> Result<CertInfo> {
    let cert = parse_cert(der)?;
    let validity = cert.validity();
    Ok(CertInfo {
        subject_cn: first_cn(cert.subject()),
        participant: participant_of(&cert)?,
        serial_hex: serial_hex_from_raw(cert.raw_serial()),
        not_before: validity.not_before.to_datetime(),
        not_after: validity.not_after.to_datetime(),
        issuer_cn: first_cn(cert.issuer()),
        is_ca: cert.is_ca(),
        fingerprint_sha256_hex: fingerprint_sha256_hex(der),
    })
}

/// One revoked certificate in a CRL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrlEntry {
    /// Serial number, normalised like [`CertInfo::serial_hex`].
    pub serial_hex: String,
    /// When the CA processed the revocation.
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    /// The raw CRLReason code, if the entry has one (absent means unspecified; 1 is
    /// keyCompromise, 4 superseded, 5 cessationOfOperation).
    pub reason_code: Option<u8>,
}

/// What a CRL says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CrlInfo {
    /// The first issuer common name, if any.
    pub issuer_cn: Option<String>,
    /// The CRL number extension, if present and at most 64 bits.
    pub crl_number: Option<u64>,
    /// `thisUpdate`.
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    /// `nextUpdate`, if present.
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_update: Option<OffsetDateTime>,
    /// The revoked certificates, in CRL order.
    pub revoked: Vec<CrlEntry>,
}

impl CrlInfo {
    /// Whether the CRL lists `serial_hex` (any accepted spelling, see
    /// [`crate::normalize_serial_hex`]).
    pub fn is_revoked(&self, serial_hex: &str) -> bool {
        crate::normalize_serial_hex(serial_hex)
            .is_ok_and(|s| self.revoked.iter().any(|r| r.serial_hex == s))
    }
}

/// Inspects the first `X509 CRL` block of a PEM string. The signature is not checked here;
/// use [`crate::CertificateAuthority::verify_crl`] for that.
pub fn inspect_crl(crl_pem: &str) -> Result<CrlInfo> {
    let der = crl_der_from_pem(crl_pem)?;
    let crl = parse_crl(der.as_ref())?;
    let revoked = crl
        .iter_revoked_certificates()
        .map(|r| CrlEntry {
            serial_hex: serial_hex_from_raw(r.raw_serial()),
            revoked_at: r.revocation_date.to_datetime(),
            reason_code: r.reason_code().map(|(_, code)| code.0),
        })
        .collect();
    let crl_number = crl.crl_number().and_then(|n| {
        let bytes = n.to_bytes_be();
        (bytes.len() <= 8).then(|| bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
    });
    Ok(CrlInfo {
        issuer_cn: first_cn(crl.issuer()),
        crl_number,
        this_update: crl.last_update().to_datetime(),
        next_update: crl.next_update().map(|t| t.to_datetime()),
        revoked,
    })
}

pub(crate) fn cert_der_from_pem(cert_pem: &str) -> Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(cert_pem.as_bytes())
        .map_err(|e| Error::Pem(format!("expected a CERTIFICATE block: {e}")))
}

pub(crate) fn crl_der_from_pem(crl_pem: &str) -> Result<CertificateRevocationListDer<'static>> {
    CertificateRevocationListDer::from_pem_slice(crl_pem.as_bytes())
        .map_err(|e| Error::Pem(format!("expected an X509 CRL block: {e}")))
}

/// Parses a whole DER certificate; trailing bytes are an error.
pub(crate) fn parse_cert(der: &[u8]) -> Result<X509Certificate<'_>> {
    let (rest, cert) =
        X509Certificate::from_der(der).map_err(|e| Error::Certificate(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Certificate(format!(
            "{} trailing bytes after the certificate",
            rest.len()
        )));
    }
    Ok(cert)
}

/// Parses a whole DER CRL; trailing bytes are an error.
pub(crate) fn parse_crl(der: &[u8]) -> Result<CertificateRevocationList<'_>> {
    let (rest, crl) =
        CertificateRevocationList::from_der(der).map_err(|e| Error::Crl(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Crl(format!(
            "{} trailing bytes after the CRL",
            rest.len()
        )));
    }
    Ok(crl)
}

pub(crate) fn first_cn(name: &X509Name<'_>) -> Option<String> {
    name.iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string)
}

/// See [`CertInfo::participant`].
fn participant_of(cert: &X509Certificate<'_>) -> Result<Option<String>> {
    let san = cert
        .subject_alternative_name()
        .map_err(|e| Error::Certificate(format!("subjectAltName: {e}")))?;
    let mut from_uri: Option<&str> = None;
    if let Some(san) = san {
        for name in &san.value.general_names {
            let GeneralName::URI(uri) = name else {
                continue;
            };
            let Some(participant) = uri.strip_prefix(PARTICIPANT_URI_PREFIX) else {
                continue;
            };
            if !is_participant_name(participant) {
                return Ok(None);
            }
            match from_uri {
                Some(seen) if seen != participant => return Ok(None),
                _ => from_uri = Some(participant),
            }
        }
    }
    if let Some(participant) = from_uri {
        return Ok(Some(participant.to_string()));
    }
    if cert.is_ca() {
        return Ok(None);
    }
    // A certificate that may not be used for client authentication names no participant.
    let eku = cert
        .extended_key_usage()
        .map_err(|e| Error::Certificate(format!("extendedKeyUsage: {e}")))?;
    if let Some(eku) = eku
        && !(eku.value.client_auth || eku.value.any)
    {
        return Ok(None);
    }
    Ok(first_cn(cert.subject()).filter(|cn| is_participant_name(cn)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CertificateAuthority;

    #[test]
    fn garbage_is_refused_without_panicking() {
        for input in [
            "",
            "hello",
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
            "-----BEGIN CERTIFICATE-----\nMIIB\n",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        ] {
            assert!(inspect(input).is_err(), "{input:?}");
            assert!(inspect_crl(input).is_err(), "{input:?}");
        }
        assert!(matches!(inspect_der(&[]), Err(Error::Certificate(_))));
        assert!(matches!(
            inspect_der(&[0x30, 0x82, 0xff, 0xff]),
            Err(Error::Certificate(_))
        ));
    }

    #[test]
    fn every_truncation_and_bit_flip_of_a_real_certificate_is_handled() {
        let ca = CertificateAuthority::create("Trunc CA", 30).unwrap();
        let issued = ca.issue_client("dfsp1", 10).unwrap();
        let der = cert_der_from_pem(&issued.cert_pem).unwrap().to_vec();
        assert!(inspect_der(&der).is_ok());
        for len in 0..der.len() {
            assert!(inspect_der(&der[..len]).is_err(), "prefix {len}");
        }
        let mut with_trailer = der.clone();
        with_trailer.push(0);
        assert!(inspect_der(&with_trailer).is_err());
        // Flipped bits may or may not still parse; either way there must be no panic.
        for i in 0..der.len() {
            for bit in [0x01u8, 0x80] {
                let mut mutated = der.clone();
                mutated[i] ^= bit;
                let _ = inspect_der(&mutated);
            }
        }
    }

    #[test]
    fn participant_from_uri_or_cn() {
        let ca = CertificateAuthority::create("Part CA", 30).unwrap();
        let client = inspect(&ca.issue_client("payeefsp", 5).unwrap().cert_pem).unwrap();
        assert_eq!(client.participant.as_deref(), Some("payeefsp"));
        assert_eq!(client.subject_cn.as_deref(), Some("payeefsp"));
        assert!(!client.is_ca);
        let server = ca
            .issue_server(&["hub.example".to_string()], &[], 5)
            .unwrap();
        let server = inspect(&server.cert_pem).unwrap();
        assert_eq!(server.subject_cn.as_deref(), Some("hub.example"));
        assert_eq!(server.participant, None);
        let ca_info = inspect(ca.cert_pem()).unwrap();
        assert_eq!(ca_info.participant, None);
        assert!(ca_info.is_ca);
        assert_eq!(ca_info.subject_cn, ca_info.issuer_cn);
    }
}
