//! Orders: a list with search and filters (id, buyer, link, status, provider, dates),
//! newest first, a page at a time; an order's detail with its ledger rows and events;
//! settling a stuck order by hand. The other actions of the page (send again, cancel,
//! refund what is left) post to `order_actions`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::{self, Permission};
use souk_store::{OrderFilter, Resolution};

use super::{money, page, parse_day, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

const PAGE: i64 = 50;
const STATUSES: [&str; 6] = [
    "pending",
    "processing",
    "error",
    "completed",
    "partial",
    "canceled",
];

#[derive(Deserialize, Default)]
pub struct Filters {
    #[serde(default)]
    id: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    provider: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    before: String,
}

fn some(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// The filter, or what is wrong with the form.
fn filter_of(f: &Filters, ui: crate::web::i18n::Ui) -> Result<OrderFilter, String> {
    let number = |text: &str, what: &str| -> Result<Option<i64>, String> {
        match some(text) {
            None => Ok(None),
            Some(t) => t
                .parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .map(Some)
                .ok_or_else(|| what.to_owned()),
        }
    };
    let day = |text: &str| -> Result<Option<i64>, String> {
        match some(text) {
            None => Ok(None),
            Some(t) => parse_day(&t).map(Some).ok_or_else(|| {
                ui.t(
                    "Dates are written 2026-12-31.",
                    "Даты пишутся как 2026-12-31.",
                )
                .to_owned()
            }),
        }
    };
    let status = some(&f.status);
    if let Some(s) = &status {
        if !STATUSES.contains(&s.as_str()) {
            return Err(ui.t("Unknown status.", "Неизвестный статус.").to_owned());
        }
    }
    Ok(OrderFilter {
        id: number(
            &f.id,
            ui.t(
                "An order number is a positive whole number.",
                "Номер заказа — целое положительное число.",
            ),
        )?,
        email: some(&f.email).map(|e| e.to_lowercase()),
        link: some(&f.link),
        status,
        provider_id: some(&f.provider),
        from: day(&f.from)?,
        // `to` is inclusive: up to the end of that day.
        to: day(&f.to)?.map(|t| t + souk_store::DAY_MS),
        before_id: number(&f.before, ui.t("Bad page.", "Неверная страница."))?,
    })
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(f): Query<Filters>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let (rows, notice, status) = match filter_of(&f, ui) {
        Ok(filter) => (
            state.store.console_orders(&filter, PAGE + 1).await?,
            Notice::None,
            StatusCode::OK,
        ),
        Err(text) => (
            Vec::new(),
            Notice::Error(text),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let more = rows.len() as i64 > PAGE;
    let rows = &rows[..rows.len().min(PAGE as usize)];
    let next = rows.last().filter(|_| more).map(|o| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("id", &f.id)
            .append_pair("email", &f.email)
            .append_pair("link", &f.link)
            .append_pair("status", &f.status)
            .append_pair("provider", &f.provider)
            .append_pair("from", &f.from)
            .append_pair("to", &f.to)
            .append_pair("before", &o.id.to_string())
            .finish();
        format!("/console/orders?{q}")
    });
    let content = html! {
        form.filters #order-filters method="get" action="/console/orders" {
            input type="search" name="id" placeholder=(ui.t("Order #", "Заказ №")) value=(f.id) inputmode="numeric";
            input type="search" name="email" placeholder=(ui.t("Buyer email", "Почта покупателя")) value=(f.email);
            input type="search" name="link" placeholder=(ui.t("Link contains", "Ссылка содержит")) value=(f.link);
            select name="status" {
                option value="" { (ui.t("Any status", "Любой статус")) }
                @for s in STATUSES { option value=(s) selected[f.status == s] { (s) } }
            }
            input type="search" name="provider" placeholder=(ui.t("Provider id", "Провайдер")) value=(f.provider);
            input type="text" name="from" placeholder="2026-12-01" value=(f.from) title=(ui.t("From (UTC day)", "С (день UTC)"));
            input type="text" name="to" placeholder="2026-12-31" value=(f.to) title=(ui.t("To (UTC day)", "По (день UTC)"));
            button #filter-submit type="submit" { (ui.t("Search", "Найти")) }
        }
        div.scroll {
            table #orders {
                thead { tr {
                    th { "#" } th { (ui.t("Buyer", "Покупатель")) } th { (ui.t("Kind", "Вид")) } th { (ui.t("Service", "Услуга")) }
                    th { (ui.t("Status", "Статус")) } th.num { (ui.t("Qty", "Кол-во")) } th.num { (ui.t("Charge", "Сумма")) } th { (ui.t("Placed", "Создан")) }
                } }
                tbody {
                    @for o in rows {
                        tr {
                            td { a href=(format!("/console/orders/{}", o.id)) { (o.id) } }
                            td { a href=(format!("/console/users/{}", o.user_id)) { (o.email) } }
                            td { (o.kind) }
                            td { @if let Some(n) = o.service_number { (n) } }
                            td.status { (o.status) }
                            td.num { (o.quantity) }
                            td.num { (money(o.charge)) }
                            td { (when(o.created_at)) }
                        }
                    }
                    @if rows.is_empty() { tr { td colspan="8" .muted { (ui.t("No orders.", "Заказов нет.")) } } }
                }
            }
        }
        @if let Some(next) = next { nav.pages { a #next-page href=(next) { (ui.t("Older →", "Старше →")) } } }
    };
    Ok(page(&c, status, ui.t("Orders", "Заказы"), notice, content))
}

pub(super) async fn detail_page(
    state: &AppState,
    c: &Console,
    id: i64,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let o = state
        .store
        .console_order(id)
        .await?
        .ok_or(ConsoleError::NotFound)?;
    let ledger = state.store.console_order_ledger(id).await?;
    let events = state.store.order_events(id).await?;
    let audit = state
        .store
        .audit_log(Some(&format!("order:{id}")), None, 50)
        .await?;
    let forward = state.store.forward_state(id).await?.unwrap_or_default();
    let can_change = op.role.can(Permission::Change);
    let open = matches!(o.status.as_str(), "pending" | "processing" | "error");
    // Only an order no provider holds and nothing of which was delivered can be
    // cancelled outright; the store refuses the rest whatever the page showed.
    let cancellable = o.external_id.is_none() && o.delivered == 0 && o.kind != "sms";
    let stuck = forward == "unknown";
    let content = html! {
        dl.grid #order-facts {
            dt { (ui.t("Buyer", "Покупатель")) } dd { a href=(format!("/console/users/{}", o.user_id)) { (o.email) } }
            dt { (ui.t("Kind", "Вид")) } dd { (o.kind) " · " (o.product_type) }
            dt { (ui.t("Service", "Услуга")) } dd { @if let Some(n) = o.service_number { (n) } }
            dt { (ui.t("Status", "Статус")) } dd #order-status { (o.status) }
            dt { (ui.t("Link", "Ссылка")) } dd { code { (o.link) } }
            dt { (ui.t("Quantity", "Количество")) } dd { (o.quantity) " (" (ui.t("delivered", "выдано")) " " (o.delivered) ")" }
            dt { (ui.t("Charge", "Сумма")) } dd #order-charge { (money(o.charge)) }
            dt { (ui.t("Refunded", "Возвращено")) } dd #order-refunded { (money(o.refunded)) }
            dt { (ui.t("Provider", "Провайдер")) } dd { (o.provider_id.as_deref().unwrap_or("—")) " · " (o.external_id.as_deref().unwrap_or("—")) }
            dt { (ui.t("Send", "Отправка")) } dd #order-forward { (forward) }
            dt { (ui.t("Provider cost", "Стоимость у провайдера")) } dd { (o.provider_cost.map(money).unwrap_or_else(|| "—".into())) }
            dt { (ui.t("Placed", "Создан")) } dd { (when(o.created_at)) }
            dt { (ui.t("Updated", "Изменён")) } dd { (when(o.updated_at)) }
        }
        @if can_change && open {
            section.action #order-actions {
                h2 { (ui.t("Actions", "Действия")) }
                div.row {
                    @if stuck {
                        form.inline #resend-form method="post" action=(format!("/console/orders/{id}/resend")) {
                            input type="hidden" name="csrf" value=(c.csrf());
                            button #resend-submit type="submit" { (ui.t("Send again", "Отправить снова")) }
                        }
                    }
                    @if o.kind != "sms" {
                        form.inline #refund-form method="post" action=(format!("/console/orders/{id}/refund")) {
                            input type="hidden" name="csrf" value=(c.csrf());
                            button #refund-submit type="submit" { (ui.t("Refund what is left", "Вернуть остаток")) }
                        }
                    }
                    @if cancellable {
                        form.inline #cancel-form method="post" action=(format!("/console/orders/{id}/cancel")) {
                            input type="hidden" name="csrf" value=(c.csrf());
                            button.danger #cancel-submit type="submit" { (ui.t("Cancel and refund in full", "Отменить с полным возвратом")) }
                        }
                    }
                }
            }
        }
        @if can_change && open && stuck {
            section.action #resolve {
                h2 { (ui.t("Settle by hand", "Решить вручную")) }
                p.hint { (ui.t("For an order whose send had an unknown outcome: it reached the provider (give its id), send it again, or fail it and refund in full.",
                               "Для заказа с неизвестным исходом отправки: он дошёл до провайдера (укажите его номер), отправить снова или отменить с полным возвратом.")) }
                form.row #resolve-form method="post" action=(format!("/console/orders/{id}/resolve")) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    select #resolve-action name="action" {
                        option value="fail" { (ui.t("Fail and refund", "Отменить с возвратом")) }
                        option value="resend" { (ui.t("Send again", "Отправить снова")) }
                        option value="sent" { (ui.t("It was sent", "Был отправлен")) }
                    }
                    input #resolve-external type="text" name="external_id" placeholder=(ui.t("Provider's order id", "Номер у провайдера")) maxlength="100";
                    button #resolve-submit type="submit" { (ui.t("Settle", "Решить")) }
                }
            }
        }
        h2 { (ui.t("Ledger", "Проводки")) }
        div.scroll { table #order-ledger {
            thead { tr { th { "#" } th { (ui.t("Kind", "Вид")) } th.num { (ui.t("Amount", "Сумма")) } th.num { (ui.t("Balance after", "Баланс после")) } th { (ui.t("Note", "Примечание")) } th { (ui.t("When", "Когда")) } } }
            tbody { @for l in &ledger { tr { td { (l.id) } td { (l.kind) } td.num { (money(l.amount)) } td.num { (money(l.balance_after)) } td { (l.note) } td { (when(l.created_at)) } } } }
        } }
        h2 { (ui.t("History", "История")) }
        div.scroll { table #order-events {
            thead { tr { th { (ui.t("Event", "Событие")) } th { (ui.t("Data", "Данные")) } th { (ui.t("When", "Когда")) } } }
            tbody { @for e in &events { tr { td { (e.kind) } td { code { (e.payload) } } td { (when(e.created_at)) } } } }
        } }
        h2 { (ui.t("Operator actions", "Действия операторов")) }
        (super::audit::table(ui, &audit))
    };
    Ok(page(
        c,
        status,
        &format!("{} {id}", ui.t("Order", "Заказ")),
        notice,
        content,
    ))
}

pub async fn detail(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
) -> Result<Response, ConsoleError> {
    detail_page(&state, &c, id, Notice::None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct ResolveForm {
    csrf: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    external_id: String,
}

pub async fn resolve(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ResolveForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    let resolution = match form.action.as_str() {
        "fail" => Resolution::Fail,
        "resend" => Resolution::Resend,
        "sent" if !form.external_id.trim().is_empty() => {
            Resolution::Sent(form.external_id.trim().to_owned())
        }
        "sent" => {
            let text = ui
                .t(
                    "Give the provider's order id.",
                    "Укажите номер заказа у провайдера.",
                )
                .to_owned();
            return detail_page(
                &state,
                &c,
                id,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
        _ => {
            let text = ui
                .t(
                    "Choose how to settle the order.",
                    "Выберите, как решить заказ.",
                )
                .to_owned();
            return detail_page(
                &state,
                &c,
                id,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    match operators::resolve_order(&state.store, &op, id, resolution, state.now()).await {
        Ok(()) => Ok(see_other(&format!("/console/orders/{id}?settled=1"))),
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            detail_page(
                &state,
                &c,
                id,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
