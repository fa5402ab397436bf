//! Each gateway client against its fake over loopback: invoices, states, callbacks,
//! under- and overpayment, key checks and failing gateways.

use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use souk_client::payments::{
    CallbackError, CallbackFacts, GatewayClient, GatewayError, GatewayKeys, GatewayKind,
    InvoiceRequest, PaymentRef, RemoteStatus,
};
use souk_core::Money;
use souk_fakes::{FakeCallback, FakeGateway, FakeKind};

fn m(s: &str) -> Money {
    Money::parse(s).expect("money")
}

fn gateway_kind(kind: FakeKind) -> GatewayKind {
    match kind {
        FakeKind::Cryptomus => GatewayKind::Cryptomus,
        FakeKind::NowPayments => GatewayKind::NowPayments,
        FakeKind::Stripe => GatewayKind::Stripe,
    }
}

fn keys(fake: &FakeGateway) -> GatewayKeys {
    GatewayKeys {
        kind: gateway_kind(fake.kind()),
        base_url: fake.base_url(),
        merchant: fake.merchant(),
        api_key: fake.api_key(),
        webhook_secret: fake.webhook_secret(),
    }
}

fn client(fake: &FakeGateway) -> GatewayClient {
    GatewayClient::new(keys(fake), true)
}

fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn headers(cb: &FakeCallback) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in &cb.headers {
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    h
}

fn verify(client: &GatewayClient, cb: &FakeCallback) -> Result<CallbackFacts, CallbackError> {
    client.verify_callback(&headers(cb), &cb.body, now_s())
}

fn request<'a>(payment_id: &'a str, amount: Money, currency: &'a str) -> InvoiceRequest<'a> {
    InvoiceRequest {
        payment_id,
        amount,
        currency,
        description: "Пополнение баланса https://souk.example/top-up",
        callback_url: "http://127.0.0.1:9/callback",
        return_url: "http://127.0.0.1:9/return",
        lifetime_s: 3600,
    }
}

/// Creates an invoice and checks the fake holds what was asked.
async fn invoice(
    fake: &FakeGateway,
    client: &GatewayClient,
    payment_id: &str,
    amount: &str,
    currency: &str,
) -> String {
    let created = client
        .create_invoice(&request(payment_id, m(amount), currency))
        .await
        .expect("invoice created");
    let held = fake.invoice(payment_id).expect("the fake holds it");
    assert_eq!(held.external_id, created.external_id);
    assert_eq!(held.pay_url, created.pay_url);
    assert_eq!(held.amount, m(amount));
    assert!(held.currency.eq_ignore_ascii_case(currency));
    created.external_id
}

async fn state(
    client: &GatewayClient,
    payment_id: &str,
    external_id: &str,
    remote_id: Option<&str>,
) -> Result<souk_client::payments::RemoteState, GatewayError> {
    client
        .fetch_state(&PaymentRef {
            payment_id,
            external_id,
            remote_id,
        })
        .await
}

/// Pays `received` and checks the state Souk reads.
#[allow(clippy::too_many_arguments)]
async fn pay_and_check(
    fake: &FakeGateway,
    client: &GatewayClient,
    payment_id: &str,
    amount: &str,
    received: &str,
    expected: RemoteStatus,
    expected_received: &str,
) {
    let external = invoice(fake, client, payment_id, amount, "USD").await;
    fake.pay(payment_id, m(received));
    let facts = verify(client, &fake.callback(payment_id)).expect("callback verified");
    let remote = facts.remote_id.clone();
    let got = state(client, payment_id, &external, remote.as_deref())
        .await
        .expect("state");
    assert_eq!(got.status, expected, "{:?}", fake.kind());
    assert_eq!(
        got.received,
        Some(m(expected_received)),
        "{:?}",
        fake.kind()
    );
    assert_eq!(got.amount, Some(m(amount)));
    assert_eq!(got.currency.as_deref(), Some("USD"));
    assert_eq!(got.payment_id.as_deref(), Some(payment_id));
}

