//! Conventions of the JSON APIs beside `/api/v2` (supplier, operator): real HTTP status
//! codes, `{"error": "..."}` bodies, JSON request bodies parsed with clear errors.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use souk_core::ApiError;
use souk_store::StoreError;

use crate::transport::json_value;

#[derive(Debug, thiserror::Error)]
pub enum RestError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("Internal error")]
    Internal(StoreError),
}

impl RestError {
    pub fn status(&self) -> StatusCode {
        match self {
            RestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RestError::Forbidden(_) => StatusCode::FORBIDDEN,
            RestError::NotFound(_) => StatusCode::NOT_FOUND,
            RestError::Conflict(_) => StatusCode::CONFLICT,
            RestError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            RestError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for RestError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => RestError::NotFound(format!("{what} not found")),
            StoreError::Invalid(msg) => RestError::BadRequest(msg),
            StoreError::Conflict(msg) => RestError::Conflict(msg),
            StoreError::Rejected(api) => RestError::from(api),
            e if e.is_unique_violation() => RestError::Conflict("Already exists".into()),
            other => RestError::Internal(other),
        }
    }
}

impl From<ApiError> for RestError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::InvalidApiKey => RestError::Unauthorized(e.to_string()),
            ApiError::OrderNotFound | ApiError::ServiceNotFound | ApiError::SubproductNotFound => {
                RestError::NotFound(e.to_string())
            }
            ApiError::Internal => RestError::Internal(StoreError::Invalid("internal".into())),
            other => RestError::BadRequest(other.to_string()),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        if let RestError::Internal(e) = &self {
            tracing::error!(error = %e, "internal error");
        }
        json_value(
            self.status(),
            &serde_json::json!({ "error": self.to_string() }),
        )
    }
}

/// A JSON request body whose errors are JSON too (axum's own `Json` answers in text).
/// An empty body reads as `{}`.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = RestError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let bytes = axum::body::to_bytes(req.into_body(), crate::transport::MAX_BODY)
            .await
            .map_err(|_| RestError::TooLarge("Request body too large (max 1 MiB)".into()))?;
        // An empty body reads as an empty object, so all-optional bodies may be omitted.
        let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &bytes
        };
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|e| RestError::BadRequest(format!("Invalid JSON body: {e}")))
    }
}
