//! Orders as their buyer sees them (`status`): one query for any number of ids.
//!
//! The orders are looked up by their primary key alone, and their owner is checked here.
//! Asked `user_id = $1 AND id IN (...)`, PostgreSQL's cached plan for a hundred ids
//! scanned the buyer's index and filtered every order the buyer ever placed: 588 ms for a
//! buyer with 220,000 orders among 20,000 buyers, where by key it takes 0.4 ms
//! (bench/README.md, "`status` by key"). By key, the cost is the ids asked, whoever asks
//! and however many orders they have.

use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Row};

use crate::db::{placeholders, Db};
use crate::orders::OrderView;
use crate::rows::row_struct;
use crate::{Result, Store, StoreError};
use souk_core::catalogue::ProductType;
use souk_core::order::OrderStatus;
use souk_core::Money;

row_struct! {
    /// An order's row as `status` answers from it (its delivered lines apart).
    struct OrderRow {
        id: i64,
        user_id: String,
        kind: String,
        product_type: String,
        status: String,
        quantity: i64,
        charge: i64,
        refunded: i64,
        delivered: i64,
        start_count: Option<i64>,
        remains: Option<i64>,
        params: String,
        type_name: Option<String>,
        sub_state: Option<String>,
        posts_done: Option<i64>,
        parent_id: Option<i64>,
    }
}

/// An order with its delivered lines, still sealed, in delivery order.
struct Found {
    row: OrderRow,
    lines: Vec<Vec<u8>>,
}

/// The columns of [`OrderRow`]. Only an SMM order has a type (a subscription answers in
/// its own states), so only an SMM order reads its service's row (`status` measured
/// cheaper so in `bench/README.md`).
macro_rules! order_columns {
    () => {
        "o.id, o.user_id, o.kind, o.product_type, o.status, o.quantity, o.charge, o.refunded, \
         o.delivered, o.start_count, o.remains, o.params, \
         CASE WHEN o.kind = 'smm' THEN (SELECT s.type_name FROM services s WHERE s.number = o.service_number) END \
         AS type_name, o.sub_state, o.posts_done, o.parent_id"
    };
}

/// PostgreSQL: each order's lines as an array (an index probe per order, where a join
/// must sort the rows). The ids are placeholders, one per id, not one array: PostgreSQL
/// plans `id = ANY($1)` for ten ids whatever the array holds, so `status` of one order
/// costed its cached plan ten times its own and was planned again at every call.
fn postgres_sql(ids: usize) -> String {
    format!(
        concat!(
            "SELECT ",
            order_columns!(),
            ", ARRAY(SELECT l.content FROM stock_lines l WHERE l.order_id = o.id ORDER BY l.id) AS contents \
             FROM orders o WHERE o.id IN ({placeholders}) ORDER BY o.id"
        ),
        placeholders = placeholders(1, ids)
    )
}

/// SQLite: an order's row once per delivered line (once when it has none), in order and
/// line order.
fn sqlite_sql(ids: usize) -> String {
    format!(
        concat!(
            "SELECT ",
            order_columns!(),
            ", l.content FROM orders o LEFT JOIN stock_lines l ON l.order_id = o.id \
             WHERE o.id IN ({placeholders}) ORDER BY o.id, l.id"
        ),
        placeholders = placeholders(1, ids)
    )
}

impl Store {
    /// The caller's orders among `ids`, with delivered accounts decrypted. Orders of
    /// other users are simply absent.
    pub async fn orders_of(&self, user_id: &str, ids: &[i64]) -> Result<Vec<OrderView>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (found, children) = match &self.db {
            Db::Postgres(pool) => postgres_orders(pool, user_id, ids).await?,
            // SQLite answers in place (`crate::reads`): no hand-off per row.
            Db::Sqlite(_) => self
                .reads
                .as_ref()
                .ok_or_else(|| StoreError::Internal("SQLite's store has no readers".into()))?
                .read(|conn| sqlite_orders(conn, user_id, ids))?,
        };
        let mut views = Vec::with_capacity(found.len());
        for Found { row, lines } in found {
            let accounts = lines
                .iter()
                .map(|sealed| self.crypto.open(sealed))
                .collect::<Result<Vec<String>>>()?;
            views.push(view(row, accounts, &children));
        }
        Ok(views)
    }
}

type Answer = (Vec<Found>, Vec<(i64, i64)>);

