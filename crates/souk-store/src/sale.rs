//! Placing orders, written once for every connection a sale runs on: sqlx's, on either
//! engine (a transaction of its own, or a savepoint of the group commit), and the order
//! writer's own SQLite connection (`crate::placements`), which calls SQLite in place
//! instead of handing each statement to a connection thread. A sale is a handful of
//! statements, so it speaks through [`SaleConn`]: the first row of a statement, all of
//! them, or a [`Script`] of writes.
//!
//! On an error the caller rolls back what the sale wrote.

use serde_json::json;
use souk_core::catalogue::ProductType;
use souk_core::event;
use souk_core::order::{product_charge, OrderStatus, ProductOrder, SmmOrder};
use souk_core::supply::{self, EarningsSettings};
use souk_core::{ApiError, Money};
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;

use crate::batch::{OwnedIdempotency, Write};
use crate::db::Engine;
use crate::events::{event_part, new_order_event, OrderFacts};
use crate::forwarding::forward_part;
use crate::idempotency::{settle_part, Idempotency, IDEMPOTENCY_WINDOW_MS};
use crate::orders::{earning_part, order_event_part, Buyer, Placed};
use crate::script::{bind_args, Arg, Part, Script, ScriptSteps};
use crate::users::ledger_row;
use crate::versions::Change;
use crate::{Result, StoreError};

/// A row a sale reads, decoded alike from every connection.
pub(crate) trait SaleRow:
    Sized + Send + Unpin + for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow>
{
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

macro_rules! sale_rows {
    ($( ($($t:ty),+) [$($i:tt)+] ),* $(,)?) => {
        $(
            impl SaleRow for ($($t,)+) {
                fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                    Ok(($(row.get::<_, $t>($i)?,)+))
                }
            }
        )*
    };
}

sale_rows! {
    (i64) [0],
    (String, String) [0 1],
    (Option<i64>, String) [0 1],
    (i64, Option<i64>) [0 1],
    (i64, Option<i64>, Option<String>, Option<String>) [0 1 2 3],
    (i64, i64, i64, Option<i64>, i64) [0 1 2 3 4],
    (i64, i64, i64, Option<i64>, i64, i64, Option<i64>, Option<String>, Option<String>) [0 1 2 3 4 5 6 7 8],
    (String, String, i64, i64, String) [0 1 2 3 4],
    (String, i64, Option<i64>, String, i64) [0 1 2 3 4],
}

