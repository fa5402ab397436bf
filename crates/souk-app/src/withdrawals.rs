//! The operator's decision on a supplier's withdrawal request (the operator API's
//! `/withdrawals/{id}/complete|reject`, `souk admin withdrawal complete|reject`): paid
//! out of band, or rejected, which releases its earnings to be requested again.

use souk_store::{Store, StoreError, Withdrawal};

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
