//! Early cancel (`cancel`, `allowcancel`): the rules of SPEC 8 in their order, and the
//! proportional refund.

use crate::catalogue::ProductType;
use crate::money::Money;
use crate::order::OrderStatus;
use crate::params::parse_bool;
use crate::supply::{EARLY_CANCEL_ENABLED, EARLY_REFUND_MINUTES};

/// The answer's `error` for an ineligible order.
pub const NOT_AVAILABLE: &str = "Early auto refund is not available for this order";

/// The operator settings the rules read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelSettings {
    pub enabled: bool,
    /// `auto_order_early_refund_minutes`.
    pub min_wait_minutes: i64,
}

impl Default for CancelSettings {
    fn default() -> Self {
        CancelSettings {
            enabled: true,
            min_wait_minutes: 30,
        }
    }
}

impl CancelSettings {
    /// The settings from stored (key, value) rows; a missing or unreadable value keeps its
    /// default.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut s = CancelSettings::default();
        for (key, value) in pairs {
            match key {
                EARLY_CANCEL_ENABLED => s.enabled = parse_bool(value).unwrap_or(s.enabled),
                EARLY_REFUND_MINUTES => {
                    s.min_wait_minutes = value.trim().parse().unwrap_or(s.min_wait_minutes)
                }
                _ => {}
            }
        }
        s
    }
}

/// Everything the rules look at, read in the cancel's transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFacts {
    pub product_type: ProductType,
    pub payment_status: String,
    pub status: OrderStatus,
    pub external_id: Option<String>,
    /// When payment completed (unix ms).
    pub paid_at: Option<i64>,
    pub self_refunded: bool,
    pub quantity: i64,
    pub delivered: i64,
    pub charge: Money,
    pub refunded: Money,
    pub active_dispute: bool,
    pub supplier_withdrawal: bool,
}

/// Why an order cannot be cancelled early, first failing rule first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    FeatureDisabled,
    ProductTypeNotEligible,
    PaymentNotCompleted,
    StatusNotEligible,
    SentToProvider,
    /// With the moment it becomes eligible (unix ms).
    BeforeMinWait(i64),
    AlreadySelfRefunded,
    FullyDelivered,
    NothingToRefund,
    ActiveDispute,
    SupplierWithdrawal,
}

impl Reason {
    pub fn code(self) -> &'static str {
        match self {
            Reason::FeatureDisabled => "FEATURE_DISABLED",
            Reason::ProductTypeNotEligible => "PRODUCT_TYPE_NOT_ELIGIBLE",
            Reason::PaymentNotCompleted => "PAYMENT_NOT_COMPLETED",
            Reason::StatusNotEligible => "STATUS_NOT_ELIGIBLE",
            Reason::SentToProvider => "SENT_TO_PROVIDER",
            Reason::BeforeMinWait(_) => "BEFORE_MIN_WAIT",
            Reason::AlreadySelfRefunded => "ALREADY_SELF_REFUNDED",
            Reason::FullyDelivered => "FULLY_DELIVERED",
            Reason::NothingToRefund => "NOTHING_TO_REFUND",
            Reason::ActiveDispute => "ACTIVE_DISPUTE",
            Reason::SupplierWithdrawal => "SUPPLIER_WITHDRAWAL",
        }
    }

    /// `eligibleAfter`, for `BEFORE_MIN_WAIT` only.
    pub fn eligible_after(self) -> Option<i64> {
        match self {
            Reason::BeforeMinWait(at) => Some(at),
            _ => None,
        }
    }
}

/// What a cancel would do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Refund {
    pub amount: Money,
    /// The status the order ends in: `Canceled` if nothing was delivered, else `Partial`.
    pub final_status: OrderStatus,
}

/// `charge x undelivered / quantity`, rounded down, never more than what is left.
pub fn proportional_refund(charge: Money, refunded: Money, quantity: i64, delivered: i64) -> Money {
    if quantity <= 0 {
        return Money::ZERO;
    }
    let undelivered = (quantity - delivered).clamp(0, quantity);
    let due = charge
        .mul_div_floor(undelivered, quantity)
        .unwrap_or(Money::ZERO);
    let left = charge.checked_sub(refunded).unwrap_or(Money::ZERO);
    due.min(left).max(Money::ZERO)
}

