//! Links by e-mail: "Forgot password?" (`/password/forgot`, then the link's
//! `/password/reset`), the check of a new account's address (`/email/verify`, resent
//! from the account page with `/account/verify`). The rules (tokens, throttle, what is
//! sent) are `souk_app::recovery`'s; these handlers read forms and shape pages. Nothing
//! here exists while the operator's SMTP relay is off: the forgot page says so.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::recovery::{self, RecoveryError, ResetError};
use souk_core::password::PasswordProblem;
use souk_store::WebSession;

use super::auth::{session_cookie, MAX_PASSWORD, MIN_PASSWORD};
use super::error::{PageForm, WebError};
use super::i18n::Ui;
use super::layout::{document, respond, Notice};
use super::session::Visitor;
use crate::ratelimit::ClientAddress;
use crate::state::AppState;

#[derive(Deserialize, Default)]
pub struct ForgotForm {
    csrf: Option<String>,
    #[serde(default)]
    email: String,
}

#[derive(Deserialize, Default)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

#[derive(Deserialize, Default)]
pub struct ResetForm {
    csrf: Option<String>,
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

fn minutes(wait: std::time::Duration) -> u64 {
    wait.as_secs().div_ceil(60).max(1)
}

/// A page of its own that keeps one-time links out of `Referer` headers.
fn page(v: &Visitor, status: StatusCode, title: &str, content: Markup) -> Response {
    let mut response = respond(v, status, document(v, title, content));
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn forgot_title(ui: Ui) -> &'static str {
    ui.t("Forgot password", "Забыли пароль")
}

fn mail_off_text(ui: Ui) -> String {
    ui.t(
        "Password resets by e-mail are not available on this site. Ask the operator for help.",
        "Сброс пароля по почте на этом сайте недоступен. Обратитесь к оператору.",
    )
    .to_owned()
}

fn forgot_page(
    v: &Visitor,
    email: &str,
    notice: Notice,
    status: StatusCode,
    form: bool,
) -> Response {
    let ui = v.ui;
    let content = html! {
        div.narrow {
            h1 { (forgot_title(ui)) }
            (notice.render())
            @if form {
                p { (ui.t("Enter the e-mail address of your account: we will send a link to choose a new password.", "Введите адрес почты вашего аккаунта: мы пришлём ссылку, чтобы задать новый пароль.")) }
                form.stack #forgot-form method="post" action="/password/forgot" {
                    input type="hidden" name="csrf" value=(v.csrf());
                    label for="email" { "Email" }
                    input #email type="email" name="email" value=(email) required autocomplete="email" maxlength="254";
                    button #forgot-submit type="submit" { (ui.t("Send the link", "Отправить ссылку")) }
                }
            }
            p { a href="/signin" { (ui.t("Back to sign in", "Вернуться ко входу")) } }
        }
    };
    page(v, status, forgot_title(ui), content)
}

