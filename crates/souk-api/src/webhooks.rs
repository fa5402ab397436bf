//! Inbound webhooks: payment gateways' callbacks ([`payment`]) and SMS pushed by the
//! operator's gateways.
//!
//! `POST /webhooks/payments/{cryptomus|nowpayments|stripe}`: a gateway says something
//! happened to a payment. The signature is checked the gateway's way; a verified callback
//! only wakes the payment's check, which asks the gateway itself (`souk_app::payments`).
//! Answers: 200 `{"ok":true}` (also for a payment that is not ours, so the gateway stops
//! sending it; it is recorded), 401 unsigned, forged or stale, 400 unreadable, 404
//! unknown gateway, 413 body over 64 KiB.
//!
//! `POST /webhooks/sms/{gateway_id}`: a gateway pushes an SMS it
//! received on one of its numbers, signed with its secret:
//!
//! ```text
//! X-Souk-Timestamp: <unix seconds>
//! X-Souk-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//! {"phone": "+15550100001", "from": "Telegram", "text": "Telegram code: 48213", "received_at": 1700000000000}
//! ```
//!
//! The body may also be a form with the same fields (`sender` for `from`, `message` for
//! `text`; `received_at` in unix seconds or milliseconds, or ISO 8601; absent means now).
//! A signature is accepted once, within 5 minutes of its timestamp. Answers: 200
//! `{"accepted":true,"message_id","order","code"}` (`order` and `code` null when the SMS
//! changed no activation), 401 bad or stale signature, 404 unknown or disabled gateway,
//! 409 replay, 400 bad body, 413 body over 64 KiB.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use souk_core::params::Params;
use souk_core::sms::{
    normalize_phone, parse_time, verify_signature, SignatureError, SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
};
use souk_core::ApiError;
use souk_store::{InboundOutcome, InboundSms};

use crate::rest::RestError;
use crate::state::AppState;
use crate::transport::json_value;

/// The largest webhook body read.
const MAX_BODY: usize = 64 * 1024;
/// The longest SMS text kept.
const MAX_TEXT: usize = 4096;

pub async fn sms(
    State(state): State<AppState>,
    Path(gateway_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    let bytes = crate::rest::read_body(&headers, body, MAX_BODY, "64 KiB").await?;
    let now = state.now();
    // Gateway ids are entity ids: anything else names no gateway, and never reaches the
    // database (a NUL in a path once made PostgreSQL answer 500 here).
    if !souk_core::id::is_entity_id(&gateway_id) {
        return Err(RestError::NotFound("Gateway not found".into()));
    }
    let gateway = state
        .store
        .sms_gateway_secret(&gateway_id)
        .await?
        .filter(|g| g.active)
        .ok_or_else(|| RestError::NotFound("Gateway not found".into()))?;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = verify_signature(
        gateway.secret.as_bytes(),
        header(TIMESTAMP_HEADER),
        header(SIGNATURE_HEADER),
        &bytes,
        now,
    )
    .map_err(|e| match e {
        SignatureError::Missing | SignatureError::Mismatch | SignatureError::Stale => {
            RestError::Unauthorized(e.to_string())
        }
    })?;
    let params = parse_body(&headers, &bytes)?;
    let phone = params
        .get("phone")
        .ok_or_else(|| RestError::BadRequest("phone is required".into()))?;
    let phone = normalize_phone(phone)
        .ok_or_else(|| RestError::BadRequest(format!("Invalid phone number {phone:?}")))?;
    let text = params
        .get("text")
        .or_else(|| params.get("message"))
        .ok_or_else(|| RestError::BadRequest("text is required".into()))?;
    if text.chars().count() > MAX_TEXT {
        return Err(RestError::BadRequest(format!(
            "text is too long (max {MAX_TEXT} characters)"
        )));
    }
    let sender = params
        .get("from")
        .or_else(|| params.get("sender"))
        .unwrap_or("");
    let received_at = match params
        .get("received_at")
        .or_else(|| params.get("timestamp"))
    {
        None => now,
        Some(t) => parse_time(t)
            .ok_or_else(|| RestError::BadRequest(format!("Invalid received_at {t:?}")))?,
    };
    let outcome = state
        .store
        .receive_sms(
            &InboundSms {
                gateway_id: Some(&gateway.id),
                phone: &phone,
                sender: &sender.chars().take(64).collect::<String>(),
                text,
                received_at,
                signature: Some(&signature),
            },
            now,
        )
        .await?;
    match outcome {
        InboundOutcome::Replayed => Err(RestError::Conflict("Replayed webhook".into())),
        InboundOutcome::Stored(stored) => Ok(json_value(
            StatusCode::OK,
            &json!({
                "accepted": true,
                "message_id": stored.message_id,
                "order": stored.code.as_ref().and(stored.order_id),
                "code": stored.code,
            }),
        )),
    }
}

pub async fn payment(
    State(state): State<AppState>,
    Path(gateway): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, RestError> {
    use souk_app::payments::{receive_callback, CallbackReply};
    use souk_client::payments::CallbackError;
    let bytes = crate::rest::read_body(&headers, body, MAX_BODY, "64 KiB").await?;
    let reply = receive_callback(
        &state.store,
        state.config.allow_private_upstreams,
        &gateway,
        &headers,
        &bytes,
        state.now(),
    )
    .await?;
    match reply {
        CallbackReply::Accepted => Ok(json_value(StatusCode::OK, &json!({"ok": true}))),
        CallbackReply::Refused(e @ CallbackError::Unreadable(_)) => {
            Err(RestError::BadRequest(e.to_string()))
        }
        CallbackReply::Refused(e) => Err(RestError::Unauthorized(e.to_string())),
        CallbackReply::UnknownGateway => Err(RestError::NotFound("Gateway not found".into())),
    }
}

fn parse_body(headers: &HeaderMap, bytes: &[u8]) -> Result<Params, RestError> {
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let looks_json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    if content_type.contains("json") || (content_type.is_empty() && looks_json) {
        Params::from_json(bytes).map_err(|e| match e {
            ApiError::InvalidJson | ApiError::JsonNotObject => {
                RestError::BadRequest(format!("{e}"))
            }
            other => other.into(),
        })
    } else {
        if std::str::from_utf8(bytes).is_err() {
            return Err(RestError::BadRequest("Invalid form body".into()));
        }
        Ok(Params::from_form(bytes)?)
    }
}
