#!/usr/bin/env bash
# Order benchmark (issue 3): `add` of one stock line (charge, reserve, deliver in one
# transaction) with 1, 8 and 32 concurrent clients, next to `balance` and GET /healthz on
# the same server in the same run; on SQLite, and on PostgreSQL with one and two nodes
# sharing the database (the load spread over both). Ends with `souk admin audit`.
#
# Two shapes of `add`: `add_hot`, every client the same buyer buying the same product (the
# worst case: one balance row and one stock counter serialize every order), and `add`,
# client i a buyer of its own buying a product of its own (distinct rows, as real traffic
# mostly is).
#
# Usage: bench/orders.sh   (SOUK_BENCH_PG_URL=postgres://... adds the PostgreSQL runs)
#   SOUK_BENCH_DURATION (10s)  SOUK_BENCH_WARMUP (2s)  SOUK_BENCH_LINES (20000 per product)
#   SOUK_BENCH_SKIP_BUILD=1    use the binaries already in target/release
#   SOUK_SQLITE_SYNCHRONOUS=normal   the server's SQLite durability (default full)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${SOUK_BENCH_DURATION:-10s}
WARMUP=${SOUK_BENCH_WARMUP:-2s}
LINES=${SOUK_BENCH_LINES:-20000}
PG_URL=${SOUK_BENCH_PG_URL:-}

if [ "${SOUK_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p souk -p souk-bench
fi
SOUK="$ROOT/target/release/souk"
BENCH="$ROOT/target/release/souk-bench"
mkdir -p "$ROOT/bench/results"
SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOUK_DATA_KEY

WORK=$(mktemp -d "${TMPDIR:-/tmp}/souk-orders.XXXXXX")
PIDS=()
PG_DB=""
stop_servers() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  PIDS=()
}
cleanup() {
  stop_servers
  if [ -n "$PG_DB" ]; then psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true; fi
  PG_DB=""
}
trap 'cleanup; rm -rf "$WORK"' EXIT

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}
field() { sed -nE "s/.*\"$2\":\"?([^,\"}]*)\"?.*/\1/p" <<<"$1"; }

# run ENGINE NODES
run() {
  local engine=$1 nodes=$2 url
  case "$engine" in
    sqlite) url="sqlite://$WORK/orders-$nodes.db" ;;
    postgres)
      PG_DB="souk_bench_orders_$(date +%s)_$$"
      psql "$PG_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
      url="${PG_URL%/*}/$PG_DB" ;;
  esac
  "$BENCH" seed-orders --database-url "$url" --lines "$LINES" --products 35 --buyers 32 >"$WORK/seed.out"
  head -n 1 "$WORK/seed.out" >&2
  local -a services keys
  IFS=, read -r -a services <<<"$(tail -n 2 "$WORK/seed.out" | head -n 1)"
  IFS=, read -r -a keys <<<"$(tail -n 1 "$WORK/seed.out")"
  local urls="" base port n
  for n in $(seq 1 "$nodes"); do
    port=$(free_port)
    base="http://127.0.0.1:$port"
    SOUK_DATABASE_URL="$url" SOUK_LISTEN="127.0.0.1:$port" SOUK_RATE_LIMIT_PER_KEY=0 \
      SOUK_RATE_LIMIT_PER_ADDRESS=0 SOUK_LOG=warn "$SOUK" serve >"$WORK/server-$n.out" 2>"$WORK/server-$n.err" &
    PIDS+=($!)
    "$BENCH" wait --url "$base/healthz" --timeout 60s >/dev/null
    urls="${urls:+$urls,}$base/api/v2"
  done
  local c line label level=0 i
  local -a args
  for c in 1 8 32; do
    for label in healthz balance add_hot add; do
      case $label in
        healthz) args=(--get /healthz) ;;
        balance) args=(); for i in $(seq 0 $((c - 1))); do args+=(--form "key=${keys[$i]}&action=balance"); done ;;
        # The hot case takes its own product per level (0-2), so no level runs dry;
        # client i of the spread case buys product i + 3.
        add_hot) args=(--form "key=${keys[0]}&action=add&service=${services[$level]}&quantity=1") ;;
        add) args=(); for i in $(seq 0 $((c - 1))); do args+=(--form "key=${keys[$i]}&action=add&service=${services[$((i + 3))]}&quantity=1"); done ;;
      esac
      line=$("$BENCH" load --url "$urls" "${args[@]}" --label "$label" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP" --meta engine="$engine" --meta nodes="$nodes" \
        --meta sqlite_sync="${SOUK_SQLITE_SYNCHRONOUS:-full}")
      echo "$line" >>"$ROOT/bench/results/orders.jsonl"
      printf '%-9s %-6s c=%-3s %-8s rps %9s  p99 %8s ms  errors %s\n' "$engine" "n=$nodes" "$c" "$label" \
        "$(field "$line" rps)" "$(field "$line" p99_ms)" "$(field "$line" errors)"
    done
    level=$((level + 1))
  done
  stop_servers
  SOUK_DATABASE_URL="$url" "$SOUK" admin audit | tail -n 2 || { echo "AUDIT FAILED on $engine" >&2; return 1; }
  cleanup
}

echo "engine    nodes  clients action   throughput           latency"
run sqlite 1
if [ -n "$PG_URL" ]; then
  run postgres 1
  run postgres 2
fi
