//! `souk admin ...` for the supply side: the operator API's operations as commands.

use std::process::Command;

use crate::engine_test;
use crate::harness::TestDb;

fn souk(db: &TestDb, args: &[&str]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
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

/// Runs a command that must succeed; returns its standard output.
fn cmd(db: &TestDb, args: &[&str]) -> String {
    let (ok, out, err) = souk(db, args);
    assert!(ok, "{args:?}: {err}");
    out
}

/// Runs a command that must fail with one line on standard error.
fn refused(db: &TestDb, args: &[&str]) -> String {
    let (ok, _, err) = souk(db, args);
    assert!(!ok, "{args:?} should fail");
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("souk: "), "{err}");
    err
}

fn last_line(out: &str) -> String {
    out.lines().last().expect("a line").to_owned()
}

engine_test!(operator_commands, |db| {
    cmd(db, &["migrate"]);
    // A supplier with a shop; the key is still alone on the last line.
    let out = cmd(
        db,
        &[
            "admin",
            "user",
            "create",
            "--email",
            "sam@shop.test",
            "--supplier",
            "--shop",
            "Sam's Keys",
        ],
    );
    let key = last_line(&out);
    assert!(
        key.len() == 40 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "{out}"
    );
    assert!(out.contains("supplier shop "), "{out}");
    let shops = cmd(db, &["admin", "shop", "list"]);
    assert!(
        shops.contains("Sam's Keys") && shops.contains("sam@shop.test"),
        "{shops}"
    );
    // A buyer made a supplier afterwards gets a shop named after the email.
    let buyer_out = cmd(
        db,
        &[
            "admin",
            "user",
            "create",
            "--email",
            "bob@test.local",
            "--balance",
            "5",
        ],
    );
    let bob = last_line(&buyer_out);
    let out = cmd(
        db,
        &["admin", "user", "supplier", "--email", "bob@test.local"],
    );
    assert!(out.contains("is a supplier with shop"), "{out}");
    assert!(cmd(db, &["admin", "shop", "list"]).contains(" bob "));

    // Catalogue structure with translations.
    let games = last_line(&cmd(
        db,
        &[
            "admin",
            "category",
            "create",
            "--slug",
            "games",
            "--name",
            "Games",
            "--position",
            "3",
            "--translation",
            "ru:name=Игры",
        ],
    ));
    let steam = last_line(&cmd(
        db,
        &[
            "admin",
            "subcategory",
            "create",
            "--slug",
            "steam",
            "--name",
            "Steam",
            "--category",
            &games,
        ],
    ));
    assert_eq!((games.len(), steam.len()), (24, 24));
    let list = cmd(db, &["admin", "category", "list"]);
    assert!(
        list.contains("games") && list.contains("[ru:name]") && list.contains("active"),
        "{list}"
    );
    cmd(
        db,
        &[
            "admin",
            "category",
            "update",
            "--id",
            &games,
            "--active",
            "false",
            "--position",
            "-1",
        ],
    );
    let list = cmd(db, &["admin", "category", "list"]);
    assert!(
        list.contains("inactive") && list.contains("position -1"),
        "{list}"
    );
    assert!(cmd(db, &["admin", "subcategory", "list", "--category", &games]).contains(&steam));
    refused(
        db,
        &[
            "admin", "category", "create", "--slug", "games", "--name", "Again",
        ],
    );
    refused(
        db,
        &[
            "admin", "category", "create", "--slug", "Bad Slug", "--name", "X",
        ],
    );
    refused(
        db,
        &[
            "admin",
            "subcategory",
            "create",
            "--slug",
            "x",
            "--name",
            "X",
        ],
    );
    refused(
        db,
        &[
            "admin",
            "category",
            "create",
            "--slug",
            "x",
            "--name",
            "X",
            "--translation",
            "xx:name=?",
        ],
    );

    // Settings.
    assert_eq!(
        cmd(
            db,
            &["admin", "setting", "set", "commission_percent", "12.50"]
        )
        .trim(),
        "commission_percent = 12.5"
    );
    let settings = cmd(db, &["admin", "setting", "list"]);
    assert_eq!(
        settings.lines().collect::<Vec<_>>(),
        vec![
            "early_cancel_enabled = true",
            "auto_order_early_refund_minutes = 30",
            "commission_percent = 12.5",
            "earnings_hold_hours = 72",
            "sms_lifetime_minutes = 20",
            "payment_mismatch = credit",
            "deposit_bonus = ",
            "provider_low_balance = ",
            "display_currencies = ",
        ]
    );
    let err = refused(
        db,
        &["admin", "setting", "set", "commission_percent", "200"],
    );
    assert!(err.contains("commission_percent must be"), "{err}");
    refused(db, &["admin", "setting", "set", "nope", "1"]);

    // Keys and suspension.
    let second = last_line(&cmd(
        db,
        &[
            "admin",
            "key",
            "create",
            "--email",
            "sam@shop.test",
            "--label",
            "bot",
        ],
    ));
    assert_eq!(second.len(), 40);
    let keys = cmd(db, &["admin", "key", "list", "--email", "sam@shop.test"]);
    assert_eq!(
        keys.lines().filter(|l| l.contains(" active ")).count(),
        2,
        "{keys}"
    );
    let store = db.store().await;
    assert!(store.authenticate(&second).await.expect("auth").is_some());
    let key_id = keys
        .lines()
        .find(|l| l.contains(" bot"))
        .and_then(|l| l.split_whitespace().next())
        .expect("key id")
        .to_owned();
    cmd(db, &["admin", "key", "revoke", "--id", &key_id]);
    assert!(store.authenticate(&second).await.expect("auth").is_none());
    refused(db, &["admin", "key", "revoke", "--id", &key_id]);
    cmd(
        db,
        &["admin", "user", "suspend", "--email", "sam@shop.test"],
    );
    let user = store.authenticate(&key).await.expect("auth").expect("user");
    assert!(!user.active);
    cmd(
        db,
        &["admin", "user", "reactivate", "--email", "sam@shop.test"],
    );
    assert!(
        store
            .authenticate(&key)
            .await
            .expect("auth")
            .expect("user")
            .active
    );
    let rotated = last_line(&cmd(
        db,
        &["admin", "key", "rotate", "--email", "bob@test.local"],
    ));
    assert!(store.authenticate(&bob).await.expect("auth").is_none());
    assert!(store.authenticate(&rotated).await.expect("auth").is_some());
    let shown = cmd(db, &["admin", "user", "show", "--email", "sam@shop.test"]);
    assert!(
        shown.contains("supplier  true") && shown.contains("shop      "),
        "{shown}"
    );
    assert!(cmd(db, &["admin", "user", "list", "--email", "shop.test"]).contains("1 of 1 users"));

    // Balances: an adjustment needs a note and never goes below zero.
    let out = cmd(
        db,
        &[
            "admin",
            "balance",
            "adjust",
            "--email",
            "bob@test.local",
            "--amount",
            "-2",
            "--note",
            "fee",
        ],
    );
    assert!(out.contains("3.00"), "{out}");
    refused(
        db,
        &[
            "admin",
            "balance",
            "adjust",
            "--email",
            "bob@test.local",
            "--amount",
            "-5",
            "--note",
            "too much",
        ],
    );
    refused(
        db,
        &[
            "admin",
            "balance",
            "adjust",
            "--email",
            "bob@test.local",
            "--amount",
            "1",
            "--note",
            " ",
        ],
    );
    let (ok, _, _) = souk(
        db,
        &[
            "admin",
            "balance",
            "adjust",
            "--email",
            "bob@test.local",
            "--amount",
            "1",
        ],
    );
    assert!(!ok, "--note is required");

    // Disputes and withdrawals: empty lists, unknown ids refused.
    assert_eq!(cmd(db, &["admin", "dispute", "list"]), "");
    assert_eq!(
        cmd(
            db,
            &["admin", "withdrawal", "list", "--status", "requested"]
        ),
        ""
    );
    refused(
        db,
        &[
            "admin",
            "dispute",
            "reject",
            "--id",
            "0123456789abcdef01234567",
        ],
    );
    refused(
        db,
        &[
            "admin",
            "withdrawal",
            "complete",
            "--id",
            "0123456789abcdef01234567",
        ],
    );
    // Shops: rename and hide.
    let shop_id = cmd(db, &["admin", "shop", "list"])
        .lines()
        .find(|l| l.contains("Sam's Keys"))
        .and_then(|l| l.split_whitespace().next())
        .expect("shop")
        .to_owned();
    cmd(
        db,
        &[
            "admin", "shop", "update", "--id", &shop_id, "--name", "Sam", "--active", "false",
        ],
    );
    let shops = cmd(db, &["admin", "shop", "list"]);
    assert!(
        shops
            .lines()
            .any(|l| l.starts_with(&shop_id) && l.contains("inactive")),
        "{shops}"
    );
    let report = cmd(db, &["admin", "audit"]);
    assert!(report.contains("all invariants hold"), "{report}");
    store.close().await;
});

