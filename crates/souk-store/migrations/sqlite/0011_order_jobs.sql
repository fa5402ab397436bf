-- Forwarding, status sync and upstream SMS work move onto the job queue. What an order needs from its
-- upstream is a job now: `order.forward` (one per order until the upstream took it or it
-- was given up; its lease is the claim and the send's lease, its payload the sends and
-- refusals so far, its last error the last try's) and `order.status` (one per open order
-- the upstream holds; due at the next poll; its attempts are the polls in a row that did
-- not settle it, and it is parked for the operator when they are spent). Eleven columns of
-- bookkeeping leave `orders`. One fact stays: `sent_at`, when a request that may have
-- placed the order upstream first left (NULL while the upstream surely does not hold it),
-- which decides whether the buyer may still cancel and whether a resend must carry the
-- same idempotency key. The twin of this file for the other engine must stay equivalent.

ALTER TABLE orders ADD COLUMN sent_at BIGINT;
UPDATE orders SET sent_at = COALESCE(unknown_since, send_started_at, updated_at)
WHERE forward_state IN ('sending', 'sent', 'unknown') OR unknown_since IS NOT NULL OR external_id IS NOT NULL;

-- Orders still to send (an unknown outcome parked for the operator stays parked).
INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, max_attempts, last_error, created_at, updated_at)
SELECT 'order.forward',
       '{"order":' || id || ',"sends":' || forward_attempts || ',"refusals":' || forward_refusals || '}',
       CAST(id AS TEXT),
       CASE WHEN forward_state = 'unknown' THEN 'parked' ELSE 'ready' END,
       COALESCE(next_attempt_at, updated_at), 0, 40, last_error, created_at, updated_at
FROM orders
WHERE forward_state IN ('queued', 'sending') OR (forward_state = 'unknown' AND external_id IS NULL);

-- Open orders the upstream holds, each polled by its own job.
INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, max_attempts, last_error, created_at, updated_at)
SELECT 'order.status', '{"order":' || id || '}', CAST(id AS TEXT),
       CASE WHEN forward_state = 'unknown' THEN 'parked' ELSE 'ready' END,
       COALESCE(next_sync_at, updated_at), sync_misses, 10, last_error, created_at, updated_at
FROM orders
WHERE external_id IS NOT NULL AND external_id <> 'local-dripfeed'
  AND status IN ('pending', 'processing', 'error') AND forward_state IN ('sent', 'unknown');

-- The per-provider poller these replace, and the named leases that kept it to one node.
DELETE FROM jobs WHERE kind = 'provider.status';
DROP TABLE worker_leases;
-- Claims by lane (forwarding, status, the rest) read the due jobs of one kind.
CREATE INDEX jobs_kind_due ON jobs (kind, run_at) WHERE state = 'ready';
-- What waits for the operator (orders stuck, the jobs list) is read without a scan.
CREATE INDEX jobs_parked ON jobs (id) WHERE state = 'parked';

DROP INDEX orders_forward;
DROP INDEX orders_sync;
ALTER TABLE orders DROP COLUMN forward_state;
ALTER TABLE orders DROP COLUMN forward_attempts;
ALTER TABLE orders DROP COLUMN next_attempt_at;
ALTER TABLE orders DROP COLUMN lease_owner;
ALTER TABLE orders DROP COLUMN lease_until;
ALTER TABLE orders DROP COLUMN last_error;
ALTER TABLE orders DROP COLUMN next_sync_at;
ALTER TABLE orders DROP COLUMN send_started_at;
ALTER TABLE orders DROP COLUMN unknown_since;
ALTER TABLE orders DROP COLUMN forward_refusals;
ALTER TABLE orders DROP COLUMN sync_misses;

-- Upstream SMS rentals' work moves onto the queue the same way: one `sms.upstream` job
-- per rental still open at its provider (its payload the next action: poll for the code,
-- ask for another SMS, complete or cancel), and six columns leave `sms_activations`.
INSERT INTO jobs (kind, payload, dedupe_key, state, run_at, attempts, max_attempts, last_error, created_at, updated_at)
SELECT 'sms.upstream',
       '{"activation":' || order_id || ',"action":"' ||
         CASE upstream_state WHEN 'open' THEN 'poll' ELSE upstream_state END || '"}',
       CAST(order_id AS TEXT), 'ready', COALESCE(next_poll_at, updated_at), upstream_attempts, 10,
       last_error, created_at, updated_at
FROM sms_activations
WHERE upstream_state IN ('open', 'retry', 'complete', 'cancel');

DROP INDEX sms_activations_upstream;
ALTER TABLE sms_activations DROP COLUMN upstream_state;
ALTER TABLE sms_activations DROP COLUMN next_poll_at;
ALTER TABLE sms_activations DROP COLUMN lease_owner;
ALTER TABLE sms_activations DROP COLUMN lease_until;
ALTER TABLE sms_activations DROP COLUMN upstream_attempts;
ALTER TABLE sms_activations DROP COLUMN last_error;
