//! The OpenAPI 3 document of the supplier and operator APIs, written by hand and served
//! as it is at `GET /openapi/admin.json`.

use axum::http::StatusCode;
use axum::response::Response;

use crate::transport::json_bytes;

/// The document's text.
pub const ADMIN_JSON: &str = include_str!("openapi/admin.json");

pub async fn admin() -> Response {
    json_bytes(StatusCode::OK, ADMIN_JSON.as_bytes().to_vec())
}
