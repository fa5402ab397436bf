#!/usr/bin/env bash
# Console page benchmark: seeds 10,000 services with the seed tool and 100,000 orders over
# the last 90 days (one SQL statement per engine, outside the store: a fixture, not a use
# case) into a fresh database per engine, creates a support operator with
# `souk admin operator create` (no second factor to type; so the owner-only screens,
# operators, gateways and settings, are not timed), starts a release
# `souk serve`, signs in and times each console page with curl: one unmeasured request,
# then SOUK_BENCH_REPEAT measured ones; prints the median and the slowest in ms.
#
# Usage: bench/console.sh [sqlite] [postgres]
#   default engines: sqlite, plus postgres when SOUK_BENCH_PG_URL is set
#   SOUK_BENCH_PG_URL       e.g. postgres://postgres@127.0.0.1:5432/postgres
#   SOUK_BENCH_SERVICES     services to seed (10000)
#   SOUK_BENCH_ORDERS       orders to insert (100000)
#   SOUK_BENCH_REPEAT       measured requests per page (5)
#   SOUK_BENCH_PROFILE      the build profile of the binaries (release)
#   SOUK_BENCH_SKIP_BUILD=1 use the binaries already in $CARGO_TARGET_DIR/<profile>
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

SERVICES=${SOUK_BENCH_SERVICES:-10000}
ORDERS=${SOUK_BENCH_ORDERS:-100000}
REPEAT=${SOUK_BENCH_REPEAT:-5}
PG_URL=${SOUK_BENCH_PG_URL:-}
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
PROFILE=${SOUK_BENCH_PROFILE:-release}

if [ "$#" -gt 0 ]; then
  ENGINES=("$@")
else
  ENGINES=(sqlite)
  [ -n "$PG_URL" ] && ENGINES+=(postgres)
fi

