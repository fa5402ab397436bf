//! Sign-up, sign-in and sign-out with an email and a password. Passwords are stored as
//! argon2id hashes (hashed off the async threads); attempts are throttled per address and
//! per email, across all nodes; a new session token is issued at every sign-in.

use std::net::SocketAddr;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use maud::html;
use serde::Deserialize;
use souk_core::Money;
use souk_store::{NewUser, StoreError};

use super::error::WebError;
use super::i18n::{safe_next, Ui};
use super::layout::{document, respond, see_other, Notice};
use super::session::{random_token, Visitor, SESSION_COOKIE, SESSION_MS};
use super::throttle::{self, PER_ADDRESS, PER_EMAIL};
use crate::state::AppState;

pub const MIN_PASSWORD: usize = 10;
pub const MAX_PASSWORD: usize = 1024;

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

fn client_address(state: &AppState, headers: &HeaderMap, peer: SocketAddr) -> String {
    crate::v2::client_address(state, headers, peer)
}

/// An argon2id hash of `password` (slow on purpose: call it off the async threads).
pub fn hash_password(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Config(format!("password hashing failed: {e}")))
}

fn password_matches(password: &str, hash: Option<&str>) -> bool {
    // Without a hash, still spend the time of a check, so timing does not tell which
    // emails have accounts.
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_password("not a password").unwrap_or_default());
    let real = hash.is_some();
    let hash = hash.unwrap_or(dummy);
    let matched = PasswordHash::new(hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false);
    matched && real
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

/// Starts a session for `user_id` and sends the browser to `next`.
async fn start_session(
    state: &AppState,
    visitor: &Visitor,
    user_id: &str,
    next: &str,
) -> Result<Response, WebError> {
    let token = random_token();
    let now = state.now();
    state
        .store
        .create_session(user_id, &token, &random_token(), now, now + SESSION_MS)
        .await?;
    let mut response = see_other(next);
    if let Some(c) = visitor.cookie(SESSION_COOKIE, &token, SESSION_MS / 1000) {
        response.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(response)
}

fn signup_problem(ui: Ui, form: &AuthForm) -> Option<String> {
    let chars = form.password.chars().count();
    if chars < MIN_PASSWORD {
        return Some(
            ui.t(
                "The password must be at least 10 characters long.",
                "Пароль должен быть не короче 10 символов.",
            )
            .to_owned(),
        );
    }
    if chars > MAX_PASSWORD {
        return Some(
            ui.t("The password is too long.", "Пароль слишком длинный.")
                .to_owned(),
        );
    }
    if form.password != form.password2 {
        return Some(
            ui.t("The two passwords differ.", "Пароли не совпадают.")
                .to_owned(),
        );
    }
    None
}

pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    visitor: Visitor,
    Form(mut form): Form<AuthForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let address = format!("addr:{}", client_address(&state, &headers, peer));
    if let Some(wait) = throttle::wait(&state, &address, PER_ADDRESS).await? {
        let text = format!(
            "{} {}",
            ui.t(
                "Too many attempts; try again in minutes:",
                "Слишком много попыток; повторите через минут:"
            ),
            minutes(wait)
        );
        return Ok(auth_page(
            &visitor,
            true,
            &form,
            Notice::Error(text),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    throttle::record(&state, &[&address]).await?;
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
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Config(format!("hashing task failed: {e}")))??;
    let new_user = NewUser {
        email: form.email.clone(),
        name: String::new(),
        password_hash: Some(hash),
        is_supplier: false,
        initial_balance: Money::ZERO,
    };
    let (user_id, key) = match state.store.create_user(&new_user, state.now()).await {
        Ok(created) => created,
        Err(StoreError::Conflict(_)) => {
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
        Err(e) => return Err(e.into()),
    };
    state.store.remember_key(&key).await?;
    start_session(&state, &visitor, &user_id, "/account").await
}

pub async fn signin(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    visitor: Visitor,
    Form(mut form): Form<AuthForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let password = std::mem::take(&mut form.password);
    let email = form.email.trim().to_lowercase();
    let address = format!("addr:{}", client_address(&state, &headers, peer));
    let email_key = format!("email:{email}");
    let throttled = match throttle::wait(&state, &address, PER_ADDRESS).await? {
        None => throttle::wait(&state, &email_key, PER_EMAIL).await?,
        waiting => waiting,
    };
    if let Some(wait) = throttled {
        let text = format!(
            "{} {}",
            ui.t(
                "Too many attempts; try again in minutes:",
                "Слишком много попыток; повторите через минут:"
            ),
            minutes(wait)
        );
        return Ok(auth_page(
            &visitor,
            false,
            &form,
            Notice::Error(text),
            StatusCode::TOO_MANY_REQUESTS,
        ));
    }
    let record = if email.is_empty() || password.is_empty() || password.len() > MAX_PASSWORD {
        None
    } else {
        state.store.login_record(&email).await?
    };
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let matched = tokio::task::spawn_blocking(move || password_matches(&password, hash.as_deref()))
        .await
        .unwrap_or(false);
    let record = match record {
        Some(r) if matched => r,
        _ => {
            throttle::record(&state, &[&address, &email_key]).await?;
            let text = ui
                .t("Wrong email or password.", "Неверная почта или пароль.")
                .to_owned();
            return Ok(auth_page(
                &visitor,
                false,
                &form,
                Notice::Error(text),
                StatusCode::UNAUTHORIZED,
            ));
        }
    };
    if record.status != "active" {
        let text = ui
            .t("This account is suspended.", "Этот аккаунт заблокирован.")
            .to_owned();
        return Ok(auth_page(
            &visitor,
            false,
            &form,
            Notice::Error(text),
            StatusCode::FORBIDDEN,
        ));
    }
    throttle::clear(&state, &email_key).await?;
    let next = safe_next(form.next.as_deref());
    let next = if next == "/" {
        "/account".to_owned()
    } else {
        next
    };
    start_session(&state, &visitor, &record.user_id, &next).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

pub async fn signout(
    State(state): State<AppState>,
    visitor: Visitor,
    Form(form): Form<CsrfForm>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_and_verifies() {
        let hash = hash_password("correct horse battery").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(password_matches("correct horse battery", Some(&hash)));
        assert!(!password_matches("wrong horse battery", Some(&hash)));
        assert!(!password_matches("anything", None));
    }
}
