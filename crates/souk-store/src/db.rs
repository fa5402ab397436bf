//! The two engines behind one handle. Queries are written once and compiled for each
//! engine by `on_engine!`, so both run the same SQL through their native drivers.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard, OwnedMutexGuard};

use crate::StoreError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    /// The engine a database URL names: `sqlite:...`, `postgres:...` or `postgresql:...`.
    pub fn of_url(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }
}

/// SQLite's `synchronous` under WAL. `Full` syncs the log on every commit, so an
/// acknowledged sale survives an OS crash or power loss; `Normal` syncs only at
/// checkpoints: faster commits, but the last transactions before a power loss can roll
/// back (a line sold and delivered could be sold again).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SqliteSync {
    #[default]
    Full,
    Normal,
}

impl SqliteSync {
    pub fn parse(text: &str) -> Option<SqliteSync> {
        match text.trim().to_ascii_lowercase().as_str() {
            "full" => Some(SqliteSync::Full),
            "normal" => Some(SqliteSync::Normal),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the engine's native pool; the body is compiled once
/// per engine.
macro_rules! on_engine {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Sqlite($pool) => $body,
            $crate::db::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_engine;

/// Declares a trait of transaction steps and implements it, body written once, for both
/// engines' native connections: a step runs on a `Tx` (which derefs to its connection) as
/// well as on a savepoint inside one. Each step is an ordinary async method whose errors
/// the caller propagates with `?`; the macro only copies the bodies. Concrete impls (not
/// one generic fn over `Executor`) keep the callers' futures `Send`.
macro_rules! tx_steps {
    (
        $(#[$trait_meta:meta])*
        $vis:vis trait $name:ident {
            $(
                $(#[$meta:meta])*
                async fn $fn:ident(&mut $self:ident $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty $body:block
            )*
        }
    ) => {
        $(#[$trait_meta])*
        $vis trait $name {
            $( $(#[$meta])* async fn $fn(&mut $self $(, $arg: $ty)*) -> $ret; )*
        }
        impl $name for sqlx::SqliteConnection {
            $( async fn $fn(&mut $self $(, $arg: $ty)*) -> $ret $body )*
        }
        impl $name for sqlx::PgConnection {
            $( async fn $fn(&mut $self $(, $arg: $ty)*) -> $ret $body )*
        }
    };
}
pub(crate) use tx_steps;

/// The engine a native connection belongs to, for the few steps that differ by engine.
pub(crate) trait EngineOf {
    const ENGINE: Engine;
}

impl EngineOf for sqlx::SqliteConnection {
    const ENGINE: Engine = Engine::Sqlite;
}

impl EngineOf for sqlx::PgConnection {
    const ENGINE: Engine = Engine::Postgres;
}

impl Db {
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Opens `sqlite://path` (created if missing; WAL, `sync`, busy timeout, foreign keys)
    /// or `postgres://...`. A SQLite pool does not checkpoint its log itself: whoever
    /// keeps it open runs `crate::checkpoint` beside it.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        sync: SqliteSync,
    ) -> Result<Db, StoreError> {
        let engine = Engine::of_url(url);
        if engine == Some(Engine::Sqlite) {
            let options = sqlite_options(url, sync)?.pragma("wal_autocheckpoint", "0");
            // No ping before handing out a connection: an open file does not go stale the
            // way a socket does, and each ping is a round trip to the connection's thread,
            // as costly as the one-row read most requests make.
            let pool = SqlitePoolOptions::new()
                .max_connections(max_connections.max(2))
                .min_connections(1)
                .test_before_acquire(false)
                .connect_with(options)
                .await?;
            Ok(Db::Sqlite(pool))
        } else if engine == Some(Engine::Postgres) {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| StoreError::Config(format!("bad PostgreSQL URL: {e}")))?
                .application_name("souk");
            let pool = PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(Duration::from_secs(30))
                .connect_with(options)
                .await?;
            Ok(Db::Postgres(pool))
        } else {
            Err(StoreError::Config(format!(
                "unsupported database URL (use sqlite:// or postgres://): {}",
                redact_url(url)
            )))
        }
    }

    pub async fn close(&self) {
        on_engine!(self, pool => pool.close().await)
    }
}

/// `$first, $first+1, ...`: `count` numbered placeholders for an `IN (...)` list, read
/// alike by both engines (and by rusqlite, which numbers `$N` in order of appearance).
pub(crate) fn placeholders(first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Ids read from the database itself as a SQL list, inlined. A statement with such a list
/// is sent `persistent(false)`: it is hardly ever made twice, and cached it would push the
/// pool connection's reused statements out of its cache. Ids from a request are bound
/// instead ([`placeholders`]).
pub(crate) fn id_list(ids: impl IntoIterator<Item = i64>) -> String {
    ids.into_iter()
        .map(|id| id.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// How every connection to the SQLite file at `url` is opened.
pub(crate) fn sqlite_options(
    url: &str,
    sync: SqliteSync,
) -> Result<SqliteConnectOptions, StoreError> {
    Ok(SqliteConnectOptions::from_str(url)
        .map_err(|e| StoreError::Config(format!("bad SQLite URL: {e}")))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(match sync {
            SqliteSync::Full => SqliteSynchronous::Full,
            SqliteSync::Normal => SqliteSynchronous::Normal,
        })
        .busy_timeout(Duration::from_secs(30))
        .foreign_keys(true)
        .pragma("temp_store", "memory")
        .pragma("cache_size", "-16000")
        .page_size(SQLITE_PAGE_SIZE))
}

/// The page size of a SQLite database this node creates (SQLite's default is 4096). A
/// sale changes a handful of index entries no other sale in its batch shares (the buyer's
/// orders and ledger, the variant's unsold lines, the line itself), and every changed page
/// goes whole into the log at commit: `bench/writes.sh` counted 6.4 pages a sale. Halving
/// the page halves those bytes, their checksums and their copy; `add` spread at 32 clients
/// rose from 0.215-0.235 of `balance` to 0.30-0.32, the full catalogue's load at 100,000
/// services took 9 % longer (bench/README.md). An existing database keeps its size (SQLite
/// cannot change it in WAL mode); `VACUUM INTO`, which `souk backup` uses, writes the copy
/// with this one, so a backup restored is converted.
pub const SQLITE_PAGE_SIZE: u32 = 2048;

/// Hides a password in a database URL for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A transaction that holds the process's write gate (SQLite) until it has ended. Every
/// way out ends it before the gate opens: `commit`, `rollback`, or, when it is dropped on
/// an early return (`?`, a refusal such as "Not enough stock"), a rollback run at once in
/// a task that keeps the gate until the rollback is done. (A transaction merely dropped
/// rolls back a moment later, when its connection goes back to the pool; by then the
/// gate was open, and the next writer met a locked database, or on PostgreSQL waited on
/// row locks nobody held any more.)
pub(crate) struct Tx<DB: sqlx::Database> {
    tx: Option<Transaction<'static, DB>>,
    gate: Option<OwnedMutexGuard<()>>,
    /// When a write transaction began (its gate passed): commits are timed for
    /// `/metrics` (`crate::txstats`). `None` for reads.
    begun: Option<std::time::Instant>,
}

impl<DB: sqlx::Database> Tx<DB> {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        match self.tx.take() {
            Some(tx) => {
                let result = tx.commit().await;
                if let (Ok(()), Some(begun)) = (&result, self.begun) {
                    crate::txstats::record(begun.elapsed());
                }
                result
            }
            None => Ok(()),
        }
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        match self.tx.take() {
            Some(tx) => tx.rollback().await,
            None => Ok(()),
        }
    }
}

impl<DB: sqlx::Database> std::ops::Deref for Tx<DB> {
    type Target = DB::Connection;
    fn deref(&self) -> &DB::Connection {
        match &self.tx {
            Some(tx) => tx,
            // `tx` is taken only by `commit` and `rollback`, which consume the `Tx`.
            None => unreachable!("a Tx is used only until it ends"),
        }
    }
}

impl<DB: sqlx::Database> std::ops::DerefMut for Tx<DB> {
    fn deref_mut(&mut self) -> &mut DB::Connection {
        match &mut self.tx {
            Some(tx) => tx,
            None => unreachable!("a Tx is used only until it ends"),
        }
    }
}

impl<DB: sqlx::Database> Drop for Tx<DB> {
    fn drop(&mut self) {
        let Some(tx) = self.tx.take() else { return };
        let gate = self.gate.take();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = tx.rollback().await {
                    tracing::warn!(error = %e, "rolling back an abandoned transaction failed");
                }
                drop(gate);
            });
        }
        // Without a runtime (only at process exit) sqlx's own rollback-on-drop runs.
    }
}

/// Transactions. Writes take the write gate, and on SQLite the write lock up front
/// (`BEGIN IMMEDIATE`), so a transaction that reads before it writes cannot fail to
/// upgrade; writers in this process queue on the gate instead of spinning on the busy
/// handler. PostgreSQL uses row locks.
pub(crate) trait BeginWrite {
    type Database: sqlx::Database;
    async fn begin_write(&self, gate: &WriteGate) -> Result<Tx<Self::Database>, sqlx::Error>;
    /// A transaction that only reads (no gate).
    async fn begin_read(&self) -> Result<Tx<Self::Database>, sqlx::Error>;
}

impl BeginWrite for SqlitePool {
    type Database = Sqlite;
    async fn begin_write(&self, gate: &WriteGate) -> Result<Tx<Sqlite>, sqlx::Error> {
        let gate = gate.enter_owned().await;
        let begun = Some(std::time::Instant::now());
        let tx = self.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Tx {
            tx: Some(tx),
            gate,
            begun,
        })
    }

    async fn begin_read(&self) -> Result<Tx<Sqlite>, sqlx::Error> {
        Ok(Tx {
            tx: Some(self.begin().await?),
            gate: None,
            begun: None,
        })
    }
}

impl BeginWrite for PgPool {
    type Database = Postgres;
    async fn begin_write(&self, gate: &WriteGate) -> Result<Tx<Postgres>, sqlx::Error> {
        let gate = gate.enter_owned().await;
        let begun = Some(std::time::Instant::now());
        let tx = self.begin().await?;
        Ok(Tx {
            tx: Some(tx),
            gate,
            begun,
        })
    }

    async fn begin_read(&self) -> Result<Tx<Postgres>, sqlx::Error> {
        Ok(Tx {
            tx: Some(self.begin().await?),
            gate: None,
            begun: None,
        })
    }
}

/// One writer at a time per process on SQLite; a no-op on PostgreSQL.
#[derive(Clone, Debug, Default)]
pub(crate) struct WriteGate(Option<Arc<Mutex<()>>>);

impl WriteGate {
    pub fn for_engine(engine: Engine) -> Self {
        match engine {
            Engine::Sqlite => WriteGate(Some(Arc::new(Mutex::new(())))),
            Engine::Postgres => WriteGate(None),
        }
    }

    pub async fn enter(&self) -> Option<MutexGuard<'_, ()>> {
        match &self.0 {
            Some(m) => Some(m.lock().await),
            None => None,
        }
    }

    /// `enter`, from a thread outside any runtime (the order writer's).
    pub fn enter_blocking(&self) -> Option<MutexGuard<'_, ()>> {
        self.0.as_ref().map(|m| m.blocking_lock())
    }

    /// `enter`, for a guard that outlives the borrow (a `Tx`).
    pub async fn enter_owned(&self) -> Option<OwnedMutexGuard<()>> {
        match &self.0 {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{redact_url, Db, SqliteSync};

    /// FULL unless the operator opts out: `PRAGMA synchronous` reads 2 for FULL, 1 for NORMAL.
    /// A new database has `SQLITE_PAGE_SIZE` pages.
    #[tokio::test]
    async fn sqlite_commits_are_durable_by_default() {
        let dir = std::env::temp_dir().join(format!(
            "souk-sync-{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let url = format!("sqlite://{}", dir.join("s.db").display());
        for (sync, want) in [(SqliteSync::Full, 2), (SqliteSync::Normal, 1)] {
            let Db::Sqlite(pool) = Db::connect(&url, 2, sync).await.expect("connect") else {
                panic!("not SQLite")
            };
            let got: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&pool)
                .await
                .expect("pragma");
            assert_eq!(got, want, "{sync:?}");
            let page: i64 = sqlx::query_scalar("PRAGMA page_size")
                .fetch_one(&pool)
                .await
                .expect("pragma");
            assert_eq!(
                page,
                i64::from(super::SQLITE_PAGE_SIZE),
                "a new database's pages"
            );
            pool.close().await;
        }
        assert_eq!(SqliteSync::default(), SqliteSync::Full);
        assert_eq!(SqliteSync::parse(" NORMAL "), Some(SqliteSync::Normal));
        assert_eq!(SqliteSync::parse("off"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A write transaction dropped on an early return is rolled back before the gate
    /// lets the next writer in: with no busy timeout at all, the next `BEGIN IMMEDIATE`
    /// never finds the database locked.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_write_is_rolled_back_before_the_next_writer() {
        use super::{BeginWrite, Engine, WriteGate};
        use sqlx::sqlite::SqliteConnectOptions;
        use std::str::FromStr;
        let dir = tempfile_dir("souk-gate");
        let url = format!("sqlite://{}", dir.join("g.db").display());
        let options = SqliteConnectOptions::from_str(&url)
            .expect("url")
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::ZERO);
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE t (n INTEGER)")
            .execute(&pool)
            .await
            .expect("table");
        let gate = WriteGate::for_engine(Engine::Sqlite);
        for n in 0..300 {
            let mut tx = pool.begin_write(&gate).await.expect("begin");
            sqlx::query("INSERT INTO t VALUES ($1)")
                .bind(-1)
                .execute(&mut *tx)
                .await
                .expect("insert");
            drop(tx); // as `?` does
            let mut tx = pool
                .begin_write(&gate)
                .await
                .unwrap_or_else(|e| panic!("round {n}: the next writer met {e}"));
            sqlx::query("INSERT INTO t VALUES ($1)")
                .bind(n)
                .execute(&mut *tx)
                .await
                .expect("insert");
            tx.commit().await.expect("commit");
        }
        let (rows, dropped): (i64, i64) =
            sqlx::query_as("SELECT COUNT(*), COUNT(*) FILTER (WHERE n < 0) FROM t")
                .fetch_one(&pool)
                .await
                .expect("count");
        assert_eq!((rows, dropped), (300, 0));
        pool.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn tempfile_dir(prefix: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "{prefix}-{}",
            hex::encode(rand::random::<[u8; 6]>())
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        dir
    }

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://souk:secret@db:5432/souk"),
            "postgres://souk:***@db:5432/souk"
        );
        assert_eq!(redact_url("postgres://db/souk"), "postgres://db/souk");
        assert_eq!(redact_url("sqlite://souk.db"), "sqlite://souk.db");
    }
}
