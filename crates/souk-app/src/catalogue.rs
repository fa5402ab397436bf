//! The catalogue's structure: categories and subcategories with their positions, active
//! flag and translations (the operator API's `/categories`, `/subcategories`,
//! `souk admin category|subcategory ...`). A change answers the record as stored and the
//! `Change`s the caller's catalogue cache must follow (the CLI keeps none).

use souk_store::{
    CategoryPatch, CategoryRecord, Change, Level, NewCategory, NewSubcategory, Store, StoreError,
};

/// One category or subcategory, inactive or not.
pub async fn record(store: &Store, level: Level, id: &str) -> Result<CategoryRecord, StoreError> {
    store
        .categories_of(level, None)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(StoreError::NotFound(level.what()))
}

pub async fn create_category(
    store: &Store,
    category: NewCategory,
    active: bool,
    now: i64,
) -> Result<(CategoryRecord, Vec<Change>), StoreError> {
    let (id, changes) = store.insert_category(&category, active, now).await?;
    Ok((record(store, Level::Category, &id).await?, changes))
}

pub async fn create_subcategory(
    store: &Store,
    subcategory: NewSubcategory,
    active: bool,
    now: i64,
) -> Result<(CategoryRecord, Vec<Change>), StoreError> {
    let (id, changes) = store.insert_subcategory(&subcategory, active, now).await?;
    Ok((record(store, Level::Subcategory, &id).await?, changes))
}

pub async fn update(
    store: &Store,
    level: Level,
    id: &str,
    patch: &CategoryPatch,
) -> Result<(CategoryRecord, Vec<Change>), StoreError> {
    let changes = store.update_category(level, id, patch).await?;
    Ok((record(store, level, id).await?, changes))
}
