//! `souk backup`, `souk restore` and the scheduled backup of `souk serve`: a backup taken
//! while orders flow restores every order acknowledged before it began, with the audit
//! passing; a restore refuses a corrupted file, a wrong or missing key and a non-empty
//! target, each by its message, with nothing changed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use souk_core::catalogue::ProductType;
use souk_core::{Money, Text};
use souk_store::Store;

use crate::engine_test;
use crate::fixtures;
use crate::harness::{wait_for, Kind, ServerProcess, TestApp, TestDb, DATA_KEY};

/// Runs `souk ARGS` from `dir` with `env` (no data key unless `env` gives one):
/// (exit status ok, stdout, stderr).
pub(crate) fn souk_with(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env_remove("SOUK_DATABASE_URL")
        .env_remove("SOUK_DATA_KEY")
        .env_remove("SOUK_KEY_FILE")
        .env_remove("SOUK_BACKUP_DIR")
        .env("SOUK_LOG", "warn")
        // Exact messages on standard error: no progress lines among them.
        .env("SOUK_PROGRESS_AFTER", "1h")
        .envs(env.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

pub(crate) fn test_key() -> String {
    hex::encode(DATA_KEY)
}

/// An inventory product with `lines` stock lines; returns its number.
async fn stocked_product(store: &Store, lines: usize) -> i64 {
    let f = fixtures::load_minimal(store).await;
    let spec = fixtures::one_variant_product(
        (&f.0, &f.1),
        ProductType::Inventory,
        Text::new("Backup Mail"),
        "0.10",
        (1, 1000),
        0,
    );
    let (number, _, subs, _) = store.create_service(&spec, 0).await.expect("product");
    let stock: Vec<String> = (0..lines).map(|n| format!("line-{n:05}:secret")).collect();
    store
        .add_stock_lines(&subs[0], &stock, false, 0)
        .await
        .expect("stock");
    number
}

async fn buyer(store: &Store, email: &str) -> String {
    store
        .create_user(
            &souk_store::NewUser {
                email: email.into(),
                name: String::new(),
                password_hash: None,
                is_supplier: false,
                initial_balance: Money::parse("1000").expect("amount"),
            },
            0,
        )
        .await
        .expect("buyer")
        .1
}

/// A database to restore into: a file not yet made, or a new empty PostgreSQL database
/// (dropped by `drop_target`).
pub(crate) struct Target {
    pub url: String,
    dir: tempfile::TempDir,
    pg_name: Option<String>,
}

impl Target {
    pub async fn new(db: &TestDb) -> Target {
        let dir = tempfile::tempdir().expect("dir");
        match db.kind {
            Kind::Sqlite => Target {
                url: format!("sqlite://{}", dir.path().join("restored.db").display()),
                dir,
                pg_name: None,
            },
            Kind::Postgres => {
                let admin = std::env::var("SOUK_TEST_DATABASE_URL").expect("admin url");
                let name = format!("souk_restore_{}", hex::encode(rand::random::<[u8; 6]>()));
                pg_exec(&admin, &format!("CREATE DATABASE {name}")).await;
                let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
                Target {
                    url: format!("{base}/{name}"),
                    dir,
                    pg_name: Some(name),
                }
            }
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub async fn drop_target(self) {
        if let Some(name) = &self.pg_name {
            let admin = std::env::var("SOUK_TEST_DATABASE_URL").expect("admin url");
            pg_exec(
                &admin,
                &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
            )
            .await;
        }
    }
}

async fn pg_exec(url: &str, sql: &str) {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
    sqlx::raw_sql(sql).execute(&mut c).await.expect("exec");
    let _ = c.close().await;
}

/// One integer from a query on any database URL.
pub(crate) async fn scalar_at(url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        let n = sqlx::query_scalar(sql)
            .fetch_one(&mut c)
            .await
            .expect("scalar");
        let _ = c.close().await;
        n
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        let n = sqlx::query_scalar(sql)
            .fetch_one(&mut c)
            .await
            .expect("scalar");
        let _ = c.close().await;
        n
    }
}

async fn table_count(url: &str) -> i64 {
    if url.starts_with("sqlite:") {
        scalar_at(
            url,
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
        .await
    } else {
        scalar_at(
            url,
            "SELECT COUNT(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
        )
        .await
    }
}

/// pg_dump and pg_restore on `PATH`, or a note that the PostgreSQL half is skipped.
fn pg_tools_present(db: &TestDb) -> bool {
    if db.kind != Kind::Postgres {
        return true;
    }
    let present = ["pg_dump", "pg_restore"]
        .iter()
        .all(|t| Command::new(t).arg("--version").output().is_ok());
    if !present {
        eprintln!(
            "skipped: pg_dump or pg_restore is not installed (apt-get install postgresql-client)"
        );
    }
    present
}

fn manifests(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(".manifest.json"))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

pub(crate) fn the_manifest(dir: &Path) -> PathBuf {
    let found = manifests(dir);
    assert_eq!(found.len(), 1, "one backup in {}", dir.display());
    found[0].clone()
}

fn data_file(manifest: &Path) -> PathBuf {
    let text = std::fs::read_to_string(manifest).expect("manifest");
    let m: serde_json::Value = serde_json::from_str(&text).expect("json");
    manifest.with_file_name(m["file"].as_str().expect("file"))
}

engine_test!(
    backup_during_orders_restores_every_acknowledged_order,
    |db| {
        if !pg_tools_present(db) {
            return;
        }
        let work = tempfile::tempdir().expect("dir");
        // `souk migrate` records the data key's check value, as every start does.
        let key = test_key();
        let env = [
            ("SOUK_DATABASE_URL", db.url.as_str()),
            ("SOUK_DATA_KEY", key.as_str()),
        ];
        let (ok, _, err) = souk_with(work.path(), &env, &["migrate"]);
        assert!(ok, "{err}");
        let app = TestApp::spawn(db).await;
        let number = stocked_product(&app.store, 4000).await;
        app.catalogue_changed().await;
        let mut keys = Vec::new();
        for n in 0..4 {
            keys.push(buyer(&app.store, &format!("load{n}@example.com")).await);
        }
        // The load: four buyers ordering in a loop; each acknowledged order is noted with
        // the instant its answer arrived.
        let stop = Arc::new(AtomicBool::new(false));
        let acked: Arc<Mutex<Vec<(Instant, i64)>>> = Arc::default();
        let mut load = Vec::new();
        for key in keys {
            let (stop, acked, http, api) =
                (stop.clone(), acked.clone(), app.http.clone(), app.api());
            load.push(tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let answer: serde_json::Value = http
                        .post(&api)
                        .form(&[
                            ("key", key.as_str()),
                            ("action", "add"),
                            ("service", &number.to_string()),
                            ("quantity", "1"),
                        ])
                        .send()
                        .await
                        .expect("send")
                        .json()
                        .await
                        .expect("json");
                    let id = answer["order"]
                        .as_i64()
                        .unwrap_or_else(|| panic!("{answer}"));
                    acked.lock().expect("lock").push((Instant::now(), id));
                }
            }));
        }
        wait_for(30, "orders flowing", || {
            let n = acked.lock().expect("lock").len();
            async move { n >= 40 }
        })
        .await;
        let backups = work.path().join("backups");
        let began = Instant::now();
        let to = backups.display().to_string();
        let (ok, out, err) = tokio::task::spawn_blocking({
            let (dir, url) = (work.path().to_path_buf(), db.url.clone());
            move || {
                souk_with(
                    &dir,
                    &[("SOUK_DATABASE_URL", url.as_str())],
                    &["backup", "--to", &to],
                )
            }
        })
        .await
        .expect("join");
        let ended = Instant::now();
        assert!(ok, "{err}");
        // Orders went on after the backup, then the load stops.
        let after = acked.lock().expect("lock").len();
        wait_for(30, "orders after the backup", || {
            let n = acked.lock().expect("lock").len();
            async move { n >= after + 10 }
        })
        .await;
        stop.store(true, Ordering::Relaxed);
        for task in load {
            task.await.expect("load task");
        }
        let acked = acked.lock().expect("lock").clone();
        let before: Vec<i64> = acked
            .iter()
            .filter(|(t, _)| *t < began)
            .map(|(_, id)| *id)
            .collect();
        let during = acked
            .iter()
            .filter(|(t, _)| *t >= began && *t <= ended)
            .count();
        eprintln!(
        "backup took {} ms; {} orders acknowledged before it began, {during} while it ran, {} in all",
        (ended - began).as_millis(),
        before.len(),
        acked.len()
    );
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("backup written: "), "{out}");
        assert!(lines[1].starts_with("manifest: "), "{out}");
        assert!(
            lines[2].starts_with("data key: NOT in the backup; keep "),
            "{out}"
        );
        let manifest = the_manifest(&backups);
        let m: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&manifest).expect("read")).expect("json");
        assert_eq!(m["format"], "souk-backup/1");
        assert_eq!(
            m["engine"],
            if db.kind == Kind::Sqlite {
                "sqlite"
            } else {
                "postgres"
            }
        );
        assert_eq!(
            m["schema_version"],
            Store::latest_schema_version(match db.kind {
                Kind::Sqlite => souk_store::Engine::Sqlite,
                Kind::Postgres => souk_store::Engine::Postgres,
            })
        );
        assert!(m["data_key_check"].is_string(), "{m}");
        assert!(m["key_file"].is_null(), "{m}");
        assert!(
            !m.to_string().contains(&test_key()),
            "the key is not in the manifest"
        );
        let orders_in_backup = m["rows"]["orders"].as_i64().expect("orders");
        assert!(orders_in_backup >= before.len() as i64);
        app.stop().await;

        let target = Target::new(db).await;
        let from = manifest.display().to_string();
        let env = [("SOUK_DATA_KEY", key.as_str())];
        let (ok, out, err) = souk_with(
            target.dir(),
            &env,
            &["restore", "--from", &from, "--database-url", &target.url],
        );
        assert!(ok, "{err}\n{out}");
        assert_eq!(
            out.lines().last(),
            Some("restore complete: all invariants hold"),
            "{out}"
        );
        let restored = scalar_at(&target.url, "SELECT COUNT(*) FROM orders").await;
        assert_eq!(restored, orders_in_backup);
        let ids = before
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let kept = scalar_at(
            &target.url,
            &format!("SELECT COUNT(*) FROM orders WHERE id IN ({ids})"),
        )
        .await;
        assert_eq!(
            kept,
            before.len() as i64,
            "every order acknowledged before the backup"
        );
        // Every restored order has its delivered line, which opens with the key.
        let delivered = scalar_at(
            &target.url,
            "SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL",
        )
        .await;
        assert_eq!(delivered, restored);
        target.drop_target().await;
    }
);