/// What a sale needs of its connection.
pub(crate) trait SaleConn {
    const ENGINE: Engine;
    /// The first row `sql` returns, if any (a write's changes are all made by then).
    async fn first<T: SaleRow>(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Option<T>>;
    /// Every row `sql` returns.
    async fn all<T: SaleRow>(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<T>>;
    /// Runs `script`: the rows its counted part returned.
    async fn script(&mut self, script: Script) -> Result<u64>;
}

macro_rules! sqlx_sale_conn {
    ($conn:ty, $engine:expr) => {
        impl SaleConn for $conn {
            const ENGINE: Engine = $engine;

            async fn first<T: SaleRow>(
                &mut self,
                sql: &'static str,
                args: Vec<Arg>,
            ) -> Result<Option<T>> {
                Ok(bind_args!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_optional(&mut *self)
                    .await?)
            }

            async fn all<T: SaleRow>(
                &mut self,
                sql: &'static str,
                args: Vec<Arg>,
            ) -> Result<Vec<T>> {
                Ok(bind_args!(sqlx::query_as::<_, T>(sql), args)
                    .fetch_all(&mut *self)
                    .await?)
            }

            async fn script(&mut self, script: Script) -> Result<u64> {
                self.run_script(script).await
            }
        }
    };
}

sqlx_sale_conn!(sqlx::SqliteConnection, Engine::Sqlite);
sqlx_sale_conn!(sqlx::PgConnection, Engine::Postgres);

/// The operator's commission and hold period, as the settings hold them now.
pub(crate) async fn earnings_settings(conn: &mut impl SaleConn) -> Result<EarningsSettings> {
    let pairs: Vec<(String, String)> = conn
        .all(
            "SELECT key, value FROM settings WHERE key IN ($1, $2)",
            vec![
                supply::COMMISSION_PERCENT.into(),
                supply::EARNINGS_HOLD_HOURS.into(),
            ],
        )
        .await?;
    Ok(EarningsSettings::from_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ))
}

/// The earnings settings' keys, as the arguments of a statement that reads them beside
/// its own work (PostgreSQL: one round trip less per sale).
fn settings_keys() -> [Arg; 2] {
    [
        supply::COMMISSION_PERCENT.into(),
        supply::EARNINGS_HOLD_HOURS.into(),
    ]
}

/// The earnings settings from their values as such a statement read them.
fn settings_read(commission: Option<String>, hold: Option<String>) -> EarningsSettings {
    let pairs = [
        (supply::COMMISSION_PERCENT, commission),
        (supply::EARNINGS_HOLD_HOURS, hold),
    ];
    EarningsSettings::from_pairs(pairs.iter().filter_map(|(k, v)| Some((*k, v.as_deref()?))))
}

/// The settings a sale applies: those its caller read for a whole batch, else those its
/// own statements read, else read now.
async fn settings_for(
    conn: &mut impl SaleConn,
    given: Option<&EarningsSettings>,
    read: Option<EarningsSettings>,
) -> Result<EarningsSettings> {
    match given.copied().or(read) {
        Some(settings) => Ok(settings),
        None => earnings_settings(conn).await,
    }
}

/// Adds `amount` (negative to debit) to a balance unless it would go negative: the new
/// balance, or `None` (nothing changed). The caller writes its [`ledger_row`] in the
/// same transaction.
pub(crate) async fn change_balance(
    conn: &mut impl SaleConn,
    user: &str,
    amount: i64,
) -> Result<Option<i64>> {
    let row: Option<(i64,)> = conn
        .first(
            "UPDATE users SET balance = balance + $1 WHERE id = $2 AND balance + $1 >= 0 RETURNING balance",
            vec![amount.into(), user.into()],
        )
        .await?;
    Ok(row.map(|(balance,)| balance))
}

/// Claims an idempotency key for a new order (`None`), or answers the order the same
/// request already produced; a key reused for a different request is refused.
async fn claim_idempotency(
    conn: &mut impl SaleConn,
    user: &str,
    idem: Option<&Idempotency<'_>>,
    now: i64,
) -> Result<Option<i64>> {
    let Some(idem) = idem else {
        return Ok(None);
    };
    // Two statements, not one script: the claim must see the expired key gone.
    conn.script(Script::one(Part::new(
        "DELETE FROM idempotency_keys WHERE user_id = $1 AND key = $2 AND created_at < $3",
        vec![
            user.into(),
            idem.key.into(),
            (now - IDEMPOTENCY_WINDOW_MS).into(),
        ],
    )))
    .await?;
    let claimed = conn
        .script(Script::counting(Part::new(
            "INSERT INTO idempotency_keys (user_id, key, order_id, request_hash, created_at) \
             VALUES ($1, $2, NULL, $3, $4) ON CONFLICT (user_id, key) DO NOTHING RETURNING 1",
            vec![
                user.into(),
                idem.key.into(),
                idem.fingerprint.into(),
                now.into(),
            ],
        )))
        .await?;
    if claimed == 1 {
        return Ok(None);
    }
    let (order_id, hash): (Option<i64>, String) = conn
        .first(
            "SELECT order_id, request_hash FROM idempotency_keys WHERE user_id = $1 AND key = $2",
            vec![user.into(), idem.key.into()],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("an idempotency key vanished while claimed".into()))?;
    if !souk_core::idempotency::same_request(&hash, idem.fingerprint) {
        return Err(StoreError::Rejected(ApiError::IdempotencyKeyReused));
    }
    Ok(Some(order_id.ok_or(StoreError::Rejected(ApiError::Busy))?))
}

/// `order.created` for the supplier who must fulfil a new manual order of their shop.
async fn order_to_fulfil(conn: &mut impl SaleConn, order: i64, now: i64) -> Result<()> {
    let row: Option<(String, String, i64, i64, String)> = conn
        .first(
            "SELECT s.owner_id, o.kind, o.quantity, COALESCE(o.service_number, 0), o.link \
             FROM orders o JOIN shops s ON s.id = o.shop_id WHERE o.id = $1 AND o.product_type = 'manual'",
            vec![order.into()],
        )
        .await?;
    if let Some((owner, kind, quantity, service, link)) = row {
        let data = json!({"order": order, "kind": kind, "service": service, "quantity": quantity, "link": link});
        let event = event_part(
            &owner,
            event::ORDER_CREATED,
            &format!("order:{order}"),
            &data,
            now,
        );
        conn.script(Script::one(event)).await?;
    }
    Ok(())
}

/// `stock.low` for the supplier when a sale left a variant with fewer unsold lines than
/// its threshold (said on the sale that crossed it).
async fn stock_sold(conn: &mut impl SaleConn, subproduct: &str, sold: i64, now: i64) -> Result<()> {
    let row: Option<(String, i64, Option<i64>, String, i64)> = conn
        .first(
            "SELECT sh.owner_id, p.stock, p.low_stock_threshold, p.name, p.service_number \
             FROM subproducts p JOIN services s ON s.number = p.service_number JOIN shops sh ON sh.id = s.shop_id \
             WHERE p.id = $1",
            vec![subproduct.into()],
        )
        .await?;
    if let Some((owner, stock, Some(threshold), name, service)) = row {
        if stock < threshold && stock + sold >= threshold {
            let data = json!({"subproduct": subproduct, "service": service, "name": name, "stock": stock, "threshold": threshold});
            let event = event_part(
                &owner,
                event::STOCK_LOW,
                &format!("subproduct:{subproduct}"),
                &data,
                now,
            );
            conn.script(Script::one(event)).await?;
        }
    }
    Ok(())
}

/// The writes that end a sale, once its order is placed and paid, sent together: its
/// ledger row, its earning, its history entry, its job upstream and its idempotency key.
struct SaleEnd<'a> {
    buyer: &'a Buyer<'a>,
    order_id: i64,
    service: i64,
    shop: &'a str,
    charge: Money,
    balance: i64,
    auto: bool,
    detail: &'a str,
    idem: Option<&'a Idempotency<'a>>,
}

