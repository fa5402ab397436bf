//! In-process fakes of the payment gateways Souk tops balances up through: Cryptomus,
//! NOWPayments and Stripe Checkout, each an axum server on `127.0.0.1:0` speaking the
//! provider's documented protocol (authentication and its refusals included), serving a
//! pay page a browser can click through, and signing callbacks as the provider does.
//!
//! The signing here is written independently of souk-client's checks, on purpose: a
//! misreading of a scheme on either side shows up as a failed test instead of agreeing
//! with itself.
//!
//! [`telegram`] fakes the Telegram Bot API the same way.

pub mod smtp;

pub mod webhook_receiver;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use md5::{Digest as _, Md5};
use rand::Rng;
use serde_json::{json, Map, Value};
use sha2::{Sha256, Sha512};
use souk_core::Money;
use tokio::sync::oneshot;

pub mod telegram;

/// Which gateway a fake plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FakeKind {
    Cryptomus,
    NowPayments,
    Stripe,
}

/// An invoice as the fake holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeInvoice {
    /// Souk's payment id (`order_id` / `client_reference_id`).
    pub payment_id: String,
    /// Cryptomus uuid, NOWPayments invoice id, Stripe Checkout Session id.
    pub external_id: String,
    pub amount: Money,
    /// As Souk sent it (NOWPayments and Stripe lower case, Cryptomus upper case).
    pub currency: String,
    pub description: String,
    pub callback_url: String,
    pub return_url: String,
    pub pay_url: String,
    /// The gateway's own word: Cryptomus `check`/`paid`/`paid_over`/`wrong_amount`/...;
    /// NOWPayments `waiting`/`finished`/`partially_paid`/... (`new` before a payment
    /// exists); Stripe `open`, `complete` (paid), `processing` (complete, async payment
    /// pending), `failed` (async payment failed), `expired`.
    pub status: String,
    /// What the buyer paid, in the invoice currency.
    pub received: Option<Money>,
    /// NOWPayments payment id, Stripe PaymentIntent id, once there is a payment.
    pub remote_id: Option<String>,
}

/// A callback the gateway would send: where, with which headers and body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeCallback {
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub url: String,
}

struct Shared {
    kind: FakeKind,
    base_url: String,
    merchant: String,
    api_key: String,
    webhook_secret: String,
    state: Mutex<Book>,
}

#[derive(Default)]
struct Book {
    /// By Souk's payment id.
    invoices: HashMap<String, FakeInvoice>,
    created: usize,
    state_requests: usize,
    fail_next: usize,
    auto_callback: bool,
    /// Stripe: the webhook endpoint (set in the dashboard, not per session).
    webhook_url: Option<String>,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn find(&self, external_id: &str) -> Option<FakeInvoice> {
        self.book()
            .invoices
            .values()
            .find(|i| i.external_id == external_id)
            .cloned()
    }
}

/// A running fake; clones share it, and the server stops when the last one drops.
#[derive(Clone)]
pub struct FakeGateway {
    shared: Arc<Shared>,
    _stop: Arc<oneshot::Sender<()>>,
}

impl std::fmt::Debug for FakeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeGateway")
            .field("kind", &self.shared.kind)
            .field("base_url", &self.shared.base_url)
            .finish()
    }
}

fn random_token(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(CHARS[rng.gen_range(0..CHARS.len())]))
        .collect()
}

fn random_digits(len: usize) -> String {
    let mut rng = rand::thread_rng();
    let first = char::from(b'1' + rng.gen_range(0..9u8));
    std::iter::once(first)
        .chain((1..len).map(|_| char::from(b'0' + rng.gen_range(0..10u8))))
        .collect()
}

fn uuid() -> String {
    let hexes: String = (0..32)
        .map(|_| {
            let v: u8 = rand::thread_rng().gen_range(0..16);
            char::from_digit(u32::from(v), 16).unwrap_or('0')
        })
        .collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hexes[..8],
        &hexes[8..12],
        &hexes[12..16],
        &hexes[16..20],
        &hexes[20..]
    )
}

fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl FakeGateway {
    /// Starts a fake with keys of its own on a free loopback port.
    pub async fn start(kind: FakeKind) -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the fake gateway");
        let port = listener.local_addr().expect("local address").port();
        let (merchant, api_key, webhook_secret) = match kind {
            FakeKind::Cryptomus => (uuid(), random_token(64), String::new()),
            FakeKind::NowPayments => (String::new(), random_token(28), random_token(32)),
            FakeKind::Stripe => (
                String::new(),
                format!("sk_test_{}", random_token(24)),
                format!("whsec_{}", random_token(32)),
            ),
        };
        let shared = Arc::new(Shared {
            kind,
            base_url: format!("http://127.0.0.1:{port}"),
            merchant,
            api_key,
            webhook_secret,
            state: Mutex::new(Book {
                auto_callback: true,
                ..Book::default()
            }),
        });
        let router = match kind {
            FakeKind::Cryptomus => Router::new()
                .route("/v1/payment", post(cryptomus::create))
                .route("/v1/payment/info", post(cryptomus::info))
                .route("/v1/balance", post(cryptomus::balance)),
            FakeKind::NowPayments => Router::new()
                .route("/v1/status", get(nowpayments::status))
                .route("/v1/invoice", post(nowpayments::create))
                .route("/v1/payment/{id}", get(nowpayments::payment))
                .route("/v1/merchant/coins", get(nowpayments::coins)),
            FakeKind::Stripe => Router::new()
                .route("/v1/checkout/sessions", post(stripe::create))
                .route("/v1/checkout/sessions/{id}", get(stripe::session))
                .route("/v1/balance", get(stripe::balance)),
        }
        .route("/pay/{id}", get(pay_page).post(pay_submit))
        .with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        FakeGateway {
            shared,
            _stop: Arc::new(stop),
        }
    }

    pub fn kind(&self) -> FakeKind {
        self.shared.kind
    }

    /// `http://127.0.0.1:PORT`, what Souk is configured with as the base URL.
    pub fn base_url(&self) -> String {
        self.shared.base_url.clone()
    }

    /// Cryptomus merchant uuid ("" for the others).
    pub fn merchant(&self) -> String {
        self.shared.merchant.clone()
    }

    /// Cryptomus payment key, NOWPayments API key, Stripe secret key.
    pub fn api_key(&self) -> String {
        self.shared.api_key.clone()
    }

    /// NOWPayments IPN secret, Stripe `whsec_` secret ("" for Cryptomus).
    pub fn webhook_secret(&self) -> String {
        self.shared.webhook_secret.clone()
    }

    pub fn invoice(&self, payment_id: &str) -> Option<FakeInvoice> {
        self.shared.book().invoices.get(payment_id).cloned()
    }

    pub fn invoices_created(&self) -> usize {
        self.shared.book().created
    }

    /// The buyer paid `received` (invoice currency): in full, over or under. Stripe
    /// Checkout only takes the full amount: any `received` completes the session.
    /// Delivers the callback in the background when auto callbacks are on.
    pub fn pay(&self, payment_id: &str, received: Money) {
        let auto = {
            let mut book = self.shared.book();
            let Some(invoice) = book.invoices.get_mut(payment_id) else {
                panic!("no invoice for payment {payment_id}");
            };
            apply_payment(self.shared.kind, invoice, received);
            book.auto_callback
        };
        if auto {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let gateway = self.clone();
                let payment_id = payment_id.to_owned();
                handle.spawn(async move {
                    gateway.deliver_callback(&payment_id).await;
                });
            }
        }
    }

    /// Sets the gateway's raw status word (`cancel`, `expired`, `failed`, `refunded`,
    /// `waiting` ...). A NOWPayments invoice gets a payment if it had none.
    pub fn set_raw_status(&self, payment_id: &str, raw: &str) {
        let mut book = self.shared.book();
        let Some(invoice) = book.invoices.get_mut(payment_id) else {
            panic!("no invoice for payment {payment_id}");
        };
        if self.shared.kind == FakeKind::NowPayments && invoice.remote_id.is_none() {
            invoice.remote_id = Some(random_digits(10));
        }
        if self.shared.kind == FakeKind::Stripe
            && matches!(raw, "complete" | "processing" | "failed")
            && invoice.remote_id.is_none()
        {
            invoice.remote_id = Some(format!("pi_{}", random_token(24)));
        }
        invoice.status = raw.to_owned();
    }

    /// What the gateway would POST now for the invoice's state, correctly signed.
    pub fn callback(&self, payment_id: &str) -> FakeCallback {
        self.build_callback(payment_id, None)
    }

    /// The same, signed with a key that is not the merchant's.
    pub fn forged_callback(&self, payment_id: &str) -> FakeCallback {
        let wrong = format!("forged-{}", random_token(16));
        self.build_callback(payment_id, Some(wrong))
    }

    /// A Stripe callback signed (correctly) as of `t`, Unix seconds: for stale ones.
    pub fn callback_at(&self, payment_id: &str, t: i64) -> FakeCallback {
        let invoice = self.invoice_or_panic(payment_id);
        match self.shared.kind {
            FakeKind::Stripe => stripe::callback(&invoice, &self.shared.webhook_secret, t),
            _ => self.callback(payment_id),
        }
    }

    fn invoice_or_panic(&self, payment_id: &str) -> FakeInvoice {
        self.invoice(payment_id)
            .unwrap_or_else(|| panic!("no invoice for payment {payment_id}"))
    }

    fn build_callback(&self, payment_id: &str, key: Option<String>) -> FakeCallback {
        let invoice = self.invoice_or_panic(payment_id);
        let shared = &self.shared;
        match shared.kind {
            FakeKind::Cryptomus => {
                cryptomus::callback(&invoice, key.as_deref().unwrap_or(&shared.api_key))
            }
            FakeKind::NowPayments => {
                nowpayments::callback(&invoice, key.as_deref().unwrap_or(&shared.webhook_secret))
            }
            FakeKind::Stripe => stripe::callback(
                &invoice,
                key.as_deref().unwrap_or(&shared.webhook_secret),
                now_s(),
            ),
        }
    }

    /// POSTs a callback to its URL; the HTTP status answered (0 when none came).
    pub async fn deliver(&self, cb: &FakeCallback) -> u16 {
        deliver(cb).await
    }

    pub async fn deliver_callback(&self, payment_id: &str) -> u16 {
        let cb = self.callback(payment_id);
        deliver(&cb).await
    }

    /// How many verification requests (payment info, payment status, session) it
    /// answered, failures included.
    pub fn state_requests(&self) -> usize {
        self.shared.book().state_requests
    }

    /// The next `n` verification requests answer HTTP 500.
    pub fn fail_next_state_requests(&self, n: usize) {
        self.shared.book().fail_next = n;
    }

    /// Whether paying (with [`FakeGateway::pay`] or on the pay page) also delivers the
    /// callback. On by default.
    pub fn auto_callback(&self, on: bool) {
        self.shared.book().auto_callback = on;
    }
}

