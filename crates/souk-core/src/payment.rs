//! Top-ups through payment gateways: the payment's states, what a buyer is quoted before
//! paying (fee, deposit bonus), and what a gateway's verified answer does to a payment.
//! No I/O: the store books what [`settle`] decides.
//!
//! States: `created` (on record, the gateway not asked yet) -> `pending` (the invoice
//! exists) -> `paid` / `partially_paid` / `expired` / `failed`, or `held` for the
//! operator when the amount differs and the operator chose to hold such payments. The
//! settled states are never reopened, with one exception that keeps money from being
//! lost: an `expired` invoice the gateway later reports paid is credited all the same,
//! flagged late.

use crate::Money;

/// The operator's choice for payments whose amount differs from the invoice:
/// `credit` (what arrived) or `hold` (nothing until the operator decides).
pub const MISMATCH_SETTING: &str = "payment_mismatch";
/// The deposit bonus table: `from=percent` pairs, e.g. `100=5, 500=7.5` (+5% on top-ups
/// from 100.00, +7.5% from 500.00); empty for none.
pub const BONUS_SETTING: &str = "deposit_bonus";

/// How long a gateway is asked about a payment after its invoice expired: crypto sent
/// at the last minute confirms late, and a late payment is still credited.
pub const LATE_WINDOW_MS: i64 = 24 * 3_600_000;
/// How long after expiry a gateway that still says "pending" is believed: past it the
/// payment is marked expired here (and still credited if the gateway later says paid).
pub const EXPIRY_GRACE_MS: i64 = 3_600_000;

/// When to ask the gateway again about a payment still open (or expired, for a late
/// payment) at `now`: every 30 s in its first 10 minutes, then every 2 minutes until it
/// expires, then every 15 minutes through the late window; `None` after it.
pub fn next_check(created_at: i64, expires_at: i64, now: i64) -> Option<i64> {
    let every = if now < created_at + 10 * 60_000 && now < expires_at {
        30_000
    } else if now < expires_at + EXPIRY_GRACE_MS {
        2 * 60_000
    } else if now < expires_at + LATE_WINDOW_MS {
        15 * 60_000
    } else {
        return None;
    };
    Some(now + every)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PaymentState {
    Created,
    Pending,
    Held,
    Paid,
    PartiallyPaid,
    Expired,
    Failed,
}

impl PaymentState {
    pub const ALL: [PaymentState; 7] = [
        PaymentState::Created,
        PaymentState::Pending,
        PaymentState::Held,
        PaymentState::Paid,
        PaymentState::PartiallyPaid,
        PaymentState::Expired,
        PaymentState::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::Created => "created",
            PaymentState::Pending => "pending",
            PaymentState::Held => "held",
            PaymentState::Paid => "paid",
            PaymentState::PartiallyPaid => "partially_paid",
            PaymentState::Expired => "expired",
            PaymentState::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<PaymentState> {
        PaymentState::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Settled: nothing moves it any more (but a late payment of an expired invoice).
    pub fn is_settled(self) -> bool {
        matches!(
            self,
            PaymentState::Paid
                | PaymentState::PartiallyPaid
                | PaymentState::Expired
                | PaymentState::Failed
        )
    }

    /// Credited: it has its deposit row.
    pub fn is_credited(self) -> bool {
        matches!(self, PaymentState::Paid | PaymentState::PartiallyPaid)
    }
}

/// What to do with a payment whose amount differs from its invoice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mismatch {
    /// Credit what arrived (less for less, more for more).
    Credit,
    /// Credit nothing; the operator approves (with an amount) or rejects.
    Hold,
}

impl Mismatch {
    pub fn parse(text: &str) -> Option<Mismatch> {
        match text.trim() {
            "credit" => Some(Mismatch::Credit),
            "hold" => Some(Mismatch::Hold),
            _ => None,
        }
    }
}

/// One row of the bonus table: top-ups of at least `from` earn `bp` basis points more.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BonusTier {
    pub from: Money,
    pub bp: i64,
}

/// Reads the bonus table (`100=5, 500=7.5`): amounts positive with up to two decimals,
/// percentages 0..=100 with up to two, no amount twice. Sorted by amount.
pub fn parse_bonus_table(text: &str) -> Result<Vec<BonusTier>, String> {
    let mut tiers = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad =
            || format!("{part:?} is not from=percent (an amount and a percentage, e.g. 100=5)");
        let (from, percent) = part.split_once('=').ok_or_else(bad)?;
        let from = Money::parse(from.trim()).map_err(|_| bad())?;
        if from.micros() <= 0 || from.micros() % 10_000 != 0 {
            return Err(bad());
        }
        let bp = crate::supply::parse_percent(percent).ok_or_else(bad)?;
        if tiers.iter().any(|t: &BonusTier| t.from == from) {
            return Err(format!("{} is in the table twice", from.display2()));
        }
        tiers.push(BonusTier { from, bp });
    }
    tiers.sort_by_key(|t| t.from);
    Ok(tiers)
}

