//! The web pages: the API documentation with its live "Test API", sign-up and sign-in, the
//! buyer's account with adding funds, and the supplier's desk. Server-rendered HTML (maud, escaped by
//! construction) with one small plain script; every asset is embedded in the binary.
//!
//! The pages hold no business rules of their own: buying goes through the same order path
//! as `/api/v2` `add`, the desk through the same store calls as the supplier API.

mod account;
mod assets;
mod auth;
mod console;
mod demo_images;
mod desk;
mod docs;
mod error;
mod favourites;
mod funds;
mod i18n;
mod layout;
mod mass_order;
mod notifications;
mod openapi;
mod order;
mod password;
mod refusal;
mod service;
mod session;
mod shop;
mod shops;
mod sms_pages;
mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub use session::random_token;

/// The page for a path that does not exist.
pub fn not_found() -> Response {
    error::bare_page(
        axum::http::StatusCode::NOT_FOUND,
        "There is no such page.",
        "Такой страницы нет.",
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(console::routes())
        .route("/", get(docs::page))
        .route("/api-docs", get(docs::page))
        .route("/openapi.json", get(openapi::document))
        .route("/assets/{name}", get(assets::serve))
        .route("/static/demo/{file}", get(demo_images::serve))
        .route("/ui/{lang}", get(i18n::switch))
        .route("/signup", get(auth::signup_page).post(auth::signup))
        .route("/signin", get(auth::signin_page).post(auth::signin))
        .route("/signout", post(auth::signout))
        .route(
            "/password/forgot",
            get(password::forgot_page_get).post(password::forgot),
        )
        .route(
            "/password/reset",
            get(password::reset_page_get).post(password::reset),
        )
        .route("/email/verify", get(password::verify))
        .route("/account/verify", post(password::resend))
        .route("/account", get(account::overview))
        .route("/account/key", post(account::rotate_key))
        .route("/account/orders", get(account::orders))
        .route("/account/sms", get(account::sms))
        .route(
            "/account/notifications",
            get(notifications::page).post(notifications::save),
        )
        .route(
            "/account/notifications/telegram/link",
            post(notifications::link),
        )
        .route(
            "/account/notifications/telegram/unlink",
            post(notifications::unlink),
        )
        .route("/account/funds", get(funds::page).post(funds::submit))
        .route("/account/payments", get(funds::list))
        .route("/account/payments/{id}", get(funds::payment))
        .route("/account/webhooks", get(webhooks::page).post(webhooks::add))
        .route("/account/webhooks/{id}/delete", post(webhooks::delete))
        .route("/account/webhooks/{id}/test", post(webhooks::test))
        .route("/account/webhooks/{id}/enable", post(webhooks::enable))
        .route(
            "/account/webhooks/{id}/deliveries/{delivery}/resend",
            post(webhooks::resend),
        )
        .route("/shop", get(shop::page))
        .route("/shop/buy", post(shop::buy))
        .route("/shop/s/{number}", get(service::page).post(service::order))
        .route("/shop/s/{number}/favourite", post(service::favourite))
        .route("/shop/shops/{id}", get(shops::page))
        .route("/account/favourites", get(favourites::page))
        .route(
            "/account/mass-order",
            get(mass_order::page).post(mass_order::submit),
        )
        .route("/account/orders/{id}", get(order::page))
        .route("/account/orders/{id}/live", get(order::live))
        .route(
            "/account/orders/{id}/accounts.txt",
            get(order::accounts_txt),
        )
        .route("/account/orders/{id}/cancel", post(order::cancel_order))
        .route("/account/orders/{id}/refill", post(order::refill))
        .route("/account/orders/{id}/dispute", post(order::open_dispute))
        .route("/account/orders/{id}/dispute/{dispute}", post(order::reply))
        .route("/account/orders/{id}/review", post(order::review))
        .route("/sms", get(sms_pages::offers))
        .route("/sms/rent", post(sms_pages::rent))
        .route("/account/sms/{id}", get(sms_pages::activation))
        .route("/account/sms/{id}/live", get(sms_pages::live))
        .route(
            "/account/sms/{id}/cancel",
            post(sms_pages::cancel_activation),
        )
        .route("/account/sms/{id}/another", post(sms_pages::another))
        .route("/account/sms/{id}/complete", post(sms_pages::complete))
        .route("/desk", get(desk::page))
        .route(
            "/desk/stock/{subproduct}",
            post(desk::upload).layer(DefaultBodyLimit::max(desk::UPLOAD_BODY_LIMIT)),
        )
        .route("/desk/orders/{order}/deliver", post(desk::deliver))
        .route("/desk/orders/{order}/fail", post(desk::fail))
        .route("/desk/withdraw", post(desk::withdraw))
        .route(
            "/desk/disputes/{dispute}/message",
            post(desk::dispute_message),
        )
}

/// The page for a client over its rate (the limit itself is `ratelimit`).
pub fn too_many_requests() -> Response {
    error::bare_page(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "Too many requests from your address. Wait a moment and try again.",
        "Слишком много запросов с вашего адреса. Подождите немного и повторите.",
    )
}
