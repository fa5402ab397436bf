//! Conventions of the JSON APIs beside `/api/v2` (supplier, operator): real HTTP status
//! codes, `{"error": "..."}` bodies, JSON request bodies parsed with clear errors.

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequest, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use souk_core::supply::SupplyError;
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
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("Too many requests, slow down")]
    RateLimited,
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
            RestError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RestError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
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
            StoreError::Supply(e) if e.is_conflict() => RestError::Conflict(e.to_string()),
            StoreError::Supply(e) => RestError::BadRequest(e.to_string()),
            e if e.is_unique_violation() => RestError::Conflict("Already exists".into()),
            e if e.is_bad_text() => RestError::BadRequest(
                ApiError::InvalidCharacters("a text field".into()).to_string(),
            ),
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

impl From<souk_app::payments::PaymentError> for RestError {
    fn from(e: souk_app::payments::PaymentError) -> Self {
        use souk_app::payments::PaymentError;
        match e {
            PaymentError::Store(e) => RestError::from(e),
            PaymentError::UnknownGateway => RestError::NotFound(e.to_string()),
            PaymentError::Unavailable => RestError::Conflict(e.to_string()),
            PaymentError::Gateway(g @ souk_client::payments::GatewayError::Refused(_)) => {
                RestError::Conflict(g.to_string())
            }
            PaymentError::Gateway(g) => {
                RestError::Conflict(format!("The gateway could not be asked: {g}"))
            }
            other => RestError::BadRequest(other.to_string()),
        }
    }
}

impl From<souk_app::operators::OperatorError> for RestError {
    fn from(e: souk_app::operators::OperatorError) -> Self {
        use souk_app::operators::OperatorError;
        match e {
            OperatorError::Store(e) => RestError::from(e),
            OperatorError::Forbidden => RestError::Forbidden(e.to_string()),
            OperatorError::Invalid(text) => RestError::BadRequest(text),
            OperatorError::EmailTaken => RestError::Conflict(e.to_string()),
            OperatorError::Upstream(text) => RestError::Conflict(text),
            OperatorError::Supply(s) => RestError::from(s),
            OperatorError::Balance(b) => RestError::BadRequest(b.to_string()),
            OperatorError::Throttled(_) | OperatorError::Busy => RestError::RateLimited,
            OperatorError::Wrong => RestError::Unauthorized(e.to_string()),
        }
    }
}

impl From<SupplyError> for RestError {
    fn from(e: SupplyError) -> Self {
        RestError::from(StoreError::Supply(e))
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
        let bytes = json_bytes(req).await?;
        parse_json(&bytes)
    }
}

/// `Option<JsonBody<T>>`: an empty body is `None`.
impl<S, T> OptionalFromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = RestError;

    async fn from_request(req: Request, _state: &S) -> Result<Option<Self>, Self::Rejection> {
        let bytes = json_bytes(req).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        parse_json(&bytes).map(Some)
    }
}

async fn json_bytes(req: Request) -> Result<axum::body::Bytes, RestError> {
    let (parts, body) = req.into_parts();
    read_body(&parts.headers, body, crate::transport::MAX_BODY, "1 MiB").await
}

/// A body of at most `max` bytes (`limit` says it in words): 413 over it, 400 when the
/// stream broke off.
pub async fn read_body(
    headers: &axum::http::HeaderMap,
    body: axum::body::Body,
    max: usize,
    limit: &str,
) -> Result<axum::body::Bytes, RestError> {
    use crate::transport::{read_body_limited, BodyError};
    read_body_limited(headers, body, max)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => {
                RestError::TooLarge(format!("Request body too large (max {limit})"))
            }
            BodyError::Broken | BodyError::Api(_) => {
                RestError::BadRequest(ApiError::BodyUnreadable.to_string())
            }
        })
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<JsonBody<T>, RestError> {
    let invalid = |e: serde_json::Error| RestError::BadRequest(format!("Invalid JSON body: {e}"));
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
    check_json(&value)?;
    serde_json::from_value(value).map(JsonBody).map_err(invalid)
}

