//! The single ledger writer: every state change runs here, many to a transaction.
//!
//! Handlers submit commands (closures over the ledger and a transaction) through a bounded
//! channel. The writer drains up to `batch_max` of them, runs them one after another inside one
//! store transaction, commits once, and only then answers each submitter. A DFSP therefore gets
//! its `202` only after its command is durable, while the store pays one fsync per batch instead
//! of one per transfer (group commit). If the batch fails to commit, nothing in it happened and
//! every submitter gets the error.

use std::any::Any;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use ledger::engine::Ledger;
use ledger::{LedgerStore, LedgerTx, StoreError};
use tokio::sync::{mpsc, oneshot};

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
}

/// A cheap handle to submit commands to the writer.
#[derive(Clone)]
pub struct LedgerWriter {
    sender: mpsc::Sender<Command>,
    store: Arc<dyn LedgerStore>,
    ledger: Ledger,
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
        }
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
        self.sender
            .send(Command {
                job,
                reply: Some(reply),
            })
            .await
            .map_err(|_| WriterError::Stopped)?;
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
            tracing::warn!("ledger writer queue full; dropped a bookkeeping record");
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
