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

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

use crate::metrics::Metrics;

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
    /// Open connections per participant (lower-case name), kept with `entries`.
    per_participant: Mutex<HashMap<String, usize>>,
}

impl ConnectionRegistry {
    /// Registers a connection; the token closes it.
    pub fn register(&self, participant: &str, serial_hex: &str) -> (u64, CancellationToken) {
        self.try_register(participant, serial_hex, usize::MAX)
            .unwrap_or_else(|| (u64::MAX, CancellationToken::new()))
    }

    /// Registers a connection unless its participant already has `max_per_participant` open;
    /// the check and the registration are one step, so concurrent handshakes cannot overrun
    /// the cap.
    pub fn try_register(
        &self,
        participant: &str,
        serial_hex: &str,
        max_per_participant: usize,
    ) -> Option<(u64, CancellationToken)> {
        let participant = participant.to_ascii_lowercase();
        let mut entries = self.lock();
        let mut counts = self.counts();
        let count = counts.entry(participant.clone()).or_default();
        if *count >= max_per_participant {
            return None;
        }
        *count = count.saturating_add(1);
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let token = CancellationToken::new();
        entries.insert(
            id,
            Entry {
                participant,
                serial_hex: serial_hex.to_ascii_lowercase(),
                token: token.clone(),
            },
        );
        Some((id, token))
    }

    fn unregister(&self, id: u64) {
        let mut entries = self.lock();
        if let Some(entry) = entries.remove(&id) {
            let mut counts = self.counts();
            if let Some(count) = counts.get_mut(&entry.participant) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    counts.remove(&entry.participant);
                }
            }
        }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        self.per_participant
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now for one participant.
    pub fn open_for(&self, participant: &str) -> usize {
        let _entries = self.lock();
        self.counts()
            .get(&participant.to_ascii_lowercase())
            .copied()
            .unwrap_or(0)
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

/// How long each part of a request cycle on an FSPIOP connection may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// From a request's first byte (or the TLS handshake, for the first request) until its
    /// headers are complete.
    pub header: Duration,
    /// Keep-alive: from the end of a response (or the handshake) until the next request's
    /// first byte.
    pub idle: Duration,
    /// From the end of a request's headers until its body has been read.
    pub body: Duration,
}

/// Which deadline closed a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// The headers did not arrive in time (slowloris).
    Header,
    /// The connection stayed idle too long between requests.
    Idle,
    /// The body did not arrive in time.
    Body,
}

impl TimeoutKind {
    /// The metrics label.
    pub fn label(self) -> &'static str {
        match self {
            TimeoutKind::Header => "header_timeout",
            TimeoutKind::Idle => "idle_timeout",
            TimeoutKind::Body => "body_timeout",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Waiting for a request (the connection was just handshaken or the last response was
    /// sent).
    Idle,
    /// Reading a request's headers.
    Head,
    /// The request is with the handler, whose body is still being read.
    Body,
    /// The handler has the whole request: no deadline until its response is ready.
    Busy,
}

/// Where one connection is in its request cycle: moved on by the stream (a request's first
/// byte) and by the server (headers parsed, body read, response ready), read by the stream to
/// know which deadline applies.
pub struct Activity {
    state: Mutex<(Phase, Instant)>,
}

impl Activity {
    /// A connection that just became ready for its first request.
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            state: Mutex::new((Phase::Idle, Instant::now())),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, (Phase, Instant)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn first_byte(&self) {
        let mut state = self.state();
        if state.0 == Phase::Idle {
            *state = (Phase::Head, Instant::now());
        }
    }

    /// The headers were parsed and the request handed to the handler; `body_pending` when the
    /// request still has a body to read.
    pub fn headers_received(&self, body_pending: bool) {
        let phase = if body_pending {
            Phase::Body
        } else {
            Phase::Busy
        };
        *self.state() = (phase, Instant::now());
    }

    /// The handler has read the whole body.
    pub fn body_done(&self) {
        let mut state = self.state();
        if state.0 == Phase::Body {
            state.0 = Phase::Busy;
        }
    }

    /// The response is ready: the connection waits for the next request from now on.
    pub fn response_ready(&self) {
        *self.state() = (Phase::Idle, Instant::now());
    }

    fn deadline(&self, timeouts: &Timeouts) -> Option<(Instant, TimeoutKind)> {
        let (phase, since) = *self.state();
        let (limit, kind) = match phase {
            Phase::Idle => (timeouts.idle, TimeoutKind::Idle),
            Phase::Head => (timeouts.header, TimeoutKind::Header),
            Phase::Body => (timeouts.body, TimeoutKind::Body),
            Phase::Busy => return None,
        };
        // A limit too large to add is no limit.
        since.checked_add(limit).map(|at| (at, kind))
    }
}

struct Watch {
    activity: Arc<Activity>,
    timeouts: Timeouts,
    sleep: Pin<Box<Sleep>>,
    armed: Option<Instant>,
    fired: Option<TimeoutKind>,
    metrics: Arc<Metrics>,
}

impl Watch {
    /// `Err` once the deadline of the current phase has passed; otherwise makes sure the task
    /// is woken when it does.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if let Some(kind) = self.fired {
            return Err(timed_out(kind));
        }
        let Some((deadline, kind)) = self.activity.deadline(&self.timeouts) else {
            self.armed = None;
            return Ok(());
        };
        if self.armed != Some(deadline) {
            self.sleep.as_mut().reset(deadline);
            self.armed = Some(deadline);
        }
        match self.sleep.as_mut().poll(cx) {
            Poll::Ready(()) => {
                self.fired = Some(kind);
                self.metrics.connection_timeout(kind.label());
                Err(timed_out(kind))
            }
            Poll::Pending => Ok(()),
        }
    }
}

