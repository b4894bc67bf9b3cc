//! Resource handlers: what the hub does with a request that passed the gate in [`crate::api`].
//!
//! Each handler records what must be durable through the ledger writer *before* returning (the
//! DFSP's `202`/`200` means "recorded"), then queues the messages that follow from it.

use fspiop::endpoint::EndpointType;
use fspiop::headers::{Method, Resource};
use fspiop::{Amount, ErrorCode, FspiopDateTime, FspiopError};
use ledger::engine::{
    AbortCommand, AbortOutcome, Duplicate, FulfilCommand, FulfilMode, FulfilOutcome,
    PrepareCommand, PrepareOutcome, QuoteErrorCommand, QuoteOutcome, QuoteRequestCommand,
    QuoteResponseCommand,
};
use ledger::{PartyRegistration, Transfer};
use serde_json::{Value, json};

use crate::api::{Accepted, Route};
use crate::message::{self, Outbound, Target};
use crate::state::HubState;
use crate::writer::WriterError;

/// Runs the handler for an accepted request.
pub async fn dispatch(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    match request.resource {
        Resource::Transfers => transfers(state, request).await,
        Resource::Quotes => quotes(state, request).await,
        Resource::Parties => parties(state, request).await,
        Resource::Participants => participants(state, request).await,
        Resource::TransactionRequests | Resource::Authorizations | Resource::BulkQuotes => {
            pass_through(state, request).await
        }
        Resource::BulkTransfers | Resource::Transactions => Err(FspiopError::new(
            ErrorCode::NOT_IMPLEMENTED,
            "resource not served",
        )),
    }
}

/// The non-repudiation record of a message that changes money: headers the signature binds,
/// the signature and the body exactly as received.
fn evidence(state: &HubState, request: &Accepted, subject: &str, kind: &str) -> ledger::Evidence {
    let inbound = &request.inbound;
    ledger::Evidence {
        subject: subject.to_string(),
        kind: kind.to_string(),
        participant: request.source.clone(),
        method: request.method.as_str().to_string(),
        uri: crate::api::fspiop_uri_of(inbound.path.split('?').next().unwrap_or_default())
            .to_string(),
        destination: request.destination.clone(),
        date: inbound.header("date").map(str::to_string),
        signature: request.signed.as_ref().map(|s| s.header_value.clone()),
        key_fingerprint: request.signed.as_ref().map(|s| s.fingerprint.clone()),
        body: inbound.body.to_vec(),
        received_at_ms: state.writer.ledger().now_ms(),
    }
}

/// Sets a member of a JSON object built here (no-op on anything else, never a panic).
fn set(object: &mut Value, key: &str, value: Value) {
    if let Some(members) = object.as_object_mut() {
        members.insert(key.to_string(), value);
    }
}

fn store_failed(error: WriterError) -> FspiopError {
    if error.is_busy() {
        // Backpressure, not a failure: counted by the writer, not logged per request.
        return FspiopError::new(
            ErrorCode::SERVICE_UNAVAILABLE,
            "the hub is at capacity; nothing was recorded, retry after the Retry-After delay",
        );
    }
    tracing::error!(%error, "ledger write failed");
    FspiopError::new(
        ErrorCode::SERVICE_UNAVAILABLE,
        "the hub could not record the request; nothing was changed, retry later",
    )
}

fn text<'a>(body: &'a Value, path: &[&str]) -> Result<&'a str, FspiopError> {
    let mut value = body;
    for key in path {
        value = value.get(key).ok_or_else(|| {
            FspiopError::new(
                ErrorCode::MISSING_ELEMENT,
                format!("{} is required", path.join(".")),
            )
        })?;
    }
    value.as_str().ok_or_else(|| {
        FspiopError::new(
            ErrorCode::MALFORMED_SYNTAX,
            format!("{} must be a string", path.join(".")),
        )
    })
}

fn optional_text<'a>(body: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut value = body;
    for key in path {
        value = value.get(key)?;
    }
    value.as_str()
}

fn amount(body: &Value, path: &[&str]) -> Result<Amount, FspiopError> {
    let raw = text(body, path)?;
    Amount::parse(raw).map_err(|e| FspiopError::validation(format!("{}: {e}", path.join("."))))
}

fn datetime_ms(body: &Value, path: &[&str]) -> Result<i64, FspiopError> {
    let raw = text(body, path)?;
    FspiopDateTime::parse(raw)
        .map(FspiopDateTime::unix_millis)
        .map_err(|e| FspiopError::validation(format!("{}: {e}", path.join("."))))
}

