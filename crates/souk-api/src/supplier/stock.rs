//! Stock lines of the supplier's inventory subproducts: upload (text, one item per line),
//! counts, removal of unsold lines.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use souk_app::stock::{self, RemoveStock, UploadStock};
use souk_core::params::parse_bool;
use souk_core::supply::{self, MAX_UPLOAD_BYTES};

use super::Supplier;
use crate::rest::{entity_id, QueryParams, RestError};
use crate::state::AppState;
use crate::transport::{json_value, read_body_limited, BodyError};
use souk_core::ApiError;

/// The body of an upload or removal: text, at most `MAX_UPLOAD_BYTES`.
async fn read_text(headers: &HeaderMap, body: Body) -> Result<Vec<u8>, RestError> {
    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    {
        if !ct.trim().to_ascii_lowercase().starts_with("text/") {
            return Err(RestError::UnsupportedMediaType(
                "Stock is sent as text/plain, one item per line".into(),
            ));
        }
    }
    match read_body_limited(headers, body, MAX_UPLOAD_BYTES).await {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(BodyError::TooLarge) => Err(RestError::TooLarge(format!(
            "Stock upload too large (max {} MiB)",
            MAX_UPLOAD_BYTES >> 20
        ))),
        Err(BodyError::Broken | BodyError::Api(_)) => {
            Err(RestError::BadRequest(ApiError::BodyUnreadable.to_string()))
        }
    }
}

/// `POST /subproducts/{id}/stock[?dedupe=true]` with a text body: `{"accepted","rejected"}`.
pub async fn upload(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
    QueryParams(q): QueryParams<HashMap<String, String>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Subproduct")?;
    let dedupe = match q.get("dedupe") {
        None => false,
        Some(v) => parse_bool(v)
            .ok_or_else(|| RestError::BadRequest("dedupe must be true or false".into()))?,
    };
    let bytes = read_text(&headers, body).await?;
    let lines = supply::parse_stock_upload(&bytes)?;
    drop(bytes);
    let command = UploadStock {
        supplier_id: supplier.id().to_owned(),
        subproduct_id: id,
        lines,
        dedupe,
    };
    let done = stock::upload(&state.store, command, state.now()).await?;
    state.apply_changes(&done.changes).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"accepted": done.accepted, "rejected": done.rejected}),
    ))
}

/// `GET /subproducts/{id}/stock`.
pub async fn counts(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Subproduct")?;
    let c = state.store.stock_counts(supplier.id(), &id).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({
            "subproductId": c.subproduct_id,
            "type": c.product_type.as_str(),
            "available": c.available,
            "sold": c.sold,
        }),
    ))
}

/// `DELETE /subproducts/{id}/stock`: every unsold line, or (with a text body) the unsold
/// lines equal to those given.
pub async fn remove(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Subproduct")?;
    let bytes = read_text(&headers, body).await?;
    let command = RemoveStock {
        supplier_id: supplier.id().to_owned(),
        subproduct_id: id,
        only: supply::parse_stock_removal(&bytes)?,
    };
    drop(bytes);
    let done = stock::remove(&state.store, command, state.now()).await?;
    state.apply_changes(&done.changes).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({"removed": done.removed, "available": done.available}),
    ))
}
