//! A fake Telegram Bot API: `getMe`, `sendMessage` and `getUpdates` at
//! `/bot{token}/{method}`, with the real envelope (`{"ok":true,"result":..}` or
//! `{"ok":false,"error_code":..,"description":..}`).
//!
//! Tests read what was sent (`sent()`), make the next sends answer 429 with a
//! `retry_after` (`flood`), make a chat refuse the bot with 403 (`block`), and write to
//! the bot as a user would (`write`), which `getUpdates` then hands out from its offset.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// The bot's id (the token's first part) and username.
pub const BOT_ID: i64 = 7_000_000_001;
pub const BOT_USERNAME: &str = "souk_test_bot";

/// A message the bot sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    pub chat_id: i64,
    pub text: String,
    pub parse_mode: String,
}

#[derive(Default)]
struct Book {
    sent: Vec<Sent>,
    /// Sends still to refuse with 429, and the `retry_after` they name.
    flood: u32,
    retry_after: u64,
    blocked: HashSet<i64>,
    /// Updates not confirmed yet (an offset past them drops them).
    updates: Vec<Value>,
    next_update: i64,
    calls: Vec<String>,
}

struct Shared {
    token: String,
    base_url: String,
    book: Mutex<Book>,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running fake; clones share it, and it stops when the last one drops.
#[derive(Clone)]
pub struct FakeTelegram {
    shared: Arc<Shared>,
    _stop: Arc<oneshot::Sender<()>>,
}

impl FakeTelegram {
    /// Starts a fake bot on a free loopback port.
    pub async fn start() -> FakeTelegram {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake Bot API");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            token: format!("{BOT_ID}:AAF-fake_{}", crate::random_token(32)),
            base_url: format!("http://127.0.0.1:{port}"),
            book: Mutex::new(Book {
                next_update: 100,
                ..Book::default()
            }),
        });
        let router = Router::new()
            .route("/{bot}/{method}", post(call))
            .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeTelegram {
            shared,
            _stop: Arc::new(stop),
        }
    }

    /// What Souk is configured with as the Bot API base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// The token this bot answers to.
    pub fn token(&self) -> String {
        self.shared.token.clone()
    }

    /// Every message sent so far, oldest first.
    pub fn sent(&self) -> Vec<Sent> {
        self.shared.book().sent.clone()
    }

    /// The messages sent to one chat.
    pub fn sent_to(&self, chat_id: i64) -> Vec<String> {
        self.sent()
            .into_iter()
            .filter(|s| s.chat_id == chat_id)
            .map(|s| s.text)
            .collect()
    }

    /// The methods called so far (`getMe`, `sendMessage`, ...), in order.
    pub fn calls(&self) -> Vec<String> {
        self.shared.book().calls.clone()
    }

    /// The next `times` sends answer 429 with `retry_after`.
    pub fn flood(&self, times: u32, retry_after: u64) {
        let mut book = self.shared.book();
        book.flood = times;
        book.retry_after = retry_after;
    }

    /// The user of `chat_id` blocked the bot: sends to it answer 403.
    pub fn block(&self, chat_id: i64) {
        self.shared.book().blocked.insert(chat_id);
    }

    /// A user writes `text` to the bot from their private chat `chat_id`, their Telegram
    /// set to `language` (`en`, `ru`).
    pub fn write(&self, chat_id: i64, username: &str, language: &str, text: &str) {
        let mut book = self.shared.book();
        let update_id = book.next_update;
        book.next_update += 1;
        book.updates.push(json!({
            "update_id": update_id,
            "message": {
                "message_id": update_id,
                "date": 0,
                "from": {"id": chat_id, "is_bot": false, "first_name": username, "username": username, "language_code": language},
                "chat": {"id": chat_id, "type": "private", "username": username},
                "text": text,
            }
        }));
    }

    /// Updates written and not confirmed by an offset past them yet.
    pub fn unconfirmed(&self) -> usize {
        self.shared.book().updates.len()
    }
}

fn refuse(code: u16, description: &str, parameters: Option<Value>) -> Response {
    let mut body = json!({"ok": false, "error_code": code, "description": description});
    if let Some(p) = parameters {
        body["parameters"] = p;
    }
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(body)).into_response()
}

fn ok(result: Value) -> Response {
    Json(json!({"ok": true, "result": result})).into_response()
}

async fn call(
    State(shared): State<Arc<Shared>>,
    Path((bot, method)): Path<(String, String)>,
    body: Option<Json<Value>>,
) -> Response {
    if bot.strip_prefix("bot") != Some(shared.token.as_str()) {
        return refuse(401, "Unauthorized", None);
    }
    let body = body.map(|Json(b)| b).unwrap_or_else(|| json!({}));
    let mut book = shared.book();
    book.calls.push(method.clone());
    match method.as_str() {
        "getMe" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Souk test", "username": BOT_USERNAME,
        })),
        "sendMessage" => {
            let Some(chat_id) = body.get("chat_id").and_then(Value::as_i64) else {
                return refuse(400, "Bad Request: chat_id is empty", None);
            };
            let text = body.get("text").and_then(Value::as_str).unwrap_or("");
            if text.trim().is_empty() {
                return refuse(400, "Bad Request: message text is empty", None);
            }
            if book.flood > 0 {
                book.flood -= 1;
                let after = book.retry_after;
                return refuse(
                    429,
                    &format!("Too Many Requests: retry after {after}"),
                    Some(json!({"retry_after": after})),
                );
            }
            if book.blocked.contains(&chat_id) {
                return refuse(403, "Forbidden: bot was blocked by the user", None);
            }
            let parse_mode = body
                .get("parse_mode")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            book.sent.push(Sent {
                chat_id,
                text: text.to_owned(),
                parse_mode,
            });
            let id = book.sent.len();
            ok(json!({"message_id": id, "chat": {"id": chat_id}, "date": 0, "text": text}))
        }
        "getUpdates" => {
            let offset = body.get("offset").and_then(Value::as_i64).unwrap_or(0);
            // As Telegram: an offset confirms every update before it.
            book.updates.retain(|u| {
                u.get("update_id")
                    .and_then(Value::as_i64)
                    .is_some_and(|id| id >= offset)
            });
            let limit = body
                .get("limit")
                .and_then(Value::as_u64)
                .unwrap_or(100)
                .clamp(1, 100) as usize;
            ok(Value::Array(
                book.updates.iter().take(limit).cloned().collect(),
            ))
        }
        _ => refuse(404, "Not Found", None),
    }
}
