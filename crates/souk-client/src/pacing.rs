//! Per-provider pacing, shared by every call the process makes: forwarding, status sync,
//! catalogue sync and the calls made in requests (refills, refill status). A provider's
//! `requests_per_second` is its limit for the node as a whole, not per loop.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

fn slots() -> &'static Mutex<HashMap<String, Instant>> {
    static SLOTS: OnceLock<Mutex<HashMap<String, Instant>>> = OnceLock::new();
    SLOTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Waits for the next free slot of provider `key` at `requests_per_second` (no wait when
/// it is 0 or less): calls to one provider are spaced `1 / rate` apart, in the order
/// they asked.
pub async fn wait(key: &str, requests_per_second: i64) {
    if requests_per_second <= 0 {
        return;
    }
    let gap = Duration::from_micros(1_000_000 / requests_per_second as u64);
    let at = {
        // Never held across an await; a poisoned map only means a panic elsewhere.
        let mut slots = slots().lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let slot = slots.entry(key.to_owned()).or_insert(now);
        let at = (*slot).max(now);
        *slot = at + gap;
        at
    };
    tokio::time::sleep_until(at).await;
}

#[cfg(test)]
mod tests {
    use super::wait;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn calls_to_one_provider_are_spaced() {
        let start = tokio::time::Instant::now();
        for _ in 0..5 {
            wait("p-spaced", 4).await;
        }
        // Slots at 0, 250, 500, 750 and 1000 ms.
        assert_eq!(start.elapsed(), Duration::from_millis(1000));
        // Another provider, or no limit, does not wait behind it.
        let other = tokio::time::Instant::now();
        wait("p-other", 4).await;
        wait("p-spaced", 0).await;
        assert_eq!(other.elapsed(), Duration::ZERO);
    }
}
