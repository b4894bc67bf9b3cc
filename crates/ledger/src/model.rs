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

/// An operator action or security event: one link of the tamper-evident audit log.
///
/// # The hash chain
///
/// The store numbers the entries `seq` = 1, 2, 3, … (dense, in append order, assigned inside
/// the writing transaction) and chains each to the one before it:
///
/// ```text
/// hash_1 = SHA-256(h_0     || canonical(entry_1))     h_0 = 32 zero bytes
/// hash_i = SHA-256(hash_i-1 || canonical(entry_i))
/// ```
///
/// where `||` is concatenation and the previous hash enters as its 32 raw bytes. `prev_hash`
/// and `hash` are stored as lower-case hex (64 characters); the first entry's `prev_hash` is
/// [`AUDIT_GENESIS_HASH`]. `canonical(entry)` ([`AuditEntry::canonical_bytes`]) is, in this
/// order and with nothing in between:
///
/// | bytes | field |
/// |---|---|
/// | 18 | the ASCII tag `ferroloop.audit.v1` (fixed length, no length prefix) |
/// | 8 | `seq`, signed 64-bit big-endian (two's complement) |
/// | 8 | `at_ms`, signed 64-bit big-endian (two's complement) |
/// | 8 + n | `actor`: its length n in bytes as unsigned 64-bit big-endian, then its UTF-8 bytes |
/// | 8 + n | `action`, the same way |
/// | 8 + n | `subject`, the same way |
/// | 8 + n | `detail`, the same way (the JSON text exactly as stored, not re-serialised) |
/// | 8 + n | `outcome`, the same way |
///
/// Strings are taken byte for byte as stored: no Unicode normalisation, no terminator.
/// `prev_hash` and `hash` themselves are not part of `canonical`. An auditor can re-implement
/// this from an export (`ferroloop audit export`) with any SHA-256. Test vector (computed
/// independently): the entry `seq` 1, `at_ms` 1700000000000, actor `operator`, action
/// `participant.create`, subject `payerfsp`, detail `{"currency":"USD"}`, outcome `ok` has
/// hash `218d602163196d0cf0c417bca4a1d095a9d3c0010c2448700446763ae707b52f`.
///
/// # Who fills what
///
/// Callers that record an action build the entry with `seq: 0` and empty `prev_hash` and `hash`
/// (`..Default::default()`); [`LedgerTx::append_audit`](crate::LedgerTx::append_audit) ignores
/// whatever is in those three fields and assigns them. Entries read back from a store carry the
/// stored values.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1; assigned by the store (0 in an entry not yet appended).
    #[serde(default)]
    pub seq: i64,
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
    /// The previous entry's `hash` ([`AUDIT_GENESIS_HASH`] for `seq` 1), lower-case hex;
    /// assigned by the store.
    #[serde(default)]
    pub prev_hash: String,
    /// SHA-256 of the raw `prev_hash` bytes followed by [`AuditEntry::canonical_bytes`],
    /// lower-case hex; assigned by the store.
    #[serde(default)]
    pub hash: String,
}

/// The `prev_hash` of the first audit entry: 32 zero bytes, in hex.
pub const AUDIT_GENESIS_HASH: &str =
    "0000000000000000000000000000000000000000000000000000000000000000";

/// The domain tag that starts [`AuditEntry::canonical_bytes`] (version 1 of the encoding).
pub const AUDIT_CHAIN_TAG: &[u8; 18] = b"ferroloop.audit.v1";

impl AuditEntry {
    /// The canonical encoding of this entry for the hash chain: see the [type docs](AuditEntry)
    /// for the exact layout. Uses `seq` and the content fields; ignores `prev_hash` and `hash`.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let strings = [
            &self.actor,
            &self.action,
            &self.subject,
            &self.detail,
            &self.outcome,
        ];
        let mut out = Vec::with_capacity(
            AUDIT_CHAIN_TAG.len() + 16 + strings.iter().map(|s| 8 + s.len()).sum::<usize>(),
        );
        out.extend_from_slice(AUDIT_CHAIN_TAG);
        out.extend_from_slice(&self.seq.to_be_bytes());
        out.extend_from_slice(&self.at_ms.to_be_bytes());
        for text in strings {
            out.extend_from_slice(&(text.len() as u64).to_be_bytes());
            out.extend_from_slice(text.as_bytes());
        }
        out
    }

    /// The hash this entry (with its `seq` and content) gets when chained after an entry whose
    /// hash is `prev_hash` (lower-case hex), as lower-case hex. `None` when `prev_hash` is not
    /// 64 lower-case hex digits. Does not look at `self.prev_hash` or `self.hash`.
    pub fn chain_hash(&self, prev_hash: &str) -> Option<String> {
        use sha2::{Digest as _, Sha256};
        let prev = parse_audit_hash(prev_hash)?;
        let mut digest = Sha256::new();
        digest.update(prev);
        digest.update(self.canonical_bytes());
        Some(to_lower_hex(&digest.finalize()))
    }
}

