//! All or nothing under races.
//!
//! The hub's single writer packs whatever arrived together into one transaction, so the races
//! that matter are competing commands for the same transfer inside ONE transaction, in either
//! order, at a clock chosen to the millisecond (a `ManualClock`). After every race the tests
//! check that exactly one command decided the transfer, that the money moved is exactly what
//! that single final state implies (nothing left reserved, nothing moved twice), and that every
//! outcome the hub turns into a callback reports that same final state.
//!
//! Transfers are prepared the way the hub runs by default (strict terms check): the payee's
//! quote answer carries SDK ILPv1 terms and the payer repeats them unchanged.

use std::str::FromStr;
use std::sync::Arc;

use fspiop::{Amount, FspiopDateTime};
use ledger::engine::{
    AbortCommand, AbortOutcome, Duplicate, FulfilCommand, FulfilMode, FulfilOutcome, FundsAction,
    Ledger, PrepareCommand, PrepareOutcome, QuoteOutcome, QuoteRequestCommand,
    QuoteResponseCommand,
};
use ledger::mem::MemStore;
use ledger::{AccountType, LedgerStore, LedgerTx, ManualClock, Transfer, TransferState};
use rust_decimal::Decimal;
use serde_json::json;
use time::OffsetDateTime;

const USD: &str = "USD";
const PAYER: &str = "payerfsp";
const PAYEE: &str = "payeefsp";
const OPERATOR: &str = "ops";
const SECRET: &[u8] = b"payee-ilp-secret";
const AMOUNT: &str = "100.5";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal literal")
}

fn amount(text: &str) -> Amount {
    Amount::parse(text).expect("FSPIOP amount literal")
}

fn instant(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).expect("instant")
}

/// A well-formed fulfilment that is not the payee's.
fn wrong_fulfilment() -> String {
    ilp::Fulfilment::from_bytes([9; 32]).to_base64url()
}

/// A transfer reserved from `PAYER` to `PAYEE` on agreed terms.
#[derive(Clone, Debug)]
struct Prepared {
    id: String,
    amount: Decimal,
    expiration_ms: i64,
    /// The payee's fulfilment for the agreed terms.
    fulfilment: String,
}

struct Env {
    store: MemStore,
    clock: Arc<ManualClock>,
    ledger: Ledger,
}

