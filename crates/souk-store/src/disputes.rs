//! Buyers' disputes and reviews (SPEC 11) and the operator's resolution of disputes. An
//! open dispute blocks the order's early cancel (SPEC 8); a review feeds its shop's rating.

use crate::rows::row_struct;
use souk_core::id::new_entity_id;
use souk_core::order::OrderStatus;
use souk_core::supply;
use souk_core::{ApiError, Money};

use crate::db::{on_engine, BeginWrite, Engine};
use crate::events::EventSteps;
use crate::operator_audit::AuditSteps;
use crate::orders::OrderSteps;
use crate::versions::{Change, Counter, Signals};
use crate::{Result, Store, StoreError};
use souk_core::event;

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Dispute {
        pub id: String,
        pub order_id: i64,
        pub user_id: String,
        pub email: String,
        pub status: String,
        pub message: String,
        pub resolution: String,
        pub refund_amount: i64,
        pub created_at: i64,
        pub resolved_at: Option<i64>,
        /// The order's charge and what was refunded of it so far.
        pub charge: i64,
        pub refunded: i64,
    }
}

/// How the operator settles a dispute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeDecision {
    /// Refund this much (`None`: everything not yet refunded).
    Refund(Option<Money>),
    /// No refund.
    Reject,
}

const DISPUTE_COLUMNS: &str =
    "d.id, d.order_id, d.user_id, u.email, d.status, d.message, d.resolution, \
     d.refund_amount, d.created_at, d.resolved_at, o.charge, o.refunded";

fn rejected(e: ApiError) -> StoreError {
    StoreError::Rejected(e)
}

impl Store {
    /// Opens a dispute on one of the buyer's orders. Another user's order is "not found";
    /// one open dispute per order; a fully refunded order has nothing left to dispute.
    pub async fn open_dispute(
        &self,
        user_id: &str,
        order_id: i64,
        message: &str,
        now: i64,
    ) -> Result<String> {
        let message = message.trim();
        if message.is_empty() {
            return Err(rejected(ApiError::FieldRequired("message")));
        }
        if message.chars().count() > supply::MAX_MESSAGE {
            return Err(rejected(ApiError::MessageTooLong));
        }
        let id = new_entity_id();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let order: Option<(String, String)> = sqlx::query_as(
                "SELECT payment_status, kind FROM orders WHERE id = $1 AND user_id = $2",
            )
            .bind(order_id)
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (payment_status, kind) = order.ok_or(rejected(ApiError::OrderNotFound))?;
            if kind == "sms" {
                return Err(rejected(ApiError::OrderNotFound));
            }
            if payment_status == "refunded" {
                return Err(rejected(ApiError::OrderFullyRefunded));
            }
            let inserted = sqlx::query(
                "INSERT INTO disputes (id, order_id, user_id, status, message, created_at) \
                 VALUES ($1, $2, $3, 'open', $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(&id)
            .bind(order_id)
            .bind(user_id)
            .bind(message)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(rejected(ApiError::DisputeAlreadyOpen));
            }
            let data = serde_json::json!({"dispute": id, "order": order_id, "message": message});
            let subject = format!("order:{order_id}");
            let owner: Option<(String,)> = sqlx::query_as(
                "SELECT s.owner_id FROM orders o JOIN shops s ON s.id = o.shop_id WHERE o.id = $1",
            )
            .bind(order_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((owner,)) = owner {
                tx.record_event(&owner, event::DISPUTE_OPENED, &subject, &data, now).await?;
            }
            tx.tell_operator(event::DISPUTE_OPENED, &subject, &data, now).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Leaves the one review of one of the buyer's completed orders; the shop's rating
    /// changes for every buyer at once (the catalogue version moves).
    pub async fn review_order(
        &self,
        user_id: &str,
        order_id: i64,
        rating: i64,
        text: &str,
        now: i64,
    ) -> Result<(String, Vec<Change>)> {
        if !(1..=5).contains(&rating) {
            return Err(rejected(ApiError::InvalidRating));
        }
        let text = text.trim();
        if text.chars().count() > supply::MAX_MESSAGE {
            return Err(rejected(ApiError::MessageTooLong));
        }
        let id = new_entity_id();
        let change = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let order: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT status, shop_id FROM orders WHERE id = $1 AND user_id = $2")
                    .bind(order_id)
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let (status, shop_id) = order.ok_or(rejected(ApiError::OrderNotFound))?;
            let status = OrderStatus::parse(&status);
            let Some(shop_id) = shop_id.filter(|_| {
                matches!(status, Some(OrderStatus::Completed | OrderStatus::Partial))
            }) else {
                return Err(rejected(ApiError::ReviewNotAllowed));
            };
            let inserted = sqlx::query(
                "INSERT INTO reviews (id, shop_id, order_id, user_id, rating, text, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (order_id) DO NOTHING",
            )
            .bind(&id)
            .bind(&shop_id)
            .bind(order_id)
            .bind(user_id)
            .bind(rating)
            .bind(text)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(rejected(ApiError::AlreadyReviewed));
            }
            let owner: (String,) = sqlx::query_as("SELECT owner_id FROM shops WHERE id = $1")
                .bind(&shop_id)
                .fetch_one(&mut *tx)
                .await?;
            let data = serde_json::json!({"review": id, "order": order_id, "shop": shop_id, "rating": rating, "text": text});
            tx.record_event(&owner.0, event::REVIEW_CREATED, &format!("order:{order_id}"), &data, now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            change
        });
        Ok((id, vec![change]))
    }

