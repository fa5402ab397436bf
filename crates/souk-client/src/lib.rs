//! Clients for the protocols Souk speaks to other systems: API v2 (upstream panels and
//! marketplaces, and other Souk installations) and the sms-activate protocol (upstream
//! SMS number providers).
#![forbid(unsafe_code)]

pub mod api_v2;
pub mod guard;
pub mod pacing;
pub mod pause;
pub mod payments;
pub mod rate_source;
pub mod sms_activate;
pub mod smtp;
pub mod telegram;
pub mod webhook;
