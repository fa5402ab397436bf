//! Early cancel (SPEC 8): every reason code on both engines, the refund, the shapes.

use serde_json::{json, Value};

use crate::engine_test;
use crate::fixtures;
use crate::harness::TestApp;

const NOT_AVAILABLE: &str = "Early auto refund is not available for this order";

engine_test!(every_reason_code_in_order, |db| {
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    let auto = fixtures::add_auto_products(&store, &f).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "500").await;
    let add = |service: i64, quantity: &'static str| {
        let (app, key) = (&app, key.clone());
        async move {
            let v = app
                .call(&[
                    ("key", &key),
                    ("action", "add"),
                    ("service", &service.to_string()),
                    ("quantity", quantity),
                ])
                .await;
            v["order"]
                .as_i64()
                .unwrap_or_else(|| panic!("order refused: {v}"))
        }
    };
    let allow = |order: i64| {
        let (app, key) = (&app, key.clone());
        async move {
            app.call(&[
                ("key", &key),
                ("action", "allowcancel"),
                ("orders", &order.to_string()),
            ])
            .await
        }
    };
    let reason = |v: &Value| v[0]["reason"].as_str().map(str::to_owned);

    let placed_at = app.state.now();
    let fresh = add(auto.netflix_auto, "2").await;
    let manual = add(f.outlook_fresh, "1").await;
    let unpaid = add(auto.netflix_auto, "1").await;
    let completed = add(f.gmail_usa, "1").await;
    let sent = add(auto.netflix_auto, "1").await;
    let resending = add(auto.netflix_auto, "1").await;
    let self_refunded = add(auto.netflix_auto, "1").await;
    let delivered = add(auto.netflix_auto, "1").await;
    let free = add(auto.freebie, "1").await;
    let disputed = add(auto.netflix_auto, "1").await;
    let withdrawn = add(auto.netflix_auto, "1").await;
    let eligible = add(auto.netflix_auto, "2").await;
    let partial = add(auto.netflix_auto, "4").await;

    db.exec(&format!(
        "UPDATE orders SET payment_status = 'pending' WHERE id = {unpaid}"
    ))
    .await;
    db.exec(&format!(
        "UPDATE orders SET external_id = 'up-77', sent_at = 1 WHERE id = {sent}"
    ))
    .await;
    // Queued again for a resend with its key after a send whose outcome was unknown: the
    // provider may hold it, so it counts as sent.
    db.exec(&format!(
        "UPDATE orders SET sent_at = 1 WHERE id = {resending}"
    ))
    .await;
    db.exec(&format!(
        "UPDATE orders SET self_refunded = TRUE WHERE id = {self_refunded}"
    ))
    .await;
    db.deliver_line(delivered, "acct:delivered").await;
    db.exec(&format!(
        "INSERT INTO disputes (id, order_id, user_id, status, created_at) SELECT 'dispute00000000000000001', id, user_id, 'open', 0 FROM orders WHERE id = {disputed}"
    ))
    .await;
    db.exec("INSERT INTO withdrawals (id, shop_id, amount, status, created_at) SELECT 'withdrawal00000000000001', shop_id, 4000000, 'requested', 0 FROM orders LIMIT 1").await;
    // Every paid order has its shop's earning; this one is covered by the withdrawal.
    db.exec(&format!(
        "UPDATE earnings SET withdrawal_id = 'withdrawal00000000000001' WHERE order_id = {withdrawn}"
    ))
    .await;
    db.exec("UPDATE withdrawals SET amount = (SELECT amount FROM earnings WHERE withdrawal_id = withdrawals.id)").await;
    db.deliver_line(partial, "acct:partial-1").await;

    // Before the minimum wait, every otherwise eligible order says so, with the moment.
    let v = allow(fresh).await;
    assert_eq!(
        v,
        json!([{
            "order": fresh, "allowcancel": 0, "error": NOT_AVAILABLE, "reason": "BEFORE_MIN_WAIT",
            "eligibleAfter": souk_core::clock::iso_millis(db_paid_at(db, fresh).await + 30 * 60_000)
        }])
    );
    assert!(db_paid_at(db, fresh).await >= placed_at);
    assert_eq!(
        reason(&allow(manual).await).as_deref(),
        Some("PRODUCT_TYPE_NOT_ELIGIBLE")
    );
    assert_eq!(
        reason(&allow(unpaid).await).as_deref(),
        Some("PAYMENT_NOT_COMPLETED")
    );
    assert_eq!(
        reason(&allow(completed).await).as_deref(),
        Some("STATUS_NOT_ELIGIBLE")
    );
    assert_eq!(
        reason(&allow(sent).await).as_deref(),
        Some("SENT_TO_PROVIDER")
    );

    app.clock.advance(31 * 60_000);
    let table = [
        (fresh, None),
        (manual, Some("PRODUCT_TYPE_NOT_ELIGIBLE")),
        (unpaid, Some("PAYMENT_NOT_COMPLETED")),
        (completed, Some("STATUS_NOT_ELIGIBLE")),
        (sent, Some("SENT_TO_PROVIDER")),
        (resending, Some("SENT_TO_PROVIDER")),
        (self_refunded, Some("ALREADY_SELF_REFUNDED")),
        (delivered, Some("FULLY_DELIVERED")),
        (free, Some("NOTHING_TO_REFUND")),
        (disputed, Some("ACTIVE_DISPUTE")),
        (withdrawn, Some("SUPPLIER_WITHDRAWAL")),
        (eligible, None),
        (partial, None),
    ];
    for (order, expected) in table {
        let v = allow(order).await;
        assert_eq!(reason(&v).as_deref(), expected, "order {order}: {v}");
        if let Some(code) = expected {
            assert_eq!(
                v,
                json!([{"order": order, "allowcancel": 0, "error": NOT_AVAILABLE, "reason": code}])
            );
            // cancel refuses the same way and moves no money.
            let before = app.call(&[("key", &key), ("action", "balance")]).await;
            let c = app
                .call(&[
                    ("key", &key),
                    ("action", "cancel"),
                    ("orders", &order.to_string()),
                ])
                .await;
            assert_eq!(
                c,
                json!([{"order": order, "cancel": {"error": NOT_AVAILABLE, "reason": code}}])
            );
            assert_eq!(
                app.call(&[("key", &key), ("action", "balance")]).await,
                before
            );
        }
    }
    // The switch, checked first of all.
    app.store
        .set_setting("early_cancel_enabled", "false", 0)
        .await
        .expect("setting");
    assert_eq!(
        reason(&allow(eligible).await).as_deref(),
        Some("FEATURE_DISABLED")
    );
    assert_eq!(
        reason(&allow(manual).await).as_deref(),
        Some("FEATURE_DISABLED")
    );
    app.store
        .set_setting("early_cancel_enabled", "true", 0)
        .await
        .expect("setting");
    // The minimum wait is a setting too.
    app.store
        .set_setting("auto_order_early_refund_minutes", "45", 0)
        .await
        .expect("setting");
    assert_eq!(
        reason(&allow(eligible).await).as_deref(),
        Some("BEFORE_MIN_WAIT")
    );
    app.store
        .set_setting("auto_order_early_refund_minutes", "30", 0)
        .await
        .expect("setting");

    // The seed's batch example: one refundable, one unknown.
    let batch = format!("{eligible},999999");
    assert_eq!(
        app.call(&[("key", &key), ("action", "allowcancel"), ("orders", &batch)])
            .await,
        json!([
            {"order": eligible, "allowcancel": 1, "refundAmount": 10.0},
            {"order": 999999, "allowcancel": 0, "error": "Incorrect order ID"}
        ])
    );
    let before: f64 = app.call(&[("key", &key), ("action", "balance")]).await["balance"]
        .as_str()
        .and_then(|b| b.parse().ok())
        .expect("balance");
    assert_eq!(
        app.call(&[("key", &key), ("action", "cancel"), ("orders", &batch)])
            .await,
        json!([
            {"order": eligible, "cancel": 1},
            {"order": 999999, "cancel": {"error": "Incorrect order ID"}}
        ])
    );
    let status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &eligible.to_string()),
        ])
        .await;
    assert_eq!(
        (status["status"].clone(), status["charge"].clone()),
        (json!("Canceled"), json!("0.00"))
    );
    // Cancelled once; the second attempt finds the payment refunded (checked before the
    // status, by the rules' order).
    assert_eq!(
        reason(&allow(eligible).await).as_deref(),
        Some("PAYMENT_NOT_COMPLETED")
    );
    // Partial delivery: 1 of 4 delivered, 3/4 of 20.00 back, the account stays.
    let v = allow(partial).await;
    assert_eq!(v[0]["refundAmount"], json!(15.0));
    let v = app
        .call(&[
            ("key", &key),
            ("action", "cancel"),
            ("orders", &partial.to_string()),
        ])
        .await;
    assert_eq!(v, json!([{"order": partial, "cancel": 1}]));
    let status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &partial.to_string()),
        ])
        .await;
    assert_eq!(
        status,
        json!({
            "status": "Partial", "charge": "5.00", "start_count": 4, "remains": 3, "currency": "USD",
            "entityType": "product", "autoDelivery": true, "accounts": ["acct:partial-1"]
        })
    );
    let after: f64 = app.call(&[("key", &key), ("action", "balance")]).await["balance"]
        .as_str()
        .and_then(|b| b.parse().ok())
        .expect("balance");
    assert!(
        (after - before - 25.0).abs() < 1e-9,
        "refunds 10 + 15: {before} -> {after}"
    );
    // Other users' orders are indistinguishable from missing ones.
    let other = app.buyer("other@test.local", "0").await;
    assert_eq!(
        app.call(&[
            ("key", &other),
            ("action", "cancel"),
            ("orders", &fresh.to_string())
        ])
        .await,
        json!([{"order": fresh, "cancel": {"error": "Incorrect order ID"}}])
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "cancel")]).await,
        json!({"error": "Order ID is required"})
    );
    let many: Vec<String> = (1..=101).map(|n| n.to_string()).collect();
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "cancel"),
            ("orders", &many.join(","))
        ])
        .await,
        json!({"error": "Too many order IDs (max 100)"})
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "cancel"), ("orders", "abc")])
            .await,
        json!([{"order": "abc", "cancel": {"error": "Incorrect order ID"}}])
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

