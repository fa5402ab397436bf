#!/usr/bin/env bash
# Catalogue read benchmark: seeds 10,000 services into a fresh database per engine, starts
# a release `souk serve` on a free loopback port, measures cold start, drives it with the
# closed-loop load generator (GET /healthz as the baseline, `services` without and with a
# limit, `balance`), reads the server's resident memory, stops it with SIGTERM, and prints
# a table per engine. Raw JSON lines are appended to bench/results/catalogue-<engine>.jsonl.
#
# Usage: bench/catalogue.sh [sqlite] [postgres]
#   default engines: sqlite, plus postgres when SOUK_BENCH_PG_URL is set
#   SOUK_BENCH_PG_URL       e.g. postgres://postgres@127.0.0.1:5432/postgres (a database
#                           souk_bench_* is created on that server and dropped afterwards)
#   SOUK_BENCH_SERVICES     services to seed (10000); several sizes ("10000 100000") run
#                           one after another, each on a fresh database, and end with a
#                           table of memory per service so linearity shows
#   SOUK_BENCH_CONCURRENCY  load workers (16)
#   SOUK_BENCH_DURATION     measured time per workload (10s)
#   SOUK_BENCH_WARMUP       unmeasured time before it (2s)
#   SOUK_BENCH_ROUNDS       rounds of the four workloads (1); the table shows medians, and
#                           each round's ratio to the /healthz of the same round, which
#                           tames a shared, noisy machine
#   SOUK_BENCH_SKIP_BUILD=1 use the binaries already in $CARGO_TARGET_DIR/release (or
#                           target/release)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

read -r -a SIZES <<<"${SOUK_BENCH_SERVICES:-10000}"
SERVICES=${SIZES[0]}
# One line per engine and size for the memory table at the end.
MEMORY_ROWS=$(mktemp "${TMPDIR:-/tmp}/souk-bench-memory.XXXXXX")
CONCURRENCY=${SOUK_BENCH_CONCURRENCY:-16}
DURATION=${SOUK_BENCH_DURATION:-10s}
WARMUP=${SOUK_BENCH_WARMUP:-2s}
ROUNDS=${SOUK_BENCH_ROUNDS:-1}
PG_URL=${SOUK_BENCH_PG_URL:-}

if [ "$#" -gt 0 ]; then
  ENGINES=("$@")
else
  ENGINES=(sqlite)
  [ -n "$PG_URL" ] && ENGINES+=(postgres)
fi
for engine in "${ENGINES[@]}"; do
  case "$engine" in
    sqlite) ;;
    postgres) [ -n "$PG_URL" ] || { echo "postgres needs SOUK_BENCH_PG_URL" >&2; exit 2; } ;;
    *) echo "unknown engine: $engine (use sqlite or postgres)" >&2; exit 2 ;;
  esac
done

