//! An operator's change to a buyer's balance: which ledger kind it is booked as, and what
//! it needs to be allowed. Whether the balance can take it (never below zero) is the
//! store's to check, in the transaction that books it.

use crate::supply::{self, SupplyError};
use crate::Money;

/// How a balance change is booked in the ledger.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalanceKind {
    /// A credit: money the buyer paid in.
    TopUp,
    /// Either way, with a note saying why.
    Adjust,
}

impl BalanceKind {
    /// The ledger's `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            BalanceKind::TopUp => "topup",
            BalanceKind::Adjust => "adjust",
        }
    }

    /// `topup` or `adjust`, as the operator API spells them.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "topup" => Some(BalanceKind::TopUp),
            "adjust" => Some(BalanceKind::Adjust),
            _ => None,
        }
    }
}

/// What the operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BalanceRequest {
    /// This kind, as named.
    Kind(BalanceKind),
    /// No kind named: a credit is a top-up, a debit an adjustment (which needs a note).
    BySign,
    /// `souk admin balance add`: by the sign too, but a debit needs no note and the note
    /// is booked as typed; the command has always worked so, and scripts may rely on it.
    QuickBySign,
    /// A kind the ledger does not know (refused once the note has been checked, the
    /// order the operator API has always answered in).
    Unknown,
}

impl BalanceRequest {
    /// The operator API's optional `kind`.
    pub fn named(kind: Option<&str>) -> Self {
        match kind {
            None => BalanceRequest::BySign,
            Some(text) => {
                BalanceKind::parse(text).map_or(BalanceRequest::Unknown, BalanceRequest::Kind)
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BalanceRefusal {
    #[error("kind must be topup or adjust")]
    UnknownKind,
    #[error("A top-up must be positive; use kind adjust to debit")]
    NegativeTopUp,
    #[error("An adjustment needs a note saying why")]
    NoteMissing,
    #[error(transparent)]
    Note(SupplyError),
}

/// A change the operator may make: its kind and the note to book with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceChange {
    pub kind: BalanceKind,
    pub note: String,
}

/// Decides how `amount` is booked, refusing a negative top-up and an adjustment without
/// a note (the ledger must say why money was taken or given outside a payment).
pub fn balance_change(
    request: BalanceRequest,
    amount: Money,
    note: &str,
) -> Result<BalanceChange, BalanceRefusal> {
    let by_sign = if amount.is_negative() {
        BalanceKind::Adjust
    } else {
        BalanceKind::TopUp
    };
    if request == BalanceRequest::QuickBySign {
        return Ok(BalanceChange {
            kind: by_sign,
            note: note.to_owned(),
        });
    }
    let note =
        supply::check_len("note", note, supply::MAX_MESSAGE).map_err(BalanceRefusal::Note)?;
    let kind = match request {
        BalanceRequest::Kind(kind) => kind,
        BalanceRequest::Unknown => return Err(BalanceRefusal::UnknownKind),
        BalanceRequest::BySign | BalanceRequest::QuickBySign => by_sign,
    };
    if kind == BalanceKind::TopUp && amount.is_negative() {
        return Err(BalanceRefusal::NegativeTopUp);
    }
    if kind == BalanceKind::Adjust && note.is_empty() {
        return Err(BalanceRefusal::NoteMissing);
    }
    Ok(BalanceChange { kind, note })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(text: &str) -> Money {
        Money::parse(text).expect("amount")
    }

    #[test]
    fn by_sign_credits_are_top_ups_and_debits_adjustments() {
        let up = balance_change(BalanceRequest::BySign, money("5"), "").expect("top-up");
        assert_eq!(up.kind, BalanceKind::TopUp);
        let down = balance_change(BalanceRequest::BySign, money("-5"), " fee ").expect("debit");
        assert_eq!(
            down,
            BalanceChange {
                kind: BalanceKind::Adjust,
                note: "fee".into()
            }
        );
    }

    #[test]
    fn an_adjustment_needs_a_note() {
        for request in [
            BalanceRequest::BySign,
            BalanceRequest::Kind(BalanceKind::Adjust),
        ] {
            assert_eq!(
                balance_change(request, money("-1"), "  "),
                Err(BalanceRefusal::NoteMissing)
            );
        }
        let credit = balance_change(
            BalanceRequest::Kind(BalanceKind::Adjust),
            money("1"),
            "gift",
        );
        assert_eq!(credit.expect("credit").kind, BalanceKind::Adjust);
    }

    #[test]
    fn a_top_up_is_never_negative() {
        assert_eq!(
            balance_change(BalanceRequest::Kind(BalanceKind::TopUp), money("-1"), "x"),
            Err(BalanceRefusal::NegativeTopUp)
        );
    }

    #[test]
    fn a_note_is_checked_before_the_kind() {
        let long = "x".repeat(supply::MAX_MESSAGE + 1);
        assert!(matches!(
            balance_change(BalanceRequest::Kind(BalanceKind::TopUp), money("-1"), &long),
            Err(BalanceRefusal::Note(SupplyError::TooLong("note", _)))
        ));
    }

    #[test]
    fn the_quick_command_takes_a_debit_without_a_note() {
        let down = balance_change(BalanceRequest::QuickBySign, money("-0.5"), "").expect("debit");
        assert_eq!(down.kind, BalanceKind::Adjust);
        assert_eq!(down.note, "");
    }

    #[test]
    fn an_unknown_kind_is_refused_after_the_note() {
        assert_eq!(BalanceRequest::named(Some("gift")), BalanceRequest::Unknown);
        assert_eq!(BalanceRequest::named(None), BalanceRequest::BySign);
        assert_eq!(
            balance_change(BalanceRequest::Unknown, money("1"), "x"),
            Err(BalanceRefusal::UnknownKind)
        );
        assert!(matches!(
            balance_change(BalanceRequest::Unknown, money("1"), "\u{7}"),
            Err(BalanceRefusal::Note(_))
        ));
    }

    #[test]
    fn kinds_round_trip() {
        for kind in [BalanceKind::TopUp, BalanceKind::Adjust] {
            assert_eq!(BalanceKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(BalanceKind::parse("gift"), None);
    }
}
