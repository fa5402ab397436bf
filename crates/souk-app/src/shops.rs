//! Shops (the operator API's `/shops`, `souk admin shop ...`): created for a user, who
//! becomes a supplier, renamed, hidden from buyers. A change answers the shop as stored
//! and the `Change`s the caller's catalogue cache must follow.

use souk_store::{Change, NewShop, ShopRecord, Store, StoreError};

/// Who is to own a new shop.
#[derive(Clone, Debug)]
pub enum Owner {
    Id(String),
    /// An unknown email is `NotFound("User")`.
    Email(String),
}

pub async fn shop(store: &Store, id: &str) -> Result<ShopRecord, StoreError> {
    store
        .all_shops()
        .await?
        .into_iter()
        .find(|s| s.id == id)
        .ok_or(StoreError::NotFound("Shop"))
}

/// `name` is already checked (`souk_core::supply::check_name`).
pub async fn create(
    store: &Store,
    owner: Owner,
    name: String,
    now: i64,
) -> Result<(ShopRecord, Vec<Change>), StoreError> {
    let owner_id = match owner {
        Owner::Id(id) => id,
        Owner::Email(email) => store
            .user_id_by_email(&email)
            .await?
            .ok_or(StoreError::NotFound("User"))?,
    };
    let (id, changes) = store.create_shop(&NewShop { owner_id, name }, now).await?;
    Ok((shop(store, &id).await?, changes))
}

pub async fn update(
    store: &Store,
    id: &str,
    name: Option<&str>,
    active: Option<bool>,
) -> Result<(ShopRecord, Vec<Change>), StoreError> {
    let changes = store.update_shop(id, name, active).await?;
    Ok((shop(store, id).await?, changes))
}
