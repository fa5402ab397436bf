//! The operator's SMTP relay: its settings (the `notifiers` row `smtp`, sealed, the
//! password never shown back), a test message, and pre-rendered messages queued for the
//! `email.send` job. The operator API and `souk admin smtp` both come here.

use serde::{Deserialize, Serialize};
use souk_client::smtp::{self, Mail, Relay, Security, SmtpError};
use souk_store::{Store, StoreError};

/// The settings as kept (sealed, as JSON).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SmtpSettings {
    #[serde(default)]
    pub host: String,
    #[serde(default)]
    pub port: u16,
    #[serde(default)]
    pub security: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub password: String,
    /// The sender, `Shop <noreply@shop.example>` or a bare address.
    #[serde(default)]
    pub from: String,
    /// Where the operator's own events are mailed.
    #[serde(default)]
    pub operator_email: String,
    /// The site's address for links in mails (`https://shop.example`) when
    /// `SOUK_PUBLIC_URL` is not set. Never the request's own `Host`: anyone can send a
    /// reset request with a forged one and have the victim mailed a link to their site.
    #[serde(default)]
    pub site_url: String,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("from", &self.from)
            .field("operator_email", &self.operator_email)
            .field("site_url", &self.site_url)
            .finish_non_exhaustive()
    }
}

/// The settings as shown: everything but the password, which is only said to be there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmtpView {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub security: String,
    pub username: String,
    pub has_password: bool,
    pub from: String,
    pub operator_email: String,
    pub site_url: String,
    /// `None` until first set.
    pub updated_at: Option<i64>,
}

