//! `/account/favourites`: the services a buyer marked, each with its page one click away
//! and "order again" from their last order of it.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use souk_core::id::ServiceRef;

use super::error::WebError;
use super::layout::{document, respond};
use super::session::Visitor;
use crate::state::AppState;

/// How far back "order again" looks for the buyer's last order of a service.
const RECENT: i64 = 200;

pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let lang = ui.catalogue_lang();
    let numbers = state.store.favourites(&user.user_id).await?;
    let recent = state.store.recent_orders(&user.user_id, RECENT).await?;
    let snapshot = state.cache.get();
    let currency = &state.config.currency;
    let content = html! {
        h1 { (ui.t("Favourites", "Избранное")) }
        @if numbers.is_empty() {
            p.muted #no-favourites { (ui.t("Nothing here yet: mark a service with ☆ on its page.", "Пока пусто: отметьте услугу ☆ на её странице.")) }
        }
        ul.favourites {
            @for n in &numbers {
                li #{"favourite-" (n)} {
                    @if let Some(s) = snapshot.catalogue.service(&ServiceRef::Number(*n)) {
                        a href={"/shop/s/" (n)} { (s.name.get(lang)) } " — " (s.rate().display2()) " " (currency)
                        @if let Some(last) = recent.iter().find(|o| o.service_number == Some(*n)) {
                            " · " a.order-again href={"/account/orders/" (last.id)} { (ui.t("last order", "последний заказ")) " #" (last.id) }
                        }
                    } @else {
                        "#" (n) " " span.muted { (ui.t("no longer on sale", "больше не продаётся")) }
                    }
                }
            }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(&visitor, ui.t("Favourites", "Избранное"), content),
    ))
}
