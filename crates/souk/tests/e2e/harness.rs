//! Test servers on real databases: a SQLite file in a temporary directory, or a fresh
//! PostgreSQL database per test when `SOUK_TEST_DATABASE_URL` is set. Servers listen on
//! loopback port 0 and are driven over real HTTP.
//!
//! - `TestDb`: the test's database; `engine_test!` runs a test body once per engine.
//! - `TestApp`: an in-process node. `TestApp::builder(db)` starts one with **no
//!   background work**; `.with_workers()` turns on the forwarder, the status sync, the
//!   SMS loops and the job queue as in production. `spawn`, `spawn_with`,
//!   `spawn_syncing_every` (workers on) and `spawn_stepped` (workers off) are shorthands.
//! - Stepping: without workers nothing happens unless the test asks, one pass at a time,
//!   by the test clock (`app.clock.advance(ms)`): `run_jobs` (the job queue),
//!   `run_forwarding` (send the orders due), `run_status_sync` (poll the open upstream
//!   orders due and settle drip-feed parents), `run_sms_sweep` (end expired
//!   activations), `run_sms_upstream` (upstream SMS rentals). To show that something
//!   does *not* happen, run the passes that could make it happen and assert; never sleep.
//! - `app.stop().await` stops the node and asserts that no job failed unnoticed (none
//!   parked, none with an error); a test that fails jobs on purpose says so first with
//!   `app.expect_failed_jobs()`. A `TestApp` dropped without `stop` is checked too, unless
//!   the test is already panicking.
//! - `wait_for` polls for a positive signal, for tests with background workers.
//!
//! ```ignore
//! engine_test!(a_stepped_test, |db| {
//!     let app = TestApp::builder(db).private_upstreams().spawn().await;
//!     // ... place an order over HTTP ...
//!     assert_eq!(app.run_forwarding().await, 1);
//!     app.clock.advance(60_000);
//!     app.run_status_sync().await;
//!     app.stop().await;
//! });
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use souk_api::{ApiConfig, AppState};
use souk_core::clock::ShiftedClock;
use souk_core::Money;
use souk_store::{NewUser, Store};
use tokio::sync::oneshot;

pub const DATA_KEY: [u8; 32] = [7u8; 32];
/// The operator API's token on test servers.
pub const ADMIN_TOKEN: &str = "test-admin-token";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Sqlite,
    Postgres,
}

/// A database that lives as long as the test.
pub struct TestDb {
    pub url: String,
    pub kind: Kind,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl TestDb {
    /// A copy of a SQLite file migrated once per test process.
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("souk.db");
        std::fs::copy(sqlite_template().await, &path).expect("copy the template database");
        let url = format!("sqlite://{}", path.display());
        TestDb {
            url,
            kind: Kind::Sqlite,
            _dir: Some(dir),
            pg_admin: None,
        }
    }

    /// A new database on the server `SOUK_TEST_DATABASE_URL` points at, cloned from a
    /// template migrated once per schema; `None` (and a note on stderr) when the
    /// variable is unset.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var("SOUK_TEST_DATABASE_URL") else {
            eprintln!("skipped: SOUK_TEST_DATABASE_URL is not set");
            return None;
        };
        let template = postgres_template(&admin).await;
        let name = format!("souk_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin)
            .await
            .expect("connect to SOUK_TEST_DATABASE_URL");
        // Cloning fails while anyone is connected to the template; nobody should be
        // (connections are off on it), but a moment's retry costs nothing.
        let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
        let mut tries = 0;
        while let Err(e) = sqlx::Executor::execute(&mut conn, create.as_str()).await {
            tries += 1;
            assert!(tries < 50, "create test database: {e}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(TestDb {
            url,
            kind: Kind::Postgres,
            _dir: None,
            pg_admin: Some((admin, name)),
        })
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &DATA_KEY, 16)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// Drops a PostgreSQL test database (SQLite files go with the temp dir).
    pub async fn cleanup(self) {
        if let Some((admin, name)) = &self.pg_admin {
            if let Ok(mut conn) = <sqlx::PgConnection as sqlx::Connection>::connect(admin).await {
                let _ = sqlx::Executor::execute(
                    &mut conn,
                    format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str(),
                )
                .await;
            }
        }
    }
}

