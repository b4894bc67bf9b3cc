//! The strict ILP terms check on prepare: a transfer must move exactly the money the payee
//! agreed to in its quote answer, and a refusal must reserve nothing.
//!
//! Every quote is recorded the way the hub records it (`quote_request` from the payer, then
//! `quote_response` from the payee) with terms built by `ilp::v1_terms` / `ilp::v4_terms`, i.e.
//! byte for byte what a payee running the Mojaloop SDK sends. Each command runs in its own write
//! transaction, is committed, and its effects are checked through a fresh read transaction.

use std::str::FromStr;
use std::sync::Arc;

use fspiop::{Amount, FspiopDateTime, FspiopError};
use ledger::engine::{
    FulfilCommand, FulfilMode, FulfilOutcome, FundsAction, Ledger, PrepareCommand, PrepareOutcome,
    QuoteOutcome, QuoteRequestCommand, QuoteResponseCommand,
};
use ledger::mem::MemStore;
use ledger::{AccountType, IlpPolicy, LedgerStore, LedgerTx, ManualClock, Transfer, TransferState};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;

const USD: &str = "USD";
const JPY: &str = "JPY";
const PAYER: &str = "payerfsp";
const PAYEE: &str = "payeefsp";
const OTHER: &str = "otherfsp";
const OPERATOR: &str = "ops";
/// The payee DFSP's ILP secret (only the payee knows it; the hub never does).
const SECRET: &[u8] = b"payee-ilp-secret";
/// How long a quote answer (and so the agreed transaction) stays valid.
const QUOTE_TTL_MS: i64 = 60_000;
/// How long the payer gives the transfer, well within the quote.
const TRANSFER_TTL_MS: i64 = 30_000;

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal literal")
}

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("FSPIOP amount literal")
}

fn instant(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("instant")
}

