//! The operator console's accounts: operators (apart from buyers), their sessions
//! (tokens kept as digests), the TOTP second factor (its secret sealed under the data
//! key) with one-time recovery codes, and the append-only audit log of their actions.

use crate::crypto::digest_secret;
use crate::db::{on_engine, BeginWrite};
use crate::operator_audit::AuditSteps;
use crate::rows::row_struct;
use crate::{Result, Store, StoreError};

row_struct! {
    /// An operator as signing in and the console see them (never the secret).
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OperatorRecord {
        pub id: String,
        pub email: String,
        pub role: String,
        pub password_hash: String,
        pub totp_enabled: bool,
        pub totp_last_step: Option<i64>,
        pub status: String,
        pub created_at: i64,
    }
}

row_struct! {
    /// The operator behind a console session cookie.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OperatorSession {
        pub operator_id: String,
        pub email: String,
        pub role: String,
        pub status: String,
        pub totp_enabled: bool,
        /// `password` (second factor still to come) or `full`.
        pub stage: String,
        pub csrf_token: String,
        pub expires_at: i64,
    }
}

row_struct! {
    /// One row of the audit log.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct AuditEntry {
        pub id: i64,
        pub operator_id: Option<String>,
        pub operator_email: String,
        pub action: String,
        pub subject: String,
        pub before_value: Option<String>,
        pub after_value: Option<String>,
        pub created_at: i64,
    }
}

