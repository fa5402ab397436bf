//! The operator settings: early cancel switch and minutes, commission, hold period.

use crate::routes::{get, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use souk_core::params::parse_bool;
use souk_core::supply;

use super::Operator;
use crate::rest::{JsonBody, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new().route("/settings", get(list).patch(update))
}

/// Every setting in effect: the switch as a boolean, minutes and hours as numbers, the
/// commission percentage as text (it may have decimals).
async fn answer(state: &AppState) -> Result<Response, RestError> {
    let mut out = Map::new();
    for (key, value) in state.store.settings().await? {
        let v = match key.as_str() {
            supply::EARLY_CANCEL_ENABLED => {
                parse_bool(&value).map_or_else(|| Value::String(value.clone()), Value::Bool)
            }
            supply::COMMISSION_PERCENT => Value::String(value),
            _ => value
                .parse::<i64>()
                .map_or_else(|_| Value::String(value.clone()), Value::from),
        };
        out.insert(key, v);
    }
    Ok(json_value(
        StatusCode::OK,
        &serde_json::json!({"settings": out}),
    ))
}

async fn list(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    answer(&state).await
}

/// `PATCH /settings` with any of the settings: every value is checked before any is
/// stored.
async fn update(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, RestError> {
    if body.is_empty() {
        return Err(RestError::BadRequest("Name at least one setting".into()));
    }
    let mut checked = Vec::with_capacity(body.len());
    for (key, value) in &body {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            _ => {
                return Err(RestError::BadRequest(format!(
                    "{key} must be a string, number or boolean"
                )))
            }
        };
        checked.push((key.as_str(), supply::normalize_setting(key, &text)?));
    }
    let now = state.now();
    for (key, value) in checked {
        state.store.set_setting(key, &value, now).await?;
    }
    answer(&state).await
}