fn datetime(ms: i64) -> String {
    FspiopDateTime::from_unix_millis(ms)
        .expect("datetime")
        .to_string()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Version {
    V1,
    V4,
}

/// The SDK's Transaction object for a quote from `PAYER` to `PAYEE`. `payee_msisdn` lets a test
/// build a different, equally valid transaction for the same quote and amount.
fn transaction(
    quote_id: &str,
    value: &str,
    currency: &str,
    expiration_ms: i64,
    payee_msisdn: &str,
) -> Value {
    json!({
        "quoteId": quote_id,
        "transactionId": format!("{quote_id}-tx"),
        "transactionType": {
            "scenario": "TRANSFER",
            "initiator": "PAYER",
            "initiatorType": "CONSUMER"
        },
        "payee": {"partyIdInfo": {
            "partyIdType": "MSISDN",
            "partyIdentifier": payee_msisdn,
            "fspId": PAYEE
        }},
        "payer": {"partyIdInfo": {
            "partyIdType": "MSISDN",
            "partyIdentifier": "44123456789",
            "fspId": PAYER
        }},
        "expiration": datetime(expiration_ms),
        "amount": {"amount": value, "currency": currency}
    })
}

fn terms_for(transaction: &Value, version: Version, expiration_ms: i64) -> ilp::Terms {
    match version {
        Version::V1 => ilp::v1_terms(transaction, SECRET).expect("v1 terms"),
        Version::V4 => {
            ilp::v4_terms(transaction, instant(expiration_ms), SECRET).expect("v4 terms")
        }
    }
}

/// A quote the payee answered through the hub.
#[derive(Clone, Debug)]
struct Agreed {
    quote_id: String,
    amount: String,
    currency: String,
    expiration_ms: i64,
    terms: ilp::Terms,
}

/// One in-memory ledger with a stopped clock; payer, payee and a third FSP in USD and JPY.
struct Env {
    store: MemStore,
    clock: Arc<ManualClock>,
    ledger: Ledger,
}

impl Env {
    /// The hub's default: `Ledger::new` is strict.
    async fn strict() -> Env {
        Env::with_ledger(|clock| Ledger::new(clock)).await
    }

    async fn condition_only() -> Env {
        Env::with_ledger(|clock| Ledger::new(clock).with_ilp_policy(IlpPolicy::ConditionOnly)).await
    }

    async fn with_ledger(make: impl FnOnce(Arc<ManualClock>) -> Ledger) -> Env {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("start time");
        let clock = Arc::new(ManualClock::new(start));
        let env = Env {
            store: MemStore::new(),
            ledger: make(clock.clone()),
            clock,
        };
        let mut tx = env.begin().await;
        for currency in [USD, JPY] {
            for name in [PAYER, PAYEE, OTHER] {
                env.ledger
                    .create_participant(&mut *tx, OPERATOR, name, currency)
                    .await
                    .unwrap()
                    .expect("participant");
                env.ledger
                    .initial_position_and_limits(
                        &mut *tx,
                        OPERATOR,
                        name,
                        currency,
                        amount("10000"),
                        Decimal::ZERO,
                    )
                    .await
                    .unwrap()
                    .expect("limits");
                let settlement = tx
                    .account_for(name, currency, AccountType::Settlement)
                    .await
                    .unwrap()
                    .expect("settlement account");
                env.ledger
                    .funds(
                        &mut *tx,
                        OPERATOR,
                        name,
                        settlement.id,
                        &format!("fund-{name}-{currency}"),
                        FundsAction::In,
                        amount("20000"),
                        currency,
                        "deposit",
                        "ref",
                    )
                    .await
                    .unwrap()
                    .expect("funds in");
            }
        }
        tx.commit().await.unwrap();
        env
    }

    async fn begin(&self) -> Box<dyn LedgerTx> {
        self.store.begin().await.expect("begin")
    }

    async fn read(&self) -> Box<dyn LedgerTx> {
        self.store.read().await.expect("read")
    }

    fn now(&self) -> i64 {
        self.ledger.now_ms()
    }

    /// Records a quote request from `PAYER` to `PAYEE` without an answer.
    async fn request_quote(&self, quote_id: &str, value: &str, currency: &str) {
        let mut tx = self.begin().await;
        let outcome = self
            .ledger
            .quote_request(
                &mut *tx,
                QuoteRequestCommand {
                    id: quote_id.into(),
                    transaction_id: format!("{quote_id}-tx"),
                    payer: PAYER.into(),
                    payee: PAYEE.into(),
                    amount: amount(value),
                    currency: currency.into(),
                    hash: format!("quote-request-{quote_id}"),
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(outcome, QuoteOutcome::Forward);
    }

    /// Records the payee's answer carrying `terms`.
    async fn answer_quote(&self, agreed: &Agreed) {
        let mut tx = self.begin().await;
        let outcome = self
            .ledger
            .quote_response(
                &mut *tx,
                QuoteResponseCommand {
                    id: agreed.quote_id.clone(),
                    source: PAYEE.into(),
                    destination: PAYER.into(),
                    transfer_amount: amount(&agreed.amount),
                    currency: agreed.currency.clone(),
                    condition: agreed.terms.condition.clone(),
                    ilp_packet: agreed.terms.ilp_packet.clone(),
                    expiration_ms: agreed.expiration_ms,
                    hash: format!("quote-response-{}", agreed.quote_id),
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(outcome, QuoteOutcome::Forward);
    }

    /// Terms for a quote from `PAYER` to `PAYEE`, expiring `QUOTE_TTL_MS` from now, not recorded.
    fn terms(&self, quote_id: &str, value: &str, currency: &str, version: Version) -> Agreed {
        let expiration_ms = self.now() + QUOTE_TTL_MS;
        let transaction = transaction(quote_id, value, currency, expiration_ms, "27713803912");
        Agreed {
            quote_id: quote_id.into(),
            amount: value.into(),
            currency: currency.into(),
            expiration_ms,
            terms: terms_for(&transaction, version, expiration_ms),
        }
    }

    /// A quote requested and answered through the hub.
    async fn agree(&self, quote_id: &str, value: &str, currency: &str, version: Version) -> Agreed {
        let agreed = self.terms(quote_id, value, currency, version);
        self.request_quote(quote_id, value, currency).await;
        self.answer_quote(&agreed).await;
        agreed
    }

    /// The prepare the payer builds from the quote answer, unchanged.
    fn prepare_cmd(&self, id: &str, agreed: &Agreed) -> PrepareCommand {
        PrepareCommand {
            id: id.into(),
            payer: PAYER.into(),
            payee: PAYEE.into(),
            amount: amount(&agreed.amount),
            currency: agreed.currency.clone(),
            condition: agreed.terms.condition.clone(),
            ilp_packet: agreed.terms.ilp_packet.clone(),
            expiration_ms: self.now() + TRANSFER_TTL_MS,
            hash: format!("prepare-{id}"),
        }
    }

    async fn prepare(&self, command: PrepareCommand) -> PrepareOutcome {
        let mut tx = self.begin().await;
        let outcome = self.ledger.prepare(&mut *tx, command).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    /// Prepares and expects a reservation of the full amount on the payer's position.
    async fn reserved(&self, command: PrepareCommand) -> Transfer {
        let (id, currency, value) = (
            command.id.clone(),
            command.currency.clone(),
            command.amount.decimal(),
        );
        let before = self.position(PAYER, &currency).await.reserved;
        let transfer = match self.prepare(command).await {
            PrepareOutcome::Reserved(transfer) => transfer,
            other => panic!("expected a reservation of {id}, got {other:?}"),
        };
        assert_eq!(transfer.state, TransferState::Reserved);
        assert_eq!(
            self.position(PAYER, &currency).await.reserved,
            before + value
        );
        assert_eq!(self.transfer(&id).await.state, TransferState::Reserved);
        transfer
    }

    /// Prepares and expects a `3100` refusal whose description names `field`, with nothing
    /// reserved or moved anywhere, and the refused transfer stored as `INVALID`.
    async fn refused(&self, command: PrepareCommand, field: &str) -> FspiopError {
        let (id, currency) = (command.id.clone(), command.currency.clone());
        let payer_before = self.position(PAYER, &currency).await;
        let balances_before = self.balances().await;
        let error = match self.prepare(command).await {
            PrepareOutcome::Rejected(transfer, error) => {
                assert_eq!(transfer.state, TransferState::Invalid);
                error
            }
            other => panic!("expected {id} to be refused for its {field}, got {other:?}"),
        };
        assert_eq!(error.code.value(), 3100, "{error:?}");
        assert!(
            error.description.contains(field),
            "the description of {id}'s refusal should name {field}: {:?}",
            error.description
        );
        let payer_after = self.position(PAYER, &currency).await;
        assert_eq!(
            payer_after.reserved, payer_before.reserved,
            "{id}: reserved"
        );
        assert_eq!(payer_after.value, payer_before.value, "{id}: value");
        assert_eq!(self.balances().await, balances_before, "{id}: balances");
        let stored = self.transfer(&id).await;
        assert_eq!(stored.state, TransferState::Invalid);
        assert_eq!(stored.error_code.as_deref(), Some("3100"));
        error
    }

    async fn fulfil(&self, id: &str, fulfilment: &str) -> FulfilOutcome {
        let mut tx = self.begin().await;
        let outcome = self
            .ledger
            .fulfil(
                &mut *tx,
                FulfilCommand {
                    id: id.into(),
                    source: PAYEE.into(),
                    destination: Some(PAYER.into()),
                    mode: FulfilMode::Commit,
                    fulfilment: Some(fulfilment.into()),
                    hash: format!("fulfil-{id}-{fulfilment}"),
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn position(&self, name: &str, currency: &str) -> ledger::Account {
        self.read()
            .await
            .account_for(name, currency, AccountType::Position)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} has no {currency} position"))
    }

    async fn transfer(&self, id: &str) -> Transfer {
        self.read()
            .await
            .transfer(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("transfer {id} was not stored"))
    }

    /// (id, value, reserved) of every account in every currency.
    async fn balances(&self) -> Vec<(i64, Decimal, Decimal)> {
        let mut read = self.read().await;
        let mut all = Vec::new();
        for currency in [USD, JPY] {
            for account in read.accounts_in_currency(currency).await.unwrap() {
                all.push((account.id, account.value, account.reserved));
            }
        }
        all
    }
}

// --------------------------------------------------------------------------------------------
// Matching terms reserve

#[tokio::test]
async fn matching_v1_prepare_reserves() {
    let env = Env::strict().await;
    let agreed = env.agree("q-v1", "100.5", USD, Version::V1).await;
    let transfer = env.reserved(env.prepare_cmd("t-v1", &agreed)).await;
    assert_eq!(transfer.amount, dec("100.5"));
    assert_eq!(
        transfer.ilp_packet, agreed.terms.ilp_packet,
        "kept verbatim"
    );
    assert_eq!(transfer.condition, agreed.terms.condition);
}

#[tokio::test]
async fn matching_v4_prepare_reserves() {
    let env = Env::strict().await;
    let agreed = env.agree("q-v4", "100.5", USD, Version::V4).await;
    let transfer = env.reserved(env.prepare_cmd("t-v4", &agreed)).await;
    assert_eq!(transfer.amount, dec("100.5"));
    assert_eq!(
        transfer.ilp_packet, agreed.terms.ilp_packet,
        "kept verbatim"
    );
}

#[tokio::test]
async fn matching_prepare_in_a_zero_decimal_currency_reserves() {
    let env = Env::strict().await;
    let agreed = env.agree("q-jpy", "1500", JPY, Version::V1).await;
    let transfer = env.reserved(env.prepare_cmd("t-jpy", &agreed)).await;
    assert_eq!(transfer.amount, dec("1500"));
}

#[tokio::test]
async fn transfer_expiring_exactly_at_the_agreed_expiry_reserves() {
    let env = Env::strict().await;
    for (quote_id, version) in [("q-edge-v1", Version::V1), ("q-edge-v4", Version::V4)] {
        let agreed = env.agree(quote_id, "10", USD, version).await;
        let mut command = env.prepare_cmd(&format!("t-{quote_id}"), &agreed);
        command.expiration_ms = agreed.expiration_ms;
        env.reserved(command).await;
    }
}

// --------------------------------------------------------------------------------------------
// The packet itself

#[tokio::test]
async fn undecodable_ilp_packet_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    let mut command = env.prepare_cmd("t-garbage", &agreed);
    command.ilp_packet = "AYIBgQAAAAAAAASwNGxldmVsb25lLmRmc3AxLm1lci45T2RTOF".into();
    env.refused(command, "ilpPacket").await;

    // Base64url that decodes, but not to an ILP packet.
    let mut command = env.prepare_cmd("t-not-ilp", &agreed);
    command.ilp_packet = "aGVsbG8gd29ybGQ".into();
    env.refused(command, "ilpPacket").await;
}

#[tokio::test]
async fn transfer_amount_different_from_the_packet_amount_is_refused() {
    let env = Env::strict().await;
    // The quote and its packet say 100.5; the transfer says 100.4.
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    let mut command = env.prepare_cmd("t-amount", &agreed);
    command.amount = amount("100.4");
    let error = env.refused(command, "amount").await;
    assert!(error.description.contains("ilpPacket amount"), "{error:?}");
}

#[tokio::test]
async fn packet_for_another_amount_than_the_quote_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    // The transfer keeps the quoted 100.5, but carries terms the payer built itself for 100.4
    // (same quote id, its own packet and condition).
    let forged = env.terms("q1", "100.4", USD, Version::V1);
    let mut command = env.prepare_cmd("t-forged", &agreed);
    command.ilp_packet = forged.terms.ilp_packet.clone();
    command.condition = forged.terms.condition.clone();
    env.refused(command, "amount").await;

    // Transfer and packet agree on 100.4 with each other, but not with the quote the payee
    // answered (100.5).
    let mut command = env.prepare_cmd("t-forged-consistent", &forged);
    command.amount = amount("100.4");
    let error = env.refused(command, "amount").await;
    assert!(error.description.contains("quote q1"), "{error:?}");
}

#[tokio::test]
async fn amount_with_more_decimals_than_the_currency_allows_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q-jpy", "2", JPY, Version::V1).await;
    let mut command = env.prepare_cmd("t-jpy", &agreed);
    command.amount = amount("1.5");
    let error = env.refused(command, "amount").await;
    assert!(error.description.contains("JPY"), "{error:?}");
}

#[tokio::test]
async fn v4_condition_different_from_the_packet_condition_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V4).await;
    // A well-formed condition, but not the one inside the Prepare packet.
    let other = env.terms("q1", "100.5", USD, Version::V1);
    assert_ne!(other.terms.condition, agreed.terms.condition);
    let mut command = env.prepare_cmd("t-cond", &agreed);
    command.condition = other.terms.condition;
    let error = env.refused(command, "condition").await;
    assert!(
        error.description.contains("execution condition"),
        "{error:?}"
    );
}

#[tokio::test]
async fn transfer_expiring_after_the_v4_packet_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V4).await;
    let mut command = env.prepare_cmd("t-late", &agreed);
    command.expiration_ms = agreed.expiration_ms + 1;
    env.refused(command, "expiration").await;
}

#[tokio::test]
async fn v4_packet_expiry_binds_even_when_the_transaction_allows_longer() {
    let env = Env::strict().await;
    // The Transaction says "valid for 60 s", the Prepare packet says 20 s: the packet wins.
    let transaction_expiry = env.now() + QUOTE_TTL_MS;
    let packet_expiry = env.now() + 20_000;
    let transaction = transaction("q1", "100.5", USD, transaction_expiry, "27713803912");
    let agreed = Agreed {
        quote_id: "q1".into(),
        amount: "100.5".into(),
        currency: USD.into(),
        expiration_ms: packet_expiry,
        terms: terms_for(&transaction, Version::V4, packet_expiry),
    };
    env.request_quote("q1", "100.5", USD).await;
    env.answer_quote(&agreed).await;
    let mut command = env.prepare_cmd("t-late", &agreed);
    command.expiration_ms = packet_expiry + 1;
    env.refused(command, "expiration").await;
    let mut command = env.prepare_cmd("t-ok", &agreed);
    command.expiration_ms = packet_expiry;
    env.reserved(command).await;
}

#[tokio::test]
async fn transfer_expiring_after_the_v1_transaction_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    let mut command = env.prepare_cmd("t-late", &agreed);
    command.expiration_ms = agreed.expiration_ms + 1;
    env.refused(command, "expiration").await;
}

