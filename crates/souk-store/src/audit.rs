//! `souk admin audit`: the money and stock invariants, checked over the whole database.
//! Each check is one query in one snapshot; `crates/souk/tests/e2e/audit.rs` breaks each
//! invariant on purpose and expects its sentence.

use crate::db::on_engine;
use crate::rows::row_struct;
use crate::{Result, Store};

row_struct! {
    /// A ledger row of a top-up (or one naming a payment), with its payment's record.
    struct TopUpRow {
        row: i64,
        email: String,
        kind: String,
        payment: Option<String>,
        amount: i64,
        owner: Option<String>,
        state: Option<String>,
        credited: Option<i64>,
        bonus: Option<i64>,
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub users: i64,
    pub orders: i64,
    pub ledger_rows: i64,
    pub delivered_lines: i64,
    /// One sentence per broken invariant; empty when the database is consistent.
    pub violations: Vec<String>,
}

impl Store {
    pub async fn audit(&self) -> Result<AuditReport> {
        on_engine!(&self.db, pool => {
            // One snapshot for every check.
            let mut tx = pool.begin().await?;
            if self.engine() == crate::Engine::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let mut report = AuditReport::default();
            let (users, orders, ledger_rows, delivered_lines): (i64, i64, i64, i64) = sqlx::query_as(
                "SELECT (SELECT COUNT(*) FROM users), (SELECT COUNT(*) FROM orders), (SELECT COUNT(*) FROM ledger), \
                 (SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL)",
            )
            .fetch_one(&mut *tx)
            .await?;
            report.users = users;
            report.orders = orders;
            report.ledger_rows = ledger_rows;
            report.delivered_lines = delivered_lines;

            let rows: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT u.email, u.balance, CAST(COALESCE((SELECT SUM(l.amount) FROM ledger l WHERE l.user_id = u.id), 0) AS BIGINT) \
                 FROM users u",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (email, balance, sum) in rows {
                if balance != sum {
                    report.violations.push(format!("user {email}: balance {balance} differs from its ledger sum {sum}"));
                }
                if balance < 0 {
                    report.violations.push(format!("user {email}: negative balance {balance}"));
                }
            }

            let rows: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT o.id, o.charge, o.refunded, CAST(COALESCE((SELECT SUM(l.amount) FROM ledger l WHERE l.order_id = o.id), 0) AS BIGINT) \
                 FROM orders o",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, charge, refunded, ledger) in rows {
                if refunded > charge {
                    report.violations.push(format!("order {id}: refunded {refunded} exceeds its charge {charge}"));
                }
                if charge - refunded != -ledger {
                    report.violations.push(format!(
                        "order {id}: charge {charge} minus refunds {refunded} differs from its ledger rows ({ledger})"
                    ));
                }
            }

            // Every ledger row that names an order names one of its owner's orders, so the
            // per-order sums above see every charge and refund.
            let stray: Vec<(i64, String, i64, bool)> = sqlx::query_as(
                "SELECT l.id, u.email, l.order_id, o.id IS NULL FROM ledger l JOIN users u ON u.id = l.user_id \
                 LEFT JOIN orders o ON o.id = l.order_id \
                 WHERE l.order_id IS NOT NULL AND (o.id IS NULL OR o.user_id <> l.user_id)",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (row, email, order, missing) in stray {
                report.violations.push(if missing {
                    format!("ledger row {row} of user {email} names order {order}, which does not exist")
                } else {
                    format!("ledger row {row} of user {email} names order {order} of another user")
                });
            }

            let orphans: Vec<(i64, i64, bool)> = sqlx::query_as(
                "SELECT l.id, l.order_id, o.id IS NULL FROM stock_lines l LEFT JOIN orders o ON o.id = l.order_id \
                 WHERE l.order_id IS NOT NULL AND (o.id IS NULL OR o.kind <> 'product')",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (line, order, missing) in orphans {
                let what = if missing { "which does not exist" } else { "which is not a product order" };
                report.violations.push(format!("stock line {line} is delivered to order {order}, {what}"));
            }
            // A line is delivered with its own order's variant: one of another subproduct
            // was sold from someone else's stock (or twice).
            let crossed: Vec<(i64, String, i64, Option<String>)> = sqlx::query_as(
                "SELECT l.id, l.subproduct_id, o.id, o.subproduct_id FROM stock_lines l JOIN orders o ON o.id = l.order_id \
                 WHERE o.kind = 'product' AND (o.subproduct_id IS NULL OR o.subproduct_id <> l.subproduct_id)",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (line, line_sub, order, order_sub) in crossed {
                report.violations.push(format!(
                    "stock line {line} of subproduct {line_sub} is delivered to order {order} of subproduct {}",
                    order_sub.as_deref().unwrap_or("(none)")
                ));
            }

            let miscounted: Vec<(i64, i64, i64)> = sqlx::query_as(
                "SELECT o.id, o.delivered, (SELECT COUNT(*) FROM stock_lines l WHERE l.order_id = o.id) \
                 FROM orders o WHERE o.kind = 'product'",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, delivered, lines) in miscounted {
                if delivered != lines {
                    report.violations.push(format!("order {id}: {delivered} delivered but {lines} lines hold its id"));
                }
            }

            let stock: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT p.id, p.stock, (SELECT COUNT(*) FROM stock_lines l WHERE l.subproduct_id = p.id AND l.order_id IS NULL) \
                 FROM subproducts p JOIN services s ON s.number = p.service_number WHERE s.product_type = 'inventory'",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, counter, unsold) in stock {
                if counter != unsold {
                    report.violations.push(format!("subproduct {id}: stock counter {counter} but {unsold} unsold lines"));
                }
            }
            // A sale looks for lines past its variant's `sold_through` only: an unsold
            // line at or below it is counted in the stock but never sold.
            let hidden: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT p.id, p.sold_through, COUNT(*) FROM subproducts p \
                 JOIN stock_lines l ON l.subproduct_id = p.id AND l.order_id IS NULL AND l.id <= p.sold_through \
                 GROUP BY p.id, p.sold_through ORDER BY p.id",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, through, lines) in hidden {
                report.violations.push(format!(
                    "subproduct {id}: {lines} unsold line(s) at or below its sold_through {through}, where no sale looks"
                ));
            }
            // Supply side: an earning belongs to its order's shop, started from its charge,
            // and never pays out more than the sale less commission; a live withdrawal is
            // exactly the earnings it covers.
            let earnings: Vec<(i64, i64, i64, i64, i64, bool)> = sqlx::query_as(
                "SELECT e.order_id, e.gross, e.commission, e.amount, o.charge, e.shop_id = o.shop_id \
                 FROM earnings e JOIN orders o ON o.id = e.order_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (order, gross, commission, amount, charge, same_shop) in earnings {
                if !same_shop || gross != charge {
                    report.violations.push(format!("order {order}: its earning names another shop or another charge"));
                }
                if amount < 0 || amount > gross - commission {
                    report.violations.push(format!(
                        "order {order}: earning {amount} outside 0..={} (gross {gross} less commission {commission})",
                        gross - commission
                    ));
                }
            }
            let withdrawals: Vec<(String, i64, i64)> = sqlx::query_as(
                "SELECT w.id, w.amount, CAST(COALESCE((SELECT SUM(e.amount) FROM earnings e WHERE e.withdrawal_id = w.id), 0) AS BIGINT) \
                 FROM withdrawals w WHERE w.status IN ('requested', 'completed')",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, amount, covered) in withdrawals {
                if amount != covered {
                    report.violations.push(format!("withdrawal {id}: amount {amount} but its earnings add up to {covered}"));
                }
            }
            // A shop withdraws only its own earnings.
            let foreign: Vec<(String, String, i64, String)> = sqlx::query_as(
                "SELECT w.id, w.shop_id, e.order_id, e.shop_id FROM earnings e JOIN withdrawals w ON w.id = e.withdrawal_id \
                 WHERE e.shop_id <> w.shop_id ORDER BY w.id, e.order_id",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, shop, order, owner) in foreign {
                report.violations.push(format!(
                    "withdrawal {id} of shop {shop} covers the earning of order {order} of shop {owner}"
                ));
            }
            // Top-ups: every deposit or bonus row names one credited payment of its
            // user and books exactly what the payment says it credited; every credited
            // payment has its rows; a payment's id is on no other kind of row.
            let rows: Vec<TopUpRow> = sqlx::query_as(
                "SELECT l.id AS row, u.email, l.kind, l.payment_id AS payment, l.amount, p.user_id AS owner, p.state, \
                 p.credited, p.bonus_credited AS bonus \
                 FROM ledger l JOIN users u ON u.id = l.user_id LEFT JOIN payments p ON p.id = l.payment_id \
                 WHERE l.kind IN ('deposit', 'bonus') OR l.payment_id IS NOT NULL ORDER BY l.id",
            )
            .fetch_all(&mut *tx)
            .await?;
            let user_of: std::collections::HashMap<String, String> = sqlx::query_as::<_, (String, String)>("SELECT id, email FROM users")
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
            for TopUpRow { row, email, kind, payment, amount, owner, state, credited, bonus } in rows {
                let Some(payment) = payment else {
                    report.violations.push(format!("ledger row {row} of user {email} is a {kind} that names no payment"));
                    continue;
                };
                let (Some(owner), Some(state)) = (owner, state) else {
                    report.violations.push(format!("ledger row {row} of user {email} names payment {payment}, which does not exist"));
                    continue;
                };
                if user_of.get(&owner) != Some(&email) {
                    report.violations.push(format!("ledger row {row} of user {email} names payment {payment} of another user"));
                }
                if kind != "deposit" && kind != "bonus" {
                    report.violations.push(format!("ledger row {row} names payment {payment} but is of kind {kind}"));
                    continue;
                }
                if state != "paid" && state != "partially_paid" {
                    report.violations.push(format!("ledger row {row} credits payment {payment}, which is {state}"));
                }
                let booked = if kind == "deposit" { credited } else { bonus };
                if booked != Some(amount) {
                    report.violations.push(format!(
                        "ledger row {row} credits {amount} for payment {payment}, which records {} as its {kind}",
                        booked.unwrap_or(0)
                    ));
                }
            }
            let payments: Vec<(String, String, i64, i64, i64, i64)> = sqlx::query_as(
                "SELECT p.id, p.state, p.credited, p.bonus_credited, \
                 (SELECT COUNT(*) FROM ledger l WHERE l.payment_id = p.id AND l.kind = 'deposit'), \
                 (SELECT COUNT(*) FROM ledger l WHERE l.payment_id = p.id AND l.kind = 'bonus') FROM payments p",
            )
            .fetch_all(&mut *tx)
            .await?;
            for (id, state, credited, bonus, deposits, bonuses) in payments {
                let credited_state = state == "paid" || state == "partially_paid";
                let want_deposits = i64::from(credited_state && credited > 0);
                let want_bonuses = i64::from(credited_state && bonus > 0);
                if deposits != want_deposits {
                    report.violations.push(format!(
                        "payment {id} ({state}, credited {credited}) has {deposits} deposit rows, not {want_deposits}"
                    ));
                }
                if bonuses != want_bonuses {
                    report.violations.push(format!(
                        "payment {id} ({state}, bonus {bonus}) has {bonuses} bonus rows, not {want_bonuses}"
                    ));
                }
                if credited_state && credited == 0 {
                    report.violations.push(format!("payment {id} is {state} but credited nothing"));
                }
            }
            tx.commit().await?;
            Ok(report)
        })
    }
}
