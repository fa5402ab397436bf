//! Webhooks end to end: endpoints registered over the account and operator APIs, events
//! delivered to a fake receiver that checks the Standard Webhooks signature on its own
//! (`souk_fakes::webhook_receiver`), in order, retried on the schedule, and an endpoint
//! that keeps failing disabled with its owner told.

use reqwest::Method;
use serde_json::{json, Value};
use souk_fakes::webhook_receiver::{Mode, WebhookReceiver};

use crate::engine_test;
use crate::fixtures;
use crate::harness::{private_upstreams, TestApp, ADMIN_TOKEN};

const ACCOUNT: &str = "/api/account/v1";

/// Calls the account API with `key`; answers (status, JSON body or null).
async fn account(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let raw = body.map(|b| b.to_string());
    account_raw(app, key, method, path, raw.as_deref()).await
}

async fn account_raw(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}{ACCOUNT}{path}", app.url))
        .bearer_auth(key);
    if let Some(b) = body {
        request = request
            .header("content-type", "application/json")
            .body(b.to_owned());
    }
    let response = request.send().await.expect("account request");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn user_id(app: &TestApp, key: &str) -> String {
    app.store
        .authenticate(key)
        .await
        .expect("authenticate")
        .expect("a user")
        .user_id
}

/// Registers an endpoint for `receiver` and tells the receiver its secret; answers the
/// endpoint's id.
async fn register(app: &TestApp, key: &str, receiver: &WebhookReceiver, events: Value) -> String {
    let (status, created) = account(
        app,
        key,
        Method::POST,
        "/webhooks",
        Some(json!({"url": receiver.url(), "events": events, "description": "test receiver"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let secret = created["secret"].as_str().expect("secret");
    assert!(secret.starts_with("whsec_"), "{secret}");
    receiver.set_secret(secret);
    created["id"].as_str().expect("id").to_owned()
}

async fn record(app: &TestApp, audience: &str, kind: &str, subject: &str, data: Value) {
    let recorded = app
        .store
        .record_event(audience, kind, subject, &data, app.state.now())
        .await
        .expect("record an event");
    assert!(recorded, "someone listens to {audience}");
}

async fn endpoint(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, v) = account(app, key, Method::GET, &format!("/webhooks/{id}"), None).await;
    assert_eq!(status, 200, "{v}");
    v
}

// Messages arrive signed (the fake checks the signature its own way), as the events were
// recorded, in order; a buyer's order event carries the accounts delivered so far; the
// test ping and a resend arrive too; every attempt is shown to the endpoint's owner.
engine_test!(signed_messages_arrive_in_order_with_their_data, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let key = app.buyer("hooks@test.local", "100").await;
    let buyer = user_id(&app, &key).await;
    let receiver = WebhookReceiver::start().await;
    let id = register(&app, &key, &receiver, json!(["*"])).await;

    let placed = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &f.gmail_usa.to_string()),
            ("quantity", "2"),
        ])
        .await;
    let order = placed["order"].as_i64().expect("order id");
    // Placing it said `order.completed` (main's hooks); an event about the same order
    // recorded when only one line was out carries that one line.
    record(
        &app,
        &buyer,
        "order.in_progress",
        &format!("order:{order}"),
        json!({"order": order, "status": "In progress", "delivered": 1}),
    )
    .await;
    record(
        &app,
        &buyer,
        "payment.credited",
        "payment:p1",
        json!({"amount": "5.00"}),
    )
    .await;
    // The clock runs (shifted real time): a send's timestamp lies within the run.
    let sent_from = app.state.now() / 1000;
    app.run_deliveries().await;
    let sent_until = app.state.now() / 1000;

    let events = app.store.events_of(&buyer, 10).await.expect("events");
    let got = receiver.accepted();
    assert_eq!(receiver.rejected(), 0);
    let ids: Vec<&str> = got.iter().map(|m| m.id.as_str()).collect();
    let want: Vec<&str> = events.iter().rev().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, want, "every event once, oldest first");
    assert_eq!(got[0].kind, "order.completed");
    assert_eq!(got[0].data["order"], order);
    assert_eq!(got[0].data["status"], "Completed");
    assert_eq!(
        got[0].data["accounts"],
        json!(["user1@gmail.com:pass1", "user2@gmail.com:pass2"])
    );
    assert_eq!(got[1].kind, "order.in_progress");
    assert_eq!(
        got[1].data,
        json!({"order": order, "status": "In progress", "delivered": 1, "accounts": ["user1@gmail.com:pass1"]})
    );
    assert_eq!(got[2].kind, "payment.credited");
    assert_eq!(got[2].data, json!({"amount": "5.00"}));
    assert!(
        (sent_from..=sent_until).contains(&got[2].timestamp),
        "{} not in {sent_from}..={sent_until}",
        got[2].timestamp
    );
    assert_eq!(
        got[2].sent_at,
        souk_core::clock::iso_millis(events[0].created_at)
    );
    // The raw request: the spec's three headers and a JSON body.
    let raw = &receiver.raw()[0];
    let header = |name: &str| {
        raw.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("webhook-id"), got[0].id);
    assert!(header("webhook-signature").starts_with("v1,"));
    assert_eq!(header("content-type"), "application/json");

    let shown = endpoint(&app, &key, &id).await;
    assert_eq!(shown["pending"], 0);
    assert_eq!(shown["failingSince"], Value::Null);
    let deliveries = shown["deliveries"].as_array().expect("deliveries");
    assert_eq!(deliveries.len(), 3);
    assert!(deliveries
        .iter()
        .all(|d| d["state"] == "delivered" && d["attempts"] == 1));
    assert_eq!(deliveries[0]["eventId"], got[2].id.as_str(), "newest first");
    let attempts = shown["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 3);
    assert!(attempts
        .iter()
        .all(|a| a["status"] == 204 && a["error"] == ""));

    // The test ping goes to this endpoint alone, whatever its filter.
    let (status, v) = account(
        &app,
        &key,
        Method::POST,
        &format!("/webhooks/{id}/test"),
        None,
    )
    .await;
    assert_eq!(status, 202, "{v}");
    app.run_deliveries().await;
    let got = receiver.accepted();
    assert_eq!(got.len(), 4);
    assert_eq!(got[3].kind, "webhook.test");
    assert_eq!(got[3].data["endpoint"], id.as_str());

    // A resend sends the same message (same webhook-id) again.
    let first = deliveries[2]["id"].as_i64().expect("delivery id");
    let (status, v) = account(
        &app,
        &key,
        Method::POST,
        &format!("/webhooks/{id}/deliveries/{first}/resend"),
        None,
    )
    .await;
    assert_eq!(
        (status, v),
        (202, json!({"delivery": first, "state": "pending"}))
    );
    app.run_deliveries().await;
    let got = receiver.accepted();
    assert_eq!(got.len(), 5);
    assert_eq!(got[4].id, got[0].id);
    assert_eq!(got[4].data, got[0].data);

    // The operator's endpoints: its own kinds, its own events.
    let operator_receiver = WebhookReceiver::start().await;
    let (status, created) = app
        .operator(
            Method::POST,
            "/webhooks",
            Some(json!({"url": operator_receiver.url(), "events": ["job.parked"]})),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    operator_receiver.set_secret(created["secret"].as_str().expect("secret"));
    record(&app, "operator", "job.parked", "job:1", json!({"job": 1})).await;
    app.run_deliveries().await;
    let got = operator_receiver.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].kind.as_str(), &got[0].data),
        ("job.parked", &json!({"job": 1}))
    );
    assert_eq!(receiver.accepted().len(), 5, "the buyer gets none of it");
    app.stop().await;
});

