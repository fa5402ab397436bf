//! Delivering the event stream (`souk_store::Event`): each channel sends one queue per
//! job (`webhook.send` per endpoint, `telegram.send` and `email.send` per audience), in
//! event order, on the delivery lane, so a receiver that hangs holds up only its own
//! queue.

use souk_store::Store;

/// What a channel's queue job needs.
#[derive(Clone, Debug)]
pub struct Channels {
    pub store: Store,
    /// Let webhook endpoints, the Bot API and the SMTP relay live on private or
    /// loopback addresses (`SOUK_ALLOW_PRIVATE_UPSTREAMS`).
    pub allow_private: bool,
}

/// What is left of a queue after one run.
#[derive(Debug, PartialEq, Eq)]
pub enum QueueStep {
    /// Empty (or its endpoint gone): the job ends; the next event brings it back.
    Done,
    /// Run again at this time (a retry waiting, a rate limit).
    Again(i64),
}

/// Whose choices of events are asked about: a buyer, a supplier (who is a buyer too), or
/// the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Chooser {
    Buyer,
    Supplier,
    Operator,
}

/// The kinds `who` may choose to be told of, each once, in catalogue order.
pub fn kinds_for(who: Chooser) -> Vec<&'static souk_core::event::Kind> {
    use souk_core::event::{Audience, KINDS};
    let mut out: Vec<&'static souk_core::event::Kind> = Vec::new();
    for k in KINDS {
        let theirs = match who {
            Chooser::Buyer => k.audience == Audience::Buyer,
            Chooser::Supplier => matches!(k.audience, Audience::Buyer | Audience::Supplier),
            Chooser::Operator => k.audience == Audience::Operator,
        };
        if theirs && !out.iter().any(|o| o.name == k.name) {
            out.push(k);
        }
    }
    out
}

/// `wanted` checked against what `who` may choose: the kinds, each once, in catalogue
/// order; an unknown or foreign kind is refused by name (nothing is to be stored then).
pub fn check_kinds(who: Chooser, wanted: &[String]) -> Result<Vec<String>, String> {
    let allowed = kinds_for(who);
    if let Some(bad) = wanted
        .iter()
        .find(|w| !allowed.iter().any(|k| k.name == w.trim()))
    {
        return Err(format!(
            "Unknown event kind {:?}: one of {}",
            bad.trim(),
            allowed
                .iter()
                .map(|k| k.name)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(allowed
        .iter()
        .filter(|k| wanted.iter().any(|w| w.trim() == k.name))
        .map(|k| k.name.to_owned())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choosers_see_their_kinds() {
        let names = |who| kinds_for(who).iter().map(|k| k.name).collect::<Vec<_>>();
        assert!(names(Chooser::Buyer).contains(&"order.completed"));
        assert!(!names(Chooser::Buyer).contains(&"order.created"));
        assert!(names(Chooser::Supplier).contains(&"order.created"));
        assert!(names(Chooser::Operator).contains(&"dispute.opened"));
        assert!(!names(Chooser::Operator).contains(&"order.completed"));
        assert_eq!(
            check_kinds(
                Chooser::Buyer,
                &["sms.code_received".into(), "order.completed".into()]
            ),
            Ok(vec![
                "order.completed".to_owned(),
                "sms.code_received".to_owned()
            ])
        );
        assert!(check_kinds(Chooser::Buyer, &["order.created".into()]).is_err());
        assert!(check_kinds(Chooser::Buyer, &["nope".into()]).is_err());
    }
}
