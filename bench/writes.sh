#!/usr/bin/env bash
# The write path against the read path (issue 21), in one run against one server per
# configuration: GET /healthz, `balance`, `status` (one order), `status` (10 orders,
# `orders=`), `add` hot (every client the same buyer and product) and `add` spread
# (client i: buyer i mod 32, a product of its own), at 1, 8, 32 and 128 clients, on SQLite
# with synchronous=FULL, SQLite with synchronous=NORMAL and PostgreSQL. Every figure is
# printed with its ratio to `balance` at the same concurrency on the same server, with its
# p50 and p99; every configuration ends with `souk admin audit`.
#
# Usage: bench/writes.sh [full] [normal] [postgres]
#   default: full normal, plus postgres when SOUK_BENCH_PG_URL is set
#   SOUK_BENCH_PG_URL        e.g. postgres://postgres@127.0.0.1:5432/postgres
#   SOUK_BENCH_CLIENTS       concurrency levels ("1 8 32 128")
#   SOUK_BENCH_DURATION (5s) SOUK_BENCH_WARMUP (1s)
#   SOUK_BENCH_LINES         stock lines per product (60000: `add_hot` at ~10,000 orders/s
#                            for a 1 s warmup and 5 s must not run dry)
#   SOUK_BENCH_HISTORY (50000) orders placed while seeding, before the server starts, so
#                            the tables are those of a database in service (PostgreSQL:
#                            then vacuumed and analysed as autovacuum would have; its plans are
#                            made for the tables it sees when a statement is first run)
#   SOUK_BENCH_ROUNDS (1)    rounds of all the workloads in turn at each level: each
#                            ratio is then the median of the rounds' ratios (each to
#                            `balance` of its own round), printed with their range, so a
#                            drift of the machine over the run moves both sides of it
#   SOUK_BENCH_SKIP_BUILD=1  use the binaries already built
#   SOUK_GROUP_COMMIT=off    the server commits each order alone (the comparison)
#   SOUK_BENCH_PERF=add_spread  perf record of the server during that workload
#   SOUK_BENCH_PERF_SYSTEM=1    ... of the whole machine instead (the database's processes too)
#   SOUK_BENCH_PERF_CALL_GRAPH=dwarf  perf's call graphs (default fp; Rust's release code
#                               keeps no frame pointers, so dwarf names the callers)
#   SOUK_BENCH_SYSCALLS=add_spread  count the server's writes and syncs during that
#                               workload (perf stat), printed per request after the table:
#                               on SQLite, WAL frames written per order (two writes each)
# Binaries are taken from $CARGO_TARGET_DIR/release (default target/release). Raw JSON
# lines are appended to bench/results/writes.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DURATION=${SOUK_BENCH_DURATION:-5s}
WARMUP=${SOUK_BENCH_WARMUP:-1s}
LINES=${SOUK_BENCH_LINES:-60000}
ROUNDS=${SOUK_BENCH_ROUNDS:-1}
HISTORY=${SOUK_BENCH_HISTORY:-50000}
read -r -a LEVELS <<<"${SOUK_BENCH_CLIENTS:-1 8 32 128}"
PG_URL=${SOUK_BENCH_PG_URL:-}
BUYERS=32

if [ "$#" -gt 0 ]; then
  CONFIGS=("$@")
else
  CONFIGS=(full normal)
  [ -n "$PG_URL" ] && CONFIGS+=(postgres)
fi
for c in "${CONFIGS[@]}"; do
  case "$c" in
    full | normal) ;;
    postgres) [ -n "$PG_URL" ] || { echo "postgres needs SOUK_BENCH_PG_URL" >&2; exit 2; } ;;
    *) echo "unknown configuration: $c (full, normal, postgres)" >&2; exit 2 ;;
  esac
done

if [ "${SOUK_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -p souk -p souk-bench
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
SOUK="$BIN/souk"
BENCH="$BIN/souk-bench"
mkdir -p "$ROOT/bench/results"
SOUK_DATA_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SOUK_DATA_KEY
RUN_ID=$(date -u +%Y-%m-%dT%H:%M:%SZ)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/souk-writes.XXXXXX")
SERVER_PID=""
PG_DB=""
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
cleanup() {
  stop_server
  if [ -n "$PG_DB" ]; then psql "$PG_URL" -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true; fi
  PG_DB=""
}
trap 'cleanup; rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM

free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}
field() { sed -nE "s/.*\"$2\":\"?([^,\"}]*)\"?.*/\1/p" <<<"$1"; }
# The server's CPU time so far in clock ticks (user + system; its own process only).
cpu_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat"; }
TICK=$(getconf CLK_TCK)
# seconds DURATION: "3s" or "500ms" in seconds.
seconds() { case $1 in *ms) awk -v v="${1%ms}" 'BEGIN { print v / 1000 }' ;; *s) echo "${1%s}" ;; *) echo "$1" ;; esac; }

