//! Disputes buyers opened: the list, and the operator's resolution (a refund or not).

use crate::routes::{get, post, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::disputes::DisputeDecision;
use souk_core::clock::iso_millis;
use souk_core::Money;
use souk_store::Dispute;

use super::{status_filter, Operator};
use crate::rest::{entity_id, AmountInput, JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/disputes", get(list))
        .route("/disputes/{id}/resolve", post(resolve))
        .route("/disputes/{id}/messages", post(message))
}

fn view(d: &Dispute) -> Value {
    json!({
        "id": d.id,
        "order": d.order_id,
        "userId": d.user_id,
        "email": d.email,
        "status": d.status,
        "message": d.message,
        "resolution": d.resolution,
        "refundAmount": Money::from_micros(d.refund_amount).display2(),
        "charge": Money::from_micros(d.charge).display2(),
        "refunded": Money::from_micros(d.refunded).display2(),
        "createdAt": iso_millis(d.created_at),
        "resolvedAt": d.resolved_at.map(iso_millis),
    })
}

#[derive(Deserialize)]
struct ListQuery {
    status: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Response, RestError> {
    let status = status_filter(
        q.status.as_deref(),
        &["open", "refunded", "rejected"],
        "open, refunded or rejected",
    )?;
    let rows: Vec<Value> = state
        .store
        .disputes(status)
        .await?
        .iter()
        .map(view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({"disputes": rows})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    /// `refund` or `reject`.
    decision: String,
    /// With `refund`: how much (default: everything not yet refunded).
    amount: Option<AmountInput>,
    #[serde(default)]
    note: String,
}

/// `POST /disputes/{id}/resolve` with `{"decision": "refund"|"reject", "amount", "note"}`.
async fn resolve(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ResolveBody>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Dispute")?;
    let decision = match body.decision.trim() {
        "refund" => DisputeDecision::Refund(
            body.amount
                .as_ref()
                .map(|a| a.price("amount"))
                .transpose()?,
        ),
        "reject" if body.amount.is_none() => DisputeDecision::Reject,
        "reject" => {
            return Err(RestError::BadRequest(
                "A rejected dispute refunds nothing; leave amount out".into(),
            ))
        }
        _ => {
            return Err(RestError::BadRequest(
                "decision must be refund or reject".into(),
            ))
        }
    };
    // Audited as the operator API, in the transaction that books the decision.
    let d = souk_app::operators::resolve_dispute_as(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        &id,
        decision,
        &body.note,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &view(&d)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageBody {
    message: String,
}

/// `POST /disputes/{id}/messages` with `{"message"}`: the operator writes in the thread.
async fn message(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Dispute")?;
    // Audited as the operator API, in the transaction that adds the message.
    let m = souk_app::operators::dispute_message(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        &id,
        &body.message,
        state.now(),
    )
    .await?;
    Ok(json_value(
        StatusCode::CREATED,
        &json!({
            "id": m.id,
            "dispute": m.dispute_id,
            "author": m.author,
            "message": m.body,
            "createdAt": iso_millis(m.created_at),
        }),
    ))
}
