//! The operator's settings: every operator reads them, owners change them. One form for
//! all; only the values that changed are stored, each checked before any is.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use souk_app::operator_settings;
use souk_app::operators::Permission;

use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::PageForm;
use crate::web::layout::{see_other, Notice};

async fn settings_page(
    state: &AppState,
    c: &Console,
    typed: &[(String, String)],
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let settings = state.store.settings().await?;
    // What the owner typed stays in the form after a refusal.
    let value_of = |key: &str, stored: &str| -> String {
        typed
            .iter()
            .find(|(k, _)| k == key)
            .map_or_else(|| stored.to_owned(), |(_, v)| v.clone())
    };
    let audit = state.store.audit_log(Some("settings"), None, 20).await?;
    let content = html! {
        @if op.role.can(Permission::Manage) {
            form.stack #settings-form method="post" action="/console/settings" {
                input type="hidden" name="csrf" value=(c.csrf());
                @for (key, value) in &settings {
                    label for=(key) { code { (key) } }
                    input id=(key) type="text" name=(key) value=(value_of(key, value)) maxlength="2000";
                }
                button #settings-submit type="submit" { (ui.t("Save", "Сохранить")) }
            }
        } @else {
            p.hint { (ui.t("Only an owner changes the settings.", "Настройки меняет только владелец.")) }
            div.scroll { table #settings {
                thead { tr { th { (ui.t("Setting", "Настройка")) } th { (ui.t("Value", "Значение")) } } }
                tbody { @for (key, value) in &settings { tr { td { code { (key) } } td { (value) } } } }
            } }
        }
        h2 { (ui.t("Operator actions", "Действия операторов")) }
        (super::audit::table(ui, &audit))
    };
    Ok(page(
        c,
        status,
        ui.t("Settings", "Настройки"),
        notice,
        content,
    ))
}

pub async fn show(State(state): State<AppState>, c: Console) -> Result<Response, ConsoleError> {
    settings_page(&state, &c, &[], Notice::None, StatusCode::OK).await
}

pub async fn update(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<Vec<(String, String)>>,
) -> Result<Response, ConsoleError> {
    let csrf = form
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    c.check_csrf(csrf)?;
    let op = c.allowed(Permission::Manage)?;
    let given: Vec<(String, String)> = form.into_iter().filter(|(k, _)| k != "csrf").collect();
    match operator_settings::update(&state.store, &op, &given, state.now()).await {
        Ok(_) => Ok(see_other("/console/settings")),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            settings_page(
                &state,
                &c,
                &given,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
