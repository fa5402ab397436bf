//! How long committed write transactions took, from the write gate's passing to the
//! commit's answer: a histogram of the process for `/metrics`
//! (`souk_db_write_transaction_seconds`). Plain atomics, shared by every store of the
//! process (a node has one).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds.
pub const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

static COUNTS: [AtomicU64; BUCKETS.len()] = [const { AtomicU64::new(0) }; BUCKETS.len()];
static TOTAL: AtomicU64 = AtomicU64::new(0);
static SUM_MICROS: AtomicU64 = AtomicU64::new(0);

pub(crate) fn record(elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    if let Some(b) = BUCKETS.iter().position(|le| secs <= *le) {
        COUNTS[b].fetch_add(1, Ordering::Relaxed);
    }
    TOTAL.fetch_add(1, Ordering::Relaxed);
    SUM_MICROS.fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
}

/// The histogram so far: (cumulative count per bucket of `BUCKETS`, count, sum in
/// seconds).
pub fn snapshot() -> (Vec<u64>, u64, f64) {
    let mut cumulative = 0;
    let buckets = COUNTS
        .iter()
        .map(|c| {
            cumulative += c.load(Ordering::Relaxed);
            cumulative
        })
        .collect();
    (
        buckets,
        TOTAL.load(Ordering::Relaxed),
        SUM_MICROS.load(Ordering::Relaxed) as f64 / 1e6,
    )
}