/// The migrated SQLite file every test database copies, made once per process (its
/// directory lives as long as the process).
async fn sqlite_template() -> &'static std::path::Path {
    static TEMPLATE: tokio::sync::OnceCell<(tempfile::TempDir, std::path::PathBuf)> =
        tokio::sync::OnceCell::const_new();
    let (_, path) = TEMPLATE
        .get_or_init(|| async {
            let dir = tempfile::tempdir().expect("template dir");
            let path = dir.path().join("template.db");
            let store = Store::connect(&format!("sqlite://{}", path.display()), &DATA_KEY, 2)
                .await
                .expect("create the template database");
            store
                .migrate()
                .await
                .expect("migrate the template database");
            store.close().await;
            // One self-contained file, the log folded in: copies need nothing beside it.
            // `VACUUM INTO` writes it from a read transaction, so the pool's connections,
            // which may close a moment after `close` returns, cannot lock it out (switching
            // the file itself out of WAL could, and did: "database is locked").
            let folded = dir.path().join("folded.db");
            fold_log(&format!("sqlite://{}", path.display()), &folded)
                .await
                .expect("fold the log into the template");
            (dir, folded)
        })
        .await;
    path
}

/// Writes a SQLite database, its log included, to `out` as one file.
async fn fold_log(url: &str, out: &std::path::Path) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut conn = sqlx::SqliteConnection::connect(url).await?;
    let result = sqlx::query("VACUUM INTO $1")
        .bind(out.display().to_string())
        .execute(&mut conn)
        .await;
    conn.close().await?;
    result.map(|_| ())
}

/// The name of a PostgreSQL database migrated to this build's schema, made once per
/// schema on the server (under an advisory lock, so parallel test processes agree) and
/// closed to connections, so that `CREATE DATABASE ... TEMPLATE` can clone it at once.
async fn postgres_template(admin: &str) -> &'static str {
    static TEMPLATE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    TEMPLATE
        .get_or_init(|| async {
            use sqlx::Executor;
            let name = format!(
                "souk_tpl_{}",
                Store::schema_fingerprint(souk_store::Engine::Postgres)
            );
            let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(admin)
                .await
                .expect("connect to SOUK_TEST_DATABASE_URL");
            conn.execute("SELECT pg_advisory_lock(7212001)")
                .await
                .expect("template lock");
            let exists: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
                    .bind(&name)
                    .fetch_optional(&mut conn)
                    .await
                    .expect("look for the template");
            if exists.is_none() {
                // Built under another name and renamed once complete: a process that
                // dies half way leaves no broken template behind.
                let building = format!("{name}_building");
                conn.execute(format!("DROP DATABASE IF EXISTS {building} WITH (FORCE)").as_str())
                    .await
                    .expect("drop a half-built template");
                conn.execute(format!("CREATE DATABASE {building}").as_str())
                    .await
                    .expect("create the template");
                let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b);
                let store = Store::connect(&format!("{base}/{building}"), &DATA_KEY, 2)
                    .await
                    .expect("connect to the template");
                store.migrate().await.expect("migrate the template");
                store.close().await;
                // The pool's connections may take a moment to leave the server.
                let rename = format!("ALTER DATABASE {building} RENAME TO {name}");
                let mut tries = 0;
                while let Err(e) = conn.execute(rename.as_str()).await {
                    tries += 1;
                    assert!(tries < 50, "name the template: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                conn.execute(
                    format!("ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false")
                        .as_str(),
                )
                .await
                .expect("close the template to connections");
            }
            conn.execute("SELECT pg_advisory_unlock(7212001)")
                .await
                .expect("template unlock");
            name
        })
        .await
}

