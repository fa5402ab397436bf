//! What the operator console reads: the dashboard's sums per day (from the daily sums of
//! the orders that `console_totals` keeps, and from the ledger), its live counters, and the orders list with its filters. Reads only; every
//! change goes through the use cases.

use std::collections::{BTreeMap, HashMap};

use crate::db::on_engine;
use crate::jobs::{ORDER_FORWARD, ORDER_STATUS};
use crate::payments::{DEPOSIT, MANUAL_GATEWAY};
use crate::rows::row_struct;
use crate::{Result, Store};

/// Milliseconds in a day: days are UTC days.
pub const DAY_MS: i64 = 86_400_000;

row_struct! {
    /// Orders of one kind placed on one day.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DayKindTotals {
        pub day: i64,
        pub kind: String,
        pub orders: i64,
        /// What buyers paid and kept paid: charges less refunds.
        pub revenue: i64,
        /// What the upstream providers charged.
        pub cost: i64,
    }
}

row_struct! {
    /// Orders of one status placed on one day.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DayStatusCount {
        pub day: i64,
        pub status: String,
        pub orders: i64,
    }
}

row_struct! {
    /// Money that came in on one day (deposits booked to the ledger).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct DayPayments {
        pub day: i64,
        pub payments: i64,
        pub amount: i64,
    }
}

row_struct! {
    /// A group's sums over the period (a provider, a shop, a product).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct GroupTotals {
        pub key: String,
        pub name: String,
        pub orders: i64,
        pub revenue: i64,
        pub cost: i64,
    }
}

/// The dashboard's live counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub stuck_orders: i64,
    pub parked_jobs: i64,
    pub open_disputes: i64,
    pub pending_withdrawals: i64,
    pub pending_manual_payments: i64,
    pub failing_providers: i64,
    pub low_balance_providers: i64,
}

/// Everything the dashboard draws for a period `[from, to)`.
#[derive(Clone, Debug, Default)]
pub struct Dashboard {
    pub by_day_kind: Vec<DayKindTotals>,
    pub by_day_status: Vec<DayStatusCount>,
    pub payments: Vec<DayPayments>,
    pub by_provider: Vec<GroupTotals>,
    pub by_shop: Vec<GroupTotals>,
    pub top_products: Vec<GroupTotals>,
    pub counters: Counters,
}

row_struct! {
    /// An order as the console lists it.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ConsoleOrder {
        pub id: i64,
        pub user_id: String,
        pub email: String,
        pub kind: String,
        pub service_number: Option<i64>,
        pub product_type: String,
        pub status: String,
        pub link: String,
        pub quantity: i64,
        pub delivered: i64,
        pub charge: i64,
        pub refunded: i64,
        pub provider_id: Option<String>,
        pub external_id: Option<String>,
        pub provider_cost: Option<i64>,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

row_struct! {
    /// One step of an order's history.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OrderEventRow {
        pub kind: String,
        pub payload: String,
        pub created_at: i64,
    }
}

/// The orders list's filters; all combine with AND.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub id: Option<i64>,
    /// A buyer's email, exact (lower case).
    pub email: Option<String>,
    /// Text the link contains.
    pub link: Option<String>,
    pub status: Option<String>,
    pub provider_id: Option<String>,
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Orders older than this id (the next page).
    pub before_id: Option<i64>,
}

const ORDER_COLUMNS: &str = "o.id, o.user_id, u.email, o.kind, o.service_number, o.product_type, o.status, o.link, \
     o.quantity, o.delivered, o.charge, o.refunded, o.provider_id, o.external_id, o.provider_cost, o.created_at, o.updated_at";

fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

type DayRow = (i64, String, String, i64, i64, i64);
type GroupRow = (String, String, i64, i64, i64);
type TopRow = (i64, i64, i64, i64);
type CounterRow = (i64, i64, i64, i64, i64, i64, i64);
/// What the dashboard's queries answer, before it is summed up.
type DashboardRows = (
    Vec<DayRow>,
    Vec<GroupRow>,
    Vec<TopRow>,
    Vec<DayPayments>,
    CounterRow,
    Vec<(String, String)>,
    Vec<(String, String)>,
);

