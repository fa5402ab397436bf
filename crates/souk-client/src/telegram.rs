//! Telegram Bot API client: `getMe`, `sendMessage` and `getUpdates`, at
//! `{base}/bot{token}/{method}` (base `https://api.telegram.org` unless the operator
//! points it elsewhere: a proxy, or a fake in tests).
//!
//! The token is part of every URL, so no error this module makes carries a URL (reqwest's
//! errors are stripped of theirs) and `Client`'s `Debug` hides it: the token never
//! reaches a log. Calls go through the shared guarded client (private destinations
//! refused unless allowed), bounded in time, and read at most [`MAX_ANSWER_BYTES`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::guard::{check_literal_host, refused_host, shared_client, GuardError};

pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";
/// The longest a call (sending and reading its answer) may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The most of an answer read: a page of updates fits many times over.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;
/// Updates asked for at once.
const UPDATES_LIMIT: u32 = 100;
/// The longest a `getUpdates` long poll is held (the job polls every few seconds).
const MAX_POLL_SECS: u64 = 5;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Telegram's flood control: wait this many seconds before the next message.
    #[error("Telegram asks to wait {0} s before sending again")]
    RetryAfter(u64),
    /// 403: the user blocked the bot (or the chat is gone for the bot).
    #[error("the chat refuses the bot: {0}")]
    Blocked(String),
    /// 401 or 404 on the bot's own URL: the token is wrong or revoked.
    #[error("Telegram refused the bot token")]
    Unauthorized,
    /// Any other refusal (`error_code`, `description`).
    #[error("Telegram answered {0}: {1}")]
    Api(u16, String),
    #[error("Telegram did not answer in time")]
    Timeout,
    #[error("cannot reach Telegram: {0}")]
    Transport(String),
    #[error("refused to call {0}: private, loopback and link-local addresses are not allowed (SOUK_ALLOW_PRIVATE_UPSTREAMS=1 allows them)")]
    PrivateAddress(String),
    #[error("invalid Bot API base URL: {0}")]
    BadUrl(String),
    #[error("Telegram answered something that is not the Bot API: {0}")]
    Garbage(String),
}

impl Error {
    /// True when the same call may work later unchanged.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RetryAfter(_) | Error::Timeout | Error::Transport(_)
        ) || matches!(self, Error::Api(code, _) if *code >= 500)
    }
}

/// True for a token of the shape BotFather gives: `<bot id>:<secret>`.
pub fn valid_token(token: &str) -> bool {
    let Some((id, secret)) = token.split_once(':') else {
        return false;
    };
    !id.is_empty()
        && id.len() <= 20
        && id.bytes().all(|b| b.is_ascii_digit())
        && (30..=100).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Text made safe for `parse_mode=HTML`: Telegram reads `<`, `>` and `&` as markup.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The bot, as `getMe` describes it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Bot {
    pub id: i64,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub first_name: String,
}

/// A message someone wrote to the bot (the parts Souk reads).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incoming {
    pub chat_id: i64,
    /// `private`, `group`, ...
    pub chat_type: String,
    pub username: String,
    /// The sender's Telegram language (`ru`, `en-US`, ...), when Telegram says.
    pub language: String,
    pub text: String,
}

/// One update: its id (the next offset is the last id + 1) and the message, if it is one
/// with text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Update {
    pub update_id: i64,
    pub message: Option<Incoming>,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &"<hidden>")
            .finish()
    }
}

impl Client {
    /// `base` empty means Telegram's own.
    pub fn new(base: &str, token: &str, allow_private: bool) -> Result<Client, Error> {
        let base = match base.trim().trim_end_matches('/') {
            "" => DEFAULT_BASE_URL.to_owned(),
            b => b.to_owned(),
        };
        let url = reqwest::Url::parse(&base).map_err(|_| Error::BadUrl(base.clone()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::BadUrl(base));
        }
        if !allow_private {
            check_literal_host(&url).map_err(|e| match e {
                GuardError::Private(host) => Error::PrivateAddress(host),
                GuardError::Unresolvable(u) => Error::BadUrl(u),
            })?;
        }
        Ok(Client {
            http: shared_client(allow_private),
            base,
            token: token.trim().to_owned(),
        })
    }

