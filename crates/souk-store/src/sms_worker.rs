//! What the SMS workers do in the store: end activations whose lifetime is over (refund
//! the ones without a code, complete the others), and run upstream rentals' work as
//! `sms.upstream` jobs (one per rental until it is over upstream: its payload says what
//! is next, its lease keeps other nodes off, its attempts count the failures in a row).
//! Both are safe with several nodes: every change is a conditional update, so whichever
//! node gets there first does it and the others find nothing to do.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use souk_core::sms::SIGNATURE_TOLERANCE_MS;

use crate::db::{on_engine, BeginWrite};
use crate::events::EventSteps;
use crate::jobs::{JobSteps, Lane, NewJob, SMS_UPSTREAM};
use crate::sms::SmsSteps;
use crate::{Result, Store};

/// Activations a sweep ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Expired without a code, refunded in full.
    pub expired: Vec<i64>,
    /// Lifetime over after a code: completed, number released.
    pub completed: Vec<i64>,
}

/// What an upstream rental needs next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamAction {
    /// `getStatus`: is the code there?
    Poll,
    /// `setStatus=3`: the buyer wants another SMS.
    Retry,
    /// `setStatus=6`: done.
    Complete,
    /// `setStatus=8`: cancel, the buyer was refunded.
    Cancel,
}

impl UpstreamAction {
    fn name(self) -> &'static str {
        match self {
            UpstreamAction::Poll => "poll",
            UpstreamAction::Retry => "retry",
            UpstreamAction::Complete => "complete",
            UpstreamAction::Cancel => "cancel",
        }
    }

    fn parse(name: &str) -> Option<UpstreamAction> {
        Some(match name {
            "poll" => UpstreamAction::Poll,
            "retry" => UpstreamAction::Retry,
            "complete" => UpstreamAction::Complete,
            "cancel" => UpstreamAction::Cancel,
            _ => return None,
        })
    }
}

/// An `sms.upstream` job's payload. Written only by [`sms_payload`], so equal work is an
/// equal string: a conditional update can compare payloads.
#[derive(Serialize, Deserialize)]
struct SmsPayload {
    activation: i64,
    action: String,
}

/// The payload of the job that does `action` for the rental `order`.
pub(crate) fn sms_payload(order: i64, action: UpstreamAction) -> String {
    serde_json::to_string(&SmsPayload {
        activation: order,
        action: action.name().into(),
    })
    .unwrap_or_default()
}

/// The `sms.upstream` job of the rental `order`, doing `action` at `run_at`.
pub(crate) fn sms_job(order: i64, action: UpstreamAction, run_at: i64) -> NewJob {
    NewJob {
        kind: SMS_UPSTREAM.into(),
        payload: sms_payload(order, action),
        dedupe_key: Some(order.to_string()),
        run_at,
        max_attempts: MAX_UPSTREAM_ATTEMPTS,
        held_by: None,
    }
}

/// One upstream rental's work, claimed by this node until its lease ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamJob {
    pub job_id: i64,
    pub order_id: i64,
    pub provider_id: String,
    pub external_id: String,
    pub action: UpstreamAction,
    /// Failures in a row before this try.
    pub attempts: i64,
}

/// How an upstream rental's try ended ([`Store::sms_upstream_release`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpstreamNext {
    /// More work: `action` at the time given.
    Then(UpstreamAction, i64),
    /// Nothing more to do upstream.
    Closed,
    /// Given up (tries spent, provider gone): parked with the error for the operator.
    GiveUp,
}

/// After this many failed attempts to complete or cancel upstream, give up (the
/// provider ends the rental on its own when its lifetime is over).
pub const MAX_UPSTREAM_ATTEMPTS: i64 = 10;

