//! The operator's edits of the catalogue from the console and the operator API: a
//! category's or subcategory's name, description, position, whether it is shown, and its
//! Russian name; a product's or SMM service's name, description, visibility, price (or,
//! imported, its markup), its translations and its variants' prices. Admins and owners
//! only; each edit is an audit row with the record before and after, and answers the
//! catalogue changes the caller's cache must follow.

use serde_json::{json, Value};
use souk_core::supply::{self, Translation};
use souk_core::{Lang, Money};
use souk_store::{
    CategoryPatch, CategoryRecord, Change, Level, NewCategory, NewSubcategory, OperatorService,
    ServiceEdit, Store, StoreError, VariantEdit,
};

use crate::operators::{Acting, OperatorError, Permission};

/// The edit form's fields, as typed.
#[derive(Clone, Debug, Default)]
pub struct CategoryEdit {
    pub name: String,
    pub description: String,
    pub position: String,
    pub active: bool,
    /// Blank removes the Russian name (buyers then see the English one).
    pub name_ru: String,
}

/// One category or subcategory, inactive or not.
pub async fn record(store: &Store, level: Level, id: &str) -> Result<CategoryRecord, StoreError> {
    store
        .categories_of(level, None)
        .await?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(StoreError::NotFound(level.what()))
}

/// The Russian name of a record, if it has one.
pub fn name_ru(c: &CategoryRecord) -> Option<&str> {
    c.translations
        .iter()
        .find(|(field, lang, _)| field == "name" && lang == Lang::Ru.code())
        .map(|(_, _, v)| v.as_str())
}

fn view(c: &CategoryRecord) -> Value {
    json!({
        "name": c.name,
        "description": c.description,
        "position": c.position,
        "active": c.active,
        "nameRu": name_ru(c),
    })
}

fn invalid(e: supply::SupplyError) -> OperatorError {
    OperatorError::Supply(e)
}

pub async fn edit(
    store: &Store,
    actor: &Acting,
    level: Level,
    id: &str,
    edit: &CategoryEdit,
    now: i64,
) -> Result<(CategoryRecord, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let name = supply::check_name("name", &edit.name).map_err(invalid)?;
    let description = supply::check_description(edit.description.trim()).map_err(invalid)?;
    let position = edit
        .position
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| {
            OperatorError::Invalid("Position must be a whole number, 0 or more".into())
        })?;
    let ru = match edit.name_ru.trim() {
        "" => None,
        text => Some(supply::check_name("name", text).map_err(invalid)?),
    };
    let before = record(store, level, id).await?;
    // Only a Russian name that changed is written (removing none is no change).
    let translations = if name_ru(&before).map(str::to_owned) == ru {
        Vec::new()
    } else {
        vec![Translation {
            field: "name",
            lang: Lang::Ru,
            value: ru,
        }]
    };
    let patch = CategoryPatch {
        name: Some(name),
        description: Some(description),
        position: Some(position),
        active: Some(edit.active),
        translations,
        ..CategoryPatch::default()
    };
    change(store, actor, level, id, &patch, now).await
}

/// A category or subcategory changed as `patch` says (the console's form, the operator
/// API's `PATCH`), audited with the record before and after: both read, and the audit
/// row written, in the change's transaction. The slug, parent and image are in the row
/// only when they changed.
pub async fn change(
    store: &Store,
    actor: &Acting,
    level: Level,
    id: &str,
    patch: &CategoryPatch,
    now: i64,
) -> Result<(CategoryRecord, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let (action, subject) = match level {
        Level::Category => ("category.update", format!("category:{id}")),
        Level::Subcategory => ("subcategory.update", format!("subcategory:{id}")),
    };
    let (after, changes) = store
        .update_category_audited(level, id, patch, now, |before, after| {
            let (mut b, mut a) = (view(before), view(after));
            if before.slug != after.slug
                || before.category_id != after.category_id
                || before.image_url != after.image_url
            {
                for (v, r) in [(&mut b, before), (&mut a, after)] {
                    v["slug"] = json!(r.slug);
                    v["categoryId"] = json!(r.category_id);
                    v["imageUrl"] = json!(r.image_url);
                }
            }
            Some(actor.audit_entry(action, &subject, Some(b), Some(a)))
        })
        .await?;
    Ok((after, changes))
}

/// A new category (the operator API), audited in the transaction that creates it.
pub async fn create_category(
    store: &Store,
    actor: &Acting,
    category: NewCategory,
    active: bool,
    now: i64,
) -> Result<(CategoryRecord, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let after = json!({
        "slug": category.slug,
        "name": category.name.en(),
        "position": category.position,
        "active": active,
    });
    let (id, changes) = store
        .insert_category_audited(&category, active, now, |id| {
            Some(actor.audit_entry(
                "category.create",
                &format!("category:{id}"),
                None,
                Some(after),
            ))
        })
        .await?;
    Ok((record(store, Level::Category, &id).await?, changes))
}

