//! `/account/mass-order`: many `service|link|quantity` lines in one form, each placed as
//! an ordinary order through the same use case as the API's `mass_order`, each with its
//! own result line. The form carries a fresh idempotency key, so sending it twice (a
//! double click, a reload) places each line once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_core::ApiError;

use super::error::{PageForm, WebError};
use super::i18n::Ui;
use super::layout::{document, respond};
use super::session::{random_token, Visitor};
use crate::state::AppState;
use crate::v2::{place_mass, Fault};

#[derive(Deserialize)]
pub struct MassForm {
    csrf: Option<String>,
    #[serde(default)]
    orders: String,
    #[serde(default)]
    idempotency_key: String,
}

/// What a sent form gave: each line's order or refusal, or the refusal of the whole.
enum Outcome {
    Lines(Vec<(usize, Result<i64, ApiError>)>),
    Refused(ApiError),
}

pub async fn page(visitor: Visitor) -> Result<Response, WebError> {
    visitor.user()?;
    Ok(render(&visitor, "", None, StatusCode::OK))
}

pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<MassForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    let key = Some(form.idempotency_key.trim()).filter(|k| !k.is_empty());
    let outcome = if !state.key_limiter.allow(&format!("web:{}", user.user_id)) {
        Outcome::Refused(ApiError::RateLimited)
    } else {
        match place_mass(&state, (&user.user_id, &user.email), &form.orders, key).await {
            Ok(lines) => Outcome::Lines(lines),
            Err(Fault::Api(e)) => Outcome::Refused(e),
            Err(Fault::RateLimited) => Outcome::Refused(ApiError::RateLimited),
            Err(Fault::Store(e)) => return Err(e.into()),
        }
    };
    let status = match &outcome {
        Outcome::Lines(_) => StatusCode::OK,
        Outcome::Refused(ApiError::RateLimited) => StatusCode::TOO_MANY_REQUESTS,
        Outcome::Refused(_) => StatusCode::UNPROCESSABLE_ENTITY,
    };
    // Lines that were all refused are kept in the box to be fixed; placed ones are not
    // offered again.
    let keep = match &outcome {
        Outcome::Lines(lines) if lines.iter().any(|(_, r)| r.is_ok()) => "",
        _ => form.orders.as_str(),
    };
    Ok(render(&visitor, keep, Some(&outcome), status))
}

fn render(v: &Visitor, text: &str, outcome: Option<&Outcome>, status: StatusCode) -> Response {
    let ui = v.ui;
    let content = html! {
        h1 { (ui.t("Mass order", "Массовый заказ")) }
        p.muted { (ui.t(
            "One order a line: service|link|quantity (at most 100 lines). Each line is an ordinary order, charged alone; a bad line fails alone.",
            "По заказу в строке: service|link|quantity (до 100 строк). Каждая строка — обычный заказ со своим списанием; ошибочная строка не мешает остальным.",
        )) }
        @if let Some(outcome) = outcome { (results(ui, outcome)) }
        form.card method="post" action="/account/mass-order" #mass-order-form {
            input type="hidden" name="csrf" value=(v.csrf());
            input type="hidden" name="idempotency_key" value=(random_token());
            label for="mass-orders" { (ui.t("Orders", "Заказы")) }
            textarea #mass-orders name="orders" rows="8" required
                placeholder="680|https://instagram.com/p/abc|1000" { (text) }
            button type="submit" #mass-order-send { (ui.t("Place the orders", "Оформить заказы")) }
        }
    };
    respond(
        v,
        status,
        document(v, ui.t("Mass order", "Массовый заказ"), content),
    )
}

fn results(ui: Ui, outcome: &Outcome) -> Markup {
    match outcome {
        Outcome::Refused(e) => html! {
            p.notice.error role="alert" #mass-order-error { (super::refusal::api(ui, e)) }
        },
        Outcome::Lines(lines) => {
            let placed = lines.iter().filter(|(_, r)| r.is_ok()).count();
            html! {
                p role="status" #mass-order-summary {
                    (ui.t("Placed", "Оформлено")) " " (placed) " / " (lines.len())
                }
                div.scroll {
                    table #mass-order-results {
                        thead { tr {
                            th.num { (ui.t("Line", "Строка")) }
                            th { (ui.t("Result", "Результат")) }
                        } }
                        tbody {
                            @for (line, result) in lines {
                                tr #{"mass-line-" (line)} {
                                    td.num { (line) }
                                    @match result {
                                        Ok(order) => td { a href={"/account/orders/" (order)} { (ui.t("order", "заказ")) " #" (order) } },
                                        Err(e) => td.field-error { (super::refusal::api(ui, e)) },
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
