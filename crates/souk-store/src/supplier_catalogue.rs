//! Suppliers' own listings (SPEC 11): their products and SMM services with subproducts and
//! translations, and the stock lines behind inventory products. Every method is scoped to
//! the shops the calling user owns: another supplier's listing is "not found". Catalogue
//! edits bump the catalogue version; stock edits bump the subproduct's stock version and
//! report a `Change::Stock`.

use crate::rows::row_struct;
use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use souk_core::catalogue::{EntityType, ProductType};
use souk_core::id::{new_entity_id, ServiceRef};
use souk_core::supply::{self, Translation};
use souk_core::Money;

use crate::catalogue::CatalogueSteps;
use crate::db::{on_engine, tx_steps, BeginWrite, Engine};
use crate::versions::{Change, Counter, Signals};
use crate::{NewSubproduct, Result, Store, StoreError};

/// The most bind parameters one statement may carry, per engine.
const SQLITE_MAX_PARAMS: usize = 32_766;
const POSTGRES_MAX_PARAMS: usize = 65_535;

row_struct! {
    /// A translation as stored.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct TranslationRow {
        pub entity: String,
        pub entity_id: String,
        pub field: String,
        pub lang: String,
        pub value: String,
    }
}

/// A product or SMM service as its supplier sees it: inactive parts included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDetail {
    pub number: i64,
    pub id: String,
    pub entity: EntityType,
    pub product_type: ProductType,
    pub shop_id: String,
    pub subcategory_id: String,
    pub name: String,
    pub description: String,
    pub type_name: String,
    pub image_url: Option<String>,
    pub rate: Money,
    pub min: i64,
    pub max: i64,
    pub refill: bool,
    pub dripfeed: bool,
    pub recommended: bool,
    pub active: bool,
    pub created_at: i64,
    /// (field, lang, value)
    pub translations: Vec<(String, String, String)>,
    pub subproducts: Vec<SubproductDetail>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubproductDetail {
    pub id: String,
    pub name: String,
    pub price: Money,
    pub min: i64,
    pub max: i64,
    pub position: i64,
    pub active: bool,
    /// Unsold lines (inventory) or declared capacity (manual).
    pub stock: i64,
    pub translations: Vec<(String, String, String)>,
}

row_struct! {
    struct ServiceRecord {
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
        dripfeed: bool,
        recommended: bool,
        active: bool,
        created_at: i64,
    }
}

row_struct! {
    struct SubproductRecord {
        id: String,
        service_number: i64,
        name: String,
        price: i64,
        min_qty: i64,
        max_qty: i64,
        position: i64,
        active: bool,
        stock: i64,
    }
}

/// (name, price, min, max, position, active, stock, product type)
type SubproductState = (String, i64, i64, i64, i64, bool, i64, String);

const SERVICE_COLUMNS: &str = "s.number, s.id, s.entity, s.product_type, s.shop_id, s.subcategory_id, s.name, \
     s.description, s.type_name, s.image_url, s.rate, s.min_qty, s.max_qty, s.refill, s.dripfeed, s.recommended, \
     s.active, s.created_at";

/// Changes to a product or SMM service; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ServicePatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the image.
    pub image_url: Option<Option<String>>,
    pub product_type: Option<ProductType>,
    pub subcategory_id: Option<String>,
    pub recommended: Option<bool>,
    pub active: Option<bool>,
    /// SMM only.
    pub rate: Option<Money>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub type_name: Option<String>,
    pub translations: Vec<Translation>,
}

/// Changes to a subproduct; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct SubproductPatch {
    pub name: Option<String>,
    pub price: Option<Money>,
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub position: Option<i64>,
    pub active: Option<bool>,
    /// Declared capacity: manual products only.
    pub stock: Option<i64>,
    /// `stock.low` below this many unsold lines (inventory); 0 turns it off.
    pub low_stock_threshold: Option<i64>,
    pub translations: Vec<Translation>,
}

