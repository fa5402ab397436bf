//! The operator's change to a buyer's balance (the operator API's
//! `POST /users/{id}/balance`, `souk admin balance add|adjust`): decided by
//! `souk_core::balance`, booked through the ledger in one store transaction that never
//! lets the balance go below zero.

use souk_core::balance::{self, BalanceRefusal, BalanceRequest};
use souk_core::Money;
use souk_store::{Store, StoreError};

/// Whose balance: the API names users by id, the CLI by email.
#[derive(Clone, Debug)]
pub enum Account {
    Id(String),
    Email(String),
}

#[derive(Clone, Debug)]
pub struct AdjustBalance {
    pub account: Account,
    /// Signed: a debit is negative.
    pub amount: Money,
    pub request: BalanceRequest,
    pub note: String,
}

#[derive(Clone, Debug)]
pub struct Adjusted {
    pub user_id: String,
    pub balance: Money,
}

#[derive(Debug, thiserror::Error)]
pub enum BalanceError {
    /// Refused by the rule; nothing was looked up or booked.
    #[error(transparent)]
    Refused(BalanceRefusal),
    #[error("no user with this email")]
    NoUserWithEmail,
    /// Refused or failed in the store (zero amount, below zero, unknown user id).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rule is checked before the user is looked up, so a refused change says why
/// whoever it was for.
pub async fn adjust_balance(
    store: &Store,
    command: AdjustBalance,
    now: i64,
) -> Result<Adjusted, BalanceError> {
    let (user_id, change) = checked(store, &command).await?;
    let balance = store
        .adjust_balance(
            &user_id,
            command.amount,
            change.kind.as_str(),
            &change.note,
            now,
        )
        .await?;
    Ok(Adjusted { user_id, balance })
}

/// `adjust_balance` by `actor` (the operator API), booked and audited (`user.balance`,
/// as the console's) in one transaction with the balance before and after read in it.
pub async fn adjust_balance_as(
    store: &Store,
    actor: &crate::operators::Acting,
    command: AdjustBalance,
    now: i64,
) -> Result<Adjusted, BalanceError> {
    let (user_id, change) = checked(store, &command).await?;
    let subject = format!("user:{user_id}");
    let amount = command.amount;
    let balance = store
        .adjust_balance_audited(
            &user_id,
            amount,
            change.kind.as_str(),
            &change.note,
            now,
            |before, after| {
                Some(actor.audit_entry(
                    "user.balance",
                    &subject,
                    Some(serde_json::json!({ "balance": before.display2() })),
                    Some(serde_json::json!({
                        "balance": after.display2(),
                        "amount": amount.display2(),
                        "reason": change.note,
                    })),
                ))
            },
        )
        .await?;
    Ok(Adjusted { user_id, balance })
}

/// The command's change as the ledger books it and whose balance it is.
async fn checked(
    store: &Store,
    command: &AdjustBalance,
) -> Result<(String, balance::BalanceChange), BalanceError> {
    let change = balance::balance_change(command.request, command.amount, &command.note)
        .map_err(BalanceError::Refused)?;
    let user_id = match &command.account {
        Account::Id(id) => id.clone(),
        Account::Email(email) => store
            .user_id_by_email(email)
            .await?
            .ok_or(BalanceError::NoUserWithEmail)?,
    };
    Ok((user_id, change))
}
