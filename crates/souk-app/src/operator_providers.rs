//! What an operator does to upstream providers from the console: add one (its key
//! sealed by the store, never shown or audited), ask its balance, sync its services now,
//! preview an import at a markup and import. Admins and owners only; each change is an
//! audit row. The catalogue changes an import or a sync answers are the caller's to
//! apply to its caches.

use serde_json::json;
use souk_core::markup::{parse_markup, Markup};
use souk_core::Money;
use souk_store::{
    Change, Fallback, ImportedVariant, NewProvider, Provider, ProviderPatch, ProviderService,
    ServiceProviders, Store, SyncReport,
};

use crate::operators::{Acting, OperatorError, Permission};
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
    create(
        store,
        actor,
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
    .await
}

/// Registers a provider as given (the operator API names every field), audited in the
/// transaction that adds it: its name and address, never its key.
pub async fn create(
    store: &Store,
    actor: &Acting,
    provider: NewProvider,
    now: i64,
) -> Result<Provider, OperatorError> {
    actor.require(Permission::Change)?;
    let after = json!({ "name": provider.name.trim(), "url": provider.url.trim() });
    Ok(providers::create_audited(store, provider, now, |id| {
        Some(actor.audit_entry(
            "provider.create",
            &format!("provider:{id}"),
            None,
            Some(after),
        ))
    })
    .await?)
}

/// A provider as its audit rows show it: its key only as replaced when it was.
fn provider_view(p: &Provider, key_replaced: bool) -> serde_json::Value {
    let mut v = json!({
        "name": p.name,
        "url": p.url,
        "enabled": p.enabled,
        "timeoutMs": p.timeout_ms,
        "requestsPerSecond": p.requests_per_second,
        "supportsIdempotency": p.supports_idempotency,
        "currency": p.currency.as_ref().map(|(code, rate)| json!({ "code": code, "rate": rate.format(6) })),
    });
    if key_replaced {
        v["key"] = json!("replaced");
    }
    v
}

/// Changes the fields `patch` names (the operator API), audited with the provider
/// before and after, read in the transaction of the change; a new key is audited as
/// "replaced", never shown.
pub async fn update(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    patch: &ProviderPatch,
    now: i64,
) -> Result<Provider, OperatorError> {
    actor.require(Permission::Change)?;
    let replaced = patch.key.is_some();
    Ok(
        providers::update_audited(store, provider_id, patch, now, |before, after| {
            Some(actor.audit_entry(
                "provider.update",
                &format!("provider:{provider_id}"),
                Some(provider_view(before, false)),
                Some(provider_view(after, replaced)),
            ))
        })
        .await?,
    )
}

/// Asks the provider's balance now: (balance, its currency), recorded and audited in
/// one transaction with the balance recorded before.
pub async fn check_balance(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    allow_private: bool,
    now: i64,
) -> Result<(Money, String), OperatorError> {
    actor.require(Permission::Change)?;
    providers::check_balance_audited(
        store,
        provider_id,
        allow_private,
        now,
        |before, balance, currency| {
            Some(actor.audit_entry(
                "provider.check",
                &format!("provider:{provider_id}"),
                Some(json!({ "balance": before.map(Money::display2) })),
                Some(json!({ "balance": balance.display2(), "currency": currency })),
            ))
        },
    )
    .await
    .map_err(upstream)
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
    let report = sync(store, actor, provider_id, allow_private, now).await?;
    let counts = (report.seen, report.updated.len(), report.disabled.len());
    Ok((counts, report.changes))
}

/// As `sync_now`, the whole report (the operator API lists what changed); audited in
/// the transaction that changes the services.
pub async fn sync(
    store: &Store,
    actor: &Acting,
    provider_id: &str,
    allow_private: bool,
    now: i64,
) -> Result<SyncReport, OperatorError> {
    actor.require(Permission::Change)?;
    providers::sync_services_audited(store, provider_id, allow_private, now, |report| {
        Some(actor.audit_entry(
            "provider.sync",
            &format!("provider:{provider_id}"),
            None,
            Some(json!({
                "seen": report.seen,
                "updated": report.updated.len(),
                "disabled": report.disabled.len(),
            })),
        ))
    })
    .await
    .map_err(upstream)
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
    // Audited before the import's first change (it is one transaction per service by
    // design): the row says how many services it is to import.
    let (numbers, changes) =
        providers::import_audited(store, provider_id, markup, allow_private, now, |count| {
            Some(actor.audit_entry(
                "provider.import",
                &format!("provider:{provider_id}"),
                None,
                Some(json!({
                    "markupPercent": Money::from_micros(markup.basis_points * 10_000).display2(),
                    "roundTo": Money::from_micros(markup.round_to).display2(),
                    "imported": count,
                })),
            ))
        })
        .await
        .map_err(upstream)?;
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
    price_variant_at(store, actor, Some(provider_id), variant_id, price, now).await
}

/// The operator's price for an imported variant, audited with the variant before and
/// after, read in the transaction of the change (subject: its provider). With
/// `provider`, another provider's variant is "not found"; the operator API names the
/// variant only.
pub async fn price_variant_at(
    store: &Store,
    actor: &Acting,
    provider: Option<&str>,
    variant_id: &str,
    price: Money,
    now: i64,
) -> Result<(ImportedVariant, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let view = |v: &ImportedVariant| {
        json!({
            "variant": v.id,
            "name": v.name,
            "price": Money::from_micros(v.price).display2(),
            "priceSetBy": if v.price_pinned { "operator" } else { "provider" },
            "active": v.active,
        })
    };
    Ok(providers::price_variant_audited(
        store,
        variant_id,
        provider,
        price,
        now,
        |provider_id, before, after| {
            Some(actor.audit_entry(
                "variant.price",
                &format!("provider:{provider_id}"),
                Some(view(before)),
                Some(view(after)),
            ))
        },
    )
    .await?)
}

/// The providers tried after a service's own when it cannot take an order, in order
/// (empty: none), audited with the list before (read in the transaction that replaces
/// it) and after.
pub async fn set_fallbacks(
    store: &Store,
    actor: &Acting,
    service: i64,
    fallbacks: &[Fallback],
    now: i64,
) -> Result<ServiceProviders, OperatorError> {
    actor.require(Permission::Change)?;
    let view = |list: &[Fallback]| {
        list.iter()
            .map(|f| json!({ "provider": f.provider_id, "service": f.provider_service }))
            .collect::<Vec<_>>()
    };
    Ok(store
        .set_service_fallbacks_audited(service, fallbacks, now, |before, after| {
            Some(actor.audit_entry(
                "service.fallbacks",
                &crate::operator_catalogue::service_subject(service),
                Some(json!({ "fallbacks": view(before) })),
                Some(json!({ "fallbacks": view(after) })),
            ))
        })
        .await?)
}