// A body altered on the way fails the receiver's check (401), and Souk records the
// failure and waits for the retry; the same request unaltered passes the fake, so the
// refusal is the signature's. A rotated secret the receiver does not know fails too.
// An endpoint's filter lets through exactly the kinds it names: the fan-out matches them
// in SQL, where `_` would otherwise be a wildcard.
engine_test!(an_endpoint_gets_only_the_kinds_it_names, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let key = app.buyer("filtered@test.local", "0").await;
    let buyer = user_id(&app, &key).await;
    let receiver = WebhookReceiver::start().await;
    register(
        &app,
        &key,
        &receiver,
        json!(["sms.code_received", "payment.credited"]),
    )
    .await;
    for kind in [
        "order.completed",
        "sms.code_received",
        "sms.expired",
        "payment.credited",
        "order.canceled",
    ] {
        record(&app, &buyer, kind, "order:1", json!({"order": 1})).await;
    }
    app.run_deliveries().await;
    let kinds: Vec<String> = receiver.accepted().into_iter().map(|m| m.kind).collect();
    assert_eq!(kinds, ["sms.code_received", "payment.credited"]);
    app.stop().await;
});

engine_test!(a_tampered_body_is_refused_and_the_failure_recorded, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let key = app.buyer("tamper@test.local", "0").await;
    let buyer = user_id(&app, &key).await;
    let receiver = WebhookReceiver::start().await;
    let id = register(&app, &key, &receiver, json!([])).await;
    receiver.set_mode(Mode::Tamper);
    record(
        &app,
        &buyer,
        "payment.credited",
        "payment:p1",
        json!({"amount": "7.00"}),
    )
    .await;
    let before = app.state.now();
    app.run_deliveries().await;
    assert_eq!(receiver.rejected(), 1);
    assert!(receiver.accepted().is_empty());

    let shown = endpoint(&app, &key, &id).await;
    let attempt = &shown["attempts"][0];
    assert_eq!(attempt["status"], 401);
    assert_eq!(attempt["error"], "HTTP 401");
    assert_eq!(attempt["response"], "signature mismatch");
    let delivery = &shown["deliveries"][0];
    assert_eq!(
        (delivery["state"].as_str(), delivery["attempts"].as_i64()),
        (Some("pending"), Some(1))
    );
    let next = db.scalar("SELECT next_at FROM webhook_deliveries").await;
    assert_eq!(
        delivery["nextAt"],
        souk_core::clock::iso_millis(next).as_str()
    );
    assert!(
        (before + 5_000..=app.state.now() + 5_000).contains(&next),
        "retried after 5 s"
    );
    assert!(shown["failingSince"].is_string());

    // The request as sent, replayed by hand: unaltered it passes the fake's check...
    let raw = receiver.raw()[0].clone();
    let replay = |body: Vec<u8>| {
        let mut request = reqwest::Client::new().post(receiver.url()).body(body);
        for (k, v) in &raw.headers {
            if k.starts_with("webhook-") {
                request = request.header(k, v);
            }
        }
        request.send()
    };
    receiver.set_mode(Mode::Accept);
    assert_eq!(
        replay(raw.body.clone()).await.expect("replay").status(),
        204
    );
    // ...and with one byte changed it does not.
    let mut altered = raw.body.clone();
    let at = altered
        .iter()
        .position(|b| *b == b'7')
        .expect("a 7 in the body");
    altered[at] = b'9';
    assert_eq!(replay(altered).await.expect("replay").status(), 401);

    // Once the retry is due, the message goes through.
    app.clock.advance(5_000);
    app.run_deliveries().await;
    assert_eq!(receiver.accepted().len(), 2);
    let shown = endpoint(&app, &key, &id).await;
    assert_eq!(shown["failingSince"], Value::Null);
    assert_eq!(shown["deliveries"][0]["state"], "delivered");

    // A new secret the receiver was not told: refused.
    let (status, rotated) = account(
        &app,
        &key,
        Method::POST,
        &format!("/webhooks/{id}/rotate-secret"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let (_, revealed) = account(
        &app,
        &key,
        Method::GET,
        &format!("/webhooks/{id}/secret"),
        None,
    )
    .await;
    assert_eq!(revealed["secret"], rotated["secret"]);
    record(
        &app,
        &buyer,
        "payment.credited",
        "payment:p2",
        json!({"amount": "1.00"}),
    )
    .await;
    app.run_deliveries().await;
    assert_eq!(receiver.rejected(), 3);
    receiver.set_secret(rotated["secret"].as_str().expect("secret"));
    app.clock.advance(5_000);
    app.run_deliveries().await;
    assert_eq!(receiver.accepted().len(), 3);
    app.stop().await;
});

// A receiver that is down for a while gets every event once it is back: each message
// once, in the order recorded (so per order too), with two nodes sending at once.
engine_test!(a_receiver_down_for_a_while_gets_everything_in_order, |db| {
    let a = TestApp::spawn_stepped(db, private_upstreams()).await;
    let b = TestApp::spawn_stepped(db, private_upstreams()).await;
    let mut receivers = Vec::new();
    let mut buyers = Vec::new();
    for n in 0..2 {
        let key = a.buyer(&format!("down{n}@test.local"), "0").await;
        let buyer = user_id(&a, &key).await;
        let receiver = WebhookReceiver::start().await;
        register(
            &a,
            &key,
            &receiver,
            json!(["order.in_progress", "order.completed"]),
        )
        .await;
        receiver.down().await;
        receivers.push(receiver);
        buyers.push(buyer);
    }
    let advance = |ms: i64| {
        a.clock.advance(ms);
        b.clock.advance(ms);
    };
    // Events for five orders of each buyer, interleaved, while the receivers are down;
    // the nodes try (and fail) between them.
    for round in 0..3 {
        for order in 1..=5 {
            for buyer in &buyers {
                let kind = if round == 2 {
                    "order.completed"
                } else {
                    "order.in_progress"
                };
                record(
                    &a,
                    buyer,
                    kind,
                    &format!("order:{order}"),
                    json!({"order": order, "step": round}),
                )
                .await;
            }
        }
        // A kind the endpoints do not take is not sent.
        record(&a, &buyers[0], "payment.credited", "payment:x", json!({})).await;
        tokio::join!(a.run_deliveries(), b.run_deliveries());
        advance(5_000);
    }
    assert!(receivers.iter().all(|r| r.requests() == 0));
    for r in &receivers {
        r.up().await;
    }
    // Past every retry waiting; both nodes run the lane at once until nothing is left.
    advance(3 * 3_600_000);
    for _ in 0..20 {
        let (ra, rb) = tokio::join!(a.run_deliveries(), b.run_deliveries());
        if ra.ran() + rb.ran() == 0 {
            break;
        }
    }
    for (receiver, buyer) in receivers.iter().zip(&buyers) {
        let got = receiver.accepted();
        let sent: Vec<String> = got.iter().map(|m| m.id.clone()).collect();
        let recorded: Vec<String> = a
            .store
            .events_of(buyer, 100)
            .await
            .expect("events")
            .into_iter()
            .rev()
            .filter(|e| e.kind.starts_with("order."))
            .map(|e| e.id)
            .collect();
        assert_eq!(sent.len(), 15);
        assert_eq!(sent, recorded, "every event once, in the order recorded");
        for order in 1..=5 {
            let steps: Vec<i64> = got
                .iter()
                .filter(|m| m.data["order"] == order)
                .map(|m| m.data["step"].as_i64().expect("step"))
                .collect();
            assert_eq!(steps, [0, 1, 2], "order {order}");
        }
    }
    a.stop().await;
    b.stop().await;
});

// A receiver answering 500 forever: tried on the schedule (5 s, 5 min, 30 min, 2 h, 5 h,
// 10 h, 10 h), disabled once it has failed for a day, and its owner told on their other
// endpoint; re-enabled, it gets what waited.
engine_test!(
    a_receiver_failing_for_a_day_is_disabled_and_its_owner_told,
    |db| {
        let app = TestApp::spawn_stepped(db, private_upstreams()).await;
        let key = app.buyer("failing@test.local", "0").await;
        let buyer = user_id(&app, &key).await;
        let failing = WebhookReceiver::start().await;
        let id = register(&app, &key, &failing, json!(["*"])).await;
        failing.set_mode(Mode::Status(500));
        let healthy = WebhookReceiver::start().await;
        register(&app, &key, &healthy, json!(["*"])).await;

        record(
            &app,
            &buyer,
            "payment.credited",
            "payment:p1",
            json!({"amount": "3.00"}),
        )
        .await;
        app.run_deliveries().await;
        assert_eq!(failing.requests(), 1);
        assert_eq!(healthy.accepted().len(), 1);
        let since = endpoint(&app, &key, &id).await["failingSince"].clone();
        assert!(since.is_string());

        let schedule = [5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000];
        for (n, wait) in schedule.iter().enumerate() {
            // Not before its time...
            app.clock.advance(wait - 1_000);
            app.run_deliveries().await;
            assert_eq!(failing.requests(), n + 1, "retry {} waits {wait} ms", n + 1);
            // ...then once.
            app.clock.advance(1_000);
            app.run_deliveries().await;
            assert_eq!(failing.requests(), n + 2);
            let shown = endpoint(&app, &key, &id).await;
            assert_eq!(shown["enabled"], true);
            assert_eq!(shown["failingSince"], since);
            assert_eq!(shown["deliveries"][0]["attempts"], (n + 2) as i64);
        }
        // 17 h 35 min in, the next try waits 10 h: past a day of failures, it is the last.
        app.clock.advance(36_000_000);
        app.run_deliveries().await;
        assert_eq!(failing.requests(), 8);
        let shown = endpoint(&app, &key, &id).await;
        assert_eq!(shown["enabled"], false);
        let reason = format!(
            "Every delivery failed for 27 hours (since {}); the last: HTTP 500",
            since.as_str().expect("a time")
        );
        assert_eq!(shown["disabledReason"], reason.as_str());
        assert_eq!(shown["pending"], 1, "what waits is kept");
        let attempts = shown["attempts"].as_array().expect("attempts");
        assert_eq!(attempts.len(), 8);
        assert!(attempts
            .iter()
            .all(|a| a["status"] == 500 && a["error"] == "HTTP 500"));
        assert_eq!(attempts[0]["response"], "receiver failing on purpose");

        // The owner is told on their other endpoint; the disabled one gets nothing more.
        app.clock.advance(36_000_000);
        app.run_deliveries().await;
        assert_eq!(failing.requests(), 8);
        let told = healthy.accepted();
        assert_eq!(told.len(), 2);
        assert_eq!(told[1].kind, "webhook.disabled");
        assert_eq!(
            told[1].data,
            json!({"endpoint": id, "url": failing.url(), "description": "test receiver", "reason": reason})
        );
        let events = app.store.events_of(&buyer, 10).await.expect("events");
        assert_eq!(events[0].kind, "webhook.disabled");

        // Re-enabled: the failures are cleared and what waited is sent.
        failing.set_mode(Mode::Accept);
        let (status, v) = account(
            &app,
            &key,
            Method::PATCH,
            &format!("/webhooks/{id}"),
            Some(json!({"enabled": true})),
        )
        .await;
        assert_eq!(status, 200, "{v}");
        assert_eq!(
            (
                v["enabled"].clone(),
                v["disabledReason"].clone(),
                v["failingSince"].clone()
            ),
            (json!(true), json!(""), Value::Null)
        );
        app.run_deliveries().await;
        let got = failing.accepted();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "payment.credited");
        assert_eq!(endpoint(&app, &key, &id).await["pending"], 0);
        app.stop().await;
    }
);

