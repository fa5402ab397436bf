//! Signing in to the console: email and password (throttled in the attempts table all
//! nodes share), then the TOTP code or a recovery code; an owner or admin without a
//! second factor enrols one first, from a QR code drawn here as SVG. Each step that
//! passes ends the half-way session and issues a new token.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::Response;
use maud::{html, PreEscaped};
use serde::Deserialize;
use souk_app::operators::{self, Next, OperatorError};

use super::{page, refused_or_fault, Console, ConsoleError, CONSOLE_COOKIE};
use crate::ratelimit::ClientAddress;
use crate::state::AppState;
use crate::web::error::PageForm;
use crate::web::layout::{see_other, Notice};

#[derive(Deserialize, Default)]
pub struct SignInForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

#[derive(Deserialize, Default)]
pub struct CodeForm {
    csrf: Option<String>,
    #[serde(default)]
    code: String,
}

fn with_cookie(c: &Console, mut response: Response, token: &str, max_age_secs: i64) -> Response {
    if let Some(v) = c.v.cookie(CONSOLE_COOKIE, token, max_age_secs) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

fn signin_form(c: &Console, email: &str, notice: Notice, status: StatusCode) -> Response {
    let ui = c.ui();
    let content = html! {
        div.narrow {
            form.stack #console-signin method="post" action="/console/signin" {
                input type="hidden" name="csrf" value=(c.csrf());
                label for="email" { "Email" }
                input #email type="email" name="email" value=(email) required autocomplete="username" maxlength="254";
                label for="password" { (ui.t("Password", "Пароль")) }
                input #password type="password" name="password" required autocomplete="current-password" maxlength="1024";
                button #signin-submit type="submit" { (ui.t("Sign in", "Войти")) }
            }
        }
    };
    page(
        c,
        status,
        ui.t("Operator sign-in", "Вход оператора"),
        notice,
        content,
    )
}

pub async fn signin_page(c: Console) -> Response {
    if c.operator().is_ok() {
        return see_other("/console");
    }
    signin_form(&c, "", Notice::None, StatusCode::OK)
}

pub async fn signin(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    c: Console,
    PageForm(form): PageForm<SignInForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let ui = c.ui();
    let started = operators::sign_in(
        &state.store,
        &state.passwords,
        &state.config.throttle,
        &form.email,
        form.password,
        &address,
        state.now(),
    )
    .await;
    match started {
        Ok(s) => {
            let (next, ttl) = match s.next {
                Next::Done => ("/console", operators::SESSION_MS),
                Next::Code => ("/console/code", operators::PENDING_MS),
                Next::Enrol => ("/console/enrol", operators::PENDING_MS),
            };
            Ok(with_cookie(&c, see_other(next), &s.token, ttl / 1000))
        }
        Err(e) => {
            let status = match e {
                OperatorError::Throttled(_) | OperatorError::Busy => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let text = refused_or_fault(ui, e)?;
            Ok(signin_form(&c, &form.email, Notice::Error(text), status))
        }
    }
}

/// The half-way session (password right, second factor to come).
fn pending(c: &Console) -> Result<(&souk_store::OperatorSession, &str), ConsoleError> {
    match (&c.session, c.token()) {
        (Some(s), Some(t)) if s.stage == "password" => Ok((s, t)),
        _ => Err(ConsoleError::SignIn),
    }
}

fn code_form(c: &Console, notice: Notice, status: StatusCode) -> Response {
    let ui = c.ui();
    let content = html! {
        div.narrow {
            p { (ui.t("Enter the six-digit code from your authenticator app, or one of your recovery codes.",
                      "Введите шестизначный код из приложения-аутентификатора или один из резервных кодов.")) }
            form.stack #console-code method="post" action="/console/code" {
                input type="hidden" name="csrf" value=(c.csrf());
                label for="code" { (ui.t("Code", "Код")) }
                input #code type="text" name="code" required autocomplete="one-time-code" inputmode="text" maxlength="32";
                button #code-submit type="submit" { (ui.t("Continue", "Продолжить")) }
            }
        }
    };
    page(
        c,
        status,
        ui.t("Two-factor sign-in", "Двухфакторный вход"),
        notice,
        content,
    )
}

pub async fn code_page(c: Console) -> Result<Response, ConsoleError> {
    let (s, _) = pending(&c)?;
    if !s.totp_enabled {
        return Ok(see_other("/console/enrol"));
    }
    Ok(code_form(&c, Notice::None, StatusCode::OK))
}

