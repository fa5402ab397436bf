//! `souk admin audit` when the invariants are broken: each corruption, made with direct
//! SQL, makes the command exit non-zero and name exactly what is wrong.

use std::collections::BTreeSet;

use crate::cli::souk;
use crate::engine_test;
use crate::fixtures;
use crate::harness::{Kind, TestApp, TestDb};

/// What the audit found: (exit status ok, VIOLATION lines, stderr).
fn audit(db: &TestDb) -> (bool, BTreeSet<String>, String) {
    let (ok, out, err) = souk(db, &["admin", "audit"]);
    let violations = out
        .lines()
        .filter_map(|l| l.strip_prefix("VIOLATION: "))
        .map(str::to_owned)
        .collect();
    (ok, violations, err)
}

/// Runs SQL past the CHECK constraints that normally make these states impossible.
async fn corrupt(db: &TestDb, sql: &str) {
    match db.kind {
        Kind::Sqlite => {
            db.exec(&format!("PRAGMA ignore_check_constraints = ON; {sql}"))
                .await
        }
        Kind::Postgres => db.exec(sql).await,
    }
}

/// PostgreSQL cannot skip CHECK constraints per statement: drop them on this test database.
async fn drop_checks(db: &TestDb) {
    if db.kind == Kind::Postgres {
        db.exec(
            "DO $$ DECLARE c record; BEGIN \
             FOR c IN SELECT conrelid::regclass AS t, conname FROM pg_constraint \
             WHERE contype = 'c' AND conrelid IN ('users'::regclass, 'orders'::regclass) LOOP \
             EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', c.t, c.conname); END LOOP; END $$",
        )
        .await;
    }
}

/// Breaks the database with `break_sql`, expects exactly `want`, then repairs it.
async fn expect_violations(db: &TestDb, case: &str, break_sql: &str, want: &[String], fix: &str) {
    corrupt(db, break_sql).await;
    let (ok, got, err) = audit(db);
    assert!(!ok, "{case}: the audit passed");
    let want: BTreeSet<String> = want.iter().cloned().collect();
    assert_eq!(got, want, "{case}");
    assert_eq!(
        err.trim(),
        format!("souk: {} invariant violation(s) found", want.len()),
        "{case}"
    );
    corrupt(db, fix).await;
    let (ok, got, err) = audit(db);
    assert!(ok && got.is_empty(), "{case}: not repaired: {got:?} {err}");
}