impl SaleEnd<'_> {
    /// Adds the closing writes to `script`.
    fn write_into(&self, script: &mut Script, earnings: &EarningsSettings, now: i64) {
        let user = self.buyer.user_id;
        let charge = -self.charge.micros();
        script.push(ledger_row(
            user,
            charge,
            self.balance,
            "charge",
            Some(self.order_id),
            None,
            "",
            now,
        ));
        if self.auto {
            script.push(forward_part(self.order_id, self.service, now));
        }
        script.push(earning_part(
            self.order_id,
            self.shop,
            self.charge,
            earnings,
            now,
        ));
        script.push(order_event_part(self.order_id, "placed", self.detail, now));
        script.extend(settle_part(user, self.idem, self.order_id));
    }
}

/// The insert of a product order, `$1` the buyer: with the id the database gives it
/// (SQLite), or with the id drawn beforehand, `$17` (PostgreSQL, [`TAKE_AND_PAY`]).
macro_rules! product_insert {
    ($id_column:literal, $id:literal, $returning:literal) => {
        concat!(
            "INSERT INTO orders (",
            $id_column,
            "user_id, kind, service_number, subproduct_id, shop_id, product_type, link, \
             quantity, unit_price, charge, status, payment_status, start_count, delivered, remains, \
             created_at, paid_at, completed_at, updated_at, told_status, told_delivered) \
             VALUES (",
            $id,
            "$1, 'product', $2, $3, $4, $5, $6, $7, $8, $9, $11, 'completed', $7, $12, $13, \
             $10, $10, $14, $10, $15, $16)",
            $returning
        )
    };
}

const PRODUCT_INSERT: &str = product_insert!("", "", " RETURNING id");
const PRODUCT_INSERT_WITH_ID: &str = product_insert!("id, ", "$17, ", "");

/// The insert of an SMM order, `$1` the buyer.
macro_rules! smm_insert {
    () => {
        "INSERT INTO orders (user_id, kind, service_number, shop_id, product_type, link, quantity, charge, \
             status, payment_status, remains, params, runs, interval_minutes, \
             created_at, paid_at, updated_at) \
             VALUES ($1, 'smm', $2, $3, $4, $5, $6, $7, 'pending', 'completed', $6, $8, \
             $10, $11, $9, $9, $9) \
             RETURNING id"
    };
}

