//! Orders and the money they move. Placing an order charges the balance, reserves stock
//! and (for inventory) delivers the oldest lines in one transaction, so a line is sold
//! once and a failed order leaves no trace. Cancels refund through the ledger.

use crate::rows::row_struct;
use souk_core::catalogue::ProductType;
use souk_core::early_cancel::{self, CancelSettings, Reason};
use souk_core::order::{OrderStatus, ProductOrder, SmmOrder};
use souk_core::supply::{self, EarningsSettings};
use souk_core::Money;

use crate::batch::{OwnedBuyer, OwnedIdempotency, Write};
use crate::db::{on_engine, tx_steps, BeginWrite, Engine, EngineOf};
use crate::events::EventSteps;
use crate::forwarding::OrderJobSteps;
use crate::idempotency::Idempotency;
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::script::{Part, Script, ScriptSteps};
use crate::users::Ledger;
use crate::versions::Change;
use crate::{Result, Store, StoreError};

/// Who is ordering.
#[derive(Clone, Debug)]
pub struct Buyer<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
}

/// A placed order (or the first one, for a retried idempotency key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub order_id: i64,
    /// False when an idempotency key returned an earlier order.
    pub new: bool,
    pub changes: Vec<Change>,
}

/// An order as its buyer sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderView {
    pub id: i64,
    pub kind: String,
    pub product_type: ProductType,
    pub status: OrderStatus,
    pub quantity: i64,
    pub charge: Money,
    pub refunded: Money,
    pub delivered: i64,
    pub start_count: Option<i64>,
    pub remains: Option<i64>,
    /// Delivered credentials, in delivery order (product orders).
    pub accounts: Vec<String>,
    /// An SMM order's type fields as the buyer sent them (`comments`, `answer_number`, ...).
    pub params: std::collections::BTreeMap<String, String>,
    /// The service's type (SMM orders).
    pub type_name: Option<String>,
    /// Subscriptions: the state its provider last reported, and the posts served.
    pub sub_state: Option<String>,
    pub posts_done: Option<i64>,
    /// The order this one was placed for (a drip-feed run's, a subscription post's).
    pub parent_id: Option<i64>,
    /// Subscriptions: the orders placed for its posts so far, oldest first.
    pub child_orders: Vec<i64>,
}

/// The answer to one order of a `cancel` or `allowcancel`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelOutcome {
    NotFound,
    Refunded(Money),
    Eligible(Money),
    Refused(Reason),
}

const CANCEL_SETTINGS_SQL: &str = "SELECT key, value FROM settings WHERE key IN ($1, $2)";

row_struct! {
    struct CancelRow {
        product_type: String,
        payment_status: String,
        status: String,
        external_id: Option<String>,
        paid_at: Option<i64>,
        self_refunded: bool,
        quantity: i64,
        delivered: i64,
        charge: i64,
        refunded: i64,
    }
}

/// [`OrderSteps::order_event`] as a part of a script.
pub(crate) fn order_event_part(order: i64, kind: &str, detail: &str, now: i64) -> Part {
    Part::new(
        "INSERT INTO order_events (order_id, kind, detail, created_at) VALUES ($1, $2, $3, $4)",
        vec![order.into(), kind.into(), detail.into(), now.into()],
    )
}

/// The earning of a paid order for its shop (SPEC 11): the charge less the
/// operator's commission, held for the hold period, by `settings` read in the same
/// transaction (`crate::sale::earnings_settings`), as a part of the sale's script.
pub(crate) fn earning_part(
    order: i64,
    shop: &str,
    charge: Money,
    settings: &EarningsSettings,
    now: i64,
) -> Part {
    let earning = settings.earning(charge, now);
    Part::new(
        "INSERT INTO earnings (order_id, shop_id, gross, commission, amount, available_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        vec![
            order.into(),
            shop.into(),
            earning.gross.micros().into(),
            earning.commission.micros().into(),
            earning.amount.micros().into(),
            earning.available_at.into(),
            now.into(),
        ],
    )
}

