//! What one FSPIOP signature costs: `cargo bench -p jws` (release profile, no harness).
//!
//! Prints median and p99 per operation over many rounds, for the hub's per-message work
//! (verify RS256/ES256 over the raw body, and the worst case where the raw bytes fail and the
//! two SDK re-serialisations are tried) and for signing (what a DFSP, or the hub for its own
//! messages, pays). Keys are parsed once, as the hub caches them.

use std::hint::black_box;
use std::time::{Duration, Instant};

use jws::{Alg, RequestParts, SigningKey, sign, verify};

const ROUNDS: usize = 2_000;

fn request() -> RequestParts<'static> {
    RequestParts {
        method: "POST",
        uri: "/transfers",
        source: "payerfsp",
        destination: Some("payeefsp"),
        date: Some("Wed, 01 Jan 2025 00:00:01 GMT"),
    }
}

/// A realistic prepare body (≈ 1 KB with its ILP packet), canonical JSON.
fn prepare_body() -> String {
    let packet = "A".repeat(600);
    format!(
        r#"{{"amount":{{"amount":"100.5","currency":"USD"}},"condition":"GRzLaTP7DJ9t4P-a_BA0WA9wzzlsugf00-Tn6kESAfM","expiration":"2025-01-01T00:01:00.000Z","ilpPacket":"{packet}","payeeFsp":"payeefsp","payerFsp":"payerfsp","transferId":"b51ec534-ee48-4575-b6a9-ead2955b8069"}}"#
    )
}

fn measure(name: &str, mut operation: impl FnMut()) {
    for _ in 0..ROUNDS / 10 {
        operation();
    }
    let mut samples: Vec<Duration> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            operation();
            started.elapsed()
        })
        .collect();
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q) as usize];
    println!(
        "{name:<58} median {:>8.1} µs   p99 {:>8.1} µs",
        at(0.5).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6
    );
}

fn main() {
    let body = prepare_body();
    // The same body pretty-printed with its keys unsorted: the raw bytes were not what the
    // SDK signed, so the verifier also tries the received-order and sorted forms.
    let unsorted = body.replacen(
        "{\"amount\"",
        "{\"transferId\":\"b51ec534-ee48-4575-b6a9-ead2955b8069\", \"amount\"",
        1,
    );
    let both = [Alg::Rs256, Alg::Es256];
    for (label, key) in [
        ("RS256 2048", SigningKey::generate_rs256(2048).expect("key")),
        ("RS256 3072", SigningKey::generate_rs256(3072).expect("key")),
        ("ES256 P-256", SigningKey::generate_es256().expect("key")),
    ] {
        let keys = [key.verifying_key().clone()];
        let header = sign(&key, &request(), body.as_bytes()).expect("sign");
        measure(
            &format!("verify {label}, raw body (the usual case)"),
            || {
                black_box(
                    verify(&header, &request(), body.as_bytes(), &keys, &both).expect("valid"),
                );
            },
        );
        measure(
            &format!("verify {label}, raw fails, 2 re-serialisations"),
            || {
                // The raw bytes differ from what was signed, so both SDK re-serialisations are
                // parsed, written and tried too: three signature checks, the most a message costs.
                black_box(verify(&header, &request(), unsorted.as_bytes(), &keys, &both).ok());
            },
        );
        measure(&format!("sign {label}"), || {
            black_box(sign(&key, &request(), body.as_bytes()).expect("sign"));
        });
    }
}
