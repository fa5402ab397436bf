//! Throughput of SMS verification, with `/healthz` measured in the same run as the
//! yardstick: `add_sms` per second, and inbound SMS per second end to end (a signed
//! webhook, then `sms_code` until the code is visible). Ignored by default:
//!
//! ```sh
//! SOUK_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \
//!   cargo test --release -p souk --test e2e sms_bench -- --ignored --nocapture --test-threads 1
//! ```
//!
//! `SOUK_BENCH_SMS_NUMBERS` (default 400) sets how many numbers are rented and receive an
//! SMS; `SOUK_BENCH_CONCURRENCY` (default 16) how many clients run at once.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::{json, Value};
use souk_core::clock::Clock;
use souk_core::sms::sign;
use souk_core::{Money, Text};
use souk_store::{NewSmsCountry, NewSmsNumber, NewSmsProject, NewUser};

use crate::harness::{TestApp, TestDb};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Runs `total` jobs over `concurrency` workers; returns jobs per second.
async fn closed_loop<F, Fut>(total: usize, concurrency: usize, job: F) -> f64
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (next, job) = (next.clone(), job.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= total {
                        break;
                    }
                    job(w, i).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.expect("worker");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

async fn healthz_rate(app: &TestApp, total: usize, concurrency: usize) -> f64 {
    let (http, url) = (app.http.clone(), format!("{}/healthz", app.url));
    closed_loop(total, concurrency, move |_, _| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let r = http.get(&url).send().await.expect("send");
            assert_eq!(r.status(), 200);
        }
    })
    .await
}

async fn bench(db: &TestDb, engine: &str) {
    let numbers = env_usize("SOUK_BENCH_SMS_NUMBERS", 400);
    let concurrency = env_usize("SOUK_BENCH_CONCURRENCY", 16);
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
    store
        .create_sms_project(
            &NewSmsProject {
                code: "tg".into(),
                name: Text::new("Telegram"),
            },
            0,
        )
        .await
        .expect("project");
    store
        .set_sms_price("tg", "us", Some(Money::parse("0.01").expect("price")))
        .await
        .expect("price");
    let secret = "bench-gateway-secret-0123456789";
    let gateway = store
        .create_sms_gateway("bench", secret, 0)
        .await
        .expect("gateway");
    for n in 0..numbers {
        store
            .add_sms_number(
                &NewSmsNumber {
                    phone: format!("+1202{n:07}"),
                    country: "us".into(),
                    gateway_id: Some(gateway.clone()),
                    projects: vec!["tg".into()],
                },
                0,
            )
            .await
            .expect("number");
    }
    let mut keys = Vec::new();
    for i in 0..concurrency {
        keys.push(
            store
                .create_user(
                    &NewUser {
                        email: format!("bench{i}@test.local"),
                        name: String::new(),
                        password_hash: None,
                        is_supplier: false,
                        initial_balance: Money::parse("1000").expect("amount"),
                    },
                    0,
                )
                .await
                .expect("user")
                .1,
        );
    }
    let app = TestApp::spawn(db).await;
    let healthz_before = healthz_rate(&app, 4000, concurrency).await;

    // add_sms: one number per call, each client with its own key.
    let rented = Arc::new(std::sync::Mutex::new(Vec::<(usize, i64, String)>::new()));
    let add_rate = {
        let (http, api, keys, rented) = (app.http.clone(), app.api(), keys.clone(), rented.clone());
        closed_loop(numbers, concurrency, move |w, _| {
            let (http, api, key, rented) =
                (http.clone(), api.clone(), keys[w].clone(), rented.clone());
            async move {
                let v: Value = http
                    .post(&api)
                    .form(&[
                        ("key", key.as_str()),
                        ("action", "add_sms"),
                        ("project_id", "tg"),
                    ])
                    .send()
                    .await
                    .expect("send")
                    .json()
                    .await
                    .expect("json");
                let order = v["orders"][0]["order"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("{v}"));
                let phone = v["orders"][0]["phone"].as_str().expect("phone").to_owned();
                rented.lock().expect("lock").push((w, order, phone));
            }
        })
        .await
    };
    let rented = Arc::new(rented.lock().expect("lock").clone());
    assert_eq!(rented.len(), numbers);

    // Inbound SMS: signed webhook, then sms_code until the code shows.
    let clock = app.clock.clone();
    let inbound_rate = {
        let (http, url, api, keys, rented, gateway) = (
            app.http.clone(),
            app.url.clone(),
            app.api(),
            keys.clone(),
            rented.clone(),
            gateway.clone(),
        );
        closed_loop(numbers, concurrency, move |_, i| {
            let (http, url, api, gateway, clock) =
                (http.clone(), url.clone(), api.clone(), gateway.clone(), clock.clone());
            let (owner, order, phone) = rented[i].clone();
            let key = keys[owner].clone();
            async move {
                let code = format!("{:06}", 100_000 + i);
                let now = clock.now_ms();
                let body = json!({"phone": phone, "from": "Telegram", "text": format!("Telegram code: {code}"), "received_at": now}).to_string();
                let ts = now / 1000;
                let signature = sign(secret.as_bytes(), ts, body.as_bytes());
                let r = http
                    .post(format!("{url}/webhooks/sms/{gateway}"))
                    .header("content-type", "application/json")
                    .header("X-Souk-Timestamp", ts.to_string())
                    .header("X-Souk-Signature", format!("sha256={signature}"))
                    .body(body)
                    .send()
                    .await
                    .expect("send");
                assert_eq!(r.status(), 200);
                loop {
                    let v: Value = http
                        .post(&api)
                        .form(&[("key", key.as_str()), ("action", "sms_code"), ("order", &order.to_string())])
                        .send()
                        .await
                        .expect("send")
                        .json()
                        .await
                        .expect("json");
                    if v["code"] == code.as_str() {
                        break;
                    }
                }
            }
        })
        .await
    };
    let healthz_after = healthz_rate(&app, 4000, concurrency).await;
    let healthz = (healthz_before + healthz_after) / 2.0;
    println!(
        "[{engine}] {numbers} numbers, {concurrency} clients: /healthz {healthz:.0}/s (before {healthz_before:.0}, after {healthz_after:.0}); \
         add_sms {add_rate:.0}/s = {:.3} of /healthz; inbound SMS to code in sms_code {inbound_rate:.0}/s = {:.3} of /healthz",
        add_rate / healthz,
        inbound_rate / healthz
    );
    store.close().await;
    app.stop().await;
    db.assert_audit_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn sms_bench_sqlite() {
    let db = TestDb::sqlite().await;
    bench(&db, "sqlite").await;
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "a measurement: run with --ignored --nocapture"]
async fn sms_bench_postgres() {
    if let Some(db) = TestDb::postgres().await {
        bench(&db, "postgres").await;
        db.cleanup().await;
    }
}
