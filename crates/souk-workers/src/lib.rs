//! Background work inside `souk serve` (or `souk worker`). Every job is safe to run on
//! several nodes at once: work is claimed with conditional updates or leases in the
//! database, never by in-process state alone.
#![forbid(unsafe_code)]

pub mod forward;
pub mod import;
pub mod sms;

use std::sync::Arc;
use std::time::Duration;

use souk_core::clock::Clock;
use souk_store::Store;
use tokio::task::JoinHandle;

/// What every worker needs.
#[derive(Clone, Debug)]
pub struct WorkerContext {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    /// Identifies this node in leases.
    pub node_id: String,
    /// Let providers and webhooks live on private or loopback addresses.
    pub allow_private_upstreams: bool,
    /// How often open upstream orders are polled.
    pub sync_interval: Duration,
}

/// Starts every worker; they stop when the handles are aborted.
pub fn spawn_all(ctx: &WorkerContext) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    handles.extend(forward::spawn(ctx));
    handles.extend(sms::spawn(ctx));
    handles
}
