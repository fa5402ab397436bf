//! The operator API (SPEC 11) on both engines: every change buyers can see shows on their
//! next request; users, keys and balances; settings; and the OpenAPI document.

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::harness::TestApp;
use crate::supply_kit::{self, balance, get, inventory_product, market, ok, patch, post, send, As};

engine_test!(catalogue_and_shops_show_on_the_next_request, |db| {
    let app = TestApp::spawn(db).await;
    let buyer = app.buyer("buyer@test.local", "10").await;
    let categories = |lang: &'static str| {
        let (app, key) = (&app, buyer.clone());
        async move {
            app.call(&[("key", &key), ("action", "categories"), ("lang", lang)])
                .await
        }
    };
    let games = ok(
        201,
        post(
            &app,
            As::Operator,
            "/api/operator/v1/categories",
            json!({"slug": "games", "name": "Games", "position": 2,
                   "translations": {"name": {"ru": "Игры"}}}),
        )
        .await,
    );
    let games_id = games["id"].as_str().expect("id").to_owned();
    assert_eq!(
        games,
        json!({"id": games_id, "slug": "games", "name": "Games", "description": "", "imageUrl": null,
               "position": 2, "active": true, "translations": {"name": {"ru": "Игры"}}})
    );
    let (_, email_sub) = market(&app).await;
    let steam = ok(
        201,
        post(
            &app,
            As::Operator,
            "/api/operator/v1/subcategories",
            json!({"slug": "steam", "name": "Steam", "categoryId": games_id, "position": 1,
                   "translations": {"name": {"ru": "Стим"}}}),
        )
        .await,
    );
    assert_eq!(steam["categoryId"], json!(games_id));
    assert_eq!(
        categories("ru").await,
        json!({"categories": [
            {"category": "Accounts", "subcategories": ["Email"]},
            {"category": "Игры", "subcategories": ["Стим"]}
        ]})
    );
    // Positions, the active flag and translations, all on the next request.
    ok(
        200,
        patch(
            &app,
            As::Operator,
            &format!("/api/operator/v1/categories/{games_id}"),
            json!({"position": 0, "translations": {"name": {"ru": null, "de": "Spiele"}}}),
        )
        .await,
    );
    assert_eq!(
        categories("ru").await["categories"][0],
        json!({"category": "Games", "subcategories": ["Стим"]})
    );
    assert_eq!(
        categories("de").await["categories"][0],
        json!({"category": "Spiele", "subcategories": ["Steam"]})
    );
    let hidden = ok(
        200,
        patch(
            &app,
            As::Operator,
            &format!(
                "/api/operator/v1/subcategories/{}",
                steam["id"].as_str().expect("id")
            ),
            json!({"active": false, "name": "Steam Keys"}),
        )
        .await,
    );
    assert_eq!(
        (hidden["active"].clone(), hidden["name"].clone()),
        (json!(false), json!("Steam Keys"))
    );
    assert_eq!(
        categories("en").await["categories"][0],
        json!({"category": "Games", "subcategories": []})
    );
    let all = ok(
        200,
        get(
            &app,
            As::Operator,
            &format!("/api/operator/v1/subcategories?categoryId={games_id}"),
        )
        .await,
    );
    assert_eq!(all["subcategories"].as_array().map(Vec::len), Some(1));
    ok(
        200,
        patch(
            &app,
            As::Operator,
            &format!("/api/operator/v1/categories/{games_id}"),
            json!({"active": false}),
        )
        .await,
    );
    assert_eq!(
        categories("en").await["categories"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );

    // Shops: a supplier's listing disappears with its shop and comes back.
    let (key, _, shop) = supply_kit::supplier(&app, "shop@test.local", "NordAccounts").await;
    let (_, number, _) = inventory_product(&app, &key, &email_sub, "Mail").await;
    let shops = app.call(&[("key", &buyer), ("action", "shops")]).await;
    assert_eq!(shops["shops"][0]["name"], "N***s");
    let renamed = ok(
        200,
        patch(
            &app,
            As::Operator,
            &format!("/api/operator/v1/shops/{shop}"),
            json!({"name": "Baltic"}),
        )
        .await,
    );
    assert_eq!(
        renamed,
        json!({"id": shop, "name": "Baltic", "ownerId": renamed["ownerId"], "ownerEmail": "shop@test.local",
               "active": true, "listings": 1, "rating": 0.0, "reviewCount": 0, "createdAt": renamed["createdAt"]})
    );
    let shops = app.call(&[("key", &buyer), ("action", "shops")]).await;
    assert_eq!(shops["shops"][0]["name"], "B***c");
    ok(
        200,
        patch(
            &app,
            As::Operator,
            &format!("/api/operator/v1/shops/{shop}"),
            json!({"active": false}),
        )
        .await,
    );
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &number.to_string())
        ])
        .await,
        json!({"error": "Service not found"})
    );
    assert_eq!(
        app.call(&[("key", &buyer), ("action", "shops")]).await["total"],
        0
    );
    ok(
        200,
        patch(
            &app,
            As::Operator,
            &format!("/api/operator/v1/shops/{shop}"),
            json!({"active": true}),
        )
        .await,
    );
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &number.to_string())
        ])
        .await["service"],
        json!(number)
    );
    // A second shop for an existing user, by email.
    let second = ok(
        201,
        post(
            &app,
            As::Operator,
            "/api/operator/v1/shops",
            json!({"name": "Second", "ownerEmail": "shop@test.local"}),
        )
        .await,
    );
    assert_eq!(second["listings"], 0);
    let listed = ok(200, get(&app, As::Operator, "/api/operator/v1/shops").await);
    assert_eq!(listed["shops"].as_array().map(Vec::len), Some(2));
    let me = ok(200, get(&app, As::Key(&key), "/api/admin/v2/me").await);
    assert_eq!(me["shops"].as_array().map(Vec::len), Some(2));
    app.stop().await;
});

