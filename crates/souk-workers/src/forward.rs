//! Forwarding orders to upstream providers (outbox) and syncing their status.

use tokio::task::JoinHandle;

use crate::WorkerContext;

pub fn spawn(_ctx: &WorkerContext) -> Vec<JoinHandle<()>> {
    Vec::new()
}
