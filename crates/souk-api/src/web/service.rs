//! `/shop/s/{number}`: one product or SMM service: its description, image, variants, shop
//! and reviews, and an order form that asks exactly what the service's type needs
//! (`souk_core::order::smm_form`, the table `add` validates with). The form's fields
//! become the very parameters `/api/v2` `add` reads (`AddFields::from_params`) and go
//! through the same use case, so a refusal is the API's own, shown by the field it names.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::orders::PlaceOrder;
use souk_core::catalogue::{mask_shop_name, EntityType, Service};
use souk_core::id::ServiceRef;
use souk_core::order::{smm_form, QuantityRule};
use souk_core::order_input::AddFields;
use souk_core::{ApiError, Params};

use super::error::{PageForm, WebError};
use super::i18n::Ui;
use super::layout::{document, respond, see_other, when, Notice};
use super::session::{random_token, Visitor};
use crate::state::AppState;
use crate::v2::{place_order, Fault};

/// How many reviews a service page shows.
const REVIEWS: i64 = 10;

/// Fields whose values are lists, one item per line.
const LINES: &[&str] = &["comments", "usernames", "hashtags", "keywords", "groups"];

/// Whether the shop grid's one-line form (quantity and link) can order this service.
pub fn quick_buy(s: &Service) -> bool {
    let form = smm_form(&s.type_name);
    form.required.is_empty() && form.quantity == QuantityRule::Given
}

/// A field's label in the page's language.
fn label(ui: Ui, name: &str) -> String {
    let (en, ru) = match name {
        "quantity" => ("Quantity", "Количество"),
        "link" => ("Link", "Ссылка"),
        "subproduct" => ("Variant", "Вариант"),
        "comments" => ("Comments, one per line", "Комментарии, по одному в строке"),
        "usernames" => (
            "Usernames, one per line",
            "Имена пользователей, по одному в строке",
        ),
        "hashtags" => ("Hashtags, one per line", "Хэштеги, по одному в строке"),
        "hashtag" => ("Hashtag", "Хэштег"),
        "username" => ("Username", "Имя пользователя"),
        "media" => ("Media link", "Ссылка на публикацию"),
        "answer_number" => ("Answer number", "Номер ответа"),
        "keywords" => (
            "Keywords, one per line",
            "Ключевые слова, по одному в строке",
        ),
        "groups" => ("Groups, one per line", "Группы, по одной в строке"),
        "min" => ("Minimum per post", "Минимум на публикацию"),
        "max" => ("Maximum per post", "Максимум на публикацию"),
        "posts" => ("Posts", "Публикаций"),
        "old_posts" => ("Old posts", "Старых публикаций"),
        "delay" => ("Delay (minutes)", "Задержка (минуты)"),
        "expiry" => ("Expiry date", "Дата окончания"),
        "country" => ("Country", "Страна"),
        "device" => ("Device", "Устройство"),
        "type_of_traffic" => ("Type of traffic", "Тип трафика"),
        "google_keyword" => ("Google keyword", "Ключевое слово Google"),
        "referring_url" => ("Referring URL", "Ссылающийся URL"),
        "runs" => ("Drip-feed runs", "Drip-feed: запусков"),
        "interval" => ("Interval (minutes)", "Интервал (минуты)"),
        other => (other, other),
    };
    ui.t(en, ru).to_owned()
}

/// The form field a refusal of `add` is about, for `service`'s form; `None` for the
/// refusals about the whole order (balance, a busy moment).
pub fn error_field(e: &ApiError, service: &Service) -> Option<String> {
    let form = smm_form(&service.type_name);
    let quantity_field = match (service.entity, form.quantity) {
        (EntityType::Smm, QuantityRule::Lines(field)) => field,
        (EntityType::Smm, QuantityRule::Subscription) => "max",
        _ => "quantity",
    };
    Some(match e {
        ApiError::QuantityRequired
        | ApiError::InvalidQuantity
        | ApiError::QuantityOutOfRange(..)
        | ApiError::NotEnoughStock => quantity_field.to_owned(),
        ApiError::LinkRequired | ApiError::LinkTooLong => "link".to_owned(),
        ApiError::SubproductNotFound => "subproduct".to_owned(),
        ApiError::FieldRequired(f) | ApiError::InvalidField(f) => (*f).to_owned(),
        ApiError::DripFeedUnsupported => "runs".to_owned(),
        ApiError::InvalidCharacters(f) => f.clone(),
        _ => return None,
    })
}

