//! Rows the ledger reads and writes. Plain data with public fields: every backend maps them to
//! its tables one to one.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The name the hub itself uses as a participant (hub accounts live under it).
pub const HUB_PARTICIPANT: &str = "Hub";

/// A participant: a DFSP, or the hub itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Unique name, used as `FSPIOP-Source`/`FSPIOP-Destination`.
    pub name: String,
    /// Inactive participants can neither send nor receive transfers.
    pub is_active: bool,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
}

/// Ledger account types (the reference switch's seeded set that the hub uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountType {
    /// A DFSP's net position for a currency (positive = net debit).
    Position,
    /// A DFSP's settlement (collateral) account; negative = funds deposited.
    Settlement,
    /// The hub's mirror of money entering and leaving settlement accounts.
    HubReconciliation,
    /// The hub's multilateral settlement account.
    HubMultilateralSettlement,
}

impl AccountType {
    /// Wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Position => "POSITION",
            AccountType::Settlement => "SETTLEMENT",
            AccountType::HubReconciliation => "HUB_RECONCILIATION",
            AccountType::HubMultilateralSettlement => "HUB_MULTILATERAL_SETTLEMENT",
        }
    }

    /// Parses a storage name.
    pub fn parse(text: &str) -> Option<AccountType> {
        Some(match text {
            "POSITION" => AccountType::Position,
            "SETTLEMENT" => AccountType::Settlement,
            "HUB_RECONCILIATION" => AccountType::HubReconciliation,
            "HUB_MULTILATERAL_SETTLEMENT" => AccountType::HubMultilateralSettlement,
            _ => return None,
        })
    }
}

/// One account of one participant in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Backend-assigned id (stable; the admin API exposes it).
    pub id: i64,
    /// Owner.
    pub participant: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Type.
    pub kind: AccountType,
    /// Whether transfers may use it.
    pub is_active: bool,
    /// Committed balance (for POSITION: the net position).
    pub value: Decimal,
    /// In-flight reservations: prepared transfers on POSITION, prepared funds-out on SETTLEMENT.
    pub reserved: Decimal,
    /// Last change, ms since the epoch.
    pub changed_at_ms: i64,
}

/// An account about to be created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewAccount {
    /// Owner.
    pub participant: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Type.
    pub kind: AccountType,
    /// Creation time.
    pub at_ms: i64,
}

/// A participant's net debit cap in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    /// Owner.
    pub participant: String,
    /// ISO 4217 code.
    pub currency: String,
    /// The cap (≥ 0).
    pub value: Decimal,
    /// Percentage at which an alarm is raised (informational).
    pub alarm_percentage: Decimal,
}

/// A callback endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Owner.
    pub participant: String,
    /// `FSPIOP_CALLBACK_URL_*` name.
    pub kind: String,
    /// URL or template.
    pub value: String,
}

/// Internal transfer states. Each maps to one external `TransferState`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransferState {
    /// Payer position reserved, prepare forwarded to the payee.
    Reserved,
    /// Fulfilled: payee credited.
    Committed,
    /// Payee sent `PUT /transfers/{ID}/error`.
    AbortedError,
    /// The fulfilment was missing or did not match the condition.
    AbortedRejected,
    /// Expired after the reservation.
    ExpiredReserved,
    /// Refused at prepare (validation, liquidity, limit).
    Invalid,
}

impl TransferState {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferState::Reserved => "RESERVED",
            TransferState::Committed => "COMMITTED",
            TransferState::AbortedError => "ABORTED_ERROR",
            TransferState::AbortedRejected => "ABORTED_REJECTED",
            TransferState::ExpiredReserved => "EXPIRED_RESERVED",
            TransferState::Invalid => "INVALID",
        }
    }

    /// Parses a storage name.
    pub fn parse(text: &str) -> Option<TransferState> {
        Some(match text {
            "RESERVED" => TransferState::Reserved,
            "COMMITTED" => TransferState::Committed,
            "ABORTED_ERROR" => TransferState::AbortedError,
            "ABORTED_REJECTED" => TransferState::AbortedRejected,
            "EXPIRED_RESERVED" => TransferState::ExpiredReserved,
            "INVALID" => TransferState::Invalid,
            _ => return None,
        })
    }

    /// The FSPIOP `TransferState` shown to DFSPs.
    pub fn external(self) -> &'static str {
        match self {
            TransferState::Reserved => "RESERVED",
            TransferState::Committed => "COMMITTED",
            _ => "ABORTED",
        }
    }

    /// Whether no further change can happen.
    pub fn is_final(self) -> bool {
        !matches!(self, TransferState::Reserved)
    }
}

