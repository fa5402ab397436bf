//! The supplier API (SPEC 11) over HTTP on both engines: listings, stock, sales,
//! deliveries, failures, SMM progress, earnings and withdrawals.

use serde_json::{json, Value};
use souk_core::clock::iso_millis;

use crate::engine_test;
use crate::harness::{TestApp, TestDb};
use crate::supply_kit::{
    self, balance, buy, digest, get, inventory_product, market, ok, patch, post, status, As,
};

async fn created_at(db: &TestDb, order: i64) -> String {
    iso_millis(
        db.scalar(&format!("SELECT created_at FROM orders WHERE id = {order}"))
            .await,
    )
}

async fn user_id(app: &TestApp, email: &str) -> String {
    let v = ok(
        200,
        get(
            app,
            As::Operator,
            &format!("/api/operator/v1/users?email={email}"),
        )
        .await,
    );
    v["users"][0]["id"].as_str().expect("user").to_owned()
}

engine_test!(supplier_lists_stocks_sells_and_earns, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, shop) = supply_kit::supplier(&app, "nord@shop.test", "NordAccounts").await;
    ok(
        200,
        patch(
            &app,
            As::Operator,
            "/api/operator/v1/settings",
            json!({"commission_percent": "10", "earnings_hold_hours": 1}),
        )
        .await,
    );
    let buyer = app.buyer("buyer@test.local", "100").await;

    // A product with two subproducts and a Russian name.
    let v = ok(
        201,
        post(
            &app,
            As::Key(&key),
            "/api/admin/v2/products",
            json!({
                "name": "Gmail Account",
                "subcategoryId": sub,
                "type": "inventory",
                "description": "Fresh accounts",
                "imageUrl": "https://example.com/gmail.webp",
                "translations": {"name": {"ru": "Аккаунт Gmail"}},
                "subproducts": [
                    {"name": "1 Month", "price": "2.50", "min": 1, "max": 10,
                     "translations": {"name": {"ru": "1 месяц"}}},
                    {"name": "3 Months", "price": 6, "min": 1, "max": 10}
                ]
            }),
        )
        .await,
    );
    let (product, number) = (
        v["id"].as_str().expect("id").to_owned(),
        v["service"].as_i64().expect("service"),
    );
    let subs: Vec<String> = v["subproducts"]
        .as_array()
        .expect("subs")
        .iter()
        .map(|s| s["subproductId"].as_str().expect("id").to_owned())
        .collect();
    assert_eq!(
        v,
        json!({
            "id": product, "service": number, "entityType": "product", "type": "inventory",
            "shopId": shop, "subcategoryId": sub, "name": "Gmail Account",
            "description": "Fresh accounts", "imageUrl": "https://example.com/gmail.webp",
            "recommended": false, "active": true,
            "translations": {"name": {"ru": "Аккаунт Gmail"}},
            "createdAt": v["createdAt"],
            "subproducts": [
                {"subproductId": subs[0], "name": "1 Month", "price": "2.50", "min": 1, "max": 10,
                 "position": 1, "active": true, "stock": 0, "translations": {"name": {"ru": "1 месяц"}}},
                {"subproductId": subs[1], "name": "3 Months", "price": "6.00", "min": 1, "max": 10,
                 "position": 2, "active": true, "stock": 0, "translations": {}}
            ]
        })
    );
    assert_eq!(
        ok(
            200,
            get(
                &app,
                As::Key(&key),
                &format!("/api/admin/v2/products/{number}")
            )
            .await
        ),
        v
    );

    // Stock: duplicates rejected when asked, kept when not.
    assert_eq!(
        ok(
            200,
            supply_kit::upload(&app, &key, &subs[0], "a:1\nb:2\na:1\r\n\n c:3 \n", true).await
        ),
        json!({"accepted": 3, "rejected": 1})
    );
    assert_eq!(
        ok(
            200,
            supply_kit::upload(&app, &key, &subs[0], "c:3\nd:4", true).await
        ),
        json!({"accepted": 1, "rejected": 1})
    );
    assert_eq!(
        ok(
            200,
            supply_kit::upload(&app, &key, &subs[0], "e:5\ne:5", false).await
        ),
        json!({"accepted": 2, "rejected": 0})
    );
    assert_eq!(
        ok(
            200,
            supply_kit::upload(&app, &key, &subs[1], "x:1\ny:2", true).await
        ),
        json!({"accepted": 2, "rejected": 0})
    );
    assert_eq!(
        ok(
            200,
            get(
                &app,
                As::Key(&key),
                &format!("/api/admin/v2/subproducts/{}/stock", subs[0])
            )
            .await
        ),
        json!({"subproductId": subs[0], "type": "inventory", "available": 6, "sold": 0})
    );
    // Buyers see it on the next request, translated.
    let inv = app
        .call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &number.to_string()),
            ("lang", "ru"),
        ])
        .await;
    assert_eq!(
        (inv["stock"].clone(), inv["subproducts"][0]["name"].clone()),
        (json!(8), json!("1 месяц"))
    );

    // A buyer buys through /api/v2: the oldest lines of the primary subproduct.
    let order = buy(&app, &buyer, number, 2).await;
    assert_eq!(
        status(&app, &buyer, order).await,
        json!({
            "status": "Completed", "charge": "5.00", "start_count": 2, "remains": 0, "currency": "USD",
            "entityType": "product", "autoDelivery": true, "accounts": ["a:1", "b:2"]
        })
    );
    assert_eq!(balance(&app, &buyer).await, "95.00");

    // The supplier sees the sale...
    let buyer_id = user_id(&app, "buyer").await;
    let sale = json!({
        "id": order, "order": order, "status": "completed", "paymentStatus": "completed",
        "quantity": 2, "delivered": 2, "remains": 0, "startCount": 2,
        "link": "https://example.com/me", "entityType": "product", "productType": "inventory",
        "service": number, "subcategoryId": sub, "charge": "5.00", "refunded": "0.00",
        "user": {"id": buyer_id, "email": "buyer@test.local", "name": ""},
        "items": [{
            "product": {"id": product, "name": "Gmail Account", "type": "inventory"},
            "subproduct": {"id": subs[0], "name": "1 Month"},
            "quantity": 2, "unitPrice": "2.50", "totalPrice": "5.00"
        }],
        "createdAt": created_at(db, order).await
    });
    assert_eq!(
        ok(200, get(&app, As::Key(&key), "/api/admin/v2/orders").await),
        json!({"orders": [sale], "count": 1, "total": 1})
    );
    for (query, total) in [
        ("status=completed,partial".to_owned(), 1),
        ("status=pending,processing".to_owned(), 0),
        ("entityType=product".to_owned(), 1),
        ("entityType=smm_service".to_owned(), 0),
        ("productType=inventory".to_owned(), 1),
        ("productType=manual".to_owned(), 0),
        ("subCategory=email".to_owned(), 1),
        (format!("subCategory={sub}"), 1),
        ("subCategory=Nope".to_owned(), 0),
    ] {
        let v = ok(
            200,
            get(
                &app,
                As::Key(&key),
                &format!("/api/admin/v2/orders?{query}"),
            )
            .await,
        );
        assert_eq!(v["total"], json!(total), "{query}: {v}");
    }
    let page_two = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/orders?limit=1&offset=1").await,
    );
    assert_eq!(
        (page_two["count"].clone(), page_two["total"].clone()),
        (json!(0), json!(1))
    );
    for (query, error) in [
        ("status=shipped", "Invalid status: shipped (use pending, processing, error, completed, partial or canceled)"),
        ("limit=501", "limit must be between 1 and 500"),
        ("limit=0", "limit must be between 1 and 500"),
        ("offset=-1", "offset must be a non-negative integer"),
        ("entityType=sms", "entityType must be product or smm_service"),
        ("productType=robot", "productType must be inventory, manual or auto"),
    ] {
        assert_eq!(
            get(&app, As::Key(&key), &format!("/api/admin/v2/orders?{query}")).await,
            (400, json!({"error": error})),
            "{query}"
        );
    }

    // ...and the earning: 5.00 less 10%, held for an hour.
    let paid_at = db
        .scalar(&format!("SELECT paid_at FROM orders WHERE id = {order}"))
        .await;
    let earning = |state: &str, withdrawal: Value| {
        json!({
            "order": order, "shopId": shop, "gross": "5.00", "commission": "0.50",
            "refunded": "0.00", "amount": "4.50", "status": state,
            "availableAt": iso_millis(paid_at + 3_600_000), "withdrawalId": withdrawal
        })
    };
    let summary = |held: &str, available: &str, requested: &str, withdrawn: &str| json!({"held": held, "available": available, "requested": requested, "withdrawn": withdrawn});
    assert_eq!(
        ok(
            200,
            get(&app, As::Key(&key), "/api/admin/v2/earnings").await
        ),
        json!({
            "currency": "USD", "commissionPercent": "10", "holdHours": 1,
            "summary": summary("4.50", "0.00", "0.00", "0.00"),
            "earnings": [earning("held", Value::Null)], "count": 1, "total": 1
        })
    );
    assert_eq!(
        post(&app, As::Key(&key), "/api/admin/v2/withdrawals", json!({})).await,
        (
            400,
            json!({"error": "Nothing is available to withdraw yet"})
        )
    );
    app.clock.advance(61 * 60_000);
    let v = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(v["summary"], summary("0.00", "4.50", "0.00", "0.00"));
    assert_eq!(v["earnings"][0]["status"], "available");

    let w = ok(
        201,
        post(
            &app,
            As::Key(&key),
            "/api/admin/v2/withdrawals",
            json!({"note": "weekly"}),
        )
        .await,
    );
    let wid = w["id"].as_str().expect("id").to_owned();
    let withdrawal = |state: &str, resolution: &str, completed: Value| {
        json!({
            "id": wid, "shopId": shop, "amount": "4.50", "status": state, "orders": 1,
            "note": "weekly", "resolution": resolution, "createdAt": w["createdAt"],
            "completedAt": completed
        })
    };
    assert_eq!(w, withdrawal("requested", "", Value::Null));
    let v = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(v["summary"], summary("0.00", "0.00", "4.50", "0.00"));
    assert_eq!(v["earnings"][0], earning("requested", json!(wid)));
    // Everything available is covered: nothing left for a second request.
    assert_eq!(
        post(&app, As::Key(&key), "/api/admin/v2/withdrawals", json!({})).await,
        (
            400,
            json!({"error": "Nothing is available to withdraw yet"})
        )
    );
    let listed = ok(
        200,
        get(
            &app,
            As::Operator,
            "/api/operator/v1/withdrawals?status=requested",
        )
        .await,
    );
    assert_eq!(
        listed,
        json!({"withdrawals": [withdrawal("requested", "", Value::Null)]})
    );
    let done = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/withdrawals/{wid}/complete"),
            json!({"note": "paid by wire"}),
        )
        .await,
    );
    assert_eq!(
        done,
        withdrawal("completed", "paid by wire", done["completedAt"].clone())
    );
    assert!(done["completedAt"].is_string());
    assert_eq!(
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/withdrawals/{wid}/reject"),
            json!({}),
        )
        .await,
        (
            409,
            json!({"error": format!("Withdrawal {wid} is already completed")})
        )
    );
    assert_eq!(
        ok(
            200,
            get(&app, As::Key(&key), "/api/admin/v2/withdrawals").await
        ),
        json!({"withdrawals": [done]})
    );
    let v = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(v["summary"], summary("0.00", "0.00", "0.00", "4.50"));

    // A review of the completed order feeds the shop's rating at once.
    let shops = app.call(&[("key", &buyer), ("action", "shops")]).await;
    assert_eq!(
        shops["shops"][0],
        json!({"shopId": shop, "name": "N***s", "productCount": 1, "rating": 0.0, "reviewCount": 0})
    );
    let review = app
        .call(&[
            ("key", &buyer),
            ("action", "review"),
            ("order", &order.to_string()),
            ("rating", "4"),
            ("text", "Worked fine"),
        ])
        .await;
    assert_eq!(review["order"], json!(order));
    assert_eq!(review["rating"], json!(4));
    assert!(
        review["review"].as_str().is_some_and(|id| id.len() == 24),
        "{review}"
    );
    let shops = app.call(&[("key", &buyer), ("action", "shops")]).await;
    assert_eq!(
        shops["shops"][0],
        json!({"shopId": shop, "name": "N***s", "productCount": 1, "rating": 4.0, "reviewCount": 1})
    );
    let order_text = order.to_string();
    for (rating, error) in [
        (Some("5"), "This order has already been reviewed"),
        (Some("6"), "Rating must be between 1 and 5"),
        (Some("x"), "Rating must be between 1 and 5"),
        (None, "rating is required"),
    ] {
        let mut p = vec![
            ("key", buyer.as_str()),
            ("action", "review"),
            ("order", order_text.as_str()),
        ];
        if let Some(r) = rating {
            p.push(("rating", r));
        }
        assert_eq!(app.call(&p).await, json!({"error": error}));
    }
    let stranger = app.buyer("stranger@test.local", "0").await;
    assert_eq!(
        app.call(&[
            ("key", &stranger),
            ("action", "review"),
            ("order", &order.to_string()),
            ("rating", "1"),
        ])
        .await,
        json!({"error": "Order not found"})
    );
    db.assert_audit_clean().await;
    app.stop().await;
    // The audit watches the supply side's money too.
    db.exec("UPDATE withdrawals SET amount = amount + 1").await;
    db.exec("UPDATE earnings SET amount = gross").await;
    let store = db.store().await;
    let report = store.audit().await.expect("audit");
    assert_eq!(
        report.violations,
        vec![
            format!("order {order}: earning 5000000 outside 0..=4500000 (gross 5000000 less commission 500000)"),
            format!("withdrawal {wid}: amount 4500001 but its earnings add up to 5000000"),
        ]
    );
    store.close().await;
});

