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

pub(crate) fn engine(db: &TestDb) -> &'static str {
    match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    }
}

/// A new operator's one-time password, through the use case the CLI calls.
pub(crate) async fn operator(app: &TestApp, email: &str, role: &str) -> String {
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
pub(crate) fn code(app: &TestApp, secret: &str) -> String {
    totp::code_at(&totp::from_base32(secret).expect("base32"), app.state.now())
}

pub(crate) async fn wait_url(b: &Browser, part: &str) -> String {
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
pub(crate) async fn shoot(b: &mut Browser, name: &str) {
    b.resize(1280, 900).await;
    b.screenshot(&format!("{name}-desktop")).await;
    b.resize(390, 844).await;
    b.screenshot(&format!("{name}-phone")).await;
    b.resize(1280, 900).await;
}

pub(crate) async fn sign_in(b: &Browser, base: &str, email: &str, password: &str) {
    b.goto(&format!("{base}/console/signin")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", password).await;
    b.click("#signin-submit").await;
}

pub(crate) async fn sign_out(b: &Browser) {
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
    let buyer = app.user_id("buyer@test.local").await;
    // `_fake` keeps the upstream serving for the rest of the test.
    let (_fake, numbers, lost, kept) = a_parked_order(&app, db, &key).await;

    let owner = operator(&app, "owner@test.local", "owner").await;
    let admin = operator(&app, "admin@test.local", "admin").await;
    // The SMS screens' records (countries, projects, a gateway) for the tour.
    let sms = crate::sms::sms_fixture(&app).await;
    let sms_gateway = format!("/console/sms/gateways/{}", sms.gateway);
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
        ("/console/catalogue", "#categories", "catalogue"),
        ("/console/catalogue/services", "#services", "services"),
        ("/console/settings", "#settings-form", "settings"),
        ("/console/sms", "#sms-prices", "sms"),
        ("/console/gateways", "#gateway-cryptomus", "gateways"),
        ("/console/operators", "#operators", "operators"),
        ("/console/sms/messages", "#sms-messages", "sms-messages"),
        (
            "/console/sms/activations",
            "#sms-activations",
            "sms-activations",
        ),
        (
            "/console/sms/countries/us",
            "#sms-country-form",
            "sms-country",
        ),
        (
            "/console/sms/projects/tg",
            "#sms-project-edit",
            "sms-project",
        ),
        (sms_gateway.as_str(), "#sms-gateway-edit", "sms-gateway"),
        ("/console/shops", "#shops", "shops"),
        ("/console/reviews", "#reviews", "reviews"),
    ] {
        b.goto(&format!("{base}{path}")).await;
        b.find(table).await;
        shoot(&mut b, name).await;
    }
    // A service's edit page (imported: its markup), and a shop's.
    b.goto(&format!("{base}/console/catalogue/services/{}", numbers[0]))
        .await;
    b.find("#service-form").await;
    shoot(&mut b, "service").await;
    b.goto(&format!("{base}/console/shops")).await;
    b.click("#shops tbody td a").await;
    b.find("#shop-form").await;
    shoot(&mut b, "shop").await;
    b.goto(&format!("{base}/console/providers")).await;
    assert_eq!(b.text("#providers tbody td").await, "Upstream Panel");
    b.click("#providers tbody td a").await;
    b.find("#provider-facts").await;
    shoot(&mut b, "provider").await;
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
    // Its page: the thread and support's message form.
    let dispute = opened["dispute"].as_str().expect("dispute id");
    b.goto(&format!("{base}/console/disputes/{dispute}")).await;
    b.find("#dispute-message-form").await;
    assert_eq!(b.text("#dispute-thread li p").await, "Nothing arrived yet");
    shoot(&mut b, "dispute").await;
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

    // The new actions, in Russian: a key issued (shown this once), an order's actions.
    b.goto(&format!("{base}/console/users/{buyer}")).await;
    b.type_into("#key-label", "reseller").await;
    b.click("#key-submit").await;
    b.find("#new-key-value").await;
    shoot(&mut b, "user-new-key-ru").await;
    b.goto(&format!("{base}/console/orders/{kept}")).await;
    b.find("#order-actions").await;
    shoot(&mut b, "order-actions-ru").await;

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
pub(crate) fn console_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("souk_console="))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

pub(crate) fn no_redirects() -> reqwest::Client {
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
    let buyer = app.user_id("csv@test.local").await;
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

    // The audit log only grows: every step of signing in is in it, the refused ones
    // too (each in a transaction of its own), newest first.
    let rows = app.store.audit_log(None, None, 10).await.expect("audit");
    let actions: Vec<&str> = rows.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "operator.sign_in_failed",
            "operator.sign_in",
            "operator.recovery_code",
            "operator.sign_in_failed",
            "operator.sign_in",
            "operator.totp_enrolled",
            "operator.sign_in_failed",
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
        actions.len()
    );
    app.stop().await;
});

pub(crate) fn between(text: &str, start: &str, end: &str) -> String {
    let from = text.find(start).map(|i| i + start.len()).expect(start);
    let to = text[from..].find(end).expect(end) + from;
    text[from..to].to_owned()
}

