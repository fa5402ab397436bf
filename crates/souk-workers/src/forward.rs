//! Forwarding orders to upstream providers and polling their status: the runners of the
//! `order.forward` and `order.status` job lanes (`souk_store::Lane`), each batched, each
//! job recording its own outcome.

use std::collections::HashMap;
use std::time::Duration;

use futures::stream::{self, StreamExt};
use souk_client::api_v2::{
    ApiV2Client, ClientError, RemoteOrder, RemoteState, RemoteStatus, Tally,
};
use souk_core::order::OrderStatus;
use souk_core::subscription::SubscriptionState;
use souk_store::{
    ForwardJob, Provider, ProviderCall, RemoteUpdate, Retry, StatusJob, StoreError,
    RESEND_WINDOW_MS,
};

use crate::{StopSignal, WorkerContext};

/// How long a batch's claim keeps its orders from other nodes before they are sent.
/// Running out only lets another node send what this one has not started.
const CLAIM_MS: i64 = 120_000;
/// Orders claimed per batch.
const BATCH: i64 = 64;
/// A refused order is retried this many times before it is cancelled and refunded.
const MAX_REFUSALS: i64 = 3;
/// Sends that never left are retried for about a day before giving up.
const MAX_UNSENT: i64 = 40;
/// Sends in flight at once, per node.
const CONCURRENCY: usize = 16;
/// Orders per multi-status request (PerfectPanel's limit).
const STATUS_BATCH: usize = 100;
/// Status jobs claimed at a time (each provider's share polled 100 per request).
const STATUS_CLAIM: i64 = (STATUS_BATCH * 8) as i64;
/// How long a status poll's claim keeps its orders from other nodes.
const STATUS_LEASE_MS: i64 = 5 * 60_000;

/// Backoff for attempt `n` (1-based): 5 s, 10 s, 20 s ... capped at an hour.
fn backoff_ms(attempt: i64) -> i64 {
    let exp = attempt.clamp(1, 20) - 1;
    (5_000i64.saturating_mul(1i64 << exp.min(10))).min(3_600_000)
}

fn client_for(provider: &Provider, ctx: &WorkerContext) -> Result<ApiV2Client, ClientError> {
    ApiV2Client::new(
        &provider.url,
        &provider.key,
        souk_app::upstream::timeout(provider),
        ctx.allow_private_upstreams,
    )
}

/// Claims due orders in batches and sends them, until the node stops: then it claims no
/// more, starts no new send and lets the ones in flight finish; `Workers::stop` gives the
/// rest of the batch back to the queue (also when the grace period cut the sends off).
pub(crate) async fn forward_loop(ctx: WorkerContext, stop: StopSignal) {
    while !stop.is_set() {
        match forward_batch(&ctx, &stop).await {
            Ok(0) => pause(&stop, Duration::from_millis(200)).await,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "claiming orders to forward failed");
                pause(&stop, Duration::from_secs(1)).await;
            }
        }
    }
}

/// One pass of the forwarder run by hand (tests stepping a node without background
/// work): every order due now claimed and sent, batch by batch, until none is due
/// (a send whose node died is due again once its lease ran out). Returns how many orders
/// were claimed.
pub async fn forward_once(ctx: &WorkerContext) -> Result<usize, StoreError> {
    // Never set: a pass by hand is not stopped half way.
    let (_never, stopped) = tokio::sync::watch::channel(false);
    let stop = StopSignal(stopped);
    let mut claimed = 0;
    loop {
        match forward_batch(ctx, &stop).await? {
            0 => return Ok(claimed),
            n => claimed += n,
        }
    }
}

