//! End-to-end tests of the PKI directory, cross-checked with the system `openssl` CLI as an
//! independent verifier. Set `FERROLOOP_SKIP_OPENSSL=1` to skip the OpenSSL cross-checks on a
//! machine without it (the Rust-side assertions still run).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use pki::dir::{self, PkiDir, Purpose};
use pki::{CertificateAuthority, Error, inspect, inspect_crl};

fn skip_openssl() -> bool {
    std::env::var_os("FERROLOOP_SKIP_OPENSSL").is_some_and(|v| v == "1")
}

/// Runs `openssl` in `dir`; returns (success, stdout + stderr).
fn openssl(dir: &Path, args: &[&str]) -> Option<(bool, String)> {
    if skip_openssl() {
        return None;
    }
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI is needed for cross-checks (FERROLOOP_SKIP_OPENSSL=1 skips)");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    Some((out.status.success(), text))
}

fn assert_openssl_ok(dir: &Path, args: &[&str]) -> String {
    match openssl(dir, args) {
        Some((ok, text)) => {
            assert!(ok, "openssl {args:?} failed:\n{text}");
            text
        }
        None => String::new(),
    }
}

fn assert_openssl_fails(dir: &Path, args: &[&str], expect: &str) {
    if let Some((ok, text)) = openssl(dir, args) {
        assert!(!ok, "openssl {args:?} unexpectedly succeeded:\n{text}");
        assert!(
            text.contains(expect),
            "openssl {args:?}: expected {expect:?} in:\n{text}"
        );
    }
}

/// `openssl verify` against the directory's CA; with `crl`, also checks the CRL.
fn verify_args<'a>(cert: &'a str, crl: bool, purpose: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["verify", "-CAfile", dir::CA_CERT_FILE];
    if crl {
        args.extend(["-crl_check", "-CRLfile", dir::CRL_FILE]);
    }
    if let Some(purpose) = purpose {
        args.extend(["-purpose", purpose]);
    }
    args.push(cert);
    args
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn ca_round_trips_through_pem_and_openssl_accepts_its_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let ca = CertificateAuthority::create("Round Trip Hub CA", 365).unwrap();
    let reloaded = CertificateAuthority::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
    assert_eq!(reloaded.cert_pem(), ca.cert_pem());
    assert_eq!(reloaded.info(), ca.info());

    let issued = reloaded.issue_client("payerfsp", 30).unwrap();
    let info = ca.verify_issued(&issued.cert_pem).unwrap();
    assert_eq!(info.issuer_cn.as_deref(), Some("Round Trip Hub CA"));

    fs::write(tmp.path().join("ca.pem"), ca.cert_pem()).unwrap();
    fs::write(tmp.path().join("payerfsp.pem"), &issued.cert_pem).unwrap();
    let out = assert_openssl_ok(
        tmp.path(),
        &verify_args("payerfsp.pem", false, Some("sslclient")),
    );
    assert!(skip_openssl() || out.contains("payerfsp.pem: OK"), "{out}");
    // OpenSSL reads back our CA profile.
    let text = assert_openssl_ok(tmp.path(), &["x509", "-in", "ca.pem", "-noout", "-text"]);
    if !skip_openssl() {
        assert!(text.contains("CA:TRUE, pathlen:0"), "{text}");
        assert!(text.contains("Certificate Sign, CRL Sign"), "{text}");
    }
    // The PKCS#8 key from key_pem() is readable by OpenSSL too.
    fs::write(tmp.path().join("ca.key"), ca.key_pem()).unwrap();
    assert_openssl_ok(tmp.path(), &["pkey", "-in", "ca.key", "-noout"]);

    // A certificate from another CA does not chain.
    let other = CertificateAuthority::create("Other CA", 30).unwrap();
    fs::write(
        tmp.path().join("foreign.pem"),
        other.issue_client("payerfsp", 5).unwrap().cert_pem,
    )
    .unwrap();
    assert_openssl_fails(
        tmp.path(),
        &verify_args("foreign.pem", false, None),
        "unable to get local issuer certificate",
    );
    assert!(matches!(
        ca.verify_issued(&fs::read_to_string(tmp.path().join("foreign.pem")).unwrap()),
        Err(Error::NotIssuedByCa(_))
    ));
}

