//! `add`, `status`, `cancel`, `allowcancel` (SPEC 7 and 8): money and stock move exactly
//! once, and a refused request leaves no trace.

use serde_json::{json, Value};

use crate::engine_test;
use crate::fixtures::{self, AutoProducts, Fixture};
use crate::harness::{TestApp, TestDb};

async fn setup(db: &TestDb) -> (TestApp, Fixture, AutoProducts, String) {
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    let auto = fixtures::add_auto_products(&store, &f).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "100").await;
    (app, f, auto, key)
}

async fn balance(app: &TestApp, key: &str) -> Value {
    app.call(&[("key", key), ("action", "balance")]).await["balance"].clone()
}

async fn stock(app: &TestApp, key: &str, service: i64) -> Value {
    app.call(&[
        ("key", key),
        ("action", "inventory"),
        ("service", &service.to_string()),
    ])
    .await["stock"]
        .clone()
}

fn order_of(v: &Value) -> i64 {
    v["order"]
        .as_i64()
        .unwrap_or_else(|| panic!("no order in {v}"))
}

engine_test!(inventory_orders_deliver_oldest_lines_at_once, |db| {
    let (app, f, _, key) = setup(db).await;
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.gmail_usa.to_string()),
            ("quantity", "2"),
        ])
        .await;
    assert_keys_exact(&v, &["order"]);
    let order = order_of(&v);
    let status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &order.to_string()),
        ])
        .await;
    assert_eq!(
        status,
        json!({
            "status": "Completed", "charge": "50.00", "start_count": 2, "remains": 0, "currency": "USD",
            "entityType": "product", "autoDelivery": true,
            "accounts": ["user1@gmail.com:pass1", "user2@gmail.com:pass2"]
        })
    );
    assert_eq!(balance(&app, &key).await, "50.00");
    assert_eq!(stock(&app, &key, f.gmail_usa).await, 40);
    // The next order gets the next lines; the entity id works as the service.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.gmail_bulk.to_string()),
            ("quantity", "3"),
            ("link", "me@example.com"),
        ])
        .await;
    let second = order_of(&v);
    assert!(second > order);
    let status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &second.to_string()),
        ])
        .await;
    assert_eq!(status["accounts"], json!(["a:1", "b:2", "c:3"]));
    // Credentials are sealed at rest: the database never holds them in clear.
    if db.kind == crate::harness::Kind::Sqlite {
        let path = db.url.trim_start_matches("sqlite://");
        let _ = db.scalar("PRAGMA wal_checkpoint(TRUNCATE)").await;
        let raw = std::fs::read(path).expect("database file");
        let needle = b"user1@gmail.com:pass1";
        assert!(
            !raw.windows(needle.len()).any(|w| w == needle),
            "a stock line is stored in clear"
        );
    } else {
        assert_eq!(db.scalar("SELECT COUNT(*) FROM stock_lines WHERE position('pass1' in encode(content, 'escape')) > 0").await, 0);
    }
    assert_eq!(status["charge"], "0.135");
    assert_eq!(balance(&app, &key).await, "49.865");
    // Sold out now: the row shows it, and the next order is refused without a trace.
    let row = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", &f.gmail_bulk.to_string()),
        ])
        .await;
    assert_eq!(
        (
            row["products"][0]["stock"].clone(),
            row["products"][0]["max"].clone()
        ),
        (json!(0), json!(0))
    );
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.gmail_bulk.to_string()),
            ("quantity", "1"),
        ])
        .await;
    assert_eq!(v, json!({"error": "Not enough stock"}));
    assert_eq!(balance(&app, &key).await, "49.865");
    // Nobody else sees the accounts.
    let other = app.buyer("other@test.local", "1").await;
    assert_eq!(
        app.call(&[
            ("key", &other),
            ("action", "status"),
            ("order", &order.to_string())
        ])
        .await,
        json!({"error": "Order not found"})
    );
    // Nor among several ids (the orders are looked up by id, their owner checked after).
    let ids = format!("{order},999999");
    assert_eq!(
        app.call(&[("key", &other), ("action", "status"), ("orders", &ids)])
            .await,
        json!({
            order.to_string(): {"error": "Incorrect order ID"},
            "999999": {"error": "Incorrect order ID"},
        })
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

fn assert_keys_exact(v: &Value, keys: &[&str]) {
    crate::harness::assert_keys(v, keys);
}

engine_test!(subproduct_selection, |db| {
    let (app, f, _, key) = setup(db).await;
    let service = f.gmail_usa.to_string();
    // The primary ("1 Month", 42 lines at 25.00) cannot fill 45; "3 Months" has no stock:
    // not enough stock, nothing charged.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &service),
            ("quantity", "45"),
        ])
        .await;
    assert_eq!(v, json!({"error": "Not enough stock"}));
    // Give "3 Months" stock; it fills 45 in full at its own price when the buyer can pay.
    let lines: Vec<String> = (0..50).map(|n| format!("long{n}:pw")).collect();
    let (_, _, changes) = app
        .store
        .add_stock_lines(&f.gmail_subs[1], &lines, false, 0)
        .await
        .expect("stock");
    app.state.apply_changes(&changes).await.expect("apply");
    let rich = app.buyer("rich@test.local", "5000").await;
    let v = app
        .call(&[
            ("key", &rich),
            ("action", "add"),
            ("service", &service),
            ("quantity", "45"),
        ])
        .await;
    let order = order_of(&v);
    let status = app
        .call(&[
            ("key", &rich),
            ("action", "status"),
            ("order", &order.to_string()),
        ])
        .await;
    assert_eq!(status["charge"], "2700.00");
    assert_eq!(status["accounts"][0], "long0:pw");
    assert_eq!(balance(&app, &rich).await, "2300.00");
    // The primary serves when it can, even though it is not the cheapest variant here.
    let v = app
        .call(&[
            ("key", &rich),
            ("action", "add"),
            ("service", &service),
            ("quantity", "1"),
        ])
        .await;
    let status = app
        .call(&[
            ("key", &rich),
            ("action", "status"),
            ("order", &order_of(&v).to_string()),
        ])
        .await;
    assert_eq!(
        (status["charge"].clone(), status["accounts"][0].clone()),
        (json!("25.00"), json!("user1@gmail.com:pass1"))
    );
    // An explicit subproduct is honoured.
    let v = app
        .call(&[
            ("key", &rich),
            ("action", "add"),
            ("service", &service),
            ("quantity", "1"),
            ("subproduct", &f.gmail_subs[1]),
        ])
        .await;
    let status = app
        .call(&[
            ("key", &rich),
            ("action", "status"),
            ("order", &order_of(&v).to_string()),
        ])
        .await;
    assert_eq!(status["charge"], "60.00");
    let v = app
        .call(&[
            ("key", &rich),
            ("action", "add"),
            ("service", &service),
            ("quantity", "1"),
            ("subproduct", &f.gmail_bulk_sub),
        ])
        .await;
    assert_eq!(v, json!({"error": "Subproduct not found"}));
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(refused_orders_leave_no_trace, |db| {
    let (app, f, _, key) = setup(db).await;
    let poor = app.buyer("poor@test.local", "24.99").await;
    let before_orders = db.scalar("SELECT COUNT(*) FROM orders").await;
    let before_ledger = db.scalar("SELECT COUNT(*) FROM ledger").await;
    let gmail = f.gmail_usa.to_string();
    let ig = f.ig_followers.to_string();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("action", "add"), ("service", &gmail), ("quantity", "1")],
            "Insufficient balance",
        ),
        (
            vec![("action", "add"), ("quantity", "1")],
            "Service ID is required",
        ),
        (
            vec![("action", "add"), ("service", "999999"), ("quantity", "1")],
            "Service not found",
        ),
        (
            vec![("action", "add"), ("service", &gmail)],
            "Quantity is required",
        ),
        (
            vec![("action", "add"), ("service", &gmail), ("quantity", "0")],
            "Quantity must be a positive integer",
        ),
        (
            vec![("action", "add"), ("service", &gmail), ("quantity", "-3")],
            "Quantity must be a positive integer",
        ),
        (
            vec![("action", "add"), ("service", &gmail), ("quantity", "2.5")],
            "Quantity must be a positive integer",
        ),
        (
            vec![("action", "add"), ("service", &gmail), ("quantity", "51")],
            "Quantity must be between 1 and 50",
        ),
        (
            vec![
                ("action", "add"),
                ("service", &gmail),
                ("quantity", "1"),
                ("subproduct", "nope"),
            ],
            "Subproduct not found",
        ),
        (
            vec![("action", "add"), ("service", &ig), ("quantity", "1000")],
            "Link is required",
        ),
        (
            vec![
                ("action", "add"),
                ("service", &ig),
                ("link", "https://instagram.com/x"),
                ("quantity", "50"),
            ],
            "Quantity must be between 100 and 10000",
        ),
        (
            vec![
                ("action", "add"),
                ("service", &ig),
                ("link", "https://instagram.com/x"),
                ("quantity", "100000000"),
            ],
            "Quantity must be between 100 and 10000",
        ),
    ];
    for (params, error) in cases {
        let mut all = vec![("key", poor.as_str())];
        all.extend(params.iter().copied());
        assert_eq!(
            app.call(&all).await,
            json!({ "error": error }),
            "{params:?}"
        );
    }
    assert_eq!(balance(&app, &poor).await, "24.99");
    assert_eq!(stock(&app, &key, f.gmail_usa).await, 42);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM orders").await,
        before_orders
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM ledger").await,
        before_ledger
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL")
            .await,
        0
    );
    // Unknown, foreign and malformed order ids.
    assert_eq!(
        app.call(&[("key", &key), ("action", "status")]).await,
        json!({"error": "Order ID is required"})
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "status"), ("order", "99999")])
            .await,
        json!({"error": "Order not found"})
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "status"), ("order", "abc")])
            .await,
        json!({"error": "Incorrect order ID"})
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(smm_and_manual_orders_wait, |db| {
    let (app, f, _, key) = setup(db).await;
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.ig_followers.to_string()),
            ("link", "https://instagram.com/x"),
            ("quantity", "1000"),
        ])
        .await;
    let smm = order_of(&v);
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.outlook_fresh.to_string()),
            ("quantity", "4"),
        ])
        .await;
    let manual = order_of(&v);
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &smm.to_string())
        ])
        .await,
        json!({"status": "Pending", "charge": "0.50", "start_count": 0, "remains": 1000, "currency": "USD", "autoDelivery": true})
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &manual.to_string())
        ])
        .await,
        json!({"status": "Pending", "charge": "6.00", "start_count": 4, "remains": 4, "currency": "USD", "entityType": "product", "autoDelivery": false})
    );
    // Manual capacity went down by what was ordered.
    assert_eq!(stock(&app, &key, f.outlook_fresh).await, 6);
    // Drip-feed charges runs x quantity.
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.ig_likes.to_string()),
            ("link", "l"),
            ("quantity", "1000"),
            ("runs", "5"),
            ("interval", "30"),
        ])
        .await;
    let drip = order_of(&v);
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &drip.to_string())
        ])
        .await["charge"],
        "0.0615"
    );
    // Multi status: a map keyed by id, errors for unknown and malformed ids.
    let list = format!("{smm},{manual},999999,abc");
    let multi = app
        .call(&[("key", &key), ("action", "status"), ("orders", &list)])
        .await;
    assert_eq!(multi[smm.to_string()]["status"], "Pending");
    assert_eq!(multi[manual.to_string()]["entityType"], "product");
    assert_eq!(multi["999999"], json!({"error": "Incorrect order ID"}));
    assert_eq!(multi["abc"], json!({"error": "Incorrect order ID"}));
    // One id still answers in the multi shape.
    let one = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("orders", &smm.to_string()),
        ])
        .await;
    assert_eq!(one.as_object().map(|o| o.len()), Some(1));
    let many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("orders", &many.join(","))
        ])
        .await,
        json!({"error": "Too many order IDs (max 100)"})
    );
    assert_eq!(balance(&app, &key).await, "93.4385");
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(idempotency_key_charges_once, |db| {
    let (app, f, _, key) = setup(db).await;
    let service = f.gmail_usa.to_string();
    let send = |idem: &'static str, quantity: &'static str, as_header: bool| {
        let (http, api, key, service) = (app.http.clone(), app.api(), key.clone(), service.clone());
        async move {
            let mut form = vec![
                ("key", key),
                ("action", "add".to_owned()),
                ("service", service),
                ("quantity", quantity.to_owned()),
            ];
            let mut request = http.post(api);
            if as_header {
                request = request.header("Idempotency-Key", idem);
            } else {
                form.push(("idempotency_key", idem.to_owned()));
            }
            request
                .form(&form)
                .send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    };
    let first = send("retry-1", "1", true).await;
    assert_eq!(send("retry-1", "1", true).await, first);
    assert_eq!(send("retry-1", "1", false).await, first);
    assert_eq!(
        send("retry-1", "2", true).await,
        json!({"error": "Idempotency key was used for a different order"})
    );
    assert_eq!(balance(&app, &key).await, "75.00");
    // A key stored by an earlier version (its fingerprint the order's Debug text) still
    // returns its order to a retry after the upgrade, charged once.
    db.exec("UPDATE idempotency_keys SET request_hash = 'Product(ProductOrder { quantity: 1 })' WHERE key = 'retry-1'")
        .await;
    assert_eq!(send("retry-1", "1", true).await, first);
    assert_eq!(balance(&app, &key).await, "75.00");
    // Concurrent retries of a new key: one order.
    let results = futures::future::join_all((0..10).map(|_| send("burst", "1", true))).await;
    let ids: std::collections::HashSet<i64> =
        results.iter().filter_map(|v| v["order"].as_i64()).collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(balance(&app, &key).await, "50.00");
    // Another user's identical key is theirs alone.
    let other = app.buyer("other@test.local", "100").await;
    let v: Value = app
        .http
        .post(app.api())
        .header("Idempotency-Key", "retry-1")
        .form(&[
            ("key", other.as_str()),
            ("action", "add"),
            ("service", &service),
            ("quantity", "1"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_ne!(v["order"], first["order"]);
    // After 24 hours the key is free again.
    app.clock.advance(24 * 60 * 60 * 1000 + 1);
    let later = send("retry-1", "2", true).await;
    assert!(
        later["order"]
            .as_i64()
            .is_some_and(|id| Some(id) != first["order"].as_i64()),
        "{later}"
    );
    assert_eq!(balance(&app, &key).await, "0.00");
    db.assert_audit_clean().await;
    app.stop().await;
});

/// `add` with an `Idempotency-Key` header.
async fn add_keyed(app: &TestApp, key: &str, idem: &str, params: &[(&str, &str)]) -> Value {
    let mut form = vec![("key", key), ("action", "add")];
    form.extend_from_slice(params);
    let response = app
        .http
        .post(app.api())
        .header("Idempotency-Key", idem)
        .form(&form)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// A supplier's inventory product with 5 lines per subproduct, and a buyer with 100.00:
/// (supplier key, subcategory id, product id, service number, subproduct ids, buyer key).
async fn keyed_market(app: &TestApp) -> (String, String, String, i64, Vec<String>, String) {
    use crate::supply_kit::{inventory_product, market, ok, supplier, upload};
    let (_, sub) = market(app).await;
    let (seller, _, _) = supplier(app, "seller@test.local", "Keys").await;
    let (product, number, subs) = inventory_product(app, &seller, &sub, "Mail").await;
    for (i, s) in subs.iter().enumerate() {
        let lines: Vec<String> = (0..5).map(|n| format!("v{i}-{n}:pw")).collect();
        ok(200, upload(app, &seller, s, lines.join("\n"), false).await);
    }
    let buyer = app.buyer("keyed@test.local", "100").await;
    (seller, sub, product, number, subs, buyer)
}

engine_test!(idempotent_retry_survives_price_and_stock_changes, |db| {
    use crate::supply_kit::{buy, ok, patch, As};
    let app = TestApp::spawn(db).await;
    let (seller, sub, _, number, subs, buyer) = keyed_market(&app).await;
    let service = number.to_string();
    let order = [("service", service.as_str()), ("quantity", "2")];
    let first = add_keyed(&app, &buyer, "price-1", &order).await;
    let id = order_of(&first);
    assert_eq!(balance(&app, &buyer).await, "95.00");
    // The primary's price doubles and its limits no longer admit 2, so a fresh order
    // would go to the other variant: the retry is still the first order, charged once.
    ok(
        200,
        patch(
            &app,
            As::Key(&seller),
            &format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"price": "5.00"}),
        )
        .await,
    );
    assert_eq!(add_keyed(&app, &buyer, "price-1", &order).await, first);
    let other = app.buyer("other@test.local", "100").await;
    buy(&app, &other, number, 3).await;
    ok(
        200,
        patch(
            &app,
            As::Key(&seller),
            &format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"max": 1}),
        )
        .await,
    );
    assert_eq!(add_keyed(&app, &buyer, "price-1", &order).await, first);
    // An SMM service: the rate doubles and the maximum drops below the first quantity.
    let smm = ok(
        201,
        crate::supply_kit::post(
            &app,
            As::Key(&seller),
            "/api/admin/v2/products",
            json!({"name": "Followers", "subcategoryId": sub, "entityType": "smm",
                   "rate": "1.00", "min": 100, "max": 1000}),
        )
        .await,
    );
    let smm_service = smm["service"].as_i64().expect("service").to_string();
    let smm_order = [
        ("service", smm_service.as_str()),
        ("quantity", "500"),
        ("link", "https://example.com/p"),
    ];
    let smm_first = add_keyed(&app, &buyer, "price-2", &smm_order).await;
    order_of(&smm_first);
    assert_eq!(balance(&app, &buyer).await, "94.50");
    ok(
        200,
        patch(
            &app,
            As::Key(&seller),
            &format!("/api/admin/v2/products/{smm_service}"),
            json!({"rate": "2.00", "max": 400}),
        )
        .await,
    );
    assert_eq!(
        add_keyed(&app, &buyer, "price-2", &smm_order).await,
        smm_first
    );
    // The same key for another order is still refused, and changes nothing.
    assert_eq!(
        add_keyed(
            &app,
            &buyer,
            "price-1",
            &[("service", &service), ("quantity", "1")]
        )
        .await,
        json!({"error": "Idempotency key was used for a different order"})
    );
    assert_eq!(balance(&app, &buyer).await, "94.50");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM ledger WHERE user_id = (SELECT user_id FROM orders WHERE id = {id})"
        ))
        .await,
        3,
        "the top-up and one charge per order"
    );
    assert_eq!(
        db.scalar(&format!("SELECT COUNT(*) FROM orders WHERE id > {id}"))
            .await,
        2,
        "the other buyer's order and the SMM order"
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(idempotent_retry_survives_deactivation, |db| {
    use crate::supply_kit::{ok, patch, As};
    let app = TestApp::spawn(db).await;
    let (seller, _, product, number, _, buyer) = keyed_market(&app).await;
    let service = number.to_string();
    let first = add_keyed(
        &app,
        &buyer,
        "gone-1",
        &[("service", &service), ("quantity", "1"), ("link", "me")],
    )
    .await;
    order_of(&first);
    ok(
        200,
        patch(
            &app,
            As::Key(&seller),
            &format!("/api/admin/v2/products/{product}"),
            json!({"active": false}),
        )
        .await,
    );
    let orders = db.scalar("SELECT COUNT(*) FROM orders").await;
    // By number and by entity id: the first order, though the service is off sale.
    for named in [service.as_str(), product.as_str()] {
        assert_eq!(
            add_keyed(
                &app,
                &buyer,
                "gone-1",
                &[("service", named), ("quantity", "1"), ("link", "me")]
            )
            .await,
            first,
            "{named}"
        );
    }
    assert_eq!(
        add_keyed(
            &app,
            &buyer,
            "gone-1",
            &[("service", &service), ("quantity", "2"), ("link", "me")]
        )
        .await,
        json!({"error": "Idempotency key was used for a different order"})
    );
    assert_eq!(
        add_keyed(
            &app,
            &buyer,
            "gone-2",
            &[("service", &service), ("quantity", "1"), ("link", "me")]
        )
        .await,
        json!({"error": "Service not found"})
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM orders").await, orders);
    assert_eq!(balance(&app, &buyer).await, "97.50");
    db.assert_audit_clean().await;
    app.stop().await;
});

/// Makes the next stock line's id `next` where the engine lets it: PostgreSQL's sequence
/// goes anywhere; SQLite's `AUTOINCREMENT` never hands out an id at or below one it gave.
async fn next_line_id(db: &TestDb, next: i64) {
    match db.kind {
        crate::harness::Kind::Postgres => {
            db.exec(&format!(
                "SELECT setval('stock_lines_id_seq', {})",
                next - 1
            ))
            .await
        }
        crate::harness::Kind::Sqlite => {
            db.exec(&format!(
                "DELETE FROM sqlite_sequence WHERE name = 'stock_lines'; \
                 INSERT INTO sqlite_sequence (name, seq) VALUES ('stock_lines', {})",
                next - 1
            ))
            .await
        }
    }
}

// A variant's sales look for lines past its `sold_through`. On PostgreSQL an upload draws
// its ids before it locks the variant, so it can commit lines with lower ids than lines
// another upload committed first and a sale already sold: those must still be sold.
engine_test!(
    lines_uploaded_below_lines_already_sold_are_still_sold,
    |db| {
        let store = db.store().await;
        let at = fixtures::load_minimal(&store).await;
        let spec = fixtures::one_variant_product(
            (&at.0, &at.1),
            souk_core::catalogue::ProductType::Inventory,
            souk_core::Text::new("Late Upload"),
            "1.00",
            (1, 1000),
            0,
        );
        let (number, _, subs, _) = store.create_service(&spec, 0).await.expect("product");
        let sub = &subs[0];
        let service = number.to_string();
        let app = TestApp::spawn(db).await;
        let key = app.buyer("late@test.local", "100").await;
        let upload = |prefix: &'static str, count: usize| {
            let app = &app;
            async move {
                let lines: Vec<String> = (0..count).map(|n| format!("{prefix}{n:02}:pw")).collect();
                let (_, _, changes) = app
                    .store
                    .add_stock_lines(sub, &lines, false, 0)
                    .await
                    .expect("upload");
                app.state.apply_changes(&changes).await.expect("apply");
            }
        };
        let buy = |quantity: usize| {
            let (app, key, service) = (&app, &key, &service);
            async move {
                let v = app
                    .call(&[
                        ("key", key),
                        ("action", "add"),
                        ("service", service),
                        ("quantity", &quantity.to_string()),
                    ])
                    .await;
                let order = order_of(&v).to_string();
                let status = app
                    .call(&[("key", key), ("action", "status"), ("order", &order)])
                    .await;
                let accounts = status["accounts"].as_array().expect("accounts").clone();
                accounts
                    .iter()
                    .map(|a| a.as_str().expect("an account").to_owned())
                    .collect::<Vec<String>>()
            }
        };
        let through_sql = format!("SELECT sold_through FROM subproducts WHERE id = '{sub}'");
        let sold_through = || db.scalar(&through_sql);
        next_line_id(db, 1001).await;
        upload("early", 40).await;
        assert_eq!(sold_through().await, 0);
        // Stock 40 to 31 crosses a multiple of 32: the sales now start past the ninth line.
        let first = buy(9).await;
        let early: Vec<String> = (0..40).map(|n| format!("early{n:02}:pw")).collect();
        assert_eq!(first, early[..9]);
        assert_eq!(sold_through().await, 1009);
        // The late upload's lines take ids 101-103 on PostgreSQL, as if drawn before the
        // sale above and committed after it; SQLite gives them the next ids.
        next_line_id(db, 101).await;
        upload("late", 3).await;
        let postgres = db.kind == crate::harness::Kind::Postgres;
        assert_eq!(sold_through().await, if postgres { 100 } else { 1009 });
        let late: Vec<String> = (0..3).map(|n| format!("late{n:02}:pw")).collect();
        // All 34 lines in stock are sold, the oldest ids first.
        let rest = buy(34).await;
        let want: Vec<String> = if postgres {
            late.iter().chain(&early[9..]).cloned().collect()
        } else {
            early[9..].iter().chain(&late).cloned().collect()
        };
        assert_eq!(rest, want);
        let v = app
            .call(&[
                ("key", &key),
                ("action", "add"),
                ("service", &service),
                ("quantity", "1"),
            ])
            .await;
        assert_eq!(v, json!({"error": "Not enough stock"}));
        app.stop().await;
        db.assert_audit_clean().await;
    }
);
