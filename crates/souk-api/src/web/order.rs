//! `/account/orders/{id}`: one order: status, delivered accounts (copy each, download all
//! as `.txt`), its ledger rows, and what the API allows on it right now: cancel (with the
//! reason when refused), refill, a dispute with its message thread, a review once it is
//! done, and "order again". While it is in progress the page watches it (`/live`, a
//! small poll by the pages' script) and reloads itself when it changes.
//!
//! Every action is the call the API action makes (`souk_app::cancel`, `souk_app::refill`,
//! the store's `open_dispute` and `review_order`), so the outcome is the API's.

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use souk_app::cancel::{self, CancelError, CancelOrder, CancelOutcome};
use souk_core::early_cancel::Reason;
use souk_core::id::ServiceRef;
use souk_core::order::OrderStatus;
use souk_core::{ApiError, Money};
use souk_store::{DisputeAuthor, OrderView};

use super::error::{PageForm, PagePath, WebError};
use super::i18n::Ui;
use super::layout::{document, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;

/// The outcome shown after an action (a redirect's query).
#[derive(Deserialize, Default)]
pub struct Done {
    placed: Option<String>,
    done: Option<String>,
}

/// Why an early cancel is refused, in words (the API's `reason` code beside it).
pub fn reason_text(ui: Ui, reason: Reason) -> String {
    let (en, ru) = match reason {
        Reason::FeatureDisabled => ("Early cancel is switched off", "Досрочная отмена отключена"),
        Reason::ProductTypeNotEligible => (
            "This kind of order cannot be cancelled early",
            "Такой заказ нельзя отменить досрочно",
        ),
        Reason::PaymentNotCompleted => ("The order is not paid", "Заказ не оплачен"),
        Reason::StatusNotEligible => ("The order is finished", "Заказ завершён"),
        Reason::SentToProvider => (
            "The order was sent to the provider",
            "Заказ передан провайдеру",
        ),
        Reason::BeforeMinWait(at) => {
            return match ui {
                Ui::En => format!("Possible from {}", when(at)),
                Ui::Ru => format!("Можно с {}", when(at)),
            }
        }
        Reason::AlreadySelfRefunded => (
            "The order was already refunded",
            "Возврат по заказу уже сделан",
        ),
        Reason::FullyDelivered => ("Everything was delivered", "Всё уже выдано"),
        Reason::NothingToRefund => ("Nothing is left to refund", "Возвращать нечего"),
        Reason::ActiveDispute => ("A dispute is open on it", "По заказу открыт спор"),
        Reason::SupplierWithdrawal => ("The supplier was paid for it", "Поставщику уже выплачено"),
    };
    ui.t(en, ru).to_owned()
}

fn net(o: &OrderView) -> Money {
    o.charge.checked_sub(o.refunded).unwrap_or(o.charge)
}

/// The state the live poll compares: it changes whenever the page would.
fn live_state(o: &OrderView) -> String {
    format!(
        "{}:{}:{}:{}",
        o.status.as_str(),
        o.delivered,
        o.refunded.micros(),
        o.remains.unwrap_or(-1)
    )
}

async fn the_order(state: &AppState, user_id: &str, id: i64) -> Result<OrderView, WebError> {
    state
        .store
        .orders_of(user_id, &[id])
        .await?
        .into_iter()
        .next()
        .ok_or(WebError::NotFound)
}

async fn render(
    state: &AppState,
    v: &Visitor,
    id: i64,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, WebError> {
    let user = v.user()?;
    let ui = v.ui;
    let o = the_order(state, &user.user_id, id).await?;
    if o.kind == "sms" {
        return Ok(see_other(&format!("/account/sms/{id}")));
    }
    let line = state
        .store
        .order_line(&user.user_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let ledger = state.store.order_ledger(&user.user_id, id).await?;
    let disputes = state.store.order_disputes(&user.user_id, id).await?;
    let mut threads = Vec::with_capacity(disputes.len());
    for d in disputes {
        let messages = state.store.dispute_messages(&d.id).await?;
        threads.push((d, messages));
    }
    let reviewed = state.store.order_reviewed(&user.user_id, id).await?;
    let cancel = cancel::cancel_order(
        &state.store,
        CancelOrder {
            user_id: user.user_id.clone(),
            order_id: id,
            dry_run: true,
        },
        state.now(),
    )
    .await;
    let snapshot = state.cache.get();
    let service = line
        .service_number
        .and_then(|n| snapshot.catalogue.service(&ServiceRef::Number(n)).cloned());
    let lang = ui.catalogue_lang();
    let currency = &state.config.currency;
    let in_progress = matches!(
        o.status,
        OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Error
    );
    let finished = matches!(o.status, OrderStatus::Completed | OrderStatus::Partial);
    let open_dispute = threads.iter().any(|(d, _)| d.status == "open");
    let refill = service.as_ref().is_some_and(|s| s.refill) && o.kind == "smm";
    let again = line.service_number.map(|n| {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("quantity", &o.quantity.to_string())
            .append_pair("link", &line.link)
            .finish();
        format!("/shop/s/{n}?{query}")
    });
    let content = html! {
        p { a href="/account/orders" { "← " (ui.t("Orders", "Заказы")) } }
        h1 { (ui.t("Order", "Заказ")) " #" (o.id) }
        (notice.render())
        section.card #order-summary {
            h2 {
                @if let Some(s) = &service { a href={"/shop/s/" (s.number)} { (s.name.get(lang)) } }
                @else if let Some(n) = line.service_number { (ui.t("service", "услуга")) " #" (n) }
            }
            dl.facts {
                dt { (ui.t("Status", "Статус")) } dd { strong #order-status data-status=(o.status.as_str()) { (o.status.display()) } }
                dt { (ui.t("Quantity", "Количество")) } dd { (o.quantity) }
                dt { (ui.t("Charge", "Цена")) } dd #order-charge { (net(&o).display2()) " " (currency) @if o.refunded.micros() > 0 { " (" (ui.t("refunded", "возвращено")) " " span #order-refunded { (o.refunded.display2()) } ")" } }
                @if o.kind == "smm" {
                    dt { (ui.t("Start count", "Начальное значение")) } dd { (o.start_count.unwrap_or(0)) }
                    dt { (ui.t("Remains", "Осталось")) } dd { (o.remains.unwrap_or(o.quantity - o.delivered)) }
                }
                dt { (ui.t("Placed", "Оформлен")) } dd { (when(line.created_at)) }
                @if !line.link.is_empty() { dt { (ui.t("Link", "Ссылка")) } dd { (line.link) } }
            }
            @if in_progress {
                p.muted #live data-poll={"/account/orders/" (o.id) "/live"} data-state=(live_state(&o)) aria-live="polite" {
                    (ui.t("In progress: this page updates by itself. ", "Выполняется: страница обновится сама. "))
                    a href={"/account/orders/" (o.id)} { (ui.t("Refresh", "Обновить")) }
                }
            }
            @if let Some(href) = &again { p { a.button #order-again href=(href) { (ui.t("Order again", "Заказать снова")) } } }
        }
        @if o.kind == "product" {
            section #delivered {
                h2 { (ui.t("Delivered", "Выдано")) " (" (o.accounts.len()) ")" }
                @if o.accounts.is_empty() {
                    p.muted { (ui.t("Nothing delivered yet.", "Пока ничего не выдано.")) }
                } @else {
                    p { a.button #download href={"/account/orders/" (o.id) "/accounts.txt"} download={"order-" (o.id) ".txt"} { (ui.t("Download all (.txt)", "Скачать все (.txt)")) } }
                    ul.accounts {
                        @for (i, a) in o.accounts.iter().enumerate() {
                            li { code #{"account-" (i + 1)} { (a) } " " button.small.copy type="button" data-copy={"account-" (i + 1)} aria-label={(ui.t("Copy account ", "Копировать аккаунт ")) (i + 1)} { (ui.t("Copy", "Копировать")) } }
                        }
                    }
                }
            }
        }
        section #order-ledger {
            h2 { (ui.t("Ledger", "Движение средств")) }
            div.scroll { table {
                thead { tr { th { (ui.t("When", "Когда")) } th { (ui.t("What", "Что")) } th.num { (ui.t("Amount", "Сумма")) } th.num { (ui.t("Balance", "Баланс")) } } }
                tbody {
                    @for e in &ledger {
                        tr { td { (when(e.created_at)) } td { (super::account::kind_name(ui, &e.kind)) } td.num { (super::account::signed(e.amount)) } td.num { (Money::from_micros(e.balance_after).display2()) } }
                    }
                }
            } }
        }
        section #actions {
            h2 { (ui.t("Actions", "Действия")) }
            div.action #cancel {
                h3 { (ui.t("Cancel", "Отмена")) }
                @match &cancel {
                    Ok(CancelOutcome::Eligible(amount)) => {
                        form method="post" action={"/account/orders/" (o.id) "/cancel"} {
                            input type="hidden" name="csrf" value=(v.csrf());
                            button.danger #cancel-order type="submit" { (ui.t("Cancel and refund ", "Отменить и вернуть ")) (amount.display2()) " " (currency) }
                        }
                    }
                    Ok(CancelOutcome::Refused(reason)) => {
                        p.muted #cancel-refused { (reason_text(ui, *reason)) " (" code { (reason.code()) } ")" }
                    }
                    _ => { p.muted { (ui.t("Not available.", "Недоступна.")) } }
                }
            }
            @if refill {
                div.action #refill {
                    h3 { (ui.t("Refill", "Дозаполнение")) }
                    form method="post" action={"/account/orders/" (o.id) "/refill"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        button #refill-order type="submit" { (ui.t("Request a refill", "Запросить дозаполнение")) }
                    }
                }
            }
            div.action #dispute {
                h3 { (ui.t("Dispute", "Спор")) }
                @for (d, messages) in &threads {
                    article.thread #{"dispute-" (d.id)} {
                        p.muted { (ui.t("Status", "Статус")) ": " strong.dispute-status data-status=(d.status) { (dispute_status(ui, &d.status)) } " · " (when(d.created_at)) }
                        ol.messages {
                            li.buyer { span.who { (ui.t("You", "Вы")) } " · " span.muted { (when(d.created_at)) } p { (d.message) } }
                            @for m in messages {
                                li class=(m.author) { span.who { (author_name(ui, &m.author)) } " · " span.muted { (when(m.created_at)) } p { (m.body) } }
                            }
                            @if d.status != "open" {
                                li.operator.resolution { span.who { (ui.t("Operator", "Оператор")) } " · " span.muted { @if let Some(at) = d.resolved_at { (when(at)) } }
                                    p { @if d.status == "refunded" { (ui.t("Refunded ", "Возвращено ")) (Money::from_micros(d.refund_amount).display2()) " " (currency) ". " } @else { (ui.t("No refund. ", "Без возврата. ")) } (d.resolution) } }
                            }
                        }
                        @if d.status == "open" {
                            form.stack method="post" action={"/account/orders/" (o.id) "/dispute/" (d.id)} {
                                input type="hidden" name="csrf" value=(v.csrf());
                                label for="reply" { (ui.t("Reply", "Ответ")) }
                                textarea #reply name="message" rows="3" maxlength="2000" required {}
                                button #send-reply type="submit" { (ui.t("Send", "Отправить")) }
                            }
                        }
                    }
                }
                @if !open_dispute {
                    form.stack method="post" action={"/account/orders/" (o.id) "/dispute"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        label for="dispute-message" { (ui.t("What went wrong?", "Что пошло не так?")) }
                        textarea #dispute-message name="message" rows="3" maxlength="2000" required {}
                        button #open-dispute type="submit" { (ui.t("Open a dispute", "Открыть спор")) }
                    }
                }
            }
            div.action #review {
                h3 { (ui.t("Review", "Отзыв")) }
                @if reviewed {
                    p.muted #reviewed { (ui.t("You reviewed this order. Thank you!", "Вы оставили отзыв. Спасибо!")) }
                } @else if finished {
                    form.stack method="post" action={"/account/orders/" (o.id) "/review"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        fieldset.stars {
                            legend { (ui.t("Rating", "Оценка")) }
                            @for n in (1..=5).rev() {
                                label.check { input type="radio" name="rating" value=(n) #{"rating-" (n)} required; " " (n) "★" }
                            }
                        }
                        label for="review-text" { (ui.t("Your review (optional)", "Ваш отзыв (необязательно)")) }
                        textarea #review-text name="text" rows="3" maxlength="2000" {}
                        button #leave-review type="submit" { (ui.t("Leave a review", "Оставить отзыв")) }
                    }
                } @else {
                    p.muted { (ui.t("Possible once the order is completed.", "Можно после выполнения заказа.")) }
                }
            }
        }
    };
    let title = format!("{} #{}", ui.t("Order", "Заказ"), o.id);
    Ok(respond(v, status, document(v, &title, content)))
}

