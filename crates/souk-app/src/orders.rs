//! Placing an order (`/api/v2` `add`, the web shop): the idempotency pre-check, validation
//! against the catalogue entry the order names, and the store transaction that charges and
//! books it.

use std::sync::Arc;

use souk_core::catalogue::Service;
use souk_core::clock::Clock;
use souk_core::id::ServiceRef;
use souk_core::idempotency;
use souk_core::order::{parse_add, AddOrder};
use souk_core::order_input::{AddFields, AddInput};
use souk_core::ApiError;
use souk_store::{Buyer, Idempotency, Placed, Store, StoreError};

/// The services on sale as the caller holds them (the API's in-memory catalogue). Asked
/// at each use rather than once, since a write may replace the catalogue in between.
pub trait Services: Sync {
    fn service(&self, named: &ServiceRef) -> Option<Arc<Service>>;
}

/// One order to place, for one buyer.
#[derive(Clone, Debug)]
pub struct PlaceOrder {
    pub user_id: String,
    pub email: String,
    /// What the buyer asked for, unvalidated.
    pub fields: AddFields,
    /// A key given apart from the fields (the API's `Idempotency-Key` header, the shop
    /// form's hidden key); it wins over `fields.idempotency_key`.
    pub idempotency_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// Refused with the API's own words; nothing was charged.
    #[error(transparent)]
    Rejected(#[from] ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Places one order, or finds the one an earlier request with the same idempotency key
/// placed (`new` false, no changes). The returned changes are for the caller's
/// in-memory catalogue.
pub async fn place_order(
    store: &Store,
    services: &impl Services,
    clock: &dyn Clock,
    command: PlaceOrder,
) -> Result<Placed, OrderError> {
    let fields = &command.fields;
    let key = idempotency::key(fields, command.idempotency_key.as_deref())?;
    // A retry finds its first order before anything is validated: the service may have
    // been deactivated, repriced or sold out since, and the answer must not change.
    if let Some(key) = &key {
        if let Some(number) = named_service_number(store, services, fields).await? {
            let fingerprint = idempotency::fingerprint(fields, number);
            let idem = Idempotency {
                key,
                fingerprint: &fingerprint,
            };
            if let Some(order_id) = store
                .idempotent_order(&command.user_id, &idem, clock.now_ms())
                .await?
            {
                return Ok(Placed {
                    order_id,
                    new: false,
                    changes: Vec::new(),
                });
            }
        }
    }
    let service = find_service(services, fields)?;
    let request = parse_add(fields, &service)?;
    let fingerprint = idempotency::fingerprint(fields, service.number);
    drop(service);
    // The order runs to completion even if the caller goes away mid-request (a client
    // hanging up drops the request's future), so a charge is never left half-booked.
    let (store, now) = (store.clone(), clock.now_ms());
    let PlaceOrder { user_id, email, .. } = command;
    let placed = tokio::spawn(async move {
        let buyer = Buyer {
            user_id: &user_id,
            email: &email,
        };
        let idem = key.as_deref().map(|key| Idempotency {
            key,
            fingerprint: &fingerprint,
        });
        match &request.order {
            AddOrder::Product(order) => {
                store
                    .place_product_order(&buyer, order, idem.as_ref(), now)
                    .await
            }
            AddOrder::Smm(order) => {
                store
                    .place_smm_order(&buyer, order, idem.as_ref(), now)
                    .await
            }
        }
    })
    .await
    .map_err(|e| StoreError::task_failed("order", &e))??;
    Ok(placed)
}

/// One line of a mass order and how it went.
#[derive(Debug)]
pub struct MassResult {
    pub line: usize,
    pub outcome: Result<Placed, ApiError>,
}

/// A mass order (`souk_core::mass_order`): each line placed as its own `add`, in order,
/// a refused line failing alone. With an idempotency key (the header's, else the
/// field's), line n is placed under `key#n`, so a retried request places nothing twice.
/// A fault of ours on a line is logged and answered as the API's internal error for
/// that line: the lines before it are placed and must be reported.
pub async fn place_mass(
    store: &Store,
    services: &impl Services,
    clock: &dyn Clock,
    buyer: (&str, &str),
    text: &str,
    key: Option<&str>,
) -> Result<Vec<MassResult>, ApiError> {
    let lines = souk_core::mass_order::parse(text, key)?;
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let outcome = match l.fields {
            Err(e) => Err(e),
            Ok(fields) => {
                let command = PlaceOrder {
                    user_id: buyer.0.to_owned(),
                    email: buyer.1.to_owned(),
                    fields,
                    idempotency_key: None,
                };
                match place_order(store, services, clock, command).await {
                    Ok(placed) => Ok(placed),
                    Err(OrderError::Rejected(e)) => Err(e),
                    Err(OrderError::Store(StoreError::Rejected(e))) => Err(e),
                    Err(OrderError::Store(e)) => {
                        tracing::error!(line = l.line, error = %e, "placing a mass order line failed");
                        Err(ApiError::Internal)
                    }
                }
            }
        };
        out.push(MassResult {
            line: l.line,
            outcome,
        });
    }
    Ok(out)
}

/// The service on sale that the order names, with the seed's errors.
fn find_service(services: &impl Services, fields: &AddFields) -> Result<Arc<Service>, ApiError> {
    let text = fields.get("service").ok_or(ApiError::ServiceIdRequired)?;
    ServiceRef::parse(text)
        .and_then(|named| services.service(&named))
        .ok_or(ApiError::ServiceNotFound)
}

/// The number of the service the order names, whether or not it is still on sale.
async fn named_service_number(
    store: &Store,
    services: &impl Services,
    fields: &AddFields,
) -> Result<Option<i64>, StoreError> {
    let Some(named) = fields.get("service").and_then(ServiceRef::parse) else {
        return Ok(None);
    };
    if let Some(service) = services.service(&named) {
        return Ok(Some(service.number));
    }
    Ok(match named {
        ServiceRef::Number(number) => Some(number),
        ServiceRef::Id(id) => store.service_number_of(&id).await?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A catalogue with nothing on sale.
    struct NothingOnSale;

    impl Services for NothingOnSale {
        fn service(&self, _: &ServiceRef) -> Option<Arc<Service>> {
            None
        }
    }

    #[test]
    fn an_order_names_a_service_on_sale_or_is_refused_with_the_seeds_words() {
        let refusal = |service: Option<&str>| {
            let fields = AddFields {
                service: service.map(str::to_owned),
                ..AddFields::default()
            };
            find_service(&NothingOnSale, &fields).err()
        };
        assert_eq!(refusal(None), Some(ApiError::ServiceIdRequired));
        assert_eq!(refusal(Some("  ")), Some(ApiError::ServiceIdRequired));
        assert_eq!(refusal(Some("nope!")), Some(ApiError::ServiceNotFound));
        assert_eq!(refusal(Some("7")), Some(ApiError::ServiceNotFound));
    }
}
