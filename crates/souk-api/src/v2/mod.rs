//! `/api/v2`: one endpoint, the action chosen by the `action` parameter.

mod account;
mod catalogue;
mod orders;
mod refill;
pub mod rows;
pub(crate) mod sms;
mod supply;

pub(crate) use orders::{place_mass, place_order};

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use souk_app::orders::OrderError;
use souk_core::{ApiError, Params};
use souk_store::StoreError;

use crate::metrics::Metrics;
use crate::state::AppState;
use crate::transport::{api_key, error_response, read_params, BodyError};

/// Why an action did not produce its normal answer.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    /// An API-level error: HTTP 200 with `{"error": ...}`.
    #[error("{0}")]
    Api(#[from] ApiError),
    /// The caller's key is over its rate: HTTP 429.
    #[error("rate limited")]
    RateLimited,
    /// Anything the caller cannot fix: HTTP 500, details only in the log.
    #[error("store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for Fault {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(api) => Fault::Api(api),
            e if e.is_bad_text() => Fault::Api(ApiError::InvalidCharacters("a text field".into())),
            other => Fault::Store(other),
        }
    }
}

impl From<OrderError> for Fault {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Rejected(api) => Fault::Api(api),
            OrderError::Store(store) => store.into(),
        }
    }
}

/// The per-address limit ran before this (`ratelimit::limit_addresses`); the key's
/// limit runs once the key is known.
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let params = match read_params(parts.uri.query(), &parts.headers, body).await {
        Ok(p) => p,
        Err(BodyError::TooLarge) => {
            return error_response(StatusCode::PAYLOAD_TOO_LARGE, &ApiError::BodyTooLarge);
        }
        Err(BodyError::Broken) => {
            return error_response(StatusCode::BAD_REQUEST, &ApiError::BodyUnreadable);
        }
        Err(BodyError::Api(e)) => {
            state.metrics.record("invalid", true, started.elapsed());
            return error_response(StatusCode::OK, &e);
        }
    };
    let action = Metrics::action_label(params.get("action").unwrap_or(""));
    let (response, is_error) = match dispatch(&state, &params, &parts.headers).await {
        Ok(response) => (response, false),
        Err(Fault::Api(e)) => (error_response(StatusCode::OK, &e), true),
        Err(Fault::RateLimited) => (
            error_response(StatusCode::TOO_MANY_REQUESTS, &ApiError::RateLimited),
            true,
        ),
        Err(Fault::Store(e)) => {
            tracing::error!(action, error = %e, "internal error");
            (
                error_response(StatusCode::INTERNAL_SERVER_ERROR, &ApiError::Internal),
                true,
            )
        }
    };
    state.metrics.record(action, is_error, started.elapsed());
    response
}

async fn dispatch(
    state: &AppState,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, Fault> {
    let user = state
        .auth
        .check(&state.store, api_key(params, headers))
        .await??;
    if !state.key_limiter.allow(&user.key_id) {
        return Err(Fault::RateLimited);
    }
    match params.get("action").unwrap_or("") {
        "categories" => catalogue::categories(state, params),
        "subcategory_info" => catalogue::subcategory_info(state, params),
        "shops" => catalogue::shops(state, params),
        "products" => {
            let display = catalogue::Display::requested(state, params).await?;
            catalogue::products(state, params, headers, display.as_ref()).await
        }
        "services" => {
            let display = catalogue::Display::requested(state, params).await?;
            catalogue::services(state, params, headers, display.as_ref()).await
        }
        "inventory" => {
            let display = catalogue::Display::requested(state, params).await?;
            catalogue::inventory(state, params, display.as_ref())
        }
        "balance" => account::balance(state, &user).await,
        "add" => orders::add(state, &user, params, headers).await,
        "mass_order" => orders::mass_order(state, &user, params, headers).await,
        "status" => orders::status(state, &user, params).await,
        "cancel" => orders::cancel(state, &user, params, false).await,
        "allowcancel" => orders::cancel(state, &user, params, true).await,
        "refill" => refill::refill(state, &user, params).await,
        "refill_status" => refill::refill_status(state, &user, params).await,
        "sms_countries" => sms::countries(state, params).await,
        "sms_projects" => sms::projects(state, params).await,
        "add_sms" => sms::add(state, &user, params).await,
        "sms_code" => sms::code(state, &user, params).await,
        "sms_status" => sms::status(state, &user, params).await,
        "dispute" => supply::dispute(state, &user, params).await,
        "review" => supply::review(state, &user, params).await,
        _ => Err(ApiError::InvalidAction.into()),
    }
}
