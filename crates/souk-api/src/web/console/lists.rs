//! The other screens over what the operator API already reads: suppliers' withdrawals
//! and buyers' payments (disputes have their own module).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::Permission;

use super::{money, page, Console, ConsoleError};
use crate::state::AppState;
use crate::web::layout::{when, Notice};

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    #[serde(default)]
    pub(super) status: String,
}

pub(super) fn status_of<'a>(q: &'a StatusQuery, allowed: &[&str]) -> Option<&'a str> {
    Some(q.status.trim()).filter(|s| allowed.contains(s))
}

pub async fn withdrawals(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let status = status_of(&q, &["requested", "completed", "rejected"]);
    let rows = state.store.withdrawals(None, status).await?;
    let content = html! {
        form.row method="get" action="/console/withdrawals" {
            select name="status" { option value="" { (ui.t("Any", "Любые")) } @for s in ["requested", "completed", "rejected"] { option value=(s) selected[status == Some(s)] { (s) } } }
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        div.scroll { table #withdrawals {
            thead { tr { th { (ui.t("Shop", "Магазин")) } th.num { (ui.t("Amount", "Сумма")) } th { (ui.t("Status", "Статус")) } th.num { (ui.t("Orders", "Заказы")) } th { (ui.t("Note", "Примечание")) } th { (ui.t("Requested", "Запрошен")) } } }
            tbody { @for w in &rows { tr { td { (w.shop_id) } td.num { (money(w.amount)) } td { (w.status) } td.num { (w.orders) } td { (w.note) " " (w.resolution) } td { (when(w.created_at)) } } }
            @if rows.is_empty() { tr { td colspan="6" .muted { (ui.t("None.", "Нет.")) } } } }
        } }
    };
    Ok(page(
        &c,
        StatusCode::OK,
        ui.t("Withdrawals", "Выводы"),
        Notice::None,
        content,
    ))
}

pub async fn payments(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let states = [
        "created",
        "pending",
        "held",
        "paid",
        "partially_paid",
        "expired",
        "failed",
    ];
    let status = status_of(&q, &states);
    let rows = state.store.payments(None, status, 200).await?;
    let content = html! {
        form.row method="get" action="/console/payments" {
            select name="status" { option value="" { (ui.t("Any", "Любые")) } @for s in states { option value=(s) selected[status == Some(s)] { (s) } } }
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        form.row #payments-export method="get" action="/console/export/payments" {
            input type="text" name="from" placeholder="2026-12-01" required title=(ui.t("From (UTC day)", "С (день UTC)"));
            input type="text" name="to" placeholder="2026-12-31" required title=(ui.t("To (UTC day)", "По (день UTC)"));
            button #payments-export-submit type="submit" { (ui.t("Payments CSV", "Платежи CSV")) }
        }
        div.scroll { table #payments {
            thead { tr { th { (ui.t("Buyer", "Покупатель")) } th { (ui.t("Gateway", "Шлюз")) } th { (ui.t("State", "Состояние")) } th.num { (ui.t("Amount", "Сумма")) } th.num { (ui.t("Credited", "Зачислено")) } th { (ui.t("Created", "Создан")) } } }
            tbody { @for p in &rows { tr {
                td { a href=(format!("/console/users/{}", p.user_id)) { (p.email) } } td { (p.gateway) } td { (p.state) }
                td.num { (money(p.amount)) " " (p.currency) } td.num { (money(p.credited)) } td { (when(p.created_at)) }
            } }
            @if rows.is_empty() { tr { td colspan="6" .muted { (ui.t("None.", "Нет.")) } } } }
        } }
    };
    Ok(page(
        &c,
        StatusCode::OK,
        ui.t("Payments", "Платежи"),
        Notice::None,
        content,
    ))
}
