//! Cryptomus (https://doc.cryptomus.com): every call is a JSON POST with the headers
//! `merchant: <uuid>` and `sign: md5(base64(body) + api_key)`, answered
//! `{"state": 0, "result": {...}}` (or `state: 1` with `message` / `errors`).
//!
//! Callbacks carry their signature in the body's `sign` field: md5 of base64 of the body
//! *without* `sign`, re-encoded as PHP's `json_encode` writes it, plus the API key. The
//! documented check is `json_encode($data, JSON_UNESCAPED_UNICODE)`: slashes written
//! `\/`, non-ASCII text as UTF-8. Senders built on plain `json_encode` write non-ASCII as
//! `\uXXXX`; both forms are accepted (each needs the key, so neither weakens the check).

use base64::Engine as _;
use md5::{Digest as _, Md5};
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Value};
use souk_core::Money;

use super::http::{self, decimal, scale_by, text};
use super::{
    CallbackError, CallbackFacts, GatewayClient, GatewayError, Invoice, InvoiceRequest, PaymentRef,
    RemoteState, RemoteStatus,
};

/// Cryptomus accepts invoice lifetimes from 5 minutes to 12 hours.
const MIN_LIFETIME_S: i64 = 300;
const MAX_LIFETIME_S: i64 = 43_200;

/// md5 hex of base64(data) + key: the request and callback signature.
fn sign(data: &[u8], key: &str) -> String {
    let mut hasher = Md5::new();
    hasher.update(base64::engine::general_purpose::STANDARD.encode(data));
    hasher.update(key.as_bytes());
    hex::encode(hasher.finalize())
}

/// POSTs a signed JSON body to `path` and returns the `result` of a `state: 0` answer.
async fn call(client: &GatewayClient, path: &str, body: &Value) -> Result<Value, GatewayError> {
    let url = http::url(client, path)?;
    let keys = client.keys();
    let bytes = serde_json::to_vec(body).map_err(|e| GatewayError::NotSent(e.to_string()))?;
    let request = http::http(client)
        .post(url)
        .header("merchant", keys.merchant.trim())
        .header("sign", sign(&bytes, keys.api_key.trim()))
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(bytes);
    let answer = http::send(request).await?;
    if answer.status >= 500 {
        return Err(GatewayError::Http(answer.status));
    }
    let v = match answer.json() {
        Ok(v) => v,
        Err(_) if answer.status >= 400 => return Err(GatewayError::Http(answer.status)),
        Err(e) => return Err(e),
    };
    if answer.status == 404 {
        return Err(GatewayError::Unknown);
    }
    let state = v.get("state").and_then(crate::api_v2::int);
    if answer.status >= 400 || state != Some(0) {
        let message = http::refusal(&v).unwrap_or_else(|| answer.snippet());
        if message.to_ascii_lowercase().contains("not found") {
            return Err(GatewayError::Unknown);
        }
        return Err(GatewayError::Refused(message));
    }
    match v.get("result") {
        Some(result) if !result.is_null() => Ok(result.clone()),
        _ => Err(GatewayError::Garbage(answer.snippet())),
    }
}

pub(super) async fn create_invoice(
    client: &GatewayClient,
    req: &InvoiceRequest<'_>,
) -> Result<Invoice, GatewayError> {
    let body = json!({
        "amount": req.amount.display2(),
        "currency": req.currency.to_ascii_uppercase(),
        "order_id": req.payment_id,
        "url_callback": req.callback_url,
        "url_return": req.return_url,
        "url_success": req.return_url,
        "lifetime": req.lifetime_s.clamp(MIN_LIFETIME_S, MAX_LIFETIME_S),
        "additional_data": req.description,
    });
    let result = call(client, "/v1/payment", &body).await?;
    let external_id = text(result.get("uuid"))
        .ok_or_else(|| GatewayError::Garbage(format!("no uuid in {result}")))?;
    let pay_url = text(result.get("url"))
        .ok_or_else(|| GatewayError::Garbage(format!("no url in {result}")))?;
    Ok(Invoice {
        external_id,
        pay_url,
    })
}

