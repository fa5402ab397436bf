//! Disputes and withdrawals against early cancel (SPEC 8, 11): each turns it down with
//! its reason code; the operator's decisions release it or refund through the ledger.

use serde_json::{json, Value};

use crate::engine_test;
use crate::fixtures;
use crate::harness::{TestApp, TestDb};
use crate::supply_kit::{
    balance, buy, digest, earnings_withdrawable_at_once, get, ok, post, status, As,
};

const NOT_AVAILABLE: &str = "Early auto refund is not available for this order";

/// The fixture and its auto products on a running app, with earnings withdrawable at once
/// (so a withdrawal can cover fresh orders) and a new key of Nord's, the supplier of
/// `netflix_auto`: (app, auto products, Nord's key).
async fn withdrawable_nord(db: &TestDb) -> (TestApp, fixtures::AutoProducts, String) {
    let store = db.store().await;
    let f = fixtures::load(&store).await;
    let auto = fixtures::add_auto_products(&store, &f).await;
    let app = TestApp::spawn(db).await;
    earnings_withdrawable_at_once(&app).await;
    let nord = ok(
        200,
        get(&app, As::Operator, "/api/operator/v1/users?email=nord@").await,
    );
    let nord_id = nord["users"][0]["id"].as_str().expect("id").to_owned();
    let key = ok(
        201,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/users/{nord_id}/keys"),
            json!({"label": "tests"}),
        )
        .await,
    )["key"]
        .as_str()
        .expect("key")
        .to_owned();
    (app, auto, key)
}

