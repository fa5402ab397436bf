//! SPEC 1 transport: parameters from the query string and a form, multipart or JSON body
//! (the body wins), every API outcome as HTTP 200 JSON, and only transport faults as
//! 400 (a body that broke off), 413, 429 and 500.
//!
//! Everything here runs before the key is checked, so it must cost little whatever is
//! sent: decoding is linear in the input, stops at the parameter cap, and applies the
//! input rule (`souk_core::input`) once, here, for every action.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use souk_core::{ApiError, Params};

/// The largest body `/api/v2` reads.
pub const MAX_BODY: usize = 1 << 20;

pub(crate) const JSON_CONTENT_TYPE: &str = "application/json; charset=utf-8";

#[derive(Debug, PartialEq, Eq)]
pub enum BodyError {
    /// Over `MAX_BODY`: HTTP 413.
    TooLarge,
    /// The stream broke off before its end: HTTP 400, nothing processed.
    Broken,
    /// Unreadable: answered as an API error at HTTP 200.
    Api(ApiError),
}

/// Decodes a request's parameters; `query` is the raw query string.
pub async fn read_params(
    query: Option<&str>,
    headers: &HeaderMap,
    body: Body,
) -> Result<Params, BodyError> {
    // The body is read (or drained, up to its limit) before anything is refused, so a
    // client still sending can read the answer instead of a reset connection.
    let bytes = read_limited(headers, body).await?;
    let params = Params::from_form(query.unwrap_or("").as_bytes()).map_err(BodyError::Api)?;
    if bytes.is_empty() {
        return Ok(params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/x-www-form-urlencoded");
    let mime = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let body_params = match mime.as_str() {
        "application/x-www-form-urlencoded" | "" => form_params(&bytes)?,
        "multipart/form-data" => multipart_params(content_type, bytes).await?,
        m if m == "application/json" || m.ends_with("+json") => json_params(&bytes)?,
        _ => return Err(BodyError::Api(ApiError::UnsupportedContentType)),
    };
    Ok(params.merged_with_body(body_params))
}

/// Reads the body up to `MAX_BODY`.
async fn read_limited(headers: &HeaderMap, body: Body) -> Result<Bytes, BodyError> {
    read_body_limited(headers, body, MAX_BODY).await
}

/// Reads a body up to `max` bytes. An oversized body is still drained (up to 16 MiB, or
/// twice `max` if larger) so that the client, still sending, can read the 413 instead of
/// a reset.
pub async fn read_body_limited(
    headers: &HeaderMap,
    body: Body,
    max: usize,
) -> Result<Bytes, BodyError> {
    use futures::StreamExt;
    let drain_limit = (16usize << 20).max(max.saturating_mul(2));
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut too_large = declared.is_some_and(|n| n > max as u64);
    let mut buffer = Vec::new();
    let mut seen = 0usize;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        // A broken stream is a transport fault: nothing is processed.
        let chunk = chunk.map_err(|_| BodyError::Broken)?;
        seen += chunk.len();
        if seen > max {
            too_large = true;
        }
        if too_large {
            buffer = Vec::new();
            if seen > drain_limit {
                break;
            }
        } else {
            buffer.extend_from_slice(&chunk);
        }
    }
    if too_large {
        return Err(BodyError::TooLarge);
    }
    Ok(Bytes::from(buffer))
}

fn form_params(bytes: &[u8]) -> Result<Params, BodyError> {
    if std::str::from_utf8(bytes).is_err() {
        return Err(BodyError::Api(ApiError::InvalidForm));
    }
    Params::from_form(bytes).map_err(BodyError::Api)
}

fn json_params(bytes: &[u8]) -> Result<Params, BodyError> {
    Params::from_json(bytes).map_err(BodyError::Api)
}

async fn multipart_params(content_type: &str, bytes: Bytes) -> Result<Params, BodyError> {
    let boundary =
        multer::parse_boundary(content_type).map_err(|_| BodyError::Api(ApiError::InvalidForm))?;
    let stream = futures::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(bytes) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut params = Params::new();
    loop {
        match multipart.next_field().await {
            Ok(Some(field)) => {
                let name = field.name().unwrap_or_default().to_owned();
                let value = field
                    .text()
                    .await
                    .map_err(|_| BodyError::Api(ApiError::InvalidForm))?;
                if !name.is_empty() {
                    if params.len() == souk_core::input::MAX_PARAMS {
                        return Err(BodyError::Api(ApiError::TooManyParams));
                    }
                    params.push(&name, value);
                }
            }
            Ok(None) => {
                params.check().map_err(BodyError::Api)?;
                return Ok(params);
            }
            Err(_) => return Err(BodyError::Api(ApiError::InvalidForm)),
        }
    }
}

/// The API key: the `key` parameter, else the `X-Api-Key` header.
pub fn api_key<'a>(params: &'a Params, headers: &'a HeaderMap) -> Option<&'a str> {
    params.get("key").or_else(|| {
        headers
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    })
}

/// A JSON body at `status` with the charset the spec names.
pub fn json_bytes(status: StatusCode, body: impl IntoResponse) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(JSON_CONTENT_TYPE),
    );
    response
}

pub fn json_value<T: serde::Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => json_bytes(status, bytes),
        Err(_) => error_response(StatusCode::INTERNAL_SERVER_ERROR, &ApiError::Internal),
    }
}

/// `{"error": "..."}` at `status`.
pub fn error_response(status: StatusCode, error: &ApiError) -> Response {
    json_value(status, &serde_json::json!({ "error": error.to_string() }))
}
