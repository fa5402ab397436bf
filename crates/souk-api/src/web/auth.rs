//! Sign-up, sign-in and sign-out with an email and a password. Passwords are stored as
//! argon2id hashes, hashed and checked on the bounded password threads (`passwords`);
//! attempts are counted per address and per email across all nodes before they are
//! judged; a new session token is issued at every sign-in.

use super::error::PageForm;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::sessions::{self, SignIn, SignInError};
use souk_app::signup::{self, SignUp, SignUpError};
use souk_core::password::{check_new_password, PasswordProblem};
use souk_store::StoreError;

use super::error::WebError;
use super::i18n::{safe_next, Ui};
use super::layout::{document, respond, see_other, Notice};
use super::session::{Visitor, SESSION_COOKIE, SESSION_MS};
use crate::passwords::PasswordError;
use crate::ratelimit::ClientAddress;
use crate::state::AppState;

pub use souk_core::password::{MAX_PASSWORD, MIN_PASSWORD};

#[derive(Deserialize, Default)]
pub struct AuthForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn minutes(wait: std::time::Duration) -> u64 {
    wait.as_secs().div_ceil(60).max(1)
}

fn auth_page(
    v: &Visitor,
    signup: bool,
    form: &AuthForm,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let ui = v.ui;
    let (title, action) = if signup {
        (ui.t("Sign up", "Регистрация"), "/signup")
    } else {
        (ui.t("Sign in", "Вход"), "/signin")
    };
    let content = html! {
        div.narrow {
            h1 { (title) }
            (notice.render())
            form.stack #auth-form method="post" action=(action) {
                input type="hidden" name="csrf" value=(v.csrf());
                @if let Some(next) = &form.next { input type="hidden" name="next" value=(next); }
                label for="email" { "Email" }
                input #email type="email" name="email" value=(form.email) required autocomplete="email" maxlength="254";
                label for="password" { (ui.t("Password", "Пароль")) }
                input #password type="password" name="password" required minlength=(if signup { MIN_PASSWORD } else { 1 }) maxlength=(MAX_PASSWORD)
                    autocomplete=(if signup { "new-password" } else { "current-password" });
                @if signup {
                    label for="password2" { (ui.t("Repeat the password", "Повторите пароль")) }
                    input #password2 type="password" name="password2" required autocomplete="new-password" maxlength=(MAX_PASSWORD);
                    p.hint { (ui.t("At least 10 characters.", "Не короче 10 символов.")) }
                }
                button #auth-submit type="submit" { (title) }
            }
            @if signup {
                p { (ui.t("Have an account? ", "Уже есть аккаунт? ")) a href="/signin" { (ui.t("Sign in", "Войти")) } }
            } @else {
                p { a #forgot-link href="/password/forgot" { (ui.t("Forgot password?", "Забыли пароль?")) } }
                p { (ui.t("New here? ", "Впервые здесь? ")) a href="/signup" { (ui.t("Sign up", "Зарегистрироваться")) } }
            }
        }
    };
    respond(v, status, document(v, title, content))
}

pub async fn signup_page(visitor: Visitor) -> Response {
    if visitor.session.is_some() {
        return see_other("/account");
    }
    auth_page(
        &visitor,
        true,
        &AuthForm::default(),
        Notice::None,
        StatusCode::OK,
    )
}

pub async fn signin_page(visitor: Visitor, Query(q): Query<NextQuery>) -> Response {
    if visitor.session.is_some() {
        return see_other(&safe_next(q.next.as_deref()));
    }
    let form = AuthForm {
        next: q.next.map(|n| safe_next(Some(&n))),
        ..AuthForm::default()
    };
    auth_page(&visitor, false, &form, Notice::None, StatusCode::OK)
}

/// Sends the browser to `next` with the session `token`'s cookie.
pub(super) fn session_cookie(visitor: &Visitor, token: &str, next: &str) -> Response {
    let mut response = see_other(next);
    if let Some(c) = visitor.cookie(SESSION_COOKIE, token, SESSION_MS / 1000) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    response
}

fn signup_problem(ui: Ui, form: &AuthForm) -> Option<String> {
    let problem = check_new_password(&form.password, &form.password2).err()?;
    let text = match problem {
        PasswordProblem::TooShort => ui.t(
            "The password must be at least 10 characters long.",
            "Пароль должен быть не короче 10 символов.",
        ),
        PasswordProblem::TooLong => ui.t("The password is too long.", "Пароль слишком длинный."),
        PasswordProblem::Mismatch => ui.t("The two passwords differ.", "Пароли не совпадают."),
    };
    Some(text.to_owned())
}

