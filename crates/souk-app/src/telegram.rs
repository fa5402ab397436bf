//! Telegram notifications: the operator's bot (token sealed, username learnt from
//! `getMe`), one-time deep links that tie a chat to an audience (`/start <token>`, read
//! by the `telegram.updates` job), and each audience's queue sent to its chat in its
//! language, at most one message a second per chat as Telegram asks.
//!
//! Only a linked chat ever gets anything: messages go to the chat of the queue's own
//! audience, and the bot answers strangers with help or a refusal, nothing more.

use serde_json::{json, Value};
use souk_client::telegram::{self as bot, Bot, Client, Incoming};
use souk_core::event::{self, OPERATOR};
use souk_store::{NewAuditEntry, Store, StoreError, TelegramSettings, TELEGRAM};

use crate::notify::{check_kinds, kinds_for, Channels, Chooser, QueueStep};

/// How long a deep link works.
pub const LINK_TTL_MS: i64 = 60 * 60 * 1000;
/// Telegram's pace per chat: one message a second.
pub const PER_CHAT_MS: i64 = 1000;
/// How often the bot's messages are read.
pub const POLL_EVERY_MS: i64 = 3000;
/// Tries of a message that cannot be sent for a passing reason before it is dropped.
const MAX_TRIES: i64 = 8;

#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    /// Input the caller can fix; nothing was changed.
    #[error("{0}")]
    Invalid(String),
    #[error("Telegram is not set up: give the bot's token first")]
    NotSetUp,
    #[error("Telegram notifications are turned off")]
    Disabled,
    /// The Bot API refused or could not be reached.
    #[error("{0}")]
    Bot(bot::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The operator's change to the bot: absent fields are kept.
#[derive(Clone, Debug, Default)]
pub struct TelegramPatch {
    pub token: Option<String>,
    /// Empty: Telegram's own.
    pub base_url: Option<String>,
    pub enabled: Option<bool>,
    /// The operator's own events sent to the operator's chat.
    pub operator_events: Option<Vec<String>>,
}

/// The bot as shown (never its token).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TelegramView {
    pub configured: bool,
    pub enabled: bool,
    pub base_url: String,
    pub bot_username: String,
    pub operator_chat: Option<i64>,
    pub operator_events: Vec<String>,
    pub updated_at: Option<i64>,
}

/// A base URL as stored: `http(s)://host[:port][/path]`, no trailing slash; empty for
/// Telegram's own.
fn base_url(text: &str) -> Result<String, TelegramError> {
    if text.trim().is_empty() {
        return Ok(String::new());
    }
    souk_core::web_url::web_url(text, 300)
        .map_err(|e| TelegramError::Invalid(format!("base_url {e}")))
}

fn client(s: &TelegramSettings, allow_private: bool) -> Result<Client, TelegramError> {
    Client::new(&s.base_url, &s.token, allow_private).map_err(TelegramError::Bot)
}

/// The bot as set up, for the operator.
pub async fn view(store: &Store) -> Result<TelegramView, TelegramError> {
    let settings = store.telegram_settings().await?;
    let link = store.telegram_link(OPERATOR).await?;
    Ok(TelegramView {
        configured: settings.is_some(),
        enabled: settings.as_ref().is_some_and(|s| s.enabled),
        base_url: settings
            .as_ref()
            .map(|s| s.base_url.clone())
            .unwrap_or_default(),
        bot_username: settings
            .as_ref()
            .map(|s| s.bot_username.clone())
            .unwrap_or_default(),
        operator_chat: link.map(|l| l.chat_id),
        operator_events: store.notification_prefs(OPERATOR, TELEGRAM).await?,
        updated_at: settings.map(|s| s.updated_at),
    })
}

/// The bot's settings as an audit row shows them: the token only as set.
fn audit_view(s: &TelegramSettings, events: &[String]) -> serde_json::Value {
    serde_json::json!({
        "enabled": s.enabled,
        "token": "set",
        "baseUrl": s.base_url,
        "botUsername": s.bot_username,
        "operatorEvents": events,
    })
}

