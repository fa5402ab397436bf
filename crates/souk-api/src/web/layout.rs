//! The frame every page shares: header with navigation and language switch, notices,
//! and the response that carries a page (private, never cached).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use super::session::Visitor;

/// A message shown above a page's content.
pub enum Notice {
    None,
    Ok(String),
    Error(String),
}

impl Notice {
    pub fn render(&self) -> Markup {
        match self {
            Notice::None => html! {},
            Notice::Ok(text) => html! { p.notice.ok #notice role="status" { (text) } },
            Notice::Error(text) => html! { p.notice.error #notice role="alert" { (text) } },
        }
    }
}

/// 303 to a local path.
pub fn see_other(path: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(path) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// The whole document around `content`.
pub fn document(v: &Visitor, title: &str, content: Markup) -> Markup {
    framed(v, title, content, None)
}

/// `document` that reloads itself every `secs` seconds (a page watching something that
/// changes on its own, like a payment's state): a `<meta http-equiv="refresh">`, no script.
pub fn document_refreshing(v: &Visitor, title: &str, content: Markup, secs: u32) -> Markup {
    framed(v, title, content, Some(secs))
}

fn framed(v: &Visitor, title: &str, content: Markup, refresh: Option<u32>) -> Markup {
    let ui = v.ui;
    let switch_to = |code: &str| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &v.here)
            .finish();
        format!("/ui/{code}?{query}")
    };
    html! {
        (DOCTYPE)
        html lang=(ui.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if let Some(secs) = refresh { meta http-equiv="refresh" content=(secs); }
                title { (title) " · Souk" }
                link rel="stylesheet" href="/assets/app.css";
            }
            body {
                header.top {
                    a.brand href="/" { "Souk" }
                    nav {
                        a href="/api-docs" { (ui.t("API docs", "Документация API")) }
                        a href="/shop" { (ui.t("Shop", "Магазин")) }
                        a href="/sms" #nav-sms-rent { (ui.t("Numbers", "Номера")) }
                        @if let Some(s) = &v.session {
                            a href="/account" { (ui.t("Account", "Аккаунт")) }
                            a href="/account/funds" #nav-funds { (ui.t("Add funds", "Пополнить")) }
                            a href="/account/orders" { (ui.t("Orders", "Заказы")) }
                            a href="/account/sms" { "SMS" }
                            a href="/account/favourites" #nav-favourites { (ui.t("Favourites", "Избранное")) }
                            @if s.is_supplier { a href="/desk" #nav-desk { (ui.t("Supplier desk", "Кабинет поставщика")) } }
                            form.inline method="post" action="/signout" {
                                input type="hidden" name="csrf" value=(v.csrf());
                                button.link type="submit" #signout title=(s.email) { (ui.t("Sign out", "Выйти")) }
                            }
                        } @else {
                            a href="/signin" #nav-signin { (ui.t("Sign in", "Войти")) }
                            a href="/signup" #nav-signup { (ui.t("Sign up", "Регистрация")) }
                        }
                    }
                    span.langs {
                        a href=(switch_to("en")) .current[ui.code() == "en"] #ui-en { "EN" }
                        " · "
                        a href=(switch_to("ru")) .current[ui.code() == "ru"] #ui-ru { "RU" }
                    }
                }
                main { (content) }
                footer { "Souk · " a href="/openapi.json" { "OpenAPI" } " · " a href="/healthz" { "healthz" } }
                script src="/assets/app.js" defer {}
            }
        }
    }
}

/// A rendered page: private to this visitor, never stored by caches.
pub fn respond(v: &Visitor, status: StatusCode, document: Markup) -> Response {
    let mut response = (status, Html(document.into_string())).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    v.finish(response)
}

/// A timestamp in milliseconds as `2026-12-01 21:44 UTC`.
pub fn when(ms: i64) -> String {
    let iso = souk_core::clock::iso_millis(ms);
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}
