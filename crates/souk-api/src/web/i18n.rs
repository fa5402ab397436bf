//! The pages' own language (English or Russian, the seed's two), chosen by a cookie set
//! from the header's switch, else by `Accept-Language`. Separate from the API's `lang`.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::state::AppState;

pub const UI_COOKIE: &str = "souk_ui";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ui {
    En,
    Ru,
}

impl Ui {
    pub fn parse(code: &str) -> Option<Ui> {
        match code.trim().to_ascii_lowercase().as_str() {
            "en" => Some(Ui::En),
            "ru" => Some(Ui::Ru),
            _ => None,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Ui::En => "en",
            Ui::Ru => "ru",
        }
    }

    /// The text in this language.
    pub fn t<'a>(self, en: &'a str, ru: &'a str) -> &'a str {
        match self {
            Ui::En => en,
            Ui::Ru => ru,
        }
    }

    /// The catalogue language that matches (names in the shop and account pages).
    pub fn catalogue_lang(self) -> souk_core::Lang {
        match self {
            Ui::En => souk_core::Lang::En,
            Ui::Ru => souk_core::Lang::Ru,
        }
    }

    pub fn choose(cookie: Option<&str>, accept_language: Option<&str>) -> Ui {
        if let Some(ui) = cookie.and_then(Ui::parse) {
            return ui;
        }
        let first = accept_language
            .and_then(|a| a.split(',').next())
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if first.starts_with("ru") {
            Ui::Ru
        } else {
            Ui::En
        }
    }
}

/// A local path to return to: never another origin.
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(p) if is_local_path(p) => p.to_owned(),
        _ => "/".to_owned(),
    }
}

/// A path on this site and nothing a browser could read as another origin: it starts
/// with one `/`, and holds no backslash (read as `/`), no space or control character
/// (browsers drop tabs and newlines, so `/\t/evil.example` is `//evil.example`), and
/// nothing outside printable ASCII.
fn is_local_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.starts_with("//")
        && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
}

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /ui/{en|ru}?next=/path`: remembers the choice for a year and goes back. The
/// cookie has the session cookie's flags: the pages' script never reads it. A signed-in
/// user's choice is also theirs for messages sent outside the pages (Telegram).
pub async fn switch(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: super::session::Visitor,
    Path(code): Path<String>,
    Query(q): Query<Next>,
) -> Response {
    let Some(ui) = Ui::parse(&code) else {
        return (StatusCode::NOT_FOUND, "Unknown language").into_response();
    };
    if let Some(s) = &visitor.session {
        // The switch works even if this cannot be stored: the pages follow the cookie.
        if let Err(e) = state.store.set_user_lang(&s.user_id, ui.code()).await {
            tracing::warn!(error = %e, "remembering a user's language failed");
        }
    }
    let secure = super::session::secure_cookies(&state, &headers);
    let mut response = super::layout::see_other(&safe_next(q.next.as_deref()));
    if let Some(v) = super::session::set_cookie(UI_COOKIE, ui.code(), 365 * 24 * 3600, secure) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chooses_cookie_then_header() {
        assert_eq!(Ui::choose(Some("ru"), Some("en-US")), Ui::Ru);
        assert_eq!(Ui::choose(None, Some("ru-RU,ru;q=0.9")), Ui::Ru);
        assert_eq!(Ui::choose(Some("xx"), Some("de")), Ui::En);
    }

    #[test]
    fn next_stays_local() {
        assert_eq!(safe_next(Some("/account")), "/account");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
        // Browsers drop tabs and newlines: each of these would be `//evil.example`.
        for sneaky in [
            "/\t/evil.example",
            "/\n/evil.example",
            "/\r/evil.example",
            "/ /evil",
        ] {
            assert_eq!(safe_next(Some(sneaky)), "/", "{sneaky:?}");
        }
        assert_eq!(safe_next(Some("/\u{0}/x")), "/");
        assert_eq!(safe_next(Some("/sh\u{f6}p")), "/");
        assert_eq!(
            safe_next(Some("/account/orders?placed=5")),
            "/account/orders?placed=5"
        );
    }
}