/// Records a payment of `received` on an invoice, in the gateway's words.
fn apply_payment(kind: FakeKind, invoice: &mut FakeInvoice, received: Money) {
    invoice.received = Some(received);
    let full = received >= invoice.amount;
    let over = received > invoice.amount;
    invoice.status = match kind {
        FakeKind::Cryptomus if over => "paid_over",
        FakeKind::Cryptomus if full => "paid",
        FakeKind::Cryptomus => "wrong_amount",
        FakeKind::NowPayments if full => "finished",
        FakeKind::NowPayments => "partially_paid",
        FakeKind::Stripe => "complete",
    }
    .to_owned();
    if kind == FakeKind::Stripe {
        invoice.received = Some(invoice.amount);
    }
    if invoice.remote_id.is_none() {
        invoice.remote_id = match kind {
            FakeKind::Cryptomus => None,
            FakeKind::NowPayments => Some(random_digits(10)),
            FakeKind::Stripe => Some(format!("pi_{}", random_token(24))),
        };
    }
}

async fn deliver(cb: &FakeCallback) -> u16 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap_or_default();
    let mut request = client.post(&cb.url).body(cb.body.clone());
    for (name, value) in &cb.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    match request.send().await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// Counts a verification request; true when it must fail.
fn state_request(shared: &Shared) -> bool {
    let mut book = shared.book();
    book.state_requests += 1;
    if book.fail_next > 0 {
        book.fail_next -= 1;
        return true;
    }
    false
}

fn json_response(status: StatusCode, v: &Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn server_error() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        [("content-type", "text/html")],
        "<html><body><h1>500 Internal Server Error</h1></body></html>",
    )
        .into_response()
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn pay_page(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let Some(invoice) = shared.find(&id) else {
        return (StatusCode::NOT_FOUND, "no such invoice").into_response();
    };
    Html(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Pay {amount} {currency}</title></head>\
         <body><h1>Pay {amount} {currency}</h1><p id=\"description\">{description}</p>\
         <p id=\"status\">{status}</p>\
         <form method=\"post\" action=\"/pay/{id}\"><button id=\"pay\" type=\"submit\">Pay</button></form>\
         </body></html>",
        amount = invoice.amount.display2(),
        currency = escape_html(&invoice.currency.to_ascii_uppercase()),
        description = escape_html(&invoice.description),
        status = escape_html(&invoice.status),
        id = escape_html(&invoice.external_id),
    ))
    .into_response()
}

async fn pay_submit(State(shared): State<Arc<Shared>>, Path(id): Path<String>) -> Response {
    let (invoice, auto) = {
        let mut book = shared.book();
        let auto = book.auto_callback;
        let Some(invoice) = book.invoices.values_mut().find(|i| i.external_id == id) else {
            return (StatusCode::NOT_FOUND, "no such invoice").into_response();
        };
        let amount = invoice.amount;
        apply_payment(shared.kind, invoice, amount);
        (invoice.clone(), auto)
    };
    if auto {
        let cb = match shared.kind {
            FakeKind::Cryptomus => cryptomus::callback(&invoice, &shared.api_key),
            FakeKind::NowPayments => nowpayments::callback(&invoice, &shared.webhook_secret),
            FakeKind::Stripe => stripe::callback(&invoice, &shared.webhook_secret, now_s()),
        };
        deliver(&cb).await;
    }
    Redirect::to(&invoice.return_url).into_response()
}

