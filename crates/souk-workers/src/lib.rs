//! Background work inside `souk serve` (or `souk worker`). Every job is safe to run on
//! several nodes at once: work is claimed with conditional updates or leases in the
//! database, never by in-process state alone.
#![forbid(unsafe_code)]

pub mod forward;
pub mod jobs;
pub mod sms;

use std::sync::Arc;
use std::time::Duration;

use souk_core::clock::Clock;
use souk_store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What every worker needs.
#[derive(Clone, Debug)]
pub struct WorkerContext {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Identifies this node in leases.
    pub node_id: String,
    /// This installation's id: every Idempotency-Key sent upstream is
    /// `souk-{installation_id}-{order}`, the same for every send of an order.
    pub installation_id: String,
    /// Let providers and webhooks live on private or loopback addresses.
    pub allow_private_upstreams: bool,
    /// How often open upstream orders are polled.
    pub sync_interval: Duration,
}

impl WorkerContext {
    /// How this node delivers events (webhooks, Telegram, e-mail) through `souk_app`.
    pub fn channels(&self) -> souk_app::notify::Channels {
        souk_app::notify::Channels {
            store: self.store.clone(),
            allow_private: self.allow_private_upstreams,
        }
    }

    /// How this node does upstream work (refills, SMS rentals) through `souk_app`.
    pub fn upstream(&self) -> souk_app::upstream::Upstream {
        souk_app::upstream::Upstream {
            store: self.store.clone(),
            node: self.node_id.clone(),
            allow_private: self.allow_private_upstreams,
        }
    }
}

/// How long a stopping node waits for sends already in flight. Past it they are cut off
/// and, like a crashed node's, settled by lease expiry.
pub const STOP_GRACE: Duration = Duration::from_secs(30);

/// Set once the node is stopping: loops that must not be cut mid-step watch it.
#[derive(Clone, Debug)]
pub struct StopSignal(watch::Receiver<bool>);

impl StopSignal {
    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the node is stopping.
    pub async fn wait(&self) {
        let mut rx = self.0.clone();
        if rx.wait_for(|stop| *stop).await.is_err() {
            // The handle went away without a stop: its drop aborts us anyway.
            std::future::pending::<()>().await;
        }
    }
}

/// The running workers of a node.
pub struct Workers {
    ctx: WorkerContext,
    stop: watch::Sender<bool>,
    /// Stopped gracefully: claims no more, finishes the sends in flight.
    forward: Option<JoinHandle<()>>,
    /// The job queue: stopped gracefully like the forwarder.
    jobs: Option<JoinHandle<()>>,
    /// Stopped at once: each step is a transaction or an idempotent poll.
    others: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops every worker: the forwarder claims nothing more and lets its sends in
    /// flight finish (at most `grace`); then every job this node holds goes back to the
    /// queue at once: a send it claimed but never started is sent by another node, and
    /// one cut off mid-call is taken as a send with an unknown outcome.
    pub async fn stop(mut self, grace: Duration) {
        let _ = self.stop.send(true);
        for h in self.others.drain(..) {
            h.abort();
        }
        if let Some(mut jobs) = self.jobs.take() {
            if tokio::time::timeout(grace, &mut jobs).await.is_err() {
                tracing::warn!("jobs still running after the grace period; cut off");
                jobs.abort();
                let _ = jobs.await;
            }
        }
        if let Some(mut forward) = self.forward.take() {
            if tokio::time::timeout(grace, &mut forward).await.is_err() {
                tracing::warn!("sends still in flight after the grace period; cut off");
                forward.abort();
                let _ = forward.await;
            }
        }
        if let Err(e) = self
            .ctx
            .store
            .release_jobs(&self.ctx.node_id, self.ctx.clock.now_ms())
            .await
        {
            tracing::warn!(error = %e, "giving jobs back failed");
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for h in self
            .others
            .drain(..)
            .chain(self.forward.take())
            .chain(self.jobs.take())
        {
            h.abort();
        }
    }
}

/// Starts every worker; `Workers::stop` ends them (dropping the handle aborts them).
pub fn spawn_all(ctx: &WorkerContext) -> Workers {
    let (stop, stopped) = watch::channel(false);
    let stopped = StopSignal(stopped);
    let mut others = sms::spawn(ctx);
    others.push(tokio::spawn(forward::status_loop(
        ctx.clone(),
        stopped.clone(),
    )));
    // Deliveries are at least once (a receiver dedupes by `webhook-id`): cut off at a
    // stop, the job comes due again when its claim runs out.
    others.push(tokio::spawn(jobs::deliver_loop(
        ctx.clone(),
        stopped.clone(),
    )));
    Workers {
        ctx: ctx.clone(),
        stop,
        jobs: Some(tokio::spawn(jobs::job_loop(ctx.clone(), stopped.clone()))),
        forward: Some(tokio::spawn(forward::forward_loop(ctx.clone(), stopped))),
        others,
    }
}
