//! One-time links by e-mail: a password reset (asked for on `/password/forgot`, an hour
//! to use, once) and the check of a new account's address (48 hours). The link carries
//! 32 random bytes; the database keeps only their SHA-256 digest, so a copy of it opens
//! nothing. Both exist only while the operator's SMTP relay is on.
//!
//! Asking for a reset answers the same whether the address has an account or not, and
//! is counted like a sign-in (per client address and per address asked for), so the
//! form can be used neither to find accounts nor to flood someone's inbox.

use std::time::Duration;

use souk_core::password::{check_new_password, PasswordProblem};
use souk_core::Lang;
use souk_store::{Store, StoreError, TokenUse, PASSWORD_RESET, VERIFY_EMAIL};

use crate::mail::{self, Letter};
use crate::passwords::{PasswordError, Passwords};
use crate::sessions::{self, random_token, SignedIn, Throttle};

/// How long a reset link works.
pub const RESET_TTL_MS: i64 = 3_600_000;
/// How long an address-check link works.
pub const VERIFY_TTL_MS: i64 = 48 * 3_600_000;

#[derive(Debug, thiserror::Error)]
pub enum RecoveryError {
    /// The operator's SMTP relay is off: no link can be sent.
    #[error("e-mail is not available")]
    MailOff,
    /// Too many requests from this address or for this e-mail: the wait before the next.
    #[error("too many attempts")]
    Throttled(Duration),
    /// Not an e-mail address at all (said before anything is looked up).
    #[error("not an e-mail address")]
    BadEmail,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// The new password breaks the sign-up rule; nothing was changed.
    #[error("the new password is not acceptable")]
    Weak(PasswordProblem),
    /// No live link has this token (unknown, used, or expired); nothing was changed.
    #[error("the link is not valid")]
    DeadLink,
    /// The password threads are all busy: try again in a moment.
    #[error("too many password checks at once")]
    Busy,
    /// The password was set, but the account is suspended: no session.
    #[error("the account is suspended")]
    Suspended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `{site}{path}?token={token}` (the site without its trailing slash).
fn link(site: &str, path: &str, token: &str) -> String {
    format!("{}{path}?token={token}", site.trim_end_matches('/'))
}

fn reset_letter(lang: Lang, site: &str, link: &str) -> Letter {
    match lang {
        Lang::Ru => Letter {
            subject: "Сброс пароля".into(),
            text: format!(
                "Кто-то (надеемся, вы) попросил сбросить пароль вашего аккаунта на {site}.\n\n\
                 Откройте эту ссылку в течение часа, чтобы задать новый пароль:\n{link}\n\n\
                 Если вы не просили, просто не обращайте внимания на это письмо: пароль останется прежним.\n"
            ),
        },
        _ => Letter {
            subject: "Reset your password".into(),
            text: format!(
                "Someone (hopefully you) asked to reset the password of your account at {site}.\n\n\
                 Open this link within an hour to choose a new password:\n{link}\n\n\
                 If you did not ask, ignore this e-mail: your password stays as it is.\n"
            ),
        },
    }
}

fn verify_letter(lang: Lang, site: &str, link: &str) -> Letter {
    match lang {
        Lang::Ru => Letter {
            subject: "Подтвердите адрес почты".into(),
            text: format!(
                "Добро пожаловать на {site}.\n\n\
                 Откройте эту ссылку в течение 48 часов, чтобы подтвердить адрес почты:\n{link}\n\n\
                 Если вы не регистрировались, просто не обращайте внимания на это письмо.\n"
            ),
        },
        _ => Letter {
            subject: "Confirm your e-mail address".into(),
            text: format!(
                "Welcome to {site}.\n\n\
                 Open this link within 48 hours to confirm your e-mail address:\n{link}\n\n\
                 If you did not sign up, ignore this e-mail.\n"
            ),
        },
    }
}

/// A reset asked for `email` from `address`: counted first; then, if the address has an
/// active account, a link is queued in `lang`. Answers `Ok` whether or not it has one.
pub async fn request_reset(
    store: &Store,
    throttle: &Throttle,
    email: &str,
    address: &str,
    public_url: Option<&str>,
    lang: Lang,
    now: i64,
) -> Result<(), RecoveryError> {
    if !mail::is_enabled(store).await? {
        return Err(RecoveryError::MailOff);
    }
    let Some(site) = mail::link_base(store, public_url).await? else {
        return Err(RecoveryError::MailOff);
    };
    let email = souk_store::normalize_email(email).map_err(|_| RecoveryError::BadEmail)?;
    let address = sessions::address_key(address);
    let email_key = format!("reset:{email}");
    let counted = [
        (address.as_str(), throttle.per_address),
        (email_key.as_str(), throttle.per_email),
    ];
    if let Some(wait) = sessions::count_attempt(store, throttle, &counted, now).await? {
        return Err(RecoveryError::Throttled(wait));
    }
    let Some(account) = store.login_record(&email).await? else {
        return Ok(());
    };
    if account.status != "active" {
        return Ok(());
    }
    let token = random_token();
    store
        .issue_mail_token(
            &account.user_id,
            PASSWORD_RESET,
            &token,
            now + RESET_TTL_MS,
            now,
        )
        .await?;
    let letter = reset_letter(lang, &site, &link(&site, "/password/reset", &token));
    mail::queue(store, &account.user_id, &letter, now).await?;
    Ok(())
}

/// True when `token` is a live reset link (the form is shown only then).
pub async fn reset_link_live(store: &Store, token: &str, now: i64) -> Result<bool, StoreError> {
    if !plausible(token) {
        return Ok(false);
    }
    Ok(store
        .mail_token_user(token, PASSWORD_RESET, now)
        .await?
        .is_some())
}

/// A token as links carry it: 64 hex characters (anything else is not looked up).
fn plausible(token: &str) -> bool {
    token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Sets a new password with a reset link: the password judged as at sign-up, the link
/// used up with every other reset link of the user, every session of theirs ended, and a
/// new one started.
pub async fn reset_password(
    store: &Store,
    passwords: &Passwords,
    token: &str,
    password: String,
    repeated: &str,
    now: i64,
) -> Result<SignedIn, ResetError> {
    check_new_password(&password, repeated).map_err(ResetError::Weak)?;
    // Checked before hashing, so a dead link costs no password thread.
    if !reset_link_live(store, token, now).await? {
        return Err(ResetError::DeadLink);
    }
    let hash = match passwords.hash(password).await {
        Ok(hash) => hash,
        Err(PasswordError::Busy) => return Err(ResetError::Busy),
        Err(PasswordError::Failed(e)) => return Err(StoreError::Config(e).into()),
    };
    let user_id = match store.reset_password_with_token(token, &hash, now).await? {
        TokenUse::Used(user) => user,
        TokenUse::Dead => return Err(ResetError::DeadLink),
    };
    if store.user(&user_id).await?.status != "active" {
        return Err(ResetError::Suspended);
    }
    let token = sessions::start(store, &user_id, now).await?;
    Ok(SignedIn { user_id, token })
}

/// Queues the address check of `user_id` in `lang` when mail is on and the address is
/// not checked yet; true when a link was queued.
pub async fn send_verification(
    store: &Store,
    user_id: &str,
    public_url: Option<&str>,
    lang: Lang,
    now: i64,
) -> Result<bool, StoreError> {
    if !mail::is_enabled(store).await? || store.email_verified_at(user_id).await?.is_some() {
        return Ok(false);
    }
    let Some(site) = mail::link_base(store, public_url).await? else {
        return Ok(false);
    };
    let token = random_token();
    store
        .issue_mail_token(user_id, VERIFY_EMAIL, &token, now + VERIFY_TTL_MS, now)
        .await?;
    let letter = verify_letter(lang, &site, &link(&site, "/email/verify", &token));
    mail::queue(store, user_id, &letter, now).await?;
    Ok(true)
}

/// A resend asked by the signed-in user: counted per user like sign-ins per e-mail.
pub async fn resend_verification(
    store: &Store,
    throttle: &Throttle,
    user_id: &str,
    public_url: Option<&str>,
    lang: Lang,
    now: i64,
) -> Result<bool, RecoveryError> {
    if !mail::is_enabled(store).await? || mail::link_base(store, public_url).await?.is_none() {
        return Err(RecoveryError::MailOff);
    }
    let key = format!("verify:{user_id}");
    if let Some(wait) =
        sessions::count_attempt(store, throttle, &[(key.as_str(), throttle.per_email)], now).await?
    {
        return Err(RecoveryError::Throttled(wait));
    }
    Ok(send_verification(store, user_id, public_url, lang, now).await?)
}

/// Checks the address a verification link was sent to: the user, or `None` for a dead
/// link.
pub async fn verify_email(
    store: &Store,
    token: &str,
    now: i64,
) -> Result<Option<String>, StoreError> {
    if !plausible(token) {
        return Ok(None);
    }
    Ok(match store.verify_email_with_token(token, now).await? {
        TokenUse::Used(user) => Some(user),
        TokenUse::Dead => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_letters() {
        let l = link("https://shop.example/", "/password/reset", "ab");
        assert_eq!(l, "https://shop.example/password/reset?token=ab");
        let en = reset_letter(Lang::En, "https://shop.example", &l);
        assert!(en.text.contains(&l));
        let ru = verify_letter(Lang::Ru, "https://shop.example", &l);
        assert!(ru.subject.contains("Подтвердите"));
        assert!(plausible(&"a".repeat(64)));
        assert!(!plausible(&"g".repeat(64)));
        assert!(!plausible("abc"));
    }
}
