//! The migrations of each engine, embedded in the binary.
//!
//! The files under `migrations/{sqlite,postgres}/` are listed here by hand, once for both
//! folders (sqlx's `migrate!` would list them, but its proc-macro crates rebuild the whole
//! driver stack for the build host); `the_lists_match_the_folders` fails when a folder
//! holds a file the list lacks. Versions, descriptions and checksums are what `migrate!` gives, so databases
//! migrated before keep validating.

use std::borrow::Cow;
use std::sync::LazyLock;

use futures::future::{BoxFuture, FutureExt};
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

/// Each file once: both engines have the same migrations, one folder each.
macro_rules! embed {
    ($($file:literal),* $(,)?) => {
        (
            &[$(($file, include_str!(concat!("../migrations/sqlite/", $file)))),*],
            &[$(($file, include_str!(concat!("../migrations/postgres/", $file)))),*],
        )
    };
}

type Files = &'static [(&'static str, &'static str)];

/// (SQLite, PostgreSQL)
const FILES: (Files, Files) = embed!(
    "0001_init.sql",
    "0002_supply.sql",
    "0003_providers.sql",
    "0004_sms.sql",
    "0005_web.sql",
    "0006_forwarding.sql",
    "0007_login_attempts.sql",
    "0008_variant_prices.sql",
    "0009_order_provider.sql",
    "0010_jobs.sql",
    "0011_order_jobs.sql",
    "0012_payments.sql",
    "0013_events.sql",
    "0014_user_lang.sql",
    "0015_smm.sql",
    "0016_storefront.sql",
    "0017_alerts.sql",
    "0018_operators.sql",
    "0019_rate_source.sql",
    "0020_console_totals.sql",
    "0021_review_moderation.sql",
    "0022_sold_through.sql",
);
const SQLITE: Files = FILES.0;
const POSTGRES: Files = FILES.1;

pub(crate) static SQLITE_MIGRATIONS: LazyLock<Migrator> = LazyLock::new(|| migrator(SQLITE));
pub(crate) static POSTGRES_MIGRATIONS: LazyLock<Migrator> = LazyLock::new(|| migrator(POSTGRES));

/// Files named `{version}_{description}.sql`, as `migrate!` reads them.
#[derive(Debug)]
struct Embedded(Files);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> BoxFuture<'static, Result<Vec<Migration>, BoxDynError>> {
        let mut migrations = Vec::with_capacity(self.0.len());
        for (file, sql) in self.0 {
            let parsed = file
                .strip_suffix(".sql")
                .and_then(|stem| stem.split_once('_'))
                .and_then(|(version, name)| Some((version.parse::<i64>().ok()?, name)));
            let Some((version, name)) = parsed else {
                let error: BoxDynError =
                    format!("migration file {file} is not VERSION_NAME.sql").into();
                return async move { Err(error) }.boxed();
            };
            migrations.push(Migration::new(
                version,
                Cow::Owned(name.replace('_', " ")),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                sql.starts_with("-- no-transaction"),
            ));
        }
        migrations.sort_by_key(|m| m.version);
        async move { Ok(migrations) }.boxed()
    }
}

fn migrator(files: Files) -> Migrator {
    // The embedded source is ready at once: nothing is awaited.
    Migrator::new(Embedded(files))
        .now_or_never()
        .expect("an embedded source resolves at once")
        .expect("the embedded migrations are named VERSION_NAME.sql")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(files: &[(&str, &str)]) -> Vec<String> {
        files.iter().map(|(name, _)| name.to_string()).collect()
    }

    fn on_disk(engine: &str) -> Vec<String> {
        let dir = format!("{}/migrations/{engine}", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations folder")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_lists_match_the_folders() {
        assert_eq!(listed(SQLITE), on_disk("sqlite"));
        assert_eq!(listed(POSTGRES), on_disk("postgres"));
    }

    #[test]
    fn versions_and_descriptions_read_as_migrate_reads_them() {
        let first = SQLITE_MIGRATIONS.iter().next().expect("one");
        assert_eq!((first.version, first.description.as_ref()), (1, "init"));
        let ninth = POSTGRES_MIGRATIONS.iter().nth(8).expect("nine");
        assert_eq!(
            (ninth.version, ninth.description.as_ref()),
            (9, "order provider")
        );
    }
}
