//! What the storefront pages read and write beyond the API's own calls: a dispute's message
//! thread (buyer, supplier, operator), an order's ledger rows, a shop's recent reviews and
//! a buyer's favourite services.

use souk_core::id::new_entity_id;
use souk_core::{supply, ApiError};

use crate::db::{on_engine, BeginWrite};
use crate::events::EventSteps;
use crate::operator_audit::AuditSteps;
use crate::rows::row_struct;
use crate::users::LedgerEntry;
use crate::{Dispute, NewAuditEntry, OrderLine, Result, Store, StoreError};
use souk_core::event;

row_struct! {
    /// One message of a dispute's thread after its opening message.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DisputeMessage {
        pub id: String,
        pub dispute_id: String,
        /// `buyer`, `supplier` or `operator`.
        pub author: String,
        pub body: String,
        pub created_at: i64,
    }
}

row_struct! {
    /// A review as a shop's page shows it (the buyer stays anonymous).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ShopReview {
        pub rating: i64,
        pub text: String,
        pub created_at: i64,
        pub service_number: Option<i64>,
    }
}

/// Who writes in a dispute's thread, and as whom they are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisputeAuthor<'a> {
    /// The buyer who opened it.
    Buyer(&'a str),
    /// The owner of the shop the order was bought from.
    Supplier(&'a str),
    Operator,
}

impl DisputeAuthor<'_> {
    pub fn as_str(&self) -> &'static str {
        match self {
            DisputeAuthor::Buyer(_) => "buyer",
            DisputeAuthor::Supplier(_) => "supplier",
            DisputeAuthor::Operator => "operator",
        }
    }
}

const DISPUTE_COLUMNS: &str =
    "d.id, d.order_id, d.user_id, u.email, d.status, d.message, d.resolution, \
     d.refund_amount, d.created_at, d.resolved_at, o.charge, o.refunded";

