//! The buyer-visible catalogue as an immutable snapshot with live stock counters, and the
//! rules of SPEC 6 that read it: visibility, primary subproduct, row stock and max, filters,
//! pagination, shop name masking. The store builds snapshots; the API caches and renders them.

use std::collections::HashSet;

/// The snapshot's indexes hash with foldhash: their keys are the store's own ids (no
/// one can choose them to collide), and SipHash was a visible part of a 100,000-service
/// load and of every lookup by id.
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::error::ApiError;
use crate::id::ServiceRef;
use crate::lang::Lang;
use crate::money::Money;
use crate::params::{parse_bool, parse_count, Params};
use crate::text::Text;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntityType {
    Product,
    Smm,
}

impl EntityType {
    pub fn as_str(self) -> &'static str {
        match self {
            EntityType::Product => "product",
            EntityType::Smm => "smm",
        }
    }

    pub fn parse(text: &str) -> Option<EntityType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "product" => Some(EntityType::Product),
            "smm" => Some(EntityType::Smm),
            _ => None,
        }
    }
}

/// How a service is fulfilled (SPEC 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProductType {
    /// Supplier-uploaded stock lines, delivered instantly.
    Inventory,
    /// The supplier fulfils by hand.
    Manual,
    /// An automatic source: an upstream provider.
    Auto,
}

impl ProductType {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductType::Inventory => "inventory",
            ProductType::Manual => "manual",
            ProductType::Auto => "auto",
        }
    }

    pub fn parse(text: &str) -> Option<ProductType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "inventory" => Some(ProductType::Inventory),
            "manual" => Some(ProductType::Manual),
            "auto" => Some(ProductType::Auto),
            _ => None,
        }
    }

    /// `autoDelivery`: false only when a person must fulfil the order.
    pub fn auto_delivery(self) -> bool {
        self != ProductType::Manual
    }
}

