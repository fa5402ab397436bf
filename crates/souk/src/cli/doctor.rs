//! `souk doctor`: what is wrong with this installation, and how to fix it. Changes
//! nothing but what checking needs (a provider's balance, asked, is recorded as the
//! `provider check` command records it). Exits non-zero on a fault.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use souk_core::clock::{Clock, SystemClock};
use souk_store::{Store, SQLITE_PAGE_SIZE};

use super::DatabaseArg;
use crate::config::{self, DataKey};

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Skip calling providers, gateways and the SMTP relay.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub db: DatabaseArg,
}

/// Free space below this many MiB is a fault (`SOUK_DOCTOR_MIN_FREE_MB`, default 1024).
const DEFAULT_MIN_FREE_MB: u64 = 1024;
/// A database clock further than this from ours is a fault.
const MAX_SKEW_MS: i64 = 2_000;
/// How long a provider, gateway or relay may take to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Ok,
    Warn,
    Fault,
}

#[derive(Default)]
struct Findings {
    faults: usize,
    warnings: usize,
}

impl Findings {
    fn say(&mut self, level: Level, area: &str, what: &str, fix: &str) {
        let tag = match level {
            Level::Ok => "ok   ",
            Level::Warn => {
                self.warnings += 1;
                "WARN "
            }
            Level::Fault => {
                self.faults += 1;
                "FAULT"
            }
        };
        println!("{tag} {area}: {what}");
        if level != Level::Ok && !fix.is_empty() {
            println!("      fix: {fix}");
        }
    }
}

pub async fn run(args: DoctorArgs) -> anyhow::Result<()> {
    let url = &args.db.database_url;
    let mut f = Findings::default();
    configuration(&mut f);
    let key = data_key(&mut f, url);
    if let Some(store) = database(&mut f, url, key.as_ref()).await {
        let migrated = migrations(&mut f, &store).await;
        let key_ok = key_matches(&mut f, &store, key.as_ref()).await;
        clock(&mut f, &store).await;
        sqlite_pages(&mut f, &store).await;
        if migrated && key_ok && !args.offline {
            upstreams(&mut f, &store).await;
            notifications(&mut f, &store).await;
        } else if !args.offline {
            f.say(
                Level::Warn,
                "providers",
                "not checked: the database must be migrated and its data key found first",
                "fix the faults above and run souk doctor again",
            );
        }
        if migrated {
            jobs(&mut f, &store).await;
        }
        store.close().await;
    }
    disk(&mut f, url);
    println!("{} fault(s), {} warning(s)", f.faults, f.warnings);
    if f.faults > 0 {
        bail!("doctor found {} fault(s)", f.faults);
    }
    Ok(())
}

fn configuration(f: &mut Findings) {
    let checks: [(&str, anyhow::Result<()>); 6] = [
        ("SOUK_* API settings", config::api_config().map(|_| ())),
        (
            "SOUK_DB_MAX_CONNECTIONS",
            config::max_connections().map(|_| ()),
        ),
        (
            "SOUK_SQLITE_SYNCHRONOUS",
            config::sqlite_synchronous().map(|_| ()),
        ),
        ("SOUK_SYNC_INTERVAL", config::sync_interval().map(|_| ())),
        (
            "SOUK_BACKUP_*",
            crate::backup::schedule_from_env().map(|_| ()),
        ),
        ("SOUK_DOCTOR_MIN_FREE_MB", min_free_mb().map(|_| ())),
    ];
    let mut bad = 0;
    for (what, result) in checks {
        if let Err(e) = result {
            bad += 1;
            f.say(
                Level::Fault,
                "configuration",
                &super::error_line(&e),
                &format!("correct {what} in the environment (see the README's Configuration)"),
            );
        }
    }
    if bad == 0 {
        f.say(Level::Ok, "configuration", "every SOUK_* setting reads", "");
    }
    if std::env::var_os("SOUK_BACKUP_DIR").is_none() {
        f.say(
            Level::Warn,
            "backups",
            "no scheduled backup (SOUK_BACKUP_DIR is unset)",
            "set SOUK_BACKUP_DIR (and SOUK_BACKUP_EVERY, SOUK_BACKUP_KEEP), or run souk backup --to DIR from cron",
        );
    }
}

fn min_free_mb() -> anyhow::Result<u64> {
    match std::env::var("SOUK_DOCTOR_MIN_FREE_MB") {
        Ok(v) if !v.trim().is_empty() => v.trim().parse().map_err(|_| {
            anyhow::anyhow!("SOUK_DOCTOR_MIN_FREE_MB must be a whole number of MiB, got {v:?}")
        }),
        _ => Ok(DEFAULT_MIN_FREE_MB),
    }
}

