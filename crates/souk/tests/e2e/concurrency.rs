//! Real concurrency over HTTP against two `souk serve` processes sharing one database, and
//! a crash in the middle of a stream of orders. The audit checks the invariants after.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use souk_core::catalogue::ProductType;
use souk_core::{Money, Text};
use souk_store::Store;

use crate::engine_test;
use crate::fixtures;
use crate::harness::ServerProcess;

/// An inventory product at `price` with `lines` stock lines; returns its number.
async fn stocked_product(store: &Store, name: &str, price: &str, lines: usize) -> i64 {
    let f = fixtures::load_minimal(store).await;
    product_in(store, (&f.0, &f.1), name, price, lines).await
}

/// [`stocked_product`] in the shop and subcategory `at`.
async fn product_in(store: &Store, at: (&str, &str), name: &str, price: &str, lines: usize) -> i64 {
    let spec = fixtures::one_variant_product(
        at,
        ProductType::Inventory,
        Text::new(name),
        price,
        (1, 1000),
        0,
    );
    let (number, _, subs, _) = store.create_service(&spec, 0).await.expect("product");
    let stock: Vec<String> = (0..lines)
        .map(|n| format!("{name}-{n:05}:secret"))
        .collect();
    store
        .add_stock_lines(&subs[0], &stock, false, 0)
        .await
        .expect("stock");
    number
}

async fn add(http: &reqwest::Client, api: &str, key: &str, service: i64) -> Value {
    http.post(api)
        .form(&[
            ("key", key),
            ("action", "add"),
            ("service", &service.to_string()),
            ("quantity", "1"),
        ])
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json")
}

async fn buyer(store: &Store, email: &str, balance: &str) -> (String, String) {
    store
        .create_user(
            &souk_store::NewUser {
                email: email.into(),
                name: String::new(),
                password_hash: None,
                is_supplier: false,
                initial_balance: Money::parse(balance).expect("amount"),
            },
            0,
        )
        .await
        .expect("buyer")
}

engine_test!(fifty_buyers_race_for_the_last_ten_lines, |db| {
    let store = db.store().await;
    let service = stocked_product(&store, "Last Ten", "2.00", 10).await;
    let mut buyers = Vec::new();
    for i in 0..50 {
        buyers.push(buyer(&store, &format!("racer{i}@test.local"), "10").await);
    }
    let nodes = [
        ServerProcess::spawn(db).await,
        ServerProcess::spawn(db).await,
    ];
    let http = reqwest::Client::new();
    let results = futures::future::join_all(buyers.iter().enumerate().map(|(i, (_, key))| {
        let (http, api) = (http.clone(), nodes[i % 2].api());
        async move { add(&http, &api, key, service).await }
    }))
    .await;
    let won: Vec<i64> = results.iter().filter_map(|v| v["order"].as_i64()).collect();
    let lost = results
        .iter()
        .filter(|v| v["error"] == "Not enough stock")
        .count();
    assert_eq!((won.len(), lost), (10, 40), "{results:?}");
    for ((user, _), result) in buyers.iter().zip(&results) {
        let balance = store.balance(user).await.expect("balance").display2();
        let expected = if result.get("order").is_some() {
            "8.00"
        } else {
            "10.00"
        };
        assert_eq!(balance, expected);
    }
    // Ten distinct lines, one per winning order.
    assert_eq!(
        db.scalar("SELECT COUNT(DISTINCT order_id) FROM stock_lines WHERE order_id IS NOT NULL")
            .await,
        10
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NULL")
            .await,
        0
    );
    for node in nodes {
        node.stop();
    }
    db.assert_audit_clean().await;
});

engine_test!(one_buyer_hundred_orders_money_for_37, |db| {
    let store = db.store().await;
    let service = stocked_product(&store, "Plenty", "1.00", 150).await;
    let (user, key) = buyer(&store, "spender@test.local", "37").await;
    let nodes = [
        ServerProcess::spawn(db).await,
        ServerProcess::spawn(db).await,
    ];
    let http = reqwest::Client::new();
    let results = futures::future::join_all((0..100).map(|i| {
        let (http, api, key) = (http.clone(), nodes[i % 2].api(), key.clone());
        async move { add(&http, &api, &key, service).await }
    }))
    .await;
    let ok = results.iter().filter(|v| v.get("order").is_some()).count();
    let refused = results
        .iter()
        .filter(|v| v["error"] == "Insufficient balance")
        .count();
    assert_eq!((ok, refused), (37, 63), "{results:?}");
    assert_eq!(
        store.balance(&user).await.expect("balance").display2(),
        "0.00"
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL")
            .await,
        37
    );
    for node in nodes {
        node.stop();
    }
    db.assert_audit_clean().await;
});

