//! Prometheus text metrics: requests, errors and latency per `/api/v2` action, and the
//! transport faults (413, 429, 5xx) of every route. Plain atomics in a per-state
//! registry, so tests can run many servers in one process (a global `metrics` recorder
//! installs once per process).

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
    "mass_order",
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

/// The statuses counted in `souk_http_faults_total`; every 5xx counts as `500`.
const FAULTS: [(u16, &str); 3] = [(413, "413"), (429, "429"), (500, "500")];

#[derive(Debug)]
pub struct Metrics {
    actions: Vec<ActionStats>,
    faults: [AtomicU64; FAULTS.len()],
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            actions: ACTIONS.iter().map(|_| ActionStats::default()).collect(),
            faults: Default::default(),
        }
    }
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

    /// Counts a response of any route by its status, when it is a transport fault.
    pub fn record_status(&self, status: u16) {
        let status = if status >= 500 { 500 } else { status };
        if let Some(i) = FAULTS.iter().position(|(code, _)| *code == status) {
            self.faults[i].fetch_add(1, Ordering::Relaxed);
        }
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
        out.push_str(
            "# HELP souk_http_faults_total Responses of any route with a transport fault (5xx as 500).\n",
        );
        out.push_str("# TYPE souk_http_faults_total counter\n");
        for ((_, code), counter) in FAULTS.iter().zip(&self.faults) {
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
        for status in [200, 404, 500, 503, 429] {
            m.record_status(status);
        }
        assert!(text_has(&m, "souk_http_faults_total{status=\"500\"} 2"));
        assert!(text_has(&m, "souk_http_faults_total{status=\"429\"} 1"));
        assert!(text_has(&m, "souk_http_faults_total{status=\"413\"} 0"));
    }

    fn text_has(m: &Metrics, line: &str) -> bool {
        m.render().lines().any(|l| l == line)
    }
}
