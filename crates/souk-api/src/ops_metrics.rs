//! The gauges an operator alerts on, read when `/metrics` is scraped: the job queue
//! (depth and age of the oldest due job by kind, parked jobs), providers' balances,
//! pending payments and webhook deliveries, the catalogue's size, the database pool and
//! a read's latency, SQLite's WAL size, and the process's memory and CPU.

use std::fmt::Write as _;

use souk_store::Store;

/// Prometheus label values: backslash, quote and newline escaped.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// Appends the operations families to `out`. A database that does not answer is said
/// by `souk_db_up 0`, not by a failed scrape.
pub async fn render(store: &Store, now_ms: i64, out: &mut String) {
    let started = std::time::Instant::now();
    let gauges = store.ops_gauges(now_ms).await;
    let probe = started.elapsed().as_secs_f64();
    family(
        out,
        "souk_db_up",
        "gauge",
        "1 when the database answered this scrape's queries.",
    );
    let _ = writeln!(out, "souk_db_up {}", u8::from(gauges.is_ok()));
    family(
        out,
        "souk_db_probe_seconds",
        "gauge",
        "How long this scrape's read transaction took.",
    );
    let _ = writeln!(out, "souk_db_probe_seconds {probe}");
    let (buckets, count, sum) = souk_store::txstats::snapshot();
    family(
        out,
        "souk_db_write_transaction_seconds",
        "histogram",
        "Committed write transactions, from the write gate to the commit's answer.",
    );
    for (le, n) in souk_store::txstats::BUCKETS.iter().zip(&buckets) {
        let _ = writeln!(
            out,
            "souk_db_write_transaction_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "souk_db_write_transaction_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "souk_db_write_transaction_seconds_sum {sum}");
    let _ = writeln!(out, "souk_db_write_transaction_seconds_count {count}");
    let pool = store.pool_use();
    family(
        out,
        "souk_db_pool_connections",
        "gauge",
        "Database pool connections by state.",
    );
    let _ = writeln!(
        out,
        "souk_db_pool_connections{{state=\"in_use\"}} {}",
        pool.open.saturating_sub(pool.idle)
    );
    let _ = writeln!(
        out,
        "souk_db_pool_connections{{state=\"idle\"}} {}",
        pool.idle
    );
    let _ = writeln!(
        out,
        "souk_db_pool_connections{{state=\"max\"}} {}",
        pool.max
    );
    if let Ok(Some(wal)) = store.sqlite_wal_bytes().await {
        family(
            out,
            "souk_sqlite_wal_bytes",
            "gauge",
            "Size of SQLite's write-ahead log.",
        );
        let _ = writeln!(out, "souk_sqlite_wal_bytes {wal}");
    }
    if let Ok(g) = gauges {
        family(
            out,
            "souk_jobs_ready",
            "gauge",
            "Jobs waiting to run, by kind.",
        );
        for (kind, n, _) in &g.jobs {
            let _ = writeln!(out, "souk_jobs_ready{{kind=\"{}\"}} {n}", label(kind));
        }
        family(
            out,
            "souk_jobs_oldest_age_seconds",
            "gauge",
            "How long the oldest due job of each kind has been due.",
        );
        for (kind, _, age) in &g.jobs {
            let _ = writeln!(
                out,
                "souk_jobs_oldest_age_seconds{{kind=\"{}\"}} {age}",
                label(kind)
            );
        }
        family(
            out,
            "souk_jobs_parked",
            "gauge",
            "Jobs parked with an error for the operator, by kind.",
        );
        for (kind, n) in &g.parked {
            let _ = writeln!(out, "souk_jobs_parked{{kind=\"{}\"}} {n}", label(kind));
        }
        family(
            out,
            "souk_provider_balance",
            "gauge",
            "Each provider's last known balance, in the installation's currency.",
        );
        for (name, balance) in &g.provider_balances {
            if let Some(micros) = balance {
                let _ = writeln!(
                    out,
                    "souk_provider_balance{{provider=\"{}\"}} {}",
                    label(name),
                    *micros as f64 / 1e6
                );
            }
        }
        family(
            out,
            "souk_payments_pending",
            "gauge",
            "Top-ups waiting for their money.",
        );
        let _ = writeln!(out, "souk_payments_pending {}", g.pending_payments);
        family(
            out,
            "souk_webhook_deliveries_pending",
            "gauge",
            "Webhook deliveries waiting to be sent.",
        );
        let _ = writeln!(
            out,
            "souk_webhook_deliveries_pending {}",
            g.pending_webhook_deliveries
        );
        family(
            out,
            "souk_catalogue_services",
            "gauge",
            "Active products and SMM services.",
        );
        let _ = writeln!(out, "souk_catalogue_services {}", g.catalogue_services);
    }
    family(
        out,
        "souk_upstream_calls_total",
        "counter",
        "Calls of this node to each provider (by id): sends and status syncs, by outcome.",
    );
    for (provider, call, outcome, n) in souk_app::upstream_stats::snapshot() {
        let _ = writeln!(
            out,
            "souk_upstream_calls_total{{provider=\"{}\",call=\"{}\",outcome=\"{}\"}} {n}",
            label(&provider),
            call.label(),
            outcome.label()
        );
    }
    if let Some((rss, cpu)) = process_usage() {
        family(
            out,
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory of the process.",
        );
        let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        family(
            out,
            "process_cpu_seconds_total",
            "counter",
            "CPU time of the process, user and system.",
        );
        let _ = writeln!(out, "process_cpu_seconds_total {cpu}");
    }
}

/// (resident bytes, CPU seconds) from `/proc/self` (Linux; `None` elsewhere).
fn process_usage() -> Option<(u64, f64)> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are the 14th and 15th fields; `rest` starts at the 3rd.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    // The kernel's USER_HZ is 100 on every Linux platform Souk runs on.
    Some((pages * 4096, (utime + stime) / 100.0))
}
