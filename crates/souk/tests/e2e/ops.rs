//! What an operator runs Souk with: the operations families of `/metrics`, the
//! container image definition and the systemd unit (linted here; the image is built only
//! where a docker daemon answers and `SOUK_TEST_DOCKER=1` asks for it, as it takes
//! minutes).

use std::path::PathBuf;
use std::process::Command;

use crate::engine_test;
use crate::harness::{Kind, TestApp};

fn repo_file(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path)
}

engine_test!(metrics_carry_the_operations_families, |db| {
    let app = TestApp::spawn(db).await;
    db.exec(
        "INSERT INTO jobs (kind, payload, state, run_at, attempts, max_attempts, last_error, created_at, updated_at) \
         VALUES ('test.parked', '{}', 'parked', 0, 3, 3, 'gone', 0, 0)",
    )
    .await;
    app.expect_failed_jobs();
    app.buyer("metrics@test.local", "1").await;
    let services = db
        .scalar("SELECT COUNT(*) FROM services WHERE active")
        .await;
    let text = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let has = |line: &str| text.lines().any(|l| l == line);
    let starts = |prefix: &str| text.lines().any(|l| l.starts_with(prefix));
    // The four families of before are still there.
    for family in [
        "souk_api_requests_total",
        "souk_api_errors_total",
        "souk_api_request_duration_seconds",
        "souk_http_faults_total",
    ] {
        assert!(starts(&format!("# TYPE {family} ")), "{family}\n{text}");
    }
    assert!(has("souk_db_up 1"), "{text}");
    assert!(has("souk_jobs_parked{kind=\"test.parked\"} 1"), "{text}");
    assert!(
        has(&format!("souk_catalogue_services {services}")),
        "{text}"
    );
    assert!(has("souk_payments_pending 0"), "{text}");
    assert!(has("souk_webhook_deliveries_pending 0"), "{text}");
    assert!(starts("souk_db_pool_connections{state=\"max\"} "), "{text}");
    assert!(starts("souk_db_probe_seconds "), "{text}");
    // The buyer's creation and the job's insert were committed write transactions.
    let committed = text
        .lines()
        .find_map(|l| l.strip_prefix("souk_db_write_transaction_seconds_count "))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(committed >= 1, "{text}");
    assert!(
        has(&format!(
            "souk_db_write_transaction_seconds_bucket{{le=\"+Inf\"}} {committed}"
        )),
        "{text}"
    );
    assert!(starts("process_resident_memory_bytes "), "{text}");
    assert!(starts("process_cpu_seconds_total "), "{text}");
    assert_eq!(
        starts("souk_sqlite_wal_bytes "),
        db.kind == Kind::Sqlite,
        "{text}"
    );
    app.stop().await;
});

engine_test!(
    long_commands_say_their_progress_in_plain_lines_off_a_terminal,
    |db| {
        let work = tempfile::tempdir().expect("dir");
        let key = crate::backup::test_key();
        let env = [
            ("SOUK_DATABASE_URL", db.url.as_str()),
            ("SOUK_DATA_KEY", key.as_str()),
            ("SOUK_PROGRESS_AFTER", "0s"),
        ];
        let (ok, out, err) = crate::backup::souk_with(work.path(), &env, &["admin", "audit"]);
        assert!(ok, "{err}");
        assert_eq!(out.lines().last(), Some("all invariants hold"));
        assert_eq!(err.trim(), "souk: auditing every invariant... 0 s");
        let to = work.path().join("b").display().to_string();
        let (ok, _, err) = crate::backup::souk_with(work.path(), &env, &["backup", "--to", &to]);
        assert!(ok, "{err}");
        assert_eq!(err.trim(), "souk: taking a backup... 0 s");
    }
);

