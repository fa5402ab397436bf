//! The web pages in a real browser (headless Chromium through chromedriver): sign up, sign
//! in, the Test API, buying through the shop, the supplier desk's stock upload, the
//! forms refusing bad input, and adding funds through the fake Stripe. Screenshots of
//! every page land in `target/tmp/screenshots/<engine>/` (`screenshots-funds/` for the
//! top-up, `screenshots-password/` for a password reset through the SMTP sink). Skipped,
//! saying so, where Chromium is not installed.

use std::path::PathBuf;

use serde_json::{json, Value};
use souk_core::Money;

use crate::engine_test;
use crate::harness::{Kind, TestApp};
use crate::supply_kit::{inventory_product, market, ok, supplier, upload};
use crate::web::{open_shop_for, user_of};
use crate::web_funds::enable_stripe;
use crate::webdriver::{self, Browser};
use souk_fakes::{FakeGateway, FakeKind};

const PASSWORD: &str = "correct horse battery";

async fn sign_up(b: &Browser, base: &str, email: &str) {
    b.goto(&format!("{base}/signup")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#password2", PASSWORD).await;
    b.click("#auth-submit").await;
    wait_url(b, "/account").await;
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

async fn sign_out(b: &Browser) {
    b.click("#signout").await;
    b.find("#nav-signin").await;
}

async fn balance(app: &TestApp, key: &str) -> String {
    app.call(&[("key", key), ("action", "balance")]).await["balance"]
        .as_str()
        .unwrap_or("")
        .to_owned()
}

async fn order_count(app: &TestApp) -> i64 {
    let pool = app.store.clone();
    pool.audit().await.expect("audit").orders as i64
}

engine_test!(browser_buyer_and_supplier_journeys, |db| {
    if webdriver::tools().is_none() {
        assert!(
            std::env::var_os("SOUK_REQUIRE_BROWSER").is_none(),
            "SOUK_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("skipped: chromium and chromium-driver are not installed");
        return;
    }
    let app = TestApp::spawn(db).await;
    let engine = match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots")
        .join(engine);
    let _ = std::fs::remove_dir_all(&shots);
    let mut b = Browser::start(shots).await.expect("browser");
    let base = app.url.clone();

    // A shop selling an inventory product with three accounts in stock.
    let (_, subcategory) = market(&app).await;
    let (seller_key, _, _) = supplier(&app, "seller@example.com", "Seller").await;
    let (_, service, subs) =
        inventory_product(&app, &seller_key, &subcategory, "Browser Mail").await;
    ok(
        200,
        upload(
            &app,
            &seller_key,
            &subs[0],
            "acc-1:pw1\nacc-2:pw2\nacc-3:pw3\n",
            false,
        )
        .await,
    );

    // Sign-up refuses two different passwords, visibly, and creates nobody.
    b.goto(&format!("{base}/signup")).await;
    b.screenshot("signup").await;
    b.type_into("#email", "buyer@example.com").await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#password2", "another horse battery").await;
    b.click("#auth-submit").await;
    let notice = b
        .wait_text("#notice", "signup error", |t| !t.is_empty())
        .await;
    assert!(notice.contains("differ"), "{notice}");
    b.screenshot("signup-refused").await;
    assert_eq!(
        app.store
            .user_id_by_email("buyer@example.com")
            .await
            .expect("browser test step"),
        None
    );
    assert_eq!(
        b.value("#password").await,
        "",
        "a refused form never echoes the password"
    );

    // Sign-up, then the account page with an empty balance and the user's own key.
    sign_up(&b, &base, "buyer@example.com").await;
    let (buyer, key) = user_of(&app, "buyer@example.com").await;
    assert_eq!(b.text("#balance").await, "0.00");
    assert!(
        !b.text("#key-masked").await.contains(&key),
        "the key starts masked"
    );
    b.click("#api-key button[data-reveal]").await;
    assert_eq!(b.text("#key-masked").await, key);
    b.screenshot("account").await;
    let session_cookie = b.cookie_flags("souk_session").await;
    assert_eq!(session_cookie["httpOnly"], true, "{session_cookie}");
    assert_eq!(session_cookie["sameSite"], "Lax", "{session_cookie}");

    // A buyer is not let into the supplier desk.
    b.goto(&format!("{base}/desk")).await;
    assert!(b.source().await.contains("for suppliers"));

    // Sign out; a wrong password is refused visibly; the right one signs in.
    b.goto(&format!("{base}/account")).await;
    sign_out(&b).await;
    b.goto(&format!("{base}/signin")).await;
    b.screenshot("signin").await;
    b.type_into("#email", "buyer@example.com").await;
    b.type_into("#password", "not my password").await;
    b.click("#auth-submit").await;
    let notice = b
        .wait_text("#notice", "signin error", |t| !t.is_empty())
        .await;
    assert!(notice.contains("Wrong email or password"), "{notice}");
    b.screenshot("signin-refused").await;
    b.type_into("#password", PASSWORD).await;
    b.click("#auth-submit").await;
    wait_url(&b, "/account").await;
    app.store
        .adjust_balance(
            &buyer,
            Money::parse("20").expect("browser test step"),
            "topup",
            "test",
            app.state.now(),
        )
        .await
        .expect("browser test step");

    // Test API: the key is filled in, masked in the curl preview, which follows typing.
    b.goto(&format!("{base}/api-docs")).await;
    assert_eq!(b.value("#ta-key").await, key);
    b.click("#ta-action option[value=services]").await;
    let curl = b
        .wait_text("#ta-curl", "curl for services", |t| {
            t.contains("action=services")
        })
        .await;
    assert!(!curl.contains("limit"), "{curl}");
    assert!(!curl.contains(&key), "the preview masks the key: {curl}");
    assert!(curl.contains(&format!("key={}••••", &key[..4])), "{curl}");
    b.type_into("#ta-p-limit", "2").await;
    b.wait_text("#ta-curl", "curl with limit", |t| t.contains("limit=2"))
        .await;
    b.click("#ta-reveal").await;
    b.wait_text("#ta-curl", "revealed key", |t| t.contains(&key))
        .await;
    b.click("#ta-reveal").await;
    b.click("#ta-send").await;
    let meta = b
        .wait_text("#ta-meta", "response status", |t| t.contains("HTTP"))
        .await;
    assert!(meta.starts_with("HTTP 200 · "), "{meta}");
    let answer: Value = serde_json::from_str(&b.text("#ta-response").await).expect("JSON shown");
    assert_eq!(answer["limit"], 2, "{answer}");
    // The one service on sale, as `/api/v2` itself answers.
    let direct = app
        .call(&[("key", &key), ("action", "services"), ("limit", "2")])
        .await;
    assert_eq!(answer, direct);
    let numbers: Vec<Value> = answer["services"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["service"].clone())
        .collect();
    assert_eq!(numbers, vec![json!(service)], "{answer}");
    b.screenshot("test-api").await;
    b.execute(
        "document.getElementById('ta-response').scrollIntoView({block: 'center'});",
        json!([]),
    )
    .await;
    b.screenshot("test-api-response").await;
    assert!(
        !b.source().await.contains(&seller_key),
        "no other user's key on the page"
    );

    // The page in Russian, and on a phone-sized screen without sideways scrolling.
    b.click("#ui-ru").await;
    b.wait_text("header", "Russian header", |t| {
        t.contains("Документация API")
    })
    .await;
    b.screenshot("docs-ru").await;
    b.click("#ui-en").await;
    b.wait_text("header", "English header", |t| t.contains("API docs"))
        .await;
    b.resize(390, 844).await;
    for path in [
        "/api-docs",
        "/shop",
        "/account",
        "/account/orders",
        "/account/sms",
    ] {
        b.goto(&format!("{base}{path}")).await;
        let fits = b
            .execute(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
                json!([]),
            )
            .await;
        if fits != true {
            // Which elements stick out, to say what to fix.
            let wide = b
                .execute(
                    "return [...document.querySelectorAll('body *')]
                       .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
                       .slice(-5)
                       .map(e => e.tagName + '.' + e.className + ': ' + (e.textContent || '').slice(0, 60));",
                    json!([]),
                )
                .await;
            panic!("{path} scrolls sideways on a phone: {wide}");
        }
    }
    b.goto(&format!("{base}/api-docs")).await;
    b.screenshot("docs-phone").await;
    b.goto(&format!("{base}/shop")).await;
    b.screenshot("shop-phone").await;
    b.resize(1280, 1400).await;

    // Buying through the shop: a refused quantity changes nothing, a good one delivers.
    let before = (balance(&app, &key).await, order_count(&app).await);
    b.goto(&format!("{base}/shop?q=Browser+Mail")).await;
    let form = format!("#service-{service} form.buy");
    b.type_into(&format!("{form} input[name=quantity]"), "50")
        .await;
    b.click(&format!("{form} button[type=submit]")).await;
    let notice = b
        .wait_text("#notice", "buy refused", |t| !t.is_empty())
        .await;
    assert!(
        notice.contains("Quantity must be between") || notice.contains("stock"),
        "{notice}"
    );
    b.screenshot("shop-refused").await;
    assert_eq!((balance(&app, &key).await, order_count(&app).await), before);
    b.goto(&format!("{base}/shop?q=Browser+Mail")).await;
    b.screenshot("shop").await;
    b.type_into(&format!("{form} input[name=quantity]"), "2")
        .await;
    b.click(&format!("{form} button[type=submit]")).await;
    wait_url(&b, "/account/orders?placed=").await;
    let accounts = b.text("ul.accounts").await;
    assert!(
        accounts.contains("acc-1:pw1") && accounts.contains("acc-2:pw2"),
        "{accounts}"
    );
    assert!(!accounts.contains("acc-3:pw3"));
    b.screenshot("orders").await;
    assert_eq!(balance(&app, &key).await, "15.00");
    b.goto(&format!("{base}/account/sms")).await;
    b.screenshot("sms").await;

    // A form without its CSRF token is refused and changes nothing.
    let cookie = b.cookie("souk_session").await.expect("session cookie");
    let refused = app
        .http
        .post(format!("{base}/account/key"))
        .header("Cookie", format!("souk_session={cookie}"))
        .form(&[("csrf", "0".repeat(64))])
        .send()
        .await
        .expect("browser test step");
    assert_eq!(refused.status(), 403);
    assert_eq!(
        app.store
            .visible_key(&buyer)
            .await
            .expect("browser test step")
            .as_deref(),
        Some(key.as_str())
    );

    // A supplier signs up, the operator opens a shop for them, they list a product.
    b.goto(&format!("{base}/account")).await;
    sign_out(&b).await;
    sign_up(&b, &base, "maker@example.com").await;
    let maker_key = open_shop_for(&app, "maker@example.com", "Maker").await;
    let (_, _, maker_subs) = inventory_product(&app, &maker_key, &subcategory, "Maker Keys").await;
    let sub = &maker_subs[0];

    // The desk: an empty upload is refused; a file of three lines adds three.
    b.goto(&format!("{base}/desk")).await;
    assert_eq!(b.text(&format!("#stock-{sub}")).await, "0");
    let dir = tempfile::tempdir().expect("browser test step");
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "\n\n").expect("browser test step");
    let upload_form = format!("#upload-{sub}");
    b.type_into(
        &format!("{upload_form} input[type=file]"),
        empty.to_str().expect("browser test step"),
    )
    .await;
    b.click(&format!("{upload_form} button[type=submit]")).await;
    let notice = b
        .wait_text("#notice", "empty upload", |t| !t.is_empty())
        .await;
    assert!(notice.contains("no lines"), "{notice}");
    assert_eq!(b.text(&format!("#stock-{sub}")).await, "0");
    let file = dir.path().join("keys.txt");
    std::fs::write(&file, "key-1\nkey-2\nkey-3\n").expect("browser test step");
    b.type_into(
        &format!("{upload_form} input[type=file]"),
        file.to_str().expect("browser test step"),
    )
    .await;
    b.click(&format!("{upload_form} button[type=submit]")).await;
    let notice = b
        .wait_text("#notice", "upload done", |t| t.contains("Accepted"))
        .await;
    assert!(notice.contains("Accepted: 3, rejected: 0"), "{notice}");
    assert_eq!(b.text(&format!("#stock-{sub}")).await, "3");
    b.screenshot("desk").await;
    let desk = b.source().await;
    for secret in [key.as_str(), seller_key.as_str(), "acc-1:pw1"] {
        assert!(!desk.contains(secret), "the desk shows {secret}");
    }

    // The desk on a phone: no sideways scrolling either.
    b.resize(390, 844).await;
    b.goto(&format!("{base}/desk")).await;
    let fits = b
        .execute(
            "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
            json!([]),
        )
        .await;
    assert_eq!(fits, true, "/desk scrolls sideways on a phone");
    b.screenshot("desk-phone").await;

    // Every page's screenshot is there, a real PNG of the window's width.
    let mut shots: Vec<String> = std::fs::read_dir(b.screenshot_dir())
        .expect("browser test step")
        .map(|e| {
            e.expect("browser test step")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    shots.sort();
    let names: Vec<&str> = shots
        .iter()
        .map(|n| n[3..].trim_end_matches(".png"))
        .collect();
    assert_eq!(
        names,
        vec![
            "signup",
            "signup-refused",
            "account",
            "signin",
            "signin-refused",
            "test-api",
            "test-api-response",
            "docs-ru",
            "docs-phone",
            "shop-phone",
            "shop-refused",
            "shop",
            "orders",
            "sms",
            "desk",
            "desk-phone",
        ]
    );
    for name in &shots {
        let png = std::fs::read(b.screenshot_dir().join(name)).expect("browser test step");
        assert_eq!(&png[1..4], b"PNG", "{name}");
        let width = u32::from_be_bytes([png[16], png[17], png[18], png[19]]);
        let phone = name.contains("phone");
        assert!(
            if phone {
                (300..=400).contains(&width)
            } else {
                width >= 1200
            },
            "{name} is {width} px wide"
        );
        assert!(
            png.len() > 10_000,
            "{name} looks blank ({} bytes)",
            png.len()
        );
    }
    b.quit().await;
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(browser_adds_funds_through_stripe, |db| {
    if webdriver::tools().is_none() {
        assert!(
            std::env::var_os("SOUK_REQUIRE_BROWSER").is_none(),
            "SOUK_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("skipped: chromium and chromium-driver are not installed");
        return;
    }
    // The fake Stripe on loopback; the job queue running, so the webhook's wake-up
    // is acted on as in production.
    let app = TestApp::builder(db)
        .private_upstreams()
        .with_workers()
        .spawn()
        .await;
    let fake = FakeGateway::start(FakeKind::Stripe).await;
    enable_stripe(&app, &fake, "0").await;
    let engine = match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots-funds")
        .join(engine);
    let _ = std::fs::remove_dir_all(&shots);
    let mut b = Browser::start(shots).await.expect("browser");
    let base = app.url.clone();

    sign_up(&b, &base, "payer@example.com").await;
    assert_eq!(b.text("#balance").await, "0.00");
    b.click("#add-funds").await;
    wait_url(&b, "/account/funds").await;
    b.type_into("#amount", "25.00").await;
    b.click("#method-stripe input[type=radio]").await;
    b.screenshot("funds").await;
    b.click("#funds-submit").await;
    // The quote before paying.
    let total = b
        .wait_text("#quote-total", "the quote", |t| !t.is_empty())
        .await;
    assert_eq!(total, "25.00 USD");
    assert_eq!(b.text("#quote-fee").await, "0.00 USD");
    b.screenshot("funds-quote").await;
    b.click("#funds-confirm").await;
    // The gateway's pay page (the form's redirect there is allowed by the quote page's
    // policy), then back to the payment's page.
    wait_url(&b, &format!("{}/pay/", fake.base_url())).await;
    b.screenshot("gateway").await;
    b.click("#pay").await;
    let back = wait_url(&b, &format!("{base}/account/payments/")).await;
    let id = back.rsplit('/').next().unwrap_or("").to_owned();
    assert_eq!(
        app.store
            .payment(&id)
            .await
            .expect("browser test step")
            .map(|p| p.gateway),
        Some("stripe".to_owned())
    );
    // The page reloads itself until the check has credited the payment.
    let mut paid = false;
    for _ in 0..300 {
        if b.exists("#payment-state[data-state=\"paid\"]").await {
            paid = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(paid, "never paid: {}", b.source().await);
    assert_eq!(b.text("#balance").await, "25.00");
    assert_eq!(b.text("#payment-credited").await, "25.00 USD");
    b.screenshot("payment-paid").await;
    b.goto(&format!("{base}/account")).await;
    assert_eq!(b.text("#balance").await, "25.00");
    assert!(b
        .source()
        .await
        .contains(&format!("/account/payments/{id}")));
    b.quit().await;
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(browser_password_reset_through_the_smtp_sink, |db| {
    if webdriver::tools().is_none() {
        assert!(
            std::env::var_os("SOUK_REQUIRE_BROWSER").is_none(),
            "SOUK_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("skipped: chromium and chromium-driver are not installed");
        return;
    }
    // No background workers: the e-mail queue runs when the test says.
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let sink = souk_fakes::smtp::SmtpSink::start().await;
    souk_app::mail::configure(
        &app.store,
        souk_app::mail::SmtpPatch {
            enabled: Some(true),
            host: Some(sink.host().into()),
            port: Some(sink.port()),
            security: Some("plain".into()),
            from: Some("shop@souk.test".into()),
            site_url: Some(app.url.clone()),
            ..Default::default()
        },
        app.state.now(),
    )
    .await
    .expect("smtp on");
    let engine = match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots-password")
        .join(engine);
    let _ = std::fs::remove_dir_all(&shots);
    let mut b = Browser::start(shots).await.expect("browser");
    let base = app.url.clone();
    let email = "forgetful@example.com";
    const NEW: &str = "a brand new passphrase";

    sign_up(&b, &base, email).await;
    assert!(b.exists("#email-unverified").await, "{}", b.source().await);
    b.screenshot("account-unverified").await;
    sign_out(&b).await;

    // "Forgot password?" from the sign-in page.
    b.goto(&format!("{base}/signin")).await;
    b.click("#forgot-link").await;
    wait_url(&b, "/password/forgot").await;
    b.screenshot("forgot").await;
    b.type_into("#email", email).await;
    b.click("#forgot-submit").await;
    let notice = b
        .wait_text("#notice", "forgot notice", |t| !t.is_empty())
        .await;
    assert!(
        notice.contains("If this address has an account"),
        "{notice}"
    );
    b.screenshot("forgot-sent").await;

    // The link, read from the mail the sink received.
    app.run_deliveries().await;
    let mail = sink
        .received_by(email)
        .into_iter()
        .find(|m| m.subject() == "Reset your password")
        .expect("the reset mail");
    let text = mail.text();
    let link = text
        .split_whitespace()
        .find(|w| w.contains("/password/reset?token="))
        .expect("a link")
        .to_owned();
    b.goto(&link).await;
    b.find("#reset-form").await;
    b.screenshot("reset").await;
    b.type_into("#password", NEW).await;
    b.type_into("#password2", NEW).await;
    b.click("#reset-submit").await;
    wait_url(&b, "/account").await;
    b.find("#signout").await;
    b.screenshot("reset-signed-in").await;
    sign_out(&b).await;

    // The new password signs in.
    b.goto(&format!("{base}/signin")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", NEW).await;
    b.click("#auth-submit").await;
    wait_url(&b, "/account").await;
    b.find("#signout").await;
    b.screenshot("signed-in-with-new-password").await;
    b.quit().await;
    app.stop().await;
});
