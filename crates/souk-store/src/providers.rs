//! Upstream providers: their settings (keys sealed at rest), the services they list, and
//! the local services imported from them.

use crate::rows::row_struct;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::id::new_entity_id;
use souk_core::rate_source::RateSource;
use souk_core::{Money, Text};

use crate::catalogue::{NewService, NewSubproduct};
use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::events::EventSteps;
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::versions::{Change, Counter, Signals};
use crate::{Result, Store, StoreError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewProvider {
    pub name: String,
    pub url: String,
    pub key: String,
    /// `api_v2` or `sms_activate`.
    pub protocol: String,
    pub timeout_ms: i64,
    pub requests_per_second: i64,
    pub supports_idempotency: bool,
}

#[derive(Clone, PartialEq, Eq)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub protocol: String,
    pub url: String,
    /// The provider's API key, opened.
    pub key: String,
    pub enabled: bool,
    pub timeout_ms: i64,
    pub requests_per_second: i64,
    pub supports_idempotency: bool,
    pub balance: Option<Money>,
    pub balance_checked_at: Option<i64>,
    pub shop_id: Option<String>,
    /// Since when its syncs fail (none: healthy).
    pub failing_since: Option<i64>,
    /// The currency it bills in and its rate (ours per one of its), when not ours.
    pub currency: Option<(String, Money)>,
    /// Where its rate is read on each sync, when the operator named a source.
    pub rate_source: Option<RateSource>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("url", &self.url)
            .field("key", &"***")
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// What the operator may change on a provider; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProviderPatch {
    pub name: Option<String>,
    pub url: Option<String>,
    pub key: Option<String>,
    pub enabled: Option<bool>,
    pub timeout_ms: Option<i64>,
    pub requests_per_second: Option<i64>,
    pub supports_idempotency: Option<bool>,
    /// `Some(Some((code, rate)))` bills in another currency; `Some(None)` in ours.
    pub currency: Option<Option<(String, Money)>>,
    /// `Some(Some(source))` reads the rate from a source on each sync; `Some(None)` stops.
    pub rate_source: Option<Option<RateSource>>,
}

/// A provider's service as last seen (input to import and sync).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderService {
    pub external_service: String,
    pub entity: EntityType,
    pub name: String,
    pub type_name: String,
    pub category: String,
    pub description: String,
    pub rate: Money,
    pub min: i64,
    pub max: i64,
    pub refill: bool,
    pub cancel: bool,
    pub dripfeed: bool,
    pub stock: Option<i64>,
    /// Products: (upstream subproduct id, name, stock).
    pub subproducts: Vec<(String, String, i64)>,
    /// The upstream's subcategory under `category`, when it publishes one (marketplaces).
    pub subcategory: Option<String>,
    /// How `rate` was converted from the provider's currency (`0.90 EUR x 1.08`).
    pub converted: Option<String>,
    /// The names the upstream publishes per language (marketplaces): of the service,
    /// its category and its subcategory; only those that differ from English.
    pub translations: ImportTranslations,
}

/// Names in other languages, as an upstream publishes them for `lang`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImportTranslations {
    pub name: Vec<(souk_core::Lang, String)>,
    pub category: Vec<(souk_core::Lang, String)>,
    pub subcategory: Vec<(souk_core::Lang, String)>,
}

/// `en` with its translations.
fn translated(en: &str, translations: &[(souk_core::Lang, String)]) -> Text {
    let mut text = Text::new(en);
    for (lang, value) in translations {
        text.set(*lang, value.clone());
    }
    text
}

// The pricing rule lives with the other rules; kept here by name for the store's callers.
pub use souk_core::markup::Markup;

/// What one sync changed, for the log and the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub seen: usize,
    pub updated: Vec<String>,
    pub disabled: Vec<String>,
    pub changes: Vec<Change>,
}

/// An imported service as sync reads it: number, upstream id, entity, rate, min, max,
/// active, markup (bp), rounding step.
type ImportedRow = (i64, String, String, i64, i64, i64, bool, i64, i64);

/// An imported product's variant as sync reads it: id, name, price, min, max, active,
/// stock, upstream id ('' when imported without one), price pinned, listed upstream.
type VariantRow = (String, String, i64, i64, i64, bool, i64, String, bool, bool);

const IMPORTED_VARIANT_SELECT: &str =
    "SELECT p.id, s.number AS service, s.name AS product, p.name, COALESCE(p.provider_ref, '') AS upstream_id, \
     p.price, p.price_pinned, p.active, p.listed_upstream, p.stock \
     FROM subproducts p JOIN services s ON s.number = p.service_number";

row_struct! {
    /// A variant of an imported product, as the operator reviews its price.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ImportedVariant {
        pub id: String,
        pub service: i64,
        pub product: String,
        pub name: String,
        /// The provider's id for it ('' for a product imported without variants).
        pub upstream_id: String,
        pub price: i64,
        /// Set by the operator; otherwise the product's published price (primary only).
        pub price_pinned: bool,
        pub active: bool,
        pub listed_upstream: bool,
        pub stock: i64,
    }
}

