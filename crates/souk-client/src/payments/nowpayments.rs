//! NOWPayments (https://documenter.getpostman.com/view/7907941/S1a32n38): calls carry
//! `x-api-key`; an invoice (`POST /v1/invoice`) gets a payment once the buyer picks a
//! coin on its page, and that payment's state is `GET /v1/payment/{payment_id}`.
//!
//! IPN callbacks are signed in `x-nowpayments-sig`: hex HMAC-SHA512, keyed with the IPN
//! secret, of the body as the documented Node code re-serialises it,
//! `JSON.stringify(sortObject(params))`, where `sortObject` sorts keys recursively (the
//! older one-liner `JSON.stringify(params, Object.keys(params).sort())` used the top
//! level's keys as an allow-list at every depth, emptying nested objects such as `fee`;
//! the documentation replaced it by `sortObject`). That serialisation is mirrored here:
//! JavaScript numbers (`1.50` becomes `1.5`, `1e-7` stays `1e-7`), arrays turned into
//! objects by `sortObject`, integer-like keys first as JavaScript orders them.
//!
//! A lost callback: the payment id only ever reaches Souk in a (verified) IPN. The one
//! documented way from an invoice to its payments, `GET /v1/payment/?invoiceId=`, needs a
//! JWT from `POST /v1/auth` with the dashboard's email and password, which Souk does not
//! hold (and should not: they also authorise payouts). So without a payment id the
//! gateway is not asked and the answer is [`GatewayError::Unknown`]; NOWPayments repeats
//! IPNs that fail, and the operator can resend one from the dashboard.

use hmac::{Hmac, Mac};
use reqwest::header::HeaderMap;
use serde_json::{json, Map, Number, Value};
use sha2::Sha512;

use super::http::{self, decimal, scale_by, text};
use super::{
    CallbackError, CallbackFacts, GatewayClient, GatewayError, Invoice, InvoiceRequest, PaymentRef,
    RemoteState, RemoteStatus,
};

/// Sends a request with the API key and returns the JSON answer of a 2xx.
async fn call(
    client: &GatewayClient,
    request: reqwest::RequestBuilder,
) -> Result<Value, GatewayError> {
    let request = request
        .header("x-api-key", client.keys().api_key.trim())
        .header("Accept", "application/json");
    let answer = http::send(request).await?;
    let code = |v: &Value| text(v.get("code")).unwrap_or_default();
    http::json_or_refusal(&answer, |v| code(v).contains("NOT_FOUND"), code)
}

pub(super) async fn create_invoice(
    client: &GatewayClient,
    req: &InvoiceRequest<'_>,
) -> Result<Invoice, GatewayError> {
    let url = http::url(client, "/v1/invoice")?;
    // A JSON number, exact: the amount's shortest decimal form read as one.
    let price: Number = serde_json::from_str(&req.amount.format(0))
        .map_err(|_| GatewayError::NotSent(format!("bad amount {}", req.amount)))?;
    let body = json!({
        "price_amount": price,
        "price_currency": req.currency.to_ascii_lowercase(),
        "order_id": req.payment_id,
        "order_description": req.description,
        "ipn_callback_url": req.callback_url,
        "success_url": req.return_url,
        "cancel_url": req.return_url,
    });
    let v = call(client, http::http(client).post(url).json(&body)).await?;
    let external_id =
        text(v.get("id")).ok_or_else(|| GatewayError::Garbage(format!("no id in {v}")))?;
    let pay_url = text(v.get("invoice_url"))
        .ok_or_else(|| GatewayError::Garbage(format!("no invoice_url in {v}")))?;
    Ok(Invoice {
        external_id,
        pay_url,
    })
}

pub(super) fn map_status(raw: &str) -> RemoteStatus {
    match raw {
        "finished" => RemoteStatus::Paid,
        "partially_paid" => RemoteStatus::Underpaid,
        "expired" => RemoteStatus::Expired,
        "failed" => RemoteStatus::Failed,
        "refunded" => RemoteStatus::Refunded,
        // waiting, confirming, confirmed, sending ...
        _ => RemoteStatus::Pending,
    }
}

