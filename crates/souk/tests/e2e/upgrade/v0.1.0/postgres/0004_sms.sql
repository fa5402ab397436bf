-- SMS verification, second step: what renting, receiving and upstream providers need
-- beyond the tables of 0001. The SQLite twin of this file must stay equivalent.

-- The country's number in the sms-activate protocol (0 Russia, 187 USA, 16 UK, ...):
-- what `/stubs/handler_api.php` clients send and what upstream providers expect.
ALTER TABLE sms_countries ADD COLUMN activate_id BIGINT;
CREATE UNIQUE INDEX sms_countries_activate ON sms_countries (activate_id) WHERE activate_id IS NOT NULL;

-- Least recently rented first, so a pool wears evenly.
ALTER TABLE sms_numbers ADD COLUMN last_rented_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX sms_numbers_free ON sms_numbers (country_code, last_rented_at, phone) WHERE current_order IS NULL AND active;

-- When the current code arrived, and whether the buyer asked for another SMS
-- (sms-activate `setStatus=3`).
ALTER TABLE sms_activations ADD COLUMN code_at BIGINT;
ALTER TABLE sms_activations ADD COLUMN awaiting_retry BOOLEAN NOT NULL DEFAULT FALSE;
-- Upstream rentals: what we still owe the provider (poll for the code, ask for another
-- SMS, complete, cancel), claimed by one node at a time with a lease.
ALTER TABLE sms_activations ADD COLUMN upstream_state TEXT NOT NULL DEFAULT 'none'
    CHECK (upstream_state IN ('none', 'open', 'retry', 'complete', 'cancel', 'closed'));
ALTER TABLE sms_activations ADD COLUMN next_poll_at BIGINT;
ALTER TABLE sms_activations ADD COLUMN lease_owner TEXT;
ALTER TABLE sms_activations ADD COLUMN lease_until BIGINT;
ALTER TABLE sms_activations ADD COLUMN upstream_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE sms_activations ADD COLUMN last_error TEXT;
CREATE INDEX sms_activations_upstream ON sms_activations (next_poll_at)
    WHERE upstream_state IN ('open', 'retry', 'complete', 'cancel');
CREATE INDEX sms_activations_received ON sms_activations (expires_at) WHERE status = 'code_received';
CREATE INDEX sms_activations_number ON sms_activations (number_id, project_id);

CREATE INDEX sms_messages_phone ON sms_messages (phone, id);
CREATE INDEX webhook_replays_created ON webhook_replays (created_at);