fn require_destination(request: &Accepted) -> Result<String, FspiopError> {
    request.destination.clone().ok_or_else(|| {
        FspiopError::new(ErrorCode::MISSING_ELEMENT, "FSPIOP-Destination is required")
    })
}

fn transfer_target(id: &str) -> Target {
    Target {
        transfer_id: Some(id.to_string()),
        ..Target::default()
    }
}

fn item_id(route: &Route) -> &str {
    match route {
        Route::Item(id) | Route::ItemError(id) => id,
        _ => "",
    }
}

// --------------------------------------------------------------------------------------------
// Transfers

async fn transfers(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    match (&request.method, &request.route) {
        (Method::Post, Route::Collection) => prepare(state, request).await,
        (Method::Put, Route::Item(_)) => fulfil(state, request).await,
        (Method::Put, Route::ItemError(_)) => payee_abort(state, request).await,
        (Method::Get, Route::Item(_)) => transfer_query(state, request).await,
        _ => Err(FspiopError::new(
            ErrorCode::GENERIC_CLIENT_ERROR,
            "method not allowed",
        )),
    }
}

/// The hub's error callback to a party of a transfer.
fn transfer_error(state: &HubState, to: &str, id: &str, error: &FspiopError) -> Outbound {
    message::error_callback(
        &state.hub_name,
        Resource::Transfers,
        format!("/transfers/{id}/error"),
        to,
        EndpointType::TransferError,
        transfer_target(id),
        error,
    )
}

/// The body telling a party the current state of a transfer.
pub fn transfer_state_body(transfer: &Transfer) -> Value {
    let mut body = json!({ "transferState": transfer.state.external() });
    if let Some(at) = transfer
        .completed_at_ms
        .and_then(FspiopDateTime::from_unix_millis)
    {
        set(&mut body, "completedTimestamp", json!(at.to_string()));
    }
    if transfer.state == ledger::TransferState::Committed
        && let Some(fulfilment) = &transfer.fulfilment
    {
        set(&mut body, "fulfilment", json!(fulfilment));
    }
    body
}

fn transfer_state_message(state: &HubState, to: &str, transfer: &Transfer) -> Outbound {
    let body = transfer_state_body(transfer);
    message::originate(
        &state.hub_name,
        Resource::Transfers,
        Method::Put,
        format!("/transfers/{}", transfer.id),
        to,
        EndpointType::TransferPut,
        transfer_target(&transfer.id),
        Some(&body),
    )
}

fn handle_duplicate(state: &HubState, to: &str, id: &str, duplicate: Duplicate) {
    match duplicate {
        Duplicate::Ignore => {}
        Duplicate::Resend(transfer) => state
            .dispatcher
            .send(transfer_state_message(state, to, &transfer)),
        Duplicate::Modified(error) => state.dispatcher.send(transfer_error(state, to, id, &error)),
    }
}

async fn prepare(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    let body = &request.body;
    let id = text(body, &["transferId"])?.to_string();
    let payer = text(body, &["payerFsp"])?.to_string();
    let payee = text(body, &["payeeFsp"])?.to_string();
    if !payer.eq_ignore_ascii_case(&request.source) {
        return Err(FspiopError::validation(format!(
            "payerFsp {payer} does not match FSPIOP-Source {}",
            request.source
        )));
    }
    if let Some(destination) = &request.destination
        && !destination.eq_ignore_ascii_case(&payee)
    {
        return Err(FspiopError::validation(format!(
            "FSPIOP-Destination {destination} does not match payeeFsp {payee}"
        )));
    }
    let condition = text(body, &["condition"])?.to_string();
    if ilp::Condition::from_base64url(&condition).is_err() {
        return Err(FspiopError::validation(
            "condition must be 32 bytes in base64url (43 characters)",
        ));
    }
    let command = PrepareCommand {
        id: id.clone(),
        payer: payer.clone(),
        payee: payee.clone(),
        amount: amount(body, &["amount", "amount"])?,
        currency: text(body, &["amount", "currency"])?.to_string(),
        condition,
        ilp_packet: text(body, &["ilpPacket"])?.to_string(),
        expiration_ms: datetime_ms(body, &["expiration"])?,
        hash: fspiop::canonical::content_hash(body),
    };
    let record = evidence(state, &request, &id, "transfer.prepare");
    let outcome = state
        .writer
        .run(move |ledger, tx| {
            Box::pin(async move {
                let outcome = ledger.prepare(tx, command).await?;
                if matches!(outcome, PrepareOutcome::Reserved(_)) {
                    tx.append_evidence(&record).await?;
                }
                Ok(outcome)
            })
        })
        .await
        .map_err(store_failed)?;
    match outcome {
        PrepareOutcome::Reserved(transfer) => {
            state
                .expiry
                .schedule(transfer.expiration_ms, transfer.id.clone());
            let mut forward = message::forward(
                &request.inbound,
                &payee,
                EndpointType::TransferPost,
                transfer_target(&id),
            );
            forward.fspiop_uri = "/transfers".into();
            state.dispatcher.send(forward);
        }
        PrepareOutcome::Rejected(_, error) => {
            state
                .dispatcher
                .send(transfer_error(state, &request.source, &id, &error))
        }
        PrepareOutcome::Duplicate(duplicate) => {
            handle_duplicate(state, &request.source, &id, duplicate)
        }
    }
    Ok(())
}

