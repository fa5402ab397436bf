//! Fallback providers (issue 18): a service mapped to other providers' services in
//! priority order. An order its own provider refuses, or cannot take (disabled, short of
//! balance), lands at the next one; one whose send may have arrived never moves. The
//! provider that took each order, with its cost there, gives the provider's profit.

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{smm_service, FakeUpstream, Fault, Shape};
use crate::harness::TestApp;
use crate::providers::{connect, forward_state, order};

async fn order_events(db: &crate::harness::TestDb, order: i64, kind: &str) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM order_events WHERE order_id = {order} AND kind = '{kind}'"
    ))
    .await
}

engine_test!(
    orders_fall_over_to_the_next_provider_but_never_after_a_maybe_sent,
    |db| {
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        let key = app.buyer("buyer@test.local", "100").await;
        let a = FakeUpstream::start(
            Shape::PerfectPanel,
            false,
            vec![smm_service(
                "11",
                "IG Followers",
                "Instagram",
                "0.90",
                (10, 100000),
                false,
                false,
            )],
        )
        .await;
        let b = FakeUpstream::start(
            Shape::Php,
            false,
            vec![smm_service(
                "90",
                "IG Followers B",
                "Instagram",
                "0.50",
                (10, 50000),
                false,
                false,
            )],
        )
        .await;
        let (provider_a, numbers) = connect(&app, &a, false, 3_000).await;
        let (provider_b, _) = connect(&app, &b, false, 3_000).await;
        let followers = numbers[0];
        let path = format!("/services/{followers}/providers");
        let fallbacks = json!({"fallbacks": [{"providerId": provider_b, "service": "90"}]});
        let (status, set) = app.operator(Method::PUT, &path, Some(fallbacks)).await;
        assert_eq!(status, 200, "{set}");
        let mapped = json!({
            "service": followers,
            "primary": {"providerId": provider_a, "service": "11"},
            "fallbacks": [{"providerId": provider_b, "service": "90"}],
        });
        assert_eq!(set, mapped);
        // Bad input is refused by name and changes nothing.
        let eleven: Vec<Value> = (0..11)
            .map(|i| json!({"providerId": provider_b, "service": i.to_string()}))
            .collect();
        for (body, status, error) in [
            (
                json!({"fallbacks": [{"providerId": "nope", "service": "90"}]}),
                400,
                "Provider \"nope\" not found",
            ),
            (
                json!({"fallbacks": [{"providerId": provider_a, "service": "11"}]}),
                400,
                "Service 11 of provider Upstream Panel is listed twice",
            ),
            (
                json!({"fallbacks": [{"providerId": provider_b, "service": " "}]}),
                400,
                "A fallback's service must be the provider's service id (1 to 64 characters)",
            ),
            (
                json!({"fallbacks": eleven}),
                400,
                "A service may have at most 10 fallbacks",
            ),
        ] {
            let (s, v) = app.operator(Method::PUT, &path, Some(body.clone())).await;
            assert_eq!((s, v["error"].clone()), (status, json!(error)), "{body}");
        }
        let (s, v) = app
            .operator(
                Method::PUT,
                "/services/999999/providers",
                Some(json!({"fallbacks": []})),
            )
            .await;
        assert_eq!(s, 404, "{v}");
        let (s, v) = app
            .operator(Method::PUT, &path, Some(json!({"fallback": []})))
            .await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(app.operator(Method::GET, &path, None).await, (200, mapped));

        // A refuses: the order lands at B at once, with fresh counts.
        a.fail_next_add(Fault::ApiError("Not enough funds on balance".into()));
        let refused = order(&app, &key, followers, "1000").await;
        assert_eq!(app.run_forwarding().await, 2, "A's try, then B's");
        assert_eq!(forward_state(db, refused).await, "sent");
        assert_eq!(a.orders().len(), 0);
        let at_b = b.orders();
        assert_eq!(
            at_b.iter()
                .map(|o| (o.service.as_str(), o.link.as_str(), o.quantity))
                .collect::<Vec<_>>(),
            vec![("90", "https://instagram.com/p/x", 1000)]
        );
        assert_eq!(order_events(db, refused, "fallback").await, 1);

        // A disabled: B takes the order, A is not even asked.
        let (s, _) = app
            .operator(
                Method::PATCH,
                &format!("/providers/{provider_a}"),
                Some(json!({"enabled": false})),
            )
            .await;
        assert_eq!(s, 200);
        let disabled = order(&app, &key, followers, "1000").await;
        assert_eq!(app.run_forwarding().await, 2);
        assert_eq!((a.add_requests(), b.orders().len()), (1, 2));
        let (s, _) = app
            .operator(
                Method::PATCH,
                &format!("/providers/{provider_a}"),
                Some(json!({"enabled": true})),
            )
            .await;
        assert_eq!(s, 200);

        // A short of balance for the order (0.90 there): B again.
        let store = &app.store;
        store
            .set_provider_balance(&provider_a, souk_core::Money::parse("0.50").expect("m"), 0)
            .await
            .expect("balance");
        let short = order(&app, &key, followers, "1000").await;
        assert_eq!(app.run_forwarding().await, 2);
        assert_eq!((a.add_requests(), b.orders().len()), (1, 3));
        store
            .set_provider_balance(&provider_a, souk_core::Money::parse("100").expect("m"), 0)
            .await
            .expect("balance");

        // A times out (it may hold the order): parked for the operator, never sent to B.
        a.fail_next_add(Fault::TimeoutAfterCreate(std::time::Duration::from_millis(
            10_000,
        )));
        let maybe = order(&app, &key, followers, "1000").await;
        assert_eq!(app.run_forwarding().await, 1);
        assert_eq!(forward_state(db, maybe).await, "unknown");
        assert_eq!((a.orders().len(), b.orders().len()), (1, 3));
        assert_eq!(order_events(db, maybe, "fallback").await, 0);
        app.expect_failed_jobs();

        // B's orders complete; each keeps its provider and cost there: 1.08 charged, 0.50 paid.
        for o in b.orders() {
            b.set_status(o.id, "Completed", 0, 10);
        }
        let ids = format!("{refused},{disabled},{short}");
        app.sync_until(5, "B's orders completed", || async {
            let v = app
                .call(&[("key", &key), ("action", "status"), ("orders", &ids)])
                .await;
            [refused, disabled, short]
                .iter()
                .all(|o| v[o.to_string()]["status"] == "Completed")
        })
        .await;
        let (s, profit) = app
            .operator(
                Method::GET,
                &format!("/providers/{provider_b}/profit"),
                None,
            )
            .await;
        assert_eq!(s, 200);
        assert_eq!(
            profit,
            json!({"provider": provider_b, "orders": 3, "ordersWithoutCost": 0,
               "revenue": "3.24", "cost": "1.50", "profit": "1.74"})
        );
        let (_, profit_a) = app
            .operator(
                Method::GET,
                &format!("/providers/{provider_a}/profit"),
                None,
            )
            .await;
        assert_eq!(profit_a["orders"], 0);
        db.assert_audit_clean().await;
        app.stop().await;
    }
);
