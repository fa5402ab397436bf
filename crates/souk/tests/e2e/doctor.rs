//! `souk doctor` finds each fault put in its way: a missing key file, a wrong key, an
//! unreachable provider, a full disk (a free-space threshold above what any disk has),
//! a pending migration; and says nothing is wrong when nothing is.

use crate::backup::{souk_with, test_key, the_manifest};
use crate::engine_test;

/// The lines of the doctor's report that are not `ok`.
fn findings(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with("ok "))
        .map(str::to_owned)
        .collect()
}

engine_test!(doctor_finds_each_fault, |db| {
    let work = tempfile::tempdir().expect("dir");
    let backups = work.path().join("backups");
    std::fs::create_dir_all(&backups).expect("dir");
    let backups = backups.display().to_string();
    let key = test_key();
    let healthy = [
        ("SOUK_DATABASE_URL", db.url.as_str()),
        ("SOUK_DATA_KEY", key.as_str()),
        ("SOUK_BACKUP_DIR", backups.as_str()),
        ("SOUK_DOCTOR_MIN_FREE_MB", "1"),
        ("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1"),
    ];
    let (ok, _, err) = souk_with(work.path(), &healthy, &["migrate"]);
    assert!(ok, "{err}");
    let (ok, out, err) = souk_with(work.path(), &healthy, &["doctor"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(findings(&out), vec!["0 fault(s), 0 warning(s)"], "{out}");
    let latest = souk_store::Store::latest_schema_version(match db.kind {
        crate::harness::Kind::Sqlite => souk_store::Engine::Sqlite,
        crate::harness::Kind::Postgres => souk_store::Engine::Postgres,
    });
    assert!(
        out.contains(&format!("ok    migrations: schema {latest} is current")),
        "{out}"
    );
    assert!(
        out.contains("ok    data key: matches this database"),
        "{out}"
    );

    // A missing key file.
    let key_path = match crate::harness::Kind::Sqlite == db.kind {
        true => std::path::Path::new(db.url.trim_start_matches("sqlite://"))
            .with_file_name("souk.key")
            .display()
            .to_string(),
        false => "souk.key".to_owned(),
    };
    let no_key: Vec<(&str, &str)> = healthy
        .iter()
        .copied()
        .filter(|(k, _)| *k != "SOUK_DATA_KEY")
        .collect();
    let (ok, out, err) = souk_with(work.path(), &no_key, &["doctor"]);
    assert!(!ok);
    assert_eq!(err.trim(), "souk: doctor found 1 fault(s)");
    assert_eq!(
        findings(&out),
        vec![
            format!("FAULT data key: missing: SOUK_DATA_KEY is unset and {key_path} does not exist"),
            "      fix: put the key file back from where you keep it (a backup taken with --with-key holds one), or point SOUK_KEY_FILE at it; a new database makes its own at the first souk migrate".to_owned(),
            "WARN  providers: not checked: the database must be migrated and its data key found first".to_owned(),
            "      fix: fix the faults above and run souk doctor again".to_owned(),
            "1 fault(s), 1 warning(s)".to_owned(),
        ]
    );

    // A wrong key.
    let other = hex::encode([9u8; 32]);
    let wrong: Vec<(&str, &str)> = healthy
        .iter()
        .map(|(k, v)| {
            if *k == "SOUK_DATA_KEY" {
                (*k, other.as_str())
            } else {
                (*k, *v)
            }
        })
        .collect();
    let (ok, out, _) = souk_with(work.path(), &wrong, &["doctor"]);
    assert!(!ok);
    assert_eq!(
        findings(&out)[..2],
        [
            "FAULT data key: does not match this database: nothing sealed (stock lines, provider keys) opens with it".to_owned(),
            "      fix: set SOUK_DATA_KEY or SOUK_KEY_FILE to the key this database was created with".to_owned(),
        ]
    );

    // An unreachable provider.
    let (ok, _, err) = souk_with(
        work.path(),
        &healthy,
        &[
            "admin",
            "provider",
            "add",
            "--name",
            "Gone",
            "--url",
            "http://127.0.0.1:9/api/v2",
            "--key",
            "k",
        ],
    );
    assert!(ok, "{err}");
    let (ok, out, err) = souk_with(work.path(), &healthy, &["doctor"]);
    assert!(!ok);
    assert_eq!(err.trim(), "souk: doctor found 1 fault(s)");
    let found = findings(&out);
    assert!(
        found[0].starts_with("FAULT provider Gone: unreachable at http://127.0.0.1:9/api/v2: "),
        "{out}"
    );
    assert!(
        found[1].starts_with("      fix: check its URL and key (souk admin provider update "),
        "{out}"
    );
    db.exec("UPDATE providers SET enabled = FALSE").await;

    // A full disk: less free than the threshold asks.
    let full: Vec<(&str, &str)> = healthy
        .iter()
        .map(|(k, v)| {
            if *k == "SOUK_DOCTOR_MIN_FREE_MB" {
                (*k, "999999999")
            } else {
                (*k, *v)
            }
        })
        .collect();
    let (ok, out, _) = souk_with(work.path(), &full, &["doctor"]);
    assert!(!ok);
    let disk: Vec<String> = findings(&out)
        .into_iter()
        .filter(|l| l.contains(" disk: "))
        .collect();
    assert!(!disk.is_empty(), "{out}");
    for line in &disk {
        assert!(
            line.starts_with("FAULT disk: ") && line.ends_with(", under 999999999 MiB"),
            "{line}"
        );
    }
    assert!(
        out.contains(&format!(
            "free for the backups ({backups}), under 999999999 MiB"
        )),
        "{out}"
    );

    // A disk that is really full, where the machine lets the test mount a 1 MiB tmpfs.
    if let Some(tiny) = TinyDisk::mount() {
        let place = tiny.dir.display().to_string();
        let full: Vec<(&str, &str)> = healthy
            .iter()
            .map(|(k, v)| match *k {
                "SOUK_DOCTOR_MIN_FREE_MB" => (*k, "2"),
                "SOUK_BACKUP_DIR" => (*k, place.as_str()),
                _ => (*k, *v),
            })
            .collect();
        let (ok, out, err) = souk_with(work.path(), &full, &["doctor"]);
        assert!(!ok);
        assert_eq!(err.trim(), "souk: doctor found 1 fault(s)");
        assert!(
            out.lines()
                .any(|l| l
                    == format!("FAULT disk: 1 MiB free for the backups ({place}), under 2 MiB")),
            "{out}"
        );
    } else {
        eprintln!("a 1 MiB tmpfs cannot be mounted here: the full disk is the threshold's alone");
    }

    // A pending migration: the newest one forgotten by the database.
    let latest = souk_store::Store::latest_schema_version(match db.kind {
        crate::harness::Kind::Sqlite => souk_store::Engine::Sqlite,
        crate::harness::Kind::Postgres => souk_store::Engine::Postgres,
    });
    db.exec(&format!(
        "CREATE TABLE _doctor_saved AS SELECT * FROM _sqlx_migrations WHERE version = {latest}"
    ))
    .await;
    db.exec(&format!(
        "DELETE FROM _sqlx_migrations WHERE version = {latest}"
    ))
    .await;
    // Versions need not be consecutive: the schema is at the newest one left.
    let previous = db.scalar("SELECT MAX(version) FROM _sqlx_migrations").await;
    let (ok, out, _) = souk_with(work.path(), &healthy, &["doctor"]);
    assert!(!ok);
    assert_eq!(
        findings(&out)[..2],
        [
            format!("FAULT migrations: 1 pending ({latest:04}); the schema is at {previous}"),
            "      fix: take a backup (souk backup --to DIR), then run souk migrate".to_owned(),
        ]
    );
    db.exec("INSERT INTO _sqlx_migrations SELECT * FROM _doctor_saved")
        .await;
    db.exec("DROP TABLE _doctor_saved").await;
    let (ok, out, err) = souk_with(work.path(), &healthy, &["doctor"]);
    assert!(ok, "{out}\n{err}");
});

/// A 1 MiB tmpfs, unmounted when dropped (`None` where mounting is not allowed).
struct TinyDisk {
    dir: std::path::PathBuf,
    _holder: tempfile::TempDir,
}

impl TinyDisk {
    fn mount() -> Option<TinyDisk> {
        let holder = tempfile::tempdir().ok()?;
        let dir = holder.path().join("tiny");
        std::fs::create_dir(&dir).ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&dir)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        mounted.then_some(TinyDisk {
            dir,
            _holder: holder,
        })
    }
}

impl Drop for TinyDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

/// The settings of a healthy installation on the database at `url`.
fn on_database<'a>(url: &'a str, key: &'a str, backups: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("SOUK_DATABASE_URL", url),
        ("SOUK_DATA_KEY", key),
        ("SOUK_BACKUP_DIR", backups),
        ("SOUK_DOCTOR_MIN_FREE_MB", "1"),
    ]
}

