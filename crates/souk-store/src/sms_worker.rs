//! What the SMS workers do in the store: end activations whose lifetime is over (refund
//! the ones without a code, complete the others), and claim upstream work with leases.
//! Both are safe with several nodes: every change is a conditional update, so whichever
//! node gets there first does it and the others find nothing to do.

use souk_core::sms::SIGNATURE_TOLERANCE_MS;

use crate::db::{on_engine, BeginWrite};
use crate::sms::SmsSteps;
use crate::{Result, Store};

/// Activations a sweep ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired without a code, refunded in full.
    pub expired: Vec<i64>,
    /// Lifetime over after a code: completed, number released.
    pub completed: Vec<i64>,
}

/// What an upstream rental needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamAction {
    /// `getStatus`: is the code there?
    Poll,
    /// `setStatus=3`: the buyer wants another SMS.
    Retry,
    /// `setStatus=6`: done.
    Complete,
    /// `setStatus=8`: cancel, the buyer was refunded.
    Cancel,
}

/// One upstream rental claimed by this node until its lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamJob {
    pub order_id: i64,
    pub provider_id: String,
    pub external_id: String,
    pub action: UpstreamAction,
    pub attempts: i64,
}

/// After this many failed attempts to complete or cancel upstream, give up (the
/// provider ends the rental on its own when its lifetime is over).
pub const MAX_UPSTREAM_ATTEMPTS: i64 = 10;

impl Store {
    /// Ends up to `limit` activations whose lifetime is over, each in its own
    /// transaction, and forgets webhook signatures too old to be replayed.
    pub async fn sms_sweep(&self, now: i64, limit: i64) -> Result<SweepReport> {
        // One query per status, so each uses its partial index.
        let due: Vec<(i64, String)> = on_engine!(&self.db, pool => {
            let mut due: Vec<(i64, String)> = sqlx::query_as(
                "SELECT order_id, status FROM sms_activations WHERE status = 'active' AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let completing: Vec<(i64, String)> = sqlx::query_as(
                "SELECT order_id, status FROM sms_activations WHERE status = 'code_received' AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            due.extend(completing);
            due
        });
        let mut report = SweepReport::default();
        for (order_id, status) in due {
            let ended = on_engine!(&self.db, pool => {
                let mut tx = pool.begin_write(&self.gate).await?;
                let ended = if status == "active" {
                    let ended = sqlx::query(
                        "UPDATE sms_activations SET status = 'expired', updated_at = $1 \
                         WHERE order_id = $2 AND status = 'active' AND expires_at <= $1",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if ended {
                        tx.refund_activation(order_id, "expired without an SMS", now).await?;
                    }
                    ended
                } else {
                    let ended = sqlx::query(
                        "UPDATE sms_activations SET status = 'completed', awaiting_retry = FALSE, updated_at = $1 \
                         WHERE order_id = $2 AND status = 'code_received' AND expires_at <= $1",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if ended {
                        tx.release_activation(order_id, "complete", now).await?;
                    }
                    ended
                };
                tx.commit().await?;
                ended
            });
            if ended {
                if status == "active" {
                    report.expired.push(order_id);
                } else {
                    report.completed.push(order_id);
                }
            }
        }
        on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM webhook_replays WHERE created_at < $1")
                .bind(now - 2 * SIGNATURE_TOLERANCE_MS - 60_000)
                .execute(pool)
                .await?;
        });
        Ok(report)
    }

    /// Claims up to `limit` upstream rentals with work due, for `lease_ms`.
    pub async fn sms_claim_upstream(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<UpstreamJob>> {
        type Row = (i64, Option<String>, Option<String>, String, i64);
        let rows: Vec<Row> = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let rows = sqlx::query_as(
                "UPDATE sms_activations SET lease_owner = $1, lease_until = $2 \
                 WHERE order_id IN (SELECT order_id FROM sms_activations \
                   WHERE upstream_state IN ('open', 'retry', 'complete', 'cancel') AND next_poll_at <= $3 \
                   AND (lease_until IS NULL OR lease_until < $3) \
                   AND (upstream_state <> 'open' OR status = 'active' OR (status = 'code_received' AND awaiting_retry)) \
                   ORDER BY next_poll_at LIMIT $4) \
                 AND (lease_until IS NULL OR lease_until < $3) \
                 RETURNING order_id, provider_id, external_id, upstream_state, upstream_attempts",
            )
            .bind(node)
            .bind(now + lease_ms)
            .bind(now)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            rows
        });
        Ok(rows
            .into_iter()
            .filter_map(|(order_id, provider, external, state, attempts)| {
                let action = match state.as_str() {
                    "open" => UpstreamAction::Poll,
                    "retry" => UpstreamAction::Retry,
                    "complete" => UpstreamAction::Complete,
                    "cancel" => UpstreamAction::Cancel,
                    _ => return None,
                };
                Some(UpstreamJob {
                    order_id,
                    provider_id: provider?,
                    external_id: external?,
                    action,
                    attempts,
                })
            })
            .collect())
    }

    /// Ends this node's lease on an upstream rental that was claimed in state
    /// `expected`: moves it to `state` and schedules its next work at `next_at`, counting
    /// a failure when `error` is given. If something else moved the rental on meanwhile
    /// (a cancel queued while a poll was in flight), that newer state and its schedule win.
    pub async fn sms_upstream_release(
        &self,
        order_id: i64,
        node: &str,
        expected: UpstreamAction,
        state: &str,
        next_at: i64,
        error: Option<&str>,
    ) -> Result<()> {
        let expected = match expected {
            UpstreamAction::Poll => "open",
            UpstreamAction::Retry => "retry",
            UpstreamAction::Complete => "complete",
            UpstreamAction::Cancel => "cancel",
        };
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE sms_activations SET \
                 next_poll_at = CASE WHEN upstream_state = $1 THEN $2 ELSE next_poll_at END, \
                 upstream_state = CASE WHEN upstream_state = $1 THEN $3 ELSE upstream_state END, \
                 upstream_attempts = CASE WHEN $4 THEN upstream_attempts + 1 ELSE 0 END, \
                 last_error = COALESCE($5, last_error), lease_owner = NULL, lease_until = NULL \
                 WHERE order_id = $6 AND lease_owner = $7",
            )
            .bind(expected)
            .bind(next_at)
            .bind(state)
            .bind(error.is_some())
            .bind(error)
            .bind(order_id)
            .bind(node)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