/// Runs the body once on SQLite and once on PostgreSQL (skipped without a server):
/// `engine_test!(name, |db| { ... })` with `db: &TestDb`.
#[macro_export]
macro_rules! engine_test {
    ($name:ident, |$db:ident| $body:block) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run($db: &$crate::harness::TestDb) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let db = $crate::harness::TestDb::sqlite().await;
                run(&db).await;
                db.cleanup().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(db) = $crate::harness::TestDb::postgres().await {
                    run(&db).await;
                    db.cleanup().await;
                }
            }
        }
    };
}

/// An in-process server over real HTTP.
pub struct TestApp {
    pub url: String,
    /// `/metrics` when it has its own listener (`metrics_listen`).
    pub metrics_url: Option<String>,
    pub state: AppState,
    pub store: Store,
    pub clock: ShiftedClock,
    pub http: reqwest::Client,
    /// The workers' context: what runs in the background, or what a test without
    /// background workers steps by hand (`run_jobs`, `run_forwarding`, ...).
    pub workers: souk_workers::WorkerContext,
    /// Where the failed-jobs check looks (the node's own pool is closed once it stops).
    db_url: String,
    db_kind: Kind,
    /// Set by `expect_failed_jobs`: the test parks or fails jobs on purpose.
    failed_jobs_expected: std::sync::atomic::AtomicBool,
    /// The failed-jobs check ran (in `stop`): `Drop` has nothing left to do.
    checked: bool,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn quiet_config() -> ApiConfig {
    ApiConfig {
        rate_limit_per_key: 0,
        rate_limit_per_address: 0,
        poll_interval: Duration::from_millis(100),
        admin_token: Some(ADMIN_TOKEN.to_owned()),
        allow_private_upstreams: false,
        ..ApiConfig::default()
    }
}

/// `quiet_config()` for tests whose upstreams live on loopback.
pub fn private_upstreams() -> ApiConfig {
    ApiConfig {
        allow_private_upstreams: true,
        ..quiet_config()
    }
}

/// How a `TestApp` is started: `TestApp::builder(db)`, then settings, then `spawn`.
/// Without `with_workers` the node does no background work at all: the test steps it.
#[must_use = "a builder does nothing until `spawn`"]
pub struct TestAppBuilder<'a> {
    db: &'a TestDb,
    config: ApiConfig,
    private_upstreams: bool,
    sync_interval: Duration,
    workers: bool,
}

impl TestAppBuilder<'_> {
    /// The node's whole configuration (default `quiet_config()`).
    pub fn config(mut self, config: ApiConfig) -> Self {
        self.config = config;
        self
    }

    /// Upstreams (providers, webhooks) may live on loopback, as the fakes do; applies
    /// whatever `config` is given.
    pub fn private_upstreams(mut self) -> Self {
        self.private_upstreams = true;
        self
    }

    /// How often open upstream orders are polled (default 200 ms). Also the base of the
    /// period of `provider.sync` jobs and of SMS upstream backoff: see `WorkerContext`.
    pub fn sync_interval(mut self, every: Duration) -> Self {
        self.sync_interval = every;
        self
    }

    /// Background workers on, as in production: forwarding, status sync, SMS upkeep
    /// and the job queue run on their own (off by default).
    pub fn with_workers(mut self) -> Self {
        self.workers = true;
        self
    }

    pub async fn spawn(self) -> TestApp {
        let mut config = self.config;
        config.allow_private_upstreams |= self.private_upstreams;
        TestApp::start(self.db, config, self.sync_interval, self.workers).await
    }
}

