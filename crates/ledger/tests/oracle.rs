//! The party oracle's ownership rules, the routing of lookups an FSP may answer, and who may
//! end a quote (issue 12: party takeover, quote error from a non-party), through the in-memory
//! store. Each command runs in its own committed write transaction.

use std::sync::Arc;

use fspiop::{ErrorCode, FspiopError};
use ledger::engine::{
    Ledger, MAX_OPEN_PARTY_LOOKUPS, PARTY_LOOKUP_TTL_MS, QuoteErrorCommand, QuoteOutcome,
    QuoteResponseCommand,
};
use ledger::mem::MemStore;
use ledger::{AuditEntry, LedgerStore, ManualClock, PartyRegistration, Quote};
use rust_decimal::Decimal;
use time::OffsetDateTime;

const OWNER: &str = "payeefsp";
const PAYER: &str = "payerfsp";
const EVIL: &str = "evilfsp";

struct Env {
    store: MemStore,
    clock: Arc<ManualClock>,
    ledger: Ledger,
}

impl Env {
    fn new(per_currency: bool) -> Env {
        let start = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("start time");
        let clock = Arc::new(ManualClock::new(start));
        let ledger = Ledger::new(clock.clone()).with_per_currency_party_owners(per_currency);
        Env {
            store: MemStore::new(),
            clock,
            ledger,
        }
    }