if [ "${SOUK_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p souk -p souk-bench
fi
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
SOUK="$TARGET/release/souk"
BENCH="$TARGET/release/souk-bench"
RESULTS="$ROOT/bench/results"
mkdir -p "$RESULTS"

# One data key for the seed and the server; never printed.
SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOUK_DATA_KEY
RUN_ID=$(date -u +%Y-%m-%dT%H:%M:%SZ)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

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

# A loopback port nothing listens on.
free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# A field of one of our JSON lines (numbers and plain strings only).
field() { sed -nE "s/.*\"$2\":\"?([^,\"}]*)\"?.*/\1/p" <<<"$1"; }

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

bench_engine() {
  local engine=$1 url
  SERVICES=$2
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/souk-bench.XXXXXX")
  case "$engine" in
    sqlite) url="sqlite://$WORK/souk.db" ;;
    postgres)
      PG_DB="souk_bench_$(date +%s)_$$"
      psql "$PG_URL" -v ON_ERROR_STOP=1 -qc "CREATE DATABASE $PG_DB" >/dev/null
      url="${PG_URL%/*}/$PG_DB"
      ;;
  esac

  echo "== $engine: seeding $SERVICES services" >&2
  local t0 t1 key seed_s
  t0=${EPOCHREALTIME/./}
  "$BENCH" seed --database-url "$url" --services "$SERVICES" >"$WORK/seed.out"
  t1=${EPOCHREALTIME/./}
  seed_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e6 }')
  key=$(tail -n 1 "$WORK/seed.out")
  head -n 1 "$WORK/seed.out" >&2

  local port base cold_ms rss_idle rss_after t1
  port=$(free_port)
  base="http://127.0.0.1:$port"
  echo "== $engine: starting souk serve on $base" >&2
  t0=${EPOCHREALTIME/./}
  SOUK_DATABASE_URL="$url" SOUK_LISTEN="127.0.0.1:$port" \
    SOUK_RATE_LIMIT_PER_KEY=0 SOUK_RATE_LIMIT_PER_ADDRESS=0 SOUK_LOG=warn \
    "$SOUK" serve >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  if ! cold_ms=$("$BENCH" wait --url "$base/healthz" --started-at-us "$t0" --interval 10ms --timeout 120s); then
    cat "$WORK/server.err" >&2
    return 1
  fi
  # /healthz answers while the catalogue is read in the background; catalogue requests
  # wait for the whole of it. Also time the first catalogue answer from the spawn.
  local ready_ms
  curl -s -o /dev/null --max-time 120 -d "key=$key&action=services&limit=1" "$base/api/v2"
  t1=${EPOCHREALTIME/./}
  ready_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", (b - a) / 1e3 }')
  rss_idle=$(rss_kb "$SERVER_PID")

  local spec label line round
  local -a workloads=(
    "healthz|--get /healthz"
    "services_all|--form key=$key&action=services"
    "services_limit50|--form key=$key&action=services&limit=50"
    "balance|--form key=$key&action=balance"
  )
  # The full list compressed, when the load generator can ask for it.
  if "$BENCH" load --help | grep -q -- '--header'; then
    workloads+=("services_all_gzip|--header accept-encoding:gzip --form key=$key&action=services")
  fi
  # One row per workload and round: label round rps p50 p99 bytes requests errors.
  : >"$WORK/rows.tsv"
  for round in $(seq 1 "$ROUNDS"); do
    for spec in "${workloads[@]}"; do
      label=${spec%%|*}
      echo "== $engine: round $round/$ROUNDS: $label (concurrency $CONCURRENCY, $DURATION after $WARMUP warmup)" >&2
      # shellcheck disable=SC2086 # the workload's arguments split on purpose
      line=$("$BENCH" load --url "$base/api/v2" ${spec#*|} --label "$label" \
        --concurrency "$CONCURRENCY" --duration "$DURATION" --warmup "$WARMUP" \
        --meta engine="$engine" --meta run="$RUN_ID" --meta commit="$COMMIT" \
        --meta services="$SERVICES" --meta round="$round")
      echo "$line" >>"$RESULTS/catalogue-$engine.jsonl"
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$round" "$(field "$line" rps)" \
        "$(field "$line" p50_ms)" "$(field "$line" p99_ms)" "$(field "$line" bytes_per_response)" \
        "$(field "$line" requests)" "$(field "$line" errors)" >>"$WORK/rows.tsv"
    done
  done
  rss_after=$(rss_kb "$SERVER_PID")

  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" || { echo "souk serve exited with status $?" >&2; return 1; }
  SERVER_PID=""

  printf '{"label":"server","engine":"%s","run":"%s","commit":"%s","services":"%s","seed_s":%s,"cold_start_ms":%s,"catalogue_ready_ms":%s,"rss_idle_kb":%s,"rss_after_load_kb":%s}\n' \
    "$engine" "$RUN_ID" "$COMMIT" "$SERVICES" "$seed_s" "$cold_ms" "$ready_ms" "$rss_idle" "$rss_after" \
    >>"$RESULTS/catalogue-$engine.jsonl"

  echo
  echo "engine: $engine, $SERVICES services, concurrency $CONCURRENCY, $DURATION per workload after $WARMUP warmup, $ROUNDS round(s) ($RUN_ID, $COMMIT)"
  # Each figure is the median over the rounds; "% healthz" is the median of each round's
  # rps over the /healthz rps of the same round.
  awk -F '\t' '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] + 0 > t + 0; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { label[NR] = $1; round[NR] = $2; rps[NR] = $3; p50[NR] = $4; p99[NR] = $5; bytes[NR] = $6; reqs[NR] = $7; errs[NR] = $8
      if ($1 == "healthz") base[$2] = $3
      if (!($1 in seen)) { seen[$1] = 1; order[++k] = $1 } }
    END {
      printf "%-18s %10s %9s %9s %9s %12s %9s %7s\n", "workload", "rps", "% healthz", "p50 ms", "p99 ms", "bytes/resp", "requests", "errors"
      for (o = 1; o <= k; o++) {
        l = order[o]; R = ""; P50 = ""; P99 = ""; PCT = ""; N = 0; E = 0; B = 0
        for (i = 1; i <= NR; i++) if (label[i] == l) {
          R = R " " rps[i]; P50 = P50 " " p50[i]; P99 = P99 " " p99[i]
          PCT = PCT " " (base[round[i]] > 0 ? 100 * rps[i] / base[round[i]] : 0)
          N += reqs[i]; E += errs[i]; B = bytes[i]
        }
        printf "%-18s %10.1f %8.2f%% %9.3f %9.3f %12d %9d %7d\n", l, median(R), median(PCT), median(P50), median(P99), B, N, E
      }
    }' "$WORK/rows.tsv"
  awk -v c="$cold_ms" -v r="$ready_ms" -v i="$rss_idle" -v a="$rss_after" -v s="$seed_s" \
    'BEGIN { printf "cold start %.0f ms (first catalogue answer %.0f ms); RSS %.1f MiB idle, %.1f MiB after the load; seed %.2f s\n", c, r, i / 1024, a / 1024, s }'
  awk -v n="$SERVICES" -v i="$rss_idle" -v a="$rss_after" \
    'BEGIN { printf "memory per service: %.0f bytes idle, %.0f bytes after the load (RSS / services)\n", i * 1024 / n, a * 1024 / n }'
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$engine" "$SERVICES" "$cold_ms" "$rss_idle" "$rss_after" "$ready_ms" >>"$MEMORY_ROWS"
  echo
  cleanup
}

