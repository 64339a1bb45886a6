#!/usr/bin/env bash
# Collab benchmark (`just bench collab`), release build, loopback, PostgreSQL durable (fsync, synchronous_commit,
# full_page_writes on; printed first):
# N yrs clients in one room, each inserting a character 10 times a second; insert-to-delivery
# latency p50/p99 and deliveries/s at N = 2, 20, 100, against mdz (every update committed to
# PostgreSQL before fan-out) and, in the same run, the reference @y/websocket-server (npm,
# in memory, no persistence); then the same against the stock npm client (`y-websocket`'s
# WebsocketProvider + yjs in Node, scripts/bench/collab-ywebsocket.mjs) at N = 2, 20, 100 all
# typing and N = 500 connected of whom 20 type; then idle memory per room and per connection
# (1,000 rooms x 10 connections) and the time to load a document with 100,000 stored updates.
# Then (`accept`, also run by `just bench ai`) an accepted suggestion to visible in 2 and 20
# live yrs clients, next to a REST save reaching them (the floor), BENCH_COLLAB_ACCEPTS each.
# Prints figures; asserts nothing. BENCH_ONLY=stock (any of yrs,stock,accept,idle,load) runs some
# sections; BENCH_COLLAB_STOCK="2:2 20:20" picks the stock client's N:typing cases (default all
# four); BENCH_BIN_DIR=DIR uses the binaries already built there (mdz,
# examples/collab_load) instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

RUN_SECONDS=${BENCH_COLLAB_SECONDS:-${BENCH_DURATION:-30}}
RUNS=${BENCH_RUNS:-3}
ROOMS=${BENCH_COLLAB_ROOMS:-1000}
PER_ROOM=${BENCH_COLLAB_PER_ROOM:-10}
# The stock client: worker threads (one per core) and, past N = 20, the observers that apply
# every update (see scripts/bench/collab-ywebsocket.mjs: the others read and drop live updates).
JS_THREADS=${BENCH_COLLAB_JS_THREADS:-$(nproc)}
JS_OBSERVERS=${BENCH_COLLAB_JS_OBSERVERS:-5}
STOCK_SPECS=${BENCH_COLLAB_STOCK:-2:2 20:20 100:100 500:20}
BIN_DIR=${BENCH_BIN_DIR:-./target/release}
ONLY=${BENCH_ONLY:-yrs,stock,accept,idle,load}
ACCEPTS=${BENCH_COLLAB_ACCEPTS:-200}
want() { [[ ",$ONLY," == *",$1,"* ]]; }
ensure_tools
ensure_js_client
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --release -p mdz-server --bin mdz --example collab_load
fi
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
  "$BIN_DIR/mdz" serve >"$work/mdz.log" 2>&1 &
mdz_pid=$!
pids+=("$mdz_pid")
HOST=127.0.0.1 PORT=$REF_PORT node tests/collab-js/node_modules/@y/websocket-server/src/server.js \
  >"$work/ref.log" 2>&1 &
ref_pid=$!
pids+=("$ref_pid")

base="http://127.0.0.1:$MDZ_PORT"
for _ in $(seq 100); do curl -fs "$base/health/ready" >/dev/null 2>&1 && break; sleep 0.1; done
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$REF_PORT") 2>/dev/null && break; sleep 0.1; done

token=$(curl -fs -X POST "$base/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email":"bench@example.com","password":"violet-harbour-42","display_name":"Bench"}' | json access_token)
# A personal access token for everything after this: the runs outlast an access token (15 min).
token=$(curl -fs -X POST "$base/api/v1/auth/tokens" -H 'content-type: application/json' \
  -H "Authorization: Bearer $token" -d '{"name":"collab bench","expires_in_days":1}' | json token)
project=$(curl -fs -X POST "$base/api/v1/projects" -H 'content-type: application/json' \
  -H "Authorization: Bearer $token" -d '{"name":"Collab bench"}' | json id)
new_file() {
  curl -fs -X POST "$base/api/v1/projects/$project/files" -H 'content-type: application/json' \
    -H "Authorization: Bearer $token" -d "{\"path\":\"$1.md\",\"content\":\"\"}" | json id
}

echo "== collab bench: $(nproc) cores, loopback, $RUNS runs of $RUN_SECONDS s per N after 2 s warm-up"
echo "   mdz: every update committed to PostgreSQL before fan-out; reference: @y/websocket-server in memory"
echo "   stock client: N=500 is within collab_max_connections_per_doc (default 500, kept);" \
  "past N=20, $JS_OBSERVERS observers apply every update, the rest read and drop live updates"
print_pg_settings "collab bench" "$DATABASE_URL"
field() { awk -v f="$1" '{for (i=1;i<=NF;i++) if ($i==f) print $(i+1)}'; }
if want yrs; then
  for r in $(seq "$RUNS"); do
    echo " run $r (Rust load generator, yrs clients)"
    for n in 2 20 100; do
      file=$(new_file "room-$n-$r")
      mdz_out=$("$BIN_DIR/examples/collab_load" room "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$file?token=$token" "$n" "$RUN_SECONDS")
      ref_out=$("$BIN_DIR/examples/collab_load" room "ws://127.0.0.1:$REF_PORT/bench-room-$n-$r" "$n" "$RUN_SECONDS")
      echo "  mdz       $mdz_out"
      echo "  reference $ref_out"
      echo "$(field p50 <<<"$mdz_out") $(field p99 <<<"$mdz_out") $(field p50 <<<"$ref_out") $(field p99 <<<"$ref_out")" >>"$work/collab-$n"
    done
  done
