//! Top-ups through payment gateways, against fakes of Cryptomus, NOWPayments and Stripe
//! on loopback that sign their callbacks as the real ones do (`souk-fakes`). A payment
//! is credited once, by one `deposit` row, only on what the gateway answers when Souk
//! asks: callbacks repeated on two nodes, forged, stale, for unpaid, unknown or foreign
//! payments, lost, late, under- or over-paid, or cut off by a crash never credit twice
//! or wrongly. `souk admin audit`'s checks pass after each.

use souk_app::payments::{self, GatewayPatch, StartPayment};
use souk_core::clock::Clock;
use souk_core::Money;
use souk_fakes::{FakeGateway, FakeKind};
use souk_store::PaymentRecord;

use crate::engine_test;
use crate::harness::{private_upstreams, wait_for, ServerProcess, TestApp, TestDb};

const KINDS: [FakeKind; 3] = [FakeKind::Cryptomus, FakeKind::NowPayments, FakeKind::Stripe];

fn m(text: &str) -> Money {
    Money::parse(text).expect("amount")
}

fn gateway_id(kind: FakeKind) -> &'static str {
    match kind {
        FakeKind::Cryptomus => "cryptomus",
        FakeKind::NowPayments => "nowpayments",
        FakeKind::Stripe => "stripe",
    }
}

/// A fake of `kind` running, and the gateway configured and enabled with its keys.
async fn gateway(app: &TestApp, kind: FakeKind) -> FakeGateway {
    let fake = FakeGateway::start(kind).await;
    let id = gateway_id(kind);
    let merchant = fake.merchant();
    let secret = fake.webhook_secret();
    payments::configure(
        &app.store,
        id,
        GatewayPatch {
            enabled: Some(true),
            base_url: Some(fake.base_url()),
            merchant: (!merchant.is_empty()).then_some(merchant),
            api_key: Some(fake.api_key()),
            secret: (!secret.is_empty()).then_some(secret),
            ..GatewayPatch::default()
        },
        app.clock.now_ms(),
    )
    .await
    .expect("configure the gateway");
    // Stripe sends its events to the endpoint set up in its dashboard.
    fake.set_webhook_url(&format!("{}/webhooks/payments/{id}", app.url));
    // The tests deliver callbacks themselves (or lose them).
    fake.auto_callback(false);
    fake
}

/// A buyer with nothing on their balance: their user id.
async fn buyer(app: &TestApp, email: &str) -> String {
    app.buyer(email, "0").await;
    app.store
        .user_id_by_email(email)
        .await
        .expect("look up")
        .expect("the buyer")
}

/// The buyer starts topping up `amount` through `kind`.
async fn start(app: &TestApp, user: &str, kind: FakeKind, amount: &str) -> PaymentRecord {
    start_at(app, &app.url, user, kind, amount).await
}

async fn start_at(
    app: &TestApp,
    public_url: &str,
    user: &str,
    kind: FakeKind,
    amount: &str,
) -> PaymentRecord {
    let p = payments::start(
        &app.store,
        true,
        StartPayment {
            user_id: user.to_owned(),
            gateway: gateway_id(kind).to_owned(),
            amount: m(amount),
            transfer_id: None,
            public_url: public_url.to_owned(),
            currency: "USD".into(),
        },
        app.clock.now_ms(),
    )
    .await
    .expect("start the payment");
    assert_eq!(p.state, "pending", "{kind:?}");
    assert!(!p.pay_url.is_empty(), "{kind:?}");
    p
}

async fn balance(app: &TestApp, user: &str) -> String {
    app.store.balance(user).await.expect("balance").display2()
}

async fn payment(app: &TestApp, id: &str) -> PaymentRecord {
    app.store
        .payment(id)
        .await
        .expect("read")
        .expect("the payment")
}

/// The ledger rows that name `payment`, as (kind, amount).
async fn rows_of(db: &TestDb, payment: &str) -> (i64, i64) {
    (
        db.scalar(&format!(
            "SELECT COUNT(*) FROM ledger WHERE payment_id = '{payment}' AND kind = 'deposit'"
        ))
        .await,
        db.scalar(&format!(
            "SELECT COUNT(*) FROM ledger WHERE payment_id = '{payment}' AND kind = 'bonus'"
        ))
        .await,
    )
}

async fn set(app: &TestApp, key: &str, value: &str) {
    souk_app::settings::update(
        &app.store,
        vec![(key.to_owned(), value.to_owned())],
        app.clock.now_ms(),
    )
    .await
    .expect("setting");
}

