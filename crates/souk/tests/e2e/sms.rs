//! SMS verification (SPEC 10) over HTTP on both engines: the catalogue in the seed's
//! shapes, renting, signed gateway webhooks, codes through `sms_code`, `sms_status`,
//! `status` and `getStatus`, the exactly-once expiry refund under a moved clock, the
//! 2-minute cancel rule, refused webhooks that change nothing, a race for five numbers,
//! and the operator's side (API, `souk admin sms`, `--demo`).

use std::future::Future;
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use souk_core::clock::{iso_millis, Clock};
use souk_core::early_cancel::NOT_AVAILABLE;
use souk_core::sms::sign;
use souk_core::{Money, Text};
use souk_store::{NewSmsCountry, NewSmsNumber, NewSmsProject, Store};

use crate::engine_test;
use crate::harness::{ServerProcess, TestApp, TestDb, ADMIN_TOKEN};

pub const US1: &str = "+12025550101";
pub const US2: &str = "+12025550102";
pub const GB1: &str = "+447700900101";
pub const NO_NUMBERS: &str = "No numbers available, try again later";

/// The SMS catalogue of these tests, made through the operator API: Telegram in the UK
/// (0.40, one number) and the USA (0.50, two numbers), OpenAI in the USA (0.75, one
/// number), all numbers on gateway A.
pub struct SmsFixture {
    pub tg: String,
    pub dr: String,
    pub gateway: String,
    pub secret: String,
}

/// A call to the operator API: (HTTP status, JSON body or null).
pub async fn op(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app
        .http
        .request(method, format!("{}/api/operator/v1{path}", app.url))
        .bearer_auth(ADMIN_TOKEN);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, value)
}

async fn op_ok(app: &TestApp, method: Method, path: &str, body: Value) -> Value {
    let (status, value) = op(app, method, path, Some(body)).await;
    assert!(status == 200 || status == 201, "{path}: {status} {value}");
    value
}

