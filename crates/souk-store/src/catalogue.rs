//! The catalogue in the store: snapshot loading for the caches, and the writes that the
//! demo loader, the operator and suppliers make. Every write bumps the catalogue version.

use souk_core::catalogue::{EntityType, ProductType};
use souk_core::id::new_entity_id;
use souk_core::{Money, Text};

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::operator_audit::AuditSteps;
use crate::providers::SyncSteps;
use crate::versions::{Change, Counter, Signals};
use crate::{NewAuditEntry, Result, Store, StoreError};

/// Which table a translation belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TranslationEntity {
    Category,
    Subcategory,
    Service,
    Subproduct,
    SmsProject,
    SmsCountry,
}

impl TranslationEntity {
    pub fn as_str(self) -> &'static str {
        match self {
            TranslationEntity::Category => "category",
            TranslationEntity::Subcategory => "subcategory",
            TranslationEntity::Service => "service",
            TranslationEntity::Subproduct => "subproduct",
            TranslationEntity::SmsProject => "sms_project",
            TranslationEntity::SmsCountry => "sms_country",
        }
    }
}

#[derive(Clone, Debug)]
pub struct NewCategory {
    pub slug: String,
    pub name: Text,
    pub description: Text,
    pub image_url: Option<String>,
    pub position: i64,
}

#[derive(Clone, Debug)]
pub struct NewSubcategory {
    pub category_id: String,
    pub slug: String,
    pub name: Text,
    pub description: Text,
    pub image_url: Option<String>,
    pub position: i64,
}

#[derive(Clone, Debug)]
pub struct NewShop {
    pub owner_id: String,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct NewSubproduct {
    pub name: Text,
    pub price: Money,
    pub min: i64,
    pub max: i64,
    pub position: i64,
    /// Declared capacity for manual and auto products; inventory stock comes from lines.
    pub declared_stock: i64,
}

#[derive(Clone, Debug)]
pub struct NewService {
    pub entity: EntityType,
    pub product_type: ProductType,
    pub shop_id: String,
    pub subcategory_id: String,
    pub name: Text,
    pub description: Text,
    pub type_name: String,
    pub image_url: Option<String>,
    /// SMM: per 1000 units.
    pub rate: Money,
    pub min: i64,
    pub max: i64,
    pub refill: bool,
    pub refill_days: Option<i64>,
    pub cancel: bool,
    pub dripfeed: bool,
    pub recommended: bool,
    pub subproducts: Vec<NewSubproduct>,
}

tx_steps! {
    /// The catalogue's shared steps, inside a transaction.
    pub(crate) trait CatalogueSteps {
        /// Opens shop `id`; its owner is a supplier from then on (their cached keys
        /// dropped everywhere if they were not one before).
        async fn open_shop(&mut self, id: &str, s: &NewShop, now: i64) -> Result<Vec<Change>> {
            sqlx::query("INSERT INTO shops (id, owner_id, name, created_at) VALUES ($1, $2, $3, $4)")
                .bind(id)
                .bind(&s.owner_id)
                .bind(&s.name)
                .bind(now)
                .execute(&mut *self)
                .await?;
            let mut changes = vec![self.bump_version(Counter::Catalogue).await?];
            changes.extend(self.promote_to_supplier(&s.owner_id).await?);
            Ok(changes)
        }

        /// Makes a user a supplier; the change their cached keys must follow, if they
        /// were not one already.
        async fn promote_to_supplier(&mut self, user_id: &str) -> Result<Option<Change>> {
            let promoted = sqlx::query("UPDATE users SET is_supplier = TRUE WHERE id = $1 AND NOT is_supplier")
                .bind(user_id)
                .execute(&mut *self)
                .await?;
            Ok(if promoted.rows_affected() > 0 {
                Some(self.bump_version(Counter::Auth).await?)
            } else {
                None
            })
        }

        /// Replaces the translations of one entity's field.
        async fn write_text(&mut self, entity: TranslationEntity, id: &str, field: &str, text: &Text) -> Result<()> {
            for (lang, value) in text.translations() {
                sqlx::query(
                    "INSERT INTO translations (entity, entity_id, field, lang, value) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (entity, entity_id, field, lang) DO UPDATE SET value = excluded.value",
                )
                .bind(entity.as_str())
                .bind(id)
                .bind(field)
                .bind(lang.code())
                .bind(&**value)
                .execute(&mut *self)
                .await?;
            }
            Ok(())
        }

        /// One subproduct of service `number` with its name's translations. Its stock is
        /// the declared capacity, unless inventory lines stock it.
        async fn insert_subproduct(
            &mut self,
            id: &str,
            number: i64,
            sp: &NewSubproduct,
            product_type: ProductType,
            now: i64,
        ) -> Result<()> {
            let stock = if product_type == ProductType::Inventory { 0 } else { sp.declared_stock.max(0) };
            sqlx::query(
                "INSERT INTO subproducts (id, service_number, name, price, min_qty, max_qty, position, stock, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)",
            )
            .bind(id)
            .bind(number)
            .bind(sp.name.en())
            .bind(sp.price.micros())
            .bind(sp.min)
            .bind(sp.max)
            .bind(sp.position)
            .bind(stock)
            .bind(now)
            .execute(&mut *self)
            .await?;
            self.write_text(TranslationEntity::Subproduct, id, "name", &sp.name).await
        }

        /// `NotFound(what)` unless `sql` (selecting by `$1`) finds a row, so an unknown id
        /// is a clear error instead of a foreign-key failure.
        async fn require_row(&mut self, sql: &str, id: &str, what: &'static str) -> Result<()> {
            let found: Option<(String,)> = sqlx::query_as(sql)
                .bind(id)
                .fetch_optional(&mut *self)
                .await?;
            if found.is_none() {
                return Err(StoreError::NotFound(what));
            }
            Ok(())
        }
    }
}

impl Store {
    pub async fn create_category(
        &self,
        c: &NewCategory,
        now: i64,
    ) -> Result<(String, Vec<Change>)> {
        self.insert_category(c, true, now).await
    }

