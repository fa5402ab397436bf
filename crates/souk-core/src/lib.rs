//! Souk's domain: the rules of the marketplace with no I/O, so they can be tested alone.
#![forbid(unsafe_code)]

pub mod balance;
pub mod catalogue;
pub mod clock;
pub mod display_currency;
pub mod dispute;
pub mod early_cancel;
pub mod error;
pub mod event;
pub mod id;
pub mod idempotency;
pub mod input;
pub mod jobs;
pub mod lang;
pub mod markup;
pub mod mass_order;
pub mod money;
pub mod order;
pub mod order_input;
pub mod params;
pub mod password;
pub mod payment;
pub mod rate_source;
pub mod secret;
pub mod smm_type;
pub mod sms;
pub mod subscription;
pub mod supply;
pub mod text;
pub mod web_url;

pub use error::ApiError;
pub use lang::Lang;
pub use money::Money;
pub use params::Params;
pub use text::Text;
