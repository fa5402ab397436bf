//! SMS verification at a glance: countries, projects, prices (admins and owners set
//! them), the gateways (never their webhook secrets), the pool's numbers and the newest
//! messages, optionally of one phone.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operator_sms;
use souk_app::operators::Permission;
use souk_core::{Lang, Text};

use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::PageForm;
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct PhoneQuery {
    #[serde(default)]
    phone: String,
}

#[derive(Deserialize, Default)]
pub struct PriceForm {
    csrf: Option<String>,
    #[serde(default)]
    project: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    price: String,
}

fn ru(t: &Text) -> &str {
    t.translations()
        .iter()
        .find(|(l, _)| *l == Lang::Ru)
        .map_or("", |(_, v)| v.as_ref())
}

async fn sms_page(
    state: &AppState,
    c: &Console,
    phone: &str,
    form: &PriceForm,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let countries = state.store.sms_countries(false).await?;
    let projects = state.store.sms_projects(false).await?;
    let prices = state.store.sms_prices().await?;
    let gateways = state.store.sms_gateways().await?;
    let numbers = state.store.sms_numbers().await?;
    let phone = phone.trim();
    // A phone that is no phone finds nothing (the store would read it as no filter).
    let (mut notice, mut status) = (notice, status);
    let messages = if phone.is_empty() {
        state.store.sms_messages(None, 100).await?
    } else if souk_core::sms::normalize_phone(phone).is_some() {
        state.store.sms_messages(Some(phone), 100).await?
    } else {
        notice = Notice::Error(
            ui.t(
                "Write the phone like +12025550101.",
                "Пишите телефон так: +12025550101.",
            )
            .to_owned(),
        );
        status = StatusCode::UNPROCESSABLE_ENTITY;
        Vec::new()
    };
    let content = html! {
        h2 { (ui.t("Prices", "Цены")) }
        div.scroll { table #sms-prices {
            thead { tr { th { (ui.t("Project", "Проект")) } th { (ui.t("Country", "Страна")) } th.num { (ui.t("Price", "Цена")) } } }
            tbody {
                @for p in &prices { tr { td { (p.project_code) } td { (p.country_code) } td.num { (p.price.display4()) } } }
                @if prices.is_empty() { tr { td colspan="3" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
        @if op.role.can(Permission::Change) {
            form.row #sms-price-form method="post" action="/console/sms/prices" {
                input type="hidden" name="csrf" value=(c.csrf());
                select #sms-project name="project" {
                    @for p in &projects { option value=(p.code) selected[form.project == p.code] { (p.code) " · " (p.name.en()) } }
                }
                select #sms-country name="country" {
                    @for k in &countries { option value=(k.code) selected[form.country == k.code] { (k.code) " · " (k.name.en()) } }
                }
                input #sms-price type="text" name="price" value=(form.price) required inputmode="decimal" maxlength="24" placeholder="0.50";
                button #sms-price-submit type="submit" { (ui.t("Set the price", "Установить цену")) }
            }
        }
        h2 { (ui.t("Countries", "Страны")) }
        div.scroll { table #sms-countries {
            thead { tr { th { (ui.t("Code", "Код")) } th { (ui.t("Name", "Название")) } th { (ui.t("In Russian", "По-русски")) } th { (ui.t("On", "Вкл.")) } } }
            tbody { @for k in &countries { tr { td { (k.code) } td { (k.name.en()) } td { (ru(&k.name)) } td { @if k.active { "✓" } } } } }
        } }
        h2 { (ui.t("Projects", "Проекты")) }
        div.scroll { table #sms-projects {
            thead { tr { th { (ui.t("Code", "Код")) } th { (ui.t("Name", "Название")) } th { (ui.t("In Russian", "По-русски")) } th { (ui.t("On", "Вкл.")) } } }
            tbody { @for p in &projects { tr { td { (p.code) } td { (p.name.en()) } td { (ru(&p.name)) } td { @if p.active { "✓" } } } } }
        } }
        h2 { (ui.t("Gateways", "Шлюзы")) }
        div.scroll { table #sms-gateways {
            thead { tr { th { (ui.t("Name", "Название")) } th { (ui.t("Webhook", "Вебхук")) } th { (ui.t("On", "Вкл.")) } th { (ui.t("Since", "С")) } } }
            tbody { @for g in &gateways { tr { td { (g.name) } td { code { "/webhooks/sms/" (g.id) } } td { @if g.active { "✓" } } td { (when(g.created_at)) } } } }
        } }
        h2 { (ui.t("Numbers", "Номера")) }
        div.scroll { table #sms-numbers {
            thead { tr { th { (ui.t("Phone", "Телефон")) } th { (ui.t("Country", "Страна")) } th { (ui.t("Projects", "Проекты")) } th { (ui.t("On", "Вкл.")) } th { (ui.t("Rented by order", "Занят заказом")) } } }
            tbody { @for n in &numbers { tr {
                td { a href=(format!("/console/sms?phone={}", n.phone.trim_start_matches('+'))) { (n.phone) } } td { (n.country_code) } td { (n.projects.join(", ")) } td { @if n.active { "✓" } }
                td { @if let Some(o) = n.current_order { a href=(format!("/console/orders/{o}")) { (o) } } }
            } } }
        } }
        h2 { (ui.t("Messages", "Сообщения")) }
        form.row #sms-message-search method="get" action="/console/sms" {
            input type="search" name="phone" placeholder=(ui.t("Phone", "Телефон")) value=(phone);
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        div.scroll { table #sms-messages {
            thead { tr { th { (ui.t("Phone", "Телефон")) } th { (ui.t("From", "От")) } th { (ui.t("Text", "Текст")) } th { (ui.t("Code", "Код")) } th { (ui.t("Order", "Заказ")) } th { (ui.t("Received", "Получено")) } } }
            tbody {
                @for m in &messages { tr {
                    td { (m.phone) } td { (m.sender) } td { (m.text) } td { (m.code.as_deref().unwrap_or("")) }
                    td { @if let Some(o) = m.order_id { a href=(format!("/console/orders/{o}")) { (o) } } } td { (when(m.received_at)) }
                } }
                @if messages.is_empty() { tr { td colspan="6" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
    };
    Ok(page(c, status, ui.t("SMS", "SMS"), notice, content))
}

pub async fn show(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<PhoneQuery>,
) -> Result<Response, ConsoleError> {
    sms_page(
        &state,
        &c,
        &q.phone,
        &PriceForm::default(),
        Notice::None,
        StatusCode::OK,
    )
    .await
}

pub async fn set_price(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<PriceForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    match operator_sms::set_price(
        &state.store,
        &op,
        &form.project,
        &form.country,
        &form.price,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(see_other("/console/sms")),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            sms_page(
                &state,
                &c,
                "",
                &form,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
