//! Audit of repeated refusals, aggregated so that a flood cannot flood the audit log.
//!
//! A failed TLS handshake, or an FSPIOP or admin request refused before anyone is
//! authenticated, costs the sender nothing and used to cost the hub one hash-chained audit
//! row each (100 000 refused handshakes, 100 000 rows). [`RefusalAudit`] keeps the first
//! [`AUDITED_IN_FULL`] refusals per **source** (IP address; an IPv6 address by its /64, what
//! one host can choose from) and **kind** (action, refused actor and a fixed reason label) in
//! each [`REFUSAL_INTERVAL`] in full — a few mistakes stay visible one by one — and only
//! counts the later ones. When the interval ends (and when the hub stops) each kind that
//! went beyond gets **one** summary entry: the same action, actor and outcome, and a detail
//! `{"summary": true, "count": <refusals not audited one by one>, "total": <all of the
//! interval>, "firstAtMs", "lastAtMs", "source", "reason"}`.
//! A filter on the action therefore still finds every refusal, counted.
//!
//! Memory is bounded: at most [`MAX_TRACKED_SOURCES`] kinds are tracked per interval; refusals
//! of further kinds are only counted, in one overflow bucket per action (the actions are
//! constants of the hub's code), summarised with `"overflow": true`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use ledger::AuditEntry;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::writer::LedgerWriter;

/// How long refusals of one kind are counted after the first before a summary is written.
pub const REFUSAL_INTERVAL: Duration = Duration::from_secs(60);

/// Refusals of one kind from one source audited one by one per interval; the rest are counted.
pub const AUDITED_IN_FULL: u64 = 16;

/// Distinct (source, kind) pairs tracked per interval; beyond, refusals are counted per action
/// in an overflow bucket and none is audited one by one.
pub const MAX_TRACKED_SOURCES: usize = 4096;

/// The actor of a refusal where nobody was authenticated.
pub const UNAUTHENTICATED: &str = "unauthenticated";

/// One refusal to audit.
#[derive(Clone, Debug)]
pub struct Refusal<'a> {
    /// The peer's address, when known.
    pub source: Option<IpAddr>,
    /// Who was refused (`unauthenticated`, or the participant a certificate names).
    pub actor: &'a str,
    /// The audit action, e.g. `tls.refused` (a constant: it keys the overflow buckets).
    pub action: &'static str,
    /// A fixed label of why (a TLS reason, an FSPIOP error code), part of the kind. Never
    /// free text from the peer.
    pub reason: &'a str,
    /// The audit subject of the full entry.
    pub subject: &'a str,
    /// The audit detail (JSON) of the full entry.
    pub detail: Value,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Kind {
    source: Option<IpAddr>,
    actor: String,
    action: &'static str,
    reason: String,
}

#[derive(Clone, Debug)]
struct Bucket {
    first_ms: i64,
    last_ms: i64,
    /// Refusals audited one by one (at most [`AUDITED_IN_FULL`]).
    audited: u64,
    /// Refusals beyond those (not audited one by one).
    repeated: u64,
}

#[derive(Default)]
struct Buckets {
    tracked: HashMap<Kind, Bucket>,
    overflow: HashMap<&'static str, Bucket>,
}

/// Audits refusals, the first of each kind per interval in full and the rest as a count.
pub struct RefusalAudit {
    writer: LedgerWriter,
    buckets: Mutex<Buckets>,
    capacity: usize,
}

/// The part of an address one sender controls: an IPv4 address, an IPv6 /64 (an IPv4-mapped
/// IPv6 address as the IPv4 address).
pub fn source_of(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                for segment in segments.iter_mut().skip(4) {
                    *segment = 0;
                }
                IpAddr::V6(segments.into())
            }
        },
    }
}

impl RefusalAudit {
    /// Audits through `writer`, tracking at most [`MAX_TRACKED_SOURCES`] kinds.
    pub fn new(writer: LedgerWriter) -> Arc<RefusalAudit> {
        RefusalAudit::with_capacity(writer, MAX_TRACKED_SOURCES)
    }

    /// Audits through `writer`, tracking at most `capacity` kinds per interval.
    pub fn with_capacity(writer: LedgerWriter, capacity: usize) -> Arc<RefusalAudit> {
        Arc::new(RefusalAudit {
            writer,
            buckets: Mutex::new(Buckets::default()),
            capacity,
        })
    }

