//! SMS verification (SPEC 10): the activation lifecycle, the cancel rule, `add_sms`
//! parameters, phone and country codes, code extraction from an SMS, the gateway webhook
//! signature, and the small formats of the sms-activate protocol. No I/O.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::early_cancel::Reason;
use crate::error::ApiError;
use crate::money::Money;
use crate::order::OrderStatus;
use crate::params::{parse_count, Params};

/// How long an activation waits for an SMS unless the operator says otherwise.
pub const DEFAULT_LIFETIME_MINUTES: i64 = 20;
/// The operator setting that overrides [`DEFAULT_LIFETIME_MINUTES`].
pub const LIFETIME_SETTING: &str = "sms_lifetime_minutes";
/// The longest lifetime the operator may set: a day.
pub const MAX_LIFETIME_MINUTES: i64 = 24 * 60;
/// A buyer may cancel an activation this long after renting it, and not before.
pub const CANCEL_AFTER_MS: i64 = 2 * 60 * 1000;
/// The most numbers one `add_sms` rents.
pub const MAX_QUANTITY: i64 = 10;
/// How far a webhook's timestamp may be from our clock, either way.
pub const SIGNATURE_TOLERANCE_MS: i64 = 5 * 60 * 1000;
/// The webhook's timestamp header (unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-souk-timestamp";
/// The webhook's signature header: `sha256=` and the hex HMAC.
pub const SIGNATURE_HEADER: &str = "x-souk-signature";

/// Where an activation stands (SPEC 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivationStatus {
    /// Rented, waiting for an SMS.
    Active,
    /// A code arrived; more SMS may follow until the activation completes.
    CodeReceived,
    /// Done: the code was delivered and the number released.
    Completed,
    /// No code within the lifetime: refunded in full.
    Expired,
    /// Cancelled by the buyer (or the upstream) before a code: refunded in full.
    Canceled,
}

impl ActivationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ActivationStatus::Active => "active",
            ActivationStatus::CodeReceived => "code_received",
            ActivationStatus::Completed => "completed",
            ActivationStatus::Expired => "expired",
            ActivationStatus::Canceled => "canceled",
        }
    }

    pub fn parse(text: &str) -> Option<ActivationStatus> {
        Some(match text {
            "active" => ActivationStatus::Active,
            "code_received" => ActivationStatus::CodeReceived,
            "completed" => ActivationStatus::Completed,
            "expired" => ActivationStatus::Expired,
            "canceled" => ActivationStatus::Canceled,
            _ => return None,
        })
    }

    /// The status of the activation's order: waiting is `In progress`, a code is a
    /// delivery, an expiry or a cancel is a full refund.
    pub fn order_status(self) -> OrderStatus {
        match self {
            ActivationStatus::Active => OrderStatus::Processing,
            ActivationStatus::CodeReceived | ActivationStatus::Completed => OrderStatus::Completed,
            ActivationStatus::Expired | ActivationStatus::Canceled => OrderStatus::Canceled,
        }
    }

    /// Still holds its number: SMS for it are attributed to it.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ActivationStatus::Active | ActivationStatus::CodeReceived
        )
    }
}

/// The cancel rule of SPEC 10: after [`CANCEL_AFTER_MS`] and before any code.
pub fn cancel_rule(status: ActivationStatus, created_at: i64, now: i64) -> Result<(), Reason> {
    match status {
        ActivationStatus::Active if now < created_at + CANCEL_AFTER_MS => {
            Err(Reason::BeforeMinWait(created_at + CANCEL_AFTER_MS))
        }
        ActivationStatus::Active => Ok(()),
        ActivationStatus::CodeReceived | ActivationStatus::Completed => Err(Reason::FullyDelivered),
        ActivationStatus::Expired | ActivationStatus::Canceled => Err(Reason::StatusNotEligible),
    }
}

/// A validated `add_sms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddSms {
    /// A project's entity id or its short code (`tg`), as given.
    pub project: String,
    pub quantity: i64,
    /// ISO 3166-1 alpha-2, lower case.
    pub country: Option<String>,
    /// E.164 with `+`.
    pub phone: Option<String>,
}

