//! The console's catalogue: services (products and SMM alike) searched by name or
//! number, a page at a time, newest numbers last, and one service as the operator edits
//! it (price or markup, visibility, names and translations, variants' prices); shops
//! searched a page at a time; reviews filtered and moderated. Every edit here writes its
//! audit row in the transaction of the change and bumps the catalogue version.

use souk_core::markup::Markup;
use souk_core::supply::Translation;
use souk_core::Money;

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::operator_audit::AuditSteps;
use crate::rows::row_struct;
use crate::supplier_catalogue::SupplySteps;
use crate::versions::{Change, Counter, Signals};
use crate::{NewAuditEntry, Result, ShopRecord, Store, StoreError};

row_struct! {
    /// A service as the console lists it (never its provider's key).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ConsoleService {
        pub number: i64,
        pub entity: String,
        pub product_type: String,
        pub name: String,
        pub shop: String,
        pub subcategory: String,
        pub rate: i64,
        pub provider_id: Option<String>,
        pub provider_rate: Option<i64>,
        pub active: bool,
    }
}

const FROM: &str = "FROM services s JOIN shops sh ON sh.id = s.shop_id \
     JOIN subcategories sc ON sc.id = s.subcategory_id \
     WHERE ($1 = '' OR LOWER(s.name) LIKE $2 ESCAPE '\\' OR CAST(s.number AS TEXT) = $1)";

/// The price buyers see: an SMM service's rate, a product's primary (first active)
/// variant's price (0 when it has none on sale).
const RATE: &str = "CASE WHEN s.entity = 'product' THEN COALESCE((SELECT p.price FROM subproducts p \
     WHERE p.service_number = s.number AND p.active ORDER BY p.position, p.id LIMIT 1), 0) ELSE s.rate END";

impl Store {
    /// Services whose name contains `search` (case-insensitive) or whose number it is,
    /// by number, and how many match in all.
    pub async fn console_services(
        &self,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConsoleService>, i64)> {
        self.searched_page(
            &format!(
                "SELECT s.number, s.entity, s.product_type, s.name, sh.name AS shop, sc.name AS subcategory, \
                 {RATE} AS rate, s.provider_id, s.provider_rate, s.active {FROM} ORDER BY s.number LIMIT $3 OFFSET $4"
            ),
            &format!("SELECT COUNT(*) {FROM}"),
            search,
            limit,
            offset,
        )
        .await
    }

    /// One page of `rows_sql` and how many rows `count_sql` counts, both filtered by a
    /// search bound as `$1` (the text, trimmed) and `$2` (its `contains_pattern`), the
    /// page as `$3` (limit) and `$4` (offset): the console's searched lists.
    async fn searched_page<T>(
        &self,
        rows_sql: &str,
        count_sql: &str,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<T>, i64)>
    where
        T: Send
            + Unpin
            + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
            + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>,
    {
        let search = search.trim();
        let pattern = contains_pattern(search);
        on_engine!(&self.db, pool => {
            let rows: Vec<T> = sqlx::query_as(rows_sql)
                .bind(search)
                .bind(&pattern)
                .bind(limit)
                .bind(offset)
                .fetch_all(pool)
                .await?;
            let (total,): (i64,) = sqlx::query_as(count_sql)
                .bind(search)
                .bind(&pattern)
                .fetch_one(pool)
                .await?;
            Ok((rows, total))
        })
    }
}

row_struct! {
    /// A variant (subproduct) of a product as the operator edits it: its stock is a
    /// count, never its lines.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OperatorVariant {
        pub id: String,
        pub name: String,
        pub price: i64,
        pub active: bool,
        /// An imported variant priced by the operator (sync leaves its price alone).
        pub price_pinned: bool,
        pub stock: i64,
    }
}

row_struct! {
    struct OperatorServiceRow {
        number: i64,
        id: String,
        entity: String,
        product_type: String,
        name: String,
        description: String,
        shop_id: String,
        shop: String,
        subcategory: String,
        rate: i64,
        active: bool,
        provider_id: Option<String>,
        provider_rate: Option<i64>,
        provider_markup_bp: Option<i64>,
        provider_round: Option<i64>,
    }
}

/// A product or SMM service as the operator edits it (any shop's; never a provider's key
/// nor a stock line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorService {
    pub number: i64,
    pub id: String,
    /// `product` or `smm`.
    pub entity: String,
    pub product_type: String,
    pub name: String,
    pub description: String,
    pub shop_id: String,
    pub shop: String,
    pub subcategory: String,
    /// SMM: the rate per 1000 buyers pay (products: their variants' prices).
    pub rate: i64,
    pub active: bool,
    /// Imported services: the provider, its price, and the markup ours follows.
    pub provider_id: Option<String>,
    pub provider_rate: Option<i64>,
    pub markup: Option<Markup>,
    /// (field, lang, value), sorted.
    pub translations: Vec<(String, String, String)>,
    /// Products: their variants, primary first.
    pub variants: Vec<OperatorVariant>,
}

