//! The `souk` binary against upstreams: `souk api ...` over a fake panel and another
//! Souk, `souk admin provider ...` and `souk admin orders ...`, and `souk worker` doing
//! the forwarding for a `souk serve` that runs none (`SOUK_WORKERS=0`).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{product_service, variant, FakeUpstream, Fault, Shape};
use crate::fixtures;
use crate::harness::{wait_for, ServerProcess, TestApp, TestDb, DATA_KEY};
use crate::providers::{forward_state, panel_services};

/// Runs `souk ARGS` on the test database: (success, stdout, stderr).
pub(crate) fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(DATA_KEY))
        .env("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1")
        .env("SOUK_LOG", "warn")
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `souk ARGS` that must succeed; its standard output.
pub(crate) fn ok(db: &TestDb, args: &[&str]) -> String {
    let (success, out, err) = souk(db, args);
    assert!(success, "souk {args:?} failed: {err}");
    out
}

/// `souk ARGS` that must fail with one line on standard error; that line.
pub(crate) fn fails(db: &TestDb, args: &[&str]) -> String {
    let (success, out, err) = souk(db, args);
    assert!(!success, "souk {args:?} should fail: {out}");
    assert_eq!(err.trim().lines().count(), 1, "souk {args:?}: {err}");
    assert!(err.starts_with("souk: "), "{err}");
    err.trim().to_owned()
}

fn json_out(db: &TestDb, args: &[&str]) -> Value {
    let out = ok(db, args);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

engine_test!(souk_api_speaks_to_a_panel_and_to_another_souk, |db| {
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let api = |rest: &[&str]| -> Vec<String> {
        ["api", "--url", fake.url.as_str(), "--key", "upstream-key"]
            .iter()
            .chain(rest)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let run = |rest: &[&str]| {
        let args = api(rest);
        json_out(db, &args.iter().map(String::as_str).collect::<Vec<_>>())
    };
    assert_eq!(
        run(&["balance"]),
        json!({"balance": "100.84292", "currency": "USD"})
    );
    let services = run(&["services"]);
    assert_eq!(
        services.as_array().map(|rows| rows
            .iter()
            .map(|r| r["service"].clone())
            .collect::<Vec<_>>()),
        Some(vec![json!("11"), json!("12")])
    );
    assert_eq!(
        run(&[
            "add",
            "--service",
            "11",
            "--link",
            "https://instagram.com/p/cli",
            "--quantity",
            "500",
            "--field",
            "comments=first\nsecond",
            "--idempotency-key",
            "cli-1",
        ]),
        json!({"order": "1000"})
    );
    let received = &fake.orders()[0];
    assert_eq!(
        (
            received.link.as_str(),
            received.quantity,
            received.idempotency_key.as_deref(),
            received.fields.get("comments").map(String::as_str)
        ),
        (
            "https://instagram.com/p/cli",
            500,
            Some("cli-1"),
            Some("first\nsecond")
        )
    );
    assert_eq!(run(&["status", "--order", "1000"])["status"], "Pending");
    let multi = run(&["status", "--order", "1000,4242"]);
    assert_eq!(
        (multi["1000"]["status"].clone(), multi["4242"].clone()),
        (json!("Pending"), json!({"error": "Incorrect order ID"}))
    );
    assert_eq!(
        run(&["cancel", "--orders", "1000,4242"]),
        json!([{"order": 1000, "cancel": 1}, {"order": "4242", "cancel": {"error": "Incorrect order ID"}}])
    );
    assert_eq!(fake.orders()[0].status, "Canceled");
    // Refusals and unreachable endpoints fail the command with one line.
    let wrong_key = [
        "api",
        "--url",
        fake.url.as_str(),
        "--key",
        "wrong",
        "balance",
    ];
    assert_eq!(
        fails(db, &wrong_key),
        "souk: upstream refused: Invalid API key"
    );
    let err = fails(
        db,
        &[
            "api",
            "--url",
            "http://127.0.0.1:9/api/v2",
            "--key",
            "k",
            "balance",
        ],
    );
    assert!(err.starts_with("souk: request not sent"), "{err}");

    // Another Souk: the same commands, the seed's shapes.
    let db_b = match db.kind {
        crate::harness::Kind::Sqlite => TestDb::sqlite().await,
        crate::harness::Kind::Postgres => TestDb::postgres().await.expect("PostgreSQL"),
    };
    let f = fixtures::load(&db_b.store().await).await;
    let b = TestApp::spawn(&db_b).await;
    let buyer = b.buyer("cli@b.test", "10").await;
    let b_api = b.api();
    let souk_api = |rest: &[&str]| {
        let args: Vec<&str> = ["api", "--url", b_api.as_str(), "--key", buyer.as_str()]
            .into_iter()
            .chain(rest.iter().copied())
            .collect::<Vec<_>>();
        json_out(db, &args)
    };
    assert_eq!(
        souk_api(&["balance"]),
        json!({"balance": "10.00", "currency": "USD"})
    );
    let listed = souk_api(&["services"]);
    assert!(
        listed["services"]
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r["service"] == f.ig_followers)),
        "{listed}"
    );
    let followers = f.ig_followers.to_string();
    let add = [
        "add",
        "--service",
        &followers,
        "--link",
        "https://instagram.com/p/b",
        "--quantity",
        "1000",
        "--idempotency-key",
        "cli-b-1",
    ];
    let placed = souk_api(&add);
    let number = placed["order"]
        .as_str()
        .unwrap_or_else(|| panic!("{placed}"))
        .to_owned();
    // The same command, so the same key, again: the same order, charged once.
    let again = souk_api(&add);
    assert_eq!(again, json!({ "order": number }));
    let status = souk_api(&["status", "--order", &number]);
    assert_eq!(
        (status["status"].clone(), status["charge"].clone()),
        (json!("Pending"), json!("0.50"))
    );
    assert_eq!(
        souk_api(&["balance"]),
        json!({"balance": "9.50", "currency": "USD"})
    );
    b.stop().await;
    db_b.cleanup().await;
});