// Private and loopback destinations are refused when an endpoint is registered or
// changed, unless the operator allows them.
engine_test!(private_addresses_are_refused_unless_allowed, |db| {
    let app = TestApp::spawn_stepped(db, crate::harness::quiet_config()).await;
    let key = app.buyer("private@test.local", "0").await;
    for (url, host) in [
        ("http://127.0.0.1:9/hook", "127.0.0.1"),
        ("http://localhost:8080/", "localhost"),
        ("https://10.1.2.3/x", "10.1.2.3"),
        ("http://[::1]/x", "::1"),
        ("http://169.254.169.254/latest", "169.254.169.254"),
    ] {
        let (status, v) = account(
            &app,
            &key,
            Method::POST,
            "/webhooks",
            Some(json!({"url": url})),
        )
        .await;
        assert_eq!(
            (status, v),
            (
                400,
                json!({"error": format!("The URL points at a private or local address: {host}")})
            ),
            "{url}"
        );
    }
    let (status, created) = account(
        &app,
        &key,
        Method::POST,
        "/webhooks",
        Some(json!({"url": "https://hooks.example.com/souk"})),
    )
    .await;
    assert_eq!(status, 201);
    let id = created["id"].as_str().expect("id");
    let (status, v) = account(
        &app,
        &key,
        Method::PATCH,
        &format!("/webhooks/{id}"),
        Some(json!({"url": "http://192.168.1.1/"})),
    )
    .await;
    assert_eq!(
        (status, v),
        (
            400,
            json!({"error": "The URL points at a private or local address: 192.168.1.1"})
        )
    );
    assert_eq!(
        endpoint(&app, &key, id).await["url"],
        "https://hooks.example.com/souk"
    );
    app.stop().await;

    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let (status, v) = account(
        &app,
        &key,
        Method::POST,
        "/webhooks",
        Some(json!({"url": "http://127.0.0.1:9/hook"})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    app.stop().await;
});

// Bad input on every route gets a clear error and changes nothing.
engine_test!(bad_input_is_refused_and_changes_nothing, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let key = app.buyer("bad@test.local", "0").await;
    let other = app.buyer("other@test.local", "0").await;
    let receiver = WebhookReceiver::start().await;
    let mine = register(&app, &key, &receiver, json!(["order.completed"])).await;
    let theirs = register(&app, &other, &receiver, json!(["*"])).await;
    let (_, before_mine) = account(&app, &key, Method::GET, "/webhooks", None).await;
    let (_, before_theirs) = account(&app, &other, Method::GET, "/webhooks", None).await;
    assert_eq!(before_mine["webhooks"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        before_mine["events"],
        json!([
            "order.completed",
            "order.partial",
            "order.canceled",
            "order.in_progress",
            "refill.completed",
            "sms.code_received",
            "sms.expired",
            "payment.credited",
            "dispute.updated",
            "webhook.disabled"
        ])
    );

    let buyer_kinds = "order.completed, order.partial, order.canceled, order.in_progress, \
                       refill.completed, sms.code_received, sms.expired, payment.credited, dispute.updated, webhook.disabled";
    let unknown = format!(
        "Unknown event \"order.done\": one of {}, or *",
        souk_core::event::names().join(", ")
    );
    let cases: Vec<(Method, String, String, u16, String)> = vec![
        (Method::POST, "/webhooks".into(), r#"{"url": "not a url"}"#.into(), 400,
         "The URL is not valid: relative URL without a base".into()),
        (Method::POST, "/webhooks".into(), r#"{"url": "ftp://hooks.example.com/"}"#.into(), 400,
         "The URL must be http or https".into()),
        (Method::POST, "/webhooks".into(), r#"{"url": "https://u:p@hooks.example.com/"}"#.into(), 400,
         "The URL must not hold a user name or password".into()),
        (Method::POST, "/webhooks".into(), r#"{"url": "https://hooks.example.com/", "events": ["order.done"]}"#.into(), 400,
         unknown.clone()),
        (Method::POST, "/webhooks".into(), r#"{"url": "https://hooks.example.com/", "events": ["order.created"]}"#.into(), 400,
         format!("Event \"order.created\" is not one of yours: one of {buyer_kinds}, or *")),
        (Method::POST, "/webhooks".into(), r#"{"url": "https://hooks.example.com/", "secret": "x"}"#.into(), 400,
         "Invalid JSON body: unknown field `secret`, expected one of `url`, `events`, `description`".into()),
        (Method::POST, "/webhooks".into(), r#"{"events": ["*"]}"#.into(), 400,
         "Invalid JSON body: missing field `url`".into()),
        (Method::POST, "/webhooks".into(), r#"{"url": "https://hooks.example.com/", "events": "*"}"#.into(), 400,
         "Invalid JSON body: invalid type: string \"*\", expected a sequence".into()),
        (Method::POST, "/webhooks".into(),
         format!(r#"{{"url": "https://hooks.example.com/", "description": "{}"}}"#, "x".repeat(201)),
         400, "The description is too long (at most 200 characters)".into()),
        (Method::PATCH, format!("/webhooks/{mine}"), r#"{"enable": true}"#.into(), 400,
         "Invalid JSON body: unknown field `enable`, expected one of `url`, `events`, `description`, `enabled`".into()),
        (Method::PATCH, format!("/webhooks/{mine}"), r#"{"enabled": "yes"}"#.into(), 400,
         "Invalid JSON body: invalid type: string \"yes\", expected a boolean".into()),
        (Method::PATCH, format!("/webhooks/{mine}"), r#"{"events": ["order.done"]}"#.into(), 400, unknown.clone()),
        (Method::PATCH, format!("/webhooks/{mine}"), r#"{"url": "mailto:x@example.com"}"#.into(), 400,
         "The URL must be http or https".into()),
    ];
    let mut cases = cases;
    // Another user's endpoint, and ids that name nothing: not found, on every route.
    for id in [
        theirs.as_str(),
        "xyz",
        "0123456789abcdef01234567",
        "../webhooks",
    ] {
        let id = id.replace('/', "%2F");
        for (method, path) in [
            (Method::GET, format!("/webhooks/{id}")),
            (Method::PATCH, format!("/webhooks/{id}")),
            (Method::DELETE, format!("/webhooks/{id}")),
            (Method::GET, format!("/webhooks/{id}/secret")),
            (Method::POST, format!("/webhooks/{id}/rotate-secret")),
            (Method::POST, format!("/webhooks/{id}/test")),
        ] {
            let body = if method == Method::PATCH {
                r#"{"enabled": false}"#
            } else {
                ""
            };
            cases.push((
                method,
                path,
                body.into(),
                404,
                "Webhook endpoint not found".into(),
            ));
        }
        cases.push((
            Method::POST,
            format!("/webhooks/{id}/deliveries/1/resend"),
            String::new(),
            404,
            "Webhook endpoint not found".into(),
        ));
    }
    for delivery in ["abc", "0", "-1", "99999"] {
        cases.push((
            Method::POST,
            format!("/webhooks/{mine}/deliveries/{delivery}/resend"),
            String::new(),
            404,
            "Delivery not found".into(),
        ));
    }
    for (method, path, body, status, error) in cases {
        let body = (!body.is_empty()).then_some(body.as_str());
        let got = account_raw(&app, &key, method.clone(), &path, body).await;
        assert_eq!(
            got,
            (status, json!({"error": error})),
            "{method} {path} {body:?}"
        );
    }
    // Without a key, or a wrong one.
    for k in ["", "wrong"] {
        let got = account(&app, k, Method::GET, "/webhooks", None).await;
        assert_eq!(got, (401, json!({"error": "Invalid API key"})));
    }
    // The operator's kinds are its own.
    let (status, v) = app
        .operator(
            Method::POST,
            "/webhooks",
            Some(json!({"url": "https://hooks.example.com/", "events": ["order.completed"]})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        v["error"],
        "Event \"order.completed\" is not one of yours: one of provider.failing, order.stuck, job.parked, \
         payment.needs_attention, withdrawal.requested, dispute.opened, webhook.disabled, or *"
    );
    let (status, _) = app
        .operator(Method::GET, &format!("/webhooks/{mine}"), None)
        .await;
    assert_eq!(status, 404, "a user's endpoint is not the operator's");
    let response = app
        .http
        .get(format!("{}/api/operator/v1/webhooks", app.url))
        .bearer_auth(format!("{ADMIN_TOKEN}x"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);

    // Nothing changed.
    assert_eq!(
        account(&app, &key, Method::GET, "/webhooks", None).await,
        (200, before_mine)
    );
    assert_eq!(
        account(&app, &other, Method::GET, "/webhooks", None).await,
        (200, before_theirs)
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM webhook_deliveries").await,
        0
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM events").await, 0);

    // A supplier may filter on the buyer's kinds and their own.
    let (supplier, supplier_key) = app
        .store
        .create_user(
            &souk_store::NewUser {
                email: "supplier@test.local".into(),
                name: String::new(),
                password_hash: None,
                is_supplier: true,
                initial_balance: souk_core::Money::ZERO,
            },
            0,
        )
        .await
        .expect("supplier");
    let (status, v) = account(
        &app,
        &supplier_key,
        Method::POST,
        "/webhooks",
        Some(json!({"url": receiver.url(), "events": ["order.created", "order.completed", "stock.low"]})),
    )
    .await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(
        v["events"],
        json!(["order.completed", "order.created", "stock.low"])
    );
    assert!(!supplier.is_empty());

    // Deleting: gone, and gone again is not found.
    let path = format!("/webhooks/{mine}");
    assert_eq!(
        account(&app, &key, Method::DELETE, &path, None).await.0,
        204
    );
    assert_eq!(
        account(&app, &key, Method::DELETE, &path, None).await,
        (404, json!({"error": "Webhook endpoint not found"}))
    );
    app.stop().await;
});

// The account page's webhooks: add (the secret shown once, and it verifies at the
// receiver), a test ping, the attempts with their answers, resend, a refusal in the
// page's language, delete; every form needs its CSRF token.
engine_test!(the_webhooks_page_manages_endpoints, |db| {
    use crate::web::{csrf_of, form, page, sign_up, user_of};

    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let cookie = sign_up(&app, "webhooks-page@test.local").await;
    let (_, key) = user_of(&app, "webhooks-page@test.local").await;
    let (status, html) = page(&app, &cookie, "/account").await;
    assert_eq!(status, 200);
    assert!(html.contains("href=\"/account/webhooks\""));
    let (status, html) = page(&app, &cookie, "/account/webhooks").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-webhooks\""));
    let csrf = csrf_of(&html);
    let receiver = WebhookReceiver::start().await;

    // Without the token: refused, nothing added.
    let r = form(
        &app,
        "/account/webhooks",
        &cookie,
        &[("url", &receiver.url())],
    )
    .await;
    assert_eq!(r.status(), 403);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_endpoints").await, 0);

    // A refusal, in Russian when the page is.
    let ru = format!("{cookie}; souk_ui=ru");
    let r = form(
        &app,
        "/account/webhooks",
        &ru,
        &[("csrf", &csrf), ("url", "ftp://example.com/")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    assert!(
        html.contains("URL должен начинаться с http или https."),
        "{html}"
    );
    assert!(
        html.contains("value=\"ftp://example.com/\""),
        "the form keeps what was typed"
    );

    let r = form(
        &app,
        "/account/webhooks",
        &cookie,
        &[
            ("csrf", &csrf),
            ("url", &receiver.url()),
            ("events", "payment.credited"),
            ("description", "my shop"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.expect("body");
    let at = html.find("id=\"secret\"").expect("the secret shown");
    let secret = &html[at..];
    let secret = &secret[secret.find("whsec_").expect("whsec_")..];
    let secret = &secret[..secret.find('<').expect("end")];
    receiver.set_secret(secret);
    let (_, list) = account(&app, &key, Method::GET, "/webhooks", None).await;
    let id = list["webhooks"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list["webhooks"][0]["events"], json!(["payment.credited"]));
    assert_eq!(list["webhooks"][0]["description"], "my shop");
    // Shown once: the page does not show it again.
    let (_, html) = page(&app, &cookie, "/account/webhooks").await;
    assert!(!html.contains(secret));

    let r = form(
        &app,
        &format!("/account/webhooks/{id}/test"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);
    app.run_deliveries().await;
    assert_eq!(receiver.accepted().len(), 1);
    let (_, html) = page(&app, &cookie, "/account/webhooks?done=test").await;
    assert!(html.contains("webhook.test"));
    assert!(html.contains("<td>204</td>"), "the attempt's status");
    let delivery: i64 = db.scalar("SELECT id FROM webhook_deliveries").await;
    let path = format!("/account/webhooks/{id}/deliveries/{delivery}/resend");
    assert_eq!(form(&app, &path, &cookie, &[]).await.status(), 403);
    assert_eq!(
        form(&app, &path, &cookie, &[("csrf", &csrf)])
            .await
            .status(),
        303
    );
    app.run_deliveries().await;
    assert_eq!(receiver.accepted().len(), 2);

    // Another user's endpoint is no page of theirs.
    let other = sign_up(&app, "other-page@test.local").await;
    let (_, other_html) = page(&app, &other, "/account/webhooks").await;
    let other_csrf = csrf_of(&other_html);
    let r = form(
        &app,
        &format!("/account/webhooks/{id}/delete"),
        &other,
        &[("csrf", &other_csrf)],
    )
    .await;
    assert_eq!(r.status(), 404);

    let r = form(
        &app,
        &format!("/account/webhooks/{id}/delete"),
        &cookie,
        &[("csrf", &csrf)],
    )
    .await;
    assert_eq!(r.status(), 303);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM webhook_endpoints").await, 0);
    app.stop().await;
});

/// Measurement, not a check: "a receiver that hangs does not slow order placement".
/// `add` throughput (orders/s, `SOUK_BENCH_CLIENTS` concurrent clients, default 16, against
/// one node with its workers running) for an inventory product: a buyer without
/// webhooks, then a buyer with 100 endpoints all pointing at a receiver that never
/// answers (each order's `order.completed` fans out to 100 deliveries, each stuck 10 s),
/// then the first buyer again. Run with
/// `cargo test --release -p souk --test e2e bench_webhooks -- --ignored --nocapture --test-threads 1`
/// (PostgreSQL too with `SOUK_TEST_DATABASE_URL`).
mod bench_webhooks {
    use super::*;
    use crate::harness::{Kind, TestDb};
    use crate::supply_kit::{inventory_product, market, supplier, upload};
    use futures::StreamExt;

    async fn place(app: &TestApp, key: &str, service: i64, orders: usize, clients: usize) -> f64 {
        let started = std::time::Instant::now();
        futures::stream::iter(0..orders)
            .for_each_concurrent(clients, |_| async move {
                let v = app
                    .call(&[
                        ("key", key),
                        ("action", "add"),
                        ("service", &service.to_string()),
                        ("quantity", "1"),
                    ])
                    .await;
                assert!(v["order"].is_i64(), "order refused: {v}");
            })
            .await;
        orders as f64 / started.elapsed().as_secs_f64()
    }

    async fn bench(db: &TestDb) {
        let orders: usize = std::env::var("SOUK_BENCH_ORDERS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1000);
        let clients: usize = std::env::var("SOUK_BENCH_CLIENTS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(16);
        let app = TestApp::builder(db)
            .config(private_upstreams())
            .with_workers()
            .spawn()
            .await;
        let (_, subcategory) = market(&app).await;
        let (seller, _, _) = supplier(&app, "bench-seller@test.local", "Bench").await;
        let (_, service, subs) =
            inventory_product(&app, &seller, &subcategory, "Bench accounts").await;
        let rounds: usize = std::env::var("SOUK_BENCH_ROUNDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        let lines: String = (0..orders * (3 * rounds + 1) + 10)
            .map(|i| format!("bench{i}@example.com:pw{i}\n"))
            .collect();
        let (status, v) = upload(&app, &seller, &subs[0], lines, false).await;
        assert_eq!(status, 200, "{v}");
        let quiet = app.buyer("bench-quiet@test.local", "100000").await;
        let hooked = app.buyer("bench-hooked@test.local", "100000").await;
        let quiet_again = app.buyer("bench-quiet-again@test.local", "100000").await;
        let receiver = WebhookReceiver::start().await;
        receiver.set_mode(Mode::Hang);
        for _ in 0..100 {
            let (status, v) = account(
                &app,
                &hooked,
                Method::POST,
                "/webhooks",
                Some(json!({"url": receiver.url()})),
            )
            .await;
            assert_eq!(status, 201, "{v}");
        }
        // The machine is shared: a warm-up, then rounds that each run the three buyers in
        // a rotated order, and the ratios of the medians. A second buyer without webhooks
        // measures the noise (its ratio to the first would be 1.00 on a quiet machine).
        place(&app, &quiet, service, orders / 4, clients).await;
        let buyers = [&quiet, &hooked, &quiet_again];
        let mut rates: [Vec<f64>; 3] = Default::default();
        for round in 0..rounds {
            for i in 0..3 {
                let b = (round + i) % 3;
                rates[b].push(place(&app, buyers[b], service, orders, clients).await);
            }
        }
        let per_round: Vec<String> = (0..rounds)
            .map(|r| format!("{:.2}", rates[1][r] / rates[0][r]))
            .collect();
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let [without, with, again] = [median(&rates[0]), median(&rates[1]), median(&rates[2])];
        let deliveries = db.scalar("SELECT COUNT(*) FROM webhook_deliveries").await;
        let hanging = receiver.requests();
        eprintln!(
            "BENCH webhooks {:?}: {rounds} rounds of {orders} orders by {clients} clients, medians: without webhooks \
             {without:.0} orders/s; with 100 endpoints at a hanging receiver {with:.0} orders/s, ratio {:.2} \
             (per round {}); another buyer without webhooks {again:.0} orders/s, ratio {:.2} (the noise); \
             {deliveries} deliveries written, {hanging} requests hanging or hung so far",
            db.kind,
            with / without,
            per_round.join(", "),
            again / without,
        );
        // Hanging connections closed: the lane's tries fail at once and wait for their
        // retries, so the node can stop.
        receiver.down().await;
        app.stop().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "a measurement: run with --ignored --nocapture"]
    async fn sqlite() {
        let db = TestDb::sqlite().await;
        assert_eq!(db.kind, Kind::Sqlite);
        bench(&db).await;
        db.cleanup().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[ignore = "a measurement: run with --ignored --nocapture"]
    async fn postgres() {
        if let Some(db) = TestDb::postgres().await {
            bench(&db).await;
            db.cleanup().await;
        }
    }
}
