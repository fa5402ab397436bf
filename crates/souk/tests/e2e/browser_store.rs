//! Issue 17's storefront in a real browser (headless Chromium), on a desktop and on a
//! phone-sized window, over the demo catalogue: browse to a subcategory, open a product,
//! pick its second variant and buy it, copy an account and download the file; open a
//! dispute and read the operator's answer; leave a review that shows on the shop's page;
//! order an SMM service of a type with extra fields from its form; rent an SMS number
//! and see the code appear after a signed gateway webhook. Screenshots land in
//! `target/tmp/screenshots-store/<engine>/<desktop|phone>/`. Skipped, saying so, where
//! Chromium is not installed.

use std::path::PathBuf;

use serde_json::{json, Value};
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::Money;

use crate::engine_test;
use crate::harness::{Kind, TestApp};
use crate::supply_kit::{ok, post, As};
use crate::web_store::demo_app;
use crate::webdriver::{self, Browser};

const PASSWORD: &str = "correct horse battery";

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

/// Whether the page fits the window's width (no sideways scrolling).
async fn fits(b: &Browser) -> Value {
    b.execute(
        "return document.documentElement.scrollWidth <= window.innerWidth + 1;",
        json!([]),
    )
    .await
}

/// Scrolls `css` into the middle of the window (before a screenshot of it).
async fn show(b: &Browser, css: &str) {
    b.execute(
        "document.querySelector(arguments[0]).scrollIntoView({block: 'center'});",
        json!([css]),
    )
    .await;
}