    /// One dispute by its id (the console's dispute page).
    pub async fn dispute(&self, id: &str) -> Result<Option<Dispute>> {
        let sql = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id WHERE d.id = $1"
        );
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        }))
    }

    /// Disputes, optionally of one status, oldest first.
    pub async fn disputes(&self, status: Option<&str>) -> Result<Vec<Dispute>> {
        let sql = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id WHERE ($1 = '' OR d.status = $1) ORDER BY d.created_at, d.id"
        );
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql)
                .bind(status.unwrap_or(""))
                .fetch_all(pool)
                .await?
        }))
    }

    /// The operator settles an open dispute. A refund goes through the ledger like every
    /// refund and closes the order: `Canceled` when it returns the whole charge, else
    /// `Partial`.
    pub async fn resolve_dispute(
        &self,
        id: &str,
        decision: DisputeDecision,
        resolution: &str,
        now: i64,
    ) -> Result<Dispute> {
        self.decide_dispute(id, decision, resolution, now, |_| None)
            .await
    }

    /// `resolve_dispute`, writing the audit row `audit` makes of the decided dispute (if
    /// any) in the same transaction.
    pub(crate) async fn decide_dispute(
        &self,
        id: &str,
        decision: DisputeDecision,
        resolution: &str,
        now: i64,
        audit: impl FnOnce(&Dispute) -> Option<crate::NewAuditEntry> + Send,
    ) -> Result<Dispute> {
        let resolution = supply::check_len("note", resolution, supply::MAX_MESSAGE)?;
        let lock = if self.engine() == Engine::Postgres {
            " FOR UPDATE OF d, o"
        } else {
            ""
        };
        let select = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id WHERE d.id = $1{lock}"
        );
        let reread = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id WHERE d.id = $1"
        );
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<Dispute> = sqlx::query_as(&select).bind(id).fetch_optional(&mut *tx).await?;
            let d = found.ok_or(StoreError::NotFound("Dispute"))?;
            if d.status != "open" {
                return Err(StoreError::Conflict(format!("Dispute {id} is already {}", d.status)));
            }
            let left = Money::from_micros(d.charge - d.refunded);
            let (status, refund) = match decision {
                DisputeDecision::Reject => ("rejected", Money::ZERO),
                DisputeDecision::Refund(amount) => {
                    let amount = amount.unwrap_or(left);
                    if amount.is_negative() || amount == Money::ZERO {
                        return Err(StoreError::Invalid("A refund must be above zero".into()));
                    }
                    if amount > left {
                        return Err(StoreError::Invalid(format!(
                            "At most {} of this order is left to refund",
                            left.display2()
                        )));
                    }
                    let final_status = if amount == left {
                        OrderStatus::Canceled
                    } else {
                        OrderStatus::Partial
                    };
                    tx.book_refund(d.order_id, &d.user_id, amount, final_status, "dispute", now).await?;
                    ("refunded", amount)
                }
            };
            sqlx::query(
                "UPDATE disputes SET status = $1, resolution = $2, refund_amount = $3, resolved_at = $4 WHERE id = $5",
            )
            .bind(status)
            .bind(&resolution)
            .bind(refund.micros())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let d: Dispute = sqlx::query_as(&reread).bind(id).fetch_one(&mut *tx).await?;
            let data = serde_json::json!({
                "dispute": id, "order": d.order_id, "status": d.status, "resolution": d.resolution,
                "refund": Money::from_micros(d.refund_amount).format(2),
            });
            tx.record_event(&d.user_id, event::DISPUTE_UPDATED, &format!("order:{}", d.order_id), &data, now).await?;
            if let Some(entry) = audit(&d) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(d)
        })
    }
}
