//! The dashboard's daily sums (`console_day_totals` per day, kind, status, provider and
//! shop; `console_day_services` per day and service): a cache of the orders table, so
//! the dashboard reads a few thousand rows for a year instead of every order of it.
//!
//! Kept by a refresh when the dashboard is read, not in the order's transaction nor by a
//! trigger: every order of one day, kind and shop would update the same row, so
//! concurrent orders on PostgreSQL would queue on its lock and every order on SQLite
//! would carry two upserts more, on the path that must stay fast. The refresh finds the
//! days of the orders whose `updated_at` is past the mark (from index `orders_updated`
//! alone) and sums each of those days again from the orders; a day is always summed
//! whole, so the cache cannot drift from what it caches. When nothing differs it writes
//! nothing.
//!
//! It looks `LOOK_BACK_MS` behind the mark: a write stamped before the newest
//! `updated_at` seen but committed after the last refresh (or stamped by a node whose
//! clock is a little behind) is still found. The mark never passes the reader's clock,
//! so a stamp from a clock ahead does not hide the changes after it.

use crate::console::DAY_MS;
use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::{Result, Store};

/// How far behind the mark a refresh looks again (longer than any write transaction).
const LOOK_BACK_MS: i64 = 15 * 60 * 1000;

/// More changed days than this are summed again without checking first.
const CHECK_AT_MOST: usize = 3;

/// The sums of the orders placed on days `[$1, $2)`, as `console_day_totals` holds them.
fn fresh_totals() -> String {
    format!(
        "SELECT CAST(created_at / {DAY_MS} AS BIGINT) AS day, kind, status, COALESCE(provider_id, '') AS provider_id, \
         COALESCE(shop_id, '') AS shop_id, CAST(COUNT(*) AS BIGINT) AS orders, \
         CAST(SUM(charge - refunded) AS BIGINT) AS revenue, CAST(SUM(COALESCE(provider_cost, 0)) AS BIGINT) AS cost \
         FROM orders WHERE created_at >= $1 * {DAY_MS} AND created_at < $2 * {DAY_MS} GROUP BY 1, 2, 3, 4, 5"
    )
}

/// The same per service, as `console_day_services` holds them.
fn fresh_services() -> String {
    format!(
        "SELECT CAST(created_at / {DAY_MS} AS BIGINT) AS day, service_number, CAST(COUNT(*) AS BIGINT) AS orders, \
         CAST(SUM(charge - refunded) AS BIGINT) AS revenue, CAST(SUM(COALESCE(provider_cost, 0)) AS BIGINT) AS cost \
         FROM orders WHERE created_at >= $1 * {DAY_MS} AND created_at < $2 * {DAY_MS} AND service_number IS NOT NULL \
         GROUP BY 1, 2"
    )
}

const STORED_TOTALS: &str =
    "SELECT day, kind, status, provider_id, shop_id, orders, revenue, cost \
     FROM console_day_totals WHERE day >= $1 AND day < $2";
const STORED_SERVICES: &str = "SELECT day, service_number, orders, revenue, cost \
     FROM console_day_services WHERE day >= $1 AND day < $2";

/// Consecutive days as runs `[first, end)`.
fn runs(days: &[i64]) -> Vec<(i64, i64)> {
    let mut out: Vec<(i64, i64)> = Vec::new();
    for &d in days {
        match out.last_mut() {
            Some((_, end)) if *end == d => *end = d + 1,
            _ => out.push((d, d + 1)),
        }
    }
    out
}