# run CONFIG
run() {
  local config=$1 url sync=full
  case "$config" in
    full) url="sqlite://$WORK/writes-full.db" ;;
    normal) url="sqlite://$WORK/writes-normal.db"; sync=normal ;;
    postgres)
      PG_DB="souk_bench_writes_$(date +%s)_$$"
      psql "$PG_URL" -qc "CREATE DATABASE $PG_DB" >/dev/null
      url="${PG_URL%/*}/$PG_DB" ;;
  esac
  # A hot product per level and round, so none runs dry.
  local hot=$(( ${#LEVELS[@]} * ROUNDS ))
  echo "== $config: seeding $((hot + BUYERS)) products x $LINES lines, $BUYERS buyers, $HISTORY orders" >&2
  "$BENCH" seed-orders --database-url "$url" --lines "$LINES" --products $((hot + BUYERS)) \
    --buyers "$BUYERS" --history "$HISTORY" >"$WORK/seed.out"
  head -n 1 "$WORK/seed.out" >&2
  if [ "$config" = postgres ]; then psql "$url" -qc "VACUUM ANALYZE"; fi
  local -a services keys
  IFS=, read -r -a services <<<"$(tail -n 2 "$WORK/seed.out" | head -n 1)"
  IFS=, read -r -a keys <<<"$(tail -n 1 "$WORK/seed.out")"
  local port base
  port=$(free_port)
  base="http://127.0.0.1:$port"
  SOUK_DATABASE_URL="$url" SOUK_SQLITE_SYNCHRONOUS="$sync" SOUK_LISTEN="127.0.0.1:$port" \
    SOUK_RATE_LIMIT_PER_KEY=0 SOUK_RATE_LIMIT_PER_ADDRESS=0 SOUK_LOG=warn \
    "$SOUK" serve >"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  if ! "$BENCH" wait --url "$base/healthz" --timeout 60s >/dev/null; then
    echo "== the server did not come up; its log:" >&2
    tail -n 30 "$WORK/server.err" >&2
    exit 1
  fi

  # Ten orders per buyer, for `status`: client i asks after buyer i's first order, and
  # after its ten with `orders=`.
  local b n id answer first multi
  local -a status_one status_ten
  for b in $(seq 0 $((BUYERS - 1))); do
    first="" multi=""
    for n in $(seq 1 10); do
      answer=$(curl -sS --data "key=${keys[$b]}&action=add&service=${services[$((hot + b))]}&quantity=1" "$base/api/v2")
      id=$(sed -nE 's/.*"order":([0-9]+).*/\1/p' <<<"$answer")
      [ -n "$id" ] || { echo "placing a status order failed: $answer" >&2; return 1; }
      first=${first:-$id}
      multi="${multi:+$multi,}$id"
    done
    status_one+=("key=${keys[$b]}&action=status&order=$first")
    status_ten+=("key=${keys[$b]}&action=status&orders=$multi")
  done

  local c label line level=0 i round
  local -a args
  : >"$WORK/rows.tsv"
  for c in "${LEVELS[@]}"; do
   for round in $(seq 1 "$ROUNDS"); do
    for label in healthz balance status status10 add_hot add_spread; do
      args=()
      case $label in
        healthz) args=(--get /healthz) ;;
        balance) for i in $(seq 0 $((BUYERS - 1))); do args+=(--form "key=${keys[$i]}&action=balance"); done ;;
        status) for i in "${status_one[@]}"; do args+=(--form "$i"); done ;;
        status10) for i in "${status_ten[@]}"; do args+=(--form "$i"); done ;;
        # The hot case takes a product of its own per level, so no level runs dry.
        add_hot) args=(--form "key=${keys[0]}&action=add&service=${services[$((level * ROUNDS + round - 1))]}&quantity=1") ;;
        add_spread) for i in $(seq 0 $((BUYERS - 1))); do args+=(--form "key=${keys[$i]}&action=add&service=${services[$((hot + i))]}&quantity=1"); done ;;
      esac
      # SOUK_BENCH_PERF=<workload>: the server's profile over that workload's measured
      # seconds, to bench/results/perf-<config>-<workload>-<clients>.data; with
      # SOUK_BENCH_PERF_SYSTEM=1, the whole machine's (the database's processes too).
      if [ "${SOUK_BENCH_PERF:-}" = "$label" ] && [ "$round" = 1 ]; then
        target=(-p "$SERVER_PID")
        [ "${SOUK_BENCH_PERF_SYSTEM:-}" = 1 ] && target=(-a)
        (sleep "$WARMUP" && perf record -q -F 999 --call-graph "${SOUK_BENCH_PERF_CALL_GRAPH:-fp}" "${target[@]}" \
          -o "$ROOT/bench/results/perf-$config-$label-$c.data" -- sleep "$DURATION" >/dev/null 2>&1) &
      fi
      # SOUK_BENCH_SYSCALLS=<workload>: the server's file writes and syncs over that
      # workload's measured seconds, per request.
      counting=
      if [ "${SOUK_BENCH_SYSCALLS:-}" = "$label" ] && [ "$round" = 1 ]; then
        counting="$WORK/syscalls-$label-$c.csv"
        (sleep "$WARMUP" && perf stat -x, -e syscalls:sys_enter_pwrite64,syscalls:sys_enter_write,syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync \
          -p "$SERVER_PID" -o "$counting" -- sleep "$DURATION" >/dev/null 2>&1) &
        counter=$!
      fi
      before=$(cpu_ticks)
      line=$("$BENCH" load --url "$base/api/v2" "${args[@]}" --label "$label" --concurrency "$c" \
        --duration "$DURATION" --warmup "$WARMUP" --meta config="$config" --meta run="$RUN_ID" \
        --meta commit="$COMMIT" --meta clients="$c" --meta round="$round" \
        --meta group_commit="${SOUK_GROUP_COMMIT:-on}")
      # The server's CPU per request over the warmup and the measured time, both taken at
      # the measured rate: a cost that other tenants of the machine move far less than a
      # rate.
      cpu_us=$(awk -v t=$(( $(cpu_ticks) - before )) -v tick="$TICK" -v rps="$(field "$line" rps)" \
        -v secs="$(awk -v a="$(seconds "$WARMUP")" -v b="$(seconds "$DURATION")" 'BEGIN { print a + b }')" \
        'BEGIN { printf "%.1f", (rps > 0 ? t / tick * 1e6 / (rps * secs) : 0) }')
      echo "$line" >>"$ROOT/bench/results/writes.jsonl"
      if [ -n "$counting" ]; then
        wait "$counter" || true
        awk -F, -v label="$label" -v c="$c" -v n="$(awk -v r="$(field "$line" rps)" -v d="$(seconds "$DURATION")" 'BEGIN { print r * d }')" '
          $3 ~ /^syscalls:sys_enter_/ { sub(/^syscalls:sys_enter_/, "", $3); out = out sprintf("  %s %.2f", $3, n > 0 ? $1 / n : 0) }
          END { printf "%s at %s clients, system calls per request:%s\n", label, c, out }' "$counting" >>"$WORK/syscalls.txt"
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$c" "$label" "$(field "$line" rps)" "$(field "$line" p50_ms)" \
        "$(field "$line" p99_ms)" "$(field "$line" errors)" "$round" "$cpu_us" >>"$WORK/rows.tsv"
    done
   done
    level=$((level + 1))
  done
  stop_server

  echo
  echo "$config, group commit ${SOUK_GROUP_COMMIT:-on} ($RUN_ID, $COMMIT): $DURATION per workload after $WARMUP warmup, $ROUNDS round(s); ratio = rps / balance rps at the same clients (in the same round; with rounds, the median and the range); cpu us/req = the server process's CPU per request"
  awk -F '\t' -v rounds="$ROUNDS" '
    function median(list,   n, a, i, j, t) {
      n = split(list, a, " ")
      for (i = 2; i <= n; i++) { t = a[i] + 0; for (j = i - 1; j >= 1 && a[j] + 0 > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    function lo(list,   n, a, i, m) { n = split(list, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 < m) m = a[i] + 0; return m }
    function hi(list,   n, a, i, m) { n = split(list, a, " "); m = a[1] + 0; for (i = 2; i <= n; i++) if (a[i] + 0 > m) m = a[i] + 0; return m }
    { key = $1 SUBSEP $2; rkey = $1 SUBSEP $7
      if (!(key in seen)) { seen[key] = 1; order[++n] = key }
      rps[key] = rps[key] " " $3; cpu[key] = cpu[key] " " $8; p50[key] = p50[key] " " $4; p99[key] = p99[key] " " $5; err[key] += $6
      if ($2 == "balance") base[rkey] = $3
      got[NR] = key; gotr[NR] = rkey; gotrps[NR] = $3 }
    END {
      for (i = 1; i <= NR; i++) ratio[got[i]] = ratio[got[i]] " " (base[gotr[i]] > 0 ? gotrps[i] / base[gotr[i]] : 0)
      printf "%7s %-11s %10s %7s %9s %9s %7s %10s%s\n", "clients", "workload", "rps", "ratio", "p50 ms", "p99 ms", "errors", "cpu us/req", (rounds > 1 ? "  ratio range" : "")
      for (i = 1; i <= n; i++) { k = order[i]; split(k, kk, SUBSEP)
        printf "%7s %-11s %10.0f %7.3f %9.2f %9.2f %7s %10.1f", kk[1], kk[2], median(rps[k]), median(ratio[k]), median(p50[k]), median(p99[k]), err[k], median(cpu[k])
        if (rounds > 1) printf "  %.3f-%.3f", lo(ratio[k]), hi(ratio[k])
        printf "\n" }
    }' "$WORK/rows.tsv"
  if [ -s "$WORK/syscalls.txt" ]; then cat "$WORK/syscalls.txt"; rm -f "$WORK/syscalls.txt"; fi
  if SOUK_DATABASE_URL="$url" "$SOUK" admin audit >"$WORK/audit.out" 2>&1; then
    echo "audit: $(tail -n 1 "$WORK/audit.out")"
  else
    cat "$WORK/audit.out"
    echo "AUDIT FAILED on $config" >&2
    return 1
  fi
  cleanup
}

for config in "${CONFIGS[@]}"; do
  run "$config"
done