/// A refusal of the throttle or the password threads: 429, the form shown again.
fn too_many(
    v: &Visitor,
    signup: bool,
    form: &AuthForm,
    wait: Option<std::time::Duration>,
) -> Response {
    let ui = v.ui;
    let text = match wait {
        Some(wait) => format!(
            "{} {}",
            ui.t(
                "Too many attempts; try again in minutes:",
                "Слишком много попыток; повторите через минут:"
            ),
            minutes(wait)
        ),
        None => ui
            .t(
                "Too many sign-ins right now; try again in a moment.",
                "Сейчас слишком много входов; повторите через минуту.",
            )
            .to_owned(),
    };
    auth_page(
        v,
        signup,
        form,
        Notice::Error(text),
        StatusCode::TOO_MANY_REQUESTS,
    )
}

pub async fn signup(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    visitor: Visitor,
    PageForm(mut form): PageForm<AuthForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let throttle = state.config.throttle;
    let address = sessions::address_key(&address.to_string());
    let counted = [(address.as_str(), throttle.per_address)];
    if let Some(wait) =
        sessions::count_attempt(&state.store, &throttle, &counted, state.now()).await?
    {
        form.password.clear();
        return Ok(too_many(&visitor, true, &form, Some(wait)));
    }
    if let Some(problem) = signup_problem(ui, &form) {
        form.password.clear();
        return Ok(auth_page(
            &visitor,
            true,
            &form,
            Notice::Error(problem),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    if let Err(StoreError::Invalid(_)) = souk_store::normalize_email(&form.email) {
        form.password.clear();
        let text = ui
            .t(
                "Enter a valid email address.",
                "Введите правильный адрес почты.",
            )
            .to_owned();
        return Ok(auth_page(
            &visitor,
            true,
            &form,
            Notice::Error(text),
            StatusCode::UNPROCESSABLE_ENTITY,
        ));
    }
    let password = std::mem::take(&mut form.password);
    let hash = match state.passwords.hash(password).await {
        Ok(hash) => hash,
        Err(PasswordError::Busy) => return Ok(too_many(&visitor, true, &form, None)),
        Err(e) => return Err(StoreError::Config(e.to_string()).into()),
    };
    let command = SignUp {
        email: form.email.clone(),
        password_hash: hash,
    };
    let user_id = match signup::sign_up(&state.store, command, state.now()).await {
        Ok(user_id) => user_id,
        Err(SignUpError::EmailTaken) => {
            let text = ui
                .t(
                    "An account with this email already exists: sign in instead.",
                    "Аккаунт с этой почтой уже есть: войдите.",
                )
                .to_owned();
            return Ok(auth_page(
                &visitor,
                true,
                &form,
                Notice::Error(text),
                StatusCode::CONFLICT,
            ));
        }
        Err(SignUpError::Store(e)) => return Err(e.into()),
    };
    super::password::after_sign_up(&state, &user_id, ui).await;
    let token = sessions::start(&state.store, &user_id, state.now()).await?;
    Ok(session_cookie(&visitor, &token, "/account"))
}

pub async fn signin(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    visitor: Visitor,
    PageForm(mut form): PageForm<AuthForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let attempt = SignIn {
        email: &form.email,
        password: std::mem::take(&mut form.password),
        address: &address.to_string(),
    };
    let refusal = match sessions::sign_in(
        &state.store,
        &state.passwords,
        &state.config.throttle,
        attempt,
        state.now(),
    )
    .await
    {
        Ok(signed_in) => {
            let next = safe_next(form.next.as_deref());
            let next = if next == "/" {
                "/account".to_owned()
            } else {
                next
            };
            return Ok(session_cookie(&visitor, &signed_in.token, &next));
        }
        Err(SignInError::Throttled(wait)) => {
            return Ok(too_many(&visitor, false, &form, Some(wait)))
        }
        Err(SignInError::Busy) => return Ok(too_many(&visitor, false, &form, None)),
        Err(SignInError::Store(e)) => return Err(e.into()),
        Err(SignInError::Wrong) => (
            ui.t("Wrong email or password.", "Неверная почта или пароль."),
            StatusCode::UNAUTHORIZED,
        ),
        Err(SignInError::Suspended) => (
            ui.t("This account is suspended.", "Этот аккаунт заблокирован."),
            StatusCode::FORBIDDEN,
        ),
    };
    Ok(auth_page(
        &visitor,
        false,
        &form,
        Notice::Error(refusal.0.to_owned()),
        refusal.1,
    ))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    if let Some(token) = visitor.token() {
        state.store.end_session(token).await?;
    }
    let mut response = see_other("/");
    if let Some(c) = visitor.cookie(SESSION_COOKIE, "", 0) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}
