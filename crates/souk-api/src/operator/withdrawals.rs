//! Suppliers' withdrawal requests: the operator pays them (out of band) or rejects them,
//! which releases their earnings.

use crate::routes::{get, post, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::withdrawals::{self, DecideWithdrawal, WithdrawalDecision};

use super::{status_filter, Operator};
use crate::rest::{entity_id, JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::supplier::withdrawal_view;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/withdrawals", get(list))
        .route("/withdrawals/{id}/complete", post(complete))
        .route("/withdrawals/{id}/reject", post(reject))
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
        &["requested", "completed", "rejected"],
        "requested, completed or rejected",
    )?;
    let rows: Vec<Value> = state
        .store
        .withdrawals(None, status)
        .await?
        .iter()
        .map(withdrawal_view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({"withdrawals": rows})))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    note: String,
}

async fn decide(
    state: AppState,
    id: String,
    decision: WithdrawalDecision,
    body: Option<JsonBody<DecisionBody>>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Withdrawal")?;
    let command = DecideWithdrawal {
        withdrawal_id: id,
        decision,
        note: body.map(|JsonBody(b)| b.note).unwrap_or_default(),
    };
    // Audited as the operator API, in the transaction of the decision.
    let w = withdrawals::decide_as(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        command,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &withdrawal_view(&w)))
}

/// `POST /withdrawals/{id}/complete` (optional `{"note"}`): paid.
async fn complete(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<JsonBody<DecisionBody>>,
) -> Result<Response, RestError> {
    decide(state, id, WithdrawalDecision::Paid, body).await
}

/// `POST /withdrawals/{id}/reject` (optional `{"note"}`): its earnings are released.
async fn reject(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<JsonBody<DecisionBody>>,
) -> Result<Response, RestError> {
    decide(state, id, WithdrawalDecision::Rejected, body).await
}
