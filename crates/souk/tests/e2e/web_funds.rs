//! Adding funds through the pages, over plain HTTP: the quote (fee, total, bonus) shown
//! before anything is made, a manual transfer that waits for the operator and is then
//! credited with its bonus, a Stripe payment through the fake gateway (pay page, signed
//! webhook, the check that credits it, the return page), every refused input creating
//! nothing, another buyer's payment being no page, and the Russian pages.

use reqwest::header::{CONTENT_SECURITY_POLICY, COOKIE, LOCATION};
use souk_app::payments::{self, Decision, GatewayPatch};
use souk_core::Money;
use souk_fakes::{FakeGateway, FakeKind};
use souk_store::PaymentRecord;

use crate::engine_test;
use crate::harness::TestApp;
use crate::web::{client, csrf_of, form, page, sign_up, user_of};

fn money(text: &str) -> Money {
    Money::parse(text).expect("an amount")
}

/// The manual transfer on, with a 2% fee, from 5.00 to 1000.00, and its instructions.
pub(crate) async fn enable_manual(app: &TestApp) {
    payments::configure(
        &app.store,
        "manual",
        GatewayPatch {
            enabled: Some(true),
            fee_percent: Some("2".into()),
            min_amount: Some(money("5")),
            max_amount: Some(money("1000")),
            instructions: Some("IBAN DE00 1234 5678, reference: your email".into()),
            ..GatewayPatch::default()
        },
        app.state.now(),
    )
    .await
    .expect("configure the manual transfer");
}

/// Stripe on, at the fake, with `fee` percent; the fake's webhooks go to `app`.
pub(crate) async fn enable_stripe(app: &TestApp, fake: &FakeGateway, fee: &str) {
    payments::configure(
        &app.store,
        "stripe",
        GatewayPatch {
            enabled: Some(true),
            base_url: Some(fake.base_url()),
            api_key: Some(fake.api_key()),
            secret: Some(fake.webhook_secret()),
            fee_percent: Some(fee.into()),
            ..GatewayPatch::default()
        },
        app.state.now(),
    )
    .await
    .expect("configure stripe");
    fake.set_webhook_url(&format!("{}/webhooks/payments/stripe", app.url));
}

async fn set_bonus(app: &TestApp, table: &str) {
    souk_app::settings::update(
        &app.store,
        vec![("deposit_bonus".into(), table.into())],
        app.state.now(),
    )
    .await
    .expect("the bonus table");
}

async fn all_payments(app: &TestApp) -> Vec<PaymentRecord> {
    app.store
        .payments(None, None, 1000)
        .await
        .expect("payments")
}

/// The text inside the element with `id` (up to its first tag).
fn text_of(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} in {html}"));
    let rest = &html[at..];
    let start = rest.find('>').expect("tag end") + 1;
    let end = rest[start..].find('<').expect("text end") + start;
    rest[start..end].trim().to_owned()
}

/// The `data-state` of `#payment-state`.
fn state_of(html: &str) -> String {
    let at = html.find("id=\"payment-state\"").expect("#payment-state");
    let tag = &html[html[..at].rfind('<').expect("tag")..];
    let tag = &tag[..tag.find('>').expect("tag end")];
    let v = &tag[tag.find("data-state=\"").expect("data-state") + 12..];
    v[..v.find('"').expect("quote")].to_owned()
}

/// The form's token on the signed-in buyer's funds page.
async fn funds_csrf(app: &TestApp, session: &str) -> String {
    let (status, html) = page(app, session, "/account/funds").await;
    assert_eq!(status, 200);
    csrf_of(&html)
}

/// `POST /account/funds`: (status, Location, body).
async fn post_funds(
    app: &TestApp,
    session: &str,
    fields: &[(&str, &str)],
) -> (u16, Option<String>, String) {
    let r = form(app, "/account/funds", session, fields).await;
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get(LOCATION)
        .map(|v| v.to_str().expect("location").to_owned());
    (status, location, r.text().await.expect("body"))
}

