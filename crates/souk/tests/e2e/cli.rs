//! The `souk` binary: the command-line forms of SPEC 13 and a real server process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::engine_test;
use crate::harness::{Kind, TestDb};

/// Runs `souk ARGS` on the test database with the test data key, in a fresh directory:
/// (exit status ok, stdout, stderr).
pub(crate) fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let key = hex::encode(crate::harness::DATA_KEY);
    souk_in(db, dir.path(), &[("SOUK_DATA_KEY", key.as_str())], args)
}

/// Runs `souk ARGS` on the test database from `dir`, with `env` (and no data key unless
/// `env` gives one).
fn souk_in(
    db: &TestDb,
    dir: &std::path::Path,
    env: &[(&str, &str)],
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env_remove("SOUK_DATA_KEY")
        .env_remove("SOUK_KEY_FILE")
        .envs(env.iter().copied())
        .env("SOUK_LOG", "warn")
        .current_dir(dir)
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

engine_test!(admin_commands, |db| {
    let (ok, out, _) = souk(db, &["migrate"]);
    assert!(ok, "{out}");
    let (ok, out, err) = souk(
        db,
        &[
            "admin",
            "user",
            "create",
            "--email",
            "Ann@Example.com",
            "--balance",
            "10",
        ],
    );
    assert!(ok, "{err}");
    let key = out.lines().last().expect("key line").to_owned();
    assert!(
        key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{out}"
    );
    let (ok, out, err) = souk(
        db,
        &[
            "admin",
            "balance",
            "add",
            "--email",
            "ann@example.com",
            "--amount",
            "5.5",
            "--note",
            "bonus",
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("15.50"), "{out}");
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "balance",
            "add",
            "--email",
            "ann@example.com",
            "--amount",
            "-20",
        ],
    );
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("below zero"), "{err}");
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "balance",
            "add",
            "--email",
            "ann@example.com",
            "--amount",
            "-0.5",
        ],
    );
    assert!(ok, "{err}");
    let store = db.store().await;
    let user = store
        .user_id_by_email("ann@example.com")
        .await
        .expect("lookup")
        .expect("user");
    assert_eq!(
        store.balance(&user).await.expect("balance").display2(),
        "15.00"
    );
    let ledger = store.ledger(&user, 10).await.expect("ledger");
    assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), 15_000_000);
    assert_eq!(
        store
            .authenticate(&key)
            .await
            .expect("auth")
            .map(|u| u.user_id),
        Some(user)
    );
    for bad in [
        vec!["admin", "user", "create", "--email", "ann@example.com"],
        vec!["admin", "user", "create", "--email", "not-an-email"],
        vec![
            "admin",
            "user",
            "create",
            "--email",
            "b@example.com",
            "--balance",
            "1.2.3",
        ],
        vec![
            "admin",
            "balance",
            "add",
            "--email",
            "nobody@example.com",
            "--amount",
            "1",
        ],
        vec![
            "admin",
            "balance",
            "add",
            "--email",
            "ann@example.com",
            "--amount",
            "0",
        ],
    ] {
        let (ok, _, err) = souk(db, &bad);
        assert!(!ok, "{bad:?} should fail");
        assert_eq!(err.trim().lines().count(), 1, "{bad:?}: {err}");
        assert!(err.starts_with("souk: "), "{err}");
    }
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "--database-url",
            "mysql://x",
            "user",
            "create",
            "--email",
            "c@example.com",
        ],
    );
    assert!(!ok && err.contains("unsupported database URL"), "{err}");
});

