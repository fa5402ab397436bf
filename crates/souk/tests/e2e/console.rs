//! The operator console (`/console`): in Chromium, an owner enrols TOTP and signs in
//! with a code, a support account cannot change a balance (no form, and the POST is
//! refused), an admin changes one (the audit log and the buyer's ledger both show it),
//! the dashboard's numbers equal the API's, and a stuck order is settled from its page;
//! desktop and phone screenshots of every screen land in
//! `target/tmp/screenshots/<engine>/console/`. Over plain HTTP: bad input changes
//! nothing, forms without the token are refused, codes are good once, the audit log
//! refuses updates and deletes, and `souk admin operator create`. The dashboard's sums
//! follow every change of the orders; an operator's change and its audit row are one
//! transaction.

use std::collections::BTreeMap;
use std::path::PathBuf;

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::json;
use souk_app::operators;
use souk_app::totp;
use souk_core::Money;
use souk_store::DAY_MS;

use crate::engine_test;
use crate::fake_upstream::{FakeUpstream, Shape};
use crate::harness::{Kind, TestApp, TestDb};
use crate::providers::{connect, forward_state, order, panel_services};
use crate::webdriver::{self, Browser};

fn engine(db: &TestDb) -> &'static str {
    match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    }
}

/// A new operator's one-time password, through the use case the CLI calls.
async fn operator(app: &TestApp, email: &str, role: &str) -> String {
    operators::create(
        &app.store,
        &app.state.passwords,
        email,
        role,
        app.state.now(),
    )
    .await
    .expect("create operator")
    .password
}

/// The current code of a base32 secret, by the app's clock.
fn code(app: &TestApp, secret: &str) -> String {
    totp::code_at(&totp::from_base32(secret).expect("base32"), app.state.now())
}

async fn wait_url(b: &Browser, part: &str) -> String {
    for _ in 0..100 {
        let url = b.url().await;
        if url.contains(part) {
            return url;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("never reached {part}: at {}", b.url().await);
}

/// A desktop and a phone screenshot of the page shown.
async fn shoot(b: &mut Browser, name: &str) {
    b.resize(1280, 900).await;
    b.screenshot(&format!("{name}-desktop")).await;
    b.resize(390, 844).await;
    b.screenshot(&format!("{name}-phone")).await;
    b.resize(1280, 900).await;
}

async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/console/signin")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", password).await;
    b.click("#signin-submit").await;
}

async fn sign_out(b: &Browser) {
    b.click("#console-signout").await;
    b.find("#console-signin").await;
}