engine_test!(web_funds_quote_then_a_manual_transfer, |db| {
    let app = TestApp::builder(db).spawn().await;
    enable_manual(&app).await;
    set_bonus(&app, "100=5").await;
    let session = sign_up(&app, "funds@example.com").await;
    let (user, _) = user_of(&app, "funds@example.com").await;

    // The form: the method with its fee and limits, the operator's instructions.
    let (status, html) = page(&app, &session, "/account/funds").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"method-manual\""), "{html}");
    assert!(html.contains("fee 2% · 5.00 USD – 1000.00 USD"), "{html}");
    assert!(html.contains("IBAN DE00 1234 5678"));
    assert!(html.contains("id=\"transfer-id\""));
    assert!(!html.contains("id=\"quote\""));
    let csrf = csrf_of(&html);
    // The account page links here, next to the balance.
    let (_, account) = page(&app, &session, "/account").await;
    assert!(
        account.contains("id=\"add-funds\" href=\"/account/funds\"")
            || account.contains("href=\"/account/funds\" id=\"add-funds\""),
        "{account}"
    );

    // Without `confirm`: the quote, and nothing made.
    let (status, _, html) = post_funds(
        &app,
        &session,
        &[
            ("csrf", &csrf),
            ("amount", "200"),
            ("gateway", "manual"),
            ("transfer_id", " TX-2001 "),
        ],
    )
    .await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(text_of(&html, "quote-amount"), "200.00 USD");
    assert_eq!(text_of(&html, "quote-fee"), "4.00 USD");
    assert_eq!(text_of(&html, "quote-total"), "204.00 USD");
    assert_eq!(text_of(&html, "quote-bonus"), "+10.00 USD");
    assert_eq!(text_of(&html, "quote-transfer-id"), "TX-2001");
    assert_eq!(text_of(&html, "funds-confirm"), "Submit transfer");
    for hidden in [
        "name=\"confirm\" value=\"1\"",
        "name=\"gateway\" value=\"manual\"",
        "name=\"amount\" value=\"200.00\"",
        "name=\"transfer_id\" value=\"TX-2001\"",
    ] {
        assert!(html.contains(hidden), "{hidden} in {html}");
    }
    assert!(all_payments(&app).await.is_empty(), "a quote makes nothing");

    // Confirmed: the transfer's page, pending, nothing credited.
    let (status, location, _) = post_funds(
        &app,
        &session,
        &[
            ("csrf", &csrf),
            ("amount", "200.00"),
            ("gateway", "manual"),
            ("transfer_id", "TX-2001"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let made = all_payments(&app).await;
    assert_eq!(made.len(), 1);
    let p = &made[0];
    assert_eq!(
        (
            p.user_id.as_str(),
            p.state.as_str(),
            p.amount,
            p.fee,
            p.bonus
        ),
        (user.as_str(), "pending", 200_000_000, 4_000_000, 10_000_000)
    );
    assert_eq!(p.external_id.as_deref(), Some("TX-2001"));
    let path = format!("/account/payments/{}", p.id);
    assert_eq!(location.as_deref(), Some(path.as_str()));
    let (status, html) = page(&app, &session, &path).await;
    assert_eq!(status, 200);
    assert_eq!(state_of(&html), "pending");
    assert_eq!(text_of(&html, "payment-state"), "Waiting for confirmation");
    assert_eq!(text_of(&html, "payment-total"), "204.00 USD");
    assert_eq!(text_of(&html, "payment-bonus"), "+10.00 USD");
    assert_eq!(text_of(&html, "balance"), "0.00");
    assert!(
        html.contains("http-equiv=\"refresh\""),
        "a waiting page reloads"
    );
    assert!(!html.contains("id=\"payment-credited\""));
    assert!(
        !html.contains("id=\"pay-link\""),
        "a transfer has no pay page"
    );
    assert_eq!(
        app.store.balance(&user).await.expect("balance"),
        Money::ZERO
    );
    // The list names it.
    let (_, list) = page(&app, &session, "/account/payments").await;
    assert!(
        list.contains(&format!("id=\"payment-{}\" data-state=\"pending\"", p.id)),
        "{list}"
    );

    // The operator approves: credited with its bonus, the page says so and stops reloading.
    payments::decide(
        &app.store,
        &p.id,
        Decision::Approve(None),
        "arrived",
        app.state.now(),
    )
    .await
    .expect("approve");
    let (_, html) = page(&app, &session, &path).await;
    assert_eq!(state_of(&html), "paid");
    assert_eq!(text_of(&html, "payment-state"), "Paid");
    assert_eq!(text_of(&html, "payment-credited"), "200.00 USD");
    assert_eq!(text_of(&html, "payment-bonus-credited"), "+10.00 USD");
    assert_eq!(text_of(&html, "balance"), "210.00");
    assert!(!html.contains("http-equiv=\"refresh\""));
    // The ledger: the top-up and its bonus, each naming the payment.
    let (_, account) = page(&app, &session, "/account").await;
    assert_eq!(text_of(&account, "balance"), "210.00");
    assert!(account.contains("<td>deposit bonus</td>"), "{account}");
    assert!(account.contains("<td>top-up</td>"));
    assert_eq!(
        account.matches(&format!("href=\"{path}\"")).count(),
        2,
        "both rows link the payment"
    );

    // In Russian.
    let ru = format!("{session}; souk_ui=ru");
    let (_, html) = page(&app, &ru, &path).await;
    assert_eq!(text_of(&html, "payment-state"), "Оплачен");
    assert!(html.contains("Бонус за пополнение"));
    let (_, account) = page(&app, &ru, "/account").await;
    assert!(account.contains("<td>бонус за пополнение</td>"));
    assert!(account.contains("<td>пополнение</td>"));
    assert!(account.contains("Пополнить"));
    let (_, funds) = page(&app, &ru, "/account/funds").await;
    assert!(
        funds.contains("Пополнение баланса") && funds.contains("комиссия 2%"),
        "{funds}"
    );
    let (status, _, html) = post_funds(
        &app,
        &ru,
        &[
            ("csrf", &csrf),
            ("amount", "100,5"),
            ("gateway", "manual"),
            ("transfer_id", "TX-2002"),
        ],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(text_of(&html, "quote-total"), "102.51 USD");
    // 5% of 100.50 is 5.025: rounded down to the cent.
    assert_eq!(text_of(&html, "quote-bonus"), "+5.02 USD");
    assert_eq!(text_of(&html, "funds-confirm"), "Отправить перевод");
    assert!(html.contains("Итого к оплате"));
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_funds_refuses_bad_input_and_makes_nothing, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    enable_manual(&app).await;
    // Stripe set up but off.
    payments::configure(
        &app.store,
        "stripe",
        GatewayPatch {
            enabled: Some(false),
            api_key: Some("sk_test_x".into()),
            secret: Some("whsec_x".into()),
            ..GatewayPatch::default()
        },
        app.state.now(),
    )
    .await
    .expect("stripe off");
    let session = sign_up(&app, "refused@example.com").await;
    let csrf = funds_csrf(&app, &session).await;
    let (user, _) = user_of(&app, "refused@example.com").await;

    // One transfer on record, to be claimed again.
    let (status, _, _) = post_funds(
        &app,
        &session,
        &[
            ("csrf", &csrf),
            ("amount", "10"),
            ("gateway", "manual"),
            ("transfer_id", "TX-TAKEN"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let before = all_payments(&app).await.len();
    assert_eq!(before, 1);

    let cases: &[(&str, &str, &str, &str)] = &[
        (
            "",
            "manual",
            "TX-1",
            "The amount must be a positive number with at most two decimals.",
        ),
        (
            "-5",
            "manual",
            "TX-1",
            "The amount must be a positive number with at most two decimals.",
        ),
        (
            "0",
            "manual",
            "TX-1",
            "The amount must be a positive number with at most two decimals.",
        ),
        (
            "10.001",
            "manual",
            "TX-1",
            "The amount must be a positive number with at most two decimals.",
        ),
        (
            "ten",
            "manual",
            "TX-1",
            "The amount must be a positive number with at most two decimals.",
        ),
        (
            "4.99",
            "manual",
            "TX-1",
            "The amount must be at least 5.00.",
        ),
        (
            "1000.01",
            "manual",
            "TX-1",
            "The amount must be at most 1000.00.",
        ),
        ("10", "bogus", "", "Unknown payment method."),
        ("10", "cryptomus", "", "Unknown payment method."),
        ("10", "stripe", "", "This payment method is not available."),
        ("10", "", "", "Choose a payment method."),
        (
            "10",
            "manual",
            "",
            "Enter the transaction id of your transfer (up to 200 characters).",
        ),
        (
            "10",
            "manual",
            "   ",
            "Enter the transaction id of your transfer (up to 200 characters).",
        ),
        (
            "10",
            "manual",
            "TX-TAKEN",
            "This transaction id was already submitted.",
        ),
    ];
    let long_id = "x".repeat(201);
    let cases: Vec<(&str, &str, &str, &str)> = cases
        .iter()
        .copied()
        .chain([(
            "10",
            "manual",
            long_id.as_str(),
            "Enter the transaction id of your transfer (up to 200 characters).",
        )])
        .collect();
    for (amount, gateway, transfer_id, message) in &cases {
        for confirm in ["", "1"] {
            let (status, location, html) = post_funds(
                &app,
                &session,
                &[
                    ("csrf", &csrf),
                    ("amount", amount),
                    ("gateway", gateway),
                    ("transfer_id", transfer_id),
                    ("confirm", confirm),
                ],
            )
            .await;
            let case = format!("{amount:?} {gateway:?} {transfer_id:?} confirm={confirm:?}");
            assert_eq!((status, location), (422, None), "{case}");
            assert_eq!(text_of(&html, "notice"), *message, "{case}");
            assert!(html.contains("id=\"funds-form\""), "the form again: {case}");
            assert!(!html.contains("id=\"quote\""), "no quote: {case}");
            assert_eq!(
                all_payments(&app).await.len(),
                before,
                "nothing made: {case}"
            );
        }
    }
    // What was typed is kept.
    let (_, _, html) = post_funds(
        &app,
        &session,
        &[
            ("csrf", &csrf),
            ("amount", "4.99"),
            ("gateway", "manual"),
            ("transfer_id", "TX-9"),
        ],
    )
    .await;
    assert!(html.contains("value=\"4.99\"") && html.contains("value=\"TX-9\""));
    assert!(html.contains("value=\"manual\" checked"), "{html}");
    // In Russian.
    let ru = format!("{session}; souk_ui=ru");
    let (status, _, html) = post_funds(
        &app,
        &ru,
        &[
            ("csrf", &csrf),
            ("amount", "4.99"),
            ("gateway", "manual"),
            ("transfer_id", "TX-9"),
        ],
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(
        text_of(&html, "notice"),
        "Сумма должна быть не меньше 5.00."
    );
    let (_, _, html) = post_funds(
        &app,
        &ru,
        &[
            ("csrf", &csrf),
            ("amount", "10"),
            ("gateway", "manual"),
            ("transfer_id", "TX-TAKEN"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!(
        text_of(&html, "notice"),
        "Этот номер транзакции уже был отправлен."
    );

    // No token, or another one: refused before anything.
    for token in [None, Some("0".repeat(64))] {
        let mut fields = vec![
            ("amount", "10".to_owned()),
            ("gateway", "manual".to_owned()),
            ("transfer_id", "TX-CSRF".to_owned()),
            ("confirm", "1".to_owned()),
        ];
        if let Some(t) = &token {
            fields.push(("csrf", t.clone()));
        }
        let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, _, _) = post_funds(&app, &session, &fields).await;
        assert_eq!(status, 403);
    }
    assert_eq!(all_payments(&app).await.len(), before);
    // Signed out: to sign in.
    let (status, location, _) = post_funds(
        &app,
        "",
        &[
            ("csrf", &csrf),
            ("amount", "10"),
            ("gateway", "manual"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    assert!(location.expect("location").starts_with("/signin"));

    // A gateway that cannot be reached: said so, the form again, nothing charged. The
    // core records a payment before asking the gateway (so none exists at a gateway
    // unknown here): it is left failed, with no credit and nothing to check.
    payments::configure(
        &app.store,
        "stripe",
        GatewayPatch {
            enabled: Some(true),
            base_url: Some("http://127.0.0.1:9".into()),
            ..GatewayPatch::default()
        },
        app.state.now(),
    )
    .await
    .expect("stripe at a closed port");
    let (status, _, html) = post_funds(
        &app,
        &session,
        &[("csrf", &csrf), ("amount", "10"), ("gateway", "stripe")],
    )
    .await;
    assert_eq!(status, 200, "the quote needs no gateway");
    assert_eq!(text_of(&html, "quote-total"), "10.00 USD");
    let (status, location, html) = post_funds(
        &app,
        &session,
        &[
            ("csrf", &csrf),
            ("amount", "10"),
            ("gateway", "stripe"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!((status, location), (422, None));
    assert_eq!(
        text_of(&html, "notice"),
        "The payment gateway could not be reached; nothing was charged. Try again later."
    );
    assert!(html.contains("id=\"funds-form\""));
    let after = all_payments(&app).await;
    let open: Vec<_> = after
        .iter()
        .filter(|p| p.gateway == "stripe" && p.state != "failed")
        .collect();
    assert!(open.is_empty(), "{open:?}");
    assert!(after.iter().all(|p| p.credited == 0));
    assert_eq!(
        app.store.balance(&user).await.expect("balance"),
        Money::ZERO
    );
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_funds_payment_page_is_the_buyers_own, |db| {
    let app = TestApp::builder(db).spawn().await;
    let owner = sign_up(&app, "owner@example.com").await;
    let other = sign_up(&app, "other@example.com").await;

    // No method on: said so, no form.
    let (status, html) = page(&app, &owner, "/account/funds").await;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"no-methods\""));
    assert!(!html.contains("id=\"funds-form\""));
    let (_, html) = page(&app, &format!("{owner}; souk_ui=ru"), "/account/funds").await;
    assert!(html.contains("не включён ни один способ оплаты"), "{html}");
    let (_, html) = page(&app, &owner, "/account/payments").await;
    assert!(html.contains("id=\"no-payments\""));

    enable_manual(&app).await;
    let csrf = funds_csrf(&app, &owner).await;
    let (status, location, _) = post_funds(
        &app,
        &owner,
        &[
            ("csrf", &csrf),
            ("amount", "10"),
            ("gateway", "manual"),
            ("transfer_id", "TX-OWN"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let path = location.expect("location");
    assert_eq!(page(&app, &owner, &path).await.0, 200);
    // Someone else's payment, or none at all: the site's 404 page.
    for (who, path) in [
        (&other, path.clone()),
        (&owner, "/account/payments/nosuchpayment".to_owned()),
        (&owner, "/account/payments/%00".to_owned()),
    ] {
        let (status, html) = page(&app, who, &path).await;
        assert_eq!(status, 404, "{path}");
        assert!(html.contains("There is no such page."), "{path}");
        assert!(!html.contains("TX-OWN"));
    }
    let (_, html) = page(&app, &other, "/account/payments").await;
    assert!(
        html.contains("id=\"no-payments\""),
        "another buyer's list is empty"
    );
    // Signed out: to sign in and back.
    let r = client()
        .get(format!("{}{path}", app.url))
        .send()
        .await
        .expect("signed out");
    assert_eq!(r.status(), 303);
    assert!(r.headers()[LOCATION]
        .to_str()
        .expect("location")
        .starts_with("/signin?next=%2Faccount%2Fpayments%2F"));
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(web_funds_stripe_pay_page_and_back, |db| {
    let app = TestApp::builder(db).private_upstreams().spawn().await;
    let fake = FakeGateway::start(FakeKind::Stripe).await;
    enable_stripe(&app, &fake, "3").await;
    set_bonus(&app, "20=10").await;
    let session = sign_up(&app, "card@example.com").await;
    let (user, _) = user_of(&app, "card@example.com").await;
    let csrf = funds_csrf(&app, &session).await;

    // The quote, its page letting the confirmation be answered with the pay page.
    let r = form(
        &app,
        "/account/funds",
        &session,
        &[("csrf", &csrf), ("amount", "25"), ("gateway", "stripe")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp")
        .to_owned();
    assert!(
        csp.contains(&format!("form-action 'self' https: {};", fake.base_url())),
        "{csp}"
    );
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = r.text().await.expect("body");
    assert_eq!(text_of(&html, "quote-fee"), "0.75 USD");
    assert_eq!(text_of(&html, "quote-total"), "25.75 USD");
    assert_eq!(text_of(&html, "quote-bonus"), "+2.50 USD");
    assert_eq!(text_of(&html, "funds-confirm"), "Pay 25.75 USD");
    assert_eq!(fake.invoices_created(), 0);
    // Other pages keep the site's policy.
    let r = client()
        .get(format!("{}/account/funds", app.url))
        .header(COOKIE, &session)
        .send()
        .await
        .expect("funds page");
    assert!(r.headers()[CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("csp")
        .contains("form-action 'self';"));

    // Confirmed: to the gateway's pay page.
    let (status, location, _) = post_funds(
        &app,
        &session,
        &[
            ("csrf", &csrf),
            ("amount", "25.00"),
            ("gateway", "stripe"),
            ("confirm", "1"),
        ],
    )
    .await;
    assert_eq!(status, 303);
    let made = all_payments(&app).await;
    assert_eq!(made.len(), 1);
    let p = &made[0];
    assert_eq!(p.state, "pending");
    let invoice = fake.invoice(&p.id).expect("the fake's invoice");
    assert_eq!(location.as_deref(), Some(invoice.pay_url.as_str()));
    assert_eq!(invoice.amount, money("25.75"));
    let path = format!("/account/payments/{}", p.id);
    assert_eq!(invoice.return_url, format!("{}{path}", app.url));

    // Back before paying: waiting, reloading every 3 s, with the way to pay.
    let (_, html) = page(&app, &session, &path).await;
    assert_eq!(state_of(&html), "pending");
    assert_eq!(text_of(&html, "payment-state"), "Waiting for the payment");
    assert!(
        html.contains("<meta http-equiv=\"refresh\" content=\"3\">"),
        "{html}"
    );
    assert!(
        html.contains(&format!("id=\"pay-link\" href=\"{}\"", invoice.pay_url))
            || html.contains(&format!("href=\"{}\" id=\"pay-link\"", invoice.pay_url)),
        "{html}"
    );

    // Paid on the fake's page: it sends the signed webhook and the buyer back.
    let pay = client().post(&invoice.pay_url).send().await.expect("pay");
    assert_eq!(pay.status(), 303);
    assert_eq!(
        pay.headers()[LOCATION].to_str().expect("location"),
        format!("{}{path}", app.url)
    );
    // The webhook only wakes the check; the check asks the gateway and credits.
    let (_, html) = page(&app, &session, &path).await;
    assert_eq!(state_of(&html), "pending", "nothing before the check");
    app.run_jobs().await;
    let (_, html) = page(&app, &session, &path).await;
    assert_eq!(state_of(&html), "paid", "{html}");
    assert_eq!(text_of(&html, "payment-credited"), "25.00 USD");
    assert_eq!(text_of(&html, "payment-bonus-credited"), "+2.50 USD");
    assert_eq!(text_of(&html, "balance"), "27.50");
    assert!(!html.contains("id=\"pay-link\""));
    assert!(!html.contains("http-equiv=\"refresh\""));
    assert_eq!(
        app.store.balance(&user).await.expect("balance"),
        money("27.50")
    );
    let (_, list) = page(&app, &session, "/account/payments").await;
    assert!(list.contains(&format!("id=\"payment-{}\" data-state=\"paid\"", p.id)));
    assert!(list.contains("Card (Stripe)"));
    app.stop().await;
    db.assert_audit_clean().await;
});