row_struct! {
    struct ProviderRow {
        id: String,
        name: String,
        protocol: String,
        url: String,
        api_key_enc: Vec<u8>,
        enabled: bool,
        timeout_ms: i64,
        requests_per_second: i64,
        supports_idempotency: bool,
        balance: Option<i64>,
        balance_checked_at: Option<i64>,
        shop_id: Option<String>,
        failing_since: Option<i64>,
        currency: Option<String>,
        currency_rate: Option<i64>,
        rate_url: Option<String>,
        rate_pointer: Option<String>,
        rate_inverse: bool,
    }
}

const PROVIDER_COLUMNS: &str =
    "id, name, protocol, url, api_key_enc, enabled, timeout_ms, requests_per_second, \
     supports_idempotency, balance, balance_checked_at, shop_id, failing_since, currency, currency_rate, \
     rate_url, rate_pointer, rate_inverse";

fn validate_url(url: &str) -> Result<()> {
    if souk_core::web_url::web_url(url, 2048).is_ok() {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "Provider URL must be http(s)://...: {url}"
        )))
    }
}

/// The log line of an imported variant that is not sold because its price is unknown.
fn held_back(name: &str) -> String {
    format!(
        "variant {name:?} held back: the provider publishes no price for it; price it to sell it"
    )
}

/// What binds a service being imported to its provider (`Store::create_service_with`).
pub(crate) struct ImportBinding<'a> {
    pub provider_id: &'a str,
    pub provider_service: &'a str,
    pub provider_rate: Money,
    pub markup: Markup,
    /// Per subproduct, in order: its upstream id and whether it is on sale.
    pub variants: Vec<(String, bool)>,
    /// The import's lines in the provider's log.
    pub notes: Vec<String>,
}

tx_steps! {
    /// Imports and syncs from providers, inside a write transaction.
    pub(crate) trait SyncSteps {
        /// One `sync_log` row per note.
        async fn log_sync(&mut self, provider: &str, number: i64, notes: &[String], now: i64) -> Result<()> {
            for note in notes {
                sqlx::query(
                    "INSERT INTO sync_log (provider_id, service_number, change, created_at) VALUES ($1, $2, $3, $4)",
                )
                .bind(provider)
                .bind(number)
                .bind(note)
                .bind(now)
                .execute(&mut *self)
                .await?;
            }
            Ok(())
        }

        /// An imported product's variants in line with the upstream's. The API publishes
        /// one price per product, its primary variant's (the first `inventory` lists), so
        /// only that variant follows the row's price (`rate`, marked up); another is sold
        /// only at a price the operator set (`price_pinned`), and held back until then.
        /// Every variant gets the row's limits and its stock from `inventory` (a variant
        /// imported without an upstream id is the primary and follows the row's stock);
        /// variants the upstream no longer lists are disabled, ones it lists again
        /// re-enabled, ones it lists for the first time added. Adds a note per change;
        /// answers (whether the catalogue changed, the stock changes to announce).
        async fn sync_variants(
            &mut self,
            number: i64,
            remote: &ProviderService,
            rate: Money,
            limits: (i64, i64),
            notes: &mut Vec<String>,
            now: i64,
        ) -> Result<(bool, Vec<Change>)> {
            let (min_qty, max_qty) = limits;
            let variants: Vec<VariantRow> = sqlx::query_as(
                "SELECT id, name, price, min_qty, max_qty, active, stock, COALESCE(provider_ref, ''), price_pinned, listed_upstream \
                 FROM subproducts WHERE service_number = $1 ORDER BY position, id",
            )
            .bind(number)
            .fetch_all(&mut *self)
            .await?;
            let primary_ref = remote.subproducts.first().map(|(r, _, _)| r.as_str());
            let mut changed = false;
            let mut stock_changes = Vec::new();
            if let Some(v) = variants.iter().find(|v| !v.8 && v.2 != rate.micros()) {
                notes.push(format!("price {} -> {}", Money::from_micros(v.2).display2(), rate.display2()));
            }
            for (id, name, price, min, max, active, stock, upstream_ref, pinned, was_listed) in &variants {
                let upstream = if upstream_ref.is_empty() {
                    Some(remote.stock.unwrap_or(remote.max).max(0))
                } else {
                    remote.subproducts.iter().find(|(r, _, _)| r == upstream_ref).map(|(_, _, s)| (*s).max(0))
                };
                let listed = upstream.is_some();
                let primary = upstream_ref.is_empty() || primary_ref == Some(upstream_ref.as_str());
                let priced = primary || *pinned;
                let sold = listed && priced;
                let new_price = if *pinned { *price } else { rate.micros() };
                if sold != *active {
                    notes.push(if sold {
                        format!("variant {name:?} re-enabled")
                    } else if !listed {
                        format!("variant {name:?} disabled: no longer listed upstream")
                    } else {
                        held_back(name)
                    });
                }
                if *price != new_price || *min != min_qty || *max != max_qty || sold != *active || listed != *was_listed {
                    sqlx::query(
                        "UPDATE subproducts SET price = $1, min_qty = $2, max_qty = $3, active = $4, listed_upstream = $5, \
                         updated_at = $6 WHERE id = $7",
                    )
                    .bind(new_price)
                    .bind(min_qty)
                    .bind(max_qty)
                    .bind(sold)
                    .bind(listed)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *self)
                    .await?;
                    changed = true;
                }
                if let Some(new_stock) = upstream.filter(|s| s != stock) {
                    let (version, stock_now): (i64, i64) = sqlx::query_as(
                        "UPDATE subproducts SET stock = $1, stock_version = stock_version + 1, updated_at = $2 \
                         WHERE id = $3 RETURNING stock_version, stock",
                    )
                    .bind(new_stock)
                    .bind(now)
                    .bind(id)
                    .fetch_one(&mut *self)
                    .await?;
                    notes.push(format!("stock of {name:?} {stock} -> {stock_now}"));
                    let change = Change::Stock { subproduct: id.clone(), version, stock: stock_now };
                    self.notify(&change).await?;
                    stock_changes.push(change);
                }
            }
            // Variants new upstream join at the end: sold at once if the provider made one its
            // primary, held back for a price otherwise.
            let mut position = variants.len() as i64;
            for (i, (upstream_ref, name, stock)) in remote.subproducts.iter().enumerate() {
                if upstream_ref.is_empty() || variants.iter().any(|v| &v.7 == upstream_ref) {
                    continue;
                }
                position += 1;
                let sold = i == 0;
                sqlx::query(
                    "INSERT INTO subproducts (id, service_number, name, price, min_qty, max_qty, position, active, stock, \
                     provider_ref, listed_upstream, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE, $11, $11)",
                )
                .bind(new_entity_id())
                .bind(number)
                .bind(name)
                .bind(rate.micros())
                .bind(min_qty)
                .bind(max_qty)
                .bind(position)
                .bind(sold)
                .bind((*stock).max(0))
                .bind(upstream_ref)
                .bind(now)
                .execute(&mut *self)
                .await?;
                notes.push(if sold { format!("variant {name:?} added") } else { held_back(name) });
                changed = true;
            }
            Ok((changed, stock_changes))
        }
    }
}

