//! The durable job queue (migration 0010): work that must happen after a commit lives in
//! `jobs`, inserted in the transaction of the change that needs it ([`insert_job`]). A
//! node claims due jobs with a lease, runs each, and deletes it when done
//! ([`Store::complete_job`]); a failure is retried later or, once its tries are spent,
//! parked with its error for the operator ([`Store::fail_job`]). Claims use
//! `FOR UPDATE SKIP LOCKED` on PostgreSQL and the write lock on SQLite: the statements
//! differ, so each engine's lives in its own file under `sql/`.

use crate::db::{on_engine, tx_steps, BeginWrite, EngineOf};
use crate::events::EventSteps;
use crate::operator_audit::AuditSteps;
use crate::operators::NewAuditEntry;
use crate::rows::row_struct;
use crate::{Result, Store};

/// The statement that claims a lane's due jobs (`claim_jobs`): each engine's file, with
/// the lane's condition.
fn claim(lane: Lane, engine: crate::Engine) -> String {
    let sql = match engine {
        crate::Engine::Postgres => include_str!("sql/postgres/claim_jobs.sql"),
        crate::Engine::Sqlite => include_str!("sql/sqlite/claim_jobs.sql"),
    };
    sql.replace("/* lane */", lane.condition())
}

tx_steps! {
    /// Jobs inside a write transaction: the claim every lane's runner starts with, and
    /// the end of a job whose work turned out to be gone.
    pub(crate) trait JobSteps {
        /// Claims up to `limit` due jobs of `lane` for `node` until `now + lease_ms`,
        /// counting an attempt for each.
        async fn claim_lane(&mut self, lane: Lane, node: &str, now: i64, lease_ms: i64, limit: i64) -> Result<Vec<Job>> {
            Ok(sqlx::query_as(&claim(lane, Self::ENGINE))
                .bind(node)
                .bind(now + lease_ms)
                .bind(now)
                .bind(limit)
                .fetch_all(&mut *self)
                .await?)
        }

        /// Deletes a job outright (its order or rental no longer needs it).
        async fn delete_job(&mut self, id: i64) -> Result<()> {
            sqlx::query("DELETE FROM jobs WHERE id = $1").bind(id).execute(&mut *self).await?;
            Ok(())
        }
    }
}

/// A job to enqueue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewJob {
    pub kind: String,
    /// What the job needs, as JSON.
    pub payload: String,
    /// At most one live job per (kind, key): enqueuing another is a no-op.
    pub dedupe_key: Option<String>,
    pub run_at: i64,
    pub max_attempts: i64,
    /// Inserted already claimed by this node until this time (its first try counted):
    /// the request that records upstream work sends it at once itself, and the queue
    /// takes over only if that node dies first.
    pub held_by: Option<(String, i64)>,
}

row_struct! {
    /// A job as stored.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub struct Job {
        pub id: i64,
        pub kind: String,
        pub payload: String,
        pub dedupe_key: Option<String>,
        /// `ready` or `parked`.
        pub state: String,
        pub run_at: i64,
        /// Claims so far, this one included.
        pub attempts: i64,
        pub max_attempts: i64,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

const COLUMNS: &str = "id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, \
                       last_error, created_at, updated_at";

const INSERT: &str = "INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, \
                      locked_by, locked_until, attempts, created_at, updated_at) \
                      VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $6 IS NULL THEN 0 ELSE 1 END, $8, $8) \
                      ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING \
                      RETURNING id";

/// The statement that enqueues `job` (unless a live job has its kind and dedupe key),
/// run by the caller inside its own write transaction, so the job exists exactly when
/// the change that needs it does. It returns the job's id; no row when a live job with
/// its kind and dedupe key was there already. (Built here, awaited by the caller: an
/// `async fn` generic over the executor makes its callers' futures lose `Send`.)
pub(crate) fn insert_job<'q, DB>(
    job: &'q NewJob,
    now: i64,
) -> sqlx::query::QueryAs<'q, DB, (i64,), <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    (i64,): for<'r> sqlx::FromRow<'r, DB::Row>,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let (holder, until) = match &job.held_by {
        Some((node, until)) => (Some(node.clone()), Some(*until)),
        None => (None, None),
    };
    sqlx::query_as(INSERT)
        .bind(job.kind.clone())
        .bind(job.payload.clone())
        .bind(job.dedupe_key.clone())
        .bind(job.run_at)
        .bind(job.max_attempts)
        .bind(holder)
        .bind(until)
        .bind(now)
}

