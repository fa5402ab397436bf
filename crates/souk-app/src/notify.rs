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
