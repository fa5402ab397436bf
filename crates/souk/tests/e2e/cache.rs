//! The in-memory catalogue: reads need no database, and every change is visible on the
//! next request, on this node at once and on other nodes and processes shortly after.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use souk_core::catalogue::ProductType;
use souk_core::{Lang, Text};
use souk_store::NewService;

use crate::engine_test;
use crate::fixtures::{self, Fixture};
use crate::harness::{Kind, TestApp};

fn new_product(f: &Fixture, name: &str) -> NewService {
    let mut title = Text::new(name);
    title.set(Lang::Es, format!("{name} (es)"));
    fixtures::one_variant_product(
        (&f.nord, &f.gmail),
        ProductType::Inventory,
        title,
        "2",
        (1, 10),
        0,
    )
}

async fn stock_of(app: &TestApp, key: &str, service: i64) -> Value {
    app.call(&[
        ("key", key),
        ("action", "inventory"),
        ("service", &service.to_string()),
    ])
    .await["stock"]
        .clone()
}

/// Polls `check` until it holds or `limit` passes; returns how long it took.
async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    loop {
        if check().await {
            return started.elapsed();
        }
        assert!(started.elapsed() < limit, "not visible within {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

engine_test!(changes_on_this_node_show_on_the_next_request, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    assert_eq!(stock_of(&app, &key, f.gmail_usa).await, json!(42));

    // Stock upload: the count and the row's max move at once.
    let lines: Vec<String> = (0..5).map(|n| format!("new{n}:pw")).collect();
    let (accepted, _, changes) = app
        .store
        .add_stock_lines(&f.gmail_subs[1], &lines, true, app.state.now())
        .await
        .expect("upload");
    assert_eq!(accepted, 5);
    app.state.apply_changes(&changes).await.expect("apply");
    assert_eq!(stock_of(&app, &key, f.gmail_usa).await, json!(47));

    // A new product with a translation.
    let (number, _, _, changes) = app
        .store
        .create_service(&new_product(&f, "Gmail Fresh"), app.state.now())
        .await
        .expect("create");
    app.state.apply_changes(&changes).await.expect("apply");
    let v = app
        .call(&[
            ("key", &key),
            ("action", "products"),
            ("productIds", &number.to_string()),
            ("lang", "es"),
        ])
        .await;
    assert_eq!(v["products"][0]["name"], "Gmail Fresh (es)");
    app.stop().await;
});

engine_test!(changes_from_another_process_are_picked_up, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    // A second handle on the same database stands for `souk admin` or another node; it
    // does not tell this server anything directly.
    let other = db.store().await;
    let lines: Vec<String> = (0..3).map(|n| format!("x{n}:pw")).collect();
    other
        .add_stock_lines(&f.gmail_subs[0], &lines, false, 0)
        .await
        .expect("upload");
    let waited = eventually(Duration::from_secs(3), || async {
        stock_of(&app, &key, f.gmail_usa).await == json!(45)
    })
    .await;
    let (number, ..) = other
        .create_service(&new_product(&f, "Gmail Elsewhere"), 0)
        .await
        .expect("create");
    let waited_catalogue = eventually(Duration::from_secs(3), || async {
        app.call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &number.to_string()),
        ])
        .await
        .get("error")
        .is_none()
    })
    .await;
    eprintln!(
        "{:?}: stock visible after {waited:?}, new product after {waited_catalogue:?}",
        db.kind
    );
    // Suspension through another handle locks the key out.
    let user = other
        .user_id_by_email("buyer@test.local")
        .await
        .expect("lookup")
        .expect("user");
    other
        .set_user_status(&user, souk_store::UserStatus::Suspended)
        .await
        .expect("suspend");
    eventually(Duration::from_secs(3), || async {
        app.call(&[("key", &key), ("action", "balance")]).await
            == json!({"error": "Invalid API key"})
    })
    .await;
    app.stop().await;
});