/// A transfer, as stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// `transferId`.
    pub id: String,
    /// `payerFsp`.
    pub payer: String,
    /// `payeeFsp`.
    pub payee: String,
    /// Amount.
    pub amount: Decimal,
    /// Currency.
    pub currency: String,
    /// ILP condition (base64url).
    pub condition: String,
    /// ILP packet (base64url), kept verbatim.
    pub ilp_packet: String,
    /// Expiration, ms since the epoch.
    pub expiration_ms: i64,
    /// State.
    pub state: TransferState,
    /// Canonical hash of the prepare body.
    pub prepare_hash: String,
    /// Canonical hash of the fulfil body, once one was accepted.
    pub fulfil_hash: Option<String>,
    /// Canonical hash of the payee's error body, once one was accepted.
    pub error_hash: Option<String>,
    /// The fulfilment, once committed (proof of the payee's acceptance).
    pub fulfilment: Option<String>,
    /// Error code of an aborted transfer.
    pub error_code: Option<String>,
    /// Error description of an aborted transfer.
    pub error_description: Option<String>,
    /// Creation time.
    pub created_at_ms: i64,
    /// Time of the final state.
    pub completed_at_ms: Option<i64>,
}

/// A quote the hub forwarded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    /// `quoteId`.
    pub id: String,
    /// `transactionId`.
    pub transaction_id: String,
    /// Payer FSP (the requester).
    pub payer: String,
    /// Payee FSP (the destination).
    pub payee: String,
    /// Requested amount.
    pub amount: Decimal,
    /// Currency of the requested amount.
    pub currency: String,
    /// Canonical hash of the request.
    pub request_hash: String,
    /// Canonical hash of the payee's answer.
    pub response_hash: Option<String>,
    /// `transferAmount` from the answer.
    pub transfer_amount: Option<Decimal>,
    /// Condition from the answer.
    pub condition: Option<String>,
    /// ILP packet from the answer.
    pub ilp_packet: Option<String>,
    /// Expiration of the answer, ms since the epoch.
    pub expiration_ms: Option<i64>,
    /// Creation time.
    pub created_at_ms: i64,
}

/// A party registered in the hub's built-in oracle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRegistration {
    /// `partyIdType`.
    pub id_type: String,
    /// `partyIdentifier`.
    pub identifier: String,
    /// `partySubIdOrType`, empty when none.
    pub sub_id: String,
    /// Owning FSP.
    pub fsp_id: String,
    /// Optional currency, empty when none.
    pub currency: String,
}

/// A funds-in or funds-out movement on a settlement account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundsTransfer {
    /// The operator-supplied id.
    pub id: String,
    /// Participant.
    pub participant: String,
    /// Settlement account.
    pub account_id: i64,
    /// `recordFundsIn` or `recordFundsOutPrepareReserve`.
    pub action: String,
    /// Amount.
    pub amount: Decimal,
    /// Currency.
    pub currency: String,
    /// `COMMITTED`, `RESERVED` or `ABORTED`.
    pub state: String,
    /// Reason given by the operator.
    pub reason: String,
    /// External reference given by the operator.
    pub external_reference: String,
    /// Creation time.
    pub created_at_ms: i64,
}

/// One movement of one account: the journal every balance can be rebuilt from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Account moved.
    pub account_id: i64,
    /// What caused it (transfer or funds-transfer id).
    pub reference: String,
    /// Why: `PREPARE`, `COMMIT`, `ABORT`, `FUNDS_IN`, ...
    pub reason: String,
    /// Change of `value`.
    pub value_delta: Decimal,
    /// Change of `reserved`.
    pub reserved_delta: Decimal,
    /// When.
    pub at_ms: i64,
}

/// An operator action or security event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// When.
    pub at_ms: i64,
    /// Who (operator or token name, participant, or `hub`).
    pub actor: String,
    /// What, e.g. `participant.create`.
    pub action: String,
    /// On what, e.g. a participant name.
    pub subject: String,
    /// Details as JSON text (never secrets).
    pub detail: String,
    /// `ok` or `denied` or `failed`.
    pub outcome: String,
}