engine_test!(
    metrics_count_each_providers_sends_and_syncs_by_outcome,
    |db| {
        use crate::fake_upstream::{FakeUpstream, Fault, Shape};
        use crate::providers::{connect, order, panel_services};
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        // The refused send waits for its retry with its error.
        app.expect_failed_jobs();
        let key = app.buyer("buyer@test.local", "100").await;
        let fake = FakeUpstream::start(Shape::Hstock, true, panel_services()).await;
        let (provider, numbers) = connect(&app, &fake, true, 2_000).await;
        order(&app, &key, numbers[0], "1000").await;
        assert_eq!(app.run_forwarding().await, 1);
        fake.fail_next_add(Fault::ApiError("Not enough funds on balance".into()));
        order(&app, &key, numbers[0], "1000").await;
        assert_eq!(app.run_forwarding().await, 1);
        app.clock.advance(60_000);
        app.run_status_sync().await;
        let text = app
            .http
            .get(format!("{}/metrics", app.url))
            .send()
            .await
            .expect("send")
            .text()
            .await
            .expect("text");
        let line = |call: &str, outcome: &str, n: u64| {
            format!("souk_upstream_calls_total{{provider=\"{provider}\",call=\"{call}\",outcome=\"{outcome}\"}} {n}")
        };
        for want in [
            line("send", "ok", 1),
            line("send", "refused", 1),
            line("sync", "ok", 1),
        ] {
            assert!(text.lines().any(|l| l == want), "{want}\n{text}");
        }
        app.stop().await;
    }
);

#[test]
fn the_container_image_runs_unprivileged_and_checks_its_health() {
    let text = std::fs::read_to_string(repo_file("Dockerfile")).expect("Dockerfile");
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#'))
        .collect();
    let froms: Vec<&&str> = lines.iter().filter(|l| l.starts_with("FROM ")).collect();
    assert_eq!(froms.len(), 2, "a build stage and a run stage: {froms:?}");
    assert!(froms[0].ends_with(" AS build"), "{froms:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("COPY --from=build ")),
        "the run stage takes only the binary"
    );
    let users: Vec<&&str> = lines.iter().filter(|l| l.starts_with("USER ")).collect();
    assert_eq!(users.len(), 1, "{users:?}");
    let user = users[0]
        .trim_start_matches("USER ")
        .split(':')
        .next()
        .unwrap_or("");
    assert!(!matches!(user, "" | "0" | "root"), "runs as {user}");
    let health = lines
        .iter()
        .position(|l| l.starts_with("HEALTHCHECK "))
        .expect("a HEALTHCHECK");
    assert!(
        lines[health..health + 2]
            .join(" ")
            .contains("http://127.0.0.1:8080/healthz"),
        "{}",
        lines[health]
    );
    assert!(lines.contains(&"EXPOSE 8080"));
    // The image is built where a daemon answers and the run asks for it.
    let docker = std::env::var("SOUK_TEST_DOCKER").is_ok_and(|v| v == "1")
        && Command::new("docker")
            .arg("info")
            .output()
            .is_ok_and(|o| o.status.success());
    if !docker {
        eprintln!("skipped: the image build (needs a docker daemon and SOUK_TEST_DOCKER=1)");
        return;
    }
    let built = Command::new("docker")
        .args(["build", "-t", "souk:test", "."])
        .current_dir(repo_file(""))
        .status()
        .expect("docker build");
    assert!(built.success());
    let out = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "id", "souk:test", "-u"])
        .output()
        .expect("docker run");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "10001");
}

#[test]
fn the_systemd_unit_verifies() {
    let text = std::fs::read_to_string(repo_file("deploy/souk.service")).expect("unit");
    for line in [
        "User=souk",
        "ExecStart=/usr/local/bin/souk serve",
        "ExecStartPre=/usr/local/bin/souk migrate",
        "NoNewPrivileges=true",
        "KillSignal=SIGTERM",
        "WantedBy=multi-user.target",
    ] {
        assert!(text.lines().any(|l| l == line), "{line}");
    }
    let available = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("skipped: systemd-analyze verify (systemd-analyze is not installed)");
        return;
    }
    // Verified with the binary of this build where the unit expects the installed one.
    let dir = tempfile::tempdir().expect("dir");
    let unit = dir.path().join("souk.service");
    std::fs::write(
        &unit,
        text.replace("/usr/local/bin/souk", env!("CARGO_BIN_EXE_souk")),
    )
    .expect("write");
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze");
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    let problems: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("souk.service"))
        .collect();
    assert!(out.status.success() && problems.is_empty(), "{said}");
}
