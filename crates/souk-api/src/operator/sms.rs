//! The operator's SMS management under `/api/operator/v1/sms`: countries, projects and
//! prices (the catalogue), gateways and pool numbers, sms-activate upstream providers,
//! the activation lifetime, test SMS, and what happened (messages, activations).
//!
//! | method and path | body | answer |
//! | --- | --- | --- |
//! | `GET /sms/countries` | | countries with translations |
//! | `PUT /sms/countries/{code}` | `{"name","translations":{"ru":".."},"activate_id":187,"active":true}` | the country |
//! | `GET /sms/projects` | | projects with translations |
//! | `POST /sms/projects` | `{"code":"tg","name":"Telegram","translations":{}}` | 201 the project |
//! | `PATCH /sms/projects/{id or code}` | `{"name","translations","active"}` | the project |
//! | `GET /sms/prices` | | every price |
//! | `PUT /sms/prices` | `{"project":"tg","country":"us","price":"0.50"}` | the price |
//! | `DELETE /sms/prices/{project}/{country}` | | 204 |
//! | `GET /sms/gateways` | | gateways (no secrets) |
//! | `POST /sms/gateways` | `{"name","secret"?}` | 201 `{"id","name","secret","webhook"}` (the secret, once) |
//! | `PATCH /sms/gateways/{id}` | `{"active":false}` | the gateway |
//! | `GET /sms/numbers` | | the pool |
//! | `POST /sms/numbers` | `{"phone","country","gateway","projects":["tg"]}` | 201 the number |
//! | `PATCH /sms/numbers/{id or phone}` | `{"active","projects"}` | the number |
//! | `GET /sms/providers` | | sms-activate providers (no keys) |
//! | `POST /sms/providers` | `{"name","url","key"}` | 201 `{"id",..}` |
//! | `PATCH /sms/providers/{id}` | `{"enabled":false}` | the provider |
//! | `GET\|PUT /sms/settings` | `{"lifetime_minutes":20}` | the settings |
//! | `POST /sms/inject` | `{"phone","text","from"?}` | `{"message_id","order","code"}` |
//! | `GET /sms/messages?phone=&limit=` | | newest SMS first (a `phone` that is no phone number: 400) |
//! | `GET /sms/activations?status=&limit=` | | newest activations first |

use std::collections::BTreeMap;

use crate::routes::{delete, get, patch, post, put, Routes};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::operator_sms;
use souk_app::operators::Acting;
use souk_app::sms_admin::{InjectError, InjectSms, ProjectChange};
use souk_core::sms::ActivationStatus;
use souk_core::{Lang, Money, Text};
use souk_store::{NewSmsCountry, NewSmsNumber, NewSmsProject, SmsCountry, SmsNumber, SmsProject};

use super::Operator;
use crate::rest::{JsonBody, QueryParams, RestError};
use crate::state::AppState;
use crate::transport::json_value;

pub fn routes() -> Routes {
    Routes::new()
        .route("/sms/countries", get(list_countries))
        .route("/sms/countries/{code}", put(put_country))
        .route("/sms/projects", get(list_projects).post(create_project))
        .route("/sms/projects/{project}", patch(update_project))
        .route("/sms/prices", get(list_prices).put(put_price))
        .route("/sms/prices/{project}/{country}", delete(delete_price))
        .route("/sms/gateways", get(list_gateways).post(create_gateway))
        .route("/sms/gateways/{id}", patch(update_gateway))
        .route("/sms/numbers", get(list_numbers).post(create_number))
        .route("/sms/numbers/{number}", patch(update_number))
        .route("/sms/providers", get(list_providers).post(create_provider))
        .route("/sms/providers/{id}", patch(update_provider))
        .route("/sms/settings", get(get_settings).put(put_settings))
        .route("/sms/inject", post(inject))
        .route("/sms/messages", get(list_messages))
        .route("/sms/activations", get(list_activations))
}

