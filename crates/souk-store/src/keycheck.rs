//! Which data key a database belongs to. A known constant sealed with the key is kept in
//! `settings`; a node opened with another key (a second node without the shared key, an
//! admin run from another directory that generated its own) is told so at start, instead
//! of sealing new secrets that nobody else can open and failing on the old ones.

use crate::db::{on_engine, BeginWrite};
use crate::{Result, Store};

/// The `settings` row holding the check value (not an operator setting).
const CHECK_SETTING: &str = "data_key_check";
/// What the check value seals.
const CHECK_PLAINTEXT: &str = "souk data key check v1";

/// Columns sealed with the data key: a database written before check values existed is
/// tested on one of them.
const SEALED_SAMPLES: [&str; 4] = [
    "SELECT content FROM stock_lines ORDER BY id LIMIT 1",
    "SELECT api_key_enc FROM providers ORDER BY id LIMIT 1",
    "SELECT secret_enc FROM sms_gateways ORDER BY id LIMIT 1",
    "SELECT key_sealed FROM api_keys WHERE key_sealed IS NOT NULL ORDER BY id LIMIT 1",
];

/// How this store's data key relates to the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyCheck {
    /// No key recorded and nothing sealed yet: any key can be adopted.
    Unused,
    /// The database's key: recorded, or it opens what was sealed before.
    Matches,
    /// Another key: the recorded check or the sealed data does not open with it.
    Mismatch,
}

impl Store {
    /// The recorded check, judged, before any migration: `None` for a database with no
    /// `settings` table yet or no check recorded. Lets a start with the wrong key stop
    /// before it changes the schema of a database that is not its own.
    pub async fn recorded_data_key(&self) -> Result<Option<KeyCheck>> {
        let exists_sql = match self.engine() {
            crate::Engine::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'settings'"
            }
            crate::Engine::Postgres => {
                "SELECT COUNT(*) FROM pg_catalog.pg_class WHERE oid = to_regclass('settings')"
            }
        };
        let recorded: Option<String> = on_engine!(&self.db, pool => {
            let mut conn = pool.acquire().await?;
            let tables: i64 = sqlx::query_scalar(exists_sql).fetch_one(&mut *conn).await?;
            if tables == 0 {
                None
            } else {
                sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                    .bind(CHECK_SETTING)
                    .fetch_optional(&mut *conn)
                    .await?
            }
        });
        Ok(recorded.map(|value| self.judge(&value)))
    }

    /// Compares this store's data key with the database's, changing nothing.
    pub async fn check_data_key(&self) -> Result<KeyCheck> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin().await?;
            let recorded: Option<String> = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(CHECK_SETTING)
                .fetch_optional(&mut *tx)
                .await?;
            if let Some(value) = recorded {
                return Ok(self.judge(&value));
            }
            for sql in SEALED_SAMPLES {
                let sealed: Option<Vec<u8>> = sqlx::query_scalar(sql).fetch_optional(&mut *tx).await?;
                if let Some(sealed) = sealed {
                    return Ok(if self.crypto.open(&sealed).is_ok() { KeyCheck::Matches } else { KeyCheck::Mismatch });
                }
            }
            Ok(KeyCheck::Unused)
        })
    }

    /// Records this store's key as the database's unless another one is already in use,
    /// then answers how they compare. Two nodes recording different keys at once: the
    /// first commit wins and the other gets `Mismatch`.
    pub async fn record_data_key(&self, now: i64) -> Result<KeyCheck> {
        // Recorded already (every start but the first): a read, no write.
        let recorded: Option<String> = on_engine!(&self.db, pool => {
            sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(CHECK_SETTING)
                .fetch_optional(pool)
                .await?
        });
        if let Some(value) = recorded {
            return Ok(self.judge(&value));
        }
        if self.check_data_key().await? == KeyCheck::Mismatch {
            return Ok(KeyCheck::Mismatch);
        }
        let check = hex::encode(self.crypto.seal(CHECK_PLAINTEXT));
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query(
                "INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            )
            .bind(CHECK_SETTING)
            .bind(&check)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let recorded: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
                .bind(CHECK_SETTING)
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(self.judge(&recorded))
        })
    }

    fn judge(&self, recorded: &str) -> KeyCheck {
        if opens_check(&self.crypto, recorded) {
            KeyCheck::Matches
        } else {
            KeyCheck::Mismatch
        }
    }
}

/// Whether a recorded check value opens with `crypto`'s key.
pub(crate) fn opens_check(crypto: &crate::Crypto, recorded: &str) -> bool {
    let opened = hex::decode(recorded.trim())
        .ok()
        .and_then(|sealed| crypto.open(&sealed).ok());
    opened.as_deref() == Some(CHECK_PLAINTEXT)
}