const SMM_INSERT: &str = smm_insert!();

/// [`SMM_INSERT`], and in the same statement, for PostgreSQL: the buyer debited (`$12`,
/// negative) and the earnings settings read (`$13`, `$14`). A short balance comes back as
/// no balance; the caller rolls the order back with the rest.
const SMM_INSERT_AND_PAY: &str = concat!(
    "WITH o AS (",
    smm_insert!(),
    "), u AS (UPDATE users SET balance = balance + $12 WHERE id = $1 AND balance + $12 >= 0 \
     RETURNING balance) SELECT o.id, u.balance, (SELECT value FROM settings WHERE key = $13), \
     (SELECT value FROM settings WHERE key = $14) FROM o LEFT JOIN u ON TRUE"
);

/// Inserts a new order for `buyer` (`insert`, `RETURNING id`, with `args`), then debits
/// its `charge`: the order's id and the balance after, or `None` when the balance is
/// short (the caller rolls the order back with the rest).
async fn insert_then_debit<C: SaleConn>(
    conn: &mut C,
    insert: &'static str,
    args: Vec<Arg>,
    buyer: &str,
    charge: Money,
) -> Result<Option<(i64, i64)>> {
    let (order_id,): (i64,) = conn
        .first(insert, args)
        .await?
        .ok_or_else(|| StoreError::Internal("an order insert returned no id".into()))?;
    Ok(change_balance(conn, buyer, -charge.micros())
        .await?
        .map(|balance| (order_id, balance)))
}

/// Takes a product order's quantity from a variant (`$1` the quantity, `$2` now, `$3` the
/// variant, `$4` its service): its price, stock version, stock after, low-stock
/// threshold and the line its sales have sold through (the row stays locked to the
/// end of the transaction, so that line is the one this sale starts after).
macro_rules! take_stock {
    () => {
        "UPDATE subproducts SET stock = stock - $1, stock_version = stock_version + 1, updated_at = $2 \
         WHERE id = $3 AND service_number = $4 AND active AND stock >= $1 AND min_qty <= $1 AND max_qty >= $1 \
         RETURNING price, stock_version, stock, low_stock_threshold, sold_through"
    };
}

const TAKE: &str = take_stock!();

/// [`TAKE`], and in the same statement, for PostgreSQL: the buyer (`$5`) debited the price
/// times the quantity (a charge past `i64` counts as short, as [`product_charge`] has
/// it), the new order's id drawn, and the earnings settings (`$6`, `$7`) read. The order
/// and every write that closes the sale then go in one more statement ([`Script`]): with
/// `BEGIN` and `COMMIT` a sale is four round trips, where it was seven with the settings
/// read apart, the order inserted apart and the stock's `NOTIFY` (now sent after commit,
/// `crate::stock_notices`). A short balance comes back as no balance; the caller rolls
/// the stock back with the rest.
const TAKE_AND_PAY: &str = concat!(
    "WITH s AS (",
    take_stock!(),
    "), u AS (UPDATE users SET balance = users.balance - s.price * $1 FROM s \
     WHERE users.id = $5 AND CASE WHEN s.price > 9223372036854775807 / NULLIF($1, 0) THEN FALSE \
     ELSE users.balance - s.price * $1 >= 0 END RETURNING users.balance) \
     SELECT s.price, s.stock_version, s.stock, s.low_stock_threshold, s.sold_through, nextval('orders_id_seq'), u.balance, \
     (SELECT value FROM settings WHERE key = $6), (SELECT value FROM settings WHERE key = $7) \
     FROM s LEFT JOIN u ON TRUE"
);

/// The ids of the lines a sale of the variant `$sub` delivers: the oldest `$quantity`
/// unsold past its `sold_through` (`$through`). Written once for the part that delivers
/// them and the one that raises the bound to the last of them, which must find the same.
macro_rules! lines_to_sell {
    ($sub:literal, $through:literal, $quantity:literal) => {
        concat!(
            "SELECT id FROM stock_lines WHERE subproduct_id = ",
            $sub,
            " AND order_id IS NULL AND id > ",
            $through,
            " ORDER BY id LIMIT ",
            $quantity
        )
    };
}

