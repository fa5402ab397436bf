//! A loose PHP panel as upstream (issue 18): JSON as text/html after a newline, numbers
//! as strings, lower-case types, wrapped lists, bare-string errors. Imported with a
//! markup from the command line, it keeps each service's type, receives an order of every
//! type with the buyer's fields unchanged, and its statuses (refunds included) flow back;
//! what it does oddly shows in its log.

use reqwest::Method;
use serde_json::{json, Value};

use crate::engine_test;
use crate::fake_upstream::{typed_service, FakeUpstream, Shape};
use crate::harness::{TestApp, TestDb};
use crate::provider_cli::ok;

/// (upstream id, type, the buyer's fields besides key/action/service, quantity upstream).
type Case = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
    i64,
);

/// One order of every type, as PerfectPanel's published PHP client sends them: form
/// fields, lists one per line (`\n`, or `\r\n` from a Windows text box).
fn cases() -> Vec<Case> {
    let link = ("link", "https://instagram.com/p/a");
    let q = ("quantity", "100");
    vec![
        ("50", "Default", vec![link, q], 100),
        ("51", "Package", vec![link], 1),
        (
            "52",
            "Custom Comments",
            vec![link, ("comments", "Great shot!\r\nLove it\r\n🔥 wow")],
            3,
        ),
        (
            "53",
            "Custom Comments Package",
            vec![link, ("comments", "one\ntwo")],
            1,
        ),
        (
            "54",
            "Mentions with Hashtags",
            vec![
                link,
                q,
                ("usernames", "alice,bob"),
                ("hashtags", "#souk,#rust"),
            ],
            100,
        ),
        (
            "55",
            "Mentions Custom List",
            vec![link, ("usernames", "alice\r\nbob")],
            2,
        ),
        (
            "56",
            "Mentions Hashtag",
            vec![link, q, ("hashtag", "#souk")],
            100,
        ),
        (
            "57",
            "Mentions User Followers",
            vec![link, q, ("username", "carol")],
            100,
        ),
        (
            "58",
            "Mentions Media Likers",
            vec![link, q, ("media", "https://instagram.com/p/media")],
            100,
        ),
        (
            "59",
            "Comment Likes",
            vec![link, q, ("username", "dave")],
            100,
        ),
        (
            "60",
            "Comment Replies",
            vec![
                link,
                ("username", "erin"),
                ("comments", "reply one\nreply two"),
            ],
            2,
        ),
        ("61", "Poll", vec![link, q, ("answer_number", "2")], 100),
        (
            "62",
            "SEO",
            vec![link, q, ("keywords", "smm panel\r\nreseller")],
            100,
        ),
        (
            "63",
            "Invites from Groups",
            vec![link, q, ("groups", "group_a\ngroup_b")],
            100,
        ),
        (
            "64",
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
            "65",
            "Web Traffic",
            vec![
                ("link", "https://souk.test/landing"),
                q,
                ("country", "US"),
                ("device", "2"),
                ("type_of_traffic", "1"),
                ("google_keyword", "self-hosted marketplace"),
                ("referring_url", "https://referrer.test/"),
            ],
            100,
        ),
    ]
}