async fn fulfil(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    let id = item_id(&request.route).to_string();
    let body = &request.body;
    let mode = match text(body, &["transferState"])? {
        "COMMITTED" => FulfilMode::Commit,
        "RESERVED" if request.content_version >= (1, 1) => FulfilMode::Reserve,
        "RESERVED" => {
            return Err(FspiopError::validation(
                "transferState RESERVED needs version 1.1; version 1.0 has no commit notification",
            ));
        }
        other => {
            return Err(FspiopError::validation(format!(
                "transferState {other} is not valid in a fulfil; send COMMITTED or RESERVED, or abort with PUT /transfers/{id}/error"
            )));
        }
    };
    let command = FulfilCommand {
        id: id.clone(),
        source: request.source.clone(),
        destination: request.destination.clone(),
        mode,
        fulfilment: optional_text(body, &["fulfilment"]).map(str::to_string),
        hash: fspiop::canonical::content_hash(body),
    };
    let record = evidence(state, &request, &id, "transfer.fulfil");
    let outcome = state
        .writer
        .run(move |ledger, tx| {
            Box::pin(async move {
                let outcome = ledger.fulfil(tx, command).await?;
                if matches!(
                    outcome,
                    FulfilOutcome::Committed(..) | FulfilOutcome::Aborted(..)
                ) {
                    tx.append_evidence(&record).await?;
                }
                Ok(outcome)
            })
        })
        .await
        .map_err(store_failed)?;
    match outcome {
        FulfilOutcome::Committed(transfer, FulfilMode::Commit) => {
            let forward = message::forward(
                &request.inbound,
                &transfer.payer,
                EndpointType::TransferPut,
                transfer_target(&id),
            );
            state.dispatcher.send(forward);
        }
        FulfilOutcome::Committed(transfer, FulfilMode::Reserve) => {
            state
                .dispatcher
                .send(transfer_state_message(state, &transfer.payer, &transfer));
            state
                .dispatcher
                .send(commit_notification(state, &transfer, None));
        }
        FulfilOutcome::Refused(error) => {
            state
                .dispatcher
                .send(transfer_error(state, &request.source, &id, &error))
        }
        FulfilOutcome::Aborted(transfer, error, mode) => {
            state
                .dispatcher
                .send(transfer_error(state, &transfer.payer, &id, &error));
            if mode == FulfilMode::Reserve {
                state
                    .dispatcher
                    .send(commit_notification(state, &transfer, Some(&error)));
            } else {
                state
                    .dispatcher
                    .send(transfer_error(state, &transfer.payee, &id, &error));
            }
        }
        FulfilOutcome::Duplicate(duplicate) => {
            handle_duplicate(state, &request.source, &id, duplicate)
        }
    }
    Ok(())
}

/// `PATCH /transfers/{ID}` to the payee: COMMITTED, or ABORTED with the cause in an extension
/// (v1.1 has no PATCH error).
fn commit_notification(
    state: &HubState,
    transfer: &Transfer,
    error: Option<&FspiopError>,
) -> Outbound {
    let completed = transfer
        .completed_at_ms
        .and_then(FspiopDateTime::from_unix_millis)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let mut body =
        json!({ "completedTimestamp": completed, "transferState": transfer.state.external() });
    if let Some(error) = error {
        set(
            &mut body,
            "extensionList",
            json!({"extension": [{"key": "cause", "value": format!("{}: {}", error.code, error.description).chars().take(128).collect::<String>()}]}),
        );
    }
    message::originate(
        &state.hub_name,
        Resource::Transfers,
        Method::Patch,
        format!("/transfers/{}", transfer.id),
        &transfer.payee,
        EndpointType::TransferPut,
        transfer_target(&transfer.id),
        Some(&body),
    )
}

