//! `/shop`: the catalogue for people, with a buy form on every row. Buying is the very use
//! case `/api/v2` `add` calls (`souk_app::orders`), with the signed-in user as the buyer;
//! a random key in the form makes a double click one order (the `add` idempotency key).

use super::error::PageForm;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::orders::PlaceOrder;
use souk_core::catalogue::EntityType;
use souk_core::order_input::AddFields;

use super::error::WebError;
use super::layout::{document, respond, see_other, Notice};
use super::session::{random_token, Visitor};
use crate::state::AppState;
use crate::v2::{place_order, Fault};

const PER_PAGE: usize = 30;

#[derive(Deserialize, Default)]
pub struct ShopQuery {
    #[serde(default)]
    q: String,
    page: Option<String>,
}

#[derive(Deserialize)]
pub struct BuyForm {
    csrf: Option<String>,
    #[serde(default)]
    service: String,
    #[serde(default)]
    quantity: String,
    #[serde(default)]
    link: String,
    #[serde(default)]
    idempotency_key: String,
}

fn render(
    state: &AppState,
    v: &Visitor,
    query: &ShopQuery,
    notice: Notice,
    status: StatusCode,
) -> Response {
    let ui = v.ui;
    let lang = ui.catalogue_lang();
    let snapshot = state.cache.get();
    let catalogue = &snapshot.catalogue;
    let needle = query.q.trim().to_lowercase();
    let matching: Vec<_> = catalogue
        .services
        .iter()
        .filter(|s| {
            needle.is_empty()
                || s.name.get(lang).to_lowercase().contains(&needle)
                || s.name.en().to_lowercase().contains(&needle)
                || s.number.to_string() == needle
        })
        .collect();
    let pages = matching.len().div_ceil(PER_PAGE).max(1);
    let current = query
        .page
        .as_deref()
        .and_then(|p| p.trim().parse::<usize>().ok())
        .filter(|p| *p >= 1)
        .unwrap_or(1)
        .min(pages);
    let shown = matching
        .iter()
        .skip((current - 1) * PER_PAGE)
        .take(PER_PAGE);
    let page_link = |n: usize| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("q", &query.q)
            .append_pair("page", &n.to_string())
            .finish();
        format!("/shop?{query}")
    };
    let currency = &state.config.currency;
    let content = html! {
        h1 { (ui.t("Shop", "Магазин")) }
        (notice.render())
        form.row.search method="get" action="/shop" {
            input type="search" name="q" value=(query.q) placeholder=(ui.t("Search by name or number", "Поиск по названию или номеру"));
            button type="submit" { (ui.t("Search", "Найти")) }
        }
        @if v.session.is_none() {
            p.hint { a href="/signin?next=/shop" { (ui.t("Sign in", "Войдите")) } (ui.t(" to buy.", ", чтобы купить.")) }
        }
        @if matching.is_empty() {
            p #no-services { (ui.t("Nothing found.", "Ничего не найдено.")) }
        }
        div.cards {
            @for s in shown {
                @let smm = s.entity == EntityType::Smm;
                article.card.service #{"service-" (s.number)} {
                    h3 { span.muted { "#" (s.number) " " } (s.name.get(lang)) }
                    p.muted {
                        @if let Some(c) = catalogue.category(&s.category_id) { (c.name.get(lang)) " · " }
                        (s.entity.as_str()) " · "
                        @if s.auto_delivery() { (ui.t("instant delivery", "мгновенная выдача")) } @else { (ui.t("delivered by the supplier", "выдаёт поставщик")) }
                    }
                    p {
                        strong { (s.rate().display2()) " " (currency) }
                        @if smm { (ui.t(" per 1000", " за 1000")) } @else { (ui.t(" each", " за шт.")) }
                        " · " (ui.t("stock", "в наличии")) ": " span.stock { (s.stock()) }
                        // The limits `add` checks, as its range message says them; the stock beside them.
                        " · " (ui.t("min", "мин")) " " (s.min()) " / " (ui.t("max", "макс")) " " (s.order_max())
                    }
                    @if v.session.is_some() {
                        form.row.buy method="post" action="/shop/buy" {
                            input type="hidden" name="csrf" value=(v.csrf());
                            input type="hidden" name="service" value=(s.number);
                            input type="hidden" name="idempotency_key" value=(random_token());
                            input type="number" name="quantity" min="1" value=(s.min().max(1)) aria-label=(ui.t("Quantity", "Количество"));
                            input type="text" name="link" maxlength="2000" required[smm]
                                placeholder=(if smm { ui.t("Link (required)", "Ссылка (обязательно)") } else { ui.t("Delivery note (optional)", "Комментарий (необязательно)") });
                            button type="submit" { (ui.t("Buy", "Купить")) }
                        }
                    }
                }
            }
        }
        @if pages > 1 {
            nav.pages {
                @if current > 1 { a href=(page_link(current - 1)) { "←" } }
                span { (current) " / " (pages) }
                @if current < pages { a href=(page_link(current + 1)) { "→" } }
            }
        }
    };
    respond(v, status, document(v, ui.t("Shop", "Магазин"), content))
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(query): Query<ShopQuery>,
) -> Response {
    render(&state, &visitor, &query, Notice::None, StatusCode::OK)
}

pub async fn buy(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<BuyForm>,
) -> Result<Response, WebError> {
    let session = visitor.user()?.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    let key_id = format!("web:{}", session.user_id);
    let command = PlaceOrder {
        user_id: session.user_id.clone(),
        email: session.email.clone(),
        fields: AddFields {
            service: Some(form.service),
            quantity: Some(form.quantity),
            link: Some(form.link),
            ..AddFields::default()
        },
        idempotency_key: Some(form.idempotency_key),
    };
    // A purchase here passes the per-key limit like `add` does: the buyer's web bucket
    // (`web:<user>`) at the per-key rate.
    let placed = if state.key_limiter.allow(&key_id) {
        place_order(&state, command).await
    } else {
        Err(Fault::RateLimited)
    };
    match placed {
        Ok(order) => Ok(see_other(&format!("/account/orders?placed={order}"))),
        Err(Fault::Api(e)) => Ok(render(
            &state,
            &visitor,
            &ShopQuery::default(),
            Notice::Error(super::refusal::api(visitor.ui, &e)),
            StatusCode::UNPROCESSABLE_ENTITY,
        )),
        Err(Fault::Store(e)) => Err(e.into()),
        Err(Fault::RateLimited) => Ok(render(
            &state,
            &visitor,
            &ShopQuery::default(),
            Notice::Error(super::refusal::api(
                visitor.ui,
                &souk_core::ApiError::RateLimited,
            )),
            StatusCode::TOO_MANY_REQUESTS,
        )),
    }
}
