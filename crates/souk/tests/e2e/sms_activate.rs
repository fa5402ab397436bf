//! The sms-activate protocol both ways: `/stubs/handler_api.php` answering existing
//! clients with the protocol's exact tokens and JSON shapes, and upstream providers (a
//! fake one, a real HTTP server on loopback speaking the protocol) serving rentals when
//! the pool is empty, including their refusals and garbage.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use reqwest::Method;
use serde_json::{json, Value};
use souk_api::ApiConfig;
use souk_core::sms::protocol_time;

use crate::engine_test;
use crate::harness::{quiet_config, TestApp, TestDb};
use crate::sms::{
    add_sms, balance, eventually, handler_api, only_order, op, push_sms, sms_call, sms_fixture,
    GB1, NO_NUMBERS, US1,
};

async fn token(app: &TestApp, params: &[(&str, &str)]) -> String {
    let (content_type, body) = handler_api(app, params).await;
    assert_eq!(
        content_type, "text/plain; charset=utf-8",
        "{params:?}: {body}"
    );
    body
}

async fn json_answer(app: &TestApp, params: &[(&str, &str)]) -> Value {
    let (content_type, body) = handler_api(app, params).await;
    assert_eq!(
        content_type, "application/json; charset=utf-8",
        "{params:?}: {body}"
    );
    serde_json::from_str(&body).expect("json")
}

async fn activation_times(db: &TestDb, order: i64) -> (String, String) {
    let created = db
        .scalar(&format!(
            "SELECT created_at FROM sms_activations WHERE order_id = {order}"
        ))
        .await;
    let expires = db
        .scalar(&format!(
            "SELECT expires_at FROM sms_activations WHERE order_id = {order}"
        ))
        .await;
    (protocol_time(created), protocol_time(expires))
}

