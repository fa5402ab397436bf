//! The operator's edits of the catalogue's structure from the console: a category's or
//! subcategory's name, description, position, whether it is shown, and its Russian name.
//! Admins and owners only; each edit is an audit row with the record before and after,
//! and answers the catalogue changes the caller's cache must follow.

use serde_json::{json, Value};
use souk_core::supply::{self, Translation};
use souk_core::Lang;
use souk_store::{CategoryPatch, CategoryRecord, Change, Level, Store};

use crate::catalogue;
use crate::operators::{audit, Acting, OperatorError, Permission};

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
    let before = catalogue::record(store, level, id).await?;
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
    let (after, changes) = catalogue::update(store, level, id, &patch).await?;
    let (action, subject) = match level {
        Level::Category => ("category.update", format!("category:{id}")),
        Level::Subcategory => ("subcategory.update", format!("subcategory:{id}")),
    };
    audit(
        store,
        &actor.id,
        &actor.email,
        action,
        &subject,
        Some(view(&before)),
        Some(view(&after)),
        now,
    )
    .await?;
    Ok((after, changes))
}