fn dispute_status(ui: Ui, status: &str) -> &'static str {
    match status {
        "open" => ui.t("open", "открыт"),
        "refunded" => ui.t("refunded", "возврат"),
        _ => ui.t("rejected", "отклонён"),
    }
}

fn author_name(ui: Ui, author: &str) -> &'static str {
    match author {
        "buyer" => ui.t("You", "Вы"),
        "supplier" => ui.t("Supplier", "Поставщик"),
        _ => ui.t("Operator", "Оператор"),
    }
}

fn done_notice(ui: Ui, q: &Done) -> Notice {
    if q.placed.is_some() {
        return Notice::Ok(ui.t("Order placed.", "Заказ оформлен.").to_owned());
    }
    let text = match q.done.as_deref() {
        Some("cancel") => ui.t(
            "Cancelled; the refund is in the ledger below.",
            "Отменён; возврат — в движении средств ниже.",
        ),
        Some("refill") => ui.t("Refill requested.", "Дозаполнение запрошено."),
        Some("dispute") => ui.t("Dispute opened.", "Спор открыт."),
        Some("reply") => ui.t("Message sent.", "Сообщение отправлено."),
        Some("review") => ui.t("Review published.", "Отзыв опубликован."),
        _ => return Notice::None,
    };
    Notice::Ok(text.to_owned())
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    Query(q): Query<Done>,
) -> Result<Response, WebError> {
    let notice = done_notice(visitor.ui, &q);
    render(&state, &visitor, id, notice, StatusCode::OK).await
}

