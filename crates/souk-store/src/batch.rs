//! Group commit of orders on SQLite (PostgreSQL's, for placements: `crate::pg_batch`,
//! which shares the savepoint step and the answers kept here). Writers per node take the orders placed and
//! canceled, the SMS numbers rented and the suppliers' deliveries concurrently, run them
//! one after another in one write transaction, each in a savepoint of its own, and commit
//! once: a refusal ("Not enough stock", "Insufficient balance") or a fault rolls back its
//! own savepoint and leaves the others in the batch alone. Nobody is answered before the
//! commit returns, so an acknowledged order is as durable as the configured `synchronous`
//! makes any commit; if the commit fails, every order of the batch is answered with that
//! failure (none of them was placed).
//!
//! Placements, the bulk of the traffic, have a writer with a SQLite connection of its own
//! that it calls in place (`crate::placements`); cancels, rentals and deliveries are
//! written through sqlx's connection by the writer here.
//!
//! A batch has no waiting time of its own: the writer starts as soon as one write is
//! queued, and the writes that arrive while it runs join it (up to [`MAX_BATCH`]) before
//! it commits. One write alone commits at once.
//!
//! Each writer takes the process's write gate for each batch, like every other write, so
//! the writes that do not go through them keep their meaning unchanged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use souk_core::order::{ProductOrder, SmmOrder};
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use crate::db::{on_engine, tx_steps, BeginWrite, Db, SqliteSync, WriteGate};
use crate::idempotency::Idempotency;
use crate::orders::{Buyer, CancelOutcome, CancelSteps, Placed};
use crate::placements;
use crate::sms::{OwnedSmsRent, RentOutcome, SmsSteps};
use crate::supplier::{DeliverySteps, OrderProgress};
use crate::{Result, Store, StoreError};

/// At most this many orders share a commit.
pub(crate) const MAX_BATCH: usize = 64;

/// Orders queued for the writer (beyond these, callers wait to queue).
const QUEUE: usize = 1024;

/// [`Buyer`] owned, to cross into the writer task.
#[derive(Debug)]
pub(crate) struct OwnedBuyer {
    user_id: String,
    email: String,
}

impl OwnedBuyer {
    pub(crate) fn of(buyer: &Buyer<'_>) -> OwnedBuyer {
        OwnedBuyer {
            user_id: buyer.user_id.to_owned(),
            email: buyer.email.to_owned(),
        }
    }

    pub(crate) fn borrow(&self) -> Buyer<'_> {
        Buyer {
            user_id: &self.user_id,
            email: &self.email,
        }
    }
}

/// [`Idempotency`] owned.
#[derive(Debug)]
pub(crate) struct OwnedIdempotency {
    key: String,
    fingerprint: String,
}

impl OwnedIdempotency {
    pub(crate) fn of(idem: &Idempotency<'_>) -> OwnedIdempotency {
        OwnedIdempotency {
            key: idem.key.to_owned(),
            fingerprint: idem.fingerprint.to_owned(),
        }
    }

    pub(crate) fn borrow(&self) -> Idempotency<'_> {
        Idempotency {
            key: &self.key,
            fingerprint: &self.fingerprint,
        }
    }
}

/// One write the batch writer runs.
#[derive(Debug)]
pub(crate) enum Write {
    Product {
        buyer: OwnedBuyer,
        order: ProductOrder,
        idem: Option<OwnedIdempotency>,
        now: i64,
    },
    Smm {
        buyer: OwnedBuyer,
        order: SmmOrder,
        idem: Option<OwnedIdempotency>,
        now: i64,
    },
    /// A buyer's `cancel` (never `allowcancel`, which writes nothing).
    Cancel {
        user_id: String,
        order_id: i64,
        now: i64,
    },
    /// SMS numbers rented for one buyer, all or nothing.
    SmsRent { rent: OwnedSmsRent, now: i64 },
    /// A supplier's accounts for a manual order, sealed before they came here.
    Deliver {
        owner: String,
        order_id: i64,
        sealed: Vec<(Vec<u8>, String)>,
        now: i64,
    },
}

impl Write {
    /// The buyer of a placement.
    pub(crate) fn buyer(&self) -> Option<&str> {
        match self {
            Write::Product { buyer, .. } | Write::Smm { buyer, .. } => Some(&buyer.user_id),
            _ => None,
        }
    }

    /// A product order without an idempotency key: nothing is written for it before its
    /// stock is taken.
    pub(crate) fn unclaimed_product(&self) -> bool {
        matches!(self, Write::Product { idem: None, .. })
    }

