//! SMS verification: prices, countries, projects, gateways (never their webhook
//! secrets: a secret is typed and replaced, the page says only that it is set), the
//! pool's numbers, and the messages and activations, page by page. Every operator
//! reads; admins and owners change, through `souk_app::operator_sms` (the audited
//! writes the operator API and the command line use too, each change's row in its
//! transaction).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::operator_sms;
use souk_app::operators::{OperatorError, Permission};
use souk_core::sms::ActivationStatus;
use souk_core::{Lang, Money, Text};
use souk_store::StoreError;

use super::pager::{Pager, PAGE};
use super::{page, refused_or_fault, Console, ConsoleError};
use crate::state::AppState;
use crate::web::error::{PageForm, PagePath};
use crate::web::layout::{see_other, when, Notice};

#[derive(Deserialize, Default)]
pub struct PhoneQuery {
    #[serde(default)]
    phone: String,
    page: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    #[serde(default)]
    status: String,
    page: Option<String>,
}

/// Every field of the SMS forms: a refused form is shown again as it was typed.
#[derive(Deserialize, Default)]
pub struct SmsForm {
    csrf: Option<String>,
    #[serde(default)]
    project: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    name_ru: String,
    /// A checkbox: present when ticked.
    active: Option<String>,
    #[serde(default)]
    secret: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    projects: String,
    /// Which form of the overview was sent (`project`, `gateway`, `number`).
    #[serde(default)]
    form: String,
}

fn ru(t: &Text) -> &str {
    t.translations()
        .iter()
        .find(|(l, _)| *l == Lang::Ru)
        .map_or("", |(_, v)| v.as_ref())
}

fn bad_phone(ui: crate::web::i18n::Ui) -> Notice {
    Notice::Error(
        ui.t(
            "Write the phone like +12025550101.",
            "Пишите телефон так: +12025550101.",
        )
        .to_owned(),
    )
}

fn yes(on: bool) -> Markup {
    html! { @if on { "✓" } }
}