/// A change of the settings: `None` keeps a field; an empty username or password
/// removes it.
#[derive(Clone, Debug, Default)]
pub struct SmtpPatch {
    pub enabled: Option<bool>,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub from: Option<String>,
    pub operator_email: Option<String>,
    pub site_url: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A setting or an address that cannot be used; nothing was changed or sent.
    #[error("{0}")]
    Invalid(String),
    /// The relay is not set up (no host or no sender).
    #[error("SMTP is not set up: set a host and a from address first")]
    NotConfigured,
    /// The relay did not take the message.
    #[error(transparent)]
    Smtp(#[from] SmtpError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The stored settings and whether mail is on (`None` if never set).
pub async fn settings(store: &Store) -> Result<Option<(bool, SmtpSettings)>, StoreError> {
    let Some(stored) = store.smtp_notifier().await? else {
        return Ok(None);
    };
    let settings: SmtpSettings = serde_json::from_str(&stored.config)
        .map_err(|e| StoreError::Config(format!("the stored SMTP settings are unreadable: {e}")))?;
    Ok(Some((stored.enabled, settings)))
}

/// The relay to send through when mail is on (`None` when it is off or not set up).
pub async fn enabled_relay(store: &Store) -> Result<Option<(Relay, SmtpSettings)>, StoreError> {
    match settings(store).await? {
        Some((true, s)) => Ok(relay_of(&s).map(|r| (r, s))),
        _ => Ok(None),
    }
}

/// The address links in mails point at: `SOUK_PUBLIC_URL` (`public_url`), else the
/// SMTP settings' `site_url`; `None` when neither is set (no links are mailed then).
pub async fn link_base(
    store: &Store,
    public_url: Option<&str>,
) -> Result<Option<String>, StoreError> {
    if let Some(url) = public_url {
        return Ok(Some(url.trim_end_matches('/').to_owned()));
    }
    Ok(settings(store)
        .await?
        .map(|(_, s)| s.site_url)
        .filter(|u| !u.is_empty()))
}

/// True when Souk sends e-mail (the pages offer resets and verification only then).
pub async fn is_enabled(store: &Store) -> Result<bool, StoreError> {
    Ok(enabled_relay(store).await?.is_some())
}

fn relay_of(s: &SmtpSettings) -> Option<Relay> {
    let security = Security::parse(&s.security)?;
    if s.host.is_empty() || s.from.is_empty() {
        return None;
    }
    let present = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Some(Relay {
        host: s.host.clone(),
        port: if s.port == 0 {
            security.default_port()
        } else {
            s.port
        },
        security,
        username: present(&s.username),
        password: present(&s.password),
        from: s.from.clone(),
    })
}

/// What the operator sees.
pub async fn view(store: &Store) -> Result<SmtpView, StoreError> {
    let stored = store.smtp_notifier().await?;
    let updated_at = stored.as_ref().map(|s| s.updated_at);
    Ok(match settings(store).await? {
        None => SmtpView::default(),
        Some((enabled, s)) => SmtpView {
            enabled,
            host: s.host,
            port: s.port,
            security: s.security,
            username: s.username,
            has_password: !s.password.is_empty(),
            from: s.from,
            operator_email: s.operator_email,
            site_url: s.site_url,
            updated_at,
        },
    })
}

fn invalid(text: impl Into<String>) -> MailError {
    MailError::Invalid(text.into())
}

/// A host name or address: letters, digits, `.-:[]` only (no scheme, no path).
fn host(text: &str) -> Result<String, MailError> {
    let t = text.trim();
    let ok = !t.is_empty()
        && t.len() <= 253
        && t
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
        // A colon only inside an IPv6 address (`example.com:587` is a port, said apart).
        && (!t.contains(':')
            || t.trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<std::net::Ipv6Addr>()
                .is_ok());
    if ok {
        Ok(t.to_ascii_lowercase())
    } else {
        Err(invalid(
            "host must be a host name or an IP address (no scheme, no port, no path)",
        ))
    }
}

/// A credential: at most `max` characters, no control characters.
fn credential(field: &str, text: &str, max: usize) -> Result<String, MailError> {
    if text.chars().count() > max || text.chars().any(char::is_control) {
        return Err(invalid(format!(
            "{field} must be at most {max} characters without control characters"
        )));
    }
    Ok(text.to_owned())
}

/// Changes the settings, every field checked before anything is stored.
pub async fn configure(store: &Store, patch: SmtpPatch, now: i64) -> Result<SmtpView, MailError> {
    configure_audited(store, patch, now, |_, _| None).await
}

/// The SMTP settings as an audit row shows them: the password only as set or not.
fn audit_view(enabled: bool, s: &SmtpSettings) -> serde_json::Value {
    serde_json::json!({
        "enabled": enabled,
        "host": s.host,
        "port": s.port,
        "security": s.security,
        "username": s.username,
        "password": if s.password.is_empty() { "none" } else { "set" },
        "from": s.from,
        "operatorEmail": s.operator_email,
        "siteUrl": s.site_url,
    })
}

/// `configure` by `actor` (the operator API), audited (`smtp.configure`) with the
/// settings before (read in the transaction that stores the new ones) and after; a
/// password given is "replaced", never shown.
pub async fn configure_as(
    store: &Store,
    actor: &crate::operators::Acting,
    patch: SmtpPatch,
    now: i64,
) -> Result<SmtpView, MailError> {
    let replaced = patch.password.is_some();
    configure_audited(store, patch, now, |before, (enabled, after)| {
        let before = before.map(|stored| {
            serde_json::from_str::<SmtpSettings>(&stored.config)
                .map_or(serde_json::Value::Null, |s| audit_view(stored.enabled, &s))
        });
        let mut after = audit_view(enabled, after);
        if replaced {
            after["password"] = serde_json::json!("replaced");
        }
        Some(actor.audit_entry("smtp.configure", "notifier:smtp", before, Some(after)))
    })
    .await
}

/// `configure` with the audit row `audit` makes of the settings stored before (read in
/// the transaction that replaces them) and the new ones, written in it.
pub async fn configure_audited(
    store: &Store,
    patch: SmtpPatch,
    now: i64,
    audit: impl FnOnce(
            Option<&souk_store::StoredSmtp>,
            (bool, &SmtpSettings),
        ) -> Option<souk_store::NewAuditEntry>
        + Send,
) -> Result<SmtpView, MailError> {
    let (enabled, mut s) = settings(store).await?.unwrap_or_default();
    if let Some(h) = patch.host {
        s.host = host(&h)?;
    }
    if let Some(sec) = patch.security {
        let parsed = Security::parse(&sec).ok_or_else(|| {
            invalid("security must be one of starttls, tls, plain (plain only for a local relay)")
        })?;
        s.security = parsed.as_str().to_owned();
    }
    if s.security.is_empty() {
        s.security = Security::StartTls.as_str().to_owned();
    }
    if let Some(p) = patch.port {
        if p == 0 {
            return Err(invalid("port must be from 1 to 65535"));
        }
        s.port = p;
    }
    if s.port == 0 {
        s.port = Security::parse(&s.security)
            .unwrap_or(Security::StartTls)
            .default_port();
    }
    if let Some(u) = patch.username {
        s.username = credential("username", u.trim(), 200)?;
    }
    if let Some(p) = patch.password {
        s.password = credential("password", &p, 500)?;
    }
    if s.username.is_empty() != s.password.is_empty() {
        return Err(invalid(
            "username and password go together: set both, or neither for a relay without authentication",
        ));
    }
    if let Some(f) = patch.from {
        let f = f.trim().to_owned();
        if f.chars().count() > 300 || f.chars().any(char::is_control) {
            return Err(invalid("from must be an e-mail address"));
        }
        smtp::mailbox(&f, "from").map_err(|e| invalid(e.to_string()))?;
        s.from = f;
    }
    if let Some(o) = patch.operator_email {
        let o = o.trim();
        s.operator_email = if o.is_empty() {
            String::new()
        } else {
            let normal = souk_store::normalize_email(o)
                .map_err(|_| invalid("operator_email must be an e-mail address"))?;
            smtp::mailbox(&normal, "operator_email").map_err(|e| invalid(e.to_string()))?;
            normal
        };
    }
    if let Some(u) = patch.site_url {
        s.site_url = if u.trim().is_empty() {
            String::new()
        } else {
            souk_core::web_url::web_url(&u, 300).map_err(|_| {
                invalid("site_url must be the site's address, https://... (or empty)")
            })?
        };
    }
    let enabled = patch.enabled.unwrap_or(enabled);
    if enabled && relay_of(&s).is_none() {
        return Err(invalid(
            "SMTP cannot be enabled without a host and a from address",
        ));
    }
    let config = serde_json::to_string(&s)
        .map_err(|e| MailError::Store(StoreError::Config(e.to_string())))?;
    store
        .put_smtp_notifier_audited(enabled, &config, now, |before| audit(before, (enabled, &s)))
        .await?;
    Ok(view(store).await?)
}

/// Sends a test message to `to` with the stored settings, on or off (so they can be
/// tried before mail is turned on).
pub async fn send_test(store: &Store, allow_private: bool, to: &str) -> Result<(), MailError> {
    let to =
        souk_store::normalize_email(to).map_err(|_| invalid("to must be an e-mail address"))?;
    let relay = settings(store)
        .await?
        .and_then(|(_, s)| relay_of(&s))
        .ok_or(MailError::NotConfigured)?;
    let mail = Mail {
        to,
        subject: "Souk: test e-mail / тестовое письмо".into(),
        text: "This is a test e-mail from Souk: the SMTP settings work.\n\n\
               Это тестовое письмо от Souk: настройки SMTP работают.\n"
            .into(),
    };
    smtp::send(&relay, allow_private, &mail).await?;
    Ok(())
}

/// A pre-rendered message as queued (sealed): its subject and text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Letter {
    pub subject: String,
    pub text: String,
}

/// Queues `letter` for `audience` (a user id), sent by the `email.send` job.
pub async fn queue(
    store: &Store,
    audience: &str,
    letter: &Letter,
    now: i64,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(letter).map_err(|e| StoreError::Config(e.to_string()))?;
    store.queue_email(audience, &text, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host(" SMTP.Example.com ").ok(),
            Some("smtp.example.com".into())
        );
        assert!(host("[::1]").is_ok());
        assert!(host("smtp://example.com").is_err());
        assert!(host("example.com/x").is_err());
        assert!(host("a b").is_err());
        assert!(host("example.com:587").is_err());
        assert!(host("").is_err());
    }
}
