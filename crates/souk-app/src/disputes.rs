//! The operator's resolution of a buyer's dispute (the operator API's
//! `/disputes/{id}/resolve`, `souk admin dispute refund|reject`): a refund (all that is
//! left, or an amount) or none, in one store transaction with the ledger.

use souk_core::dispute::{self, DisputeRefusal};
pub use souk_store::DisputeDecision;
use souk_store::{Dispute, Store, StoreError};

#[derive(Clone, Debug)]
pub struct ResolveDispute {
    pub dispute_id: String,
    pub decision: DisputeDecision,
    pub note: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error(transparent)]
    Refused(DisputeRefusal),
    /// Refused or failed in the store (unknown, already resolved, more than is left).
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn resolve(
    store: &Store,
    command: ResolveDispute,
    now: i64,
) -> Result<Dispute, ResolveError> {
    if let DisputeDecision::Refund(amount) = command.decision {
        dispute::check_refund(amount).map_err(ResolveError::Refused)?;
    }
    Ok(store
        .resolve_dispute(&command.dispute_id, command.decision, &command.note, now)
        .await?)
}