async fn common(kind: FakeKind) {
    let fake = FakeGateway::start(kind).await;
    fake.auto_callback(false);
    let client = client(&fake);

    // Invoice, then pending.
    let external = invoice(&fake, &client, "pay_1", "10.00", "USD").await;
    assert_eq!(fake.invoices_created(), 1);
    let remote_id = if kind == FakeKind::NowPayments {
        // No payment id known (no IPN yet): the gateway cannot be asked.
        assert_eq!(
            state(&client, "pay_1", &external, None).await,
            Err(GatewayError::Unknown)
        );
        fake.set_raw_status("pay_1", "waiting");
        let facts = verify(&client, &fake.callback("pay_1")).expect("waiting IPN");
        assert_eq!(facts.status, "waiting");
        facts.remote_id.clone()
    } else {
        None
    };
    let pending = state(&client, "pay_1", &external, remote_id.as_deref())
        .await
        .expect("pending state");
    assert_eq!(pending.status, RemoteStatus::Pending);
    assert_eq!(pending.received, None);
    assert_eq!(pending.payment_id.as_deref(), Some("pay_1"));

    // Paid in full.
    fake.pay("pay_1", m("10"));
    let cb = fake.callback("pay_1");
    let facts = verify(&client, &cb).expect("callback verified");
    assert_eq!(facts.payment_id.as_deref(), Some("pay_1"));
    assert_eq!(facts.external_id.as_deref(), Some(external.as_str()));
    let remote_id = facts.remote_id.clone().or(remote_id);
    let before = fake.state_requests();
    let paid = state(&client, "pay_1", &external, remote_id.as_deref())
        .await
        .expect("paid state");
    assert_eq!(fake.state_requests(), before + 1);
    assert_eq!(paid.status, RemoteStatus::Paid);
    assert_eq!(paid.received, Some(m("10")));
    assert_eq!(paid.amount, Some(m("10")));
    assert_eq!(paid.currency.as_deref(), Some("USD"));
    assert_eq!(paid.payment_id.as_deref(), Some("pay_1"));
    if kind != FakeKind::Cryptomus {
        assert!(paid.remote_id.is_some());
    }

    // A forged callback is refused.
    assert_eq!(
        verify(&client, &fake.forged_callback("pay_1")),
        Err(CallbackError::BadSignature)
    );

    // The gateway failing: an error, then it recovers.
    fake.fail_next_state_requests(1);
    assert_eq!(
        state(&client, "pay_1", &external, remote_id.as_deref()).await,
        Err(GatewayError::Http(500))
    );
    assert!(state(&client, "pay_1", &external, remote_id.as_deref())
        .await
        .is_ok());

    // Keys.
    let described = client.check_keys().await.expect("keys work");
    assert!(!described.is_empty());
    let mut wrong = keys(&fake);
    wrong.api_key = format!("{}x", wrong.api_key);
    let wrong = GatewayClient::new(wrong, true);
    assert!(matches!(
        wrong.check_keys().await,
        Err(GatewayError::Refused(_))
    ));
    assert!(matches!(
        wrong.create_invoice(&request("pay_x", m("1"), "USD")).await,
        Err(GatewayError::Refused(_))
    ));
    // A private destination is refused unless allowed.
    let guarded = GatewayClient::new(keys(&fake), false);
    assert!(matches!(
        guarded.check_keys().await,
        Err(GatewayError::Destination(_))
    ));
}

#[tokio::test]
async fn cryptomus_flow() {
    common(FakeKind::Cryptomus).await;
}

#[tokio::test]
async fn nowpayments_flow() {
    common(FakeKind::NowPayments).await;
}

#[tokio::test]
async fn stripe_flow() {
    common(FakeKind::Stripe).await;
}

#[tokio::test]
async fn under_and_over_payments() {
    for kind in [FakeKind::Cryptomus, FakeKind::NowPayments] {
        let fake = FakeGateway::start(kind).await;
        fake.auto_callback(false);
        let client = client(&fake);
        pay_and_check(
            &fake,
            &client,
            "under",
            "10.00",
            "4",
            RemoteStatus::Underpaid,
            "4",
        )
        .await;
        pay_and_check(
            &fake,
            &client,
            "over",
            "10.00",
            "12.5",
            RemoteStatus::Paid,
            "12.5",
        )
        .await;
        pay_and_check(
            &fake,
            &client,
            "exact",
            "7.25",
            "7.25",
            RemoteStatus::Paid,
            "7.25",
        )
        .await;
    }
}