/// The input rule (`souk_core::input`) over every string and key of a JSON body, before
/// any of it is read: the error names the field by its path (`subproducts.0.name`).
/// Strings may hold several lines; fields that may not say so where they are checked.
fn check_json(value: &serde_json::Value) -> Result<(), RestError> {
    let mut path = Vec::new();
    match first_unclean(value, &mut path) {
        None => Ok(()),
        Some(Unclean::Key) => Err(ApiError::InvalidCharacters("a field name".into()).into()),
        Some(Unclean::Value) => {
            let label = if path.is_empty() {
                "body".to_owned()
            } else {
                path.join(".")
            };
            Err(ApiError::InvalidCharacters(souk_core::input::field_label(&label)).into())
        }
    }
}

enum Unclean {
    Key,
    Value,
}

/// The first refused key or string, depth first; `path` then leads to it (array indexes
/// and keys). Nothing is allocated on the way unless something is refused.
fn first_unclean(value: &serde_json::Value, path: &mut Vec<String>) -> Option<Unclean> {
    use serde_json::Value;
    match value {
        Value::String(s) => (!souk_core::input::is_clean(s, true)).then_some(Unclean::Value),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let found = first_unclean(item, path)?;
            path.insert(0, i.to_string());
            Some(found)
        }),
        Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            if !souk_core::input::is_clean(name, false) {
                return Some(Unclean::Key);
            }
            let found = first_unclean(item, path)?;
            path.insert(0, name.clone());
            Some(found)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => None,
    }
}

/// axum's `Query` under the input rule (at most 1000 pairs, no control characters), its
/// refusals JSON like every other answer of these APIs (axum's own are plain text).
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = RestError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, RestError> {
        souk_core::Params::from_form(parts.uri.query().unwrap_or("").as_bytes())?;
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| RestError::BadRequest(e.body_text()))
    }
}

/// A money field as sent: `"1.50"` or `1.5` (a JSON number is read from its text, never
/// through a float).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(untagged)]
pub enum AmountInput {
    Text(String),
    Number(serde_json::Number),
}

impl AmountInput {
    pub fn text(&self) -> String {
        match self {
            AmountInput::Text(t) => t.clone(),
            AmountInput::Number(n) => n.to_string(),
        }
    }

    /// A price: not negative, up to 6 decimals.
    pub fn price(&self, field: &'static str) -> Result<souk_core::Money, RestError> {
        Ok(souk_core::supply::parse_price(field, &self.text())?)
    }

    /// Any amount, negative included (balance adjustments).
    pub fn signed(&self, field: &'static str) -> Result<souk_core::Money, RestError> {
        souk_core::Money::parse(&self.text()).map_err(|_| SupplyError::InvalidAmount(field).into())
    }
}

/// Translations as sent: `{"name": {"ru": "..."}, "description": {"ru": null}}`.
pub type TranslationsInput =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, Option<String>>>;

/// Checks an optional field.
pub fn checked<T>(
    value: Option<&str>,
    check: impl Fn(&str) -> Result<T, SupplyError>,
) -> Result<Option<T>, RestError> {
    Ok(value.map(check).transpose()?)
}

/// A PATCH `imageUrl`: absent (`None`), removed (`null` or blank), or a new URL.
pub fn image_patch(value: Option<Option<String>>) -> Result<Option<Option<String>>, RestError> {
    Ok(match value {
        None => None,
        Some(None) => Some(None),
        Some(Some(url)) => Some(souk_core::supply::check_image_url(&url)?),
    })
}

/// For PATCH fields where `null` means "remove": absent is `None`, `null` is `Some(None)`.
pub fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}

/// A path id that must be an entity id; anything else is `what` not found.
pub fn entity_id(text: &str, what: &str) -> Result<String, RestError> {
    let id = text.trim().to_ascii_lowercase();
    if souk_core::id::is_entity_id(&id) {
        Ok(id)
    } else {
        Err(RestError::NotFound(format!("{what} not found")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A task that panicked while placing or refunding an order is our fault: 500, with
    /// nothing of the panic in the answer (it once came back as 409 with its text).
    #[tokio::test]
    async fn a_failed_task_is_an_internal_error() {
        let joined = tokio::spawn(async { panic!("boom") }).await;
        let e = joined.expect_err("the task panicked");
        let error = RestError::from(StoreError::task_failed("order", &e));
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.to_string(), "Internal error");
        let fault = crate::v2::Fault::from(StoreError::task_failed("order", &e));
        assert!(matches!(fault, crate::v2::Fault::Store(_)));
    }
}
