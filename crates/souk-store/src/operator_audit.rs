//! Operator actions with their audit row written in the transaction of the change it
//! records: the log can neither miss a change that happened (the row failed after the
//! commit) nor show one that did not (the change failed after the row). If the row
//! cannot be written the change rolls back with it.
//!
//! Each action takes what to write as a closure of what the change found or made (the
//! balance before and after, the decided dispute), so before and after are read inside
//! the same transaction too, not around it.

use souk_core::Money;

use crate::db::{on_engine, tx_steps, BeginWrite};
use crate::disputes::{Dispute, DisputeDecision};
use crate::operators::{NewAuditEntry, NewOperator};
use crate::users::Ledger;
use crate::{Result, Store, StoreError};

tx_steps! {
    /// The audit log inside the transaction of the change.
    pub(crate) trait AuditSteps {
        /// Adds one row to the audit log; its id.
        async fn audit_row(&mut self, entry: &NewAuditEntry, now: i64) -> Result<i64> {
            let (id,): (i64,) = sqlx::query_as(
                "INSERT INTO operator_audit (operator_id, operator_email, action, subject, before_value, after_value, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&entry.operator_id)
            .bind(&entry.operator_email)
            .bind(&entry.action)
            .bind(&entry.subject)
            .bind(&entry.before)
            .bind(&entry.after)
            .bind(now)
            .fetch_one(&mut *self)
            .await?;
            Ok(id)
        }
    }
}

impl Store {
    /// `create_operator` with its audit row; an email already taken is a `Conflict`.
    pub async fn create_operator_audited(
        &self,
        op: &NewOperator,
        audit: &NewAuditEntry,
        now: i64,
    ) -> Result<()> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let inserted = sqlx::query(
                "INSERT INTO operators (id, email, role, password_hash, created_at) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&op.id)
            .bind(&op.email)
            .bind(&op.role)
            .bind(&op.password_hash)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::from);
            match inserted {
                Err(e) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict(format!(
                        "an operator with the email {} exists",
                        op.email
                    )))
                }
                other => other?,
            };
            tx.audit_row(audit, now).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// `adjust_balance` with the audit row `audit` makes of the balance before and after
    /// (both read in the transaction; none for `None`). A debit below zero changes nothing.
    pub async fn adjust_balance_audited(
        &self,
        user_id: &str,
        amount: Money,
        kind: &str,
        note: &str,
        now: i64,
        audit: impl FnOnce(Money, Money) -> Option<NewAuditEntry> + Send,
    ) -> Result<Money> {
        if amount.micros() == 0 {
            return Err(StoreError::Invalid("Amount must not be zero".into()));
        }
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let Some(after) = tx.ledger_entry(user_id, amount.micros(), kind, None, note, now).await? else {
                let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                return Err(match exists {
                    None => StoreError::NotFound("User"),
                    Some(_) => StoreError::Invalid("The balance cannot go below zero".into()),
                });
            };
            let (before, after) = (Money::from_micros(after - amount.micros()), Money::from_micros(after));
            if let Some(entry) = audit(before, after) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(after)
        })
    }

    /// `retry_job` with its audit row (written only when the job was parked and is
    /// retried).
    pub async fn retry_job_audited(
        &self,
        id: i64,
        audit: &NewAuditEntry,
        now: i64,
    ) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            // As `retry_job`: due at once, with all its tries.
            let retried = sqlx::query(
                "UPDATE jobs SET state = 'ready', run_at = $1, attempts = 0, updated_at = $1 \
                 WHERE id = $2 AND state = 'parked'",
            )
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if retried != 1 {
                return Ok(false);
            }
            tx.audit_row(audit, now).await?;
            tx.commit().await?;
            Ok(true)
        })
    }

    /// `resolve_dispute` with its audit row, made by `audit` from the decided dispute.
    pub async fn resolve_dispute_audited(
        &self,
        id: &str,
        decision: DisputeDecision,
        resolution: &str,
        now: i64,
        audit: impl FnOnce(&Dispute) -> NewAuditEntry + Send,
    ) -> Result<Dispute> {
        self.decide_dispute(id, decision, resolution, now, |d| Some(audit(d)))
            .await
    }
}
