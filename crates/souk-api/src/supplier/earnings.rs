//! The supplier's earnings (per sale: price less commission, held, then available) and
//! withdrawals.

use std::collections::HashMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::withdrawals;
use souk_core::clock::iso_millis;
use souk_core::supply::{self, EarningsSettings};
use souk_core::Money;
use souk_store::{EarningRow, Withdrawal};

use super::{paging_of, Supplier};
use crate::rest::{JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::transport::json_value;

fn money(micros: i64) -> String {
    Money::from_micros(micros).display2()
}

fn earning_view(e: &EarningRow, now: i64) -> Value {
    json!({
        "order": e.order_id,
        "shopId": e.shop_id,
        "gross": money(e.gross),
        "commission": money(e.commission),
        "refunded": money(e.refunded),
        "amount": money(e.amount),
        "status": supply::earning_state(e.withdrawal_status.as_deref(), e.available_at, now),
        "availableAt": iso_millis(e.available_at),
        "withdrawalId": e.withdrawal_id,
    })
}

/// A withdrawal as suppliers and the operator see it.
pub fn withdrawal_view(w: &Withdrawal) -> Value {
    json!({
        "id": w.id,
        "shopId": w.shop_id,
        "amount": money(w.amount),
        "status": w.status,
        "orders": w.orders,
        "note": w.note,
        "resolution": w.resolution,
        "createdAt": iso_millis(w.created_at),
        "completedAt": w.completed_at.map(iso_millis),
    })
}

/// `GET /earnings[?limit&offset]`: per sale, newest first, with totals by state.
pub async fn list(
    State(state): State<AppState>,
    supplier: Supplier,
    QueryParams(q): QueryParams<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let (limit, offset) = paging_of(&q, 50, 500)?;
    let now = state.now();
    let (rows, total, summary) = state
        .store
        .earnings(supplier.id(), limit, offset, now)
        .await?;
    let settings = state.store.settings().await?;
    let terms =
        EarningsSettings::from_pairs(settings.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let list: Vec<Value> = rows.iter().map(|e| earning_view(e, now)).collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({
            "currency": state.config.currency,
            "commissionPercent": supply::format_percent(terms.commission_bp),
            "holdHours": terms.hold_hours,
            "summary": {
                "held": summary.held.display2(),
                "available": summary.available.display2(),
                "requested": summary.requested.display2(),
                "withdrawn": summary.withdrawn.display2(),
            },
            "earnings": list,
            "count": list.len(),
            "total": total,
        }),
    ))
}

/// `GET /withdrawals`.
pub async fn withdrawals(
    State(state): State<AppState>,
    supplier: Supplier,
) -> Result<Response, RestError> {
    let list = state.store.withdrawals(Some(supplier.id()), None).await?;
    let rows: Vec<Value> = list.iter().map(withdrawal_view).collect();
    Ok(json_value(StatusCode::OK, &json!({"withdrawals": rows})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WithdrawalBody {
    shop_id: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /withdrawals` (optional `{"shopId", "note"}`): everything available. 201.
pub async fn request_withdrawal(
    State(state): State<AppState>,
    supplier: Supplier,
    body: Option<JsonBody<WithdrawalBody>>,
) -> Result<Response, RestError> {
    let body = body.map(|JsonBody(b)| b).unwrap_or_default();
    let shop = supplier.shop(body.shop_id.as_deref())?;
    let w =
        withdrawals::request(&state.store, supplier.id(), shop, &body.note, state.now()).await?;
    Ok(json_value(StatusCode::CREATED, &withdrawal_view(&w)))
}
