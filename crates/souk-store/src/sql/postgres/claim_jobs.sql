-- Claims due jobs of one lane (its condition on `kind` is filled in by the
-- store) for one node ($1) until $2, at $3, at most $4: rows another node is
-- claiming at this moment are skipped, never waited for.
UPDATE jobs SET locked_by = $1, locked_until = $2, attempts = attempts + 1, updated_at = $3, woken = FALSE
WHERE id IN (
    SELECT id FROM jobs
    WHERE state = 'ready' AND run_at <= $3 AND (locked_until IS NULL OR locked_until <= $3)
      AND /* lane */
    ORDER BY run_at, id
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING id, kind, payload, dedupe_key, state, run_at, attempts, max_attempts, last_error,
          created_at, updated_at
