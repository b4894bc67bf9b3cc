//! Deadline-driven expiry: an ordered index of (expiration, transfer id), one timer for the
//! earliest deadline. Nothing polls the store; an expired transfer is aborted as soon as its
//! deadline passes (plus scheduling latency, well under a second).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;
use ledger::Clock;
use tokio::sync::mpsc;

/// What to do with due transfer ids.
pub type OnDue = Arc<dyn Fn(Vec<String>) -> BoxFuture<'static, ()> + Send + Sync>;

/// Handle to schedule deadlines.
#[derive(Clone)]
pub struct ExpiryScheduler {
    sender: mpsc::UnboundedSender<(i64, String)>,
}

impl ExpiryScheduler {
    /// Starts the scheduler task.
    pub fn start(clock: Arc<dyn Clock>, on_due: OnDue) -> ExpiryScheduler {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run(clock, on_due, receiver));
        ExpiryScheduler { sender }
    }

    /// Schedules `id` to be checked at `deadline_ms` (ms since the epoch).
    pub fn schedule(&self, deadline_ms: i64, id: String) {
        let _ = self.sender.send((deadline_ms, id));
    }
}

/// Largest batch of expiries handed over at once.
const DUE_BATCH_MAX: usize = 512;
/// Longest single sleep, so a clock change is noticed.
const SLEEP_MAX: Duration = Duration::from_millis(500);

async fn run(
    clock: Arc<dyn Clock>,
    on_due: OnDue,
    mut receiver: mpsc::UnboundedReceiver<(i64, String)>,
) {
    let mut deadlines: BTreeSet<(i64, String)> = BTreeSet::new();
    loop {
        let now = clock.now_millis();
        let mut due = Vec::new();
        while let Some(first) = deadlines.first() {
            if first.0 > now || due.len() >= DUE_BATCH_MAX {
                break;
            }
            if let Some((_, id)) = deadlines.pop_first() {
                due.push(id);
            }
        }
        if !due.is_empty() {
            on_due(due).await;
            continue;
        }
        let wait = deadlines
            .first()
            .map(|(at, _)| {
                Duration::from_millis(u64::try_from(at.saturating_sub(now)).unwrap_or(0))
                    .min(SLEEP_MAX)
            })
            .unwrap_or(SLEEP_MAX);
        tokio::select! {
            received = receiver.recv() => match received {
                Some(entry) => { deadlines.insert(entry); }
                None => return,
            },
            () = tokio::time::sleep(wait) => {}
        }
    }
}
