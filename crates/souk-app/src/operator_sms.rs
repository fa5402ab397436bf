//! The operator's SMS verification from the console: admins and owners set prices, edit
//! countries and projects, set up gateways (a webhook secret is typed and replaced,
//! never shown), add pool numbers and turn them on or off, through the same
//! `sms_admin` use cases the operator API calls. Each change is an audit row with what
//! it was before and after, written in the transaction of the change; a refusal
//! changes nothing.

use serde_json::{json, Value};
use souk_core::sms::{lifetime_allowed, normalize_phone, LIFETIME_SETTING};
use souk_core::{Lang, Money, Text};
use souk_store::{
    NewSmsCountry, NewSmsNumber, NewSmsProject, SmsCountry, SmsGateway, SmsNumber, SmsProject,
    SmsProvider, Store, StoreError,
};

use crate::operators::{entry, Acting, OperatorError, Permission};
use crate::sms_admin::{self, ProjectChange, SmsAdminError};

fn ru(t: &Text) -> &str {
    t.translations()
        .iter()
        .find(|(l, _)| *l == Lang::Ru)
        .map_or("", |(_, v)| v.as_ref())
}

/// An English name and its Russian text; the English one required.
fn name(en: &str, ru: &str) -> Result<Text, OperatorError> {
    let en = en.trim();
    if en.is_empty() {
        return Err(OperatorError::Invalid("A name is required".into()));
    }
    let mut t = Text::new(en);
    t.set(Lang::Ru, ru.trim());
    Ok(t)
}

fn unchanged() -> OperatorError {
    OperatorError::Invalid("Nothing was changed".into())
}

/// The store's words for what the form got wrong, as a refusal.
fn refused(e: StoreError, not_found: &str) -> OperatorError {
    match e {
        StoreError::NotFound(_) => OperatorError::Invalid(not_found.into()),
        StoreError::Invalid(t) | StoreError::Conflict(t) => OperatorError::Invalid(t),
        e => e.into(),
    }
}

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
        .map_err(|e| refused(e, "No such SMS project"))?;
    price_audited(store, actor, &project, &country, Some(price), now)
        .await
        .map_err(|e| refused(e, "No such country"))?;
    Ok(price)
}

/// Sets (or, with `None`, stops selling) the price of `project` in `country` with its
/// audit row, the price before read in the change's transaction.
async fn price_audited(
    store: &Store,
    actor: &Acting,
    project: &SmsProject,
    country: &str,
    price: Option<Money>,
    now: i64,
) -> Result<SmsProject, StoreError> {
    let subject = format!("sms:{}/{country}", project.code);
    sms_admin::set_price_audited(store, &project.id, country, price, now, |before| {
        Some(entry(
            actor,
            if price.is_some() {
                "sms.price"
            } else {
                "sms.price_delete"
            },
            &subject,
            Some(json!({ "price": before.map(|m| m.display4()) })),
            Some(json!({ "price": price.map(|m| m.display4()) })),
        ))
    })
    .await
}

/// The operator API's `PUT /sms/prices`: sells `project` (id or code) in `country` at
/// `price`, audited; answers the project.
pub async fn api_set_price(
    store: &Store,
    actor: &Acting,
    project: &str,
    country: &str,
    price: Money,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    let project = sms_admin::project(store, project).await?;
    let country = country.trim().to_ascii_lowercase();
    Ok(price_audited(store, actor, &project, &country, Some(price), now).await?)
}

/// Stops selling `project` (id or code) in `country`, audited with the price it had.
pub async fn remove_price(
    store: &Store,
    actor: &Acting,
    project: &str,
    country: &str,
    now: i64,
) -> Result<(), OperatorError> {
    actor.require(Permission::Change)?;
    let project = sms_admin::project(store, project).await?;
    let country = country.trim().to_ascii_lowercase();
    price_audited(store, actor, &project, &country, None, now).await?;
    Ok(())
}

/// Registers an sms-activate provider, audited (its key only as "set"); answers its id.
pub async fn create_provider(
    store: &Store,
    actor: &Acting,
    provider_name: &str,
    url: &str,
    key: &str,
    now: i64,
) -> Result<String, OperatorError> {
    actor.require(Permission::Change)?;
    let (provider_name, url) = (provider_name.trim(), url.trim());
    Ok(store
        .create_sms_provider_audited(provider_name, url, key, now, |id| {
            Some(entry(
                actor,
                "sms.provider_create",
                &format!("sms-provider:{id}"),
                None,
                Some(json!({ "name": provider_name, "url": url, "enabled": true, "key": "set" })),
            ))
        })
        .await?)
}