/// `configure` by `actor` (the operator API), audited (`telegram.configure`) with the
/// settings and the operator's events before (read in the transaction that stores the
/// new ones) and after; a token given is "replaced", never shown.
pub async fn configure_as(
    store: &Store,
    actor: &crate::operators::Acting,
    allow_private: bool,
    patch: TelegramPatch,
    now: i64,
) -> Result<TelegramView, TelegramError> {
    let replaced = patch.token.is_some();
    configure_audited(
        store,
        allow_private,
        patch,
        now,
        |before, events_before, after, events_after| {
            let mut after = audit_view(after, events_after);
            if replaced {
                after["token"] = serde_json::json!("replaced");
            }
            Some(actor.audit_entry(
                "telegram.configure",
                "notifier:telegram",
                before.map(|b| audit_view(b, events_before)),
                Some(after),
            ))
        },
    )
    .await
}

/// `configure` with the audit row `audit` makes of the settings and the operator's
/// events before (read in the transaction) and after, written in the one transaction
/// that stores both.
pub async fn configure_audited(
    store: &Store,
    allow_private: bool,
    patch: TelegramPatch,
    now: i64,
    audit: impl FnOnce(
            Option<&TelegramSettings>,
            &[String],
            &TelegramSettings,
            &[String],
        ) -> Option<souk_store::NewAuditEntry>
        + Send,
) -> Result<TelegramView, TelegramError> {
    let current = store.telegram_settings().await?;
    let token = match patch.token.map(|t| t.trim().to_owned()) {
        Some(t) if !bot::valid_token(&t) => {
            return Err(TelegramError::Invalid(
                "token must be a bot token as BotFather gives it: 123456789:AA... (digits, a colon, 30 or more letters, digits, _ or -)".into(),
            ))
        }
        Some(t) => Some(t),
        None => None,
    };
    let base = patch.base_url.as_deref().map(base_url).transpose()?;
    let events = match &patch.operator_events {
        Some(wanted) => {
            Some(check_kinds(Chooser::Operator, wanted).map_err(TelegramError::Invalid)?)
        }
        None => None,
    };
    let Some(token) = token.or_else(|| current.as_ref().map(|c| c.token.clone())) else {
        return Err(TelegramError::NotSetUp);
    };
    let mut next = TelegramSettings {
        enabled: patch
            .enabled
            .or(current.as_ref().map(|c| c.enabled))
            .unwrap_or(false),
        token,
        base_url: base
            .or_else(|| current.as_ref().map(|c| c.base_url.clone()))
            .unwrap_or_default(),
        bot_username: current
            .as_ref()
            .map(|c| c.bot_username.clone())
            .unwrap_or_default(),
        updated_at: now,
    };
    let same_bot = current
        .as_ref()
        .is_some_and(|c| c.token == next.token && c.base_url == next.base_url);
    if !same_bot || next.bot_username.is_empty() {
        let me = client(&next, allow_private)?
            .get_me()
            .await
            .map_err(TelegramError::Bot)?;
        next.bot_username = me.username;
    }
    // The settings, the operator's events and the audit row in one transaction.
    store
        .put_telegram_settings_audited(&next, events.as_deref(), now, |before, events_before| {
            audit(
                before,
                events_before,
                &next,
                events.as_deref().unwrap_or(events_before),
            )
        })
        .await?;
    view(store).await
}

/// Calls `getMe` with the stored token.
pub async fn check(store: &Store, allow_private: bool) -> Result<Bot, TelegramError> {
    let settings = store
        .telegram_settings()
        .await?
        .ok_or(TelegramError::NotSetUp)?;
    client(&settings, allow_private)?
        .get_me()
        .await
        .map_err(TelegramError::Bot)
}

/// A one-time deep link that links the chat it is opened in to `audience`: the link and
/// when it stops working.
pub async fn new_link(
    store: &Store,
    audience: &str,
    now: i64,
) -> Result<(String, i64), TelegramError> {
    let settings = store
        .telegram_settings()
        .await?
        .ok_or(TelegramError::NotSetUp)?;
    if !settings.enabled {
        return Err(TelegramError::Disabled);
    }
    // 160 random bits in 40 hex digits: a `start` parameter may hold 64 of [A-Za-z0-9_-].
    let token = souk_store::crypto::new_api_key();
    let expires_at = now + LINK_TTL_MS;
    store
        .create_telegram_token(audience, &token, expires_at, now)
        .await?;
    Ok((
        format!("https://t.me/{}?start={token}", settings.bot_username),
        expires_at,
    ))
}