/// The job that sends one order to its provider (one per order, until the upstream took
/// it or it was given up).
pub const ORDER_FORWARD: &str = "order.forward";
/// The job that polls one order the upstream holds for its status (one per open order;
/// the polls of one provider are batched, 100 orders per request).
pub const ORDER_STATUS: &str = "order.status";
/// The job that does what an upstream SMS rental needs next (poll for the code, ask for
/// another SMS, complete or cancel it there): one per rental until it is over upstream.
pub const SMS_UPSTREAM: &str = "sms.upstream";
/// Polls in a row that did not settle an order (the upstream did not know it, or its
/// answer could not be booked) before its status job is parked for the operator.
pub const MAX_STATUS_MISSES: i64 = 10;
/// The job that settles drip-feed orders whose runs are all over (one per database).
pub const DRIPFEED_SETTLE: &str = "dripfeed.settle";
/// Tries of a periodic job whose runs fail before it is parked for the operator.
const PERIODIC_TRIES: i64 = 10;

/// Which jobs a claim takes: forwarding, status polls and upstream SMS work each have a
/// runner of their own (batched, and never queued behind a long catalogue import), the
/// rest share one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// `order.forward`
    Forward,
    /// `order.status`
    Status,
    /// `sms.upstream`
    Sms,
    /// `webhook.send`, `telegram.send`, `email.send`: outside receivers that may hang
    /// must never hold up the other work.
    Deliver,
    /// Every other kind.
    Other,
}

impl Lane {
    fn condition(self) -> &'static str {
        match self {
            Lane::Forward => "kind = 'order.forward'",
            Lane::Status => "kind = 'order.status'",
            Lane::Sms => "kind = 'sms.upstream'",
            Lane::Deliver => "kind IN ('webhook.send', 'telegram.send', 'email.send')",
            Lane::Other => {
                "kind NOT IN ('order.forward', 'order.status', 'sms.upstream', \
                 'webhook.send', 'telegram.send', 'email.send')"
            }
        }
    }
}

/// `order.forward` for `order`, due at `run_at`.
pub(crate) fn forward_job(order: i64, run_at: i64) -> NewJob {
    NewJob {
        kind: ORDER_FORWARD.into(),
        payload: serde_json::json!({ "order": order }).to_string(),
        dedupe_key: Some(order.to_string()),
        run_at,
        // Forwarding counts its own sends and refusals (its payload) and decides itself
        // when to give up; this bounds nothing.
        max_attempts: 40,
        held_by: None,
    }
}

/// `order.status` for `order`, due at `run_at`.
pub(crate) fn status_job(order: i64, run_at: i64) -> NewJob {
    NewJob {
        kind: ORDER_STATUS.into(),
        payload: serde_json::json!({ "order": order }).to_string(),
        dedupe_key: Some(order.to_string()),
        run_at,
        max_attempts: MAX_STATUS_MISSES,
        held_by: None,
    }
}

/// `dripfeed.settle`, due at `run_at`.
pub(crate) fn settle_job(run_at: i64) -> NewJob {
    NewJob {
        kind: DRIPFEED_SETTLE.into(),
        payload: "{}".into(),
        dedupe_key: Some("all".into()),
        run_at,
        max_attempts: PERIODIC_TRIES,
        held_by: None,
    }
}

impl Store {
    /// Enqueues `job` on its own (most jobs are enqueued by the change that needs them).
    pub async fn enqueue_job(&self, job: &NewJob, now: i64) -> Result<Option<i64>> {
        let _gate = self.gate.enter().await;
        let id: Option<(i64,)> =
            on_engine!(&self.db, pool => insert_job(job, now).fetch_optional(pool).await?);
        Ok(id.map(|(id,)| id))
    }