impl Store {
    /// The buyer's disputes on one of their orders, oldest first.
    pub async fn order_disputes(&self, user_id: &str, order_id: i64) -> Result<Vec<Dispute>> {
        let sql = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id WHERE d.order_id = $1 AND d.user_id = $2 \
             ORDER BY d.created_at, d.id"
        );
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(order_id).bind(user_id).fetch_all(pool).await?
        }))
    }

    /// The open disputes on orders of the shops `owner_id` owns, oldest first (the
    /// supplier's desk).
    pub async fn open_shop_disputes(&self, owner_id: &str, limit: i64) -> Result<Vec<Dispute>> {
        let sql = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id JOIN shops s ON s.id = o.shop_id \
             WHERE s.owner_id = $1 AND d.status = 'open' ORDER BY d.created_at, d.id LIMIT $2"
        );
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(owner_id).bind(limit).fetch_all(pool).await?
        }))
    }

    /// The disputes on orders of the shops `owner_id` owns, optionally one order's.
    pub async fn shop_disputes(&self, owner_id: &str, order_id: i64) -> Result<Vec<Dispute>> {
        let sql = format!(
            "SELECT {DISPUTE_COLUMNS} FROM disputes d JOIN orders o ON o.id = d.order_id \
             JOIN users u ON u.id = d.user_id JOIN shops s ON s.id = o.shop_id \
             WHERE d.order_id = $1 AND s.owner_id = $2 ORDER BY d.created_at, d.id"
        );
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(order_id).bind(owner_id).fetch_all(pool).await?
        }))
    }

    /// The thread of one dispute after its opening message, oldest first.
    pub async fn dispute_messages(&self, dispute_id: &str) -> Result<Vec<DisputeMessage>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, dispute_id, author, body, created_at FROM dispute_messages \
                 WHERE dispute_id = $1 ORDER BY created_at, id",
            )
            .bind(dispute_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Adds a message to an open dispute's thread. The buyer writes only in their own
    /// dispute, a supplier only in one on their shop's order; anyone else's is "not
    /// found". A resolved dispute's thread is closed.
    pub async fn add_dispute_message(
        &self,
        dispute_id: &str,
        author: DisputeAuthor<'_>,
        body: &str,
        now: i64,
    ) -> Result<DisputeMessage> {
        self.add_dispute_message_audited(dispute_id, author, body, now, |_| None)
            .await
    }

    /// `add_dispute_message` with the audit row `audit` makes of the dispute's order
    /// (read in the transaction), written in the transaction that adds the message (an
    /// operator's message; none for `None`).
    pub async fn add_dispute_message_audited(
        &self,
        dispute_id: &str,
        author: DisputeAuthor<'_>,
        body: &str,
        now: i64,
        audit: impl FnOnce(i64) -> Option<NewAuditEntry> + Send,
    ) -> Result<DisputeMessage> {
        let body = body.trim();
        if body.is_empty() {
            return Err(StoreError::Rejected(ApiError::FieldRequired("message")));
        }
        if body.chars().count() > supply::MAX_MESSAGE {
            return Err(StoreError::Rejected(ApiError::MessageTooLong));
        }
        let id = new_entity_id();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<(i64, String, String, Option<String>)> = sqlx::query_as(
                "SELECT d.order_id, d.user_id, d.status, s.owner_id FROM disputes d \
                 JOIN orders o ON o.id = d.order_id LEFT JOIN shops s ON s.id = o.shop_id \
                 WHERE d.id = $1",
            )
            .bind(dispute_id)
            .fetch_optional(&mut *tx)
            .await?;
            let allowed = |(_, buyer, _, owner): &(i64, String, String, Option<String>)| match author {
                DisputeAuthor::Buyer(user) => buyer == user,
                DisputeAuthor::Supplier(user) => owner.as_deref() == Some(user),
                DisputeAuthor::Operator => true,
            };
            let (order_id, buyer, status, owner) = found
                .filter(allowed)
                .ok_or(StoreError::NotFound("Dispute"))?;
            if status != "open" {
                return Err(StoreError::Conflict(format!("Dispute {dispute_id} is already {status}")));
            }
            sqlx::query(
                "INSERT INTO dispute_messages (id, dispute_id, author, body, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&id)
            .bind(dispute_id)
            .bind(author.as_str())
            .bind(body)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // The others in the thread hear of it as an update of the dispute.
            let data = serde_json::json!({
                "dispute": dispute_id, "order": order_id, "status": status,
                "author": author.as_str(), "message": body,
            });
            let subject = format!("order:{order_id}");
            if !matches!(author, DisputeAuthor::Buyer(_)) {
                tx.record_event(&buyer, event::DISPUTE_UPDATED, &subject, &data, now).await?;
            }
            if let (false, Some(owner)) = (matches!(author, DisputeAuthor::Supplier(_)), owner) {
                tx.record_event(&owner, event::DISPUTE_UPDATED, &subject, &data, now).await?;
            }
            if let Some(entry) = audit(order_id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(DisputeMessage {
            id,
            dispute_id: dispute_id.to_owned(),
            author: author.as_str().to_owned(),
            body: body.to_owned(),
            created_at: now,
        })
    }

    /// One of the user's orders as the account pages list them.
    pub async fn order_line(&self, user_id: &str, order_id: i64) -> Result<Option<OrderLine>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, kind, service_number, link, created_at FROM orders \
                 WHERE user_id = $1 AND id = $2",
            )
            .bind(user_id)
            .bind(order_id)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// The ledger rows of one of the user's orders, oldest first.
    pub async fn order_ledger(&self, user_id: &str, order_id: i64) -> Result<Vec<LedgerEntry>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, amount, balance_after, kind, order_id, payment_id, note, created_at \
                 FROM ledger WHERE user_id = $1 AND order_id = $2 ORDER BY id",
            )
            .bind(user_id)
            .bind(order_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// A shop's newest reviews.
    pub async fn shop_reviews(&self, shop_id: &str, limit: i64) -> Result<Vec<ShopReview>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT r.rating, r.text, r.created_at, o.service_number FROM reviews r \
                 LEFT JOIN orders o ON o.id = r.order_id WHERE r.shop_id = $1 AND NOT r.hidden \
                 ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
            )
            .bind(shop_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The reviews left on orders of one service, newest first.
    pub async fn service_reviews(
        &self,
        service_number: i64,
        limit: i64,
    ) -> Result<Vec<ShopReview>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT r.rating, r.text, r.created_at, o.service_number FROM reviews r \
                 JOIN orders o ON o.id = r.order_id WHERE o.service_number = $1 AND NOT r.hidden \
                 ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
            )
            .bind(service_number)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Whether the buyer has reviewed this order already.
    pub async fn order_reviewed(&self, user_id: &str, order_id: i64) -> Result<bool> {
        let found: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id FROM reviews WHERE order_id = $1 AND user_id = $2")
                .bind(order_id)
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(found.is_some())
    }

    /// The service numbers the buyer marked as favourites, newest first.
    pub async fn favourites(&self, user_id: &str) -> Result<Vec<i64>> {
        let rows: Vec<(i64,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT service_number FROM favourites WHERE user_id = $1 \
                 ORDER BY created_at DESC, service_number",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        });
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    /// Marks (`on`) or unmarks a service as one of the buyer's favourites; doing what is
    /// already done changes nothing.
    pub async fn set_favourite(
        &self,
        user_id: &str,
        service_number: i64,
        on: bool,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if on {
                sqlx::query(
                    "INSERT INTO favourites (user_id, service_number, created_at) \
                     VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                )
                .bind(user_id)
                .bind(service_number)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("DELETE FROM favourites WHERE user_id = $1 AND service_number = $2")
                    .bind(user_id)
                    .bind(service_number)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