async fn payee_abort(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    let id = item_id(&request.route).to_string();
    let body = &request.body;
    let code = text(body, &["errorInformation", "errorCode"])?.to_string();
    let known = ErrorCode::parse(&code).is_some_and(ErrorCode::is_in_defined_family);
    if !known {
        return Err(FspiopError::validation(format!(
            "errorCode {code} is not in a family the API defines"
        )));
    }
    let command = AbortCommand {
        id: id.clone(),
        source: request.source.clone(),
        error_code: code,
        error_description: text(body, &["errorInformation", "errorDescription"])?.to_string(),
        hash: fspiop::canonical::content_hash(body),
    };
    let record = evidence(state, &request, &id, "transfer.abort");
    let outcome = state
        .writer
        .run(move |ledger, tx| {
            Box::pin(async move {
                let outcome = ledger.abort(tx, command).await?;
                if matches!(outcome, AbortOutcome::Aborted(_)) {
                    tx.append_evidence(&record).await?;
                }
                Ok(outcome)
            })
        })
        .await
        .map_err(store_failed)?;
    match outcome {
        AbortOutcome::Aborted(transfer) => {
            let forward = message::forward(
                &request.inbound,
                &transfer.payer,
                EndpointType::TransferError,
                transfer_target(&id),
            );
            state.dispatcher.send(forward);
        }
        AbortOutcome::Refused(error) => {
            state
                .dispatcher
                .send(transfer_error(state, &request.source, &id, &error))
        }
        AbortOutcome::Duplicate(duplicate) => {
            handle_duplicate(state, &request.source, &id, duplicate)
        }
    }
    Ok(())
}

async fn transfer_query(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    let id = item_id(&request.route).to_string();
    let source = request.source.clone();
    let lookup_id = id.clone();
    let found = state
        .writer
        .read(move |ledger, tx| {
            Box::pin(async move { ledger.transfer_for(tx, &lookup_id, &source).await })
        })
        .await
        .map_err(store_failed)?;
    match found {
        Ok(transfer) => {
            state
                .dispatcher
                .send(transfer_state_message(state, &request.source, &transfer))
        }
        Err(error) => state
            .dispatcher
            .send(transfer_error(state, &request.source, &id, &error)),
    }
    Ok(())
}

/// Delay before expiries whose batch failed are tried again.
const EXPIRY_RETRY_MS: i64 = 1_000;

/// Aborts transfers whose deadline passed and tells both sides (called by the scheduler).
pub async fn expire(state: &HubState, ids: Vec<String>) {
    let retry = ids.clone();
    let expired = state
        .writer
        .run(move |ledger, tx| {
            Box::pin(async move {
                let mut expired = Vec::new();
                for id in ids {
                    if let Some(transfer) = ledger.expire(tx, &id).await? {
                        expired.push(transfer);
                    }
                }
                Ok(expired)
            })
        })
        .await;
    match expired {
        Ok(expired) => {
            for transfer in expired {
                let error = FspiopError::new(ErrorCode::TRANSFER_EXPIRED, "");
                tracing::info!(transfer = %transfer.id, "transfer expired");
                state
                    .dispatcher
                    .send(transfer_error(state, &transfer.payer, &transfer.id, &error));
                state
                    .dispatcher
                    .send(transfer_error(state, &transfer.payee, &transfer.id, &error));
            }
        }
        Err(error) => {
            // The deadlines were taken out of the index; put them back so the transfers are
            // tried again shortly instead of staying reserved until the next restart.
            tracing::error!(%error, count = retry.len(), "expiry batch failed; retrying in 1 s");
            let again = state
                .writer
                .ledger()
                .now_ms()
                .saturating_add(EXPIRY_RETRY_MS);
            for id in retry {
                state.expiry.schedule(again, id);
            }
        }
    }
}

// --------------------------------------------------------------------------------------------
// Quotes

fn quote_target(path: String) -> Target {
    Target {
        path: Some(path),
        ..Target::default()
    }
}

fn quote_error(state: &HubState, to: &str, id: &str, error: &FspiopError) -> Outbound {
    message::error_callback(
        &state.hub_name,
        Resource::Quotes,
        format!("/quotes/{id}/error"),
        to,
        EndpointType::Quotes,
        quote_target(format!("/quotes/{id}/error")),
        error,
    )
}

