//! What backups, restores and `souk doctor` ask of a database: a consistent copy of a
//! SQLite file (`VACUUM INTO`, from one read transaction, while writers go on), a
//! PostgreSQL snapshot that `pg_dump` can share (`pg_export_snapshot`), and the facts a
//! backup's manifest records, read in the same snapshot as the copy: the schema version,
//! each table's row count and the data key's check value (never the key).

use std::collections::BTreeMap;

use sqlx::Connection;

use crate::db::{on_engine, Db};
use crate::migrations::{POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS};
use crate::{Engine, Result, Store, StoreError};

/// What a manifest says of the database it copies.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BackupFacts {
    /// The newest migration applied (0: none).
    pub schema_version: i64,
    /// Rows per table, migrations' bookkeeping left out.
    pub rows: BTreeMap<String, i64>,
    /// The data key's check value as recorded (`settings.data_key_check`), if any.
    pub data_key_check: Option<String>,
}

/// Migrations as they stand between a database and this build.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrationState {
    /// Applied, newest version (0: none).
    pub applied: i64,
    /// This build's versions the database has not applied yet.
    pub pending: Vec<i64>,
    /// Versions the database has applied that this build does not know (a newer Souk).
    pub unknown: Vec<i64>,
    /// Applied versions whose recorded checksum differs from this build's file.
    pub changed: Vec<i64>,
}

const SQLITE_TABLES: &str = "SELECT name FROM sqlite_master WHERE type = 'table' \
     AND name NOT LIKE 'sqlite_%' AND name <> '_sqlx_migrations' ORDER BY name";
const POSTGRES_TABLES: &str = "SELECT tablename::TEXT FROM pg_catalog.pg_tables \
     WHERE schemaname = current_schema() AND tablename <> '_sqlx_migrations' ORDER BY tablename";

fn tables_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => SQLITE_TABLES,
        Engine::Postgres => POSTGRES_TABLES,
    }
}

fn migrations_table_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
        }
        Engine::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('_sqlx_migrations')"
        }
    }
}

fn settings_table_sql(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => {
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'settings'"
        }
        Engine::Postgres => {
            "SELECT COUNT(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('settings')"
        }
    }
}

/// A table name as it may be quoted into SQL: the names come from the catalogue, and
/// anything but `[a-z0-9_]` is refused rather than escaped.
fn quoted(table: &str) -> Result<String> {
    if !table.is_empty()
        && table
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        Ok(format!("\"{table}\""))
    } else {
        Err(StoreError::Invalid(format!(
            "unexpected table name {table:?}"
        )))
    }
}

/// The facts, read on one connection inside the caller's snapshot.
macro_rules! read_facts {
    ($conn:expr, $engine:expr) => {{
        let conn = $conn;
        let mut facts = BackupFacts::default();
        let tables: Vec<String> = sqlx::query_scalar(tables_sql($engine))
            .fetch_all(&mut *conn)
            .await?;
        for table in tables {
            let sql = format!("SELECT COUNT(*) FROM {}", quoted(&table)?);
            let n: i64 = sqlx::query_scalar(&sql).fetch_one(&mut *conn).await?;
            facts.rows.insert(table, n);
        }
        let has_migrations: i64 = sqlx::query_scalar(migrations_table_sql($engine))
            .fetch_one(&mut *conn)
            .await?;
        if has_migrations > 0 {
            let version: Option<i64> =
                sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                    .fetch_one(&mut *conn)
                    .await?;
            facts.schema_version = version.unwrap_or(0);
        }
        let has_settings: i64 = sqlx::query_scalar(settings_table_sql($engine))
            .fetch_one(&mut *conn)
            .await?;
        if has_settings > 0 {
            facts.data_key_check =
                sqlx::query_scalar("SELECT value FROM settings WHERE key = 'data_key_check'")
                    .fetch_optional(&mut *conn)
                    .await?;
        }
        facts
    }};
}

/// A PostgreSQL snapshot held open while `pg_dump --snapshot` copies it.
pub struct PgSnapshot {
    conn: sqlx::PgConnection,
    /// What `pg_dump --snapshot` takes.
    pub id: String,
}

impl PgSnapshot {
    /// The facts as of the snapshot: the same rows `pg_dump` copies.
    pub async fn facts(&mut self) -> Result<BackupFacts> {
        Ok(read_facts!(&mut self.conn, Engine::Postgres))
    }

    /// Ends the snapshot (after `pg_dump` is done with it).
    pub async fn end(mut self) -> Result<()> {
        sqlx::query("COMMIT").execute(&mut self.conn).await?;
        self.conn.close().await?;
        Ok(())
    }
}