impl Env {
    async fn new() -> Env {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("start time");
        let clock = Arc::new(ManualClock::new(start));
        let env = Env {
            store: MemStore::new(),
            ledger: Ledger::new(clock.clone()),
            clock,
        };
        let mut tx = env.begin().await;
        for name in [PAYER, PAYEE] {
            env.ledger
                .create_participant(&mut *tx, OPERATOR, name, USD)
                .await
                .unwrap()
                .expect("participant");
            env.ledger
                .initial_position_and_limits(
                    &mut *tx,
                    OPERATOR,
                    name,
                    USD,
                    amount("1000"),
                    Decimal::ZERO,
                )
                .await
                .unwrap()
                .expect("limits");
            let settlement = tx
                .account_for(name, USD, AccountType::Settlement)
                .await
                .unwrap()
                .expect("settlement account");
            env.ledger
                .funds(
                    &mut *tx,
                    OPERATOR,
                    name,
                    settlement.id,
                    &format!("fund-{name}"),
                    FundsAction::In,
                    amount("2000"),
                    USD,
                    "deposit",
                    "ref",
                )
                .await
                .unwrap()
                .expect("funds in");
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

    fn set_clock(&self, ms: i64) {
        self.clock.set(instant(ms));
    }

    /// Quote request, quote answer with ILPv1 terms, prepare: the transfer is reserved and
    /// expires 30 s from now (the quote 60 s from now).
    async fn prepared(&self, id: &str) -> Prepared {
        let quote_id = format!("q-{id}");
        let quote_expiration_ms = self.now() + 60_000;
        let transaction = json!({
            "quoteId": quote_id,
            "transactionId": format!("{quote_id}-tx"),
            "transactionType": {"scenario": "TRANSFER", "initiator": "PAYER", "initiatorType": "CONSUMER"},
            "payee": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "27713803912", "fspId": PAYEE}},
            "payer": {"partyIdInfo": {"partyIdType": "MSISDN", "partyIdentifier": "44123456789", "fspId": PAYER}},
            "expiration": FspiopDateTime::from_unix_millis(quote_expiration_ms).expect("datetime").to_string(),
            "amount": {"amount": AMOUNT, "currency": USD}
        });
        let terms = ilp::v1_terms(&transaction, SECRET).expect("v1 terms");
        let mut tx = self.begin().await;
        let requested = self
            .ledger
            .quote_request(
                &mut *tx,
                QuoteRequestCommand {
                    id: quote_id.clone(),
                    transaction_id: format!("{quote_id}-tx"),
                    payer: PAYER.into(),
                    payee: PAYEE.into(),
                    amount: amount(AMOUNT),
                    currency: USD.into(),
                    hash: format!("quote-request-{quote_id}"),
                },
            )
            .await
            .unwrap();
        assert_eq!(requested, QuoteOutcome::Forward);
        let answered = self
            .ledger
            .quote_response(
                &mut *tx,
                QuoteResponseCommand {
                    id: quote_id.clone(),
                    source: PAYEE.into(),
                    destination: PAYER.into(),
                    transfer_amount: amount(AMOUNT),
                    currency: USD.into(),
                    condition: terms.condition.clone(),
                    ilp_packet: terms.ilp_packet.clone(),
                    expiration_ms: quote_expiration_ms,
                    hash: format!("quote-response-{quote_id}"),
                },
            )
            .await
            .unwrap();
        assert_eq!(answered, QuoteOutcome::Forward);
        let expiration_ms = self.now() + 30_000;
        let prepared = self
            .ledger
            .prepare(
                &mut *tx,
                PrepareCommand {
                    id: id.into(),
                    payer: PAYER.into(),
                    payee: PAYEE.into(),
                    amount: amount(AMOUNT),
                    currency: USD.into(),
                    condition: terms.condition.clone(),
                    ilp_packet: terms.ilp_packet.clone(),
                    expiration_ms,
                    hash: format!("prepare-{id}"),
                },
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert!(
            matches!(prepared, PrepareOutcome::Reserved(_)),
            "{prepared:?}"
        );
        let payer = self.position(PAYER).await;
        assert_eq!((payer.value, payer.reserved), (Decimal::ZERO, dec(AMOUNT)));
        Prepared {
            id: id.into(),
            amount: dec(AMOUNT),
            expiration_ms,
            fulfilment: terms.fulfilment,
        }
    }

    /// A fulfil from the payee; the body hash depends only on the fulfilment, so two fulfils
    /// with the same fulfilment are identical messages.
    fn fulfil_cmd(&self, prepared: &Prepared, fulfilment: &str) -> FulfilCommand {
        FulfilCommand {
            id: prepared.id.clone(),
            source: PAYEE.into(),
            destination: Some(PAYER.into()),
            mode: FulfilMode::Commit,
            fulfilment: Some(fulfilment.into()),
            hash: format!("fulfil-{fulfilment}"),
        }
    }

    fn right_fulfil(&self, prepared: &Prepared) -> FulfilCommand {
        self.fulfil_cmd(prepared, &prepared.fulfilment)
    }

    fn abort_cmd(&self, prepared: &Prepared) -> AbortCommand {
        AbortCommand {
            id: prepared.id.clone(),
            source: PAYEE.into(),
            error_code: "5104".into(),
            error_description: "Payee rejected transaction".into(),
            hash: format!("abort-{}", prepared.id),
        }
    }

    async fn position(&self, name: &str) -> ledger::Account {
        self.read()
            .await
            .account_for(name, USD, AccountType::Position)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{name} has no position"))
    }

    async fn transfer(&self, id: &str) -> Transfer {
        self.read()
            .await
            .transfer(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("transfer {id} was not stored"))
    }

    /// After a race: the committed transfer is in `state`, and the money is exactly what that
    /// state implies. Returns the stored transfer.
    async fn assert_settled(&self, prepared: &Prepared, state: TransferState) -> Transfer {
        let stored = self.transfer(&prepared.id).await;
        assert_eq!(stored.state, state, "final state of {}", prepared.id);
        let payer = self.position(PAYER).await;
        let payee = self.position(PAYEE).await;
        assert_eq!(payer.reserved, Decimal::ZERO, "nothing stays reserved");
        assert_eq!(payee.reserved, Decimal::ZERO);
        let moved = if state == TransferState::Committed {
            prepared.amount
        } else {
            Decimal::ZERO
        };
        assert_eq!(
            payer.value + payer.reserved,
            moved,
            "payer position for {state:?}"
        );
        assert_eq!(payee.value, -moved, "payee position for {state:?}");
        // Settlement accounts and the hub's accounts never move on a transfer.
        for account in self.read().await.accounts_in_currency(USD).await.unwrap() {
            match account.kind {
                AccountType::Settlement => assert_eq!(account.value, dec("-2000")),
                AccountType::HubReconciliation => assert_eq!(account.value, dec("4000")),
                _ => {}
            }
            assert_eq!(account.reserved, Decimal::ZERO);
        }
        match state {
            TransferState::Committed => {
                assert_eq!(stored.fulfilment.as_deref(), Some(&*prepared.fulfilment));
                assert_eq!(stored.error_code, None);
            }
            _ => {
                assert_eq!(
                    stored.fulfilment, None,
                    "an aborted transfer keeps no fulfilment"
                );
                assert!(stored.error_code.is_some());
            }
        }
        assert!(stored.completed_at_ms.is_some());
        stored
    }

    /// Runs a late expiry timer in its own transaction: it must find nothing to do.
    async fn late_timer_does_nothing(&self, prepared: &Prepared) {
        let mut tx = self.begin().await;
        let expired = self.ledger.expire(&mut *tx, &prepared.id).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(expired, None, "the transfer was already final");
    }
}

fn code(error: &fspiop::FspiopError) -> u16 {
    error.code.value()
}

// --------------------------------------------------------------------------------------------
// (a) The expiry instant

#[tokio::test]
async fn fulfil_at_the_expiry_instant_aborts_with_3303() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms);
    let mut tx = env.begin().await;
    let outcome = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let told = match outcome {
        FulfilOutcome::Aborted(transfer, error, FulfilMode::Commit) => {
            assert_eq!(code(&error), 3303, "{error:?}");
            transfer
        }
        other => panic!("expected an abort at the expiry instant, got {other:?}"),
    };
    let stored = env.assert_settled(&t, TransferState::ExpiredReserved).await;
    assert_eq!(told.state, stored.state);
    assert_eq!(stored.error_code.as_deref(), Some("3303"));
    env.late_timer_does_nothing(&t).await;
    env.assert_settled(&t, TransferState::ExpiredReserved).await;
}

