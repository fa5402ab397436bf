//! `souk backup` and `souk restore` (see `crate::backup`).

use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Args;
use souk_core::clock::{Clock, SystemClock};

use super::DatabaseArg;
use crate::backup;
use crate::config::{self, DataKey};

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The folder the backup goes to (made if missing).
    #[arg(long)]
    pub to: PathBuf,
    /// Keep a copy of the data key beside the backup (without it, keep souk.key safe
    /// yourself: nothing sealed opens without it).
    #[arg(long)]
    pub with_key: bool,
    #[command(flatten)]
    pub db: DatabaseArg,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup: its .manifest.json, or its .sqlite.gz / .pgdump file.
    #[arg(long)]
    pub from: PathBuf,
    /// Replace a database that is not empty.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub db: DatabaseArg,
}

pub async fn run_backup(args: BackupArgs) -> anyhow::Result<()> {
    let url = &args.db.database_url;
    let key = if args.with_key {
        Some(key_for_backup(url).await?)
    } else {
        None
    };
    let started = std::time::Instant::now();
    let progress = crate::progress::Progress::start("taking a backup");
    let taken = backup::take(url, &args.to, key.as_ref(), SystemClock.now_ms()).await;
    drop(progress);
    let taken = taken?;
    let m = &taken.manifest;
    let rows: i64 = m.rows.values().sum();
    println!(
        "backup written: {} ({} bytes, {} rows in {} tables, schema {}, {} ms)",
        taken.data_path.display(),
        m.bytes,
        rows,
        m.rows.len(),
        m.schema_version,
        started.elapsed().as_millis()
    );
    println!("manifest: {}", taken.manifest_path.display());
    match &taken.key_path {
        Some(path) => println!(
            "data key: {} (keep it as safe as the database itself)",
            path.display()
        ),
        None => println!(
            "data key: NOT in the backup; keep {} (or SOUK_DATA_KEY) safe: without it no sealed stock line or provider key opens",
            key_hint(url)
        ),
    }
    Ok(())
}

fn key_hint(url: &str) -> String {
    match config::data_key(url) {
        Ok(DataKey::Given(_)) if std::env::var_os("SOUK_DATA_KEY").is_some() => {
            "the key in SOUK_DATA_KEY".into()
        }
        Ok(DataKey::Given(_)) | Err(_) => config::key_file_path(url).display().to_string(),
        Ok(DataKey::Fresh { path, .. }) => path.display().to_string(),
    }
}

/// The data key to keep beside a backup: found, and the database's own.
async fn key_for_backup(url: &str) -> anyhow::Result<[u8; 32]> {
    let DataKey::Given(key) = config::data_key(url)? else {
        bail!(
            "--with-key: no data key found (SOUK_DATA_KEY is unset and {} does not exist)",
            config::key_file_path(url).display()
        );
    };
    let store = souk_store::Store::connect(url, &key, 2)
        .await
        .with_context(|| format!("cannot open the database {}", souk_store::redact_url(url)))?;
    let check = store.backup_facts().await;
    store.close().await;
    if let Some(check) = check?.data_key_check {
        if !souk_store::backup::key_opens_check(&key, &check) {
            bail!("--with-key: the data key found does not match this database");
        }
    }
    Ok(key)
}

pub async fn run_restore(args: RestoreArgs) -> anyhow::Result<()> {
    let url = &args.db.database_url;
    let key = config::data_key(url)?;
    let progress = crate::progress::Progress::start("checking and restoring the backup");
    let restored = backup::restore(&args.from, url, key, args.force).await;
    drop(progress);
    let restored = restored?;
    let m = &restored.manifest;
    println!(
        "restored {} ({} rows in {} tables, schema {}, taken {} by Souk {})",
        m.file,
        m.rows.values().sum::<i64>(),
        m.rows.len(),
        m.schema_version,
        m.created_at,
        m.souk_version
    );
    if let Some(path) = &restored.key_written {
        println!("data key from the backup written to {}", path.display());
    }
    let progress = crate::progress::Progress::start("migrating and auditing");
    let store = crate::server::open_store(url, 4)
        .await
        .context("restored, but the database did not open")?;
    let state = store.migration_state().await;
    let report = store.audit().await;
    drop(progress);
    store.close().await;
    let state = state?;
    let report = report?;
    println!("migrated to schema {}", state.applied);
    println!(
        "audited {} users, {} orders, {} ledger rows, {} delivered stock lines",
        report.users, report.orders, report.ledger_rows, report.delivered_lines
    );
    for v in &report.violations {
        println!("VIOLATION: {v}");
    }
    if !report.violations.is_empty() {
        bail!(
            "restored, but the audit found {} invariant violation(s)",
            report.violations.len()
        );
    }
    println!("restore complete: all invariants hold");
    Ok(())
}