pub(super) async fn fetch_state(
    client: &GatewayClient,
    payment: &PaymentRef<'_>,
) -> Result<RemoteState, GatewayError> {
    let Some(remote_id) = payment.remote_id.map(str::trim).filter(|r| !r.is_empty()) else {
        // See the module's note on lost callbacks.
        return Err(GatewayError::Unknown);
    };
    if !remote_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(GatewayError::BadUrl(format!(
            "bad payment id {remote_id:?}"
        )));
    }
    let url = http::url(client, &format!("/v1/payment/{remote_id}"))?;
    let v = call(client, http::http(client).get(url)).await?;
    // The payment must be one made against this invoice.
    if let Some(invoice) = text(v.get("invoice_id")) {
        if !payment.external_id.is_empty() && invoice != payment.external_id {
            return Err(GatewayError::Garbage(format!(
                "payment {remote_id} belongs to invoice {invoice}, not {}",
                payment.external_id
            )));
        }
    }
    let raw = text(v.get("payment_status"))
        .ok_or_else(|| GatewayError::Garbage(format!("no payment_status in {v}")))?;
    let amount = decimal(v.get("price_amount")).and_then(http::money_of);
    // What arrived in the invoice's (price) currency: the price scaled by the share of
    // the crypto amount asked for that arrived.
    let received = match (
        amount,
        decimal(v.get("actually_paid")),
        decimal(v.get("pay_amount")),
    ) {
        (Some(price), Some(paid), Some(asked)) if paid.0 > 0 => scale_by(price, paid, asked),
        _ => None,
    };
    Ok(RemoteState {
        status: map_status(&raw),
        payment_id: text(v.get("order_id")),
        amount,
        currency: text(v.get("price_currency")).map(|c| c.to_ascii_uppercase()),
        received,
        remote_id: text(v.get("payment_id")).or_else(|| Some(remote_id.to_owned())),
        raw_status: raw,
    })
}

pub(super) fn verify_callback(
    client: &GatewayClient,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<CallbackFacts, CallbackError> {
    let Some(given) = headers
        .get("x-nowpayments-sig")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
    else {
        return Err(CallbackError::Unsigned);
    };
    let data: Value =
        serde_json::from_slice(body).map_err(|e| CallbackError::Unreadable(e.to_string()))?;
    if !data.is_object() {
        return Err(CallbackError::Unreadable("not a JSON object".into()));
    }
    let secret = client.keys().webhook_secret.trim();
    if secret.is_empty() {
        return Err(CallbackError::BadSignature);
    }
    let given = hex::decode(given).map_err(|_| CallbackError::BadSignature)?;
    let mut mac = Hmac::<Sha512>::new_from_slice(secret.as_bytes())
        .map_err(|_| CallbackError::BadSignature)?;
    mac.update(js_sorted_json(&data).as_bytes());
    mac.verify_slice(&given)
        .map_err(|_| CallbackError::BadSignature)?;
    Ok(CallbackFacts {
        payment_id: text(data.get("order_id")),
        external_id: text(data.get("invoice_id")),
        remote_id: text(data.get("payment_id")),
        status: text(data.get("payment_status")).unwrap_or_default(),
        event: None,
    })
}

/// `JSON.stringify(sortObject(v))` as Node computes it.
pub(super) fn js_sorted_json(v: &Value) -> String {
    let mut out = String::new();
    write_sorted(&mut out, v);
    out
}

fn write_sorted(out: &mut String, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&js_number(n)),
        // JSON.stringify escapes strings as serde_json does (quotes, backslashes, control
        // characters as \uXXXX in lower case; `/` and non-ASCII left alone).
        Value::String(s) => out.push_str(&Value::String(s.clone()).to_string()),
        // sortObject turns an array into an object keyed "0", "1" ...
        Value::Array(items) => {
            let map: Map<String, Value> = items
                .iter()
                .enumerate()
                .map(|(i, item)| (i.to_string(), item.clone()))
                .collect();
            write_sorted_object(out, &map);
        }
        Value::Object(map) => write_sorted_object(out, map),
    }
}