/// Whether the database refuses `sql`.
pub(crate) async fn refused(db: &TestDb, sql: &str) -> bool {
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
pub(crate) fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
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

/// An operator signed in over plain HTTP: the console cookie and the form token.
pub(crate) struct Signed {
    pub(crate) cookie: String,
    pub(crate) csrf: String,
}

/// Creates an operator of `role` and signs them in (enrolling the second factor an
/// owner or admin needs).
pub(crate) async fn signed_in(app: &TestApp, email: &str, role: &str) -> Signed {
    let password = operator(app, email, role).await;
    sign_in_as(app, email, &password).await.0
}

/// A password sign-in by hand: (status, where it leads, the session cookie).
pub(crate) async fn password_step(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (u16, String, Option<String>) {
    let http = no_redirects();
    let page = http
        .get(format!("{}/console/signin", app.url))
        .send()
        .await
        .expect("get");
    let csrf = page
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("souk_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("csrf cookie")
        .to_owned();
    let r = http
        .post(format!("{}/console/signin", app.url))
        .header(COOKIE, format!("souk_csrf={csrf}"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", email),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign in");
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (r.status().as_u16(), location, console_cookie(&r))
}

/// Signs an existing operator in with their password over plain HTTP, enrolling the
/// second factor when asked: the session, and the recovery codes when it enrolled.
pub(crate) async fn sign_in_as(
    app: &TestApp,
    email: &str,
    password: &str,
) -> (Signed, Vec<String>) {
    let http = no_redirects();
    let base = &app.url;
    let mut codes = Vec::new();
    let (_, location, cookie) = password_step(app, email, password).await;
    let mut cookie = cookie.expect("session");
    if location == "/console/enrol" {
        let page = http
            .get(format!("{base}/console/enrol"))
            .header(COOKIE, format!("souk_console={cookie}"))
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
            .header(COOKIE, format!("souk_console={cookie}"))
            .form(&[
                ("csrf", csrf.as_str()),
                ("code", code(app, &secret).as_str()),
            ])
            .send()
            .await
            .expect("enrol");
        cookie = console_cookie(&enrolled).expect("full session");
        let body = enrolled.text().await.expect("body");
        codes = body
            .split("<li><code>")
            .skip(1)
            .filter_map(|c| c.split("</code>").next())
            .map(str::to_owned)
            .collect();
    }
    let page = http
        .get(format!("{base}/console/audit"))
        .header(COOKIE, format!("souk_console={cookie}"))
        .send()
        .await
        .expect("get")
        .text()
        .await
        .expect("body");
    let csrf = between(&page, "name=\"csrf\" value=\"", "\"");
    (Signed { cookie, csrf }, codes)
}

/// A console page as `s` sees it: (status, body).
pub(crate) async fn page_of(app: &TestApp, s: &Signed, path: &str) -> (u16, String) {
    let r = no_redirects()
        .get(format!("{}{path}", app.url))
        .header(COOKIE, format!("souk_console={}", s.cookie))
        .send()
        .await
        .expect("get");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// A console form posted by `s` with their token: (status, where it leads, body).
pub(crate) async fn post_as(
    app: &TestApp,
    s: &Signed,
    path: &str,
    fields: &[(&str, &str)],
) -> (u16, String, String) {
    let mut form = vec![("csrf", s.csrf.as_str())];
    form.extend_from_slice(fields);
    let r = no_redirects()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, format!("souk_console={}", s.cookie))
        .form(&form)
        .send()
        .await
        .expect("post");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, location, r.text().await.expect("body"))
}

/// The error a console page shows.
pub(crate) fn alert(body: &str) -> String {
    between(body, "role=\"alert\">", "</p>")
}

/// The newest audit row about `subject`: (action, who, before, after).
pub(crate) async fn last_audit(app: &TestApp, subject: &str) -> (String, String, String, String) {
    let rows = app
        .store
        .audit_log(Some(subject), None, 1)
        .await
        .expect("audit");
    let a = rows.first().expect("an audit row");
    (
        a.action.clone(),
        a.operator_email.clone(),
        a.before_value.clone().unwrap_or_default(),
        a.after_value.clone().unwrap_or_default(),
    )
}

async fn order_row(app: &TestApp, id: i64) -> souk_store::ConsoleOrder {
    app.store
        .console_order(id)
        .await
        .expect("read")
        .expect("order")
}

/// Two orders sent to a fake upstream, the first of which the upstream then forgets,
/// so it ends parked (outcome unknown); the second stays sent. (fake, services, parked,
/// sent).
async fn a_parked_order(
    app: &TestApp,
    db: &crate::harness::TestDb,
    key: &str,
) -> (FakeUpstream, Vec<i64>, i64, i64) {
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(app, &fake, false, 15_000).await;
    let lost = order(app, key, numbers[0], "1000").await;
    let kept = order(app, key, numbers[0], "500").await;
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
    // The parked send is a failed job on purpose.
    app.expect_failed_jobs();
    (fake, numbers, lost, kept)
}

engine_test!(console_order_actions, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let (_fake, numbers, lost, kept) = a_parked_order(&app, db, &key).await;
    // Placed, not sent yet.
    let fresh = order(&app, &key, numbers[0], "100").await;
    assert_eq!(forward_state(db, fresh).await, "queued");

    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;

    // Support reads the order but has no actions, and posting them is refused.
    let (status, body) = page_of(&app, &support, &format!("/console/orders/{fresh}")).await;
    assert_eq!(status, 200);
    assert!(
        !body.contains("id=\"order-actions\""),
        "support sees no actions"
    );
    for action in ["cancel", "refund", "resend"] {
        let (status, _, _) = post_as(
            &app,
            &support,
            &format!("/console/orders/{fresh}/{action}"),
            &[],
        )
        .await;
        assert_eq!(status, 403, "{action}");
    }
    let unchanged = order_row(&app, fresh).await;
    assert_eq!(
        (unchanged.status.as_str(), unchanged.refunded),
        ("pending", 0)
    );

    // The admin sees what fits each order: a fresh one cancels, a stuck one sends again.
    let (_, body) = page_of(&app, &admin, &format!("/console/orders/{fresh}")).await;
    assert!(body.contains("id=\"cancel-submit\""));
    assert!(body.contains("id=\"refund-submit\""));
    assert!(!body.contains("id=\"resend-submit\""));
    let (_, body) = page_of(&app, &admin, &format!("/console/orders/{lost}")).await;
    assert!(body.contains("id=\"resend-submit\""));
    assert!(!body.contains("id=\"cancel-submit\""));

    // Without the form's token: refused.
    let r = no_redirects()
        .post(format!("{}/console/orders/{fresh}/cancel", app.url))
        .header(COOKIE, format!("souk_console={}", admin.cookie))
        .form(&[("csrf", "0")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 403);

    // A provider may hold the stuck order: it is not cancelled outright.
    let before = order_row(&app, lost).await;
    let (status, _, body) =
        post_as(&app, &admin, &format!("/console/orders/{lost}/cancel"), &[]).await;
    assert_eq!(status, 422);
    assert_eq!(
        alert(&body),
        format!("A provider has (or may have) order {lost}: refund what is left instead")
    );
    assert_eq!(order_row(&app, lost).await, before);

    // Sent again: queued, then sent by the forwarder.
    let (status, location, _) =
        post_as(&app, &admin, &format!("/console/orders/{lost}/resend"), &[]).await;
    assert_eq!((status, location), (303, format!("/console/orders/{lost}")));
    assert_eq!(forward_state(db, lost).await, "queued");
    let (action, who, _, after) = last_audit(&app, &format!("order:{lost}")).await;
    assert_eq!(
        (action.as_str(), who.as_str()),
        ("order.resolve", "admin@test.local")
    );
    assert!(after.contains("\"resend\""), "{after}");
    let (status, _, body) =
        post_as(&app, &admin, &format!("/console/orders/{lost}/resend"), &[]).await;
    assert_eq!(status, 422);
    assert_eq!(
        alert(&body),
        format!("Order {lost} is queued, not waiting for a resolution")
    );

    // The fresh order, cancelled: refunded in full, never sent.
    let balance_before = Money::parse(&balance(&app, &key).await).expect("balance");
    let (status, _, _) = post_as(
        &app,
        &admin,
        &format!("/console/orders/{fresh}/cancel"),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let cancelled = order_row(&app, fresh).await;
    assert_eq!(
        (cancelled.status.as_str(), cancelled.refunded),
        ("canceled", cancelled.charge)
    );
    assert_eq!(forward_state(db, fresh).await, "none", "its job is gone");
    assert_eq!(
        balance(&app, &key).await,
        Money::from_micros(balance_before.micros() + cancelled.charge).display2()
    );
    let charge = Money::from_micros(cancelled.charge).display2();
    assert_eq!(
        last_audit(&app, &format!("order:{fresh}")).await,
        (
            "order.cancel".to_owned(),
            "admin@test.local".to_owned(),
            json!({"status": "pending", "refunded": "0.00"}).to_string(),
            json!({"status": "canceled", "refunded": charge, "refundedNow": charge}).to_string(),
        )
    );
    assert_eq!(
        app.run_forwarding().await,
        1,
        "only the resent order goes out"
    );
    assert_eq!(forward_state(db, lost).await, "sent");

    // What is left of the kept order, refunded: the undelivered part, by its remains.
    let before = order_row(&app, kept).await;
    let remains = db
        .scalar(&format!(
            "SELECT COALESCE(remains, quantity) FROM orders WHERE id = {kept}"
        ))
        .await;
    let (refund, status_after) = souk_core::supply::fail_outcome(
        Money::from_micros(before.charge),
        Money::from_micros(before.refunded),
        before.quantity,
        before.quantity - remains.clamp(0, before.quantity),
    );
    let (status, _, _) =
        post_as(&app, &admin, &format!("/console/orders/{kept}/refund"), &[]).await;
    assert_eq!(status, 303);
    let after = order_row(&app, kept).await;
    assert_eq!(
        (after.status.as_str(), after.refunded),
        (status_after.as_str(), before.refunded + refund.micros())
    );
    let (action, _, _, _) = last_audit(&app, &format!("order:{kept}")).await;
    assert_eq!(action, "order.refund_rest");
    // A closed order has nothing left to refund; an unknown one is not found.
    let (status, _, body) =
        post_as(&app, &admin, &format!("/console/orders/{kept}/refund"), &[]).await;
    assert_eq!(status, 422);
    assert_eq!(
        alert(&body),
        format!("Order {kept} is {}: it is closed already", after.status)
    );
    assert_eq!(order_row(&app, kept).await, after);
    let (status, _, _) = post_as(&app, &admin, "/console/orders/999999/refund", &[]).await;
    assert_eq!(status, 404);
    app.stop().await;
});

engine_test!(console_user_actions, |db| {
    let app = TestApp::builder(db).spawn().await;
    let key = app.buyer("buyer@test.local", "10").await;
    let other_key = app.buyer("other@test.local", "1").await;
    let user_of = |email: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .user_id_by_email(email)
                .await
                .expect("lookup")
                .expect("user")
        }
    };
    let buyer = user_of("buyer@test.local").await;
    let other = user_of("other@test.local").await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let page = format!("/console/users/{buyer}");

    // Support: no buttons, and each POST refused with nothing changed.
    let (status, body) = page_of(&app, &support, &page).await;
    assert_eq!(status, 200);
    for absent in [
        "id=\"block-form\"",
        "id=\"key-form\"",
        "class=\"small danger revoke\"",
    ] {
        assert!(!body.contains(absent), "{absent}");
    }
    let first_key = app.store.api_keys(&buyer).await.expect("keys")[0]
        .id
        .clone();
    for path in [
        format!("{page}/block"),
        format!("{page}/keys"),
        format!("{page}/keys/{first_key}/revoke"),
    ] {
        let (status, _, _) = post_as(&app, &support, &path, &[("label", "x")]).await;
        assert_eq!(status, 403, "{path}");
    }
    assert_eq!(app.store.user(&buyer).await.expect("user").status, "active");
    assert_eq!(app.store.api_keys(&buyer).await.expect("keys").len(), 1);
    assert_eq!(balance(&app, &key).await, "10.00");

    // Blocked: the key stops working at once; once is enough; unblocked, it works.
    let (_, body) = page_of(&app, &admin, &page).await;
    assert!(body.contains("id=\"block-form\""));
    let (status, location, _) = post_as(&app, &admin, &format!("{page}/block"), &[]).await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    assert_eq!(
        app.store.user(&buyer).await.expect("user").status,
        "suspended"
    );
    let refused = app.call(&[("key", &key), ("action", "balance")]).await;
    assert_eq!(refused, json!({"error": "Invalid API key"}));
    let (status, _, body) = post_as(&app, &admin, &format!("{page}/block"), &[]).await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "The user is blocked already")
    );
    assert_eq!(
        last_audit(&app, &format!("user:{buyer}")).await,
        (
            "user.block".to_owned(),
            "admin@test.local".to_owned(),
            json!({"status": "active"}).to_string(),
            json!({"status": "suspended"}).to_string(),
        )
    );
    let (_, body) = page_of(&app, &admin, &page).await;
    assert!(body.contains("id=\"unblock-form\""));
    let (status, _, _) = post_as(&app, &admin, &format!("{page}/unblock"), &[]).await;
    assert_eq!(status, 303);
    assert_eq!(balance(&app, &key).await, "10.00");
    let (action, _, _, _) = last_audit(&app, &format!("user:{buyer}")).await;
    assert_eq!(action, "user.unblock");

    // Bad labels: a clear error, no key.
    let long = "x".repeat(101);
    for (label, error) in [
        (
            "two\nlines",
            "The label has characters that are not allowed",
        ),
        (long.as_str(), "label is too long (max 100 characters)"),
    ] {
        let (status, _, body) =
            post_as(&app, &admin, &format!("{page}/keys"), &[("label", label)]).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{label}");
    }
    assert_eq!(app.store.api_keys(&buyer).await.expect("keys").len(), 1);

    // A new key is shown once, works, and is never shown or audited again.
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{page}/keys"),
        &[("label", "reseller")],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        between(&body, "role=\"status\">", "</p>"),
        "A new API key was issued."
    );
    let shown = between(&body, "id=\"new-key-value\"", "</code>");
    let new_key = shown.split_once('>').expect("the key").1.to_owned();
    assert_eq!(balance(&app, &new_key).await, "10.00");
    let keys = app.store.api_keys(&buyer).await.expect("keys");
    let made = keys
        .iter()
        .find(|k| k.label == "reseller")
        .expect("new key");
    assert_eq!(
        last_audit(&app, &format!("user:{buyer}")).await,
        (
            "user.key_create".to_owned(),
            "admin@test.local".to_owned(),
            String::new(),
            json!({"key": made.id, "prefix": made.key_prefix, "label": "reseller"}).to_string(),
        )
    );
    let (_, body) = page_of(&app, &admin, &page).await;
    assert!(!body.contains(&new_key), "the key is shown once only");
    assert!(!body.contains(&key));
    let (_, audit) = page_of(&app, &admin, "/console/audit").await;
    assert!(!audit.contains(&new_key));

    // Revoked: it stops at once, the first key still works; twice is refused, and
    // another user's key is not this user's to revoke.
    let (status, _, _) = post_as(
        &app,
        &admin,
        &format!("{page}/keys/{}/revoke", made.id),
        &[],
    )
    .await;
    assert_eq!(status, 303);
    let refused = app.call(&[("key", &new_key), ("action", "balance")]).await;
    assert_eq!(refused, json!({"error": "Invalid API key"}));
    assert_eq!(balance(&app, &key).await, "10.00");
    let (action, _, _, after) = last_audit(&app, &format!("user:{buyer}")).await;
    assert_eq!(
        (action.as_str(), after),
        (
            "user.key_revoke",
            json!({"key": made.id, "prefix": made.key_prefix, "active": false}).to_string()
        )
    );
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{page}/keys/{}/revoke", made.id),
        &[],
    )
    .await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "The API key is already revoked")
    );
    let foreign = app.store.api_keys(&other).await.expect("keys")[0]
        .id
        .clone();
    let (status, _, body) =
        post_as(&app, &admin, &format!("{page}/keys/{foreign}/revoke"), &[]).await;
    assert_eq!((status, alert(&body).as_str()), (422, "Not found."));
    assert_eq!(balance(&app, &other_key).await, "1.00");
    app.stop().await;
});

