//! The PKI directory: the only part of this crate that touches the file system.
//!
//! ```text
//! <dir>/ca.pem          CA certificate (0644)          trust anchor for every DFSP
//! <dir>/ca.key          CA private key (0600)          secret
//! <dir>/server.pem      hub TLS server certificate     SANs: given names, localhost, 127.0.0.1
//! <dir>/server.key      its key (0600)                 secret
//! <dir>/client.pem      hub client certificate         CN = hub name, for outbound callbacks,
//!                                                      issued by the hub callback CA
//! <dir>/client.key      its key (0600)                 secret
//! <dir>/hub-callback-ca.pem  hub callback CA (0644)    what DFSP inbound servers trust
//! <dir>/hub-callback-ca.key  its key (0600)            secret
//! <dir>/crl.pem         current CRL                    number increases on every change
//! <dir>/inventory.json  every issued certificate       serial, purpose, expiry, revocation
//! ```
//!
//! Two CAs, so that a DFSP can tell the hub from another DFSP: `ca.pem` issues DFSP client
//! certificates (and server certificates) and is what the hub's FSPIOP listener trusts;
//! `hub-callback-ca.pem` issues only the hub's own client certificate, and is the one CA a
//! DFSP's inbound (callback) server should trust for client certificates. A DFSP certificate
//! from `ca.pem` presented to another DFSP's inbound server then fails the handshake.
//! Directories bootstrapped before the callback CA existed get it on
//! [`PkiDir::open_or_bootstrap`] ([`PkiDir::ensure_callback_ca`]): the CA is created and the
//! hub's client certificate re-issued from it; DFSP certificates are untouched.
//!
//! [`PkiDir::bootstrap`] creates all of this once; [`PkiDir::open`] only opens an existing
//! directory and fails if there is none, so a hub configured with an external CA never
//! creates one by accident. Private keys are created with mode 0600 from the start
//! (`O_CREAT|O_EXCL` with the mode, never chmod after the fact) and are never logged.
//! Rewritten files (CRL, inventory, rotated certificates) are replaced atomically via a
//! temporary file and `rename`, so readers never see a partial file.
//!
//! A `PkiDir` keeps the inventory in memory and assumes it is the only writer of the
//! directory; mutating methods take `&mut self` (wrap it in a mutex to share it).

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::util::{now, validate_participant};
use crate::{
    CertificateAuthority, Error, IssuedCertificate, Result, RevocationReason, Revoked, inspect,
    normalize_serial_hex,
};

/// CA certificate file name.
pub const CA_CERT_FILE: &str = "ca.pem";
/// CA private key file name.
pub const CA_KEY_FILE: &str = "ca.key";
/// Hub server certificate file name.
pub const SERVER_CERT_FILE: &str = "server.pem";
/// Hub server private key file name.
pub const SERVER_KEY_FILE: &str = "server.key";
/// Hub client certificate file name.
pub const CLIENT_CERT_FILE: &str = "client.pem";
/// Hub client private key file name.
pub const CLIENT_KEY_FILE: &str = "client.key";
/// CRL file name.
pub const CRL_FILE: &str = "crl.pem";
/// Hub callback CA certificate file name: the CA of the hub's client certificate only.
pub const CALLBACK_CA_CERT_FILE: &str = "hub-callback-ca.pem";
/// Hub callback CA private key file name.
pub const CALLBACK_CA_KEY_FILE: &str = "hub-callback-ca.key";
/// Inventory file name. Written last by bootstrap: its presence marks a complete directory.
pub const INVENTORY_FILE: &str = "inventory.json";

/// Validity of a bootstrapped CA, in days (10 years).
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// Validity of bootstrapped and rotated hub server certificates, in days.
pub const DEFAULT_SERVER_DAYS: u32 = 397;
/// Validity of bootstrapped and rotated hub client certificates, in days.
pub const DEFAULT_CLIENT_DAYS: u32 = 397;
/// `nextUpdate` of every CRL written here, in days from now. Call [`PkiDir::refresh_crl`]
/// well before that (OpenSSL-based peers reject an expired CRL).
pub const CRL_NEXT_UPDATE_DAYS: u32 = 30;