/// A Cryptomus status word, mapped. `is_final` decides the refund words: a refund still
/// under way (or one that failed and may be retried) is not yet a refund.
pub(super) fn map_status(raw: &str, is_final: bool) -> RemoteStatus {
    match raw {
        "paid" | "paid_over" => RemoteStatus::Paid,
        "wrong_amount" => RemoteStatus::Underpaid,
        "cancel" => RemoteStatus::Expired,
        "fail" | "system_fail" => RemoteStatus::Failed,
        "refund_paid" => RemoteStatus::Refunded,
        r if r.starts_with("refund_") && is_final => RemoteStatus::Refunded,
        // process, check, confirm_check, wrong_amount_waiting, refund_process, locked ...
        _ => RemoteStatus::Pending,
    }
}

fn is_final(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_i64() == Some(1),
        Some(Value::String(s)) => matches!(s.trim(), "1" | "true"),
        _ => false,
    }
}

/// What arrived, in the invoice's currency.
///
/// Cryptomus states the invoice `amount` in the invoice `currency`; `payer_amount` is
/// what the payer was asked to send in `payer_currency` (the invoice converted, discount
/// or surcharge included) and `payment_amount` what the payer actually sent, in the same
/// `payer_currency`. So `amount * payment_amount / payer_amount` is what arrived,
/// expressed in the invoice currency at the invoice's own rate. `payment_amount_usd` is
/// in USD whatever the invoice currency (and only in callbacks), and `merchant_amount`
/// has commissions taken off: neither is the invoice's measure.
fn received(result: &Value, amount: Option<Money>) -> Option<Money> {
    let amount = amount?;
    let paid = decimal(result.get("payment_amount"))?;
    if paid.0 == 0 {
        return None;
    }
    let asked = decimal(result.get("payer_amount"))?;
    scale_by(amount, paid, asked)
}

pub(super) async fn fetch_state(
    client: &GatewayClient,
    payment: &PaymentRef<'_>,
) -> Result<RemoteState, GatewayError> {
    let body = if payment.external_id.trim().is_empty() {
        json!({ "order_id": payment.payment_id })
    } else {
        json!({ "uuid": payment.external_id })
    };
    let result = call(client, "/v1/payment/info", &body).await?;
    // `payment_status` is the payment's own state; `status` the invoice's (callbacks
    // only carry `status`).
    let raw = text(result.get("payment_status"))
        .or_else(|| text(result.get("status")))
        .ok_or_else(|| GatewayError::Garbage(format!("no status in {result}")))?;
    let amount = decimal(result.get("amount")).and_then(http::money_of);
    Ok(RemoteState {
        status: map_status(&raw, is_final(result.get("is_final"))),
        payment_id: text(result.get("order_id")),
        amount,
        currency: text(result.get("currency")).map(|c| c.to_ascii_uppercase()),
        received: received(&result, amount),
        remote_id: None,
        raw_status: raw,
    })
}

pub(super) fn verify_callback(
    client: &GatewayClient,
    _headers: &HeaderMap,
    body: &[u8],
) -> Result<CallbackFacts, CallbackError> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| CallbackError::Unreadable(e.to_string()))?;
    let Value::Object(mut map) = value else {
        return Err(CallbackError::Unreadable("not a JSON object".into()));
    };
    let Some(Value::String(given)) = map.remove("sign") else {
        return Err(CallbackError::Unsigned);
    };
    let key = client.keys().api_key.trim();
    if key.is_empty() {
        return Err(CallbackError::BadSignature);
    }
    let data = Value::Object(map);
    let given = given.trim().to_ascii_lowercase();
    let matches = [false, true].iter().any(|&escape_unicode| {
        let expected = sign(php_json(&data, escape_unicode).as_bytes(), key);
        souk_core::secret::constant_time_eq(expected.as_bytes(), given.as_bytes())
    });
    if !matches {
        return Err(CallbackError::BadSignature);
    }
    Ok(CallbackFacts {
        payment_id: text(data.get("order_id")),
        external_id: text(data.get("uuid")),
        remote_id: None,
        status: text(data.get("status")).unwrap_or_default(),
        event: text(data.get("type")),
    })
}

