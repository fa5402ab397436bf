//! The other screens over what the operator API already reads: disputes (with their
//! decision, which support may take), suppliers' withdrawals and buyers' payments.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::{self, Permission};

use super::{money, page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    #[serde(default)]
    status: String,
}

fn status_of<'a>(q: &'a StatusQuery, allowed: &[&str]) -> Option<&'a str> {
    Some(q.status.trim()).filter(|s| allowed.contains(s))
}

async fn disputes_page(
    state: &AppState,
    c: &Console,
    q: &StatusQuery,
    notice: Notice,
    code: StatusCode,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let status = status_of(q, &["open", "refunded", "rejected"]).or(if q.status.is_empty() {
        Some("open")
    } else {
        None
    });
    let rows = state.store.disputes(status).await?;
    let content = html! {
        form.row method="get" action="/console/disputes" {
            select name="status" { @for s in ["open", "refunded", "rejected"] { option value=(s) selected[status == Some(s)] { (s) } } }
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        div.scroll { table #disputes {
            thead { tr { th { (ui.t("Order", "Заказ")) } th { (ui.t("Buyer", "Покупатель")) } th { (ui.t("Message", "Сообщение")) } th.num { (ui.t("Charge", "Сумма")) } th.num { (ui.t("Refunded", "Возвращено")) } th { (ui.t("Opened", "Открыт")) } th { (ui.t("Decision", "Решение")) } } }
            tbody { @for d in &rows { tr {
                td { a href=(format!("/console/orders/{}", d.order_id)) { (d.order_id) } }
                td { a href=(format!("/console/users/{}", d.user_id)) { (d.email) } }
                td { (d.message) } td.num { (money(d.charge)) } td.num { (money(d.refunded)) } td { (when(d.created_at)) }
                td {
                    @if d.status == "open" {
                        form.stack method="post" action=(format!("/console/disputes/{}", d.id)) {
                            input type="hidden" name="csrf" value=(c.csrf());
                            input type="text" name="amount" placeholder=(ui.t("Refund (empty: all left)", "Возврат (пусто — весь остаток)")) maxlength="24";
                            input type="text" name="note" placeholder=(ui.t("Note to the buyer", "Комментарий покупателю")) maxlength="500";
                            div.row {
                                button.small type="submit" name="decision" value="refund" { (ui.t("Refund", "Вернуть")) }
                                button.small.danger type="submit" name="decision" value="reject" { (ui.t("Reject", "Отклонить")) }
                            }
                        }
                    } @else { (d.status) ": " (d.resolution) }
                }
            } }
            @if rows.is_empty() { tr { td colspan="7" .muted { (ui.t("None.", "Нет.")) } } } }
        } }
    };
    Ok(page(c, code, ui.t("Disputes", "Споры"), notice, content))
}

pub async fn disputes(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ConsoleError> {
    disputes_page(&state, &c, &q, Notice::None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct DecisionForm {
    csrf: Option<String>,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    note: String,
}

pub async fn decide_dispute(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<DecisionForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::HandleDisputes)?;
    let ui = c.ui();
    let refund = match form.decision.as_str() {
        "refund" => Some(form.amount.as_str()),
        "reject" => None,
        _ => {
            let text = ui
                .t("Choose refund or reject.", "Выберите возврат или отказ.")
                .to_owned();
            return disputes_page(
                &state,
                &c,
                &StatusQuery::default(),
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match operators::resolve_dispute(&state.store, &op, &id, refund, &form.note, state.now()).await
    {
        Ok(_) => Ok(see_other("/console/disputes")),
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            disputes_page(
                &state,
                &c,
                &StatusQuery::default(),
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
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