impl Store {
    /// The dashboard over the UTC days `[first_day, end_day)`, from the daily sums
    /// (`console_totals`) brought up to date first; providers below `low_balance` count
    /// as low. `now` is the reader's clock.
    pub async fn dashboard(
        &self,
        first_day: i64,
        end_day: i64,
        low_balance: i64,
        now: i64,
    ) -> Result<Dashboard> {
        self.refresh_console_totals(now).await?;
        let sums =
            "CAST(SUM(t.orders) AS BIGINT) AS orders, CAST(SUM(t.revenue) AS BIGINT) AS revenue, \
                    CAST(SUM(t.cost) AS BIGINT) AS cost";
        let by_day = format!(
            "SELECT t.day, t.kind, t.status, {sums} FROM console_day_totals t \
             WHERE t.day >= $1 AND t.day < $2 GROUP BY 1, 2, 3"
        );
        let by_group = format!(
            "SELECT t.provider_id, t.shop_id, {sums} FROM console_day_totals t \
             WHERE t.day >= $1 AND t.day < $2 GROUP BY 1, 2"
        );
        // Ties: more orders first, then the lower number.
        let top = format!(
            "SELECT t.service_number, {sums} FROM console_day_services t \
             WHERE t.day >= $1 AND t.day < $2 GROUP BY 1 ORDER BY 3 DESC, 2 DESC, 1 LIMIT 10"
        );
        // The kind inlined, so that both engines read the partial index `ledger_deposits`.
        let payments = format!(
            "SELECT CAST(l.created_at / {DAY_MS} AS BIGINT) AS day, CAST(COUNT(*) AS BIGINT) AS payments, \
             CAST(COALESCE(SUM(l.amount), 0) AS BIGINT) AS amount FROM ledger l \
             WHERE l.kind = '{DEPOSIT}' AND l.created_at >= $1 AND l.created_at < $2 GROUP BY 1 ORDER BY 1"
        );
        let counters = "SELECT \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE state = 'parked' AND kind IN ($1, $2)), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM jobs WHERE state = 'parked'), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM disputes WHERE status = 'open'), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM withdrawals WHERE status = 'requested'), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM payments WHERE gateway = $3 AND state IN ('pending', 'held')), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM providers WHERE enabled AND failing_since IS NOT NULL), \
             (SELECT CAST(COUNT(*) AS BIGINT) FROM providers WHERE enabled AND balance IS NOT NULL AND balance < $4)";
        let (days, groups, top, payments, c, providers, shops): DashboardRows = on_engine!(&self.db, pool => {
            let days = sqlx::query_as(&by_day).bind(first_day).bind(end_day).fetch_all(pool).await?;
            let groups = sqlx::query_as(&by_group).bind(first_day).bind(end_day).fetch_all(pool).await?;
            let top = sqlx::query_as(&top).bind(first_day).bind(end_day).fetch_all(pool).await?;
            let payments = sqlx::query_as(&payments)
                .bind(first_day * DAY_MS)
                .bind(end_day * DAY_MS)
                .fetch_all(pool)
                .await?;
            let c = sqlx::query_as(counters)
                .bind(ORDER_FORWARD)
                .bind(ORDER_STATUS)
                .bind(MANUAL_GATEWAY)
                .bind(low_balance)
                .fetch_one(pool)
                .await?;
            let providers = sqlx::query_as("SELECT id, name FROM providers").fetch_all(pool).await?;
            let shops = sqlx::query_as("SELECT id, name FROM shops").fetch_all(pool).await?;
            (days, groups, top, payments, c, providers, shops)
        });
        let mut by_day_kind: BTreeMap<(i64, String), DayKindTotals> = BTreeMap::new();
        let mut by_day_status: BTreeMap<(i64, String), i64> = BTreeMap::new();
        for (day, kind, status, orders, revenue, cost) in days {
            let t = by_day_kind
                .entry((day, kind.clone()))
                .or_insert(DayKindTotals {
                    day,
                    kind,
                    orders: 0,
                    revenue: 0,
                    cost: 0,
                });
            t.orders += orders;
            t.revenue += revenue;
            t.cost += cost;
            *by_day_status.entry((day, status)).or_default() += orders;
        }
        let mut by_provider: HashMap<String, GroupTotals> = HashMap::new();
        let mut by_shop: HashMap<String, GroupTotals> = HashMap::new();
        let add = |map: &mut HashMap<String, GroupTotals>,
                   key: &str,
                   orders: i64,
                   revenue: i64,
                   cost: i64| {
            let g = map.entry(key.to_owned()).or_insert_with(|| GroupTotals {
                key: key.to_owned(),
                name: String::new(),
                orders: 0,
                revenue: 0,
                cost: 0,
            });
            g.orders += orders;
            g.revenue += revenue;
            g.cost += cost;
        };
        for (provider, shop, orders, revenue, cost) in groups {
            add(&mut by_provider, &provider, orders, revenue, cost);
            add(&mut by_shop, &shop, orders, revenue, cost);
        }
        let named =
            |map: HashMap<String, GroupTotals>, names: &[(String, String)], limit: usize| {
                let names: HashMap<&str, &str> = names
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                let mut rows: Vec<GroupTotals> = map
                    .into_values()
                    .map(|mut g| {
                        g.name = names
                            .get(g.key.as_str())
                            .map(|n| (*n).to_owned())
                            .unwrap_or_default();
                        g
                    })
                    .collect();
                rows.sort_by(|a, b| b.revenue.cmp(&a.revenue).then_with(|| a.key.cmp(&b.key)));
                rows.truncate(limit);
                rows
            };
        let mut top_products: Vec<GroupTotals> = top
            .into_iter()
            .map(|(service, orders, revenue, cost)| GroupTotals {
                key: service.to_string(),
                name: String::new(),
                orders,
                revenue,
                cost,
            })
            .collect();
        let numbers: Vec<i64> = top_products
            .iter()
            .filter_map(|g| g.key.parse().ok())
            .collect();
        if !numbers.is_empty() {
            // Numbers from the database itself: inlined, and not cached (`db::id_list`).
            let sql = format!(
                "SELECT CAST(number AS BIGINT), name FROM services WHERE number IN ({})",
                crate::db::id_list(numbers.iter().copied())
            );
            let names: Vec<(i64, String)> = on_engine!(&self.db, pool => {
                sqlx::query_as(&sql).persistent(false).fetch_all(pool).await?
            });
            for g in &mut top_products {
                if let Some((_, name)) = names.iter().find(|(n, _)| n.to_string() == g.key) {
                    g.name = name.clone();
                }
            }
        }
        Ok(Dashboard {
            by_day_kind: by_day_kind.into_values().collect(),
            by_day_status: by_day_status
                .into_iter()
                .map(|((day, status), orders)| DayStatusCount {
                    day,
                    status,
                    orders,
                })
                .collect(),
            payments,
            by_provider: named(by_provider, &providers, 20),
            by_shop: named(by_shop, &shops, 20),
            top_products,
            counters: Counters {
                stuck_orders: c.0,
                parked_jobs: c.1,
                open_disputes: c.2,
                pending_withdrawals: c.3,
                pending_manual_payments: c.4,
                failing_providers: c.5,
                low_balance_providers: c.6,
            },
        })
    }

