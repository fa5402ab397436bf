//! A dispute on one of the shop's orders, as its supplier takes part in it: the thread
//! (the buyer's opening message, what each side wrote since, the operator's resolution)
//! and a message of the supplier's own in the open one.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_core::clock::iso_millis;
use souk_core::Money;
use souk_store::DisputeAuthor;

use super::Supplier;
use crate::rest::{JsonBody, RestError};
use crate::state::AppState;
use crate::transport::json_value;

fn order_id(text: &str) -> Result<i64, RestError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RestError::NotFound("Order not found".into()))
}

/// `GET /orders/{order}/dispute`: `{"disputes": [{..., "messages": [...]}]}`, oldest first.
pub async fn thread(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(order): Path<String>,
) -> Result<Response, RestError> {
    let order = order_id(&order)?;
    let disputes = state.store.shop_disputes(supplier.id(), order).await?;
    let mut out: Vec<Value> = Vec::with_capacity(disputes.len());
    for d in &disputes {
        let messages: Vec<Value> = state
            .store
            .dispute_messages(&d.id)
            .await?
            .iter()
            .map(|m| json!({"author": m.author, "message": m.body, "createdAt": iso_millis(m.created_at)}))
            .collect();
        out.push(json!({
            "id": d.id,
            "order": d.order_id,
            "status": d.status,
            "message": d.message,
            "messages": messages,
            "resolution": d.resolution,
            "refundAmount": Money::from_micros(d.refund_amount).display2(),
            "createdAt": iso_millis(d.created_at),
            "resolvedAt": d.resolved_at.map(iso_millis),
        }));
    }
    Ok(json_value(StatusCode::OK, &json!({ "disputes": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageBody {
    message: String,
}

/// `POST /orders/{order}/dispute/messages` with `{"message"}`: into the order's open dispute.
pub async fn message(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(order): Path<String>,
    JsonBody(body): JsonBody<MessageBody>,
) -> Result<Response, RestError> {
    let order = order_id(&order)?;
    let open = state
        .store
        .shop_disputes(supplier.id(), order)
        .await?
        .into_iter()
        .find(|d| d.status == "open")
        .ok_or_else(|| RestError::NotFound("Dispute not found".into()))?;
    let m = state
        .store
        .add_dispute_message(
            &open.id,
            DisputeAuthor::Supplier(supplier.id()),
            &body.message,
            state.now(),
        )
        .await?;
    Ok(json_value(
        StatusCode::CREATED,
        &json!({"id": m.id, "dispute": m.dispute_id, "author": m.author, "message": m.body, "createdAt": iso_millis(m.created_at)}),
    ))
}
