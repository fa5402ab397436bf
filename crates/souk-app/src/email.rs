//! The `email.send` job: one audience's e-mails (`notifications` on channel `email`),
//! oldest first, through the operator's SMTP relay. An event's e-mail is rendered here
//! (subject from the kind's title, the event's fields below it) in the user's language
//! (`users.lang`, as Telegram messages are; English for the operator); a pre-rendered
//! one (a reset or verification link, in the language of the page that asked) goes as
//! it is.
//!
//! The operator's events go to the operator e-mail of the SMTP settings, a user's to
//! their account's address. A refusal for good (5xx, an address that cannot be used)
//! fails that message and the queue goes on; anything else (4xx, the relay down) is
//! tried again with growing waits, the queue waiting behind it so its order holds,
//! until [`MAX_ATTEMPTS`] tries fail it. With mail off, what is queued is failed rather
//! than kept for a relay that may never come.

use serde_json::Value;
use souk_client::smtp::{self, Mail};
use souk_core::event::{self, OPERATOR};
use souk_core::Lang;
use souk_store::{Event, PendingEmail, Store, StoreError};

use crate::mail::{self as mail_settings, Letter};
use crate::notify::{Channels, QueueStep};

/// Tries of one message before it is failed (the waits add up to about a day).
pub const MAX_ATTEMPTS: i64 = 10;

/// The wait after the `attempts`-th failed try, in ms.
pub fn backoff_ms(attempts: i64) -> i64 {
    const MINUTE: i64 = 60_000;
    const WAITS: [i64; 9] = [1, 2, 5, 15, 30, 60, 120, 240, 480];
    let i = usize::try_from(attempts.max(1) - 1).unwrap_or(0);
    WAITS.get(i).copied().unwrap_or(720) * MINUTE
}

/// Messages read per round of a queue.
const BATCH: i64 = 50;

/// Sends the queue `key` names (an audience), oldest first.
pub async fn send_queue(channels: &Channels, key: &str, now: i64) -> Result<QueueStep, String> {
    run(channels, key, now).await.map_err(|e| e.to_string())
}

async fn run(channels: &Channels, audience: &str, now: i64) -> Result<QueueStep, StoreError> {
    let store = &channels.store;
    let Some((relay, settings)) = mail_settings::enabled_relay(store).await? else {
        fail_all(channels, audience, "e-mail is off (SMTP not enabled)").await?;
        return Ok(QueueStep::Done);
    };
    let to = if audience == OPERATOR {
        settings.operator_email.clone()
    } else {
        match store.user(audience).await {
            Ok(user) => user.email,
            Err(StoreError::NotFound(_)) => String::new(),
            Err(e) => return Err(e),
        }
    };
    let lang = audience_lang(store, audience).await?;
    if to.is_empty() {
        let why = if audience == OPERATOR {
            "no operator e-mail is set"
        } else {
            "no such user"
        };
        fail_all(channels, audience, why).await?;
        return Ok(QueueStep::Done);
    }
    loop {
        let pending = store.pending_emails(audience, BATCH).await?;
        for message in &pending {
            if message.next_at > now {
                return Ok(QueueStep::Again(message.next_at));
            }
            let letter = match letter_of(channels, message, lang).await? {
                Ok(letter) => letter,
                Err(why) => {
                    store.email_failed(message.id, &why).await?;
                    continue;
                }
            };
            let mail = Mail {
                to: to.clone(),
                subject: letter.subject,
                text: letter.text,
            };
            match smtp::send(&relay, channels.allow_private, &mail).await {
                Ok(()) => store.email_sent(message.id, now).await?,
                Err(e) if e.is_permanent() => {
                    tracing::warn!(audience, id = message.id, error = %e, "e-mail refused");
                    store.email_failed(message.id, &e.to_string()).await?;
                }
                Err(e) => {
                    let attempts = message.attempts + 1;
                    if attempts >= MAX_ATTEMPTS {
                        tracing::warn!(audience, id = message.id, error = %e, "e-mail given up");
                        store.email_failed(message.id, &e.to_string()).await?;
                        continue;
                    }
                    let at = now + backoff_ms(attempts);
                    store.email_retry(message.id, &e.to_string(), at).await?;
                    return Ok(QueueStep::Again(at));
                }
            }
        }
        if (pending.len() as i64) < BATCH {
            return Ok(QueueStep::Done);
        }
    }
}