/// What the form showed: the values typed and the refusal, by field.
#[derive(Default)]
struct Filled {
    values: Vec<(String, String)>,
    error: Option<(Option<String>, String)>,
}

impl Filled {
    fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    fn error_for(&self, name: &str) -> Option<&str> {
        match &self.error {
            Some((Some(field), text)) if field == name => Some(text),
            _ => None,
        }
    }
}

/// One labelled control with its error under it (`aria-describedby`).
fn field(ui: Ui, filled: &Filled, name: &str, required: bool, kind: &str) -> Markup {
    let id = format!("f-{name}");
    let error = filled.error_for(name);
    let err_id = format!("err-{name}");
    html! {
        div.field {
            label for=(id) { (label(ui, name)) @if required { " *" } }
            @if LINES.contains(&name) {
                textarea #(id) name=(name) rows="4" required[required] aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| err_id.as_str())] { (filled.value(name)) }
            } @else {
                input #(id) type=(kind) name=(name) value=(filled.value(name)) required[required] min=[(kind == "number").then_some("1")]
                    aria-invalid=[error.map(|_| "true")] aria-describedby=[error.map(|_| err_id.as_str())];
            }
            @if let Some(text) = error { p.field-error #(err_id) role="alert" { (text) } }
        }
    }
}

/// The order form for `s`.
fn order_form(v: &Visitor, s: &Service, filled: &Filled, currency: &str) -> Markup {
    let ui = v.ui;
    let lang = ui.catalogue_lang();
    let chosen = filled.value("subproduct");
    let form = smm_form(&s.type_name);
    let variant_error = filled.error_for("subproduct");
    html! {
        form.order #order-form method="post" action={"/shop/s/" (s.number)} novalidate {
            input type="hidden" name="csrf" value=(v.csrf());
            input type="hidden" name="idempotency_key" value=(random_token());
            @if s.entity == EntityType::Product {
                fieldset #variants {
                    legend { (label(ui, "subproduct")) }
                    @for (i, sp) in s.subproducts.iter().enumerate() {
                        @let checked = if chosen.is_empty() { i == 0 } else { chosen == &*sp.id };
                        div.variant {
                            input type="radio" name="subproduct" value=(sp.id) #{"variant-" (i + 1)} checked[checked] disabled[sp.stock() == 0 && s.product_type == souk_core::catalogue::ProductType::Inventory]
                                aria-invalid=[variant_error.map(|_| "true")] aria-describedby=[variant_error.map(|_| "err-subproduct")];
                            label for={"variant-" (i + 1)} {
                                strong { (sp.name.get(lang)) } " — " (sp.price.display2()) " " (currency) (ui.t(" each", " за шт."))
                                span.muted { " · " (ui.t("stock", "в наличии")) " " span.stock { (sp.stock()) } " · " (ui.t("from", "от")) " " (sp.min) " " (ui.t("to", "до")) " " (sp.max) }
                            }
                        }
                    }
                    @if let Some(text) = filled.error_for("subproduct") { p.field-error #err-subproduct role="alert" { (text) } }
                }
                (field(ui, filled, "quantity", true, "number"))
                (field(ui, filled, "link", false, "text"))
                p.hint { (ui.t("Link: an optional delivery note; your e-mail if empty.", "Ссылка: необязательный комментарий к выдаче; по умолчанию ваш e-mail.")) }
            } @else {
                (field(ui, filled, "link", form.link_required, "url"))
                @if form.quantity == QuantityRule::Given {
                    (field(ui, filled, "quantity", true, "number"))
                }
                @for name in form.required {
                    @let kind = if matches!(*name, "min" | "max" | "posts" | "answer_number") { "number" } else { "text" };
                    (field(ui, filled, name, true, kind))
                }
                @if let QuantityRule::Lines(lines) = form.quantity {
                    p.hint { (ui.t("Each line is one unit: between ", "Каждая строка — одна единица: от ")) (s.min) (ui.t(" and ", " до ")) (s.max) "." }
                    @if !form.required.contains(&lines) { (field(ui, filled, lines, true, "text")) }
                }
                @for name in form.optional {
                    (field(ui, filled, name, false, "text"))
                }
                @if s.dripfeed && form.quantity == QuantityRule::Given {
                    details open[!filled.value("runs").is_empty()] {
                        summary { "Drip-feed" }
                        (field(ui, filled, "runs", false, "number"))
                        (field(ui, filled, "interval", false, "number"))
                    }
                }
            }
            button type="submit" #place-order { (ui.t("Place order", "Оформить заказ")) }
        }
    }
}