/// A slug for an imported category or subcategory: its name in ASCII words, made unique.
fn import_slug(name: &str) -> String {
    let base: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect::<String>()
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    format!(
        "{}-{}",
        if base.is_empty() { "imported" } else { &base },
        &new_entity_id()[18..]
    )
}

/// How long calls to a provider fail before the operator is told (`provider.failing`).
pub const PROVIDER_FAILING_MS: i64 = 15 * 60_000;

/// The kind of call to a provider that failed, as `provider.failing` says it (`reason`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProviderCall {
    /// The periodic catalogue and balance sync.
    Sync,
    /// Sending an order.
    Send,
    /// Polling orders' statuses.
    Status,
}

impl ProviderCall {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderCall::Sync => "sync",
            ProviderCall::Send => "send",
            ProviderCall::Status => "status",
        }
    }
}

impl Store {
    fn provider_from_row(&self, r: ProviderRow) -> Result<Provider> {
        Ok(Provider {
            key: self.crypto.open(&r.api_key_enc)?,
            id: r.id,
            name: r.name,
            protocol: r.protocol,
            url: r.url,
            enabled: r.enabled,
            timeout_ms: r.timeout_ms,
            requests_per_second: r.requests_per_second,
            supports_idempotency: r.supports_idempotency,
            balance: r.balance.map(Money::from_micros),
            balance_checked_at: r.balance_checked_at,
            shop_id: r.shop_id,
            failing_since: r.failing_since,
            currency: r.currency.zip(r.currency_rate.map(Money::from_micros)),
            rate_source: r
                .rate_url
                .zip(r.rate_pointer)
                .map(|(url, pointer)| RateSource {
                    url,
                    pointer,
                    inverse: r.rate_inverse,
                }),
        })
    }

    pub async fn create_provider(&self, p: &NewProvider, now: i64) -> Result<String> {
        self.create_provider_audited(p, now, |_| None).await
    }

