//! The operator actions outside the console that `console_audit*` does not cover, each
//! audited in its change's transaction: from the operator API, users made (and made
//! suppliers), an operator's message in a dispute and a service's fallbacks; from
//! `souk admin`, users, categories, providers (add, update, check, fallbacks, import,
//! sync), a stuck order settled, a setting, a payment gateway and the SMTP relay. With
//! the audit log refusing rows each fails and nothing changes; then each leaves its row
//! under its author, with no key in any row.

use reqwest::Method;
use serde_json::{json, Value};

use crate::console::{without_the_log, Try};
use crate::console_audit_rest::rows_of;
use crate::engine_test;
use crate::fake_upstream::{FakeUpstream, Shape};
use crate::harness::TestApp;
use crate::provider_cli::souk;
use crate::providers::{connect, forward_state, order, panel_services};

const CLI: &str = "command line";
const API: &str = "operator API";

/// What the actions below change, read from the store, and the whole audit log.
async fn state(app: &TestApp, stuck: i64, service: i64) -> String {
    let s = &app.store;
    let (categories, subcategories) = (
        app.operator(Method::GET, "/categories", None).await,
        app.operator(Method::GET, "/subcategories", None).await,
    );
    format!(
        "{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}\n{:?}",
        s.users(None, 1000, 0).await.expect("users"),
        s.all_shops().await.expect("shops"),
        categories,
        subcategories,
        s.providers().await.expect("providers"),
        s.service_providers(service).await.expect("fallbacks"),
        s.settings().await.expect("settings"),
        s.smtp_notifier().await.expect("smtp"),
        s.gateways().await.expect("gateways"),
        s.console_order(stuck).await.expect("order"),
        s.disputes(None).await.expect("disputes"),
        s.audit_log(None, None, 1000).await.expect("audit"),
    )
}