fn data_key(f: &mut Findings, url: &str) -> Option<[u8; 32]> {
    match config::data_key(url) {
        Ok(DataKey::Given(key)) => {
            let from = if std::env::var("SOUK_DATA_KEY").is_ok_and(|v| !v.trim().is_empty()) {
                "SOUK_DATA_KEY".to_owned()
            } else {
                config::key_file_path(url).display().to_string()
            };
            f.say(Level::Ok, "data key", &format!("read from {from}"), "");
            Some(key)
        }
        Ok(DataKey::Fresh { path, .. }) => {
            f.say(
                Level::Fault,
                "data key",
                &format!(
                    "missing: SOUK_DATA_KEY is unset and {} does not exist",
                    path.display()
                ),
                "put the key file back from where you keep it (a backup taken with --with-key holds one), or point SOUK_KEY_FILE at it; a new database makes its own at the first souk migrate",
            );
            None
        }
        Err(e) => {
            f.say(
                Level::Fault,
                "data key",
                &super::error_line(&e),
                "the key is 64 hex characters: restore the file from your backup",
            );
            None
        }
    }
}

async fn database(f: &mut Findings, url: &str, key: Option<&[u8; 32]>) -> Option<Store> {
    let shown = souk_store::redact_url(url);
    if let Some(path) = crate::backup::sqlite_path(url) {
        if !path.is_file() {
            f.say(
                Level::Fault,
                "database",
                &format!("the database file {} does not exist", path.display()),
                "run souk migrate to create it, or souk restore --from BACKUP to bring one back",
            );
            return None;
        }
    }
    let store = match Store::connect(url, key.unwrap_or(&[0u8; 32]), 2).await {
        Ok(store) => store,
        Err(e) => {
            f.say(
                Level::Fault,
                "database",
                &format!("cannot open {shown}: {e}"),
                "check SOUK_DATABASE_URL, that the server runs and that its user may connect",
            );
            return None;
        }
    };
    match store.ping().await {
        Ok(()) => {
            f.say(Level::Ok, "database", &format!("{shown} answers"), "");
            Some(store)
        }
        Err(e) => {
            f.say(
                Level::Fault,
                "database",
                &format!("{shown} does not answer: {e}"),
                "check SOUK_DATABASE_URL, that the server runs and that its user may connect",
            );
            store.close().await;
            None
        }
    }
}

fn versions(list: &[i64]) -> String {
    list.iter()
        .map(|v| format!("{v:04}"))
        .collect::<Vec<_>>()
        .join(", ")
}

async fn migrations(f: &mut Findings, store: &Store) -> bool {
    let state = match store.migration_state().await {
        Ok(s) => s,
        Err(e) => {
            f.say(
                Level::Fault,
                "migrations",
                &format!("cannot be read: {e}"),
                "",
            );
            return false;
        }
    };
    let mut ok = true;
    if !state.unknown.is_empty() {
        ok = false;
        f.say(
            Level::Fault,
            "migrations",
            &format!(
                "the database has migrations this Souk does not know ({}): a newer Souk migrated it",
                versions(&state.unknown)
            ),
            "run the Souk version that migrated it (or newer)",
        );
    }
    if !state.changed.is_empty() {
        ok = false;
        f.say(
            Level::Fault,
            "migrations",
            &format!(
                "applied migrations differ from this Souk's files ({})",
                versions(&state.changed)
            ),
            "run the Souk release the database was migrated with",
        );
    }
    if !state.pending.is_empty() {
        ok = false;
        f.say(
            Level::Fault,
            "migrations",
            &format!(
                "{} pending ({}); the schema is at {}",
                state.pending.len(),
                versions(&state.pending),
                state.applied
            ),
            "take a backup (souk backup --to DIR), then run souk migrate",
        );
    }
    if ok {
        f.say(
            Level::Ok,
            "migrations",
            &format!("schema {} is current", state.applied),
            "",
        );
    }
    ok
}

async fn key_matches(f: &mut Findings, store: &Store, key: Option<&[u8; 32]>) -> bool {
    let Some(key) = key else { return false };
    let facts = match store.backup_facts().await {
        Ok(facts) => facts,
        Err(e) => {
            f.say(
                Level::Fault,
                "data key",
                &format!("cannot be compared: {e}"),
                "",
            );
            return false;
        }
    };
    match facts.data_key_check {
        Some(check) if souk_store::backup::key_opens_check(key, &check) => {
            f.say(Level::Ok, "data key", "matches this database", "");
            true
        }
        Some(_) => {
            f.say(
                Level::Fault,
                "data key",
                "does not match this database: nothing sealed (stock lines, provider keys) opens with it",
                "set SOUK_DATA_KEY or SOUK_KEY_FILE to the key this database was created with",
            );
            false
        }
        None => {
            f.say(
                Level::Warn,
                "data key",
                "this database has recorded no key yet",
                "start souk serve or run souk migrate once: it records the key",
            );
            true
        }
    }
}

