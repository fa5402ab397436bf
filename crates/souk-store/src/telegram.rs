//! Telegram's rows (migrations 0013 and 0014): the bot's settings (sealed in the
//! `notifiers` row `telegram`), one-time `/start` tokens (digests in `user_tokens`),
//! the chat each audience linked (`telegram_links`), the audience's queue of messages
//! (`notifications` of channel `telegram`), a user's language, and the job that reads
//! what people write to the bot.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::crypto::digest_secret;
use crate::db::{on_engine, BeginWrite};
use crate::jobs::{insert_job, NewJob};
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::rows::row_struct;
use crate::{Result, Store, StoreError};

/// The job that polls the Bot API for messages to the bot (`/start <token>`).
pub const TELEGRAM_UPDATES: &str = "telegram.updates";
/// The channel name in `notification_prefs` and `notifications`.
pub const TELEGRAM: &str = "telegram";
const PURPOSE: &str = "telegram";

/// The bot as the operator set it up. The token is opened only for the Bot API calls.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TelegramSettings {
    #[serde(skip)]
    pub enabled: bool,
    pub token: String,
    /// Empty: Telegram's own.
    pub base_url: String,
    /// Learnt from `getMe` when the token was set: the deep links name it.
    pub bot_username: String,
    #[serde(skip)]
    pub updated_at: i64,
}

impl std::fmt::Debug for TelegramSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TelegramSettings")
            .field("enabled", &self.enabled)
            .field("token", &"<sealed>")
            .field("base_url", &self.base_url)
            .field("bot_username", &self.bot_username)
            .finish()
    }
}

row_struct! {
    /// The chat an audience (a user, or the operator) linked.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct TelegramLink {
        pub audience: String,
        pub chat_id: i64,
        pub username: String,
        pub linked_at: i64,
    }
}

row_struct! {
    struct QueuedRow {
        id: i64,
        event_seq: Option<i64>,
        body_enc: Option<Vec<u8>>,
        kind: Option<String>,
        payload: Option<String>,
        attempts: i64,
        next_at: i64,
    }
}

/// A message waiting in an audience's Telegram queue: an event's (its kind and data) or
/// one rendered already (`body`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: i64,
    pub event_seq: Option<i64>,
    pub kind: String,
    /// The event's data, JSON.
    pub payload: String,
    pub body: Option<String>,
    pub attempts: i64,
    /// Not to be tried before (a flood wait, a retry).
    pub next_at: i64,
}

fn updates_job(now: i64) -> NewJob {
    NewJob {
        kind: TELEGRAM_UPDATES.to_owned(),
        payload: json!({ "offset": 0 }).to_string(),
        dedupe_key: Some(TELEGRAM.to_owned()),
        run_at: now,
        max_attempts: 1_000,
        held_by: None,
    }
}

