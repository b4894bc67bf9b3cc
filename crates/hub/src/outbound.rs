//! HTTP clients for hub → DFSP messages.
//!
//! In secure mode (the FSPIOP listener is mutual TLS) every callback goes over TLS: the hub
//! presents its own client certificate and verifies the DFSP's callback server against the CA
//! registered for that DFSP (`PUT /participants/{name}/tls`, `callbackCaPem`), or the hub's
//! own CA when none is registered. Plain-HTTP callback URLs are refused at registration and
//! never called. One client (connection pool) per DFSP, rebuilt when its CA changes.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::Duration;

/// The hub's outbound TLS material.
#[derive(Clone)]
pub struct OutboundTls {
    /// The hub's client certificate chain and key (PEM), presented to DFSPs; `None` verifies
    /// DFSP servers without presenting a certificate (announced at start).
    pub identity_pem: Option<String>,
    /// CA bundle (PEM) trusted for DFSP callback servers that registered no CA of their own.
    pub default_ca_pem: String,
}

/// Clients by receiving participant.
pub struct OutboundClients {
    plain: reqwest::Client,
    tls: Option<OutboundTls>,
    cas: RwLock<HashMap<String, String>>,
    clients: RwLock<HashMap<String, reqwest::Client>>,
}

impl OutboundClients {
    /// Plain HTTP callbacks (development transport, when the FSPIOP listener is plain too).
    pub fn plain() -> Result<OutboundClients, String> {
        Ok(OutboundClients {
            plain: builder().build().map_err(|e| e.to_string())?,
            tls: None,
            cas: RwLock::default(),
            clients: RwLock::default(),
        })
    }

    /// Mutual-TLS callbacks with `tls`; `cas` are the CAs registered per participant.
    pub fn secure(
        tls: OutboundTls,
        cas: HashMap<String, String>,
    ) -> Result<OutboundClients, String> {
        // Fail at start, not at the first callback, if the material is unusable.
        let probe = build(&tls, &tls.default_ca_pem)?;
        drop(probe);
        Ok(OutboundClients {
            plain: builder().build().map_err(|e| e.to_string())?,
            tls: Some(tls),
            cas: RwLock::new(
                cas.into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect(),
            ),
            clients: RwLock::default(),
        })
    }

    /// Whether callbacks must be `https://` with mutual TLS.
    pub fn is_secure(&self) -> bool {
        self.tls.is_some()
    }

    /// Sets (or clears) the CA a participant's callback server is verified against.
    pub fn set_callback_ca(&self, participant: &str, ca_pem: Option<String>) {
        let name = participant.to_ascii_lowercase();
        {
            let mut cas = self.cas.write().unwrap_or_else(|p| p.into_inner());
            match ca_pem {
                Some(pem) => cas.insert(name.clone(), pem),
                None => cas.remove(&name),
            };
        }
        self.clients
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&name);
    }

    /// The client for messages to `participant` at `url`.
    pub fn client_for(&self, participant: &str, url: &str) -> Result<reqwest::Client, String> {
        let Some(tls) = &self.tls else {
            return Ok(self.plain.clone());
        };
        if !url.starts_with("https://") {
            return Err(format!(
                "{url} is not https://: callbacks use mutual TLS in secure mode"
            ));
        }
        let name = participant.to_ascii_lowercase();
        if let Some(client) = self
            .clients
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
        {
            return Ok(client.clone());
        }
        let ca = self
            .cas
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&name)
            .cloned()
            .unwrap_or_else(|| tls.default_ca_pem.clone());
        let client = build(tls, &ca)?;
        self.clients
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name, client.clone());
        Ok(client)
    }
}

fn builder() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(60))
}

fn build(tls: &OutboundTls, ca_pem: &str) -> Result<reqwest::Client, String> {
    let roots = reqwest::Certificate::from_pem_bundle(ca_pem.as_bytes())
        .map_err(|e| format!("callback CA: {e}"))?;
    if roots.is_empty() {
        return Err("callback CA: no certificate in the PEM".into());
    }
    let mut builder = builder().tls_certs_only(roots).https_only(true);
    if let Some(identity) = &tls.identity_pem {
        let identity = reqwest::Identity::from_pem(identity.as_bytes())
            .map_err(|e| format!("hub client certificate: {e}"))?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|e| e.to_string())
}

/// Checks a callback CA bundle an operator registers: PEM certificates, at least one.
pub fn check_ca_bundle(pem: &str) -> Result<(), String> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let certificates: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| format!("callbackCaPem is not a PEM certificate bundle: {e}"))?;
    if certificates.is_empty() {
        return Err("callbackCaPem holds no certificate".into());
    }
    for certificate in &certificates {
        let info = pki::inspect_der(certificate)
            .map_err(|e| format!("callbackCaPem: a certificate does not parse: {e}"))?;
        if !info.is_ca {
            return Err(format!(
                "callbackCaPem: certificate {} is not a CA certificate",
                info.subject_cn.unwrap_or(info.serial_hex)
            ));
        }
    }
    Ok(())
}
