//! Backups that restore: `souk backup`, the scheduled backup inside `souk serve`, and
//! `souk restore`.
//!
//! A backup is three files in its folder, named by the time it was taken
//! (`souk-20261206T230501.123Z`):
//! - the data: `.sqlite.gz` (a `VACUUM INTO` copy, gzip-compressed) or `.pgdump`
//!   (`pg_dump --format=custom`, compressed by `pg_dump`), from one snapshot taken while
//!   orders keep flowing;
//! - `.manifest.json`, written last (a manifest means the backup is whole): Souk's
//!   version, the engine, the schema version, the time, each table's row count, the data
//!   file's SHA-256 and the data key's check value, never the key;
//! - `.key`, only with `--with-key`: the data key (owner-only permissions).
//!
//! A restore changes nothing until every check has passed: the manifest reads, the
//! engines agree, the checksum matches, the data key opens the check value, the target
//! is empty (or `--force`), and a SQLite copy passes its integrity check with the
//! manifest's row counts. Then it writes, migrates, and runs the audit.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use souk_store::{BackupFacts, Engine, Store};

use crate::config::DataKey;

/// The manifest's `format`.
pub const FORMAT: &str = "souk-backup/1";
const MANIFEST_SUFFIX: &str = ".manifest.json";
const SQLITE_SUFFIX: &str = ".sqlite.gz";
const POSTGRES_SUFFIX: &str = ".pgdump";
const KEY_SUFFIX: &str = ".key";

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    pub format: String,
    pub souk_version: String,
    /// `sqlite` or `postgres`.
    pub engine: String,
    pub schema_version: i64,
    /// ISO-8601 UTC with milliseconds.
    pub created_at: String,
    pub created_at_ms: i64,
    /// The data file's name, beside the manifest.
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows: BTreeMap<String, i64>,
    /// The data key's check value as the database records it (not the key).
    pub data_key_check: Option<String>,
    /// The key file's name, beside the manifest, when the backup holds the key.
    pub key_file: Option<String>,
}

/// Why a backup or a restore did not happen; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Refused(String),
    #[error("the backup file {file} is corrupted: its SHA-256 differs from the manifest's")]
    Corrupted { file: String },
    #[error("the data key does not match the backup (the backup's key check value does not open with it); set SOUK_DATA_KEY or SOUK_KEY_FILE to the key the backup was taken with")]
    WrongKey,
    #[error("no data key found ({where_}) and the backup holds none (it was taken without --with-key); set SOUK_DATA_KEY or SOUK_KEY_FILE to the key the backup was taken with")]
    NoKey { where_: String },
    #[error(
        "the target database {url} is not empty ({tables} tables); pass --force to replace it"
    )]
    NotEmpty { url: String, tables: i64 },
    #[error("pg_dump is not installed: install the PostgreSQL client tools of the server's major version (Debian: apt-get install postgresql-client-{version}), or back the database up with the tools of its host (pg_dump --format=custom, or the provider's snapshots)")]
    NoPgDump { version: String },
    #[error("pg_restore is not installed: install the PostgreSQL client tools of the server's major version (Debian: apt-get install postgresql-client), or restore the .pgdump file with pg_restore elsewhere and run souk migrate")]
    NoPgRestore,
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] souk_store::StoreError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BackupError {
    let what = what.into();
    move |source| BackupError::Io { what, source }
}

/// A backup written: its files and what its manifest says.
#[derive(Debug)]
pub struct Taken {
    pub manifest_path: PathBuf,
    pub data_path: PathBuf,
    pub key_path: Option<PathBuf>,
    pub manifest: Manifest,
}

/// `20261206T230501.123Z` for Unix milliseconds: file names sort by time.
pub fn stamp(ms: i64) -> String {
    let iso = souk_core::clock::iso_millis(ms);
    iso.replace(['-', ':'], "")
}

fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Sqlite => "sqlite",
        Engine::Postgres => "postgres",
    }
}

pub use crate::config::sqlite_path;

