//! Buyers' top-ups as the operator sees them: payments with their record of callbacks,
//! checks and decisions, a re-check at the gateway, the approval or rejection of a
//! manual transfer (or of a payment held for its amount), and the gateways' settings.
//! Every rule lives in `souk_app::payments`; these handlers read input and shape answers.
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /payments?state=&user=&limit=` | | `{"payments":[..]}` newest first |
//! | `GET /payments/{id}` | | the payment with its `events` |
//! | `GET /payment-events?limit=` | | `{"events":[..]}` newest first, all gateways |
//! | `POST /payments/{id}/check` | | `{"payment","check":{"outcome","message","next_check_at"}}`; 409 for a manual transfer |
//! | `POST /payments/{id}/approve` | `{"amount"?:"12.50","note"?}` | `{"payment","settlement"}` |
//! | `POST /payments/{id}/reject` | `{"note"?}` | `{"payment","settlement"}` |
//! | `GET /gateways` | | `{"gateways":[..]}` (keys never shown) |
//! | `PUT /gateways/{id}` | the fields of `GatewayPatch` | the gateway |
//! | `POST /gateways/{id}/check` | | `{"ok":true,"said"}`; 409 `{"error"}` when the keys do not work |

use crate::routes::{get, post, put, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::payments::{self, CheckError, CheckStep, Decision, GatewayPatch, PaymentError};
use souk_core::clock::iso_millis;
use souk_core::payment::{PaymentState, Settlement};
use souk_core::Money;
use souk_store::{GatewayRecord, PaymentEvent, PaymentRecord};

use super::Operator;
use crate::rest::{entity_id, JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/payments", get(list))
        .route("/payments/{id}", get(show))
        .route("/payments/{id}/check", post(check))
        .route("/payments/{id}/approve", post(approve))
        .route("/payments/{id}/reject", post(reject))
        .route("/payment-events", get(events))
        .route("/gateways", get(gateways))
        .route("/gateways/{id}", put(configure))
        .route("/gateways/{id}/check", post(check_gateway))
}

fn money(micros: i64) -> String {
    Money::from_micros(micros).display2()
}

pub fn payment_view(p: &PaymentRecord) -> Value {
    json!({
        "id": p.id,
        "user": {"id": p.user_id, "email": p.email},
        "gateway": p.gateway,
        "state": p.state,
        "amount": money(p.amount),
        "fee": money(p.fee),
        "total": money(p.total),
        "bonus": money(p.bonus),
        "received": p.received.map(money),
        "credited": money(p.credited),
        "bonus_credited": money(p.bonus_credited),
        "currency": p.currency,
        "external_id": p.external_id,
        "remote_status": p.remote_status,
        "late": p.late,
        "note": p.note,
        "pay_url": p.pay_url,
        "created_at": iso_millis(p.created_at),
        "updated_at": iso_millis(p.updated_at),
        "settled_at": p.settled_at.map(iso_millis),
        "expires_at": iso_millis(p.expires_at),
    })
}

fn event_view(e: &PaymentEvent) -> Value {
    json!({
        "id": e.id,
        "payment_id": e.payment_id,
        "gateway": e.gateway,
        "source": e.source,
        "verdict": e.verdict,
        "detail": e.detail,
        "created_at": iso_millis(e.created_at),
    })
}

fn gateway_view(g: &GatewayRecord) -> Value {
    json!({
        "id": g.id,
        "enabled": g.enabled,
        "title": g.title,
        "base_url": g.base_url,
        "merchant": g.merchant,
        "has_api_key": g.has_api_key,
        "has_secret": g.has_secret,
        "min_amount": money(g.min_amount),
        "max_amount": money(g.max_amount),
        "fee_percent": souk_core::supply::format_percent(g.fee_bp),
        "instructions": g.instructions,
        "updated_at": iso_millis(g.updated_at),
    })
}

/// What a settlement did, in a word and a sentence.
fn settlement_view(s: &Settlement) -> Value {
    let outcome = match s {
        Settlement::Wait => "wait",
        Settlement::Credit { .. } => "credit",
        Settlement::Hold { .. } => "hold",
        Settlement::Close { .. } => "close",
        Settlement::Nothing { .. } => "nothing",
    };
    json!({ "outcome": outcome, "verdict": souk_store::verdict_of(s) })
}

/// A list's `limit`: 1 to 1000, `default` when absent.
fn limit_of(text: Option<&str>, default: i64) -> Result<i64, RestError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(default),
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                RestError::BadRequest("limit must be a whole number from 1 to 1000".into())
            }),
    }
}

fn state_choices() -> String {
    PaymentState::ALL
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn payment_id(text: &str) -> Result<String, RestError> {
    entity_id(text, "Payment")
}

#[derive(Deserialize)]
struct ListQuery {
    state: Option<String>,
    /// A user's id or email.
    user: Option<String>,
    limit: Option<String>,
}

/// `GET /payments?state=&user=&limit=` (default 100, at most 1000): newest first.
async fn list(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Response, RestError> {
    let wanted = match q.state.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(PaymentState::parse(s).ok_or_else(|| {
            RestError::BadRequest(format!("state must be one of {}", state_choices()))
        })?),
    };
    let limit = limit_of(q.limit.as_deref(), 100)?;
    let user = match q.user.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
        None => None,
        Some(u) if u.contains('@') => Some(
            state
                .store
                .user_id_by_email(u)
                .await
                .or_else(|e| match e {
                    // Not an email at all: no such user either.
                    souk_store::StoreError::Invalid(_) => Ok(None),
                    other => Err(other),
                })?
                .ok_or_else(|| RestError::NotFound("User not found".into()))?,
        ),
        Some(u) => {
            let id = entity_id(u, "User")?;
            state.store.user(&id).await?;
            Some(id)
        }
    };
    let rows: Vec<Value> = state
        .store
        .payments(user.as_deref(), wanted.map(PaymentState::as_str), limit)
        .await?
        .iter()
        .map(payment_view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "payments": rows })))
}

/// The payment with its whole record, newest event first.
async fn detail(state: &AppState, id: &str) -> Result<Value, RestError> {
    let p = state
        .store
        .payment(id)
        .await?
        .ok_or_else(|| RestError::NotFound("Payment not found".into()))?;
    let events: Vec<Value> = state
        .store
        .payment_events(Some(id), 1000)
        .await?
        .iter()
        .map(event_view)
        .collect();
    let mut v = payment_view(&p);
    v["events"] = json!(events);
    Ok(v)
}

/// `GET /payments/{id}`: the payment and every event of it.
async fn show(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = payment_id(&id)?;
    Ok(json_value(StatusCode::OK, &detail(&state, &id).await?))
}

#[derive(Deserialize)]
struct EventsQuery {
    limit: Option<String>,
}

/// `GET /payment-events?limit=` (default 100, at most 1000): the newest events of all
/// gateways, callbacks for unknown payments and refused signatures included.
async fn events(
    State(state): State<AppState>,
    _: Operator,
    QueryParams(q): QueryParams<EventsQuery>,
) -> Result<Response, RestError> {
    let limit = limit_of(q.limit.as_deref(), 100)?;
    let rows: Vec<Value> = state
        .store
        .payment_events(None, limit)
        .await?
        .iter()
        .map(event_view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "events": rows })))
}

/// `POST /payments/{id}/check`: asks the gateway now (the check the `payment.check` job
/// runs; settling is one conditional transaction, so running beside the job is safe) and
/// answers the payment afterwards with what the check said. The request is recorded as
/// the operator's event with its outcome.
async fn check(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = payment_id(&id)?;
    let p = state
        .store
        .payment(&id)
        .await?
        .ok_or_else(|| RestError::NotFound("Payment not found".into()))?;
    if p.gateway == payments::MANUAL {
        return Err(RestError::Conflict(
            "A manual transfer has no gateway to ask: approve or reject it".into(),
        ));
    }
    let now = state.now();
    let step = payments::check(&state.store, state.config.allow_private_upstreams, &id, now).await;
    let said = match &step {
        Ok(CheckStep::Again(at)) => json!({
            "outcome": "open",
            "message": "the gateway was asked; the payment is still open",
            "next_check_at": iso_millis(*at),
        }),
        Ok(CheckStep::Done) => json!({
            "outcome": "done",
            "message": "the gateway was asked; the payment needs no more asking",
            "next_check_at": null,
        }),
        Err(CheckError::Retry(e)) => json!({
            "outcome": "retry",
            "message": format!("the gateway could not be asked: {e}"),
            "next_check_at": null,
        }),
        Err(CheckError::Alarm(e)) => json!({
            "outcome": "alarm",
            "message": format!("the gateway's answer was refused: {e}"),
            "next_check_at": null,
        }),
    };
    let verdict = format!(
        "re-check asked: {}",
        said["message"].as_str().unwrap_or_default()
    );
    state
        .store
        .record_payment_event(Some(&id), &p.gateway, "operator", &verdict, "", now)
        .await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({ "payment": detail(&state, &id).await?, "check": said }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ApproveBody {
    /// What to credit, `"12.50"`; absent: what the buyer reported (a transfer) or what
    /// arrived less its share of the fee (a held payment).
    #[serde(default)]
    amount: Option<String>,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    #[serde(default)]
    note: String,
}

/// A credit as the operator writes it: positive, at most two decimals.
pub fn credit_amount(text: &str) -> Result<Money, String> {
    Money::parse(text)
        .ok()
        .filter(|m| m.micros() > 0 && m.micros() % 10_000 == 0)
        .ok_or_else(|| "amount must be a positive amount with at most two decimals".to_owned())
}

async fn decide(
    state: AppState,
    id: String,
    decision: Decision,
    note: String,
) -> Result<Response, RestError> {
    let id = payment_id(&id)?;
    // Audited as the operator API, in the transaction that books it.
    let settled = payments::decide_as(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        &id,
        decision,
        &note,
        state.now(),
    )
    .await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({
            "payment": detail(&state, &settled.payment.id).await?,
            "settlement": settlement_view(&settled.settlement),
        }),
    ))
}

/// `POST /payments/{id}/approve` (optional `{"amount","note"}`): credits a pending manual
/// transfer or a held payment, once.
async fn approve(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<JsonBody<ApproveBody>>,
) -> Result<Response, RestError> {
    let body = body.map(|JsonBody(b)| b).unwrap_or_default();
    let amount = body
        .amount
        .as_deref()
        .map(credit_amount)
        .transpose()
        .map_err(RestError::BadRequest)?;
    decide(state, id, Decision::Approve(amount), body.note).await
}

/// `POST /payments/{id}/reject` (optional `{"note"}`): nothing is credited; the payment
/// fails.
async fn reject(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    body: Option<JsonBody<RejectBody>>,
) -> Result<Response, RestError> {
    let note = body.map(|JsonBody(b)| b.note).unwrap_or_default();
    decide(state, id, Decision::Reject, note).await
}

/// `GET /gateways`: every gateway set up, keys never shown.
async fn gateways(State(state): State<AppState>, _: Operator) -> Result<Response, RestError> {
    let rows: Vec<Value> = state
        .store
        .gateways()
        .await?
        .iter()
        .map(gateway_view)
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "gateways": rows })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayBody {
    enabled: Option<bool>,
    title: Option<String>,
    base_url: Option<String>,
    merchant: Option<String>,
    api_key: Option<String>,
    secret: Option<String>,
    /// Decimal strings, `"5.00"`.
    min_amount: Option<String>,
    max_amount: Option<String>,
    /// A percentage, `"2.5"`.
    fee_percent: Option<String>,
    instructions: Option<String>,
}

/// An amount field of a gateway as sent: the store checks it further.
fn gateway_amount(field: &str, text: Option<String>) -> Result<Option<Money>, RestError> {
    text.map(|t| {
        Money::parse(&t).map_err(|_| {
            RestError::BadRequest(format!(
                "{field} must be a positive amount with at most two decimals"
            ))
        })
    })
    .transpose()
}

/// `PUT /gateways/{id}`: sets a gateway up or changes it; absent fields are kept.
async fn configure(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<GatewayBody>,
) -> Result<Response, RestError> {
    let patch = GatewayPatch {
        enabled: body.enabled,
        title: body.title,
        base_url: body.base_url,
        merchant: body.merchant,
        api_key: body.api_key,
        secret: body.secret,
        min_amount: gateway_amount("min_amount", body.min_amount)?,
        max_amount: gateway_amount("max_amount", body.max_amount)?,
        fee_percent: body.fee_percent,
        instructions: body.instructions,
    };
    // Audited as the operator API, in the change's transaction.
    let g = souk_app::operator_gateways::configure_patch(
        &state.store,
        &souk_app::operators::Acting::operator_api(),
        id.trim(),
        patch,
        state.now(),
    )
    .await?;
    Ok(json_value(StatusCode::OK, &gateway_view(&g)))
}

/// `POST /gateways/{id}/check`: calls the gateway with its keys. 200
/// `{"ok":true,"said"}` when they work; 409 with why when the gateway refused them or
/// could not be reached; 404 for a gateway not set up.
async fn check_gateway(
    State(state): State<AppState>,
    _: Operator,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let id = id.trim().to_owned();
    match payments::check_gateway(&state.store, state.config.allow_private_upstreams, &id).await {
        Ok(said) => Ok(json_value(
            StatusCode::OK,
            &json!({ "ok": true, "said": said }),
        )),
        Err(PaymentError::Gateway(e)) => Err(RestError::Conflict(format!(
            "The keys of {id} could not be confirmed: {e}"
        ))),
        Err(e) => Err(e.into()),
    }
}
