-- The call whose failures a provider's run of failures counts (`sync`, `send`,
-- `status`): only that call working again ends the run, so working syncs do not hide
-- sends that keep failing.
ALTER TABLE providers ADD COLUMN failing_call TEXT;
UPDATE providers SET failing_call = 'sync' WHERE failing_since IS NOT NULL;

-- Lighter events, since a listened-to buyer's sale writes one: an event not yet handed
-- out has no `dispatch_seq`, and is in no index of it; the newest events of an audience
-- are read by tests alone, which need no index of their own.
DROP INDEX events_dispatch;
CREATE UNIQUE INDEX events_dispatch ON events (dispatch_seq) WHERE dispatch_seq IS NOT NULL;
DROP INDEX events_audience;
