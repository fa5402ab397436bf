//! The operator's settings from the console: owners only. Every value is checked before
//! any is stored (`settings::update` stores them in one transaction), and the change is
//! one audit row with each changed setting before and after.

use serde_json::{Map, Value};
use souk_core::supply;
use souk_store::Store;

use crate::operators::{audit, Acting, OperatorError, Permission};
use crate::settings;

/// Sets the settings given that differ from those in effect; answers every setting
/// afterwards. Nothing different is a refusal (nothing to record).
pub async fn update(
    store: &Store,
    actor: &Acting,
    given: &[(String, String)],
    now: i64,
) -> Result<Vec<(String, String)>, OperatorError> {
    actor.require(Permission::Manage)?;
    let current = store.settings().await?;
    let mut changes = Vec::new();
    let (mut before, mut after) = (Map::new(), Map::new());
    for (key, value) in given {
        let value = supply::normalize_setting(key, value).map_err(OperatorError::Supply)?;
        let old = current.iter().find(|(k, _)| k == key).map(|(_, v)| v);
        if old == Some(&value) {
            continue;
        }
        before.insert(
            key.clone(),
            old.map_or(Value::Null, |v| Value::from(v.clone())),
        );
        after.insert(key.clone(), Value::from(value.clone()));
        changes.push((key.clone(), value));
    }
    if changes.is_empty() {
        return Err(OperatorError::Invalid("No setting was changed".into()));
    }
    let settings = settings::update(store, changes, now).await?;
    audit(
        store,
        &actor.id,
        &actor.email,
        "settings.update",
        "settings",
        Some(Value::Object(before)),
        Some(Value::Object(after)),
        now,
    )
    .await?;
    Ok(settings)
}