engine_test!(manual_order_delivered_three_of_five, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, _) = supply_kit::supplier(&app, "outlook@shop.test", "OutlookFarm").await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let v = ok(
        201,
        post(
            &app,
            As::Key(&key),
            "/api/admin/v2/products",
            json!({
                "name": "Outlook Fresh", "subcategoryId": sub, "type": "manual",
                "subproducts": [{"name": "Standard", "price": "1.50", "max": 20, "stock": 10}]
            }),
        )
        .await,
    );
    let number = v["service"].as_i64().expect("service");
    assert_eq!(v["subproducts"][0]["stock"], 10);
    let order = buy(&app, &buyer, number, 5).await;
    assert_eq!(
        status(&app, &buyer, order).await,
        json!({
            "status": "Pending", "charge": "7.50", "start_count": 5, "remains": 5,
            "currency": "USD", "entityType": "product", "autoDelivery": false
        })
    );
    let pending = ok(
        200,
        get(
            &app,
            As::Key(&key),
            "/api/admin/v2/orders?status=pending&productType=manual",
        )
        .await,
    );
    assert_eq!(pending["total"], 1);
    assert_eq!(pending["orders"][0]["items"][0]["unitPrice"], "1.50");

    let deliver = |accounts: Value| {
        let (app, key) = (&app, key.clone());
        async move {
            post(
                app,
                As::Key(&key),
                &format!("/api/admin/v2/orders/{order}/deliver"),
                json!({ "accounts": accounts }),
            )
            .await
        }
    };
    assert_eq!(
        deliver(json!(["o1:p1", "o2:p2"])).await,
        (
            200,
            json!({"order": order, "delivered": 2, "remains": 3, "status": "processing"})
        )
    );
    assert_eq!(
        deliver(json!(["o3:p3"])).await,
        (
            200,
            json!({"order": order, "delivered": 3, "remains": 2, "status": "processing"})
        )
    );
    let before = digest(db).await;
    assert_eq!(
        deliver(json!(["o4", "o5", "o6"])).await,
        (
            400,
            json!({"error": "Too many accounts: 2 remain to be delivered"})
        )
    );
    assert_eq!(
        deliver(json!([])).await,
        (
            400,
            json!({"error": "accounts must list at least one account"})
        )
    );
    assert_eq!(
        deliver(json!(["ok", "  "])).await,
        (400, json!({"error": "Account 2 is empty"}))
    );
    assert_eq!(
        digest(db).await,
        before,
        "refused deliveries change nothing"
    );
    // The buyer sees the three accounts while the order is in progress.
    assert_eq!(
        status(&app, &buyer, order).await,
        json!({
            "status": "In progress", "charge": "7.50", "start_count": 5, "remains": 2,
            "currency": "USD", "entityType": "product", "autoDelivery": false,
            "accounts": ["o1:p1", "o2:p2", "o3:p3"]
        })
    );
    // The rest cannot be delivered: 2 of 5 refunded, the order ends Partial.
    assert_eq!(
        post(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/orders/{order}/fail"),
            json!({"reason": "out of accounts"}),
        )
        .await,
        (
            200,
            json!({"order": order, "delivered": 3, "remains": 2, "status": "partial", "refunded": "3.00"})
        )
    );
    assert_eq!(
        status(&app, &buyer, order).await,
        json!({
            "status": "Partial", "charge": "4.50", "start_count": 5, "remains": 2,
            "currency": "USD", "entityType": "product", "autoDelivery": false,
            "accounts": ["o1:p1", "o2:p2", "o3:p3"]
        })
    );
    assert_eq!(balance(&app, &buyer).await, "95.50");
    assert_eq!(
        db.scalar(&format!(
            "SELECT amount FROM ledger WHERE order_id = {order} AND kind = 'refund'"
        ))
        .await,
        3_000_000
    );
    // The earning shrinks with the refund: 6.75 net x 4.50 / 7.50.
    let e = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(
        (
            e["earnings"][0]["gross"].clone(),
            e["earnings"][0]["refunded"].clone(),
            e["earnings"][0]["amount"].clone()
        ),
        (json!("7.50"), json!("3.00"), json!("4.05"))
    );
    let before = digest(db).await;
    assert_eq!(
        deliver(json!(["late"])).await,
        (
            409,
            json!({"error": format!("Order {order} is already partial")})
        )
    );
    assert_eq!(
        post(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/orders/{order}/fail"),
            json!({})
        )
        .await,
        (
            409,
            json!({"error": format!("Order {order} is already partial")})
        )
    );
    assert_eq!(digest(db).await, before);

    // Nothing delivered at all: a full refund, Canceled; fail takes an empty body too.
    let second = buy(&app, &buyer, number, 2).await;
    let response = app
        .http
        .post(format!("{}/api/admin/v2/orders/{second}/fail", app.url))
        .header("X-Api-Key", &key)
        .send()
        .await
        .expect("fail");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({"order": second, "delivered": 0, "remains": 2, "status": "canceled", "refunded": "3.00"})
    );
    assert_eq!(status(&app, &buyer, second).await["status"], "Canceled");
    assert_eq!(balance(&app, &buyer).await, "95.50");
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(manual_smm_progress_and_completion, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, _) = supply_kit::supplier(&app, "smm@shop.test", "BoostLab").await;
    let buyer = app.buyer("buyer@test.local", "10").await;
    let v = ok(
        201,
        post(
            &app,
            As::Key(&key),
            "/api/admin/v2/products",
            json!({
                "name": "Telegram Members", "subcategoryId": sub, "entityType": "smm",
                "rate": "2.00", "min": 100, "max": 5000
            }),
        )
        .await,
    );
    assert_eq!(
        (
            v["entityType"].clone(),
            v["type"].clone(),
            v["rate"].clone(),
            v["smmType"].clone()
        ),
        (
            json!("smm_service"),
            json!("manual"),
            json!("2.00"),
            json!("Default")
        )
    );
    let number = v["service"].as_i64().expect("service");
    let row = app
        .call(&[
            ("key", &buyer),
            ("action", "services"),
            ("entityType", "smm"),
        ])
        .await;
    assert_eq!(row["services"][0]["service"], json!(number));
    assert_eq!(row["services"][0]["autoDelivery"], json!(false));
    let order = buy(&app, &buyer, number, 1000).await;
    assert_eq!(balance(&app, &buyer).await, "8.00");
    let progress = |body: Value| {
        let (app, key) = (&app, key.clone());
        async move {
            post(
                app,
                As::Key(&key),
                &format!("/api/admin/v2/orders/{order}/progress"),
                body,
            )
            .await
        }
    };
    assert_eq!(
        progress(json!({"start_count": 150, "remains": 1000, "status": "processing"})).await,
        (
            200,
            json!({"order": order, "start_count": 150, "remains": 1000, "status": "processing", "refunded": "0.00"})
        )
    );
    assert_eq!(
        status(&app, &buyer, order).await,
        json!({"status": "In progress", "charge": "2.00", "start_count": 150, "remains": 1000, "currency": "USD", "autoDelivery": false})
    );
    let before = digest(db).await;
    assert_eq!(
        progress(json!({"remains": 1001})).await,
        (400, json!({"error": "remains must be between 0 and 1000"}))
    );
    assert_eq!(
        progress(json!({"status": "shipped"})).await,
        (
            400,
            json!({"error": "Invalid status: shipped (use processing, completed, partial or canceled)"})
        )
    );
    assert_eq!(
        post(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/orders/{order}/deliver"),
            json!({"accounts": ["x"]})
        )
        .await,
        (
            400,
            json!({"error": "Only manual product orders are delivered by the supplier"})
        )
    );
    assert_eq!(digest(db).await, before);
    // Completed with 250 left: those are refunded and the order is Partial.
    assert_eq!(
        progress(json!({"remains": 250, "status": "completed"})).await,
        (
            200,
            json!({"order": order, "start_count": 150, "remains": 250, "status": "partial", "refunded": "0.50"})
        )
    );
    assert_eq!(
        status(&app, &buyer, order).await,
        json!({"status": "Partial", "charge": "1.50", "start_count": 150, "remains": 250, "currency": "USD", "autoDelivery": false})
    );
    assert_eq!(balance(&app, &buyer).await, "8.50");
    assert_eq!(
        progress(json!({"remains": 0, "status": "completed"})).await,
        (
            409,
            json!({"error": format!("Order {order} is already partial")})
        )
    );
    // A clean completion refunds nothing.
    let second = buy(&app, &buyer, number, 500).await;
    assert_eq!(
        progress_of(
            &app,
            &key,
            second,
            json!({"start_count": 0, "remains": 0, "status": "completed"})
        )
        .await,
        (
            200,
            json!({"order": second, "start_count": 0, "remains": 0, "status": "completed", "refunded": "0.00"})
        )
    );
    assert_eq!(status(&app, &buyer, second).await["status"], "Completed");
    assert_eq!(balance(&app, &buyer).await, "7.50");
    db.assert_audit_clean().await;
    app.stop().await;
});

