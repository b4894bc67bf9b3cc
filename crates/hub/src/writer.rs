//! The single ledger writer: every state change runs here, many to a transaction.
//!
//! Handlers submit commands (closures over the ledger and a transaction) through a bounded
//! channel. The writer drains up to `batch_max` of them, runs them one after another inside one
//! store transaction, commits once, and only then answers each submitter. A DFSP therefore gets
//! its `202` only after its command is durable, while the store pays one fsync per batch instead
//! of one per transfer (group commit). If the batch fails to commit, nothing in it happened and
//! every submitter gets the error.
//!
//! Backpressure: the queue is bounded (`HubConfig::queue`). A submitter whose command finds it
//! full waits at most [`ADMISSION_WAIT`]; then it is refused with [`WriterError::Busy`] (the
//! DFSP gets `503`, `2003`, `Retry-After`) and nothing of it is recorded. Nothing waits without
//! bound, and nothing is acknowledged that is not durable.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::future::BoxFuture;
use ledger::engine::Ledger;
use ledger::{LedgerStore, LedgerTx, StoreError};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{mpsc, oneshot};

/// How long a command may wait for room in a full writer queue before it is refused.
pub const ADMISSION_WAIT: Duration = Duration::from_millis(250);
/// What a refused submitter is told to wait before trying again (seconds, `Retry-After`).
pub const RETRY_AFTER_SECS: u64 = 1;

type Output = Box<dyn Any + Send>;
type Job = Box<
    dyn for<'a> FnOnce(
            &'a Ledger,
            &'a mut dyn LedgerTx,
        ) -> BoxFuture<'a, Result<Output, StoreError>>
        + Send,
>;

struct Command {
    job: Job,
    reply: Option<oneshot::Sender<Result<Output, WriterError>>>,
}

/// Why a command did not run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum WriterError {
    /// The store failed; nothing of the batch was applied.
    #[error("ledger store failed: {0}")]
    Store(String),
    /// The writer has stopped (shutdown).
    #[error("ledger writer stopped")]
    Stopped,
    /// The writer's queue stayed full for [`ADMISSION_WAIT`]: the command was not taken and
    /// nothing of it was recorded; the caller may retry after [`RETRY_AFTER_SECS`].
    #[error("the ledger writer is at capacity (queue full); nothing was recorded, retry later")]
    Busy,
}

impl WriterError {
    /// Whether the command was refused for capacity (retry later) rather than failed.
    pub fn is_busy(&self) -> bool {
        matches!(self, WriterError::Busy)
    }
}

/// A cheap handle to submit commands to the writer.
#[derive(Clone)]
pub struct LedgerWriter {
    sender: mpsc::Sender<Command>,
    store: Arc<dyn LedgerStore>,
    ledger: Ledger,
    refused: Arc<AtomicU64>,
}

impl LedgerWriter {
    /// Starts the writer task.
    pub fn start(
        store: Arc<dyn LedgerStore>,
        ledger: Ledger,
        queue: usize,
        batch_max: usize,
    ) -> LedgerWriter {
        let (sender, receiver) = mpsc::channel(queue.max(1));
        tokio::spawn(run(
            store.clone(),
            ledger.clone(),
            receiver,
            batch_max.max(1),
        ));
        LedgerWriter {
            sender,
            store,
            ledger,
            refused: Arc::default(),
        }
    }

