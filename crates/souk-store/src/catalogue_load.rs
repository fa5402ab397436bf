//! Reading the whole catalogue into a snapshot for the caches, on both engines.
//!
//! Both readers feed one [`Loader`], which turns rows into catalogue entries: every text
//! goes through one interner (the many repeated descriptions and their translations are
//! kept once), ids are shared strings, and rows are consumed as they arrive instead of
//! all held first.
//!
//! PostgreSQL is read through sqlx. SQLite is read through rusqlite on a blocking
//! thread, in one read transaction of its own connection: sqlx hands every row from its
//! connection thread to the async side (a wake-up and a copy of every value per row),
//! which at 100,000 services was most of a 6 s load; read in place, the same rows take a
//! fraction of a second. On both, the translations come last, in one pass over their
//! table, each put in place by its entity's id: cheaper than folding them into a JSON
//! column per entry (a subquery per service for the database, JSON both ways).

use std::path::Path;
use std::sync::Arc;

use futures::TryStreamExt;
use souk_core::catalogue::{
    Catalogue, Category, EntityType, ProductType, Service, Shop, StockBoard, Subcategory,
    Subproduct,
};
use souk_core::text::Interner;
use souk_core::{Lang, Money, Text};

use crate::db::Db;
use crate::rows::row_struct;
use crate::{Result, Store, StoreError};

const CATEGORIES_SQL: &str =
    "SELECT id, slug, name, description, image_url, position, active FROM categories";
const SUBCATEGORIES_SQL: &str =
    "SELECT id, category_id, slug, name, description, image_url, position, active FROM subcategories";
const SHOPS_SQL: &str =
    "SELECT s.id, s.name, s.active, COUNT(r.id), CAST(COALESCE(SUM(r.rating), 0) AS BIGINT) \
     FROM shops s LEFT JOIN reviews r ON r.shop_id = s.id AND NOT r.hidden GROUP BY s.id, s.name, s.active";
/// No join for the category (the loader has the subcategories) and no order (the loader
/// sorts): on SQLite both cost a b-tree descent per service.
const SERVICES_SQL: &str =
    "SELECT s.number, s.id, s.entity, s.product_type, s.shop_id, s.subcategory_id, \
     s.name, s.description, s.type_name, s.image_url, s.rate, s.min_qty, s.max_qty, s.refill, s.refill_days, \
     s.cancel, s.dripfeed, s.recommended \
     FROM services s WHERE s.active";
const SUBPRODUCTS_SQL: &str =
    "SELECT p.id, p.service_number, p.name, p.price, p.min_qty, p.max_qty, p.position, p.stock, \
     p.stock_version FROM subproducts p WHERE p.active";
/// Every text of the catalogue's entities, in the table's own order (SQLite adds `NOT
/// INDEXED`: through the key it was a b-tree descent per row for the value).
const TRANSLATIONS_SQL: &str =
    "SELECT entity, entity_id, field, lang, value FROM translations{not_indexed} \
     WHERE entity IN ('category', 'subcategory', 'service', 'subproduct')";

type CategoryRow = (String, String, String, String, Option<String>, i64, bool);
type SubcategoryRow = (
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    bool,
);
type ShopRow = (String, String, bool, i64, i64);
row_struct! {
    struct ServiceRow {
        number: i64,
        id: String,
        entity: String,
        product_type: String,
        shop_id: String,
        subcategory_id: String,
        name: String,
        description: String,
        type_name: String,
        image_url: Option<String>,
        rate: i64,
        min_qty: i64,
        max_qty: i64,
        refill: bool,
        refill_days: Option<i64>,
        cancel: bool,
        dripfeed: bool,
        recommended: bool,
    }
}
type SubproductRow = (String, i64, String, i64, i64, i64, i64, i64, i64);

/// Builds the catalogue's entries from rows, whichever engine they come from.
struct Loader<'b> {
    board: &'b StockBoard,
    strings: Interner,
    categories: Vec<Category>,
    subcategories: Vec<Subcategory>,
    shops: Vec<Shop>,
    services: Vec<Service>,
    /// Each subcategory's category, made at the first service.
    parents: std::collections::HashMap<String, Arc<str>>,
    translations: usize,
}

impl<'b> Loader<'b> {
    fn new(board: &'b StockBoard) -> Self {
        Loader {
            board,
            strings: Interner::default(),
            categories: Vec::new(),
            subcategories: Vec::new(),
            shops: Vec::new(),
            services: Vec::new(),
            parents: Default::default(),
            translations: 0,
        }
    }

