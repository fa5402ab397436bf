//! `/stubs/handler_api.php`: the sms-activate protocol (SPEC 10), so that existing
//! sms-activate clients rent our numbers unchanged. GET or POST, `api_key` and `action`
//! (unknown parameters ignored); answers are HTTP 200 plain-text tokens or JSON bodies,
//! as the protocol has them. An activation's id is its order number.
//!
//! Choices the protocol leaves open: `country` takes the protocol's country number (or
//! an ISO code); without it the cheapest country with a free number is used, as in
//! `add_sms`. An unknown country answers `NO_NUMBERS`. Times are UTC.

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use souk_app::sms_activation::{self, BuyerStep, StepOutcome};
use souk_app::sms_rental::{self, NumberOutcome, NumberRequest};
use souk_core::sms::{currency_numeric, protocol_time, ActivationStatus};
use souk_core::{Lang, Params};
use souk_store::{AuthUser, SmsActivation};

use crate::state::AppState;
use crate::transport::{json_value, read_params, BodyError};
use crate::v2::Fault;

/// A protocol answer.
enum Answer {
    Token(String),
    Json(Value),
}

fn token(text: impl Into<String>) -> Answer {
    Answer::Token(text.into())
}

fn text_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// The per-address limit ran before this (`ratelimit::limit_addresses`).
pub async fn handle(State(state): State<AppState>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let params = match read_params(parts.uri.query(), &parts.headers, body).await {
        Ok(p) => p,
        Err(BodyError::TooLarge) => {
            return text_response(StatusCode::PAYLOAD_TOO_LARGE, "BODY_TOO_LARGE".into())
        }
        Err(BodyError::Broken) => {
            return text_response(StatusCode::BAD_REQUEST, "BAD_REQUEST".into())
        }
        Err(BodyError::Api(_)) => return text_response(StatusCode::OK, "BAD_ACTION".into()),
    };
    let key = params.get("api_key").or_else(|| params.get("key"));
    let user = match state.auth.check(&state.store, key).await {
        Ok(Ok(user)) => user,
        Ok(Err(_)) => return text_response(StatusCode::OK, "BAD_KEY".into()),
        Err(e) => {
            tracing::error!(error = %e, "internal error");
            return text_response(StatusCode::INTERNAL_SERVER_ERROR, "ERROR_SQL".into());
        }
    };
    if !state.key_limiter.allow(&user.key_id) {
        return text_response(StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS".into());
    }
    match dispatch(&state, &user, &params).await {
        Ok(Answer::Token(t)) => text_response(StatusCode::OK, t),
        Ok(Answer::Json(v)) => json_value(StatusCode::OK, &v),
        Err(e) => {
            tracing::error!(error = %e, "internal error");
            text_response(StatusCode::INTERNAL_SERVER_ERROR, "ERROR_SQL".into())
        }
    }
}

async fn dispatch(state: &AppState, user: &AuthUser, params: &Params) -> Result<Answer, Fault> {
    match params.get("action").unwrap_or("") {
        "getBalance" => {
            let balance = state.store.balance(&user.user_id).await?;
            Ok(token(format!("ACCESS_BALANCE:{}", balance.display2())))
        }
        "getNumber" => get_number(state, user, params, false).await,
        "getNumberV2" => get_number(state, user, params, true).await,
        "getStatus" => get_status(state, user, params, false).await,
        "getStatusV2" => get_status(state, user, params, true).await,
        "setStatus" => set_status(state, user, params).await,
        "getPrices" => get_prices(state, params).await,
        "getCountries" => get_countries(state).await,
        "getServicesList" => get_services(state, params).await,
        "getActiveActivations" => active_activations(state, user).await,
        _ => Ok(token("BAD_ACTION")),
    }
}

/// The country a request names: the protocol's number, or an ISO code. `Err` when it
/// names none we sell in.
fn currency_value(code: &str) -> Value {
    currency_numeric(code).map_or_else(|| json!(code), |n| json!(n))
}

async fn get_number(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
    v2: bool,
) -> Result<Answer, Fault> {
    let asked = NumberRequest {
        service: params.get("service"),
        country: params.get("country"),
        max_price: params.get("maxPrice"),
    };
    let (rental, activate_id) =
        match sms_rental::get_number(&state.upstream(), &user.user_id, asked, state.now()).await? {
            NumberOutcome::Rented {
                rental,
                activate_id,
            } => (rental, activate_id),
            NumberOutcome::BadService => return Ok(token("BAD_SERVICE")),
            NumberOutcome::NoNumbers => return Ok(token("NO_NUMBERS")),
            NumberOutcome::NoBalance => return Ok(token("NO_BALANCE")),
            NumberOutcome::WrongMaxPrice(None) => return Ok(token("WRONG_MAX_PRICE:0")),
            NumberOutcome::WrongMaxPrice(Some(cheapest)) => {
                return Ok(token(format!("WRONG_MAX_PRICE:{}", cheapest.display2())))
            }
        };
    let phone = rental.phone.trim_start_matches('+').to_owned();
    if !v2 {
        return Ok(token(format!("ACCESS_NUMBER:{}:{phone}", rental.order_id)));
    }
    Ok(Answer::Json(json!({
        "activationId": rental.order_id,
        "phoneNumber": phone,
        "activationCost": rental.price.as_f64(),
        "currency": currency_value(&state.config.currency),
        "countryCode": activate_id.map_or(rental.country_code.clone(), |n| n.to_string()),
        "canGetAnotherSms": true,
        "activationTime": protocol_time(rental.created_at),
        "activationEndTime": protocol_time(rental.expires_at),
        "activationOperator": "any",
    })))
}

/// The caller's activation named by `id`.
async fn activation_of(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
) -> Result<Option<SmsActivation>, Fault> {
    let Some(id) = params
        .get("id")
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
    else {
        return Ok(None);
    };
    Ok(state.store.sms_activation(&user.user_id, id).await?)
}

async fn get_status(
    state: &AppState,
    user: &AuthUser,
    params: &Params,
    v2: bool,
) -> Result<Answer, Fault> {
    let Some(a) = activation_of(state, user, params).await? else {
        return Ok(token("NO_ACTIVATION"));
    };
    if matches!(
        a.status,
        ActivationStatus::Expired | ActivationStatus::Canceled
    ) {
        return Ok(token("STATUS_CANCEL"));
    }
    if v2 {
        let sms = a.code.as_ref().map(|code| {
            json!({
                "dateTime": protocol_time(a.code_at.unwrap_or(a.created_at)),
                "code": code,
                "text": a.sms_text.clone().unwrap_or_default(),
            })
        });
        return Ok(Answer::Json(json!({
            "verificationType": 0,
            "sms": sms,
            "call": null,
        })));
    }
    Ok(token(match (&a.code, a.awaiting_retry) {
        (None, _) => "STATUS_WAIT_CODE".to_owned(),
        (Some(code), true) if a.status == ActivationStatus::CodeReceived => {
            format!("STATUS_WAIT_RETRY:{code}")
        }
        (Some(code), _) => format!("STATUS_OK:{code}"),
    }))
}

async fn set_status(state: &AppState, user: &AuthUser, params: &Params) -> Result<Answer, Fault> {
    let Some(a) = activation_of(state, user, params).await? else {
        return Ok(token("NO_ACTIVATION"));
    };
    let (step, ok) = match params.get("status").unwrap_or("") {
        "1" => (BuyerStep::Ready, "ACCESS_READY"),
        "3" => (BuyerStep::AnotherSms, "ACCESS_RETRY_GET"),
        "6" => (BuyerStep::Complete, "ACCESS_ACTIVATION"),
        "8" => (BuyerStep::Cancel, "ACCESS_CANCEL"),
        _ => return Ok(token("BAD_STATUS")),
    };
    let outcome = sms_activation::ask(&state.store, &user.user_id, &a, step, state.now()).await?;
    Ok(token(match outcome {
        StepOutcome::Done => ok,
        StepOutcome::NotFound => "NO_ACTIVATION",
        StepOutcome::BadStatus => "BAD_STATUS",
        StepOutcome::TooEarly => "EARLY_CANCEL_DENIED",
    }))
}

async fn get_prices(state: &AppState, params: &Params) -> Result<Answer, Fault> {
    let countries = state.store.sms_countries(true).await?;
    let Ok(country) = sms_rental::country_of(&countries, params.get("country")) else {
        return Ok(Answer::Json(json!({})));
    };
    let project = match params.get("service") {
        Some(s) => match state.store.sms_project(s).await? {
            Some(p) => Some(p),
            None => return Ok(Answer::Json(json!({}))),
        },
        None => None,
    };
    let offers = state
        .store
        .sms_offers(
            project.as_ref().map(|p| p.id.as_str()),
            country.map(|c| c.code.as_str()),
        )
        .await?;
    let mut out: Map<String, Value> = Map::new();
    for o in offers {
        let Some(n) = o.activate_id else { continue };
        let entry = out
            .entry(n.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(services) = entry {
            services.insert(
                o.project_code.clone(),
                json!({ "cost": o.price.as_f64(), "count": o.free }),
            );
        }
    }
    Ok(Answer::Json(Value::Object(out)))
}

async fn get_countries(state: &AppState) -> Result<Answer, Fault> {
    let mut countries = state.store.sms_countries(true).await?;
    countries.sort_by_key(|c| c.activate_id);
    let mut out: Map<String, Value> = Map::new();
    for c in countries {
        let Some(n) = c.activate_id else { continue };
        out.insert(
            n.to_string(),
            json!({
                "id": n,
                "rus": c.name.get(Lang::Ru),
                "eng": c.name.get(Lang::En),
                "chn": c.name.get(Lang::Zh),
                "visible": 1,
                "retry": 1,
                "rent": 0,
                "multiService": 0,
            }),
        );
    }
    Ok(Answer::Json(Value::Object(out)))
}

async fn get_services(state: &AppState, params: &Params) -> Result<Answer, Fault> {
    // The protocol's `lang` is ru, en, es or cn; ours are accepted too.
    let lang = match params.get("lang") {
        Some(l) if l.eq_ignore_ascii_case("cn") => Lang::Zh,
        Some(l) => Lang::parse(l).unwrap_or(Lang::En),
        None => Lang::En,
    };
    let countries = state.store.sms_countries(true).await?;
    let projects = match sms_rental::country_of(&countries, params.get("country")) {
        Err(sms_rental::UnknownCountry) => Vec::new(),
        Ok(None) => state.store.sms_projects(true).await?,
        Ok(Some(country)) => {
            let offers = state.store.sms_offers(None, Some(&country.code)).await?;
            state
                .store
                .sms_projects(true)
                .await?
                .into_iter()
                .filter(|p| offers.iter().any(|o| o.project_id == p.id))
                .collect()
        }
    };
    let services: Vec<Value> = projects
        .iter()
        .map(|p| json!({ "code": p.code, "name": p.name.get(lang) }))
        .collect();
    Ok(Answer::Json(
        json!({ "status": "success", "services": services }),
    ))
}

async fn active_activations(state: &AppState, user: &AuthUser) -> Result<Answer, Fault> {
    let open = state.store.sms_open_activations(&user.user_id).await?;
    if open.is_empty() {
        return Ok(Answer::Json(
            json!({ "status": "error", "error": "NO_ACTIVATIONS" }),
        ));
    }
    let currency = currency_value(&state.config.currency);
    let rows: Vec<Value> = open
        .iter()
        .map(|a| {
            json!({
                "activationId": a.order_id.to_string(),
                "serviceCode": a.project_code,
                "phoneNumber": a.phone.trim_start_matches('+'),
                "activationCost": a.price.as_f64(),
                "activationStatus": if a.code.is_some() { "2" } else { "4" },
                "smsCode": a.code.as_ref().map(|c| vec![c.clone()]),
                "smsText": a.sms_text,
                "activationTime": protocol_time(a.created_at),
                "activationEndTime": protocol_time(a.expires_at),
                "discount": "0.00",
                "repeated": "0",
                "countryCode": a.activate_id.map_or(a.country_code.clone(), |n| n.to_string()),
                "countryName": a.country_name.get(Lang::En),
                "canGetAnotherSms": "1",
                "currency": currency,
            })
        })
        .collect();
    Ok(Answer::Json(
        json!({ "status": "success", "activeActivations": rows }),
    ))
}
