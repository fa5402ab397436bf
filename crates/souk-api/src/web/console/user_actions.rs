//! A user's page actions (admins and owners): block and unblock, issue an API key
//! (shown once, on the page this answers; never again) and revoke one. Each calls the
//! use case in `souk_app::operator_users`, which audits it; the cache changes it
//! answers are applied here so a blocked user or a revoked key stops working at once.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use souk_app::operator_users;
use souk_app::operators::{OperatorError, Permission};
use souk_store::Change;

use super::users::{user_page, BalanceForm, NewKey};
use super::{refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, Notice};

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
}

#[derive(Deserialize)]
pub struct KeyForm {
    csrf: Option<String>,
    #[serde(default)]
    label: String,
}

/// The refusal on the user's page, or the fault.
async fn refused(
    state: &AppState,
    c: &Console,
    id: &str,
    e: OperatorError,
) -> Result<Response, ConsoleError> {
    let text = refused_or_fault(c.ui(), e)?;
    user_page(
        state,
        c,
        id,
        &BalanceForm::default(),
        Notice::Error(text),
        StatusCode::UNPROCESSABLE_ENTITY,
        None,
    )
    .await
}

async fn applied(
    state: &AppState,
    c: &Console,
    id: &str,
    done: Result<Vec<Change>, OperatorError>,
) -> Result<Response, ConsoleError> {
    match done {
        Ok(changes) => {
            state.apply_changes(&changes).await?;
            Ok(see_other(&format!("/console/users/{id}")))
        }
        Err(e) => refused(state, c, id, e).await,
    }
}

async fn set_blocked(
    state: AppState,
    c: Console,
    id: String,
    form: ActionForm,
    blocked: bool,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done = operator_users::set_blocked(&state.store, &op, &id, blocked, state.now()).await;
    applied(&state, &c, &id, done).await
}

pub async fn block(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    set_blocked(state, c, id, form, true).await
}

pub async fn unblock(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    set_blocked(state, c, id, form, false).await
}

pub async fn create_key(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<KeyForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    match operator_users::create_key(&state.store, &op, &id, &form.label, state.now()).await {
        Ok((key_id, key)) => {
            let text = c
                .ui()
                .t("A new API key was issued.", "Выдан новый API-ключ.")
                .to_owned();
            // Answered here, not after a redirect: the key is never stored to show again.
            let mut response = user_page(
                &state,
                &c,
                &id,
                &BalanceForm::default(),
                Notice::Ok(text),
                StatusCode::OK,
                Some(NewKey { id: key_id, key }),
            )
            .await?;
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            Ok(response)
        }
        Err(e) => refused(&state, &c, &id, e).await,
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    c: Console,
    PagePath((id, key)): PagePath<(String, String)>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done = operator_users::revoke_key(&state.store, &op, Some(&id), &key, state.now()).await;
    applied(&state, &c, &id, done).await
}
