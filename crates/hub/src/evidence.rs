//! Non-repudiation: re-verifies, offline, the signed messages the hub kept for a transfer.
//!
//! For every accepted message that changed money (quote request and response, prepare,
//! fulfil, abort) the hub stored the signed headers, the `FSPIOP-Signature` and the body
//! bytes exactly as received, in the same transaction as the change ([`ledger::Evidence`]).
//! [`verify_transfer`] reads them back with the participants' registered keys (retired ones
//! included) and checks:
//!
//! * each signature, with the key recorded for it, over the stored bytes and headers;
//! * that the key was valid when the message arrived (not retired, inside its window);
//! * that each message came from the party entitled to send it (payer prepares and asks for
//!   the quote, payee answers the quote and fulfils or aborts);
//! * that the chain holds together: the prepare's body names this transfer, amount and
//!   condition; the quote the ILP packet names carries the same condition and packet; the
//!   fulfilment hashes to the condition.
//!
//! It needs only the store (a copy of the data directory will do), no running hub.

use std::collections::HashMap;

use jws::RequestParts;
use ledger::{Evidence, LedgerStore, StoreError, Transfer};
use serde::Serialize;
use serde_json::Value;

use crate::signatures::{RegisteredKey, parse_keys};

/// The outcome of one stored message.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageCheck {
    /// `quote.request`, `quote.response`, `transfer.prepare`, `transfer.fulfil`,
    /// `transfer.abort`.
    pub kind: String,
    /// Transfer or quote id.
    pub subject: String,
    /// Who sent it (`FSPIOP-Source`).
    pub signer: String,
    /// Method and `FSPIOP-URI`.
    pub request: String,
    /// The signed `Date`.
    pub date: Option<String>,
    /// When the hub received it (ISO 8601).
    pub received: String,
    /// Signature algorithm, when signed.
    pub alg: Option<String>,
    /// Fingerprint of the key that verifies it.
    pub key_fingerprint: Option<String>,
    /// `None` when everything about this message checks out, else why not.
    pub problem: Option<String>,
}

/// A check across messages.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainCheck {
    /// What was checked.
    pub what: String,
    /// `None` when it holds, else why not.
    pub problem: Option<String>,
}

/// Everything [`verify_transfer`] found.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceReport {
    /// Transfer id.
    pub transfer_id: String,
    /// Payer, payee, amount, currency, state.
    pub transfer: Value,
    /// The quote the ILP packet names, if any.
    pub quote_id: Option<String>,
    /// One line per stored message, in the order received.
    pub messages: Vec<MessageCheck>,
    /// Cross-message checks.
    pub chain: Vec<ChainCheck>,
}

impl EvidenceReport {
    /// True when every message and every chain check holds.
    pub fn ok(&self) -> bool {
        self.messages.iter().all(|m| m.problem.is_none())
            && self.chain.iter().all(|c| c.problem.is_none())
    }
}

/// Why the evidence could not be read.
#[derive(Debug, thiserror::Error)]
pub enum EvidenceError {
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// No such transfer.
    #[error("no transfer {0} in this store")]
    UnknownTransfer(String),
}

