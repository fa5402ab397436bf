//! The event stream (migration 0013): events recorded in the transaction of the change
//! they describe ([`EventSteps::record_event`]), only when their audience has someone
//! listening, and fanned out ([`Store::dispatch_events`]) to one delivery per webhook
//! endpoint and one notification per Telegram or e-mail subscription. Each channel's job
//! (`webhook.send` per endpoint, `telegram.send` and `email.send` per audience) sends its
//! queue in event order.

use serde_json::{json, Value};
use souk_core::event::{self, OPERATOR};
use souk_core::order::OrderStatus;

use crate::db::{on_engine, tx_steps, BeginWrite, EngineOf};
use crate::jobs::{insert_job, NewJob};
use crate::rows::row_struct;
use crate::script::{Part, Script, ScriptSteps};
use crate::Engine;
use crate::{Result, Store};

/// What waking a queue's job sets (`$1` the time): it goes again once it is done, and a
/// parked one (its tries spent on store errors) is due again at once, so that new work
/// never waits behind it for good. A job waiting out a retry keeps its time.
const WAKE: &str = "woken = TRUE, updated_at = $1, \
                    run_at = CASE WHEN state = 'parked' THEN $1 ELSE run_at END, \
                    attempts = CASE WHEN state = 'parked' THEN 0 ELSE attempts END, state = 'ready'";

/// Records an event (`$1` id, `$2` kind, `$3` audience, `$4` subject, `$5` payload, `$6`
/// time) if its audience has an enabled webhook endpoint or chose the kind for a channel
/// it can receive on (a linked Telegram chat, or e-mail while it is on).
const RECORD_EVENT: &str = "INSERT INTO events (id, kind, audience, subject, payload, created_at) \
     SELECT $1, $2, $3, $4, $5, $6 \
     WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE audience = $3 AND enabled) \
        OR EXISTS (SELECT 1 FROM notification_prefs p WHERE p.audience = $3 AND p.kind = $2 \
                   AND CASE p.channel \
                       WHEN 'telegram' THEN EXISTS (SELECT 1 FROM telegram_links l WHERE l.audience = $3) \
                       ELSE EXISTS (SELECT 1 FROM notifiers n WHERE n.id = 'smtp' AND n.enabled) END) \
     RETURNING seq";

/// The last `dispatch_seq` handed out (0 before the first): where a new endpoint's cursor
/// starts, and the next fan-out goes on from.
pub(crate) const LAST_HANDED_OUT: &str =
    "(SELECT CAST(COALESCE(MAX(dispatch_seq), 0) AS BIGINT) FROM events WHERE dispatch_seq IS NOT NULL)";

/// An endpoint's filter (`$4`: `*`, or kinds joined by commas as `event::parse_filter`
/// stores them) takes the event's kind; `_` in a kind is escaped to match only itself.
const TAKES_4: &str =
    "($4 = '*' OR ',' || $4 || ',' LIKE '%,' || REPLACE(kind, '_', '\\_') || ',%' ESCAPE '\\')";

/// The advisory lock that makes fan-outs take turns on PostgreSQL.
const DISPATCH_LOCK: i64 = 0x736f_756b_6576_6e74;

/// Job kinds of the delivery lane.
pub const WEBHOOK_SEND: &str = "webhook.send";
pub const TELEGRAM_SEND: &str = "telegram.send";
pub const EMAIL_SEND: &str = "email.send";

row_struct! {
    /// An event as recorded.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Event {
        pub seq: i64,
        /// `msg_...`: the webhook id, stable across retries.
        pub id: String,
        pub kind: String,
        pub audience: String,
        pub subject: String,
        /// The event's data, JSON.
        pub payload: String,
        pub created_at: i64,
    }
}

impl Event {
    /// The data as JSON (`{}` if it could not be read).
    pub fn data(&self) -> Value {
        serde_json::from_str(&self.payload).unwrap_or_else(|_| json!({}))
    }
}