    /// Claims up to `limit` due jobs of `lane` for `node` until `now + lease_ms`, counting
    /// an attempt for each. A job whose lease ran out (its node died mid-run) is due again.
    pub async fn claim_jobs(
        &self,
        lane: Lane,
        node: &str,
        now: i64,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Job>> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            // A failed claim's transaction rolls back as it is dropped, before the gate opens.
            let jobs = tx.claim_lane(lane, node, now, lease_ms, limit).await?;
            tx.commit().await?;
            Ok(jobs)
        })
    }

    /// The job is done: it is deleted, if `node` still holds it. False when its lease
    /// ran out and another node took it over meanwhile. A job woken while it ran (a
    /// payment's callback arrived) is due again at once instead.
    pub async fn complete_job(&self, id: i64, node: &str) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let done = on_engine!(&self.db, pool => {
            let deleted = sqlx::query("DELETE FROM jobs WHERE id = $1 AND locked_by = $2 AND NOT woken")
                .bind(id)
                .bind(node)
                .execute(pool)
                .await?
                .rows_affected();
            if deleted == 1 {
                1
            } else {
                sqlx::query(
                    "UPDATE jobs SET locked_by = NULL, locked_until = NULL, woken = FALSE, attempts = 0, \
                     run_at = updated_at WHERE id = $1 AND locked_by = $2",
                )
                .bind(id)
                .bind(node)
                .execute(pool)
                .await?
                .rows_affected()
            }
        });
        Ok(done == 1)
    }

    /// What a job running on `node` has done so far, for whoever runs it next should
    /// `node` die (an upstream rental's numbers). False when `node` no longer holds it.
    pub async fn record_job_progress(
        &self,
        id: i64,
        node: &str,
        payload: &str,
        now: i64,
    ) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let saved = on_engine!(&self.db, pool => {
            sqlx::query("UPDATE jobs SET payload = $1, updated_at = $2 WHERE id = $3 AND locked_by = $4")
                .bind(payload)
                .bind(now)
                .bind(id)
                .bind(node)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(saved == 1)
    }

    /// Periodic work done for now: the same job is due again at `run_at`, with all its
    /// tries, if `node` still holds it; at once if it was woken while it ran.
    pub async fn reschedule_job(&self, id: i64, node: &str, run_at: i64, now: i64) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let moved = on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, attempts = 0, last_error = NULL, \
                 run_at = CASE WHEN woken THEN $2 ELSE $1 END, woken = FALSE, updated_at = $2 \
                 WHERE id = $3 AND locked_by = $4",
            )
            .bind(run_at)
            .bind(now)
            .bind(id)
            .bind(node)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(moved == 1)
    }

    /// Every enabled API v2 provider without a `provider.sync` job gets one, due at
    /// `first_run`.
    pub async fn ensure_provider_sync_jobs(&self, first_run: i64, now: i64) -> Result<()> {
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            sqlx::query(
                "INSERT INTO jobs (kind, payload, dedupe_key, run_at, max_attempts, created_at, updated_at) \
                 SELECT 'provider.sync', '{\"provider\":\"' || id || '\"}', id, $1, 10, $2, $2 \
                 FROM providers WHERE enabled AND protocol = 'api_v2' \
                 ON CONFLICT (kind, dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING",
            )
            .bind(first_run)
            .bind(now)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Open drip-feed parents get their `dripfeed.settle` job (a no-op where it is
    /// there; for parents from before the job existed). Orders' own jobs came with them
    /// (migration 0011 gave the older ones theirs).
    pub async fn ensure_dripfeed_job(&self, now: i64) -> Result<()> {
        if !self.has_open_dripfeed_parents().await? {
            return Ok(());
        }
        let _gate = self.gate.enter().await;
        on_engine!(&self.db, pool => {
            insert_job(&settle_job(now), now).fetch_optional(pool).await?;
        });
        Ok(())
    }

    /// The job failed with `error`: it is due again at `retry_at`, or parked when `retry_at`
    /// is `None` or its tries are spent. True when it was parked.
    pub async fn fail_job(
        &self,
        id: i64,
        node: &str,
        error: &str,
        retry_at: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let state: Option<(String,)> = sqlx::query_as(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, last_error = $1, updated_at = $2, \
                 run_at = COALESCE($3, run_at), \
                 state = CASE WHEN $3 IS NULL OR attempts >= max_attempts THEN 'parked' ELSE 'ready' END \
                 WHERE id = $4 AND locked_by = $5 RETURNING state",
            )
            .bind(error)
            .bind(now)
            .bind(retry_at)
            .bind(id)
            .bind(node)
            .fetch_optional(&mut *tx)
            .await?;
            let parked = state.is_some_and(|(state,)| state == "parked");
            if parked {
                tx.job_parked(id, now).await?;
            }
            tx.commit().await?;
            Ok(parked)
        })
    }

    /// Gives back the jobs `node` holds (a node that stops): due again at once, the
    /// attempt not counted.
    pub async fn release_jobs(&self, node: &str, now: i64) -> Result<u64> {
        let _gate = self.gate.enter().await;
        Ok(on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE jobs SET locked_by = NULL, locked_until = NULL, run_at = $1, \
                 attempts = attempts - 1, updated_at = $1 WHERE locked_by = $2",
            )
            .bind(now)
            .bind(node)
            .execute(pool)
            .await?
            .rows_affected()
        }))
    }

    /// Jobs in `state` (`ready` or `parked`), oldest first.
    pub async fn jobs(&self, state: &str, limit: i64) -> Result<Vec<Job>> {
        Ok(on_engine!(&self.db, pool => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE state = $1 ORDER BY id LIMIT $2"
            ))
            .bind(state)
            .bind(limit)
            .fetch_all(pool)
            .await?
        }))
    }

    /// The operator drops a parked job for good: `None` when no parked job has this id.
    /// An order's forward or status job is refused (`Conflict`): dropping it would leave
    /// the order open with nothing to settle it, so the order is settled from its page.
    pub async fn drop_parked_job(&self, id: i64) -> Result<Option<Job>> {
        self.drop_parked_job_audited(id, 0, |_| None).await
    }

    /// `drop_parked_job` with the audit row `audit` makes of the dropped job (read in
    /// the transaction), written in the transaction that drops it (none for `None`).
    pub async fn drop_parked_job_audited(
        &self,
        id: i64,
        now: i64,
        audit: impl FnOnce(&Job) -> Option<NewAuditEntry> + Send,
    ) -> Result<Option<Job>> {
        on_engine!(&self.db, pool => {
            let mut tx = pool.begin_write(&self.gate).await?;
            let job: Option<Job> = sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM jobs WHERE id = $1 AND state = 'parked'"
            ))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some(job) = job else {
                return Ok(None);
            };
            if job.kind == ORDER_FORWARD || job.kind == ORDER_STATUS {
                return Err(crate::StoreError::Conflict(format!(
                    "Job {id} belongs to order {}: settle the order from its page",
                    job.dedupe_key.as_deref().unwrap_or("?")
                )));
            }
            tx.delete_job(id).await?;
            if let Some(entry) = audit(&job) {
                tx.audit_row(&entry, now).await?;
            }
            tx.commit().await?;
            Ok(Some(job))
        })
    }

    /// The operator sends a parked job round again: due at once, with all its tries.
    pub async fn retry_job(&self, id: i64, now: i64) -> Result<bool> {
        let _gate = self.gate.enter().await;
        let retried = on_engine!(&self.db, pool => {
            sqlx::query(
                "UPDATE jobs SET state = 'ready', run_at = $1, attempts = 0, updated_at = $1 \
                 WHERE id = $2 AND state = 'parked'",
            )
            .bind(now)
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(retried == 1)
    }
}