#[tokio::test]
async fn fulfil_one_millisecond_before_expiry_commits() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms - 1);
    let mut tx = env.begin().await;
    let outcome = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let told = match outcome {
        FulfilOutcome::Committed(transfer, FulfilMode::Commit) => transfer,
        other => panic!("expected a commit 1 ms before expiry, got {other:?}"),
    };
    let stored = env.assert_settled(&t, TransferState::Committed).await;
    assert_eq!(told, stored, "the outcome is what was committed");
    env.set_clock(t.expiration_ms);
    env.late_timer_does_nothing(&t).await;
    env.assert_settled(&t, TransferState::Committed).await;
}

#[tokio::test]
async fn expiry_timer_one_millisecond_early_does_nothing() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms - 1);
    let mut tx = env.begin().await;
    assert_eq!(env.ledger.expire(&mut *tx, &t.id).await.unwrap(), None);
    tx.commit().await.unwrap();
    assert_eq!(env.transfer(&t.id).await.state, TransferState::Reserved);
    assert_eq!(env.position(PAYER).await.reserved, t.amount);
}

// --------------------------------------------------------------------------------------------
// (b) Fulfil against the expiry timer, one batch

#[tokio::test]
async fn fulfil_then_expire_in_one_batch_commits() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms - 1);
    let mut tx = env.begin().await;
    let fulfilled = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    // The deadline passes while the batch is still being written; the timer fires in it.
    env.set_clock(t.expiration_ms);
    let expired = env.ledger.expire(&mut *tx, &t.id).await.unwrap();
    tx.commit().await.unwrap();
    let told = match fulfilled {
        FulfilOutcome::Committed(transfer, _) => transfer,
        other => panic!("expected a commit, got {other:?}"),
    };
    assert_eq!(expired, None, "the timer must not undo a commit");
    let stored = env.assert_settled(&t, TransferState::Committed).await;
    assert_eq!(told.state, stored.state);
}

