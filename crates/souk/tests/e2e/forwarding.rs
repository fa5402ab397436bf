//! The forwarding outbox at its edges: answers that leave the outcome unknown, resends
//! after the upstream may have forgotten the key, a node stopping mid-batch, claims that
//! never sent, and upstreams that stop knowing an order. Real servers, a fake upstream
//! (or another Souk) over loopback.

use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{FakeOrder, FakeUpstream, Fault, Shape};
use crate::fixtures;
use crate::harness::{private_upstreams, wait_for, Kind, ServerProcess, TestApp, TestDb};
use crate::providers::{
    connect, fake_provider_id, forward_state, order, order_job, panel_services, place_bulk,
    set_provider_url,
};

async fn refunds(db: &TestDb, order: i64) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM ledger WHERE order_id = {order} AND kind = 'refund'"
    ))
    .await
}

/// The details of the order's events of `kind`, oldest first.
async fn order_events(db: &TestDb, order: i64, kind: &str) -> Vec<String> {
    let url = db.url.clone();
    let sql = format!(
        "SELECT detail FROM order_events WHERE order_id = {order} AND kind = '{kind}' ORDER BY id"
    );
    match db.kind {
        Kind::Sqlite => {
            let mut c = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("connect");
            sqlx::query_scalar(&sql)
                .fetch_all(&mut c)
                .await
                .expect("events")
        }
        Kind::Postgres => {
            let mut c = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
                .await
                .expect("connect");
            sqlx::query_scalar(&sql)
                .fetch_all(&mut c)
                .await
                .expect("events")
        }
    }
}

async fn stuck(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.operator(Method::GET, "/orders/stuck", None).await;
    assert_eq!(status, 200, "{body}");
    body["orders"].as_array().expect("orders").clone()
}

async fn set_enabled(app: &TestApp, provider: &str, enabled: bool) {
    let (status, body) = app
        .operator(
            Method::PATCH,
            &format!("/providers/{provider}"),
            Some(json!({ "enabled": enabled })),
        )
        .await;
    assert_eq!((status, body["enabled"].clone()), (200, json!(enabled)));
}

/// What the buyer sees: (status, charge).
async fn seen(app: &TestApp, key: &str, order: i64) -> (Value, Value) {
    let v = app
        .call(&[
            ("key", key),
            ("action", "status"),
            ("order", &order.to_string()),
        ])
        .await;
    (v["status"].clone(), v["charge"].clone())
}

