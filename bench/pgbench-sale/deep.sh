#!/usr/bin/env bash
# What a variant's sold lines cost its next sale on PostgreSQL, between two VACUUMs: a
# sold line's entry stays, dead, in the partial index `stock_lines_unsold` until VACUUM,
# and a sale that looks for the variant's oldest unsold line from the start steps over
# all of them. The sale now starts past the variant's `sold_through`
# (crates/souk-store/src/sale.rs). This sells SOUK_BENCH_SOLD (19200) lines of one
# product with now.sql's sale (8 clients), sets the product's `sold_through` as the
# sales would have, and times the search for the next line both ways, as the server's
# prepared statements run it (generic plans), SOUK_BENCH_ROUNDS (5) times each in turn.
#
# Usage: SOUK_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres bench/pgbench-sale/deep.sh
# Needs pgbench and psql, and souk-bench built (cargo build --release -p souk-bench).
set -euo pipefail
cd "$(dirname "$0")"
export PGOPTIONS="-c client_min_messages=warning"
HERE=$PWD
PG_URL=${SOUK_BENCH_PG_URL:?set SOUK_BENCH_PG_URL}
SOLD=${SOUK_BENCH_SOLD:-19200}
ROUNDS=${SOUK_BENCH_ROUNDS:-5}
BENCH="${CARGO_TARGET_DIR:-$HERE/../../target}/release/souk-bench"
BASE=${PG_URL%/*}
DB="souk_pgbench_deep_$$"
WORK=$(mktemp -d)
trap 'psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT

psql "$PG_URL" -qc "CREATE DATABASE $DB" >/dev/null
SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  "$BENCH" seed-orders --database-url "$BASE/$DB" --lines $((SOLD + 800)) --products 1 --buyers 32 >/dev/null
psql "$BASE/$DB" -q -f setup.sql >/dev/null
# Every client sells the one product.
sed -E 's/WHERE n = :client_id % 32/WHERE n = 0/' now.sql >"$WORK/one.sql"
pgbench "$BASE/$DB" -n -M prepared -c 8 -j 2 -t $((SOLD / 8)) -f "$WORK/one.sql" >/dev/null
SUB=$(psql "$BASE/$DB" -tAc "SELECT sub_id FROM bench_map WHERE n = 0")
# The lines were sold oldest first, so the product has sold through its last sold line.
psql "$BASE/$DB" -qc "UPDATE subproducts SET sold_through = \
  (SELECT MAX(id) FROM stock_lines WHERE subproduct_id = '$SUB' AND order_id IS NOT NULL) WHERE id = '$SUB'"
ST=$(psql "$BASE/$DB" -tAc "SELECT sold_through FROM subproducts WHERE id = '$SUB'")
echo "sold $(psql "$BASE/$DB" -tAc "SELECT COUNT(*) FROM stock_lines WHERE order_id IS NOT NULL") lines of one product; next line:"
cat >"$WORK/search.sql" <<SQL
SET plan_cache_mode = force_generic_plan;
PREPARE from_start(text, bigint) AS
  SELECT id FROM stock_lines WHERE subproduct_id = \$1 AND order_id IS NULL ORDER BY id LIMIT \$2;
PREPARE past_sold(text, bigint, bigint) AS
  SELECT id FROM stock_lines WHERE subproduct_id = \$1 AND order_id IS NULL AND id > \$3 ORDER BY id LIMIT \$2;
SQL
for i in $(seq 1 "$ROUNDS"); do
  echo "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE from_start('$SUB', 1);" >>"$WORK/search.sql"
  echo "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF, TIMING OFF) EXECUTE past_sold('$SUB', 1, $ST);" >>"$WORK/search.sql"
done
psql "$BASE/$DB" -qAt -f "$WORK/search.sql" | awk '
  /Index Only Scan|Index Scan/ { shape = (shape == "from the start" ? "past sold_through" : "from the start") }
  /Buffers:/ { buffers = $0; sub(/^ */, "", buffers) }
  /Execution Time/ { printf "  %-18s %-28s %s\n", shape, buffers, $0 }'