/// Stock of one subproduct.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StockCounts {
    pub subproduct_id: String,
    pub product_type: ProductType,
    /// Unsold lines (inventory) or declared capacity (manual).
    pub available: i64,
    /// Units delivered to buyers so far.
    pub sold: i64,
}

/// How a restock moves a subproduct's stock.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Restock {
    Set(i64),
    Add(i64),
    /// Lines added, the first of them with this id.
    Lines(i64, i64),
}

tx_steps! {
    /// The supply side's catalogue, inside a write transaction.
    pub(crate) trait SupplySteps {
        /// Sets or (for `None`) removes translations of one entity.
        async fn apply_translations(&mut self, entity: &str, id: &str, list: &[Translation]) -> Result<()> {
            for t in list {
                match &t.value {
                    Some(value) => {
                        sqlx::query(
                            "INSERT INTO translations (entity, entity_id, field, lang, value) VALUES ($1, $2, $3, $4, $5) \
                             ON CONFLICT (entity, entity_id, field, lang) DO UPDATE SET value = excluded.value",
                        )
                        .bind(entity)
                        .bind(id)
                        .bind(t.field)
                        .bind(t.lang.code())
                        .bind(value)
                        .execute(&mut *self)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "DELETE FROM translations WHERE entity = $1 AND entity_id = $2 AND field = $3 AND lang = $4",
                        )
                        .bind(entity)
                        .bind(id)
                        .bind(t.field)
                        .bind(t.lang.code())
                        .execute(&mut *self)
                        .await?;
                    }
                }
            }
            Ok(())
        }

        /// A subproduct's stock set or moved; bumps its stock version, queues the
        /// notification and answers the `Change`.
        async fn restock(&mut self, sub: &str, how: Restock, now: i64) -> Result<Change> {
            let (sql, value, first) = match how {
                Restock::Set(value) => (
                    "UPDATE subproducts SET stock = $1, stock_version = stock_version + 1, updated_at = $2 \
                     WHERE id = $3 RETURNING stock_version, stock",
                    value,
                    None,
                ),
                Restock::Add(delta) => (
                    "UPDATE subproducts SET stock = stock + $1, stock_version = stock_version + 1, updated_at = $2 \
                     WHERE id = $3 RETURNING stock_version, stock",
                    delta,
                    None,
                ),
                // Sales look for lines past `sold_through` (`crate::sale`). On PostgreSQL
                // these lines' ids were drawn before this row was locked, and a sale may
                // since have sold lines with higher ids that another upload committed
                // first: the bound goes below this upload's first line, under the lock
                // every sale of the variant takes.
                Restock::Lines(added, first) => (
                    "UPDATE subproducts SET stock = stock + $1, stock_version = stock_version + 1, updated_at = $2, \
                     sold_through = CASE WHEN sold_through < $4 THEN sold_through ELSE $4 END \
                     WHERE id = $3 RETURNING stock_version, stock",
                    added,
                    Some(first - 1),
                ),
            };
            let mut query = sqlx::query_as(sql).bind(value).bind(now).bind(sub);
            if let Some(below) = first {
                query = query.bind(below);
            }
            let (version, stock): (i64, i64) = query.fetch_one(&mut *self).await?;
            let change = Change::Stock { subproduct: sub.to_owned(), version, stock };
            self.notify(&change).await?;
            Ok(change)
        }
    }
}

/// Translations by entity id, each list sorted: (field, lang, value).
pub(crate) fn group_translations(
    rows: Vec<TranslationRow>,
) -> HashMap<String, Vec<(String, String, String)>> {
    let mut texts: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
    for t in rows {
        texts
            .entry(t.entity_id)
            .or_default()
            .push((t.field, t.lang, t.value));
    }
    for list in texts.values_mut() {
        list.sort();
    }
    texts
}

