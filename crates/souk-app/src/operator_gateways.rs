//! Payment gateways from the console: owners set one up or change it through the same
//! `payments::configure` the operator API uses (every field checked before anything is
//! stored). The audit row says whether a key or secret was set, never the key itself.

use serde_json::{json, Value};
use souk_core::Money;
use souk_store::{GatewayRecord, Store};

use crate::operators::{Acting, OperatorError, Permission};
use crate::payments::{self, GatewayPatch, PaymentError};

/// The gateway form's fields, as typed: a blank key, secret, amount or fee keeps the
/// stored one.
#[derive(Clone, Debug, Default)]
pub struct GatewayForm {
    pub enabled: bool,
    pub title: String,
    pub base_url: String,
    pub merchant: String,
    pub api_key: String,
    pub secret: String,
    pub min_amount: String,
    pub max_amount: String,
    pub fee_percent: String,
    pub instructions: String,
}

fn view(g: Option<&GatewayRecord>) -> Value {
    match g {
        None => Value::Null,
        Some(g) => json!({
            "enabled": g.enabled,
            "title": g.title,
            "baseUrl": g.base_url,
            "merchant": g.merchant,
            "hasApiKey": g.has_api_key,
            "hasSecret": g.has_secret,
            "minAmount": Money::from_micros(g.min_amount).display2(),
            "maxAmount": Money::from_micros(g.max_amount).display2(),
            "feePercent": souk_core::supply::format_percent(g.fee_bp),
            "instructions": g.instructions,
        }),
    }
}

fn blank_keeps(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

fn amount(field: &str, text: &str) -> Result<Option<Money>, OperatorError> {
    blank_keeps(text)
        .map(|t| {
            Money::parse(&t).map_err(|_| {
                OperatorError::Invalid(format!(
                    "{field} must be a positive amount with at most two decimals"
                ))
            })
        })
        .transpose()
}

pub async fn configure(
    store: &Store,
    actor: &Acting,
    id: &str,
    form: &GatewayForm,
    now: i64,
) -> Result<GatewayRecord, OperatorError> {
    actor.require(Permission::Manage)?;
    let patch = GatewayPatch {
        enabled: Some(form.enabled),
        title: Some(form.title.trim().to_owned()),
        base_url: blank_keeps(&form.base_url),
        merchant: Some(form.merchant.trim().to_owned()),
        api_key: blank_keeps(&form.api_key),
        secret: blank_keeps(&form.secret),
        min_amount: amount("min_amount", &form.min_amount)?,
        max_amount: amount("max_amount", &form.max_amount)?,
        fee_percent: blank_keeps(&form.fee_percent),
        instructions: Some(form.instructions.trim().to_owned()),
    };
    configure_patch(store, actor, id, patch, now).await
}

/// Stores a gateway's settings as `patch` says (blank keeps; the console's form and
/// the operator API both come here), audited with the gateway before and after, read
/// in the transaction that stores it; keys are audited as set, never shown.
pub async fn configure_patch(
    store: &Store,
    actor: &Acting,
    id: &str,
    patch: GatewayPatch,
    now: i64,
) -> Result<GatewayRecord, OperatorError> {
    actor.require(Permission::Manage)?;
    let keys_set = json!({
        "apiKeySet": patch.api_key.is_some(),
        "secretSet": patch.secret.is_some(),
    });
    let after = payments::configure_audited(store, id, patch, now, |before, after| {
        let mut after_view = view(Some(after));
        if let (Value::Object(map), Value::Object(keys)) = (&mut after_view, keys_set) {
            map.extend(keys);
        }
        Some(actor.audit_entry(
            "gateway.configure",
            &format!("gateway:{id}"),
            Some(view(before)),
            Some(after_view),
        ))
    })
    .await
    .map_err(|e| match e {
        PaymentError::Store(s) => OperatorError::Store(s),
        other => OperatorError::Invalid(other.to_string()),
    })?;
    Ok(after)
}
