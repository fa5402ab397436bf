//! Money as integer micro-units (1e-6 of the installation's currency).
//!
//! Parsing is exact (no floats anywhere); printing follows SPEC 4: a minimum number of
//! decimals, up to six, trailing zeros beyond the minimum trimmed.

use std::fmt;

/// Micro-units per currency unit.
pub const MICROS: i64 = 1_000_000;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("Amount is not a valid number")]
    Invalid,
    #[error("Amount has more than 6 decimals")]
    TooPrecise,
    #[error("Amount is too large")]
    Overflow,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_micros(micros: i64) -> Self {
        Money(micros)
    }

    pub const fn micros(self) -> i64 {
        self.0
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parses `"12"`, `"12.5"`, `"-0.000001"`, `".5"`. Up to 6 decimals; no exponent,
    /// no thousands separators.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let s = text.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (int_part, frac_part) = match digits.split_once('.') {
            Some((i, f)) => (i, f),
            None => (digits, ""),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(MoneyError::Invalid);
        }
        if !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(MoneyError::Invalid);
        }
        let frac_trimmed = frac_part.trim_end_matches('0');
        if frac_trimmed.len() > 6 {
            return Err(MoneyError::TooPrecise);
        }
        let units: i64 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| MoneyError::Overflow)?
        };
        let mut frac: i64 = 0;
        for (i, b) in frac_trimmed.bytes().enumerate() {
            frac += i64::from(b - b'0') * 10_i64.pow(5 - i as u32);
        }
        // Built on the sign's own side: i64::MIN's micros have no positive twin.
        let whole = units.checked_mul(MICROS).ok_or(MoneyError::Overflow)?;
        let micros = if negative {
            (-whole).checked_sub(frac)
        } else {
            whole.checked_add(frac)
        };
        micros.map(Money).ok_or(MoneyError::Overflow)
    }

    /// Prints with at least `min_decimals` (0..=6) and at most 6 decimals.
    pub fn format(self, min_decimals: usize) -> String {
        let min_decimals = min_decimals.min(6);
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let units = abs / MICROS as u64;
        let frac = abs % MICROS as u64;
        let mut frac_text = format!("{frac:06}");
        while frac_text.len() > min_decimals && frac_text.ends_with('0') {
            frac_text.pop();
        }
        if frac_text.is_empty() {
            format!("{sign}{units}")
        } else {
            format!("{sign}{units}.{frac_text}")
        }
    }

    /// Balance, list `rate` and order `charge` format: `"100.00"`, `"0.0123"`.
    pub fn display2(self) -> String {
        self.format(2)
    }

    /// Inventory `rate` and SMS price format: `"0.5000"`.
    pub fn display4(self) -> String {
        self.format(4)
    }

    /// As a JSON number (`refundAmount`), exact to the micro-unit.
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / MICROS as f64
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Money)
    }

    pub fn checked_sub(self, other: Money) -> Option<Money> {
        self.0.checked_sub(other.0).map(Money)
    }

    /// `self * numerator / denominator`, rounded half-up: the rule for charges.
    pub fn mul_div_half_up(self, numerator: i64, denominator: i64) -> Option<Money> {
        if denominator <= 0 {
            return None;
        }
        let product = i128::from(self.0) * i128::from(numerator);
        let d = i128::from(denominator);
        let rounded = if product >= 0 {
            (product + d / 2) / d
        } else {
            -((-product + d / 2) / d)
        };
        i64::try_from(rounded).ok().map(Money)
    }

    /// `self * numerator / denominator`, rounded down: the rule for refunds, so the
    /// platform never refunds more than it charged.
    pub fn mul_div_floor(self, numerator: i64, denominator: i64) -> Option<Money> {
        if denominator <= 0 {
            return None;
        }
        let product = i128::from(self.0) * i128::from(numerator);
        i64::try_from(product.div_euclid(i128::from(denominator)))
            .ok()
            .map(Money)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.display2())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Money {
        Money::parse(s).expect("valid amount")
    }

    #[test]
    fn parses_exactly() {
        assert_eq!(m("100").micros(), 100_000_000);
        assert_eq!(m("0.5").micros(), 500_000);
        assert_eq!(m(".5").micros(), 500_000);
        assert_eq!(m("0.000001").micros(), 1);
        assert_eq!(m("-1.25").micros(), -1_250_000);
        assert_eq!(m("1.2300000").micros(), 1_230_000);
        assert_eq!(Money::parse("1.0000001"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse(""), Err(MoneyError::Invalid));
        assert_eq!(Money::parse("."), Err(MoneyError::Invalid));
        assert_eq!(Money::parse("1e3"), Err(MoneyError::Invalid));
        assert_eq!(Money::parse("1,5"), Err(MoneyError::Invalid));
        assert_eq!(Money::parse("--1"), Err(MoneyError::Invalid));
        assert_eq!(
            Money::parse("99999999999999999999"),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn formats_per_spec() {
        assert_eq!(m("100").display2(), "100.00");
        assert_eq!(m("0.0123").display2(), "0.0123");
        assert_eq!(m("100.84292").display2(), "100.84292");
        assert_eq!(m("0.5").display4(), "0.5000");
        assert_eq!(m("25").display4(), "25.0000");
        assert_eq!(m("0.123456").display4(), "0.123456");
        assert_eq!(m("-3.5").display2(), "-3.50");
        assert_eq!(Money::ZERO.display2(), "0.00");
    }

    #[test]
    fn rounding_rules() {
        // 0.90 per 1000, 1 unit: 0.0009 exactly.
        assert_eq!(m("0.90").mul_div_half_up(1, 1000), Some(m("0.0009")));
        // 0.000001 * 1 / 2 = 0.0000005 rounds half up to 0.000001.
        assert_eq!(
            Money::from_micros(1).mul_div_half_up(1, 2),
            Some(Money::from_micros(1))
        );
        assert_eq!(Money::from_micros(1).mul_div_floor(1, 2), Some(Money::ZERO));
        assert_eq!(
            m("10").mul_div_floor(1, 3),
            Some(Money::from_micros(3_333_333))
        );
    }

    proptest! {
        #[test]
        fn format_parse_roundtrip(micros in -10_000_000_000_000i64..10_000_000_000_000i64, min in 0usize..7) {
            let money = Money::from_micros(micros);
            prop_assert_eq!(Money::parse(&money.format(min)), Ok(money));
        }

        #[test]
        fn refund_never_exceeds_charge(charge in 0i64..1_000_000_000_000, qty in 1i64..1_000_000, undelivered_frac in 0.0f64..=1.0) {
            let undelivered = ((qty as f64) * undelivered_frac) as i64;
            let refund = Money::from_micros(charge).mul_div_floor(undelivered, qty).expect("fits");
            prop_assert!(refund.micros() <= charge);
            prop_assert!(refund.micros() >= 0);
        }
    }
}
