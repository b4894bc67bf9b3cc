//! Verification of the tamper-evident audit log.
//!
//! The store keeps the audit log as a hash chain ([`ledger::AuditEntry`] documents the exact
//! encoding): entry `seq` n carries the hash of entry n − 1 (`prev_hash`) and its own `hash` =
//! SHA-256(previous hash ‖ canonical bytes of the entry, its `seq` included). [`verify_chain`]
//! reads the whole log from one consistent snapshot, page by page, oldest first, and checks
//! every link:
//!
//! * **edited** — an entry's stored `hash` is not what its content, `seq` and `prev_hash` hash
//!   to ([`ProblemKind::HashMismatch`]);
//! * **removed** — `seq` skips numbers ([`ProblemKind::Missing`]), or an entry's `prev_hash` is
//!   not the stored hash of the entry before it ([`ProblemKind::BrokenLink`]: the entry before
//!   was removed, replaced, or edited and re-hashed);
//! * **reordered** — an entry was hashed at another position than the one it is stored at
//!   ([`ProblemKind::Moved`]; recognised when it hashes right at the position after the entry
//!   it was chained to, if that one is stored within a page ([`PAGE`]) of it, or at most
//!   [`MOVE_WINDOW`] positions from where it is stored; an entry moved further is reported as
//!   edited), or the store returned `seq`s out of order ([`ProblemKind::OutOfOrder`]);
//! * **malformed** — a stored hash is not 64 lower-case hex digits
//!   ([`ProblemKind::Malformed`]).
//!
//! Each problem is reported at the entry where the chain breaks, so one edit or removal in a
//! long log yields one or two problems, not one per later entry.
//!
//! What a chain alone cannot show: entries removed from the **end** (the log is then a shorter
//! valid chain), or a log rewritten and re-hashed from the tampered entry onwards. Both show
//! against a head recorded earlier outside the hub: keep the `head_seq`/`head_hash` of each
//! verification (or the last line of `ferroloop audit export`) elsewhere, and check later that
//! the entry at that `seq` still has that hash: [`check_head`],
//! `ferroloop audit verify --expect-head SEQ:HASH`.

use std::collections::HashMap;
use std::fmt;

use ledger::{AUDIT_GENESIS_HASH, AuditEntry, LedgerStore, StoreError, parse_audit_hash};
use serde::Serialize;

/// Entries read per page.
pub const PAGE: u32 = 1000;

/// At most this many problems are listed; the rest are only counted.
pub const MAX_PROBLEMS: usize = 1000;

/// How far (in positions, either way) an entry whose hash does not match is looked for before
/// it is called edited rather than moved.
pub const MOVE_WINDOW: i64 = 64;

/// What is wrong at one place in the chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The stored hash does not match the entry's content: the entry was edited.
    HashMismatch,
    /// `seq` numbers are missing before this entry: entries were removed.
    Missing,
    /// `prev_hash` is not the hash of the entry stored before this one.
    BrokenLink,
    /// The entry was chained at another position: entries were reordered.
    Moved,
    /// `seq` does not increase: the store returned entries out of order.
    OutOfOrder,
    /// A stored hash is not 64 lower-case hex digits.
    Malformed,
}

impl ProblemKind {
    fn label(self) -> &'static str {
        match self {
            ProblemKind::HashMismatch => "edited",
            ProblemKind::Missing => "missing entries",
            ProblemKind::BrokenLink => "broken link",
            ProblemKind::Moved => "reordered",
            ProblemKind::OutOfOrder => "out of order",
            ProblemKind::Malformed => "malformed",
        }
    }
}

/// One broken place in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainProblem {
    /// The `seq` of the entry where the chain breaks.
    pub seq: i64,
    /// What kind of break.
    pub kind: ProblemKind,
    /// What exactly, for a human.
    pub detail: String,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seq {}: {}: {}",
            self.seq,
            self.kind.label(),
            self.detail
        )
    }
}

