//! The operator's side of top-ups: gateways set up through the operator API (keys sealed,
//! never answered), manual transfers approved once or rejected, re-checks, the events
//! record, and the same work through `souk admin payment|gateway`. Bad input on every
//! route is refused with a clear message and changes nothing.

use std::process::Command;

use reqwest::Method;
use serde_json::{json, Value};
use souk_app::payments::{self, StartPayment};
use souk_core::Money;
use souk_store::Store;

use crate::engine_test;
use crate::harness::{assert_keys, TestApp, TestDb};

const PAYMENT_KEYS: &[&str] = &[
    "id",
    "user",
    "gateway",
    "state",
    "amount",
    "fee",
    "total",
    "bonus",
    "received",
    "credited",
    "bonus_credited",
    "currency",
    "external_id",
    "remote_status",
    "late",
    "note",
    "pay_url",
    "created_at",
    "updated_at",
    "settled_at",
    "expires_at",
];

const STATES: &str = "created, pending, held, paid, partially_paid, expired, failed";

/// A buyer's manual transfer of `amount`, reported with transaction id `transfer`.
async fn transfer(store: &Store, user_id: &str, amount: &str, transfer: &str, now: i64) -> String {
    payments::start(
        store,
        false,
        StartPayment {
            user_id: user_id.to_owned(),
            gateway: payments::MANUAL.to_owned(),
            amount: Money::parse(amount).expect("amount"),
            transfer_id: Some(transfer.to_owned()),
            public_url: "http://shop.test".into(),
            currency: "USD".into(),
        },
        now,
    )
    .await
    .expect("start the transfer")
    .id
}

/// Sends `body` and asserts the answer is `status` with exactly `error`.
async fn refused(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
    error: &str,
) {
    let (got, answer) = app.operator(method.clone(), path, body.clone()).await;
    assert_eq!(
        (got, answer.clone()),
        (status, json!({ "error": error })),
        "{method} {path} {body:?}"
    );
}

async fn deposits(db: &TestDb, payment: &str) -> i64 {
    db.scalar(&format!(
        "SELECT COUNT(*) FROM ledger WHERE kind = 'deposit' AND payment_id = '{payment}'"
    ))
    .await
}