/// One attempt to deliver a callback.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// When the attempt finished.
    pub at_ms: i64,
    /// Receiving participant.
    pub participant: String,
    /// HTTP method.
    pub method: String,
    /// URL called.
    pub url: String,
    /// `FSPIOP-URI` of the message.
    pub fspiop_uri: String,
    /// Attempt number, from 1.
    pub attempt: u32,
    /// HTTP status, if any answer came.
    pub status: Option<u16>,
    /// Error text when no answer came.
    pub error: Option<String>,
    /// Milliseconds the attempt took.
    pub duration_ms: u64,
}

/// A participant's registered JWS verification key. Retired keys are kept forever so that
/// stored evidence can still be verified.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwsKey {
    /// Owner: the participant's name as registered.
    pub participant: String,
    /// Hex SHA-256 of the key's SPKI DER (computed by the caller); unique per participant.
    pub fingerprint: String,
    /// Signature algorithm: `RS256` or `ES256`.
    pub alg: String,
    /// The key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub public_key_pem: String,
    /// Start of validity, ms since the epoch; `None` when valid from registration.
    pub not_before_ms: Option<i64>,
    /// End of validity, ms since the epoch; `None` when open-ended.
    pub not_after_ms: Option<i64>,
    /// Registration time, ms since the epoch.
    pub added_at_ms: i64,
    /// Retirement time, ms since the epoch; `None` while the key is in use.
    pub retired_at_ms: Option<i64>,
}

/// One signed FSPIOP message that changed money (quote request/response, transfer prepare,
/// fulfil, abort), kept as received for non-repudiation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What the message is about: the transfer id or the quote id.
    pub subject: String,
    /// Which message: one of the `Evidence::*` kind constants, e.g. `transfer.prepare`.
    pub kind: String,
    /// Sender (`FSPIOP-Source`).
    pub participant: String,
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// `FSPIOP-URI` header value.
    pub uri: String,
    /// `FSPIOP-Destination` header value, if sent.
    pub destination: Option<String>,
    /// `Date` header value, if sent.
    pub date: Option<String>,
    /// `FSPIOP-Signature` header value as received; `None` when the message was unsigned.
    pub signature: Option<String>,
    /// Fingerprint of the [`JwsKey`] that verified the signature, if one did.
    pub key_fingerprint: Option<String>,
    /// The body bytes exactly as received (not re-serialized).
    pub body: Vec<u8>,
    /// When the hub received the message, ms since the epoch.
    pub received_at_ms: i64,
}

impl Evidence {
    /// `kind` of a `POST /quotes`.
    pub const QUOTE_REQUEST: &'static str = "quote.request";
    /// `kind` of a `PUT /quotes/{ID}`.
    pub const QUOTE_RESPONSE: &'static str = "quote.response";
    /// `kind` of a `POST /transfers`.
    pub const TRANSFER_PREPARE: &'static str = "transfer.prepare";
    /// `kind` of a `PUT /transfers/{ID}`.
    pub const TRANSFER_FULFIL: &'static str = "transfer.fulfil";
    /// `kind` of a `PUT /transfers/{ID}/error`.
    pub const TRANSFER_ABORT: &'static str = "transfer.abort";
}

/// How the hub recognises a participant's client certificate and checks its callback server.
/// At most one row per participant; a participant without a row uses the defaults (binding by
/// name only, callbacks checked against the hub's own CA).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantTls {
    /// Owner: the participant's name as registered.
    pub participant: String,
    /// `None`: the default binding — the certificate names the participant (SAN URI
    /// `urn:ferroloop:participant:<name>` or CN). `Some(hex)`: additionally pinned to this
    /// SHA-256 of the certificate's SubjectPublicKeyInfo (lower-case hex, 64 chars).
    pub spki_pin: Option<String>,
    /// PEM bundle of the CA(s) that issue this participant's callback server certificate
    /// (outbound mTLS); `None` = the hub's own CA.
    pub callback_ca_pem: Option<String>,
    /// When the settings were last written, ms since the epoch.
    pub updated_at_ms: i64,
}
