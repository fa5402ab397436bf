//! The account's notifications: whether Telegram is linked (a one-time deep link to link
//! it, a button to unlink), and which events the user wants on Telegram and by e-mail
//! (the kinds of their audience: a buyer's, and a supplier's too for suppliers). The
//! rules live in `souk_app::telegram` and `souk_app::notify`.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use souk_app::notify::{check_kinds, kinds_for, Chooser};
use souk_app::telegram::{self, TelegramError};
use souk_store::TELEGRAM;

use super::error::{PageForm, WebError};
use super::layout::{document, respond, see_other, when, Notice};
use super::session::Visitor;
use crate::state::AppState;

const EMAIL: &str = "email";

#[derive(Deserialize, Default)]
pub struct PageQuery {
    saved: Option<String>,
    unlinked: Option<String>,
}

fn chooser(visitor: &Visitor) -> Chooser {
    match &visitor.session {
        Some(s) if s.is_supplier => Chooser::Supplier,
        _ => Chooser::Buyer,
    }
}

/// The page, with `notice` above it and, right after "Link Telegram", the deep link.
async fn render(
    state: &AppState,
    visitor: &Visitor,
    status: StatusCode,
    notice: Notice,
    deep_link: Option<(String, i64)>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let ui = visitor.ui;
    let bot = state.store.telegram_settings().await?.filter(|s| s.enabled);
    let link = state.store.telegram_link(&user.user_id).await?;
    let on_telegram = state
        .store
        .notification_prefs(&user.user_id, TELEGRAM)
        .await?;
    let by_email = state.store.notification_prefs(&user.user_id, EMAIL).await?;
    let kinds = kinds_for(chooser(visitor));
    let content = html! {
        h1 { (ui.t("Notifications", "Уведомления")) }
        (notice.render())
        section.card #telegram {
            h2 { "Telegram" }
            @if let Some(l) = &link {
                p #telegram-linked {
                    (ui.t("Linked", "Привязан"))
                    @if !l.username.is_empty() { " (@" (l.username) ")" }
                    " · " (when(l.linked_at))
                }
                form method="post" action="/account/notifications/telegram/unlink" {
                    input type="hidden" name="csrf" value=(visitor.csrf());
                    button #telegram-unlink type="submit" { (ui.t("Unlink Telegram", "Отвязать Telegram")) }
                }
            } @else {
                p #telegram-unlinked { (ui.t("Telegram is not linked.", "Telegram не привязан.")) }
            }
            @if bot.is_some() {
                @if let Some((href, expires_at)) = &deep_link {
                    p {
                        (ui.t("Open this link in Telegram and press Start. It works once, until ", "Откройте эту ссылку в Telegram и нажмите «Start». Она работает один раз, до "))
                        (when(*expires_at)) ":"
                    }
                    p { a #telegram-deep-link href=(href) rel="noopener" { (href) } }
                }
                form method="post" action="/account/notifications/telegram/link" {
                    input type="hidden" name="csrf" value=(visitor.csrf());
                    button #telegram-link type="submit" {
                        @if link.is_some() { (ui.t("Link another chat", "Привязать другой чат")) }
                        @else { (ui.t("Link Telegram", "Привязать Telegram")) }
                    }
                }
            } @else {
                p.muted { (ui.t("Telegram notifications are not available on this site.", "Уведомления в Telegram на этом сайте недоступны.")) }
            }
        }
        section.card #choices {
            h2 { (ui.t("What to tell you", "О чём сообщать")) }
            form method="post" action="/account/notifications" {
                input type="hidden" name="csrf" value=(visitor.csrf());
                div.scroll { table #notification-prefs {
                    thead { tr { th { (ui.t("Event", "Событие")) } th { "Telegram" } th { "E-mail" } } }
                    tbody {
                        @for k in &kinds {
                            tr #{"pref-" (k.name)} {
                                td { (ui.t(k.en, k.ru)) " " code.muted { (k.name) } }
                                td { input type="checkbox" name="telegram" value=(k.name) checked[on_telegram.iter().any(|c| c == k.name)]; }
                                td { input type="checkbox" name="email" value=(k.name) checked[by_email.iter().any(|c| c == k.name)]; }
                            }
                        }
                    }
                } }
                button #save-prefs type="submit" { (ui.t("Save", "Сохранить")) }
            }
        }
    };
    Ok(respond(
        visitor,
        status,
        document(visitor, ui.t("Notifications", "Уведомления"), content),
    ))
}