/// `GET /account/orders/{id}/live`: the state the page compares, as JSON.
pub async fn live(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let o = the_order(&state, &user.user_id, id).await?;
    let body = serde_json::json!({ "state": live_state(&o), "status": o.status.display() });
    let mut response = axum::Json(body).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /account/orders/{id}/accounts.txt`: every delivered account, one per line.
pub async fn accounts_txt(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let o = the_order(&state, &user.user_id, id).await?;
    let mut body = o.accounts.join("\n");
    if !body.is_empty() {
        body.push('\n');
    }
    let disposition = format!("attachment; filename=\"order-{id}.txt\"");
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct ActionForm {
    csrf: Option<String>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    rating: String,
    #[serde(default)]
    text: String,
}

fn done(id: i64, what: &str) -> Response {
    see_other(&format!("/account/orders/{id}?done={what}"))
}

/// The page again with a refusal over it; nothing changed.
async fn refused(
    state: &AppState,
    v: &Visitor,
    id: i64,
    text: String,
) -> Result<Response, WebError> {
    render(
        state,
        v,
        id,
        Notice::Error(text),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// A store refusal in the page's words, or the fault it is.
fn store_refusal(ui: Ui, e: souk_store::StoreError) -> Result<String, WebError> {
    super::refusal::store(ui, e).map_err(WebError::from)
}

pub async fn cancel_order(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let command = CancelOrder {
        user_id: user.user_id.clone(),
        order_id: id,
        dry_run: false,
    };
    let ui = visitor.ui;
    match cancel::cancel_order(&state.store, command, state.now()).await {
        Ok(CancelOutcome::Refunded(_)) => Ok(done(id, "cancel")),
        Ok(CancelOutcome::Refused(reason)) => {
            let text = format!("{} ({})", reason_text(ui, reason), reason.code());
            refused(&state, &visitor, id, text).await
        }
        Ok(CancelOutcome::NotFound) => Err(WebError::NotFound),
        Ok(CancelOutcome::Eligible(_)) => Ok(done(id, "cancel")),
        Err(CancelError::Rejected(e)) => {
            refused(&state, &visitor, id, super::refusal::api(ui, &e)).await
        }
        Err(CancelError::Store(e)) => Err(e.into()),
    }
}

pub async fn refill(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    match souk_app::refill::request(&state.upstream(), &user.user_id, id, state.now()).await? {
        Ok(_) => Ok(done(id, "refill")),
        Err(ApiError::IncorrectOrderId) => Err(WebError::NotFound),
        Err(e) => refused(&state, &visitor, id, super::refusal::api(visitor.ui, &e)).await,
    }
}

pub async fn open_dispute(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    match state
        .store
        .open_dispute(&user.user_id, id, &form.message, state.now())
        .await
    {
        Ok(_) => Ok(done(id, "dispute")),
        Err(e) => {
            let text = store_refusal(visitor.ui, e)?;
            refused(&state, &visitor, id, text).await
        }
    }
}

pub async fn reply(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath((id, dispute)): PagePath<(i64, String)>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    // Only a dispute on this very order: the path's order is the one the page showed.
    let ours = state
        .store
        .order_disputes(&user.user_id, id)
        .await?
        .iter()
        .any(|d| d.id == dispute);
    if !ours {
        return Err(WebError::NotFound);
    }
    let author = DisputeAuthor::Buyer(&user.user_id);
    match state
        .store
        .add_dispute_message(&dispute, author, &form.message, state.now())
        .await
    {
        Ok(_) => Ok(done(id, "reply")),
        Err(e) => {
            let text = store_refusal(visitor.ui, e)?;
            refused(&state, &visitor, id, text).await
        }
    }
}

pub async fn review(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<i64>,
    PageForm(form): PageForm<ActionForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let review = souk_app::reviews::Review {
        user_id: &user.user_id,
        order_id: id,
        rating: Some(&form.rating),
        text: &form.text,
    };
    let outcome = souk_app::reviews::leave(&state.store, review, state.now())
        .await
        .map_err(|e| store_refusal(ui, e));
    match outcome {
        Ok((_, _, changes)) => {
            state.apply_changes(&changes).await?;
            Ok(done(id, "review"))
        }
        Err(Ok(text)) => refused(&state, &visitor, id, text).await,
        Err(Err(e)) => Err(e),
    }
}
