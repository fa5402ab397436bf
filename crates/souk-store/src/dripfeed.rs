//! Drip-feed run here when the upstream service cannot: the parent order (charged for
//! every run) becomes `runs` child orders of `quantity` each, one every `interval`
//! minutes, forwarded like any other; when all have ended the parent closes with the
//! refund of what they left undone.

use souk_core::early_cancel::proportional_refund;
use souk_core::order::OrderStatus;
use souk_core::Money;

use crate::db::{on_engine, BeginWrite};
use crate::events::EventSteps;
use crate::forwarding::ForwardJob;
use crate::jobs::{forward_job, insert_job, settle_job};
use crate::orders::OrderSteps;
use crate::{Result, Store};

/// A drip-feed parent and its runs: id, user, quantity, runs, charge, refunded, children,
/// open children, units left undone.
type ParentRow = (i64, String, i64, i64, i64, i64, i64, i64, i64);

/// The external id that marks a parent whose runs are sent from here.
pub const LOCAL_DRIPFEED: &str = "local-dripfeed";

impl Store {
    /// Whether the provider's service takes `runs`/`interval` itself.
    pub async fn upstream_dripfeed(
        &self,
        provider_id: &str,
        external_service: &str,
    ) -> Result<bool> {
        let row: Option<(bool,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT dripfeed FROM provider_services WHERE provider_id = $1 AND external_service = $2")
                .bind(provider_id)
                .bind(external_service)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.is_some_and(|(d,)| d))
    }

    /// Turns a claimed drip-feed order into its child runs, each with its send job due at
    /// its time; the parent's job ends here (if `node` still holds it).
    pub async fn expand_dripfeed(&self, job: &ForwardJob, node: &str, now: i64) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let held = sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2")
                .bind(job.job_id)
                .bind(node)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                == 1;
            let row: Option<(i64, i64)> = if held {
                sqlx::query_as(
                    "SELECT COALESCE(runs, 1), COALESCE(interval_minutes, 0) FROM orders \
                     WHERE id = $1 AND status = 'pending' AND external_id IS NULL",
                )
                .bind(job.order_id)
                .fetch_optional(&mut *tx)
                .await?
            } else {
                None
            };
            let Some((runs, interval)) = row else {
                tx.rollback().await?;
                return Ok(());
            };
            for run in 0..runs.max(1) {
                let (child,): (i64,) = sqlx::query_as(
                    "INSERT INTO orders (user_id, kind, service_number, shop_id, product_type, link, quantity, charge, \
                     status, payment_status, remains, params, parent_id, provider_id, provider_service, created_at, \
                     paid_at, updated_at) \
                     SELECT user_id, kind, service_number, shop_id, product_type, link, quantity, 0, 'pending', \
                     'completed', quantity, params, id, provider_id, provider_service, $1, $1, $1 FROM orders WHERE id = $2 \
                     RETURNING id",
                )
                .bind(now)
                .bind(job.order_id)
                .fetch_one(&mut *tx)
                .await?;
                let send = forward_job(child, now + run * interval * 60_000);
                insert_job(&send, now).fetch_optional(&mut *tx).await?;
            }
            sqlx::query(
                "UPDATE orders SET external_id = $1, status = 'processing', sent_at = $2, updated_at = $2 WHERE id = $3",
            )
            .bind(LOCAL_DRIPFEED)
            .bind(now)
            .bind(job.order_id)
            .execute(&mut *tx)
            .await?;
            tx.order_changed(job.order_id, now).await?;
            // The parent closes when its runs have: the job that watches for it.
            let settle = settle_job(now);
            insert_job(&settle, now).fetch_optional(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Whether any drip-feed parent run from here is still open.
    pub async fn has_open_dripfeed_parents(&self) -> Result<bool> {
        let found: Option<(i64,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id FROM orders WHERE external_id = $1 \
                 AND status IN ('pending', 'processing', 'error') LIMIT 1",
            )
            .bind(LOCAL_DRIPFEED)
            .fetch_optional(pool)
            .await?
        });
        Ok(found.is_some())
    }

    /// Closes drip-feed parents whose runs have all ended, refunding what they left
    /// undone once; keeps the others' `remains` current. Returns how many closed.
    pub async fn settle_dripfeed_parents(&self, now: i64) -> Result<usize> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let parents: Vec<ParentRow> = sqlx::query_as(
                "SELECT p.id, p.user_id, p.quantity, COALESCE(p.runs, 1), p.charge, p.refunded, \
                 CAST(COUNT(c.id) AS BIGINT), \
                 CAST(SUM(CASE WHEN c.status IN ('pending', 'processing', 'error') THEN 1 ELSE 0 END) AS BIGINT), \
                 CAST(SUM(CASE c.status WHEN 'completed' THEN 0 WHEN 'canceled' THEN c.quantity ELSE COALESCE(c.remains, 0) END) AS BIGINT) \
                 FROM orders p JOIN orders c ON c.parent_id = p.id \
                 WHERE p.external_id = $1 AND p.status IN ('pending', 'processing', 'error') \
                 GROUP BY p.id, p.user_id, p.quantity, p.runs, p.charge, p.refunded",
            )
            .bind(LOCAL_DRIPFEED)
            .fetch_all(&mut *tx)
            .await?;
            let mut closed = 0;
            for (id, user, quantity, runs, charge, refunded, children, open, undone) in parents {
                let total = quantity * runs;
                sqlx::query("UPDATE orders SET remains = $1, updated_at = $2 WHERE id = $3")
                    .bind(undone.clamp(0, total))
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if open > 0 || children < runs {
                    continue;
                }
                let amount = proportional_refund(Money::from_micros(charge), Money::from_micros(refunded), total, total - undone.clamp(0, total));
                let status = if undone <= 0 {
                    OrderStatus::Completed
                } else if undone >= total {
                    OrderStatus::Canceled
                } else {
                    OrderStatus::Partial
                };
                let done = sqlx::query(
                    "UPDATE orders SET status = $1, completed_at = $2, updated_at = $2 \
                     WHERE id = $3 AND status IN ('pending', 'processing', 'error')",
                )
                .bind(status.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if done == 1 {
                    tx.book_refund(id, &user, amount, status, "drip-feed runs left undone", now).await?;
                }
                closed += done as usize;
            }
            tx.commit().await?;
            Ok(closed)
        })
    }
}
