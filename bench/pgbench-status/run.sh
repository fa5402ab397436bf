#!/usr/bin/env bash
# `status` of ten orders against `balance` inside PostgreSQL alone, without the HTTP server:
# pgbench replays each query on a database seeded by `souk-bench seed-orders` (32 buyers,
# 20,000 orders of history, vacuumed and analysed), each client asking after its buyer's
# ten latest orders. Every script reads the client's buyer and ids once (`\gset`), then
# runs its query five times, so the ratio of two scripts' rates is close to the ratio of
# their queries' costs.
#
# Usage: SOUK_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/pgbench-status/run.sh
#   SOUK_BENCH_ROUNDS (3)  SOUK_BENCH_SECONDS (5)
# Needs pgbench and psql, and souk-bench built (cargo build --release -p souk-bench).
set -euo pipefail
cd "$(dirname "$0")"
export PGOPTIONS="-c client_min_messages=warning"
PG_URL=${SOUK_BENCH_PG_URL:?set SOUK_BENCH_PG_URL}
ROUNDS=${SOUK_BENCH_ROUNDS:-3}
SECONDS_EACH=${SOUK_BENCH_SECONDS:-5}
BENCH="${CARGO_TARGET_DIR:-$PWD/../../target}/release/souk-bench"
DB="souk_pgbench_status_$$"
WORK=$(mktemp -d)
trap 'psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
URL="${PG_URL%/*}/$DB"
psql "$PG_URL" -qc "CREATE DATABASE $DB" >/dev/null
SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  "$BENCH" seed-orders --database-url "$URL" --lines 2000 --products 32 --buyers 32 --history 20000 >/dev/null
psql "$URL" -q >/dev/null <<'SQL'
CREATE TABLE bench_map AS SELECT (row_number() OVER (ORDER BY u.email) - 1)::int AS n, u.id AS user_id
FROM users u WHERE u.email LIKE 'buyer%';
ALTER TABLE bench_map ADD COLUMN ids bigint[];
UPDATE bench_map b SET ids = (SELECT array_agg(id) FROM (SELECT id FROM orders o WHERE o.user_id = b.user_id ORDER BY id DESC LIMIT 10) x);
VACUUM ANALYZE;
SQL

# The columns `status` reads (crates/souk-store/src/order_views.rs).
COLS="o.id, o.user_id, o.kind, o.product_type, o.status, o.quantity, o.charge, o.refunded, o.delivered, \
o.start_count, o.remains, o.params, CASE WHEN o.kind = 'smm' THEN (SELECT s.type_name FROM services s \
WHERE s.number = o.service_number) END AS type_name, o.sub_state, o.posts_done, o.parent_id"
LINES="ARRAY(SELECT l.content FROM stock_lines l WHERE l.order_id = o.id ORDER BY l.id) AS contents"
TEN=":i1, :i2, :i3, :i4, :i5, :i6, :i7, :i8, :i9, :i10"
script() {
  echo 'SELECT user_id AS u, ids[1] AS i1, ids[2] AS i2, ids[3] AS i3, ids[4] AS i4, ids[5] AS i5, ids[6] AS i6, ids[7] AS i7, ids[8] AS i8, ids[9] AS i9, ids[10] AS i10 FROM bench_map WHERE n = :client_id % 32 \gset'
  for _ in 1 2 3 4 5; do echo "$1"; done
}
script "SELECT balance FROM users WHERE id = :u;" >"$WORK/balance.sql"
script "SELECT $COLS, $LINES FROM orders o WHERE o.id IN (:i1) ORDER BY o.id;" >"$WORK/status.sql"
script "SELECT $COLS, $LINES FROM orders o WHERE o.id IN ($TEN) ORDER BY o.id;" >"$WORK/status10.sql"
# What the lines cost: the same ten orders without them.
script "SELECT $COLS FROM orders o WHERE o.id IN ($TEN) ORDER BY o.id;" >"$WORK/status10-no-lines.sql"
# The shape before the array: the lines joined and sorted.
script "SELECT $COLS, l.content FROM orders o LEFT JOIN stock_lines l ON l.order_id = o.id WHERE o.id IN ($TEN) ORDER BY o.id, l.id;" >"$WORK/status10-join.sql"

for round in $(seq 1 "$ROUNDS"); do
  base=
  for s in balance status status10 status10-no-lines status10-join; do
    tps=$(pgbench "$URL" -n -M prepared -c 16 -j 2 -T "$SECONDS_EACH" -f "$WORK/$s.sql" 2>&1 | sed -nE 's/^tps = ([0-9.]+).*/\1/p')
    [ -z "$base" ] && base=$tps
    printf 'round %s  %-18s %8.0f scripts/s  %.3f of balance\n' "$round" "$s" "$tps" "$(echo "$tps / $base" | bc -l)"
  done
done