engine_test!(key_conflict_answers_park_the_order_without_refund, |db| {
    // Stepped: the test runs the forwarder and the status sync itself.
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    // The parked send jobs are the point: each waits for the operator.
    app.expect_failed_jobs();
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::Hstock, true, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, true, 15_000).await;
    // What Souk answers when our key is taken by another request, or still being placed.
    let answers = [
        "Idempotency key was used for a different order",
        "Too many orders at once, try again",
    ];
    let mut parked = Vec::new();
    for answer in answers {
        fake.fail_next_add(Fault::ApiError(answer.into()));
        let id = order(&app, &key, numbers[0], "1000").await;
        assert_eq!(app.run_forwarding().await, 1, "the send");
        assert_eq!(forward_state(db, id).await, "unknown");
        parked.push(id);
    }
    // Hours pass, the forwarder and the status sync run each hour: neither is sent again
    // nor refunded (a refusal was, after three tries).
    for _ in 0..3 {
        app.clock.advance(3_600_000);
        assert_eq!(app.run_forwarding().await, 0, "nothing is due to send");
        app.run_status_sync().await;
    }
    assert_eq!(fake.add_requests(), 2);
    for o in &parked {
        assert_eq!(
            seen(&app, &key, *o).await,
            (json!("In progress"), json!("1.08"))
        );
        assert_eq!(refunds(db, *o).await, 0);
    }
    let listed = stuck(&app).await;
    let errors: Vec<(i64, String)> = listed
        .iter()
        .map(|o| {
            (
                o["order"].as_i64().expect("id"),
                o["lastError"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(errors.len(), 2, "{listed:?}");
    for ((o, error), (want, answer)) in errors.iter().zip(parked.iter().zip(answers)) {
        assert_eq!(o, want);
        assert_eq!(
            error,
            &format!("upstream answered {answer:?} for our idempotency key; it may hold the order")
        );
    }
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(a_souk_upstream_refusing_our_key_parks_the_order, |db| {
    // B: a real Souk on its own database, where the key A will use is already taken.
    let db_b = match db.kind {
        Kind::Sqlite => TestDb::sqlite().await,
        Kind::Postgres => TestDb::postgres().await.expect("PostgreSQL"),
    };
    let f = fixtures::load(&db_b.store().await).await;
    let b = TestApp::spawn(&db_b).await;
    let a_at_b = b.buyer("shop-a@b.test", "100").await;
    let a = TestApp::spawn_with(db, private_upstreams()).await;
    let (s, provider) = a
        .operator(
            Method::POST,
            "/providers",
            Some(
                json!({"name": "Souk B", "url": b.api(), "key": a_at_b, "timeoutMs": 5000,
                        "requestsPerSecond": 0, "supportsIdempotency": true}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{provider}");
    let provider = provider["id"].as_str().expect("id").to_owned();
    let (s, imported) = a
        .operator(Method::POST, &format!("/providers/{provider}/import"), None)
        .await;
    assert_eq!(s, 200, "{imported}");
    let followers = db
        .scalar(&format!(
            "SELECT number FROM services WHERE provider_service = '{}'",
            f.ig_followers
        ))
        .await;
    // The order waits while the provider is off, so its key is known before it is sent.
    set_enabled(&a, &provider, false).await;
    // The send job parked for the operator is the point of the test.
    a.expect_failed_jobs();
    let buyer = a.buyer("buyer@a.test", "50").await;
    let id = order(&a, &buyer, followers, "1000").await;
    wait_for(10, "a claim of the disabled provider", || async {
        db.scalar(&format!(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'order.forward' AND dedupe_key = '{id}' \
             AND last_error = 'provider disabled'"
        ))
        .await
            == 1
    })
    .await;
    let installation = a
        .store
        .installation_id(a.state.now())
        .await
        .expect("installation");
    let taken = b
        .http
        .post(b.api())
        .header("Idempotency-Key", format!("souk-{installation}-{id}"))
        .form(&[
            ("key", a_at_b.as_str()),
            ("action", "add"),
            ("service", &f.ig_followers.to_string()),
            ("link", "https://instagram.com/someone-else"),
            ("quantity", "500"),
        ])
        .send()
        .await
        .expect("send")
        .json::<Value>()
        .await
        .expect("json");
    assert!(taken["order"].is_i64(), "{taken}");
    set_enabled(&a, &provider, true).await;
    a.clock.advance(61_000);
    wait_for(10, "the send", || async {
        forward_state(db, id).await == "unknown"
    })
    .await;
    // B placed nothing more; A neither refunded nor counted the claims that never sent.
    assert_eq!(db_b.scalar("SELECT COUNT(*) FROM orders").await, 1);
    assert_eq!(
        seen(&a, &buyer, id).await,
        (json!("In progress"), json!("0.50"))
    );
    assert_eq!(refunds(db, id).await, 0);
    assert_eq!(order_job(db, "order.forward", id, "sends").await, 1);
    let listed = stuck(&a).await;
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0]["lastError"],
        "upstream answered \"Idempotency key was used for a different order\" for our idempotency key; it may hold the order"
    );
    db.assert_audit_clean().await;
    a.stop().await;
    b.stop().await;
    db_b.cleanup().await;
});

engine_test!(
    same_key_resends_stop_before_the_upstream_forgets_the_key,
    |db| {
        let app = TestApp::spawn_with(db, private_upstreams()).await;
        // Parked send jobs are the point of the test.
        app.expect_failed_jobs();
        let key = app.buyer("buyer@test.local", "100").await;
        let fake = FakeUpstream::start(Shape::Hstock, true, panel_services()).await;
        let (_, numbers) = connect(&app, &fake, true, 3_000).await;
        let provider = fake_provider_id(db).await;
        // The send times out after the upstream took the order: a resend with the same key is
        // due in 5 s, but the clock jumps a day first.
        fake.fail_next_add(Fault::TimeoutAfterCreate(Duration::from_secs(10)));
        let late = order(&app, &key, numbers[0], "1000").await;
        // One read of both columns: two reads could see `queued` before the send and the
        // attempt after it, and the clock would jump while the send is in flight.
        wait_for(10, "the timed-out send", || async {
            db.scalar(&format!(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'order.forward' AND dedupe_key = '{late}' \
                 AND state = 'ready' AND locked_by IS NULL \
                 AND (payload LIKE '%\"sends\":1,%' OR payload LIKE '%\"sends\":1}}')"
            ))
            .await
                == 1
        })
        .await;
        app.clock.advance(souk_store::RESEND_WINDOW_MS + 60_000);
        wait_for(10, "the order to be parked", || async {
            forward_state(db, late).await == "unknown"
        })
        .await;
        assert_eq!(fake.add_requests(), 1);
        assert_eq!(fake.orders().len(), 1);
        assert_eq!(refunds(db, late).await, 0);
        assert_eq!(
        stuck(&app).await[0]["lastError"],
        "an earlier send had an unknown outcome and the upstream may have forgotten its idempotency key; not resent"
    );

        // Sends cut off by a node that died: resent with the key while it is young, parked
        // once it is too old.
        set_enabled(&app, &provider, false).await;
        let young = order(&app, &key, numbers[0], "1000").await;
        let old = order(&app, &key, numbers[0], "1000").await;
        for o in [young, old] {
            wait_for(10, "a claim of the disabled provider", || async {
                db.scalar(&format!(
                "SELECT COUNT(*) FROM jobs WHERE kind = 'order.forward' AND dedupe_key = '{o}' \
                 AND last_error = 'provider disabled'"
            ))
                .await
                    == 1
            })
            .await;
        }
        let now = app.state.now();
        for (o, started) in [(young, now - 2 * 3_600_000), (old, now - 24 * 3_600_000)] {
            db.exec(&format!(
                "UPDATE orders SET sent_at = {started} WHERE id = {o}"
            ))
            .await;
            db.exec(&format!(
                "UPDATE jobs SET locked_by = 'dead-node', locked_until = {0}, run_at = {0} \
                 WHERE kind = 'order.forward' AND dedupe_key = '{o}'",
                now - 1
            ))
            .await;
        }
        set_enabled(&app, &provider, true).await;
        app.clock.advance(10_000);
        wait_for(10, "the young send to be resent", || async {
            forward_state(db, young).await == "sent"
        })
        .await;
        wait_for(10, "the old send to be parked", || async {
            forward_state(db, old).await == "unknown"
        })
        .await;
        assert_eq!(fake.add_requests(), 2);
        let keys: Vec<Option<String>> = fake
            .orders()
            .iter()
            .map(|o| o.idempotency_key.clone())
            .collect();
        assert_eq!(keys.len(), 2);
        assert!(
            keys[1]
                .as_deref()
                .is_some_and(|k| k.ends_with(&format!("-{young}"))),
            "{keys:?}"
        );
        assert_eq!((refunds(db, young).await, refunds(db, old).await), (0, 0));
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(a_stopping_node_gives_its_unsent_claims_back, |db| {
    let app = TestApp::spawn_with(db, private_upstreams()).await;
    let fake = FakeUpstream::start(Shape::Hstock, false, panel_services()).await;
    // Not idempotent: a send whose lease ran out would be parked as `unknown`.
    let (_, numbers) = connect(&app, &fake, false, 5_000).await;
    app.stop().await;
    place_bulk(db, numbers[0], 100).await;
    // A slow upstream: the node claims a batch of 64 but has only 16 in flight at once.
    fake.slow_adds(Duration::from_millis(1500));
    let node = ServerProcess::spawn(db).await;
    wait_for(30, "the first sends in flight", || async {
        fake.add_requests() >= 16
    })
    .await;
    let stopping = std::time::Instant::now();
    node.stop();
    assert!(
        stopping.elapsed() < Duration::from_secs(15),
        "stopping took {:?}",
        stopping.elapsed()
    );
    // The sends in flight finished; every other order is back in the queue, unsent.
    let sent = db
        .scalar("SELECT COUNT(*) FROM orders WHERE external_id IS NOT NULL")
        .await;
    assert_eq!(sent as usize, fake.orders().len());
    assert_eq!(sent as usize, fake.add_requests());
    assert!((16..100).contains(&sent), "{sent} sent");
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM orders o WHERE o.external_id IS NULL AND NOT EXISTS \
             (SELECT 1 FROM jobs j WHERE j.kind = 'order.forward' AND j.dedupe_key = CAST(o.id AS TEXT) \
              AND j.state = 'ready')"
        )
        .await,
        0
    );
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM jobs WHERE kind = 'order.forward' AND state = 'ready' \
             AND locked_by IS NULL AND locked_until IS NULL AND payload NOT LIKE '%sends%'"
        )
        .await,
        100 - sent
    );
    // Everything it held is free for the next node at once.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM jobs WHERE locked_by IS NOT NULL")
            .await,
        0
    );
    // Another node sends the rest: each order reaches the upstream once.
    fake.slow_adds(Duration::ZERO);
    let node = ServerProcess::spawn(db).await;
    wait_for(60, "every order sent", || async {
        db.scalar("SELECT COUNT(*) FROM orders WHERE external_id IS NOT NULL")
            .await
            == 100
    })
    .await;
    node.stop();
    let keys: std::collections::HashSet<Option<String>> = fake
        .orders()
        .iter()
        .map(|o| o.idempotency_key.clone())
        .collect();
    assert_eq!(
        (fake.orders().len(), keys.len(), fake.add_requests()),
        (100, 100, 100)
    );
    db.assert_audit_clean().await;
});

engine_test!(claims_that_never_sent_are_not_attempts, |db| {
    let app = TestApp::spawn_with(db, private_upstreams()).await;
    // While the provider's address points nowhere, its balance sync may run and fail.
    app.expect_failed_jobs();
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (provider, numbers) = connect(&app, &fake, false, 15_000).await;
    set_enabled(&app, &provider, false).await;
    let id = order(&app, &key, numbers[0], "1000").await;
    // Claimed and put back five times while the provider is off.
    for _ in 0..5 {
        wait_for(30, "a claim of the disabled provider", || async {
            order_job(db, "order.forward", id, "run_at").await > app.state.now()
                && forward_state(db, id).await == "queued"
        })
        .await;
        app.clock.advance(61_000);
    }
    assert_eq!(
        (
            order_job(db, "order.forward", id, "sends").await,
            order_job(db, "order.forward", id, "refusals").await
        ),
        (0, 0)
    );
    // Back on, it refuses once: one refusal of three, retried later, not refunded.
    set_enabled(&app, &provider, true).await;
    fake.fail_next_add(Fault::ApiError("Not enough funds on balance".into()));
    app.clock.advance(61_000);
    wait_for(30, "the refused send", || async {
        order_job(db, "order.forward", id, "sends").await == 1
            && forward_state(db, id).await == "queued"
    })
    .await;
    assert_eq!(order_job(db, "order.forward", id, "refusals").await, 1);
    assert_eq!(refunds(db, id).await, 0);
    // A connection error is one attempt, not the end either.
    set_provider_url(&app, &provider, "http://127.0.0.1:9/api/v2").await;
    app.clock.advance(3_600_000);
    wait_for(30, "the failed connection", || async {
        order_job(db, "order.forward", id, "sends").await == 2
            && forward_state(db, id).await == "queued"
    })
    .await;
    let refusals_before_send = order_job(db, "order.forward", id, "refusals").await;
    set_provider_url(&app, &provider, &fake.url).await;
    app.clock.advance(3_600_000);
    wait_for(30, "the send", || async {
        forward_state(db, id).await == "sent"
    })
    .await;
    // The send job is done; the order's events keep the count of sends.
    assert_eq!(
        (
            order_events(db, id, "forwarded").await,
            refunds(db, id).await
        ),
        (
            vec![format!("upstream order {} (send 3)", fake.orders()[0].id)],
            0
        )
    );
    assert_eq!(refusals_before_send, 1);
    assert_eq!((fake.add_requests(), fake.orders().len()), (2, 1));
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(
    orders_the_upstream_forgot_are_parked_not_polled_forever,
    |db| {
        // Stepped: the test runs the forwarder and every status poll itself.
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        let key = app.buyer("buyer@test.local", "100").await;
        let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
        let (_, numbers) = connect(&app, &fake, false, 15_000).await;
        let id = order(&app, &key, numbers[0], "1000").await;
        assert_eq!(app.run_forwarding().await, 1, "the send");
        assert_eq!(forward_state(db, id).await, "sent");
        let upstream = fake.orders()[0].id;
        // The upstream stops knowing it: `Incorrect order ID` at every poll.
        fake.forget(upstream);
        let sync_round = || async {
            app.clock.advance(60_000);
            app.run_status_sync().await;
        };
        let mut rounds = 0;
        while forward_state(db, id).await != "unknown" {
            rounds += 1;
            assert!(
                rounds <= souk_store::MAX_STATUS_MISSES,
                "not parked after {rounds} polls"
            );
            sync_round().await;
        }
        assert_eq!(rounds, souk_store::MAX_STATUS_MISSES);
        assert_eq!(
            order_job(db, "order.status", id, "attempts").await,
            souk_store::MAX_STATUS_MISSES
        );
        let polls = fake
            .state
            .status_requests
            .load(std::sync::atomic::Ordering::SeqCst);
        // More rounds of the sync, each a minute later: none polls it.
        for _ in 0..5 {
            sync_round().await;
        }
        assert_eq!(
            fake.state
                .status_requests
                .load(std::sync::atomic::Ordering::SeqCst),
            polls,
            "a parked order is not polled"
        );
        assert_eq!(
            seen(&app, &key, id).await,
            (json!("In progress"), json!("1.08"))
        );
        assert_eq!(refunds(db, id).await, 0);
        let listed = stuck(&app).await;
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (
                listed[0]["order"].clone(),
                listed[0]["externalId"].clone(),
                listed[0]["forwardState"].clone(),
                listed[0]["lastError"].clone()
            ),
            (
                json!(id),
                json!(upstream.to_string()),
                json!("unknown"),
                json!("the upstream did not know the order in 10 status checks in a row")
            )
        );
        // The operator finds it upstream under another id: polling goes on from there.
        fake.state.orders.lock().expect("lock").push(FakeOrder {
            id: 5000,
            service: "11".into(),
            link: "https://instagram.com/p/x".into(),
            quantity: 1000,
            idempotency_key: None,
            fields: Default::default(),
            status: "Pending".into(),
            start_count: 0,
            remains: 1000,
            accounts: Vec::new(),
            posts: None,
            children: Vec::new(),
        });
        let (s, body) = app
            .operator(
                Method::POST,
                &format!("/orders/{id}/resolve"),
                Some(json!({"action": "sent", "externalId": "5000"})),
            )
            .await;
        assert_eq!(s, 200, "{body}");
        fake.set_status(5000, "Completed", 0, 7);
        sync_round().await;
        assert_eq!(seen(&app, &key, id).await.0, "Completed", "the completion");
        assert_eq!(order_job(db, "order.status", id, "attempts").await, 0);
        assert!(stuck(&app).await.is_empty());
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

// Every Idempotency-Key is `souk-{installation}-{order}`. A forwarder that could not
// read the installation id once sent `souk--{order}`, and the resend's different key let
// an idempotent upstream place the order twice: now no worker starts without it.
engine_test!(workers_start_only_with_the_installation_id, |db| {
    let store = db.store().await;
    let clock = std::sync::Arc::new(souk_core::clock::ShiftedClock::default());
    db.exec("ALTER TABLE settings RENAME TO settings_away")
        .await;
    let refused = souk::server::worker_context(store.clone(), clock.clone()).await;
    assert!(
        refused.is_err(),
        "workers started without the installation id"
    );
    db.exec("ALTER TABLE settings_away RENAME TO settings")
        .await;
    let ctx = souk::server::worker_context(store.clone(), clock)
        .await
        .expect("workers");
    let recorded = store.installation_id(0).await.expect("installation id");
    assert_eq!(ctx.installation_id, recorded);
    assert!(!recorded.is_empty());
    store.close().await;
});

// An order stays with the provider it was sent to. Status sync once joined the service's
// current provider, so re-pointing a service polled the new panel for the old one's
// orders, which never settled.
engine_test!(orders_stay_with_the_provider_they_were_sent_to, |db| {
    use std::sync::atomic::Ordering;

    let app = TestApp::spawn_with(db, private_upstreams()).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let first = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &first, false, 15_000).await;
    let sent = order(&app, &key, numbers[0], "1000").await;
    wait_for(10, "the first send", || async {
        forward_state(db, sent).await == "sent"
    })
    .await;
    // The operator re-points the service at another panel.
    let second = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (status, provider) = app
        .operator(
            Method::POST,
            "/providers",
            Some(json!({"name": "Second Panel", "url": second.url, "key": "upstream-key", "requestsPerSecond": 0})),
        )
        .await;
    assert_eq!(status, 201, "{provider}");
    let second_id = provider["id"].as_str().expect("id");
    db.exec(&format!(
        "UPDATE services SET provider_id = '{second_id}' WHERE number = {}",
        numbers[0]
    ))
    .await;
    // The first panel completes the order: the sync asks the first panel for it.
    let external = first.orders()[0].id;
    first.set_status(external, "Completed", 0, 100);
    wait_for(10, "the completion from the first panel", || async {
        seen(&app, &key, sent).await.0 == "Completed"
    })
    .await;
    assert_eq!(second.state.status_requests.load(Ordering::SeqCst), 0);
    // New orders go to the second panel.
    let next = order(&app, &key, numbers[0], "1000").await;
    wait_for(10, "the second send", || async {
        forward_state(db, next).await == "sent"
    })
    .await;
    assert_eq!((first.orders().len(), second.orders().len()), (1, 1));
    app.stop().await;
    db.assert_audit_clean().await;
});

// Calls to a provider share one connection pool. A client was built per forwarded order
// (and per refill), so every order opened a connection of its own.
engine_test!(sends_to_a_provider_reuse_connections, |db| {
    let app = TestApp::spawn_with(db, private_upstreams()).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 15_000).await;
    for _ in 0..8 {
        let id = order(&app, &key, numbers[0], "1000").await;
        wait_for(10, "the send", || async {
            forward_state(db, id).await == "sent"
        })
        .await;
    }
    assert_eq!(fake.orders().len(), 8);
    // The import's calls and eight sends, one after another: one connection, two if
    // the pool dropped an idle one meanwhile.
    assert!(
        fake.connections() <= 2,
        "{} connections",
        fake.connections()
    );
    app.stop().await;
});

// One order whose upstream answer cannot be settled (its refund cannot be booked: the
// ledger refuses it) fails alone: the other 99 of its status batch settle, and it shows
// its error, then is parked for the operator. It once rolled back the whole batch at
// every poll, so its provider's sync never moved again.
engine_test!(a_poisoned_order_settles_alone, |db| {
    let app = TestApp::spawn_with(db, private_upstreams()).await;
    // The poisoned order's status job keeps its error: the point of the test.
    app.expect_failed_jobs();
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 15_000).await;
    place_bulk(db, numbers[0], 100).await;
    wait_for(30, "all 100 sends", || async {
        db.scalar("SELECT COUNT(*) FROM orders WHERE external_id IS NOT NULL")
            .await
            == 100
    })
    .await;
    let poisoned = db
        .scalar("SELECT id FROM orders ORDER BY id LIMIT 1 OFFSET 49")
        .await;
    match db.kind {
        Kind::Sqlite => {
            db.exec(&format!(
                "CREATE TRIGGER poison BEFORE INSERT ON ledger WHEN NEW.order_id = {poisoned} \
                 BEGIN SELECT RAISE(ABORT, 'the ledger refuses this refund'); END"
            ))
            .await
        }
        Kind::Postgres => {
            db.exec(&format!(
                "CREATE FUNCTION poison() RETURNS trigger AS $$ BEGIN \
                 IF NEW.order_id = {poisoned} THEN RAISE EXCEPTION 'the ledger refuses this refund'; END IF; \
                 RETURN NEW; END $$ LANGUAGE plpgsql; \
                 CREATE TRIGGER poison BEFORE INSERT ON ledger FOR EACH ROW EXECUTE FUNCTION poison()"
            ))
            .await
        }
    }
    // The upstream ends every order partly done: each is refunded 40 of its 100.
    for o in fake.orders() {
        fake.set_status(o.id, "Partial", 40, 0);
    }
    wait_for(30, "the 99 others to settle", || async {
        db.scalar("SELECT COUNT(*) FROM orders WHERE status = 'partial'")
            .await
            == 99
    })
    .await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'")
            .await,
        99
    );
    // The poisoned one waits with its error, and after ten failed polls is parked.
    wait_for(30, "the poisoned order parked", || async {
        stuck(&app).await.iter().any(|o| o["order"] == poisoned)
    })
    .await;
    let parked = stuck(&app).await;
    let entry = parked
        .iter()
        .find(|o| o["order"] == poisoned)
        .expect("parked");
    let error = entry["lastError"].as_str().expect("error");
    assert!(
        error.contains("settling the upstream's answer failed") && error.contains("refuses"),
        "{entry}"
    );
    app.stop().await;
    db.assert_audit_clean().await;
});
