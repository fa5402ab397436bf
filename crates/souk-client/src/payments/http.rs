//! What the three gateway clients share: building a call's URL under the operator's base
//! URL (refusing private destinations unless allowed), sending it bounded by
//! [`CALL_TIMEOUT`], reading at most [`MAX_ANSWER_BYTES`] of the answer, reading sloppy
//! JSON and the statuses of REST answers, and exact decimal ratios.

use reqwest::{RequestBuilder, Url};
use serde_json::Value;
use souk_core::Money;

use super::{GatewayClient, GatewayError, CALL_TIMEOUT, MAX_ANSWER_BYTES};
use crate::guard::{check_literal_host, refused_host, shared_client, GuardError};

/// A gateway's answer: its status and (at most [`MAX_ANSWER_BYTES`] of) its body.
pub(super) struct Answer {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON, whatever the content type said.
    pub fn json(&self) -> Result<Value, GatewayError> {
        let trimmed = self.body.trim_ascii();
        if trimmed.is_empty() {
            return Err(GatewayError::Garbage(format!(
                "empty answer (HTTP {})",
                self.status
            )));
        }
        serde_json::from_slice(trimmed).map_err(|_| GatewayError::Garbage(self.snippet()))
    }

    /// The start of the body, for error messages.
    pub fn snippet(&self) -> String {
        let trimmed = self.body.trim_ascii();
        let mut end = trimmed.len().min(120);
        // Cut on a character boundary.
        while end > 0 && std::str::from_utf8(&trimmed[..end]).is_err() {
            end -= 1;
        }
        String::from_utf8_lossy(&trimmed[..end]).into_owned()
    }
}

/// The JSON of a REST gateway's 2xx answer. A 5xx (or a refusal that is not JSON) is
/// `Http`; a 404, or a refusal `missing` recognises, `Unknown`; another 4xx is `Refused`
/// in the gateway's words (its message, else what `fallback` makes of the body).
pub(super) fn json_or_refusal(
    answer: &Answer,
    missing: impl Fn(&Value) -> bool,
    fallback: impl Fn(&Value) -> String,
) -> Result<Value, GatewayError> {
    if answer.status >= 500 {
        return Err(GatewayError::Http(answer.status));
    }
    let parsed = answer.json();
    if answer.status == 404 {
        return Err(GatewayError::Unknown);
    }
    if answer.status >= 400 {
        return Err(match parsed {
            Ok(v) if missing(&v) => GatewayError::Unknown,
            Ok(v) => GatewayError::Refused(refusal(&v).unwrap_or_else(|| fallback(&v))),
            Err(_) => GatewayError::Http(answer.status),
        });
    }
    parsed
}

/// `{base}{path}` for this client, checked against the destination policy.
pub(super) fn url(client: &GatewayClient, path: &str) -> Result<Url, GatewayError> {
    let base = client.keys().base_url.trim().trim_end_matches('/');
    let url =
        Url::parse(&format!("{base}{path}")).map_err(|e| GatewayError::BadUrl(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(GatewayError::BadUrl(format!(
            "unsupported scheme {}",
            url.scheme()
        )));
    }
    if !client.allow_private() {
        check_literal_host(&url)?;
    }
    Ok(url)
}

/// The shared guarded client for this gateway's policy.
pub(super) fn http(client: &GatewayClient) -> reqwest::Client {
    shared_client(client.allow_private())
}

/// Sends a request and reads its answer, both within [`CALL_TIMEOUT`].
pub(super) async fn send(request: RequestBuilder) -> Result<Answer, GatewayError> {
    let call = async {
        let mut response = match request.timeout(CALL_TIMEOUT).send().await {
            Ok(r) => r,
            Err(e) => return Err(send_error(&e)),
        };
        let status = response.status().as_u16();
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_ANSWER_BYTES.saturating_sub(body.len());
                    body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    if chunk.len() > room {
                        // The rest is not read: the answer is cut, which its JSON shows.
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) if e.is_timeout() => return Err(GatewayError::Timeout),
                Err(e) => return Err(GatewayError::Garbage(format!("answer cut: {e}"))),
            }
        }
        Ok(Answer { status, body })
    };
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result,
        Err(_) => Err(GatewayError::Timeout),
    }
}

fn send_error(e: &reqwest::Error) -> GatewayError {
    match refused_host(e) {
        // Names are checked as they resolve, for the connection itself.
        Some(host) => GatewayError::Destination(GuardError::Private(host)),
        None if e.is_connect() => GatewayError::NotSent(e.to_string()),
        None if e.is_builder() => GatewayError::BadUrl(e.to_string()),
        None if e.is_timeout() => GatewayError::Timeout,
        // Sent, answer lost: the gateway may have acted on it.
        None => GatewayError::Timeout,
    }
}

