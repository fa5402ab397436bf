//! `/` and `/api-docs`: every `/api/v2` action with its parameters, example request and
//! response, the languages and the error catalogue, and the Test API panel. The actions
//! are described once, in `assets/actions.json`: this page, the panel's form (the same
//! JSON, read by `app.js`) and `/openapi.json` are all generated from it.

use std::sync::OnceLock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup, PreEscaped};
use serde::Deserialize;
use serde_json::Value;
use souk_core::{ApiError, Lang};

use super::error::WebError;
use super::i18n::Ui;
use super::layout::{document, respond};
use super::session::Visitor;
use crate::state::AppState;

pub const ACTIONS_JSON: &str = include_str!("assets/actions.json");

/// A text in the pages' two languages.
#[derive(Debug, Deserialize)]
pub struct Tr {
    pub en: String,
    pub ru: String,
}

impl Tr {
    pub fn get(&self, ui: Ui) -> &str {
        ui.t(&self.en, &self.ru)
    }
}

#[derive(Debug, Deserialize)]
pub struct Param {
    pub name: String,
    pub required: bool,
    pub kind: String,
    #[serde(default)]
    pub example: String,
    #[serde(default)]
    pub choices: Vec<String>,
    pub desc: Tr,
}

#[derive(Debug, Deserialize)]
pub struct Action {
    pub action: String,
    pub group: String,
    /// Takes the `lang` parameter.
    pub lang: bool,
    pub title: Tr,
    pub summary: Tr,
    pub params: Vec<Param>,
    /// Example parameters besides `key` and `action`.
    pub example: serde_json::Map<String, Value>,
    pub response: Value,
}

#[derive(Debug, Deserialize)]
pub struct Group {
    pub id: String,
    pub title: Tr,
}

#[derive(Debug, Deserialize)]
pub struct Actions {
    pub common: Vec<Param>,
    pub lang_param: Param,
    pub groups: Vec<Group>,
    pub actions: Vec<Action>,
}

/// The parsed description (checked by a test, so it cannot fail in a build that passed).
pub fn actions() -> &'static Actions {
    static ACTIONS: OnceLock<Actions> = OnceLock::new();
    ACTIONS.get_or_init(|| {
        serde_json::from_str(ACTIONS_JSON).unwrap_or_else(|e| panic!("actions.json: {e}"))
    })
}

/// `https://host/api/v2` as this request reached us.
pub fn endpoint(state: &AppState, headers: &HeaderMap) -> String {
    format!("{}/api/v2", origin(state, headers))
}