/// The job that sends one queue of a channel (an endpoint's deliveries, an audience's
/// messages): one live job per queue, woken when the queue grows.
fn queue_job(kind: &str, key: &str, now: i64) -> NewJob {
    NewJob {
        kind: kind.to_owned(),
        payload: json!({ "queue": key }).to_string(),
        dedupe_key: Some(key.to_owned()),
        run_at: now,
        // Channels keep their own retry schedules; this bounds nothing.
        max_attempts: 1_000,
        held_by: None,
    }
}

row_struct! {
    /// What an order's event says, and what it said last.
    pub(crate) struct OrderFacts {
        pub(crate) user_id: String,
        pub(crate) kind: String,
        pub(crate) status: String,
        pub(crate) quantity: i64,
        pub(crate) delivered: i64,
        pub(crate) remains: Option<i64>,
        pub(crate) charge: i64,
        pub(crate) refunded: i64,
        pub(crate) service_number: Option<i64>,
        pub(crate) told_status: Option<String>,
        pub(crate) told_delivered: Option<i64>,
    }
}

/// What to say of an order's change to its buyer (the event's kind and data), if
/// anything: [`EventSteps::order_changed`].
fn order_said(order: i64, o: &OrderFacts) -> Option<(&'static str, Value)> {
    let status = OrderStatus::parse(&o.status)?;
    let told = o
        .told_status
        .as_deref()
        .and_then(OrderStatus::parse)
        .map(|s| (s, o.told_delivered.unwrap_or(0)));
    // SMS activations have events of their own.
    if o.kind == "sms" {
        return None;
    }
    let kind = event::order_event(status, o.delivered, told)?;
    let data = json!({
        "order": order,
        "kind": o.kind,
        "service": o.service_number,
        "status": status.display(),
        "quantity": o.quantity,
        "delivered": o.delivered,
        "remains": o.remains,
        "charge": souk_core::Money::from_micros(o.charge).format(2),
        "refunded": souk_core::Money::from_micros(o.refunded).format(2),
    });
    Some((kind, data))
}

/// [`EventSteps::record_event`] as a part of a script: returns its row when recorded.
pub(crate) fn event_part(
    audience: &str,
    kind: &str,
    subject: &str,
    data: &Value,
    now: i64,
) -> Part {
    let id = format!("msg_{}", souk_core::id::new_entity_id());
    Part::new(
        RECORD_EVENT,
        vec![
            id.into(),
            kind.into(),
            audience.into(),
            subject.into(),
            data.to_string().into(),
            now.into(),
        ],
    )
}

/// The event of a new order whose row was written with what it says as told
/// (`tell_order` with `remembered`), as a part of the sale's script.
pub(crate) fn new_order_event(order: i64, o: &OrderFacts, now: i64) -> Option<Part> {
    let (kind, data) = order_said(order, o)?;
    Some(event_part(
        &o.user_id,
        kind,
        &format!("order:{order}"),
        &data,
        now,
    ))
}

