//! What an upstream provider lists and what reaches it, beyond the outbox: imported
//! products kept in step with the provider's prices and stock, SMM type fields forwarded
//! verbatim, and refills of drip-feed orders run here.

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{product_service, typed_service, variant, FakeUpstream, Shape};
use crate::harness::{private_upstreams, wait_for, TestApp, TestDb};
use crate::providers::{connect, forward_state, offer_dripfeed_here, panel_services};

async fn row(app: &TestApp, key: &str, service: i64) -> Value {
    let v = app.call(&[("key", key), ("action", "services")]).await;
    v["services"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["service"] == service).cloned())
        .unwrap_or(Value::Null)
}

/// (row rate, min, max, stock) and each listed variant's (name, stock).
async fn product(app: &TestApp, key: &str, service: i64) -> (Value, Vec<(String, i64)>) {
    let r = row(app, key, service).await;
    let inventory = app
        .call(&[
            ("key", key),
            ("action", "inventory"),
            ("service", &service.to_string()),
        ])
        .await;
    let variants = inventory["subproducts"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|v| {
                    (
                        v["name"].as_str().unwrap_or("").to_owned(),
                        v["stock"].as_i64().unwrap_or(-1),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (json!([r["rate"], r["min"], r["max"], r["stock"]]), variants)
}

/// (upstream id, SMM type, the buyer's fields besides the service, the quantity that must
/// reach the upstream).
type TypedCase = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    i64,
);

async fn log(app: &TestApp, provider: &str) -> Vec<String> {
    let (_, log) = app
        .operator(Method::GET, &format!("/providers/{provider}/log"), None)
        .await;
    log["log"]
        .as_array()
        .expect("log")
        .iter()
        .map(|e| e["change"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// `add` with `params` (key, service, ...), then waits until the order went upstream: its id.
async fn add_sent(app: &TestApp, db: &TestDb, params: &[(&str, &str)]) -> i64 {
    let mut form = vec![("action", "add")];
    form.extend_from_slice(params);
    let v = app.call(&form).await;
    let order = v["order"].as_i64().unwrap_or_else(|| panic!("{v}"));
    wait_for(10, "the send", || async {
        forward_state(db, order).await == "sent"
    })
    .await;
    order
}

engine_test!(sync_follows_product_prices_limits_and_variant_stock, |db| {
    let app = TestApp::spawn_with(db, private_upstreams()).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(
        Shape::Hstock,
        false,
        vec![product_service(
            "21",
            "Netflix Premium",
            "2.00",
            (1, 10),
            15,
        )],
    )
    .await;
    fake.set_inventory(
        "21",
        vec![variant("v1", "1 Month", 10), variant("v2", "3 Months", 5)],
    );
    let (provider, numbers) = connect(&app, &fake, false, 2_000).await;
    let netflix = numbers[0];
    // 2.00 + 20 % = 2.40 for the primary variant, the one whose price the row publishes;
    // stock as the upstream's inventory says. "3 Months" has no published price: it is
    // held back, not sold at the primary's.
    assert_eq!(
        product(&app, &key, netflix).await,
        (json!(["2.40", 1, 10, 10]), vec![("1 Month".into(), 10)])
    );
    let held = "variant \"3 Months\" held back: the provider publishes no price for it; price it to sell it";
    assert!(log(&app, &provider).await.iter().any(|c| c == held));
    let (s, listed) = app
        .operator(
            Method::GET,
            &format!("/providers/{provider}/variants"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{listed}");
    let variants = listed["variants"].as_array().expect("variants");
    let summary: Vec<Value> = variants
        .iter()
        .map(|v| {
            json!([
                v["name"],
                v["upstreamId"],
                v["price"],
                v["priceSetBy"],
                v["active"],
                v["listedUpstream"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["1 Month", "v1", "2.40", "provider", true, true]),
            json!(["3 Months", "v2", "2.40", "provider", false, true]),
        ]
    );
    let three_months = variants[1]["subproductId"].as_str().expect("id").to_owned();
    // Held back means not for sale, also when named.
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &netflix.to_string()),
            ("subproduct", &three_months),
            ("quantity", "1"),
        ])
        .await,
        json!({"error": "Subproduct not found"})
    );
    // Pricing it: refusals first, which change nothing.
    let own = db
        .scalar("SELECT COUNT(*) FROM subproducts WHERE price_pinned")
        .await;
    for (id, body, code, error) in [
        (
            three_months.as_str(),
            json!({"price": "0"}),
            400,
            "price must be above zero",
        ),
        (
            three_months.as_str(),
            json!({"price": "-1"}),
            400,
            "price must not be negative",
        ),
        (
            "0123456789abcdef01234567",
            json!({"price": "7.20"}),
            404,
            "Imported variant not found",
        ),
    ] {
        let (s, v) = app
            .operator(Method::PATCH, &format!("/variants/{id}"), Some(body))
            .await;
        assert_eq!((s, v), (code, json!({"error": error})));
    }
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM subproducts WHERE price_pinned")
            .await,
        own
    );
    let (s, priced) = app
        .operator(
            Method::PATCH,
            &format!("/variants/{three_months}"),
            Some(json!({"price": "7.20"})),
        )
        .await;
    assert_eq!(s, 200, "{priced}");
    assert_eq!(
        (
            priced["price"].clone(),
            priced["priceSetBy"].clone(),
            priced["active"].clone()
        ),
        (json!("7.20"), json!("operator"), json!(true))
    );
    assert_eq!(
        product(&app, &key, netflix).await,
        (
            json!(["2.40", 1, 10, 15]),
            vec![("1 Month".into(), 10), ("3 Months".into(), 5)]
        )
    );
    // Upstream: dearer, other limits, less stock, and one variant gone.
    fake.set_services(vec![product_service(
        "21",
        "Netflix Premium",
        "2.50",
        (2, 8),
        7,
    )]);
    fake.set_inventory("21", vec![variant("v1", "1 Month", 7)]);
    let (s, report) = app
        .operator(Method::POST, &format!("/providers/{provider}/sync"), None)
        .await;
    assert_eq!(s, 200, "{report}");
    assert_eq!(
        (report["updated"].clone(), report["disabled"].clone()),
        (json!(["21"]), json!([]))
    );
    // The row's max never exceeds the primary variant's stock.
    assert_eq!(
        product(&app, &key, netflix).await,
        (json!(["3.00", 2, 7, 7]), vec![("1 Month".into(), 7)])
    );
    let changes = log(&app, &provider).await;
    for want in [
        "price 2.40 -> 3.00",
        "limits 1..10 -> 2..8",
        "stock of \"1 Month\" 10 -> 7",
        "variant \"3 Months\" disabled: no longer listed upstream",
    ] {
        assert!(changes.iter().any(|c| c == want), "{want:?} in {changes:?}");
    }
    // Buying uses the new price and goes upstream as the variant it names there.
    let netflix_number = netflix.to_string();
    let bought = add_sent(
        &app,
        db,
        &[
            ("key", &key),
            ("service", &netflix_number),
            ("quantity", "2"),
        ],
    )
    .await;
    let sent = fake.orders();
    assert_eq!(
        (
            sent[0].quantity,
            sent[0].fields.get("subproduct").cloned(),
            sent[0].service.clone()
        ),
        (2, Some("v1".into()), "21".into())
    );
    let status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &bought.to_string()),
        ])
        .await;
    assert_eq!(status["charge"], "6.00");
    // The periodic sync (the worker's own pass): the variant is back, stock follows, and
    // a variant new upstream joins, held back for a price.
    fake.set_inventory(
        "21",
        vec![
            variant("v1", "1 Month", 7),
            variant("v2", "3 Months", 3),
            variant("v3", "12 Months", 4),
        ],
    );
    let ctx =
        souk::server::worker_context(app.store.clone(), std::sync::Arc::new(app.clock.clone()))
            .await
            .expect("ctx");
    let ctx = souk_workers::WorkerContext {
        allow_private_upstreams: true,
        ..ctx
    };
    let provider_row = app.store.provider(&provider).await.expect("provider");
    let report = souk_app::providers::sync_provider(
        &ctx.store,
        &provider_row,
        ctx.allow_private_upstreams,
        &*ctx.clock,
    )
    .await
    .expect("sync");
    assert_eq!(report.updated, vec!["21".to_owned()]);
    wait_for(10, "the change on this node", || async {
        product(&app, &key, netflix).await
            == (
                json!(["3.00", 2, 7, 10]),
                vec![("1 Month".into(), 7), ("3 Months".into(), 3)],
            )
    })
    .await;
    let changes = log(&app, &provider).await;
    for want in [
        "variant \"3 Months\" re-enabled",
        "stock of \"3 Months\" 5 -> 3",
        "stock of \"1 Month\" 5 -> 7",
        "variant \"3 Months\" priced by the operator: 2.40 -> 7.20",
        "variant \"12 Months\" held back: the provider publishes no price for it; price it to sell it",
    ] {
        assert!(changes.iter().any(|c| c == want), "{want:?} in {changes:?}");
    }
    let (_, listed) = app
        .operator(
            Method::GET,
            &format!("/providers/{provider}/variants"),
            None,
        )
        .await;
    let summary: Vec<Value> = listed["variants"]
        .as_array()
        .expect("variants")
        .iter()
        .map(|v| {
            json!([
                v["name"],
                v["upstreamId"],
                v["price"],
                v["priceSetBy"],
                v["active"],
                v["stock"]
            ])
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            json!(["1 Month", "v1", "3.00", "provider", true, 7]),
            json!(["3 Months", "v2", "7.20", "operator", true, 3]),
            json!(["12 Months", "v3", "3.00", "provider", false, 4]),
        ]
    );
    // The operator's price outlived both syncs: buying "3 Months" charges it, and the
    // order goes upstream as v2.
    let dearer = add_sent(
        &app,
        db,
        &[
            ("key", &key),
            ("service", &netflix_number),
            ("subproduct", &three_months),
            ("quantity", "2"),
        ],
    )
    .await;
    let sent = fake.orders();
    assert_eq!(sent[1].fields.get("subproduct").cloned(), Some("v2".into()));
    let status = app
        .call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &dearer.to_string()),
        ])
        .await;
    assert_eq!(status["charge"], "14.40");
    // The periodic pass records the balance too.
    assert_eq!(
        app.store
            .provider(&provider)
            .await
            .expect("provider")
            .balance
            .map(|b| b.display2()),
        Some("100.84292".into())
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(smm_type_fields_reach_the_upstream_verbatim, |db| {
    let app = TestApp::spawn_with(db, private_upstreams()).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let cases: Vec<TypedCase> = vec![
        (
            "31",
            "Custom Comments",
            vec![
                ("link", "https://instagram.com/p/a"),
                ("comments", "Great shot!\nLove it\n🔥 wow"),
            ],
            3,
        ),
        (
            "32",
            "Custom Comments Package",
            vec![
                ("link", "https://instagram.com/p/b"),
                ("comments", "one\ntwo"),
            ],
            1,
        ),
        (
            "33",
            "Package",
            vec![("link", "https://instagram.com/p/c")],
            1,
        ),
        (
            "34",
            "Mentions Custom List",
            vec![
                ("link", "https://instagram.com/p/d"),
                ("usernames", "alice\nbob"),
            ],
            2,
        ),
        (
            "35",
            "Mentions with Hashtags",
            vec![
                ("link", "https://instagram.com/p/e"),
                ("quantity", "100"),
                ("usernames", "alice,bob"),
                ("hashtags", "#souk,#rust"),
            ],
            100,
        ),
        (
            "36",
            "Mentions Hashtag",
            vec![
                ("link", "https://instagram.com/p/f"),
                ("quantity", "100"),
                ("hashtag", "#souk"),
            ],
            100,
        ),
        (
            "37",
            "Mentions User Followers",
            vec![
                ("link", "https://instagram.com/p/g"),
                ("quantity", "100"),
                ("username", "carol"),
            ],
            100,
        ),
        (
            "38",
            "Mentions Media Likers",
            vec![
                ("link", "https://instagram.com/p/h"),
                ("quantity", "100"),
                ("media", "https://instagram.com/p/media"),
            ],
            100,
        ),
        (
            "39",
            "Comment Likes",
            vec![
                ("link", "https://instagram.com/p/i"),
                ("quantity", "100"),
                ("username", "dave"),
            ],
            100,
        ),
        (
            "40",
            "Comment Replies",
            vec![
                ("link", "https://instagram.com/p/j"),
                ("username", "erin"),
                ("comments", "reply one\nreply two"),
            ],
            2,
        ),
        (
            "41",
            "Poll",
            vec![
                ("link", "https://instagram.com/p/k"),
                ("quantity", "100"),
                ("answer_number", "2"),
            ],
            100,
        ),
        (
            "42",
            "SEO",
            vec![
                ("link", "https://souk.test"),
                ("quantity", "100"),
                ("keywords", "smm panel\nreseller"),
            ],
            100,
        ),
        (
            "43",
            "Invites from Groups",
            vec![
                ("link", "https://t.me/x"),
                ("quantity", "100"),
                ("groups", "group_a\ngroup_b"),
            ],
            100,
        ),
        (
            "44",
            "Subscriptions",
            vec![
                ("username", "frank"),
                ("min", "100"),
                ("max", "200"),
                ("posts", "5"),
                ("old_posts", "2"),
                ("delay", "30"),
                ("expiry", "31/12/2030"),
            ],
            200,
        ),
        (
            "45",
            "Web Traffic",
            vec![
                ("link", "https://souk.test/landing"),
                ("quantity", "100"),
                ("country", "US"),
                ("device", "2"),
                ("type_of_traffic", "1"),
                ("google_keyword", "self-hosted marketplace"),
                ("referring_url", "https://referrer.test/"),
            ],
            100,
        ),
    ];
    let services: Vec<Value> = cases
        .iter()
        .map(|(id, type_name, _, _)| typed_service(id, type_name, "1.00", (1, 1000)))
        .collect();
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, services).await;
    let (_, numbers) = connect(&app, &fake, false, 2_000).await;
    assert_eq!(numbers.len(), cases.len());
    let mut ids = Vec::new();
    for (number, (upstream, type_name, fields, quantity)) in numbers.iter().zip(&cases) {
        let mut params = vec![("key", key.as_str()), ("action", "add")];
        let service = number.to_string();
        params.push(("service", &service));
        params.extend(fields.iter().copied());
        let v = app.call(&params).await;
        let id = v["order"]
            .as_i64()
            .unwrap_or_else(|| panic!("{type_name}: {v}"));
        ids.push(id);
        wait_for(10, "the send", || async {
            forward_state(db, id).await == "sent"
        })
        .await;
        let received = fake
            .orders()
            .into_iter()
            .find(|o| o.service == *upstream)
            .unwrap_or_else(|| panic!("{type_name} did not reach the upstream"));
        assert_eq!(received.quantity, *quantity, "{type_name}");
        for (name, value) in fields {
            if *name == "quantity" {
                continue;
            }
            assert_eq!(
                received.fields.get(*name).map(String::as_str),
                Some(*value),
                "{type_name}: {name}"
            );
        }
        // Nothing else of the buyer's request travels: our key stays ours.
        let mut sent: Vec<&str> = received.fields.keys().map(String::as_str).collect();
        sent.sort_unstable();
        let mut want: Vec<&str> = fields
            .iter()
            .map(|(n, _)| *n)
            .chain(["key", "action", "service", "link", "quantity"])
            .collect();
        want.sort_unstable();
        want.dedup();
        assert_eq!(sent, want, "{type_name}");
        assert_eq!(
            received.fields.get("key").map(String::as_str),
            Some("upstream-key")
        );
    }
    // Packages charge the rate once (1.00 + 20 %); comments count one unit a line.
    for (id, charge) in [(ids[2], "1.20"), (ids[0], "0.0036")] {
        let v = app
            .call(&[
                ("key", &key),
                ("action", "status"),
                ("order", &id.to_string()),
            ])
            .await;
        assert_eq!(v["charge"], charge);
    }
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(refill_of_a_dripfeed_order_run_here_is_refused, |db| {
    // Stepped: the test runs the forwarder, the status sync and the job queue itself.
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (_, numbers) = connect(&app, &fake, false, 2_000).await;
    // Followers have refill but no drip-feed upstream: the operator offers drip-feed,
    // so its runs are sent from here.
    let followers = numbers[0];
    offer_dripfeed_here(&app, db, &key, followers).await;
    let v = app
        .call(&[
            ("key", &key),
            ("action", "add"),
            ("service", &followers.to_string()),
            ("link", "https://instagram.com/u"),
            ("quantity", "100"),
            ("runs", "2"),
            ("interval", "1"),
        ])
        .await;
    let parent = v["order"].as_i64().unwrap_or_else(|| panic!("{v}"));
    app.run_forwarding().await;
    assert_eq!(fake.orders().len(), 1, "the first run");
    app.clock.advance(60_000);
    app.run_forwarding().await;
    assert_eq!(fake.orders().len(), 2, "the second run");
    for o in fake.orders() {
        fake.set_status(o.id, "Completed", 0, 5);
    }
    app.sync_until(10, "the parent to complete", || async {
        app.call(&[
            ("key", &key),
            ("action", "status"),
            ("order", &parent.to_string()),
        ])
        .await["status"]
            == "Completed"
    })
    .await;
    let refused = json!({"error": "Refill is not available for drip-feed orders run in parts"});
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "refill"),
            ("order", &parent.to_string()),
        ])
        .await,
        refused
    );
    assert_eq!(
        app.call(&[
            ("key", &key),
            ("action", "refill"),
            ("orders", &parent.to_string()),
        ])
        .await,
        json!([{"order": parent, "refill": refused}])
    );
    // Nothing went upstream and no refill was recorded: the queue has nothing to send.
    app.run_jobs().await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM jobs WHERE kind = 'refill.send'")
            .await,
        0
    );
    assert!(fake.state.refills.lock().expect("lock").is_empty());
    assert_eq!(db.scalar("SELECT COUNT(*) FROM refills").await, 0);
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(
    a_marketplace_import_keeps_the_upstreams_category_tree,
    |db| {
        let app = TestApp::spawn_with(db, private_upstreams()).await;
        let key = app.buyer("buyer@test.local", "100").await;
        let with_sub = |id: &str, name: &str, sub: &str| {
            let mut row = product_service(id, name, "1.00", (1, 10), 5);
            row["category"] = json!("Email Accounts");
            row["subcategoryId"] = json!(sub);
            row
        };
        let mut bare = product_service("24", "Mystery box", "1.00", (1, 10), 5);
        bare["category"] = json!("Email Accounts");
        let fake = FakeUpstream::start(
            Shape::Hstock,
            false,
            vec![
                with_sub("21", "Gmail 2015", "s1"),
                with_sub("22", "Outlook aged", "s2"),
                with_sub("23", "Yahoo PVA", "s3"),
                with_sub("25", "Gmail fresh", "s1"),
                // A subcategory the upstream cannot name, and a row without one: the
                // category alone, as before.
                with_sub("26", "Unnamed", "s9"),
                bare,
            ],
        )
        .await;
        fake.set_subcategory("s1", "Email Accounts", "Gmail");
        fake.set_subcategory("s2", "Email Accounts", "Outlook / Hotmail");
        fake.set_subcategory("s3", "Email Accounts", "Yahoo Mail");
        // Its Russian names: kept by the import (other languages fall back to English).
        fake.translate_subcategory("ru", "s1", "Почта", "Gmail (RU)");
        fake.translate_subcategory("ru", "s2", "Почта", "Outlook (RU)");
        fake.translate_service("ru", "21", "Gmail 2015 RU");
        let (_, numbers) = connect(&app, &fake, false, 2_000).await;
        assert_eq!(numbers.len(), 6);
        let categories = app.call(&[("key", &key), ("action", "categories")]).await;
        let mut subs: Vec<Value> = categories["categories"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["category"] == "Email Accounts"))
            .and_then(|c| c["subcategories"].as_array().cloned())
            .unwrap_or_else(|| panic!("{categories}"));
        subs.sort_by_key(|s| s.as_str().unwrap_or("").to_owned());
        assert_eq!(
            subs,
            vec![
                json!("Email Accounts"),
                json!("Gmail"),
                json!("Outlook / Hotmail"),
                json!("Yahoo Mail")
            ]
        );
        // Each product sits in its own subcategory; both Gmail products in the one.
        let in_sub = |sub: &str| {
            let sub = sub.to_owned();
            let app = &app;
            let key = key.clone();
            async move {
                let v = app
                    .call(&[("key", &key), ("action", "products"), ("subcategory", &sub)])
                    .await;
                let mut names: Vec<String> = v["products"]
                    .as_array()
                    .expect("products")
                    .iter()
                    .map(|p| p["name"].as_str().unwrap_or("").to_owned())
                    .collect();
                names.sort();
                names
            }
        };
        assert_eq!(in_sub("Gmail").await, vec!["Gmail 2015", "Gmail fresh"]);
        assert_eq!(in_sub("Outlook / Hotmail").await, vec!["Outlook aged"]);
        assert_eq!(in_sub("Yahoo Mail").await, vec!["Yahoo PVA"]);
        assert_eq!(
            in_sub("Email Accounts").await,
            vec!["Mystery box", "Unnamed"]
        );
        let ru = app
            .call(&[("key", &key), ("action", "categories"), ("lang", "ru")])
            .await;
        let mut ru_subs: Vec<Value> = ru["categories"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["category"] == "Почта"))
            .and_then(|c| c["subcategories"].as_array().cloned())
            .unwrap_or_else(|| panic!("{ru}"));
        ru_subs.sort_by_key(|s| s.as_str().unwrap_or("").to_owned());
        assert_eq!(
            ru_subs,
            vec![
                json!("Email Accounts"),
                json!("Gmail (RU)"),
                json!("Outlook (RU)"),
                json!("Yahoo Mail")
            ]
        );
        let products = app
            .call(&[
                ("key", &key),
                ("action", "products"),
                ("subcategory", "Gmail"),
                ("lang", "ru"),
            ])
            .await;
        let mut ru_names: Vec<Value> = products["products"]
            .as_array()
            .expect("products")
            .iter()
            .map(|p| p["name"].clone())
            .collect();
        ru_names.sort_by_key(|n| n.as_str().unwrap_or("").to_owned());
        assert_eq!(ru_names, vec![json!("Gmail 2015 RU"), json!("Gmail fresh")]);
        app.stop().await;
    }
);

