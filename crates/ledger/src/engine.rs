//! The ledger's rules: each public method runs one command inside a caller-supplied
//! transaction and returns what happened. Nothing here talks to the network.
//!
//! The caller (the hub's single writer) packs many commands into one transaction and commits
//! once, so every method must leave the transaction consistent whatever it returns: a refused
//! command writes nothing except, where the rules say so, the refused transfer itself.

// Outcomes carry a whole transfer and are moved exactly once per command; boxing them would add
// an allocation for nothing.
#![allow(clippy::large_enum_variant)]

use std::sync::Arc;

use fspiop::{Amount, ErrorCode, FspiopError};
use rust_decimal::Decimal;

use crate::clock::Clock;
use crate::model::*;
use crate::store::{LedgerTx, StoreError};
use crate::terms::{self, IlpPolicy};

/// Result of a ledger command: a protocol outcome, or a storage failure that must abort the
/// whole batch.
pub type LedgerResult<T> = Result<T, StoreError>;

/// What to do with a request that repeats an id already seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Duplicate {
    /// Same content, still in progress: a callback is coming anyway.
    Ignore,
    /// Same content, already finished: tell the sender the current state again.
    Resend(Box<Transfer>),
    /// Same id, different content: `3106` to the sender.
    Modified(FspiopError),
}

/// A validated `POST /transfers`.
#[derive(Clone, Debug)]
pub struct PrepareCommand {
    /// `transferId`.
    pub id: String,
    /// `payerFsp` (already checked equal to the authenticated sender).
    pub payer: String,
    /// `payeeFsp`.
    pub payee: String,
    /// Amount.
    pub amount: Amount,
    /// Currency.
    pub currency: String,
    /// Condition.
    pub condition: String,
    /// ILP packet.
    pub ilp_packet: String,
    /// Expiration, ms since the epoch.
    pub expiration_ms: i64,
    /// Canonical body hash.
    pub hash: String,
}

/// Outcome of a prepare.
#[derive(Clone, Debug)]
pub enum PrepareOutcome {
    /// Payer position reserved: forward the prepare to the payee.
    Reserved(Transfer),
    /// Refused; the transfer is stored as `INVALID`: tell the payer.
    Rejected(Transfer, FspiopError),
    /// The id was seen before.
    Duplicate(Duplicate),
}

/// How the payee asked to complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FulfilMode {
    /// `transferState: COMMITTED`: forward the payee's message to the payer.
    Commit,
    /// `transferState: RESERVED`: the hub notifies the payer (PUT) and the payee (PATCH).
    Reserve,
}

/// A validated `PUT /transfers/{ID}` from a payee.
#[derive(Clone, Debug)]
pub struct FulfilCommand {
    /// `transferId` from the path.
    pub id: String,
    /// Authenticated sender.
    pub source: String,
    /// `FSPIOP-Destination`, if sent.
    pub destination: Option<String>,
    /// Commit or reserve-then-notify.
    pub mode: FulfilMode,
    /// The fulfilment (base64url).
    pub fulfilment: Option<String>,
    /// Canonical body hash.
    pub hash: String,
}

/// Outcome of a fulfil.
#[derive(Clone, Debug)]
pub enum FulfilOutcome {
    /// Committed: payee credited.
    Committed(Transfer, FulfilMode),
    /// Not applied, transfer unchanged: tell only the sender.
    Refused(FspiopError),
    /// The transfer was aborted by this fulfil (bad fulfilment, or it arrived after expiry):
    /// tell payer and payee; PATCH the payee when it asked for a notification.
    Aborted(Transfer, FspiopError, FulfilMode),
    /// The fulfil repeats an earlier one.
    Duplicate(Duplicate),
}

/// A validated `PUT /transfers/{ID}/error` from a payee.
#[derive(Clone, Debug)]
pub struct AbortCommand {
    /// `transferId`.
    pub id: String,
    /// Authenticated sender.
    pub source: String,
    /// The payee's error code.
    pub error_code: String,
    /// The payee's description.
    pub error_description: String,
    /// Canonical body hash.
    pub hash: String,
}

/// Outcome of a payee abort.
#[derive(Clone, Debug)]
pub enum AbortOutcome {
    /// Aborted and released: forward the payee's error to the payer.
    Aborted(Transfer),
    /// Not applied: tell the sender.
    Refused(FspiopError),
    /// Repeats an earlier abort.
    Duplicate(Duplicate),
}

/// A `POST /quotes` to record.
#[derive(Clone, Debug)]
pub struct QuoteRequestCommand {
    /// `quoteId`.
    pub id: String,
    /// `transactionId`.
    pub transaction_id: String,
    /// Authenticated sender.
    pub payer: String,
    /// `FSPIOP-Destination`.
    pub payee: String,
    /// Amount.
    pub amount: Amount,
    /// Currency.
    pub currency: String,
    /// Canonical hash.
    pub hash: String,
}

/// A `PUT /quotes/{ID}` to record.
#[derive(Clone, Debug)]
pub struct QuoteResponseCommand {
    /// `quoteId`.
    pub id: String,
    /// Authenticated sender.
    pub source: String,
    /// `FSPIOP-Destination`.
    pub destination: String,
    /// `transferAmount`.
    pub transfer_amount: Amount,
    /// Currency of `transferAmount`.
    pub currency: String,
    /// `condition`.
    pub condition: String,
    /// `ilpPacket`.
    pub ilp_packet: String,
    /// `expiration`, ms.
    pub expiration_ms: i64,
    /// Canonical hash.
    pub hash: String,
}

/// A `PUT /quotes/{ID}/error` to check before it is forwarded.
#[derive(Clone, Debug)]
pub struct QuoteErrorCommand {
    /// `quoteId`.
    pub id: String,
    /// Authenticated sender.
    pub source: String,
    /// `FSPIOP-Destination`.
    pub destination: String,
}

/// How long the FSP a requester named in a `GET /parties` may answer it (a routed lookup,
/// [`Ledger::route_party_lookup`]); the SDK waits far less for a lookup.
pub const PARTY_LOOKUP_TTL_MS: i64 = 60_000;

/// Routed lookups one requester may have awaiting an answer at once; beyond, its lookups that
/// name an FSP other than the party's owner are refused (`2005`) until some expire.
pub const MAX_OPEN_PARTY_LOOKUPS: u64 = 1_000;

/// Outcome of a quote message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuoteOutcome {
    /// Recorded (or a harmless resend): forward.
    Forward,
    /// Refused: tell the sender.
    Refused(FspiopError),
}

/// Funds movements an operator can order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FundsAction {
    /// `recordFundsIn`.
    In,
    /// `recordFundsOutPrepareReserve`.
    OutReserve,
}

/// The ledger: rules plus the clock they run on.
#[derive(Clone)]
pub struct Ledger {
    clock: Arc<dyn Clock>,
    ilp_policy: IlpPolicy,
    per_currency_party_owners: bool,
}