fn timed_out(kind: TimeoutKind) -> io::Error {
    let what = match kind {
        TimeoutKind::Header => "request headers did not arrive in time",
        TimeoutKind::Idle => "connection idle for too long",
        TimeoutKind::Body => "request body did not arrive in time",
    };
    io::Error::new(io::ErrorKind::TimedOut, what)
}

/// A stream that fails once its token is cancelled (or, with deadlines, once the current
/// phase of its request cycle has taken too long), and unregisters itself when dropped.
pub struct ClosableStream<S> {
    inner: S,
    closed: Pin<Box<WaitForCancellationFutureOwned>>,
    registry: Arc<ConnectionRegistry>,
    id: u64,
    watch: Option<Watch>,
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
            watch: None,
        }
    }

    /// Enforces `timeouts` on the request cycle `activity` tracks: a read or write after the
    /// current phase's deadline fails (and the task is woken at the deadline, so an idle
    /// connection is closed too); each timeout is counted in `metrics`.
    pub fn with_deadlines(
        mut self,
        activity: Arc<Activity>,
        timeouts: Timeouts,
        metrics: Arc<Metrics>,
    ) -> ClosableStream<S> {
        self.watch = Some(Watch {
            activity,
            timeouts,
            sleep: Box::pin(tokio::time::sleep_until(Instant::now())),
            armed: None,
            fired: None,
            metrics,
        });
        self
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
            Poll::Pending => match &mut self.watch {
                Some(watch) => watch.check(cx),
                None => Ok(()),
            },
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
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(watch)) = (&read, &this.watch)
            && buf.filled().len() > before
        {
            // A request's first byte starts its header deadline.
            watch.activity.first_byte();
        }
        read
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

/// Default time a request's headers may take after its first byte (or the handshake).
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Default keep-alive idle time: Mojaloop's SDK keeps connections open for 65 s and more
/// between requests, so the hub waits longer than that.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Default time a request's body may take after its headers.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(30);
/// Default cap on one participant's open connections (certificate identity).
pub const DEFAULT_MAX_PER_PARTICIPANT: usize = 256;
/// Default cap on TLS handshakes in progress at once.
pub const DEFAULT_MAX_HANDSHAKES: usize = 256;
/// File descriptors kept out of the FSPIOP listener's reach: the store, callback connection
/// pools (up to `callbacks.concurrency`), the admin and metrics listeners and their
/// connections, logs. At least this many, or a tenth of the process's limit if that is more;
/// a limit below twice this is shared half and half.
pub const MIN_FD_RESERVE: u64 = 1024;
/// How often, at most, a refused connection is logged (refusals are counted every time).
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Limits of the FSPIOP listener's connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Request cycle deadlines.
    pub timeouts: Timeouts,
    /// Open connections per participant (certificate identity); beyond, new ones are closed
    /// right after the handshake.
    pub max_per_participant: usize,
    /// Open connections on the listener, handshakes in progress included; beyond, new ones are
    /// closed right after `accept`. `None`: derived from the process's file limit
    /// ([`ConnectionLimits::resolve`]).
    pub max_connections: Option<usize>,
    /// TLS handshakes in progress at once; beyond, the listener stops accepting until one ends.
    pub max_handshakes: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            timeouts: Timeouts {
                header: DEFAULT_HEADER_TIMEOUT,
                idle: DEFAULT_IDLE_TIMEOUT,
                body: DEFAULT_BODY_TIMEOUT,
            },
            max_per_participant: DEFAULT_MAX_PER_PARTICIPANT,
            max_connections: None,
            max_handshakes: DEFAULT_MAX_HANDSHAKES,
        }
    }
}

