//! The read-only catalogue actions, rendered in the seed's shapes from the cached snapshot.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde::Serialize;
use souk_core::catalogue::{
    mask_shop_name, parse_page_limit, Catalogue, EntityType, ListQuery, Page, Service,
};
use souk_core::display_currency::{self, DisplayCurrencies};
use souk_core::id::ServiceRef;
use souk_core::{ApiError, Money, Params};

use super::rows::RowChunks;
use super::Fault;
use crate::state::AppState;
use crate::transport::{json_bytes, json_value, JSON_CONTENT_TYPE};

#[derive(Serialize)]
struct CategoryView<'a> {
    category: &'a str,
    subcategories: Vec<&'a str>,
}

pub fn categories(state: &AppState, params: &Params) -> Result<Response, Fault> {
    let lang = params.lang()?;
    let snapshot = state.cache.get();
    let c = &snapshot.catalogue;
    let categories: Vec<CategoryView> = c
        .categories
        .iter()
        .map(|cat| CategoryView {
            category: cat.name.get(lang),
            subcategories: c
                .subcategories
                .iter()
                .filter(|s| s.category_id == cat.id)
                .map(|s| s.name.get(lang))
                .collect(),
        })
        .collect();
    Ok(json_value(
        StatusCode::OK,
        &serde_json::json!({ "categories": categories }),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubcategoryInfo<'a> {
    subcategory_id: &'a str,
    name: &'a str,
    slug: &'a str,
    image_url: &'a str,
    description: &'a str,
    category: ParentCategory<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ParentCategory<'a> {
    category_id: &'a str,
    name: &'a str,
    slug: &'a str,
}

pub fn subcategory_info(state: &AppState, params: &Params) -> Result<Response, Fault> {
    let lang = params.lang()?;
    let id = params
        .get("subcategoryId")
        .ok_or(ApiError::SubcategoryIdRequired)?
        .to_ascii_lowercase();
    let snapshot = state.cache.get();
    let c = &snapshot.catalogue;
    let sub = c.subcategory(&id).ok_or(ApiError::SubcategoryNotFound)?;
    let cat = c
        .category(&sub.category_id)
        .ok_or(ApiError::SubcategoryNotFound)?;
    Ok(json_value(
        StatusCode::OK,
        &SubcategoryInfo {
            subcategory_id: &sub.id,
            name: sub.name.get(lang),
            slug: &sub.slug,
            image_url: sub.image_url.as_deref().unwrap_or(""),
            description: sub.description.get(lang),
            category: ParentCategory {
                category_id: &cat.id,
                name: cat.name.get(lang),
                slug: &cat.slug,
            },
        },
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShopView<'a> {
    shop_id: &'a str,
    name: String,
    product_count: i64,
    rating: f64,
    review_count: i64,
}

/// Writes `{"<key>":[...],"total","page","limit","total_pages"}`.
fn envelope<T: Serialize, I>(key: &str, page: &Page<I>, items: &[T]) -> Result<Response, Fault> {
    let mut out = Vec::with_capacity(64 + items.len() * 400);
    out.extend_from_slice(b"{\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    serde_json::to_writer(&mut out, items).map_err(|_| Fault::Api(ApiError::Internal))?;
    finish_envelope(&mut out, page);
    Ok(json_bytes(StatusCode::OK, out))
}

/// `,"total":..,"page":..,"limit":..,"total_pages":..}` after the list.
fn finish_envelope<I>(out: &mut Vec<u8>, page: &Page<I>) {
    out.extend_from_slice(
        format!(
            ",\"total\":{},\"page\":{},\"limit\":{},\"total_pages\":{}}}",
            page.total, page.page, page.limit, page.total_pages
        )
        .as_bytes(),
    );
}

pub fn shops(state: &AppState, params: &Params) -> Result<Response, Fault> {
    let (page, limit) = parse_page_limit(params, 20)?;
    let snapshot = state.cache.get();
    let c = &snapshot.catalogue;
    let page = Page::of(c.shops.iter(), if limit == 0 { 1 } else { page }, limit);
    let items: Vec<ShopView> = page
        .items
        .iter()
        .map(|s| ShopView {
            shop_id: &s.id,
            name: mask_shop_name(&s.name),
            product_count: c.product_count(&s.id),
            rating: s.rating(),
            review_count: s.review_count,
        })
        .collect();
    envelope("shops", &page, &items)
}

/// The display currency a read asked for with `currency` (an extension), unless it is
/// the installation's own: its code and how many of its units one of ours buys.
pub struct Display {
    code: String,
    rate: Money,
}

impl Display {
    /// Reads the operator's `display_currencies` only when another currency is asked.
    pub async fn requested(state: &AppState, params: &Params) -> Result<Option<Display>, Fault> {
        let Some(code) = params
            .get("currency")
            .map(str::trim)
            .filter(|c| !c.is_empty())
        else {
            return Ok(None);
        };
        if code.eq_ignore_ascii_case(&state.config.currency) {
            return Ok(None);
        }
        let settings = state.store.settings().await?;
        let listed = settings
            .iter()
            .find(|(k, _)| k == display_currency::SETTING)
            .and_then(|(_, v)| DisplayCurrencies::parse(v))
            .unwrap_or_default();
        let (code, rate) = listed.rate(code).ok_or(ApiError::UnknownCurrency)?;
        Ok(Some(Display {
            code: code.to_owned(),
            rate,
        }))
    }

    /// `amount` in this currency (the installation's amount when it cannot convert).
    fn convert(&self, amount: Money) -> Money {
        display_currency::convert(amount, self.rate).unwrap_or(amount)
    }
}

/// True when the client takes `gzip` (RFC 9110 `Accept-Encoding`, `q=0` refusing it).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            (coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip"))
                && parts.all(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .is_none_or(|q| q.trim().parse::<f32>().is_ok_and(|q| q > 0.0))
                })
        })
}

async fn list(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
    products_only: bool,
    display: Option<&Display>,
) -> Result<Response, Fault> {
    let query = ListQuery::parse(params, products_only)?;
    let snapshot = state.cache.get();
    let c = &snapshot.catalogue;
    let page = c.list(&query);
    let key = if products_only {
        "products"
    } else {
        "services"
    };
    let mut head = Vec::with_capacity(16);
    head.extend_from_slice(b"{\"");
    head.extend_from_slice(key.as_bytes());
    head.extend_from_slice(b"\":");
    let mut tail = Vec::with_capacity(80);
    if let Some(d) = display {
        // Few ask for another currency: rendered per request, not kept.
        let mut out = head;
        super::rows::write_converted(c, query.lang, &page.items, &|m| d.convert(m), &mut out);
        out.extend_from_slice(b",\"currency\":");
        serde_json::to_writer(&mut out, &d.code).map_err(|_| Fault::Api(ApiError::Internal))?;
        finish_envelope(&mut out, &page);
        return Ok(json_bytes(StatusCode::OK, out));
    }
    finish_envelope(&mut tail, &page);
    let whole = query.limit == 0 && query.is_unfiltered();
    let chunks = RowChunks::new(snapshot.clone(), query.lang, page.items, head, tail);
    let mut response = if whole && accepts_gzip(headers) {
        let body = state
            .cache
            .gzipped_list(&snapshot, products_only, query.lang, chunks)
            .await
            .map_err(|e| {
                tracing::error!(error = %e, "compressing the list failed");
                Fault::Api(ApiError::Internal)
            })?;
        let mut response = json_bytes(StatusCode::OK, body);
        response
            .headers_mut()
            .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        response
    } else if chunks.is_short() {
        json_bytes(StatusCode::OK, chunks.into_vec())
    } else {
        // A long list goes out a chunk at a time, never built whole.
        let stream = futures::stream::iter(chunks.map(Ok::<_, std::convert::Infallible>));
        let mut response = Response::new(Body::from_stream(stream));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(JSON_CONTENT_TYPE),
        );
        response
    };
    if whole {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    Ok(response)
}

pub async fn services(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
    display: Option<&Display>,
) -> Result<Response, Fault> {
    list(state, params, headers, false, display).await
}

pub async fn products(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
    display: Option<&Display>,
) -> Result<Response, Fault> {
    list(state, params, headers, true, display).await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InventoryView<'a> {
    service: i64,
    stock: i64,
    available: bool,
    rate: String,
    /// Only when a display currency was asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    currency: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max: Option<i64>,
    entity_type: &'static str,
    auto_delivery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    subproducts: Option<Vec<SubproductView<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SubproductView<'a> {
    subproduct_id: &'a str,
    name: &'a str,
    stock: i64,
}

/// Looks a service up by number or entity id, with the seed's errors.
pub fn find_service<'a>(c: &'a Catalogue, params: &Params) -> Result<&'a Arc<Service>, ApiError> {
    let text = params.get("service").ok_or(ApiError::ServiceIdRequired)?;
    ServiceRef::parse(text)
        .and_then(|r| c.service(&r))
        .ok_or(ApiError::ServiceNotFound)
}

pub fn inventory(
    state: &AppState,
    params: &Params,
    display: Option<&Display>,
) -> Result<Response, Fault> {
    let lang = params.lang()?;
    let snapshot = state.cache.get();
    let c = &snapshot.catalogue;
    let s = find_service(c, params)?;
    let product = s.entity == EntityType::Product;
    Ok(json_value(
        StatusCode::OK,
        &InventoryView {
            service: s.number,
            stock: s.stock(),
            available: s.available(),
            rate: display.map_or(s.rate(), |d| d.convert(s.rate())).display4(),
            currency: display.map(|d| d.code.as_str()),
            min: product.then(|| s.min()),
            max: product.then(|| s.max()),
            entity_type: s.entity.as_str(),
            auto_delivery: s.auto_delivery(),
            subproducts: product.then(|| {
                s.subproducts
                    .iter()
                    .map(|sp| SubproductView {
                        subproduct_id: &sp.id,
                        name: sp.name.get(lang),
                        stock: sp.stock(),
                    })
                    .collect()
            }),
        },
    ))
}