/// A new subcategory (the operator API), audited in the transaction that creates it.
pub async fn create_subcategory(
    store: &Store,
    actor: &Acting,
    subcategory: NewSubcategory,
    active: bool,
    now: i64,
) -> Result<(CategoryRecord, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let after = json!({
        "categoryId": subcategory.category_id,
        "slug": subcategory.slug,
        "name": subcategory.name.en(),
        "position": subcategory.position,
        "active": active,
    });
    let (id, changes) = store
        .insert_subcategory_audited(&subcategory, active, now, |id| {
            Some(actor.audit_entry(
                "subcategory.create",
                &format!("subcategory:{id}"),
                None,
                Some(after),
            ))
        })
        .await?;
    Ok((record(store, Level::Subcategory, &id).await?, changes))
}

/// The most a price may be: a million in our currency (anything above is a typo).
pub const MAX_PRICE: Money = Money::from_micros(1_000_000 * 1_000_000);

/// A price as the operator typed it (`7.20`): above zero, at most `MAX_PRICE`.
pub fn parse_price(text: &str) -> Result<Money, OperatorError> {
    let price = Money::parse(text.trim())
        .map_err(|_| OperatorError::Invalid("Price must be a number like 0.50".into()))?;
    if price.micros() <= 0 {
        return Err(OperatorError::Invalid(
            "The price must be above zero".into(),
        ));
    }
    if price > MAX_PRICE {
        return Err(OperatorError::Invalid(format!(
            "The price must be at most {}",
            MAX_PRICE.display2()
        )));
    }
    Ok(price)
}

/// The operator's changes to a product or SMM service; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct ServiceChange {
    pub name: Option<String>,
    pub description: Option<String>,
    pub active: Option<bool>,
    /// A local SMM service's rate per 1000, as typed (`1.50`). An imported service's
    /// price follows its markup; a product's is its variants'.
    pub price: Option<String>,
    /// An imported service's markup percent and rounding step, as typed (blank: none).
    pub markup: Option<(String, String)>,
}

/// The subject of a service's audit rows.
pub fn service_subject(number: i64) -> String {
    format!("service:{number}")
}

fn price_text(micros: i64) -> String {
    Money::from_micros(micros).display2()
}

fn service_view(s: &OperatorService) -> Value {
    let mut v = json!({
        "name": s.name,
        "description": s.description,
        "active": s.active,
    });
    if s.is_smm() {
        v["price"] = json!(price_text(s.rate));
    } else {
        v["prices"] = s
            .variants
            .iter()
            .map(|p| json!({ "variant": p.id, "price": price_text(p.price) }))
            .collect();
    }
    if let Some(m) = s.markup {
        v["markupPercent"] = json!(price_text(m.basis_points * 10_000));
        v["roundTo"] = json!(price_text(m.round_to));
    }
    v
}

/// A translation of a service in one language: (name, description).
pub fn translation_of(s: &OperatorService, lang: Lang) -> (Option<&str>, Option<&str>) {
    let find = |field: &str| {
        s.translations
            .iter()
            .find(|(f, l, _)| f == field && l == lang.code())
            .map(|(_, _, v)| v.as_str())
    };
    (find("name"), find("description"))
}

/// Edits a service: name, description, shown or not, and its price (a local SMM
/// service's rate) or markup (an imported one's). The audit row, the change and the
/// catalogue version are one transaction; answers the service after and the changes to
/// apply.
pub async fn edit_service(
    store: &Store,
    actor: &Acting,
    number: i64,
    change: &ServiceChange,
    now: i64,
) -> Result<(OperatorService, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let current = store.operator_service(number).await?;
    let name = match &change.name {
        Some(n) => supply::check_name("name", n).map_err(invalid)?,
        None => current.name.clone(),
    };
    let description = match &change.description {
        Some(d) => supply::check_description(d.trim()).map_err(invalid)?,
        None => current.description.clone(),
    };
    let rate = match &change.price {
        None => None,
        Some(_) if current.imported() => {
            return Err(OperatorError::Invalid(
                "An imported service's price follows its markup".into(),
            ))
        }
        Some(_) if !current.is_smm() => {
            return Err(OperatorError::Invalid(
                "A product's price is its variants'; price each of them".into(),
            ))
        }
        Some(text) => Some(parse_price(text)?),
    };
    let markup = match &change.markup {
        None => None,
        Some(_) if !current.imported() => {
            return Err(OperatorError::Invalid(
                "Only an imported service has a markup".into(),
            ))
        }
        Some((percent, round)) => Some(crate::operator_providers::markup_of(percent, round)?),
    };
    let edit = ServiceEdit {
        name,
        description,
        active: change.active.unwrap_or(current.active),
        rate,
        markup,
    };
    let subject = service_subject(number);
    Ok(store
        .edit_service_audited(number, &edit, now, |before, after| {
            actor.audit_entry(
                "service.update",
                &subject,
                Some(service_view(before)),
                Some(service_view(after)),
            )
        })
        .await?)
}

