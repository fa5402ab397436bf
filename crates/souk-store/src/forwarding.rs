//! Orders and their upstream providers, on the job queue: sending an order is its
//! `order.forward` job, watching it there its `order.status` job (`jobs.rs`).
//!
//! An order for a provider is committed with its `order.forward` job. A node claims the
//! job (its lease keeps other nodes off) and, right before the request goes out, marks
//! the order `sent_at` and stretches the lease over the call (`begin_send`): a job a node
//! claimed but never sent is simply due again once the claim runs out. The answer ends
//! the job: the upstream's id on the order and an `order.status` job in its place, or the
//! job due again later (surely not processed), or parked for the operator with the order
//! shown `In progress` (status `error`) when the upstream may hold it. Such an order is
//! never sent again blindly: a job claimed while its order has `sent_at` is a send whose
//! outcome is unknown (an answer that never came, or a node that died mid-call), resent
//! with the same Idempotency-Key only where the provider honours it and while it still
//! remembers the key.
//!
//! `order.status` jobs of one provider are polled together, 100 orders per request; each
//! order settles under its own savepoint and its job alone records what went wrong.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use souk_core::early_cancel::proportional_refund;
use souk_core::order::OrderStatus;
use souk_core::subscription::SubscriptionState;
use souk_core::Money;

use crate::db::{id_list, on_engine, tx_steps, BeginWrite};
use crate::events::EventSteps;
use crate::jobs::{
    forward_job, insert_job, status_job, Job, JobSteps, Lane, ORDER_FORWARD, ORDER_STATUS,
};
use crate::operator_audit::AuditSteps;
use crate::orders::OrderSteps;
use crate::rows::row_struct;
use crate::script::{Part, Script, ScriptSteps};
use crate::{Result, Store, StoreError, IDEMPOTENCY_WINDOW_MS};

/// How long after a send whose outcome was unknown a resend with the same
/// Idempotency-Key is still safe: the upstream (Souk) forgets keys after 24 h; an hour
/// less leaves room for clock skew and a send in progress at the edge.
pub const RESEND_WINDOW_MS: i64 = IDEMPOTENCY_WINDOW_MS - 3_600_000;

/// Why a sent order goes back to the queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// Never sent, or surely not processed (connection refused, HTTP 4xx, 429).
    Unsent,
    /// A well-formed refusal: counts towards the order's refusals.
    Refused,
    /// May have been processed: resent with the same Idempotency-Key later.
    Unknown,
}

/// What an `order.forward` job carries from one try to the next.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct ForwardPayload {
    order: i64,
    /// Requests sent so far (claims that never sent do not count).
    #[serde(default)]
    sends: i64,
    /// Well-formed refusals so far.
    #[serde(default)]
    refusals: i64,
}

/// An order ready to be sent upstream: its claimed `order.forward` job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardJob {
    pub job_id: i64,
    pub order_id: i64,
    pub provider_id: String,
    pub provider_service: String,
    /// The upstream subproduct, for marketplace products.
    pub provider_subproduct: Option<String>,
    pub link: String,
    pub quantity: i64,
    /// The SMM type's fields (JSON object of strings).
    pub params: String,
    pub runs: Option<i64>,
    pub interval_minutes: Option<i64>,
    /// Requests sent so far, this one included once `begin_send` said yes.
    pub attempts: i64,
    /// Well-formed refusals so far.
    pub refusals: i64,
    /// When the earliest send whose outcome was unknown began: the upstream may hold
    /// the order.
    pub unknown_since: Option<i64>,
    /// What the order costs at this provider (its last listed rate); `None` when unknown.
    pub upstream_cost: Option<Money>,
}

impl ForwardJob {
    fn payload(&self) -> String {
        serde_json::json!({ "order": self.order_id, "sends": self.attempts, "refusals": self.refusals })
            .to_string()
    }
}

/// An order the upstream holds, due for a status poll: its claimed `order.status` job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusJob {
    pub job_id: i64,
    pub order_id: i64,
    pub provider_id: String,
    pub external_id: String,
}

row_struct! {
    struct ForwardRow {
        id: i64,
        provider_id: Option<String>,
        provider_service: Option<String>,
        provider_ref: Option<String>,
        link: String,
        quantity: i64,
        params: String,
        runs: Option<i64>,
        interval_minutes: Option<i64>,
        sent_at: Option<i64>,
        status: String,
        external_id: Option<String>,
        kind: String,
        type_name: Option<String>,
        upstream_rate: Option<i64>,
    }
}

/// An order's cost at its provider, from the provider's listed rate: per unit for
/// products, by the SMM type's charging rule otherwise.
fn upstream_cost(row: &ForwardRow) -> Option<Money> {
    let rate = Money::from_micros(row.upstream_rate?);
    if row.kind == "product" {
        return rate
            .micros()
            .checked_mul(row.quantity)
            .map(Money::from_micros);
    }
    let posts = serde_json::from_str::<HashMap<String, String>>(&row.params)
        .ok()
        .and_then(|p| p.get("posts").and_then(|n| n.trim().parse().ok()));
    souk_core::smm_type::upstream_cost(
        row.type_name.as_deref().unwrap_or(""),
        rate,
        row.quantity,
        row.runs,
        posts,
    )
}