engine_test!(audit_names_each_broken_invariant, |db| {
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    store
        .set_setting(souk_core::supply::EARNINGS_HOLD_HOURS, "0", 0)
        .await
        .expect("setting");
    let app = TestApp::spawn(db).await;
    let key = app.buyer("buyer@test.local", "100").await;
    let add = |service: i64, extra: &'static [(&'static str, &'static str)], quantity: &str| {
        let (app, key, quantity) = (&app, key.clone(), quantity.to_owned());
        async move {
            let service = service.to_string();
            let mut form = vec![
                ("key", key.as_str()),
                ("action", "add"),
                ("service", service.as_str()),
                ("quantity", quantity.as_str()),
            ];
            form.extend_from_slice(extra);
            let v = app.call(&form).await;
            v["order"].as_i64().unwrap_or_else(|| panic!("{v}"))
        }
    };
    // Nord's inventory order (2 lines, 50.00), BoostLab's inventory order (1 line, 0.045)
    // and BoostLab's SMM order (0.50); then Nord withdraws its earning.
    let a = add(f.gmail_usa, &[], "2").await;
    let b = add(f.gmail_bulk, &[], "1").await;
    let s = add(
        f.ig_followers,
        &[("link", "https://instagram.com/x")],
        "1000",
    )
    .await;
    app.stop().await;
    let nord_owner = store
        .user_id_by_email("nord@fixture.test")
        .await
        .expect("lookup")
        .expect("owner");
    let withdrawal = store
        .request_withdrawal(&nord_owner, &f.nord, "", 1_900_000_000_000)
        .await
        .expect("withdrawal");
    let (ok, got, err) = audit(db);
    assert!(ok && got.is_empty(), "{got:?} {err}");
    drop_checks(db).await;

    let buyer = "(SELECT id FROM users WHERE email = 'buyer@test.local')";
    let balance = db
        .scalar("SELECT balance FROM users WHERE email = 'buyer@test.local'")
        .await;
    assert_eq!(balance, 49_455_000);
    let line = db
        .scalar(&format!(
            "SELECT MIN(id) FROM stock_lines WHERE order_id = {a}"
        ))
        .await;
    let last_line = db.scalar("SELECT MAX(id) FROM stock_lines").await;
    let charge_row = db
        .scalar(&format!("SELECT id FROM ledger WHERE order_id = {s}"))
        .await;

    expect_violations(
        db,
        "balance differs from the ledger",
        &format!("UPDATE users SET balance = balance + 1 WHERE id = {buyer}"),
        &[format!(
            "user buyer@test.local: balance {} differs from its ledger sum {balance}",
            balance + 1
        )],
        &format!("UPDATE users SET balance = balance - 1 WHERE id = {buyer}"),
    )
    .await;
    expect_violations(
        db,
        "negative balance",
        &format!(
            "INSERT INTO ledger (user_id, amount, balance_after, kind, order_id, note, created_at) \
             VALUES ({buyer}, {}, 0, 'adjust', NULL, 'corrupt', 0); \
             UPDATE users SET balance = -1 WHERE id = {buyer}",
            -balance - 1
        ),
        &["user buyer@test.local: negative balance -1".to_owned()],
        &format!(
            "DELETE FROM ledger WHERE note = 'corrupt'; UPDATE users SET balance = {balance} WHERE id = {buyer}"
        ),
    )
    .await;
    expect_violations(
        db,
        "refund above the charge",
        &format!("UPDATE orders SET refunded = charge + 1 WHERE id = {s}"),
        &[
            format!("order {s}: refunded 500001 exceeds its charge 500000"),
            format!(
                "order {s}: charge 500000 minus refunds 500001 differs from its ledger rows (-500000)"
            ),
        ],
        &format!("UPDATE orders SET refunded = 0 WHERE id = {s}"),
    )
    .await;
    expect_violations(
        db,
        "one delivered line on two orders",
        &format!(
            "INSERT INTO stock_lines (service_number, subproduct_id, content, fingerprint, source, order_id, created_at, delivered_at) \
             SELECT service_number, subproduct_id, content, fingerprint, source, {b}, created_at, delivered_at \
             FROM stock_lines WHERE id = {line}"
        ),
        &[
            format!("order {b}: 1 delivered but 2 lines hold its id"),
            format!(
                "stock line {} of subproduct {} is delivered to order {b} of subproduct {}",
                last_line + 1,
                f.gmail_subs[0],
                f.gmail_bulk_sub
            ),
        ],
        &format!("DELETE FROM stock_lines WHERE id > {last_line}"),
    )
    .await;
    // An unsold line below where its variant's sales start looking (`sold_through`)
    // would be counted in the stock and never sold.
    let unsold = db
        .scalar(&format!(
            "SELECT MIN(id) FROM stock_lines WHERE subproduct_id = '{}' AND order_id IS NULL",
            f.gmail_bulk_sub
        ))
        .await;
    expect_violations(
        db,
        "an unsold line below sold_through",
        &format!(
            "UPDATE subproducts SET sold_through = {unsold} WHERE id = '{}'",
            f.gmail_bulk_sub
        ),
        &[format!(
            "subproduct {}: 1 unsold line(s) at or below its sold_through {unsold}, where no sale looks",
            f.gmail_bulk_sub
        )],
        &format!(
            "UPDATE subproducts SET sold_through = 0 WHERE id = '{}'",
            f.gmail_bulk_sub
        ),
    )
    .await;
    expect_violations(
        db,
        "an orphan line",
        &format!("UPDATE stock_lines SET order_id = 999999 WHERE id = {line}"),
        &[
            format!("stock line {line} is delivered to order 999999, which does not exist"),
            format!("order {a}: 2 delivered but 1 lines hold its id"),
        ],
        &format!("UPDATE stock_lines SET order_id = {a} WHERE id = {line}"),
    )
    .await;
    expect_violations(
        db,
        "an order's ledger rows do not add up",
        &format!("UPDATE ledger SET order_id = NULL WHERE id = {charge_row}"),
        &[format!(
            "order {s}: charge 500000 minus refunds 0 differs from its ledger rows (0)"
        )],
        &format!("UPDATE ledger SET order_id = {s} WHERE id = {charge_row}"),
    )
    .await;
    expect_violations(
        db,
        "a ledger row of a missing order",
        &format!("UPDATE ledger SET order_id = 999999 WHERE id = {charge_row}"),
        &[
            format!("order {s}: charge 500000 minus refunds 0 differs from its ledger rows (0)"),
            format!(
                "ledger row {charge_row} of user buyer@test.local names order 999999, which does not exist"
            ),
        ],
        &format!("UPDATE ledger SET order_id = {s} WHERE id = {charge_row}"),
    )
    .await;
    let other_user = db
        .scalar("SELECT COUNT(*) FROM users WHERE email = 'nord@fixture.test'")
        .await;
    assert_eq!(other_user, 1);
    expect_violations(
        db,
        "a ledger row on another buyer's order",
        &format!(
            "UPDATE ledger SET user_id = (SELECT id FROM users WHERE email = 'nord@fixture.test') WHERE id = {charge_row}; \
             UPDATE users SET balance = balance + 500000 WHERE id = {buyer}; \
             UPDATE users SET balance = -500000 WHERE email = 'nord@fixture.test'"
        ),
        &[
            format!(
                "ledger row {charge_row} of user nord@fixture.test names order {s} of another user"
            ),
            "user nord@fixture.test: negative balance -500000".to_owned(),
        ],
        &format!(
            "UPDATE ledger SET user_id = {buyer} WHERE id = {charge_row}; \
             UPDATE users SET balance = {balance} WHERE id = {buyer}; \
             UPDATE users SET balance = 0 WHERE email = 'nord@fixture.test'"
        ),
    )
    .await;
    let b_earning = db
        .scalar(&format!("SELECT amount FROM earnings WHERE order_id = {b}"))
        .await;
    let w = &withdrawal.id;
    expect_violations(
        db,
        "a withdrawal covering another shop's earning",
        &format!(
            "UPDATE earnings SET withdrawal_id = '{w}' WHERE order_id = {b}; \
             UPDATE withdrawals SET amount = amount + {b_earning} WHERE id = '{w}'"
        ),
        &[format!(
            "withdrawal {w} of shop {} covers the earning of order {b} of shop {}",
            f.nord, f.boost
        )],
        &format!(
            "UPDATE earnings SET withdrawal_id = NULL WHERE order_id = {b}; \
             UPDATE withdrawals SET amount = amount - {b_earning} WHERE id = '{w}'"
        ),
    )
    .await;
    store.close().await;
});