fn write_sorted_object(out: &mut String, map: &Map<String, Value>) {
    let mut keys: Vec<&String> = map.keys().collect();
    // Array.prototype.sort compares UTF-16 code units ...
    keys.sort_by(|a, b| a.encode_utf16().cmp(b.encode_utf16()));
    // ... but an object lists its integer-like keys first, in numeric order.
    keys.sort_by_key(|k| array_index(k).map_or((1, 0), |i| (0, i)));
    out.push('{');
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&Value::String((*key).clone()).to_string());
        out.push(':');
        if let Some(item) = map.get(*key) {
            write_sorted(out, item);
        }
    }
    out.push('}');
}

/// A key JavaScript treats as an array index: a canonical number below 2^32 - 1.
fn array_index(key: &str) -> Option<u64> {
    let n: u64 = key.parse().ok()?;
    (n < u64::from(u32::MAX) && n.to_string() == key).then_some(n)
}

/// A JSON number as JavaScript prints it after `JSON.parse` (a double).
pub(super) fn js_number(n: &Number) -> String {
    let f = match n.as_f64() {
        Some(f) if f.is_finite() => f,
        _ => return "null".to_owned(),
    };
    if f == 0.0 {
        return "0".to_owned();
    }
    let sign = if f < 0.0 { "-" } else { "" };
    // Shortest round-trip digits and exponent, as `d.ddde±x`.
    let sci = format!("{:e}", f.abs());
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let Ok(e) = exp.parse::<i64>() else {
        return sci;
    };
    let k = digits.len() as i64;
    let n = e + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        let (int, frac) = digits.split_at(n as usize);
        format!("{int}.{frac}")
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let exp_sign = if n > 0 { "+" } else { "-" };
        let dot = if rest.is_empty() { "" } else { "." };
        format!("{first}{dot}{rest}e{exp_sign}{}", (n - 1).abs())
    };
    format!("{sign}{body}")
}

