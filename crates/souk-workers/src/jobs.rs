//! The job runner: claims due jobs from the durable queue (`souk_store::Job`), runs each
//! by its kind, and records the outcome: done (deleted), again later (periodic work),
//! retried with backoff, or parked with its error for the operator. A job's failure stays
//! with it; the others run on.
//!
//! Kinds so far:
//! - `provider.sync`: one provider's balance and catalogue, every 15 minutes (one live
//!   job per provider; every enabled API v2 provider gets one).
//! - `refill.send`: a refill recorded by a request that did not live to send it
//!   (`souk_app::refill`).
//! - `sms.rent`: an upstream SMS rental whose request did not live to book it
//!   (`souk_app::sms_rental`).
//! - `order.forward` and `order.status`: sending one order upstream and polling it there;
//!   they have runners of their own (`crate::forward`), batched per provider.
//! - `dripfeed.settle`: settles drip-feed orders whose runs are all over, every sync
//!   interval while any is open (inserted when one is split into runs here).
//! - `payment.check`: asks a gateway about one payment and settles it on the answer
//!   (`souk_app::payments::check`), on a schedule until it is settled and at once when
//!   a verified callback wakes it.
//! - `telegram.updates`: reads what people wrote to the bot (`/start <token>` links a
//!   chat) every few seconds while Telegram is enabled, its offset in its payload
//!   (`souk_app::telegram::poll_updates`).

use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};
use souk_core::jobs::retry_delay_ms;
use souk_store::{Job, Lane, StoreError};

use crate::{StopSignal, WorkerContext};

/// How long a claimed job is this node's before another may take it over.
const LEASE_MS: i64 = 5 * 60_000;
/// Jobs claimed at a time, and run at once.
const BATCH: i64 = 32;
const CONCURRENCY: usize = 8;

/// How a job that ran ended well.
#[derive(Debug, PartialEq, Eq)]
pub enum Done {
    /// Finished: the job is deleted.
    Finished,
    /// Periodic work: the same job runs again at this time.
    Again(i64),
}

/// Why a job did not end well.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    /// Worth another try later (with backoff), until its tries are spent.
    #[error("{0}")]
    Retry(String),
    /// No try can succeed: parked at once, for the operator.
    #[error("{0}")]
    Park(String),
}

impl From<StoreError> for JobError {
    fn from(e: StoreError) -> Self {
        JobError::Retry(e.to_string())
    }
}

/// What one pass over the due jobs did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunReport {
    pub finished: usize,
    pub again: usize,
    pub retried: usize,
    pub parked: usize,
}

impl RunReport {
    pub fn ran(&self) -> usize {
        self.finished + self.again + self.retried + self.parked
    }
}

#[derive(Serialize, Deserialize)]
struct ProviderPayload {
    provider: String,
}

#[derive(Serialize, Deserialize)]
struct RefillPayload {
    refill: i64,
}

#[derive(Serialize, Deserialize)]
struct UpdatesPayload {
    offset: i64,
}

#[derive(Serialize, Deserialize)]
struct PaymentPayload {
    payment: String,
}

/// The period of `dripfeed.settle`: the sync interval, at most 10 s between passes.
fn status_every(ctx: &WorkerContext) -> i64 {
    ctx.sync_interval.min(Duration::from_secs(10)).as_millis() as i64
}

/// The period of `provider.sync`: 15 minutes, shorter when the node polls faster (tests).
pub fn provider_sync_every(ctx: &WorkerContext) -> Duration {
    Duration::from_secs(15 * 60).min(ctx.sync_interval * 90)
}