#[derive(Clone, Debug)]
pub struct Category {
    pub id: String,
    pub slug: String,
    pub name: Text,
    pub description: Text,
    pub image_url: Option<String>,
    pub position: i64,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Subcategory {
    pub id: String,
    pub category_id: String,
    pub slug: String,
    pub name: Text,
    pub description: Text,
    pub image_url: Option<String>,
    pub position: i64,
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct Shop {
    pub id: String,
    pub name: String,
    pub active: bool,
    pub review_count: i64,
    pub rating_sum: i64,
}

impl Shop {
    /// Average stars to one decimal; 0 without reviews.
    pub fn rating(&self) -> f64 {
        if self.review_count == 0 {
            return 0.0;
        }
        let tenths = (self.rating_sum * 10 * 2 + self.review_count) / (self.review_count * 2);
        tenths as f64 / 10.0
    }
}

/// First character, `***`, last character (SPEC 6).
pub fn mask_shop_name(name: &str) -> String {
    let mut chars = name.trim().chars();
    match (chars.next(), chars.next_back()) {
        (Some(first), Some(last)) => format!("{first}***{last}"),
        (Some(only), None) => format!("{only}***{only}"),
        _ => "***".to_owned(),
    }
}

/// The live stock of one subproduct. Cells outlive catalogue snapshots, so an update that
/// lands while a new snapshot is being built is not lost; each update carries the store's
/// `stock_version` and older ones are ignored, whatever order they arrive in.
#[derive(Debug, Default)]
pub struct StockCell {
    stock: AtomicI64,
    version: Mutex<i64>,
}

impl StockCell {
    pub fn get(&self) -> i64 {
        self.stock.load(Ordering::Acquire).max(0)
    }

    /// Applies `stock` at `version` unless a newer version is already applied; true when
    /// the stock moved (a re-read of the same level is no change).
    pub fn apply(&self, version: i64, stock: i64) -> bool {
        let mut current = self.version.lock().unwrap_or_else(|e| e.into_inner());
        if version < *current {
            return false;
        }
        *current = version;
        self.stock.swap(stock, Ordering::AcqRel) != stock
    }
}

/// Every subproduct's stock cell, by subproduct id.
#[derive(Debug, Default)]
pub struct StockBoard {
    /// Keyed by the subproduct's own id: the same allocation the catalogue holds.
    cells: RwLock<HashMap<Arc<str>, Arc<StockCell>>>,
    /// Counts the stock changes applied: anything rendered from the cells (a whole list
    /// kept compressed) is current while this has not moved.
    epoch: AtomicU64,
}

impl StockBoard {
    /// The cell for `id`, created if new, with `(version, stock)` applied.
    pub fn cell(&self, id: &Arc<str>, version: i64, stock: i64) -> Arc<StockCell> {
        let existing = self
            .cells
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        let cell = existing.unwrap_or_else(|| {
            self.cells
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .entry(id.to_owned())
                .or_default()
                .clone()
        });
        if cell.apply(version, stock) {
            self.epoch.fetch_add(1, Ordering::AcqRel);
        }
        cell
    }

    /// Moves on every applied stock change (see `epoch`).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Applies an update to a known cell; unknown ids are ignored (the next snapshot
    /// reads them from the store).
    pub fn apply(&self, id: &str, version: i64, stock: i64) {
        let cell = self
            .cells
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned();
        if let Some(cell) = cell {
            if cell.apply(version, stock) {
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

#[derive(Debug)]
pub struct Subproduct {
    pub id: Arc<str>,
    pub name: Text,
    /// Price per unit.
    pub price: Money,
    pub min: i64,
    pub max: i64,
    pub position: i64,
    /// Available stock: unsold lines for inventory, declared capacity otherwise.
    pub stock: Arc<StockCell>,
}

impl Subproduct {
    pub fn stock(&self) -> i64 {
        self.stock.get()
    }
}

#[derive(Debug)]
pub struct Service {
    /// The friendly number buyers order with.
    pub number: i64,
    /// Ids are shared strings: a service's own id is also the key of the id index, and
    /// shop, category, subcategory and type repeat across thousands of services, so the
    /// loader keeps each once (at 100,000 services, separate `String`s were ~25 MB).
    pub id: Arc<str>,
    pub entity: EntityType,
    pub product_type: ProductType,
    pub shop_id: Arc<str>,
    pub category_id: Arc<str>,
    pub subcategory_id: Arc<str>,
    pub name: Text,
    pub description: Text,
    /// SMM order type (`Default`, `Package`, ...); `Default` for products.
    pub type_name: Arc<str>,
    pub image_url: Option<String>,
    /// SMM only: price per 1000 units (per package for package types).
    pub rate: Money,
    /// SMM only.
    pub min: i64,
    pub max: i64,
    pub refill: bool,
    pub refill_days: Option<i64>,
    pub cancel: bool,
    pub dripfeed: bool,
    pub recommended: bool,
    /// Products only: active subproducts, primary first (lowest position, then id).
    pub subproducts: Vec<Subproduct>,
}

impl Service {
    pub fn primary(&self) -> Option<&Subproduct> {
        self.subproducts.first()
    }

    /// The listed rate: the primary subproduct's price for products.
    pub fn rate(&self) -> Money {
        match self.entity {
            EntityType::Smm => self.rate,
            EntityType::Product => self.primary().map_or(Money::ZERO, |p| p.price),
        }
    }

    pub fn min(&self) -> i64 {
        match self.entity {
            EntityType::Smm => self.min,
            EntityType::Product => self.primary().map_or(0, |p| p.min),
        }
    }

    /// The most one order may ask for, as `add` checks it: for products the primary's
    /// own max (the stock decides the rest, with `Not enough stock`).
    pub fn order_max(&self) -> i64 {
        match self.entity {
            EntityType::Smm => self.max,
            EntityType::Product => self.primary().map_or(0, |p| p.max),
        }
    }

    /// The listed max: for products the primary's max, never above its available stock.
    pub fn max(&self) -> i64 {
        match self.entity {
            EntityType::Smm => self.max,
            EntityType::Product => self.primary().map_or(0, |p| p.max.min(p.stock())),
        }
    }

    /// Row stock: SMM services are limited only by their max; products by the available
    /// stock over all active subproducts.
    pub fn stock(&self) -> i64 {
        match self.entity {
            EntityType::Smm => self.max,
            // Saturating: capacities are capped at input, but a sum must never panic a read.
            EntityType::Product => self
                .subproducts
                .iter()
                .map(Subproduct::stock)
                .fold(0i64, i64::saturating_add),
        }
    }

    pub fn available(&self) -> bool {
        self.stock() > 0
    }

    pub fn auto_delivery(&self) -> bool {
        self.product_type.auto_delivery()
    }
}

/// An immutable snapshot of everything a buyer can see, with lookup indexes.
#[derive(Debug, Default)]
pub struct Catalogue {
    /// Active categories ordered by position then name.
    pub categories: Vec<Category>,
    /// Active subcategories of active categories, ordered by position then name.
    pub subcategories: Vec<Subcategory>,
    /// Active shops, ordered by name.
    pub shops: Vec<Shop>,
    /// Visible services ordered by number (numbers are unique, so a number is found by
    /// binary search and needs no index of its own).
    pub services: Vec<Arc<Service>>,
    by_id: HashMap<Arc<str>, u32>,
    subproduct_index: HashMap<Arc<str>, (u32, u32)>,
    category_index: HashMap<String, usize>,
    subcategory_index: HashMap<String, usize>,
    shop_index: HashMap<String, usize>,
    product_counts: HashMap<Arc<str>, i64>,
}

impl Catalogue {
    /// Builds a snapshot from everything the store holds, dropping what a buyer must not
    /// see: inactive rows, services of hidden categories or shops, products without an
    /// active subproduct.
    pub fn build(
        mut categories: Vec<Category>,
        mut subcategories: Vec<Subcategory>,
        mut shops: Vec<Shop>,
        mut services: Vec<Service>,
    ) -> Catalogue {
        categories.retain(|c| c.active);
        categories.sort_by(|a, b| {
            (a.position, a.name.en().to_lowercase(), &a.id).cmp(&(
                b.position,
                b.name.en().to_lowercase(),
                &b.id,
            ))
        });
        let category_ids: HashSet<&str> = categories.iter().map(|c| c.id.as_str()).collect();
        subcategories.retain(|s| s.active && category_ids.contains(s.category_id.as_str()));
        subcategories.sort_by(|a, b| {
            (a.position, a.name.en().to_lowercase(), &a.id).cmp(&(
                b.position,
                b.name.en().to_lowercase(),
                &b.id,
            ))
        });
        shops.retain(|s| s.active);
        shops.sort_by(|a, b| (a.name.to_lowercase(), &a.id).cmp(&(b.name.to_lowercase(), &b.id)));

        let sub_parent: HashMap<&str, &str> = subcategories
            .iter()
            .map(|s| (s.id.as_str(), s.category_id.as_str()))
            .collect();
        let shop_ids: HashSet<&str> = shops.iter().map(|s| s.id.as_str()).collect();
        services.retain(|s| {
            sub_parent.get(&*s.subcategory_id) == Some(&&*s.category_id)
                && shop_ids.contains(&*s.shop_id)
                && (s.entity == EntityType::Smm || !s.subproducts.is_empty())
        });
        for s in &mut services {
            s.subproducts
                .sort_by(|a, b| (a.position, &a.id).cmp(&(b.position, &b.id)));
        }
        services.sort_by_key(|s| s.number);

        let mut catalogue = Catalogue {
            categories,
            subcategories,
            shops,
            ..Catalogue::default()
        };
        for (i, c) in catalogue.categories.iter().enumerate() {
            catalogue.category_index.insert(c.id.clone(), i);
        }
        for (i, s) in catalogue.subcategories.iter().enumerate() {
            catalogue.subcategory_index.insert(s.id.clone(), i);
        }
        for (i, s) in catalogue.shops.iter().enumerate() {
            catalogue.shop_index.insert(s.id.clone(), i);
        }
        for (i, s) in services.iter().enumerate() {
            // Fewer than 2^32 services and subproducts per service, by far.
            catalogue.by_id.insert(s.id.clone(), i as u32);
            for (j, sp) in s.subproducts.iter().enumerate() {
                catalogue
                    .subproduct_index
                    .insert(sp.id.clone(), (i as u32, j as u32));
            }
            *catalogue
                .product_counts
                .entry(s.shop_id.clone())
                .or_default() += 1;
        }
        catalogue.by_id.shrink_to_fit();
        catalogue.subproduct_index.shrink_to_fit();
        catalogue.services = services.into_iter().map(Arc::new).collect();
        catalogue
    }

    /// The index in `services` of the service `r` names.
    fn index_of(&self, r: &ServiceRef) -> Option<usize> {
        match r {
            ServiceRef::Number(n) => self.services.binary_search_by_key(n, |s| s.number).ok(),
            ServiceRef::Id(id) => self.by_id.get(id.as_str()).map(|&i| i as usize),
        }
    }

    pub fn service(&self, r: &ServiceRef) -> Option<&Arc<Service>> {
        self.index_of(r).map(|i| &self.services[i])
    }

    pub fn subproduct(&self, id: &str) -> Option<(&Arc<Service>, &Subproduct)> {
        let &(i, j) = self.subproduct_index.get(id)?;
        let service = &self.services[i as usize];
        Some((service, &service.subproducts[j as usize]))
    }

    pub fn category(&self, id: &str) -> Option<&Category> {
        self.category_index.get(id).map(|&i| &self.categories[i])
    }

    pub fn subcategory(&self, id: &str) -> Option<&Subcategory> {
        self.subcategory_index
            .get(id)
            .map(|&i| &self.subcategories[i])
    }

    pub fn shop(&self, id: &str) -> Option<&Shop> {
        self.shop_index.get(id).map(|&i| &self.shops[i])
    }

    /// Everything a shop lists (products and SMM services), for the `shops` list.
    pub fn product_count(&self, shop_id: &str) -> i64 {
        self.product_counts.get(shop_id).copied().unwrap_or(0)
    }

    /// `services` / `products`: filters combined with AND, ordered by number, paginated.
    /// The result holds indexes into `services`.
    pub fn list(&self, query: &ListQuery) -> Page<usize> {
        if !query.products_only && query.is_unfiltered() {
            // No filter: the page is a slice, the total the length.
            return Page::of_len(self.services.len(), query.page, query.limit);
        }
        let category_ids: Option<HashSet<&str>> = query.category.as_ref().map(|name| {
            self.categories
                .iter()
                .filter(|c| c.name.en().eq_ignore_ascii_case(name))
                .map(|c| c.id.as_str())
                .collect()
        });
        let subcategory_ids: Option<HashSet<&str>> = query.subcategory.as_ref().map(|name| {
            self.subcategories
                .iter()
                .filter(|s| s.name.en().eq_ignore_ascii_case(name))
                .map(|s| s.id.as_str())
                .collect()
        });
        let wanted: Option<HashSet<usize>> = query
            .product_ids
            .as_ref()
            .map(|refs| refs.iter().filter_map(|r| self.index_of(r)).collect());
        let rows = self.services.iter().enumerate().filter(|(i, s)| {
            // productIds and the products action select marketplace products only.
            let products_only = query.products_only || wanted.is_some();
            (!products_only || s.entity == EntityType::Product)
                && query.entity.is_none_or(|e| s.entity == e)
                && wanted.as_ref().is_none_or(|w| w.contains(i))
                && category_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&*s.category_id))
                && subcategory_ids
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&*s.subcategory_id))
                && query.shop_id.as_ref().is_none_or(|id| *s.shop_id == **id)
                && (!query.recommended_only || s.recommended)
        });
        Page::of(rows.map(|(i, _)| i), query.page, query.limit)
    }
}

/// One page of a list and its envelope numbers.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub limit: u64,
    pub total_pages: u64,
}

impl Page<usize> {
    /// The page of `0..len` (what `of` would give for every index, without walking them).
    pub fn of_len(len: usize, page: u64, limit: u64) -> Page<usize> {
        let total = len as u64;
        if limit == 0 {
            return Page {
                items: (0..len).collect(),
                total,
                page: 1,
                limit: total,
                total_pages: 1,
            };
        }
        let start = (page - 1).saturating_mul(limit).min(total) as usize;
        let end = (start as u64).saturating_add(limit).min(total) as usize;
        Page {
            items: (start..end).collect(),
            total,
            page,
            limit,
            total_pages: total.div_ceil(limit).max(1),
        }
    }
}

impl<T> Page<T> {
    /// `limit` 0 returns everything as page 1 of 1 with `limit` = `total`; otherwise the
    /// requested page (empty past the end) and at least one page in all.
    pub fn of(all: impl Iterator<Item = T>, page: u64, limit: u64) -> Page<T> {
        if limit == 0 {
            let items: Vec<T> = all.collect();
            let total = items.len() as u64;
            return Page {
                items,
                total,
                page: 1,
                limit: total,
                total_pages: 1,
            };
        }
        let mut total = 0u64;
        let skip = (page - 1).saturating_mul(limit);
        let mut items = Vec::new();
        for item in all {
            if total >= skip && total < skip.saturating_add(limit) {
                items.push(item);
            }
            total += 1;
        }
        Page {
            items,
            total,
            page,
            limit,
            total_pages: total.div_ceil(limit).max(1),
        }
    }
}

/// `page` and `limit` as the seed defines them; `default_limit` 0 means "all".
pub fn parse_page_limit(params: &Params, default_limit: u64) -> Result<(u64, u64), ApiError> {
    let limit = match params.get("limit") {
        None => default_limit,
        Some(text) => parse_count(text).ok_or(ApiError::InvalidLimit)?,
    };
    let page = match params.get("page") {
        None => 1,
        Some(text) => parse_count(text)
            .filter(|p| *p >= 1)
            .ok_or(ApiError::InvalidPage)?,
    };
    Ok((page, limit))
}

/// The filters of `services` and `products`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub page: u64,
    pub limit: u64,
    pub category: Option<String>,
    pub subcategory: Option<String>,
    pub shop_id: Option<String>,
    pub entity: Option<EntityType>,
    pub product_ids: Option<Vec<ServiceRef>>,
    pub recommended_only: bool,
    pub products_only: bool,
    pub lang: Lang,
}

