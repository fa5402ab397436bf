//! The operator console under `/console`: operators (not buyers) sign in with a password
//! and a TOTP code, and run the business from server-rendered pages: the dashboard
//! (SVG charts drawn here, each with its table), orders, users, jobs and the audit log.
//!
//! Handlers parse, call and render: what an operator may do is decided in
//! `souk_app::operators` (a refused action is refused there, whatever the page showed),
//! and every change is an audit row written by the same use case.

mod audit;
mod auth;
mod catalogue;
mod chart;
mod dashboard;
mod disputes;
mod export;
mod gateways;
mod jobs;
mod lists;
mod operators;
mod order_actions;
mod orders;
mod pager;
mod providers;
mod reviews;
mod services;
mod settings;
mod shops;
mod sms;
mod user_actions;
mod users;
mod words;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use souk_app::operators::{Acting, OperatorError, Permission, Role};
use souk_core::secret::constant_time_eq;
use souk_store::{OperatorSession, StoreError};

use super::error::{bare_page, WebError};
use super::i18n::Ui;
use super::layout::{respond, see_other, Notice};
use super::session::Visitor;
use crate::state::AppState;

/// The console's session cookie (apart from the buyers' `souk_session`).
pub const CONSOLE_COOKIE: &str = "souk_console";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(dashboard::page_get))
        .route("/console/signin", get(auth::signin_page).post(auth::signin))
        .route("/console/code", get(auth::code_page).post(auth::code))
        .route("/console/enrol", get(auth::enrol_page).post(auth::enrol))
        .route("/console/signout", post(auth::signout))
        .route("/console/orders", get(orders::list))
        .route("/console/orders/{id}", get(orders::detail))
        .route("/console/orders/{id}/resolve", post(orders::resolve))
        .route("/console/orders/{id}/resend", post(order_actions::resend))
        .route("/console/orders/{id}/cancel", post(order_actions::cancel))
        .route("/console/orders/{id}/refund", post(order_actions::refund))
        .route("/console/users", get(users::list))
        .route("/console/users/{id}", get(users::detail))
        .route("/console/users/{id}/balance", post(users::balance))
        .route("/console/users/{id}/block", post(user_actions::block))
        .route("/console/users/{id}/unblock", post(user_actions::unblock))
        .route("/console/users/{id}/keys", post(user_actions::create_key))
        .route(
            "/console/users/{id}/keys/{key}/revoke",
            post(user_actions::revoke_key),
        )
        .route("/console/catalogue", get(catalogue::list))
        .route("/console/catalogue/services", get(catalogue::services))
        .route(
            "/console/catalogue/services/{number}",
            get(services::detail).post(services::edit),
        )
        .route(
            "/console/catalogue/services/{number}/translations",
            post(services::translate),
        )
        .route(
            "/console/catalogue/services/{number}/variants/{variant}",
            post(services::edit_variant),
        )
        .route("/console/shops", get(shops::list).post(shops::create))
        .route("/console/shops/{id}", get(shops::detail).post(shops::edit))
        .route("/console/reviews", get(reviews::list))
        .route("/console/reviews/{id}", post(reviews::moderate))
        .route(
            "/console/catalogue/{level}/{id}",
            get(catalogue::detail).post(catalogue::edit),
        )
        .route(
            "/console/settings",
            get(settings::show).post(settings::update),
        )
        .route("/console/gateways", get(gateways::list))
        .route("/console/gateways/{id}", post(gateways::configure))
        .route("/console/sms", get(sms::show))
        .route("/console/sms/prices", post(sms::set_price))
        .route(
            "/console/sms/countries/{code}",
            get(sms::country).post(sms::save_country),
        )
        .route("/console/sms/projects", post(sms::create_project))
        .route(
            "/console/sms/projects/{code}",
            get(sms::project).post(sms::save_project),
        )
        .route("/console/sms/gateways", post(sms::create_gateway))
        .route(
            "/console/sms/gateways/{id}",
            get(sms::gateway).post(sms::save_gateway),
        )
        .route("/console/sms/numbers", post(sms::add_number))
        .route("/console/sms/numbers/{id}", post(sms::set_number))
        .route("/console/sms/messages", get(sms::messages))
        .route("/console/sms/activations", get(sms::activations))
        .route(
            "/console/operators",
            get(operators::list).post(operators::create),
        )
        .route("/console/operators/{id}", post(operators::change))
        .route("/console/jobs", get(jobs::list))
        .route("/console/jobs/{id}/retry", post(jobs::retry))
        .route("/console/jobs/{id}/drop", post(jobs::drop_job))
        .route("/console/audit", get(audit::list))
        .route("/console/disputes", get(disputes::list))
        .route(
            "/console/disputes/{id}",
            get(disputes::detail).post(disputes::decide),
        )
        .route("/console/disputes/{id}/messages", post(disputes::message))
        .route("/console/withdrawals", get(lists::withdrawals))
        .route(
            "/console/providers",
            get(providers::list).post(providers::add),
        )
        .route("/console/providers/{id}", get(providers::detail))
        .route("/console/providers/{id}/check", post(providers::check))
        .route("/console/providers/{id}/sync", post(providers::sync))
        .route("/console/providers/{id}/import", post(providers::import))
        .route(
            "/console/providers/{id}/variants/{variant}",
            post(providers::price_variant),
        )
        .route("/console/payments", get(lists::payments))
        .route("/console/export/{what}", get(export::csv))
}

