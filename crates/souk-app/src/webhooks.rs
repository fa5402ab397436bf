//! Webhooks following the Standard Webhooks specification: endpoints registered by
//! buyers, suppliers and the operator (each for the kinds of its audience), and the
//! `webhook.send` job that sends an endpoint's queue in event order, one message at a
//! time, stopping at the first failure, so a receiver never sees an event before the ones
//! recorded earlier. Failures are retried on [`RETRY_SCHEDULE_MS`]; an endpoint failing
//! for [`DISABLE_AFTER_MS`] is disabled and its owner told (`webhook.disabled`).

use std::time::{Duration, Instant};

use rand::RngCore;
use serde_json::{json, Value};
use souk_client::webhook::{self as wire, Message};
use souk_core::event::{self, Audience, OPERATOR};
use souk_store::{
    AttemptOutcome, AttemptRecord, EndpointPatch, Event, NewAuditEntry, NewEndpoint, Store,
    StoreError, WebhookEndpoint,
};

use crate::notify::{Channels, QueueStep};

/// The kind of a test ping (sent to one endpoint on its owner's request, whatever its
/// filter).
pub const TEST_KIND: &str = "webhook.test";
/// Waits after the 1st, 2nd, ... failure of a delivery; the last repeats.
pub const RETRY_SCHEDULE_MS: [i64; 6] = [
    5_000,
    5 * 60_000,
    30 * 60_000,
    2 * 3_600_000,
    5 * 3_600_000,
    10 * 3_600_000,
];
/// An endpoint failing this long (from its first failure in a row) is disabled.
pub const DISABLE_AFTER_MS: i64 = 24 * 3_600_000;
/// Endpoints one audience may have.
pub const MAX_ENDPOINTS: i64 = 100;
pub const MAX_DESCRIPTION: usize = 200;
/// Deliveries read per look at a queue.
const QUEUE_BATCH: i64 = 50;
/// How long one run of a queue goes on sending before it lets the job go round again
/// (the job's lease is 5 minutes).
const RUN_BUDGET: Duration = Duration::from_secs(60);

/// Why a request about webhooks was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Url(#[from] wire::WebhookError),
    /// A kind the catalogue does not know (`parse_filter`'s words).
    #[error("{0}")]
    UnknownEvent(String),
    #[error("Event {kind:?} is not one of yours: one of {allowed}, or *")]
    NotYours { kind: String, allowed: String },
    #[error("The description is too long (at most {MAX_DESCRIPTION} characters)")]
    DescriptionTooLong,
    #[error("At most {MAX_ENDPOINTS} webhook endpoints")]
    TooMany,
    #[error("The endpoint is disabled: enable it first")]
    Disabled,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who owns endpoints: a buyer, a supplier (buyer and supplier kinds), or the operator.
#[derive(Clone, Copy, Debug)]
pub enum Owner<'a> {
    User { id: &'a str, is_supplier: bool },
    Operator,
}

impl Owner<'_> {
    /// The row an operator's endpoint change leaves in the audit log, made of the
    /// endpoint before and after (never its secret): the operator's endpoints are kept
    /// through the operator API, so it is the author. A buyer's or supplier's own
    /// endpoints are theirs to keep, unaudited.
    fn audit(
        self,
        action: &'static str,
        secret: Option<&'static str>,
    ) -> impl FnOnce(Option<&WebhookEndpoint>, Option<&WebhookEndpoint>) -> Option<NewAuditEntry> + Send
    {
        let operator = matches!(self, Owner::Operator);
        move |before, after| {
            let view = |e: &WebhookEndpoint| {
                let mut v = json!({
                    "url": e.url,
                    "events": e.events,
                    "description": e.description,
                    "enabled": e.enabled,
                });
                if let Some(secret) = secret {
                    v["secret"] = json!(secret);
                }
                v
            };
            let id = before.or(after).map_or("", |e| e.id.as_str());
            operator.then(|| {
                crate::operators::Acting::operator_api().audit_entry(
                    action,
                    &format!("webhook:{id}"),
                    before.map(&view),
                    after.map(view),
                )
            })
        }
    }

    /// The events' `audience` of this owner.
    pub fn audience(&self) -> &str {
        match self {
            Owner::User { id, .. } => id,
            Owner::Operator => OPERATOR,
        }
    }

    fn audiences(&self) -> &'static [Audience] {
        match self {
            Owner::User {
                is_supplier: false, ..
            } => &[Audience::Buyer],
            Owner::User {
                is_supplier: true, ..
            } => &[Audience::Buyer, Audience::Supplier],
            Owner::Operator => &[Audience::Operator],
        }
    }

    /// The kinds this owner can receive, each once, in catalogue order.
    pub fn kinds(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for k in event::KINDS {
            if self.audiences().contains(&k.audience) && !out.contains(&k.name) {
                out.push(k.name);
            }
        }
        out
    }
}

