//! What the operator curates (SPEC 11): categories and subcategories with translations,
//! shops, supplier status, and the settings. Changes buyers can see bump the catalogue
//! version and return the `Change` for the caller to apply.

use crate::rows::row_struct;
use souk_core::supply::{self, Translation};

use crate::catalogue::CatalogueSteps;
use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::operator_audit::AuditSteps;
use crate::supplier_catalogue::{group_translations, SupplySteps, TranslationRow};
use crate::versions::{Change, Counter, Signals};
use crate::{NewAuditEntry, NewShop, Result, Store, StoreError};

/// What making a user a supplier did: their shop, the name it opened under when it is
/// new, and whether they were a supplier before.
#[derive(Clone, Debug)]
pub struct MadeSupplier {
    pub shop_id: String,
    /// `Some` when the shop was opened now.
    pub shop_name: Option<String>,
    pub was_supplier: bool,
}

/// A category or subcategory as the operator sees it (inactive ones included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CategoryRecord {
    pub id: String,
    /// The parent, for subcategories.
    pub category_id: Option<String>,
    pub slug: String,
    pub name: String,
    pub description: String,
    pub image_url: Option<String>,
    pub position: i64,
    pub active: bool,
    /// (field, lang, value)
    pub translations: Vec<(String, String, String)>,
}

