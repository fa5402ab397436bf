//! SMS activations in the background: the expiry sweep (an activation without a code at
//! the end of its lifetime is refunded in full; one with a code is completed) and the
//! upstream work (poll sms-activate providers for codes, ask for another SMS, complete
//! or cancel their rentals).
//!
//! Both are safe on several nodes: the sweep ends each activation with a conditional
//! update in the transaction that books its refund, so a second node finds nothing left
//! to do; upstream rentals' work is their `sms.upstream` jobs, claimed one node at a time.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use souk_client::sms_activate::{self, SetStatus, Status};
use souk_store::{SmsProvider, UpstreamAction, UpstreamJob, UpstreamNext, MAX_UPSTREAM_ATTEMPTS};
use tokio::task::{JoinHandle, JoinSet};

use crate::WorkerContext;

/// Activations ended per sweep transaction batch.
const SWEEP_BATCH: i64 = 200;
/// Upstream rentals claimed per round.
const UPSTREAM_BATCH: i64 = 50;
/// How long a claim on an upstream rental lasts (longer than any provider timeout).
const LEASE_MS: i64 = 150_000;
/// The longest wait between retries of a failing upstream call.
const MAX_BACKOFF_MS: i64 = 5 * 60_000;

pub fn spawn(ctx: &WorkerContext) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(expiry(ctx.clone())),
        tokio::spawn(upstream(ctx.clone())),
    ]
}

/// How often the sweep runs: at most a second, sooner when the sync interval is shorter.
fn sweep_interval(ctx: &WorkerContext) -> Duration {
    ctx.sync_interval
        .min(Duration::from_secs(1))
        .max(Duration::from_millis(20))
}

async fn expiry(ctx: WorkerContext) {
    loop {
        if let Err(e) = sweep_once(&ctx).await {
            tracing::warn!(error = %e, "SMS expiry sweep failed");
        }
        tokio::time::sleep(sweep_interval(&ctx)).await;
    }
}

/// One expiry sweep: ends every activation due now (by the node's clock), batch by batch
/// until a batch is not full; returns how many ended. The sweep loop runs it; tests
/// stepping a node without background work call it by hand.
pub async fn sweep_once(ctx: &WorkerContext) -> Result<usize, souk_store::StoreError> {
    let mut ended = 0;
    loop {
        let report = ctx.store.sms_sweep(ctx.clock.now_ms(), SWEEP_BATCH).await?;
        if !report.expired.is_empty() || !report.completed.is_empty() {
            tracing::info!(
                expired = report.expired.len(),
                completed = report.completed.len(),
                "SMS activations ended"
            );
        }
        let batch = report.expired.len() + report.completed.len();
        ended += batch;
        // A full batch means more are due: go on at once.
        if (batch as i64) < SWEEP_BATCH {
            return Ok(ended);
        }
    }
}

async fn upstream(ctx: WorkerContext) {
    loop {
        if let Err(e) = upstream_once(&ctx).await {
            tracing::warn!(error = %e, "claiming upstream SMS work failed");
        }
        tokio::time::sleep(ctx.sync_interval.max(Duration::from_millis(20))).await;
    }
}

/// One round of upstream SMS work: the rentals due now claimed (one batch) and their
/// polls and status changes sent; returns how many were claimed. An error is the
/// claim's (each rental's own failure is logged and kept on it). The loop runs it; tests
/// stepping a node without background work call it by hand.
pub async fn upstream_once(ctx: &WorkerContext) -> Result<usize, souk_store::StoreError> {
    let now = ctx.clock.now_ms();
    let jobs = ctx
        .store
        .sms_claim_upstream(&ctx.node_id, now, LEASE_MS, UPSTREAM_BATCH)
        .await?;
    let claimed = jobs.len();
    if !jobs.is_empty() {
        run_jobs(ctx, jobs).await;
    }
    Ok(claimed)
}