engine_test!(
    restore_refuses_corruption_wrong_keys_and_full_targets,
    |db| {
        if !pg_tools_present(db) {
            return;
        }
        let work = tempfile::tempdir().expect("dir");
        let key = test_key();
        let env = [
            ("SOUK_DATABASE_URL", db.url.as_str()),
            ("SOUK_DATA_KEY", key.as_str()),
        ];
        let (ok, _, err) = souk_with(work.path(), &env, &["migrate"]);
        assert!(ok, "{err}");
        let store = db.store().await;
        buyer(&store, "kept@example.com").await;
        store.close().await;
        let plain = work.path().join("plain");
        let keyed = work.path().join("keyed");
        let (ok, _, err) = souk_with(
            work.path(),
            &env,
            &["backup", "--to", &plain.display().to_string()],
        );
        assert!(ok, "{err}");
        let (ok, out, err) = souk_with(
            work.path(),
            &env,
            &["backup", "--to", &keyed.display().to_string(), "--with-key"],
        );
        assert!(ok, "{err}");
        assert!(
            out.lines()
                .nth(2)
                .is_some_and(|l| l.starts_with("data key: ")
                    && l.ends_with(".key (keep it as safe as the database itself)")),
            "{out}"
        );
        let manifest = the_manifest(&plain);
        let from = manifest.display().to_string();

        // A wrong key.
        let target = Target::new(db).await;
        let other = hex::encode([9u8; 32]);
        let (ok, _, err) = souk_with(
            target.dir(),
            &[("SOUK_DATA_KEY", other.as_str())],
            &["restore", "--from", &from, "--database-url", &target.url],
        );
        assert!(!ok);
        assert_eq!(err.trim(), "souk: the data key does not match the backup (the backup's key check value does not open with it); set SOUK_DATA_KEY or SOUK_KEY_FILE to the key the backup was taken with");
        // No key at all, and none in the backup.
        let (ok, _, err) = souk_with(
            target.dir(),
            &[],
            &["restore", "--from", &from, "--database-url", &target.url],
        );
        assert!(!ok);
        let key_path = match db.kind {
            Kind::Sqlite => target.dir().join("restored.key"),
            Kind::Postgres => target.dir().join("souk.key"),
        };
        let key_shown = match db.kind {
            Kind::Sqlite => key_path.display().to_string(),
            Kind::Postgres => "souk.key".to_owned(),
        };
        assert_eq!(err.trim(), format!("souk: no data key found (SOUK_DATA_KEY is unset and {key_shown} does not exist) and the backup holds none (it was taken without --with-key); set SOUK_DATA_KEY or SOUK_KEY_FILE to the key the backup was taken with"));
        // A corrupted file.
        let broken = work.path().join("broken");
        std::fs::create_dir_all(&broken).expect("dir");
        for entry in std::fs::read_dir(&plain).expect("list") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), broken.join(entry.file_name())).expect("copy");
        }
        let broken_data = data_file(&the_manifest(&broken));
        let mut bytes = std::fs::read(&broken_data).expect("read");
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x5a;
        std::fs::write(&broken_data, bytes).expect("write");
        let broken_from = broken_data.display().to_string();
        let (ok, _, err) = souk_with(
            target.dir(),
            &[("SOUK_DATA_KEY", key.as_str())],
            &[
                "restore",
                "--from",
                &broken_from,
                "--database-url",
                &target.url,
            ],
        );
        assert!(!ok);
        let name = broken_data
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        assert_eq!(err.trim(), format!("souk: the backup file {name} is corrupted: its SHA-256 differs from the manifest's"));
        // Nothing was written by any refusal.
        match db.kind {
            Kind::Sqlite => assert!(!target.dir().join("restored.db").exists()),
            Kind::Postgres => assert_eq!(table_count(&target.url).await, 0),
        }
        assert!(!key_path.exists());

        // A non-empty target: the source itself, unchanged after.
        let tables = table_count(&db.url).await;
        let users = db.scalar("SELECT COUNT(*) FROM users").await;
        let (ok, _, err) = souk_with(
            work.path(),
            &[("SOUK_DATA_KEY", key.as_str())],
            &["restore", "--from", &from, "--database-url", &db.url],
        );
        assert!(!ok);
        assert_eq!(err.trim(), format!("souk: the target database {} is not empty ({tables} tables); pass --force to replace it", souk_store::redact_url(&db.url)));
        assert_eq!(db.scalar("SELECT COUNT(*) FROM users").await, users);

        // The backup that holds its key restores without one, and leaves the key beside
        // the database.
        let keyed_from = the_manifest(&keyed).display().to_string();
        let (ok, out, err) = souk_with(
            target.dir(),
            &[],
            &[
                "restore",
                "--from",
                &keyed_from,
                "--database-url",
                &target.url,
            ],
        );
        assert!(ok, "{err}\n{out}");
        assert!(
            out.contains(&format!("data key from the backup written to {key_shown}")),
            "{out}"
        );
        assert_eq!(std::fs::read_to_string(&key_path).expect("key").trim(), key);
        assert_eq!(
            scalar_at(
                &target.url,
                "SELECT COUNT(*) FROM users WHERE email = 'kept@example.com'"
            )
            .await,
            1
        );
        // --force replaces a database that is not empty.
        db.exec("DELETE FROM api_keys WHERE user_id IN (SELECT id FROM users WHERE email = 'kept@example.com')").await;
        db.exec("DELETE FROM ledger WHERE user_id IN (SELECT id FROM users WHERE email = 'kept@example.com')").await;
        db.exec("DELETE FROM users WHERE email = 'kept@example.com'")
            .await;
        let (ok, out, err) = souk_with(
            work.path(),
            &[("SOUK_DATA_KEY", key.as_str())],
            &[
                "restore",
                "--from",
                &from,
                "--database-url",
                &db.url,
                "--force",
            ],
        );
        assert!(ok, "{err}\n{out}");
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM users WHERE email = 'kept@example.com'")
                .await,
            1
        );
        db.assert_audit_clean().await;

        if db.kind == Kind::Postgres {
            let (ok, _, err) = souk_with(
                work.path(),
                &[
                    ("SOUK_DATABASE_URL", db.url.as_str()),
                    ("SOUK_PG_DUMP", "/nonexistent/pg_dump"),
                ],
                &["backup", "--to", &plain.display().to_string()],
            );
            assert!(!ok);
            let major = scalar_at(
                &db.url,
                "SELECT CAST(current_setting('server_version_num') AS BIGINT) / 10000",
            )
            .await;
            assert_eq!(err.trim(), format!("souk: pg_dump is not installed: install the PostgreSQL client tools of the server's major version (Debian: apt-get install postgresql-client-{major}), or back the database up with the tools of its host (pg_dump --format=custom, or the provider's snapshots)"));
        }
        target.drop_target().await;
    }
);

