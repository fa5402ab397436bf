//! Crashes between recording upstream work and sending it: a `souk serve` process is
//! stopped for good at a pause point (`SOUK_PAUSE_AT`, after the work is on record and
//! before the call), killed with SIGKILL, and a new node on the same database sends the
//! work exactly once: the fake upstream counts one request.

use std::time::Duration;

use serde_json::json;

use crate::engine_test;
use crate::fake_upstream::{FakeUpstream, Shape};
use crate::harness::{private_upstreams, wait_for, ServerProcess, TestApp, TestDb};
use crate::providers::{connect, forward_state, order, panel_services};

/// A node process that stops for good at `point`, with no background work of its own
/// unless `workers`.
async fn paused_node(db: &TestDb, point: &str, workers: bool) -> ServerProcess {
    let mut env = vec![("SOUK_PAUSE_AT", point)];
    if !workers {
        env.push(("SOUK_WORKERS", "0"));
    }
    ServerProcess::spawn_with_env(db, &env).await
}

/// Sends an `/api/v2` request that will never be answered (its node pauses in it).
fn call_in_background(url: String, params: Vec<(&'static str, String)>) {
    tokio::spawn(async move {
        let _ = reqwest::Client::new()
            .post(url)
            .form(&params)
            .timeout(Duration::from_secs(60))
            .send()
            .await;
    });
}

/// A stepped node with a buyer (100 to spend) and `fake` imported as a provider: the
/// node, the buyer's key, the provider's id and its services' numbers.
async fn connected_node(
    db: &TestDb,
    fake: &FakeUpstream,
    idempotent: bool,
) -> (TestApp, String, String, Vec<i64>) {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let (provider, numbers) = connect(&app, fake, idempotent, 2_000).await;
    (app, key, provider, numbers)
}

/// An order for `service` sent to `fake` and completed there: its id and its upstream id.
async fn completed_upstream_order(
    app: &TestApp,
    db: &TestDb,
    fake: &FakeUpstream,
    key: &str,
    service: i64,
) -> (i64, i64) {
    let completed = order(app, key, service, "100").await;
    assert_eq!(app.run_forwarding().await, 1);
    assert_eq!(forward_state(db, completed).await, "sent");
    let upstream = db
        .scalar(&format!(
            "SELECT CAST(external_id AS BIGINT) FROM orders WHERE id = {completed}"
        ))
        .await;
    fake.set_status(upstream, "Completed", 0, 10);
    app.run_status_sync().await;
    assert_eq!(
        app.call(&[
            ("key", key),
            ("action", "status"),
            ("order", &completed.to_string()),
        ])
        .await["status"],
        "Completed"
    );
    (completed, upstream)
}

engine_test!(a_refill_recorded_before_a_crash_is_sent_once, |db| {
    // A completed upstream order with refill, placed and settled on a first node.
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (app, key, _, numbers) = connected_node(db, &fake, false).await;
    let (completed, upstream) = completed_upstream_order(&app, db, &fake, &key, numbers[0]).await;
    app.stop().await;

    // A node that records the refill, then dies before the call.
    let node = paused_node(db, "refill.send", false).await;
    call_in_background(
        node.api(),
        vec![
            ("key", key.clone()),
            ("action", "refill".into()),
            ("order", completed.to_string()),
        ],
    );
    wait_for(10, "the refill and its job on record", || async {
        db.scalar("SELECT COUNT(*) FROM refills").await == 1
            && db
                .scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'refill.send'")
                .await
                == 1
    })
    .await;
    node.kill_hard();
    assert!(fake.state.refills.lock().expect("lock").is_empty());

    // A new node: the dead request's claim holds until it runs out, then the queue
    // sends the refill, once.
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let refill_jobs = "SELECT COUNT(*) FROM jobs WHERE kind = 'refill.send'";
    app.run_jobs().await;
    assert!(fake.state.refills.lock().expect("lock").is_empty());
    assert_eq!(db.scalar(refill_jobs).await, 1);
    app.clock.advance(5 * 60_000);
    app.run_jobs().await;
    assert_eq!(
        fake.state.refills.lock().expect("lock").as_slice(),
        &[upstream]
    );
    assert_eq!(db.scalar(refill_jobs).await, 0);
    app.clock.advance(24 * 3_600_000);
    app.run_jobs().await;
    assert_eq!(fake.state.refills.lock().expect("lock").len(), 1);
    // The buyer's refill is the one that was sent.
    let refill = db.scalar("SELECT id FROM refills").await;
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "refill_status"),
            ("refill", &refill.to_string())
        ])
        .await,
        json!({"status": "Completed"})
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

/// Places an order on `node` for the fake's first service and waits until the paused
/// forwarder holds it in `state`.
async fn order_paused_in(
    db: &TestDb,
    node: &ServerProcess,
    key: &str,
    service: i64,
    state: &str,
) -> i64 {
    let v: serde_json::Value = reqwest::Client::new()
        .post(node.api())
        .form(&[
            ("key", key),
            ("action", "add"),
            ("service", &service.to_string()),
            ("link", "https://instagram.com/p/x"),
            ("quantity", "100"),
        ])
        .send()
        .await
        .expect("add")
        .json()
        .await
        .expect("json");
    let id = v["order"].as_i64().unwrap_or_else(|| panic!("{v}"));
    wait_for(10, "the forwarder to pause", || async {
        forward_state(db, id).await == state
            && db
                .scalar(&format!(
                    "SELECT COUNT(*) FROM jobs WHERE kind = 'order.forward' AND dedupe_key = '{id}' \
                     AND locked_by IS NOT NULL"
                ))
                .await
                == 1
    })
    .await;
    id
}

