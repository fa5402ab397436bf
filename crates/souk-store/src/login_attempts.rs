//! Sign-in attempts counted per key (a client address, an email) in fixed windows, shared
//! by every node of an installation. Keys are stored as digests.

use crate::crypto::digest_secret;
use crate::db::{on_engine, BeginWrite};
use crate::{Result, Store};

impl Store {
    /// How long `key` must wait, in ms, when it has used up `limit` attempts in a window
    /// of `window_ms` that is still running at `now`; `None` when it may try.
    pub async fn attempts_wait(
        &self,
        key: &str,
        limit: i64,
        window_ms: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        let row: Option<(i64, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT window_start, attempts FROM login_attempts WHERE key = $1")
                .bind(digest_secret(key))
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(|(start, attempts)| {
            let left = start + window_ms - now;
            (left > 0 && attempts >= limit).then_some(left)
        }))
    }

    /// Counts one attempt against each of `keys`, in one transaction: a window that has
    /// run out starts again at `now`. Expired windows of other keys are dropped on the way.
    pub async fn record_attempts(&self, keys: &[&str], window_ms: i64, now: i64) -> Result<()> {
        let expired_before = now - window_ms;
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM login_attempts WHERE window_start <= $1")
                .bind(expired_before)
                .execute(&mut *tx)
                .await?;
            for key in keys {
                sqlx::query(
                    "INSERT INTO login_attempts (key, window_start, attempts) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET attempts = login_attempts.attempts + 1",
                )
                .bind(digest_secret(key))
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Forgets `key`'s attempts (a successful sign-in clears its email's count).
    pub async fn clear_attempts(&self, key: &str) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM login_attempts WHERE key = $1")
                .bind(digest_secret(key))
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
