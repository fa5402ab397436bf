//! The event stream's core: each change records its event, for its audience, in its own
//! transaction, only while someone listens; the fan-out turns each into one
//! notification per chosen channel. (The channels themselves: `events_webhooks.rs`,
//! `events_telegram.rs`, `events_email.rs`.)

use serde_json::{json, Value};
use souk_core::clock::Clock;
use souk_core::event::{self, Audience, OPERATOR};

use crate::engine_test;
use crate::harness::{TestApp, TestDb};
use crate::supply_kit::{
    buy, earnings_withdrawable_at_once, inventory_product, manual_product, market, ok, post,
    supplier, upload, As,
};

/// `audience` wants every kind of its audiences by e-mail (which records the events while
/// e-mail is on; the relay here takes nothing, so nothing is sent).
async fn listen(app: &TestApp, audience: &str, of: &[Audience]) {
    souk_app::mail::configure(
        &app.store,
        souk_app::mail::SmtpPatch {
            enabled: Some(true),
            host: Some("127.0.0.1".into()),
            port: Some(9),
            security: Some("plain".into()),
            from: Some("shop@events.test".into()),
            ..Default::default()
        },
        app.clock.now_ms(),
    )
    .await
    .expect("e-mail on");
    let kinds: Vec<String> = event::KINDS
        .iter()
        .filter(|k| of.contains(&k.audience))
        .map(|k| k.name.to_owned())
        .collect();
    app.store
        .set_notification_prefs(audience, "email", &kinds)
        .await
        .expect("prefs");
}

/// The recorded events, oldest first, as `audience kind subject`.
async fn recorded(db: &TestDb) -> Vec<String> {
    let store = db.store().await;
    let mut out = Vec::new();
    for audience in ["buyer", "supplier", OPERATOR] {
        let id = match audience {
            OPERATOR => OPERATOR.to_owned(),
            who => store
                .user_id_by_email(&format!("{who}@events.test"))
                .await
                .expect("look up")
                .unwrap_or_default(),
        };
        for e in store.events_of(&id, 100).await.expect("events") {
            out.push((e.seq, format!("{audience} {} {}", e.kind, e.subject)));
        }
    }
    out.sort();
    out.into_iter().map(|(_, line)| line).collect()
}

/// A supplier with an inventory product of 3 lines and a manual product, a buyer with
/// 100: (buyer key, supplier key, inventory service, manual service, inventory variant).
async fn shop(app: &TestApp) -> (String, String, i64, i64, String) {
    let (_, subcategory) = market(app).await;
    let (supplier_key, _, _) = supplier(app, "supplier@events.test", "Events shop").await;
    let (_, inventory, subs) =
        inventory_product(app, &supplier_key, &subcategory, "Mailboxes").await;
    let (status, _) = upload(app, &supplier_key, &subs[0], "a:1\nb:2\nc:3\n", false).await;
    assert_eq!(status, 200);
    let manual = manual_product(app, &supplier_key, &subcategory, "Handmade", "1.50").await;
    let manual_service = manual["service"].as_i64().expect("service");
    let buyer_key = app.buyer("buyer@events.test", "100").await;
    (
        buyer_key,
        supplier_key,
        inventory,
        manual_service,
        subs[0].clone(),
    )
}

engine_test!(nothing_is_recorded_while_nobody_listens, |db| {
    let app = TestApp::spawn(db).await;
    let (buyer, _, inventory, manual, _) = shop(&app).await;
    buy(&app, &buyer, inventory, 1).await;
    buy(&app, &buyer, manual, 2).await;
    assert_eq!(db.scalar("SELECT COUNT(*) FROM events").await, 0);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM jobs").await, 0);
    app.stop().await;
});