tx_steps! {
    /// An order's money and history, inside a write transaction.
    pub(crate) trait OrderSteps {
        /// An entry in the order's history.
        async fn order_event(&mut self, order: i64, kind: &str, detail: &str, now: i64) -> Result<()> {
            self.run_script(Script::one(order_event_part(order, kind, detail, now))).await?;
            Ok(())
        }

        /// Gives `amount` of an order's charge back to its buyer and books everything that
        /// goes with it, for every kind of refund (early cancel, a supplier's fail or
        /// progress report, a dispute, an upstream refund):
        /// - the ledger row (none for a zero amount);
        /// - the order's `refunded`, `payment_status` (`partial` or `refunded`) and final
        ///   `status`; a refunded order is never forwarded upstream afterwards;
        /// - the shop's earning, scaled down to what is left of the sale;
        /// - an `order_events` row saying `why`.
        ///
        /// An order whose earning a requested or completed withdrawal covers is not refunded
        /// (`Conflict`): the operator rejects the withdrawal first. Answers the order's
        /// refunded total.
        async fn book_refund(
            &mut self,
            order_id: i64,
            user: &str,
            amount: Money,
            status: OrderStatus,
            why: &str,
            now: i64,
        ) -> Result<Money> {
            if amount.is_negative() {
                return Err(StoreError::Invalid("A refund cannot be negative".into()));
            }
            // Locks the earning (a no-op write), so a withdrawal requested concurrently either
            // sees the reduced amount or makes this refund see its coverage.
            sqlx::query("UPDATE earnings SET amount = amount WHERE order_id = $1")
                .bind(order_id)
                .execute(&mut *self)
                .await?;
            let covered: Option<(String, String)> = sqlx::query_as(
                "SELECT w.id, w.status FROM earnings e JOIN withdrawals w ON w.id = e.withdrawal_id \
                 WHERE e.order_id = $1 AND w.status IN ('requested', 'completed')",
            )
            .bind(order_id)
            .fetch_optional(&mut *self)
            .await?;
            if let Some((withdrawal, w_status)) = covered {
                return Err(StoreError::Conflict(format!(
                    "Order {order_id} is covered by supplier withdrawal {withdrawal} ({w_status}); \
                     it cannot be refunded unless the withdrawal is rejected"
                )));
            }
            if amount.micros() > 0
                && self
                    .ledger_entry(user, amount.micros(), "refund", Some(order_id), why, now)
                    .await?
                    .is_none()
            {
                return Err(StoreError::Conflict(format!("refund of order {order_id} could not be booked")));
            }
            let updated: Option<(i64,)> = sqlx::query_as(
                "UPDATE orders SET refunded = refunded + $1, \
                 payment_status = CASE WHEN $1 = 0 THEN payment_status \
                                       WHEN refunded + $1 >= charge THEN 'refunded' ELSE 'partial' END, \
                 status = $2, \
                 completed_at = CASE WHEN $2 IN ('completed', 'partial', 'canceled') THEN COALESCE(completed_at, $3) ELSE completed_at END, \
                 updated_at = $3 \
                 WHERE id = $4 AND user_id = $5 AND refunded + $1 <= charge RETURNING refunded",
            )
            .bind(amount.micros())
            .bind(status.as_str())
            .bind(now)
            .bind(order_id)
            .bind(user)
            .fetch_optional(&mut *self)
            .await?;
            let Some((refunded,)) = updated else {
                return Err(StoreError::Conflict(format!(
                    "refund of order {order_id} exceeds its charge or names another buyer"
                )));
            };
            // A closed order has nothing more to send or poll upstream.
            if !status.is_open() {
                self.drop_order_jobs(order_id).await?;
            }
            let earning: Option<(i64, i64)> =
                sqlx::query_as("SELECT gross, commission FROM earnings WHERE order_id = $1")
                    .bind(order_id)
                    .fetch_optional(&mut *self)
                    .await?;
            if let Some((gross, commission)) = earning {
                let left = supply::earning_after_refunds(
                    Money::from_micros(gross),
                    Money::from_micros(commission),
                    Money::from_micros(refunded),
                );
                sqlx::query("UPDATE earnings SET amount = $1 WHERE order_id = $2")
                    .bind(left.micros())
                    .bind(order_id)
                    .execute(&mut *self)
                    .await?;
            }
            self.order_event(order_id, "refund", &format!("{why}: refunded {}", amount.display2()), now)
                .await?;
            self.order_changed(order_id, now).await?;
            Ok(Money::from_micros(refunded))
        }
    }
}