    /// The variant a product order tries first, whose row it locks (`crate::pg_batch`
    /// takes them in this order).
    pub(crate) fn variant(&self) -> Option<&str> {
        match self {
            Write::Product { order, .. } => order.candidates.first().map(String::as_str),
            _ => None,
        }
    }
}

/// What a write came to.
#[derive(Debug)]
pub(crate) enum Done {
    Placed(Placed),
    Canceled(CancelOutcome),
    Rented(RentOutcome),
    Delivered(OrderProgress),
}

impl Done {
    /// Whether what the write did stays: a rental short of numbers answers without
    /// keeping any of its writes.
    pub(crate) fn keeps(&self) -> bool {
        !matches!(self, Done::Rented(RentOutcome::Short { .. }))
    }
    /// The placed order of a `Product` or `Smm` write.
    pub(crate) fn placed(self) -> Result<Placed> {
        match self {
            Done::Placed(placed) => Ok(placed),
            _ => Err(mismatch()),
        }
    }

    /// The outcome of a `Cancel` write.
    pub(crate) fn canceled(self) -> Result<CancelOutcome> {
        match self {
            Done::Canceled(outcome) => Ok(outcome),
            _ => Err(mismatch()),
        }
    }

    /// The outcome of an `SmsRent` write.
    pub(crate) fn rented(self) -> Result<RentOutcome> {
        match self {
            Done::Rented(outcome) => Ok(outcome),
            _ => Err(mismatch()),
        }
    }

    /// The order's progress after a `Deliver` write.
    pub(crate) fn delivered(self) -> Result<OrderProgress> {
        match self {
            Done::Delivered(progress) => Ok(progress),
            _ => Err(mismatch()),
        }
    }
}

fn mismatch() -> StoreError {
    StoreError::Internal("the order writer answered another kind of write".into())
}

pub(crate) struct Job {
    pub(crate) write: Write,
    pub(crate) reply: oneshot::Sender<Result<Done>>,
}

/// The handle to a node's batch writers, each started at its first write: placements
/// go to the writer with a connection of its own (`crate::placements`), the other writes
/// to the one on sqlx's.
#[derive(Clone, Debug)]
pub(crate) struct Batcher {
    sync: SqliteSync,
    queue: Arc<OnceLock<mpsc::Sender<Job>>>,
    /// `None` when the placement writer could not start: placements then join the
    /// other writes.
    placements: Arc<OnceLock<Option<mpsc::Sender<Job>>>>,
    counts: Arc<Counts>,
}

/// Commits and the writes they carried, since the start.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    commits: AtomicU64,
    writes: AtomicU64,
}

impl Counts {
    /// A commit that carried `writes`.
    pub(crate) fn add(&self, writes: u64) {
        self.commits.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes, Ordering::Relaxed);
    }

    /// Commits and the writes they carried.
    pub(crate) fn read(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }
}

/// Started writers: where to queue.
pub(crate) struct Queue<'a> {
    others: &'a mpsc::Sender<Job>,
    placements: Option<&'a mpsc::Sender<Job>>,
}

impl Batcher {
    pub(crate) fn new(sync: SqliteSync) -> Batcher {
        Batcher {
            sync,
            queue: Arc::default(),
            placements: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// The writers' queues, starting each writer on first use.
    pub(crate) fn queue(&self, pool: &SqlitePool, gate: &WriteGate) -> Queue<'_> {
        let others = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            let work = writer(pool.clone(), gate.clone(), receiver, self.counts.clone());
            start_writer(work);
            sender
        });
        let placements = self.placements.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            let path = pool.connect_options().get_filename().to_owned();
            match placements::start(path, self.sync, gate.clone(), self.counts.clone(), receiver) {
                Ok(()) => Some(sender),
                Err(e) => {
                    tracing::error!(error = %e, "the placement writer could not start: orders join the other writes");
                    None
                }
            }
        });
        Queue {
            others,
            placements: placements.as_ref(),
        }
    }

    /// Batches committed and the writes in them, since the start.
    pub(crate) fn counts(&self) -> (u64, u64) {
        self.counts.read()
    }
}

