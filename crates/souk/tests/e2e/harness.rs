//! Test servers on real databases: a SQLite file in a temporary directory, or, when
//! `SOUK_TEST_DATABASE_URL` is set, a PostgreSQL database of its own per test (taken from
//! a pool of reusable ones, reset to the migrated template's state: see `PgPool`).
//! Servers listen on loopback port 0 and are driven over real HTTP.
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
    /// The PostgreSQL pool slot this test holds, if on PostgreSQL.
    pg_slot: Option<PgSlot>,
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
            pg_slot: None,
        }
    }

    /// An empty, freshly migrated database on the server `SOUK_TEST_DATABASE_URL` points
    /// at, held by this test alone until `cleanup` (or until the test process ends): a
    /// slot of the pool of reusable databases (see `PgPool`); `None` (and a note on
    /// stderr) when the variable is unset.
    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin) = std::env::var("SOUK_TEST_DATABASE_URL") else {
            eprintln!("skipped: SOUK_TEST_DATABASE_URL is not set");
            return None;
        };
        let slot = postgres_pool(&admin).await.take().await;
        Some(TestDb {
            url: slot.url.clone(),
            kind: Kind::Postgres,
            _dir: None,
            pg_slot: Some(slot),
        })
    }

    pub async fn store(&self) -> Store {
        let store = Store::connect(&self.url, &DATA_KEY, 16)
            .await
            .expect("connect");
        store.migrate().await.expect("migrate");
        store
    }

    /// Gives a PostgreSQL slot back to the pool, its connections ended (SQLite files go
    /// with the temp dir). A test that panics skips this: its slot is freed when the
    /// dropped admin connection ends, and the next holder ends what is left.
    pub async fn cleanup(self) {
        if let Some(slot) = self.pg_slot {
            slot.release().await;
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

/// PostgreSQL test databases: a pool of reusable databases, each already migrated.
///
/// Cloning a database per test (`CREATE DATABASE ... TEMPLATE`, about 0.28 s) and
/// dropping it after (0.15 s) took half the PostgreSQL suite's time on two cores. A test
/// takes a *slot* instead: slot `n` is held with the session-level advisory lock
/// `(PG_SLOT_LOCK, n)` on an admin connection the `TestDb` keeps open, so no two tests
/// (in this process or another: a second test binary, a second `cargo test`) ever hold
/// the same slot, and a process that dies frees its slots with its connections. The
/// slot's database, `souk_testpool_<schema>_<n>_<lease>`, is cloned from the migrated
/// template the first time and reused after that:
///
/// 1. whatever is still connected to it (the last test's server or worker processes,
///    pools not closed, a server leaked by a test that failed) is ended, and the database
///    is renamed to a new `<lease>` (which no one can do while anyone is connected), so
///    nothing that knew an earlier URL reaches this test's database;
/// 2. its schema is compared with the template's, by a digest of the catalogs: any
///    difference, and it is dropped and cloned again. Tests change the schema on
///    purpose (the audit test drops CHECK constraints, failure tests add triggers and
///    functions) and do not all undo it, nor can a test that fails half way;
/// 3. its rows are reset to the template's (see `Pristine`).
///
/// A slot of another schema (a migration was added or changed) is never reused: its
/// name holds the schema's fingerprint. Such databases are dropped when a test process
/// starts, each only if nobody holds its slot.
struct PgPool {
    /// `SOUK_TEST_DATABASE_URL`: the server's admin database.
    admin: String,
    /// The URL without the database name.
    base: String,
    /// `Store::schema_fingerprint`.
    schema: String,
    /// The migrated template every slot is cloned from.
    template: String,
    pristine: Pristine,
}

/// The advisory lock under which the template is built (a bigint key: its key space is
/// not the two-integer one of the slots').
const PG_TEMPLATE_LOCK: i64 = 7212001;
/// The first half of a slot's advisory lock, `(PG_SLOT_LOCK, n)`. Whoever holds it owns
/// every `souk_testpool_*_<n>_*` database, whatever the schema.
const PG_SLOT_LOCK: i32 = 7212002;
/// Prefix of the pool's databases.
const PG_SLOT_PREFIX: &str = "souk_testpool_";
/// First line of the template's comment when it holds a `Pristine`.
const PRISTINE_MARK: &str = "souk test pool v1";

/// What a slot is reset to, made once per schema from a fresh clone of the template and
/// kept as the template's comment (`COMMENT ON DATABASE`), where later processes read it
/// without connecting to the template (which is closed to connections, to be cloned).
///
/// The reset deletes every row of every table of `public` but `_sqlx_migrations`, then
/// puts back the rows the template holds (migration 0001 seeds `state_versions`) and
/// sets every sequence where the template has it. The rows are read from the template
/// itself, not taken from the migrations' text: whatever the migrations leave behind
/// (`INSERT`s, later `UPDATE`s, values filled by a `DEFAULT` or a sequence), a reset
/// slot holds exactly that, with its ids, and `nextval` gives what it gives on a fresh
/// clone: a test that asserts order 1 gets order 1.
///
/// `DELETE` rather than `TRUNCATE ... RESTART IDENTITY CASCADE`: truncating the 36
/// tables in one statement took 0.5-0.85 s here (a new file for every table and index),
/// more than the clone it replaces; deleting the few rows a test leaves takes
/// milliseconds. Foreign keys are not checked during the reset
/// (`session_replication_role = replica`): every table is emptied in one transaction.
struct Pristine {
    /// `PG_SCHEMA_DIGEST` on the template.
    schema: String,
    /// The reset: one simple-query batch, one transaction.
    reset: String,
}

/// A digest of a database's schema: schemas, relations, columns, defaults,
/// constraints, triggers, rules, policies, sequences' parameters, functions, types,
/// extensions, event triggers, its settings and the migrations it has applied. Object
/// ids are in it, so an object dropped and made again differs too; data is not.
const PG_SCHEMA_DIGEST: &str = r"
WITH ns AS (
    SELECT oid, nspname, nspacl FROM pg_namespace
    WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
      AND nspname NOT LIKE 'pg\_temp\_%' AND nspname NOT LIKE 'pg\_toast\_temp\_%'
), rel AS (
    SELECT * FROM pg_class WHERE relnamespace IN (SELECT oid FROM ns)
)
SELECT md5(string_agg(item, E'\n' ORDER BY item)) FROM (
    SELECT format('schema %s %I %s', oid, nspname, nspacl) AS item FROM ns
    UNION ALL SELECT format('relation %s %s %I %s %s %s %s', oid, relnamespace, relname,
        relkind, relpersistence, relrowsecurity, relacl) FROM rel
    UNION ALL SELECT format('column %s %s %I %s %s %s %s %s %s %s', attrelid, attnum, attname,
        atttypid, atttypmod, attnotnull, attisdropped, attidentity, attgenerated, attcollation)
        FROM pg_attribute WHERE attrelid IN (SELECT oid FROM rel) AND attnum > 0
    UNION ALL SELECT format('default %s %s %s', adrelid, adnum, pg_get_expr(adbin, adrelid))
        FROM pg_attrdef WHERE adrelid IN (SELECT oid FROM rel)
    UNION ALL SELECT format('constraint %s %I %s %s', oid, conname, conrelid,
        pg_get_constraintdef(oid)) FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT format('trigger %s %I %s %s', oid, tgname, tgrelid, tgenabled) FROM pg_trigger
    UNION ALL SELECT format('rule %s %I %s %s', oid, rulename, ev_class, md5(ev_action::text))
        FROM pg_rewrite WHERE ev_class IN (SELECT oid FROM rel)
    UNION ALL SELECT format('policy %s %I %s', oid, polname, polrelid) FROM pg_policy
    UNION ALL SELECT format('sequence %s %s %s %s %s %s', seqrelid, seqstart, seqincrement,
        seqmax, seqmin, seqcycle) FROM pg_sequence
    UNION ALL SELECT format('function %s %I %s %s', oid, proname, pronamespace, md5(prosrc))
        FROM pg_proc WHERE pronamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT format('type %s %I %s', oid, typname, typnamespace)
        FROM pg_type WHERE typnamespace IN (SELECT oid FROM ns)
    UNION ALL SELECT format('label %s %s %s', enumtypid, enumsortorder, enumlabel) FROM pg_enum
    UNION ALL SELECT format('extension %s %I %s', oid, extname, extversion) FROM pg_extension
    UNION ALL SELECT format('event trigger %s %I %s', oid, evtname, evtenabled)
        FROM pg_event_trigger
    UNION ALL SELECT format('setting %s', setconfig) FROM pg_db_role_setting
        WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL SELECT format('migration %s %s %s', version, encode(checksum, 'hex'), success)
        FROM public._sqlx_migrations
) items";

async fn pg_connect(url: &str) -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect to the test server ({url}): {e}"))
}

async fn schema_digest(conn: &mut sqlx::PgConnection) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(PG_SCHEMA_DIGEST).fetch_one(conn).await
}

