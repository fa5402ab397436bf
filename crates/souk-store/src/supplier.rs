//! Suppliers' orders and money (SPEC 11): the paid orders of their shops, deliveries of
//! manual product orders, failing what cannot be delivered, progress of the shop's own
//! SMM services, and earnings with their withdrawals. Every method is scoped to the shops
//! the calling user owns; another shop's order is "not found".

use crate::rows::row_struct;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::id::new_entity_id;
use souk_core::order::OrderStatus;
use souk_core::supply::{self, Progress};
use souk_core::Money;

use crate::batch::Write;
use crate::db::{on_engine, tx_steps, BeginWrite, Engine, EngineOf};
use crate::events::EventSteps;
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::orders::OrderSteps;
use crate::{Result, Store, StoreError};

/// Filters of the supplier's order list.
#[derive(Clone, Debug, Default)]
pub struct SupplierOrderQuery {
    pub statuses: Vec<OrderStatus>,
    pub product_type: Option<ProductType>,
    pub entity: Option<EntityType>,
    /// A subcategory id, or its English name (case-insensitive).
    pub subcategory: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

row_struct! {
    /// One paid order of the supplier's shops.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct SupplierOrder {
        pub id: i64,
        pub kind: String,
        pub product_type: String,
        pub status: String,
        pub payment_status: String,
        pub quantity: i64,
        pub delivered: i64,
        pub remains: Option<i64>,
        pub start_count: Option<i64>,
        pub link: String,
        pub unit_price: i64,
        pub charge: i64,
        pub refunded: i64,
        pub created_at: i64,
        pub service_number: i64,
        pub service_id: String,
        pub service_name: String,
        pub subcategory_id: String,
        pub subproduct_id: Option<String>,
        pub subproduct_name: Option<String>,
        pub buyer_id: String,
        pub buyer_email: String,
        pub buyer_name: String,
    }
}

/// Where an order stands after a supplier's action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderProgress {
    pub order_id: i64,
    pub status: OrderStatus,
    pub quantity: i64,
    pub delivered: i64,
    pub remains: i64,
    pub start_count: Option<i64>,
    /// What went back to the buyer in this action.
    pub refunded_now: Money,
}

row_struct! {
    /// One sale's earning.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct EarningRow {
        pub order_id: i64,
        pub shop_id: String,
        pub gross: i64,
        pub commission: i64,
        pub refunded: i64,
        pub amount: i64,
        pub available_at: i64,
        pub withdrawal_id: Option<String>,
        pub withdrawal_status: Option<String>,
        pub created_at: i64,
    }
}

/// Totals of a supplier's earnings by state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EarningsSummary {
    pub held: Money,
    pub available: Money,
    pub requested: Money,
    pub withdrawn: Money,
}

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Withdrawal {
        pub id: String,
        pub shop_id: String,
        pub amount: i64,
        pub status: String,
        pub note: String,
        pub resolution: String,
        pub created_at: i64,
        pub completed_at: Option<i64>,
        /// Orders it covers.
        pub orders: i64,
    }
}

row_struct! {
    struct OwnedOrder {
        id: i64,
        user_id: String,
        kind: String,
        product_type: String,
        status: String,
        quantity: i64,
        delivered: i64,
        remains: Option<i64>,
        start_count: Option<i64>,
        charge: i64,
        refunded: i64,
        service_number: Option<i64>,
        subproduct_id: Option<String>,
        external_id: Option<String>,
        /// Set once a send may have reached the provider (even if the order is queued for a
        /// resend with the same key).
        sent_at: Option<i64>,
    }
}

impl OwnedOrder {
    fn status(&self) -> OrderStatus {
        OrderStatus::parse(&self.status).unwrap_or(OrderStatus::Error)
    }

    fn require_open(&self) -> Result<()> {
        if self.status().is_open() {
            Ok(())
        } else {
            Err(StoreError::Supply(supply::SupplyError::OrderClosed(
                self.id,
                self.status().as_str(),
            )))
        }
    }
}

const ORDER_COLUMNS: &str =
    "o.id, o.user_id, o.kind, o.product_type, o.status, o.quantity, o.delivered, \
     o.remains, o.start_count, o.charge, o.refunded, o.service_number, o.subproduct_id, \
     o.external_id, o.sent_at";