impl Store {
    /// Places a product order: the first candidate subproduct with the stock serves it at
    /// its price; the balance is charged; inventory lines are delivered at once, oldest
    /// first. `Not enough stock` and `Insufficient balance` change nothing. On SQLite the
    /// order joins the node's group commit (`crate::batch`): it runs in a savepoint of a
    /// transaction shared with the orders that arrived with it, and is answered once that
    /// transaction is durable.
    pub async fn place_product_order(
        &self,
        buyer: &Buyer<'_>,
        order: &ProductOrder,
        idem: Option<&Idempotency<'_>>,
        now: i64,
    ) -> Result<Placed> {
        let placed = self
            .write(Write::Product {
                buyer: OwnedBuyer::of(buyer),
                order: order.clone(),
                idem: idem.map(OwnedIdempotency::of),
                now,
            })
            .await?
            .placed()?;
        if let Some(notices) = &self.stock_notices {
            notices.tell(&placed.changes);
        }
        Ok(placed)
    }

    /// Places an SMM order: validated and priced by the caller, charged here. Orders for
    /// `auto` services connected to a provider are queued for forwarding; without a
    /// provider they wait, like manual ones. Group-committed like product orders.
    pub async fn place_smm_order(
        &self,
        buyer: &Buyer<'_>,
        order: &SmmOrder,
        idem: Option<&Idempotency<'_>>,
        now: i64,
    ) -> Result<Placed> {
        self.write(Write::Smm {
            buyer: OwnedBuyer::of(buyer),
            order: order.clone(),
            idem: idem.map(OwnedIdempotency::of),
            now,
        })
        .await?
        .placed()
    }

    /// Sets one setting (checked by the caller: `souk_app::settings`).
    pub async fn set_setting(&self, key: &str, value: &str, now: i64) -> Result<()> {
        self.set_settings(&[(key.to_owned(), value.to_owned())], now)
            .await
    }

    /// Sets several settings at once: all of them or, on a failure, none.
    pub async fn set_settings(&self, settings: &[(String, String)], now: i64) -> Result<()> {
        self.set_settings_audited(settings, now, |_| None).await
    }