pub fn parse_add_sms(params: &Params) -> Result<AddSms, ApiError> {
    let project = params
        .get("project_id")
        .or_else(|| params.get("project"))
        .ok_or(ApiError::SmsProjectRequired)?
        .to_ascii_lowercase();
    let quantity = match params.get("quantity") {
        None => 1,
        Some(text) => {
            let q = parse_count(text).ok_or(ApiError::InvalidQuantity)?;
            if !(1..=MAX_QUANTITY as u64).contains(&q) {
                return Err(ApiError::QuantityOutOfRange(1, MAX_QUANTITY));
            }
            q as i64
        }
    };
    let country = params
        .get("country")
        .map(|c| normalize_country(c).ok_or(ApiError::SmsCountryNotFound))
        .transpose()?;
    let phone = params
        .get("phone")
        .map(|p| normalize_phone(p).ok_or(ApiError::InvalidField("phone")))
        .transpose()?;
    if phone.is_some() && quantity != 1 {
        return Err(ApiError::SmsPhoneWithQuantity);
    }
    Ok(AddSms {
        project,
        quantity,
        country,
        phone,
    })
}

/// A phone number as stored: `+` and 7 to 15 digits (E.164). Spaces, dashes, dots and
/// parentheses are dropped; a leading `00` counts as `+`.
pub fn normalize_phone(text: &str) -> Option<String> {
    let t = text.trim();
    let t = t.strip_prefix("00").map_or(t, |rest| rest);
    let mut digits = String::with_capacity(16);
    for c in t.chars() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if digits.is_empty() => {}
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return None,
        }
    }
    (7..=15)
        .contains(&digits.len())
        .then(|| format!("+{digits}"))
}

/// A country code as stored: two ASCII letters, lower case.
pub fn normalize_country(text: &str) -> Option<String> {
    let t = text.trim().to_ascii_lowercase();
    (t.len() == 2 && t.bytes().all(|b| b.is_ascii_lowercase())).then_some(t)
}

/// Words after which a code usually follows, in the languages SMS arrive in.
const KEYWORDS: &[&str] = &[
    "code",
    "код",
    "kod",
    "código",
    "codigo",
    "code:",
    "pin",
    "otp",
    "passcode",
    "password",
    "parol",
    "пароль",
    "验证码",
    "驗證碼",
    "コード",
    "코드",
    "mã",
    "token",
];

/// How far after a keyword the code may start, in characters.
const KEYWORD_REACH: usize = 40;

/// The verification code in an SMS (SPEC 10): the first 4 to 8 digit run after a
/// keyword such as `code` or `код` (groups like `123-456` or `123 456` joined), else the
/// first standalone run of 4 to 8 digits (groups joined only by `-`). Longer runs, such
/// as phone numbers, are never codes.
pub fn extract_code(text: &str) -> Option<String> {
    let lower: Vec<char> = text.to_lowercase().chars().collect();
    let mut hits: Vec<usize> = Vec::new();
    for keyword in KEYWORDS {
        let k: Vec<char> = keyword.chars().collect();
        if k.len() > lower.len() {
            continue;
        }
        for start in 0..=lower.len() - k.len() {
            if lower[start..start + k.len()] == k[..] {
                hits.push(start + k.len());
            }
        }
    }
    hits.sort_unstable();
    hits.dedup();
    for after in hits {
        let end = (after + KEYWORD_REACH).min(lower.len());
        if let Some(code) = first_run(&lower[after..end], &['-', ' '], true) {
            return Some(code);
        }
    }
    first_run(&lower, &['-'], false)
}

/// The first digit run (groups joined by one of `joiners`) with 4 to 8 digits.
/// `after_keyword`: a run over 8 digits ends the search (what follows the keyword is a
/// phone or an account number, not a code).
fn first_run(chars: &[char], joiners: &[char], after_keyword: bool) -> Option<String> {
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A run glued to a letter (`a1234`, `1234x`) is an identifier, not a code.
        let glued_before = i > 0 && chars[i - 1].is_ascii_alphanumeric();
        let mut digits = String::new();
        let mut j = i;
        loop {
            while j < chars.len() && chars[j].is_ascii_digit() {
                digits.push(chars[j]);
                j += 1;
            }
            let joined = j + 1 < chars.len()
                && joiners.contains(&chars[j])
                && chars[j + 1].is_ascii_digit()
                && digits.len() < 8;
            if joined {
                j += 1;
            } else {
                break;
            }
        }
        let glued_after = j < chars.len() && chars[j].is_ascii_alphabetic();
        if (4..=8).contains(&digits.len()) && !glued_before && !glued_after {
            return Some(digits);
        }
        if after_keyword && digits.len() > 8 {
            return None;
        }
        i = j;
    }
    None
}