/// True for a token `new_link` could have made.
fn link_token_shape(token: &str) -> bool {
    token.len() == 40
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// English or Russian.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Ru,
}

impl Lang {
    fn of(code: &str) -> Lang {
        if code.trim().to_ascii_lowercase().starts_with("ru") {
            Lang::Ru
        } else {
            Lang::En
        }
    }

    fn t<'a>(self, en: &'a str, ru: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::Ru => ru,
        }
    }
}

/// The language an audience's messages are written in: the user's (`users.lang`),
/// English for the operator.
async fn audience_lang(store: &Store, audience: &str) -> Result<Lang, StoreError> {
    if audience == OPERATOR {
        return Ok(Lang::En);
    }
    Ok(Lang::of(
        store.user_lang(audience).await?.as_deref().unwrap_or("en"),
    ))
}

/// The fields of an event's data a message shows, in this order, with their labels.
const FIELDS: &[(&str, &str, &str)] = &[
    ("order", "Order", "Заказ"),
    ("refill", "Refill", "Докрутка"),
    ("payment", "Payment", "Платёж"),
    ("dispute", "Dispute", "Спор"),
    ("withdrawal", "Withdrawal", "Вывод"),
    ("review", "Review", "Отзыв"),
    ("service", "Service", "Услуга"),
    ("name", "Name", "Название"),
    ("country", "Country", "Страна"),
    ("phone", "Number", "Номер"),
    ("code", "Code", "Код"),
    ("status", "Status", "Статус"),
    ("state", "State", "Состояние"),
    ("quantity", "Quantity", "Количество"),
    ("delivered", "Delivered", "Выполнено"),
    ("remains", "Remains", "Осталось"),
    ("stock", "In stock", "В наличии"),
    ("threshold", "Threshold", "Порог"),
    ("amount", "Amount", "Сумма"),
    ("charge", "Charge", "Списано"),
    ("refunded", "Refunded", "Возвращено"),
    ("refund", "Refund", "Возврат"),
    ("credited", "Credited", "Зачислено"),
    ("bonus", "Bonus", "Бонус"),
    ("currency", "Currency", "Валюта"),
    ("gateway", "Gateway", "Платёжная система"),
    ("shop", "Shop", "Магазин"),
    ("rating", "Rating", "Оценка"),
    ("text", "Text", "Текст"),
    ("message", "Message", "Сообщение"),
    ("resolution", "Resolution", "Решение"),
    ("provider", "Provider", "Провайдер"),
    ("balance", "Balance", "Баланс"),
    ("job", "Job", "Задача"),
    ("reason", "Reason", "Причина"),
    ("why", "Why", "Почему"),
    ("error", "Error", "Ошибка"),
];

/// An event as a message: its kind's title in bold, then the key fields of its data
/// (each escaped; the SMS code as `code` so it is copied with a tap).
pub fn render(kind: &str, data: &Value, lang: Lang) -> String {
    let title = match event::find(kind) {
        Some(k) => lang.t(k.en, k.ru).to_owned(),
        None => kind.to_owned(),
    };
    let mut out = format!("<b>{}</b>", bot::escape_html(&title));
    for (key, en, ru) in FIELDS {
        let text = match data.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::Bool(b)) => b.to_string(),
            _ => continue,
        };
        let text: String = text.chars().take(200).collect();
        let value = match *key {
            "order" | "refill" | "payment" | "dispute" | "withdrawal" | "review" | "job" => {
                format!("#{}", bot::escape_html(&text))
            }
            "code" => format!("<code>{}</code>", bot::escape_html(&text)),
            _ => bot::escape_html(&text),
        };
        out.push_str(&format!("\n{}: {value}", lang.t(en, ru)));
    }
    out
}

/// Sends the queue of the audience `key` names: its oldest pending message to its chat,
/// then again in a second while more wait. A chat that blocked the bot is unlinked and
/// the queue failed; an audience with no chat (or Telegram off) gets nothing, its queue
/// failed; a flood wait keeps the message for after the wait.
pub async fn send_queue(channels: &Channels, key: &str, now: i64) -> Result<QueueStep, String> {
    send(channels, key, now).await.map_err(|e| e.to_string())
}

