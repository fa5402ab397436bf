//! Group commit of orders on PostgreSQL. A node's placements go to a few writers
//! ("lanes"); each takes the orders queued for it, runs them in one transaction and
//! commits once. Nobody is answered before the commit returns. A batch is first tried
//! without savepoints, which holds when every order in it is placed or refused for want
//! of stock (such a refusal writes nothing); otherwise it is rolled back and run again
//! with each order in a savepoint of its own, as on SQLite (`crate::batch`), so that a
//! refusal or a fault rolls back alone. An order alone is its own transaction, without
//! a savepoint: four round trips, as before batching.
//!
//! Why lanes, and in what order: a batch holds the row locks of every order in it until
//! its commit (the variant whose stock it took, the buyer it debited). Two batches taking
//! the same rows in different orders would deadlock. Within a node that cannot happen:
//! a buyer's orders always go to the same lane (by a hash of the buyer), so two lanes
//! never share a buyer's row, and each batch takes its variants in one order (sorted by
//! variant), so two lanes wait for each other's variants only one way. Between nodes it
//! can (the same buyer's orders on two nodes at once): PostgreSQL then detects the
//! deadlock after `deadlock_timeout` and fails one statement. That order's savepoint is
//! rolled back, the orders before it commit (which lets the other batch go on), and it
//! and the orders after it make the lane's next batch. A deadlock costs its batch a
//! wait, never a wrong answer.
//!
//! Only placements batch here: cancels, rentals and deliveries are rarer, take their
//! rows in other orders, and keep a transaction each.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock};

use souk_core::ApiError;
use sqlx::{PgPool, Postgres};
use tokio::sync::mpsc;

use crate::batch::{
    batch_failed, own_transaction, Answers, Counts, Done, Job, SavepointSteps, Write, WriteSteps,
};
use crate::db::{BeginWrite, Tx, WriteGate};
use crate::{Result, StoreError};

/// Writers per node: enough to keep a batch filling while others commit, few enough to
/// leave the pool's connections to the reads.
const LANES: usize = 4;

/// At most this many orders share a commit. Each savepoint that writes takes a
/// subtransaction id; past 64 in one transaction PostgreSQL's per-backend cache of them
/// overflows, and every snapshot taken meanwhile, on any connection, looks them up on
/// disk.
const MAX_BATCH: usize = 32;

/// Orders queued per lane (beyond these, callers wait to queue).
const QUEUE: usize = 256;

/// The handle to a node's lanes, started at the first order.
#[derive(Clone, Debug, Default)]
pub(crate) struct PgBatcher {
    lanes: Arc<OnceLock<Vec<mpsc::Sender<Job>>>>,
    counts: Arc<Counts>,
}

impl PgBatcher {
    /// Batches committed and the orders in them, since the start.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.counts.read()
    }

    /// Queues a placement on its buyer's lane and waits for its answer, given after its
    /// batch committed. The order runs to its end even if the caller stops waiting.
    pub(crate) async fn run(&self, pool: &PgPool, gate: &WriteGate, write: Write) -> Result<Done> {
        let lanes = self.lanes.get_or_init(|| {
            (0..LANES)
                .map(|_| {
                    let (sender, receiver) = mpsc::channel(QUEUE);
                    tokio::spawn(lane(
                        pool.clone(),
                        gate.clone(),
                        receiver,
                        self.counts.clone(),
                    ));
                    sender
                })
                .collect()
        });
        let Some(buyer) = write.buyer() else {
            return Err(StoreError::Internal(
                "only placements join PostgreSQL's group commit".into(),
            ));
        };
        let mut hasher = DefaultHasher::new();
        buyer.hash(&mut hasher);
        let lane = &lanes[(hasher.finish() % LANES as u64) as usize];
        let (reply, answer) = tokio::sync::oneshot::channel();
        lane.send(Job { write, reply })
            .await
            .map_err(|_| StoreError::Internal("the order writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the order writer dropped an order".into()))?
    }
}