engine_test!(souk_admin_provider_prices_imported_variants, |db| {
    ok(db, &["migrate"]);
    let fake = FakeUpstream::start(
        Shape::Hstock,
        false,
        vec![product_service("21", "Netflix", "2.00", (1, 10), 15)],
    )
    .await;
    fake.set_inventory(
        "21",
        vec![variant("v1", "1 Month", 10), variant("v2", "3 Months", 5)],
    );
    let id = ok(
        db,
        &[
            "admin",
            "provider",
            "add",
            "--name",
            "Shop Two",
            "--url",
            &fake.url,
            "--key",
            "upstream-key",
        ],
    )
    .trim()
    .to_owned();
    ok(
        db,
        &[
            "admin",
            "provider",
            "import",
            "--provider",
            &id,
            "--markup",
            "20",
        ],
    );
    let listed = ok(db, &["admin", "provider", "variants", "--provider", &id]);
    let lines: Vec<Vec<&str>> = listed.lines().map(|l| l.split('\t').collect()).collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert_eq!(
        lines.iter().map(|l| l[2..].to_vec()).collect::<Vec<_>>(),
        vec![
            vec![
                "\"Netflix\" / \"1 Month\"",
                "2.40",
                "price set by provider",
                "sold",
                "stock 10"
            ],
            vec![
                "\"Netflix\" / \"3 Months\"",
                "2.40",
                "price set by provider",
                "held back: no price",
                "stock 5"
            ],
        ]
    );
    let three_months = lines[1][0].to_owned();
    assert_eq!(
        fails(
            db,
            &[
                "admin",
                "provider",
                "price",
                "--subproduct",
                &three_months,
                "--price",
                "0"
            ]
        ),
        "souk: price must be above zero"
    );
    let priced = ok(
        db,
        &[
            "admin",
            "provider",
            "price",
            "--subproduct",
            &three_months,
            "--price",
            "7.20",
        ],
    );
    assert_eq!(
        priced.trim().split('\t').skip(2).collect::<Vec<_>>(),
        vec![
            "\"Netflix\" / \"3 Months\"",
            "7.20",
            "price set by operator",
            "sold",
            "stock 5"
        ]
    );
});

