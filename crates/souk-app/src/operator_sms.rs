//! The operator's SMS changes, from the console, the operator API and `souk admin sms`:
//! prices, countries and projects, gateways (a webhook secret is never in a row, only
//! "set" or "replaced"), pool numbers, sms-activate providers (their key only as "set"),
//! the activation lifetime, and an SMS delivered by hand. Each change is an audit row of
//! its actor with what it was before (read in the change's transaction) and after,
//! written in that transaction; a refusal changes nothing.

use serde_json::{json, Value};
use souk_core::sms::{lifetime_allowed, normalize_phone, LIFETIME_SETTING};
use souk_core::{Lang, Money, Text};
use souk_store::{
    InboundOutcome, InboundSms, NewAuditEntry, NewSmsCountry, NewSmsNumber, NewSmsProject,
    SmsCountry, SmsGateway, SmsNumber, SmsProject, SmsProvider, Store, StoreError, StoredSms,
};

use crate::operators::{Acting, OperatorError, Permission};
use crate::sms_admin::{self, CreatedGateway, InjectError, InjectSms, ProjectChange};

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
) -> Result<(), StoreError> {
    let subject = format!("sms:{}/{country}", project.code);
    store
        .set_sms_price_audited(&project.id, country, price, now, |before| {
            Some(actor.audit_entry(
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
    price_audited(store, actor, &project, &country, Some(price), now).await?;
    Ok(project)
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
            Some(actor.audit_entry(
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
            Some(actor.audit_entry(
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
                Some(actor.audit_entry(
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

/// What an audit row keeps of a country or a project: its names and whether it is on.
fn named_facts(name: &Text, active: bool) -> Value {
    json!({ "name": name.en(), "ru": ru(name), "active": active })
}

/// A change to a country's or a project's name (English, and translations by language)
/// and whether it is on; what it does not give stays as it is, as the store keeps it.
struct NamedChange {
    en: Option<String>,
    translations: Vec<(Lang, String)>,
    active: Option<bool>,
}

impl NamedChange {
    /// A whole name (every language it has) and on or off: a form, or a country put.
    fn whole(name: &Text, active: bool) -> Self {
        NamedChange {
            en: Some(name.en().trim().to_owned()),
            translations: name
                .translations()
                .iter()
                .map(|(l, v)| (*l, v.trim().to_owned()))
                .collect(),
            active: Some(active),
        }
    }

    /// The operator API's and the command line's project change, its languages checked.
    fn of(change: ProjectChange) -> Result<Self, OperatorError> {
        let translations = change
            .translations
            .into_iter()
            .flatten()
            .map(|(code, value)| match Lang::parse(&code) {
                Some(lang) => Ok((lang, value.trim().to_owned())),
                None => Err(OperatorError::Invalid(format!(
                    "Unsupported language {code:?}"
                ))),
            })
            .collect::<Result<_, _>>()?;
        Ok(NamedChange {
            en: change.name.map(|n| n.trim().to_owned()),
            translations,
            active: change.active,
        })
    }

    /// The facts of a record named `name` (on or not) once changed.
    fn applied(&self, name: &Text, active: bool) -> Value {
        let mut after = name.clone();
        if let Some(en) = &self.en {
            after.set(Lang::En, en.as_str());
        }
        for (lang, value) in &self.translations {
            after.set(*lang, value.as_str());
        }
        named_facts(&after, self.active.unwrap_or(active))
    }

    /// The console refuses a form that changes nothing (a pre-check: the row's before
    /// is read again in the change's transaction).
    fn refuse_unchanged(&self, name: &Text, active: bool) -> Result<(), OperatorError> {
        if self.applied(name, active) == named_facts(name, active) {
            return Err(unchanged());
        }
        Ok(())
    }

    /// This change's audit row, of a record that was `before` (`None`: a new one).
    fn row(
        &self,
        actor: &Acting,
        action: &str,
        subject: &str,
        before: Option<(&Text, bool)>,
    ) -> NewAuditEntry {
        let after = match before {
            Some((name, active)) => self.applied(name, active),
            None => self.applied(&Text::new(""), true),
        };
        actor.audit_entry(
            action,
            subject,
            before.map(|(name, active)| named_facts(name, active)),
            Some(after),
        )
    }
}

/// Creates or updates a country with its row; answers it as stored.
async fn write_country(
    store: &Store,
    actor: &Acting,
    country: &NewSmsCountry,
    now: i64,
) -> Result<SmsCountry, StoreError> {
    let change = NamedChange::whole(&country.name, country.active);
    let code = country.code.trim().to_ascii_lowercase();
    let subject = format!("sms-country:{code}");
    store
        .upsert_sms_country_audited(country, now, |before| {
            Some(change.row(
                actor,
                "sms.country",
                &subject,
                before.map(|c| (&c.name, c.active)),
            ))
        })
        .await?;
    sms_admin::country(store, &code).await
}

/// Changes a project (by id or code) with its row; answers it as stored.
async fn write_project(
    store: &Store,
    actor: &Acting,
    reference: &str,
    change: &NamedChange,
    now: i64,
) -> Result<SmsProject, StoreError> {
    let id = store
        .update_sms_project_audited(
            reference,
            change.en.as_deref(),
            &change.translations,
            change.active,
            now,
            |before| {
                Some(change.row(
                    actor,
                    "sms.project",
                    &format!("sms-project:{}", before.code),
                    Some((&before.name, before.active)),
                ))
            },
        )
        .await?;
    sms_admin::project(store, &id).await
}

/// A new project with its row; answers it as stored.
async fn write_new_project(
    store: &Store,
    actor: &Acting,
    project: &NewSmsProject,
    now: i64,
) -> Result<SmsProject, StoreError> {
    let code = project.code.trim().to_ascii_lowercase();
    let id = store
        .create_sms_project_audited(project, now, |_| {
            Some(actor.audit_entry(
                "sms.project_create",
                &format!("sms-project:{code}"),
                None,
                Some(json!({
                    "code": code,
                    "name": project.name.en().trim(),
                    "ru": ru(&project.name),
                    "active": true,
                })),
            ))
        })
        .await?;
    sms_admin::project(store, &id).await
}

/// A new gateway with its row (the secret only as "set"); answers its id.
async fn write_new_gateway(
    store: &Store,
    actor: &Acting,
    gateway_name: &str,
    secret: &str,
    now: i64,
) -> Result<String, StoreError> {
    store
        .create_sms_gateway_audited(gateway_name, secret, now, |id| {
            Some(actor.audit_entry(
                "sms.gateway_create",
                &format!("sms-gateway:{id}"),
                None,
                Some(json!({ "name": gateway_name.trim(), "active": true, "secret": "set" })),
            ))
        })
        .await
}

/// Renames a gateway, turns it on or off or replaces its secret (each when given), with
/// its row (the secret only as "set" or "replaced"); answers it as stored.
async fn write_gateway(
    store: &Store,
    actor: &Acting,
    id: &str,
    gateway_name: Option<&str>,
    active: Option<bool>,
    secret: Option<&str>,
    now: i64,
) -> Result<SmsGateway, StoreError> {
    store
        .update_sms_gateway_audited(id, gateway_name, active, secret, now, |before| {
            Some(actor.audit_entry(
                "sms.gateway",
                &format!("sms-gateway:{id}"),
                Some(json!({ "name": before.name, "active": before.active, "secret": "set" })),
                Some(json!({
                    "name": gateway_name.map_or(before.name.as_str(), str::trim),
                    "active": active.unwrap_or(before.active),
                    "secret": if secret.is_some() { "replaced" } else { "set" },
                })),
            ))
        })
        .await?;
    sms_admin::gateway(store, id).await
}

/// A new pool number with its row; answers it as stored.
async fn write_new_number(
    store: &Store,
    actor: &Acting,
    number: &NewSmsNumber,
    now: i64,
) -> Result<SmsNumber, StoreError> {
    let phone = normalize_phone(&number.phone).unwrap_or_else(|| number.phone.trim().to_owned());
    let id = store
        .add_sms_number_audited(number, now, |_| {
            Some(actor.audit_entry(
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
            ))
        })
        .await?;
    sms_admin::number(store, &id).await
}

/// Renames a country (English and Russian) or turns it on or off: an update of only
/// those fields, so its sms-activate number, which the operator API and `souk admin
/// sms` set, stays as it is at the write (a whole write of the country read here lost a
/// change made in between).
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
    let current = sms_admin::country(store, code)
        .await
        .map_err(|e| refused(e, "No such country"))?;
    let change = NamedChange::whole(&name(en, ru_name)?, active);
    change.refuse_unchanged(&current.name, current.active)?;
    let subject = format!("sms-country:{}", current.code);
    store
        .update_sms_country_audited(
            &current.code,
            change.en.as_deref(),
            &change.translations,
            change.active,
            now,
            |before| {
                Some(change.row(
                    actor,
                    "sms.country",
                    &subject,
                    Some((&before.name, before.active)),
                ))
            },
        )
        .await
        .map_err(|e| refused(e, "No such country"))?;
    sms_admin::country(store, &current.code)
        .await
        .map_err(|e| refused(e, "No such country"))
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
    let project = NewSmsProject {
        code: code.trim().to_ascii_lowercase(),
        name: name(en, ru_name)?,
    };
    write_new_project(store, actor, &project, now)
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
    let change = NamedChange::whole(&name(en, ru_name)?, active);
    change.refuse_unchanged(&current.name, current.active)?;
    write_project(store, actor, &current.id, &change, now)
        .await
        .map_err(|e| refused(e, "No such SMS project"))
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
    write_new_gateway(store, actor, gateway_name, &secret, now)
        .await
        .map_err(|e| refused(e, "No such gateway"))
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
    write_gateway(
        store,
        actor,
        id,
        Some(gateway_name),
        Some(active),
        replace.as_deref(),
        now,
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
    let number = NewSmsNumber {
        phone: normalized,
        country: country.trim().to_ascii_lowercase(),
        gateway_id: Some(gateway.trim())
            .filter(|g| !g.is_empty())
            .map(str::to_owned),
        projects: projects
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|p| p.trim().to_ascii_lowercase())
            .filter(|p| !p.is_empty())
            .collect(),
    };
    match write_new_number(store, actor, &number, now).await {
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
    // The console only turns numbers on and off: its row says only that.
    let id = store
        .update_sms_number_audited(&current.id, Some(active), None, now, |before| {
            Some(actor.audit_entry(
                "sms.number",
                &format!("sms-number:{}", before.phone),
                Some(json!({ "active": before.active })),
                Some(json!({ "active": active })),
            ))
        })
        .await
        .map_err(|e| refused(e, "No such number"))?;
    Ok(sms_admin::number(store, &id).await?)
}

// The operator API's and the command line's changes: the same audited writes as the
// console's, under the actor given (`Acting::operator_api()`, `Acting::command_line()`),
// with their own inputs and the store's words for a refusal.

/// `PUT /sms/countries/{code}`, `souk admin sms country set`: creates or updates a
/// country, audited.
pub async fn api_save_country(
    store: &Store,
    actor: &Acting,
    country: NewSmsCountry,
    now: i64,
) -> Result<SmsCountry, OperatorError> {
    actor.require(Permission::Change)?;
    Ok(write_country(store, actor, &country, now).await?)
}

/// `POST /sms/projects`, `souk admin sms project add`: a new project, audited.
pub async fn api_create_project(
    store: &Store,
    actor: &Acting,
    project: NewSmsProject,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    Ok(write_new_project(store, actor, &project, now).await?)
}

/// `PATCH /sms/projects/{project}`, `souk admin sms project set`: renames, translates or
/// turns a project on or off, audited.
pub async fn api_update_project(
    store: &Store,
    actor: &Acting,
    reference: &str,
    change: ProjectChange,
    now: i64,
) -> Result<SmsProject, OperatorError> {
    actor.require(Permission::Change)?;
    let change = NamedChange::of(change)?;
    Ok(write_project(store, actor, reference, &change, now).await?)
}

/// `POST /sms/gateways`, `souk admin sms gateway add`: a new gateway with the secret
/// given (or one made here, answered once), audited with the secret only as "set".
pub async fn api_create_gateway(
    store: &Store,
    actor: &Acting,
    gateway_name: &str,
    secret: Option<String>,
    now: i64,
) -> Result<CreatedGateway, OperatorError> {
    actor.require(Permission::Change)?;
    let secret = secret.unwrap_or_else(souk_store::crypto::new_api_key);
    let id = write_new_gateway(store, actor, gateway_name, &secret, now).await?;
    Ok(CreatedGateway { id, secret })
}

/// `PATCH /sms/gateways/{id}`, `souk admin sms gateway set`: turns a gateway on or off,
/// audited.
pub async fn api_set_gateway_active(
    store: &Store,
    actor: &Acting,
    id: &str,
    active: bool,
    now: i64,
) -> Result<SmsGateway, OperatorError> {
    actor.require(Permission::Change)?;
    Ok(write_gateway(store, actor, id, None, Some(active), None, now).await?)
}

/// `POST /sms/numbers`, `souk admin sms number add`: a pool number, audited.
pub async fn api_add_number(
    store: &Store,
    actor: &Acting,
    number: NewSmsNumber,
    now: i64,
) -> Result<SmsNumber, OperatorError> {
    actor.require(Permission::Change)?;
    Ok(write_new_number(store, actor, &number, now).await?)
}

/// `PATCH /sms/numbers/{number}`, `souk admin sms number set`: turns a number on or off
/// or replaces its projects, audited.
pub async fn api_update_number(
    store: &Store,
    actor: &Acting,
    reference: &str,
    active: Option<bool>,
    projects: Option<&[String]>,
    now: i64,
) -> Result<SmsNumber, OperatorError> {
    actor.require(Permission::Change)?;
    let id = store
        .update_sms_number_audited(reference, active, projects, now, |before| {
            Some(actor.audit_entry(
                "sms.number",
                &format!("sms-number:{}", before.phone),
                Some(json!({ "active": before.active, "projects": before.projects })),
                Some(json!({
                    "active": active.unwrap_or(before.active),
                    "projects": projects.map_or_else(|| before.projects.clone(), <[String]>::to_vec),
                })),
            ))
        })
        .await?;
    Ok(sms_admin::number(store, &id).await?)
}

/// `POST /sms/inject`, `souk admin sms inject`: an SMS delivered as if a gateway had
/// pushed it (demos, tests), audited with the order whose code it was, if any (never
/// its text or code); answers the stored SMS and the phone as normalized.
pub async fn inject(
    store: &Store,
    actor: &Acting,
    sms: InjectSms,
    now: i64,
) -> Result<(StoredSms, String), InjectError> {
    actor.require(Permission::Change)?;
    let phone = normalize_phone(&sms.phone).ok_or(InjectError::InvalidPhone(sms.phone))?;
    if sms.text.trim().is_empty() {
        return Err(InjectError::EmptyText);
    }
    let inbound = InboundSms {
        gateway_id: None,
        phone: &phone,
        sender: &sms.sender,
        text: &sms.text,
        received_at: now,
        signature: None,
    };
    let outcome = store
        .receive_sms_audited(&inbound, now, |stored| {
            Some(actor.audit_entry(
                "sms.inject",
                &format!("sms-number:{phone}"),
                None,
                Some(json!({
                    "message": stored.message_id,
                    "order": stored.code.as_ref().and(stored.order_id),
                })),
            ))
        })
        .await?;
    match outcome {
        InboundOutcome::Stored(stored) => Ok((stored, phone)),
        InboundOutcome::Replayed => Err(InjectError::Replayed),
    }
}
