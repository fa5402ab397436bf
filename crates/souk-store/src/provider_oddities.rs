//! What each provider does that API v2 does not say, counted per kind (`provider_oddities`):
//! the client reads past it and names it, the store keeps the tally for the provider's log.

use crate::db::{on_engine, BeginWrite};
use crate::{Result, Store};

/// One kind of oddity a provider showed: how many answers had it, first and last seen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderOddity {
    pub kind: String,
    pub count: i64,
    pub first_seen: i64,
    pub last_seen: i64,
}

impl Store {
    /// Adds `counts` (kind, answers) to the provider's tally. Nothing to add, nothing written.
    pub async fn record_provider_oddities(
        &self,
        provider_id: &str,
        counts: &[(&str, i64)],
        now: i64,
    ) -> Result<()> {
        if counts.is_empty() {
            return Ok(());
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            for (kind, count) in counts {
                sqlx::query(
                    "INSERT INTO provider_oddities (provider_id, kind, count, first_seen, last_seen) \
                     VALUES ($1, $2, $3, $4, $4) \
                     ON CONFLICT (provider_id, kind) DO UPDATE \
                     SET count = provider_oddities.count + excluded.count, last_seen = excluded.last_seen",
                )
                .bind(provider_id)
                .bind(*kind)
                .bind(*count)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The provider's tally, most frequent first.
    pub async fn provider_oddities(&self, provider_id: &str) -> Result<Vec<ProviderOddity>> {
        let rows: Vec<(String, i64, i64, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT kind, count, first_seen, last_seen FROM provider_oddities \
                 WHERE provider_id = $1 ORDER BY count DESC, kind",
            )
            .bind(provider_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(kind, count, first_seen, last_seen)| ProviderOddity {
                kind,
                count,
                first_seen,
                last_seen,
            })
            .collect())
    }
}