/// Every change here is audited as the operator API.
fn api() -> Acting {
    Acting::operator_api()
}

fn ok(value: Value) -> Result<Response, RestError> {
    Ok(json_value(StatusCode::OK, &value))
}

fn created(value: Value) -> Result<Response, RestError> {
    Ok(json_value(StatusCode::CREATED, &value))
}

/// An English name plus translations keyed by language code.
fn text(name: &str, translations: &BTreeMap<String, String>) -> Result<Text, RestError> {
    let mut t = Text::new(name.trim());
    for (code, value) in translations {
        let lang = Lang::parse(code)
            .ok_or_else(|| RestError::BadRequest(format!("Unsupported language {code:?}")))?;
        t.set(lang, value.trim());
    }
    Ok(t)
}

fn translations(t: &Text) -> Value {
    let map: serde_json::Map<String, Value> = t
        .translations()
        .iter()
        .map(|(l, v)| (l.code().to_owned(), json!(&**v)))
        .collect();
    Value::Object(map)
}

fn country_json(c: &SmsCountry) -> Value {
    json!({
        "code": c.code,
        "name": c.name.en(),
        "translations": translations(&c.name),
        "activate_id": c.activate_id,
        "active": c.active,
    })
}

fn project_json(p: &SmsProject) -> Value {
    json!({
        "id": p.id,
        "code": p.code,
        "name": p.name.en(),
        "translations": translations(&p.name),
        "active": p.active,
    })
}

fn number_json(n: &SmsNumber) -> Value {
    json!({
        "id": n.id,
        "phone": n.phone,
        "country": n.country_code,
        "gateway": n.gateway_id,
        "projects": n.projects,
        "active": n.active,
        "current_order": n.current_order,
    })
}