fn engine_of(url: &str) -> Result<Engine, BackupError> {
    Engine::of_url(url).ok_or_else(|| {
        BackupError::Refused(format!(
            "unsupported database URL (use sqlite:// or postgres://): {}",
            souk_store::redact_url(url)
        ))
    })
}

/// Opens a store to read from, without migrating or creating anything.
async fn open_existing(url: &str) -> Result<Store, BackupError> {
    if let Some(path) = sqlite_path(url) {
        if !path.is_file() {
            return Err(BackupError::Refused(format!(
                "the database file {} does not exist",
                path.display()
            )));
        }
    }
    // Reading needs no key: the check value is copied as recorded.
    Ok(Store::connect(url, &[0u8; 32], 2).await?)
}

fn sha256_file(path: &Path) -> Result<(String, u64), BackupError> {
    let mut file =
        std::fs::File::open(path).map_err(io(format!("cannot read {}", path.display())))?;
    let mut hash = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .map_err(io(format!("cannot read {}", path.display())))?;
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hash.finalize()), total))
}

use crate::config::write_private;

/// Takes a backup of the database at `url` into `dir` (made if missing). `key`: the
/// data key to keep beside it (`--with-key`), already checked against the database.
pub async fn take(
    url: &str,
    dir: &Path,
    key: Option<&[u8; 32]>,
    now_ms: i64,
) -> Result<Taken, BackupError> {
    let engine = engine_of(url)?;
    std::fs::create_dir_all(dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let base = format!("souk-{}", stamp(now_ms));
    let store = open_existing(url).await?;
    let result = match engine {
        Engine::Sqlite => take_sqlite(&store, dir, &base).await,
        Engine::Postgres => take_postgres(&store, url, dir, &base).await,
    };
    store.close().await;
    let (data_path, facts) = result?;
    let (sha256, bytes) = sha256_file(&data_path)?;
    let key_path = match key {
        None => None,
        Some(key) => {
            let path = dir.join(format!("{base}{KEY_SUFFIX}"));
            write_private(&path, &hex::encode(key))
                .map_err(io(format!("cannot write {}", path.display())))?;
            Some(path)
        }
    };
    let manifest = Manifest {
        format: FORMAT.to_owned(),
        souk_version: env!("CARGO_PKG_VERSION").to_owned(),
        engine: engine_name(engine).to_owned(),
        schema_version: facts.schema_version,
        created_at: souk_core::clock::iso_millis(now_ms),
        created_at_ms: now_ms,
        file: file_name(&data_path),
        bytes,
        sha256,
        rows: facts.rows,
        data_key_check: facts.data_key_check,
        key_file: key_path.as_deref().map(file_name),
    };
    let manifest_path = dir.join(format!("{base}{MANIFEST_SUFFIX}"));
    let partial = dir.join(format!(".{base}{MANIFEST_SUFFIX}.partial"));
    let text = serde_json::to_string_pretty(&manifest)
        .map_err(|e| BackupError::Refused(format!("cannot write the manifest: {e}")))?;
    std::fs::write(&partial, text + "\n")
        .and_then(|()| std::fs::rename(&partial, &manifest_path))
        .map_err(io(format!("cannot write {}", manifest_path.display())))?;
    Ok(Taken {
        manifest_path,
        data_path,
        key_path,
        manifest,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

async fn take_sqlite(
    store: &Store,
    dir: &Path,
    base: &str,
) -> Result<(PathBuf, BackupFacts), BackupError> {
    let copy = dir.join(format!(".{base}.db.partial"));
    let _ = std::fs::remove_file(&copy);
    let facts = store.sqlite_snapshot(&copy).await;
    let facts = match facts {
        Ok(f) => f,
        Err(e) => {
            let _ = std::fs::remove_file(&copy);
            return Err(e.into());
        }
    };
    let out = dir.join(format!("{base}{SQLITE_SUFFIX}"));
    let partial = dir.join(format!(".{base}{SQLITE_SUFFIX}.partial"));
    let compressed = tokio::task::spawn_blocking({
        let (copy, partial) = (copy.clone(), partial.clone());
        move || compress(&copy, &partial)
    })
    .await
    .map_err(|e| BackupError::Refused(format!("compression task failed: {e}")))?;
    let _ = std::fs::remove_file(&copy);
    compressed?;
    std::fs::rename(&partial, &out).map_err(io(format!("cannot write {}", out.display())))?;
    Ok((out, facts))
}

fn compress(from: &Path, to: &Path) -> Result<(), BackupError> {
    let mut input =
        std::fs::File::open(from).map_err(io(format!("cannot read {}", from.display())))?;
    let output = std::fs::File::create(to).map_err(io(format!("cannot write {}", to.display())))?;
    let mut gz = flate2::write::GzEncoder::new(output, flate2::Compression::default());
    std::io::copy(&mut input, &mut gz).map_err(io(format!("cannot write {}", to.display())))?;
    let file = gz
        .finish()
        .map_err(io(format!("cannot write {}", to.display())))?;
    file.sync_all()
        .map_err(io(format!("cannot write {}", to.display())))
}

fn decompress(from: &Path, to: &Path) -> Result<(), BackupError> {
    let input = std::fs::File::open(from).map_err(io(format!("cannot read {}", from.display())))?;
    let mut gz = flate2::read::GzDecoder::new(std::io::BufReader::new(input));
    let mut output =
        std::fs::File::create(to).map_err(io(format!("cannot write {}", to.display())))?;
    std::io::copy(&mut gz, &mut output).map_err(|_| BackupError::Corrupted {
        file: file_name(from),
    })?;
    output
        .sync_all()
        .map_err(io(format!("cannot write {}", to.display())))
}

/// The server's major version, for the message on a missing `pg_dump`.
async fn server_major(url: &str) -> String {
    souk_store::backup::postgres_server_major(url)
        .await
        .map_or_else(|| "NN".into(), |n| n.to_string())
}

/// `SOUK_PG_DUMP` / `SOUK_PG_RESTORE` name the tools (default: found on `PATH`).
fn tool(variable: &str, default: &str) -> String {
    std::env::var(variable)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

async fn take_postgres(
    store: &Store,
    url: &str,
    dir: &Path,
    base: &str,
) -> Result<(PathBuf, BackupFacts), BackupError> {
    let pg_dump = tool("SOUK_PG_DUMP", "pg_dump");
    if std::process::Command::new(&pg_dump)
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(BackupError::NoPgDump {
            version: server_major(url).await,
        });
    }
    let mut snapshot = store.postgres_snapshot(url).await?;
    let facts = snapshot.facts().await?;
    let out = dir.join(format!("{base}{POSTGRES_SUFFIX}"));
    let partial = dir.join(format!(".{base}{POSTGRES_SUFFIX}.partial"));
    let dumped = tokio::process::Command::new(&pg_dump)
        .arg("--format=custom")
        .arg(format!("--snapshot={}", snapshot.id))
        .arg(format!("--file={}", partial.display()))
        .arg(format!("--dbname={url}"))
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(io("cannot run pg_dump"))?;
    snapshot.end().await?;
    if !dumped.status.success() {
        let _ = std::fs::remove_file(&partial);
        let said = String::from_utf8_lossy(&dumped.stderr);
        return Err(BackupError::Refused(format!(
            "pg_dump failed: {}",
            said.trim().replace('\n', " ")
        )));
    }
    std::fs::rename(&partial, &out).map_err(io(format!("cannot write {}", out.display())))?;
    Ok((out, facts))
}

/// Keeps the newest `keep` backups in `dir` (by their manifests), removing the files
/// of older ones. Answers how many were removed.
pub fn prune(dir: &Path, keep: usize) -> Result<usize, BackupError> {
    let mut bases: Vec<String> = std::fs::read_dir(dir)
        .map_err(io(format!("cannot list {}", dir.display())))?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_suffix(MANIFEST_SUFFIX)
                .filter(|b| b.starts_with("souk-"))
                .map(str::to_owned)
        })
        .collect();
    bases.sort();
    let old = bases.len().saturating_sub(keep);
    for base in &bases[..old] {
        for suffix in [SQLITE_SUFFIX, POSTGRES_SUFFIX, KEY_SUFFIX, MANIFEST_SUFFIX] {
            let _ = std::fs::remove_file(dir.join(format!("{base}{suffix}")));
        }
    }
    Ok(old)
}

/// The scheduled backup of `souk serve`: `SOUK_BACKUP_DIR` (none: no schedule),
/// `SOUK_BACKUP_EVERY` (default 24h), `SOUK_BACKUP_KEEP` (default 7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

pub fn schedule_from_env() -> anyhow::Result<Option<Schedule>> {
    use anyhow::{bail, Context};
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    let Some(dir) = var("SOUK_BACKUP_DIR") else {
        for name in ["SOUK_BACKUP_EVERY", "SOUK_BACKUP_KEEP"] {
            if var(name).is_some() {
                bail!("{name} is set but SOUK_BACKUP_DIR is not: set the folder backups go to");
            }
        }
        return Ok(None);
    };
    let every = match var("SOUK_BACKUP_EVERY") {
        None => Duration::from_secs(24 * 3600),
        Some(v) => crate::config::parse_duration(&v).context("SOUK_BACKUP_EVERY")?,
    };
    if every < Duration::from_secs(1) {
        bail!("SOUK_BACKUP_EVERY must be at least 1s");
    }
    let keep = match var("SOUK_BACKUP_KEEP") {
        None => 7,
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if n >= 1 => n,
            _ => bail!("SOUK_BACKUP_KEEP must be a whole number of at least 1, got {v:?}"),
        },
    };
    Ok(Some(Schedule {
        dir: PathBuf::from(dir),
        every,
        keep,
    }))
}

/// Runs the schedule until the task is aborted: a backup every `every` (the first one
/// `every` after the start), then the old ones pruned. A failure is logged and tried
/// again at the next turn.
pub async fn run_schedule(url: String, schedule: Schedule) {
    let mut ticker =
        tokio::time::interval_at(tokio::time::Instant::now() + schedule.every, schedule.every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = souk_core::clock::Clock::now_ms(&souk_core::clock::SystemClock);
        match take(&url, &schedule.dir, None, now).await {
            Ok(taken) => {
                let removed = prune(&schedule.dir, schedule.keep).unwrap_or(0);
                tracing::info!(
                    file = %taken.data_path.display(),
                    bytes = taken.manifest.bytes,
                    removed,
                    "scheduled backup written"
                );
            }
            Err(e) => {
                tracing::error!(error = %e, dir = %schedule.dir.display(), "scheduled backup failed")
            }
        }
    }
}

/// What a restore did.
#[derive(Debug)]
pub struct Restored {
    pub manifest: Manifest,
    /// Where the data key from the backup was written, when it was used.
    pub key_written: Option<PathBuf>,
}

/// The manifest and data file a `--from` path names (either of them).
pub fn locate(from: &Path) -> Result<(PathBuf, Manifest, PathBuf), BackupError> {
    let name = file_name(from);
    let base = [MANIFEST_SUFFIX, SQLITE_SUFFIX, POSTGRES_SUFFIX, KEY_SUFFIX]
        .iter()
        .find_map(|s| name.strip_suffix(s))
        .ok_or_else(|| {
            BackupError::Refused(format!(
                "{} is not a Souk backup (expected a file ending in {MANIFEST_SUFFIX}, {SQLITE_SUFFIX} or {POSTGRES_SUFFIX})",
                from.display()
            ))
        })?;
    let dir = from.parent().unwrap_or(Path::new("."));
    let manifest_path = dir.join(format!("{base}{MANIFEST_SUFFIX}"));
    let text = std::fs::read_to_string(&manifest_path).map_err(io(format!(
        "cannot read the backup's manifest {}",
        manifest_path.display()
    )))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        BackupError::Refused(format!(
            "the backup's manifest {} cannot be read: {e}",
            manifest_path.display()
        ))
    })?;
    if manifest.format != FORMAT {
        return Err(BackupError::Refused(format!(
            "the backup's manifest is of format {:?}; this Souk reads {FORMAT:?}",
            manifest.format
        )));
    }
    let data = dir.join(&manifest.file);
    if manifest.file.contains('/') || manifest.file.contains('\\') || !data.is_file() {
        return Err(BackupError::Refused(format!(
            "the backup's data file {} is missing",
            data.display()
        )));
    }
    Ok((manifest_path, manifest, data))
}