#[test]
fn an_openssl_made_ca_can_be_loaded_and_used() {
    if skip_openssl() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    assert_openssl_ok(
        root,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "30",
            "-subj",
            "/O=External/CN=External Root",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let cert_pem = fs::read_to_string(root.join("ca.pem")).unwrap();
    let key_pem = fs::read_to_string(root.join("ca.key")).unwrap();
    let ca = CertificateAuthority::from_pem(&cert_pem, &key_pem).unwrap();
    assert_eq!(ca.info().subject_cn.as_deref(), Some("External Root"));

    let good = ca.issue_client("dfspa", 10).unwrap();
    let bad = ca.issue_client("dfspb", 10).unwrap();
    assert!(matches!(
        ca.issue_client("dfspa", 31),
        Err(Error::ValidityExceedsCa { .. })
    ));
    fs::write(root.join("good.pem"), &good.cert_pem).unwrap();
    fs::write(root.join("bad.pem"), &bad.cert_pem).unwrap();
    let crl = ca
        .crl_pem(
            &[pki::Revoked::new(
                bad.serial_hex.clone(),
                time::OffsetDateTime::now_utc(),
            )],
            5,
            7,
        )
        .unwrap();
    fs::write(root.join("crl.pem"), crl).unwrap();
    // OpenSSL's own SHA-1 subjectKeyIdentifier is reused as the certificates' and the CRL's
    // authorityKeyIdentifier, so path building and the CRL check both work.
    assert_openssl_ok(root, &verify_args("good.pem", true, Some("sslclient")));
    assert_openssl_fails(
        root,
        &verify_args("bad.pem", true, None),
        "certificate revoked",
    );

    // A SEC1 ("EC PRIVATE KEY") key is refused rather than mislabelled later.
    assert_openssl_ok(root, &["ec", "-in", "ca.key", "-out", "sec1.key"]);
    let sec1 = fs::read_to_string(root.join("sec1.key")).unwrap();
    assert!(sec1.contains("BEGIN EC PRIVATE KEY"));
    assert!(matches!(
        CertificateAuthority::from_pem(&cert_pem, &sec1),
        Err(Error::PrivateKey)
    ));
}

#[test]
fn bootstrap_creates_the_directory_with_private_keys_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pki");
    assert!(matches!(
        PkiDir::open(&root),
        Err(Error::NotInitialized {
            missing: "inventory.json",
            ..
        })
    ));

    let pki =
        PkiDir::open_or_bootstrap(&root, "hub", &names(&["hub.example", "10.9.8.7"])).unwrap();
    assert_eq!(mode(&root), 0o700);
    for key in [
        pki.ca_key_path(),
        pki.server_key_path(),
        pki.client_key_path(),
    ] {
        assert_eq!(mode(&key), 0o600, "{}", key.display());
        let text = fs::read_to_string(&key).unwrap();
        assert!(text.starts_with("-----BEGIN PRIVATE KEY-----"));
    }
    for public in [
        pki.ca_cert_path(),
        pki.server_cert_path(),
        pki.client_cert_path(),
        pki.crl_path(),
        pki.inventory_path(),
    ] {
        assert!(public.is_file(), "{}", public.display());
        assert_eq!(mode(&public) & 0o077 & !0o044, 0, "{}", public.display());
    }
    let leftovers: Vec<_> = fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Inventory: CA, server, hub client.
    let list = pki.list();
    let purposes: Vec<Purpose> = list.iter().map(|e| e.purpose).collect();
    assert_eq!(
        purposes,
        [
            Purpose::Ca,
            Purpose::Server,
            Purpose::HubClient,
            Purpose::HubCallbackCa
        ]
    );
    assert!(list.iter().all(|e| !e.is_revoked()));
    assert_eq!(list[2].participant.as_deref(), Some("hub"));

    // Hub client identity: CN = hub name.
    let client = inspect(&fs::read_to_string(pki.client_cert_path()).unwrap()).unwrap();
    assert_eq!(client.subject_cn.as_deref(), Some("hub"));
    assert_eq!(client.participant.as_deref(), Some("hub"));
    assert_eq!(client.serial_hex, list[2].serial_hex);

    // Empty CRL, number 1.
    let crl = pki
        .ca()
        .verify_crl(&fs::read_to_string(pki.crl_path()).unwrap())
        .unwrap();
    assert_eq!(crl.crl_number, Some(1));
    assert!(crl.revoked.is_empty());
    assert_eq!(pki.crl_number(), 1);

    // OpenSSL: server and client chain with the right purposes, CRL check passes, SANs.
    assert_openssl_ok(&root, &verify_args("server.pem", true, Some("sslserver")));
    // The hub's client certificate comes from the hub callback CA, not from the CA of the
    // DFSPs' certificates: a DFSP inbound server trusting the callback CA lets in the hub only.
    assert_openssl_ok(
        &root,
        &[
            "verify",
            "-CAfile",
            dir::CALLBACK_CA_CERT_FILE,
            "-purpose",
            "sslclient",
            "client.pem",
        ],
    );
    assert_openssl_fails(
        &root,
        &verify_args("client.pem", false, Some("sslclient")),
        "unable to get local issuer certificate",
    );
    assert_eq!(mode(&pki.callback_ca_cert_path()), 0o644);
    assert_eq!(mode(&root.join(dir::CALLBACK_CA_KEY_FILE)), 0o600);
    assert_openssl_fails(
        &root,
        &verify_args("server.pem", false, Some("sslclient")),
        "unsuitable certificate purpose",
    );
    let san = assert_openssl_ok(
        &root,
        &[
            "x509",
            "-in",
            "server.pem",
            "-noout",
            "-ext",
            "subjectAltName",
        ],
    );
    if !skip_openssl() {
        for expected in [
            "DNS:hub.example",
            "DNS:localhost",
            "IP Address:10.9.8.7",
            "IP Address:127.0.0.1",
        ] {
            assert!(san.contains(expected), "{expected} not in {san}");
        }
    }
    // Server key matches server certificate.
    if !skip_openssl() {
        let from_cert =
            assert_openssl_ok(&root, &["x509", "-in", "server.pem", "-noout", "-pubkey"]);
        let from_key = assert_openssl_ok(&root, &["pkey", "-in", "server.key", "-pubout"]);
        assert_eq!(from_cert, from_key);
    }

    // A second open_or_bootstrap opens the same CA instead of creating another.
    let ca_fingerprint = pki.ca().info().fingerprint_sha256_hex.clone();
    drop(pki);
    let again = PkiDir::open_or_bootstrap(&root, "other", &[]).unwrap();
    assert_eq!(again.ca().info().fingerprint_sha256_hex, ca_fingerprint);
    assert_eq!(again.hub_name(), "hub");
    assert_eq!(again.list().len(), 4);
    // Explicit bootstrap over an existing directory refuses.
    assert!(matches!(
        PkiDir::bootstrap(&root, "hub", &[]),
        Err(Error::PartiallyInitialized {
            existing: "inventory.json",
            ..
        })
    ));
}

