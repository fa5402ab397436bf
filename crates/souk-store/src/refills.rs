//! Refills of SMM orders (PerfectPanel's `refill` and `refill_status`).

use crate::rows::row_struct;
use souk_core::ApiError;

use crate::db::on_engine;
use crate::dripfeed::LOCAL_DRIPFEED;
use crate::{Result, Store};

row_struct! {
    /// What the refill rule reads about an order.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct RefillFacts {
        pub kind: String,
        pub status: String,
        pub refill: bool,
        pub refill_days: Option<i64>,
        pub completed_at: Option<i64>,
        pub external_id: Option<String>,
        pub provider_id: Option<String>,
    }
}

impl RefillFacts {
    /// Where a refill goes: `Some((provider, upstream order id))` for a forwarded order,
    /// `None` for one fulfilled here. A drip-feed order run here in parts has no upstream
    /// order of its own (its runs do), so it cannot be refilled as one.
    pub fn upstream(&self) -> Result<Option<(&str, &str)>, ApiError> {
        match (&self.provider_id, &self.external_id) {
            (_, Some(external)) if external == LOCAL_DRIPFEED => Err(ApiError::RefillDripFeedRuns),
            (Some(provider), Some(external)) => Ok(Some((provider, external))),
            _ => Ok(None),
        }
    }
}

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Refill {
        pub id: i64,
        pub order_id: i64,
        pub status: String,
        pub external_id: Option<String>,
        pub provider_id: Option<String>,
    }
}

impl Store {
    /// The caller's order as the refill rule sees it; `None` for unknown or foreign orders.
    pub async fn refill_facts(&self, user_id: &str, order_id: i64) -> Result<Option<RefillFacts>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.kind, o.status, COALESCE(s.refill, FALSE) AS refill, s.refill_days, o.completed_at, \
                 o.external_id, COALESCE(o.provider_id, s.provider_id) AS provider_id \
                 FROM orders o LEFT JOIN services s ON s.number = o.service_number \
                 WHERE o.id = $1 AND o.user_id = $2",
            )
            .bind(order_id)
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn create_refill(
        &self,
        order_id: i64,
        user_id: &str,
        provider_id: Option<&str>,
        external_id: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        let _gate = self.gate.enter().await;
        let (id,): (i64,) = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "INSERT INTO refills (order_id, user_id, status, external_id, provider_id, created_at, updated_at) \
                 VALUES ($1, $2, 'pending', $3, $4, $5, $5) RETURNING id",
            )
            .bind(order_id)
            .bind(user_id)
            .bind(external_id)
            .bind(provider_id)
            .bind(now)
            .fetch_one(pool)
            .await?
        });
        Ok(id)
    }

    /// The caller's refills among `ids`.
    pub async fn refills_of(&self, user_id: &str, ids: &[i64]) -> Result<Vec<Refill>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        let sql = format!(
            "SELECT id, order_id, status, external_id, provider_id FROM refills WHERE user_id = $1 AND id IN ({list})"
        );
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(user_id).fetch_all(pool).await?
        }))
    }

    pub async fn set_refill_status(&self, id: i64, status: &str, now: i64) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("UPDATE refills SET status = $1, updated_at = $2 WHERE id = $3")
                .bind(status)
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