pub async fn sms_fixture(app: &TestApp) -> SmsFixture {
    op_ok(
        app,
        Method::PUT,
        "/sms/countries/us",
        json!({"name": "United States", "translations": {"ru": "США"}, "activate_id": 187}),
    )
    .await;
    op_ok(
        app,
        Method::PUT,
        "/sms/countries/GB",
        json!({"name": "United Kingdom", "translations": {"ru": "Великобритания"}, "activate_id": 16}),
    )
    .await;
    let tg = op_ok(
        app,
        Method::POST,
        "/sms/projects",
        json!({"code": "tg", "name": "Telegram", "translations": {"ru": "Телеграм"}}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let dr = op_ok(
        app,
        Method::POST,
        "/sms/projects",
        json!({"code": "dr", "name": "OpenAI / ChatGPT"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for (project, country, price) in [
        ("tg", "gb", "0.40"),
        ("tg", "us", "0.50"),
        ("dr", "us", "0.75"),
    ] {
        op_ok(
            app,
            Method::PUT,
            "/sms/prices",
            json!({"project": project, "country": country, "price": price}),
        )
        .await;
    }
    let gateway = op_ok(
        app,
        Method::POST,
        "/sms/gateways",
        json!({"name": "Gateway A"}),
    )
    .await;
    let (gateway, secret) = (
        gateway["id"].as_str().expect("id").to_owned(),
        gateway["secret"].as_str().expect("secret").to_owned(),
    );
    for (phone, country, projects) in [
        (US1, "us", json!(["tg", "dr"])),
        (US2, "us", json!(["tg"])),
        (GB1, "gb", json!(["tg"])),
    ] {
        op_ok(
            app,
            Method::POST,
            "/sms/numbers",
            json!({"phone": phone, "country": country, "gateway": gateway, "projects": projects}),
        )
        .await;
    }
    SmsFixture {
        tg,
        dr,
        gateway,
        secret,
    }
}

/// POSTs a webhook body signed with `secret` at `ts` (unix seconds).
pub async fn push_signed(
    app: &TestApp,
    gateway: &str,
    secret: &str,
    body: &str,
    ts: i64,
) -> (u16, Value) {
    let signature = sign(secret.as_bytes(), ts, body.as_bytes());
    push_raw(
        app,
        gateway,
        body,
        Some((ts.to_string(), format!("sha256={signature}"))),
    )
    .await
}

pub async fn push_raw(
    app: &TestApp,
    gateway: &str,
    body: &str,
    headers: Option<(String, String)>,
) -> (u16, Value) {
    let content_type = if body.starts_with('{') || body.starts_with('[') {
        "application/json"
    } else {
        "application/x-www-form-urlencoded"
    };
    let mut request = app
        .http
        .post(format!("{}/webhooks/sms/{gateway}", app.url))
        .header("content-type", content_type)
        .body(body.to_owned());
    if let Some((ts, sig)) = headers {
        request = request
            .header("X-Souk-Timestamp", ts)
            .header("X-Souk-Signature", sig);
    }
    let response = request.send().await.expect("send");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json"))
}

/// A signed SMS for `phone` received now (by the app's clock).
pub async fn push_sms(app: &TestApp, f: &SmsFixture, phone: &str, text: &str) -> (u16, Value) {
    let now = app.clock.now_ms();
    let body =
        json!({"phone": phone, "from": "Telegram", "text": text, "received_at": now}).to_string();
    push_signed(app, &f.gateway, &f.secret, &body, now / 1000).await
}

/// Waits (up to 10 s) for `check` to hold.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

pub async fn balance(app: &TestApp, key: &str) -> Value {
    app.call(&[("key", key), ("action", "balance")]).await["balance"].clone()
}

pub async fn add_sms(app: &TestApp, key: &str, extra: &[(&str, &str)]) -> Value {
    let mut params = vec![("key", key), ("action", "add_sms")];
    params.extend_from_slice(extra);
    app.call(&params).await
}

/// The one order of a successful `add_sms`.
pub fn only_order(v: &Value) -> (i64, String) {
    let orders = v["orders"]
        .as_array()
        .unwrap_or_else(|| panic!("no orders in {v}"));
    assert_eq!(orders.len(), 1, "{v}");
    (
        orders[0]["order"].as_i64().expect("order"),
        orders[0]["phone"].as_str().expect("phone").to_owned(),
    )
}

pub async fn sms_call(app: &TestApp, key: &str, action: &str, order: i64) -> Value {
    app.call(&[
        ("key", key),
        ("action", action),
        ("order", &order.to_string()),
    ])
    .await
}

pub async fn handler_api(app: &TestApp, params: &[(&str, &str)]) -> (String, String) {
    let response = app
        .http
        .get(format!("{}/stubs/handler_api.php", app.url))
        .query(params)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200, "{params:?}");
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (content_type, response.text().await.expect("text"))
}

async fn expires_at(db: &TestDb, order: i64) -> i64 {
    db.scalar(&format!(
        "SELECT expires_at FROM sms_activations WHERE order_id = {order}"
    ))
    .await
}

async fn created_at(db: &TestDb, order: i64) -> i64 {
    db.scalar(&format!(
        "SELECT created_at FROM sms_activations WHERE order_id = {order}"
    ))
    .await
}

engine_test!(catalogue_in_the_seed_shapes, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let v = app
        .call(&[("key", &key), ("action", "sms_countries"), ("lang", "ru")])
        .await;
    assert_eq!(
        v,
        json!([
            {"country_code": "gb", "country_name": "Великобритания"},
            {"country_code": "us", "country_name": "США"}
        ])
    );
    let v = app.call(&[("key", &key), ("action", "sms_projects")]).await;
    assert_eq!(
        v,
        json!([
            {"project_id": f.tg, "name": "Telegram", "price": "0.4000", "country_id": "gb", "country_title": "United Kingdom"},
            {"project_id": f.tg, "name": "Telegram", "price": "0.5000", "country_id": "us", "country_title": "United States"},
            {"project_id": f.dr, "name": "OpenAI / ChatGPT", "price": "0.7500", "country_id": "us", "country_title": "United States"}
        ])
    );
    let v = app
        .call(&[
            ("key", &key),
            ("action", "sms_projects"),
            ("country", "US"),
            ("lang", "RU"),
        ])
        .await;
    assert_eq!(
        v,
        json!([
            {"project_id": f.tg, "name": "Телеграм", "price": "0.5000", "country_id": "us", "country_title": "США"},
            {"project_id": f.dr, "name": "OpenAI / ChatGPT", "price": "0.7500", "country_id": "us", "country_title": "США"}
        ])
    );
    for country in ["zz", "usa"] {
        let v = app
            .call(&[
                ("key", &key),
                ("action", "sms_projects"),
                ("country", country),
            ])
            .await;
        assert_eq!(v, json!([]));
    }
    let v = app
        .call(&[("key", &key), ("action", "sms_countries"), ("lang", "xx")])
        .await;
    assert_eq!(v, json!({"error": "Unsupported language"}));
    let v = app
        .call(&[("key", "nope"), ("action", "sms_projects")])
        .await;
    assert_eq!(v, json!({"error": "Invalid API key"}));
    // The operator sees the same catalogue, with translations.
    let (status, v) = op(&app, Method::GET, "/sms/countries", None).await;
    assert_eq!(status, 200);
    assert_eq!(
        v[1],
        json!({"code": "us", "name": "United States", "translations": {"ru": "США"}, "activate_id": 187, "active": true})
    );
    let (status, v) = op(&app, Method::GET, "/sms/numbers", None).await;
    assert_eq!(status, 200);
    assert_eq!(v.as_array().map(Vec::len), Some(3));
    assert_eq!(v[0]["phone"], US1);
    assert_eq!(v[0]["projects"], json!(["dr", "tg"]));
    // A project leaves the catalogue when deactivated.
    op_ok(
        &app,
        Method::PATCH,
        "/sms/projects/dr",
        json!({"active": false}),
    )
    .await;
    let v = app
        .call(&[("key", &key), ("action", "sms_projects"), ("country", "us")])
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(1));
    // The operator API wants its token.
    let response = app
        .http
        .get(format!("{}/api/operator/v1/sms/countries", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 401);
    app.stop().await;
});

engine_test!(add_sms_validates_before_touching_money, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let poor = app.buyer("poor@test.local", "0.10").await;
    for (params, error) in [
        (vec![], "Project ID is required"),
        (
            vec![("project_id", "507f1f77bcf86cd799439011")],
            "Project not found",
        ),
        (
            vec![("project_id", "tg"), ("quantity", "11")],
            "Quantity must be between 1 and 10",
        ),
        (
            vec![("project_id", "tg"), ("quantity", "0")],
            "Quantity must be between 1 and 10",
        ),
        (
            vec![("project_id", "tg"), ("quantity", "x")],
            "Quantity must be a positive integer",
        ),
        (
            vec![("project_id", "tg"), ("country", "fr")],
            "Country not found",
        ),
        (
            vec![("project_id", f.dr.as_str()), ("country", "gb")],
            "This project is not available in this country",
        ),
        (
            vec![("project_id", "tg"), ("phone", "call me")],
            "Invalid phone",
        ),
        (
            vec![("project_id", "tg"), ("phone", US1)],
            "Phone number is not available for this project",
        ),
        (
            vec![("project_id", "tg"), ("phone", US1), ("quantity", "2")],
            "Only one number can be re-rented at a time",
        ),
    ] {
        let v = add_sms(&app, &key, &params).await;
        assert_eq!(v, json!({ "error": error }), "{params:?}");
    }
    let v = add_sms(&app, &poor, &[("project_id", &f.tg)]).await;
    assert_eq!(v, json!({"error": "Insufficient balance"}));
    // All or nothing: three Telegram numbers exist, four are refused whole.
    let v = add_sms(&app, &key, &[("project_id", "tg"), ("quantity", "4")]).await;
    assert_eq!(v, json!({ "error": NO_NUMBERS }));
    assert_eq!(balance(&app, &key).await, "10.00");
    assert_eq!(balance(&app, &poor).await, "0.10");
    assert_eq!(db.scalar("SELECT COUNT(*) FROM orders").await, 0);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM sms_numbers WHERE current_order IS NOT NULL")
            .await,
        0
    );
    // Three at once, cheapest country first.
    let v = add_sms(&app, &key, &[("project_id", "tg"), ("quantity", "3")]).await;
    let orders = v["orders"].as_array().expect("orders");
    let got: Vec<(&str, &str, &str)> = orders
        .iter()
        .map(|o| {
            (
                o["phone"].as_str().expect("phone"),
                o["country"].as_str().expect("country"),
                o["status"].as_str().expect("status"),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (GB1, "gb", "active"),
            (US1, "us", "active"),
            (US2, "us", "active")
        ]
    );
    assert_eq!(balance(&app, &key).await, "8.60");
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(rent_receive_a_signed_sms_and_read_the_code, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let v = add_sms(&app, &key, &[("project_id", &f.tg)]).await;
    let (order, phone) = only_order(&v);
    assert_eq!(
        v,
        json!({"orders": [{"order": order, "phone": GB1, "country": "gb", "status": "active"}]})
    );
    assert_eq!(balance(&app, &key).await, "9.60");
    let expires = expires_at(db, order).await;
    assert_eq!(expires - created_at(db, order).await, 20 * 60 * 1000);
    assert_eq!(
        sms_call(&app, &key, "sms_code", order).await,
        json!({"status": "waiting", "message": "Waiting for code"})
    );
    assert_eq!(
        sms_call(&app, &key, "sms_status", order).await,
        json!({"status": "active", "phone": GB1, "code": null, "charge": "0.4000", "currency": "USD",
               "expires_at": iso_millis(expires)})
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &order.to_string())
        ])
        .await,
        json!({"status": "In progress", "charge": "0.4000", "start_count": 0, "remains": 1, "currency": "USD",
               "entityType": "sms", "autoDelivery": true, "phone": GB1, "code": null})
    );
    let (status, v) = push_sms(
        &app,
        &f,
        &phone,
        "Telegram code: 48213. Do not give it to anyone",
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["order"], order);
    assert_eq!(v["code"], "48213");
    assert_eq!(
        sms_call(&app, &key, "sms_code", order).await,
        json!({"status": "completed", "code": "48213",
               "sms_content": "Telegram code: 48213. Do not give it to anyone"})
    );
    assert_eq!(
        sms_call(&app, &key, "sms_status", order).await,
        json!({"status": "code_received", "phone": GB1, "code": "48213", "charge": "0.4000", "currency": "USD",
               "expires_at": iso_millis(expires)})
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("orders", &order.to_string())
        ])
        .await,
        json!({ order.to_string(): {"status": "Completed", "charge": "0.4000", "start_count": 0, "remains": 0,
               "currency": "USD", "entityType": "sms", "autoDelivery": true, "phone": GB1, "code": "48213"} })
    );
    // The activation is looked up by its order alone and its owner checked after: another
    // buyer gets neither the order nor its activation.
    let stranger_key = app.buyer("stranger@test.local", "1").await;
    assert_eq!(
        app.call(&[
            ("key", &stranger_key),
            ("action", "status"),
            ("orders", &order.to_string())
        ])
        .await,
        json!({ order.to_string(): {"error": "Incorrect order ID"} })
    );
    let owner = app.user_id("buyer@test.local").await;
    let stranger = app.user_id("stranger@test.local").await;
    let mine = app.store.sms_activations_of(&owner, &[order]).await;
    assert_eq!(mine.expect("read").len(), 1);
    let theirs = app.store.sms_activations_of(&stranger, &[order]).await;
    assert!(theirs.expect("read").is_empty());
    let id = order.to_string();
    let (content_type, body) = handler_api(
        &app,
        &[("api_key", &key), ("action", "getStatus"), ("id", &id)],
    )
    .await;
    assert_eq!(
        (content_type.as_str(), body.as_str()),
        ("text/plain; charset=utf-8", "STATUS_OK:48213")
    );
    // The newest SMS gives the code.
    let (status, v) = push_sms(&app, &f, &phone, "Your login code is 99 01 77 — again").await;
    assert_eq!((status, v["code"].clone()), (200, json!("990177")));
    assert_eq!(
        sms_call(&app, &key, "sms_code", order).await["code"],
        "990177"
    );
    // Another buyer cannot see it, and nothing else is an SMS order.
    let other = app.buyer("other@test.local", "10").await;
    for action in ["sms_code", "sms_status"] {
        assert_eq!(
            sms_call(&app, &other, action, order).await,
            json!({"error": "Order not found"})
        );
        assert_eq!(
            app.call(&[("key", &key), ("action", action)]).await,
            json!({"error": "Order ID is required"})
        );
    }
    // The UK number stays with the activation until its lifetime ends: the next
    // Telegram number comes from the USA.
    let (_, phone2) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
    assert_eq!(phone2, US1);
    assert_eq!(db.scalar("SELECT COUNT(*) FROM sms_messages").await, 2);
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(expiry_refunds_exactly_once_on_every_node, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    // A shorter lifetime through the setting; then back to the default.
    let (status, v) = op(&app, Method::GET, "/sms/settings", None).await;
    assert_eq!((status, v), (200, json!({"lifetime_minutes": 20})));
    op_ok(
        &app,
        Method::PUT,
        "/sms/settings",
        json!({"lifetime_minutes": 5}),
    )
    .await;
    let (short, _) =
        only_order(&add_sms(&app, &key, &[("project_id", "tg"), ("country", "gb")]).await);
    assert_eq!(
        expires_at(db, short).await - created_at(db, short).await,
        5 * 60 * 1000
    );
    op_ok(
        &app,
        Method::PUT,
        "/sms/settings",
        json!({"lifetime_minutes": 20}),
    )
    .await;
    let v = add_sms(&app, &key, &[("project_id", "tg"), ("quantity", "2")]).await;
    let orders: Vec<i64> = v["orders"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["order"].as_i64().expect("order"))
        .collect();
    assert_eq!(orders.len(), 2, "{v}");
    assert_eq!(balance(&app, &key).await, "8.60");
    // A second node on the same database, with its own workers, and direct sweeps.
    let second = TestApp::spawn(db).await;
    second.clock.advance(5 * 60 * 1000 + 1000);
    app.clock.advance(5 * 60 * 1000 + 1000);
    eventually("the 5-minute activation to expire", || async {
        sms_call(&app, &key, "sms_code", short).await["status"] == "expired"
    })
    .await;
    assert_eq!(
        sms_call(&app, &key, "sms_code", orders[0]).await["status"],
        "waiting"
    );
    second.clock.advance(15 * 60 * 1000);
    app.clock.advance(15 * 60 * 1000);
    let now = app.clock.now_ms();
    let sweeps: Vec<Store> = futures::future::join_all((0..4).map(|_| db.store())).await;
    let results = futures::future::join_all(sweeps.iter().map(|s| s.sms_sweep(now, 100))).await;
    for r in results {
        r.expect("sweep");
    }
    for order in &orders {
        eventually("the activation to expire", || async {
            sms_call(&app, &key, "sms_code", *order).await["status"] == "expired"
        })
        .await;
    }
    assert_eq!(
        sms_call(&app, &key, "sms_code", orders[1]).await,
        json!({"status": "expired", "message": "No SMS arrived in time; the order was refunded"})
    );
    let v = sms_call(&app, &key, "sms_status", orders[1]).await;
    assert_eq!(
        (v["status"].clone(), v["charge"].clone()),
        (json!("expired"), json!("0.0000"))
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &orders[1].to_string())
        ])
        .await["status"],
        "Canceled"
    );
    assert_eq!(balance(&app, &key).await, "10.00");
    // Exactly one refund per activation, whoever swept.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'refund'")
            .await,
        3
    );
    assert_eq!(
        db.scalar("SELECT COUNT(DISTINCT order_id) FROM ledger WHERE kind = 'refund'")
            .await,
        3
    );
    // A late SMS is kept and changes nothing.
    let (status, v) = push_sms(&app, &f, GB1, "Telegram code: 11111").await;
    assert_eq!(
        (status, v["order"].clone(), v["code"].clone()),
        (200, Value::Null, Value::Null)
    );
    assert_eq!(balance(&app, &key).await, "10.00");
    // The numbers are free again.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM sms_numbers WHERE current_order IS NOT NULL")
            .await,
        0
    );
    for s in sweeps {
        s.close().await;
    }
    second.stop().await;
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(
    a_code_completes_at_the_end_of_the_lifetime_without_refund,
    |db| {
        // Stepped: the test runs the expiry sweep itself.
        let app = TestApp::builder(db).spawn().await;
        let f = sms_fixture(&app).await;
        let key = app.buyer("buyer@test.local", "10").await;
        let (order, phone) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
        push_sms(&app, &f, &phone, "code 4321").await;
        assert_eq!(app.run_sms_sweep().await, 0, "nothing ends before its time");
        app.clock.advance(20 * 60 * 1000 + 1000);
        assert_eq!(app.run_sms_sweep().await, 1, "the sweep ends it");
        assert_eq!(
            sms_call(&app, &key, "sms_status", order).await["status"],
            "completed",
            "the activation completed"
        );
        assert_eq!(
            sms_call(&app, &key, "sms_code", order).await["code"],
            "4321"
        );
        assert_eq!(balance(&app, &key).await, "9.60");
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM sms_numbers WHERE current_order IS NOT NULL")
                .await,
            0
        );
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(cancel_after_two_minutes_and_before_a_code, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let (order, phone) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
    let (coded, coded_phone) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
    push_sms(&app, &f, &coded_phone, "Telegram code: 7777").await;
    let id = order.to_string();
    let eligible_after = iso_millis(created_at(db, order).await + 120_000);
    assert_eq!(
        app.call(&[("key", &key), ("action", "cancel"), ("orders", &id)])
            .await,
        json!([{"order": order, "cancel": {"error": NOT_AVAILABLE, "reason": "BEFORE_MIN_WAIT",
                "eligibleAfter": eligible_after}}])
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "allowcancel"), ("orders", &id)])
            .await,
        json!([{"order": order, "allowcancel": 0, "error": NOT_AVAILABLE, "reason": "BEFORE_MIN_WAIT",
                "eligibleAfter": eligible_after}])
    );
    let (_, body) = handler_api(
        &app,
        &[
            ("api_key", &key),
            ("action", "setStatus"),
            ("id", &id),
            ("status", "8"),
        ],
    )
    .await;
    assert_eq!(body, "EARLY_CANCEL_DENIED");
    assert_eq!(balance(&app, &key).await, "9.10");
    app.clock.advance(120_000);
    assert_eq!(
        app.call(&[("key", &key), ("action", "allowcancel"), ("orders", &id)])
            .await,
        json!([{"order": order, "allowcancel": 1, "refundAmount": 0.4}])
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "cancel"),
            ("orders", &format!("{id},{coded}"))
        ])
        .await,
        json!([
            {"order": order, "cancel": 1},
            {"order": coded, "cancel": {"error": NOT_AVAILABLE, "reason": "FULLY_DELIVERED"}}
        ])
    );
    assert_eq!(balance(&app, &key).await, "9.50");
    assert_eq!(
        sms_call(&app, &key, "sms_code", order).await,
        json!({"status": "canceled", "message": "The order was canceled and refunded"})
    );
    assert_eq!(
        app.call(&[("key", &key), ("action", "status"), ("order", &id)])
            .await,
        json!({"status": "Canceled", "charge": "0.0000", "start_count": 0, "remains": 1, "currency": "USD",
               "entityType": "sms", "autoDelivery": true, "phone": phone, "code": null})
    );
    // Once: a second cancel is refused and refunds nothing.
    assert_eq!(
        app.call(&[("key", &key), ("action", "cancel"), ("orders", &id)])
            .await,
        json!([{"order": order, "cancel": {"error": NOT_AVAILABLE, "reason": "STATUS_NOT_ELIGIBLE"}}])
    );
    assert_eq!(balance(&app, &key).await, "9.50");
    // An SMS for the canceled activation is kept and changes nothing; the number is
    // free for the next buyer.
    let (_, v) = push_sms(&app, &f, &phone, "Telegram code: 1212").await;
    assert_eq!(v["order"], Value::Null);
    let (_, again) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
    assert_eq!(again, phone);
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(
    bad_signatures_replays_and_unknown_phones_change_nothing,
    |db| {
        let app = TestApp::spawn(db).await;
        let f = sms_fixture(&app).await;
        let key = app.buyer("buyer@test.local", "10").await;
        let (order, phone) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
        let now = app.clock.now_ms();
        let ts = now / 1000;
        let body = json!({"phone": phone, "from": "Telegram", "text": "Telegram code: 31337", "received_at": now}).to_string();
        let good_sig = format!("sha256={}", sign(f.secret.as_bytes(), ts, body.as_bytes()));
        let refused = [
            (
                push_raw(&app, &f.gateway, &body, None).await,
                401,
                "Missing signature",
            ),
            (
                push_signed(&app, &f.gateway, "not-the-secret-at-all", &body, ts).await,
                401,
                "Invalid signature",
            ),
            (
                push_raw(
                    &app,
                    &f.gateway,
                    &body.replace("31337", "31338"),
                    Some((ts.to_string(), good_sig.clone())),
                )
                .await,
                401,
                "Invalid signature",
            ),
            (
                push_raw(
                    &app,
                    &f.gateway,
                    &body,
                    Some(((ts + 1).to_string(), good_sig.clone())),
                )
                .await,
                401,
                "Invalid signature",
            ),
            (
                push_signed(&app, &f.gateway, &f.secret, &body, ts - 302).await,
                401,
                "Stale timestamp",
            ),
            (
                push_signed(&app, &f.gateway, &f.secret, &body, ts + 302).await,
                401,
                "Stale timestamp",
            ),
            (
                push_signed(&app, "507f1f77bcf86cd799439011", &f.secret, &body, ts).await,
                404,
                "Gateway not found",
            ),
        ];
        for ((status, v), want_status, error) in refused {
            assert_eq!((status, v), (want_status, json!({ "error": error })));
        }
        // A gateway may only speak for its own numbers.
        let other = op_ok(
            &app,
            Method::POST,
            "/sms/gateways",
            json!({"name": "Gateway B"}),
        )
        .await;
        let (other_id, other_secret) = (
            other["id"].as_str().expect("id").to_owned(),
            other["secret"].as_str().expect("secret").to_owned(),
        );
        let (status, v) = push_signed(&app, &other_id, &other_secret, &body, ts).await;
        assert_eq!(
            (status, v["order"].clone(), v["code"].clone()),
            (200, Value::Null, Value::Null)
        );
        // Unknown phones, free numbers, and SMS received before the rental are kept only.
        for (p, received) in [("+15550009999", now), (US2, now), (&phone, now - 60_000)] {
            let b = json!({"phone": p, "text": "code 2468", "received_at": received}).to_string();
            let (status, v) = push_signed(&app, &f.gateway, &f.secret, &b, ts).await;
            assert_eq!(status, 200, "{v}");
            assert_eq!(
                (v["accepted"].clone(), v["order"].clone(), v["code"].clone()),
                (json!(true), Value::Null, Value::Null)
            );
        }
        assert_eq!(
            sms_call(&app, &key, "sms_code", order).await,
            json!({"status": "waiting", "message": "Waiting for code"})
        );
        assert_eq!(db.scalar("SELECT COUNT(*) FROM sms_messages").await, 4);
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM sms_messages WHERE order_id IS NOT NULL")
                .await,
            0
        );
        assert_eq!(
            db.scalar("SELECT COUNT(*) FROM sms_messages WHERE phone = '+15550009999'")
                .await,
            1
        );
        // Bad bodies.
        for (b, error) in [
            (json!({"text": "x"}).to_string(), "phone is required"),
            (
                json!({"phone": "abc", "text": "x"}).to_string(),
                "Invalid phone number \"abc\"",
            ),
            (json!({"phone": phone}).to_string(), "text is required"),
            ("[1]".to_owned(), "JSON body must be an object"),
        ] {
            let (status, v) = push_signed(&app, &f.gateway, &f.secret, &b, ts).await;
            assert_eq!((status, v), (400, json!({ "error": error })));
        }
        // The good one, once; its replay is refused.
        let (status, v) = push_raw(
            &app,
            &f.gateway,
            &body,
            Some((ts.to_string(), good_sig.clone())),
        )
        .await;
        assert_eq!(
            (status, v["order"].clone(), v["code"].clone()),
            (200, json!(order), json!("31337"))
        );
        let (status, v) = push_raw(
            &app,
            &f.gateway,
            &body,
            Some((ts.to_string(), good_sig.clone())),
        )
        .await;
        assert_eq!((status, v), (409, json!({"error": "Replayed webhook"})));
        assert_eq!(db.scalar("SELECT COUNT(*) FROM sms_messages").await, 5);
        // A form body is accepted too.
        let form = format!("phone=%2B447700900101&sender=Bank&message=PIN+5555&timestamp={ts}");
        let (status, v) = push_signed(&app, &f.gateway, &f.secret, &form, ts).await;
        assert_eq!(status, 200, "{v}");
        // A disabled gateway is refused.
        op_ok(
            &app,
            Method::PATCH,
            &format!("/sms/gateways/{}", f.gateway),
            json!({"active": false}),
        )
        .await;
        let (status, _) = push_sms(&app, &f, &phone, "code 9999").await;
        assert_eq!(status, 404);
        assert_eq!(balance(&app, &key).await, "9.60");
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(twenty_buyers_race_for_five_numbers, |db| {
    let store = db.store().await;
    store
        .upsert_sms_country(&NewSmsCountry {
            code: "us".into(),
            name: Text::new("United States"),
            activate_id: Some(187),
            active: true,
        })
        .await
        .expect("country");
    let project = store
        .create_sms_project(
            &NewSmsProject {
                code: "ds".into(),
                name: Text::new("Discord"),
            },
            0,
        )
        .await
        .expect("project");
    store
        .set_sms_price("ds", "us", Some(Money::parse("0.35").expect("price")))
        .await
        .expect("price");
    for n in 0..5 {
        store
            .add_sms_number(
                &NewSmsNumber {
                    phone: format!("+1202555020{n}"),
                    country: "us".into(),
                    gateway_id: None,
                    projects: vec!["ds".into()],
                },
                0,
            )
            .await
            .expect("number");
    }
    let mut buyers = Vec::new();
    for i in 0..20 {
        buyers.push(
            store
                .create_user(
                    &souk_store::NewUser {
                        email: format!("racer{i}@test.local"),
                        name: String::new(),
                        password_hash: None,
                        is_supplier: false,
                        initial_balance: Money::parse("1").expect("amount"),
                    },
                    0,
                )
                .await
                .expect("buyer"),
        );
    }
    let nodes = [
        ServerProcess::spawn(db).await,
        ServerProcess::spawn(db).await,
    ];
    let http = reqwest::Client::new();
    let results = futures::future::join_all(buyers.iter().enumerate().map(|(i, (_, key))| {
        let (http, api, project) = (http.clone(), nodes[i % 2].api(), project.clone());
        async move {
            http.post(api)
                .form(&[
                    ("key", key.as_str()),
                    ("action", "add_sms"),
                    ("project_id", &project),
                ])
                .send()
                .await
                .expect("send")
                .json::<Value>()
                .await
                .expect("json")
        }
    }))
    .await;
    let mut phones: Vec<String> = results
        .iter()
        .filter_map(|v| v["orders"][0]["phone"].as_str().map(str::to_owned))
        .collect();
    let lost = results.iter().filter(|v| v["error"] == NO_NUMBERS).count();
    assert_eq!((phones.len(), lost), (5, 15), "{results:?}");
    phones.sort();
    phones.dedup();
    assert_eq!(phones.len(), 5, "a number was rented twice");
    for ((user, _), result) in buyers.iter().zip(&results) {
        let balance = store.balance(user).await.expect("balance").display2();
        let expected = if result.get("orders").is_some() {
            "0.65"
        } else {
            "1.00"
        };
        assert_eq!(balance, expected);
    }
    assert_eq!(
        db.scalar(
            "SELECT COUNT(DISTINCT current_order) FROM sms_numbers WHERE current_order IS NOT NULL"
        )
        .await,
        5
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM orders WHERE kind = 'sms'")
            .await,
        5
    );
    for node in nodes {
        node.stop();
    }
    store.close().await;
    db.assert_audit_clean().await;
});

engine_test!(rerent_the_same_number_with_phone, |db| {
    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let key = app.buyer("buyer@test.local", "10").await;
    let other = app.buyer("other@test.local", "10").await;
    let (order, phone) = only_order(&add_sms(&app, &key, &[("project_id", "tg")]).await);
    assert_eq!(phone, GB1);
    // Busy while the first activation holds it.
    assert_eq!(
        add_sms(
            &app,
            &key,
            &[("project_id", "tg"), ("phone", "+44 7700 900101")]
        )
        .await,
        json!({"error": "Phone number is busy, try again later"})
    );
    push_sms(&app, &f, &phone, "code 8080").await;
    let (_, body) = handler_api(
        &app,
        &[
            ("api_key", &key),
            ("action", "setStatus"),
            ("id", &order.to_string()),
            ("status", "6"),
        ],
    )
    .await;
    assert_eq!(body, "ACCESS_ACTIVATION");
    // Only its former renter may ask for it by phone, and only for that project.
    assert_eq!(
        add_sms(&app, &other, &[("project_id", "tg"), ("phone", GB1)]).await,
        json!({"error": "Phone number is not available for this project"})
    );
    assert_eq!(
        add_sms(
            &app,
            &key,
            &[("project_id", "tg"), ("phone", GB1), ("country", "us")]
        )
        .await,
        json!({"error": "Phone number is not available for this project"})
    );
    let v = add_sms(&app, &key, &[("project_id", "tg"), ("phone", GB1)]).await;
    let (again, phone2) = only_order(&v);
    assert_eq!(phone2, GB1);
    assert_ne!(again, order);
    assert_eq!(
        sms_call(&app, &key, "sms_code", again).await["status"],
        "waiting"
    );
    // The old activation's code is not the new one's.
    push_sms(&app, &f, GB1, "code 9191").await;
    assert_eq!(
        sms_call(&app, &key, "sms_code", again).await["code"],
        "9191"
    );
    assert_eq!(
        sms_call(&app, &key, "sms_code", order).await["code"],
        "8080"
    );
    assert_eq!(balance(&app, &key).await, "9.20");
    db.assert_audit_clean().await;
    app.stop().await;
});

fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(crate::harness::DATA_KEY))
        .env("SOUK_LOG", "warn")
        .current_dir(dir.path())
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn souk_ok(db: &TestDb, args: &[&str]) -> String {
    let (ok, out, err) = souk(db, args);
    assert!(ok, "souk {args:?}: {err}");
    out
}

