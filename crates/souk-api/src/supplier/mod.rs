//! The supplier API under `/api/admin/v2` (SPEC 11), in the spirit of HstockPlus's own:
//! the `X-Api-Key` of a user who owns a shop. An unknown, revoked or suspended key is 401
//! `Invalid API key`; a buyer's key is 403. Every answer is JSON with a real HTTP status.

mod disputes;
mod earnings;
mod orders;
mod products;
mod stock;

use crate::routes::{get, patch, post, Routes};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::{Map, Value};
use souk_store::AuthUser;

use crate::rest::RestError;
use crate::state::AppState;

pub use earnings::withdrawal_view;

pub const PREFIX: &str = "/api/admin/v2";

pub fn routes() -> Routes {
    Routes::new()
        .route("/me", get(me))
        .route("/orders", get(orders::list))
        .route("/orders/{order}/deliver", post(orders::deliver))
        .route("/orders/{order}/fail", post(orders::fail))
        .route("/orders/{order}/progress", post(orders::progress))
        .route("/orders/{order}/dispute", get(disputes::thread))
        .route("/orders/{order}/dispute/messages", post(disputes::message))
        .route("/products", get(products::list).post(products::create))
        .route("/products/{id}", get(products::one).patch(products::update))
        .route("/products/{id}/subproducts", post(products::add_subproduct))
        .route("/subproducts/{id}", patch(products::update_subproduct))
        .route(
            "/subproducts/{id}/stock",
            get(stock::counts).post(stock::upload).delete(stock::remove),
        )
        .route("/earnings", get(earnings::list))
        .route(
            "/withdrawals",
            get(earnings::withdrawals).post(earnings::request_withdrawal),
        )
}

/// A caller whose key belongs to an active supplier with at least one shop.
pub struct Supplier {
    pub user: AuthUser,
    /// (id, name, active), oldest first.
    pub shops: Vec<(String, String, bool)>,
}

impl Supplier {
    pub fn id(&self) -> &str {
        &self.user.user_id
    }

    /// The shop an action is for: the one named (it must be the caller's), else the
    /// caller's first shop.
    pub fn shop(&self, requested: Option<&str>) -> Result<&str, RestError> {
        match requested {
            None => Ok(&self.shops[0].0),
            Some(id) => self
                .shops
                .iter()
                .find(|(s, ..)| s.eq_ignore_ascii_case(id.trim()))
                .map(|(s, ..)| s.as_str())
                .ok_or_else(|| RestError::NotFound("Shop not found".into())),
        }
    }
}

impl FromRequestParts<AppState> for Supplier {
    type Rejection = RestError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim);
        let user = state
            .auth
            .check(&state.store, key)
            .await
            .map_err(RestError::Internal)??;
        if !state.key_limiter.allow(&user.key_id) {
            return Err(RestError::RateLimited);
        }
        let shops = if user.is_supplier {
            state.store.shops_of(&user.user_id).await?
        } else {
            Vec::new()
        };
        if shops.is_empty() {
            return Err(RestError::Forbidden(
                "This API key does not belong to a supplier: the supplier API needs a user with a shop"
                    .into(),
            ));
        }
        Ok(Supplier { user, shops })
    }
}

/// `GET /me`: who the key belongs to and their shops.
async fn me(supplier: Supplier) -> axum::response::Response {
    let shops: Vec<Value> = supplier
        .shops
        .iter()
        .map(|(id, name, active)| serde_json::json!({"shopId": id, "name": name, "active": active}))
        .collect();
    crate::transport::json_value(
        axum::http::StatusCode::OK,
        &serde_json::json!({
            "userId": supplier.user.user_id,
            "email": supplier.user.email,
            "shops": shops,
        }),
    )
}

/// `[(field, lang, value)]` as `{"name": {"ru": "..."}}`.
pub fn translations_view(list: &[(String, String, String)]) -> Value {
    let mut out = Map::new();
    for (field, lang, value) in list {
        let entry = out
            .entry(field.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(lang.clone(), Value::String(value.clone()));
        }
    }
    Value::Object(out)
}

/// `limit` and `offset` of a list from its query parameters.
pub fn paging_of(
    q: &std::collections::HashMap<String, String>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), RestError> {
    paging(
        q.get("limit").map(String::as_str),
        q.get("offset").map(String::as_str),
        default,
        max,
    )
}

/// `limit` (1..=`max`, default `default`) and `offset` (default 0) of a list.
pub fn paging(
    limit: Option<&str>,
    offset: Option<&str>,
    default: i64,
    max: i64,
) -> Result<(i64, i64), RestError> {
    let limit = match limit.map(str::trim).filter(|s| !s.is_empty()) {
        None => default,
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=max).contains(n))
            .ok_or_else(|| RestError::BadRequest(format!("limit must be between 1 and {max}")))?,
    };
    let offset =
        match offset.map(str::trim).filter(|s| !s.is_empty()) {
            None => 0,
            Some(t) => t.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                RestError::BadRequest("offset must be a non-negative integer".into())
            })?,
        };
    Ok((limit, offset))
}