#[tokio::test]
async fn expire_then_fulfil_in_one_batch_aborts() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms);
    let mut tx = env.begin().await;
    let expired = env.ledger.expire(&mut *tx, &t.id).await.unwrap();
    let fulfilled = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let told = expired.expect("the timer aborts the transfer");
    assert_eq!(told.state, TransferState::ExpiredReserved);
    assert_eq!(told.error_code.as_deref(), Some("3303"));
    match fulfilled {
        // Refused: only the payee hears of it, and the transfer is untouched.
        FulfilOutcome::Refused(error) => assert!(
            error.description.contains("ABORTED"),
            "the refusal tells the payee the transfer is ABORTED: {error:?}"
        ),
        FulfilOutcome::Aborted(transfer, _, _) => {
            assert_eq!(transfer.state, TransferState::ExpiredReserved)
        }
        other => panic!("the late fulfil must not succeed: {other:?}"),
    }
    let stored = env.assert_settled(&t, TransferState::ExpiredReserved).await;
    assert_eq!(told, stored, "the expiry outcome is what was committed");
}

#[tokio::test]
async fn fulfil_past_expiry_then_timer_in_one_batch_aborts_once() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms + 5);
    let mut tx = env.begin().await;
    let fulfilled = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    let expired = env.ledger.expire(&mut *tx, &t.id).await.unwrap();
    tx.commit().await.unwrap();
    let told = match fulfilled {
        FulfilOutcome::Aborted(transfer, error, _) => {
            assert_eq!(code(&error), 3303);
            transfer
        }
        other => panic!("expected an abort, got {other:?}"),
    };
    assert_eq!(expired, None, "released once, not twice");
    let stored = env.assert_settled(&t, TransferState::ExpiredReserved).await;
    assert_eq!(told, stored);
}

#[tokio::test]
async fn two_expiry_timers_in_one_batch_release_once() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms);
    let mut tx = env.begin().await;
    let first = env.ledger.expire(&mut *tx, &t.id).await.unwrap();
    let second = env.ledger.expire(&mut *tx, &t.id).await.unwrap();
    tx.commit().await.unwrap();
    assert!(first.is_some());
    assert_eq!(second, None);
    env.assert_settled(&t, TransferState::ExpiredReserved).await;
}

// --------------------------------------------------------------------------------------------
// (c) Two fulfils, one batch

#[tokio::test]
async fn identical_fulfils_in_one_batch_commit_once_then_resend() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    let mut tx = env.begin().await;
    let first = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    let second = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let committed = match first {
        FulfilOutcome::Committed(transfer, _) => transfer,
        other => panic!("expected a commit, got {other:?}"),
    };
    let resent = match second {
        FulfilOutcome::Duplicate(Duplicate::Resend(transfer)) => *transfer,
        other => panic!("expected a resend of the final state, got {other:?}"),
    };
    let stored = env.assert_settled(&t, TransferState::Committed).await;
    assert_eq!(committed, stored);
    assert_eq!(resent, stored, "the resend reports the same final state");
}

#[tokio::test]
async fn right_then_wrong_fulfil_in_one_batch_commits_then_3106() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    let mut tx = env.begin().await;
    let first = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    let wrong = env.fulfil_cmd(&t, &wrong_fulfilment());
    let second = env.ledger.fulfil(&mut *tx, wrong).await.unwrap();
    tx.commit().await.unwrap();
    let committed = match first {
        FulfilOutcome::Committed(transfer, _) => transfer,
        other => panic!("expected a commit, got {other:?}"),
    };
    match second {
        FulfilOutcome::Duplicate(Duplicate::Modified(error)) => assert_eq!(code(&error), 3106),
        other => panic!("expected 3106, got {other:?}"),
    }
    let stored = env.assert_settled(&t, TransferState::Committed).await;
    assert_eq!(committed, stored);
}