engine_test!(dispute_and_withdrawal_turn_early_cancel_down, |db| {
    let (app, auto, supplier) = withdrawable_nord(db).await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let disputed = buy(&app, &buyer, auto.netflix_auto, 2).await;
    let withdrawn = buy(&app, &buyer, auto.netflix_auto, 2).await;
    assert_eq!(balance(&app, &buyer).await, "80.00");

    // The buyer opens a dispute; one at a time, on their own orders only.
    let opened = app
        .call(&[
            ("key", &buyer),
            ("action", "dispute"),
            ("order", &disputed.to_string()),
            ("message", "Nothing arrived"),
        ])
        .await;
    let dispute = opened["dispute"].as_str().expect("dispute id").to_owned();
    assert_eq!(
        opened,
        json!({"dispute": dispute, "order": disputed, "status": "open"})
    );
    let other = app.buyer("other@test.local", "0").await;
    for (key, order, message, error) in [
        (
            &buyer,
            disputed.to_string(),
            "Again",
            "A dispute is already open for this order",
        ),
        (&buyer, withdrawn.to_string(), "", "message is required"),
        (&other, disputed.to_string(), "Mine?", "Order not found"),
        (&buyer, "999999".to_owned(), "Hm", "Order not found"),
        (&buyer, "abc".to_owned(), "Hm", "Incorrect order ID"),
    ] {
        assert_eq!(
            app.call(&[
                ("key", key),
                ("action", "dispute"),
                ("order", &order),
                ("message", message),
            ])
            .await,
            json!({"error": error}),
            "{order} {message}"
        );
    }
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "dispute"),
            ("order", &withdrawn.to_string()),
            ("message", &"x".repeat(2001)),
        ])
        .await,
        json!({"error": "Message is too long (max 2000 characters)"})
    );

    app.clock.advance(31 * 60_000);
    let allow = |order: i64| {
        let (app, key) = (&app, buyer.clone());
        async move {
            app.call(&[
                ("key", &key),
                ("action", "allowcancel"),
                ("orders", &order.to_string()),
            ])
            .await
        }
    };
    let refused = |order: i64, code: &str| json!([{"order": order, "allowcancel": 0, "error": NOT_AVAILABLE, "reason": code}]);
    assert_eq!(allow(disputed).await, refused(disputed, "ACTIVE_DISPUTE"));
    assert_eq!(
        allow(withdrawn).await,
        json!([{"order": withdrawn, "allowcancel": 1, "refundAmount": 10.0}])
    );

    // The supplier withdraws everything available: both orders' earnings.
    let w = ok(
        201,
        post(
            &app,
            As::Key(&supplier),
            "/api/admin/v2/withdrawals",
            json!({}),
        )
        .await,
    );
    assert_eq!(
        (w["amount"].clone(), w["orders"].clone()),
        (json!("18.00"), json!(2))
    );
    let wid = w["id"].as_str().expect("id").to_owned();
    assert_eq!(
        allow(withdrawn).await,
        refused(withdrawn, "SUPPLIER_WITHDRAWAL")
    );
    // The dispute comes first in the rules' order.
    assert_eq!(allow(disputed).await, refused(disputed, "ACTIVE_DISPUTE"));
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "cancel"),
            ("orders", &withdrawn.to_string()),
        ])
        .await,
        json!([{"order": withdrawn, "cancel": {"error": NOT_AVAILABLE, "reason": "SUPPLIER_WITHDRAWAL"}}])
    );
    assert_eq!(balance(&app, &buyer).await, "80.00");

    // Nor can the operator refund a covered order: reject the withdrawal first.
    let before = digest(db).await;
    assert_eq!(
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{dispute}/resolve"),
            json!({"decision": "refund"}),
        )
        .await,
        (
            409,
            json!({"error": format!(
                "Order {disputed} is covered by supplier withdrawal {wid} (requested); it cannot be refunded unless the withdrawal is rejected"
            )})
        )
    );
    assert_eq!(
        digest(db).await,
        before,
        "a refused resolution changes nothing"
    );
    let rejected = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/withdrawals/{wid}/reject"),
            json!({"note": "dispute pending"}),
        )
        .await,
    );
    assert_eq!(
        (rejected["status"].clone(), rejected["orders"].clone()),
        (json!("rejected"), json!(0))
    );
    assert_eq!(
        allow(withdrawn).await,
        json!([{"order": withdrawn, "allowcancel": 1, "refundAmount": 10.0}])
    );

    // The operator refunds the dispute in full: the order ends Canceled.
    let listed = ok(
        200,
        get(&app, As::Operator, "/api/operator/v1/disputes?status=open").await,
    );
    assert_eq!(listed["disputes"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        (
            listed["disputes"][0]["message"].clone(),
            listed["disputes"][0]["email"].clone()
        ),
        (json!("Nothing arrived"), json!("buyer@test.local"))
    );
    let resolved = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{dispute}/resolve"),
            json!({"decision": "refund", "note": "never arrived"}),
        )
        .await,
    );
    assert_eq!(
        resolved,
        json!({
            "id": dispute, "order": disputed, "userId": resolved["userId"], "email": "buyer@test.local",
            "status": "refunded", "message": "Nothing arrived", "resolution": "never arrived",
            "refundAmount": "10.00", "charge": "10.00", "refunded": "10.00",
            "createdAt": resolved["createdAt"], "resolvedAt": resolved["resolvedAt"]
        })
    );
    assert_eq!(balance(&app, &buyer).await, "90.00");
    let s = status(&app, &buyer, disputed).await;
    assert_eq!(
        (s["status"].clone(), s["charge"].clone()),
        (json!("Canceled"), json!("0.00"))
    );
    assert_eq!(
        allow(disputed).await,
        refused(disputed, "PAYMENT_NOT_COMPLETED")
    );
    assert_eq!(
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{dispute}/resolve"),
            json!({"decision": "reject"}),
        )
        .await,
        (
            409,
            json!({"error": format!("Dispute {dispute} is already refunded")})
        )
    );
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "dispute"),
            ("order", &disputed.to_string()),
            ("message", "Still?"),
        ])
        .await,
        json!({"error": "This order is already fully refunded"})
    );
    // The supplier's earning of the refunded order is gone.
    let e = ok(
        200,
        get(&app, As::Key(&supplier), "/api/admin/v2/earnings").await,
    );
    let amounts: Vec<(Value, Value)> = e["earnings"]
        .as_array()
        .expect("earnings")
        .iter()
        .map(|r| (r["order"].clone(), r["amount"].clone()))
        .collect();
    assert_eq!(
        amounts,
        vec![
            (json!(withdrawn), json!("9.00")),
            (json!(disputed), json!("0.00"))
        ]
    );

    // A second dispute on the other order, rejected: no money moves, cancel works again.
    let opened = app
        .call(&[
            ("key", &buyer),
            ("action", "dispute"),
            ("order", &withdrawn.to_string()),
            ("message", "Slow"),
        ])
        .await;
    let second = opened["dispute"].as_str().expect("id").to_owned();
    assert_eq!(allow(withdrawn).await, refused(withdrawn, "ACTIVE_DISPUTE"));
    for (body, error) in [
        (
            json!({"decision": "maybe"}),
            "decision must be refund or reject",
        ),
        (
            json!({"decision": "refund", "amount": "10.01"}),
            "At most 10.00 of this order is left to refund",
        ),
        (
            json!({"decision": "refund", "amount": "-1"}),
            "amount must not be negative",
        ),
        (
            json!({"decision": "reject", "amount": "1"}),
            "A rejected dispute refunds nothing; leave amount out",
        ),
    ] {
        assert_eq!(
            post(
                &app,
                As::Operator,
                &format!("/api/operator/v1/disputes/{second}/resolve"),
                body
            )
            .await,
            (400, json!({"error": error}))
        );
    }
    let r = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{second}/resolve"),
            json!({"decision": "reject", "note": "on its way"}),
        )
        .await,
    );
    assert_eq!(
        (r["status"].clone(), r["refundAmount"].clone()),
        (json!("rejected"), json!("0.00"))
    );
    assert_eq!(balance(&app, &buyer).await, "90.00");
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "cancel"),
            ("orders", &withdrawn.to_string()),
        ])
        .await,
        json!([{"order": withdrawn, "cancel": 1}])
    );
    assert_eq!(balance(&app, &buyer).await, "100.00");
    // A partial refund by dispute on a fresh order: Partial, the rest stays charged.
    let third = buy(&app, &buyer, auto.netflix_auto, 2).await;
    let opened = app
        .call(&[
            ("key", &buyer),
            ("action", "dispute"),
            ("order", &third.to_string()),
            ("message", "One was bad"),
        ])
        .await;
    let id = opened["dispute"].as_str().expect("id").to_owned();
    let r = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/disputes/{id}/resolve"),
            json!({"decision": "refund", "amount": "5"}),
        )
        .await,
    );
    assert_eq!(
        (r["refundAmount"].clone(), r["refunded"].clone()),
        (json!("5.00"), json!("5.00"))
    );
    let s = status(&app, &buyer, third).await;
    assert_eq!(
        (s["status"].clone(), s["charge"].clone()),
        (json!("Partial"), json!("5.00"))
    );
    assert_eq!(balance(&app, &buyer).await, "95.00");

    // The supplier may fail an auto order still queued (it is never forwarded then), but
    // not one its provider has: the provider's answer settles that.
    let sent = buy(&app, &buyer, auto.netflix_auto, 1).await;
    db.exec(&format!(
        "UPDATE orders SET external_id = 'up-9', sent_at = 1 WHERE id = {sent}"
    ))
    .await;
    assert_eq!(
        post(
            &app,
            As::Key(&supplier),
            &format!("/api/admin/v2/orders/{sent}/fail"),
            json!({})
        )
        .await,
        (
            409,
            json!({"error": format!("Order {sent} is with its provider; the provider's answer settles it")})
        )
    );
    let queued = buy(&app, &buyer, auto.netflix_auto, 1).await;
    assert_eq!(
        post(
            &app,
            As::Key(&supplier),
            &format!("/api/admin/v2/orders/{queued}/fail"),
            json!({})
        )
        .await,
        (
            200,
            json!({"order": queued, "delivered": 0, "remains": 1, "status": "canceled", "refunded": "5.00"})
        )
    );
    assert!(!["queued", "sending", "sent"]
        .contains(&crate::providers::forward_state(db, queued).await.as_str()));
    assert_eq!(balance(&app, &buyer).await, "90.00");
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(a_completed_withdrawal_still_turns_early_cancel_down, |db| {
    let (app, auto, supplier) = withdrawable_nord(db).await;
    let buyer = app.buyer("buyer@test.local", "100").await;
    let order = buy(&app, &buyer, auto.netflix_auto, 2).await;
    app.clock.advance(31 * 60_000);
    let order_text = order.to_string();
    let ask = [
        ("key", buyer.as_str()),
        ("action", "allowcancel"),
        ("orders", order_text.as_str()),
    ];
    let allow = || app.call(&ask);
    assert_eq!(
        allow().await,
        json!([{"order": order, "allowcancel": 1, "refundAmount": 10.0}])
    );

    // Requested, then paid out by the operator: the money has left, so the order stays.
    let w = ok(
        201,
        post(
            &app,
            As::Key(&supplier),
            "/api/admin/v2/withdrawals",
            json!({}),
        )
        .await,
    );
    let wid = w["id"].as_str().expect("id").to_owned();
    let done = ok(
        200,
        post(
            &app,
            As::Operator,
            &format!("/api/operator/v1/withdrawals/{wid}/complete"),
            json!({"note": "paid"}),
        )
        .await,
    );
    assert_eq!(
        (done["status"].clone(), done["orders"].clone()),
        (json!("completed"), json!(1))
    );
    let refused = json!([{"order": order, "allowcancel": 0, "error": NOT_AVAILABLE, "reason": "SUPPLIER_WITHDRAWAL"}]);
    assert_eq!(allow().await, refused);
    let before = digest(db).await;
    assert_eq!(
        app.call(&[
            ("key", &buyer),
            ("action", "cancel"),
            ("orders", &order.to_string()),
        ])
        .await,
        json!([{"order": order, "cancel": {"error": NOT_AVAILABLE, "reason": "SUPPLIER_WITHDRAWAL"}}])
    );
    assert_eq!(
        digest(db).await,
        before,
        "the refused cancel changes nothing"
    );
    assert_eq!(balance(&app, &buyer).await, "90.00");
    // A day later, still open upstream and still covered: a paid-out earning cannot be
    // taken back by a refund.
    app.clock.advance(24 * 3_600_000);
    assert_eq!(allow().await, refused);
    assert_eq!(status(&app, &buyer, order).await["status"], "Pending");
    db.assert_audit_clean().await;
    app.stop().await;
});