/// A SQLite database made with larger pages than a new one gets writes more to its log
/// for every order (`souk_store::SQLITE_PAGE_SIZE`); SQLite cannot change that in place,
/// but the copy `souk backup` writes has the new size.
async fn sqlite_pages(f: &mut Findings, store: &Store) {
    match store.sqlite_page_size().await {
        Ok(None) => {}
        Ok(Some(size)) if size == SQLITE_PAGE_SIZE => f.say(
            Level::Ok,
            "database",
            &format!("SQLite pages of {size} bytes"),
            "",
        ),
        Ok(Some(size)) => f.say(
            Level::Warn,
            "database",
            &format!(
                "SQLite pages of {size} bytes, where a new database has {SQLITE_PAGE_SIZE}: every order writes more to the log"
            ),
            "stop the node, souk backup --to DIR, souk restore --from DIR/<the backup>.manifest.json --database-url sqlite://NEW.db, and serve NEW.db (the copy has the smaller pages)",
        ),
        Err(e) => f.say(
            Level::Warn,
            "database",
            &format!("its page size cannot be read: {e}"),
            "",
        ),
    }
}

async fn clock(f: &mut Findings, store: &Store) {
    let ours = SystemClock.now_ms();
    match store.database_now_ms().await {
        Ok(theirs) => {
            let skew = theirs - ours;
            if skew.abs() > MAX_SKEW_MS {
                f.say(
                    Level::Fault,
                    "clock",
                    &format!("the database's clock is {skew} ms off this machine's"),
                    "run NTP (chrony, systemd-timesyncd) on both machines: holds, leases and early-cancel waits are timed",
                );
            } else {
                f.say(
                    Level::Ok,
                    "clock",
                    &format!("within {} ms of the database's", skew.abs()),
                    "",
                );
            }
        }
        Err(e) => f.say(
            Level::Fault,
            "clock",
            &format!("cannot read the database's: {e}"),
            "",
        ),
    }
}

async fn upstreams(f: &mut Findings, store: &Store) {
    let allow_private = config::allow_private_upstreams();
    let now = SystemClock.now_ms();
    match store.providers().await {
        Ok(providers) => {
            for p in providers.iter().filter(|p| p.enabled) {
                let area = format!("provider {}", p.name);
                let asked = tokio::time::timeout(
                    CALL_TIMEOUT,
                    souk_app::providers::check_balance(store, &p.id, allow_private, now),
                )
                .await;
                match asked {
                    Ok(Ok((balance, currency))) if balance.micros() <= 0 => f.say(
                        Level::Warn,
                        &area,
                        &format!("reachable, but its balance is {} {currency}", balance.display2()),
                        "top up the account at the provider: orders sent to it will fail",
                    ),
                    Ok(Ok((balance, currency))) => f.say(
                        Level::Ok,
                        &area,
                        &format!("reachable, balance {} {currency}", balance.display2()),
                        "",
                    ),
                    Ok(Err(e)) => f.say(
                        Level::Fault,
                        &area,
                        &format!("unreachable at {}: {e}", p.url),
                        &format!("check its URL and key (souk admin provider update {} ...), or disable it", p.id),
                    ),
                    Err(_) => f.say(
                        Level::Fault,
                        &area,
                        &format!("no answer from {} within {} s", p.url, CALL_TIMEOUT.as_secs()),
                        &format!("check its URL and that it is up, or disable it (souk admin provider update {} ...)", p.id),
                    ),
                }
            }
            if providers.is_empty() {
                f.say(Level::Ok, "providers", "none connected", "");
            }
        }
        Err(e) => f.say(
            Level::Fault,
            "providers",
            &format!("cannot be read: {e}"),
            "",
        ),
    }
    match store.gateways().await {
        Ok(gateways) => {
            for g in gateways.iter().filter(|g| g.enabled && g.id != "manual") {
                let area = format!("gateway {}", g.id);
                let asked = tokio::time::timeout(
                    CALL_TIMEOUT,
                    souk_app::payments::check_gateway(store, allow_private, &g.id),
                )
                .await;
                match asked {
                    Ok(Ok(said)) => f.say(Level::Ok, &area, &format!("keys work: {said}"), ""),
                    Ok(Err(e)) => f.say(
                        Level::Fault,
                        &area,
                        &format!("{e}"),
                        &format!(
                            "check its keys and address (souk admin gateway ... {})",
                            g.id
                        ),
                    ),
                    Err(_) => f.say(
                        Level::Fault,
                        &area,
                        &format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
                        "check its address, or disable it",
                    ),
                }
            }
        }
        Err(e) => f.say(
            Level::Fault,
            "gateways",
            &format!("cannot be read: {e}"),
            "",
        ),
    }
}