impl Ledger {
    /// A ledger reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Ledger {
        Ledger {
            clock,
            ilp_policy: IlpPolicy::Strict,
            per_currency_party_owners: false,
        }
    }

    /// The same ledger with the scheme's party-ownership rule: `false` (default) gives a party
    /// (type, identifier, sub-id) one owner whatever the currency; `true` lets different FSPs
    /// own it in different currencies (a registration without currency still conflicts with
    /// every other FSP's).
    pub fn with_per_currency_party_owners(mut self, allowed: bool) -> Ledger {
        self.per_currency_party_owners = allowed;
        self
    }

    /// The same ledger with another terms policy (a scheme rule; strict by default).
    pub fn with_ilp_policy(mut self, policy: IlpPolicy) -> Ledger {
        self.ilp_policy = policy;
        self
    }

    /// Now, ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_millis()
    }

    // ----------------------------------------------------------------------------------------
    // Transfers

    /// Prepare: duplicate check, validation, liquidity then net-debit-cap check, reservation.
    pub async fn prepare(
        &self,
        tx: &mut dyn LedgerTx,
        command: PrepareCommand,
    ) -> LedgerResult<PrepareOutcome> {
        let now = self.now_ms();
        if let Some(existing) = tx.transfer(&command.id).await? {
            return Ok(PrepareOutcome::Duplicate(duplicate_of(
                &existing,
                &existing.prepare_hash,
                &command.hash,
                true,
            )));
        }
        let amount = command.amount.decimal();
        let mut transfer = Transfer {
            id: command.id.clone(),
            payer: command.payer.clone(),
            payee: command.payee.clone(),
            amount,
            currency: command.currency.clone(),
            condition: command.condition.clone(),
            ilp_packet: command.ilp_packet.clone(),
            expiration_ms: command.expiration_ms,
            state: TransferState::Reserved,
            prepare_hash: command.hash.clone(),
            fulfil_hash: None,
            error_hash: None,
            fulfilment: None,
            error_code: None,
            error_description: None,
            created_at_ms: now,
            completed_at_ms: None,
        };
        let checked = self.check_prepare(tx, &command, now).await?;
        let (mut position, error) = match checked {
            Ok(position) => (position, None),
            Err(error) => (None, Some(error)),
        };
        if let Some(error) = error {
            transfer.state = TransferState::Invalid;
            transfer.error_code = Some(error.code.to_string());
            transfer.error_description = Some(error.description.clone());
            transfer.completed_at_ms = Some(now);
            tx.insert_transfer(&transfer).await?;
            return Ok(PrepareOutcome::Rejected(transfer, error));
        }
        let Some(position) = position.as_mut() else {
            return Err(StoreError::Corrupt(
                "prepare check returned no position".into(),
            ));
        };
        position.reserved += amount;
        position.changed_at_ms = now;
        tx.update_account(position).await?;
        tx.append_journal(&journal(
            position.id,
            &transfer.id,
            "PREPARE",
            Decimal::ZERO,
            amount,
            now,
        ))
        .await?;
        tx.insert_transfer(&transfer).await?;
        Ok(PrepareOutcome::Reserved(transfer))
    }

    /// The prepare checks in the reference order; on success returns the payer's position
    /// account to reserve on.
    async fn check_prepare(
        &self,
        tx: &mut dyn LedgerTx,
        command: &PrepareCommand,
        now: i64,
    ) -> LedgerResult<Result<Option<Account>, FspiopError>> {
        let invalid = |detail: String| Ok(Err(FspiopError::validation(detail)));
        if command.payer.eq_ignore_ascii_case(&command.payee) {
            return invalid(format!("payerFsp and payeeFsp are both {}", command.payer));
        }
        for (role, name) in [("payer", &command.payer), ("payee", &command.payee)] {
            match tx.participant(name).await? {
                None => {
                    return invalid(format!("{role} FSP {name} is not a registered participant"));
                }
                Some(p) if !p.is_active => {
                    return invalid(format!("{role} FSP {name} is inactive"));
                }
                Some(_) => {}
            }
        }
        let payer_position = tx
            .account_for(&command.payer, &command.currency, AccountType::Position)
            .await?;
        let payer_position = match payer_position {
            None => {
                let error = FspiopError::new(
                    ErrorCode::PAYER_UNSUPPORTED_CURRENCY,
                    format!(
                        "payer FSP {} has no {} position account",
                        command.payer, command.currency
                    ),
                );
                return Ok(Err(error));
            }
            Some(account) if !account.is_active => {
                return invalid(format!(
                    "{} position account of {} is inactive",
                    command.currency, command.payer
                ));
            }
            Some(account) => account,
        };
        match tx
            .account_for(&command.payee, &command.currency, AccountType::Position)
            .await?
        {
            None => {
                let error = FspiopError::new(
                    ErrorCode::PAYEE_UNSUPPORTED_CURRENCY,
                    format!(
                        "payee FSP {} has no {} position account",
                        command.payee, command.currency
                    ),
                );
                return Ok(Err(error));
            }
            Some(account) if !account.is_active => {
                return invalid(format!(
                    "{} position account of {} is inactive",
                    command.currency, command.payee
                ));
            }
            Some(_) => {}
        }
        if command.expiration_ms <= now {
            return invalid("expiration is in the past".to_string());
        }
        if self.ilp_policy == IlpPolicy::Strict
            && let Err(error) = terms::check(tx, command).await?
        {
            return Ok(Err(error));
        }
        let settlement = tx
            .account_for(&command.payer, &command.currency, AccountType::Settlement)
            .await?;
        let liquidity_cover = settlement
            .map(|s| liquidity_cover(&s))
            .unwrap_or(Decimal::ZERO);
        let effective = payer_position.value + payer_position.reserved;
        let amount = command.amount.decimal();
        if liquidity_cover - effective < amount {
            let error = FspiopError::new(
                ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY,
                format!(
                    "{} {} exceeds the payer's available liquidity",
                    amount.normalize(),
                    command.currency
                ),
            );
            return Ok(Err(error));
        }
        let cap = tx
            .limit(&command.payer, &command.currency)
            .await?
            .map(|l| l.value);
        let Some(cap) = cap else {
            let error = FspiopError::new(
                ErrorCode::PAYER_LIMIT_ERROR,
                format!(
                    "payer {} has no net debit cap for {}",
                    command.payer, command.currency
                ),
            );
            return Ok(Err(error));
        };
        if cap - effective < amount {
            let error = FspiopError::new(
                ErrorCode::PAYER_LIMIT_ERROR,
                format!(
                    "{} {} exceeds the payer's net debit cap",
                    amount.normalize(),
                    command.currency
                ),
            );
            return Ok(Err(error));
        }
        Ok(Ok(Some(payer_position)))
    }

    /// Fulfil from the payee: commit, or abort when the fulfilment is wrong or late.
    pub async fn fulfil(
        &self,
        tx: &mut dyn LedgerTx,
        command: FulfilCommand,
    ) -> LedgerResult<FulfilOutcome> {
        let now = self.now_ms();
        let Some(mut transfer) = tx.transfer(&command.id).await? else {
            return Ok(FulfilOutcome::Refused(not_found(&command.id)));
        };
        if let Some(error) =
            check_payee_message(&transfer, &command.source, command.destination.as_deref())
        {
            // A message from anyone but the payee never changes the transfer: aborting here, as
            // the reference switch does, would let any participant cancel others' transfers.
            return Ok(FulfilOutcome::Refused(error));
        }
        if let Some(previous) = transfer.fulfil_hash.clone() {
            return Ok(FulfilOutcome::Duplicate(duplicate_of(
                &transfer,
                &previous,
                &command.hash,
                false,
            )));
        }
        if transfer.state != TransferState::Reserved {
            let error = FspiopError::validation(format!(
                "transfer {} is {}, not RESERVED; it can no longer be fulfilled",
                transfer.id,
                transfer.state.external()
            ));
            return Ok(FulfilOutcome::Refused(error));
        }
        if transfer.expiration_ms <= now {
            let error = FspiopError::new(
                ErrorCode::TRANSFER_EXPIRED,
                "fulfil arrived after the transfer's expiration",
            );
            transfer.fulfil_hash = Some(command.hash.clone());
            self.release(
                tx,
                &mut transfer,
                TransferState::ExpiredReserved,
                &error,
                now,
            )
            .await?;
            return Ok(FulfilOutcome::Aborted(transfer, error, command.mode));
        }
        let valid = command
            .fulfilment
            .as_deref()
            .is_some_and(|fulfilment| fulfilment_matches(fulfilment, &transfer.condition));
        if !valid {
            let error = FspiopError::validation(
                "invalid fulfilment: SHA-256 of the fulfilment does not equal the condition",
            );
            transfer.fulfil_hash = Some(command.hash.clone());
            self.release(
                tx,
                &mut transfer,
                TransferState::AbortedRejected,
                &error,
                now,
            )
            .await?;
            return Ok(FulfilOutcome::Aborted(transfer, error, command.mode));
        }
        self.commit(tx, &mut transfer, now).await?;
        transfer.fulfilment = command.fulfilment.clone();
        transfer.fulfil_hash = Some(command.hash.clone());
        tx.update_transfer(&transfer).await?;
        Ok(FulfilOutcome::Committed(transfer, command.mode))
    }

    /// Abort from the payee (`PUT /transfers/{ID}/error`).
    pub async fn abort(
        &self,
        tx: &mut dyn LedgerTx,
        command: AbortCommand,
    ) -> LedgerResult<AbortOutcome> {
        let now = self.now_ms();
        let Some(mut transfer) = tx.transfer(&command.id).await? else {
            return Ok(AbortOutcome::Refused(not_found(&command.id)));
        };
        if let Some(error) = check_payee_message(&transfer, &command.source, None) {
            return Ok(AbortOutcome::Refused(error));
        }
        if let Some(previous) = transfer.error_hash.clone() {
            return Ok(AbortOutcome::Duplicate(duplicate_of(
                &transfer,
                &previous,
                &command.hash,
                false,
            )));
        }
        if transfer.state != TransferState::Reserved {
            let error = FspiopError::validation(format!(
                "transfer {} is {}, not RESERVED; it can no longer be aborted",
                transfer.id,
                transfer.state.external()
            ));
            return Ok(AbortOutcome::Refused(error));
        }
        let code = ErrorCode::parse(&command.error_code).unwrap_or(ErrorCode::GENERIC_PAYEE_ERROR);
        let error = FspiopError::verbatim(code, &command.error_description);
        transfer.error_hash = Some(command.hash.clone());
        self.release(tx, &mut transfer, TransferState::AbortedError, &error, now)
            .await?;
        Ok(AbortOutcome::Aborted(transfer))
    }

    /// Expires a transfer whose deadline passed; returns it if this call aborted it.
    pub async fn expire(&self, tx: &mut dyn LedgerTx, id: &str) -> LedgerResult<Option<Transfer>> {
        let now = self.now_ms();
        let Some(mut transfer) = tx.transfer(id).await? else {
            return Ok(None);
        };
        if transfer.state != TransferState::Reserved || transfer.expiration_ms > now {
            return Ok(None);
        }
        let error = FspiopError::new(ErrorCode::TRANSFER_EXPIRED, "Transfer expired");
        self.release(
            tx,
            &mut transfer,
            TransferState::ExpiredReserved,
            &error,
            now,
        )
        .await?;
        Ok(Some(transfer))
    }

    /// A transfer as its payer or payee may see it.
    pub async fn transfer_for(
        &self,
        tx: &mut dyn LedgerTx,
        id: &str,
        requester: &str,
    ) -> LedgerResult<Result<Transfer, FspiopError>> {
        let found = tx.transfer(id).await?;
        Ok(match found {
            // Someone who is neither payer nor payee learns nothing, not even that it exists.
            Some(t)
                if t.payer.eq_ignore_ascii_case(requester)
                    || t.payee.eq_ignore_ascii_case(requester) =>
            {
                Ok(t)
            }
            _ => Err(not_found(id)),
        })
    }

    async fn commit(
        &self,
        tx: &mut dyn LedgerTx,
        transfer: &mut Transfer,
        now: i64,
    ) -> LedgerResult<()> {
        let mut payer = position_account(tx, &transfer.payer, &transfer.currency).await?;
        let mut payee = position_account(tx, &transfer.payee, &transfer.currency).await?;
        let amount = transfer.amount;
        payer.reserved -= amount;
        payer.value += amount;
        payer.changed_at_ms = now;
        payee.value -= amount;
        payee.changed_at_ms = now;
        debug_assert!(payer.reserved >= Decimal::ZERO);
        tx.update_account(&payer).await?;
        tx.update_account(&payee).await?;
        tx.append_journal(&journal(
            payer.id,
            &transfer.id,
            "COMMIT",
            amount,
            -amount,
            now,
        ))
        .await?;
        tx.append_journal(&journal(
            payee.id,
            &transfer.id,
            "COMMIT",
            -amount,
            Decimal::ZERO,
            now,
        ))
        .await?;
        transfer.state = TransferState::Committed;
        transfer.completed_at_ms = Some(now);
        Ok(())
    }

    async fn release(
        &self,
        tx: &mut dyn LedgerTx,
        transfer: &mut Transfer,
        state: TransferState,
        error: &FspiopError,
        now: i64,
    ) -> LedgerResult<()> {
        let mut payer = position_account(tx, &transfer.payer, &transfer.currency).await?;
        payer.reserved -= transfer.amount;
        payer.changed_at_ms = now;
        if payer.reserved < Decimal::ZERO {
            return Err(StoreError::Corrupt(format!(
                "reservation of {} would go negative",
                payer.participant
            )));
        }
        tx.update_account(&payer).await?;
        tx.append_journal(&journal(
            payer.id,
            &transfer.id,
            "ABORT",
            Decimal::ZERO,
            -transfer.amount,
            now,
        ))
        .await?;
        transfer.state = state;
        transfer.error_code = Some(error.code.to_string());
        transfer.error_description = Some(error.description.clone());
        transfer.completed_at_ms = Some(now);
        tx.update_transfer(transfer).await
    }

    // ----------------------------------------------------------------------------------------
    // Quotes

    /// Records a quote request before it is forwarded to the payee.
    pub async fn quote_request(
        &self,
        tx: &mut dyn LedgerTx,
        command: QuoteRequestCommand,
    ) -> LedgerResult<QuoteOutcome> {
        if let Some(existing) = tx.quote(&command.id).await? {
            if existing.request_hash == command.hash
                && existing.payer.eq_ignore_ascii_case(&command.payer)
            {
                return Ok(QuoteOutcome::Forward);
            }
            return Ok(QuoteOutcome::Refused(modified("quote", &command.id)));
        }
        if let Err(error) = self
            .check_destination(tx, &command.payee, &command.currency)
            .await?
        {
            return Ok(QuoteOutcome::Refused(error));
        }
        let quote = Quote {
            id: command.id,
            transaction_id: command.transaction_id,
            payer: command.payer,
            payee: command.payee,
            amount: command.amount.decimal(),
            currency: command.currency,
            request_hash: command.hash,
            response_hash: None,
            transfer_amount: None,
            condition: None,
            ilp_packet: None,
            expiration_ms: None,
            created_at_ms: self.now_ms(),
        };
        tx.insert_quote(&quote).await?;
        Ok(QuoteOutcome::Forward)
    }

    /// Records the payee's quote answer before it is forwarded to the payer.
    pub async fn quote_response(
        &self,
        tx: &mut dyn LedgerTx,
        command: QuoteResponseCommand,
    ) -> LedgerResult<QuoteOutcome> {
        let Some(mut quote) = tx.quote(&command.id).await? else {
            let error = FspiopError::new(
                ErrorCode::QUOTE_NOT_FOUND,
                format!("quote {} was not requested through this hub", command.id),
            );
            return Ok(QuoteOutcome::Refused(error));
        };
        if !quote.payee.eq_ignore_ascii_case(&command.source)
            || !quote.payer.eq_ignore_ascii_case(&command.destination)
        {
            let error = FspiopError::validation(format!(
                "quote {} is between payer {} and payee {}; only the payee may answer it, to the payer",
                quote.id, quote.payer, quote.payee
            ));
            self.quote_refusal(tx, &quote, &command.source, &command.destination, &error)
                .await?;
            return Ok(QuoteOutcome::Refused(error));
        }
        if let Some(previous) = &quote.response_hash {
            if *previous == command.hash {
                return Ok(QuoteOutcome::Forward);
            }
            return Ok(QuoteOutcome::Refused(modified(
                "quote response",
                &command.id,
            )));
        }
        if let Err(error) = self
            .check_destination(tx, &command.source, &command.currency)
            .await?
        {
            return Ok(QuoteOutcome::Refused(error));
        }
        quote.response_hash = Some(command.hash);
        quote.transfer_amount = Some(command.transfer_amount.decimal());
        quote.condition = Some(command.condition);
        quote.ilp_packet = Some(command.ilp_packet);
        quote.expiration_ms = Some(command.expiration_ms);
        tx.update_quote(&quote).await?;
        Ok(QuoteOutcome::Forward)
    }

    /// Checks a quote error before it is forwarded: the quote must be one the hub forwarded,
    /// and only its payer (to the payee) or its payee (to the payer) may send it. A sender
    /// outside the quote is refused and audited (`quote.answer_refused`).
    pub async fn quote_error(
        &self,
        tx: &mut dyn LedgerTx,
        command: QuoteErrorCommand,
    ) -> LedgerResult<QuoteOutcome> {
        let Some(quote) = tx.quote(&command.id).await? else {
            let error = FspiopError::new(
                ErrorCode::QUOTE_NOT_FOUND,
                format!("quote {} was not requested through this hub", command.id),
            );
            return Ok(QuoteOutcome::Refused(error));
        };
        let counterpart = if quote.payer.eq_ignore_ascii_case(&command.source) {
            Some(&quote.payee)
        } else if quote.payee.eq_ignore_ascii_case(&command.source) {
            Some(&quote.payer)
        } else {
            None
        };
        let error = match counterpart {
            Some(other) if other.eq_ignore_ascii_case(&command.destination) => {
                return Ok(QuoteOutcome::Forward);
            }
            Some(_) => FspiopError::validation(format!(
                "{} is not the other party of quote {}",
                command.destination, quote.id
            )),
            None => FspiopError::validation(format!(
                "{} is neither payer nor payee of quote {}",
                command.source, quote.id
            )),
        };
        self.quote_refusal(tx, &quote, &command.source, &command.destination, &error)
            .await?;
        Ok(QuoteOutcome::Refused(error))
    }

    /// Audits a quote message from (or to) an FSP outside the quote.
    async fn quote_refusal(
        &self,
        tx: &mut dyn LedgerTx,
        quote: &Quote,
        source: &str,
        destination: &str,
        error: &FspiopError,
    ) -> LedgerResult<()> {
        let detail = serde_json::json!({
            "quoteId": quote.id,
            "destination": destination,
            "payer": quote.payer,
            "payee": quote.payee,
            "reason": error.description,
        });
        self.audit_denied(
            tx,
            source,
            "quote.answer_refused",
            &quote.id,
            detail.to_string(),
        )
        .await
    }

    /// A destination must be an active participant with an active position account in the
    /// currency (reference: `3201`).
    pub async fn check_destination(
        &self,
        tx: &mut dyn LedgerTx,
        name: &str,
        currency: &str,
    ) -> LedgerResult<Result<(), FspiopError>> {
        let error = |detail: String| {
            Ok(Err(FspiopError::new(
                ErrorCode::DESTINATION_FSP_ERROR,
                detail,
            )))
        };
        match tx.participant(name).await? {
            None => return error(format!("{name} is not a registered participant")),
            Some(p) if !p.is_active => return error(format!("{name} is inactive")),
            Some(_) => {}
        }
        match tx
            .account_for(name, currency, AccountType::Position)
            .await?
        {
            Some(account) if account.is_active => Ok(Ok(())),
            _ => error(format!("{name} has no active {currency} position account")),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Operator actions. Each writes an audit entry in the same transaction: if the audit
    // entry cannot be written the action does not happen.

    /// Creates a participant with POSITION and SETTLEMENT accounts in `currency`, or adds the
    /// currency to an existing participant.
    pub async fn create_participant(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        currency: &str,
    ) -> LedgerResult<Result<Participant, FspiopError>> {
        let now = self.now_ms();
        if let Err(error) = fspiop::FspId::parse(name) {
            return Ok(Err(FspiopError::validation(error.to_string())));
        }
        if name.eq_ignore_ascii_case(HUB_PARTICIPANT) {
            return Ok(Err(FspiopError::validation(format!(
                "{name} is reserved for the hub"
            ))));
        }
        let participant = match tx.participant(name).await? {
            Some(existing) => {
                if tx
                    .account_for(&existing.name, currency, AccountType::Position)
                    .await?
                    .is_some()
                {
                    return Ok(Err(FspiopError::new(
                        ErrorCode::GENERIC_CLIENT_ERROR,
                        format!("participant {name} already has {currency} accounts"),
                    )));
                }
                existing
            }
            None => {
                // Names are unique ignoring case; refuse a clash here rather than let the store's
                // uniqueness rule fail the whole batch.
                if let Some(clash) = tx
                    .participants()
                    .await?
                    .into_iter()
                    .find(|p| p.name.eq_ignore_ascii_case(name))
                {
                    return Ok(Err(FspiopError::new(
                        ErrorCode::GENERIC_CLIENT_ERROR,
                        format!(
                            "participant name {name} clashes with existing participant {}",
                            clash.name
                        ),
                    )));
                }
                let participant = Participant {
                    name: name.to_string(),
                    is_active: true,
                    created_at_ms: now,
                };
                tx.insert_participant(&participant).await?;
                participant
            }
        };
        for kind in [AccountType::Position, AccountType::Settlement] {
            tx.insert_account(&NewAccount {
                participant: participant.name.clone(),
                currency: currency.into(),
                kind,
                at_ms: now,
            })
            .await?;
        }
        self.ensure_hub_accounts(tx, currency, now).await?;
        self.audit(
            tx,
            actor,
            "participant.create",
            name,
            format!("{{\"currency\":\"{currency}\"}}"),
        )
        .await?;
        Ok(Ok(participant))
    }

    /// Creates the hub's own account of a type in a currency (idempotent).
    pub async fn create_hub_account(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        currency: &str,
        kind: AccountType,
    ) -> LedgerResult<Result<Account, FspiopError>> {
        if !matches!(
            kind,
            AccountType::HubReconciliation | AccountType::HubMultilateralSettlement
        ) {
            return Ok(Err(FspiopError::validation(
                "hub accounts are HUB_RECONCILIATION or HUB_MULTILATERAL_SETTLEMENT",
            )));
        }
        let now = self.now_ms();
        self.ensure_hub_participant(tx, now).await?;
        let account = match tx.account_for(HUB_PARTICIPANT, currency, kind).await? {
            Some(account) => account,
            None => {
                tx.insert_account(&NewAccount {
                    participant: HUB_PARTICIPANT.into(),
                    currency: currency.into(),
                    kind,
                    at_ms: now,
                })
                .await?
            }
        };
        self.audit(
            tx,
            actor,
            "hub.account.create",
            kind.as_str(),
            format!("{{\"currency\":\"{currency}\"}}"),
        )
        .await?;
        Ok(Ok(account))
    }

    async fn ensure_hub_participant(&self, tx: &mut dyn LedgerTx, now: i64) -> LedgerResult<()> {
        if tx.participant(HUB_PARTICIPANT).await?.is_none() {
            tx.insert_participant(&Participant {
                name: HUB_PARTICIPANT.into(),
                is_active: true,
                created_at_ms: now,
            })
            .await?;
        }
        Ok(())
    }

    async fn ensure_hub_accounts(
        &self,
        tx: &mut dyn LedgerTx,
        currency: &str,
        now: i64,
    ) -> LedgerResult<()> {
        self.ensure_hub_participant(tx, now).await?;
        for kind in [
            AccountType::HubReconciliation,
            AccountType::HubMultilateralSettlement,
        ] {
            if tx
                .account_for(HUB_PARTICIPANT, currency, kind)
                .await?
                .is_none()
            {
                tx.insert_account(&NewAccount {
                    participant: HUB_PARTICIPANT.into(),
                    currency: currency.into(),
                    kind,
                    at_ms: now,
                })
                .await?;
            }
        }
        Ok(())
    }

    /// Activates or deactivates a participant.
    pub async fn set_participant_active(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        active: bool,
    ) -> LedgerResult<Result<Participant, FspiopError>> {
        let Some(mut participant) = tx.participant(name).await? else {
            return Ok(Err(unknown_participant(name)));
        };
        tx.set_participant_active(&participant.name, active).await?;
        participant.is_active = active;
        self.audit(
            tx,
            actor,
            "participant.set_active",
            name,
            format!("{{\"isActive\":{active}}}"),
        )
        .await?;
        Ok(Ok(participant))
    }

    /// Activates or deactivates one account of a participant.
    pub async fn set_account_active(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        account_id: i64,
        active: bool,
    ) -> LedgerResult<Result<Account, FspiopError>> {
        let mut account = match tx.account(account_id).await? {
            Some(account) if account.participant.eq_ignore_ascii_case(name) => account,
            _ => {
                return Ok(Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("{name} has no account {account_id}"),
                )));
            }
        };
        account.is_active = active;
        account.changed_at_ms = self.now_ms();
        tx.update_account(&account).await?;
        self.audit(
            tx,
            actor,
            "account.set_active",
            name,
            format!("{{\"accountId\":{account_id},\"isActive\":{active}}}"),
        )
        .await?;
        Ok(Ok(account))
    }

    /// Registers or replaces a callback endpoint.
    pub async fn set_endpoint(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        endpoint: Endpoint,
    ) -> LedgerResult<Result<(), FspiopError>> {
        if tx.participant(&endpoint.participant).await?.is_none() {
            return Ok(Err(unknown_participant(&endpoint.participant)));
        }
        if fspiop::endpoint::EndpointType::parse(&endpoint.kind).is_none() {
            return Ok(Err(FspiopError::validation(format!(
                "unknown endpoint type {}",
                endpoint.kind
            ))));
        }
        if !(endpoint.value.starts_with("http://") || endpoint.value.starts_with("https://")) {
            return Ok(Err(FspiopError::validation(
                "endpoint value must be an http:// or https:// URL",
            )));
        }
        tx.upsert_endpoint(&endpoint).await?;
        let detail =
            serde_json::json!({"type": endpoint.kind, "value": endpoint.value}).to_string();
        self.audit(tx, actor, "endpoint.set", &endpoint.participant, detail)
            .await?;
        Ok(Ok(()))
    }

    /// Registers a participant's JWS verification key. The caller has already parsed the PEM
    /// and computed the fingerprint; the ledger checks that the participant exists, that the
    /// fingerprint is a lowercase hex SHA-256 not yet registered for that participant (retired
    /// keys included), the algorithm, and the validity window. `added_at_ms` is set to now and
    /// `retired_at_ms` to `None`, whatever the caller passed. Returns the key as stored.
    pub async fn add_jws_key(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        key: JwsKey,
    ) -> LedgerResult<Result<JwsKey, FspiopError>> {
        let Some(participant) = tx.participant(&key.participant).await? else {
            return Ok(Err(unknown_participant(&key.participant)));
        };
        if !is_sha256_hex(&key.fingerprint) {
            return Ok(Err(FspiopError::validation(
                "JWS key fingerprint must be 64 lowercase hex digits (SHA-256 of the SPKI DER)",
            )));
        }
        if !matches!(key.alg.as_str(), "RS256" | "ES256") {
            return Ok(Err(FspiopError::validation(format!(
                "unsupported JWS algorithm {}; use RS256 or ES256",
                key.alg
            ))));
        }
        if let (Some(not_before), Some(not_after)) = (key.not_before_ms, key.not_after_ms)
            && not_after <= not_before
        {
            return Ok(Err(FspiopError::validation(
                "JWS key notAfter must be later than notBefore",
            )));
        }
        // Refuse a duplicate here: the store's uniqueness error would fail the whole batch.
        if tx
            .jws_keys(&participant.name)
            .await?
            .iter()
            .any(|k| k.fingerprint == key.fingerprint)
        {
            return Ok(Err(FspiopError::validation(format!(
                "{} already has JWS key {}",
                participant.name, key.fingerprint
            ))));
        }
        let key = JwsKey {
            participant: participant.name,
            added_at_ms: self.now_ms(),
            retired_at_ms: None,
            ..key
        };
        tx.insert_jws_key(&key).await?;
        let detail = serde_json::json!({
            "fingerprint": key.fingerprint,
            "alg": key.alg,
            "notBefore": key.not_before_ms,
            "notAfter": key.not_after_ms,
        })
        .to_string();
        self.audit(tx, actor, "jws_key.add", &key.participant, detail)
            .await?;
        Ok(Ok(key))
    }

    /// Retires a participant's JWS key: it no longer verifies new messages but is kept, so that
    /// stored evidence signed with it can still be verified.
    pub async fn retire_jws_key(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        participant: &str,
        fingerprint: &str,
    ) -> LedgerResult<Result<(), FspiopError>> {
        let Some(participant) = tx.participant(participant).await? else {
            return Ok(Err(unknown_participant(participant)));
        };
        let name = participant.name;
        let keys = tx.jws_keys(&name).await?;
        match keys.iter().find(|k| k.fingerprint == fingerprint) {
            None => {
                return Ok(Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("{name} has no JWS key {fingerprint}"),
                )));
            }
            Some(key) if key.retired_at_ms.is_some() => {
                return Ok(Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("{name}'s JWS key is already retired: {fingerprint}"),
                )));
            }
            Some(_) => {}
        }
        let now = self.now_ms();
        if !tx.retire_jws_key(&name, fingerprint, now).await? {
            // The key was listed as active a moment ago in this same transaction.
            return Err(StoreError::Corrupt(format!(
                "JWS key {fingerprint} of {name} is listed as active but could not be retired"
            )));
        }
        let detail = serde_json::json!({"fingerprint": fingerprint, "retiredAt": now}).to_string();
        self.audit(tx, actor, "jws_key.retire", &name, detail)
            .await?;
        Ok(Ok(()))
    }

    /// Sets (inserts or replaces) a participant's TLS settings: the optional SPKI pin of its
    /// client certificate and the optional CA bundle of its callback server. The caller has
    /// already parsed the PEM properly; the ledger checks that the participant exists, that the
    /// pin is a lowercase hex SHA-256 and that the bundle at least looks like PEM certificates.
    /// `updated_at_ms` is set to now, whatever the caller passed. Returns the settings as
    /// stored. The audit entry records the pin and whether a CA bundle is set, never the PEM.
    pub async fn set_participant_tls(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        tls: ParticipantTls,
    ) -> LedgerResult<Result<ParticipantTls, FspiopError>> {
        let Some(participant) = tx.participant(&tls.participant).await? else {
            return Ok(Err(unknown_participant(&tls.participant)));
        };
        if let Some(pin) = &tls.spki_pin
            && !is_sha256_hex(pin)
        {
            return Ok(Err(FspiopError::validation(
                "TLS spkiPin must be 64 lowercase hex digits (SHA-256 of the certificate's \
                 SubjectPublicKeyInfo)",
            )));
        }
        if let Some(pem) = &tls.callback_ca_pem
            && !pem.contains("-----BEGIN CERTIFICATE-----")
        {
            return Ok(Err(FspiopError::validation(
                "TLS callback CA must be a PEM bundle of certificates \
                 (-----BEGIN CERTIFICATE-----)",
            )));
        }
        let tls = ParticipantTls {
            participant: participant.name,
            updated_at_ms: self.now_ms(),
            ..tls
        };
        tx.upsert_participant_tls(&tls).await?;
        let detail = serde_json::json!({
            "spkiPin": tls.spki_pin,
            "callbackCa": tls.callback_ca_pem.is_some(),
        })
        .to_string();
        self.audit(tx, actor, "participant.tls_set", &tls.participant, detail)
            .await?;
        Ok(Ok(tls))
    }

    /// Sets the first net debit cap (and optionally an initial position) for a currency.
    pub async fn initial_position_and_limits(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        currency: &str,
        cap: Amount,
        initial_position: Decimal,
    ) -> LedgerResult<Result<(), FspiopError>> {
        let Some(mut position) = tx
            .account_for(name, currency, AccountType::Position)
            .await?
        else {
            return Ok(Err(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!("{name} has no {currency} position account"),
            )));
        };
        if tx.limit(name, currency).await?.is_some() {
            return Ok(Err(FspiopError::new(
                ErrorCode::GENERIC_CLIENT_ERROR,
                format!(
                    "{name} already has initial position and limits for {currency}; use PUT /participants/{name}/limits"
                ),
            )));
        }
        if !initial_position.is_zero() {
            // An initial position moves money without a counterparty; the reference allows it
            // only at onboarding, and we journal it against the hub's multilateral settlement
            // account so that positions plus that account sum to zero.
            let now = self.now_ms();
            self.ensure_hub_accounts(tx, currency, now).await?;
            let mut hub = hub_account(tx, currency, AccountType::HubMultilateralSettlement).await?;
            position.value += initial_position;
            position.changed_at_ms = now;
            hub.value -= initial_position;
            hub.changed_at_ms = now;
            tx.update_account(&position).await?;
            tx.update_account(&hub).await?;
            tx.append_journal(&journal(
                position.id,
                name,
                "INITIAL_POSITION",
                initial_position,
                Decimal::ZERO,
                now,
            ))
            .await?;
            tx.append_journal(&journal(
                hub.id,
                name,
                "INITIAL_POSITION",
                -initial_position,
                Decimal::ZERO,
                now,
            ))
            .await?;
        }
        let limit = Limit {
            participant: position.participant.clone(),
            currency: currency.into(),
            value: cap.decimal(),
            alarm_percentage: Decimal::from(10),
        };
        tx.upsert_limit(&limit).await?;
        let detail = serde_json::json!({"currency": currency, "netDebitCap": cap.to_string(), "initialPosition": initial_position.to_string()}).to_string();
        self.audit(tx, actor, "limits.initial", name, detail)
            .await?;
        Ok(Ok(()))
    }

    /// Changes the net debit cap.
    pub async fn set_limit(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        currency: &str,
        cap: Amount,
        alarm_percentage: Decimal,
    ) -> LedgerResult<Result<Limit, FspiopError>> {
        let Some(position) = tx
            .account_for(name, currency, AccountType::Position)
            .await?
        else {
            return Ok(Err(FspiopError::new(
                ErrorCode::ID_NOT_FOUND,
                format!("{name} has no {currency} position account"),
            )));
        };
        let limit = Limit {
            participant: position.participant,
            currency: currency.into(),
            value: cap.decimal(),
            alarm_percentage,
        };
        tx.upsert_limit(&limit).await?;
        let detail =
            serde_json::json!({"currency": currency, "netDebitCap": cap.to_string()}).to_string();
        self.audit(tx, actor, "limits.set", name, detail).await?;
        Ok(Ok(limit))
    }

    /// Records funds in (applied at once) or reserves funds out.
    #[allow(clippy::too_many_arguments)]
    pub async fn funds(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        account_id: i64,
        id: &str,
        action: FundsAction,
        amount: Amount,
        currency: &str,
        reason: &str,
        external_reference: &str,
    ) -> LedgerResult<Result<FundsTransfer, FspiopError>> {
        let now = self.now_ms();
        let mut settlement = match tx.account(account_id).await? {
            Some(a)
                if a.participant.eq_ignore_ascii_case(name)
                    && a.kind == AccountType::Settlement =>
            {
                a
            }
            _ => {
                return Ok(Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("{name} has no settlement account {account_id}"),
                )));
            }
        };
        if settlement.currency != currency {
            return Ok(Err(FspiopError::validation(format!(
                "account {account_id} is in {}, not {currency}",
                settlement.currency
            ))));
        }
        if amount.is_zero() {
            return Ok(Err(FspiopError::validation(
                "amount must be greater than zero",
            )));
        }
        if let Some(existing) = tx.funds_transfer(id).await? {
            return Ok(Err(FspiopError::new(
                ErrorCode::MODIFIED_REQUEST,
                format!("funds transfer {id} already exists ({})", existing.state),
            )));
        }
        let value = amount.decimal();
        let (state, action_name) = match action {
            FundsAction::In => {
                self.ensure_hub_accounts(tx, currency, now).await?;
                let mut hub = hub_account(tx, currency, AccountType::HubReconciliation).await?;
                settlement.value -= value;
                hub.value += value;
                hub.changed_at_ms = now;
                tx.update_account(&hub).await?;
                tx.append_journal(&journal(hub.id, id, "FUNDS_IN", value, Decimal::ZERO, now))
                    .await?;
                tx.append_journal(&journal(
                    settlement.id,
                    id,
                    "FUNDS_IN",
                    -value,
                    Decimal::ZERO,
                    now,
                ))
                .await?;
                ("COMMITTED", "recordFundsIn")
            }
            FundsAction::OutReserve => {
                let position = position_account(tx, &settlement.participant, currency).await?;
                let exposure = (position.value + position.reserved).max(Decimal::ZERO);
                let available = liquidity_cover(&settlement) - exposure;
                if value > available {
                    return Ok(Err(FspiopError::new(
                        ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY,
                        format!(
                            "withdrawal of {} {currency} exceeds the {} available after the current position",
                            value.normalize(),
                            available.normalize()
                        ),
                    )));
                }
                settlement.reserved += value;
                tx.append_journal(&journal(
                    settlement.id,
                    id,
                    "FUNDS_OUT_RESERVE",
                    Decimal::ZERO,
                    value,
                    now,
                ))
                .await?;
                ("RESERVED", "recordFundsOutPrepareReserve")
            }
        };
        settlement.changed_at_ms = now;
        tx.update_account(&settlement).await?;
        let funds = FundsTransfer {
            id: id.into(),
            participant: settlement.participant.clone(),
            account_id,
            action: action_name.into(),
            amount: value,
            currency: currency.into(),
            state: state.into(),
            reason: reason.into(),
            external_reference: external_reference.into(),
            created_at_ms: now,
        };
        tx.insert_funds_transfer(&funds).await?;
        let detail = serde_json::json!({"transferId": id, "action": action_name, "amount": value.normalize().to_string(), "currency": currency, "reason": reason}).to_string();
        self.audit(tx, actor, "funds.record", name, detail).await?;
        Ok(Ok(funds))
    }

    /// Commits or aborts a reserved funds-out.
    pub async fn settle_funds_out(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        name: &str,
        account_id: i64,
        id: &str,
        commit: bool,
    ) -> LedgerResult<Result<FundsTransfer, FspiopError>> {
        let now = self.now_ms();
        let mut funds = match tx.funds_transfer(id).await? {
            Some(f) if f.account_id == account_id && f.participant.eq_ignore_ascii_case(name) => f,
            _ => {
                return Ok(Err(FspiopError::new(
                    ErrorCode::ID_NOT_FOUND,
                    format!("no funds-out {id} on account {account_id}"),
                )));
            }
        };
        if funds.state != "RESERVED" {
            return Ok(Err(FspiopError::validation(format!(
                "funds transfer {id} is {}, not RESERVED",
                funds.state
            ))));
        }
        let Some(mut settlement) = tx.account(account_id).await? else {
            return Err(StoreError::Corrupt(format!(
                "settlement account {account_id} vanished"
            )));
        };
        settlement.reserved -= funds.amount;
        settlement.changed_at_ms = now;
        let state = if commit {
            settlement.value += funds.amount;
            let mut hub = hub_account(tx, &funds.currency, AccountType::HubReconciliation).await?;
            hub.value -= funds.amount;
            hub.changed_at_ms = now;
            tx.update_account(&hub).await?;
            tx.append_journal(&journal(
                hub.id,
                id,
                "FUNDS_OUT_COMMIT",
                -funds.amount,
                Decimal::ZERO,
                now,
            ))
            .await?;
            tx.append_journal(&journal(
                settlement.id,
                id,
                "FUNDS_OUT_COMMIT",
                funds.amount,
                -funds.amount,
                now,
            ))
            .await?;
            "COMMITTED"
        } else {
            tx.append_journal(&journal(
                settlement.id,
                id,
                "FUNDS_OUT_ABORT",
                Decimal::ZERO,
                -funds.amount,
                now,
            ))
            .await?;
            "ABORTED"
        };
        tx.update_account(&settlement).await?;
        tx.set_funds_transfer_state(id, state).await?;
        funds.state = state.into();
        let action = if commit {
            "funds.out.commit"
        } else {
            "funds.out.abort"
        };
        self.audit(
            tx,
            actor,
            action,
            name,
            serde_json::json!({"transferId": id}).to_string(),
        )
        .await?;
        Ok(Ok(funds))
    }

    /// Appends an audit entry inside the transaction.
    pub async fn audit(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        action: &str,
        subject: &str,
        detail: String,
    ) -> LedgerResult<()> {
        let entry = AuditEntry {
            at_ms: self.now_ms(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            detail,
            outcome: "ok".into(),
            // seq, prev_hash and hash: the store chains the entry.
            ..Default::default()
        };
        tx.append_audit(&entry).await
    }

    /// Appends an audit entry with outcome `denied` (a refused request) inside the transaction.
    pub async fn audit_denied(
        &self,
        tx: &mut dyn LedgerTx,
        actor: &str,
        action: &str,
        subject: &str,
        detail: String,
    ) -> LedgerResult<()> {
        let entry = AuditEntry {
            at_ms: self.now_ms(),
            actor: actor.into(),
            action: action.into(),
            subject: subject.into(),
            detail,
            outcome: "denied".into(),
            ..Default::default()
        };
        tx.append_audit(&entry).await
    }

    // ----------------------------------------------------------------------------------------
    // Built-in party oracle

    /// Registers a party for the sending FSP.
    ///
    /// A party (type, identifier, sub-id) has one owner: its oldest registration
    /// ([`LedgerTx::party_owner`]). Only the owner may register it again (another currency,
    /// the same one again); a claim by any other FSP is refused with `3003` and audited
    /// (`oracle.claim_refused`), whatever currency it names. With per-currency owners
    /// ([`Ledger::with_per_currency_party_owners`]) another FSP may register the party in a
    /// currency no one else holds, but a registration without currency still conflicts with
    /// every other FSP's, and theirs with it.
    pub async fn register_party(
        &self,
        tx: &mut dyn LedgerTx,
        source: &str,
        party: PartyRegistration,
    ) -> LedgerResult<Result<(), FspiopError>> {
        if !party.fsp_id.eq_ignore_ascii_case(source) {
            let error = FspiopError::new(
                ErrorCode::ADD_PARTY_INFORMATION_ERROR,
                format!(
                    "{source} may only register parties for itself, not for {}",
                    party.fsp_id
                ),
            );
            self.party_claim_refused(tx, source, &party, &party.fsp_id, &error)
                .await?;
            return Ok(Err(error));
        }
        let holder = if self.per_currency_party_owners {
            tx.parties(&party.id_type, &party.identifier, Some(&party.sub_id))
                .await?
                .into_iter()
                .find(|p| {
                    !p.fsp_id.eq_ignore_ascii_case(source)
                        && (p.currency == party.currency
                            || p.currency.is_empty()
                            || party.currency.is_empty())
                })
        } else {
            tx.party_owner(&party.id_type, &party.identifier, &party.sub_id)
                .await?
                .filter(|owner| !owner.fsp_id.eq_ignore_ascii_case(source))
        };
        if let Some(holder) = holder {
            let error = FspiopError::new(
                ErrorCode::ADD_PARTY_INFORMATION_ERROR,
                format!(
                    "{} is registered to {}; only it can change or delete that registration",
                    party_subject(&party.id_type, &party.identifier, &party.sub_id),
                    holder.fsp_id
                ),
            );
            self.party_claim_refused(tx, source, &party, &holder.fsp_id, &error)
                .await?;
            return Ok(Err(error));
        }
        tx.upsert_party(&party).await?;
        Ok(Ok(()))
    }

    /// Audits a refused registration.
    async fn party_claim_refused(
        &self,
        tx: &mut dyn LedgerTx,
        source: &str,
        party: &PartyRegistration,
        owner: &str,
        error: &FspiopError,
    ) -> LedgerResult<()> {
        let detail = serde_json::json!({
            "claimedFor": party.fsp_id,
            "currency": party.currency,
            "owner": owner,
            "reason": error.description,
        });
        let subject = party_subject(&party.id_type, &party.identifier, &party.sub_id);
        self.audit_denied(
            tx,
            source,
            "oracle.claim_refused",
            &subject,
            detail.to_string(),
        )
        .await
    }

    /// Removes the sending FSP's registration of a party. Only the FSP that registered it can:
    /// anyone else gets `3040`, audited (`oracle.delete_refused`) when another FSP holds the
    /// party.
    pub async fn delete_party(
        &self,
        tx: &mut dyn LedgerTx,
        source: &str,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> LedgerResult<Result<(), FspiopError>> {
        let removed = tx.delete_party(id_type, identifier, sub_id, source).await?;
        if removed == 0 {
            let error = FspiopError::new(
                ErrorCode::DELETE_PARTY_INFORMATION_ERROR,
                format!("{source} has no registration for {id_type}/{identifier}"),
            );
            if let Some(owner) = tx.party_owner(id_type, identifier, sub_id).await? {
                let detail =
                    serde_json::json!({"owner": owner.fsp_id, "reason": error.description});
                let subject = party_subject(id_type, identifier, sub_id);
                self.audit_denied(
                    tx,
                    source,
                    "oracle.delete_refused",
                    &subject,
                    detail.to_string(),
                )
                .await?;
            }
            return Ok(Err(error));
        }
        Ok(Ok(()))
    }

    /// The FSP that owns a party: its oldest registration (deterministic whatever the
    /// currencies or the order rows are read in).
    pub async fn party_owner(
        &self,
        tx: &mut dyn LedgerTx,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> LedgerResult<Option<String>> {
        Ok(tx
            .party_owner(id_type, identifier, sub_id)
            .await?
            .map(|owner| owner.fsp_id))
    }

    /// Records that a `GET /parties` of `requester` was routed to `routed_to`, the FSP it
    /// named, so that `routed_to` may answer it for [`PARTY_LOOKUP_TTL_MS`]. Expired lookups
    /// are purged first; a requester with [`MAX_OPEN_PARTY_LOOKUPS`] awaiting an answer is
    /// refused (`2005`) unless this one refreshes a lookup it already has.
    pub async fn route_party_lookup(
        &self,
        tx: &mut dyn LedgerTx,
        requester: &str,
        routed_to: &str,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> LedgerResult<Result<(), FspiopError>> {
        let now = self.now_ms();
        tx.purge_party_lookups(now).await?;
        let requester = requester.to_ascii_lowercase();
        let routed_to = routed_to.to_ascii_lowercase();
        let known = tx
            .party_lookup(id_type, identifier, sub_id, &requester, &routed_to)
            .await?
            .is_some();
        if !known && tx.count_party_lookups(&requester).await? >= MAX_OPEN_PARTY_LOOKUPS {
            return Ok(Err(FspiopError::new(
                ErrorCode::SERVER_BUSY,
                format!(
                    "{requester} has {MAX_OPEN_PARTY_LOOKUPS} lookups awaiting an answer from an FSP it named; retry when they are answered or expire ({} s)",
                    PARTY_LOOKUP_TTL_MS / 1_000
                ),
            )));
        }
        let lookup = PartyLookup {
            id_type: id_type.to_string(),
            identifier: identifier.to_string(),
            sub_id: sub_id.to_string(),
            requester,
            routed_to,
            expires_at_ms: now.saturating_add(PARTY_LOOKUP_TTL_MS),
        };
        tx.put_party_lookup(&lookup).await?;
        Ok(Ok(()))
    }

    /// Whether `sender` may answer `requester` about a party (`PUT /parties/...` and its
    /// `/error`): it must be the FSP the hub routed the lookup to — the party's owner, or the
    /// FSP the requester named while the routed lookup is open. Reads only; the caller audits
    /// a refusal (`oracle.answer_refused`).
    pub async fn party_answer_allowed(
        &self,
        tx: &mut dyn LedgerTx,
        sender: &str,
        requester: &str,
        id_type: &str,
        identifier: &str,
        sub_id: &str,
    ) -> LedgerResult<Result<(), FspiopError>> {
        let owner = tx.party_owner(id_type, identifier, sub_id).await?;
        if owner
            .as_ref()
            .is_some_and(|owner| owner.fsp_id.eq_ignore_ascii_case(sender))
        {
            return Ok(Ok(()));
        }
        let routed = tx
            .party_lookup(
                id_type,
                identifier,
                sub_id,
                &requester.to_ascii_lowercase(),
                &sender.to_ascii_lowercase(),
            )
            .await?;
        if routed.is_some_and(|lookup| lookup.expires_at_ms > self.now_ms()) {
            return Ok(Ok(()));
        }
        let subject = party_subject(id_type, identifier, sub_id);
        let detail = match owner {
            Some(owner) => format!(
                "{requester} did not ask {sender} about {subject} (the hub routes its lookups to {})",
                owner.fsp_id
            ),
            None => format!(
                "{requester} did not ask {sender} about {subject}; only the FSP it asked may answer"
            ),
        };
        Ok(Err(FspiopError::validation(detail)))
    }
}

/// `MSISDN/123` or `MSISDN/123/sub`: how audit entries and errors name a party.
pub fn party_subject(id_type: &str, identifier: &str, sub_id: &str) -> String {
    if sub_id.is_empty() {
        format!("{id_type}/{identifier}")
    } else {
        format!("{id_type}/{identifier}/{sub_id}")
    }
}

/// Whether sha256(fulfilment) equals the condition (both base64url, 32 bytes).
pub fn fulfilment_matches(fulfilment: &str, condition: &str) -> bool {
    let (Ok(fulfilment), Ok(condition)) = (
        ilp::Fulfilment::from_base64url(fulfilment),
        ilp::Condition::from_base64url(condition),
    ) else {
        return false;
    };
    condition.is_fulfilled_by(&fulfilment)
}

/// Funds available as collateral: deposits (negative settlement balance) less reserved
/// withdrawals.
pub fn liquidity_cover(settlement: &Account) -> Decimal {
    -settlement.value - settlement.reserved
}

fn journal(
    account_id: i64,
    reference: &str,
    reason: &str,
    value_delta: Decimal,
    reserved_delta: Decimal,
    at_ms: i64,
) -> JournalEntry {
    JournalEntry {
        account_id,
        reference: reference.into(),
        reason: reason.into(),
        value_delta,
        reserved_delta,
        at_ms,
    }
}

fn duplicate_of(
    existing: &Transfer,
    previous_hash: &str,
    new_hash: &str,
    is_prepare: bool,
) -> Duplicate {
    if previous_hash != new_hash {
        let what = if is_prepare {
            "transfer prepare"
        } else {
            "transfer callback"
        };
        return Duplicate::Modified(modified(what, &existing.id));
    }
    if is_prepare || existing.state.is_final() {
        Duplicate::Resend(Box::new(existing.clone()))
    } else {
        Duplicate::Ignore
    }
}

fn modified(what: &str, id: &str) -> FspiopError {
    FspiopError::new(
        ErrorCode::MODIFIED_REQUEST,
        format!("{what} {id} repeats an earlier id with different content"),
    )
}

fn not_found(id: &str) -> FspiopError {
    FspiopError::new(
        ErrorCode::TRANSFER_NOT_FOUND,
        format!("Provided Transfer ID {id} was not found on the server."),
    )
}

fn unknown_participant(name: &str) -> FspiopError {
    FspiopError::new(
        ErrorCode::ID_NOT_FOUND,
        format!("participant {name} does not exist"),
    )
}

/// Whether `text` is a SHA-256 digest in lowercase hex (the form JWS key fingerprints take, so
/// that one key cannot be registered twice under differently cased fingerprints).
fn is_sha256_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_payee_message(
    transfer: &Transfer,
    source: &str,
    destination: Option<&str>,
) -> Option<FspiopError> {
    if !transfer.payee.eq_ignore_ascii_case(source) {
        return Some(FspiopError::validation(format!(
            "FSPIOP-Source {source} does not match payee fsp {} of transfer {}",
            transfer.payee, transfer.id
        )));
    }
    if let Some(destination) = destination
        && !transfer.payer.eq_ignore_ascii_case(destination)
    {
        return Some(FspiopError::validation(format!(
            "FSPIOP-Destination {destination} does not match payer fsp {} of transfer {}",
            transfer.payer, transfer.id
        )));
    }
    None
}

async fn position_account(
    tx: &mut dyn LedgerTx,
    participant: &str,
    currency: &str,
) -> LedgerResult<Account> {
    tx.account_for(participant, currency, AccountType::Position)
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!("{participant} has no {currency} position account"))
        })
}

async fn hub_account(
    tx: &mut dyn LedgerTx,
    currency: &str,
    kind: AccountType,
) -> LedgerResult<Account> {
    tx.account_for(HUB_PARTICIPANT, currency, kind)
        .await?
        .ok_or_else(|| {
            StoreError::Corrupt(format!("hub has no {currency} {} account", kind.as_str()))
        })
}
