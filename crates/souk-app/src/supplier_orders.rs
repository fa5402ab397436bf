//! What a supplier does to the orders of their shops (the supplier API's
//! `/orders/{order}/...` and the desk pages): deliver accounts to a manual product order,
//! fail what is left of an order (refunding the undelivered part), and report progress on
//! a manual SMM order. Each is one store transaction that checks the order is the
//! supplier's and still open; a refusal is a typed `StoreError::Supply` or `NotFound`.

use souk_core::supply::Progress;
use souk_store::{OrderProgress, Store, StoreError};

/// Accounts for one of the supplier's manual product orders, as the supplier typed them
/// (validated by the store, which seals them).
#[derive(Clone, Debug)]
pub struct Deliver {
    pub supplier_id: String,
    pub order_id: i64,
    pub accounts: Vec<String>,
}

/// Ends what is left of one of the supplier's open orders, with the supplier's reason.
#[derive(Clone, Debug)]
pub struct FailOrder {
    pub supplier_id: String,
    pub order_id: i64,
    pub reason: String,
}

/// A progress report on one of the supplier's manual SMM orders.
#[derive(Clone, Debug)]
pub struct ReportProgress {
    pub supplier_id: String,
    pub order_id: i64,
    pub report: Progress,
}

/// The order goes to processing, and to completed once everything is delivered.
pub async fn deliver(
    store: &Store,
    command: Deliver,
    now: i64,
) -> Result<OrderProgress, StoreError> {
    store
        .deliver(
            &command.supplier_id,
            command.order_id,
            &command.accounts,
            now,
        )
        .await
}

/// The undelivered part is refunded to the buyer (`refunded_now`); the order ends
/// `Partial` when something was delivered, `Canceled` otherwise.
pub async fn fail(
    store: &Store,
    command: FailOrder,
    now: i64,
) -> Result<OrderProgress, StoreError> {
    store
        .fail_order(&command.supplier_id, command.order_id, &command.reason, now)
        .await
}

/// Completion refunds any remains (`refunded_now`).
pub async fn report_progress(
    store: &Store,
    command: ReportProgress,
    now: i64,
) -> Result<OrderProgress, StoreError> {
    store
        .report_progress(&command.supplier_id, command.order_id, &command.report, now)
        .await
}