/// Reads and re-verifies the evidence of one transfer and the quote it names.
pub async fn verify_transfer(
    store: &dyn LedgerStore,
    transfer_id: &str,
) -> Result<EvidenceReport, EvidenceError> {
    let mut tx = store.read().await?;
    let transfer = tx
        .transfer(transfer_id)
        .await?
        .ok_or_else(|| EvidenceError::UnknownTransfer(transfer_id.to_string()))?;
    let quote_id = ilp::transaction_from_ilp_packet(&transfer.ilp_packet)
        .ok()
        .and_then(|t| t.get("quoteId").and_then(Value::as_str).map(str::to_string));
    let mut stored = Vec::new();
    if let Some(quote_id) = &quote_id {
        stored.extend(tx.evidence(quote_id).await?);
    }
    stored.extend(tx.evidence(&transfer.id).await?);
    let mut keys: HashMap<String, Vec<RegisteredKey>> = HashMap::new();
    for participant in [&transfer.payer, &transfer.payee] {
        let records = tx.jws_keys(participant).await?;
        keys.insert(participant.to_ascii_lowercase(), parse_keys(records));
    }
    for item in &stored {
        if let std::collections::hash_map::Entry::Vacant(entry) =
            keys.entry(item.participant.to_ascii_lowercase())
        {
            entry.insert(parse_keys(tx.jws_keys(&item.participant).await?));
        }
    }
    drop(tx);

    let messages = stored
        .iter()
        .map(|item| check_message(item, &transfer, &keys))
        .collect();
    let chain = check_chain(&transfer, quote_id.as_deref(), &stored);
    Ok(EvidenceReport {
        transfer_id: transfer.id.clone(),
        transfer: serde_json::json!({
            "payer": transfer.payer,
            "payee": transfer.payee,
            "amount": transfer.amount.normalize().to_string(),
            "currency": transfer.currency,
            "state": transfer.state.as_str(),
            "condition": transfer.condition,
        }),
        quote_id,
        messages,
        chain,
    })
}

fn iso(ms: i64) -> String {
    fspiop::FspiopDateTime::from_unix_millis(ms)
        .map(|d| d.to_string())
        .unwrap_or_else(|| ms.to_string())
}

/// Who may send each kind of message.
fn entitled_sender<'t>(kind: &str, transfer: &'t Transfer) -> Option<&'t str> {
    match kind {
        "quote.request" | "transfer.prepare" => Some(&transfer.payer),
        "quote.response" | "transfer.fulfil" | "transfer.abort" => Some(&transfer.payee),
        _ => None,
    }
}

fn check_message(
    item: &Evidence,
    transfer: &Transfer,
    keys: &HashMap<String, Vec<RegisteredKey>>,
) -> MessageCheck {
    let mut check = MessageCheck {
        kind: item.kind.clone(),
        subject: item.subject.clone(),
        signer: item.participant.clone(),
        request: format!("{} {}", item.method, item.uri),
        date: item.date.clone(),
        received: iso(item.received_at_ms),
        alg: None,
        key_fingerprint: item.key_fingerprint.clone(),
        problem: None,
    };
    let problem = (|| -> Result<(), String> {
        if let Some(entitled) = entitled_sender(&item.kind, transfer)
            && !entitled.eq_ignore_ascii_case(&item.participant)
        {
            return Err(format!(
                "sent by {}, but only {entitled} may send a {}",
                item.participant, item.kind
            ));
        }
        let Some(signature) = &item.signature else {
            return Err("the message was accepted unsigned (JWS verification was off)".into());
        };
        let registered = keys
            .get(&item.participant.to_ascii_lowercase())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let candidates: Vec<&RegisteredKey> = registered
            .iter()
            .filter(|k| {
                item.key_fingerprint
                    .as_deref()
                    .is_none_or(|f| f == k.record.fingerprint)
            })
            .collect();
        if candidates.is_empty() {
            return Err(format!(
                "no registered key of {} with fingerprint {}",
                item.participant,
                item.key_fingerprint.as_deref().unwrap_or("(none recorded)")
            ));
        }
        let parts = RequestParts {
            method: &item.method,
            uri: &item.uri,
            source: &item.participant,
            destination: item.destination.as_deref(),
            date: item.date.as_deref(),
        };
        let verifying: Vec<jws::VerifyingKey> = candidates.iter().map(|k| k.key.clone()).collect();
        let verified = jws::verify(
            signature,
            &parts,
            &item.body,
            &verifying,
            &[jws::Alg::Rs256, jws::Alg::Es256],
        )
        .map_err(|e| format!("signature does not verify: {e}"))?;
        let key = candidates
            .get(verified.key_index)
            .ok_or("verifying key index out of range")?;
        check.alg = Some(verified.header.alg.as_str().to_string());
        check.key_fingerprint = Some(key.record.fingerprint.clone());
        if !key.usable_at(item.received_at_ms) {
            return Err(format!(
                "key {} was {} when the message arrived",
                key.record.fingerprint,
                key.status_at(item.received_at_ms)
            ));
        }
        Ok(())
    })();
    check.problem = problem.err();
    check
}