engine_test!(admin_sms_commands_and_inject, |db| {
    souk_ok(db, &["migrate"]);
    souk_ok(
        db,
        &[
            "admin",
            "sms",
            "country",
            "set",
            "--code",
            "US",
            "--name",
            "United States",
            "--activate-id",
            "187",
            "--translation",
            "ru=США",
        ],
    );
    let project = souk_ok(
        db,
        &[
            "admin",
            "sms",
            "project",
            "add",
            "--code",
            "tg",
            "--name",
            "Telegram",
            "--translation",
            "ru=Телеграм",
        ],
    );
    let project = project.trim().to_owned();
    assert_eq!(project.len(), 24, "{project}");
    souk_ok(
        db,
        &[
            "admin",
            "sms",
            "price",
            "set",
            "--project",
            "tg",
            "--country",
            "us",
            "--price",
            "0.5",
        ],
    );
    let out = souk_ok(
        db,
        &["admin", "sms", "gateway", "add", "--name", "SIM bank 1"],
    );
    let gateway = out
        .lines()
        .find_map(|l| l.strip_prefix("gateway "))
        .expect("gateway line")
        .to_owned();
    assert!(
        out.lines()
            .any(|l| l.starts_with("secret ") && l.len() == 47),
        "{out}"
    );
    souk_ok(
        db,
        &[
            "admin",
            "sms",
            "number",
            "add",
            "--phone",
            "+1 202 555 0101",
            "--country",
            "us",
            "--gateway",
            &gateway,
            "--projects",
            "tg",
        ],
    );
    souk_ok(db, &["admin", "sms", "lifetime", "--minutes", "15"]);
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "sms",
            "price",
            "set",
            "--project",
            "zz",
            "--country",
            "us",
            "--price",
            "1",
        ],
    );
    assert!(
        !ok && err.trim().lines().count() == 1 && err.contains("Project not found"),
        "{err}"
    );
    let (ok, _, err) = souk(
        db,
        &[
            "admin",
            "sms",
            "number",
            "add",
            "--phone",
            "+12025550101",
            "--country",
            "us",
        ],
    );
    assert!(!ok && err.contains("already in the pool"), "{err}");
    let list = souk_ok(db, &["admin", "sms", "list"]);
    for want in [
        "us United States (sms-activate 187)",
        "tg in us: 0.5000",
        "+12025550101 us [tg]",
        "lifetime: 15 minutes",
    ] {
        assert!(list.contains(want), "{want} not in {list}");
    }
    // A buyer rents through the API of a running node; the operator injects the SMS.
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "5").await;
    let (order, phone) =
        only_order(&add_sms(&app, &key, &[("project_id", &project), ("country", "us")]).await);
    assert_eq!(
        expires_at(db, order).await - created_at(db, order).await,
        15 * 60 * 1000
    );
    let out = souk_ok(
        db,
        &[
            "admin",
            "sms",
            "inject",
            "--phone",
            &phone,
            "--text",
            "Telegram code: 60606",
            "--from",
            "Telegram",
        ],
    );
    assert!(
        out.contains(&format!("delivered to order {order}: code 60606")),
        "{out}"
    );
    assert_eq!(
        sms_call(&app, &key, "sms_code", order).await,
        json!({"status": "completed", "code": "60606", "sms_content": "Telegram code: 60606"})
    );
    let out = souk_ok(
        db,
        &[
            "admin",
            "sms",
            "inject",
            "--phone",
            "+15550001111",
            "--text",
            "hello",
        ],
    );
    assert!(
        out.contains("no activation is waiting on +15550001111"),
        "{out}"
    );
    app.stop().await;
    let out = souk_ok(db, &["admin", "audit"]);
    assert!(out.contains("all invariants hold"), "{out}");
});