async fn quotes(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    let destination = require_destination(&request)?;
    let body = &request.body;
    match (&request.method, &request.route) {
        (Method::Post, Route::Collection) => {
            let id = text(body, &["quoteId"])?.to_string();
            let command = QuoteRequestCommand {
                id: id.clone(),
                transaction_id: text(body, &["transactionId"])?.to_string(),
                payer: request.source.clone(),
                payee: destination.clone(),
                amount: amount(body, &["amount", "amount"])?,
                currency: text(body, &["amount", "currency"])?.to_string(),
                hash: fspiop::canonical::content_hash(body),
            };
            let record = evidence(state, &request, &id, "quote.request");
            let outcome = state
                .writer
                .run(move |ledger, tx| {
                    Box::pin(async move {
                        let outcome = ledger.quote_request(tx, command).await?;
                        if matches!(outcome, QuoteOutcome::Forward) {
                            tx.append_evidence(&record).await?;
                        }
                        Ok(outcome)
                    })
                })
                .await
                .map_err(store_failed)?;
            match outcome {
                QuoteOutcome::Forward => {
                    let mut forward = message::forward(
                        &request.inbound,
                        &destination,
                        EndpointType::Quotes,
                        quote_target("/quotes".into()),
                    );
                    let unreachable = FspiopError::new(
                        ErrorCode::DESTINATION_COMMUNICATION_ERROR,
                        format!("{destination} could not be reached"),
                    );
                    forward.fallback = Some(Box::new(quote_error(
                        state,
                        &request.source,
                        &id,
                        &unreachable,
                    )));
                    state.dispatcher.send(forward);
                }
                QuoteOutcome::Refused(error) => {
                    state
                        .dispatcher
                        .send(quote_error(state, &request.source, &id, &error))
                }
            }
            Ok(())
        }
        (Method::Put, Route::Item(id)) => {
            let command = QuoteResponseCommand {
                id: id.clone(),
                source: request.source.clone(),
                destination: destination.clone(),
                transfer_amount: amount(body, &["transferAmount", "amount"])?,
                currency: text(body, &["transferAmount", "currency"])?.to_string(),
                condition: text(body, &["condition"])?.to_string(),
                ilp_packet: text(body, &["ilpPacket"])?.to_string(),
                expiration_ms: datetime_ms(body, &["expiration"])?,
                hash: fspiop::canonical::content_hash(body),
            };
            let record = evidence(state, &request, id, "quote.response");
            let outcome = state
                .writer
                .run(move |ledger, tx| {
                    Box::pin(async move {
                        let outcome = ledger.quote_response(tx, command).await?;
                        if matches!(outcome, QuoteOutcome::Forward) {
                            tx.append_evidence(&record).await?;
                        }
                        Ok(outcome)
                    })
                })
                .await
                .map_err(store_failed)?;
            match outcome {
                QuoteOutcome::Forward => state.dispatcher.send(message::forward(
                    &request.inbound,
                    &destination,
                    EndpointType::Quotes,
                    quote_target(format!("/quotes/{id}")),
                )),
                QuoteOutcome::Refused(error) => {
                    state
                        .dispatcher
                        .send(quote_error(state, &request.source, id, &error))
                }
            }
            Ok(())
        }
        (Method::Put, Route::ItemError(id)) => {
            // Only the quote's payer or payee may end it, and only towards the other one.
            let command = QuoteErrorCommand {
                id: id.clone(),
                source: request.source.clone(),
                destination: destination.clone(),
            };
            let outcome = state
                .writer
                .run(move |ledger, tx| {
                    Box::pin(async move { ledger.quote_error(tx, command).await })
                })
                .await
                .map_err(store_failed)?;
            match outcome {
                QuoteOutcome::Forward => {
                    forward_to_active(
                        state,
                        &request,
                        &destination,
                        EndpointType::Quotes,
                        quote_target(format!("/quotes/{id}/error")),
                    )
                    .await
                }
                QuoteOutcome::Refused(error) => {
                    state.metrics.security_refusal("quote.answer_refused");
                    state
                        .dispatcher
                        .send(quote_error(state, &request.source, id, &error));
                    Ok(())
                }
            }
        }
        (Method::Get, Route::Item(id)) => {
            forward_to_active(
                state,
                &request,
                &destination,
                EndpointType::Quotes,
                quote_target(format!("/quotes/{id}")),
            )
            .await
        }
        _ => Err(FspiopError::new(
            ErrorCode::GENERIC_CLIENT_ERROR,
            "method not allowed",
        )),
    }
}

