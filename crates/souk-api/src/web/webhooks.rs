//! The signed-in user's webhook endpoints (`/account/webhooks`): the list with each
//! endpoint's state and latest attempts, adding one (its secret shown once, on the page
//! that answers the form), sending a test, resending a delivery, re-enabling, deleting.
//! The rules are `souk_app::webhooks`'; every form carries the CSRF token.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;
use souk_app::webhooks::{self, NewWebhook, Owner, WebhookChange, WebhookError};
use souk_store::{StoreError, WebSession};

use super::error::{PageForm, PagePath, WebError};
use super::i18n::Ui;
use super::layout::{document, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;

/// Attempts and deliveries shown per endpoint.
const RECENT: i64 = 10;

fn owner(user: &WebSession) -> Owner<'_> {
    Owner::User {
        id: &user.user_id,
        is_supplier: user.is_supplier,
    }
}

#[derive(Deserialize, Default)]
pub struct PageQuery {
    done: Option<String>,
}

#[derive(Deserialize)]
pub struct AddForm {
    csrf: Option<String>,
    url: Option<String>,
    events: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// A refusal in the visitor's language (details, like a URL parser's words, stay as
/// they are).
fn refusal(ui: Ui, e: WebhookError) -> Result<String, WebError> {
    use souk_client::webhook::WebhookError as Url;
    Ok(match e {
        WebhookError::Store(StoreError::NotFound(_)) => return Err(WebError::NotFound),
        WebhookError::Store(e) => return Err(WebError::from(e)),
        WebhookError::Url(Url::BadUrl(why)) => {
            format!("{} {why}", ui.t("The URL is not valid:", "Неверный URL:"))
        }
        WebhookError::Url(Url::BadScheme) => ui
            .t(
                "The URL must be http or https.",
                "URL должен начинаться с http или https.",
            )
            .to_owned(),
        WebhookError::Url(Url::Private(host)) => format!(
            "{} {host}",
            ui.t(
                "The URL points at a private or local address:",
                "URL указывает на частный или локальный адрес:"
            )
        ),
        WebhookError::DescriptionTooLong => ui
            .t(
                "The description is too long (at most 200 characters).",
                "Описание слишком длинное (не более 200 символов).",
            )
            .to_owned(),
        WebhookError::TooMany => ui
            .t(
                "You have the most endpoints allowed (100).",
                "У вас уже максимум адресов (100).",
            )
            .to_owned(),
        WebhookError::Disabled => ui
            .t(
                "The endpoint is disabled: enable it first.",
                "Адрес отключён: сначала включите его.",
            )
            .to_owned(),
        other => other.to_string(),
    })
}

fn done_notice(ui: Ui, done: Option<&str>) -> Notice {
    let text = match done {
        Some("deleted") => ui.t("The endpoint was deleted.", "Адрес удалён."),
        Some("test") => ui.t(
            "A test message is on its way.",
            "Тестовое сообщение отправляется.",
        ),
        Some("resent") => ui.t("The delivery goes again.", "Доставка будет повторена."),
        Some("enabled") => ui.t(
            "The endpoint is enabled again; what waited is being sent.",
            "Адрес снова включён; накопившееся отправляется.",
        ),
        _ => return Notice::None,
    };
    Notice::Ok(text.to_owned())
}

async fn render(
    state: &AppState,
    visitor: &Visitor,
    notice: Notice,
    created: Option<(&str, &str)>,
    form: Option<&AddForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let endpoints = state.store.webhook_endpoints(&user.user_id).await?;
    let mut details = Vec::with_capacity(endpoints.len());
    for e in &endpoints {
        let attempts = state.store.webhook_attempts(&e.id, RECENT).await?;
        let deliveries = state.store.webhook_deliveries(&e.id, RECENT).await?;
        details.push((e, attempts, deliveries));
    }
    let kinds = owner(user).kinds();
    let csrf = visitor.csrf();
    let field =
        |f: fn(&AddForm) -> &Option<String>| form.and_then(|a| f(a).clone()).unwrap_or_default();
    let content: Markup = html! {
        h1 { (ui.t("Webhooks", "Вебхуки")) }
        (notice.render())
        p.muted { (ui.t(
            "Souk sends your events to these URLs, signed per the Standard Webhooks specification (headers webhook-id, webhook-timestamp, webhook-signature). Failed deliveries are retried after 5 s, 5 min, 30 min, 2 h, 5 h and 10 h; an endpoint failing for a day is disabled.",
            "Souk отправляет ваши события на эти адреса с подписью по спецификации Standard Webhooks (заголовки webhook-id, webhook-timestamp, webhook-signature). Неудачные доставки повторяются через 5 с, 5 мин, 30 мин, 2 ч, 5 ч и 10 ч; адрес, который не отвечает сутки, отключается."
        )) }
        @if let Some((id, secret)) = created {
            section.card #new-secret {
                h2 { (ui.t("Endpoint added", "Адрес добавлен")) }
                p { (ui.t("Its signing secret, shown this once: keep it with your receiver.", "Секрет для подписи показывается один раз: сохраните его у получателя.")) }
                p { code.secret #secret data-endpoint=(id) { (secret) } }
            }
        }
        section.card {
            h2 { (ui.t("Add an endpoint", "Добавить адрес")) }
            form method="post" action="/account/webhooks" #add-webhook {
                input type="hidden" name="csrf" value=(csrf);
                label { "URL " input type="url" name="url" required value=(field(|f| &f.url)) placeholder="https://example.com/souk-webhook"; }
                label { (ui.t("Events (comma-separated, * for all)", "События (через запятую, * — все)")) " " input type="text" name="events" value=(field(|f| &f.events)) placeholder="*"; }
                label { (ui.t("Description", "Описание")) " " input type="text" name="description" maxlength="200" value=(field(|f| &f.description)); }
                button type="submit" { (ui.t("Add", "Добавить")) }
            }
            p.muted { (ui.t("Your events: ", "Ваши события: ")) @for (i, k) in kinds.iter().enumerate() { @if i > 0 { ", " } code { (k) } } }
        }
        @if details.is_empty() {
            p.muted #no-webhooks { (ui.t("No endpoints yet.", "Адресов пока нет.")) }
        }
        @for (e, attempts, deliveries) in &details {
            article.card.webhook #{"webhook-" (e.id)} {
                h3 { code { (e.url) } }
                @if !e.description.is_empty() { p.muted { (e.description) } }
                p {
                    @if e.enabled {
                        span.status.ok { (ui.t("enabled", "включён")) }
                    } @else {
                        span.status.error { (ui.t("disabled", "отключён")) }
                    }
                    " · " (ui.t("events", "события")) ": " code { (e.events) }
                    " · " (ui.t("waiting", "в очереди")) ": " (e.pending)
                    @if let Some(since) = e.failing_since { " · " (ui.t("failing since", "ошибки с")) " " (when(since)) }
                }
                @if !e.disabled_reason.is_empty() {
                    p.notice.error.reason { (e.disabled_reason) }
                }
                div.actions {
                    @if e.enabled {
                        form.inline method="post" action={"/account/webhooks/" (e.id) "/test"} {
                            input type="hidden" name="csrf" value=(csrf);
                            button.small type="submit" { (ui.t("Send a test", "Отправить тест")) }
                        }
                    } @else {
                        form.inline method="post" action={"/account/webhooks/" (e.id) "/enable"} {
                            input type="hidden" name="csrf" value=(csrf);
                            button.small type="submit" { (ui.t("Enable again", "Включить снова")) }
                        }
                    }
                    form.inline method="post" action={"/account/webhooks/" (e.id) "/delete"} {
                        input type="hidden" name="csrf" value=(csrf);
                        button.small type="submit" data-confirm=(ui.t("Delete this endpoint and its history?", "Удалить этот адрес и его историю?")) { (ui.t("Delete", "Удалить")) }
                    }
                }
                @if !deliveries.is_empty() {
                    h4 { (ui.t("Deliveries", "Доставки")) }
                    div.scroll { table.deliveries {
                        thead { tr { th { (ui.t("Event", "Событие")) } th { (ui.t("State", "Состояние")) } th.num { (ui.t("Tries", "Попыток")) } th { (ui.t("Recorded", "Создано")) } th {} } }
                        tbody { @for d in deliveries {
                            tr #{"delivery-" (d.id)} {
                                td { code { (d.kind) } " " span.muted { (d.event_id) } }
                                td { @if d.state == "delivered" { (ui.t("delivered", "доставлено")) } @else { (ui.t("waiting", "ожидает")) " · " (when(d.next_at)) } }
                                td.num { (d.attempts) }
                                td { (when(d.created_at)) }
                                td { form.inline method="post" action={"/account/webhooks/" (e.id) "/deliveries/" (d.id) "/resend"} {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button.small type="submit" { (ui.t("Resend", "Повторить")) }
                                } }
                            }
                        } }
                    } }
                }
                @if !attempts.is_empty() {
                    h4 { (ui.t("Latest attempts", "Последние попытки")) }
                    div.scroll { table.attempts {
                        thead { tr { th { (ui.t("When", "Когда")) } th { (ui.t("Event", "Событие")) } th { (ui.t("Status", "Статус")) } th.num { "ms" } th { (ui.t("Answer or error", "Ответ или ошибка")) } } }
                        tbody { @for a in attempts {
                            tr {
                                td { (when(a.created_at)) }
                                td { code { (a.kind) } }
                                td { @if let Some(s) = a.status { (s) } @else { "—" } }
                                td.num { (a.duration_ms) }
                                td { @if !a.error.is_empty() { span.error { (a.error) } " " } @if !a.response.is_empty() { code.excerpt { (excerpt(&a.response)) } } }
                            }
                        } }
                    } }
                }
            }
        }
    };
    Ok(respond(
        visitor,
        StatusCode::OK,
        document(visitor, ui.t("Webhooks", "Вебхуки"), content),
    ))
}

