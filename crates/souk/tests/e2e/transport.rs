//! SPEC 1: how /api/v2 accepts requests and answers them.

use serde_json::{json, Value};

use crate::engine_test;
use crate::harness::{quiet_config, TestApp};

async fn json_of(response: reqwest::Response) -> (u16, String, Value) {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.text().await.expect("body");
    let value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    (status, content_type, value)
}

engine_test!(every_encoding_reaches_the_action, |db| {
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "12.5").await;
    let want = json!({"balance": "12.50", "currency": "USD"});
    let ok = |r: (u16, String, Value)| {
        assert_eq!(r.0, 200);
        assert_eq!(r.1, "application/json; charset=utf-8");
        r.2
    };
    for path in ["/api/v2", "/api/v2/"] {
        let url = format!("{}{path}", app.url);
        // Form.
        let r = app
            .http
            .post(&url)
            .form(&[("key", key.as_str()), ("action", "balance")])
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
        // Query string, GET and POST.
        let r = app
            .http
            .get(format!("{url}?key={key}&action=balance"))
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
        let r = app
            .http
            .post(format!("{url}?key={key}&action=balance"))
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
        // JSON.
        let r = app
            .http
            .post(&url)
            .json(&json!({"key": key, "action": "balance"}))
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
        // Multipart.
        let form = reqwest::multipart::Form::new()
            .text("key", key.clone())
            .text("action", "balance");
        let r = app
            .http
            .post(&url)
            .multipart(form)
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
        // No content type at all: read as a form, like curl's default.
        let r = app
            .http
            .post(&url)
            .body(format!("key={key}&action=balance"))
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
        // The header key.
        let r = app
            .http
            .post(&url)
            .header("X-Api-Key", &key)
            .form(&[("action", "balance")])
            .send()
            .await
            .expect("send");
        assert_eq!(ok(json_of(r).await), want);
    }
    // The body wins over the query string; numbers and booleans may be JSON values.
    let r = app
        .http
        .post(format!("{}?key={key}&action=services", app.api()))
        .json(&json!({"action": "balance"}))
        .send()
        .await
        .expect("send");
    assert_eq!(ok(json_of(r).await), want);
    let r = app
        .http
        .post(app.api())
        .json(&json!({"key": key, "action": "services", "limit": 5, "page": 1, "isRecommended": false, "unknown": {"x": 1}}))
        .send()
        .await
        .expect("send");
    assert_eq!(ok(json_of(r).await)["limit"], 5);
    // No redirect for the trailing slash (a redirect would turn POST into GET).
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let r = no_redirect
        .post(format!("{}/api/v2/", app.url))
        .form(&[("key", key.as_str()), ("action", "balance")])
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    app.stop().await;
});

engine_test!(malformed_bodies, |db| {
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    let send = |body: Vec<u8>, content_type: &'static str| {
        let (http, api) = (app.http.clone(), app.api());
        async move {
            json_of(
                http.post(api)
                    .header("content-type", content_type)
                    .body(body)
                    .send()
                    .await
                    .expect("send"),
            )
            .await
        }
    };
    let (status, _, v) = send(b"{\"key\": \"abc\", ".to_vec(), "application/json").await;
    assert_eq!((status, v), (200, json!({"error": "Invalid JSON body"})));
    let (status, _, v) = send(b"[1,2,3]".to_vec(), "application/json").await;
    assert_eq!(
        (status, v),
        (200, json!({"error": "JSON body must be an object"}))
    );
    let (status, _, v) = send(format!("<key>{key}</key>").into_bytes(), "application/xml").await;
    assert_eq!(
        (status, v),
        (200, json!({"error": "Unsupported content type"}))
    );
    let (status, _, v) = send(b"key=1&action=balance".to_vec(), "text/plain").await;
    assert_eq!(
        (status, v),
        (200, json!({"error": "Unsupported content type"}))
    );
    let (status, _, v) = send(
        vec![0xff, 0xfe, b'=', 0x80],
        "application/x-www-form-urlencoded",
    )
    .await;
    assert_eq!((status, v), (200, json!({"error": "Invalid form body"})));
    let (status, _, v) = send(b"--nope\r\n".to_vec(), "multipart/form-data; boundary=xyz").await;
    assert_eq!((status, v), (200, json!({"error": "Invalid form body"})));
    // 2 MiB: refused with 413 and a JSON error, whether or not the length is declared.
    let big = format!("key={key}&action=balance&pad={}", "a".repeat(2 << 20)).into_bytes();
    let (status, content_type, v) = send(big.clone(), "application/x-www-form-urlencoded").await;
    assert_eq!(
        (status, content_type.as_str(), v),
        (
            413,
            "application/json; charset=utf-8",
            json!({"error": "Request body too large (max 1 MiB)"})
        )
    );
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let streamed = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let r = app
        .http
        .post(app.api())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(streamed)
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(r).await.0, 413);
    // Just under the limit is fine.
    let under = format!(
        "key={key}&action=balance&pad={}",
        "a".repeat((1 << 20) - 200)
    );
    let (status, _, v) = send(under.into_bytes(), "application/x-www-form-urlencoded").await;
    assert_eq!((status, v["balance"].clone()), (200, json!("1.00")));
    app.stop().await;
});