impl Queue<'_> {
    /// Queues `write` and waits for its answer, given after its batch committed. The
    /// write runs to its end even if the caller stops waiting.
    pub(crate) async fn run(&self, write: Write) -> Result<Done> {
        let (reply, answer) = oneshot::channel();
        let queue = match (&write, self.placements) {
            (Write::Product { .. } | Write::Smm { .. }, Some(placements)) => placements,
            _ => self.others,
        };
        queue
            .send(Job { write, reply })
            .await
            .map_err(|_| StoreError::Internal("the order writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Internal("the order writer dropped an order".into()))?
    }
}

/// Runs the writer on a thread of its own, with a runtime of its own. A batch is ten or
/// so statements per write, each a hop to SQLite's connection thread and back; woken
/// from that thread, a task of the node's shared runtime waits in its global queue
/// behind the requests being served (perf: most of the writer's time went to task
/// switches and wake-ups). Alone on its thread, the writer is polled the moment its
/// statement is answered. Without a thread or a runtime, it runs on the node's runtime.
fn start_writer(work: impl std::future::Future<Output = ()> + Send + 'static) {
    // Timers only (sqlx times its pool's waits): with no I/O driver the thread parks on
    // a futex, which SQLite's connection thread wakes more cheaply than an eventfd.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::warn!(error = %e, "no runtime for the order writer: it shares the node's");
            tokio::spawn(work);
            return;
        }
    };
    let started = std::thread::Builder::new()
        .name("souk-order-writer".into())
        .spawn(move || runtime.block_on(work));
    if let Err(e) = started {
        // The writer and its queue are gone with the closure: every write is answered
        // "the order writer has stopped" rather than waiting for ever.
        tracing::error!(error = %e, "the order writer's thread could not start");
    }
}

/// The writer: one batch at a time, until every handle is gone.
async fn writer(
    pool: SqlitePool,
    gate: WriteGate,
    mut jobs: mpsc::Receiver<Job>,
    counts: Arc<Counts>,
) {
    while let Some(first) = jobs.recv().await {
        run_batch(&pool, &gate, first, &mut jobs, &counts).await;
    }
}

/// What went wrong with a batch as a whole, for every order in it.
pub(crate) fn batch_failed(e: &dyn std::fmt::Display) -> StoreError {
    StoreError::Internal(format!("a batch of orders failed: {e}"))
}

/// The writes a batch ran so far, each with whoever waits for it: nobody is answered
/// before the batch's end is known. Both writers' batches keep them so.
pub(crate) struct Answers(Vec<(oneshot::Sender<Result<Done>>, Result<Done>)>);

impl Answers {
    pub(crate) fn new() -> Answers {
        Answers(Vec::new())
    }

    /// No write ran yet (the next one opens the batch's first savepoint).
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A write ran to `outcome`.
    pub(crate) fn push(&mut self, reply: oneshot::Sender<Result<Done>>, outcome: Result<Done>) {
        self.0.push((reply, outcome));
    }

    /// A write ran to `outcome`; answers the next job queued while the batch has room.
    pub(crate) fn ran(
        &mut self,
        reply: oneshot::Sender<Result<Done>>,
        outcome: Result<Done>,
        jobs: &mut mpsc::Receiver<Job>,
    ) -> Option<Job> {
        self.push(reply, outcome);
        if self.0.len() < MAX_BATCH {
            jobs.try_recv().ok()
        } else {
            None
        }
    }

    /// A savepoint could not be opened, released or rolled back while `reply`'s write
    /// ran: the transaction is in no known state, the caller rolls it back, and every
    /// write of the batch is answered with `e`.
    pub(crate) fn savepoint_failed(
        self,
        reply: oneshot::Sender<Result<Done>>,
        e: &dyn std::fmt::Display,
    ) {
        tracing::error!(error = %e, "a savepoint of a batch of orders failed");
        let _ = reply.send(Err(batch_failed(e)));
        for (reply, _) in self.0 {
            let _ = reply.send(Err(batch_failed(e)));
        }
    }

    /// The batch committed: counted in `counts` (before anyone is answered, so that an
    /// answered write is always counted), then every write is answered its outcome.
    pub(crate) fn committed(self, counts: &Counts) {
        counts.add(self.0.len() as u64);
        for (reply, outcome) in self.0 {
            let _ = reply.send(outcome);
        }
    }

    /// The commit failed with `e`: a refusal changed nothing and stays what it was; a
    /// write that was done is not, and is answered with the failure.
    pub(crate) fn commit_failed(self, e: &dyn std::fmt::Display) {
        tracing::error!(error = %e, "committing a batch of orders failed");
        for (reply, outcome) in self.0 {
            let outcome = match outcome {
                Ok(_) => Err(batch_failed(e)),
                refused => refused,
            };
            let _ = reply.send(outcome);
        }
    }
}

/// Runs one batch, counted in `counts` when it commits.
async fn run_batch(
    pool: &SqlitePool,
    gate: &WriteGate,
    first: Job,
    jobs: &mut mpsc::Receiver<Job>,
    counts: &Counts,
) {
    let mut tx = match pool.begin_write(gate).await {
        Ok(tx) => tx,
        Err(e) => {
            let _ = first.reply.send(Err(e.into()));
            return;
        }
    };
    let mut done = Answers::new();
    let mut next = Some(first);
    while let Some(job) = next.take() {
        match tx.in_savepoint(&job.write, done.is_empty()).await {
            Ok(outcome) => next = done.ran(job.reply, outcome, jobs),
            Err(e) => {
                let _ = tx.rollback().await;
                done.savepoint_failed(job.reply, &e);
                return;
            }
        }
    }
    match tx.commit().await {
        Ok(()) => done.committed(counts),
        Err(e) => {
            done.commit_failed(&e);
        }
    }
}

