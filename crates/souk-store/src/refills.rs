//! Refills of SMM orders (PerfectPanel's `refill` and `refill_status`).

use crate::rows::row_struct;
use souk_core::ApiError;

use crate::db::{on_engine, BeginWrite};
use crate::dripfeed::LOCAL_DRIPFEED;
use crate::events::EventSteps;
use crate::jobs::{insert_job, NewJob};
use crate::StoreError;
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

/// The job kind that sends a refill upstream.
pub const REFILL_SEND: &str = "refill.send";
/// Tries of a refill send whose outcome stayed unknown before it is parked.
const REFILL_TRIES: i64 = 8;

/// A refill to record.
#[derive(Clone, Debug)]
pub struct NewRefill<'a> {
    pub order_id: i64,
    pub user_id: &'a str,
    /// The provider it goes to; `None` for an order fulfilled here.
    pub provider_id: Option<&'a str>,
    /// The node that sends it at once, and until when its claim on the job lasts.
    pub held_by: (&'a str, i64),
}

row_struct! {
    /// What sending a refill upstream needs.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct RefillToSend {
        pub id: i64,
        pub status: String,
        pub external_id: Option<String>,
        pub provider_id: Option<String>,
        /// The upstream order it refills.
        pub order_external_id: Option<String>,
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

    /// Records a refill the rule allowed. One that goes upstream gets its `refill.send`
    /// job in the same transaction, held by `held_by` (the request sends it at once; the
    /// queue takes over if that node dies before it has recorded the answer), so the
    /// upstream call is never made for a refill that is not on record. Its id and the
    /// job's.
    pub async fn record_refill(
        &self,
        refill: &NewRefill<'_>,
        now: i64,
    ) -> Result<(i64, Option<i64>)> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let written = async {
                let (id,): (i64,) = sqlx::query_as(
                    "INSERT INTO refills (order_id, user_id, status, provider_id, created_at, updated_at) \
                     VALUES ($1, $2, 'pending', $3, $4, $4) RETURNING id",
                )
                .bind(refill.order_id)
                .bind(refill.user_id)
                .bind(refill.provider_id)
                .bind(now)
                .fetch_one(&mut *tx)
                .await?;
                let job = match refill.provider_id {
                    Some(_) => {
                        let job = NewJob {
                            kind: REFILL_SEND.into(),
                            payload: serde_json::json!({ "refill": id }).to_string(),
                            dedupe_key: Some(id.to_string()),
                            run_at: now,
                            max_attempts: REFILL_TRIES,
                            held_by: Some((refill.held_by.0.to_owned(), refill.held_by.1)),
                        };
                        insert_job(&job, now).fetch_optional(&mut *tx).await?.map(|(id,)| id)
                    }
                    None => None,
                };
                Ok::<_, StoreError>((id, job))
            }
            .await;
            match written {
                Ok(ids) => {
                    tx.commit().await?;
                    Ok(ids)
                }
                Err(e) => {
                    tx.rollback().await?;
                    Err(e)
                }
            }
        })
    }

    /// What sending refill `id` upstream needs; `None` once it is gone.
    pub async fn refill_to_send(&self, id: i64) -> Result<Option<RefillToSend>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT r.id, r.status, r.external_id, r.provider_id, o.external_id AS order_external_id \
                 FROM refills r JOIN orders o ON o.id = r.order_id WHERE r.id = $1",
            )
            .bind(id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The upstream took refill `id` as `external_id`.
    pub async fn refill_sent(&self, id: i64, external_id: &str, now: i64) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE refills SET external_id = $1, last_error = NULL, updated_at = $2 \
                 WHERE id = $3 AND external_id IS NULL",
            )
            .bind(external_id)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The upstream refused refill `id` (or could not be asked): it ends `rejected`.
    pub async fn refill_refused(&self, id: i64, error: &str, now: i64) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE refills SET status = 'rejected', last_error = $1, updated_at = $2 \
                 WHERE id = $3 AND external_id IS NULL",
            )
            .bind(error)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The caller's refills among `ids`.
    pub async fn refills_of(&self, user_id: &str, ids: &[i64]) -> Result<Vec<Refill>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // One placeholder per id: the ids inlined made a new statement for every list a
        // reseller polls, each prepared and cached on a pool connection shared with every
        // other request, pushing their statements out of its cache (100 per connection).
        let sql = format!(
            "SELECT id, order_id, status, external_id, provider_id FROM refills WHERE user_id = $1 AND id IN ({})",
            crate::db::placeholders(2, ids.len())
        );
        Ok(on_engine!(&self.db, pool => {
            let mut q = sqlx::query_as(&sql).bind(user_id);
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(pool).await?
        }))
    }

    /// The refill's status as its provider reports it; a refill newly `completed` is
    /// said to its buyer (`refill.completed`).
    pub async fn set_refill_status(&self, id: i64, status: &str, now: i64) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let changed: Option<(String, i64)> = sqlx::query_as(
                "UPDATE refills SET status = $1, updated_at = $2 WHERE id = $3 AND status <> $1 RETURNING user_id, order_id",
            )
            .bind(status)
            .bind(now)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((user, order)) = changed.filter(|_| status.eq_ignore_ascii_case("completed")) {
                let data = serde_json::json!({"refill": id, "order": order, "status": status});
                tx.record_event(&user, souk_core::event::REFILL_COMPLETED, &format!("order:{order}"), &data, now)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
