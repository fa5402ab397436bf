//! Every operator action and its audit row are one transaction, from the console's use
//! cases and from the operator API alike: the row names who acted (an operator, or "operator
//! API"), what, and the record before and after, read in the change's transaction; when
//! the row cannot be written the change does not happen either. Covered here: a user
//! blocked and unblocked, API keys issued and revoked, a parked job dropped and retried,
//! an order cancelled and its rest refunded, settings and a payment gateway changed;
//! from the operator API also providers, categories and SMTP; from `souk admin`, shops.

use serde_json::{json, Value};
use souk_app::operator_gateways::GatewayForm;
use souk_app::operators::{self, Acting, Role};
use souk_core::Money;
use souk_store::{ApiKeyRecord, Closing, ConsoleOrder, GatewayRecord, Job};

use crate::console::{call, operator, souk, without_the_log, Try};
use crate::console_catalogue::{acting, audited};
use crate::engine_test;
use crate::fake_upstream::{FakeUpstream, Shape};
use crate::harness::{TestApp, TestDb};
use crate::providers::{connect, order, panel_services};

/// A buyer with a key, two orders placed but not sent, two parked jobs (not an
/// order's), an admin and an owner.
struct World {
    app: TestApp,
    fake: FakeUpstream,
    provider: String,
    buyer: String,
    key_id: String,
    orders: [i64; 2],
    jobs: [i64; 2],
    admin: Acting,
    owner: Acting,
}

async fn world(db: &TestDb) -> World {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    app.expect_failed_jobs();
    let key = app.buyer("buyer@test.local", "100").await;
    let buyer = app.user_id("buyer@test.local").await;
    let key_id = app.store.api_keys(&buyer).await.expect("keys")[0]
        .id
        .clone();
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (provider, numbers) = connect(&app, &fake, false, 15_000).await;
    let orders = [
        order(&app, &key, numbers[0], "100").await,
        order(&app, &key, numbers[0], "200").await,
    ];
    let now = app.state.now();
    let mut jobs = [0; 2];
    for job in &mut jobs {
        *job = app
            .store
            .enqueue_job(
                &souk_store::NewJob {
                    kind: souk_store::EMAIL_SEND.to_owned(),
                    payload: "{}".to_owned(),
                    dedupe_key: None,
                    run_at: now,
                    max_attempts: 1,
                    held_by: None,
                },
                now,
            )
            .await
            .expect("enqueue")
            .expect("id");
    }
    db.exec(
        "UPDATE jobs SET state = 'parked', last_error = 'smtp said no' WHERE kind = 'email.send'",
    )
    .await;
    operator(&app, "admin@test.local", "admin").await;
    operator(&app, "owner@test.local", "owner").await;
    let admin = acting(&app, "admin@test.local", Role::Admin).await;
    let owner = acting(&app, "owner@test.local", Role::Owner).await;
    World {
        app,
        fake,
        provider,
        buyer,
        key_id,
        orders,
        jobs,
        admin,
        owner,
    }
}

/// What the actions change, read from the store.
#[derive(Debug, PartialEq)]
struct Snapshot {
    status: String,
    balance: i64,
    keys: Vec<ApiKeyRecord>,
    parked: Vec<Job>,
    orders: Vec<ConsoleOrder>,
    settings: Vec<(String, String)>,
    gateways: Vec<GatewayRecord>,
    audit_rows: usize,
}

async fn snapshot(w: &World) -> Snapshot {
    let store = &w.app.store;
    let user = store.user(&w.buyer).await.expect("user");
    let mut orders = Vec::new();
    for id in w.orders {
        orders.push(store.console_order(id).await.expect("read").expect("order"));
    }
    Snapshot {
        status: user.status,
        balance: user.balance,
        keys: store.api_keys(&w.buyer).await.expect("keys"),
        parked: store.jobs("parked", 100).await.expect("jobs"),
        orders,
        settings: store.settings().await.expect("settings"),
        gateways: store.gateways().await.expect("gateways"),
        audit_rows: store
            .audit_log(None, None, 1000)
            .await
            .expect("audit")
            .len(),
    }
}

fn manual_form() -> GatewayForm {
    GatewayForm {
        enabled: true,
        title: "Bank transfer".into(),
        instructions: "Pay to IBAN DE00 0000".into(),
        ..GatewayForm::default()
    }
}