fn render(
    state: &AppState,
    v: &Visitor,
    s: &Service,
    reviews: &[souk_store::ShopReview],
    favourite: bool,
    filled: &Filled,
    status: StatusCode,
) -> Response {
    let ui = v.ui;
    let lang = ui.catalogue_lang();
    let snapshot = state.cache.get();
    let catalogue = &snapshot.catalogue;
    let currency = state.config.currency.as_str();
    let notice = match &filled.error {
        Some((_, text)) => Notice::Error(text.clone()),
        None => Notice::None,
    };
    let smm = s.entity == EntityType::Smm;
    let content = html! {
        nav.crumbs aria-label=(ui.t("Breadcrumbs", "Навигация")) {
            a href="/shop" { (ui.t("Shop", "Магазин")) }
            @if let Some(c) = catalogue.category(&s.category_id) { " › " a href={"/shop?category=" (c.id)} { (c.name.get(lang)) } }
            @if let Some(sc) = catalogue.subcategory(&s.subcategory_id) { " › " a #crumb-sub href={"/shop?category=" (sc.category_id) "&sub=" (sc.id)} { (sc.name.get(lang)) } }
        }
        h1 #service-name { (s.name.get(lang)) " " span.muted { "#" (s.number) } }
        (notice.render())
        div.product {
            @if let Some(url) = &s.image_url {
                img.product-image src=(url) alt=(s.name.get(lang)) width="160" height="160" loading="lazy";
            }
            div {
                @if !s.description.get(lang).is_empty() { p #description { (s.description.get(lang)) } }
                dl.facts {
                    dt { (ui.t("Type", "Тип")) } dd { (s.entity.as_str()) @if smm { " · " (s.type_name) } }
                    dt { (ui.t("Delivery", "Выдача")) } dd #delivery-kind {
                        @if s.auto_delivery() { (ui.t("instant, automatic", "мгновенная, автоматическая")) } @else { (ui.t("by the supplier, by hand", "поставщиком, вручную")) }
                    }
                    @if smm {
                        dt { (ui.t("Price", "Цена")) } dd { strong { (s.rate.display2()) " " (currency) }
                            @if smm_form(&s.type_name).quantity == QuantityRule::Package { (ui.t(" per package", " за пакет")) } @else { (ui.t(" per 1000", " за 1000")) } }
                        dt { (ui.t("Limits", "Лимиты")) } dd { (s.min) " – " (s.max) }
                        @if s.refill { dt { (ui.t("Refill", "Дозаполнение")) } dd { @if let Some(d) = s.refill_days { (d) (ui.t(" days", " дн.")) } @else { (ui.t("yes", "да")) } } }
                    }
                    @if let Some(shop) = catalogue.shop(&s.shop_id) {
                        dt { (ui.t("Shop", "Магазин")) } dd { a #shop-link href={"/shop/shops/" (shop.id)} { (mask_shop_name(&shop.name)) } " ★ " (format!("{:.1}", shop.rating())) " (" (shop.review_count) ")" }
                    }
                }
                @if v.session.is_some() {
                    form.inline method="post" action={"/shop/s/" (s.number) "/favourite"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        input type="hidden" name="on" value=(if favourite { "0" } else { "1" });
                        button.small #favourite type="submit" aria-pressed=(favourite) {
                            @if favourite { "★ " (ui.t("In favourites", "В избранном")) } @else { "☆ " (ui.t("Add to favourites", "В избранное")) }
                        }
                    }
                }
            }
        }
        section.card {
            h2 { (ui.t("Order", "Заказ")) }
            @if v.session.is_some() {
                (order_form(v, s, filled, currency))
            } @else {
                p { a href={"/signin?next=/shop/s/" (s.number)} { (ui.t("Sign in", "Войдите")) } (ui.t(" to order.", ", чтобы заказать.")) }
            }
        }
        section #reviews {
            h2 { (ui.t("Recent reviews", "Последние отзывы")) }
            @if reviews.is_empty() { p.muted { (ui.t("No reviews yet.", "Отзывов пока нет.")) } }
            @for r in reviews {
                blockquote.review { p { span.stars role="img" aria-label={(r.rating) "/5"} { @for _ in 0..r.rating { "★" } } " " span.muted { (when(r.created_at)) } } @if !r.text.is_empty() { p { (r.text) } } }
            }
        }
    };
    respond(v, status, document(v, s.name.get(lang), content))
}