/// The sealed bytes stored for a gateway's key.
async fn stored_key(db: &TestDb, gateway: &str, column: &str) -> Vec<u8> {
    use sqlx::Connection;
    let sql = format!("SELECT {column} FROM payment_gateways WHERE id = '{gateway}'");
    match db.kind {
        crate::harness::Kind::Sqlite => {
            let mut c = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query_scalar(&sql)
                .fetch_one(&mut c)
                .await
                .expect("key")
        }
        crate::harness::Kind::Postgres => {
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query_scalar(&sql)
                .fetch_one(&mut c)
                .await
                .expect("key")
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

engine_test!(payments_operator_gateways, |db| {
    let app = TestApp::spawn_stepped(db, crate::harness::quiet_config()).await;
    let (status, list) = app.operator(Method::GET, "/gateways", None).await;
    assert_eq!((status, list), (200, json!({ "gateways": [] })));

    // The manual transfer: no keys, instructions for the buyer.
    let (status, manual) = app
        .operator(
            Method::PUT,
            "/gateways/manual",
            Some(json!({
                "enabled": true,
                "instructions": "IBAN DE00 1234 5678, reference: your email",
                "min_amount": "5.00",
                "max_amount": "500",
                "fee_percent": "0",
            })),
        )
        .await;
    assert_eq!(status, 200, "{manual}");
    assert_eq!(
        manual,
        json!({
            "id": "manual",
            "enabled": true,
            "title": "Bank transfer",
            "base_url": "",
            "merchant": "",
            "has_api_key": false,
            "has_secret": false,
            "min_amount": "5.00",
            "max_amount": "500.00",
            "fee_percent": "0",
            "instructions": "IBAN DE00 1234 5678, reference: your email",
            "updated_at": manual["updated_at"],
        })
    );

    // A crypto gateway with its keys: sealed, never answered.
    let api_key = "ck_live_SECRET_0123456789";
    let secret = "whsec_SIGNING_abcdef";
    let (status, crypto) = app
        .operator(
            Method::PUT,
            "/gateways/cryptomus",
            Some(json!({
                "enabled": true,
                "merchant": "m-8842",
                "api_key": api_key,
                "secret": secret,
                "base_url": "http://127.0.0.1:9/",
                "fee_percent": "2.5",
            })),
        )
        .await;
    assert_eq!(status, 200, "{crypto}");
    assert_eq!(crypto["has_api_key"], true);
    assert_eq!(crypto["has_secret"], true);
    assert_eq!(crypto["fee_percent"], "2.5");
    assert_eq!(crypto["base_url"], "http://127.0.0.1:9");
    assert_eq!(crypto["min_amount"], "1.00");
    assert_eq!(crypto["max_amount"], "10000.00");
    let text = crypto.to_string();
    assert!(!text.contains(api_key) && !text.contains(secret), "{text}");
    let (status, list) = app.operator(Method::GET, "/gateways", None).await;
    assert_eq!(status, 200);
    let text = list.to_string();
    assert!(!text.contains(api_key) && !text.contains(secret), "{text}");
    let ids: Vec<&str> = list["gateways"]
        .as_array()
        .expect("gateways")
        .iter()
        .map(|g| g["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, ["cryptomus", "manual"]);
    for g in list["gateways"].as_array().expect("gateways") {
        assert_keys(
            g,
            &[
                "id",
                "enabled",
                "title",
                "base_url",
                "merchant",
                "has_api_key",
                "has_secret",
                "min_amount",
                "max_amount",
                "fee_percent",
                "instructions",
                "updated_at",
            ],
        );
    }
    let sealed = stored_key(db, "cryptomus", "api_key_enc").await;
    assert!(!sealed.is_empty() && !contains(&sealed, api_key.as_bytes()));
    let sealed = stored_key(db, "cryptomus", "secret_enc").await;
    assert!(!contains(&sealed, secret.as_bytes()));
    let opened = app.store.gateway_secrets("cryptomus").await.expect("open");
    assert_eq!(
        (opened.api_key.as_str(), opened.secret.as_str()),
        (api_key, secret)
    );

    // A change that leaves the keys out keeps them.
    let (status, changed) = app
        .operator(
            Method::PUT,
            "/gateways/cryptomus",
            Some(json!({ "title": "Crypto (USDT, BTC)" })),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["title"], "Crypto (USDT, BTC)");
    assert_eq!(
        (changed["has_api_key"].clone(), changed["enabled"].clone()),
        (json!(true), json!(true))
    );
    let opened = app.store.gateway_secrets("cryptomus").await.expect("open");
    assert_eq!(opened.api_key, api_key);

    // Bad input: refused with a clear message, nothing changed.
    let (_, before) = app.operator(Method::GET, "/gateways", None).await;
    let bad: Vec<(&str, Value, &str)> = vec![
        (
            "/gateways/paypal",
            json!({ "enabled": true }),
            "Unknown gateway \"paypal\": one of cryptomus, nowpayments, stripe, manual",
        ),
        (
            "/gateways/manual",
            json!({ "min_amount": "50.00", "max_amount": "10.00" }),
            "max_amount must not be below min_amount",
        ),
        (
            "/gateways/manual",
            json!({ "max_amount": "1.00" }),
            "max_amount must not be below min_amount",
        ),
        (
            "/gateways/manual",
            json!({ "fee_percent": "101" }),
            "fee_percent must be a percentage from 0 to 100 with up to 2 decimals",
        ),
        (
            "/gateways/manual",
            json!({ "fee_percent": "-1" }),
            "fee_percent must be a percentage from 0 to 100 with up to 2 decimals",
        ),
        (
            "/gateways/manual",
            json!({ "min_amount": "0" }),
            "min_amount must be a positive amount with at most two decimals",
        ),
        (
            "/gateways/manual",
            json!({ "min_amount": "-5.00" }),
            "min_amount must be a positive amount with at most two decimals",
        ),
        (
            "/gateways/manual",
            json!({ "max_amount": "10.005" }),
            "max_amount must be a positive amount with at most two decimals",
        ),
        (
            "/gateways/manual",
            json!({ "min_amount": "five" }),
            "min_amount must be a positive amount with at most two decimals",
        ),
        (
            "/gateways/stripe",
            json!({ "enabled": true, "api_key": "sk_test_123" }),
            "stripe cannot be enabled without its secret",
        ),
        (
            "/gateways/nowpayments",
            json!({ "enabled": true }),
            "nowpayments cannot be enabled without its api_key",
        ),
        (
            "/gateways/cryptomus",
            json!({ "merchant": "", "enabled": true }),
            "cryptomus cannot be enabled without its merchant",
        ),
        (
            "/gateways/cryptomus",
            json!({ "api_key": "has spaces in it" }),
            "api_key must be 1 to 500 characters without spaces",
        ),
        (
            "/gateways/cryptomus",
            json!({ "base_url": "ftp://example.com" }),
            "base_url must start with https:// or http://",
        ),
        (
            "/gateways/manual",
            json!({ "title": "x".repeat(101) }),
            "title must be text of at most 100 characters",
        ),
        (
            "/gateways/manual",
            json!({ "apiKey": "k" }),
            "Invalid JSON body: unknown field `apiKey`, expected one of `enabled`, `title`, `base_url`, `merchant`, `api_key`, `secret`, `min_amount`, `max_amount`, `fee_percent`, `instructions`",
        ),
        (
            "/gateways/manual",
            json!({ "enabled": "yes" }),
            "Invalid JSON body: invalid type: string \"yes\", expected a boolean",
        ),
        (
            "/gateways/manual",
            json!({ "min_amount": 5 }),
            "Invalid JSON body: invalid type: integer `5`, expected a string",
        ),
        (
            "/gateways/manual",
            json!("enabled"),
            "Invalid JSON body: invalid type: string \"enabled\", expected struct GatewayBody",
        ),
    ];
    for (path, body, error) in bad {
        refused(&app, Method::PUT, path, Some(body), 400, error).await;
    }
    let (_, after) = app.operator(Method::GET, "/gateways", None).await;
    assert_eq!(
        before, after,
        "refused changes left the gateways as they were"
    );

    // The key check: the manual transfer needs none; a gateway not set up is not found;
    // one that cannot be reached says why.
    let (status, said) = app
        .operator(Method::POST, "/gateways/manual/check", None)
        .await;
    assert_eq!(
        (status, said),
        (
            200,
            json!({ "ok": true, "said": "manual transfers need no keys" })
        )
    );
    refused(
        &app,
        Method::POST,
        "/gateways/stripe/check",
        None,
        404,
        "Gateway not found",
    )
    .await;
    refused(
        &app,
        Method::POST,
        "/gateways/paypal/check",
        None,
        404,
        "Gateway not found",
    )
    .await;
    let (status, said) = app
        .operator(Method::POST, "/gateways/cryptomus/check", None)
        .await;
    assert_eq!(status, 409, "{said}");
    let error = said["error"].as_str().expect("error");
    assert!(
        error.starts_with("The keys of cryptomus could not be confirmed: "),
        "{error}"
    );
    assert!(
        !error.contains(api_key) && !error.contains(secret),
        "{error}"
    );
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(payments_operator_manual_transfers, |db| {
    let app = TestApp::spawn_stepped(db, crate::harness::quiet_config()).await;
    let (status, _) = app
        .operator(
            Method::PUT,
            "/gateways/manual",
            Some(json!({ "enabled": true, "min_amount": "5.00" })),
        )
        .await;
    assert_eq!(status, 200);
    app.buyer("ann@test.local", "3.00").await;
    let ann = app.user_id("ann@test.local").await;
    app.buyer("bob@test.local", "0").await;
    let bob = app.user_id("bob@test.local").await;
    let now = app.state.now();
    let approved = transfer(&app.store, &ann, "25.00", "TX-1001", now).await;
    app.clock.advance(1_000);
    let rejected = transfer(&app.store, &ann, "10.00", "TX-1002", app.state.now()).await;
    app.clock.advance(1_000);
    let partial = transfer(&app.store, &bob, "20.00", "TX-2001", app.state.now()).await;

    // Listed newest first, filtered by state and user.
    let (status, list) = app
        .operator(Method::GET, "/payments?state=pending", None)
        .await;
    assert_eq!(status, 200, "{list}");
    let ids: Vec<&str> = list["payments"]
        .as_array()
        .expect("payments")
        .iter()
        .map(|p| p["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [partial.as_str(), rejected.as_str(), approved.as_str()]
    );
    for p in list["payments"].as_array().expect("payments") {
        assert_keys(p, PAYMENT_KEYS);
    }
    let (_, list) = app
        .operator(Method::GET, "/payments?user=ann@test.local&limit=1", None)
        .await;
    assert_eq!(list["payments"].as_array().expect("payments").len(), 1);
    assert_eq!(list["payments"][0]["id"], rejected);
    let (_, list) = app
        .operator(Method::GET, &format!("/payments?user={bob}"), None)
        .await;
    assert_eq!(list["payments"][0]["id"], partial);
    assert_eq!(list["payments"].as_array().expect("payments").len(), 1);

    // One payment, with its record.
    let (status, shown) = app
        .operator(Method::GET, &format!("/payments/{approved}"), None)
        .await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(
        shown["user"],
        json!({ "id": ann, "email": "ann@test.local" })
    );
    assert_eq!(
        (
            shown["gateway"].clone(),
            shown["state"].clone(),
            shown["amount"].clone(),
            shown["fee"].clone(),
            shown["total"].clone(),
            shown["credited"].clone(),
            shown["external_id"].clone(),
            shown["received"].clone(),
            shown["settled_at"].clone(),
        ),
        (
            json!("manual"),
            json!("pending"),
            json!("25.00"),
            json!("0.00"),
            json!("25.00"),
            json!("0.00"),
            json!("TX-1001"),
            Value::Null,
            Value::Null,
        )
    );
    let events = shown["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{shown}");
    assert_eq!(events[0]["source"], "buyer");
    assert_eq!(
        events[0]["verdict"],
        "created: 25.00 + fee 0.00 = 25.00 USD"
    );
    assert_eq!(events[0]["detail"], "TX-1001");

    // Bad input on every payment route: refused, nothing changed.
    let unknown = souk_core::id::new_entity_id();
    let balance_before = app.store.balance(&ann).await.expect("balance");
    for (method, path, body, status, error) in [
        (
            Method::GET,
            "/payments?state=bogus".to_owned(),
            None,
            400,
            format!("state must be one of {STATES}"),
        ),
        (
            Method::GET,
            "/payments?limit=0".to_owned(),
            None,
            400,
            "limit must be a whole number from 1 to 1000".to_owned(),
        ),
        (
            Method::GET,
            "/payments?limit=abc".to_owned(),
            None,
            400,
            "limit must be a whole number from 1 to 1000".to_owned(),
        ),
        (
            Method::GET,
            "/payments?user=nobody@test.local".to_owned(),
            None,
            404,
            "User not found".to_owned(),
        ),
        (
            Method::GET,
            format!("/payments?user={unknown}"),
            None,
            404,
            "User not found".to_owned(),
        ),
        (
            Method::GET,
            "/payment-events?limit=1001".to_owned(),
            None,
            400,
            "limit must be a whole number from 1 to 1000".to_owned(),
        ),
        (
            Method::GET,
            format!("/payments/{unknown}"),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::GET,
            "/payments/not-an-id".to_owned(),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{unknown}/check"),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            "/payments/x'--/check".to_owned(),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/check"),
            None,
            409,
            "A manual transfer has no gateway to ask: approve or reject it".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{unknown}/approve"),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            "/payments/nope/approve".to_owned(),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{unknown}/reject"),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            "/payments/nope/reject".to_owned(),
            None,
            404,
            "Payment not found".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "amount": "-5.00" })),
            400,
            "amount must be a positive amount with at most two decimals".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "amount": "0" })),
            400,
            "amount must be a positive amount with at most two decimals".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "amount": "12.505" })),
            400,
            "amount must be a positive amount with at most two decimals".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "amount": "lots" })),
            400,
            "amount must be a positive amount with at most two decimals".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "amount": 12.5 })),
            400,
            "Invalid JSON body: invalid type: floating point `12.5`, expected a string".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "amout": "12.50" })),
            400,
            "Invalid JSON body: unknown field `amout`, expected `amount` or `note`".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/approve"),
            Some(json!({ "note": 7 })),
            400,
            "Invalid JSON body: invalid type: integer `7`, expected a string".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/reject"),
            Some(json!({ "amount": "1.00" })),
            400,
            "Invalid JSON body: unknown field `amount`, expected `note`".to_owned(),
        ),
        (
            Method::POST,
            format!("/payments/{approved}/reject"),
            Some(json!({ "note": ["a"] })),
            400,
            "Invalid JSON body: invalid type: sequence, expected a string".to_owned(),
        ),
    ] {
        refused(&app, method, &path, body, status, &error).await;
    }
    let (_, still) = app
        .operator(Method::GET, &format!("/payments/{approved}"), None)
        .await;
    assert_eq!(still, shown, "refused requests changed nothing");
    assert_eq!(
        app.store.balance(&ann).await.expect("balance"),
        balance_before
    );

    // Approved: credited once, one deposit row naming the payment.
    let (status, done) = app
        .operator(
            Method::POST,
            &format!("/payments/{approved}/approve"),
            Some(json!({ "note": "seen on the statement" })),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        done["settlement"],
        json!({ "outcome": "credit", "verdict": "credited 25.00: approved by the operator: seen on the statement" })
    );
    let p = &done["payment"];
    assert_eq!(
        (
            p["state"].clone(),
            p["credited"].clone(),
            p["received"].clone(),
            p["note"].clone()
        ),
        (
            json!("paid"),
            json!("25.00"),
            json!("25.00"),
            json!("approved by the operator: seen on the statement")
        )
    );
    assert!(p["settled_at"].is_string(), "{p}");
    assert_eq!(p["events"][0]["source"], "operator");
    assert_eq!(p["events"][0]["detail"], "seen on the statement");
    assert_eq!(
        app.store.balance(&ann).await.expect("balance"),
        Money::parse("28.00").expect("amount")
    );
    assert_eq!(deposits(db, &approved).await, 1);
    let what = db
        .scalar(&format!(
            "SELECT COUNT(*) FROM ledger WHERE payment_id = '{approved}' AND user_id = '{ann}' \
             AND amount = 25000000"
        ))
        .await;
    assert_eq!(what, 1);

    // Deciding it again: 409, nothing more credited.
    let again = "Only a held payment or a pending manual transfer can be decided; this one is paid";
    refused(
        &app,
        Method::POST,
        &format!("/payments/{approved}/approve"),
        None,
        409,
        again,
    )
    .await;
    refused(
        &app,
        Method::POST,
        &format!("/payments/{approved}/reject"),
        None,
        409,
        again,
    )
    .await;
    assert_eq!(deposits(db, &approved).await, 1);
    assert_eq!(
        app.store.balance(&ann).await.expect("balance"),
        Money::parse("28.00").expect("amount")
    );

    // Rejected: nothing credited, the payment failed.
    let (status, done) = app
        .operator(
            Method::POST,
            &format!("/payments/{rejected}/reject"),
            Some(json!({ "note": "no such transfer arrived" })),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["settlement"]["outcome"], "close");
    assert_eq!(
        (
            done["payment"]["state"].clone(),
            done["payment"]["credited"].clone()
        ),
        (json!("failed"), json!("0.00"))
    );
    assert_eq!(deposits(db, &rejected).await, 0);
    assert_eq!(
        app.store.balance(&ann).await.expect("balance"),
        Money::parse("28.00").expect("amount")
    );
    refused(
        &app,
        Method::POST,
        &format!("/payments/{rejected}/approve"),
        None,
        409,
        "Only a held payment or a pending manual transfer can be decided; this one is failed",
    )
    .await;

    // Approved for less than reported (an empty body is fine too): partially paid.
    let (status, done) = app
        .operator(
            Method::POST,
            &format!("/payments/{partial}/approve"),
            Some(json!({ "amount": "12.50" })),
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert_eq!(
        (
            done["payment"]["state"].clone(),
            done["payment"]["credited"].clone()
        ),
        (json!("partially_paid"), json!("12.50"))
    );
    assert_eq!(
        app.store.balance(&bob).await.expect("balance"),
        Money::parse("12.50").expect("amount")
    );

    // The record of all gateways, newest first.
    let (status, events) = app
        .operator(Method::GET, "/payment-events?limit=2", None)
        .await;
    assert_eq!(status, 200, "{events}");
    let events = events["events"].as_array().expect("events");
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["payment_id"], partial);
    assert_eq!(
        events[0]["verdict"],
        "credited 12.50: approved by the operator"
    );
    assert_eq!(events[1]["payment_id"], rejected);
    assert_eq!(
        events[1]["verdict"],
        "failed: rejected by the operator: no such transfer arrived"
    );
    let (_, paid) = app
        .operator(Method::GET, "/payments?state=paid", None)
        .await;
    assert_eq!(paid["payments"].as_array().expect("payments").len(), 1);
    assert_eq!(paid["payments"][0]["id"], approved);
    app.stop().await;
    db.assert_audit_clean().await;
});

