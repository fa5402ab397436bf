//! Imported prices: a provider's price with the operator's markup, rounded up to a step,
//! and the markup as the operator writes it (percent and step as decimal text).

use crate::money::Money;

/// How imported prices are derived from the provider's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Markup {
    /// Percent in basis points (1250 = 12.5 %).
    pub basis_points: i64,
    /// Prices round up to a multiple of this (micro-units; 0 = no rounding).
    pub round_to: i64,
}

impl Markup {
    /// The provider's price with the markup, rounded up to the step.
    pub fn apply(self, upstream: Money) -> Money {
        let marked = upstream
            .mul_div_half_up(10_000 + self.basis_points, 10_000)
            .unwrap_or(upstream);
        if self.round_to <= 0 {
            return marked;
        }
        let steps = marked.micros().div_euclid(self.round_to)
            + i64::from(marked.micros().rem_euclid(self.round_to) != 0);
        Money::from_micros(steps.saturating_mul(self.round_to))
    }
}

/// Parses the markup percent and rounding step of an import (absent means none).
pub fn parse_markup(markup: Option<&str>, round: Option<&str>) -> Result<Markup, String> {
    let percent = match markup {
        None => Money::ZERO,
        Some(m) => Money::parse(m).map_err(|_| format!("Invalid markup: {m}"))?,
    };
    if percent.is_negative() || percent.micros() > 1_000 * 1_000_000 {
        return Err("Markup must be between 0 and 1000 percent".into());
    }
    let round_to = match round {
        None => Money::ZERO,
        Some(r) => Money::parse(r).map_err(|_| format!("Invalid rounding step: {r}"))?,
    };
    if round_to.is_negative() {
        return Err("The rounding step must not be negative".into());
    }
    Ok(Markup {
        // Percent with up to 6 decimals to basis points (1 % = 100 bp).
        basis_points: percent.micros() / 10_000,
        round_to: round_to.micros(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markups() {
        let m = parse_markup(Some("12.5"), Some("0.01")).expect("valid");
        assert_eq!((m.basis_points, m.round_to), (1250, 10_000));
        assert!(parse_markup(Some("-1"), None).is_err());
        assert!(parse_markup(Some("abc"), None).is_err());
        assert_eq!(parse_markup(None, None).map(|m| m.basis_points), Ok(0));
    }

    #[test]
    fn markup_rounds_up_to_the_step() {
        let m = |s: &str| Money::parse(s).expect("amount");
        let markup = Markup {
            basis_points: 2000,
            round_to: 10_000,
        };
        assert_eq!(markup.apply(m("0.90")), m("1.08"));
        assert_eq!(markup.apply(m("0.91")), m("1.10"));
        assert_eq!(
            Markup {
                basis_points: 0,
                round_to: 0
            }
            .apply(m("0.123456")),
            m("0.123456")
        );
        assert_eq!(
            Markup {
                basis_points: 1250,
                round_to: 0
            }
            .apply(m("2")),
            m("2.25")
        );
    }
}