#[tokio::test]
async fn other_statuses() {
    let cases: [(FakeKind, &str, RemoteStatus); 10] = [
        (FakeKind::Cryptomus, "cancel", RemoteStatus::Expired),
        (FakeKind::Cryptomus, "system_fail", RemoteStatus::Failed),
        (FakeKind::Cryptomus, "refund_paid", RemoteStatus::Refunded),
        (FakeKind::Cryptomus, "refund_process", RemoteStatus::Pending),
        (FakeKind::NowPayments, "expired", RemoteStatus::Expired),
        (FakeKind::NowPayments, "failed", RemoteStatus::Failed),
        (FakeKind::NowPayments, "refunded", RemoteStatus::Refunded),
        (FakeKind::Stripe, "expired", RemoteStatus::Expired),
        (FakeKind::Stripe, "failed", RemoteStatus::Failed),
        (FakeKind::Stripe, "processing", RemoteStatus::Pending),
    ];
    for (kind, raw, expected) in cases {
        let fake = FakeGateway::start(kind).await;
        fake.auto_callback(false);
        let client = client(&fake);
        let external = invoice(&fake, &client, "p", "5", "USD").await;
        fake.set_raw_status("p", raw);
        let facts = verify(&client, &fake.callback("p")).expect("callback");
        let got = state(&client, "p", &external, facts.remote_id.as_deref())
            .await
            .expect("state");
        assert_eq!(got.status, expected, "{kind:?} {raw}");
        assert_eq!(got.received, None, "{kind:?} {raw}");
        if kind == FakeKind::Stripe {
            let event = facts.event.unwrap_or_default();
            match raw {
                "expired" => assert_eq!(event, "checkout.session.expired"),
                "failed" => assert_eq!(event, "checkout.session.async_payment_failed"),
                _ => assert_eq!(event, "checkout.session.completed"),
            }
        }
    }
}

#[tokio::test]
async fn stripe_stale_and_zero_decimal() {
    let fake = FakeGateway::start(FakeKind::Stripe).await;
    fake.auto_callback(false);
    let client = client(&fake);
    invoice(&fake, &client, "yen", "1500", "JPY").await;
    fake.pay("yen", m("1500"));
    let old = fake.callback_at("yen", now_s() - 600);
    assert_eq!(verify(&client, &old), Err(CallbackError::Stale));
    let future = fake.callback_at("yen", now_s() + 600);
    assert_eq!(verify(&client, &future), Err(CallbackError::Stale));
    let external = fake.invoice("yen").expect("invoice").external_id;
    let got = state(&client, "yen", &external, None).await.expect("state");
    assert_eq!(got.received, Some(m("1500")));
    assert_eq!(got.currency.as_deref(), Some("JPY"));
    // A session the gateway does not know.
    assert_eq!(
        state(&client, "nope", "cs_test_unknown", None).await,
        Err(GatewayError::Unknown)
    );
}

/// A receiver that checks callbacks with the client, as Souk's endpoint would.
async fn receiver(client: GatewayClient) -> (String, Arc<Mutex<Vec<CallbackFacts>>>) {
    use axum::body::Bytes;
    use axum::http::StatusCode;
    let seen: Arc<Mutex<Vec<CallbackFacts>>> = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new()
        .route(
            "/callback",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
                let client = client.clone();
                let record = record.clone();
                async move {
                    match client.verify_callback(&headers, &body, now_s()) {
                        Ok(facts) => {
                            record.lock().expect("lock").push(facts);
                            StatusCode::OK
                        }
                        Err(_) => StatusCode::BAD_REQUEST,
                    }
                }
            }),
        )
        .route("/return", axum::routing::get(|| async { "back at Souk" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, seen)
}

#[tokio::test]
async fn pay_page_and_delivery() {
    for kind in [FakeKind::Cryptomus, FakeKind::NowPayments, FakeKind::Stripe] {
        let fake = FakeGateway::start(kind).await;
        let client = client(&fake);
        let (base, seen) = receiver(client.clone()).await;
        let callback_url = format!("{base}/callback");
        let return_url = format!("{base}/return");
        fake.set_webhook_url(&callback_url);
        let created = client
            .create_invoice(&InvoiceRequest {
                callback_url: &callback_url,
                return_url: &return_url,
                ..request("page", m("3.50"), "USD")
            })
            .await
            .expect("invoice");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .expect("client");
        let page = http
            .get(&created.pay_url)
            .send()
            .await
            .expect("page")
            .text()
            .await
            .expect("text");
        assert!(page.contains(r#"<button id="pay""#), "{page}");
        let answer = http.post(&created.pay_url).send().await.expect("pay");
        assert_eq!(answer.status().as_u16(), 303);
        assert_eq!(
            answer
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok()),
            Some(return_url.as_str())
        );
        // Delivered (and verified by the receiver) before the redirect.
        let facts = seen
            .lock()
            .expect("lock")
            .pop()
            .expect("callback delivered");
        assert_eq!(facts.payment_id.as_deref(), Some("page"));
        let got = state(
            &client,
            "page",
            &created.external_id,
            facts.remote_id.as_deref(),
        )
        .await
        .expect("state");
        assert_eq!(got.status, RemoteStatus::Paid);
        assert_eq!(got.received, Some(m("3.5")));
        // Explicit deliveries: a forged one is refused by the receiver.
        assert_eq!(fake.deliver_callback("page").await, 200);
        assert_eq!(fake.deliver(&fake.forged_callback("page")).await, 400);
    }
}