const INVENTORY_VERSION: u32 = 1;
const KEY_MODE: u32 = 0o600;
const PUBLIC_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o700;

/// What a certificate in the inventory is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    /// The CA certificate itself.
    Ca,
    /// A TLS server certificate (the hub's own or one issued on request).
    Server,
    /// The hub's own client identity for outbound callbacks.
    HubClient,
    /// A participant (DFSP) client certificate.
    Participant,
    /// The hub callback CA: issues the hub's client certificate only.
    HubCallbackCa,
}

/// One issued certificate as recorded in `inventory.json`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// Serial number, lower-case hex.
    pub serial_hex: String,
    /// What it is for.
    pub purpose: Purpose,
    /// The participant it names ([`Purpose::Participant`] and [`Purpose::HubClient`]).
    pub participant: Option<String>,
    /// Subject common name.
    pub subject_cn: Option<String>,
    /// Whether it was signed from a participant's CSR (the hub never saw the private key).
    pub from_csr: bool,
    /// When it was issued (recorded, not `notBefore`).
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// End of validity.
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    /// Lower-case hex SHA-256 of the certificate DER.
    pub fingerprint_sha256_hex: String,
    /// When it was revoked, if it was.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    /// Why it was revoked, if it was.
    #[serde(default)]
    pub revocation_reason: Option<RevocationReason>,
}

impl InventoryEntry {
    /// Whether the certificate has been revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }

    /// Whether the certificate has expired at `at`.
    pub fn is_expired_at(&self, at: OffsetDateTime) -> bool {
        self.not_after < at
    }

    /// Neither revoked nor expired at `at`.
    pub fn is_active_at(&self, at: OffsetDateTime) -> bool {
        !self.is_revoked() && !self.is_expired_at(at)
    }

    /// Whole days from `at` until expiry (negative once expired).
    pub fn days_until_expiry(&self, at: OffsetDateTime) -> i64 {
        // The difference of two representable instants (at most ±2 × 999,999 years, about
        // ±6.3e13 s) always fits `Duration`'s i64 seconds; `time` has no checked form of it.
        #[allow(clippy::arithmetic_side_effects)]
        let remaining = self.not_after - at;
        remaining.whole_days()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Inventory {
    version: u32,
    hub_name: String,
    crl_number: u64,
    entries: Vec<InventoryEntry>,
}

/// An opened PKI directory: the CA plus the inventory. See the [module docs](self).
pub struct PkiDir {
    root: PathBuf,
    ca: CertificateAuthority,
    inventory: Inventory,
    /// The hub callback CA (absent in a directory from before it existed, until
    /// [`PkiDir::ensure_callback_ca`]).
    callback_ca: Option<CertificateAuthority>,
}

impl std::fmt::Debug for PkiDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PkiDir")
            .field("root", &self.root)
            .field("hub_name", &self.inventory.hub_name)
            .field("ca", &self.ca)
            .field("crl_number", &self.inventory.crl_number)
            .field("entries", &self.inventory.entries.len())
            .finish()
    }
}

