//! What a page answers when it cannot show itself. Input a person can fix is not an error
//! here: pages show it next to the form (see `layout::Notice`).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;
use souk_core::{ApiError, Params};
use souk_store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not signed in: go to sign-in, then back to this path.
    #[error("sign in first")]
    SignIn(String),
    #[error("forbidden")]
    Forbidden,
    #[error("the form's token did not match")]
    Csrf,
    /// A path that names nothing (`/desk/orders/abc/deliver`).
    #[error("no such page")]
    NotFound,
    /// A form no page of ours sends: unreadable, or text the input rule refuses.
    #[error("bad form: {0}")]
    BadForm(souk_core::ApiError),
    #[error("store: {0}")]
    Store(StoreError),
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        if e.is_bad_text() {
            // A field the input rule should have caught: bad input, not our fault.
            WebError::BadForm(ApiError::InvalidCharacters("a text field".into()))
        } else {
            WebError::Store(e)
        }
    }
}

pub(super) fn bare_page(status: StatusCode, en: &str, ru: &str) -> Response {
    let body = maud::html! {
        (maud::DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; meta name="viewport" content="width=device-width, initial-scale=1"; title { "Souk" } link rel="stylesheet" href="/assets/app.css"; }
            body { main.narrow { h1 { (status.as_u16()) } p.notice.error { (en) } p.notice.error lang="ru" { (ru) } p { a href="/" { "Souk" } } } }
        }
    };
    (status, Html(body.into_string())).into_response()
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        match self {
            WebError::SignIn(next) => {
                let query: String =
                    form_urlencoded::Serializer::new(String::new()).append_pair("next", &next).finish();
                super::layout::see_other(&format!("/signin?{query}"))
            }
            WebError::Forbidden => bare_page(
                StatusCode::FORBIDDEN,
                "This page is for suppliers: ask the operator to open a shop for your account.",
                "Эта страница для поставщиков: попросите оператора открыть магазин для вашего аккаунта.",
            ),
            WebError::Csrf => bare_page(
                StatusCode::FORBIDDEN,
                "The form expired or came from another site. Go back, reload the page and try again.",
                "Форма устарела или отправлена с другого сайта. Вернитесь, обновите страницу и повторите.",
            ),
            WebError::NotFound => super::not_found(),
            WebError::BadForm(e) => bare_page(
                StatusCode::BAD_REQUEST,
                &super::refusal::api(super::i18n::Ui::En, &e),
                &super::refusal::api(super::i18n::Ui::Ru, &e),
            ),
            WebError::Store(e) => {
                tracing::error!(error = %e, "web page failed");
                bare_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side. Please try again.",
                    "Что-то пошло не так на нашей стороне. Попробуйте ещё раз.",
                )
            }
        }
    }
}

/// axum's `Form` for pages, under the input rule (`souk_core::input`): a form with a
/// NUL or another control character (tab and newline aside) is refused whole, naming the
/// field, before a handler sees it; so is one no page of ours could have sent.
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request(req: Request, state: &S) -> Result<Self, WebError> {
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| WebError::BadForm(ApiError::BodyUnreadable))?;
        Params::from_form(&bytes).map_err(WebError::BadForm)?;
        serde_urlencoded::from_bytes(&bytes)
            .map(PageForm)
            .map_err(|_| WebError::BadForm(ApiError::InvalidForm))
    }
}

/// axum's `Path` for pages: a segment that does not parse (a word where an order number
/// goes) is the site's 404 page, not axum's plain-text 400.
pub struct PagePath<T>(pub T);

impl<S, T> FromRequestParts<S> for PagePath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, WebError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| PagePath(value))
            .map_err(|_| WebError::NotFound)
    }
}