/// A field of a JSON body as text (strings, or numbers written as numbers).
fn field(v: &Value, name: &str) -> Option<String> {
    match v.get(name)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn money_field(v: &Value, name: &str) -> Option<Money> {
    field(v, name).and_then(|s| Money::parse(&s).ok())
}

/// `x * 1.02`, `x * 3.3` ...: the payer-currency side of an amount.
fn times(x: Money, numerator: i64, denominator: i64) -> Money {
    x.mul_div_floor(numerator, denominator).unwrap_or(x)
}

mod cryptomus {
    //! Requests: `merchant` header and `sign = md5(base64(raw body) . key)`. Callbacks:
    //! `sign` = md5(base64(json_encode($data, JSON_UNESCAPED_UNICODE)) . key) over the
    //! body without `sign` (PHP escapes `/` as `\/`).

    use super::*;

    /// Payer currency USDT at 1.02 per invoice unit (a surcharge the payer bears).
    const RATE: (i64, i64) = (102, 100);

    pub(super) fn md5_sign(data: &[u8], key: &str) -> String {
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        hex::encode(Md5::digest(format!("{encoded}{key}").as_bytes()))
    }

    fn refused(message: &str) -> Response {
        json_response(
            StatusCode::UNAUTHORIZED,
            &json!({"state": 1, "message": message}),
        )
    }

    fn authenticate(shared: &Shared, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
        let merchant = headers.get("merchant").and_then(|v| v.to_str().ok());
        let sign = headers.get("sign").and_then(|v| v.to_str().ok());
        if merchant != Some(shared.merchant.as_str()) {
            return Some(refused("Merchant not found"));
        }
        if sign != Some(md5_sign(body, &shared.api_key).as_str()) {
            return Some(refused("Invalid Sign"));
        }
        None
    }

    fn payment_object(invoice: &FakeInvoice) -> Value {
        let payer_amount = times(invoice.amount, RATE.0, RATE.1);
        let payment_amount = invoice
            .received
            .map(|r| times(r, RATE.0, RATE.1))
            .unwrap_or(Money::ZERO);
        let is_final = !matches!(
            invoice.status.as_str(),
            "check" | "process" | "confirm_check" | "wrong_amount_waiting" | "refund_process"
        );
        json!({
            "uuid": invoice.external_id,
            "order_id": invoice.payment_id,
            "amount": invoice.amount.format(2),
            "payment_amount": payment_amount.format(8),
            "payer_amount": payer_amount.format(8),
            "discount_percent": -2,
            "discount": times(invoice.amount, 2, 100).format(8),
            "payer_currency": "USDT",
            "currency": invoice.currency,
            "comments": null,
            "merchant_amount": times(payment_amount, 98, 100).format(8),
            "network": "tron",
            "address": "TXhfYSWt2oKRrHAJVJeYRuit6ZzKuoEKXj",
            "from": null,
            "txid": null,
            "payment_status": invoice.status,
            "url": invoice.pay_url,
            "expired_at": now_s() + 3600,
            "status": invoice.status,
            "is_final": is_final,
            "additional_data": invoice.description,
        })
    }

    pub(super) async fn create(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers, &body) {
            return r;
        }
        let Ok(v) = serde_json::from_slice::<Value>(&body) else {
            return json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"state": 1, "message": "Invalid JSON"}),
            );
        };
        let (Some(amount), Some(currency), Some(order_id)) = (
            money_field(&v, "amount"),
            field(&v, "currency"),
            field(&v, "order_id"),
        ) else {
            return json_response(
                StatusCode::UNPROCESSABLE_ENTITY,
                &json!({"state": 1, "errors": {"amount": ["validation.required"]}}),
            );
        };
        let mut book = shared.book();
        // An order_id already invoiced answers the existing invoice.
        if let Some(existing) = book.invoices.get(&order_id) {
            return json_response(
                StatusCode::OK,
                &json!({"state": 0, "result": payment_object(existing)}),
            );
        }
        let external_id = uuid();
        let invoice = FakeInvoice {
            payment_id: order_id.clone(),
            external_id: external_id.clone(),
            amount,
            currency,
            description: field(&v, "additional_data").unwrap_or_default(),
            callback_url: field(&v, "url_callback").unwrap_or_default(),
            return_url: field(&v, "url_success")
                .or_else(|| field(&v, "url_return"))
                .unwrap_or_default(),
            pay_url: format!("{}/pay/{external_id}", shared.base_url),
            status: "check".into(),
            received: None,
            remote_id: None,
        };
        let answer = json!({"state": 0, "result": payment_object(&invoice)});
        book.invoices.insert(order_id, invoice);
        book.created += 1;
        json_response(StatusCode::OK, &answer)
    }

    pub(super) async fn info(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers, &body) {
            return r;
        }
        if state_request(&shared) {
            return server_error();
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let found = {
            let book = shared.book();
            match (field(&v, "order_id"), field(&v, "uuid")) {
                (Some(order_id), _) => book.invoices.get(&order_id).cloned(),
                (None, Some(uuid)) => book
                    .invoices
                    .values()
                    .find(|i| i.external_id == uuid)
                    .cloned(),
                (None, None) => {
                    return json_response(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        &json!({"state": 1, "errors": {
                            "uuid": ["validation.required_without"],
                            "order_id": ["validation.required_without"]}}),
                    )
                }
            }
        };
        match found {
            Some(invoice) => json_response(
                StatusCode::OK,
                &json!({"state": 0, "result": payment_object(&invoice)}),
            ),
            None => json_response(
                StatusCode::NOT_FOUND,
                &json!({"state": 1, "message": "Payment not found"}),
            ),
        }
    }

    pub(super) async fn balance(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers, &body) {
            return r;
        }
        json_response(
            StatusCode::OK,
            &json!({"state": 0, "result": [{"balance": {
                "merchant": [
                    {"uuid": uuid(), "balance": "12.50000000", "currency_code": "USDT"},
                    {"uuid": uuid(), "balance": "0.00000000", "currency_code": "BTC"}
                ],
                "user": []
            }}]}),
        )
    }

    /// `json_encode($data, JSON_UNESCAPED_UNICODE)`.
    fn php_encode(v: &Value) -> String {
        match v {
            Value::Object(map) => {
                let parts: Vec<String> = map
                    .iter()
                    .map(|(k, item)| format!("{}:{}", php_string(k), php_encode(item)))
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            Value::Array(items) => {
                let parts: Vec<String> = items.iter().map(php_encode).collect();
                format!("[{}]", parts.join(","))
            }
            Value::String(s) => php_string(s),
            other => other.to_string(),
        }
    }

    fn php_string(s: &str) -> String {
        // serde_json escapes as PHP does, except that PHP also escapes `/` and the two
        // line terminators U+2028 and U+2029.
        Value::String(s.to_owned())
            .to_string()
            .replace('/', "\\/")
            .replace('\u{2028}', "\\u2028")
            .replace('\u{2029}', "\\u2029")
    }

    pub(super) fn callback(invoice: &FakeInvoice, key: &str) -> FakeCallback {
        let o = payment_object(invoice);
        let payment_amount = o["payment_amount"].clone();
        let received = invoice.received.unwrap_or(Money::ZERO);
        let mut data = Map::new();
        for (k, v) in [
            ("type", json!("payment")),
            ("uuid", json!(invoice.external_id)),
            ("order_id", json!(invoice.payment_id)),
            ("amount", o["amount"].clone()),
            ("payment_amount", payment_amount),
            ("payment_amount_usd", json!(received.format(2))),
            ("merchant_amount", o["merchant_amount"].clone()),
            ("commission", json!("0.10000000")),
            ("is_final", o["is_final"].clone()),
            ("status", json!(invoice.status)),
            ("from", Value::Null),
            ("wallet_address_uuid", Value::Null),
            ("network", json!("tron")),
            ("currency", json!(invoice.currency)),
            ("payer_currency", json!("USDT")),
            ("payer_amount", o["payer_amount"].clone()),
            ("additional_data", json!(invoice.description)),
            ("txid", json!("0f1e2d3c4b5a69788796a5b4c3d2e1f0")),
        ] {
            data.insert(k.to_owned(), v);
        }
        let sign = md5_sign(php_encode(&Value::Object(data.clone())).as_bytes(), key);
        data.insert("sign".into(), json!(sign));
        FakeCallback {
            headers: vec![("content-type".into(), "application/json".into())],
            body: Value::Object(data).to_string().into_bytes(),
            url: invoice.callback_url.clone(),
        }
    }
}

