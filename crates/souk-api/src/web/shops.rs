//! `/shop/shops/{id}`: one shop as buyers see it (SPEC 6: the name masked): its rating,
//! its recent reviews and its listings.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use souk_core::catalogue::mask_shop_name;

use super::error::{PagePath, WebError};
use super::layout::{document, respond, when};
use super::session::Visitor;
use crate::state::AppState;

/// How many reviews a shop page shows.
const REVIEWS: i64 = 20;

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<String>,
) -> Result<Response, WebError> {
    let snapshot = state.cache.get();
    let catalogue = &snapshot.catalogue;
    let shop = catalogue.shop(&id).ok_or(WebError::NotFound)?;
    let reviews = state.store.shop_reviews(&shop.id, REVIEWS).await?;
    let ui = visitor.ui;
    let lang = ui.catalogue_lang();
    let currency = &state.config.currency;
    let name = mask_shop_name(&shop.name);
    let listings: Vec<_> = catalogue
        .services
        .iter()
        .filter(|s| *s.shop_id == *shop.id)
        .collect();
    let content = html! {
        p { a href="/shop" { "← " (ui.t("Shop", "Магазин")) } }
        h1 #shop-name { (name) }
        p.big { "★ " strong #shop-rating { (format!("{:.1}", shop.rating())) } " · " span #review-count { (shop.review_count) } " " (ui.t("reviews", "отзывов")) " · " (catalogue.product_count(&shop.id)) " " (ui.t("products", "товаров")) }
        section #shop-reviews {
            h2 { (ui.t("Reviews", "Отзывы")) }
            @if reviews.is_empty() { p.muted { (ui.t("No reviews yet.", "Отзывов пока нет.")) } }
            @for r in &reviews {
                blockquote.review {
                    p { span.stars role="img" aria-label={(r.rating) "/5"} { @for _ in 0..r.rating { "★" } } " " span.muted { (when(r.created_at)) }
                        @if let Some(n) = r.service_number { " · " a href={"/shop/s/" (n)} { "#" (n) } } }
                    @if !r.text.is_empty() { p.review-text { (r.text) } }
                }
            }
        }
        section #listings {
            h2 { (ui.t("Listings", "Товары и услуги")) }
            ul.listings {
                @for s in &listings {
                    li { a href={"/shop/s/" (s.number)} { (s.name.get(lang)) } " — " (s.rate().display2()) " " (currency) span.muted { " · " (ui.t("stock", "в наличии")) " " (s.stock()) } }
                }
            }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(&visitor, &name, content),
    ))
}
