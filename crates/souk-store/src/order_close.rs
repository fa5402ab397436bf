//! The operator closes an open order by hand from the console: cancelled with a full
//! refund (nothing delivered, no provider holds it), or what is undelivered refunded and
//! the order ended. The checks read the order in the transaction that refunds, so two
//! operators clicking at once refund once.

use souk_core::order::OrderStatus;
use souk_core::supply;
use souk_core::Money;

use crate::db::{on_engine, BeginWrite, Engine};
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::orders::OrderSteps;
use crate::{Result, Store, StoreError};

/// How the operator closes an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closing {
    /// Nothing delivered and never sent to a provider: canceled, refunded in full.
    Cancel,
    /// The undelivered part refunded; the order ends partial (canceled if nothing was).
    RefundRest,
}

type CloseRow = (
    String,         // user_id
    String,         // kind
    String,         // status
    String,         // payment_status
    i64,            // quantity
    i64,            // delivered
    Option<i64>,    // remains
    i64,            // charge
    i64,            // refunded
    Option<String>, // external_id, or 'forwarding' once a send started
);

impl Store {
    /// Closes an open order as the operator asked; answers what was refunded now.
    /// Refusals (`Invalid`, `Conflict`, `NotFound`) change nothing.
    pub async fn close_order_by_operator(
        &self,
        order_id: i64,
        closing: Closing,
        now: i64,
    ) -> Result<Money> {
        self.close_order_by_operator_audited(order_id, closing, now, |_, _, _| None)
            .await
    }

    /// `close_order_by_operator` with the audit row `audit` makes of the order's
    /// (status, refunded) before and after and the refund, all read in the transaction
    /// that closes it, written in it (none for `None`).
    pub async fn close_order_by_operator_audited(
        &self,
        order_id: i64,
        closing: Closing,
        now: i64,
        audit: impl FnOnce((&str, i64), (&str, i64), Money) -> Option<NewAuditEntry> + Send,
    ) -> Result<Money> {
        let lock = if self.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let select = format!(
            "SELECT user_id, kind, status, payment_status, quantity, delivered, remains, charge, refunded, \
             COALESCE(external_id, CASE WHEN sent_at IS NOT NULL THEN 'forwarding' END) \
             FROM orders WHERE id = $1{lock}"
        );
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<CloseRow> = sqlx::query_as(&select)
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((user, kind, status, payment, quantity, delivered, remains, charge, refunded, upstream)) = row else {
                return Err(StoreError::NotFound("Order"));
            };
            if kind == "sms" {
                return Err(StoreError::Invalid(format!(
                    "Order {order_id} is an SMS rental: it is refunded by its own rules"
                )));
            }
            if !OrderStatus::parse(&status).is_some_and(OrderStatus::is_open) {
                return Err(StoreError::Conflict(format!(
                    "Order {order_id} is {status}: it is closed already"
                )));
            }
            if payment == "pending" {
                return Err(StoreError::Conflict(format!("Order {order_id} is not paid yet")));
            }
            // SMM orders count what is done through `remains`.
            let delivered = if kind == "smm" {
                quantity - remains.unwrap_or(quantity).clamp(0, quantity)
            } else {
                delivered
            };
            if closing == Closing::Cancel {
                if upstream.is_some() {
                    return Err(StoreError::Conflict(format!(
                        "A provider has (or may have) order {order_id}: refund what is left instead"
                    )));
                }
                if delivered > 0 {
                    return Err(StoreError::Conflict(format!(
                        "Part of order {order_id} was delivered: refund what is left instead"
                    )));
                }
            }
            let (refund, final_status) = supply::fail_outcome(
                Money::from_micros(charge),
                Money::from_micros(refunded),
                quantity,
                delivered,
            );
            let why = match closing {
                Closing::Cancel => "canceled by the operator",
                Closing::RefundRest => "the rest refunded by the operator",
            };
            // Books the refund and the final status, and drops the order's jobs: a
            // closed order is never sent or polled again.
            tx.book_refund(order_id, &user, refund, final_status, why, now).await?;
            sqlx::query("UPDATE orders SET remains = $1 WHERE id = $2")
                .bind(quantity - delivered)
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
            let (after_status, after_refunded): (String, i64) =
                sqlx::query_as("SELECT status, refunded FROM orders WHERE id = $1")
                    .bind(order_id)
                    .fetch_one(&mut *tx)
                    .await?;
            if let Some(entry) = audit((&status, refunded), (&after_status, after_refunded), refund) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(refund)
        })
    }
}