async fn balance(app: &TestApp, key: &str) -> String {
    app.call(&[("key", key), ("action", "balance")]).await["balance"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

engine_test!(console_in_the_browser, |db| {
    if webdriver::tools().is_none() {
        assert!(
            std::env::var_os("SOUK_REQUIRE_BROWSER").is_none(),
            "SOUK_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("skipped: chromium and chromium-driver are not installed");
        return;
    }
    // Stepped: the test runs the forwarder and the status polls itself.
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let buyer = app
        .store
        .user_id_by_email("buyer@test.local")
        .await
        .expect("lookup")
        .expect("buyer");
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 2_000).await;
    let lost = order(&app, &key, numbers[0], "1000").await;
    let kept = order(&app, &key, numbers[0], "500").await;
    assert_eq!(app.run_forwarding().await, 2, "the sends");
    let upstream = fake
        .orders()
        .iter()
        .find(|o| o.quantity == 1000)
        .expect("sent")
        .id;
    fake.forget(upstream);
    for _ in 0..souk_store::MAX_STATUS_MISSES {
        app.clock.advance(60_000);
        app.run_status_sync().await;
    }
    assert_eq!(forward_state(db, lost).await, "unknown", "parked");
    app.expect_failed_jobs();

    let owner = operator(&app, "owner@test.local", "owner").await;
    let admin = operator(&app, "admin@test.local", "admin").await;
    let support = operator(&app, "support@test.local", "support").await;

    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(engine(db))
        .join("console");
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let mut b = Browser::start(shots.clone()).await.expect("browser");
    let base = app.url.clone();

    // The owner enrols a second factor at the first sign-in, from the QR code.
    b.goto(&format!("{base}/console")).await;
    wait_url(&b, "/console/signin").await;
    shoot(&mut b, "signin").await;
    sign_in(&b, &base, "owner@test.local", &owner).await;
    wait_url(&b, "/console/enrol").await;
    assert!(b.exists("#totp-qr svg").await, "the QR code is drawn");
    shoot(&mut b, "enrol").await;
    let secret = b.text("#totp-secret").await;
    b.type_into("#code", "000000").await;
    b.click("#enrol-submit").await;
    let refused = b.text("#notice").await;
    assert_eq!(refused, "Wrong email, password or code.");
    b.type_into("#code", &code(&app, &secret)).await;
    b.click("#enrol-submit").await;
    b.find("#enrolled").await;
    let codes = b
        .execute(
            "return [...document.querySelectorAll('#recovery-codes li')].map(e => e.textContent);",
            json!([]),
        )
        .await;
    let codes: Vec<String> = codes
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c.as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    shoot(&mut b, "recovery-codes").await;
    b.click("#to-dashboard").await;
    b.find("#counters").await;
    sign_out(&b).await;

    // Next time: the password, then a code (a new one: the last was used).
    app.clock.advance(30_000);
    sign_in(&b, &base, "owner@test.local", &owner).await;
    wait_url(&b, "/console/code").await;
    shoot(&mut b, "code").await;
    b.type_into("#code", &code(&app, &secret)).await;
    b.click("#code-submit").await;
    b.find("#counters").await;
    assert_eq!(b.text("#operator-who").await, "owner@test.local · owner");

    // The dashboard's numbers are the API's.
    let mut revenue = Money::ZERO;
    for id in [lost, kept] {
        let s = app
            .call(&[
                ("key", &key),
                ("action", "status"),
                ("order", &id.to_string()),
            ])
            .await;
        revenue = Money::from_micros(
            revenue.micros()
                + Money::parse(s["charge"].as_str().expect("charge"))
                    .expect("money")
                    .micros(),
        );
    }
    assert_eq!(b.text("#per-day .total-orders").await, "2");
    assert_eq!(b.text("#per-day .total-revenue").await, revenue.display2());
    assert_eq!(b.text("#per-week .total-revenue").await, revenue.display2());
    assert_eq!(b.text("#count-stuck").await, "1");
    assert_eq!(b.text("#count-parked").await, "1");
    assert!(b.exists("#chart-money svg rect").await);
    shoot(&mut b, "dashboard").await;

    // The stuck order, settled from its page: failed and refunded in full.
    b.goto(&format!("{base}/console/orders?status=processing"))
        .await;
    b.find("#orders").await;
    shoot(&mut b, "orders").await;
    b.goto(&format!("{base}/console/orders/{lost}")).await;
    let charge = b.text("#order-charge").await;
    shoot(&mut b, "order").await;
    b.click("#resolve-submit").await;
    b.wait_text("#order-status", "the settled order", |t| t == "canceled")
        .await;
    assert_eq!(b.text("#order-refunded").await, charge);
    let seen = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &lost.to_string()),
        ])
        .await;
    assert_eq!(seen["status"], "Canceled");
    b.goto(&format!("{base}/console/jobs")).await;
    b.find("#parked-jobs").await;
    shoot(&mut b, "jobs").await;
    for (path, table, name) in [
        ("/console/payments", "#payments", "payments"),
        ("/console/disputes", "#disputes", "disputes"),
        ("/console/withdrawals", "#withdrawals", "withdrawals"),
        ("/console/providers", "#providers", "providers"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.find(table).await;
        shoot(&mut b, name).await;
    }
    assert_eq!(b.text("#providers tbody td").await, "Upstream Panel");
    let before_support = balance(&app, &key).await;
    sign_out(&b).await;

    // Support reads, but cannot change a balance: no form, and the POST is refused.
    sign_in(&b, &base, "support@test.local", &support).await;
    b.find("#counters").await;
    b.goto(&format!("{base}/console/users/{buyer}")).await;
    b.find("#user-facts").await;
    assert!(!b.exists("#balance-form").await, "support sees no form");
    let cookie = b.cookie("souk_console").await.expect("console cookie");
    let csrf = b
        .execute(
            "return document.querySelector('input[name=csrf]').value;",
            json!([]),
        )
        .await;
    let refused = app
        .http
        .post(format!("{base}/console/users/{buyer}/balance"))
        .header(COOKIE, format!("souk_console={cookie}"))
        .form(&[
            ("csrf", csrf.as_str().unwrap_or("")),
            ("amount", "5"),
            ("reason", "support tries"),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 403);
    assert_eq!(balance(&app, &key).await, before_support);
    let refused = app
        .http
        .post(format!("{base}/console/jobs/1/retry"))
        .header(COOKIE, format!("souk_console={cookie}"))
        .form(&[("csrf", csrf.as_str().unwrap_or(""))])
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), 403);
    // Support handles disputes: the buyer's is turned down from the disputes screen.
    let opened = app
        .call(&[
            ("key", &key),
            ("action", "dispute"),
            ("order", &kept.to_string()),
            ("message", "Nothing arrived yet"),
        ])
        .await;
    assert!(opened.get("error").is_none(), "{opened}");
    b.goto(&format!("{base}/console/disputes")).await;
    b.type_into("#disputes input[name=note]", "It is on its way")
        .await;
    b.click("#disputes button[value=reject]").await;
    b.wait_text("#disputes tbody td", "no open dispute left", |t| {
        t == "None."
    })
    .await;
    let decided = app
        .store
        .disputes(Some("rejected"))
        .await
        .expect("disputes");
    assert_eq!(
        (
            decided.len(),
            decided[0].order_id,
            decided[0].resolution.as_str()
        ),
        (1, kept, "It is on its way")
    );
    let audit = app
        .store
        .audit_log(Some(&format!("order:{kept}")), None, 5)
        .await
        .expect("audit");
    assert_eq!(
        (audit[0].action.as_str(), audit[0].operator_email.as_str()),
        ("dispute.resolve", "support@test.local")
    );
    sign_out(&b).await;

    // An admin enrols, then changes the balance; bad input first changes nothing.
    sign_in(&b, &base, "admin@test.local", &admin).await;
    wait_url(&b, "/console/enrol").await;
    let admin_secret = b.text("#totp-secret").await;
    b.type_into("#code", &code(&app, &admin_secret)).await;
    b.click("#enrol-submit").await;
    b.find("#enrolled").await;
    b.goto(&format!("{base}/console/users?email=buyer")).await;
    assert_eq!(b.text("#user-total").await, "1");
    shoot(&mut b, "users").await;
    b.goto(&format!("{base}/console/users/{buyer}")).await;
    for (amount, reason, error) in [
        ("abc", "typo", "Amount must be a number like 10 or -2.50"),
        ("5", "   ", "A reason is required"),
        ("0", "nothing", "Amount must not be zero"),
        ("-1000", "too much", "The balance cannot go below zero."),
    ] {
        b.type_into("#amount", amount).await;
        b.type_into("#reason", reason).await;
        b.click("#balance-submit").await;
        b.wait_text("#notice", "the refusal", |t| t == error).await;
        assert_eq!(balance(&app, &key).await, before_support, "{amount}");
    }
    b.type_into("#amount", "12.5").await;
    b.type_into("#reason", "goodwill").await;
    b.click("#balance-submit").await;
    let before = Money::parse(&before_support).expect("balance");
    let after = Money::from_micros(before.micros() + 12_500_000).display2();
    b.wait_text("#user-balance", "the new balance", |t| t == after)
        .await;
    assert_eq!(balance(&app, &key).await, after);
    assert_eq!(
        b.text("#user-ledger tbody tr:first-child td.note").await,
        "goodwill"
    );
    let ledger = app.store.ledger(&buyer, 1).await.expect("ledger");
    assert_eq!(
        (ledger[0].amount, ledger[0].note.as_str()),
        (12_500_000, "goodwill")
    );
    shoot(&mut b, "user").await;
    b.goto(&format!("{base}/console/audit")).await;
    assert_eq!(
        b.text("#audit-log tbody tr:first-child td.what").await,
        "user.balance"
    );
    assert_eq!(
        b.text("#audit-log tbody tr:first-child td.who").await,
        "admin@test.local"
    );
    assert_eq!(
        b.text("#audit-log tbody tr:first-child code.after").await,
        json!({"balance": after, "amount": "12.50", "reason": "goodwill"}).to_string()
    );
    shoot(&mut b, "audit").await;

    // Russian, too.
    b.click("#ui-ru").await;
    b.wait_text("h1", "the Russian page", |t| t == "Журнал действий")
        .await;
    b.goto(&format!("{base}/console")).await;
    b.find("#counters").await;
    shoot(&mut b, "dashboard-ru").await;

    // No page shows a secret: the provider's key, the buyer's API key.
    for path in [
        "/console".to_owned(),
        format!("/console/users/{buyer}"),
        format!("/console/orders/{lost}"),
        "/console/jobs".to_owned(),
        "/console/audit".to_owned(),
        "/console/providers".to_owned(),
        "/console/payments".to_owned(),
    ] {
        b.goto(&format!("{base}{path}")).await;
        let source = b.source().await;
        assert!(!source.contains("upstream-key"), "{path}");
        assert!(!source.contains(&key), "{path}");
    }
    b.quit().await;
    let shots_taken = std::fs::read_dir(&shots).expect("screenshots").count();
    assert!(shots_taken >= 32, "{shots_taken} screenshots");
    app.stop().await;
});