/// Why the connection limits cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LimitsError {
    /// A limit is zero.
    #[error("connection limit {0} must be at least 1")]
    Zero(&'static str),
    /// The global cap would let the FSPIOP listener exhaust the process's file descriptors.
    #[error(
        "max_connections {configured} is too high for this process's file limit \
         (RLIMIT_NOFILE {nofile}): at most {allowed}, so that the store, callbacks and the \
         admin and metrics listeners keep {reserve} descriptors"
    )]
    AboveFileLimit {
        /// The configured cap.
        configured: usize,
        /// The soft file limit.
        nofile: u64,
        /// The largest cap allowed.
        allowed: u64,
        /// Descriptors kept for the rest of the process.
        reserve: u64,
    },
}

impl ConnectionLimits {
    /// Checks the limits against the process's file limit `nofile` (soft `RLIMIT_NOFILE`;
    /// `None` for unlimited) and returns the global cap in force: the configured one if it
    /// leaves the reserve free, else an error; derived (`nofile` minus the reserve) if none
    /// is configured.
    pub fn resolve(&self, nofile: Option<u64>) -> Result<usize, LimitsError> {
        for (name, value) in [
            ("max_per_participant", self.max_per_participant),
            ("max_handshakes", self.max_handshakes),
            ("max_connections", self.max_connections.unwrap_or(1)),
        ] {
            if value == 0 {
                return Err(LimitsError::Zero(name));
            }
        }
        let allowed = nofile.map(|nofile| {
            // A small limit is shared half and half.
            let reserve = if nofile >= MIN_FD_RESERVE.saturating_mul(2) {
                MIN_FD_RESERVE.max(nofile / 10)
            } else {
                nofile.saturating_sub(nofile / 2)
            };
            (nofile, reserve, nofile.saturating_sub(reserve))
        });
        match (self.max_connections, allowed) {
            (Some(configured), Some((nofile, reserve, allowed))) => {
                if configured as u64 > allowed {
                    return Err(LimitsError::AboveFileLimit {
                        configured,
                        nofile,
                        allowed,
                        reserve,
                    });
                }
                Ok(configured)
            }
            (Some(configured), None) => Ok(configured),
            (None, Some((nofile, reserve, allowed))) => {
                if allowed == 0 {
                    return Err(LimitsError::AboveFileLimit {
                        configured: 1,
                        nofile,
                        allowed,
                        reserve,
                    });
                }
                Ok(usize::try_from(allowed).unwrap_or(usize::MAX))
            }
            (None, None) => Ok(UNLIMITED_FILES_CAP),
        }
    }
}

/// The global cap when the process has no file limit at all.
pub const UNLIMITED_FILES_CAP: usize = 65_536;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit where the system allows it, and returns
/// the soft limit in force afterwards (`None`: unlimited).
pub fn raise_file_limit() -> Option<u64> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum)
        && current < maximum
    {
        let raised = rustix::process::Rlimit {
            current: Some(maximum),
            maximum: Some(maximum),
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => {
                tracing::info!(from = current, to = maximum, "raised the open-file limit");
                return Some(maximum);
            }
            Err(error) => {
                tracing::warn!(%error, current, maximum, "cannot raise the open-file limit");
            }
        }
    }
    getrlimit(Resource::Nofile).current
}

/// Logs an event at most once per interval, with how many were not logged in between.
pub struct RateLimitedLog {
    interval: Duration,
    state: Mutex<(Option<Instant>, u64)>,
}

impl RateLimitedLog {
    /// At most one line per `interval`.
    pub fn new(interval: Duration) -> RateLimitedLog {
        RateLimitedLog {
            interval,
            state: Mutex::new((None, 0)),
        }
    }

    /// Counts an event; `Some(n)` when it should be logged now, `n` being the events not
    /// logged since the last line.
    pub fn hit(&self) -> Option<u64> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let due = state
            .0
            .is_none_or(|last| now.saturating_duration_since(last) >= self.interval);
        if due {
            let suppressed = state.1;
            *state = (Some(now), 0);
            Some(suppressed)
        } else {
            state.1 = state.1.saturating_add(1);
            None
        }
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

