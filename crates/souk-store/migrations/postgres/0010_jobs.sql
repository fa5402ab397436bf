-- The durable job queue: work that must happen after a commit (a call upstream, a sync)
-- is a row here, inserted in the same transaction as the change that needs it. A node
-- claims due jobs (FOR UPDATE SKIP LOCKED on PostgreSQL, the write lock on SQLite) with a
-- lease, runs each, and deletes it when done; a failure is retried with backoff and,
-- once its tries are spent, parked with its last error for the operator. A job's failure
-- stays with it: other jobs run on. The twin of this file for the other engine must stay
-- equivalent.
CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    -- At most one live job per (kind, dedupe_key): a second enqueue is a no-op.
    dedupe_key    TEXT,
    state         TEXT NOT NULL DEFAULT 'ready' CHECK (state IN ('ready', 'parked')),
    run_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    locked_by     TEXT,
    locked_until  BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX jobs_dedupe ON jobs (kind, dedupe_key) WHERE dedupe_key IS NOT NULL;
CREATE INDEX jobs_due ON jobs (run_at) WHERE state = 'ready';