/// Raises a variant's `sold_through` (`$1` the variant, `$2` its value, `$3` the
/// quantity) to the last of the lines this sale takes: the same lines as the counted part
/// that delivers them finds, read before it (SQLite runs that part last; PostgreSQL runs
/// every part on one snapshot). Its row is locked by the sale from [`TAKE`] on, and an
/// upload lowers the value under the same lock (`crate::supplier_catalogue`), so no
/// unsold line is ever at or below it.
const ADVANCE_SOLD_THROUGH: &str = concat!(
    "UPDATE subproducts SET sold_through = COALESCE((SELECT MAX(id) FROM (",
    lines_to_sell!("$1", "$2", "$3"),
    ") AS taken), sold_through) WHERE id = $1"
);

/// Lines a variant sells between two raises of its `sold_through`.
const SOLD_THROUGH_EVERY: i64 = 32;

/// Whether a sale that left `stock` after taking `quantity` raises its variant's
/// `sold_through`: once per [`SOLD_THROUGH_EVERY`] lines sold, not on every sale, which
/// would write the variant's row twice per order. Between two raises a sale steps over
/// at most that many sold lines' dead index entries (PostgreSQL), where without the bound
/// it stepped over every line the variant ever sold since the last `VACUUM`.
fn advances_sold_through(stock: i64, quantity: i64) -> bool {
    stock.div_euclid(SOLD_THROUGH_EVERY) != (stock + quantity).div_euclid(SOLD_THROUGH_EVERY)
}

/// The stock a product sale took.
struct Taken<'o> {
    subproduct: &'o str,
    price: Money,
    stock_version: i64,
    stock: i64,
    low_stock: Option<i64>,
    /// Every line of the variant up to this id is sold.
    sold_through: i64,
    /// PostgreSQL's [`TAKE_AND_PAY`]: the new order's id and the balance after the
    /// debit (`None`: short).
    paid: Option<(i64, Option<i64>)>,
    /// The earnings settings, where the same statement read them (PostgreSQL).
    earnings: Option<EarningsSettings>,
}

/// Takes `order`'s quantity from the first candidate variant with the stock (`None`:
/// none has it); on PostgreSQL it pays for it too.
async fn take_stock<'o, C: SaleConn>(
    conn: &mut C,
    buyer: &str,
    order: &'o ProductOrder,
    now: i64,
) -> Result<Option<Taken<'o>>> {
    for candidate in &order.candidates {
        let mut args = vec![
            order.quantity.into(),
            now.into(),
            candidate.as_str().into(),
            order.service_number.into(),
        ];
        let taken = |(price, stock_version, stock, low_stock, sold_through)| Taken {
            subproduct: candidate,
            price: Money::from_micros(price),
            stock_version,
            stock,
            low_stock,
            sold_through,
            paid: None,
            earnings: None,
        };
        let row = if C::ENGINE == Engine::Postgres {
            args.push(buyer.into());
            args.extend(settings_keys());
            type Row = (
                i64,
                i64,
                i64,
                Option<i64>,
                i64,
                i64,
                Option<i64>,
                Option<String>,
                Option<String>,
            );
            conn.first::<Row>(TAKE_AND_PAY, args).await?.map(
                |(price, version, stock, low, through, order_id, balance, commission, hold)| {
                    Taken {
                        paid: Some((order_id, balance)),
                        earnings: Some(settings_read(commission, hold)),
                        ..taken((price, version, stock, low, through))
                    }
                },
            )
        } else {
            conn.first::<(i64, i64, i64, Option<i64>, i64)>(TAKE, args)
                .await?
                .map(taken)
        };
        if row.is_some() {
            return Ok(row);
        }
    }
    Ok(None)
}

