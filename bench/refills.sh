#!/usr/bin/env bash
# `refill_status` with a new list of 100 ids on every call, as a reseller polls its pending
# refills, between two runs of `balance`, against one server over one keep-alive
# connection (bench/refill_lists.py): the rate and the server's CPU per request. A list's
# ids inlined into the SQL made a new prepared statement for every call.
#
# Usage: bench/refills.sh [sqlite|postgres]   (SOUK_BENCH_PG_URL for postgres)
#   SOUK_BENCH_SECONDS (5) per phase; SOUK_BENCH_SKIP_BUILD=1 uses the binaries built
# Needs python3.
set -euo pipefail
cd "$(dirname "$0")/.."
ENGINE=${1:-sqlite}
SECS=${SOUK_BENCH_SECONDS:-5}
if [ "${SOUK_BENCH_SKIP_BUILD:-0}" != 1 ]; then cargo build --release -q -p souk -p souk-bench; fi
BIN="${CARGO_TARGET_DIR:-$PWD/target}/release"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/souk-refills.XXXXXX")
PG_DB=
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  [ -n "$PG_DB" ] && psql "$SOUK_BENCH_PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
case $ENGINE in
  sqlite) URL="sqlite://$WORK/souk.db" ;;
  postgres)
    PG_DB="souk_refills_$$"
    psql "${SOUK_BENCH_PG_URL:?set SOUK_BENCH_PG_URL}" -qc "CREATE DATABASE $PG_DB" >/dev/null
    URL="${SOUK_BENCH_PG_URL%/*}/$PG_DB" ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
export SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$("$BIN/souk-bench" seed-orders --database-url "$URL" --lines 10 | tail -n 1)
PORT=$((20000 + RANDOM % 20000))
SOUK_DATABASE_URL="$URL" SOUK_LISTEN="127.0.0.1:$PORT" SOUK_RATE_LIMIT_PER_KEY=0 \
  SOUK_RATE_LIMIT_PER_ADDRESS=0 SOUK_LOG=warn "$BIN/souk" serve >"$WORK/server.log" 2>&1 &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
python3 bench/refill_lists.py "http://127.0.0.1:$PORT/api/v2" "$KEY" "$PID" "$SECS"
