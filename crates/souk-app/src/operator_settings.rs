//! The operator's settings from the console: owners only. Every value is checked before
//! any is stored (`settings::update` stores them in one transaction), and the change is
//! one audit row with each changed setting before and after.

use serde_json::{Map, Value};
use souk_core::supply;
use souk_store::Store;

use crate::operators::{Acting, OperatorError, Permission};
use crate::settings;

/// Sets the settings given that differ from those in effect; answers every setting
/// afterwards. Nothing different is a refusal (nothing to record).
pub async fn update(
    store: &Store,
    actor: &Acting,
    given: &[(String, String)],
    now: i64,
) -> Result<Vec<(String, String)>, OperatorError> {
    set(store, actor, given, true, now).await
}

/// As `update`, nothing different answered with the settings as they are, unaudited
/// (the operator API's `PATCH`, which may repeat).
pub async fn apply(
    store: &Store,
    actor: &Acting,
    given: &[(String, String)],
    now: i64,
) -> Result<Vec<(String, String)>, OperatorError> {
    set(store, actor, given, false, now).await
}

async fn set(
    store: &Store,
    actor: &Acting,
    given: &[(String, String)],
    refuse_unchanged: bool,
    now: i64,
) -> Result<Vec<(String, String)>, OperatorError> {
    actor.require(Permission::Manage)?;
    let current = store.settings().await?;
    let mut changes = Vec::new();
    let mut after = Map::new();
    for (key, value) in given {
        let value = supply::normalize_setting(key, value).map_err(OperatorError::Supply)?;
        let old = current.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        if old == Some(&value) {
            continue;
        }
        after.insert(key.clone(), Value::from(value.clone()));
        changes.push((key.clone(), value));
    }
    if changes.is_empty() && !refuse_unchanged {
        return Ok(current);
    }
    if changes.is_empty() {
        return Err(OperatorError::Invalid("No setting was changed".into()));
    }
    // Stored and audited in one transaction: the values before are read in it (an
    // unset one is its default), the values after are the ones stored.
    let settings = settings::update_audited(store, changes, now, |stored| {
        let before: Map<String, Value> = stored
            .iter()
            .map(|(key, old)| {
                let old = old.clone().or_else(|| {
                    supply::SETTINGS
                        .iter()
                        .find(|(k, _)| k == key)
                        .map(|(_, d)| (*d).to_owned())
                });
                (key.clone(), old.map_or(Value::Null, Value::from))
            })
            .collect();
        Some(actor.audit_entry(
            "settings.update",
            "settings",
            Some(Value::Object(before)),
            Some(Value::Object(after)),
        ))
    })
    .await?;
    Ok(settings)
}
