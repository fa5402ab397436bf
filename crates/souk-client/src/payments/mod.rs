//! Clients for the payment gateways buyers top up through: Cryptomus and NOWPayments
//! (crypto invoices) and Stripe Checkout (cards), each speaking its provider's documented
//! protocol over the shared guarded HTTP client, its base URL configurable (tests run
//! them against fakes on loopback). Written by hand: each needs three or four calls and
//! one signature scheme, lighter than any SDK crate.
//!
//! A callback is only ever *verified* here (its signature, its freshness): what it says
//! about a payment is not trusted. Souk acts on [`GatewayClient::fetch_state`], the
//! gateway's answer to a question Souk asked.

mod cryptomus;
mod http;
mod nowpayments;
mod stripe;

use std::time::Duration;

pub use reqwest::header::HeaderMap;
use souk_core::Money;

use crate::guard::GuardError;

/// How long one call to a gateway may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of a gateway's answer that is read.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// The gateways that have a client (manual transfers have none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayKind {
    Cryptomus,
    NowPayments,
    Stripe,
}

impl GatewayKind {
    pub fn parse(text: &str) -> Option<GatewayKind> {
        match text {
            "cryptomus" => Some(GatewayKind::Cryptomus),
            "nowpayments" => Some(GatewayKind::NowPayments),
            "stripe" => Some(GatewayKind::Stripe),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GatewayKind::Cryptomus => "cryptomus",
            GatewayKind::NowPayments => "nowpayments",
            GatewayKind::Stripe => "stripe",
        }
    }

    /// The production base URL, the default when the operator sets none.
    pub fn default_base_url(self) -> &'static str {
        match self {
            GatewayKind::Cryptomus => "https://api.cryptomus.com",
            GatewayKind::NowPayments => "https://api.nowpayments.io",
            GatewayKind::Stripe => "https://api.stripe.com",
        }
    }
}

/// A gateway's configuration as the operator set it, keys in clear (the store keeps
/// them sealed).
#[derive(Clone, Debug)]
pub struct GatewayKeys {
    pub kind: GatewayKind,
    /// Without a trailing slash, e.g. `https://api.cryptomus.com`.
    pub base_url: String,
    /// Cryptomus: the merchant's uuid (the `merchant` header). Unused by the others.
    pub merchant: String,
    /// Cryptomus: the payment API key (signs requests and callbacks). NOWPayments: the
    /// API key (`x-api-key`). Stripe: the secret key (`sk_...`).
    pub api_key: String,
    /// NOWPayments: the IPN secret. Stripe: the endpoint's signing secret (`whsec_...`).
    /// Unused by Cryptomus.
    pub webhook_secret: String,
}

/// What Souk asks a gateway to bill.
#[derive(Clone, Debug)]
pub struct InvoiceRequest<'a> {
    /// Souk's payment id: Cryptomus and NOWPayments `order_id`, Stripe
    /// `client_reference_id` (and `metadata[payment_id]`).
    pub payment_id: &'a str,
    /// The invoice's total (what the buyer pays, fee included).
    pub amount: Money,
    /// ISO 4217, upper case (`USD`).
    pub currency: &'a str,
    pub description: &'a str,
    /// Where the gateway sends its callbacks for this payment.
    pub callback_url: &'a str,
    /// Where the buyer lands after paying (and after giving up).
    pub return_url: &'a str,
    /// How long the invoice can be paid, in seconds.
    pub lifetime_s: i64,
}

/// The gateway's invoice: its id and the page the buyer pays on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    /// Cryptomus invoice uuid, NOWPayments invoice id, Stripe Checkout Session id.
    pub external_id: String,
    pub pay_url: String,
}

/// Which payment Souk asks about.
#[derive(Clone, Debug)]
pub struct PaymentRef<'a> {
    /// Souk's payment id (what the invoice carried as `order_id` / reference).
    pub payment_id: &'a str,
    /// The invoice's id at the gateway ([`Invoice::external_id`]).
    pub external_id: &'a str,
    /// The gateway's own id of the payment made against the invoice, when a verified
    /// callback named one (NOWPayments `payment_id`); `None` before.
    pub remote_id: Option<&'a str>,
}

/// A payment's state in the gateway's words, mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RemoteStatus {
    /// Nothing (or not enough confirmations) yet: ask again later.
    Pending,
    /// Paid in full (or more: see [`RemoteState::received`]). Cryptomus `paid`,
    /// `paid_over`; NOWPayments `finished`; Stripe `payment_status = paid`.
    Paid,
    /// Less than the invoice arrived and the gateway will not wait for more. Cryptomus
    /// `wrong_amount`; NOWPayments `partially_paid`.
    Underpaid,
    /// The invoice ran out unpaid. Cryptomus `cancel`; NOWPayments `expired`; Stripe
    /// session `expired`.
    Expired,
    /// The payment failed. Cryptomus `fail`, `system_fail`; NOWPayments `failed`; Stripe
    /// async payment failed.
    Failed,
    /// The gateway gave the money back. Cryptomus `refund_paid`; NOWPayments `refunded`.
    Refunded,
}