engine_test!(postgres_nodes_share_changes_by_notify, |db| {
    if db.kind != Kind::Postgres {
        return;
    }
    let f = fixtures::load(&db.store().await).await;
    let mut slow_poll = crate::harness::quiet_config();
    // Polling so slow that only NOTIFY can explain a quick update.
    slow_poll.poll_interval = Duration::from_secs(600);
    let a = TestApp::spawn_with(db, slow_poll.clone()).await;
    let b = TestApp::spawn_with(db, slow_poll).await;
    let key = a.buyer("buyer@test.local", "1").await;
    // Both nodes' listeners have subscribed (their last statement, finished, is LISTEN).
    crate::harness::wait_for(10, "both listeners", || async {
        db.scalar(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'idle' AND query ILIKE 'LISTEN%'",
        )
        .await
            >= 2
    })
    .await;
    let lines: Vec<String> = (0..4).map(|n| format!("y{n}:pw")).collect();
    let (_, _, changes) = a
        .store
        .add_stock_lines(&f.gmail_subs[0], &lines, false, 0)
        .await
        .expect("upload");
    a.state.apply_changes(&changes).await.expect("apply");
    assert_eq!(stock_of(&a, &key, f.gmail_usa).await, json!(46));
    let stock_delay = eventually(Duration::from_secs(2), || async {
        stock_of(&b, &key, f.gmail_usa).await == json!(46)
    })
    .await;
    let (number, _, _, changes) = a
        .store
        .create_service(&new_product(&f, "Gmail Shared"), 0)
        .await
        .expect("create");
    a.state.apply_changes(&changes).await.expect("apply");
    let catalogue_delay = eventually(Duration::from_secs(2), || async {
        b.call(&[
            ("key", &key),
            ("action", "inventory"),
            ("service", &number.to_string()),
        ])
        .await
        .get("error")
        .is_none()
    })
    .await;
    eprintln!("node B saw the stock change after {stock_delay:?} and the new product after {catalogue_delay:?}");
    a.stop().await;
    b.stop().await;
});

/// One `/api/v2` answer as bytes: (content-encoding, vary, body as sent).
async fn raw(
    app: &TestApp,
    params: &[(&str, &str)],
    accept: Option<&str>,
) -> (String, String, Vec<u8>) {
    let mut request = app.http.post(app.api()).form(params);
    if let Some(accept) = accept {
        request = request.header("accept-encoding", accept);
    }
    let response = request.send().await.expect("request");
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let (encoding, vary) = (header("content-encoding"), header("vary"));
    let body = response.bytes().await.expect("body").to_vec();
    (encoding, vary, body)
}

fn gunzip(body: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut plain).expect("gzip");
    plain
}

