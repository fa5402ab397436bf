//! E-mail (migration 0013): the SMTP relay's settings (the `notifiers` row `smtp`, sealed),
//! one-time links for password resets and address checks (`user_tokens`, kept as digests
//! of the token the mail carries), and each audience's queue of e-mails (`notifications`
//! on channel `email`): event ones, and pre-rendered ones (`body_enc`, sealed, since they
//! carry a one-time link) queued here.

use crate::crypto::digest_secret;
use crate::db::{on_engine, BeginWrite};
use crate::events::{WakeQueue, EMAIL_SEND};
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::rows::row_struct;
use crate::{Result, Store};

/// What a `user_tokens` row is for.
pub const PASSWORD_RESET: &str = "password_reset";
pub const VERIFY_EMAIL: &str = "verify_email";

/// The SMTP settings as stored: the configuration opened (JSON, its shape is the
/// caller's), whether mail is on.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSmtp {
    pub enabled: bool,
    pub config: String,
    pub updated_at: i64,
}

impl std::fmt::Debug for StoredSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredSmtp")
            .field("enabled", &self.enabled)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

row_struct! {
    struct NotifierRow {
        enabled: bool,
        config_enc: Vec<u8>,
        updated_at: i64,
    }
}

row_struct! {
    struct QueuedRow {
        id: i64,
        event_seq: Option<i64>,
        body_enc: Option<Vec<u8>>,
        attempts: i64,
        next_at: i64,
    }
}

/// One e-mail waiting to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingEmail {
    pub id: i64,
    /// The event it tells of, or `None` for a pre-rendered message.
    pub event_seq: Option<i64>,
    /// A pre-rendered message, opened: `Ok(None)` for an event's, `Err(())` when the
    /// sealed text cannot be opened with this data key.
    pub body: std::result::Result<Option<String>, ()>,
    pub attempts: i64,
    pub next_at: i64,
}

/// What became of a one-time link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenUse {
    /// It was live and is now used: the user it was for.
    Used(String),
    /// No live link has this token (unknown, used, expired, or for something else).
    Dead,
}

