-- Maps pgbench's client number to a buyer, a product of its own and its shop, on a
-- database seeded by `souk-bench seed-orders` (bench/pgbench-sale/run.sh).
CREATE TABLE bench_map AS
SELECT (row_number() OVER (ORDER BY u.email) - 1)::int AS n, u.id AS user_id
FROM users u WHERE u.email LIKE 'buyer%';
ALTER TABLE bench_map ADD COLUMN sub_id text, ADD COLUMN service bigint, ADD COLUMN shop_id text;
WITH s AS (
  SELECT (row_number() OVER (ORDER BY service_number DESC) - 1)::int AS n, id, service_number,
         (SELECT shop_id FROM services WHERE number = service_number) AS shop
  FROM subproducts)
UPDATE bench_map b SET sub_id = s.id, service = s.service_number, shop_id = s.shop FROM s WHERE s.n = b.n;
-- Enough for every run: the balance is not what is measured.
UPDATE users SET balance = 1000000000000000 WHERE email LIKE 'buyer%';
CHECKPOINT;
