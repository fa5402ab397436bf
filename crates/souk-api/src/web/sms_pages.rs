//! The SMS pages: `/sms` lists what can be rented (project, country, price, free numbers),
//! renting is `add_sms`'s own path (`parse_add_sms`, `rent_detached`); `/account/sms/{id}`
//! shows one activation: the number, the time left, the code appearing without a reload
//! (`/live`, polled by the pages' script; a plain refresh link without it), cancel after
//! the allowed minutes with the refund shown (the API's `cancel`), another SMS and
//! completing (sms-activate `setStatus` 3 and 6, `souk_app::sms_activation`).

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use souk_app::cancel::{self, CancelError, CancelOrder, CancelOutcome};
use souk_app::sms_activation::{self, BuyerStep, StepOutcome};
use souk_core::sms::{parse_add_sms, ActivationStatus};
use souk_core::{ApiError, Params};
use souk_store::{AuthUser, SmsActivation};

use super::error::{PageForm, PagePath, WebError};
use super::i18n::Ui;
use super::layout::{document, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;
use crate::v2::Fault;

#[derive(Deserialize, Default)]
pub struct Pick {
    #[serde(default)]
    project: String,
    #[serde(default)]
    country: String,
}

async fn render_offers(
    state: &AppState,
    v: &Visitor,
    pick: &Pick,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, WebError> {
    let ui = v.ui;
    let lang = ui.catalogue_lang();
    let all = state.store.sms_offers(None, None).await?;
    let mut projects: Vec<(&str, &str)> = all
        .iter()
        .map(|o| (o.project_id.as_str(), o.project_name.get(lang)))
        .collect();
    projects.sort_by_key(|(_, name)| name.to_lowercase());
    projects.dedup();
    let mut countries: Vec<(&str, &str)> = all
        .iter()
        .map(|o| (o.country_code.as_str(), o.country_name.get(lang)))
        .collect();
    countries.sort_by_key(|(_, name)| name.to_lowercase());
    countries.dedup();
    let shown: Vec<_> = all
        .iter()
        .filter(|o| pick.project.is_empty() || o.project_id == pick.project)
        .filter(|o| pick.country.is_empty() || o.country_code == pick.country)
        .collect();
    let currency = &state.config.currency;
    let content = html! {
        h1 { (ui.t("Rent a number", "Аренда номера")) }
        (notice.render())
        form.row.filters method="get" action="/sms" {
            label { (ui.t("Service", "Сервис")) " "
                select name="project" #sms-project {
                    option value="" { (ui.t("any", "любой")) }
                    @for (id, name) in &projects { option value=(id) selected[pick.project == *id] { (name) } }
                }
            }
            label { (ui.t("Country", "Страна")) " "
                select name="country" #sms-country {
                    option value="" { (ui.t("any", "любая")) }
                    @for (code, name) in &countries { option value=(code) selected[pick.country == *code] { (name) } }
                }
            }
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        @if shown.is_empty() { p.muted #no-offers { (ui.t("Nothing to rent for this choice.", "Для этого выбора нечего арендовать.")) } }
        div.scroll { table #offers {
            thead { tr { th { (ui.t("Service", "Сервис")) } th { (ui.t("Country", "Страна")) } th.num { (ui.t("Price", "Цена")) } th.num { (ui.t("Free numbers", "Свободно")) } th {} } }
            tbody {
                @for o in &shown {
                    tr #{"offer-" (o.project_id) "-" (o.country_code)} {
                        td { (o.project_name.get(lang)) }
                        td { (o.country_name.get(lang)) }
                        td.num { (o.price.display4()) " " (currency) }
                        td.num { (o.free) }
                        td {
                            @if v.session.is_some() {
                                form.inline.rent method="post" action="/sms/rent" {
                                    input type="hidden" name="csrf" value=(v.csrf());
                                    input type="hidden" name="project_id" value=(o.project_id);
                                    input type="hidden" name="country" value=(o.country_code);
                                    button.small type="submit" disabled[o.free == 0] aria-label={(ui.t("Rent ", "Арендовать ")) (o.project_name.get(lang)) ", " (o.country_name.get(lang))} { (ui.t("Rent", "Арендовать")) }
                                }
                            } @else {
                                a href="/signin?next=/sms" { (ui.t("Sign in", "Войти")) }
                            }
                        }
                    }
                }
            }
        } }
        p { a href="/account/sms" { (ui.t("Your activations", "Ваши активации")) } }
    };
    Ok(respond(
        v,
        status,
        document(v, ui.t("Rent a number", "Аренда номера"), content),
    ))
}

pub async fn offers(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(pick): Query<Pick>,
) -> Result<Response, WebError> {
    render_offers(&state, &visitor, &pick, Notice::None, StatusCode::OK).await
}

