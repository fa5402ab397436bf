//! Prometheus text metrics: requests, errors and latency per `/api/v2` action. Plain
//! atomics in a per-state registry, so tests can run many servers in one process.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Every action label; anything unknown is counted as `invalid`.
pub const ACTIONS: &[&str] = &[
    "categories",
    "subcategory_info",
    "shops",
    "products",
    "services",
    "inventory",
    "balance",
    "add",
    "status",
    "cancel",
    "allowcancel",
    "dispute",
    "review",
    "refill",
    "refill_status",
    "sms_countries",
    "sms_projects",
    "add_sms",
    "sms_code",
    "sms_status",
    "invalid",
];

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct ActionStats {
    requests: AtomicU64,
    errors: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    sum_micros: AtomicU64,
}

#[derive(Debug)]
pub struct Metrics {
    actions: Vec<ActionStats>,
    http_413: AtomicU64,
    http_429: AtomicU64,
    http_500: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            actions: ACTIONS.iter().map(|_| ActionStats::default()).collect(),
            http_413: AtomicU64::new(0),
            http_429: AtomicU64::new(0),
            http_500: AtomicU64::new(0),
        }
    }
}

/// HTTP statuses counted outside the per-action figures.
#[derive(Clone, Copy, Debug)]
pub enum TransportFault {
    TooLarge,
    RateLimited,
    Internal,
}

impl Metrics {
    pub fn action_label(action: &str) -> &'static str {
        ACTIONS
            .iter()
            .find(|a| **a == action)
            .copied()
            .unwrap_or("invalid")
    }

    pub fn record(&self, action: &str, error: bool, elapsed: Duration) {
        let index = ACTIONS
            .iter()
            .position(|a| *a == action)
            .unwrap_or(ACTIONS.len() - 1);
        let stats = &self.actions[index];
        stats.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let secs = elapsed.as_secs_f64();
        if let Some(b) = BUCKETS.iter().position(|le| secs <= *le) {
            stats.buckets[b].fetch_add(1, Ordering::Relaxed);
        }
        stats
            .sum_micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    }

    pub fn record_fault(&self, fault: TransportFault) {
        match fault {
            TransportFault::TooLarge => &self.http_413,
            TransportFault::RateLimited => &self.http_429,
            TransportFault::Internal => &self.http_500,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::with_capacity(16 * 1024);
        out.push_str("# HELP souk_api_requests_total API v2 requests by action.\n");
        out.push_str("# TYPE souk_api_requests_total counter\n");
        for (name, s) in ACTIONS.iter().zip(&self.actions) {
            let _ = writeln!(
                out,
                "souk_api_requests_total{{action=\"{name}\"}} {}",
                s.requests.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP souk_api_errors_total API v2 requests answered with an error.\n");
        out.push_str("# TYPE souk_api_errors_total counter\n");
        for (name, s) in ACTIONS.iter().zip(&self.actions) {
            let _ = writeln!(
                out,
                "souk_api_errors_total{{action=\"{name}\"}} {}",
                s.errors.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP souk_api_request_duration_seconds API v2 latency by action.\n");
        out.push_str("# TYPE souk_api_request_duration_seconds histogram\n");
        for (name, s) in ACTIONS.iter().zip(&self.actions) {
            let mut cumulative = 0;
            for (le, count) in BUCKETS.iter().zip(&s.buckets) {
                cumulative += count.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "souk_api_request_duration_seconds_bucket{{action=\"{name}\",le=\"{le}\"}} {cumulative}"
                );
            }
            let total = s.requests.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "souk_api_request_duration_seconds_bucket{{action=\"{name}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                out,
                "souk_api_request_duration_seconds_sum{{action=\"{name}\"}} {}",
                s.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "souk_api_request_duration_seconds_count{{action=\"{name}\"}} {total}"
            );
        }
        out.push_str("# HELP souk_http_faults_total Requests refused at the transport level.\n");
        out.push_str("# TYPE souk_http_faults_total counter\n");
        for (code, counter) in [
            ("413", &self.http_413),
            ("429", &self.http_429),
            ("500", &self.http_500),
        ] {
            let _ = writeln!(
                out,
                "souk_http_faults_total{{status=\"{code}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::default();
        m.record("services", false, Duration::from_micros(300));
        m.record("services", true, Duration::from_millis(30));
        m.record("nonsense", true, Duration::from_millis(1));
        let text = m.render();
        assert!(text.contains("souk_api_requests_total{action=\"services\"} 2"));
        assert!(text.contains("souk_api_errors_total{action=\"services\"} 1"));
        assert!(text.contains("souk_api_requests_total{action=\"invalid\"} 1"));
        assert!(text.contains(
            "souk_api_request_duration_seconds_bucket{action=\"services\",le=\"0.0005\"} 1"
        ));
        assert!(text.contains(
            "souk_api_request_duration_seconds_bucket{action=\"services\",le=\"+Inf\"} 2"
        ));
    }
}
