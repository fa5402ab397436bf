//! Sending one webhook message the Standard Webhooks way (standardwebhooks.com): a JSON
//! body `{"type", "timestamp", "data"}` and three headers, `webhook-id` (the event's
//! `msg_...` id, the same on every retry), `webhook-timestamp` (unix seconds of this
//! attempt) and `webhook-signature` (`v1,` + base64 of HMAC-SHA256 over
//! `{id}.{timestamp}.{body}`, keyed with the base64-decoded part of the `whsec_` secret).
//! Receivers verify with any Standard Webhooks library.

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::guard::{check_literal_host, refused_host, shared_client, GuardError};

/// What every secret starts with.
pub const SECRET_PREFIX: &str = "whsec_";
/// The random bytes of a secret we make (the specification asks for 24 to 64).
pub const SECRET_BYTES: usize = 32;
/// One attempt, the answer's body included.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
/// What is kept of an answer's body (the receiver's words, for its owner to read).
pub const EXCERPT_BYTES: usize = 4096;
/// The longest URL an endpoint may have.
pub const MAX_URL_LEN: usize = 2000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    #[error("The secret must be whsec_ followed by base64 of 24 to 64 bytes")]
    BadSecret,
    #[error("The URL is not valid: {0}")]
    BadUrl(String),
    #[error("The URL must be http or https")]
    BadScheme,
    #[error("The URL must not hold a user name or password")]
    Credentials,
    #[error("The URL is too long (at most {MAX_URL_LEN} characters)")]
    TooLong,
    #[error("The URL points at a private or local address: {0}")]
    Private(String),
}

/// A new secret from `SECRET_BYTES` random bytes (the caller's randomness).
pub fn secret_from_bytes(bytes: &[u8]) -> String {
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The HMAC key of a `whsec_` secret.
fn key_of(secret: &str) -> Result<Vec<u8>, WebhookError> {
    let encoded = secret
        .strip_prefix(SECRET_PREFIX)
        .ok_or(WebhookError::BadSecret)?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| WebhookError::BadSecret)?;
    if !(24..=64).contains(&key.len()) {
        return Err(WebhookError::BadSecret);
    }
    Ok(key)
}

/// The `webhook-signature` value of a message: `v1,<base64>`.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, WebhookError> {
    let key = key_of(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| WebhookError::BadSecret)?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// The body of a message: the event's kind, when it happened (RFC 3339) and its data.
pub fn body(kind: &str, created_at_ms: i64, data: &serde_json::Value) -> Vec<u8> {
    // Written out in this order (type first) whatever serde_json's map order is.
    let kind = serde_json::Value::from(kind);
    let at = serde_json::Value::from(souk_core::clock::iso_millis(created_at_ms));
    format!(r#"{{"type":{kind},"timestamp":{at},"data":{data}}}"#).into_bytes()
}

/// An endpoint's URL, checked when it is registered: absolute http(s), no credentials in
/// it, and unless private destinations are allowed, no private literal address (names
/// are checked again at every connection, by the guarded client's resolver).
pub fn check_url(text: &str, allow_private: bool) -> Result<reqwest::Url, WebhookError> {
    let text = text.trim();
    if text.len() > MAX_URL_LEN {
        return Err(WebhookError::TooLong);
    }
    let url = reqwest::Url::parse(text).map_err(|e| WebhookError::BadUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WebhookError::BadScheme);
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(WebhookError::Credentials);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(WebhookError::BadUrl("no host".into()));
    }
    if !allow_private {
        check_literal_host(&url).map_err(|e| match e {
            GuardError::Private(h) | GuardError::Unresolvable(h) => WebhookError::Private(h),
        })?;
    }
    Ok(url)
}

/// One message to send.
#[derive(Clone, Debug)]
pub struct Message<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    /// `webhook-id`.
    pub id: &'a str,
    /// `webhook-timestamp`: unix seconds of this attempt.
    pub timestamp: i64,
    pub body: &'a [u8],
}

/// How one attempt went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why it did not count (no answer, a non-2xx answer); empty on success.
    pub error: String,
    /// The start of the answer's body (at most `EXCERPT_BYTES`, cut on a character).
    pub response: String,
    pub duration_ms: i64,
}