    #[test]
    fn participant_cap_is_exact() {
        let registry = Arc::new(ConnectionRegistry::default());
        let (a, _) = registry.try_register("PayerFSP", "01", 2).expect("first");
        let _second = registry.try_register("payerfsp", "02", 2).expect("second");
        assert!(registry.try_register("payerfsp", "03", 2).is_none(), "cap");
        assert!(
            registry.try_register("payeefsp", "04", 2).is_some(),
            "others"
        );
        assert_eq!(registry.open_for("PAYERFSP"), 2);
        registry.unregister(a);
        assert_eq!(registry.open_for("payerfsp"), 1);
        assert!(
            registry.try_register("payerfsp", "05", 2).is_some(),
            "freed"
        );
    }

    #[test]
    fn global_cap_leaves_the_reserve() {
        let limits = ConnectionLimits::default();
        assert_eq!(limits.resolve(Some(20_000)).unwrap(), 18_000);
        assert_eq!(limits.resolve(Some(4096)).unwrap(), 4096 - 1024);
        assert_eq!(
            limits.resolve(Some(1024)).unwrap(),
            512,
            "a small limit is halved"
        );
        assert!(limits.resolve(Some(1)).is_err(), "nothing left");
        let at = ConnectionLimits {
            max_connections: Some(18_000),
            ..limits
        };
        assert_eq!(at.resolve(Some(20_000)).unwrap(), 18_000);
        let over = ConnectionLimits {
            max_connections: Some(18_001),
            ..limits
        };
        assert!(matches!(
            over.resolve(Some(20_000)),
            Err(LimitsError::AboveFileLimit {
                allowed: 18_000,
                ..
            })
        ));
        let zero = ConnectionLimits {
            max_per_participant: 0,
            ..limits
        };
        assert!(zero.resolve(Some(20_000)).is_err());
    }

    #[tokio::test]
    async fn deadlines_follow_the_request_cycle() {
        let timeouts = Timeouts {
            header: Duration::from_millis(200),
            idle: Duration::from_millis(600),
            body: Duration::from_millis(300),
        };
        let registry = Arc::new(ConnectionRegistry::default());
        let metrics = Arc::new(Metrics::default());
        let (mut client, server) = tokio::io::duplex(64);
        let (id, token) = registry.register("p", "01");
        let activity = Activity::new();
        let mut stream = ClosableStream::new(server, registry.clone(), id, token).with_deadlines(
            activity.clone(),
            timeouts,
            metrics.clone(),
        );
        // Idle for less than the idle timeout: still open; a first byte starts the header
        // deadline, which is shorter.
        tokio::time::sleep(Duration::from_millis(400)).await;
        client.write_all(b"G").await.unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(stream.read(&mut buf).await.unwrap(), 1);
        // Headers complete: the handler is busy, no deadline at all.
        activity.headers_received(false);
        let read = tokio::time::timeout(Duration::from_millis(900), stream.read(&mut buf)).await;
        assert!(read.is_err(), "no deadline while the handler works");
        activity.response_ready();
        let error = stream.read(&mut buf).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(metrics.render(0, 0).contains("reason=\"idle_timeout\"} 1"));
        // Once timed out, always timed out.
        assert!(stream.write_all(b"x").await.is_err());
    }

    #[tokio::test]
    async fn a_slow_header_is_cut_at_the_header_deadline() {
        let timeouts = Timeouts {
            header: Duration::from_millis(200),
            idle: Duration::from_secs(10),
            body: Duration::from_secs(3),
        };
        let registry = Arc::new(ConnectionRegistry::default());
        let metrics = Arc::new(Metrics::default());
        let (mut client, server) = tokio::io::duplex(64);
        let (id, token) = registry.register("p", "01");
        let mut stream = ClosableStream::new(server, registry.clone(), id, token).with_deadlines(
            Activity::new(),
            timeouts,
            metrics.clone(),
        );
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 1];
            let mut got = 0;
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => return Ok(got),
                    Ok(_) => got += 1,
                    Err(e) => return Err((got, e.kind())),
                }
            }
        });
        for _ in 0..10 {
            if client.write_all(b"x").await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (got, kind) = reader.await.unwrap().unwrap_err();
        assert_eq!(kind, io::ErrorKind::TimedOut);
        assert!(got <= 5, "cut after about 200 ms, got {got} bytes");
        assert!(
            metrics
                .render(0, 0)
                .contains("reason=\"header_timeout\"} 1")
        );
    }

    #[test]
    fn rate_limited_log() {
        let log = RateLimitedLog::new(Duration::from_secs(3600));
        assert_eq!(log.hit(), Some(0));
        assert_eq!(log.hit(), None);
        assert_eq!(log.hit(), None);
    }
}
