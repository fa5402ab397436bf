//! `add`, `status`, `cancel` and `allowcancel`.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::Serialize;
use serde_json::{json, Value};
use souk_app::cancel::{self, CancelError, CancelOrder, CancelOutcome};
use souk_app::orders::{self, PlaceOrder};
use souk_core::catalogue::ProductType;
use souk_core::clock::iso_millis;
use souk_core::early_cancel::NOT_AVAILABLE;
use souk_core::order_input::AddFields;
use souk_core::{ApiError, Params};
use souk_store::{AuthUser, OrderView, SmsActivation};

use super::Fault;
use crate::state::AppState;
use crate::transport::json_value;

pub async fn add(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, Fault> {
    let header_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let command = PlaceOrder {
        user_id: user.user_id.clone(),
        email: user.email.clone(),
        fields: AddFields::from_params(params),
        idempotency_key: header_key.map(str::to_owned),
    };
    let order = place_order(state, command).await?;
    Ok(json_value(StatusCode::OK, &json!({ "order": order })))
}

/// `mass_order` (extension): `orders` holds one `service|link|quantity` a line; each is
/// an ordinary `add` with its own result line.
pub async fn mass_order(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
    headers: &HeaderMap,
) -> Result<Response, Fault> {
    let header_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let key = souk_core::idempotency::key(params, header_key)?;
    let text = params.all("orders").join("\n");
    let buyer = (user.user_id.as_str(), user.email.as_str());
    let results = place_mass(state, buyer, &text, key.as_deref()).await?;
    let out: Vec<Value> = results
        .into_iter()
        .map(|(line, outcome)| match outcome {
            Ok(order) => json!({ "line": line, "order": order }),
            Err(e) => json!({ "line": line, "error": e.to_string() }),
        })
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "orders": out })))
}

/// A mass order through the app layer, this node's catalogue brought up to date with
/// each placed line: (line, its order or its refusal). The web form uses it too.
pub(crate) async fn place_mass(
    state: &AppState,
    buyer: (&str, &str),
    text: &str,
    key: Option<&str>,
) -> Result<Vec<(usize, Result<i64, ApiError>)>, Fault> {
    let results =
        orders::place_mass(&state.store, &state.cache, &*state.clock, buyer, text, key).await?;
    let mut out = Vec::with_capacity(results.len());
    for r in results {
        out.push(match r.outcome {
            Ok(placed) => {
                state.apply_changes(&placed.changes).await?;
                (r.line, Ok(placed.order_id))
            }
            Err(e) => (r.line, Err(e)),
        });
    }
    Ok(out)
}

/// Places one order through the app layer and brings this node's catalogue up to date
/// with it; the web shop uses it too.
pub(crate) async fn place_order(state: &AppState, command: PlaceOrder) -> Result<i64, Fault> {
    let placed = orders::place_order(&state.store, &state.cache, &*state.clock, command).await?;
    state.apply_changes(&placed.changes).await?;
    Ok(placed.order_id)
}

/// Order ids as buyers send them; `None` for anything that is not a positive integer.
pub(super) fn order_id(text: &str) -> Option<i64> {
    text.trim().parse::<i64>().ok().filter(|n| *n > 0)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StatusView<'a> {
    status: &'a str,
    charge: String,
    #[serde(rename = "start_count")]
    start_count: i64,
    remains: i64,
    currency: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    entity_type: Option<&'static str>,
    auto_delivery: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    accounts: Option<&'a [String]>,
    /// Subscriptions: the posts served so far.
    #[serde(skip_serializing_if = "Option::is_none")]
    posts: Option<i64>,
    /// Subscriptions: the orders placed for its posts (each one's `status` works).
    #[serde(skip_serializing_if = "Option::is_none")]
    orders: Option<&'a [i64]>,
    /// Extension: an SMM order's type fields as placed (`comments`, `answer_number`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    params: Option<&'a std::collections::BTreeMap<String, String>>,
}