/// One buyer's whole journey in a window of `width` x `height`.
async fn journey(
    app: &TestApp,
    b: &mut Browser,
    email: &str,
    (width, height): (u32, u32),
    (gateway, secret): (&str, &str),
) {
    let base = app.url.clone();
    b.resize(width, height).await;
    b.goto(&format!("{base}/signup")).await;
    b.type_into("#email", email).await;
    b.type_into("#password", PASSWORD).await;
    b.type_into("#password2", PASSWORD).await;
    b.click("#auth-submit").await;
    wait_url(b, "/account").await;
    let id = app
        .store
        .user_id_by_email(email)
        .await
        .expect("db")
        .expect("user");
    app.store
        .adjust_balance(
            &id,
            Money::parse("100").expect("m"),
            "topup",
            "test",
            app.state.now(),
        )
        .await
        .expect("top up");

    // Browse: a category, then its subcategory, then the product.
    let snapshot = app.state.cache.get();
    let product = snapshot
        .catalogue
        .services
        .iter()
        .find(|s| {
            s.product_type == ProductType::Inventory
                && s.subproducts.len() > 1
                && s.subproducts[1].stock() >= 2
        })
        .expect("a product whose second variant has stock")
        .clone();
    b.goto(&format!("{base}/shop")).await;
    b.screenshot("shop").await;
    assert_eq!(fits(b).await, true, "/shop fits the window");
    b.click(&format!("#cat-{}", product.category_id)).await;
    b.click(&format!("#sub-{}", product.subcategory_id)).await;
    wait_url(b, &format!("sub={}", product.subcategory_id)).await;
    b.screenshot("subcategory").await;
    b.click(&format!("#service-{} a.service-link", product.number))
        .await;
    wait_url(b, &format!("/shop/s/{}", product.number)).await;
    b.screenshot("product").await;
    assert_eq!(fits(b).await, true, "the product page fits the window");

    // The second variant, bought.
    b.click("#variant-2").await;
    b.type_into("#f-quantity", "1").await;
    b.click("#place-order").await;
    wait_url(b, "/account/orders/").await;
    b.find("#account-1").await;
    b.screenshot("order").await;
    show(b, "#delivered").await;
    b.screenshot("order-accounts").await;
    let account = b.text("#account-1").await;
    assert!(!account.is_empty());
    b.click("button[data-copy=account-1]").await;
    // The clipboard answers asynchronously: the button says so once it has.
    let mut copied = Value::Null;
    for _ in 0..100 {
        copied = b
            .execute(
                "return document.querySelector('button[data-copy=account-1]').getAttribute('data-copied');",
                json!([]),
            )
            .await;
        if !copied.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(copied, json!(account), "the copy button took the account");
    let file = b
        .execute(
            "return fetch(document.getElementById('download').href).then(function (r) { return r.text(); });",
            json!([]),
        )
        .await;
    assert_eq!(file, json!(format!("{account}\n")), "the downloaded file");
    let order_url = b.url().await;

    // A dispute, and the operator's answer in its thread.
    b.type_into("#dispute-message", "The account does not sign in")
        .await;
    b.click("#open-dispute").await;
    b.wait_text("#notice", "dispute opened", |t| !t.is_empty())
        .await;
    let disputes = ok(
        200,
        crate::supply_kit::get(app, As::Operator, "/api/operator/v1/disputes?status=open").await,
    );
    let dispute = disputes["disputes"]
        .as_array()
        .expect("list")
        .iter()
        .find(|d| d["email"] == email)
        .expect("the dispute")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    ok(
        201,
        post(
            app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{dispute}/messages"),
            json!({"message": "Try the recovery address, please."}),
        )
        .await,
    );
    b.goto(&order_url).await;
    let thread = b
        .wait_text("ol.messages", "operator's answer", |t| {
            t.contains("Try the recovery address")
        })
        .await;
    assert!(thread.contains("Operator"), "{thread}");
    show(b, "ol.messages").await;
    b.screenshot("dispute").await;

    // A review that shows on the shop's page.
    let words = format!("Fine after recovery ({width}px)");
    b.click("#rating-5").await;
    b.type_into("#review-text", &words).await;
    b.click("#leave-review").await;
    b.find("#reviewed").await;
    b.goto(&format!("{base}/shop/shops/{}", product.shop_id))
        .await;
    b.wait_text("#shop-reviews", "the review on the shop page", |t| {
        t.contains(&words)
    })
    .await;
    show(b, "#shop-reviews").await;
    b.screenshot("shop-page").await;

    // An SMM order of a type with extra fields, from its form.
    let comments = snapshot
        .catalogue
        .services
        .iter()
        .find(|s| s.entity == EntityType::Smm && &*s.type_name == "Custom Comments")
        .expect("Custom Comments")
        .clone();
    b.goto(&format!("{base}/shop/s/{}", comments.number)).await;
    b.type_into("#f-comments", "too few").await;
    b.type_into("#f-link", "https://example.com/post/1").await;
    b.click("#place-order").await;
    let said = b
        .wait_text("#err-comments", "the refusal by its field", |t| {
            !t.is_empty()
        })
        .await;
    assert!(said.starts_with("Quantity must be between"), "{said}");
    show(b, "#err-comments").await;
    b.screenshot("smm-refused").await;
    let lines: String = (1..=comments.min.max(1))
        .map(|i| format!("Great post {i}\n"))
        .collect();
    b.type_into("#f-comments", &lines).await;
    b.click("#place-order").await;
    wait_url(b, "/account/orders/").await;
    b.find("#order-status").await;
    b.screenshot("smm-order").await;

    // An SMS number, and its code appearing without a reload by hand.
    let project = app
        .store
        .sms_offers(None, Some("us"))
        .await
        .expect("offers")
        .into_iter()
        .find(|o| o.project_name.en() == "Telegram")
        .expect("Telegram")
        .project_id;
    b.goto(&format!("{base}/sms?project={project}&country=us"))
        .await;
    b.screenshot("sms-offers").await;
    b.click(&format!("#offer-{project}-us button")).await;
    wait_url(b, "/account/sms/").await;
    let phone = b.text("#sms-phone").await;
    b.screenshot("sms-waiting").await;
    let now = app.state.now();
    let body = json!({"phone": phone, "from": "Telegram", "text": "Telegram code: 48213", "received_at": now}).to_string();
    let (code, v): (u16, Value) =
        crate::sms::push_signed(app, gateway, secret, &body, now / 1000).await;
    assert_eq!(code, 200, "{v}");
    let shown = b.wait_text("#sms-code", "the code", |t| t == "48213").await;
    assert_eq!(shown, "48213");
    b.screenshot("sms-code").await;
    assert_eq!(fits(b).await, true, "the SMS page fits the window");
    b.click("#signout").await;
    b.find("#nav-signin").await;
}

engine_test!(browser_storefront_journeys, |db| {
    if webdriver::tools().is_none() {
        assert!(
            std::env::var_os("SOUK_REQUIRE_BROWSER").is_none(),
            "SOUK_REQUIRE_BROWSER is set but chromium or chromedriver is missing"
        );
        eprintln!("skipped: chromium and chromium-driver are not installed");
        return;
    }
    let (app, (gateway, secret)) = demo_app(db).await;
    let engine = match db.kind {
        Kind::Sqlite => "sqlite",
        Kind::Postgres => "postgres",
    };
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("screenshots-store")
        .join(engine);
    let _ = std::fs::remove_dir_all(&root);
    for (name, size) in [("desktop", (1280, 1000)), ("phone", (390, 844))] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        let mut b = Browser::start(dir).await.expect("browser");
        journey(
            &app,
            &mut b,
            &format!("{name}@example.com"),
            size,
            (&gateway, &secret),
        )
        .await;
        b.quit().await;
    }
    app.stop().await;
    db.assert_audit_clean().await;
});
