//! Adding funds: the buyer picks an amount and one of the methods the operator enabled,
//! sees what it costs and earns (fee, total to pay, deposit bonus) before anything is
//! made, then confirms. A gateway payment sends the buyer to the gateway's pay page; a
//! manual transfer is reported with its transaction id and waits for the operator.
//! `/account/payments/{id}` is where the gateway sends the buyer back: the payment's state
//! as Souk knows it (from asking the gateway, never from the return itself), reloading
//! itself while it waits.
//!
//! The rules are `souk_app::payments` (quote, start); this module only renders them.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::payments::{self, PaymentError, StartPayment, MANUAL};
use souk_core::payment::{PaymentState, Quote, QuoteError};
use souk_core::Money;
use souk_store::{GatewayRecord, PaymentRecord, StoreError};

use super::error::{PageForm, PagePath, WebError};
use super::i18n::Ui;
use super::layout::{document, document_refreshing, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;

/// How many payments `/account/payments` lists.
const RECENT: i64 = 50;
/// How often a payment page waiting for a gateway reloads itself.
const GATEWAY_REFRESH_S: u32 = 3;
/// How often a manual transfer's page reloads: the operator confirms it in hours, not
/// seconds.
const TRANSFER_REFRESH_S: u32 = 30;

#[derive(Deserialize, Default)]
pub struct FundsForm {
    csrf: Option<String>,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    gateway: String,
    #[serde(default)]
    transfer_id: String,
    #[serde(default)]
    confirm: String,
}

/// A method's limits and fee, as the form lists them.
fn terms(ui: Ui, g: &GatewayRecord, currency: &str) -> String {
    format!(
        "{} {}% · {} {} – {} {}",
        ui.t("fee", "комиссия"),
        souk_core::supply::format_percent(g.fee_bp),
        Money::from_micros(g.min_amount).display2(),
        currency,
        Money::from_micros(g.max_amount).display2(),
        currency,
    )
}

/// The amount as typed: `25`, `25.50`, or `25,50` (a decimal comma).
fn parse_amount(text: &str) -> Option<Money> {
    let t = text.trim();
    let t = if t.contains(',') && !t.contains('.') {
        t.replacen(',', ".", 1)
    } else {
        t.to_owned()
    };
    Money::parse(&t).ok()
}

/// Why a top-up cannot be made, in the visitor's language; `Err` for what is not the
/// buyer's to fix.
fn refusal(ui: Ui, e: PaymentError) -> Result<String, WebError> {
    Ok(match e {
        PaymentError::UnknownGateway => ui
            .t("Unknown payment method.", "Неизвестный способ оплаты.")
            .to_owned(),
        PaymentError::Unavailable => ui
            .t(
                "This payment method is not available.",
                "Этот способ оплаты недоступен.",
            )
            .to_owned(),
        PaymentError::Quote(QuoteError::BadAmount) => bad_amount(ui),
        PaymentError::Quote(QuoteError::BelowMin(min)) => format!(
            "{} {min}.",
            ui.t("The amount must be at least", "Сумма должна быть не меньше")
        ),
        PaymentError::Quote(QuoteError::AboveMax(max)) => format!(
            "{} {max}.",
            ui.t("The amount must be at most", "Сумма должна быть не больше")
        ),
        PaymentError::TransferId => ui
            .t(
                "Enter the transaction id of your transfer (up to 200 characters).",
                "Укажите номер транзакции вашего перевода (до 200 символов).",
            )
            .to_owned(),
        PaymentError::Gateway(_) => ui
            .t(
                "The payment gateway could not be reached; nothing was charged. Try again later.",
                "Платёжный шлюз недоступен; ничего не списано. Попробуйте позже.",
            )
            .to_owned(),
        PaymentError::Store(StoreError::Conflict(_)) => already_submitted(ui),
        PaymentError::Invalid(text) => text,
        PaymentError::Store(e) => return Err(e.into()),
    })
}

fn bad_amount(ui: Ui) -> String {
    ui.t(
        "The amount must be a positive number with at most two decimals.",
        "Сумма должна быть положительным числом, не более двух знаков после запятой.",
    )
    .to_owned()
}

fn already_submitted(ui: Ui) -> String {
    ui.t(
        "This transaction id was already submitted.",
        "Этот номер транзакции уже был отправлен.",
    )
    .to_owned()
}

/// The transaction id as `start` will take it, checked here first so the quote is not
/// shown for a transfer that cannot be submitted.
/// `Some(why)` when it cannot be.
async fn check_transfer_id(
    state: &AppState,
    ui: Ui,
    text: &str,
) -> Result<Option<String>, WebError> {
    let id = text.trim();
    if id.is_empty() || id.chars().count() > 200 || !souk_core::input::is_clean(id, false) {
        return Ok(Some(refusal(ui, PaymentError::TransferId)?));
    }
    Ok(state
        .store
        .payment_by_external(MANUAL, id)
        .await?
        .map(|_| already_submitted(ui)))
}

/// `form-action` for the confirmation of a gateway payment: its answer is a redirect to
/// the gateway's pay page, which browsers check against the form's policy. Any https
/// origin (the pay pages live on hosts of their own, `checkout.stripe.com`), and the
/// configured base URL's origin (a gateway reached over plain http, as in tests).
fn confirm_csp(g: &GatewayRecord) -> String {
    let mut sources = "'self' https:".to_owned();
    if let Some(rest) = g.base_url.strip_prefix("http://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if !host.is_empty() && host.bytes().all(|b| b.is_ascii_graphic() && b != b';') {
            sources.push_str(&format!(" http://{host}"));
        }
    }
    crate::router::CSP.replace("form-action 'self'", &format!("form-action {sources}"))
}