engine_test!(
    two_nodes_batching_the_same_buyers_answer_every_order_once,
    |db| {
        // Each node batches its orders (PostgreSQL holds a batch's row locks until its
        // commit); the same buyers buying the same products on both nodes at once can make
        // two batches wait for each other. PostgreSQL breaks such a deadlock by failing one
        // statement (here after 20 ms); that order runs again alone, and every order is
        // answered once, placed, and charged once.
        let store = db.store().await;
        let f = fixtures::load_minimal(&store).await;
        let mut services = Vec::new();
        for p in 0..6 {
            let name = format!("Crossed {p}");
            services.push(product_in(&store, (&f.0, &f.1), &name, "1.00", 60).await);
        }
        let mut buyers = Vec::new();
        for b in 0..6 {
            buyers.push(buyer(&store, &format!("crossed{b}@test.local"), "100").await);
        }
        let quick = [("PGOPTIONS", "-c deadlock_timeout=20ms")];
        let nodes = [
            ServerProcess::spawn_with_env(db, &quick).await,
            ServerProcess::spawn_with_env(db, &quick).await,
        ];
        let http = reqwest::Client::new();
        // 288 orders: each buyer buys every product eight times, half on each node.
        let results = futures::future::join_all((0..288).map(|i| {
            let (_, key) = &buyers[i % 6];
            let service = services[(i / 6 + i) % 6];
            let (http, api, key) = (http.clone(), nodes[(i / 12) % 2].api(), key.clone());
            async move { add(&http, &api, &key, service).await }
        }))
        .await;
        let orders: HashSet<i64> = results.iter().filter_map(|v| v["order"].as_i64()).collect();
        assert_eq!(orders.len(), 288, "{results:?}");
        for (user, _) in &buyers {
            assert_eq!(
                store.balance(user).await.expect("balance").display2(),
                "52.00"
            );
        }
        assert_eq!(
            db.scalar(
                "SELECT COUNT(DISTINCT order_id) FROM stock_lines WHERE order_id IS NOT NULL"
            )
            .await,
            288
        );
        for node in nodes {
            node.stop();
        }
        db.assert_audit_clean().await;
    }
);

engine_test!(sigkill_mid_stream_loses_nothing, |db| {
    let store = db.store().await;
    let service = stocked_product(&store, "Stream", "0.10", 5000).await;
    let mut keys = Vec::new();
    for i in 0..8 {
        keys.push(
            buyer(&store, &format!("stream{i}@test.local"), "1000")
                .await
                .1,
        );
    }
    let node = ServerProcess::spawn(db).await;
    let api = node.api();
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let workers: Vec<_> = keys
        .iter()
        .map(|key| {
            let (http, api, key, acknowledged, stop) = (
                http.clone(),
                api.clone(),
                key.clone(),
                acknowledged.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let sent = http
                        .post(&api)
                        .form(&[
                            ("key", key.as_str()),
                            ("action", "add"),
                            ("service", &service.to_string()),
                            ("quantity", "1"),
                        ])
                        .send()
                        .await;
                    let Ok(response) = sent else { break };
                    let Ok(v) = response.json::<Value>().await else {
                        break;
                    };
                    if let Some(id) = v["order"].as_i64() {
                        acknowledged.lock().expect("lock").push(id);
                    }
                }
            })
        })
        .collect();
    // Let orders flow, then pull the plug.
    pull_the_plug_after(&acknowledged, 150, 20).await;
    node.kill_hard();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let acknowledged: HashSet<i64> = acknowledged.lock().expect("lock").iter().copied().collect();
    assert!(
        acknowledged.len() >= 20,
        "too few orders before the kill: {}",
        acknowledged.len()
    );

    // Restart on the same database: it comes up, and nothing was lost or doubled.
    let node = ServerProcess::spawn(db).await;
    db.assert_audit_clean().await;
    for id in &acknowledged {
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM stock_lines WHERE order_id = {id}"
            ))
            .await,
            1,
            "acknowledged order {id} lost its line"
        );
        assert_eq!(
            db.scalar(&format!(
                "SELECT COUNT(*) FROM ledger WHERE order_id = {id} AND kind = 'charge'"
            ))
            .await,
            1,
            "acknowledged order {id} lost its charge"
        );
    }
    // Every order in the database (acknowledged or cut off before its answer) is whole.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM orders o WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.order_id = o.id)").await,
        0
    );
    let sold = db
        .scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL")
        .await;
    assert_eq!(sold, db.scalar("SELECT COUNT(*) FROM orders").await);
    eprintln!(
        "{:?}: {} orders acknowledged, {sold} in the database after SIGKILL",
        db.kind,
        acknowledged.len()
    );
    // The restarted node takes orders.
    let v = add(&reqwest::Client::new(), &node.api(), &keys[0], service).await;
    assert!(v["order"].as_i64().is_some(), "{v}");
    node.stop();
    db.assert_audit_clean().await;
});