engine_test!(console_jobs_drop, |db| {
    let app = TestApp::builder(db).spawn().await;
    app.expect_failed_jobs();
    let now = app.state.now();
    let job = |kind: &str, key: Option<&str>| souk_store::NewJob {
        kind: kind.to_owned(),
        payload: "{}".to_owned(),
        dedupe_key: key.map(str::to_owned),
        run_at: now,
        max_attempts: 1,
        held_by: None,
    };
    let mail = app
        .store
        .enqueue_job(&job(souk_store::EMAIL_SEND, None), now)
        .await
        .expect("enqueue")
        .expect("id");
    let forward = app
        .store
        .enqueue_job(&job(souk_store::ORDER_FORWARD, Some("77")), now)
        .await
        .expect("enqueue")
        .expect("id");
    db.exec("UPDATE jobs SET state = 'parked', last_error = 'smtp said no'")
        .await;

    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let (_, body) = page_of(&app, &support, "/console/jobs").await;
    assert!(!body.contains("/drop\""), "support has no drop");
    let (status, _, _) = post_as(&app, &support, &format!("/console/jobs/{mail}/drop"), &[]).await;
    assert_eq!(status, 403);
    assert_eq!(app.store.jobs("parked", 10).await.expect("jobs").len(), 2);

    // An order's job is settled from the order's page: no button, and refused.
    let (_, body) = page_of(&app, &admin, "/console/jobs").await;
    assert!(body.contains(&format!("/console/jobs/{mail}/drop\"")));
    assert!(!body.contains(&format!("/console/jobs/{forward}/drop\"")));
    let (status, _, body) =
        post_as(&app, &admin, &format!("/console/jobs/{forward}/drop"), &[]).await;
    assert_eq!(
        (status, alert(&body)),
        (
            422,
            format!("Job {forward} belongs to order 77: settle the order from its page")
        )
    );
    assert_eq!(app.store.jobs("parked", 10).await.expect("jobs").len(), 2);

    let (status, location, _) =
        post_as(&app, &admin, &format!("/console/jobs/{mail}/drop"), &[]).await;
    assert_eq!((status, location.as_str()), (303, "/console/jobs"));
    let left: Vec<i64> = app
        .store
        .jobs("parked", 10)
        .await
        .expect("jobs")
        .iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(left, [forward]);
    assert_eq!(
        last_audit(&app, &format!("job:{mail}")).await,
        (
            "job.drop".to_owned(),
            "admin@test.local".to_owned(),
            json!({"state": "parked", "kind": souk_store::EMAIL_SEND, "error": "smtp said no"})
                .to_string(),
            String::new(),
        )
    );
    let (status, _, body) = post_as(&app, &admin, &format!("/console/jobs/{mail}/drop"), &[]).await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "That job is not parked.")
    );
    app.stop().await;
});

