//! Operator accounts, for owners only (others get no link, and their POSTs are refused
//! in `souk_app::operators`): every operator with their role, second factor, last
//! sign-in and status; a new operator (the one-time password shown once, on the page
//! the form answers, as `souk admin operator create` prints it); a role changed; an
//! account disabled or enabled again; the second factor reset (enrolled again at the
//! next sign-in); an operator signed out everywhere. An owner cannot demote or disable
//! themselves, nor the last active owner.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::operators::{self, Acting, Change, Permission, Role};

use super::{page, refused_or_fault, role_name, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct CreateForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

#[derive(Deserialize, Default)]
pub struct ChangeForm {
    csrf: Option<String>,
    #[serde(default, rename = "do")]
    what: String,
    #[serde(default)]
    role: String,
}

/// A new operator's email and one-time password, shown once.
struct Made {
    email: String,
    password: String,
}

const ROLES: [Role; 3] = [Role::Support, Role::Admin, Role::Owner];

async fn operators_page(
    state: &AppState,
    c: &Console,
    op: &Acting,
    form: &CreateForm,
    made: Option<Made>,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let ui = c.ui();
    let list = match operators::list(&state.store, op).await {
        Ok(list) => list,
        Err(e) => {
            return Err(refused_or_fault(ui, e).map_or_else(|e| e, |_| ConsoleError::Forbidden(ui)))
        }
    };
    let content = html! {
        @if let Some(m) = &made {
            section.action #operator-made {
                p { (ui.t("Give this password to ", "Передайте этот пароль ")) strong { (m.email) } (ui.t(". It is shown only now; they change nothing with it until they sign in (owners and admins enrol a second factor first).",
                                                                                                         ". Он показан только сейчас; владельцы и администраторы при первом входе подключают второй фактор.")) }
                p { code #operator-password { (m.password) } }
            }
        }
        div.scroll { table #operators {
            thead { tr {
                th { "Email" } th { (ui.t("Role", "Роль")) } th { (ui.t("Two-factor", "Второй фактор")) }
                th { (ui.t("Last sign-in", "Последний вход")) } th { (ui.t("Status", "Статус")) } th { (ui.t("Actions", "Действия")) }
            } }
            tbody {
                @for o in &list {
                    @let me = o.id == op.id;
                    @let action = format!("/console/operators/{}", o.id);
                    tr id=(format!("operator-{}", o.id)) {
                        td.email { (o.email) @if me { " " span.muted { (ui.t("(you)", "(вы)")) } } }
                        td.role { (Role::parse(&o.role).map_or(o.role.as_str(), |r| role_name(ui, r))) }
                        td.totp { @if o.totp_enabled { (ui.t("on", "вкл.")) } @else { (ui.t("off", "выкл.")) } }
                        td.last { @if let Some(t) = o.last_sign_in { (when(t)) } @else { "—" } }
                        td.status { @if o.status == "active" { (ui.t("active", "активен")) } @else { (ui.t("disabled", "отключён")) } }
                        td.actions {
                            @if !me {
                                form.inline method="post" action=(action) {
                                    input type="hidden" name="csrf" value=(c.csrf());
                                    input type="hidden" name="do" value="role";
                                    select name="role" aria-label=(ui.t("Role", "Роль")) {
                                        @for r in ROLES { option value=(r.as_str()) selected[r.as_str() == o.role] { (role_name(ui, r)) } }
                                    }
                                    " "
                                    button.role type="submit" { (ui.t("Change role", "Сменить роль")) }
                                }
                                form.inline method="post" action=(action) {
                                    input type="hidden" name="csrf" value=(c.csrf());
                                    @if o.status == "active" {
                                        button.disable type="submit" name="do" value="disable" { (ui.t("Disable", "Отключить")) }
                                    } @else {
                                        button.enable type="submit" name="do" value="enable" { (ui.t("Enable", "Включить")) }
                                    }
                                }
                            }
                            form.inline method="post" action=(action) {
                                input type="hidden" name="csrf" value=(c.csrf());
                                @if o.totp_enabled {
                                    button.reset-totp type="submit" name="do" value="reset_totp" { (ui.t("Reset two-factor", "Сбросить второй фактор")) }
                                }
                                " "
                                button.end-sessions type="submit" name="do" value="end_sessions" { (ui.t("End sessions", "Завершить сеансы")) }
                            }
                        }
                    }
                }
            }
        } }
        h2 { (ui.t("New operator", "Новый оператор")) }
        form.stack #operator-create method="post" action="/console/operators" {
            input type="hidden" name="csrf" value=(c.csrf());
            label for="new-email" { "Email" }
            input #new-email type="email" name="email" value=(form.email) required maxlength="254" autocomplete="off";
            label for="new-role" { (ui.t("Role", "Роль")) }
            select #new-role name="role" {
                @for r in ROLES { option value=(r.as_str()) selected[r.as_str() == form.role] { (role_name(ui, r)) } }
            }
            button #operator-create-submit type="submit" { (ui.t("Create", "Создать")) }
        }
    };
    Ok(page(
        c,
        status,
        ui.t("Operators", "Операторы"),
        notice,
        content,
    ))
}

pub async fn list(State(state): State<AppState>, c: Console) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Manage)?;
    operators_page(
        &state,
        &c,
        &op,
        &CreateForm::default(),
        None,
        Notice::None,
        StatusCode::OK,
    )
    .await
}

pub async fn create(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<CreateForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Manage)?;
    let ui = c.ui();
    match operators::create_by(
        &state.store,
        &state.passwords,
        Some(&op),
        &form.email,
        &form.role,
        state.now(),
    )
    .await
    {
        // Answered on this page, not through a redirect: the password is shown once.
        Ok(made) => {
            operators_page(
                &state,
                &c,
                &op,
                &CreateForm::default(),
                Some(Made {
                    email: made.email,
                    password: made.password,
                }),
                Notice::Ok(
                    ui.t("The operator was created.", "Оператор создан.")
                        .to_owned(),
                ),
                StatusCode::OK,
            )
            .await
        }
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            operators_page(
                &state,
                &c,
                &op,
                &form,
                None,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn change(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<ChangeForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Manage)?;
    let ui = c.ui();
    let done = match Change::parse(&form.what, &form.role) {
        Ok(change) => operators::change(&state.store, &op, &id, change, state.now()).await,
        Err(e) => Err(e),
    };
    match done {
        Ok(_) => Ok(see_other("/console/operators")),
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            operators_page(
                &state,
                &c,
                &op,
                &CreateForm::default(),
                None,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}
