//! A webhook receiver as a Souk user would run one: an HTTP server on `127.0.0.1` that
//! checks every request the Standard Webhooks way (standardwebhooks.com) and records the
//! messages it accepts. The check is written here from the specification, apart from
//! souk-client's signing, so that a misreading on either side fails a test.
//!
//! It can be told to answer 500, to hang (never answer), to see each body altered in
//! transit (its signature then fails: 401), or to be down (its listener and every open
//! connection closed) and to come back on the same port.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::oneshot;

/// How the receiver answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Verifies, records and answers 204 (401 on a bad signature).
    Accept,
    /// Answers this status to everything, verifying nothing.
    Status(u16),
    /// Never answers.
    Hang,
    /// Sees every body with one byte changed, as if altered on the way: verification
    /// fails and it answers 401.
    Tamper,
}

/// A message the receiver accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Received {
    /// `webhook-id`.
    pub id: String,
    /// `webhook-timestamp`.
    pub timestamp: i64,
    /// The body's `type`, `timestamp` and `data`.
    pub kind: String,
    pub sent_at: String,
    pub data: Value,
}

/// A request as it came (to replay it altered).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawRequest {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[derive(Default)]
struct Book {
    secret: String,
    mode: Option<Mode>,
    accepted: Vec<Received>,
    raw: Vec<RawRequest>,
    rejected: usize,
    requests: usize,
}

struct Shared {
    book: Mutex<Book>,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Running {
    stop: oneshot::Sender<()>,
}

/// A running receiver; `down` and `up` take it off and back on its port. The port stays
/// bound throughout (closing and binding it again could lose it to another socket in
/// between): while down, every connection is closed as soon as it is made.
pub struct WebhookReceiver {
    shared: Arc<Shared>,
    port: u16,
    running: Mutex<Option<Running>>,
    down: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for WebhookReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookReceiver")
            .field("port", &self.port)
            .finish()
    }
}

impl WebhookReceiver {
    /// Starts a receiver on a free loopback port, accepting. It verifies with the secret
    /// set by `set_secret` (Souk makes the secret when the endpoint is registered).
    pub async fn start() -> WebhookReceiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the webhook receiver");
        let port = listener.local_addr().expect("local address").port();
        let shared = Arc::new(Shared {
            book: Mutex::new(Book::default()),
        });
        let (down, is_down) = tokio::sync::watch::channel(false);
        let running = serve(listener, shared.clone(), is_down);
        WebhookReceiver {
            shared,
            port,
            running: Mutex::new(Some(running)),
            down,
        }
    }

    /// Where Souk should send: `http://127.0.0.1:<port>/hook`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    pub fn set_secret(&self, secret: &str) {
        self.shared.book().secret = secret.to_owned();
    }

    pub fn set_mode(&self, mode: Mode) {
        self.shared.book().mode = Some(mode);
    }

    /// The messages accepted, in the order they came.
    pub fn accepted(&self) -> Vec<Received> {
        self.shared.book().accepted.clone()
    }

    /// Every request that came, accepted or not.
    pub fn raw(&self) -> Vec<RawRequest> {
        self.shared.book().raw.clone()
    }

    /// Requests refused for their signature (401).
    pub fn rejected(&self) -> usize {
        self.shared.book().rejected
    }

    /// Requests that came, whatever was answered.
    pub fn requests(&self) -> usize {
        self.shared.book().requests
    }

    /// Goes down: every open connection (a hanging request's too) is closed, and every
    /// new one is closed at once, until `up`.
    pub async fn down(&self) {
        let _ = self.down.send(true);
        // The serving task closes the open connections when it sees the change.
        tokio::task::yield_now().await;
    }

    /// Comes back on the same port.
    pub async fn up(&self) {
        let _ = self.down.send(false);
    }
}

impl Drop for WebhookReceiver {
    fn drop(&mut self) {
        if let Some(r) = self
            .running
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = r.stop.send(());
        }
    }
}