impl TestApp {
    /// A node to configure: no background work unless `with_workers` says so.
    pub fn builder(db: &TestDb) -> TestAppBuilder<'_> {
        TestAppBuilder {
            db,
            config: quiet_config(),
            private_upstreams: false,
            sync_interval: Duration::from_millis(200),
            workers: false,
        }
    }

    /// A node with background workers and `quiet_config()`.
    pub async fn spawn(db: &TestDb) -> TestApp {
        Self::spawn_with(db, quiet_config()).await
    }

    /// A node with background workers, polling upstream orders every 200 ms.
    pub async fn spawn_with(db: &TestDb, config: ApiConfig) -> TestApp {
        Self::spawn_syncing_every(db, config, Duration::from_millis(200)).await
    }

    /// `spawn_with`, polling open upstream orders every `sync_interval` (tests poll fast;
    /// benchmarks use the production default).
    pub async fn spawn_syncing_every(
        db: &TestDb,
        config: ApiConfig,
        sync_interval: Duration,
    ) -> TestApp {
        Self::builder(db)
            .config(config)
            .sync_interval(sync_interval)
            .with_workers()
            .spawn()
            .await
    }

    /// A node with no background work: the test runs the job queue itself
    /// (`run_jobs`) with the test clock, so nothing happens unless it asks.
    pub async fn spawn_stepped(db: &TestDb, config: ApiConfig) -> TestApp {
        Self::builder(db)
            .config(config)
            .sync_interval(Duration::from_secs(10))
            .spawn()
            .await
    }

    async fn start(
        db: &TestDb,
        config: ApiConfig,
        sync_interval: Duration,
        background: bool,
    ) -> TestApp {
        init_logs();
        let store = db.store().await;
        let clock = ShiftedClock::default();
        let allow_private = config.allow_private_upstreams;
        let mut node = souk::server::Node::start(
            store.clone(),
            "127.0.0.1:0",
            config,
            Arc::new(clock.clone()),
        )
        .await
        .expect("start node");
        let mut workers = souk::server::worker_context(store.clone(), Arc::new(clock.clone()))
            .await
            .expect("workers");
        workers.allow_private_upstreams = allow_private;
        workers.sync_interval = sync_interval;
        if background {
            node.workers = Some(workers.clone());
        }
        let url = node.url();
        let metrics_url = node.metrics_url();
        let state = node.state.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            node.run(async {
                let _ = stopped.await;
            })
            .await
            .expect("server ran");
        });
        TestApp {
            url,
            metrics_url,
            state,
            store,
            clock,
            http: reqwest::Client::new(),
            workers,
            db_url: db.url.clone(),
            db_kind: db.kind,
            failed_jobs_expected: std::sync::atomic::AtomicBool::new(false),
            checked: false,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Runs every job due now (by the test clock) once: one step of the queue.
    pub async fn run_jobs(&self) -> souk_workers::jobs::RunReport {
        souk_workers::jobs::run_due(&self.workers)
            .await
            .expect("run the due jobs")
    }

    /// One pass of the forwarder: every order due now (by the test clock) claimed and
    /// sent, its outcome recorded. Returns how many orders were claimed.
    pub async fn run_forwarding(&self) -> usize {
        souk_workers::forward::forward_once(&self.workers)
            .await
            .expect("forward the due orders")
    }

    /// One round of the status sync: open upstream orders due for a poll (by the test
    /// clock) polled and settled, then finished drip-feed orders settled. An order is
    /// due again `sync_interval` after its poll: advance the clock between rounds.
    pub async fn run_status_sync(&self) -> souk_workers::forward::SyncStats {
        souk_workers::forward::status_round(&self.workers)
            .await
            .expect("sync the statuses")
    }

    /// Rounds of the status sync, the test clock a minute on before each, until `check`
    /// holds; panics naming `what` if it still does not after `rounds` rounds.
    pub async fn sync_until<F, Fut>(&self, rounds: usize, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..rounds {
            if check().await {
                return;
            }
            self.clock.advance(60_000);
            self.run_status_sync().await;
        }
        assert!(
            check().await,
            "{what}: not after {rounds} status sync rounds"
        );
    }

    /// One SMS expiry sweep: activations past their lifetime (by the test clock) ended.
    /// Returns how many ended.
    pub async fn run_sms_sweep(&self) -> usize {
        souk_workers::sms::sweep_once(&self.workers)
            .await
            .expect("sweep the SMS activations")
    }

    /// One round of upstream SMS work (polls, retries, completions, cancels that are
    /// due). Returns how many rentals were claimed.
    pub async fn run_sms_upstream(&self) -> usize {
        souk_workers::sms::upstream_once(&self.workers)
            .await
            .expect("run the upstream SMS work")
    }

    /// This test parks or fails jobs on purpose: `stop` (and `Drop`) do not hold it
    /// against it.
    pub fn expect_failed_jobs(&self) {
        self.failed_jobs_expected
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn api(&self) -> String {
        format!("{}/api/v2", self.url)
    }

    /// POSTs a form to `/api/v2` and returns the JSON body (asserting HTTP 200).
    pub async fn call(&self, params: &[(&str, &str)]) -> Value {
        let response = self
            .http
            .post(self.api())
            .form(params)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "HTTP status for {params:?}");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        assert_eq!(content_type, "application/json; charset=utf-8");
        response.json().await.expect("JSON body")
    }

    /// Creates a buyer with `balance` and returns their key.
    pub async fn buyer(&self, email: &str, balance: &str) -> String {
        self.store
            .create_user(
                &NewUser {
                    email: email.into(),
                    name: String::new(),
                    password_hash: None,
                    is_supplier: false,
                    initial_balance: Money::parse(balance).expect("amount"),
                },
                self.state.now(),
            )
            .await
            .expect("create buyer")
            .1
    }

    /// Stops the node (its workers finish or give back what they hold) and then checks
    /// that no job failed unnoticed: none parked and none with an error, unless the test
    /// called `expect_failed_jobs`.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.checked = true;
        if !self.failed_jobs_expected() {
            let failed = failed_jobs(&self.db_url, self.db_kind)
                .await
                .expect("look for failed jobs");
            assert!(failed.is_empty(), "{}", failed_jobs_message(&failed));
        }
    }

    fn failed_jobs_expected(&self) -> bool {
        self.failed_jobs_expected
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// A test that forgot `stop` still gets the failed-jobs check, on a thread of its own
/// (the database is reached with a fresh connection there), unless it is already failing.
impl Drop for TestApp {
    fn drop(&mut self) {
        if self.checked || self.failed_jobs_expected() || std::thread::panicking() {
            return;
        }
        let (url, kind) = (self.db_url.clone(), self.db_kind);
        let failed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(failed_jobs(&url, kind)).ok()
        })
        .join()
        .ok()
        .flatten();
        if let Some(failed) = failed {
            assert!(failed.is_empty(), "{}", failed_jobs_message(&failed));
        }
    }
}

