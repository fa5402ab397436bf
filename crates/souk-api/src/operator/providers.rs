//! Upstream providers: settings, import with a markup, sync and its log, and the orders
//! whose send had an unknown outcome.

use crate::routes::{get, patch, post, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;
use souk_app::operator_providers;
use souk_app::operators::Acting;
use souk_app::providers;
use souk_core::rate_source::RateSource;
use souk_core::Money;
use souk_store::{
    Fallback, ImportedVariant, NewProvider, Provider, ProviderPatch, Resolution, ServiceProviders,
};

use super::Operator;
use crate::rest::{AmountInput, JsonBody, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/providers", get(list).post(create))
        .route("/providers/{id}", get(show).patch(update))
        .route("/providers/{id}/import", post(import))
        .route("/providers/{id}/sync", post(sync))
        .route("/providers/{id}/check", post(check))
        .route("/providers/{id}/log", get(log))
        .route("/providers/{id}/profit", get(profit))
        .route(
            "/services/{number}/providers",
            get(service_providers).put(set_fallbacks),
        )
        .route("/providers/{id}/variants", get(variants))
        .route("/variants/{id}", patch(price_variant))
        .route("/orders/stuck", get(stuck))
        .route("/orders/{id}/resolve", post(resolve))
}

fn view(p: &Provider) -> serde_json::Value {
    json!({
        "id": p.id,
        "name": p.name,
        "protocol": p.protocol,
        "url": p.url,
        "enabled": p.enabled,
        "timeoutMs": p.timeout_ms,
        "requestsPerSecond": p.requests_per_second,
        "supportsIdempotency": p.supports_idempotency,
        "balance": p.balance.map(Money::display2),
        "balanceCheckedAt": p.balance_checked_at,
        "shopId": p.shop_id,
        "currency": p.currency.as_ref().map(|(code, _)| code),
        "currencyRate": p.currency.as_ref().map(|(_, rate)| rate.display2()),
        "rateSource": p.rate_source.as_ref().map(|r| json!({
            "url": r.url,
            "pointer": r.pointer,
            "inverse": r.inverse,
        })),
    })
}

async fn list(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let providers = state.store.providers().await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "providers": providers.iter().map(view).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct CreateProvider {
    name: String,
    url: String,
    key: String,
    #[serde(default)]
    protocol: Option<String>,
    #[serde(default)]
    timeout_ms: Option<i64>,
    #[serde(default)]
    requests_per_second: Option<i64>,
    #[serde(default)]
    supports_idempotency: bool,
}

async fn create(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateProvider>,
) -> Result<Response, RestError> {
    let provider = NewProvider {
        name: body.name,
        url: body.url,
        key: body.key,
        protocol: body
            .protocol
            .unwrap_or_else(|| providers::DEFAULT_PROTOCOL.into()),
        timeout_ms: body.timeout_ms.unwrap_or(providers::DEFAULT_TIMEOUT_MS),
        requests_per_second: body
            .requests_per_second
            .unwrap_or(providers::DEFAULT_REQUESTS_PER_SECOND),
        supports_idempotency: body.supports_idempotency,
    };
    // Audited as the operator API, in the transaction that adds it.
    let provider =
        operator_providers::create(&state.store, &Acting::operator_api(), provider, state.now())
            .await?;
    Ok(json_value(StatusCode::CREATED, &view(&provider)))
}

async fn show(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    Ok(json_value(
        StatusCode::OK,
        &view(&state.store.provider(&id).await?),
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateProvider {
    name: Option<String>,
    url: Option<String>,
    key: Option<String>,
    enabled: Option<bool>,
    timeout_ms: Option<i64>,
    requests_per_second: Option<i64>,
    supports_idempotency: Option<bool>,
    /// A three-letter code, with `currencyRate`; `null` for our own currency.
    #[serde(default, deserialize_with = "present")]
    currency: Option<Option<String>>,
    currency_rate: Option<AmountInput>,
    /// Where the rate is read on each sync; `null` stops reading it.
    #[serde(default, deserialize_with = "present")]
    rate_source: Option<Option<RateSourceBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RateSourceBody {
    url: String,
    pointer: String,
    #[serde(default)]
    inverse: bool,
}

/// A field that may be present as `null`: `Some(None)`, told apart from absent (`None`).
fn present<'de, T: Deserialize<'de>, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

async fn update(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateProvider>,
) -> Result<Response, RestError> {
    let patch = ProviderPatch {
        name: body.name,
        url: body.url,
        key: body.key,
        enabled: body.enabled,
        timeout_ms: body.timeout_ms,
        requests_per_second: body.requests_per_second,
        supports_idempotency: body.supports_idempotency,
        currency: match (body.currency, body.currency_rate) {
            (None, None) => None,
            (Some(None), None) => Some(None),
            (Some(Some(code)), Some(rate)) => Some(Some((code, rate.price("currencyRate")?))),
            _ => {
                return Err(RestError::BadRequest(
                    "currency and currencyRate go together (currency null: our own)".into(),
                ))
            }
        },
        rate_source: match body.rate_source {
            None => None,
            Some(None) => Some(None),
            Some(Some(r)) => Some(Some(
                RateSource::new(&r.url, &r.pointer, r.inverse)
                    .map_err(|e| RestError::BadRequest(e.to_string()))?,
            )),
        },
    };
    let provider = operator_providers::update(
        &state.store,
        &Acting::operator_api(),
        &id,
        &patch,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &view(&provider)))
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ImportBody {
    /// Percent, e.g. "20" or "12.5".
    #[serde(default)]
    markup: Option<String>,
    /// Round prices up to a multiple of this amount, e.g. "0.01".
    #[serde(default)]
    round: Option<String>,
}

async fn import(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Option<JsonBody<ImportBody>>,
) -> Result<Response, RestError> {
    let body = body.map(|b| b.0).unwrap_or_default();
    let markup = souk_core::markup::parse_markup(body.markup.as_deref(), body.round.as_deref())
        .map_err(RestError::BadRequest)?;
    let (numbers, changes) = operator_providers::import(
        &state.store,
        &Acting::operator_api(),
        &id,
        markup,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "imported": numbers.len(), "services": numbers }),
    ))
}

async fn sync(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let report = operator_providers::sync(
        &state.store,
        &Acting::operator_api(),
        &id,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await?;
    state.apply_changes(&report.changes).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "seen": report.seen, "updated": report.updated, "disabled": report.disabled }),
    ))
}

