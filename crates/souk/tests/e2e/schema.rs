//! The two engines' migrations, kept by hand in two folders, end in the same schema.

use std::collections::BTreeSet;

use crate::engine_test;
use crate::harness::{Kind, TestDb};

type Columns = BTreeSet<(String, String)>;

async fn sqlite_columns(db: &TestDb) -> Columns {
    use sqlx::Connection;
    let mut c = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("connect");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut c)
    .await
    .expect("columns");
    rows.into_iter().collect()
}

async fn postgres_columns(db: &TestDb) -> Columns {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name::TEXT, column_name::TEXT FROM information_schema.columns \
         WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_all(&mut c)
    .await
    .expect("columns");
    rows.into_iter().collect()
}

/// Every table and column of one engine exists on the other (types differ by design:
/// `BIGSERIAL` and `INTEGER PRIMARY KEY`, `BOOLEAN` and `INTEGER`).
#[tokio::test]
async fn migrations_match_on_sqlite_and_postgres() {
    let Some(pg) = TestDb::postgres().await else {
        return;
    };
    let sqlite = TestDb::sqlite().await;
    let (on_sqlite, on_postgres) = (sqlite_columns(&sqlite).await, postgres_columns(&pg).await);
    assert!(on_sqlite.len() > 100, "{} columns", on_sqlite.len());
    let only_sqlite: Vec<_> = on_sqlite.difference(&on_postgres).collect();
    let only_postgres: Vec<_> = on_postgres.difference(&on_sqlite).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "only on SQLite: {only_sqlite:?}; only on PostgreSQL: {only_postgres:?}"
    );
    pg.cleanup().await;
}

/// What the upgrade to migration 0011 made of a database's live work: its jobs
/// (kind, key, state, due, attempts, payload, error) and each order's `sent_at`.
type Upgraded = (
    Vec<(String, String, String, i64, i64, String, String)>,
    Vec<(i64, Option<i64>)>,
);

/// Orders and rentals in every outbox state, as 0010 kept them.
const BEFORE_0011: &str = "
INSERT INTO users (id, email, created_at) VALUES ('u', 'u@test.local', 0);
INSERT INTO sms_projects (id, code, name, created_at) VALUES ('p', 'tg', 'Telegram', 0);
INSERT INTO orders (id, user_id, kind, product_type, quantity, charge, status, forward_state, forward_attempts,
                    forward_refusals, next_attempt_at, send_started_at, unknown_since, external_id, next_sync_at,
                    sync_misses, last_error, created_at, updated_at) VALUES
 (1, 'u', 'smm', 'auto', 1, 0, 'pending', 'queued', 2, 1, 500, NULL, NULL, NULL, NULL, 0, 'refused', 1, 2),
 (2, 'u', 'smm', 'auto', 1, 0, 'pending', 'sending', 1, 0, 600, 700, NULL, NULL, NULL, 0, NULL, 1, 2),
 (3, 'u', 'smm', 'auto', 1, 0, 'error', 'unknown', 1, 0, 600, 350, 300, NULL, NULL, 0, 'timed out', 1, 2),
 (4, 'u', 'smm', 'auto', 1, 0, 'processing', 'sent', 1, 0, NULL, 400, NULL, 'e4', 900, 3, NULL, 1, 2),
 (5, 'u', 'smm', 'auto', 1, 0, 'error', 'unknown', 1, 0, NULL, 400, NULL, 'e5', 900, 10, 'forgotten', 1, 2),
 (6, 'u', 'smm', 'auto', 1, 0, 'processing', 'sent', 0, 0, NULL, NULL, NULL, 'local-dripfeed', NULL, 0, NULL, 1, 2),
 (7, 'u', 'smm', 'auto', 1, 0, 'completed', 'sent', 1, 0, NULL, 400, NULL, 'e7', 900, 0, NULL, 1, 2),
 (8, 'u', 'smm', 'manual', 1, 0, 'pending', 'none', 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, 1, 2),
 (9, 'u', 'sms', 'auto', 1, 0, 'processing', 'none', 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, 1, 2),
 (10, 'u', 'sms', 'auto', 1, 0, 'completed', 'none', 0, 0, NULL, NULL, NULL, NULL, NULL, 0, NULL, 1, 2);
INSERT INTO sms_activations (order_id, user_id, project_id, country_code, phone, external_id, status, price,
                             expires_at, created_at, updated_at, upstream_state, next_poll_at, upstream_attempts,
                             last_error) VALUES
 (9, 'u', 'p', '7', '79990000001', 'x9', 'code_received', 1, 5000, 1, 2, 'retry', 1000, 2, 'busy'),
 (10, 'u', 'p', '7', '79990000002', 'x10', 'completed', 1, 5000, 1, 2, 'closed', NULL, 0, NULL);