async fn list_countries(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let countries = state.store.sms_countries(false).await?;
    ok(Value::Array(countries.iter().map(country_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CountryBody {
    name: String,
    #[serde(default)]
    translations: BTreeMap<String, String>,
    activate_id: Option<i64>,
    #[serde(default = "yes")]
    active: bool,
}

fn yes() -> bool {
    true
}

async fn put_country(
    _: Operator,
    State(state): State<AppState>,
    Path(code): Path<String>,
    JsonBody(body): JsonBody<CountryBody>,
) -> Result<Response, RestError> {
    let country = NewSmsCountry {
        code,
        name: text(&body.name, &body.translations)?,
        activate_id: body.activate_id,
        active: body.active,
    };
    let c = operator_sms::api_save_country(&state.store, &api(), country, state.now()).await?;
    ok(country_json(&c))
}

async fn list_projects(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let projects = state.store.sms_projects(false).await?;
    ok(Value::Array(projects.iter().map(project_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectBody {
    code: String,
    name: String,
    #[serde(default)]
    translations: BTreeMap<String, String>,
}

async fn create_project(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> Result<Response, RestError> {
    let project = NewSmsProject {
        code: body.code,
        name: text(&body.name, &body.translations)?,
    };
    let p = operator_sms::api_create_project(&state.store, &api(), project, state.now()).await?;
    created(project_json(&p))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectPatch {
    name: Option<String>,
    translations: Option<BTreeMap<String, String>>,
    active: Option<bool>,
}

async fn update_project(
    _: Operator,
    State(state): State<AppState>,
    Path(reference): Path<String>,
    JsonBody(body): JsonBody<ProjectPatch>,
) -> Result<Response, RestError> {
    let change = ProjectChange {
        name: body.name,
        translations: body.translations.map(|t| t.into_iter().collect()),
        active: body.active,
    };
    let p = operator_sms::api_update_project(&state.store, &api(), &reference, change, state.now())
        .await?;
    ok(project_json(&p))
}

async fn list_prices(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let prices = state.store.sms_prices().await?;
    ok(Value::Array(
        prices
            .iter()
            .map(|p| {
                json!({
                    "project_id": p.project_id,
                    "project": p.project_code,
                    "country": p.country_code,
                    "price": p.price.display4(),
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PriceBody {
    project: String,
    country: String,
    price: String,
}

async fn put_price(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<PriceBody>,
) -> Result<Response, RestError> {
    let price = Money::parse(&body.price)
        .map_err(|e| RestError::BadRequest(format!("{e}: {:?}", body.price)))?;
    let project = operator_sms::api_set_price(
        &state.store,
        &api(),
        &body.project,
        &body.country,
        price,
        state.now(),
    )
    .await?;
    ok(json!({
        "project_id": project.id,
        "project": project.code,
        "country": body.country.trim().to_ascii_lowercase(),
        "price": price.display4(),
    }))
}

async fn delete_price(
    _: Operator,
    State(state): State<AppState>,
    Path((project, country)): Path<(String, String)>,
) -> Result<Response, RestError> {
    operator_sms::remove_price(&state.store, &api(), &project, &country, state.now()).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn list_gateways(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let gateways = state.store.sms_gateways().await?;
    ok(Value::Array(
        gateways
            .iter()
            .map(|g| {
                json!({
                    "id": g.id,
                    "name": g.name,
                    "active": g.active,
                    "webhook": format!("/webhooks/sms/{}", g.id),
                })
            })
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GatewayBody {
    name: String,
    secret: Option<String>,
}

async fn create_gateway(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<GatewayBody>,
) -> Result<Response, RestError> {
    let g = operator_sms::api_create_gateway(
        &state.store,
        &api(),
        &body.name,
        body.secret,
        state.now(),
    )
    .await?;
    created(json!({
        "id": g.id,
        "name": body.name.trim(),
        "active": true,
        "secret": g.secret,
        "webhook": format!("/webhooks/sms/{}", g.id),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ActiveBody {
    active: bool,
}

async fn update_gateway(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ActiveBody>,
) -> Result<Response, RestError> {
    let g =
        operator_sms::api_set_gateway_active(&state.store, &api(), &id, body.active, state.now())
            .await?;
    ok(
        json!({ "id": g.id, "name": g.name, "active": g.active, "webhook": format!("/webhooks/sms/{}", g.id) }),
    )
}

async fn list_numbers(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let numbers = state.store.sms_numbers().await?;
    ok(Value::Array(numbers.iter().map(number_json).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberBody {
    phone: String,
    country: String,
    gateway: Option<String>,
    #[serde(default)]
    projects: Vec<String>,
}

async fn create_number(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<NumberBody>,
) -> Result<Response, RestError> {
    let number = NewSmsNumber {
        phone: body.phone,
        country: body.country,
        gateway_id: body.gateway,
        projects: body.projects,
    };
    let n = operator_sms::api_add_number(&state.store, &api(), number, state.now()).await?;
    created(number_json(&n))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NumberPatch {
    active: Option<bool>,
    projects: Option<Vec<String>>,
}

async fn update_number(
    _: Operator,
    State(state): State<AppState>,
    Path(reference): Path<String>,
    JsonBody(body): JsonBody<NumberPatch>,
) -> Result<Response, RestError> {
    let n = operator_sms::api_update_number(
        &state.store,
        &api(),
        &reference,
        body.active,
        body.projects.as_deref(),
        state.now(),
    )
    .await?;
    ok(number_json(&n))
}

async fn list_providers(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let providers = state.store.sms_providers(false).await?;
    ok(Value::Array(
        providers
            .iter()
            .map(|p| json!({ "id": p.id, "name": p.name, "url": p.url, "enabled": p.enabled }))
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderBody {
    name: String,
    url: String,
    key: String,
}

async fn create_provider(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ProviderBody>,
) -> Result<Response, RestError> {
    let id = operator_sms::create_provider(
        &state.store,
        &api(),
        &body.name,
        &body.url,
        &body.key,
        state.now(),
    )
    .await?;
    created(json!({ "id": id, "name": body.name.trim(), "url": body.url.trim(), "enabled": true }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnabledBody {
    enabled: bool,
}

async fn update_provider(
    _: Operator,
    State(state): State<AppState>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<EnabledBody>,
) -> Result<Response, RestError> {
    let p =
        operator_sms::set_provider_enabled(&state.store, &api(), &id, body.enabled, state.now())
            .await?;
    ok(json!({ "id": p.id, "name": p.name, "url": p.url, "enabled": p.enabled }))
}

async fn get_settings(_: Operator, State(state): State<AppState>) -> Result<Response, RestError> {
    let lifetime = state.store.sms_lifetime_ms().await?;
    ok(json!({ "lifetime_minutes": lifetime / 60_000 }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    lifetime_minutes: i64,
}

async fn put_settings(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<SettingsBody>,
) -> Result<Response, RestError> {
    operator_sms::set_lifetime(&state.store, &api(), body.lifetime_minutes, state.now()).await?;
    ok(json!({ "lifetime_minutes": body.lifetime_minutes }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InjectBody {
    phone: String,
    text: String,
    from: Option<String>,
}

async fn inject(
    _: Operator,
    State(state): State<AppState>,
    JsonBody(body): JsonBody<InjectBody>,
) -> Result<Response, RestError> {
    let sms = InjectSms {
        phone: body.phone,
        text: body.text,
        sender: body.from.unwrap_or_default(),
    };
    match operator_sms::inject(&state.store, &api(), sms, state.now()).await {
        Ok((s, _)) => ok(json!({
            "message_id": s.message_id,
            "order": s.code.as_ref().and(s.order_id),
            "code": s.code,
        })),
        Err(InjectError::InvalidPhone(phone)) => Err(RestError::BadRequest(format!(
            "Invalid phone number {phone:?}"
        ))),
        Err(InjectError::EmptyText) => Err(RestError::BadRequest("text is required".into())),
        Err(InjectError::Replayed) => Err(RestError::Conflict("Replayed".into())),
        Err(InjectError::Store(e)) => Err(e.into()),
        Err(InjectError::Operator(e)) => Err(e.into()),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    phone: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

async fn list_messages(
    _: Operator,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Response, RestError> {
    let messages = state
        .store
        .sms_messages(q.phone.as_deref(), q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    ok(Value::Array(
        messages
            .iter()
            .map(|m| {
                json!({
                    "id": m.id,
                    "gateway": m.gateway_id,
                    "phone": m.phone,
                    "from": m.sender,
                    "text": m.text,
                    "code": m.code,
                    "order": m.order_id,
                    "received_at": souk_core::clock::iso_millis(m.received_at),
                })
            })
            .collect(),
    ))
}

async fn list_activations(
    _: Operator,
    State(state): State<AppState>,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Response, RestError> {
    if let Some(s) = &q.status {
        if ActivationStatus::parse(s).is_none() {
            return Err(RestError::BadRequest(format!("Unknown status {s:?}")));
        }
    }
    let rows = state
        .store
        .sms_activation_rows(q.status.as_deref(), q.limit.unwrap_or(100).clamp(1, 1000))
        .await?;
    ok(Value::Array(
        rows.iter()
            .map(|a| {
                json!({
                    "order": a.order_id,
                    "user_id": a.user_id,
                    "project_id": a.project_id,
                    "country": a.country_code,
                    "phone": a.phone,
                    "status": a.status,
                    "price": Money::from_micros(a.price).display4(),
                    "code": a.code,
                    "provider": a.provider_id,
                    "external_id": a.external_id,
                    "upstream_state": a.upstream_state,
                    "expires_at": souk_core::clock::iso_millis(a.expires_at),
                    "created_at": souk_core::clock::iso_millis(a.created_at),
                })
            })
            .collect(),
    ))
}
