//! The operator's SMS prices from the console: admins and owners set what a project
//! costs in a country, through the same `sms_admin::set_price` the operator API uses;
//! each change is an audit row with the price before and after.

use serde_json::json;
use souk_core::Money;
use souk_store::{Store, StoreError};

use crate::operators::{audit, Acting, OperatorError, Permission};
use crate::sms_admin;

/// Sells `project` (its id or code) in `country` at `price` (typed, e.g. `0.50`).
pub async fn set_price(
    store: &Store,
    actor: &Acting,
    project: &str,
    country: &str,
    price: &str,
    now: i64,
) -> Result<Money, OperatorError> {
    actor.require(Permission::Change)?;
    let price = Money::parse(price.trim())
        .map_err(|_| OperatorError::Invalid("Price must be a number like 0.50".into()))?;
    if price.micros() <= 0 {
        return Err(OperatorError::Invalid(
            "The price must be above zero".into(),
        ));
    }
    let country = country.trim().to_ascii_lowercase();
    let project = sms_admin::project(store, project.trim())
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => OperatorError::Invalid("No such SMS project".into()),
            e => e.into(),
        })?;
    let before = store
        .sms_prices()
        .await?
        .into_iter()
        .find(|p| p.project_id == project.id && p.country_code == country)
        .map(|p| p.price.display4());
    sms_admin::set_price(store, &project.id, &country, price)
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => OperatorError::Invalid("No such country".into()),
            e => e.into(),
        })?;
    audit(
        store,
        &actor.id,
        &actor.email,
        "sms.price",
        &format!("sms:{}/{country}", project.code),
        Some(json!({ "price": before })),
        Some(json!({ "price": price.display4() })),
        now,
    )
    .await?;
    Ok(price)
}