    fn category(
        &mut self,
        (id, slug, name, description, image_url, position, active): CategoryRow,
    ) {
        self.categories.push(Category {
            name: Text::new(self.strings.get(&name)),
            description: Text::new(self.strings.get(&description)),
            id,
            slug,
            image_url,
            position,
            active,
        });
    }

    fn subcategory(&mut self, row: SubcategoryRow) {
        let (id, category_id, slug, name, description, image_url, position, active) = row;
        self.subcategories.push(Subcategory {
            name: Text::new(self.strings.get(&name)),
            description: Text::new(self.strings.get(&description)),
            id,
            category_id,
            slug,
            image_url,
            position,
            active,
        });
    }

    fn shop(&mut self, (id, name, active, review_count, rating_sum): ShopRow) {
        self.shops.push(Shop {
            id,
            name,
            active,
            review_count,
            rating_sum,
        });
    }

    /// A service row; one of an unknown kind (a newer version's) or of a subcategory not
    /// read is skipped.
    fn service(&mut self, row: ServiceRow) {
        let (Some(entity), Some(product_type)) = (
            EntityType::parse(&row.entity),
            ProductType::parse(&row.product_type),
        ) else {
            return;
        };
        if self.parents.is_empty() {
            for c in &self.subcategories {
                let parent = self.strings.get(&c.category_id);
                self.parents.insert(c.id.clone(), parent);
            }
        }
        let Some(category_id) = self.parents.get(&row.subcategory_id).cloned() else {
            return;
        };
        let strings = &mut self.strings;
        // Service names are nearly all distinct: not worth the interner's lookups.
        let name = Text::new(row.name);
        let description = Text::new(strings.get(&row.description));
        self.services.push(Service {
            number: row.number,
            name,
            description,
            entity,
            product_type,
            subproducts: Vec::new(),
            // Unique: not worth a place in the interner.
            id: row.id.into(),
            shop_id: strings.get(&row.shop_id),
            category_id,
            subcategory_id: strings.get(&row.subcategory_id),
            type_name: strings.get(&row.type_name),
            image_url: row.image_url,
            rate: Money::from_micros(row.rate),
            min: row.min_qty,
            max: row.max_qty,
            refill: row.refill,
            refill_days: row.refill_days,
            cancel: row.cancel,
            dripfeed: row.dripfeed,
            recommended: row.recommended,
        });
    }

    /// After the last service: subproducts find theirs by number.
    fn services_done(&mut self) {
        self.services.sort_unstable_by_key(|s| s.number);
    }

    /// A subproduct row, after every service: one of a service not read is skipped.
    fn subproduct(&mut self, row: SubproductRow) {
        let (id, service_number, name, price, min, max, position, stock, version) = row;
        let Ok(at) = self
            .services
            .binary_search_by_key(&service_number, |s| s.number)
        else {
            return;
        };
        let name = Text::new(self.strings.get(&name));
        let id: Arc<str> = id.into();
        self.services[at].subproducts.push(Subproduct {
            name,
            stock: self.board.cell(&id, version, stock),
            id,
            price: Money::from_micros(price),
            min,
            max,
            position,
        });
    }

    /// Where the translations of each kind of entity go, once all entities are read.
    fn places(&self) -> TextPlaces {
        TextPlaces {
            categories: Places::new(self.categories.len(), |i| &self.categories[i].id),
            subcategories: Places::new(self.subcategories.len(), |i| &self.subcategories[i].id),
            services: Places::new(self.services.len(), |i| &self.services[i].id),
            subproducts: Places::of_pairs(
                self.services
                    .iter()
                    .enumerate()
                    .flat_map(|(i, s)| (0..s.subproducts.len()).map(move |j| (i as u32, j as u32)))
                    .collect(),
                |(i, j)| &self.services[i as usize].subproducts[j as usize].id,
            ),
        }
    }