/// What Souk learnt by asking the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteState {
    pub status: RemoteStatus,
    /// The gateway's own word for it, for the log (`paid_over`, `partially_paid` ...).
    pub raw_status: String,
    /// Souk's payment id as the gateway holds it: must equal the one asked about.
    pub payment_id: Option<String>,
    /// The invoice's amount and currency as the gateway holds them: must equal Souk's.
    pub amount: Option<Money>,
    pub currency: Option<String>,
    /// What arrived, converted to the invoice's currency, when the gateway says
    /// (`None` while nothing did, or when it does not say).
    pub received: Option<Money>,
    /// The gateway's id of the payment made against the invoice (NOWPayments
    /// `payment_id`), when it has one.
    pub remote_id: Option<String>,
}

/// What a callback whose signature checked out names. Only a hint: which payment to
/// ask the gateway about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallbackFacts {
    /// Souk's payment id, as the callback carries it (`order_id`, `client_reference_id`).
    pub payment_id: Option<String>,
    /// The invoice's id at the gateway.
    pub external_id: Option<String>,
    /// The gateway's id of the payment (NOWPayments `payment_id`).
    pub remote_id: Option<String>,
    /// The status the callback claims, for the log.
    pub status: String,
    /// The event's kind where the gateway has several (Stripe's `type`).
    pub event: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    #[error("no signature")]
    Unsigned,
    #[error("wrong signature")]
    BadSignature,
    /// Signed too long ago (or in the future): a replay.
    #[error("signature timestamp outside the tolerance")]
    Stale,
    #[error("unreadable callback: {0}")]
    Unreadable(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("request not sent: {0}")]
    NotSent(String),
    #[error("no answer within the timeout")]
    Timeout,
    /// The gateway refused the call, in its own words (bad key, amount too small ...).
    #[error("gateway refused: {0}")]
    Refused(String),
    #[error("HTTP {0} from the gateway")]
    Http(u16),
    #[error("gateway answered with unexpected content: {0}")]
    Garbage(String),
    /// The gateway does not know the payment (yet).
    #[error("the gateway does not know this payment")]
    Unknown,
    #[error("{0}")]
    Destination(#[from] GuardError),
    #[error("bad gateway URL: {0}")]
    BadUrl(String),
}

/// One gateway's client.
#[derive(Clone, Debug)]
pub struct GatewayClient {
    keys: GatewayKeys,
    allow_private: bool,
}

impl GatewayClient {
    /// `allow_private` lets the base URL be a private or loopback address (tests, and
    /// operators who proxy gateways).
    pub fn new(keys: GatewayKeys, allow_private: bool) -> GatewayClient {
        GatewayClient {
            keys,
            allow_private,
        }
    }

    pub fn kind(&self) -> GatewayKind {
        self.keys.kind
    }

    /// Asks the gateway for an invoice and its pay page.
    pub async fn create_invoice(&self, req: &InvoiceRequest<'_>) -> Result<Invoice, GatewayError> {
        match self.keys.kind {
            GatewayKind::Cryptomus => cryptomus::create_invoice(self, req).await,
            GatewayKind::NowPayments => nowpayments::create_invoice(self, req).await,
            GatewayKind::Stripe => stripe::create_invoice(self, req).await,
        }
    }

    /// Asks the gateway for the payment's state: what Souk credits on.
    pub async fn fetch_state(&self, payment: &PaymentRef<'_>) -> Result<RemoteState, GatewayError> {
        match self.keys.kind {
            GatewayKind::Cryptomus => cryptomus::fetch_state(self, payment).await,
            GatewayKind::NowPayments => nowpayments::fetch_state(self, payment).await,
            GatewayKind::Stripe => stripe::fetch_state(self, payment).await,
        }
    }

    /// Checks a callback's signature (and, for Stripe, its timestamp against `now_s`,
    /// Unix seconds) and reads which payment it names.
    pub fn verify_callback(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now_s: i64,
    ) -> Result<CallbackFacts, CallbackError> {
        match self.keys.kind {
            GatewayKind::Cryptomus => cryptomus::verify_callback(self, headers, body),
            GatewayKind::NowPayments => nowpayments::verify_callback(self, headers, body),
            GatewayKind::Stripe => stripe::verify_callback(self, headers, body, now_s),
        }
    }

    /// A harmless authenticated call that says whether the keys work; answers a short
    /// description of what the gateway said (the account, a balance).
    pub async fn check_keys(&self) -> Result<String, GatewayError> {
        match self.keys.kind {
            GatewayKind::Cryptomus => cryptomus::check_keys(self).await,
            GatewayKind::NowPayments => nowpayments::check_keys(self).await,
            GatewayKind::Stripe => stripe::check_keys(self).await,
        }
    }

    pub(crate) fn keys(&self) -> &GatewayKeys {
        &self.keys
    }

    pub(crate) fn allow_private(&self) -> bool {
        self.allow_private
    }
}
