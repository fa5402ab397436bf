//! Souk's use cases: each is a typed command that the API, the web pages, the CLI and
//! the workers call, so none of them calls another. Rules live in `souk-core`, storage in
//! `souk-store`, the protocols spoken to other systems in `souk-client`.
#![forbid(unsafe_code)]

pub mod refill;
pub mod sms_rental;