fn status_view<'a>(o: &'a OrderView, currency: &'a str) -> StatusView<'a> {
    let product = o.kind == "product";
    // A subscription answers in its own states (Active, Paused, Completed, Expired,
    // Canceled) with the posts served.
    let subscription = o.parent_id.is_none()
        && o.type_name
            .as_deref()
            .and_then(souk_core::smm_type::canonical)
            == Some("Subscriptions");
    let status = if subscription {
        o.sub_state.as_deref().unwrap_or_else(|| {
            souk_core::subscription::SubscriptionState::of_order(o.status).as_str()
        })
    } else {
        o.status.display()
    };
    StatusView {
        status,
        // What the order costs the buyer now: the charge less what was refunded.
        charge: o
            .charge
            .checked_sub(o.refunded)
            .unwrap_or(o.charge)
            .display2(),
        start_count: o.start_count.unwrap_or(0),
        remains: o.remains.unwrap_or(o.quantity - o.delivered),
        currency,
        entity_type: product.then_some("product"),
        auto_delivery: o.product_type != ProductType::Manual,
        accounts: (product && !o.accounts.is_empty()).then_some(o.accounts.as_slice()),
        posts: subscription.then(|| o.posts_done.unwrap_or(0)),
        orders: subscription.then_some(o.child_orders.as_slice()),
        params: (o.kind == "smm" && !o.params.is_empty()).then_some(&o.params),
    }
}

/// One order's `status` answer, serialized as it stands (no `Value` built first: the
/// answer of a hot read path): SMS orders have their own shape.
#[derive(Serialize)]
#[serde(untagged)]
enum StatusAnswer<'a> {
    Order(StatusView<'a>),
    Other(Value),
}

fn status_answer<'a>(
    o: &'a OrderView,
    sms: &[SmsActivation],
    currency: &'a str,
) -> StatusAnswer<'a> {
    match sms.iter().find(|a| a.order_id == o.id) {
        Some(a) => StatusAnswer::Other(super::sms::order_status_value(a, currency)),
        None => StatusAnswer::Order(status_view(o, currency)),
    }
}

/// Answers in the order asked, keyed by the ids as written.
struct StatusMap<'a>(Vec<(&'a str, StatusAnswer<'a>)>);

impl Serialize for StatusMap<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

/// The SMS activations behind the SMS orders among `found`.
async fn sms_of(
    state: &AppState,
    user: &AuthUser,
    found: &[OrderView],
) -> Result<Vec<SmsActivation>, Fault> {
    let ids: Vec<i64> = found
        .iter()
        .filter(|o| o.kind == "sms")
        .map(|o| o.id)
        .collect();
    Ok(state.store.sms_activations_of(&user.user_id, &ids).await?)
}

pub async fn status(state: &AppState, user: &AuthUser, params: &Params) -> Result<Response, Fault> {
    let currency = state.config.currency.as_str();
    if let Some(raw) = params.id_list("orders", "order")? {
        let ids: Vec<i64> = raw.iter().filter_map(|r| order_id(r)).collect();
        let found = state.store.orders_of(&user.user_id, &ids).await?;
        let sms = sms_of(state, user, &found).await?;
        let mut out = Vec::with_capacity(raw.len());
        for r in &raw {
            let view = order_id(r).and_then(|id| found.iter().find(|o| o.id == id));
            let answer = match view {
                Some(o) => status_answer(o, &sms, currency),
                None => {
                    StatusAnswer::Other(json!({ "error": ApiError::IncorrectOrderId.to_string() }))
                }
            };
            // A repeated id answers once, where it was first asked (as a map would).
            if !out.iter().any(|(k, _)| *k == r.as_str()) {
                out.push((r.as_str(), answer));
            }
        }
        return Ok(json_value(StatusCode::OK, &StatusMap(out)));
    }
    let raw = params.get("order").ok_or(ApiError::OrderIdRequired)?;
    let id = order_id(raw).ok_or(ApiError::IncorrectOrderId)?;
    let found = state.store.orders_of(&user.user_id, &[id]).await?;
    let order = found.first().ok_or(ApiError::OrderNotFound)?;
    let sms = sms_of(state, user, &found).await?;
    Ok(json_value(
        StatusCode::OK,
        &status_answer(order, &sms, currency),
    ))
}