tx_steps! {
    /// A write in a batch: in the savepoint `write`, rolled back when the write is
    /// refused, fails or keeps nothing (`Done::keeps`); else kept, and released as the
    /// next write opens its own (one message for both, on either engine) or by the
    /// batch's commit. The outer error is the savepoint's own failure. Placements come
    /// here on SQLite only when the placements' writer could not start, and read the
    /// earnings settings each (the writer reads them once a batch).
    pub(crate) trait SavepointSteps {
        async fn in_savepoint(
            &mut self,
            write: &Write,
            first: bool,
        ) -> std::result::Result<Result<Done>, sqlx::Error> {
            use sqlx::Executor;
            // A rolled-back savepoint stays open (empty): releasing it is a no-op.
            let open = if first {
                "SAVEPOINT write"
            } else {
                "RELEASE write; SAVEPOINT write"
            };
            // Without arguments: PostgreSQL's simple protocol, which takes both at once.
            self.execute(open).await?;
            let outcome = self.run_write(write).await;
            match outcome {
                Ok(done) if done.keeps() => Ok(Ok(done)),
                outcome => {
                    self.execute("ROLLBACK TO write").await?;
                    Ok(outcome)
                }
            }
        }
    }
}

tx_steps! {
    /// What a write does, wherever it runs: in a savepoint of a batch, or in a
    /// transaction of its own (an order alone, PostgreSQL's other writes, or the group
    /// commit switched off).
    pub(crate) trait WriteSteps {
        /// Runs `write`. Orders read the earnings settings in the write's transaction
        /// (the placements' writer reads them once a batch instead).
        async fn run_write(&mut self, write: &Write) -> Result<Done> {
            match write {
                Write::Product { .. } | Write::Smm { .. } => {
                    crate::sale::place(self, write, None).await.map(Done::Placed)
                }
                Write::Cancel { user_id, order_id, now } => self
                    .early_cancel_in(user_id, *order_id, false, *now)
                    .await
                    .map(Done::Canceled),
                Write::SmsRent { rent, now } => self
                    .rent_sms_in(&rent.borrow(), *now)
                    .await
                    .map(Done::Rented),
                Write::Deliver { owner, order_id, sealed, now } => self
                    .deliver_in(owner, *order_id, sealed, *now)
                    .await
                    .map(Done::Delivered),
            }
        }
    }
}

/// Runs a [`Write`] in a write transaction of its own on `$pool` (either engine's), as
/// an async block answering `Result<Done>`: committed when the write keeps what it did,
/// else rolled back at once. Written once for [`Store::write`] and PostgreSQL's order
/// alone (`crate::pg_batch`); a macro, as `crate::db::on_engine` is, because a generic
/// function over the engines' connections would not keep the callers' futures `Send`.
macro_rules! own_transaction {
    ($pool:expr, $gate:expr, $write:expr) => {
        async {
            let mut tx = $pool.begin_write($gate).await?;
            let outcome: $crate::Result<$crate::batch::Done> = match tx.run_write($write).await {
                Ok(done) if done.keeps() => {
                    tx.commit().await?;
                    Ok(done)
                }
                outcome => {
                    // Rolled back here and now: a transaction merely dropped rolls back
                    // when its connection is next used, and until then keeps its row
                    // locks (which a rental's SKIP LOCKED would pass over). The answer
                    // stands if this fails: the connection is closed then, ending it.
                    if let Err(e) = tx.rollback().await {
                        tracing::warn!(error = %e, "rolling back a refused write failed");
                    }
                    outcome
                }
            };
            outcome
        }
    };
}
pub(crate) use own_transaction;

impl Store {
    /// Runs `write`: in the node's group commit (SQLite's for every kind of write,
    /// PostgreSQL's for placements), else in a write transaction of its own.
    pub(crate) async fn write(&self, write: Write) -> Result<Done> {
        if let Some(batch) = self.batch() {
            return batch.run(write).await;
        }
        if let (Db::Postgres(pool), Some(batch), Some(_)) =
            (&self.db, &self.pg_batch, write.buyer())
        {
            return batch.run(pool, &self.gate, write).await;
        }
        on_engine!(&self.db, pool => own_transaction!(pool, &self.gate, &write).await)
    }
}