#[tokio::test]
async fn wrong_then_right_fulfil_in_one_batch_aborts_then_3106() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    let mut tx = env.begin().await;
    let wrong = env.fulfil_cmd(&t, &wrong_fulfilment());
    let first = env.ledger.fulfil(&mut *tx, wrong).await.unwrap();
    let second = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let aborted = match first {
        FulfilOutcome::Aborted(transfer, error, _) => {
            assert_eq!(code(&error), 3100);
            transfer
        }
        other => panic!("expected an abort, got {other:?}"),
    };
    match second {
        FulfilOutcome::Duplicate(Duplicate::Modified(error)) => assert_eq!(code(&error), 3106),
        other => panic!("the right fulfil must not revive an aborted transfer: {other:?}"),
    }
    let stored = env.assert_settled(&t, TransferState::AbortedRejected).await;
    assert_eq!(aborted, stored);
}

#[tokio::test]
async fn identical_fulfils_at_the_expiry_instant_abort_once_then_resend() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    env.set_clock(t.expiration_ms);
    let mut tx = env.begin().await;
    let first = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    let second = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let aborted = match first {
        FulfilOutcome::Aborted(transfer, error, _) => {
            assert_eq!(code(&error), 3303);
            transfer
        }
        other => panic!("expected an abort, got {other:?}"),
    };
    let resent = match second {
        FulfilOutcome::Duplicate(Duplicate::Resend(transfer)) => *transfer,
        other => panic!("expected a resend, got {other:?}"),
    };
    let stored = env.assert_settled(&t, TransferState::ExpiredReserved).await;
    assert_eq!(aborted, stored);
    assert_eq!(resent, stored);
}

// --------------------------------------------------------------------------------------------
// (d) Fulfil against the payee's own abort, one batch

#[tokio::test]
async fn fulfil_then_payee_abort_in_one_batch_commits() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    let mut tx = env.begin().await;
    let fulfilled = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    let aborted = env.ledger.abort(&mut *tx, env.abort_cmd(&t)).await.unwrap();
    tx.commit().await.unwrap();
    let committed = match fulfilled {
        FulfilOutcome::Committed(transfer, _) => transfer,
        other => panic!("expected a commit, got {other:?}"),
    };
    match aborted {
        AbortOutcome::Refused(error) => assert!(
            error.description.contains("COMMITTED"),
            "the refusal tells the payee the transfer is COMMITTED: {error:?}"
        ),
        other => panic!("the abort must lose to the earlier fulfil: {other:?}"),
    }
    let stored = env.assert_settled(&t, TransferState::Committed).await;
    assert_eq!(committed, stored);
}

#[tokio::test]
async fn payee_abort_then_fulfil_in_one_batch_aborts() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    let mut tx = env.begin().await;
    let aborted = env.ledger.abort(&mut *tx, env.abort_cmd(&t)).await.unwrap();
    let fulfilled = env
        .ledger
        .fulfil(&mut *tx, env.right_fulfil(&t))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let told = match aborted {
        AbortOutcome::Aborted(transfer) => transfer,
        other => panic!("expected the abort to apply, got {other:?}"),
    };
    match fulfilled {
        FulfilOutcome::Refused(error) => assert!(
            error.description.contains("ABORTED"),
            "the refusal tells the payee the transfer is ABORTED: {error:?}"
        ),
        other => panic!("the fulfil must lose to the earlier abort: {other:?}"),
    }
    let stored = env.assert_settled(&t, TransferState::AbortedError).await;
    assert_eq!(told, stored);
    assert_eq!(stored.error_code.as_deref(), Some("5104"));
}

