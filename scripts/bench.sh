#!/usr/bin/env bash
# Benchmarks (release build, loopback): login req/s (argon2-bound), authenticated GET /auth/me
# req/s with p50/p99 at 64 connections, the same load on a bare actix handler as the ceiling,
# and the idle RSS of `mdz serve`. Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION=${BENCH_DURATION:-10s}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
ensure_tools
ensure_js_client
command -v wrk >/dev/null 2>&1 || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p mdz-server --bin mdz --example ceiling --example loadgen

work=$(mktemp -d /tmp/mdz-bench.XXXXXX)
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
start_services "$work"

MDZ_PORT=$(free_port)
CEIL_PORT=$(free_port)
export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$MDZ_PORT" MDZ_LOG_LEVEL=warn \
  MDZ_LOGIN_MAX_FAILURES=1000000000 MDZ_WORKERS=2 MDZ_VERSION_COALESCE_SECS=0 \
  ./target/release/mdz serve >"$work/mdz.log" 2>&1 &
mdz_pid=$!
pids+=("$mdz_pid")
./target/release/examples/ceiling "127.0.0.1:$CEIL_PORT" 2 &
pids+=($!)

base="http://127.0.0.1:$MDZ_PORT"
for _ in $(seq 100); do curl -fs "$base/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
sleep 2
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$mdz_pid/status")

token=$(curl -fs -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"violet-harbour-42","display_name":"Bench"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')

project=$(curl -fs -X POST "$base/api/v1/projects" -H 'content-type: application/json' \
  -H "Authorization: Bearer $token" -d '{"name":"Bench project"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')

run() { # name, wrk args…
  local name=$1; shift
  local out
  out=$(wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
}

echo "== mdz bench: $(nproc) cores, $CONNECTIONS connections, $DURATION each, wrk -t2 on the same machine"
echo "idle RSS of mdz serve (after start, before load): $((rss_kib / 1024)) MiB"
run "ceiling: bare actix static JSON" "http://127.0.0.1:$CEIL_PORT/static"
run "mdz GET /health/live" "$base/health/live"
run "mdz GET /api/v1/auth/me (JWT)" -H "Authorization: Bearer $token" "$base/api/v1/auth/me"
run "mdz GET /api/v1/projects/{id}" -H "Authorization: Bearer $token" "$base/api/v1/projects/$project"
run "mdz POST /api/v1/auth/login" -s scripts/bench/login.lua "$base/api/v1/auth/login"
echo "(login is bound by argon2id at m=19 MiB, t=2: by design about 20-40 ms of CPU per attempt)"

echo "== documents (coalescing off, so every save is a version: the worst case for saves)"
docs=$(curl -fs -X POST "$base/api/v1/projects" -H 'content-type: application/json' \
  -H "Authorization: Bearer $token" -d '{"name":"Bench documents"}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
./target/release/examples/loadgen "$base" "$token" "$docs" "${DURATION%s}" | tee "$work/loadgen.out" | grep -v '^HISTORY_FILE'
read -r _ hist_id hist_size < <(grep '^HISTORY_FILE' "$work/loadgen.out")
psql "$DATABASE_URL" -tA -F ' ' -c "SELECT count(*), sum(octet_length(body)), sum(pg_column_size(body)) FROM file_versions WHERE file_id = '$hist_id'" |
  while read -r versions bytes stored; do
    echo "version storage, 1,000 small edits of a 20 KB document: $versions versions, $bytes bytes of scripts and snapshots ($stored stored after compression) for a final document of $hist_size bytes: $(python3 -c "print(f'{$bytes/$hist_size:.2f}')")x"
  done


# Chat first byte: its own script (own PostgreSQL with fsync on, own mdz per case).
scripts/bench-chat.sh