/// Places a product order ([`crate::Store::place_product_order`]): the first candidate
/// variant with the stock serves it at its price.
async fn place_product(
    conn: &mut impl SaleConn,
    buyer: &Buyer<'_>,
    order: &ProductOrder,
    idem: Option<&Idempotency<'_>>,
    earnings: Option<&EarningsSettings>,
    now: i64,
) -> Result<Placed> {
    if let Some(order_id) = claim_idempotency(conn, buyer.user_id, idem, now).await? {
        return Ok(Placed {
            order_id,
            new: false,
            changes: Vec::new(),
        });
    }
    let Some(Taken {
        subproduct,
        price,
        stock_version,
        stock,
        low_stock,
        sold_through,
        paid,
        earnings: read,
    }) = take_stock(conn, buyer.user_id, order, now).await?
    else {
        return Err(StoreError::Rejected(ApiError::NotEnoughStock));
    };
    let earnings = settings_for(conn, earnings, read).await?;
    let charge = product_charge(price, order.quantity)
        .ok_or(StoreError::Rejected(ApiError::InsufficientBalance))?;
    let inventory = order.product_type == ProductType::Inventory;
    let link = if order.link.is_empty() {
        buyer.email
    } else {
        order.link.as_str()
    };
    // An inventory order is delivered in this transaction (or not placed), so it is
    // written completed at once, and as told so to its buyer (`new_order_event`).
    let (status, delivered, remains, completed_at) = if inventory {
        (OrderStatus::Completed, order.quantity, 0, Some(now))
    } else {
        (OrderStatus::Pending, 0, order.quantity, None)
    };
    let told = inventory.then_some(status.as_str());
    let mut args = vec![
        buyer.user_id.into(),
        order.service_number.into(),
        subproduct.into(),
        order.shop_id.as_str().into(),
        order.product_type.as_str().into(),
        link.into(),
        order.quantity.into(),
        price.micros().into(),
        charge.micros().into(),
        now.into(),
        status.as_str().into(),
        delivered.into(),
        remains.into(),
        completed_at.into(),
        told.into(),
        told.map(|_| delivered).into(),
    ];
    let mut script = Script::new();
    let paid = match paid {
        // PostgreSQL paid already: the order goes with the closing writes.
        Some((order_id, balance)) => balance.map(|balance| {
            args.push(order_id.into());
            script.push(Part::new(PRODUCT_INSERT_WITH_ID, args));
            (order_id, balance)
        }),
        None => insert_then_debit(conn, PRODUCT_INSERT, args, buyer.user_id, charge).await?,
    };
    let Some((order_id, balance)) = paid else {
        return Err(StoreError::Rejected(ApiError::InsufficientBalance));
    };
    let detail = format!("subproduct {subproduct}");
    let end = SaleEnd {
        buyer,
        order_id,
        service: order.service_number,
        shop: &order.shop_id,
        charge,
        balance,
        auto: order.product_type == ProductType::Auto,
        detail: &detail,
        idem,
    };
    end.write_into(&mut script, &earnings, now);
    if inventory {
        let facts = OrderFacts {
            user_id: buyer.user_id.to_owned(),
            kind: "product".to_owned(),
            status: status.as_str().to_owned(),
            quantity: order.quantity,
            delivered,
            remains: Some(remains),
            charge: charge.micros(),
            refunded: 0,
            service_number: Some(order.service_number),
            told_status: None,
            told_delivered: None,
        };
        script.extend(new_order_event(order_id, &facts, now));
        if advances_sold_through(stock, order.quantity) {
            script.push(Part::new(
                ADVANCE_SOLD_THROUGH,
                vec![
                    subproduct.into(),
                    sold_through.into(),
                    order.quantity.into(),
                ],
            ));
        }
        // The oldest unsold lines, counted: the variant's stock promised them.
        script.count(Part::new(
            concat!(
                "UPDATE stock_lines SET order_id = $1, delivered_at = $2 WHERE order_id IS NULL AND id IN (",
                lines_to_sell!("$3", "$5", "$4"),
                ") RETURNING id"
            ),
            vec![
                order_id.into(),
                now.into(),
                subproduct.into(),
                order.quantity.into(),
                sold_through.into(),
            ],
        ));
    }
    let lines = conn.script(script).await?;
    if inventory {
        if lines != order.quantity as u64 {
            return Err(StoreError::Conflict(format!(
                "subproduct {subproduct} counts more stock than it has lines"
            )));
        }
        // `stock.low` only on the sale that crosses the threshold: the others need not
        // read the shop behind the variant.
        if low_stock.is_some_and(|t| stock < t && stock + order.quantity >= t) {
            stock_sold(conn, subproduct, order.quantity, now).await?;
        }
    } else if order.product_type == ProductType::Manual {
        order_to_fulfil(conn, order_id, now).await?;
    }
    // Told to the other nodes after commit (`crate::stock_notices`).
    let change = Change::Stock {
        subproduct: subproduct.to_owned(),
        version: stock_version,
        stock,
    };
    Ok(Placed {
        order_id,
        new: true,
        changes: vec![change],
    })
}