/// A filter as sent (kinds, or `*`), checked against the owner's kinds: the stored form.
pub fn check_events(owner: Owner<'_>, events: &[String]) -> Result<String, WebhookError> {
    let filter = event::parse_filter(&events.join(",")).map_err(WebhookError::UnknownEvent)?;
    if filter == "*" {
        return Ok(filter);
    }
    let mine = owner.kinds();
    if let Some(kind) = filter.split(',').find(|k| !mine.contains(k)) {
        return Err(WebhookError::NotYours {
            kind: kind.to_owned(),
            allowed: mine.join(", "),
        });
    }
    Ok(filter)
}

fn check_description(text: &str) -> Result<String, WebhookError> {
    let text = text.trim();
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(WebhookError::DescriptionTooLong);
    }
    Ok(text.to_owned())
}

fn new_secret() -> String {
    let mut bytes = [0u8; wire::SECRET_BYTES];
    rand::thread_rng().fill_bytes(&mut bytes);
    wire::secret_from_bytes(&bytes)
}

/// A new endpoint, as sent.
#[derive(Clone, Debug, Default)]
pub struct NewWebhook {
    pub url: String,
    /// Kinds, or `["*"]`; empty means every kind.
    pub events: Vec<String>,
    pub description: String,
}

/// Registers an endpoint; answers it with its secret, shown this once.
pub async fn create(
    store: &Store,
    owner: Owner<'_>,
    new: &NewWebhook,
    allow_private: bool,
    now: i64,
) -> Result<(WebhookEndpoint, String), WebhookError> {
    let url = wire::check_url(&new.url, allow_private)?;
    let events = check_events(owner, &new.events)?;
    let description = check_description(&new.description)?;
    if store.webhook_endpoint_count(owner.audience()).await? >= MAX_ENDPOINTS {
        return Err(WebhookError::TooMany);
    }
    let secret = new_secret();
    let endpoint = store
        .create_webhook_endpoint(
            &NewEndpoint {
                audience: owner.audience(),
                url: url.as_str(),
                events: &events,
                description: &description,
                secret: &secret,
            },
            now,
            owner.audit("webhook.create", Some("set")),
        )
        .await?;
    Ok((endpoint, secret))
}

