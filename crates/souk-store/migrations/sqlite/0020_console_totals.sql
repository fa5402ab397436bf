-- The dashboard's sums per UTC day, a cache of the orders table kept by
-- `Store::refresh_console_totals` (crates/souk-store/src/console_totals.rs): it folds in
-- the days of orders changed since `console_totals_mark` when the dashboard is read, not
-- in the order's own transaction, so placing and settling orders pays nothing for it.
-- Per day, kind, status, provider and shop ('' for none):
CREATE TABLE console_day_totals (
    day          BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    status       TEXT NOT NULL,
    provider_id  TEXT NOT NULL,
    shop_id      TEXT NOT NULL,
    orders       BIGINT NOT NULL,
    revenue      BIGINT NOT NULL,
    cost         BIGINT NOT NULL,
    PRIMARY KEY (day, kind, status, provider_id, shop_id)
) WITHOUT ROWID;
-- Per day and service (the top products).
CREATE TABLE console_day_services (
    day             BIGINT NOT NULL,
    service_number  BIGINT NOT NULL,
    orders          BIGINT NOT NULL,
    revenue         BIGINT NOT NULL,
    cost            BIGINT NOT NULL,
    PRIMARY KEY (day, service_number)
) WITHOUT ROWID;
-- The newest `orders.updated_at` folded in.
CREATE TABLE console_totals_mark (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    updated_at  BIGINT NOT NULL
);

INSERT INTO console_day_totals (day, kind, status, provider_id, shop_id, orders, revenue, cost)
SELECT created_at / 86400000, kind, status, COALESCE(provider_id, ''), COALESCE(shop_id, ''),
       COUNT(*), SUM(charge - refunded), SUM(COALESCE(provider_cost, 0))
FROM orders GROUP BY 1, 2, 3, 4, 5;
INSERT INTO console_day_services (day, service_number, orders, revenue, cost)
SELECT created_at / 86400000, service_number, COUNT(*), SUM(charge - refunded), SUM(COALESCE(provider_cost, 0))
FROM orders WHERE service_number IS NOT NULL GROUP BY 1, 2;
INSERT INTO console_totals_mark (id, updated_at) VALUES (1, COALESCE((SELECT MAX(updated_at) FROM orders), 0));

-- What changed since the mark, and on which days, from this index alone. The wide
-- covering `orders_created` the dashboard summed from (rewritten by every change of
-- status, refund, cost or provider) becomes a narrow one for the lists' date and status
-- filters, so an order's writes keep about the index work they had.
DROP INDEX orders_created;
CREATE INDEX orders_created ON orders (created_at, status);
CREATE INDEX orders_updated ON orders (updated_at, created_at);
-- Payments in per day: the deposits alone, not every ledger row of the period.
CREATE INDEX ledger_deposits ON ledger (created_at, amount) WHERE kind = 'deposit';