#[test]
fn bootstrap_never_overwrites_leftovers() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join(dir::CA_KEY_FILE), b"precious").unwrap();
    assert!(matches!(
        PkiDir::open_or_bootstrap(tmp.path(), "hub", &[]),
        Err(Error::PartiallyInitialized {
            existing: "ca.key",
            ..
        })
    ));
    assert_eq!(
        fs::read(tmp.path().join(dir::CA_KEY_FILE)).unwrap(),
        b"precious"
    );
    assert!(matches!(
        PkiDir::bootstrap(tmp.path().join("x"), "not a name", &[]),
        Err(Error::InvalidParticipant(_))
    ));
}

#[test]
fn issued_client_certificates_chain_and_are_recorded() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pki = PkiDir::bootstrap(tmp.path(), "hub", &names(&["hub.example"])).unwrap();
    let issued = pki.issue_client("payerfsp", 90).unwrap();
    assert_eq!(issued.serial_hex.len(), 32);
    let key_pem = issued.key_pem.as_deref().unwrap();

    // Recorded, findable by serial and fingerprint, not stored as a key anywhere.
    let entry = pki
        .find_serial(&issued.serial_hex.to_uppercase())
        .unwrap()
        .clone();
    assert_eq!(entry.purpose, Purpose::Participant);
    assert_eq!(entry.participant.as_deref(), Some("payerfsp"));
    assert!(!entry.from_csr);
    assert_eq!(entry.not_after, issued.not_after);
    assert_eq!(
        pki.find_fingerprint(&issued.fingerprint_sha256_hex.to_uppercase()),
        Some(&entry)
    );
    let inventory = fs::read_to_string(pki.inventory_path()).unwrap();
    assert!(inventory.contains(&issued.serial_hex));
    assert!(!inventory.contains("PRIVATE KEY"));
    let body_line = key_pem.lines().nth(1).unwrap();
    for file in fs::read_dir(tmp.path()).unwrap() {
        let text = fs::read_to_string(file.unwrap().path()).unwrap();
        assert!(!text.contains(body_line), "participant key written to disk");
    }

    // Chains to the CA (x509-parser signature check and OpenSSL).
    let info = pki.ca().verify_issued(&issued.cert_pem).unwrap();
    assert_eq!(info.participant.as_deref(), Some("payerfsp"));
    fs::write(tmp.path().join("payerfsp.pem"), &issued.cert_pem).unwrap();
    fs::write(tmp.path().join("payerfsp.key"), key_pem).unwrap();
    let out = assert_openssl_ok(
        tmp.path(),
        &verify_args("payerfsp.pem", true, Some("sslclient")),
    );
    assert!(skip_openssl() || out.contains("payerfsp.pem: OK"), "{out}");
    let subject = assert_openssl_ok(
        tmp.path(),
        &[
            "x509",
            "-in",
            "payerfsp.pem",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    if !skip_openssl() {
        assert!(
            subject.contains("CN=payerfsp") || subject.contains("CN = payerfsp"),
            "{subject}"
        );
        assert!(
            subject.contains("URI:urn:ferroloop:participant:payerfsp"),
            "{subject}"
        );
    }

    // Survives a reopen.
    drop(pki);
    let pki = PkiDir::open(tmp.path()).unwrap();
    assert_eq!(pki.find_serial(&issued.serial_hex), Some(&entry));
    assert_eq!(pki.list().len(), 5);
}

#[test]
fn csr_signing_ignores_a_subject_claiming_another_participant() {
    let tmp = tempfile::tempdir().unwrap();
    let mut pki = PkiDir::bootstrap(tmp.path(), "hub", &[]).unwrap();

    if skip_openssl() {
        return;
    }
    // The participant makes its key and CSR with OpenSSL, claiming to be someone else in both
    // the subject and a requested SAN, and asking for serverAuth.
    assert_openssl_ok(
        tmp.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "dfspb.key",
            "-out",
            "dfspb.csr",
            "-subj",
            "/O=Evil/CN=payeefsp",
            "-addext",
            "subjectAltName=URI:urn:ferroloop:participant:payeefsp,DNS:hub.example",
            "-addext",
            "extendedKeyUsage=serverAuth,clientAuth",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
        ],
    );
    let csr = fs::read_to_string(tmp.path().join("dfspb.csr")).unwrap();
    let issued = pki.sign_csr(&csr, "dfspb", 30).unwrap();
    assert!(issued.key_pem.is_none());

    let info = inspect(&issued.cert_pem).unwrap();
    assert_eq!(info.subject_cn.as_deref(), Some("dfspb"));
    assert_eq!(info.participant.as_deref(), Some("dfspb"));
    assert!(!info.is_ca);
    let entry = pki.find_serial(&issued.serial_hex).unwrap();
    assert!(entry.from_csr);
    assert_eq!(entry.participant.as_deref(), Some("dfspb"));

    fs::write(tmp.path().join("dfspb.pem"), &issued.cert_pem).unwrap();
    assert_openssl_ok(
        tmp.path(),
        &verify_args("dfspb.pem", true, Some("sslclient")),
    );
    assert_openssl_fails(
        tmp.path(),
        &verify_args("dfspb.pem", false, Some("sslserver")),
        "unsuitable certificate purpose",
    );
    let text = assert_openssl_ok(tmp.path(), &["x509", "-in", "dfspb.pem", "-noout", "-text"]);
    assert!(!text.contains("payeefsp"), "{text}");
    assert!(!text.contains("Evil"), "{text}");
    assert!(!text.contains("hub.example"), "{text}");
    assert!(text.contains("CA:FALSE"), "{text}");
    assert!(
        text.contains("URI:urn:ferroloop:participant:dfspb"),
        "{text}"
    );
    // The certificate carries the CSR's public key (the participant's own key works with it).
    let from_cert = assert_openssl_ok(
        tmp.path(),
        &["x509", "-in", "dfspb.pem", "-noout", "-pubkey"],
    );
    let from_key = assert_openssl_ok(tmp.path(), &["pkey", "-in", "dfspb.key", "-pubout"]);
    assert_eq!(from_cert, from_key);

    // A CSR whose signature does not verify is refused and nothing is recorded.
    let before = pki.list().len();
    let mut lines: Vec<String> = csr.lines().map(str::to_string).collect();
    let middle = lines.len() / 2;
    let line = &mut lines[middle];
    let flipped = if line.starts_with('A') { "B" } else { "A" };
    line.replace_range(0..1, flipped);
    let tampered = lines.join("\n") + "\n";
    let err = pki.sign_csr(&tampered, "dfspb", 30).unwrap_err();
    assert!(
        matches!(err, Error::CsrSignature | Error::Csr(_)),
        "{err:?}"
    );
    assert_eq!(pki.list().len(), before);

    // RSA below 2048 bits is refused.
    assert_openssl_ok(
        tmp.path(),
        &[
            "req", "-new", "-newkey", "rsa:1024", "-nodes", "-keyout", "weak.key", "-out",
            "weak.csr", "-subj", "/CN=weak",
        ],
    );
    let weak = fs::read_to_string(tmp.path().join("weak.csr")).unwrap();
    assert!(matches!(
        pki.sign_csr(&weak, "weak", 30),
        Err(Error::UnsupportedKey(_))
    ));
    // RSA 2048 is accepted.
    assert_openssl_ok(
        tmp.path(),
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "rsa.key", "-out",
            "rsa.csr", "-subj", "/CN=rsa",
        ],
    );
    let rsa = fs::read_to_string(tmp.path().join("rsa.csr")).unwrap();
    let issued = pki.sign_csr(&rsa, "rsafsp", 30).unwrap();
    fs::write(tmp.path().join("rsafsp.pem"), &issued.cert_pem).unwrap();
    assert_openssl_ok(
        tmp.path(),
        &verify_args("rsafsp.pem", true, Some("sslclient")),
    );
}