async fn postgres_orders(pool: &PgPool, user_id: &str, ids: &[i64]) -> Result<Answer> {
    let sql = postgres_sql(ids.len());
    let mut query = sqlx::query(&sql);
    for id in ids {
        query = query.bind(id);
    }
    let rows: Vec<PgRow> = query.fetch_all(pool).await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in &rows {
        let order = OrderRow::from_row(row)?;
        if order.user_id == user_id {
            let lines: Vec<Vec<u8>> = row.try_get("contents")?;
            found.push(Found { row: order, lines });
        }
    }
    let parents = subscriptions_among(&found);
    let mut children = Vec::new();
    if !parents.is_empty() {
        let sql = children_sql(parents.len());
        let mut query = sqlx::query_as::<_, (i64, i64)>(&sql);
        for parent in &parents {
            query = query.bind(parent);
        }
        children = query.fetch_all(pool).await?;
    }
    Ok((found, children))
}

fn sqlite_orders(
    conn: &rusqlite::Connection,
    user_id: &str,
    ids: &[i64],
) -> rusqlite::Result<Answer> {
    let mut statement = conn.prepare_cached(&sqlite_sql(ids.len()))?;
    let mut rows = statement.query(rusqlite::params_from_iter(ids))?;
    let mut found: Vec<Found> = Vec::with_capacity(ids.len());
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let owner = r.get_ref(1)?.as_str()?;
        if owner != user_id {
            continue;
        }
        let line: Option<Vec<u8>> = r.get(16)?;
        if let Some(last) = found.last_mut().filter(|f| f.row.id == id) {
            last.lines.extend(line);
            continue;
        }
        let row = OrderRow {
            id,
            user_id: owner.to_owned(),
            kind: r.get(2)?,
            product_type: r.get(3)?,
            status: r.get(4)?,
            quantity: r.get(5)?,
            charge: r.get(6)?,
            refunded: r.get(7)?,
            delivered: r.get(8)?,
            start_count: r.get(9)?,
            remains: r.get(10)?,
            params: r.get(11)?,
            type_name: r.get(12)?,
            sub_state: r.get(13)?,
            posts_done: r.get(14)?,
            parent_id: r.get(15)?,
        };
        found.push(Found {
            row,
            lines: line.into_iter().collect(),
        });
    }
    let parents = subscriptions_among(&found);
    let mut children = Vec::new();
    if !parents.is_empty() {
        let mut statement = conn.prepare_cached(&children_sql(parents.len()))?;
        children = statement
            .query_map(rusqlite::params_from_iter(&parents), |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?;
    }
    Ok((found, children))
}

fn view(row: OrderRow, accounts: Vec<String>, children: &[(i64, i64)]) -> OrderView {
    OrderView {
        id: row.id,
        kind: row.kind,
        product_type: ProductType::parse(&row.product_type).unwrap_or(ProductType::Manual),
        status: OrderStatus::parse(&row.status).unwrap_or(OrderStatus::Error),
        quantity: row.quantity,
        charge: Money::from_micros(row.charge),
        refunded: Money::from_micros(row.refunded),
        delivered: row.delivered,
        start_count: row.start_count,
        remains: row.remains,
        accounts,
        // Written by `add` as a flat map of text; anything else shows as none.
        params: serde_json::from_str(&row.params).unwrap_or_default(),
        type_name: row.type_name,
        sub_state: row.sub_state,
        posts_done: row.posts_done,
        parent_id: row.parent_id,
        child_orders: children
            .iter()
            .filter(|(parent, _)| *parent == row.id)
            .map(|(_, child)| *child)
            .collect(),
    }
}

/// Only a subscription has children worth listing (a drip-feed's runs are its own
/// business): the subscriptions among `found`, whose children are asked for in one query.
fn subscriptions_among(found: &[Found]) -> Vec<i64> {
    found
        .iter()
        .map(|f| &f.row)
        .filter(|r| {
            r.parent_id.is_none()
                && r.type_name
                    .as_deref()
                    .and_then(souk_core::smm_type::canonical)
                    == Some("Subscriptions")
        })
        .map(|r| r.id)
        .collect()
}

/// The children of `parents` subscriptions, oldest first.
fn children_sql(parents: usize) -> String {
    format!(
        "SELECT parent_id, id FROM orders WHERE parent_id IN ({}) ORDER BY id",
        placeholders(1, parents)
    )
}