impl Store {
    /// The bot's settings, token opened; `None` before the operator set it up.
    pub async fn telegram_settings(&self) -> Result<Option<TelegramSettings>> {
        let row: Option<(bool, Vec<u8>, i64)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT enabled, config_enc, updated_at FROM notifiers WHERE id = 'telegram'")
                .fetch_optional(pool)
                .await?
        });
        let Some((enabled, sealed, updated_at)) = row else {
            return Ok(None);
        };
        let text = self.crypto.open(&sealed)?;
        let mut settings: TelegramSettings = serde_json::from_str(&text)
            .map_err(|_| StoreError::Config("the Telegram settings are unreadable".into()))?;
        settings.enabled = enabled;
        settings.updated_at = updated_at;
        Ok(Some(settings))
    }

    /// Stores the bot's settings (sealed), and while it is enabled the job that reads
    /// what people write to it.
    pub async fn put_telegram_settings(&self, s: &TelegramSettings, now: i64) -> Result<()> {
        self.put_telegram_settings_audited(s, None, now, |_, _| None)
            .await
    }

    /// `put_telegram_settings`, with `operator_events` (when given) the kinds the
    /// operator is told of on Telegram, and the audit row `audit` makes of the settings
    /// and those kinds before (read in the transaction), all in one transaction (no row
    /// for `None`). The settings hold the token: the row must not.
    pub async fn put_telegram_settings_audited(
        &self,
        s: &TelegramSettings,
        operator_events: Option<&[String]>,
        now: i64,
        audit: impl FnOnce(Option<&TelegramSettings>, &[String]) -> Option<NewAuditEntry> + Send,
    ) -> Result<()> {
        let config = serde_json::to_string(s)
            .map_err(|e| StoreError::Config(format!("Telegram settings: {e}")))?;
        let sealed = self.crypto.seal(&config);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let row: Option<(bool, Vec<u8>, i64)> =
                sqlx::query_as("SELECT enabled, config_enc, updated_at FROM notifiers WHERE id = 'telegram'")
                    .fetch_optional(&mut *tx)
                    .await?;
            let before = match row {
                None => None,
                Some((enabled, sealed, updated_at)) => {
                    let mut b: TelegramSettings = serde_json::from_str(&self.crypto.open(&sealed)?)
                        .map_err(|_| StoreError::Config("the Telegram settings are unreadable".into()))?;
                    b.enabled = enabled;
                    b.updated_at = updated_at;
                    Some(b)
                }
            };
            let kinds: Vec<(String,)> = sqlx::query_as(
                "SELECT kind FROM notification_prefs WHERE audience = $1 AND channel = $2 ORDER BY kind",
            )
            .bind(souk_core::event::OPERATOR)
            .bind(TELEGRAM)
            .fetch_all(&mut *tx)
            .await?;
            let kinds: Vec<String> = kinds.into_iter().map(|(k,)| k).collect();
            sqlx::query(
                "INSERT INTO notifiers (id, enabled, config_enc, updated_at) VALUES ('telegram', $1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET enabled = excluded.enabled, config_enc = excluded.config_enc, \
                 updated_at = excluded.updated_at",
            )
            .bind(s.enabled)
            .bind(sealed)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if s.enabled {
                insert_job(&updates_job(now), now).fetch_optional(&mut *tx).await?;
            }
            if let Some(wanted) = operator_events {
                sqlx::query("DELETE FROM notification_prefs WHERE audience = $1 AND channel = $2")
                    .bind(souk_core::event::OPERATOR)
                    .bind(TELEGRAM)
                    .execute(&mut *tx)
                    .await?;
                for kind in wanted {
                    sqlx::query(
                        "INSERT INTO notification_prefs (audience, channel, kind) VALUES ($1, $2, $3) \
                         ON CONFLICT (audience, channel, kind) DO NOTHING",
                    )
                    .bind(souk_core::event::OPERATOR)
                    .bind(TELEGRAM)
                    .bind(kind)
                    .execute(&mut *tx)
                    .await?;
                }
            }
            if let Some(entry) = audit(before.as_ref(), &kinds) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Gives the bot its `telegram.updates` job while Telegram is enabled (a no-op when
    /// it has one).
    pub async fn ensure_telegram_job(&self, now: i64) -> Result<()> {
        let enabled: Option<(bool,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT enabled FROM notifiers WHERE id = 'telegram'")
                .fetch_optional(pool)
                .await?
        });
        if enabled.is_some_and(|(e,)| e) {
            let _gate = self.gate.enter().await;
            on_engine!(&self.db, pool => {
                insert_job(&updates_job(now), now).fetch_optional(pool).await?;
            });
        }
        Ok(())
    }

    /// Records a one-time `/start` token (its digest) for `audience`, good until
    /// `expires_at`. The audience's earlier unused tokens stop working: only the newest
    /// link shown works.
    pub async fn create_telegram_token(
        &self,
        audience: &str,
        token: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("DELETE FROM user_tokens WHERE audience = $1 AND purpose = $2 AND used_at IS NULL")
                .bind(audience)
                .bind(PURPOSE)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO user_tokens (digest, audience, purpose, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(digest_secret(token))
            .bind(audience)
            .bind(PURPOSE)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Spends a `/start` token and links `chat_id` to its audience (replacing the
    /// audience's earlier chat), in one transaction: the audience it linked, or `None`
    /// for a token that is unknown, used or expired (nothing changes then). `audit`
    /// makes the row of a link, given the audience and the chat it had before (read in
    /// the transaction), written in it.
    pub async fn link_telegram(
        &self,
        token: &str,
        chat_id: i64,
        username: &str,
        now: i64,
        audit: impl FnOnce(&str, Option<&TelegramLink>) -> Option<NewAuditEntry> + Send,
    ) -> Result<Option<String>> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let spent: Option<(String,)> = sqlx::query_as(
                "UPDATE user_tokens SET used_at = $1 \
                 WHERE digest = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
                 RETURNING audience",
            )
            .bind(now)
            .bind(digest_secret(token))
            .bind(PURPOSE)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((audience,)) = spent else {
                return Ok(None);
            };
            let before: Option<TelegramLink> = sqlx::query_as(
                "SELECT audience, chat_id, username, linked_at FROM telegram_links WHERE audience = $1",
            )
            .bind(&audience)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO telegram_links (audience, chat_id, username, linked_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (audience) DO UPDATE SET chat_id = excluded.chat_id, \
                 username = excluded.username, linked_at = excluded.linked_at",
            )
            .bind(&audience)
            .bind(chat_id)
            .bind(username)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(entry) = audit(&audience, before.as_ref()) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(Some(audience))
        })
    }

    /// The chat `audience` linked, if any.
    pub async fn telegram_link(&self, audience: &str) -> Result<Option<TelegramLink>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT audience, chat_id, username, linked_at FROM telegram_links WHERE audience = $1",
            )
            .bind(audience)
            .fetch_optional(pool)
            .await?
        }))
    }

    /// Forgets `audience`'s chat; with `only_chat`, only if it is still that chat (a chat
    /// that blocked the bot must not undo a link made since). True when one was removed.
    pub async fn unlink_telegram(&self, audience: &str, only_chat: Option<i64>) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let removed = on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM telegram_links WHERE audience = $1 AND (CAST($2 AS BIGINT) IS NULL OR chat_id = CAST($2 AS BIGINT))")
                .bind(audience)
                .bind(only_chat)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(removed > 0)
    }

    /// Up to `limit` pending messages of `audience`'s Telegram queue, oldest first.
    pub async fn telegram_queue(&self, audience: &str, limit: i64) -> Result<Vec<QueuedMessage>> {
        let rows: Vec<QueuedRow> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT n.id, n.event_seq, n.body_enc, e.kind, e.payload, n.attempts, n.next_at \
                 FROM notifications n LEFT JOIN events e ON e.seq = n.event_seq \
                 WHERE n.channel = 'telegram' AND n.audience = $1 AND n.state = 'pending' \
                 ORDER BY n.id LIMIT $2",
            )
            .bind(audience)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|r| {
                Ok(QueuedMessage {
                    id: r.id,
                    event_seq: r.event_seq,
                    kind: r.kind.unwrap_or_default(),
                    payload: r.payload.unwrap_or_else(|| "{}".to_owned()),
                    body: r.body_enc.map(|b| self.crypto.open(&b)).transpose()?,
                    attempts: r.attempts,
                    next_at: r.next_at,
                })
            })
            .collect()
    }

    /// When `audience`'s last Telegram message went out, if one did.
    pub async fn telegram_last_sent(&self, audience: &str) -> Result<Option<i64>> {
        let row: (Option<i64>,) = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT MAX(sent_at) FROM notifications WHERE channel = 'telegram' AND audience = $1",
            )
            .bind(audience)
            .fetch_one(pool)
            .await?
        });
        Ok(row.0)
    }

    /// A notification went out.
    pub async fn notification_sent(&self, id: i64, now: i64) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE notifications SET state = 'sent', attempts = attempts + 1, sent_at = $1, next_at = $1 \
                 WHERE id = $2 AND state = 'pending'",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// A try of a notification failed: `failed` for good, or kept pending until
    /// `retry_at` (`None`: failed).
    pub async fn notification_failed(
        &self,
        id: i64,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let _gate = self.gate.enter().await;
        let error: String = error.chars().take(500).collect();
        on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE notifications SET attempts = attempts + 1, last_error = $1, \
                 state = CASE WHEN CAST($2 AS BIGINT) IS NULL THEN 'failed' ELSE 'pending' END, \
                 next_at = COALESCE(CAST($2 AS BIGINT), $3) \
                 WHERE id = $4 AND state = 'pending'",
            )
            .bind(&error)
            .bind(retry_at)
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Every pending message of `audience`'s queue on `channel` failed with `error` (no
    /// chat to send to). Answers how many.
    pub async fn fail_notifications(
        &self,
        channel: &str,
        audience: &str,
        error: &str,
        now: i64,
    ) -> Result<u64> {
        let _gate = self.gate.enter().await;
        Ok(on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE notifications SET state = 'failed', last_error = $1, next_at = $2 \
                 WHERE channel = $3 AND audience = $4 AND state = 'pending'",
            )
            .bind(error)
            .bind(now)
            .bind(channel)
            .bind(audience)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// The language a user's notifications are written in (`en` or `ru`); `None` for
    /// no such user.
    pub async fn user_lang(&self, user_id: &str) -> Result<Option<String>> {
        let row: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT lang FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(l,)| l))
    }

    /// Remembers the language a user chose (`en` or `ru`; anything else is refused).
    pub async fn set_user_lang(&self, user_id: &str, lang: &str) -> Result<()> {
        if !matches!(lang, "en" | "ru") {
            return Err(StoreError::Invalid(format!("unknown language {lang:?}")));
        }
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("UPDATE users SET lang = $1 WHERE id = $2 AND lang <> $1")
                .bind(lang)
                .bind(user_id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