engine_test!(rate_limits_answer_429, |db| {
    let mut config = quiet_config();
    config.rate_limit_per_key = 5;
    let app = TestApp::spawn_with(db, config).await;
    let key = app.buyer("buyer@test.local", "1").await;
    let mut statuses = Vec::new();
    for _ in 0..15 {
        let r = app
            .http
            .post(app.api())
            .form(&[("key", key.as_str()), ("action", "balance")])
            .send()
            .await
            .expect("send");
        let (status, _, v) = json_of(r).await;
        if status == 429 {
            assert_eq!(v, json!({"error": "Too many requests, slow down"}));
        }
        statuses.push(status);
    }
    assert!(statuses[..10].iter().all(|s| *s == 200), "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    // Another key is not affected.
    let other = app.buyer("other@test.local", "1").await;
    assert_eq!(
        app.call(&[("key", &other), ("action", "balance")]).await["balance"],
        "1.00"
    );
    app.stop().await;

    let mut config = quiet_config();
    config.rate_limit_per_address = 3;
    let app = TestApp::spawn_with(db, config).await;
    let mut limited = false;
    for _ in 0..12 {
        let r = app
            .http
            .post(app.api())
            .form(&[("key", "whatever"), ("action", "balance")])
            .send()
            .await
            .expect("send");
        limited |= r.status() == 429;
    }
    assert!(limited, "per-address limit never applied");
    app.stop().await;
});

engine_test!(internal_faults_hide_details, |db| {
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    // Warm the key cache, then take the database away.
    assert_eq!(
        app.call(&[("key", &key), ("action", "balance")]).await["balance"],
        "1.00"
    );
    app.store.close().await;
    let r = app
        .http
        .post(app.api())
        .form(&[("key", key.as_str()), ("action", "balance")])
        .send()
        .await
        .expect("send");
    let (status, content_type, v) = json_of(r).await;
    assert_eq!(
        (status, content_type.as_str(), v),
        (
            500,
            "application/json; charset=utf-8",
            json!({"error": "Internal error"})
        )
    );
    // Catalogue reads come from memory and keep working.
    let r = app
        .http
        .post(app.api())
        .form(&[("key", key.as_str()), ("action", "categories")])
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(r).await.2, json!({"categories": []}));
    app.stop().await;
});

engine_test!(health_and_metrics, |db| {
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "1").await;
    let r = app
        .http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), 200);
    app.call(&[("key", &key), ("action", "services")]).await;
    app.call(&[("key", &key), ("action", "services"), ("lang", "xx")])
        .await;
    app.call(&[("key", &key), ("action", "nope")]).await;
    let text = app
        .http
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(
        text.contains("souk_api_requests_total{action=\"services\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("souk_api_errors_total{action=\"services\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("souk_api_requests_total{action=\"invalid\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("souk_api_request_duration_seconds_count{action=\"services\"} 2"),
        "{text}"
    );
    app.stop().await;
});
