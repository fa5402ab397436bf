//! Pause points for crash tests: `SOUK_PAUSE_AT=refill.send,forward.send` makes the
//! process stop, for good, at those points (the work recorded, the call not yet made), so
//! that a test can kill it there and prove that the restarted node sends exactly once.
//! Unset (always, outside tests), a pause point costs one read of a process-wide value.

use std::sync::OnceLock;

fn points() -> &'static [String] {
    static POINTS: OnceLock<Vec<String>> = OnceLock::new();
    POINTS.get_or_init(|| {
        std::env::var("SOUK_PAUSE_AT")
            .unwrap_or_default()
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect()
    })
}

/// Never returns when `SOUK_PAUSE_AT` names `point`; returns at once otherwise.
pub async fn point(point: &str) {
    if points().iter().any(|p| p == point) {
        tracing::warn!(point, "paused (SOUK_PAUSE_AT)");
        std::future::pending::<()>().await;
    }
}