async fn progress_of(app: &TestApp, key: &str, order: i64, body: Value) -> (u16, Value) {
    post(
        app,
        As::Key(key),
        &format!("/api/admin/v2/orders/{order}/progress"),
        body,
    )
    .await
}

engine_test!(listings_change_and_buyers_see_it, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, _) = supply_kit::supplier(&app, "edit@shop.test", "Editors").await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let (product, number, subs) = inventory_product(&app, &key, &sub, "Netflix Premium").await;
    ok(
        200,
        supply_kit::upload(&app, &key, &subs[0], "n1\nn2\nn3", false).await,
    );
    // Renamed, translated, recommended: the next read shows it.
    let v = ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/products/{product}"),
            json!({"name": "Netflix 4K", "recommended": true, "imageUrl": null,
                   "translations": {"name": {"de": "Netflix 4K (DE)"}, "description": {"de": "Frisch"}}}),
        )
        .await,
    );
    assert_eq!(
        (
            v["name"].clone(),
            v["recommended"].clone(),
            v["imageUrl"].clone()
        ),
        (json!("Netflix 4K"), json!(true), Value::Null)
    );
    let row = app
        .call(&[
            ("key", &buyer),
            ("action", "products"),
            ("productIds", &number.to_string()),
            ("lang", "de"),
        ])
        .await;
    assert_eq!(
        (
            row["products"][0]["name"].clone(),
            row["products"][0]["description"].clone(),
            row["products"][0]["isRecommended"].clone(),
            row["products"][0]["rate"].clone()
        ),
        (
            json!("Netflix 4K (DE)"),
            json!("Frisch"),
            json!(true),
            json!("2.50")
        )
    );
    // A price change and a new primary subproduct.
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/subproducts/{}", subs[1]),
            json!({"price": "5.5", "position": 0}),
        )
        .await,
    );
    let row = app
        .call(&[
            ("key", &buyer),
            ("action", "products"),
            ("productIds", &number.to_string()),
        ])
        .await;
    assert_eq!(
        (
            row["products"][0]["rate"].clone(),
            row["products"][0]["max"].clone()
        ),
        (json!("5.50"), json!(0))
    );
    // A third subproduct.
    let v = ok(
        201,
        post(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/products/{number}/subproducts"),
            json!({"name": "1 Year", "price": "20", "min": 1, "max": 5}),
        )
        .await,
    );
    assert_eq!(v["subproducts"].as_array().map(Vec::len), Some(3));
    let inv = app
        .call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &number.to_string()),
        ])
        .await;
    assert_eq!(inv["subproducts"].as_array().map(Vec::len), Some(3));
    // Removing specific unsold lines, then all of them.
    assert_eq!(
        ok(
            200,
            remove_stock(&app, &key, &subs[0], "n2\nnot-there").await
        ),
        json!({"removed": 1, "available": 2})
    );
    let inv = app
        .call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &number.to_string()),
        ])
        .await;
    assert_eq!(inv["stock"], 2);
    // Inventory cannot turn manual while lines are unsold.
    assert_eq!(
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/products/{product}"),
            json!({"type": "manual"})
        )
        .await,
        (
            409,
            json!({"error": "Remove the 2 unsold stock lines before making the product manual"})
        )
    );
    let order = buy(&app, &buyer, number, 1).await;
    assert_eq!(status(&app, &buyer, order).await["accounts"], json!(["n1"]));
    assert_eq!(
        ok(200, remove_stock(&app, &key, &subs[0], "").await),
        json!({"removed": 1, "available": 0})
    );
    assert_eq!(
        ok(
            200,
            get(
                &app,
                As::Key(&key),
                &format!("/api/admin/v2/subproducts/{}/stock", subs[0])
            )
            .await
        ),
        json!({"subproductId": subs[0], "type": "inventory", "available": 0, "sold": 1})
    );
    // Now it can become manual, with a declared capacity.
    let v = ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/products/{product}"),
            json!({"type": "manual"}),
        )
        .await,
    );
    assert_eq!(v["type"], "manual");
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"stock": 7, "position": -1}),
        )
        .await,
    );
    let inv = app
        .call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &number.to_string()),
        ])
        .await;
    assert_eq!(
        (inv["stock"].clone(), inv["autoDelivery"].clone()),
        (json!(7), json!(false))
    );
    // Hidden products leave the catalogue at once.
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/products/{product}"),
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
    let listed = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/products").await,
    );
    assert_eq!(
        (
            listed["total"].clone(),
            listed["products"][0]["active"].clone()
        ),
        (json!(1), json!(false))
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

async fn remove_stock(app: &TestApp, key: &str, sub: &str, text: &str) -> (u16, Value) {
    let response = app
        .http
        .delete(format!("{}/api/admin/v2/subproducts/{sub}/stock", app.url))
        .header("X-Api-Key", key)
        .header("Content-Type", "text/plain")
        .body(text.to_owned())
        .send()
        .await
        .expect("delete");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// A manual product (`Standard` at 0.10, up to 10 per order, capacity 1000): its number.
async fn manual_product(app: &TestApp, key: &str, subcategory: &str, name: &str) -> i64 {
    let v = ok(
        201,
        post(
            app,
            As::Key(key),
            "/api/admin/v2/products",
            json!({"name": name, "subcategoryId": subcategory, "type": "manual",
                   "subproducts": [{"name": "Standard", "price": "0.10", "max": 10, "stock": 1000}]}),
        )
        .await,
    );
    v["service"].as_i64().expect("service")
}

engine_test!(orders_list_pages_fifty_by_default_and_up_to_500, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, _) = supply_kit::supplier(&app, "busy@shop.test", "Busy").await;
    let number = manual_product(&app, &key, &sub, "Hand Work").await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let mut placed = Vec::new();
    for _ in 0..55 {
        placed.push(buy(&app, &buyer, number, 1).await);
    }
    let newest_first: Vec<Value> = placed.iter().rev().map(|o| json!(o)).collect();
    let ids = |v: &Value| -> Vec<Value> {
        v["orders"]
            .as_array()
            .expect("orders")
            .iter()
            .map(|o| o["id"].clone())
            .collect()
    };
    let page = ok(200, get(&app, As::Key(&key), "/api/admin/v2/orders").await);
    assert_eq!(
        (page["count"].clone(), page["total"].clone()),
        (json!(50), json!(55))
    );
    assert_eq!(ids(&page), newest_first[..50].to_vec(), "the newest 50");
    let all = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/orders?limit=500").await,
    );
    assert_eq!(
        (all["count"].clone(), all["total"].clone()),
        (json!(55), json!(55))
    );
    assert_eq!(ids(&all), newest_first);
    let rest = ok(
        200,
        get(
            &app,
            As::Key(&key),
            "/api/admin/v2/orders?limit=500&offset=50",
        )
        .await,
    );
    assert_eq!(ids(&rest), newest_first[50..].to_vec());
    for query in ["limit=501", "limit=0", "limit=ten"] {
        assert_eq!(
            get(
                &app,
                As::Key(&key),
                &format!("/api/admin/v2/orders?{query}")
            )
            .await,
            (400, json!({"error": "limit must be between 1 and 500"})),
            "{query}"
        );
    }
    assert_eq!(
        get(&app, As::Key(&key), "/api/admin/v2/orders?offset=-1").await,
        (
            400,
            json!({"error": "offset must be a non-negative integer"})
        )
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(reviews_wait_for_a_finished_order, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, shop) = supply_kit::supplier(&app, "slow@shop.test", "Slow").await;
    let number = manual_product(&app, &key, &sub, "Hand Work").await;
    let buyer = app.buyer("buyer@test.local", "10").await;
    let pending = buy(&app, &buyer, number, 2).await;
    let in_progress = buy(&app, &buyer, number, 2).await;
    ok(
        200,
        post(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/orders/{in_progress}/deliver"),
            json!({"accounts": ["one:1"]}),
        )
        .await,
    );
    let canceled = buy(&app, &buyer, number, 2).await;
    ok(
        200,
        post(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/orders/{canceled}/fail"),
            json!({}),
        )
        .await,
    );
    for (order, shown) in [
        (pending, "Pending"),
        (in_progress, "In progress"),
        (canceled, "Canceled"),
    ] {
        assert_eq!(status(&app, &buyer, order).await["status"], shown);
    }
    let before = digest(db).await;
    for order in [pending, in_progress, canceled] {
        assert_eq!(
            app.call(&[
                ("key", &buyer),
                ("action", "review"),
                ("order", &order.to_string()),
                ("rating", "5"),
                ("text", "Too early"),
            ])
            .await,
            json!({"error": "Only a completed order can be reviewed"}),
            "order {order}"
        );
    }
    assert_eq!(digest(db).await, before, "a refused review changes nothing");
    let shops = app.call(&[("key", &buyer), ("action", "shops")]).await;
    assert_eq!(
        (
            shops["shops"][0]["shopId"].clone(),
            shops["shops"][0]["rating"].clone(),
            shops["shops"][0]["reviewCount"].clone()
        ),
        (json!(shop), json!(0.0), json!(0))
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

/// The `products` row of one service, as a buyer reads it.
async fn product_row(app: &TestApp, buyer: &str, number: i64) -> Value {
    let v = app
        .call(&[
            ("key", buyer),
            ("action", "products"),
            ("productIds", &number.to_string()),
        ])
        .await;
    v["products"][0].clone()
}

async fn inventory_of(app: &TestApp, buyer: &str, number: i64) -> Value {
    app.call(&[
        ("key", buyer),
        ("action", "inventory"),
        ("service", &number.to_string()),
    ])
    .await
}

/// `add` of one unit of the variant `subproduct` of service `number`: the answer.
async fn add_one_of(app: &TestApp, buyer: &str, number: i64, subproduct: &str) -> Value {
    app.call(&[
        ("key", buyer),
        ("action", "add"),
        ("service", &number.to_string()),
        ("quantity", "1"),
        ("subproduct", subproduct),
    ])
    .await
}

engine_test!(listing_details_reach_buyers, |db| {
    let app = TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (key, _, _) = supply_kit::supplier(&app, "detail@shop.test", "Details").await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let (product, number, subs) = inventory_product(&app, &key, &sub, "Mailbox").await;
    for s in &subs {
        ok(
            200,
            supply_kit::upload(&app, &key, s, "m1\nm2\nm3\nm4\nm5\nm6", false).await,
        );
    }
    let row = || product_row(&app, &buyer, number);
    let inventory = || inventory_of(&app, &buyer, number);
    let add_one = |i: usize| add_one_of(&app, &buyer, number, &subs[i]);
    let first = row().await;
    assert_eq!(
        (
            first["description"].clone(),
            first["min"].clone(),
            first["max"].clone()
        ),
        (json!("Fresh accounts"), json!(1), json!(6))
    );

    // The description, then the primary variant's limits.
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/products/{product}"),
            json!({"description": "Aged accounts, phone verified"}),
        )
        .await,
    );
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/subproducts/{}", subs[0]),
            json!({"min": 2, "max": 4}),
        )
        .await,
    );
    let r = row().await;
    assert_eq!(
        (r["description"].clone(), r["min"].clone(), r["max"].clone()),
        (json!("Aged accounts, phone verified"), json!(2), json!(4))
    );
    let inv = inventory().await;
    assert_eq!(
        (inv["min"].clone(), inv["max"].clone(), inv["stock"].clone()),
        (json!(2), json!(4), json!(12)),
        "{inv}"
    );
    // The new limits hold at once: one is too few for the primary variant.
    let before = digest(db).await;
    assert_eq!(
        add_one(0).await,
        json!({"error": "Quantity must be between 2 and 4"})
    );
    assert_eq!(digest(db).await, before);

    // A hidden variant leaves the inventory and cannot be bought.
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/subproducts/{}", subs[1]),
            json!({"active": false}),
        )
        .await,
    );
    let inv = inventory().await;
    assert_eq!(
        (inv["stock"].clone(), inv["subproducts"].clone()),
        (
            json!(6),
            json!([{"subproductId": subs[0], "name": "1 Month", "stock": 6}])
        )
    );
    let before = digest(db).await;
    assert_eq!(add_one(1).await, json!({"error": "Subproduct not found"}));
    assert_eq!(digest(db).await, before);
    // Shown again, it sells again.
    ok(
        200,
        patch(
            &app,
            As::Key(&key),
            &format!("/api/admin/v2/subproducts/{}", subs[1]),
            json!({"active": true}),
        )
        .await,
    );
    let order = add_one(1).await["order"].as_i64().expect("order");
    assert_eq!(status(&app, &buyer, order).await["status"], "Completed");
    db.assert_audit_clean().await;
    app.stop().await;
});