/// The newest verdicts recorded for `payment` (newest first).
async fn verdicts(app: &TestApp, payment: Option<&str>) -> Vec<String> {
    app.store
        .payment_events(payment, 50)
        .await
        .expect("events")
        .into_iter()
        .map(|e| format!("{} {}", e.source, e.verdict))
        .collect()
}

engine_test!(a_payment_through_each_gateway_is_credited_once, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    set(&app, "deposit_bonus", "100=5").await;
    for kind in KINDS {
        let fake = gateway(&app, kind).await;
        let user = buyer(&app, &format!("{}@buyer.test", gateway_id(kind))).await;
        let p = start(&app, &user, kind, "100").await;
        let invoice = fake.invoice(&p.id).expect("the gateway holds the invoice");
        assert_eq!(invoice.amount, m("100"), "{kind:?}");
        assert_eq!(
            invoice.external_id,
            p.external_id.clone().expect("external id")
        );
        if kind != FakeKind::Stripe {
            assert_eq!(
                invoice.callback_url,
                format!("{}/webhooks/payments/{}", app.url, gateway_id(kind))
            );
        }
        assert_eq!(
            invoice.return_url,
            format!("{}/account/payments/{}", app.url, p.id)
        );

        fake.pay(&p.id, m("100"));
        assert_eq!(fake.deliver_callback(&p.id).await, 200, "{kind:?}");
        // The callback only woke the check; the check credits.
        assert_eq!(balance(&app, &user).await, "0.00");
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "105.00", "{kind:?}");
        let paid = payment(&app, &p.id).await;
        assert_eq!(
            (
                paid.state.as_str(),
                paid.credited,
                paid.bonus_credited,
                paid.late
            ),
            ("paid", 100_000_000, 5_000_000, false),
            "{kind:?}"
        );
        assert_eq!(rows_of(db, &p.id).await, (1, 1));

        // Delivered again, and the gateway asked again: nothing more.
        assert_eq!(fake.deliver_callback(&p.id).await, 200);
        app.run_jobs().await;
        app.clock.advance(60_000);
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "105.00", "{kind:?}");
        assert_eq!(rows_of(db, &p.id).await, (1, 1));
        let said = verdicts(&app, Some(&p.id)).await;
        assert!(
            said.iter()
                .any(|v| v.starts_with("check credited 100.00 + bonus 5.00")),
            "{said:?}"
        );
    }
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(one_callback_twenty_times_on_two_nodes_credits_once, |db| {
    let a = TestApp::spawn_stepped(db, private_upstreams()).await;
    let b = TestApp::spawn_stepped(db, private_upstreams()).await;
    for kind in KINDS {
        let fake = gateway(&a, kind).await;
        let user = buyer(&a, &format!("twice-{}@buyer.test", gateway_id(kind))).await;
        let p = start(&a, &user, kind, "40").await;
        fake.pay(&p.id, m("40"));
        let callback = fake.callback(&p.id);
        // Twenty deliveries at once, half to each node, while both run their queues.
        let mut sends = Vec::new();
        for i in 0..20 {
            let mut cb = callback.clone();
            let node = if i % 2 == 0 { &a.url } else { &b.url };
            cb.url = format!("{node}/webhooks/payments/{}", gateway_id(kind));
            let fake = fake.clone();
            sends.push(tokio::spawn(async move { fake.deliver(&cb).await }));
        }
        let checks = async {
            for _ in 0..5 {
                tokio::join!(a.run_jobs(), b.run_jobs());
            }
        };
        let (statuses, ()) = tokio::join!(futures::future::join_all(sends), checks);
        for s in statuses {
            assert_eq!(s.expect("delivered"), 200);
        }
        // And every node asks the gateway itself, many times at once.
        let mut direct = Vec::new();
        for store in [a.store.clone(), b.store.clone()]
            .into_iter()
            .cycle()
            .take(10)
        {
            let id = p.id.clone();
            let now = a.clock.now_ms();
            direct.push(tokio::spawn(async move {
                payments::check(&store, true, &id, now).await.map(|_| ())
            }));
        }
        for d in futures::future::join_all(direct).await {
            d.expect("ran").expect("checked");
        }
        a.run_jobs().await;
        assert_eq!(balance(&a, &user).await, "40.00", "{kind:?}");
        assert_eq!(rows_of(db, &p.id).await, (1, 0));
    }
    db.assert_audit_clean().await;
    a.stop().await;
    b.stop().await;
});