/// Forwards to a destination that must be an active participant (else a synchronous `3201`).
async fn forward_to_active(
    state: &HubState,
    request: &Accepted,
    destination: &str,
    endpoint: EndpointType,
    target: Target,
) -> Result<(), FspiopError> {
    if state.directory.active(destination).await != Some(true) {
        return Err(FspiopError::new(
            ErrorCode::DESTINATION_FSP_ERROR,
            format!("FSPIOP-Destination {destination} is not an active participant"),
        ));
    }
    state.dispatcher.send(message::forward(
        &request.inbound,
        destination,
        endpoint,
        target,
    ));
    Ok(())
}

// --------------------------------------------------------------------------------------------
// Pass-through resources (transaction requests, authorizations, bulk quotes)

async fn pass_through(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    let destination = require_destination(&request)?;
    let endpoint = match request.resource {
        Resource::TransactionRequests => EndpointType::TransactionRequests,
        Resource::Authorizations => EndpointType::Authorizations,
        _ => EndpointType::BulkQuotes,
    };
    let path = request.inbound.path.clone();
    let from = path
        .find(&format!("/{}", request.resource.name()))
        .unwrap_or(0);
    let target = Target {
        path: Some(path.get(from..).unwrap_or(&path).to_string()),
        ..Target::default()
    };
    forward_to_active(state, &request, &destination, endpoint, target).await
}

// --------------------------------------------------------------------------------------------
// Parties (lookup through the built-in oracle)

fn party_target(id_type: &str, identifier: &str, sub_id: &Option<String>) -> Target {
    Target {
        party_id_type: Some(id_type.to_string()),
        party_identifier: Some(identifier.to_string()),
        party_sub_id: sub_id.clone(),
        ..Target::default()
    }
}

fn party_path(id_type: &str, identifier: &str, sub_id: &Option<String>) -> String {
    let encode = fspiop::endpoint::encode_segment;
    match sub_id {
        Some(sub) => format!(
            "/parties/{}/{}/{}",
            encode(id_type),
            encode(identifier),
            encode(sub)
        ),
        None => format!("/parties/{}/{}", encode(id_type), encode(identifier)),
    }
}

async fn parties(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    match (&request.method, request.route.clone()) {
        (
            Method::Get,
            Route::Party {
                id_type,
                identifier,
                sub_id,
            },
        ) => {
            let endpoint = if sub_id.is_some() {
                EndpointType::PartiesSubIdGet
            } else {
                EndpointType::PartiesGet
            };
            let target = party_target(&id_type, &identifier, &sub_id);
            let owner = lookup_owner(state, &id_type, &identifier, sub_id.as_deref()).await?;
            if let Some(destination) = request.destination.clone() {
                // The requester named the FSP to ask. Unless that is the party's owner (whose
                // answer is always accepted), remember the routing so that this FSP, and no
                // other, may answer the requester about this party.
                let to_owner = owner
                    .as_deref()
                    .is_some_and(|owner| owner.eq_ignore_ascii_case(&destination));
                if !to_owner {
                    if state.directory.active(&destination).await != Some(true) {
                        return Err(FspiopError::new(
                            ErrorCode::DESTINATION_FSP_ERROR,
                            format!(
                                "FSPIOP-Destination {destination} is not an active participant"
                            ),
                        ));
                    }
                    let (requester, routed_to) = (request.source.clone(), destination.clone());
                    let (t, i, s) = (
                        id_type.clone(),
                        identifier.clone(),
                        sub_id.clone().unwrap_or_default(),
                    );
                    state
                        .writer
                        .run(move |ledger, tx| {
                            Box::pin(async move {
                                ledger
                                    .route_party_lookup(tx, &requester, &routed_to, &t, &i, &s)
                                    .await
                            })
                        })
                        .await
                        .map_err(store_failed)??;
                }
                return forward_to_active(state, &request, &destination, endpoint, target).await;
            }
            match owner {
                Some(owner) if state.directory.active(&owner).await == Some(true) => {
                    state.dispatcher.send(message::forward(
                        &request.inbound,
                        &owner,
                        endpoint,
                        target,
                    ));
                }
                _ => {
                    let error = FspiopError::new(
                        ErrorCode::PARTY_NOT_FOUND,
                        format!("no participant owns {id_type}/{identifier}"),
                    );
                    let error_endpoint = if sub_id.is_some() {
                        EndpointType::PartiesSubIdPutError
                    } else {
                        EndpointType::PartiesPutError
                    };
                    let uri = format!("{}/error", party_path(&id_type, &identifier, &sub_id));
                    state.dispatcher.send(message::error_callback(
                        &state.hub_name,
                        Resource::Parties,
                        uri,
                        &request.source,
                        error_endpoint,
                        target,
                        &error,
                    ));
                }
            }
            Ok(())
        }
        (
            Method::Put,
            Route::Party {
                id_type,
                identifier,
                sub_id,
            },
        ) => {
            let destination = require_destination(&request)?;
            check_party_answer(
                state,
                &request,
                &destination,
                &id_type,
                &identifier,
                &sub_id,
            )
            .await?;
            let endpoint = if sub_id.is_some() {
                EndpointType::PartiesSubIdPut
            } else {
                EndpointType::PartiesPut
            };
            forward_to_active(
                state,
                &request,
                &destination,
                endpoint,
                party_target(&id_type, &identifier, &sub_id),
            )
            .await
        }
        (
            Method::Put,
            Route::PartyError {
                id_type,
                identifier,
                sub_id,
            },
        ) => {
            let destination = require_destination(&request)?;
            check_party_answer(
                state,
                &request,
                &destination,
                &id_type,
                &identifier,
                &sub_id,
            )
            .await?;
            let endpoint = if sub_id.is_some() {
                EndpointType::PartiesSubIdPutError
            } else {
                EndpointType::PartiesPutError
            };
            forward_to_active(
                state,
                &request,
                &destination,
                endpoint,
                party_target(&id_type, &identifier, &sub_id),
            )
            .await
        }
        _ => Err(FspiopError::new(
            ErrorCode::GENERIC_CLIENT_ERROR,
            "method not allowed",
        )),
    }
}