/// The table in its stored form: `100=5, 500=7.5`.
pub fn format_bonus_table(tiers: &[BonusTier]) -> String {
    tiers
        .iter()
        .map(|t| {
            format!(
                "{}={}",
                t.from.format(0).trim_end_matches('.'),
                crate::supply::format_percent(t.bp)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The bonus `amount` earns: the highest tier it reaches, rounded down to the cent (a
/// balance shows cents; the fee is rounded up to them).
pub fn bonus_for(tiers: &[BonusTier], amount: Money) -> Money {
    tiers
        .iter()
        .rev()
        .find(|t| amount >= t.from)
        .and_then(|t| amount.mul_div_floor(t.bp, 10_000))
        .map(|b| Money::from_micros(b.micros() - b.micros() % 10_000))
        .unwrap_or(Money::ZERO)
}

/// What a buyer is shown before paying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quote {
    /// Credited when paid in full.
    pub amount: Money,
    /// The gateway's fee, paid on top, rounded up to the cent.
    pub fee: Money,
    /// What the buyer pays: `amount + fee`.
    pub total: Money,
    /// Credited on top of `amount` when paid in full.
    pub bonus: Money,
}

/// A gateway's limits and fee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    pub min: Money,
    pub max: Money,
    pub fee_bp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QuoteError {
    #[error("The amount must be a positive number with at most two decimals")]
    BadAmount,
    #[error("The amount must be at least {0}")]
    BelowMin(String),
    #[error("The amount must be at most {0}")]
    AboveMax(String),
}

/// The quote for topping up `amount` through a gateway with `terms`.
pub fn quote(amount: Money, terms: Terms, tiers: &[BonusTier]) -> Result<Quote, QuoteError> {
    if amount.micros() <= 0 || amount.micros() % 10_000 != 0 {
        return Err(QuoteError::BadAmount);
    }
    if amount < terms.min {
        return Err(QuoteError::BelowMin(terms.min.display2()));
    }
    if amount > terms.max {
        return Err(QuoteError::AboveMax(terms.max.display2()));
    }
    // Up to the cent: the fee is never less than the rate (amount x bp / 10^4 in
    // micros, rounded up to a multiple of 10^4 micros).
    let scaled = amount
        .micros()
        .checked_mul(terms.fee_bp)
        .ok_or(QuoteError::BadAmount)?;
    let cents = (scaled + 100_000_000 - 1) / 100_000_000;
    let fee = Money::from_micros(cents * 10_000);
    let total = amount.checked_add(fee).ok_or(QuoteError::BadAmount)?;
    Ok(Quote {
        amount,
        fee,
        total,
        bonus: bonus_for(tiers, amount),
    })
}

/// The payment as it stands, as far as settling it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Standing {
    pub id: String,
    pub state: PaymentState,
    pub amount: Money,
    pub total: Money,
    pub currency: String,
    pub bonus: Money,
    pub expires_at: i64,
}

/// What the gateway said, when Souk asked it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    Pending,
    Paid,
    Underpaid,
    Expired,
    Failed,
    Refunded,
}

/// The gateway's answer, as far as settling goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub reported: Reported,
    /// The payment id the gateway holds for it.
    pub payment_id: Option<String>,
    pub amount: Option<Money>,
    pub currency: Option<String>,
    pub received: Option<Money>,
}

/// What a verified answer does to a payment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Settlement {
    /// Nothing yet: ask again later.
    Wait,
    /// Credit `credit` (and `bonus`) and move to `state`.
    Credit {
        state: PaymentState,
        received: Money,
        credit: Money,
        bonus: Money,
        late: bool,
        note: String,
    },
    /// Move to `held` for the operator; nothing credited.
    Hold { received: Money, note: String },
    /// Move to `expired` or `failed`; nothing credited.
    Close { state: PaymentState, note: String },
    /// Nothing moves, and nothing will by asking again: the payment is settled, or the
    /// gateway's answer does not match the invoice (said to the operator).
    Nothing { note: String, alarm: bool },
}

