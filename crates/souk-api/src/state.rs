//! What every request handler shares.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use souk_core::clock::Clock;
use souk_store::{Change, Store, StoreError};

use crate::auth::AuthCache;
use crate::cache::CatalogueCache;
use crate::metrics::Metrics;
use crate::passwords::Passwords;
use crate::ratelimit::RateLimiter;

#[derive(Clone, Debug)]
pub struct ApiConfig {
    /// The installation's one currency (SPEC 4).
    pub currency: String,
    /// Requests per second per API key; 0 turns the limit off.
    pub rate_limit_per_key: u32,
    /// Requests per second per client address; 0 turns the limit off.
    pub rate_limit_per_address: u32,
    /// Reverse proxies in front of this node whose `X-Forwarded-For` and
    /// `X-Forwarded-Proto` are believed (0: none, the socket's peer is the client).
    pub trusted_proxy_hops: usize,
    /// Sign-in and sign-up throttle (all nodes share the count).
    pub throttle: Throttle,
    /// How often caches poll the database for changes other processes made.
    pub poll_interval: Duration,
    /// The operator API's bearer token; `None` disables the operator API.
    pub admin_token: Option<String>,
    /// Let providers live on private or loopback addresses.
    pub allow_private_upstreams: bool,
    /// When the web pages' cookies carry `Secure`.
    pub cookie_secure: CookieSecure,
    /// Where `/metrics` is served instead of the public listener (`SOUK_METRICS_LISTEN`).
    pub metrics_listen: Option<String>,
    /// This installation's public address (`SOUK_PUBLIC_URL`, `https://shop.example`):
    /// where payment gateways send callbacks and return buyers. Unset, the address a
    /// request came to is used.
    pub public_url: Option<String>,
}

/// Attempts allowed in a window before sign-in or sign-up answers 429.
pub use souk_app::sessions::Throttle;

/// `Secure` on the web pages' cookies. `Auto` sets it when the request came over HTTPS
/// (`X-Forwarded-Proto: https` from a trusted proxy, `SOUK_TRUSTED_PROXY_HOPS`): browsers
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
            trusted_proxy_hops: 0,
            throttle: Throttle::default(),
            poll_interval: Duration::from_millis(500),
            admin_token: None,
            allow_private_upstreams: false,
            cookie_secure: CookieSecure::Auto,
            metrics_listen: None,
            public_url: None,
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
    pub passwords: Passwords,
    /// Names this node's claims on jobs that a request records and runs at once.
    pub node_id: String,
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
        let state = AppState::starting(store, config, clock).await?;
        state.cache.finish_loading().await?;
        Ok(state)
    }

    /// The state before the catalogue is read: `finish_loading` reads it while the node
    /// already answers `/healthz` (requests that need it wait; see `CatalogueCache`).
    /// At 100,000 services the read takes seconds; binding first keeps the start fast.
    pub async fn starting(
        store: Store,
        config: ApiConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<AppState, StoreError> {
        let cache = CatalogueCache::empty(store.clone());
        let auth = AuthCache::default();
        auth.invalidate_to(store.state_versions().await?.auth);
        Ok(AppState(Arc::new(Inner {
            key_limiter: RateLimiter::new(config.rate_limit_per_key),
            address_limiter: RateLimiter::new(config.rate_limit_per_address),
            passwords: Passwords::default(),
            store,
            cache,
            auth,
            metrics: Metrics::default(),
            config,
            clock,
            node_id: format!(
                "api-{}-{}",
                std::process::id(),
                souk_core::id::new_entity_id()
            ),
            ready: AtomicBool::new(false),
        })))
    }

    /// How a request does upstream work it has recorded, refills and SMS rentals
    /// (`souk_app`).
    pub fn upstream(&self) -> souk_app::upstream::Upstream {
        souk_app::upstream::Upstream {
            store: self.store.clone(),
            node: self.node_id.clone(),
            allow_private: self.config.allow_private_upstreams,
        }
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

    /// Reads the catalogue until it is in, retrying a failed read every second (the
    /// database answered the migrations just before, so a failure here is passing),
    /// or until the node stops.
    pub async fn finish_loading(&self) {
        let started = std::time::Instant::now();
        while let Err(e) = self.cache.finish_loading().await {
            // The node stopped before the catalogue was in: nothing left to load for.
            if matches!(e, StoreError::Database(sqlx::Error::PoolClosed)) {
                return;
            }
            tracing::error!(error = %e, "cannot load the catalogue; retrying");
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tracing::info!(ms = started.elapsed().as_millis() as u64, "catalogue ready");
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
