//! Sign-in and sign-up attempts, counted per client address and per email in fixed
//! windows, in the database: every node of an installation counts the same attempts.
//! An attempt is counted before it is judged (`Store::count_attempts`), so parallel
//! attempts cannot all slip under the limit; a successful sign-in clears its email's
//! count, so the email limit is in effect one of failures.

use std::time::Duration;

use souk_store::StoreError;

use crate::state::AppState;

/// Counts this attempt against each `(key, limit)`; `Some(wait)` when any key is over its
/// limit (the attempt must then not be judged).
pub async fn count(state: &AppState, keys: &[(&str, i64)]) -> Result<Option<Duration>, StoreError> {
    let window_ms = state.config.throttle.window.as_millis() as i64;
    let now = state.now();
    let names: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
    let counts = state.store.count_attempts(&names, window_ms, now).await?;
    Ok(counts
        .iter()
        .zip(keys)
        .filter_map(|(count, (_, limit))| count.over(*limit, now))
        .max()
        .map(|ms| Duration::from_millis(ms as u64)))
}

pub async fn clear(state: &AppState, key: &str) -> Result<(), StoreError> {
    state.store.clear_attempts(key).await
}
