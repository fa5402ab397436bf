//! Users made by the operator (the operator API's `POST /users` and
//! `/users/{id}/supplier`, `souk admin user create|supplier`), each an audit row by the
//! one acting, and a buyer's own key rotation from the account page. Each change returns
//! the `Change`s a node's caches must follow; the CLI, which keeps no cache, may drop
//! them. Blocking and keys are `operator_users`'.

use serde_json::json;
use souk_core::Money;
use souk_store::{Change, NewUser, Store, StoreError};

use crate::operators::Acting;

#[derive(Clone, Debug)]
pub struct CreateUser {
    pub email: String,
    pub name: String,
    pub initial_balance: Money,
    /// A supplier's shop name; `Some` makes the user a supplier with that shop.
    pub shop_name: Option<String>,
}

#[derive(Clone, Debug)]
pub struct CreatedUser {
    pub user_id: String,
    /// Shown once: the store keeps only its hash.
    pub api_key: String,
    pub shop_id: Option<String>,
    pub changes: Vec<Change>,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    /// Nothing was created.
    #[error(transparent)]
    NotCreated(StoreError),
    /// The user was created (its key not shown) but the shop refused; the operator can
    /// make them a supplier again under another name.
    #[error("{error}")]
    NoShop { user_id: String, error: StoreError },
}

impl CreateUserError {
    pub fn into_store_error(self) -> StoreError {
        match self {
            CreateUserError::NotCreated(e) | CreateUserError::NoShop { error: e, .. } => e,
        }
    }
}

/// The user with their first API key, then (for a supplier) the shop, in two store
/// transactions, each with its audit row by `actor`: a refused shop name leaves the
/// user in place, and says so. The key is never in a row.
pub async fn create_user(
    store: &Store,
    actor: &Acting,
    command: CreateUser,
    now: i64,
) -> Result<CreatedUser, CreateUserError> {
    let after = json!({
        "email": command.email.trim().to_lowercase(),
        "name": command.name,
        "balance": command.initial_balance.display2(),
        "supplier": command.shop_name.is_some(),
    });
    let (user_id, api_key) = store
        .create_user_audited(
            &NewUser {
                email: command.email,
                name: command.name,
                password_hash: None,
                is_supplier: command.shop_name.is_some(),
                initial_balance: command.initial_balance,
            },
            now,
            |id| Some(actor.audit_entry("user.create", &format!("user:{id}"), None, Some(after))),
        )
        .await
        .map_err(CreateUserError::NotCreated)?;
    let (shop_id, changes) = match command.shop_name {
        Some(name) => match make_supplier(store, actor, &user_id, Some(&name), now).await {
            Ok((shop, changes)) => (Some(shop), changes),
            Err(error) => return Err(CreateUserError::NoShop { user_id, error }),
        },
        None => (None, Vec::new()),
    };
    Ok(CreatedUser {
        user_id,
        api_key,
        shop_id,
        changes,
    })
}

/// Makes a user a supplier: with their first shop if they have one, else a new shop of
/// this name (without one, named after the email the user has on record). Returns the
/// shop's id. Audited by `actor` in the transaction of the change.
pub async fn make_supplier(
    store: &Store,
    actor: &Acting,
    user_id: &str,
    shop_name: Option<&str>,
    now: i64,
) -> Result<(String, Vec<Change>), StoreError> {
    store
        .make_supplier_audited(user_id, shop_name, now, |made| {
            let mut after = json!({ "supplier": true, "shop": made.shop_id });
            if let Some(name) = &made.shop_name {
                after["shopName"] = json!(name);
            }
            Some(actor.audit_entry(
                "user.supplier",
                &format!("user:{user_id}"),
                Some(json!({ "supplier": made.was_supplier })),
                Some(after),
            ))
        })
        .await
}

/// Every key of the user revoked and one new key issued, kept sealed so its owner
/// sees it again on their account page (the web's "new key"; the user's own action).
pub async fn rotate_visible_key(
    store: &Store,
    user_id: &str,
    now: i64,
) -> Result<(String, Vec<Change>), StoreError> {
    let (key, changes) = store.rotate_api_key(user_id, now).await?;
    store.remember_key(&key).await?;
    Ok((key, changes))
}
