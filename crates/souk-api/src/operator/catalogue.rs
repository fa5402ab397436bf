//! Categories and subcategories: positions, the active flag, translations. Products and
//! SMM services: name, description, visibility, price or (imported) markup,
//! translations and variant prices, through the console's use cases (audited as the
//! operator API).

use crate::routes::{get, patch, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::operator_catalogue::{self as ops, ServiceChange};
use souk_app::operators::Acting;
use souk_core::supply::{self, translated};
use souk_core::{Money, Text};
use souk_store::{
    CategoryPatch, CategoryRecord, Level, NewCategory, NewSubcategory, OperatorService,
};

use super::Operator;
use crate::rest::{
    checked, entity_id, image_patch, nullable, JsonBody, QueryParams, RestError, TranslationsInput,
};
use crate::state::AppState;
use crate::supplier::translations_view;
use crate::transport::json_value;

const FIELDS: &[&str] = &["name", "description"];

pub fn routes() -> Routes {
    Routes::new()
        .route("/categories", get(list_categories).post(create_category))
        .route("/categories/{id}", patch(update_category))
        .route(
            "/subcategories",
            get(list_subcategories).post(create_subcategory),
        )
        .route("/subcategories/{id}", patch(update_subcategory))
        .route(
            "/services/{number}",
            get(show_service).patch(update_service),
        )
        .route(
            "/services/{number}/variants/{id}",
            patch(edit_service_variant),
        )
}

fn view(c: &CategoryRecord) -> Value {
    let mut v = json!({
        "id": c.id,
        "slug": c.slug,
        "name": c.name,
        "description": c.description,
        "imageUrl": c.image_url,
        "position": c.position,
        "active": c.active,
        "translations": translations_view(&c.translations),
    });
    if let Some(parent) = &c.category_id {
        v["categoryId"] = json!(parent);
    }
    v
}

async fn list_categories(
    State(state): State<AppState>,
    _: Operator,
) -> Result<Response, RestError> {
    let all = state.store.categories_of(Level::Category, None).await?;
    let rows: Vec<Value> = all.iter().map(view).collect();
    Ok(json_value(StatusCode::OK, &json!({"categories": rows})))
}

#[derive(Deserialize)]
struct SubQuery {
    #[serde(rename = "categoryId")]
    category_id: Option<String>,
}

async fn list_subcategories(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<SubQuery>,
) -> Result<Response, RestError> {
    let all = state
        .store
        .categories_of(Level::Subcategory, q.category_id.as_deref())
        .await?;
    let rows: Vec<Value> = all.iter().map(view).collect();
    Ok(json_value(StatusCode::OK, &json!({"subcategories": rows})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewBody {
    slug: String,
    name: String,
    /// Subcategories only.
    category_id: Option<String>,
    #[serde(default)]
    description: String,
    image_url: Option<String>,
    #[serde(default)]
    position: i64,
    #[serde(default = "yes")]
    active: bool,
    #[serde(default)]
    translations: TranslationsInput,
}

fn yes() -> bool {
    true
}

struct Parsed {
    slug: String,
    name: Text,
    description: Text,
    image_url: Option<String>,
}

fn parse_new(body: &NewBody) -> Result<Parsed, RestError> {
    let name = supply::check_name("name", &body.name)?;
    let translations = supply::parse_translations(&body.translations, FIELDS)?;
    Ok(Parsed {
        slug: supply::check_slug(&body.slug)?,
        name: translated(name, "name", &translations),
        description: translated(
            supply::check_description(&body.description)?,
            "description",
            &translations,
        ),
        image_url: checked(body.image_url.as_deref(), supply::check_image_url)?.flatten(),
    })
}

async fn create_category(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<NewBody>,
) -> Result<Response, RestError> {
    if body.category_id.is_some() {
        return Err(RestError::BadRequest(
            "A category has no parent category".into(),
        ));
    }
    let p = parse_new(&body)?;
    let category = NewCategory {
        slug: p.slug,
        name: p.name,
        description: p.description,
        image_url: p.image_url,
        position: body.position,
    };
    // Audited as the operator API, in the transaction that creates it.
    let (c, changes) = ops::create_category(
        &state.store,
        &Acting::operator_api(),
        category,
        body.active,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::CREATED, &view(&c)))
}

async fn create_subcategory(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<NewBody>,
) -> Result<Response, RestError> {
    let parent = entity_id(
        body.category_id
            .as_deref()
            .ok_or(supply::SupplyError::Required("categoryId"))?,
        "Category",
    )?;
    let p = parse_new(&body)?;
    let subcategory = NewSubcategory {
        category_id: parent,
        slug: p.slug,
        name: p.name,
        description: p.description,
        image_url: p.image_url,
        position: body.position,
    };
    let (c, changes) = ops::create_subcategory(
        &state.store,
        &Acting::operator_api(),
        subcategory,
        body.active,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::CREATED, &view(&c)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchBody {
    slug: Option<String>,
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    image_url: Option<Option<String>>,
    position: Option<i64>,
    active: Option<bool>,
    category_id: Option<String>,
    #[serde(default)]
    translations: TranslationsInput,
}

fn parse_patch(body: PatchBody) -> Result<CategoryPatch, RestError> {
    Ok(CategoryPatch {
        slug: checked(body.slug.as_deref(), supply::check_slug)?,
        name: checked(body.name.as_deref(), |n| supply::check_name("name", n))?,
        description: checked(body.description.as_deref(), supply::check_description)?,
        image_url: image_patch(body.image_url)?,
        position: body.position,
        active: body.active,
        category_id: body
            .category_id
            .map(|c| entity_id(&c, "Category"))
            .transpose()?,
        translations: supply::parse_translations(&body.translations, FIELDS)?,
    })
}

async fn update(
    state: AppState,
    level: Level,
    id: String,
    body: PatchBody,
) -> Result<Response, RestError> {
    let id = entity_id(&id, level.what())?;
    let patch = parse_patch(body)?;
    // Audited as the operator API, in the change's transaction.
    let (c, changes) = ops::change(
        &state.store,
        &Acting::operator_api(),
        level,
        &id,
        &patch,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &view(&c)))
}

async fn update_category(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchBody>,
) -> Result<Response, RestError> {
    update(state, Level::Category, id, body).await
}

async fn update_subcategory(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchBody>,
) -> Result<Response, RestError> {
    update(state, Level::Subcategory, id, body).await
}

fn money(micros: i64) -> String {
    Money::from_micros(micros).display2()
}

fn service_view(s: &OperatorService) -> Value {
    json!({
        "number": s.number,
        "id": s.id,
        "entityType": s.entity,
        "type": s.product_type,
        "shopId": s.shop_id,
        "name": s.name,
        "description": s.description,
        "active": s.active,
        "price": s.is_smm().then(|| money(s.rate)),
        "providerId": s.provider_id,
        "providerPrice": s.provider_rate.map(money),
        "markupPercent": s.markup.map(|m| money(m.basis_points * 10_000)),
        "roundTo": s.markup.map(|m| money(m.round_to)),
        "translations": translations_view(&s.translations),
        "variants": s.variants.iter().map(|v| json!({
            "id": v.id,
            "name": v.name,
            "price": money(v.price),
            "active": v.active,
            "stock": v.stock,
            "pricePinned": v.price_pinned,
        })).collect::<Vec<_>>(),
    })
}

fn number_of(text: &str) -> Result<i64, RestError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RestError::NotFound("Service not found".into()))
}

async fn show_service(
    State(state): State<AppState>,
    _: Operator,
    Path(number): Path<String>,
) -> Result<Response, RestError> {
    let s = state.store.operator_service(number_of(&number)?).await?;
    Ok(json_value(StatusCode::OK, &service_view(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ServiceBody {
    name: Option<String>,
    description: Option<String>,
    active: Option<bool>,
    /// A local SMM service's rate per 1000, as a string (`"1.50"`).
    price: Option<String>,
    /// An imported service's markup; the one left out stays as it is.
    markup_percent: Option<String>,
    round_to: Option<String>,
    #[serde(default)]
    translations: TranslationsInput,
}

/// `PATCH /services/{number}`: the fields given, then the translations given (each a
/// change of its own, audited as the operator API).
async fn update_service(
    State(state): State<AppState>,
    _: Operator,
    Path(number): Path<String>,
    JsonBody(body): JsonBody<ServiceBody>,
) -> Result<Response, RestError> {
    let number = number_of(&number)?;
    let actor = Acting::operator_api();
    let translations = supply::parse_translations(&body.translations, FIELDS)?;
    let current = state.store.operator_service(number).await?;
    let markup = match (&body.markup_percent, &body.round_to) {
        (None, None) => None,
        (percent, round) => {
            let (bp, step) = current
                .markup
                .map_or((0, 0), |m| (m.basis_points, m.round_to));
            Some((
                percent.clone().unwrap_or_else(|| money(bp * 10_000)),
                round.clone().unwrap_or_else(|| money(step)),
            ))
        }
    };
    let change = ServiceChange {
        name: body.name,
        description: body.description,
        active: body.active,
        price: body.price,
        markup,
    };
    let fields = change.name.is_some()
        || change.description.is_some()
        || change.active.is_some()
        || change.price.is_some()
        || change.markup.is_some();
    if !fields && translations.is_empty() {
        return Err(RestError::BadRequest("Nothing to change".into()));
    }
    let mut s = current;
    if fields {
        let (after, changes) =
            ops::edit_service(&state.store, &actor, number, &change, state.now()).await?;
        state.apply_changes(&changes).await?;
        s = after;
    }
    if !translations.is_empty() {
        let (after, changes) =
            ops::set_translations(&state.store, &actor, number, translations, state.now()).await?;
        state.apply_changes(&changes).await?;
        s = after;
    }
    Ok(json_value(StatusCode::OK, &service_view(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantBody {
    name: Option<String>,
    price: Option<String>,
}

/// `PATCH /services/{number}/variants/{id}` with `{"name": "Gmail, aged"}`,
/// `{"price": "7.20"}` or both.
async fn edit_service_variant(
    State(state): State<AppState>,
    _: Operator,
    Path((number, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<VariantBody>,
) -> Result<Response, RestError> {
    let number = number_of(&number)?;
    if body.name.is_none() && body.price.is_none() {
        return Err(RestError::BadRequest("Give a name, a price or both".into()));
    }
    let (s, changes) = ops::edit_variant(
        &state.store,
        &Acting::operator_api(),
        number,
        &id,
        body.name.as_deref(),
        body.price.as_deref(),
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &service_view(&s)))
}