/// Decodes a chain hash: exactly 64 lower-case hex digits.
pub fn parse_audit_hash(text: &str) -> Option<[u8; 32]> {
    fn digit(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

fn to_lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
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

// ---------------------------------------------------------------------------------------------
// Operator identity and access management (issue 6). The rules are in the `iam` crate; these
// are the rows the hub keeps of what it returns. Every reference to an operator names it
// exactly as registered (like references to participants); lookups and deletions keyed by an
// operator's name ignore ASCII case (like JWS keys), names being unique ignoring ASCII case.

/// An operator account of the admin plane.
///
/// Secrets are stored only in the forms documented on each field: the password and the recovery
/// codes as argon2id PHC strings, never in the clear. The TOTP secret is the one secret kept as
/// is (base32), because checking a code needs it. `Debug` shows it as `<redacted>`; the hub
/// never sends this row to a client as it is.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Login name, as registered. Unique ignoring ASCII case.
    pub name: String,
    /// The password's argon2id hash as a PHC string (`$argon2id$v=19$…`, from
    /// `iam::password::hash`); never the password. The store refuses text that is not of the
    /// PHC form `$<id>$…`.
    pub password_phc: String,
    /// When the password was last set, ms since the epoch (for the policy's maximum age).
    pub password_changed_at_ms: i64,
    /// Whether the operator must choose a new password at the next login (set at creation and
    /// after an administrator reset it).
    pub must_change_password: bool,
    /// Failed logins since the last successful one (`iam::password::Lockout`).
    pub failed_attempts: u32,
    /// When the last failed login happened, ms since the epoch; `None` when none since the last
    /// success.
    pub last_failure_at_ms: Option<i64>,
    /// The TOTP secret, sealed (`iam::sealing`: AES-256-GCM under a key kept outside the
    /// database, bound to the operator's name) and written in RFC 4648 base32 without padding:
    /// at least 26 characters of `A-Z2-7`. `None` until the operator enrols.
    pub totp_secret_b32: Option<String>,
    /// The last TOTP time step accepted, to refuse a replayed code (`iam::totp::verify`).
    /// Stored as a signed 64-bit integer: a step above `i64::MAX` is refused.
    pub totp_last_step: Option<u64>,
    /// The argon2id PHC hashes of the recovery codes not used yet
    /// (`iam::totp::generate_recovery_codes`), in the order issued; a used one is removed.
    pub recovery_code_hashes: Vec<String>,
    /// A disabled operator cannot log in; the hub refuses its sessions and API tokens.
    pub disabled: bool,
    /// When the account was created, ms since the epoch.
    pub created_at_ms: i64,
}

impl std::fmt::Debug for Operator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Operator")
            .field("name", &self.name)
            .field("password_phc", &self.password_phc)
            .field("password_changed_at_ms", &self.password_changed_at_ms)
            .field("must_change_password", &self.must_change_password)
            .field("failed_attempts", &self.failed_attempts)
            .field("last_failure_at_ms", &self.last_failure_at_ms)
            .field(
                "totp_secret_b32",
                &self.totp_secret_b32.as_ref().map(|_| "<redacted>"),
            )
            .field("totp_last_step", &self.totp_last_step)
            .field("recovery_code_hashes", &self.recovery_code_hashes)
            .field("disabled", &self.disabled)
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

/// A role an operator defined (`iam::rbac::CustomRole`). Built-in roles have no row: their
/// definitions are code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomRole {
    /// The role's name (`iam::rbac::CustomRole::name`), unique, compared exactly.
    pub name: String,
    /// The stable names of its permissions (`iam::rbac::Permission::as_str`), stored as a JSON
    /// array of strings.
    pub permissions: Vec<String>,
    /// When the role was first defined, ms since the epoch (kept when it is redefined).
    pub created_at_ms: i64,
}