/// Who is at the console: the page visitor (language, the anonymous form token) and the
/// console session, if any.
pub struct Console {
    pub v: Visitor,
    pub session: Option<OperatorSession>,
    token: Option<String>,
}

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn console_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == CONSOLE_COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|t| well_formed(t))
}

impl FromRequestParts<AppState> for Console {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let token = console_token(parts);
        let v = Visitor::from_request_parts(parts, state).await?;
        let session = match &token {
            Some(t) => state.store.operator_session(t, state.now()).await?,
            None => None,
        };
        Ok(Console { v, session, token })
    }
}

impl Console {
    pub fn ui(&self) -> Ui {
        self.v.ui
    }

    /// The token this page's forms carry: the console session's, else the visitor's.
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map_or_else(|| self.v.csrf(), |s| s.csrf_token.as_str())
    }

    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), ConsoleError> {
        match &self.session {
            Some(s) => match sent {
                Some(sent) if constant_time_eq(sent.trim().as_bytes(), s.csrf_token.as_bytes()) => {
                    Ok(())
                }
                _ => Err(ConsoleError::Csrf),
            },
            None => self.v.check_csrf(sent).map_err(|_| ConsoleError::Csrf),
        }
    }

    /// The signed-in operator, or a redirect to sign in.
    pub fn operator(&self) -> Result<Acting, ConsoleError> {
        self.session
            .as_ref()
            .and_then(Acting::of)
            .ok_or(ConsoleError::SignIn)
    }

    /// The signed-in operator when their role allows `p` (else 403).
    pub fn allowed(&self, p: Permission) -> Result<Acting, ConsoleError> {
        let op = self.operator()?;
        op.require(p)
            .map_err(|_| ConsoleError::Forbidden(self.ui()))?;
        Ok(op)
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }
}

/// What a console page answers when it cannot show itself.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("sign in first")]
    SignIn,
    #[error("forbidden")]
    Forbidden(Ui),
    #[error("the form's token did not match")]
    Csrf,
    #[error("no such page")]
    NotFound,
    #[error(transparent)]
    Web(#[from] WebError),
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(_) => ConsoleError::NotFound,
            e => ConsoleError::Web(e.into()),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        match self {
            ConsoleError::SignIn => see_other("/console/signin"),
            ConsoleError::Forbidden(_) => bare_page(
                StatusCode::FORBIDDEN,
                "Your role does not allow this.",
                "Ваша роль этого не позволяет.",
            ),
            ConsoleError::Csrf => WebError::Csrf.into_response(),
            ConsoleError::NotFound => super::not_found(),
            ConsoleError::Web(e) => e.into_response(),
        }
    }
}

