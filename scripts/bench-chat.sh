#!/usr/bin/env bash
# Chat benchmark (`just bench chat`), release build, loopback, PostgreSQL durable (settings printed first): how
# much mdz adds to the time to the first streamed byte of an answer, at 32 concurrent
# streams, over a local OpenAI-compatible provider whose first chunk leaves at once.
#   1. paced: the provider streams the rest of each answer one chunk every 25 ms (a model
#      generating ~40 tokens/s), so 32 answers are in flight at any time, the 32 loops
#      started at phases spread over a second like people asking independently — the
#      target's case;
#   2. the same with the 32 loops started at one instant: answers of a fixed length keep
#      them in step, so every round's 32 posts arrive in the same millisecond;
#   3. burst: the provider sends each whole answer at once, so the 32 loops post back to back
#      — a saturation test of the same path.
# BENCH_CHAT_WHAT (default `chat`) lists what is posted, each measured the same way:
# `chat` (a message in a session), `edit` (an AI edit of a document, ending as a suggestion),
# `complete` (a ghost-text completion); `just bench ai` runs `edit complete`. The burst and
# in-step cases run for chat only.
# Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# Paced cases run 30 s (~900 answers, so their p99 rests on ~9 of them, not 3); the burst
# case makes thousands of answers in 10 s.
SECONDS_EACH=${BENCH_CHAT_SECONDS:-${BENCH_DURATION:-30}}
RUNS=${BENCH_RUNS:-3}
BURST_SECONDS=${BENCH_CHAT_BURST_SECONDS:-10}
STREAMS=${BENCH_CHAT_STREAMS:-32}
WHATS=${BENCH_CHAT_WHAT:-chat}
ensure_tools
cargo build --release -p mdz-server --bin mdz --example chat_load

work=$(mktemp -d /tmp/mdz-bench-chat.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Only our own processes: the services (s3s-fs among them) are stopped below.
  if [ ${#pids[@]} -gt 0 ]; then wait "${pids[@]}" 2>/dev/null || true; fi
  stop_services "$work"
  rm -rf "$work"
}
trap cleanup EXIT
PG_DURABLE=1 start_services "$work"
export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"

run_case() { # name, token-ms, start (spread|together), seconds, what (chat|edit|complete)
  local name=$1 token_ms=$2 start=$3 seconds=$4 what=${5:-chat}
  local mdz_port llm_port
  mdz_port=$(free_port)
  llm_port=$(free_port)
  ./target/release/examples/chat_load provider "$llm_port" "$token_ms" &
  local llm_pid=$!
  MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$mdz_port" MDZ_LOG_LEVEL=warn MDZ_WORKERS=2 \
    MDZ_LLM_PROVIDER=openai MDZ_LLM_BASE_URL="http://127.0.0.1:$llm_port/v1" MDZ_LLM_MODEL=bench \
    MDZ_LLM_AI_MAX_LIVE_PER_USER=$((STREAMS * 2)) \
    ./target/release/mdz serve >>"$work/mdz.log" 2>&1 &
  local mdz_pid=$!
  pids+=("$llm_pid" "$mdz_pid")
  local base="http://127.0.0.1:$mdz_port"
  for _ in $(seq 100); do curl -fs "$base/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
  # One account per run: the runs share one database.
  local email="bench-$what-$token_ms-$start-$mdz_port@example.com"
  local token project
  token=$(curl -fs -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"violet-harbour-42\",\"display_name\":\"Bench\"}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  project=$(curl -fs -X POST "$base/api/v1/projects" -H 'content-type: application/json' \
    -H "Authorization: Bearer $token" -d '{"name":"Chat bench"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  local line
  line=$(./target/release/examples/chat_load measure "$base" "$token" "$project" \
    "http://127.0.0.1:$llm_port/v1" "$STREAMS" "$seconds" "$start" "$what")
  echo "$name: $line"
  echo "$line" >>"$work/$what-$token_ms-$start"
  kill "$mdz_pid" "$llm_pid" 2>/dev/null || true
  wait "$mdz_pid" "$llm_pid" 2>/dev/null || true
}

echo "== mdz chat bench ($WHATS): $(nproc) cores, $STREAMS concurrent streams, paced ${SECONDS_EACH}s ($RUNS runs) and burst ${BURST_SECONDS}s"
print_pg_settings "chat bench" "$DATABASE_URL"
# "added by mdz p50 X ms p99 Y ms" and "provider direct p50 X ms p99 Y ms" of each run.
fig() { # file, after-words, which (p50|p99)
  python3 - "$@" <<'PY'
import re, sys
path, after, which = sys.argv[1:]
for line in open(path):
    m = re.search(re.escape(after) + r" p50 ([0-9.]+) ms p99 ([0-9.]+) ms", line)
    if m:
        print(m.group(1 if which == "p50" else 2))
PY
}
for what in $WHATS; do
  for r in $(seq "$RUNS"); do
    run_case "$what, run $r, paced (25 ms a chunk after the first)" 25 spread "$SECONDS_EACH" "$what"
  done
  f="$work/$what-25-spread"
  python3 scripts/bench/stats.py runs "$what, spread: added by mdz p50" $(fig "$f" "added by mdz" p50)
  python3 scripts/bench/stats.py runs "$what, spread: added by mdz p99" $(fig "$f" "added by mdz" p99)
  python3 scripts/bench/stats.py runs "$what, spread: provider direct p99 (the floor)" $(fig "$f" "provider direct" p99)
done
if [[ " $WHATS " == *" chat "* ]]; then
  run_case "paced, all streams in step" 25 together "$SECONDS_EACH"
  run_case "burst (whole answers at once)" 0 together "$BURST_SECONDS"
fi