/// A browser session of an operator (`iam::token::Session`), kept under the hash of its id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRecord {
    /// SHA-256 of the session id as presented (`fls_…`), lower-case hex, 64 characters
    /// (`iam::token::hash`); never the id itself. Unique.
    pub id_hash: String,
    /// Owner: the operator's name as registered.
    pub operator: String,
    /// Login time, ms since the epoch.
    pub created_at_ms: i64,
    /// Last use, ms since the epoch.
    pub last_seen_ms: i64,
    /// Inactivity after which the session ends, ms (> 0).
    pub idle_timeout_ms: i64,
    /// Time after `created_at_ms` at which the session ends however active, ms (> 0).
    pub absolute_timeout_ms: i64,
    /// When the operator last completed the second factor in this session, if ever.
    pub mfa_at_ms: Option<i64>,
}

/// An API token of an operator (`iam::token::ApiToken`), kept under the hash of the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiTokenRecord {
    /// SHA-256 of the token as presented (`flt_…`), lower-case hex, 64 characters
    /// (`iam::token::hash`); never the token itself. Unique.
    pub id_hash: String,
    /// Owner: the operator's name as registered.
    pub operator: String,
    /// What the owner called it.
    pub label: String,
    /// The stable names of the permissions it is limited to (`iam::rbac::Permission::as_str`),
    /// stored as a JSON array of strings.
    pub scopes: Vec<String>,
    /// Creation time, ms since the epoch.
    pub created_at_ms: i64,
    /// Expiry, ms since the epoch; mandatory, after `created_at_ms`.
    pub expires_at_ms: i64,
    /// When it was revoked, ms since the epoch; `None` while not revoked.
    pub revoked_at_ms: Option<i64>,
}

/// A maker/checker request (`iam::approval::PendingRequest`): a sensitive operation waiting for,
/// or past, its approvals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// The request's id (a UUID chosen by the hub). Unique.
    pub id: String,
    /// The operation: the stable name of its permission (`iam::rbac::Permission::as_str`).
    pub permission: String,
    /// The operation's parameters as the hub will execute them: JSON text.
    pub payload_json: String,
    /// Who asked: the operator's name as registered.
    pub maker: String,
    /// When it was made, ms since the epoch.
    pub created_at_ms: i64,
    /// When it expires unless executed, ms since the epoch; after `created_at_ms`.
    pub expires_at_ms: i64,
    /// Approvals needed, fixed when the request was made.
    pub required_approvals: u32,
    /// One of the `ApprovalRecord::*` state constants (`iam::approval::RequestState::as_str`).
    pub state: String,
    /// The approvals so far, in order: a JSON array of `{"user": name, "at": time}` objects
    /// (the store checks only that it is a JSON array).
    pub approvals_json: String,
    /// Who decided: the checker who rejected it (or its maker, who may withdraw it), or the
    /// checker whose approval completed it; an operator's name as registered. Never the maker
    /// unless the state is [`ApprovalRecord::REJECTED`].
    pub decided_by: Option<String>,
    /// Why it was rejected, in the decider's words.
    pub reason: Option<String>,
    /// When it was executed, ms since the epoch: set exactly when the state is
    /// [`ApprovalRecord::EXECUTED`].
    pub executed_at_ms: Option<i64>,
    /// What the execution returned: JSON text.
    pub result_json: Option<String>,
}

impl ApprovalRecord {
    /// `state` of a request waiting for approvals.
    pub const PENDING: &'static str = "pending";
    /// `state` of a request approved by enough checkers, not executed yet.
    pub const APPROVED: &'static str = "approved";
    /// `state` of a request refused by a checker or withdrawn by its maker.
    pub const REJECTED: &'static str = "rejected";
    /// `state` of a request not approved, or not executed, in time.
    pub const EXPIRED: &'static str = "expired";
    /// `state` of a request the hub performed.
    pub const EXECUTED: &'static str = "executed";
    /// Every state, as stored.
    pub const STATES: [&'static str; 5] = [
        Self::PENDING,
        Self::APPROVED,
        Self::REJECTED,
        Self::EXPIRED,
        Self::EXECUTED,
    ];
}

/// One checker's approval of a request, recorded apart from the request by
/// [`LedgerTx::add_approval_vote`](crate::LedgerTx::add_approval_vote) so that the store
/// itself refuses a second approval by the same checker and an approval by the maker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalVote {
    /// The request ([`ApprovalRecord::id`]).
    pub approval_id: String,
    /// The checker: an operator's name as registered, never the request's maker.
    pub voter: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// One hub setting that operators change through the admin API (the operator IAM policy:
/// password policy, approval counts, session timeouts), kept by
/// [`LedgerTx::put_setting`](crate::LedgerTx::put_setting) as a JSON value under a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Setting {
    /// The key: 1 to 64 bytes of `a-z`, `0-9`, `.`, `_` and `-` (e.g. `iam.password_policy`).
    /// Unique, compared exactly.
    pub key: String,
    /// The value: JSON text, stored and read back exactly as given (not re-serialised).
    pub value_json: String,
    /// When it was last written, ms since the epoch.
    pub updated_at_ms: i64,
    /// Who last wrote it (an operator's name, as the hub records it; not checked against the
    /// operators).
    pub updated_by: String,
}

