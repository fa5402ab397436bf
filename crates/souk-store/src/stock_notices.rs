//! The stock levels sales changed, told to the other nodes after the sales commit
//! (PostgreSQL; SQLite has one node). A `NOTIFY` inside the sale's own transaction would
//! cost every sale PostgreSQL's notification lock: a notifying transaction holds it from
//! before its commit record until its commit is flushed, so notifying sales commit one
//! at a time, each waiting for its own WAL flush, where sales that do not notify share
//! their flushes. Measured with `pgbench` replaying a sale's statements (32 clients, a
//! fresh copy of the benchmark's database each run): without its `NOTIFY` the sale
//! committed 1.14-1.39 times as many orders per second, in four pairs of runs.
//!
//! So a sale leaves its change here, and one task sends what gathered, in one statement,
//! a few milliseconds later. Only the newest level of each variant is sent: under load a
//! hot variant is told about a few hundred times a second, not once per sale. A notice
//! lost to a crash, or to a failed send, is made good by the nodes' poll of every stock
//! level (`resync_stock`): notices only make the other nodes' listings fresher sooner;
//! no sale depends on them (each checks the stock in its own transaction).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::{oneshot, Notify};

use crate::versions::{Change, CHANNEL};

/// How long the task gathers notices after the first one before sending them.
const GATHER: Duration = Duration::from_millis(5);

/// Newest (version, stock) of each variant not yet told.
type Pending = HashMap<String, (i64, i64)>;

#[derive(Debug, Default)]
struct Queue {
    pending: Mutex<Pending>,
    wake: Notify,
}

/// The sending side, kept by every clone of the store; the task stops with the last.
#[derive(Clone, Debug)]
pub(crate) struct StockNotices {
    queue: Arc<Queue>,
    _running: Arc<Running>,
}

#[derive(Debug)]
struct Running {
    _stop: oneshot::Sender<()>,
}

impl StockNotices {
    /// Starts the task that sends notices over `pool`.
    pub(crate) fn start(pool: PgPool) -> StockNotices {
        let queue = Arc::new(Queue::default());
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task_queue = queue.clone();
        tokio::spawn(async move {
            loop {
                let stopping = tokio::select! {
                    _ = &mut stopped => true,
                    _ = task_queue.wake.notified() => false,
                };
                if !stopping {
                    tokio::time::sleep(GATHER).await;
                }
                let payloads = task_queue.take();
                if !payloads.is_empty() {
                    if let Err(e) = send(&pool, &payloads).await {
                        // The other nodes' stock poll catches up; say why they lag.
                        tracing::warn!(error = %e, count = payloads.len(), "stock notices not sent");
                    }
                }
                if stopping {
                    break;
                }
            }
        });
        StockNotices {
            queue,
            _running: Arc::new(Running { _stop: stop }),
        }
    }

    /// Queues the stock changes among `changes` (sent after a short gathering).
    pub(crate) fn tell(&self, changes: &[Change]) {
        let mut told = false;
        {
            let mut pending = self.queue.lock();
            for change in changes {
                if let Change::Stock {
                    subproduct,
                    version,
                    stock,
                } = change
                {
                    let newest = pending
                        .entry(subproduct.clone())
                        .or_insert((*version, *stock));
                    if *version >= newest.0 {
                        *newest = (*version, *stock);
                    }
                    told = true;
                }
            }
        }
        if told {
            self.queue.wake.notify_one();
        }
    }
}

impl Queue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Pending> {
        // A panic elsewhere cannot leave the map half-changed: take it as it is.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every pending notice's payload, leaving none.
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|(subproduct, (version, stock))| {
                Change::Stock {
                    subproduct,
                    version,
                    stock,
                }
                .payload()
            })
            .collect()
    }
}

/// All of `payloads` in one statement (one transaction, one notification lock).
async fn send(pool: &PgPool, payloads: &[String]) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
        .bind(CHANNEL)
        .bind(payloads)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stock(subproduct: &str, version: i64, stock: i64) -> Change {
        Change::Stock {
            subproduct: subproduct.into(),
            version,
            stock,
        }
    }

    /// Only the newest level of a variant is kept, whatever order the sales told it in.
    #[test]
    fn the_newest_level_of_each_variant_is_kept() {
        let queue = Queue::default();
        {
            let mut pending = queue.lock();
            pending.insert("a".into(), (3, 7));
        }
        let notices = StockNotices {
            queue: Arc::new(queue),
            _running: Arc::new(Running {
                _stop: oneshot::channel().0,
            }),
        };
        notices.tell(&[stock("a", 5, 5), stock("b", 2, 9), Change::Catalogue(4)]);
        notices.tell(&[stock("a", 4, 6)]);
        let mut payloads = notices.queue.take();
        payloads.sort();
        assert_eq!(payloads, vec!["stock:a:5:5", "stock:b:2:9"]);
        assert!(notices.queue.take().is_empty());
    }
}
