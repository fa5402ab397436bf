//! Shops: who owns them, their names, whether buyers see them. Changes go through the
//! console's use cases, audited as the operator API.

use crate::routes::{get, patch, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::operators::Acting;
use souk_app::shops::{self, Owner};
use souk_core::catalogue::Shop;
use souk_core::clock::iso_millis;
use souk_core::supply;
use souk_store::ShopRecord;

use super::Operator;
use crate::rest::{entity_id, JsonBody, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/shops", get(list).post(create))
        .route("/shops/{id}", patch(update))
}

fn view(s: &ShopRecord) -> Value {
    let rating = Shop {
        id: s.id.clone(),
        name: s.name.clone(),
        active: s.active,
        review_count: s.review_count,
        rating_sum: s.rating_sum,
    }
    .rating();
    json!({
        "id": s.id,
        "name": s.name,
        "ownerId": s.owner_id,
        "ownerEmail": s.owner_email,
        "active": s.active,
        "listings": s.listings,
        "rating": rating,
        "reviewCount": s.review_count,
        "createdAt": iso_millis(s.created_at),
    })
}

async fn list(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    let rows: Vec<Value> = state.store.all_shops().await?.iter().map(view).collect();
    Ok(json_value(StatusCode::OK, &json!({"shops": rows})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NewBody {
    name: String,
    owner_id: Option<String>,
    owner_email: Option<String>,
}

/// `POST /shops` with `{"name", "ownerId" | "ownerEmail"}`; the owner becomes a supplier.
async fn create(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<NewBody>,
) -> Result<Response, RestError> {
    let name = supply::check_name("name", &body.name)?;
    let owner = match (&body.owner_id, &body.owner_email) {
        (Some(id), _) => Owner::Id(entity_id(id, "User")?),
        (None, Some(email)) => Owner::Email(email.clone()),
        (None, None) => return Err(supply::SupplyError::Required("ownerId").into()),
    };
    let actor = Acting::operator_api();
    let (shop, changes) =
        shops::create_audited(&state.store, &actor, owner, &name, state.now()).await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::CREATED, &view(&shop)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    active: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<PatchBody>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Shop")?;
    let name = body
        .name
        .as_deref()
        .map(|n| supply::check_name("name", n))
        .transpose()?;
    let actor = Acting::operator_api();
    let (shop, changes) = shops::update_audited(
        &state.store,
        &actor,
        &id,
        name.as_deref(),
        body.active,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &view(&shop)))
}
