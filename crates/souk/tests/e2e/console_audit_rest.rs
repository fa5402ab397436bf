//! The operator actions `console_audit` does not cover, each audited in its change's
//! transaction: `souk admin balance` (add and adjust) under "command line", with the
//! balance before and after; with the audit log refusing rows, no balance changes.

use serde_json::{json, Value};

use crate::console::{souk, without_the_log, Try};
use crate::engine_test;
use crate::harness::TestApp;

fn value(v: &Option<String>) -> Value {
    v.as_deref()
        .map_or(Value::Null, |v| serde_json::from_str(v).expect("json"))
}

engine_test!(command_line_balance_changes_are_audited, |db| {
    let app = TestApp::builder(db).spawn().await;
    app.buyer("buyer@test.local", "10").await;
    let buyer = app.user_id("buyer@test.local").await;
    let subject = format!("user:{buyer}");
    let email = "buyer@test.local";
    for args in [
        [
            "admin", "balance", "add", "--email", email, "--amount", "5", "--note", "goodwill",
        ],
        [
            "admin", "balance", "adjust", "--email", email, "--amount", "-2", "--note", "fee",
        ],
    ] {
        let (ok, _, err) = souk(db, &args);
        assert!(ok, "{args:?}: {err}");
    }
    let rows = app
        .store
        .audit_log(Some(&subject), None, 10)
        .await
        .expect("audit");
    let made: Vec<(&str, &str, Value, Value)> = rows
        .iter()
        .rev()
        .map(|r| {
            (
                r.action.as_str(),
                r.operator_email.as_str(),
                value(&r.before_value),
                value(&r.after_value),
            )
        })
        .collect();
    assert_eq!(
        made,
        [
            (
                "user.balance",
                "command line",
                json!({"balance": "10.00"}),
                json!({"balance": "15.00", "amount": "5.00", "reason": "goodwill"}),
            ),
            (
                "user.balance",
                "command line",
                json!({"balance": "15.00"}),
                json!({"balance": "13.00", "amount": "-2.00", "reason": "fee"}),
            ),
        ]
    );
    assert!(rows.iter().all(|r| r.operator_id.is_none()), "{rows:?}");

    // With the log refusing rows, neither command changes the balance.
    let commands = vec![
        Try::Command(vec![
            "admin", "balance", "add", "--email", email, "--amount", "5", "--note", "goodwill",
        ]),
        Try::Command(vec![
            "admin", "balance", "adjust", "--email", email, "--amount", "-2", "--note", "fee",
        ]),
    ];
    let state = || async {
        (
            app.store.balance(&buyer).await.expect("balance"),
            rows_of(&app, &subject).await,
        )
    };
    without_the_log(&app, db, commands, state).await;
    assert_eq!(
        app.store.balance(&buyer).await.expect("balance").display2(),
        "13.00"
    );
    assert_eq!(
        app.store
            .audit_log(Some(&subject), None, 10)
            .await
            .expect("audit")
            .len(),
        2
    );
    app.stop().await;
});

/// The user's audit rows, oldest first: (action, author, before, after).
pub(crate) async fn rows_of(app: &TestApp, subject: &str) -> Vec<(String, String, Value, Value)> {
    let rows = app
        .store
        .audit_log(Some(subject), None, 100)
        .await
        .expect("audit");
    rows.iter()
        .rev()
        .map(|r| {
            (
                r.action.clone(),
                r.operator_email.clone(),
                value(&r.before_value),
                value(&r.after_value),
            )
        })
        .collect()
}

/// The id of the user's one active key.
async fn active_key(app: &TestApp, user: &str) -> String {
    let keys = app.store.api_keys(user).await.expect("keys");
    let active: Vec<_> = keys.iter().filter(|k| k.revoked_at.is_none()).collect();
    assert_eq!(active.len(), 1, "{keys:?}");
    active[0].id.clone()
}