/// A service reference as SQL binds: (entity id or "", number or 0).
fn service_binds(r: &ServiceRef) -> (String, i64) {
    match r {
        ServiceRef::Number(n) => (String::new(), *n),
        ServiceRef::Id(id) => (id.clone(), 0),
    }
}

/// `(sealed content, fingerprint)` of each line, computed off the async threads.
async fn seal_lines(
    crypto: std::sync::Arc<crate::Crypto>,
    lines: Vec<String>,
) -> Result<Vec<(Vec<u8>, String)>> {
    tokio::task::spawn_blocking(move || {
        lines
            .iter()
            .map(|l| (crypto.seal(l), crypto.fingerprint(l)))
            .collect()
    })
    .await
    .map_err(|e| StoreError::Conflict(format!("sealing stock lines failed: {e}")))
}

impl Store {
    /// The shops `owner` owns: (id, name, active), oldest first.
    pub async fn shops_of(&self, owner: &str) -> Result<Vec<(String, String, bool)>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id, name, active FROM shops WHERE owner_id = $1 ORDER BY created_at, id")
                .bind(owner)
                .fetch_all(pool)
                .await?
        }))
    }

    /// The supplier's products and services (`only` narrows to one), newest number last.
    pub async fn supplier_services(
        &self,
        owner: &str,
        only: Option<&ServiceRef>,
    ) -> Result<Vec<ServiceDetail>> {
        let (only_id, only_number) = only.map(service_binds).unwrap_or_default();
        let filter = if only.is_some() {
            "AND (s.id = $2 OR s.number = $3)"
        } else {
            "AND $2 = $2 AND $3 = $3"
        };
        let services_sql = format!(
            "SELECT {SERVICE_COLUMNS} FROM services s JOIN shops sh ON sh.id = s.shop_id \
             WHERE sh.owner_id = $1 {filter} ORDER BY s.number"
        );
        let subs_sql = format!(
            "SELECT p.id, p.service_number, p.name, p.price, p.min_qty, p.max_qty, p.position, p.active, p.stock \
             FROM subproducts p JOIN services s ON s.number = p.service_number JOIN shops sh ON sh.id = s.shop_id \
             WHERE sh.owner_id = $1 {filter} ORDER BY p.position, p.id"
        );
        let translations_sql = format!(
            "SELECT t.entity, t.entity_id, t.field, t.lang, t.value FROM translations t \
             JOIN services s ON (t.entity = 'service' AND t.entity_id = s.id) \
             JOIN shops sh ON sh.id = s.shop_id WHERE sh.owner_id = $1 {filter} \
             UNION ALL \
             SELECT t.entity, t.entity_id, t.field, t.lang, t.value FROM translations t \
             JOIN subproducts p ON (t.entity = 'subproduct' AND t.entity_id = p.id) \
             JOIN services s ON s.number = p.service_number \
             JOIN shops sh ON sh.id = s.shop_id WHERE sh.owner_id = $1 {filter}"
        );
        let (services, subs, translations) = on_engine!(&self.db, pool => {
            let services: Vec<ServiceRecord> = sqlx::query_as(&services_sql)
                .bind(owner).bind(&only_id).bind(only_number)
                .fetch_all(pool).await?;
            let subs: Vec<SubproductRecord> = sqlx::query_as(&subs_sql)
                .bind(owner).bind(&only_id).bind(only_number)
                .fetch_all(pool).await?;
            let translations: Vec<TranslationRow> = sqlx::query_as(&translations_sql)
                .bind(owner).bind(&only_id).bind(only_number)
                .fetch_all(pool).await?;
            (services, subs, translations)
        });
        let mut texts = group_translations(translations);
        let mut by_service: HashMap<i64, Vec<SubproductDetail>> = HashMap::new();
        for p in subs {
            by_service
                .entry(p.service_number)
                .or_default()
                .push(SubproductDetail {
                    translations: texts.remove(&p.id).unwrap_or_default(),
                    id: p.id,
                    name: p.name,
                    price: Money::from_micros(p.price),
                    min: p.min_qty,
                    max: p.max_qty,
                    position: p.position,
                    active: p.active,
                    stock: p.stock,
                });
        }
        Ok(services
            .into_iter()
            .filter_map(|s| {
                Some(ServiceDetail {
                    entity: EntityType::parse(&s.entity)?,
                    product_type: ProductType::parse(&s.product_type)?,
                    translations: texts.remove(&s.id).unwrap_or_default(),
                    subproducts: by_service.remove(&s.number).unwrap_or_default(),
                    number: s.number,
                    id: s.id,
                    shop_id: s.shop_id,
                    subcategory_id: s.subcategory_id,
                    name: s.name,
                    description: s.description,
                    type_name: s.type_name,
                    image_url: s.image_url,
                    rate: Money::from_micros(s.rate),
                    min: s.min_qty,
                    max: s.max_qty,
                    refill: s.refill,
                    dripfeed: s.dripfeed,
                    recommended: s.recommended,
                    active: s.active,
                    created_at: s.created_at,
                })
            })
            .collect())
    }

    /// Updates one of the supplier's products or services. Switching a product from
    /// inventory to manual needs its unsold lines removed first; back to inventory, its
    /// stock is its unsold lines again.
    pub async fn update_service(
        &self,
        owner: &str,
        service: &ServiceRef,
        patch: &ServicePatch,
        now: i64,
    ) -> Result<Vec<Change>> {
        let (by_id, by_number) = service_binds(service);
        let select = format!(
            "SELECT {SERVICE_COLUMNS} FROM services s JOIN shops sh ON sh.id = s.shop_id \
             WHERE sh.owner_id = $1 AND (s.id = $2 OR s.number = $3)"
        );
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let current: Option<ServiceRecord> = sqlx::query_as(&select)
                .bind(owner).bind(&by_id).bind(by_number)
                .fetch_optional(&mut *tx).await?;
            let mut s = current.ok_or(StoreError::NotFound("Product"))?;
            let entity = EntityType::parse(&s.entity).unwrap_or(EntityType::Product);
            let mut changes = Vec::new();
            if let Some(new_type) = patch.product_type {
                let old_type = ProductType::parse(&s.product_type).unwrap_or(ProductType::Manual);
                if entity == EntityType::Smm && new_type != ProductType::Manual {
                    return Err(StoreError::Supply(supply::SupplyError::SmmIsManual));
                }
                if old_type == ProductType::Auto && new_type != ProductType::Auto {
                    return Err(StoreError::Supply(supply::SupplyError::AutoTypeFixed));
                }
                if new_type != old_type {
                    let subs: Vec<(String, i64)> = sqlx::query_as(
                        "SELECT p.id, (SELECT COUNT(*) FROM stock_lines l WHERE l.subproduct_id = p.id AND l.order_id IS NULL) \
                         FROM subproducts p WHERE p.service_number = $1 ORDER BY p.id",
                    )
                    .bind(s.number)
                    .fetch_all(&mut *tx)
                    .await?;
                    let unsold: i64 = subs.iter().map(|(_, n)| n).sum();
                    if new_type == ProductType::Manual && unsold > 0 {
                        return Err(StoreError::Supply(supply::SupplyError::UnsoldLines(unsold)));
                    }
                    for (sub, lines) in &subs {
                        // Inventory stock is its unsold lines; a manual product starts with
                        // no declared capacity until the supplier sets one.
                        let value = if new_type == ProductType::Inventory { *lines } else { 0 };
                        changes.push(tx.restock(sub, Restock::Set(value), now).await?);
                    }
                    s.product_type = new_type.as_str().to_owned();
                }
            }
            if let Some(sub) = &patch.subcategory_id {
                let found: Option<(String,)> = sqlx::query_as("SELECT id FROM subcategories WHERE id = $1")
                    .bind(sub)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("Subcategory"));
                }
                s.subcategory_id = sub.clone();
            }
            if entity == EntityType::Product
                && (patch.rate.is_some() || patch.min.is_some() || patch.max.is_some() || patch.type_name.is_some())
            {
                return Err(StoreError::Supply(supply::SupplyError::LimitsOnSubproducts));
            }
            if let Some(name) = &patch.name {
                s.name = name.clone();
            }
            if let Some(description) = &patch.description {
                s.description = description.clone();
            }
            if let Some(image) = &patch.image_url {
                s.image_url = image.clone();
            }
            if let Some(v) = patch.recommended {
                s.recommended = v;
            }
            if let Some(v) = patch.active {
                s.active = v;
            }
            if let Some(rate) = patch.rate {
                s.rate = rate.micros();
            }
            if let Some(t) = &patch.type_name {
                s.type_name = t.clone();
            }
            s.min_qty = patch.min.unwrap_or(s.min_qty);
            s.max_qty = patch.max.unwrap_or(s.max_qty);
            supply::check_limits(s.min_qty, s.max_qty)?;
            sqlx::query(
                "UPDATE services SET product_type = $1, subcategory_id = $2, name = $3, description = $4, \
                 image_url = $5, recommended = $6, active = $7, rate = $8, min_qty = $9, max_qty = $10, \
                 type_name = $11, updated_at = $12 WHERE number = $13",
            )
            .bind(&s.product_type)
            .bind(&s.subcategory_id)
            .bind(&s.name)
            .bind(&s.description)
            .bind(&s.image_url)
            .bind(s.recommended)
            .bind(s.active)
            .bind(s.rate)
            .bind(s.min_qty)
            .bind(s.max_qty)
            .bind(&s.type_name)
            .bind(now)
            .bind(s.number)
            .execute(&mut *tx)
            .await?;
            tx.apply_translations("service", &s.id, &patch.translations).await?;
            changes.push(tx.bump_version(Counter::Catalogue).await?);
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// Adds a subproduct to one of the supplier's products.
    pub async fn add_subproduct(
        &self,
        owner: &str,
        service: &ServiceRef,
        sub: &NewSubproduct,
        now: i64,
    ) -> Result<(String, Vec<Change>)> {
        supply::check_limits(sub.min, sub.max)?;
        if sub.price.is_negative() {
            return Err(StoreError::Supply(supply::SupplyError::Negative("price")));
        }
        let (by_id, by_number) = service_binds(service);
        let id = new_entity_id();
        let change = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<(i64, String, String)> = sqlx::query_as(
                "SELECT s.number, s.entity, s.product_type FROM services s JOIN shops sh ON sh.id = s.shop_id \
                 WHERE sh.owner_id = $1 AND (s.id = $2 OR s.number = $3)",
            )
            .bind(owner)
            .bind(&by_id)
            .bind(by_number)
            .fetch_optional(&mut *tx)
            .await?;
            let (number, entity, product_type) = found.ok_or(StoreError::NotFound("Product"))?;
            if entity != EntityType::Product.as_str() {
                return Err(StoreError::Supply(supply::SupplyError::SmmSubproducts));
            }
            let product_type = ProductType::parse(&product_type).unwrap_or(ProductType::Manual);
            tx.insert_subproduct(&id, number, sub, product_type, now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            change
        });
        Ok((id, vec![change]))
    }

    /// Updates one of the supplier's subproducts.
    pub async fn update_subproduct(
        &self,
        owner: &str,
        subproduct_id: &str,
        patch: &SubproductPatch,
        now: i64,
    ) -> Result<Vec<Change>> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<SubproductState> = sqlx::query_as(
                "SELECT p.name, p.price, p.min_qty, p.max_qty, p.position, p.active, p.stock, s.product_type \
                 FROM subproducts p JOIN services s ON s.number = p.service_number JOIN shops sh ON sh.id = s.shop_id \
                 WHERE p.id = $1 AND sh.owner_id = $2",
            )
            .bind(subproduct_id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            let (name, price, min, max, position, active, stock, product_type) =
                found.ok_or(StoreError::NotFound("Subproduct"))?;
            let name = patch.name.clone().unwrap_or(name);
            let price = patch.price.map_or(price, Money::micros);
            if price < 0 {
                return Err(StoreError::Supply(supply::SupplyError::Negative("price")));
            }
            let (min, max) = (patch.min.unwrap_or(min), patch.max.unwrap_or(max));
            supply::check_limits(min, max)?;
            let mut changes = Vec::new();
            if let Some(capacity) = patch.stock {
                if product_type == ProductType::Inventory.as_str() {
                    return Err(StoreError::Supply(supply::SupplyError::StockIsLines));
                }
                supply::check_capacity(capacity)?;
                if capacity != stock {
                    changes.push(tx.restock(subproduct_id, Restock::Set(capacity), now).await?);
                }
            }
            if let Some(threshold) = patch.low_stock_threshold {
                if !(0..=1_000_000).contains(&threshold) {
                    return Err(StoreError::Invalid(
                        "lowStockThreshold must be a whole number from 0 (off) to 1000000".into(),
                    ));
                }
                sqlx::query("UPDATE subproducts SET low_stock_threshold = $1 WHERE id = $2")
                    .bind((threshold > 0).then_some(threshold))
                    .bind(subproduct_id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "UPDATE subproducts SET name = $1, price = $2, min_qty = $3, max_qty = $4, position = $5, active = $6, \
                 updated_at = $7 WHERE id = $8",
            )
            .bind(&name)
            .bind(price)
            .bind(min)
            .bind(max)
            .bind(patch.position.unwrap_or(position))
            .bind(patch.active.unwrap_or(active))
            .bind(now)
            .bind(subproduct_id)
            .execute(&mut *tx)
            .await?;
            tx.apply_translations("subproduct", subproduct_id, &patch.translations).await?;
            changes.push(tx.bump_version(Counter::Catalogue).await?);
            tx.commit().await?;
            Ok(changes)
        })
    }

    /// Adds stock lines to an inventory subproduct in one transaction (any shop's: the
    /// operator, the demo loader and tests). See `upload_stock`.
    pub async fn add_stock_lines(
        &self,
        subproduct_id: &str,
        lines: &[String],
        dedupe: bool,
        now: i64,
    ) -> Result<(u64, u64, Vec<Change>)> {
        self.upload_stock(None, subproduct_id, lines.to_vec(), dedupe, now)
            .await
    }

    /// Adds stock lines to an inventory subproduct (of `owner`'s shops, when given) in one
    /// transaction with multi-row INSERTs. Blank lines are skipped; with `dedupe`, lines
    /// already in the product's stock (sold or not) or repeated within the upload are
    /// rejected. Lines are sealed and fingerprinted before the transaction starts.
    /// Returns (accepted, rejected).
    pub async fn upload_stock(
        &self,
        owner: Option<&str>,
        subproduct_id: &str,
        lines: Vec<String>,
        dedupe: bool,
        now: i64,
    ) -> Result<(u64, u64, Vec<Change>)> {
        let engine = self.engine();
        let lines: Vec<String> = lines
            .into_iter()
            .map(|l| {
                let t = l.trim();
                if t.len() == l.len() {
                    l
                } else {
                    t.to_owned()
                }
            })
            .filter(|l| !l.is_empty())
            .collect();
        let sealed = seal_lines(self.crypto.clone(), lines).await?;
        // SQLite gets anonymous `?` placeholders: it looks a named one (`$7`) up by a linear
        // scan, which makes binding a statement with thousands of them quadratic. Its
        // per-row binds are (subproduct, content, fingerprint); PostgreSQL shares `$1`
        // for the subproduct and binds (content, fingerprint) per row.
        let anonymous = engine == Engine::Sqlite;
        let rows_per_chunk = match engine {
            Engine::Sqlite => SQLITE_MAX_PARAMS / 3,
            Engine::Postgres => (POSTGRES_MAX_PARAMS - 1) / 2,
        };
        let owner_sql = if owner.is_some() {
            "SELECT p.service_number, s.product_type FROM subproducts p JOIN services s ON s.number = p.service_number \
             JOIN shops sh ON sh.id = s.shop_id WHERE p.id = $1 AND sh.owner_id = $2"
        } else {
            "SELECT p.service_number, s.product_type FROM subproducts p JOIN services s ON s.number = p.service_number \
             WHERE p.id = $1 AND $2 = $2"
        };
        let (accepted, rejected, change) = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<(i64, String)> = sqlx::query_as(owner_sql)
                .bind(subproduct_id)
                .bind(owner.unwrap_or(""))
                .fetch_optional(&mut *tx)
                .await?;
            let Some((service_number, product_type)) = found else {
                return Err(StoreError::NotFound("Subproduct"));
            };
            if product_type != ProductType::Inventory.as_str() {
                return Err(StoreError::Supply(supply::SupplyError::LinesNeedInventory));
            }
            let mut keep: Vec<&(Vec<u8>, String)> = Vec::with_capacity(sealed.len());
            if dedupe {
                let existing: Vec<(String,)> =
                    sqlx::query_as("SELECT fingerprint FROM stock_lines WHERE service_number = $1")
                        .bind(service_number)
                        .fetch_all(&mut *tx)
                        .await?;
                let mut seen: HashSet<&str> = HashSet::with_capacity(existing.len() + sealed.len());
                seen.extend(existing.iter().map(|(f,)| f.as_str()));
                keep.extend(sealed.iter().filter(|(_, fp)| seen.insert(fp.as_str())));
                drop(seen);
            } else {
                keep.extend(sealed.iter());
            }
            let accepted = keep.len() as u64;
            let rejected = (sealed.len() - keep.len()) as u64;
            let mut first_line: Option<i64> = None;
            for chunk in keep.chunks(rows_per_chunk) {
                // The integers are ours (a row id and the clock) and go in as literals.
                let mut sql = String::with_capacity(96 + chunk.len() * 40);
                sql.push_str(
                    "INSERT INTO stock_lines (service_number, subproduct_id, created_at, content, fingerprint) VALUES ",
                );
                for i in 0..chunk.len() {
                    if i > 0 {
                        sql.push(',');
                    }
                    if anonymous {
                        let _ = write!(sql, "({service_number}, ?, {now}, ?, ?)");
                    } else {
                        let _ = write!(sql, "({service_number}, $1, {now}, ${}, ${})", 2 + 2 * i, 3 + 2 * i);
                    }
                }
                sql.push_str(" RETURNING id");
                let mut q = sqlx::query_as::<_, (i64,)>(&sql).persistent(false);
                if !anonymous {
                    q = q.bind(subproduct_id);
                }
                for (content, fingerprint) in chunk {
                    if anonymous {
                        q = q.bind(subproduct_id);
                    }
                    q = q.bind(content.as_slice()).bind(fingerprint.as_str());
                }
                let ids = q.fetch_all(&mut *tx).await?;
                first_line = ids.iter().map(|(id,)| *id).chain(first_line).min();
            }
            let how = match first_line {
                Some(first) => Restock::Lines(accepted as i64, first),
                None => Restock::Add(0),
            };
            let change = tx.restock(subproduct_id, how, now).await?;
            tx.commit().await?;
            (accepted, rejected, change)
        });
        Ok((accepted, rejected, vec![change]))
    }

    /// Stock counts of one of the supplier's subproducts.
    pub async fn stock_counts(&self, owner: &str, subproduct_id: &str) -> Result<StockCounts> {
        let row: Option<(String, i64, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT s.product_type, p.stock, \
                 CAST(COALESCE((SELECT SUM(o.delivered) FROM orders o WHERE o.subproduct_id = p.id), 0) AS BIGINT) \
                 FROM subproducts p JOIN services s ON s.number = p.service_number JOIN shops sh ON sh.id = s.shop_id \
                 WHERE p.id = $1 AND sh.owner_id = $2",
            )
            .bind(subproduct_id)
            .bind(owner)
            .fetch_optional(pool)
            .await?
        });
        let (product_type, available, sold) = row.ok_or(StoreError::NotFound("Subproduct"))?;
        Ok(StockCounts {
            subproduct_id: subproduct_id.to_owned(),
            product_type: ProductType::parse(&product_type).unwrap_or(ProductType::Manual),
            available,
            sold,
        })
    }

    /// Removes unsold lines of one of the supplier's inventory subproducts: those equal
    /// to `only` when given, else all of them. Sold lines are never touched. Returns
    /// (removed, available after).
    pub async fn remove_stock(
        &self,
        owner: &str,
        subproduct_id: &str,
        only: Option<Vec<String>>,
        now: i64,
    ) -> Result<(u64, i64, Vec<Change>)> {
        let engine = self.engine();
        let fingerprints: Option<Vec<String>> = only.map(|lines| {
            lines
                .iter()
                .map(|l| l.trim())
                .filter(|l| !l.is_empty())
                .map(|l| self.crypto.fingerprint(l))
                .collect()
        });
        let per_chunk = match engine {
            Engine::Sqlite => SQLITE_MAX_PARAMS - 1,
            Engine::Postgres => POSTGRES_MAX_PARAMS - 1,
        };
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<(String,)> = sqlx::query_as(
                "SELECT s.product_type FROM subproducts p JOIN services s ON s.number = p.service_number \
                 JOIN shops sh ON sh.id = s.shop_id WHERE p.id = $1 AND sh.owner_id = $2",
            )
            .bind(subproduct_id)
            .bind(owner)
            .fetch_optional(&mut *tx)
            .await?;
            let (product_type,) = found.ok_or(StoreError::NotFound("Subproduct"))?;
            if product_type != ProductType::Inventory.as_str() {
                return Err(StoreError::Supply(supply::SupplyError::NoStockLines));
            }
            // The subproduct row first, then its lines: the order `place_product_order`
            // locks them in. The other way round, an order holding the row and waiting for
            // a line this removal holds deadlocks on PostgreSQL.
            sqlx::query("UPDATE subproducts SET stock = stock WHERE id = $1")
                .bind(subproduct_id)
                .execute(&mut *tx)
                .await?;
            let mut removed = 0u64;
            match &fingerprints {
                None => {
                    removed = sqlx::query("DELETE FROM stock_lines WHERE subproduct_id = $1 AND order_id IS NULL")
                        .bind(subproduct_id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                Some(list) => {
                    for chunk in list.chunks(per_chunk) {
                        let placeholders = crate::db::placeholders(2, chunk.len());
                        let sql = format!(
                            "DELETE FROM stock_lines WHERE subproduct_id = $1 AND order_id IS NULL AND fingerprint IN ({placeholders})"
                        );
                        let mut q = sqlx::query(&sql).persistent(false).bind(subproduct_id);
                        for fp in chunk {
                            q = q.bind(fp.as_str());
                        }
                        removed += q.execute(&mut *tx).await?.rows_affected();
                    }
                }
            }
            let change = tx.restock(subproduct_id, Restock::Add(-(removed as i64)), now).await?;
            let available = match &change {
                Change::Stock { stock, .. } => *stock,
                _ => 0,
            };
            tx.commit().await?;
            Ok((removed, available, vec![change]))
        })
    }
}
