//! Use cases: each is a typed command or function that the API, the web pages, the CLI
//! and the workers call alike, so a rule of the flow (what is checked first, what is on
//! record before an upstream is called, what runs to completion) lives once. Nothing here
//! knows about HTTP, request parameters or JSON. Rules live in `souk-core`, storage in
//! `souk-store`, the protocols spoken to other systems in `souk-client`.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod balances;
pub mod cancel;
pub mod disputes;
pub mod email;
pub mod mail;
pub mod notify;
pub mod operator_catalogue;
pub mod operator_gateways;
pub mod operator_orders;
pub mod operator_providers;
pub mod operator_settings;
pub mod operator_sms;
pub mod operator_users;
pub mod operators;
pub mod orders;
pub mod passwords;
pub mod payments;
pub mod providers;
pub mod recovery;
pub mod refill;
pub mod reviews;
pub mod sessions;
pub mod settings;
pub mod shops;
pub mod signup;
pub mod sms_activation;
pub mod sms_admin;
pub mod sms_rental;
pub mod stock;
pub mod supplier_orders;
pub mod supplier_products;
pub mod telegram;
pub mod totp;
pub mod upstream;
pub mod upstream_stats;
pub mod webhooks;
pub mod withdrawals;