#[tokio::test]
async fn prepare_after_the_quote_expired_is_refused() {
    for (quote_id, version) in [("q-v1", Version::V1), ("q-v4", Version::V4)] {
        let env = Env::strict().await;
        let agreed = env.agree(quote_id, "100.5", USD, version).await;
        // The payer waits past the quote's expiry, then asks for a fresh 30 s.
        env.clock.set(instant(agreed.expiration_ms + 1));
        let command = env.prepare_cmd(&format!("t-{quote_id}"), &agreed);
        env.refused(command, "expiration").await;
    }
}

// --------------------------------------------------------------------------------------------
// The quote the hub forwarded

#[tokio::test]
async fn quote_unknown_to_the_hub_is_refused() {
    let env = Env::strict().await;
    // Well-formed SDK terms for a quote that never went through this hub.
    let agreed = env.terms("q-elsewhere", "100.5", USD, Version::V1);
    let error = env
        .refused(env.prepare_cmd("t-unknown", &agreed), "quote")
        .await;
    assert!(error.description.contains("q-elsewhere"), "{error:?}");
    // Same with ILPv4.
    let agreed = env.terms("q-elsewhere-4", "100.5", USD, Version::V4);
    env.refused(env.prepare_cmd("t-unknown-4", &agreed), "quote")
        .await;
}

