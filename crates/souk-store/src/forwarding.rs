//! The outbox of orders for upstream providers, and what comes back from them.
//!
//! An order is committed first (`forward_state = 'queued'`), then claimed by one node
//! (still `queued`, owned by the node until the claim runs out) and moved to `sending`,
//! with a lease, only right before its request goes out: an order a node claimed but
//! never sent goes back to the queue, never to `unknown`. The answer moves it to `sent`
//! with the upstream's id, back to `queued` when it surely was not processed, or to
//! `unknown` (shown as `In progress`, status `error`) when it may have been: such an
//! order is never sent again blindly; the operator resolves it, unless the provider
//! honours idempotency keys, in which case the resend with the same key is safe and
//! happens by itself while the upstream still remembers the key.

use crate::rows::row_struct;
use souk_core::early_cancel::proportional_refund;
use souk_core::order::OrderStatus;
use souk_core::Money;

use crate::db::{on_engine, tx_steps, BeginWrite, Engine};
use crate::jobs::{insert_job, status_job};
use crate::orders::OrderSteps;
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

/// An order ready to be sent upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ForwardJob {
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
    /// Requests sent so far (claims that never sent do not count).
    pub attempts: i64,
    /// Well-formed refusals so far.
    pub refusals: i64,
    /// When the earliest send whose outcome was unknown began: the upstream may hold
    /// the order.
    pub unknown_since: Option<i64>,
}

row_struct! {
    struct JobRow {
        id: i64,
        provider_id: String,
        provider_service: String,
        provider_ref: Option<String>,
        link: String,
        quantity: i64,
        params: String,
        runs: Option<i64>,
        interval_minutes: Option<i64>,
        forward_attempts: i64,
        forward_refusals: i64,
        unknown_since: Option<i64>,
    }
}

/// What an upstream said about an order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteUpdate {
    pub status: OrderStatus,
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    /// Every account delivered so far (marketplace products).
    pub accounts: Vec<String>,
}

/// An order whose upstream answer could not be settled (`apply_remote_updates`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettleFailure {
    pub order_id: i64,
    pub error: String,
    /// Failed `max_failures` times in a row: parked for the operator.
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

row_struct! {
    /// An order waiting on an upstream, for the operator.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct StuckOrder {
        pub id: i64,
        pub provider_id: Option<String>,
        /// Set when the upstream took the order but later stopped knowing it.
        pub external_id: Option<String>,
        pub forward_state: String,
        pub forward_attempts: i64,
        pub last_error: Option<String>,
        pub updated_at: i64,
    }
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