engine_test!(demo_sells_sms_numbers, |db| {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().expect("dir");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(["serve", "--demo", "--listen", "127.0.0.1:0"])
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(crate::harness::DATA_KEY))
        .env("SOUK_LOG", "warn")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let lines: Vec<String> = tokio::task::spawn_blocking({
        let stdout = child.stdout.take().expect("stdout");
        move || {
            // The gateway line is the last the demo prints: read up to it, and no further
            // (the server keeps its standard output open).
            let mut lines = Vec::new();
            for line in BufReader::new(stdout).lines() {
                let line = line.expect("utf8");
                let last = line.starts_with("Demo SMS gateway: ");
                lines.push(line);
                if last {
                    break;
                }
            }
            lines
        }
    })
    .await
    .expect("join");
    let url = lines[0]
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("url")
        .to_owned();
    let key = lines
        .iter()
        .find(|l| l.starts_with("Demo buyer API key"))
        .and_then(|l| l.rsplit(' ').next())
        .expect("key")
        .to_owned();
    let gateway_line = lines.last().expect("gateway line");
    assert!(
        gateway_line.starts_with("Demo SMS gateway: POST "),
        "{gateway_line}"
    );
    let webhook = gateway_line
        .split_whitespace()
        .find(|w| w.contains("/webhooks/sms/"))
        .expect("webhook")
        .to_owned();
    let secret = gateway_line
        .rsplit(' ')
        .next()
        .expect("secret")
        .trim_end_matches(')')
        .to_owned();
    let http = reqwest::Client::new();
    let countries = demo_call(
        &http,
        &url,
        &key,
        &[("action", "sms_countries"), ("lang", "zh")],
    )
    .await;
    assert_eq!(countries.as_array().map(Vec::len), Some(5), "{countries}");
    assert!(countries
        .as_array()
        .expect("list")
        .contains(&json!({"country_code": "us", "country_name": "美国"})));
    let projects = demo_call(
        &http,
        &url,
        &key,
        &[("action", "sms_projects"), ("country", "us")],
    )
    .await;
    assert!(
        projects
            .as_array()
            .expect("list")
            .iter()
            .any(|p| p["name"] == "OpenAI / ChatGPT" && p["price"] == "0.5000"),
        "{projects}"
    );
    let v = demo_call(
        &http,
        &url,
        &key,
        &[
            ("action", "add_sms"),
            ("project_id", "tg"),
            ("country", "us"),
        ],
    )
    .await;
    let order = v["orders"][0]["order"].as_i64().expect("order");
    let phone = v["orders"][0]["phone"].as_str().expect("phone").to_owned();
    // The README's signed webhook, with the demo gateway's secret.
    let ts = chrono_now_secs();
    let body =
        json!({"phone": phone, "from": "Telegram", "text": "Telegram code: 24680"}).to_string();
    let signature = sign(secret.as_bytes(), ts, body.as_bytes());
    let response = http
        .post(&webhook)
        .header("content-type", "application/json")
        .header("X-Souk-Timestamp", ts.to_string())
        .header("X-Souk-Signature", format!("sha256={signature}"))
        .body(body)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let v = demo_call(
        &http,
        &url,
        &key,
        &[("action", "sms_code"), ("order", &order.to_string())],
    )
    .await;
    assert_eq!(v["code"], "24680", "{v}");
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
});