#[tokio::test]
async fn identical_payee_aborts_in_one_batch_abort_once_then_resend() {
    let env = Env::new().await;
    let t = env.prepared("t1").await;
    let mut tx = env.begin().await;
    let first = env.ledger.abort(&mut *tx, env.abort_cmd(&t)).await.unwrap();
    let second = env.ledger.abort(&mut *tx, env.abort_cmd(&t)).await.unwrap();
    let mut changed = env.abort_cmd(&t);
    changed.error_code = "5105".into();
    changed.hash = "abort-t1-changed".into();
    let third = env.ledger.abort(&mut *tx, changed).await.unwrap();
    tx.commit().await.unwrap();
    let told = match first {
        AbortOutcome::Aborted(transfer) => transfer,
        other => panic!("expected the abort to apply, got {other:?}"),
    };
    let resent = match second {
        AbortOutcome::Duplicate(Duplicate::Resend(transfer)) => *transfer,
        other => panic!("expected a resend of the final state, got {other:?}"),
    };
    match third {
        AbortOutcome::Duplicate(Duplicate::Modified(error)) => assert_eq!(code(&error), 3106),
        other => panic!("expected 3106, got {other:?}"),
    }
    let stored = env.assert_settled(&t, TransferState::AbortedError).await;
    assert_eq!(told, stored);
    assert_eq!(resent, stored);
}

// --------------------------------------------------------------------------------------------
// (e) Every order of fulfil, payee abort and expiry timer in one batch

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Fulfil,
    Abort,
    Expire,
}

/// What one step reported: the final state it decided, if it decided one.
async fn run_step(env: &Env, tx: &mut dyn LedgerTx, t: &Prepared, step: Step) -> Option<Transfer> {
    match step {
        Step::Fulfil => match env.ledger.fulfil(tx, env.right_fulfil(t)).await.unwrap() {
            FulfilOutcome::Committed(transfer, _) | FulfilOutcome::Aborted(transfer, _, _) => {
                Some(transfer)
            }
            FulfilOutcome::Refused(_) => None,
            FulfilOutcome::Duplicate(duplicate) => panic!("no earlier fulfil: {duplicate:?}"),
        },
        Step::Abort => match env.ledger.abort(tx, env.abort_cmd(t)).await.unwrap() {
            AbortOutcome::Aborted(transfer) => Some(transfer),
            AbortOutcome::Refused(_) => None,
            AbortOutcome::Duplicate(duplicate) => panic!("no earlier abort: {duplicate:?}"),
        },
        Step::Expire => env.ledger.expire(tx, &t.id).await.unwrap(),
    }
}

#[tokio::test]
async fn every_order_of_fulfil_abort_and_expiry_has_exactly_one_winner() {
    use Step::*;
    let orders = [
        [Fulfil, Abort, Expire],
        [Fulfil, Expire, Abort],
        [Abort, Fulfil, Expire],
        [Abort, Expire, Fulfil],
        [Expire, Fulfil, Abort],
        [Expire, Abort, Fulfil],
    ];
    for order in orders {
        for offset in [-1, 0] {
            let env = Env::new().await;
            let t = env.prepared("t1").await;
            env.set_clock(t.expiration_ms + offset);
            let expired = offset >= 0;
            let mut tx = env.begin().await;
            let mut winners = Vec::new();
            for step in order {
                if let Some(transfer) = run_step(&env, &mut *tx, &t, step).await {
                    winners.push((step, transfer));
                }
            }
            tx.commit().await.unwrap();
            let [(winner, told)] = <[_; 1]>::try_from(winners).unwrap_or_else(|all: Vec<_>| {
                panic!("{order:?} at expiry{offset:+}: expected one winner, got {all:?}")
            });
            // The first step that may still act wins: before the deadline the timer never
            // acts; at the deadline a fulfil aborts as expired.
            let first = order
                .into_iter()
                .find(|step| expired || *step != Expire)
                .expect("a step that can act");
            assert_eq!(winner, first, "{order:?} at expiry{offset:+}");
            let expected = match (first, expired) {
                (Fulfil, false) => TransferState::Committed,
                (Fulfil, true) | (Expire, _) => TransferState::ExpiredReserved,
                (Abort, _) => TransferState::AbortedError,
            };
            let stored = env.assert_settled(&t, expected).await;
            assert_eq!(told, stored, "{order:?} at expiry{offset:+}");
        }
    }
}