async fn db_paid_at(db: &crate::harness::TestDb, order: i64) -> i64 {
    db.scalar(&format!("SELECT paid_at FROM orders WHERE id = {order}"))
        .await
}

/// Makes every update of order `order` fail inside the database, as a lost connection or
/// a full disk would.
async fn fail_updates_of(db: &crate::harness::TestDb, order: i64) {
    match db.kind {
        crate::harness::Kind::Sqlite => {
            db.exec(&format!(
                "CREATE TRIGGER fail_order BEFORE UPDATE ON orders WHEN OLD.id = {order} \
                 BEGIN SELECT RAISE(ABORT, 'injected failure'); END"
            ))
            .await
        }
        crate::harness::Kind::Postgres => {
            db.exec(&format!(
                "CREATE FUNCTION fail_order() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER fail_order BEFORE UPDATE ON orders FOR EACH ROW WHEN (OLD.id = {order}) EXECUTE FUNCTION fail_order()"
            ))
            .await
        }
    }
}

engine_test!(a_failing_order_does_not_sink_the_batch, |db| {
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    let auto = fixtures::add_auto_products(&store, &f).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        let v = app
            .call(&[
                ("key", &key),
                ("action", "add"),
                ("service", &auto.netflix_auto.to_string()),
                ("quantity", "1"),
            ])
            .await;
        orders.push(v["order"].as_i64().unwrap_or_else(|| panic!("{v}")));
    }
    let (a, b, c) = (orders[0], orders[1], orders[2]);
    // Paid, yet no payment time: not eligible, and never an `eligibleAfter` in 1970.
    let unpaid = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &auto.netflix_auto.to_string()),
            ("quantity", "1"),
        ])
        .await["order"]
        .as_i64()
        .expect("order");
    db.exec(&format!(
        "UPDATE orders SET paid_at = NULL WHERE id = {unpaid}"
    ))
    .await;
    app.clock.advance(31 * 60_000);
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "allowcancel"),
            ("orders", &unpaid.to_string())
        ])
        .await,
        json!([{"order": unpaid, "allowcancel": 0, "error": NOT_AVAILABLE, "reason": "PAYMENT_NOT_COMPLETED"}])
    );

    fail_updates_of(db, b).await;
    let batch = format!("{a},{b},{c}");
    assert_eq!(
        app.call(&[("key", &key), ("action", "cancel"), ("orders", &batch)])
            .await,
        json!([
            {"order": a, "cancel": 1},
            {"order": b, "cancel": {"error": "Internal error"}},
            {"order": c, "cancel": 1}
        ])
    );
    // a and c are refunded; b's transaction left nothing behind.
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await,
        json!({"balance": "90.00", "currency": "USD"})
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM ledger WHERE order_id = {b} AND kind = 'refund'"
        ))
        .await,
        0
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM orders WHERE id = {b} AND status = 'pending' AND refunded = 0 AND NOT self_refunded"
        ))
        .await,
        1
    );
    db.exec(match db.kind {
        crate::harness::Kind::Sqlite => "DROP TRIGGER fail_order",
        crate::harness::Kind::Postgres => {
            "DROP TRIGGER fail_order ON orders; DROP FUNCTION fail_order()"
        }
    })
    .await;
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "cancel"),
            ("orders", &b.to_string())
        ])
        .await,
        json!([{"order": b, "cancel": 1}])
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(racing_cancels_refund_each_order_once, |db| {
    // Cancels race each other and new orders on one node, so on SQLite they share group
    // commits: each order is refunded once, whichever of its three cancels wins.
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    let auto = fixtures::add_auto_products(&store, &f).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "200").await;
    let service = auto.netflix_auto.to_string();
    let add = || {
        let (app, key, service) = (&app, key.clone(), service.clone());
        async move {
            app.call(&[
                ("key", &key),
                ("action", "add"),
                ("service", &service),
                ("quantity", "1"),
            ])
            .await
        }
    };
    let mut orders = Vec::new();
    for _ in 0..10 {
        let v = add().await;
        orders.push(v["order"].as_i64().unwrap_or_else(|| panic!("{v}")));
    }
    app.clock.advance(31 * 60_000);
    let before = app.store.group_commit_stats();
    let cancels = futures::future::join_all(orders.iter().cycle().take(30).map(|o| {
        let (app, key) = (&app, key.clone());
        async move {
            app.call(&[
                ("key", &key),
                ("action", "cancel"),
                ("orders", &o.to_string()),
            ])
            .await
        }
    }));
    let adds = futures::future::join_all((0..10).map(|_| add()));
    let (cancels, adds) = futures::future::join(cancels, adds).await;
    for o in &orders {
        let answers: Vec<&Value> = cancels
            .iter()
            .filter(|v| v[0]["order"] == json!(o))
            .map(|v| &v[0]["cancel"])
            .collect();
        assert_eq!(answers.len(), 3);
        assert_eq!(
            answers.iter().filter(|a| **a == &json!(1)).count(),
            1,
            "{answers:?}"
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM ledger WHERE order_id = {o} AND kind = 'refund'"
            ))
            .await,
            1
        );
    }
    assert!(adds.iter().all(|v| v["order"].is_i64()), "{adds:?}");
    // PostgreSQL's group commit takes the orders only; SQLite's the cancels too.
    if let (Some(before), Some(after)) = (before, app.store.group_commit_stats()) {
        let expected = match db.kind {
            crate::harness::Kind::Sqlite => 40,
            crate::harness::Kind::Postgres => 10,
        };
        assert_eq!(
            after.1 - before.1,
            expected,
            "every cancel and order went through it"
        );
    }
    db.assert_audit_clean().await;
    app.stop().await;
});