/// A SQLite database made with SQLite's default 4096-byte pages (every database made
/// before `souk_store::SQLITE_PAGE_SIZE`) still serves, `souk doctor` names its pages,
/// and the backup of it, restored into a new file, has the smaller pages.
#[tokio::test]
async fn doctor_names_large_sqlite_pages_and_a_restored_backup_has_small_ones() {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sqlx::{ConnectOptions, Connection};
    use std::str::FromStr;

    let work = tempfile::tempdir().expect("dir");
    let old = format!("sqlite://{}", work.path().join("old.db").display());
    let options = SqliteConnectOptions::from_str(&old)
        .expect("url")
        .create_if_missing(true)
        .page_size(4096)
        .journal_mode(SqliteJournalMode::Wal);
    options
        .connect()
        .await
        .expect("create")
        .close()
        .await
        .expect("close");
    let key = test_key();
    let backups = work.path().display().to_string();
    let old_env = on_database(&old, &key, &backups);
    let (ok, _, err) = souk_with(work.path(), &old_env, &["migrate"]);
    assert!(ok, "{err}");
    let (ok, out, err) = souk_with(work.path(), &old_env, &["doctor", "--offline"]);
    assert!(ok, "a warning is not a fault: {out}\n{err}");
    assert_eq!(
        findings(&out),
        vec![
            "WARN  database: SQLite pages of 4096 bytes, where a new database has 2048: every order writes more to the log".to_owned(),
            "      fix: stop the node, souk backup --to DIR, souk restore --from DIR/<the backup>.manifest.json --database-url sqlite://NEW.db, and serve NEW.db (the copy has the smaller pages)".to_owned(),
            "0 fault(s), 1 warning(s)".to_owned(),
        ],
        "{out}"
    );

    let copies = work.path().join("copies");
    let (ok, _, err) = souk_with(
        work.path(),
        &old_env,
        &["backup", "--to", &copies.display().to_string()],
    );
    assert!(ok, "{err}");
    let copy = the_manifest(&copies).display().to_string();
    let new = format!("sqlite://{}", work.path().join("new.db").display());
    let (ok, _, err) = souk_with(
        work.path(),
        &old_env,
        &["restore", "--from", &copy, "--database-url", &new],
    );
    assert!(ok, "{err}");
    let new_env = on_database(&new, &key, &backups);
    let (ok, out, err) = souk_with(work.path(), &new_env, &["doctor", "--offline"]);
    assert!(ok, "{out}\n{err}");
    assert_eq!(findings(&out), vec!["0 fault(s), 0 warning(s)"], "{out}");
    assert!(
        out.contains("ok    database: SQLite pages of 2048 bytes"),
        "{out}"
    );
}
