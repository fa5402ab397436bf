//! Categories and subcategories: positions, the active flag, translations.

use crate::routes::{get, patch, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::catalogue;
use souk_core::supply::{self, translated};
use souk_core::Text;
use souk_store::{CategoryPatch, CategoryRecord, Level, NewCategory, NewSubcategory};

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
    let (c, changes) =
        catalogue::create_category(&state.store, category, body.active, state.now()).await?;
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
    let (c, changes) =
        catalogue::create_subcategory(&state.store, subcategory, body.active, state.now()).await?;
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
    let (c, changes) = catalogue::update(&state.store, level, &id, &patch).await?;
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
