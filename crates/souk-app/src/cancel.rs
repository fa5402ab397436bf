//! Early cancel of one order (`/api/v2` `cancel` and `allowcancel`): SMS orders follow
//! SPEC 10's rule (a full refund after two minutes and before any code), every other
//! order SPEC 8's (the undelivered part, once the order qualifies). A caller asking about
//! several orders asks once per order: each is its own transaction, so one that fails
//! leaves the others alone.

use souk_core::ApiError;
pub use souk_store::CancelOutcome;
use souk_store::{Store, StoreError};

/// One order the buyer wants cancelled, or (`dry_run`) only asks whether it could be.
#[derive(Clone, Debug)]
pub struct CancelOrder {
    pub user_id: String,
    pub order_id: i64,
    /// `allowcancel`: decide and answer, change nothing.
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    /// Refused with the API's own words; nothing was refunded.
    #[error(transparent)]
    Rejected(ApiError),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for CancelError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(api) => CancelError::Rejected(api),
            other => CancelError::Store(other),
        }
    }
}

/// Decides (and unless `dry_run`, carries out) the cancel of one order. `NotFound` when
/// the order is not the buyer's.
pub async fn cancel_order(
    store: &Store,
    command: CancelOrder,
    now: i64,
) -> Result<CancelOutcome, CancelError> {
    let CancelOrder {
        user_id,
        order_id,
        dry_run,
    } = command;
    let store = store.clone();
    let decide = async move {
        match store.sms_cancel(&user_id, order_id, dry_run, now).await? {
            Some(outcome) => Ok(outcome),
            None => store.early_cancel(&user_id, order_id, dry_run, now).await,
        }
    };
    let decided = if dry_run {
        decide.await
    } else {
        // A refund runs to completion even if the caller goes away mid-request (a client
        // hanging up drops the request's future), so it is never left half-booked.
        tokio::spawn(decide)
            .await
            .unwrap_or_else(|e| Err(StoreError::task_failed("cancel", &e)))
    };
    Ok(decided?)
}

/// Handlers run this on a multi-threaded runtime: its future must be `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(store: &Store, command: CancelOrder) {
    fn is_send<T: Send>(_: T) {}
    is_send(cancel_order(store, command, 0));
}