/// `POST /providers/{id}/check`: the provider's balance, asked now (and recorded).
async fn check(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let (balance, currency) = operator_providers::check_balance(
        &state.store,
        &Acting::operator_api(),
        &id,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "id": id, "balance": balance.display2(), "currency": currency }),
    ))
}

async fn log(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let log = providers::log(&state.store, &id, 200).await?;
    let entries: Vec<_> = log
        .entries
        .into_iter()
        .map(|(service, change, at)| json!({ "service": service, "change": change, "at": at }))
        .collect();
    let oddities: Vec<_> = log
        .oddities
        .into_iter()
        .map(|(o, what)| {
            json!({ "kind": o.kind, "what": what, "answers": o.count,
                    "firstSeen": o.first_seen, "lastSeen": o.last_seen })
        })
        .collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({ "oddities": oddities, "log": entries }),
    ))
}

fn variant_view(v: &ImportedVariant) -> serde_json::Value {
    json!({
        "subproductId": v.id,
        "service": v.service,
        "product": v.product,
        "name": v.name,
        "upstreamId": v.upstream_id,
        "price": Money::from_micros(v.price).display2(),
        "priceSetBy": if v.price_pinned { "operator" } else { "provider" },
        "active": v.active,
        "listedUpstream": v.listed_upstream,
        "stock": v.stock,
    })
}