engine_test!(console_payments_export, |db| {
    let app = TestApp::builder(db).spawn().await;
    app.buyer("payer@test.local", "0").await;
    let payer = app.user_id("payer@test.local").await;
    let pay = |amount: &str, fee: &str| {
        let store = app.store.clone();
        let payer = payer.clone();
        let now = app.state.now();
        let amount = Money::parse(amount).expect("amount");
        let fee = Money::parse(fee).expect("fee");
        async move {
            store
                .create_payment(
                    &souk_store::NewPayment {
                        user_id: payer,
                        gateway: "cryptomus".into(),
                        quote: souk_core::payment::Quote {
                            amount,
                            fee,
                            total: Money::from_micros(amount.micros() + fee.micros()),
                            bonus: Money::ZERO,
                        },
                        currency: "USD".into(),
                        expires_at: now + 3_600_000,
                        transfer_id: None,
                        first_check: None,
                    },
                    now,
                )
                .await
                .expect("payment")
        }
    };
    let yesterday = &souk_core::clock::iso_millis(app.state.now())[..10].to_owned();
    let old = pay("5", "0").await;
    app.clock.advance(souk_store::DAY_MS);
    let today = souk_core::clock::iso_millis(app.state.now())[..10].to_owned();
    pay("10", "0.30").await;
    app.clock.advance(1_000);
    pay("2", "0").await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let (status, body) = page_of(&app, &support, "/console/payments").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"payments-export\""));

    let line = |p: &souk_store::PaymentRecord| {
        format!(
            "{},payer@test.local,cryptomus,created,{},{},{},USD,,0.00,0.00,false,{},\n",
            p.id,
            Money::from_micros(p.amount).display2(),
            Money::from_micros(p.fee).display2(),
            Money::from_micros(p.total).display2(),
            souk_core::clock::iso_millis(p.created_at)
        )
    };
    let header = "id,buyer,gateway,state,amount,fee,total,currency,received,credited,bonus_credited,late,created_at,settled_at\n";
    let r = no_redirects()
        .get(format!(
            "{}/console/export/payments?from={today}&to={today}",
            app.url
        ))
        .header(COOKIE, format!("souk_console={}", support.cookie))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let rows = app.store.payments(None, None, 10).await.expect("payments");
    assert_eq!(rows.len(), 3);
    let mut expected = String::from(header);
    for p in rows.iter().rev().filter(|p| p.id != old.id) {
        expected.push_str(&line(p));
    }
    assert_eq!(r.text().await.expect("body"), expected);

    // Both days: the older one first.
    let r = no_redirects()
        .get(format!(
            "{}/console/export/payments?from={yesterday}&to={today}",
            app.url
        ))
        .header(COOKIE, format!("souk_console={}", support.cookie))
        .send()
        .await
        .expect("get");
    let body = r.text().await.expect("body");
    assert_eq!(body.lines().count(), 4);
    assert!(body.lines().nth(1).expect("row").starts_with(&old.id));

    for (query, status, text) in [
        (
            "from=2026-13-01&to=2026-12-31",
            400,
            "from and to are days written 2026-12-31\n",
        ),
        (
            "to=2026-12-31",
            400,
            "from and to are days written 2026-12-31\n",
        ),
    ] {
        let r = no_redirects()
            .get(format!("{}/console/export/payments?{query}", app.url))
            .header(COOKIE, format!("souk_console={}", support.cookie))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), status);
        assert_eq!(r.text().await.expect("body"), text);
    }
    app.stop().await;
});

