//! Users, API keys and the balance ledger. A balance changes only through `Ledger::ledger_entry`,
//! which moves the balance and writes its ledger row in the same transaction, refusing to
//! go below zero.

use crate::rows::row_struct;
use souk_core::id::new_entity_id;
use souk_core::Money;

use crate::catalogue::CatalogueSteps;
use crate::crypto::{digest_secret, new_api_key};
use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::script::{Part, Script, ScriptSteps};
use crate::versions::{Change, Counter, Signals};
use crate::{Result, Store, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserStatus {
    Active,
    Suspended,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Suspended => "suspended",
        }
    }
}

/// The caller behind an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    pub user_id: String,
    pub email: String,
    pub active: bool,
    pub is_supplier: bool,
    pub key_id: String,
}

#[derive(Clone, Debug)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub is_supplier: bool,
    pub initial_balance: Money,
}

row_struct! {
    /// A user as the operator sees them.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct UserRecord {
        pub id: String,
        pub email: String,
        pub name: String,
        pub status: String,
        pub is_supplier: bool,
        pub balance: i64,
        pub created_at: i64,
    }
}

row_struct! {
    /// An API key as the operator sees it: never the key itself.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct ApiKeyRecord {
        pub id: String,
        pub user_id: String,
        pub key_prefix: String,
        pub label: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
    }
}

row_struct! {
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct LedgerEntry {
        pub id: i64,
        pub amount: i64,
        pub balance_after: i64,
        pub kind: String,
        pub order_id: Option<i64>,
        pub payment_id: Option<String>,
        pub note: String,
        pub created_at: i64,
    }
}

/// The ledger row of a balance change to `balance` (`Ledger::change_balance`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn ledger_row(
    user: &str,
    amount: i64,
    balance: i64,
    kind: &str,
    order: Option<i64>,
    payment: Option<&str>,
    note: &str,
    now: i64,
) -> Part {
    Part::new(
        "INSERT INTO ledger (user_id, amount, balance_after, kind, order_id, payment_id, note, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            user.into(),
            amount.into(),
            balance.into(),
            kind.into(),
            order.into(),
            payment.into(),
            note.into(),
            now.into(),
        ],
    )
}

