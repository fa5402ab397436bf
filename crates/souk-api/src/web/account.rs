//! The buyer's pages: balance and ledger, the API key (shown masked, revealed on request,
//! rotated with a form), orders with their delivered accounts, SMS activations with codes.
//! Everything shown is the signed-in user's own.

use super::error::PageForm;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::accounts;
use souk_core::id::ServiceRef;
use souk_core::Money;

use super::docs::mask;
use super::error::WebError;
use super::layout::{document, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;

/// How many ledger rows and orders the pages list.
const RECENT: i64 = 50;

#[derive(Deserialize, Default)]
pub struct AccountQuery {
    rotated: Option<String>,
    placed: Option<i64>,
}

/// A ledger row's kind in words (the ledger stores `topup`, `charge`, `refund`, `adjust`,
/// and for a payment `deposit` and `bonus`).
pub(super) fn kind_name(ui: super::i18n::Ui, kind: &str) -> &str {
    match kind {
        "topup" | "deposit" => ui.t("top-up", "пополнение"),
        "bonus" => ui.t("deposit bonus", "бонус за пополнение"),
        "charge" => ui.t("charge", "списание"),
        "refund" => ui.t("refund", "возврат"),
        "adjust" => ui.t("adjustment", "корректировка"),
        other => other,
    }
}

pub(super) fn signed(micros: i64) -> String {
    let text = Money::from_micros(micros.abs()).display2();
    if micros < 0 {
        format!("−{text}")
    } else {
        format!("+{text}")
    }
}

pub async fn overview(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let balance = state.store.balance(&user.user_id).await?;
    let key = state.store.visible_key(&user.user_id).await?;
    let ledger = state.store.ledger(&user.user_id, RECENT).await?;
    let currency = &state.config.currency;
    let unverified = super::password::verification_notice(&state, &visitor, user).await?;
    let notice = if q.rotated.is_some() {
        Notice::Ok(
            ui.t(
                "A new key was issued; the old one no longer works.",
                "Выпущен новый ключ; старый больше не действует.",
            )
            .to_owned(),
        )
    } else {
        Notice::None
    };
    let content = html! {
        h1 { (ui.t("Account", "Аккаунт")) }
        (notice.render())
        section.card {
            p.muted { (user.email) }
            (unverified)
            p.big { (ui.t("Balance", "Баланс")) ": " strong #balance { (balance.display2()) } " " (currency) }
            p { a.button href="/account/funds" #add-funds { (ui.t("Add funds", "Пополнить")) } " " a href="/account/payments" #payments-link { (ui.t("Your payments", "Ваши платежи")) } " " a href="/account/notifications" #notifications-link { (ui.t("Notifications", "Уведомления")) } " " a href="/account/webhooks" #webhooks-link { (ui.t("Webhooks", "Вебхуки")) } }
        }
        section.card #api-key {
            h2 { (ui.t("API key", "API ключ")) }
            @if let Some(k) = &key {
                p { code.secret #key-masked data-secret=(k) { (mask(k)) } " " button.small type="button" data-reveal="key-masked" { (ui.t("Show", "Показать")) } }
            } @else {
                p { (ui.t("Your key was issued outside the web pages and is kept only as a digest, so it cannot be shown. Issue a new one to see it here.", "Ваш ключ выдан вне сайта и хранится только как хэш, поэтому его нельзя показать. Выпустите новый, чтобы видеть его здесь.")) }
            }
            form method="post" action="/account/key" {
                input type="hidden" name="csrf" value=(visitor.csrf());
                button #rotate-key type="submit" data-confirm=(ui.t("Issue a new key? The current one stops working at once.", "Выпустить новый ключ? Текущий сразу перестанет работать.")) { (ui.t("Issue a new key", "Выпустить новый ключ")) }
            }
        }
        section {
            h2 { (ui.t("Ledger", "Движение средств")) }
            @if ledger.is_empty() {
                p.muted { (ui.t("No balance changes yet.", "Изменений баланса пока нет.")) }
            } @else {
                div.scroll { table #ledger {
                    thead { tr { th { (ui.t("When", "Когда")) } th { (ui.t("What", "Что")) } th.num { (ui.t("Amount", "Сумма")) } th.num { (ui.t("Balance", "Баланс")) } th { (ui.t("Order / payment", "Заказ / платёж")) } th { (ui.t("Note", "Примечание")) } } }
                    tbody {
                        @for e in &ledger {
                            tr {
                                td { (when(e.created_at)) }
                                td { (kind_name(ui, &e.kind)) }
                                td.num { (signed(e.amount)) }
                                td.num { (Money::from_micros(e.balance_after).display2()) }
                                td {
                                    @if let Some(o) = e.order_id { (o) }
                                    @if let Some(p) = &e.payment_id { a.payment href={"/account/payments/" (p)} { (p) } }
                                }
                                td { (e.note) }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(&visitor, ui.t("Account", "Аккаунт"), content),
    ))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /account/key`: revokes the user's keys and issues one they can see again.
pub async fn rotate_key(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let (_, changes) =
        accounts::rotate_visible_key(&state.store, &user.user_id, state.now()).await?;
    state.apply_changes(&changes).await?;
    Ok(see_other("/account?rotated=1"))
}

pub async fn orders(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<AccountQuery>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let lines: Vec<_> = state
        .store
        .recent_orders(&user.user_id, RECENT)
        .await?
        .into_iter()
        .filter(|l| l.kind != "sms")
        .collect();
    let ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
    let views = state.store.orders_of(&user.user_id, &ids).await?;
    let snapshot = state.cache.get();
    let lang = ui.catalogue_lang();
    let notice = match q.placed {
        Some(id) => Notice::Ok(format!(
            "{} #{id}",
            ui.t("Order placed:", "Заказ оформлен:")
        )),
        None => Notice::None,
    };
    let currency = &state.config.currency;
    let content = html! {
        h1 { (ui.t("Orders", "Заказы")) }
        (notice.render())
        p { a href="/account/mass-order" #mass-order-link { (ui.t("Mass order: many orders at once", "Массовый заказ: много заказов сразу")) } }
        @if lines.is_empty() {
            p.muted { (ui.t("No orders yet. ", "Заказов пока нет. ")) a href="/shop" { (ui.t("Go to the shop", "В магазин")) } }
        }
        @for line in &lines {
            @if let Some(o) = views.iter().find(|o| o.id == line.id) {
                article.card.order #{"order-" (o.id)} {
                    h2.card-title {
                        a.order-link href={"/account/orders/" (o.id)} { "#" (o.id) } " "
                        @if let Some(s) = line.service_number.and_then(|n| snapshot.catalogue.service(&ServiceRef::Number(n))) { (s.name.get(lang)) }
                        @else if let Some(n) = line.service_number { (ui.t("service", "услуга")) " #" (n) }
                    }
                    p {
                        span.status { (o.status.display()) } " · "
                        (ui.t("quantity", "количество")) " " (o.quantity) " · "
                        (o.charge.checked_sub(o.refunded).unwrap_or(o.charge).display2()) " " (currency)
                        @if o.refunded.micros() > 0 { " (" (ui.t("refunded", "возвращено")) " " (o.refunded.display2()) ")" }
                        " · " (when(line.created_at))
                    }
                    @if !line.link.is_empty() { p.muted { (line.link) } }
                    @if !o.accounts.is_empty() {
                        h3 { (ui.t("Delivered", "Выдано")) " (" (o.accounts.len()) ")" }
                        ul.accounts { @for a in &o.accounts { li { code { (a) } } } }
                    } @else if o.kind == "product" {
                        p.muted { (ui.t("Nothing delivered yet.", "Пока ничего не выдано.")) }
                    }
                }
            }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(&visitor, ui.t("Orders", "Заказы"), content),
    ))
}

pub async fn sms(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let ids: Vec<i64> = state
        .store
        .recent_orders(&user.user_id, RECENT)
        .await?
        .into_iter()
        .filter(|l| l.kind == "sms")
        .map(|l| l.id)
        .collect();
    let mut activations = state
        .store
        .sms_activations_translated(&user.user_id, &ids)
        .await?;
    activations.sort_by_key(|a| std::cmp::Reverse(a.order_id));
    let lang = ui.catalogue_lang();
    let currency = &state.config.currency;
    let content = html! {
        h1 { (ui.t("SMS activations", "SMS-активации")) }
        p { a.button href="/sms" #rent-number { (ui.t("Rent a number", "Арендовать номер")) } }
        @if activations.is_empty() {
            p.muted { (ui.t("No activations yet. ", "Активаций пока нет. ")) a href="/sms" { (ui.t("Rent a number", "Арендовать номер")) } }
        } @else {
            div.scroll { table #sms {
                thead { tr { th { (ui.t("Order", "Заказ")) } th { (ui.t("Service", "Сервис")) } th { (ui.t("Phone", "Номер")) } th { (ui.t("Status", "Статус")) } th { (ui.t("Code", "Код")) } th { "SMS" } th.num { (ui.t("Charge", "Цена")) } th { (ui.t("Expires", "Истекает")) } } }
                tbody {
                    @for a in &activations {
                        tr #{"sms-" (a.order_id)} {
                            td { a href={"/account/sms/" (a.order_id)} { (a.order_id) } }
                            td { (a.project_name.get(lang)) " · " (a.country_code) }
                            td { code { (a.phone) } }
                            td { (a.status.as_str()) }
                            td { @if let Some(c) = &a.code { strong.code { (c) } } }
                            td { @if let Some(t) = &a.sms_text { (t) } }
                            td.num { (a.charge.checked_sub(a.refunded).unwrap_or(a.charge).display4()) " " (currency) }
                            td { (when(a.expires_at)) }
                        }
                    }
                }
            } }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(&visitor, "SMS", content),
    ))
}