engine_test!(console_providers, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let count = |sql: String| async move { db.scalar(&sql).await };

    // Support reads; adding is neither offered nor allowed.
    let (status, body) = page_of(&app, &support, "/console/providers").await;
    assert_eq!(status, 200);
    assert!(!body.contains("id=\"provider-form\""));
    let add = [
        ("name", "Upstream Panel"),
        ("url", fake.url.as_str()),
        ("key", "upstream-key"),
    ];
    let (status, _, _) = post_as(&app, &support, "/console/providers", &add).await;
    assert_eq!(status, 403);
    assert_eq!(count("SELECT COUNT(*) FROM providers".into()).await, 0);

    // Bad input: a clear error, nothing added, the key never filled back in.
    let (status, _, body) = post_as(
        &app,
        &admin,
        "/console/providers",
        &[
            ("name", "Upstream Panel"),
            ("url", fake.url.as_str()),
            ("key", " "),
        ],
    )
    .await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Provider name and key are required")
    );
    let (status, _, body) = post_as(
        &app,
        &admin,
        "/console/providers",
        &[
            ("name", "Upstream Panel"),
            ("url", "not an address"),
            ("key", "upstream-key"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert!(!body.contains("upstream-key"));
    assert_eq!(count("SELECT COUNT(*) FROM providers".into()).await, 0);

    let (status, location, _) = post_as(&app, &admin, "/console/providers", &add).await;
    assert_eq!(status, 303);
    let id = location
        .strip_prefix("/console/providers/")
        .expect("the provider's page")
        .to_owned();
    let page = format!("/console/providers/{id}");
    assert_eq!(
        last_audit(&app, &format!("provider:{id}")).await,
        (
            "provider.create".to_owned(),
            "admin@test.local".to_owned(),
            String::new(),
            json!({"name": "Upstream Panel", "url": fake.url}).to_string(),
        )
    );

    // A preview at a markup shows each price and ours, and imports nothing.
    let (status, body) = page_of(&app, &admin, &format!("{page}?preview=1&markup=abc")).await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Invalid markup: abc")
    );
    let (status, body) = page_of(
        &app,
        &admin,
        &format!("{page}?preview=1&markup=20&round=0.01"),
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body.contains("<td class=\"num ours\">1.08</td>"),
        "0.90 + 20 %"
    );
    assert!(
        body.contains("<td class=\"num ours\">0.02</td>"),
        "0.01 + 20 %, rounded up"
    );
    let imported = format!("SELECT COUNT(*) FROM services WHERE provider_id = '{id}'");
    assert_eq!(count(imported.clone()).await, 0);

    // Import, balance, sync: each says what it did and is audited; support may not.
    for action in ["import", "check", "sync"] {
        let (status, _, _) = post_as(&app, &support, &format!("{page}/{action}"), &[]).await;
        assert_eq!(status, 403, "{action}");
    }
    let (status, _, body) = post_as(
        &app,
        &admin,
        &format!("{page}/import"),
        &[("markup", "20"), ("round", "0.01")],
    )
    .await;
    assert_eq!(
        (status, between(&body, "role=\"status\">", "</p>").as_str()),
        (200, "Services imported: 2")
    );
    assert_eq!(count(imported).await, 2);
    // The imported services are listed, searched by name or number.
    let (status, body) = page_of(&app, &support, "/console/catalogue/services?q=tiktok").await;
    assert_eq!(status, 200);
    assert_eq!(between(&body, "<span id=\"service-total\">", "<"), "1");
    // Each row leads to the service's own page.
    assert!(body.contains("\">TikTok Views</a></td>"));
    assert!(!body.contains("IG Followers HQ"));
    let first: i64 = db
        .scalar(&format!(
            "SELECT MIN(number) FROM services WHERE provider_id = '{id}'"
        ))
        .await;
    let (_, body) = page_of(
        &app,
        &support,
        &format!("/console/catalogue/services?q={first}"),
    )
    .await;
    assert_eq!(between(&body, "<span id=\"service-total\">", "<"), "1");
    assert!(body.contains(&format!(
        "<td class=\"name\"><a href=\"/console/catalogue/services/{first}\">IG Followers HQ</a></td>"
    )));
    let (_, body) = page_of(&app, &support, "/console/catalogue/services?q=100%25_").await;
    assert_eq!(between(&body, "<span id=\"service-total\">", "<"), "0");
    let (_, body) = page_of(&app, &support, "/console/catalogue/services?page=2").await;
    assert!(body.contains("No services."));
    assert!(!body.contains("upstream-key"));
    let (action, _, _, after) = last_audit(&app, &format!("provider:{id}")).await;
    assert_eq!(
        (action.as_str(), after),
        (
            "provider.import",
            json!({"markupPercent": "20.00", "roundTo": "0.01", "imported": 2}).to_string()
        )
    );
    let (status, _, body) = post_as(&app, &admin, &format!("{page}/check"), &[]).await;
    assert_eq!(
        (status, between(&body, "role=\"status\">", "</p>")),
        (
            200,
            format!(
                "Balance at the provider: {} USD",
                Money::parse("100.84292").expect("money").display2()
            )
        )
    );
    let (status, _, body) = post_as(&app, &admin, &format!("{page}/sync"), &[]).await;
    assert_eq!(
        (status, between(&body, "role=\"status\">", "</p>").as_str()),
        (200, "Synced: seen 2, updated 0, disabled 0.")
    );
    let actions: Vec<String> = app
        .store
        .audit_log(Some(&format!("provider:{id}")), None, 10)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert_eq!(
        actions,
        [
            "provider.sync",
            "provider.check",
            "provider.import",
            "provider.create"
        ]
    );

    // No page shows the provider's key.
    for path in ["/console/providers".to_owned(), page.clone()] {
        let (_, body) = page_of(&app, &admin, &path).await;
        assert!(!body.contains("upstream-key"), "{path}");
    }
    let (status, _) = page_of(&app, &admin, "/console/providers/000000000000000000000000").await;
    assert_eq!(status, 404);
    app.stop().await;
});

