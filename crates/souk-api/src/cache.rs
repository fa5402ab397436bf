//! The in-memory catalogue: catalogue reads never touch the database. A write on this node
//! applies its changes before answering; changes from other nodes or processes arrive by
//! NOTIFY (PostgreSQL) and, as a fallback, by polling the version counters.

use std::sync::Arc;

use arc_swap::ArcSwap;
use souk_app::orders::Services;
use souk_core::catalogue::{Catalogue, Service, StockBoard};
use souk_core::id::ServiceRef;
use souk_store::{Change, Store, StoreError};
use tokio::sync::Mutex;

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
    board: StockBoard,
    current: ArcSwap<Snapshot>,
    reload: Mutex<()>,
}

/// Orders are validated against the snapshot current at the moment they ask.
impl Services for CatalogueCache {
    fn service(&self, named: &ServiceRef) -> Option<Arc<Service>> {
        self.get().catalogue.service(named).cloned()
    }
}

impl CatalogueCache {
    pub async fn load(store: Store) -> Result<CatalogueCache, StoreError> {
        let board = StockBoard::default();
        let version = store.state_versions().await?.catalogue;
        let catalogue = store.load_catalogue(&board).await?;
        Ok(CatalogueCache {
            store,
            board,
            current: ArcSwap::from_pointee(Snapshot {
                version,
                catalogue,
                rows: Default::default(),
            }),
            reload: Mutex::new(()),
        })
    }

    pub fn get(&self) -> Arc<Snapshot> {
        self.current.load_full()
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
