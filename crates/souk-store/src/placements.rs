//! The order writer's own SQLite connection. Orders placed on a node are group-committed
//! (`crate::batch`); through sqlx, each statement of a sale is a message to the
//! connection's thread and one or more back, each a wake-up of the other side, and
//! `perf` put most of a batch's time in those switches (the statements themselves were a
//! few percent). Here the writer thread owns a connection of its own and calls SQLite in
//! place, running the same sale code (`crate::sale`) through [`SaleConn`].
//!
//! The writer takes the process's write gate for each batch like every other writer,
//! holds SQLite's write lock from `BEGIN IMMEDIATE` to `COMMIT`, and answers nobody
//! before the commit returns: an acknowledged order is as durable as `synchronous`
//! makes any commit.

use std::future::Future;
use std::path::PathBuf;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use rusqlite::{Connection, OpenFlags};
use souk_core::supply::EarningsSettings;
use tokio::sync::mpsc;

use crate::batch::{Answers, Counts, Done, Job, Write};
use crate::db::{Engine, SqliteSync, WriteGate};
use crate::sale::{self, SaleConn, SaleRow};
use crate::script::{Arg, Script};
use crate::{Result, StoreError};

/// The writer's connection.
pub(crate) struct WriterConn(Connection);

impl WriterConn {
    /// Opens the database at `path` as the node's other connections are opened (the
    /// log is checkpointed by the node, not on commit).
    pub(crate) fn open(path: &std::path::Path, sync: SqliteSync) -> Result<WriterConn> {
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(30))?;
        let synchronous = match sync {
            SqliteSync::Full => "FULL",
            SqliteSync::Normal => "NORMAL",
        };
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON; \
             PRAGMA wal_autocheckpoint = 0; PRAGMA temp_store = MEMORY; PRAGMA cache_size = -16000;"
        ))?;
        conn.set_prepared_statement_cache_capacity(64);
        Ok(WriterConn(conn))
    }

    /// Runs one statement without arguments (kept prepared: they recur every write).
    fn run(&self, sql: &str) -> Result<()> {
        self.0.prepare_cached(sql)?.execute([])?;
        Ok(())
    }
}

/// Binds `args` to `statement` by the number of each `$n` it names, as sqlx does (SQLite
/// numbers named parameters in the order they first appear).
fn bind(statement: &mut rusqlite::CachedStatement<'_>, args: &[Arg]) -> Result<()> {
    for index in 1..=statement.parameter_count() {
        let n = statement
            .parameter_name(index)
            .and_then(|name| name.strip_prefix('$'))
            .and_then(|digits| digits.parse::<usize>().ok())
            .ok_or_else(|| {
                StoreError::Internal("a sale's statement names a parameter not as $n".into())
            })?;
        let arg = n.checked_sub(1).and_then(|i| args.get(i)).ok_or_else(|| {
            StoreError::Internal(format!("a sale's statement has no argument ${n}"))
        })?;
        match arg {
            Arg::Int(v) => statement.raw_bind_parameter(index, v)?,
            Arg::OptInt(v) => statement.raw_bind_parameter(index, v)?,
            Arg::Text(v) => statement.raw_bind_parameter(index, v)?,
            Arg::OptText(v) => statement.raw_bind_parameter(index, v)?,
        }
    }
    Ok(())
}

impl SaleConn for WriterConn {
    const ENGINE: Engine = Engine::Sqlite;

