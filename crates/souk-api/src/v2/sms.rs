//! SMS verification actions (SPEC 10): `sms_countries`, `sms_projects`, `add_sms`,
//! `sms_code`, `sms_status` in the seed's shapes, plus the SMS order shape of `status`.
//! Renting (shared with `/stubs/handler_api.php`) takes pool numbers first and falls back
//! to upstream sms-activate providers when the pool has none.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};
use souk_client::sms_activate::{self, SetStatus};
use souk_core::clock::iso_millis;
use souk_core::sms::{normalize_country, parse_add_sms, ActivationStatus, AddSms};
use souk_core::{ApiError, Money, Params};
use souk_store::{
    AuthUser, RentOutcome, Rental, SmsActivation, SmsProvider, SmsRent, StoreError, UpstreamRental,
};

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

/// Rents in a task of its own, so that a client hanging up mid-request never leaves an
/// upstream rental or a charge half-booked.
pub(crate) async fn rent_detached(
    state: &AppState,
    user: &AuthUser,
    request: AddSms,
    max_price: Option<Money>,
) -> Result<Vec<Rental>, Fault> {
    let (state, user_id) = (state.clone(), user.user_id.clone());
    tokio::spawn(async move { rent(&state, &user_id, &request, max_price).await })
        .await
        .map_err(|e| Fault::Store(StoreError::task_failed("rent", &e)))?
}

/// SPEC 10 renting, all or nothing: pool numbers first (cheapest country with a free
/// number, per number); what the pool lacks is rented from upstream providers, cheapest
/// country first, providers in the order they were added. A failed rental cancels
/// whatever was rented upstream for it.
async fn rent(
    state: &AppState,
    user_id: &str,
    request: &AddSms,
    max_price: Option<Money>,
) -> Result<Vec<Rental>, Fault> {
    let store = &state.store;
    let project = store
        .sms_project(&request.project)
        .await?
        .ok_or(ApiError::SmsProjectNotFound)?;
    if let Some(country) = &request.country {
        let known = store
            .sms_countries(true)
            .await?
            .iter()
            .any(|c| &c.code == country);
        if !known {
            return Err(ApiError::SmsCountryNotFound.into());
        }
    }
    let offers = store
        .sms_prices_of(&project.id, request.country.as_deref())
        .await?;
    if offers.is_empty() {
        return Err(ApiError::SmsNotOffered.into());
    }
    let lifetime_ms = store.sms_lifetime_ms().await?;
    let mut rent = SmsRent {
        user_id,
        project_id: &project.id,
        country: request.country.as_deref(),
        pool: request.quantity,
        phone: request.phone.as_deref(),
        upstream: &[],
        max_price,
        lifetime_ms,
    };
    let free = match store.rent_sms(&rent, state.now()).await? {
        RentOutcome::Rented(rentals) => return Ok(rentals),
        RentOutcome::Short { free } => free,
    };
    // What the pool lacks comes from upstream, if anyone has it.
    let providers = store.sms_providers(true).await?;
    let candidates: Vec<(&String, i64)> = offers
        .iter()
        .filter(|(_, _, price)| max_price.is_none_or(|m| *price <= m))
        .filter_map(|(code, activate_id, _)| activate_id.map(|n| (code, n)))
        .collect();
    if providers.is_empty() || candidates.is_empty() {
        return Err(ApiError::SmsNoNumbers.into());
    }
    let need = (request.quantity - free) as usize;
    // Do not rent upstream for someone who cannot pay for it.
    let cheapest = offers.iter().map(|o| o.2).min().unwrap_or_default();
    let least = cheapest
        .micros()
        .checked_mul(request.quantity)
        .ok_or(ApiError::InsufficientBalance)?;
    if store.balance(user_id).await?.micros() < least {
        return Err(ApiError::InsufficientBalance.into());
    }
    let mut rented: Vec<(UpstreamRental, SmsProvider)> = Vec::with_capacity(need);
    'offers: for (country_code, activate_id) in candidates {
        for provider in &providers {
            let client = match client_for(state, provider) {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(provider = %provider.name, error = %e, "SMS provider unusable");
                    continue;
                }
            };
            while rented.len() < need {
                match client.get_number(&project.code, Some(activate_id)).await {
                    Ok(number) => rented.push((
                        UpstreamRental {
                            provider_id: provider.id.clone(),
                            external_id: number.id,
                            phone: format!("+{}", number.phone),
                            country_code: country_code.clone(),
                        },
                        provider.clone(),
                    )),
                    Err(e) => {
                        if e != sms_activate::Error::NoNumbers {
                            tracing::warn!(provider = %provider.name, error = %e, "SMS provider refused a rental");
                        }
                        break;
                    }
                }
            }
            if rented.len() == need {
                break 'offers;
            }
        }
    }
    if rented.len() < need {
        cancel_upstream(state, rented);
        return Err(ApiError::SmsNoNumbers.into());
    }
    let upstream: Vec<UpstreamRental> = rented.iter().map(|(r, _)| r.clone()).collect();
    rent.pool = free;
    rent.upstream = &upstream;
    match store.rent_sms(&rent, state.now()).await {
        Ok(RentOutcome::Rented(rentals)) => Ok(rentals),
        Ok(RentOutcome::Short { .. }) => {
            cancel_upstream(state, rented);
            Err(ApiError::SmsNoNumbers.into())
        }
        Err(e) => {
            cancel_upstream(state, rented);
            Err(e.into())
        }
    }
}

pub(crate) fn client_for(
    state: &AppState,
    provider: &SmsProvider,
) -> Result<sms_activate::Client, sms_activate::Error> {
    sms_activate::Client::new(
        &provider.url,
        &provider.api_key,
        Duration::from_millis(provider.timeout_ms.clamp(1000, 120_000) as u64),
        state.config.allow_private_upstreams,
    )
}

/// Best effort: gives back upstream numbers a failed rental will not use. (A provider
/// that refuses early cancels ends them itself when their lifetime is over.)
fn cancel_upstream(state: &AppState, rented: Vec<(UpstreamRental, SmsProvider)>) {
    if rented.is_empty() {
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        for (rental, provider) in rented {
            let result = match client_for(&state, &provider) {
                Ok(client) => client
                    .set_status(&rental.external_id, SetStatus::Cancel)
                    .await
                    .map(|_| ()),
                Err(e) => Err(e),
            };
            if let Err(e) = result {
                tracing::warn!(provider = %provider.name, error = %e, "could not cancel an unused upstream number");
            }
        }
    });
}
