//! The durable job queue, stepped by hand on a node without background work: periodic
//! work reschedules itself, a failure is retried with backoff and parked after its last
//! try with its error for the operator, and the operator sends it round again.

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{smm_service, FakeUpstream, Shape};
use crate::harness::{private_upstreams, TestApp};
use crate::providers::{connect, panel_services, set_provider_url};

const MINUTE: i64 = 60_000;

async fn jobs(app: &TestApp, state: &str) -> Vec<Value> {
    let (status, body) = app
        .operator(Method::GET, &format!("/jobs?state={state}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["jobs"].as_array().expect("jobs").clone()
}

engine_test!(the_catalogue_sync_is_a_job_that_retries_then_parks, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (provider, numbers) = connect(&app, &fake, false, 2_000).await;
    souk_workers::jobs::ensure_periodic_jobs(&app.workers)
        .await
        .expect("enqueue");
    let ready = jobs(&app, "ready").await;
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(
        (ready[0]["kind"].clone(), ready[0]["payload"].clone()),
        (json!("provider.sync"), json!({ "provider": provider }))
    );
    // Nothing is due yet; the same enqueue again adds nothing.
    assert_eq!(app.run_jobs().await.ran(), 0);
    souk_workers::jobs::ensure_periodic_jobs(&app.workers)
        .await
        .expect("enqueue");
    assert_eq!(jobs(&app, "ready").await.len(), 1);

    // A quarter of an hour later the sync runs, brings the new price in, and is due
    // again a quarter of an hour after that.
    let mut services = panel_services();
    services[0] = smm_service(
        "11",
        "IG Followers HQ",
        "Instagram",
        "1.80",
        (10, 100000),
        true,
        false,
    );
    fake.set_services(services);
    app.clock.advance(15 * MINUTE);
    let report = app.run_jobs().await;
    assert_eq!((report.again, report.ran()), (1, 1), "{report:?}");
    let rate = db
        .scalar(&format!(
            "SELECT rate FROM services WHERE number = {}",
            numbers[0]
        ))
        .await;
    assert_eq!(rate, 2_160_000, "1.80 with 20 %");
    assert_eq!(app.run_jobs().await.ran(), 0);

    // The provider goes away: each try fails and waits longer (5 s, 10 s, 20 s ...);
    // the tenth is the last, and the job is parked with its error.
    set_provider_url(&app, &provider, "http://127.0.0.1:9/api/v2").await;
    app.clock.advance(15 * MINUTE);
    let mut tries = 0;
    let mut parked = 0;
    while parked == 0 {
        let report = app.run_jobs().await;
        tries += report.ran();
        parked += report.parked;
        assert!(tries <= 10, "still not parked after {tries} tries");
        app.clock.advance(60 * MINUTE);
    }
    assert_eq!(tries, 10);
    assert!(jobs(&app, "ready").await.is_empty());
    let parked = jobs(&app, "parked").await;
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0]["attempts"], 10);
    let error = parked[0]["lastError"].as_str().expect("error");
    assert!(error.contains("request not sent"), "{error}");
    // Parked means parked: time passing runs nothing.
    app.clock.advance(24 * 60 * MINUTE);
    assert_eq!(app.run_jobs().await.ran(), 0);

    // The operator fixes the URL and sends the job round again.
    set_provider_url(&app, &provider, &fake.url).await;
    let id = parked[0]["id"].as_i64().expect("id");
    let (status, body) = app
        .operator(Method::POST, &format!("/jobs/{id}/retry"), None)
        .await;
    assert_eq!((status, body), (200, json!({"job": id, "state": "ready"})));
    let (status, _) = app
        .operator(Method::POST, &format!("/jobs/{id}/retry"), None)
        .await;
    assert_eq!(status, 404, "only a parked job is retried");
    let report = app.run_jobs().await;
    assert_eq!((report.again, report.ran()), (1, 1), "{report:?}");
    assert!(jobs(&app, "parked").await.is_empty());
    app.stop().await;
});