tx_steps! {
    /// The refresh's steps, on a pooled connection or inside its write transaction.
    pub(crate) trait TotalsSteps {
        /// The days (ascending) of the orders changed after `since`, and the newest
        /// `updated_at` of all.
        async fn changed_days(&mut self, since: i64) -> Result<(Vec<i64>, i64)> {
            let days: Vec<(i64,)> = sqlx::query_as(&format!(
                "SELECT DISTINCT CAST(created_at / {DAY_MS} AS BIGINT) FROM orders WHERE updated_at > $1 ORDER BY 1"
            ))
            .bind(since)
            .fetch_all(&mut *self)
            .await?;
            let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(updated_at) FROM orders")
                .fetch_one(&mut *self)
                .await?;
            Ok((days.into_iter().map(|(d,)| d).collect(), newest.unwrap_or(0)))
        }

        /// Whether the cache of days `[first, end)` differs from the orders.
        async fn totals_differ(&mut self, first: i64, end: i64) -> Result<bool> {
            let (totals, services) = (fresh_totals(), fresh_services());
            let sql = format!(
                "SELECT CAST(\
                 (SELECT COUNT(*) FROM ({totals} EXCEPT {STORED_TOTALS}) a) + \
                 (SELECT COUNT(*) FROM ({STORED_TOTALS} EXCEPT {totals}) b) + \
                 (SELECT COUNT(*) FROM ({services} EXCEPT {STORED_SERVICES}) c) + \
                 (SELECT COUNT(*) FROM ({STORED_SERVICES} EXCEPT {services}) d) AS BIGINT)"
            );
            let (n,): (i64,) = sqlx::query_as(&sql).bind(first).bind(end).fetch_one(&mut *self).await?;
            Ok(n > 0)
        }

        /// Sums days `[first, end)` again from the orders.
        async fn rewrite_days(&mut self, first: i64, end: i64) -> Result<()> {
            for table in ["console_day_totals", "console_day_services"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE day >= $1 AND day < $2"))
                    .bind(first)
                    .bind(end)
                    .execute(&mut *self)
                    .await?;
            }
            sqlx::query(&format!(
                "INSERT INTO console_day_totals (day, kind, status, provider_id, shop_id, orders, revenue, cost) {}",
                fresh_totals()
            ))
            .bind(first)
            .bind(end)
            .execute(&mut *self)
            .await?;
            sqlx::query(&format!(
                "INSERT INTO console_day_services (day, service_number, orders, revenue, cost) {}",
                fresh_services()
            ))
            .bind(first)
            .bind(end)
            .execute(&mut *self)
            .await?;
            Ok(())
        }
    }
}

impl Store {
    /// Brings the dashboard's daily sums up to date with the orders. `now` (the reader's
    /// clock) caps the mark.
    pub async fn refresh_console_totals(&self, now: i64) -> Result<()> {
        on_engine!(&self.db, pool => {
            // First, without a write: what changed, and whether the cache already has it.
            let mut conn = pool.acquire().await?;
            let mark: Option<(i64,)> = sqlx::query_as("SELECT updated_at FROM console_totals_mark WHERE id = 1")
                .fetch_optional(&mut *conn)
                .await?;
            let mark = mark.map_or(0, |(m,)| m);
            let (days, newest) = conn.changed_days(mark - LOOK_BACK_MS).await?;
            if days.is_empty() {
                return Ok(());
            }
            let moves = newest.min(now) > mark;
            let mut differs = days.len() > CHECK_AT_MOST;
            if !differs {
                for (first, end) in runs(&days) {
                    if conn.totals_differ(first, end).await? {
                        differs = true;
                        break;
                    }
                }
            }
            drop(conn);
            if !differs && !moves {
                return Ok(());
            }
            // Then again under the lock of the mark's row (and SQLite's write lock), so
            // that of two refreshes the later sums what the earlier one wrote and more.
            let mut tx = pool.begin_write(&self.gate).await?;
            let mark: Option<(i64,)> = sqlx::query_as(
                "UPDATE console_totals_mark SET updated_at = updated_at WHERE id = 1 RETURNING updated_at",
            )
            .fetch_optional(&mut *tx)
            .await?;
            let mark = mark.map_or(0, |(m,)| m);
            let (days, newest) = tx.changed_days(mark - LOOK_BACK_MS).await?;
            for (first, end) in runs(&days) {
                tx.rewrite_days(first, end).await?;
            }
            sqlx::query(
                "INSERT INTO console_totals_mark (id, updated_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET updated_at = excluded.updated_at",
            )
            .bind(mark.max(newest.min(now)))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::runs;

    #[test]
    fn consecutive_days_make_one_run() {
        assert_eq!(runs(&[]), Vec::<(i64, i64)>::new());
        assert_eq!(runs(&[5]), vec![(5, 6)]);
        assert_eq!(runs(&[1, 2, 3, 7, 9, 10]), vec![(1, 4), (7, 8), (9, 11)]);
    }
}
