//! The supplier's products and SMM services, subproducts and translations.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_app::supplier_products;
use souk_core::catalogue::{EntityType, ProductType};
use souk_core::clock::iso_millis;
use souk_core::id::ServiceRef;
use souk_core::supply::{self, translated, SupplyError};
use souk_core::Money;
use souk_store::{NewService, NewSubproduct, ServiceDetail, ServicePatch, SubproductPatch};

use super::{translations_view, Supplier};
use crate::rest::{
    checked, entity_id, image_patch, nullable, AmountInput, JsonBody, QueryParams, RestError,
    TranslationsInput,
};
use crate::state::AppState;
use crate::transport::json_value;

const SERVICE_FIELDS: &[&str] = &["name", "description"];
const SUBPRODUCT_FIELDS: &[&str] = &["name"];

fn service_ref(text: &str) -> Result<ServiceRef, RestError> {
    ServiceRef::parse(text).ok_or_else(|| RestError::NotFound("Product not found".into()))
}

pub fn product_view(s: &ServiceDetail) -> Value {
    let smm = s.entity == EntityType::Smm;
    let mut v = json!({
        "id": s.id,
        "service": s.number,
        "entityType": if smm { "smm_service" } else { "product" },
        "type": s.product_type.as_str(),
        "shopId": s.shop_id,
        "subcategoryId": s.subcategory_id,
        "name": s.name,
        "description": s.description,
        "imageUrl": s.image_url,
        "recommended": s.recommended,
        "active": s.active,
        "translations": translations_view(&s.translations),
        "createdAt": iso_millis(s.created_at),
    });
    if smm {
        v["smmType"] = json!(s.type_name);
        v["rate"] = json!(s.rate.display2());
        v["min"] = json!(s.min);
        v["max"] = json!(s.max);
        v["refill"] = json!(s.refill);
        v["dripfeed"] = json!(s.dripfeed);
    } else {
        v["subproducts"] = s
            .subproducts
            .iter()
            .map(|p| {
                json!({
                    "subproductId": p.id,
                    "name": p.name,
                    "price": p.price.display2(),
                    "min": p.min,
                    "max": p.max,
                    "position": p.position,
                    "active": p.active,
                    "stock": p.stock,
                    "translations": translations_view(&p.translations),
                })
            })
            .collect();
    }
    v
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(rename = "entityType")]
    entity_type: Option<String>,
}

/// `GET /products`: the caller's products and SMM services, inactive ones included.
pub async fn list(
    State(state): State<AppState>,
    supplier: Supplier,
    QueryParams(q): QueryParams<ListQuery>,
) -> Result<Response, RestError> {
    let entity = match q.entity_type.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("product") => Some(EntityType::Product),
        Some("smm_service" | "smm") => Some(EntityType::Smm),
        Some(_) => {
            return Err(RestError::BadRequest(
                "entityType must be product or smm_service".into(),
            ))
        }
    };
    let all = state.store.supplier_services(supplier.id(), None).await?;
    let rows: Vec<Value> = all
        .iter()
        .filter(|s| entity.is_none_or(|e| s.entity == e))
        .map(product_view)
        .collect();
    Ok(json_value(
        StatusCode::OK,
        &json!({"products": rows, "total": rows.len()}),
    ))
}