impl OperatorService {
    pub fn imported(&self) -> bool {
        self.provider_id.is_some()
    }

    pub fn is_smm(&self) -> bool {
        self.entity == "smm"
    }
}

/// The operator's edit of a service, as the use case decided it: the English name and
/// description, whether buyers see it, and its price: a local SMM service's rate, or an
/// imported service's markup (its price, and its variants' unpinned prices, then follow
/// the provider's price with it, now and at every sync).
#[derive(Clone, Debug)]
pub struct ServiceEdit {
    pub name: String,
    pub description: String,
    pub active: bool,
    pub rate: Option<Money>,
    pub markup: Option<Markup>,
}

/// The operator's change to one variant: a new English name, a new price, or both.
#[derive(Clone, Debug, Default)]
pub struct VariantEdit {
    pub name: Option<String>,
    pub price: Option<Money>,
}

row_struct! {
    /// A review as the console lists it (with the buyer's email, for the operator only).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ConsoleReview {
        pub id: String,
        pub shop_id: String,
        pub shop: String,
        pub order_id: Option<i64>,
        pub email: Option<String>,
        pub rating: i64,
        pub text: String,
        pub hidden: bool,
        pub created_at: i64,
    }
}

/// Which reviews the console lists; `None` is any.
#[derive(Clone, Debug, Default)]
pub struct ReviewFilter {
    pub shop_id: Option<String>,
    pub rating: Option<i64>,
    pub hidden: Option<bool>,
}

tx_steps! {
    /// The operator's catalogue edits, inside a transaction.
    pub(crate) trait OperatorCatalogueSteps {
        /// One service with its translations and variants, if it exists.
        async fn operator_service(&mut self, number: i64) -> Result<Option<OperatorService>> {
            let row: Option<OperatorServiceRow> = sqlx::query_as(
                "SELECT s.number, s.id, s.entity, s.product_type, s.name, s.description, s.shop_id, sh.name AS shop, \
                 sc.name AS subcategory, s.rate, s.active, s.provider_id, s.provider_rate, s.provider_markup_bp, \
                 s.provider_round FROM services s JOIN shops sh ON sh.id = s.shop_id \
                 JOIN subcategories sc ON sc.id = s.subcategory_id WHERE s.number = $1",
            )
            .bind(number)
            .fetch_optional(&mut *self)
            .await?;
            let Some(r) = row else {
                return Ok(None);
            };
            let variants: Vec<OperatorVariant> = sqlx::query_as(
                "SELECT id, name, price, active, price_pinned, stock FROM subproducts \
                 WHERE service_number = $1 ORDER BY position, id",
            )
            .bind(number)
            .fetch_all(&mut *self)
            .await?;
            let translations: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT field, lang, value FROM translations WHERE entity = 'service' AND entity_id = $1 \
                 ORDER BY field, lang",
            )
            .bind(&r.id)
            .fetch_all(&mut *self)
            .await?;
            let markup = r.provider_id.as_ref().map(|_| Markup {
                basis_points: r.provider_markup_bp.unwrap_or(0),
                round_to: r.provider_round.unwrap_or(0),
            });
            Ok(Some(OperatorService {
                number: r.number,
                id: r.id,
                entity: r.entity,
                product_type: r.product_type,
                name: r.name,
                description: r.description,
                shop_id: r.shop_id,
                shop: r.shop,
                subcategory: r.subcategory,
                rate: r.rate,
                active: r.active,
                provider_id: r.provider_id,
                provider_rate: r.provider_rate,
                markup,
                translations,
                variants,
            }))
        }

        /// Locks the service's row for the rest of the transaction (on PostgreSQL; SQLite
        /// holds the whole database) and reads it: "not found" when there is none.
        async fn lock_service(&mut self, number: i64) -> Result<OperatorService> {
            sqlx::query("UPDATE services SET updated_at = updated_at WHERE number = $1")
                .bind(number)
                .execute(&mut *self)
                .await?;
            self.operator_service(number).await?.ok_or(StoreError::NotFound("Service"))
        }

        /// One review, if it exists.
        async fn console_review(&mut self, id: &str) -> Result<Option<ConsoleReview>> {
            Ok(sqlx::query_as(&format!("{REVIEW_SELECT} WHERE r.id = $1"))
                .bind(id)
                .fetch_optional(&mut *self)
                .await?)
        }
    }
}

