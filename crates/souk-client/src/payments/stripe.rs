//! Stripe Checkout: form-encoded calls with `Authorization: Bearer sk_...`; a Checkout
//! Session is the invoice (`POST /v1/checkout/sessions`), read back with
//! `GET /v1/checkout/sessions/{id}` (its PaymentIntent expanded, which is what says an
//! asynchronous payment failed).
//!
//! Webhooks: `Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...]` (several `v1` while a
//! secret is being rolled), each `v1` a hex HMAC-SHA256 of `"{t}.{raw body}"` keyed with
//! the endpoint's `whsec_...` secret; a timestamp more than five minutes from now, either
//! way, is refused as a replay.

use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::Value;
use sha2::Sha256;
use souk_core::Money;

use super::http::{self, text};
use super::{
    CallbackError, CallbackFacts, GatewayClient, GatewayError, Invoice, InvoiceRequest, PaymentRef,
    RemoteState, RemoteStatus,
};

/// How far a webhook's timestamp may be from now, either way.
pub const TOLERANCE_S: i64 = 300;
/// A session must expire 30 minutes to 24 hours after its creation; a minute of margin
/// each side for the clocks.
const MIN_LIFETIME_S: i64 = 30 * 60 + 60;
const MAX_LIFETIME_S: i64 = 24 * 3600 - 60;

/// Currencies without minor units (amounts in whole units).
const ZERO_DECIMAL: &[&str] = &[
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
    "XAF", "XOF", "XPF",
];
/// Currencies with three decimals (Stripe wants the last one 0).
const THREE_DECIMAL: &[&str] = &["BHD", "JOD", "KWD", "OMR", "TND"];

/// Decimals of a currency's minor unit, as Stripe counts them.
pub(super) fn minor_decimals(currency: &str) -> u32 {
    let upper = currency.to_ascii_uppercase();
    if ZERO_DECIMAL.contains(&upper.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&upper.as_str()) {
        3
    } else {
        2
    }
}

/// An amount in minor units; `None` when it has more precision than the currency.
pub(super) fn to_minor(amount: Money, currency: &str) -> Option<i64> {
    let unit = 10_i64.pow(6 - minor_decimals(currency));
    let micros = amount.micros();
    (micros % unit == 0).then_some(micros / unit)
}

pub(super) fn from_minor(minor: i64, currency: &str) -> Option<Money> {
    minor
        .checked_mul(10_i64.pow(6 - minor_decimals(currency)))
        .map(Money::from_micros)
}

async fn call(
    client: &GatewayClient,
    request: reqwest::RequestBuilder,
) -> Result<Value, GatewayError> {
    let request = request.bearer_auth(client.keys().api_key.trim());
    let answer = http::send(request).await?;
    http::json_or_refusal(
        &answer,
        |v| v.pointer("/error/code").and_then(Value::as_str) == Some("resource_missing"),
        |_| format!("HTTP {}", answer.status),
    )
}

pub(super) async fn create_invoice(
    client: &GatewayClient,
    req: &InvoiceRequest<'_>,
) -> Result<Invoice, GatewayError> {
    let currency = req.currency.to_ascii_lowercase();
    let unit_amount = to_minor(req.amount, &currency).ok_or_else(|| {
        GatewayError::NotSent(format!(
            "{} has more decimals than {} allows",
            req.amount.format(2),
            req.currency
        ))
    })?;
    let name = if req.description.trim().is_empty() {
        "Balance top-up"
    } else {
        req.description
    };
    let expires_at = http::now_s() + req.lifetime_s.clamp(MIN_LIFETIME_S, MAX_LIFETIME_S);
    let form: Vec<(&str, String)> = vec![
        ("mode", "payment".into()),
        ("line_items[0][price_data][currency]", currency.clone()),
        (
            "line_items[0][price_data][unit_amount]",
            unit_amount.to_string(),
        ),
        (
            "line_items[0][price_data][product_data][name]",
            name.to_owned(),
        ),
        ("line_items[0][quantity]", "1".into()),
        ("success_url", req.return_url.to_owned()),
        ("cancel_url", req.return_url.to_owned()),
        ("client_reference_id", req.payment_id.to_owned()),
        ("metadata[payment_id]", req.payment_id.to_owned()),
        ("expires_at", expires_at.to_string()),
    ];
    let url = http::url(client, "/v1/checkout/sessions")?;
    let v = call(client, http::http(client).post(url).form(&form)).await?;
    let external_id =
        text(v.get("id")).ok_or_else(|| GatewayError::Garbage(format!("no id in {v}")))?;
    let pay_url =
        text(v.get("url")).ok_or_else(|| GatewayError::Garbage(format!("no url in {v}")))?;
    Ok(Invoice {
        external_id,
        pay_url,
    })
}

