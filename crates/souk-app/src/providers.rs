//! Upstream providers: their records (create, update, an imported variant's price, an
//! order whose send had an unknown outcome settled by hand) and reading a provider's
//! catalogue: import and check (the operator's commands, from the operator API and the
//! CLI alike), sync by hand, and the periodic sync the workers run.

use souk_client::api_v2::{ApiV2Client, ClientError, Oddity};
use souk_core::catalogue::EntityType;
use souk_core::clock::Clock;
use souk_core::markup::Markup;
use souk_core::Money;
use souk_store::{
    Change, ImportedVariant, NewAuditEntry, NewProvider, Provider, ProviderOddity, ProviderPatch,
    ProviderService, Store, StoreError, SyncReport,
};

/// A new provider's protocol, timeout and rate, unless the operator says otherwise.
pub const DEFAULT_PROTOCOL: &str = "api_v2";
pub const DEFAULT_TIMEOUT_MS: i64 = 15_000;
pub const DEFAULT_REQUESTS_PER_SECOND: i64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("provider: {0}")]
    Client(#[from] ClientError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("provider {0} does not speak API v2")]
    WrongProtocol(String),
    #[error("an amount is too large to convert at the provider's currency rate")]
    Conversion,
}

fn client(provider: &Provider, allow_private: bool) -> Result<ApiV2Client, ProviderError> {
    if provider.protocol != "api_v2" {
        return Err(ProviderError::WrongProtocol(provider.name.clone()));
    }
    Ok(crate::upstream::api_client(provider, allow_private)?)
}

/// Everything the provider lists, with the variants of its marketplace products; what its
/// answers did oddly is added to its tally, whatever the outcome.
pub async fn fetch_services(
    store: &Store,
    provider: &Provider,
    allow_private: bool,
    now: i64,
) -> Result<Vec<ProviderService>, ProviderError> {
    fetch(store, provider, allow_private, false, now).await
}

/// `fetch_services`, with each marketplace product's subcategory named (`subcategory_info`,
/// once per subcategory) when `tree`: an import rebuilds the upstream's tree with them.
async fn fetch(
    store: &Store,
    provider: &Provider,
    allow_private: bool,
    tree: bool,
    now: i64,
) -> Result<Vec<ProviderService>, ProviderError> {
    let client = client(provider, allow_private)?;
    let listed = fetch_with(&client, tree).await;
    crate::upstream::record_oddities(store, &provider.id, &client, now).await;
    let mut listed = listed?;
    if let Some((code, rate)) = &provider.currency {
        for s in &mut listed {
            let converted = in_our_currency(s.rate, *rate)?;
            s.converted = Some(format!(
                "{} {code} x {}",
                s.rate.display2(),
                rate.display2()
            ));
            s.rate = converted;
        }
    }
    Ok(listed)
}

