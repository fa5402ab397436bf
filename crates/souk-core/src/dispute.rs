//! The operator's resolution of a buyer's dispute. How much is left to refund is the
//! store's to check, in the transaction that refunds it.

use crate::Money;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DisputeRefusal {
    /// A negative refund would charge the buyer.
    #[error("a refund cannot be negative")]
    NegativeRefund,
}

/// A refund the operator names (`None`: everything not yet refunded).
pub fn check_refund(amount: Option<Money>) -> Result<(), DisputeRefusal> {
    match amount {
        Some(a) if a.is_negative() => Err(DisputeRefusal::NegativeRefund),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refund_is_never_negative() {
        let m = |t: &str| Money::parse(t).expect("amount");
        assert_eq!(
            check_refund(Some(m("-0.01"))),
            Err(DisputeRefusal::NegativeRefund)
        );
        assert_eq!(check_refund(Some(m("0"))), Ok(()));
        assert_eq!(check_refund(Some(m("3.50"))), Ok(()));
        assert_eq!(check_refund(None), Ok(()));
    }
}
