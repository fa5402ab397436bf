//! Refills of SMM orders (PerfectPanel's `refill`, SPEC 9). A refill that goes upstream
//! is recorded, with its `refill.send` job, before the upstream is called: the request
//! sends it at once and answers with the outcome, and if the node dies in between, the
//! job queue sends it once the request's claim runs out. Nothing is ever sent for a
//! refill that is not on record.

use souk_client::api_v2::ClientError;
use souk_client::pause;
use souk_core::order::{refill_allowed, OrderKind, OrderStatus};
use souk_core::ApiError;
use souk_store::{NewRefill, Provider, RefillToSend, StoreError};

use crate::upstream::Upstream;

/// The buyer asks for a refill of `order_id`: its new refill's id, or why not. An
/// upstream that refuses (or cannot be reached) is `RefillFailed`, as before the refill
/// was recorded first; the record then ends `rejected`.
pub async fn request(
    sender: &Upstream,
    user_id: &str,
    order_id: i64,
    now: i64,
) -> Result<Result<i64, ApiError>, StoreError> {
    let store = &sender.store;
    let Some(facts) = store.refill_facts(user_id, order_id).await? else {
        return Ok(Err(ApiError::IncorrectOrderId));
    };
    let allowed = refill_allowed(
        OrderKind::parse(&facts.kind).unwrap_or(OrderKind::Product),
        OrderStatus::parse(&facts.status).unwrap_or(OrderStatus::Error),
        facts.refill,
        facts.refill_days,
        facts.completed_at,
        now,
    );
    if !allowed {
        return Ok(Err(ApiError::RefillNotAvailable));
    }
    let provider = match facts.upstream() {
        Err(e) => return Ok(Err(e)),
        Ok(None) => None,
        Ok(Some((provider, _))) => match store.provider(provider).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::warn!(order = order_id, error = %e, "refill: provider unavailable");
                return Ok(Err(ApiError::RefillFailed));
            }
        },
    };
    let held_until = now + provider.as_ref().map_or(0, crate::upstream::call_lease_ms);
    let (id, job) = store
        .record_refill(
            &NewRefill {
                order_id,
                user_id,
                provider_id: provider.as_ref().map(|p| p.id.as_str()),
                held_by: (&sender.node, held_until),
            },
            now,
        )
        .await?;
    let (Some(provider), Some(job)) = (provider, job) else {
        return Ok(Ok(id));
    };
    let Some(refill) = store.refill_to_send(id).await? else {
        return Ok(Err(ApiError::RefillFailed));
    };
    let outcome = send(sender, &provider, &refill, now).await;
    let answer = match outcome {
        Ok(external) => {
            store.refill_sent(id, &external, now).await?;
            Ok(id)
        }
        Err(e) => {
            tracing::warn!(order = order_id, error = %e, "upstream refill failed");
            store.refill_refused(id, &e.to_string(), now).await?;
            Err(ApiError::RefillFailed)
        }
    };
    // Settled: the queue has nothing left to do for it. (Should this fail, the job
    // finds the refill settled when it runs, and sends nothing.)
    store.complete_job(job, &sender.node).await?;
    Ok(answer)
}

/// What a `refill.send` job's run came to.
#[derive(Debug, PartialEq, Eq)]
pub enum SendStep {
    /// Sent, refused for good, or nothing left to send.
    Done,
    /// Nothing is known to have happened upstream: worth another try later.
    TryAgain(String),
}

/// The `refill.send` job: sends refill `id` unless it is settled already (the request
/// that recorded it sent it, or an earlier run did).
pub async fn send_job(sender: &Upstream, id: i64, now: i64) -> Result<SendStep, StoreError> {
    let store = &sender.store;
    let Some(refill) = store.refill_to_send(id).await? else {
        return Ok(SendStep::Done);
    };
    if refill.external_id.is_some() || refill.status != "pending" {
        return Ok(SendStep::Done);
    }
    let Some(provider_id) = refill.provider_id.as_deref() else {
        return Ok(SendStep::Done);
    };
    let provider = match store.provider(provider_id).await {
        Ok(p) => p,
        Err(StoreError::NotFound(_)) => {
            store.refill_refused(id, "provider deleted", now).await?;
            return Ok(SendStep::Done);
        }
        Err(e) => return Err(e),
    };
    match send(sender, &provider, &refill, now).await {
        Ok(external) => {
            store.refill_sent(id, &external, now).await?;
            Ok(SendStep::Done)
        }
        Err(e @ ClientError::Api(_)) => {
            store.refill_refused(id, &e.to_string(), now).await?;
            Ok(SendStep::Done)
        }
        Err(e) => Ok(SendStep::TryAgain(e.to_string())),
    }
}

/// The upstream call: the refill's id there.
async fn send(
    sender: &Upstream,
    provider: &Provider,
    refill: &RefillToSend,
    now: i64,
) -> Result<String, ClientError> {
    let Some(order) = refill.order_external_id.as_deref() else {
        return Err(ClientError::Api("the order has no upstream id".into()));
    };
    pause::point("refill.send").await;
    let client = crate::upstream::api_client(provider, sender.allow_private)?;
    let answer = client.refill(order).await;
    crate::upstream::record_oddities(&sender.store, &provider.id, &client, now).await;
    answer
}

/// Handlers and workers run these on a multi-threaded runtime: their futures must be
/// `Send` (a store call generic over its executor once made them lose it).
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(s: &Upstream) {
    fn is_send<T: Send>(_: T) {}
    is_send(request(s, "u", 1, 0));
    is_send(send_job(s, 1, 0));
}