/// The gateway's word for an invoice nobody paid.
fn unpaid(kind: FakeKind) -> &'static str {
    match kind {
        FakeKind::Cryptomus => "check",
        FakeKind::NowPayments => "waiting",
        FakeKind::Stripe => "open",
    }
}

engine_test!(
    a_signed_callback_the_gateway_does_not_confirm_credits_nothing,
    |db| {
        let app = TestApp::spawn_stepped(db, private_upstreams()).await;
        for kind in KINDS {
            let fake = gateway(&app, kind).await;
            let user = buyer(&app, &format!("unpaid-{}@buyer.test", gateway_id(kind))).await;
            let p = start(&app, &user, kind, "30").await;
            // A correctly signed "paid" callback, but the gateway, asked, says unpaid.
            fake.pay(&p.id, m("30"));
            let claim = fake.callback(&p.id);
            fake.set_raw_status(&p.id, unpaid(kind));
            assert_eq!(fake.deliver(&claim).await, 200, "{kind:?}");
            app.run_jobs().await;
            assert_eq!(balance(&app, &user).await, "0.00", "{kind:?}");
            assert_eq!(payment(&app, &p.id).await.state, "pending");
            let said = verdicts(&app, Some(&p.id)).await;
            assert!(
                said[0].starts_with("callback verified, check woken"),
                "{said:?}"
            );
        }
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(forged_and_foreign_callbacks_move_nothing, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    for kind in KINDS {
        let id = gateway_id(kind);
        let fake = gateway(&app, kind).await;
        let user = buyer(&app, &format!("forged-{id}@buyer.test")).await;
        let p = start(&app, &user, kind, "20").await;
        fake.pay(&p.id, m("20"));
        // A forged signature: refused as the gateway expects, recorded, nothing woken.
        let forged = fake.forged_callback(&p.id);
        assert_eq!(fake.deliver(&forged).await, 401, "{kind:?}");
        assert!(verdicts(&app, None).await[0].starts_with("callback refused: wrong signature"));
        // No signature at all.
        let response = app
            .http
            .post(format!("{}/webhooks/payments/{id}", app.url))
            .header("content-type", "application/json")
            .body(forged.body.clone())
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 401, "{kind:?}");
        if kind == FakeKind::Stripe {
            // A Stripe event replayed ten minutes later: stale.
            let signed_then = app.clock.now_ms() / 1000 - 600;
            let replay = fake.callback_at(&p.id, signed_then);
            assert_eq!(fake.deliver(&replay).await, 401);
            assert!(verdicts(&app, None).await[0]
                .starts_with("callback refused: signature timestamp outside the tolerance"));
        }
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "0.00", "{kind:?}");
        assert_eq!(payment(&app, &p.id).await.state, "pending");

        // A valid callback for a payment this installation does not have: 200 (the
        // gateway stops), recorded, nothing else.
        let other = start(&app, &user, kind, "10").await;
        fake.pay(&other.id, m("10"));
        let cb = fake.callback(&other.id);
        db.exec(&format!(
            "DELETE FROM jobs WHERE dedupe_key = '{}'",
            other.id
        ))
        .await;
        db.exec(&format!("DELETE FROM payments WHERE id = '{}'", other.id))
            .await;
        assert_eq!(fake.deliver(&cb).await, 200, "{kind:?}");
        assert!(verdicts(&app, None).await[0].starts_with("callback ignored: no such payment here"));
    }
    // A body over 64 KiB is not read.
    let response = app
        .http
        .post(format!("{}/webhooks/payments/stripe", app.url))
        .header("content-type", "application/json")
        .body(vec![b' '; 70 * 1024])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 413);
    // An unknown gateway.
    let response = app
        .http
        .post(format!("{}/webhooks/payments/paypal", app.url))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 404);
    app.run_jobs().await;
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(an_answer_that_does_not_match_the_invoice_is_parked, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    app.expect_failed_jobs();
    let kind = FakeKind::Cryptomus;
    let fake = gateway(&app, kind).await;
    let user = buyer(&app, "mismatch@buyer.test").await;
    let p = start(&app, &user, kind, "50").await;
    fake.pay(&p.id, m("50"));
    // Souk's invoice says EUR; the gateway holds it in USD: nothing moves, the check is
    // parked for the operator with the reason.
    db.exec(&format!(
        "UPDATE payments SET currency = 'EUR' WHERE id = '{}'",
        p.id
    ))
    .await;
    assert_eq!(fake.deliver_callback(&p.id).await, 200);
    let report = app.run_jobs().await;
    assert_eq!(report.parked, 1);
    assert_eq!(balance(&app, &user).await, "0.00");
    let said = verdicts(&app, Some(&p.id)).await;
    assert!(
        said[0].starts_with("check refused: the gateway holds the invoice in USD, not EUR"),
        "{said:?}"
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(a_lost_callback_is_credited_by_the_next_check, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    for kind in KINDS {
        let fake = gateway(&app, kind).await;
        let user = buyer(&app, &format!("lost-{}@buyer.test", gateway_id(kind))).await;
        let p = start(&app, &user, kind, "15").await;
        if kind == FakeKind::NowPayments {
            // NOWPayments names its payment of an invoice only in its IPNs (finding it
            // from the invoice takes the dashboard's password): the first one, for the
            // coin the buyer chose, arrives; the rest are lost.
            fake.set_raw_status(&p.id, "waiting");
            assert_eq!(fake.deliver_callback(&p.id).await, 200);
            app.run_jobs().await;
        }
        fake.pay(&p.id, m("15"));
        // No callback comes.
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "0.00");
        app.clock.advance(31_000);
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "15.00", "{kind:?}");
        assert_eq!(rows_of(db, &p.id).await, (1, 0));
    }
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(a_payment_after_expiry_is_credited_and_flagged_late, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
    let kind = FakeKind::Cryptomus;
    let fake = gateway(&app, kind).await;
    let user = buyer(&app, "late@buyer.test").await;
    let p = start(&app, &user, kind, "12").await;
    // Nobody pays within the hour (and the hour of grace): the payment expires.
    for _ in 0..70 {
        app.clock.advance(2 * 60_000);
        app.run_jobs().await;
    }
    assert_eq!(payment(&app, &p.id).await.state, "expired");
    // The crypto arrives late: credited all the same, flagged.
    fake.pay(&p.id, m("12"));
    assert_eq!(fake.deliver_callback(&p.id).await, 200);
    app.run_jobs().await;
    let late = payment(&app, &p.id).await;
    assert_eq!((late.state.as_str(), late.late), ("paid", true));
    assert_eq!(balance(&app, &user).await, "12.00");
    assert!(
        late.note.contains("paid after the invoice expired"),
        "{}",
        late.note
    );
    db.assert_audit_clean().await;
    app.stop().await;
});

