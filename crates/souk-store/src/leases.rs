//! Named leases: one node at a time does a singleton job (a provider's status sync, say).

use crate::db::on_engine;
use crate::{Result, Store};

impl Store {
    /// Takes or renews the lease `name` for `owner` until `until`; false when another
    /// owner holds it unexpired.
    pub async fn try_lease(&self, name: &str, owner: &str, until: i64, now: i64) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let taken = on_engine!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO worker_leases (name, owner, lease_until) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until \
                 WHERE worker_leases.lease_until < $4 OR worker_leases.owner = excluded.owner",
            )
            .bind(name)
            .bind(owner)
            .bind(until)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(taken == 1)
    }

    /// Gives up every named lease `owner` holds (a node stopping cleanly), so another
    /// node takes the singleton jobs at once instead of after the lease runs out.
    pub async fn release_leases(&self, owner: &str) -> Result<u64> {
        let _gate = self.gate.enter().await;
        Ok(on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM worker_leases WHERE owner = $1")
                .bind(owner)
                .execute(pool)
                .await?
                .rows_affected()
        }))
    }

    /// The installation's id, made on first use: it scopes the idempotency keys this
    /// installation sends upstream.
    pub async fn installation_id(&self, now: i64) -> Result<String> {
        let candidate = souk_core::id::new_entity_id();
        let _gate = self.gate.enter().await;
        let (id,): (String,) = on_engine!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ('installation_id', $1, $2) ON CONFLICT (key) DO NOTHING",
            )
            .bind(&candidate)
            .bind(now)
            .execute(pool)
            .await?;
            sqlx::query_as("SELECT value FROM settings WHERE key = 'installation_id'")
                .fetch_one(pool)
                .await?
        });
        Ok(id)
    }
}