/// `GET /password/forgot`.
pub async fn forgot_page_get(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Response, WebError> {
    if !souk_app::mail::is_enabled(&state.store).await? {
        let notice = Notice::Error(mail_off_text(visitor.ui));
        return Ok(forgot_page(&visitor, "", notice, StatusCode::OK, false));
    }
    Ok(forgot_page(
        &visitor,
        "",
        Notice::None,
        StatusCode::OK,
        true,
    ))
}

/// `POST /password/forgot`: the same answer whether the address has an account or not.
pub async fn forgot(
    State(state): State<AppState>,
    ClientAddress(address): ClientAddress,
    visitor: Visitor,
    PageForm(form): PageForm<ForgotForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let asked = recovery::request_reset(
        &state.store,
        &state.config.throttle,
        &form.email,
        &address.to_string(),
        state.config.public_url.as_deref(),
        ui.catalogue_lang(),
        state.now(),
    )
    .await;
    let (notice, status, show_form) = match asked {
        Ok(()) => (
            Notice::Ok(ui.t(
                "If this address has an account, a link to reset its password is on its way. It works for an hour.",
                "Если у этого адреса есть аккаунт, ссылка для сброса пароля уже в пути. Она действует час.",
            ).to_owned()),
            StatusCode::OK,
            false,
        ),
        Err(RecoveryError::MailOff) => (
            Notice::Error(mail_off_text(ui)),
            StatusCode::SERVICE_UNAVAILABLE,
            false,
        ),
        Err(RecoveryError::BadEmail) => (
            Notice::Error(ui.t("Enter a valid email address.", "Введите правильный адрес почты.").to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
            true,
        ),
        Err(RecoveryError::Throttled(wait)) => (
            Notice::Error(format!(
                "{} {}",
                ui.t("Too many attempts; try again in minutes:", "Слишком много попыток; повторите через минут:"),
                minutes(wait)
            )),
            StatusCode::TOO_MANY_REQUESTS,
            true,
        ),
        Err(RecoveryError::Store(e)) => return Err(e.into()),
    };
    Ok(forgot_page(
        &visitor,
        &form.email,
        notice,
        status,
        show_form,
    ))
}

fn reset_title(ui: Ui) -> &'static str {
    ui.t("Choose a new password", "Новый пароль")
}

fn dead_link(v: &Visitor) -> Response {
    let ui = v.ui;
    let content = html! {
        div.narrow {
            h1 { (reset_title(ui)) }
            (Notice::Error(ui.t(
                "This link does not work: it was used already, it expired, or it was cut short. Ask for a new one.",
                "Эта ссылка не работает: ею уже воспользовались, срок истёк или она обрезана. Запросите новую.",
            ).to_owned()).render())
            p { a #forgot-again href="/password/forgot" { (ui.t("Ask for a new link", "Запросить новую ссылку")) } }
        }
    };
    page(v, StatusCode::BAD_REQUEST, reset_title(ui), content)
}

fn reset_page(v: &Visitor, token: &str, notice: Notice, status: StatusCode) -> Response {
    let ui = v.ui;
    let content = html! {
        div.narrow {
            h1 { (reset_title(ui)) }
            (notice.render())
            form.stack #reset-form method="post" action="/password/reset" {
                input type="hidden" name="csrf" value=(v.csrf());
                input type="hidden" name="token" value=(token);
                label for="password" { (ui.t("New password", "Новый пароль")) }
                input #password type="password" name="password" required minlength=(MIN_PASSWORD) maxlength=(MAX_PASSWORD) autocomplete="new-password";
                label for="password2" { (ui.t("Repeat the password", "Повторите пароль")) }
                input #password2 type="password" name="password2" required maxlength=(MAX_PASSWORD) autocomplete="new-password";
                p.hint { (ui.t("At least 10 characters.", "Не короче 10 символов.")) }
                button #reset-submit type="submit" { (ui.t("Set the password", "Сохранить пароль")) }
            }
        }
    };
    page(v, status, reset_title(ui), content)
}

/// `GET /password/reset?token=`: the form, for a live link only.
pub async fn reset_page_get(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let token = q.token.trim();
    if !recovery::reset_link_live(&state.store, token, state.now()).await? {
        return Ok(dead_link(&visitor));
    }
    Ok(reset_page(&visitor, token, Notice::None, StatusCode::OK))
}

fn problem_text(ui: Ui, problem: PasswordProblem) -> String {
    match problem {
        PasswordProblem::TooShort => ui.t(
            "The password must be at least 10 characters long.",
            "Пароль должен быть не короче 10 символов.",
        ),
        PasswordProblem::TooLong => ui.t("The password is too long.", "Пароль слишком длинный."),
        PasswordProblem::Mismatch => ui.t("The two passwords differ.", "Пароли не совпадают."),
    }
    .to_owned()
}

/// `POST /password/reset`: sets the password, ends every other session, signs in.
pub async fn reset(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(mut form): PageForm<ResetForm>,
) -> Result<Response, WebError> {
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let token = form.token.trim().to_owned();
    let password = std::mem::take(&mut form.password);
    let done = recovery::reset_password(
        &state.store,
        &state.passwords,
        &token,
        password,
        &form.password2,
        state.now(),
    )
    .await;
    match done {
        Ok(signed_in) => Ok(session_cookie(&visitor, &signed_in.token, "/account")),
        Err(ResetError::Weak(problem)) => Ok(reset_page(
            &visitor,
            &token,
            Notice::Error(problem_text(ui, problem)),
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(ResetError::DeadLink) => Ok(dead_link(&visitor)),
        Err(ResetError::Busy) => Ok(reset_page(
            &visitor,
            &token,
            Notice::Error(
                ui.t(
                    "Too many sign-ins right now; try again in a moment.",
                    "Сейчас слишком много входов; повторите через минуту.",
                )
                .to_owned(),
            ),
            StatusCode::TOO_MANY_REQUESTS,
        )),
        Err(ResetError::Suspended) => {
            let content = html! { div.narrow { h1 { (reset_title(ui)) } (Notice::Error(ui.t("The password was changed, but this account is suspended.", "Пароль изменён, но этот аккаунт заблокирован.").to_owned()).render()) } };
            Ok(page(
                &visitor,
                StatusCode::FORBIDDEN,
                reset_title(ui),
                content,
            ))
        }
        Err(ResetError::Store(e)) => Err(e.into()),
    }
}

fn verify_title(ui: Ui) -> &'static str {
    ui.t("E-mail address", "Адрес почты")
}

/// `GET /email/verify?token=`: marks the address checked.
pub async fn verify(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<TokenQuery>,
) -> Result<Response, WebError> {
    let ui = visitor.ui;
    let checked = recovery::verify_email(&state.store, q.token.trim(), state.now()).await?;
    let (notice, status) = match checked {
        Some(_) => (
            Notice::Ok(ui.t("Your e-mail address is confirmed. Thank you.", "Ваш адрес почты подтверждён. Спасибо.").to_owned()),
            StatusCode::OK,
        ),
        None => (
            Notice::Error(ui.t(
                "This link does not work: it was used already, it expired, or it was cut short. Ask for a new one on your account page.",
                "Эта ссылка не работает: ею уже воспользовались, срок истёк или она обрезана. Запросите новую на странице аккаунта.",
            ).to_owned()),
            StatusCode::BAD_REQUEST,
        ),
    };
    let content = html! {
        div.narrow {
            h1 { (verify_title(ui)) }
            (notice.render())
            p { a href="/account" { (ui.t("Your account", "Ваш аккаунт")) } }
        }
    };
    Ok(page(&visitor, status, verify_title(ui), content))
}

/// `POST /account/verify`: a new link for the signed-in user's address.
pub async fn resend(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let sent = recovery::resend_verification(
        &state.store,
        &state.config.throttle,
        &user.user_id,
        state.config.public_url.as_deref(),
        ui.catalogue_lang(),
        state.now(),
    )
    .await;
    let (notice, status) = match sent {
        Ok(true) => (
            Notice::Ok(format!(
                "{} {}",
                ui.t("A new link is on its way to", "Новая ссылка отправлена на"),
                user.email
            )),
            StatusCode::OK,
        ),
        Ok(false) => (
            Notice::Ok(
                ui.t(
                    "Your e-mail address is confirmed already.",
                    "Ваш адрес почты уже подтверждён.",
                )
                .to_owned(),
            ),
            StatusCode::OK,
        ),
        Err(RecoveryError::MailOff) => (
            Notice::Error(
                ui.t(
                    "E-mail is not available on this site.",
                    "Почта на этом сайте недоступна.",
                )
                .to_owned(),
            ),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        Err(RecoveryError::Throttled(wait)) => (
            Notice::Error(format!(
                "{} {}",
                ui.t(
                    "Too many attempts; try again in minutes:",
                    "Слишком много попыток; повторите через минут:"
                ),
                minutes(wait)
            )),
            StatusCode::TOO_MANY_REQUESTS,
        ),
        Err(RecoveryError::BadEmail) => (Notice::None, StatusCode::OK),
        Err(RecoveryError::Store(e)) => return Err(e.into()),
    };
    let content = html! {
        div.narrow {
            h1 { (verify_title(ui)) }
            (notice.render())
            p { a href="/account" { (ui.t("Your account", "Ваш аккаунт")) } }
        }
    };
    Ok(page(&visitor, status, verify_title(ui), content))
}

/// After a sign-up: the address check is queued when mail is on. A failure here is
/// logged, not shown: the account exists and the link can be asked for again.
pub async fn after_sign_up(state: &AppState, user_id: &str, ui: Ui) {
    let queued = recovery::send_verification(
        &state.store,
        user_id,
        state.config.public_url.as_deref(),
        ui.catalogue_lang(),
        state.now(),
    )
    .await;
    if let Err(e) = queued {
        tracing::warn!(user = user_id, error = %e, "the verification e-mail was not queued");
    }
}

/// The account page's line about the address: "not verified — resend" while mail is on
/// and the address is not checked; nothing otherwise (nothing waits on it).
pub async fn verification_notice(
    state: &AppState,
    v: &Visitor,
    user: &WebSession,
) -> Result<Markup, WebError> {
    let ui = v.ui;
    if !souk_app::mail::is_enabled(&state.store).await?
        || state
            .store
            .email_verified_at(&user.user_id)
            .await?
            .is_some()
    {
        return Ok(html! {});
    }
    Ok(html! {
        form.inline #email-unverified method="post" action="/account/verify" {
            input type="hidden" name="csrf" value=(v.csrf());
            span.muted { (ui.t("Your e-mail address is not verified yet.", "Ваш адрес почты ещё не подтверждён.")) " " }
            button.small #resend-verify type="submit" { (ui.t("Resend the link", "Отправить ссылку ещё раз")) }
        }
    })
}
