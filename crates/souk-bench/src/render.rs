//! `render`: the server's own cost of one `/api/v2` call, without sockets or a load
//! generator competing for the cores. Loads the node's state (catalogue cache) from a
//! seeded database, then calls the real router in-process, one call at a time, and
//! reports the time per call; `services` and `products` also get the time of the
//! catalogue query alone (`Catalogue::list`), so the rest is building and serializing rows.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request};
use clap::Args;
use serde_json::json;
use souk_api::{ApiConfig, AppState};
use souk_core::catalogue::ListQuery;
use souk_core::clock::SystemClock;
use souk_core::Params;
use tower::ServiceExt;

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The seeded database (not modified).
    #[arg(long, env = "SOUK_DATABASE_URL")]
    database_url: String,
    /// The form to send, e.g. 'key=...&action=services'.
    #[arg(long)]
    form: String,
    /// Calls to time (after as many warmup calls, at most 10).
    #[arg(long, default_value_t = 50)]
    iterations: usize,
    #[arg(long)]
    label: Option<String>,
}

/// Microseconds at quantile `q` of sorted samples.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

pub async fn run(args: RenderArgs) -> anyhow::Result<()> {
    if args.iterations == 0 {
        bail!("--iterations must be at least 1");
    }
    let store = souk::server::open_store(&args.database_url, 2).await?;
    let loading = Instant::now();
    let config = ApiConfig {
        rate_limit_per_key: 0,
        rate_limit_per_address: 0,
        ..ApiConfig::default()
    };
    let state = AppState::new(store.clone(), config, Arc::new(SystemClock)).await?;
    let load_ms = loading.elapsed().as_secs_f64() * 1000.0;
    let app = souk_api::router(state.clone());
    let peer = SocketAddr::from(([127, 0, 0, 1], 9));

    let call = |form: String| {
        let app = app.clone();
        async move {
            let request = Request::builder()
                .method("POST")
                .uri("/api/v2")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .extension(ConnectInfo(peer))
                .body(Body::from(form))
                .context("building the request")?;
            let response = app.oneshot(request).await.context("calling the router")?;
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .context("reading the body")?;
            anyhow::Ok((status, body))
        }
    };

    let (status, body) = call(args.form.clone()).await?;
    if status != 200 || memchr::memmem::find(&body, b"\"error\"").is_some() {
        bail!(
            "the call failed: HTTP {status}: {}",
            String::from_utf8_lossy(&body[..body.len().min(200)])
        );
    }
    for _ in 0..args.iterations.min(10) {
        call(args.form.clone()).await?;
    }
    let mut samples = Vec::with_capacity(args.iterations);
    for _ in 0..args.iterations {
        let started = Instant::now();
        call(args.form.clone()).await?;
        samples.push(started.elapsed().as_secs_f64() * 1e6);
    }
    samples.sort_by(f64::total_cmp);

    // The catalogue query alone, for the list actions.
    let params = Params::from_pairs(form_urlencoded::parse(args.form.as_bytes()));
    let list_us = match params.get("action") {
        Some(action @ ("services" | "products")) => {
            let query = ListQuery::parse(&params, action == "products")
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let snapshot = state.cache.get();
            let started = Instant::now();
            let mut rows = 0usize;
            for _ in 0..args.iterations {
                rows += snapshot.catalogue.list(&query).items.len();
            }
            let per_call = started.elapsed().as_secs_f64() * 1e6 / args.iterations as f64;
            std::hint::black_box(rows);
            Some(round3(per_call / 1000.0))
        }
        _ => None,
    };
    let mean = samples.iter().sum::<f64>() / samples.len() as f64;
    let label = args.label.unwrap_or_else(|| {
        args.form
            .split('&')
            .filter(|p| !p.is_empty() && !p.starts_with("key="))
            .collect::<Vec<_>>()
            .join("&")
    });
    println!(
        "{}",
        json!({
            "label": label,
            "iterations": samples.len(),
            "mean_ms": round3(mean / 1000.0),
            "p50_ms": round3(quantile(&samples, 0.5) / 1000.0),
            "min_ms": round3(samples[0] / 1000.0),
            "max_ms": round3(quantile(&samples, 1.0) / 1000.0),
            "list_only_ms": list_us,
            "bytes": body.len(),
            "catalogue_load_ms": round3(load_ms),
        })
    );
    store.close().await;
    Ok(())
}
