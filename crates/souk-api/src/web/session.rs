//! Who is asking: the session cookie (a random token; only its digest is stored), the
//! pages' language, and the token every form must echo back (CSRF): the session's own
//! when signed in, else a random cookie of its own (double submit) for sign-in and sign-up.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use souk_core::secret::constant_time_eq;
use souk_store::WebSession;

use super::error::WebError;
use super::i18n::{Ui, UI_COOKIE};
use crate::state::{AppState, CookieSecure};

pub const SESSION_COOKIE: &str = "souk_session";
pub const CSRF_COOKIE: &str = "souk_csrf";
/// How long a sign-in lasts.
pub use souk_app::sessions::SESSION_MS;

pub struct Visitor {
    pub ui: Ui,
    pub session: Option<WebSession>,
    token: Option<String>,
    anonymous_csrf: String,
    fresh_anonymous_csrf: bool,
    secure: bool,
    /// The path and query asked for (to come back after signing in).
    pub here: String,
}

pub use souk_app::sessions::random_token;

fn well_formed(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// Whether the request reached us over TLS. Souk itself serves plain HTTP, so only a
/// trusted proxy (`SOUK_TRUSTED_PROXY_HOPS`) can say so, with `X-Forwarded-Proto: https`;
/// from anyone else the header could be forged. The outermost trusted proxy is the one
/// that saw the client's scheme: its entry is `hops` from the right, like its address.
pub fn came_over_https(state: &AppState, headers: &HeaderMap) -> bool {
    let hops = state.config.trusted_proxy_hops;
    if hops == 0 {
        return false;
    }
    let schemes: Vec<&str> = headers
        .get_all("x-forwarded-proto")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    schemes
        .get(schemes.len().saturating_sub(hops))
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Whether cookies get `Secure`. `Auto` follows the request's own scheme: a browser drops
/// a `Secure` cookie set over plain HTTP (to `http://10.0.0.5:8080` as much as to
/// localhost), which would make signing in impossible there.
pub fn secure_cookies(state: &AppState, headers: &HeaderMap) -> bool {
    match state.config.cookie_secure {
        CookieSecure::Always => true,
        CookieSecure::Never => false,
        CookieSecure::Auto => came_over_https(state, headers),
    }
}

/// A `Set-Cookie` value: HttpOnly (no page script reads any of ours), SameSite=Lax,
/// Secure when `secure`.
pub fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; Max-Age={max_age_secs}; HttpOnly; SameSite=Lax{secure}"
    ))
    .ok()
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let headers = &parts.headers;
        let ui = Ui::choose(
            cookie(headers, UI_COOKIE),
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok()),
        );
        let token = cookie(headers, SESSION_COOKIE)
            .filter(|t| well_formed(t))
            .map(str::to_owned);
        let session = match &token {
            Some(t) => state
                .store
                .session(t, state.now())
                .await?
                .filter(|s| s.active()),
            None => None,
        };
        let (anonymous_csrf, fresh_anonymous_csrf) = match cookie(headers, CSRF_COOKIE) {
            Some(t) if well_formed(t) => (t.to_owned(), false),
            _ => (random_token(), true),
        };
        let secure = secure_cookies(state, headers);
        Ok(Visitor {
            ui,
            session,
            token,
            anonymous_csrf,
            fresh_anonymous_csrf,
            secure,
            here: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
        })
    }
}

impl Visitor {
    /// The token this visitor's forms carry.
    pub fn csrf(&self) -> &str {
        self.session
            .as_ref()
            .map_or(self.anonymous_csrf.as_str(), |s| s.csrf_token.as_str())
    }

    /// Refuses a form that does not echo this visitor's token.
    pub fn check_csrf(&self, sent: Option<&str>) -> Result<(), WebError> {
        match sent {
            Some(s) if !self.fresh_anonymous_csrf || self.session.is_some() => {
                if constant_time_eq(s.trim().as_bytes(), self.csrf().as_bytes()) {
                    Ok(())
                } else {
                    Err(WebError::Csrf)
                }
            }
            _ => Err(WebError::Csrf),
        }
    }

    /// The signed-in user, or a redirect to sign in and come back here.
    pub fn user(&self) -> Result<&WebSession, WebError> {
        self.session
            .as_ref()
            .ok_or_else(|| WebError::SignIn(self.here.clone()))
    }

    /// The session cookie's token (to end the session).
    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// A `Set-Cookie` value under this request's `Secure` policy.
    pub fn cookie(&self, name: &str, value: &str, max_age_secs: i64) -> Option<HeaderValue> {
        set_cookie(name, value, max_age_secs, self.secure)
    }

    /// Adds the anonymous CSRF cookie when this visit made it up.
    pub fn finish(&self, mut response: Response) -> Response {
        if self.fresh_anonymous_csrf && self.session.is_none() {
            if let Some(v) = self.cookie(CSRF_COOKIE, &self.anonymous_csrf, 24 * 3600) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; souk_ui=ru; b=2"),
        );
        assert_eq!(cookie(&h, "souk_ui"), Some("ru"));
        assert_eq!(cookie(&h, "c"), None);
    }
}
