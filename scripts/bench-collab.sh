#!/usr/bin/env bash
# Collab benchmark (`just bench collab`), release build, loopback, PostgreSQL durable (fsync, synchronous_commit,
# full_page_writes on; printed first):
# N yrs clients in one room, each inserting a character 10 times a second; insert-to-delivery
# latency p50/p99 and deliveries/s at N = 2, 20, 100, against mdz (every update committed to
# PostgreSQL before fan-out) and, in the same run, the reference @y/websocket-server (npm,
# in memory, no persistence); then idle memory per room and per connection (1,000 rooms x 10
# connections) and the time to load a document with 100,000 stored updates.
# Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

RUN_SECONDS=${BENCH_COLLAB_SECONDS:-${BENCH_DURATION:-30}}
RUNS=${BENCH_RUNS:-3}
ROOMS=${BENCH_COLLAB_ROOMS:-1000}
PER_ROOM=${BENCH_COLLAB_PER_ROOM:-10}
ensure_tools
ensure_js_client
cargo build --release -p mdz-server --bin mdz --example collab_load
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

work=$(mktemp -d /tmp/mdz-bench-collab.XXXXXX)
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

MDZ_PORT=$(free_port)
REF_PORT=$(free_port)
export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$MDZ_PORT" MDZ_LOG_LEVEL=warn MDZ_WORKERS=2 \
  ./target/release/mdz serve >"$work/mdz.log" 2>&1 &
mdz_pid=$!
pids+=("$mdz_pid")
HOST=127.0.0.1 PORT=$REF_PORT node tests/collab-js/node_modules/@y/websocket-server/src/server.js \
  >"$work/ref.log" 2>&1 &
pids+=($!)

base="http://127.0.0.1:$MDZ_PORT"
for _ in $(seq 100); do curl -fs "$base/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REF_PORT") 2>/dev/null && break; sleep 0.1; done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
token=$(curl -fs -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"violet-harbour-42","display_name":"Bench"}' | json access_token)
project=$(curl -fs -X POST "$base/api/v1/projects" -H 'content-type: application/json' \
  -H "Authorization: Bearer $token" -d '{"name":"Collab bench"}' | json id)
new_file() {
  curl -fs -X POST "$base/api/v1/projects/$project/files" -H 'content-type: application/json' \
    -H "Authorization: Bearer $token" -d "{\"path\":\"$1.md\",\"content\":\"\"}" | json id
}

echo "== collab bench: $(nproc) cores, loopback, $RUNS runs of $RUN_SECONDS s per N after 2 s warm-up"
echo "   mdz: every update committed to PostgreSQL before fan-out; reference: @y/websocket-server in memory"
print_pg_settings "collab bench" "$DATABASE_URL"
field() { awk -v f="$1" '{for (i=1;i<=NF;i++) if ($i==f) print $(i+1)}'; }
for r in $(seq "$RUNS"); do
  echo " run $r (Rust load generator, yrs clients)"
  for n in 2 20 100; do
    file=$(new_file "room-$n-$r")
    mdz_out=$(./target/release/examples/collab_load room "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$file?token=$token" "$n" "$RUN_SECONDS")
    ref_out=$(./target/release/examples/collab_load room "ws://127.0.0.1:$REF_PORT/bench-room-$n-$r" "$n" "$RUN_SECONDS")
    echo "  mdz       $mdz_out"
    echo "  reference $ref_out"
    echo "$(field p50 <<<"$mdz_out") $(field p99 <<<"$mdz_out") $(field p50 <<<"$ref_out") $(field p99 <<<"$ref_out")" >>"$work/collab-$n"
  done
done
for n in 2 20 100; do
  python3 scripts/bench/stats.py runs "collab N=$n mdz p50      " $(awk '{print $1}' "$work/collab-$n")
  python3 scripts/bench/stats.py runs "collab N=$n reference p50" $(awk '{print $3}' "$work/collab-$n")
  python3 scripts/bench/stats.py runs "collab N=$n mdz p99      " $(awk '{print $2}' "$work/collab-$n")
  python3 scripts/bench/stats.py runs "collab N=$n reference p99" $(awk '{print $4}' "$work/collab-$n")
done
batches=$(curl -fs "$base/metrics" | awk '/^mdz_collab_commit_batch_updates_(sum|count)/ {print $2}' | paste -sd' ')
python3 -c "s,c=map(float,'$batches'.split()); print(f'group commit: {c:.0f} commits for {s:.0f} updates ({s/max(c,1):.1f} updates per commit)')"

echo "== idle memory: $ROOMS rooms x $PER_ROOM connections"
for i in $(seq "$ROOMS"); do new_file "idle-$i"; done >"$work/rooms.txt"
./target/release/examples/collab_load idle "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/" "?token=$token" \
  "$work/rooms.txt" "$PER_ROOM" "$mdz_pid"

echo "== loading a document with 100,000 stored updates"
big=$(new_file "big")
./target/release/examples/collab_load gen 100000 "$big" "$work/updates.tsv"
revision=$(psql "$DATABASE_URL" -tA -c "SELECT revision FROM files WHERE id = '$big'")
psql "$DATABASE_URL" -q -c "INSERT INTO collab_docs (file_id, last_seq, snapshot, snapshot_seq, file_revision) VALUES ('$big', 100000, '\\x0000', 0, $revision)" \
  -c "\\copy collab_updates (file_id, seq, data) FROM '$work/updates.tsv'"
echo -n "cold (loads snapshot + 100,000 updates): "
./target/release/examples/collab_load sync "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$big?token=$token"
echo -n "warm (room in memory): "
./target/release/examples/collab_load sync "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$big?token=$token"