/// Places an SMM order ([`crate::Store::place_smm_order`]), validated and priced by the
/// caller.
async fn place_smm<C: SaleConn>(
    conn: &mut C,
    buyer: &Buyer<'_>,
    order: &SmmOrder,
    idem: Option<&Idempotency<'_>>,
    earnings: Option<&EarningsSettings>,
    now: i64,
) -> Result<Placed> {
    let params =
        serde_json::to_string(&order.fields).map_err(|e| StoreError::Invalid(e.to_string()))?;
    if let Some(order_id) = claim_idempotency(conn, buyer.user_id, idem, now).await? {
        return Ok(Placed {
            order_id,
            new: false,
            changes: Vec::new(),
        });
    }
    let mut args = vec![
        buyer.user_id.into(),
        order.service_number.into(),
        order.shop_id.as_str().into(),
        order.product_type.as_str().into(),
        order.link.as_str().into(),
        order.quantity.into(),
        order.charge.micros().into(),
        params.into(),
        now.into(),
        order.runs.into(),
        order.interval_minutes.into(),
    ];
    let (paid, read) = if C::ENGINE == Engine::Postgres {
        args.push((-order.charge.micros()).into());
        args.extend(settings_keys());
        type Row = (i64, Option<i64>, Option<String>, Option<String>);
        let (order_id, balance, commission, hold) = conn
            .first::<Row>(SMM_INSERT_AND_PAY, args)
            .await?
            .ok_or_else(|| StoreError::Internal("an order insert returned no id".into()))?;
        (
            balance.map(|balance| (order_id, balance)),
            Some(settings_read(commission, hold)),
        )
    } else {
        let paid = insert_then_debit(conn, SMM_INSERT, args, buyer.user_id, order.charge).await?;
        (paid, None)
    };
    let Some((order_id, balance)) = paid else {
        return Err(StoreError::Rejected(ApiError::InsufficientBalance));
    };
    let end = SaleEnd {
        buyer,
        order_id,
        service: order.service_number,
        shop: &order.shop_id,
        charge: order.charge,
        balance,
        auto: order.product_type == ProductType::Auto,
        detail: "",
        idem,
    };
    let earnings = settings_for(conn, earnings, read).await?;
    let mut script = Script::new();
    end.write_into(&mut script, &earnings, now);
    conn.script(script).await?;
    if order.product_type == ProductType::Manual {
        order_to_fulfil(conn, order_id, now).await?;
    }
    Ok(Placed {
        order_id,
        new: true,
        changes: Vec::new(),
    })
}

/// Places a `Write::Product` or `Write::Smm`; any other write is not a placement.
/// `earnings`: the settings the caller read for a batch; `None` reads them in the sale
/// (PostgreSQL's product sale in the statement that takes its stock).
pub(crate) async fn place(
    conn: &mut impl SaleConn,
    write: &Write,
    earnings: Option<&EarningsSettings>,
) -> Result<Placed> {
    match write {
        Write::Product {
            buyer,
            order,
            idem,
            now,
        } => {
            let idem = idem.as_ref().map(OwnedIdempotency::borrow);
            place_product(conn, &buyer.borrow(), order, idem.as_ref(), earnings, *now).await
        }
        Write::Smm {
            buyer,
            order,
            idem,
            now,
        } => {
            let idem = idem.as_ref().map(OwnedIdempotency::borrow);
            place_smm(conn, &buyer.borrow(), order, idem.as_ref(), earnings, *now).await
        }
        _ => Err(StoreError::Internal(
            "a placement was asked of another kind of write".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sold_through_moves_once_per_thirty_two_lines_sold() {
        // (stock after the sale, quantity): stock 32 to 31 crosses, 31 to 30 does not.
        assert!(advances_sold_through(31, 1));
        assert!(!advances_sold_through(30, 1));
        assert!(!advances_sold_through(0, 1));
        assert!(advances_sold_through(0, 32));
        assert!(advances_sold_through(5, 40));
        let sales = (0..320)
            .rev()
            .filter(|&s| advances_sold_through(s, 1))
            .count();
        assert_eq!(sales, 10);
    }
}
