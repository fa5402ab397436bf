//! webhooks: not written yet.

use crate::notify::{Channels, QueueStep};

/// Sends the queue `key` names, oldest first.
pub async fn send_queue(_channels: &Channels, _key: &str, _now: i64) -> Result<QueueStep, String> {
    Ok(QueueStep::Done)
}
