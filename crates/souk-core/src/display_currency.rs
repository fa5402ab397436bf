//! Display currencies: prices shown to buyers in another currency than the installation's
//! (the `currency` parameter of `services`, `products` and `inventory`, an extension).
//! Balances, charges and orders stay in the installation's currency; a converted price is
//! only a view. The operator's setting `display_currencies` lists each code with how many
//! of its units one unit of ours buys: `EUR=0.92, RUB=95.5`.

use crate::Money;

pub const SETTING: &str = "display_currencies";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DisplayCurrencies(Vec<(String, Money)>);

impl DisplayCurrencies {
    /// `CODE=rate` pairs separated by commas (empty for none); codes are three letters,
    /// rates above 0 and at most 1,000,000 with up to 6 decimals.
    pub fn parse(text: &str) -> Option<DisplayCurrencies> {
        let mut out: Vec<(String, Money)> = Vec::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (code, rate) = pair.split_once('=')?;
            let code = code.trim().to_ascii_uppercase();
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_uppercase()) {
                return None;
            }
            let rate = Money::parse(rate.trim()).ok()?;
            if rate.micros() <= 0 || rate.micros() > 1_000_000 * 1_000_000 {
                return None;
            }
            if out.iter().any(|(c, _)| *c == code) {
                return None;
            }
            out.push((code, rate));
        }
        Some(DisplayCurrencies(out))
    }

    /// The setting as stored: `EUR=0.92, RUB=95.5`.
    pub fn format(&self) -> String {
        self.0
            .iter()
            .map(|(code, rate)| format!("{code}={}", rate.format(0)))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The rate of `code` (any case).
    pub fn rate(&self, code: &str) -> Option<(&str, Money)> {
        self.0
            .iter()
            .find(|(c, _)| c.eq_ignore_ascii_case(code.trim()))
            .map(|(c, r)| (c.as_str(), *r))
    }
}

/// `amount` of ours in a currency `rate` of whose units one of ours buys, rounded half up
/// to the micro-unit.
pub fn convert(amount: Money, rate: Money) -> Option<Money> {
    amount.mul_div_half_up(rate.micros(), 1_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_formats_and_converts() {
        let d = DisplayCurrencies::parse(" eur=0.92,RUB = 95.5 ,").expect("parse");
        assert_eq!(d.format(), "EUR=0.92, RUB=95.5");
        let m = |t: &str| Money::parse(t).expect("money");
        assert_eq!(d.rate("rub"), Some(("RUB", m("95.5"))));
        assert_eq!(d.rate("USD"), None);
        assert_eq!(convert(m("1.08"), m("0.92")), Some(m("0.9936")));
        assert_eq!(
            DisplayCurrencies::parse(""),
            Some(DisplayCurrencies::default())
        );
        for bad in [
            "EURO=1",
            "EUR",
            "EUR=0",
            "EUR=-1",
            "EUR=1,eur=2",
            "EUR=1.0000001",
        ] {
            assert_eq!(DisplayCurrencies::parse(bad), None, "{bad}");
        }
    }
}