/// A row to add to the audit log.
#[derive(Clone, Debug, Default)]
pub struct NewAuditEntry {
    pub operator_id: Option<String>,
    pub operator_email: String,
    pub action: String,
    pub subject: String,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// A new operator account.
#[derive(Clone, Debug)]
pub struct NewOperator {
    pub id: String,
    pub email: String,
    pub role: String,
    pub password_hash: String,
}

const OPERATOR_COLUMNS: &str =
    "id, email, role, password_hash, totp_enabled, totp_last_step, status, created_at";

impl Store {
    /// Adds an operator; an email already taken is a `Conflict`.
    pub async fn create_operator(&self, op: &NewOperator, now: i64) -> Result<()> {
        let _gate = self.gate.enter().await;
        let done: Result<()> = on_engine!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO operators (id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&op.id)
            .bind(&op.email)
            .bind(&op.role)
            .bind(&op.password_hash)
            .bind(now)
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(StoreError::from)
        });
        match done {
            Err(e) if e.is_unique_violation() => Err(StoreError::Conflict(format!(
                "an operator with the email {} exists",
                op.email
            ))),
            other => other,
        }
    }

    pub async fn operator_by_email(&self, email: &str) -> Result<Option<OperatorRecord>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE email = $1");
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(email).fetch_optional(pool).await?
        }))
    }

    pub async fn operator(&self, id: &str) -> Result<OperatorRecord> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1");
        let row: Option<OperatorRecord> = on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?
        });
        row.ok_or(StoreError::NotFound("Operator"))
    }

    pub async fn operators(&self) -> Result<Vec<OperatorRecord>> {
        let sql = format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY created_at, id");
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        }))
    }

    /// The operator's TOTP secret (base32), enrolled or being enrolled.
    pub async fn operator_totp_secret(&self, id: &str) -> Result<Option<String>> {
        let sealed: Option<(Option<Vec<u8>>,)> = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT totp_secret_sealed FROM operators WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        match sealed.and_then(|(s,)| s) {
            Some(s) => Ok(Some(self.crypto.open(&s)?)),
            None => Ok(None),
        }
    }

    /// Keeps a secret being enrolled; refused once the second factor is on.
    pub async fn set_pending_totp(&self, id: &str, secret_base32: &str) -> Result<()> {
        let sealed = self.crypto.seal(secret_base32);
        let _gate = self.gate.enter().await;
        let done = on_engine!(&self.db, pool => {
            sqlx::query("UPDATE operators SET totp_secret_sealed = $1 WHERE id = $2 AND NOT totp_enabled")
                .bind(&sealed)
                .bind(id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::Conflict("two-factor is already on".into()));
        }
        Ok(())
    }

    /// Turns the second factor on (the code for `step` was right) with fresh recovery
    /// codes (digests) and the audit row `audit` makes, in one transaction; false (and
    /// no row) when it was already on. If the row cannot be written nothing changes.
    pub async fn enable_totp_audited(
        &self,
        id: &str,
        step: i64,
        recovery: &[String],
        now: i64,
        audit: impl FnOnce() -> NewAuditEntry + Send,
    ) -> Result<bool> {
        Ok(on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query(
                "UPDATE operators SET totp_enabled = TRUE, totp_last_step = $1 \
                 WHERE id = $2 AND NOT totp_enabled AND totp_secret_sealed IS NOT NULL",
            )
            .bind(step)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM operator_recovery_codes WHERE operator_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            for code in recovery {
                sqlx::query("INSERT INTO operator_recovery_codes (operator_id, code_hash) VALUES ($1, $2)")
                    .bind(id)
                    .bind(digest_secret(code))
                    .execute(&mut *tx)
                    .await?;
            }
            tx.audit_row(&audit(), now).await?;
            tx.commit().await?;
            true
        }))
    }

    /// Records that a code of `step` was used; false when that step (or a later one)
    /// was used already, so a code is good once even on several nodes.
    pub async fn accept_totp_step(&self, id: &str, step: i64) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let done = on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE operators SET totp_last_step = $1 \
                 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
            )
            .bind(step)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// Spends a recovery code with the audit row `audit` makes from the unused codes
    /// left before and after (read in the transaction), in one transaction; false (and
    /// no row) when it is not one of the operator's unused codes. If the row cannot be
    /// written the code stays unused.
    pub async fn use_recovery_code_audited(
        &self,
        id: &str,
        code: &str,
        now: i64,
        audit: impl FnOnce(i64, i64) -> NewAuditEntry + Send,
    ) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = sqlx::query(
                "UPDATE operator_recovery_codes SET used_at = $1 \
                 WHERE operator_id = $2 AND code_hash = $3 AND used_at IS NULL",
            )
            .bind(now)
            .bind(id)
            .bind(digest_secret(code))
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done != 1 {
                return Ok(false);
            }
            let (left,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM operator_recovery_codes WHERE operator_id = $1 AND used_at IS NULL",
            )
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
            tx.audit_row(&audit(left + 1, left), now).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Unused recovery codes left.
    pub async fn recovery_codes_left(&self, id: &str) -> Result<i64> {
        let (n,): (i64,) = on_engine!(&self.db, pool => {
            sqlx::query_as("SELECT COUNT(*) FROM operator_recovery_codes WHERE operator_id = $1 AND used_at IS NULL")
                .bind(id)
                .fetch_one(pool)
                .await?
        });
        Ok(n)
    }

    /// Stores a console session under its token's digest; drops expired ones.
    pub async fn create_operator_session(
        &self,
        operator_id: &str,
        token: &str,
        csrf_token: &str,
        stage: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            sqlx::query("DELETE FROM operator_sessions WHERE expires_at <= $1")
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO operator_sessions (token_hash, operator_id, csrf_token, stage, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(digest_secret(token))
            .bind(operator_id)
            .bind(csrf_token)
            .bind(stage)
            .bind(now)
            .bind(expires_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The console session behind a cookie's token, unless it expired.
    pub async fn operator_session(&self, token: &str, now: i64) -> Result<Option<OperatorSession>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.id AS operator_id, o.email, o.role, o.status, o.totp_enabled, s.stage, s.csrf_token, s.expires_at \
                 FROM operator_sessions s JOIN operators o ON o.id = s.operator_id \
                 WHERE s.token_hash = $1 AND s.expires_at > $2",
            )
            .bind(digest_secret(token))
            .bind(now)
            .fetch_optional(pool)
            .await?
        }))
    }

    pub async fn end_operator_session(&self, token: &str) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM operator_sessions WHERE token_hash = $1")
                .bind(digest_secret(token))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Adds one row to the audit log, in a transaction of its own (for what changes
    /// nothing else: a sign-in, an enrolment; changes write theirs with `AuditSteps`).
    pub async fn append_audit(&self, entry: &NewAuditEntry, now: i64) -> Result<i64> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let id = tx.audit_row(entry, now).await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Audit rows, newest first, older than `before_id` when given; `subject` exact when
    /// given.
    pub async fn audit_log(
        &self,
        subject: Option<&str>,
        before_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<AuditEntry>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT id, operator_id, operator_email, action, subject, before_value, after_value, created_at \
                 FROM operator_audit WHERE ($1 IS NULL OR subject = $1) AND ($2 IS NULL OR id < $2) \
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(subject)
            .bind(before_id)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }
}

row_struct! {
    /// An operator as the console's operators screen lists them (never a secret): the
    /// last sign-in is read from the audit log's `operator.sign_in` rows.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct OperatorListRow {
        pub id: String,
        pub email: String,
        pub role: String,
        pub totp_enabled: bool,
        pub status: String,
        pub created_at: i64,
        pub last_sign_in: Option<i64>,
    }
}