/// Claims one batch of due orders and sends them (errors of single sends are logged);
/// returns how many were claimed. An error is the claim's.
async fn forward_batch(ctx: &WorkerContext, stop: &StopSignal) -> Result<usize, StoreError> {
    let now = ctx.clock.now_ms();
    let jobs = ctx
        .store
        .claim_forward_jobs(&ctx.node_id, now, CLAIM_MS, BATCH)
        .await?;
    let claimed = jobs.len();
    if jobs.is_empty() {
        return Ok(0);
    }
    let installation = ctx.installation_id.as_str();
    // Each provider is read (and its key opened) once per batch.
    let mut providers: HashMap<String, Result<Provider, String>> = HashMap::new();
    for job in &jobs {
        if !providers.contains_key(&job.provider_id) {
            let p = ctx
                .store
                .provider(&job.provider_id)
                .await
                .map_err(|e| e.to_string());
            providers.insert(job.provider_id.clone(), p);
        }
    }
    // What each provider's answers do oddly, counted over the batch and recorded once.
    let tallies: HashMap<String, Tally> = providers
        .keys()
        .map(|id| (id.clone(), Tally::default()))
        .collect();
    stream::iter(jobs)
        .for_each_concurrent(CONCURRENCY, |job| {
            let provider = providers
                .get(&job.provider_id)
                .cloned()
                .unwrap_or_else(|| Err("unknown provider".into()));
            let tally = tallies.get(&job.provider_id).cloned().unwrap_or_default();
            async move {
                let order = job.order_id;
                if let Err(e) = forward_one(ctx, installation, provider, tally, job, stop).await {
                    tracing::warn!(order, error = %e, "forwarding bookkeeping failed");
                }
            }
        })
        .await;
    for (provider, tally) in &tallies {
        souk_app::upstream::record_tally(&ctx.store, provider, &tally.take(), ctx.clock.now_ms())
            .await;
    }
    Ok(claimed)
}

/// Sleeps for `d`, or less if the node stops meanwhile.
async fn pause(stop: &StopSignal, d: Duration) {
    tokio::select! {
        _ = tokio::time::sleep(d) => {}
        _ = stop.wait() => {}
    }
}