/// `json_encode($data)` of PHP (7.1+) for what `json_decode($body, true)` made of a
/// body: slashes escaped, `\u2028`/`\u2029` escaped, non-ASCII escaped as `\uXXXX` only
/// when `escape_unicode` (no `JSON_UNESCAPED_UNICODE`); objects that decode to empty or
/// sequential arrays written as lists, as PHP cannot tell them apart.
pub(super) fn php_json(v: &Value, escape_unicode: bool) -> String {
    let mut out = String::new();
    write_php(&mut out, v, escape_unicode);
    out
}

fn write_php(out: &mut String, v: &Value, escape_unicode: bool) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_php_string(out, s, escape_unicode),
        Value::Array(items) => write_php_list(out, items.iter(), escape_unicode),
        Value::Object(map) if is_php_list(map) => write_php_list(out, map.values(), escape_unicode),
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_php_string(out, k, escape_unicode);
                out.push(':');
                write_php(out, item, escape_unicode);
            }
            out.push('}');
        }
    }
}

fn write_php_list<'a>(out: &mut String, items: impl Iterator<Item = &'a Value>, escape: bool) {
    out.push('[');
    for (i, item) in items.enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_php(out, item, escape);
    }
    out.push(']');
}

/// `{}` and `{"0": .., "1": ..}` decode to PHP arrays that encode as lists.
fn is_php_list(map: &Map<String, Value>) -> bool {
    map.keys().enumerate().all(|(i, k)| *k == i.to_string())
}

fn write_php_string(out: &mut String, s: &str, escape_unicode: bool) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if escape_unicode && !c.is_ascii() => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