for engine in "${ENGINES[@]}"; do
  for size in "${SIZES[@]}"; do
    bench_engine "$engine" "$size"
  done
done

# Memory against catalogue size: RSS per service, and the growth per added service
# between consecutive sizes of one engine (the fixed cost of the process cancels out).
echo "memory by catalogue size"
awk -F '\t' '
  BEGIN { printf "%-9s %9s %10s %10s %10s %10s %12s %12s %14s %14s\n", "engine", "services", "cold ms", "ready ms", "idle MiB", "after MiB", "idle B/svc", "after B/svc", "idle B/added", "after B/added" }
  { d_idle = "-"; d_after = "-"
    if ($1 == engine && $2 > n) {
      d_idle = sprintf("%.0f", ($4 - idle) * 1024 / ($2 - n)); d_after = sprintf("%.0f", ($5 - after) * 1024 / ($2 - n))
    }
    printf "%-9s %9d %10.0f %10.0f %10.1f %10.1f %12.0f %12.0f %14s %14s\n", $1, $2, $3, $6, $4 / 1024, $5 / 1024, $4 * 1024 / $2, $5 * 1024 / $2, d_idle, d_after
    engine = $1; n = $2; idle = $4; after = $5 }' "$MEMORY_ROWS"
rm -f "$MEMORY_ROWS"