/// What an upstream said about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteUpdate {
    pub status: OrderStatus,
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    /// Every account delivered so far (marketplace products).
    pub accounts: Vec<String>,
    /// The status as the upstream wrote it: a subscription's state is read from it.
    pub state_text: String,
    /// Subscriptions: the posts served so far.
    pub posts: Option<i64>,
    /// Subscriptions: the upstream's ids of the orders placed for its posts so far.
    pub child_orders: Vec<String>,
}

/// An order whose upstream answer could not be settled (`apply_remote_updates`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleFailure {
    pub order_id: i64,
    pub error: String,
    /// Its tries are spent: its job is parked for the operator.
    pub parked: bool,
}

/// How the operator settles an order whose send had an unknown outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// It did reach the upstream, under this id.
    Sent(String),
    /// It did not: send it again.
    Resend,
    /// Give up: cancel and refund in full.
    Fail,
}

/// An order waiting on an upstream, for the operator: its job is parked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StuckOrder {
    pub id: i64,
    pub provider_id: Option<String>,
    /// Set when the upstream took the order but later stopped knowing it.
    pub external_id: Option<String>,
    /// `unknown`: the operator decides.
    pub forward_state: String,
    /// Sends made (a send's job), or polls in a row that did not settle it (a poll's).
    pub forward_attempts: i64,
    pub last_error: Option<String>,
    pub updated_at: i64,
}

/// The order an `order.*` job is for.
fn order_of(job: &Job) -> Option<i64> {
    serde_json::from_str::<ForwardPayload>(&job.payload)
        .ok()
        .map(|p| p.order)
}

tx_steps! {
    /// Settling forwarded orders, inside a write transaction (or a savepoint in one).
    pub(crate) trait ForwardSteps {
        /// Closes an open order with `status`, refunding `amount` micros through
        /// `book_refund` (ledger, payment status, the supplier's earning). The close is
        /// conditional on the order still being open, so a second report of the same
        /// outcome (or another node's) is a no-op and each refund is paid once. True when
        /// it closed the order.
        async fn close_with_refund(
            &mut self,
            order: i64,
            user: &str,
            amount: i64,
            status: OrderStatus,
            note: &str,
            now: i64,
        ) -> Result<bool> {
            let closed = sqlx::query(
                "UPDATE orders SET status = $1, completed_at = COALESCE(completed_at, $2), updated_at = $2 \
                 WHERE id = $3 AND status IN ('pending', 'processing', 'error')",
            )
            .bind(status.as_str())
            .bind(now)
            .bind(order)
            .execute(&mut *self)
            .await?
            .rows_affected()
                == 1;
            if closed {
                self.book_refund(order, user, Money::from_micros(amount), status, note, now)
                    .await?;
            }
            Ok(closed)
        }
    }
}

/// [`OrderJobSteps::enqueue_forward`] as a part of a sale's script, for an order of
/// `service`. It reads the service, not the order: on PostgreSQL the order's row may be
/// written by the same statement, whose parts do not see each other's rows.
pub(crate) fn forward_part(order: i64, service: i64, now: i64) -> Part {
    let job = forward_job(order, now);
    Part::new(
        "INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, attempts, created_at, updated_at) \
         SELECT $1, $2, $3, $4, $5, 0, $4, $4 FROM services WHERE number = $6 AND provider_id IS NOT NULL \
         ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
        vec![
            job.kind.into(),
            job.payload.into(),
            job.dedupe_key.into(),
            now.into(),
            job.max_attempts.into(),
            service.into(),
        ],
    )
}