/// Everything [`verify_chain`] found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Entries checked.
    pub entries: u64,
    /// `seq` of the last entry (0 for an empty log).
    pub head_seq: i64,
    /// Stored hash of the last entry ([`AUDIT_GENESIS_HASH`] for an empty log): record it
    /// elsewhere to detect later truncation or rewriting.
    pub head_hash: String,
    /// Problems in chain order, at most [`MAX_PROBLEMS`].
    pub problems: Vec<ChainProblem>,
    /// Problems found beyond [`MAX_PROBLEMS`] and not listed.
    pub problems_not_listed: u64,
}

/// Checks a head recorded earlier (`seq`, `hash` from a previous [`ChainReport`] or export):
/// `None` when that entry is still in the log with that hash, else what is wrong. This catches
/// what the chain alone cannot: entries removed from the end, or a log rewritten and re-hashed.
pub async fn check_head(
    store: &dyn LedgerStore,
    seq: i64,
    hash: &str,
) -> Result<Option<String>, StoreError> {
    if seq == 0 {
        return Ok(None);
    }
    let mut tx = store.read().await?;
    let found = tx.audit_range(seq.saturating_sub(1), 1).await?;
    Ok(match found.first() {
        Some(entry) if entry.seq == seq && entry.hash == hash => None,
        Some(entry) if entry.seq == seq => Some(format!(
            "entry {seq} was recorded with hash {hash} but now has {}: the log was rewritten",
            entry.hash
        )),
        _ => Some(format!(
            "entry {seq}, the head recorded earlier, is no longer in the log: entries were removed from the end"
        )),
    })
}

impl ChainReport {
    /// True when every link holds.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.problems_not_listed == 0
    }
}

/// Reads the whole audit log of `store` (one read transaction, [`PAGE`] entries at a time,
/// oldest first) and checks every link of the hash chain. Fails only when the store does;
/// a broken chain is reported in [`ChainReport::problems`].
pub async fn verify_chain(store: &dyn LedgerStore) -> Result<ChainReport, StoreError> {
    let mut tx = store.read().await?;
    let mut verifier = ChainVerifier::new();
    let mut after = 0;
    let mut current = tx.audit_range(after, PAGE).await?;
    while !current.is_empty() {
        let last_seq = current.last().map_or(after, |e| e.seq);
        let next = if last_seq > after && current.len() >= PAGE as usize {
            tx.audit_range(last_seq, PAGE).await?
        } else {
            // A short page is the last one; a page that does not advance would loop forever
            // (the verifier reports its order).
            Vec::new()
        };
        verifier.check_page(&current, &next);
        after = last_seq;
        current = next;
    }
    Ok(verifier.finish())
}

/// The chain checks over pages of entries, oldest first; [`verify_chain`] feeds it from a
/// store. Keeps the hashes of the previous page to recognise entries moved across a page
/// boundary.
#[derive(Debug)]
pub struct ChainVerifier {
    entries: u64,
    /// `seq` and stored hash of the last entry checked.
    last: Option<(i64, String)>,
    /// Stored hash → `seq`, for the previous page.
    previous_page: HashMap<String, i64>,
    problems: Vec<ChainProblem>,
    not_listed: u64,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// Nothing checked yet.
    pub fn new() -> ChainVerifier {
        ChainVerifier {
            entries: 0,
            last: None,
            previous_page: HashMap::new(),
            problems: Vec::new(),
            not_listed: 0,
        }
    }

    /// Checks `page` (the entries following those checked so far); `next` is the page after it
    /// (empty at the end), only looked at to recognise moved entries.
    pub fn check_page(&mut self, page: &[AuditEntry], next: &[AuditEntry]) {
        let current: HashMap<String, i64> = page
            .iter()
            .chain(next)
            .map(|e| (e.hash.clone(), e.seq))
            .collect();
        for entry in page {
            self.check(entry, &current);
        }
        self.previous_page = page.iter().map(|e| (e.hash.clone(), e.seq)).collect();
    }