engine_test!(console_catalogue, |db| {
    let app = TestApp::builder(db).spawn().await;
    let (status, social) = app
        .operator(
            reqwest::Method::POST,
            "/categories",
            Some(json!({"slug": "social", "name": "Social"})),
        )
        .await;
    assert_eq!(status, 201, "{social}");
    let social = social["id"].as_str().expect("id").to_owned();
    let (status, insta) = app
        .operator(
            reqwest::Method::POST,
            "/subcategories",
            Some(json!({"slug": "instagram", "name": "Instagram", "categoryId": social})),
        )
        .await;
    assert_eq!(status, 201, "{insta}");
    let insta = insta["id"].as_str().expect("id").to_owned();
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let record = |level: souk_store::Level, id: String| {
        let store = app.store.clone();
        async move {
            souk_app::operator_catalogue::record(&store, level, &id)
                .await
                .expect("record")
        }
    };

    // Both levels listed; the search finds a subcategory under its category.
    let (status, body) = page_of(&app, &support, "/console/catalogue?q=insta").await;
    assert_eq!(status, 200);
    assert!(body.contains(&format!(
        "/console/catalogue/category/{social}\">Social</a>"
    )));
    assert!(body.contains(&format!(
        "/console/catalogue/subcategory/{insta}\">Instagram</a>"
    )));
    let (_, body) = page_of(&app, &support, "/console/catalogue?q=nothing-like-it").await;
    assert!(!body.contains("Instagram"));

    // Support reads; the edit is neither offered nor allowed.
    let page = format!("/console/catalogue/category/{social}");
    let (status, body) = page_of(&app, &support, &page).await;
    assert_eq!(status, 200);
    assert!(!body.contains("id=\"category-form\""));
    let before = record(souk_store::Level::Category, social.clone()).await;
    let good = [
        ("name", "Social media"),
        ("description", "Followers and likes"),
        ("position", "3"),
        ("name_ru", "Соцсети"),
    ];
    let (status, _, _) = post_as(&app, &support, &page, &good).await;
    assert_eq!(status, 403);
    assert_eq!(
        record(souk_store::Level::Category, social.clone()).await,
        before
    );

    // Bad input: a clear error, nothing changed.
    for (field, value, error) in [
        ("name", "  ", "name is required"),
        (
            "position",
            "first",
            "Position must be a whole number, 0 or more",
        ),
        (
            "position",
            "-1",
            "Position must be a whole number, 0 or more",
        ),
    ] {
        let mut form: Vec<(&str, &str)> =
            good.iter().filter(|(f, _)| *f != field).copied().collect();
        form.push((field, value));
        let (status, _, body) = post_as(&app, &admin, &page, &form).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{field}");
    }
    assert_eq!(
        record(souk_store::Level::Category, social.clone()).await,
        before
    );

    // Renamed, moved, hidden (the checkbox left out) and named in Russian; audited.
    let (status, location, _) = post_as(&app, &admin, &page, &good).await;
    assert_eq!((status, location.as_str()), (303, page.as_str()));
    let after = record(souk_store::Level::Category, social.clone()).await;
    assert_eq!(
        (
            after.name.as_str(),
            after.description.as_str(),
            after.position,
            after.active,
            souk_app::operator_catalogue::name_ru(&after)
        ),
        (
            "Social media",
            "Followers and likes",
            3,
            false,
            Some("Соцсети")
        )
    );
    assert_eq!(
        last_audit(&app, &format!("category:{social}")).await,
        (
            "category.update".to_owned(),
            "admin@test.local".to_owned(),
            json!({"name": "Social", "description": "", "position": 0, "active": true, "nameRu": null}).to_string(),
            json!({"name": "Social media", "description": "Followers and likes", "position": 3, "active": false, "nameRu": "Соцсети"}).to_string(),
        )
    );
    // A subcategory, shown again with its Russian name removed.
    let sub_page = format!("/console/catalogue/subcategory/{insta}");
    let (status, _, _) = post_as(
        &app,
        &admin,
        &sub_page,
        &[
            ("name", "Instagram"),
            ("position", "1"),
            ("active", "on"),
            ("name_ru", ""),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let sub = record(souk_store::Level::Subcategory, insta.clone()).await;
    assert_eq!((sub.position, sub.active), (1, true));
    let (status, _) = page_of(&app, &admin, "/console/catalogue/shelf/x").await;
    assert_eq!(status, 404);
    app.stop().await;
});

engine_test!(console_settings, |db| {
    let app = TestApp::builder(db).spawn().await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let owner = signed_in(&app, "owner@test.local", "owner").await;
    let before = app.store.settings().await.expect("settings");

    // An admin reads them; only an owner changes them.
    let (status, body) = page_of(&app, &admin, "/console/settings").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"settings\""));
    assert!(!body.contains("id=\"settings-form\""));
    let change = [
        ("auto_order_early_refund_minutes", "45"),
        ("commission_percent", "12.5"),
    ];
    let (status, _, _) = post_as(&app, &admin, "/console/settings", &change).await;
    assert_eq!(status, 403);
    assert_eq!(app.store.settings().await.expect("settings"), before);

    // Bad input, or nothing new: a clear error, nothing changed.
    let (status, body) = page_of(&app, &owner, "/console/settings").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"settings-form\""));
    for (form, error) in [
        (
            vec![
                ("auto_order_early_refund_minutes", "45"),
                ("commission_percent", "lots"),
            ],
            "commission_percent must be a percentage from 0 to 100 with up to 2 decimals",
        ),
        (
            vec![("no_such_setting", "1")],
            "Unknown setting: no_such_setting",
        ),
        (vec![("commission_percent", "10")], "No setting was changed"),
    ] {
        let (status, _, body) = post_as(&app, &owner, "/console/settings", &form).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{form:?}");
        assert_eq!(app.store.settings().await.expect("settings"), before);
    }

    let (status, location, _) = post_as(&app, &owner, "/console/settings", &change).await;
    assert_eq!((status, location.as_str()), (303, "/console/settings"));
    let now: Vec<(String, String)> = app.store.settings().await.expect("settings");
    let value = |key: &str| {
        now.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .expect("setting")
    };
    let percent =
        souk_core::supply::normalize_setting("commission_percent", "12.5").expect("valid");
    assert_eq!(
        (
            value("auto_order_early_refund_minutes"),
            value("commission_percent")
        ),
        ("45".to_owned(), percent.clone())
    );
    assert_eq!(
        last_audit(&app, "settings").await,
        (
            "settings.update".to_owned(),
            "owner@test.local".to_owned(),
            json!({"auto_order_early_refund_minutes": "30", "commission_percent": "10"})
                .to_string(),
            json!({"auto_order_early_refund_minutes": "45", "commission_percent": percent})
                .to_string(),
        )
    );
    app.stop().await;
});

engine_test!(console_sms, |db| {
    let app = TestApp::builder(db).spawn().await;
    let fixture = crate::sms::sms_fixture(&app).await;
    let (status, injected) = app
        .operator(
            reqwest::Method::POST,
            "/sms/inject",
            Some(json!({"phone": crate::sms::US1, "text": "Your code is 4321", "from": "Bank"})),
        )
        .await;
    assert!(status < 300, "{injected}");
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let prices = || async {
        app.store
            .sms_prices()
            .await
            .expect("prices")
            .into_iter()
            .map(|p| {
                format!(
                    "{}/{} {}",
                    p.project_code,
                    p.country_code,
                    p.price.display4()
                )
            })
            .collect::<Vec<_>>()
    };
    let before = prices().await;

    // Everything reads, never a gateway's secret; support has no price form.
    let (status, body) = page_of(&app, &support, "/console/sms").await;
    assert_eq!(status, 200);
    for shown in [
        "Telegram",
        "Телеграм",
        "United Kingdom",
        "0.5000",
        "Your code is 4321",
        &format!("/webhooks/sms/{}", fixture.gateway),
    ] {
        assert!(body.contains(shown), "{shown}");
    }
    assert!(!body.contains(&fixture.secret));
    assert!(!body.contains("id=\"sms-price-form\""));
    let (status, _, _) = post_as(
        &app,
        &support,
        "/console/sms/prices",
        &[("project", "tg"), ("country", "us"), ("price", "0.55")],
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(prices().await, before);
    let (status, body) = page_of(&app, &support, "/console/sms?phone=nobody").await;
    assert_eq!(
        (status, alert(&body).as_str()),
        (422, "Write the phone like +12025550101.")
    );
    assert!(!body.contains("Your code is 4321"));
    let (_, body) = page_of(&app, &support, "/console/sms?phone=%2B12025550102").await;
    assert!(!body.contains("Your code is 4321"), "another phone's");
    let (_, body) = page_of(&app, &support, "/console/sms?phone=%2B12025550101").await;
    assert!(body.contains("Your code is 4321"));

    // Bad input: a clear error, no price changed.
    for (project, country, price, error) in [
        ("tg", "us", "free", "Price must be a number like 0.50"),
        ("tg", "us", "0", "The price must be above zero"),
        ("xx", "us", "1", "No such SMS project"),
        ("tg", "zz", "1", "No such country"),
    ] {
        let (status, _, body) = post_as(
            &app,
            &admin,
            "/console/sms/prices",
            &[("project", project), ("country", country), ("price", price)],
        )
        .await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{price}");
    }
    assert_eq!(prices().await, before);

    // A price changed, and one set where there was none; both audited.
    for (project, country, price) in [("tg", "us", "0.55"), ("dr", "gb", "1")] {
        let (status, location, _) = post_as(
            &app,
            &admin,
            "/console/sms/prices",
            &[("project", project), ("country", country), ("price", price)],
        )
        .await;
        assert_eq!((status, location.as_str()), (303, "/console/sms"));
    }
    let mut after = prices().await;
    after.sort();
    assert_eq!(
        after,
        [
            "dr/gb 1.0000",
            "dr/us 0.7500",
            "tg/gb 0.4000",
            "tg/us 0.5500"
        ]
    );
    assert_eq!(
        last_audit(&app, "sms:tg/us").await,
        (
            "sms.price".to_owned(),
            "admin@test.local".to_owned(),
            json!({"price": "0.5000"}).to_string(),
            json!({"price": "0.5500"}).to_string(),
        )
    );
    let (_, _, before_new, _) = last_audit(&app, "sms:dr/gb").await;
    assert_eq!(before_new, json!({"price": null}).to_string());
    app.stop().await;
});

/// Another writer's change held in an open transaction (its connection), until `commit`.
pub(crate) enum Held {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

/// Begins a write transaction of its own on `db`, runs `sql` in it and keeps it open:
/// a change made while a request is between its reads and its write.
pub(crate) async fn hold_change(db: &TestDb, sql: &str) -> Held {
    use sqlx::{Connection, Executor};
    match db.kind {
        Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            c.execute("BEGIN IMMEDIATE").await.expect("begin");
            c.execute(sql).await.expect(sql);
            Held::Sqlite(c)
        }
        Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            c.execute("BEGIN").await.expect("begin");
            c.execute(sql).await.expect(sql);
            Held::Postgres(c)
        }
    }
}