/// `POST /sms/rent`: `add_sms` with the form's `project_id` and `country`.
pub async fn rent(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let session = visitor.user()?.clone();
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    visitor.check_csrf(csrf)?;
    let params = Params::from_pairs(
        pairs
            .iter()
            .filter(|(k, _)| k != "csrf")
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let user = AuthUser {
        user_id: session.user_id.clone(),
        email: session.email.clone(),
        active: true,
        is_supplier: session.is_supplier,
        key_id: format!("web:{}", session.user_id),
    };
    // Like a purchase, a rental passes the per-key limit in the buyer's web bucket.
    let rented = match parse_add_sms(&params) {
        Ok(_) if !state.key_limiter.allow(&user.key_id) => Err(Fault::RateLimited),
        Ok(request) => crate::v2::sms::rent_detached(&state, &user, request, None).await,
        Err(e) => Err(Fault::Api(e)),
    };
    let refusal = match rented {
        Ok(rentals) => {
            let first = rentals.first().map_or(0, |r| r.order_id);
            return Ok(see_other(&format!("/account/sms/{first}?rented=1")));
        }
        Err(Fault::Api(e)) => e,
        Err(Fault::RateLimited) => ApiError::RateLimited,
        Err(Fault::Store(e)) => return Err(e.into()),
    };
    let pick = Pick {
        project: params.get("project_id").unwrap_or("").to_owned(),
        country: params.get("country").unwrap_or("").to_owned(),
    };
    let notice = Notice::Error(super::refusal::api(visitor.ui, &refusal));
    render_offers(
        &state,
        &visitor,
        &pick,
        notice,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

fn status_name(ui: Ui, s: ActivationStatus) -> &'static str {
    match s {
        ActivationStatus::Active => ui.t("waiting for the SMS", "ждём SMS"),
        ActivationStatus::CodeReceived => ui.t("code received", "код получен"),
        ActivationStatus::Completed => ui.t("completed", "завершена"),
        ActivationStatus::Expired => ui.t("expired, refunded", "истекла, средства возвращены"),
        ActivationStatus::Canceled => ui.t("cancelled, refunded", "отменена, средства возвращены"),
    }
}

/// What the live poll compares: it changes whenever the page would.
fn live_state(a: &SmsActivation) -> String {
    format!(
        "{}:{}:{}",
        a.status.as_str(),
        a.code.as_deref().unwrap_or(""),
        a.refunded.micros()
    )
}

#[derive(Deserialize, Default)]
pub struct Shown {
    rented: Option<String>,
    done: Option<String>,
}

async fn render_activation(
    state: &AppState,
    v: &Visitor,
    id: i64,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, WebError> {
    let user = v.user()?;
    let ui = v.ui;
    let lang = ui.catalogue_lang();
    let a = state
        .store
        .sms_activation(&user.user_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let now = state.now();
    let currency = &state.config.currency;
    let open = a.status.is_open();
    let left_s = ((a.expires_at - now) / 1000).max(0);
    let cancel_from = a.created_at + souk_core::sms::CANCEL_AFTER_MS;
    let content = html! {
        p { a href="/account/sms" { "← " (ui.t("SMS activations", "SMS-активации")) } }
        h1 { (a.project_name.get(lang)) " · " (a.country_name.get(lang)) }
        (notice.render())
        section.card #activation {
            p.big { (ui.t("Number", "Номер")) ": " code #sms-phone { (a.phone) } " " button.small.copy type="button" data-copy="sms-phone" { (ui.t("Copy", "Копировать")) } }
            dl.facts {
                dt { (ui.t("Status", "Статус")) } dd #sms-status data-status=(a.status.as_str()) { (status_name(ui, a.status)) }
                dt { (ui.t("Code", "Код")) } dd { @if let Some(c) = &a.code { strong.code #sms-code { (c) } } @else { span.muted #sms-code-waiting { "—" } } }
                @if let Some(t) = &a.sms_text { dt { "SMS" } dd #sms-text { (t) } }
                dt { (ui.t("Charge", "Цена")) } dd { (a.charge.checked_sub(a.refunded).unwrap_or(a.charge).display4()) " " (currency)
                    @if a.refunded.micros() > 0 { " · " (ui.t("refunded", "возвращено")) " " strong #sms-refunded { (a.refunded.display4()) } " " (currency) } }
                @if open {
                    dt { (ui.t("Time left", "Осталось")) } dd { span #time-left data-until=(a.expires_at) data-now=(now) { (left_s / 60) ":" (format!("{:02}", left_s % 60)) } " (" (ui.t("until", "до")) " " (when(a.expires_at)) ")" }
                }
            }
            @if open {
                p.muted #live data-poll={"/account/sms/" (a.order_id) "/live"} data-state=(live_state(&a)) aria-live="polite" {
                    (ui.t("The code appears here when the SMS arrives. ", "Код появится здесь, когда придёт SMS. "))
                    a href={"/account/sms/" (a.order_id)} { (ui.t("Refresh", "Обновить")) }
                }
            }
        }
        @if open {
            section.row #sms-actions {
                @if a.code.is_none() {
                    form.inline method="post" action={"/account/sms/" (a.order_id) "/cancel"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        button.danger #sms-cancel type="submit" { (ui.t("Cancel and refund", "Отменить с возвратом")) }
                    }
                    @if now < cancel_from { span.hint { (ui.t("Cancel is possible from ", "Отмена возможна с ")) (when(cancel_from)) } }
                } @else {
                    form.inline method="post" action={"/account/sms/" (a.order_id) "/another"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        button #sms-another type="submit" { (ui.t("Another SMS", "Ещё SMS")) }
                    }
                    form.inline method="post" action={"/account/sms/" (a.order_id) "/complete"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        button #sms-complete type="submit" { (ui.t("Done", "Готово")) }
                    }
                }
            }
        }
        p { a.button href={"/sms?project=" (a.project_id) "&country=" (a.country_code)} { (ui.t("Rent another number", "Арендовать ещё номер")) } }
    };
    Ok(respond(v, status, document(v, "SMS", content)))
}

pub async fn activation(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    Query(shown): Query<Shown>,
) -> Result<Response, WebError> {
    let ui = visitor.ui;
    let notice = match (shown.rented.is_some(), shown.done.as_deref()) {
        (true, _) => Notice::Ok(ui.t("Number rented.", "Номер арендован.").to_owned()),
        (_, Some("cancel")) => Notice::Ok(
            ui.t(
                "Cancelled: the price was refunded.",
                "Отменено: стоимость возвращена.",
            )
            .to_owned(),
        ),
        (_, Some("another")) => Notice::Ok(
            ui.t("Waiting for another SMS.", "Ждём ещё одно SMS.")
                .to_owned(),
        ),
        (_, Some("complete")) => Notice::Ok(
            ui.t("Activation completed.", "Активация завершена.")
                .to_owned(),
        ),
        _ => Notice::None,
    };
    render_activation(&state, &visitor, id, notice, StatusCode::OK).await
}

/// `GET /account/sms/{id}/live`: the state the page compares, and the code once there.
pub async fn live(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let a = state
        .store
        .sms_activation(&user.user_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let body =
        serde_json::json!({ "state": live_state(&a), "status": a.status.as_str(), "code": a.code });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Deserialize)]
pub struct CsrfOnly {
    csrf: Option<String>,
}

/// `POST /account/sms/{id}/cancel`: the API's `cancel` of this order.
pub async fn cancel_activation(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let command = CancelOrder {
        user_id: user.user_id.clone(),
        order_id: id,
        dry_run: false,
    };
    let text = match cancel::cancel_order(&state.store, command, state.now()).await {
        Ok(CancelOutcome::Refunded(_) | CancelOutcome::Eligible(_)) => {
            return Ok(see_other(&format!("/account/sms/{id}?done=cancel")))
        }
        Ok(CancelOutcome::NotFound) => return Err(WebError::NotFound),
        Ok(CancelOutcome::Refused(reason)) => format!(
            "{} ({})",
            super::order::reason_text(ui, reason),
            reason.code()
        ),
        Err(CancelError::Rejected(e)) => super::refusal::api(ui, &e),
        Err(CancelError::Store(e)) => return Err(e.into()),
    };
    render_activation(
        &state,
        &visitor,
        id,
        Notice::Error(text),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

async fn step(
    state: &AppState,
    visitor: &Visitor,
    id: i64,
    form: &CsrfOnly,
    step: BuyerStep,
    done: &str,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let a = state
        .store
        .sms_activation(&user.user_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ui = visitor.ui;
    match sms_activation::ask(&state.store, &user.user_id, &a, step, state.now()).await? {
        StepOutcome::Done => Ok(see_other(&format!("/account/sms/{id}?done={done}"))),
        StepOutcome::NotFound => Err(WebError::NotFound),
        StepOutcome::BadStatus | StepOutcome::TooEarly => {
            let text = ui.t(
                "Not possible in the activation's current state.",
                "Невозможно в текущем состоянии активации.",
            );
            render_activation(
                state,
                visitor,
                id,
                Notice::Error(text.to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn another(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, WebError> {
    step(
        &state,
        &visitor,
        id,
        &form,
        BuyerStep::AnotherSms,
        "another",
    )
    .await
}

pub async fn complete(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<CsrfOnly>,
) -> Result<Response, WebError> {
    step(&state, &visitor, id, &form, BuyerStep::Complete, "complete").await
}