engine_test!(each_change_tells_its_audience, |db| {
    let app = TestApp::spawn_stepped(db, crate::harness::private_upstreams()).await;
    earnings_withdrawable_at_once(&app).await;
    let (buyer_key, supplier_key, inventory, manual, variant) = shop(&app).await;
    let buyer = app
        .store
        .user_id_by_email("buyer@events.test")
        .await
        .expect("look up")
        .expect("buyer");
    let supplier_id = app
        .store
        .user_id_by_email("supplier@events.test")
        .await
        .expect("look up")
        .expect("supplier");
    listen(&app, &buyer, &[Audience::Buyer]).await;
    listen(&app, &supplier_id, &[Audience::Buyer, Audience::Supplier]).await;
    listen(&app, OPERATOR, &[Audience::Operator]).await;
    let (status, refused) = crate::supply_kit::patch(
        &app,
        As::Key(&supplier_key),
        &format!("/api/admin/v2/subproducts/{variant}"),
        json!({"lowStockThreshold": -1}),
    )
    .await;
    assert_eq!(
        (status, refused),
        (
            400,
            json!({"error": "lowStockThreshold must be a whole number from 0 (off) to 1000000"})
        )
    );
    ok(
        200,
        crate::supply_kit::patch(
            &app,
            As::Key(&supplier_key),
            &format!("/api/admin/v2/subproducts/{variant}"),
            json!({"lowStockThreshold": 2}),
        )
        .await,
    );

    // A sale of two lines leaves one: completed for the buyer, low stock for the
    // supplier (said once, on the sale that crossed the threshold).
    let sold = buy(&app, &buyer_key, inventory, 2).await;
    // A manual order: the supplier is asked; a part and then the rest delivered.
    let handmade = buy(&app, &buyer_key, manual, 2).await;
    let deliver = |accounts: Value| {
        let (app, key) = (&app, supplier_key.clone());
        async move {
            post(
                app,
                As::Key(&key),
                &format!("/api/admin/v2/orders/{handmade}/deliver"),
                json!({ "accounts": accounts }),
            )
            .await
        }
    };
    assert_eq!(deliver(json!(["x:1"])).await.0, 200);
    assert_eq!(deliver(json!(["y:2"])).await.0, 200);
    // A dispute on the first order (supplier and operator told), refunded by the
    // operator (the buyer told of the dispute and of the order canceled).
    let d = app
        .call(&[
            ("key", &buyer_key),
            ("action", "dispute"),
            ("order", &sold.to_string()),
            ("message", "the second one does not log in"),
        ])
        .await;
    let dispute = d["dispute"].as_str().expect("dispute").to_owned();
    ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{dispute}/resolve"),
            json!({"decision": "refund", "amount": "2.50", "note": "one replaced"}),
        )
        .await,
    );
    // A review of the manual order.
    let r = app
        .call(&[
            ("key", &buyer_key),
            ("action", "review"),
            ("order", &handmade.to_string()),
            ("rating", "5"),
        ])
        .await;
    assert!(r["review"].is_string(), "{r}");
    // A withdrawal: requested (operator), completed (supplier).
    let w = ok(
        201,
        post(
            &app,
            As::Key(&supplier_key),
            "/api/admin/v2/withdrawals",
            json!({}),
        )
        .await,
    );
    let wid = w["withdrawals"][0]["id"]
        .as_str()
        .or_else(|| w["id"].as_str())
        .expect("withdrawal")
        .to_owned();
    ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/withdrawals/{wid}/complete"),
            json!({}),
        )
        .await,
    );
    // A job no node can run is parked: the operator is told.
    app.expect_failed_jobs();
    app.store
        .enqueue_job(
            &souk_store::NewJob {
                kind: "nobody.runs.this".into(),
                payload: "{}".into(),
                dedupe_key: None,
                run_at: 0,
                max_attempts: 3,
                held_by: None,
            },
            app.clock.now_ms(),
        )
        .await
        .expect("enqueue");
    app.run_jobs().await;

    let said = recorded(db).await;
    let want = [
        format!("buyer order.completed order:{sold}"),
        "supplier stock.low subproduct:".to_owned() + &variant,
        format!("supplier order.created order:{handmade}"),
        format!("buyer order.in_progress order:{handmade}"),
        format!("buyer order.completed order:{handmade}"),
        format!("supplier dispute.opened order:{sold}"),
        format!("operator dispute.opened order:{sold}"),
        format!("buyer order.partial order:{sold}"),
        format!("buyer dispute.updated order:{sold}"),
        format!("supplier review.created order:{handmade}"),
        format!("operator withdrawal.requested withdrawal:{wid}"),
        format!("supplier withdrawal.updated withdrawal:{wid}"),
    ];
    let mut expected: Vec<String> = want.to_vec();
    let parked = said
        .iter()
        .find(|l| l.starts_with("operator job.parked"))
        .cloned()
        .expect("job.parked told");
    expected.push(parked);
    assert_eq!(said, expected);

    // The fan-out: one e-mail notification per event (each audience chose e-mail).
    app.run_deliveries().await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM notifications WHERE channel = 'email'")
            .await,
        expected.len() as i64
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM events WHERE NOT dispatched")
            .await,
        0
    );
    // The buyer's data of a completed sale.
    let event = app
        .store
        .events_of(&buyer, 100)
        .await
        .expect("events")
        .into_iter()
        .find(|e| e.subject == format!("order:{sold}") && e.kind == event::ORDER_COMPLETED)
        .expect("completed");
    assert_eq!(
        event.data(),
        json!({"order": sold, "kind": "product", "service": inventory, "status": "Completed",
               "quantity": 2, "delivered": 2, "remains": 0, "charge": "5.00", "refunded": "0.00"})
    );
    assert!(event.id.starts_with("msg_"));
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(
    a_provider_failing_for_a_while_or_low_on_money_is_told_once,
    |db| {
        let app = TestApp::spawn_stepped(db, crate::harness::private_upstreams()).await;
        listen(&app, OPERATOR, &[Audience::Operator]).await;
        let t0 = app.clock.now_ms();
        let provider = app
            .store
            .create_provider(
                &souk_store::NewProvider {
                    name: "Panel".into(),
                    url: "https://panel.example/api/v2".into(),
                    key: "k".into(),
                    protocol: "api_v2".into(),
                    timeout_ms: 5_000,
                    requests_per_second: 5,
                    supports_idempotency: false,
                },
                t0,
            )
            .await
            .expect("provider");
        let fails = |at: i64| {
            let (store, provider) = (app.store.clone(), provider.clone());
            async move {
                store
                    .provider_failed(&provider, souk_store::ProviderCall::Sync, "HTTP 502", at)
                    .await
                    .expect("failed")
            }
        };
        fails(t0).await;
        fails(t0 + 10 * 60_000).await;
        assert_eq!(db.scalar("SELECT COUNT(*) FROM events").await, 0);
        fails(t0 + 15 * 60_000).await;
        fails(t0 + 20 * 60_000).await;
        assert_eq!(db.scalar("SELECT COUNT(*) FROM events").await, 1);
        // Recovered, then failing again: a new run, told again.
        app.store
            .provider_recovered(&provider, souk_store::ProviderCall::Sync)
            .await
            .expect("ok");
        fails(t0 + 60 * 60_000).await;
        fails(t0 + 80 * 60_000).await;
        assert_eq!(db.scalar("SELECT COUNT(*) FROM events").await, 2);
        // The balance crossing the operator's threshold is told once.
        souk_app::settings::update(
            &app.store,
            vec![("provider_low_balance".into(), "10".into())],
            t0,
        )
        .await
        .expect("setting");
        let m = |s: &str| souk_core::Money::parse(s).expect("money");
        app.store
            .set_provider_balance(&provider, m("50"), t0)
            .await
            .expect("balance");
        app.store
            .set_provider_balance(&provider, m("9"), t0)
            .await
            .expect("balance");
        app.store
            .set_provider_balance(&provider, m("8"), t0)
            .await
            .expect("balance");
        let said: Vec<Value> = app
            .store
            .events_of(OPERATOR, 10)
            .await
            .expect("events")
            .into_iter()
            .map(|e| e.data())
            .collect();
        assert_eq!(said.len(), 3);
        assert_eq!(said[0]["reason"], "balance");
        assert_eq!(said[0]["balance"], "9.00");
        assert_eq!(said[1]["reason"], "sync");
        app.stop().await;
    }
);