/// Fails every pending message of the queue with `why`.
async fn fail_all(channels: &Channels, audience: &str, why: &str) -> Result<(), StoreError> {
    loop {
        let pending = channels.store.pending_emails(audience, BATCH).await?;
        for message in &pending {
            channels.store.email_failed(message.id, why).await?;
        }
        if (pending.len() as i64) < BATCH {
            return Ok(());
        }
    }
}

/// The message to send, or why there is none.
async fn letter_of(
    channels: &Channels,
    message: &PendingEmail,
    lang: Lang,
) -> Result<Result<Letter, String>, StoreError> {
    match (&message.body, message.event_seq) {
        (Err(()), _) => Ok(Err("the message cannot be opened with this data key".into())),
        (Ok(Some(body)), _) => Ok(serde_json::from_str::<Letter>(body)
            .map_err(|e| format!("the queued message is unreadable: {e}"))),
        (Ok(None), Some(seq)) => Ok(match channels.store.event(seq).await? {
            Some(e) => Ok(render_event(&e, lang)),
            None => Err(format!("event {seq} is gone")),
        }),
        (Ok(None), None) => Ok(Err("the message has neither an event nor a body".into())),
    }
}

/// A field's value as a line shows it (text unquoted, `-` for none).
fn value_text(v: &Value) -> String {
    let text = match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let one_line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    one_line
}

/// The language an audience's e-mails are written in: the user's, English for the
/// operator (and for a user gone meanwhile).
async fn audience_lang(store: &Store, audience: &str) -> Result<Lang, StoreError> {
    if audience == OPERATOR {
        return Ok(Lang::En);
    }
    Ok(match store.user_lang(audience).await?.as_deref() {
        Some("ru") => Lang::Ru,
        _ => Lang::En,
    })
}

/// The e-mail telling of event `e` in `lang` (Russian or English): the kind's title as
/// the subject, the event's fields below it.
pub fn render_event(e: &Event, lang: Lang) -> Letter {
    let ru = lang == Lang::Ru;
    let title = match event::find(&e.kind) {
        Some(k) if ru => k.ru,
        Some(k) => k.en,
        None => e.kind.as_str(),
    };
    let mut fields = String::new();
    if let Value::Object(map) = e.data() {
        for (k, v) in &map {
            fields.push_str(&format!("  {k}: {}\n", value_text(v)));
        }
    }
    let when = souk_core::clock::iso_millis(e.created_at);
    let footer = if ru {
        format!(
            "Событие {} ({}), {when}.\nВы получили это письмо, потому что это событие выбрано для почты \
             на странице уведомлений вашего аккаунта.\n",
            e.kind, e.id
        )
    } else {
        format!(
            "Event {} ({}) at {when}.\nYou get this e-mail because this event is chosen for e-mail \
             on your account's notifications page.\n",
            e.kind, e.id
        )
    };
    Letter {
        subject: title.to_owned(),
        text: format!("{title}\n\n{fields}\n{footer}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stops_growing() {
        assert_eq!(backoff_ms(1), 60_000);
        assert!(backoff_ms(2) > backoff_ms(1));
        assert_eq!(backoff_ms(50), 720 * 60_000);
        let total: i64 = (1..MAX_ATTEMPTS).map(backoff_ms).sum();
        assert!(total > 12 * 3_600_000 && total < 48 * 3_600_000, "{total}");
    }

    #[test]
    fn renders_an_event() {
        let e = Event {
            seq: 1,
            id: "msg_1".into(),
            kind: event::ORDER_COMPLETED.into(),
            audience: "u".into(),
            subject: "order:12".into(),
            payload: r#"{"order":12,"status":"Completed","remains":null,"link":"a\nb"}"#.into(),
            created_at: 0,
        };
        let l = render_event(&e, Lang::En);
        assert_eq!(l.subject, "Order completed");
        assert!(l.text.contains("  order: 12\n"), "{}", l.text);
        assert!(l.text.contains("  status: Completed\n"));
        assert!(l.text.contains("  remains: -\n"));
        assert!(l.text.contains("  link: a b\n"));
        let ru = render_event(&e, Lang::Ru);
        assert_eq!(ru.subject, "Заказ выполнен");
        assert!(ru.text.contains("  order: 12\n") && ru.text.contains("Событие"));
    }
}