impl Store {
    /// Ends up to `limit` activations whose lifetime is over, each in its own
    /// transaction, and forgets webhook signatures too old to be replayed.
    pub async fn sms_sweep(&self, now: i64, limit: i64) -> Result<SweepReport> {
        // One query per status, so each uses its partial index.
        let due: Vec<(i64, String)> = on_engine!(&self.db, pool => {
            let mut due: Vec<(i64, String)> = sqlx::query_as(
                "SELECT order_id, status FROM sms_activations WHERE status = 'active' AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            let completing: Vec<(i64, String)> = sqlx::query_as(
                "SELECT order_id, status FROM sms_activations WHERE status = 'code_received' AND expires_at <= $1 \
                 ORDER BY expires_at LIMIT $2",
            )
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await?;
            due.extend(completing);
            due
        });
        let mut report = SweepReport::default();
        for (order_id, status) in due {
            let ended = on_engine!(&self.db, pool => {
                let mut tx = pool.begin_write(&self.gate).await?;
                let ended = if status == "active" {
                    let ended = sqlx::query(
                        "UPDATE sms_activations SET status = 'expired', updated_at = $1 \
                         WHERE order_id = $2 AND status = 'active' AND expires_at <= $1",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if ended {
                        tx.refund_activation(order_id, "expired without an SMS", now).await?;
                        tx.sms_changed(order_id, souk_core::event::SMS_EXPIRED, now).await?;
                    }
                    ended
                } else {
                    let ended = sqlx::query(
                        "UPDATE sms_activations SET status = 'completed', awaiting_retry = FALSE, updated_at = $1 \
                         WHERE order_id = $2 AND status = 'code_received' AND expires_at <= $1",
                    )
                    .bind(now)
                    .bind(order_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if ended {
                        tx.release_activation(order_id, UpstreamAction::Complete, now).await?;
                    }
                    ended
                };
                tx.commit().await?;
                ended
            });
            if ended {
                if status == "active" {
                    report.expired.push(order_id);
                } else {
                    report.completed.push(order_id);
                }
            }
        }
        on_engine!(&self.db, pool => {
            sqlx::query("DELETE FROM webhook_replays WHERE created_at < $1")
                .bind(now - 2 * SIGNATURE_TOLERANCE_MS - 60_000)
                .execute(pool)
                .await?;
        });
        Ok(report)
    }

    /// Claims up to `limit` upstream rentals' jobs that are due, for `lease_ms`. A poll
    /// waits while its activation cannot get a code (a code is in and no other SMS was
    /// asked for): it is due again at the activation's end. A job whose rental is gone
    /// or over is dropped.
    pub async fn sms_claim_upstream(
        &self,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<UpstreamJob>> {
        type Row = (i64, Option<String>, Option<String>, String, bool, i64);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let jobs = tx.claim_lane(Lane::Sms, node, now, lease_ms, limit).await?;
            if jobs.is_empty() {
                tx.rollback().await?;
                return Ok(Vec::new());
            }
            let mut work: HashMap<i64, (i64, Option<UpstreamAction>, i64)> = HashMap::new();
            for job in &jobs {
                let payload = serde_json::from_str::<SmsPayload>(&job.payload).ok();
                let order = payload.as_ref().map_or(-1, |p| p.activation);
                work.insert(order, (job.id, payload.and_then(|p| UpstreamAction::parse(&p.action)), job.attempts));
            }
            let list = crate::db::id_list(work.keys().copied());
            let rows: Vec<Row> = sqlx::query_as(&format!(
                "SELECT order_id, provider_id, external_id, status, awaiting_retry, expires_at \
                 FROM sms_activations WHERE order_id IN ({list})"
            ))
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
            let mut claimed = Vec::new();
            for (order_id, provider, external, status, awaiting_retry, expires_at) in rows {
                let Some((job_id, action, attempts)) = work.remove(&order_id) else { continue };
                let (Some(provider_id), Some(external_id), Some(action)) = (provider, external, action) else {
                    work.insert(order_id, (job_id, None, attempts));
                    continue;
                };
                if action == UpstreamAction::Poll
                    && !(status == "active" || (status == "code_received" && awaiting_retry))
                {
                    if status == "code_received" {
                        sqlx::query(
                            "UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = $1, attempts = attempts - 1 \
                             WHERE id = $2",
                        )
                        .bind(expires_at.max(now))
                        .bind(job_id)
                        .execute(&mut *tx)
                        .await?;
                    } else {
                        // Over here; nothing to poll for.
                        work.insert(order_id, (job_id, None, attempts));
                    }
                    continue;
                }
                claimed.push(UpstreamJob { job_id, order_id, provider_id, external_id, action, attempts: attempts - 1 });
            }
            for (job_id, _, _) in work.into_values() {
                tx.delete_job(job_id).await?;
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// Ends this node's claim on an upstream rental's job as `next` says, recording
    /// `error` (a failure in a row more) or clearing it. If something else moved the
    /// rental on meanwhile (a cancel queued while a poll was in flight), that newer work
    /// and its time win: the job is only let go.
    pub async fn sms_upstream_release(
        &self,
        job: &UpstreamJob,
        node: &str,
        next: UpstreamNext,
        error: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let claimed = sms_payload(job.order_id, job.action);
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let done = match next {
                UpstreamNext::Closed => sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2 AND payload = $3")
                    .bind(job.job_id)
                    .bind(node)
                    .bind(&claimed)
                    .execute(&mut *tx)
                    .await?,
                UpstreamNext::GiveUp => sqlx::query(
                    "UPDATE jobs SET state = 'parked', locked_by = NULL, locked_until = NULL, last_error = $1, updated_at = $2 \
                     WHERE id = $3 AND locked_by = $4 AND payload = $5",
                )
                .bind(error.unwrap_or("given up"))
                .bind(now)
                .bind(job.job_id)
                .bind(node)
                .bind(&claimed)
                .execute(&mut *tx)
                .await?,
                UpstreamNext::Then(action, at) => sqlx::query(
                    "UPDATE jobs SET payload = $1, run_at = $2, locked_by = NULL, locked_until = NULL, last_error = $3, \
                     attempts = CASE WHEN $3 IS NULL THEN 0 ELSE attempts END, updated_at = $4 \
                     WHERE id = $5 AND locked_by = $6 AND payload = $7",
                )
                .bind(sms_payload(job.order_id, action))
                .bind(at)
                .bind(error)
                .bind(now)
                .bind(job.job_id)
                .bind(node)
                .bind(&claimed)
                .execute(&mut *tx)
                .await?,
            }
            .rows_affected();
            if done == 1 && matches!(next, UpstreamNext::GiveUp) {
                tx.job_parked(job.job_id, now).await?;
            }
            if done == 0 {
                sqlx::query(
                    "UPDATE jobs SET locked_by = NULL, locked_until = NULL, attempts = 0, updated_at = $1 \
                     WHERE id = $2 AND locked_by = $3",
                )
                .bind(now)
                .bind(job.job_id)
                .bind(node)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
