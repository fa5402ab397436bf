//! A supplier's withdrawal requests (the supplier API's `POST /withdrawals`, the desk's
//! "withdraw") and the operator's decision on one (the operator API's
//! `/withdrawals/{id}/complete|reject`, `souk admin withdrawal complete|reject`): paid
//! out of band, or rejected, which releases its earnings to be requested again.

use serde_json::json;
use souk_core::Money;
use souk_store::{Store, StoreError, Withdrawal};

use crate::operators::Acting;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WithdrawalDecision {
    Paid,
    Rejected,
}

#[derive(Clone, Debug)]
pub struct DecideWithdrawal {
    pub withdrawal_id: String,
    pub decision: WithdrawalDecision,
    pub note: String,
}

/// Only a `requested` withdrawal can be decided; another is a `Conflict`.
pub async fn decide(
    store: &Store,
    command: DecideWithdrawal,
    now: i64,
) -> Result<Withdrawal, StoreError> {
    let paid = command.decision == WithdrawalDecision::Paid;
    store
        .decide_withdrawal(&command.withdrawal_id, paid, &command.note, now)
        .await
}

/// `decide` by `actor` (the operator API, `souk admin`), audited
/// (`withdrawal.complete` or `withdrawal.reject`) with the withdrawal as decided, in the
/// transaction of the decision.
pub async fn decide_as(
    store: &Store,
    actor: &Acting,
    command: DecideWithdrawal,
    now: i64,
) -> Result<Withdrawal, StoreError> {
    let paid = command.decision == WithdrawalDecision::Paid;
    let id = command.withdrawal_id.as_str();
    let action = if paid {
        "withdrawal.complete"
    } else {
        "withdrawal.reject"
    };
    store
        .decide_withdrawal_audited(id, paid, &command.note, now, |w| {
            Some(actor.audit_entry(
                action,
                &format!("withdrawal:{id}"),
                Some(json!({ "status": "requested" })),
                Some(json!({
                    "status": w.status,
                    "amount": Money::from_micros(w.amount).display2(),
                    "shop": w.shop_id,
                    "resolution": w.resolution,
                })),
            ))
        })
        .await
}

/// Everything available in one of the supplier's shops (the caller checks it is theirs).
pub async fn request(
    store: &Store,
    supplier_id: &str,
    shop_id: &str,
    note: &str,
    now: i64,
) -> Result<Withdrawal, StoreError> {
    store
        .request_withdrawal(supplier_id, shop_id, note, now)
        .await
}

/// Everything available, one request per shop that has some.
pub async fn request_everything(
    store: &Store,
    supplier_id: &str,
    note: &str,
    now: i64,
) -> Result<Vec<Withdrawal>, StoreError> {
    store.withdraw_everything(supplier_id, note, now).await
}