/// Remembers the page's language as the user's: their messages are written in it.
async fn remember_lang(state: &AppState, visitor: &Visitor) -> Result<(), WebError> {
    if let Some(s) = &visitor.session {
        state
            .store
            .set_user_lang(&s.user_id, visitor.ui.code())
            .await?;
    }
    Ok(())
}

/// `GET /account/notifications`.
pub async fn page(
    State(state): State<AppState>,
    visitor: Visitor,
    Query(q): Query<PageQuery>,
) -> Result<Response, WebError> {
    let ui = visitor.ui;
    let notice = if q.saved.is_some() {
        Notice::Ok(ui.t("Saved.", "Сохранено.").to_owned())
    } else if q.unlinked.is_some() {
        Notice::Ok(
            ui.t(
                "Telegram was unlinked: nothing more is sent there.",
                "Telegram отвязан: туда больше ничего не отправляется.",
            )
            .to_owned(),
        )
    } else {
        Notice::None
    };
    render(&state, &visitor, StatusCode::OK, notice, None).await
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /account/notifications/telegram/link`: a one-time deep link, shown once.
pub async fn link(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    let ui = visitor.ui;
    remember_lang(&state, &visitor).await?;
    match telegram::new_link(&state.store, &user.user_id, state.now()).await {
        Ok(deep_link) => {
            render(
                &state,
                &visitor,
                StatusCode::OK,
                Notice::None,
                Some(deep_link),
            )
            .await
        }
        Err(TelegramError::NotSetUp | TelegramError::Disabled) => {
            let notice = Notice::Error(
                ui.t(
                    "Telegram notifications are not available on this site.",
                    "Уведомления в Telegram на этом сайте недоступны.",
                )
                .to_owned(),
            );
            render(&state, &visitor, StatusCode::CONFLICT, notice, None).await
        }
        Err(TelegramError::Store(e)) => Err(e.into()),
        Err(e) => Err(WebError::Store(souk_store::StoreError::Internal(
            e.to_string(),
        ))),
    }
}

/// `POST /account/notifications/telegram/unlink`.
pub async fn unlink(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(form): PageForm<CsrfForm>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    visitor.check_csrf(form.csrf.as_deref())?;
    state.store.unlink_telegram(&user.user_id, None).await?;
    Ok(see_other("/account/notifications?unlinked=1"))
}

/// `POST /account/notifications`: the checked kinds per channel (`telegram=<kind>`,
/// `email=<kind>`, repeated). A kind that is not the user's refuses the whole form and
/// changes nothing.
pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    PageForm(fields): PageForm<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let user = visitor.user()?;
    let csrf = fields
        .iter()
        .find(|(k, _)| k == "csrf")
        .map(|(_, v)| v.as_str());
    visitor.check_csrf(csrf)?;
    let ui = visitor.ui;
    let mut telegram_kinds = Vec::new();
    let mut email_kinds = Vec::new();
    for (key, value) in &fields {
        match key.as_str() {
            "csrf" => {}
            "telegram" => telegram_kinds.push(value.clone()),
            EMAIL => email_kinds.push(value.clone()),
            _ => {
                let notice = Notice::Error(format!(
                    "{} {key:?}",
                    ui.t("Unknown field", "Неизвестное поле")
                ));
                return render(&state, &visitor, StatusCode::BAD_REQUEST, notice, None).await;
            }
        }
    }
    let who = chooser(&visitor);
    let checked =
        check_kinds(who, &telegram_kinds).and_then(|t| Ok((t, check_kinds(who, &email_kinds)?)));
    let (telegram_kinds, email_kinds) = match checked {
        Ok(kinds) => kinds,
        Err(why) => {
            let notice = Notice::Error(format!(
                "{} {why}",
                ui.t("Nothing was saved.", "Ничего не сохранено.")
            ));
            return render(&state, &visitor, StatusCode::BAD_REQUEST, notice, None).await;
        }
    };
    state
        .store
        .set_notification_prefs(&user.user_id, TELEGRAM, &telegram_kinds)
        .await?;
    state
        .store
        .set_notification_prefs(&user.user_id, EMAIL, &email_kinds)
        .await?;
    remember_lang(&state, &visitor).await?;
    Ok(see_other("/account/notifications?saved=1"))
}
