//! The audit log: every operator action, newest first, a page at a time. Read-only: the
//! console has no way to change it, and the database refuses updates and deletes.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::operators::Permission;
use souk_store::AuditEntry;

use super::{page, Console, ConsoleError};
use crate::state::AppState;
use crate::web::i18n::Ui;
use crate::web::layout::{when, Notice};

const PAGE: i64 = 100;

/// Audit rows as a table.
pub fn table(ui: Ui, rows: &[AuditEntry]) -> Markup {
    html! {
        div.scroll { table.audit {
            thead { tr { th { "#" } th { (ui.t("When", "Когда")) } th { (ui.t("Who", "Кто")) } th { (ui.t("What", "Что")) } th { (ui.t("Subject", "Объект")) } th { (ui.t("Before", "До")) } th { (ui.t("After", "После")) } } }
            tbody {
                @for a in rows { tr {
                    td { (a.id) } td { (when(a.created_at)) } td.who { (a.operator_email) } td.what { (a.action) } td { (a.subject) }
                    td { code { (a.before_value.as_deref().unwrap_or("")) } } td { code.after { (a.after_value.as_deref().unwrap_or("")) } }
                } }
                @if rows.is_empty() { tr { td colspan="7" .muted { (ui.t("Nothing yet.", "Пока пусто.")) } } }
            }
        } }
    }
}

#[derive(Deserialize, Default)]
pub struct Paging {
    before: Option<String>,
    #[serde(default)]
    subject: String,
}

pub async fn list(
    State(state): State<AppState>,
    c: Console,
    Query(p): Query<Paging>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let before = p
        .before
        .as_deref()
        .and_then(|b| b.trim().parse::<i64>().ok());
    let subject = Some(p.subject.trim()).filter(|s| !s.is_empty());
    let rows = state.store.audit_log(subject, before, PAGE).await?;
    let next = rows.last().filter(|_| rows.len() as i64 == PAGE).map(|a| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("subject", &p.subject)
            .append_pair("before", &a.id.to_string())
            .finish();
        format!("/console/audit?{q}")
    });
    let content = html! {
        form.row method="get" action="/console/audit" {
            input type="search" name="subject" placeholder=(ui.t("Subject, e.g. order:12", "Объект, например order:12")) value=(p.subject);
            button type="submit" { (ui.t("Filter", "Отобрать")) }
        }
        div #audit-log { (table(ui, &rows)) }
        @if let Some(next) = next { nav.pages { a #next-page href=(next) { (ui.t("Older →", "Старше →")) } } }
    };
    Ok(page(
        &c,
        StatusCode::OK,
        ui.t("Audit log", "Журнал действий"),
        Notice::None,
        content,
    ))
}