";

/// The migration files of `engine` before and from 0011, in order.
fn migration_files(engine: &str) -> (Vec<String>, Vec<String>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../souk-store/migrations")
        .join(engine);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .expect("migrations")
        .map(|e| e.expect("entry").path())
        .collect();
    names.sort();
    let read = |p: &std::path::PathBuf| std::fs::read_to_string(p).expect("migration");
    let (before, from): (Vec<_>, Vec<_>) = names.iter().partition(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n < "0011")
    });
    (
        before.into_iter().map(read).collect(),
        from.into_iter().map(read).collect(),
    )
}

async fn upgrade_through_0011(db: &TestDb) -> Upgraded {
    use sqlx::Connection;
    const JOBS: &str =
        "SELECT kind, dedupe_key, state, run_at, attempts, payload, COALESCE(last_error, '') \
                        FROM jobs ORDER BY kind, id";
    const SENT: &str = "SELECT id, sent_at FROM orders ORDER BY id";
    match db.kind {
        Kind::Sqlite => {
            let dir = tempfile::tempdir().expect("dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
            let mut c = sqlx::SqliteConnection::connect(&url)
                .await
                .expect("connect");
            let (before, from) = migration_files("sqlite");
            for sql in before
                .iter()
                .map(String::as_str)
                .chain([BEFORE_0011])
                .chain(from.iter().map(String::as_str))
            {
                sqlx::raw_sql(sql).execute(&mut c).await.expect("migrate");
            }
            (
                sqlx::query_as(JOBS).fetch_all(&mut c).await.expect("jobs"),
                sqlx::query_as(SENT)
                    .fetch_all(&mut c)
                    .await
                    .expect("orders"),
            )
        }
        Kind::Postgres => {
            // A schema of its own in the test's database, built from the first migration.
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::raw_sql("CREATE SCHEMA upgrade; SET search_path TO upgrade")
                .execute(&mut c)
                .await
                .expect("schema");
            let (before, from) = migration_files("postgres");
            for sql in before
                .iter()
                .map(String::as_str)
                .chain([BEFORE_0011])
                .chain(from.iter().map(String::as_str))
            {
                sqlx::raw_sql(sql).execute(&mut c).await.expect("migrate");
            }
            (
                sqlx::query_as(JOBS).fetch_all(&mut c).await.expect("jobs"),
                sqlx::query_as(SENT)
                    .fetch_all(&mut c)
                    .await
                    .expect("orders"),
            )
        }
    }
}

// Migration 0011 moves the outbox columns' live work onto jobs: nothing queued, in flight,
// parked or watched upstream is lost on the way, and nothing finished comes back.
engine_test!(the_upgrade_to_order_jobs_keeps_every_order_s_work, |db| {
    let (jobs, sent) = upgrade_through_0011(db).await;
    let job = |kind: &str,
               key: &str,
               state: &str,
               run_at: i64,
               attempts: i64,
               payload: &str,
               error: &str| {
        (
            kind.to_owned(),
            key.to_owned(),
            state.to_owned(),
            run_at,
            attempts,
            payload.to_owned(),
            error.to_owned(),
        )
    };
    assert_eq!(
        jobs,
        vec![
            job(
                "order.forward",
                "1",
                "ready",
                500,
                0,
                r#"{"order":1,"sends":2,"refusals":1}"#,
                "refused"
            ),
            job(
                "order.forward",
                "2",
                "ready",
                600,
                0,
                r#"{"order":2,"sends":1,"refusals":0}"#,
                ""
            ),
            job(
                "order.forward",
                "3",
                "parked",
                600,
                0,
                r#"{"order":3,"sends":1,"refusals":0}"#,
                "timed out"
            ),
            job("order.status", "4", "ready", 900, 3, r#"{"order":4}"#, ""),
            job(
                "order.status",
                "5",
                "parked",
                900,
                10,
                r#"{"order":5}"#,
                "forgotten"
            ),
            job(
                "sms.upstream",
                "9",
                "ready",
                1000,
                2,
                r#"{"activation":9,"action":"retry"}"#,
                "busy"
            ),
        ]
    );
    // The send in flight and the unknown outcome may be held upstream; so may every
    // order that has an upstream id.
    assert_eq!(
        sent,
        vec![
            (1, None),
            (2, Some(700)),
            (3, Some(300)),
            (4, Some(400)),
            (5, Some(400)),
            (6, Some(2)),
            (7, Some(400)),
            (8, None),
            (9, None),
            (10, None),
        ]
    );
});
