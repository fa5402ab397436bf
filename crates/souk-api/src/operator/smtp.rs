//! The operator's SMTP relay: its settings (the password never shown back) and a test
//! message. Every rule lives in `souk_app::mail`.
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /notifiers/smtp` | | the settings, `has_password` instead of the password |
//! | `PUT /notifiers/smtp` | the fields of `SmtpPatch` | the settings |
//! | `POST /notifiers/smtp/test` | `{"to"}` | `{"ok":true,"to"}`; 409 when the relay did not take it |

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::mail::{self, MailError, SmtpPatch, SmtpView};
use souk_core::clock::iso_millis;

use super::Operator;
use crate::rest::{JsonBody, RestError};
use crate::routes::{get, post, Routes};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/notifiers/smtp", get(show).put(configure))
        .route("/notifiers/smtp/test", post(test))
}

fn smtp_view(v: &SmtpView) -> Value {
    json!({
        "enabled": v.enabled,
        "host": v.host,
        "port": v.port,
        "security": v.security,
        "username": v.username,
        "has_password": v.has_password,
        "from": v.from,
        "operator_email": v.operator_email,
        "site_url": v.site_url,
        "updated_at": v.updated_at.map(iso_millis),
    })
}

impl From<MailError> for RestError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Store(e) => RestError::from(e),
            MailError::NotConfigured => RestError::Conflict(e.to_string()),
            MailError::Smtp(s) if matches!(s, souk_client::smtp::SmtpError::Invalid(_)) => {
                RestError::BadRequest(s.to_string())
            }
            MailError::Smtp(s) => RestError::Conflict(format!("The test e-mail was not sent: {s}")),
            MailError::Invalid(text) => RestError::BadRequest(text),
        }
    }
}

/// `GET /notifiers/smtp`.
async fn show(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    let v = mail::view(&state.store).await?;
    Ok(json_value(StatusCode::OK, &smtp_view(&v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SmtpBody {
    enabled: Option<bool>,
    host: Option<String>,
    port: Option<u16>,
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    from: Option<String>,
    operator_email: Option<String>,
    site_url: Option<String>,
}

/// `PUT /notifiers/smtp`: absent fields are kept; an empty username and password remove
/// authentication.
async fn configure(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<SmtpBody>,
) -> Result<Response, RestError> {
    let patch = SmtpPatch {
        enabled: body.enabled,
        host: body.host,
        port: body.port,
        security: body.security,
        username: body.username,
        password: body.password,
        from: body.from,
        operator_email: body.operator_email,
        site_url: body.site_url,
    };
    // Audited as the operator API, in the transaction that stores the settings.
    let v = mail::configure_as(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        patch,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &smtp_view(&v)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TestBody {
    to: String,
}

/// `POST /notifiers/smtp/test`: sends a test e-mail now with the stored settings (on or
/// off).
async fn test(
    State(state): State<AppState>,
    _: Operator,
    JsonBody(body): JsonBody<TestBody>,
) -> Result<Response, RestError> {
    mail::send_test(&state.store, state.config.allow_private_upstreams, &body.to).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "ok": true, "to": body.to.trim().to_lowercase() }),
    ))
}