/// Runs one job by its kind.
async fn run(ctx: &WorkerContext, job: &Job) -> Result<Done, JobError> {
    match job.kind.as_str() {
        "provider.sync" => {
            let p: ProviderPayload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::Park(format!("unreadable payload: {e}")))?;
            let provider = match ctx.store.provider(&p.provider).await {
                Ok(provider) => provider,
                // Deleted since: nothing left to sync.
                Err(StoreError::NotFound(_)) => return Ok(Done::Finished),
                Err(e) => return Err(e.into()),
            };
            if !provider.enabled || provider.protocol != "api_v2" {
                return Ok(Done::Finished);
            }
            let synced = souk_app::providers::sync_provider(
                &ctx.store,
                &provider,
                ctx.allow_private_upstreams,
                &*ctx.clock,
            )
            .await;
            if let Err(e) = synced {
                // Failing for long is said to the operator (`provider.failing`).
                ctx.store
                    .provider_failed(
                        &provider.id,
                        souk_store::ProviderCall::Sync,
                        &e.to_string(),
                        ctx.clock.now_ms(),
                    )
                    .await?;
                return Err(JobError::Retry(e.to_string()));
            }
            ctx.store
                .provider_recovered(&provider.id, souk_store::ProviderCall::Sync)
                .await?;
            let every = provider_sync_every(ctx).as_millis() as i64;
            Ok(Done::Again(ctx.clock.now_ms() + every))
        }
        souk_store::REFILL_SEND => {
            let r: RefillPayload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::Park(format!("unreadable payload: {e}")))?;
            match souk_app::refill::send_job(&ctx.upstream(), r.refill, ctx.clock.now_ms()).await? {
                souk_app::refill::SendStep::Done => Ok(Done::Finished),
                souk_app::refill::SendStep::TryAgain(why) => Err(JobError::Retry(why)),
            }
        }
        souk_app::sms_rental::SMS_RENT => {
            souk_app::sms_rental::rent_job(
                &ctx.upstream(),
                job.id,
                &job.payload,
                ctx.clock.now_ms(),
            )
            .await?;
            Ok(Done::Finished)
        }
        souk_store::DRIPFEED_SETTLE => {
            ctx.store
                .settle_dripfeed_parents(ctx.clock.now_ms())
                .await?;
            if !ctx.store.has_open_dripfeed_parents().await? {
                // The next drip-feed run from here brings the job back.
                return Ok(Done::Finished);
            }
            Ok(Done::Again(ctx.clock.now_ms() + status_every(ctx)))
        }
        souk_store::PAYMENT_CHECK => {
            let p: PaymentPayload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::Park(format!("unreadable payload: {e}")))?;
            use souk_app::payments::{check, CheckError, CheckStep};
            match check(
                &ctx.store,
                ctx.allow_private_upstreams,
                &p.payment,
                ctx.clock.now_ms(),
            )
            .await
            {
                Ok(CheckStep::Again(at)) => Ok(Done::Again(at)),
                Ok(CheckStep::Done) => Ok(Done::Finished),
                Err(CheckError::Retry(why)) => Err(JobError::Retry(why)),
                Err(CheckError::Alarm(why)) => Err(JobError::Park(why)),
            }
        }
        souk_store::TELEGRAM_UPDATES => {
            let p: UpdatesPayload = serde_json::from_str(&job.payload)
                .map_err(|e| JobError::Park(format!("unreadable payload: {e}")))?;
            let now = ctx.clock.now_ms();
            let next = souk_app::telegram::poll_updates(
                &ctx.store,
                ctx.allow_private_upstreams,
                p.offset,
                now,
            )
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
            let Some(offset) = next else {
                // Telegram is off: enabling it brings the job back.
                return Ok(Done::Finished);
            };
            if offset != p.offset {
                let payload = serde_json::to_string(&UpdatesPayload { offset })
                    .map_err(|e| JobError::Park(e.to_string()))?;
                ctx.store
                    .record_job_progress(job.id, &ctx.node_id, &payload, now)
                    .await?;
            }
            Ok(Done::Again(now + souk_app::telegram::POLL_EVERY_MS))
        }
        other => Err(JobError::Park(format!("unknown job kind {other:?}"))),
    }
}

/// Records how `job` ended.
async fn settle(
    ctx: &WorkerContext,
    job: &Job,
    outcome: Result<Done, JobError>,
    report: &mut RunReport,
) -> Result<(), StoreError> {
    let (store, node, now) = (&ctx.store, ctx.node_id.as_str(), ctx.clock.now_ms());
    match outcome {
        Ok(Done::Finished) => {
            store.complete_job(job.id, node).await?;
            report.finished += 1;
        }
        Ok(Done::Again(at)) => {
            store.reschedule_job(job.id, node, at, now).await?;
            report.again += 1;
        }
        Err(JobError::Retry(error)) => {
            let at = now + retry_delay_ms(job.attempts);
            if store.fail_job(job.id, node, &error, Some(at), now).await? {
                tracing::error!(job = job.id, kind = %job.kind, error = %error, "job parked after its last try");
                report.parked += 1;
            } else {
                tracing::warn!(job = job.id, kind = %job.kind, error = %error, "job failed; tried again later");
                report.retried += 1;
            }
        }
        Err(JobError::Park(error)) => {
            store.fail_job(job.id, node, &error, None, now).await?;
            tracing::error!(job = job.id, kind = %job.kind, error = %error, "job parked");
            report.parked += 1;
        }
    }
    Ok(())
}

/// Gives every enabled API v2 provider its periodic sync job, open drip-feed parents
/// their settling job, and an enabled Telegram bot its `telegram.updates` job (a no-op
/// for those there already).
pub async fn ensure_periodic_jobs(ctx: &WorkerContext) -> Result<(), StoreError> {
    let now = ctx.clock.now_ms();
    let every = provider_sync_every(ctx).as_millis() as i64;
    ctx.store
        .ensure_provider_sync_jobs(now + every, now)
        .await?;
    ctx.store.ensure_dripfeed_job(now).await?;
    ctx.store.ensure_telegram_job(now).await
}