impl PkiDir {
    /// Opens an initialised directory. Fails with [`Error::NotInitialized`] if the inventory,
    /// the CA certificate or the CA key is missing; never creates anything.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        for required in [INVENTORY_FILE, CA_CERT_FILE, CA_KEY_FILE] {
            if !exists(&root.join(required))? {
                return Err(Error::NotInitialized {
                    dir: root,
                    missing: required,
                });
            }
        }
        let ca = CertificateAuthority::from_pem(
            &read_string(&root.join(CA_CERT_FILE))?,
            &read_string(&root.join(CA_KEY_FILE))?,
        )?;
        let inventory_path = root.join(INVENTORY_FILE);
        let bytes = fs::read(&inventory_path).map_err(io_error(&inventory_path))?;
        let mut inventory: Inventory = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Inventory(format!("{}: {e}", inventory_path.display())))?;
        if inventory.version != INVENTORY_VERSION {
            return Err(Error::Inventory(format!(
                "unsupported inventory version {}",
                inventory.version
            )));
        }
        let ca_serial = &ca.info().serial_hex;
        if !inventory
            .entries
            .iter()
            .any(|e| e.purpose == Purpose::Ca && &e.serial_hex == ca_serial)
        {
            return Err(Error::Inventory(format!(
                "inventory does not record the CA certificate {ca_serial} found in {CA_CERT_FILE}"
            )));
        }
        // If a CRL write went through but the inventory write after it did not, the CRL on
        // disk carries a higher number; never reuse it.
        let crl_path = root.join(CRL_FILE);
        if exists(&crl_path)? {
            let crl = ca.verify_crl(&read_string(&crl_path)?)?;
            if let Some(number) = crl.crl_number {
                inventory.crl_number = inventory.crl_number.max(number);
            }
        }
        let callback_ca = load_callback_ca(&root)?;
        Ok(Self {
            root,
            ca,
            inventory,
            callback_ca,
        })
    }

    /// Creates a new PKI directory: CA, hub server certificate (SANs = `server_names` plus
    /// `localhost` and `127.0.0.1`; names that parse as IP addresses become IP SANs), hub
    /// client certificate (CN = `hub_name`), an empty CRL with number 1 and the inventory.
    ///
    /// `hub_name` must be a valid participant name. The directory is created (mode 0700) if
    /// needed; if any of the files already exists nothing is overwritten and
    /// [`Error::PartiallyInitialized`] is returned.
    pub fn bootstrap(
        path: impl AsRef<Path>,
        hub_name: &str,
        server_names: &[String],
    ) -> Result<Self> {
        let root = path.as_ref().to_path_buf();
        validate_participant(hub_name)?;
        DirBuilder::new()
            .recursive(true)
            .mode(DIR_MODE)
            .create(&root)
            .map_err(io_error(&root))?;
        for file in [
            INVENTORY_FILE,
            CA_CERT_FILE,
            CA_KEY_FILE,
            SERVER_CERT_FILE,
            SERVER_KEY_FILE,
            CLIENT_CERT_FILE,
            CLIENT_KEY_FILE,
            CRL_FILE,
            CALLBACK_CA_CERT_FILE,
            CALLBACK_CA_KEY_FILE,
        ] {
            if exists(&root.join(file))? {
                return Err(Error::PartiallyInitialized {
                    dir: root,
                    existing: file,
                });
            }
        }

        let ca = CertificateAuthority::create(&format!("{hub_name} Hub CA"), DEFAULT_CA_DAYS)?;
        let (dns, ips) = split_server_names(server_names, true)?;
        let server = ca.issue_server(&dns, &ips, DEFAULT_SERVER_DAYS)?;
        let callback_ca =
            CertificateAuthority::create(&format!("{hub_name} Hub Callback CA"), DEFAULT_CA_DAYS)?;
        let client = callback_ca.issue_client(hub_name, DEFAULT_CLIENT_DAYS)?;
        let crl = ca.crl_pem(&[], 1, CRL_NEXT_UPDATE_DAYS)?;

        let issued_at = now();
        let ca_info = ca.info();
        let ca_entry = InventoryEntry {
            serial_hex: ca_info.serial_hex.clone(),
            purpose: Purpose::Ca,
            participant: None,
            subject_cn: ca_info.subject_cn.clone(),
            from_csr: false,
            issued_at,
            not_after: ca_info.not_after,
            fingerprint_sha256_hex: ca_info.fingerprint_sha256_hex.clone(),
            revoked_at: None,
            revocation_reason: None,
        };
        let inventory = Inventory {
            version: INVENTORY_VERSION,
            hub_name: hub_name.to_string(),
            crl_number: 1,
            entries: vec![
                ca_entry,
                entry_for(&server, Purpose::Server, None, false, issued_at)?,
                entry_for(
                    &client,
                    Purpose::HubClient,
                    Some(hub_name),
                    false,
                    issued_at,
                )?,
                ca_entry_for(&callback_ca, Purpose::HubCallbackCa, issued_at),
            ],
        };

        write_new(&root.join(CA_KEY_FILE), ca.key_pem().as_bytes(), KEY_MODE)?;
        write_new(
            &root.join(CA_CERT_FILE),
            ca.cert_pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        write_new(&root.join(SERVER_KEY_FILE), secret(&server)?, KEY_MODE)?;
        write_new(
            &root.join(SERVER_CERT_FILE),
            server.cert_pem.as_bytes(),
            PUBLIC_MODE,
        )?;
        write_new(&root.join(CLIENT_KEY_FILE), secret(&client)?, KEY_MODE)?;
        write_new(
            &root.join(CLIENT_CERT_FILE),
            client.cert_pem.as_bytes(),
            PUBLIC_MODE,
        )?;
        write_new(&root.join(CRL_FILE), crl.as_bytes(), PUBLIC_MODE)?;
        write_new(
            &root.join(CALLBACK_CA_KEY_FILE),
            callback_ca.key_pem().as_bytes(),
            KEY_MODE,
        )?;
        write_new(
            &root.join(CALLBACK_CA_CERT_FILE),
            callback_ca.cert_pem().as_bytes(),
            PUBLIC_MODE,
        )?;
        write_new(
            &root.join(INVENTORY_FILE),
            &inventory_json(&inventory)?,
            PUBLIC_MODE,
        )?;
        sync_dir(&root)?;

        Ok(Self {
            root,
            ca,
            inventory,
            callback_ca: Some(callback_ca),
        })
    }

    /// [`open`](Self::open)s the directory if `inventory.json` exists, otherwise
    /// [`bootstrap`](Self::bootstrap)s it. An existing directory is opened as it is:
    /// `hub_name` and `server_names` are then not checked against it.
    pub fn open_or_bootstrap(
        path: impl AsRef<Path>,
        hub_name: &str,
        server_names: &[String],
    ) -> Result<Self> {
        let path = path.as_ref();
        if exists(&path.join(INVENTORY_FILE))? {
            let mut dir = Self::open(path)?;
            dir.ensure_callback_ca()?;
            Ok(dir)
        } else {
            Self::bootstrap(path, hub_name, server_names)
        }
    }

    /// Gives a directory from before the hub callback CA existed its callback CA, and makes
    /// sure the hub's client certificate is issued by it (re-issuing `client.pem`/`client.key`
    /// when it is not, e.g. still from `ca.pem`). Returns whether anything changed. Safe to
    /// repeat after a crash at any point: each step is checked again on the next call.
    pub fn ensure_callback_ca(&mut self) -> Result<bool> {
        let mut changed = false;
        if self.callback_ca.is_none() {
            let callback_ca = CertificateAuthority::create(
                &format!("{} Hub Callback CA", self.inventory.hub_name),
                DEFAULT_CA_DAYS,
            )?;
            // Key first: the CA counts as present only once its certificate is there too.
            write_atomic(
                &self.root.join(CALLBACK_CA_KEY_FILE),
                callback_ca.key_pem().as_bytes(),
                KEY_MODE,
            )?;
            write_atomic(
                &self.root.join(CALLBACK_CA_CERT_FILE),
                callback_ca.cert_pem().as_bytes(),
                PUBLIC_MODE,
            )?;
            let mut next = self.inventory.clone();
            next.entries
                .push(ca_entry_for(&callback_ca, Purpose::HubCallbackCa, now()));
            self.save_inventory(&next)?;
            self.inventory = next;
            self.callback_ca = Some(callback_ca);
            changed = true;
        }
        if let Some(callback_ca) = &self.callback_ca {
            let serial = &callback_ca.info().serial_hex;
            if !self
                .inventory
                .entries
                .iter()
                .any(|e| e.purpose == Purpose::HubCallbackCa && &e.serial_hex == serial)
            {
                // Its files were written but the inventory was not (a crash in between).
                let mut next = self.inventory.clone();
                next.entries
                    .push(ca_entry_for(callback_ca, Purpose::HubCallbackCa, now()));
                self.save_inventory(&next)?;
                self.inventory = next;
                changed = true;
            }
        }
        let client_pem = match read_string(&self.client_cert_path()) {
            Ok(pem) => Some(pem),
            Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let from_callback_ca = match (&self.callback_ca, client_pem) {
            (Some(callback_ca), Some(pem)) => callback_ca.verify_issued(&pem).is_ok(),
            _ => false,
        };
        if !from_callback_ca {
            self.rotate_hub_client(DEFAULT_CLIENT_DAYS)?;
            changed = true;
        }
        Ok(changed)
    }

    /// Issues a participant client certificate (see [`CertificateAuthority::issue_client`])
    /// and records it. The returned private key is not stored anywhere: deliver it to the
    /// participant securely.
    pub fn issue_client(&mut self, participant: &str, days: u32) -> Result<IssuedCertificate> {
        let issued = self.ca.issue_client(participant, days)?;
        self.record(&issued, Purpose::Participant, Some(participant), false)?;
        Ok(issued)
    }

    /// Signs a participant's CSR (see [`CertificateAuthority::sign_csr`]: only its public key
    /// is used) and records the certificate.
    pub fn sign_csr(
        &mut self,
        csr_pem: &str,
        participant: &str,
        days: u32,
    ) -> Result<IssuedCertificate> {
        let issued = self.ca.sign_csr(csr_pem, participant, days)?;
        self.record(&issued, Purpose::Participant, Some(participant), true)?;
        Ok(issued)
    }

    /// Issues a server certificate for exactly `names` (DNS names, or IP addresses written as
    /// text) and records it. Does not touch `server.pem`; see
    /// [`rotate_server`](Self::rotate_server) for that.
    pub fn issue_server(&mut self, names: &[String], days: u32) -> Result<IssuedCertificate> {
        let (dns, ips) = split_server_names(names, false)?;
        let issued = self.ca.issue_server(&dns, &ips, days)?;
        self.record(&issued, Purpose::Server, None, false)?;
        Ok(issued)
    }

    /// Replaces the hub's `server.pem`/`server.key` with a new certificate (SANs = `names`
    /// plus `localhost` and `127.0.0.1`) and records it. The old certificate is not revoked.
    /// The returned `key_pem` is `None`: the key is only in `server.key`.
    pub fn rotate_server(&mut self, names: &[String], days: u32) -> Result<IssuedCertificate> {
        let (dns, ips) = split_server_names(names, true)?;
        let issued = self.ca.issue_server(&dns, &ips, days)?;
        self.record(&issued, Purpose::Server, None, false)?;
        self.replace_pair(&issued, SERVER_CERT_FILE, SERVER_KEY_FILE)?;
        Ok(IssuedCertificate {
            key_pem: None,
            ..issued
        })
    }

    /// Replaces the hub's `client.pem`/`client.key` with a new certificate for the hub name,
    /// issued by the hub callback CA (by the main CA in a directory that has none yet), and
    /// records it. The old certificate is not revoked. `key_pem` of the result is `None`.
    pub fn rotate_hub_client(&mut self, days: u32) -> Result<IssuedCertificate> {
        let hub_name = self.inventory.hub_name.clone();
        // From the hub callback CA when there is one (see the module docs).
        let issuer = self.callback_ca.as_ref().unwrap_or(&self.ca);
        let issued = issuer.issue_client(&hub_name, days)?;
        self.record(&issued, Purpose::HubClient, Some(&hub_name), false)?;
        self.replace_pair(&issued, CLIENT_CERT_FILE, CLIENT_KEY_FILE)?;
        Ok(IssuedCertificate {
            key_pem: None,
            ..issued
        })
    }

    /// Revokes a recorded certificate with reason unspecified; see
    /// [`revoke_with_reason`](Self::revoke_with_reason).
    pub fn revoke(&mut self, serial_hex: &str) -> Result<()> {
        self.revoke_with_reason(serial_hex, RevocationReason::Unspecified)
    }

    /// Revokes a recorded certificate: records `revoked_at` and the reason, and rewrites
    /// `crl.pem` with the CRL number incremented. Errors: [`Error::UnknownSerial`] if the
    /// serial is not in the inventory, [`Error::AlreadyRevoked`], [`Error::CannotRevokeCa`].
    pub fn revoke_with_reason(&mut self, serial_hex: &str, reason: RevocationReason) -> Result<()> {
        let serial = normalize_serial_hex(serial_hex)?;
        let mut next = self.inventory.clone();
        let entry = next
            .entries
            .iter_mut()
            .find(|e| e.serial_hex == serial)
            .ok_or_else(|| Error::UnknownSerial(serial.clone()))?;
        if matches!(entry.purpose, Purpose::Ca | Purpose::HubCallbackCa) {
            return Err(Error::CannotRevokeCa(serial));
        }
        if entry.is_revoked() {
            return Err(Error::AlreadyRevoked(serial));
        }
        entry.revoked_at = Some(now());
        entry.revocation_reason = Some(reason);
        self.publish_crl(next)
    }

    /// Re-signs the CRL with the same revocations, the next CRL number and a fresh
    /// `nextUpdate`. Returns the new CRL number.
    pub fn refresh_crl(&mut self) -> Result<u64> {
        self.publish_crl(self.inventory.clone())?;
        Ok(self.inventory.crl_number)
    }

    /// Every recorded certificate (CA included), in issue order, with expiry and revocation.
    pub fn list(&self) -> Vec<InventoryEntry> {
        self.inventory.entries.clone()
    }

    /// The entry for a serial number (any spelling [`normalize_serial_hex`] accepts).
    pub fn find_serial(&self, serial_hex: &str) -> Option<&InventoryEntry> {
        let serial = normalize_serial_hex(serial_hex).ok()?;
        self.inventory
            .entries
            .iter()
            .find(|e| e.serial_hex == serial)
    }

    /// The entry for a certificate fingerprint (lower- or upper-case hex SHA-256), e.g. to map
    /// a TLS peer to its participant.
    pub fn find_fingerprint(&self, fingerprint_sha256_hex: &str) -> Option<&InventoryEntry> {
        self.inventory.entries.iter().find(|e| {
            e.fingerprint_sha256_hex
                .eq_ignore_ascii_case(fingerprint_sha256_hex)
        })
    }

    /// The CA.
    pub fn ca(&self) -> &CertificateAuthority {
        &self.ca
    }

    /// The hub callback CA, which issues only the hub's client certificate (`None` in a
    /// directory from before it existed, until [`ensure_callback_ca`](Self::ensure_callback_ca)).
    pub fn callback_ca(&self) -> Option<&CertificateAuthority> {
        self.callback_ca.as_ref()
    }

    /// `hub-callback-ca.pem`: what a DFSP's inbound server trusts for client certificates.
    pub fn callback_ca_cert_path(&self) -> PathBuf {
        self.root.join(CALLBACK_CA_CERT_FILE)
    }

    /// The hub name given at bootstrap.
    pub fn hub_name(&self) -> &str {
        &self.inventory.hub_name
    }

    /// The number of the current `crl.pem`.
    pub fn crl_number(&self) -> u64 {
        self.inventory.crl_number
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `ca.pem`.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.root.join(CA_CERT_FILE)
    }

    /// `ca.key` (secret).
    pub fn ca_key_path(&self) -> PathBuf {
        self.root.join(CA_KEY_FILE)
    }

    /// `server.pem`.
    pub fn server_cert_path(&self) -> PathBuf {
        self.root.join(SERVER_CERT_FILE)
    }

    /// `server.key` (secret).
    pub fn server_key_path(&self) -> PathBuf {
        self.root.join(SERVER_KEY_FILE)
    }

    /// `client.pem`.
    pub fn client_cert_path(&self) -> PathBuf {
        self.root.join(CLIENT_CERT_FILE)
    }

    /// `client.key` (secret).
    pub fn client_key_path(&self) -> PathBuf {
        self.root.join(CLIENT_KEY_FILE)
    }

    /// `crl.pem`.
    pub fn crl_path(&self) -> PathBuf {
        self.root.join(CRL_FILE)
    }

    /// `inventory.json`.
    pub fn inventory_path(&self) -> PathBuf {
        self.root.join(INVENTORY_FILE)
    }

    /// Appends an entry and persists the inventory; on failure the entry is dropped again, so
    /// a certificate is only handed out once it is recorded.
    fn record(
        &mut self,
        issued: &IssuedCertificate,
        purpose: Purpose,
        participant: Option<&str>,
        from_csr: bool,
    ) -> Result<()> {
        let entry = entry_for(issued, purpose, participant, from_csr, now())?;
        self.inventory.entries.push(entry);
        if let Err(e) = self.save_inventory(&self.inventory) {
            self.inventory.entries.pop();
            return Err(e);
        }
        Ok(())
    }

    /// Writes `crl.pem` for `next` with the next CRL number, then the inventory.
    fn publish_crl(&mut self, mut next: Inventory) -> Result<()> {
        next.crl_number = self
            .inventory
            .crl_number
            .checked_add(1)
            .ok_or_else(|| Error::Inventory("crl_number is at its maximum".to_owned()))?;
        let revoked: Vec<Revoked> = next
            .entries
            .iter()
            .filter_map(|e| {
                Some(Revoked {
                    serial_hex: e.serial_hex.clone(),
                    revoked_at: e.revoked_at?,
                    reason: e.revocation_reason.unwrap_or_default(),
                })
            })
            .collect();
        let crl = self
            .ca
            .crl_pem(&revoked, next.crl_number, CRL_NEXT_UPDATE_DAYS)?;
        write_atomic(&self.crl_path(), crl.as_bytes(), PUBLIC_MODE)?;
        // The number is used up once the CRL is on disk, whatever happens next.
        self.inventory.crl_number = next.crl_number;
        self.save_inventory(&next)?;
        self.inventory = next;
        Ok(())
    }

    fn replace_pair(
        &self,
        issued: &IssuedCertificate,
        cert_file: &str,
        key_file: &str,
    ) -> Result<()> {
        write_atomic(&self.root.join(key_file), secret(issued)?, KEY_MODE)?;
        write_atomic(
            &self.root.join(cert_file),
            issued.cert_pem.as_bytes(),
            PUBLIC_MODE,
        )
    }

    fn save_inventory(&self, inventory: &Inventory) -> Result<()> {
        write_atomic(
            &self.inventory_path(),
            &inventory_json(inventory)?,
            PUBLIC_MODE,
        )
    }
}

fn entry_for(
    issued: &IssuedCertificate,
    purpose: Purpose,
    participant: Option<&str>,
    from_csr: bool,
    issued_at: OffsetDateTime,
) -> Result<InventoryEntry> {
    let info = inspect(&issued.cert_pem)?;
    Ok(InventoryEntry {
        serial_hex: issued.serial_hex.clone(),
        purpose,
        participant: participant.map(str::to_string),
        subject_cn: info.subject_cn,
        from_csr,
        issued_at,
        not_after: issued.not_after,
        fingerprint_sha256_hex: issued.fingerprint_sha256_hex.clone(),
        revoked_at: None,
        revocation_reason: None,
    })
}

fn ca_entry_for(
    ca: &CertificateAuthority,
    purpose: Purpose,
    issued_at: OffsetDateTime,
) -> InventoryEntry {
    let info = ca.info();
    InventoryEntry {
        serial_hex: info.serial_hex.clone(),
        purpose,
        participant: None,
        subject_cn: info.subject_cn.clone(),
        from_csr: false,
        issued_at,
        not_after: info.not_after,
        fingerprint_sha256_hex: info.fingerprint_sha256_hex.clone(),
        revoked_at: None,
        revocation_reason: None,
    }
}

/// The hub callback CA, when both its files are there (a key without its certificate is what
/// a crash in [`PkiDir::ensure_callback_ca`] leaves: it is made again).
fn load_callback_ca(root: &Path) -> Result<Option<CertificateAuthority>> {
    let (cert, key) = (
        root.join(CALLBACK_CA_CERT_FILE),
        root.join(CALLBACK_CA_KEY_FILE),
    );
    if !exists(&cert)? || !exists(&key)? {
        return Ok(None);
    }
    Ok(Some(CertificateAuthority::from_pem(
        &read_string(&cert)?,
        &read_string(&key)?,
    )?))
}

/// Splits server names into DNS names and IP addresses; with `local`, adds `localhost` and
/// `127.0.0.1` (the CA drops duplicates).
fn split_server_names(names: &[String], local: bool) -> Result<(Vec<String>, Vec<IpAddr>)> {
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in names {
        match name.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => dns.push(name.clone()),
        }
    }
    if local {
        dns.push("localhost".to_string());
        ips.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
    }
    Ok((dns, ips))
}