engine_test!(handler_api_speaks_the_protocol, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let poor = app.buyer("poor@test.local", "0.10").await;
    let k = key.as_str();
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getBalance")]).await,
        "ACCESS_BALANCE:10.00"
    );
    assert_eq!(
        token(&app, &[("api_key", "wrong"), ("action", "getBalance")]).await,
        "BAD_KEY"
    );
    assert_eq!(token(&app, &[("action", "getBalance")]).await, "BAD_KEY");
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getTheMoon")]).await,
        "BAD_ACTION"
    );
    assert_eq!(token(&app, &[("api_key", k)]).await, "BAD_ACTION");
    assert_eq!(
        json_answer(&app, &[("api_key", k), ("action", "getCountries")]).await,
        json!({
            "16": {"id": 16, "rus": "Великобритания", "eng": "United Kingdom", "chn": "United Kingdom",
                   "visible": 1, "retry": 1, "rent": 0, "multiService": 0},
            "187": {"id": 187, "rus": "США", "eng": "United States", "chn": "United States",
                    "visible": 1, "retry": 1, "rent": 0, "multiService": 0}
        })
    );
    assert_eq!(
        json_answer(
            &app,
            &[
                ("api_key", k),
                ("action", "getServicesList"),
                ("lang", "ru")
            ]
        )
        .await,
        json!({"status": "success", "services": [
            {"code": "dr", "name": "OpenAI / ChatGPT"}, {"code": "tg", "name": "Телеграм"}
        ]})
    );
    assert_eq!(
        json_answer(
            &app,
            &[
                ("api_key", k),
                ("action", "getServicesList"),
                ("country", "16")
            ]
        )
        .await,
        json!({"status": "success", "services": [{"code": "tg", "name": "Telegram"}]})
    );
    assert_eq!(
        json_answer(&app, &[("api_key", k), ("action", "getPrices")]).await,
        json!({
            "16": {"tg": {"cost": 0.4, "count": 1}},
            "187": {"tg": {"cost": 0.5, "count": 2}, "dr": {"cost": 0.75, "count": 1}}
        })
    );
    assert_eq!(
        json_answer(
            &app,
            &[
                ("api_key", k),
                ("action", "getPrices"),
                ("service", "dr"),
                ("country", "187")
            ]
        )
        .await,
        json!({"187": {"dr": {"cost": 0.75, "count": 1}}})
    );
    assert_eq!(
        json_answer(&app, &[("api_key", k), ("action", "getActiveActivations")]).await,
        json!({"status": "error", "error": "NO_ACTIVATIONS"})
    );
    // Refusals.
    for (params, want) in [
        (vec![("action", "getNumber")], "BAD_SERVICE".to_owned()),
        (
            vec![("action", "getNumber"), ("service", "zz")],
            "BAD_SERVICE".to_owned(),
        ),
        (
            vec![
                ("action", "getNumber"),
                ("service", "dr"),
                ("country", "16"),
            ],
            "NO_NUMBERS".to_owned(),
        ),
        (
            vec![
                ("action", "getNumber"),
                ("service", "tg"),
                ("country", "999"),
            ],
            "NO_NUMBERS".to_owned(),
        ),
        (
            vec![
                ("action", "getNumber"),
                ("service", "tg"),
                ("maxPrice", "0.3"),
            ],
            "WRONG_MAX_PRICE:0.40".to_owned(),
        ),
        (
            vec![("action", "getStatus"), ("id", "123456")],
            "NO_ACTIVATION".to_owned(),
        ),
        (vec![("action", "getStatus")], "NO_ACTIVATION".to_owned()),
        (
            vec![("action", "setStatus"), ("id", "123456"), ("status", "8")],
            "NO_ACTIVATION".to_owned(),
        ),
    ] {
        let mut p = vec![("api_key", k)];
        p.extend(params.iter().copied());
        assert_eq!(token(&app, &p).await, want, "{params:?}");
    }
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", &poor),
                ("action", "getNumber"),
                ("service", "tg")
            ]
        )
        .await,
        "NO_BALANCE"
    );
    // getNumber: the cheapest country with a free number, unknown parameters ignored.
    let body = token(
        &app,
        &[
            ("api_key", k),
            ("action", "getNumber"),
            ("service", "tg"),
            ("operator", "any"),
            ("forward", "0"),
            ("ref", "x"),
        ],
    )
    .await;
    let rest = body
        .strip_prefix("ACCESS_NUMBER:")
        .unwrap_or_else(|| panic!("{body}"));
    let (id, phone) = rest.split_once(':').expect("id:phone");
    assert_eq!(phone, GB1.trim_start_matches('+'));
    let first: i64 = id.parse().expect("id");
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getStatus"), ("id", id)]).await,
        "STATUS_WAIT_CODE"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "1")
            ]
        )
        .await,
        "ACCESS_READY"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "6")
            ]
        )
        .await,
        "BAD_STATUS"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "8")
            ]
        )
        .await,
        "EARLY_CANCEL_DENIED"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "5")
            ]
        )
        .await,
        "BAD_STATUS"
    );
    // getNumberV2 by POST, with a country number.
    let response = app
        .http
        .post(format!("{}/stubs/handler_api.php", app.url))
        .form(&[
            ("api_key", k),
            ("action", "getNumberV2"),
            ("service", "tg"),
            ("country", "187"),
        ])
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json; charset=utf-8")
    );
    let v: Value = response.json().await.expect("json");
    let second = v["activationId"].as_i64().expect("activationId");
    let (time, end) = activation_times(db, second).await;
    assert_eq!(
        v,
        json!({
            "activationId": second, "phoneNumber": US1.trim_start_matches('+'), "activationCost": 0.5,
            "currency": 840, "countryCode": "187", "canGetAnotherSms": true,
            "activationTime": time, "activationEndTime": end, "activationOperator": "any"
        })
    );
    assert_eq!(balance(&app, k).await, "9.10");
    // Another buyer's activation does not exist for this one.
    assert_eq!(
        token(
            &app,
            &[("api_key", &poor), ("action", "getStatus"), ("id", id)]
        )
        .await,
        "NO_ACTIVATION"
    );
    // The code arrives through the gateway.
    push_sms(&app, &f, GB1, "Telegram code: 10101").await;
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getStatus"), ("id", id)]).await,
        "STATUS_OK:10101"
    );
    let v = json_answer(
        &app,
        &[("api_key", k), ("action", "getStatusV2"), ("id", id)],
    )
    .await;
    assert_eq!(v["verificationType"], 0);
    assert_eq!(v["call"], Value::Null);
    assert_eq!(v["sms"]["code"], "10101");
    assert_eq!(v["sms"]["text"], "Telegram code: 10101");
    let v2_waiting = json_answer(
        &app,
        &[
            ("api_key", k),
            ("action", "getStatusV2"),
            ("id", &second.to_string()),
        ],
    )
    .await;
    assert_eq!(
        v2_waiting,
        json!({"verificationType": 0, "sms": null, "call": null})
    );
    let active = json_answer(&app, &[("api_key", k), ("action", "getActiveActivations")]).await;
    assert_eq!(active["status"], "success");
    let rows = active["activeActivations"].as_array().expect("rows");
    assert_eq!(rows.len(), 2);
    let (time, end) = activation_times(db, first).await;
    assert_eq!(
        rows[0],
        json!({
            "activationId": first.to_string(), "serviceCode": "tg", "phoneNumber": GB1.trim_start_matches('+'),
            "activationCost": 0.4, "activationStatus": "2", "smsCode": ["10101"], "smsText": "Telegram code: 10101",
            "activationTime": time, "activationEndTime": end, "discount": "0.00", "repeated": "0",
            "countryCode": "16", "countryName": "United Kingdom", "canGetAnotherSms": "1", "currency": 840
        })
    );
    assert_eq!(rows[1]["activationStatus"], "4");
    assert_eq!(rows[1]["smsCode"], Value::Null);
    // Another SMS on the same number.
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "3")
            ]
        )
        .await,
        "ACCESS_RETRY_GET"
    );
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getStatus"), ("id", id)]).await,
        "STATUS_WAIT_RETRY:10101"
    );
    push_sms(&app, &f, GB1, "Your new code: 20202").await;
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getStatus"), ("id", id)]).await,
        "STATUS_OK:20202"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "8")
            ]
        )
        .await,
        "BAD_STATUS"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", id),
                ("status", "6")
            ]
        )
        .await,
        "ACCESS_ACTIVATION"
    );
    assert_eq!(
        sms_call(&app, k, "sms_status", first).await["status"],
        "completed"
    );
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getStatus"), ("id", id)]).await,
        "STATUS_OK:20202"
    );
    // Cancel after two minutes: refunded, and the status says so.
    app.clock.advance(120_000);
    let second_id = second.to_string();
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", &second_id),
                ("status", "8")
            ]
        )
        .await,
        "ACCESS_CANCEL"
    );
    assert_eq!(
        token(
            &app,
            &[("api_key", k), ("action", "getStatus"), ("id", &second_id)]
        )
        .await,
        "STATUS_CANCEL"
    );
    assert_eq!(
        token(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", &second_id),
                ("status", "8")
            ]
        )
        .await,
        "BAD_STATUS"
    );
    assert_eq!(balance(&app, k).await, "9.60");
    assert_eq!(
        token(&app, &[("api_key", k), ("action", "getBalance")]).await,
        "ACCESS_BALANCE:9.60"
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

/// A fake sms-activate provider: a real HTTP server on loopback.
#[derive(Default)]
pub(crate) struct Fake {
    /// `ok`, or what getNumber answers instead (`NO_NUMBERS`, `html`, `garbage`, ...).
    mode: Mutex<String>,
    /// Numbers it can still give (unlimited when `None`).
    left: Mutex<Option<usize>>,
    issued: AtomicUsize,
    statuses: Mutex<HashMap<String, String>>,
    /// `getNumber service country`, `setStatus id status`.
    calls: Mutex<Vec<String>>,
}

const UPSTREAM_KEY: &str = "upstream-key";

impl Fake {
    fn set_mode(&self, mode: &str) {
        *self.mode.lock().expect("lock") = mode.to_owned();
    }

    fn set_status(&self, id: &str, status: &str) {
        self.statuses
            .lock()
            .expect("lock")
            .insert(id.to_owned(), status.to_owned());
    }

    pub(crate) fn calls(&self) -> Vec<String> {
        self.calls.lock().expect("lock").clone()
    }

    fn has_call(&self, call: &str) -> bool {
        self.calls().iter().any(|c| c == call)
    }
}

async fn fake_handler(
    State(fake): State<Arc<Fake>>,
    Query(q): Query<HashMap<String, String>>,
) -> (StatusCode, String) {
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("api_key") != UPSTREAM_KEY {
        return (StatusCode::OK, "BAD_KEY".into());
    }
    match get("action").as_str() {
        "getNumber" => {
            fake.calls.lock().expect("lock").push(format!(
                "getNumber {} {}",
                get("service"),
                get("country")
            ));
            let mode = fake.mode.lock().expect("lock").clone();
            match mode.as_str() {
                "ok" | "" => {}
                "html" => {
                    return (
                        StatusCode::BAD_GATEWAY,
                        "<html><body>502 Bad Gateway</body></html>".into(),
                    )
                }
                "garbage" => return (StatusCode::OK, "Lorem ipsum dolor sit amet".into()),
                "empty" => return (StatusCode::OK, String::new()),
                token => return (StatusCode::OK, token.to_owned()),
            }
            {
                let mut left = fake.left.lock().expect("lock");
                match left.as_mut() {
                    Some(0) => return (StatusCode::OK, "NO_NUMBERS".into()),
                    Some(n) => *n -= 1,
                    None => {}
                }
            }
            let n = fake.issued.fetch_add(1, Ordering::SeqCst) + 1;
            let id = format!("{}", 9000 + n);
            fake.set_status(&id, "STATUS_WAIT_CODE");
            (
                StatusCode::OK,
                format!("ACCESS_NUMBER:{id}:4915112345{n:02}"),
            )
        }
        "getStatus" => match fake.statuses.lock().expect("lock").get(&get("id")) {
            Some(s) => (StatusCode::OK, s.clone()),
            None => (StatusCode::OK, "NO_ACTIVATION".into()),
        },
        "setStatus" => {
            let (id, status) = (get("id"), get("status"));
            fake.calls
                .lock()
                .expect("lock")
                .push(format!("setStatus {id} {status}"));
            let answer = match status.as_str() {
                "1" => "ACCESS_READY",
                "3" => "ACCESS_RETRY_GET",
                "6" => "ACCESS_ACTIVATION",
                "8" => {
                    fake.set_status(&id, "STATUS_CANCEL");
                    "ACCESS_CANCEL"
                }
                _ => "BAD_STATUS",
            };
            (StatusCode::OK, answer.into())
        }
        "getBalance" => (StatusCode::OK, "ACCESS_BALANCE:123.45".into()),
        _ => (StatusCode::OK, "BAD_ACTION".into()),
    }
}

pub(crate) async fn spawn_fake() -> (String, Arc<Fake>) {
    let fake = Arc::new(Fake::default());
    fake.set_mode("ok");
    let router = axum::Router::new()
        .route("/stubs/handler_api.php", axum::routing::get(fake_handler))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, fake)
}