// With the audit log refusing rows, no action happens, from the console or the
// operator API: the store reads the same before and after.
engine_test!(
    operator_actions_do_not_happen_without_their_audit_row,
    |db| {
        let w = world(db).await;
        let (app, a, o) = (&w.app, &w.admin, &w.owner);
        let now = app.state.now();
        let store = &app.store;
        let post = reqwest::Method::POST;
        let form = manual_form();
        let settings = [("commission_percent".to_owned(), "15".to_owned())];
        let mut actions = vec![
            call(
                "block",
                souk_app::operator_users::set_blocked(store, a, &w.buyer, true, now),
            ),
            call(
                "key",
                souk_app::operator_users::create_key(store, a, &w.buyer, "bot", now),
            ),
            call(
                "revoke",
                souk_app::operator_users::revoke_key(store, a, Some(&w.buyer), &w.key_id, now),
            ),
            call("drop", operators::drop_job(store, a, w.jobs[0], now)),
            call("retry", operators::retry_job(store, a, w.jobs[1], now)),
            call(
                "cancel",
                souk_app::operator_orders::close_order(store, a, w.orders[0], Closing::Cancel, now),
            ),
            call(
                "refund the rest",
                souk_app::operator_orders::close_order(
                    store,
                    a,
                    w.orders[1],
                    Closing::RefundRest,
                    now,
                ),
            ),
            call(
                "settings",
                souk_app::operator_settings::update(store, o, &settings, now),
            ),
            call(
                "gateway",
                souk_app::operator_gateways::configure(store, o, "manual", &form, now),
            ),
        ];
        // The operator API: the same use cases, so the same refusal.
        actions.extend([
            Try::Api(post.clone(), format!("/users/{}/suspend", w.buyer), None),
            Try::Api(
                post.clone(),
                format!("/users/{}/keys", w.buyer),
                Some(json!({"label": "api"})),
            ),
            Try::Api(reqwest::Method::DELETE, format!("/keys/{}", w.key_id), None),
            Try::Api(post.clone(), format!("/jobs/{}/retry", w.jobs[1]), None),
            Try::Api(
                reqwest::Method::PATCH,
                "/settings".into(),
                Some(json!({"commission_percent": "12"})),
            ),
            Try::Api(
                reqwest::Method::PUT,
                "/gateways/cryptomus".into(),
                Some(json!({"merchant": "m-1", "api_key": "ck-secret-1"})),
            ),
        ]);
        without_the_log(app, db, actions, || snapshot(&w)).await;
        w.app.stop().await;
    }
);