async fn sms_page(
    state: &AppState,
    c: &Console,
    phone: &str,
    form: &SmsForm,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    let op = c.allowed(Permission::Read)?;
    let ui = c.ui();
    let change = op.role.can(Permission::Change);
    let countries = state.store.sms_countries(false).await?;
    let projects = state.store.sms_projects(false).await?;
    let prices = state.store.sms_prices().await?;
    let gateways = state.store.sms_gateways().await?;
    let numbers = state.store.sms_numbers().await?;
    let phone = phone.trim();
    // A phone that is no phone finds nothing: a clear error, not everyone's messages.
    let (mut notice, mut status) = (notice, status);
    let messages = match state.store.sms_messages(Some(phone), 100).await {
        Ok(m) => m,
        Err(StoreError::Invalid(_)) => {
            notice = bad_phone(ui);
            status = StatusCode::UNPROCESSABLE_ENTITY;
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    let this = |f: &str| form.form == f;
    let content = html! {
        nav.row #sms-links {
            a href="/console/sms/messages" #sms-messages-link { (ui.t("All messages", "Все сообщения")) }
            " · "
            a href="/console/sms/activations" #sms-activations-link { (ui.t("Activations", "Активации")) }
        }
        h2 { (ui.t("Prices", "Цены")) }
        div.scroll { table #sms-prices {
            thead { tr { th { (ui.t("Project", "Проект")) } th { (ui.t("Country", "Страна")) } th.num { (ui.t("Price", "Цена")) } } }
            tbody {
                @for p in &prices { tr { td { (p.project_code) } td { (p.country_code) } td.num { (p.price.display4()) } } }
                @if prices.is_empty() { tr { td colspan="3" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
        @if change {
            form.row #sms-price-form method="post" action="/console/sms/prices" {
                input type="hidden" name="csrf" value=(c.csrf());
                select #sms-project name="project" aria-label=(ui.t("Project", "Проект")) {
                    @for p in &projects { option value=(p.code) selected[form.project == p.code] { (p.code) " · " (p.name.en()) } }
                }
                select #sms-country name="country" aria-label=(ui.t("Country", "Страна")) {
                    @for k in &countries { option value=(k.code) selected[form.country == k.code] { (k.code) " · " (k.name.en()) } }
                }
                input #sms-price type="text" name="price" value=(form.price) required inputmode="decimal" maxlength="24" placeholder="0.50" aria-label=(ui.t("Price", "Цена"));
                button #sms-price-submit type="submit" { (ui.t("Set the price", "Установить цену")) }
            }
        }
        h2 { (ui.t("Countries", "Страны")) }
        div.scroll { table #sms-countries {
            thead { tr { th { (ui.t("Code", "Код")) } th { (ui.t("Name", "Название")) } th { (ui.t("In Russian", "По-русски")) } th { (ui.t("On", "Вкл.")) } } }
            tbody { @for k in &countries { tr {
                td { @if change { a href=(format!("/console/sms/countries/{}", k.code)) { (k.code) } } @else { (k.code) } }
                td { (k.name.en()) } td { (ru(&k.name)) } td { (yes(k.active)) }
            } } }
        } }
        h2 { (ui.t("Projects", "Проекты")) }
        div.scroll { table #sms-projects {
            thead { tr { th { (ui.t("Code", "Код")) } th { (ui.t("Name", "Название")) } th { (ui.t("In Russian", "По-русски")) } th { (ui.t("On", "Вкл.")) } } }
            tbody { @for p in &projects { tr {
                td { @if change { a href=(format!("/console/sms/projects/{}", p.code)) { (p.code) } } @else { (p.code) } }
                td { (p.name.en()) } td { (ru(&p.name)) } td { (yes(p.active)) }
            } } }
        } }
        @if change {
            details #sms-project-new open[this("project")] {
                summary { (ui.t("New project", "Новый проект")) }
                form.stack #sms-project-form method="post" action="/console/sms/projects" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    input type="hidden" name="form" value="project";
                    label { (ui.t("Code (a-z, 0-9, _)", "Код (a-z, 0-9, _)")) input type="text" name="code" value=[this("project").then_some(form.code.as_str())] required maxlength="16"; }
                    label { (ui.t("Name", "Название")) input type="text" name="name" value=[this("project").then_some(form.name.as_str())] required maxlength="100"; }
                    label { (ui.t("In Russian", "По-русски")) input type="text" name="name_ru" value=[this("project").then_some(form.name_ru.as_str())] maxlength="100"; }
                    button #sms-project-submit type="submit" { (ui.t("Add the project", "Добавить проект")) }
                }
            }
        }
        h2 { (ui.t("Gateways", "Шлюзы")) }
        div.scroll { table #sms-gateways {
            thead { tr { th { (ui.t("Name", "Название")) } th { (ui.t("Webhook", "Вебхук")) } th { (ui.t("Secret", "Секрет")) } th { (ui.t("On", "Вкл.")) } th { (ui.t("Since", "С")) } } }
            tbody { @for g in &gateways { tr {
                td { @if change { a href=(format!("/console/sms/gateways/{}", g.id)) { (g.name) } } @else { (g.name) } }
                td { code { "/webhooks/sms/" (g.id) } } td { (ui.t("set", "задан")) } td { (yes(g.active)) } td { (when(g.created_at)) }
            } } }
        } }
        @if change {
            details #sms-gateway-new open[this("gateway")] {
                summary { (ui.t("New gateway", "Новый шлюз")) }
                form.stack #sms-gateway-form method="post" action="/console/sms/gateways" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    input type="hidden" name="form" value="gateway";
                    label { (ui.t("Name", "Название")) input type="text" name="name" value=[this("gateway").then_some(form.name.as_str())] required maxlength="100"; }
                    label { (ui.t("Webhook secret (16 characters or more; shown never again)", "Секрет вебхука (от 16 символов; больше не показывается)"))
                        input type="password" name="secret" required autocomplete="off" maxlength="256"; }
                    button #sms-gateway-submit type="submit" { (ui.t("Add the gateway", "Добавить шлюз")) }
                }
            }
        }
        h2 { (ui.t("Numbers", "Номера")) }
        div.scroll { table #sms-numbers {
            thead { tr { th { (ui.t("Phone", "Телефон")) } th { (ui.t("Country", "Страна")) } th { (ui.t("Projects", "Проекты")) } th { (ui.t("On", "Вкл.")) } th { (ui.t("Rented by order", "Занят заказом")) } @if change { th { (ui.t("Change", "Изменить")) } } } }
            tbody { @for n in &numbers { tr {
                td { a href=(format!("/console/sms?phone={}", n.phone.trim_start_matches('+'))) { (n.phone) } } td { (n.country_code) } td { (n.projects.join(", ")) } td { (yes(n.active)) }
                td { @if let Some(o) = n.current_order { a href=(format!("/console/orders/{o}")) { (o) } } }
                @if change { td {
                    form.inline method="post" action=(format!("/console/sms/numbers/{}", n.id)) {
                        input type="hidden" name="csrf" value=(c.csrf());
                        @if n.active {
                            button.number-off type="submit" { (ui.t("Turn off", "Выключить")) }
                        } @else {
                            input type="hidden" name="active" value="on";
                            button.number-on type="submit" { (ui.t("Turn on", "Включить")) }
                        }
                    }
                } }
            } } }
        } }
        @if change {
            details #sms-number-new open[this("number")] {
                summary { (ui.t("Add a number", "Добавить номер")) }
                form.stack #sms-number-form method="post" action="/console/sms/numbers" {
                    input type="hidden" name="csrf" value=(c.csrf());
                    input type="hidden" name="form" value="number";
                    label { (ui.t("Phone", "Телефон")) input type="tel" name="phone" value=[this("number").then_some(form.phone.as_str())] required maxlength="32" placeholder="+12025550101"; }
                    label { (ui.t("Country", "Страна")) select name="country" {
                        @for k in &countries { option value=(k.code) selected[this("number") && form.country == k.code] { (k.code) " · " (k.name.en()) } }
                    } }
                    label { (ui.t("Gateway", "Шлюз")) select name="gateway" {
                        option value="" { (ui.t("none", "нет")) }
                        @for g in &gateways { option value=(g.id) selected[this("number") && form.gateway == g.id] { (g.name) } }
                    } }
                    label { (ui.t("Projects (codes, comma-separated)", "Проекты (коды через запятую)")) input type="text" name="projects" value=[this("number").then_some(form.projects.as_str())] maxlength="500" placeholder="tg, wa"; }
                    button #sms-number-submit type="submit" { (ui.t("Add the number", "Добавить номер")) }
                }
            }
        }
        h2 { (ui.t("Messages", "Сообщения")) }
        form.row #sms-message-search method="get" action="/console/sms" {
            input type="search" name="phone" placeholder=(ui.t("Phone", "Телефон")) aria-label=(ui.t("Phone", "Телефон")) value=(phone);
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        (messages_table(ui, &messages))
    };
    Ok(page(c, status, ui.t("SMS", "SMS"), notice, content))
}