#[test]
fn revocation_increments_the_crl_and_openssl_rejects_revoked_certificates() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut pki = PkiDir::bootstrap(root, "hub", &[]).unwrap();
    let a = pki.issue_client("dfspa", 30).unwrap();
    let b = pki.issue_client("dfspb", 30).unwrap();
    fs::write(root.join("a.pem"), &a.cert_pem).unwrap();
    fs::write(root.join("b.pem"), &b.cert_pem).unwrap();
    assert_openssl_ok(root, &verify_args("a.pem", true, Some("sslclient")));

    // Unknown, CA and malformed serials.
    assert!(matches!(
        pki.revoke("7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e7e"),
        Err(Error::UnknownSerial(_))
    ));
    let ca_serial = pki.ca().info().serial_hex.clone();
    assert!(matches!(
        pki.revoke(&ca_serial),
        Err(Error::CannotRevokeCa(_))
    ));
    assert!(matches!(
        pki.revoke("not hex"),
        Err(Error::InvalidSerial(_))
    ));
    assert_eq!(
        pki.crl_number(),
        1,
        "failed revocations must not consume CRL numbers"
    );

    // Revoke a (OpenSSL-style colon spelling is accepted).
    let colon_serial: String = a
        .serial_hex
        .to_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");
    pki.revoke(&colon_serial).unwrap();
    assert_eq!(pki.crl_number(), 2);
    let crl_pem = fs::read_to_string(pki.crl_path()).unwrap();
    let crl = pki.ca().verify_crl(&crl_pem).unwrap();
    assert_eq!(crl.crl_number, Some(2));
    assert!(crl.is_revoked(&a.serial_hex));
    assert!(!crl.is_revoked(&b.serial_hex));
    let entry = pki.find_serial(&a.serial_hex).unwrap();
    assert!(entry.is_revoked());
    assert_eq!(crl.revoked[0].revoked_at, entry.revoked_at.unwrap());

    assert_openssl_fails(
        root,
        &verify_args("a.pem", true, None),
        "certificate revoked",
    );
    assert_openssl_ok(root, &verify_args("b.pem", true, Some("sslclient")));
    // Without the CRL OpenSSL still accepts it: revocation lives only in the CRL.
    assert_openssl_ok(root, &verify_args("a.pem", false, None));
    let number = assert_openssl_ok(root, &["crl", "-in", "crl.pem", "-noout", "-crlnumber"]);
    if !skip_openssl() {
        // OpenSSL 3 prints `crlNumber=0x02`; older versions `crlNumber=02`.
        let hex = number.trim().trim_start_matches("crlNumber=");
        let hex = hex.trim_start_matches("0x");
        assert_eq!(u64::from_str_radix(hex, 16).ok(), Some(2), "{number}");
    }
    assert_openssl_ok(
        root,
        &["crl", "-in", "crl.pem", "-noout", "-CAfile", "ca.pem"],
    );

    // Revoking twice is an error and leaves the CRL alone.
    assert!(matches!(
        pki.revoke(&a.serial_hex),
        Err(Error::AlreadyRevoked(_))
    ));
    assert_eq!(pki.crl_number(), 2);

    // Revoke b with a reason; both are listed, number 3.
    pki.revoke_with_reason(&b.serial_hex, pki::RevocationReason::KeyCompromise)
        .unwrap();
    let crl = inspect_crl(&fs::read_to_string(pki.crl_path()).unwrap()).unwrap();
    assert_eq!(crl.crl_number, Some(3));
    assert!(crl.is_revoked(&a.serial_hex) && crl.is_revoked(&b.serial_hex));
    let b_entry = crl
        .revoked
        .iter()
        .find(|r| r.serial_hex == b.serial_hex)
        .unwrap();
    assert_eq!(b_entry.reason_code, Some(1));
    assert_openssl_fails(
        root,
        &verify_args("b.pem", true, None),
        "certificate revoked",
    );
    let text = assert_openssl_ok(root, &["crl", "-in", "crl.pem", "-noout", "-text"]);
    assert!(skip_openssl() || text.contains("Key Compromise"), "{text}");

    // A refreshed CRL keeps the revocations and takes the next number.
    assert_eq!(pki.refresh_crl().unwrap(), 4);
    let crl = inspect_crl(&fs::read_to_string(pki.crl_path()).unwrap()).unwrap();
    assert_eq!(crl.crl_number, Some(4));
    assert_eq!(crl.revoked.len(), 2);

    // Everything survives a reopen.
    drop(pki);
    let pki = PkiDir::open(root).unwrap();
    assert_eq!(pki.crl_number(), 4);
    let revoked: Vec<_> = pki.list().into_iter().filter(|e| e.is_revoked()).collect();
    assert_eq!(revoked.len(), 2);
    assert_eq!(
        revoked[1].revocation_reason,
        Some(pki::RevocationReason::KeyCompromise)
    );
}

