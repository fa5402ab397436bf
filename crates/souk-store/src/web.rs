//! What the web pages need from storage: password sign-in, sessions (kept as digests of
//! their tokens), the API key a signed-in user may see again, and a user's recent orders.

use crate::crypto::digest_secret;
use crate::db::{on_engine, BeginWrite};
use crate::rows::row_struct;
use crate::Result;
use crate::Store;

row_struct! {
    /// What signing in checks an email against.
    #[derive(Clone, Debug)]
    pub struct LoginRecord {
        pub user_id: String,
        pub password_hash: Option<String>,
        pub status: String,
    }
}

row_struct! {
    /// The user behind a session cookie.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct WebSession {
        pub user_id: String,
        pub email: String,
        pub is_supplier: bool,
        pub status: String,
        pub csrf_token: String,
        pub expires_at: i64,
    }
}

impl WebSession {
    pub fn active(&self) -> bool {
        self.status == "active"
    }
}

row_struct! {
    /// One of a user's orders, as the account page lists them.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OrderLine {
        pub id: i64,
        pub kind: String,
        pub service_number: Option<i64>,
        pub link: String,
        pub created_at: i64,
    }
}

impl Store {
    pub async fn login_record(&self, email: &str) -> Result<Option<LoginRecord>> {
        let email = email.trim().to_lowercase();
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id AS user_id, password_hash, status FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(pool)
                .await?
        }))
    }

    /// Stores a session under its token's digest; drops the user's expired ones.
    pub async fn create_session(
        &self,
        user_id: &str,
        token: &str,
        csrf_token: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("DELETE FROM web_sessions WHERE user_id = $1 AND expires_at <= $2")
                .bind(user_id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO web_sessions (token_hash, user_id, csrf_token, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(digest_secret(token))
            .bind(user_id)
            .bind(csrf_token)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The session behind a cookie's token, unless it expired.
    pub async fn session(&self, token: &str, now: i64) -> Result<Option<WebSession>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT u.id AS user_id, u.email, u.is_supplier, u.status, s.csrf_token, s.expires_at \
                 FROM web_sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(digest_secret(token))
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn end_session(&self, token: &str) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM web_sessions WHERE token_hash = $1")
                .bind(digest_secret(token))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Sets (or replaces) a user's password hash.
    pub async fn set_password_hash(&self, user_id: &str, hash: &str) -> Result<()> {
        let _gate = self.gate.enter().await;
        let updated = on_engine!(&self.db, pool => {
            sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(hash)
                .bind(user_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if updated == 0 {
            return Err(crate::StoreError::NotFound("User"));
        }
        Ok(())
    }

    /// Keeps `key` (already stored by its digest) sealed, so that its owner can see it
    /// again on their account page.
    pub async fn remember_key(&self, key: &str) -> Result<()> {
        let sealed = self.crypto.seal(key);
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("UPDATE api_keys SET key_sealed = $1 WHERE key_hash = $2")
                .bind(&sealed)
                .bind(digest_secret(key))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The user's newest live key that was issued through the web. Keys made elsewhere (the
    /// operator, `souk admin`) exist only as digests and are passed over, so one of them
    /// does not hide the key the user can see.
    pub async fn visible_key(&self, user_id: &str) -> Result<Option<String>> {
        let sealed: Option<(Option<Vec<u8>>,)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT key_sealed FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL \
                 AND key_sealed IS NOT NULL ORDER BY created_at DESC, id DESC LIMIT 1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        match sealed.and_then(|(s,)| s) {
            Some(bytes) => Ok(Some(self.crypto.open(&bytes)?)),
            None => Ok(None),
        }
    }

    /// The user's newest orders (paid or not), newest first.
    pub async fn recent_orders(&self, user_id: &str, limit: i64) -> Result<Vec<OrderLine>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, kind, service_number, link, created_at FROM orders \
                 WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}
