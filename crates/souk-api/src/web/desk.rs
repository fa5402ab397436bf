//! `/desk`: the supplier's own products with their stock, stock upload from a text file,
//! the queue of manual orders with a deliver form, earnings and withdrawals. The same store
//! calls, with the same rules, as the supplier API under `/api/admin/v2`.

use super::error::PageForm;
use axum::extract::{Multipart, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::stock::{self, UploadStock};
use souk_app::supplier_orders::{self, Deliver, FailOrder};
use souk_app::withdrawals;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::order::OrderStatus;
use souk_core::supply::{self, MAX_UPLOAD_BYTES};
use souk_core::Money;
use souk_store::{StoreError, SupplierOrderQuery, WebSession};

use super::error::{PagePath, WebError};
use super::i18n::Ui;
use super::layout::{document, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;

/// The upload form's body: the file plus a little room for the other fields.
pub const UPLOAD_BODY_LIMIT: usize = MAX_UPLOAD_BYTES + 64 * 1024;

#[derive(Deserialize, Default)]
pub struct DeskQuery {
    uploaded: Option<u64>,
    rejected: Option<u64>,
    delivered: Option<i64>,
    failed: Option<i64>,
    withdrawal: Option<String>,
    replied: Option<i64>,
}

impl DeskQuery {
    fn notice(&self, ui: Ui) -> Notice {
        if let Some(a) = self.uploaded {
            let r = self.rejected.unwrap_or(0);
            return Notice::Ok(format!(
                "{} {a}, {} {r}",
                ui.t("Stock uploaded. Accepted:", "Сток загружен. Принято:"),
                ui.t("rejected:", "отклонено:")
            ));
        }
        if let Some(o) = self.delivered {
            return Notice::Ok(format!(
                "{} #{o}",
                ui.t("Delivered to order", "Выдано по заказу")
            ));
        }
        if let Some(o) = self.failed {
            return Notice::Ok(format!(
                "{} #{o}",
                ui.t(
                    "Refunded the undelivered part of order",
                    "Возвращена невыданная часть заказа"
                )
            ));
        }
        if let Some(o) = self.replied {
            return Notice::Ok(format!(
                "{} #{o}",
                ui.t("Replied in the dispute on order", "Ответ в споре по заказу")
            ));
        }
        if self.withdrawal.is_some() {
            return Notice::Ok(ui.t("Withdrawal requested.", "Вывод запрошен.").to_owned());
        }
        Notice::None
    }
}

/// The signed-in user, if they supply a shop.
fn supplier(v: &Visitor) -> Result<&WebSession, WebError> {
    let user = v.user()?;
    if user.is_supplier {
        Ok(user)
    } else {
        Err(WebError::Forbidden)
    }
}

async fn render(
    state: &AppState,
    v: &Visitor,
    notice: Notice,
    status: StatusCode,
) -> Result<Response, WebError> {
    let user = supplier(v)?;
    let ui = v.ui;
    let owner = user.user_id.as_str();
    let now = state.now();
    let shops = state.store.shops_of(owner).await?;
    let products = state.store.supplier_services(owner, None).await?;
    let queue_query = SupplierOrderQuery {
        statuses: vec![OrderStatus::Pending, OrderStatus::Processing],
        product_type: Some(ProductType::Manual),
        entity: None,
        subcategory: None,
        limit: 50,
        offset: 0,
    };
    let (queue, queued) = state.store.supplier_orders(owner, &queue_query).await?;
    let (earnings, _, summary) = state.store.earnings(owner, 20, 0, now).await?;
    let withdrawals = state.store.withdrawals(Some(owner), None).await?;
    let mut disputes = Vec::new();
    for d in state.store.open_shop_disputes(owner, 50).await? {
        let thread = state.store.dispute_messages(&d.id).await?;
        disputes.push((d, thread));
    }
    let currency = &state.config.currency;
    let money = |m: i64| Money::from_micros(m).display2();
    let content = html! {
        h1 { (ui.t("Supplier desk", "Кабинет поставщика")) }
        (notice.render())
        @if shops.is_empty() {
            p { (ui.t("You have no shop yet: ask the operator to open one for you.", "У вас ещё нет магазина: попросите оператора открыть его.")) }
        } @else {
            p.muted { (ui.t("Shops", "Магазины")) ": " @for (i, (_, name, active)) in shops.iter().enumerate() { @if i > 0 { ", " } (name) @if !active { " (" (ui.t("inactive", "неактивен")) ")" } } }
        }
        section #products {
            h2 { (ui.t("Products and stock", "Товары и сток")) }
            @if products.is_empty() { p.muted { (ui.t("No products yet: create them through the supplier API (see /openapi.json).", "Товаров пока нет: создайте их через API поставщика (см. /openapi.json).")) } }
            @for p in &products {
                article.card #{"product-" (p.number)} {
                    h3 { span.muted { "#" (p.number) " " } (p.name) }
                    p.muted { (p.entity.as_str()) " · " (p.product_type.as_str()) @if !p.active { " · " (ui.t("hidden", "скрыт")) } }
                    @if p.entity == EntityType::Product {
                        div.scroll { table.subproducts {
                            thead { tr { th { (ui.t("Variant", "Вариант")) } th.num { (ui.t("Price", "Цена")) } th.num { (ui.t("In stock", "В наличии")) } th { (ui.t("Upload stock", "Загрузить сток")) } } }
                            tbody {
                                @for s in &p.subproducts {
                                    tr #{"sub-" (s.id)} {
                                        td { strong { (s.name) } @if !s.active { " (" (ui.t("hidden", "скрыт")) ")" } }
                                        td.num data-label=(ui.t("Price", "Цена")) { (s.price.display2()) " " (currency) }
                                        td.num data-label=(ui.t("In stock", "В наличии")) { span.stock #{"stock-" (s.id)} { (s.stock) } }
                                        td.upload-cell {
                                            @if p.product_type == ProductType::Inventory {
                                                form.upload #{"upload-" (s.id)} method="post" action={"/desk/stock/" (s.id)} enctype="multipart/form-data" {
                                                    input type="hidden" name="csrf" value=(v.csrf());
                                                    input type="file" name="file" accept=".txt,.csv,text/plain" required;
                                                    label.check { input type="checkbox" name="dedupe" value="true"; " " (ui.t("skip duplicates", "без дублей")) }
                                                    button type="submit" { (ui.t("Upload", "Загрузить")) }
                                                }
                                            } @else {
                                                span.muted { (ui.t("manual: delivered from the queue", "вручную: выдача из очереди")) }
                                            }
                                        }
                                    }
                                }
                            }
                        } }
                    }
                }
            }
            p.hint { (ui.t("Upload a text file with one item per line (at most 8 MiB); empty lines are skipped.", "Загрузите текстовый файл, по одному товару в строке (до 8 МиБ); пустые строки пропускаются.")) }
        }
        section #queue {
            h2 { (ui.t("Manual orders to fulfil", "Ручные заказы к выдаче")) " (" (queued) ")" }
            @if queue.is_empty() { p.muted #queue-empty { (ui.t("Nothing to deliver.", "Выдавать нечего.")) } }
            @for o in &queue {
                article.card #{"queue-" (o.id)} {
                    h3 { "#" (o.id) " " (o.service_name) @if let Some(s) = &o.subproduct_name { " · " (s) } }
                    p { (ui.t("quantity", "количество")) " " (o.quantity) " · " (ui.t("delivered", "выдано")) " " (o.delivered) " · " (when(o.created_at)) }
                    @if !o.link.is_empty() { p.muted { (ui.t("Buyer's note", "Комментарий покупателя")) ": " (o.link) } }
                    @if o.kind == "product" {
                        form.stack method="post" action={"/desk/orders/" (o.id) "/deliver"} {
                            input type="hidden" name="csrf" value=(v.csrf());
                            textarea name="accounts" rows="3" required placeholder=(ui.t("One account per line", "По одному аккаунту в строке")) {}
                            button type="submit" { (ui.t("Deliver", "Выдать")) }
                        }
                    } @else {
                        p.hint { (ui.t("Report SMM progress through the supplier API.", "Прогресс SMM передаётся через API поставщика.")) }
                    }
                    form.inline method="post" action={"/desk/orders/" (o.id) "/fail"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        button.danger type="submit" data-confirm=(ui.t("Refund the undelivered part to the buyer?", "Вернуть покупателю невыданную часть?")) { (ui.t("Cannot fulfil: refund the rest", "Не могу выполнить: вернуть остаток")) }
                    }
                }
            }
        }
        section #disputes {
            h2 { (ui.t("Open disputes", "Открытые споры")) " (" (disputes.len()) ")" }
            @if disputes.is_empty() { p.muted #disputes-empty { (ui.t("No open disputes.", "Открытых споров нет.")) } }
            @for (d, thread) in &disputes {
                article.card #{"dispute-" (d.id)} {
                    h3 { (ui.t("Order", "Заказ")) " #" (d.order_id) " · " (money(d.charge)) " " (currency) }
                    ol.messages {
                        li.buyer { span.who { (author(ui, "buyer")) } " · " span.muted { (when(d.created_at)) } p { (d.message) } }
                        @for m in thread {
                            li class=(m.author) { span.who { (author(ui, &m.author)) } " · " span.muted { (when(m.created_at)) } p { (m.body) } }
                        }
                    }
                    form.stack method="post" action={"/desk/disputes/" (d.id) "/message"} {
                        input type="hidden" name="csrf" value=(v.csrf());
                        label for={"reply-" (d.id)} { (ui.t("Your answer", "Ваш ответ")) }
                        textarea #{"reply-" (d.id)} name="message" rows="3" maxlength="2000" required {}
                        button type="submit" { (ui.t("Send", "Отправить")) }
                    }
                }
            }
        }
        section #earnings {
            h2 { (ui.t("Earnings", "Доход")) }
            div.stats {
                div { span.muted { (ui.t("held", "на удержании")) } strong { (summary.held.display2()) } }
                div { span.muted { (ui.t("available", "доступно")) } strong #available { (summary.available.display2()) } }
                div { span.muted { (ui.t("requested", "запрошено")) } strong { (summary.requested.display2()) } }
                div { span.muted { (ui.t("withdrawn", "выведено")) } strong { (summary.withdrawn.display2()) } }
            }
            @if summary.available.micros() > 0 && !shops.is_empty() {
                form.row method="post" action="/desk/withdraw" {
                    input type="hidden" name="csrf" value=(v.csrf());
                    input type="text" name="note" maxlength="1000" placeholder=(ui.t("Payout details or a note", "Реквизиты или примечание"));
                    button type="submit" { (ui.t("Withdraw everything available", "Вывести всё доступное")) }
                }
            }
            @if !earnings.is_empty() {
                div.scroll { table {
                    thead { tr { th { (ui.t("Order", "Заказ")) } th.num { (ui.t("Sale", "Продажа")) } th.num { (ui.t("Commission", "Комиссия")) } th.num { (ui.t("Refunded", "Возврат")) } th.num { (ui.t("Yours", "Ваше")) } th { (ui.t("Available from", "Доступно с")) } } }
                    tbody { @for e in &earnings { tr { td { (e.order_id) } td.num { (money(e.gross)) } td.num { (money(e.commission)) } td.num { (money(e.refunded)) } td.num { (money(e.amount)) } td { (when(e.available_at)) } } } }
                } }
            }
            @if !withdrawals.is_empty() {
                h3 { (ui.t("Withdrawals", "Выводы")) }
                div.scroll { table {
                    thead { tr { th { (ui.t("When", "Когда")) } th.num { (ui.t("Amount", "Сумма")) } th { (ui.t("Status", "Статус")) } th { (ui.t("Note", "Примечание")) } } }
                    tbody { @for w in &withdrawals { tr { td { (when(w.created_at)) } td.num { (money(w.amount)) " " (currency) } td { (w.status) } td { (w.note) @if !w.resolution.is_empty() { " — " (w.resolution) } } } } }
                } }
            }
        }
    };
    Ok(respond(
        v,
        status,
        document(v, ui.t("Supplier desk", "Кабинет поставщика"), content),
    ))
}