fn secret(issued: &IssuedCertificate) -> Result<&[u8]> {
    issued
        .key_pem
        .as_deref()
        .map(str::as_bytes)
        .ok_or_else(|| Error::Inventory("internal: issued certificate without a key".into()))
}

fn inventory_json(inventory: &Inventory) -> Result<Vec<u8>> {
    let mut json = serde_json::to_vec_pretty(inventory)
        .map_err(|e| Error::Inventory(format!("serialising: {e}")))?;
    json.push(b'\n');
    Ok(json)
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(path)(e)),
    }
}

fn read_string(path: &Path) -> Result<String> {
    fs::read_to_string(path).map_err(io_error(path))
}

/// Creates `path` (which must not exist) with `mode` from the start and writes `contents`.
fn write_new(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io_error(path))?;
    file.write_all(contents).map_err(io_error(path))?;
    file.sync_all().map_err(io_error(path))
}

/// Replaces `path` atomically: writes `<path>.tmp` (created fresh with `mode`), then renames.
fn write_atomic(path: &Path, contents: &[u8], mode: u32) -> Result<()> {
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&tmp)(e)),
    }
    write_new(&tmp, contents, mode)?;
    fs::rename(&tmp, path).map_err(io_error(path))?;
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn write_atomic_replaces_and_keeps_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.key");
        write_atomic(&path, b"one", KEY_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        assert_eq!(mode(&path), 0o600);
        // A stale temp file from a crash is replaced, not reused.
        fs::write(dir.path().join("x.key.tmp"), b"stale").unwrap();
        write_atomic(&path, b"two", KEY_MODE).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(mode(&path), 0o600);
        assert!(!dir.path().join("x.key.tmp").exists());
        assert!(write_new(&path, b"three", KEY_MODE).is_err());
    }

    #[test]
    fn server_names_split_and_local_names() {
        let (dns, ips) =
            split_server_names(&["hub.example".into(), "10.0.0.5".into()], true).unwrap();
        assert_eq!(dns, ["hub.example", "localhost"]);
        assert_eq!(
            ips,
            [
                "10.0.0.5".parse::<IpAddr>().unwrap(),
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            ]
        );
        let (dns, ips) = split_server_names(&[], false).unwrap();
        assert!(dns.is_empty() && ips.is_empty());
    }

    #[test]
    fn inventory_entry_expiry_helpers() {
        let at = now();
        let entry = InventoryEntry {
            serial_hex: "01".into(),
            purpose: Purpose::Participant,
            participant: Some("dfsp1".into()),
            subject_cn: Some("dfsp1".into()),
            from_csr: false,
            issued_at: at,
            not_after: at + time::Duration::days(3),
            fingerprint_sha256_hex: "00".into(),
            revoked_at: None,
            revocation_reason: None,
        };
        assert!(entry.is_active_at(at));
        assert_eq!(entry.days_until_expiry(at), 3);
        assert!(entry.is_expired_at(at + time::Duration::days(4)));
        let json = serde_json::to_string(&entry).unwrap();
        assert!(json.contains("\"purpose\":\"participant\""));
        assert!(json.contains("\"revoked_at\":null"));
        let back: InventoryEntry = serde_json::from_str(&json).unwrap();
        assert_eq!(back, entry);
    }
}