pub(super) async fn check_keys(client: &GatewayClient) -> Result<String, GatewayError> {
    // `GET /v1/status` takes no key; the coins enabled for the account need it.
    let url = http::url(client, "/v1/merchant/coins")?;
    let v = call(client, http::http(client).get(url)).await?;
    let count = v
        .get("selectedCurrencies")
        .or_else(|| v.get("currencies"))
        .and_then(Value::as_array)
        .map(Vec::len)
        .ok_or_else(|| GatewayError::Garbage(format!("no currencies in {v}")))?;
    Ok(format!("API key accepted; {count} coins enabled"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::{GatewayKeys, GatewayKind};
    use reqwest::header::HeaderValue;

    fn client(secret: &str) -> GatewayClient {
        GatewayClient::new(
            GatewayKeys {
                kind: GatewayKind::NowPayments,
                base_url: "https://api.nowpayments.io".into(),
                merchant: String::new(),
                api_key: "KEY".into(),
                webhook_secret: secret.into(),
            },
            false,
        )
    }

    #[test]
    fn javascript_numbers() {
        let cases = [
            ("1.50", "1.5"),
            ("15", "15"),
            ("0.0000001", "1e-7"),
            ("0.000001", "0.000001"),
            ("1e21", "1e+21"),
            ("123456789012345678901", "123456789012345680000"),
            ("-2.5", "-2.5"),
            ("0.09853637216235617", "0.09853637216235617"),
            ("14.8106", "14.8106"),
            ("5745459419", "5745459419"),
        ];
        for (raw, js) in cases {
            let n: Number = serde_json::from_str(raw).expect("number");
            assert_eq!(js_number(&n), js, "{raw}");
        }
    }

    #[test]
    fn sorted_serialisation() {
        let v: Value = serde_json::from_str(
            r#"{"payment_id":5077125051,"price_amount":"1.50","b":[3,{"z":1,"a":"x/y"}],"fee":{"withdrawalFee":0,"currency":"btc","depositFee":0.09853637216235617},"10":1,"2":2,"order_id":"pay_1","actually_paid":1.0,"n":null}"#,
        )
        .expect("json");
        assert_eq!(
            js_sorted_json(&v),
            r#"{"2":2,"10":1,"actually_paid":1,"b":{"0":3,"1":{"a":"x/y","z":1}},"fee":{"currency":"btc","depositFee":0.09853637216235617,"withdrawalFee":0},"n":null,"order_id":"pay_1","payment_id":5077125051,"price_amount":"1.50"}"#
        );
    }

    /// A fixed vector: the signature Node computes for this body with secret "secret".
    #[test]
    fn ipn_signature() {
        let body = br#"{"payment_id":5077125051,"payment_status":"finished","pay_address":"TNDF","price_amount":5,"price_currency":"usd","pay_amount":"165.652609","actually_paid":180,"pay_currency":"trx","order_id":"pay_1","invoice_id":4522625843,"fee":{"currency":"trx","depositFee":0.5,"withdrawalFee":0,"serviceFee":0}}"#;
        let canonical = r#"{"actually_paid":180,"fee":{"currency":"trx","depositFee":0.5,"serviceFee":0,"withdrawalFee":0},"invoice_id":4522625843,"order_id":"pay_1","pay_address":"TNDF","pay_amount":"165.652609","pay_currency":"trx","payment_id":5077125051,"payment_status":"finished","price_amount":5,"price_currency":"usd"}"#;
        let v: Value = serde_json::from_slice(body).expect("json");
        assert_eq!(js_sorted_json(&v), canonical);
        // Computed outside Rust (Python's hmac over the canonical string).
        let sig = "cde77d47293b4d35718eac3d4d946fc1f4a46405d823df74c5e14ad2cbd4fe02fea1fdb28660d27c51e8858c6909f1da99e45caaeafe2b68f22f0d8f2bc17cea";
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-nowpayments-sig",
            HeaderValue::from_str(sig).expect("header"),
        );
        let facts = client("secret")
            .verify_callback(&headers, body, 0)
            .expect("valid");
        assert_eq!(facts.remote_id.as_deref(), Some("5077125051"));
        assert_eq!(facts.external_id.as_deref(), Some("4522625843"));
        assert_eq!(facts.payment_id.as_deref(), Some("pay_1"));
        assert_eq!(facts.status, "finished");
        assert_eq!(
            client("other").verify_callback(&headers, body, 0),
            Err(CallbackError::BadSignature)
        );
        assert_eq!(
            client("secret").verify_callback(&HeaderMap::new(), body, 0),
            Err(CallbackError::Unsigned)
        );
        let tampered = String::from_utf8_lossy(body).replace("180", "181");
        assert_eq!(
            client("secret").verify_callback(&headers, tampered.as_bytes(), 0),
            Err(CallbackError::BadSignature)
        );
    }

    #[test]
    fn statuses() {
        for (raw, status) in [
            ("waiting", RemoteStatus::Pending),
            ("confirming", RemoteStatus::Pending),
            ("confirmed", RemoteStatus::Pending),
            ("sending", RemoteStatus::Pending),
            ("finished", RemoteStatus::Paid),
            ("partially_paid", RemoteStatus::Underpaid),
            ("expired", RemoteStatus::Expired),
            ("failed", RemoteStatus::Failed),
            ("refunded", RemoteStatus::Refunded),
        ] {
            assert_eq!(map_status(raw), status, "{raw}");
        }
    }
}