async fn forward_one(
    ctx: &WorkerContext,
    installation: &str,
    provider: Result<Provider, String>,
    tally: Tally,
    mut job: ForwardJob,
    stop: &StopSignal,
) -> Result<(), StoreError> {
    let job = &mut job;
    let store = &ctx.store;
    let node = ctx.node_id.as_str();
    let now = ctx.clock.now_ms();
    // Nothing is sent here, so nothing counts as an attempt.
    let provider = match provider {
        Ok(p) => p,
        Err(e) => {
            let why = format!("provider unavailable: {e}");
            return store
                .requeue_forward(job, node, Retry::Unsent, &why, now + 60_000, now)
                .await;
        }
    };
    // A provider that cannot take the order now hands it to the service's next one, if
    // nothing sent for it may have arrived (`fall_over` checks).
    if let Some(why) = unable(&provider, job) {
        if let Some(next) = store.fall_over(job, node, &why, now).await? {
            tracing::info!(order = job.order_id, to = %next.provider_id, why, "moved to a fallback provider");
            return Ok(());
        }
    }
    if !provider.enabled {
        return store
            .requeue_forward(
                job,
                node,
                Retry::Unsent,
                "provider disabled",
                now + 60_000,
                now,
            )
            .await;
    }
    // A same-key resend is safe only while the upstream remembers the key; later it
    // could place the order a second time.
    if job
        .unknown_since
        .is_some_and(|since| now - since > RESEND_WINDOW_MS)
    {
        tracing::warn!(
            order = job.order_id,
            "too late to resend with the same key; parked"
        );
        return store
            .park_forward(
                job,
                node,
                "an earlier send had an unknown outcome and the upstream may have forgotten its idempotency key; not resent",
                now,
            )
            .await;
    }
    // Claimed with an earlier send's outcome unknown (its answer never came, or its node
    // died mid-call): only a same-key resend is safe, and only where the key is honoured.
    if job.unknown_since.is_some() && !provider.supports_idempotency {
        tracing::warn!(
            order = job.order_id,
            "send outcome unknown; parked for the operator"
        );
        return store
            .park_forward(job, node, "a send's outcome is unknown (its answer never came); the provider does not honour idempotency keys, so it is not resent", now)
            .await;
    }
    let client = match client_for(&provider, ctx) {
        Ok(c) => c.tallied(tally),
        Err(e) => return give_up(ctx, job, &e.to_string(), now).await,
    };
    // Drip-feed the upstream cannot do itself runs here, as child orders.
    if job.runs.is_some_and(|r| r > 1)
        && !store
            .upstream_dripfeed(&provider.id, &job.provider_service)
            .await?
    {
        return store.expand_dripfeed(job, node, now).await;
    }
    let fields: Vec<(String, String)> =
        serde_json::from_str::<HashMap<String, String>>(&job.params)
            .map(|m| m.into_iter().collect())
            .unwrap_or_default();
    let key = format!("souk-{installation}-{}", job.order_id);
    // A stopping node starts no new send: the order stays claimed and is given back.
    tokio::select! {
        _ = souk_client::pacing::wait(&provider.id, provider.requests_per_second) => {}
        _ = stop.wait() => return Ok(()),
    }
    if stop.is_set() {
        return Ok(());
    }
    // Crash tests stop here: claimed, not yet sending (a dead node's claim runs out and
    // another node sends), or below: sending, nothing sent yet (resent with the same key
    // where the upstream honours it, parked for the operator where it does not).
    souk_client::pause::point("forward.send").await;
    let started = ctx.clock.now_ms();
    // The send's lease outlasts the request it covers.
    if !store
        .begin_send(
            job,
            node,
            souk_app::upstream::call_lease_ms(&provider),
            started,
        )
        .await?
    {
        tracing::debug!(
            order = job.order_id,
            "no longer ours to send (claim taken over or order closed)"
        );
        return Ok(());
    }
    let attempt = job.attempts;
    let order = RemoteOrder {
        service: &job.provider_service,
        link: &job.link,
        quantity: job.quantity,
        subproduct: job.provider_subproduct.as_deref(),
        runs: job.runs,
        interval: job.interval_minutes,
        fields,
        idempotency_key: Some(&key),
    };
    souk_client::pause::point("forward.call").await;
    let result = client.add(&order).await;
    let now = ctx.clock.now_ms();
    // Sends that fail for long are said to the operator (`provider.failing`); a refusal
    // is an answer, not a failure.
    {
        use souk_app::upstream_stats::{record, Call, Outcome};
        let outcome = match &result {
            Ok(_) => Outcome::Ok,
            Err(ClientError::Api(_) | ClientError::KeyConflict(_)) => Outcome::Refused,
            Err(e) if e.outcome_unknown() => Outcome::Unknown,
            Err(_) => Outcome::Failed,
        };
        record(&provider.id, Call::Send, outcome);
    }
    match &result {
        Ok(_) | Err(ClientError::Api(_)) | Err(ClientError::KeyConflict(_)) => {
            store
                .provider_recovered(&provider.id, ProviderCall::Send)
                .await?
        }
        Err(e) => {
            store
                .provider_failed(&provider.id, ProviderCall::Send, &e.to_string(), now)
                .await?
        }
    }
    match result {
        Ok(external) => {
            store.mark_forwarded(job, &external, now).await?;
            tracing::debug!(order = job.order_id, external = %external, "forwarded");
        }
        // Another Souk holds this key for another request, or is still placing it: the
        // order may well be there. Not ours to refund or resend.
        Err(e @ ClientError::KeyConflict(_)) => {
            tracing::warn!(order = job.order_id, error = %e, "idempotency key conflict; parked for the operator");
            store.park_forward(job, node, &e.to_string(), now).await?;
        }
        Err(e) if e.outcome_unknown() => {
            let since = job.unknown_since.unwrap_or(started);
            if provider.supports_idempotency && now - since <= RESEND_WINDOW_MS {
                store
                    .requeue_forward(
                        job,
                        node,
                        Retry::Unknown,
                        &e.to_string(),
                        now + backoff_ms(attempt),
                        now,
                    )
                    .await?;
            } else {
                tracing::warn!(order = job.order_id, error = %e, "send outcome unknown; parked for the operator");
                store.park_forward(job, node, &e.to_string(), now).await?;
            }
        }
        Err(ClientError::Api(message)) => {
            let refusals = job.refusals + 1;
            let why = format!("upstream refused: {message}");
            if store.fall_over(job, node, &why, now).await?.is_some() {
                tracing::info!(
                    order = job.order_id,
                    why,
                    "refused; moved to a fallback provider"
                );
            } else if refusals >= MAX_REFUSALS {
                give_up(ctx, job, &why, now).await?;
            } else {
                store
                    .requeue_forward(
                        job,
                        node,
                        Retry::Refused,
                        &why,
                        now + backoff_ms(refusals),
                        now,
                    )
                    .await?;
            }
        }
        Err(e) => {
            // Surely not processed (never sent, or refused at the HTTP level).
            let why = e.to_string();
            if store.fall_over(job, node, &why, now).await?.is_some() {
                tracing::info!(
                    order = job.order_id,
                    why,
                    "not taken; moved to a fallback provider"
                );
            } else if attempt >= MAX_UNSENT {
                give_up(ctx, job, &e.to_string(), now).await?;
            } else {
                store
                    .requeue_forward(
                        job,
                        node,
                        Retry::Unsent,
                        &e.to_string(),
                        now + backoff_ms(attempt),
                        now,
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

/// Why `provider` cannot take the order now, if it cannot: disabled, its syncs failing,
/// or its last known balance short of what the order costs there.
fn unable(provider: &Provider, job: &ForwardJob) -> Option<String> {
    if !provider.enabled {
        return Some("provider disabled".into());
    }
    if provider.failing_since.is_some() {
        return Some("provider failing".into());
    }
    match (provider.balance, job.upstream_cost) {
        (Some(balance), Some(cost)) if balance < cost => Some(format!(
            "provider balance {} short of the order's {}",
            balance.display2(),
            cost.display2()
        )),
        _ => None,
    }
}

/// No more tries: cancel and refund in full, unless an earlier send may have reached the
/// upstream, in which case only the operator may decide.
async fn give_up(
    ctx: &WorkerContext,
    job: &ForwardJob,
    why: &str,
    now: i64,
) -> Result<(), StoreError> {
    if job.unknown_since.is_some() {
        return ctx.store.park_forward(job, &ctx.node_id, why, now).await;
    }
    ctx.store
        .fail_forward(job.order_id, why, now)
        .await
        .map(|_| ())
}

/// Maps an upstream's answer onto ours.
pub fn remote_update(status: &RemoteStatus) -> Option<RemoteUpdate> {
    let status_now = match &status.state {
        RemoteState::Pending => OrderStatus::Pending,
        RemoteState::InProgress => OrderStatus::Processing,
        RemoteState::Completed => OrderStatus::Completed,
        RemoteState::Partial => OrderStatus::Partial,
        RemoteState::Canceled => OrderStatus::Canceled,
        // A subscription's own states (`Paused`, `Expired`): read by the store, which
        // knows the order's type; for any other order they change nothing.
        RemoteState::Other(s) if SubscriptionState::parse(s).is_some() => OrderStatus::Processing,
        RemoteState::Other(_) => return None,
    };
    Some(RemoteUpdate {
        status: status_now,
        start_count: status.start_count,
        remains: status.remains,
        accounts: status.accounts.clone(),
        state_text: status.state_text.clone(),
        posts: status.posts,
        child_orders: status.child_orders.clone(),
    })
}

/// One round of status sync (tests and benchmarks): every order due for a poll polled
/// (`status_once`), then drip-feed orders whose runs are all over settled. Errors are
/// logged as the loop logs them; the first is also returned.
pub async fn status_round(ctx: &WorkerContext) -> Result<SyncStats, StoreError> {
    let synced = status_once(ctx).await;
    if let Err(e) = &synced {
        tracing::warn!(error = %e, "status sync failed");
    }
    if let Err(e) = ctx.store.settle_dripfeed_parents(ctx.clock.now_ms()).await {
        tracing::warn!(error = %e, "settling drip-feed orders failed");
        if synced.is_ok() {
            return Err(e);
        }
    }
    synced
}

/// Polls the due orders until the node stops.
pub(crate) async fn status_loop(ctx: WorkerContext, stop: StopSignal) {
    while !stop.is_set() {
        if let Err(e) = status_once(&ctx).await {
            tracing::warn!(error = %e, "status sync failed");
        }
        pause(&stop, Duration::from_millis(200)).await;
    }
}

/// Claims the `order.status` jobs due now and polls them, each provider's 100 per
/// request and paced, until none is due (each poll moves its job to its next time).
pub async fn status_once(ctx: &WorkerContext) -> Result<SyncStats, StoreError> {
    let mut stats = SyncStats::default();
    loop {
        let now = ctx.clock.now_ms();
        let jobs = ctx
            .store
            .claim_status_jobs(&ctx.node_id, now, STATUS_LEASE_MS, STATUS_CLAIM)
            .await?;
        if jobs.is_empty() {
            return Ok(stats);
        }
        let mut by_provider: HashMap<String, Vec<StatusJob>> = HashMap::new();
        for job in jobs {
            by_provider
                .entry(job.provider_id.clone())
                .or_default()
                .push(job);
        }
        for (provider_id, jobs) in by_provider {
            let s = sync_provider(ctx, &provider_id, jobs).await?;
            stats.requests += s.requests;
            stats.orders += s.orders;
        }
    }
}

/// Polls one provider's claimed orders, 100 per request, paced.
async fn sync_provider(
    ctx: &WorkerContext,
    provider_id: &str,
    jobs: Vec<StatusJob>,
) -> Result<SyncStats, StoreError> {
    let mut stats = SyncStats::default();
    let interval = ctx.sync_interval.as_millis() as i64;
    let next = ctx.clock.now_ms() + interval;
    let provider = match ctx.store.provider(provider_id).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(provider = provider_id, error = %e, "cannot read the provider");
            ctx.store.postpone_sync(&jobs, &ctx.node_id, next).await?;
            return Ok(stats);
        }
    };
    let client = match client_for(&provider, ctx) {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(provider = %provider.name, error = %e, "cannot build a client");
            ctx.store.postpone_sync(&jobs, &ctx.node_id, next).await?;
            return Ok(stats);
        }
    };
    let batches: Vec<Vec<StatusJob>> = jobs.chunks(STATUS_BATCH).map(<[_]>::to_vec).collect();
    let results: Vec<Result<(usize, usize), StoreError>> = stream::iter(batches)
        .map(|batch| {
            let (client, provider) = (&client, &provider);
            async move {
                souk_client::pacing::wait(&provider.id, provider.requests_per_second).await;
                sync_batch(ctx, client, &provider.id, &batch, interval).await
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    souk_app::upstream::record_oddities(&ctx.store, &provider.id, &client, ctx.clock.now_ms())
        .await;
    for r in results {
        let (requests, updated) = r?;
        stats.requests += requests;
        stats.orders += updated;
    }
    Ok(stats)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    pub requests: usize,
    pub orders: usize,
}

async fn sync_batch(
    ctx: &WorkerContext,
    client: &ApiV2Client,
    provider_id: &str,
    batch: &[StatusJob],
    interval: i64,
) -> Result<(usize, usize), StoreError> {
    let (store, node) = (&ctx.store, ctx.node_id.as_str());
    let ids: Vec<String> = batch.iter().map(|j| j.external_id.clone()).collect();
    let answers = client.statuses(&ids).await;
    let now = ctx.clock.now_ms();
    {
        use souk_app::upstream_stats::{record, Call, Outcome};
        let outcome = if answers.is_ok() {
            Outcome::Ok
        } else {
            Outcome::Failed
        };
        record(provider_id, Call::Sync, outcome);
    }
    let answers = match answers {
        Ok(a) => {
            store
                .provider_recovered(provider_id, ProviderCall::Status)
                .await?;
            a
        }
        Err(e) => {
            tracing::warn!(error = %e, "status request failed");
            store
                .provider_failed(provider_id, ProviderCall::Status, &e.to_string(), now)
                .await?;
            store.postpone_sync(batch, node, now + interval).await?;
            return Ok((1, 0));
        }
    };
    let mut updates = Vec::with_capacity(batch.len());
    // `Incorrect order ID`, a status we cannot read, or no entry: the upstream does not
    // know the order (for now). Counted, so it is not polled forever.
    let mut unknown = Vec::new();
    for job in batch {
        match answers
            .get(&job.external_id)
            .and_then(|a| a.as_ref().ok())
            .and_then(remote_update)
        {
            Some(update) => updates.push((job.clone(), update)),
            None => unknown.push(job.clone()),
        }
    }
    let failures = store
        .apply_remote_updates(&updates, node, now + interval, now)
        .await?;
    for f in &failures {
        if f.parked {
            tracing::error!(order = f.order_id, error = %f.error, "settling failed too often; parked for the operator");
        } else {
            tracing::warn!(order = f.order_id, error = %f.error, "settling failed; retried at the next poll");
        }
    }
    let updated = updates.len() - failures.len();
    let parked = store
        .record_sync_misses(&unknown, node, now + interval, now)
        .await?;
    if !parked.is_empty() {
        tracing::warn!(orders = ?parked, "the upstream does not know these orders; parked for the operator");
    }
    Ok((1, updated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        assert_eq!(backoff_ms(1), 5_000);
        assert_eq!(backoff_ms(2), 10_000);
        assert_eq!(backoff_ms(4), 40_000);
        assert_eq!(backoff_ms(30), 3_600_000);
    }
}
