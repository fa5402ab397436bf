//! Webhook endpoints over JSON, the same routes for a user (`/api/account/v1/webhooks`)
//! and for the operator (`/api/operator/v1/webhooks`): whoever calls owns the endpoints
//! of their audience and may filter on their kinds only. Another owner's endpoint is
//! "not found". The rules live in `souk_app::webhooks`.

use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::webhooks::{self, NewWebhook, Owner, WebhookChange, WebhookError};
use souk_core::clock::iso_millis;
use souk_store::{WebhookAttempt, WebhookDelivery, WebhookEndpoint};

use crate::rest::{entity_id, JsonBody, RestError};
use crate::routes::{get, post, Routes};
use crate::state::AppState;
use crate::transport::json_value;

/// How many deliveries and attempts `GET /webhooks/{id}` shows.
const RECENT: i64 = 50;

/// A caller that owns webhook endpoints.
pub trait HookOwner: FromRequestParts<AppState, Rejection = RestError> + Send + 'static {
    fn owner(&self) -> Owner<'_>;
}

impl HookOwner for crate::operator::Operator {
    fn owner(&self) -> Owner<'_> {
        Owner::Operator
    }
}

pub fn routes<O: HookOwner>() -> Routes {
    Routes::new()
        .route("/webhooks", get(list::<O>).post(create::<O>))
        .route(
            "/webhooks/{id}",
            get(one::<O>).patch(update::<O>).delete(remove::<O>),
        )
        .route("/webhooks/{id}/secret", get(secret::<O>))
        .route("/webhooks/{id}/rotate-secret", post(rotate::<O>))
        .route("/webhooks/{id}/test", post(test::<O>))
        .route(
            "/webhooks/{id}/deliveries/{delivery}/resend",
            post(resend::<O>),
        )
}

impl From<WebhookError> for RestError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::Store(e) => RestError::from(e),
            e @ (WebhookError::TooMany | WebhookError::Disabled) => {
                RestError::Conflict(e.to_string())
            }
            other => RestError::BadRequest(other.to_string()),
        }
    }
}

fn time(ms: Option<i64>) -> Value {
    ms.map_or(Value::Null, |t| Value::String(iso_millis(t)))
}

fn events_list(filter: &str) -> Vec<&str> {
    filter.split(',').collect()
}

pub fn endpoint_view(e: &WebhookEndpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "events": events_list(&e.events),
        "description": e.description,
        "enabled": e.enabled,
        "disabledReason": e.disabled_reason,
        "failingSince": time(e.failing_since),
        "pending": e.pending,
        "createdAt": iso_millis(e.created_at),
        "updatedAt": iso_millis(e.updated_at),
    })
}

fn delivery_view(d: &WebhookDelivery) -> Value {
    json!({
        "id": d.id,
        "eventId": d.event_id,
        "type": d.kind,
        "state": d.state,
        "attempts": d.attempts,
        "nextAt": if d.state == "pending" { time(Some(d.next_at)) } else { Value::Null },
        "createdAt": iso_millis(d.created_at),
        "deliveredAt": time(d.delivered_at),
    })
}

fn attempt_view(a: &WebhookAttempt) -> Value {
    json!({
        "id": a.id,
        "deliveryId": a.delivery_id,
        "eventId": a.event_id,
        "type": a.kind,
        "status": a.status,
        "error": a.error,
        "response": a.response,
        "durationMs": a.duration_ms,
        "createdAt": iso_millis(a.created_at),
    })
}

fn endpoint_id(text: &str) -> Result<String, RestError> {
    entity_id(text, "Webhook endpoint")
}

/// `GET /webhooks`: the caller's endpoints, oldest first, and the kinds they may filter on.
async fn list<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
) -> Result<Response, RestError> {
    let owner = caller.owner();
    let endpoints: Vec<Value> = state
        .store
        .webhook_endpoints(owner.audience())
        .await?
        .iter()
        .map(endpoint_view)
        .collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({"webhooks": endpoints, "events": owner.kinds()}),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    url: String,
    events: Option<Vec<String>>,
    description: Option<String>,
}

/// `POST /webhooks`: registers an endpoint; the answer holds its secret, this once.
async fn create<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<Response, RestError> {
    let new = NewWebhook {
        url: body.url,
        events: body.events.unwrap_or_default(),
        description: body.description.unwrap_or_default(),
    };
    let (endpoint, secret) = webhooks::create(
        &state.store,
        caller.owner(),
        &new,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await?;
    let mut view = endpoint_view(&endpoint);
    view["secret"] = Value::String(secret);
    Ok(json_value(StatusCode::CREATED, &view))
}

/// `GET /webhooks/{id}`: one endpoint with its newest deliveries and attempts.
async fn one<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    let endpoint = state
        .store
        .webhook_endpoint(caller.owner().audience(), &id)
        .await?;
    let deliveries = state.store.webhook_deliveries(&id, RECENT).await?;
    let attempts = state.store.webhook_attempts(&id, RECENT).await?;
    let mut view = endpoint_view(&endpoint);
    view["deliveries"] = deliveries.iter().map(delivery_view).collect();
    view["attempts"] = attempts.iter().map(attempt_view).collect();
    Ok(json_value(StatusCode::OK, &view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    url: Option<String>,
    events: Option<Vec<String>>,
    description: Option<String>,
    enabled: Option<bool>,
}

/// `PATCH /webhooks/{id}`: url, events, description, enabled (enabling clears the
/// failures and sends what waits).
async fn update<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    let change = WebhookChange {
        url: body.url,
        events: body.events,
        description: body.description,
        enabled: body.enabled,
    };
    let endpoint = webhooks::update(
        &state.store,
        caller.owner(),
        &id,
        &change,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &endpoint_view(&endpoint)))
}

/// `DELETE /webhooks/{id}`: the endpoint, its deliveries and attempts.
async fn remove<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    webhooks::remove(&state.store, caller.owner(), &id, state.now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /webhooks/{id}/secret`: the secret, on explicit request.
async fn secret<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    let secret = state
        .store
        .webhook_secret(caller.owner().audience(), &id)
        .await?;
    Ok(json_value(StatusCode::OK, &json!({"secret": secret})))
}

/// `POST /webhooks/{id}/rotate-secret`: a new secret, answered this once.
async fn rotate<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    let secret = webhooks::rotate_secret(&state.store, caller.owner(), &id, state.now()).await?;
    Ok(json_value(StatusCode::OK, &json!({"secret": secret})))
}

/// `POST /webhooks/{id}/test`: queues a `webhook.test` message for this endpoint alone.
async fn test<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    let delivery = webhooks::send_test(&state.store, caller.owner(), &id, state.now()).await?;
    Ok(json_value(
        StatusCode::ACCEPTED,
        &json!({"delivery": delivery, "state": "pending"}),
    ))
}

/// `POST /webhooks/{id}/deliveries/{delivery}/resend`: the delivery goes again, now.
async fn resend<O: HookOwner>(
    State(state): State<AppState>,
    caller: O,
    Path((id, delivery)): Path<(String, String)>,
) -> Result<Response, RestError> {
    let id = endpoint_id(&id)?;
    let delivery = delivery
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|d| *d > 0)
        .ok_or_else(|| RestError::NotFound("Delivery not found".into()))?;
    state
        .store
        .resend_webhook_delivery(caller.owner().audience(), &id, delivery, state.now())
        .await?;
    Ok(json_value(
        StatusCode::ACCEPTED,
        &json!({"delivery": delivery, "state": "pending"}),
    ))
}
