//! The operator's SMS administration (the operator API's `/sms/...`, `souk admin sms ...`):
//! countries, projects and prices, gateways and pool numbers, sms-activate upstream
//! providers, the activation lifetime, and an SMS delivered by hand (`inject`). A change
//! answers with the record as stored, read back, so both front ends show what the store
//! kept (names trimmed, codes lowercased). Each front end keeps its own words for a
//! refusal.

use souk_core::sms::{lifetime_allowed, normalize_phone, LIFETIME_SETTING};
use souk_core::{Lang, Text};
use souk_store::{
    InboundOutcome, InboundSms, NewAuditEntry, NewSmsCountry, NewSmsNumber, NewSmsProject,
    SmsCountry, SmsGateway, SmsNumber, SmsProject, SmsProvider, Store, StoreError, StoredSms,
};

/// An operator's audit row and its time, written in the transaction of the change (the
/// console's changes); `None` for the operator API and the command line.
pub type Audit<'a> = Option<(&'a NewAuditEntry, i64)>;

#[derive(Debug, thiserror::Error)]
pub enum SmsAdminError {
    /// A translation names a language we do not speak.
    #[error("unsupported language {0:?}")]
    UnsupportedLanguage(String),
    /// The lifetime is outside [`souk_core::sms::lifetime_allowed`].
    #[error("the lifetime must be between 1 and 1440 minutes")]
    LifetimeOutOfRange,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates or updates a country; answers it as stored.
pub async fn save_country(store: &Store, country: NewSmsCountry) -> Result<SmsCountry, StoreError> {
    save_country_audited(store, country, None).await
}

/// `save_country` with an operator's audit row.
pub async fn save_country_audited(
    store: &Store,
    country: NewSmsCountry,
    audit: Audit<'_>,
) -> Result<SmsCountry, StoreError> {
    store.upsert_sms_country_audited(&country, audit).await?;
    let code = country.code.trim().to_ascii_lowercase();
    store
        .sms_countries(false)
        .await?
        .into_iter()
        .find(|c| c.code == code)
        .ok_or(StoreError::NotFound("Country"))
}

/// A project by its id or its code.
pub async fn project(store: &Store, reference: &str) -> Result<SmsProject, StoreError> {
    let reference = reference.trim().to_ascii_lowercase();
    store
        .sms_projects(false)
        .await?
        .into_iter()
        .find(|p| p.id == reference || p.code == reference)
        .ok_or(StoreError::NotFound("Project"))
}

pub async fn create_project(
    store: &Store,
    project: NewSmsProject,
    now: i64,
) -> Result<SmsProject, StoreError> {
    create_project_audited(store, project, now, None).await
}

/// `create_project` with an operator's audit row.
pub async fn create_project_audited(
    store: &Store,
    project: NewSmsProject,
    now: i64,
    audit: Audit<'_>,
) -> Result<SmsProject, StoreError> {
    let id = store
        .create_sms_project_audited(&project, now, audit)
        .await?;
    self::project(store, &id).await
}

/// A change to a project: a new English name and translations (by language code) are
/// merged into its name; languages not given keep their text.
#[derive(Clone, Debug, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub translations: Option<Vec<(String, String)>>,
    pub active: Option<bool>,
}

/// The project must exist before its translations are judged.
pub async fn update_project(
    store: &Store,
    reference: &str,
    change: ProjectChange,
) -> Result<SmsProject, SmsAdminError> {
    update_project_audited(store, reference, change, None).await
}

/// `update_project` with an operator's audit row.
pub async fn update_project_audited(
    store: &Store,
    reference: &str,
    change: ProjectChange,
    audit: Audit<'_>,
) -> Result<SmsProject, SmsAdminError> {
    let current = project(store, reference).await?;
    let name = match (&change.name, &change.translations) {
        (None, None) => None,
        (name, translations) => {
            let mut t = Text::new(name.as_deref().unwrap_or(current.name.en()));
            for (l, v) in current.name.translations() {
                t.set(*l, v.clone());
            }
            for (code, value) in translations.iter().flatten() {
                let lang = Lang::parse(code)
                    .ok_or_else(|| SmsAdminError::UnsupportedLanguage(code.clone()))?;
                t.set(lang, value.trim());
            }
            Some(t)
        }
    };
    let id = store
        .update_sms_project_audited(&current.id, name.as_ref(), change.active, audit)
        .await?;
    Ok(project(store, &id).await?)
}

/// Sells `project` in `country` at `price` (`None` stops selling it); answers the
/// project it was set for.
pub async fn set_price(
    store: &Store,
    project: &str,
    country: &str,
    price: souk_core::Money,
) -> Result<SmsProject, StoreError> {
    set_price_audited(store, project, country, Some(price), 0, |_| None).await
}

/// `set_price` (or, with `None`, stops selling) with the audit row `audit` makes of
/// the price before (read in the change's transaction).
pub async fn set_price_audited(
    store: &Store,
    project: &str,
    country: &str,
    price: Option<souk_core::Money>,
    now: i64,
    audit: impl FnOnce(Option<souk_core::Money>) -> Option<NewAuditEntry> + Send,
) -> Result<SmsProject, StoreError> {
    store
        .set_sms_price_audited(project, country, price, now, audit)
        .await?;
    self::project(store, project).await
}

pub async fn remove_price(store: &Store, project: &str, country: &str) -> Result<(), StoreError> {
    store.set_sms_price(project, country, None).await
}

#[derive(Clone, Debug)]
pub struct CreatedGateway {
    pub id: String,
    /// The webhook secret: given, or generated here. Shown once.
    pub secret: String,
}