// Each action leaves one row with who acted and the record before and after; the
// operator API's are audited as "operator API". Keys and secrets are never in them.
engine_test!(operator_actions_leave_their_audit_row, |db| {
    let w = world(db).await;
    let (app, a, o) = (&w.app, &w.admin, &w.owner);
    let store = &app.store;
    let now = app.state.now();
    let user = format!("user:{}", w.buyer);
    let row = |action: &str, who: &str, before: Value, after: Value| {
        (action.to_owned(), who.to_owned(), before, after)
    };

    // Blocked and unblocked from the console.
    souk_app::operator_users::set_blocked(store, a, &w.buyer, true, now)
        .await
        .expect("block");
    assert_eq!(
        audited(app, &user).await,
        row(
            "user.block",
            "admin@test.local",
            json!({"status": "active"}),
            json!({"status": "suspended"})
        )
    );
    souk_app::operator_users::set_blocked(store, a, &w.buyer, false, now)
        .await
        .expect("unblock");
    assert_eq!(
        audited(app, &user).await,
        row(
            "user.unblock",
            "admin@test.local",
            json!({"status": "suspended"}),
            json!({"status": "active"})
        )
    );

    // A key issued: its id and prefix, never the key; then the first key revoked.
    let (new_key, clear) = souk_app::operator_users::create_key(store, a, &w.buyer, " bot ", now)
        .await
        .expect("key");
    let prefix = |id: &str, keys: &[ApiKeyRecord]| {
        keys.iter()
            .find(|k| k.id == id)
            .expect("key")
            .key_prefix
            .clone()
    };
    let keys = store.api_keys(&w.buyer).await.expect("keys");
    let (action, who, before, after) = audited(app, &user).await;
    assert_eq!(
        (action.as_str(), who.as_str(), &before, &after),
        (
            "user.key_create",
            "admin@test.local",
            &Value::Null,
            &json!({"key": new_key, "prefix": prefix(&new_key, &keys), "label": "bot"})
        )
    );
    assert!(!after.to_string().contains(&clear), "no key in clear");
    souk_app::operator_users::revoke_key(store, a, Some(&w.buyer), &w.key_id, now)
        .await
        .expect("revoke");
    let first = prefix(&w.key_id, &keys);
    assert_eq!(
        audited(app, &user).await,
        row(
            "user.key_revoke",
            "admin@test.local",
            json!({"key": w.key_id, "prefix": first, "active": true}),
            json!({"key": w.key_id, "prefix": first, "active": false})
        )
    );

    // A parked job dropped, the other retried.
    assert!(operators::drop_job(store, a, w.jobs[0], now)
        .await
        .expect("drop"));
    assert_eq!(
        audited(app, &format!("job:{}", w.jobs[0])).await,
        row(
            "job.drop",
            "admin@test.local",
            json!({"state": "parked", "kind": souk_store::EMAIL_SEND, "error": "smtp said no"}),
            Value::Null
        )
    );
    assert!(operators::retry_job(store, a, w.jobs[1], now)
        .await
        .expect("retry"));
    assert_eq!(
        audited(app, &format!("job:{}", w.jobs[1])).await,
        row(
            "job.retry",
            "admin@test.local",
            json!({"state": "parked"}),
            json!({"state": "ready"})
        )
    );

    // One order cancelled, the other's rest refunded: both in full, never sent.
    for (id, closing, action) in [
        (w.orders[0], Closing::Cancel, "order.cancel"),
        (w.orders[1], Closing::RefundRest, "order.refund_rest"),
    ] {
        let refund = souk_app::operator_orders::close_order(store, a, id, closing, now)
            .await
            .expect("close");
        let closed = store.console_order(id).await.expect("read").expect("order");
        let charge = Money::from_micros(closed.charge).display2();
        assert_eq!(refund.display2(), charge);
        assert_eq!(
            audited(app, &format!("order:{id}")).await,
            row(
                action,
                "admin@test.local",
                json!({"status": "pending", "refunded": "0.00"}),
                json!({"status": closed.status, "refunded": charge, "refundedNow": charge})
            )
        );
    }

    // Settings: what was in effect (a default) and what is now.
    souk_app::operator_settings::update(
        store,
        o,
        &[("commission_percent".into(), "15".into())],
        now,
    )
    .await
    .expect("settings");
    assert_eq!(
        audited(app, "settings").await,
        row(
            "settings.update",
            "owner@test.local",
            json!({"commission_percent": "10"}),
            json!({"commission_percent": "15"})
        )
    );

    // A gateway set up from the console: nothing before.
    souk_app::operator_gateways::configure(store, o, "manual", &manual_form(), now)
        .await
        .expect("gateway");
    let (action, who, before, after) = audited(app, "gateway:manual").await;
    assert_eq!(
        (action.as_str(), who.as_str(), before),
        ("gateway.configure", "owner@test.local", Value::Null)
    );
    assert_eq!(
        (
            &after["enabled"],
            &after["title"],
            &after["apiKeySet"],
            &after["secretSet"]
        ),
        (
            &json!(true),
            &json!("Bank transfer"),
            &json!(false),
            &json!(false)
        )
    );

    // The operator API: the same rows, audited as the operator API.
    let api = "operator API";
    let (status, _) = app
        .operator(
            reqwest::Method::POST,
            &format!("/users/{}/suspend", w.buyer),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        audited(app, &user).await,
        row(
            "user.block",
            api,
            json!({"status": "active"}),
            json!({"status": "suspended"})
        )
    );
    let (status, _) = app
        .operator(
            reqwest::Method::POST,
            &format!("/users/{}/reactivate", w.buyer),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(audited(app, &user).await.0, "user.unblock");
    let (status, made) = app
        .operator(
            reqwest::Method::POST,
            &format!("/users/{}/keys", w.buyer),
            Some(json!({"label": "api"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let made_id = made["id"].as_str().expect("id").to_owned();
    let keys = store.api_keys(&w.buyer).await.expect("keys");
    let (action, who, _, after) = audited(app, &user).await;
    assert_eq!(
        (action.as_str(), who.as_str(), after),
        (
            "user.key_create",
            api,
            json!({"key": made_id, "prefix": prefix(&made_id, &keys), "label": "api"})
        )
    );
    let (status, _) = app
        .operator(reqwest::Method::DELETE, &format!("/keys/{new_key}"), None)
        .await;
    assert_eq!(status, 200);
    let second = prefix(&new_key, &keys);
    assert_eq!(
        audited(app, &user).await,
        row(
            "user.key_revoke",
            api,
            json!({"key": new_key, "prefix": second, "active": true}),
            json!({"key": new_key, "prefix": second, "active": false})
        )
    );
    let (status, _) = app
        .operator(
            reqwest::Method::PATCH,
            "/settings",
            Some(json!({"commission_percent": "12"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        audited(app, "settings").await,
        row(
            "settings.update",
            api,
            json!({"commission_percent": "15"}),
            json!({"commission_percent": "12"})
        )
    );
    let (status, answer) = app
        .operator(
            reqwest::Method::PUT,
            "/gateways/cryptomus",
            Some(json!({"merchant": "m-1", "api_key": "ck-secret-1"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (action, who, before, after) = audited(app, "gateway:cryptomus").await;
    assert_eq!(
        (action.as_str(), who.as_str(), before),
        ("gateway.configure", api, Value::Null)
    );
    assert_eq!(
        (&after["merchant"], &after["apiKeySet"], &after["hasApiKey"]),
        (&json!("m-1"), &json!(true), &json!(true))
    );
    assert!(
        !after.to_string().contains("ck-secret-1"),
        "no key: {after}"
    );
    w.app.stop().await;
});

// The operator API's providers, categories and SMTP settings, and `souk admin shop`:
// each change is its audit row, none happens when the row cannot be written, and no
// key or password is ever in a row.
engine_test!(api_and_command_line_changes_are_audited, |db| {
    let w = world(db).await;
    let app = &w.app;
    let api = "operator API";
    let subject = format!("provider:{}", w.provider);
    let patch = reqwest::Method::PATCH;
    let post = reqwest::Method::POST;

    // `connect` added and imported through the API: both rows, the key in neither.
    let rows = app
        .store
        .audit_log(Some(&subject), None, 10)
        .await
        .expect("audit");
    let made: Vec<(&str, &str, Value)> = rows
        .iter()
        .rev()
        .map(|r| {
            let after = r
                .after_value
                .as_deref()
                .map_or(Value::Null, |a| serde_json::from_str(a).expect("json"));
            (r.action.as_str(), r.operator_email.as_str(), after)
        })
        .collect();
    assert_eq!(made.len(), 2, "{made:?}");
    assert_eq!(
        made[0],
        (
            "provider.create",
            api,
            json!({"name": "Upstream Panel", "url": w.fake.url})
        )
    );
    assert_eq!((made[1].0, made[1].1), ("provider.import", api));
    assert_eq!(
        (&made[1].2["markupPercent"], &made[1].2["roundTo"]),
        (&json!("20.00"), &json!("0.01"))
    );
    for r in &rows {
        assert!(!format!("{r:?}").contains("upstream-key"), "{r:?}");
    }

    // With the log refusing rows, nothing changes.
    let shops = app.store.all_shops().await.expect("shops");
    let balance = app.store.user(&w.buyer).await.expect("user").balance;
    let mut actions: Vec<Try> = [
        (
            patch.clone(),
            format!("/providers/{}", w.provider),
            Some(json!({"name": "Renamed", "key": "new-key-123"})),
        ),
        (
            post.clone(),
            format!("/providers/{}/check", w.provider),
            None,
        ),
        (
            post.clone(),
            format!("/providers/{}/sync", w.provider),
            None,
        ),
        (
            post.clone(),
            "/categories".into(),
            Some(json!({"slug": "mail", "name": "Mail"})),
        ),
        (
            reqwest::Method::PUT,
            "/notifiers/smtp".into(),
            Some(json!({"host": "smtp.example.com", "from": "shop@example.com"})),
        ),
        (
            post.clone(),
            format!("/users/{}/balance", w.buyer),
            Some(json!({"amount": "5", "note": "goodwill"})),
        ),
    ]
    .into_iter()
    .map(|(method, path, body)| Try::Api(method, path, body))
    .collect();
    actions.push(Try::Command(vec![
        "admin",
        "shop",
        "update",
        "--id",
        &shops[0].id,
        "--name",
        "Renamed",
    ]));
    let state = || async {
        (
            app.store.provider(&w.provider).await.expect("provider"),
            app.operator(reqwest::Method::GET, "/categories", None)
                .await,
            app.store.smtp_notifier().await.expect("smtp").is_none(),
            app.store.user(&w.buyer).await.expect("user").balance,
            app.store.all_shops().await.expect("shops"),
            app.store.audit_log(None, None, 1000).await.expect("audit"),
        )
    };
    without_the_log(app, db, actions, state).await;
    assert!(app.store.smtp_notifier().await.expect("smtp").is_none());

    // Its balance asked, its services synced.
    let (status, _) = app
        .operator(
            post.clone(),
            &format!("/providers/{}/check", w.provider),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        audited(app, &subject).await,
        (
            "provider.check".to_owned(),
            api.to_owned(),
            json!({"balance": null}),
            json!({"balance": "100.84292", "currency": "USD"})
        )
    );
    let (status, report) = app
        .operator(
            post.clone(),
            &format!("/providers/{}/sync", w.provider),
            None,
        )
        .await;
    assert_eq!(status, 200, "{report}");
    let (action, who, _, after) = audited(app, &subject).await;
    assert_eq!(
        (action.as_str(), who.as_str(), after),
        (
            "provider.sync",
            api,
            json!({"seen": report["seen"], "updated": 0, "disabled": 0})
        )
    );

    // A provider renamed with a new key: the key only "replaced".
    let (status, _) = app
        .operator(
            patch.clone(),
            &format!("/providers/{}", w.provider),
            Some(json!({"name": "Renamed", "key": "new-key-123"})),
        )
        .await;
    assert_eq!(status, 200);
    let (action, who, before, after) = audited(app, &subject).await;
    assert_eq!((action.as_str(), who.as_str()), ("provider.update", api));
    assert_eq!(
        (
            &before["name"],
            &before["key"],
            &after["name"],
            &after["key"]
        ),
        (
            &json!("Upstream Panel"),
            &Value::Null,
            &json!("Renamed"),
            &json!("replaced")
        )
    );
    assert!(!after.to_string().contains("new-key-123"));
    // A category made and renamed.
    let (status, made) = app
        .operator(
            post.clone(),
            "/categories",
            Some(json!({"slug": "mail", "name": "Mail", "position": 3})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("id").to_owned();
    let category = format!("category:{id}");
    assert_eq!(
        audited(app, &category).await,
        (
            "category.create".to_owned(),
            api.to_owned(),
            Value::Null,
            json!({"slug": "mail", "name": "Mail", "position": 3, "active": true})
        )
    );
    let (status, _) = app
        .operator(
            patch.clone(),
            &format!("/categories/{id}"),
            Some(json!({"name": "Post"})),
        )
        .await;
    assert_eq!(status, 200);
    let (action, who, before, after) = audited(app, &category).await;
    assert_eq!((action.as_str(), who.as_str()), ("category.update", api));
    assert_eq!(
        (&before["name"], &after["name"]),
        (&json!("Mail"), &json!("Post"))
    );

    // SMTP set up: the password only "replaced".
    let (status, answer) = app
        .operator(
            reqwest::Method::PUT,
            "/notifiers/smtp",
            Some(json!({
                "host": "smtp.example.com", "from": "shop@example.com",
                "username": "mailer", "password": "secret-pw-1"
            })),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (action, who, before, after) = audited(app, "notifier:smtp").await;
    assert_eq!(
        (action.as_str(), who.as_str(), before),
        ("smtp.configure", api, Value::Null)
    );
    assert_eq!(
        (&after["host"], &after["username"], &after["password"]),
        (
            &json!("smtp.example.com"),
            &json!("mailer"),
            &json!("replaced")
        )
    );
    assert!(!after.to_string().contains("secret-pw-1"));

    // A balance credited: before and after read in the booking's transaction.
    let (status, answer) = app
        .operator(
            post.clone(),
            &format!("/users/{}/balance", w.buyer),
            Some(json!({"amount": "5", "note": "goodwill"})),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let (action, who, before, after) = audited(app, &format!("user:{}", w.buyer)).await;
    assert_eq!(
        (
            action.as_str(),
            who.as_str(),
            before,
            &after["balance"],
            &after["amount"]
        ),
        (
            "user.balance",
            api,
            json!({"balance": Money::from_micros(balance).display2()}),
            &json!(Money::from_micros(balance + 5_000_000).display2()),
            &json!("5.00")
        )
    );

    // A shop renamed from the command line.
    let (ok, out, err) = souk(
        db,
        &[
            "admin",
            "shop",
            "update",
            "--id",
            &shops[0].id,
            "--name",
            "Renamed",
        ],
    );
    assert!(ok, "{out}{err}");
    let (action, who, before, after) = audited(app, &format!("shop:{}", shops[0].id)).await;
    assert_eq!(
        (
            action.as_str(),
            who.as_str(),
            &before["name"],
            &after["name"]
        ),
        (
            "shop.update",
            "command line",
            &json!(shops[0].name),
            &json!("Renamed")
        )
    );
    w.app.stop().await;
});
