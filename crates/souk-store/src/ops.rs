//! Reads for operations: what `souk doctor` reports and `/metrics` exports beyond the
//! request counters. Each is one cheap query; none changes anything.

use crate::db::on_engine;
use crate::{Result, Store};

/// Gauges read at scrape time.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpsGauges {
    /// Ready jobs per kind: (kind, count, age in seconds of the oldest due one).
    pub jobs: Vec<(String, i64, f64)>,
    /// Parked jobs per kind.
    pub parked: Vec<(String, i64)>,
    /// Each provider's name and last known balance in micro-units (`None`: never asked).
    pub provider_balances: Vec<(String, Option<i64>)>,
    /// Payments still waiting for their money.
    pub pending_payments: i64,
    /// Webhook deliveries waiting to be sent.
    pub pending_webhook_deliveries: i64,
    /// Products and SMM services on sale (active services).
    pub catalogue_services: i64,
}

impl Store {
    /// Webhook endpoints that fail or were disabled for failing: (id, url, disabled).
    pub async fn failing_webhook_endpoints(&self) -> Result<Vec<(String, String, bool)>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, url, NOT enabled FROM webhook_endpoints \
                 WHERE failing_since IS NOT NULL OR (NOT enabled AND disabled_reason <> '') ORDER BY id",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    pub async fn parked_job_count(&self) -> Result<i64> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'parked'")
                .fetch_one(pool)
                .await?
        }))
    }

    /// The gauges `/metrics` exports, as of `now` (Unix ms).
    pub async fn ops_gauges(&self, now: i64) -> Result<OpsGauges> {
        Ok(on_engine!(&self.db, pool => {
            let jobs: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT kind, COUNT(*), CAST(COALESCE(MIN(run_at), $1) AS BIGINT) FROM jobs \
                 WHERE state = 'ready' GROUP BY kind ORDER BY kind",
            )
            .bind(now)
            .fetch_all(pool)
            .await?;
            let parked: Vec<(String, i64)> = sqlx::query_as(
                "SELECT kind, COUNT(*) FROM jobs WHERE state = 'parked' GROUP BY kind ORDER BY kind",
            )
            .fetch_all(pool)
            .await?;
            let provider_balances: Vec<(String, Option<i64>)> =
                sqlx::query_as("SELECT name, balance FROM providers ORDER BY name, id")
                    .fetch_all(pool)
                    .await?;
            let (pending_payments, pending_webhook_deliveries, catalogue_services): (i64, i64, i64) =
                sqlx::query_as(
                    "SELECT (SELECT COUNT(*) FROM payments WHERE state IN ('created', 'pending')), \
                     (SELECT COUNT(*) FROM webhook_deliveries WHERE state = 'pending'), \
                     (SELECT COUNT(*) FROM services WHERE active)",
                )
                .fetch_one(pool)
                .await?;
            OpsGauges {
                jobs: jobs
                    .into_iter()
                    .map(|(kind, n, oldest)| (kind, n, ((now - oldest).max(0)) as f64 / 1000.0))
                    .collect(),
                parked,
                provider_balances,
                pending_payments,
                pending_webhook_deliveries,
                catalogue_services,
            }
        }))
    }
}

/// The connection pool as it stands: (open connections, idle ones, the maximum).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolUse {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

impl Store {
    pub fn pool_use(&self) -> PoolUse {
        on_engine!(&self.db, pool => PoolUse {
            open: pool.size(),
            idle: pool.num_idle() as u32,
            max: pool.options().get_max_connections(),
        })
    }

    /// The size of a SQLite database's write-ahead log in bytes (`None` on PostgreSQL
    /// or for an in-memory database).
    pub async fn sqlite_wal_bytes(&self) -> Result<Option<u64>> {
        let crate::db::Db::Sqlite(pool) = &self.db else {
            return Ok(None);
        };
        let rows: Vec<(i64, String, String)> = sqlx::query_as("PRAGMA database_list")
            .fetch_all(pool)
            .await?;
        let file = rows
            .into_iter()
            .find(|(_, name, _)| name == "main")
            .map(|(_, _, file)| file)
            .filter(|f| !f.is_empty());
        Ok(file.map(|f| std::fs::metadata(format!("{f}-wal")).map_or(0, |m| m.len())))
    }
}
