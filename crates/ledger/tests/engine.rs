//! The ledger's rules, one test per rule, run through the in-memory store.
//!
//! Every test runs each command in its own write transaction, commits it, and checks the result
//! through a fresh read transaction, so what is asserted is what was committed.

use std::str::FromStr;
use std::sync::Arc;

use fspiop::{Amount, ErrorCode, FspiopError};
use ledger::engine::{
    AbortCommand, AbortOutcome, Duplicate, FulfilCommand, FulfilMode, FulfilOutcome, FundsAction,
    Ledger, PrepareCommand, PrepareOutcome, QuoteOutcome, QuoteRequestCommand,
    QuoteResponseCommand,
};
use ledger::mem::MemStore;
use ledger::{
    Account, AccountType, AuditEntry, Endpoint, FundsTransfer, HUB_PARTICIPANT, JwsKey,
    LedgerStore, LedgerTx, Limit, ManualClock, ParticipantTls, PartyRegistration, Transfer,
    TransferState,
};
use rust_decimal::Decimal;
use time::OffsetDateTime;

const USD: &str = "USD";
const EUR: &str = "EUR";
const PAYER: &str = "payerfsp";
const PAYEE: &str = "payeefsp";
const OTHER: &str = "otherfsp";
const OPERATOR: &str = "ops";

fn dec(text: &str) -> Decimal {
    Decimal::from_str(text).expect("decimal literal")
}

fn amount(text: &str) -> Amount {
    Amount::parse_lenient(text).expect("amount literal")
}

/// A valid (fulfilment, condition) pair, both base64url.
fn ilp_pair(seed: u8) -> (String, String) {
    let fulfilment = ilp::Fulfilment::from_bytes([seed; 32]);
    (
        fulfilment.to_base64url(),
        fulfilment.condition().to_base64url(),
    )
}

fn code(error: &FspiopError) -> u16 {
    error.code.value()
}

/// One in-memory ledger with a stopped clock.
struct Env {
    store: MemStore,
    clock: Arc<ManualClock>,
    ledger: Ledger,
}

impl Env {
    fn empty() -> Env {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("start time");
        let clock = Arc::new(ManualClock::new(start));
        let ledger = Ledger::new(clock.clone()).with_ilp_policy(ledger::IlpPolicy::ConditionOnly);
        Env {
            store: MemStore::new(),
            clock,
            ledger,
        }
    }