/// Decides what the gateway's `answer` does to the payment at `now` (ms), the
/// operator's `mismatch` choice and bonus `tiers` in effect.
pub fn settle(
    payment: &Standing,
    answer: &Answer,
    mismatch: Mismatch,
    tiers: &[BonusTier],
    now: i64,
) -> Settlement {
    if let Some(id) = &answer.payment_id {
        if *id != payment.id {
            return Settlement::Nothing {
                note: format!("the gateway's answer is for payment {id:?}, not this one"),
                alarm: true,
            };
        }
    }
    if let Some(currency) = &answer.currency {
        if !currency.eq_ignore_ascii_case(&payment.currency) {
            return Settlement::Nothing {
                note: format!(
                    "the gateway holds the invoice in {currency}, not {}",
                    payment.currency
                ),
                alarm: true,
            };
        }
    }
    if let Some(amount) = answer.amount {
        if amount != payment.total {
            return Settlement::Nothing {
                note: format!(
                    "the gateway holds the invoice for {}, not {}",
                    amount.display2(),
                    payment.total.display2()
                ),
                alarm: true,
            };
        }
    }
    let open = matches!(payment.state, PaymentState::Created | PaymentState::Pending);
    let late = payment.state == PaymentState::Expired;
    match answer.reported {
        Reported::Paid | Reported::Underpaid if open || late => {
            let received = answer.received.unwrap_or(payment.total);
            if received.micros() <= 0 {
                return Settlement::Wait;
            }
            let exact = received == payment.total;
            let underpaid = received < payment.total || answer.reported == Reported::Underpaid;
            if !exact && mismatch == Mismatch::Hold {
                return Settlement::Hold {
                    received,
                    note: format!(
                        "{} received for an invoice of {}: held for the operator",
                        received.display2(),
                        payment.total.display2()
                    ),
                };
            }
            let (state, credit, bonus) = if exact {
                (PaymentState::Paid, payment.amount, payment.bonus)
            } else {
                let credit = payment
                    .amount
                    .mul_div_floor(received.micros(), payment.total.micros())
                    .unwrap_or(Money::ZERO);
                if underpaid {
                    (
                        PaymentState::PartiallyPaid,
                        credit,
                        bonus_for(tiers, credit),
                    )
                } else {
                    (PaymentState::Paid, credit, payment.bonus)
                }
            };
            let mut note = if exact {
                "paid".to_owned()
            } else {
                format!(
                    "{} received for an invoice of {}: {} credited",
                    received.display2(),
                    payment.total.display2(),
                    credit.display2()
                )
            };
            if late {
                note.push_str(" (paid after the invoice expired)");
            }
            Settlement::Credit {
                state,
                received,
                credit,
                bonus,
                late,
                note,
            }
        }
        Reported::Expired if open => Settlement::Close {
            state: PaymentState::Expired,
            note: "the invoice expired unpaid".into(),
        },
        Reported::Failed if open => Settlement::Close {
            state: PaymentState::Failed,
            note: "the gateway reports the payment failed".into(),
        },
        Reported::Refunded if open => Settlement::Close {
            state: PaymentState::Failed,
            note: "the gateway refunded the payment before it was credited".into(),
        },
        Reported::Pending if open && now >= payment.expires_at + EXPIRY_GRACE_MS => {
            Settlement::Close {
                state: PaymentState::Expired,
                note: "the invoice expired; the gateway still reports it unpaid".into(),
            }
        }
        Reported::Pending if open => Settlement::Wait,
        Reported::Refunded if payment.state.is_credited() => Settlement::Nothing {
            note: "the gateway reports a refund of a credited payment: the balance was not \
                   changed, decide with `balance adjust`"
                .into(),
            alarm: true,
        },
        _ => Settlement::Nothing {
            note: format!(
                "the payment is {}; the gateway's answer changes nothing",
                payment.state.as_str()
            ),
            alarm: false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Money {
        Money::parse(text).expect("money")
    }

    fn standing(state: PaymentState) -> Standing {
        Standing {
            id: "p1".into(),
            state,
            amount: m("100"),
            total: m("105"),
            currency: "USD".into(),
            bonus: m("5"),
            expires_at: 1_000,
        }
    }

    fn answer(reported: Reported, received: Option<&str>) -> Answer {
        Answer {
            reported,
            payment_id: Some("p1".into()),
            amount: Some(m("105")),
            currency: Some("usd".into()),
            received: received.map(m),
        }
    }

    #[test]
    fn quotes_fee_and_bonus() {
        let tiers = parse_bonus_table("500=7.5, 100=5").expect("table");
        assert_eq!(format_bonus_table(&tiers), "100=5, 500=7.5");
        let terms = Terms {
            min: m("1"),
            max: m("1000"),
            fee_bp: 333,
        };
        let q = quote(m("100"), terms, &tiers).expect("quote");
        // 3.33% of 100 is 3.33; the bonus is 5% of what is credited.
        assert_eq!((q.fee, q.total, q.bonus), (m("3.33"), m("103.33"), m("5")));
        let q = quote(m("10.01"), terms, &tiers).expect("quote");
        // 0.3333 rounds up to 0.34; below 100 no bonus.
        assert_eq!((q.fee, q.bonus), (m("0.34"), Money::ZERO));
        assert_eq!(quote(m("600"), terms, &tiers).map(|q| q.bonus), Ok(m("45")));
        // 5% of 100.55 is 5.0275: 5.02.
        assert_eq!(
            quote(m("100.55"), terms, &tiers).map(|q| q.bonus),
            Ok(m("5.02"))
        );
        assert_eq!(
            quote(m("0.5"), terms, &tiers),
            Err(QuoteError::BelowMin("1.00".into()))
        );
        assert_eq!(
            quote(m("1000.01"), terms, &tiers),
            Err(QuoteError::AboveMax("1000.00".into()))
        );
        assert_eq!(quote(m("1.001"), terms, &tiers), Err(QuoteError::BadAmount));
        assert!(parse_bonus_table("100=5, 100=6").is_err());
        assert!(parse_bonus_table("100").is_err());
        assert!(parse_bonus_table("0=5").is_err());
        assert!(parse_bonus_table("100=101").is_err());
        assert_eq!(parse_bonus_table(" "), Ok(vec![]));
    }

    #[test]
    fn credits_a_payment_in_full_with_its_bonus() {
        let s = settle(
            &standing(PaymentState::Pending),
            &answer(Reported::Paid, Some("105")),
            Mismatch::Credit,
            &[],
            0,
        );
        assert!(
            matches!(s, Settlement::Credit { state: PaymentState::Paid, credit, bonus, late: false, .. }
            if credit == m("100") && bonus == m("5"))
        );
    }

    #[test]
    fn under_and_over_payments_follow_the_setting() {
        let tiers = parse_bonus_table("50=2").expect("table");
        let under = answer(Reported::Underpaid, Some("52.5"));
        let s = settle(
            &standing(PaymentState::Pending),
            &under,
            Mismatch::Credit,
            &tiers,
            0,
        );
        assert!(
            matches!(s, Settlement::Credit { state: PaymentState::PartiallyPaid, credit, bonus, .. }
            if credit == m("50") && bonus == m("1"))
        );
        let s = settle(
            &standing(PaymentState::Pending),
            &under,
            Mismatch::Hold,
            &tiers,
            0,
        );
        assert!(matches!(s, Settlement::Hold { received, .. } if received == m("52.5")));
        let over = answer(Reported::Paid, Some("210"));
        let s = settle(
            &standing(PaymentState::Pending),
            &over,
            Mismatch::Credit,
            &tiers,
            0,
        );
        assert!(
            matches!(s, Settlement::Credit { state: PaymentState::Paid, credit, bonus, .. }
            if credit == m("200") && bonus == m("5"))
        );
    }

    #[test]
    fn a_late_payment_is_credited_and_flagged() {
        let s = settle(
            &standing(PaymentState::Expired),
            &answer(Reported::Paid, Some("105")),
            Mismatch::Credit,
            &[],
            0,
        );
        assert!(matches!(s, Settlement::Credit { late: true, .. }));
    }

    #[test]
    fn settled_payments_are_never_reopened() {
        for state in [
            PaymentState::Paid,
            PaymentState::PartiallyPaid,
            PaymentState::Failed,
            PaymentState::Held,
        ] {
            for reported in [
                Reported::Paid,
                Reported::Pending,
                Reported::Expired,
                Reported::Failed,
            ] {
                let s = settle(
                    &standing(state),
                    &answer(reported, Some("105")),
                    Mismatch::Credit,
                    &[],
                    0,
                );
                assert!(
                    matches!(s, Settlement::Nothing { .. }),
                    "{state:?} {reported:?}: {s:?}"
                );
            }
        }
        let s = settle(
            &standing(PaymentState::Paid),
            &answer(Reported::Refunded, None),
            Mismatch::Credit,
            &[],
            0,
        );
        assert!(matches!(s, Settlement::Nothing { alarm: true, .. }));
    }

    #[test]
    fn answers_that_do_not_match_the_invoice_move_nothing() {
        let p = standing(PaymentState::Pending);
        let mut a = answer(Reported::Paid, Some("105"));
        a.currency = Some("EUR".into());
        assert!(matches!(
            settle(&p, &a, Mismatch::Credit, &[], 0),
            Settlement::Nothing { alarm: true, .. }
        ));
        let mut a = answer(Reported::Paid, Some("1"));
        a.amount = Some(m("1"));
        assert!(matches!(
            settle(&p, &a, Mismatch::Credit, &[], 0),
            Settlement::Nothing { alarm: true, .. }
        ));
        let mut a = answer(Reported::Paid, Some("105"));
        a.payment_id = Some("p2".into());
        assert!(matches!(
            settle(&p, &a, Mismatch::Credit, &[], 0),
            Settlement::Nothing { alarm: true, .. }
        ));
    }

    #[test]
    fn pending_past_expiry_and_grace_expires() {
        let p = standing(PaymentState::Pending);
        let a = answer(Reported::Pending, None);
        assert_eq!(
            settle(&p, &a, Mismatch::Credit, &[], 1_000),
            Settlement::Wait
        );
        assert!(matches!(
            settle(&p, &a, Mismatch::Credit, &[], 1_000 + EXPIRY_GRACE_MS),
            Settlement::Close {
                state: PaymentState::Expired,
                ..
            }
        ));
    }
}
