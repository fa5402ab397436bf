//! What an operator does to a buyer's account from the console or the operator API
//! besides the balance (`operators::adjust_balance`): block and unblock it, issue an API
//! key (shown once, never audited in clear) and revoke one. Admins and owners only; each
//! is an audit row written in the transaction of the change, with what it changed read
//! in it. Each answers the `Change`s a node's caches must follow (a blocked user or a
//! revoked key stops working at once).

use serde_json::json;
use souk_store::{Change, Store, UserStatus};

use crate::operators::{Acting, OperatorError, Permission};

/// Blocks (`true`) or unblocks a user; refused when it is so already (the console).
pub async fn set_blocked(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    blocked: bool,
    now: i64,
) -> Result<Vec<Change>, OperatorError> {
    actor.require(Permission::Change)?;
    let status = if blocked {
        UserStatus::Suspended
    } else {
        UserStatus::Active
    };
    if store.user(user_id).await?.status == status.as_str() {
        let text = if blocked {
            "The user is blocked already"
        } else {
            "The user is not blocked"
        };
        return Err(OperatorError::Invalid(text.into()));
    }
    set_status(store, actor, user_id, status, now).await
}

/// Sets a user's status (the operator API's suspend and reactivate, which may repeat),
/// audited as a block or an unblock with the status before and after.
pub async fn set_status(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    status: UserStatus,
    now: i64,
) -> Result<Vec<Change>, OperatorError> {
    actor.require(Permission::Change)?;
    let action = if status == UserStatus::Suspended {
        "user.block"
    } else {
        "user.unblock"
    };
    let subject = format!("user:{user_id}");
    Ok(store
        .set_user_status_audited(user_id, status, now, |before| {
            Some(actor.audit_entry(
                action,
                &subject,
                Some(json!({ "status": before })),
                Some(json!({ "status": status.as_str() })),
            ))
        })
        .await?)
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
    let subject = format!("user:{user_id}");
    Ok(store
        .create_api_key_audited(user_id, label, now, |key_id, prefix| {
            Some(actor.audit_entry(
                "user.key_create",
                &subject,
                None,
                Some(json!({ "key": key_id, "prefix": prefix, "label": label })),
            ))
        })
        .await?)
}

/// Revokes every key of the user and issues one new key (shown once, to the caller);
/// audited as `user.key_rotate` with the revoked keys' ids and the new key's id and
/// prefix, never the key.
pub async fn rotate_key(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    now: i64,
) -> Result<(String, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let subject = format!("user:{user_id}");
    Ok(store
        .rotate_api_key_audited(user_id, now, |revoked, key_id, prefix| {
            Some(actor.audit_entry(
                "user.key_rotate",
                &subject,
                Some(json!({ "keys": revoked })),
                Some(json!({ "key": key_id, "prefix": prefix })),
            ))
        })
        .await?)
}

/// Revokes one of the user's keys (another user's key is "not found"); with no user
/// (the operator API, which names the key only), whoever's key it is.
pub async fn revoke_key(
    store: &Store,
    actor: &Acting,
    user_id: Option<&str>,
    key_id: &str,
    now: i64,
) -> Result<Vec<Change>, OperatorError> {
    actor.require(Permission::Change)?;
    Ok(store
        .revoke_api_key_audited(key_id, user_id, now, |key| {
            Some(actor.audit_entry(
                "user.key_revoke",
                &format!("user:{}", key.user_id),
                Some(json!({ "key": key_id, "prefix": key.prefix, "active": true })),
                Some(json!({ "key": key_id, "prefix": key.prefix, "active": false })),
            ))
        })
        .await?)
}
