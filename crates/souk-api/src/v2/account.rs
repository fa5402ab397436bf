//! `balance`.

use axum::http::StatusCode;
use axum::response::Response;
use souk_store::AuthUser;

use super::Fault;
use crate::state::AppState;
use crate::transport::json_value;

pub async fn balance(state: &AppState, user: &AuthUser) -> Result<Response, Fault> {
    let balance = state.store.balance(&user.user_id).await?;
    Ok(json_value(
        StatusCode::OK,
        &serde_json::json!({ "balance": balance.display2(), "currency": state.config.currency }),
    ))
}