    /// Commands refused so far because the queue was full (waiting ones and detached ones).
    pub fn refused_at_capacity(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Runs `job` in the next batch and waits until its batch is committed.
    pub async fn run<T, F>(&self, job: F) -> Result<T, WriterError>
    where
        T: Send + 'static,
        F: for<'a> FnOnce(&'a Ledger, &'a mut dyn LedgerTx) -> BoxFuture<'a, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |ledger, tx| {
            let future = job(ledger, tx);
            Box::pin(async move { future.await.map(|value| Box::new(value) as Output) })
        });
        let command = Command {
            job,
            reply: Some(reply),
        };
        match self.sender.send_timeout(command, ADMISSION_WAIT).await {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(WriterError::Busy);
            }
            Err(SendTimeoutError::Closed(_)) => return Err(WriterError::Stopped),
        }
        let output = answer.await.map_err(|_| WriterError::Stopped)??;
        output
            .downcast::<T>()
            .map(|boxed| *boxed)
            .map_err(|_| WriterError::Store("writer returned an unexpected type".into()))
    }

    /// Runs `job` in a later batch without waiting (delivery records and other bookkeeping that
    /// must not slow the caller). Dropped if the queue is full.
    pub fn submit_detached<F>(&self, job: F)
    where
        F: for<'a> FnOnce(
                &'a Ledger,
                &'a mut dyn LedgerTx,
            ) -> BoxFuture<'a, Result<(), StoreError>>
            + Send
            + 'static,
    {
        let job: Job = Box::new(move |ledger, tx| {
            let future = job(ledger, tx);
            Box::pin(async move { future.await.map(|()| Box::new(()) as Output) })
        });
        if self.sender.try_send(Command { job, reply: None }).is_err() {
            let dropped = self.refused.fetch_add(1, Ordering::Relaxed);
            // Once, then every 1,000th: a full queue must not also flood the log.
            if dropped.is_multiple_of(1000) {
                tracing::warn!(
                    refused_so_far = dropped.saturating_add(1),
                    "ledger writer queue full; dropped a bookkeeping record"
                );
            }
        }
    }

    /// Runs a read-only query on a reader connection (never blocks the writer).
    pub async fn read<T, F>(&self, query: F) -> Result<T, WriterError>
    where
        F: for<'a> FnOnce(&'a Ledger, &'a mut dyn LedgerTx) -> BoxFuture<'a, Result<T, StoreError>>,
    {
        let mut tx = self
            .store
            .read()
            .await
            .map_err(|e| WriterError::Store(e.to_string()))?;
        query(&self.ledger, tx.as_mut())
            .await
            .map_err(|e| WriterError::Store(e.to_string()))
    }

    /// The ledger rules (for the clock).
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }
}

async fn run(
    store: Arc<dyn LedgerStore>,
    ledger: Ledger,
    mut receiver: mpsc::Receiver<Command>,
    batch_max: usize,
) {
    let mut batch: Vec<Command> = Vec::with_capacity(batch_max);
    loop {
        if receiver.recv_many(&mut batch, batch_max).await == 0 {
            return;
        }
        let replies = run_batch(store.as_ref(), &ledger, &mut batch).await;
        for (reply, result) in replies {
            // A submitter that went away (client disconnected) no longer needs the answer.
            let _ = reply.send(result);
        }
    }
}

async fn run_batch(
    store: &dyn LedgerStore,
    ledger: &Ledger,
    batch: &mut Vec<Command>,
) -> Vec<(
    oneshot::Sender<Result<Output, WriterError>>,
    Result<Output, WriterError>,
)> {
    let size = batch.len();
    let mut results: Vec<(Option<oneshot::Sender<_>>, Result<Output, StoreError>)> =
        Vec::with_capacity(size);
    let outcome: Result<(), StoreError> = async {
        let mut tx = store.begin().await?;
        for command in batch.drain(..) {
            let output = (command.job)(ledger, tx.as_mut()).await;
            let failed = output.is_err();
            results.push((command.reply, output));
            if failed {
                // The transaction is in an unknown state: abandon the whole batch.
                return Err(StoreError::Backend(
                    "a command failed; batch rolled back".into(),
                ));
            }
        }
        tx.commit().await
    }
    .await;
    metrics_batch(size);
    let mut replies = Vec::with_capacity(size);
    match outcome {
        Ok(()) => {
            for (reply, output) in results {
                if let Some(reply) = reply {
                    replies.push((reply, output.map_err(|e| WriterError::Store(e.to_string()))));
                }
            }
        }
        Err(error) => {
            tracing::error!(%error, batch = size, "ledger batch failed; nothing in it was applied");
            let first = results
                .iter()
                .find_map(|(_, r)| r.as_ref().err().map(|e| e.to_string()));
            let message = first.unwrap_or_else(|| error.to_string());
            for (reply, _) in results {
                if let Some(reply) = reply {
                    replies.push((reply, Err(WriterError::Store(message.clone()))));
                }
            }
            // Commands never reached (after the failing one) are answered too.
            for command in batch.drain(..) {
                if let Some(reply) = command.reply {
                    replies.push((reply, Err(WriterError::Store(message.clone()))));
                }
            }
        }
    }
    replies
}

