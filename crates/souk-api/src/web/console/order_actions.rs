//! The order page's actions (admins and owners): send an order whose send had an
//! unknown outcome again, cancel an order with a full refund, or refund what is left
//! undelivered. Each calls the use case the rules live in, which audits it; a refusal is
//! shown on the order's page and changes nothing.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use souk_app::operators::{self, OperatorError, Permission};
use souk_store::{Closing, Resolution};

use super::orders::detail_page;
use super::{refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, Notice};

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
}

/// The order's page again: after a change, or with the refusal.
async fn answer(
    state: &AppState,
    c: &Console,
    id: i64,
    done: Result<(), OperatorError>,
) -> Result<Response, ConsoleError> {
    match done {
        Ok(()) => Ok(see_other(&format!("/console/orders/{id}"))),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            detail_page(
                state,
                c,
                id,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn resend(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done =
        operators::resolve_order(&state.store, &op, id, Resolution::Resend, state.now()).await;
    answer(&state, &c, id, done).await
}

async fn close(
    state: AppState,
    c: Console,
    id: i64,
    form: ActionForm,
    closing: Closing,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done = souk_app::operator_orders::close_order(&state.store, &op, id, closing, state.now())
        .await
        .map(|_| ());
    answer(&state, &c, id, done).await
}

pub async fn cancel(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    close(state, c, id, form, Closing::Cancel).await
}

pub async fn refund(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    close(state, c, id, form, Closing::RefundRest).await
}
