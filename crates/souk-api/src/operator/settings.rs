//! The operator settings: early cancel switch and minutes, commission, hold period, SMS
//! lifetime, and for top-ups the mismatch rule and the deposit bonus table.

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
fn answer(settings: Vec<(String, String)>) -> Response {
    let mut out = Map::new();
    for (key, value) in settings {
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
    json_value(StatusCode::OK, &serde_json::json!({"settings": out}))
}

async fn list(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    Ok(answer(state.store.settings().await?))
}

/// `PATCH /settings` with any of the settings: every value is checked before any is
/// stored (`souk_app::settings::update`).
async fn update(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<Map<String, Value>>,
) -> Result<Response, RestError> {
    if body.is_empty() {
        return Err(RestError::BadRequest("Name at least one setting".into()));
    }
    let mut changes = Vec::with_capacity(body.len());
    for (key, value) in body {
        let text = match value {
            Value::String(s) => s,
            Value::Bool(_) | Value::Number(_) => value.to_string(),
            _ => {
                return Err(RestError::BadRequest(format!(
                    "{key} must be a string, number or boolean"
                )))
            }
        };
        // Checked here too so the first refusal in the body's order is the one answered.
        let text = supply::normalize_setting(&key, &text)?;
        changes.push((key, text));
    }
    // Audited as the operator API, in the change's transaction.
    let settings = souk_app::operator_settings::apply(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        &changes,
        state.now(),
    )
    .await?;
    Ok(answer(settings))
}