/// Jobs that failed: parked, or waiting for another try after an error
/// (id, kind, state, last error).
type FailedJob = (i64, String, String, Option<String>);

async fn failed_jobs(url: &str, kind: Kind) -> Result<Vec<FailedJob>, sqlx::Error> {
    use sqlx::Connection;
    let sql = "SELECT id, kind, state, last_error FROM jobs \
               WHERE state = 'parked' OR last_error IS NOT NULL ORDER BY id";
    match kind {
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(url).await?;
            sqlx::query_as(sql).fetch_all(&mut c).await
        }
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(url).await?;
            sqlx::query_as(sql).fetch_all(&mut c).await
        }
    }
}

fn failed_jobs_message(failed: &[FailedJob]) -> String {
    format!(
        "jobs failed unnoticed (call `app.expect_failed_jobs()` if the test means it): {failed:#?}"
    )
}

/// Asserts that `value` has exactly the keys `keys`, in any order.
pub fn assert_keys(value: &Value, keys: &[&str]) {
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"));
    let mut got: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut want = keys.to_vec();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "keys of {value}");
}

impl TestDb {
    /// Runs raw SQL: tests use it to set up states no API reaches yet (a pending
    /// payment, a provider's external id, ...). Placeholders are `$1`-style on both engines.
    pub async fn exec(&self, sql: &str) {
        use sqlx::Connection;
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::Executor::execute(&mut c, sql).await.expect("exec");
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::Executor::execute(&mut c, sql).await.expect("exec");
            }
        }
    }

    /// One integer from a query.
    pub async fn scalar(&self, sql: &str) -> i64 {
        use sqlx::Connection;
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut c)
                    .await
                    .expect("scalar")
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar(sql)
                    .fetch_one(&mut c)
                    .await
                    .expect("scalar")
            }
        }
    }

    /// The audit of SPEC 13; panics naming every violation.
    pub async fn assert_audit_clean(&self) {
        let store = self.store().await;
        let report = store.audit().await.expect("audit");
        assert!(
            report.violations.is_empty(),
            "audit violations: {:#?}",
            report.violations
        );
        store.close().await;
    }
}