fi
if want stock; then
  # N:typists. The provider's URL is <server>/<room>?token=…: for mdz the room is the file id.
  for r in $(seq "$RUNS"); do
    echo " run $r (stock y-websocket client, Node, $JS_THREADS worker threads)"
    for spec in $STOCK_SPECS; do
      n=${spec%:*}
      typing=${spec#*:}
      observers=$n
      if [ "$n" -gt 20 ]; then observers=$JS_OBSERVERS; fi
      file=$(new_file "stock-$n-$r")
      stock() {
        node scripts/bench/collab-ywebsocket.mjs "$@" "$n" "$typing" "$RUN_SECONDS" \
          --threads "$JS_THREADS" --observers "$observers"
      }
      mdz_out=$(stock "ws://127.0.0.1:$MDZ_PORT/api/v1/collab" "$file" --token "$token" --server-pid "$mdz_pid")
      ref_out=$(stock "ws://127.0.0.1:$REF_PORT" "bench-stock-$n-$r" --server-pid "$ref_pid")
      echo "  mdz       $mdz_out"
      echo "  reference $ref_out"
      echo "$(field p50 <<<"$mdz_out") $(field p99 <<<"$mdz_out") $(field p50 <<<"$ref_out") $(field p99 <<<"$ref_out")" >>"$work/stock-$n"
    done
  done
fi
summary() { # file-prefix label N...
  local prefix=$1 label=$2
  shift 2
  for n in "$@"; do
    python3 scripts/bench/stats.py runs "$label N=$n mdz p50      " $(awk '{print $1}' "$work/$prefix-$n")
    python3 scripts/bench/stats.py runs "$label N=$n reference p50" $(awk '{print $3}' "$work/$prefix-$n")
    python3 scripts/bench/stats.py runs "$label N=$n mdz p99      " $(awk '{print $2}' "$work/$prefix-$n")
    python3 scripts/bench/stats.py runs "$label N=$n reference p99" $(awk '{print $4}' "$work/$prefix-$n")
  done
}
if want yrs; then summary collab "collab" 2 20 100; fi
if want stock; then summary stock "collab stock" $(for s in $STOCK_SPECS; do echo "${s%:*}"; done); fi
if want yrs || want stock; then
  batches=$(curl -fs "$base/metrics" | awk '/^mdz_collab_commit_batch_updates_(sum|count)/ {print $2}' | paste -sd' ')
  python3 -c "s,c=map(float,'$batches'.split()); print(f'group commit: {c:.0f} commits for {s:.0f} updates ({s/max(c,1):.1f} updates per commit)')"
fi

if want accept; then
  echo "== accepted suggestion to visible in live clients: $RUNS runs of $ACCEPTS accepts per N"
  for r in $(seq "$RUNS"); do
    for n in 2 20; do
      file=$(curl -fs -X POST "$base/api/v1/projects/$project/files" -H 'content-type: application/json' \
        -H "Authorization: Bearer $token" -d "{\"path\":\"accept-$n-$r.md\",\"content\":\"# Accept\\n\\nword-0 \\n\"}" | json id)
      out=$("$BIN_DIR/examples/collab_load" accept "$base" "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$file?token=$token" \
        "$token" "$file" "$n" "$ACCEPTS")
      echo "  run $r N=$n $out"
      echo "$(field p50 <<<"$out" | sed -n 1p) $(field p99 <<<"$out" | sed -n 1p) $(field p50 <<<"$out" | sed -n 2p) $(field p99 <<<"$out" | sed -n 2p)" >>"$work/accept-$n"
    done
  done
  for n in 2 20; do
    python3 scripts/bench/stats.py runs "accept to visible N=$n p50       " $(awk '{print $1}' "$work/accept-$n")
    python3 scripts/bench/stats.py runs "accept to visible N=$n p99       " $(awk '{print $2}' "$work/accept-$n")
    python3 scripts/bench/stats.py runs "REST save to visible N=$n p99 (floor)" $(awk '{print $4}' "$work/accept-$n")
  done
fi

if want idle; then
  echo "== idle memory: $ROOMS rooms x $PER_ROOM connections"
  for i in $(seq "$ROOMS"); do new_file "idle-$i"; done >"$work/rooms.txt"
  "$BIN_DIR/examples/collab_load" idle "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/" "?token=$token" \
    "$work/rooms.txt" "$PER_ROOM" "$mdz_pid"
fi

want load || exit 0
echo "== loading a document with 100,000 stored updates"
big=$(new_file "big")
"$BIN_DIR/examples/collab_load" gen 100000 "$big" "$work/updates.tsv"
revision=$(psql "$DATABASE_URL" -tA -c "SELECT revision FROM files WHERE id = '$big'")
psql "$DATABASE_URL" -q -c "INSERT INTO collab_docs (file_id, last_seq, snapshot, snapshot_seq, file_revision) VALUES ('$big', 100000, '\\x0000', 0, $revision)" \
  -c "\\copy collab_updates (file_id, seq, data) FROM '$work/updates.tsv'"
echo -n "cold (loads snapshot + 100,000 updates): "
"$BIN_DIR/examples/collab_load" sync "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$big?token=$token"
echo -n "warm (room in memory): "
"$BIN_DIR/examples/collab_load" sync "ws://127.0.0.1:$MDZ_PORT/api/v1/collab/$big?token=$token"
