//! The operator's Telegram bot: its token (sealed, never shown again), base URL and
//! switch, a `getMe` check, the operator's own events, and a one-time deep link that
//! ties the operator's chat to the operator's events. Every rule lives in
//! `souk_app::telegram`.
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /notifiers/telegram` | | the bot as set up (no token) |
//! | `PUT /notifiers/telegram` | `{"token"?,"base_url"?,"enabled"?,"operator_events"?:[..]}` | the bot; 409 when Telegram refuses the token |
//! | `POST /notifiers/telegram/check` | | `{"ok":true,"bot":{"id","username"}}`; 409 when refused |
//! | `POST /notifiers/telegram/link` | | `{"link","expires_at"}` for the operator's chat |

use crate::routes::{get, post, Routes};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::telegram::{self, TelegramError, TelegramPatch, TelegramView};
use souk_core::clock::iso_millis;
use souk_core::event::OPERATOR;

use super::Operator;
use crate::rest::{JsonBody, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/notifiers/telegram", get(show).put(configure))
        .route("/notifiers/telegram/check", post(check))
        .route("/notifiers/telegram/link", post(link))
}

fn view(v: &TelegramView) -> Value {
    json!({
        "configured": v.configured,
        "enabled": v.enabled,
        "has_token": v.configured,
        "base_url": v.base_url,
        "bot_username": v.bot_username,
        "operator_linked": v.operator_chat.is_some(),
        "operator_events": v.operator_events,
        "updated_at": v.updated_at.map(iso_millis),
    })
}

fn refusal(e: TelegramError) -> RestError {
    match e {
        TelegramError::Invalid(why) => RestError::BadRequest(why),
        TelegramError::NotSetUp => RestError::NotFound(e.to_string()),
        TelegramError::Disabled => RestError::Conflict(e.to_string()),
        TelegramError::Bot(why) => {
            RestError::Conflict(format!("Telegram refused or could not be reached: {why}"))
        }
        TelegramError::Store(e) => e.into(),
    }
}

async fn show(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    let v = telegram::view(&state.store).await.map_err(refusal)?;
    Ok(json_value(StatusCode::OK, &view(&v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TelegramBody {
    token: Option<String>,
    base_url: Option<String>,
    enabled: Option<bool>,
    operator_events: Option<Vec<String>>,
}

/// `PUT /notifiers/telegram`: absent fields are kept; a new token is tried with `getMe`
/// first (and names the bot), and nothing changes when Telegram refuses it.
async fn configure(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<TelegramBody>,
) -> Result<Response, RestError> {
    let patch = TelegramPatch {
        token: body.token,
        base_url: body.base_url,
        enabled: body.enabled,
        operator_events: body.operator_events,
    };
    // Audited as the operator API, in the transaction that stores the settings.
    let v = telegram::configure_as(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        state.config.allow_private_upstreams,
        patch,
        state.now(),
    )
    .await
    .map_err(|e| match e {
        // Here it means the body lacks the token a first setup needs.
        TelegramError::NotSetUp => RestError::BadRequest(e.to_string()),
        other => refusal(other),
    })?;
    Ok(json_value(StatusCode::OK, &view(&v)))
}

/// `POST /notifiers/telegram/check`: `getMe` with the stored token.
async fn check(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    let bot = telegram::check(&state.store, state.config.allow_private_upstreams)
        .await
        .map_err(refusal)?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"ok": true, "bot": {"id": bot.id, "username": bot.username}}),
    ))
}

/// `POST /notifiers/telegram/link`: a one-time deep link (an hour) for the operator's
/// own chat.
async fn link(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    let (link, expires_at) = telegram::new_link(&state.store, OPERATOR, state.now())
        .await
        .map_err(refusal)?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"link": link, "expires_at": iso_millis(expires_at)}),
    ))
}