async fn send(channels: &Channels, audience: &str, now: i64) -> Result<QueueStep, TelegramError> {
    let store = &channels.store;
    let settings = store.telegram_settings().await?.filter(|s| s.enabled);
    let Some(settings) = settings else {
        store
            .fail_notifications(
                TELEGRAM,
                audience,
                "Telegram notifications are turned off",
                now,
            )
            .await?;
        return Ok(QueueStep::Done);
    };
    let Some(link) = store.telegram_link(audience).await? else {
        store
            .fail_notifications(TELEGRAM, audience, "no Telegram chat linked", now)
            .await?;
        return Ok(QueueStep::Done);
    };
    if let Some(last) = store.telegram_last_sent(audience).await? {
        if last + PER_CHAT_MS > now {
            return Ok(QueueStep::Again(last + PER_CHAT_MS));
        }
    }
    let queue = store.telegram_queue(audience, 2).await?;
    let Some(message) = queue.first() else {
        return Ok(QueueStep::Done);
    };
    if message.next_at > now {
        // Waiting out a flood wait or a retry, even when a new event woke the queue.
        return Ok(QueueStep::Again(message.next_at));
    }
    let more = queue.len() > 1;
    let text = match &message.body {
        Some(body) => bot::escape_html(body),
        None => {
            let data: Value = serde_json::from_str(&message.payload).unwrap_or(Value::Null);
            render(&message.kind, &data, audience_lang(store, audience).await?)
        }
    };
    let next = if more {
        QueueStep::Again(now + PER_CHAT_MS)
    } else {
        QueueStep::Done
    };
    match client(&settings, channels.allow_private)?
        .send_message(link.chat_id, &text)
        .await
    {
        Ok(_) => {
            store.notification_sent(message.id, now).await?;
            Ok(next)
        }
        Err(bot::Error::RetryAfter(secs)) => {
            // Kept, first in line: sent once the wait is over.
            let at = now + i64::try_from(secs).unwrap_or(3600) * 1000;
            let why = bot::Error::RetryAfter(secs).to_string();
            store
                .notification_failed(message.id, &why, Some(at), now)
                .await?;
            Ok(QueueStep::Again(at))
        }
        Err(bot::Error::Blocked(why)) => {
            tracing::info!(audience, "a Telegram chat blocked the bot: unlinked");
            store
                .notification_failed(
                    message.id,
                    &format!("the chat refuses the bot: {why}"),
                    None,
                    now,
                )
                .await?;
            store.unlink_telegram(audience, Some(link.chat_id)).await?;
            store
                .fail_notifications(TELEGRAM, audience, "the chat blocked the bot", now)
                .await?;
            Ok(QueueStep::Done)
        }
        Err(e) if e.is_transient() || e == bot::Error::Unauthorized => {
            // Telegram (or the token) may be back later: the message waits, a few times.
            let give_up = message.attempts + 1 >= MAX_TRIES && e != bot::Error::Unauthorized;
            let retry = (!give_up).then_some(now);
            store
                .notification_failed(message.id, &e.to_string(), retry, now)
                .await?;
            if give_up {
                return Ok(next);
            }
            Err(TelegramError::Bot(e))
        }
        Err(e) => {
            // Refused for good (a bad request): this message is dropped, the rest go on.
            store
                .notification_failed(message.id, &e.to_string(), None, now)
                .await?;
            Ok(next)
        }
    }
}

/// Reads what people wrote to the bot since `offset` and answers each: `/start <token>`
/// links the chat, anything else gets a short help. Answers the next offset, or `None`
/// when Telegram is off (the job ends; enabling it brings the job back).
pub async fn poll_updates(
    store: &Store,
    allow_private: bool,
    offset: i64,
    now: i64,
) -> Result<Option<i64>, TelegramError> {
    let Some(settings) = store.telegram_settings().await?.filter(|s| s.enabled) else {
        return Ok(None);
    };
    let client = client(&settings, allow_private)?;
    // No long poll: the job comes back every few seconds and must not hold a worker.
    let updates = client
        .get_updates(offset, 0)
        .await
        .map_err(TelegramError::Bot)?;
    let mut next = offset;
    for update in updates {
        next = next.max(update.update_id + 1);
        let Some(message) = update.message else {
            continue;
        };
        // Deep links open private chats; the bot says nothing in groups.
        if message.chat_type != "private" {
            continue;
        }
        let reply = answer(store, &message, now).await?;
        if let Err(e) = client.send_message(message.chat_id, &reply).await {
            tracing::warn!(error = %e, "answering a Telegram message failed");
        }
    }
    Ok(Some(next))
}

