//! The closed-loop load generator and the readiness poller.
//!
//! Each of `--concurrency` workers owns one keep-alive connection and sends its next
//! request as soon as the previous answer is read. Requests that start during the warmup
//! are sent but not counted; every request that starts after it is counted and its latency
//! (send to last body byte) recorded in an HDR histogram. No new request starts after
//! warmup + duration; `rps` divides the counted requests by the time from the end of the
//! warmup to the last counted answer.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Method;
use serde_json::{json, Map, Value};
use souk::config::parse_duration;

use crate::http::{Call, Connection, Endpoint};

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The server: `http://HOST:PORT/api/v2` (with --form, requests go to this URL; with
    /// --get, to PATH on the same host). Several URLs separated by commas spread the
    /// workers over several nodes, round robin.
    #[arg(long)]
    url: String,
    /// A form body to POST, e.g. 'key=...&action=services&limit=50'. Repeat it to give
    /// workers different bodies (worker i sends body i modulo their number), e.g. one
    /// buyer per worker.
    #[arg(long, conflicts_with = "get", required_unless_present = "get")]
    form: Vec<String>,
    /// GET this path instead, e.g. /healthz.
    #[arg(long)]
    get: Option<String>,
    /// Concurrent workers (one connection each).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// How long to measure, after the warmup (500ms, 10s, 1m).
    #[arg(long, default_value = "10s")]
    duration: String,
    /// How long to send before measuring.
    #[arg(long, default_value = "2s")]
    warmup: String,
    /// A request that takes longer than this counts as an error and its connection is
    /// reopened.
    #[arg(long, default_value = "30s")]
    timeout: String,
    /// The label in the JSON line (default: the method and path, or the form without
    /// its key).
    #[arg(long)]
    label: Option<String>,
    /// An extra request header, e.g. --header accept-encoding:gzip (repeatable).
    #[arg(long = "header", value_name = "NAME:VALUE")]
    headers: Vec<String>,
    /// Extra string fields for the JSON line, e.g. --meta engine=sqlite (repeatable).
    #[arg(long = "meta", value_name = "KEY=VALUE")]
    meta: Vec<String>,
}

/// What one worker saw after the warmup.
struct Tally {
    histogram: Histogram<u64>,
    requests: u64,
    errors: u64,
    bytes: u64,
    /// When the last counted answer arrived.
    last: Option<Instant>,
    /// The first failed answer, for a hint on standard error.
    first_error: Option<String>,
}

fn new_histogram() -> anyhow::Result<Histogram<u64>> {
    // Microseconds, from 1 µs to an hour, three significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).context("histogram")
}

/// The label for a form: its fields without `key`, so a key never reaches the results.
fn form_label(form: &str) -> String {
    let kept: Vec<&str> = form
        .split('&')
        .filter(|pair| !pair.is_empty() && !pair.starts_with("key="))
        .collect();
    kept.join("&")
}

/// True when an answer counts as an error: not HTTP 200, or an API error body.
fn is_error(status: u16, body: &[u8]) -> bool {
    status != 200 || memchr::memmem::find(body, b"\"error\"").is_some()
}

fn snippet(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    format!("HTTP {status}: {text}")
}