/// A change an owner makes to an operator account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorChange {
    /// `owner`, `admin` or `support`.
    Role(String),
    /// `active` or `disabled`; disabling also ends the operator's sessions.
    Status(String),
    /// Forgets the second factor and the recovery codes and ends the sessions: the
    /// next sign-in enrols again.
    ResetTotp,
    /// Signs the operator out everywhere.
    EndSessions,
}

/// The last active owner may not stop being one (an installation nobody can manage).
pub const LAST_OWNER: &str = "The last active owner must stay an active owner";

impl Store {
    /// Every operator with their last sign-in, oldest account first.
    pub async fn operator_list(&self) -> Result<Vec<OperatorListRow>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(
                "SELECT o.id, o.email, o.role, o.totp_enabled, o.status, o.created_at, \
                 (SELECT MAX(a.created_at) FROM operator_audit a \
                  WHERE a.subject = 'operator:' || o.id AND a.action = 'operator.sign_in') AS last_sign_in \
                 FROM operators o ORDER BY o.created_at, o.id",
            )
            .fetch_all(pool)
            .await?
        }))
    }

    /// Applies `change` to operator `id` with its audit row, made by `audit` from the
    /// record before and after (both read in the transaction), in one transaction.
    /// Refused (`Invalid`, nothing changed) when it would leave no active owner, or
    /// when it changes nothing; an unknown operator is `NotFound`.
    pub async fn change_operator_audited(
        &self,
        id: &str,
        change: &OperatorChange,
        now: i64,
        audit: impl FnOnce(&OperatorRecord, &OperatorRecord, u64) -> NewAuditEntry + Send,
    ) -> Result<OperatorRecord> {
        let select = format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE id = $1");
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            if matches!(change, OperatorChange::Role(_) | OperatorChange::Status(_)) {
                // Every active owner's row locked first, so two owners demoting each
                // other at once cannot both pass the count below (PostgreSQL; SQLite
                // writes one at a time anyway).
                sqlx::query("UPDATE operators SET role = role WHERE role = 'owner' AND status = 'active'")
                    .execute(&mut *tx)
                    .await?;
            }
            let before: Option<OperatorRecord> = sqlx::query_as(&select)
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some(before) = before else {
                return Err(StoreError::NotFound("Operator"));
            };
            let (role, status) = match change {
                OperatorChange::Role(r) => (r.as_str(), before.status.as_str()),
                OperatorChange::Status(s) => (before.role.as_str(), s.as_str()),
                _ => (before.role.as_str(), before.status.as_str()),
            };
            let was_owner = before.role == "owner" && before.status == "active";
            if was_owner && !(role == "owner" && status == "active") {
                let (others,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM operators WHERE role = 'owner' AND status = 'active' AND id <> $1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
                if others == 0 {
                    return Err(StoreError::Invalid(LAST_OWNER.into()));
                }
            }
            let mut sessions_ended = 0;
            match change {
                OperatorChange::Role(r) => {
                    if *r == before.role {
                        return Err(StoreError::Invalid("The operator has this role already".into()));
                    }
                    sqlx::query("UPDATE operators SET role = $1 WHERE id = $2")
                        .bind(r)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                OperatorChange::Status(s) => {
                    if *s == before.status {
                        return Err(StoreError::Invalid(if s == "active" {
                            "The operator is active already".into()
                        } else {
                            "The operator is disabled already".into()
                        }));
                    }
                    sqlx::query("UPDATE operators SET status = $1 WHERE id = $2")
                        .bind(s)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                OperatorChange::ResetTotp => {
                    sqlx::query(
                        "UPDATE operators SET totp_enabled = FALSE, totp_secret_sealed = NULL, totp_last_step = NULL \
                         WHERE id = $1",
                    )
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    sqlx::query("DELETE FROM operator_recovery_codes WHERE operator_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                OperatorChange::EndSessions => {}
            }
            if !matches!(change, OperatorChange::Role(_))
                && !matches!(change, OperatorChange::Status(s) if s == "active")
            {
                sessions_ended = sqlx::query("DELETE FROM operator_sessions WHERE operator_id = $1 AND expires_at > $2")
                    .bind(id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            let after: OperatorRecord = sqlx::query_as(&select)
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            tx.audit_row(&audit(&before, &after, sessions_ended), now).await?;
            tx.commit().await?;
            Ok(after)
        })
    }
}
