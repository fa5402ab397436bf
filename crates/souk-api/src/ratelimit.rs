//! Token buckets per API key and per client address. A limit of 0 turns a bucket off.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

#[derive(Debug)]
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

const MAX_TRACKED: usize = 200_000;

impl RateLimiter {
    /// `per_second` sustained, bursts of twice that.
    pub fn new(per_second: u32) -> Self {
        RateLimiter {
            per_second: f64::from(per_second),
            burst: f64::from(per_second) * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `who`; false when the bucket is empty.
    pub fn allow(&self, who: &str) -> bool {
        if self.per_second <= 0.0 {
            return true;
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= MAX_TRACKED {
            // Full buckets are indistinguishable from absent ones: drop them.
            let (per_second, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_secs_f64() * per_second < burst
            });
        }
        let (tokens, at) = buckets.entry(who.to_owned()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_burst() {
        let limiter = RateLimiter::new(5);
        let allowed = (0..20).filter(|_| limiter.allow("k")).count();
        assert_eq!(allowed, 10);
        assert!(limiter.allow("other"));
        assert!(RateLimiter::new(0).allow("k"));
    }
}
