//! Use cases: each is a typed command or function that the API, the web pages, the CLI
//! and the workers call alike, so a rule of the flow (what is checked first, what runs to
//! completion) lives once. Nothing here knows about HTTP, request parameters or JSON.
#![forbid(unsafe_code)]

pub mod orders;
pub mod providers;