/// `GET /providers/{id}/variants`: the imported variants and who set their price; the
/// ones held back (listed upstream, not active) wait for a price.
async fn variants(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let list = state.store.imported_variants(&id).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "variants": list.iter().map(variant_view).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantPrice {
    price: AmountInput,
}

/// `PATCH /variants/{id}` `{"price": "7.20"}`: the operator's price for an imported
/// variant, kept by sync from now on.
async fn price_variant(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<VariantPrice>,
) -> Result<Response, RestError> {
    let price = body.price.price("price")?;
    let (variant, changes) = operator_providers::price_variant_at(
        &state.store,
        &Acting::operator_api(),
        None,
        &id,
        price,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &variant_view(&variant)))
}

async fn stuck(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let orders = state.store.stuck_orders(500).await?;
    let orders: Vec<_> = orders
        .into_iter()
        .map(|o| {
            json!({
                "order": o.id, "providerId": o.provider_id, "externalId": o.external_id, "forwardState": o.forward_state,
                "attempts": o.forward_attempts, "lastError": o.last_error, "updatedAt": o.updated_at
            })
        })
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "orders": orders })))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResolveBody {
    /// `sent` (with `externalId`), `resend` or `fail`.
    action: String,
    external_id: Option<String>,
}

async fn resolve(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Response, RestError> {
    // An order number; anything else names no order (axum's own refusal is plain text).
    let id: i64 = id
        .trim()
        .parse()
        .map_err(|_| RestError::NotFound("Order not found".into()))?;
    let resolution = match body.action.as_str() {
        "sent" => Resolution::Sent(body.external_id.unwrap_or_default()),
        "resend" => Resolution::Resend,
        "fail" => Resolution::Fail,
        other => {
            return Err(RestError::BadRequest(format!(
                "Unknown action {other:?} (use sent, resend or fail)"
            )))
        }
    };
    // Through the console's use case: settled and audited as the operator API in one
    // transaction.
    souk_app::operators::resolve_order(
        &state.store,
        &Acting::operator_api(),
        id,
        resolution,
        state.now(),
    )
    .await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "order": id, "resolved": body.action }),
    ))
}

fn fallback_view(f: &Fallback) -> serde_json::Value {
    json!({ "providerId": f.provider_id, "service": f.provider_service })
}

fn service_providers_view(p: &ServiceProviders) -> serde_json::Value {
    json!({
        "service": p.service,
        "primary": p.primary.as_ref().map(fallback_view),
        "fallbacks": p.fallbacks.iter().map(fallback_view).collect::<Vec<_>>(),
    })
}

/// A service number from the path; anything else names no service.
fn service_number(text: &str) -> Result<i64, RestError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RestError::NotFound("Service not found".into()))
}

/// `GET /services/{number}/providers`: its own provider, then its fallbacks in order.
async fn service_providers(
    _: Operator,
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Response, RestError> {
    let number = service_number(&number)?;
    let p = state.store.service_providers(number).await?;
    Ok(json_value(StatusCode::OK, &service_providers_view(&p)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FallbackInput {
    provider_id: String,
    service: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FallbacksBody {
    fallbacks: Vec<FallbackInput>,
}

/// `PUT /services/{number}/providers` `{"fallbacks":[{"providerId","service"}]}`: the
/// providers tried after the service's own, in this order (an empty list: none).
async fn set_fallbacks(
    _: Operator,
    State(state): State<AppState>,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<FallbacksBody>,
) -> Result<Response, RestError> {
    let number = service_number(&number)?;
    let list: Vec<Fallback> = body
        .fallbacks
        .into_iter()
        .map(|f| Fallback {
            provider_id: f.provider_id,
            provider_service: f.service,
        })
        .collect();
    // Audited as the operator API, with the list before read in the change's transaction.
    let p = souk_app::operator_providers::set_fallbacks(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        number,
        &list,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &service_providers_view(&p)))
}

/// `GET /providers/{id}/profit`: what the orders it took brought in, net of refunds.
async fn profit(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let p = state.store.provider_profit(&id).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({
            "provider": id, "orders": p.orders, "ordersWithoutCost": p.unknown_cost,
            "revenue": p.revenue.display2(), "cost": p.cost.display2(), "profit": p.profit.display2(),
        }),
    ))
}