/// A party lookup the hub routed to the FSP the requester named (`GET /parties` with an
/// `FSPIOP-Destination` that is not the oracle's owner of the party): until `expires_at_ms`,
/// that FSP may answer the requester about the party. Names are stored in ASCII lower case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyLookup {
    /// `partyIdType`.
    pub id_type: String,
    /// `partyIdentifier`.
    pub identifier: String,
    /// `partySubIdOrType`, empty when none.
    pub sub_id: String,
    /// The FSP that asked.
    pub requester: String,
    /// The FSP the lookup was forwarded to.
    pub routed_to: String,
    /// When the answer is no longer expected, ms since the epoch.
    pub expires_at_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first() -> AuditEntry {
        AuditEntry {
            seq: 1,
            at_ms: 1_700_000_000_000,
            actor: "operator".into(),
            action: "participant.create".into(),
            subject: "payerfsp".into(),
            detail: r#"{"currency":"USD"}"#.into(),
            outcome: "ok".into(),
            ..Default::default()
        }
    }

    /// Vectors computed outside Rust (Python `hashlib`/`struct`) from the documented layout.
    #[test]
    fn audit_chain_test_vector() {
        let entry = first();
        assert_eq!(
            to_lower_hex(&entry.canonical_bytes()),
            "666572726f6c6f6f702e61756469742e763100000000000000010000018bcfe568000000000000\
             0000086f70657261746f7200000000000000127061727469636970616e742e637265617465000000\
             0000000008706179657266737000000000000000127b2263757272656e6379223a22555344227d00\
             000000000000026f6b"
        );
        let h1 = entry.chain_hash(AUDIT_GENESIS_HASH).unwrap();
        assert_eq!(
            h1,
            "218d602163196d0cf0c417bca4a1d095a9d3c0010c2448700446763ae707b52f"
        );
        let second = AuditEntry {
            seq: 2,
            at_ms: 1_700_000_000_001,
            actor: "hub".into(),
            action: "tls.refused".into(),
            subject: String::new(),
            detail: r#"{"reason":"déjà vu"}"#.into(),
            outcome: "denied".into(),
            // Ignored by the hash.
            prev_hash: "junk".into(),
            hash: "junk".into(),
        };
        assert_eq!(
            second.chain_hash(&h1).unwrap(),
            "c1995fff9d2134f22451f529c535eaf7b28822368faeb47c9de99ed607443e4d"
        );
    }

    #[test]
    fn every_field_and_the_position_count() {
        let base = first();
        let h = base.chain_hash(AUDIT_GENESIS_HASH).unwrap();
        let variants = [
            AuditEntry { seq: 2, ..first() },
            AuditEntry {
                at_ms: 1,
                ..first()
            },
            AuditEntry {
                actor: "operatoR".into(),
                ..first()
            },
            AuditEntry {
                action: "x".into(),
                ..first()
            },
            AuditEntry {
                subject: "x".into(),
                ..first()
            },
            AuditEntry {
                detail: "{}".into(),
                ..first()
            },
            AuditEntry {
                outcome: "denied".into(),
                ..first()
            },
            // Moving bytes between adjacent fields changes the hash (length prefixes).
            AuditEntry {
                actor: "operatorp".into(),
                action: "articipant.create".into(),
                ..first()
            },
        ];
        for variant in variants {
            assert_ne!(
                variant.chain_hash(AUDIT_GENESIS_HASH).unwrap(),
                h,
                "{variant:?}"
            );
        }
        let other_prev = "01".repeat(32);
        assert_ne!(base.chain_hash(&other_prev).unwrap(), h);
    }

    #[test]
    fn chain_hashes_are_strict_lower_case_hex() {
        assert_eq!(parse_audit_hash(AUDIT_GENESIS_HASH), Some([0; 32]));
        assert_eq!(parse_audit_hash(&"ff".repeat(32)), Some([0xff; 32]));
        for bad in [
            String::new(),
            "0".repeat(63),
            "0".repeat(65),
            "FF".repeat(32),
            "g0".repeat(32),
            format!("{} ", "0".repeat(63)),
        ] {
            assert_eq!(parse_audit_hash(&bad), None, "{bad:?}");
            assert_eq!(first().chain_hash(&bad), None, "{bad:?}");
        }
    }
}
