//! The installation's identity.

use crate::db::on_engine;
use crate::{Result, Store};

impl Store {
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
