//! The participant directory: whether a participant exists and is active, and its callback
//! endpoints, cached in memory and refreshed from the store.
//!
//! Every outbound message needs its receiver's URL; reading the store for each would put a
//! query on the hot path. The cache is filled on first use per participant and dropped for a
//! participant whenever an operator changes its endpoints (and after `ttl`, so several hub
//! nodes sharing one store converge).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use fspiop::endpoint::{EndpointType, TemplateValues, join_base, render};

use crate::message::Target;
use crate::writer::LedgerWriter;

#[derive(Clone)]
struct Entry {
    loaded: Instant,
    /// `None` when no such participant exists.
    active: Option<bool>,
    urls: HashMap<String, String>,
}

/// The cache.
#[derive(Clone)]
pub struct Directory {
    writer: LedgerWriter,
    entries: Arc<RwLock<HashMap<String, Entry>>>,
    ttl: Duration,
}

impl Directory {
    /// An empty cache reading through `writer`.
    pub fn new(writer: LedgerWriter, ttl: Duration) -> Directory {
        Directory {
            writer,
            entries: Arc::default(),
            ttl,
        }
    }

    /// Forgets a participant's endpoints (after an operator change).
    pub fn invalidate(&self, participant: &str) {
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.remove(&participant.to_ascii_lowercase());
    }

    /// The URL for a message to `participant`, or `None` if it registered no such endpoint.
    pub async fn url(
        &self,
        participant: &str,
        endpoint: EndpointType,
        target: &Target,
    ) -> Option<String> {
        let template = self.template(participant, endpoint).await?;
        let values = TemplateValues {
            transfer_id: target.transfer_id.as_deref(),
            party_id_type: target.party_id_type.as_deref(),
            party_identifier: target.party_identifier.as_deref(),
            party_sub_id: target.party_sub_id.as_deref(),
            request_id: target.request_id.as_deref(),
            id: target.transfer_id.as_deref(),
        };
        let rendered = render(&template, &values);
        Some(match (&target.path, endpoint.is_base_url()) {
            (Some(path), true) => join_base(&rendered, path),
            _ => rendered,
        })
    }

    /// Whether a participant has registered an endpoint type.
    pub async fn has(&self, participant: &str, endpoint: EndpointType) -> bool {
        self.template(participant, endpoint).await.is_some()
    }

    /// `Some(is_active)` for a registered participant, `None` for an unknown name.
    pub async fn active(&self, participant: &str) -> Option<bool> {
        self.entry(participant).await.and_then(|e| e.active)
    }

    async fn template(&self, participant: &str, endpoint: EndpointType) -> Option<String> {
        self.entry(participant)
            .await
            .and_then(|e| e.urls.get(endpoint.name()).cloned())
    }

    async fn entry(&self, participant: &str) -> Option<Entry> {
        let key = participant.to_ascii_lowercase();
        {
            let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = entries.get(&key)
                && entry.loaded.elapsed() < self.ttl
            {
                return Some(entry.clone());
            }
        }
        let name = participant.to_string();
        let loaded = self
            .writer
            .read(move |_, tx| {
                Box::pin(async move {
                    let Some(found) = tx.participant(&name).await? else {
                        return Ok((None, Vec::new()));
                    };
                    let endpoints = tx.endpoints(&found.name).await?;
                    Ok((Some(found.is_active), endpoints))
                })
            })
            .await;
        let (active, endpoints) = match loaded {
            Ok(found) => found,
            Err(error) => {
                tracing::error!(%error, participant = %crate::logsafe::Escaped(participant), "could not read the participant directory");
                return None;
            }
        };
        let urls: HashMap<String, String> =
            endpoints.into_iter().map(|e| (e.kind, e.value)).collect();
        let entry = Entry {
            loaded: Instant::now(),
            active,
            urls,
        };
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        entries.insert(key, entry.clone());
        Some(entry)
    }
}