    /// Hub accounts, then payer, payee and a third participant in USD, each with a net debit
    /// cap of `cap` (initial position 0) and `funds` deposited.
    async fn with(cap: &str, funds: &str) -> Env {
        let env = Env::empty();
        let mut tx = env.begin().await;
        for kind in [
            AccountType::HubReconciliation,
            AccountType::HubMultilateralSettlement,
        ] {
            env.ledger
                .create_hub_account(&mut *tx, OPERATOR, USD, kind)
                .await
                .unwrap()
                .expect("hub account");
        }
        for name in [PAYER, PAYEE, OTHER] {
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
                    amount(cap),
                    Decimal::ZERO,
                )
                .await
                .unwrap()
                .expect("initial position and limits");
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
                    amount(funds),
                    USD,
                    "initial deposit",
                    "ref",
                )
                .await
                .unwrap()
                .expect("funds in");
        }
        tx.commit().await.unwrap();
        env
    }

    /// Cap 1000, 2000 deposited: the cap binds before the liquidity.
    async fn standard() -> Env {
        Env::with("1000", "2000").await
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

    fn advance_ms(&self, ms: i64) {
        self.clock.advance(time::Duration::milliseconds(ms));
    }

    /// A prepare from `payer` to `payee` expiring in 60 s with the condition of `ilp_pair(1)`.
    fn prepare_cmd(&self, id: &str, payer: &str, payee: &str, value: &str) -> PrepareCommand {
        PrepareCommand {
            id: id.into(),
            payer: payer.into(),
            payee: payee.into(),
            amount: amount(value),
            currency: USD.into(),
            condition: ilp_pair(1).1,
            ilp_packet: format!("ilp-packet-{id}"),
            expiration_ms: self.now() + 60_000,
            hash: format!("prepare-{id}"),
        }
    }

    fn fulfil_cmd(&self, id: &str, source: &str, fulfilment: Option<String>) -> FulfilCommand {
        FulfilCommand {
            id: id.into(),
            source: source.into(),
            destination: Some(PAYER.into()),
            mode: FulfilMode::Commit,
            fulfilment,
            hash: format!("fulfil-{id}"),
        }
    }

    fn right_fulfil(&self, id: &str) -> FulfilCommand {
        self.fulfil_cmd(id, PAYEE, Some(ilp_pair(1).0))
    }

    fn abort_cmd(&self, id: &str, source: &str) -> AbortCommand {
        AbortCommand {
            id: id.into(),
            source: source.into(),
            error_code: "5104".into(),
            error_description: "Payee rejected transaction".into(),
            hash: format!("abort-{id}"),
        }
    }

    async fn prepare(&self, command: PrepareCommand) -> PrepareOutcome {
        let mut tx = self.begin().await;
        let outcome = self.ledger.prepare(&mut *tx, command).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    /// Prepares and expects a reservation.
    async fn reserve(&self, id: &str, value: &str) -> Transfer {
        match self
            .prepare(self.prepare_cmd(id, PAYER, PAYEE, value))
            .await
        {
            PrepareOutcome::Reserved(transfer) => transfer,
            other => panic!("expected a reservation, got {other:?}"),
        }
    }

    /// Prepares and expects a rejection; checks the INVALID transfer was stored.
    async fn rejected(&self, command: PrepareCommand) -> FspiopError {
        let id = command.id.clone();
        let error = match self.prepare(command).await {
            PrepareOutcome::Rejected(transfer, error) => {
                assert_eq!(transfer.state, TransferState::Invalid);
                error
            }
            other => panic!("expected a rejection, got {other:?}"),
        };
        let stored = self.transfer(&id).await;
        assert_eq!(stored.state, TransferState::Invalid);
        assert_eq!(stored.error_code.as_deref(), Some(&*error.code.to_string()));
        error
    }

    async fn fulfil(&self, command: FulfilCommand) -> FulfilOutcome {
        let mut tx = self.begin().await;
        let outcome = self.ledger.fulfil(&mut *tx, command).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn abort(&self, command: AbortCommand) -> AbortOutcome {
        let mut tx = self.begin().await;
        let outcome = self.ledger.abort(&mut *tx, command).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn expire(&self, id: &str) -> Option<Transfer> {
        let mut tx = self.begin().await;
        let outcome = self.ledger.expire(&mut *tx, id).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn funds(
        &self,
        name: &str,
        id: &str,
        action: FundsAction,
        value: &str,
    ) -> Result<FundsTransfer, FspiopError> {
        let account_id = self.account(name, AccountType::Settlement).await.id;
        let mut tx = self.begin().await;
        let outcome = self
            .ledger
            .funds(
                &mut *tx,
                OPERATOR,
                name,
                account_id,
                id,
                action,
                amount(value),
                USD,
                "test",
                "ext-ref",
            )
            .await
            .unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn settle_funds_out(
        &self,
        name: &str,
        id: &str,
        commit: bool,
    ) -> Result<FundsTransfer, FspiopError> {
        let account_id = self.account(name, AccountType::Settlement).await.id;
        let mut tx = self.begin().await;
        let outcome = self
            .ledger
            .settle_funds_out(&mut *tx, OPERATOR, name, account_id, id, commit)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn set_active(&self, name: &str, active: bool) {
        let mut tx = self.begin().await;
        self.ledger
            .set_participant_active(&mut *tx, OPERATOR, name, active)
            .await
            .unwrap()
            .expect("set active");
        tx.commit().await.unwrap();
    }

    async fn quote_request(&self, command: QuoteRequestCommand) -> QuoteOutcome {
        let mut tx = self.begin().await;
        let outcome = self.ledger.quote_request(&mut *tx, command).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn quote_response(&self, command: QuoteResponseCommand) -> QuoteOutcome {
        let mut tx = self.begin().await;
        let outcome = self.ledger.quote_response(&mut *tx, command).await.unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn account_in(&self, name: &str, currency: &str, kind: AccountType) -> Option<Account> {
        self.read()
            .await
            .account_for(name, currency, kind)
            .await
            .unwrap()
    }

    async fn account(&self, name: &str, kind: AccountType) -> Account {
        self.account_in(name, USD, kind)
            .await
            .unwrap_or_else(|| panic!("{name} has no USD {} account", kind.as_str()))
    }

    async fn position(&self, name: &str) -> Account {
        self.account(name, AccountType::Position).await
    }

    async fn hub_reconciliation(&self) -> Account {
        self.account(HUB_PARTICIPANT, AccountType::HubReconciliation)
            .await
    }

    async fn transfer(&self, id: &str) -> Transfer {
        self.read()
            .await
            .transfer(id)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("transfer {id} was not stored"))
    }

    async fn limit(&self, name: &str) -> Option<Limit> {
        self.read().await.limit(name, USD).await.unwrap()
    }

    async fn audit(&self) -> Vec<AuditEntry> {
        self.read().await.audit_entries(1000).await.unwrap()
    }

    /// (value, reserved) of every USD account, to show that a command changed nothing.
    async fn balances(&self) -> Vec<(i64, Decimal, Decimal)> {
        self.read()
            .await
            .accounts_in_currency(USD)
            .await
            .unwrap()
            .into_iter()
            .map(|a| (a.id, a.value, a.reserved))
            .collect()
    }
}

// --------------------------------------------------------------------------------------------
// Set-up

#[tokio::test]
async fn setup_creates_accounts_limits_and_deposits() {
    let env = Env::with("1000", "500").await;
    for name in [PAYER, PAYEE, OTHER] {
        let position = env.position(name).await;
        assert_eq!(
            (position.value, position.reserved),
            (Decimal::ZERO, Decimal::ZERO)
        );
        let settlement = env.account(name, AccountType::Settlement).await;
        assert_eq!(
            settlement.value,
            dec("-500"),
            "deposits make SETTLEMENT negative"
        );
        assert_eq!(settlement.reserved, Decimal::ZERO);
        let limit = env.limit(name).await.expect("limit");
        assert_eq!(limit.value, dec("1000"));
    }
    assert_eq!(env.hub_reconciliation().await.value, dec("1500"));
    let multilateral = env
        .account(HUB_PARTICIPANT, AccountType::HubMultilateralSettlement)
        .await;
    assert_eq!(multilateral.value, Decimal::ZERO);
}

// --------------------------------------------------------------------------------------------
// Prepare, fulfil, abort, expire

#[tokio::test]
async fn prepare_reserves_the_amount_on_the_payer_position() {
    let env = Env::standard().await;
    let transfer = env.reserve("t1", "12.34").await;
    assert_eq!(transfer.state, TransferState::Reserved);

    let payer = env.position(PAYER).await;
    assert_eq!(payer.reserved, dec("12.34"));
    assert_eq!(payer.value, Decimal::ZERO);
    let payee = env.position(PAYEE).await;
    assert_eq!(
        (payee.value, payee.reserved),
        (Decimal::ZERO, Decimal::ZERO)
    );
    let stored = env.transfer("t1").await;
    assert_eq!(stored.state, TransferState::Reserved);
    assert_eq!(stored.amount, dec("12.34"));
    assert_eq!(stored.prepare_hash, "prepare-t1");
}

#[tokio::test]
async fn fulfil_commits_and_moves_both_positions() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let outcome = env.fulfil(env.right_fulfil("t1")).await;
    let FulfilOutcome::Committed(transfer, FulfilMode::Commit) = outcome else {
        panic!("expected a commit, got {outcome:?}");
    };
    assert_eq!(transfer.state, TransferState::Committed);

    let payer = env.position(PAYER).await;
    assert_eq!((payer.value, payer.reserved), (dec("100"), Decimal::ZERO));
    let payee = env.position(PAYEE).await;
    assert_eq!((payee.value, payee.reserved), (dec("-100"), Decimal::ZERO));
    let stored = env.transfer("t1").await;
    assert_eq!(stored.state, TransferState::Committed);
    assert_eq!(stored.fulfilment, Some(ilp_pair(1).0));
    assert_eq!(stored.fulfil_hash.as_deref(), Some("fulfil-t1"));
    assert_eq!(stored.completed_at_ms, Some(env.now()));
}

#[tokio::test]
async fn fulfil_in_reserve_mode_commits_too() {
    let env = Env::standard().await;
    env.reserve("t1", "5").await;
    let mut command = env.right_fulfil("t1");
    command.mode = FulfilMode::Reserve;
    let outcome = env.fulfil(command).await;
    assert!(
        matches!(outcome, FulfilOutcome::Committed(_, FulfilMode::Reserve)),
        "{outcome:?}"
    );
    assert_eq!(env.position(PAYEE).await.value, dec("-5"));
}

#[tokio::test]
async fn fulfil_with_wrong_fulfilment_aborts_and_releases() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let outcome = env
        .fulfil(env.fulfil_cmd("t1", PAYEE, Some(ilp_pair(2).0)))
        .await;
    let FulfilOutcome::Aborted(transfer, error, FulfilMode::Commit) = outcome else {
        panic!("expected an abort, got {outcome:?}");
    };
    assert_eq!(code(&error), 3100);
    assert_eq!(transfer.state, TransferState::AbortedRejected);

    let payer = env.position(PAYER).await;
    assert_eq!(
        (payer.value, payer.reserved),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert_eq!(env.position(PAYEE).await.value, Decimal::ZERO);
    let stored = env.transfer("t1").await;
    assert_eq!(stored.state, TransferState::AbortedRejected);
    assert_eq!(stored.fulfilment, None);
    assert_eq!(stored.error_code.as_deref(), Some("3100"));
}

#[tokio::test]
async fn fulfil_without_fulfilment_or_with_garbage_aborts_and_releases() {
    let env = Env::standard().await;
    env.reserve("t1", "10").await;
    env.reserve("t2", "20").await;
    let missing = env.fulfil(env.fulfil_cmd("t1", PAYEE, None)).await;
    assert!(
        matches!(&missing, FulfilOutcome::Aborted(_, e, _) if code(e) == 3100),
        "{missing:?}"
    );
    let garbage = env
        .fulfil(env.fulfil_cmd("t2", PAYEE, Some("not base64url!".into())))
        .await;
    assert!(
        matches!(&garbage, FulfilOutcome::Aborted(_, e, _) if code(e) == 3100),
        "{garbage:?}"
    );
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn fulfil_after_expiry_aborts_with_3303_and_releases() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    env.advance_ms(60_001);
    let outcome = env.fulfil(env.right_fulfil("t1")).await;
    let FulfilOutcome::Aborted(transfer, error, _) = outcome else {
        panic!("expected an abort, got {outcome:?}");
    };
    assert_eq!(error.code, ErrorCode::TRANSFER_EXPIRED);
    assert_eq!(transfer.state, TransferState::ExpiredReserved);

    let payer = env.position(PAYER).await;
    assert_eq!(
        (payer.value, payer.reserved),
        (Decimal::ZERO, Decimal::ZERO)
    );
    assert_eq!(env.position(PAYEE).await.value, Decimal::ZERO);
    let stored = env.transfer("t1").await;
    assert_eq!(stored.state, TransferState::ExpiredReserved);
    assert_eq!(stored.error_code.as_deref(), Some("3303"));
    assert_eq!(stored.fulfilment, None);
}

#[tokio::test]
async fn fulfil_exactly_at_the_expiration_is_late() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    env.advance_ms(60_000);
    let outcome = env.fulfil(env.right_fulfil("t1")).await;
    assert!(
        matches!(&outcome, FulfilOutcome::Aborted(_, e, _) if e.code == ErrorCode::TRANSFER_EXPIRED),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn late_fulfil_repeated_is_a_duplicate() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    env.advance_ms(60_001);
    let first = env.fulfil(env.right_fulfil("t1")).await;
    assert!(matches!(first, FulfilOutcome::Aborted(..)), "{first:?}");
    let again = env.fulfil(env.right_fulfil("t1")).await;
    let FulfilOutcome::Duplicate(Duplicate::Resend(transfer)) = again else {
        panic!("expected the current state to be resent, got {again:?}");
    };
    assert_eq!(transfer.state, TransferState::ExpiredReserved);
}

#[tokio::test]
async fn fulfil_from_a_non_payee_is_refused_and_changes_nothing() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let before = env.balances().await;
    let stored_before = env.transfer("t1").await;

    for source in [OTHER, PAYER] {
        let outcome = env
            .fulfil(env.fulfil_cmd("t1", source, Some(ilp_pair(1).0)))
            .await;
        assert!(
            matches!(&outcome, FulfilOutcome::Refused(e) if code(e) == 3100),
            "{source}: {outcome:?}"
        );
        // A wrong fulfilment from a stranger must not abort the transfer either.
        let outcome = env
            .fulfil(env.fulfil_cmd("t1", source, Some(ilp_pair(9).0)))
            .await;
        assert!(
            matches!(&outcome, FulfilOutcome::Refused(e) if code(e) == 3100),
            "{source}: {outcome:?}"
        );
    }
    // The right payee, but addressed to someone other than the payer.
    let mut misrouted = env.right_fulfil("t1");
    misrouted.destination = Some(OTHER.into());
    let outcome = env.fulfil(misrouted).await;
    assert!(
        matches!(&outcome, FulfilOutcome::Refused(e) if code(e) == 3100),
        "{outcome:?}"
    );

    assert_eq!(env.balances().await, before);
    assert_eq!(env.transfer("t1").await, stored_before);
    // The real payee can still complete it.
    let outcome = env.fulfil(env.right_fulfil("t1")).await;
    assert!(
        matches!(outcome, FulfilOutcome::Committed(..)),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn fulfil_of_an_unknown_transfer_is_3208() {
    let env = Env::standard().await;
    let outcome = env.fulfil(env.right_fulfil("nope")).await;
    assert!(
        matches!(&outcome, FulfilOutcome::Refused(e) if e.code == ErrorCode::TRANSFER_NOT_FOUND),
        "{outcome:?}"
    );
}

#[tokio::test]
async fn abort_by_the_payee_releases() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let outcome = env.abort(env.abort_cmd("t1", PAYEE)).await;
    let AbortOutcome::Aborted(transfer) = outcome else {
        panic!("expected an abort, got {outcome:?}");
    };
    assert_eq!(transfer.state, TransferState::AbortedError);

    let payer = env.position(PAYER).await;
    assert_eq!(
        (payer.value, payer.reserved),
        (Decimal::ZERO, Decimal::ZERO)
    );
    let stored = env.transfer("t1").await;
    assert_eq!(stored.state, TransferState::AbortedError);
    assert_eq!(stored.error_code.as_deref(), Some("5104"));
    assert_eq!(stored.error_hash.as_deref(), Some("abort-t1"));
    // Once aborted it can no longer be fulfilled.
    let late = env.fulfil(env.right_fulfil("t1")).await;
    assert!(
        matches!(&late, FulfilOutcome::Refused(e) if code(e) == 3100),
        "{late:?}"
    );
    assert_eq!(env.position(PAYEE).await.value, Decimal::ZERO);
}

#[tokio::test]
async fn abort_from_a_non_payee_is_refused() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let before = env.balances().await;
    for source in [PAYER, OTHER] {
        let outcome = env.abort(env.abort_cmd("t1", source)).await;
        assert!(
            matches!(&outcome, AbortOutcome::Refused(e) if code(e) == 3100),
            "{source}: {outcome:?}"
        );
    }
    assert_eq!(env.balances().await, before);
    assert_eq!(env.transfer("t1").await.state, TransferState::Reserved);
}

#[tokio::test]
async fn abort_duplicates_and_abort_after_commit() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    env.abort(env.abort_cmd("t1", PAYEE)).await;
    let again = env.abort(env.abort_cmd("t1", PAYEE)).await;
    assert!(
        matches!(&again, AbortOutcome::Duplicate(Duplicate::Resend(t)) if t.state == TransferState::AbortedError),
        "{again:?}"
    );
    let mut changed = env.abort_cmd("t1", PAYEE);
    changed.hash = "another".into();
    let changed = env.abort(changed).await;
    assert!(
        matches!(&changed, AbortOutcome::Duplicate(Duplicate::Modified(e)) if code(e) == 3106),
        "{changed:?}"
    );
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);

    env.reserve("t2", "10").await;
    env.fulfil(env.right_fulfil("t2")).await;
    let after_commit = env.abort(env.abort_cmd("t2", PAYEE)).await;
    assert!(
        matches!(&after_commit, AbortOutcome::Refused(e) if code(e) == 3100),
        "{after_commit:?}"
    );
    assert_eq!(env.transfer("t2").await.state, TransferState::Committed);
    assert_eq!(env.position(PAYEE).await.value, dec("-10"));

    let unknown = env.abort(env.abort_cmd("nope", PAYEE)).await;
    assert!(
        matches!(&unknown, AbortOutcome::Refused(e) if e.code == ErrorCode::TRANSFER_NOT_FOUND),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn expire_only_after_the_deadline_and_only_once() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    assert_eq!(env.expire("t1").await, None, "not yet due");
    env.advance_ms(59_999);
    assert_eq!(env.expire("t1").await, None, "1 ms before the deadline");
    assert_eq!(env.position(PAYER).await.reserved, dec("100"));
    let mut tx = env.read().await;
    assert_eq!(
        tx.open_transfers().await.unwrap(),
        vec![("t1".to_string(), env.now() + 1)]
    );
    drop(tx);

    env.advance_ms(1);
    let expired = env.expire("t1").await.expect("expired at the deadline");
    assert_eq!(expired.state, TransferState::ExpiredReserved);
    assert_eq!(expired.error_code.as_deref(), Some("3303"));
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
    assert_eq!(
        env.transfer("t1").await.state,
        TransferState::ExpiredReserved
    );

    let journal_len = env.store.journal().len();
    env.advance_ms(10_000);
    assert_eq!(env.expire("t1").await, None, "second expiry");
    assert_eq!(
        env.store.journal().len(),
        journal_len,
        "nothing released twice"
    );
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
    assert!(env.read().await.open_transfers().await.unwrap().is_empty());
    assert_eq!(env.expire("unknown").await, None);
}

#[tokio::test]
async fn expire_leaves_committed_and_aborted_transfers_alone() {
    let env = Env::standard().await;
    env.reserve("t1", "10").await;
    env.reserve("t2", "20").await;
    env.fulfil(env.right_fulfil("t1")).await;
    env.abort(env.abort_cmd("t2", PAYEE)).await;
    env.advance_ms(120_000);
    assert_eq!(env.expire("t1").await, None);
    assert_eq!(env.expire("t2").await, None);
    assert_eq!(env.transfer("t1").await.state, TransferState::Committed);
    assert_eq!(env.transfer("t2").await.state, TransferState::AbortedError);
    let payer = env.position(PAYER).await;
    assert_eq!((payer.value, payer.reserved), (dec("10"), Decimal::ZERO));
}

// --------------------------------------------------------------------------------------------
// Duplicates

#[tokio::test]
async fn duplicate_prepare_with_the_same_hash_is_resent() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let outcome = env
        .prepare(env.prepare_cmd("t1", PAYER, PAYEE, "100"))
        .await;
    let PrepareOutcome::Duplicate(Duplicate::Resend(transfer)) = outcome else {
        panic!("expected a resend, got {outcome:?}");
    };
    assert_eq!(transfer.state, TransferState::Reserved);
    assert_eq!(
        env.position(PAYER).await.reserved,
        dec("100"),
        "reserved once"
    );

    env.fulfil(env.right_fulfil("t1")).await;
    let outcome = env
        .prepare(env.prepare_cmd("t1", PAYER, PAYEE, "100"))
        .await;
    assert!(
        matches!(&outcome, PrepareOutcome::Duplicate(Duplicate::Resend(t)) if t.state == TransferState::Committed),
        "{outcome:?}"
    );
    assert_eq!(env.position(PAYER).await.value, dec("100"));
}

#[tokio::test]
async fn duplicate_prepare_with_another_hash_is_modified_3106() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let mut changed = env.prepare_cmd("t1", PAYER, PAYEE, "200");
    changed.hash = "different".into();
    let outcome = env.prepare(changed).await;
    assert!(
        matches!(&outcome, PrepareOutcome::Duplicate(Duplicate::Modified(e)) if e.code == ErrorCode::MODIFIED_REQUEST),
        "{outcome:?}"
    );
    assert_eq!(env.position(PAYER).await.reserved, dec("100"));
    assert_eq!(env.transfer("t1").await.amount, dec("100"));
}

#[tokio::test]
async fn duplicate_of_a_rejected_prepare_is_resent_not_retried() {
    let env = Env::standard().await;
    env.rejected(env.prepare_cmd("t1", PAYER, PAYEE, "5000"))
        .await;
    let outcome = env
        .prepare(env.prepare_cmd("t1", PAYER, PAYEE, "5000"))
        .await;
    assert!(
        matches!(&outcome, PrepareOutcome::Duplicate(Duplicate::Resend(t)) if t.state == TransferState::Invalid),
        "{outcome:?}"
    );
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn duplicate_fulfil_after_commit() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    env.fulfil(env.right_fulfil("t1")).await;
    let journal_len = env.store.journal().len();

    let same = env.fulfil(env.right_fulfil("t1")).await;
    let FulfilOutcome::Duplicate(Duplicate::Resend(transfer)) = same else {
        panic!("expected a resend, got {same:?}");
    };
    assert_eq!(transfer.state, TransferState::Committed);
    assert_eq!(transfer.fulfilment, Some(ilp_pair(1).0));

    let mut changed = env.right_fulfil("t1");
    changed.hash = "another body".into();
    let changed = env.fulfil(changed).await;
    assert!(
        matches!(&changed, FulfilOutcome::Duplicate(Duplicate::Modified(e)) if code(e) == 3106),
        "{changed:?}"
    );

    assert_eq!(env.store.journal().len(), journal_len, "committed once");
    assert_eq!(env.position(PAYER).await.value, dec("100"));
    assert_eq!(env.position(PAYEE).await.value, dec("-100"));
}

#[tokio::test]
async fn duplicate_of_a_rejected_fulfil_is_resent() {
    let env = Env::standard().await;
    env.reserve("t1", "100").await;
    let wrong = env.fulfil_cmd("t1", PAYEE, Some(ilp_pair(2).0));
    env.fulfil(wrong.clone()).await;
    let again = env.fulfil(wrong).await;
    assert!(
        matches!(&again, FulfilOutcome::Duplicate(Duplicate::Resend(t)) if t.state == TransferState::AbortedRejected),
        "{again:?}"
    );
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

// --------------------------------------------------------------------------------------------
// Prepare checks, in the reference order

#[tokio::test]
async fn liquidity_exceeded_is_4001() {
    let env = Env::with("1000", "100").await;
    env.reserve("t1", "60").await;
    let error = env
        .rejected(env.prepare_cmd("t2", PAYER, PAYEE, "40.01"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY);
    // Exactly the rest is still available.
    env.reserve("t3", "40").await;
    assert_eq!(env.position(PAYER).await.reserved, dec("100"));
}

#[tokio::test]
async fn liquidity_is_checked_before_the_cap() {
    // Both the cap (50) and the liquidity (30) are exceeded: liquidity wins.
    let env = Env::with("50", "30").await;
    let error = env
        .rejected(env.prepare_cmd("t1", PAYER, PAYEE, "60"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY);
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn cap_exceeded_is_4200() {
    let env = Env::standard().await;
    env.reserve("t1", "999.9999").await;
    let error = env
        .rejected(env.prepare_cmd("t2", PAYER, PAYEE, "0.0002"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
    env.reserve("t3", "0.0001").await;
    let payer = env.position(PAYER).await;
    assert_eq!(payer.reserved, dec("1000"));
}

#[tokio::test]
async fn committed_position_counts_against_the_cap() {
    let env = Env::standard().await;
    env.reserve("t1", "700").await;
    env.fulfil(env.right_fulfil("t1")).await;
    let error = env
        .rejected(env.prepare_cmd("t2", PAYER, PAYEE, "300.01"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
    // A payee's credit (negative position) frees room for it as a payer.
    env.reserve("t3", "300").await;
    let back = env.prepare(env.prepare_cmd("t4", PAYEE, PAYER, "50")).await;
    assert!(matches!(back, PrepareOutcome::Reserved(_)), "{back:?}");
    let mut fulfil = env.fulfil_cmd("t4", PAYER, Some(ilp_pair(1).0));
    fulfil.destination = Some(PAYEE.into());
    let outcome = env.fulfil(fulfil).await;
    assert!(
        matches!(outcome, FulfilOutcome::Committed(..)),
        "{outcome:?}"
    );
    // Position 650 + 300 reserved = 950: another 50 fits, 50.01 does not.
    let error = env
        .rejected(env.prepare_cmd("t5", PAYER, PAYEE, "50.01"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
    env.reserve("t6", "50").await;
}

#[tokio::test]
async fn no_cap_is_4200() {
    let env = Env::standard().await;
    // A participant with accounts and funds but no initialPositionAndLimits yet.
    let mut tx = env.begin().await;
    env.ledger
        .create_participant(&mut *tx, OPERATOR, "nocap", USD)
        .await
        .unwrap()
        .unwrap();
    let settlement = tx
        .account_for("nocap", USD, AccountType::Settlement)
        .await
        .unwrap()
        .unwrap();
    env.ledger
        .funds(
            &mut *tx,
            OPERATOR,
            "nocap",
            settlement.id,
            "fund-nocap",
            FundsAction::In,
            amount("1000"),
            USD,
            "deposit",
            "",
        )
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let error = env
        .rejected(env.prepare_cmd("t1", "nocap", PAYEE, "1"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
    assert_eq!(env.position("nocap").await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn inactive_payer_or_payee_is_3100() {
    let env = Env::standard().await;
    env.set_active(PAYER, false).await;
    let error = env.rejected(env.prepare_cmd("t1", PAYER, PAYEE, "1")).await;
    assert_eq!(code(&error), 3100);
    env.set_active(PAYER, true).await;

    env.set_active(PAYEE, false).await;
    let error = env.rejected(env.prepare_cmd("t2", PAYER, PAYEE, "1")).await;
    assert_eq!(code(&error), 3100);
    env.set_active(PAYEE, true).await;

    env.reserve("t3", "1").await;
    assert_eq!(env.position(PAYER).await.reserved, dec("1"));
}

#[tokio::test]
async fn inactive_position_account_is_3100() {
    let env = Env::standard().await;
    for who in [PAYER, PAYEE] {
        let position = env.position(who).await;
        let mut tx = env.begin().await;
        env.ledger
            .set_account_active(&mut *tx, OPERATOR, who, position.id, false)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
        let error = env
            .rejected(env.prepare_cmd(&format!("t-{who}"), PAYER, PAYEE, "1"))
            .await;
        assert_eq!(code(&error), 3100, "{who}");
        let mut tx = env.begin().await;
        env.ledger
            .set_account_active(&mut *tx, OPERATOR, who, position.id, true)
            .await
            .unwrap()
            .unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn unknown_payee_or_payer_is_3100() {
    let env = Env::standard().await;
    let error = env
        .rejected(env.prepare_cmd("t1", PAYER, "ghostfsp", "1"))
        .await;
    assert_eq!(code(&error), 3100);
    let error = env
        .rejected(env.prepare_cmd("t2", "ghostfsp", PAYEE, "1"))
        .await;
    assert_eq!(code(&error), 3100);
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn payer_equal_to_payee_is_3100() {
    let env = Env::standard().await;
    let error = env.rejected(env.prepare_cmd("t1", PAYER, PAYER, "1")).await;
    assert_eq!(code(&error), 3100);
    let error = env
        .rejected(env.prepare_cmd("t2", PAYER, &PAYER.to_uppercase(), "1"))
        .await;
    assert_eq!(code(&error), 3100, "compared case-insensitively");
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
}

#[tokio::test]
async fn missing_currency_account_is_4103_or_5106() {
    let env = Env::standard().await;
    // OTHER also holds EUR; PAYER and PAYEE do not.
    let mut tx = env.begin().await;
    env.ledger
        .create_participant(&mut *tx, OPERATOR, OTHER, EUR)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let mut command = env.prepare_cmd("t1", PAYER, OTHER, "1");
    command.currency = EUR.into();
    let error = env.rejected(command).await;
    assert_eq!(error.code, ErrorCode::PAYER_UNSUPPORTED_CURRENCY);

    let mut command = env.prepare_cmd("t2", OTHER, PAYEE, "1");
    command.currency = EUR.into();
    let error = env.rejected(command).await;
    assert_eq!(error.code, ErrorCode::PAYEE_UNSUPPORTED_CURRENCY);
}

#[tokio::test]
async fn expiration_in_the_past_is_3100() {
    let env = Env::standard().await;
    let mut command = env.prepare_cmd("t1", PAYER, PAYEE, "1");
    command.expiration_ms = env.now() - 1;
    assert_eq!(code(&env.rejected(command).await), 3100);
    let mut command = env.prepare_cmd("t2", PAYER, PAYEE, "1");
    command.expiration_ms = env.now();
    assert_eq!(
        code(&env.rejected(command).await),
        3100,
        "now is not the future"
    );
    let mut command = env.prepare_cmd("t3", PAYER, PAYEE, "1");
    command.expiration_ms = env.now() + 1;
    assert!(matches!(
        env.prepare(command).await,
        PrepareOutcome::Reserved(_)
    ));
}

#[tokio::test]
async fn rejected_prepare_moves_no_money() {
    let env = Env::with("50", "30").await;
    let before = env.balances().await;
    let journal_len = env.store.journal().len();
    env.rejected(env.prepare_cmd("t1", PAYER, PAYEE, "31"))
        .await;
    env.rejected(env.prepare_cmd("t2", PAYER, PAYER, "1")).await;
    assert_eq!(env.balances().await, before);
    assert_eq!(env.store.journal().len(), journal_len);
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_changes_nothing() {
    let env = Env::standard().await;
    let mut tx = env.begin().await;
    let outcome = env
        .ledger
        .prepare(&mut *tx, env.prepare_cmd("t1", PAYER, PAYEE, "10"))
        .await
        .unwrap();
    assert!(matches!(outcome, PrepareOutcome::Reserved(_)));
    drop(tx);
    assert_eq!(env.position(PAYER).await.reserved, Decimal::ZERO);
    assert!(env.read().await.transfer("t1").await.unwrap().is_none());
}

// --------------------------------------------------------------------------------------------
// Funds in and out

#[tokio::test]
async fn funds_in_is_applied_at_once_and_mirrored_on_the_hub() {
    let env = Env::standard().await;
    let hub_before = env.hub_reconciliation().await.value;
    let funds = env
        .funds(PAYER, "in-1", FundsAction::In, "250.5")
        .await
        .unwrap();
    assert_eq!(funds.state, "COMMITTED");
    assert_eq!(funds.action, "recordFundsIn");
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(settlement.value, dec("-2250.5"));
    assert_eq!(
        env.hub_reconciliation().await.value,
        hub_before + dec("250.5")
    );
}

#[tokio::test]
async fn funds_requests_are_validated() {
    let env = Env::standard().await;
    let zero = env.funds(PAYER, "f0", FundsAction::In, "0").await;
    assert_eq!(code(&zero.unwrap_err()), 3100);
    env.funds(PAYER, "f1", FundsAction::In, "1").await.unwrap();
    let duplicate = env.funds(PAYER, "f1", FundsAction::In, "1").await;
    assert_eq!(
        duplicate.unwrap_err().code,
        ErrorCode::MODIFIED_REQUEST,
        "a funds id is used once"
    );
    // Someone else's settlement account, and a position account, are not ours to fund.
    let mut tx = env.begin().await;
    let payee_settlement = tx
        .account_for(PAYEE, USD, AccountType::Settlement)
        .await
        .unwrap()
        .unwrap();
    let payer_position = tx
        .account_for(PAYER, USD, AccountType::Position)
        .await
        .unwrap()
        .unwrap();
    let payer_settlement = tx
        .account_for(PAYER, USD, AccountType::Settlement)
        .await
        .unwrap()
        .unwrap();
    for account_id in [payee_settlement.id, payer_position.id, 9999] {
        let outcome = env
            .ledger
            .funds(
                &mut *tx,
                OPERATOR,
                PAYER,
                account_id,
                "f2",
                FundsAction::In,
                amount("1"),
                USD,
                "",
                "",
            )
            .await
            .unwrap();
        assert_eq!(outcome.unwrap_err().code, ErrorCode::ID_NOT_FOUND);
    }
    let wrong_currency = env
        .ledger
        .funds(
            &mut *tx,
            OPERATOR,
            PAYER,
            payer_settlement.id,
            "f3",
            FundsAction::In,
            amount("1"),
            EUR,
            "",
            "",
        )
        .await
        .unwrap();
    assert_eq!(code(&wrong_currency.unwrap_err()), 3100);
    tx.commit().await.unwrap();
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(settlement.value, dec("-2001"));
}

#[tokio::test]
async fn funds_out_reserve_beyond_available_is_4001() {
    let env = Env::standard().await;
    // 2000 deposited, 300 reserved by a transfer: 1700 can be withdrawn.
    env.reserve("t1", "300").await;
    let error = env
        .funds(PAYER, "out-1", FundsAction::OutReserve, "1700.01")
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY);
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(settlement.reserved, Decimal::ZERO);

    let funds = env
        .funds(PAYER, "out-2", FundsAction::OutReserve, "1700")
        .await
        .unwrap();
    assert_eq!(funds.state, "RESERVED");
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(
        (settlement.value, settlement.reserved),
        (dec("-2000"), dec("1700"))
    );
    // Nothing is left: neither another withdrawal nor a new transfer fits.
    let error = env
        .funds(PAYER, "out-3", FundsAction::OutReserve, "0.0001")
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY);
    let error = env
        .rejected(env.prepare_cmd("t2", PAYER, PAYEE, "0.0001"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY);
}

#[tokio::test]
async fn funds_out_commit_and_abort_balance() {
    let env = Env::standard().await;
    let hub_before = env.hub_reconciliation().await.value;
    env.funds(PAYER, "out-1", FundsAction::OutReserve, "500")
        .await
        .unwrap();
    env.funds(PAYER, "out-2", FundsAction::OutReserve, "200")
        .await
        .unwrap();
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(
        (settlement.value, settlement.reserved),
        (dec("-2000"), dec("700"))
    );
    assert_eq!(env.hub_reconciliation().await.value, hub_before);

    let committed = env.settle_funds_out(PAYER, "out-1", true).await.unwrap();
    assert_eq!(committed.state, "COMMITTED");
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(
        (settlement.value, settlement.reserved),
        (dec("-1500"), dec("200"))
    );
    assert_eq!(
        env.hub_reconciliation().await.value,
        hub_before - dec("500")
    );

    let aborted = env.settle_funds_out(PAYER, "out-2", false).await.unwrap();
    assert_eq!(aborted.state, "ABORTED");
    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(
        (settlement.value, settlement.reserved),
        (dec("-1500"), Decimal::ZERO)
    );
    assert_eq!(
        env.hub_reconciliation().await.value,
        hub_before - dec("500")
    );

    // Settled funds-outs, funds-ins and unknown ids cannot be settled (again).
    let again = env.settle_funds_out(PAYER, "out-1", true).await;
    assert_eq!(code(&again.unwrap_err()), 3100);
    let again = env.settle_funds_out(PAYER, "out-2", true).await;
    assert_eq!(code(&again.unwrap_err()), 3100);
    let funds_in = env.settle_funds_out(PAYER, "fund-payerfsp", true).await;
    assert_eq!(code(&funds_in.unwrap_err()), 3100);
    let unknown = env.settle_funds_out(PAYER, "nope", true).await;
    assert_eq!(unknown.unwrap_err().code, ErrorCode::ID_NOT_FOUND);
    // Someone else's funds-out.
    env.funds(PAYEE, "out-3", FundsAction::OutReserve, "1")
        .await
        .unwrap();
    let foreign = env.settle_funds_out(PAYER, "out-3", true).await;
    assert_eq!(foreign.unwrap_err().code, ErrorCode::ID_NOT_FOUND);

    let settlement = env.account(PAYER, AccountType::Settlement).await;
    assert_eq!(
        (settlement.value, settlement.reserved),
        (dec("-1500"), Decimal::ZERO)
    );
    // The liquidity left for transfers is what remains deposited.
    let error = env
        .rejected(env.prepare_cmd("t1", PAYER, PAYEE, "1000.01"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
}

#[tokio::test]
async fn reserved_funds_out_reduces_the_liquidity_for_transfers() {
    let env = Env::with("1000", "500").await;
    env.funds(PAYER, "out-1", FundsAction::OutReserve, "450")
        .await
        .unwrap();
    let error = env
        .rejected(env.prepare_cmd("t1", PAYER, PAYEE, "50.01"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_INSUFFICIENT_LIQUIDITY);
    env.settle_funds_out(PAYER, "out-1", false).await.unwrap();
    env.reserve("t2", "500").await;
}

// --------------------------------------------------------------------------------------------
// Limits

#[tokio::test]
async fn initial_position_and_limits_twice_is_refused() {
    let env = Env::standard().await;
    let audit_before = env.audit().await.len();
    let mut tx = env.begin().await;
    let outcome = env
        .ledger
        .initial_position_and_limits(&mut *tx, OPERATOR, PAYER, USD, amount("5"), dec("7"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(outcome.unwrap_err().code, ErrorCode::GENERIC_CLIENT_ERROR);
    assert_eq!(env.limit(PAYER).await.unwrap().value, dec("1000"));
    assert_eq!(
        env.position(PAYER).await.value,
        Decimal::ZERO,
        "no initial position"
    );
    assert_eq!(
        env.audit().await.len(),
        audit_before,
        "a refusal is not recorded as done"
    );

    // Unknown participant or currency.
    let mut tx = env.begin().await;
    let outcome = env
        .ledger
        .initial_position_and_limits(&mut *tx, OPERATOR, "ghost", USD, amount("5"), Decimal::ZERO)
        .await
        .unwrap();
    assert_eq!(outcome.unwrap_err().code, ErrorCode::ID_NOT_FOUND);
    let outcome = env
        .ledger
        .initial_position_and_limits(&mut *tx, OPERATOR, PAYER, EUR, amount("5"), Decimal::ZERO)
        .await
        .unwrap();
    assert_eq!(outcome.unwrap_err().code, ErrorCode::ID_NOT_FOUND);
}

#[tokio::test]
async fn initial_position_is_journalled_against_a_hub_account() {
    let env = Env::empty();
    let mut tx = env.begin().await;
    env.ledger
        .create_participant(&mut *tx, OPERATOR, PAYER, USD)
        .await
        .unwrap()
        .unwrap();
    env.ledger
        .initial_position_and_limits(&mut *tx, OPERATOR, PAYER, USD, amount("100"), dec("40"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let position = env.position(PAYER).await;
    assert_eq!(position.value, dec("40"));
    // The counterpart is the hub's multilateral settlement account.
    let journal = env.store.journal();
    assert_eq!(journal.len(), 2);
    let counterpart = journal
        .iter()
        .find(|e| e.account_id != position.id)
        .expect("a counterpart entry");
    let mut read = env.read().await;
    let hub = read.account(counterpart.account_id).await.unwrap().unwrap();
    assert_eq!(hub.participant, HUB_PARTICIPANT);
    assert_eq!(hub.value, dec("-40"));
    for entry in &journal {
        assert_eq!(entry.reason, "INITIAL_POSITION");
        assert_eq!(entry.reserved_delta, Decimal::ZERO);
    }
    drop(read);
    // The initial position counts against the cap.
    env.funds(PAYER, "in", FundsAction::In, "1000")
        .await
        .unwrap();
    let mut tx = env.begin().await;
    env.ledger
        .create_participant(&mut *tx, OPERATOR, PAYEE, USD)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let error = env
        .rejected(env.prepare_cmd("t1", PAYER, PAYEE, "60.01"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
    env.reserve("t2", "60").await;
}

#[tokio::test]
async fn initial_position_keeps_both_documented_pairs_at_zero() {
    let env = Env::standard().await;
    let mut tx = env.begin().await;
    env.ledger
        .create_participant(&mut *tx, OPERATOR, "late", USD)
        .await
        .unwrap()
        .unwrap();
    env.ledger
        .initial_position_and_limits(&mut *tx, OPERATOR, "late", USD, amount("100"), dec("25"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let accounts = env.read().await.accounts_in_currency(USD).await.unwrap();
    let sum = |kinds: &[AccountType]| -> Decimal {
        accounts
            .iter()
            .filter(|a| kinds.contains(&a.kind))
            .map(|a| a.value)
            .sum()
    };
    assert_eq!(
        sum(&[AccountType::Settlement, AccountType::HubReconciliation]),
        Decimal::ZERO,
        "SETTLEMENT + HUB_RECONCILIATION"
    );
    // Positions have a counterpart on the hub's side too (the multilateral settlement account).
    assert_eq!(
        sum(&[
            AccountType::Position,
            AccountType::HubMultilateralSettlement
        ]),
        Decimal::ZERO,
        "POSITION + HUB_MULTILATERAL_SETTLEMENT"
    );
}

#[tokio::test]
async fn set_limit_changes_the_cap() {
    let env = Env::standard().await;
    env.reserve("t1", "900").await;
    let error = env
        .rejected(env.prepare_cmd("t2", PAYER, PAYEE, "200"))
        .await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);

    let mut tx = env.begin().await;
    let limit = env
        .ledger
        .set_limit(&mut *tx, OPERATOR, PAYER, USD, amount("1100"), dec("20"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(limit.value, dec("1100"));
    let stored = env.limit(PAYER).await.unwrap();
    assert_eq!(
        (stored.value, stored.alarm_percentage),
        (dec("1100"), dec("20"))
    );
    env.reserve("t3", "200").await;

    // Lowering the cap below the current exposure refuses new transfers but keeps old ones.
    let mut tx = env.begin().await;
    env.ledger
        .set_limit(&mut *tx, OPERATOR, PAYER, USD, amount("10"), dec("10"))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let error = env.rejected(env.prepare_cmd("t4", PAYER, PAYEE, "1")).await;
    assert_eq!(error.code, ErrorCode::PAYER_LIMIT_ERROR);
    let outcome = env.fulfil(env.right_fulfil("t1")).await;
    assert!(
        matches!(outcome, FulfilOutcome::Committed(..)),
        "{outcome:?}"
    );

    let mut tx = env.begin().await;
    let unknown = env
        .ledger
        .set_limit(&mut *tx, OPERATOR, PAYER, EUR, amount("10"), dec("10"))
        .await
        .unwrap();
    assert_eq!(unknown.unwrap_err().code, ErrorCode::ID_NOT_FOUND);
}

// --------------------------------------------------------------------------------------------
// Participants

#[tokio::test]
async fn create_participant_rules() {
    let env = Env::standard().await;
    let mut tx = env.begin().await;
    let again = env
        .ledger
        .create_participant(&mut *tx, OPERATOR, PAYER, USD)
        .await
        .unwrap();
    assert_eq!(again.unwrap_err().code, ErrorCode::GENERIC_CLIENT_ERROR);
    let hub = env
        .ledger
        .create_participant(&mut *tx, OPERATOR, "hub", USD)
        .await
        .unwrap();
    assert_eq!(code(&hub.unwrap_err()), 3100, "the hub's name is reserved");
    let bad = env
        .ledger
        .create_participant(&mut *tx, OPERATOR, "no spaces", USD)
        .await
        .unwrap();
    assert_eq!(code(&bad.unwrap_err()), 3100);
    // A new currency for an existing participant adds its accounts.
    env.ledger
        .create_participant(&mut *tx, OPERATOR, PAYER, EUR)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    for kind in [AccountType::Position, AccountType::Settlement] {
        assert!(env.account_in(PAYER, EUR, kind).await.is_some());
    }
    for kind in [
        AccountType::HubReconciliation,
        AccountType::HubMultilateralSettlement,
    ] {
        assert!(env.account_in(HUB_PARTICIPANT, EUR, kind).await.is_some());
    }
    let accounts = env.read().await.accounts(PAYER).await.unwrap();
    assert_eq!(accounts.len(), 4);
}

#[tokio::test]
async fn create_participant_with_a_name_differing_only_in_case_is_refused() {
    let env = Env::standard().await;
    let mut tx = env.begin().await;
    env.ledger
        .prepare(&mut *tx, env.prepare_cmd("batched", PAYER, PAYEE, "1"))
        .await
        .unwrap();
    let outcome = env
        .ledger
        .create_participant(&mut *tx, OPERATOR, &PAYER.to_uppercase(), EUR)
        .await;
    let refusal = outcome.expect("a refusal, not a storage failure that aborts the batch");
    assert_eq!(refusal.unwrap_err().code, ErrorCode::GENERIC_CLIENT_ERROR);
    tx.commit().await.unwrap();
    assert_eq!(env.transfer("batched").await.state, TransferState::Reserved);
}

// --------------------------------------------------------------------------------------------
// Quotes

fn quote_request(id: &str, payer: &str, payee: &str, hash: &str) -> QuoteRequestCommand {
    QuoteRequestCommand {
        id: id.into(),
        transaction_id: format!("tx-{id}"),
        payer: payer.into(),
        payee: payee.into(),
        amount: amount("10"),
        currency: USD.into(),
        hash: hash.into(),
    }
}

fn quote_response(id: &str, source: &str, destination: &str, hash: &str) -> QuoteResponseCommand {
    QuoteResponseCommand {
        id: id.into(),
        source: source.into(),
        destination: destination.into(),
        transfer_amount: amount("10.5"),
        currency: USD.into(),
        condition: ilp_pair(3).1,
        ilp_packet: "packet".into(),
        expiration_ms: 1_700_000_600_000,
        hash: hash.into(),
    }
}

#[tokio::test]
async fn quote_request_rules() {
    let env = Env::standard().await;
    let forwarded = env
        .quote_request(quote_request("q1", PAYER, PAYEE, "h1"))
        .await;
    assert_eq!(forwarded, QuoteOutcome::Forward);
    let stored = env
        .read()
        .await
        .quote("q1")
        .await
        .unwrap()
        .expect("quote stored");
    assert_eq!(
        (stored.payer.as_str(), stored.payee.as_str()),
        (PAYER, PAYEE)
    );
    assert_eq!(stored.amount, dec("10"));
    assert_eq!(stored.response_hash, None);

    // Same request again: harmless resend.
    let again = env
        .quote_request(quote_request("q1", PAYER, PAYEE, "h1"))
        .await;
    assert_eq!(again, QuoteOutcome::Forward);
    // Same id, other content, or the same content from someone else: 3106.
    let changed = env
        .quote_request(quote_request("q1", PAYER, PAYEE, "h2"))
        .await;
    assert!(
        matches!(&changed, QuoteOutcome::Refused(e) if code(e) == 3106),
        "{changed:?}"
    );
    let stolen = env
        .quote_request(quote_request("q1", OTHER, PAYEE, "h1"))
        .await;
    assert!(
        matches!(&stolen, QuoteOutcome::Refused(e) if code(e) == 3106),
        "{stolen:?}"
    );

    // The destination must exist, be active and hold the currency.
    let unknown = env
        .quote_request(quote_request("q2", PAYER, "ghostfsp", "h"))
        .await;
    assert!(
        matches!(&unknown, QuoteOutcome::Refused(e) if e.code == ErrorCode::DESTINATION_FSP_ERROR),
        "{unknown:?}"
    );
    env.set_active(PAYEE, false).await;
    let inactive = env
        .quote_request(quote_request("q3", PAYER, PAYEE, "h"))
        .await;
    assert!(
        matches!(&inactive, QuoteOutcome::Refused(e) if e.code == ErrorCode::DESTINATION_FSP_ERROR),
        "{inactive:?}"
    );
    env.set_active(PAYEE, true).await;
    let mut no_currency = quote_request("q4", PAYER, PAYEE, "h");
    no_currency.currency = EUR.into();
    let no_currency = env.quote_request(no_currency).await;
    assert!(
        matches!(&no_currency, QuoteOutcome::Refused(e) if e.code == ErrorCode::DESTINATION_FSP_ERROR),
        "{no_currency:?}"
    );
    let mut read = env.read().await;
    for id in ["q2", "q3", "q4"] {
        assert!(read.quote(id).await.unwrap().is_none(), "{id} not stored");
    }
}

#[tokio::test]
async fn quote_response_rules() {
    let env = Env::standard().await;
    let unknown = env
        .quote_response(quote_response("q0", PAYEE, PAYER, "r"))
        .await;
    assert!(
        matches!(&unknown, QuoteOutcome::Refused(e) if e.code == ErrorCode::QUOTE_NOT_FOUND),
        "{unknown:?}"
    );

    env.quote_request(quote_request("q1", PAYER, PAYEE, "h1"))
        .await;
    // Only the payee may answer, and only to the payer.
    for (source, destination) in [(OTHER, PAYER), (PAYER, PAYEE), (PAYEE, OTHER)] {
        let outcome = env
            .quote_response(quote_response("q1", source, destination, "r1"))
            .await;
        assert!(
            matches!(&outcome, QuoteOutcome::Refused(e) if code(e) == 3100),
            "{source}->{destination}: {outcome:?}"
        );
    }
    assert_eq!(
        env.read()
            .await
            .quote("q1")
            .await
            .unwrap()
            .unwrap()
            .response_hash,
        None,
        "refused answers are not recorded"
    );

    let answered = env
        .quote_response(quote_response("q1", PAYEE, PAYER, "r1"))
        .await;
    assert_eq!(answered, QuoteOutcome::Forward);
    let stored = env.read().await.quote("q1").await.unwrap().unwrap();
    assert_eq!(stored.response_hash.as_deref(), Some("r1"));
    assert_eq!(stored.transfer_amount, Some(dec("10.5")));
    assert_eq!(stored.condition, Some(ilp_pair(3).1));
    assert_eq!(stored.expiration_ms, Some(1_700_000_600_000));

    let again = env
        .quote_response(quote_response("q1", PAYEE, PAYER, "r1"))
        .await;
    assert_eq!(again, QuoteOutcome::Forward);
    let changed = env
        .quote_response(quote_response("q1", PAYEE, PAYER, "r2"))
        .await;
    assert!(
        matches!(&changed, QuoteOutcome::Refused(e) if code(e) == 3106),
        "{changed:?}"
    );
    let stored = env.read().await.quote("q1").await.unwrap().unwrap();
    assert_eq!(
        stored.response_hash.as_deref(),
        Some("r1"),
        "first answer kept"
    );
}

// --------------------------------------------------------------------------------------------
// Built-in oracle

fn party(identifier: &str, fsp: &str) -> PartyRegistration {
    PartyRegistration {
        id_type: "MSISDN".into(),
        identifier: identifier.into(),
        sub_id: String::new(),
        fsp_id: fsp.into(),
        currency: String::new(),
    }
}

#[tokio::test]
async fn register_party_only_for_self() {
    let env = Env::standard().await;
    let mut tx = env.begin().await;
    let foreign = env
        .ledger
        .register_party(&mut *tx, PAYER, party("123", PAYEE))
        .await
        .unwrap();
    assert_eq!(
        foreign.unwrap_err().code,
        ErrorCode::ADD_PARTY_INFORMATION_ERROR
    );
    env.ledger
        .register_party(&mut *tx, PAYEE, party("123", PAYEE))
        .await
        .unwrap()
        .unwrap();
    // Re-registering one's own party is fine; taking over someone else's is not.
    env.ledger
        .register_party(&mut *tx, PAYEE, party("123", PAYEE))
        .await
        .unwrap()
        .unwrap();
    let takeover = env
        .ledger
        .register_party(&mut *tx, PAYER, party("123", PAYER))
        .await
        .unwrap();
    assert_eq!(
        takeover.unwrap_err().code,
        ErrorCode::ADD_PARTY_INFORMATION_ERROR
    );
    tx.commit().await.unwrap();

    let parties = env
        .read()
        .await
        .parties("MSISDN", "123", None)
        .await
        .unwrap();
    assert_eq!(parties, vec![party("123", PAYEE)]);
}

#[tokio::test]
async fn delete_party_of_a_non_owned_registration_is_3040() {
    let env = Env::standard().await;
    let mut tx = env.begin().await;
    env.ledger
        .register_party(&mut *tx, PAYEE, party("123", PAYEE))
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let mut tx = env.begin().await;
    let foreign = env
        .ledger
        .delete_party(&mut *tx, PAYER, "MSISDN", "123", "")
        .await
        .unwrap();
    assert_eq!(
        foreign.unwrap_err().code,
        ErrorCode::DELETE_PARTY_INFORMATION_ERROR
    );
    let missing = env
        .ledger
        .delete_party(&mut *tx, PAYEE, "MSISDN", "999", "")
        .await
        .unwrap();
    assert_eq!(
        missing.unwrap_err().code,
        ErrorCode::DELETE_PARTY_INFORMATION_ERROR
    );
    tx.commit().await.unwrap();
    let parties = env
        .read()
        .await
        .parties("MSISDN", "123", None)
        .await
        .unwrap();
    assert_eq!(parties.len(), 1, "still registered");

    let mut tx = env.begin().await;
    env.ledger
        .delete_party(&mut *tx, PAYEE, "MSISDN", "123", "")
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let parties = env
        .read()
        .await
        .parties("MSISDN", "123", None)
        .await
        .unwrap();
    assert!(parties.is_empty());
}

// --------------------------------------------------------------------------------------------
// JWS keys

/// A key of `participant` whose fingerprint is the byte `n` repeated, as the hub would pass it
/// after parsing the PEM.
fn jws_key(participant: &str, n: u8) -> JwsKey {
    JwsKey {
        participant: participant.into(),
        fingerprint: format!("{n:02x}").repeat(32),
        alg: "ES256".into(),
        public_key_pem: "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n".into(),
        not_before_ms: None,
        not_after_ms: None,
        added_at_ms: 0,
        retired_at_ms: None,
    }
}

impl Env {
    async fn add_jws_key(&self, key: JwsKey) -> Result<JwsKey, FspiopError> {
        let mut tx = self.begin().await;
        let result = self
            .ledger
            .add_jws_key(&mut *tx, "alice", key)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        result
    }

    async fn retire_jws_key(
        &self,
        participant: &str,
        fingerprint: &str,
    ) -> Result<(), FspiopError> {
        let mut tx = self.begin().await;
        let result = self
            .ledger
            .retire_jws_key(&mut *tx, "bob", participant, fingerprint)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        result
    }

    async fn jws_keys(&self, participant: &str) -> Vec<JwsKey> {
        self.read().await.jws_keys(participant).await.unwrap()
    }
}

#[tokio::test]
async fn add_jws_key_stores_it_at_the_ledger_time_and_audits() {
    let env = Env::standard().await;
    let key = JwsKey {
        alg: "RS256".into(),
        not_before_ms: Some(env.now() - 1),
        not_after_ms: Some(env.now() + 86_400_000),
        // The caller's times are ignored.
        added_at_ms: 42,
        retired_at_ms: Some(43),
        ..jws_key(PAYER, 0xa1)
    };
    let stored = env.add_jws_key(key.clone()).await.expect("key added");
    let expected = JwsKey {
        added_at_ms: env.now(),
        retired_at_ms: None,
        ..key.clone()
    };
    assert_eq!(stored, expected);
    assert_eq!(env.jws_keys(PAYER).await, std::slice::from_ref(&expected));

    // A second key for the same participant, and the same key for another participant.
    env.advance_ms(10);
    let second = env.add_jws_key(jws_key(PAYER, 2)).await.unwrap();
    let payee = env
        .add_jws_key(JwsKey {
            participant: PAYEE.into(),
            ..key
        })
        .await
        .unwrap();
    assert_eq!(second.added_at_ms, expected.added_at_ms + 10);
    assert_eq!(env.jws_keys(PAYER).await, [expected, second]);
    assert_eq!(env.jws_keys(PAYEE).await, [payee]);

    let entries = env.audit().await;
    let entry = &entries[2];
    assert_eq!(
        (
            entry.actor.as_str(),
            entry.action.as_str(),
            entry.subject.as_str()
        ),
        ("alice", "jws_key.add", PAYER)
    );
    assert_eq!(entry.at_ms, env.now() - 10);
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({
            "fingerprint": "a1".repeat(32),
            "alg": "RS256",
            "notBefore": env.now() - 11,
            "notAfter": env.now() - 10 + 86_400_000,
        })
    );
    let detail: serde_json::Value = serde_json::from_str(&entries[1].detail).unwrap();
    assert_eq!(detail["notBefore"], serde_json::Value::Null);
    assert_eq!(detail["notAfter"], serde_json::Value::Null);
    assert_eq!(entries[0].subject, PAYEE);
}

#[tokio::test]
async fn add_jws_key_refusals_write_nothing() {
    let env = Env::standard().await;
    env.add_jws_key(jws_key(PAYER, 1)).await.unwrap();
    env.add_jws_key(jws_key(PAYER, 2)).await.unwrap();
    env.retire_jws_key(PAYER, &jws_key(PAYER, 2).fingerprint)
        .await
        .unwrap();
    let keys = env.jws_keys(PAYER).await;
    let audit = env.audit().await;

    let now = env.now();
    let cases: Vec<(JwsKey, u16, &str)> = vec![
        (jws_key("ghostfsp", 3), 3200, "ghostfsp does not exist"),
        (jws_key(PAYER, 1), 3100, "already has JWS key"),
        (jws_key(PAYER, 2), 3100, "already has JWS key"),
        (
            JwsKey {
                not_before_ms: Some(now),
                not_after_ms: Some(now),
                ..jws_key(PAYER, 3)
            },
            3100,
            "notAfter",
        ),
        (
            JwsKey {
                not_before_ms: Some(now),
                not_after_ms: Some(now - 1),
                ..jws_key(PAYER, 3)
            },
            3100,
            "notAfter",
        ),
        (
            JwsKey {
                fingerprint: "AB".repeat(32),
                ..jws_key(PAYER, 3)
            },
            3100,
            "fingerprint",
        ),
        (
            JwsKey {
                fingerprint: "ab".repeat(31),
                ..jws_key(PAYER, 3)
            },
            3100,
            "fingerprint",
        ),
        (
            JwsKey {
                alg: "HS256".into(),
                ..jws_key(PAYER, 3)
            },
            3100,
            "HS256",
        ),
    ];
    // All in one transaction, as the writer batches them: a refusal must not spoil the batch.
    let mut tx = env.begin().await;
    for (key, expected_code, text) in cases {
        let error = env
            .ledger
            .add_jws_key(&mut *tx, "alice", key.clone())
            .await
            .unwrap()
            .expect_err("refused");
        assert_eq!(code(&error), expected_code, "{key:?}: {error}");
        assert!(error.description.contains(text), "{error}");
    }
    tx.commit().await.unwrap();
    assert_eq!(env.jws_keys(PAYER).await, keys);
    assert_eq!(env.audit().await, audit);

    // Only one bound, or none, is fine.
    env.add_jws_key(JwsKey {
        not_after_ms: Some(now - 1),
        ..jws_key(PAYER, 4)
    })
    .await
    .unwrap();
    env.add_jws_key(JwsKey {
        not_before_ms: Some(now + 1),
        ..jws_key(PAYER, 5)
    })
    .await
    .unwrap();
    assert_eq!(env.jws_keys(PAYER).await.len(), keys.len() + 2);
}

#[tokio::test]
async fn retire_jws_key_keeps_the_key_and_audits_once() {
    let env = Env::standard().await;
    let key = env.add_jws_key(jws_key(PAYER, 0xab)).await.unwrap();
    let other = env.add_jws_key(jws_key(PAYEE, 0xcd)).await.unwrap();
    env.advance_ms(500);
    env.retire_jws_key(PAYER, &key.fingerprint)
        .await
        .expect("retired");
    assert_eq!(
        env.jws_keys(PAYER).await,
        [JwsKey {
            retired_at_ms: Some(env.now()),
            ..key.clone()
        }],
        "the key is kept, retired"
    );
    let audit = env.audit().await;
    let entry = &audit[0];
    assert_eq!(
        (
            entry.actor.as_str(),
            entry.action.as_str(),
            entry.subject.as_str()
        ),
        ("bob", "jws_key.retire", PAYER)
    );
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(detail["fingerprint"], key.fingerprint.as_str());
    assert_eq!(detail["retiredAt"], env.now());

    env.advance_ms(500);
    for (participant, fingerprint, text) in [
        (PAYER, key.fingerprint.as_str(), "already retired"),
        (PAYER, other.fingerprint.as_str(), "has no JWS key"),
        (PAYEE, key.fingerprint.as_str(), "has no JWS key"),
        (
            "ghostfsp",
            key.fingerprint.as_str(),
            "ghostfsp does not exist",
        ),
    ] {
        let error = env
            .retire_jws_key(participant, fingerprint)
            .await
            .expect_err("refused");
        assert_eq!(code(&error), 3200, "{error}");
        assert!(error.description.contains(text), "{error}");
    }
    assert_eq!(env.audit().await, audit, "refusals are not audited");
    assert_eq!(
        env.jws_keys(PAYER).await[0].retired_at_ms,
        Some(env.now() - 500),
        "the first retirement time stays"
    );
    assert_eq!(env.jws_keys(PAYEE).await, [other]);
}

// --------------------------------------------------------------------------------------------
// Participant TLS settings

const CA_PEM: &str =
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n";

/// Settings of `participant` with a pin of the byte `n` repeated and a CA bundle, as the hub
/// would pass them after parsing.
fn participant_tls(participant: &str, n: u8) -> ParticipantTls {
    ParticipantTls {
        participant: participant.into(),
        spki_pin: Some(format!("{n:02x}").repeat(32)),
        callback_ca_pem: Some(CA_PEM.into()),
        updated_at_ms: 0,
    }
}

impl Env {
    async fn set_participant_tls(
        &self,
        tls: ParticipantTls,
    ) -> Result<ParticipantTls, FspiopError> {
        let mut tx = self.begin().await;
        let result = self
            .ledger
            .set_participant_tls(&mut *tx, "carol", tls)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        result
    }

    async fn participant_tls(&self, participant: &str) -> Option<ParticipantTls> {
        self.read()
            .await
            .participant_tls(participant)
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn set_participant_tls_stores_it_at_the_ledger_time_and_audits() {
    let env = Env::standard().await;
    let tls = ParticipantTls {
        // The caller's time is ignored.
        updated_at_ms: 42,
        ..participant_tls(PAYER, 0xa1)
    };
    let stored = env.set_participant_tls(tls.clone()).await.expect("set");
    let expected = ParticipantTls {
        updated_at_ms: env.now(),
        ..tls
    };
    assert_eq!(stored, expected);
    assert_eq!(env.participant_tls(PAYER).await, Some(expected.clone()));
    assert_eq!(env.participant_tls(PAYEE).await, None);

    let entries = env.audit().await;
    let entry = &entries[0];
    assert_eq!(
        (
            entry.actor.as_str(),
            entry.action.as_str(),
            entry.subject.as_str()
        ),
        ("carol", "participant.tls_set", PAYER)
    );
    assert_eq!(entry.at_ms, env.now());
    let detail: serde_json::Value = serde_json::from_str(&entry.detail).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({"spkiPin": "a1".repeat(32), "callbackCa": true})
    );
    assert!(
        !entry.detail.contains("CERTIFICATE") && !entry.detail.contains("MIIB"),
        "the PEM is never audited: {}",
        entry.detail
    );

    // The default binding: no pin, no CA of its own.
    let bare = env
        .set_participant_tls(ParticipantTls {
            spki_pin: None,
            callback_ca_pem: None,
            ..participant_tls(PAYEE, 0)
        })
        .await
        .expect("set");
    assert_eq!(bare.spki_pin, None);
    assert_eq!(bare.callback_ca_pem, None);
    let detail: serde_json::Value = serde_json::from_str(&env.audit().await[0].detail).unwrap();
    assert_eq!(
        detail,
        serde_json::json!({"spkiPin": null, "callbackCa": false})
    );
    let all = env.read().await.all_participant_tls().await.unwrap();
    assert_eq!(all, [bare, expected]);
}

#[tokio::test]
async fn set_participant_tls_replaces_the_previous_settings() {
    let env = Env::standard().await;
    let first = env
        .set_participant_tls(participant_tls(PAYER, 1))
        .await
        .unwrap();
    env.advance_ms(250);
    let second = env
        .set_participant_tls(ParticipantTls {
            callback_ca_pem: None,
            ..participant_tls(PAYER, 2)
        })
        .await
        .unwrap();
    assert_eq!(second.updated_at_ms, first.updated_at_ms + 250);
    assert_eq!(
        env.participant_tls(PAYER).await,
        Some(second.clone()),
        "replaced whole: the CA bundle is cleared"
    );
    assert_eq!(
        env.read().await.all_participant_tls().await.unwrap(),
        [second]
    );
    let actions: Vec<String> = env
        .audit()
        .await
        .into_iter()
        .filter(|e| e.action == "participant.tls_set")
        .map(|e| e.detail)
        .collect();
    assert_eq!(actions.len(), 2, "each change is audited");
}

#[tokio::test]
async fn set_participant_tls_refusals_write_nothing() {
    let env = Env::standard().await;
    let stored = env
        .set_participant_tls(participant_tls(PAYER, 1))
        .await
        .unwrap();
    let audit = env.audit().await;

    let cases: Vec<(ParticipantTls, u16, &str)> = vec![
        (
            participant_tls("ghostfsp", 2),
            3200,
            "ghostfsp does not exist",
        ),
        (
            participant_tls(&PAYER.to_uppercase(), 2),
            3200,
            "does not exist",
        ),
        (
            ParticipantTls {
                spki_pin: Some("AB".repeat(32)),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "spkiPin",
        ),
        (
            ParticipantTls {
                spki_pin: Some("ab".repeat(31)),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "spkiPin",
        ),
        (
            ParticipantTls {
                spki_pin: Some("ab".repeat(33)),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "spkiPin",
        ),
        (
            ParticipantTls {
                spki_pin: Some(format!("{}zz", "ab".repeat(31))),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "spkiPin",
        ),
        (
            ParticipantTls {
                spki_pin: Some(String::new()),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "spkiPin",
        ),
        (
            ParticipantTls {
                callback_ca_pem: Some(
                    "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n".into(),
                ),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "callback CA",
        ),
        (
            ParticipantTls {
                callback_ca_pem: Some(String::new()),
                ..participant_tls(PAYER, 2)
            },
            3100,
            "callback CA",
        ),
        (
            ParticipantTls {
                spki_pin: None,
                callback_ca_pem: Some("not pem".into()),
                ..participant_tls(PAYEE, 2)
            },
            3100,
            "callback CA",
        ),
    ];
    // All in one transaction, as the writer batches them: a refusal must not spoil the batch.
    let mut tx = env.begin().await;
    for (tls, expected_code, text) in cases {
        let error = env
            .ledger
            .set_participant_tls(&mut *tx, "carol", tls.clone())
            .await
            .unwrap()
            .expect_err("refused");
        assert_eq!(code(&error), expected_code, "{tls:?}: {error}");
        assert!(error.description.contains(text), "{error}");
    }
    tx.commit().await.unwrap();
    assert_eq!(env.participant_tls(PAYER).await, Some(stored.clone()));
    assert_eq!(env.participant_tls(PAYEE).await, None);
    assert_eq!(
        env.read().await.all_participant_tls().await.unwrap(),
        [stored]
    );
    assert_eq!(env.audit().await, audit, "refusals are not audited");
}

// --------------------------------------------------------------------------------------------
// Audit

#[tokio::test]
async fn every_operator_action_writes_an_audit_entry() {
    let env = Env::empty();
    let mut tx = env.begin().await;
    let ledger = &env.ledger;
    ledger
        .create_hub_account(&mut *tx, "alice", USD, AccountType::HubReconciliation)
        .await
        .unwrap()
        .unwrap();
    ledger
        .create_participant(&mut *tx, "alice", PAYER, USD)
        .await
        .unwrap()
        .unwrap();
    ledger
        .initial_position_and_limits(&mut *tx, "alice", PAYER, USD, amount("100"), Decimal::ZERO)
        .await
        .unwrap()
        .unwrap();
    ledger
        .set_limit(&mut *tx, "bob", PAYER, USD, amount("200"), dec("10"))
        .await
        .unwrap()
        .unwrap();
    ledger
        .set_endpoint(
            &mut *tx,
            "bob",
            Endpoint {
                participant: PAYER.into(),
                kind: "FSPIOP_CALLBACK_URL_TRANSFER_POST".into(),
                value: "http://payer.example/transfers".into(),
            },
        )
        .await
        .unwrap()
        .unwrap();
    ledger
        .set_participant_active(&mut *tx, "bob", PAYER, false)
        .await
        .unwrap()
        .unwrap();
    let settlement = tx
        .account_for(PAYER, USD, AccountType::Settlement)
        .await
        .unwrap()
        .unwrap();
    ledger
        .set_account_active(&mut *tx, "bob", PAYER, settlement.id, true)
        .await
        .unwrap()
        .unwrap();
    for (id, action, value) in [
        ("in", FundsAction::In, "10"),
        ("out-1", FundsAction::OutReserve, "4"),
        ("out-2", FundsAction::OutReserve, "6"),
    ] {
        ledger
            .funds(
                &mut *tx,
                "carol",
                PAYER,
                settlement.id,
                id,
                action,
                amount(value),
                USD,
                "r",
                "x",
            )
            .await
            .unwrap()
            .unwrap();
    }
    ledger
        .settle_funds_out(&mut *tx, "carol", PAYER, settlement.id, "out-1", true)
        .await
        .unwrap()
        .unwrap();
    ledger
        .settle_funds_out(&mut *tx, "carol", PAYER, settlement.id, "out-2", false)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();

    let mut entries = env.audit().await;
    entries.reverse();
    let got: Vec<(&str, &str, &str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.action.as_str(),
                e.subject.as_str(),
                e.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("alice", "hub.account.create", "HUB_RECONCILIATION", "ok"),
            ("alice", "participant.create", PAYER, "ok"),
            ("alice", "limits.initial", PAYER, "ok"),
            ("bob", "limits.set", PAYER, "ok"),
            ("bob", "endpoint.set", PAYER, "ok"),
            ("bob", "participant.set_active", PAYER, "ok"),
            ("bob", "account.set_active", PAYER, "ok"),
            ("carol", "funds.record", PAYER, "ok"),
            ("carol", "funds.record", PAYER, "ok"),
            ("carol", "funds.record", PAYER, "ok"),
            ("carol", "funds.out.commit", PAYER, "ok"),
            ("carol", "funds.out.abort", PAYER, "ok"),
        ]
    );
    for entry in &entries {
        assert_eq!(entry.at_ms, env.now());
        assert!(
            serde_json::from_str::<serde_json::Value>(&entry.detail).is_ok(),
            "detail is JSON: {}",
            entry.detail
        );
    }
    let funds_in: serde_json::Value = serde_json::from_str(&entries[7].detail).unwrap();
    assert_eq!(funds_in["action"], "recordFundsIn");
    assert_eq!(funds_in["amount"], "10");
}

#[tokio::test]
async fn transfer_commands_write_no_audit_entries() {
    let env = Env::standard().await;
    let before = env.audit().await;
    env.reserve("t1", "1").await;
    env.fulfil(env.right_fulfil("t1")).await;
    env.reserve("t2", "1").await;
    env.abort(env.abort_cmd("t2", PAYEE)).await;
    assert_eq!(env.audit().await, before);
}
