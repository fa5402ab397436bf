//! The operator's settings (early cancel, commission, hold period, SMS lifetime): the
//! operator API's `PATCH /settings` and `souk admin setting set`.

use souk_core::supply;
use souk_store::{Store, StoreError};

/// Sets every `(key, value)` given, each checked (`souk_core::supply::normalize_setting`)
/// before any is stored and all stored in one transaction, so one bad value (or a
/// failed write) changes nothing. Answers every setting in
/// effect afterwards.
pub async fn update(
    store: &Store,
    changes: Vec<(String, String)>,
    now: i64,
) -> Result<Vec<(String, String)>, StoreError> {
    update_audited(store, changes, now, |_| None).await
}

/// `update` with the audit row `audit` makes of the values before (`None` for unset;
/// read in the transaction that stores them), written in that transaction.
pub async fn update_audited(
    store: &Store,
    changes: Vec<(String, String)>,
    now: i64,
    audit: impl FnOnce(&[(String, Option<String>)]) -> Option<souk_store::NewAuditEntry> + Send,
) -> Result<Vec<(String, String)>, StoreError> {
    let mut checked = Vec::with_capacity(changes.len());
    for (key, value) in changes {
        let value = supply::normalize_setting(&key, &value)?;
        checked.push((key, value));
    }
    store.set_settings_audited(&checked, now, audit).await?;
    store.settings().await
}