/// Enables or disables an sms-activate provider, audited with what it was before
/// (read in the change's transaction).
pub async fn set_provider_enabled(
    store: &Store,
    actor: &Acting,
    id: &str,
    enabled: bool,
    now: i64,
) -> Result<SmsProvider, OperatorError> {
    actor.require(Permission::Change)?;
    store
        .set_sms_provider_enabled_audited(id, enabled, now, |provider_name, was| {
            Some(entry(
                actor,
                "sms.provider",
                &format!("sms-provider:{id}"),
                Some(json!({ "name": provider_name, "enabled": was })),
                Some(json!({ "name": provider_name, "enabled": enabled })),
            ))
        })
        .await?;
    Ok(store
        .sms_providers(false)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(StoreError::NotFound("Provider"))?)
}

/// How long an activation waits for its SMS, audited with the minutes before (read in
/// the change's transaction).
pub async fn set_lifetime(
    store: &Store,
    actor: &Acting,
    minutes: i64,
    now: i64,
) -> Result<(), OperatorError> {
    actor.require(Permission::Change)?;
    if !lifetime_allowed(minutes) {
        return Err(OperatorError::Invalid(
            "lifetime_minutes must be between 1 and 1440".into(),
        ));
    }
    store
        .set_settings_audited(
            &[(LIFETIME_SETTING.to_owned(), minutes.to_string())],
            now,
            |before| {
                let old = before
                    .first()
                    .and_then(|(_, v)| v.as_deref())
                    .and_then(|v| v.parse::<i64>().ok());
                Some(entry(
                    actor,
                    "sms.settings",
                    "sms-settings",
                    Some(json!({ "lifetime_minutes": old })),
                    Some(json!({ "lifetime_minutes": minutes })),
                ))
            },
        )
        .await?;
    Ok(())
}

fn country_facts(c: &SmsCountry) -> Value {
    json!({ "name": c.name.en(), "ru": ru(&c.name), "active": c.active })
}

/// Renames a country (English and Russian) or turns it on or off.
pub async fn save_country(
    store: &Store,
    actor: &Acting,
    code: &str,
    en: &str,
    ru_name: &str,
    active: bool,
    now: i64,
) -> Result<SmsCountry, OperatorError> {
    actor.require(Permission::Change)?;
    let code = code.trim().to_ascii_lowercase();
    let current = store
        .sms_countries(false)
        .await?
        .into_iter()
        .find(|c| c.code == code)
        .ok_or_else(|| OperatorError::Invalid("No such country".into()))?;
    let mut text = name(en, ru_name)?;
    for (l, v) in current.name.translations() {
        if *l != Lang::Ru {
            text.set(*l, v.clone());
        }
    }
    let before = country_facts(&current);
    let after = json!({ "name": text.en(), "ru": ru(&text), "active": active });
    if before == after {
        return Err(unchanged());
    }
    let row = entry(
        actor,
        "sms.country",
        &format!("sms-country:{code}"),
        Some(before),
        Some(after),
    );
    let country = NewSmsCountry {
        code,
        name: text,
        activate_id: current.activate_id,
        active,
    };
    sms_admin::save_country_audited(store, country, Some((&row, now)))
        .await
        .map_err(|e| refused(e, "No such country"))
}

fn project_facts(p: &SmsProject) -> Value {
    json!({ "name": p.name.en(), "ru": ru(&p.name), "active": p.active })
}

/// A new project: its code (`tg`), English and Russian names.
pub async fn create_project(
    store: &Store,
    actor: &Acting,
    code: &str,
    en: &str,
    ru_name: &str,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    let text = name(en, ru_name)?;
    let code = code.trim().to_ascii_lowercase();
    let row = entry(
        actor,
        "sms.project_create",
        &format!("sms-project:{code}"),
        None,
        Some(json!({ "code": code, "name": text.en(), "ru": ru(&text), "active": true })),
    );
    sms_admin::create_project_audited(
        store,
        NewSmsProject { code, name: text },
        now,
        Some((&row, now)),
    )
    .await
    .map_err(|e| refused(e, "No such SMS project"))
}

