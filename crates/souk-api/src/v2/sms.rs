//! SMS verification actions (SPEC 10): `sms_countries`, `sms_projects`, `add_sms`,
//! `sms_code`, `sms_status` in the seed's shapes, plus the SMS order shape of `status`.
//! Renting (shared with `/stubs/handler_api.php`) takes pool numbers first and falls back
//! to upstream sms-activate providers when the pool has none.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use souk_core::clock::iso_millis;
use souk_core::sms::{normalize_country, parse_add_sms, ActivationStatus, AddSms};
use souk_core::{ApiError, Money, Params};
use souk_store::{AuthUser, Rental, SmsActivation};

use super::Fault;
use crate::state::AppState;
use crate::transport::json_value;

pub async fn countries(state: &AppState, params: &Params) -> Result<Response, Fault> {
    let lang = params.lang()?;
    let countries = state.store.sms_countries(true).await?;
    let rows: Vec<Value> = countries
        .iter()
        .map(|c| json!({ "country_code": c.code, "country_name": c.name.get(lang) }))
        .collect();
    Ok(json_value(StatusCode::OK, &rows))
}

pub async fn projects(state: &AppState, params: &Params) -> Result<Response, Fault> {
    let lang = params.lang()?;
    let offers = match params.get("country") {
        // A country that cannot exist selects nothing, like the catalogue's filters.
        Some(c) => match normalize_country(c) {
            Some(code) => state.store.sms_offers(None, Some(&code)).await?,
            None => Vec::new(),
        },
        None => state.store.sms_offers(None, None).await?,
    };
    let rows: Vec<Value> = offers
        .iter()
        .map(|o| {
            json!({
                "project_id": o.project_id,
                "name": o.project_name.get(lang),
                "price": o.price.display4(),
                "country_id": o.country_code,
                "country_title": o.country_name.get(lang),
            })
        })
        .collect();
    Ok(json_value(StatusCode::OK, &rows))
}

pub async fn add(state: &AppState, user: &AuthUser, params: &Params) -> Result<Response, Fault> {
    let request = parse_add_sms(params)?;
    let rentals = rent_detached(state, user, request, None).await?;
    let orders: Vec<Value> = rentals
        .iter()
        .map(|r| {
            json!({
                "order": r.order_id,
                "phone": r.phone,
                "country": r.country_code,
                "status": ActivationStatus::Active.as_str(),
            })
        })
        .collect();
    Ok(json_value(StatusCode::OK, &json!({ "orders": orders })))
}

/// An SMS order of the caller's, from the `order` parameter.
async fn activation(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
) -> Result<SmsActivation, Fault> {
    let raw = params.get("order").ok_or(ApiError::OrderIdRequired)?;
    let id = raw
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(ApiError::OrderNotFound)?;
    Ok(state
        .store
        .sms_activation(&user.user_id, id)
        .await?
        .ok_or(ApiError::OrderNotFound)?)
}

pub async fn code(state: &AppState, user: &AuthUser, params: &Params) -> Result<Response, Fault> {
    let a = activation(state, user, params).await?;
    let body = match (&a.code, a.status) {
        (Some(code), _) => json!({
            "status": "completed",
            "code": code,
            "sms_content": a.sms_text.clone().unwrap_or_default(),
        }),
        (None, ActivationStatus::Expired) => json!({
            "status": "expired",
            "message": "No SMS arrived in time; the order was refunded",
        }),
        (None, ActivationStatus::Canceled) => json!({
            "status": "canceled",
            "message": "The order was canceled and refunded",
        }),
        (None, _) => json!({ "status": "waiting", "message": "Waiting for code" }),
    };
    Ok(json_value(StatusCode::OK, &body))
}

fn net_charge(a: &SmsActivation) -> Money {
    a.charge.checked_sub(a.refunded).unwrap_or(a.charge)
}

pub async fn status(state: &AppState, user: &AuthUser, params: &Params) -> Result<Response, Fault> {
    let a = activation(state, user, params).await?;
    Ok(json_value(
        StatusCode::OK,
        &json!({
            "status": a.status.as_str(),
            "phone": a.phone,
            "code": a.code,
            "charge": net_charge(&a).display4(),
            "currency": state.config.currency,
            "expires_at": iso_millis(a.expires_at),
        }),
    ))
}

/// `status` of an SMS order: the seed's order fields (`charge` with 4 decimals, net of
/// refunds), then `entityType: "sms"`, the phone and the code once there is one.
pub fn order_status_value(a: &SmsActivation, currency: &str) -> Value {
    let delivered = a.code.is_some();
    json!({
        "status": a.status.order_status().display(),
        "charge": net_charge(a).display4(),
        "start_count": 0,
        "remains": if delivered { 0 } else { 1 },
        "currency": currency,
        "entityType": "sms",
        "autoDelivery": true,
        "phone": a.phone,
        "code": a.code,
    })
}

/// SPEC 10 renting (`souk_app::sms_rental`): in a task of its own, so that a client
/// hanging up mid-request never leaves an upstream rental or a charge half-booked.
pub(crate) async fn rent_detached(
    state: &AppState,
    user: &AuthUser,
    request: AddSms,
    max_price: Option<Money>,
) -> Result<Vec<Rental>, Fault> {
    Ok(souk_app::sms_rental::rent(
        &state.upstream(),
        &user.user_id,
        request,
        max_price,
        state.now(),
    )
    .await?)
}
