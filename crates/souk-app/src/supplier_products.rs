//! A supplier's own listings (the supplier API's `/products` and `/subproducts`): products
//! with their subproducts and manual SMM services, created and changed in the supplier's
//! own shops. A change answers the product as stored, read back, with the `Change`s the
//! caller's catalogue cache must follow. The front end builds the typed listing from its
//! input (`souk_core::supply` checks).

use souk_core::id::ServiceRef;
use souk_store::{
    Change, NewService, NewSubproduct, ServiceDetail, ServicePatch, Store, StoreError,
    SubproductPatch,
};

/// One of the supplier's products or services, inactive or not.
pub async fn product(
    store: &Store,
    supplier_id: &str,
    service: &ServiceRef,
) -> Result<ServiceDetail, StoreError> {
    store
        .supplier_services(supplier_id, Some(service))
        .await?
        .into_iter()
        .next()
        .ok_or(StoreError::NotFound("Product"))
}

/// `service.shop_id` must be one of the supplier's shops: the caller checks it.
pub async fn create(
    store: &Store,
    supplier_id: &str,
    service: &NewService,
    now: i64,
) -> Result<(ServiceDetail, Vec<Change>), StoreError> {
    let (number, _, _, changes) = store.create_service(service, now).await?;
    let created = product(store, supplier_id, &ServiceRef::Number(number)).await?;
    Ok((created, changes))
}

/// Another supplier's product is `NotFound`.
pub async fn update(
    store: &Store,
    supplier_id: &str,
    service: &ServiceRef,
    patch: &ServicePatch,
    now: i64,
) -> Result<(ServiceDetail, Vec<Change>), StoreError> {
    let changes = store
        .update_service(supplier_id, service, patch, now)
        .await?;
    Ok((product(store, supplier_id, service).await?, changes))
}

pub async fn add_subproduct(
    store: &Store,
    supplier_id: &str,
    service: &ServiceRef,
    subproduct: &NewSubproduct,
    now: i64,
) -> Result<(ServiceDetail, Vec<Change>), StoreError> {
    let (_, changes) = store
        .add_subproduct(supplier_id, service, subproduct, now)
        .await?;
    Ok((product(store, supplier_id, service).await?, changes))
}

/// Answers the subproduct's product.
pub async fn update_subproduct(
    store: &Store,
    supplier_id: &str,
    subproduct_id: &str,
    patch: &SubproductPatch,
    now: i64,
) -> Result<(ServiceDetail, Vec<Change>), StoreError> {
    let changes = store
        .update_subproduct(supplier_id, subproduct_id, patch, now)
        .await?;
    let product = store
        .supplier_services(supplier_id, None)
        .await?
        .into_iter()
        .find(|s| s.subproducts.iter().any(|p| p.id == subproduct_id))
        .ok_or(StoreError::NotFound("Subproduct"))?;
    Ok((product, changes))
}