/// Renames a project (English and Russian) or turns it on or off.
pub async fn update_project(
    store: &Store,
    actor: &Acting,
    reference: &str,
    en: &str,
    ru_name: &str,
    active: bool,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    let current = sms_admin::project(store, reference)
        .await
        .map_err(|e| refused(e, "No such SMS project"))?;
    let text = name(en, ru_name)?;
    let before = project_facts(&current);
    let after = json!({ "name": text.en(), "ru": ru(&text), "active": active });
    if before == after {
        return Err(unchanged());
    }
    let row = entry(
        actor,
        "sms.project",
        &format!("sms-project:{}", current.code),
        Some(before),
        Some(after),
    );
    let change = ProjectChange {
        name: Some(text.en().to_owned()),
        translations: Some(vec![("ru".to_owned(), ru(&text).to_owned())]),
        active: Some(active),
    };
    match sms_admin::update_project_audited(store, &current.id, change, Some((&row, now))).await {
        Ok(p) => Ok(p),
        Err(SmsAdminError::Store(e)) => Err(refused(e, "No such SMS project")),
        Err(e) => Err(OperatorError::Invalid(e.to_string())),
    }
}

/// A webhook secret typed in a form: at least 16 characters, no spaces.
fn secret(text: &str) -> Result<String, OperatorError> {
    let s = text.trim();
    if s.chars().count() < 16 || s.len() > 256 || s.chars().any(char::is_whitespace) {
        return Err(OperatorError::Invalid(
            "A gateway secret needs at least 16 characters".into(),
        ));
    }
    Ok(s.to_owned())
}

/// A new gateway with the webhook secret the operator typed (kept sealed, never shown
/// again); answers its id.
pub async fn create_gateway(
    store: &Store,
    actor: &Acting,
    gateway_name: &str,
    secret_text: &str,
    now: i64,
) -> Result<String, OperatorError> {
    actor.require(Permission::Change)?;
    let gateway_name = gateway_name.trim();
    if gateway_name.is_empty() {
        return Err(OperatorError::Invalid("A name is required".into()));
    }
    let secret = secret(secret_text)?;
    let id = souk_core::id::new_entity_id();
    let row = entry(
        actor,
        "sms.gateway_create",
        &format!("sms-gateway:{id}"),
        None,
        Some(json!({ "name": gateway_name, "active": true, "secret": "set" })),
    );
    sms_admin::create_gateway_audited(
        store,
        &id,
        gateway_name,
        Some(secret),
        now,
        Some((&row, now)),
    )
    .await
    .map_err(|e| refused(e, "No such gateway"))?;
    Ok(id)
}

/// Renames a gateway, turns it on or off, or replaces its secret (a blank one keeps
/// the stored secret).
pub async fn update_gateway(
    store: &Store,
    actor: &Acting,
    id: &str,
    gateway_name: &str,
    active: bool,
    secret_text: &str,
    now: i64,
) -> Result<SmsGateway, OperatorError> {
    actor.require(Permission::Change)?;
    let current = sms_admin::gateway(store, id)
        .await
        .map_err(|e| refused(e, "No such gateway"))?;
    let gateway_name = gateway_name.trim();
    if gateway_name.is_empty() {
        return Err(OperatorError::Invalid("A name is required".into()));
    }
    let replace = if secret_text.trim().is_empty() {
        None
    } else {
        Some(secret(secret_text)?)
    };
    if gateway_name == current.name && active == current.active && replace.is_none() {
        return Err(unchanged());
    }
    let row = entry(
        actor,
        "sms.gateway",
        &format!("sms-gateway:{id}"),
        Some(json!({ "name": current.name, "active": current.active, "secret": "set" })),
        Some(json!({
            "name": gateway_name,
            "active": active,
            "secret": if replace.is_some() { "replaced" } else { "set" },
        })),
    );
    sms_admin::update_gateway_audited(
        store,
        id,
        Some(gateway_name),
        Some(active),
        replace.as_deref(),
        Some((&row, now)),
    )
    .await
    .map_err(|e| refused(e, "No such gateway"))
}

