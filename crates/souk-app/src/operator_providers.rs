//! What an operator does to upstream providers from the console: add one (its key
//! sealed by the store, never shown or audited), ask its balance, sync its services now,
//! preview an import at a markup and import. Admins and owners only; each change is an
//! audit row. The catalogue changes an import or a sync answers are the caller's to
//! apply to its caches.

use serde_json::json;
use souk_core::markup::{parse_markup, Markup};
use souk_core::Money;
use souk_store::{
    Change, ImportedVariant, NewProvider, Provider, ProviderService, Store, StoreError,
};

use crate::operators::{audit, Acting, OperatorError, Permission};
use crate::providers::{self, ProviderError};

fn upstream(e: ProviderError) -> OperatorError {
    match e {
        ProviderError::Store(s) => OperatorError::Store(s),
        other => OperatorError::Upstream(other.to_string()),
    }
}

/// The markup form's fields (blank is none).
pub fn markup_of(percent: &str, round: &str) -> Result<Markup, OperatorError> {
    let some = |t: &str| Some(t.trim().to_owned()).filter(|t| !t.is_empty());
    parse_markup(some(percent).as_deref(), some(round).as_deref()).map_err(OperatorError::Invalid)
}

/// Registers an `api_v2` provider with the default timeout and rate.
pub async fn add(
    store: &Store,
    actor: &Acting,
    name: &str,
    url: &str,
    key: &str,
    now: i64,
) -> Result<Provider, OperatorError> {
    actor.require(Permission::Change)?;
    let provider = providers::create(
        store,
        NewProvider {
            name: name.trim().to_owned(),
            url: url.trim().to_owned(),
            key: key.trim().to_owned(),
            protocol: providers::DEFAULT_PROTOCOL.into(),
            timeout_ms: providers::DEFAULT_TIMEOUT_MS,
            requests_per_second: providers::DEFAULT_REQUESTS_PER_SECOND,
            supports_idempotency: false,
        },
        now,
    )
    .await?;
    audit(
        store,
        &actor.id,
        &actor.email,
        "provider.create",
        &format!("provider:{}", provider.id),
        None,
        Some(json!({ "name": provider.name, "url": provider.url })),
        now,
    )
    .await?;
    Ok(provider)
}

/// Asks the provider's balance now: (balance, its currency).
pub async fn check_balance(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    allow_private: bool,
    now: i64,
) -> Result<(Money, String), OperatorError> {
    actor.require(Permission::Change)?;
    let before = store.provider(provider_id).await?.balance;
    let (balance, currency) = providers::check_balance(store, provider_id, allow_private, now)
        .await
        .map_err(upstream)?;
    audit(
        store,
        &actor.id,
        &actor.email,
        "provider.check",
        &format!("provider:{provider_id}"),
        Some(json!({ "balance": before.map(Money::display2) })),
        Some(json!({ "balance": balance.display2(), "currency": currency })),
        now,
    )
    .await?;
    Ok((balance, currency))
}

/// Brings the provider's imported services in line with its list now: (seen, updated,
/// disabled) and the changes to apply.
pub async fn sync_now(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    allow_private: bool,
    now: i64,
) -> Result<((usize, usize, usize), Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let report = providers::sync_services(store, provider_id, allow_private, now)
        .await
        .map_err(upstream)?;
    let counts = (report.seen, report.updated.len(), report.disabled.len());
    audit(
        store,
        &actor.id,
        &actor.email,
        "provider.sync",
        &format!("provider:{provider_id}"),
        None,
        Some(json!({ "seen": counts.0, "updated": counts.1, "disabled": counts.2 })),
        now,
    )
    .await?;
    Ok((counts, report.changes))
}

/// What an import at `markup` would list: each upstream service with its price and
/// ours. Reads the provider; changes nothing of ours.
pub async fn preview_import(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    markup: Markup,
    allow_private: bool,
    now: i64,
) -> Result<Vec<(ProviderService, Money)>, OperatorError> {
    actor.require(Permission::Change)?;
    let provider = store.provider(provider_id).await?;
    let listed = providers::fetch_services(store, &provider, allow_private, now)
        .await
        .map_err(upstream)?;
    Ok(listed
        .into_iter()
        .map(|s| {
            let ours = markup.apply(s.rate);
            (s, ours)
        })
        .collect())
}

/// Imports the provider's services at `markup`: the new service numbers and the
/// changes to apply.
pub async fn import(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    markup: Markup,
    allow_private: bool,
    now: i64,
) -> Result<(Vec<i64>, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let (numbers, changes) = providers::import(store, provider_id, markup, allow_private, now)
        .await
        .map_err(upstream)?;
    audit(
        store,
        &actor.id,
        &actor.email,
        "provider.import",
        &format!("provider:{provider_id}"),
        None,
        Some(json!({
            "markupPercent": Money::from_micros(markup.basis_points * 10_000).display2(),
            "roundTo": Money::from_micros(markup.round_to).display2(),
            "imported": numbers.len(),
        })),
        now,
    )
    .await?;
    Ok((numbers, changes))
}

/// The operator's price for one of the provider's imported variants (typed, e.g.
/// `7.20`), kept by sync from now on: the variant as stored and the changes to apply.
/// Another provider's variant is "not found".
pub async fn price_variant(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    variant_id: &str,
    price: &str,
    now: i64,
) -> Result<(ImportedVariant, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let price = Money::parse(price.trim())
        .map_err(|_| OperatorError::Invalid("Price must be a number like 7.20".into()))?;
    if price.micros() <= 0 {
        return Err(OperatorError::Invalid(
            "The price must be above zero".into(),
        ));
    }
    let before = store
        .imported_variants(provider_id)
        .await?
        .into_iter()
        .find(|v| v.id == variant_id)
        .ok_or(StoreError::NotFound("Imported variant"))?;
    let (after, changes) = providers::price_variant(store, variant_id, price, now).await?;
    let view = |v: &ImportedVariant| {
        json!({
            "variant": v.id,
            "name": v.name,
            "price": Money::from_micros(v.price).display2(),
            "priceSetBy": if v.price_pinned { "operator" } else { "provider" },
            "active": v.active,
        })
    };
    audit(
        store,
        &actor.id,
        &actor.email,
        "variant.price",
        &format!("provider:{provider_id}"),
        Some(view(&before)),
        Some(view(&after)),
        now,
    )
    .await?;
    Ok((after, changes))
}
