//! Sign-in and sign-up attempts, counted per client address and per email in fixed
//! windows, in the database: every node of an installation counts the same attempts.

use std::time::Duration;

use souk_store::StoreError;

use crate::state::AppState;

/// Failed sign-ins allowed per email in a window.
pub const PER_EMAIL: i64 = 10;
/// Sign-in and sign-up attempts allowed per address in a window.
pub const PER_ADDRESS: i64 = 30;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

fn window_ms() -> i64 {
    WINDOW.as_millis() as i64
}

/// `Some(wait)` when `key` used up its `limit` attempts for this window.
pub async fn wait(state: &AppState, key: &str, limit: i64) -> Result<Option<Duration>, StoreError> {
    Ok(state
        .store
        .attempts_wait(key, limit, window_ms(), state.now())
        .await?
        .map(|ms| Duration::from_millis(ms.max(0) as u64)))
}

/// Counts one attempt against each of `keys`.
pub async fn record(state: &AppState, keys: &[&str]) -> Result<(), StoreError> {
    state
        .store
        .record_attempts(keys, window_ms(), state.now())
        .await
}

pub async fn clear(state: &AppState, key: &str) -> Result<(), StoreError> {
    state.store.clear_attempts(key).await
}
