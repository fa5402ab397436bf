//! The client for an API v2 provider, as every use case calls it: the provider's URL,
//! key and timeout, on the process's shared guarded connection pool, paced to the
//! provider's `requests_per_second` together with every other call to it.

use std::time::Duration;

use souk_client::api_v2::{ApiV2Client, ClientError};
use souk_store::Provider;

/// The provider's own timeout per request (at least 100 ms).
pub fn timeout(provider: &Provider) -> Duration {
    Duration::from_millis(provider.timeout_ms.max(100) as u64)
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