/// Claims and runs every job due now (but sends and status polls, which have their own
/// runners), `CONCURRENCY` at a time, until none is due: one step of the queue (tests
/// call it to run the queue by hand).
pub async fn run_due(ctx: &WorkerContext) -> Result<RunReport, StoreError> {
    let mut report = RunReport::default();
    loop {
        let now = ctx.clock.now_ms();
        let jobs = ctx
            .store
            .claim_jobs(Lane::Other, &ctx.node_id, now, LEASE_MS, BATCH)
            .await?;
        if jobs.is_empty() {
            return Ok(report);
        }
        let outcomes: Vec<(Job, Result<Done, JobError>)> = stream::iter(jobs)
            .map(|job| async move {
                let outcome = run(ctx, &job).await;
                (job, outcome)
            })
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        for (job, outcome) in outcomes {
            settle(ctx, &job, outcome, &mut report).await?;
        }
    }
}

#[derive(Serialize, Deserialize)]
struct QueuePayload {
    queue: String,
}

/// Jobs of the delivery lane run at once: each may wait on a slow receiver (10 s at
/// most), so many run side by side.
const DELIVER_CONCURRENCY: usize = 32;

/// How often the delivery lane fans out and claims while its slots are busy.
const DELIVER_TICK: Duration = Duration::from_millis(200);

/// Runs one job of the delivery lane: one queue of one channel.
async fn deliver(ctx: &WorkerContext, job: &Job) -> Result<Done, JobError> {
    use souk_app::notify::QueueStep;
    let q: QueuePayload = serde_json::from_str(&job.payload)
        .map_err(|e| JobError::Park(format!("unreadable payload: {e}")))?;
    let channels = ctx.channels();
    let now = ctx.clock.now_ms();
    let step = match job.kind.as_str() {
        souk_store::WEBHOOK_SEND => souk_app::webhooks::send_queue(&channels, &q.queue, now).await,
        souk_store::TELEGRAM_SEND => souk_app::telegram::send_queue(&channels, &q.queue, now).await,
        souk_store::EMAIL_SEND => souk_app::email::send_queue(&channels, &q.queue, now).await,
        other => return Err(JobError::Park(format!("unknown job kind {other:?}"))),
    };
    match step {
        Ok(QueueStep::Done) => Ok(Done::Finished),
        Ok(QueueStep::Again(at)) => Ok(Done::Again(at)),
        Err(e) => Err(JobError::Retry(e)),
    }
}

/// Fans recorded events out to their deliveries, then runs every delivery job due now,
/// `DELIVER_CONCURRENCY` at a time, until none is due: one step of the delivery lane
/// (tests call it by hand). Each job is settled as soon as it ends and its slot goes to
/// the next due job: a receiver that hangs holds its own slot, not the others'.
pub async fn run_deliveries(ctx: &WorkerContext) -> Result<RunReport, StoreError> {
    let mut report = RunReport::default();
    let mut running: tokio::task::JoinSet<(Job, Result<Done, JobError>)> =
        tokio::task::JoinSet::new();
    loop {
        let now = ctx.clock.now_ms();
        while ctx.store.dispatch_events(now, 100).await? > 0 {}
        let free = DELIVER_CONCURRENCY.saturating_sub(running.len());
        if free > 0 {
            let jobs = ctx
                .store
                .claim_jobs(Lane::Deliver, &ctx.node_id, now, LEASE_MS, free as i64)
                .await?;
            for job in jobs {
                let ctx = ctx.clone();
                running.spawn(async move {
                    let outcome = deliver(&ctx, &job).await;
                    (job, outcome)
                });
            }
        }
        if running.is_empty() {
            return Ok(report);
        }
        // A receiver that hangs holds its slot for up to its timeout; meanwhile new
        // events are still fanned out and free slots taken, once per tick.
        let ended = tokio::select! {
            ended = running.join_next() => ended,
            _ = tokio::time::sleep(DELIVER_TICK) => None,
        };
        if let Some(ended) = ended {
            let (job, outcome) = ended.map_err(|e| StoreError::task_failed("delivery", &e))?;
            settle(ctx, &job, outcome, &mut report).await?;
        }
    }
}

/// Runs the delivery lane until the node stops.
pub(crate) async fn deliver_loop(ctx: WorkerContext, stop: StopSignal) {
    let tick = DELIVER_TICK;
    while !stop.is_set() {
        if let Err(e) = run_deliveries(&ctx).await {
            tracing::warn!(error = %e, "delivering events failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.wait() => {}
        }
    }
}

/// Runs the queue until the node stops: due jobs every `tick`, the periodic jobs'
/// rows checked once a minute.
pub(crate) async fn job_loop(ctx: WorkerContext, stop: StopSignal) {
    let tick = Duration::from_millis(200);
    let mut last_ensure: Option<i64> = None;
    while !stop.is_set() {
        let now = ctx.clock.now_ms();
        if last_ensure.is_none_or(|at| now - at >= 60_000) {
            last_ensure = Some(now);
            if let Err(e) = ensure_periodic_jobs(&ctx).await {
                tracing::warn!(error = %e, "enqueuing periodic jobs failed");
            }
        }
        if let Err(e) = run_due(&ctx).await {
            tracing::warn!(error = %e, "running jobs failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = stop.wait() => {}
        }
    }
}