/// The provider's oddities as its log shows them: (kind, answers).
async fn oddities(app: &TestApp, provider: &str) -> Vec<(String, i64)> {
    let (status, log) = app
        .operator(Method::GET, &format!("/providers/{provider}/log"), None)
        .await;
    assert_eq!(status, 200, "{log}");
    let list = log["oddities"].as_array().expect("oddities");
    for o in list {
        assert!(!o["what"].as_str().unwrap_or("").is_empty(), "{o}");
    }
    list.iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or("").to_owned(),
                o["answers"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

fn import_from_the_command_line(db: &TestDb, fake: &FakeUpstream) -> (String, Vec<i64>) {
    ok(db, &["migrate"]);
    let provider = ok(
        db,
        &[
            "admin",
            "provider",
            "add",
            "--name",
            "PHP Panel",
            "--url",
            &fake.url,
            "--key",
            "upstream-key",
            "--timeout-ms",
            "2000",
            "--requests-per-second",
            "0",
        ],
    )
    .trim()
    .to_owned();
    let imported = ok(
        db,
        &[
            "admin",
            "provider",
            "import",
            "--provider",
            &provider,
            "--markup",
            "20",
            "--round",
            "0.01",
        ],
    );
    let numbers: Vec<i64> = imported
        .trim()
        .split_once('[')
        .and_then(|(_, rest)| rest.strip_suffix(']'))
        .unwrap_or_else(|| panic!("{imported}"))
        .split(',')
        .map(|n| n.trim().parse().expect("number"))
        .collect();
    (provider, numbers)
}

engine_test!(a_php_panel_is_imported_and_serves_every_order_type, |db| {
    let cases = cases();
    let services: Vec<Value> = cases
        .iter()
        .map(|(id, type_name, _, _)| typed_service(id, type_name, "1.00", (1, 1000)))
        .collect();
    let fake = FakeUpstream::start(Shape::Php, false, services).await;
    assert!(fake.url.ends_with("/api.php"), "{}", fake.url);
    let (provider, numbers) = import_from_the_command_line(db, &fake);
    assert_eq!(numbers.len(), cases.len());
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let key = app.buyer("buyer@test.local", "100").await;
    // What the panel did oddly in the one `services` answer of the import.
    let at_import: Vec<(String, i64)> = [
        "booleans_as_numbers",
        "json_as_html",
        "leading_whitespace",
        "numbers_as_strings",
        "type_spelling",
        "wrapped_list",
    ]
    .iter()
    .map(|k| ((*k).to_owned(), 1))
    .collect();
    assert_eq!(oddities(&app, &provider).await, at_import);
    let log = ok(db, &["admin", "provider", "log", "--provider", &provider]);
    assert!(
        log.lines()
            .any(|l| l.starts_with("oddity json_as_html in 1 answers")
                && l.ends_with("sends JSON as Content-Type text/html")),
        "{log}"
    );
    // Each service keeps the panel's type, in PerfectPanel's spelling, at 1.00 + 20 %.
    let listed = app.call(&[("key", &key), ("action", "services")]).await;
    let rows = listed["services"].as_array().expect("rows");
    for (number, (_, type_name, _, _)) in numbers.iter().zip(&cases) {
        let row = rows
            .iter()
            .find(|r| r["service"] == *number)
            .unwrap_or_else(|| panic!("{number} not listed"));
        assert_eq!(
            (row["type"].clone(), row["rate"].clone()),
            (json!(type_name), json!("1.20")),
            "{type_name}"
        );
    }
    // An order of every type; `status` shows the fields it was placed with.
    let mut ours = Vec::new();
    for (number, (_, type_name, fields, _)) in numbers.iter().zip(&cases) {
        let service = number.to_string();
        let mut form = vec![
            ("key", key.as_str()),
            ("action", "add"),
            ("service", &service),
        ];
        form.extend(fields.iter().copied());
        let v = app.call(&form).await;
        let id = v["order"]
            .as_i64()
            .unwrap_or_else(|| panic!("{type_name}: {v}"));
        let status = app
            .call(&[
                ("key", &key),
                ("action", "status"),
                ("order", &id.to_string()),
            ])
            .await;
        let own: serde_json::Map<String, Value> = fields
            .iter()
            .filter(|(n, _)| !matches!(*n, "link" | "quantity"))
            .map(|(n, v)| ((*n).to_owned(), json!(v)))
            .collect();
        let shown = status.get("params").cloned().unwrap_or(json!({}));
        assert_eq!(shown, Value::Object(own), "{type_name}: {status}");
        ours.push(id);
    }
    assert_eq!(app.run_forwarding().await, cases.len());
    // Each reached the panel once, with the buyer's fields as they were sent.
    let received = fake.orders();
    assert_eq!(received.len(), cases.len());
    let mut upstream_ids = Vec::new();
    for (id, (upstream, type_name, fields, quantity)) in ours.iter().zip(&cases) {
        let got = received
            .iter()
            .find(|o| o.service == *upstream)
            .unwrap_or_else(|| panic!("{type_name} did not reach the panel"));
        assert_eq!(got.quantity, *quantity, "{type_name}");
        let mut want: Vec<(String, String)> = fields
            .iter()
            .filter(|(n, _)| *n != "quantity")
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        want.extend([
            ("key".into(), "upstream-key".into()),
            ("action".into(), "add".into()),
            ("service".into(), (*upstream).to_owned()),
            ("quantity".into(), quantity.to_string()),
        ]);
        if !want.iter().any(|(n, _)| n == "link") {
            want.push(("link".into(), String::new()));
        }
        want.sort();
        let mut sent: Vec<(String, String)> = got.fields.clone().into_iter().collect();
        sent.sort();
        assert_eq!(sent, want, "{type_name}");
        let external = db
            .scalar(&format!(
                "SELECT CAST(external_id AS BIGINT) FROM orders WHERE id = {id}"
            ))
            .await;
        assert_eq!(external, got.id, "{type_name}");
        upstream_ids.push(external);
    }
    // Statuses flow back: completed, partial (the rest refunded), cancelled (all of it
    // refunded), and an id the panel no longer knows (a bare-string error: left open).
    let (default, comments, poll, hashtag) = (0, 2, 11, 6);
    fake.set_status(upstream_ids[default], "Completed", 0, 1500);
    fake.set_status(upstream_ids[poll], "Partial", 40, 10);
    fake.set_status(upstream_ids[comments], "Canceled", 3, 0);
    fake.forget(upstream_ids[hashtag]);
    let ids = format!(
        "{},{},{},{}",
        ours[default], ours[poll], ours[comments], ours[hashtag]
    );
    let statuses = || async {
        app.call(&[("key", &key), ("action", "status"), ("orders", &ids)])
            .await
    };
    app.sync_until(5, "the panel's statuses", || async {
        let v = statuses().await;
        v[ours[default].to_string()]["status"] == "Completed"
            && v[ours[poll].to_string()]["status"] == "Partial"
            && v[ours[comments].to_string()]["status"] == "Canceled"
    })
    .await;
    let v = statuses().await;
    let summary = |id: i64| {
        let s = &v[id.to_string()];
        json!([s["status"], s["charge"], s["start_count"], s["remains"]])
    };
    assert_eq!(
        summary(ours[default]),
        json!(["Completed", "0.12", 1500, 0])
    );
    // 100 at 1.20 per 1000 = 0.12; 40 of 100 undone: 0.048 back.
    assert_eq!(summary(ours[poll]), json!(["Partial", "0.072", 10, 40]));
    assert_eq!(summary(ours[comments]), json!(["Canceled", "0.00", 0, 3]));
    assert_eq!(summary(ours[hashtag]), json!(["Pending", "0.12", 0, 100]));
    for (order, refunds) in [(ours[poll], 1), (ours[comments], 1), (ours[default], 0)] {
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM ledger WHERE order_id = {order} AND kind = 'refund'"
            ))
            .await,
            refunds,
            "order {order}"
        );
    }
    // The log now also counts the sends and the polls, and the bare-string unknown id.
    let now: Vec<String> = oddities(&app, &provider)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    for kind in [
        "error_as_text",
        "null_numbers",
        "json_as_html",
        "numbers_as_strings",
    ] {
        assert!(now.iter().any(|k| k == kind), "{kind}: {now:?}");
    }
    let audit = ok(db, &["admin", "audit"]);
    assert!(!audit.is_empty());
    db.assert_audit_clean().await;
    // The forgotten order's poll job keeps its miss, as it should.
    app.expect_failed_jobs();
    app.stop().await;
});

