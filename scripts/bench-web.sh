#!/usr/bin/env bash
# Web app benchmark (`just bench web`): the release binary serving the embedded app, PostgreSQL
# durable (fsync, synchronous_commit and full_page_writes on; printed first), the OS chromium
# driven by playwright-core on loopback. Each of BENCH_RUNS runs signs two new people up, opens
# one document in each browser context (navigation to an editable synced document: the first
# opener loads the room, the second joins it) and types 200 keys paced at about 25 a second in
# one, timing each from keydown to its render in the other (tests/web-js/latency.mjs).
# Prints min/median/max over the runs; asserts nothing. BENCH_BIN_DIR=DIR uses the mdz binary
# already built there instead of building it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

RUNS=${BENCH_RUNS:-3}
BIN_DIR=${BENCH_BIN_DIR:-./target/release}
ensure_tools
ensure_web_tests
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --release -p mdz-server --bin mdz
fi
stats() { python3 scripts/bench/stats.py "$@"; }

work=$(mktemp -d /tmp/mdz-bench-web.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ ${#pids[@]} -gt 0 ]; then wait "${pids[@]}" 2>/dev/null || true; fi
  stop_services "$work"
  rm -rf "$work"
}
trap cleanup EXIT
PG_DURABLE=1 start_services "$work"
export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
print_pg_settings "DATABASE_URL, as started by this script" "$DATABASE_URL"

PORT=$(free_port)
base="http://127.0.0.1:$PORT"
MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$PORT" MDZ_LOG_LEVEL=warn MDZ_WORKERS=2 \
  "$BIN_DIR/mdz" serve >"$work/mdz.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do curl -fs "$base/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
echo "$("$BIN_DIR/mdz" --version 2>/dev/null || echo mdz) ($BIN_DIR): WORKERS=2, $(nproc) cores, chromium $(chromium --version 2>/dev/null | awk '{print $2}')"

for run in $(seq "$RUNS"); do
  line=$(node tests/web-js/latency.mjs "$base")
  echo "run $run: $line"
  echo "$(stats field open-first <<<"$line") $(stats field open-second <<<"$line") \
$(stats field p50 <<<"$line") $(stats field p99 <<<"$line")" >>"$work/web"
done
stats runs "navigation to a synced document, first opener" $(awk '{print $1}' "$work/web")
stats runs "navigation to a synced document, second opener" $(awk '{print $2}' "$work/web")
stats runs "keystroke to remote render p50" $(awk '{print $3}' "$work/web")
stats runs "keystroke to remote render p99" $(awk '{print $4}' "$work/web")