#[test]
fn open_never_reuses_a_crl_number_already_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut pki = PkiDir::bootstrap(root, "hub", &[]).unwrap();
    let a = pki.issue_client("dfspa", 30).unwrap();
    // Simulate a crash after the CRL write but before the inventory write: a newer CRL (by
    // number) than the inventory knows about.
    let newer = pki
        .ca()
        .crl_pem(
            &[pki::Revoked::new(
                a.serial_hex.clone(),
                time::OffsetDateTime::now_utc(),
            )],
            9,
            30,
        )
        .unwrap();
    fs::write(pki.crl_path(), newer).unwrap();
    drop(pki);
    let mut pki = PkiDir::open(root).unwrap();
    assert_eq!(pki.crl_number(), 9);
    pki.revoke(&a.serial_hex).unwrap();
    assert_eq!(pki.crl_number(), 10);

    // A CRL signed by someone else is refused on open.
    let other = CertificateAuthority::create("Other", 30).unwrap();
    fs::write(pki.crl_path(), other.crl_pem(&[], 11, 30).unwrap()).unwrap();
    drop(pki);
    assert!(matches!(PkiDir::open(root), Err(Error::NotIssuedByCa(_))));
}

#[test]
fn server_issue_and_rotation() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let mut pki = PkiDir::bootstrap(root, "hub", &names(&["hub.example"])).unwrap();
    let old = inspect(&fs::read_to_string(pki.server_cert_path()).unwrap()).unwrap();

    let extra = pki
        .issue_server(&names(&["callbacks.example", "192.0.2.1"]), 30)
        .unwrap();
    assert!(extra.key_pem.is_some());
    assert_eq!(
        pki.find_serial(&extra.serial_hex).unwrap().purpose,
        Purpose::Server
    );
    assert!(matches!(
        pki.issue_server(&[], 30),
        Err(Error::NoSubjectAltNames)
    ));
    assert!(matches!(
        pki.issue_server(&names(&["bad_name"]), 30),
        Err(Error::InvalidDnsName(_))
    ));

    let rotated = pki.rotate_server(&names(&["hub.example"]), 60).unwrap();
    assert!(rotated.key_pem.is_none());
    let now_on_disk = inspect(&fs::read_to_string(pki.server_cert_path()).unwrap()).unwrap();
    assert_eq!(now_on_disk.serial_hex, rotated.serial_hex);
    assert_ne!(now_on_disk.serial_hex, old.serial_hex);
    assert_eq!(mode(&pki.server_key_path()), 0o600);
    assert_openssl_ok(root, &verify_args("server.pem", true, Some("sslserver")));
    if !skip_openssl() {
        let from_cert =
            assert_openssl_ok(root, &["x509", "-in", "server.pem", "-noout", "-pubkey"]);
        let from_key = assert_openssl_ok(root, &["pkey", "-in", "server.key", "-pubout"]);
        assert_eq!(from_cert, from_key);
    }

    let client = pki.rotate_hub_client(60).unwrap();
    let on_disk = inspect(&fs::read_to_string(pki.client_cert_path()).unwrap()).unwrap();
    assert_eq!(on_disk.serial_hex, client.serial_hex);
    assert_eq!(on_disk.subject_cn.as_deref(), Some("hub"));
    assert_eq!(mode(&pki.client_key_path()), 0o600);
    assert_eq!(pki.list().len(), 7);
}