pub(super) async fn check_keys(client: &GatewayClient) -> Result<String, GatewayError> {
    let result = call(client, "/v1/balance", &json!({})).await?;
    // `[{"balance": {"merchant": [{"balance": "0.00", "currency_code": "USDT"}, ...]}}]`
    let merchant = result
        .pointer("/0/balance/merchant")
        .or_else(|| result.pointer("/balance/merchant"))
        .and_then(Value::as_array);
    let described: Vec<String> = merchant
        .map(|rows| {
            rows.iter()
                .filter_map(|row| {
                    let amount = text(row.get("balance"))?;
                    let currency = text(row.get("currency_code"))?;
                    http::parse_decimal(&amount)
                        .is_some_and(|d| d.0 > 0)
                        .then(|| format!("{amount} {currency}"))
                })
                .take(5)
                .collect()
        })
        .unwrap_or_default();
    Ok(if described.is_empty() {
        "merchant balance read (nothing held)".to_owned()
    } else {
        format!("merchant balance: {}", described.join(", "))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::{GatewayKeys, GatewayKind};

    fn client(key: &str) -> GatewayClient {
        GatewayClient::new(
            GatewayKeys {
                kind: GatewayKind::Cryptomus,
                base_url: "https://api.cryptomus.com".into(),
                merchant: "8b03432e-385b-4670-8d06-064591096795".into(),
                api_key: key.into(),
                webhook_secret: String::new(),
            },
            false,
        )
    }

    #[test]
    fn request_signature_vector() {
        // md5(base64('{"amount":"15"}') . "key"), computed outside Rust.
        assert_eq!(
            sign(br#"{"amount":"15"}"#, "key"),
            "cb979c62803449b51373c03791a5de1b"
        );
        assert_eq!(sign(b"", "k"), hex::encode(Md5::digest(b"k")));
    }

    #[test]
    fn php_encoding() {
        let v: Value = serde_json::from_str(
            r#"{"url":"https://souk.example/a/b","text":"Пополнение €\u2028","n":1.5,"e":{},"l":{"0":"x","1":"y"},"o":{"a":null,"b":true}}"#,
        )
        .expect("json");
        assert_eq!(
            php_json(&v, false),
            r#"{"url":"https:\/\/souk.example\/a\/b","text":"Пополнение €\u2028","n":1.5,"e":[],"l":["x","y"],"o":{"a":null,"b":true}}"#
        );
        assert_eq!(
            php_json(&v, true),
            r#"{"url":"https:\/\/souk.example\/a\/b","text":"\u041f\u043e\u043f\u043e\u043b\u043d\u0435\u043d\u0438\u0435 \u20ac\u2028","n":1.5,"e":[],"l":["x","y"],"o":{"a":null,"b":true}}"#
        );
        let astral: Value = serde_json::from_str(r#""😀""#).expect("json");
        assert_eq!(php_json(&astral, true), r#""\ud83d\ude00""#);
    }

    /// A callback signed as the documentation's PHP signs it, key order kept, with a URL
    /// and non-ASCII text.
    #[test]
    fn callback_signature() {
        let key = "uQ4LFWCBE3dT84uQnt7ycL7p9WcSwjkSPQaZbik3ChoWO0egw51f4EAa";
        // The exact string PHP's json_encode($data, JSON_UNESCAPED_UNICODE) writes.
        let php = r#"{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"pay_1","amount":"15.00","payment_amount":"15.75","status":"paid","is_final":true,"additional_data":"Пополнение https:\/\/souk.example\/me","from":null}"#;
        // Computed outside Rust (Python: md5(b64encode(php) + key)).
        let signature = "754cbc82f488cbd4c77137dc9b482e0e";
        assert_eq!(sign(php.as_bytes(), key), signature);
        // What arrives: unescaped slashes, sign last.
        let body = format!(
            r#"{{"type":"payment","uuid":"62f88b36-a9d5-4fa6-aa26-e040c3dbf26d","order_id":"pay_1","amount":"15.00","payment_amount":"15.75","status":"paid","is_final":true,"additional_data":"Пополнение https://souk.example/me","from":null,"sign":"{signature}"}}"#
        );
        let facts = client(key)
            .verify_callback(&HeaderMap::new(), body.as_bytes(), 0)
            .expect("valid");
        assert_eq!(facts.payment_id.as_deref(), Some("pay_1"));
        assert_eq!(
            facts.external_id.as_deref(),
            Some("62f88b36-a9d5-4fa6-aa26-e040c3dbf26d")
        );
        assert_eq!(facts.status, "paid");
        assert_eq!(
            client("other")
                .verify_callback(&HeaderMap::new(), body.as_bytes(), 0)
                .expect_err("wrong key"),
            CallbackError::BadSignature
        );
        // A changed field breaks it.
        let tampered = body.replace("15.75", "16.75");
        assert_eq!(
            client(key)
                .verify_callback(&HeaderMap::new(), tampered.as_bytes(), 0)
                .expect_err("tampered"),
            CallbackError::BadSignature
        );
        assert_eq!(
            client(key)
                .verify_callback(&HeaderMap::new(), br#"{"status":"paid"}"#, 0)
                .expect_err("unsigned"),
            CallbackError::Unsigned
        );
        assert!(matches!(
            client(key).verify_callback(&HeaderMap::new(), b"nope", 0),
            Err(CallbackError::Unreadable(_))
        ));
    }

    #[test]
    fn statuses_and_received() {
        assert_eq!(map_status("paid_over", true), RemoteStatus::Paid);
        assert_eq!(map_status("wrong_amount", true), RemoteStatus::Underpaid);
        assert_eq!(map_status("cancel", true), RemoteStatus::Expired);
        assert_eq!(map_status("system_fail", true), RemoteStatus::Failed);
        assert_eq!(map_status("refund_paid", true), RemoteStatus::Refunded);
        assert_eq!(map_status("refund_process", false), RemoteStatus::Pending);
        assert_eq!(
            map_status("wrong_amount_waiting", false),
            RemoteStatus::Pending
        );
        assert_eq!(map_status("confirm_check", false), RemoteStatus::Pending);
        let result = json!({"amount": "15.00", "payer_amount": "15.75", "payment_amount": "7.875"});
        let amount = Money::parse("15").ok();
        assert_eq!(received(&result, amount), Money::parse("7.5").ok());
        let unpaid = json!({"amount": "15.00", "payer_amount": "15.75", "payment_amount": "0.00"});
        assert_eq!(received(&unpaid, amount), None);
        let missing = json!({"amount": "15.00", "payer_amount": null, "payment_amount": null});
        assert_eq!(received(&missing, amount), None);
    }
}