/// What the bot answers a message.
async fn answer(store: &Store, m: &Incoming, now: i64) -> Result<String, TelegramError> {
    let theirs = Lang::of(&m.language);
    let text = m.text.trim();
    let command = text.split_whitespace().next().unwrap_or("");
    let is_start = command == "/start" || command.starts_with("/start@");
    if !is_start {
        return Ok(help(theirs));
    }
    let token = text[command.len()..].trim();
    if token.is_empty() {
        return Ok(help(theirs));
    }
    let linked = if link_token_shape(token) {
        // The operator's alerts going to a new chat is an audit row, by whoever opened
        // the link (a buyer's or supplier's own link is theirs).
        let chat = json!({ "chat": m.chat_id, "username": m.username });
        store
            .link_telegram(token, m.chat_id, &m.username, now, |audience, before| {
                (audience == OPERATOR).then(|| NewAuditEntry {
                    operator_id: None,
                    operator_email: "Telegram".into(),
                    action: "telegram.link".into(),
                    subject: "notifier:telegram".into(),
                    before: before
                        .map(|b| json!({ "chat": b.chat_id, "username": b.username }).to_string()),
                    after: Some(chat.to_string()),
                })
            })
            .await?
    } else {
        None
    };
    let Some(audience) = linked else {
        return Ok(theirs
            .t(
                "Sorry, this link does not work: it was used already, has expired, or was mistyped. Open your account's Notifications page and link Telegram again.",
                "Извините, эта ссылка не работает: она уже использована, истекла или набрана с ошибкой. Откройте страницу «Уведомления» в аккаунте и привяжите Telegram заново.",
            )
            .to_owned());
    };
    if audience == OPERATOR {
        // The operator who links a chat wants its alerts: every operator event, until
        // chosen otherwise (`operator_events`).
        if store
            .notification_prefs(OPERATOR, TELEGRAM)
            .await?
            .is_empty()
        {
            let all: Vec<String> = kinds_for(Chooser::Operator)
                .iter()
                .map(|k| k.name.to_owned())
                .collect();
            store
                .set_notification_prefs(OPERATOR, TELEGRAM, &all)
                .await?;
        }
        return Ok("This chat now gets the operator's notifications.".to_owned());
    }
    let lang = audience_lang(store, &audience).await?;
    Ok(lang
        .t(
            "Done: this chat is linked to your Souk account. You will get the notifications you chose on your account's Notifications page.",
            "Готово: этот чат привязан к вашему аккаунту Souk. Сюда будут приходить уведомления, выбранные на странице «Уведомления» в аккаунте.",
        )
        .to_owned())
}

fn help(lang: Lang) -> String {
    lang.t(
        "This bot sends Souk notifications. To link this chat, open your account's Notifications page, press \"Link Telegram\" and follow the link.",
        "Этот бот присылает уведомления Souk. Чтобы привязать чат, откройте страницу «Уведомления» в аккаунте, нажмите «Привязать Telegram» и перейдите по ссылке.",
    )
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_events() {
        let text = render(
            "order.completed",
            &json!({"order": 12, "status": "Completed", "charge": "1.50", "link": "<x>", "remains": null}),
            Lang::En,
        );
        assert_eq!(
            text,
            "<b>Order completed</b>\nOrder: #12\nStatus: Completed\nCharge: 1.50"
        );
        let ru = render(
            "sms.code_received",
            &json!({"order": 3, "code": "12<34"}),
            Lang::Ru,
        );
        assert_eq!(
            ru,
            "<b>Получен SMS-код</b>\nЗаказ: #3\nКод: <code>12&lt;34</code>"
        );
    }

    #[test]
    fn base_urls() {
        assert_eq!(base_url(" ").ok().as_deref(), Some(""));
        assert_eq!(
            base_url("https://tg.example/").ok().as_deref(),
            Some("https://tg.example")
        );
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("https://").is_err());
    }

    #[test]
    fn link_tokens() {
        assert!(link_token_shape(&souk_store::crypto::new_api_key()));
        assert!(!link_token_shape("abc"));
        assert!(!link_token_shape(&"Z".repeat(40)));
    }
}
