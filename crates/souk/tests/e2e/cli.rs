//! The `souk` binary: the command-line forms of SPEC 13 and a real server process.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::engine_test;
use crate::harness::TestDb;

fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(crate::harness::DATA_KEY))
        .env("SOUK_LOG", "warn")
        .current_dir(dir.path())
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
