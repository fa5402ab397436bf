//! Users: a search by email a page at a time, and a user's page with their balance,
//! keys (prefixes only, never a key), ledger and the form to change the balance through
//! the ledger with a reason (admins and owners; the use case refuses anyone else).
//! Blocking and keys post to `user_actions`, which draws this page again.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::{self, Permission};

use super::pager::{Pager, PAGE};
use super::{money, page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct Search {
    #[serde(default)]
    email: String,
    page: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<Search>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let pager = Pager::of(q.page.as_deref());
    let email = Some(q.email.trim()).filter(|e| !e.is_empty());
    let (users, total) = state.store.users(email, PAGE, pager.offset()).await?;
    let link = |p: i64| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("email", &q.email)
            .append_pair("page", &p.to_string())
            .finish();
        format!("/console/users?{q}")
    };
    let content = html! {
        form.row #user-search method="get" action="/console/users" {
            input #user-email type="search" name="email" placeholder=(ui.t("Email contains", "Почта содержит")) value=(q.email);
            button type="submit" { (ui.t("Search", "Найти")) }
        }
        p.muted { (ui.t("Users found: ", "Найдено: ")) span #user-total { (total) } }
        div.scroll { table #users {
            thead { tr { th { "Email" } th { (ui.t("Status", "Статус")) } th { (ui.t("Supplier", "Поставщик")) } th.num { (ui.t("Balance", "Баланс")) } th { (ui.t("Since", "С")) } } }
            tbody { @for u in &users { tr {
                td { a href=(format!("/console/users/{}", u.id)) { (u.email) } }
                td { (u.status) } td { @if u.is_supplier { "✓" } } td.num { (money(u.balance)) } td { (when(u.created_at)) }
            } } }
        } }
        (pager.nav(ui, total, link))
    };
    Ok(page(
        &c,
        StatusCode::OK,
        ui.t("Users", "Пользователи"),
        Notice::None,
        content,
    ))
}

#[derive(Deserialize, Default)]
pub struct BalanceForm {
    pub(super) csrf: Option<String>,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
}

/// A key just created, shown this once.
pub(super) struct NewKey {
    pub id: String,
    pub key: String,
}

pub(super) async fn user_page(
    state: &AppState,
    c: &Console,
    id: &str,
    form: &BalanceForm,
    notice: Notice,
    status: StatusCode,
    new_key: Option<NewKey>,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let u = state.store.user(id).await?;
    let keys = state.store.api_keys(id).await?;
    let ledger = state.store.ledger(id, 50).await?;
    let audit = state
        .store
        .audit_log(Some(&format!("user:{id}")), None, 50)
        .await?;
    let can_change = op.role.can(Permission::Change);
    let content = html! {
        dl.grid #user-facts {
            dt { (ui.t("Status", "Статус")) } dd #user-status-value { (u.status) }
            dt { (ui.t("Balance", "Баланс")) } dd #user-balance { (money(u.balance)) }
            dt { (ui.t("Supplier", "Поставщик")) } dd { @if u.is_supplier { (ui.t("yes", "да")) } @else { (ui.t("no", "нет")) } }
            dt { (ui.t("Since", "С")) } dd { (when(u.created_at)) }
        }
        @if let Some(k) = &new_key {
            section.action #new-key {
                p { (ui.t("The new API key, shown only now: give it to the user.", "Новый API-ключ, показывается только сейчас: передайте его пользователю.")) }
                p { code #new-key-value data-key=(k.id) { (k.key) } }
            }
        }
        @if op.role.can(Permission::Change) {
            section.action #user-status {
                h2 { (ui.t("Access", "Доступ")) }
                @if u.status == "suspended" {
                    form.inline #unblock-form method="post" action=(format!("/console/users/{id}/unblock")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        button #unblock-submit type="submit" { (ui.t("Unblock", "Разблокировать")) }
                    }
                } @else {
                    form.inline #block-form method="post" action=(format!("/console/users/{id}/block")) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        button.danger #block-submit type="submit" { (ui.t("Block", "Заблокировать")) }
                    }
                }
            }
            section.action #balance-change {
                h2 { (ui.t("Change the balance", "Изменить баланс")) }
                form.stack #balance-form method="post" action=(format!("/console/users/{id}/balance")) {
                    input type="hidden" name="csrf" value=(c.csrf());
                    label for="amount" { (ui.t("Amount (negative to debit)", "Сумма (отрицательная — списание)")) }
                    input #amount type="text" name="amount" value=(form.amount) required inputmode="decimal" maxlength="24" placeholder="10.00";
                    label for="reason" { (ui.t("Reason", "Причина")) }
                    input #reason type="text" name="reason" value=(form.reason) required maxlength="500";
                    button #balance-submit type="submit" { (ui.t("Book to the ledger", "Провести")) }
                }
            }
        }
        h2 { (ui.t("API keys", "API-ключи")) }
        div.scroll { table #user-keys {
            thead { tr { th { (ui.t("Key starts", "Начало ключа")) } th { (ui.t("Label", "Метка")) } th { (ui.t("Created", "Создан")) } th { (ui.t("Revoked", "Отозван")) } @if can_change { th {} } } }
            tbody { @for k in &keys { tr {
                td { code { (k.key_prefix) "…" } } td { (k.label) } td { (when(k.created_at)) } td.revoked { @if let Some(r) = k.revoked_at { (when(r)) } }
                @if can_change { td { @if k.revoked_at.is_none() {
                    form.inline method="post" action=(format!("/console/users/{id}/keys/{}/revoke", k.id)) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        button.small.danger.revoke type="submit" { (ui.t("Revoke", "Отозвать")) }
                    }
                } } }
            } } }
        } }
        @if can_change {
            form.row #key-form method="post" action=(format!("/console/users/{id}/keys")) {
                input type="hidden" name="csrf" value=(c.csrf());
                input #key-label type="text" name="label" placeholder=(ui.t("Label (optional)", "Метка (необязательно)")) maxlength="100";
                button #key-submit type="submit" { (ui.t("New API key", "Новый API-ключ")) }
            }
        }
        h2 { (ui.t("Ledger", "Проводки")) }
        div.scroll { table #user-ledger {
            thead { tr { th { "#" } th { (ui.t("Kind", "Вид")) } th.num { (ui.t("Amount", "Сумма")) } th.num { (ui.t("Balance after", "Баланс после")) } th { (ui.t("Order", "Заказ")) } th { (ui.t("Note", "Примечание")) } th { (ui.t("When", "Когда")) } } }
            tbody { @for l in &ledger { tr {
                td { (l.id) } td { (l.kind) } td.num { (money(l.amount)) } td.num { (money(l.balance_after)) }
                td { @if let Some(o) = l.order_id { a href=(format!("/console/orders/{o}")) { (o) } } }
                td.note { (l.note) } td { (when(l.created_at)) }
            } } }
        } }
        h2 { (ui.t("Operator actions", "Действия операторов")) }
        (super::audit::table(ui, &audit))
    };
    Ok(page(c, status, &u.email, notice, content))
}

pub async fn detail(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
) -> Result<Response, ConsoleError> {
    let notice = Notice::None;
    user_page(
        &state,
        &c,
        &id,
        &BalanceForm::default(),
        notice,
        StatusCode::OK,
        None,
    )
    .await
}

pub async fn balance(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<BalanceForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    match operators::adjust_balance(
        &state.store,
        &op,
        &id,
        &form.amount,
        &form.reason,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(see_other(&format!("/console/users/{id}"))),
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            user_page(
                &state,
                &c,
                &id,
                &form,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
            )
            .await
        }
    }
}