// The whole list is streamed in chunks (more rows than one chunk here) and, for clients
// that accept gzip, served from a compressed copy that follows every stock change.
engine_test!(whole_list_gzipped_equals_the_plain_one, |db| {
    let f = fixtures::load(&db.store().await).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    let before = app.call(&[("key", &key), ("action", "services")]).await["total"]
        .as_u64()
        .expect("total") as usize;
    let extra: Vec<(NewService, Vec<Vec<String>>)> = (0..souk_api::v2::rows::ROWS_PER_CHUNK + 40)
        .map(|n| (new_product(&f, &format!("Bulk {n}")), Vec::new()))
        .collect();
    let (_, changes) = app
        .store
        .create_services(&extra, app.state.now())
        .await
        .expect("bulk");
    app.state.apply_changes(&changes).await.expect("apply");

    for lang in ["en", "es"] {
        let all = [
            ("key", key.as_str()),
            ("action", "services"),
            ("lang", lang),
        ];
        let (encoding, vary, plain) = raw(&app, &all, None).await;
        assert_eq!((encoding.as_str(), vary.as_str()), ("", "accept-encoding"));
        let v: Value = serde_json::from_slice(&plain).expect("json");
        assert_eq!(v["total"], json!(before + extra.len()), "{lang}");
        assert_eq!(
            v["services"].as_array().map(Vec::len),
            Some(before + extra.len())
        );
        let (encoding, vary, gzipped) = raw(&app, &all, Some("br;q=1, gzip;q=0.5")).await;
        assert_eq!(
            (encoding.as_str(), vary.as_str()),
            ("gzip", "accept-encoding")
        );
        assert!(gzipped.len() * 3 < plain.len());
        assert_eq!(gunzip(&gzipped), plain, "{lang}");
        // Refused, or not whole: plain.
        let (encoding, _, body) = raw(&app, &all, Some("gzip;q=0")).await;
        assert_eq!((encoding.as_str(), body == plain), ("", true));
        let page = [
            ("key", key.as_str()),
            ("action", "services"),
            ("limit", "5"),
        ];
        let (encoding, _, _) = raw(&app, &page, Some("gzip")).await;
        assert_eq!(encoding, "");
    }

    // A stock upload moves the row; the compressed copy follows at once.
    let all = [("key", key.as_str()), ("action", "services")];
    let before = gunzip(&raw(&app, &all, Some("gzip")).await.2);
    let lines: Vec<String> = (0..3).map(|n| format!("fresh{n}:pw")).collect();
    let (_, _, changes) = app
        .store
        .add_stock_lines(&f.gmail_subs[0], &lines, true, app.state.now())
        .await
        .expect("upload");
    app.state.apply_changes(&changes).await.expect("apply");
    let after = gunzip(&raw(&app, &all, Some("gzip")).await.2);
    assert_ne!(after, before);
    assert_eq!(after, raw(&app, &all, None).await.2);
    let v: Value = serde_json::from_slice(&after).expect("json");
    let row = v["services"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["service"] == json!(f.gmail_usa)))
        .expect("gmail row");
    assert_eq!(row["stock"], json!(45));
    app.stop().await;
});

// A node answers `/healthz` while it reads its catalogue; a request that needs the
// catalogue waits for the whole of it and never sees an empty or partial one.
engine_test!(a_request_during_loading_sees_the_whole_catalogue, |db| {
    fixtures::load(&db.store().await).await;
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    let form = [("key", key.as_str()), ("action", "services")];
    let expected = raw(&app, &form, None).await.2;

    // A second node on the same database, its catalogue not read yet.
    let state = souk_api::AppState::starting(
        app.store.clone(),
        crate::harness::quiet_config(),
        std::sync::Arc::new(souk_core::clock::SystemClock),
    )
    .await
    .expect("state");
    assert!(!state.cache.is_loaded());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(souk_api::serve(listener, None, state.clone(), async {
        let _ = stopped.await;
    }));
    let health = app
        .http
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = |http: reqwest::Client| {
        let url = url.clone();
        async move {
            let r = http
                .get(format!("{url}/readyz"))
                .send()
                .await
                .expect("readyz");
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.expect("json"),
            )
        }
    };
    assert_eq!(
        ready(app.http.clone()).await,
        (503, serde_json::json!({"status": "loading"}))
    );

    let (http, api, owned_key) = (app.http.clone(), format!("{url}/api/v2"), key.clone());
    let pending = tokio::spawn(async move {
        let response = http
            .post(api)
            .form(&[("key", owned_key.as_str()), ("action", "services")])
            .send()
            .await
            .expect("request");
        response.bytes().await.expect("body").to_vec()
    });
    eventually(Duration::from_secs(10), || async {
        state.cache.waiting() == 1
    })
    .await;
    assert!(!pending.is_finished());
    state.finish_loading().await;
    assert_eq!(pending.await.expect("answer"), expected);
    assert_eq!(state.cache.waiting(), 0);
    assert_eq!(
        ready(app.http.clone()).await,
        (200, serde_json::json!({"status": "ok"}))
    );

    let _ = stop.send(());
    server.await.expect("server").expect("serve");
    app.stop().await;
});