engine_test!(api_and_command_line_operator_actions_are_audited, |db| {
    use crate::supply_kit::{buy, inventory_product, market, ok, supplier, upload};

    let app = TestApp::builder(db).private_upstreams().spawn().await;
    app.expect_failed_jobs();
    let key = app.buyer("buyer@test.local", "100").await;
    let buyer = app.user_id("buyer@test.local").await;
    // A provider with its services imported; a second one not imported yet.
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (provider, numbers) = connect(&app, &fake, false, 15_000).await;
    let second = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (status, made) = app
        .operator(
            Method::POST,
            "/providers",
            Some(json!({"name": "Second", "url": second.url, "key": "upstream-key"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let second_id = made["id"].as_str().expect("id").to_owned();
    // An order stuck at the provider: sent, then forgotten there.
    let stuck = order(&app, &key, numbers[0], "1000").await;
    assert_eq!(app.run_forwarding().await, 1, "the send");
    fake.forget(fake.orders()[0].id);
    for _ in 0..souk_store::MAX_STATUS_MISSES {
        app.clock.advance(60_000);
        app.run_status_sync().await;
    }
    assert_eq!(forward_state(db, stuck).await, "unknown", "parked");
    // A buyer's dispute on a shop's order.
    let (_, sub) = market(&app).await;
    let (shop_key, _, _) = supplier(&app, "shop@shop.test", "Shop").await;
    let (_, product, subs) = inventory_product(&app, &shop_key, &sub, "Mail").await;
    ok(
        200,
        upload(&app, &shop_key, &subs[0], "m1\nm2", false).await,
    );
    let bought = buy(&app, &key, product, 1).await;
    let v = app
        .call(&[
            ("key", &key),
            ("action", "dispute"),
            ("order", &bought.to_string()),
            ("message", "Wrong password"),
        ])
        .await;
    let dispute = v["dispute"].as_str().expect("dispute").to_owned();
    let (_, categories) = app.operator(Method::GET, "/categories", None).await;
    let category = categories
        .as_array()
        .or_else(|| categories["categories"].as_array())
        .and_then(|c| c.first())
        .and_then(|c| c["id"].as_str())
        .unwrap_or_else(|| panic!("a category: {categories}"))
        .to_owned();

    let service = numbers[0];
    let api_calls = [
        (
            Method::POST,
            "/users".to_owned(),
            json!({"email": "made@test.local", "supplier": true, "shopName": "Made", "balance": "5"}),
        ),
        (
            Method::POST,
            format!("/users/{buyer}/supplier"),
            json!({"shopName": "Buyer Shop"}),
        ),
        (
            Method::POST,
            format!("/disputes/{dispute}/messages"),
            json!({"message": "We are looking into it"}),
        ),
        (
            Method::PUT,
            format!("/services/{service}/providers"),
            json!({"fallbacks": [{"providerId": provider, "service": "12"}]}),
        ),
    ];
    let provider_ref = format!("{provider}:12");
    let stuck_ref = stuck.to_string();
    let service_ref = service.to_string();
    let commands: Vec<Vec<&str>> = vec![
        vec![
            "admin",
            "user",
            "create",
            "--email",
            "cli@test.local",
            "--balance",
            "7",
            "--supplier",
            "--shop",
            "Cli Shop",
        ],
        vec![
            "admin", "category", "create", "--slug", "mail", "--name", "Mail",
        ],
        vec![
            "admin", "category", "update", "--id", &category, "--name", "Social",
        ],
        vec![
            "admin",
            "subcategory",
            "create",
            "--slug",
            "gmail",
            "--name",
            "Gmail",
            "--category",
            &category,
        ],
        vec![
            "admin",
            "provider",
            "add",
            "--name",
            "Third",
            "--url",
            &fake.url,
            "--key",
            "third-key-0123",
        ],
        vec!["admin", "provider", "check", "--provider", &provider],
        vec![
            "admin",
            "provider",
            "fallback",
            "--service",
            &service_ref,
            "--to",
            &provider_ref,
        ],
        vec![
            "admin",
            "provider",
            "import",
            "--provider",
            &second_id,
            "--markup",
            "10",
        ],
        vec!["admin", "provider", "sync", "--provider", &provider],
        // Last of the provider's: its new key is not the one the fake knows.
        vec![
            "admin",
            "provider",
            "update",
            "--provider",
            &provider,
            "--name",
            "Renamed",
            "--key",
            "new-key-0123",
        ],
        vec![
            "admin", "orders", "resolve", "--order", &stuck_ref, "--fail",
        ],
        vec!["admin", "setting", "set", "commission_percent", "15"],
        vec![
            "admin",
            "gateway",
            "set",
            "manual",
            "--title",
            "Bank transfer",
        ],
        vec![
            "admin",
            "smtp",
            "set",
            "--host",
            "smtp.example.com",
            "--from",
            "shop@example.com",
        ],
    ];

    // With the log refusing rows, every call and command fails and nothing changes.
    let actions = api_calls
        .iter()
        .map(|(method, path, body)| Try::Api(method.clone(), path.clone(), Some(body.clone())))
        .chain(commands.iter().map(|args| Try::Command(args.clone())))
        .collect();
    without_the_log(&app, db, actions, || state(&app, stuck, service)).await;

    // Then each is its row.
    for (method, path, body) in &api_calls {
        let (status, answer) = app.operator(method.clone(), path, Some(body.clone())).await;
        assert!(status < 300, "{path}: {status} {answer}");
    }
    for args in &commands {
        let (done, out, err) = souk(db, args);
        assert!(done, "{args:?}: {out}{err}");
    }
    let user = |email: &'static str| {
        let store = app.store.clone();
        async move {
            store
                .user_id_by_email(email)
                .await
                .expect("lookup")
                .expect("user")
        }
    };
    let actions = |rows: Vec<(String, String, Value, Value)>| -> Vec<(String, String)> {
        rows.into_iter().map(|(a, who, ..)| (a, who)).collect()
    };
    let pair = |a: &str, who: &str| (a.to_owned(), who.to_owned());
    for (email, who) in [("made@test.local", API), ("cli@test.local", CLI)] {
        let id = user(email).await;
        let rows = rows_of(&app, &format!("user:{id}")).await;
        assert_eq!(
            actions(rows.clone()),
            [pair("user.create", who), pair("user.supplier", who)]
        );
        assert_eq!(rows[0].2, Value::Null);
        assert_eq!(
            (&rows[0].3["email"], &rows[0].3["supplier"]),
            (&json!(email), &json!(true))
        );
        assert_eq!(
            rows[1].2,
            json!({"supplier": true}),
            "a supplier from the start"
        );
    }
    let rows = rows_of(&app, &format!("user:{buyer}")).await;
    assert_eq!(actions(rows.clone()), [pair("user.supplier", API)]);
    let shop = app.store.shops_of(&buyer).await.expect("shops")[0]
        .0
        .clone();
    assert_eq!(
        (&rows[0].2, &rows[0].3),
        (
            &json!({"supplier": false}),
            &json!({"supplier": true, "shop": shop, "shopName": "Buyer Shop"})
        )
    );
    let rows = rows_of(&app, &format!("order:{bought}")).await;
    assert_eq!(
        rows,
        [(
            "dispute.message".to_owned(),
            API.to_owned(),
            Value::Null,
            json!({"dispute": dispute, "message": "We are looking into it"}),
        )]
    );
    // The fallback set twice to the same list: from nothing, then the same again.
    let fallback = json!({"fallbacks": [{"provider": provider, "service": "12"}]});
    assert_eq!(
        rows_of(&app, &format!("service:{service}")).await,
        [
            (
                "service.fallbacks".to_owned(),
                API.to_owned(),
                json!({"fallbacks": []}),
                fallback.clone()
            ),
            (
                "service.fallbacks".to_owned(),
                CLI.to_owned(),
                fallback.clone(),
                fallback
            ),
        ]
    );
    assert_eq!(
        actions(rows_of(&app, &format!("category:{category}")).await),
        [pair("category.create", API), pair("category.update", CLI)]
    );
    assert_eq!(
        actions(rows_of(&app, &format!("provider:{provider}")).await)[2..],
        [
            pair("provider.check", CLI),
            pair("provider.sync", CLI),
            pair("provider.update", CLI)
        ],
        "after its creation and import through the API: {:?}",
        rows_of(&app, &format!("provider:{provider}")).await
    );
    assert_eq!(
        actions(rows_of(&app, &format!("provider:{second_id}")).await),
        [pair("provider.create", API), pair("provider.import", CLI)]
    );
    let rows = rows_of(&app, &format!("order:{stuck}")).await;
    assert_eq!(actions(rows.clone()), [pair("order.resolve", CLI)]);
    assert_eq!(rows[0].3["how"], json!({"resolution": "fail"}));
    assert_eq!(
        rows_of(&app, "settings").await,
        [(
            "settings.update".to_owned(),
            CLI.to_owned(),
            json!({"commission_percent": "10"}),
            json!({"commission_percent": "15"}),
        )]
    );
    assert_eq!(
        actions(rows_of(&app, "gateway:manual").await),
        [pair("gateway.configure", CLI)]
    );
    assert_eq!(
        actions(rows_of(&app, "notifier:smtp").await),
        [pair("smtp.configure", CLI)]
    );
    let log = app.store.audit_log(None, None, 1000).await.expect("audit");
    for made in ["category.create", "subcategory.create", "provider.create"] {
        assert!(
            log.iter()
                .any(|r| r.action == made && r.operator_email == CLI),
            "{made}: {log:?}"
        );
    }
    let text = format!("{log:?}");
    for secret in ["third-key-0123", "new-key-0123", "upstream-key", &key] {
        assert!(!text.contains(secret), "{secret} in the log");
    }
    // The setting set again to what it is: no change, no row.
    let (done, _, err) = souk(db, &["admin", "setting", "set", "commission_percent", "15"]);
    assert!(done, "{err}");
    assert_eq!(rows_of(&app, "settings").await.len(), 1);
    app.stop().await;
});

// The operator's webhook endpoints, kept through the operator API: each change is its
// row (the secret only as "set" or "replaced"), none happens with the log refusing rows,
// and a buyer's own endpoints leave no row.
engine_test!(operator_webhook_endpoints_are_audited, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let url = "http://127.0.0.1:9/hooks";
    let (status, made) = app
        .operator(
            Method::POST,
            "/webhooks",
            Some(json!({"url": url, "events": ["job.parked"], "description": "pager"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id").to_owned();
    let secret = made["secret"].as_str().expect("secret").to_owned();
    let path = format!("/webhooks/{id}");
    let calls = [
        (
            Method::POST,
            "/webhooks".to_owned(),
            Some(json!({"url": url, "events": ["job.parked"]})),
        ),
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"description": "on call", "enabled": false})),
        ),
        (Method::POST, format!("{path}/rotate-secret"), None),
        (Method::DELETE, path.clone(), None),
    ];

    let state = || async {
        (
            app.store.webhook_endpoints("operator").await.expect("list"),
            app.store
                .webhook_secret("operator", &id)
                .await
                .expect("secret"),
            app.store.audit_log(None, None, 100).await.expect("audit"),
        )
    };
    let actions = calls
        .iter()
        .map(|(method, path, body)| Try::Api(method.clone(), path.clone(), body.clone()))
        .collect();
    without_the_log(&app, db, actions, state).await;

    for (method, path, body) in calls.iter().skip(1) {
        let (status, answer) = app.operator(method.clone(), path, body.clone()).await;
        assert!(status < 300, "{method} {path}: {status} {answer}");
    }
    let view = |description: &str, enabled: bool, secret: Option<&str>| {
        let mut v = json!({"url": url, "events": "job.parked", "description": description, "enabled": enabled});
        if let Some(s) = secret {
            v["secret"] = json!(s);
        }
        v
    };
    assert_eq!(
        rows_of(&app, &format!("webhook:{id}")).await,
        [
            (
                "webhook.create".to_owned(),
                API.to_owned(),
                Value::Null,
                view("pager", true, Some("set"))
            ),
            (
                "webhook.update".to_owned(),
                API.to_owned(),
                view("pager", true, None),
                view("on call", false, None)
            ),
            (
                "webhook.rotate_secret".to_owned(),
                API.to_owned(),
                view("on call", false, Some("replaced")),
                view("on call", false, Some("replaced"))
            ),
            (
                "webhook.delete".to_owned(),
                API.to_owned(),
                view("on call", false, None),
                Value::Null
            ),
        ]
    );
    let log = format!(
        "{:?}",
        app.store.audit_log(None, None, 100).await.expect("audit")
    );
    assert!(!log.contains(&secret), "no secret in the log");

    // A buyer's own endpoint is theirs: no row.
    let key = app.buyer("buyer@test.local", "1").await;
    let response = app
        .http
        .post(format!("{}/api/account/v1/webhooks", app.url))
        .bearer_auth(&key)
        .json(&json!({"url": url, "events": ["order.completed"]}))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status().as_u16(), 201);
    assert_eq!(
        app.store
            .audit_log(None, None, 100)
            .await
            .expect("audit")
            .len(),
        4
    );
    app.stop().await;
});