#[test]
fn inspect_refuses_garbage_without_panicking() {
    let ca = CertificateAuthority::create("Inspect CA", 30).unwrap();
    let issued = ca.issue_client("dfsp1", 5).unwrap();
    let key = issued.key_pem.clone().unwrap();
    let inputs = [
        String::new(),
        "garbage".to_string(),
        key,
        "-----BEGIN CERTIFICATE-----\nZm9vYmFy\n-----END CERTIFICATE-----\n".to_string(),
        issued.cert_pem.replace("-----END CERTIFICATE-----", ""),
        issued.cert_pem[..issued.cert_pem.len() / 2].to_string(),
        "\u{0}\u{ff}\u{7f}".to_string(),
    ];
    for input in &inputs {
        let err = inspect(input).unwrap_err();
        assert!(
            matches!(err, Error::Pem(_) | Error::Certificate(_)),
            "{input:?}: {err:?}"
        );
        assert!(inspect_crl(input).is_err());
        assert!(ca.verify_issued(input).is_err());
    }
    // Inspecting a chain returns the first certificate.
    let chain = format!("{}{}", issued.cert_pem, ca.cert_pem());
    assert_eq!(inspect(&chain).unwrap().serial_hex, issued.serial_hex);
}

/// A PKI directory from before the hub callback CA (hub client certificate from `ca.pem`) gets
/// the callback CA and a re-issued hub client certificate on `open_or_bootstrap`; DFSP
/// certificates, the CA and the CRL are untouched, and a second open changes nothing.
#[test]
fn an_old_directory_gets_the_hub_callback_ca() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("pki");
    let mut pki = PkiDir::bootstrap(&root, "hub", &[]).unwrap();
    let dfsp = pki.issue_client("dfsp1", 30).unwrap();
    let ca_fingerprint = pki.ca().info().fingerprint_sha256_hex.clone();
    drop(pki);
    // Make it look like an old directory: no callback CA, hub client from the main CA.
    fs::remove_file(root.join(dir::CALLBACK_CA_CERT_FILE)).unwrap();
    fs::remove_file(root.join(dir::CALLBACK_CA_KEY_FILE)).unwrap();
    let inventory_path = root.join(dir::INVENTORY_FILE);
    let mut inventory: serde_json::Value =
        serde_json::from_slice(&fs::read(&inventory_path).unwrap()).unwrap();
    inventory["entries"]
        .as_array_mut()
        .unwrap()
        .retain(|e| e["purpose"] != "hub-callback-ca");
    fs::write(&inventory_path, serde_json::to_vec(&inventory).unwrap()).unwrap();
    let mut old = PkiDir::open(&root).unwrap();
    assert!(old.callback_ca().is_none(), "open alone creates nothing");
    let client = old.rotate_hub_client(30).unwrap();
    old.ca()
        .verify_issued(&fs::read_to_string(old.client_cert_path()).unwrap())
        .unwrap();
    drop(old);

    let migrated = PkiDir::open_or_bootstrap(&root, "hub", &[]).unwrap();
    let callback_ca = migrated.callback_ca().expect("callback CA created");
    assert_ne!(callback_ca.info().fingerprint_sha256_hex, ca_fingerprint);
    assert_eq!(migrated.ca().info().fingerprint_sha256_hex, ca_fingerprint);
    let on_disk = fs::read_to_string(migrated.client_cert_path()).unwrap();
    callback_ca.verify_issued(&on_disk).unwrap();
    assert!(migrated.ca().verify_issued(&on_disk).is_err());
    assert_ne!(inspect(&on_disk).unwrap().serial_hex, client.serial_hex);
    assert_eq!(mode(&migrated.client_key_path()), 0o600);
    assert_eq!(mode(&root.join(dir::CALLBACK_CA_KEY_FILE)), 0o600);
    assert_eq!(
        fs::read_to_string(migrated.callback_ca_cert_path()).unwrap(),
        callback_ca.cert_pem()
    );
    migrated.ca().verify_issued(&dfsp.cert_pem).unwrap();
    let recorded = migrated
        .list()
        .iter()
        .filter(|e| e.purpose == Purpose::HubCallbackCa)
        .count();
    assert_eq!(recorded, 1);
    let entries = migrated.list().len();
    let callback_fingerprint = callback_ca.info().fingerprint_sha256_hex.clone();
    drop(migrated);

    // Idempotent: opening again keeps the same callback CA and client certificate.
    let mut again = PkiDir::open_or_bootstrap(&root, "hub", &[]).unwrap();
    assert!(!again.ensure_callback_ca().unwrap());
    assert_eq!(again.list().len(), entries);
    assert_eq!(
        again.callback_ca().unwrap().info().fingerprint_sha256_hex,
        callback_fingerprint
    );
    assert_eq!(
        fs::read_to_string(again.client_cert_path()).unwrap(),
        on_disk
    );

    // A crash after the callback CA's key was written but before its certificate: made again.
    drop(again);
    fs::remove_file(root.join(dir::CALLBACK_CA_CERT_FILE)).unwrap();
    let redone = PkiDir::open_or_bootstrap(&root, "hub", &[]).unwrap();
    let new_ca = redone.callback_ca().unwrap();
    new_ca
        .verify_issued(&fs::read_to_string(redone.client_cert_path()).unwrap())
        .unwrap();
}
