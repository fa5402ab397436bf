//! What an operator does to one order from the console besides settling an unknown
//! send (`operators::resolve_order`): cancel it with a full refund, or refund what is
//! left undelivered. Admins and owners only; each is an audit row with the order's
//! status and refunded total before and after.

use serde_json::json;
use souk_core::Money;
use souk_store::{Closing, Store, StoreError};

use crate::operators::{audit, Acting, OperatorError, Permission};

/// Closes an open order as asked; answers what was refunded now.
pub async fn close_order(
    store: &Store,
    actor: &Acting,
    order_id: i64,
    closing: Closing,
    now: i64,
) -> Result<Money, OperatorError> {
    actor.require(Permission::Change)?;
    let before = store
        .console_order(order_id)
        .await?
        .ok_or(StoreError::NotFound("Order"))?;
    let refund = store
        .close_order_by_operator(order_id, closing, now)
        .await?;
    let after = store
        .console_order(order_id)
        .await?
        .ok_or(StoreError::NotFound("Order"))?;
    let action = match closing {
        Closing::Cancel => "order.cancel",
        Closing::RefundRest => "order.refund_rest",
    };
    audit(
        store,
        &actor.id,
        &actor.email,
        action,
        &format!("order:{order_id}"),
        Some(json!({
            "status": before.status,
            "refunded": Money::from_micros(before.refunded).display2(),
        })),
        Some(json!({
            "status": after.status,
            "refunded": Money::from_micros(after.refunded).display2(),
            "refundedNow": refund.display2(),
        })),
        now,
    )
    .await?;
    Ok(refund)
}