/// A session's state, mapped: `status` (open, complete, expired), `payment_status`
/// (paid, unpaid, no_payment_required) and, for a complete session still unpaid (an
/// asynchronous method such as a bank debit), its PaymentIntent's status: back to
/// `requires_payment_method` (or `canceled`) when the payment failed.
pub(super) fn map_status(
    status: &str,
    payment_status: &str,
    intent_status: Option<&str>,
) -> RemoteStatus {
    match (status, payment_status) {
        (_, "paid") | ("complete", "no_payment_required") => RemoteStatus::Paid,
        ("expired", _) => RemoteStatus::Expired,
        ("complete", _) => match intent_status {
            Some("requires_payment_method" | "canceled") => RemoteStatus::Failed,
            _ => RemoteStatus::Pending,
        },
        _ => RemoteStatus::Pending,
    }
}

pub(super) async fn fetch_state(
    client: &GatewayClient,
    payment: &PaymentRef<'_>,
) -> Result<RemoteState, GatewayError> {
    let id = payment.external_id.trim();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(GatewayError::BadUrl(format!("bad session id {id:?}")));
    }
    let url = http::url(
        client,
        &format!("/v1/checkout/sessions/{id}?expand[]=payment_intent"),
    )?;
    let v = call(client, http::http(client).get(url)).await?;
    let status = text(v.get("status")).unwrap_or_default();
    let payment_status = text(v.get("payment_status")).unwrap_or_default();
    if status.is_empty() {
        return Err(GatewayError::Garbage(format!("no status in {v}")));
    }
    let intent = v.get("payment_intent");
    let intent_status = intent.and_then(|i| i.get("status")).and_then(Value::as_str);
    let mapped = map_status(&status, &payment_status, intent_status);
    let currency = text(v.get("currency")).unwrap_or_default();
    let amount = v
        .get("amount_total")
        .and_then(crate::api_v2::int)
        .and_then(|minor| from_minor(minor, &currency));
    let remote_id = match intent {
        Some(Value::String(s)) => Some(s.clone()),
        Some(obj @ Value::Object(_)) => text(obj.get("id")),
        _ => None,
    };
    Ok(RemoteState {
        status: mapped,
        raw_status: format!("{status}/{payment_status}"),
        payment_id: text(v.get("client_reference_id"))
            .or_else(|| text(v.pointer("/metadata/payment_id"))),
        amount,
        currency: (!currency.is_empty()).then(|| currency.to_ascii_uppercase()),
        received: if mapped == RemoteStatus::Paid {
            amount
        } else {
            None
        },
        remote_id,
    })
}

pub(super) fn verify_callback(
    client: &GatewayClient,
    headers: &HeaderMap,
    body: &[u8],
    now_s: i64,
) -> Result<CallbackFacts, CallbackError> {
    let Some(header) = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(CallbackError::Unsigned);
    };
    let mut timestamp: Option<&str> = None;
    let mut signatures: Vec<&str> = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => timestamp = Some(t.trim()),
            Some(("v1", s)) => signatures.push(s.trim()),
            _ => {}
        }
    }
    let (Some(t), false) = (timestamp, signatures.is_empty()) else {
        return Err(CallbackError::Unsigned);
    };
    let t_value: i64 = t
        .parse()
        .map_err(|_| CallbackError::Unreadable(format!("bad timestamp {t:?}")))?;
    let secret = client.keys().webhook_secret.trim();
    if secret.is_empty() {
        return Err(CallbackError::BadSignature);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| CallbackError::BadSignature)?;
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    let expected = mac.finalize().into_bytes();
    let any = signatures.iter().fold(false, |found, s| {
        let matches = hex::decode(s)
            .map(|given| souk_core::secret::constant_time_eq(&given, &expected))
            .unwrap_or(false);
        found | matches
    });
    if !any {
        return Err(CallbackError::BadSignature);
    }
    if (now_s - t_value).abs() > TOLERANCE_S {
        return Err(CallbackError::Stale);
    }
    let event: Value =
        serde_json::from_slice(body).map_err(|e| CallbackError::Unreadable(e.to_string()))?;
    let object = event.pointer("/data/object");
    let field = |name: &str| object.and_then(|o| text(o.get(name)));
    Ok(CallbackFacts {
        payment_id: field("client_reference_id")
            .or_else(|| object.and_then(|o| text(o.pointer("/metadata/payment_id")))),
        external_id: field("id"),
        remote_id: field("payment_intent"),
        status: match (field("status"), field("payment_status")) {
            (Some(s), Some(p)) => format!("{s}/{p}"),
            (s, p) => s.or(p).unwrap_or_default(),
        },
        event: text(event.get("type")),
    })
}

