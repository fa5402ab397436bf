//! The supplier's orders: the list, deliveries, failing the rest, and SMM progress.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::supplier_orders::{self, Deliver, FailOrder, ReportProgress};
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::clock::iso_millis;
use souk_core::order::OrderStatus;
use souk_core::supply::{Progress, ProgressStatus};
use souk_core::Money;
use souk_store::{OrderProgress, SupplierOrder, SupplierOrderQuery};

use super::{paging, Supplier};
use crate::rest::{JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::transport::json_value;

/// The most orders one page lists.
const MAX_LIMIT: i64 = 500;

fn order_id(text: &str) -> Result<i64, RestError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RestError::NotFound("Order not found".into()))
}

/// `entityType` as the supplier API names it.
fn entity_name(kind: &str) -> &'static str {
    if kind == "smm" {
        "smm_service"
    } else {
        "product"
    }
}

fn order_view(o: &SupplierOrder) -> Value {
    let charge = Money::from_micros(o.charge);
    // SMM orders carry no unit price: their charge spread over the quantity.
    let unit_price = if o.kind == "smm" {
        charge
            .mul_div_half_up(1, o.quantity.max(1))
            .unwrap_or(Money::ZERO)
    } else {
        Money::from_micros(o.unit_price)
    };
    json!({
        "id": o.id,
        "order": o.id,
        "status": o.status,
        "paymentStatus": o.payment_status,
        "quantity": o.quantity,
        "delivered": o.delivered,
        "remains": o.remains.unwrap_or(o.quantity - o.delivered),
        "startCount": o.start_count,
        "link": o.link,
        "entityType": entity_name(&o.kind),
        "productType": o.product_type,
        "service": o.service_number,
        "subcategoryId": o.subcategory_id,
        "charge": charge.display2(),
        "refunded": Money::from_micros(o.refunded).display2(),
        "user": {"id": o.buyer_id, "email": o.buyer_email, "name": o.buyer_name},
        "items": [{
            "product": {"id": o.service_id, "name": o.service_name, "type": o.product_type},
            "subproduct": o.subproduct_id.as_ref().map(|id| json!({"id": id, "name": o.subproduct_name})),
            "quantity": o.quantity,
            "unitPrice": unit_price.display2(),
            "totalPrice": charge.display2(),
        }],
        "createdAt": iso_millis(o.created_at),
    })
}

/// `GET /orders`: the paid orders of the caller's shops, newest first.
pub async fn list(
    State(state): State<AppState>,
    supplier: Supplier,
    QueryParams(q): QueryParams<HashMap<String, String>>,
) -> Result<Response, RestError> {
    let get = |name: &str| {
        q.get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    };
    let statuses = match get("status") {
        None => Vec::new(),
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                OrderStatus::parse(&s.to_ascii_lowercase()).ok_or_else(|| {
                    RestError::BadRequest(format!(
                        "Invalid status: {s} (use pending, processing, error, completed, partial or canceled)"
                    ))
                })
            })
            .collect::<Result<_, _>>()?,
    };
    let product_type = get("productType")
        .map(|t| {
            ProductType::parse(t).ok_or_else(|| {
                RestError::BadRequest("productType must be inventory, manual or auto".into())
            })
        })
        .transpose()?;
    let entity = get("entityType")
        .map(|t| match t.trim().to_ascii_lowercase().as_str() {
            "product" => Ok(EntityType::Product),
            "smm_service" | "smm" => Ok(EntityType::Smm),
            _ => Err(RestError::BadRequest(
                "entityType must be product or smm_service".into(),
            )),
        })
        .transpose()?;
    let (limit, offset) = paging(get("limit"), get("offset"), 50, MAX_LIMIT)?;
    let query = SupplierOrderQuery {
        statuses,
        product_type,
        entity,
        subcategory: get("subCategory").map(|s| s.trim().to_owned()),
        limit,
        offset,
    };
    let (orders, total) = state.store.supplier_orders(supplier.id(), &query).await?;
    let rows: Vec<Value> = orders.iter().map(order_view).collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({"orders": rows, "count": rows.len(), "total": total}),
    ))
}

fn progress_view(p: &OrderProgress) -> Value {
    json!({
        "order": p.order_id,
        "delivered": p.delivered,
        "remains": p.remains,
        "status": p.status.as_str(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliverBody {
    accounts: Vec<String>,
}

/// `POST /orders/{order}/deliver` with `{"accounts": [...]}`.
pub async fn deliver(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(order): Path<String>,
    JsonBody(body): JsonBody<DeliverBody>,
) -> Result<Response, RestError> {
    let order = order_id(&order)?;
    let command = Deliver {
        supplier_id: supplier.id().to_owned(),
        order_id: order,
        accounts: body.accounts,
    };
    let done = supplier_orders::deliver(&state.store, command, state.now()).await?;
    Ok(json_value(StatusCode::OK, &progress_view(&done)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct FailBody {
    #[serde(default)]
    reason: String,
}

/// `POST /orders/{order}/fail` (optional `{"reason": "..."}`): refunds what is undelivered.
pub async fn fail(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(order): Path<String>,
    body: Option<JsonBody<FailBody>>,
) -> Result<Response, RestError> {
    let order = order_id(&order)?;
    let reason = body.map(|JsonBody(b)| b.reason).unwrap_or_default();
    let command = FailOrder {
        supplier_id: supplier.id().to_owned(),
        order_id: order,
        reason,
    };
    let done = supplier_orders::fail(&state.store, command, state.now()).await?;
    let mut view = progress_view(&done);
    view["refunded"] = json!(done.refunded_now.display2());
    Ok(json_value(StatusCode::OK, &view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgressBody {
    start_count: Option<i64>,
    remains: Option<i64>,
    status: Option<String>,
}

/// `POST /orders/{order}/progress` with `{"start_count", "remains", "status"}` for the
/// shop's manual SMM orders.
pub async fn progress(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(order): Path<String>,
    JsonBody(body): JsonBody<ProgressBody>,
) -> Result<Response, RestError> {
    let order = order_id(&order)?;
    let status = match body.status.as_deref() {
        None => ProgressStatus::Processing,
        Some(s) => ProgressStatus::parse(s)?,
    };
    let command = ReportProgress {
        supplier_id: supplier.id().to_owned(),
        order_id: order,
        report: Progress {
            start_count: body.start_count,
            remains: body.remains,
            status,
        },
    };
    let done = supplier_orders::report_progress(&state.store, command, state.now()).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({
            "order": done.order_id,
            "start_count": done.start_count,
            "remains": done.remains,
            "status": done.status.as_str(),
            "refunded": done.refunded_now.display2(),
        }),
    ))
}