/// The `souk_console` cookie a response sets.
fn console_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("souk_console="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

engine_test!(console_sign_in_over_http, |db| {
    let app = TestApp::builder(db).spawn().await;
    let http = no_redirects();
    let base = app.url.clone();
    let password = operator(&app, "owner@test.local", "owner").await;

    // Pages need a signed-in operator; a buyer's session is not one.
    let r = http
        .get(format!("{base}/console"))
        .send()
        .await
        .expect("get");
    assert_eq!(
        (r.status().as_u16(), r.headers()[LOCATION].to_str().ok()),
        (303, Some("/console/signin"))
    );

    // A form without the token is refused.
    let r = http
        .post(format!("{base}/console/signin"))
        .form(&[
            ("email", "owner@test.local"),
            ("password", password.as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);

    let page = http
        .get(format!("{base}/console/signin"))
        .send()
        .await
        .expect("get");
    let csrf_cookie = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("souk_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let sign_in = |password: String| {
        let http = http.clone();
        let base = base.clone();
        let csrf = csrf_cookie.clone();
        async move {
            http.post(format!("{base}/console/signin"))
                .header(COOKIE, format!("souk_csrf={csrf}"))
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("email", "owner@test.local"),
                    ("password", password.as_str()),
                ])
                .send()
                .await
                .expect("post")
        }
    };
    let wrong = sign_in("not the password".into()).await;
    assert_eq!(wrong.status(), 401);
    assert!(console_cookie(&wrong).is_none());
    let right = sign_in(password.clone()).await;
    assert_eq!(right.headers()[LOCATION], "/console/enrol");
    let pending = console_cookie(&right).expect("half-way session");
    // Half-way is not signed in.
    let r = http
        .get(format!("{base}/console/orders"))
        .header(COOKIE, format!("souk_console={pending}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()[LOCATION], "/console/signin");

    // The enrolment's secret, as the page shows it (and its csrf token).
    let page = http
        .get(format!("{base}/console/enrol"))
        .header(COOKIE, format!("souk_console={pending}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let secret = between(&page, "<code id=\"totp-secret\">", "</code>");
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"");
    let enrolled = http
        .post(format!("{base}/console/enrol"))
        .header(COOKIE, format!("souk_console={pending}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("code", code(&app, &secret).as_str()),
        ])
        .send()
        .await
        .expect("post");
    assert_eq!(enrolled.status(), 200);
    let full = console_cookie(&enrolled).expect("full session");
    assert_ne!(full, pending, "a new token once signed in");
    let body = enrolled.text().await.expect("body");
    let recovery = between(&body, "<li><code>", "</code>");
    // The half-way token is gone.
    let r = http
        .get(format!("{base}/console/enrol"))
        .header(COOKIE, format!("souk_console={pending}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()[LOCATION], "/console/signin");
    let r = http
        .get(format!("{base}/console/audit"))
        .header(COOKIE, format!("souk_console={full}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);

    // A recovery code signs in once; the same code of the step does not sign in twice.
    let step_code = code(&app, &secret);
    for (code_used, works) in [
        (step_code.clone(), false),
        (recovery.clone(), true),
        (recovery.clone(), false),
    ] {
        let started = sign_in(password.clone()).await;
        assert_eq!(started.headers()[LOCATION], "/console/code");
        let pending = console_cookie(&started).expect("pending");
        let page = http
            .get(format!("{base}/console/code"))
            .header(COOKIE, format!("souk_console={pending}"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("body");
        let csrf = between(&page, "name=\"csrf\" value=\"", "\"");
        let r = http
            .post(format!("{base}/console/code"))
            .header(COOKIE, format!("souk_console={pending}"))
            .form(&[("csrf", csrf.as_str()), ("code", code_used.as_str())])
            .send()
            .await
            .expect("post");
        assert_eq!(
            r.status().as_u16(),
            if works { 303 } else { 401 },
            "{code_used}"
        );
    }

    // The ledger as CSV for a day range, and a range that is not one.
    app.buyer("csv@test.local", "25").await;
    let buyer = app
        .store
        .user_id_by_email("csv@test.local")
        .await
        .expect("lookup")
        .expect("buyer");
    let rows = app.store.ledger(&buyer, 10).await.expect("ledger");
    let today = &souk_core::clock::iso_millis(app.state.now())[..10];
    let r = http
        .get(format!(
            "{base}/console/export/ledger?from={today}&to={today}"
        ))
        .header(COOKIE, format!("souk_console={full}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let mut expected =
        String::from("id,user,kind,amount,balance_after,order,payment,note,created_at\n");
    for l in rows.iter().rev() {
        expected.push_str(&format!(
            "{},csv@test.local,{},{},{},,,{},{}\n",
            l.id,
            l.kind,
            Money::from_micros(l.amount).display2(),
            Money::from_micros(l.balance_after).display2(),
            l.note,
            souk_core::clock::iso_millis(l.created_at)
        ));
    }
    assert_eq!(r.text().await.expect("body"), expected);
    let r = http
        .get(format!(
            "{base}/console/export/orders?from=yesterday&to={today}"
        ))
        .header(COOKIE, format!("souk_console={full}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.text().await.expect("body"),
        "from and to are days written 2026-12-31\n"
    );

    // Sessions end: twelve hours later the full session is gone.
    app.clock.advance(operators::SESSION_MS);
    let r = http
        .get(format!("{base}/console/audit"))
        .header(COOKIE, format!("souk_console={full}"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.headers()[LOCATION], "/console/signin");

    // The audit log only grows.
    let rows = app.store.audit_log(None, None, 10).await.expect("audit");
    let actions: Vec<&str> = rows.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "operator.sign_in",
            "operator.totp_enrolled",
            "operator.create"
        ]
    );
    for sql in [
        "UPDATE operator_audit SET action = 'nothing'",
        "DELETE FROM operator_audit",
    ] {
        assert!(refused(db, sql).await, "{sql}");
    }
    assert_eq!(
        app.store
            .audit_log(None, None, 10)
            .await
            .expect("audit")
            .len(),
        3
    );
    app.stop().await;
});

fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).map(|i| i + start.len()).expect(start);
    let to = text[from..].find(end).expect(end) + from;
    text[from..to].to_owned()
}

/// Whether the database refuses `sql`.
async fn refused(db: &TestDb, sql: &str) -> bool {
    use sqlx::Connection;
    match db.kind {
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::Executor::execute(&mut c, sql).await.is_err()
        }
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::Executor::execute(&mut c, sql).await.is_err()
        }
    }
}

/// Runs `souk` with `args` against `db`: (success, stdout, stderr).
fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_souk"))
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

engine_test!(console_operator_command, |db| {
    let (ok, out, err) = souk(
        db,
        &[
            "admin",
            "operator",
            "create",
            "--email",
            "Boss@Example.com",
            "--role",
            "owner",
        ],
    );
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert!(lines[0].starts_with("created operator "), "{out}");
    assert!(
        lines[0].ends_with(" <boss@example.com> role owner"),
        "{out}"
    );
    let password = lines[1];
    assert_eq!(password.len(), 24);
    // The hash is stored, never the password.
    let store = db.store().await;
    let op = store
        .operator_by_email("boss@example.com")
        .await
        .expect("read")
        .expect("operator");
    assert!(op.password_hash.starts_with("$argon2id$"));
    assert!(!op.password_hash.contains(password));
    assert_eq!((op.role.as_str(), op.totp_enabled), ("owner", false));
    store.close().await;
    for (args, error) in [
        (
            ["--email", "boss@example.com", "--role", "owner"],
            "souk: an operator with the email boss@example.com exists",
        ),
        (
            ["--email", "x@example.com", "--role", "root"],
            "souk: Role must be owner, admin or support",
        ),
        (
            ["--email", "not-an-email", "--role", "support"],
            "souk: Email is not valid",
        ),
    ] {
        let mut full = vec!["admin", "operator", "create"];
        full.extend(args);
        let (ok, _, err) = souk(db, &full);
        assert!(!ok, "{args:?}");
        assert_eq!(err.trim(), error);
    }
    let (ok, out, _) = souk(db, &["admin", "operator", "list"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1);
    assert!(
        out.contains(" boss@example.com owner active two-factor off since "),
        "{out}"
    );
});

/// Per day and kind (orders, revenue, cost), per day and status (orders), per provider
/// (orders, revenue, cost).
type Sums = (
    BTreeMap<(i64, String), (i64, i64, i64)>,
    BTreeMap<(i64, String), i64>,
    BTreeMap<String, (i64, i64, i64)>,
);

/// The dashboard's sums over days `[first, end)`, computed here from the orders.
async fn sums_of_orders(db: &TestDb, first: i64, end: i64) -> Sums {
    use sqlx::Connection;
    let sql = "SELECT CAST(created_at / 86400000 AS BIGINT), kind, status, COALESCE(provider_id, ''), \
               CAST(charge - refunded AS BIGINT), CAST(COALESCE(provider_cost, 0) AS BIGINT) FROM orders \
               WHERE created_at >= $1 AND created_at < $2";
    type Row = (i64, String, String, String, i64, i64);
    let (from, to) = (first * DAY_MS, end * DAY_MS);
    let rows: Vec<Row> = match db.kind {
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query_as(sql)
                .bind(from)
                .bind(to)
                .fetch_all(&mut c)
                .await
                .expect("orders")
        }
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query_as(sql)
                .bind(from)
                .bind(to)
                .fetch_all(&mut c)
                .await
                .expect("orders")
        }
    };
    let mut sums = Sums::default();
    for (day, kind, status, provider, revenue, cost) in rows {
        let k = sums.0.entry((day, kind)).or_default();
        *k = (k.0 + 1, k.1 + revenue, k.2 + cost);
        *sums.1.entry((day, status)).or_default() += 1;
        let p = sums.2.entry(provider).or_default();
        *p = (p.0 + 1, p.1 + revenue, p.2 + cost);
    }
    sums
}

/// The same sums as the dashboard shows them.
fn sums_shown(d: &souk_store::Dashboard) -> Sums {
    let mut sums = Sums::default();
    for r in &d.by_day_kind {
        sums.0
            .insert((r.day, r.kind.clone()), (r.orders, r.revenue, r.cost));
    }
    for r in &d.by_day_status {
        sums.1.insert((r.day, r.status.clone()), r.orders);
    }
    for g in &d.by_provider {
        sums.2.insert(g.key.clone(), (g.orders, g.revenue, g.cost));
    }
    sums
}

/// The dashboard of the last 30 days equals the sums of the orders.
async fn dashboard_is_the_orders(app: &TestApp, db: &TestDb, what: &str) -> souk_store::Dashboard {
    let now = app.state.now();
    let today = now.div_euclid(DAY_MS);
    let d = app
        .store
        .dashboard(today - 29, today + 1, 0, now)
        .await
        .expect("dashboard");
    assert_eq!(
        sums_shown(&d),
        sums_of_orders(db, today - 29, today + 1).await,
        "{what}"
    );
    d
}

// The dashboard reads daily sums the store keeps apart from the orders: each change
// of an order shows on the next read, on the day the order was placed.
engine_test!(console_dashboard_follows_the_orders, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 2_000).await;
    let empty = dashboard_is_the_orders(&app, db, "no orders").await;
    assert!(empty.by_day_kind.is_empty() && empty.top_products.is_empty());

    let first = order(&app, &key, numbers[0], "1000").await;
    order(&app, &key, numbers[0], "500").await;
    let placed = dashboard_is_the_orders(&app, db, "placed").await;
    assert_eq!(placed.by_day_kind.iter().map(|r| r.orders).sum::<i64>(), 2);
    assert_eq!(placed.top_products.len(), 1);
    assert_eq!(placed.top_products[0].orders, 2);

    // Sent: a provider and its cost.
    assert_eq!(app.run_forwarding().await, 2, "the sends");
    let sent = dashboard_is_the_orders(&app, db, "sent").await;
    assert!(
        sent.by_provider.iter().any(|g| !g.key.is_empty()),
        "{:?}",
        sent.by_provider
    );

    // Settled upstream: one partial (part refunded), one canceled (all refunded).
    let upstream: Vec<i64> = fake.orders().iter().map(|o| o.id).collect();
    fake.set_status(upstream[0], "Partial", 300, 1234);
    fake.set_status(upstream[1], "Canceled", 500, 0);
    app.clock.advance(60_000);
    app.run_status_sync().await;
    let settled = dashboard_is_the_orders(&app, db, "settled").await;
    assert_ne!(
        settled.by_day_kind.iter().map(|r| r.revenue).sum::<i64>(),
        sent.by_day_kind.iter().map(|r| r.revenue).sum::<i64>(),
        "the refunds show"
    );

    // The next day: a new order there, the old ones on their own day.
    app.clock.advance(DAY_MS);
    order(&app, &key, numbers[0], "700").await;
    let next = dashboard_is_the_orders(&app, db, "the next day").await;
    assert_eq!(next.by_day_kind.len(), 2, "{:?}", next.by_day_kind);

    // A change stamped a little before the newest one seen (a transaction that
    // committed late, or a node whose clock is behind) still shows.
    use sqlx::Connection;
    let late = "UPDATE orders SET status = 'completed', \
                updated_at = (SELECT MAX(updated_at) FROM orders) - 60000 WHERE id = $1";
    match db.kind {
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query(late)
                .bind(first)
                .execute(&mut c)
                .await
                .expect("late change");
        }
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(late)
                .bind(first)
                .execute(&mut c)
                .await
                .expect("late change");
        }
    }
    dashboard_is_the_orders(&app, db, "a late change").await;
    app.stop().await;
});

/// Makes the database refuse every new audit row (`true`), or take them again.
async fn break_the_audit_log(db: &TestDb, broken: bool) {
    let statements: &[&str] = match (db.kind, broken) {
        (Kind::Sqlite, true) => &[
            "CREATE TRIGGER audit_broken BEFORE INSERT ON operator_audit \
                                   BEGIN SELECT RAISE(ABORT, 'the audit log is broken'); END",
        ],
        (Kind::Sqlite, false) => &["DROP TRIGGER audit_broken"],
        (Kind::Postgres, true) => &[
            "CREATE FUNCTION audit_broken() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'the audit log is broken'; END $$",
            "CREATE TRIGGER audit_broken BEFORE INSERT ON operator_audit \
             FOR EACH ROW EXECUTE FUNCTION audit_broken()",
        ],
        (Kind::Postgres, false) => &["DROP TRIGGER audit_broken ON operator_audit"],
    };
    for sql in statements {
        assert!(!refused(db, sql).await, "{sql}");
    }
}

// An operator's change and its audit row are one transaction: when the row cannot be
// written the change does not happen, and when it happens the row is there with the
// balance before and after.
engine_test!(
    console_actions_and_their_audit_rows_are_one_transaction,
    |db| {
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        let key = app.buyer("buyer@test.local", "100").await;
        let buyer = app
            .store
            .user_id_by_email("buyer@test.local")
            .await
            .expect("lookup")
            .expect("buyer");
        operator(&app, "admin@test.local", "admin").await;
        let op = app
            .store
            .operator_by_email("admin@test.local")
            .await
            .expect("lookup")
            .expect("operator");
        let admin = operators::Acting {
            id: op.id.clone(),
            email: op.email.clone(),
            role: operators::Role::Admin,
        };
        // A stuck order: sent, then forgotten by the upstream.
        let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
        let (_, numbers) = connect(&app, &fake, false, 2_000).await;
        let stuck = order(&app, &key, numbers[0], "1000").await;
        assert_eq!(app.run_forwarding().await, 1, "the send");
        fake.forget(fake.orders()[0].id);
        for _ in 0..souk_store::MAX_STATUS_MISSES {
            app.clock.advance(60_000);
            app.run_status_sync().await;
        }
        assert_eq!(forward_state(db, stuck).await, "unknown", "parked");
        app.expect_failed_jobs();
        let subject = format!("user:{buyer}");
        let ledger_rows = app.store.ledger(&buyer, 100).await.expect("ledger").len();
        let balance_before = app.store.user(&buyer).await.expect("user").balance;

        break_the_audit_log(db, true).await;
        let refused = operators::adjust_balance(
            &app.store,
            &admin,
            &buyer,
            "-25",
            "chargeback",
            app.state.now(),
        )
        .await;
        assert!(refused.is_err(), "{refused:?}");
        assert_eq!(
            app.store.user(&buyer).await.expect("user").balance,
            balance_before,
            "the balance is unchanged"
        );
        assert_eq!(
            app.store.ledger(&buyer, 100).await.expect("ledger").len(),
            ledger_rows,
            "no ledger row"
        );
        let created = operators::create(
            &app.store,
            &app.state.passwords,
            "new@test.local",
            "support",
            app.state.now(),
        )
        .await;
        assert!(created.is_err(), "{created:?}");
        let resolved = operators::resolve_order(
            &app.store,
            &admin,
            stuck,
            souk_store::Resolution::Fail,
            app.state.now(),
        )
        .await;
        assert!(resolved.is_err(), "{resolved:?}");
        assert_eq!(forward_state(db, stuck).await, "unknown", "still stuck");
        assert!(
            app.store
                .operator_by_email("new@test.local")
                .await
                .expect("lookup")
                .is_none(),
            "no operator without its audit row"
        );
        break_the_audit_log(db, false).await;

        let balance = operators::adjust_balance(
            &app.store,
            &admin,
            &buyer,
            "-25",
            "chargeback",
            app.state.now(),
        )
        .await
        .expect("adjusted");
        assert_eq!(
            balance,
            Money::from_micros(balance_before - 25_000_000),
            "debited"
        );
        assert_eq!(
            app.store.ledger(&buyer, 100).await.expect("ledger").len(),
            ledger_rows + 1
        );
        let rows = app
            .store
            .audit_log(Some(&subject), None, 10)
            .await
            .expect("audit log");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].action, "user.balance");
        assert_eq!(rows[0].operator_id.as_deref(), Some(op.id.as_str()));
        assert!(
            rows[0]
                .before_value
                .as_deref()
                .is_some_and(|b| b.contains(&Money::from_micros(balance_before).display2())),
            "{rows:?}"
        );
        assert!(
            rows[0]
                .after_value
                .as_deref()
                .is_some_and(|a| a.contains(&balance.display2())),
            "{rows:?}"
        );
        operators::create(
            &app.store,
            &app.state.passwords,
            "new@test.local",
            "support",
            app.state.now(),
        )
        .await
        .expect("created");
        operators::resolve_order(
            &app.store,
            &admin,
            stuck,
            souk_store::Resolution::Fail,
            app.state.now(),
        )
        .await
        .expect("resolved");
        let rows = app
            .store
            .audit_log(Some(&format!("order:{stuck}")), None, 10)
            .await
            .expect("audit log");
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(rows[0].action, "order.resolve");
        assert!(
            rows[0]
                .after_value
                .as_deref()
                .is_some_and(|a| a.contains("\"canceled\"")),
            "{rows:?}"
        );
        app.stop().await;
    }
);