engine_test!(users_keys_balances_and_settings, |db| {
    let app = TestApp::spawn(db).await;
    let created = ok(
        201,
        post(
            &app,
            As::Operator,
            "/api/operator/v1/users",
            json!({"email": "Ann@Example.com", "name": "Ann", "balance": "25"}),
        )
        .await,
    );
    let id = created["user"]["id"].as_str().expect("id").to_owned();
    let key = created["apiKey"].as_str().expect("key").to_owned();
    assert_eq!(
        created,
        json!({
            "user": {"id": id, "email": "ann@example.com", "name": "Ann", "status": "active",
                     "supplier": false, "balance": "25.00", "createdAt": created["user"]["createdAt"]},
            "apiKey": key, "shopId": null
        })
    );
    assert_eq!(balance(&app, &key).await, "25.00");
    // Suspended: the key stops at once, everywhere; reactivated: it works again.
    let v = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/suspend"),
            json!({}),
        )
        .await,
    );
    assert_eq!(v["status"], "suspended");
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await,
        json!({"error": "Invalid API key"})
    );
    ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/reactivate"),
            json!({}),
        )
        .await,
    );
    assert_eq!(balance(&app, &key).await, "25.00");
    // Keys: another one, revoked; then a rotation replaces them all.
    let extra = ok(
        201,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/keys"),
            json!({"label": "bot"}),
        )
        .await,
    );
    let extra_key = extra["key"].as_str().expect("key").to_owned();
    assert_eq!(balance(&app, &extra_key).await, "25.00");
    let keys = ok(
        200,
        get(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/keys"),
        )
        .await,
    );
    assert_eq!(keys["keys"].as_array().map(Vec::len), Some(2));
    assert_eq!(keys["keys"][1]["label"], "bot");
    assert_eq!(keys["keys"][1]["prefix"], json!(&extra_key[..6]));
    assert!(
        !keys.to_string().contains(&extra_key),
        "keys are never shown again"
    );
    let extra_id = extra["id"].as_str().expect("id").to_owned();
    assert_eq!(
        send(
            &app,
            As::Operator,
            Method::DELETE,
            &format!("/api/operator/v1/keys/{extra_id}"),
            None
        )
        .await,
        (200, json!({"id": extra_id, "revoked": true}))
    );
    assert_eq!(
        app.call(&[("key", &extra_key), ("action", "balance")])
            .await,
        json!({"error": "Invalid API key"})
    );
    assert_eq!(
        send(
            &app,
            As::Operator,
            Method::DELETE,
            &format!("/api/operator/v1/keys/{extra_id}"),
            None
        )
        .await,
        (409, json!({"error": "The API key is already revoked"}))
    );
    let rotated = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/keys/rotate"),
            json!({}),
        )
        .await,
    );
    let new_key = rotated["key"].as_str().expect("key").to_owned();
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await,
        json!({"error": "Invalid API key"})
    );
    assert_eq!(balance(&app, &new_key).await, "25.00");
    // Balances, through the ledger.
    assert_eq!(
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/balance"),
            json!({"amount": "10", "note": "bonus"})
        )
        .await,
        (
            200,
            json!({"userId": id, "balance": "35.00", "currency": "USD"})
        )
    );
    assert_eq!(
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/balance"),
            json!({"amount": "-5.5", "note": "chargeback"})
        )
        .await,
        (
            200,
            json!({"userId": id, "balance": "29.50", "currency": "USD"})
        )
    );
    assert_eq!(
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/balance"),
            json!({"amount": 0.5, "kind": "adjust", "note": "rounding"})
        )
        .await,
        (
            200,
            json!({"userId": id, "balance": "30.00", "currency": "USD"})
        )
    );
    let ledger = ok(
        200,
        get(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/ledger"),
        )
        .await,
    );
    let rows: Vec<(Value, Value, Value, Value)> = ledger["ledger"]
        .as_array()
        .expect("ledger")
        .iter()
        .map(|r| {
            (
                r["amount"].clone(),
                r["kind"].clone(),
                r["note"].clone(),
                r["balanceAfter"].clone(),
            )
        })
        .collect();
    assert_eq!(
        rows,
        vec![
            (
                json!("0.50"),
                json!("adjust"),
                json!("rounding"),
                json!("30.00")
            ),
            (
                json!("-5.50"),
                json!("adjust"),
                json!("chargeback"),
                json!("29.50")
            ),
            (
                json!("10.00"),
                json!("topup"),
                json!("bonus"),
                json!("35.00")
            ),
            (
                json!("25.00"),
                json!("topup"),
                json!("opening balance"),
                json!("25.00")
            ),
        ]
    );
    assert_eq!(balance(&app, &new_key).await, "30.00");
    // Made a supplier with a shop: the supplier API opens for their key.
    assert_eq!(
        get(&app, As::Key(&new_key), "/api/admin/v2/me").await.0,
        403
    );
    let v = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{id}/supplier"),
            json!({"shopName": "Ann's"}),
        )
        .await,
    );
    let shop = v["shopId"].as_str().expect("shop").to_owned();
    assert_eq!(v["user"]["supplier"], true);
    assert_eq!(
        ok(200, get(&app, As::Key(&new_key), "/api/admin/v2/me").await),
        json!({"userId": id, "email": "ann@example.com", "shops": [{"shopId": shop, "name": "Ann's", "active": true}]})
    );
    let full = ok(
        200,
        get(&app, As::Operator, &format!("/api/operator/v1/users/{id}")).await,
    );
    assert_eq!(full["shops"][0]["shopId"], json!(shop));
    assert_eq!(full["keys"].as_array().map(Vec::len), Some(3));
    let found = ok(
        200,
        get(&app, As::Operator, "/api/operator/v1/users?email=ANN").await,
    );
    assert_eq!(
        (found["total"].clone(), found["users"][0]["id"].clone()),
        (json!(1), json!(id))
    );
    // Settings: defaults, a change, and the change at work.
    assert_eq!(
        ok(
            200,
            get(&app, As::Operator, "/api/operator/v1/settings").await
        ),
        json!({"settings": {"early_cancel_enabled": true, "auto_order_early_refund_minutes": 30,
                            "commission_percent": "10", "earnings_hold_hours": 72, "sms_lifetime_minutes": 20,
                            "payment_mismatch": "credit", "deposit_bonus": "", "provider_low_balance": "",
                            "display_currencies": ""}})
    );
    assert_eq!(
        ok(
            200,
            patch(&app, As::Operator, "/api/operator/v1/settings",
                  json!({"commission_percent": 12.5, "early_cancel_enabled": "0", "auto_order_early_refund_minutes": 45})).await
        ),
        json!({"settings": {"early_cancel_enabled": false, "auto_order_early_refund_minutes": 45,
                            "commission_percent": "12.5", "earnings_hold_hours": 72, "sms_lifetime_minutes": 20,
                            "payment_mismatch": "credit", "deposit_bonus": "", "provider_low_balance": "",
                            "display_currencies": ""}})
    );
    let (_, sub) = market(&app).await;
    let (_, number, subs) = inventory_product(&app, &new_key, &sub, "Mail").await;
    ok(
        200,
        supply_kit::upload(&app, &new_key, &subs[0], "l1\nl2", false).await,
    );
    let buyer = app.buyer("buyer@test.local", "10").await;
    let order = supply_kit::buy(&app, &buyer, number, 1).await;
    let e = ok(
        200,
        get(&app, As::Key(&new_key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(
        (
            e["commissionPercent"].clone(),
            e["earnings"][0]["order"].clone(),
            e["earnings"][0]["commission"].clone(),
            e["earnings"][0]["amount"].clone()
        ),
        (
            json!("12.5"),
            json!(order),
            json!("0.3125"),
            json!("2.1875")
        )
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

/// `path` with each `{param}` filled in: order numbers with a number, anything else with
/// an id-shaped string.
fn fill_params(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment {
            "{order}" => "1",
            s if s.starts_with('{') => "0123456789abcdef01234567",
            s => s,
        })
        .collect::<Vec<_>>()
        .join("/")
}

engine_test!(openapi_document_lists_every_route, |db| {
    let app = TestApp::spawn(db).await;
    let (status, doc) = get(&app, As::Nobody, "/openapi/admin.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    let listed = souk_api::openapi::operations(&doc).expect("operations");
    // The routers' own table: a route added without documentation fails here.
    let routes = souk_api::documented_routes();
    for known in [
        ("get", "/api/admin/v2/me"),
        ("post", "/api/operator/v1/orders/{id}/resolve"),
        ("delete", "/api/operator/v1/sms/prices/{project}/{country}"),
    ] {
        assert!(
            routes.contains(&(known.0.to_owned(), known.1.to_owned())),
            "{known:?} is served"
        );
    }
    assert_eq!(listed, routes, "the document lists exactly the routes");
    // Each listed operation is served: without credentials it is refused in JSON, never
    // "no such route".
    for (method, path) in &routes {
        let url = fill_params(path);
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let (status, body) = send(&app, As::Nobody, method.clone(), &url, None).await;
        let expected = if path.starts_with("/api/admin") || path.starts_with("/api/account") {
            "Invalid API key"
        } else {
            "Invalid admin token"
        };
        assert_eq!(
            (status, body),
            (401, json!({"error": expected})),
            "{method} {url}"
        );
        for op in paths[path.as_str()].as_object().expect("ops").values() {
            for (code, _) in op["responses"].as_object().expect("responses") {
                assert!(code.parse::<u16>().is_ok(), "{path}: {code}");
            }
        }
    }
    // Every schema reference resolves.
    let text = doc.to_string();
    for piece in text.split("\"$ref\":\"").skip(1) {
        let target = piece.split('"').next().expect("ref");
        let mut node = &doc;
        for part in target.trim_start_matches("#/").split('/') {
            node = &node[part];
        }
        assert!(!node.is_null(), "dangling reference {target}");
    }
    app.stop().await;
});