/// The start of a receiver's answer, for a table cell.
fn excerpt(text: &str) -> String {
    let mut out: String = text.chars().take(200).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// `GET /account/webhooks`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let notice = done_notice(visitor.ui, q.done.as_deref());
    render(&state, &visitor, notice, None, None).await
}

/// `POST /account/webhooks`: adds an endpoint and shows its secret once.
pub async fn add(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<AddForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let new = NewWebhook {
        url: form.url.clone().unwrap_or_default(),
        events: vec![form.events.clone().unwrap_or_default()],
        description: form.description.clone().unwrap_or_default(),
    };
    match webhooks::create(
        &state.store,
        owner(user),
        &new,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await
    {
        Ok((endpoint, secret)) => {
            render(
                &state,
                &visitor,
                Notice::None,
                Some((&endpoint.id, &secret)),
                None,
            )
            .await
        }
        Err(e) => {
            let text = refusal(visitor.ui, e)?;
            render(&state, &visitor, Notice::Error(text), None, Some(&form)).await
        }
    }
}

fn endpoint_id(id: &str) -> Result<String, WebError> {
    let id = id.trim().to_ascii_lowercase();
    if souk_core::id::is_entity_id(&id) {
        Ok(id)
    } else {
        Err(WebError::NotFound)
    }
}

/// `POST /account/webhooks/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let id = endpoint_id(&id)?;
    match webhooks::remove(&state.store, owner(user), &id, state.now()).await {
        Ok(()) => Ok(see_other("/account/webhooks?done=deleted")),
        Err(StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/webhooks/{id}/test`.
pub async fn test(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let id = endpoint_id(&id)?;
    match webhooks::send_test(&state.store, owner(user), &id, state.now()).await {
        Ok(_) => Ok(see_other("/account/webhooks?done=test")),
        Err(e) => {
            let text = refusal(visitor.ui, e)?;
            render(&state, &visitor, Notice::Error(text), None, None).await
        }
    }
}

/// `POST /account/webhooks/{id}/enable`: clears the failures and sends what waited.
pub async fn enable(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath(id): PagePath<String>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let id = endpoint_id(&id)?;
    let change = WebhookChange {
        enabled: Some(true),
        ..WebhookChange::default()
    };
    match webhooks::update(
        &state.store,
        owner(user),
        &id,
        &change,
        state.config.allow_private_upstreams,
        state.now(),
    )
    .await
    {
        Ok(_) => Ok(see_other("/account/webhooks?done=enabled")),
        Err(e) => {
            let text = refusal(visitor.ui, e)?;
            render(&state, &visitor, Notice::Error(text), None, None).await
        }
    }
}

/// `POST /account/webhooks/{id}/deliveries/{delivery}/resend`.
pub async fn resend(
    State(state): State<AppState>,
    visitor: Visitor,
    PagePath((id, delivery)): PagePath<(String, i64)>,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let id = endpoint_id(&id)?;
    match state
        .store
        .resend_webhook_delivery(&user.user_id, &id, delivery, state.now())
        .await
    {
        Ok(()) => Ok(see_other("/account/webhooks?done=resent")),
        Err(StoreError::NotFound(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}
