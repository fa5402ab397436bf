//! `mass_order` (an `/api/v2` extension): one `service|link|quantity` a line, each an
//! ordinary order with its own result line; a bad line fails alone, a retried request
//! with an idempotency key places nothing twice, and a bad request changes nothing.

use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{FakeUpstream, Shape};
use crate::harness::TestApp;
use crate::providers::{connect, panel_services};

engine_test!(mass_order_places_each_line_alone, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "3").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 2_000).await;
    // Followers: 1.08 per 1000, 10 to 100000; views: 0.02 per 1000 (rounded up), from 100.
    let (followers, views) = (numbers[0], numbers[1]);
    let text = format!(
        "{followers}|https://instagram.com/p/a|1000\r\n\
         {followers}|https://instagram.com/p/b|5\n\
         \n\
         nonsense\n\
         999999|https://instagram.com/p/c|100\n\
         {followers}|https://instagram.com/p/d|100000\n\
         {views}|https://tiktok.com/v?a=1|b|100\n"
    );
    let form = [
        ("key", key.as_str()),
        ("action", "mass_order"),
        ("orders", &text),
        ("idempotency_key", "batch-1"),
    ];
    let v = app.call(&form).await;
    let placed = |line: usize| -> i64 {
        v["orders"]
            .as_array()
            .and_then(|l| l.iter().find(|r| r["line"] == line))
            .and_then(|r| r["order"].as_i64())
            .unwrap_or_else(|| panic!("line {line}: {v}"))
    };
    let (first, last) = (placed(1), placed(7));
    assert_eq!(
        v,
        json!({"orders": [
            {"line": 1, "order": first},
            {"line": 2, "error": "Quantity must be between 10 and 100000"},
            {"line": 4, "error": "Each line must be service|link|quantity"},
            {"line": 5, "error": "Service not found"},
            {"line": 6, "error": "Insufficient balance"},
            {"line": 7, "order": last},
        ]})
    );
    // Two orders charged: 1.08 and 0.002.
    let balance =
        || async { app.call(&[("key", &key), ("action", "balance")]).await["balance"].clone() };
    assert_eq!(balance().await, json!("1.918"));
    // The same request again: the same orders, nothing charged twice.
    assert_eq!(app.call(&form).await, v);
    assert_eq!(balance().await, json!("1.918"));
    // As a JSON array of lines, without a key: placed again, each on its own.
    let body: Value = reqwest::Client::new()
        .post(app.api())
        .json(&json!({"key": key, "action": "mass_order",
                      "orders": [format!("{views}|https://tiktok.com/v/2|100"), "x|y"]}))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let third = body["orders"][0]["order"]
        .as_i64()
        .unwrap_or_else(|| panic!("{body}"));
    assert_eq!(
        body,
        json!({"orders": [
            {"line": 1, "order": third},
            {"line": 2, "error": "Each line must be service|link|quantity"},
        ]})
    );
    // Bad requests change nothing.
    let orders_before = db.scalar("SELECT COUNT(*) FROM orders").await;
    let many = format!("{views}|https://tiktok.com/v|100\n").repeat(101);
    let long_key = "k".repeat(126);
    for (orders, idem, error) in [
        ("", "", "orders is required"),
        (" \r\n\n", "", "orders is required"),
        (many.as_str(), "", "Too many lines (max 100)"),
        (
            "1|l|100",
            long_key.as_str(),
            "Idempotency key is too long (max 128 characters)",
        ),
    ] {
        let mut form = vec![
            ("key", key.as_str()),
            ("action", "mass_order"),
            ("orders", orders),
        ];
        if !idem.is_empty() {
            form.push(("idempotency_key", idem));
        }
        assert_eq!(app.call(&form).await, json!({"error": error}), "{orders:?}");
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM orders").await,
        orders_before
    );
    assert_eq!(balance().await, json!("1.916"));
    // Each placed line is an ordinary order: it goes upstream.
    assert_eq!(app.run_forwarding().await, 3);
    let mut links: Vec<String> = fake.orders().into_iter().map(|o| o.link).collect();
    links.sort();
    assert_eq!(
        links,
        vec![
            "https://instagram.com/p/a",
            "https://tiktok.com/v/2",
            "https://tiktok.com/v?a=1|b"
        ]
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

// The web form answers each line as `mass_order` does (side by side, the same lines from
// two buyers with the same balance), a form sent twice places each line once, and a bad
// form changes nothing.
engine_test!(web_mass_order_answers_as_the_api_does, |db| {
    use crate::web::{csrf_of, form, page};
    use crate::web_store::{text_of, web_buyer};

    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 2_000).await;
    let followers = numbers[0];
    let (cookie, _, web_key) = web_buyer(&app, "web@test.local", "3").await;
    let api_key = app.buyer("api@test.local", "3").await;
    let text = format!(
        "{followers}|https://instagram.com/p/a|1000\n\
         {followers}|https://instagram.com/p/b|5\n\
         nonsense\n\
         {followers}|https://instagram.com/p/d|100000\n"
    );
    let api = app
        .call(&[
            ("key", &api_key),
            ("action", "mass_order"),
            ("orders", &text),
        ])
        .await;
    let (code, html) = page(&app, &cookie, "/account/mass-order").await;
    assert_eq!(code, 200);
    let csrf = csrf_of(&html);
    let fields = [
        ("csrf", csrf.as_str()),
        ("orders", text.as_str()),
        ("idempotency_key", "form-1"),
    ];
    let r = form(&app, "/account/mass-order", &cookie, &fields).await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert_eq!(
        text_of(&html, "mass-order-summary").as_deref(),
        Some("Placed 1 / 4")
    );
    // Line by line the same outcome: an order, or the API's very refusal.
    let line = |n: usize| {
        let at = html
            .find(&format!("id=\"mass-line-{n}\""))
            .unwrap_or_else(|| panic!("line {n}"));
        let row = &html[at..at + html[at..].find("</tr>").expect("row end")];
        if row.contains("/account/orders/") {
            "order".to_owned()
        } else {
            let start = row.find("field-error\">").expect("error") + 13;
            row[start..start + row[start..].find('<').expect("end")].to_owned()
        }
    };
    for (n, want) in api["orders"].as_array().expect("lines").iter().enumerate() {
        let expected = match want["order"].as_i64() {
            Some(_) => "order".to_owned(),
            None => want["error"].as_str().expect("error").to_owned(),
        };
        assert_eq!(line(n + 1), expected, "line {}: {api}", n + 1);
    }
    let balance = |key: String| {
        let app = &app;
        async move { app.call(&[("key", &key), ("action", "balance")]).await["balance"].clone() }
    };
    assert_eq!(balance(web_key.clone()).await, json!("1.92"));
    assert_eq!(
        balance(api_key.clone()).await,
        balance(web_key.clone()).await
    );
    // The same form again (a double click): nothing placed twice.
    let r = form(&app, "/account/mass-order", &cookie, &fields).await;
    assert_eq!(r.status(), 200);
    assert_eq!(balance(web_key.clone()).await, json!("1.92"));
    // Bad forms: nothing placed, a clear error.
    let orders_before = db.scalar("SELECT COUNT(*) FROM orders").await;
    let r = form(
        &app,
        "/account/mass-order",
        &cookie,
        &[("csrf", &csrf), ("orders", "  \n ")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let html = r.text().await.expect("body");
    assert_eq!(
        text_of(&html, "mass-order-error").as_deref(),
        Some("orders is required")
    );
    let r = form(
        &app,
        "/account/mass-order",
        &cookie,
        &[("csrf", "forged"), ("orders", &text)],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM orders").await,
        orders_before
    );
    app.stop().await;
    db.assert_audit_clean().await;
});
