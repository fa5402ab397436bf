//! Sign-in attempts counted per key (a client address, an email) in fixed windows, shared
//! by every node of an installation. Keys are stored as digests.
//!
//! An attempt is counted before its password is checked, by one statement per key that
//! answers the new count (`INSERT ... ON CONFLICT ... RETURNING`): parallel attempts each
//! see their own number, so no more than the limit are ever judged, on any number of
//! nodes. (Checking first and recording after let 40 parallel attempts all through.)

use crate::crypto::digest_secret;
use crate::db::{on_engine, BeginWrite};
use crate::{Result, Store};

/// A key's count after one more attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptCount {
    /// Attempts in the window, this one included.
    pub attempts: i64,
    /// When the window ends (ms).
    pub window_ends: i64,
}

impl AttemptCount {
    /// `Some(ms to wait)` when this attempt is over `limit`.
    pub fn over(&self, limit: i64, now: i64) -> Option<i64> {
        (self.attempts > limit).then_some((self.window_ends - now).max(0))
    }
}

impl Store {
    /// Counts one attempt against each of `keys`, in one transaction, and answers each
    /// key's count with this attempt in it. A window that has run out starts again at
    /// `now`; expired windows of other keys are dropped on the way.
    pub async fn count_attempts(
        &self,
        keys: &[&str],
        window_ms: i64,
        now: i64,
    ) -> Result<Vec<AttemptCount>> {
        let expired_before = now - window_ms;
        let mut counts = Vec::with_capacity(keys.len());
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("DELETE FROM login_attempts WHERE window_start <= $1")
                .bind(expired_before)
                .execute(&mut *tx)
                .await?;
            for key in keys {
                let (attempts, window_start): (i64, i64) = sqlx::query_as(
                    "INSERT INTO login_attempts (key, window_start, attempts) VALUES ($1, $2, 1) \
                     ON CONFLICT (key) DO UPDATE SET \
                       attempts = CASE WHEN login_attempts.window_start <= $3 THEN 1 \
                                       ELSE login_attempts.attempts + 1 END, \
                       window_start = CASE WHEN login_attempts.window_start <= $3 THEN $2 \
                                           ELSE login_attempts.window_start END \
                     RETURNING attempts, window_start",
                )
                .bind(digest_secret(key))
                .bind(now)
                .bind(expired_before)
                .fetch_one(&mut *tx)
                .await?;
                counts.push(AttemptCount {
                    attempts,
                    window_ends: window_start + window_ms,
                });
            }
            tx.commit().await?;
        });
        Ok(counts)
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