engine_test!(stock_removals_race_orders, |db| {
    use crate::supply_kit::{inventory_product, market, ok, remove_stock, supplier, upload};
    use std::sync::atomic::AtomicUsize;
    const LINES: usize = 300;
    let app = crate::harness::TestApp::spawn(db).await;
    let (_, sub) = market(&app).await;
    let (seller, _, _) = supplier(&app, "racer@shop.test", "Racer").await;
    let (_, number, subs) = inventory_product(&app, &seller, &sub, "Raced").await;
    let lines: Vec<String> = (0..LINES).map(|n| format!("race-{n:03}:pw")).collect();
    ok(
        200,
        upload(&app, &seller, &subs[0], lines.join("\n"), false).await,
    );
    let mut keys = Vec::new();
    for i in 0..8 {
        keys.push(app.buyer(&format!("racer{i}@test.local"), "1000").await);
    }
    // Orders take the oldest lines; removals go after the oldest lines too, so both lock
    // the same rows at the same time.
    let next = Arc::new(AtomicUsize::new(0));
    let buying = keys.iter().map(|key| {
        let (http, api, key) = (app.http.clone(), app.api(), key.clone());
        async move {
            let mut answers = Vec::new();
            for _ in 0..15 {
                let response = http
                    .post(&api)
                    .form(&[
                        ("key", key.as_str()),
                        ("action", "add"),
                        ("service", &number.to_string()),
                        ("quantity", "2"),
                    ])
                    .send()
                    .await
                    .expect("send");
                let status = response.status().as_u16();
                answers.push((status, response.json::<Value>().await.expect("json")));
            }
            answers
        }
    });
    let removing = (0..3).map(|_| {
        let (app, seller, sub, lines, next) = (&app, &seller, &subs[0], &lines, next.clone());
        async move {
            let mut answers = Vec::new();
            for _ in 0..15 {
                let from = next.fetch_add(5, Ordering::SeqCst).min(LINES);
                let chunk = lines[from..(from + 5).min(LINES)].join("\n");
                answers.push(remove_stock(app, seller, sub, chunk).await);
            }
            answers
        }
    });
    let (bought, removed) = tokio::join!(
        futures::future::join_all(buying),
        futures::future::join_all(removing)
    );
    let mut sold = 0;
    for (status, v) in bought.iter().flatten() {
        assert_eq!(*status, 200, "{v}");
        if v.get("order").is_some() {
            sold += 2;
        } else {
            assert_eq!(*v, serde_json::json!({"error": "Not enough stock"}));
        }
    }
    let mut gone = 0;
    for (status, v) in removed.iter().flatten() {
        assert_eq!(*status, 200, "{v}");
        gone += v["removed"].as_i64().expect("removed");
    }
    let unsold = db
        .scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NULL")
        .await;
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL")
            .await,
        sold
    );
    assert_eq!(
        sold + gone + unsold,
        LINES as i64,
        "sold {sold}, removed {gone}, left {unsold}"
    );
    eprintln!("{:?}: sold {sold}, removed {gone}, left {unsold}", db.kind);
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(refusals_in_a_shared_commit_roll_back_alone, |db| {
    // One node, so the orders racing here share its group commit (SQLite): rich buyers
    // race for 15 lines, broke buyers are refused after the stock was counted down in
    // the same transaction, and every refusal must undo only itself.
    let app = crate::harness::TestApp::spawn(db).await;
    let service = stocked_product(&app.store, "Shared Commit", "2.00", 15).await;
    app.catalogue_changed().await;
    let mut rich = Vec::new();
    let mut broke = Vec::new();
    for i in 0..25 {
        rich.push(buyer(&app.store, &format!("rich{i}@test.local"), "10").await);
        broke.push(buyer(&app.store, &format!("broke{i}@test.local"), "1.50").await);
    }
    let before = app.store.group_commit_stats();
    let api = app.api();
    let everyone: Vec<(bool, &(String, String))> = rich
        .iter()
        .map(|b| (true, b))
        .chain(broke.iter().map(|b| (false, b)))
        .collect();
    // Interleaved, so broke and rich buyers share batches.
    let mut order: Vec<usize> = (0..everyone.len()).collect();
    order.sort_by_key(|i| (i % 25, *i));
    let results = futures::future::join_all(order.iter().map(|&i| {
        let (http, api, (_, (_, key))) = (app.http.clone(), api.clone(), everyone[i]);
        async move { add(&http, &api, key, service).await }
    }))
    .await;
    let mut won = 0;
    for (&i, result) in order.iter().zip(&results) {
        let (is_rich, (user, _)) = everyone[i];
        let balance = app.store.balance(user).await.expect("balance").display2();
        match (is_rich, result.get("order").is_some()) {
            (true, true) => {
                won += 1;
                assert_eq!(balance, "8.00");
            }
            (true, false) => {
                assert_eq!(result["error"], "Not enough stock", "{result}");
                assert_eq!(balance, "10.00");
            }
            (false, placed) => {
                assert!(!placed, "a broke buyer's order was placed: {result}");
                // Refused for the money when a line was left, else for the stock.
                assert!(
                    result["error"] == "Insufficient balance"
                        || result["error"] == "Not enough stock",
                    "{result}"
                );
                assert_eq!(balance, "1.50");
            }
        }
    }
    assert_eq!(won, 15, "{results:?}");
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL")
            .await,
        15
    );
    assert_eq!(db.scalar("SELECT COUNT(*) FROM orders").await, 15);
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM subproducts WHERE stock <> 0")
            .await,
        0,
        "a refused order left its stock counted down"
    );
    if let (Some(before), Some(after)) = (before, app.store.group_commit_stats()) {
        let (batches, writes) = (after.0 - before.0, after.1 - before.1);
        assert_eq!(writes, 50, "every order went through the group commit");
        eprintln!("{:?}: 50 orders in {batches} commits", db.kind);
        assert!(batches < writes, "no two orders shared a commit");
    }
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(sigkill_under_32_clients_keeps_acknowledged_orders, |db| {
    // 32 clients on one node (so orders share commits on SQLite), some of them refused
    // for their balance mid-run; the node is killed with SIGKILL while they send.
    let store = db.store().await;
    let service = stocked_product(&store, "Crash Stream", "0.10", 20_000).await;
    let mut keys = Vec::new();
    for i in 0..32 {
        // Every fourth buyer runs out of money after five orders.
        let balance = if i % 4 == 3 { "0.50" } else { "1000" };
        keys.push(
            buyer(&store, &format!("crash{i}@test.local"), balance)
                .await
                .1,
        );
    }
    let node = ServerProcess::spawn(db).await;
    let api = node.api();
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let workers: Vec<_> = keys
        .iter()
        .map(|key| {
            let (http, api, key, acknowledged, stop) = (
                http.clone(),
                api.clone(),
                key.clone(),
                acknowledged.clone(),
                stop.clone(),
            );
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(v) = async {
                        http.post(&api)
                            .form(&[
                                ("key", key.as_str()),
                                ("action", "add"),
                                ("service", &service.to_string()),
                                ("quantity", "1"),
                            ])
                            .send()
                            .await?
                            .json::<Value>()
                            .await
                    }
                    .await
                    else {
                        break;
                    };
                    if let Some(id) = v["order"].as_i64() {
                        acknowledged.lock().expect("lock").push(id);
                    }
                }
            })
        })
        .collect();
    pull_the_plug_after(&acknowledged, 400, 40).await;
    node.kill_hard();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let acknowledged: HashSet<i64> = acknowledged.lock().expect("lock").iter().copied().collect();
    assert!(
        acknowledged.len() >= 40,
        "too few orders before the kill: {}",
        acknowledged.len()
    );
    let node = ServerProcess::spawn(db).await;
    db.assert_audit_clean().await;
    let ids = acknowledged
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM stock_lines WHERE order_id IN ({ids})"
        ))
        .await,
        acknowledged.len() as i64,
        "an acknowledged order lost its line"
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM ledger WHERE kind = 'charge' AND amount = -100000 AND order_id IN ({ids})"
        ))
        .await,
        acknowledged.len() as i64,
        "an acknowledged order lost its charge"
    );
    // Nothing charged twice, and every order in the database is whole.
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM ledger WHERE kind = 'charge'")
            .await,
        db.scalar("SELECT COUNT(*) FROM orders").await
    );
    assert_eq!(
        db.scalar("SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL")
            .await,
        db.scalar("SELECT COUNT(*) FROM orders").await
    );
    eprintln!(
        "{:?}: {} orders acknowledged before SIGKILL, {} in the database",
        db.kind,
        acknowledged.len(),
        db.scalar("SELECT COUNT(*) FROM orders").await
    );
    let v = add(&reqwest::Client::new(), &node.api(), &keys[0], service).await;
    assert!(v["order"].as_i64().is_some(), "{v}");
    node.stop();
    db.assert_audit_clean().await;
});

/// Waits until `enough` orders were acknowledged, or 2 s passed with at least `least` of
/// them: a loaded machine (the whole suite running) still gets its orders in before the
/// kill, for up to a minute, rather than failing on too few.
async fn pull_the_plug_after(
    acknowledged: &std::sync::Mutex<Vec<i64>>,
    enough: usize,
    least: usize,
) {
    let started = std::time::Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let n = acknowledged.lock().expect("lock").len();
        let waited = started.elapsed();
        if n >= enough
            || (n >= least && waited >= Duration::from_secs(2))
            || waited >= Duration::from_secs(60)
        {
            return;
        }
    }
}
