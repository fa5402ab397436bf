#!/usr/bin/env bash
# A product sale's statements on PostgreSQL alone, without the HTTP server: pgbench
# replays each script of this directory (32 clients, each its own buyer and product, as
# bench/writes.sh's `add` spread) on a fresh copy of one seeded database per run, the
# scripts in turn, so the machine's drift reaches them alike.
#
# Usage: SOUK_BENCH_PG_URL=postgres://postgres@127.0.0.1:5432/postgres \
#          bench/pgbench-sale/run.sh [script.sql ...]     (default: every script here)
#   SOUK_BENCH_ROUNDS (3)  runs of each script   SOUK_BENCH_SECONDS (6)  per run
# Needs pgbench, psql and bc, and souk-bench built (cargo build --release -p souk-bench).
set -euo pipefail
cd "$(dirname "$0")"
export PGOPTIONS="-c client_min_messages=warning"
HERE=$PWD
PG_URL=${SOUK_BENCH_PG_URL:?set SOUK_BENCH_PG_URL}
ROUNDS=${SOUK_BENCH_ROUNDS:-3}
SECONDS_EACH=${SOUK_BENCH_SECONDS:-6}
BENCH="${CARGO_TARGET_DIR:-$HERE/../../target}/release/souk-bench"
BASE=${PG_URL%/*}
TEMPLATE="souk_pgbench_sale_$$"
COPY="${TEMPLATE}_run"
cleanup() {
  psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $COPY WITH (FORCE)" -c "DROP DATABASE IF EXISTS $TEMPLATE WITH (FORCE)" >/dev/null 2>&1 || true
}
# `no-notify.sql`: before.sql without its NOTIFY, made here from it.
WORK=$(mktemp -d)
trap 'cleanup; rm -rf "$WORK"' EXIT
grep -v pg_notify before.sql >"$WORK/no-notify.sql"
# `batch8.sql`: now.sql's sale eight times in one transaction, each in a savepoint, as a
# lane of PostgreSQL's group commit runs a batch (crates/souk-store/src/pg_batch.rs), for
# 4 clients (the lanes) over the same 32 buyers and products; `batch8-nosp.sql` the same
# without the savepoints. Made here from now.sql.
{
  echo "-- now.sql's sale, eight per transaction (made by run.sh)"
  for i in 0 1 2 3 4 5 6 7; do
    sed -nE "s/^(SELECT user_id AS) u, sub_id AS s, service AS svc, shop_id AS shop (FROM bench_map WHERE n = ):client_id % 32 (.*)$/\1 u$i, sub_id AS s$i, service AS svc$i, shop_id AS shop$i \2(:client_id * 8 + $i) % 32 \3/p" now.sql
  done
  echo "BEGIN;"
  for i in 0 1 2 3 4 5 6 7; do
    if [ "$i" = 0 ]; then echo "SAVEPOINT w;"; else echo "RELEASE w; SAVEPOINT w;"; fi
    grep -E '^WITH ' now.sql | sed -E "s/:(u|s|svc|shop)\b/:\1$i/g"
  done
  echo "COMMIT;"
} >"$WORK/batch8.sql"
grep -v SAVEPOINT "$WORK/batch8.sql" >"$WORK/batch8-nosp.sql"
if [ "$#" -gt 0 ]; then SCRIPTS=("$@"); else SCRIPTS=(before.sql no-notify.sql now.sql batch8.sql batch8-nosp.sql); fi

psql "$PG_URL" -qc "CREATE DATABASE $TEMPLATE" >/dev/null
SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n') \
  "$BENCH" seed-orders --database-url "$BASE/$TEMPLATE" --lines 20000 --products 40 --buyers 32 >/dev/null
psql "$BASE/$TEMPLATE" -q -f setup.sql >/dev/null

for round in $(seq 1 "$ROUNDS"); do
  for script in "${SCRIPTS[@]}"; do
    psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $COPY" -c "CREATE DATABASE $COPY TEMPLATE $TEMPLATE" >/dev/null
    file=$script
    [ -f "$file" ] || file="$WORK/$script"
    clients=32 per_tx=1
    case "$script" in batch8*) clients=4 per_tx=8 ;; esac
    tps=$(pgbench "$BASE/$COPY" -n -M prepared -c "$clients" -j 2 -T "$SECONDS_EACH" -f "$file" 2>&1 |
      sed -nE 's/^tps = ([0-9.]+).*/\1/p')
    printf 'round %s  %-16s %8.0f sales/s\n' "$round" "$script" "$(echo "${tps:-0} * $per_tx" | bc)"
  done
done