/// Ends every other session on `database` and waits until they are gone. When there
/// are any, the database is first closed to connections: a server or worker that
/// outlived its test (killed with its test process, or leaked by a failing test)
/// reconnects at once, and the rename that follows cannot happen while anyone is
/// connected (it waits 5 s, then fails).
async fn end_connections(admin: &mut sqlx::PgConnection, database: &str) {
    use sqlx::Executor;
    let count =
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()";
    let connected: i64 = sqlx::query_scalar(count)
        .bind(database)
        .fetch_one(&mut *admin)
        .await
        .expect("count the connections to a test database");
    if connected == 0 {
        return;
    }
    admin
        .execute(format!("ALTER DATABASE {database} WITH ALLOW_CONNECTIONS false").as_str())
        .await
        .expect("close a test database to connections");
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(database)
    .execute(&mut *admin)
    .await
    .expect("end the connections to a test database");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        let left: i64 = sqlx::query_scalar(count)
            .bind(database)
            .fetch_one(&mut *admin)
            .await
            .expect("count the connections to a test database");
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// `CREATE DATABASE name TEMPLATE template`, retried while the template is busy.
async fn clone_database(admin: &mut sqlx::PgConnection, template: &str, name: &str) {
    use sqlx::Executor;
    // Cloning fails while anyone is connected to the template; nobody should be
    // (connections are off on it), but a moment's retry costs nothing.
    let create = format!("CREATE DATABASE {name} TEMPLATE {template}");
    let mut tries = 0;
    while let Err(e) = admin.execute(create.as_str()).await {
        tries += 1;
        assert!(tries < 50, "create test database {name}: {e}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn drop_database(admin: &mut sqlx::PgConnection, name: &str) {
    use sqlx::Executor;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await
        .unwrap_or_else(|e| panic!("drop test database {name}: {e}"));
}

/// `souk_testpool_<schema>_<n>_<lease>` as (schema, n).
fn parse_slot_name(name: &str) -> Option<(&str, i32)> {
    let mut parts = name.strip_prefix(PG_SLOT_PREFIX)?.splitn(3, '_');
    let schema = parts.next()?;
    let n = parts.next()?.parse().ok()?;
    parts.next()?;
    Some((schema, n))
}

impl Pristine {
    /// Read from a database that is still exactly the template (a fresh clone).
    async fn of(url: &str) -> Pristine {
        let mut conn = pg_connect(url).await;
        let schema = schema_digest(&mut conn)
            .await
            .expect("digest the template's schema");
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
             WHERE schemaname = 'public' AND tablename <> '_sqlx_migrations' ORDER BY 1",
        )
        .fetch_all(&mut conn)
        .await
        .expect("list the template's tables");
        let mut reset = String::from("BEGIN;\nSET LOCAL session_replication_role = replica;\n");
        for table in &tables {
            reset += &format!("DELETE FROM {table};\n");
        }
        for table in &tables {
            let rows: Option<String> =
                sqlx::query_scalar(&format!("SELECT json_agg(t)::text FROM {table} t"))
                    .fetch_one(&mut conn)
                    .await
                    .expect("read the template's rows");
            let Some(rows) = rows else { continue };
            // Every column but generated ones, identities included, through the table's
            // own row type: values come back as they were stored.
            let insert: String = sqlx::query_scalar(
                "SELECT format('INSERT INTO %s (%s) OVERRIDING SYSTEM VALUE \
                 SELECT %s FROM json_populate_recordset(NULL::%s, %L);', $1, cols, cols, $1, $2) \
                 FROM (SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) AS cols \
                       FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 \
                       AND NOT attisdropped AND attgenerated = '') c",
            )
            .bind(table)
            .bind(&rows)
            .fetch_one(&mut conn)
            .await
            .expect("write the template's rows");
            reset += &insert;
            reset.push('\n');
        }
        let sequences: Option<String> = sqlx::query_scalar(
            "SELECT 'SELECT ' || string_agg(format('setval(%L, %s, %s)', \
                 format('%I.%I', schemaname, sequencename), \
                 COALESCE(last_value, start_value), (last_value IS NOT NULL)::text), \
                 ', ' ORDER BY sequencename) || ';' \
             FROM pg_sequences WHERE schemaname = 'public'",
        )
        .fetch_one(&mut conn)
        .await
        .expect("read the template's sequences");
        if let Some(sequences) = sequences {
            reset += &sequences;
            reset.push('\n');
        }
        reset += "COMMIT;";
        let _ = sqlx::Connection::close(conn).await;
        Pristine { schema, reset }
    }

    fn to_comment(&self) -> String {
        format!("{PRISTINE_MARK}\n{}\n{}", self.schema, self.reset)
    }

    fn from_comment(comment: &str) -> Option<Pristine> {
        let rest = comment.strip_prefix(PRISTINE_MARK)?.strip_prefix('\n')?;
        let (schema, reset) = rest.split_once('\n')?;
        Some(Pristine {
            schema: schema.to_owned(),
            reset: reset.to_owned(),
        })
    }
}

/// The pool of this build's schema on the server `admin` points at, set up once per
/// process: the template built if missing (under an advisory lock, so parallel test
/// processes agree), its `Pristine` read, and other schemas' slots dropped.
async fn postgres_pool(admin: &str) -> &'static PgPool {
    static POOL: tokio::sync::OnceCell<PgPool> = tokio::sync::OnceCell::const_new();
    POOL.get_or_init(|| async {
        use sqlx::Executor;
        let schema = Store::schema_fingerprint(souk_store::Engine::Postgres);
        let template = format!("souk_tpl_{schema}");
        let base = admin.rsplit_once('/').map_or(admin, |(b, _)| b).to_owned();
        let mut conn = pg_connect(admin).await;
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(PG_TEMPLATE_LOCK)
            .execute(&mut conn)
            .await
            .expect("template lock");
        build_template(&mut conn, &base, &template).await;

        let comment: Option<String> = sqlx::query_scalar(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
        )
        .bind(&template)
        .fetch_one(&mut conn)
        .await
        .expect("read the template's comment");
        let pristine = match comment.as_deref().and_then(Pristine::from_comment) {
            Some(pristine) => pristine,
            None => {
                // Made from a clone: the template stays closed to connections.
                let probe = format!("{template}_probe");
                drop_database(&mut conn, &probe).await;
                clone_database(&mut conn, &template, &probe).await;
                let pristine = Pristine::of(&format!("{base}/{probe}")).await;
                drop_database(&mut conn, &probe).await;
                let literal: String = sqlx::query_scalar("SELECT quote_literal($1)")
                    .bind(pristine.to_comment())
                    .fetch_one(&mut conn)
                    .await
                    .expect("quote the template's comment");
                conn.execute(format!("COMMENT ON DATABASE {template} IS {literal}").as_str())
                    .await
                    .expect("comment on the template");
                pristine
            }
        };

        // Slots of other schemas, each dropped only while nobody holds its slot.
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
        )
        .bind(PG_SLOT_PREFIX)
        .fetch_all(&mut conn)
        .await
        .expect("list the pool's databases");
        for name in &names {
            let Some((other, n)) = parse_slot_name(name) else {
                continue;
            };
            if other == schema {
                continue;
            }
            let free: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(PG_SLOT_LOCK)
                .bind(n)
                .fetch_one(&mut conn)
                .await
                .expect("slot lock");
            if free {
                drop_database(&mut conn, name).await;
                sqlx::query("SELECT pg_advisory_unlock($1, $2)")
                    .bind(PG_SLOT_LOCK)
                    .bind(n)
                    .execute(&mut conn)
                    .await
                    .expect("slot unlock");
            }
        }

        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(PG_TEMPLATE_LOCK)
            .execute(&mut conn)
            .await
            .expect("template unlock");
        let _ = sqlx::Connection::close(conn).await;
        PgPool {
            admin: admin.to_owned(),
            base,
            schema,
            template,
            pristine,
        }
    })
    .await
}