fn body_json(item: &Evidence) -> Option<Value> {
    serde_json::from_slice(&item.body).ok()
}

fn text<'v>(value: &'v Value, pointer: &str) -> Option<&'v str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn check_chain(
    transfer: &Transfer,
    quote_id: Option<&str>,
    stored: &[Evidence],
) -> Vec<ChainCheck> {
    let find = |kind: &str| stored.iter().find(|e| e.kind == kind);
    let mut checks = Vec::new();
    let mut push = |what: &str, problem: Option<String>| {
        checks.push(ChainCheck {
            what: what.to_string(),
            problem,
        })
    };

    let prepare = find("transfer.prepare").and_then(body_json);
    push(
        "the payer's signed prepare names this transfer, amount and condition",
        match &prepare {
            None => Some("no prepare was stored for this transfer".into()),
            Some(body) => {
                let amount = text(body, "/amount/amount")
                    .and_then(|a| a.parse::<rust_decimal::Decimal>().ok());
                if text(body, "/transferId") != Some(transfer.id.as_str()) {
                    Some("the prepare's transferId differs".into())
                } else if amount != Some(transfer.amount)
                    || text(body, "/amount/currency") != Some(transfer.currency.as_str())
                {
                    Some("the prepare's amount differs from the recorded transfer".into())
                } else if text(body, "/condition") != Some(transfer.condition.as_str()) {
                    Some("the prepare's condition differs from the recorded transfer".into())
                } else if text(body, "/ilpPacket") != Some(transfer.ilp_packet.as_str()) {
                    Some("the prepare's ilpPacket differs from the recorded transfer".into())
                } else {
                    None
                }
            }
        },
    );

    if let Some(quote_id) = quote_id {
        let response = stored
            .iter()
            .find(|e| e.kind == "quote.response" && e.subject == quote_id)
            .and_then(body_json);
        push(
            "the payee's signed quote response carries the prepare's condition and ILP packet",
            match &response {
                None => Some(format!("no quote response was stored for quote {quote_id}")),
                Some(body) if text(body, "/condition") != Some(transfer.condition.as_str()) => {
                    Some("the quote's condition differs from the transfer's".into())
                }
                Some(body) if text(body, "/ilpPacket") != Some(transfer.ilp_packet.as_str()) => {
                    Some("the quote's ILP packet differs from the transfer's".into())
                }
                Some(_) => None,
            },
        );
    }

    match transfer.state {
        ledger::TransferState::Committed => {
            let fulfil = find("transfer.fulfil").and_then(body_json);
            push(
                "the payee's signed fulfilment matches the condition",
                match fulfil.as_ref().and_then(|b| text(b, "/fulfilment")) {
                    None => Some("no signed fulfil with a fulfilment was stored".into()),
                    Some(f) if !ledger::engine::fulfilment_matches(f, &transfer.condition) => {
                        Some("the fulfilment does not hash to the condition".into())
                    }
                    Some(_) => None,
                },
            );
        }
        ledger::TransferState::AbortedError => push(
            "the payee's signed abort is stored",
            find("transfer.abort")
                .is_none()
                .then(|| "the transfer was aborted by the payee but no abort was stored".into()),
        ),
        ledger::TransferState::AbortedRejected => push(
            "the payee's signed (rejected) fulfil is stored",
            find("transfer.fulfil")
                .is_none()
                .then(|| "the fulfil that aborted the transfer was not stored".into()),
        ),
        _ => {}
    }
    checks
}