    async fn first<T: SaleRow>(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Option<T>> {
        let mut statement = self.0.prepare_cached(sql)?;
        bind(&mut statement, &args)?;
        let mut rows = statement.raw_query();
        // A write with `RETURNING` has made all its changes by its first row.
        Ok(match rows.next()? {
            Some(row) => Some(T::from_rusqlite(row)?),
            None => None,
        })
    }

    async fn all<T: SaleRow>(&mut self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<T>> {
        let mut statement = self.0.prepare_cached(sql)?;
        bind(&mut statement, &args)?;
        let mut rows = statement.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(T::from_rusqlite(row)?);
        }
        Ok(out)
    }

    async fn script(&mut self, script: Script) -> Result<u64> {
        // Calls in place cost nothing to make one by one.
        let (parts, counted) = script.into_parts();
        let mut rows_of_last = 0;
        for part in parts {
            let mut statement = self.0.prepare_cached(part.sql)?;
            bind(&mut statement, &part.args)?;
            let mut rows = statement.raw_query();
            rows_of_last = 0;
            while rows.next()?.is_some() {
                rows_of_last += 1;
            }
        }
        Ok(if counted { rows_of_last } else { 0 })
    }
}

/// Runs a sale on the writer's connection. Its futures never wait (every call is made
/// in place), so one poll runs it to its end.
fn in_place<F: Future>(work: F) -> Result<F::Output> {
    let mut work = pin!(work);
    match work.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(StoreError::Internal(
            "a sale on the writer's connection waited".into(),
        )),
    }
}

/// Starts the writer on a thread of its own, over a connection to the database at
/// `path`; the writes it is sent are placements (`Write::Product`, `Write::Smm`).
pub(crate) fn start(
    path: PathBuf,
    sync: SqliteSync,
    gate: WriteGate,
    counts: std::sync::Arc<Counts>,
    jobs: mpsc::Receiver<Job>,
) -> Result<()> {
    let conn = WriterConn::open(&path, sync)?;
    std::thread::Builder::new()
        .name("souk-order-writer".into())
        .spawn(move || writer(conn, gate, jobs, &counts))
        .map_err(|e| {
            StoreError::Internal(format!("the order writer's thread could not start: {e}"))
        })?;
    Ok(())
}

fn writer(mut conn: WriterConn, gate: WriteGate, mut jobs: mpsc::Receiver<Job>, counts: &Counts) {
    while let Some(first) = jobs.blocking_recv() {
        let _gate = gate.enter_blocking();
        let begun = std::time::Instant::now();
        if run_batch(&mut conn, first, &mut jobs, counts) {
            crate::txstats::record(begun.elapsed());
        }
    }
}

/// Runs one batch, counted in `counts` when it commits; answers whether it did.
fn run_batch(
    conn: &mut WriterConn,
    first: Job,
    jobs: &mut mpsc::Receiver<Job>,
    counts: &Counts,
) -> bool {
    if let Err(e) = conn.run("BEGIN IMMEDIATE") {
        let _ = first.reply.send(Err(e));
        return false;
    }
    // Read once for the whole batch: it holds the write lock, so no setting can change
    // under it.
    let earnings = match in_place(sale::earnings_settings(conn)).and_then(|read| read) {
        Ok(earnings) => earnings,
        Err(e) => {
            let _ = conn.run("ROLLBACK");
            let _ = first.reply.send(Err(e));
            return false;
        }
    };
    let mut done = Answers::new();
    let mut next = Some(first);
    while let Some(job) = next.take() {
        match in_savepoint(conn, &job.write, &earnings, done.is_empty()) {
            Ok(outcome) => next = done.ran(job.reply, outcome, jobs),
            Err(e) => {
                let _ = conn.run("ROLLBACK");
                done.savepoint_failed(job.reply, &e);
                return false;
            }
        }
    }
    match conn.run("COMMIT") {
        Ok(()) => {
            done.committed(counts);
            true
        }
        Err(e) => {
            let _ = conn.run("ROLLBACK");
            done.commit_failed(&e);
            false
        }
    }
}

/// Runs one placement in the savepoint `write` (`crate::batch::SavepointSteps`, in place).
fn in_savepoint(
    conn: &mut WriterConn,
    write: &Write,
    earnings: &EarningsSettings,
    first: bool,
) -> Result<Result<Done>> {
    // A rolled-back savepoint stays open (empty): releasing it is a no-op.
    if !first {
        conn.run("RELEASE write")?;
    }
    conn.run("SAVEPOINT write")?;
    let outcome = in_place(sale::place(conn, write, Some(earnings)))
        .and_then(|placed| placed)
        .map(Done::Placed);
    if !matches!(outcome, Ok(ref done) if done.keeps()) {
        conn.run("ROLLBACK TO write")?;
    }
    Ok(outcome)
}
