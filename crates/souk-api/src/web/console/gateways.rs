//! Payment gateways: every operator sees how each is set up (whether it has a key and a
//! secret, never them); owners set one up or change it. A blank key or secret keeps the
//! stored one, so the form never needs to show it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operator_gateways::{self as ops, GatewayForm};
use souk_app::operators::Permission;
use souk_app::payments::GATEWAYS;

use super::{money, page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct Form {
    csrf: Option<String>,
    /// A checkbox: present when ticked.
    enabled: Option<String>,
    #[serde(default)]
    title: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    merchant: String,
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    min_amount: String,
    #[serde(default)]
    max_amount: String,
    #[serde(default)]
    fee_percent: String,
    #[serde(default)]
    instructions: String,
}

async fn gateways_page(
    state: &AppState,
    c: &Console,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let stored = state.store.gateways().await?;
    let owner = op.role.can(Permission::Manage);
    let content = html! {
        @if !owner { p.hint { (ui.t("Only an owner changes the gateways.", "Шлюзы меняет только владелец.")) } }
        @for id in GATEWAYS {
            @let g = stored.iter().find(|g| g.id == id);
            section.action.gateway id=(format!("gateway-{id}")) {
                h2 { (id) }
                dl.grid {
                    dt { (ui.t("On", "Вкл.")) } dd.enabled { @if g.is_some_and(|g| g.enabled) { (ui.t("yes", "да")) } @else { (ui.t("no", "нет")) } }
                    dt { (ui.t("Key", "Ключ")) } dd.has-key { @if g.is_some_and(|g| g.has_api_key) { (ui.t("set", "задан")) } @else { "—" } }
                    dt { (ui.t("Secret", "Секрет")) } dd.has-secret { @if g.is_some_and(|g| g.has_secret) { (ui.t("set", "задан")) } @else { "—" } }
                    @if let Some(g) = g {
                        dt { (ui.t("Limits", "Пределы")) } dd { (money(g.min_amount)) " – " (money(g.max_amount)) }
                        dt { (ui.t("Fee", "Комиссия")) } dd { (souk_core::supply::format_percent(g.fee_bp)) " %" }
                        dt { (ui.t("Changed", "Изменён")) } dd { (when(g.updated_at)) }
                    }
                }
                @if owner {
                    form.stack method="post" action=(format!("/console/gateways/{id}")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        label.check { input type="checkbox" name="enabled" checked[g.is_some_and(|g| g.enabled)]; " " (ui.t("On", "Включён")) }
                        label { (ui.t("Title buyers see", "Название для покупателей")) }
                        input type="text" name="title" value=(g.map_or("", |g| g.title.as_str())) maxlength="100";
                        label { (ui.t("API address (blank: the gateway's own)", "Адрес API (пусто — стандартный)")) }
                        input type="text" name="base_url" value=(g.map_or("", |g| g.base_url.as_str())) maxlength="300";
                        label { (ui.t("Merchant", "Мерчант")) }
                        input type="text" name="merchant" value=(g.map_or("", |g| g.merchant.as_str())) maxlength="200";
                        label { (ui.t("API key (blank: keep)", "API-ключ (пусто — оставить)")) }
                        input type="password" name="api_key" autocomplete="off" maxlength="500";
                        label { (ui.t("Secret (blank: keep)", "Секрет (пусто — оставить)")) }
                        input type="password" name="secret" autocomplete="off" maxlength="500";
                        label { (ui.t("Least and most per payment", "Минимум и максимум платежа")) }
                        div.row {
                            input type="text" name="min_amount" value=(g.map(|g| money(g.min_amount)).unwrap_or_default()) inputmode="decimal" maxlength="24";
                            input type="text" name="max_amount" value=(g.map(|g| money(g.max_amount)).unwrap_or_default()) inputmode="decimal" maxlength="24";
                        }
                        label { (ui.t("Fee, %", "Комиссия, %")) }
                        input type="text" name="fee_percent" value=(g.map(|g| souk_core::supply::format_percent(g.fee_bp)).unwrap_or_default()) inputmode="decimal" maxlength="8";
                        label { (ui.t("Instructions (manual transfers)", "Инструкция (ручные переводы)")) }
                        textarea name="instructions" rows="3" maxlength="2000" { (g.map_or("", |g| g.instructions.as_str())) }
                        button.save type="submit" { (ui.t("Save", "Сохранить")) }
                    }
                }
            }
        }
    };
    Ok(page(
        c,
        status,
        ui.t("Payment gateways", "Платёжные шлюзы"),
        notice,
        content,
    ))
}

pub async fn list(State(state): State<AppState>, c: Console) -> Result<Response, ConsoleError> {
    gateways_page(&state, &c, Notice::None, StatusCode::OK).await
}

pub async fn configure(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<Form>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Manage)?;
    let typed = GatewayForm {
        enabled: form.enabled.is_some(),
        title: form.title,
        base_url: form.base_url,
        merchant: form.merchant,
        api_key: form.api_key,
        secret: form.secret,
        min_amount: form.min_amount,
        max_amount: form.max_amount,
        fee_percent: form.fee_percent,
        instructions: form.instructions,
    };
    match ops::configure(&state.store, &op, &id, &typed, state.now()).await {
        Ok(_) => Ok(see_other("/console/gateways")),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            gateways_page(
                &state,
                &c,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