if [ "${SOUK_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --profile "$PROFILE" -p souk -p souk-bench
fi
DIR=$PROFILE
[ "$PROFILE" = dev ] && DIR=debug
SOUK="$TARGET/$DIR/souk"
BENCH="$TARGET/$DIR/souk-bench"

SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOUK_DATA_KEY

WORK=""
SERVER_PID=""
PG_DB=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
  if [ -n "$PG_DB" ]; then
    psql "$PG_URL" -v ON_ERROR_STOP=1 -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true
  fi
  PG_DB=""
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
  WORK=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# The orders: services in turn, statuses in turn, one every 90 days / ORDERS back from now.
orders_sql() {
  local series=$1 now_ms=$2
  local step=$((90 * 86400000 / ORDERS))
  cat <<SQL
INSERT INTO orders (user_id, kind, service_number, shop_id, product_type, link, quantity, unit_price, charge,
                    status, created_at, updated_at, provider_cost)
SELECT u.id, s.entity, s.number, s.shop_id, s.product_type, 'https://example.com/p/' || n.i, 1 + n.i % 100, 10000,
       10000 * (1 + n.i % 100),
       CASE n.i % 6 WHEN 0 THEN 'pending' WHEN 1 THEN 'processing' WHEN 2 THEN 'completed'
                    WHEN 3 THEN 'completed' WHEN 4 THEN 'partial' ELSE 'canceled' END,
       $now_ms - CAST(n.i AS BIGINT) * $step, $now_ms - CAST(n.i AS BIGINT) * $step,
       CASE WHEN s.entity = 'smm' THEN 8000 * (1 + n.i % 100) END
FROM $series
JOIN services s ON s.number = (SELECT MIN(number) FROM services) + (n.i % $SERVICES)
CROSS JOIN (SELECT id FROM users ORDER BY created_at LIMIT 1) u;
SQL
}

bench_engine() {
  local engine=$1 url now_ms
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/souk-console-bench.XXXXXX")
  now_ms=$(date +%s%3N)
  echo "== $engine: seeding $SERVICES services and $ORDERS orders" >&2
  case "$engine" in
    sqlite)
      url="sqlite://$WORK/souk.db"
      "$BENCH" seed --database-url "$url" --services "$SERVICES" >"$WORK/seed.out"
      { echo "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $ORDERS)";
        orders_sql "n" "$now_ms"; echo "ANALYZE;"; } | sqlite3 "$WORK/souk.db"
      ;;
    postgres)
      PG_DB="souk_console_bench_$(date +%s)_$$"
      psql "$PG_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PG_DB" >/dev/null
      url="${PG_URL%/*}/$PG_DB"
      "$BENCH" seed --database-url "$url" --services "$SERVICES" >"$WORK/seed.out"
      { orders_sql "generate_series(1, $ORDERS) AS n(i)" "$now_ms"; echo "ANALYZE;"; } |
        psql "$url" -v ON_ERROR_STOP=1 -q >/dev/null
      ;;
  esac
  local password
  password=$(SOUK_DATABASE_URL="$url" "$SOUK" admin operator create --email bench-op@souk.local --role support | tail -n 1)

  local port base
  port=$(free_port)
  base="http://127.0.0.1:$port"
  SOUK_DATABASE_URL="$url" SOUK_LISTEN="127.0.0.1:$port" \
    SOUK_RATE_LIMIT_PER_KEY=0 SOUK_RATE_LIMIT_PER_ADDRESS=0 SOUK_LOG=warn \
    "$SOUK" serve >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  "$BENCH" wait --url "$base/healthz" --started-at-us "${EPOCHREALTIME/./}" --interval 10ms --timeout 120s >/dev/null

  local jar="$WORK/cookies" csrf
  csrf=$(curl -s -c "$jar" "$base/console/signin" | grep -o 'name="csrf" value="[0-9a-f]*"' | head -n 1 | cut -d'"' -f4)
  curl -s -b "$jar" -c "$jar" -o /dev/null --data-urlencode "csrf=$csrf" \
    --data-urlencode "email=bench-op@souk.local" --data-urlencode "password=$password" "$base/console/signin"
  local user order
  user=$(curl -s -b "$jar" "$base/console/users" | grep -o 'href="/console/users/[0-9a-f]*"' | head -n 1 | cut -d/ -f4 | tr -d '"')
  order=$((ORDERS / 2))

  printf "%-44s %8s %8s %6s\n" "page ($engine, $ORDERS orders, $SERVICES services)" "p50 ms" "max ms" "status"
  local path
  for path in "/console?days=14" "/console?days=90" "/console?days=365" "/console/orders" \
      "/console/orders?status=completed" "/console/orders?email=bench%40souk.local" \
      "/console/orders?link=p%2F5000" "/console/orders?from=2026-01-01&to=2026-12-31&status=partial" \
      "/console/orders/$order" "/console/users" "/console/users/$user" "/console/audit" \
      "/console/jobs" "/console/providers" "/console/payments" "/console/disputes" "/console/withdrawals" \
      "/console/catalogue" "/console/catalogue/services" "/console/catalogue/services?q=Followers" \
      "/console/catalogue/services/$((SERVICES / 2))" "/console/shops" "/console/reviews" \
      "/console/sms" "/console/sms/messages" "/console/sms/activations"; do
    local status times=()
    status=$(curl -s -b "$jar" -o /dev/null -w '%{http_code}' "$base$path")
    for _ in $(seq "$REPEAT"); do
      times+=("$(curl -s -b "$jar" -o /dev/null -w '%{time_total}' "$base$path")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk -v p="$path" -v s="$status" '
      { t[NR] = $1 * 1000 } END { printf "%-44s %8.1f %8.1f %6s\n", p, t[int((NR + 1) / 2)], t[NR], s }'
  done
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || true
  SERVER_PID=""
  cleanup
}

for engine in "${ENGINES[@]}"; do
  bench_engine "$engine"
done