/// `GET /products/{id}` (number or entity id).
pub async fn one(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
) -> Result<Response, RestError> {
    let r = service_ref(&id)?;
    let s = supplier_products::product(&state.store, supplier.id(), &r).await?;
    Ok(json_value(StatusCode::OK, &product_view(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewSubproductBody {
    name: String,
    price: AmountInput,
    #[serde(default = "one_i64")]
    min: i64,
    max: Option<i64>,
    #[serde(default)]
    position: Option<i64>,
    /// Declared capacity (manual products).
    #[serde(default)]
    stock: i64,
    #[serde(default)]
    translations: TranslationsInput,
}

fn one_i64() -> i64 {
    1
}

impl NewSubproductBody {
    fn parse(self, default_position: i64) -> Result<NewSubproduct, RestError> {
        let name = supply::check_name("name", &self.name)?;
        let price = self.price.price("price")?;
        let max = self.max.ok_or(SupplyError::Required("max"))?;
        supply::check_limits(self.min, max)?;
        supply::check_capacity(self.stock)?;
        let translations = supply::parse_translations(&self.translations, SUBPRODUCT_FIELDS)?;
        Ok(NewSubproduct {
            name: translated(name, "name", &translations),
            price,
            min: self.min,
            max,
            position: self.position.unwrap_or(default_position),
            declared_stock: self.stock,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewProductBody {
    name: String,
    subcategory_id: String,
    #[serde(rename = "type")]
    product_type: Option<String>,
    entity_type: Option<String>,
    shop_id: Option<String>,
    #[serde(default)]
    description: String,
    image_url: Option<String>,
    #[serde(default)]
    recommended: bool,
    #[serde(default)]
    translations: TranslationsInput,
    #[serde(default)]
    subproducts: Vec<NewSubproductBody>,
    // SMM services.
    rate: Option<AmountInput>,
    min: Option<i64>,
    max: Option<i64>,
    smm_type: Option<String>,
    #[serde(default)]
    refill: bool,
    #[serde(default)]
    dripfeed: bool,
}

/// `POST /products`: a product with its subproducts, or (`"entityType": "smm"`) one of
/// the shop's manual SMM services. Answers 201 with the product.
pub async fn create(
    State(state): State<AppState>,
    supplier: Supplier,
    JsonBody(body): JsonBody<NewProductBody>,
) -> Result<Response, RestError> {
    let shop_id = supplier.shop(body.shop_id.as_deref())?.to_owned();
    let entity = match body.entity_type.as_deref().map(str::trim) {
        None | Some("product") => EntityType::Product,
        Some("smm" | "smm_service") => EntityType::Smm,
        Some(_) => return Err(SupplyError::InvalidEntityType.into()),
    };
    let name = supply::check_name("name", &body.name)?;
    let description = supply::check_description(&body.description)?;
    let image_url = checked(body.image_url.as_deref(), supply::check_image_url)?.flatten();
    let translations = supply::parse_translations(&body.translations, SERVICE_FIELDS)?;
    let subcategory_id = entity_id(&body.subcategory_id, "Subcategory")?;
    let service = match entity {
        EntityType::Product => {
            let product_type = supply::supplier_product_type(
                body.product_type
                    .as_deref()
                    .ok_or(SupplyError::Required("type"))?,
            )?;
            if body.rate.is_some() || body.min.is_some() || body.max.is_some() {
                return Err(SupplyError::LimitsOnSubproducts.into());
            }
            if body.subproducts.is_empty() {
                return Err(SupplyError::NoSubproducts.into());
            }
            let subproducts = body
                .subproducts
                .into_iter()
                .enumerate()
                .map(|(i, s)| s.parse(i as i64 + 1))
                .collect::<Result<Vec<_>, _>>()?;
            NewService {
                entity,
                product_type,
                shop_id,
                subcategory_id,
                name: translated(name, "name", &translations),
                description: translated(description, "description", &translations),
                type_name: "Default".into(),
                image_url,
                rate: Money::ZERO,
                min: 1,
                max: 1,
                refill: false,
                refill_days: None,
                cancel: false,
                dripfeed: false,
                recommended: body.recommended,
                subproducts,
            }
        }
        EntityType::Smm => {
            if body
                .product_type
                .as_deref()
                .is_some_and(|t| ProductType::parse(t) != Some(ProductType::Manual))
            {
                return Err(SupplyError::SmmIsManual.into());
            }
            if !body.subproducts.is_empty() {
                return Err(SupplyError::SmmSubproducts.into());
            }
            let rate = body
                .rate
                .as_ref()
                .ok_or(SupplyError::Required("rate"))?
                .price("rate")?;
            let min = body.min.unwrap_or(1);
            let max = body.max.ok_or(SupplyError::Required("max"))?;
            supply::check_limits(min, max)?;
            NewService {
                entity,
                product_type: ProductType::Manual,
                shop_id,
                subcategory_id,
                name: translated(name, "name", &translations),
                description: translated(description, "description", &translations),
                type_name: supply::check_name(
                    "smmType",
                    body.smm_type.as_deref().unwrap_or("Default"),
                )?,
                image_url,
                rate,
                min,
                max,
                refill: body.refill,
                refill_days: body.refill.then_some(30),
                cancel: false,
                dripfeed: body.dripfeed,
                recommended: body.recommended,
                subproducts: Vec::new(),
            }
        }
    };
    let (s, changes) =
        supplier_products::create(&state.store, supplier.id(), &service, state.now()).await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::CREATED, &product_view(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductPatchBody {
    name: Option<String>,
    description: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    image_url: Option<Option<String>>,
    #[serde(rename = "type")]
    product_type: Option<String>,
    subcategory_id: Option<String>,
    recommended: Option<bool>,
    active: Option<bool>,
    rate: Option<AmountInput>,
    min: Option<i64>,
    max: Option<i64>,
    smm_type: Option<String>,
    #[serde(default)]
    translations: TranslationsInput,
}

/// `PATCH /products/{id}`.
pub async fn update(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<ProductPatchBody>,
) -> Result<Response, RestError> {
    let r = service_ref(&id)?;
    let patch = ServicePatch {
        name: checked(body.name.as_deref(), |n| supply::check_name("name", n))?,
        description: checked(body.description.as_deref(), supply::check_description)?,
        image_url: image_patch(body.image_url)?,
        product_type: body
            .product_type
            .as_deref()
            .map(|t| {
                ProductType::parse(t)
                    .filter(|t| *t != ProductType::Auto)
                    .ok_or(SupplyError::InvalidProductType)
            })
            .transpose()?,
        subcategory_id: body
            .subcategory_id
            .as_deref()
            .map(|s| entity_id(s, "Subcategory"))
            .transpose()?,
        recommended: body.recommended,
        active: body.active,
        rate: body.rate.as_ref().map(|r| r.price("rate")).transpose()?,
        min: body.min,
        max: body.max,
        type_name: checked(body.smm_type.as_deref(), |t| {
            supply::check_name("smmType", t)
        })?,
        translations: supply::parse_translations(&body.translations, SERVICE_FIELDS)?,
    };
    let (s, changes) =
        supplier_products::update(&state.store, supplier.id(), &r, &patch, state.now()).await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &product_view(&s)))
}

/// `POST /products/{id}/subproducts`: answers 201 with the product.
pub async fn add_subproduct(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<NewSubproductBody>,
) -> Result<Response, RestError> {
    let r = service_ref(&id)?;
    let sub = body.parse(0)?;
    let (s, changes) =
        supplier_products::add_subproduct(&state.store, supplier.id(), &r, &sub, state.now())
            .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::CREATED, &product_view(&s)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SubproductPatchBody {
    name: Option<String>,
    price: Option<AmountInput>,
    min: Option<i64>,
    max: Option<i64>,
    position: Option<i64>,
    active: Option<bool>,
    stock: Option<i64>,
    low_stock_threshold: Option<i64>,
    #[serde(default)]
    translations: TranslationsInput,
}

/// `PATCH /subproducts/{id}`: answers with the subproduct's product.
pub async fn update_subproduct(
    State(state): State<AppState>,
    supplier: Supplier,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SubproductPatchBody>,
) -> Result<Response, RestError> {
    let id = entity_id(&id, "Subproduct")?;
    let patch = SubproductPatch {
        name: checked(body.name.as_deref(), |n| supply::check_name("name", n))?,
        price: body.price.as_ref().map(|p| p.price("price")).transpose()?,
        min: body.min,
        max: body.max,
        position: body.position,
        active: body.active,
        stock: body.stock,
        low_stock_threshold: body.low_stock_threshold,
        translations: supply::parse_translations(&body.translations, SUBPRODUCT_FIELDS)?,
    };
    let (product, changes) =
        supplier_products::update_subproduct(&state.store, supplier.id(), &id, &patch, state.now())
            .await?;
    state.apply_changes(&changes).await?;
    Ok(json_value(StatusCode::OK, &product_view(&product)))
}