/// Reads the rate of a provider that bills in another currency from the source the
/// operator named, before its catalogue is read (each sync, each import): a changed rate
/// is kept and logged; a source that fails or answers nonsense is logged and the last rate
/// stays, so a sync is never held up by it. The provider as it stands after.
pub async fn refresh_rate(
    store: &Store,
    provider: &Provider,
    allow_private: bool,
    now: i64,
) -> Result<Provider, ProviderError> {
    let (Some((code, old)), Some(source)) = (&provider.currency, &provider.rate_source) else {
        return Ok(provider.clone());
    };
    let read = match souk_client::rate_source::fetch(&source.url, allow_private).await {
        Ok(body) => source.read(&body).map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let mut provider = provider.clone();
    match read {
        Ok(rate) if rate == *old => {}
        Ok(rate) => {
            let note = format!(
                "currency rate {code} {} -> {} (from {})",
                old.format(2),
                rate.format(2),
                source.url
            );
            store
                .record_provider_rate(&provider.id, Some(rate), &note, now)
                .await?;
            provider.currency = Some((code.clone(), rate));
        }
        Err(why) => {
            let note = format!("currency rate {code} kept at {}: {why}", old.format(2));
            store
                .record_provider_rate(&provider.id, None, &note, now)
                .await?;
        }
    }
    Ok(provider)
}

/// An amount in a provider's currency, in ours at `rate` (ours per one of its), rounded
/// half up to the micro-unit.
fn in_our_currency(amount: Money, rate: Money) -> Result<Money, ProviderError> {
    amount
        .mul_div_half_up(rate.micros(), 1_000_000)
        .ok_or(ProviderError::Conversion)
}

/// A balance the provider reported, in our currency.
fn balance_in_our_currency(provider: &Provider, balance: Money) -> Result<Money, ProviderError> {
    match &provider.currency {
        Some((_, rate)) => in_our_currency(balance, *rate),
        None => Ok(balance),
    }
}

async fn fetch_with(
    client: &ApiV2Client,
    tree: bool,
) -> Result<Vec<ProviderService>, ProviderError> {
    let mut out = Vec::new();
    // Subcategory id -> (category, subcategory) names; None when the upstream cannot say
    // (a panel without `subcategory_info`): the row's category alone is used then.
    let mut names: std::collections::HashMap<String, Option<(String, String)>> =
        std::collections::HashMap::new();
    // Each row's upstream subcategory, when named (for its translations).
    let mut named_subs: Vec<Option<String>> = Vec::new();
    for s in client.services().await? {
        let mut category = s.category;
        let mut subcategory = None;
        let mut named_sub = None;
        if let (true, Some(id)) = (tree, s.subcategory_id.as_deref()) {
            if !names.contains_key(id) {
                let named = match client.subcategory_info(id, None).await {
                    Ok(n) => Some((n.category, n.subcategory)),
                    Err(e) => {
                        tracing::debug!(subcategory = id, error = %e, "subcategory not named upstream");
                        None
                    }
                };
                names.insert(id.to_owned(), named);
            }
            if let Some(Some((c, sub))) = names.get(id) {
                category = c.clone();
                subcategory = Some(sub.clone());
                named_sub = Some(id.to_owned());
            }
        }
        named_subs.push(named_sub);
        let entity = if s.entity == "product" {
            EntityType::Product
        } else {
            EntityType::Smm
        };
        let subproducts = if entity == EntityType::Product {
            client
                .subproducts(&s.service)
                .await?
                .into_iter()
                .map(|v| (v.id, v.name, v.stock))
                .collect()
        } else {
            Vec::new()
        };
        out.push(ProviderService {
            external_service: s.service,
            entity,
            name: s.name,
            type_name: s.type_name,
            category,
            description: s.description,
            rate: s.rate,
            min: s.min,
            max: s.max,
            refill: s.refill,
            cancel: s.cancel,
            dripfeed: s.dripfeed,
            stock: s.stock,
            subproducts,
            subcategory,
            converted: None,
            translations: Default::default(),
        });
    }
    // A marketplace publishes its names per language: an import keeps them.
    if named_subs.iter().any(Option::is_some) {
        translate(client, &mut out, &named_subs).await;
    }
    Ok(out)
}

/// Adds to each row the names the upstream publishes in every other language (its
/// `services` and `subcategory_info` with `lang`), where they differ from English. A
/// language the upstream refuses is skipped: translations are a courtesy, not the import.
async fn translate(client: &ApiV2Client, rows: &mut [ProviderService], subs: &[Option<String>]) {
    let distinct: std::collections::BTreeSet<&str> =
        subs.iter().flatten().map(String::as_str).collect();
    for lang in souk_core::Lang::ALL
        .into_iter()
        .filter(|l| *l != souk_core::Lang::En)
    {
        let code = lang.code();
        let Ok(listed) = client.services_in(code).await else {
            tracing::debug!(lang = code, "the upstream lists no names in this language");
            continue;
        };
        let names: std::collections::HashMap<String, String> =
            listed.into_iter().map(|r| (r.service, r.name)).collect();
        let mut sub_names = std::collections::HashMap::new();
        for id in &distinct {
            if let Ok(n) = client.subcategory_info(id, Some(code)).await {
                sub_names.insert(*id, n);
            }
        }
        for (row, sub) in rows.iter_mut().zip(subs) {
            let t = &mut row.translations;
            if let Some(name) = names.get(&row.external_service) {
                if !name.trim().is_empty() && *name != row.name {
                    t.name.push((lang, name.clone()));
                }
            }
            if let Some(n) = sub.as_deref().and_then(|id| sub_names.get(id)) {
                if n.category != row.category {
                    t.category.push((lang, n.category.clone()));
                }
                if Some(&n.subcategory) != row.subcategory.as_ref() {
                    t.subcategory.push((lang, n.subcategory.clone()));
                }
            }
        }
        tracing::info!(lang = code, rows = rows.len(), "the upstream's names read");
    }
}

/// `create` with the audit row `audit` makes of the new provider's id, written in the
/// transaction that adds it.
pub async fn create_audited(
    store: &Store,
    provider: NewProvider,
    now: i64,
    audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
) -> Result<Provider, StoreError> {
    let id = store.create_provider_audited(&provider, now, audit).await?;
    store.provider(&id).await
}

/// `update` with the audit row `audit` makes of the provider before and after (read in
/// the transaction of the change), written in it.
pub async fn update_audited(
    store: &Store,
    provider_id: &str,
    patch: &ProviderPatch,
    now: i64,
    audit: impl FnOnce(&Provider, &Provider) -> Option<NewAuditEntry> + Send,
) -> Result<Provider, StoreError> {
    store
        .update_provider_audited(provider_id, patch, now, audit)
        .await
}

/// `price_variant` with the audit row `audit` makes of the variant's provider and the
/// variant before and after
/// (read in the transaction of the change), written in it. With `provider`, another
/// provider's variant is "not found".
pub async fn price_variant_audited(
    store: &Store,
    subproduct_id: &str,
    provider: Option<&str>,
    price: Money,
    now: i64,
    audit: impl FnOnce(&str, &ImportedVariant, &ImportedVariant) -> Option<NewAuditEntry> + Send,
) -> Result<(ImportedVariant, Vec<Change>), StoreError> {
    store
        .price_imported_variant_audited(subproduct_id, provider, price, now, audit)
        .await
}

/// Imports what the provider lists as local services priced with `markup`, with the
/// audit row `audit` makes of how many it is to import, written before the import's
/// first change (an import is one transaction per service); returns the new service
/// numbers and the catalogue changes to apply.
pub async fn import_audited(
    store: &Store,
    provider_id: &str,
    markup: Markup,
    allow_private: bool,
    now: i64,
    audit: impl FnOnce(usize) -> Option<NewAuditEntry> + Send,
) -> Result<(Vec<i64>, Vec<Change>), ProviderError> {
    let provider = store.provider(provider_id).await?;
    let provider = refresh_rate(store, &provider, allow_private, now).await?;
    let services = fetch(store, &provider, allow_private, true, now).await?;
    Ok(store
        .import_provider_services_audited(provider_id, &services, markup, now, audit)
        .await?)
}

/// Asks the provider for its balance now and records it: (balance, currency).
pub async fn check_balance(
    store: &Store,
    provider_id: &str,
    allow_private: bool,
    now: i64,
) -> Result<(Money, String), ProviderError> {
    check_balance_audited(store, provider_id, allow_private, now, |_, _, _| None).await
}

/// `check_balance` with the audit row `audit` makes of the balance recorded before
/// (read in the transaction that records the new one), the new one and its currency,
/// written in that transaction.
pub async fn check_balance_audited(
    store: &Store,
    provider_id: &str,
    allow_private: bool,
    now: i64,
    audit: impl FnOnce(Option<Money>, Money, &str) -> Option<NewAuditEntry> + Send,
) -> Result<(Money, String), ProviderError> {
    let provider = store.provider(provider_id).await?;
    let client = client(&provider, allow_private)?;
    let answer = client.balance().await;
    crate::upstream::record_oddities(store, provider_id, &client, now).await;
    let (balance, currency) = answer?;
    store
        .set_provider_balance_audited(
            provider_id,
            balance_in_our_currency(&provider, balance)?,
            now,
            |before| audit(before, balance, &currency),
        )
        .await?;
    Ok((balance, currency))
}

/// `sync_services` with the audit row `audit` makes of the report, written in the
/// transaction that changes the services.
pub async fn sync_services_audited(
    store: &Store,
    provider_id: &str,
    allow_private: bool,
    now: i64,
    audit: impl FnOnce(&SyncReport) -> Option<NewAuditEntry> + Send,
) -> Result<SyncReport, ProviderError> {
    let provider = store.provider(provider_id).await?;
    let provider = refresh_rate(store, &provider, allow_private, now).await?;
    let services = fetch_services(store, &provider, allow_private, now).await?;
    Ok(store
        .sync_provider_services_audited(provider_id, &services, now, audit)
        .await?)
}

/// Checks the provider's balance and brings imported services in line with it (the
/// periodic `provider.sync` job). A balance the provider will not tell is no reason to
/// skip the services.
pub async fn sync_provider(
    store: &Store,
    provider: &Provider,
    allow_private: bool,
    clock: &dyn Clock,
) -> Result<SyncReport, ProviderError> {
    let provider = &refresh_rate(store, provider, allow_private, clock.now_ms()).await?;
    let client = client(provider, allow_private)?;
    let answer = client.balance().await;
    crate::upstream::record_oddities(store, &provider.id, &client, clock.now_ms()).await;
    if let Ok((balance, _)) = answer {
        store
            .set_provider_balance(
                &provider.id,
                balance_in_our_currency(provider, balance)?,
                clock.now_ms(),
            )
            .await?;
    }
    let services = fetch_services(store, provider, allow_private, clock.now_ms()).await?;
    Ok(store
        .sync_provider_services(&provider.id, &services, clock.now_ms())
        .await?)
}

/// A provider's log as the operator reads it: what the provider does that the protocol
/// does not say (each kind with what it means), then the newest sync changes.
#[derive(Clone, Debug)]
pub struct ProviderLog {
    pub oddities: Vec<(ProviderOddity, &'static str)>,
    /// (service number, change, time), newest first.
    pub entries: Vec<(Option<i64>, String, i64)>,
}

pub async fn log(store: &Store, provider_id: &str, limit: i64) -> Result<ProviderLog, StoreError> {
    store.provider(provider_id).await?;
    let oddities = store
        .provider_oddities(provider_id)
        .await?
        .into_iter()
        .map(|o| {
            let what = Oddity::from_kind(&o.kind).map_or("", Oddity::describe);
            (o, what)
        })
        .collect();
    let entries = store.sync_log(provider_id, limit).await?;
    Ok(ProviderLog { oddities, entries })
}
