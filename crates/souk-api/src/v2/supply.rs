//! `dispute` and `review`: documented extensions of the seed for buyers (SPEC 11).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;
use souk_core::{ApiError, Params};
use souk_store::AuthUser;

use super::orders::order_id;
use super::Fault;
use crate::state::AppState;
use crate::transport::json_value;

fn the_order(params: &Params) -> Result<i64, ApiError> {
    let raw = params.get("order").ok_or(ApiError::OrderIdRequired)?;
    order_id(raw).ok_or(ApiError::IncorrectOrderId)
}

/// `dispute` with `order` and `message`: `{"dispute": "<id>", "order", "status": "open"}`.
/// An open dispute blocks the order's early cancel until the operator resolves it.
pub async fn dispute(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
) -> Result<Response, Fault> {
    let order = the_order(params)?;
    let message = params.get("message").unwrap_or("");
    let id = state
        .store
        .open_dispute(&user.user_id, order, message, state.now())
        .await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"dispute": id, "order": order, "status": "open"}),
    ))
}

/// `review` with `order`, `rating` (1-5) and optional `text`: one per completed order;
/// the shop's rating in `shops` changes at once.
pub async fn review(state: &AppState, user: &AuthUser, params: &Params) -> Result<Response, Fault> {
    let order = the_order(params)?;
    let review = souk_app::reviews::Review {
        user_id: &user.user_id,
        order_id: order,
        rating: params.get("rating"),
        text: params.get("text").unwrap_or(""),
    };
    let (id, rating, changes) = souk_app::reviews::leave(&state.store, review, state.now()).await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"review": id, "order": order, "rating": rating}),
    ))
}
