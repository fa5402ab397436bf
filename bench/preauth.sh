#!/usr/bin/env bash
# What a request costs before it is authenticated: starts a release `souk serve` on a
# fresh SQLite file with the rate limits and sign-in throttle off (so every request is
# served), then `souk-bench preauth` sends each hostile request for SECONDS and prints
# the server's CPU per request beside a small wrong-key request of the same run.
#   bench/preauth.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-3}"
cargo build --release -q -p souk -p souk-bench
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
SOUK_DATABASE_URL="sqlite://$dir/souk.db" SOUK_KEY_FILE="$dir/souk.key" \
  SOUK_RATE_LIMIT_PER_KEY=0 SOUK_RATE_LIMIT_PER_ADDRESS=0 \
  SOUK_SIGNIN_LIMIT_PER_EMAIL=100000000 SOUK_SIGNIN_LIMIT_PER_ADDRESS=100000000 \
  SOUK_WORKERS=0 SOUK_LOG=warn \
  target/release/souk serve --listen 127.0.0.1:18097 > "$dir/out" &
pid=$!
target/release/souk-bench wait --url http://127.0.0.1:18097/healthz > /dev/null
target/release/souk-bench preauth --url http://127.0.0.1:18097 --pid "$pid" --seconds "$seconds"
