//! What an operator does to one order from the console besides settling an unknown
//! send (`operators::resolve_order`): cancel it with a full refund, or refund what is
//! left undelivered. Admins and owners only; each is an audit row with the order's
//! status and refunded total before and after, written in the transaction that closes it.

use serde_json::json;
use souk_core::Money;
use souk_store::{Closing, Store};

use crate::operators::{Acting, OperatorError, Permission};

/// Closes an open order as asked; answers what was refunded now.
pub async fn close_order(
    store: &Store,
    actor: &Acting,
    order_id: i64,
    closing: Closing,
    now: i64,
) -> Result<Money, OperatorError> {
    actor.require(Permission::Change)?;
    let action = match closing {
        Closing::Cancel => "order.cancel",
        Closing::RefundRest => "order.refund_rest",
    };
    // Closed and audited in one transaction, the order before and after read in it.
    Ok(store
        .close_order_by_operator_audited(order_id, closing, now, |before, after, refund| {
            Some(actor.audit_entry(
                action,
                &format!("order:{order_id}"),
                Some(json!({
                    "status": before.0,
                    "refunded": Money::from_micros(before.1).display2(),
                })),
                Some(json!({
                    "status": after.0,
                    "refunded": Money::from_micros(after.1).display2(),
                    "refundedNow": refund.display2(),
                })),
            ))
        })
        .await?)
}