tx_steps! {
    /// Events inside the transaction of the change they describe.
    pub(crate) trait EventSteps {
        /// Records an event of `kind` for `audience` about `subject` with `data`, if its
        /// audience has an enabled webhook endpoint or chose the kind for a channel it
        /// can receive on (a linked Telegram chat, or e-mail while it is on).
        /// True when it was recorded.
        async fn record_event(&mut self, audience: &str, kind: &str, subject: &str, data: &Value, now: i64) -> Result<bool> {
            let recorded = self.run_script(Script::counting(event_part(audience, kind, subject, data, now))).await?;
            Ok(recorded > 0)
        }

        /// Says what changed on an order to its buyer (`order.completed`, `.partial`,
        /// `.canceled`, `.in_progress`), once per change whichever path made it: the
        /// order remembers what it last said. Call after any change of an order's status
        /// or deliveries.
        async fn order_changed(&mut self, order: i64, now: i64) -> Result<()> {
            let facts: Option<OrderFacts> = sqlx::query_as(
                "SELECT user_id, kind, status, quantity, delivered, remains, charge, refunded, service_number, \
                 told_status, told_delivered FROM orders WHERE id = $1",
            )
            .bind(order)
            .fetch_optional(&mut *self)
            .await?;
            match facts {
                Some(facts) => self.tell_order(order, &facts, false, now).await,
                None => Ok(()),
            }
        }

        /// [`Self::order_changed`] for an order whose row the caller just wrote, so
        /// knows: a sale's transaction does not read it back. `remembered`: the caller
        /// wrote what this says as the row's `told_*` already (a new order, written with
        /// them, costs no second write of its row).
        async fn tell_order(&mut self, order: i64, o: &OrderFacts, remembered: bool, now: i64) -> Result<()> {
            let Some((kind, data)) = order_said(order, o) else { return Ok(()) };
            let subject = format!("order:{order}");
            // Remembered only when said: while nobody listens, this costs nothing more.
            if remembered {
                self.record_event(&o.user_id, kind, &subject, &data, now).await?;
            } else if Self::ENGINE == Engine::Postgres {
                // One round trip for both: a sale's transaction is a dozen of them, and
                // a listened-to buyer's sale must not cost measurably more.
                sqlx::query(&format!(
                    "WITH said AS ({RECORD_EVENT}) \
                     UPDATE orders SET told_status = $7, told_delivered = $8 \
                     WHERE id = $9 AND EXISTS (SELECT 1 FROM said)"
                ))
                .bind(format!("msg_{}", souk_core::id::new_entity_id()))
                .bind(kind)
                .bind(&o.user_id)
                .bind(&subject)
                .bind(data.to_string())
                .bind(now)
                .bind(&o.status)
                .bind(o.delivered)
                .bind(order)
                .execute(&mut *self)
                .await?;
            } else if self.record_event(&o.user_id, kind, &subject, &data, now).await? {
                sqlx::query("UPDATE orders SET told_status = $1, told_delivered = $2 WHERE id = $3")
                    .bind(&o.status)
                    .bind(o.delivered)
                    .bind(order)
                    .execute(&mut *self)
                    .await?;
            }
            Ok(())
        }

        /// An SMS activation's event (`sms.code_received`, `sms.expired`) for its buyer.
        async fn sms_changed(&mut self, order: i64, kind: &str, now: i64) -> Result<()> {
            #[allow(clippy::type_complexity)] // one row's columns, read once below
            let row: Option<(String, String, String, String, Option<String>, Option<String>)> = sqlx::query_as(
                "SELECT user_id, project_id, country_code, phone, code, sms_text FROM sms_activations WHERE order_id = $1",
            )
            .bind(order)
            .fetch_optional(&mut *self)
            .await?;
            if let Some((user, project, country, phone, code, text)) = row {
                let data = json!({
                    "order": order, "service": project, "country": country, "phone": phone,
                    "code": code, "sms_content": text,
                });
                self.record_event(&user, kind, &format!("order:{order}"), &data, now).await?;
            }
            Ok(())
        }

        /// A job was just parked for the operator: an order's send or poll is an
        /// `order.stuck`, anything else a `job.parked` (a payment check's alarm was told
        /// as `payment.needs_attention` already).
        async fn job_parked(&mut self, job: i64, now: i64) -> Result<()> {
            let row: Option<(String, Option<String>, Option<String>, i64)> = sqlx::query_as(
                "SELECT kind, dedupe_key, last_error, attempts FROM jobs WHERE id = $1 AND state = 'parked'",
            )
            .bind(job)
            .fetch_optional(&mut *self)
            .await?;
            let Some((kind, key, error, attempts)) = row else { return Ok(()) };
            let error = error.unwrap_or_default();
            match kind.as_str() {
                crate::jobs::ORDER_FORWARD | crate::jobs::ORDER_STATUS => {
                    let order: i64 = key.as_deref().and_then(|k| k.parse().ok()).unwrap_or(0);
                    let data = json!({"order": order, "job": job, "kind": kind, "error": error});
                    self.tell_operator(event::ORDER_STUCK, &format!("order:{order}"), &data, now).await?;
                }
                crate::payments::PAYMENT_CHECK => {}
                _ => {
                    let data = json!({"job": job, "kind": kind, "key": key, "attempts": attempts, "error": error});
                    self.tell_operator(event::JOB_PARKED, &format!("job:{job}"), &data, now).await?;
                }
            }
            Ok(())
        }

        /// An event for the operator.
        async fn tell_operator(&mut self, kind: &str, subject: &str, data: &Value, now: i64) -> Result<()> {
            self.record_event(OPERATOR, kind, subject, data, now).await?;
            Ok(())
        }
    }
}