async fn notifications(f: &mut Findings, store: &Store) {
    match store.failing_webhook_endpoints().await {
        Ok(failing) => {
            for (id, url, disabled) in &failing {
                f.say(
                    Level::Warn,
                    "webhooks",
                    &if *disabled {
                        format!("endpoint {id} ({url}) was disabled after failing")
                    } else {
                        format!("endpoint {id} ({url}) is failing")
                    },
                    "check the receiver; its owner re-enables it from the account page",
                );
            }
            if failing.is_empty() {
                f.say(Level::Ok, "webhooks", "no endpoint failing", "");
            }
        }
        Err(e) => f.say(
            Level::Fault,
            "webhooks",
            &format!("cannot be read: {e}"),
            "",
        ),
    }
    match store.telegram_settings().await {
        Ok(Some(t)) if t.enabled && t.token.trim().is_empty() => f.say(
            Level::Fault,
            "telegram",
            "enabled without a bot token",
            "souk admin telegram set --token TOKEN, or turn it off",
        ),
        Ok(Some(t)) if t.enabled => f.say(Level::Ok, "telegram", "enabled, token set", ""),
        Ok(_) => f.say(Level::Ok, "telegram", "off", ""),
        Err(e) => f.say(
            Level::Fault,
            "telegram",
            &format!("settings unreadable: {e}"),
            "",
        ),
    }
    match souk_app::mail::settings(store).await {
        Ok(Some((true, s))) => {
            let target = format!("{}:{}", s.host, s.port);
            let reached = tokio::time::timeout(
                CALL_TIMEOUT,
                tokio::net::TcpStream::connect(target.as_str()),
            )
            .await;
            match reached {
                Ok(Ok(_)) => f.say(
                    Level::Ok,
                    "smtp",
                    &format!("relay {target} accepts connections"),
                    "",
                ),
                _ => f.say(
                    Level::Fault,
                    "smtp",
                    &format!("relay {target} cannot be reached"),
                    "check the host and port (souk admin smtp ...), or turn e-mail off",
                ),
            }
        }
        Ok(_) => f.say(Level::Ok, "smtp", "off", ""),
        Err(e) => f.say(Level::Fault, "smtp", &format!("{e}"), ""),
    }
}

async fn jobs(f: &mut Findings, store: &Store) {
    match store.parked_job_count().await {
        Ok(0) => f.say(Level::Ok, "jobs", "none parked", ""),
        Ok(n) => f.say(
            Level::Warn,
            "jobs",
            &format!("{n} parked with an error"),
            "see them with souk admin orders stuck / the operator API's jobs, fix the cause and retry them",
        ),
        Err(e) => f.say(Level::Fault, "jobs", &format!("cannot be read: {e}"), ""),
    }
}

/// Free space where the database and the backups live.
fn disk(f: &mut Findings, url: &str) {
    let Ok(min_mb) = min_free_mb() else { return };
    let mut places: Vec<(String, PathBuf)> = Vec::new();
    if let Some(path) = crate::backup::sqlite_path(url) {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        places.push(("the database".into(), dir));
    }
    if let Some(dir) = std::env::var_os("SOUK_BACKUP_DIR").filter(|d| !d.is_empty()) {
        places.push(("the backups".into(), PathBuf::from(dir)));
    }
    for (what, dir) in places {
        match free_mb(&dir) {
            Some(free) if free < min_mb => f.say(
                Level::Fault,
                "disk",
                &format!(
                    "{} MiB free for {what} ({}), under {min_mb} MiB",
                    free,
                    dir.display()
                ),
                "free space or grow the volume: SQLite refuses writes, sales included, on a full disk",
            ),
            Some(free) => f.say(
                Level::Ok,
                "disk",
                &format!("{free} MiB free for {what} ({})", dir.display()),
                "",
            ),
            None => f.say(
                Level::Warn,
                "disk",
                &format!("free space for {what} ({}) unknown", dir.display()),
                "check it with df",
            ),
        }
    }
}

/// `df -Pk DIR`'s available KiB, in MiB.
fn free_mb(dir: &Path) -> Option<u64> {
    let out = std::process::Command::new("df")
        .arg("-Pk")
        .arg(dir)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().nth(1)?;
    let available: u64 = line.split_whitespace().nth(3)?.parse().ok()?;
    Some(available / 1024)
}
