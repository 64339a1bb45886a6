#!/usr/bin/env bash
# Benchmarks (`just bench`), release build, loopback, PostgreSQL durable (fsync,
# synchronous_commit and full_page_writes on: the defaults, as the embedded default and every
# production deployment run it; the settings are asked of the server and printed first):
#   1. throughput (wrk, one run): login, authenticated GET, a bare actix handler as ceiling;
#   2. saves: 16 writers each saving its own 20 KB document every 100 ms, phases spread, with
#      default version coalescing and with coalescing off, against the raw PostgreSQL floor
#      (pgbench, same load) measured in the same run; BENCH_RUNS runs, min/median/max;
#   3. search over real Markdown (the `.md` files of the local Cargo registry, replicated to
#      10,000 documents), queries drawn from the corpus, 1 and 16 clients, BENCH_RUNS runs;
#   4. the embedded default (`mdz serve` with no DATABASE_URL: its own PostgreSQL), saves
#      against its own pgbench floor;
#   5. version storage, then the chat first byte (scripts/bench-chat.sh).
# Prints figures; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

DURATION=${BENCH_DURATION:-30}         # seconds of each paced run
RUNS=${BENCH_RUNS:-3}
WRK_DURATION=${BENCH_WRK_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
CORPUS=${BENCH_CORPUS:-$HOME/.cargo/registry/src}
SEARCH_DOCS=${BENCH_SEARCH_DOCS:-10000}
ONLY=${BENCH_ONLY:-http,saves,evidence,search,embedded,history,chat}
want() { [[ ",$ONLY," == *",$1,"* ]]; }
ensure_tools
command -v wrk >/dev/null 2>&1 || { as_root apt-get update -qq; as_root apt-get install -y -qq wrk >/dev/null; }
cargo build --release -p mdz-server --bin mdz --example ceiling --example loadgen --example searchload
stats() { python3 scripts/bench/stats.py "$@"; }

work=$(mktemp -d /tmp/mdz-bench.XXXXXX)
chmod 755 "$work"
pids=()
embedded_pid=""
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  # Only our own processes: the services (s3s-fs among them) are stopped below.
  if [ ${#pids[@]} -gt 0 ]; then wait "${pids[@]}" 2>/dev/null || true; fi
  stop_services "$work"
  rm -rf "$work"
}
trap cleanup EXIT
PG_DURABLE=1 PG_OPTIONS="-c shared_preload_libraries=pg_stat_statements" start_services "$work"
export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
psql "$DATABASE_URL" -q -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"

# A fresh access token (a signed JWT, valid 15 minutes) of the user the email names, on the
# server at $1: each paced section takes one, as the web app and the editors authenticate.
jwt_of() {
  curl -fs -X POST "$1/api/v1/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$2@example.com\",\"password\":\"violet-harbour-42\"}" | json access_token
}

# mdz as configured by default, and a second process on the same database and data directory
# (so one token works on both) with version coalescing off (every save a version) and
# PostgreSQL full-text search (the engine before the embedded index), for comparison.
MDZ_PORT=$(free_port)
MDZ0_PORT=$(free_port)
CEIL_PORT=$(free_port)
MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$MDZ_PORT" MDZ_LOG_LEVEL=warn \
  MDZ_LOGIN_MAX_FAILURES=1000000000 MDZ_WORKERS=2 \
  ./target/release/mdz serve >"$work/mdz.log" 2>&1 &
mdz_pid=$!
pids+=("$mdz_pid")
base="http://127.0.0.1:$MDZ_PORT"
wait_ready "$base"
MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$MDZ0_PORT" MDZ_LOG_LEVEL=warn MDZ_WORKERS=2 \
  MDZ_VERSION_COALESCE_SECS=0 MDZ_SEARCH_ENGINE=postgres ./target/release/mdz serve >"$work/mdz0.log" 2>&1 &
pids+=($!)
base0="http://127.0.0.1:$MDZ0_PORT"
wait_ready "$base0"
./target/release/examples/ceiling "127.0.0.1:$CEIL_PORT" 2 &
pids+=($!)
sleep 2
rss_kib=$(awk '/VmRSS/ {print $2}' "/proc/$mdz_pid/status")
read -r token project < <(user_project "$base" bench)

echo "== mdz bench: $(nproc) cores, loopback, $RUNS runs of ${DURATION}s per paced figure"
print_pg_settings "DATABASE_URL, as started by this script" "$DATABASE_URL"

if want http; then
  run() { # name, wrk args…
    local name=$1; shift
    local out
    out=$(wrk -t2 -c"$CONNECTIONS" -d"${WRK_DURATION}s" --latency "$@")
    local rps p50 p99
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    p50=$(awk '$1=="50%" {print $2}' <<<"$out")
    p99=$(awk '$1=="99%" {print $2}' <<<"$out")
    non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
    printf '%-34s %10s req/s   p50 %8s   p99 %8s   non-2xx %s\n' "$name" "$rps" "$p50" "$p99" "${non2xx:-0}"
  }
  jwt=$(jwt_of "$base" bench)
  echo "== throughput: wrk, $CONNECTIONS connections, ${WRK_DURATION}s each, one run"
  echo "idle RSS of mdz serve (after start, before load): $((rss_kib / 1024)) MiB"
  run "ceiling: bare actix static JSON" "http://127.0.0.1:$CEIL_PORT/static"
  run "mdz GET /health/live" "$base/health/live"
  run "mdz GET /api/v1/auth/me (JWT)" -H "Authorization: Bearer $jwt" "$base/api/v1/auth/me"
  run "mdz GET /api/v1/projects/{id}" -H "Authorization: Bearer $jwt" "$base/api/v1/projects/$project"
  run "mdz POST /api/v1/auth/login" -s scripts/bench/login.lua "$base/api/v1/auth/login"
  echo "(login is bound by argon2id at m=19 MiB, t=2: by design about 20-40 ms of CPU per attempt;"
  echo " past the hashing queue, logins are shed with 503 at once: the non-2xx above)"
fi

# One paced save figure: floor first, then mdz, same load. Prints the run's line and appends
# "floor_p50 floor_p99 p50 p99" to $4.
save_run() { # label, base, token, results file, project, floor url
  local label=$1 b=$2 t=$3 out=$4 p=$5 url=$6 floor line p50 p99
  floor=$(pg_floor "$url" "$DURATION" "$work/floor")
  line=$(./target/release/examples/loadgen "$b" "$t" "$p" "$DURATION" spread)
  p50=$(stats field p50 <<<"$line")
  p99=$(stats field p99 <<<"$line")
  read -r f50 f99 fn <<<"$floor"
  printf '  %-22s floor (pgbench, %s tx) p50 %6.2f p99 %6.2f ms | mdz p50 %6.2f p99 %6.2f ms | p50 %.1fx p99 %.1fx the floor%s\n' \
    "$label" "$fn" "$f50" "$f99" "$p50" "$p99" "$(python3 -c "print($p50/$f50)")" \
    "$(python3 -c "print($p99/$f99)")" "$(grep -q 'errors 0' <<<"$line" || echo " ($line)")"
  echo "$f50 $f99 $p50 $p99" >>"$out"
}
save_summary() { # label, results file
  stats runs "$1 floor p99" $(awk '{print $2}' "$2")
  stats runs "$1 mdz   p50" $(awk '{print $3}' "$2")
  stats runs "$1 mdz   p99" $(awk '{print $4}' "$2")
}

if want saves; then
  echo "== saves: PUT /files/{id} 20 KB with If-Match, 16 writers each every 100 ms, phases spread"
  read -r token0 project0 < <(user_project "$base0" bench0)
  token=$(jwt_of "$base" bench)
  token0=$(jwt_of "$base0" bench0)
  : >"$work/saves-default" ; : >"$work/saves-off"
  for r in $(seq "$RUNS"); do
    echo " run $r"
    save_run "default coalescing" "$base" "$token" "$work/saves-default" "$project" "$DATABASE_URL"
    save_run "coalescing off" "$base0" "$token0" "$work/saves-off" "$project0" "$DATABASE_URL"
  done
  save_summary "saves, default coalescing:" "$work/saves-default"
  save_summary "saves, coalescing off:    " "$work/saves-off"
fi

if want evidence; then
  # Where a save's time goes: one more paced run (default coalescing) with the statements
  # PostgreSQL ran (pg_stat_statements) and what its backends waited on, sampled every 10 ms.
  echo "== where a save's time goes: one paced run, default coalescing"
  read -r xtoken xproject < <(user_project "$base" evidence)
  xtoken=$(jwt_of "$base" evidence)
  psql "$DATABASE_URL" -q -c "SELECT pg_stat_statements_reset()" >/dev/null
  for _ in $(seq $((DURATION * 50))); do
    echo "SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM pg_stat_activity
          WHERE state = 'active' AND backend_type = 'client backend' AND pid <> pg_backend_pid();
          SELECT pg_sleep(0.01);"
  done >"$work/waits.sql"
  psql "$DATABASE_URL" -tA -f "$work/waits.sql" 2>/dev/null | grep -v '^$' >"$work/waits.out" &
  sampler=$!
  # Where mdz's own CPU goes (BENCH_PERF=1, needs `perf`): samples of the server process only.
  profiler=""
  if [ "${BENCH_PERF:-0}" = 1 ] && command -v perf >/dev/null 2>&1; then
    perf record -F 999 -p "$mdz_pid" -o "$work/perf.data" -- sleep "$DURATION" >/dev/null 2>&1 &
    profiler=$!
  fi
  cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
  mdz_cpu0=$(cpu_ticks "$mdz_pid")
  line=$(./target/release/examples/loadgen "$base" "$xtoken" "$xproject" "$DURATION" spread)
  mdz_cpu1=$(cpu_ticks "$mdz_pid")
  if [ -n "$profiler" ]; then
    wait "$profiler" 2>/dev/null || true
    perf report -i "$work/perf.data" --no-children --sort symbol -g none --stdio 2>/dev/null \
      >"$work/perf.txt" || true
    echo "  mdz CPU by crate (perf, self time; the crate is the symbol's first path segment):"
    python3 scripts/bench/perf_crates.py 12 <"$work/perf.txt" | sed 's/^/    /'
  fi
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  echo "  $line"
  rps=$(awk '{for (i=2;i<=NF;i++) if ($i=="req/s") print $(i-1)}' <<<"$line")
  saves=$(python3 -c "print(max(1, round($rps * $DURATION)))")
  echo "  statements per save (about $saves saves), slowest first by total time:"
  psql "$DATABASE_URL" -tA -F ' | ' -c "
    SELECT round(total_exec_time::numeric, 0) || ' ms total', round(mean_exec_time::numeric, 3) || ' ms mean',
           round(calls::numeric / greatest($saves, 1), 2) || ' per save',
           left(regexp_replace(query, '\s+', ' ', 'g'), 90)
    FROM pg_stat_statements WHERE calls > $saves / 2 ORDER BY total_exec_time DESC LIMIT 14" | sed 's/^/    /'
  echo "  background statements in the same run (indexer, sequencer, sweepers), by total time:"
  psql "$DATABASE_URL" -tA -F ' | ' -c "
    SELECT round(total_exec_time::numeric, 0) || ' ms total', calls || ' calls',
           round(mean_exec_time::numeric, 3) || ' ms mean', left(regexp_replace(query, '\s+', ' ', 'g'), 80)
    FROM pg_stat_statements WHERE calls <= $saves / 2 AND query NOT LIKE '%pg_s%'
    ORDER BY total_exec_time DESC LIMIT 4" | sed 's/^/    /'
  echo "  mdz process CPU per save: $(python3 -c "print(f'{($mdz_cpu1 - $mdz_cpu0) * 1000 / $(getconf CLK_TCK) / $saves:.2f}')") ms (user + system, /proc/$mdz_pid/stat)"
  psql "$DATABASE_URL" -tA -c "SELECT 'statements per save (several share a round trip when pipelined): ' || round(sum(calls)::numeric / greatest($saves, 1), 1)
    FROM pg_stat_statements WHERE calls > $saves / 2" | sed 's/^/  /'
  echo "  what active backends were doing (samples every 10 ms):"
  sort "$work/waits.out" | uniq -c | sort -rn | head -8 | sed 's/^/    /'
fi

if want search; then
  echo "== search over real Markdown: $SEARCH_DOCS documents from $CORPUS"
  read -r stoken sproject < <(user_project "$base" search)
  ./target/release/examples/searchload seed "$base" "$stoken" "$sproject" "$CORPUS" \
    "$SEARCH_DOCS" "$work/queries.tsv"
  sleep 5 # let the indexer and its ANALYZE settle: a search is measured, not an import
  stoken=$(jwt_of "$base" search)
  # The first search of the embedded engine waits for its index to hold every document.
  start=$(date +%s.%N)
  curl -fs -o /dev/null -H "Authorization: Bearer $stoken" "$base/api/v1/projects/$sproject/search?q=the"
  echo "  embedded index caught up with $SEARCH_DOCS documents in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s (first search after the import)"
  for r in $(seq "$RUNS"); do
    echo " run $r"
    for engine in embedded postgres; do
      b=$base; [ "$engine" = postgres ] && b=$base0
      for c in 1 16; do
        line=$(./target/release/examples/searchload run "$b" "$stoken" "$sproject" "$c" "$DURATION" "$work/queries.tsv")
        printf '  %-9s %s\n' "$engine" "$line"
        echo "$(stats field p50 <<<"$line") $(stats field p99 <<<"$line")" >>"$work/search-$engine-$c"
      done
    done
  done
  for engine in embedded postgres; do
    for c in 1 16; do
      stats runs "search, $engine, $c client(s), p50" $(awk '{print $1}' "$work/search-$engine-$c")
      stats runs "search, $engine, $c client(s), p99" $(awk '{print $2}' "$work/search-$engine-$c")
    done
  done
fi

if want embedded; then
  echo "== the embedded default: mdz serve with no DATABASE_URL, default configuration"
  EMB_PORT=$(free_port)
  env -u DATABASE_URL MDZ_DATA_DIR="$work/embedded" MDZ_LISTEN="127.0.0.1:$EMB_PORT" \
    MDZ_LOG_LEVEL=warn ./target/release/mdz serve >"$work/embedded.log" 2>&1 &
  embedded_pid=$!
  pids+=("$embedded_pid")
  ebase="http://127.0.0.1:$EMB_PORT"
  wait_ready "$ebase"
  eport=$(sed -n 4p "$work/embedded/postgres/postmaster.pid")
  eurl="postgres://mdz:$(cat "$work/embedded/postgres.password")@127.0.0.1:$eport/postgres"
  print_pg_settings "embedded" "$eurl"
  read -r etoken eproject < <(user_project "$ebase" embedded)
  etoken=$(jwt_of "$ebase" embedded)
  : >"$work/saves-embedded"
  for r in $(seq "$RUNS"); do
    echo " run $r"
    save_run "embedded default" "$ebase" "$etoken" "$work/saves-embedded" "$eproject" "$eurl"
  done
  save_summary "saves, embedded default:  " "$work/saves-embedded"
  # A clean stop, so the embedded cluster shuts down with it.
  kill -INT "$embedded_pid" 2>/dev/null || true
  wait "$embedded_pid" 2>/dev/null || true
fi

if want history; then
  echo "== version storage (coalescing off, so every save is a version)"
  read -r htoken hproject < <(user_project "$base0" history)
  ./target/release/examples/loadgen "$base0" "$htoken" "$hproject" "$DURATION" history >"$work/loadgen.out"
  read -r _ hist_id hist_size < <(grep '^HISTORY_FILE' "$work/loadgen.out")
  psql "$DATABASE_URL" -tA -F ' ' -c "SELECT count(*), sum(octet_length(body)), sum(pg_column_size(body)) FROM file_versions WHERE file_id = '$hist_id'" |
    while read -r versions bytes stored; do
      echo "version storage, 1,000 small edits of a 20 KB document: $versions versions, $bytes bytes of scripts and snapshots ($stored stored after compression) for a final document of $hist_size bytes: $(python3 -c "print(f'{$bytes/$hist_size:.2f}')")x"
    done
fi

# Chat first byte: its own script (own durable PostgreSQL, own mdz per case).
if want chat; then scripts/bench-chat.sh; fi