    /// One translation row; `places` from [`Loader::places`].
    fn translation(
        &mut self,
        places: &TextPlaces,
        (entity, id, field, lang): (&str, &str, &str, &str),
        value: &str,
    ) {
        self.translations += 1;
        let (name, description) = match entity {
            "category" => match places.categories.find(id, |i| &self.categories[i].id) {
                Some(i) => {
                    let c = &mut self.categories[i];
                    (&mut c.name, Some(&mut c.description))
                }
                None => return,
            },
            "subcategory" => match places.subcategories.find(id, |i| &self.subcategories[i].id) {
                Some(i) => {
                    let c = &mut self.subcategories[i];
                    (&mut c.name, Some(&mut c.description))
                }
                None => return,
            },
            "service" => match places.services.find(id, |i| &self.services[i].id) {
                Some(i) => {
                    let s = &mut self.services[i];
                    (&mut s.name, Some(&mut s.description))
                }
                None => return,
            },
            "subproduct" => {
                let services = &self.services;
                match places.subproducts.find(id, |(i, j)| {
                    &services[i as usize].subproducts[j as usize].id
                }) {
                    Some((i, j)) => {
                        let p = &mut self.services[i as usize].subproducts[j as usize];
                        (&mut p.name, None)
                    }
                    None => return,
                }
            }
            _ => return,
        };
        match (field, description) {
            // A service's name in another language is as distinct as its English one.
            ("name", _) if entity == "service" => {
                if let Some(lang) = Lang::parse(lang) {
                    name.set(lang, value);
                }
            }
            ("name", _) => set_text(name, lang, value, &mut self.strings),
            ("description", Some(d)) => set_text(d, lang, value, &mut self.strings),
            _ => {}
        }
    }

    fn finish(mut self, started: std::time::Instant) -> Catalogue {
        let read = started.elapsed();
        self.categories.shrink_to_fit();
        self.subcategories.shrink_to_fit();
        self.services.shrink_to_fit();
        for s in &mut self.services {
            s.subproducts.shrink_to_fit();
        }
        let catalogue = Catalogue::build(
            self.categories,
            self.subcategories,
            self.shops,
            self.services,
        );
        tracing::info!(
            services = catalogue.services.len(),
            translations = self.translations,
            read_ms = read.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "catalogue loaded"
        );
        catalogue
    }
}

/// Entries (indexes into the loader's lists) sorted by their id, found by binary
/// search. Holds no copy of the ids: copies made for the pass were freed after it but
/// left holes under what the pass kept, which the allocator never gave back.
struct Places<K> {
    sorted: Vec<K>,
    /// The last id found and its entry: an entity's translations come one after another.
    last: std::cell::Cell<Option<K>>,
}

impl Places<usize> {
    fn new<'a>(len: usize, id: impl Fn(usize) -> &'a str) -> Places<usize> {
        Places::of_pairs((0..len).collect(), id)
    }
}

impl<K: Copy> Places<K> {
    fn of_pairs<'a>(mut sorted: Vec<K>, id: impl Fn(K) -> &'a str) -> Places<K> {
        sorted.sort_unstable_by(|a, b| id(*a).cmp(id(*b)));
        Places {
            sorted,
            last: std::cell::Cell::new(None),
        }
    }

    fn find<'a>(&self, wanted: &str, id: impl Fn(K) -> &'a str) -> Option<K> {
        if let Some(k) = self.last.get().filter(|k| id(*k) == wanted) {
            return Some(k);
        }
        let at = self.sorted.binary_search_by(|k| id(*k).cmp(wanted)).ok()?;
        let k = self.sorted[at];
        self.last.set(Some(k));
        Some(k)
    }
}

struct TextPlaces {
    categories: Places<usize>,
    subcategories: Places<usize>,
    services: Places<usize>,
    subproducts: Places<(u32, u32)>,
}

fn set_text(text: &mut Text, lang: &str, value: &str, strings: &mut Interner) {
    if let Some(lang) = Lang::parse(lang) {
        text.set(lang, strings.get(value));
    }
}

impl Store {
    /// Reads everything buyers can see in one consistent snapshot. Stock cells come from
    /// `board`, so updates that race with the load are kept.
    pub async fn load_catalogue(&self, board: &Arc<StockBoard>) -> Result<Catalogue> {
        let started = std::time::Instant::now();
        match &self.db {
            Db::Sqlite(pool) => {
                let path = pool.connect_options().get_filename().to_owned();
                let board = board.clone();
                tokio::task::spawn_blocking(move || {
                    let mut loader = Loader::new(&board);
                    read_sqlite(&path, &mut loader)?;
                    Ok(loader.finish(started))
                })
                .await
                .map_err(|e| StoreError::Config(format!("the catalogue reader stopped: {e}")))?
            }
            Db::Postgres(pool) => {
                let mut loader = Loader::new(board);
                read_postgres(pool, &mut loader).await?;
                Ok(loader.finish(started))
            }
        }
    }
}