/// Changes to a category or subcategory; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct CategoryPatch {
    pub slug: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)` removes the image.
    pub image_url: Option<Option<String>>,
    pub position: Option<i64>,
    pub active: Option<bool>,
    /// Subcategories only: move under another category.
    pub category_id: Option<String>,
    pub translations: Vec<Translation>,
}

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ShopRecord {
        pub id: String,
        pub owner_id: String,
        pub owner_email: String,
        pub name: String,
        pub active: bool,
        pub created_at: i64,
        pub listings: i64,
        pub review_count: i64,
        pub rating_sum: i64,
    }
}

type CategoryRow = (
    String,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    i64,
    bool,
);

/// Which table a category-like record lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Category,
    Subcategory,
}

impl Level {
    fn table(self) -> &'static str {
        match self {
            Level::Category => "categories",
            Level::Subcategory => "subcategories",
        }
    }

    fn entity(self) -> &'static str {
        match self {
            Level::Category => "category",
            Level::Subcategory => "subcategory",
        }
    }

    /// The name the level's records go by in a refusal ("Category not found").
    pub fn what(self) -> &'static str {
        match self {
            Level::Category => "Category",
            Level::Subcategory => "Subcategory",
        }
    }
}

tx_steps! {
    /// The operator's records, inside a transaction.
    trait RecordSteps {
        /// One category or subcategory with its translations, if it exists.
        async fn category_record(&mut self, level: Level, id: &str) -> Result<Option<CategoryRecord>> {
            let parent_column = match level {
                Level::Category => "CAST(NULL AS TEXT)",
                Level::Subcategory => "category_id",
            };
            let row: Option<CategoryRow> = sqlx::query_as(&format!(
                "SELECT id, {parent_column}, slug, name, description, image_url, position, active FROM {} WHERE id = $1",
                level.table()
            ))
            .bind(id)
            .fetch_optional(&mut *self)
            .await?;
            let Some((id, category_id, slug, name, description, image_url, position, active)) = row else {
                return Ok(None);
            };
            let translations: Vec<(String, String, String)> = sqlx::query_as(
                "SELECT field, lang, value FROM translations WHERE entity = $1 AND entity_id = $2 ORDER BY field, lang",
            )
            .bind(level.entity())
            .bind(&id)
            .fetch_all(&mut *self)
            .await?;
            Ok(Some(CategoryRecord {
                id,
                category_id,
                slug,
                name,
                description,
                image_url,
                position,
                active,
                translations,
            }))
        }
    }
}

impl Store {
    /// Every category (or subcategory, optionally of one category), by position then
    /// name, with translations.
    pub async fn categories_of(
        &self,
        level: Level,
        parent: Option<&str>,
    ) -> Result<Vec<CategoryRecord>> {
        let parent_column = match level {
            Level::Category => "CAST(NULL AS TEXT)",
            Level::Subcategory => "category_id",
        };
        let filter = match (level, parent) {
            (Level::Subcategory, Some(_)) => "WHERE category_id = $1",
            _ => "WHERE $1 = $1",
        };
        let sql = format!(
            "SELECT id, {parent_column}, slug, name, description, image_url, position, active FROM {} {filter} \
             ORDER BY position, name, id",
            level.table()
        );
        let (rows, translations) = on_engine!(&self.db, pool => {
            let rows: Vec<CategoryRow> = sqlx::query_as(&sql)
                .bind(parent.unwrap_or(""))
                .fetch_all(pool)
                .await?;
            let translations: Vec<TranslationRow> = sqlx::query_as(
                "SELECT entity, entity_id, field, lang, value FROM translations WHERE entity = $1 \
                 ORDER BY entity_id, field, lang",
            )
            .bind(level.entity())
            .fetch_all(pool)
            .await?;
            (rows, translations)
        });
        let mut texts = group_translations(translations);
        Ok(rows
            .into_iter()
            .map(
                |(id, category_id, slug, name, description, image_url, position, active)| {
                    CategoryRecord {
                        translations: texts.remove(&id).unwrap_or_default(),
                        id,
                        category_id,
                        slug,
                        name,
                        description,
                        image_url,
                        position,
                        active,
                    }
                },
            )
            .collect())
    }

    /// Updates a category or subcategory.
    pub async fn update_category(
        &self,
        level: Level,
        id: &str,
        patch: &CategoryPatch,
    ) -> Result<Vec<Change>> {
        let (_, changes) = self
            .update_category_audited(level, id, patch, 0, |_, _| None)
            .await?;
        Ok(changes)
    }

    /// `update_category` with the audit row `audit` makes of the record before and after
    /// (both read in the transaction), written in the transaction of the change (none for
    /// `None`). Answers the record as stored.
    pub async fn update_category_audited(
        &self,
        level: Level,
        id: &str,
        patch: &CategoryPatch,
        now: i64,
        audit: impl FnOnce(&CategoryRecord, &CategoryRecord) -> Option<NewAuditEntry> + Send,
    ) -> Result<(CategoryRecord, Vec<Change>)> {
        if let Some(slug) = &patch.slug {
            supply::check_slug(slug)?;
        }
        if level == Level::Category && patch.category_id.is_some() {
            return Err(StoreError::Invalid(
                "A category has no parent category".into(),
            ));
        }
        let table = level.table();
        let update = format!(
            "UPDATE {table} SET slug = $1, name = $2, description = $3, image_url = $4, position = $5, active = $6 \
             WHERE id = $7"
        );
        let result: Result<(CategoryRecord, Vec<Change>)> = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before = tx.category_record(level, id).await?.ok_or(StoreError::NotFound(level.what()))?;
            if let Some(parent) = &patch.category_id {
                let found: Option<(String,)> = sqlx::query_as("SELECT id FROM categories WHERE id = $1")
                    .bind(parent)
                    .fetch_optional(&mut *tx)
                    .await?;
                if found.is_none() {
                    return Err(StoreError::NotFound("Category"));
                }
                sqlx::query("UPDATE subcategories SET category_id = $1 WHERE id = $2")
                    .bind(parent)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(&update)
                .bind(patch.slug.as_ref().unwrap_or(&before.slug))
                .bind(patch.name.as_ref().unwrap_or(&before.name))
                .bind(patch.description.as_ref().unwrap_or(&before.description))
                .bind(patch.image_url.as_ref().unwrap_or(&before.image_url))
                .bind(patch.position.unwrap_or(before.position))
                .bind(patch.active.unwrap_or(before.active))
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.apply_translations(level.entity(), id, &patch.translations).await?;
            let after = tx.category_record(level, id).await?.ok_or(StoreError::NotFound(level.what()))?;
            if let Some(entry) = audit(&before, &after) {
                tx.audit_row(&entry, now).await?;
            }
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            Ok((after, vec![change]))
        });
        result.map_err(|e| {
            if e.is_unique_violation() {
                StoreError::Conflict(format!(
                    "The slug {} is already in use",
                    patch.slug.as_deref().unwrap_or("")
                ))
            } else {
                e
            }
        })
    }

    /// Every shop with its owner, listing count and reviews.
    pub async fn all_shops(&self) -> Result<Vec<ShopRecord>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT s.id, s.owner_id, u.email AS owner_email, s.name, s.active, s.created_at, \
                 (SELECT COUNT(*) FROM services v WHERE v.shop_id = s.id) AS listings, \
                 (SELECT COUNT(*) FROM reviews r WHERE r.shop_id = s.id AND NOT r.hidden) AS review_count, \
                 CAST(COALESCE((SELECT SUM(r.rating) FROM reviews r WHERE r.shop_id = s.id AND NOT r.hidden), 0) AS BIGINT) AS rating_sum \
                 FROM shops s JOIN users u ON u.id = s.owner_id ORDER BY s.created_at, s.id",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Renames a shop or hides it (and everything it lists) from buyers.
    pub async fn update_shop(
        &self,
        id: &str,
        name: Option<&str>,
        active: Option<bool>,
    ) -> Result<Vec<Change>> {
        self.update_shop_audited(id, name, active, 0, |_, _| None)
            .await
    }

    /// `update_shop` with the audit row `audit` makes of the shop's (name, active)
    /// before and after, written in the transaction of the change (none for `None`).
    pub async fn update_shop_audited(
        &self,
        id: &str,
        name: Option<&str>,
        active: Option<bool>,
        now: i64,
        audit: impl FnOnce((&str, bool), (&str, bool)) -> Option<NewAuditEntry> + Send,
    ) -> Result<Vec<Change>> {
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Option<(String, bool)> = sqlx::query_as("SELECT name, active FROM shops WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let (old_name, old_active) = before.ok_or(StoreError::NotFound("Shop"))?;
            sqlx::query(
                "UPDATE shops SET name = COALESCE($1, name), active = COALESCE($2, active) WHERE id = $3",
            )
            .bind(name)
            .bind(active)
            .bind(id)
            .execute(&mut *tx)
            .await?;
            let after = (name.unwrap_or(&old_name), active.unwrap_or(old_active));
            if let Some(entry) = audit((&old_name, old_active), after) {
                tx.audit_row(&entry, now).await?;
            }
            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            vec![change]
        }))
    }

    /// Makes a user a supplier, in one transaction: with their first shop if they have
    /// one, else a new shop named `shop_name` (checked only then; without one, named after
    /// the email the user has on record). Answers the shop's id and the changes caches
    /// must follow; `audit` makes the row of what it did, written in that transaction.
    pub async fn make_supplier_audited(
        &self,
        user_id: &str,
        shop_name: Option<&str>,
        now: i64,
        audit: impl FnOnce(&MadeSupplier) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, Vec<Change>)> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let user: Option<(bool, String)> = sqlx::query_as("SELECT is_supplier, email FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((was_supplier, email)) = user else {
                return Err(StoreError::NotFound("User"));
            };
            let first: Option<(String,)> = sqlx::query_as(
                "SELECT id FROM shops WHERE owner_id = $1 ORDER BY created_at, id LIMIT 1",
            )
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (made, changes) = match first {
                Some((shop_id,)) => {
                    let changes: Vec<Change> = tx.promote_to_supplier(user_id).await?.into_iter().collect();
                    (MadeSupplier { shop_id, shop_name: None, was_supplier }, changes)
                }
                None => {
                    let shop = NewShop {
                        owner_id: user_id.to_owned(),
                        name: match shop_name {
                            Some(name) => supply::check_name("shopName", name)?,
                            None => supply::default_shop_name(&email),
                        },
                    };
                    let shop_id = souk_core::id::new_entity_id();
                    let changes = tx.open_shop(&shop_id, &shop, now).await?;
                    (MadeSupplier { shop_id, shop_name: Some(shop.name), was_supplier }, changes)
                }
            };
            if let Some(entry) = audit(&made) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok((made.shop_id, changes))
        })
    }

    /// Every operator setting with its value in effect (stored, else the default).
    pub async fn settings(&self) -> Result<Vec<(String, String)>> {
        let stored: Vec<(String, String)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT key, value FROM settings").fetch_all(pool).await?
        });
        Ok(supply::SETTINGS
            .iter()
            .map(|(key, default)| {
                let value = stored
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or(*default, |(_, v)| v.as_str());
                ((*key).to_owned(), value.to_owned())
            })
            .collect())
    }
}