/// Restores the backup `from` names into the database at `url`; `key` is the data key
/// found for `url` (`config::data_key`). Runs every check first, then writes.
pub async fn restore(
    from: &Path,
    url: &str,
    key: DataKey,
    force: bool,
) -> Result<Restored, BackupError> {
    let (_, manifest, data) = locate(from)?;
    let engine = engine_of(url)?;
    if manifest.engine != engine_name(engine) {
        return Err(BackupError::Refused(format!(
            "this backup is of a {} database and cannot be restored into {}",
            manifest.engine,
            souk_store::redact_url(url)
        )));
    }
    let (sha, _) = sha256_file(&data)?;
    if sha != manifest.sha256 {
        return Err(BackupError::Corrupted {
            file: manifest.file.clone(),
        });
    }
    // The key: the one found for the target, else the backup's own.
    let backup_key = match &manifest.key_file {
        None => None,
        Some(name) => {
            let path = data.with_file_name(name);
            let text = std::fs::read_to_string(&path).map_err(io(format!(
                "cannot read the backup's key {}",
                path.display()
            )))?;
            Some(souk_store::Crypto::parse_key(&text)?)
        }
    };
    let (key_bytes, write_key_to) = match (&key, backup_key) {
        (DataKey::Given(k), _) => (Some(*k), None),
        (DataKey::Fresh { path, .. }, Some(k)) => (Some(k), Some(path.clone())),
        (DataKey::Fresh { path, .. }, None) => {
            if manifest.data_key_check.is_some() {
                return Err(BackupError::NoKey {
                    where_: format!(
                        "SOUK_DATA_KEY is unset and {} does not exist",
                        path.display()
                    ),
                });
            }
            (None, None)
        }
    };
    if let (Some(check), Some(k)) = (&manifest.data_key_check, &key_bytes) {
        if !souk_store::backup::key_opens_check(k, check) {
            return Err(BackupError::WrongKey);
        }
    }
    // The target must be empty.
    let tables = target_tables(url).await?;
    if tables > 0 && !force {
        return Err(BackupError::NotEmpty {
            url: souk_store::redact_url(url),
            tables,
        });
    }
    match engine {
        Engine::Sqlite => restore_sqlite(&data, url, &manifest).await?,
        Engine::Postgres => restore_postgres(&data, url, tables > 0).await?,
    }
    if let Some(path) = &write_key_to {
        if let Some(k) = &key_bytes {
            write_private(path, &hex::encode(k)).map_err(io(format!(
                "cannot write the data key file {}",
                path.display()
            )))?;
        }
    }
    Ok(Restored {
        manifest,
        key_written: write_key_to,
    })
}

