//! Webhook endpoints (migration 0013) and their queues: each endpoint belongs to an
//! audience (a user id, or `operator`), keeps its `whsec_` secret sealed, and has one
//! delivery per event the fan-out ([`Store::dispatch_events`]) gave it, sent in event
//! order by its `webhook.send` job, every try kept in `webhook_attempts`.

use serde_json::Value;
use souk_core::event::ENDPOINT_DISABLED;

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::events::{Event, EventSteps, FillQueue, WakeQueue, LAST_HANDED_OUT, WEBHOOK_SEND};
use crate::operator_audit::AuditSteps;
use crate::rows::row_struct;
use crate::{NewAuditEntry, Result, Store, StoreError};

row_struct! {
    /// An endpoint as its owner sees it (the secret apart).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct WebhookEndpoint {
        pub id: String,
        pub audience: String,
        pub url: String,
        /// `*` or comma-separated kinds (`souk_core::event::parse_filter`).
        pub events: String,
        pub description: String,
        pub enabled: bool,
        /// Why it was disabled by failures (empty when enabled, or disabled by hand).
        pub disabled_reason: String,
        /// The first failure of the current run of failures.
        pub failing_since: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
        /// Deliveries waiting to be sent.
        pub pending: i64,
    }
}

row_struct! {
    /// One event's delivery to one endpoint, with the event it carries.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct WebhookDelivery {
        pub id: i64,
        pub endpoint_id: String,
        pub event_seq: i64,
        /// `msg_...`.
        pub event_id: String,
        pub kind: String,
        /// `pending` or `delivered`.
        pub state: String,
        pub attempts: i64,
        pub next_at: i64,
        pub created_at: i64,
        pub delivered_at: Option<i64>,
    }
}

row_struct! {
    /// One try of a delivery.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct WebhookAttempt {
        pub id: i64,
        pub delivery_id: i64,
        /// `msg_...` and kind of the event tried.
        pub event_id: String,
        pub kind: String,
        /// The receiver's HTTP status, if it answered.
        pub status: Option<i64>,
        pub error: String,
        /// The start of the receiver's answer.
        pub response: String,
        pub duration_ms: i64,
        pub created_at: i64,
    }
}

row_struct! {
    struct QueueRow {
        delivery_id: i64,
        attempts: i64,
        next_at: i64,
        seq: i64,
        id: String,
        kind: String,
        audience: String,
        subject: String,
        payload: String,
        created_at: i64,
    }
}

/// A pending delivery at the head of an endpoint's queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queued {
    pub delivery_id: i64,
    /// Tries so far (they pick the next wait after a failure).
    pub attempts: i64,
    /// Not to be tried before this time.
    pub next_at: i64,
    pub event: Event,
}

/// A new endpoint, checked by the caller (`souk_app::webhooks`).
#[derive(Clone, Debug)]
pub struct NewEndpoint<'a> {
    pub audience: &'a str,
    pub url: &'a str,
    pub events: &'a str,
    pub description: &'a str,
    /// The `whsec_` secret, sealed here.
    pub secret: &'a str,
}

/// What a PATCH changes (each checked by the caller); `None` leaves it.
#[derive(Clone, Debug, Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub events: Option<String>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// What one try did, as recorded.
#[derive(Clone, Debug)]
pub struct AttemptRecord<'a> {
    pub status: Option<u16>,
    pub error: &'a str,
    pub response: &'a str,
    pub duration_ms: i64,
}

/// What follows a try.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    Delivered,
    /// Failed: tried again at this time.
    RetryAt(i64),
    /// Failed for too long: the endpoint is disabled with this reason, and its owner
    /// told (`webhook.disabled`).
    Disable(String),
}

const ENDPOINT_COLUMNS: &str = "e.id, e.audience, e.url, e.events, e.description, e.enabled, \
     e.disabled_reason, e.failing_since, e.created_at, e.updated_at, \
     (SELECT COUNT(*) FROM webhook_deliveries d WHERE d.endpoint_id = e.id AND d.state = 'pending') AS pending";