/// Makes `template`, migrated to this build's schema and closed to connections (so that
/// `CREATE DATABASE ... TEMPLATE` can clone it at once), unless it exists. The caller
/// holds `PG_TEMPLATE_LOCK`.
async fn build_template(conn: &mut sqlx::PgConnection, base: &str, template: &str) {
    use sqlx::Executor;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
        .bind(template)
        .fetch_optional(&mut *conn)
        .await
        .expect("look for the template");
    if exists.is_some() {
        return;
    }
    // Built under another name and renamed once complete: a process that dies half way
    // leaves no broken template behind.
    let building = format!("{template}_building");
    drop_database(conn, &building).await;
    conn.execute(format!("CREATE DATABASE {building}").as_str())
        .await
        .expect("create the template");
    let store = Store::connect(&format!("{base}/{building}"), &DATA_KEY, 2)
        .await
        .expect("connect to the template");
    store.migrate().await.expect("migrate the template");
    store.close().await;
    // The pool's connections may take a moment to leave the server: what is left of them
    // after a moment is ended (the store is closed; nothing else uses this database).
    let rename = format!("ALTER DATABASE {building} RENAME TO {template}");
    let mut tries = 0;
    while let Err(e) = conn.execute(rename.as_str()).await {
        tries += 1;
        assert!(tries < 100, "name the template: {e}");
        if tries % 10 == 0 {
            let _ = sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            )
            .bind(&building)
            .execute(&mut *conn)
            .await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    conn.execute(
        format!("ALTER DATABASE {template} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false").as_str(),
    )
    .await
    .expect("close the template to connections");
}

impl PgPool {
    /// A free slot, held until the returned `PgSlot` is released or dropped, its database
    /// just like a fresh clone of the template.
    async fn take(&self) -> PgSlot {
        let mut admin = pg_connect(&self.admin).await;
        let mut n: i32 = 0;
        loop {
            let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
                .bind(PG_SLOT_LOCK)
                .bind(n)
                .fetch_one(&mut admin)
                .await
                .expect("slot lock");
            if held {
                break;
            }
            n += 1;
        }
        let prefix = format!("{PG_SLOT_PREFIX}{}_{n}_", self.schema);
        let found: Vec<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_database WHERE starts_with(datname, $1)",
        )
        .bind(&prefix)
        .fetch_all(&mut admin)
        .await
        .expect("look for the slot's database");
        let database = format!("{prefix}{}", hex::encode(rand::random::<[u8; 4]>()));
        let reused = match found.as_slice() {
            [old] => self.reuse(&mut admin, old, &database).await,
            others => {
                for other in others {
                    drop_database(&mut admin, other).await;
                }
                false
            }
        };
        if !reused {
            clone_database(&mut admin, &self.template, &database).await;
        }
        PgSlot {
            url: format!("{}/{database}", self.base),
            admin,
            database,
        }
    }

    /// Makes the slot's database `old` this test's `database`: renamed, its schema
    /// checked and its rows reset. `false` (and the database dropped) when it is not the
    /// template's schema any more.
    async fn reuse(&self, admin: &mut sqlx::PgConnection, old: &str, database: &str) -> bool {
        use sqlx::Executor;
        // Renamed and opened again in one transaction: `end_connections` may have closed
        // it, and so may a taker that died half way.
        let rename = format!(
            "ALTER DATABASE {old} RENAME TO {database}; \
             ALTER DATABASE {database} WITH ALLOW_CONNECTIONS true"
        );
        let mut tries = 0;
        loop {
            end_connections(admin, old).await;
            match admin.execute(rename.as_str()).await {
                Ok(_) => break,
                // Someone came in between the two: end them again.
                Err(e) => {
                    tries += 1;
                    assert!(tries < 10, "rename the test database {old}: {e}");
                }
            }
        }
        let mut conn = pg_connect(&format!("{}/{database}", self.base)).await;
        let outcome = match schema_digest(&mut conn).await {
            Ok(digest) if digest == self.pristine.schema => conn
                .execute(self.pristine.reset.as_str())
                .await
                .map(|_| ())
                .map_err(|e| format!("the reset failed: {e}")),
            Ok(_) => Err("its schema is not the template's".to_owned()),
            Err(e) => Err(format!("its schema cannot be read: {e}")),
        };
        let _ = sqlx::Connection::close(conn).await;
        if let Err(why) = outcome {
            eprintln!("test database {database} cloned again: {why}");
            drop_database(admin, database).await;
            return false;
        }
        true
    }
}