/// Text of a field that may be a string or a number (ids arrive as both).
pub(super) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An exact decimal, as a JSON string or number (`"0.17070286"`, `165.652609`, `1e-7`):
/// its digits and how many of them are decimals. `None` for anything else, negatives
/// included (no gateway amount is negative).
pub(super) fn decimal(v: Option<&Value>) -> Option<(i128, u32)> {
    let raw = match v? {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    parse_decimal(&raw)
}

pub(super) fn parse_decimal(raw: &str) -> Option<(i128, u32)> {
    let (mantissa, exponent) = match raw.find(['e', 'E']) {
        Some(i) => (&raw[..i], raw[i + 1..].parse::<i32>().ok()?),
        None => (raw, 0),
    };
    let mantissa = mantissa.strip_prefix('+').unwrap_or(mantissa);
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if (int_part.is_empty() && frac_part.is_empty())
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let frac_part = frac_part.trim_end_matches('0');
    let digits = format!("{int_part}{frac_part}");
    let digits = digits.trim_start_matches('0');
    // 30 significant digits are more than any amount has; more would overflow.
    if digits.len() > 30 {
        return None;
    }
    let mut value: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let mut scale = i32::try_from(frac_part.len()).ok()? - exponent;
    while scale < 0 {
        value = value.checked_mul(10)?;
        scale += 1;
    }
    // Beyond 18 decimals nothing is money: cut (down) to 18.
    while scale > 18 {
        value /= 10;
        scale -= 1;
    }
    Some((value, u32::try_from(scale).ok()?))
}

/// A decimal as [`Money`], rounded down to the micro-unit.
pub(super) fn money_of(d: (i128, u32)) -> Option<Money> {
    let (value, scale) = d;
    let micros = if scale <= 6 {
        value.checked_mul(10_i128.pow(6 - scale))?
    } else {
        value / 10_i128.pow(scale - 6)
    };
    i64::try_from(micros).ok().map(Money::from_micros)
}

/// `amount * numerator / denominator`, rounded down to the micro-unit: what arrived in
/// the invoice's currency when `numerator` of `denominator` (both in the payer's
/// currency) arrived. `None` when the denominator is zero.
pub(super) fn scale_by(
    amount: Money,
    numerator: (i128, u32),
    denominator: (i128, u32),
) -> Option<Money> {
    let (n, ns) = numerator;
    let (d, ds) = denominator;
    if d <= 0 || n < 0 {
        return None;
    }
    // Same scale for both: n / 10^ns over d / 10^ds = n * 10^ds / (d * 10^ns).
    let top = i128::from(amount.micros())
        .checked_mul(n)?
        .checked_mul(10_i128.checked_pow(ds)?)?;
    let bottom = d.checked_mul(10_i128.checked_pow(ns)?)?;
    i64::try_from(top.div_euclid(bottom))
        .ok()
        .map(Money::from_micros)
}

/// The message of a gateway's refusal, from the shapes they use
/// (`{"message": ...}`, `{"error": {"message": ...}}`, `{"errors": {...}}`).
pub(super) fn refusal(v: &Value) -> Option<String> {
    if let Some(m) = v.pointer("/error/message").and_then(Value::as_str) {
        return Some(m.to_owned());
    }
    if let Some(m) = v.get("message").and_then(Value::as_str) {
        return Some(m.to_owned());
    }
    if let Some(e) = v.get("errors").filter(|e| !e.is_null()) {
        return Some(e.to_string());
    }
    match v.get("error") {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Unix seconds now.
pub(super) fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_and_ratios() {
        assert_eq!(parse_decimal("15.7500"), Some((1575, 2)));
        assert_eq!(parse_decimal("1e-7"), Some((1, 7)));
        assert_eq!(parse_decimal("0.17070286"), Some((17070286, 8)));
        assert_eq!(parse_decimal("180"), Some((180, 0)));
        assert_eq!(parse_decimal("-1"), None);
        assert_eq!(parse_decimal("1.2.3"), None);
        assert_eq!(parse_decimal(""), None);
        let five = Money::parse("5").expect("money");
        // 5 USD billed as 165.652609 TRX, 180 TRX arrived: 5.433... USD.
        let got = scale_by(
            five,
            parse_decimal("180").expect("d"),
            parse_decimal("165.652609").expect("d"),
        );
        assert_eq!(got, Money::parse("5.433056").ok());
        assert_eq!(scale_by(five, (1, 0), (0, 0)), None);
        assert_eq!(money_of((123456789, 8)), Money::parse("1.234567").ok());
    }
}
