//! Subscriptions (PerfectPanel's `Subscriptions` type): the provider watches an account
//! and serves each new post, up to `posts` of them, until the subscription ends. Their
//! state is their own: `Active`, `Paused`, `Completed`, `Expired`, `Canceled`, with the
//! posts served so far; what ends with posts unserved is refunded for those posts.

use crate::early_cancel::proportional_refund;
use crate::order::OrderStatus;
use crate::Money;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SubscriptionState {
    Active,
    Paused,
    Completed,
    Expired,
    Canceled,
}

impl SubscriptionState {
    /// A provider's word for it, in any case; `None` for anything else.
    pub fn parse(text: &str) -> Option<SubscriptionState> {
        Some(
            match text
                .trim()
                .to_ascii_lowercase()
                .replace(['_', '-'], " ")
                .as_str()
            {
                "active" | "in progress" | "pending" | "processing" => SubscriptionState::Active,
                "paused" | "pause" => SubscriptionState::Paused,
                "completed" | "complete" => SubscriptionState::Completed,
                "expired" => SubscriptionState::Expired,
                "canceled" | "cancelled" | "refunded" => SubscriptionState::Canceled,
                _ => return None,
            },
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionState::Active => "Active",
            SubscriptionState::Paused => "Paused",
            SubscriptionState::Completed => "Completed",
            SubscriptionState::Expired => "Expired",
            SubscriptionState::Canceled => "Canceled",
        }
    }

    /// How a subscription in our order's own status reads: open ones active, closed
    /// ones by how they closed.
    pub fn of_order(status: OrderStatus) -> SubscriptionState {
        match status {
            OrderStatus::Pending | OrderStatus::Processing | OrderStatus::Error => {
                SubscriptionState::Active
            }
            OrderStatus::Completed => SubscriptionState::Completed,
            OrderStatus::Partial => SubscriptionState::Expired,
            OrderStatus::Canceled => SubscriptionState::Canceled,
        }
    }

    /// Where it leaves the order, and what is refunded: the unserved posts' share of the
    /// charge when it expires or is cancelled (never more than is left to refund).
    pub fn settle(
        self,
        charge: Money,
        refunded: Money,
        posts: i64,
        served: i64,
    ) -> (OrderStatus, Money) {
        let served = served.clamp(0, posts.max(0));
        match self {
            SubscriptionState::Active | SubscriptionState::Paused => {
                (OrderStatus::Processing, Money::ZERO)
            }
            SubscriptionState::Completed => (OrderStatus::Completed, Money::ZERO),
            SubscriptionState::Expired | SubscriptionState::Canceled => {
                let refund = proportional_refund(charge, refunded, posts, served);
                let status = if served == 0 {
                    OrderStatus::Canceled
                } else {
                    OrderStatus::Partial
                };
                (status, refund)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_and_refunds() {
        assert_eq!(
            SubscriptionState::parse("PAUSED"),
            Some(SubscriptionState::Paused)
        );
        assert_eq!(
            SubscriptionState::parse("Cancelled"),
            Some(SubscriptionState::Canceled)
        );
        assert_eq!(SubscriptionState::parse("Partial"), None);
        let m = |t: &str| Money::parse(t).expect("money");
        let charge = m("1.20");
        assert_eq!(
            SubscriptionState::Expired.settle(charge, Money::ZERO, 5, 2),
            (OrderStatus::Partial, m("0.72"))
        );
        assert_eq!(
            SubscriptionState::Canceled.settle(charge, Money::ZERO, 5, 0),
            (OrderStatus::Canceled, m("1.20"))
        );
        // Never more than is left, never for posts beyond those paid for.
        assert_eq!(
            SubscriptionState::Canceled.settle(charge, m("1.00"), 5, 0),
            (OrderStatus::Canceled, m("0.20"))
        );
        assert_eq!(
            SubscriptionState::Expired.settle(charge, Money::ZERO, 5, 9),
            (OrderStatus::Partial, Money::ZERO)
        );
        assert_eq!(
            SubscriptionState::Paused.settle(charge, Money::ZERO, 5, 1),
            (OrderStatus::Processing, Money::ZERO)
        );
        assert_eq!(
            SubscriptionState::of_order(OrderStatus::Error),
            SubscriptionState::Active
        );
    }
}