impl ListQuery {
    /// No filter but, for `products`, the kind itself.
    pub fn is_unfiltered(&self) -> bool {
        self.entity.is_none()
            && self.product_ids.is_none()
            && self.category.is_none()
            && self.subcategory.is_none()
            && self.shop_id.is_none()
            && !self.recommended_only
    }

    pub fn parse(params: &Params, products_only: bool) -> Result<ListQuery, ApiError> {
        let lang = params.lang()?;
        let (page, limit) = parse_page_limit(params, 0)?;
        let entity = match params.get("entityType") {
            None => None,
            Some(text) => Some(EntityType::parse(text).ok_or(ApiError::InvalidEntityType)?),
        };
        let recommended_only = match params.get("isRecommended") {
            None => false,
            Some(text) => parse_bool(text).ok_or(ApiError::InvalidBoolean)?,
        };
        let product_ids = match params.id_list("productIds", "product")? {
            None => None,
            Some(values) => Some(
                values
                    .iter()
                    .map(|v| {
                        ServiceRef::parse(v).ok_or_else(|| ApiError::InvalidProductId(v.clone()))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(ListQuery {
            page: if limit == 0 { 1 } else { page },
            limit,
            category: params.get("category").map(str::to_owned),
            subcategory: params.get("subcategory").map(str::to_owned),
            shop_id: params.get("shopId").map(|s| s.to_ascii_lowercase()),
            entity,
            product_ids,
            recommended_only,
            products_only,
            lang,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_names() {
        assert_eq!(mask_shop_name("NordAccounts"), "N***s");
        assert_eq!(mask_shop_name("Ё"), "Ё***Ё");
        assert_eq!(mask_shop_name("ab"), "a***b");
        assert_eq!(mask_shop_name(""), "***");
    }

    #[test]
    fn ratings_round_to_one_decimal() {
        let shop = |sum, count| Shop {
            id: String::new(),
            name: String::new(),
            active: true,
            review_count: count,
            rating_sum: sum,
        };
        assert_eq!(shop(0, 0).rating(), 0.0);
        assert_eq!(shop(14, 3).rating(), 4.7);
        assert_eq!(shop(9, 2).rating(), 4.5);
        assert_eq!(shop(5, 1).rating(), 5.0);
    }

    #[test]
    fn pages() {
        let p = Page::of(1..=150, 1, 50);
        assert_eq!(
            (p.items.len(), p.total, p.page, p.limit, p.total_pages),
            (50, 150, 1, 50, 3)
        );
        let p = Page::of(1..=150, 3, 50);
        assert_eq!(p.items.first(), Some(&101));
        let p = Page::of(1..=150, 4, 50);
        assert!(p.items.is_empty());
        assert_eq!(p.total_pages, 3);
        let p = Page::of(1..=150, 1, 0);
        assert_eq!(
            (p.items.len(), p.page, p.limit, p.total_pages),
            (150, 1, 150, 1)
        );
        let p = Page::of(std::iter::empty::<u32>(), 1, 20);
        assert_eq!((p.total, p.total_pages), (0, 1));
        let p = Page::of(1..=3, u64::MAX, 50);
        assert!(p.items.is_empty());
        // The slice shortcut agrees with walking the items.
        for (len, page, limit) in [
            (0, 1, 0),
            (0, 1, 20),
            (150, 1, 50),
            (150, 3, 50),
            (150, 4, 50),
            (7, 2, 3),
            (7, u64::MAX, 3),
            (7, 1, 0),
        ] {
            let walked = Page::of(0..len, page, limit);
            let sliced = Page::of_len(len, page, limit);
            assert_eq!(
                (
                    walked.items,
                    walked.total,
                    walked.page,
                    walked.limit,
                    walked.total_pages
                ),
                (
                    sliced.items,
                    sliced.total,
                    sliced.page,
                    sliced.limit,
                    sliced.total_pages
                ),
                "{len} {page} {limit}"
            );
        }
    }
}

#[cfg(test)]
mod stock_tests {
    use super::*;

    #[test]
    fn stock_updates_apply_in_version_order() {
        let board = StockBoard::default();
        let cell = board.cell(&"a".into(), 3, 10);
        assert_eq!(cell.get(), 10);
        board.apply("a", 5, 8);
        board.apply("a", 4, 9);
        assert_eq!(cell.get(), 8);
        // A snapshot built from an older read does not roll the cell back.
        let same = board.cell(&"a".into(), 2, 50);
        assert!(Arc::ptr_eq(&cell, &same));
        assert_eq!(same.get(), 8);
        board.apply("unknown", 1, 1);
    }
}