async fn worker(
    endpoint: Arc<Endpoint>,
    call: Arc<Call>,
    measure_from: Instant,
    stop_at: Instant,
    timeout: Duration,
) -> anyhow::Result<Tally> {
    let mut tally = Tally {
        histogram: new_histogram()?,
        requests: 0,
        errors: 0,
        bytes: 0,
        last: None,
        first_error: None,
    };
    let mut connection: Option<Connection> = None;
    loop {
        let started = Instant::now();
        if started >= stop_at {
            break;
        }
        let counted = started >= measure_from;
        let conn = match connection.as_mut() {
            Some(c) => c,
            None => match Connection::open(&endpoint).await {
                Ok(c) => connection.insert(c),
                Err(e) => {
                    if counted {
                        tally.requests += 1;
                        tally.errors += 1;
                        tally.last = Some(Instant::now());
                    }
                    tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                    // Do not spin on a server that refuses connections.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let outcome = tokio::time::timeout(timeout, conn.send(&endpoint, &call)).await;
        let finished = Instant::now();
        let (failed, size) = match outcome {
            Ok(Ok((status, body))) => {
                let failed = is_error(status, &body);
                if failed {
                    tally
                        .first_error
                        .get_or_insert_with(|| snippet(status, &body));
                }
                (failed, body.len() as u64)
            }
            Ok(Err(e)) => {
                connection = None;
                tally.first_error.get_or_insert_with(|| format!("{e:#}"));
                (true, 0)
            }
            Err(_) => {
                connection = None;
                tally
                    .first_error
                    .get_or_insert_with(|| format!("no answer within {timeout:?}"));
                (true, 0)
            }
        };
        if counted {
            let micros = u64::try_from(finished.duration_since(started).as_micros())
                .unwrap_or(u64::MAX)
                .max(1);
            tally.histogram.saturating_record(micros);
            tally.requests += 1;
            tally.bytes += size;
            if failed {
                tally.errors += 1;
            }
            tally.last = Some(finished);
        }
    }
    Ok(tally)
}

fn round(value: f64, places: i32) -> f64 {
    let scale = 10f64.powi(places);
    (value * scale).round() / scale
}

fn millis(micros: u64) -> f64 {
    round(micros as f64 / 1000.0, 3)
}

pub async fn run(args: LoadArgs) -> anyhow::Result<()> {
    if args.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let duration = parse_duration(&args.duration).context("--duration")?;
    let warmup = parse_duration(&args.warmup).context("--warmup")?;
    let timeout = parse_duration(&args.timeout).context("--timeout")?;
    if duration.is_zero() {
        bail!("--duration must be more than zero");
    }
    let mut endpoints = Vec::new();
    let mut url_path = String::new();
    for url in args.url.split(',').map(str::trim).filter(|u| !u.is_empty()) {
        let (endpoint, path) = Endpoint::parse(url)?;
        if !url_path.is_empty() && path != url_path {
            bail!("every --url must have the same path");
        }
        url_path = path;
        endpoints.push(Arc::new(endpoint));
    }
    let Some(endpoint) = endpoints.first().cloned() else {
        bail!("--url is required");
    };
    let headers = args
        .headers
        .iter()
        .map(|h| {
            let (name, value) = h
                .split_once(':')
                .with_context(|| format!("--header takes NAME:VALUE, got {h:?}"))?;
            Ok((
                HeaderName::from_bytes(name.trim().as_bytes()).context("--header name")?,
                HeaderValue::from_str(value.trim()).context("--header value")?,
            ))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (calls, default_label) = match (args.form.first(), &args.get) {
        (Some(first), _) => (
            args.form
                .iter()
                .map(|form| Call {
                    method: Method::POST,
                    path: url_path.clone(),
                    form: Some(Bytes::from(form.clone())),
                    headers: headers.clone(),
                })
                .collect::<Vec<_>>(),
            form_label(first),
        ),
        (None, Some(path)) => {
            if !path.starts_with('/') {
                bail!("--get takes a path that starts with /, got {path:?}");
            }
            (
                vec![Call {
                    method: Method::GET,
                    path: path.clone(),
                    form: None,
                    headers,
                }],
                format!("GET {path}"),
            )
        }
        (None, None) => bail!("give --form or --get"),
    };
    let mut meta = Map::new();
    for pair in &args.meta {
        let (k, v) = pair
            .split_once('=')
            .with_context(|| format!("--meta takes KEY=VALUE, got {pair:?}"))?;
        meta.insert(k.to_owned(), Value::String(v.to_owned()));
    }

    // One request first, so that a wrong URL or key fails fast instead of producing ten
    // seconds of errors.
    let mut probe = Connection::open(&endpoint).await?;
    let (status, body) = probe.send(&endpoint, &calls[0]).await?;
    if is_error(status, &body) {
        bail!("the first request failed: {}", snippet(status, &body));
    }
    drop(probe);

    let calls: Vec<Arc<Call>> = calls.into_iter().map(Arc::new).collect();
    let start = Instant::now();
    let measure_from = start + warmup;
    let stop_at = measure_from + duration;
    let workers: Vec<_> = (0..args.concurrency)
        .map(|i| {
            tokio::spawn(worker(
                endpoints[i % endpoints.len()].clone(),
                calls[i % calls.len()].clone(),
                measure_from,
                stop_at,
                timeout,
            ))
        })
        .collect();
    let mut histogram = new_histogram()?;
    let (mut requests, mut errors, mut bytes) = (0u64, 0u64, 0u64);
    let mut last = measure_from;
    let mut first_error = None;
    for w in workers {
        let tally = w.await.context("a worker panicked")??;
        histogram
            .add(&tally.histogram)
            .context("merging histograms")?;
        requests += tally.requests;
        errors += tally.errors;
        bytes += tally.bytes;
        if let Some(t) = tally.last {
            last = last.max(t);
        }
        if first_error.is_none() {
            first_error = tally.first_error;
        }
    }
    if let Some(e) = &first_error {
        eprintln!("souk-bench: {errors} errors; the first: {e}");
    }
    let measured = last.duration_since(measure_from).as_secs_f64();
    let rps = if measured > 0.0 {
        requests as f64 / measured
    } else {
        0.0
    };
    let mut line = Map::new();
    line.insert(
        "label".into(),
        Value::String(args.label.unwrap_or(default_label)),
    );
    let figures = json!({
        "requests": requests,
        "errors": errors,
        "rps": round(rps, 1),
        "p50_ms": millis(histogram.value_at_quantile(0.50)),
        "p90_ms": millis(histogram.value_at_quantile(0.90)),
        "p99_ms": millis(histogram.value_at_quantile(0.99)),
        "max_ms": millis(histogram.max()),
        "mean_ms": round(histogram.mean() / 1000.0, 3),
        "bytes_per_response": bytes.checked_div(requests).unwrap_or(0),
        "concurrency": args.concurrency,
        "duration_s": round(measured, 3),
        "warmup_s": round(warmup.as_secs_f64(), 3),
    });
    if let Value::Object(f) = figures {
        line.extend(f);
    }
    line.extend(meta);
    println!("{}", Value::Object(line));
    Ok(())
}

#[derive(Args, Debug)]
pub struct WaitArgs {
    /// The URL to poll, e.g. http://127.0.0.1:8080/healthz.
    #[arg(long)]
    url: String,
    /// When the clock started, in microseconds since the Unix epoch (bash:
    /// ${EPOCHREALTIME/./}); default: now.
    #[arg(long)]
    started_at_us: Option<u128>,
    /// Time between polls.
    #[arg(long, default_value = "10ms")]
    interval: String,
    /// Give up after this long.
    #[arg(long, default_value = "120s")]
    timeout: String,
}

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros())
}

pub async fn wait(args: WaitArgs) -> anyhow::Result<()> {
    let started = args.started_at_us.unwrap_or_else(now_us);
    let interval = parse_duration(&args.interval).context("--interval")?;
    let timeout = parse_duration(&args.timeout).context("--timeout")?;
    let (endpoint, path) = Endpoint::parse(&args.url)?;
    let call = Call {
        method: Method::GET,
        path,
        form: None,
        headers: Vec::new(),
    };
    let deadline = Instant::now() + timeout;
    let mut connection: Option<Connection> = None;
    loop {
        if connection.is_none() {
            connection = Connection::open(&endpoint).await.ok();
        }
        if let Some(c) = connection.as_mut() {
            match c.send(&endpoint, &call).await {
                Ok((200, _)) => {
                    let elapsed_us = now_us().saturating_sub(started);
                    println!("{:.1}", elapsed_us as f64 / 1000.0);
                    return Ok(());
                }
                Ok(_) => {}
                Err(_) => connection = None,
            }
        }
        if Instant::now() >= deadline {
            bail!("{} did not answer 200 within {timeout:?}", args.url);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_never_carry_the_key() {
        assert_eq!(
            form_label("key=abc&action=services&limit=50"),
            "action=services&limit=50"
        );
        assert_eq!(form_label("action=balance&key=abc"), "action=balance");
    }

    #[test]
    fn errors_are_non_200_or_error_bodies() {
        assert!(!is_error(200, br#"{"services":[],"total":0}"#));
        assert!(is_error(200, br#"{"error":"Invalid API key"}"#));
        assert!(is_error(500, b"{}"));
        assert!(is_error(429, br#"{"error":"Rate limit exceeded"}"#));
    }

    #[test]
    fn endpoints() {
        let (e, path) = Endpoint::parse("http://127.0.0.1:8080/api/v2").expect("parses");
        assert_eq!(
            (e.authority.as_str(), path.as_str()),
            ("127.0.0.1:8080", "/api/v2")
        );
        let (e, path) = Endpoint::parse("http://localhost").expect("parses");
        assert_eq!((e.authority.as_str(), path.as_str()), ("localhost:80", "/"));
        assert!(Endpoint::parse("https://example.com/").is_err());
    }
}