impl Held {
    pub(crate) async fn commit(self) {
        use sqlx::Executor;
        match self {
            Held::Sqlite(mut c) => c.execute("COMMIT").await.map(drop),
            Held::Postgres(mut c) => c.execute("COMMIT").await.map(drop),
        }
        .expect("commit");
    }
}

// The console's country form changes only what it shows (names, on or off): the
// sms-activate number the operator API or `souk admin sms` set while the form was being
// saved stays. The save once read the country, then wrote all of it back.
engine_test!(console_sms_country_keeps_a_change_made_in_between, |db| {
    let app = TestApp::builder(db).spawn().await;
    crate::sms::sms_fixture(&app).await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let us = || async {
        let c = souk_app::sms_admin::country(&app.store, "us")
            .await
            .expect("us");
        (c.name.en().to_owned(), c.activate_id, c.active)
    };
    assert_eq!(us().await, ("United States".to_owned(), Some(187), true));
    let held = hold_change(
        db,
        "UPDATE sms_countries SET activate_id = 12 WHERE code = 'us'",
    )
    .await;
    let ((status, location, body), ()) = tokio::join!(
        post_as(
            &app,
            &admin,
            "/console/sms/countries/us",
            &[("name", "USA"), ("name_ru", "США"), ("active", "on")],
        ),
        async {
            // Long enough for the save to read the country and wait for the write.
            tokio::time::sleep(std::time::Duration::from_millis(1_000)).await;
            held.commit().await;
        }
    );
    assert_eq!((status, location.as_str()), (303, "/console/sms"), "{body}");
    assert_eq!(us().await, ("USA".to_owned(), Some(12), true));
    assert_eq!(
        last_audit(&app, "sms-country:us").await,
        (
            "sms.country".to_owned(),
            "admin@test.local".to_owned(),
            json!({"name": "United States", "ru": "США", "active": true}).to_string(),
            json!({"name": "USA", "ru": "США", "active": true}).to_string(),
        )
    );
    // Turned off from the form: the number still stays.
    let (status, _, body) = post_as(
        &app,
        &admin,
        "/console/sms/countries/us",
        &[("name", "USA"), ("name_ru", "США")],
    )
    .await;
    assert_eq!(status, 303, "{body}");
    assert_eq!(us().await, ("USA".to_owned(), Some(12), false));
    app.stop().await;
});

engine_test!(console_gateways, |db| {
    let app = TestApp::builder(db).spawn().await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let owner = signed_in(&app, "owner@test.local", "owner").await;
    let good = [
        ("enabled", "on"),
        ("title", ""),
        ("merchant", "m-1"),
        ("api_key", "ck-secret-123"),
        ("min_amount", "5"),
        ("max_amount", "500"),
        ("fee_percent", "2.5"),
    ];

    // An admin reads; only an owner changes a gateway.
    let (status, body) = page_of(&app, &admin, "/console/gateways").await;
    assert_eq!(status, 200);
    assert!(body.contains("id=\"gateway-cryptomus\""));
    assert!(!body.contains("action=\"/console/gateways/cryptomus\""));
    let (status, _, _) = post_as(&app, &admin, "/console/gateways/cryptomus", &good).await;
    assert_eq!(status, 403);
    assert!(app
        .store
        .gateway("cryptomus")
        .await
        .expect("read")
        .is_none());

    // Bad input: a clear error, nothing stored.
    let (_, body) = page_of(&app, &owner, "/console/gateways").await;
    assert!(body.contains("action=\"/console/gateways/cryptomus\""));
    let with = |field: &'static str, value: &'static str| {
        let mut form: Vec<(&str, &str)> =
            good.iter().filter(|(f, _)| *f != field).copied().collect();
        form.push((field, value));
        form
    };
    for (path, form, error) in [
        (
            "cryptomus",
            with("min_amount", "abc"),
            "min_amount must be a positive amount with at most two decimals".to_owned(),
        ),
        (
            "cryptomus",
            with("merchant", ""),
            "cryptomus cannot be enabled without its merchant".to_owned(),
        ),
        (
            "cryptomus",
            with("fee_percent", "101"),
            "fee_percent must be a percentage from 0 to 100 with up to 2 decimals".to_owned(),
        ),
        (
            "paypal",
            good.to_vec(),
            format!(
                "Unknown gateway &quot;paypal&quot;: one of {}",
                souk_app::payments::GATEWAYS.join(", ")
            ),
        ),
    ] {
        let (status, _, body) =
            post_as(&app, &owner, &format!("/console/gateways/{path}"), &form).await;
        assert_eq!((status, alert(&body)), (422, error), "{form:?}");
    }
    assert!(app
        .store
        .gateway("cryptomus")
        .await
        .expect("read")
        .is_none());

    // Set up: on, with its key (never shown, never audited); saved again, the key stays.
    let (status, location, _) = post_as(&app, &owner, "/console/gateways/cryptomus", &good).await;
    assert_eq!((status, location.as_str()), (303, "/console/gateways"));
    let g = app
        .store
        .gateway("cryptomus")
        .await
        .expect("read")
        .expect("stored");
    assert_eq!(
        (
            g.enabled,
            g.has_api_key,
            g.merchant.as_str(),
            g.min_amount,
            g.max_amount,
            g.fee_bp
        ),
        (true, true, "m-1", 5_000_000, 500_000_000, 250)
    );
    let (_, body) = page_of(&app, &owner, "/console/gateways").await;
    assert!(!body.contains("ck-secret-123"));
    let (action, who, before, after) = last_audit(&app, "gateway:cryptomus").await;
    assert_eq!(
        (action.as_str(), who.as_str(), before.as_str()),
        ("gateway.configure", "owner@test.local", "null")
    );
    assert!(after.contains("\"apiKeySet\":true"), "{after}");
    assert!(!after.contains("ck-secret-123"));
    let (status, _, _) = post_as(
        &app,
        &owner,
        "/console/gateways/cryptomus",
        &with("api_key", ""),
    )
    .await;
    assert_eq!(status, 303);
    assert!(
        app.store
            .gateway("cryptomus")
            .await
            .expect("read")
            .expect("stored")
            .has_api_key
    );
    let (_, _, _, after) = last_audit(&app, "gateway:cryptomus").await;
    assert!(after.contains("\"apiKeySet\":false"), "{after}");
    app.stop().await;
});