impl Store {
    /// The SMTP settings, if the operator set them.
    pub async fn smtp_notifier(&self) -> Result<Option<StoredSmtp>> {
        let row: Option<NotifierRow> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT enabled, config_enc, updated_at FROM notifiers WHERE id = 'smtp'")
                .fetch_optional(pool)
                .await?
        });
        match row {
            None => Ok(None),
            Some(r) => Ok(Some(StoredSmtp {
                enabled: r.enabled,
                config: self.crypto.open(&r.config_enc)?,
                updated_at: r.updated_at,
            })),
        }
    }

    /// Stores the SMTP settings (`config` sealed), replacing any.
    pub async fn put_smtp_notifier(&self, enabled: bool, config: &str, now: i64) -> Result<()> {
        self.put_smtp_notifier_audited(enabled, config, now, |_| None)
            .await
    }

    /// `put_smtp_notifier` with the audit row `audit` makes of the settings before
    /// (opened; read in the transaction), written in the transaction that replaces
    /// them (none for `None`). The config holds the password: the row must not.
    pub async fn put_smtp_notifier_audited(
        &self,
        enabled: bool,
        config: &str,
        now: i64,
        audit: impl FnOnce(Option<&StoredSmtp>) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        let sealed = self.crypto.seal(config);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<NotifierRow> =
                sqlx::query_as("SELECT enabled, config_enc, updated_at FROM notifiers WHERE id = 'smtp'")
                    .fetch_optional(&mut *tx)
                    .await?;
            let before = match row {
                None => None,
                Some(r) => Some(StoredSmtp {
                    enabled: r.enabled,
                    config: self.crypto.open(&r.config_enc)?,
                    updated_at: r.updated_at,
                }),
            };
            sqlx::query(
                "INSERT INTO notifiers (id, enabled, config_enc, updated_at) VALUES ('smtp', $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, config_enc = excluded.config_enc, \
                 updated_at = excluded.updated_at",
            )
            .bind(enabled)
            .bind(&sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(entry) = audit(before.as_ref()) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Keeps a one-time link's token, as its digest, for `user` and `purpose`
    /// ([`PASSWORD_RESET`] or [`VERIFY_EMAIL`]) until `expires_at`.
    pub async fn issue_mail_token(
        &self,
        user: &str,
        purpose: &str,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO user_tokens (digest, audience, purpose, expires_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(digest_secret(token))
            .bind(user)
            .bind(purpose)
            .bind(expires_at)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The user a live (unused, unexpired) token of `purpose` is for.
    pub async fn mail_token_user(
        &self,
        token: &str,
        purpose: &str,
        now: i64,
    ) -> Result<Option<String>> {
        let row: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT audience FROM user_tokens WHERE digest = $1 AND purpose = $2 \
                 AND used_at IS NULL AND expires_at > $3",
            )
            .bind(digest_secret(token))
            .bind(purpose)
            .bind(now)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(u,)| u))
    }

    /// Sets a new password with a live reset token, in one transaction: the token and
    /// every other unused reset token of the user are used up, and every session of the
    /// user ends (whoever reset the password starts a new one). Two uses of the same
    /// token at once: one wins, the other finds it used.
    pub async fn reset_password_with_token(
        &self,
        token: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<TokenUse> {
        let digest = digest_secret(token);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let claimed: Option<(String,)> = sqlx::query_as(
                "UPDATE user_tokens SET used_at = $1 WHERE digest = $2 AND purpose = 'password_reset' \
                 AND used_at IS NULL AND expires_at > $1 RETURNING audience",
            )
            .bind(now)
            .bind(&digest)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user,)) = claimed else { return Ok(TokenUse::Dead) };
            sqlx::query(
                "UPDATE user_tokens SET used_at = $1 WHERE audience = $2 AND purpose = 'password_reset' \
                 AND used_at IS NULL",
            )
            .bind(now)
            .bind(&user)
            .execute(&mut *tx)
            .await?;
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM web_sessions WHERE user_id = $1")
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(TokenUse::Used(user))
        })
    }

    /// Marks the user's address checked with a live verification token (the first
    /// check's time is kept).
    pub async fn verify_email_with_token(&self, token: &str, now: i64) -> Result<TokenUse> {
        let digest = digest_secret(token);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let claimed: Option<(String,)> = sqlx::query_as(
                "UPDATE user_tokens SET used_at = $1 WHERE digest = $2 AND purpose = 'verify_email' \
                 AND used_at IS NULL AND expires_at > $1 RETURNING audience",
            )
            .bind(now)
            .bind(&digest)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((user,)) = claimed else { return Ok(TokenUse::Dead) };
            sqlx::query("UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2")
                .bind(now)
                .bind(&user)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(TokenUse::Used(user))
        })
    }

    /// When the user's address was checked, if it was.
    pub async fn email_verified_at(&self, user: &str) -> Result<Option<i64>> {
        let row: Option<(Option<i64>,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT email_verified_at FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.and_then(|(at,)| at))
    }

    /// Queues a pre-rendered e-mail (`message`, sealed) for `audience` and wakes its
    /// `email.send` job.
    pub async fn queue_email(&self, audience: &str, message: &str, now: i64) -> Result<()> {
        let sealed = self.crypto.seal(message);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query(
                "INSERT INTO notifications (channel, audience, body_enc, next_at, created_at) \
                 VALUES ('email', $1, $2, $3, $3)",
            )
            .bind(audience)
            .bind(&sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.wake_queue(EMAIL_SEND, audience, now).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Up to `limit` of the audience's pending e-mails, oldest first.
    pub async fn pending_emails(&self, audience: &str, limit: i64) -> Result<Vec<PendingEmail>> {
        let rows: Vec<QueuedRow> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, event_seq, body_enc, attempts, next_at FROM notifications \
                 WHERE channel = 'email' AND audience = $1 AND state = 'pending' ORDER BY id LIMIT $2",
            )
            .bind(audience)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|r| PendingEmail {
                id: r.id,
                event_seq: r.event_seq,
                body: match r.body_enc {
                    None => Ok(None),
                    Some(sealed) => self.crypto.open(&sealed).map(Some).map_err(|_| ()),
                },
                attempts: r.attempts,
                next_at: r.next_at,
            })
            .collect())
    }

    /// The e-mail was handed to the relay.
    pub async fn email_sent(&self, id: i64, now: i64) -> Result<()> {
        self.settle_email(id, "sent", "", None, Some(now)).await
    }

    /// The e-mail will not be sent (refused for good, or tried for too long).
    pub async fn email_failed(&self, id: i64, error: &str) -> Result<()> {
        self.settle_email(id, "failed", error, None, None).await
    }

    /// The e-mail is tried again at `next_at`.
    pub async fn email_retry(&self, id: i64, error: &str, next_at: i64) -> Result<()> {
        self.settle_email(id, "pending", error, Some(next_at), None)
            .await
    }

    async fn settle_email(
        &self,
        id: i64,
        state: &str,
        error: &str,
        next_at: Option<i64>,
        sent_at: Option<i64>,
    ) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE notifications SET state = $1, attempts = attempts + 1, last_error = $2, \
                 next_at = COALESCE($3, next_at), sent_at = $4 WHERE id = $5 AND channel = 'email'",
            )
            .bind(state)
            .bind(&error)
            .bind(next_at)
            .bind(sent_at)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}