tx_steps! {
    /// An order's jobs, inside the transaction that changes the order.
    pub(crate) trait OrderJobSteps {
        /// The order's `order.forward` job, if its service is connected to a provider:
        /// committed with the order, so an order is sent exactly when it exists.
        async fn enqueue_forward(&mut self, order: i64, now: i64) -> Result<()> {
            let service: Option<(Option<i64>,)> =
                sqlx::query_as("SELECT service_number FROM orders WHERE id = $1")
                    .bind(order)
                    .fetch_optional(&mut *self)
                    .await?;
            if let Some((Some(service),)) = service {
                self.run_script(Script::one(forward_part(order, service, now))).await?;
            }
            Ok(())
        }

        /// Deletes the order's `order.forward` and `order.status` jobs (it closed, or
        /// the operator settled it).
        async fn drop_order_jobs(&mut self, order: i64) -> Result<()> {
            sqlx::query("DELETE FROM jobs WHERE kind IN ($1, $2) AND dedupe_key = $3")
                .bind(ORDER_FORWARD)
                .bind(ORDER_STATUS)
                .bind(order.to_string())
                .execute(&mut *self)
                .await?;
            Ok(())
        }

        /// The upstream holds the order under `external_id`: recorded (replacing an id
        /// it stopped knowing when `replace`), its jobs replaced by a status poll due at
        /// once. False when the order is closed, or already has an id and not `replace`.
        async fn settle_sent(&mut self, order: i64, external_id: &str, replace: bool, now: i64) -> Result<bool> {
            let sent = sqlx::query(
                "UPDATE orders SET external_id = $1, sent_at = COALESCE(sent_at, $2), \
                 status = CASE WHEN status = 'error' THEN 'pending' ELSE status END, updated_at = $2 \
                 WHERE id = $3 AND status IN ('pending', 'processing', 'error') AND (external_id IS NULL OR $4)",
            )
            .bind(external_id)
            .bind(now)
            .bind(order)
            .bind(replace)
            .execute(&mut *self)
            .await?
            .rows_affected()
                == 1;
            if sent {
                self.drop_order_jobs(order).await?;
                let job = status_job(order, now);
                insert_job(&job, now).fetch_optional(&mut *self).await?;
            }
            Ok(sent)
        }

        /// A claimed job's try ended without an answer that settles it: due again at
        /// `retry_at`, or parked when it is `None`, with its new payload and error. False
        /// when `node` no longer holds it.
        async fn release_claimed(
            &mut self,
            job: i64,
            node: &str,
            payload: &str,
            error: &str,
            retry_at: Option<i64>,
            now: i64,
        ) -> Result<bool> {
            let released = sqlx::query(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, payload = $1, last_error = $2, \
                 run_at = COALESCE($3, run_at), state = CASE WHEN $3 IS NULL THEN 'parked' ELSE 'ready' END, \
                 updated_at = $4 WHERE id = $5 AND locked_by = $6",
            )
            .bind(payload)
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .bind(job)
            .bind(node)
            .execute(&mut *self)
            .await?
            .rows_affected()
                == 1;
            if released && retry_at.is_none() {
                self.job_parked(job, now).await?;
            }
            Ok(released)
        }

        /// The order waits for the operator: shown `In progress` (status `error`).
        async fn mark_waiting(&mut self, order: i64, now: i64) -> Result<()> {
            sqlx::query(
                "UPDATE orders SET status = 'error', updated_at = $1 \
                 WHERE id = $2 AND status IN ('pending', 'processing', 'error')",
            )
            .bind(now)
            .bind(order)
            .execute(&mut *self)
            .await?;
            Ok(())
        }
    }
}

tx_steps! {
    /// Status polls' outcomes, inside a write transaction.
    trait StatusSteps {
        /// A poll did not settle the order: it is polled again at `at`, or, its tries
        /// spent, its job is parked with `parked_error` and the order shown `In progress`
        /// for the operator. True when parked; false too when `node` no longer holds it.
        async fn fail_status_job(
            &mut self,
            job: &StatusJob,
            node: &str,
            error: &str,
            parked_error: &str,
            at: i64,
            now: i64,
        ) -> Result<bool> {
            let state: Option<(String,)> = sqlx::query_as(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = $1, updated_at = $2, \
                 last_error = CASE WHEN attempts >= max_attempts THEN $3 ELSE $4 END, \
                 state = CASE WHEN attempts >= max_attempts THEN 'parked' ELSE 'ready' END \
                 WHERE id = $5 AND locked_by = $6 RETURNING state",
            )
            .bind(at)
            .bind(now)
            .bind(parked_error)
            .bind(error)
            .bind(job.job_id)
            .bind(node)
            .fetch_optional(&mut *self)
            .await?;
            let parked = state.is_some_and(|(s,)| s == "parked");
            if parked {
                self.mark_waiting(job.order_id, now).await?;
                self.job_parked(job.job_id, now).await?;
            }
            Ok(parked)
        }
    }
}