/// An operator error a form can show, in the page's language; `None` for faults.
pub fn refusal(ui: Ui, e: &OperatorError) -> Option<String> {
    let text = match e {
        OperatorError::Forbidden => ui
            .t(
                "Your role does not allow this.",
                "Ваша роль этого не позволяет.",
            )
            .to_owned(),
        OperatorError::Invalid(text) => said(ui, text),
        OperatorError::Supply(e) => super::refusal::supply(ui, e),
        OperatorError::Wrong => ui
            .t(
                "Wrong email, password or code.",
                "Неверная почта, пароль или код.",
            )
            .to_owned(),
        OperatorError::Throttled(wait) => format!(
            "{} {}",
            ui.t(
                "Too many attempts; try again in minutes:",
                "Слишком много попыток; повторите через минут:"
            ),
            wait.as_secs().div_ceil(60).max(1)
        ),
        OperatorError::Busy => ui
            .t(
                "Too many sign-ins right now; try again in a moment.",
                "Сейчас слишком много входов; повторите через минуту.",
            )
            .to_owned(),
        OperatorError::EmailTaken => ui
            .t(
                "An operator with this email exists.",
                "Оператор с этой почтой уже есть.",
            )
            .to_owned(),
        OperatorError::Balance(e) => match e {
            souk_app::balances::BalanceError::Store(StoreError::Invalid(t))
                if t.contains("below zero") =>
            {
                ui.t(
                    "The balance cannot go below zero.",
                    "Баланс не может стать отрицательным.",
                )
                .to_owned()
            }
            souk_app::balances::BalanceError::Store(StoreError::NotFound(_)) => {
                ui.t("No such user.", "Нет такого пользователя.").to_owned()
            }
            souk_app::balances::BalanceError::Refused(r) => said(ui, &r.to_string()),
            _ => return None,
        },
        OperatorError::Upstream(text) => format!(
            "{} {text}",
            ui.t(
                "The provider did not answer as asked:",
                "Провайдер ответил не так:"
            )
        ),
        OperatorError::Store(StoreError::NotFound("User")) => {
            ui.t("No such user.", "Нет такого пользователя.").to_owned()
        }
        OperatorError::Store(StoreError::NotFound(_)) => {
            ui.t("Not found.", "Не найдено.").to_owned()
        }
        OperatorError::Store(StoreError::Invalid(t) | StoreError::Conflict(t)) => said(ui, t),
        OperatorError::Store(StoreError::Rejected(souk_core::ApiError::FieldRequired(
            "message",
        ))) => ui.t("Write a message.", "Напишите сообщение.").to_owned(),
        // A rule the buyers' API words too (a message too long): its page text.
        OperatorError::Store(StoreError::Rejected(e)) => super::refusal::api(ui, e),
        OperatorError::Store(_) => return None,
    };
    Some(text)
}

/// A refusal worded in English by a use case or the store, in the page's language.
fn said(ui: Ui, text: &str) -> String {
    match ui {
        Ui::Ru => words::ru(text),
        _ => text.to_owned(),
    }
}

/// An operator error as a page: a refusal shown on `page`, a fault as the fault page.
pub fn refused_or_fault(ui: Ui, e: OperatorError) -> Result<String, ConsoleError> {
    match refusal(ui, &e) {
        Some(text) => Ok(text),
        None => match e {
            OperatorError::Store(s)
            | OperatorError::Balance(souk_app::balances::BalanceError::Store(s)) => Err(s.into()),
            other => Err(ConsoleError::Web(WebError::Store(StoreError::Internal(
                other.to_string(),
            )))),
        },
    }
}

fn role_name(ui: Ui, role: Role) -> &'static str {
    match role {
        Role::Owner => ui.t("owner", "владелец"),
        Role::Admin => ui.t("admin", "администратор"),
        Role::Support => ui.t("support", "поддержка"),
    }
}