type HmacSha256 = Hmac<Sha256>;

/// The webhook signature: hex HMAC-SHA256 under the gateway's secret of
/// `"{timestamp}.{body}"`, the timestamp in unix seconds.
pub fn sign(secret: &[u8], timestamp_secs: i64, body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp_secs.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Missing signature")]
    Missing,
    #[error("Invalid signature")]
    Mismatch,
    #[error("Stale timestamp")]
    Stale,
}

/// Checks a webhook's headers against its body. Returns the signature (lower-case hex),
/// which the caller remembers to refuse replays within the tolerance.
pub fn verify_signature(
    secret: &[u8],
    timestamp_header: Option<&str>,
    signature_header: Option<&str>,
    body: &[u8],
    now_ms: i64,
) -> Result<String, SignatureError> {
    let (Some(ts), Some(sig)) = (timestamp_header, signature_header) else {
        return Err(SignatureError::Missing);
    };
    let ts: i64 = ts.trim().parse().map_err(|_| SignatureError::Mismatch)?;
    let sig = sig.trim();
    let sig = sig
        .strip_prefix("sha256=")
        .unwrap_or(sig)
        .to_ascii_lowercase();
    let given = hex::decode(&sig).map_err(|_| SignatureError::Mismatch)?;
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(ts.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given)
        .map_err(|_| SignatureError::Mismatch)?;
    // Checked after the MAC, so that an unsigned caller learns nothing about our clock.
    if (now_ms - ts.saturating_mul(1000)).abs() > SIGNATURE_TOLERANCE_MS {
        return Err(SignatureError::Stale);
    }
    Ok(sig)
}

/// `YYYY-MM-DD HH:MM:SS` (UTC), as the sms-activate protocol prints times.
pub fn protocol_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// A time as gateways send it: unix seconds or milliseconds, or ISO 8601 / RFC 3339.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    if let Ok(n) = t.parse::<i64>() {
        // Seconds below 10^11 (until the year 5138), milliseconds above; never negative.
        return match n {
            ..0 => None,
            0..100_000_000_000 => Some(n * 1000),
            _ => Some(n),
        };
    }
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|d| d.timestamp_millis())
}

/// ISO 4217 numeric codes of common currencies, as the sms-activate protocol reports
/// `currency`.
pub fn currency_numeric(code: &str) -> Option<u16> {
    Some(match code.to_ascii_uppercase().as_str() {
        "USD" => 840,
        "EUR" => 978,
        "RUB" => 643,
        "GBP" => 826,
        "INR" => 356,
        "CNY" => 156,
        "UAH" => 980,
        "KZT" => 398,
        "BRL" => 986,
        "IDR" => 360,
        "TRY" => 949,
        "JPY" => 392,
        "KRW" => 410,
        "VND" => 704,
        "PKR" => 586,
        "BDT" => 50,
        _ => return None,
    })
}

/// Whether the operator may set an activation lifetime of `minutes`: one minute to a day.
pub fn lifetime_allowed(minutes: i64) -> bool {
    (1..=MAX_LIFETIME_MINUTES).contains(&minutes)
}

/// An sms-activate `maxPrice`: an amount, never negative.
pub fn parse_max_price(text: &str) -> Option<Money> {
    Money::parse(text).ok().filter(|m| !m.is_negative())
}

