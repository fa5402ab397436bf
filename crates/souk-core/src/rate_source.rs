//! A provider's currency rate read from a published source: a JSON document at a URL (an
//! exchange-rate API, a central bank's daily rates), the number at a JSON pointer in it
//! (RFC 6901, e.g. `/rates/EUR`), taken as "ours per one of the provider's" or, with
//! `inverse`, as "the provider's per one of ours" (what a source based on our currency
//! publishes). The rate is exact to the micro-unit, rounded half up; no floats.

use crate::Money;

/// Where a provider's rate is read, as the operator set it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateSource {
    pub url: String,
    pub pointer: String,
    pub inverse: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate pointer must be a JSON pointer such as /rates/EUR")]
    Pointer,
    #[error("the rate source did not answer JSON")]
    NotJson,
    #[error("the rate source has nothing at {0}")]
    Missing(String),
    #[error("the rate source's {0} is not a positive number")]
    NotANumber(String),
    #[error("the rate source's {0} is out of range")]
    OutOfRange(String),
}

impl RateSource {
    /// A source as the operator gives it; the URL is checked where web addresses are.
    pub fn new(url: &str, pointer: &str, inverse: bool) -> Result<RateSource, RateError> {
        let pointer = pointer.trim();
        if !pointer.starts_with('/') || pointer.len() > 200 {
            return Err(RateError::Pointer);
        }
        Ok(RateSource {
            url: url.trim().to_owned(),
            pointer: pointer.to_owned(),
            inverse,
        })
    }

    /// The rate in `body`, ours per one of the provider's.
    pub fn read(&self, body: &[u8]) -> Result<Money, RateError> {
        let text = std::str::from_utf8(body).map_err(|_| RateError::NotJson)?;
        let text = text.trim_start_matches('\u{feff}').trim();
        let doc: serde_json::Value = serde_json::from_str(text).map_err(|_| RateError::NotJson)?;
        let found = doc
            .pointer(&self.pointer)
            .ok_or_else(|| RateError::Missing(self.pointer.clone()))?;
        // Sources write numbers as numbers or strings ("95,1234" in some).
        let number = match found {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.trim().replace(',', "."),
            _ => return Err(RateError::NotANumber(self.pointer.clone())),
        };
        let (mantissa, scale) =
            decimal(&number).ok_or_else(|| RateError::NotANumber(self.pointer.clone()))?;
        let out_of_range = || RateError::OutOfRange(self.pointer.clone());
        let pow = 10_i128.checked_pow(scale).ok_or_else(out_of_range)?;
        let micros = if self.inverse {
            // 1 / (mantissa / 10^scale), in micro-units.
            div_half_up(
                1_000_000_i128.checked_mul(pow).ok_or_else(out_of_range)?,
                mantissa,
            )
        } else {
            div_half_up(
                mantissa.checked_mul(1_000_000).ok_or_else(out_of_range)?,
                pow,
            )
        };
        match i64::try_from(micros) {
            Ok(m) if m > 0 && m <= 1_000_000 * 1_000_000_000 => Ok(Money::from_micros(m)),
            _ => Err(out_of_range()),
        }
    }
}

fn div_half_up(n: i128, d: i128) -> i128 {
    (n + d / 2) / d
}

/// A positive decimal `12.345` or `1.2e-3` as (mantissa, decimals): (12345, 3).
fn decimal(text: &str) -> Option<(i128, u32)> {
    let (number, exponent) = match text.split_once(['e', 'E']) {
        Some((n, e)) => (n, e.parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
        || int_part.len() + frac_part.len() > 30
    {
        return None;
    }
    let mut mantissa: i128 = format!("{int_part}{frac_part}").parse().ok()?;
    let mut scale = i32::try_from(frac_part.len()).ok()? - exponent;
    while scale < 0 {
        mantissa = mantissa.checked_mul(10)?;
        scale += 1;
    }
    if mantissa <= 0 || scale > 30 {
        return None;
    }
    Some((mantissa, u32::try_from(scale).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(pointer: &str, inverse: bool) -> RateSource {
        RateSource::new("https://rates.example/latest", pointer, inverse).expect("source")
    }

    #[test]
    fn reads_numbers_and_strings_at_the_pointer() {
        let body = br#"{"base":"USD","rates":{"EUR":0.92,"RUB":"95,5","JPY":1.5e2}}"#;
        let m = |t: &str| Money::parse(t).expect("money");
        assert_eq!(source("/rates/EUR", false).read(body), Ok(m("0.92")));
        // A source based on our currency: 95.5 of theirs per one of ours.
        assert_eq!(source("/rates/RUB", true).read(body), Ok(m("0.010471")));
        assert_eq!(source("/rates/JPY", false).read(body), Ok(m("150")));
        assert_eq!(source("/rates/JPY", true).read(body), Ok(m("0.006667")));
    }

    #[test]
    fn refuses_what_is_not_a_rate() {
        let body = br#"{"rates":{"EUR":0,"X":"n/a","Y":null,"Z":-1,"TINY":1e-9}}"#;
        assert_eq!(
            source("/rates/USD", false).read(body),
            Err(RateError::Missing("/rates/USD".into()))
        );
        for p in ["/rates/X", "/rates/Y", "/rates/Z"] {
            assert_eq!(
                source(p, false).read(body),
                Err(RateError::NotANumber(p.into()))
            );
        }
        assert_eq!(
            source("/rates/EUR", false).read(body),
            Err(RateError::NotANumber("/rates/EUR".into()))
        );
        assert_eq!(
            source("/rates/TINY", false).read(body),
            Err(RateError::OutOfRange("/rates/TINY".into()))
        );
        assert_eq!(
            source("/rates/EUR", false).read(b"<html>"),
            Err(RateError::NotJson)
        );
        assert_eq!(
            RateSource::new("https://x", "rates.EUR", false),
            Err(RateError::Pointer)
        );
    }
}