/// Sets a service's name and description in one language other than English (blank
/// removes that one: buyers then read the English). Audited with that language's texts
/// before and after, in the change's transaction.
pub async fn translate_service(
    store: &Store,
    actor: &Acting,
    number: i64,
    lang: &str,
    name: &str,
    description: &str,
    now: i64,
) -> Result<(OperatorService, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let lang = Lang::parse(lang.trim())
        .ok_or_else(|| OperatorError::Invalid(format!("Unknown language: {}", lang.trim())))?;
    if lang == Lang::En {
        return Err(OperatorError::Invalid(
            "English is the service's own name and description".into(),
        ));
    }
    let name = match name.trim() {
        "" => None,
        n => Some(supply::check_name("name", n).map_err(invalid)?),
    };
    let description = match description.trim() {
        "" => None,
        d => Some(supply::check_description(d).map_err(invalid)?),
    };
    let translations = vec![
        Translation {
            field: "name",
            lang,
            value: name,
        },
        Translation {
            field: "description",
            lang,
            value: description,
        },
    ];
    set_translations(store, actor, number, translations, now).await
}

/// Sets (a `None` value removes) a service's translations, already checked
/// (`souk_core::supply::parse_translations`): the operator API's way in. Audited with the
/// touched languages' texts before and after, in the change's transaction.
pub async fn set_translations(
    store: &Store,
    actor: &Acting,
    number: i64,
    translations: Vec<Translation>,
    now: i64,
) -> Result<(OperatorService, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    if translations.iter().any(|t| t.lang == Lang::En) {
        return Err(OperatorError::Invalid(
            "English is the service's own name and description".into(),
        ));
    }
    let mut langs: Vec<Lang> = translations.iter().map(|t| t.lang).collect();
    langs.sort();
    langs.dedup();
    let view = |s: &OperatorService| {
        let mut v = serde_json::Map::new();
        for lang in &langs {
            let (name, description) = translation_of(s, *lang);
            v.insert(
                lang.code().to_owned(),
                json!({ "name": name, "description": description }),
            );
        }
        Value::Object(v)
    };
    let subject = service_subject(number);
    Ok(store
        .translate_service_audited(number, &translations, now, |before, after| {
            actor.audit_entry(
                "service.translate",
                &subject,
                Some(view(before)),
                Some(view(after)),
            )
        })
        .await?)
}

/// Renames one variant of a product or prices it (typed, e.g. `7.20`), each when
/// given; an imported product's variant priced here is priced by the operator from now
/// on (sync leaves it alone, and never renames it). Refused when neither is given or
/// neither differs from what the variant has.
pub async fn edit_variant(
    store: &Store,
    actor: &Acting,
    number: i64,
    variant: &str,
    name: Option<&str>,
    price: Option<&str>,
    now: i64,
) -> Result<(OperatorService, Vec<Change>), OperatorError> {
    actor.require(Permission::Change)?;
    let name = name
        .map(|n| supply::check_name("name", n))
        .transpose()
        .map_err(invalid)?;
    let price = price.map(parse_price).transpose()?;
    let current = store.operator_service(number).await?;
    let Some(was) = current.variants.iter().find(|v| v.id == variant) else {
        return Err(souk_store::StoreError::NotFound("Subproduct").into());
    };
    let edit = VariantEdit {
        name: name.filter(|n| *n != was.name),
        // The same price pins an imported variant's price: a change too.
        price: price
            .filter(|p| p.micros() != was.price || (current.imported() && !was.price_pinned)),
    };
    if edit.name.is_none() && edit.price.is_none() {
        return Err(OperatorError::Invalid("Nothing was changed".into()));
    }
    let view = |s: &OperatorService| {
        s.variants.iter().find(|v| v.id == variant).map(|v| {
            json!({
                "variant": v.id,
                "name": v.name,
                "price": price_text(v.price),
                "active": v.active,
            })
        })
    };
    let subject = service_subject(number);
    Ok(store
        .edit_variant_audited(number, variant, &edit, now, |before, after| {
            actor.audit_entry("service.variant", &subject, view(before), view(after))
        })
        .await?)
}
