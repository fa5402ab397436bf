//! How this process's calls to each provider ended, for `/metrics`
//! (`souk_upstream_calls_total{provider,call,outcome}`): counters of the node, as
//! Prometheus expects of an instance, kept for the process's life.

use std::collections::BTreeMap;
use std::sync::{LazyLock, Mutex};

/// Which call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Call {
    /// An order sent (`add`).
    Send,
    /// A status poll (`status` with `orders=`).
    Sync,
}

/// How it ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    /// Answered as asked.
    Ok,
    /// Answered with a refusal (an API error, a key conflict).
    Refused,
    /// Not answered, and surely not processed.
    Failed,
    /// Not answered, and it may have been processed.
    Unknown,
}

impl Call {
    pub fn label(self) -> &'static str {
        match self {
            Call::Send => "send",
            Call::Sync => "sync",
        }
    }
}

impl Outcome {
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Failed => "failed",
            Outcome::Unknown => "unknown",
        }
    }
}

type Counts = BTreeMap<(String, Call, Outcome), u64>;

static COUNTS: LazyLock<Mutex<Counts>> = LazyLock::new(Mutex::default);

/// Counts one call to `provider` (its id).
pub fn record(provider: &str, call: Call, outcome: Outcome) {
    if let Ok(mut counts) = COUNTS.lock() {
        *counts
            .entry((provider.to_owned(), call, outcome))
            .or_default() += 1;
    }
}

/// Every count so far: (provider id, call, outcome, count), ordered.
pub fn snapshot() -> Vec<(String, Call, Outcome, u64)> {
    COUNTS
        .lock()
        .map(|counts| {
            counts
                .iter()
                .map(|((p, c, o), n)| (p.clone(), *c, *o, *n))
                .collect()
        })
        .unwrap_or_default()
}