/// Parks a job of a kind no node knows (parked at its first try) on a stepped node.
async fn park_one(app: &TestApp) {
    use souk_core::clock::Clock;
    let now = app.clock.now_ms();
    app.store
        .enqueue_job(
            &souk_store::NewJob {
                kind: "no.such.kind".into(),
                payload: "{}".into(),
                dedupe_key: None,
                run_at: now,
                max_attempts: 3,
                held_by: None,
            },
            now,
        )
        .await
        .expect("enqueue");
    assert_eq!(app.run_jobs().await.parked, 1);
}

// The harness itself: a job that failed unnoticed fails the test at `stop`.
engine_test!(a_parked_job_fails_the_test_unless_expected, |db| {
    let app = TestApp::builder(db).spawn().await;
    park_one(&app).await;
    let stopped = tokio::spawn(app.stop()).await;
    let panic = stopped
        .expect_err("stop let a parked job pass")
        .into_panic();
    let message = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        message.contains("jobs failed unnoticed") && message.contains("no.such.kind"),
        "{message}"
    );

    // Dropped without `stop`, it is checked all the same.
    let app = TestApp::builder(db).spawn().await;
    let dropped = tokio::spawn(async move { drop(app) }).await;
    assert!(dropped.is_err_and(|e| e.is_panic()), "the drop check");

    // Said beforehand, it passes.
    let app = TestApp::builder(db).spawn().await;
    app.expect_failed_jobs();
    app.stop().await;
});

engine_test!(
    status_sync_is_a_job_while_the_upstream_holds_the_order,
    |db| {
        use crate::providers::order;
        use std::sync::atomic::Ordering;
        let app = TestApp::spawn_stepped(db, private_upstreams()).await;
        let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
        let key = app.buyer("buyer@test.local", "100").await;
        let (_, numbers) = connect(&app, &fake, false, 2_000).await;
        let status_jobs = || async {
            jobs(&app, "ready")
                .await
                .into_iter()
                .filter(|j| j["kind"] == "order.status")
                .collect::<Vec<Value>>()
        };
        // No order there, no job.
        assert!(status_jobs().await.is_empty());
        // The order marked sent brings its status job, in the same transaction.
        let o = order(&app, &key, numbers[0], "100").await;
        assert_eq!(app.run_forwarding().await, 1);
        let listed = status_jobs().await;
        assert_eq!(listed.len(), 1, "{listed:?}");
        assert_eq!(listed[0]["payload"], json!({ "order": o }));
        // Each run polls the open order and comes back a sync interval later; the other
        // lanes of the queue leave it alone.
        let polls = || fake.state.status_requests.load(Ordering::SeqCst);
        assert_eq!(app.run_jobs().await.ran(), 0);
        assert_eq!(app.run_status_sync().await.requests, 1);
        assert_eq!(polls(), 1);
        assert_eq!(app.run_status_sync().await.requests, 0);
        app.clock.advance(MINUTE);
        assert_eq!(app.run_status_sync().await.requests, 1);
        assert_eq!(polls(), 2);
        assert_eq!(status_jobs().await.len(), 1);
        // Once the upstream closes the order, the job ends.
        let upstream = db
            .scalar(&format!(
                "SELECT CAST(external_id AS BIGINT) FROM orders WHERE id = {o}"
            ))
            .await;
        fake.set_status(upstream, "Completed", 0, 10);
        app.clock.advance(MINUTE);
        assert_eq!(app.run_status_sync().await.orders, 1);
        assert!(status_jobs().await.is_empty());
        assert_eq!(
            app.call(&[
                ("key", &key),
                ("action", "status"),
                ("order", &o.to_string())
            ])
            .await["status"],
            "Completed"
        );
        assert_eq!(polls(), 3);
        app.clock.advance(60 * MINUTE);
        assert_eq!(app.run_status_sync().await.requests, 0);
        assert_eq!(polls(), 3);
        db.assert_audit_clean().await;
        app.stop().await;
    }
);