impl Store {
    /// Claims up to `limit` due orders for this node: each is claimed by one node only
    /// (`FOR UPDATE SKIP LOCKED` on PostgreSQL, the write lock on SQLite). A claimed order
    /// stays `queued`, owned by `node`, and is not due for anyone else for `claim_ms`;
    /// `begin_send` moves it to `sending` when its request goes out. Nothing is counted
    /// here: a claim that ends without a send (provider disabled, shutdown) is no attempt.
    pub async fn claim_forward_jobs(
        &self,
        node: &str,
        now: i64,
        claim_ms: i64,
        limit: i64,
    ) -> Result<Vec<ForwardJob>> {
        let pick = if self.engine() == Engine::Postgres {
            "SELECT id FROM orders WHERE forward_state = 'queued' AND status = 'pending' AND next_attempt_at <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED"
        } else {
            // SQLite uses the partial index `orders_forward` only when the query repeats its
            // condition word for word; without it, every batch scanned and sorted all orders
            // (10,000 queued orders forwarded at 205/s instead of 1,100/s).
            "SELECT id FROM orders WHERE forward_state IN ('queued', 'sending') AND forward_state = 'queued' \
             AND status = 'pending' AND next_attempt_at <= $1 ORDER BY next_attempt_at, id LIMIT $2"
        };
        let rows: Vec<JobRow> = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let ids: Vec<(i64,)> = sqlx::query_as(pick).bind(now).bind(limit).fetch_all(&mut *tx).await?;
            if ids.is_empty() {
                // Rolled back here, before the gate opens: a dropped transaction rolls back
                // only when its connection is next used, and until then the next writer
                // meets a locked database (every idle poll took this path).
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            // Ids come from the database, so they can be inlined; one statement claims them all.
            let list = ids.iter().map(|(id,)| id.to_string()).collect::<Vec<_>>().join(",");
            // An order is bound to its provider (and that provider's service) at its first
            // claim and keeps them: status, refills and resends go where it was sent, even
            // after the operator re-points the service.
            sqlx::query(&format!(
                "UPDATE orders SET lease_owner = $1, lease_until = $2, next_attempt_at = $2, updated_at = $3, \
                 provider_id = COALESCE(provider_id, (SELECT s.provider_id FROM services s WHERE s.number = orders.service_number)), \
                 provider_service = CASE WHEN provider_id IS NULL \
                   THEN (SELECT s.provider_service FROM services s WHERE s.number = orders.service_number) \
                   ELSE provider_service END \
                 WHERE id IN ({list}) AND forward_state = 'queued'"
            ))
            .bind(node)
            .bind(now + claim_ms)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let rows: Vec<JobRow> = sqlx::query_as(&format!(
                "SELECT o.id, o.provider_id, o.provider_service, p.provider_ref, o.link, o.quantity, o.params, \
                 o.runs, o.interval_minutes, o.forward_attempts, o.forward_refusals, o.unknown_since \
                 FROM orders o LEFT JOIN subproducts p ON p.id = o.subproduct_id \
                 WHERE o.id IN ({list}) AND o.forward_state = 'queued' AND o.lease_owner = $1 \
                 AND o.provider_id IS NOT NULL AND o.provider_service IS NOT NULL ORDER BY o.id"
            ))
            .bind(node)
            .fetch_all(&mut *tx)
            .await?;
            // Queued but no longer connected to a provider: the operator decides.
            sqlx::query(&format!(
                "UPDATE orders SET forward_state = 'unknown', status = 'error', lease_owner = NULL, lease_until = NULL, \
                 last_error = 'the service is not connected to a provider' \
                 WHERE id IN ({list}) AND forward_state = 'queued' AND lease_owner = $1 \
                 AND (provider_id IS NULL OR provider_service IS NULL)"
            ))
            .bind(node)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            rows
        });
        Ok(rows
            .into_iter()
            .map(|r| ForwardJob {
                order_id: r.id,
                provider_id: r.provider_id,
                provider_service: r.provider_service,
                provider_subproduct: r.provider_ref.filter(|p| !p.is_empty()),
                link: r.link,
                quantity: r.quantity,
                params: r.params,
                runs: r.runs,
                interval_minutes: r.interval_minutes,
                attempts: r.forward_attempts,
                refusals: r.forward_refusals,
                unknown_since: r.unknown_since,
            })
            .collect())
    }

    /// Right before an order's request goes out: `sending`, leased for `lease_ms` (longer
    /// than the request can take), one more attempt. False when the order is no longer
    /// this node's to send (the claim ran out and another node took it, or the buyer
    /// cancelled it): then nothing may be sent.
    pub async fn begin_send(
        &self,
        order_id: i64,
        node: &str,
        lease_ms: i64,
        now: i64,
    ) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let done = on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE orders SET forward_state = 'sending', lease_until = $1, send_started_at = $2, \
                 forward_attempts = forward_attempts + 1, updated_at = $2 \
                 WHERE id = $3 AND forward_state = 'queued' AND lease_owner = $4 AND status = 'pending'",
            )
            .bind(now + lease_ms)
            .bind(now)
            .bind(order_id)
            .bind(node)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Gives this node's claimed but unsent orders back to the queue, due at once (a
    /// stopping node, or a batch cut short).
    pub async fn release_forward_claims(&self, node: &str, now: i64) -> Result<u64> {
        let _gate = self.gate.enter().await;
        Ok(on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE orders SET lease_owner = NULL, lease_until = NULL, next_attempt_at = $1 \
                 WHERE forward_state IN ('queued', 'sending') AND forward_state = 'queued' AND lease_owner = $2",
            )
            .bind(now)
            .bind(node)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// The upstream accepted the order under `external_id`. Also settles an order that a
    /// lease expiry had meanwhile moved to `unknown`.
    pub async fn mark_forwarded(&self, order_id: i64, external_id: &str, now: i64) -> Result<bool> {
        self.settle_sent(
            order_id,
            external_id,
            now,
            "forward_state IN ('sending', 'unknown') AND external_id IS NULL",
        )
        .await
    }

    /// Moves an order to `sent` under `external_id`, where `only_if` holds, and makes
    /// sure its provider has a `provider.status` job to poll it, in the same transaction:
    /// an order the upstream holds is always being watched.
    async fn settle_sent(
        &self,
        order_id: i64,
        external_id: &str,
        now: i64,
        only_if: &str,
    ) -> Result<bool> {
        let sql = format!(
            "UPDATE orders SET forward_state = 'sent', external_id = $1, lease_owner = NULL, lease_until = NULL, \
             last_error = NULL, status = CASE WHEN status = 'error' THEN 'pending' ELSE status END, \
             next_sync_at = $2, sync_misses = 0, updated_at = $2 WHERE id = $3 AND {only_if} \
             RETURNING provider_id"
        );
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let sent: Option<(Option<String>,)> = sqlx::query_as(&sql)
                .bind(external_id)
                .bind(now)
                .bind(order_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((provider,)) = sent else {
                tx.rollback().await?;
                return Ok(false);
            };
            if let Some(provider) = provider {
                let job = status_job(&provider, now);
                insert_job(&job, now).fetch_optional(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Queues a claimed or sent order again for `retry_at`. `Retry::Unknown` remembers
    /// when the send that may have reached the upstream began.
    pub async fn requeue_forward(
        &self,
        order_id: i64,
        node: &str,
        retry: Retry,
        error: &str,
        retry_at: i64,
        now: i64,
    ) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE orders SET forward_state = 'queued', lease_owner = NULL, lease_until = NULL, last_error = $1, \
                 next_attempt_at = $2, updated_at = $3, forward_refusals = forward_refusals + $4, \
                 unknown_since = CASE WHEN $5 THEN COALESCE(unknown_since, send_started_at, $3) ELSE unknown_since END \
                 WHERE id = $6 AND forward_state IN ('queued', 'sending') AND lease_owner = $7",
            )
            .bind(error)
            .bind(retry_at)
            .bind(now)
            .bind(i64::from(retry == Retry::Refused))
            .bind(retry == Retry::Unknown)
            .bind(order_id)
            .bind(node)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The upstream may hold the order: park it for the operator (`unknown`, shown as
    /// `In progress`). Never refunded without the operator.
    pub async fn park_forward(
        &self,
        order_id: i64,
        node: &str,
        error: &str,
        now: i64,
    ) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE orders SET forward_state = 'unknown', status = 'error', lease_owner = NULL, lease_until = NULL, \
                 unknown_since = COALESCE(unknown_since, send_started_at), last_error = $1, updated_at = $2 \
                 WHERE id = $3 AND forward_state IN ('queued', 'sending') AND lease_owner = $4",
            )
            .bind(error)
            .bind(now)
            .bind(order_id)
            .bind(node)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The upstream refused the order for good: cancel and refund in full, once.
    pub async fn fail_forward(&self, order_id: i64, error: &str, now: i64) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<(String, i64, i64)> = sqlx::query_as(
                "SELECT user_id, charge, refunded FROM orders WHERE id = $1 AND forward_state IN ('sending', 'unknown', 'queued')",
            )
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user, charge, refunded)) = row else {
                return Ok(false);
            };
            let closed = tx.close_with_refund(order_id, &user, charge - refunded, OrderStatus::Canceled, "provider refused the order", now).await?;
            sqlx::query(
                "UPDATE orders SET forward_state = 'failed', lease_owner = NULL, lease_until = NULL, last_error = $1 WHERE id = $2",
            )
            .bind(error)
            .bind(order_id)
            .execute(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO order_events (order_id, kind, detail, created_at) VALUES ($1, 'forward_failed', $2, $3)")
                .bind(order_id)
                .bind(error)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(closed)
        })
    }

    /// Sends whose lease ran out (the node died or hung mid-send): with an idempotent
    /// provider, and while the upstream still remembers the key, they are queued again;
    /// otherwise parked as `unknown`. Claimed orders that never went out are not here:
    /// they are still `queued` and due again once their claim runs out.
    pub async fn expire_forward_leases(&self, now: i64) -> Result<u64> {
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let requeued = sqlx::query(
                "UPDATE orders SET forward_state = 'queued', lease_owner = NULL, lease_until = NULL, next_attempt_at = $1, \
                 unknown_since = COALESCE(unknown_since, send_started_at), \
                 last_error = 'lease expired; resent with the same idempotency key' \
                 WHERE forward_state IN ('queued', 'sending') AND forward_state = 'sending' AND lease_until < $1 \
                 AND COALESCE(unknown_since, send_started_at, 0) >= $2 AND provider_id IN \
                 (SELECT id FROM providers WHERE supports_idempotency)",
            )
            .bind(now)
            .bind(now - RESEND_WINDOW_MS)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            let parked = sqlx::query(
                "UPDATE orders SET forward_state = 'unknown', status = 'error', lease_owner = NULL, lease_until = NULL, \
                 unknown_since = COALESCE(unknown_since, send_started_at), \
                 last_error = 'lease expired during the send; outcome unknown' \
                 WHERE forward_state IN ('queued', 'sending') AND forward_state = 'sending' AND lease_until < $1",
            )
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            tx.commit().await?;
            requeued + parked
        }))
    }

    /// Orders parked as `unknown` (a send with an unknown outcome, or an upstream that
    /// stopped knowing the order), for the operator.
    pub async fn stuck_orders(&self, limit: i64) -> Result<Vec<StuckOrder>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.id, COALESCE(o.provider_id, s.provider_id) AS provider_id, o.external_id, o.forward_state, \
                 o.forward_attempts, o.last_error, o.updated_at \
                 FROM orders o LEFT JOIN services s ON s.number = o.service_number \
                 WHERE o.forward_state = 'unknown' ORDER BY o.id LIMIT $1",
            )
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The operator settles a parked order.
    pub async fn resolve_forward(
        &self,
        order_id: i64,
        resolution: &Resolution,
        now: i64,
    ) -> Result<()> {
        let state: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT forward_state FROM orders WHERE id = $1")
                .bind(order_id)
                .fetch_optional(pool)
                .await?
        });
        match state {
            None => return Err(StoreError::NotFound("Order")),
            Some((s,)) if s != "unknown" => {
                return Err(StoreError::Conflict(format!(
                    "Order {order_id} is {s}, not waiting for a resolution"
                )))
            }
            Some(_) => {}
        }
        match resolution {
            Resolution::Sent(external) => {
                let external = external.trim();
                if external.is_empty() {
                    return Err(StoreError::Invalid(
                        "The upstream order id is required".into(),
                    ));
                }
                // Replaces the id of an order the upstream stopped knowing, too.
                self.settle_sent(order_id, external, now, "forward_state = 'unknown'")
                    .await?;
            }
            Resolution::Fail => {
                self.fail_forward(order_id, "failed by the operator", now)
                    .await?;
            }
            Resolution::Resend => {
                // The operator says the upstream does not hold it: a fresh start.
                let _gate = self.gate.enter().await;
                on_engine!(&self.db, pool => {
                    sqlx::query(
                        "UPDATE orders SET forward_state = 'queued', status = 'pending', next_attempt_at = $1, \
                         external_id = NULL, unknown_since = NULL, sync_misses = 0, forward_attempts = 0, forward_refusals = 0, \
                         lease_owner = NULL, lease_until = NULL, \
                         last_error = 'resent by the operator', updated_at = $1 WHERE id = $2 AND forward_state = 'unknown'",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(pool)
                    .await?;
                });
            }
        }
        Ok(())
    }

    /// Providers with open upstream orders due for a status check.
    pub async fn providers_due_for_sync(&self, now: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT DISTINCT o.provider_id FROM orders o \
                 WHERE o.external_id IS NOT NULL AND o.external_id <> 'local-dripfeed' AND o.status IN ('pending', 'processing', 'error') \
                 AND o.forward_state = 'sent' AND o.next_sync_at <= $1 AND o.provider_id IS NOT NULL",
            )
            .bind(now)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(p,)| p).collect())
    }

    /// Whether the provider holds any open order of ours, due for a check or not.
    pub async fn has_open_upstream_orders(&self, provider_id: &str) -> Result<bool> {
        let found: Option<(i64,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.id FROM orders o \
                 WHERE o.provider_id = $1 AND o.external_id IS NOT NULL AND o.external_id <> 'local-dripfeed' \
                 AND o.status IN ('pending', 'processing', 'error') AND o.forward_state = 'sent' LIMIT 1",
            )
            .bind(provider_id)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Open upstream orders of a provider due for a status check: (order id, upstream id).
    pub async fn open_upstream_orders(
        &self,
        provider_id: &str,
        now: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.id, o.external_id FROM orders o \
                 WHERE o.provider_id = $1 AND o.external_id IS NOT NULL AND o.external_id <> 'local-dripfeed' \
                 AND o.status IN ('pending', 'processing', 'error') AND o.forward_state = 'sent' \
                 AND o.next_sync_at <= $2 ORDER BY o.next_sync_at, o.id LIMIT $3",
            )
            .bind(provider_id)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Pushes orders' next status check to `at` (after an unanswered poll, say).
    pub async fn postpone_sync(&self, order_ids: &[i64], at: i64) -> Result<()> {
        if order_ids.is_empty() {
            return Ok(());
        }
        let list = order_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!("UPDATE orders SET next_sync_at = $1 WHERE id IN ({list})");
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(&sql).bind(at).execute(pool).await?;
        });
        Ok(())
    }

    /// Orders whose status poll the upstream answered without knowing them (`Incorrect
    /// order ID`, a status we cannot read, no entry at all): one more miss each, next
    /// check at `at`; those with `limit` misses in a row are parked for the operator
    /// instead of being polled forever. Returns the parked ones.
    pub async fn record_sync_misses(
        &self,
        order_ids: &[i64],
        limit: i64,
        at: i64,
        now: i64,
    ) -> Result<Vec<i64>> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = order_ids
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query(&format!(
                "UPDATE orders SET sync_misses = sync_misses + 1, next_sync_at = $1 WHERE id IN ({list})"
            ))
            .bind(at)
            .execute(&mut *tx)
            .await?;
            let parked: Vec<(i64,)> = sqlx::query_as(&format!(
                "SELECT id FROM orders WHERE id IN ({list}) AND sync_misses >= $1 AND forward_state = 'sent' \
                 AND status IN ('pending', 'processing', 'error') ORDER BY id"
            ))
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            if !parked.is_empty() {
                let ids = parked.iter().map(|(id,)| id.to_string()).collect::<Vec<_>>().join(",");
                sqlx::query(&format!(
                    "UPDATE orders SET forward_state = 'unknown', status = 'error', last_error = $1, updated_at = $2 \
                     WHERE id IN ({ids})"
                ))
                .bind(format!("the upstream did not know the order in {limit} status checks in a row"))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(parked.into_iter().map(|(id,)| id).collect())
        })
    }

    /// Applies what the upstream reports. `Partial` refunds `charge x remains / quantity`,
    /// `Canceled` refunds what is left; either closes the order, so each refund is paid
    /// once even if several nodes report the same answer. Accounts the upstream delivered
    /// are sealed and added once.
    ///
    /// Each order is settled under its own savepoint: one that cannot be settled (its
    /// refund cannot be booked, say) is rolled back alone, counted as a miss with its
    /// error, and parked for the operator after `max_failures` in a row; the others of
    /// the batch settle. (One such order used to roll back its whole batch of 100, at
    /// every poll, so its provider's sync never moved again.) Answers the failures.
    pub async fn apply_remote_updates(
        &self,
        updates: &[(i64, RemoteUpdate)],
        next_sync_at: i64,
        max_failures: i64,
        now: i64,
    ) -> Result<Vec<SettleFailure>> {
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let mut failures = Vec::new();
            for (order_id, update) in updates {
                let order_id = *order_id;
                let mut sp = sqlx::Acquire::begin(&mut *tx).await?;
                let settled: Result<()> = async {
                    let row: Option<(String, String, i64, i64, i64, i64, i64)> = sqlx::query_as(
                        "SELECT user_id, kind, quantity, charge, refunded, delivered, COALESCE(runs, 1) FROM orders \
                         WHERE id = $1 AND status IN ('pending', 'processing', 'error')",
                    )
                    .bind(order_id)
                    .fetch_optional(&mut *sp)
                    .await?;
                    let Some((user, kind, quantity, charge, refunded, delivered, runs)) = row else {
                        return Ok(());
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
                         delivered = $3, next_sync_at = $4, sync_misses = 0, updated_at = $5 WHERE id = $6",
                    )
                    .bind(update.start_count)
                    .bind(remains)
                    .bind(delivered_now)
                    .bind(next_sync_at)
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *sp)
                    .await?;
                    let charge_m = Money::from_micros(charge);
                    let refunded_m = Money::from_micros(refunded);
                    match update.status {
                        OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Error => {
                            let status = if update.status == OrderStatus::Error { OrderStatus::Processing } else { update.status };
                            sqlx::query("UPDATE orders SET status = $1 WHERE id = $2")
                                .bind(status.as_str())
                                .bind(order_id)
                                .execute(&mut *sp)
                                .await?;
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
                                Ok(())
                }
                .await;
                match settled {
                    Ok(()) => sp.commit().await?,
                    Err(e) => {
                        sp.rollback().await?;
                        let error = format!("settling the upstream's answer failed: {e}");
                        sqlx::query(
                            "UPDATE orders SET sync_misses = sync_misses + 1, next_sync_at = $1, last_error = $2, \
                             updated_at = $3 WHERE id = $4",
                        )
                        .bind(next_sync_at)
                        .bind(&error)
                        .bind(now)
                        .bind(order_id)
                        .execute(&mut *tx)
                        .await?;
                        let parked = sqlx::query(
                            "UPDATE orders SET forward_state = 'unknown', status = 'error' WHERE id = $1 \
                             AND sync_misses >= $2 AND forward_state = 'sent' AND status IN ('pending', 'processing', 'error')",
                        )
                        .bind(order_id)
                        .bind(max_failures)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                            == 1;
                        failures.push(SettleFailure { order_id, error, parked });
                    }
                }
            }
            tx.commit().await?;
            Ok(failures)
        })
    }
}