/// Who wrote a message of a dispute's thread, in the page's language.
fn author(ui: Ui, who: &str) -> &'static str {
    match who {
        "buyer" => ui.t("Buyer", "Покупатель"),
        "supplier" => ui.t("You", "Вы"),
        _ => ui.t("Operator", "Оператор"),
    }
}

#[derive(Deserialize)]
pub struct DisputeMessageForm {
    csrf: Option<String>,
    #[serde(default)]
    message: String,
}

/// `POST /desk/disputes/{id}/message`: the supplier's answer in a dispute on one of their
/// shop's orders (the store checks the shop is theirs and the dispute still open).
pub async fn dispute_message(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(dispute): PagePath<String>,
    PageForm(form): PageForm<DisputeMessageForm>,
) -> Result<Response, WebError> {
    let user = supplier(&visitor)?.user_id.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    if !souk_core::id::is_entity_id(&dispute) {
        return Err(WebError::NotFound);
    }
    match state
        .store
        .add_dispute_message(
            &dispute,
            souk_store::DisputeAuthor::Supplier(&user),
            &form.message,
            state.now(),
        )
        .await
    {
        Ok(m) => {
            let order = state
                .store
                .open_shop_disputes(&user, 200)
                .await?
                .into_iter()
                .find(|d| d.id == m.dispute_id)
                .map_or(0, |d| d.order_id);
            Ok(see_other(&format!("/desk?replied={order}#disputes")))
        }
        Err(StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => refused(&state, &visitor, e).await,
    }
}

pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<DeskQuery>,
) -> Result<Response, WebError> {
    render(&state, &visitor, q.notice(visitor.ui), StatusCode::OK).await
}