    /// The report.
    pub fn finish(self) -> ChainReport {
        let (head_seq, head_hash) = self
            .last
            .unwrap_or_else(|| (0, AUDIT_GENESIS_HASH.to_owned()));
        ChainReport {
            entries: self.entries,
            head_seq,
            head_hash,
            problems: self.problems,
            problems_not_listed: self.not_listed,
        }
    }

    fn problem(&mut self, seq: i64, kind: ProblemKind, detail: String) {
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(ChainProblem { seq, kind, detail });
        } else {
            self.not_listed = self.not_listed.saturating_add(1);
        }
    }

    fn check(&mut self, entry: &AuditEntry, nearby: &HashMap<String, i64>) {
        self.entries = self.entries.saturating_add(1);
        let seq = entry.seq;
        let (last_seq, last_hash) = self
            .last
            .clone()
            .unwrap_or_else(|| (0, AUDIT_GENESIS_HASH.to_owned()));
        let expected_seq = last_seq.saturating_add(1);

        // Position.
        if seq > expected_seq {
            let gap = seq.saturating_sub(expected_seq);
            let detail = if gap == 1 {
                format!("entry {expected_seq} is missing")
            } else {
                format!(
                    "entries {expected_seq} to {} ({gap} entries) are missing",
                    seq.saturating_sub(1),
                )
            };
            self.problem(seq, ProblemKind::Missing, detail);
        } else if seq < expected_seq {
            self.problem(
                seq,
                ProblemKind::OutOfOrder,
                format!("follows entry {last_seq}"),
            );
        }

        // Format of the stored hashes.
        let prev_ok = parse_audit_hash(&entry.prev_hash).is_some();
        let hash_ok = parse_audit_hash(&entry.hash).is_some();
        if !prev_ok {
            self.problem(
                seq,
                ProblemKind::Malformed,
                format!(
                    "prev_hash {:?} is not 64 lower-case hex digits",
                    entry.prev_hash
                ),
            );
        }
        if !hash_ok {
            self.problem(
                seq,
                ProblemKind::Malformed,
                format!("hash {:?} is not 64 lower-case hex digits", entry.hash),
            );
        }

        // Content: the entry as stored, at the position it is stored, hashed after the
        // prev_hash it carries.
        let computed = entry.chain_hash(&entry.prev_hash);
        let mut moved = false;
        if prev_ok && hash_ok && computed.as_ref() != Some(&entry.hash) {
            if self.problems.len() >= MAX_PROBLEMS {
                // Only counted: skip the search for where it came from.
                self.not_listed = self.not_listed.saturating_add(1);
            } else if let Some(original) = self.written_at(entry, nearby) {
                moved = true;
                self.problem(
                    seq,
                    ProblemKind::Moved,
                    format!("stored at seq {seq} but chained as seq {original}"),
                );
            } else {
                self.problem(
                    seq,
                    ProblemKind::HashMismatch,
                    format!(
                        "its content does not match its hash (stored {}, content hashes to {})",
                        entry.hash,
                        computed.unwrap_or_default()
                    ),
                );
            }
        }

        // Link to the entry stored before it. When a moved entry's predecessor is nearby, the
        // move explains the broken link; when it is nowhere, the predecessor was removed.
        let predecessor = self.seq_of(&entry.prev_hash, nearby);
        let explained = moved && (predecessor.is_some() || entry.prev_hash == AUDIT_GENESIS_HASH);
        if prev_ok && entry.prev_hash != last_hash && !explained {
            let before = if self.last.is_some() {
                format!("the hash of entry {last_seq}")
            } else {
                "the genesis hash (the log's first entry)".to_owned()
            };
            let points_to = match predecessor {
                Some(s) => format!("the entry stored at seq {s}"),
                None if entry.prev_hash == AUDIT_GENESIS_HASH => "the genesis hash".to_owned(),
                None => "no entry nearby (removed or edited)".to_owned(),
            };
            self.problem(
                seq,
                ProblemKind::BrokenLink,
                format!(
                    "prev_hash {} is not {before} ({last_hash}); it names {points_to}",
                    entry.prev_hash
                ),
            );
        }

        self.last = Some((seq, entry.hash.clone()));
    }

    fn seq_of(&self, hash: &str, nearby: &HashMap<String, i64>) -> Option<i64> {
        nearby
            .get(hash)
            .or_else(|| self.previous_page.get(hash))
            .copied()
    }

    /// The position an entry whose hash does not match its content was really chained at, if
    /// its content hashes right at another one: tried are the position after the entry its
    /// `prev_hash` names (when that entry is nearby, or 1 after the genesis hash) and the
    /// [`MOVE_WINDOW`] positions on either side of where it is stored.
    fn written_at(&self, entry: &AuditEntry, nearby: &HashMap<String, i64>) -> Option<i64> {
        let by_link = if entry.prev_hash == AUDIT_GENESIS_HASH {
            Some(1)
        } else {
            self.seq_of(&entry.prev_hash, nearby)
                .and_then(|s| s.checked_add(1))
        };
        let around = (1..=MOVE_WINDOW)
            .flat_map(|d| [entry.seq.checked_sub(d), entry.seq.checked_add(d)])
            .flatten();
        by_link
            .into_iter()
            .chain(around)
            .filter(|&s| s >= 1 && s != entry.seq)
            .find(|&s| {
                let at = AuditEntry {
                    seq: s,
                    ..entry.clone()
                };
                at.chain_hash(&entry.prev_hash).as_ref() == Some(&entry.hash)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::mem::MemStore;

    fn entry(n: i64) -> AuditEntry {
        AuditEntry {
            at_ms: 1_700_000_000_000 + n,
            actor: "operator".into(),
            action: format!("action.{n}"),
            subject: "payerfsp".into(),
            detail: format!("{{\"n\":{n}}}"),
            outcome: "ok".into(),
            ..Default::default()
        }
    }

    /// A chained log of `n` entries, as a store writes it.
    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 1..=n {
            let last = out.last().map(|e| (e.seq, e.hash.as_str()));
            out.push(ledger::store::chain_audit_entry(&entry(i), last).unwrap());
        }
        out
    }

    fn verify(entries: &[AuditEntry], page: usize) -> ChainReport {
        let mut verifier = ChainVerifier::new();
        let pages: Vec<&[AuditEntry]> = entries.chunks(page).collect();
        for (i, current) in pages.iter().enumerate() {
            verifier.check_page(current, pages.get(i + 1).copied().unwrap_or(&[]));
        }
        verifier.finish()
    }

    fn kinds(report: &ChainReport) -> Vec<(i64, ProblemKind)> {
        report.problems.iter().map(|p| (p.seq, p.kind)).collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let log = chain(10);
        for page in [1, 3, 10, 100] {
            let report = verify(&log, page);
            assert!(report.ok(), "{report:#?}");
            assert_eq!(report.entries, 10);
            assert_eq!(report.head_seq, 10);
            assert_eq!(report.head_hash, log[9].hash);
        }
        let empty = verify(&[], 10);
        assert!(empty.ok());
        assert_eq!((empty.entries, empty.head_seq), (0, 0));
        assert_eq!(empty.head_hash, AUDIT_GENESIS_HASH);
    }

    #[test]
    fn an_edited_entry_is_named() {
        let mut log = chain(5);
        log[2].detail = r#"{"n":99}"#.into();
        let report = verify(&log, 2);
        assert_eq!(kinds(&report), [(3, ProblemKind::HashMismatch)]);
        assert!(report.problems[0].to_string().starts_with("seq 3: edited"));
    }

    #[test]
    fn an_edited_and_rehashed_entry_breaks_the_next_link() {
        let mut log = chain(5);
        log[2].detail = r#"{"n":99}"#.into();
        log[2].hash = log[2].chain_hash(&log[2].prev_hash).unwrap();
        let report = verify(&log, 2);
        assert_eq!(kinds(&report), [(4, ProblemKind::BrokenLink)]);
    }

    #[test]
    fn removed_entries_are_named() {
        let mut log = chain(6);
        log.remove(2);
        let report = verify(&log, 2);
        assert_eq!(
            kinds(&report),
            [(4, ProblemKind::Missing), (4, ProblemKind::BrokenLink)]
        );
        assert!(report.problems[0].detail.contains("entry 3 is missing"));
        assert!(report.problems[1].detail.contains("entry 2"));

        // From the start, and a run of them.
        let mut log = chain(6);
        log.drain(0..3);
        let report = verify(&log, 10);
        assert_eq!(
            kinds(&report),
            [(4, ProblemKind::Missing), (4, ProblemKind::BrokenLink)]
        );
        assert!(
            report.problems[0]
                .detail
                .contains("entries 1 to 3 (3 entries) are missing")
        );
    }

    #[test]
    fn removed_and_renumbered_entries_are_named() {
        // Entry 3 removed and the later ones renumbered to close the gap.
        let mut log = chain(6);
        log.remove(2);
        for (i, e) in log.iter_mut().enumerate() {
            e.seq = i64::try_from(i).unwrap() + 1;
        }
        let report = verify(&log, 2);
        assert_eq!(
            kinds(&report),
            [
                (3, ProblemKind::Moved),
                (3, ProblemKind::BrokenLink),
                (4, ProblemKind::Moved),
                (5, ProblemKind::Moved)
            ],
            "{report:#?}"
        );
        assert!(report.problems[0].detail.contains("chained as seq 4"));
        assert!(report.problems[1].detail.contains("no entry nearby"));
    }

    #[test]
    fn swapped_entries_are_named_as_reordered() {
        for page in [1, 2, 3, 100] {
            let mut log = chain(5);
            // Swap the seq of entries 2 and 3 (and so their order).
            log.swap(1, 2);
            log[1].seq = 2;
            log[2].seq = 3;
            let report = verify(&log, page);
            let kinds = kinds(&report);
            assert!(
                kinds.contains(&(2, ProblemKind::Moved)),
                "{page}: {report:#?}"
            );
            assert!(
                kinds.contains(&(3, ProblemKind::Moved)),
                "{page}: {report:#?}"
            );
            assert!(
                !kinds.iter().any(|(_, k)| *k == ProblemKind::HashMismatch),
                "{page}: {report:#?}"
            );
            assert_eq!(
                report.problems[0].to_string(),
                "seq 2: reordered: stored at seq 2 but chained as seq 3"
            );
        }
    }

    #[test]
    fn malformed_and_out_of_order_entries_are_named() {
        let mut log = chain(3);
        log[1].hash = "XYZ".into();
        let report = verify(&log, 10);
        assert_eq!(kinds(&report)[0], (2, ProblemKind::Malformed));

        let mut log = chain(3);
        log.push(log[1].clone());
        let report = verify(&log, 10);
        assert_eq!(kinds(&report)[0], (2, ProblemKind::OutOfOrder));
    }

    #[test]
    fn problems_are_capped() {
        let mut log = chain(1500);
        for e in &mut log {
            e.detail.push(' ');
        }
        let report = verify(&log, 100);
        assert_eq!(report.problems.len(), MAX_PROBLEMS);
        assert_eq!(report.problems_not_listed, 500);
        assert!(!report.ok());
    }

    #[tokio::test]
    async fn verify_chain_pages_through_a_store() {
        let store = MemStore::new();
        let count = i64::from(PAGE) * 2 + 7;
        let mut tx = store.begin().await.unwrap();
        for n in 1..=count {
            tx.append_audit(&entry(n)).await.unwrap();
        }
        tx.commit().await.unwrap();
        let report = verify_chain(&store).await.unwrap();
        assert!(report.ok(), "{report:#?}");
        assert_eq!(report.entries, u64::try_from(count).unwrap());
        assert_eq!(report.head_seq, count);
        let mut tx = store.read().await.unwrap();
        assert_eq!(report.head_hash, tx.audit_entries(1).await.unwrap()[0].hash);

        let empty = verify_chain(&MemStore::new()).await.unwrap();
        assert!(empty.ok());
        assert_eq!(empty.entries, 0);
    }
}
