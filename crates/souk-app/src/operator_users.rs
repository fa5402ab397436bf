//! What an operator does to a buyer's account from the console besides the balance
//! (`operators::adjust_balance`): block and unblock it, issue an API key (shown once,
//! never audited in clear) and revoke one. Admins and owners only; each is an audit row.
//! Each answers the `Change`s a node's caches must follow (a blocked user or a revoked
//! key stops working at once).

use serde_json::json;
use souk_store::{Change, Store, StoreError, UserStatus};

use crate::accounts;
use crate::operators::{audit, Acting, OperatorError, Permission};

/// Blocks (`true`) or unblocks a user.
pub async fn set_blocked(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    blocked: bool,
    now: i64,
) -> Result<Vec<Change>, OperatorError> {
    actor.require(Permission::Change)?;
    let before = store.user(user_id).await?.status;
    let status = if blocked {
        UserStatus::Suspended
    } else {
        UserStatus::Active
    };
    if before == status.as_str() {
        let text = if blocked {
            "The user is blocked already"
        } else {
            "The user is not blocked"
        };
        return Err(OperatorError::Invalid(text.into()));
    }
    let changes = accounts::set_status(store, user_id, status).await?;
    audit(
        store,
        &actor.id,
        &actor.email,
        if blocked {
            "user.block"
        } else {
            "user.unblock"
        },
        &format!("user:{user_id}"),
        Some(json!({ "status": before })),
        Some(json!({ "status": status.as_str() })),
        now,
    )
    .await?;
    Ok(changes)
}

/// A new key for the user: (its id, the key in clear, to show this once).
pub async fn create_key(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    label: &str,
    now: i64,
) -> Result<(String, String), OperatorError> {
    actor.require(Permission::Change)?;
    let label = label.trim();
    if !souk_core::input::is_clean(label, false) {
        return Err(OperatorError::Invalid(
            "The label has characters that are not allowed".into(),
        ));
    }
    let (key_id, key) = accounts::create_key(store, user_id, label, now).await?;
    let prefix = store
        .api_keys(user_id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .map(|k| k.key_prefix)
        .unwrap_or_default();
    audit(
        store,
        &actor.id,
        &actor.email,
        "user.key_create",
        &format!("user:{user_id}"),
        None,
        Some(json!({ "key": key_id, "prefix": prefix, "label": label })),
        now,
    )
    .await?;
    Ok((key_id, key))
}

/// Revokes one of the user's keys (another user's key is "not found").
pub async fn revoke_key(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    key_id: &str,
    now: i64,
) -> Result<Vec<Change>, OperatorError> {
    actor.require(Permission::Change)?;
    let key = store
        .api_keys(user_id)
        .await?
        .into_iter()
        .find(|k| k.id == key_id)
        .ok_or(StoreError::NotFound("API key"))?;
    let changes = accounts::revoke_key(store, key_id, now).await?;
    audit(
        store,
        &actor.id,
        &actor.email,
        "user.key_revoke",
        &format!("user:{user_id}"),
        Some(json!({ "key": key_id, "prefix": key.key_prefix, "active": true })),
        Some(json!({ "key": key_id, "prefix": key.key_prefix, "active": false })),
        now,
    )
    .await?;
    Ok(changes)
}