engine_test!(serve_demo_answers_and_stops_on_sigterm, |db| {
    let dir = tempfile::tempdir().expect("dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_LOG", "warn")
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("line").expect("utf8");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .to_owned();
    let second = lines.next().expect("line").expect("utf8");
    let key = second.rsplit(' ').next().expect("key").to_owned();
    let http = reqwest::Client::new();
    let services: serde_json::Value = http
        .post(format!("{url}/api/v2"))
        .form(&[("key", key.as_str()), ("action", "services")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let rows = services["services"].as_array().expect("rows");
    let smm = rows.iter().filter(|r| r["entityType"] == "smm").count();
    let products = rows.iter().filter(|r| r["entityType"] == "product").count();
    assert!(
        smm >= 30 && products >= 40,
        "{smm} SMM, {products} products"
    );
    let categories: serde_json::Value = http
        .post(format!("{url}/api/v2"))
        .form(&[
            ("key", key.as_str()),
            ("action", "categories"),
            ("lang", "zh"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let list = categories["categories"].as_array().expect("list");
    assert!(list.len() >= 6);
    assert!(
        list.iter()
            .map(|c| c["subcategories"].as_array().map_or(0, Vec::len))
            .sum::<usize>()
            >= 15
    );
    let balance: serde_json::Value = http
        .post(format!("{url}/api/v2"))
        .form(&[("key", key.as_str()), ("action", "balance")])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(balance, json!({"balance": "100.00", "currency": "USD"}));
    // SIGTERM: a clean exit.
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
});

/// Where `souk` keeps a generated key when neither SOUK_DATA_KEY nor SOUK_KEY_FILE is set.
fn default_key_file(db: &TestDb, cwd: &std::path::Path) -> std::path::PathBuf {
    match db.kind {
        Kind::Sqlite => {
            std::path::Path::new(db.url.trim_start_matches("sqlite://")).with_file_name("souk.key")
        }
        Kind::Postgres => cwd.join("souk.key"),
    }
}

/// Asserts a refusal: non-zero exit, one line on stderr naming the way out.
fn assert_key_refused((ok, _, err): (bool, String, String), what: &str) {
    assert!(!ok, "{what}: accepted");
    assert_eq!(err.trim().lines().count(), 1, "{what}: {err}");
    assert!(
        err.starts_with("souk: ") && err.contains("SOUK_DATA_KEY") && err.contains("SOUK_KEY_FILE"),
        "{what}: {err}"
    );
}

engine_test!(the_data_key_is_checked_against_the_database, |db| {
    let home = tempfile::tempdir().expect("dir");
    let elsewhere = tempfile::tempdir().expect("dir");
    let checks = "SELECT COUNT(*) FROM settings WHERE key = 'data_key_check'";
    // First start: no key anywhere, so one is generated, written and recorded.
    let (ok, _, err) = souk_in(db, home.path(), &[], &["migrate"]);
    assert!(ok, "{err}");
    let file = default_key_file(db, home.path());
    let key = std::fs::read_to_string(&file)
        .expect("key file")
        .trim()
        .to_owned();
    assert_eq!(key.len(), 64, "{key}");
    assert_eq!(db.scalar(checks).await, 1);
    // Restarts reuse it, from the file or from SOUK_DATA_KEY.
    let (ok, _, err) = souk_in(db, home.path(), &[], &["migrate"]);
    assert!(ok, "{err}");
    let (ok, out, err) = souk_in(
        db,
        elsewhere.path(),
        &[("SOUK_DATA_KEY", key.as_str())],
        &["admin", "user", "create", "--email", "ann@example.com"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.lines().last().map(str::len), Some(40), "{out}");
    let file_text = file.display().to_string();
    let (ok, _, err) = souk_in(
        db,
        elsewhere.path(),
        &[("SOUK_KEY_FILE", file_text.as_str())],
        &["admin", "audit"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read_to_string(&file).expect("key file").trim(),
        key
    );
    // Another key is refused, whichever way it comes.
    let wrong = hex::encode([9u8; 32]);
    assert_key_refused(
        souk_in(
            db,
            home.path(),
            &[("SOUK_DATA_KEY", wrong.as_str())],
            &["migrate"],
        ),
        "wrong SOUK_DATA_KEY",
    );
    // The wrong key stops the start before it migrates: with the newest migration made
    // pending again, the refusal leaves it pending.
    db.exec(
        "CREATE TABLE held_migration AS SELECT * FROM _sqlx_migrations \
         WHERE version = (SELECT MAX(version) FROM _sqlx_migrations)",
    )
    .await;
    db.exec("DELETE FROM _sqlx_migrations WHERE version IN (SELECT version FROM held_migration)")
        .await;
    let applied = "SELECT COUNT(*) FROM _sqlx_migrations";
    let pending = db.scalar(applied).await;
    assert_key_refused(
        souk_in(
            db,
            home.path(),
            &[("SOUK_DATA_KEY", wrong.as_str())],
            &["migrate"],
        ),
        "wrong SOUK_DATA_KEY, a migration pending",
    );
    assert_eq!(db.scalar(applied).await, pending, "nothing migrated");
    db.exec("INSERT INTO _sqlx_migrations SELECT * FROM held_migration")
        .await;
    db.exec("DROP TABLE held_migration").await;
    let wrong_file = elsewhere.path().join("other.key");
    std::fs::write(&wrong_file, &wrong).expect("write");
    let wrong_file_text = wrong_file.display().to_string();
    assert_key_refused(
        souk_in(
            db,
            home.path(),
            &[("SOUK_KEY_FILE", wrong_file_text.as_str())],
            &["admin", "audit"],
        ),
        "wrong SOUK_KEY_FILE",
    );
    // No key at all (another node, an admin run elsewhere): no new key is made up.
    let missing = elsewhere.path().join("missing.key");
    let missing_text = missing.display().to_string();
    assert_key_refused(
        souk_in(
            db,
            elsewhere.path(),
            &[("SOUK_KEY_FILE", missing_text.as_str())],
            &["admin", "user", "create", "--email", "bob@example.com"],
        ),
        "no key",
    );
    assert!(
        !missing.exists(),
        "a key was generated for a database that has one"
    );
    if db.kind == Kind::Postgres {
        assert_key_refused(
            souk_in(db, elsewhere.path(), &[], &["migrate"]),
            "no key file here",
        );
        assert!(!elsewhere.path().join("souk.key").exists());
    }
    assert_eq!(db.scalar(checks).await, 1);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM users WHERE email = 'bob@example.com'")
            .await,
        0
    );
});

engine_test!(sealed_data_from_before_the_check_keeps_its_key, |db| {
    // A database written before check values existed: stock sealed with the test key.
    let store = db.store().await;
    crate::fixtures::load(&store).await;
    store.close().await;
    let dir = tempfile::tempdir().expect("dir");
    let wrong = hex::encode([9u8; 32]);
    assert_key_refused(
        souk_in(
            db,
            dir.path(),
            &[("SOUK_DATA_KEY", wrong.as_str())],
            &["migrate"],
        ),
        "a key that cannot open the stock",
    );
    let missing = dir.path().join("fresh.key");
    let missing_text = missing.display().to_string();
    assert_key_refused(
        souk_in(
            db,
            dir.path(),
            &[("SOUK_KEY_FILE", missing_text.as_str())],
            &["migrate"],
        ),
        "a generated key",
    );
    assert!(!missing.exists());
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM settings WHERE key = 'data_key_check'")
            .await,
        0
    );
    let key = hex::encode(crate::harness::DATA_KEY);
    let (ok, _, err) = souk_in(
        db,
        dir.path(),
        &[("SOUK_DATA_KEY", key.as_str())],
        &["admin", "audit"],
    );
    assert!(ok, "{err}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM settings WHERE key = 'data_key_check'")
            .await,
        1
    );
});