async fn read_postgres(pool: &sqlx::PgPool, loader: &mut Loader<'_>) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    for row in sqlx::query_as::<_, CategoryRow>(CATEGORIES_SQL)
        .fetch_all(&mut *tx)
        .await?
    {
        loader.category(row);
    }
    for row in sqlx::query_as::<_, SubcategoryRow>(SUBCATEGORIES_SQL)
        .fetch_all(&mut *tx)
        .await?
    {
        loader.subcategory(row);
    }
    for row in sqlx::query_as::<_, ShopRow>(SHOPS_SQL)
        .fetch_all(&mut *tx)
        .await?
    {
        loader.shop(row);
    }
    let mut rows = sqlx::query_as::<_, ServiceRow>(SERVICES_SQL).fetch(&mut *tx);
    while let Some(row) = rows.try_next().await? {
        loader.service(row);
    }
    drop(rows);
    loader.services_done();
    let mut rows = sqlx::query_as::<_, SubproductRow>(SUBPRODUCTS_SQL).fetch(&mut *tx);
    while let Some(row) = rows.try_next().await? {
        loader.subproduct(row);
    }
    drop(rows);
    let places = loader.places();
    let translations_sql = TRANSLATIONS_SQL.replace("{not_indexed}", "");
    // Read in place from each row, as on SQLite: half a million rows at 100,000
    // services, five strings each, were as many allocations and frees.
    let mut rows = sqlx::query(&translations_sql).fetch(&mut *tx);
    while let Some(row) = rows.try_next().await? {
        use sqlx::Row as _;
        let text = |i: usize| row.try_get::<&str, _>(i);
        loader.translation(&places, (text(0)?, text(1)?, text(2)?, text(3)?), text(4)?);
    }
    drop(rows);
    tx.commit().await?;
    Ok(())
}

/// Reads the catalogue from the SQLite file at `path` in one read transaction of a
/// connection of its own (WAL: a consistent snapshot beside the node's writers).
fn read_sqlite(path: &Path, loader: &mut Loader<'_>) -> Result<()> {
    use rusqlite::{Connection, OpenFlags};
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    // Pages read through a mapping instead of a copy per page by read(2).
    conn.execute_batch("PRAGMA mmap_size = 1073741824; BEGIN")?;
    let text = |row: &rusqlite::Row<'_>, i: usize| -> rusqlite::Result<String> { row.get(i) };
    each(&conn, CATEGORIES_SQL, |r| {
        loader.category((
            text(r, 0)?,
            text(r, 1)?,
            text(r, 2)?,
            text(r, 3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
        ));
        Ok(())
    })?;
    each(&conn, SUBCATEGORIES_SQL, |r| {
        loader.subcategory((
            text(r, 0)?,
            text(r, 1)?,
            text(r, 2)?,
            text(r, 3)?,
            text(r, 4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ));
        Ok(())
    })?;
    each(&conn, SHOPS_SQL, |r| {
        loader.shop((text(r, 0)?, text(r, 1)?, r.get(2)?, r.get(3)?, r.get(4)?));
        Ok(())
    })?;
    each(&conn, SERVICES_SQL, |r| {
        loader.service(ServiceRow {
            number: r.get(0)?,
            id: text(r, 1)?,
            entity: text(r, 2)?,
            product_type: text(r, 3)?,
            shop_id: text(r, 4)?,
            subcategory_id: text(r, 5)?,
            name: text(r, 6)?,
            description: text(r, 7)?,
            type_name: text(r, 8)?,
            image_url: r.get(9)?,
            rate: r.get(10)?,
            min_qty: r.get(11)?,
            max_qty: r.get(12)?,
            refill: r.get(13)?,
            refill_days: r.get(14)?,
            cancel: r.get(15)?,
            dripfeed: r.get(16)?,
            recommended: r.get(17)?,
        });
        Ok(())
    })?;
    loader.services_done();
    each(&conn, SUBPRODUCTS_SQL, |r| {
        loader.subproduct((
            text(r, 0)?,
            r.get(1)?,
            text(r, 2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
        ));
        Ok(())
    })?;
    let places = loader.places();
    each(
        &conn,
        &TRANSLATIONS_SQL.replace("{not_indexed}", " NOT INDEXED"),
        |r| {
            let key = (
                r.get_ref(0)?.as_str()?,
                r.get_ref(1)?.as_str()?,
                r.get_ref(2)?.as_str()?,
                r.get_ref(3)?.as_str()?,
            );
            loader.translation(&places, key, r.get_ref(4)?.as_str()?);
            Ok(())
        },
    )?;
    conn.execute_batch("COMMIT")?;
    Ok(())
}

/// Runs `sql` and hands each row to `f`, in place.
fn each(
    conn: &rusqlite::Connection,
    sql: &str,
    mut f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    let mut statement = conn.prepare(sql)?;
    let mut rows = statement.query([])?;
    while let Some(row) = rows.next()? {
        f(row)?;
    }
    Ok(())
}