/// Adds a number to the pool: its phone, country, gateway (blank: none) and the
/// projects it serves (codes, separated by commas or spaces).
pub async fn add_number(
    store: &Store,
    actor: &Acting,
    phone: &str,
    country: &str,
    gateway: &str,
    projects: &str,
    now: i64,
) -> Result<SmsNumber, OperatorError> {
    actor.require(Permission::Change)?;
    let normalized = normalize_phone(phone)
        .ok_or_else(|| OperatorError::Invalid("Write the phone like +12025550101".into()))?;
    let country = country.trim().to_ascii_lowercase();
    let gateway = Some(gateway.trim()).filter(|g| !g.is_empty());
    let projects: Vec<String> = projects
        .split(|c: char| c == ',' || c.is_whitespace())
        .map(|p| p.trim().to_ascii_lowercase())
        .filter(|p| !p.is_empty())
        .collect();
    let id = souk_core::id::new_entity_id();
    let row = entry(
        actor,
        "sms.number_add",
        &format!("sms-number:{normalized}"),
        None,
        Some(json!({
            "phone": normalized,
            "country": country,
            "gateway": gateway,
            "projects": projects,
            "active": true,
        })),
    );
    let number = NewSmsNumber {
        phone: normalized,
        country,
        gateway_id: gateway.map(str::to_owned),
        projects,
    };
    match sms_admin::add_number_audited(store, &id, number, now, Some((&row, now))).await {
        Ok(n) => Ok(n),
        Err(StoreError::NotFound("Gateway")) => {
            Err(OperatorError::Invalid("No such gateway".into()))
        }
        Err(e) => Err(refused(e, "No such country")),
    }
}

/// Turns a pool number on or off (a number turned off finishes its rental but gets no
/// new one).
pub async fn set_number_active(
    store: &Store,
    actor: &Acting,
    id: &str,
    active: bool,
    now: i64,
) -> Result<SmsNumber, OperatorError> {
    actor.require(Permission::Change)?;
    let current = sms_admin::number(store, id)
        .await
        .map_err(|e| refused(e, "No such number"))?;
    if current.active == active {
        return Err(unchanged());
    }
    let row = entry(
        actor,
        "sms.number",
        &format!("sms-number:{}", current.phone),
        Some(json!({ "active": current.active })),
        Some(json!({ "active": active })),
    );
    sms_admin::update_number_audited(store, &current.id, Some(active), None, Some((&row, now)))
        .await
        .map_err(|e| refused(e, "No such number"))
}

// The operator API's changes: the same audited store forms as the console's, under the
// actor given (`Acting::operator_api()`), with the API's own inputs.

/// `PUT /sms/countries/{code}`: creates or updates a country, audited.
pub async fn api_save_country(
    store: &Store,
    actor: &Acting,
    country: NewSmsCountry,
    now: i64,
) -> Result<SmsCountry, OperatorError> {
    actor.require(Permission::Change)?;
    let code = country.code.trim().to_ascii_lowercase();
    let before = store
        .sms_countries(false)
        .await?
        .into_iter()
        .find(|c| c.code == code)
        .map(|c| country_facts(&c));
    let after =
        json!({ "name": country.name.en(), "ru": ru(&country.name), "active": country.active });
    let row = entry(
        actor,
        "sms.country",
        &format!("sms-country:{code}"),
        before,
        Some(after),
    );
    Ok(sms_admin::save_country_audited(store, country, Some((&row, now))).await?)
}

/// `POST /sms/projects`: a new project, audited.
pub async fn api_create_project(
    store: &Store,
    actor: &Acting,
    project: NewSmsProject,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    let code = project.code.trim().to_ascii_lowercase();
    let row = entry(
        actor,
        "sms.project_create",
        &format!("sms-project:{code}"),
        None,
        Some(json!({
            "code": code,
            "name": project.name.en(),
            "ru": ru(&project.name),
            "active": true,
        })),
    );
    Ok(sms_admin::create_project_audited(store, project, now, Some((&row, now))).await?)
}

