//! Shops (the operator API's `/shops`, the console's shops screen, `souk admin shop
//! ...`): created for a user, who becomes a supplier, renamed, hidden from buyers. A
//! change answers the shop as stored and the `Change`s the caller's catalogue cache must
//! follow. The console and the operator API change shops through `create_audited` and
//! `update_audited`, each change audited in its own transaction; the command line
//! writes through the same store steps, unaudited.

use serde_json::json;
use souk_core::supply;
use souk_store::{Change, NewShop, ShopRecord, Store, StoreError};

use crate::operators::{Acting, OperatorError, Permission};

/// Who is to own a new shop.
#[derive(Clone, Debug)]
pub enum Owner {
    Id(String),
    /// An unknown email is `NotFound("User")`.
    Email(String),
}

pub async fn shop(store: &Store, id: &str) -> Result<ShopRecord, StoreError> {
    store.shop_record(id).await
}

async fn owner_id(store: &Store, owner: Owner) -> Result<String, StoreError> {
    match owner {
        Owner::Id(id) => Ok(id),
        Owner::Email(email) => store
            .user_id_by_email(&email)
            .await?
            .ok_or(StoreError::NotFound("User")),
    }
}

/// `name` is already checked (`souk_core::supply::check_name`).
pub async fn create(
    store: &Store,
    owner: Owner,
    name: String,
    now: i64,
) -> Result<(ShopRecord, Vec<Change>), StoreError> {
    let owner_id = owner_id(store, owner).await?;
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

fn checked_name(name: &str) -> Result<String, OperatorError> {
    supply::check_name("name", name).map_err(|e| OperatorError::Invalid(e.to_string()))
}

/// Opens a shop for `owner` (admins and owners), who becomes a supplier, audited with
/// the shop's name and owner in the transaction that opens it. An owner no user is is
/// `NotFound("User")`.
pub async fn create_audited(
    store: &Store,
    actor: &Acting,
    owner: Owner,
    name: &str,
    now: i64,
) -> Result<(ShopRecord, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let name = checked_name(name)?;
    let owner = match owner {
        Owner::Email(email) => {
            let email = email.trim().to_lowercase();
            if email.is_empty() {
                return Err(OperatorError::Invalid(
                    "The owner's email is required".into(),
                ));
            }
            Owner::Email(email)
        }
        id => id,
    };
    let owner_id = owner_id(store, owner).await?;
    let after = json!({ "name": name, "owner": owner_id, "active": true });
    let (id, changes) = store
        .create_shop_audited(&NewShop { owner_id, name }, now, |id| {
            Some(actor.audit_entry("shop.create", &format!("shop:{id}"), None, Some(after)))
        })
        .await?;
    Ok((shop(store, &id).await?, changes))
}

/// Renames a shop and shows or hides it (admins and owners; `None` leaves a field as it
/// is), audited with its name and visibility before and after in the change's
/// transaction.
pub async fn update_audited(
    store: &Store,
    actor: &Acting,
    id: &str,
    name: Option<&str>,
    active: Option<bool>,
    now: i64,
) -> Result<(ShopRecord, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let name = name.map(checked_name).transpose()?;
    let subject = format!("shop:{id}");
    let changes = store
        .update_shop_audited(id, name.as_deref(), active, now, |before, after| {
            let view = |(name, active): (&str, bool)| json!({ "name": name, "active": active });
            Some(actor.audit_entry(
                "shop.update",
                &subject,
                Some(view(before)),
                Some(view(after)),
            ))
        })
        .await?;
    Ok((shop(store, id).await?, changes))
}