#[tokio::test]
async fn quote_not_yet_answered_is_refused() {
    let env = Env::strict().await;
    let agreed = env.terms("q-pending", "100.5", USD, Version::V1);
    env.request_quote("q-pending", "100.5", USD).await;
    let error = env
        .refused(env.prepare_cmd("t-pending", &agreed), "quote")
        .await;
    assert!(error.description.contains("not been answered"), "{error:?}");
}

#[tokio::test]
async fn payer_other_than_the_quote_payer_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    let other_before = env.position(OTHER, USD).await;
    let mut command = env.prepare_cmd("t-payer", &agreed);
    command.payer = OTHER.into();
    env.refused(command, "payerFsp").await;
    assert_eq!(env.position(OTHER, USD).await, other_before);
}

#[tokio::test]
async fn payee_other_than_the_quote_payee_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V4).await;
    let mut command = env.prepare_cmd("t-payee", &agreed);
    command.payee = OTHER.into();
    env.refused(command, "payeeFsp").await;
}

#[tokio::test]
async fn condition_other_than_the_quote_condition_is_refused() {
    let env = Env::strict().await;
    // ILPv1 packets do not carry the condition, so only the quote can catch a swapped one.
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    let mut command = env.prepare_cmd("t-cond", &agreed);
    command.condition = ilp::Fulfilment::from_bytes([7; 32])
        .condition()
        .to_base64url();
    let error = env.refused(command, "condition").await;
    assert!(error.description.contains("quote q1"), "{error:?}");
}

