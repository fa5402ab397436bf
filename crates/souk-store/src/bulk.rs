//! Bulk catalogue loading, for seeding and imports: many services with their subproducts,
//! translations and stock lines in one transaction, written with multi-row INSERTs.
//!
//! The rows are the ones `create_service` followed by `add_stock_lines` (without dedupe)
//! would write, with the same checks, but a batch costs a handful of round trips and one
//! commit instead of several round trips and two commits per service. The catalogue
//! version is bumped once per batch, so every node reloads once.

use std::collections::HashMap;

use souk_core::catalogue::{EntityType, ProductType};
use souk_core::id::new_entity_id;
use souk_core::supply::SupplyError;

use crate::catalogue::{NewService, TranslationEntity};
use crate::db::{on_engine, BeginWrite};
use crate::versions::{Change, Counter, Signals};
use crate::{Result, Store, StoreError};

/// Rows per INSERT statement, kept well under both engines' bind-parameter limits
/// (PostgreSQL 65,535; SQLite 32,766).
const ROWS_PER_INSERT: usize = 500;

type TranslationRow<'a> = (&'static str, String, &'static str, &'static str, &'a str);

impl Store {
    /// Creates products and SMM services in one transaction. Each item is a service and
    /// the stock lines of its subproducts, in the order of `service.subproducts` (the list
    /// may be shorter; only inventory products may have lines; blank lines are skipped).
    /// Returns, per item and in order, the number, the entity id and the subproduct ids.
    #[allow(clippy::type_complexity)]
    pub async fn create_services(
        &self,
        items: &[(NewService, Vec<Vec<String>>)],
        now: i64,
    ) -> Result<(Vec<(i64, String, Vec<String>)>, Vec<Change>)> {
        for (s, lines) in items {
            if s.entity == EntityType::Product && s.subproducts.is_empty() {
                return Err(StoreError::Supply(SupplyError::NoSubproducts));
            }
            if lines.len() > s.subproducts.len() {
                return Err(StoreError::Invalid(
                    "More stock line lists than subproducts".into(),
                ));
            }
            let has_lines = lines.iter().flatten().any(|line| !line.trim().is_empty());
            if has_lines && s.product_type != ProductType::Inventory {
                return Err(StoreError::Supply(SupplyError::LinesNeedInventory));
            }
        }
        if items.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }

        // Everything that needs no database is prepared before the transaction: ids,
        // translation rows, sealed stock lines.
        let ids: Vec<String> = items.iter().map(|_| new_entity_id()).collect();
        let sub_ids: Vec<Vec<String>> = items
            .iter()
            .map(|(s, _)| s.subproducts.iter().map(|_| new_entity_id()).collect())
            .collect();
        let mut translations: Vec<TranslationRow> = Vec::new();
        // (item, subproduct index, sealed line, fingerprint)
        let mut lines: Vec<(usize, usize, Vec<u8>, String)> = Vec::new();
        // Stock per subproduct: accepted lines for inventory, declared capacity otherwise.
        let mut stocks: Vec<Vec<i64>> = Vec::with_capacity(items.len());
        for (i, (s, stock_lines)) in items.iter().enumerate() {
            for (field, text) in [("name", &s.name), ("description", &s.description)] {
                for (lang, value) in text.translations() {
                    translations.push((
                        TranslationEntity::Service.as_str(),
                        ids[i].clone(),
                        field,
                        lang.code(),
                        &**value,
                    ));
                }
            }
            let mut item_stock = Vec::with_capacity(s.subproducts.len());
            for (j, sp) in s.subproducts.iter().enumerate() {
                for (lang, value) in sp.name.translations() {
                    translations.push((
                        TranslationEntity::Subproduct.as_str(),
                        sub_ids[i][j].clone(),
                        "name",
                        lang.code(),
                        &**value,
                    ));
                }
                let mut accepted = 0i64;
                for line in stock_lines.get(j).into_iter().flatten() {
                    let line = line.trim();
                    if line.is_empty() {
                        continue;
                    }
                    lines.push((i, j, self.crypto.seal(line), self.crypto.fingerprint(line)));
                    accepted += 1;
                }
                item_stock.push(if s.product_type == ProductType::Inventory {
                    accepted
                } else {
                    sp.declared_stock.max(0)
                });
            }
            stocks.push(item_stock);
        }