struct Page<'a> {
    form: &'a FundsForm,
    notice: Notice,
    /// The quote to confirm, with its method.
    quote: Option<(GatewayRecord, Quote)>,
}

async fn render(
    state: &AppState,
    v: &Visitor,
    page: Page<'_>,
    status: StatusCode,
) -> Result<Response, WebError> {
    let ui = v.ui;
    let methods = payments::methods(&state.store).await?;
    let currency = &state.config.currency;
    let form = page.form;
    let chosen = if form.gateway.is_empty() && methods.len() == 1 {
        methods[0].id.as_str()
    } else {
        form.gateway.as_str()
    };
    let content = html! {
        h1 { (ui.t("Add funds", "Пополнение баланса")) }
        (page.notice.render())
        @if let Some((g, q)) = &page.quote {
            (confirmation(v, g, q, form, currency))
        }
        @if methods.is_empty() {
            p #no-methods { (ui.t("Adding funds is not available at the moment: no payment method is enabled.", "Пополнение сейчас недоступно: не включён ни один способ оплаты.")) }
        } @else {
            form.card #funds-form method="post" action="/account/funds" {
                input type="hidden" name="csrf" value=(v.csrf());
                p {
                    label for="amount" { (ui.t("Amount", "Сумма")) " (" (currency) ")" }
                    input #amount type="text" name="amount" inputmode="decimal" required value=(form.amount) placeholder="25.00" autocomplete="off";
                }
                fieldset #methods {
                    legend { (ui.t("Payment method", "Способ оплаты")) }
                    @for g in &methods {
                        div.method #{"method-" (g.id)} {
                            label {
                                input type="radio" name="gateway" value=(g.id) checked[chosen == g.id];
                                " " strong { (g.title) }
                                " " span.muted { (terms(ui, g, currency)) }
                            }
                            @if g.id == MANUAL {
                                div.manual {
                                    @if !g.instructions.is_empty() {
                                        pre #manual-instructions { (g.instructions) }
                                    }
                                    p {
                                        label for="transfer-id" { (ui.t("Transaction id of your transfer", "Номер транзакции вашего перевода")) }
                                        input #transfer-id type="text" name="transfer_id" maxlength="200" value=(form.transfer_id) autocomplete="off";
                                    }
                                    p.hint { (ui.t("Send the money as described, then enter the transaction id: the operator credits it once the transfer arrives.", "Переведите деньги, как указано, и введите номер транзакции: оператор зачислит сумму, когда перевод поступит.")) }
                                }
                            }
                        }
                    }
                }
                button #funds-submit type="submit" { (ui.t("Continue", "Продолжить")) }
            }
        }
        p { a href="/account/payments" #payments-link { (ui.t("Your payments", "Ваши платежи")) } }
    };
    let mut response = respond(
        v,
        status,
        document(v, ui.t("Add funds", "Пополнение баланса"), content),
    );
    if let Some((g, _)) = &page.quote {
        if g.id != MANUAL {
            if let Ok(csp) = HeaderValue::from_str(&confirm_csp(g)) {
                response
                    .headers_mut()
                    .insert(header::CONTENT_SECURITY_POLICY, csp);
            }
        }
    }
    Ok(response)
}