#[tokio::test]
async fn ilp_packet_other_than_the_quote_packet_is_refused() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    // A different, valid packet for the same quote and amount (another payee account), sent
    // with the condition the payee agreed to.
    let expiration_ms = agreed.expiration_ms;
    let swapped = transaction("q1", "100.5", USD, expiration_ms, "27700000000");
    let swapped = terms_for(&swapped, Version::V1, expiration_ms);
    assert_ne!(swapped.ilp_packet, agreed.terms.ilp_packet);
    let mut command = env.prepare_cmd("t-packet", &agreed);
    command.ilp_packet = swapped.ilp_packet;
    let error = env.refused(command, "ilpPacket").await;
    assert!(error.description.contains("quote q1"), "{error:?}");
}

#[tokio::test]
async fn refused_prepare_can_not_be_retried_under_the_same_id() {
    let env = Env::strict().await;
    let agreed = env.agree("q1", "100.5", USD, Version::V1).await;
    let mut command = env.prepare_cmd("t1", &agreed);
    command.amount = amount("100.4");
    env.refused(command, "amount").await;
    // The corrected prepare under the same id is a modified duplicate, never a reservation.
    let mut corrected = env.prepare_cmd("t1", &agreed);
    corrected.hash = "prepare-t1-corrected".into();
    match env.prepare(corrected).await {
        PrepareOutcome::Duplicate(ledger::engine::Duplicate::Modified(error)) => {
            assert_eq!(error.code.value(), 3106)
        }
        other => panic!("expected 3106, got {other:?}"),
    }
    assert_eq!(env.position(PAYER, USD).await.reserved, Decimal::ZERO);
}