/// A lane: the orders queued when it is free make its next batch.
async fn lane(pool: PgPool, gate: WriteGate, mut jobs: mpsc::Receiver<Job>, counts: Arc<Counts>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = jobs.recv().await {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Every lane takes variants in this one order (see the module's comment).
        batch.sort_by(|a, b| a.write.variant().cmp(&b.write.variant()));
        let mut left = std::mem::take(&mut batch);
        while !left.is_empty() {
            left = run_batch(&pool, &gate, left, &counts).await;
        }
    }
}

/// Whether `e` is PostgreSQL failing a statement to break a deadlock or a serialization
/// conflict: the statement did nothing, and running it again can succeed.
fn lost_to_lock(e: &StoreError) -> bool {
    match e {
        StoreError::Database(sqlx::Error::Database(e)) => {
            matches!(e.code().as_deref(), Some("40P01" | "40001"))
        }
        _ => false,
    }
}

/// Runs `jobs` in one transaction and answers them, up to the first that loses a
/// deadlock to another node's batch: that one (rolled back to its savepoint) and those
/// after it are given back unanswered, to run once the writes before them committed and
/// let the other batch go on. The first of a batch that loses one runs alone instead.
async fn run_batch(
    pool: &PgPool,
    gate: &WriteGate,
    mut jobs: Vec<Job>,
    counts: &Counts,
) -> Vec<Job> {
    if jobs.len() == 1 {
        if let Some(job) = jobs.pop() {
            alone(pool, gate, job, counts).await;
        }
        return Vec::new();
    }
    match without_savepoints(pool, gate, &jobs).await {
        Ok(Some((tx, outcomes))) => {
            let mut done = Answers::new();
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                done.push(job.reply, outcome);
            }
            match tx.commit().await {
                Ok(()) => done.committed(counts),
                Err(e) => done.commit_failed(&e),
            }
            return Vec::new();
        }
        Ok(None) => {}
        Err(e) => {
            fail_all(jobs, &e);
            return Vec::new();
        }
    }
    let mut tx = match pool.begin_write(gate).await {
        Ok(tx) => tx,
        Err(e) => {
            fail_all(jobs, &e);
            return Vec::new();
        }
    };
    let mut jobs = jobs.into_iter();
    let mut done = Answers::new();
    let mut left = Vec::new();
    let mut first = true;
    while let Some(job) = jobs.next() {
        match tx.in_savepoint(&job.write, first).await {
            Ok(Err(e)) if lost_to_lock(&e) => {
                left.push(job);
                left.extend(jobs);
                break;
            }
            Ok(outcome) => done.push(job.reply, outcome),
            Err(e) => {
                let _ = tx.rollback().await;
                fail_all(jobs, &e);
                done.savepoint_failed(job.reply, &e);
                return Vec::new();
            }
        }
        first = false;
    }
    // What is given back was rolled back to its savepoint or never ran: it runs again
    // whether this commit holds or fails.
    let ran_none = done.is_empty();
    match tx.commit().await {
        Ok(()) => done.committed(counts),
        Err(e) => done.commit_failed(&e),
    }
    if ran_none && !left.is_empty() {
        let job = left.remove(0);
        alone(pool, gate, job, counts).await;
    }
    left
}

/// A batch's first try: every order in one transaction without savepoints (a savepoint
/// costs PostgreSQL about a sixth of a sale: `bench/pgbench-sale`'s `batch8.sql` against
/// `batch8-nosp.sql`). It holds only if every order is placed, or refused for want of
/// stock before it wrote anything ([`stands`]); then the transaction is given back, to
/// commit, with the outcomes in order. Anything else (a short balance, an error, a lost
/// deadlock) rolls it all back, and `None` sends the batch to run again, each order in
/// a savepoint. The outer error is beginning the transaction.
async fn without_savepoints(
    pool: &PgPool,
    gate: &WriteGate,
    jobs: &[Job],
) -> std::result::Result<Option<(Tx<Postgres>, Vec<Result<Done>>)>, sqlx::Error> {
    let mut tx = pool.begin_write(gate).await?;
    let mut outcomes = Vec::with_capacity(jobs.len());
    for job in jobs {
        let outcome = tx.run_write(&job.write).await;
        if !stands(&job.write, &outcome) {
            if let Err(e) = tx.rollback().await {
                tracing::warn!(error = %e, "rolling back a batch of orders to run it again failed");
            }
            return Ok(None);
        }
        outcomes.push(outcome);
    }
    Ok(Some((tx, outcomes)))
}

/// Whether `outcome` leaves nothing to undo in `write`'s transaction: an order placed, or
/// a product order without an idempotency key (nothing claimed) that found no variant
/// with the stock. `crate::sale` takes the stock in the statement that pays for it, so a
/// variant without the stock wrote nothing; a short balance, after the stock was taken,
/// did.
fn stands(write: &Write, outcome: &Result<Done>) -> bool {
    match outcome {
        Ok(done) => done.keeps(),
        Err(StoreError::Rejected(ApiError::NotEnoughStock)) => write.unclaimed_product(),
        Err(_) => false,
    }
}

/// Times an order alone is tried when it keeps losing deadlocks.
const ALONE_TRIES: usize = 3;

/// Runs an order in a transaction of its own, without a savepoint, and answers it
/// (counted as a batch of one unless its commit failed); in a new transaction when it
/// loses a deadlock, up to [`ALONE_TRIES`] times.
async fn alone(pool: &PgPool, gate: &WriteGate, job: Job, counts: &Counts) {
    let mut tries = 0;
    let outcome = loop {
        tries += 1;
        match own_transaction!(pool, gate, &job.write).await {
            Err(e) if lost_to_lock(&e) && tries < ALONE_TRIES => continue,
            outcome => break outcome,
        }
    };
    if !matches!(&outcome, Err(StoreError::Database(_))) {
        counts.add(1);
    }
    let _ = job.reply.send(outcome);
}

/// Answers every one of `jobs` that the batch failed with `e`.
fn fail_all(jobs: impl IntoIterator<Item = Job>, e: &dyn std::fmt::Display) {
    for job in jobs {
        let _ = job.reply.send(Err(batch_failed(e)));
    }
}