/// `cancel` (`dry_run` false) and `allowcancel` (true): always the multi shape.
pub async fn cancel(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
    dry_run: bool,
) -> Result<Response, Fault> {
    let raw = match params.id_list("orders", "order")? {
        Some(list) => list,
        None => params
            .id_list("order", "order")?
            .ok_or(ApiError::OrderIdRequired)?,
    };
    if raw.is_empty() {
        return Err(ApiError::OrderIdRequired.into());
    }
    let field = if dry_run { "allowcancel" } else { "cancel" };
    let mut out = Vec::with_capacity(raw.len());
    for r in &raw {
        let mut entry = BTreeMap::new();
        let Some(id) = order_id(r) else {
            entry.insert("order", json!(r));
            entry.insert(
                field,
                json!({ "error": ApiError::IncorrectOrderId.to_string() }),
            );
            out.push(entry_object(entry, field));
            continue;
        };
        entry.insert("order", json!(id));
        let command = CancelOrder {
            user_id: user.user_id.clone(),
            order_id: id,
            dry_run,
        };
        // Each id is its own transaction: one that fails leaves the others (refunded and
        // committed already, or still to come) alone and answers for itself.
        let outcome = match cancel::cancel_order(&state.store, command, state.now()).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let message = match e {
                    CancelError::Rejected(api) => api.to_string(),
                    CancelError::Store(other) => {
                        tracing::error!(order = id, error = %other, "early cancel failed");
                        ApiError::Internal.to_string()
                    }
                };
                if dry_run {
                    entry.insert(field, json!(0));
                    entry.insert("error", json!(message));
                } else {
                    entry.insert(field, json!({ "error": message }));
                }
                out.push(entry_object(entry, field));
                continue;
            }
        };
        match (outcome, dry_run) {
            (CancelOutcome::NotFound, true) => {
                entry.insert(field, json!(0));
                entry.insert("error", json!(ApiError::IncorrectOrderId.to_string()));
            }
            (CancelOutcome::NotFound, false) => {
                entry.insert(
                    field,
                    json!({ "error": ApiError::IncorrectOrderId.to_string() }),
                );
            }
            (CancelOutcome::Refunded(_), _) => {
                entry.insert(field, json!(1));
            }
            (CancelOutcome::Eligible(amount), _) => {
                entry.insert(field, json!(1));
                entry.insert("refundAmount", json!(amount.as_f64()));
            }
            (CancelOutcome::Refused(reason), true) => {
                entry.insert(field, json!(0));
                entry.insert("error", json!(NOT_AVAILABLE));
                entry.insert("reason", json!(reason.code()));
                if let Some(at) = reason.eligible_after() {
                    entry.insert("eligibleAfter", json!(iso_millis(at)));
                }
            }
            (CancelOutcome::Refused(reason), false) => {
                let mut detail = json!({ "error": NOT_AVAILABLE, "reason": reason.code() });
                if let Some(at) = reason.eligible_after() {
                    detail["eligibleAfter"] = json!(iso_millis(at));
                }
                entry.insert(field, detail);
            }
        }
        out.push(entry_object(entry, field));
    }
    Ok(json_value(StatusCode::OK, &out))
}

/// Keys in the seed's order: `order`, the action's field, then the rest.
fn entry_object(mut entry: BTreeMap<&str, Value>, field: &str) -> Value {
    let mut object = serde_json::Map::new();
    for key in [
        "order",
        field,
        "refundAmount",
        "error",
        "reason",
        "eligibleAfter",
    ] {
        if let Some(v) = entry.remove(key) {
            object.insert(key.to_owned(), v);
        }
    }
    Value::Object(object)
}