engine_test!(souk_admin_provider_and_orders_commands, |db| {
    ok(db, &["migrate"]);
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let id = ok(
        db,
        &[
            "admin",
            "provider",
            "add",
            "--name",
            "Panel One",
            "--url",
            &fake.url,
            "--key",
            "upstream-key",
            "--timeout-ms",
            "2000",
            "--requests-per-second",
            "0",
        ],
    )
    .trim()
    .to_owned();
    assert_eq!(id.len(), 24, "{id}");
    let listed = ok(db, &["admin", "provider", "list"]);
    assert_eq!(
        listed.trim(),
        format!(
            "{id}\tPanel One\tapi_v2\t{}\tenabled\ttimeout 2000ms\t0 rps\tnot idempotent\tbalance unknown",
            fake.url
        )
    );
    let imported = ok(
        db,
        &[
            "admin",
            "provider",
            "import",
            "--provider",
            &id,
            "--markup",
            "20",
            "--round",
            "0.01",
        ],
    );
    assert!(imported.starts_with("imported 2 services: ["), "{imported}");
    let store = db.store().await;
    // Update: every setting at once, shown the way list shows it.
    let updated = ok(
        db,
        &[
            "admin",
            "provider",
            "update",
            "--provider",
            &id,
            "--url",
            "http://127.0.0.1:9/api/v2",
            "--key",
            "new-key",
            "--enabled",
            "false",
            "--timeout",
            "10s",
            "--rps",
            "7",
            "--idempotent",
            "true",
        ],
    );
    assert_eq!(
        updated.trim(),
        format!("{id}\tPanel One\tapi_v2\thttp://127.0.0.1:9/api/v2\tdisabled\ttimeout 10000ms\t7 rps\tidempotent\tbalance unknown")
    );
    let p = store.provider(&id).await.expect("provider");
    assert_eq!(
        (
            p.key.as_str(),
            p.enabled,
            p.timeout_ms,
            p.requests_per_second,
            p.supports_idempotency
        ),
        ("new-key", false, 10_000, 7, true)
    );
    // Bad values change nothing.
    for (bad, why) in [
        (vec!["--timeout", "50ms"], "Timeout must be at least 100 ms"),
        (vec!["--timeout", "soon"], "bad duration"),
        (vec!["--enabled", "maybe"], "invalid value 'maybe'"),
        (
            vec!["--url", "ftp://x.test"],
            "Provider URL must be http(s)",
        ),
        (vec!["--rps=-1"], "the rate not negative"),
        (vec!["--key", " "], "must not be empty"),
    ] {
        let mut args = vec!["admin", "provider", "update", "--provider", id.as_str()];
        args.extend(bad.iter().copied());
        let err = fails(db, &args);
        assert!(err.contains(why), "{bad:?}: {err}");
    }
    assert_eq!(store.provider(&id).await.expect("provider"), p);
    let err = fails(
        db,
        &[
            "admin",
            "provider",
            "update",
            "--provider",
            "nope",
            "--rps",
            "1",
        ],
    );
    assert!(err.contains("not found"), "{err}");
    // Unreachable, then back: check asks for the balance and records it.
    let err = fails(db, &["admin", "provider", "check", "--provider", &id]);
    assert!(err.contains("request not sent"), "{err}");
    ok(
        db,
        &[
            "admin",
            "provider",
            "update",
            "--provider",
            &id,
            "--url",
            &fake.url,
            "--key",
            "upstream-key",
            "--enabled",
            "true",
            "--idempotent",
            "false",
        ],
    );
    assert_eq!(
        ok(db, &["admin", "provider", "check", "--provider", &id]).trim(),
        "balance 100.84292 USD"
    );
    assert!(ok(db, &["admin", "provider", "list"])
        .trim()
        .ends_with("\tbalance 100.84292"),);
    let p = store.provider(&id).await.expect("provider");
    assert_eq!(
        p.balance.map(|b| b.display2()),
        Some("100.84292".to_owned())
    );
    store.close().await;
});

/// A `souk worker` child process.
struct WorkerProcess(std::process::Child);

impl WorkerProcess {
    fn spawn(db: &TestDb) -> WorkerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_souk"))
            .arg("worker")
            .env("SOUK_DATABASE_URL", &db.url)
            .env("SOUK_DATA_KEY", hex::encode(DATA_KEY))
            .env("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1")
            .env("SOUK_SYNC_INTERVAL", "1s")
            .env("SOUK_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn souk worker");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read");
        assert!(line.starts_with("Souk workers running"), "{line}");
        WorkerProcess(child)
    }

    /// SIGTERM; asserts a clean exit.
    fn stop(mut self) {
        Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .expect("kill");
        let status = self.0.wait().expect("wait");
        assert!(status.success(), "souk worker exited with {status}");
    }
}

/// A test that fails leaves no worker behind (it would hold the database's connections).
impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