    /// Records one refusal: audited in full when it is the first of its kind in this
    /// interval, otherwise counted for the summary.
    pub fn refused(&self, refusal: Refusal<'_>) {
        let now = self.writer.ledger().now_ms();
        let source = refusal.source.map(source_of);
        let kind = Kind {
            source,
            actor: refusal.actor.to_owned(),
            action: refusal.action,
            reason: refusal.reason.to_owned(),
        };
        let first = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            let Buckets { tracked, overflow } = &mut *buckets;
            if let Some(bucket) = tracked.get_mut(&kind) {
                bucket.last_ms = now;
                if bucket.audited < AUDITED_IN_FULL {
                    bucket.audited = bucket.audited.saturating_add(1);
                    true
                } else {
                    bucket.repeated = bucket.repeated.saturating_add(1);
                    false
                }
            } else if tracked.len() < self.capacity {
                tracked.insert(
                    kind,
                    Bucket {
                        first_ms: now,
                        last_ms: now,
                        audited: 1,
                        repeated: 0,
                    },
                );
                true
            } else {
                let bucket = overflow.entry(refusal.action).or_insert(Bucket {
                    first_ms: now,
                    last_ms: now,
                    audited: 0,
                    repeated: 0,
                });
                bucket.repeated = bucket.repeated.saturating_add(1);
                bucket.last_ms = now;
                false
            }
        };
        if first {
            let entry = AuditEntry {
                at_ms: now,
                actor: refusal.actor.to_owned(),
                action: refusal.action.to_owned(),
                subject: refusal.subject.to_owned(),
                detail: refusal.detail.to_string(),
                outcome: "denied".into(),
                ..Default::default()
            };
            self.writer.submit_detached(move |_, tx| {
                Box::pin(async move { tx.append_audit(&entry).await })
            });
        }
    }

    /// Ends the interval: the summaries of every kind refused more than once (and of the
    /// overflow), and an empty table for the next interval.
    fn take_summaries(&self) -> Vec<AuditEntry> {
        let Buckets { tracked, overflow } = {
            let mut buckets = self.buckets.lock().unwrap_or_else(PoisonError::into_inner);
            std::mem::take(&mut *buckets)
        };
        let now = self.writer.ledger().now_ms();
        let mut entries: Vec<AuditEntry> = tracked
            .into_iter()
            .filter(|(_, bucket)| bucket.repeated > 0)
            .map(|(kind, bucket)| AuditEntry {
                at_ms: now,
                actor: kind.actor,
                action: kind.action.to_owned(),
                subject: String::new(),
                detail: json!({
                    "summary": true,
                    "count": bucket.repeated,
                    "total": bucket.repeated.saturating_add(bucket.audited),
                    "firstAtMs": bucket.first_ms,
                    "lastAtMs": bucket.last_ms,
                    "source": kind.source.map(|s| s.to_string()),
                    "reason": kind.reason,
                })
                .to_string(),
                outcome: "denied".into(),
                ..Default::default()
            })
            .collect();
        entries.extend(overflow.into_iter().map(|(action, bucket)| {
            AuditEntry {
                at_ms: now,
                actor: UNAUTHENTICATED.into(),
                action: action.to_owned(),
                subject: String::new(),
                detail: json!({
                    "summary": true,
                    "overflow": true,
                    "count": bucket.repeated,
                    "total": bucket.repeated,
                    "firstAtMs": bucket.first_ms,
                    "lastAtMs": bucket.last_ms,
                    "trackedSources": self.capacity,
                })
                .to_string(),
                outcome: "denied".into(),
                ..Default::default()
            }
        }));
        entries.sort_by(|a, b| a.action.cmp(&b.action).then(a.detail.cmp(&b.detail)));
        entries
    }

    /// Ends the interval now and writes its summaries, waiting until they are durable.
    pub async fn flush(&self) {
        let entries = self.take_summaries();
        if entries.is_empty() {
            return;
        }
        let written = self
            .writer
            .run(move |_, tx| {
                Box::pin(async move {
                    for entry in &entries {
                        tx.append_audit(entry).await?;
                    }
                    Ok(())
                })
            })
            .await;
        if let Err(error) = written {
            tracing::error!(%error, "could not write the summary of repeated refusals");
        }
    }

    /// Flushes every `interval`, and once more when `stop` is cancelled.
    pub fn start(
        self: &Arc<Self>,
        interval: Duration,
        stop: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let audit = self.clone();
        tokio::spawn(async move {
            let period = interval.max(Duration::from_millis(10));
            let now = tokio::time::Instant::now();
            let mut ticks =
                tokio::time::interval_at(now.checked_add(period).unwrap_or(now), period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticks.tick() => audit.flush().await,
                    () = stop.cancelled() => {
                        audit.flush().await;
                        break;
                    }
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::LedgerStore;
    use ledger::mem::MemStore;

    fn writer(store: &Arc<MemStore>) -> LedgerWriter {
        let ledger = ledger::engine::Ledger::new(Arc::new(ledger::SystemClock));
        LedgerWriter::start(store.clone(), ledger, 10_000, 64)
    }

    fn refusal(source: &str, reason: &'static str) -> Refusal<'static> {
        Refusal {
            source: Some(source.parse().unwrap()),
            actor: UNAUTHENTICATED,
            action: "tls.refused",
            reason,
            subject: "",
            detail: json!({"reason": reason}),
        }
    }

    async fn entries(store: &MemStore) -> Vec<AuditEntry> {
        let mut tx = store.read().await.unwrap();
        tx.audit_range(0, 100_000).await.unwrap()
    }

    fn detail(entry: &AuditEntry) -> Value {
        serde_json::from_str(&entry.detail).unwrap()
    }

    /// Waits until the writer committed what was submitted so far.
    async fn settle(writer: &LedgerWriter) {
        writer.run(|_, _| Box::pin(async { Ok(()) })).await.unwrap();
    }

    #[tokio::test]
    async fn repeats_become_one_summary_per_kind_and_interval() {
        let store = Arc::new(MemStore::new());
        let writer = writer(&store);
        let audit = RefusalAudit::new(writer.clone());
        let full = usize::try_from(AUDITED_IN_FULL).unwrap();
        for _ in 0..500 {
            audit.refused(refusal("10.0.0.1", "no_certificate"));
        }
        // Exactly the limit: all in full, nothing to summarise.
        for _ in 0..AUDITED_IN_FULL {
            audit.refused(refusal("10.0.0.1", "expired"));
        }
        audit.refused(refusal("10.0.0.2", "no_certificate"));
        settle(&writer).await;
        assert_eq!(
            entries(&store).await.len(),
            2 * full + 1,
            "the first of each kind in full"
        );
        audit.flush().await;
        let all = entries(&store).await;
        assert_eq!(
            all.len(),
            2 * full + 2,
            "one summary, for the kind beyond the limit"
        );
        let summary = detail(&all[2 * full + 1]);
        assert_eq!(summary["summary"], true);
        assert_eq!(summary["count"], 500 - AUDITED_IN_FULL);
        assert_eq!(summary["total"], 500);
        assert_eq!(summary["source"], "10.0.0.1");
        assert_eq!(summary["reason"], "no_certificate");
        assert_eq!(all[2 * full + 1].action, "tls.refused");
        // A new interval: the next refusal is audited in full again; nothing to summarise.
        audit.refused(refusal("10.0.0.1", "no_certificate"));
        audit.flush().await;
        settle(&writer).await;
        assert_eq!(entries(&store).await.len(), 2 * full + 3);
    }

    #[tokio::test]
    async fn sources_beyond_the_cap_are_counted_in_the_overflow() {
        const CAP: usize = 8;
        let store = Arc::new(MemStore::new());
        let writer = writer(&store);
        let audit = RefusalAudit::with_capacity(writer.clone(), CAP);
        // Exactly at the cap: every source tracked and audited in full.
        for n in 0..CAP {
            audit.refused(refusal(&format!("10.0.0.{n}"), "timeout"));
        }
        settle(&writer).await;
        assert_eq!(entries(&store).await.len(), CAP);
        // Beyond: only counted, 3 sources × 10.
        for n in 0..30 {
            audit.refused(refusal(&format!("10.0.1.{}", n % 3), "timeout"));
        }
        // Tracked sources still count their repeats.
        for _ in 0..AUDITED_IN_FULL {
            audit.refused(refusal("10.0.0.0", "timeout"));
        }
        settle(&writer).await;
        let full = usize::try_from(AUDITED_IN_FULL).unwrap();
        assert_eq!(entries(&store).await.len(), CAP + full - 1);
        assert!(audit.buckets.lock().unwrap().tracked.len() <= CAP);
        audit.flush().await;
        let all = entries(&store).await;
        let summaries: Vec<Value> = all[CAP + full - 1..].iter().map(detail).collect();
        assert_eq!(summaries.len(), 2, "{summaries:?}");
        let overflow = summaries
            .iter()
            .find(|d| d["overflow"] == true)
            .expect("overflow summary");
        assert_eq!(overflow["count"], 30);
        assert_eq!(overflow["trackedSources"], CAP);
        assert!(
            summaries
                .iter()
                .any(|d| d["source"] == "10.0.0.0" && d["count"] == 1)
        );
    }

    #[tokio::test]
    async fn the_interval_task_writes_summaries_and_a_last_one_at_stop() {
        let store = Arc::new(MemStore::new());
        let writer = writer(&store);
        let audit = RefusalAudit::new(writer.clone());
        let stop = CancellationToken::new();
        let task = audit.start(Duration::from_millis(50), stop.clone());
        let full = usize::try_from(AUDITED_IN_FULL).unwrap();
        for _ in 0..full + 2 {
            audit.refused(refusal("10.0.0.9", "protocol"));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while entries(&store).await.len() < full + 1 {
            assert!(tokio::time::Instant::now() < deadline, "no summary");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        audit.refused(refusal("10.0.0.9", "protocol"));
        audit.refused(refusal("10.0.0.9", "protocol"));
        stop.cancel();
        task.await.unwrap();
        let all = entries(&store).await;
        let counted: u64 = all
            .iter()
            .map(|e| detail(e)["count"].as_u64().unwrap_or(1))
            .sum();
        assert_eq!(counted, u64::try_from(full).unwrap() + 4, "{all:#?}");
    }

    #[test]
    fn an_ipv6_source_is_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa:bbbb:cccc:dddd".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        assert_eq!(source_of(a), source_of(b));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(source_of(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