/// The party's owner in the oracle: its oldest registration, whatever the currencies.
async fn lookup_owner(
    state: &HubState,
    id_type: &str,
    identifier: &str,
    sub_id: Option<&str>,
) -> Result<Option<String>, FspiopError> {
    let (id_type, identifier, sub_id) = (
        id_type.to_string(),
        identifier.to_string(),
        sub_id.unwrap_or_default().to_string(),
    );
    state
        .writer
        .read(move |ledger, tx| {
            Box::pin(async move { ledger.party_owner(tx, &id_type, &identifier, &sub_id).await })
        })
        .await
        .map_err(store_failed)
}

/// A `PUT /parties/...` (or its `/error`) is forwarded only from the FSP the hub routed the
/// requester's lookup to: the party's owner, or the FSP the requester named. Anything else is
/// refused (`3100`), audited (`oracle.answer_refused`) and not forwarded. The check reads the
/// store (owner and routed lookups live there), so any hub node sharing it gives the same
/// answer.
async fn check_party_answer(
    state: &HubState,
    request: &Accepted,
    requester: &str,
    id_type: &str,
    identifier: &str,
    sub_id: &Option<String>,
) -> Result<(), FspiopError> {
    let sender = request.source.clone();
    let (to, t, i, s) = (
        requester.to_string(),
        id_type.to_string(),
        identifier.to_string(),
        sub_id.clone().unwrap_or_default(),
    );
    let allowed = state
        .writer
        .read(move |ledger, tx| {
            Box::pin(async move {
                ledger
                    .party_answer_allowed(tx, &sender, &to, &t, &i, &s)
                    .await
            })
        })
        .await
        .map_err(store_failed)?;
    let Err(error) = allowed else {
        return Ok(());
    };
    state.metrics.security_refusal("oracle.answer_refused");
    let actor = request.source.clone();
    let subject =
        ledger::engine::party_subject(id_type, identifier, sub_id.as_deref().unwrap_or_default());
    let detail = json!({
        "method": request.method.as_str(),
        "requester": requester,
        "reason": error.description,
    })
    .to_string();
    state
        .writer
        .run(move |ledger, tx| {
            Box::pin(async move {
                ledger
                    .audit_denied(tx, &actor, "oracle.answer_refused", &subject, detail)
                    .await
            })
        })
        .await
        .map_err(store_failed)?;
    Err(error)
}

// --------------------------------------------------------------------------------------------
// Participants (the built-in oracle's registry)

fn participant_uri(id_type: &str, identifier: &str, sub_id: &Option<String>) -> String {
    party_path(id_type, identifier, sub_id).replacen("/parties/", "/participants/", 1)
}

