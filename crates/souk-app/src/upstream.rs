//! Clients for upstream providers, as every use case and worker builds them: the
//! provider's URL, key and timeout, on the process's shared guarded connection pool; API v2
//! clients paced to the provider's `requests_per_second` together with every other call
//! to it.

use std::time::Duration;

use souk_client::api_v2::{ApiV2Client, ClientError, Oddity};
use souk_client::sms_activate;
use souk_store::{Provider, SmsProvider, Store};

/// Who does upstream work: the store it is recorded in, this node (which holds the jobs
/// it records while it sends), and whether providers may live on private addresses.
/// Requests and workers each build one; refills and SMS rentals take it.
#[derive(Clone, Debug)]
pub struct Upstream {
    pub store: Store,
    pub node: String,
    pub allow_private: bool,
}

/// The provider's own timeout per request (at least 100 ms).
pub fn timeout(provider: &Provider) -> Duration {
    Duration::from_millis(provider.timeout_ms.max(100) as u64)
}

/// How long a claim on work that calls `provider` lasts (a send's lease, a request's
/// hold on its job): past the longest the call can take, twice the provider's timeout
/// and a margin, never under two minutes.
pub fn call_lease_ms(provider: &Provider) -> i64 {
    provider
        .timeout_ms
        .max(100)
        .saturating_mul(2)
        .saturating_add(30_000)
        .max(120_000)
}

/// An SMS provider's timeout per request (1 s to 2 minutes).
pub fn sms_timeout(provider: &SmsProvider) -> Duration {
    Duration::from_millis(provider.timeout_ms.clamp(1000, 120_000) as u64)
}

/// A client for an sms-activate `provider`.
pub fn sms_client(
    provider: &SmsProvider,
    allow_private: bool,
) -> Result<sms_activate::Client, sms_activate::Error> {
    sms_activate::Client::new(
        &provider.url,
        &provider.api_key,
        sms_timeout(provider),
        allow_private,
    )
}

/// A paced client for `provider`.
pub fn api_client(provider: &Provider, allow_private: bool) -> Result<ApiV2Client, ClientError> {
    Ok(ApiV2Client::new(
        &provider.url,
        &provider.key,
        timeout(provider),
        allow_private,
    )?
    .paced(&provider.id, provider.requests_per_second))
}

/// Adds what `client` met in its provider's answers (`Oddity`) to the provider's tally.
/// Bookkeeping for the operator's eyes: a failure to write it is logged, never the
/// caller's failure.
pub async fn record_oddities(store: &Store, provider_id: &str, client: &ApiV2Client, now: i64) {
    record_tally(store, provider_id, &client.take_oddities(), now).await;
}

/// `record_oddities` for counts already taken from a tally.
pub async fn record_tally(store: &Store, provider_id: &str, met: &[(Oddity, u64)], now: i64) {
    if met.is_empty() {
        return;
    }
    let counts: Vec<(&str, i64)> = met
        .iter()
        .map(|(o, n)| (o.kind(), i64::try_from(*n).unwrap_or(i64::MAX)))
        .collect();
    if let Err(e) = store
        .record_provider_oddities(provider_id, &counts, now)
        .await
    {
        tracing::warn!(provider = provider_id, error = %e, "recording the provider's oddities failed");
    }
}