    /// `set_settings` with the audit row `audit` makes of the settings' values before
    /// (key, value or `None` for unset; read in the transaction), written in the
    /// transaction of the change (none for `None`).
    pub async fn set_settings_audited(
        &self,
        settings: &[(String, String)],
        now: i64,
        audit: impl FnOnce(&[(String, Option<String>)]) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let mut before = Vec::with_capacity(settings.len());
            for (key, _) in settings {
                let old: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                before.push((key.clone(), old.map(|(v,)| v)));
            }
            for (key, value) in settings {
                sqlx::query(
                    "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                )
                .bind(key)
                .bind(value)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(entry) = audit(&before) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// `cancel` (or, with `dry_run`, `allowcancel`) of one order of the caller's: the
    /// rules of SPEC 8 read in the same transaction that refunds. On SQLite a cancel joins
    /// the node's group commit with the orders (`crate::batch`).
    pub async fn early_cancel(
        &self,
        user_id: &str,
        order_id: i64,
        dry_run: bool,
        now: i64,
    ) -> Result<CancelOutcome> {
        if !dry_run {
            let write = Write::Cancel {
                user_id: user_id.to_owned(),
                order_id,
                now,
            };
            return self.write(write).await?.canceled();
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_read().await?;
            let outcome = tx.early_cancel_in(user_id, order_id, true, now).await?;
            tx.commit().await?;
            Ok(outcome)
        })
    }
}

tx_steps! {
    /// Cancels inside a write transaction (its own, or a savepoint of a batch).
    pub(crate) trait CancelSteps {
        /// The body of [`Store::early_cancel`].
        async fn early_cancel_in(&mut self, user_id: &str, order_id: i64, dry_run: bool, now: i64) -> Result<CancelOutcome> {
            // An order a provider has or may have counts as sent: being sent, sent, outcome
            // unknown, or queued again for a resend after an unknown outcome.
            let select = if Self::ENGINE == Engine::Postgres && !dry_run {
                "SELECT product_type, payment_status, status, \
                 COALESCE(external_id, CASE WHEN sent_at IS NOT NULL THEN 'forwarding' END) AS external_id, \
                 paid_at, self_refunded, quantity, delivered, \
                 charge, refunded FROM orders WHERE id = $1 AND user_id = $2 FOR UPDATE"
            } else {
                "SELECT product_type, payment_status, status, \
                 COALESCE(external_id, CASE WHEN sent_at IS NOT NULL THEN 'forwarding' END) AS external_id, \
                 paid_at, self_refunded, quantity, delivered, \
                 charge, refunded FROM orders WHERE id = $1 AND user_id = $2"
            };
            let row: Option<CancelRow> = sqlx::query_as(select)
                .bind(order_id)
                .bind(user_id)
                .fetch_optional(&mut *self)
                .await?;
            let Some(row) = row else {
                return Ok(CancelOutcome::NotFound);
            };
            // The rules read the switch and the wait in the same transaction as the order,
            // like everything else they decide on.
            let pairs: Vec<(String, String)> = sqlx::query_as(CANCEL_SETTINGS_SQL)
                .bind(supply::EARLY_CANCEL_ENABLED)
                .bind(supply::EARLY_REFUND_MINUTES)
                .fetch_all(&mut *self)
                .await?;
            let settings = CancelSettings::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let (dispute,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM disputes WHERE order_id = $1 AND status = 'open'")
                .bind(order_id)
                .fetch_one(&mut *self)
                .await?;
            let (withdrawal,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM earnings e JOIN withdrawals w ON w.id = e.withdrawal_id \
                 WHERE e.order_id = $1 AND w.status IN ('requested', 'completed')",
            )
            .bind(order_id)
            .fetch_one(&mut *self)
            .await?;
            let facts = early_cancel::OrderFacts {
                product_type: ProductType::parse(&row.product_type).unwrap_or(ProductType::Manual),
                payment_status: row.payment_status,
                status: OrderStatus::parse(&row.status).unwrap_or(OrderStatus::Error),
                external_id: row.external_id,
                paid_at: row.paid_at,
                self_refunded: row.self_refunded,
                quantity: row.quantity,
                delivered: row.delivered,
                charge: Money::from_micros(row.charge),
                refunded: Money::from_micros(row.refunded),
                active_dispute: dispute > 0,
                supplier_withdrawal: withdrawal > 0,
            };
            let refund = match early_cancel::evaluate(&facts, &settings, now) {
                Err(reason) => return Ok(CancelOutcome::Refused(reason)),
                Ok(refund) if dry_run => return Ok(CancelOutcome::Eligible(refund.amount)),
                Ok(refund) => refund,
            };
            self.book_refund(order_id, user_id, refund.amount, refund.final_status, "early cancel", now).await?;
            sqlx::query("UPDATE orders SET self_refunded = TRUE, remains = quantity - delivered WHERE id = $1")
                .bind(order_id)
                .execute(&mut *self)
                .await?;
            Ok(CancelOutcome::Refunded(refund.amount))
        }
    }
}