impl TestDb {
    /// Delivers `text` to an order as a sealed stock line and counts it delivered, as a
    /// supplier or an upstream would.
    pub async fn deliver_line(&self, order_id: i64, text: &str) {
        use sqlx::Connection;
        let sealed = souk_store::Crypto::new(&DATA_KEY).seal(text);
        let fingerprint = souk_store::Crypto::new(&DATA_KEY).fingerprint(text);
        let insert = "INSERT INTO stock_lines (service_number, subproduct_id, content, fingerprint, source, order_id, created_at, delivered_at) \
                      SELECT service_number, subproduct_id, $1, $2, 'delivery', id, 0, 0 FROM orders WHERE id = $3";
        let count = "UPDATE orders SET delivered = delivered + 1, remains = quantity - delivered - 1, status = 'processing' WHERE id = $1";
        match self.kind {
            Kind::Sqlite => {
                let mut c = sqlx::SqliteConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query(insert)
                    .bind(&sealed)
                    .bind(&fingerprint)
                    .bind(order_id)
                    .execute(&mut c)
                    .await
                    .expect("insert");
                sqlx::query(count)
                    .bind(order_id)
                    .execute(&mut c)
                    .await
                    .expect("update");
            }
            Kind::Postgres => {
                let mut c = sqlx::PgConnection::connect(&self.url)
                    .await
                    .expect("connect");
                sqlx::query(insert)
                    .bind(&sealed)
                    .bind(&fingerprint)
                    .bind(order_id)
                    .execute(&mut c)
                    .await
                    .expect("insert");
                sqlx::query(count)
                    .bind(order_id)
                    .execute(&mut c)
                    .await
                    .expect("update");
            }
        }
    }
}

/// A `souk serve` child process on the test database.
pub struct ServerProcess {
    pub url: String,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl ServerProcess {
    pub async fn spawn(db: &TestDb) -> ServerProcess {
        Self::spawn_with_env(db, &[]).await
    }

    /// `spawn` with more `SOUK_*` settings (e.g. `SOUK_WORKERS=0`).
    pub async fn spawn_with_env(db: &TestDb, env: &[(&str, &str)]) -> ServerProcess {
        use std::io::BufRead;
        let dir = tempfile::tempdir().expect("dir");
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_souk"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("SOUK_DATABASE_URL", &db.url)
            .env("SOUK_DATA_KEY", hex::encode(DATA_KEY))
            .env("SOUK_RATE_LIMIT_PER_KEY", "0")
            .env("SOUK_RATE_LIMIT_PER_ADDRESS", "0")
            .env("SOUK_POLL_INTERVAL", "100ms")
            .env("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1")
            .env("SOUK_SYNC_INTERVAL", "1s")
            .env("SOUK_LOG", "warn")
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("spawn souk serve");
        let stdout = child.stdout.take().expect("stdout");
        let first = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            std::io::BufReader::new(stdout)
                .read_line(&mut line)
                .expect("read");
            line
        })
        .await
        .expect("join");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"))
            .to_owned();
        ServerProcess {
            url,
            child,
            _dir: dir,
        }
    }

    pub fn api(&self) -> String {
        format!("{}/api/v2", self.url)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no chance to finish anything.
    pub fn kill_hard(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// A test that fails leaves no server behind: a leaked node keeps its database
/// connections, and on PostgreSQL every later test then meets "too many clients".
impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl TestApp {
    /// Calls the operator API with the test token; returns (HTTP status, JSON body).
    pub async fn operator(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}/api/operator/v1{path}", self.url))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.expect("operator request");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// Polls `check` every 20 ms until it holds, for at most `secs` seconds.
pub async fn wait_for<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Logs of the servers under test, when `SOUK_TEST_LOG` holds a filter (e.g. `warn`).
pub fn init_logs() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(filter) = std::env::var("SOUK_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .with_ansi(false)
                .try_init();
        }
    });
}