/// `https://host` as this request reached us.
pub fn origin(state: &AppState, headers: &HeaderMap) -> String {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = super::session::came_over_https(state, headers);
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Where the outside world reaches this installation: `SOUK_PUBLIC_URL`, else the
/// address this request came to.
pub fn public_url(state: &AppState, headers: &HeaderMap) -> String {
    match &state.config.public_url {
        Some(url) => url.clone(),
        None => origin(state, headers),
    }
}

/// The curl command for `params`, as the seed prints it.
fn curl(endpoint: &str, action: &str, params: &serde_json::Map<String, Value>) -> String {
    let mut out = format!(
        "curl -X POST {endpoint} \\\n  -d \"key=YOUR_API_KEY\" \\\n  -d \"action={action}\""
    );
    for (k, v) in params {
        let v = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push_str(&format!(" \\\n  -d \"{k}={v}\""));
    }
    out
}

fn pretty(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// The description embedded for `app.js`; `</` is escaped so it cannot close the element.
fn embedded_json() -> PreEscaped<String> {
    PreEscaped(ACTIONS_JSON.replace("</", "<\\/"))
}

fn params_table(ui: Ui, a: &Action) -> Markup {
    let d = actions();
    html! {
        table.params {
            thead { tr { th { (ui.t("Parameter", "Параметр")) } th { (ui.t("Description", "Описание")) } th { (ui.t("Required", "Обязателен")) } } }
            tbody {
                @for p in &d.common { tr { td { code { (p.name) } } td { (p.desc.get(ui)) } td { (ui.t("Yes", "Да")) } } }
                tr { td { code { "action" } } td { code { (a.action) } } td { (ui.t("Yes", "Да")) } }
                @for p in a.params.iter().chain(a.lang.then_some(&d.lang_param)) {
                    tr {
                        td { code { (p.name) } }
                        td { (p.desc.get(ui)) }
                        td { @if p.required { (ui.t("Yes", "Да")) } @else { (ui.t("No", "Нет")) } }
                    }
                }
            }
        }
    }
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ui = visitor.ui;
    let d = actions();
    let endpoint = endpoint(&state, &headers);
    let key = match &visitor.session {
        Some(s) => state.store.visible_key(&s.user_id).await?,
        None => None,
    };
    let content = html! {
        h1 { "Souk API v2" }
        p.lead { (ui.t(
            "One endpoint for the catalogue, orders, balance and SMS verification. Compatible with HstockPlus API v2 and PerfectPanel clients.",
            "Одна точка входа для каталога, заказов, баланса и SMS-верификации. Совместимо с клиентами HstockPlus API v2 и PerfectPanel."
        )) }
        section.card #your-key {
            h2 { (ui.t("Your API key", "Ваш API ключ")) }
            @match (&visitor.session, &key) {
                (Some(_), Some(k)) => {
                    p { code.secret #key-masked data-secret=(k) { (mask(k)) } " " button.small type="button" data-reveal="key-masked" { (ui.t("Show", "Показать")) } }
                }
                (Some(_), None) => {
                    p { (ui.t("Your key was issued outside the web pages and is kept only as a digest. ", "Ваш ключ выдан вне сайта и хранится только как хэш. ")) a href="/account" { (ui.t("Issue a new key", "Выпустить новый ключ")) } }
                }
                _ => {
                    p { a href="/signin?next=/api-docs" { (ui.t("Sign in", "Войдите")) } (ui.t(" and the Test API uses your key.", ", и Test API подставит ваш ключ.")) }
                }
            }
        }
        section.card #test-api data-endpoint=(endpoint) data-key=[key.as_deref()] {
            h2 { "Test API" }
            p { (ui.t(
                "Select an action, fill in parameters, and send a request. When signed in, your API key is filled in for you.",
                "Выберите действие, заполните параметры и отправьте запрос. После входа ваш API ключ подставляется сам."
            )) }
            noscript { p.notice.error { (ui.t("The Test API needs JavaScript; the examples below work with curl.", "Для Test API нужен JavaScript; примеры ниже работают с curl.")) } }
            div.grid {
                label for="ta-action" { (ui.t("Action", "Действие")) }
                select #ta-action name="action" {
                    @for g in &d.groups {
                        optgroup label=(g.title.get(ui)) {
                            @for a in d.actions.iter().filter(|a| a.group == g.id) {
                                option value=(a.action) { (a.action) " — " (a.title.get(ui)) }
                            }
                        }
                    }
                }
                label for="ta-key" { "key" }
                div.row {
                    input #ta-key type="password" name="key" autocomplete="off" spellcheck="false" placeholder="YOUR_API_KEY";
                    label.check { input #ta-reveal type="checkbox"; " " (ui.t("show key", "показать ключ")) }
                }
            }
            div.grid #ta-params {}
            p.hint { (ui.t("Updates automatically when you change action or parameters.", "Обновляется автоматически при смене действия или параметров.")) }
            pre.code #ta-curl {}
            p { button #ta-send type="button" { (ui.t("Send", "Отправить")) } " " span #ta-meta {} }
            pre.code #ta-response {}
            script type="application/json" #ta-actions { (embedded_json()) }
        }
        section #endpoint {
            h2 { (ui.t("API endpoint", "API эндпоинт")) }
            pre.code { (endpoint) }
            p { (ui.t(
                "Send requests as HTTP POST (form, multipart or a JSON object; GET with a query string works too). Every API outcome, errors included, is HTTP 200 with JSON; 413 means a body over 1 MiB, 429 too many requests, 500 an internal fault.",
                "Запросы отправляются HTTP POST (форма, multipart или JSON-объект; GET со строкой запроса тоже работает). Любой ответ API, включая ошибки, — HTTP 200 с JSON; 413 — тело больше 1 МиБ, 429 — слишком много запросов, 500 — внутренняя ошибка."
            )) }
            p { (ui.t("Machine-readable: ", "Для программ: ")) a href="/openapi.json" { "/openapi.json" } (ui.t(" (buyer, supplier and operator APIs). sms-activate clients: ", " (API покупателя, поставщика и оператора). Клиенты sms-activate: ")) code { "/stubs/handler_api.php" } "." }
        }
        section #languages {
            h2 { (ui.t("Optional language (lang)", "Язык ответа (lang)")) }
            p { (d.lang_param.desc.get(ui)) }
            p.codes { @for l in Lang::ALL.iter().filter(|l| **l != Lang::En) { code { (l.code()) } " " } code { "en" } (ui.t(" (default — omit lang or use en)", " (по умолчанию — без lang или en)")) }
            p { (ui.t("Alias: jp is accepted as ja. Read actions: ", "Псевдоним: jp принимается как ja. Действия чтения: "))
                @for a in d.actions.iter().filter(|a| a.lang) { code { (a.action) } " " } }
            p { (ui.t("category and subcategory filters always use canonical English names, even when lang is set.", "Фильтры category и subcategory всегда принимают английские названия, даже при заданном lang.")) }
        }
        @for g in &d.groups {
            section.group #{"group-" (g.id)} {
                h2 { (g.title.get(ui)) }
                @for a in d.actions.iter().filter(|a| a.group == g.id) {
                    article.action #{"action-" (a.action)} {
                        h3 { (a.title.get(ui)) " " code { (a.action) } }
                        p { (a.summary.get(ui)) }
                        (params_table(ui, a))
                        h4 { (ui.t("Example request", "Пример запроса")) }
                        pre.code { (curl(&endpoint, &a.action, &a.example)) }
                        h4 { (ui.t("Example response", "Пример ответа")) }
                        pre.code { (pretty(&a.response)) }
                    }
                }
            }
        }
        section #statuses {
            h2 { (ui.t("Order statuses", "Статусы заказа")) }
            p { @for s in ["Pending", "In progress", "Completed", "Partial", "Canceled"] { code { (s) } " " } }
        }
        section #errors {
            h2 { (ui.t("Error responses", "Ответы об ошибках")) }
            p { (ui.t("Every error is {\"error\": \"...\"} with one of these messages (numbers vary).", "Ошибка — это {\"error\": \"...\"} с одним из этих сообщений (числа меняются).")) }
            ul.errors {
                @for e in ApiError::examples() {
                    li { code { (serde_json::json!({"error": e.to_string()}).to_string()) } }
                }
            }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(
            &visitor,
            ui.t("API documentation", "Документация API"),
            content,
        ),
    ))
}

/// The first 6 characters and dots: enough to recognise a key, not to use it.
pub fn mask(key: &str) -> String {
    let head: String = key.chars().take(6).collect();
    format!("{head}••••••••")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_description_parses_and_covers_every_action() {
        let d = actions();
        let names: Vec<&str> = d.actions.iter().map(|a| a.action.as_str()).collect();
        for a in [
            "categories",
            "subcategory_info",
            "shops",
            "products",
            "services",
            "inventory",
            "add",
            "status",
            "cancel",
            "allowcancel",
            "refill",
            "refill_status",
            "dispute",
            "review",
            "balance",
            "sms_projects",
            "sms_countries",
            "add_sms",
            "sms_code",
            "sms_status",
        ] {
            assert!(names.contains(&a), "{a} is not documented");
        }
        for a in &d.actions {
            assert!(
                d.groups.iter().any(|g| g.id == a.group),
                "{}: unknown group",
                a.action
            );
        }
    }

    #[test]
    fn masks_keys() {
        assert_eq!(mask("0123456789abcdef"), "012345••••••••");
    }
}