// --------------------------------------------------------------------------------------------
// The reference behaviour

#[tokio::test]
async fn condition_only_policy_accepts_a_non_matching_packet() {
    let env = Env::condition_only().await;
    // No quote at all, a packet that does not decode, any well-formed condition.
    let condition = ilp::Fulfilment::from_bytes([1; 32])
        .condition()
        .to_base64url();
    let garbage = PrepareCommand {
        id: "t-garbage".into(),
        payer: PAYER.into(),
        payee: PAYEE.into(),
        amount: amount("100.5"),
        currency: USD.into(),
        condition,
        ilp_packet: "not-an-ilp-packet".into(),
        expiration_ms: env.now() + TRANSFER_TTL_MS,
        hash: "prepare-t-garbage".into(),
    };
    env.reserved(garbage).await;
    // A real packet for another amount than the transfer's.
    let agreed = env.agree("q1", "100.4", USD, Version::V1).await;
    let mut command = env.prepare_cmd("t-amount", &agreed);
    command.amount = amount("100.5");
    env.reserved(command).await;
    assert_eq!(env.position(PAYER, USD).await.reserved, dec("201"));
}

// --------------------------------------------------------------------------------------------
// Fulfil after a strict prepare

#[tokio::test]
async fn fulfilment_from_the_terms_commits_and_is_stored() {
    for (quote_id, version) in [("q-v1", Version::V1), ("q-v4", Version::V4)] {
        let env = Env::strict().await;
        let agreed = env.agree(quote_id, "100.5", USD, version).await;
        env.reserved(env.prepare_cmd("t1", &agreed)).await;
        let transfer = match env.fulfil("t1", &agreed.terms.fulfilment).await {
            FulfilOutcome::Committed(transfer, FulfilMode::Commit) => transfer,
            other => panic!("{version:?}: expected a commit, got {other:?}"),
        };
        assert_eq!(transfer.state, TransferState::Committed);
        let stored = env.transfer("t1").await;
        assert_eq!(stored.state, TransferState::Committed);
        assert_eq!(
            stored.fulfilment.as_deref(),
            Some(agreed.terms.fulfilment.as_str()),
            "{version:?}: the fulfilment is kept as proof of the payee's acceptance"
        );
        let payer = env.position(PAYER, USD).await;
        assert_eq!((payer.value, payer.reserved), (dec("100.5"), Decimal::ZERO));
        assert_eq!(env.position(PAYEE, USD).await.value, dec("-100.5"));
    }
}

