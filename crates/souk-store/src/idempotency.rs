//! Idempotency keys of `add` (SPEC 7). A key is claimed inside the order's transaction
//! (the row is written first, `order_id` still NULL), so concurrent retries wait for the
//! first instead of placing a second order; a retry that arrives after it committed is
//! answered by `idempotent_order` before anything is validated.

use souk_core::ApiError;

use crate::db::on_engine;
use crate::script::Part;
use crate::{Result, Store, StoreError};

/// How long an idempotency key holds its first order.
pub const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// An `Idempotency-Key` and the fingerprint of the request it came with.
#[derive(Clone, Debug)]
pub struct Idempotency<'a> {
    pub key: &'a str,
    pub fingerprint: &'a str,
}

impl Store {
    /// The order a live key already produced for this request; `IdempotencyKeyReused` when
    /// the key was used for a different one. `None` when the key is new (or expired): the
    /// order's own transaction then claims it.
    pub async fn idempotent_order(
        &self,
        user_id: &str,
        idem: &Idempotency<'_>,
        now: i64,
    ) -> Result<Option<i64>> {
        let row: Option<(Option<i64>, String)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT order_id, request_hash FROM idempotency_keys \
                 WHERE user_id = $1 AND key = $2 AND created_at >= $3",
            )
            .bind(user_id)
            .bind(idem.key)
            .bind(now - IDEMPOTENCY_WINDOW_MS)
            .fetch_optional(pool)
            .await?
        });
        match row {
            None => Ok(None),
            Some((_, hash)) if !souk_core::idempotency::same_request(&hash, idem.fingerprint) => {
                Err(StoreError::Rejected(ApiError::IdempotencyKeyReused))
            }
            Some((order_id, _)) => Ok(order_id),
        }
    }

    /// The number of the service with entity id `id`, active or not.
    pub async fn service_number_of(&self, id: &str) -> Result<Option<i64>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_scalar("SELECT number FROM services WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        }))
    }
}

/// Records the order a claimed key produced, as a part of the sale's script.
pub(crate) fn settle_part(user: &str, idem: Option<&Idempotency<'_>>, order: i64) -> Option<Part> {
    let idem = idem?;
    Some(Part::new(
        "UPDATE idempotency_keys SET order_id = $1 WHERE user_id = $2 AND key = $3",
        vec![order.into(), user.into(), idem.key.into()],
    ))
}
