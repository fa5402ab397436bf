//! Souk's HTTP surface.
#![forbid(unsafe_code)]

pub mod account;
pub mod address;
pub mod auth;
pub mod cache;
pub mod metrics;
pub mod openapi;
pub mod operator;
pub mod ops_metrics;
pub mod ratelimit;
pub mod rest;
pub mod router;
pub mod routes;
pub mod state;
pub mod stubs;
pub mod supplier;
pub mod transport;
pub mod v2;
pub mod web;
pub mod webhooks;

pub use router::{router, serve, watch_changes};
pub use routes::documented_routes;
pub use souk_app::passwords;
pub use state::{ApiConfig, AppState, CookieSecure, Throttle};