// Sends and polls that keep failing are said too, once a run; a run ends only when the
// call that failed works again: syncs working do not hide sends failing.
engine_test!(failing_sends_and_polls_tell_the_operator, |db| {
    use crate::fake_upstream::{FakeUpstream, Shape};
    use crate::providers::{connect, forward_state, order, panel_services, set_provider_url};

    let app = TestApp::spawn_stepped(db, crate::harness::private_upstreams()).await;
    listen(&app, OPERATOR, &[Audience::Operator]).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (provider, numbers) = connect(&app, &fake, false, 2_000).await;
    let told = || async {
        app.store
            .events_of(OPERATOR, 10)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.kind == event::PROVIDER_FAILING)
            .map(|e| e.data()["reason"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<String>>()
    };
    let running = |call: &'static str| {
        let sql = format!("SELECT COUNT(*) FROM providers WHERE failing_call = '{call}'");
        async move { db.scalar(&sql).await }
    };

    // Nothing listens on port 9: each send fails before it leaves.
    set_provider_url(&app, &provider, "http://127.0.0.1:9/api/v2").await;
    let id = order(&app, &key, numbers[0], "1000").await;
    app.run_forwarding().await;
    assert_eq!((running("send").await, told().await.len()), (1, 0));
    // A sync that works ends no run of failing sends.
    app.store
        .provider_recovered(&provider, souk_store::ProviderCall::Sync)
        .await
        .expect("recovered");
    app.clock.advance(16 * 60_000);
    app.run_forwarding().await;
    assert_eq!(told().await, ["send"]);
    app.clock.advance(16 * 60_000);
    app.run_forwarding().await;
    assert_eq!(told().await, ["send"], "once a run");

    // Sent at last: the run is over.
    set_provider_url(&app, &provider, &fake.url).await;
    app.clock.advance(3_600_000);
    app.run_forwarding().await;
    assert_eq!(forward_state(db, id).await, "sent");
    assert_eq!(running("send").await, 0);

    // Polls failing for a while: a new run, said as such.
    set_provider_url(&app, &provider, "http://127.0.0.1:9/api/v2").await;
    app.clock.advance(3_600_000);
    app.run_status_sync().await;
    assert_eq!(running("status").await, 1);
    app.clock.advance(16 * 60_000);
    app.run_status_sync().await;
    assert_eq!(told().await, ["status", "send"]);
    db.assert_audit_clean().await;
    app.stop().await;
});