/// The order, locked for the transaction, if a shop of `owner` sold it and it was paid.
fn owned_order_sql(engine: Engine) -> String {
    let lock = if engine == Engine::Postgres {
        " FOR UPDATE OF o"
    } else {
        ""
    };
    format!(
        "SELECT {ORDER_COLUMNS} FROM orders o JOIN shops sh ON sh.id = o.shop_id \
         WHERE o.id = $1 AND sh.owner_id = $2 AND o.payment_status <> 'pending'{lock}"
    )
}

tx_steps! {
    /// A supplier's delivery, inside a write transaction (its own, or a savepoint of a
    /// batch: `crate::batch`).
    pub(crate) trait DeliverySteps {
        /// The body of [`Store::deliver`]: `sealed` are the accounts as stored, each with
        /// its fingerprint.
        async fn deliver_in(&mut self, owner: &str, order_id: i64, sealed: &[(Vec<u8>, String)], now: i64) -> Result<OrderProgress> {
            let select = owned_order_sql(Self::ENGINE);
            let o = self.owned_order(&select, order_id, owner).await?;
            if o.kind != "product" || o.product_type != ProductType::Manual.as_str() {
                return Err(StoreError::Supply(supply::SupplyError::NotManualProductOrder));
            }
            o.require_open()?;
            let remaining = o.quantity - o.delivered;
            if sealed.len() as i64 > remaining {
                return Err(StoreError::Supply(supply::SupplyError::TooManyAccounts(remaining)));
            }
            let (Some(service_number), Some(subproduct)) = (o.service_number, o.subproduct_id.as_deref()) else {
                return Err(StoreError::Conflict(format!("order {order_id} names no subproduct")));
            };
            for (content, fingerprint) in sealed {
                sqlx::query(
                    "INSERT INTO stock_lines (service_number, subproduct_id, content, fingerprint, source, order_id, \
                     created_at, delivered_at) VALUES ($1, $2, $3, $4, 'delivery', $5, $6, $6)",
                )
                .bind(service_number)
                .bind(subproduct)
                .bind(content.as_slice())
                .bind(fingerprint.as_str())
                .bind(order_id)
                .bind(now)
                .execute(&mut *self)
                .await?;
            }
            let delivered = o.delivered + sealed.len() as i64;
            let status = supply::status_after_delivery(o.quantity, delivered);
            sqlx::query(
                "UPDATE orders SET delivered = $1, remains = quantity - $1, status = $2, updated_at = $3, \
                 completed_at = CASE WHEN $2 = 'completed' THEN COALESCE(completed_at, $3) ELSE completed_at END \
                 WHERE id = $4",
            )
            .bind(delivered)
            .bind(status.as_str())
            .bind(now)
            .bind(order_id)
            .execute(&mut *self)
            .await?;
            self.order_event(order_id, "delivered", &format!("{} by the supplier", sealed.len()), now).await?;
            self.order_changed(order_id, now).await?;
            Ok(OrderProgress {
                order_id,
                status,
                quantity: o.quantity,
                delivered,
                remains: o.quantity - delivered,
                start_count: o.start_count,
                refunded_now: Money::ZERO,
            })
        }
    }
}

tx_steps! {
    /// The supplier's side of an order, inside a write transaction.
    trait SupplierSteps {
        /// The supplier's order (`sql` selects it by id and owner) or `NotFound("Order")`.
        async fn owned_order(&mut self, sql: &str, order: i64, owner: &str) -> Result<OwnedOrder> {
            let row: Option<OwnedOrder> = sqlx::query_as(sql)
                .bind(order)
                .bind(owner)
                .fetch_optional(&mut *self)
                .await?;
            row.ok_or(StoreError::NotFound("Order"))
        }
    }
}