impl Store {
    /// Claims up to `limit` due `order.forward` jobs for this node until `now + claim_ms`
    /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite). Nothing is
    /// counted as a send here: a claim that ends without one (provider disabled, shutdown)
    /// is no attempt. An order is bound to its provider (and that provider's service) at
    /// its first claim and keeps them: status, refills and resends go where it was sent,
    /// even after the operator re-points the service. A job whose order no longer waits
    /// to be sent is dropped; one whose service lost its provider is parked.
    pub async fn claim_forward_jobs(
        &self,
        node: &str,
        now: i64,
        claim_ms: i64,
        limit: i64,
    ) -> Result<Vec<ForwardJob>> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let jobs = tx.claim_lane(Lane::Forward, node, now, claim_ms, limit).await?;
            if jobs.is_empty() {
                // Rolled back here, before the gate opens: a dropped transaction rolls back
                // only when its connection is next used (every idle poll took this path).
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let mut payloads = HashMap::new();
            for job in &jobs {
                match serde_json::from_str::<ForwardPayload>(&job.payload) {
                    Ok(p) => {
                        payloads.insert(p.order, (job.id, p));
                    }
                    Err(e) => {
                        tx.release_claimed(job.id, node, &job.payload, &format!("unreadable payload: {e}"), None, now).await?;
                    }
                }
            }
            let list = id_list(payloads.keys().copied());
            if !list.is_empty() {
                // The binding stamps `updated_at`: the dashboard's daily sums re-read the
                // orders changed since they last looked (`console_totals`).
                sqlx::query(&format!(
                    "UPDATE orders SET \
                     provider_id = COALESCE(provider_id, (SELECT s.provider_id FROM services s WHERE s.number = orders.service_number)), \
                     provider_service = CASE WHEN provider_id IS NULL \
                       THEN (SELECT s.provider_service FROM services s WHERE s.number = orders.service_number) \
                       ELSE provider_service END, \
                     updated_at = CASE WHEN provider_id IS NULL THEN $1 ELSE updated_at END \
                     WHERE id IN ({list}) AND status = 'pending' AND external_id IS NULL"
                ))
                .persistent(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            let rows: Vec<ForwardRow> = if list.is_empty() {
                Vec::new()
            } else {
                sqlx::query_as(&format!(
                    "SELECT o.id, o.provider_id, o.provider_service, p.provider_ref, o.link, o.quantity, o.params, \
                     o.runs, o.interval_minutes, o.sent_at, o.status, o.external_id, o.kind, s.type_name, \
                     ps.rate AS upstream_rate \
                     FROM orders o LEFT JOIN subproducts p ON p.id = o.subproduct_id \
                     LEFT JOIN services s ON s.number = o.service_number \
                     LEFT JOIN provider_services ps ON ps.provider_id = o.provider_id AND ps.external_service = o.provider_service \
                     WHERE o.id IN ({list}) ORDER BY o.id"
                ))
                .persistent(false)
                .fetch_all(&mut *tx)
                .await?
            };
            let mut claimed = Vec::with_capacity(rows.len());
            for row in rows {
                let Some((job_id, payload)) = payloads.remove(&row.id) else { continue };
                if row.status != "pending" || row.external_id.is_some() {
                    // Closed, or the upstream took it meanwhile: nothing left to send.
                    tx.delete_job(job_id).await?;
                    continue;
                }
                let upstream_cost = upstream_cost(&row);
                let (Some(provider_id), Some(provider_service)) = (row.provider_id, row.provider_service) else {
                    // Queued but no longer connected to a provider: the operator decides.
                    let why = "the service is not connected to a provider";
                    tx.release_claimed(job_id, node, &serde_json::to_string(&payload).unwrap_or_default(), why, None, now).await?;
                    tx.mark_waiting(row.id, now).await?;
                    continue;
                };
                claimed.push(ForwardJob {
                    job_id,
                    order_id: row.id,
                    provider_id,
                    provider_service,
                    provider_subproduct: row.provider_ref.filter(|p| !p.is_empty()),
                    link: row.link,
                    quantity: row.quantity,
                    params: row.params,
                    runs: row.runs,
                    interval_minutes: row.interval_minutes,
                    attempts: payload.sends,
                    refusals: payload.refusals,
                    unknown_since: row.sent_at,
                    upstream_cost,
                });
            }
            // Jobs whose order is gone.
            for (job_id, _) in payloads.into_values() {
                tx.delete_job(job_id).await?;
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// Right before an order's request goes out: the order is marked as possibly held
    /// upstream from now on (`sent_at`), the job's lease stretched over the call
    /// (`lease_ms`, longer than the request can take) and one more send counted. False
    /// when the job is no longer this node's (the claim ran out and another node took it)
    /// or the order no longer waits (the buyer cancelled it): then nothing may be sent.
    pub async fn begin_send(
        &self,
        job: &mut ForwardJob,
        node: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<bool> {
        let payload = ForwardJob {
            attempts: job.attempts + 1,
            ..job.clone()
        }
        .payload();
        let began = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let held = sqlx::query(
                "UPDATE jobs SET locked_until = $1, payload = $2, updated_at = $3 WHERE id = $4 AND locked_by = $5",
            )
            .bind(now + lease_ms)
            .bind(&payload)
            .bind(now)
            .bind(job.job_id)
            .bind(node)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            let waiting = held
                && sqlx::query(
                    "UPDATE orders SET sent_at = COALESCE(sent_at, $1), updated_at = $1 \
                     WHERE id = $2 AND status = 'pending' AND external_id IS NULL",
                )
                .bind(now)
                .bind(job.order_id)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1;
            if waiting {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            waiting
        });
        if began {
            job.attempts += 1;
        }
        Ok(began)
    }

    /// The upstream accepted the order under `external_id`: its send job gives way to a
    /// status poll, and the order's events say after how many sends. Also settles an
    /// order whose job was meanwhile parked.
    pub async fn mark_forwarded(
        &self,
        job: &ForwardJob,
        external_id: &str,
        now: i64,
    ) -> Result<bool> {
        let order_id = job.order_id;
        let detail = format!("upstream order {external_id} (send {})", job.attempts);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if tx.settle_sent(order_id, external_id, false, now).await? {
                sqlx::query("UPDATE orders SET provider_cost = $1 WHERE id = $2")
                    .bind(job.upstream_cost.map(Money::micros))
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?;
                tx.order_event(order_id, "forwarded", &detail, now).await?;
                tx.commit().await?;
                Ok(true)
            } else {
                tx.rollback().await?;
                Ok(false)
            }
        })
    }

    /// The try ended and the order waits for another, due at `retry_at`. `Retry::Unknown`
    /// keeps the order marked as possibly held upstream; the others restore what it was
    /// before this try (marked only by an earlier unknown outcome).
    pub async fn requeue_forward(
        &self,
        job: &ForwardJob,
        node: &str,
        retry: Retry,
        error: &str,
        retry_at: i64,
        now: i64,
    ) -> Result<()> {
        let refusals = job.refusals + i64::from(retry == Retry::Refused);
        let payload = ForwardJob {
            refusals,
            ..job.clone()
        }
        .payload();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if !tx.release_claimed(job.job_id, node, &payload, error, Some(retry_at), now).await? {
                tx.rollback().await?;
                return Ok(());
            }
            sqlx::query(
                "UPDATE orders SET sent_at = CASE WHEN $1 THEN COALESCE(sent_at, $2) ELSE $3 END, updated_at = $2 WHERE id = $4",
            )
            .bind(retry == Retry::Unknown)
            .bind(now)
            .bind(job.unknown_since)
            .bind(job.order_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The upstream may hold the order: its job is parked for the operator and the order
    /// shown `In progress` (status `error`). Never refunded without the operator.
    pub async fn park_forward(
        &self,
        job: &ForwardJob,
        node: &str,
        error: &str,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if !tx.release_claimed(job.job_id, node, &job.payload(), error, None, now).await? {
                tx.rollback().await?;
                return Ok(());
            }
            tx.mark_waiting(job.order_id, now).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The upstream refused the order for good (or the operator gave up on it): cancel
    /// and refund in full, once; its jobs go with it.
    pub async fn fail_forward(&self, order_id: i64, error: &str, now: i64) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<(String, i64, i64)> = sqlx::query_as(
                "SELECT user_id, charge, refunded FROM orders WHERE id = $1 AND status IN ('pending', 'processing', 'error')",
            )
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user, charge, refunded)) = row else {
                tx.rollback().await?;
                return Ok(false);
            };
            let closed = tx.close_with_refund(order_id, &user, charge - refunded, OrderStatus::Canceled, "provider refused the order", now).await?;
            tx.drop_order_jobs(order_id).await?;
            tx.order_event(order_id, "forward_failed", error, now).await?;
            tx.commit().await?;
            Ok(closed)
        })
    }

    /// Claims up to `limit` due `order.status` jobs for this node until `now + lease_ms`.
    /// A job whose order no longer waits on its upstream is dropped.
    pub async fn claim_status_jobs(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<StatusJob>> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let jobs = tx.claim_lane(Lane::Status, node, now, lease_ms, limit).await?;
            if jobs.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let mut by_order: HashMap<i64, i64> = HashMap::new();
            for job in &jobs {
                match order_of(job) {
                    Some(order) => {
                        by_order.insert(order, job.id);
                    }
                    None => {
                        tx.release_claimed(job.id, node, &job.payload, "unreadable payload", None, now).await?;
                    }
                }
            }
            let rows: Vec<(i64, Option<String>, Option<String>)> = if by_order.is_empty() {
                Vec::new()
            } else {
                sqlx::query_as(&format!(
                    "SELECT id, provider_id, external_id FROM orders WHERE id IN ({}) \
                     AND status IN ('pending', 'processing', 'error') ORDER BY id",
                    id_list(by_order.keys().copied())
                ))
                .persistent(false)
                .fetch_all(&mut *tx)
                .await?
            };
            let mut claimed = Vec::with_capacity(rows.len());
            for (order_id, provider, external) in rows {
                let Some(job_id) = by_order.remove(&order_id) else { continue };
                match (provider, external) {
                    (Some(provider_id), Some(external_id)) if external_id != crate::LOCAL_DRIPFEED => {
                        claimed.push(StatusJob { job_id, order_id, provider_id, external_id });
                    }
                    _ => {
                        by_order.insert(order_id, job_id);
                    }
                }
            }
            // Closed, or nothing upstream to poll.
            for job_id in by_order.into_values() {
                tx.delete_job(job_id).await?;
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// A poll that got no answer (the upstream was down): the orders are polled again at
    /// `at`, the poll not counted against them.
    pub async fn postpone_sync(&self, jobs: &[StatusJob], node: &str, at: i64) -> Result<()> {
        if jobs.is_empty() {
            return Ok(());
        }
        let sql = format!(
            "UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = $1, attempts = attempts - 1 \
             WHERE id IN ({}) AND locked_by = $2",
            id_list(jobs.iter().map(|j| j.job_id))
        );
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(&sql).persistent(false).bind(at).bind(node).execute(pool).await?;
        });
        Ok(())
    }

    /// Orders whose poll the upstream answered without knowing them (`Incorrect order
    /// ID`, a status we cannot read, no entry at all): one more miss each, next poll at
    /// `at`; an order with `MAX_STATUS_MISSES` in a row has its job parked for the
    /// operator instead of being polled forever. Returns the parked ones.
    pub async fn record_sync_misses(
        &self,
        jobs: &[StatusJob],
        node: &str,
        at: i64,
        now: i64,
    ) -> Result<Vec<i64>> {
        if jobs.is_empty() {
            return Ok(Vec::new());
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let mut parked = Vec::new();
            for job in jobs {
                let parked_error = format!("the upstream did not know the order in {} status checks in a row", crate::MAX_STATUS_MISSES);
                if tx.fail_status_job(job, node, "the upstream did not know the order", &parked_error, at, now).await? {
                    parked.push(job.order_id);
                }
            }
            tx.commit().await?;
            Ok(parked)
        })
    }

    /// Applies what the upstream reports. `Partial` refunds `charge x remains / quantity`,
    /// `Canceled` refunds what is left; either closes the order, so each refund is paid
    /// once even if several nodes report the same answer. Accounts the upstream delivered
    /// are sealed and added once.
    ///
    /// Each order is settled under its own savepoint and ends its own job: closed, the
    /// job is done; still open, it is polled again at `next_sync_at`. One that cannot be
    /// settled (its refund cannot be booked, say) is rolled back alone and its job keeps
    /// the error, parked for the operator once its tries are spent; the others of the
    /// batch settle. (One such order used to roll back its whole batch of 100, at every
    /// poll, so its provider's sync never moved again.) Answers the failures.
    pub async fn apply_remote_updates(
        &self,
        updates: &[(StatusJob, RemoteUpdate)],
        node: &str,
        next_sync_at: i64,
        now: i64,
    ) -> Result<Vec<SettleFailure>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let mut failures = Vec::new();
            for (job, update) in updates {
                let order_id = job.order_id;
                let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
                let settled: Result<bool> = async {
                    let row: Option<(String, String, i64, i64, i64, i64, i64)> = sqlx::query_as(
                        "SELECT user_id, kind, quantity, charge, refunded, delivered, COALESCE(runs, 1) FROM orders \
                         WHERE id = $1 AND status IN ('pending', 'processing', 'error')",
                    )
                    .bind(order_id)
                    .fetch_optional(&mut *sp)
                    .await?;
                    let Some((user, kind, quantity, charge, refunded, delivered, runs)) = row else {
                        return Ok(false);
                    };
                    let mut delivered_now = delivered;
                    if kind == "product" && update.accounts.len() as i64 > delivered {
                        for account in update.accounts.iter().skip(delivered as usize).take((quantity - delivered).max(0) as usize) {
                            sqlx::query(
                                "INSERT INTO stock_lines (service_number, subproduct_id, content, fingerprint, source, order_id, created_at, delivered_at) \
                                 SELECT service_number, subproduct_id, $1, $2, 'upstream', id, $3, $3 FROM orders WHERE id = $4",
                            )
                            .bind(self.crypto.seal(account))
                            .bind(self.crypto.fingerprint(account))
                            .bind(now)
                            .bind(order_id)
                            .execute(&mut *sp)
                            .await?;
                            delivered_now += 1;
                        }
                    }
                    let remains = update.remains.map(|r| r.clamp(0, quantity));
                    sqlx::query(
                        "UPDATE orders SET start_count = COALESCE($1, start_count), remains = COALESCE($2, remains), \
                         delivered = $3, updated_at = $4 WHERE id = $5",
                    )
                    .bind(update.start_count)
                    .bind(remains)
                    .bind(delivered_now)
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *sp)
                    .await?;
                    let charge_m = Money::from_micros(charge);
                    let refunded_m = Money::from_micros(refunded);
                    // A subscription has states of its own, and is refunded by posts.
                    let subscription: Option<(String, String)> = if kind == "smm" {
                        sqlx::query_as::<_, (String, String)>(
                            "SELECT s.type_name, o.params FROM orders o JOIN services s ON s.number = o.service_number \
                             WHERE o.id = $1 AND o.parent_id IS NULL",
                        )
                        .bind(order_id)
                        .fetch_optional(&mut *sp)
                        .await?
                        .filter(|(t, _)| souk_core::smm_type::canonical(t) == Some("Subscriptions"))
                    } else {
                        None
                    };
                    if let Some((_, params)) = subscription {
                        let state = SubscriptionState::parse(&update.state_text)
                            .unwrap_or_else(|| SubscriptionState::of_order(update.status));
                        let (served,): (Option<i64>,) = sqlx::query_as(
                            "UPDATE orders SET sub_state = $1, posts_done = COALESCE($2, posts_done) WHERE id = $3 RETURNING posts_done",
                        )
                        .bind(state.as_str())
                        .bind(update.posts.map(|p| p.max(0)))
                        .bind(order_id)
                        .fetch_one(&mut *sp)
                        .await?;
                        // The orders the upstream placed for its posts: each becomes a
                        // child order here (charged nothing: the subscription paid), polled
                        // as any order the upstream holds, so the buyer can follow each.
                        for upstream in &update.child_orders {
                            let known: Option<(i64,)> = sqlx::query_as(
                                "SELECT id FROM orders WHERE parent_id = $1 AND external_id = $2",
                            )
                            .bind(order_id)
                            .bind(upstream)
                            .fetch_optional(&mut *sp)
                            .await?;
                            if known.is_some() {
                                continue;
                            }
                            let (child,): (i64,) = sqlx::query_as(
                                "INSERT INTO orders (user_id, kind, service_number, shop_id, product_type, link, quantity, charge, \
                                 status, payment_status, remains, params, parent_id, provider_id, provider_service, external_id, \
                                 sent_at, created_at, paid_at, updated_at) \
                                 SELECT user_id, kind, service_number, shop_id, product_type, link, quantity, 0, 'processing', \
                                 'completed', quantity, '{}', id, provider_id, provider_service, $1, $2, $2, $2, $2 \
                                 FROM orders WHERE id = $3 RETURNING id",
                            )
                            .bind(upstream)
                            .bind(now)
                            .bind(order_id)
                            .fetch_one(&mut *sp)
                            .await?;
                            insert_job(&status_job(child, now), now).fetch_optional(&mut *sp).await?;
                        }
                        let posts = serde_json::from_str::<HashMap<String, String>>(&params)
                            .ok()
                            .and_then(|p| p.get("posts").and_then(|n| n.trim().parse::<i64>().ok()))
                            .unwrap_or(1);
                        let (status, refund) = state.settle(charge_m, refunded_m, posts, served.unwrap_or(0));
                        if status.is_open() {
                            sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
                                .bind(status.as_str())
                                .bind(order_id)
                                .execute(&mut *sp)
                                .await?;
                            sp.order_changed(order_id, now).await?;
                        } else {
                            let why = format!("subscription {} upstream", state.as_str().to_ascii_lowercase());
                            sp.close_with_refund(order_id, &user, refund.micros(), status, &why, now).await?;
                        }
                        return Ok(status.is_open());
                    }
                    let open = update.status.is_open();
                    match update.status {
                        OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Error => {
                            let status = if update.status == OrderStatus::Error { OrderStatus::Processing } else { update.status };
                            sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
                                .bind(status.as_str())
                                .bind(order_id)
                                .execute(&mut *sp)
                                .await?;
                            sp.order_changed(order_id, now).await?;
                        }
                        OrderStatus::Completed => {
                            sp.close_with_refund(order_id, &user, 0, OrderStatus::Completed, "", now).await?;
                            sqlx::query("UPDATE orders SET remains = 0 WHERE id = $1").bind(order_id).execute(&mut *sp).await?;
                        }
                        OrderStatus::Partial => {
                            // Products: what was not delivered; SMM: what the upstream says remains
                            // (of every run, for drip-feed).
                            let (total, undelivered) = if kind == "product" {
                                (quantity, quantity - delivered_now)
                            } else {
                                (quantity * runs.max(1), update.remains.unwrap_or(0).clamp(0, quantity * runs.max(1)))
                            };
                            let amount = proportional_refund(charge_m, refunded_m, total, total - undelivered);
                            sp.close_with_refund(order_id, &user, amount.micros(), OrderStatus::Partial, "partial upstream", now).await?;
                        }
                        OrderStatus::Canceled => {
                            let amount = proportional_refund(charge_m, refunded_m, quantity, if kind == "product" { delivered_now } else { 0 });
                            let status = if kind == "product" && delivered_now > 0 { OrderStatus::Partial } else { OrderStatus::Canceled };
                            sp.close_with_refund(order_id, &user, amount.micros(), status, "canceled upstream", now).await?;
                        }
                    }
                    Ok(open)
                }
                .await;
                match settled {
                    Ok(open) => {
                        sp.commit().await?;
                        if open {
                            // Settled for now: all its tries again, next poll at its time.
                            sqlx::query(
                                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = $1, attempts = 0, \
                                 last_error = NULL, updated_at = $2 WHERE id = $3 AND locked_by = $4",
                            )
                            .bind(next_sync_at)
                            .bind(now)
                            .bind(job.job_id)
                            .bind(node)
                            .execute(&mut *tx)
                            .await?;
                        } else {
                            tx.drop_order_jobs(order_id).await?;
                        }
                    }
                    Err(e) => {
                        sp.rollback().await?;
                        let error = format!("settling the upstream's answer failed: {e}");
                        let parked = tx.fail_status_job(job, node, &error, &error, next_sync_at, now).await?;
                        failures.push(SettleFailure { order_id, error, parked });
                    }
                }
            }
            tx.commit().await?;
            Ok(failures)
        })
    }

    /// Orders whose job is parked for the operator: a send with an unknown outcome, or an
    /// upstream that stopped knowing the order or whose answer could not be booked.
    pub async fn stuck_orders(&self, limit: i64) -> Result<Vec<StuckOrder>> {
        // The parked jobs first (few), then their orders by key: a join on the job's text
        // key could not use the orders' primary key.
        let jobs: Vec<(String, String, String, i64, Option<String>)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT dedupe_key, kind, payload, attempts, last_error FROM jobs \
                 WHERE state = 'parked' AND kind IN ($1, $2) AND dedupe_key IS NOT NULL",
            )
            .bind(ORDER_FORWARD)
            .bind(ORDER_STATUS)
            .fetch_all(pool)
            .await?
        });
        let mut by_order: HashMap<i64, (String, String, i64, Option<String>)> = HashMap::new();
        for (key, kind, payload, attempts, error) in jobs {
            if let Ok(order) = key.parse::<i64>() {
                by_order.insert(order, (kind, payload, attempts, error));
            }
        }
        if by_order.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, Option<String>, Option<String>, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT o.id, COALESCE(o.provider_id, s.provider_id), o.external_id, o.updated_at \
                 FROM orders o LEFT JOIN services s ON s.number = o.service_number \
                 WHERE o.id IN ({}) ORDER BY o.id LIMIT $1",
                id_list(by_order.keys().copied())
            ))
            .persistent(false)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .filter_map(|(id, provider_id, external_id, updated_at)| {
                let (kind, payload, attempts, last_error) = by_order.remove(&id)?;
                Some(StuckOrder {
                    id,
                    provider_id,
                    external_id,
                    forward_state: "unknown".into(),
                    forward_attempts: if kind == ORDER_FORWARD {
                        serde_json::from_str::<ForwardPayload>(&payload).map_or(0, |p| p.sends)
                    } else {
                        attempts
                    },
                    last_error,
                    updated_at,
                })
            })
            .collect())
    }

    /// Where an order stands with its upstream, by the names the operator knows:
    /// `unknown` (parked, the operator decides), `sending` (a claimed send that may be
    /// in flight), `queued`, `sent` (the upstream holds it), `failed` (given up) or
    /// `none`. `None` when there is no such order.
    pub async fn forward_state(&self, order_id: i64) -> Result<Option<String>> {
        let state: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT CASE \
                 WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.kind IN ($2, $3) AND j.dedupe_key = $4 AND j.state = 'parked') THEN 'unknown' \
                 WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $2 AND j.dedupe_key = $4 AND j.locked_by IS NOT NULL) \
                      AND o.sent_at IS NOT NULL THEN 'sending' \
                 WHEN EXISTS (SELECT 1 FROM jobs j WHERE j.kind = $2 AND j.dedupe_key = $4) THEN 'queued' \
                 WHEN o.external_id IS NOT NULL THEN 'sent' \
                 WHEN EXISTS (SELECT 1 FROM order_events e WHERE e.order_id = o.id AND e.kind = 'forward_failed') THEN 'failed' \
                 ELSE 'none' END FROM orders o WHERE o.id = $1",
            )
            .bind(order_id)
            .bind(ORDER_FORWARD)
            .bind(ORDER_STATUS)
            .bind(order_id.to_string())
            .fetch_optional(pool)
            .await?
        });
        Ok(state.map(|(s,)| s))
    }

    /// The operator settles an order whose job is parked.
    pub async fn resolve_forward(
        &self,
        order_id: i64,
        resolution: &Resolution,
        now: i64,
    ) -> Result<()> {
        self.resolve_forward_audited(order_id, resolution, now, |_, _| None)
            .await
    }

    /// `resolve_forward`, writing in its transaction the audit row `audit` makes of the
    /// order's (status, refunded) before and after.
    pub async fn resolve_forward_audited(
        &self,
        order_id: i64,
        resolution: &Resolution,
        now: i64,
        audit: impl FnOnce((String, i64), (String, i64)) -> Option<crate::NewAuditEntry> + Send,
    ) -> Result<()> {
        match self.forward_state(order_id).await? {
            None => return Err(StoreError::NotFound("Order")),
            Some(s) if s != "unknown" => {
                return Err(StoreError::Conflict(format!(
                    "Order {order_id} is {s}, not waiting for a resolution"
                )))
            }
            Some(_) => {}
        }
        if let Resolution::Sent(external) = resolution {
            if external.trim().is_empty() {
                return Err(StoreError::Invalid(
                    "The upstream order id is required".into(),
                ));
            }
        }
        const STATE: &str = "SELECT status, refunded FROM orders WHERE id = $1";
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: (String, i64) = sqlx::query_as(STATE).bind(order_id).fetch_one(&mut *tx).await?;
            match resolution {
                Resolution::Sent(external) => {
                    // Replaces the id of an order the upstream stopped knowing, too.
                    tx.settle_sent(order_id, external.trim(), true, now).await?;
                }
                Resolution::Fail => {
                    // As `fail_forward`: refunded in full, if still open.
                    let row: Option<(String, i64, i64)> = sqlx::query_as(
                        "SELECT user_id, charge, refunded FROM orders WHERE id = $1 AND status IN ('pending', 'processing', 'error')",
                    )
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if let Some((user, charge, refunded)) = row {
                        tx.close_with_refund(order_id, &user, charge - refunded, OrderStatus::Canceled, "provider refused the order", now).await?;
                        tx.drop_order_jobs(order_id).await?;
                        tx.order_event(order_id, "forward_failed", "failed by the operator", now).await?;
                    }
                }
                Resolution::Resend => {
                    // The operator says the upstream does not hold it: a fresh start.
                    sqlx::query(
                        "UPDATE orders SET status = 'pending', external_id = NULL, sent_at = NULL, updated_at = $1 \
                         WHERE id = $2 AND status IN ('pending', 'processing', 'error')",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?;
                    tx.drop_order_jobs(order_id).await?;
                    tx.enqueue_forward(order_id, now).await?;
                }
            }
            let after: (String, i64) = sqlx::query_as(STATE).bind(order_id).fetch_one(&mut *tx).await?;
            if let Some(entry) = audit(before, after) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