mod nowpayments {
    //! `x-api-key` on every call but `/v1/status`; IPNs signed `x-nowpayments-sig` =
    //! hex HMAC-SHA512(IPN secret, JSON.stringify(sortObject(body))).

    use super::*;

    /// The buyer pays in TRX at 3.3 per invoice unit.
    const RATE: (i64, i64) = (33, 10);

    fn refused() -> Response {
        json_response(
            StatusCode::FORBIDDEN,
            &json!({"status": false, "statusCode": 403, "code": "INVALID_API_KEY",
                    "message": "Invalid api key"}),
        )
    }

    fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
        match headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
            Some(key) if key == shared.api_key => None,
            _ => Some(refused()),
        }
    }

    /// A JSON number with the amount's value (as JavaScript would hold it).
    fn number(m: Money) -> Value {
        serde_json::Number::from_f64(m.as_f64()).map_or(Value::Null, Value::Number)
    }

    fn id_number(id: &str) -> Value {
        id.parse::<u64>().map_or_else(|_| json!(id), |n| json!(n))
    }

    pub(super) async fn status() -> Response {
        json_response(StatusCode::OK, &json!({"message": "OK"}))
    }

    pub(super) async fn coins(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
        if let Some(r) = authenticate(&shared, &headers) {
            return r;
        }
        json_response(
            StatusCode::OK,
            &json!({"currencies": ["btc", "eth", "trx", "usdttrc20"]}),
        )
    }

    pub(super) async fn create(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers) {
            return r;
        }
        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (Some(amount), Some(currency)) =
            (money_field(&v, "price_amount"), field(&v, "price_currency"))
        else {
            return json_response(
                StatusCode::BAD_REQUEST,
                &json!({"status": false, "statusCode": 400, "code": "INVALID_REQUEST_PARAMS",
                        "message": "price_amount and price_currency are required"}),
            );
        };
        let order_id = field(&v, "order_id").unwrap_or_default();
        let id = random_digits(10);
        let invoice = FakeInvoice {
            payment_id: order_id.clone(),
            external_id: id.clone(),
            amount,
            currency: currency.clone(),
            description: field(&v, "order_description").unwrap_or_default(),
            callback_url: field(&v, "ipn_callback_url").unwrap_or_default(),
            return_url: field(&v, "success_url").unwrap_or_default(),
            pay_url: format!("{}/pay/{id}", shared.base_url),
            status: "new".into(),
            received: None,
            remote_id: None,
        };
        let answer = json!({
            "id": id,
            "token_id": random_digits(10),
            "order_id": order_id,
            "order_description": invoice.description,
            "price_amount": amount.format(0),
            "price_currency": currency,
            "pay_currency": null,
            "ipn_callback_url": invoice.callback_url,
            "invoice_url": invoice.pay_url,
            "success_url": invoice.return_url,
            "cancel_url": field(&v, "cancel_url"),
            "created_at": "2020-12-22T15:05:58.290Z",
            "updated_at": "2020-12-22T15:05:58.290Z",
        });
        let mut book = shared.book();
        book.invoices.insert(order_id, invoice);
        book.created += 1;
        json_response(StatusCode::OK, &answer)
    }

    fn payment_fields(invoice: &FakeInvoice, remote_id: &str) -> Vec<(&'static str, Value)> {
        let pay_amount = times(invoice.amount, RATE.0, RATE.1);
        let actually_paid = invoice
            .received
            .map(|r| times(r, RATE.0, RATE.1))
            .unwrap_or(Money::ZERO);
        vec![
            ("payment_id", id_number(remote_id)),
            ("invoice_id", id_number(&invoice.external_id)),
            ("payment_status", json!(invoice.status)),
            ("pay_address", json!("TNDFkiSmBQorNFacb3735q8MnT29sn8BLn")),
            ("price_amount", number(invoice.amount)),
            ("price_currency", json!(invoice.currency)),
            ("pay_amount", number(pay_amount)),
            ("actually_paid", number(actually_paid)),
            ("pay_currency", json!("trx")),
            ("order_id", json!(invoice.payment_id)),
            ("order_description", json!(invoice.description)),
            ("purchase_id", json!(random_digits(10))),
            ("outcome_amount", number(times(actually_paid, 99, 100))),
            ("outcome_currency", json!("trx")),
        ]
    }

    pub(super) async fn payment(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        Path(id): Path<String>,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers) {
            return r;
        }
        if state_request(&shared) {
            return server_error();
        }
        let found = shared
            .book()
            .invoices
            .values()
            .find(|i| i.remote_id.as_deref() == Some(id.as_str()))
            .cloned();
        let Some(invoice) = found else {
            return json_response(
                StatusCode::NOT_FOUND,
                &json!({"status": false, "statusCode": 404, "code": "PAYMENT_NOT_FOUND",
                        "message": "Payment not found"}),
            );
        };
        let mut map = Map::new();
        for (k, v) in payment_fields(&invoice, &id) {
            // Peers are sloppy: the status answer gives pay_amount as a string.
            let v = if k == "pay_amount" {
                json!(v.to_string())
            } else {
                v
            };
            map.insert(k.to_owned(), v);
        }
        map.insert("created_at".into(), json!("2020-12-16T14:30:43.306Z"));
        map.insert("updated_at".into(), json!("2020-12-16T14:40:46.523Z"));
        json_response(StatusCode::OK, &Value::Object(map))
    }

    /// JSON.stringify(sortObject(v)) for the values an IPN holds (objects, strings,
    /// numbers in plain decimal range, booleans, nulls).
    fn sorted_stringify(v: &Value) -> String {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let parts: Vec<String> = keys
                    .into_iter()
                    .map(|k| format!("{}:{}", Value::String(k.clone()), sorted_stringify(&map[k])))
                    .collect();
                format!("{{{}}}", parts.join(","))
            }
            Value::Number(n) => match n.as_f64() {
                // JavaScript prints doubles in this range as Rust's Display does.
                Some(f) => format!("{f}"),
                None => n.to_string(),
            },
            other => other.to_string(),
        }
    }

    pub(super) fn callback(invoice: &FakeInvoice, secret: &str) -> FakeCallback {
        let remote_id = invoice.remote_id.clone().unwrap_or_default();
        let mut map = Map::new();
        for (k, v) in payment_fields(invoice, &remote_id) {
            map.insert(k.to_owned(), v);
            if k == "payment_id" {
                map.insert("parent_payment_id".into(), Value::Null);
            }
        }
        map.insert("actually_paid_at_fiat".into(), json!(0));
        map.insert("payment_extra_ids".into(), Value::Null);
        map.insert(
            "fee".into(),
            json!({"currency": "trx", "depositFee": 0.0985, "withdrawalFee": 0, "serviceFee": 0}),
        );
        let body = Value::Object(map);
        let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(sorted_stringify(&body).as_bytes());
        let sig = hex::encode(mac.finalize().into_bytes());
        FakeCallback {
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-nowpayments-sig".into(), sig),
            ],
            body: body.to_string().into_bytes(),
            url: invoice.callback_url.clone(),
        }
    }
}