engine_test!(souk_worker_forwards_for_a_server_without_workers, |db| {
    ok(db, &["migrate"]);
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let provider = ok(
        db,
        &[
            "admin",
            "provider",
            "add",
            "--name",
            "Panel",
            "--url",
            &fake.url,
            "--key",
            "upstream-key",
            "--timeout-ms",
            "3000",
            "--requests-per-second",
            "0",
        ],
    )
    .trim()
    .to_owned();
    ok(
        db,
        &[
            "admin",
            "provider",
            "import",
            "--provider",
            &provider,
            "--markup",
            "20",
        ],
    );
    let key = ok(
        db,
        &[
            "admin",
            "user",
            "create",
            "--email",
            "buyer@test.local",
            "--balance",
            "10",
        ],
    )
    .lines()
    .last()
    .expect("key")
    .to_owned();
    let followers = db
        .scalar("SELECT number FROM services WHERE provider_service = '11'")
        .await;
    let server = ServerProcess::spawn_with_env(db, &[("SOUK_WORKERS", "0")]).await;
    let http = reqwest::Client::new();
    let add = |url: String, link: &'static str| {
        let (http, key) = (http.clone(), key.clone());
        async move {
            let v: Value = http
                .post(url)
                .form(&[
                    ("key", key.as_str()),
                    ("action", "add"),
                    ("service", &followers.to_string()),
                    ("link", link),
                    ("quantity", "1000"),
                ])
                .send()
                .await
                .expect("send")
                .json()
                .await
                .expect("json");
            v["order"].as_i64().unwrap_or_else(|| panic!("{v}"))
        }
    };
    let first = add(server.api(), "https://instagram.com/p/1").await;
    // The server alone forwards nothing: stopped (and so done with whatever it would
    // do), it has never even claimed the order's send job.
    server.stop();
    assert_eq!(forward_state(db, first).await, "queued");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'order.forward' AND dedupe_key = '{first}' \
             AND attempts = 0 AND locked_by IS NULL AND updated_at = created_at"
        ))
        .await,
        1
    );
    assert_eq!(fake.add_requests(), 0);
    let server = ServerProcess::spawn_with_env(db, &[("SOUK_WORKERS", "0")]).await;
    let worker = WorkerProcess::spawn(db);
    wait_for(10, "the worker's send", || async {
        forward_state(db, first).await == "sent"
    })
    .await;
    // Its status sync brings the upstream's answer to the buyer on the server.
    fake.set_status(fake.orders()[0].id, "Completed", 0, 42);
    wait_for(15, "the completion", || async {
        let v: Value = http
            .post(server.api())
            .form(&[
                ("key", key.as_str()),
                ("action", "status"),
                ("order", &first.to_string()),
            ])
            .send()
            .await
            .expect("send")
            .json()
            .await
            .expect("json");
        v["status"] == "Completed" && v["start_count"] == 42
    })
    .await;
    // A send that timed out after the upstream took it: parked, listed, resolved.
    fake.fail_next_add(Fault::TimeoutAfterCreate(Duration::from_secs(10)));
    let lost = add(server.api(), "https://instagram.com/p/2").await;
    wait_for(20, "the parked send", || async {
        forward_state(db, lost).await == "unknown"
    })
    .await;
    let stuck = ok(db, &["admin", "orders", "stuck"]);
    assert_eq!(
        stuck.trim(),
        format!(
            "{lost}\tprovider {provider}\tupstream id -\tattempts 1\tno answer within the timeout; the request may have been processed"
        )
    );
    let upstream = fake.orders()[1].id.to_string();
    let err = fails(
        db,
        &["admin", "orders", "resolve", "--order", &lost.to_string()],
    );
    assert!(err.contains("exactly one of"), "{err}");
    assert_eq!(
        ok(
            db,
            &[
                "admin",
                "orders",
                "resolve",
                "--order",
                &lost.to_string(),
                "--sent",
                &upstream
            ]
        )
        .trim(),
        format!("order {lost} resolved")
    );
    assert_eq!(forward_state(db, lost).await, "sent");
    assert_eq!(ok(db, &["admin", "orders", "stuck"]), "");
    let err = fails(
        db,
        &[
            "admin",
            "orders",
            "resolve",
            "--order",
            &lost.to_string(),
            "--fail",
        ],
    );
    assert!(
        err.contains("is sent, not waiting for a resolution"),
        "{err}"
    );
    worker.stop();
    server.stop();
    assert_eq!((fake.add_requests(), fake.orders().len()), (2, 2));
    db.assert_audit_clean().await;
});