    /// `getMe`: who the token belongs to.
    pub async fn get_me(&self) -> Result<Bot, Error> {
        let result = self.call("getMe", &json!({}), CALL_TIMEOUT).await?;
        serde_json::from_value(result).map_err(|_| Error::Garbage("getMe without a bot".into()))
    }

    /// `sendMessage` in HTML (the caller escapes what it did not write), link previews
    /// off. Answers the message id.
    pub async fn send_message(&self, chat_id: i64, html: &str) -> Result<i64, Error> {
        let body = json!({
            "chat_id": chat_id,
            "text": html,
            "parse_mode": "HTML",
            "disable_web_page_preview": true,
        });
        let result = self.call("sendMessage", &body, CALL_TIMEOUT).await?;
        Ok(result
            .get("message_id")
            .and_then(Value::as_i64)
            .unwrap_or_default())
    }

    /// `getUpdates` from `offset` (confirming everything before it), held at most
    /// `wait_secs` (capped at 5) when there is nothing yet.
    pub async fn get_updates(&self, offset: i64, wait_secs: u64) -> Result<Vec<Update>, Error> {
        let wait = wait_secs.min(MAX_POLL_SECS);
        let body = json!({
            "offset": offset,
            "timeout": wait,
            "limit": UPDATES_LIMIT,
            "allowed_updates": ["message"],
        });
        let result = self
            .call(
                "getUpdates",
                &body,
                CALL_TIMEOUT + Duration::from_secs(wait),
            )
            .await?;
        let Value::Array(items) = result else {
            return Err(Error::Garbage("getUpdates without a list".into()));
        };
        items.iter().map(parse_update).collect()
    }

    async fn call(&self, method: &str, body: &Value, limit: Duration) -> Result<Value, Error> {
        // Built by hand: `Url::join` would read a `:` in the token as a scheme.
        let url = reqwest::Url::parse(&format!("{}/bot{}/{method}", self.base, self.token))
            .map_err(|_| Error::BadUrl(self.base.clone()))?;
        let call = async {
            let mut response = self
                .http
                .post(url)
                .json(body)
                .timeout(limit)
                .send()
                .await
                .map_err(send_error)?;
            let status = response.status().as_u16();
            let bytes = crate::guard::read_capped(&mut response, MAX_ANSWER_BYTES)
                .await
                .map_err(|e| match e {
                    crate::guard::BodyError::Transport(e) => send_error(e),
                    crate::guard::BodyError::TooLarge => {
                        Error::Garbage(format!("an answer over {MAX_ANSWER_BYTES} bytes"))
                    }
                })?;
            read_answer(status, &bytes)
        };
        tokio::time::timeout(limit, call)
            .await
            .unwrap_or(Err(Error::Timeout))
    }
}

fn send_error(e: reqwest::Error) -> Error {
    if e.is_timeout() {
        return Error::Timeout;
    }
    if let Some(host) = refused_host(&e) {
        return Error::PrivateAddress(host);
    }
    // The URL holds the token: never in an error.
    Error::Transport(e.without_url().to_string())
}