mod stripe {
    //! Form-encoded, `Authorization: Bearer sk_...`; webhooks signed
    //! `Stripe-Signature: t=...,v1=hex(HMAC-SHA256(whsec, "{t}.{body}"))`.

    use super::*;

    const ZERO_DECIMAL: &[&str] = &[
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ];

    fn minor_per_unit(currency: &str) -> i64 {
        if ZERO_DECIMAL.contains(&currency) {
            1
        } else if ["bhd", "jod", "kwd", "omr", "tnd"].contains(&currency) {
            1000
        } else {
            100
        }
    }

    fn error(
        status: StatusCode,
        message: &str,
        param: Option<&str>,
        code: Option<&str>,
    ) -> Response {
        json_response(
            status,
            &json!({"error": {"message": message, "param": param, "code": code,
                              "type": "invalid_request_error"}}),
        )
    }

    fn authenticate(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if given == shared.api_key {
            return None;
        }
        let shown: String = given.chars().take(8).collect();
        Some(error(
            StatusCode::UNAUTHORIZED,
            &format!("Invalid API Key provided: {shown}***"),
            None,
            None,
        ))
    }

    fn session_object(invoice: &FakeInvoice, expand_intent: bool) -> Value {
        let currency = invoice.currency.to_ascii_lowercase();
        let per_unit = minor_per_unit(&currency);
        let minor = invoice.amount.micros() * per_unit / 1_000_000;
        let (status, payment_status, intent_status) = match invoice.status.as_str() {
            "complete" => ("complete", "paid", Some("succeeded")),
            "processing" => ("complete", "unpaid", Some("processing")),
            "failed" => ("complete", "unpaid", Some("requires_payment_method")),
            "expired" => ("expired", "unpaid", None),
            _ => ("open", "unpaid", None),
        };
        let intent = match (&invoice.remote_id, intent_status) {
            (Some(id), Some(s)) if expand_intent => json!({
                "id": id, "object": "payment_intent", "amount": minor,
                "currency": currency, "status": s}),
            (Some(id), Some(_)) => json!(id),
            _ => Value::Null,
        };
        json!({
            "id": invoice.external_id,
            "object": "checkout.session",
            "amount_subtotal": minor,
            "amount_total": minor,
            "cancel_url": invoice.return_url,
            "client_reference_id": invoice.payment_id,
            "currency": currency,
            "expires_at": now_s() + 3600,
            "livemode": false,
            "metadata": {"payment_id": invoice.payment_id},
            "mode": "payment",
            "payment_intent": intent,
            "payment_status": payment_status,
            "status": status,
            "success_url": invoice.return_url,
            "url": if status == "open" { json!(invoice.pay_url) } else { Value::Null },
        })
    }