engine_test!(
    under_and_over_payments_follow_the_operator_s_setting,
    |db| {
        let app = TestApp::spawn_stepped(db, private_upstreams()).await;
        let kind = FakeKind::NowPayments;
        let fake = gateway(&app, kind).await;
        let user = buyer(&app, "under@buyer.test").await;

        // "credit": what arrived is credited, the state says it was partial.
        let under = start(&app, &user, kind, "100").await;
        fake.pay(&under.id, m("60"));
        fake.deliver_callback(&under.id).await;
        app.run_jobs().await;
        let p = payment(&app, &under.id).await;
        assert_eq!(
            (p.state.as_str(), p.credited),
            ("partially_paid", 60_000_000)
        );
        assert_eq!(balance(&app, &user).await, "60.00");

        // "hold": nothing is credited until the operator decides.
        set(&app, "payment_mismatch", "hold").await;
        let held = start(&app, &user, kind, "100").await;
        fake.pay(&held.id, m("80"));
        fake.deliver_callback(&held.id).await;
        app.run_jobs().await;
        let p = payment(&app, &held.id).await;
        assert_eq!((p.state.as_str(), p.credited), ("held", 0));
        assert_eq!(balance(&app, &user).await, "60.00");
        let decided = payments::decide(
            &app.store,
            &held.id,
            payments::Decision::Approve(None),
            "checked the wallet",
            app.clock.now_ms(),
        )
        .await
        .expect("approve");
        assert_eq!(decided.payment.state, "partially_paid");
        assert_eq!(balance(&app, &user).await, "140.00");
        // Decided once.
        assert!(payments::decide(
            &app.store,
            &held.id,
            payments::Decision::Reject,
            "",
            app.clock.now_ms()
        )
        .await
        .is_err());

        // An over-payment under "hold" is held too; under "credit" all of it is credited.
        let over = start(&app, &user, kind, "10").await;
        fake.pay(&over.id, m("15"));
        fake.deliver_callback(&over.id).await;
        app.run_jobs().await;
        assert_eq!(payment(&app, &over.id).await.state, "held");
        set(&app, "payment_mismatch", "credit").await;
        let over = start(&app, &user, kind, "10").await;
        fake.pay(&over.id, m("15"));
        fake.deliver_callback(&over.id).await;
        app.run_jobs().await;
        let p = payment(&app, &over.id).await;
        assert_eq!((p.state.as_str(), p.credited), ("paid", 15_000_000));
        assert_eq!(balance(&app, &user).await, "155.00");
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(
    a_node_killed_between_the_answer_and_the_credit_credits_once,
    |db| {
        let app = TestApp::spawn_stepped(db, private_upstreams()).await;
        let kind = FakeKind::Stripe;
        let fake = gateway(&app, kind).await;
        let user = buyer(&app, "crash@buyer.test").await;
        let p = start(&app, &user, kind, "33").await;
        fake.pay(&p.id, m("33"));

        // A node that asks the gateway, then dies before booking the answer.
        let node = ServerProcess::spawn_with_env(
            db,
            &[
                ("SOUK_PAUSE_AT", "payment.credit"),
                ("SOUK_ALLOW_PRIVATE_UPSTREAMS", "1"),
            ],
        )
        .await;
        let mut cb = fake.callback(&p.id);
        cb.url = format!(
            "{}/webhooks/payments/{}",
            node.api().trim_end_matches("/api/v2"),
            gateway_id(kind)
        );
        assert_eq!(fake.deliver(&cb).await, 200);
        wait_for(20, "the node to ask the gateway", || async {
            fake.state_requests() >= 1
        })
        .await;
        // It answered; whether the node got the answer before the kill or not, nothing was
        // booked, and the check's claim is the node's.
        node.kill_hard();
        assert_eq!(balance(&app, &user).await, "0.00");

        // Its claim holds until it runs out; then the check runs again and credits once.
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "0.00");
        app.clock.advance(6 * 60_000);
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "33.00");
        app.clock.advance(6 * 60_000);
        app.run_jobs().await;
        assert_eq!(balance(&app, &user).await, "33.00");
        assert_eq!(rows_of(db, &p.id).await, (1, 0));
        db.assert_audit_clean().await;
        app.stop().await;
    }
);