    /// `create_provider` with the audit row `audit` makes of the new provider's id,
    /// written in the transaction that adds it (none for `None`).
    pub async fn create_provider_audited(
        &self,
        p: &NewProvider,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<String> {
        validate_url(&p.url)?;
        if p.name.trim().is_empty() || p.key.trim().is_empty() {
            return Err(StoreError::Invalid(
                "Provider name and key are required".into(),
            ));
        }
        if !matches!(p.protocol.as_str(), "api_v2" | "sms_activate") {
            return Err(StoreError::Invalid(
                "Protocol must be api_v2 or sms_activate".into(),
            ));
        }
        if p.timeout_ms < 100 || p.requests_per_second < 0 {
            return Err(StoreError::Invalid(
                "Timeout must be at least 100 ms and the rate not negative".into(),
            ));
        }
        let id = new_entity_id();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query(
                "INSERT INTO providers (id, name, protocol, url, api_key_enc, timeout_ms, requests_per_second, \
                 supports_idempotency, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(p.name.trim())
            .bind(&p.protocol)
            .bind(p.url.trim())
            .bind(self.crypto.seal(p.key.trim()))
            .bind(p.timeout_ms)
            .bind(p.requests_per_second)
            .bind(p.supports_idempotency)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(entry) = audit(&id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(id)
    }

    pub async fn provider(&self, id: &str) -> Result<Provider> {
        let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1");
        let row: Option<ProviderRow> = on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        self.provider_from_row(row.ok_or(StoreError::NotFound("Provider"))?)
    }

    pub async fn providers(&self) -> Result<Vec<Provider>> {
        let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers ORDER BY created_at, id");
        let rows: Vec<ProviderRow> = on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|r| self.provider_from_row(r))
            .collect()
    }

    /// Changes the fields `patch` names, in one statement: each field not named keeps the
    /// value it has when the statement runs, so concurrent patches of different fields
    /// never undo each other (reading the row first and writing every column back did).
    pub async fn update_provider(&self, id: &str, patch: &ProviderPatch) -> Result<Provider> {
        self.update_provider_audited(id, patch, 0, |_, _| None)
            .await
    }

    /// `update_provider` with the audit row `audit` makes of the provider before and
    /// after (both read in the transaction of the change), written in it (none for
    /// `None`). The records carry the opened key: the row must not.
    pub async fn update_provider_audited(
        &self,
        id: &str,
        patch: &ProviderPatch,
        now: i64,
        audit: impl FnOnce(&Provider, &Provider) -> Option<NewAuditEntry> + Send,
    ) -> Result<Provider> {
        if let Some(url) = &patch.url {
            validate_url(url)?;
        }
        let blank = |v: &Option<String>| v.as_ref().is_some_and(|t| t.trim().is_empty());
        if blank(&patch.name) || blank(&patch.key) {
            return Err(StoreError::Invalid(
                "Provider name and key must not be empty".into(),
            ));
        }
        if patch.timeout_ms.is_some_and(|t| t < 100)
            || patch.requests_per_second.is_some_and(|r| r < 0)
        {
            return Err(StoreError::Invalid(
                "Timeout must be at least 100 ms and the rate not negative".into(),
            ));
        }
        let currency = match &patch.currency {
            None => None,
            Some(None) => Some((None, None)),
            Some(Some((code, rate))) => {
                let code = code.trim().to_ascii_uppercase();
                if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(StoreError::Invalid(
                        "Currency must be a three-letter code such as EUR".into(),
                    ));
                }
                if rate.micros() <= 0 || rate.micros() > 1_000_000 * 1_000_000 {
                    return Err(StoreError::Invalid(
                        "Currency rate must be above 0 and at most 1000000".into(),
                    ));
                }
                Some((Some(code), Some(rate.micros())))
            }
        };
        if let Some(Some(source)) = &patch.rate_source {
            if souk_core::web_url::web_url(&source.url, 2048).is_err() {
                return Err(StoreError::Invalid(format!(
                    "Rate source URL must be http(s)://...: {}",
                    source.url
                )));
            }
        }
        let source = patch.rate_source.as_ref().map(|s| {
            s.as_ref()
                .map(|s| (s.url.clone(), s.pointer.clone(), s.inverse))
        });
        let sealed = patch.key.as_deref().map(|k| self.crypto.seal(k.trim()));
        let one = format!("SELECT {PROVIDER_COLUMNS} FROM providers WHERE id = $1");
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Option<ProviderRow> = sqlx::query_as(&one).bind(id).fetch_optional(&mut *tx).await?;
            let before = self.provider_from_row(before.ok_or(StoreError::NotFound("Provider"))?)?;
            sqlx::query(
                "UPDATE providers SET name = COALESCE($1, name), url = COALESCE($2, url), \
                 api_key_enc = COALESCE($3, api_key_enc), enabled = COALESCE($4, enabled), \
                 timeout_ms = COALESCE($5, timeout_ms), requests_per_second = COALESCE($6, requests_per_second), \
                 supports_idempotency = COALESCE($7, supports_idempotency), \
                 currency = CASE WHEN $9 THEN $10 ELSE currency END, \
                 currency_rate = CASE WHEN $9 THEN $11 ELSE currency_rate END, \
                 rate_url = CASE WHEN $12 THEN $13 ELSE rate_url END, \
                 rate_pointer = CASE WHEN $12 THEN $14 ELSE rate_pointer END, \
                 rate_inverse = CASE WHEN $12 THEN $15 ELSE rate_inverse END WHERE id = $8",
            )
            .bind(patch.name.as_deref().map(str::trim))
            .bind(patch.url.as_deref().map(str::trim))
            .bind(sealed)
            .bind(patch.enabled)
            .bind(patch.timeout_ms)
            .bind(patch.requests_per_second)
            .bind(patch.supports_idempotency)
            .bind(id)
            .bind(currency.is_some())
            .bind(currency.as_ref().and_then(|c| c.0.clone()))
            .bind(currency.as_ref().and_then(|c| c.1))
            .bind(source.is_some())
            .bind(source.as_ref().and_then(|s| s.as_ref().map(|s| s.0.clone())))
            .bind(source.as_ref().and_then(|s| s.as_ref().map(|s| s.1.clone())))
            .bind(source.as_ref().and_then(|s| s.as_ref().map(|s| s.2)).unwrap_or(false))
            .execute(&mut *tx)
            .await?;
            let after: ProviderRow = sqlx::query_as(&one).bind(id).fetch_one(&mut *tx).await?;
            let after = self.provider_from_row(after)?;
            if let Some(entry) = audit(&before, &after) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(after)
        })
    }

    /// A line in the provider's log about its currency rate, with the new rate when
    /// `rate` is given (read from its source), in one transaction.
    pub async fn record_provider_rate(
        &self,
        id: &str,
        rate: Option<Money>,
        note: &str,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if let Some(rate) = rate {
                sqlx::query("UPDATE providers SET currency_rate = $1 WHERE id = $2 AND currency IS NOT NULL")
                    .bind(rate.micros())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
            sqlx::query(
                "INSERT INTO sync_log (provider_id, service_number, change, created_at) VALUES ($1, NULL, $2, $3)",
            )
            .bind(id)
            .bind(note)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Records the balance a provider reported; dropping below the operator's
    /// `provider_low_balance` is said once (`provider.failing`, reason `balance`).
    pub async fn set_provider_balance(&self, id: &str, balance: Money, now: i64) -> Result<()> {
        self.set_provider_balance_audited(id, balance, now, |_| None)
            .await
    }

    /// `set_provider_balance` with the audit row `audit` makes of the balance before
    /// (read in the transaction), written in it (none for `None`).
    pub async fn set_provider_balance_audited(
        &self,
        id: &str,
        balance: Money,
        now: i64,
        audit: impl FnOnce(Option<Money>) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Option<(Option<i64>, String)> = sqlx::query_as("SELECT balance, name FROM providers WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            sqlx::query("UPDATE providers SET balance = $1, balance_checked_at = $2 WHERE id = $3")
                .bind(balance.micros())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
            let threshold: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
                .bind(souk_core::supply::PROVIDER_LOW_BALANCE)
                .fetch_optional(&mut *tx)
                .await?;
            let threshold = threshold.and_then(|(v,)| Money::parse(&v).ok());
            let old_balance = before.as_ref().and_then(|(b, _)| b.map(Money::from_micros));
            if let (Some(threshold), Some((old, name))) = (threshold, before) {
                let was_above = old.is_none_or(|o| o >= threshold.micros());
                if balance < threshold && was_above {
                    let data = serde_json::json!({
                        "provider": id, "name": name, "reason": "balance",
                        "balance": balance.format(2), "threshold": threshold.format(2),
                    });
                    tx.tell_operator(souk_core::event::PROVIDER_FAILING, &format!("provider:{id}"), &data, now).await?;
                }
            }
            if let Some(entry) = audit(old_balance) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// A call to a provider failed (a catalogue sync, an order's send, a status poll):
    /// the run of failures starts (or goes on); once it has lasted `PROVIDER_FAILING_MS`,
    /// the operator is told, once per run, with the call that failed last.
    pub async fn provider_failed(
        &self,
        id: &str,
        call: ProviderCall,
        error: &str,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let run: Option<(i64, bool, String)> = sqlx::query_as(
                "UPDATE providers SET failing_since = COALESCE(failing_since, $1), failing_call = $3 WHERE id = $2 \
                 RETURNING failing_since, failing_told, name",
            )
            .bind(now)
            .bind(id)
            .bind(call.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((since, false, name)) = run {
                if now - since >= PROVIDER_FAILING_MS {
                    sqlx::query("UPDATE providers SET failing_told = TRUE WHERE id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    let data = serde_json::json!({
                        "provider": id, "name": name, "reason": call.as_str(), "since": since, "error": error,
                    });
                    tx.tell_operator(souk_core::event::PROVIDER_FAILING, &format!("provider:{id}"), &data, now).await?;
                }
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// A call to a provider worked: the run of failures of that kind of call, if one
    /// is going on, is over (a working sync says nothing of failing sends). Called after
    /// every send and poll, so it writes only when there is a run to end.
    pub async fn provider_recovered(&self, id: &str, call: ProviderCall) -> Result<()> {
        let failing: Option<(Option<i64>,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT failing_since FROM providers WHERE id = $1 AND failing_call = $2")
                .bind(id)
                .bind(call.as_str())
                .fetch_optional(pool)
                .await?
        });
        if failing.is_none() {
            return Ok(());
        }
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE providers SET failing_since = NULL, failing_told = FALSE, failing_call = NULL \
                 WHERE id = $1 AND failing_call = $2",
            )
            .bind(id)
            .bind(call.as_str())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Imports a provider's services and products as local ones, priced with `markup`.
    /// Each lands in a local category named after the provider's category (created if
    /// needed, with one subcategory of the same name) in the provider's shop. Services
    /// already imported are skipped. Returns the new service numbers.
    pub async fn import_provider_services(
        &self,
        provider_id: &str,
        services: &[ProviderService],
        markup: Markup,
        now: i64,
    ) -> Result<(Vec<i64>, Vec<Change>)> {
        self.import_provider_services_audited(provider_id, services, markup, now, |_| None)
            .await
    }

    /// `import_provider_services` with the audit row `audit` makes of how many services
    /// it is to import. An import is one transaction per service by design (thousands
    /// of them must not hold the write lock at once, and each stands on its own), so the
    /// row is written first, in a transaction of its own, before anything of the
    /// import: an import never happens unrecorded, and one cut short keeps the services
    /// it made, as a rerun (its own row) would skip them.
    pub async fn import_provider_services_audited(
        &self,
        provider_id: &str,
        services: &[ProviderService],
        markup: Markup,
        now: i64,
        audit: impl FnOnce(usize) -> Option<NewAuditEntry> + Send,
    ) -> Result<(Vec<i64>, Vec<Change>)> {
        let provider = self.provider(provider_id).await?;
        let existing: Vec<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT provider_service FROM services WHERE provider_id = $1 AND provider_service IS NOT NULL")
                .bind(provider_id)
                .fetch_all(pool)
                .await?
        });
        let existing: std::collections::HashSet<String> =
            existing.into_iter().map(|(s,)| s).collect();
        let new: Vec<&ProviderService> = services
            .iter()
            .filter(|s| !existing.contains(&s.external_service))
            .collect();
        if let Some(entry) = audit(new.len()) {
            self.append_audit(&entry, now).await?;
        }
        let shop_id = match provider.shop_id {
            Some(s) => s,
            None => self.provider_shop(&provider, now).await?,
        };
        self.record_provider_services(provider_id, services, now)
            .await?;
        let mut numbers = Vec::new();
        let mut changes = Vec::new();
        for s in new {
            let subcategory_id = self
                .category_for_import(&s.category, s.subcategory.as_deref(), &s.translations, now)
                .await?;
            let product = s.entity == EntityType::Product;
            let subproducts = if product {
                let variants: Vec<(String, String, i64)> = if s.subproducts.is_empty() {
                    vec![(String::new(), "Default".into(), s.stock.unwrap_or(s.max))]
                } else {
                    s.subproducts.clone()
                };
                variants
                    .iter()
                    .enumerate()
                    .map(|(i, (_, name, stock))| NewSubproduct {
                        name: Text::new(name.clone()),
                        price: markup.apply(s.rate),
                        min: s.min.max(1),
                        max: s.max.max(s.min.max(1)),
                        position: i as i64 + 1,
                        declared_stock: (*stock).max(0),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            let mut notes = vec![format!(
                "imported {} {:?} at {}{}",
                s.external_service,
                s.name,
                markup.apply(s.rate).display2(),
                s.converted
                    .as_deref()
                    .map(|c| format!(" (provider's {c})"))
                    .unwrap_or_default()
            )];
            // The first variant listed is the provider's primary, the one whose price the
            // row publishes; the others wait for the operator to price them.
            let variants: Vec<(String, bool)> = s
                .subproducts
                .iter()
                .enumerate()
                .map(|(i, (upstream_id, name, _))| {
                    if i > 0 {
                        notes.push(held_back(name));
                    }
                    (upstream_id.clone(), i == 0)
                })
                .collect();
            let binding = ImportBinding {
                provider_id,
                provider_service: &s.external_service,
                provider_rate: s.rate,
                markup,
                variants,
                notes,
            };
            let (number, _, _, mut c) = self
                .create_service_with(
                    &NewService {
                        entity: s.entity,
                        product_type: ProductType::Auto,
                        shop_id: shop_id.clone(),
                        subcategory_id,
                        name: translated(&s.name, &s.translations.name),
                        description: Text::new(s.description.clone()),
                        type_name: if product {
                            "Default".into()
                        } else {
                            s.type_name.clone()
                        },
                        image_url: None,
                        rate: if product {
                            Money::ZERO
                        } else {
                            markup.apply(s.rate)
                        },
                        min: s.min.max(1),
                        max: s.max.max(s.min.max(1)),
                        refill: s.refill,
                        refill_days: s.refill.then_some(30),
                        cancel: s.cancel,
                        dripfeed: s.dripfeed,
                        recommended: false,
                        subproducts,
                    },
                    Some(&binding),
                    now,
                )
                .await?;
            changes.append(&mut c);
            numbers.push(number);
        }
        Ok((numbers, changes))
    }

    /// The shop imported services belong to: one per provider, owned by a system user.
    async fn provider_shop(&self, provider: &Provider, now: i64) -> Result<String> {
        let email = format!("provider-{}@souk.local", provider.id);
        let owner = match self.user_id_by_email(&email).await? {
            Some(id) => id,
            None => {
                self.create_user(
                    &crate::NewUser {
                        email,
                        name: provider.name.clone(),
                        password_hash: None,
                        is_supplier: true,
                        initial_balance: Money::ZERO,
                    },
                    now,
                )
                .await?
                .0
            }
        };
        let (shop_id, _) = self
            .create_shop(
                &crate::NewShop {
                    owner_id: owner,
                    name: provider.name.clone(),
                },
                now,
            )
            .await?;
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("UPDATE providers SET shop_id = $1 WHERE id = $2")
                .bind(&shop_id)
                .bind(&provider.id)
                .execute(pool)
                .await?;
        });
        Ok(shop_id)
    }

    /// The subcategory for an imported row: the category named as upstream, and in it
    /// the subcategory named as upstream (a marketplace's tree) or, for a row without
    /// one, the one named as the category; each found by name or created.
    async fn category_for_import(
        &self,
        category: &str,
        subcategory: Option<&str>,
        translations: &ImportTranslations,
        now: i64,
    ) -> Result<String> {
        let name = if category.trim().is_empty() {
            "Imported"
        } else {
            category.trim()
        };
        let sub_name = subcategory.map(str::trim).filter(|s| !s.is_empty());
        // Without a subcategory of its own (a panel's row): the one named as the category.
        let sub = sub_name.unwrap_or(name);
        let found: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT s.id FROM subcategories s JOIN categories c ON c.id = s.category_id \
                 WHERE lower(c.name) = lower($1) AND lower(s.name) = lower($2) \
                 ORDER BY c.position, c.id, s.position, s.id LIMIT 1",
            )
            .bind(name)
            .bind(sub)
            .fetch_optional(pool)
            .await?
        });
        if let Some((id,)) = found {
            return Ok(id);
        }
        let existing: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id FROM categories WHERE lower(name) = lower($1) ORDER BY position, id LIMIT 1")
                .bind(name)
                .fetch_optional(pool)
                .await?
        });
        let category_id = match existing {
            Some((id,)) => id,
            None => {
                self.create_category(
                    &crate::NewCategory {
                        slug: import_slug(name),
                        name: translated(name, &translations.category),
                        description: Text::new(""),
                        image_url: None,
                        position: 100,
                    },
                    now,
                )
                .await?
                .0
            }
        };
        let (sub_id, _) = self
            .create_subcategory(
                &crate::NewSubcategory {
                    category_id,
                    slug: import_slug(sub),
                    // A row without a subcategory of its own: the category's names.
                    name: translated(
                        sub,
                        if sub_name.is_some() {
                            &translations.subcategory
                        } else {
                            &translations.category
                        },
                    ),
                    description: Text::new(""),
                    image_url: None,
                    position: 1,
                },
                now,
            )
            .await?;
        Ok(sub_id)
    }

    /// Stores what the provider lists now (the last-seen snapshot).
    pub async fn record_provider_services(
        &self,
        provider_id: &str,
        services: &[ProviderService],
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            for s in services {
                sqlx::query(
                    "INSERT INTO provider_services (provider_id, external_service, name, type_name, category, rate, \
                     min_qty, max_qty, refill, cancel, dripfeed, entity, stock, seen_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
                     ON CONFLICT (provider_id, external_service) DO UPDATE SET name = excluded.name, \
                     type_name = excluded.type_name, category = excluded.category, rate = excluded.rate, \
                     min_qty = excluded.min_qty, max_qty = excluded.max_qty, refill = excluded.refill, \
                     cancel = excluded.cancel, dripfeed = excluded.dripfeed, entity = excluded.entity, \
                     stock = excluded.stock, seen_at = excluded.seen_at",
                )
                .bind(provider_id)
                .bind(&s.external_service)
                .bind(&s.name)
                .bind(&s.type_name)
                .bind(&s.category)
                .bind(s.rate.micros())
                .bind(s.min)
                .bind(s.max)
                .bind(s.refill)
                .bind(s.cancel)
                .bind(s.dripfeed)
                .bind(s.entity.as_str())
                .bind(s.stock)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Brings imported services in line with what the provider lists now: prices (with
    /// their markup and rounding), limits, availability; for products also each
    /// variant's price, limits, stock and whether the upstream still lists it. Services
    /// that vanished upstream are disabled, ones that came back re-enabled. Every change
    /// is logged in `sync_log`.
    pub async fn sync_provider_services(
        &self,
        provider_id: &str,
        services: &[ProviderService],
        now: i64,
    ) -> Result<SyncReport> {
        self.sync_provider_services_audited(provider_id, services, now, |_| None)
            .await
    }

    /// `sync_provider_services` with the audit row `audit` makes of the report, written
    /// in the transaction that changes the services (the provider's listing is recorded
    /// in one before it, as every sync does: it changes nothing of ours).
    pub async fn sync_provider_services_audited(
        &self,
        provider_id: &str,
        services: &[ProviderService],
        now: i64,
        audit: impl FnOnce(&SyncReport) -> Option<NewAuditEntry> + Send,
    ) -> Result<SyncReport> {
        self.record_provider_services(provider_id, services, now)
            .await?;
        let by_id: std::collections::HashMap<&str, &ProviderService> = services
            .iter()
            .map(|s| (s.external_service.as_str(), s))
            .collect();
        let mut report = SyncReport {
            seen: services.len(),
            ..SyncReport::default()
        };
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let local: Vec<ImportedRow> = sqlx::query_as(
                "SELECT number, provider_service, entity, rate, min_qty, max_qty, active, \
                 COALESCE(provider_markup_bp, 0), COALESCE(provider_round, 0) \
                 FROM services WHERE provider_id = $1 AND provider_service IS NOT NULL ORDER BY number",
            )
            .bind(provider_id)
            .fetch_all(&mut *tx)
            .await?;
            // Changes other nodes must reload the catalogue for (stock moves travel alone).
            let mut catalogue_changed = false;
            for (number, external, entity, rate, min, max, active, markup_bp, round_to) in local {
                let markup = Markup { basis_points: markup_bp, round_to };
                let mut notes = Vec::new();
                let Some(remote) = by_id.get(external.as_str()) else {
                    if active {
                        sqlx::query("UPDATE services SET active = FALSE, updated_at = $1 WHERE number = $2")
                            .bind(now)
                            .bind(number)
                            .execute(&mut *tx)
                            .await?;
                        notes.push("disabled: no longer listed upstream".to_owned());
                        report.disabled.push(external.clone());
                        catalogue_changed = true;
                    }
                    tx.log_sync(provider_id, number, &notes, now).await?;
                    continue;
                };
                let new_rate = markup.apply(remote.rate);
                let (new_min, new_max) = (remote.min.max(1), remote.max.max(remote.min.max(1)));
                let mut service_changed = false;
                if entity == "smm" && new_rate.micros() != rate {
                    let converted = remote.converted.as_deref().map(|c| format!(" (provider's {c})")).unwrap_or_default();
                    notes.push(format!("rate {} -> {}{converted}", Money::from_micros(rate).display2(), new_rate.display2()));
                    service_changed = true;
                }
                if new_min != min || new_max != max {
                    notes.push(format!("limits {min}..{max} -> {new_min}..{new_max}"));
                    service_changed = true;
                }
                if !active {
                    notes.push("re-enabled".to_owned());
                    service_changed = true;
                }
                if entity == "product" {
                    let (variants_changed, mut stock) =
                        tx.sync_variants(number, remote, new_rate, (new_min, new_max), &mut notes, now).await?;
                    service_changed |= variants_changed;
                    report.changes.append(&mut stock);
                }
                if service_changed {
                    sqlx::query(
                        "UPDATE services SET rate = CASE WHEN entity = 'smm' THEN $1 ELSE rate END, \
                         min_qty = $2, max_qty = $3, active = TRUE, provider_rate = $4, refill = $5, \
                         dripfeed = $6, updated_at = $7 WHERE number = $8",
                    )
                    .bind(new_rate.micros())
                    .bind(new_min)
                    .bind(new_max)
                    .bind(remote.rate.micros())
                    .bind(remote.refill)
                    .bind(remote.dripfeed)
                    .bind(now)
                    .bind(number)
                    .execute(&mut *tx)
                    .await?;
                    catalogue_changed = true;
                }
                if !notes.is_empty() {
                    report.updated.push(external.clone());
                }
                tx.log_sync(provider_id, number, &notes, now).await?;
            }
            if catalogue_changed {
                report.changes.push(tx.bump_version(Counter::Catalogue).await?);
            }
            if let Some(entry) = audit(&report) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(report)
    }

    /// The variants of a provider's imported products, by service and position.
    pub async fn imported_variants(&self, provider_id: &str) -> Result<Vec<ImportedVariant>> {
        self.provider(provider_id).await?;
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "{IMPORTED_VARIANT_SELECT} WHERE s.provider_id = $1 ORDER BY s.number, p.position, p.id"
            ))
            .bind(provider_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Sets the operator's price of an imported variant: sync leaves it alone from now on,
    /// and the variant is sold while the provider lists it. Returns the variant as it is
    /// now and the catalogue change to apply.
    pub async fn price_imported_variant(
        &self,
        subproduct_id: &str,
        price: Money,
        now: i64,
    ) -> Result<(ImportedVariant, Vec<Change>)> {
        self.price_imported_variant_audited(subproduct_id, None, price, now, |_, _, _| None)
            .await
    }

    /// `price_imported_variant` with the audit row `audit` makes of the variant's
    /// provider and the variant before and after (both read in the transaction), written in it (none for `None`). With
    /// `provider`, another provider's variant is "not found".
    pub async fn price_imported_variant_audited(
        &self,
        subproduct_id: &str,
        provider: Option<&str>,
        price: Money,
        now: i64,
        audit: impl FnOnce(&str, &ImportedVariant, &ImportedVariant) -> Option<NewAuditEntry> + Send,
    ) -> Result<(ImportedVariant, Vec<Change>)> {
        if price.micros() <= 0 {
            return Err(StoreError::Supply(
                souk_core::supply::SupplyError::NotPositive("price"),
            ));
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let found: Option<(String, i64, i64, String)> = sqlx::query_as(
                "SELECT s.provider_id, s.number, p.price, p.name FROM subproducts p \
                 JOIN services s ON s.number = p.service_number \
                 WHERE p.id = $1 AND s.provider_id IS NOT NULL",
            )
            .bind(subproduct_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((provider_id, number, old, name)) = found.filter(|f| provider.is_none_or(|p| p == f.0)) else {
                return Err(StoreError::NotFound("Imported variant"));
            };
            let before: ImportedVariant = sqlx::query_as(&format!("{IMPORTED_VARIANT_SELECT} WHERE p.id = $1"))
                .bind(subproduct_id)
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE subproducts SET price = $1, price_pinned = TRUE, active = listed_upstream, updated_at = $2 WHERE id = $3",
            )
            .bind(price.micros())
            .bind(now)
            .bind(subproduct_id)
            .execute(&mut *tx)
            .await?;
            let note = format!(
                "variant {name:?} priced by the operator: {} -> {}",
                Money::from_micros(old).display2(),
                price.display2()
            );
            tx.log_sync(&provider_id, number, &[note], now).await?;
            let change = tx.bump_version(Counter::Catalogue).await?;
            let variant: ImportedVariant = sqlx::query_as(&format!("{IMPORTED_VARIANT_SELECT} WHERE p.id = $1"))
            .bind(subproduct_id)
            .fetch_one(&mut *tx)
            .await?;
            if let Some(entry) = audit(&provider_id, &before, &variant) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok((variant, vec![change]))
        })
    }

    /// The newest entries of a provider's sync log: (service number, change, time).
    pub async fn sync_log(
        &self,
        provider_id: &str,
        limit: i64,
    ) -> Result<Vec<(Option<i64>, String, i64)>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT service_number, change, created_at FROM sync_log WHERE provider_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(provider_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
