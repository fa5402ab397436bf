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

use std::sync::Arc;

use maud::Markup;
use souk_core::catalogue::{mask_shop_name, Catalogue, Service};
use souk_core::{Lang, Money};

use super::error::WebError;
use super::layout::{document, respond, see_other, Notice};
use super::session::{random_token, Visitor};
use crate::state::AppState;
use crate::v2::{place_order, Fault};

const PER_PAGE: usize = 30;

/// The shop's filters, sorting and search: every one a plain query parameter, so each
/// view of the catalogue is a link that works without script.
#[derive(Deserialize, Default, Clone)]
pub struct ShopQuery {
    #[serde(default)]
    q: String,
    page: Option<String>,
    /// A category or subcategory id.
    #[serde(default)]
    category: String,
    #[serde(default)]
    sub: String,
    /// `product` or `smm`.
    #[serde(default, rename = "type")]
    kind: String,
    /// `instant` or `manual`.
    #[serde(default)]
    delivery: String,
    /// `1`: only what can be bought now.
    #[serde(default)]
    stock: String,
    /// Price bounds, in the currency (`1.50`).
    #[serde(default)]
    min: String,
    #[serde(default)]
    max: String,
    /// `number` (default), `price`, `price_desc`, `name`.
    #[serde(default)]
    sort: String,
}

impl ShopQuery {
    fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("q", self.q.as_str()),
            ("category", &self.category),
            ("sub", &self.sub),
            ("type", &self.kind),
            ("delivery", &self.delivery),
            ("stock", &self.stock),
            ("min", &self.min),
            ("max", &self.max),
            ("sort", &self.sort),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .collect()
    }

    /// This view with `changes` applied (an empty value drops the parameter).
    fn link(&self, changes: &[(&str, &str)]) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .pairs()
            .into_iter()
            .filter(|(k, _)| !changes.iter().any(|(c, _)| c == k))
            .collect();
        pairs.extend(changes.iter().filter(|(_, v)| !v.is_empty()).copied());
        if pairs.is_empty() {
            return "/shop".to_owned();
        }
        let query: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        format!("/shop?{query}")
    }
}

/// A price bound as typed; `Err` when it is not an amount.
fn bound(text: &str) -> Result<Option<Money>, ()> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    Money::parse(text).map(Some).map_err(|_| ())
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