engine_test!(payments_operator_gateway_checks, |db| {
    let app = TestApp::spawn_stepped(db, crate::harness::quiet_config()).await;
    let (status, _) = app
        .operator(
            Method::PUT,
            "/gateways/cryptomus",
            Some(json!({
                "enabled": true,
                "merchant": "m-1",
                "api_key": "ck_1",
                "secret": "whsec_1",
                // Nothing answers there (and loopback is refused): every call fails.
                "base_url": "http://127.0.0.1:9",
            })),
        )
        .await;
    assert_eq!(status, 200);
    app.buyer("cy@test.local", "0").await;
    let cy = app.user_id("cy@test.local").await;
    // The invoice cannot be made: the payment fails at once, nothing was paid.
    let started = payments::start(
        &app.store,
        false,
        StartPayment {
            user_id: cy.clone(),
            gateway: "cryptomus".into(),
            amount: Money::parse("30.00").expect("amount"),
            transfer_id: None,
            public_url: "http://shop.test".into(),
            currency: "USD".into(),
        },
        app.state.now(),
    )
    .await;
    assert!(started.is_err(), "{started:?}");
    let (_, failed) = app
        .operator(Method::GET, "/payments?state=failed", None)
        .await;
    let id = failed["payments"][0]["id"].as_str().expect("id").to_owned();
    // A settled payment needs no more asking.
    let (status, checked) = app
        .operator(Method::POST, &format!("/payments/{id}/check"), None)
        .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["check"]["outcome"], "done");
    assert_eq!(checked["payment"]["state"], "failed");

    // As if its invoice had been made: the check asks the gateway, which cannot be
    // reached; the payment stays pending and the answer says why.
    db.exec(&format!(
        "UPDATE payments SET state = 'pending', external_id = 'inv-77', note = '', settled_at = NULL \
         WHERE id = '{id}'"
    ))
    .await;
    let (status, checked) = app
        .operator(Method::POST, &format!("/payments/{id}/check"), None)
        .await;
    assert_eq!(status, 200, "{checked}");
    assert_eq!(checked["check"]["outcome"], "retry", "{checked}");
    let message = checked["check"]["message"].as_str().expect("message");
    assert!(
        message.starts_with("the gateway could not be asked: asking cryptomus: "),
        "{message}"
    );
    assert_eq!(checked["payment"]["state"], "pending");
    assert_eq!(checked["payment"]["credited"], "0.00");
    let verdict = checked["payment"]["events"][0]["verdict"]
        .as_str()
        .expect("verdict");
    assert_eq!(verdict, format!("re-check asked: {message}"));
    assert_eq!(checked["payment"]["events"][0]["source"], "operator");
    // A pending gateway payment is not the operator's to approve.
    refused(
        &app,
        Method::POST,
        &format!("/payments/{id}/approve"),
        None,
        409,
        "Only a held payment or a pending manual transfer can be decided; this one is pending",
    )
    .await;

    // A callback with no valid signature is refused and shows in the events, with no
    // payment named.
    let response = app
        .http
        .post(format!("{}/webhooks/payments/cryptomus", app.url))
        .header("content-type", "application/json")
        .body(r#"{"order_id":"forged","status":"paid"}"#)
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 401);
    let (status, events) = app.operator(Method::GET, "/payment-events", None).await;
    assert_eq!(status, 200);
    let newest = &events["events"][0];
    assert_eq!(
        (
            newest["gateway"].clone(),
            newest["source"].clone(),
            newest["payment_id"].clone()
        ),
        (json!("cryptomus"), json!("callback"), Value::Null)
    );
    assert!(
        newest["verdict"]
            .as_str()
            .expect("verdict")
            .starts_with("refused: "),
        "{newest}"
    );
    assert_eq!(newest["detail"], r#"{"order_id":"forged","status":"paid"}"#);
    assert_eq!(deposits(db, &id).await, 0);
    app.stop().await;
    db.assert_audit_clean().await;
});

