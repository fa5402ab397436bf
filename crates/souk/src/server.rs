//! Starting a node: connect, migrate, load caches, serve, stop cleanly.

use std::sync::Arc;

use anyhow::{bail, Context};
use souk_api::{ApiConfig, AppState};
use souk_core::clock::Clock;
use souk_store::{KeyCheck, Store};

use crate::config::DataKey;
use tokio::net::TcpListener;

/// Connects to the database, applies pending migrations and checks that the data key is
/// the database's own (recording it on first use).
pub async fn open_store(database_url: &str, max_connections: u32) -> anyhow::Result<Store> {
    let key = crate::config::data_key(database_url)?;
    let sync = crate::config::sqlite_synchronous()?;
    let store = Store::connect_with(database_url, key.bytes(), max_connections, sync)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                souk_store::redact_url(database_url)
            )
        })?
        .with_group_commit(crate::config::group_commit());
    // A recorded key that is not ours stops the start before the schema changes; an
    // older database without a record is judged on its sealed rows after migrating.
    if let Some(check) = store.recorded_data_key().await? {
        refuse_foreign_key(&key, check)?;
    }
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    adopt_data_key(&store, &key).await?;
    Ok(store)
}

const SET_THE_KEY: &str =
    "set SOUK_DATA_KEY or SOUK_KEY_FILE to the key this database was created with";

/// Refuses a key that is not the database's, and a freshly made-up key for a database
/// that already has one.
fn refuse_foreign_key(key: &DataKey, check: KeyCheck) -> anyhow::Result<()> {
    match (key, check) {
        (_, KeyCheck::Unused) | (DataKey::Given(_), KeyCheck::Matches) => Ok(()),
        (DataKey::Given(_), KeyCheck::Mismatch) => {
            bail!("the data key does not match this database; {SET_THE_KEY}")
        }
        (DataKey::Fresh { path, .. }, _) => bail!(
            "no data key found (SOUK_DATA_KEY is unset and {} does not exist), but this database already has one; {SET_THE_KEY}",
            path.display()
        ),
    }
}

/// Records the key as the database's when it has none, after `refuse_foreign_key`.
async fn adopt_data_key(store: &Store, key: &DataKey) -> anyhow::Result<()> {
    let now = souk_core::clock::SystemClock.now_ms();
    match key {
        DataKey::Given(_) => refuse_foreign_key(key, store.record_data_key(now).await?),
        DataKey::Fresh { .. } => {
            refuse_foreign_key(key, store.check_data_key().await?)?;
            key.save()?;
            match store.record_data_key(now).await {
                Ok(KeyCheck::Matches | KeyCheck::Unused) => Ok(()),
                Ok(KeyCheck::Mismatch) => {
                    key.discard();
                    bail!("another node recorded a different data key for this database just now; {SET_THE_KEY}")
                }
                Err(e) => {
                    key.discard();
                    Err(e.into())
                }
            }
        }
    }
}

/// A node ready to serve: the listener is bound and the caches are loaded.
pub struct Node {
    pub state: AppState,
    pub listener: TcpListener,
    /// `/metrics` on its own listener (`SOUK_METRICS_LISTEN`), off the public one.
    pub metrics_listener: Option<TcpListener>,
    /// Background work to run beside the server; `None` when it runs elsewhere.
    pub workers: Option<souk_workers::WorkerContext>,
}

impl Node {
    pub async fn start(
        store: Store,
        listen: &str,
        config: ApiConfig,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Node> {
        let state = AppState::starting(store, config, clock)
            .await
            .context("cannot read the node's state")?;
        // The catalogue is read while the node binds and answers `/healthz`: at 100,000
        // services that takes seconds, and requests that need it wait for it.
        let loading = state.clone();
        tokio::spawn(async move { loading.finish_loading().await });
        let listener = TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on {listen}"))?;
        let metrics_listener = match &state.config.metrics_listen {
            None => None,
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} (SOUK_METRICS_LISTEN)"))?,
            ),
        };
        Ok(Node {
            state,
            listener,
            metrics_listener,
            workers: None,
        })
    }

    /// Where `/metrics` is served when it has its own listener.
    pub fn metrics_url(&self) -> Option<String> {
        let addr = self.metrics_listener.as_ref()?.local_addr().ok()?;
        Some(format!("http://{addr}/metrics"))
    }

    pub fn url(&self) -> String {
        self.listener
            .local_addr()
            .map(|a| format!("http://{a}"))
            .unwrap_or_default()
    }

    /// Serves until `shutdown` resolves; background work stops with it, gracefully:
    /// sends in flight finish, claimed orders not yet sent go back to the queue.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let watcher = tokio::spawn(souk_api::watch_changes(self.state.clone()));
        let workers = self.workers.as_ref().map(souk_workers::spawn_all);
        let store = self.state.store.clone();
        let result =
            souk_api::serve(self.listener, self.metrics_listener, self.state, shutdown).await;
        if let Some(workers) = workers {
            workers.stop(souk_workers::STOP_GRACE).await;
        }
        // Wait until the watcher (and with it the change listener) is gone, so closing
        // the pool does not surface as a listener failure.
        watcher.abort();
        let _ = watcher.await;
        tokio::task::yield_now().await;
        store.close().await;
        result.context("server failed")
    }
}

/// The worker context for a node on `store`, from `SOUK_*` settings. Reads (or makes)
/// the installation id first: every Idempotency-Key sent upstream is built from it, so
/// without it no worker starts (a key built without it once differed from the resend's,
/// and an idempotent upstream placed the order twice).
pub async fn worker_context(
    store: Store,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<souk_workers::WorkerContext> {
    let installation_id = store
        .installation_id(clock.now_ms())
        .await
        .context("cannot read the installation id, which upstream idempotency keys carry")?;
    Ok(souk_workers::WorkerContext {
        store,
        clock,
        node_id: format!("{}-{}", std::process::id(), souk_core::id::new_entity_id()),
        installation_id,
        allow_private_upstreams: crate::config::allow_private_upstreams(),
        sync_interval: crate::config::sync_interval()?,
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