#[tokio::test]
async fn fulfilment_from_different_terms_aborts() {
    for (quote_id, version) in [("q-v1", Version::V1), ("q-v4", Version::V4)] {
        let env = Env::strict().await;
        let agreed = env.agree(quote_id, "100.5", USD, version).await;
        env.reserved(env.prepare_cmd("t1", &agreed)).await;
        // The payee's fulfilment for another transaction (other version of the same quote).
        let other_version = match version {
            Version::V1 => Version::V4,
            Version::V4 => Version::V1,
        };
        let other = env.terms(quote_id, "100.5", USD, other_version);
        assert_ne!(other.terms.fulfilment, agreed.terms.fulfilment);
        let (transfer, error) = match env.fulfil("t1", &other.terms.fulfilment).await {
            FulfilOutcome::Aborted(transfer, error, FulfilMode::Commit) => (transfer, error),
            other => panic!("{version:?}: expected an abort, got {other:?}"),
        };
        assert_eq!(error.code.value(), 3100);
        assert_eq!(transfer.state, TransferState::AbortedRejected);
        let stored = env.transfer("t1").await;
        assert_eq!(stored.state, TransferState::AbortedRejected);
        assert_eq!(stored.fulfilment, None);
        let payer = env.position(PAYER, USD).await;
        assert_eq!(
            (payer.value, payer.reserved),
            (Decimal::ZERO, Decimal::ZERO)
        );
        assert_eq!(env.position(PAYEE, USD).await.value, Decimal::ZERO);
    }
}