fn metrics_batch(size: usize) {
    tracing::trace!(size, "ledger batch");
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger::clock::SystemClock;

    fn writer(queue: usize) -> LedgerWriter {
        let store: Arc<dyn LedgerStore> = Arc::new(ledger::mem::MemStore::new());
        let ledger = Ledger::new(Arc::new(SystemClock));
        LedgerWriter::start(store, ledger, queue, 1)
    }

    #[tokio::test]
    async fn a_full_queue_refuses_after_the_admission_wait_and_records_nothing() {
        let writer = writer(2);
        // The first command holds the writer inside its batch until released.
        let (release, held) = oneshot::channel::<()>();
        let (entered, is_in) = oneshot::channel::<()>();
        let blocker = writer.clone();
        let first = tokio::spawn(async move {
            blocker
                .run(move |_, _| {
                    Box::pin(async move {
                        let _ = entered.send(());
                        let _ = held.await;
                        Ok(1u32)
                    })
                })
                .await
        });
        is_in.await.expect("the first command runs");
        // Two more fill the queue (capacity 2) and wait their turn.
        let mut waiting = Vec::new();
        for n in 0..2u32 {
            let w = writer.clone();
            waiting.push(tokio::spawn(async move {
                w.run(move |_, _| Box::pin(async move { Ok(n) })).await
            }));
        }
        while writer.sender.capacity() > 0 {
            tokio::task::yield_now().await;
        }
        // The next one finds the queue full, waits ADMISSION_WAIT, and is refused.
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = ran.clone();
        let started = std::time::Instant::now();
        let refused = writer
            .run(move |_, _| {
                Box::pin(async move {
                    flag.store(true, Ordering::SeqCst);
                    Ok(())
                })
            })
            .await;
        assert!(matches!(refused, Err(WriterError::Busy)), "{refused:?}");
        assert!(started.elapsed() >= ADMISSION_WAIT);
        assert_eq!(writer.refused_at_capacity(), 1);
        // A detached record is dropped (and counted), not queued without bound.
        writer.submit_detached(|_, _| Box::pin(async { Ok(()) }));
        assert_eq!(writer.refused_at_capacity(), 2);
        // Released, everything that was admitted completes; the refused command never ran.
        release.send(()).expect("release");
        assert_eq!(first.await.expect("join").expect("first"), 1);
        for (n, handle) in waiting.into_iter().enumerate() {
            assert_eq!(handle.await.expect("join").expect("admitted"), n as u32);
        }
        assert!(
            !ran.load(Ordering::SeqCst),
            "a refused command must not run"
        );
    }

    #[test]
    fn a_refusal_for_capacity_tells_the_dfsp_when_to_retry() {
        let error = fspiop::FspiopError::new(fspiop::ErrorCode::SERVICE_UNAVAILABLE, "busy");
        let response = crate::api::error_response(&error);
        assert_eq!(response.status(), 503);
        let retry_after = response
            .headers()
            .get(axum::http::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        assert_eq!(retry_after, Some(RETRY_AFTER_SECS.to_string()));
        // Other refusals carry no Retry-After.
        let other = fspiop::FspiopError::new(fspiop::ErrorCode::MALFORMED_SYNTAX, "bad");
        let response = crate::api::error_response(&other);
        assert!(
            response
                .headers()
                .get(axum::http::header::RETRY_AFTER)
                .is_none()
        );
    }
}