const REVIEW_SELECT: &str = "SELECT r.id, r.shop_id, sh.name AS shop, r.order_id, u.email, r.rating, r.text, \
     r.hidden, r.created_at FROM reviews r JOIN shops sh ON sh.id = r.shop_id LEFT JOIN users u ON u.id = r.user_id";

const REVIEW_FILTER: &str = "WHERE ($1 = '' OR r.shop_id = $1) AND ($2 = 0 OR r.rating = $2) \
     AND ($3 < 0 OR r.hidden = ($3 > 0))";

const SHOP_SELECT: &str = "SELECT s.id, s.owner_id, u.email AS owner_email, s.name, s.active, s.created_at, \
     (SELECT COUNT(*) FROM services v WHERE v.shop_id = s.id) AS listings, \
     (SELECT COUNT(*) FROM reviews r WHERE r.shop_id = s.id AND NOT r.hidden) AS review_count, \
     CAST(COALESCE((SELECT SUM(r.rating) FROM reviews r WHERE r.shop_id = s.id AND NOT r.hidden), 0) AS BIGINT) AS rating_sum \
     FROM shops s JOIN users u ON u.id = s.owner_id";

const SHOP_FILTER: &str =
    "WHERE ($1 = '' OR LOWER(s.name) LIKE $2 ESCAPE '\\' OR LOWER(u.email) LIKE $2 ESCAPE '\\' OR s.id = $1)";

/// `%text%` for a case-insensitive LIKE, its wildcards escaped.
fn contains_pattern(search: &str) -> String {
    format!(
        "%{}%",
        search
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    )
}

impl Store {
    /// One service as the operator edits it.
    pub async fn operator_service(&self, number: i64) -> Result<OperatorService> {
        on_engine!(&self.db, pool => {
            let mut conn = pool.acquire().await?;
            conn.operator_service(number).await?.ok_or(StoreError::NotFound("Service"))
        })
    }

    /// The operator's edit of a service with its audit row, made by `audit` from the
    /// service before and after (both read in the transaction), in one transaction that
    /// also bumps the catalogue version.
    pub async fn edit_service_audited(
        &self,
        number: i64,
        edit: &ServiceEdit,
        now: i64,
        audit: impl FnOnce(&OperatorService, &OperatorService) -> NewAuditEntry + Send,
    ) -> Result<(OperatorService, Vec<Change>)> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.lock_service(number).await?;
            let mut rate = edit.rate.map_or(before.rate, Money::micros);
            if let Some(markup) = edit.markup {
                if !before.imported() {
                    return Err(StoreError::Invalid("Only an imported service has a markup".into()));
                }
                sqlx::query("UPDATE services SET provider_markup_bp = $1, provider_round = $2 WHERE number = $3")
                    .bind(markup.basis_points)
                    .bind(markup.round_to)
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
                // As the provider's next sync would price it.
                if let Some(theirs) = before.provider_rate {
                    let ours = markup.apply(Money::from_micros(theirs)).micros();
                    if before.is_smm() {
                        rate = ours;
                    } else {
                        sqlx::query(
                            "UPDATE subproducts SET price = $1, updated_at = $2 WHERE service_number = $3 AND NOT price_pinned",
                        )
                        .bind(ours)
                        .bind(now)
                        .bind(number)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
            }
            sqlx::query(
                "UPDATE services SET name = $1, description = $2, active = $3, rate = $4, updated_at = $5 WHERE number = $6",
            )
            .bind(&edit.name)
            .bind(&edit.description)
            .bind(edit.active)
            .bind(rate)
            .bind(now)
            .bind(number)
            .execute(&mut *tx)
            .await?;
            let after = tx.operator_service(number).await?.ok_or(StoreError::NotFound("Service"))?;
            tx.audit_row(&audit(&before, &after), now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            Ok((after, vec![change]))
        })
    }