async fn participants(state: &HubState, request: Accepted) -> Result<(), FspiopError> {
    match (&request.method, request.route.clone()) {
        (Method::Post, Route::Collection) => participants_batch(state, &request).await,
        (
            method,
            Route::Party {
                id_type,
                identifier,
                sub_id,
            },
        ) => {
            let target = party_target(&id_type, &identifier, &sub_id);
            let uri = participant_uri(&id_type, &identifier, &sub_id);
            let (put, put_error) = if sub_id.is_some() {
                (
                    EndpointType::ParticipantSubIdPut,
                    EndpointType::ParticipantSubIdPutError,
                )
            } else {
                (
                    EndpointType::ParticipantPut,
                    EndpointType::ParticipantPutError,
                )
            };
            let source = request.source.clone();
            let sub = sub_id.clone().unwrap_or_default();
            let result: Result<Value, FspiopError> = match method {
                Method::Post => {
                    let party = PartyRegistration {
                        id_type: id_type.clone(),
                        identifier: identifier.clone(),
                        sub_id: sub,
                        fsp_id: text(&request.body, &["fspId"])?.to_string(),
                        currency: optional_text(&request.body, &["currency"])
                            .unwrap_or_default()
                            .to_string(),
                    };
                    let fsp = party.fsp_id.clone();
                    let done = state
                        .writer
                        .run(move |ledger, tx| {
                            Box::pin(async move { ledger.register_party(tx, &source, party).await })
                        })
                        .await
                        .map_err(store_failed)?;
                    done.map(|()| json!({ "fspId": fsp }))
                }
                Method::Delete => {
                    let (t, i) = (id_type.clone(), identifier.clone());
                    let done = state
                        .writer
                        .run(move |ledger, tx| {
                            Box::pin(
                                async move { ledger.delete_party(tx, &source, &t, &i, &sub).await },
                            )
                        })
                        .await
                        .map_err(store_failed)?;
                    done.map(|()| json!({}))
                }
                _ => match lookup_owner(state, &id_type, &identifier, sub_id.as_deref()).await? {
                    Some(owner) => Ok(json!({ "fspId": owner })),
                    None => Err(FspiopError::new(
                        ErrorCode::PARTY_NOT_FOUND,
                        format!("no participant owns {id_type}/{identifier}"),
                    )),
                },
            };
            let reply = match result {
                Ok(body) => message::originate(
                    &state.hub_name,
                    Resource::Participants,
                    Method::Put,
                    uri,
                    &request.source,
                    put,
                    target,
                    Some(&body),
                ),
                Err(error) => message::error_callback(
                    &state.hub_name,
                    Resource::Participants,
                    format!("{uri}/error"),
                    &request.source,
                    put_error,
                    target,
                    &error,
                ),
            };
            state.dispatcher.send(reply);
            Ok(())
        }
        _ => Err(FspiopError::new(
            ErrorCode::GENERIC_CLIENT_ERROR,
            "method not allowed",
        )),
    }
}

async fn participants_batch(state: &HubState, request: &Accepted) -> Result<(), FspiopError> {
    let body = &request.body;
    let request_id = text(body, &["requestId"])?.to_string();
    let currency = optional_text(body, &["currency"])
        .unwrap_or_default()
        .to_string();
    let list = body
        .get("partyList")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let source = request.source.clone();
    let batch_currency = currency.clone();
    let results = state
        .writer
        .run(move |ledger, tx| {
            Box::pin(async move {
                let mut results = Vec::with_capacity(list.len());
                for party in list {
                    let registration = PartyRegistration {
                        id_type: party
                            .get("partyIdType")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        identifier: party
                            .get("partyIdentifier")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        sub_id: party
                            .get("partySubIdOrType")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string(),
                        fsp_id: party
                            .get("fspId")
                            .and_then(Value::as_str)
                            .unwrap_or(&source)
                            .to_string(),
                        currency: batch_currency.clone(),
                    };
                    let outcome = ledger.register_party(tx, &source, registration).await?;
                    let mut result = json!({ "partyId": party });
                    if let Err(error) = outcome {
                        set(
                            &mut result,
                            "errorInformation",
                            serde_json::to_value(error.to_body().error_information)
                                .unwrap_or_default(),
                        );
                    }
                    results.push(result);
                }
                Ok(results)
            })
        })
        .await
        .map_err(store_failed)?;
    let mut reply = json!({ "partyList": results });
    if !currency.is_empty() {
        set(&mut reply, "currency", json!(currency));
    }
    let target = Target {
        request_id: Some(request_id.clone()),
        ..Target::default()
    };
    state.dispatcher.send(message::originate(
        &state.hub_name,
        Resource::Participants,
        Method::Put,
        format!("/participants/{request_id}"),
        &request.source,
        EndpointType::ParticipantBatchPut,
        target,
        Some(&reply),
    ));
    Ok(())
}