// Keys rotated from the operator API and the command line, a user suspended and
// reactivated from the command line: each its row (the key's id and prefix, never the
// key), and none of them happens with the log refusing rows.
engine_test!(key_rotation_and_suspension_are_audited, |db| {
    let app = TestApp::builder(db).spawn().await;
    let email = "buyer@test.local";
    let first_key = app.buyer(email, "10").await;
    let buyer = app.user_id(email).await;
    let subject = format!("user:{buyer}");
    let first_id = active_key(&app, &buyer).await;

    let rotate = format!("/users/{buyer}/keys/rotate");
    let (status, answer) = app.operator(reqwest::Method::POST, &rotate, None).await;
    assert_eq!(status, 200, "{answer}");
    let api_key = answer["key"].as_str().expect("key").to_owned();
    let api_id = active_key(&app, &buyer).await;

    let (ok, out, err) = souk(db, &["admin", "key", "rotate", "--email", email]);
    assert!(ok, "{err}");
    let cli_key = out.lines().last().expect("key").to_owned();
    let cli_id = active_key(&app, &buyer).await;
    for command in ["suspend", "reactivate"] {
        let (ok, _, err) = souk(db, &["admin", "user", command, "--email", email]);
        assert!(ok, "{command}: {err}");
    }

    let api = "operator API".to_owned();
    let cli = "command line".to_owned();
    assert_eq!(
        rows_of(&app, &subject).await,
        [
            (
                "user.key_rotate".to_owned(),
                api,
                json!({"keys": [first_id]}),
                json!({"key": api_id, "prefix": &api_key[..6]}),
            ),
            (
                "user.key_rotate".to_owned(),
                cli.clone(),
                json!({"keys": [api_id]}),
                json!({"key": cli_id, "prefix": &cli_key[..6]}),
            ),
            (
                "user.block".to_owned(),
                cli.clone(),
                json!({"status": "active"}),
                json!({"status": "suspended"}),
            ),
            (
                "user.unblock".to_owned(),
                cli,
                json!({"status": "suspended"}),
                json!({"status": "active"}),
            ),
        ]
    );
    let all = format!(
        "{:?}",
        app.store.audit_log(None, None, 1000).await.expect("audit")
    );
    for key in [&first_key, &api_key, &cli_key] {
        assert!(!all.contains(key.as_str()), "a key in the log: {all}");
    }

    // With the log refusing rows, nothing changes.
    let actions = vec![
        Try::Api(reqwest::Method::POST, rotate.clone(), None),
        Try::Command(vec!["admin", "key", "rotate", "--email", email]),
        Try::Command(vec!["admin", "user", "suspend", "--email", email]),
    ];
    let state = || async {
        (
            format!("{:?}", app.store.api_keys(&buyer).await.expect("keys")),
            format!("{:?}", app.store.user(&buyer).await.expect("user")),
        )
    };
    without_the_log(&app, db, actions, state).await;
    assert_eq!(rows_of(&app, &subject).await.len(), 4);
    app.stop().await;
});

// `souk admin dispute reject` and `souk admin withdrawal reject`: refused with the log
// refusing rows (the dispute stays open, the withdrawal requested), then each its row
// under "command line" with the record before and after.
engine_test!(
    command_line_dispute_and_withdrawal_decisions_are_audited,
    |db| {
        use crate::supply_kit::{
            buy, earnings_withdrawable_at_once, inventory_product, market, ok, post, supplier,
            upload, As,
        };

        let app = TestApp::spawn(db).await;
        earnings_withdrawable_at_once(&app).await;
        let (_, sub) = market(&app).await;
        let (key, _, _) = supplier(&app, "cli@shop.test", "Cli").await;
        let (_, number, subs) = inventory_product(&app, &key, &sub, "Cli Mail").await;
        ok(200, upload(&app, &key, &subs[0], "c1\nc2", false).await);
        let buyer = app.buyer("buyer@test.local", "20").await;
        let order = buy(&app, &buyer, number, 1).await;
        buy(&app, &buyer, number, 1).await;
        let v = app
            .call(&[
                ("key", &buyer),
                ("action", "dispute"),
                ("order", &order.to_string()),
                ("message", "Wrong password"),
            ])
            .await;
        let dispute = v["dispute"].as_str().expect("dispute").to_owned();
        let w = ok(
            201,
            post(&app, As::Key(&key), "/api/admin/v2/withdrawals", json!({})).await,
        );
        let (withdrawal, amount) = (
            w["id"].as_str().expect("id").to_owned(),
            w["amount"].as_str().expect("amount").to_owned(),
        );
        let subjects = [format!("order:{order}"), format!("withdrawal:{withdrawal}")];
        let commands = [
            [
                "admin", "dispute", "reject", "--id", &dispute, "--note", "works",
            ],
            [
                "admin",
                "withdrawal",
                "reject",
                "--id",
                &withdrawal,
                "--note",
                "wrong details",
            ],
        ];

        let tries = commands.iter().map(|c| Try::Command(c.to_vec())).collect();
        let state = || async {
            let dispute = app.store.dispute(&dispute).await.expect("dispute");
            let withdrawals = app
                .store
                .withdrawals(None, None)
                .await
                .expect("withdrawals");
            (format!("{dispute:?}"), format!("{withdrawals:?}"))
        };
        without_the_log(&app, db, tries, state).await;
        for (subject, args) in subjects.iter().zip(&commands) {
            assert!(rows_of(&app, subject).await.is_empty());
            let (ok_, _, err) = souk(db, args);
            assert!(ok_, "still undecided: {err}");
        }

        assert_eq!(
            rows_of(&app, &subjects[0]).await,
            [(
                "dispute.resolve".to_owned(),
                "command line".to_owned(),
                json!({"dispute": dispute, "status": "open"}),
                json!({"dispute": dispute, "status": "rejected", "refund": "0.00", "note": "works"}),
            )]
        );
        let rows = rows_of(&app, &subjects[1]).await;
        assert_eq!(rows.len(), 1, "{rows:?}");
        assert_eq!(
            (rows[0].0.as_str(), rows[0].1.as_str(), &rows[0].2),
            (
                "withdrawal.reject",
                "command line",
                &json!({"status": "requested"})
            )
        );
        assert_eq!(
            (
                &rows[0].3["status"],
                &rows[0].3["amount"],
                &rows[0].3["resolution"]
            ),
            (&json!("rejected"), &json!(amount), &json!("wrong details"))
        );
        app.stop().await;
    }
);
