//! Delivery of outbound messages to DFSPs.
//!
//! Bounded concurrency (a semaphore), a timeout per attempt, retries with exponential backoff
//! for transient failures (no answer, 429, 5xx), and a delivery log: every attempt is recorded
//! in the store through the ledger writer's bookkeeping path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ledger::Delivery;
use tokio::sync::Semaphore;

use crate::endpoints::Directory;
use crate::message::Outbound;
use crate::outbound::OutboundClients;
use crate::signatures::HubSigner;
use crate::writer::LedgerWriter;

/// Delivery settings.
#[derive(Clone, Debug)]
pub struct CallbackConfig {
    /// Deliveries in flight at once.
    pub concurrency: usize,
    /// Timeout of one attempt.
    pub timeout: Duration,
    /// Attempts per message, including the first.
    pub attempts: u32,
    /// Delay before the first retry; doubles each time.
    pub backoff: Duration,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            concurrency: 256,
            timeout: Duration::from_secs(10),
            attempts: 4,
            backoff: Duration::from_millis(200),
        }
    }
}

/// Sends outbound messages in the background.
#[derive(Clone)]
pub struct Dispatcher {
    clients: Arc<OutboundClients>,
    endpoints: Directory,
    writer: LedgerWriter,
    permits: Arc<Semaphore>,
    config: CallbackConfig,
    signer: Arc<HubSigner>,
    metrics: Arc<crate::metrics::Metrics>,
}

impl Dispatcher {
    /// A dispatcher sending through `clients` (mutual TLS in secure mode), signing what the
    /// hub originates with `signer`.
    pub fn new(
        clients: Arc<OutboundClients>,
        endpoints: Directory,
        writer: LedgerWriter,
        config: CallbackConfig,
        signer: Arc<HubSigner>,
        metrics: Arc<crate::metrics::Metrics>,
    ) -> Dispatcher {
        let permits = Arc::new(Semaphore::new(config.concurrency.max(1)));
        Dispatcher {
            clients,
            endpoints,
            writer,
            permits,
            config,
            signer,
            metrics,
        }
    }

    /// Queues a message; returns at once. Messages the hub originates are signed here, on
    /// the way out, so no code path can send one unsigned.
    pub fn send(&self, message: Outbound) {
        let this = self.clone();
        tokio::spawn(async move {
            let Ok(_permit) = this.permits.clone().acquire_owned().await else {
                return;
            };
            let mut message = message;
            if !this.sign(&mut message) {
                return;
            }
            let delivered = this.deliver(&message).await;
            this.metrics.callback(delivered);
            if !delivered
                && let Some(mut fallback) = message.fallback.take()
                && this.sign(&mut fallback)
            {
                let _ = this.deliver(&fallback).await;
            }
        });
    }

    /// Signs a hub-originated message; false (and logged) if it cannot be signed, in which
    /// case it is not sent: DFSPs refuse unsigned hub messages anyway.
    fn sign(&self, message: &mut Outbound) -> bool {
        if !message.from_hub {
            return true;
        }
        match self.signer.sign(message) {
            Ok(()) => true,
            Err(error) => {
                tracing::error!(to = %crate::logsafe::Escaped(&message.to), uri = %crate::logsafe::Escaped(&message.fspiop_uri), %error, "cannot sign a hub message; not sent");
                self.record(
                    message,
                    "",
                    1,
                    None,
                    Some(format!("not signed: {error}")),
                    0,
                );
                false
            }
        }
    }

    /// Delivers with retries; true if the receiver answered 2xx.
    async fn deliver(&self, message: &Outbound) -> bool {
        let Some(url) = self
            .endpoints
            .url(&message.to, message.endpoint, &message.target)
            .await
        else {
            tracing::warn!(to = %crate::logsafe::Escaped(&message.to), endpoint = message.endpoint.name(), "no callback endpoint registered");
            self.record(
                message,
                "",
                1,
                None,
                Some(format!("no {} registered", message.endpoint.name())),
                0,
            );
            return false;
        };
        if let Err(error) = self.clients.client_for(&message.to, &url) {
            tracing::warn!(to = %crate::logsafe::Escaped(&message.to), url = %crate::logsafe::Escaped(&url), error = %crate::logsafe::Escaped(&error.to_string()), "callback not sent");
            self.record(message, &url, 1, None, Some(error), 0);
            return false;
        }
        let mut delay = self.config.backoff;
        for attempt in 1..=self.config.attempts.max(1) {
            let started = Instant::now();
            let result = self.attempt(message, &url).await;
            let took = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            match result {
                Ok(status) if (200..300).contains(&status) => {
                    self.record(message, &url, attempt, Some(status), None, took);
                    return true;
                }
                Ok(status) => {
                    self.record(message, &url, attempt, Some(status), None, took);
                    let transient = status == 429 || status >= 500;
                    if !transient {
                        tracing::warn!(to = %crate::logsafe::Escaped(&message.to), url = %crate::logsafe::Escaped(&url), status, "callback refused by receiver");
                        return false;
                    }
                }
                Err(error) => {
                    self.record(message, &url, attempt, None, Some(error), took);
                }
            }
            if attempt < self.config.attempts {
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
        tracing::warn!(to = %crate::logsafe::Escaped(&message.to), url = %crate::logsafe::Escaped(&url), "callback undeliverable after retries");
        false
    }

    async fn attempt(&self, message: &Outbound, url: &str) -> Result<u16, String> {
        let method = reqwest::Method::from_bytes(message.method.as_str().as_bytes())
            .map_err(|e| e.to_string())?;
        let client = self.clients.client_for(&message.to, url)?;
        let mut request = client.request(method, url).timeout(self.config.timeout);
        for (name, value) in &message.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if !message.headers.iter().any(|(name, _)| name == "accept") {
            // Without this the HTTP client would add `Accept: */*`, which strict FSPIOP header
            // validators refuse; the resource's own media type is always acceptable.
            let resource = message
                .fspiop_uri
                .split('/')
                .find(|s| !s.is_empty())
                .and_then(fspiop::headers::Resource::from_segment);
            if let Some(resource) = resource {
                request = request.header("accept", resource.accept());
            }
        }
        if let Some(body) = &message.body {
            request = request.body(body.clone());
        }
        match request.send().await {
            Ok(response) => Ok(response.status().as_u16()),
            Err(error) => Err(error_chain(&error)),
        }
    }

    fn record(
        &self,
        message: &Outbound,
        url: &str,
        attempt: u32,
        status: Option<u16>,
        error: Option<String>,
        duration_ms: u64,
    ) {
        let delivery = Delivery {
            at_ms: self.writer.ledger().now_ms(),
            participant: message.to.clone(),
            method: message.method.as_str().into(),
            url: url.into(),
            fspiop_uri: message.fspiop_uri.clone(),
            attempt,
            status,
            error,
            duration_ms,
        };
        self.writer.submit_detached(move |_, tx| {
            Box::pin(async move { tx.append_delivery(&delivery).await })
        });
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}