/// An order placed on a node that stops at `point` holding it in `state`, killed there:
/// a new node sends it once the dead node's claim or lease runs out (two minutes), and
/// not again an hour later. The fake's one order.
async fn forward_killed_at(
    db: &TestDb,
    point: &str,
    state: &str,
    idempotent: bool,
) -> (i64, crate::fake_upstream::FakeOrder) {
    let fake = FakeUpstream::start(Shape::PerfectPanel, idempotent, panel_services()).await;
    let (app, key, _, numbers) = connected_node(db, &fake, idempotent).await;
    app.stop().await;
    let node = paused_node(db, point, true).await;
    let id = order_paused_in(db, &node, &key, numbers[0], state).await;
    node.kill_hard();
    assert_eq!(fake.add_requests(), 0);

    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    assert_eq!(app.run_forwarding().await, 0);
    app.clock.advance(3 * 60_000);
    assert_eq!(app.run_forwarding().await, 1);
    assert_eq!(forward_state(db, id).await, "sent");
    app.clock.advance(3_600_000);
    assert_eq!(app.run_forwarding().await, 0);
    assert_eq!(fake.add_requests(), 1);
    let mut orders = fake.orders();
    assert_eq!(orders.len(), 1);
    db.assert_audit_clean().await;
    app.stop().await;
    (id, orders.remove(0))
}

engine_test!(an_order_claimed_before_a_crash_is_sent_once, |db| {
    // Killed after the claim, before the send began: any provider gets it once.
    forward_killed_at(db, "forward.send", "queued", false).await;
});

engine_test!(
    an_order_killed_mid_send_is_resent_once_under_its_key,
    |db| {
        // Killed after the send began, before the request left: an upstream that honours
        // idempotency keys gets it again (the send's lease, twice the timeout and 30 s,
        // at least two minutes, having run out) under the same key, once.
        let (id, sent) = forward_killed_at(db, "forward.call", "sending", true).await;
        assert!(sent
            .idempotency_key
            .as_deref()
            .is_some_and(|k| k.ends_with(&format!("-{id}"))));
    }
);

engine_test!(an_sms_rental_recorded_before_a_crash_is_rented_once, |db| {
    use crate::sms::balance;
    use crate::sms_activate::{allow_private, spawn_fake, upstream_setup};
    // Germany has no pool number: a rental there goes to the fake provider.
    let (url, fake) = spawn_fake().await;
    let app = TestApp::spawn_stepped(db, allow_private()).await;
    upstream_setup(&app, &url).await;
    let key = app.buyer("buyer@test.local", "10").await;
    app.stop().await;

    // A node that records the rental, then dies before asking the provider.
    let node = paused_node(db, "sms.rent", false).await;
    call_in_background(
        node.api(),
        vec![
            ("key", key.clone()),
            ("action", "add_sms".into()),
            ("project_id", "tg".into()),
            ("country", "de".into()),
        ],
    );
    let rent_jobs = "SELECT COUNT(*) FROM jobs WHERE kind = 'sms.rent'";
    wait_for(10, "the rental on record", || async {
        db.scalar(rent_jobs).await == 1
    })
    .await;
    node.kill_hard();
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());

    // A new node takes the rental over once the request's claim runs out, and rents the
    // number once; the buyer pays for it once.
    let app = TestApp::spawn_stepped(db, allow_private()).await;
    app.run_jobs().await;
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    app.clock.advance(10 * 60_000);
    app.run_jobs().await;
    assert_eq!(fake.calls(), vec!["getNumber tg 43"]);
    assert_eq!(db.scalar(rent_jobs).await, 0);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM sms_activations WHERE external_id = '9001' AND status = 'active'"
        )
        .await,
        1
    );
    assert_eq!(balance(&app, &key).await, "9.20");
    app.clock.advance(60_000);
    app.run_jobs().await;
    assert_eq!(fake.calls(), vec!["getNumber tg 43"]);
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(calls_made_in_requests_keep_the_providers_pace, |db| {
    // A provider that takes 2 requests a second: three refills asked in one request go
    // out half a second apart, not all at once.
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (app, key, provider, numbers) = connected_node(db, &fake, false).await;
    let (completed, _) = completed_upstream_order(&app, db, &fake, &key, numbers[0]).await;
    let (s, v) = app
        .operator(
            reqwest::Method::PATCH,
            &format!("/providers/{provider}"),
            Some(json!({"requestsPerSecond": 2})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let id = completed.to_string();
    let refills = app
        .call(&[
            ("key", &key),
            ("action", "refill"),
            ("orders", &format!("{id},{id},{id}")),
        ])
        .await;
    assert!(
        refills
            .as_array()
            .is_some_and(|r| r.iter().all(|r| r["refill"].as_i64().is_some())),
        "{refills}"
    );
    let times = fake.state.refill_times.lock().expect("lock").clone();
    assert_eq!(times.len(), 3);
    let mut times = times;
    times.sort();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(gap >= Duration::from_millis(450), "{gap:?} between refills");
    }
    db.assert_audit_clean().await;
    app.stop().await;
});