/// Accepts connections until told to stop, then drops the listener and ends every
/// connection (axum's own `serve` would leave open connections running). While `down`
/// says so, open connections are ended and new ones closed as they come.
fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut down: tokio::sync::watch::Receiver<bool>,
) -> Running {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let router = Router::new()
        .route("/hook", post(receive))
        .with_state(shared);
    let (stop, mut stopped) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut connections = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((stream, _)) = accepted else { continue };
                    if *down.borrow() {
                        drop(stream);
                        continue;
                    }
                    let service = TowerToHyperService::new(router.clone());
                    connections.spawn(async move {
                        let _ = Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
                changed = down.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    if *down.borrow() {
                        connections.abort_all();
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                _ = &mut stopped => break,
            }
        }
        drop(listener);
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    });
    Running { stop }
}

async fn receive(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (mode, secret) = {
        let mut book = shared.book();
        book.requests += 1;
        book.raw.push(RawRequest {
            headers: headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        });
        (book.mode.unwrap_or(Mode::Accept), book.secret.clone())
    };
    let mut body = body.to_vec();
    match mode {
        Mode::Status(code) => {
            return (
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                "receiver failing on purpose",
            )
                .into_response()
        }
        Mode::Hang => std::future::pending::<()>().await,
        Mode::Tamper => {
            if let Some(last) = body.iter().rposition(u8::is_ascii_digit) {
                body[last] = if body[last] == b'9' {
                    b'0'
                } else {
                    body[last] + 1
                };
            } else {
                body.push(b' ');
            }
        }
        Mode::Accept => {}
    }
    match verify(&secret, &headers, &body) {
        Ok(message) => {
            shared.book().accepted.push(message);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(why) => {
            shared.book().rejected += 1;
            (StatusCode::UNAUTHORIZED, why).into_response()
        }
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Result<&'a str, String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| format!("missing {name}"))
}

/// The specification's verification: the key is the base64 after `whsec_`; the signed
/// content `{id}.{timestamp}.{body}`; `webhook-signature` is space-separated
/// `version,signature` pairs, one `v1` of which must match (compared in constant time).
pub fn verify(secret: &str, headers: &HeaderMap, body: &[u8]) -> Result<Received, String> {
    let id = header(headers, "webhook-id")?;
    let timestamp_text = header(headers, "webhook-timestamp")?;
    let signatures = header(headers, "webhook-signature")?;
    let timestamp: i64 = timestamp_text
        .parse()
        .map_err(|_| "bad webhook-timestamp".to_owned())?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(secret.trim_start_matches("whsec_"))
        .map_err(|_| "bad secret".to_owned())?;
    let mut signed = Vec::with_capacity(id.len() + timestamp_text.len() + body.len() + 2);
    signed.extend_from_slice(id.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(timestamp_text.as_bytes());
    signed.push(b'.');
    signed.extend_from_slice(body);
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| "bad key".to_owned())?;
    mac.update(&signed);
    let expected = mac.finalize().into_bytes();
    let matched = signatures.split(' ').any(|pair| {
        let Some(("v1", given)) = pair.split_once(',') else {
            return false;
        };
        let Ok(given) = base64::engine::general_purpose::STANDARD.decode(given) else {
            return false;
        };
        given.len() == expected.len()
            && given
                .iter()
                .zip(expected.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !matched {
        return Err("signature mismatch".to_owned());
    }
    let message: Value = serde_json::from_slice(body).map_err(|_| "body is not JSON".to_owned())?;
    Ok(Received {
        id: id.to_owned(),
        timestamp,
        kind: message["type"].as_str().unwrap_or_default().to_owned(),
        sent_at: message["timestamp"].as_str().unwrap_or_default().to_owned(),
        data: message["data"].clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published vector verifies here too.
    #[test]
    fn verifies_the_specifications_test_vector() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "webhook-id",
            "msg_p5jXN8AQM9LWM0D4loKWxJek".parse().expect("header"),
        );
        headers.insert("webhook-timestamp", "1614265330".parse().expect("header"));
        headers.insert(
            "webhook-signature",
            "v1,bm9wZQ== v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
                .parse()
                .expect("header"),
        );
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        // Not JSON the way Souk sends it, but the signature is what counts first.
        assert!(verify(secret, &headers, br#"{"test": 2432232314}"#).is_ok());
        assert_eq!(
            verify(secret, &headers, br#"{"test": 2432232315}"#),
            Err("signature mismatch".to_owned())
        );
    }
}