/// One withdrawal of the supplier's, as the supplier API lists it.
async fn withdrawal_of(app: &crate::harness::TestApp, key: &str, id: &str) -> serde_json::Value {
    use crate::supply_kit::{get, ok, As};
    let list = ok(
        200,
        get(app, As::Key(key), "/api/admin/v2/withdrawals").await,
    );
    list["withdrawals"]
        .as_array()
        .expect("withdrawals")
        .iter()
        .find(|w| w["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("withdrawal {id} in {list}"))
}

engine_test!(operator_commands_decide_and_create, |db| {
    use crate::harness::TestApp;
    use crate::supply_kit::{
        balance, buy, earnings_withdrawable_at_once, get, inventory_product, market, ok, post,
        status, supplier, upload, As,
    };
    use serde_json::json;

    let app = TestApp::spawn(db).await;
    earnings_withdrawable_at_once(&app).await;
    let (_, sub) = market(&app).await;
    let (key, _, _) = supplier(&app, "cli@shop.test", "Cli").await;
    let (_, number, subs) = inventory_product(&app, &key, &sub, "Cli Mail").await;
    ok(200, upload(&app, &key, &subs[0], "c1\nc2\nc3", false).await);
    let buyer = app.buyer("buyer@test.local", "20").await;
    let (a, b, _c) = (
        buy(&app, &buyer, number, 1).await,
        buy(&app, &buyer, number, 1).await,
        buy(&app, &buyer, number, 1).await,
    );
    assert_eq!(balance(&app, &buyer).await, "12.50");
    let mut disputes = Vec::new();
    for order in [a, b] {
        let v = app
            .call(&[
                ("key", &buyer),
                ("action", "dispute"),
                ("order", &order.to_string()),
                ("message", "Wrong password"),
            ])
            .await;
        disputes.push(v["dispute"].as_str().expect("dispute").to_owned());
    }
    let dispute_view = |id: String| {
        let app = &app;
        async move {
            let v = ok(
                200,
                get(app, As::Operator, "/api/operator/v1/disputes").await,
            );
            v["disputes"]
                .as_array()
                .expect("disputes")
                .iter()
                .find(|d| d["id"] == id.as_str())
                .cloned()
                .expect("dispute listed")
        }
    };

    // dispute refund: part of the charge back, through the ledger.
    let out = cmd(
        db,
        &[
            "admin",
            "dispute",
            "refund",
            "--id",
            &disputes[0],
            "--amount",
            "1.00",
            "--note",
            "one bad",
        ],
    );
    assert_eq!(
        out.trim(),
        format!(
            "dispute {} refunded: 1.00 refunded on order {a}",
            disputes[0]
        )
    );
    let d = dispute_view(disputes[0].clone()).await;
    assert_eq!(
        (
            d["status"].clone(),
            d["refundAmount"].clone(),
            d["resolution"].clone()
        ),
        (json!("refunded"), json!("1.00"), json!("one bad"))
    );
    assert_eq!(balance(&app, &buyer).await, "13.50");
    let s = status(&app, &buyer, a).await;
    assert_eq!(
        (s["status"].clone(), s["charge"].clone()),
        (json!("Partial"), json!("1.50"))
    );
    // dispute reject: closed, no money moves.
    let out = cmd(
        db,
        &[
            "admin",
            "dispute",
            "reject",
            "--id",
            &disputes[1],
            "--note",
            "works",
        ],
    );
    assert_eq!(
        out.trim(),
        format!(
            "dispute {} rejected: 0.00 refunded on order {b}",
            disputes[1]
        )
    );
    let d = dispute_view(disputes[1].clone()).await;
    assert_eq!(
        (d["status"].clone(), d["refundAmount"].clone()),
        (json!("rejected"), json!("0.00"))
    );
    assert_eq!(balance(&app, &buyer).await, "13.50");
    assert_eq!(status(&app, &buyer, b).await["status"], "Completed");

    // withdrawal reject, then complete of a new request for the same earnings.
    let first = ok(
        201,
        post(&app, As::Key(&key), "/api/admin/v2/withdrawals", json!({})).await,
    );
    let (first_id, amount) = (
        first["id"].as_str().expect("id").to_owned(),
        first["amount"].as_str().expect("amount").to_owned(),
    );
    assert_eq!(first["orders"], 3);
    let out = cmd(
        db,
        &[
            "admin",
            "withdrawal",
            "reject",
            "--id",
            &first_id,
            "--note",
            "wrong details",
        ],
    );
    assert_eq!(
        out.trim(),
        format!("withdrawal {first_id} rejected ({amount})")
    );
    let w = withdrawal_of(&app, &key, &first_id).await;
    assert_eq!(
        (w["status"].clone(), w["resolution"].clone()),
        (json!("rejected"), json!("wrong details"))
    );
    let e = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(
        e["summary"],
        json!({"held": "0.00", "available": amount, "requested": "0.00", "withdrawn": "0.00"})
    );
    let second = ok(
        201,
        post(&app, As::Key(&key), "/api/admin/v2/withdrawals", json!({})).await,
    );
    let second_id = second["id"].as_str().expect("id").to_owned();
    assert_eq!(second["amount"], json!(amount));
    let out = cmd(
        db,
        &[
            "admin",
            "withdrawal",
            "complete",
            "--id",
            &second_id,
            "--note",
            "paid",
        ],
    );
    assert_eq!(
        out.trim(),
        format!("withdrawal {second_id} completed ({amount})")
    );
    let w = withdrawal_of(&app, &key, &second_id).await;
    assert_eq!(
        (w["status"].clone(), w["resolution"].clone()),
        (json!("completed"), json!("paid"))
    );
    assert!(w["completedAt"].is_string(), "{w}");
    let e = ok(
        200,
        get(&app, As::Key(&key), "/api/admin/v2/earnings").await,
    );
    assert_eq!(
        e["summary"],
        json!({"held": "0.00", "available": "0.00", "requested": "0.00", "withdrawn": amount})
    );

    // shop create: the user becomes a supplier of the new shop.
    let fresh_key = last_line(&cmd(
        db,
        &["admin", "user", "create", "--email", "fresh@shop.test"],
    ));
    assert_eq!(
        get(&app, As::Key(&fresh_key), "/api/admin/v2/me").await.0,
        403,
        "a buyer before the shop"
    );
    let shop = last_line(&cmd(
        db,
        &[
            "admin",
            "shop",
            "create",
            "--email",
            "fresh@shop.test",
            "--name",
            "Fresh Shop",
        ],
    ));
    assert_eq!(shop.len(), 24, "{shop}");
    // The server learns of the change made by another process within a poll.
    crate::harness::wait_for(5, "the new supplier's key", || async {
        get(&app, As::Key(&fresh_key), "/api/admin/v2/me").await.0 == 200
    })
    .await;
    let me = ok(
        200,
        get(&app, As::Key(&fresh_key), "/api/admin/v2/me").await,
    );
    assert_eq!(
        me["shops"],
        json!([{"shopId": shop, "name": "Fresh Shop", "active": true}])
    );
    let shops = ok(200, get(&app, As::Operator, "/api/operator/v1/shops").await);
    let listed = shops["shops"]
        .as_array()
        .expect("shops")
        .iter()
        .find(|s| s["id"] == shop.as_str())
        .cloned()
        .expect("shop listed");
    assert_eq!(
        (listed["name"].clone(), listed["ownerEmail"].clone()),
        (json!("Fresh Shop"), json!("fresh@shop.test"))
    );

    // subcategory update: name, position and a translation.
    let out = cmd(
        db,
        &[
            "admin",
            "subcategory",
            "update",
            "--id",
            &sub,
            "--name",
            "Mailboxes",
            "--position",
            "5",
            "--translation",
            "ru:name=Почта",
        ],
    );
    assert_eq!(out.trim(), format!("updated {sub}"));
    let subs = ok(
        200,
        get(&app, As::Operator, "/api/operator/v1/subcategories").await,
    );
    let row = subs["subcategories"]
        .as_array()
        .expect("subcategories")
        .iter()
        .find(|s| s["id"] == sub.as_str())
        .cloned()
        .expect("subcategory listed");
    assert_eq!(
        (
            row["name"].clone(),
            row["position"].clone(),
            row["translations"].clone()
        ),
        (
            json!("Mailboxes"),
            json!(5),
            json!({"name": {"ru": "Почта"}})
        )
    );

    let report = cmd(db, &["admin", "audit"]);
    assert!(report.contains("all invariants hold"), "{report}");
    app.stop().await;
    db.assert_audit_clean().await;
});
