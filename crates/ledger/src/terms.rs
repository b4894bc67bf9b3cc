//! The terms check: the money a transfer moves must be the money the payee agreed to.
//!
//! The reference switch only checks that a fulfilment hashes to the condition. Under
//! [`IlpPolicy::Strict`] the hub also opens the ILP packet of every prepare and checks that
//! its amount (in the currency's minor units), condition and expiry agree with the transfer, and
//! that the transfer repeats, field for field, the quote answer the hub forwarded from the payee
//! (payer, payee, amount, condition, ILP packet). Any mismatch refuses the prepare with `3100`
//! and a detail naming the field, before anything is reserved.

use fspiop::{FspiopDateTime, FspiopError};
use ilp::Packet;

use crate::engine::PrepareCommand;
use crate::store::{LedgerTx, StoreError};

/// How much of the agreed terms the hub verifies on prepare (a scheme rule).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum IlpPolicy {
    /// Decode the packet; amount, condition and expiry must agree with the transfer, and the
    /// transfer must match the quote forwarded through this hub.
    #[default]
    Strict,
    /// Only the reference switch's check: the condition is 32 bytes (checked at the edge) and
    /// the fulfilment must hash to it.
    ConditionOnly,
}

/// Runs the strict checks; `Ok(Err(..))` is a refusal.
pub(crate) async fn check(
    tx: &mut dyn LedgerTx,
    command: &PrepareCommand,
) -> Result<Result<(), FspiopError>, StoreError> {
    let refuse = |detail: String| Ok(Err(FspiopError::validation(detail)));
    let packet = match Packet::from_base64url(&command.ilp_packet) {
        Ok(packet) => packet,
        Err(error) => return refuse(format!("ilpPacket is not a valid ILP packet: {error}")),
    };
    let amount_text = command.amount.to_string();
    let minor = match ilp::amount_to_minor_units(&amount_text, &command.currency) {
        Ok(minor) => minor,
        Err(_) => {
            return refuse(format!(
                "amount {amount_text} has more decimals than {} allows",
                command.currency
            ));
        }
    };
    let (packet_amount, packet_expiry_ms) = match &packet {
        Packet::Payment(payment) => (payment.amount(), None),
        Packet::Prepare(prepare) => {
            if prepare.execution_condition().to_base64url() != command.condition {
                return refuse(
                    "condition does not equal the ilpPacket's execution condition".into(),
                );
            }
            let expires = prepare.expires_at().to_offset_datetime();
            (
                prepare.amount(),
                Some(FspiopDateTime::from_offset(expires).unix_millis()),
            )
        }
        _ => return refuse("ilpPacket must be an ILPv1 payment or an ILPv4 prepare".into()),
    };
    if packet_amount != minor {
        return refuse(format!(
            "ilpPacket amount {packet_amount} (minor units) does not match the transfer amount {amount_text} {}",
            command.currency
        ));
    }
    let transaction = match ilp::terms::transaction_from_data(packet.data()) {
        Ok(transaction) => transaction,
        Err(error) => {
            return refuse(format!(
                "ilpPacket data is not a Mojaloop transaction: {error}"
            ));
        }
    };
    // ILPv4 carries the expiry in the packet; with ILPv1 the SDK records it in the transaction.
    let transaction_expiry_ms = transaction
        .get("expiration")
        .and_then(|v| v.as_str())
        .and_then(|text| FspiopDateTime::parse(text).ok())
        .map(FspiopDateTime::unix_millis);
    if let Some(expiry) = packet_expiry_ms.or(transaction_expiry_ms)
        && command.expiration_ms > expiry
    {
        return refuse(
            "transfer expiration is later than the expiry the payee agreed in the ilpPacket".into(),
        );
    }
    let Some(quote_id) = transaction.get("quoteId").and_then(|v| v.as_str()) else {
        return refuse("ilpPacket transaction has no quoteId".into());
    };
    let Some(quote) = tx.quote(quote_id).await? else {
        return refuse(format!(
            "quote {quote_id} named in the ilpPacket was not agreed through this hub"
        ));
    };
    let answered = quote.condition.is_some() && quote.ilp_packet.is_some();
    if !answered {
        return refuse(format!(
            "quote {quote_id} has not been answered by the payee"
        ));
    }
    let mismatch = if !quote.payer.eq_ignore_ascii_case(&command.payer) {
        Some("payerFsp")
    } else if !quote.payee.eq_ignore_ascii_case(&command.payee) {
        Some("payeeFsp")
    } else if quote.transfer_amount != Some(command.amount.decimal())
        || quote.currency != command.currency
    {
        Some("amount")
    } else if quote.condition.as_deref() != Some(command.condition.as_str()) {
        Some("condition")
    } else if quote.ilp_packet.as_deref() != Some(command.ilp_packet.as_str()) {
        Some("ilpPacket")
    } else {
        None
    };
    if let Some(field) = mismatch {
        return refuse(format!(
            "{field} does not match quote {quote_id} as the payee answered it"
        ));
    }
    Ok(Ok(()))
}
