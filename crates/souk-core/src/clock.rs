//! Time as unix milliseconds, behind a trait so tests can move it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now_ms(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The system clock shifted by an adjustable offset: time moves on by itself, and tests
/// can jump it forward.
#[derive(Debug, Default, Clone)]
pub struct ShiftedClock {
    offset_ms: Arc<AtomicI64>,
}

impl ShiftedClock {
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now_ms(&self) -> i64 {
        SystemClock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }
}

/// ISO-8601 UTC with milliseconds, as `eligibleAfter` and `expires_at` print.
pub fn iso_millis(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_iso_with_millis() {
        assert_eq!(iso_millis(1_782_217_800_000), "2026-06-23T12:30:00.000Z");
        assert_eq!(iso_millis(1_672_574_400_123), "2023-01-01T12:00:00.123Z");
    }

    #[test]
    fn shifted_clock_moves() {
        let c = ShiftedClock::default();
        let before = c.now_ms();
        c.advance(60_000);
        assert!(c.now_ms() >= before + 60_000);
    }
}