async fn run_jobs(ctx: &WorkerContext, jobs: Vec<UpstreamJob>) {
    let providers: HashMap<String, SmsProvider> = match ctx.store.sms_providers(false).await {
        Ok(list) => list.into_iter().map(|p| (p.id.clone(), p)).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "loading SMS providers failed");
            return;
        }
    };
    let providers = Arc::new(providers);
    let mut set = JoinSet::new();
    for job in jobs {
        let (ctx, providers) = (ctx.clone(), providers.clone());
        set.spawn(async move {
            let order = job.order_id;
            if let Err(e) = run_job(&ctx, &providers, job).await {
                tracing::warn!(order, error = %e, "upstream SMS work failed");
            }
        });
    }
    while set.join_next().await.is_some() {}
}

fn backoff(ctx: &WorkerContext, attempts: i64) -> i64 {
    let base = ctx.sync_interval.as_millis() as i64;
    (base.saturating_mul(1 << attempts.clamp(0, 6))).min(MAX_BACKOFF_MS)
}

async fn run_job(
    ctx: &WorkerContext,
    providers: &HashMap<String, SmsProvider>,
    job: UpstreamJob,
) -> Result<(), souk_store::StoreError> {
    use UpstreamAction::{Cancel, Complete, Poll, Retry};
    use UpstreamNext::{Closed, GiveUp, Then};
    let store = &ctx.store;
    let release = |next: UpstreamNext, error: Option<String>| {
        let job = &job;
        async move {
            store
                .sms_upstream_release(
                    job,
                    &ctx.node_id,
                    next,
                    error.as_deref(),
                    ctx.clock.now_ms(),
                )
                .await
        }
    };
    let now = ctx.clock.now_ms();
    let interval = ctx.sync_interval.as_millis() as i64;
    let Some(provider) = providers.get(&job.provider_id) else {
        return release(GiveUp, Some("the provider was removed".into())).await;
    };
    let client = match souk_app::upstream::sms_client(provider, ctx.allow_private_upstreams) {
        Ok(c) => c,
        Err(e) => return release(GiveUp, Some(e.to_string())).await,
    };
    let exhausted = job.attempts + 1 >= MAX_UPSTREAM_ATTEMPTS;
    let retry_at = now + backoff(ctx, job.attempts);
    match job.action {
        Poll => match client.get_status(&job.external_id).await {
            Ok(Status::Ok(code)) => {
                store
                    .sms_upstream_code(job.order_id, &code, ctx.clock.now_ms())
                    .await?;
                release(Then(Poll, now + interval), None).await
            }
            Ok(Status::Cancel) | Err(sms_activate::Error::NoActivation) => {
                store
                    .sms_upstream_canceled(job.order_id, ctx.clock.now_ms())
                    .await?;
                release(Closed, None).await
            }
            Ok(Status::WaitCode | Status::WaitRetry(_) | Status::WaitResend) => {
                release(Then(Poll, now + interval), None).await
            }
            Err(e) => release(Then(Poll, retry_at), Some(e.to_string())).await,
        },
        Retry => match client.set_status(&job.external_id, SetStatus::Retry).await {
            Ok(_) => release(Then(Poll, now), None).await,
            // Polling goes on: the provider may still send another SMS.
            Err(e) if exhausted => release(Then(Poll, now), Some(e.to_string())).await,
            Err(e) => release(Then(Retry, retry_at), Some(e.to_string())).await,
        },
        action @ (Complete | Cancel) => {
            let status = if action == Complete {
                SetStatus::Complete
            } else {
                SetStatus::Cancel
            };
            match client.set_status(&job.external_id, status).await {
                // Done, or already over at the provider.
                Ok(_)
                | Err(sms_activate::Error::NoActivation)
                | Err(sms_activate::Error::BadStatus) => release(Closed, None).await,
                Err(e) if exhausted => {
                    tracing::warn!(order = job.order_id, error = %e, "giving up on an upstream SMS rental");
                    release(GiveUp, Some(e.to_string())).await
                }
                Err(e) => release(Then(action, retry_at), Some(e.to_string())).await,
            }
        }
    }
}
