//! Jobs: the parked ones with their error, to send round again or drop for good
//! (admins and owners; an order's job is settled from the order's page instead).
//! Payloads are not shown (a job's payload is the worker's business).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::{self, Permission};

use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

async fn jobs_page(
    state: &AppState,
    c: &Console,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let parked = state.store.jobs("parked", 200).await?;
    let can = op.role.can(Permission::Change);
    let content = html! {
        div.scroll { table #parked-jobs {
            thead { tr { th { "#" } th { (ui.t("Kind", "Вид")) } th { (ui.t("About", "Объект")) } th.num { (ui.t("Tries", "Попытки")) } th { (ui.t("Error", "Ошибка")) } th { (ui.t("Since", "С")) } th {} } }
            tbody {
                @for j in &parked { tr {
                    td { (j.id) } td { (j.kind) }
                    td { @if let Some(k) = &j.dedupe_key { @if j.kind.starts_with("order.") { a href=(format!("/console/orders/{k}")) { (k) } } @else { (k) } } }
                    td.num { (j.attempts) } td { (j.last_error.as_deref().unwrap_or("")) } td { (when(j.updated_at)) }
                    td { @if can {
                        form.inline method="post" action=(format!("/console/jobs/{}/retry", j.id)) {
                            input type="hidden" name="csrf" value=(c.csrf());
                            button.small.retry type="submit" { (ui.t("Retry", "Повторить")) }
                        }
                        @if !j.kind.starts_with("order.") {
                            form.inline method="post" action=(format!("/console/jobs/{}/drop", j.id)) {
                                input type="hidden" name="csrf" value=(c.csrf());
                                button.small.danger.drop type="submit" { (ui.t("Drop", "Удалить")) }
                            }
                        }
                    } }
                } }
                @if parked.is_empty() { tr { td colspan="7" .muted { (ui.t("No parked jobs.", "Отложенных задач нет.")) } } }
            }
        } }
    };
    Ok(page(
        c,
        status,
        ui.t("Parked jobs", "Отложенные задачи"),
        notice,
        content,
    ))
}

pub async fn list(State(state): State<AppState>, c: Console) -> Result<Response, ConsoleError> {
    jobs_page(&state, &c, Notice::None, StatusCode::OK).await
}

#[derive(Deserialize)]
pub struct RetryForm {
    csrf: Option<String>,
}

pub async fn retry(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<RetryForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    match operators::retry_job(&state.store, &op, id, state.now()).await {
        Ok(true) => Ok(see_other("/console/jobs")),
        Ok(false) => {
            let text = ui
                .t("That job is not parked.", "Эта задача не отложена.")
                .to_owned();
            jobs_page(
                &state,
                &c,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            jobs_page(
                &state,
                &c,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn drop_job(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<RetryForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let ui = c.ui();
    let text = match operators::drop_job(&state.store, &op, id, state.now()).await {
        Ok(true) => return Ok(see_other("/console/jobs")),
        Ok(false) => ui
            .t("That job is not parked.", "Эта задача не отложена.")
            .to_owned(),
        Err(e) => refused_or_fault(ui, e)?,
    };
    jobs_page(
        &state,
        &c,
        Notice::Error(text),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}