impl Attempt {
    /// A 2xx answer: delivered.
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends one message with the shared guarded client (redirects never followed, private
/// destinations refused unless allowed), bounded by `ATTEMPT_TIMEOUT` as a whole.
pub async fn send(message: &Message<'_>, allow_private: bool) -> Attempt {
    let started = Instant::now();
    let outcome = tokio::time::timeout(ATTEMPT_TIMEOUT, attempt(message, allow_private)).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    match outcome {
        Ok(Ok((status, response))) => Attempt {
            status: Some(status),
            error: if (200..300).contains(&status) {
                String::new()
            } else {
                format!("HTTP {status}")
            },
            response,
            duration_ms,
        },
        Ok(Err(error)) => Attempt {
            status: None,
            error,
            response: String::new(),
            duration_ms,
        },
        Err(_) => Attempt {
            status: None,
            error: format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs()),
            response: String::new(),
            duration_ms,
        },
    }
}

async fn attempt(message: &Message<'_>, allow_private: bool) -> Result<(u16, String), String> {
    let url = check_url(message.url, allow_private).map_err(|e| e.to_string())?;
    let signature = sign(message.secret, message.id, message.timestamp, message.body)
        .map_err(|e| e.to_string())?;
    let mut response = shared_client(allow_private)
        .post(url)
        .timeout(ATTEMPT_TIMEOUT)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("webhook-id", message.id)
        .header("webhook-timestamp", message.timestamp.to_string())
        .header("webhook-signature", signature)
        .body(message.body.to_vec())
        .send()
        .await
        .map_err(|e| describe(&e))?;
    let status = response.status().as_u16();
    // Only the start of the answer is kept: a receiver cannot make us hold a large body.
    let mut kept: Vec<u8> = Vec::new();
    while kept.len() < EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => kept.extend_from_slice(&chunk),
            // A body that broke off after the status still answered.
            Ok(None) | Err(_) => break,
        }
    }
    kept.truncate(EXCERPT_BYTES);
    Ok((status, excerpt(&kept)))
}

/// Bytes as text, cut back to a character boundary.
fn excerpt(bytes: &[u8]) -> String {
    let mut end = bytes.len();
    while end > 0 && std::str::from_utf8(&bytes[..end]).is_err() && bytes.len() - end < 4 {
        end -= 1;
    }
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn describe(e: &reqwest::Error) -> String {
    if let Some(host) = refused_host(e) {
        return format!("{host} resolves only to private addresses");
    }
    if e.is_timeout() {
        return format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs());
    }
    if e.is_connect() {
        return "could not connect".to_owned();
    }
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's published vector (the reference libraries' tests): a
    /// signature that matches it is one every Standard Webhooks library accepts.
    #[test]
    fn signs_the_specifications_test_vector() {
        assert_eq!(
            sign(
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                "msg_p5jXN8AQM9LWM0D4loKWxJek",
                1_614_265_330,
                br#"{"test": 2432232314}"#,
            )
            .as_deref(),
            Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
        );
    }

    #[test]
    fn refuses_bad_secrets() {
        assert_eq!(
            sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "m", 1, b""),
            Err(WebhookError::BadSecret)
        );
        assert_eq!(sign("whsec_!!!", "m", 1, b""), Err(WebhookError::BadSecret));
        // 6 bytes: too short a key.
        assert_eq!(
            sign("whsec_YWJjZGVm", "m", 1, b""),
            Err(WebhookError::BadSecret)
        );
        let made = secret_from_bytes(&[7u8; SECRET_BYTES]);
        assert!(made.starts_with("whsec_"));
        assert!(sign(&made, "m", 1, b"{}").is_ok());
    }

    #[test]
    fn builds_the_body() {
        let b = body(
            "order.completed",
            1_700_000_000_123,
            &serde_json::json!({"order": 1}),
        );
        assert_eq!(
            String::from_utf8(b).expect("utf-8"),
            r#"{"type":"order.completed","timestamp":"2023-11-14T22:13:20.123Z","data":{"order":1}}"#
        );
    }

    #[test]
    fn checks_urls() {
        assert!(check_url("https://example.com/hook", false).is_ok());
        assert_eq!(
            check_url("ftp://example.com", false),
            Err(WebhookError::BadScheme)
        );
        assert_eq!(
            check_url("http://127.0.0.1:9/x", false),
            Err(WebhookError::Private("127.0.0.1".into()))
        );
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert_eq!(
            check_url("https://u:p@example.com", false),
            Err(WebhookError::Credentials)
        );
        assert!(matches!(
            check_url("not a url", false),
            Err(WebhookError::BadUrl(_))
        ));
    }

    #[test]
    fn cuts_excerpts_on_characters() {
        let text = "ééé".as_bytes();
        assert_eq!(excerpt(&text[..5]), "éé");
        assert_eq!(excerpt(b"ok"), "ok");
    }
}
