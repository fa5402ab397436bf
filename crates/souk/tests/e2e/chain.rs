//! Two real Souk installations in a chain: A imports B's services and products, a buyer on
//! A orders, the orders reach B, B fulfils them, and progress, accounts and refunds come
//! back to the buyer on A.

use reqwest::Method;
use serde_json::json;

use crate::engine_test;
use crate::harness::{Kind, TestApp, TestDb};
use crate::supply_kit::{self, ok, post, As};

engine_test!(a_buyer_on_a_is_served_by_b, |db| {
    // B: its own database on the same engine.
    let db_b = match db.kind {
        Kind::Sqlite => TestDb::sqlite().await,
        Kind::Postgres => TestDb::postgres().await.expect("PostgreSQL"),
    };
    let b = TestApp::spawn(&db_b).await;
    let (_, sub) = supply_kit::market(&b).await;
    let (supplier, _, _) = supply_kit::supplier(&b, "boost@b.test", "BoostLab").await;
    let smm = ok(
        201,
        post(
            &b,
            As::Key(&supplier),
            "/api/admin/v2/products",
            json!({"name": "Telegram Members", "subcategoryId": sub, "entityType": "smm", "rate": "2.00", "min": 100, "max": 5000}),
        )
        .await,
    )["service"]
        .as_i64()
        .expect("service");
    let (_, product, subs) =
        supply_kit::inventory_product(&b, &supplier, &sub, "Gmail Fresh").await;
    let lines = "b1@mail.test:pw1\nb2@mail.test:pw2\nb3@mail.test:pw3\nb4@mail.test:pw4\nb5@mail.test:pw5\n";
    let (status, _) = supply_kit::upload(&b, &supplier, &subs[0], lines, false).await;
    assert_eq!(status, 200);
    // A's account at B.
    let a_at_b = b.buyer("shop-a@b.test", "100").await;

    // A: imports B, with B's key and a 50 % markup. A is stepped: the test runs its
    // forwarder and its status sync.
    let a = TestApp::builder(db).private_upstreams().spawn().await;
    let (s, provider) = a
        .operator(
            Method::POST,
            "/providers",
            Some(json!({"name": "Souk B", "url": b.api(), "key": a_at_b, "timeoutMs": 5000, "requestsPerSecond": 0, "supportsIdempotency": true})),
        )
        .await;
    assert_eq!(s, 201, "{provider}");
    let provider = provider["id"].as_str().expect("id").to_owned();
    let (s, imported) = a
        .operator(
            Method::POST,
            &format!("/providers/{provider}/import"),
            Some(json!({"markup": "50"})),
        )
        .await;
    assert_eq!(
        (s, imported["imported"].clone()),
        (200, json!(2)),
        "{imported}"
    );
    let buyer = a.buyer("buyer@a.test", "50").await;
    let services = a.call(&[("key", &buyer), ("action", "services")]).await;
    let rows = services["services"].as_array().expect("rows");
    let a_smm = rows
        .iter()
        .find(|r| r["name"] == "Telegram Members")
        .expect("imported SMM");
    let a_product = rows
        .iter()
        .find(|r| r["name"] == "Gmail Fresh")
        .expect("imported product");
    assert_eq!(
        (a_smm["rate"].clone(), a_smm["autoDelivery"].clone()),
        (json!("3.00"), json!(true))
    );
    assert_eq!(
        (a_product["rate"].clone(), a_product["stock"].clone()),
        (json!("3.75"), json!(5))
    );
    // A's services point at B's numbers.
    for (name, upstream) in [("Telegram Members", smm), ("Gmail Fresh", product)] {
        assert_eq!(
            db.scalar(&format!(
                "SELECT CAST(provider_service AS BIGINT) FROM services WHERE name = '{name}'"
            ))
            .await,
            upstream
        );
    }
    let inventory = a
        .call(&[
            ("key", &buyer),
            ("action", "inventory"),
            ("service", &a_product["service"].to_string()),
        ])
        .await;
    // B sells "3 Months" at 6.00, a price its API does not publish: A holds it back
    // instead of selling it at the 1 Month's 3.75.
    assert_eq!(
        inventory["subproducts"]
            .as_array()
            .map(|v| v.iter().map(|s| s["name"].clone()).collect::<Vec<_>>()),
        Some(vec![json!("1 Month")]),
        "{inventory}"
    );

    // The buyer on A orders both.
    let smm_order = a
        .call(&[
            ("key", &buyer),
            ("action", "add"),
            ("service", &a_smm["service"].to_string()),
            ("link", "https://t.me/chan"),
            ("quantity", "1000"),
        ])
        .await["order"]
        .as_i64()
        .expect("order");
    let product_order = a
        .call(&[
            ("key", &buyer),
            ("action", "add"),
            ("service", &a_product["service"].to_string()),
            ("quantity", "2"),
        ])
        .await["order"]
        .as_i64()
        .expect("order");
    assert_eq!(a.run_forwarding().await, 2, "both orders sent to B");
    // The product comes back from B with its accounts.
    a.sync_until(10, "the accounts from B", || async {
        let s = a
            .call(&[
                ("key", &buyer),
                ("action", "status"),
                ("order", &product_order.to_string()),
            ])
            .await;
        s["status"] == "Completed" && s["accounts"].as_array().is_some_and(|acc| acc.len() == 2)
    })
    .await;
    let s = a
        .call(&[
            ("key", &buyer),
            ("action", "status"),
            ("order", &product_order.to_string()),
        ])
        .await;
    assert_eq!(
        s["accounts"],
        json!(["b1@mail.test:pw1", "b2@mail.test:pw2"])
    );
    assert_eq!(s["charge"], "7.50");
    // B's supplier sees the SMM order (placed by A's account) and reports a partial.
    let b_orders = supply_kit::get(
        &b,
        As::Key(&supplier),
        "/api/admin/v2/orders?entityType=smm_service",
    )
    .await;
    let b_smm_order = b_orders.1["orders"][0]["order"]
        .as_i64()
        .unwrap_or_else(|| panic!("{b_orders:?}"));
    ok(
        200,
        post(
            &b,
            As::Key(&supplier),
            &format!("/api/admin/v2/orders/{b_smm_order}/progress"),
            json!({"start_count": 150, "remains": 400, "status": "partial"}),
        )
        .await,
    );
    a.sync_until(10, "the partial from B", || async {
        a.call(&[
            ("key", &buyer),
            ("action", "status"),
            ("order", &smm_order.to_string()),
        ])
        .await["status"]
            == "Partial"
    })
    .await;
    let s = a
        .call(&[
            ("key", &buyer),
            ("action", "status"),
            ("order", &smm_order.to_string()),
        ])
        .await;
    // 3.00 charged on A; 400 of 1000 undone: 1.20 back, 1.80 kept.
    assert_eq!(
        (
            s["charge"].clone(),
            s["start_count"].clone(),
            s["remains"].clone()
        ),
        (json!("1.80"), json!(150), json!(400))
    );
    assert_eq!(
        a.call(&[("key", &buyer), ("action", "balance")]).await["balance"],
        "40.70"
    );
    // On B, A's account paid 2.00 + 2 x 2.50 and got 0.80 back.
    assert_eq!(
        b.call(&[("key", &a_at_b), ("action", "balance")]).await["balance"],
        "93.80"
    );
    // Each order reached B once, under A's idempotency key.
    assert_eq!(db_b.scalar("SELECT COUNT(*) FROM orders").await, 2);
    assert_eq!(
        db_b.scalar("SELECT COUNT(*) FROM idempotency_keys").await,
        2
    );
    // Nothing more is paid on later syncs.
    for _ in 0..3 {
        a.clock.advance(60_000);
        a.run_status_sync().await;
    }
    assert_eq!(
        a.call(&[("key", &buyer), ("action", "balance")]).await["balance"],
        "40.70"
    );
    db.assert_audit_clean().await;
    db_b.assert_audit_clean().await;
    a.stop().await;
    b.stop().await;
    db_b.cleanup().await;
});
