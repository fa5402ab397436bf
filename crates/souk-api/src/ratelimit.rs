//! Rate limits: a token bucket (governor's GCRA) per API key and per client address,
//! counted in this node's memory. N nodes behind a balancer therefore allow N times the
//! configured rate in all; the sign-in throttle, which must hold across nodes, is counted
//! in the database instead (`souk_app::sessions`).
//!
//! Every surface but health, metrics and static assets passes the per-address limit
//! before anything else runs (the `limit_addresses` layer): `/api/v2`, the stub endpoint,
//! webhooks, the supplier and operator APIs (wrong keys and tokens included) and the web
//! pages. Authenticated calls then also pass their key's limit, web purchases included.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota};
use souk_core::ApiError;

use crate::address::{client_ip, limit_key};
use crate::state::AppState;
use crate::transport::error_response;

/// Buckets kept before idle ones are forgotten.
const MAX_TRACKED: usize = 100_000;
/// How often (in checks) the bucket count is looked at.
const SWEEP_EVERY: u64 = 4096;

pub struct RateLimiter {
    buckets: Option<DefaultKeyedRateLimiter<String>>,
    checks: AtomicU64,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("on", &self.buckets.is_some())
            .finish()
    }
}

impl RateLimiter {
    /// `per_second` sustained, bursts of twice that; 0 turns the limit off.
    pub fn new(per_second: u32) -> Self {
        let buckets = NonZeroU32::new(per_second).map(|rate| {
            let burst = rate.saturating_mul(NonZeroU32::MIN.saturating_add(1));
            DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst))
        });
        RateLimiter {
            buckets,
            checks: AtomicU64::new(0),
        }
    }

    /// Takes one token for `who`; false when its bucket is empty.
    pub fn allow(&self, who: &str) -> bool {
        let Some(buckets) = &self.buckets else {
            return true;
        };
        // A flood of fresh keys (addresses) must not grow the map without end: now and
        // then, forget the buckets that have refilled (they equal absent ones).
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(SWEEP_EVERY)
            && buckets.len() > MAX_TRACKED
        {
            buckets.retain_recent();
            buckets.shrink_to_fit();
        }
        buckets.check_key(&who.to_owned()).is_ok()
    }
}

/// The client's address as the rate limits and throttles count it (see `address`).
#[derive(Clone, Debug)]
pub struct ClientAddress(pub String);

impl ClientAddress {
    fn of(state: &AppState, parts: &Parts) -> ClientAddress {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)), |c| c.0);
        let ip = client_ip(state.config.trusted_proxy_hops, &parts.headers, peer);
        ClientAddress(limit_key(ip))
    }
}

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(match parts.extensions.get::<ClientAddress>() {
            Some(known) => known.clone(),
            None => ClientAddress::of(state, parts),
        })
    }
}

/// Paths outside the per-address limit: probes and the pages' own assets.
fn exempt(path: &str) -> bool {
    path == "/healthz" || path == "/readyz" || path == "/metrics" || path.starts_with("/assets/")
}

/// The per-address limit, in front of every other layer and handler.
pub async fn limit_addresses(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if exempt(request.uri().path()) {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let address = ClientAddress::of(&state, &parts);
    if !state.address_limiter.allow(&address.0) {
        return too_many(parts.uri.path());
    }
    parts.extensions.insert(address);
    next.run(Request::from_parts(parts, body)).await
}

/// 429 in the shape each surface speaks: a token for sms-activate clients, a page for
/// browsers, JSON everywhere else. Clients are asked to wait a second.
pub fn too_many(path: &str) -> Response {
    let mut response = if path.starts_with("/stubs/") {
        (StatusCode::TOO_MANY_REQUESTS, "TOO_MANY_REQUESTS").into_response()
    } else if is_page(path) {
        crate::web::too_many_requests()
    } else {
        error_response(StatusCode::TOO_MANY_REQUESTS, &ApiError::RateLimited)
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

fn is_page(path: &str) -> bool {
    !(path.starts_with("/api/") || path.starts_with("/webhooks/") || path.starts_with("/openapi"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_after_the_burst() {
        let limiter = RateLimiter::new(5);
        let allowed = (0..20).filter(|_| limiter.allow("k")).count();
        assert_eq!(allowed, 10);
        assert!(limiter.allow("other"));
        assert!(RateLimiter::new(0).allow("k"));
    }
}