async fn demo_call(http: &reqwest::Client, url: &str, key: &str, params: &[(&str, &str)]) -> Value {
    let mut form = vec![("key", key)];
    form.extend_from_slice(params);
    http.post(format!("{url}/api/v2"))
        .form(&form)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

fn chrono_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

// SMS rentals and a supplier's delivery race with each other: on SQLite each goes
// through the group commit (a rental short of numbers too, keeping nothing), and every
// number is rented once, every buyer charged once or not at all, the delivery kept.
engine_test!(rentals_and_deliveries_share_the_group_commit, |db| {
    use crate::supply_kit::{self, buy, manual_product, market, post, As};

    let app = TestApp::spawn(db).await;
    let f = sms_fixture(&app).await;
    let (_, sub) = market(&app).await;
    let (shop_key, _, _) = supply_kit::supplier(&app, "farm@shop.test", "Farm").await;
    let product = manual_product(&app, &shop_key, &sub, "Outlook", "1.50").await;
    let number = product["service"].as_i64().expect("service");
    let buyer = app.buyer("buyer@test.local", "100").await;
    let order = buy(&app, &buyer, number, 2).await;
    let mut keys = Vec::new();
    for i in 0..6 {
        keys.push(app.buyer(&format!("renter{i}@test.local"), "10").await);
    }

    let before = app.store.group_commit_stats();
    let project = [("project_id", f.tg.as_str())];
    let rentals = futures::future::join_all(keys.iter().map(|key| add_sms(&app, key, &project)));
    let deliver = format!("/api/admin/v2/orders/{order}/deliver");
    let delivery = post(
        &app,
        As::Key(&shop_key),
        &deliver,
        json!({"accounts": ["a1:p1", "a2:p2"]}),
    );
    let (rentals, delivery) = futures::future::join(rentals, delivery).await;
    assert_eq!(
        delivery,
        (
            200,
            json!({"order": order, "delivered": 2, "remains": 0, "status": "completed"})
        )
    );
    let mut phones: Vec<&str> = rentals
        .iter()
        .filter_map(|v| v["orders"][0]["phone"].as_str())
        .collect();
    phones.sort_unstable();
    assert_eq!(phones, [US1, US2, GB1], "{rentals:?}");
    assert_eq!(
        rentals.iter().filter(|v| v["error"] == NO_NUMBERS).count(),
        3,
        "{rentals:?}"
    );
    for (key, v) in keys.iter().zip(&rentals) {
        let expected = match v["orders"][0]["phone"].as_str() {
            Some(GB1) => "9.60",
            Some(_) => "9.50",
            None => "10.00",
        };
        assert_eq!(balance(&app, key).await, expected, "{v}");
    }
    // PostgreSQL's group commit takes orders only, not rentals and deliveries.
    let sqlite = matches!(db.kind, crate::harness::Kind::Sqlite);
    if let (true, Some(before), Some(after)) = (sqlite, before, app.store.group_commit_stats()) {
        assert_eq!(
            after.1 - before.1,
            7,
            "every rental and the delivery went through it"
        );
    }
    db.assert_audit_clean().await;
    app.stop().await;
});
