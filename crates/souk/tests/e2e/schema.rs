//! The two engines' migrations, kept by hand in two folders, end in the same schema.

use std::collections::BTreeSet;

use crate::harness::TestDb;

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
