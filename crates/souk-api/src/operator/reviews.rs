//! Reviews as the operator moderates them: listed with filters, hidden from buyers (the
//! shop's rating and pages follow at once) or shown again, through the console's use
//! case, audited as the operator API.

use std::collections::HashMap;

use crate::routes::{get, patch, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::operators::Acting;
use souk_app::reviews;
use souk_core::clock::iso_millis;
use souk_store::{ConsoleReview, ReviewFilter};

use super::Operator;
use crate::rest::{entity_id, JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::supplier::paging_of;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/reviews", get(list))
        .route("/reviews/{id}", patch(moderate))
}

fn view(r: &ConsoleReview) -> Value {
    json!({
        "id": r.id,
        "shopId": r.shop_id,
        "shop": r.shop,
        "order": r.order_id,
        "buyerEmail": r.email,
        "rating": r.rating,
        "text": r.text,
        "hidden": r.hidden,
        "createdAt": iso_millis(r.created_at),
    })
}

/// `GET /reviews` (`shop`, `rating` 1 to 5, `hidden` true or false, `limit`, `offset`):
/// newest first, with how many match in all.
async fn list(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let (limit, offset) = paging_of(&q, 50, 500)?;
    let shop_id = q.get("shop").map(|s| entity_id(s, "Shop")).transpose()?;
    let rating = match q.get("rating").map(String::as_str) {
        None => None,
        Some(r) => Some(
            r.parse::<i64>()
                .ok()
                .filter(|r| (1..=5).contains(r))
                .ok_or_else(|| RestError::BadRequest("rating must be 1 to 5".into()))?,
        ),
    };
    let hidden = match q.get("hidden").map(String::as_str) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(RestError::BadRequest("hidden must be true or false".into())),
    };
    let filter = ReviewFilter {
        shop_id,
        rating,
        hidden,
    };
    let (rows, total) = state.store.console_reviews(&filter, limit, offset).await?;
    let rows: Vec<Value> = rows.iter().map(view).collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({"reviews": rows, "count": rows.len(), "total": total}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ModerateBody {
    hidden: bool,
}

/// `PATCH /reviews/{id}` with `{"hidden": true}` (or `false` to show it again).
async fn moderate(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ModerateBody>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Review")?;
    // Audited as the operator API, in the change's transaction.
    let (review, changes) = reviews::set_hidden(
        &state.store,
        &Acting::operator_api(),
        &id,
        body.hidden,
        state.now(),
    )
    .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &view(&review)))
}