engine_test!(
    a_field_of_another_type_is_refused_and_changes_nothing,
    |db| {
        let fake = FakeUpstream::start(
            Shape::Php,
            false,
            vec![typed_service("52", "Custom Comments", "1.00", (1, 1000))],
        )
        .await;
        let (_, numbers) = import_from_the_command_line(db, &fake);
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        let key = app.buyer("buyer@test.local", "10").await;
        let service = numbers[0].to_string();
        let v = app
            .call(&[
                ("key", &key),
                ("action", "add"),
                ("service", &service),
                ("link", "https://instagram.com/p/a"),
                ("comments", "nice\nwow"),
                ("answer_number", "2"),
            ])
            .await;
        assert_eq!(
            v,
            json!({"error": "answer_number is not a parameter of Custom Comments services"})
        );
        let balance = app.call(&[("key", &key), ("action", "balance")]).await;
        assert_eq!(balance["balance"], "10.00");
        assert_eq!(db.scalar("SELECT COUNT(*) FROM orders").await, 0);
        assert_eq!(app.run_forwarding().await, 0);
        assert_eq!(fake.add_requests(), 0);
        app.stop().await;
    }
);

engine_test!(
    a_subscription_has_its_own_states_and_is_refunded_by_posts,
    |db| {
        let fake = FakeUpstream::start(
            Shape::Php,
            false,
            vec![typed_service("64", "Subscriptions", "1.00", (1, 1000))],
        )
        .await;
        let (_, numbers) = import_from_the_command_line(db, &fake);
        let app = TestApp::builder(db).private_upstreams().spawn().await;
        let key = app.buyer("buyer@test.local", "10").await;
        let service = numbers[0].to_string();
        // 200 per post for 5 posts at 1.20 per 1000: 1.20.
        let v = app
            .call(&[
                ("key", &key),
                ("action", "add"),
                ("service", &service),
                ("username", "frank"),
                ("min", "100"),
                ("max", "200"),
                ("posts", "5"),
            ])
            .await;
        let id = v["order"]
            .as_i64()
            .unwrap_or_else(|| panic!("{v}"))
            .to_string();
        let status = || async {
            let s = app
                .call(&[("key", &key), ("action", "status"), ("order", &id)])
                .await;
            json!([s["status"], s["posts"], s["charge"]])
        };
        assert_eq!(status().await, json!(["Active", 0, "1.20"]));
        assert_eq!(app.run_forwarding().await, 1);
        let upstream = fake.orders()[0].id;
        for (state, posts, want) in [
            ("Paused", 0, json!(["Paused", 0, "1.20"])),
            ("Active", 2, json!(["Active", 2, "1.20"])),
            // Expired after 2 of 5 posts: the other 3 are refunded (0.72).
            ("Expired", 2, json!(["Expired", 2, "0.48"])),
        ] {
            fake.set_subscription(upstream, state, posts);
            app.sync_until(3, state, || async { status().await == want })
                .await;
        }
        // Each post was an order upstream: each is an order here too, charged nothing
        // (the subscription paid), listed in `orders` and followed with `status`.
        let s = app
            .call(&[("key", &key), ("action", "status"), ("order", &id)])
            .await;
        let children: Vec<String> = s["orders"]
            .as_array()
            .unwrap_or_else(|| panic!("{s}"))
            .iter()
            .map(|c| c.as_i64().expect("id").to_string())
            .collect();
        assert_eq!(children.len(), 2, "{s}");
        let upstream_children = fake.orders()[0].children.clone();
        fake.set_status(upstream_children[0], "Completed", 0, 40);
        let child = |n: usize| {
            let child = children[n].clone();
            let app = &app;
            let key = &key;
            async move {
                let s = app
                    .call(&[("key", key), ("action", "status"), ("order", &child)])
                    .await;
                json!([s["status"], s["charge"], s["start_count"], s.get("posts")])
            }
        };
        app.sync_until(3, "a post completed", || async {
            child(0).await == json!(["Completed", "0.00", 40, null])
        })
        .await;
        assert_eq!(child(1).await, json!(["In progress", "0.00", 0, null]));
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM ledger WHERE order_id = {id} AND kind = 'refund'"
            ))
            .await,
            1
        );
        let balance = app.call(&[("key", &key), ("action", "balance")]).await;
        assert_eq!(balance["balance"], "9.52");
        // Closed: later reports change nothing.
        fake.set_subscription(upstream, "Canceled", 0);
        app.clock.advance(60_000);
        app.run_status_sync().await;
        assert_eq!(status().await, json!(["Expired", 2, "0.48"]));
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(
    the_new_provider_commands_refuse_bad_input_and_change_nothing,
    |db| {
        let fake = FakeUpstream::start(
            Shape::Php,
            false,
            vec![typed_service("50", "Default", "1.00", (1, 1000))],
        )
        .await;
        let (provider, numbers) = import_from_the_command_line(db, &fake);
        let service = numbers[0].to_string();
        let fails = |args: &[&str]| crate::provider_cli::fails(db, args);
        assert_eq!(
            fails(&[
                "admin",
                "provider",
                "log",
                "--provider",
                &provider,
                "--limit",
                "0"
            ]),
            "souk: --limit must be between 1 and 10000"
        );
        assert_eq!(
            fails(&[
                "admin",
                "provider",
                "fallback",
                "--service",
                &service,
                "--to",
                "nocolon"
            ]),
            "souk: --to takes PROVIDER_ID:SERVICE, not \"nocolon\""
        );
        assert_eq!(
            fails(&[
                "admin",
                "provider",
                "fallback",
                "--service",
                &service,
                "--to",
                "nope:1"
            ]),
            "souk: Provider \"nope\" not found"
        );
        assert_eq!(
            fails(&[
                "admin",
                "provider",
                "update",
                "--provider",
                &provider,
                "--currency",
                "EUR"
            ]),
            "souk: --currency and --currency-rate go together (--currency none: ours)"
        );
        assert_eq!(
            fails(&[
                "admin",
                "provider",
                "update",
                "--provider",
                &provider,
                "--currency",
                "EURO",
                "--currency-rate",
                "1.1",
            ]),
            "souk: Currency must be a three-letter code such as EUR"
        );
        // Nothing changed: no fallback, our own currency.
        assert_eq!(
            ok(
                db,
                &["admin", "provider", "fallback", "--service", &service]
            )
            .trim(),
            format!("1\t{provider}\t50\town")
        );
        let fallback_to_itself = fails(&[
            "admin",
            "provider",
            "fallback",
            "--service",
            &service,
            "--to",
            &format!("{provider}:50"),
        ]);
        assert_eq!(
            fallback_to_itself,
            "souk: Service 50 of provider PHP Panel is listed twice"
        );
        assert_eq!(
            ok(
                db,
                &["admin", "provider", "profit", "--provider", &provider]
            )
            .trim(),
            "orders 0\trevenue 0.00\tcost 0.00\tprofit 0.00\twithout cost 0"
        );
        let store = db.store().await;
        let p = store.provider(&provider).await.expect("provider");
        assert_eq!(p.currency, None);
        store.close().await;
    }
);