engine_test!(audit_names_each_broken_top_up, |db| {
    use souk_app::payments::{self, Decision, GatewayPatch, StartPayment};
    use souk_core::clock::Clock;
    let app = TestApp::spawn(db).await;
    app.buyer("payer@test.local", "0").await;
    let user = app
        .store
        .user_id_by_email("payer@test.local")
        .await
        .expect("look up")
        .expect("user");
    let now = app.clock.now_ms();
    payments::configure(
        &app.store,
        "manual",
        GatewayPatch {
            enabled: Some(true),
            ..GatewayPatch::default()
        },
        now,
    )
    .await
    .expect("manual transfers on");
    souk_app::settings::update(
        &app.store,
        vec![("deposit_bonus".into(), "10=10".into())],
        now,
    )
    .await
    .expect("bonus");
    let p = payments::start(
        &app.store,
        false,
        StartPayment {
            user_id: user.clone(),
            gateway: "manual".into(),
            amount: souk_core::Money::parse("20").expect("amount"),
            transfer_id: Some("TX-1".into()),
            public_url: app.url.clone(),
            currency: "USD".into(),
        },
        now,
    )
    .await
    .expect("transfer reported");
    payments::decide(&app.store, &p.id, Decision::Approve(None), "", now)
        .await
        .expect("approved");
    let (ok, got, err) = audit(db);
    assert!(ok && got.is_empty(), "{got:?} {err}");
    let id = p.id.clone();
    let deposit = db
        .scalar(&format!(
            "SELECT id FROM ledger WHERE payment_id = '{id}' AND kind = 'deposit'"
        ))
        .await;
    let bonus = db
        .scalar(&format!(
            "SELECT id FROM ledger WHERE payment_id = '{id}' AND kind = 'bonus'"
        ))
        .await;
    expect_violations(
        db,
        "a deposit that names no payment",
        &format!("UPDATE ledger SET payment_id = NULL WHERE id = {deposit}"),
        &[
            format!(
                "ledger row {deposit} of user payer@test.local is a deposit that names no payment"
            ),
            format!("payment {id} (paid, credited 20000000) has 0 deposit rows, not 1"),
        ],
        &format!("UPDATE ledger SET payment_id = '{id}' WHERE id = {deposit}"),
    )
    .await;
    expect_violations(
        db,
        "a payment that records another credit",
        &format!("UPDATE payments SET credited = 25000000 WHERE id = '{id}'"),
        &[format!(
            "ledger row {deposit} credits 20000000 for payment {id}, which records 25000000 as its deposit"
        )],
        &format!("UPDATE payments SET credited = 20000000 WHERE id = '{id}'"),
    )
    .await;
    expect_violations(
        db,
        "a credit for a payment that is not paid",
        &format!("UPDATE payments SET state = 'failed' WHERE id = '{id}'"),
        &[
            format!("ledger row {deposit} credits payment {id}, which is failed"),
            format!("ledger row {bonus} credits payment {id}, which is failed"),
            format!("payment {id} (failed, credited 20000000) has 1 deposit rows, not 0"),
            format!("payment {id} (failed, bonus 2000000) has 1 bonus rows, not 0"),
        ],
        &format!("UPDATE payments SET state = 'paid' WHERE id = '{id}'"),
    )
    .await;
    expect_violations(
        db,
        "a payment named by a charge",
        &format!("UPDATE ledger SET kind = 'adjust' WHERE id = {bonus}"),
        &[
            format!("ledger row {bonus} names payment {id} but is of kind adjust"),
            format!("payment {id} (paid, bonus 2000000) has 0 bonus rows, not 1"),
        ],
        &format!("UPDATE ledger SET kind = 'bonus' WHERE id = {bonus}"),
    )
    .await;
    app.stop().await;
});