    /// Sets (or, for `None` values, removes) translations of a service, with its audit
    /// row, in one transaction.
    pub async fn translate_service_audited(
        &self,
        number: i64,
        translations: &[Translation],
        now: i64,
        audit: impl FnOnce(&OperatorService, &OperatorService) -> NewAuditEntry + Send,
    ) -> Result<(OperatorService, Vec<Change>)> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.lock_service(number).await?;
            tx.apply_translations("service", &before.id, translations).await?;
            let after = tx.operator_service(number).await?.ok_or(StoreError::NotFound("Service"))?;
            tx.audit_row(&audit(&before, &after), now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            Ok((after, vec![change]))
        })
    }

    /// Renames or prices one variant of a product (each when given), with its audit
    /// row, in one transaction. An imported product's variant is priced as the
    /// provider's page does it: pinned (sync leaves it alone) and sold while the
    /// provider lists it; sync never renames a variant.
    pub async fn edit_variant_audited(
        &self,
        number: i64,
        subproduct_id: &str,
        edit: &VariantEdit,
        now: i64,
        audit: impl FnOnce(&OperatorService, &OperatorService) -> NewAuditEntry + Send,
    ) -> Result<(OperatorService, Vec<Change>)> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.lock_service(number).await?;
            if !before.variants.iter().any(|v| v.id == subproduct_id) {
                return Err(StoreError::NotFound("Subproduct"));
            }
            if let Some(price) = edit.price {
                let sql = if before.imported() {
                    "UPDATE subproducts SET price = $1, price_pinned = TRUE, active = listed_upstream, updated_at = $2 WHERE id = $3"
                } else {
                    "UPDATE subproducts SET price = $1, updated_at = $2 WHERE id = $3"
                };
                sqlx::query(sql)
                    .bind(price.micros())
                    .bind(now)
                    .bind(subproduct_id)
                    .execute(&mut *tx)
                    .await?;
            }
            if let Some(name) = &edit.name {
                sqlx::query("UPDATE subproducts SET name = $1, updated_at = $2 WHERE id = $3")
                    .bind(name)
                    .bind(now)
                    .bind(subproduct_id)
                    .execute(&mut *tx)
                    .await?;
            }
            let after = tx.operator_service(number).await?.ok_or(StoreError::NotFound("Service"))?;
            tx.audit_row(&audit(&before, &after), now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            Ok((after, vec![change]))
        })
    }

    /// Shops whose name or owner's email contains `search` (or whose id it is), oldest
    /// first, a page at a time, and how many match in all.
    pub async fn console_shops(
        &self,
        search: &str,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ShopRecord>, i64)> {
        self.searched_page(
            &format!("{SHOP_SELECT} {SHOP_FILTER} ORDER BY s.created_at, s.id LIMIT $3 OFFSET $4"),
            &format!(
                "SELECT COUNT(*) FROM shops s JOIN users u ON u.id = s.owner_id {SHOP_FILTER}"
            ),
            search,
            limit,
            offset,
        )
        .await
    }

    /// One shop with its owner, listings and (shown) reviews.
    pub async fn shop_record(&self, id: &str) -> Result<ShopRecord> {
        let found: Option<ShopRecord> = on_engine!(&self.db, pool => {
            sqlx::query_as(&format!("{SHOP_SELECT} WHERE s.id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        found.ok_or(StoreError::NotFound("Shop"))
    }

    /// Reviews matching `filter`, newest first, a page at a time, and how many match.
    pub async fn console_reviews(
        &self,
        filter: &ReviewFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ConsoleReview>, i64)> {
        let shop = filter.shop_id.as_deref().unwrap_or("");
        let rating = filter.rating.unwrap_or(0);
        let hidden: i64 = match filter.hidden {
            None => -1,
            Some(false) => 0,
            Some(true) => 1,
        };
        on_engine!(&self.db, pool => {
            let rows: Vec<ConsoleReview> = sqlx::query_as(&format!(
                "{REVIEW_SELECT} {REVIEW_FILTER} ORDER BY r.created_at DESC, r.id DESC LIMIT $4 OFFSET $5"
            ))
            .bind(shop)
            .bind(rating)
            .bind(hidden)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM reviews r {REVIEW_FILTER}"))
                .bind(shop)
                .bind(rating)
                .bind(hidden)
                .fetch_one(pool)
                .await?;
            Ok((rows, total))
        })
    }

    /// One review as the console shows it.
    pub async fn review(&self, id: &str) -> Result<ConsoleReview> {
        on_engine!(&self.db, pool => {
            let mut conn = pool.acquire().await?;
            conn.console_review(id).await?.ok_or(StoreError::NotFound("Review"))
        })
    }

    /// Hides a review from buyers (or shows it again), with its audit row made by
    /// `audit` from the review before and after, in one transaction; the shop's rating
    /// follows (a catalogue change). A review already so is refused and nothing is
    /// written.
    pub async fn hide_review_audited(
        &self,
        id: &str,
        hidden: bool,
        now: i64,
        audit: impl FnOnce(&ConsoleReview, &ConsoleReview) -> NewAuditEntry + Send,
    ) -> Result<(ConsoleReview, Vec<Change>)> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.console_review(id).await?.ok_or(StoreError::NotFound("Review"))?;
            let moved = sqlx::query("UPDATE reviews SET hidden = $1 WHERE id = $2 AND hidden <> $1")
                .bind(hidden)
                .bind(id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            if moved == 0 {
                return Err(StoreError::Invalid(
                    if hidden { "The review is hidden already" } else { "The review is not hidden" }.into(),
                ));
            }
            let after = tx.console_review(id).await?.ok_or(StoreError::NotFound("Review"))?;
            tx.audit_row(&audit(&before, &after), now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            Ok((after, vec![change]))
        })
    }
}