row_struct! {
    struct Route {
        seq: i64,
        audience: String,
    }
}

impl Store {
    /// Records an event on its own (for changes that are not a store transaction: a
    /// provider found failing by a worker). True when someone listens and it was
    /// recorded.
    pub async fn record_event(
        &self,
        audience: &str,
        kind: &str,
        subject: &str,
        data: &Value,
        now: i64,
    ) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let recorded = tx.record_event(audience, kind, subject, data, now).await?;
            tx.commit().await?;
            Ok(recorded)
        })
    }

    /// Fans out up to `limit` recorded events, oldest first: each handed out in
    /// `dispatch_seq` order to its audience's webhook endpoints (woken; they fill their
    /// queues as they send), a notification for every channel its audience chose it on,
    /// and each queue's job made due (or woken, if it is running). Fan-outs take turns,
    /// so an event is handed out once, whichever node does it. Answers how many events
    /// were fanned out.
    pub async fn dispatch_events(&self, now: i64, limit: i64) -> Result<usize> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            // One fan-out at a time (SQLite's writer is one already): numbers handed out
            // in `dispatch_seq` are then committed in their order, so an endpoint reading
            // past its cursor never skips one committed late.
            if self.engine() == crate::Engine::Postgres {
                sqlx::query("SELECT pg_advisory_xact_lock($1)")
                    .bind(DISPATCH_LOCK)
                    .execute(&mut *tx)
                    .await?;
            }
            let (base,): (i64,) = sqlx::query_as(&format!("SELECT {LAST_HANDED_OUT}"))
                .fetch_one(&mut *tx)
                .await?;
            // One statement numbers the whole batch in `seq` order.
            let mut due: Vec<Route> = sqlx::query_as(
                "UPDATE events SET dispatched = TRUE, dispatch_seq = $1 + r.n \
                 FROM (SELECT seq, ROW_NUMBER() OVER (ORDER BY seq) AS n FROM events \
                       WHERE NOT dispatched ORDER BY seq LIMIT $2) AS r \
                 WHERE events.seq = r.seq RETURNING events.seq, events.audience",
            )
            .bind(base)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            if due.is_empty() {
                return Ok(0);
            }
            due.sort_by_key(|e| e.seq);
            // Webhook endpoints fill their own queues from the handed-out events as they
            // send (`Store::fill_webhook_queue`): here they are only woken, once per batch,
            // so a sale's writer time does not grow with the endpoints listening.
            let mut hooked: Vec<&str> = Vec::new();
            for e in &due {
                if !hooked.contains(&e.audience.as_str()) {
                    hooked.push(&e.audience);
                }
            }
            // Telegram only for a linked chat, e-mail only while it is on: nothing is
            // queued that cannot be sent.
            let channels: Vec<(String, String)> = sqlx::query_as(
                "INSERT INTO notifications (channel, audience, event_seq, next_at, created_at) \
                 SELECT p.channel, p.audience, e.seq, $3, $3 FROM events e \
                 JOIN notification_prefs p ON p.audience = e.audience AND p.kind = e.kind \
                 WHERE e.dispatch_seq > $1 AND e.dispatch_seq <= $2 \
                 AND CASE p.channel \
                     WHEN 'telegram' THEN EXISTS (SELECT 1 FROM telegram_links l WHERE l.audience = p.audience) \
                     ELSE EXISTS (SELECT 1 FROM notifiers n WHERE n.id = 'smtp' AND n.enabled) END \
                 ON CONFLICT (channel, audience, event_seq) DO NOTHING RETURNING channel, audience",
            )
            .bind(base)
            .bind(base + due.len() as i64)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let mut queues: Vec<(&'static str, &str)> = Vec::new();
            for (channel, audience) in &channels {
                let job = if channel == "telegram" { TELEGRAM_SEND } else { EMAIL_SEND };
                if !queues.contains(&(job, audience.as_str())) {
                    queues.push((job, audience));
                }
            }
            for audience in hooked {
                tx.wake_endpoints(audience, now).await?;
            }
            for (job, audience) in queues {
                tx.wake_queue(job, audience, now).await?;
            }
            tx.commit().await?;
            Ok(due.len())
        })
    }

    /// One event by its sequence number.
    pub async fn event(&self, seq: i64) -> Result<Option<Event>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT seq, id, kind, audience, subject, payload, created_at FROM events WHERE seq = $1",
            )
            .bind(seq)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The newest events of an audience, newest first.
    pub async fn events_of(&self, audience: &str, limit: i64) -> Result<Vec<Event>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT seq, id, kind, audience, subject, payload, created_at FROM events \
                 WHERE audience = $1 ORDER BY seq DESC LIMIT $2",
            )
            .bind(audience)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The kinds `audience` chose for `channel`.
    pub async fn notification_prefs(&self, audience: &str, channel: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kind FROM notification_prefs WHERE audience = $1 AND channel = $2 ORDER BY kind",
            )
            .bind(audience)
            .bind(channel)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(k,)| k).collect())
    }

    /// Replaces the kinds `audience` wants on `channel` (each checked by the caller).
    pub async fn set_notification_prefs(
        &self,
        audience: &str,
        channel: &str,
        kinds: &[String],
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("DELETE FROM notification_prefs WHERE audience = $1 AND channel = $2")
                .bind(audience)
                .bind(channel)
                .execute(&mut *tx)
                .await?;
            for kind in kinds {
                sqlx::query(
                    "INSERT INTO notification_prefs (audience, channel, kind) VALUES ($1, $2, $3) \
                     ON CONFLICT (audience, channel, kind) DO NOTHING",
                )
                    .bind(audience)
                    .bind(channel)
                    .bind(kind)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}

tx_steps! {
    /// An endpoint's queue, filled from its audience's handed-out events.
    pub(crate) trait FillQueue {
        /// Writes the deliveries of endpoint `id` for the events handed out past its
        /// cursor (at most `limit` events, or all with `None`), the kinds its filter takes,
        /// and moves the cursor past them. Answers how many deliveries were written.
        async fn fill_queue(&mut self, id: &str, limit: Option<i64>, now: i64) -> Result<u64> {
            let endpoint: Option<(String, String, i64)> =
                sqlx::query_as("SELECT audience, events, cursor FROM webhook_endpoints WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *self)
                    .await?;
            let Some((audience, filter, cursor)) = endpoint else { return Ok(0) };
            // Everything handed out to the audience so far: the cursor never passes an
            // event this fill did not see.
            let (top,): (Option<i64>,) = sqlx::query_as(
                "SELECT MAX(dispatch_seq) FROM events WHERE audience = $1 AND dispatch_seq > $2",
            )
            .bind(&audience)
            .bind(cursor)
            .fetch_one(&mut *self)
            .await?;
            let Some(top) = top else { return Ok(0) };
            let limit = limit.unwrap_or(i64::MAX);
            // The next `limit` events up to there that the endpoint's filter takes.
            let (last, taken): (Option<i64>, i64) = sqlx::query_as(&format!(
                "SELECT MAX(dispatch_seq), COUNT(*) FROM (SELECT dispatch_seq FROM events \
                 WHERE audience = $1 AND dispatch_seq > $2 AND dispatch_seq <= $3 AND {TAKES_4} \
                 ORDER BY dispatch_seq LIMIT $5) AS next"
            ))
            .bind(&audience)
            .bind(cursor)
            .bind(top)
            .bind(&filter)
            .bind(limit)
            .fetch_one(&mut *self)
            .await?;
            let mut written = 0;
            if let Some(last) = last {
                written = sqlx::query(&format!(
                    "INSERT INTO webhook_deliveries (endpoint_id, event_seq, next_at, created_at) \
                     SELECT $1, seq, $2, $2 FROM events \
                     WHERE audience = $3 AND dispatch_seq > $5 AND dispatch_seq <= $6 AND {TAKES_4} \
                     ORDER BY dispatch_seq \
                     ON CONFLICT (endpoint_id, event_seq) DO NOTHING"
                ))
                .bind(id)
                .bind(now)
                .bind(&audience)
                .bind(&filter)
                .bind(cursor)
                .bind(last)
                .execute(&mut *self)
                .await?
                .rows_affected();
            }
            // Past the last one written, or past everything seen when the filter took
            // fewer than it could.
            let moved_to = match last {
                Some(last) if taken >= limit => last,
                _ => top,
            };
            sqlx::query("UPDATE webhook_endpoints SET cursor = $1 WHERE id = $2")
                .bind(moved_to)
                .bind(id)
                .execute(&mut *self)
                .await?;
            Ok(written)
        }
    }
}

tx_steps! {
    pub(crate) trait WakeQueue {
        /// Wakes the `webhook.send` queue of every enabled endpoint of `audience` (one
        /// statement to wake those that have a job, one to give the others theirs).
        async fn wake_endpoints(&mut self, audience: &str, now: i64) -> Result<()> {
            sqlx::query(
                &format!(
                    "UPDATE jobs SET {WAKE} WHERE kind = $2 AND NOT woken AND dedupe_key IN \
                     (SELECT id FROM webhook_endpoints WHERE audience = $3 AND enabled)"
                ),
            )
            .bind(now)
            .bind(WEBHOOK_SEND)
            .bind(audience)
            .execute(&mut *self)
            .await?;
            sqlx::query(
                "INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, attempts, created_at, updated_at) \
                 SELECT $1, '{\"queue\":\"' || e.id || '\"}', e.id, $2, 1000, 0, $2, $2 FROM webhook_endpoints e \
                 WHERE e.audience = $3 AND e.enabled \
                 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $1 AND j.dedupe_key = e.id) \
                 ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
            )
            .bind(WEBHOOK_SEND)
            .bind(now)
            .bind(audience)
            .execute(&mut *self)
            .await?;
            Ok(())
        }

        /// Makes a queue's job due now, or wakes it if it runs (it goes again once
        /// done), or inserts it. A job waiting out a retry keeps its time: the queue's
        /// order holds.
        async fn wake_queue(&mut self, kind: &str, key: &str, now: i64) -> Result<()> {
            let woken = sqlx::query(&format!("UPDATE jobs SET {WAKE} WHERE kind = $2 AND dedupe_key = $3"))
                .bind(now)
                .bind(kind)
                .bind(key)
                .execute(&mut *self)
                .await?
                .rows_affected();
            if woken == 0 {
                insert_job(&queue_job(kind, key, now), now).fetch_optional(&mut *self).await?;
            }
            Ok(())
        }
    }
}