pub async fn code(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let (s, token) = pending(&c)?;
    match operators::second_factor(
        &state.store,
        &state.config.throttle,
        s,
        token,
        &form.code,
        state.now(),
    )
    .await
    {
        Ok(token) => Ok(with_cookie(
            &c,
            see_other("/console"),
            &token,
            operators::SESSION_MS / 1000,
        )),
        Err(e) => {
            let status = match e {
                OperatorError::Throttled(_) => StatusCode::TOO_MANY_REQUESTS,
                _ => StatusCode::UNAUTHORIZED,
            };
            let text = refused_or_fault(c.ui(), e)?;
            Ok(code_form(&c, Notice::Error(text), status))
        }
    }
}

/// The QR code of `text` as an SVG element (drawn here: no script, no outside service).
fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

async fn enrol_form(
    state: &AppState,
    c: &Console,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let ui = c.ui();
    let (s, _) = pending(c)?;
    let (secret, url) = match operators::enrolment(&state.store, s).await {
        Ok(pair) => pair,
        Err(OperatorError::Invalid(_)) => return Ok(see_other("/console/code")),
        Err(e) => return Err(refused_or_fault(ui, e).map_or_else(|e| e, |_| ConsoleError::SignIn)),
    };
    // The QR code's SVG comes from the qrcode crate: only its own elements and numbers.
    let svg = qr_svg(&url);
    let content = html! {
        div.narrow {
            p { (ui.t("Your role signs in with a second factor. Scan this code with an authenticator app (or type the key), then enter the code it shows.",
                      "Ваша роль входит со вторым фактором. Отсканируйте код приложением-аутентификатором (или введите ключ) и введите показанный код.")) }
            div #totp-qr .qr { (PreEscaped(svg)) }
            p { (ui.t("Key: ", "Ключ: ")) code #totp-secret { (secret) } }
            form.stack #console-enrol method="post" action="/console/enrol" {
                input type="hidden" name="csrf" value=(c.csrf());
                label for="code" { (ui.t("Code", "Код")) }
                input #code type="text" name="code" required autocomplete="one-time-code" inputmode="numeric" maxlength="8";
                button #enrol-submit type="submit" { (ui.t("Turn on", "Включить")) }
            }
        }
    };
    Ok(page(
        c,
        status,
        ui.t(
            "Set up two-factor sign-in",
            "Настройка двухфакторного входа",
        ),
        notice,
        content,
    ))
}

pub async fn enrol_page(
    State(state): State<AppState>,
    c: Console,
) -> Result<Response, ConsoleError> {
    enrol_form(&state, &c, Notice::None, StatusCode::OK).await
}

pub async fn enrol(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<CodeForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let ui = c.ui();
    let (s, token) = pending(&c)?;
    match operators::finish_enrolment(
        &state.store,
        &state.config.throttle,
        s,
        token,
        &form.code,
        state.now(),
    )
    .await
    {
        Ok((token, codes)) => {
            let content = html! {
                div.narrow {
                    p.notice.ok #enrolled { (ui.t("Two-factor sign-in is on.", "Двухфакторный вход включён.")) }
                    p { (ui.t("Keep these recovery codes somewhere safe: each signs you in once if you lose your phone. They are shown only now.",
                              "Сохраните резервные коды в надёжном месте: каждый позволяет войти один раз, если телефон потерян. Они показываются только сейчас.")) }
                    ul #recovery-codes .codes { @for code in &codes { li { code { (code) } } } }
                    p { a.button #to-dashboard href="/console" { (ui.t("To the dashboard", "К сводке")) } }
                }
            };
            // Drawn under the half-way session: no navigation until the next page.
            let response = page(
                &c,
                StatusCode::OK,
                ui.t("Recovery codes", "Резервные коды"),
                Notice::None,
                content,
            );
            Ok(with_cookie(
                &c,
                response,
                &token,
                operators::SESSION_MS / 1000,
            ))
        }
        Err(e) => {
            let text = refused_or_fault(ui, e)?;
            enrol_form(
                &state,
                &c,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

#[derive(Deserialize)]
pub struct SignOutForm {
    csrf: Option<String>,
}

pub async fn signout(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<SignOutForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    if let Some(token) = c.token() {
        state.store.end_operator_session(token).await?;
    }
    Ok(with_cookie(&c, see_other("/console/signin"), "", 0))
}
