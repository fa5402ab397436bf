-- Upstream providers (issue 5): what forwarding, status sync, import and refills need
-- beyond the initial schema.

-- The provider honours Idempotency-Key (another Souk does): an order whose send had an
-- unknown outcome may be sent again with the same key instead of waiting for the operator.
ALTER TABLE providers ADD COLUMN supports_idempotency BOOLEAN NOT NULL DEFAULT FALSE;
-- The local shop that imported services and products belong to.
ALTER TABLE providers ADD COLUMN shop_id TEXT REFERENCES shops(id);

-- How an imported service is priced from the provider's rate.
ALTER TABLE services ADD COLUMN provider_markup_bp BIGINT;
ALTER TABLE services ADD COLUMN provider_round BIGINT;

ALTER TABLE provider_services ADD COLUMN entity TEXT NOT NULL DEFAULT 'smm';
ALTER TABLE provider_services ADD COLUMN stock BIGINT;

-- When an order completed (refill windows count from it).
ALTER TABLE orders ADD COLUMN completed_at BIGINT;

ALTER TABLE refills ADD COLUMN provider_id TEXT REFERENCES providers(id);
ALTER TABLE refills ADD COLUMN last_error TEXT;