tx_steps! {
    /// The ledger's steps inside a write transaction.
    pub(crate) trait Ledger {
        /// Adds `amount` (negative to debit) to a balance and records the ledger row.
        /// `Some(new_balance)`, or `None` (and nothing changed) when the balance would go
        /// negative or the user does not exist.
        async fn ledger_entry(
            &mut self,
            user: &str,
            amount: i64,
            kind: &str,
            order: Option<i64>,
            note: &str,
            now: i64,
        ) -> Result<Option<i64>> {
            self.book_entry(user, amount, kind, order, None, note, now).await
        }

        /// `ledger_entry` for a row that names an order or a payment (a top-up's
        /// `deposit` and `bonus` rows; one of each kind per payment, by a unique index).
        #[allow(clippy::too_many_arguments)]
        async fn book_entry(
            &mut self,
            user: &str,
            amount: i64,
            kind: &str,
            order: Option<i64>,
            payment: Option<&str>,
            note: &str,
            now: i64,
        ) -> Result<Option<i64>> {
            let Some(balance) = crate::sale::change_balance(self, user, amount).await? else {
                return Ok(None);
            };
            self.run_script(Script::one(ledger_row(user, amount, balance, kind, order, payment, note, now)))
                .await?;
            Ok(Some(balance))
        }

        /// Stores a new API key's digest (with a label, `""` for none). Answers the key's
        /// id.
        async fn insert_key(&mut self, user: &str, key: &str, label: &str, now: i64) -> Result<String> {
            let key_id = new_entity_id();
            sqlx::query(
                "INSERT INTO api_keys (id, user_id, key_hash, key_prefix, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(&key_id)
            .bind(user)
            .bind(digest_secret(key))
            .bind(&key[..6])
            .bind(label)
            .bind(now)
            .execute(&mut *self)
            .await?;
            Ok(key_id)
        }
    }
}

impl Store {
    /// Creates a user with one API key (returned in clear, once) and an optional opening
    /// balance booked as a top-up.
    pub async fn create_user(&self, user: &NewUser, now: i64) -> Result<(String, String)> {
        self.create_user_audited(user, now, |_| None).await
    }

    /// `create_user` with the audit row `audit` makes of the new user's id, written in
    /// the transaction that creates them (an operator's; none for `None`).
    pub async fn create_user_audited(
        &self,
        user: &NewUser,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, String)> {
        let email = normalize_email(&user.email)?;
        if user.initial_balance.is_negative() {
            return Err(StoreError::Invalid("Amount must not be negative".into()));
        }
        let user_id = new_entity_id();
        let key = new_api_key();
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let inserted = sqlx::query(
                "INSERT INTO users (id, email, name, password_hash, is_supplier, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (email) DO NOTHING",
            )
            .bind(&user_id)
            .bind(&email)
            .bind(&user.name)
            .bind(&user.password_hash)
            .bind(user.is_supplier)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if inserted.rows_affected() == 0 {
                return Err(StoreError::Conflict(format!("A user with email {email} already exists")));
            }
            tx.insert_key(&user_id, &key, "", now).await?;
            if user.initial_balance.micros() > 0 {
                tx.ledger_entry(&user_id, user.initial_balance.micros(), "topup", None, "opening balance", now)
                    .await?;
            }
            if let Some(entry) = audit(&user_id) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
        });
        Ok((user_id, key))
    }

    /// The caller behind a key, if the key exists and is not revoked.
    pub async fn authenticate(&self, key: &str) -> Result<Option<AuthUser>> {
        let digest = digest_secret(key);
        let row: Option<(String, String, String, bool, String)> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT u.id, u.email, u.status, u.is_supplier, k.id FROM api_keys k \
                 JOIN users u ON u.id = k.user_id WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
            )
            .bind(&digest)
            .fetch_optional(pool)
            .await?
        });
        Ok(
            row.map(|(user_id, email, status, is_supplier, key_id)| AuthUser {
                user_id,
                email,
                active: status == UserStatus::Active.as_str(),
                is_supplier,
                key_id,
            }),
        )
    }

    pub async fn balance(&self, user_id: &str) -> Result<Money> {
        let row: Option<(i64,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT balance FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(pool)
                .await?
        });
        row.map(|(b,)| Money::from_micros(b))
            .ok_or(StoreError::NotFound("User"))
    }

    pub async fn user_id_by_email(&self, email: &str) -> Result<Option<String>> {
        let email = normalize_email(email)?;
        let row: Option<(String,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT id FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(pool)
                .await?
        });
        Ok(row.map(|(id,)| id))
    }

    /// Credits or debits a balance through the ledger (`kind` is `topup` or `adjust`).
    /// A debit that would make the balance negative is refused and changes nothing.
    pub async fn adjust_balance(
        &self,
        user_id: &str,
        amount: Money,
        kind: &str,
        note: &str,
        now: i64,
    ) -> Result<Money> {
        self.adjust_balance_audited(user_id, amount, kind, note, now, |_, _| None)
            .await
    }

    /// The newest ledger rows of a user, newest first.
    pub async fn ledger(&self, user_id: &str, limit: i64) -> Result<Vec<LedgerEntry>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, amount, balance_after, kind, order_id, payment_id, note, created_at FROM ledger \
                 WHERE user_id = $1 ORDER BY id DESC LIMIT $2",
            )
            .bind(user_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Suspends or reactivates a user; their keys stop (or resume) working at once.
    pub async fn set_user_status(&self, user_id: &str, status: UserStatus) -> Result<Vec<Change>> {
        self.set_user_status_audited(user_id, status, 0, |_| None)
            .await
    }

    /// `set_user_status` with the audit row `audit` makes of the status before (read in
    /// the transaction), written in the transaction of the change (none for `None`).
    pub async fn set_user_status_audited(
        &self,
        user_id: &str,
        status: UserStatus,
        now: i64,
        audit: impl FnOnce(&str) -> Option<NewAuditEntry> + Send,
    ) -> Result<Vec<Change>> {
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let before: Option<(String,)> = sqlx::query_as("SELECT status FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((before,)) = before else {
                return Err(StoreError::NotFound("User"));
            };
            sqlx::query("UPDATE users SET status = $1 WHERE id = $2")
                .bind(status.as_str())
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let change = tx.bump_version(Counter::Auth).await?;
            if let Some(entry) = audit(&before) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            vec![change]
        }))
    }

    /// Revokes every key of the user and issues a new one, returned in clear once.
    pub async fn rotate_api_key(&self, user_id: &str, now: i64) -> Result<(String, Vec<Change>)> {
        self.rotate_api_key_audited(user_id, now, |_, _, _| None)
            .await
    }

    /// `rotate_api_key` with the audit row `audit` makes of the ids of the keys it
    /// revoked (read in the transaction), the new key's id and its prefix (never the
    /// key), written in the transaction of the change (none for `None`).
    pub async fn rotate_api_key_audited(
        &self,
        user_id: &str,
        now: i64,
        audit: impl FnOnce(&[String], &str, &str) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, Vec<Change>)> {
        let key = new_api_key();
        let change = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::NotFound("User"));
            }
            let revoked: Vec<(String,)> = sqlx::query_as(
                "SELECT id FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            let revoked: Vec<String> = revoked.into_iter().map(|(id,)| id).collect();
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let key_id = tx.insert_key(user_id, &key, "", now).await?;
            let change = tx.bump_version(Counter::Auth).await?;
            if let Some(entry) = audit(&revoked, &key_id, &key[..6]) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            change
        });
        Ok((key, vec![change]))
    }
}

