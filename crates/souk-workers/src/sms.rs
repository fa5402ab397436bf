//! SMS activations: expiry refunds and upstream polling.

use tokio::task::JoinHandle;

use crate::WorkerContext;

pub fn spawn(_ctx: &WorkerContext) -> Vec<JoinHandle<()>> {
    Vec::new()
}