engine_test!(serve_takes_scheduled_backups_and_keeps_the_newest, |db| {
    if !pg_tools_present(db) {
        return;
    }
    let backups = tempfile::tempdir().expect("dir");
    let dir = backups.path().display().to_string();
    let server = ServerProcess::spawn_with_env(
        db,
        &[
            ("SOUK_BACKUP_DIR", dir.as_str()),
            ("SOUK_BACKUP_EVERY", "1s"),
            ("SOUK_BACKUP_KEEP", "2"),
        ],
    )
    .await;
    wait_for(30, "two scheduled backups", || {
        let n = manifests(backups.path()).len();
        async move { n >= 2 }
    })
    .await;
    let first = manifests(backups.path());
    wait_for(30, "a third scheduled backup", || {
        let now = manifests(backups.path());
        let newer = now.iter().any(|m| !first.contains(m));
        async move { newer }
    })
    .await;
    server.stop();
    let kept = manifests(backups.path());
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(!kept.contains(&first[0]), "the oldest went");
    for m in &kept {
        assert!(data_file(m).is_file());
    }
    // Settings that do not read stop the start.
    let work = tempfile::tempdir().expect("dir");
    let key = test_key();
    let (ok, _, err) = souk_with(
        work.path(),
        &[
            ("SOUK_DATABASE_URL", db.url.as_str()),
            ("SOUK_DATA_KEY", key.as_str()),
            ("SOUK_BACKUP_DIR", dir.as_str()),
            ("SOUK_BACKUP_KEEP", "0"),
        ],
        &["serve", "--listen", "127.0.0.1:0"],
    );
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "souk: SOUK_BACKUP_KEEP must be a whole number of at least 1, got \"0\""
    );
});
