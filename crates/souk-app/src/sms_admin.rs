//! The operator's SMS administration, what its front ends (the console, the operator
//! API's `/sms/...`, `souk admin sms ...`) share besides the audited changes in
//! `operator_sms`: finding a country, a project, a gateway or a pool number as stored,
//! and the shapes of a project change, a new gateway and an SMS delivered by hand. Each
//! front end keeps its own words for a refusal.

use souk_core::sms::normalize_phone;
use souk_store::{SmsCountry, SmsGateway, SmsNumber, SmsProject, Store, StoreError};

use crate::operators::OperatorError;

/// A country by its code.
pub async fn country(store: &Store, code: &str) -> Result<SmsCountry, StoreError> {
    let code = code.trim().to_ascii_lowercase();
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

/// A change to a project: a new English name and translations (by language code) are
/// merged into its name; languages not given keep their text.
#[derive(Clone, Debug, Default)]
pub struct ProjectChange {
    pub name: Option<String>,
    pub translations: Option<Vec<(String, String)>>,
    pub active: Option<bool>,
}

#[derive(Clone, Debug)]
pub struct CreatedGateway {
    pub id: String,
    /// The webhook secret: given, or generated here. Shown once.
    pub secret: String,
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
    /// The actor may not change the SMS pool.
    #[error(transparent)]
    Operator(#[from] OperatorError),
}