    /// Creates a category, shown to buyers only when `active`. A slug in use is a
    /// `Conflict`.
    pub async fn insert_category(
        &self,
        c: &NewCategory,
        active: bool,
        now: i64,
    ) -> Result<(String, Vec<Change>)> {
        self.insert_category_audited(c, active, now, |_| None).await
    }

    /// `insert_category` with the audit row `audit` makes of the new category's id,
    /// written in the transaction that creates it (none for `None`).
    pub async fn insert_category_audited(
        &self,
        c: &NewCategory,
        active: bool,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, Vec<Change>)> {
        let id = new_entity_id();
        let change = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let inserted = sqlx::query(
                "INSERT INTO categories (id, slug, name, description, image_url, position, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (slug) DO NOTHING",
            )
            .bind(&id)
            .bind(&c.slug)
            .bind(c.name.en())
            .bind(c.description.en())
            .bind(&c.image_url)
            .bind(c.position)
            .bind(active)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("A category with slug {} already exists", c.slug)));
            }
            tx.write_text(TranslationEntity::Category, &id, "name", &c.name).await?;
            tx.write_text(TranslationEntity::Category, &id, "description", &c.description).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            change
        });
        Ok((id, vec![change]))
    }

    pub async fn create_subcategory(
        &self,
        c: &NewSubcategory,
        now: i64,
    ) -> Result<(String, Vec<Change>)> {
        self.insert_subcategory(c, true, now).await
    }

    /// Creates a subcategory, shown to buyers only when `active`. A slug in use within
    /// the category is a `Conflict`.
    pub async fn insert_subcategory(
        &self,
        c: &NewSubcategory,
        active: bool,
        now: i64,
    ) -> Result<(String, Vec<Change>)> {
        self.insert_subcategory_audited(c, active, now, |_| None)
            .await
    }

    /// `insert_subcategory` with the audit row `audit` makes of the new subcategory's
    /// id, written in the transaction that creates it (none for `None`).
    pub async fn insert_subcategory_audited(
        &self,
        c: &NewSubcategory,
        active: bool,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, Vec<Change>)> {
        let id = new_entity_id();
        let change = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.require_row("SELECT id FROM categories WHERE id = $1", &c.category_id, "Category").await?;
            let inserted = sqlx::query(
                "INSERT INTO subcategories (id, category_id, slug, name, description, image_url, position, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (category_id, slug) DO NOTHING",
            )
            .bind(&id)
            .bind(&c.category_id)
            .bind(&c.slug)
            .bind(c.name.en())
            .bind(c.description.en())
            .bind(&c.image_url)
            .bind(c.position)
            .bind(active)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!(
                    "A subcategory with slug {} already exists in this category",
                    c.slug
                )));
            }
            tx.write_text(TranslationEntity::Subcategory, &id, "name", &c.name).await?;
            tx.write_text(TranslationEntity::Subcategory, &id, "description", &c.description).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            change
        });
        Ok((id, vec![change]))
    }

    /// Opens a shop; its owner is a supplier from then on (their cached keys are dropped
    /// everywhere if they were not one before).
    pub async fn create_shop(&self, s: &NewShop, now: i64) -> Result<(String, Vec<Change>)> {
        self.create_shop_audited(s, now, |_| None).await
    }

    /// `create_shop` with the audit row `audit` makes of the new shop's id, written in
    /// the transaction that opens it (none for `None`).
    pub async fn create_shop_audited(
        &self,
        s: &NewShop,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, Vec<Change>)> {
        let id = new_entity_id();
        let changes = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.require_row("SELECT id FROM users WHERE id = $1", &s.owner_id, "User").await?;
            let changes = tx.open_shop(&id, s, now).await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            changes
        });
        Ok((id, changes))
    }

    /// A review not tied to an order (imported or demo); order reviews come with orders.
    pub async fn add_shop_review(
        &self,
        shop_id: &str,
        rating: i64,
        text: &str,
        now: i64,
    ) -> Result<Vec<Change>> {
        if !(1..=5).contains(&rating) {
            return Err(StoreError::Invalid("Rating must be between 1 and 5".into()));
        }
        let change = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("INSERT INTO reviews (id, shop_id, rating, text, created_at) VALUES ($1, $2, $3, $4, $5)")
                .bind(new_entity_id())
                .bind(shop_id)
                .bind(rating)
                .bind(text)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            change
        });
        Ok(vec![change])
    }

    /// Creates a product or SMM service with its subproducts. Returns the number, the
    /// entity id and the subproduct ids in the order given.
    pub async fn create_service(
        &self,
        s: &NewService,
        now: i64,
    ) -> Result<(i64, String, Vec<String>, Vec<Change>)> {
        self.create_service_with(s, None, now).await
    }

    /// `create_service` for a service imported from a provider: the service, its
    /// binding to the provider, which variants sell and the import's log notes are one
    /// transaction, so no node ever sees an auto service without its provider or a
    /// variant on sale before it was held back.
    pub(crate) async fn create_service_with(
        &self,
        s: &NewService,
        upstream: Option<&crate::providers::ImportBinding<'_>>,
        now: i64,
    ) -> Result<(i64, String, Vec<String>, Vec<Change>)> {
        if s.entity == EntityType::Product && s.subproducts.is_empty() {
            return Err(StoreError::Invalid(
                "A product needs at least one subproduct".into(),
            ));
        }
        let id = new_entity_id();
        let (number, sub_ids, change) = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.require_row("SELECT id FROM subcategories WHERE id = $1", &s.subcategory_id, "Subcategory").await?;
            tx.require_row("SELECT id FROM shops WHERE id = $1", &s.shop_id, "Shop").await?;
            let (number,): (i64,) = sqlx::query_as(
                "INSERT INTO services (id, entity, product_type, shop_id, subcategory_id, name, description, \
                 type_name, image_url, rate, min_qty, max_qty, refill, refill_days, cancel, dripfeed, recommended, \
                 created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
                 RETURNING number",
            )
            .bind(&id)
            .bind(s.entity.as_str())
            .bind(s.product_type.as_str())
            .bind(&s.shop_id)
            .bind(&s.subcategory_id)
            .bind(s.name.en())
            .bind(s.description.en())
            .bind(&s.type_name)
            .bind(&s.image_url)
            .bind(s.rate.micros())
            .bind(s.min)
            .bind(s.max)
            .bind(s.refill)
            .bind(s.refill_days)
            .bind(s.cancel)
            .bind(s.dripfeed)
            .bind(s.recommended)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            tx.write_text(TranslationEntity::Service, &id, "name", &s.name).await?;
            tx.write_text(TranslationEntity::Service, &id, "description", &s.description).await?;
            let mut sub_ids = Vec::with_capacity(s.subproducts.len());
            for sp in &s.subproducts {
                let sub_id = new_entity_id();
                tx.insert_subproduct(&sub_id, number, sp, s.product_type, now).await?;
                sub_ids.push(sub_id);
            }
            if let Some(b) = upstream {
                sqlx::query(
                    "UPDATE services SET provider_id = $1, provider_service = $2, provider_rate = $3, \
                     provider_markup_bp = $4, provider_round = $5 WHERE number = $6",
                )
                .bind(b.provider_id)
                .bind(b.provider_service)
                .bind(b.provider_rate.micros())
                .bind(b.markup.basis_points)
                .bind(b.markup.round_to)
                .bind(number)
                .execute(&mut *tx)
                .await?;
                for ((upstream_id, active), sub_id) in b.variants.iter().zip(&sub_ids) {
                    sqlx::query("UPDATE subproducts SET provider_ref = $1, active = $2 WHERE id = $3")
                        .bind(upstream_id)
                        .bind(*active)
                        .bind(sub_id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.log_sync(b.provider_id, number, &b.notes, now).await?;
            }
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            (number, sub_ids, change)
        });
        Ok((number, id, sub_ids, vec![change]))
    }
}