impl Store {
    /// The paid orders of `owner`'s shops, newest first, and how many match in all.
    pub async fn supplier_orders(
        &self,
        owner: &str,
        q: &SupplierOrderQuery,
    ) -> Result<(Vec<SupplierOrder>, i64)> {
        enum Arg<'a> {
            Text(&'a str),
            Int(i64),
        }
        let mut args: Vec<Arg> = vec![Arg::Text(owner)];
        let mut filter = String::from(
            "FROM orders o JOIN shops sh ON sh.id = o.shop_id JOIN services s ON s.number = o.service_number \
             JOIN users u ON u.id = o.user_id LEFT JOIN subproducts p ON p.id = o.subproduct_id \
             WHERE sh.owner_id = $1 AND o.payment_status <> 'pending' AND o.kind IN ('product', 'smm')",
        );
        let statuses: Vec<&'static str> = q.statuses.iter().map(|s| s.as_str()).collect();
        if !statuses.is_empty() {
            let list: Vec<String> = statuses
                .iter()
                .map(|s| {
                    args.push(Arg::Text(s));
                    format!("${}", args.len())
                })
                .collect();
            filter.push_str(&format!(" AND o.status IN ({})", list.join(", ")));
        }
        if let Some(t) = q.product_type {
            args.push(Arg::Text(t.as_str()));
            filter.push_str(&format!(" AND o.product_type = ${}", args.len()));
        }
        if let Some(e) = q.entity {
            args.push(Arg::Text(e.as_str()));
            filter.push_str(&format!(" AND o.kind = ${}", args.len()));
        }
        if let Some(sub) = &q.subcategory {
            args.push(Arg::Text(sub));
            let n = args.len();
            filter.push_str(&format!(
                " AND s.subcategory_id IN (SELECT c.id FROM subcategories c WHERE c.id = ${n} OR LOWER(c.name) = LOWER(${n}))"
            ));
        }
        let count_sql = format!("SELECT COUNT(*) {filter}");
        args.push(Arg::Int(q.limit));
        args.push(Arg::Int(q.offset));
        let list_sql = format!(
            "SELECT o.id, o.kind, o.product_type, o.status, o.payment_status, o.quantity, o.delivered, o.remains, \
             o.start_count, o.link, o.unit_price, o.charge, o.refunded, o.created_at, s.number AS service_number, \
             s.id AS service_id, s.name AS service_name, s.subcategory_id, o.subproduct_id, p.name AS subproduct_name, \
             u.id AS buyer_id, u.email AS buyer_email, u.name AS buyer_name {filter} \
             ORDER BY o.id DESC LIMIT ${} OFFSET ${}",
            args.len() - 1,
            args.len()
        );
        Ok(on_engine!(&self.db, pool => {
            let mut count = sqlx::query_as::<_, (i64,)>(&count_sql);
            let mut list = sqlx::query_as::<_, SupplierOrder>(&list_sql);
            for (i, a) in args.iter().enumerate() {
                let in_count = i < args.len() - 2;
                match a {
                    Arg::Text(t) => {
                        if in_count {
                            count = count.bind(*t);
                        }
                        list = list.bind(*t);
                    }
                    Arg::Int(n) => {
                        if in_count {
                            count = count.bind(*n);
                        }
                        list = list.bind(*n);
                    }
                }
            }
            let (total,) = count.fetch_one(pool).await?;
            (list.fetch_all(pool).await?, total)
        }))
    }

    /// Delivers accounts to one of the supplier's manual product orders: stored sealed as
    /// delivered stock lines of the order, so the buyer's `status` shows them. The order
    /// goes to processing, and to completed once everything is delivered. The accounts
    /// are sealed here, before the write; on SQLite the delivery joins the node's group
    /// commit (`crate::batch`) like orders.
    pub async fn deliver(
        &self,
        owner: &str,
        order_id: i64,
        accounts: &[String],
        now: i64,
    ) -> Result<OrderProgress> {
        let accounts = supply::validate_delivery(accounts, supply::MAX_DELIVERY as i64)?;
        let sealed: Vec<(Vec<u8>, String)> = accounts
            .iter()
            .map(|a| (self.crypto.seal(a), self.crypto.fingerprint(a)))
            .collect();
        self.write(Write::Deliver {
            owner: owner.to_owned(),
            order_id,
            sealed,
            now,
        })
        .await?
        .delivered()
    }