/// A change to an endpoint, as sent.
#[derive(Clone, Debug, Default)]
pub struct WebhookChange {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Changes an endpoint (re-enabling it clears its failures and sends what waits).
pub async fn update(
    store: &Store,
    owner: Owner<'_>,
    id: &str,
    change: &WebhookChange,
    allow_private: bool,
    now: i64,
) -> Result<WebhookEndpoint, WebhookError> {
    let patch = EndpointPatch {
        url: match &change.url {
            Some(u) => Some(wire::check_url(u, allow_private)?.to_string()),
            None => None,
        },
        events: match &change.events {
            Some(e) => Some(check_events(owner, e)?),
            None => None,
        },
        description: match &change.description {
            Some(d) => Some(check_description(d)?),
            None => None,
        },
        enabled: change.enabled,
    };
    Ok(store
        .update_webhook_endpoint(
            owner.audience(),
            id,
            &patch,
            now,
            owner.audit("webhook.update", None),
        )
        .await?)
}

/// Deletes an endpoint with its deliveries and their attempts.
pub async fn remove(store: &Store, owner: Owner<'_>, id: &str, now: i64) -> Result<(), StoreError> {
    store
        .delete_webhook_endpoint(
            owner.audience(),
            id,
            now,
            owner.audit("webhook.delete", None),
        )
        .await
}

/// A new secret for an endpoint; answers it, shown this once.
pub async fn rotate_secret(
    store: &Store,
    owner: Owner<'_>,
    id: &str,
    now: i64,
) -> Result<String, WebhookError> {
    let secret = new_secret();
    store
        .rotate_webhook_secret(
            owner.audience(),
            id,
            &secret,
            now,
            owner.audit("webhook.rotate_secret", Some("replaced")),
        )
        .await?;
    Ok(secret)
}

/// Queues a `webhook.test` ping for one endpoint; answers the delivery's id.
pub async fn send_test(
    store: &Store,
    owner: Owner<'_>,
    id: &str,
    now: i64,
) -> Result<i64, WebhookError> {
    let endpoint = store.webhook_endpoint(owner.audience(), id).await?;
    if !endpoint.enabled {
        return Err(WebhookError::Disabled);
    }
    let data = json!({"endpoint": endpoint.id, "message": "Test message from Souk"});
    Ok(store
        .queue_webhook_message(owner.audience(), id, TEST_KIND, &data, now)
        .await?)
}

/// The wait after a delivery's `attempts`-th failure.
pub fn retry_delay_ms(attempts: i64) -> i64 {
    let step = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
    RETRY_SCHEDULE_MS[step.min(RETRY_SCHEDULE_MS.len() - 1)]
}

/// What follows a failed try of a delivery that had failed `attempts` times before,
/// on an endpoint failing since `failing_since` (if it was).
pub fn after_failure(
    attempts: i64,
    failing_since: Option<i64>,
    error: &str,
    now: i64,
) -> AttemptOutcome {
    let since = failing_since.unwrap_or(now);
    if now - since >= DISABLE_AFTER_MS {
        let hours = (now - since) / 3_600_000;
        AttemptOutcome::Disable(format!(
            "Every delivery failed for {hours} hours (since {}); the last: {error}",
            souk_core::clock::iso_millis(since)
        ))
    } else {
        AttemptOutcome::RetryAt(now + retry_delay_ms(attempts + 1))
    }
}

/// The data a message carries: the event's as recorded, and for a buyer's order event
/// the accounts delivered so far (the first `delivered` of the order's, decrypted here:
/// events are stored without secrets).
async fn message_data(store: &Store, e: &Event) -> Result<Value, StoreError> {
    let mut data = e.data();
    if e.kind.starts_with("order.") && e.audience != OPERATOR {
        let order = data.get("order").and_then(Value::as_i64);
        let delivered = data.get("delivered").and_then(Value::as_i64);
        if let (Some(order), Some(delivered)) = (order, delivered) {
            let views = store.orders_of(&e.audience, &[order]).await?;
            if let Some(view) = views.first().filter(|v| !v.accounts.is_empty()) {
                let n = usize::try_from(delivered)
                    .unwrap_or(0)
                    .min(view.accounts.len());
                if let Some(object) = data.as_object_mut() {
                    object.insert("accounts".into(), json!(view.accounts[..n]));
                }
            }
        }
    }
    Ok(data)
}

/// Sends the queue of the endpoint `key` names, oldest first, one message at a time,
/// stopping at the first failure (which waits for its retry).
pub async fn send_queue(channels: &Channels, key: &str, now: i64) -> Result<QueueStep, String> {
    let store = &channels.store;
    let Some((endpoint, secret)) = store
        .webhook_endpoint_to_send(key)
        .await
        .map_err(|e| e.to_string())?
    else {
        // Deleted: nothing left to send.
        return Ok(QueueStep::Done);
    };
    if !endpoint.enabled {
        // Re-enabling wakes the queue again.
        return Ok(QueueStep::Done);
    }
    let started = Instant::now();
    // A success in this run clears the endpoint's failures: a later failure starts anew.
    let mut failing_since = endpoint.failing_since;
    // A run starts with the head alone: an endpoint that hangs or fails (as it may
    // have for a day) writes one delivery, not a batch. Once one is delivered in this
    // run, the queue is written a batch ahead of its sends.
    let mut up_to = 1;
    loop {
        // The queue is written as it is sent: a stuck endpoint writes nothing ahead.
        store
            .fill_webhook_queue(key, up_to, now)
            .await
            .map_err(|e| e.to_string())?;
        let queue = store
            .webhook_queue(key, QUEUE_BATCH)
            .await
            .map_err(|e| e.to_string())?;
        if queue.is_empty() {
            return Ok(QueueStep::Done);
        }
        for queued in &queue {
            if queued.next_at > now {
                // The head waits for its retry (the job was woken by a newer event).
                return Ok(QueueStep::Again(queued.next_at));
            }
            if started.elapsed() >= RUN_BUDGET {
                return Ok(QueueStep::Again(now));
            }
            let data = message_data(store, &queued.event)
                .await
                .map_err(|e| e.to_string())?;
            let body = wire::body(&queued.event.kind, queued.event.created_at, &data);
            let attempt = wire::send(
                &Message {
                    url: &endpoint.url,
                    secret: &secret,
                    id: &queued.event.id,
                    timestamp: now.div_euclid(1000),
                    body: &body,
                },
                channels.allow_private,
            )
            .await;
            let record = AttemptRecord {
                status: attempt.status,
                error: &attempt.error,
                response: &attempt.response,
                duration_ms: attempt.duration_ms,
            };
            let outcome = if attempt.delivered() {
                AttemptOutcome::Delivered
            } else {
                after_failure(queued.attempts, failing_since, &attempt.error, now)
            };
            tracing::info!(
                endpoint = %endpoint.id,
                event = %queued.event.id,
                kind = %queued.event.kind,
                status = ?attempt.status,
                error = %attempt.error,
                duration_ms = attempt.duration_ms,
                "webhook attempt"
            );
            store
                .record_webhook_attempt(queued.delivery_id, &record, &outcome, now)
                .await
                .map_err(|e| e.to_string())?;
            match outcome {
                AttemptOutcome::Delivered => {
                    failing_since = None;
                    up_to = QUEUE_BATCH;
                }
                AttemptOutcome::RetryAt(at) => return Ok(QueueStep::Again(at)),
                AttemptOutcome::Disable(reason) => {
                    tracing::warn!(endpoint = %endpoint.id, %reason, "webhook endpoint disabled");
                    return Ok(QueueStep::Done);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_on_the_schedule_then_disables_after_a_day() {
        let delays: Vec<i64> = (1..=7).map(retry_delay_ms).collect();
        assert_eq!(
            delays,
            [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000]
        );
        assert_eq!(
            after_failure(0, None, "HTTP 500", 1_000),
            AttemptOutcome::RetryAt(6_000)
        );
        assert_eq!(
            after_failure(1, Some(1_000), "HTTP 500", 6_000),
            AttemptOutcome::RetryAt(306_000)
        );
        let AttemptOutcome::Disable(reason) =
            after_failure(7, Some(0), "HTTP 500", DISABLE_AFTER_MS + 1)
        else {
            panic!("not disabled");
        };
        assert_eq!(
            reason,
            "Every delivery failed for 24 hours (since 1970-01-01T00:00:00.000Z); the last: HTTP 500"
        );
    }

    #[test]
    fn owners_filter_on_their_kinds() {
        let buyer = Owner::User {
            id: "u",
            is_supplier: false,
        };
        let supplier = Owner::User {
            id: "u",
            is_supplier: true,
        };
        assert_eq!(check_events(buyer, &[]).as_deref().ok(), Some("*"));
        assert_eq!(
            check_events(buyer, &["order.completed".into()])
                .as_deref()
                .ok(),
            Some("order.completed")
        );
        assert!(matches!(
            check_events(buyer, &["order.created".into()]),
            Err(WebhookError::NotYours { .. })
        ));
        assert!(check_events(
            supplier,
            &["order.created".into(), "order.completed".into()]
        )
        .is_ok());
        assert!(matches!(
            check_events(Owner::Operator, &["order.completed".into()]),
            Err(WebhookError::NotYours { .. })
        ));
        assert!(matches!(
            check_events(buyer, &["order.done".into()]),
            Err(WebhookError::UnknownEvent(_))
        ));
    }
}
