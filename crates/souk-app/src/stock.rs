//! A supplier's stock lines (the supplier API's `/subproducts/{id}/stock` and the desk's
//! upload form): upload and removal of unsold lines of one of their inventory
//! subproducts, each one store transaction. The front end parses the lines
//! (`souk_core::supply::parse_stock_upload`, `parse_stock_removal`); the store seals them.
//! The `changes` returned are for the caller's catalogue cache (stock levels moved).

use souk_store::{Change, Store, StoreError};

#[derive(Clone, Debug)]
pub struct UploadStock {
    pub supplier_id: String,
    pub subproduct_id: String,
    pub lines: Vec<String>,
    /// Refuse lines already in the product's stock (sold or not) or repeated.
    pub dedupe: bool,
}

#[derive(Clone, Debug)]
pub struct Uploaded {
    pub accepted: u64,
    pub rejected: u64,
    pub changes: Vec<Change>,
}

#[derive(Clone, Debug)]
pub struct RemoveStock {
    pub supplier_id: String,
    pub subproduct_id: String,
    /// The unsold lines equal to these, or (`None`) every unsold line.
    pub only: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub struct Removed {
    pub removed: u64,
    /// Unsold lines left.
    pub available: i64,
    pub changes: Vec<Change>,
}

/// Another supplier's subproduct is `NotFound`, a manual one refused.
pub async fn upload(store: &Store, command: UploadStock, now: i64) -> Result<Uploaded, StoreError> {
    let (accepted, rejected, changes) = store
        .upload_stock(
            Some(&command.supplier_id),
            &command.subproduct_id,
            command.lines,
            command.dedupe,
            now,
        )
        .await?;
    Ok(Uploaded {
        accepted,
        rejected,
        changes,
    })
}

/// Sold lines are never touched.
pub async fn remove(store: &Store, command: RemoveStock, now: i64) -> Result<Removed, StoreError> {
    let (removed, available, changes) = store
        .remove_stock(
            &command.supplier_id,
            &command.subproduct_id,
            command.only,
            now,
        )
        .await?;
    Ok(Removed {
        removed,
        available,
        changes,
    })
}
