//! Signing in to the web pages: attempts counted per client address and per email in
//! fixed windows, in the database (every node counts the same attempts, and an attempt is
//! counted before it is judged, so parallel attempts cannot all slip under the limit), the
//! password checked on the bounded password threads, and a new session token issued.

use std::time::Duration;

use rand::RngCore;
use souk_store::{Store, StoreError};

use crate::passwords::{PasswordError, Passwords};
use souk_core::password::MAX_PASSWORD;

/// How long a session lasts.
pub const SESSION_MS: i64 = 30 * 24 * 3600 * 1000;

/// 32 random bytes as 64 hex characters (session tokens, form tokens, demo passwords).
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// How many sign-in and sign-up attempts are allowed, per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// Sign-ins allowed per email (a successful one clears the count).
    pub per_email: i64,
    /// Sign-ins and sign-ups allowed per client address.
    pub per_address: i64,
    pub window: Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle {
            per_email: 10,
            per_address: 30,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// The throttle key of a client address.
pub fn address_key(address: &str) -> String {
    format!("addr:{address}")
}

/// Counts this attempt against each `(key, limit)`; `Some(wait)` when any key is over its
/// limit (the attempt must then not be judged).
pub async fn count_attempt(
    store: &Store,
    throttle: &Throttle,
    keys: &[(&str, i64)],
    now: i64,
) -> Result<Option<Duration>, StoreError> {
    let window_ms = throttle.window.as_millis() as i64;
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let counts = store.count_attempts(&names, window_ms, now).await?;
    Ok(counts
        .iter()
        .zip(keys)
        .filter_map(|(count, (_, limit))| count.over(*limit, now))
        .max()
        .map(|ms| Duration::from_millis(ms as u64)))
}

/// A new session for `user_id`: its token (for the cookie).
pub async fn start(store: &Store, user_id: &str, now: i64) -> Result<String, StoreError> {
    let token = random_token();
    store
        .create_session(user_id, &token, &random_token(), now, now + SESSION_MS)
        .await?;
    Ok(token)
}

/// A sign-in attempt.
pub struct SignIn<'a> {
    pub email: &'a str,
    pub password: String,
    /// The client's address, counted apart from the email.
    pub address: &'a str,
}

/// A signed-in user.
#[derive(Debug)]
pub struct SignedIn {
    pub user_id: String,
    /// The new session's token.
    pub token: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Too many attempts from this address or for this email: the wait before the next.
    #[error("too many attempts")]
    Throttled(Duration),
    /// The password threads are all busy: try again in a moment.
    #[error("too many password checks at once")]
    Busy,
    /// No such account, or the wrong password (the same answer for both).
    #[error("wrong email or password")]
    Wrong,
    #[error("the account is suspended")]
    Suspended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs in with an email and a password: counted first, then judged at the same cost
/// whether the account exists or not; a success clears its email's count and starts a
/// session.
pub async fn sign_in(
    store: &Store,
    passwords: &Passwords,
    throttle: &Throttle,
    attempt: SignIn<'_>,
    now: i64,
) -> Result<SignedIn, SignInError> {
    let email = attempt.email.trim().to_lowercase();
    let address = address_key(attempt.address);
    let email_key = format!("email:{email}");
    let counted = [
        (address.as_str(), throttle.per_address),
        (email_key.as_str(), throttle.per_email),
    ];
    if let Some(wait) = count_attempt(store, throttle, &counted, now).await? {
        return Err(SignInError::Throttled(wait));
    }
    let password = attempt.password;
    let record = if email.is_empty() || password.is_empty() || password.len() > MAX_PASSWORD {
        None
    } else {
        store.login_record(&email).await?
    };
    let hash = record.as_ref().and_then(|r| r.password_hash.clone());
    let matched = match passwords.verify(password, hash).await {
        Ok(matched) => matched,
        Err(PasswordError::Busy) => return Err(SignInError::Busy),
        Err(PasswordError::Failed(e)) => return Err(StoreError::Config(e).into()),
    };
    let record = match record {
        Some(r) if matched => r,
        _ => return Err(SignInError::Wrong),
    };
    if record.status != "active" {
        return Err(SignInError::Suspended);
    }
    store.clear_attempts(&email_key).await?;
    let token = start(store, &record.user_id, now).await?;
    Ok(SignedIn {
        user_id: record.user_id,
        token,
    })
}