tx_steps! {
    /// Endpoints inside a write transaction.
    trait EndpointSteps {
        /// Whether endpoint `id` of `audience` is enabled; another audience's (or none)
        /// is "not found".
        async fn owned_endpoint(&mut self, id: &str, audience: &str) -> Result<bool> {
            let enabled: Option<bool> = sqlx::query_scalar(
                "SELECT enabled FROM webhook_endpoints WHERE id = $1 AND audience = $2",
            )
            .bind(id)
            .bind(audience)
            .fetch_optional(&mut *self)
            .await?;
            enabled.ok_or_else(not_found)
        }

        /// Endpoint `id` of `audience` as its owner reads it (for an audit row's before
        /// and after, read in the change's transaction).
        async fn read_endpoint(&mut self, id: &str, audience: &str) -> Result<WebhookEndpoint> {
            let found: Option<WebhookEndpoint> = sqlx::query_as(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.id = $1 AND e.audience = $2"
            ))
            .bind(id)
            .bind(audience)
            .fetch_optional(&mut *self)
            .await?;
            found.ok_or_else(not_found)
        }
    }
}

/// What an endpoint change's audit row is made of: the endpoint before (none for a new
/// one) and after (none once deleted), both read in the change's transaction.
pub trait EndpointAudit:
    FnOnce(Option<&WebhookEndpoint>, Option<&WebhookEndpoint>) -> Option<NewAuditEntry> + Send
{
}

impl<F> EndpointAudit for F where
    F: FnOnce(Option<&WebhookEndpoint>, Option<&WebhookEndpoint>) -> Option<NewAuditEntry> + Send
{
}

fn not_found() -> StoreError {
    StoreError::NotFound("Webhook endpoint")
}

impl Store {
    /// Registers an endpoint; answers it. `audit` makes the row of an operator's change
    /// (none for `None`), written in its transaction; so for every change below.
    pub async fn create_webhook_endpoint(
        &self,
        new: &NewEndpoint<'_>,
        now: i64,
        audit: impl EndpointAudit,
    ) -> Result<WebhookEndpoint> {
        let id = souk_core::id::new_entity_id();
        let sealed = self.crypto.seal(new.secret);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query(&format!(
                "INSERT INTO webhook_endpoints (id, audience, url, secret_enc, events, description, created_at, updated_at, cursor) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7, {LAST_HANDED_OUT})"
            ))
            .bind(&id)
            .bind(new.audience)
            .bind(new.url)
            .bind(&sealed)
            .bind(new.events)
            .bind(new.description)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let after = tx.read_endpoint(&id, new.audience).await?;
            if let Some(entry) = audit(None, Some(&after)) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        self.webhook_endpoint(new.audience, &id).await
    }

