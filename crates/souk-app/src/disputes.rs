//! A buyer's dispute as the operator decides it: a refund (all that is left, or an
//! amount) or none. The decision is made, audited, by `operators::resolve_dispute_as`
//! (the console, the operator API's `/disputes/{id}/resolve`, `souk admin dispute
//! refund|reject`); an operator's message in the thread by `operators::dispute_message`.

pub use souk_store::DisputeDecision;