    pub(super) async fn create(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers) {
            return r;
        }
        let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
        let get = |k: &str| form.get(k).cloned();
        if get("mode").as_deref() != Some("payment") {
            return error(
                StatusCode::BAD_REQUEST,
                "Missing required param: mode.",
                Some("mode"),
                Some("parameter_missing"),
            );
        }
        let Some(currency) = get("line_items[0][price_data][currency]") else {
            return error(
                StatusCode::BAD_REQUEST,
                "Missing required param: line_items[0][price_data][currency].",
                Some("line_items[0][price_data][currency]"),
                Some("parameter_missing"),
            );
        };
        let Some(minor) =
            get("line_items[0][price_data][unit_amount]").and_then(|s| s.parse::<i64>().ok())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "Invalid integer: line_items[0][price_data][unit_amount]",
                Some("line_items[0][price_data][unit_amount]"),
                None,
            );
        };
        let Some(name) =
            get("line_items[0][price_data][product_data][name]").filter(|n| !n.is_empty())
        else {
            return error(
                StatusCode::BAD_REQUEST,
                "Missing required param: line_items[0][price_data][product_data][name].",
                Some("line_items[0][price_data][product_data][name]"),
                Some("parameter_missing"),
            );
        };
        if get("line_items[0][quantity]").as_deref() != Some("1") {
            return error(
                StatusCode::BAD_REQUEST,
                "Quantity must be 1 here.",
                Some("line_items[0][quantity]"),
                None,
            );
        }
        if let Some(expires_at) = get("expires_at") {
            let Ok(t) = expires_at.parse::<i64>() else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "Invalid integer: expires_at",
                    Some("expires_at"),
                    None,
                );
            };
            let ahead = t - now_s();
            if !(1800..=86_400).contains(&ahead) {
                return error(StatusCode::BAD_REQUEST, "The `expires_at` timestamp must be between 30 minutes and 24 hours from Checkout Session creation.", Some("expires_at"), None);
            }
        }
        let currency = currency.to_ascii_lowercase();
        let amount = Money::from_micros(minor * (1_000_000 / minor_per_unit(&currency)));
        let payment_id = get("client_reference_id")
            .or_else(|| get("metadata[payment_id]"))
            .unwrap_or_default();
        let id = format!("cs_test_{}", random_token(40));
        let webhook_url = shared.book().webhook_url.clone().unwrap_or_default();
        let invoice = FakeInvoice {
            payment_id: payment_id.clone(),
            external_id: id.clone(),
            amount,
            currency,
            description: name,
            callback_url: webhook_url,
            return_url: get("success_url").unwrap_or_default(),
            pay_url: format!("{}/pay/{id}", shared.base_url),
            status: "open".into(),
            received: None,
            remote_id: None,
        };
        let answer = session_object(&invoice, false);
        let mut book = shared.book();
        book.invoices.insert(payment_id, invoice);
        book.created += 1;
        json_response(StatusCode::OK, &answer)
    }

    pub(super) async fn session(
        State(shared): State<Arc<Shared>>,
        headers: HeaderMap,
        Path(id): Path<String>,
        RawQuery(query): RawQuery,
    ) -> Response {
        if let Some(r) = authenticate(&shared, &headers) {
            return r;
        }
        if state_request(&shared) {
            return server_error();
        }
        let expand = form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .any(|(k, v)| k.starts_with("expand") && v == "payment_intent");
        match shared.find(&id) {
            Some(invoice) => json_response(StatusCode::OK, &session_object(&invoice, expand)),
            None => error(
                StatusCode::NOT_FOUND,
                &format!("No such checkout.session: '{id}'"),
                Some("session"),
                Some("resource_missing"),
            ),
        }
    }

    pub(super) async fn balance(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
        if let Some(r) = authenticate(&shared, &headers) {
            return r;
        }
        json_response(
            StatusCode::OK,
            &json!({"object": "balance", "livemode": false,
                    "available": [{"amount": 1250, "currency": "usd", "source_types": {"card": 1250}}],
                    "pending": [{"amount": 0, "currency": "usd", "source_types": {"card": 0}}]}),
        )
    }

    /// The event Stripe would send for the session's state, signed as of `t`. Sent to
    /// the dashboard's endpoint ([`FakeGateway::set_webhook_url`]).
    pub(super) fn callback(invoice: &FakeInvoice, secret: &str, t: i64) -> FakeCallback {
        let event_type = match invoice.status.as_str() {
            "failed" => "checkout.session.async_payment_failed",
            "expired" => "checkout.session.expired",
            _ => "checkout.session.completed",
        };
        let event = json!({
            "id": format!("evt_{}", random_token(24)),
            "object": "event",
            "api_version": "2024-06-20",
            "created": t,
            "type": event_type,
            "livemode": false,
            "data": {"object": session_object(invoice, false)},
        });
        let body = event.to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
        mac.update(format!("{t}.{body}").as_bytes());
        let v1 = hex::encode(mac.finalize().into_bytes());
        let url = invoice.callback_url.clone();
        FakeCallback {
            headers: vec![
                (
                    "content-type".into(),
                    "application/json; charset=utf-8".into(),
                ),
                ("stripe-signature".into(), format!("t={t},v1={v1}")),
            ],
            body: body.into_bytes(),
            url,
        }
    }
}

impl FakeGateway {
    /// Stripe sends webhooks to the endpoint configured in its dashboard, not to one
    /// named per session: this sets where the fake delivers them, for every session,
    /// present and future. The others take their callback URL from each invoice; for
    /// them this only rewrites the existing invoices' URL.
    pub fn set_webhook_url(&self, url: &str) {
        let mut book = self.shared.book();
        for invoice in book.invoices.values_mut() {
            invoice.callback_url = url.to_owned();
        }
        book.webhook_url = Some(url.to_owned());
    }
}