/// `text` for a `LIKE ... ESCAPE '\'` pattern: its `%` and `_` match themselves (an
/// operator searching `a_b` finds `a_b`, not every `a?b`).
fn like_escaped(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Store {
    /// Users whose email contains `email` (all with `None`), oldest first, and the count.
    pub async fn users(
        &self,
        email: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<UserRecord>, i64)> {
        let pattern = format!(
            "%{}%",
            like_escaped(&email.unwrap_or("").trim().to_lowercase())
        );
        Ok(on_engine!(&self.db, pool => {
            let rows = sqlx::query_as(
                "SELECT id, email, name, status, is_supplier, balance, created_at FROM users \
                 WHERE email LIKE $1 ESCAPE '\\' ORDER BY created_at, id LIMIT $2 OFFSET $3",
            )
            .bind(&pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let (total,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users WHERE email LIKE $1 ESCAPE '\\'")
                .bind(&pattern)
                .fetch_one(pool)
                .await?;
            (rows, total)
        }))
    }

    pub async fn user(&self, user_id: &str) -> Result<UserRecord> {
        let row: Option<UserRecord> = on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, email, name, status, is_supplier, balance, created_at FROM users WHERE id = $1",
            )
            .bind(user_id)
            .fetch_optional(pool)
            .await?
        });
        row.ok_or(StoreError::NotFound("User"))
    }

    /// Makes a user a supplier (or not). Their cached keys are dropped everywhere, since
    /// the supplier API checks the flag.
    pub async fn set_supplier(&self, user_id: &str, supplier: bool) -> Result<Vec<Change>> {
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query("UPDATE users SET is_supplier = $1 WHERE id = $2")
                .bind(supplier)
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Err(StoreError::NotFound("User"));
            }
            let change = tx.bump_version(Counter::Auth).await?;
            tx.commit().await?;
            vec![change]
        }))
    }

    pub async fn api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, user_id, key_prefix, label, created_at, revoked_at FROM api_keys WHERE user_id = $1 \
                 ORDER BY created_at, id",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await?
        }))
    }

    /// Issues one more key for a user; returns (key id, key in clear, once).
    pub async fn create_api_key(
        &self,
        user_id: &str,
        label: &str,
        now: i64,
    ) -> Result<(String, String)> {
        self.create_api_key_audited(user_id, label, now, |_, _| None)
            .await
    }

    /// `create_api_key` with the audit row `audit` makes of the new key's id and prefix
    /// (never the key), written in the transaction that issues it (none for `None`).
    pub async fn create_api_key_audited(
        &self,
        user_id: &str,
        label: &str,
        now: i64,
        audit: impl FnOnce(&str, &str) -> Option<NewAuditEntry> + Send,
    ) -> Result<(String, String)> {
        let label = label.trim();
        if label.chars().count() > 100 {
            return Err(StoreError::Invalid(
                "label is too long (max 100 characters)".into(),
            ));
        }
        let key = new_api_key();
        let key_id = on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            tx.require_row("SELECT id FROM users WHERE id = $1", user_id, "User").await?;
            let key_id = tx.insert_key(user_id, &key, label, now).await?;
            if let Some(entry) = audit(&key_id, &key[..6]) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            key_id
        });
        Ok((key_id, key))
    }

    /// Revokes one key; it stops working on every node at once.
    pub async fn revoke_api_key(&self, key_id: &str, now: i64) -> Result<Vec<Change>> {
        self.revoke_api_key_audited(key_id, None, now, |_| None)
            .await
    }

    /// `revoke_api_key` with the audit row `audit` makes of the key's prefix (read in
    /// the transaction), written in the transaction that revokes it (none for `None`).
    /// With `owner`, a key of another user is "not found".
    pub async fn revoke_api_key_audited(
        &self,
        key_id: &str,
        owner: Option<&str>,
        now: i64,
        audit: impl FnOnce(&RevokedKey) -> Option<NewAuditEntry> + Send,
    ) -> Result<Vec<Change>> {
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let key: Option<(String, String, Option<i64>)> =
                sqlx::query_as("SELECT user_id, key_prefix, revoked_at FROM api_keys WHERE id = $1")
                    .bind(key_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            let Some((user_id, prefix, revoked_at)) = key.filter(|k| owner.is_none_or(|o| o == k.0)) else {
                return Err(StoreError::NotFound("API key"));
            };
            if revoked_at.is_some() {
                return Err(StoreError::Conflict("The API key is already revoked".into()));
            }
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(now)
                .bind(key_id)
                .execute(&mut *tx)
                .await?;
            let change = tx.bump_version(Counter::Auth).await?;
            if let Some(entry) = audit(&RevokedKey { user_id, prefix }) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            vec![change]
        }))
    }
}

/// The key a revocation found: whose it is and its shown prefix.
#[derive(Clone, Debug)]
pub struct RevokedKey {
    pub user_id: String,
    pub prefix: String,
}

/// Emails are compared in lower case; a minimal shape check keeps typos out.
pub fn normalize_email(email: &str) -> Result<String> {
    let e = email.trim().to_lowercase();
    let valid = e.len() <= 254
        && e.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !e.chars().any(char::is_whitespace);
    if valid {
        Ok(e)
    } else {
        Err(StoreError::Invalid(format!(
            "Invalid email address: {}",
            email.trim()
        )))
    }
}