/// The quote and the button that starts the payment.
fn confirmation(
    v: &Visitor,
    g: &GatewayRecord,
    q: &Quote,
    form: &FundsForm,
    currency: &str,
) -> Markup {
    let ui = v.ui;
    let manual = g.id == MANUAL;
    html! {
        section.card #quote {
            h2 { (ui.t("Check before paying", "Проверьте перед оплатой")) }
            table.quote {
                tbody {
                    tr { th { (ui.t("Method", "Способ")) } td #quote-method { (g.title) } }
                    tr { th { (ui.t("To be credited", "Будет зачислено")) } td.num #quote-amount { (q.amount.display2()) " " (currency) } }
                    tr { th { (ui.t("Fee", "Комиссия")) " (" (souk_core::supply::format_percent(g.fee_bp)) "%)" } td.num #quote-fee { (q.fee.display2()) " " (currency) } }
                    tr { th { (ui.t("Total to pay", "Итого к оплате")) } td.num { strong #quote-total { (q.total.display2()) " " (currency) } } }
                    tr { th { (ui.t("Deposit bonus", "Бонус за пополнение")) } td.num #quote-bonus { "+" (q.bonus.display2()) " " (currency) } }
                }
            }
            @if q.bonus.micros() > 0 {
                p.hint { (ui.t("The bonus is credited with the amount once it is paid in full.", "Бонус зачисляется вместе с суммой после полной оплаты.")) }
            }
            @if manual {
                p { (ui.t("Transaction id", "Номер транзакции")) ": " code #quote-transfer-id { (form.transfer_id.trim()) } }
            }
            form method="post" action="/account/funds" {
                input type="hidden" name="csrf" value=(v.csrf());
                input type="hidden" name="amount" value=(q.amount.display2());
                input type="hidden" name="gateway" value=(g.id);
                @if manual { input type="hidden" name="transfer_id" value=(form.transfer_id.trim()); }
                input type="hidden" name="confirm" value="1";
                button #funds-confirm type="submit" {
                    @if manual { (ui.t("Submit transfer", "Отправить перевод")) }
                    @else { (ui.t("Pay", "Оплатить")) " " (q.total.display2()) " " (currency) }
                }
            }
        }
    }
}

/// `GET /account/funds`.
pub async fn page(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    visitor.user()?;
    let form = FundsForm::default();
    render(
        &state,
        &visitor,
        Page {
            form: &form,
            notice: Notice::None,
            quote: None,
        },
        StatusCode::OK,
    )
    .await
}

/// `POST /account/funds`: without `confirm`, the quote to confirm; with it, the payment
/// started and the buyer sent on (the gateway's pay page, or the transfer's page).
pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    PageForm(form): PageForm<FundsForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?.clone();
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    let refused = |notice: String| Page {
        form: &form,
        notice: Notice::Error(notice),
        quote: None,
    };
    let gateway = form.gateway.trim();
    if gateway.is_empty() {
        let notice = ui
            .t("Choose a payment method.", "Выберите способ оплаты.")
            .to_owned();
        return render(
            &state,
            &visitor,
            refused(notice),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let Some(amount) = parse_amount(&form.amount) else {
        return render(
            &state,
            &visitor,
            refused(bad_amount(ui)),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let (g, q) = match payments::quote(&state.store, gateway, amount).await {
        Ok(quoted) => quoted,
        Err(e) => {
            let notice = refusal(ui, e)?;
            return render(
                &state,
                &visitor,
                refused(notice),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    };
    if g.id == MANUAL {
        if let Some(notice) = check_transfer_id(&state, ui, &form.transfer_id).await? {
            return render(
                &state,
                &visitor,
                refused(notice),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await;
        }
    }
    if form.confirm.trim() != "1" {
        let page = Page {
            form: &form,
            notice: Notice::None,
            quote: Some((g, q)),
        };
        return render(&state, &visitor, page, StatusCode::OK).await;
    }
    // Every confirmation asks a gateway for an invoice: the buyer's web bucket, as buying.
    if !state.key_limiter.allow(&format!("web:{}", user.user_id)) {
        let notice = super::refusal::api(ui, &souk_core::ApiError::RateLimited);
        return render(
            &state,
            &visitor,
            refused(notice),
            StatusCode::TOO_MANY_REQUESTS,
        )
        .await;
    }
    let started = payments::start(
        &state.store,
        state.config.allow_private_upstreams,
        StartPayment {
            user_id: user.user_id.clone(),
            gateway: g.id.clone(),
            amount,
            transfer_id: (g.id == MANUAL).then(|| form.transfer_id.clone()),
            public_url: super::docs::public_url(&state, &headers),
            currency: state.config.currency.clone(),
        },
        state.now(),
    )
    .await;
    match started {
        Ok(p) if p.gateway != MANUAL && is_web_url(&p.pay_url) => Ok(see_other(&p.pay_url)),
        Ok(p) => Ok(see_other(&format!("/account/payments/{}", p.id))),
        Err(e) => {
            // A gateway that could not be reached too: a page with the form again (a 5xx
            // here could be swapped for a proxy's own error page).
            let notice = refusal(ui, e)?;
            render(
                &state,
                &visitor,
                refused(notice),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// A gateway's pay page address the buyer may be sent to: http(s) only.
fn is_web_url(url: &str) -> bool {
    souk_core::web_url::web_url(url, 4096).is_ok()
}

/// A payment's state in words: (words, a longer line).
fn state_words(ui: Ui, p: &PaymentRecord) -> (&'static str, &'static str) {
    let manual = p.gateway == MANUAL;
    match p.state() {
        Some(PaymentState::Created | PaymentState::Pending) if manual => (
            ui.t("Waiting for confirmation", "Ожидает подтверждения"),
            ui.t(
                "The operator credits your transfer once it arrives. This page updates itself.",
                "Оператор зачислит перевод, когда он поступит. Страница обновляется сама.",
            ),
        ),
        Some(PaymentState::Created | PaymentState::Pending) => (
            ui.t("Waiting for the payment", "Ожидает оплаты"),
            ui.t(
                "As soon as the gateway confirms the payment, it is credited. This page updates itself.",
                "Как только шлюз подтвердит оплату, сумма будет зачислена. Страница обновляется сама.",
            ),
        ),
        Some(PaymentState::Paid) => (
            ui.t("Paid", "Оплачен"),
            ui.t("The payment is credited to your balance.", "Платёж зачислен на ваш баланс."),
        ),
        Some(PaymentState::PartiallyPaid) => (
            ui.t("Partially paid", "Оплачен частично"),
            ui.t(
                "Less than the invoice arrived; what arrived is credited to your balance.",
                "Поступило меньше суммы счёта; поступившее зачислено на ваш баланс.",
            ),
        ),
        Some(PaymentState::Held) => (
            ui.t("Held for review", "На проверке"),
            ui.t(
                "The amount paid differs from the invoice: the operator reviews the payment.",
                "Оплаченная сумма отличается от суммы счёта: платёж проверяет оператор.",
            ),
        ),
        Some(PaymentState::Expired) => (
            ui.t("Expired", "Истёк"),
            ui.t(
                "The invoice expired unpaid. If you paid it, the payment is still credited once the gateway confirms it.",
                "Счёт истёк неоплаченным. Если вы его оплатили, платёж всё равно будет зачислен, когда шлюз подтвердит его.",
            ),
        ),
        Some(PaymentState::Failed) if manual => (
            ui.t("Rejected", "Отклонён"),
            ui.t("The transfer was not confirmed.", "Перевод не подтверждён."),
        ),
        Some(PaymentState::Failed) | None => (
            ui.t("Failed", "Не удался"),
            ui.t("Nothing was credited.", "Ничего не зачислено."),
        ),
    }
}

/// The methods' titles by id (a payment names its gateway by id).
async fn titles(state: &AppState) -> Result<Vec<(String, String)>, WebError> {
    Ok(state
        .store
        .gateways()
        .await?
        .into_iter()
        .map(|g| (g.id, g.title))
        .collect())
}

fn title_of<'a>(titles: &'a [(String, String)], id: &'a str) -> &'a str {
    titles
        .iter()
        .find(|(g, _)| g == id)
        .map_or(id, |(_, t)| t.as_str())
}

/// `GET /account/payments/{id}`: one of the buyer's payments; someone else's is no page.
pub async fn payment(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<String>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    if !souk_core::id::is_entity_id(&id) {
        return Err(WebError::NotFound);
    }
    let p = state
        .store
        .payment(&id)
        .await?
        .filter(|p| p.user_id == user.user_id)
        .ok_or(WebError::NotFound)?;
    let balance = state.store.balance(&user.user_id).await?;
    let titles = titles(&state).await?;
    let currency = &state.config.currency;
    let money = |micros: i64| format!("{} {}", Money::from_micros(micros).display2(), currency);
    let waiting = matches!(
        p.state(),
        Some(PaymentState::Created | PaymentState::Pending)
    );
    let credited = p.state().is_some_and(PaymentState::is_credited);
    let manual = p.gateway == MANUAL;
    let (words, line) = state_words(ui, &p);
    let content = html! {
        h1 { (ui.t("Payment", "Платёж")) " " code { (p.id) } }
        section.card #payment {
            p.big { (ui.t("State", "Состояние")) ": " strong #payment-state data-state=(p.state) { (words) } }
            p #payment-explained { (line) }
            @if p.late {
                p.notice.ok #payment-late { (ui.t("Paid after the invoice expired; credited all the same.", "Оплачен после истечения счёта; зачислен всё равно.")) }
            }
            @if waiting && !manual && is_web_url(&p.pay_url) {
                p { a.button #pay-link href=(p.pay_url) { (ui.t("Pay", "Оплатить")) " " (money(p.total)) } " " span.muted { (ui.t("until", "до")) " " (when(p.expires_at)) } }
            }
            table.quote {
                tbody {
                    tr { th { (ui.t("Method", "Способ")) } td #payment-method { (title_of(&titles, &p.gateway)) } }
                    @if manual { @if let Some(t) = &p.external_id { tr { th { (ui.t("Transaction id", "Номер транзакции")) } td { code #payment-transfer-id { (t) } } } } }
                    tr { th { (ui.t("Amount", "Сумма")) } td.num #payment-amount { (money(p.amount)) } }
                    tr { th { (ui.t("Fee", "Комиссия")) } td.num #payment-fee { (money(p.fee)) } }
                    tr { th { (ui.t("Total to pay", "Итого к оплате")) } td.num #payment-total { (money(p.total)) } }
                    @if p.bonus > 0 && !credited { tr { th { (ui.t("Deposit bonus on full payment", "Бонус за полную оплату")) } td.num #payment-bonus { "+" (money(p.bonus)) } } }
                    @if let Some(r) = p.received { tr { th { (ui.t("Received", "Получено")) } td.num #payment-received { (money(r)) } } }
                    @if credited {
                        tr { th { (ui.t("Credited", "Зачислено")) } td.num #payment-credited { (money(p.credited)) } }
                        tr { th { (ui.t("Deposit bonus", "Бонус за пополнение")) } td.num #payment-bonus-credited { "+" (money(p.bonus_credited)) } }
                    }
                    tr { th { (ui.t("Created", "Создан")) } td { (when(p.created_at)) } }
                    @if let Some(at) = p.settled_at { tr { th { (ui.t("Settled", "Завершён")) } td { (when(at)) } } }
                }
            }
            @if manual && !p.note.is_empty() && !waiting {
                p.muted #payment-note { (ui.t("Note", "Примечание")) ": " (p.note) }
            }
        }
        section.card {
            p.big { (ui.t("Balance", "Баланс")) ": " strong #balance { (balance.display2()) } " " (currency) }
            p { a href="/account/funds" #add-funds { (ui.t("Add funds", "Пополнить")) } " · " a href="/account/payments" #payments-link { (ui.t("Your payments", "Ваши платежи")) } }
        }
    };
    let title = ui.t("Payment", "Платёж");
    let doc = if waiting {
        let every = if manual {
            TRANSFER_REFRESH_S
        } else {
            GATEWAY_REFRESH_S
        };
        document_refreshing(&visitor, title, content, every)
    } else {
        document(&visitor, title, content)
    };
    Ok(respond(&visitor, StatusCode::OK, doc))
}

/// `GET /account/payments`: the buyer's payments, newest first.
pub async fn list(State(state): State<AppState>, visitor: Visitor) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let list = state
        .store
        .payments(Some(&user.user_id), None, RECENT)
        .await?;
    let titles = titles(&state).await?;
    let currency = &state.config.currency;
    let content = html! {
        h1 { (ui.t("Payments", "Платежи")) }
        p { a href="/account/funds" #add-funds { (ui.t("Add funds", "Пополнить")) } }
        @if list.is_empty() {
            p.muted #no-payments { (ui.t("No payments yet.", "Платежей пока нет.")) }
        } @else {
            div.scroll { table #payments {
                thead { tr { th { (ui.t("When", "Когда")) } th { (ui.t("Payment", "Платёж")) } th { (ui.t("Method", "Способ")) } th.num { (ui.t("Amount", "Сумма")) } th.num { (ui.t("Total to pay", "К оплате")) } th.num { (ui.t("Credited", "Зачислено")) } th { (ui.t("State", "Состояние")) } } }
                tbody {
                    @for p in &list {
                        tr #{"payment-" (p.id)} data-state=(p.state) {
                            td { (when(p.created_at)) }
                            td { a href={"/account/payments/" (p.id)} { (p.id) } }
                            td { (title_of(&titles, &p.gateway)) }
                            td.num { (Money::from_micros(p.amount).display2()) }
                            td.num { (Money::from_micros(p.total).display2()) }
                            td.num { @if p.credited + p.bonus_credited > 0 { (Money::from_micros(p.credited + p.bonus_credited).display2()) } }
                            td { (state_words(ui, p).0) }
                        }
                    }
                }
            } }
            p.muted { (ui.t("Amounts in", "Суммы в")) " " (currency) }
        }
    };
    Ok(respond(
        &visitor,
        StatusCode::OK,
        document(&visitor, ui.t("Payments", "Платежи"), content),
    ))
}