impl Store {
    /// The newest migration this build knows, per engine.
    pub fn latest_schema_version(engine: Engine) -> i64 {
        let migrator = match engine {
            Engine::Sqlite => &*SQLITE_MIGRATIONS,
            Engine::Postgres => &*POSTGRES_MIGRATIONS,
        };
        migrator.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Writes a consistent copy of a SQLite database, its log folded in, to `out` (which
    /// must not exist), and answers the copy's facts, read from the copy itself. Writers
    /// go on meanwhile: `VACUUM INTO` reads one snapshot.
    pub async fn sqlite_snapshot(&self, out: &std::path::Path) -> Result<BackupFacts> {
        let Db::Sqlite(pool) = &self.db else {
            return Err(StoreError::Config(
                "a file copy is for SQLite databases only".into(),
            ));
        };
        let target = out
            .to_str()
            .ok_or_else(|| StoreError::Config(format!("path {} is not UTF-8", out.display())))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(pool)
            .await?;
        sqlite_file_facts(out).await
    }

    /// A PostgreSQL snapshot for `pg_dump --snapshot`, on a connection of its own.
    pub async fn postgres_snapshot(&self, url: &str) -> Result<PgSnapshot> {
        if self.engine() != Engine::Postgres {
            return Err(StoreError::Config(
                "a shared snapshot is for PostgreSQL databases only".into(),
            ));
        }
        let mut conn = sqlx::PgConnection::connect(url).await?;
        sqlx::query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            .execute(&mut conn)
            .await?;
        let id: String = sqlx::query_scalar("SELECT pg_export_snapshot()")
            .fetch_one(&mut conn)
            .await?;
        Ok(PgSnapshot { conn, id })
    }

    /// The facts of the database as it is now (one read transaction).
    pub async fn backup_facts(&self) -> Result<BackupFacts> {
        let engine = self.engine();
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            if engine == Engine::Postgres {
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *tx)
                    .await?;
            }
            let facts = read_facts!(&mut *tx, engine);
            tx.rollback().await?;
            facts
        }))
    }

    /// How many tables the database holds (migrations' bookkeeping included): a
    /// restore refuses to overwrite a database with any.
    pub async fn table_count(&self) -> Result<i64> {
        let sql = match self.engine() {
            Engine::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            }
            Engine::Postgres => {
                "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()"
            }
        };
        Ok(on_engine!(&self.db, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// The database's migrations against this build's, changing nothing.
    pub async fn migration_state(&self) -> Result<MigrationState> {
        let engine = self.engine();
        let applied: Vec<(i64, Vec<u8>)> = on_engine!(&self.db, pool => {
            let exists: i64 = sqlx::query_scalar(migrations_table_sql(engine)).fetch_one(pool).await?;
            if exists == 0 {
                Vec::new()
            } else {
                sqlx::query_as("SELECT version, checksum FROM _sqlx_migrations WHERE success ORDER BY version")
                    .fetch_all(pool)
                    .await?
            }
        });
        let migrator = match engine {
            Engine::Sqlite => &*SQLITE_MIGRATIONS,
            Engine::Postgres => &*POSTGRES_MIGRATIONS,
        };
        let mut state = MigrationState {
            applied: applied.iter().map(|(v, _)| *v).max().unwrap_or(0),
            ..MigrationState::default()
        };
        for m in migrator.iter() {
            match applied.iter().find(|(v, _)| *v == m.version) {
                None => state.pending.push(m.version),
                Some((_, sum)) if sum.as_slice() != m.checksum.as_ref() => {
                    state.changed.push(m.version)
                }
                Some(_) => {}
            }
        }
        for (v, _) in &applied {
            if !migrator.iter().any(|m| m.version == *v) {
                state.unknown.push(*v);
            }
        }
        Ok(state)
    }

    /// The database's clock, in Unix milliseconds (`souk doctor` compares it with ours).
    pub async fn database_now_ms(&self) -> Result<i64> {
        let sql = match self.engine() {
            Engine::Sqlite => "SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)",
            Engine::Postgres => {
                "SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
            }
        };
        Ok(on_engine!(&self.db, pool => sqlx::query_scalar(sql).fetch_one(pool).await?))
    }

    /// The page size of a SQLite database (`None` on PostgreSQL): `souk doctor` names a
    /// database made with larger pages than [`crate::db::SQLITE_PAGE_SIZE`].
    pub async fn sqlite_page_size(&self) -> Result<Option<u32>> {
        let Db::Sqlite(pool) = &self.db else {
            return Ok(None);
        };
        let size: i64 = sqlx::query_scalar("PRAGMA page_size")
            .fetch_one(pool)
            .await?;
        Ok(u32::try_from(size).ok())
    }
}

/// The facts of a SQLite file, opened read-only (a copy being checked or restored).
pub async fn sqlite_file_facts(path: &std::path::Path) -> Result<BackupFacts> {
    use sqlx::sqlite::SqliteConnectOptions;
    let options = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .immutable(true);
    let mut conn = sqlx::SqliteConnection::connect_with(&options).await?;
    let check: String = sqlx::query_scalar("PRAGMA quick_check")
        .fetch_one(&mut conn)
        .await?;
    if check != "ok" {
        return Err(StoreError::Invalid(format!(
            "the database file fails its integrity check: {check}"
        )));
    }
    let facts = read_facts!(&mut conn, Engine::Sqlite);
    conn.close().await?;
    Ok(facts)
}

/// Whether `key` opens a recorded check value (`BackupFacts::data_key_check`).
pub fn key_opens_check(key: &[u8; 32], check: &str) -> bool {
    crate::keycheck::opens_check(&crate::Crypto::new(key), check)
}

/// The major version of the PostgreSQL server at `url` (`None` when it cannot be asked).
pub async fn postgres_server_major(url: &str) -> Option<u32> {
    let mut conn = sqlx::PgConnection::connect(url).await.ok()?;
    let version: Option<String> = sqlx::query_scalar("SHOW server_version_num")
        .fetch_one(&mut conn)
        .await
        .ok();
    let _ = conn.close().await;
    version?.parse::<u32>().ok().map(|n| n / 10_000)
}

/// Empties a PostgreSQL database's `public` schema, for a restore that replaces it.
pub async fn reset_postgres_schema(url: &str) -> Result<()> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    sqlx::raw_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    Ok(())
}