engine_test!(a_transfer_id_claimed_by_two_buyers_is_credited_once, |db| {
    let app = TestApp::spawn_stepped(db, private_upstreams()).await;
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
    let report = |user: String, tx: &'static str| {
        let store = app.store.clone();
        async move {
            payments::start(
                &store,
                false,
                StartPayment {
                    user_id: user,
                    gateway: "manual".into(),
                    amount: m("25"),
                    transfer_id: Some(tx.into()),
                    public_url: "https://shop.example".into(),
                    currency: "USD".into(),
                },
                now,
            )
            .await
        }
    };
    // Someone who read the payer's public transaction id claims it first: the payer can
    // still report it, and the operator credits one claim only.
    let thief = buyer(&app, "thief@buyer.test").await;
    let payer = buyer(&app, "payer@buyer.test").await;
    let stolen = report(thief.clone(), "0xabc").await.expect("claimed");
    let real = report(payer.clone(), "0xabc").await.expect("reported too");
    let again = report(payer.clone(), "0xabc").await;
    assert_eq!(
        again.map(|p| p.id).map_err(|e| e.to_string()),
        Err("This transaction id was already submitted".to_owned())
    );
    payments::decide(
        &app.store,
        &real.id,
        payments::Decision::Approve(None),
        "",
        now,
    )
    .await
    .expect("the payer's claim approved");
    let twice = payments::decide(
        &app.store,
        &stolen.id,
        payments::Decision::Approve(None),
        "",
        now,
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string());
    assert_eq!(
        twice,
        Err(format!(
            "Transaction id 0xabc was already credited with payment {}",
            real.id
        ))
    );
    payments::decide(
        &app.store,
        &stolen.id,
        payments::Decision::Reject,
        "not theirs",
        now,
    )
    .await
    .expect("the other claim rejected");
    assert_eq!(balance(&app, &payer).await, "25.00");
    assert_eq!(balance(&app, &thief).await, "0.00");
    db.assert_audit_clean().await;
    app.stop().await;
});