/// Turns a refusal the supplier can act on into the page with its message.
async fn refused(state: &AppState, v: &Visitor, e: StoreError) -> Result<Response, WebError> {
    let text = super::refusal::store(v.ui, e)?;
    render(
        state,
        v,
        Notice::Error(text),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /desk/stock/{subproduct}` (multipart: csrf, file, dedupe).
pub async fn upload(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(subproduct): PagePath<String>,
    mut multipart: Multipart,
) -> Result<Response, WebError> {
    let user = supplier(&visitor)?.user_id.clone();
    if !souk_core::id::is_entity_id(&subproduct) {
        return Err(WebError::NotFound);
    }
    let ui = visitor.ui;
    let (mut csrf, mut file, mut dedupe) = (None, None, false);
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                let text = ui
                    .t(
                        "The upload could not be read (at most 8 MiB).",
                        "Не удалось прочитать файл (не больше 8 МиБ).",
                    )
                    .to_owned();
                return render(
                    &state,
                    &visitor,
                    Notice::Error(text),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let Ok(bytes) = field.bytes().await else {
            let text = ui
                .t(
                    "The upload could not be read (at most 8 MiB).",
                    "Не удалось прочитать файл (не больше 8 МиБ).",
                )
                .to_owned();
            return render(
                &state,
                &visitor,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        };
        match name.as_str() {
            "csrf" => csrf = Some(String::from_utf8_lossy(&bytes).into_owned()),
            "file" => file = Some(bytes),
            "dedupe" => dedupe = bytes.as_ref() == b"true",
            _ => {}
        }
    }
    visitor.check_csrf(csrf.as_deref())?;
    let lines = match file.as_deref().map(supply::parse_stock_upload) {
        Some(Ok(lines)) if !lines.is_empty() => lines,
        Some(Err(e)) => return refused(&state, &visitor, StoreError::Supply(e)).await,
        _ => {
            let text = ui
                .t(
                    "Choose a text file with at least one line.",
                    "Выберите текстовый файл хотя бы с одной строкой.",
                )
                .to_owned();
            return render(
                &state,
                &visitor,
                Notice::Error(text),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    drop(file);
    let command = UploadStock {
        supplier_id: user,
        subproduct_id: subproduct.trim().to_owned(),
        lines,
        dedupe,
    };
    match stock::upload(&state.store, command, state.now()).await {
        Ok(done) => {
            state.apply_changes(&done.changes).await?;
            Ok(see_other(&format!(
                "/desk?uploaded={}&rejected={}",
                done.accepted, done.rejected
            )))
        }
        Err(e) => refused(&state, &visitor, e).await,
    }
}

#[derive(Deserialize)]
pub struct DeliverForm {
    csrf: Option<String>,
    #[serde(default)]
    accounts: String,
}

/// `POST /desk/orders/{order}/deliver`: one account per line.
pub async fn deliver(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(order): PagePath<i64>,
    PageForm(form): PageForm<DeliverForm>,
) -> Result<Response, WebError> {
    let user = supplier(&visitor)?.user_id.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    let accounts: Vec<String> = form
        .accounts
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if accounts.is_empty() {
        let text = visitor
            .ui
            .t(
                "Enter at least one account, one per line.",
                "Введите хотя бы один аккаунт, по одному в строке.",
            )
            .to_owned();
        return render(
            &state,
            &visitor,
            Notice::Error(text),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let command = Deliver {
        supplier_id: user,
        order_id: order,
        accounts,
    };
    match supplier_orders::deliver(&state.store, command, state.now()).await {
        Ok(done) => Ok(see_other(&format!("/desk?delivered={}", done.order_id))),
        Err(e) => refused(&state, &visitor, e).await,
    }
}

#[derive(Deserialize)]
pub struct NoteForm {
    csrf: Option<String>,
    #[serde(default)]
    note: String,
}

/// `POST /desk/orders/{order}/fail`: refunds what is undelivered.
pub async fn fail(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(order): PagePath<i64>,
    PageForm(form): PageForm<NoteForm>,
) -> Result<Response, WebError> {
    let user = supplier(&visitor)?.user_id.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    let command = FailOrder {
        supplier_id: user,
        order_id: order,
        reason: form.note.trim().to_owned(),
    };
    match supplier_orders::fail(&state.store, command, state.now()).await {
        Ok(done) => Ok(see_other(&format!("/desk?failed={}", done.order_id))),
        Err(e) => refused(&state, &visitor, e).await,
    }
}

/// `POST /desk/withdraw`: everything available, in every shop that has some.
pub async fn withdraw(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<NoteForm>,
) -> Result<Response, WebError> {
    let user = supplier(&visitor)?.user_id.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    match withdrawals::request_everything(&state.store, &user, form.note.trim(), state.now()).await
    {
        Ok(requested) => Ok(see_other(&format!("/desk?withdrawal={}", requested.len()))),
        Err(e) => refused(&state, &visitor, e).await,
    }
}