/// Whether `s` matches the search in the buyer's language (or English): names and
/// descriptions, or its number.
fn matches_search(s: &Service, lang: Lang, needle: &str) -> bool {
    needle.is_empty()
        || s.number.to_string() == needle
        || [&s.name, &s.description].iter().any(|t| {
            t.get(lang).to_lowercase().contains(needle) || t.en().to_lowercase().contains(needle)
        })
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
    let (low, high) = (bound(&query.min), bound(&query.max));
    let notice = match (&notice, &low, &high) {
        (Notice::None, Err(()), _) | (Notice::None, _, Err(())) => Notice::Error(
            ui.t(
                "A price must be an amount like 1.50",
                "Цена должна быть суммой, например 1.50",
            )
            .to_owned(),
        ),
        _ => notice,
    };
    let (low, high) = (low.ok().flatten(), high.ok().flatten());
    let entity = EntityType::parse(&query.kind);
    let mut matching: Vec<&Arc<Service>> = catalogue
        .services
        .iter()
        .filter(|s| query.category.is_empty() || *s.category_id == *query.category)
        .filter(|s| query.sub.is_empty() || *s.subcategory_id == *query.sub)
        .filter(|s| entity.is_none_or(|e| s.entity == e))
        .filter(|s| match query.delivery.as_str() {
            "instant" => s.auto_delivery(),
            "manual" => !s.auto_delivery(),
            _ => true,
        })
        .filter(|s| query.stock != "1" || s.available())
        .filter(|s| low.is_none_or(|m| s.rate() >= m) && high.is_none_or(|m| s.rate() <= m))
        .filter(|s| matches_search(s, lang, &needle))
        .collect();
    match query.sort.as_str() {
        "price" => matching.sort_by_key(|s| (s.rate(), s.number)),
        "price_desc" => matching.sort_by_key(|s| (std::cmp::Reverse(s.rate()), s.number)),
        "name" => matching.sort_by_key(|s| (s.name.get(lang).to_lowercase(), s.number)),
        _ => {}
    }
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
    let count_in = |category: &str, sub: Option<&str>| {
        catalogue
            .services
            .iter()
            .filter(|s| {
                *s.category_id == *category && sub.is_none_or(|id| *s.subcategory_id == *id)
            })
            .count()
    };
    let currency = &state.config.currency;
    let title = match (
        catalogue.subcategory(&query.sub),
        catalogue.category(&query.category),
    ) {
        (Some(sc), _) => sc.name.get(lang).to_owned(),
        (None, Some(c)) => c.name.get(lang).to_owned(),
        _ => ui.t("Shop", "Магазин").to_owned(),
    };
    let open_category = catalogue
        .subcategory(&query.sub)
        .map_or(query.category.as_str(), |sc| sc.category_id.as_str());
    let content = html! {
        h1 { (title) }
        (notice.render())
        div.browse {
            nav.categories aria-label=(ui.t("Categories", "Категории")) {
                ul {
                    li { a href=(query.link(&[("category", ""), ("sub", ""), ("page", "")])) .current[open_category.is_empty()] { (ui.t("Everything", "Все")) " " span.count { (catalogue.services.len()) } } }
                    @for c in &catalogue.categories {
                        li {
                            a #{"cat-" (c.id)} href=(query.link(&[("category", &c.id), ("sub", ""), ("page", "")])) .current[query.category == c.id && query.sub.is_empty()] {
                                (c.name.get(lang)) " " span.count { (count_in(&c.id, None)) }
                            }
                            @if open_category == c.id {
                                ul {
                                    @for sc in catalogue.subcategories.iter().filter(|sc| sc.category_id == c.id) {
                                        li { a #{"sub-" (sc.id)} href=(query.link(&[("category", &c.id), ("sub", &sc.id), ("page", "")])) .current[query.sub == sc.id] {
                                            (sc.name.get(lang)) " " span.count { (count_in(&c.id, Some(&sc.id))) }
                                        } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            div {
                form.filters method="get" action="/shop" {
                    @if !query.category.is_empty() { input type="hidden" name="category" value=(query.category); }
                    @if !query.sub.is_empty() { input type="hidden" name="sub" value=(query.sub); }
                    div.row.search {
                        label.sr for="shop-q" { (ui.t("Search", "Поиск")) }
                        input #shop-q type="search" name="q" value=(query.q) placeholder=(ui.t("Search names and descriptions", "Поиск по названиям и описаниям"));
                        button type="submit" { (ui.t("Search", "Найти")) }
                    }
                    div.row.filter-row {
                        label { (ui.t("Type", "Тип")) " "
                            select name="type" {
                                option value="" selected[query.kind.is_empty()] { (ui.t("any", "любой")) }
                                option value="product" selected[query.kind == "product"] { (ui.t("products", "товары")) }
                                option value="smm" selected[query.kind == "smm"] { "SMM" }
                            }
                        }
                        label { (ui.t("Delivery", "Выдача")) " "
                            select name="delivery" {
                                option value="" selected[query.delivery.is_empty()] { (ui.t("any", "любая")) }
                                option value="instant" selected[query.delivery == "instant"] { (ui.t("instant", "мгновенная")) }
                                option value="manual" selected[query.delivery == "manual"] { (ui.t("by the supplier", "поставщиком")) }
                            }
                        }
                        label.check { input type="checkbox" name="stock" value="1" checked[query.stock == "1"]; " " (ui.t("in stock", "в наличии")) }
                        label { (ui.t("Price from", "Цена от")) " " input.price type="text" inputmode="decimal" name="min" value=(query.min) size="6"; }
                        label { (ui.t("to", "до")) " " input.price type="text" inputmode="decimal" name="max" value=(query.max) size="6"; }
                        label { (ui.t("Sort", "Сортировка")) " "
                            select name="sort" {
                                option value="" selected[query.sort.is_empty()] { (ui.t("number", "номер")) }
                                option value="price" selected[query.sort == "price"] { (ui.t("price, low first", "цена по возрастанию")) }
                                option value="price_desc" selected[query.sort == "price_desc"] { (ui.t("price, high first", "цена по убыванию")) }
                                option value="name" selected[query.sort == "name"] { (ui.t("name", "название")) }
                            }
                        }
                        button type="submit" #apply-filters { (ui.t("Apply", "Применить")) }
                    }
                }
                @if v.session.is_none() {
                    p.hint { a href="/signin?next=/shop" { (ui.t("Sign in", "Войдите")) } (ui.t(" to buy.", ", чтобы купить.")) }
                }
                p.muted #found { (matching.len()) " " (ui.t("found", "найдено")) }
                @if matching.is_empty() {
                    p #no-services { (ui.t("Nothing found.", "Ничего не найдено.")) }
                }
                div.cards {
                    @for s in shown {
                        (card(state, v, catalogue, s, currency))
                    }
                }
                @if pages > 1 {
                    nav.pages aria-label=(ui.t("Pages", "Страницы")) {
                        @if current > 1 { a rel="prev" href=(query.link(&[("page", &(current - 1).to_string())])) { "←" } }
                        span { (current) " / " (pages) }
                        @if current < pages { a rel="next" href=(query.link(&[("page", &(current + 1).to_string())])) { "→" } }
                    }
                }
            }
        }
    };
    respond(v, status, document(v, &title, content))
}

/// One service in the grid: its page, its shop, price and limits, and a quick buy form.
fn card(
    state: &AppState,
    v: &Visitor,
    catalogue: &Catalogue,
    s: &Service,
    currency: &str,
) -> Markup {
    let ui = v.ui;
    let lang = ui.catalogue_lang();
    let smm = s.entity == EntityType::Smm;
    let _ = state;
    html! {
        article.card.service #{"service-" (s.number)} {
            h2.card-title { a.service-link href={"/shop/s/" (s.number)} { span.muted { "#" (s.number) " " } (s.name.get(lang)) } }
            p.muted {
                @if let Some(c) = catalogue.category(&s.category_id) { (c.name.get(lang)) " · " }
                @if let Some(shop) = catalogue.shop(&s.shop_id) { a href={"/shop/shops/" (shop.id)} { (mask_shop_name(&shop.name)) } " ★" (format!("{:.1}", shop.rating())) " · " }
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
            @if v.session.is_some() && (!smm || super::service::quick_buy(s)) {
                form.row.buy method="post" action="/shop/buy" {
                    input type="hidden" name="csrf" value=(v.csrf());
                    input type="hidden" name="service" value=(s.number);
                    input type="hidden" name="idempotency_key" value=(random_token());
                    input type="number" name="quantity" min="1" value=(s.min().max(1)) aria-label=(ui.t("Quantity", "Количество"));
                    input type="text" name="link" maxlength="2000" required[smm]
                        aria-label=(if smm { ui.t("Link", "Ссылка") } else { ui.t("Delivery note", "Комментарий") })
                        placeholder=(if smm { ui.t("Link (required)", "Ссылка (обязательно)") } else { ui.t("Delivery note (optional)", "Комментарий (необязательно)") });
                    button type="submit" { (ui.t("Buy", "Купить")) }
                }
            } @else if v.session.is_some() {
                p { a.button href={"/shop/s/" (s.number)} { (ui.t("Order", "Заказать")) } }
            }
        }
    }
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
