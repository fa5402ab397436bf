-- Forwarding bookkeeping (issue 5 audit): what decides whether an order may be sent
-- again, refunded by itself, or parked for the operator.

-- When the latest send began (its request may have reached the upstream from then on).
ALTER TABLE orders ADD COLUMN send_started_at BIGINT;
-- When the earliest send whose outcome was unknown began. A resend with the same
-- Idempotency-Key is safe only while the upstream still remembers the key (24 h on Souk);
-- and while it is set, the order is never refunded without the operator.
ALTER TABLE orders ADD COLUMN unknown_since BIGINT;
-- Well-formed refusals (`{"error": ...}`), counted apart from sends that failed in
-- transport, so a provider that was down does not use up an order's refusals.
ALTER TABLE orders ADD COLUMN forward_refusals BIGINT NOT NULL DEFAULT 0;
-- Consecutive status polls the upstream answered without knowing the order
-- (`Incorrect order ID`, an unknown status): past a limit the order is parked.
ALTER TABLE orders ADD COLUMN sync_misses BIGINT NOT NULL DEFAULT 0;
