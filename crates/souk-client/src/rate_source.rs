//! Fetches the JSON document a provider's currency rate is read from: one guarded GET
//! (private addresses refused unless allowed, no redirects), a bounded time and body.

use std::time::Duration;

/// A rate document is a few kilobytes; central banks' daily lists stay under this.
const MAX_BODY: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum RateFetchError {
    #[error("the rate source URL is not valid: {0}")]
    Url(String),
    #[error(transparent)]
    Guard(#[from] crate::guard::GuardError),
    #[error("the rate source did not answer in time or could not be reached")]
    Unreachable,
    #[error("the rate source answered HTTP {0}")]
    Status(u16),
    #[error("the rate source answered more than 1 MiB")]
    TooLarge,
}

/// The body at `url`.
pub async fn fetch(url: &str, allow_private: bool) -> Result<Vec<u8>, RateFetchError> {
    let parsed = reqwest::Url::parse(url).map_err(|_| RateFetchError::Url(url.to_owned()))?;
    if !allow_private {
        crate::guard::check_literal_host(&parsed)?;
    }
    let mut response = crate::guard::shared_client(allow_private)
        .get(parsed)
        .header(reqwest::header::ACCEPT, "application/json")
        .timeout(TIMEOUT)
        .send()
        .await
        .map_err(|e| match crate::guard::refused_host(&e) {
            Some(host) => RateFetchError::Guard(crate::guard::GuardError::Private(host)),
            None => RateFetchError::Unreachable,
        })?;
    if !response.status().is_success() {
        return Err(RateFetchError::Status(response.status().as_u16()));
    }
    crate::guard::read_capped(&mut response, MAX_BODY)
        .await
        .map_err(|e| match e {
            crate::guard::BodyError::Transport(_) => RateFetchError::Unreachable,
            crate::guard::BodyError::TooLarge => RateFetchError::TooLarge,
        })
}
