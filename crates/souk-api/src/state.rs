//! What every request handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use souk_core::clock::Clock;
use souk_store::{Change, Store, StoreError};

use crate::auth::AuthCache;
use crate::cache::CatalogueCache;
use crate::metrics::Metrics;
use crate::ratelimit::RateLimiter;

#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The installation's one currency (SPEC 4).
    pub currency: String,
    /// Requests per second per API key; 0 turns the limit off.
    pub rate_limit_per_key: u32,
    /// Requests per second per client address; 0 turns the limit off.
    pub rate_limit_per_address: u32,
    /// Take the client address from `X-Forwarded-For` (behind a reverse proxy).
    pub trust_proxy: bool,
    /// How often caches poll the database for changes other processes made.
    pub poll_interval: Duration,
    /// The operator API's bearer token; `None` disables the operator API.
    pub admin_token: Option<String>,
    /// Let providers live on private or loopback addresses.
    pub allow_private_upstreams: bool,
    /// When the web pages' cookies carry `Secure`.
    pub cookie_secure: CookieSecure,
}

/// `Secure` on the web pages' cookies. `Auto` sets it when the request came over HTTPS
/// (`X-Forwarded-Proto: https` from a proxy trusted with `SOUK_TRUST_PROXY`): browsers
/// drop a `Secure` cookie set over plain HTTP, whatever the host.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CookieSecure {
    #[default]
    Auto,
    Always,
    Never,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            currency: "USD".to_owned(),
            rate_limit_per_key: 50,
            rate_limit_per_address: 100,
            trust_proxy: false,
            poll_interval: Duration::from_millis(500),
            admin_token: None,
            allow_private_upstreams: false,
            cookie_secure: CookieSecure::Auto,
        }
    }
}

#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

#[derive(Debug)]
pub struct Inner {
    pub store: Store,
    pub cache: CatalogueCache,
    pub auth: AuthCache,
    pub metrics: Metrics,
    pub config: ApiConfig,
    pub clock: Arc<dyn Clock>,
    pub key_limiter: RateLimiter,
    pub address_limiter: RateLimiter,
    ready: AtomicBool,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Loads the caches from `store` (already migrated).
    pub async fn new(
        store: Store,
        config: ApiConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AppState, StoreError> {
        let cache = CatalogueCache::load(store.clone()).await?;
        let auth = AuthCache::default();
        auth.invalidate_to(store.state_versions().await?.auth);
        Ok(AppState(Arc::new(Inner {
            key_limiter: RateLimiter::new(config.rate_limit_per_key),
            address_limiter: RateLimiter::new(config.rate_limit_per_address),
            store,
            cache,
            auth,
            metrics: Metrics::default(),
            config,
            clock,
            ready: AtomicBool::new(false),
        })))
    }

    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }

    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::SeqCst)
    }

    /// Makes changes a write reported visible to this node's next request.
    pub async fn apply_changes(&self, changes: &[Change]) -> Result<(), StoreError> {
        for change in changes {
            if let Change::Auth(v) = change {
                self.auth.invalidate_to(*v);
            }
        }
        self.cache.apply(changes).await
    }
}