/// `PATCH /sms/projects/{project}`: renames, translates or turns a project on or off,
/// audited.
pub async fn api_update_project(
    store: &Store,
    actor: &Acting,
    reference: &str,
    change: ProjectChange,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    let current = sms_admin::project(store, reference).await?;
    let ru_after = change
        .translations
        .iter()
        .flatten()
        .find(|(l, _)| l == "ru")
        .map_or_else(
            || ru(&current.name).to_owned(),
            |(_, v)| v.trim().to_owned(),
        );
    let after = json!({
        "name": change.name.as_deref().map_or(current.name.en(), str::trim),
        "ru": ru_after,
        "active": change.active.unwrap_or(current.active),
    });
    let row = entry(
        actor,
        "sms.project",
        &format!("sms-project:{}", current.code),
        Some(project_facts(&current)),
        Some(after),
    );
    match sms_admin::update_project_audited(store, &current.id, change, Some((&row, now))).await {
        Ok(p) => Ok(p),
        Err(SmsAdminError::Store(e)) => Err(e.into()),
        Err(SmsAdminError::UnsupportedLanguage(code)) => Err(OperatorError::Invalid(format!(
            "Unsupported language {code:?}"
        ))),
        Err(e) => Err(OperatorError::Invalid(e.to_string())),
    }
}

/// `POST /sms/gateways`: a new gateway with the secret given (or one made here, answered
/// once), audited with the secret only as "set".
pub async fn api_create_gateway(
    store: &Store,
    actor: &Acting,
    gateway_name: &str,
    secret: Option<String>,
    now: i64,
) -> Result<sms_admin::CreatedGateway, OperatorError> {
    actor.require(Permission::Change)?;
    let id = souk_core::id::new_entity_id();
    let row = entry(
        actor,
        "sms.gateway_create",
        &format!("sms-gateway:{id}"),
        None,
        Some(json!({ "name": gateway_name.trim(), "active": true, "secret": "set" })),
    );
    Ok(
        sms_admin::create_gateway_audited(store, &id, gateway_name, secret, now, Some((&row, now)))
            .await?,
    )
}

/// `PATCH /sms/gateways/{id}`: turns a gateway on or off, audited.
pub async fn api_set_gateway_active(
    store: &Store,
    actor: &Acting,
    id: &str,
    active: bool,
    now: i64,
) -> Result<SmsGateway, OperatorError> {
    actor.require(Permission::Change)?;
    let current = sms_admin::gateway(store, id).await?;
    let row = entry(
        actor,
        "sms.gateway",
        &format!("sms-gateway:{id}"),
        Some(json!({ "name": current.name, "active": current.active, "secret": "set" })),
        Some(json!({ "name": current.name, "active": active, "secret": "set" })),
    );
    Ok(
        sms_admin::update_gateway_audited(store, id, None, Some(active), None, Some((&row, now)))
            .await?,
    )
}

/// `POST /sms/numbers`: a pool number, audited.
pub async fn api_add_number(
    store: &Store,
    actor: &Acting,
    number: NewSmsNumber,
    now: i64,
) -> Result<SmsNumber, OperatorError> {
    actor.require(Permission::Change)?;
    let phone = normalize_phone(&number.phone).unwrap_or_else(|| number.phone.trim().to_owned());
    let id = souk_core::id::new_entity_id();
    let row = entry(
        actor,
        "sms.number_add",
        &format!("sms-number:{phone}"),
        None,
        Some(json!({
            "phone": phone,
            "country": number.country.trim().to_ascii_lowercase(),
            "gateway": number.gateway_id,
            "projects": number.projects,
            "active": true,
        })),
    );
    Ok(sms_admin::add_number_audited(store, &id, number, now, Some((&row, now))).await?)
}

/// `PATCH /sms/numbers/{number}`: turns a number on or off or replaces its projects,
/// audited.
pub async fn api_update_number(
    store: &Store,
    actor: &Acting,
    reference: &str,
    active: Option<bool>,
    projects: Option<&[String]>,
    now: i64,
) -> Result<SmsNumber, OperatorError> {
    actor.require(Permission::Change)?;
    let current = sms_admin::number(store, reference).await?;
    let row = entry(
        actor,
        "sms.number",
        &format!("sms-number:{}", current.phone),
        Some(json!({ "active": current.active, "projects": current.projects })),
        Some(json!({
            "active": active.unwrap_or(current.active),
            "projects": projects.map_or_else(|| current.projects.clone(), <[String]>::to_vec),
        })),
    );
    Ok(
        sms_admin::update_number_audited(store, &current.id, active, projects, Some((&row, now)))
            .await?,
    )
}