async fn target_tables(url: &str) -> Result<i64, BackupError> {
    if let Some(path) = sqlite_path(url) {
        let has_data = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        if !has_data {
            return Ok(0);
        }
        let store = Store::connect(url, &[0u8; 32], 2).await?;
        let n = store.table_count().await;
        store.close().await;
        return Ok(n?);
    }
    let store = Store::connect(url, &[0u8; 32], 2).await?;
    let n = store.table_count().await;
    store.close().await;
    Ok(n?)
}

async fn restore_sqlite(data: &Path, url: &str, manifest: &Manifest) -> Result<(), BackupError> {
    let target = sqlite_path(url).ok_or_else(|| {
        BackupError::Refused("a SQLite backup is restored into a sqlite://FILE URL".into())
    })?;
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).map_err(io(format!("cannot create {}", dir.display())))?;
    let partial = dir.join(format!(".{}.restoring", file_name(&target)));
    let _ = std::fs::remove_file(&partial);
    let unpacked = tokio::task::spawn_blocking({
        let (data, partial) = (data.to_path_buf(), partial.clone());
        move || decompress(&data, &partial)
    })
    .await
    .map_err(|e| BackupError::Refused(format!("decompression task failed: {e}")))?;
    let checked = match unpacked {
        Ok(()) => souk_store::backup::sqlite_file_facts(&partial)
            .await
            .map_err(|_| BackupError::Corrupted {
                file: manifest.file.clone(),
            }),
        Err(e) => Err(e),
    };
    match checked {
        Ok(facts) if facts.rows == manifest.rows => {}
        Ok(_) => {
            let _ = std::fs::remove_file(&partial);
            return Err(BackupError::Corrupted {
                file: manifest.file.clone(),
            });
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    }
    for suffix in ["-wal", "-shm"] {
        let mut side = target.clone().into_os_string();
        side.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(side));
    }
    std::fs::rename(&partial, &target).map_err(io(format!("cannot write {}", target.display())))
}

