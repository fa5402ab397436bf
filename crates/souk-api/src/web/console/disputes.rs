//! Buyers' disputes: the list, one dispute's page with its message thread (the buyer's
//! opening message, what the buyer, the shop's supplier and the operators wrote since),
//! an operator's message in the thread and the decision (a refund or not), both of which
//! support may take.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::operators::{self, Permission};
use souk_core::supply::MAX_MESSAGE;
use souk_store::Dispute;

use super::lists::{status_of, StatusQuery};
use super::{money, page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::i18n::Ui;
use crate::web::layout::{see_other, when, Notice};

/// The refund-or-reject form of an open dispute.
fn decision_form(c: &Console, d: &Dispute) -> Markup {
    let ui = c.ui();
    html! {
        form.stack.decision method="post" action=(format!("/console/disputes/{}", d.id)) {
            input type="hidden" name="csrf" value=(c.csrf());
            input type="text" name="amount" placeholder=(ui.t("Refund (empty: all left)", "Возврат (пусто — весь остаток)")) maxlength="24";
            input type="text" name="note" placeholder=(ui.t("Note to the buyer", "Комментарий покупателю")) maxlength="500";
            div.row {
                button.small type="submit" name="decision" value="refund" { (ui.t("Refund", "Вернуть")) }
                button.small.danger type="submit" name="decision" value="reject" { (ui.t("Reject", "Отклонить")) }
            }
        }
    }
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
                td { a.thread-link href=(format!("/console/disputes/{}", d.id)) { (d.message) } }
                td.num { (money(d.charge)) } td.num { (money(d.refunded)) } td { (when(d.created_at)) }
                td {
                    @if d.status == "open" { (decision_form(c, d)) }
                    @else { (d.status) ": " (d.resolution) }
                }
            } }
            @if rows.is_empty() { tr { td colspan="7" .muted { (ui.t("None.", "Нет.")) } } } }
        } }
    };
    Ok(page(c, code, ui.t("Disputes", "Споры"), notice, content))
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ConsoleError> {
    disputes_page(&state, &c, &q, Notice::None, StatusCode::OK).await
}

fn author_name(ui: Ui, author: &str) -> &'static str {
    match author {
        "buyer" => ui.t("Buyer", "Покупатель"),
        "supplier" => ui.t("Supplier", "Поставщик"),
        _ => ui.t("Operator", "Оператор"),
    }
}

/// One dispute: its facts, its thread oldest first, and (open, for those who handle
/// disputes) a message form, with `typed` kept after a refusal, and the decision.
async fn dispute_page(
    state: &AppState,
    c: &Console,
    id: &str,
    typed: &str,
    notice: Notice,
    code: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let d = state
        .store
        .dispute(id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let thread = state.store.dispute_messages(&d.id).await?;
    let handles = op.role.can(Permission::HandleDisputes) && d.status == "open";
    let content = html! {
        p { a href="/console/disputes" #disputes-back { "← " (ui.t("Disputes", "Споры")) } }
        dl.facts #dispute-facts {
            dt { (ui.t("Order", "Заказ")) } dd { a href=(format!("/console/orders/{}", d.order_id)) { (d.order_id) } }
            dt { (ui.t("Buyer", "Покупатель")) } dd { a href=(format!("/console/users/{}", d.user_id)) { (d.email) } }
            dt { (ui.t("Status", "Статус")) } dd #dispute-status data-status=(d.status) { (d.status) }
            dt { (ui.t("Charge", "Сумма")) } dd { (money(d.charge)) }
            dt { (ui.t("Refunded", "Возвращено")) } dd { (money(d.refunded)) }
            dt { (ui.t("Opened", "Открыт")) } dd { (when(d.created_at)) }
            @if d.status != "open" {
                dt { (ui.t("Decision", "Решение")) } dd { (money(d.refund_amount)) " · " (d.resolution) }
            }
        }
        h2 { (ui.t("Thread", "Переписка")) }
        ol.messages #dispute-thread {
            li.buyer { span.who { (author_name(ui, "buyer")) } " · " span.muted { (when(d.created_at)) } p { (d.message) } }
            @for m in &thread {
                li class=(m.author) { span.who { (author_name(ui, &m.author)) } " · " span.muted { (when(m.created_at)) } p { (m.body) } }
            }
        }
        @if handles {
            form.stack #dispute-message-form method="post" action=(format!("/console/disputes/{}/messages", d.id)) {
                input type="hidden" name="csrf" value=(c.csrf());
                label for="dispute-message" { (ui.t("Message to the buyer and the shop", "Сообщение покупателю и магазину")) }
                textarea #dispute-message name="message" rows="3" maxlength=(MAX_MESSAGE) required { (typed) }
                button #dispute-message-submit type="submit" { (ui.t("Send", "Отправить")) }
            }
            h2 { (ui.t("Decision", "Решение")) }
            (decision_form(c, &d))
        }
    };
    let title = format!("{} · {}", ui.t("Dispute", "Спор"), d.order_id);
    Ok(page(c, code, &title, notice, content))
}

pub async fn detail(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
) -> Result<Response, ConsoleError> {
    dispute_page(&state, &c, &id, "", Notice::None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct MessageForm {
    csrf: Option<String>,
    #[serde(default)]
    message: String,
}

/// An operator's message in the thread, through the audited use case; a refusal (empty,
/// too long, a resolved dispute) shows on the dispute's page with what was typed.
pub async fn message(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<MessageForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::HandleDisputes)?;
    match operators::dispute_message(&state.store, &op, &id, &form.message, state.now()).await {
        Ok(_) => Ok(see_other(&format!("/console/disputes/{id}"))),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            dispute_page(
                &state,
                &c,
                &id,
                &form.message,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
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

pub async fn decide(
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