/// A provider at `fake` made through the operator API: (its id, its API path).
async fn euro_panel(app: &TestApp, fake: &FakeUpstream) -> (String, String) {
    let (status, provider) = app
        .operator(
            Method::POST,
            "/providers",
            Some(
                json!({"name": "Euro Panel", "url": fake.url, "key": "upstream-key",
                        "timeoutMs": 15000, "requestsPerSecond": 0}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{provider}");
    let id = provider["id"].as_str().expect("id").to_owned();
    let path = format!("/providers/{id}");
    (id, path)
}

engine_test!(a_provider_billing_in_another_currency_is_converted, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    let (id, path) = euro_panel(&app, &fake).await;
    // Bad input is refused and changes nothing.
    for (body, error) in [
        (
            json!({"currency": "EURO", "currencyRate": "1.10"}),
            "Currency must be a three-letter code such as EUR",
        ),
        (
            json!({"currency": "EUR"}),
            "currency and currencyRate go together (currency null: our own)",
        ),
        (
            json!({"currencyRate": "1.10"}),
            "currency and currencyRate go together (currency null: our own)",
        ),
    ] {
        let (s, v) = app.operator(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!((s, v["error"].clone()), (400, json!(error)), "{body}");
    }
    let (s, v) = app
        .operator(
            Method::PATCH,
            &path,
            Some(json!({"currency": "EUR", "currencyRate": "0"})),
        )
        .await;
    assert_eq!(s, 400, "{v}");
    let (_, shown) = app.operator(Method::GET, &path, None).await;
    assert_eq!(
        (shown["currency"].clone(), shown["currencyRate"].clone()),
        (json!(null), json!(null))
    );
    let (s, v) = app
        .operator(
            Method::PATCH,
            &path,
            Some(json!({"currency": "eur", "currencyRate": "1.10"})),
        )
        .await;
    assert_eq!(
        (s, v["currency"].clone(), v["currencyRate"].clone()),
        (200, json!("EUR"), json!("1.10"))
    );
    // 0.90 EUR x 1.10 = 0.99, + 20 % = 1.188, rounded up to 1.19.
    let (s, imported) = app
        .operator(
            Method::POST,
            &format!("/providers/{id}/import"),
            Some(json!({"markup": "20", "round": "0.01"})),
        )
        .await;
    assert_eq!(s, 200, "{imported}");
    let logged = log(&app, &id).await;
    assert!(
        logged
            .iter()
            .any(|l| l == "imported 11 \"IG Followers HQ\" at 1.19 (provider's 0.90 EUR x 1.10)"),
        "{logged:?}"
    );
    // The provider raises its price to 1.00 EUR: 1.10 ours, 1.32 with the markup.
    let mut services = panel_services();
    services[0]["rate"] = json!("1.00");
    fake.set_services(services);
    let (s, _) = app
        .operator(Method::POST, &format!("/providers/{id}/sync"), None)
        .await;
    assert_eq!(s, 200);
    let logged = log(&app, &id).await;
    assert!(
        logged
            .iter()
            .any(|l| l == "rate 1.19 -> 1.32 (provider's 1.00 EUR x 1.10)"),
        "{logged:?}"
    );
    // Its balance (100.84292 EUR) is kept in ours.
    let (s, _) = app
        .operator(Method::POST, &format!("/providers/{id}/check"), None)
        .await;
    assert_eq!(s, 200);
    let (_, shown) = app.operator(Method::GET, &path, None).await;
    assert_eq!(shown["balance"], "110.927212");
    // Back to our currency.
    let (s, v) = app
        .operator(Method::PATCH, &path, Some(json!({"currency": null})))
        .await;
    assert_eq!((s, v["currency"].clone()), (200, json!(null)));
    app.stop().await;
});

/// A rate source: serves whatever document the test puts in it (as text/plain, as some
/// do), and counts the requests.
struct RateSource {
    url: String,
    body: std::sync::Arc<std::sync::Mutex<String>>,
}

impl RateSource {
    async fn start(body: &str) -> RateSource {
        let shared = std::sync::Arc::new(std::sync::Mutex::new(body.to_owned()));
        let served = shared.clone();
        let router = axum::Router::new().route(
            "/latest",
            axum::routing::get(move || {
                let body = served.lock().expect("body").clone();
                async move { ([("content-type", "text/plain")], body) }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/latest", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        RateSource { url, body: shared }
    }

    fn set(&self, body: &str) {
        *self.body.lock().expect("body") = body.to_owned();
    }
}

engine_test!(a_provider_rate_is_read_from_its_source_on_each_sync, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let fake = FakeUpstream::start(Shape::PerfectPanel, false, panel_services()).await;
    // Based on our currency: 0.8 EUR per one of ours, so one EUR is 1.25 of ours.
    let source = RateSource::start(r#"{"base":"USD","rates":{"EUR":"0.80"}}"#).await;
    let (id, path) = euro_panel(&app, &fake).await;
    // Bad input is refused and changes nothing.
    for (body, error) in [
        (
            json!({"rateSource": {"url": source.url, "pointer": "rates.EUR"}}),
            "rate pointer must be a JSON pointer such as /rates/EUR",
        ),
        (
            json!({"rateSource": {"url": "ftp://rates.example/x", "pointer": "/rates/EUR"}}),
            "Rate source URL must be http(s)://...: ftp://rates.example/x",
        ),
    ] {
        let (s, v) = app.operator(Method::PATCH, &path, Some(body.clone())).await;
        assert_eq!((s, v["error"].clone()), (400, json!(error)), "{body}");
    }
    let (_, shown) = app.operator(Method::GET, &path, None).await;
    assert_eq!(shown["rateSource"], json!(null));
    let (s, v) = app
        .operator(
            Method::PATCH,
            &path,
            Some(json!({"currency": "EUR", "currencyRate": "1.10",
                        "rateSource": {"url": source.url, "pointer": "/rates/EUR", "inverse": true}})),
        )
        .await;
    assert_eq!(
        (s, v["rateSource"].clone()),
        (
            200,
            json!({"url": source.url, "pointer": "/rates/EUR", "inverse": true})
        ),
        "{v}"
    );
    // The import reads the rate first: 0.90 EUR x 1.25 = 1.125, + 20 % = 1.35.
    let (s, imported) = app
        .operator(
            Method::POST,
            &format!("/providers/{id}/import"),
            Some(json!({"markup": "20", "round": "0.01"})),
        )
        .await;
    assert_eq!(s, 200, "{imported}");
    let logged = log(&app, &id).await;
    assert!(
        logged
            .iter()
            .any(|l| *l == format!("currency rate EUR 1.10 -> 1.25 (from {})", source.url)),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l == "imported 11 \"IG Followers HQ\" at 1.35 (provider's 0.90 EUR x 1.25)"),
        "{logged:?}"
    );
    // The periodic sync (a job) reads it again: the euro fell to 1.00.
    source.set(r#"{"base":"USD","rates":{"EUR":1}}"#);
    souk_workers::jobs::ensure_periodic_jobs(&app.workers)
        .await
        .expect("enqueue");
    app.clock.advance(15 * 60_000);
    assert_eq!(app.run_jobs().await.ran(), 1);
    let logged = log(&app, &id).await;
    assert!(
        logged
            .iter()
            .any(|l| *l == format!("currency rate EUR 1.25 -> 1.00 (from {})", source.url)),
        "{logged:?}"
    );
    assert!(
        logged
            .iter()
            .any(|l| l == "rate 1.35 -> 1.08 (provider's 0.90 EUR x 1.00)"),
        "{logged:?}"
    );
    // A source that answers nonsense leaves the rate as it was, and says so.
    source.set("<html>maintenance</html>");
    let (s, _) = app
        .operator(Method::POST, &format!("/providers/{id}/sync"), None)
        .await;
    assert_eq!(s, 200);
    let logged = log(&app, &id).await;
    assert_eq!(
        logged[0], "currency rate EUR kept at 1.00: the rate source did not answer JSON",
        "{logged:?}"
    );
    let (_, shown) = app.operator(Method::GET, &path, None).await;
    assert_eq!(shown["currencyRate"], "1.00");
    // Stopped: the rate stays where it is.
    let (s, v) = app
        .operator(Method::PATCH, &path, Some(json!({"rateSource": null})))
        .await;
    assert_eq!(
        (s, v["rateSource"].clone(), v["currencyRate"].clone()),
        (200, json!(null), json!("1.00"))
    );
    app.stop().await;
});
