//! The operator's JSON API under `/api/operator/v1`, authenticated with the admin token
//! from configuration (`Authorization: Bearer <SOUK_ADMIN_TOKEN>`). Without a configured
//! token the whole API answers 404, so it cannot be opened by accident.
//!
//! Each area lives in its own module and adds its routes in `routes()`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::rest::RestError;
use crate::routes::Routes;
use crate::state::AppState;
use souk_core::secret::constant_time_eq;

mod catalogue;
mod disputes;
mod jobs;
mod payments;
mod providers;
mod reviews;
mod settings;
mod shops;
mod sms;
mod smtp;
mod telegram;
mod users;
mod withdrawals;

pub const PREFIX: &str = "/api/operator/v1";

pub fn routes() -> Routes {
    Routes::new()
        .merge(providers::routes())
        .merge(sms::routes())
        .merge(catalogue::routes())
        .merge(shops::routes())
        .merge(reviews::routes())
        .merge(users::routes())
        .merge(settings::routes())
        .merge(disputes::routes())
        .merge(withdrawals::routes())
        .merge(jobs::routes())
        .merge(payments::routes())
        .merge(smtp::routes())
        .merge(telegram::routes())
        .merge(crate::account::webhooks::routes::<Operator>())
}

/// Proof that the request carries the operator's token.
pub struct Operator;

impl FromRequestParts<AppState> for Operator {
    type Rejection = RestError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(expected) = state
            .config
            .admin_token
            .as_deref()
            .filter(|t| !t.is_empty())
        else {
            return Err(RestError::NotFound(
                "The operator API is disabled (set SOUK_ADMIN_TOKEN)".into(),
            ));
        };
        let given = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or("");
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(Operator)
        } else {
            Err(RestError::Unauthorized("Invalid admin token".into()))
        }
    }
}

/// A `status` filter of a list: absent or blank is none; anything else must be one of
/// `allowed` (written out in `choices` for the error).
pub fn status_filter<'a>(
    value: Option<&'a str>,
    allowed: &[&str],
    choices: &str,
) -> Result<Option<&'a str>, RestError> {
    match value.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) if allowed.contains(&s) => Ok(Some(s)),
        Some(_) => Err(RestError::BadRequest(format!("status must be {choices}"))),
    }
}