    /// An audience's endpoints, oldest first.
    pub async fn webhook_endpoints(&self, audience: &str) -> Result<Vec<WebhookEndpoint>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.audience = $1 ORDER BY e.created_at, e.id"
            ))
            .bind(audience)
            .fetch_all(pool)
            .await?
        }))
    }

    /// How many endpoints an audience has.
    pub async fn webhook_endpoint_count(&self, audience: &str) -> Result<i64> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM webhook_endpoints WHERE audience = $1")
                .bind(audience)
                .fetch_one(pool)
                .await?
        }))
    }

    /// One of an audience's endpoints; another audience's is "not found".
    pub async fn webhook_endpoint(&self, audience: &str, id: &str) -> Result<WebhookEndpoint> {
        let found: Option<WebhookEndpoint> = on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.id = $1 AND e.audience = $2"
            ))
            .bind(id)
            .bind(audience)
            .fetch_optional(pool)
            .await?
        });
        found.ok_or_else(not_found)
    }

    /// An endpoint and its secret in clear, whoever owns it (the sender's read).
    pub async fn webhook_endpoint_to_send(
        &self,
        id: &str,
    ) -> Result<Option<(WebhookEndpoint, String)>> {
        let found: Option<(WebhookEndpoint, Vec<u8>)> = on_engine!(&self.db, pool => {
            let endpoint: Option<WebhookEndpoint> = sqlx::query_as(&format!(
                "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints e WHERE e.id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?;
            match endpoint {
                Some(e) => {
                    let sealed: Vec<u8> = sqlx::query_scalar("SELECT secret_enc FROM webhook_endpoints WHERE id = $1")
                        .bind(id)
                        .fetch_one(pool)
                        .await?;
                    Some((e, sealed))
                }
                None => None,
            }
        });
        match found {
            Some((endpoint, sealed)) => Ok(Some((endpoint, self.crypto.open(&sealed)?))),
            None => Ok(None),
        }
    }

    /// An endpoint's secret in clear, for its owner's explicit "reveal".
    pub async fn webhook_secret(&self, audience: &str, id: &str) -> Result<String> {
        let sealed: Option<Vec<u8>> = on_engine!(&self.db, pool => {
            sqlx::query_scalar("SELECT secret_enc FROM webhook_endpoints WHERE id = $1 AND audience = $2")
                .bind(id)
                .bind(audience)
                .fetch_optional(pool)
                .await?
        });
        self.crypto.open(&sealed.ok_or_else(not_found)?)
    }

    /// Replaces an endpoint's secret (the old one stops signing at once).
    pub async fn rotate_webhook_secret(
        &self,
        audience: &str,
        id: &str,
        secret: &str,
        now: i64,
        audit: impl EndpointAudit,
    ) -> Result<()> {
        let sealed = self.crypto.seal(secret);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let endpoint = tx.read_endpoint(id, audience).await?;
            sqlx::query("UPDATE webhook_endpoints SET secret_enc = $1, updated_at = $2 WHERE id = $3")
                .bind(&sealed)
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if let Some(entry) = audit(Some(&endpoint), Some(&endpoint)) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Changes an endpoint. Enabling it clears its failures: its pending deliveries are
    /// due at once, their tries counted afresh, and its queue woken.
    pub async fn update_webhook_endpoint(
        &self,
        audience: &str,
        id: &str,
        patch: &EndpointPatch,
        now: i64,
        audit: impl EndpointAudit,
    ) -> Result<WebhookEndpoint> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.read_endpoint(id, audience).await?;
            let was_enabled = before.enabled;
            if patch.enabled == Some(false) && was_enabled {
                // Its queue keeps what was handed out so far; nothing more while disabled.
                tx.fill_queue(id, None, now).await?;
            }
            sqlx::query(
                "UPDATE webhook_endpoints SET url = COALESCE($1, url), events = COALESCE($2, events), \
                 description = COALESCE($3, description), enabled = COALESCE($4, enabled), updated_at = $5 \
                 WHERE id = $6",
            )
            .bind(patch.url.as_deref())
            .bind(patch.events.as_deref())
            .bind(patch.description.as_deref())
            .bind(patch.enabled)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            match patch.enabled {
                Some(true) if !was_enabled => {
                    sqlx::query(&format!(
                        "UPDATE webhook_endpoints SET disabled_reason = '', failing_since = NULL, \
                         cursor = {LAST_HANDED_OUT} WHERE id = $1"
                    ))
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    let pending = sqlx::query(
                        "UPDATE webhook_deliveries SET next_at = $1, attempts = 0 WHERE endpoint_id = $2 AND state = 'pending'",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    if pending > 0 {
                        tx.wake_queue(WEBHOOK_SEND, id, now).await?;
                    }
                }
                // Disabled by hand: no reason of ours to show.
                Some(false) if was_enabled => {
                    sqlx::query("UPDATE webhook_endpoints SET disabled_reason = '' WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                _ => {}
            }
            let after = tx.read_endpoint(id, audience).await?;
            if let Some(entry) = audit(Some(&before), Some(&after)) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        self.webhook_endpoint(audience, id).await
    }

    /// Deletes an endpoint with its deliveries and their attempts. Its job, if any, finds
    /// it gone and ends.
    pub async fn delete_webhook_endpoint(
        &self,
        audience: &str,
        id: &str,
        now: i64,
        audit: impl EndpointAudit,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.read_endpoint(id, audience).await?;
            // Explicitly, not by ON DELETE CASCADE: SQLite enforces foreign keys only
            // when a connection asks for it.
            sqlx::query(
                "DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM webhook_deliveries WHERE endpoint_id = $1)",
            )
            .bind(id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM webhook_deliveries WHERE endpoint_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            if let Some(entry) = audit(Some(&before), None) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// An endpoint's deliveries, newest first.
    pub async fn webhook_deliveries(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<WebhookDelivery>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT d.id, d.endpoint_id, d.event_seq, v.id AS event_id, v.kind, d.state, d.attempts, \
                 d.next_at, d.created_at, d.delivered_at \
                 FROM webhook_deliveries d JOIN events v ON v.seq = d.event_seq \
                 WHERE d.endpoint_id = $1 ORDER BY d.event_seq DESC, d.id DESC LIMIT $2",
            )
            .bind(endpoint_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The tries of an endpoint's deliveries, newest first.
    pub async fn webhook_attempts(
        &self,
        endpoint_id: &str,
        limit: i64,
    ) -> Result<Vec<WebhookAttempt>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT a.id, a.delivery_id, v.id AS event_id, v.kind, a.status, a.error, a.response, \
                 a.duration_ms, a.created_at \
                 FROM webhook_attempts a JOIN webhook_deliveries d ON d.id = a.delivery_id \
                 JOIN events v ON v.seq = d.event_seq \
                 WHERE d.endpoint_id = $1 ORDER BY a.id DESC LIMIT $2",
            )
            .bind(endpoint_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The head of an endpoint's queue: up to `limit` pending deliveries in event order,
    /// with their events.
    pub async fn webhook_queue(&self, endpoint_id: &str, limit: i64) -> Result<Vec<Queued>> {
        let rows: Vec<QueueRow> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT d.id AS delivery_id, d.attempts, d.next_at, v.seq, v.id, v.kind, v.audience, v.subject, \
                 v.payload, v.created_at \
                 FROM webhook_deliveries d JOIN events v ON v.seq = d.event_seq \
                 WHERE d.endpoint_id = $1 AND d.state = 'pending' ORDER BY d.event_seq LIMIT $2",
            )
            .bind(endpoint_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| Queued {
                delivery_id: r.delivery_id,
                attempts: r.attempts,
                next_at: r.next_at,
                event: Event {
                    seq: r.seq,
                    id: r.id,
                    kind: r.kind,
                    audience: r.audience,
                    subject: r.subject,
                    payload: r.payload,
                    created_at: r.created_at,
                },
            })
            .collect())
    }

    /// Records one try of a delivery and what follows, in one transaction: the attempt,
    /// the delivery (delivered, or due again), and the endpoint's failure state (a
    /// success clears it; a failure starts it; `Disable` disables the endpoint and says
    /// so to its owner). False when the delivery is no longer pending (deleted, or
    /// resent and sent by another run meanwhile): nothing is recorded.
    pub async fn record_webhook_attempt(
        &self,
        delivery_id: i64,
        attempt: &AttemptRecord<'_>,
        outcome: &AttemptOutcome,
        now: i64,
    ) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<(String, String, String, String)> = sqlx::query_as(
                "SELECT e.id, e.audience, e.url, e.description FROM webhook_deliveries d \
                 JOIN webhook_endpoints e ON e.id = d.endpoint_id WHERE d.id = $1 AND d.state = 'pending'",
            )
            .bind(delivery_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((endpoint, audience, url, description)) = found else {
                return Ok(false);
            };
            sqlx::query(
                "INSERT INTO webhook_attempts (delivery_id, status, error, response, duration_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(delivery_id)
            .bind(attempt.status.map(i64::from))
            .bind(attempt.error)
            .bind(attempt.response)
            .bind(attempt.duration_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            match outcome {
                AttemptOutcome::Delivered => {
                    sqlx::query(
                        "UPDATE webhook_deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $1 WHERE id = $2",
                    )
                    .bind(now)
                    .bind(delivery_id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("UPDATE webhook_endpoints SET failing_since = NULL WHERE id = $1 AND failing_since IS NOT NULL")
                        .bind(&endpoint)
                        .execute(&mut *tx)
                        .await?;
                }
                AttemptOutcome::RetryAt(at) => {
                    sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = $1 WHERE id = $2")
                        .bind(at)
                        .bind(delivery_id)
                        .execute(&mut *tx)
                        .await?;
                    sqlx::query("UPDATE webhook_endpoints SET failing_since = $1 WHERE id = $2 AND failing_since IS NULL")
                        .bind(now)
                        .bind(&endpoint)
                        .execute(&mut *tx)
                        .await?;
                }
                AttemptOutcome::Disable(reason) => {
                    sqlx::query("UPDATE webhook_deliveries SET attempts = attempts + 1, next_at = $1 WHERE id = $2")
                        .bind(now)
                        .bind(delivery_id)
                        .execute(&mut *tx)
                        .await?;
                    // Said before the endpoint is disabled: an event is recorded only
                    // while its audience has a listener, and this endpoint may have been
                    // its owner's only one. The fan-out skips disabled endpoints, so it
                    // never reaches the endpoint it is about.
                    let data = serde_json::json!({
                        "endpoint": endpoint,
                        "url": url,
                        "description": description,
                        "reason": reason,
                    });
                    tx.record_event(&audience, ENDPOINT_DISABLED, &format!("webhook:{endpoint}"), &data, now)
                        .await?;
                    // What was handed out before it goes into its queue, to be sent if it is
                    // enabled again; what comes while it is disabled is not for it.
                    tx.fill_queue(&endpoint, None, now).await?;
                    sqlx::query(
                        "UPDATE webhook_endpoints SET enabled = FALSE, disabled_reason = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(reason)
                    .bind(now)
                    .bind(&endpoint)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Tops up endpoint `id`'s queue from the events handed out to its audience, to
    /// `up_to` deliveries waiting: a queue that is stuck writes nothing more. Answers how
    /// many deliveries were written.
    pub async fn fill_webhook_queue(&self, id: &str, up_to: i64, now: i64) -> Result<u64> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let (waiting,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE endpoint_id = $1 AND state = 'pending'",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let written = if waiting < up_to {
                tx.fill_queue(id, Some(up_to - waiting), now).await?
            } else {
                0
            };
            tx.commit().await?;
            Ok(written)
        })
    }

    /// Puts one of an endpoint's deliveries back in its queue, due now (its tries
    /// counted afresh), and wakes the queue.
    pub async fn resend_webhook_delivery(
        &self,
        audience: &str,
        endpoint_id: &str,
        delivery_id: i64,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.owned_endpoint(endpoint_id, audience).await?;
            let changed = sqlx::query(
                "UPDATE webhook_deliveries SET state = 'pending', next_at = $1, attempts = 0, delivered_at = NULL \
                 WHERE id = $2 AND endpoint_id = $3",
            )
            .bind(now)
            .bind(delivery_id)
            .bind(endpoint_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if changed == 0 {
                return Err(StoreError::NotFound("Delivery"));
            }
            tx.wake_queue(WEBHOOK_SEND, endpoint_id, now).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Queues a message of `kind` for one endpoint alone (a test ping): its event is
    /// recorded as already fanned out, so it reaches no other endpoint. Answers the
    /// delivery's id.
    pub async fn queue_webhook_message(
        &self,
        audience: &str,
        endpoint_id: &str,
        kind: &str,
        data: &Value,
        now: i64,
    ) -> Result<i64> {
        let id = format!("msg_{}", souk_core::id::new_entity_id());
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.owned_endpoint(endpoint_id, audience).await?;
            let seq: i64 = sqlx::query_scalar(
                "INSERT INTO events (id, kind, audience, subject, payload, dispatched, created_at) \
                 VALUES ($1, $2, $3, $4, $5, TRUE, $6) RETURNING seq",
            )
            .bind(&id)
            .bind(kind)
            .bind(audience)
            .bind(format!("webhook:{endpoint_id}"))
            .bind(data.to_string())
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let delivery: i64 = sqlx::query_scalar(
                "INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_at, created_at) \
                 VALUES ($1, $2, $3, $3) RETURNING id",
            )
            .bind(endpoint_id)
            .bind(seq)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.wake_queue(WEBHOOK_SEND, endpoint_id, now).await?;
            tx.commit().await?;
            Ok(delivery)
        })
    }
}
