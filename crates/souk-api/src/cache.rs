//! The in-memory catalogue: catalogue reads never touch the database. A write on this node
//! applies its changes before answering; changes from other nodes or processes arrive by
//! NOTIFY (PostgreSQL) and, as a fallback, by polling the version counters.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use souk_app::orders::Services;
use souk_core::catalogue::{Catalogue, Service, StockBoard};
use souk_core::id::ServiceRef;
use souk_core::Lang;
use souk_store::{Change, Store, StoreError};
use tokio::sync::{watch, Mutex};

use crate::v2::rows::RowChunks;

/// The version of the placeholder snapshot before the first load: any real one is newer.
const NOT_LOADED: i64 = i64::MIN;

/// A catalogue snapshot and the catalogue version it was read at.
#[derive(Debug)]
pub struct Snapshot {
    pub version: i64,
    pub catalogue: Catalogue,
    /// `services`/`products` rows, rendered on first use per language.
    pub rows: crate::v2::rows::RenderedRows,
}

#[derive(Debug)]
pub struct CatalogueCache {
    store: Store,
    /// Shared with the catalogue reader, which may run on a thread of its own.
    board: Arc<StockBoard>,
    current: ArcSwap<Snapshot>,
    reload: Mutex<()>,
    /// False until the first snapshot is in: a node starting on a large catalogue
    /// answers `/healthz` at once and holds other requests (`loaded`) until then, so
    /// no request ever sees an empty or half-read catalogue.
    ready: watch::Sender<bool>,
    /// Requests holding in `loaded` right now.
    waiting: AtomicUsize,
}

/// Orders are validated against the snapshot current at the moment they ask.
impl Services for CatalogueCache {
    fn service(&self, named: &ServiceRef) -> Option<Arc<Service>> {
        self.get().catalogue.service(named).cloned()
    }
}

impl CatalogueCache {
    pub async fn load(store: Store) -> Result<CatalogueCache, StoreError> {
        let cache = CatalogueCache::empty(store);
        cache.finish_loading().await?;
        Ok(cache)
    }

    /// A cache with no snapshot yet: `finish_loading` reads it, and requests wait for
    /// that in `loaded`.
    pub fn empty(store: Store) -> CatalogueCache {
        CatalogueCache {
            store,
            board: Arc::default(),
            current: ArcSwap::from_pointee(Snapshot {
                version: NOT_LOADED,
                catalogue: Catalogue::default(),
                rows: Default::default(),
            }),
            reload: Mutex::new(()),
            ready: watch::Sender::new(false),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Reads the first snapshot (nothing when there is one already).
    pub async fn finish_loading(&self) -> Result<(), StoreError> {
        self.refresh_to(NOT_LOADED + 1).await
    }

    pub fn is_loaded(&self) -> bool {
        *self.ready.borrow()
    }

    /// Returns once the first snapshot is in.
    pub async fn loaded(&self) {
        if self.is_loaded() {
            return;
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let mut ready = self.ready.subscribe();
        // The sender lives as long as `self`: the wait ends only when loaded.
        let _ = ready.wait_for(|loaded| *loaded).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// How many requests are holding for the first snapshot.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    pub fn get(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The whole `services` (or `products`) list of `snapshot` in `lang`, gzipped: kept
    /// per snapshot until a stock level moves, so many clients share one compression.
    /// A request gets a body rendered after it arrived; requests that arrive while one
    /// is being made wait for it.
    pub async fn gzipped_list(
        &self,
        snapshot: &Snapshot,
        products: bool,
        lang: Lang,
        rows: RowChunks,
    ) -> std::io::Result<Bytes> {
        let asked_at = self.board.epoch();
        let mut kept = snapshot.rows.gzipped(products, lang).lock().await;
        if let Some((epoch, body)) = &*kept {
            if *epoch >= asked_at {
                return Ok(body.clone());
            }
        }
        let epoch = self.board.epoch();
        // Compressing tens of megabytes takes a while: off the request threads.
        let body = tokio::task::spawn_blocking(move || rows.gzip())
            .await
            .map_err(std::io::Error::other)??;
        *kept = Some((epoch, body.clone()));
        Ok(body)
    }

    /// Applies changes a write reported (ours, or another node's via NOTIFY).
    pub async fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut newest_catalogue = None;
        for change in changes {
            match change {
                Change::Stock {
                    subproduct,
                    version,
                    stock,
                } => self.board.apply(subproduct, *version, *stock),
                Change::Catalogue(v) => newest_catalogue = newest_catalogue.max(Some(*v)),
                Change::Auth(_) => {}
            }
        }
        if let Some(v) = newest_catalogue {
            self.refresh_to(v).await?;
        }
        Ok(())
    }

    /// Reloads unless the snapshot is already at `version` or newer.
    pub async fn refresh_to(&self, version: i64) -> Result<(), StoreError> {
        if self.get().version >= version {
            return Ok(());
        }
        let _one_at_a_time = self.reload.lock().await;
        if self.get().version >= version {
            return Ok(());
        }
        // Read the version before the rows: a change landing in between makes the
        // snapshot newer than its version, which only costs one more reload later.
        let version = self.store.state_versions().await?.catalogue;
        let catalogue = self.store.load_catalogue(&self.board).await?;
        self.current.store(Arc::new(Snapshot {
            version,
            catalogue,
            rows: Default::default(),
        }));
        self.ready.send_replace(true);
        tracing::debug!(version, "catalogue reloaded");
        Ok(())
    }

    /// Re-reads every stock level (fallback for missed notifications).
    pub async fn resync_stock(&self) -> Result<(), StoreError> {
        for (id, version, stock) in self.store.stock_levels().await? {
            self.board.apply(&id, version, stock);
        }
        Ok(())
    }
}