    async fn register(&self, source: &str, party: PartyRegistration) -> Result<(), FspiopError> {
        let mut tx = self.store.begin().await.unwrap();
        let outcome = self
            .ledger
            .register_party(&mut *tx, source, party)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn delete(&self, source: &str, identifier: &str) -> Result<(), FspiopError> {
        let mut tx = self.store.begin().await.unwrap();
        let outcome = self
            .ledger
            .delete_party(&mut *tx, source, "MSISDN", identifier, "")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn owner(&self, identifier: &str) -> Option<String> {
        let mut tx = self.store.read().await.unwrap();
        self.ledger
            .party_owner(&mut *tx, "MSISDN", identifier, "")
            .await
            .unwrap()
    }

    async fn route(
        &self,
        requester: &str,
        routed_to: &str,
        identifier: &str,
    ) -> Result<(), FspiopError> {
        let mut tx = self.store.begin().await.unwrap();
        let outcome = self
            .ledger
            .route_party_lookup(&mut *tx, requester, routed_to, "MSISDN", identifier, "")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        outcome
    }

    async fn may_answer(
        &self,
        sender: &str,
        requester: &str,
        identifier: &str,
    ) -> Result<(), FspiopError> {
        let mut tx = self.store.read().await.unwrap();
        self.ledger
            .party_answer_allowed(&mut *tx, sender, requester, "MSISDN", identifier, "")
            .await
            .unwrap()
    }

    async fn audit(&self) -> Vec<AuditEntry> {
        self.store
            .read()
            .await
            .unwrap()
            .audit_entries(1000)
            .await
            .unwrap()
    }
}

fn party(identifier: &str, fsp: &str, currency: &str) -> PartyRegistration {
    PartyRegistration {
        id_type: "MSISDN".into(),
        identifier: identifier.into(),
        sub_id: String::new(),
        fsp_id: fsp.into(),
        currency: currency.into(),
    }
}

/// The attack of issue 12: another FSP claims the number without a currency (or in another
/// one). Refused with 3003, audited, and the owner still gets every lookup.
#[tokio::test]
async fn a_claim_in_another_currency_or_none_is_refused_and_audited() {
    let env = Env::new(false);
    env.register(OWNER, party("123", OWNER, "USD"))
        .await
        .unwrap();
    for currency in ["", "EUR", "USD"] {
        let error = env
            .register(EVIL, party("123", EVIL, currency))
            .await
            .expect_err(currency);
        assert_eq!(
            error.code,
            ErrorCode::ADD_PARTY_INFORMATION_ERROR,
            "{currency}"
        );
        assert!(
            error.description.contains("registered to payeefsp"),
            "{}",
            error.description
        );
    }
    assert_eq!(env.owner("123").await.as_deref(), Some(OWNER));
    let refusals: Vec<AuditEntry> = env
        .audit()
        .await
        .into_iter()
        .filter(|e| e.action == "oracle.claim_refused")
        .collect();
    assert_eq!(refusals.len(), 3);
    for entry in &refusals {
        assert_eq!(entry.actor, EVIL);
        assert_eq!(entry.subject, "MSISDN/123");
        assert_eq!(entry.outcome, "denied");
        assert!(
            entry.detail.contains("\"owner\":\"payeefsp\""),
            "{}",
            entry.detail
        );
    }
    // Registering for someone else is a refused claim too.
    let error = env
        .register(EVIL, party("456", OWNER, ""))
        .await
        .unwrap_err();
    assert_eq!(error.code, ErrorCode::ADD_PARTY_INFORMATION_ERROR);
    assert_eq!(env.owner("456").await, None);
    assert_eq!(
        env.audit()
            .await
            .iter()
            .filter(|e| e.action == "oracle.claim_refused")
            .count(),
        4
    );
}

#[tokio::test]
async fn the_owner_keeps_control_and_only_it_can_delete() {
    let env = Env::new(false);
    env.register(OWNER, party("123", OWNER, "USD"))
        .await
        .unwrap();
    // Again, another currency, no currency: all the owner's.
    for currency in ["USD", "EUR", ""] {
        env.register(OWNER, party("123", OWNER, currency))
            .await
            .unwrap();
    }
    let error = env.delete(EVIL, "123").await.unwrap_err();
    assert_eq!(error.code, ErrorCode::DELETE_PARTY_INFORMATION_ERROR);
    assert_eq!(env.owner("123").await.as_deref(), Some(OWNER));
    let audit = env.audit().await;
    let refusal = audit
        .iter()
        .find(|e| e.action == "oracle.delete_refused")
        .expect("audited");
    assert_eq!(
        (refusal.actor.as_str(), refusal.outcome.as_str()),
        (EVIL, "denied")
    );
    env.delete(OWNER, "123").await.unwrap();
    assert_eq!(env.owner("123").await, None);
    // Once free, anyone may register it.
    env.register(EVIL, party("123", EVIL, "")).await.unwrap();
    assert_eq!(env.owner("123").await.as_deref(), Some(EVIL));
}

/// Rows written before the rule (several FSPs for one party): the oldest registration owns the
/// party, whichever row sorts first, and the later ones can neither route nor re-register.
#[tokio::test]
async fn conflicting_old_rows_resolve_to_the_oldest_registration() {
    let env = Env::new(false);
    {
        let mut tx = env.store.begin().await.unwrap();
        tx.upsert_party(&party("123", OWNER, "USD")).await.unwrap();
        tx.upsert_party(&party("123", EVIL, "")).await.unwrap();
        tx.commit().await.unwrap();
    }
    assert_eq!(env.owner("123").await.as_deref(), Some(OWNER));
    assert_eq!(
        env.register(EVIL, party("123", EVIL, ""))
            .await
            .unwrap_err()
            .code,
        ErrorCode::ADD_PARTY_INFORMATION_ERROR
    );
    env.register(OWNER, party("123", OWNER, "EUR"))
        .await
        .unwrap();
    assert!(env.may_answer(EVIL, PAYER, "123").await.is_err());
    env.may_answer(OWNER, PAYER, "123").await.unwrap();
    // The owner takes the stale row back by registering its key.
    env.register(OWNER, party("123", OWNER, "")).await.unwrap();
    let mut tx = env.store.read().await.unwrap();
    let rows = tx.parties("MSISDN", "123", Some("")).await.unwrap();
    assert!(rows.iter().all(|p| p.fsp_id == OWNER), "{rows:?}");
    drop(tx);
    assert!(env.may_answer(EVIL, PAYER, "123").await.is_err());
    env.may_answer(OWNER, PAYER, "123").await.unwrap();
}

#[tokio::test]
async fn per_currency_owners_when_the_scheme_allows_them() {
    let env = Env::new(true);
    env.register(OWNER, party("123", OWNER, "USD"))
        .await
        .unwrap();
    env.register(EVIL, party("123", EVIL, "EUR")).await.unwrap();
    // Same currency, or no currency (which means every currency), still conflict.
    for (source, currency) in [(EVIL, "USD"), (EVIL, ""), (OWNER, "EUR")] {
        assert_eq!(
            env.register(source, party("123", source, currency))
                .await
                .unwrap_err()
                .code,
            ErrorCode::ADD_PARTY_INFORMATION_ERROR,
            "{source} {currency}"
        );
    }
    // Lookups stay deterministic: the oldest registration.
    assert_eq!(env.owner("123").await.as_deref(), Some(OWNER));
    let env = Env::new(true);
    env.register(OWNER, party("9", OWNER, "")).await.unwrap();
    assert!(env.register(EVIL, party("9", EVIL, "EUR")).await.is_err());
}

#[tokio::test]
async fn only_the_routed_fsp_may_answer_a_lookup() {
    let env = Env::new(false);
    env.register(OWNER, party("123", OWNER, "USD"))
        .await
        .unwrap();
    env.may_answer(OWNER, PAYER, "123").await.unwrap();
    env.may_answer("PAYEEFSP", PAYER, "123").await.unwrap();
    let error = env.may_answer(EVIL, PAYER, "123").await.unwrap_err();
    assert_eq!(error.code, ErrorCode::GENERIC_VALIDATION_ERROR);
    // Not registered: nobody may answer until a lookup is routed, then only that FSP, only to
    // that requester, only about that party, only until it expires.
    assert!(env.may_answer(EVIL, PAYER, "777").await.is_err());
    env.route(PAYER, EVIL, "777").await.unwrap();
    env.may_answer(EVIL, PAYER, "777").await.unwrap();
    env.may_answer("EvilFsp", "PayerFsp", "777").await.unwrap();
    assert!(env.may_answer(OWNER, PAYER, "777").await.is_err());
    assert!(env.may_answer(EVIL, OWNER, "777").await.is_err());
    assert!(env.may_answer(EVIL, PAYER, "778").await.is_err());
    env.clock
        .advance(time::Duration::milliseconds(PARTY_LOOKUP_TTL_MS - 1));
    env.may_answer(EVIL, PAYER, "777").await.unwrap();
    env.clock.advance(time::Duration::milliseconds(1));
    assert!(env.may_answer(EVIL, PAYER, "777").await.is_err(), "expired");
}

/// At the limit: the requester's open lookups are bounded; a refresh of one it has still
/// passes, and expiry frees room.
#[tokio::test]
async fn open_lookups_per_requester_are_bounded() {
    let env = Env::new(false);
    {
        let mut tx = env.store.begin().await.unwrap();
        for n in 0..MAX_OPEN_PARTY_LOOKUPS {
            env.ledger
                .route_party_lookup(&mut *tx, PAYER, EVIL, "MSISDN", &n.to_string(), "")
                .await
                .unwrap()
                .unwrap();
        }
        tx.commit().await.unwrap();
    }
    let error = env.route(PAYER, EVIL, "one-more").await.unwrap_err();
    assert_eq!(error.code, ErrorCode::SERVER_BUSY);
    env.clock.advance(time::Duration::milliseconds(1_000));
    env.route(PAYER, EVIL, "0").await.unwrap();
    env.route(OWNER, EVIL, "one-more").await.unwrap();
    env.clock
        .advance(time::Duration::milliseconds(PARTY_LOOKUP_TTL_MS - 1_000));
    // Everything but the refreshed "0" expired and is purged.
    env.route(PAYER, EVIL, "one-more").await.unwrap();
    let mut tx = env.store.read().await.unwrap();
    assert_eq!(tx.count_party_lookups(PAYER).await.unwrap(), 2);
}

// --------------------------------------------------------------------------------------------
// Quotes

async fn with_quote(env: &Env) {
    let mut tx = env.store.begin().await.unwrap();
    tx.insert_quote(&Quote {
        id: "q1".into(),
        transaction_id: "t1".into(),
        payer: PAYER.into(),
        payee: OWNER.into(),
        amount: Decimal::TEN,
        currency: "USD".into(),
        request_hash: "h".into(),
        response_hash: None,
        transfer_amount: None,
        condition: None,
        ilp_packet: None,
        expiration_ms: None,
        created_at_ms: 0,
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn quote_error(env: &Env, id: &str, source: &str, destination: &str) -> QuoteOutcome {
    let mut tx = env.store.begin().await.unwrap();
    let outcome = env
        .ledger
        .quote_error(
            &mut *tx,
            QuoteErrorCommand {
                id: id.into(),
                source: source.into(),
                destination: destination.into(),
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    outcome
}

#[tokio::test]
async fn only_the_quote_parties_may_send_its_error() {
    let env = Env::new(false);
    with_quote(&env).await;
    assert_eq!(
        quote_error(&env, "q1", OWNER, PAYER).await,
        QuoteOutcome::Forward
    );
    assert_eq!(
        quote_error(&env, "q1", PAYER, OWNER).await,
        QuoteOutcome::Forward
    );
    for (source, destination) in [(EVIL, PAYER), (EVIL, OWNER), (OWNER, EVIL), (PAYER, PAYER)] {
        let QuoteOutcome::Refused(error) = quote_error(&env, "q1", source, destination).await
        else {
            panic!("{source} → {destination} forwarded");
        };
        assert_eq!(error.code, ErrorCode::GENERIC_VALIDATION_ERROR);
    }
    let QuoteOutcome::Refused(error) = quote_error(&env, "nope", OWNER, PAYER).await else {
        panic!("unknown quote forwarded");
    };
    assert_eq!(error.code, ErrorCode::QUOTE_NOT_FOUND);
    let audit = env.audit().await;
    let refusals: Vec<&AuditEntry> = audit
        .iter()
        .filter(|e| e.action == "quote.answer_refused")
        .collect();
    assert_eq!(refusals.len(), 4);
    assert!(
        refusals
            .iter()
            .all(|e| e.subject == "q1" && e.outcome == "denied")
    );
    assert_eq!(refusals.iter().filter(|e| e.actor == EVIL).count(), 2);
}

#[tokio::test]
async fn a_quote_answer_from_a_non_payee_is_refused_and_audited() {
    let env = Env::new(false);
    with_quote(&env).await;
    let mut tx = env.store.begin().await.unwrap();
    let outcome = env
        .ledger
        .quote_response(
            &mut *tx,
            QuoteResponseCommand {
                id: "q1".into(),
                source: EVIL.into(),
                destination: PAYER.into(),
                transfer_amount: fspiop::Amount::parse("10").unwrap(),
                currency: "USD".into(),
                condition: "c".into(),
                ilp_packet: "p".into(),
                expiration_ms: 1,
                hash: "x".into(),
            },
        )
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert!(
        matches!(outcome, QuoteOutcome::Refused(ref e) if e.code == ErrorCode::GENERIC_VALIDATION_ERROR)
    );
    let audit = env.audit().await;
    assert!(
        audit
            .iter()
            .any(|e| e.action == "quote.answer_refused" && e.actor == EVIL)
    );
}