/// The cheapest of `prices` when even it is above `max` (the buyer's ceiling refuses
/// every offer); `None` when some offer fits or there is none.
pub fn cheapest_above(prices: &[Money], max: Money) -> Option<Money> {
    prices
        .iter()
        .copied()
        .min()
        .filter(|cheapest| *cheapest > max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lifetimes_from_a_minute_to_a_day() {
        assert!(!lifetime_allowed(0));
        assert!(lifetime_allowed(1));
        assert!(lifetime_allowed(1440));
        assert!(!lifetime_allowed(1441));
        assert!(!lifetime_allowed(-5));
    }

    #[test]
    fn max_price_ceiling() {
        let m = |s: &str| Money::parse(s).expect("amount");
        assert_eq!(parse_max_price("0.5"), Some(m("0.5")));
        assert_eq!(parse_max_price("-1"), None);
        assert_eq!(parse_max_price("abc"), None);
        assert_eq!(
            cheapest_above(&[m("0.7"), m("0.6")], m("0.5")),
            Some(m("0.6"))
        );
        assert_eq!(cheapest_above(&[m("0.7"), m("0.5")], m("0.5")), None);
        assert_eq!(cheapest_above(&[], m("0.5")), None);
    }

    #[test]
    fn codes_after_keywords_first() {
        let cases = [
            ("Your verification code is 123456", Some("123456")),
            (
                "Telegram code: 48213. Do not give it to anyone",
                Some("48213"),
            ),
            ("WhatsApp code 123-456", Some("123456")),
            ("Код подтверждения: 9876", Some("9876")),
            ("您的验证码是 552211，5分钟内有效", Some("552211")),
            ("【微信】验证码552211", Some("552211")),
            ("Tu código de OpenAI es 834 210", Some("834210")),
            ("G-482913 is your Google verification code.", Some("482913")),
            // The keyword comes after the code: the fallback finds it.
            ("48213 is your login code", Some("48213")),
            // A phone number is never a code; the real code follows the keyword.
            ("Call +14155550100 or use code 7710", Some("7710")),
            ("Order 12 shipped, PIN 0042", Some("0042")),
            ("Hello from the bank, 2 days left", None),
            ("Visit https://x.io/a1234b now", None),
            ("Balance 10.50 USD", None),
            ("", None),
        ];
        for (text, want) in cases {
            assert_eq!(extract_code(text).as_deref(), want, "{text}");
        }
    }

    #[test]
    fn a_keyword_without_digits_falls_back_to_any_run() {
        assert_eq!(
            extract_code("Your code arrives soon. Ref 5555").as_deref(),
            Some("5555")
        );
        // Too long after the keyword: that run is not a code, and nothing else is either.
        assert_eq!(extract_code("code 123456789"), None);
    }

    #[test]
    fn phones_and_countries() {
        assert_eq!(
            normalize_phone("+1 (415) 555-0100").as_deref(),
            Some("+14155550100")
        );
        assert_eq!(
            normalize_phone("0044 7700 900123").as_deref(),
            Some("+447700900123")
        );
        assert_eq!(
            normalize_phone("79001234567").as_deref(),
            Some("+79001234567")
        );
        assert_eq!(normalize_phone("12345"), None);
        assert_eq!(normalize_phone("+1 415 CALL NOW"), None);
        assert_eq!(normalize_phone("1+1234567"), None);
        assert_eq!(normalize_country(" US ").as_deref(), Some("us"));
        assert_eq!(normalize_country("usa"), None);
        assert_eq!(normalize_country("1a"), None);
    }

    #[test]
    fn add_sms_parameters() {
        assert_eq!(
            parse_add_sms(&Params::from_pairs([("project_id", "TG")])),
            Ok(AddSms {
                project: "tg".into(),
                quantity: 1,
                country: None,
                phone: None
            })
        );
        assert_eq!(
            parse_add_sms(&Params::new()),
            Err(ApiError::SmsProjectRequired)
        );
        assert_eq!(
            parse_add_sms(&Params::from_pairs([
                ("project_id", "x"),
                ("quantity", "11")
            ])),
            Err(ApiError::QuantityOutOfRange(1, 10))
        );
        assert_eq!(
            parse_add_sms(&Params::from_pairs([
                ("project_id", "x"),
                ("quantity", "0")
            ])),
            Err(ApiError::QuantityOutOfRange(1, 10))
        );
        assert_eq!(
            parse_add_sms(&Params::from_pairs([
                ("project_id", "x"),
                ("quantity", "two")
            ])),
            Err(ApiError::InvalidQuantity)
        );
        assert_eq!(
            parse_add_sms(&Params::from_pairs([
                ("project_id", "x"),
                ("country", "usa")
            ])),
            Err(ApiError::SmsCountryNotFound)
        );
        assert_eq!(
            parse_add_sms(&Params::from_pairs([
                ("project_id", "x"),
                ("phone", "call me")
            ])),
            Err(ApiError::InvalidField("phone"))
        );
        assert_eq!(
            parse_add_sms(&Params::from_pairs([
                ("project_id", "x"),
                ("phone", "+15550100001"),
                ("quantity", "2")
            ])),
            Err(ApiError::SmsPhoneWithQuantity)
        );
    }

    #[test]
    fn cancel_after_two_minutes_and_before_a_code() {
        let t0 = 1_700_000_000_000;
        assert_eq!(
            cancel_rule(ActivationStatus::Active, t0, t0 + 119_999),
            Err(Reason::BeforeMinWait(t0 + 120_000))
        );
        assert_eq!(
            cancel_rule(ActivationStatus::Active, t0, t0 + 120_000),
            Ok(())
        );
        assert_eq!(
            cancel_rule(ActivationStatus::CodeReceived, t0, t0 + 600_000),
            Err(Reason::FullyDelivered)
        );
        assert_eq!(
            cancel_rule(ActivationStatus::Expired, t0, t0 + 600_000),
            Err(Reason::StatusNotEligible)
        );
    }

    #[test]
    fn statuses_roundtrip() {
        for s in [
            ActivationStatus::Active,
            ActivationStatus::CodeReceived,
            ActivationStatus::Completed,
            ActivationStatus::Expired,
            ActivationStatus::Canceled,
        ] {
            assert_eq!(ActivationStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(
            ActivationStatus::Active.order_status().display(),
            "In progress"
        );
        assert_eq!(
            ActivationStatus::Expired.order_status().display(),
            "Canceled"
        );
    }

    #[test]
    fn signatures() {
        let secret = b"gateway-secret";
        let body = br#"{"phone":"+15550100001","text":"code 1234"}"#;
        let now = 1_700_000_000_000;
        let ts = now / 1000;
        let sig = sign(secret, ts, body);
        let header = format!("sha256={sig}");
        let ts_text = ts.to_string();
        assert_eq!(
            verify_signature(secret, Some(&ts_text), Some(&header), body, now),
            Ok(sig.clone())
        );
        // Upper-case hex and a missing prefix are accepted.
        assert!(
            verify_signature(secret, Some(&ts_text), Some(&sig.to_uppercase()), body, now).is_ok()
        );
        assert_eq!(
            verify_signature(
                secret,
                Some(&ts_text),
                Some(&header),
                b"{\"phone\":\"+15550100002\"}",
                now
            ),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(b"other", Some(&ts_text), Some(&header), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(secret, Some(&ts_text), Some(&header), body, now + 300_001),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(secret, Some(&ts_text), Some(&header), body, now - 300_001),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify_signature(secret, None, Some(&header), body, now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify_signature(secret, Some("soon"), Some(&header), body, now),
            Err(SignatureError::Mismatch)
        );
        // A timestamp moved by the sender invalidates the signature.
        let moved = (ts + 1).to_string();
        assert_eq!(
            verify_signature(secret, Some(&moved), Some(&header), body, now),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn gateway_times() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000123"), Some(1_700_000_000_123));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_time("yesterday"), None);
        // Negative times are refused, the most negative one too (it once overflowed).
        assert_eq!(parse_time("-1"), None);
        assert_eq!(parse_time(&i64::MIN.to_string()), None);
        assert_eq!(parse_time(&i64::MAX.to_string()), Some(i64::MAX));
        assert_eq!(parse_time("-5"), None);
    }

    #[test]
    fn protocol_formats() {
        assert_eq!(protocol_time(1_672_574_400_123), "2023-01-01 12:00:00");
        assert_eq!(currency_numeric("usd"), Some(840));
        assert_eq!(currency_numeric("XTS"), None);
    }

    proptest! {
        #[test]
        fn extracted_codes_are_4_to_8_digits(text in "\\PC{0,80}") {
            if let Some(code) = extract_code(&text) {
                prop_assert!((4..=8).contains(&code.len()));
                prop_assert!(code.bytes().all(|b| b.is_ascii_digit()));
            }
        }

        #[test]
        fn a_code_after_the_keyword_is_found(code in "[0-9]{4,8}", prefix in "[a-zA-Z ]{0,20}") {
            let text = format!("{prefix} code: {code}. Valid for 5 minutes");
            prop_assert_eq!(extract_code(&text), Some(code));
        }
    }
}
