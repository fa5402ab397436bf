//! What a buyer may ask of an SMS activation once it is rented (the sms-activate
//! protocol's `setStatus`, SPEC 10): say it is ready, ask for another SMS on the same
//! number, complete it, or cancel it for a refund.
//!
//! Upstream activations are told from an outbox, not from the request: the store change
//! that ends or reopens an activation rented from an upstream sms-activate provider also
//! queues what that provider must hear (`setStatus` 3 for another SMS, 6 to complete, 8
//! to cancel), and the SMS upstream loop (`souk_workers::sms`) sends it with a lease and
//! retries. So an answer to the buyer never waits on, or is lost to, a provider outage.

use souk_core::early_cancel::Reason;
use souk_store::{CancelOutcome, SmsActivation, SmsTransition, Store, StoreError};

/// The change a buyer asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuyerStep {
    /// The buyer is ready to receive the SMS: nothing to change while it is open.
    Ready,
    /// Another SMS on the same number (after a code; while waiting it changes nothing).
    AnotherSms,
    /// Done with an activation that received a code: its number is released.
    Complete,
    /// Cancel before any code, for a full refund.
    Cancel,
}

/// What came of a `BuyerStep`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    Done,
    /// Not the buyer's activation (any more).
    NotFound,
    /// Not possible from the activation's status.
    BadStatus,
    /// A cancel asked before the minimum wait (SPEC 10: two minutes).
    TooEarly,
}

/// Carries out `step` on `activation`, the buyer's own as looked up for this request.
pub async fn ask(
    store: &Store,
    user_id: &str,
    activation: &SmsActivation,
    step: BuyerStep,
    now: i64,
) -> Result<StepOutcome, StoreError> {
    let id = activation.order_id;
    Ok(match step {
        BuyerStep::Ready if activation.status.is_open() => StepOutcome::Done,
        BuyerStep::Ready => StepOutcome::BadStatus,
        BuyerStep::AnotherSms => transition(store.sms_request_another(user_id, id, now).await?),
        BuyerStep::Complete => transition(store.sms_complete(user_id, id, now).await?),
        BuyerStep::Cancel => {
            let (store, user_id) = (store.clone(), user_id.to_owned());
            // The refund runs to completion even if the client hangs up.
            let outcome =
                tokio::spawn(async move { store.sms_cancel(&user_id, id, false, now).await })
                    .await
                    .map_err(|e| StoreError::task_failed("cancel", &e))??;
            match outcome {
                Some(CancelOutcome::Refunded(_)) => StepOutcome::Done,
                Some(CancelOutcome::Refused(Reason::BeforeMinWait(_))) => StepOutcome::TooEarly,
                Some(CancelOutcome::NotFound) | None => StepOutcome::NotFound,
                Some(CancelOutcome::Eligible(_) | CancelOutcome::Refused(_)) => {
                    StepOutcome::BadStatus
                }
            }
        }
    })
}

fn transition(t: SmsTransition) -> StepOutcome {
    match t {
        SmsTransition::Done => StepOutcome::Done,
        SmsTransition::NotFound => StepOutcome::NotFound,
        SmsTransition::BadStatus(_) => StepOutcome::BadStatus,
    }
}

/// Handlers run this on a multi-threaded runtime: its future must be `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(store: &Store, activation: &SmsActivation) {
    fn is_send<T: Send>(_: T) {}
    is_send(ask(store, "u", activation, BuyerStep::Cancel, 0));
}