fn messages_table(ui: crate::web::i18n::Ui, messages: &[souk_store::SmsMessage]) -> Markup {
    html! {
        div.scroll { table #sms-messages {
            thead { tr { th { (ui.t("Phone", "Телефон")) } th { (ui.t("From", "От")) } th { (ui.t("Text", "Текст")) } th { (ui.t("Code", "Код")) } th { (ui.t("Order", "Заказ")) } th { (ui.t("Received", "Получено")) } } }
            tbody {
                @for m in messages { tr {
                    td { (m.phone) } td { (m.sender) } td { (m.text) } td { (m.code.as_deref().unwrap_or("")) }
                    td { @if let Some(o) = m.order_id { a href=(format!("/console/orders/{o}")) { (o) } } } td { (when(m.received_at)) }
                } }
                @if messages.is_empty() { tr { td colspan="6" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
    }
}

pub async fn show(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<PhoneQuery>,
) -> Result<Response, ConsoleError> {
    sms_page(
        &state,
        &c,
        &q.phone,
        &SmsForm::default(),
        Notice::None,
        StatusCode::OK,
    )
    .await
}

/// An overview form's outcome: back to the overview, or the overview with the refusal.
async fn answered<T>(
    state: &AppState,
    c: &Console,
    form: &SmsForm,
    done: Result<T, OperatorError>,
    back: &str,
) -> Result<Response, ConsoleError> {
    match done {
        Ok(_) => Ok(see_other(back)),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            sms_page(
                state,
                c,
                "",
                form,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

pub async fn set_price(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done = operator_sms::set_price(
        &state.store,
        &op,
        &form.project,
        &form.country,
        &form.price,
        state.now(),
    )
    .await;
    answered(&state, &c, &form, done, "/console/sms").await
}

pub async fn create_project(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done = operator_sms::create_project(
        &state.store,
        &op,
        &form.code,
        &form.name,
        &form.name_ru,
        state.now(),
    )
    .await;
    answered(&state, &c, &form, done, "/console/sms").await
}

pub async fn create_gateway(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done =
        operator_sms::create_gateway(&state.store, &op, &form.name, &form.secret, state.now())
            .await;
    answered(&state, &c, &form, done, "/console/sms").await
}

pub async fn add_number(
    State(state): State<AppState>,
    c: Console,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done = operator_sms::add_number(
        &state.store,
        &op,
        &form.phone,
        &form.country,
        &form.gateway,
        &form.projects,
        state.now(),
    )
    .await;
    answered(&state, &c, &form, done, "/console/sms").await
}

pub async fn set_number(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let done =
        operator_sms::set_number_active(&state.store, &op, &id, form.active.is_some(), state.now())
            .await;
    answered(&state, &c, &form, done, "/console/sms").await
}

/// A refused edit: its page again with the refusal, or the overview with it when the
/// record is not there to edit.
async fn edit_refused<'a, F, Fut>(
    state: &'a AppState,
    c: &'a Console,
    form: &'a SmsForm,
    text: String,
    page_of: F,
    key: &'a str,
) -> Result<Response, ConsoleError>
where
    F: FnOnce(&'a AppState, &'a Console, &'a str, Option<&'a SmsForm>, Notice, StatusCode) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ConsoleError>>,
{
    let status = StatusCode::UNPROCESSABLE_ENTITY;
    match page_of(
        state,
        c,
        key,
        Some(form),
        Notice::Error(text.clone()),
        status,
    )
    .await
    {
        Err(ConsoleError::NotFound) => {
            sms_page(state, c, "", form, Notice::Error(text), status).await
        }
        other => other,
    }
}

/// One record's edit page: its form, under the overview's link.
fn edit_page(
    c: &Console,
    title: &str,
    notice: Notice,
    status: StatusCode,
    form: Markup,
) -> Response {
    let ui = c.ui();
    let content = html! {
        p { a href="/console/sms" #sms-back { (ui.t("← SMS", "← SMS")) } }
        div.narrow { (form) }
    };
    page(c, status, title, notice, content)
}

/// A country or a project: each is edited as a name, its Russian text and on or off,
/// on one form and through one save.
#[derive(Clone, Copy)]
enum Named {
    Country,
    Project,
}

impl Named {
    /// Its code, name and whether it is on, as stored (none: the console's 404).
    async fn stored(
        self,
        state: &AppState,
        key: &str,
    ) -> Result<(String, Text, bool), ConsoleError> {
        Ok(match self {
            Named::Country => {
                let k = souk_app::sms_admin::country(&state.store, key).await?;
                (k.code, k.name, k.active)
            }
            Named::Project => {
                let p = souk_app::sms_admin::project(&state.store, key).await?;
                (p.code, p.name, p.active)
            }
        })
    }
}

/// A country's or a project's edit page: its name, Russian text and on or off, as
/// stored or as typed.
async fn named_page(
    state: &AppState,
    c: &Console,
    kind: Named,
    key: &str,
    typed: Option<&SmsForm>,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Change)?;
    let ui = c.ui();
    let (code, stored, on) = kind.stored(state, key).await?;
    let (name, name_ru, active) = match typed {
        Some(f) => (f.name.clone(), f.name_ru.clone(), f.active.is_some()),
        None => (stored.en().to_owned(), ru(&stored).to_owned(), on),
    };
    let (what, path, form_id, on_label, submit_id) = match kind {
        Named::Country => (
            ui.t("Country", "Страна"),
            "countries",
            "sms-country-form",
            ui.t(
                "Buyers may rent numbers here",
                "Покупатели могут арендовать номера",
            ),
            "sms-country-submit",
        ),
        Named::Project => (
            ui.t("Project", "Проект"),
            "projects",
            "sms-project-edit",
            ui.t("On sale", "В продаже"),
            "sms-project-save",
        ),
    };
    let form = html! {
        form.stack id=(form_id) method="post" action=(format!("/console/sms/{path}/{code}")) {
            input type="hidden" name="csrf" value=(c.csrf());
            label { (ui.t("Name", "Название")) input type="text" name="name" value=(name) required maxlength="100"; }
            label { (ui.t("In Russian", "По-русски")) input type="text" name="name_ru" value=(name_ru) maxlength="100"; }
            label.check { input type="checkbox" name="active" checked[active]; " " (on_label) }
            button id=(submit_id) type="submit" { (ui.t("Save", "Сохранить")) }
        }
    };
    let title = format!("{what} · {code}");
    Ok(edit_page(c, &title, notice, status, form))
}

/// A country's or a project's form saved: back to the overview, or its page again with
/// the refusal.
async fn save_named(
    state: &AppState,
    c: &Console,
    kind: Named,
    key: &str,
    form: &SmsForm,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    let (store, now) = (&state.store, state.now());
    let (en, ru, active) = (&form.name, &form.name_ru, form.active.is_some());
    let done = match kind {
        Named::Country => operator_sms::save_country(store, &op, key, en, ru, active, now)
            .await
            .map(drop),
        Named::Project => operator_sms::update_project(store, &op, key, en, ru, active, now)
            .await
            .map(drop),
    };
    match done {
        Ok(()) => Ok(see_other("/console/sms")),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            let page_of = move |state, c, key, typed, notice, status| {
                named_page(state, c, kind, key, typed, notice, status)
            };
            edit_refused(state, c, form, text, page_of, key).await
        }
    }
}

pub async fn country(
    State(state): State<AppState>,
    c: Console,
    PagePath(code): PagePath<String>,
) -> Result<Response, ConsoleError> {
    named_page(
        &state,
        &c,
        Named::Country,
        &code,
        None,
        Notice::None,
        StatusCode::OK,
    )
    .await
}

pub async fn save_country(
    State(state): State<AppState>,
    c: Console,
    PagePath(code): PagePath<String>,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    save_named(&state, &c, Named::Country, &code, &form).await
}

pub async fn project(
    State(state): State<AppState>,
    c: Console,
    PagePath(code): PagePath<String>,
) -> Result<Response, ConsoleError> {
    named_page(
        &state,
        &c,
        Named::Project,
        &code,
        None,
        Notice::None,
        StatusCode::OK,
    )
    .await
}

pub async fn save_project(
    State(state): State<AppState>,
    c: Console,
    PagePath(code): PagePath<String>,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    save_named(&state, &c, Named::Project, &code, &form).await
}

async fn gateway_page(
    state: &AppState,
    c: &Console,
    id: &str,
    typed: Option<&SmsForm>,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Change)?;
    let ui = c.ui();
    let gateway = souk_app::sms_admin::gateway(&state.store, id).await?;
    let (name, active) = match typed {
        Some(f) => (f.name.clone(), f.active.is_some()),
        None => (gateway.name.clone(), gateway.active),
    };
    let form = html! {
        dl.grid #sms-gateway-facts {
            dt { (ui.t("Webhook", "Вебхук")) } dd { code { "/webhooks/sms/" (gateway.id) } }
            dt { (ui.t("Secret", "Секрет")) } dd #sms-gateway-secret { (ui.t("set", "задан")) }
            dt { (ui.t("Since", "С")) } dd { (when(gateway.created_at)) }
        }
        form.stack #sms-gateway-edit method="post" action=(format!("/console/sms/gateways/{}", gateway.id)) {
            input type="hidden" name="csrf" value=(c.csrf());
            label { (ui.t("Name", "Название")) input type="text" name="name" value=(name) required maxlength="100"; }
            label.check { input type="checkbox" name="active" checked[active]; " " (ui.t("Accepts messages", "Принимает сообщения")) }
            label { (ui.t("New webhook secret (blank: keep the one set)", "Новый секрет вебхука (пусто — оставить)"))
                input type="password" name="secret" autocomplete="off" maxlength="256"; }
            button #sms-gateway-save type="submit" { (ui.t("Save", "Сохранить")) }
        }
    };
    let title = format!("{} · {}", ui.t("Gateway", "Шлюз"), gateway.name);
    Ok(edit_page(c, &title, notice, status, form))
}

pub async fn gateway(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
) -> Result<Response, ConsoleError> {
    gateway_page(&state, &c, &id, None, Notice::None, StatusCode::OK).await
}

pub async fn save_gateway(
    State(state): State<AppState>,
    c: Console,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<SmsForm>,
) -> Result<Response, ConsoleError> {
    c.check_csrf(form.csrf.as_deref())?;
    let op = c.allowed(Permission::Change)?;
    match operator_sms::update_gateway(
        &state.store,
        &op,
        &id,
        &form.name,
        form.active.is_some(),
        &form.secret,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(see_other("/console/sms")),
        Err(e) => {
            let text = refused_or_fault(c.ui(), e)?;
            edit_refused(&state, &c, &form, text, gateway_page, &id).await
        }
    }
}

/// Every SMS kept, newest first, 50 a page, optionally of one phone.
pub async fn messages(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<PhoneQuery>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let pager = Pager::of(q.page.as_deref());
    let phone = q.phone.trim();
    let (rows, total, notice, status) = match state
        .store
        .sms_message_page(Some(phone), pager.offset(), PAGE)
        .await
    {
        Ok((rows, total)) => (rows, total, Notice::None, StatusCode::OK),
        Err(StoreError::Invalid(_)) => (
            Vec::new(),
            0,
            bad_phone(ui),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        Err(e) => return Err(e.into()),
    };
    let link = |p: i64| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !phone.is_empty() {
            q.append_pair("phone", phone);
        }
        q.append_pair("page", &p.to_string());
        format!("/console/sms/messages?{}", q.finish())
    };
    let content = html! {
        p { a href="/console/sms" #sms-back { (ui.t("← SMS", "← SMS")) } }
        form.row #sms-messages-filter method="get" action="/console/sms/messages" {
            input type="search" name="phone" placeholder=(ui.t("Phone", "Телефон")) aria-label=(ui.t("Phone", "Телефон")) value=(phone);
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        p.muted #sms-messages-total { (ui.t("Messages: ", "Сообщений: ")) (total) }
        (messages_table(ui, &rows))
        (pager.nav(ui, total, link))
    };
    Ok(page(
        &c,
        status,
        ui.t("SMS messages", "SMS-сообщения"),
        notice,
        content,
    ))
}

const STATUSES: [ActivationStatus; 5] = [
    ActivationStatus::Active,
    ActivationStatus::CodeReceived,
    ActivationStatus::Completed,
    ActivationStatus::Expired,
    ActivationStatus::Canceled,
];

fn status_name(ui: crate::web::i18n::Ui, s: &str) -> &str {
    match s {
        "active" => ui.t("waiting", "ожидает"),
        "code_received" => ui.t("code received", "код получен"),
        "completed" => ui.t("completed", "завершена"),
        "expired" => ui.t("expired", "истекла"),
        "canceled" => ui.t("canceled", "отменена"),
        other => other,
    }
}

/// Every activation, newest first, 50 a page, optionally in one status.
pub async fn activations(
    State(state): State<AppState>,
    c: Console,
    Query(q): Query<StatusQuery>,
) -> Result<Response, ConsoleError> {
    c.allowed(Permission::Read)?;
    let ui = c.ui();
    let pager = Pager::of(q.page.as_deref());
    let status_text = q.status.trim();
    let status = if status_text.is_empty() {
        Ok(None)
    } else {
        ActivationStatus::parse(status_text).map(Some).ok_or(())
    };
    let (rows, total, notice, code) = match status {
        Ok(s) => {
            let (rows, total) = state
                .store
                .sms_activation_page(s.map(|s| s.as_str()), pager.offset(), PAGE)
                .await?;
            (rows, total, Notice::None, StatusCode::OK)
        }
        Err(()) => (
            Vec::new(),
            0,
            Notice::Error(ui.t("No such status.", "Нет такого статуса.").to_owned()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    };
    let link = |p: i64| {
        let mut q = form_urlencoded::Serializer::new(String::new());
        if !status_text.is_empty() {
            q.append_pair("status", status_text);
        }
        q.append_pair("page", &p.to_string());
        format!("/console/sms/activations?{}", q.finish())
    };
    let content = html! {
        p { a href="/console/sms" #sms-back { (ui.t("← SMS", "← SMS")) } }
        form.row #sms-activations-filter method="get" action="/console/sms/activations" {
            select name="status" aria-label=(ui.t("Status", "Статус")) {
                option value="" { (ui.t("every status", "все статусы")) }
                @for s in STATUSES { option value=(s.as_str()) selected[s.as_str() == status_text] { (status_name(ui, s.as_str())) } }
            }
            button type="submit" { (ui.t("Show", "Показать")) }
        }
        p.muted #sms-activations-total { (ui.t("Activations: ", "Активаций: ")) (total) }
        div.scroll { table #sms-activations {
            thead { tr {
                th { (ui.t("Order", "Заказ")) } th { (ui.t("Phone", "Телефон")) } th { (ui.t("Country", "Страна")) }
                th { (ui.t("Status", "Статус")) } th.num { (ui.t("Price", "Цена")) } th { (ui.t("Code", "Код")) }
                th { (ui.t("Upstream", "Поставщик")) } th { (ui.t("Rented", "Арендован")) } th { (ui.t("Until", "До")) }
            } }
            tbody {
                @for a in &rows { tr {
                    td { a href=(format!("/console/orders/{}", a.order_id)) { (a.order_id) } }
                    td { (a.phone) } td { (a.country_code) } td.status { (status_name(ui, &a.status)) }
                    td.num { (Money::from_micros(a.price).display4()) } td { (a.code.as_deref().unwrap_or("")) }
                    td { (a.upstream_state) } td { (when(a.created_at)) } td { (when(a.expires_at)) }
                } }
                @if rows.is_empty() { tr { td colspan="9" .muted { (ui.t("None.", "Нет.")) } } }
            }
        } }
        (pager.nav(ui, total, link))
    };
    Ok(page(
        &c,
        code,
        ui.t("SMS activations", "SMS-активации"),
        notice,
        content,
    ))
}
