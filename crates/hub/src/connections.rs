//! The FSPIOP listener's live mTLS connections, so the hub can close them.
//!
//! A certificate revoked while its holder is connected, or a participant deactivated, must not
//! keep a connection open until the peer hangs up. Every accepted TLS connection is registered
//! with its participant and certificate serial and wrapped in a [`ClosableStream`]; closing it
//! (via [`ConnectionRegistry::close_participant`] or [`ConnectionRegistry::close_serials`])
//! wakes the connection's task, whose next read or write fails, and hyper drops the
//! connection — idle keep-alive connections included. In-flight requests of other
//! connections are untouched.

use std::collections::{HashMap, HashSet};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

struct Entry {
    participant: String,
    serial_hex: String,
    token: CancellationToken,
}

/// Open connections by id.
#[derive(Default)]
pub struct ConnectionRegistry {
    entries: Mutex<HashMap<u64, Entry>>,
    next: AtomicU64,
    closed_by_hub: AtomicU64,
}

impl ConnectionRegistry {
    /// Registers a connection; the token closes it.
    pub fn register(&self, participant: &str, serial_hex: &str) -> (u64, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        self.lock().insert(
            id,
            Entry {
                participant: participant.to_ascii_lowercase(),
                serial_hex: serial_hex.to_ascii_lowercase(),
                token: token.clone(),
            },
        );
        (id, token)
    }

    fn unregister(&self, id: u64) {
        self.lock().remove(&id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn close_where(&self, matches: impl Fn(&Entry) -> bool) -> usize {
        let entries = self.lock();
        let mut closed: usize = 0;
        for entry in entries.values().filter(|e| matches(e)) {
            if !entry.token.is_cancelled() {
                entry.token.cancel();
                closed = closed.saturating_add(1);
            }
        }
        self.closed_by_hub
            .fetch_add(closed as u64, Ordering::Relaxed);
        closed
    }

    /// Closes every connection of a participant; returns how many.
    pub fn close_participant(&self, participant: &str) -> usize {
        let name = participant.to_ascii_lowercase();
        self.close_where(|e| e.participant == name)
    }

    /// Closes every connection whose certificate serial (lower-case hex) is in `serials`.
    pub fn close_serials(&self, serials: &HashSet<String>) -> usize {
        self.close_where(|e| serials.contains(&e.serial_hex))
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().len()
    }

    /// Connections the hub has closed since start.
    pub fn closed_by_hub(&self) -> u64 {
        self.closed_by_hub.load(Ordering::Relaxed)
    }
}

/// A stream that fails once its token is cancelled, and unregisters itself when dropped.
pub struct ClosableStream<S> {
    inner: S,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    registry: Arc<ConnectionRegistry>,
    id: u64,
}

impl<S> ClosableStream<S> {
    /// Wraps `inner`, registered as `id` in `registry` with `token`.
    pub fn new(
        inner: S,
        registry: Arc<ConnectionRegistry>,
        id: u64,
        token: CancellationToken,
    ) -> ClosableStream<S> {
        ClosableStream {
            inner,
            closed: Box::pin(token.cancelled_owned()),
            registry,
            id,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// `Err` once closed; otherwise registers the waker so that closing wakes the task.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        match self.closed.as_mut().poll(cx) {
            Poll::Ready(()) => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "connection closed by the hub (certificate revoked or participant deactivated)",
            )),
            Poll::Pending => Ok(()),
        }
    }
}

impl<S> Drop for ClosableStream<S> {
    fn drop(&mut self) {
        self.registry.unregister(self.id);
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ClosableStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Err(error) = this.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ClosableStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Err(error) = this.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn closing_wakes_an_idle_reader() {
        let registry = Arc::new(ConnectionRegistry::default());
        let (client, server) = tokio::io::duplex(64);
        let (id, token) = registry.register("PayerFSP", "0a");
        let mut stream = ClosableStream::new(server, registry.clone(), id, token);
        assert_eq!(registry.open(), 1);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let result = stream.read(&mut buf).await;
            drop(stream);
            result
        });
        tokio::task::yield_now().await;
        assert_eq!(registry.close_participant("other"), 0);
        assert_eq!(registry.close_participant("payerfsp"), 1);
        let result = reader.await.expect("reader task");
        assert_eq!(
            result.expect_err("closed").kind(),
            io::ErrorKind::ConnectionAborted
        );
        assert_eq!(registry.open(), 0, "dropping unregisters");
        assert_eq!(registry.closed_by_hub(), 1);
        drop(client);
    }

    #[tokio::test]
    async fn close_by_serial_leaves_others_open() {
        let registry = Arc::new(ConnectionRegistry::default());
        let (mut a_client, a_server) = tokio::io::duplex(64);
        let (_b_client, b_server) = tokio::io::duplex(64);
        let (a_id, a_token) = registry.register("a", "01");
        let (b_id, b_token) = registry.register("b", "02");
        let mut a = ClosableStream::new(a_server, registry.clone(), a_id, a_token);
        let mut b = ClosableStream::new(b_server, registry.clone(), b_id, b_token);
        let revoked: HashSet<String> = ["02".to_string()].into();
        assert_eq!(registry.close_serials(&revoked), 1);
        assert!(b.write_all(b"x").await.is_err());
        a_client.write_all(b"hi").await.expect("write");
        let mut buf = [0u8; 2];
        a.read_exact(&mut buf).await.expect("a still open");
        assert_eq!(&buf, b"hi");
    }
}