/// The Bot API's envelope: `{"ok":true,"result":..}` or
/// `{"ok":false,"error_code":..,"description":..,"parameters":{"retry_after":..}}`.
pub fn read_answer(status: u16, body: &[u8]) -> Result<Value, Error> {
    let parsed: Option<Value> = serde_json::from_slice(body.trim_ascii()).ok();
    let Some(Value::Object(answer)) = parsed else {
        return Err(match status {
            401 | 404 => Error::Unauthorized,
            200..=299 => Error::Garbage(snippet(body)),
            s => Error::Api(s, snippet(body)),
        });
    };
    if answer.get("ok") == Some(&Value::Bool(true)) {
        return Ok(answer.get("result").cloned().unwrap_or(Value::Null));
    }
    let code = answer
        .get("error_code")
        .and_then(Value::as_u64)
        .and_then(|c| u16::try_from(c).ok())
        .unwrap_or(status);
    let description = answer
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .chars()
        .take(200)
        .collect::<String>();
    let retry_after = answer
        .get("parameters")
        .and_then(|p| p.get("retry_after"))
        .and_then(Value::as_u64);
    Err(match (code, retry_after) {
        (_, Some(secs)) => Error::RetryAfter(secs.clamp(1, 3600)),
        (429, None) => Error::RetryAfter(1),
        (403, _) => Error::Blocked(description),
        (401 | 404, _) => Error::Unauthorized,
        (code, _) => Error::Api(code, description),
    })
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(body.trim_ascii())
        .chars()
        .take(120)
        .collect()
}

fn parse_update(item: &Value) -> Result<Update, Error> {
    let update_id = item
        .get("update_id")
        .and_then(Value::as_i64)
        .ok_or_else(|| Error::Garbage("an update without update_id".into()))?;
    let message = item.get("message").and_then(|m| {
        let chat = m.get("chat")?;
        let from = m.get("from");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_owned();
        Some(Incoming {
            chat_id: chat.get("id")?.as_i64()?,
            chat_type: text(chat.get("type")),
            username: text(from.and_then(|f| f.get("username"))),
            language: text(from.and_then(|f| f.get("language_code"))),
            text: m.get("text")?.as_str()?.to_owned(),
        })
    });
    Ok(Update { update_id, message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        assert!(valid_token("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"));
        assert!(!valid_token("123456789"));
        assert!(!valid_token("abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"));
        assert!(!valid_token("123:short"));
        assert!(!valid_token(
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0 x"
        ));
    }

    #[test]
    fn escapes() {
        assert_eq!(
            escape_html("a<b> & \"c\""),
            "a&lt;b&gt; &amp; &quot;c&quot;"
        );
    }

    #[test]
    fn answers() {
        assert_eq!(
            read_answer(200, br#"{"ok":true,"result":{"id":1}}"#),
            Ok(json!({"id":1}))
        );
        assert_eq!(
            read_answer(
                429,
                br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}"#
            ),
            Err(Error::RetryAfter(7))
        );
        assert_eq!(
            read_answer(
                403,
                br#"{"ok":false,"error_code":403,"description":"Forbidden: bot was blocked by the user"}"#
            ),
            Err(Error::Blocked("Forbidden: bot was blocked by the user".into()))
        );
        assert_eq!(
            read_answer(
                401,
                br#"{"ok":false,"error_code":401,"description":"Unauthorized"}"#
            ),
            Err(Error::Unauthorized)
        );
        assert!(matches!(
            read_answer(502, b"<html>bad gateway</html>"),
            Err(Error::Api(502, _))
        ));
        assert!(matches!(read_answer(200, b"nope"), Err(Error::Garbage(_))));
    }

    #[test]
    fn updates() {
        let u = parse_update(&json!({
            "update_id": 5,
            "message": {"message_id": 1, "from": {"id": 9, "username": "ann", "language_code": "ru"},
                        "chat": {"id": 9, "type": "private"}, "text": "/start abc"}
        }))
        .expect("update");
        assert_eq!(u.update_id, 5);
        let m = u.message.expect("message");
        assert_eq!(
            (m.chat_id, m.text.as_str(), m.language.as_str()),
            (9, "/start abc", "ru")
        );
        let photo =
            parse_update(&json!({"update_id": 6, "message": {"chat": {"id": 1}}})).expect("update");
        assert_eq!(photo.message, None);
    }

    #[test]
    fn debug_hides_the_token() {
        let c = Client::new("http://127.0.0.1:1", "1:secret", true).expect("client");
        assert!(!format!("{c:?}").contains("secret"));
    }
}