async fn restore_postgres(data: &Path, url: &str, replace: bool) -> Result<(), BackupError> {
    let pg_restore = tool("SOUK_PG_RESTORE", "pg_restore");
    if std::process::Command::new(&pg_restore)
        .arg("--version")
        .output()
        .is_err()
    {
        return Err(BackupError::NoPgRestore);
    }
    if replace {
        souk_store::backup::reset_postgres_schema(url).await?;
    }
    let out = tokio::process::Command::new(&pg_restore)
        .args([
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
        ])
        .arg(format!("--dbname={url}"))
        .arg(data)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(io("cannot run pg_restore"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr);
        return Err(BackupError::Refused(format!(
            "pg_restore failed: {}",
            said.trim().replace('\n', " ")
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time() {
        assert_eq!(stamp(0), "19700101T000000.000Z");
        assert!(stamp(1_000) < stamp(2_000));
        assert_eq!(
            sqlite_path("sqlite://data/shop.db?mode=rwc"),
            Some(PathBuf::from("data/shop.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://db/souk"), None);
    }

    #[test]
    fn prune_keeps_the_newest_whole_backups() {
        let dir = std::env::temp_dir().join(format!("souk-prune-{}", hex::encode(rand_bytes())));
        std::fs::create_dir_all(&dir).expect("dir");
        for ms in [1_000, 2_000, 3_000] {
            let base = format!("souk-{}", stamp(ms));
            for suffix in [SQLITE_SUFFIX, MANIFEST_SUFFIX, KEY_SUFFIX] {
                std::fs::write(dir.join(format!("{base}{suffix}")), "x").expect("write");
            }
        }
        std::fs::write(dir.join("notes.txt"), "kept").expect("write");
        assert_eq!(prune(&dir, 2).ok(), Some(1));
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .expect("list")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 7, "{left:?}");
        assert!(left.iter().all(|n| !n.contains(&stamp(1_000))), "{left:?}");
        assert!(left.contains(&"notes.txt".to_owned()));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_path_that_is_no_backup_is_refused_by_name() {
        let refused = locate(Path::new("/tmp/souk.db"))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            refused.as_deref(),
            Some("/tmp/souk.db is not a Souk backup (expected a file ending in .manifest.json, .sqlite.gz or .pgdump)")
        );
    }

    fn rand_bytes() -> [u8; 6] {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or_default();
        let pid = std::process::id();
        let mut out = [0u8; 6];
        out[..4].copy_from_slice(&nanos.to_le_bytes());
        out[4..].copy_from_slice(&(pid as u16).to_le_bytes());
        out
    }
}