        let (numbers, change) = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let index_of: HashMap<&str, usize> =
                ids.iter().enumerate().map(|(i, id)| (id.as_str(), i)).collect();
            let mut numbers: Vec<Option<i64>> = vec![None; items.len()];
            let indexed: Vec<(usize, &NewService)> =
                items.iter().map(|(s, _)| s).enumerate().collect();
            for chunk in indexed.chunks(ROWS_PER_INSERT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO services (id, entity, product_type, shop_id, subcategory_id, name, description, \
                     type_name, image_url, rate, min_qty, max_qty, refill, refill_days, cancel, dripfeed, recommended, \
                     created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (i, s)| {
                    b.push_bind(ids[*i].as_str())
                        .push_bind(s.entity.as_str())
                        .push_bind(s.product_type.as_str())
                        .push_bind(s.shop_id.as_str())
                        .push_bind(s.subcategory_id.as_str())
                        .push_bind(s.name.en())
                        .push_bind(s.description.en())
                        .push_bind(s.type_name.as_str())
                        .push_bind(s.image_url.as_deref())
                        .push_bind(s.rate.micros())
                        .push_bind(s.min)
                        .push_bind(s.max)
                        .push_bind(s.refill)
                        .push_bind(s.refill_days)
                        .push_bind(s.cancel)
                        .push_bind(s.dripfeed)
                        .push_bind(s.recommended)
                        .push_bind(now)
                        .push_bind(now);
                });
                // RETURNING order is not guaranteed for multi-row inserts: match by id.
                qb.push(" RETURNING number, id");
                let rows: Vec<(i64, String)> = qb.build_query_as().fetch_all(&mut *tx).await?;
                for (number, id) in rows {
                    if let Some(&i) = index_of.get(id.as_str()) {
                        numbers[i] = Some(number);
                    }
                }
            }
            let number_of = |i: usize| -> Result<i64> {
                numbers[i].ok_or_else(|| {
                    StoreError::Conflict("a bulk-inserted service was not returned".into())
                })
            };

            for chunk in translations.chunks(ROWS_PER_INSERT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO translations (entity, entity_id, field, lang, value) ",
                );
                qb.push_values(chunk, |mut b, (entity, id, field, lang, value)| {
                    b.push_bind(*entity)
                        .push_bind(id.as_str())
                        .push_bind(*field)
                        .push_bind(*lang)
                        .push_bind(*value);
                });
                qb.push(
                    " ON CONFLICT (entity, entity_id, field, lang) DO UPDATE SET value = excluded.value",
                );
                qb.build().execute(&mut *tx).await?;
            }

            let mut subproducts = Vec::new();
            for (i, (s, _)) in items.iter().enumerate() {
                for (j, sp) in s.subproducts.iter().enumerate() {
                    subproducts.push((i, j, sp, number_of(i)?));
                }
            }
            for chunk in subproducts.chunks(ROWS_PER_INSERT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO subproducts (id, service_number, name, price, min_qty, max_qty, position, stock, \
                     stock_version, created_at, updated_at) ",
                );
                qb.push_values(chunk, |mut b, (i, j, sp, number)| {
                    let stock = stocks[*i][*j];
                    // As if `add_stock_lines` had run once for a subproduct with lines.
                    let has_lines = items[*i].0.product_type == ProductType::Inventory && stock > 0;
                    b.push_bind(sub_ids[*i][*j].as_str())
                        .push_bind(*number)
                        .push_bind(sp.name.en())
                        .push_bind(sp.price.micros())
                        .push_bind(sp.min)
                        .push_bind(sp.max)
                        .push_bind(sp.position)
                        .push_bind(stock)
                        .push_bind(i64::from(has_lines))
                        .push_bind(now)
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }

            let mut line_rows = Vec::with_capacity(lines.len());
            for (i, j, content, fingerprint) in &lines {
                line_rows.push((number_of(*i)?, sub_ids[*i][*j].as_str(), content, fingerprint));
            }
            for chunk in line_rows.chunks(ROWS_PER_INSERT) {
                let mut qb = sqlx::QueryBuilder::new(
                    "INSERT INTO stock_lines (service_number, subproduct_id, content, fingerprint, created_at) ",
                );
                qb.push_values(chunk, |mut b, (number, sub_id, content, fingerprint)| {
                    b.push_bind(*number)
                        .push_bind(*sub_id)
                        .push_bind(content.as_slice())
                        .push_bind(fingerprint.as_str())
                        .push_bind(now);
                });
                qb.build().execute(&mut *tx).await?;
            }

            let change = tx.bump_version(Counter::Catalogue).await?;
            tx.commit().await?;
            let numbers: Vec<i64> = (0..items.len()).map(number_of).collect::<Result<_>>()?;
            (numbers, change)
        });
        let created = numbers
            .into_iter()
            .zip(ids)
            .zip(sub_ids)
            .map(|((number, id), subs)| (number, id, subs))
            .collect();
        Ok((created, vec![change]))
    }
}