    /// Orders matching `filter`, newest first, at most `limit`.
    pub async fn console_orders(
        &self,
        filter: &OrderFilter,
        limit: i64,
    ) -> Result<Vec<ConsoleOrder>> {
        let mut sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders o JOIN users u ON u.id = o.user_id WHERE TRUE"
        );
        let mut n = 0;
        let mut next = |clause: &str| {
            n += 1;
            clause.replace('?', &format!("${n}"))
        };
        if filter.id.is_some() {
            sql.push_str(&next(" AND o.id = ?"));
        }
        if filter.email.is_some() {
            sql.push_str(&next(" AND u.email = ?"));
        }
        if filter.link.is_some() {
            sql.push_str(&next(" AND o.link LIKE ? ESCAPE '\\'"));
        }
        if filter.status.is_some() {
            sql.push_str(&next(" AND o.status = ?"));
        }
        if filter.provider_id.is_some() {
            sql.push_str(&next(" AND o.provider_id = ?"));
        }
        if filter.from.is_some() {
            sql.push_str(&next(" AND o.created_at >= ?"));
        }
        if filter.to.is_some() {
            sql.push_str(&next(" AND o.created_at < ?"));
        }
        if filter.before_id.is_some() {
            sql.push_str(&next(" AND o.id < ?"));
        }
        sql.push_str(&next(" ORDER BY o.id DESC LIMIT ?"));
        let link = filter.link.as_deref().map(like_pattern);
        Ok(on_engine!(&self.db, pool => {
            let mut q = sqlx::query_as(&sql);
            if let Some(id) = filter.id { q = q.bind(id); }
            if let Some(email) = &filter.email { q = q.bind(email.clone()); }
            if let Some(link) = &link { q = q.bind(link.clone()); }
            if let Some(status) = &filter.status { q = q.bind(status.clone()); }
            if let Some(p) = &filter.provider_id { q = q.bind(p.clone()); }
            if let Some(from) = filter.from { q = q.bind(from); }
            if let Some(to) = filter.to { q = q.bind(to); }
            if let Some(before) = filter.before_id { q = q.bind(before); }
            q.bind(limit).fetch_all(pool).await?
        }))
    }

    /// One order for the console, with whoever placed it.
    pub async fn console_order(&self, id: i64) -> Result<Option<ConsoleOrder>> {
        Ok(self
            .console_orders(
                &OrderFilter {
                    id: Some(id),
                    ..OrderFilter::default()
                },
                1,
            )
            .await?
            .into_iter()
            .next())
    }

    /// The ledger rows that name an order, oldest first.
    pub async fn console_order_ledger(&self, order_id: i64) -> Result<Vec<crate::LedgerEntry>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, amount, balance_after, kind, order_id, payment_id, note, created_at FROM ledger \
                 WHERE order_id = $1 ORDER BY id",
            )
            .bind(order_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// An order's own history (sends, upstream answers, settlements), oldest first.
    pub async fn order_events(&self, order_id: i64) -> Result<Vec<OrderEventRow>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT kind, detail AS payload, created_at FROM order_events WHERE order_id = $1 ORDER BY id")
                .bind(order_id)
                .fetch_all(pool)
                .await?
        }))
    }
}

row_struct! {
    /// A ledger row with its user's email, for the export.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct LedgerExportRow {
        pub id: i64,
        pub email: String,
        pub amount: i64,
        pub balance_after: i64,
        pub kind: String,
        pub order_id: Option<i64>,
        pub payment_id: Option<String>,
        pub note: String,
        pub created_at: i64,
    }
}

impl Store {
    /// Ledger rows booked in `[from, to)` with ids above `after_id`, oldest first: the
    /// export reads the range a page at a time.
    pub async fn ledger_range(
        &self,
        from: i64,
        to: i64,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<LedgerExportRow>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT l.id, u.email, l.amount, l.balance_after, l.kind, l.order_id, l.payment_id, l.note, l.created_at \
                 FROM ledger l JOIN users u ON u.id = l.user_id \
                 WHERE l.created_at >= $1 AND l.created_at < $2 AND l.id > $3 ORDER BY l.id LIMIT $4",
            )
            .bind(from)
            .bind(to)
            .bind(after_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