/// The console's frame: its own navigation, the operator, the language switch.
pub fn frame(c: &Console, title: &str, notice: &Notice, content: Markup) -> Markup {
    let ui = c.ui();
    let op = c.session.as_ref().and_then(Acting::of);
    let switch_to = |code: &str| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &c.v.here)
            .finish();
        format!("/ui/{code}?{query}")
    };
    html! {
        (DOCTYPE)
        html lang=(ui.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Souk console" }
                link rel="stylesheet" href="/assets/app.css";
                link rel="stylesheet" href="/assets/console.css";
            }
            body.console {
                header.top {
                    a.brand href="/console" { "Souk " span.muted { (ui.t("console", "консоль")) } }
                    @if let Some(op) = &op {
                        nav #console-nav {
                            a href="/console" #nav-dashboard { (ui.t("Dashboard", "Сводка")) }
                            a href="/console/orders" #nav-orders { (ui.t("Orders", "Заказы")) }
                            a href="/console/users" #nav-users { (ui.t("Users", "Пользователи")) }
                            a href="/console/payments" #nav-payments { (ui.t("Payments", "Платежи")) }
                            a href="/console/disputes" #nav-disputes { (ui.t("Disputes", "Споры")) }
                            a href="/console/withdrawals" #nav-withdrawals { (ui.t("Withdrawals", "Выводы")) }
                            a href="/console/providers" #nav-providers { (ui.t("Providers", "Провайдеры")) }
                            a href="/console/catalogue" #nav-catalogue { (ui.t("Catalogue", "Каталог")) }
                            a href="/console/shops" #nav-shops { (ui.t("Shops", "Магазины")) }
                            a href="/console/reviews" #nav-reviews { (ui.t("Reviews", "Отзывы")) }
                            a href="/console/gateways" #nav-gateways { (ui.t("Gateways", "Шлюзы")) }
                            a href="/console/sms" #nav-sms { "SMS" }
                            a href="/console/settings" #nav-settings { (ui.t("Settings", "Настройки")) }
                            a href="/console/jobs" #nav-jobs { (ui.t("Jobs", "Задачи")) }
                            a href="/console/audit" #nav-audit { (ui.t("Audit log", "Журнал")) }
                            @if op.role.can(Permission::Manage) {
                                a href="/console/operators" #nav-operators { (ui.t("Operators", "Операторы")) }
                            }
                            span.muted #operator-who { (op.email) " · " (role_name(ui, op.role)) }
                            form.inline method="post" action="/console/signout" {
                                input type="hidden" name="csrf" value=(c.csrf());
                                button.link type="submit" #console-signout { (ui.t("Sign out", "Выйти")) }
                            }
                        }
                    } @else {
                        nav {}
                    }
                    span.langs {
                        a href=(switch_to("en")) .current[ui.code() == "en"] #ui-en { "EN" }
                        " · "
                        a href=(switch_to("ru")) .current[ui.code() == "ru"] #ui-ru { "RU" }
                    }
                }
                main.wide {
                    h1 { (title) }
                    (notice.render())
                    (content)
                }
            }
        }
    }
}

/// A console page with its status.
pub fn page(
    c: &Console,
    status: StatusCode,
    title: &str,
    notice: Notice,
    content: Markup,
) -> Response {
    respond(&c.v, status, frame(c, title, &notice, content))
}

/// Money in micro-units as `12.50`.
pub fn money(micros: i64) -> String {
    souk_core::Money::from_micros(micros).display2()
}

/// A day number (days since 1970-01-01 UTC) as `2026-12-01`.
pub fn day_label(day: i64) -> String {
    souk_core::clock::iso_millis(day * souk_store::DAY_MS)[..10].to_owned()
}

/// `YYYY-MM-DD` as the day's first millisecond; `None` unless a real date.
pub fn parse_day(text: &str) -> Option<i64> {
    let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
    let start = date.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
    Some(start)
}
