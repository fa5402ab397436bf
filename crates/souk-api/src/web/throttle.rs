//! Sign-in and sign-up attempts, counted per client address and per email in fixed
//! windows. Per node: on several nodes an attacker gets at most the limit on each.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed sign-ins allowed per email in a window.
pub const PER_EMAIL: u32 = 10;
/// Sign-in and sign-up attempts allowed per address in a window.
pub const PER_ADDRESS: u32 = 30;
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Past this many tracked keys, expired windows are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Debug, Default)]
pub struct LoginThrottle {
    windows: Mutex<HashMap<String, (Instant, u32)>>,
}

impl LoginThrottle {
    /// `Err(wait)` when `key` used up its attempts for this window.
    pub fn check(&self, key: &str, limit: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        match windows.get(key) {
            Some((start, count)) if now.duration_since(*start) < WINDOW && *count >= limit => {
                Err(WINDOW.saturating_sub(now.duration_since(*start)))
            }
            _ => Ok(()),
        }
    }

    /// Counts one attempt against `key`.
    pub fn record(&self, key: &str) {
        let now = Instant::now();
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() >= PRUNE_AT {
            windows.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now.duration_since(entry.0) >= WINDOW {
            *entry = (now, 0);
        }
        entry.1 += 1;
    }

    pub fn clear(&self, key: &str) {
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_and_clears() {
        let t = LoginThrottle::default();
        for _ in 0..3 {
            assert!(t.check("a", 3).is_ok());
            t.record("a");
        }
        assert!(t.check("a", 3).is_err());
        assert!(t.check("b", 3).is_ok());
        t.clear("a");
        assert!(t.check("a", 3).is_ok());
    }
}
