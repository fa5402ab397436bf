//! Who may call what (SPEC 11, 12): a supplier never sees or touches another supplier's
//! orders, listings or stock; buyer keys open neither the supplier nor the operator API;
//! suspended users and revoked keys are `Invalid API key`; bad input gets a clear error.
//! Every refused call leaves the database exactly as it was.

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::harness::TestApp;
use crate::supply_kit::{
    self, buy, digest, get, inventory_product, market, ok, patch, post, send, upload, As,
};

const NOT_SUPPLIER: &str =
    "This API key does not belong to a supplier: the supplier API needs a user with a shop";

engine_test!(suppliers_are_walled_off, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (alpha, alpha_id, _) = supply_kit::supplier(&app, "alpha@shop.test", "Alpha").await;
    let (beta, _, _) = supply_kit::supplier(&app, "beta@shop.test", "Beta").await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let (a_product, a_number, a_subs) = inventory_product(&app, &alpha, &sub, "Alpha Mail").await;
    ok(
        200,
        upload(&app, &alpha, &a_subs[0], "a1\na2\na3", false).await,
    );
    let a_manual = ok(
        201,
        post(
            &app,
            As::Key(&alpha),
            "/api/admin/v2/products",
            json!({"name": "Alpha Manual", "subcategoryId": sub, "type": "manual",
                   "subproducts": [{"name": "One", "price": "1", "max": 5, "stock": 5}]}),
        )
        .await,
    );
    let a_manual_number = a_manual["service"].as_i64().expect("service");
    let a_order = buy(&app, &buyer, a_manual_number, 2).await;
    let (_, b_number, b_subs) = inventory_product(&app, &beta, &sub, "Beta Mail").await;
    ok(200, upload(&app, &beta, &b_subs[0], "b1", false).await);
    let b_order = buy(&app, &buyer, b_number, 1).await;
    let _ = buy(&app, &buyer, a_number, 1).await;
    // A suspended supplier and a revoked key.
    let (gamma, gamma_id, _) = supply_kit::supplier(&app, "gamma@shop.test", "Gamma").await;
    ok(200, get(&app, As::Key(&gamma), "/api/admin/v2/me").await);
    ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{gamma_id}/suspend"),
            json!({}),
        )
        .await,
    );
    let extra = ok(
        201,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{alpha_id}/keys"),
            json!({}),
        )
        .await,
    );
    let revoked = extra["key"].as_str().expect("key").to_owned();
    ok(200, get(&app, As::Key(&revoked), "/api/admin/v2/me").await);
    ok(
        200,
        send(
            &app,
            As::Operator,
            Method::DELETE,
            &format!(
                "/api/operator/v1/keys/{}",
                extra["id"].as_str().expect("id")
            ),
            None,
        )
        .await,
    );

    // Beta sees only its own.
    let orders = ok(200, get(&app, As::Key(&beta), "/api/admin/v2/orders").await);
    let ids: Vec<Value> = orders["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["order"].clone())
        .collect();
    assert_eq!(
        (ids, orders["total"].clone()),
        (vec![json!(b_order)], json!(1))
    );
    let products = ok(
        200,
        get(&app, As::Key(&beta), "/api/admin/v2/products").await,
    );
    assert_eq!(products["total"], 1);
    assert_eq!(products["products"][0]["name"], "Beta Mail");
    let earnings = ok(
        200,
        get(&app, As::Key(&beta), "/api/admin/v2/earnings").await,
    );
    assert_eq!(earnings["total"], 1);
    assert_eq!(earnings["earnings"][0]["order"], json!(b_order));

    let before = digest(db).await;
    let not_found = |what: &str| json!({"error": format!("{what} not found")});
    let sub0 = &a_subs[0];
    let denied: Vec<(As, Method, String, Option<Value>, u16, Value)> = vec![
        (
            As::Key(&beta),
            Method::GET,
            format!("/api/admin/v2/products/{a_product}"),
            None,
            404,
            not_found("Product"),
        ),
        (
            As::Key(&beta),
            Method::GET,
            format!("/api/admin/v2/products/{a_number}"),
            None,
            404,
            not_found("Product"),
        ),
        (
            As::Key(&beta),
            Method::PATCH,
            format!("/api/admin/v2/products/{a_product}"),
            Some(json!({"name": "Mine"})),
            404,
            not_found("Product"),
        ),
        (
            As::Key(&beta),
            Method::POST,
            format!("/api/admin/v2/products/{a_number}/subproducts"),
            Some(json!({"name": "X", "price": "1", "max": 2})),
            404,
            not_found("Product"),
        ),
        (
            As::Key(&beta),
            Method::PATCH,
            format!("/api/admin/v2/subproducts/{sub0}"),
            Some(json!({"price": "0.01"})),
            404,
            not_found("Subproduct"),
        ),
        (
            As::Key(&beta),
            Method::GET,
            format!("/api/admin/v2/subproducts/{sub0}/stock"),
            None,
            404,
            not_found("Subproduct"),
        ),
        (
            As::Key(&beta),
            Method::DELETE,
            format!("/api/admin/v2/subproducts/{sub0}/stock"),
            None,
            404,
            not_found("Subproduct"),
        ),
        (
            As::Key(&beta),
            Method::POST,
            format!("/api/admin/v2/orders/{a_order}/deliver"),
            Some(json!({"accounts": ["x"]})),
            404,
            not_found("Order"),
        ),
        (
            As::Key(&beta),
            Method::POST,
            format!("/api/admin/v2/orders/{a_order}/fail"),
            Some(json!({})),
            404,
            not_found("Order"),
        ),
        (
            As::Key(&beta),
            Method::POST,
            format!("/api/admin/v2/orders/{a_order}/progress"),
            Some(json!({"remains": 0})),
            404,
            not_found("Order"),
        ),
        (
            As::Key(&buyer),
            Method::GET,
            "/api/admin/v2/orders".into(),
            None,
            403,
            json!({"error": NOT_SUPPLIER}),
        ),
        (
            As::Key(&buyer),
            Method::POST,
            "/api/admin/v2/products".into(),
            Some(
                json!({"name": "X", "subcategoryId": sub, "type": "inventory", "subproducts": [{"name": "a", "price": "1", "max": 1}]}),
            ),
            403,
            json!({"error": NOT_SUPPLIER}),
        ),
        (
            As::Key(&buyer),
            Method::POST,
            format!("/api/admin/v2/orders/{a_order}/fail"),
            Some(json!({})),
            403,
            json!({"error": NOT_SUPPLIER}),
        ),
        (
            As::Key(&buyer),
            Method::POST,
            "/api/admin/v2/withdrawals".into(),
            Some(json!({})),
            403,
            json!({"error": NOT_SUPPLIER}),
        ),
        (
            As::Key(&gamma),
            Method::GET,
            "/api/admin/v2/orders".into(),
            None,
            401,
            json!({"error": "Invalid API key"}),
        ),
        (
            As::Key(&revoked),
            Method::GET,
            "/api/admin/v2/orders".into(),
            None,
            401,
            json!({"error": "Invalid API key"}),
        ),
        (
            As::Key("0000000000000000000000000000000000000000"),
            Method::GET,
            "/api/admin/v2/products".into(),
            None,
            401,
            json!({"error": "Invalid API key"}),
        ),
        (
            As::Nobody,
            Method::GET,
            "/api/admin/v2/orders".into(),
            None,
            401,
            json!({"error": "Invalid API key"}),
        ),
        (
            As::Bearer(&alpha),
            Method::GET,
            "/api/admin/v2/orders".into(),
            None,
            401,
            json!({"error": "Invalid API key"}),
        ),
        // The operator API takes the admin token only.
        (
            As::Bearer(&buyer),
            Method::GET,
            "/api/operator/v1/users".into(),
            None,
            401,
            json!({"error": "Invalid admin token"}),
        ),
        (
            As::Key(&buyer),
            Method::POST,
            format!("/api/operator/v1/users/{alpha_id}/balance"),
            Some(json!({"amount": "100"})),
            401,
            json!({"error": "Invalid admin token"}),
        ),
        (
            As::Bearer(&alpha),
            Method::POST,
            format!("/api/operator/v1/users/{gamma_id}/reactivate"),
            Some(json!({})),
            401,
            json!({"error": "Invalid admin token"}),
        ),
        (
            As::Nobody,
            Method::PATCH,
            "/api/operator/v1/settings".into(),
            Some(json!({"commission_percent": "0"})),
            401,
            json!({"error": "Invalid admin token"}),
        ),
    ];
    for (who, method, path, body, status, error) in denied {
        assert_eq!(
            send(&app, who, method.clone(), &path, body).await,
            (status, error),
            "{method} {path} as {who:?}"
        );
    }
    for (key, expected) in [
        (&beta, (404, not_found("Subproduct"))),
        (&buyer, (403, json!({"error": NOT_SUPPLIER}))),
        (&gamma, (401, json!({"error": "Invalid API key"}))),
    ] {
        assert_eq!(upload(&app, key, sub0, "stolen:1", false).await, expected);
    }
    // The buyer's key still works where it belongs, and cannot see Alpha's stock.
    let status = crate::supply_kit::status(&app, &buyer, a_order).await;
    assert_eq!(status["status"], "Pending");
    assert_eq!(digest(db).await, before, "denied calls changed something");

    // Reactivated, Gamma's key works again on the next request.
    ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{gamma_id}/reactivate"),
            json!({}),
        )
        .await,
    );
    ok(
        200,
        get(&app, As::Key(&gamma), "/api/admin/v2/orders").await,
    );
    // Alpha still does its own work.
    assert_eq!(
        post(
            &app,
            As::Key(&alpha),
            &format!("/api/admin/v2/orders/{a_order}/deliver"),
            json!({"accounts": ["m1", "m2"]})
        )
        .await,
        (
            200,
            json!({"order": a_order, "delivered": 2, "remains": 0, "status": "completed"})
        )
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(bad_input_gets_a_clear_error_and_changes_nothing, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, user, _) = supply_kit::supplier(&app, "seller@shop.test", "Seller").await;
    let (product, number, subs) = inventory_product(&app, &key, &sub, "Mail").await;
    ok(200, upload(&app, &key, &subs[0], "m1\nm2", false).await);
    let manual = ok(
        201,
        post(
            &app,
            As::Key(&key),
            "/api/admin/v2/products",
            json!({"name": "By hand", "subcategoryId": sub, "type": "manual",
                   "subproducts": [{"name": "One", "price": "1", "max": 5}]}),
        )
        .await,
    );
    let manual_sub = manual["subproducts"][0]["subproductId"]
        .as_str()
        .expect("id")
        .to_owned();
    let unknown = "0123456789abcdef01234567";
    let product_body = |sub_override: Value| {
        let mut body = json!({
            "name": "New", "subcategoryId": sub, "type": "inventory",
            "subproducts": [{"name": "One", "price": "1.00", "min": 1, "max": 10}]
        });
        if let Value::Object(m) = sub_override {
            for (k, v) in m {
                body[k] = v;
            }
        }
        body
    };
    let before = digest(db).await;
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            product_body(json!({"subproducts": [{"name": "One", "price": "-1.00", "max": 10}]})),
            400,
            "price must not be negative",
        ),
        (
            product_body(json!({"subproducts": [{"name": "One", "price": -0.5, "max": 10}]})),
            400,
            "price must not be negative",
        ),
        (
            product_body(
                json!({"subproducts": [{"name": "One", "price": "1", "min": 5, "max": 2}]}),
            ),
            400,
            "min (5) must not be greater than max (2)",
        ),
        (
            product_body(
                json!({"subproducts": [{"name": "One", "price": "1", "min": 0, "max": 2}]}),
            ),
            400,
            "min must be a whole number of at least 1",
        ),
        (
            product_body(json!({"subproducts": [{"name": "One", "price": "1.0000001", "max": 2}]})),
            400,
            "price is not a valid amount (up to 6 decimals, e.g. \"1.50\")",
        ),
        (
            product_body(json!({"subproducts": [{"name": "One", "price": "1"}]})),
            400,
            "max is required",
        ),
        (
            product_body(json!({"subproducts": []})),
            400,
            "A product needs at least one subproduct",
        ),
        (
            product_body(json!({"type": "auto"})),
            400,
            "type must be inventory or manual",
        ),
        (product_body(json!({"name": "  "})), 400, "name is required"),
        (
            product_body(json!({"subcategoryId": unknown})),
            404,
            "Subcategory not found",
        ),
        (
            product_body(json!({"subcategoryId": "nope"})),
            404,
            "Subcategory not found",
        ),
        (
            product_body(json!({"translations": {"name": {"xx": "?"}}})),
            400,
            "Unsupported language: xx",
        ),
        (
            product_body(json!({"translations": {"name": {"en": "?"}}})),
            400,
            "Translations are for other languages; set English in name itself",
        ),
        (
            product_body(json!({"translations": {"title": {"ru": "?"}}})),
            400,
            "Unknown translated field: title (use name or description)",
        ),
        (
            product_body(json!({"shopId": unknown})),
            404,
            "Shop not found",
        ),
        (
            product_body(
                json!({"entityType": "smm", "type": "manual", "subproducts": [], "rate": "-1", "max": 5}),
            ),
            400,
            "rate must not be negative",
        ),
        (
            product_body(
                json!({"entityType": "smm", "type": "manual", "subproducts": [], "rate": "1", "min": 10, "max": 5}),
            ),
            400,
            "min (10) must not be greater than max (5)",
        ),
    ];
    for (body, status, error) in cases {
        assert_eq!(
            post(&app, As::Key(&key), "/api/admin/v2/products", body.clone()).await,
            (status, json!({"error": error})),
            "{body}"
        );
    }
    // Malformed JSON: the parser's own words.
    for (body, start) in [
        (
            json!({"subcategoryId": sub, "type": "inventory"}),
            "Invalid JSON body: missing field `name`",
        ),
        (
            product_body(json!({"prcie": "1"})),
            "Invalid JSON body: unknown field `prcie`",
        ),
    ] {
        let (status, v) = post(&app, As::Key(&key), "/api/admin/v2/products", body).await;
        assert_eq!(status, 400);
        assert!(
            v["error"].as_str().is_some_and(|e| e.starts_with(start)),
            "{v}"
        );
    }
    let patches: Vec<(String, Value, u16, String)> = vec![
        (
            format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"min": 20}),
            400,
            "min (20) must not be greater than max (10)".into(),
        ),
        (
            format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"price": "-5"}),
            400,
            "price must not be negative".into(),
        ),
        (
            format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"stock": 50}),
            400,
            "An inventory subproduct's stock is its lines: upload or remove lines instead".into(),
        ),
        (
            format!("/api/admin/v2/subproducts/{manual_sub}"),
            json!({"stock": -1}),
            400,
            "stock must not be negative".into(),
        ),
        (
            format!("/api/admin/v2/subproducts/{unknown}"),
            json!({"price": "1"}),
            404,
            "Subproduct not found".into(),
        ),
        (
            format!("/api/admin/v2/products/{unknown}"),
            json!({"name": "x"}),
            404,
            "Product not found".into(),
        ),
        (
            format!("/api/admin/v2/products/{product}"),
            json!({"type": "auto"}),
            400,
            "type must be inventory or manual".into(),
        ),
        (
            format!("/api/admin/v2/products/{product}"),
            json!({"rate": "1"}),
            400,
            "A product's price and limits belong to its subproducts".into(),
        ),
        (
            format!("/api/admin/v2/products/{product}"),
            json!({"subcategoryId": unknown}),
            404,
            "Subcategory not found".into(),
        ),
        (
            format!("/api/admin/v2/products/{number}"),
            json!({"name": ""}),
            400,
            "name is required".into(),
        ),
    ];
    for (path, body, status, error) in patches {
        assert_eq!(
            patch(&app, As::Key(&key), &path, body.clone()).await,
            (status, json!({"error": error})),
            "{path} {body}"
        );
    }
    // Uploads: empty, blank, too large, over-long lines, wrong product, wrong type.
    let long_line = format!("ok\n{}\n", "x".repeat(4097));
    let ten_mb = "account:password\n".repeat(10_000_000 / 17 + 1);
    let uploads: Vec<(String, String, bool, u16, &str)> = vec![
        (
            subs[0].clone(),
            String::new(),
            false,
            400,
            "The upload has no lines",
        ),
        (
            subs[0].clone(),
            "\n \r\n\n".into(),
            true,
            400,
            "The upload has no lines",
        ),
        (
            subs[0].clone(),
            ten_mb,
            false,
            413,
            "Stock upload too large (max 8 MiB)",
        ),
        (
            subs[0].clone(),
            long_line,
            false,
            400,
            "Line 2 is longer than 4096 bytes",
        ),
        (
            unknown.into(),
            "a".into(),
            false,
            404,
            "Subproduct not found",
        ),
        (
            "not-an-id".into(),
            "a".into(),
            false,
            404,
            "Subproduct not found",
        ),
        (
            manual_sub.clone(),
            "a".into(),
            false,
            400,
            "Stock lines can only be added to inventory products",
        ),
    ];
    for (sub, text, dedupe, status, error) in uploads {
        let size = text.len();
        assert_eq!(
            upload(&app, &key, &sub, text, dedupe).await,
            (status, json!({"error": error})),
            "{size} bytes to {sub}"
        );
    }
    let response = app
        .http
        .post(format!(
            "{}/api/admin/v2/subproducts/{}/stock",
            app.url, subs[0]
        ))
        .header("X-Api-Key", &key)
        .header("Content-Type", "application/json")
        .body("[\"a\"]")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 415);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"error": "Stock is sent as text/plain, one item per line"})
    );
    let response = app
        .http
        .post(format!(
            "{}/api/admin/v2/subproducts/{}/stock?dedupe=maybe",
            app.url, subs[0]
        ))
        .header("X-Api-Key", &key)
        .body("a")
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"error": "dedupe must be true or false"})
    );
    // Orders that are not there.
    for (path, body) in [
        (
            "/api/admin/v2/orders/999999/deliver",
            json!({"accounts": ["a"]}),
        ),
        (
            "/api/admin/v2/orders/abc/deliver",
            json!({"accounts": ["a"]}),
        ),
        ("/api/admin/v2/orders/0/fail", json!({})),
        (
            "/api/admin/v2/orders/999999/progress",
            json!({"remains": 1}),
        ),
    ] {
        assert_eq!(
            post(&app, As::Key(&key), path, body).await,
            (404, json!({"error": "Order not found"})),
            "{path}"
        );
    }
    // The operator's bad input.
    let operator_cases: Vec<(Method, String, Value, u16, String)> = vec![
        (
            Method::PATCH,
            "/api/operator/v1/settings".into(),
            json!({"commission_percent": "150"}),
            400,
            "commission_percent must be a percentage from 0 to 100 with up to 2 decimals".into(),
        ),
        (
            Method::PATCH,
            "/api/operator/v1/settings".into(),
            json!({"earnings_hold_hours": -1}),
            400,
            "earnings_hold_hours must be a whole number of hours from 0 to 8760".into(),
        ),
        (
            Method::PATCH,
            "/api/operator/v1/settings".into(),
            json!({"commission_percent": "5", "nope": 1}),
            400,
            "Unknown setting: nope".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/users/{user}/balance"),
            json!({"amount": "-1", "note": "oops"}),
            400,
            "The balance cannot go below zero".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/users/{user}/balance"),
            json!({"amount": "-1"}),
            400,
            "An adjustment needs a note saying why".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/users/{user}/balance"),
            json!({"amount": "-1", "kind": "topup"}),
            400,
            "A top-up must be positive; use kind adjust to debit".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/users/{user}/balance"),
            json!({"amount": "0"}),
            400,
            "Amount must not be zero".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/users/{unknown}/balance"),
            json!({"amount": "1"}),
            404,
            "User not found".into(),
        ),
        (
            Method::POST,
            "/api/operator/v1/categories".into(),
            json!({"slug": "Bad Slug", "name": "X"}),
            400,
            "slug must be 1 to 100 of a-z, 0-9 and -".into(),
        ),
        (
            Method::POST,
            "/api/operator/v1/categories".into(),
            json!({"slug": "accounts", "name": "Again"}),
            409,
            "A category with slug accounts already exists".into(),
        ),
        (
            Method::POST,
            "/api/operator/v1/subcategories".into(),
            json!({"slug": "x", "name": "X", "categoryId": unknown}),
            404,
            "Category not found".into(),
        ),
        (
            Method::POST,
            "/api/operator/v1/users".into(),
            json!({"email": "seller@shop.test"}),
            409,
            "A user with email seller@shop.test already exists".into(),
        ),
        (
            Method::POST,
            "/api/operator/v1/users".into(),
            json!({"email": "nobody"}),
            400,
            "Invalid email address: nobody".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/users/{unknown}/suspend"),
            json!({}),
            404,
            "User not found".into(),
        ),
        (
            Method::DELETE,
            format!("/api/operator/v1/keys/{unknown}"),
            Value::Null,
            404,
            "API key not found".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/withdrawals/{unknown}/complete"),
            json!({}),
            404,
            "Withdrawal not found".into(),
        ),
        (
            Method::POST,
            format!("/api/operator/v1/disputes/{unknown}/resolve"),
            json!({"decision": "reject"}),
            404,
            "Dispute not found".into(),
        ),
        (
            Method::PATCH,
            format!("/api/operator/v1/shops/{unknown}"),
            json!({"active": false}),
            404,
            "Shop not found".into(),
        ),
    ];
    for (method, path, body, status, error) in operator_cases {
        let body = (!body.is_null()).then_some(body);
        assert_eq!(
            send(&app, As::Operator, method.clone(), &path, body).await,
            (status, json!({"error": error})),
            "{method} {path}"
        );
    }
    assert_eq!(digest(db).await, before, "bad input changed something");
    // The settings were not half-applied.
    let s = ok(
        200,
        get(&app, As::Operator, "/api/operator/v1/settings").await,
    );
    assert_eq!(
        s,
        json!({"settings": {"early_cancel_enabled": true, "auto_order_early_refund_minutes": 30,
                            "commission_percent": "10", "earnings_hold_hours": 72, "sms_lifetime_minutes": 20,
                            "payment_mismatch": "credit", "deposit_bonus": "", "provider_low_balance": "",
                            "display_currencies": ""}})
    );
    db.assert_audit_clean().await;
    app.stop().await;
});