/// Runs `souk` with `env` on top of the database and data key.
fn souk(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let dir = tempfile::tempdir().expect("dir");
    let out = Command::new(env!("CARGO_BIN_EXE_souk"))
        .args(args)
        .env("SOUK_DATABASE_URL", &db.url)
        .env("SOUK_DATA_KEY", hex::encode(crate::harness::DATA_KEY))
        .env("SOUK_LOG", "warn")
        .env_remove("SOUK_GATEWAY_API_KEY")
        .env_remove("SOUK_GATEWAY_SECRET")
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run souk");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cmd(db: &TestDb, args: &[&str]) -> String {
    let (ok, out, err) = souk(db, args, &[]);
    assert!(ok, "{args:?}: {err}");
    out
}

/// A command that must fail with exactly `error` on one line.
fn cmd_refused(db: &TestDb, args: &[&str], error: &str) {
    let (ok, out, err) = souk(db, args, &[]);
    assert!(!ok, "{args:?} should fail: {out}");
    assert_eq!(err.trim(), format!("souk: {error}"), "{args:?}");
}

engine_test!(payments_operator_cli, |db| {
    cmd(db, &["migrate"]);
    let out = cmd(
        db,
        &[
            "admin",
            "gateway",
            "set",
            "manual",
            "--enable",
            "--instructions",
            "IBAN DE00 1234",
            "--min",
            "5",
            "--max",
            "500.00",
        ],
    );
    assert_eq!(
        out.trim(),
        "manual      enabled  \"Bank transfer\" limits 5.00..500.00 fee 0% api_key none secret none"
    );
    // Keys from the environment, out of the shell history.
    let (ok, out, err) = souk(
        db,
        &[
            "admin",
            "gateway",
            "set",
            "nowpayments",
            "--enable",
            "--fee-percent",
            "1.5",
            "--base-url",
            "http://127.0.0.1:9",
        ],
        &[
            ("SOUK_GATEWAY_API_KEY", "np_CLI_KEY_42"),
            ("SOUK_GATEWAY_SECRET", "np_IPN_SECRET_42"),
        ],
    );
    assert!(ok, "{err}");
    assert!(
        !out.contains("np_CLI_KEY_42") && !out.contains("np_IPN_SECRET_42"),
        "{out}"
    );
    let list = cmd(db, &["admin", "gateway", "list"]);
    assert_eq!(
        list,
        "manual      enabled  \"Bank transfer\" limits 5.00..500.00 fee 0% api_key none secret none\n\
         nowpayments enabled  \"NOWPayments (crypto)\" limits 1.00..10000.00 fee 1.5% api_key set secret set at http://127.0.0.1:9\n"
    );
    let store = db.store().await;
    let keys = store.gateway_secrets("nowpayments").await.expect("keys");
    assert_eq!(
        (keys.api_key.as_str(), keys.secret.as_str()),
        ("np_CLI_KEY_42", "np_IPN_SECRET_42")
    );
    let help = cmd(db, &["admin", "gateway", "set", "--help"]);
    assert!(
        help.contains("SOUK_GATEWAY_API_KEY") && help.contains("SOUK_GATEWAY_SECRET"),
        "{help}"
    );

    // Refused, nothing changed.
    for (args, error) in [
        (
            vec!["stripe", "--enable", "--api-key", "sk_1"],
            "stripe cannot be enabled without its secret",
        ),
        (
            vec!["manual", "--fee-percent", "101"],
            "fee_percent must be a percentage from 0 to 100 with up to 2 decimals",
        ),
        (
            vec!["manual", "--min", "50", "--max", "10"],
            "max_amount must not be below min_amount",
        ),
        (
            vec!["manual", "--min", "1.234"],
            "min_amount must be a positive amount with at most two decimals",
        ),
        (
            vec!["manual", "--max", "0"],
            "max_amount must be a positive amount with at most two decimals",
        ),
        (
            vec!["paypal", "--enable"],
            "Unknown gateway \"paypal\": one of cryptomus, nowpayments, stripe, manual",
        ),
    ] {
        let mut full = vec!["admin", "gateway", "set"];
        full.extend(args);
        cmd_refused(db, &full, error);
    }
    assert_eq!(cmd(db, &["admin", "gateway", "list"]), list);
    assert_eq!(
        cmd(db, &["admin", "gateway", "check", "manual"]).trim(),
        "manual: the keys work: manual transfers need no keys"
    );
    cmd_refused(
        db,
        &["admin", "gateway", "check", "stripe"],
        "Gateway not found",
    );

    // A buyer's transfers, approved and rejected from the command line.
    cmd(
        db,
        &["admin", "user", "create", "--email", "dee@test.local"],
    );
    let dee = store
        .user_id_by_email("dee@test.local")
        .await
        .expect("lookup")
        .expect("dee");
    let now = souk_core::clock::Clock::now_ms(&souk_core::clock::SystemClock);
    let first = transfer(&store, &dee, "40.00", "BANK-REF-1", now).await;
    let second = transfer(&store, &dee, "15.00", "BANK-REF-2", now + 1).await;
    let pending = cmd(db, &["admin", "payment", "list", "--state", "pending"]);
    assert_eq!(pending.lines().count(), 2, "{pending}");
    assert!(
        pending.lines().next().expect("line").starts_with(&second),
        "{pending}"
    );
    assert!(
        pending.contains("ref BANK-REF-1") && pending.contains("dee@test.local"),
        "{pending}"
    );
    cmd_refused(
        db,
        &["admin", "payment", "list", "--state", "bogus"],
        &format!("state must be one of {STATES}"),
    );
    cmd_refused(
        db,
        &["admin", "payment", "list", "--user", "nobody@test.local"],
        "no user with email nobody@test.local",
    );
    cmd_refused(
        db,
        &["admin", "payment", "check", &first],
        "A manual transfer has no gateway to ask: approve or reject it",
    );
    for amount in ["-1", "0", "1.001", "abc"] {
        cmd_refused(
            db,
            &["admin", "payment", "approve", &first, "--amount", amount],
            "amount must be a positive amount with at most two decimals",
        );
    }
    cmd_refused(
        db,
        &["admin", "payment", "approve", "nope"],
        "Payment not found",
    );
    cmd_refused(
        db,
        &["admin", "payment", "show", "nope"],
        "Payment not found",
    );
    cmd_refused(
        db,
        &["admin", "payment", "check", "nope"],
        "Payment not found",
    );

    let out = cmd(
        db,
        &[
            "admin",
            "payment",
            "approve",
            &first,
            "--amount",
            "40",
            "--note",
            "statement",
        ],
    );
    assert!(
        out.starts_with(&format!(
            "{first}: credited 40.00: approved by the operator: statement\n"
        )),
        "{out}"
    );
    cmd_refused(
        db,
        &["admin", "payment", "approve", &first],
        "Only a held payment or a pending manual transfer can be decided; this one is paid",
    );
    let out = cmd(
        db,
        &[
            "admin",
            "payment",
            "reject",
            &second,
            "--note",
            "never arrived",
        ],
    );
    assert!(
        out.starts_with(&format!(
            "{second}: failed: rejected by the operator: never arrived\n"
        )),
        "{out}"
    );
    assert_eq!(
        store.balance(&dee).await.expect("balance"),
        Money::parse("40.00").expect("amount")
    );
    assert_eq!(deposits(db, &first).await, 1);
    assert_eq!(deposits(db, &second).await, 0);

    let mine = cmd(
        db,
        &["admin", "payment", "list", "--user", "dee@test.local"],
    );
    let states: Vec<&str> = mine
        .lines()
        .map(|l| l.split_whitespace().nth(1).expect("state"))
        .collect();
    assert_eq!(states, ["failed", "paid"], "{mine}");
    let shown = cmd(db, &["admin", "payment", "show", &first]);
    assert!(shown.contains("credited 40.00"), "{shown}");
    assert!(
        shown.contains(&format!(
            "operator {first} credited 40.00: approved by the operator: statement | statement"
        )),
        "{shown}"
    );
    let events = cmd(db, &["admin", "payment", "events", "--limit", "1"]);
    assert_eq!(events.lines().count(), 1, "{events}");
    assert!(
        events.contains(&format!("{second} failed: rejected by the operator")),
        "{events}"
    );
    store.close().await;
    db.assert_audit_clean().await;
});