pub(super) async fn check_keys(client: &GatewayClient) -> Result<String, GatewayError> {
    let url = http::url(client, "/v1/balance")?;
    let v = call(client, http::http(client).get(url)).await?;
    let available = v
        .get("available")
        .and_then(Value::as_array)
        .ok_or_else(|| GatewayError::Garbage(format!("no balance in {v}")))?;
    let described: Vec<String> = available
        .iter()
        .filter_map(|row| {
            let currency = text(row.get("currency"))?;
            let minor = row.get("amount").and_then(crate::api_v2::int)?;
            let amount = from_minor(minor, &currency)?;
            Some(format!(
                "{} {}",
                amount.display2(),
                currency.to_ascii_uppercase()
            ))
        })
        .take(5)
        .collect();
    Ok(format!("available balance: {}", described.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::{GatewayKeys, GatewayKind};
    use reqwest::header::HeaderValue;

    fn client(secret: &str) -> GatewayClient {
        GatewayClient::new(
            GatewayKeys {
                kind: GatewayKind::Stripe,
                base_url: "https://api.stripe.com".into(),
                merchant: String::new(),
                api_key: "sk_test_x".into(),
                webhook_secret: secret.into(),
            },
            false,
        )
    }

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            "stripe-signature",
            HeaderValue::from_str(value).expect("header"),
        );
        h
    }

    const BODY: &str = r#"{"id":"evt_1","type":"checkout.session.completed","created":1700000000,"data":{"object":{"id":"cs_test_a1","object":"checkout.session","client_reference_id":"pay_1","status":"complete","payment_status":"paid","payment_intent":"pi_1"}}}"#;

    fn v1(secret: &str, t: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
        mac.update(format!("{t}.{body}").as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    /// Computed outside Rust (Python's hmac) for `BODY` at t=1700000000.
    #[test]
    fn fixed_vector() {
        let sig = "035d65ec9a8554d1fa28f95b0bccdcc92a88adee8c968f233a74cc5f45bf3467";
        assert_eq!(v1("whsec_test", 1_700_000_000, BODY), sig);
        let header = format!("t=1700000000,v1={sig}");
        assert!(client("whsec_test")
            .verify_callback(&headers(&header), BODY.as_bytes(), 1_700_000_100)
            .is_ok());
    }

    #[test]
    fn webhook_signatures() {
        let t = 1_700_000_000;
        let good = v1("whsec_test", t, BODY);
        let other = v1("whsec_old", t, BODY);
        // Several v1: any one matching is enough.
        let header = format!("t={t},v1={other},v1={good},v0=deadbeef");
        let facts = client("whsec_test")
            .verify_callback(&headers(&header), BODY.as_bytes(), t + 10)
            .expect("valid");
        assert_eq!(facts.payment_id.as_deref(), Some("pay_1"));
        assert_eq!(facts.external_id.as_deref(), Some("cs_test_a1"));
        assert_eq!(facts.remote_id.as_deref(), Some("pi_1"));
        assert_eq!(facts.event.as_deref(), Some("checkout.session.completed"));
        assert_eq!(facts.status, "complete/paid");
        // Stale, and from the future.
        for now in [t + TOLERANCE_S + 1, t - TOLERANCE_S - 1] {
            assert_eq!(
                client("whsec_test").verify_callback(&headers(&header), BODY.as_bytes(), now),
                Err(CallbackError::Stale)
            );
        }
        assert!(client("whsec_test")
            .verify_callback(&headers(&header), BODY.as_bytes(), t + TOLERANCE_S)
            .is_ok());
        // Wrong secret, tampered body, no v1, no header.
        assert_eq!(
            client("whsec_nope").verify_callback(&headers(&header), BODY.as_bytes(), t),
            Err(CallbackError::BadSignature)
        );
        let tampered = BODY.replace("pay_1", "pay_2");
        assert_eq!(
            client("whsec_test").verify_callback(&headers(&header), tampered.as_bytes(), t),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            client("whsec_test").verify_callback(&headers(&format!("t={t}")), BODY.as_bytes(), t),
            Err(CallbackError::Unsigned)
        );
        assert_eq!(
            client("whsec_test").verify_callback(&HeaderMap::new(), BODY.as_bytes(), t),
            Err(CallbackError::Unsigned)
        );
        // The timestamp is part of what is signed.
        let shifted = format!("t={},v1={good}", t + 1);
        assert_eq!(
            client("whsec_test").verify_callback(&headers(&shifted), BODY.as_bytes(), t),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn amounts_and_statuses() {
        let m = |s: &str| Money::parse(s).expect("money");
        assert_eq!(to_minor(m("10.50"), "usd"), Some(1050));
        assert_eq!(to_minor(m("1000"), "JPY"), Some(1000));
        assert_eq!(to_minor(m("1000.5"), "jpy"), None);
        assert_eq!(to_minor(m("10.505"), "usd"), None);
        assert_eq!(to_minor(m("1.234"), "KWD"), Some(1234));
        assert_eq!(from_minor(1050, "usd"), Some(m("10.5")));
        assert_eq!(from_minor(1000, "jpy"), Some(m("1000")));
        assert_eq!(map_status("complete", "paid", None), RemoteStatus::Paid);
        assert_eq!(map_status("open", "unpaid", None), RemoteStatus::Pending);
        assert_eq!(map_status("expired", "unpaid", None), RemoteStatus::Expired);
        assert_eq!(
            map_status("complete", "unpaid", Some("processing")),
            RemoteStatus::Pending
        );
        assert_eq!(
            map_status("complete", "unpaid", Some("requires_payment_method")),
            RemoteStatus::Failed
        );
    }
}