/// A slot of the pool, held by a test. `engine_test!` releases it after the test's
/// body has returned, so the processes the body started (`ServerProcess` kills its
/// child when dropped) are gone by then; whatever is still connected is ended here, and
/// again by the next holder, which also renames the database away from anything that
/// would reconnect.
struct PgSlot {
    url: String,
    /// Holds the slot's advisory lock while it is open.
    admin: sqlx::PgConnection,
    database: String,
}

impl PgSlot {
    /// Ends what the test left connected and gives the slot back.
    async fn release(mut self) {
        let _ = sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(&self.database)
        .execute(&mut self.admin)
        .await;
        // Ends the session, and the slot's lock with it.
        let _ = sqlx::Connection::close(self.admin).await;
    }
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
        // Tests read the cache directly: start them on the whole catalogue.
        node.state.cache.loaded().await;
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

    /// One step of the delivery lane: recorded events fanned out, then every delivery
    /// (webhook, Telegram, e-mail queue) due now (by the test clock) run.
    pub async fn run_deliveries(&self) -> souk_workers::jobs::RunReport {
        souk_workers::jobs::run_deliveries(&self.workers)
            .await
            .expect("run the deliveries")
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

    /// Makes the node see catalogue changes the test wrote through the store itself
    /// (the node's own poll would pick them up within 100 ms).
    pub async fn catalogue_changed(&self) {
        let versions = self.store.state_versions().await.expect("versions");
        self.state
            .cache
            .refresh_to(versions.catalogue)
            .await
            .expect("refresh the catalogue");
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

    /// The id of the user signed up with `email` (who must exist).
    pub async fn user_id(&self, email: &str) -> String {
        self.store
            .user_id_by_email(email)
            .await
            .expect("lookup")
            .unwrap_or_else(|| panic!("no user {email}"))
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

/// How much longer than its stated time a wait may take before it fails. A wait ends as
/// soon as its condition holds, so the slack costs nothing when things work; it is there
/// for shared two-core CI machines, where a whole suite on two engines plus a build can
/// stall a worker for seconds.
const WAIT_SLACK: u64 = 3;

/// Polls `check` every 20 ms until it holds, for at most `secs` seconds times
/// [`WAIT_SLACK`].
pub async fn wait_for<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs * WAIT_SLACK);
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
