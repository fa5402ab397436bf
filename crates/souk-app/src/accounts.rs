//! The operator's administration of users and their API keys (the operator API's
//! `/users...` and `/keys/{id}`, `souk admin user|key ...`). Each change returns the
//! `Change`s a node's caches must follow (a suspended user's or a revoked key stops
//! working at once); the CLI, which keeps no cache, may drop them.

use souk_core::Money;
use souk_store::{Change, NewUser, Store, StoreError, UserStatus};

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
/// transactions: a refused shop name leaves the user in place, and says so.
pub async fn create_user(
    store: &Store,
    command: CreateUser,
    now: i64,
) -> Result<CreatedUser, CreateUserError> {
    let (user_id, api_key) = store
        .create_user(
            &NewUser {
                email: command.email,
                name: command.name,
                password_hash: None,
                is_supplier: command.shop_name.is_some(),
                initial_balance: command.initial_balance,
            },
            now,
        )
        .await
        .map_err(CreateUserError::NotCreated)?;
    let (shop_id, changes) = match command.shop_name {
        Some(name) => match store.make_supplier(&user_id, &name, now).await {
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

/// Suspends or reactivates a user.
pub async fn set_status(
    store: &Store,
    user_id: &str,
    status: UserStatus,
) -> Result<Vec<Change>, StoreError> {
    store.set_user_status(user_id, status).await
}

/// Makes a user a supplier: with their first shop if they have one, else a new shop of
/// this name (without one, named after the email the user has on record). Returns the
/// shop's id.
pub async fn make_supplier(
    store: &Store,
    user_id: &str,
    shop_name: Option<&str>,
    now: i64,
) -> Result<(String, Vec<Change>), StoreError> {
    let user = store.user(user_id).await?;
    let name = shop_name.map_or_else(
        || souk_core::supply::default_shop_name(&user.email),
        str::to_owned,
    );
    store.make_supplier(user_id, &name, now).await
}

/// One more key; returns (its id, the key, shown once).
pub async fn create_key(
    store: &Store,
    user_id: &str,
    label: &str,
    now: i64,
) -> Result<(String, String), StoreError> {
    store.create_api_key(user_id, label, now).await
}

/// Every key of the user revoked and one new key issued (shown once).
pub async fn rotate_keys(
    store: &Store,
    user_id: &str,
    now: i64,
) -> Result<(String, Vec<Change>), StoreError> {
    store.rotate_api_key(user_id, now).await
}

/// As `rotate_keys`, the new key kept sealed so its owner sees it again on their
/// account page (the web's "new key").
pub async fn rotate_visible_key(
    store: &Store,
    user_id: &str,
    now: i64,
) -> Result<(String, Vec<Change>), StoreError> {
    let (key, changes) = store.rotate_api_key(user_id, now).await?;
    store.remember_key(&key).await?;
    Ok((key, changes))
}

pub async fn revoke_key(store: &Store, key_id: &str, now: i64) -> Result<Vec<Change>, StoreError> {
    store.revoke_api_key(key_id, now).await
}