/// Applies the rules of SPEC 8 in order.
pub fn evaluate(facts: &OrderFacts, settings: &CancelSettings, now: i64) -> Result<Refund, Reason> {
    if !settings.enabled {
        return Err(Reason::FeatureDisabled);
    }
    if !matches!(
        facts.product_type,
        ProductType::Auto | ProductType::Inventory
    ) {
        return Err(Reason::ProductTypeNotEligible);
    }
    // A payment without its time is no completed payment: there is no moment to count
    // the minimum wait from (and `eligibleAfter` would print 1970).
    let paid_at = match (facts.payment_status.as_str(), facts.paid_at) {
        ("completed" | "partial", Some(at)) => at,
        _ => return Err(Reason::PaymentNotCompleted),
    };
    if !facts.status.is_open() {
        return Err(Reason::StatusNotEligible);
    }
    if facts
        .external_id
        .as_deref()
        .is_some_and(|id| !id.is_empty())
    {
        return Err(Reason::SentToProvider);
    }
    let eligible_at =
        paid_at.saturating_add(settings.min_wait_minutes.max(0).saturating_mul(60_000));
    if now < eligible_at {
        return Err(Reason::BeforeMinWait(eligible_at));
    }
    if facts.self_refunded {
        return Err(Reason::AlreadySelfRefunded);
    }
    if facts.delivered >= facts.quantity {
        return Err(Reason::FullyDelivered);
    }
    let amount = proportional_refund(
        facts.charge,
        facts.refunded,
        facts.quantity,
        facts.delivered,
    );
    if facts.refunded >= facts.charge || amount == Money::ZERO {
        return Err(Reason::NothingToRefund);
    }
    if facts.active_dispute {
        return Err(Reason::ActiveDispute);
    }
    if facts.supplier_withdrawal {
        return Err(Reason::SupplierWithdrawal);
    }
    Ok(Refund {
        amount,
        final_status: if facts.delivered == 0 {
            OrderStatus::Canceled
        } else {
            OrderStatus::Partial
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn eligible() -> OrderFacts {
        OrderFacts {
            product_type: ProductType::Auto,
            payment_status: "completed".into(),
            status: OrderStatus::Pending,
            external_id: None,
            paid_at: Some(0),
            self_refunded: false,
            quantity: 10,
            delivered: 0,
            charge: Money::from_micros(5_000_000),
            refunded: Money::ZERO,
            active_dispute: false,
            supplier_withdrawal: false,
        }
    }

    const LATER: i64 = 31 * 60_000;

    /// Breaks one rule of an otherwise eligible order.
    type Breaker = Box<dyn Fn(&mut OrderFacts, &mut CancelSettings, &mut i64)>;

    #[test]
    fn each_rule_in_order() {
        let s = CancelSettings::default();
        let ok = evaluate(&eligible(), &s, LATER).expect("eligible");
        assert_eq!(ok.amount, Money::from_micros(5_000_000));
        assert_eq!(ok.final_status, OrderStatus::Canceled);

        let cases: Vec<(Breaker, &str)> = vec![
            (Box::new(|_, s, _| s.enabled = false), "FEATURE_DISABLED"),
            (
                Box::new(|f, _, _| f.product_type = ProductType::Manual),
                "PRODUCT_TYPE_NOT_ELIGIBLE",
            ),
            (
                Box::new(|f, _, _| f.payment_status = "pending".into()),
                "PAYMENT_NOT_COMPLETED",
            ),
            (
                Box::new(|f, _, _| f.status = OrderStatus::Completed),
                "STATUS_NOT_ELIGIBLE",
            ),
            (
                Box::new(|f, _, _| f.external_id = Some("77".into())),
                "SENT_TO_PROVIDER",
            ),
            (Box::new(|_, _, now| *now = 29 * 60_000), "BEFORE_MIN_WAIT"),
            (
                Box::new(|f, _, _| f.self_refunded = true),
                "ALREADY_SELF_REFUNDED",
            ),
            (Box::new(|f, _, _| f.delivered = 10), "FULLY_DELIVERED"),
            (
                Box::new(|f, _, _| f.refunded = f.charge),
                "NOTHING_TO_REFUND",
            ),
            (
                Box::new(|f, _, _| f.active_dispute = true),
                "ACTIVE_DISPUTE",
            ),
            (
                Box::new(|f, _, _| f.supplier_withdrawal = true),
                "SUPPLIER_WITHDRAWAL",
            ),
        ];
        // Each rule alone fails with its own reason, and wins over every later rule.
        for (i, (break_rule, code)) in cases.iter().enumerate() {
            let (mut f, mut s, mut now) = (eligible(), CancelSettings::default(), LATER);
            break_rule(&mut f, &mut s, &mut now);
            assert_eq!(evaluate(&f, &s, now).map_err(Reason::code), Err(*code));
            for (later, _) in &cases[i + 1..] {
                later(&mut f, &mut s, &mut now);
            }
            assert_eq!(
                evaluate(&f, &s, now).map_err(Reason::code),
                Err(*code),
                "{code} must come first"
            );
        }
    }

    #[test]
    fn eligible_after_is_payment_plus_wait() {
        let s = CancelSettings {
            enabled: true,
            min_wait_minutes: 45,
        };
        let mut f = eligible();
        f.paid_at = Some(1_000);
        assert_eq!(
            evaluate(&f, &s, 1_000).map_err(Reason::eligible_after),
            Err(Some(1_000 + 45 * 60_000))
        );
        assert!(evaluate(&f, &s, 1_000 + 45 * 60_000).is_ok());
    }

    #[test]
    fn paid_without_a_payment_time_is_not_paid() {
        let mut f = eligible();
        f.paid_at = None;
        assert_eq!(
            evaluate(&f, &CancelSettings::default(), LATER),
            Err(Reason::PaymentNotCompleted)
        );
    }

    #[test]
    fn settings_from_stored_rows() {
        let s = CancelSettings::from_pairs([
            (EARLY_CANCEL_ENABLED, "false"),
            (EARLY_REFUND_MINUTES, " 45 "),
            ("commission_percent", "12"),
        ]);
        assert_eq!(
            s,
            CancelSettings {
                enabled: false,
                min_wait_minutes: 45
            }
        );
        let kept = CancelSettings::from_pairs([
            (EARLY_CANCEL_ENABLED, "maybe"),
            (EARLY_REFUND_MINUTES, "soon"),
        ]);
        assert_eq!(kept, CancelSettings::default());
    }

    #[test]
    fn partial_delivery_refunds_the_rest() {
        let mut f = eligible();
        f.delivered = 3;
        f.charge = Money::from_micros(10_000_000);
        let r = evaluate(&f, &CancelSettings::default(), LATER).expect("eligible");
        assert_eq!(r.amount, Money::from_micros(7_000_000));
        assert_eq!(r.final_status, OrderStatus::Partial);
        // 1.00 over 3 units, one delivered: 0.666666 (rounded down).
        assert_eq!(
            proportional_refund(Money::from_micros(1_000_000), Money::ZERO, 3, 1),
            Money::from_micros(666_666)
        );
    }

    proptest! {
        #[test]
        fn refunds_never_exceed_what_is_left(
            charge in 0i64..10_000_000_000,
            already in 0i64..10_000_000_000,
            quantity in 1i64..100_000,
            delivered in 0i64..100_000,
        ) {
            let charge = Money::from_micros(charge);
            let refunded = Money::from_micros(already.min(charge.micros()));
            let delivered = delivered.min(quantity);
            let refund = proportional_refund(charge, refunded, quantity, delivered);
            prop_assert!(refund >= Money::ZERO);
            prop_assert!(refund.micros() + refunded.micros() <= charge.micros());
            // Delivered units stay paid for: the refund covers at most the undelivered share.
            prop_assert!(i128::from(refund.micros()) * i128::from(quantity) <= i128::from(charge.micros()) * i128::from(quantity - delivered));
        }
    }
}