pub async fn create_gateway(
    store: &Store,
    name: &str,
    secret: Option<String>,
    now: i64,
) -> Result<CreatedGateway, StoreError> {
    let id = souk_core::id::new_entity_id();
    create_gateway_audited(store, &id, name, secret, now, None).await
}

/// `create_gateway` under the id given, with an operator's audit row.
pub async fn create_gateway_audited(
    store: &Store,
    id: &str,
    name: &str,
    secret: Option<String>,
    now: i64,
    audit: Audit<'_>,
) -> Result<CreatedGateway, StoreError> {
    let secret = secret.unwrap_or_else(souk_store::crypto::new_api_key);
    store
        .create_sms_gateway_audited(id, name, &secret, now, audit)
        .await?;
    Ok(CreatedGateway {
        id: id.to_owned(),
        secret,
    })
}

/// A gateway by its id.
pub async fn gateway(store: &Store, id: &str) -> Result<SmsGateway, StoreError> {
    store
        .sms_gateways()
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(StoreError::NotFound("Gateway"))
}

/// Renames a gateway, turns it on or off, or replaces its secret (each when given),
/// with an operator's audit row; answers it as stored.
pub async fn update_gateway_audited(
    store: &Store,
    id: &str,
    name: Option<&str>,
    active: Option<bool>,
    secret: Option<&str>,
    audit: Audit<'_>,
) -> Result<SmsGateway, StoreError> {
    store
        .update_sms_gateway_audited(id, name, active, secret, audit)
        .await?;
    gateway(store, id).await
}

pub async fn set_gateway_active(
    store: &Store,
    id: &str,
    active: bool,
) -> Result<SmsGateway, StoreError> {
    store.set_sms_gateway_active(id, active).await?;
    store
        .sms_gateways()
        .await?
        .into_iter()
        .find(|g| g.id == id)
        .ok_or(StoreError::NotFound("Gateway"))
}

/// A pool number by its id or its phone.
pub async fn number(store: &Store, reference: &str) -> Result<SmsNumber, StoreError> {
    let phone = normalize_phone(reference).unwrap_or_default();
    store
        .sms_numbers()
        .await?
        .into_iter()
        .find(|n| n.id == reference.trim() || n.phone == phone)
        .ok_or(StoreError::NotFound("Number"))
}

pub async fn add_number(
    store: &Store,
    number: NewSmsNumber,
    now: i64,
) -> Result<SmsNumber, StoreError> {
    let id = store.add_sms_number(&number, now).await?;
    self::number(store, &id).await
}

/// `add_number` under the id given, with an operator's audit row.
pub async fn add_number_audited(
    store: &Store,
    id: &str,
    number: NewSmsNumber,
    now: i64,
    audit: Audit<'_>,
) -> Result<SmsNumber, StoreError> {
    let id = store
        .add_sms_number_audited(id, &number, now, audit)
        .await?;
    self::number(store, &id).await
}

/// (De)activates a number (by id or phone) or replaces its projects.
pub async fn update_number(
    store: &Store,
    reference: &str,
    active: Option<bool>,
    projects: Option<&[String]>,
) -> Result<SmsNumber, StoreError> {
    update_number_audited(store, reference, active, projects, None).await
}

/// `update_number` with an operator's audit row.
pub async fn update_number_audited(
    store: &Store,
    reference: &str,
    active: Option<bool>,
    projects: Option<&[String]>,
    audit: Audit<'_>,
) -> Result<SmsNumber, StoreError> {
    let id = store
        .update_sms_number_audited(reference, active, projects, audit)
        .await?;
    number(store, &id).await
}

/// Registers an sms-activate provider; answers its id.
pub async fn create_provider(
    store: &Store,
    name: &str,
    url: &str,
    key: &str,
    now: i64,
) -> Result<String, StoreError> {
    store.create_sms_provider(name, url, key, now).await
}

pub async fn set_provider_enabled(
    store: &Store,
    id: &str,
    enabled: bool,
) -> Result<SmsProvider, StoreError> {
    store.set_sms_provider_enabled(id, enabled).await?;
    store
        .sms_providers(false)
        .await?
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(StoreError::NotFound("Provider"))
}

/// How long an activation waits for its SMS before it is refunded.
pub async fn set_lifetime(store: &Store, minutes: i64, now: i64) -> Result<(), SmsAdminError> {
    if !lifetime_allowed(minutes) {
        return Err(SmsAdminError::LifetimeOutOfRange);
    }
    store
        .set_setting(LIFETIME_SETTING, &minutes.to_string(), now)
        .await?;
    Ok(())
}

/// An SMS delivered as if a gateway had pushed it (demos, tests).
#[derive(Clone, Debug)]
pub struct InjectSms {
    pub phone: String,
    pub text: String,
    pub sender: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InjectError {
    #[error("invalid phone number {0:?}")]
    InvalidPhone(String),
    #[error("the text must not be empty")]
    EmptyText,
    /// The same SMS was delivered before; nothing was stored.
    #[error("the SMS was already delivered")]
    Replayed,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Answers the stored SMS and the phone as normalized.
pub async fn inject(
    store: &Store,
    sms: InjectSms,
    now: i64,
) -> Result<(StoredSms, String), InjectError> {
    let phone = normalize_phone(&sms.phone).ok_or(InjectError::InvalidPhone(sms.phone))?;
    if sms.text.trim().is_empty() {
        return Err(InjectError::EmptyText);
    }
    let outcome = store
        .receive_sms(
            &InboundSms {
                gateway_id: None,
                phone: &phone,
                sender: &sms.sender,
                text: &sms.text,
                received_at: now,
                signature: None,
            },
            now,
        )
        .await?;
    match outcome {
        InboundOutcome::Stored(stored) => Ok((stored, phone)),
        InboundOutcome::Replayed => Err(InjectError::Replayed),
    }
}
