//! Counters for the metrics plane: Prometheus text on its own listener (`/metrics`, with
//! `/health`), never on the FSPIOP or admin port. Values only — no participant data, no
//! secrets.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

fn bump(counter: &mut u64) {
    *counter = counter.saturating_add(1);
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The hub's counters.
#[derive(Default)]
pub struct Metrics {
    requests: AtomicU64,
    refusals: Mutex<BTreeMap<String, u64>>,
    security_refusals: Mutex<BTreeMap<String, u64>>,
    handshake_refusals: Mutex<BTreeMap<String, u64>>,
    callbacks_delivered: AtomicU64,
    callbacks_failed: AtomicU64,
    connections_refused: Mutex<BTreeMap<String, u64>>,
    connection_timeouts: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// One FSPIOP request reached the gate.
    pub fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// The gate refused a request with this FSPIOP error code.
    pub fn refusal(&self, code: &str) {
        let mut map = self.refusals.lock().unwrap_or_else(|p| p.into_inner());
        bump(map.entry(code.to_string()).or_default());
    }

    /// A security refusal (also audited): `action` is the audit action, e.g.
    /// `fspiop.source_refused`, `fspiop.signature_refused`.
    pub fn security_refusal(&self, action: &str) {
        let mut map = self
            .security_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        bump(map.entry(action.to_string()).or_default());
    }

    /// A TLS handshake (or certificate binding) was refused; `reason` is a fixed label.
    pub fn handshake_refusal(&self, reason: &str) {
        let mut map = self
            .handshake_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        bump(map.entry(reason.to_string()).or_default());
    }

    /// A callback was delivered (2xx) or given up.
    pub fn callback(&self, delivered: bool) {
        let counter = if delivered {
            &self.callbacks_delivered
        } else {
            &self.callbacks_failed
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The FSPIOP listener closed a new connection at once because a limit was reached;
    /// `reason` is `global_limit` or `participant_limit`.
    pub fn connection_refused(&self, reason: &str) {
        let mut map = self
            .connections_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        bump(map.entry(reason.to_string()).or_default());
    }

    /// The FSPIOP listener closed a connection at a deadline; `reason` is `header_timeout`,
    /// `idle_timeout` or `body_timeout`.
    pub fn connection_timeout(&self, reason: &str) {
        let mut map = self
            .connection_timeouts
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        bump(map.entry(reason.to_string()).or_default());
    }

    /// New connections refused for a limit so far, by reason.
    pub fn connections_refused(&self, reason: &str) -> u64 {
        self.connections_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reason)
            .copied()
            .unwrap_or(0)
    }

    /// Total TLS refusals so far (all reasons).
    pub fn handshake_refusals_total(&self) -> u64 {
        self.handshake_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .sum()
    }

    /// Prometheus text exposition; `open` and `closed` are the connection registry's gauges.
    pub fn render(&self, open_connections: usize, closed_by_hub: u64) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "ferroloop_fspiop_requests_total",
            "counter",
            "FSPIOP requests that reached the gate.",
        );
        let _ = writeln!(
            out,
            "ferroloop_fspiop_requests_total {}",
            self.requests.load(Ordering::Relaxed)
        );
        family(
            &mut out,
            "ferroloop_fspiop_refusals_total",
            "counter",
            "FSPIOP requests refused synchronously, by FSPIOP error code.",
        );
        for (code, count) in self
            .refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ferroloop_fspiop_refusals_total{{code=\"{code}\"}} {count}"
            );
        }
        family(
            &mut out,
            "ferroloop_security_refusals_total",
            "counter",
            "Identity and signature refusals (each also in the audit log), by audit action.",
        );
        for (action, count) in self
            .security_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ferroloop_security_refusals_total{{action=\"{action}\"}} {count}"
            );
        }
        family(
            &mut out,
            "ferroloop_tls_refusals_total",
            "counter",
            "Connections refused by the FSPIOP listener's TLS layer, by reason.",
        );
        for (reason, count) in self
            .handshake_refusals
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ferroloop_tls_refusals_total{{reason=\"{reason}\"}} {count}"
            );
        }
        family(
            &mut out,
            "ferroloop_tls_connections_open",
            "gauge",
            "Mutual-TLS connections open on the FSPIOP listener.",
        );
        let _ = writeln!(out, "ferroloop_tls_connections_open {open_connections}");
        family(
            &mut out,
            "ferroloop_tls_connections_closed_by_hub_total",
            "counter",
            "Connections the hub closed (revoked certificate, deactivated participant).",
        );
        let _ = writeln!(
            out,
            "ferroloop_tls_connections_closed_by_hub_total {closed_by_hub}"
        );
        family(
            &mut out,
            "ferroloop_fspiop_connections_refused_total",
            "counter",
            "New FSPIOP connections closed at once because a connection limit was reached, by limit.",
        );
        for (reason, count) in self
            .connections_refused
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ferroloop_fspiop_connections_refused_total{{reason=\"{reason}\"}} {count}"
            );
        }
        family(
            &mut out,
            "ferroloop_fspiop_connection_timeouts_total",
            "counter",
            "FSPIOP connections closed at a deadline (headers, idle keep-alive, body), by deadline.",
        );
        for (reason, count) in self
            .connection_timeouts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "ferroloop_fspiop_connection_timeouts_total{{reason=\"{reason}\"}} {count}"
            );
        }
        family(
            &mut out,
            "ferroloop_callbacks_total",
            "counter",
            "Outbound messages by outcome.",
        );
        let _ = writeln!(
            out,
            "ferroloop_callbacks_total{{outcome=\"delivered\"}} {}\nferroloop_callbacks_total{{outcome=\"failed\"}} {}",
            self.callbacks_delivered.load(Ordering::Relaxed),
            self.callbacks_failed.load(Ordering::Relaxed)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let metrics = Metrics::default();
        metrics.request();
        metrics.refusal("3105");
        metrics.refusal("3105");
        metrics.security_refusal("fspiop.signature_refused");
        metrics.handshake_refusal("no_certificate");
        metrics.callback(true);
        let text = metrics.render(3, 1);
        assert!(text.contains("ferroloop_fspiop_requests_total 1\n"));
        assert!(text.contains("ferroloop_fspiop_refusals_total{code=\"3105\"} 2\n"));
        assert!(text.contains(
            "ferroloop_security_refusals_total{action=\"fspiop.signature_refused\"} 1\n"
        ));
        assert!(text.contains("ferroloop_tls_refusals_total{reason=\"no_certificate\"} 1\n"));
        assert!(text.contains("ferroloop_tls_connections_open 3\n"));
        assert!(text.contains("ferroloop_callbacks_total{outcome=\"delivered\"} 1\n"));
        assert_eq!(metrics.handshake_refusals_total(), 1);
    }
}