/// The fixture plus Germany (sms-activate 43), where Telegram sells at 0.80 and the
/// pool has no number, and the fake provider.
pub(crate) async fn upstream_setup(app: &TestApp, url: &str) {
    sms_fixture(app).await;
    for (method, path, body) in [
        (
            Method::PUT,
            "/sms/countries/de",
            json!({"name": "Germany", "activate_id": 43}),
        ),
        (
            Method::PUT,
            "/sms/prices",
            json!({"project": "tg", "country": "de", "price": "0.80"}),
        ),
        (
            Method::POST,
            "/sms/providers",
            json!({"name": "Fake upstream", "url": url, "key": UPSTREAM_KEY}),
        ),
    ] {
        let (status, v) = op(app, method, path, Some(body)).await;
        assert!(status == 200 || status == 201, "{path}: {status} {v}");
    }
}

pub(crate) fn allow_private() -> ApiConfig {
    ApiConfig {
        allow_private_upstreams: true,
        ..quiet_config()
    }
}

engine_test!(
    upstream_provider_serves_rentals_when_the_pool_is_empty,
    |db| {
        let (url, fake) = spawn_fake().await;
        let app = TestApp::spawn_with(db, allow_private()).await;
        upstream_setup(&app, &url).await;
        let key = app.buyer("buyer@test.local", "10").await;
        let k = key.as_str();
        let (status, providers) = op(&app, Method::GET, "/sms/providers", None).await;
        assert_eq!(status, 200);
        assert_eq!(providers[0]["name"], "Fake upstream");
        assert!(providers[0].get("key").is_none(), "{providers}");

        // A rental from upstream, its code found by polling, completed upstream.
        let v = add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await;
        let (order, phone) = only_order(&v);
        assert_eq!(v["orders"][0]["country"], "de");
        assert_eq!(phone, "+491511234501");
        assert_eq!(fake.calls(), vec!["getNumber tg 43"]);
        assert_eq!(balance(&app, k).await, "9.20");
        assert_eq!(
            sms_call(&app, k, "sms_code", order).await["status"],
            "waiting"
        );
        fake.set_status("9001", "STATUS_OK:55555");
        eventually("the upstream code", || async {
            sms_call(&app, k, "sms_code", order).await
                == json!({"status": "completed", "code": "55555", "sms_content": "55555"})
        })
        .await;
        let id = order.to_string();
        let (_, body) = handler_api(
            &app,
            &[
                ("api_key", k),
                ("action", "setStatus"),
                ("id", &id),
                ("status", "6"),
            ],
        )
        .await;
        assert_eq!(body, "ACCESS_ACTIVATION");
        eventually("setStatus 6 upstream", || async {
            fake.has_call("setStatus 9001 6")
        })
        .await;

        // The provider's refusals and garbage: the buyer gets "no numbers" and pays nothing.
        let orders_before = db.scalar("SELECT COUNT(*) FROM orders").await;
        for mode in [
            "NO_NUMBERS",
            "NO_BALANCE",
            "BAD_KEY",
            "html",
            "garbage",
            "empty",
            "BANNED:2030-01-01 00-00-00",
        ] {
            fake.set_mode(mode);
            let v = add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await;
            assert_eq!(v, json!({ "error": NO_NUMBERS }), "{mode}");
        }
        fake.set_mode("ok");
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM orders").await,
            orders_before
        );
        assert_eq!(balance(&app, k).await, "9.20");

        // All or nothing: three asked, two available upstream: both given back.
        *fake.left.lock().expect("lock") = Some(2);
        let v = add_sms(
            &app,
            k,
            &[("project_id", "tg"), ("country", "de"), ("quantity", "3")],
        )
        .await;
        assert_eq!(v, json!({ "error": NO_NUMBERS }));
        eventually("the unused numbers given back", || async {
            fake.has_call("setStatus 9002 8") && fake.has_call("setStatus 9003 8")
        })
        .await;
        assert_eq!(balance(&app, k).await, "9.20");
        *fake.left.lock().expect("lock") = None;

        // The pool comes first; what it lacks comes from upstream, in the same rental.
        let gateways = op(&app, Method::GET, "/sms/gateways", None).await.1;
        let gateway = gateways[0]["id"].as_str().expect("gateway").to_owned();
        op(
        &app,
        Method::POST,
        "/sms/numbers",
        Some(json!({"phone": "+493023125101", "country": "de", "gateway": gateway, "projects": ["tg"]})),
    )
    .await;
        let calls = fake.calls().len();
        let v = add_sms(
            &app,
            k,
            &[("project_id", "tg"), ("country", "de"), ("quantity", "2")],
        )
        .await;
        let phones: Vec<&str> = v["orders"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|o| o["phone"].as_str().expect("phone"))
            .collect();
        assert_eq!(phones, vec!["+493023125101", "+491511234504"]);
        assert_eq!(fake.calls().len(), calls + 1);
        assert_eq!(balance(&app, k).await, "7.60");

        // Cancel after two minutes: refunded here, cancelled upstream.
        let (cancel_order, _) =
            only_order(&add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await);
        let external = format!("{}", 9000 + fake.issued.load(Ordering::SeqCst));
        app.clock.advance(120_000);
        assert_eq!(
            app.call(&[
                ("key", k),
                ("action", "cancel"),
                ("orders", &cancel_order.to_string())
            ])
            .await,
            json!([{"order": cancel_order, "cancel": 1}])
        );
        eventually("setStatus 8 upstream", || async {
            fake.has_call(&format!("setStatus {external} 8"))
        })
        .await;

        // The provider cancels on its side: refunded here.
        let (gone, _) =
            only_order(&add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await);
        let external = format!("{}", 9000 + fake.issued.load(Ordering::SeqCst));
        fake.set_status(&external, "STATUS_CANCEL");
        eventually("the upstream cancel", || async {
            sms_call(&app, k, "sms_status", gone).await["status"] == "canceled"
        })
        .await;

        // Expiry: refunded here, cancelled upstream.
        let (expiring, _) =
            only_order(&add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await);
        let external = format!("{}", 9000 + fake.issued.load(Ordering::SeqCst));
        app.clock.advance(20 * 60 * 1000 + 1000);
        eventually("the expiry", || async {
            sms_call(&app, k, "sms_status", expiring).await["status"] == "expired"
        })
        .await;
        eventually("setStatus 8 upstream after expiry", || async {
            fake.has_call(&format!("setStatus {external} 8"))
        })
        .await;
        // Only the rental that delivered a code was paid for.
        eventually("every activation ended", || async {
            db.scalar(
                "SELECT COUNT(*) FROM sms_activations WHERE status IN ('active', 'code_received')",
            )
            .await
                == 0
        })
        .await;
        assert_eq!(balance(&app, k).await, "9.20");
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(private_upstreams_are_refused_unless_allowed, |db| {
    let (url, fake) = spawn_fake().await;
    let app = TestApp::spawn(db).await;
    upstream_setup(&app, &url).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let v = add_sms(&app, &key, &[("project_id", "tg"), ("country", "de")]).await;
    assert_eq!(v, json!({ "error": NO_NUMBERS }));
    assert!(fake.calls().is_empty(), "{:?}", fake.calls());
    assert_eq!(balance(&app, &key).await, "10.00");
    app.stop().await;
});

// The same upstream rental on a stepped node: each round of upstream SMS work is run by
// hand, so every call upstream is one the test asked for.
engine_test!(upstream_rental_work_steps_by_hand, |db| {
    let (url, fake) = spawn_fake().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    upstream_setup(&app, &url).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let k = key.as_str();
    let (order, _) =
        only_order(&add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await);
    assert_eq!(fake.calls(), vec!["getNumber tg 43"]);
    // No code upstream yet: a poll, and the buyer still waits.
    app.clock.advance(1_000);
    assert_eq!(app.run_sms_upstream().await, 1, "the poll");
    assert_eq!(
        sms_call(&app, k, "sms_code", order).await["status"],
        "waiting"
    );
    fake.set_status("9001", "STATUS_OK:55555");
    app.clock.advance(1_000);
    assert_eq!(app.run_sms_upstream().await, 1, "the poll");
    assert_eq!(
        sms_call(&app, k, "sms_code", order).await,
        json!({"status": "completed", "code": "55555", "sms_content": "55555"})
    );
    assert!(!fake.has_call("setStatus 9001 6"));
    let (_, body) = handler_api(
        &app,
        &[
            ("api_key", k),
            ("action", "setStatus"),
            ("id", &order.to_string()),
            ("status", "6"),
        ],
    )
    .await;
    assert_eq!(body, "ACCESS_ACTIVATION");
    app.clock.advance(1_000);
    app.run_sms_upstream().await;
    assert!(fake.has_call("setStatus 9001 6"), "{:?}", fake.calls());
    db.assert_audit_clean().await;
    app.stop().await;
});

// A buyer's cancel that arrives while another node's poll of the rental is in flight
// wins: the poll's end only lets the job go, and the cancel reaches the provider next.
engine_test!(a_cancel_during_an_upstream_poll_is_sent_after_it, |db| {
    use souk_store::{UpstreamAction, UpstreamNext};
    let (url, fake) = spawn_fake().await;
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    upstream_setup(&app, &url).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let k = key.as_str();
    let (order, _) =
        only_order(&add_sms(&app, k, &[("project_id", "tg"), ("country", "de")]).await);
    app.clock.advance(121_000);
    let now = app.state.now();
    let polls = app
        .store
        .sms_claim_upstream("other-node", now, 150_000, 10)
        .await
        .expect("claim");
    assert_eq!(polls.len(), 1);
    assert_eq!(polls[0].action, UpstreamAction::Poll);
    let (_, body) = handler_api(
        &app,
        &[
            ("api_key", k),
            ("action", "setStatus"),
            ("id", &order.to_string()),
            ("status", "8"),
        ],
    )
    .await;
    assert_eq!(body, "ACCESS_CANCEL");
    // The poll ends as if nothing had happened: it would poll again in a minute.
    app.store
        .sms_upstream_release(
            &polls[0],
            "other-node",
            UpstreamNext::Then(UpstreamAction::Poll, now + 60_000),
            None,
            now,
        )
        .await
        .expect("release");
    assert!(!fake.has_call("setStatus 9001 8"));
    assert_eq!(app.run_sms_upstream().await, 1, "the cancel");
    assert!(fake.has_call("setStatus 9001 8"), "{:?}", fake.calls());
    app.clock.advance(3_600_000);
    assert_eq!(app.run_sms_upstream().await, 0, "nothing more upstream");
    db.assert_audit_clean().await;
    app.stop().await;
});
