#!/usr/bin/env bash
# Measures a 100,000-line stock upload through POST /api/admin/v2/subproducts/{id}/stock
# and the next `services` read, on the engine SOUK_DATABASE_URL names.
# Usage: SOUK_DATABASE_URL=... scripts/stock-upload-bench.sh target/release/souk PORT
# (an empty database: a fresh SQLite file or a new PostgreSQL database)
set -euo pipefail
B=$1; PORT=$2; URL=http://127.0.0.1:$PORT
export SOUK_DATA_KEY=$(printf '07%.0s' $(seq 1 32)) SOUK_ADMIN_TOKEN=bench \
       SOUK_RATE_LIMIT_PER_KEY=0 SOUK_RATE_LIMIT_PER_ADDRESS=0 SOUK_LOG=warn
W=$(mktemp -d)
$B migrate >/dev/null
KEY=$($B admin user create --email sup@bench.local --supplier --shop Bench | tail -1)
BUYER=$($B admin user create --email buyer@bench.local --balance 10 | tail -1)
CAT=$($B admin category create --slug accounts --name Accounts | tail -1)
SUB=$($B admin subcategory create --slug email --name Email --category "$CAT" | tail -1)
$B serve --listen 127.0.0.1:$PORT > "$W/serve.out" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$W"' EXIT
for _ in $(seq 1 100); do curl -sf $URL/healthz >/dev/null && break; sleep 0.1; done
python3 - "$W" <<'PY'
import sys
w = sys.argv[1]
for name, tag in (("a", "alpha"), ("b", "beta"), ("c", "gamma")):
    with open(f"{w}/{name}.txt", "w") as f:
        for n in range(1, 100_001):
            f.write(f"{tag}{n:06d}@example.com:Pw-{n * 7919 % 1000003:07d}-secret\n")
PY
ls -l "$W"/a.txt | awk '{print "upload body:", $5, "bytes"}'
product() {
  curl -s -H "X-Api-Key: $KEY" -H 'Content-Type: application/json' $URL/api/admin/v2/products \
    -d "{\"name\":\"$1\",\"subcategoryId\":\"$SUB\",\"type\":\"inventory\",\"subproducts\":[{\"name\":\"One\",\"price\":\"0.10\",\"max\":1000}]}" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["subproducts"][0]["subproductId"])'
}
upload() { # subproduct file dedupe
  curl -s -o "$W/up.json" -w '%{time_total}' -H "X-Api-Key: $KEY" -H 'Content-Type: text/plain' \
    --data-binary @"$2" "$URL/api/admin/v2/subproducts/$1/stock?dedupe=$3"
}
services() {
  curl -s -o "$W/services.json" -w '%{time_total}' $URL/api/v2 -d key=$BUYER -d action=services
}
services >/dev/null
for run in "a false" "b true" "c false"; do
  set -- $run
  S=$(product "Bench $1")
  T=$(upload "$S" "$W/$1.txt" "$2")
  R=$(services)
  python3 - "$T" "$R" "$2" "$W" <<'PY'
import json, sys
t, r, dedupe, w = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], sys.argv[4]
up = json.load(open(f"{w}/up.json"))
rows = json.load(open(f"{w}/services.json"))["services"]
print(f"dedupe={dedupe:<5} accepted={up['accepted']} rejected={up['rejected']} "
      f"upload {t:.3f} s = {up['accepted'] / t:,.0f} lines/s; next services read {r * 1000:.1f} ms "
      f"({len(rows)} rows, stock of the new row {rows[-1]['stock']})")
PY
done
# The same 100,000 lines again with dedupe: all rejected against the existing stock.
T=$(upload "$S" "$W/c.txt" true); R=$(services)
python3 -c "import json,sys; up=json.load(open('$W/up.json')); print(f'dedupe=true  accepted={up[\"accepted\"]} rejected={up[\"rejected\"]} upload {float(sys.argv[1]):.3f} s (all duplicates); next services read {float(sys.argv[2])*1000:.1f} ms')" "$T" "$R"