    /// Fails what is left of one of the supplier's open orders: the undelivered part is
    /// refunded to the buyer, and the order ends `Partial` (something was delivered) or
    /// `Canceled`.
    pub async fn fail_order(
        &self,
        owner: &str,
        order_id: i64,
        reason: &str,
        now: i64,
    ) -> Result<OrderProgress> {
        let engine = self.engine();
        let select = owned_order_sql(engine);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let o = tx.owned_order(&select, order_id, owner).await?;
            o.require_open()?;
            // Once a provider has (or may have) the order, its answer settles it.
            if o.external_id.is_some() || o.sent_at.is_some() {
                return Err(StoreError::Supply(supply::SupplyError::WithProvider(order_id)));
            }
            // SMM orders count what is done through `remains`.
            let delivered = if o.kind == "smm" {
                o.quantity - o.remains.unwrap_or(o.quantity).clamp(0, o.quantity)
            } else {
                o.delivered
            };
            let (refund, status) = supply::fail_outcome(
                Money::from_micros(o.charge),
                Money::from_micros(o.refunded),
                o.quantity,
                delivered,
            );
            let why = if reason.trim().is_empty() {
                "failed by the supplier".to_owned()
            } else {
                format!("failed by the supplier: {}", reason.trim())
            };
            tx.book_refund(order_id, &o.user_id, refund, status, &why, now).await?;
            sqlx::query("UPDATE orders SET remains = $1 WHERE id = $2")
                .bind(o.quantity - delivered)
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(OrderProgress {
                order_id,
                status,
                quantity: o.quantity,
                delivered,
                remains: o.quantity - delivered,
                start_count: o.start_count,
                refunded_now: refund,
            })
        })
    }

    /// A progress report on one of the supplier's manual SMM orders (SPEC 11):
    /// `start_count` and `remains`, and completion, which refunds any remains.
    pub async fn report_progress(
        &self,
        owner: &str,
        order_id: i64,
        report: &Progress,
        now: i64,
    ) -> Result<OrderProgress> {
        let engine = self.engine();
        let select = owned_order_sql(engine);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let o = tx.owned_order(&select, order_id, owner).await?;
            if o.kind != "smm" || o.product_type != ProductType::Manual.as_str() {
                return Err(StoreError::Supply(supply::SupplyError::NotManualSmmOrder));
            }
            o.require_open()?;
            let outcome = supply::progress_outcome(
                report,
                o.quantity,
                o.remains.unwrap_or(o.quantity),
                Money::from_micros(o.charge),
                Money::from_micros(o.refunded),
            )?;
            let start_count = report.start_count.or(o.start_count);
            if outcome.status.is_open() {
                sqlx::query("UPDATE orders SET status = $1, updated_at = $2 WHERE id = $3")
                    .bind(outcome.status.as_str())
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?;
            } else {
                tx.book_refund(order_id, &o.user_id, outcome.refund, outcome.status, "progress report", now).await?;
            }
            sqlx::query("UPDATE orders SET start_count = $1, remains = $2 WHERE id = $3")
                .bind(start_count)
                .bind(outcome.remains)
                .bind(order_id)
                .execute(&mut *tx)
                .await?;
            tx.order_event(order_id, "progress", &format!("{} remains {}", outcome.status.as_str(), outcome.remains), now).await?;
            tx.order_changed(order_id, now).await?;
            tx.commit().await?;
            Ok(OrderProgress {
                order_id,
                status: outcome.status,
                quantity: o.quantity,
                delivered: o.quantity - outcome.remains,
                remains: outcome.remains,
                start_count,
                refunded_now: outcome.refund,
            })
        })
    }

    /// The supplier's earnings, newest first, and their totals by state at `now`.
    pub async fn earnings(
        &self,
        owner: &str,
        limit: i64,
        offset: i64,
        now: i64,
    ) -> Result<(Vec<EarningRow>, i64, EarningsSummary)> {
        let (rows, total, sums) = on_engine!(&self.db, pool => {
            let rows: Vec<EarningRow> = sqlx::query_as(
                "SELECT e.order_id, e.shop_id, e.gross, e.commission, o.refunded, e.amount, e.available_at, \
                 e.withdrawal_id, w.status AS withdrawal_status, e.created_at \
                 FROM earnings e JOIN shops sh ON sh.id = e.shop_id JOIN orders o ON o.id = e.order_id \
                 LEFT JOIN withdrawals w ON w.id = e.withdrawal_id \
                 WHERE sh.owner_id = $1 ORDER BY e.order_id DESC LIMIT $2 OFFSET $3",
            )
            .bind(owner)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM earnings e JOIN shops sh ON sh.id = e.shop_id WHERE sh.owner_id = $1",
            )
            .bind(owner)
            .fetch_one(pool)
            .await?;
            let sums: Vec<(Option<String>, bool, i64)> = sqlx::query_as(
                "SELECT w.status, e.available_at <= $2, CAST(COALESCE(SUM(e.amount), 0) AS BIGINT) \
                 FROM earnings e JOIN shops sh ON sh.id = e.shop_id LEFT JOIN withdrawals w ON w.id = e.withdrawal_id \
                 WHERE sh.owner_id = $1 GROUP BY w.status, e.available_at <= $2",
            )
            .bind(owner)
            .bind(now)
            .fetch_all(pool)
            .await?;
            (rows, total, sums)
        });
        let mut summary = EarningsSummary::default();
        for (status, due, amount) in sums {
            let slot = match supply::earning_state(
                status.as_deref(),
                if due { now } else { now + 1 },
                now,
            ) {
                "withdrawn" => &mut summary.withdrawn,
                "requested" => &mut summary.requested,
                "available" => &mut summary.available,
                _ => &mut summary.held,
            };
            *slot = slot
                .checked_add(Money::from_micros(amount))
                .unwrap_or(*slot);
        }
        Ok((rows, total, summary))
    }

    /// Requests a withdrawal in each of `owner`'s shops that has something available (a
    /// withdrawal covers one shop's earnings); `NothingToWithdraw` when none has.
    pub async fn withdraw_everything(
        &self,
        owner: &str,
        note: &str,
        now: i64,
    ) -> Result<Vec<Withdrawal>> {
        let mut requested = Vec::new();
        for (shop, ..) in self.shops_of(owner).await? {
            match self.request_withdrawal(owner, &shop, note, now).await {
                Ok(w) => requested.push(w),
                Err(StoreError::Supply(supply::SupplyError::NothingToWithdraw)) => {}
                Err(e) => return Err(e),
            }
        }
        if requested.is_empty() {
            return Err(StoreError::Supply(supply::SupplyError::NothingToWithdraw));
        }
        Ok(requested)
    }

    /// Requests a withdrawal of everything available in one of `owner`'s shops: the
    /// earnings past their hold and not covered by another withdrawal. From then on those
    /// orders cannot be cancelled early (SPEC 8) or refunded.
    pub async fn request_withdrawal(
        &self,
        owner: &str,
        shop_id: &str,
        note: &str,
        now: i64,
    ) -> Result<Withdrawal> {
        let id = new_entity_id();
        let note = supply::check_len("note", note, supply::MAX_MESSAGE)?;
        let lock = if self.engine() == Engine::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let shop_sql = format!("SELECT id FROM shops WHERE id = $1 AND owner_id = $2{lock}");
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let shop: Option<(String,)> = sqlx::query_as(&shop_sql)
                .bind(shop_id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await?;
            if shop.is_none() {
                return Err(StoreError::NotFound("Shop"));
            }
            // The row exists first so the earnings can point at it; its amount is what
            // the covered earnings add up to, so the two always agree.
            sqlx::query(
                "INSERT INTO withdrawals (id, shop_id, amount, status, note, created_at) VALUES ($1, $2, 1, 'requested', $3, $4)",
            )
            .bind(&id)
            .bind(shop_id)
            .bind(&note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            // Earnings of rejected withdrawals were released and count again.
            let covered: Vec<(i64,)> = sqlx::query_as(
                "UPDATE earnings SET withdrawal_id = $1 WHERE shop_id = $2 AND available_at <= $3 AND amount > 0 \
                 AND (withdrawal_id IS NULL OR withdrawal_id IN (SELECT w.id FROM withdrawals w WHERE w.status = 'rejected')) \
                 RETURNING amount",
            )
            .bind(&id)
            .bind(shop_id)
            .bind(now)
            .fetch_all(&mut *tx)
            .await?;
            let amount: i64 = covered.iter().map(|(a,)| a).sum();
            if amount <= 0 {
                return Err(StoreError::Supply(supply::SupplyError::NothingToWithdraw));
            }
            sqlx::query("UPDATE withdrawals SET amount = $1 WHERE id = $2")
                .bind(amount)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            let data = serde_json::json!({
                "withdrawal": id, "shop": shop_id, "amount": Money::from_micros(amount).format(2),
                "status": "requested", "orders": covered.len(),
            });
            tx.tell_operator(souk_core::event::WITHDRAWAL_REQUESTED, &format!("withdrawal:{id}"), &data, now).await?;
            tx.commit().await?;
            Ok(Withdrawal {
                id,
                shop_id: shop_id.to_owned(),
                amount,
                status: "requested".into(),
                note,
                resolution: String::new(),
                created_at: now,
                completed_at: None,
                orders: covered.len() as i64,
            })
        })
    }

    /// Withdrawals of `owner`'s shops (or, with `None`, of every shop, for the operator),
    /// optionally of one status, newest first.
    pub async fn withdrawals(
        &self,
        owner: Option<&str>,
        status: Option<&str>,
    ) -> Result<Vec<Withdrawal>> {
        let sql = "SELECT w.id, w.shop_id, w.amount, w.status, w.note, w.resolution, w.created_at, w.completed_at, \
                   (SELECT COUNT(*) FROM earnings e WHERE e.withdrawal_id = w.id) AS orders \
                   FROM withdrawals w JOIN shops sh ON sh.id = w.shop_id \
                   WHERE ($1 = '' OR sh.owner_id = $1) AND ($2 = '' OR w.status = $2) ORDER BY w.created_at DESC, w.id";
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(sql)
                .bind(owner.unwrap_or(""))
                .bind(status.unwrap_or(""))
                .fetch_all(pool)
                .await?
        }))
    }

    /// The operator's decision on a requested withdrawal: `paid` marks it completed (the
    /// money went out of band); otherwise it is rejected and its earnings are released.
    pub async fn decide_withdrawal(
        &self,
        id: &str,
        paid: bool,
        resolution: &str,
        now: i64,
    ) -> Result<Withdrawal> {
        self.decide_withdrawal_audited(id, paid, resolution, now, |_| None)
            .await
    }

    /// `decide_withdrawal` with the audit row `audit` makes of the decided withdrawal
    /// (read in the transaction; it was `requested` before), written in the transaction
    /// of the decision (none for `None`).
    pub async fn decide_withdrawal_audited(
        &self,
        id: &str,
        paid: bool,
        resolution: &str,
        now: i64,
        audit: impl FnOnce(&Withdrawal) -> Option<NewAuditEntry> + Send,
    ) -> Result<Withdrawal> {
        let resolution = supply::check_len("note", resolution, supply::MAX_MESSAGE)?;
        let status = if paid { "completed" } else { "rejected" };
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query(
                "UPDATE withdrawals SET status = $1, resolution = $2, completed_at = $3 WHERE id = $4 AND status = 'requested'",
            )
            .bind(status)
            .bind(&resolution)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            if done.rows_affected() == 0 {
                let current: Option<(String,)> = sqlx::query_as("SELECT status FROM withdrawals WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let (current,) = current.ok_or(StoreError::NotFound("Withdrawal"))?;
                return Err(StoreError::Conflict(format!("Withdrawal {id} is already {current}")));
            }
            if !paid {
                sqlx::query("UPDATE earnings SET withdrawal_id = NULL WHERE withdrawal_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            let row: Withdrawal = sqlx::query_as(
                "SELECT w.id, w.shop_id, w.amount, w.status, w.note, w.resolution, w.created_at, w.completed_at, \
                 (SELECT COUNT(*) FROM earnings e WHERE e.withdrawal_id = w.id) AS orders FROM withdrawals w WHERE w.id = $1",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            let owner: (String,) = sqlx::query_as("SELECT owner_id FROM shops WHERE id = $1")
                .bind(&row.shop_id)
                .fetch_one(&mut *tx)
                .await?;
            let data = serde_json::json!({
                "withdrawal": id, "shop": row.shop_id, "amount": Money::from_micros(row.amount).format(2),
                "status": row.status, "resolution": row.resolution,
            });
            tx.record_event(&owner.0, souk_core::event::WITHDRAWAL_UPDATED, &format!("withdrawal:{id}"), &data, now).await?;
            if let Some(entry) = audit(&row) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(row)
        })
    }
}