engine_test!(console_provider_variants, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let fake = FakeUpstream::start(
        Shape::Hstock,
        false,
        vec![crate::fake_upstream::product_service(
            "21",
            "Netflix Premium",
            "2.00",
            (1, 10),
            15,
        )],
    )
    .await;
    fake.set_inventory(
        "21",
        vec![
            crate::fake_upstream::variant("v1", "1 Month", 10),
            crate::fake_upstream::variant("v2", "3 Months", 5),
        ],
    );
    let (provider, _) = connect(&app, &fake, false, 15_000).await;
    let held = app
        .store
        .imported_variants(&provider)
        .await
        .expect("variants")
        .into_iter()
        .find(|v| v.name == "3 Months")
        .expect("held back");
    assert!(!held.active);
    let support = signed_in(&app, "support@test.local", "support").await;
    let admin = signed_in(&app, "admin@test.local", "admin").await;
    let page = format!("/console/providers/{provider}");
    let path = format!("{page}/variants/{}", held.id);
    let current = || async {
        app.store
            .imported_variants(&provider)
            .await
            .expect("variants")
            .into_iter()
            .find(|v| v.name == "3 Months")
            .expect("variant")
    };

    let (status, body) = page_of(&app, &support, &page).await;
    assert_eq!(status, 200);
    assert!(body.contains("3 Months"));
    assert!(!body.contains(&format!("action=\"{path}\"")));
    let (status, _, _) = post_as(&app, &support, &path, &[("price", "7.20")]).await;
    assert_eq!(status, 403);
    assert_eq!(current().await, held);

    // Bad input: a clear error (in Russian too), nothing priced.
    for (to, price, error) in [
        (path.clone(), "0", "The price must be above zero"),
        (path.clone(), "abc", "Price must be a number like 7.20"),
        (
            format!("{page}/variants/0123456789abcdef01234567"),
            "7.20",
            "Not found.",
        ),
    ] {
        let (status, _, body) = post_as(&app, &admin, &to, &[("price", price)]).await;
        assert_eq!((status, alert(&body)), (422, error.to_owned()), "{price}");
    }
    let r = no_redirects()
        .post(format!("{}{path}", app.url))
        .header(COOKIE, format!("souk_console={}; souk_ui=ru", admin.cookie))
        .form(&[("csrf", admin.csrf.as_str()), ("price", "0")])
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 422);
    assert_eq!(
        alert(&r.text().await.expect("body")),
        "Цена должна быть больше нуля."
    );
    assert_eq!(current().await, held);

    // Priced: on sale at the operator's price, audited.
    let (status, location, _) = post_as(&app, &admin, &path, &[("price", "7.20")]).await;
    assert_eq!((status, location), (303, page.clone()));
    let priced = current().await;
    assert_eq!(
        (priced.price, priced.price_pinned, priced.active),
        (7_200_000, true, true)
    );
    let (action, who, before, after) = last_audit(&app, &format!("provider:{provider}")).await;
    assert_eq!(
        (action.as_str(), who.as_str()),
        ("variant.price", "admin@test.local")
    );
    assert_eq!(
        (before, after),
        (
            json!({"variant": held.id, "name": "3 Months", "price": Money::from_micros(held.price).display2(), "priceSetBy": "provider", "active": false}).to_string(),
            json!({"variant": held.id, "name": "3 Months", "price": "7.20", "priceSetBy": "operator", "active": true}).to_string(),
        )
    );
    app.stop().await;
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
    let (_, numbers) = connect(&app, &fake, false, 15_000).await;
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
pub(crate) async fn break_the_audit_log(db: &TestDb, broken: bool) {
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
        (Kind::Postgres, false) => &[
            "DROP TRIGGER audit_broken ON operator_audit",
            "DROP FUNCTION audit_broken()",
        ],
    };
    for sql in statements {
        assert!(!refused(db, sql).await, "{sql}");
    }
}

/// An operator action tried while the audit log refuses rows (`without_the_log`).
pub(crate) enum Try<'a> {
    /// An operator API call (method, path, body): answered 500, the store's fault.
    Api(reqwest::Method, String, Option<serde_json::Value>),
    /// `souk ARGS`: fails, saying the log is broken.
    Command(Vec<&'a str>),
    /// A use case called in the test (what it is, its outcome): fails, for the log.
    Call(
        &'a str,
        std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + 'a>>,
    ),
}

/// A use case's call as a `Try::Call`.
pub(crate) fn call<'a, T, E: std::fmt::Debug>(
    what: &'a str,
    outcome: impl std::future::Future<Output = Result<T, E>> + 'a,
) -> Try<'a> {
    Try::Call(
        what,
        Box::pin(async move { outcome.await.map(drop).map_err(|e| format!("{e:?}")) }),
    )
}

/// Breaks the audit log, tries each action (each must fail for want of its row), repairs
/// the log, and checks that `state` reads as it did before.
pub(crate) async fn without_the_log<S, F, Fut>(
    app: &TestApp,
    db: &TestDb,
    actions: Vec<Try<'_>>,
    state: F,
) where
    S: PartialEq + std::fmt::Debug,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = S>,
{
    let before = state().await;
    break_the_audit_log(db, true).await;
    for action in actions {
        match action {
            Try::Api(method, path, body) => {
                let (status, answer) = app.operator(method, &path, body).await;
                assert_eq!(status, 500, "{path}: {answer}");
            }
            Try::Command(args) => {
                let (done, out, err) = crate::provider_cli::souk(db, &args);
                assert!(
                    !done && err.contains("the audit log is broken"),
                    "{args:?} fails for the log: {out}{err}"
                );
            }
            Try::Call(what, outcome) => {
                let outcome = outcome.await;
                assert!(
                    outcome
                        .as_ref()
                        .is_err_and(|e| e.contains("the audit log is broken")),
                    "{what} fails for the log: {outcome:?}"
                );
            }
        }
    }
    break_the_audit_log(db, false).await;
    assert_eq!(state().await, before);
}

// An operator's change and its audit row are one transaction: when the row cannot be
// written the change does not happen, and when it happens the row is there with the
// balance before and after.
engine_test!(
    console_actions_and_their_audit_rows_are_one_transaction,
    |db| {
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        let key = app.buyer("buyer@test.local", "100").await;
        let buyer = app.user_id("buyer@test.local").await;
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
        let (_, numbers) = connect(&app, &fake, false, 15_000).await;
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