fn find(state: &AppState, number: &str) -> Result<std::sync::Arc<Service>, WebError> {
    let named = ServiceRef::parse(number).ok_or(WebError::NotFound)?;
    state
        .cache
        .get()
        .catalogue
        .service(&named)
        .cloned()
        .ok_or(WebError::NotFound)
}

async fn show(
    state: &AppState,
    v: &Visitor,
    s: &Service,
    filled: &Filled,
    status: StatusCode,
) -> Result<Response, WebError> {
    let reviews = state.store.service_reviews(s.number, REVIEWS).await?;
    let favourite = match &v.session {
        Some(user) => state
            .store
            .favourites(&user.user_id)
            .await?
            .contains(&s.number),
        None => false,
    };
    Ok(render(state, v, s, &reviews, favourite, filled, status))
}

/// `?quantity=&link=` prefill the form ("order again").
#[derive(Deserialize, Default)]
pub struct Prefill {
    quantity: Option<String>,
    link: Option<String>,
    subproduct: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(number): Path<String>,
    Query(prefill): Query<Prefill>,
) -> Result<Response, WebError> {
    let s = find(&state, &number)?;
    let values = [
        (
            "quantity",
            prefill
                .quantity
                .unwrap_or_else(|| s.min().max(1).to_string()),
        ),
        ("link", prefill.link.unwrap_or_default()),
        ("subproduct", prefill.subproduct.unwrap_or_default()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let filled = Filled {
        values,
        error: None,
    };
    show(&state, &visitor, &s, &filled, StatusCode::OK).await
}

/// `POST /shop/s/{number}`: the form's fields as `add` parameters.
pub async fn order(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(number): Path<String>,
    PageForm(pairs): PageForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let session = visitor.user()?.clone();
    let csrf = pairs
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    visitor.check_csrf(csrf)?;
    let s = find(&state, &number)?;
    // The service is the page's; anything else the form carries is read as `add` reads it.
    let params = Params::from_pairs(
        pairs
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "csrf" | "service" | "key" | "action"))
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .chain([("service", number.as_str())]),
    );
    let command = PlaceOrder {
        user_id: session.user_id.clone(),
        email: session.email.clone(),
        fields: AddFields::from_params(&params),
        idempotency_key: None,
    };
    let key_id = format!("web:{}", session.user_id);
    let placed = if state.key_limiter.allow(&key_id) {
        place_order(&state, command).await
    } else {
        Err(Fault::RateLimited)
    };
    let refusal = match placed {
        Ok(order) => return Ok(see_other(&format!("/account/orders/{order}?placed=1"))),
        Err(Fault::Api(e)) => e,
        Err(Fault::RateLimited) => ApiError::RateLimited,
        Err(Fault::Store(e)) => return Err(e.into()),
    };
    let filled = Filled {
        values: pairs
            .into_iter()
            .filter(|(k, _)| k != "csrf" && k != "idempotency_key")
            .collect(),
        error: Some((
            error_field(&refusal, &s),
            super::refusal::api(visitor.ui, &refusal),
        )),
    };
    let status = if refusal == ApiError::RateLimited {
        StatusCode::TOO_MANY_REQUESTS
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    show(&state, &visitor, &s, &filled, status).await
}

#[derive(Deserialize)]
pub struct FavouriteForm {
    csrf: Option<String>,
    #[serde(default)]
    on: String,
}

/// `POST /shop/s/{number}/favourite` with `on=1` or `on=0`.
pub async fn favourite(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(number): Path<String>,
    PageForm(form): PageForm<FavouriteForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let s = find(&state, &number)?;
    state
        .store
        .set_favourite(&user.user_id, s.number, form.on.trim() == "1", state.now())
        .await?;
    Ok(see_other(&format!("/shop/s/{}", s.number)))
}
