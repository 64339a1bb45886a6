#!/usr/bin/env bash
# Data in and out (`just bench data`), release build, loopback, PostgreSQL durable (fsync,
# synchronous_commit and full_page_writes on; the settings are asked of the server and printed
# first), on a project of BENCH_DATA_DOCS (10,000) real Markdown documents not written by us:
# the `.md` files of the local Cargo registry (BENCH_CORPUS), replicated into folders and
# loaded through the API by `examples/searchload seed`, the search benchmark's corpus:
#   1. export (`GET /projects/{id}/export`): docs/s, MB/s, peak RSS of mdz serve;
#   2. import of that export (`POST /projects/import`): docs/s, peak RSS of mdz serve;
#   3. `mdz backup` of the whole instance while it serves, and `mdz restore` of that file into
#      an empty database and data directory: MB/s, seconds, peak RSS of the command;
#   4. `mdz sync` of the project: the first pull (`--once`), then in watch mode the
#      propagation of BENCH_DATA_CHANGES (50) REST saves of one document to its file in the
#      folder and as many edits of the file to the server (scripts/bench/sync_latency.py),
#      p50/p99, BENCH_RUNS (3) runs, min/median/max.
# Peak RSS of mdz serve: its high-water mark reset before the step (/proc/PID/clear_refs),
# VmHWM read after it. Of a command: its VmHWM sampled every 20 ms until it exits.
# Prints figures; asserts nothing. BENCH_BIN_DIR=DIR uses the binaries already built there
# (mdz, examples/searchload) instead of building them.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

RUNS=${BENCH_RUNS:-3}
DOCS=${BENCH_DATA_DOCS:-10000}
CHANGES=${BENCH_DATA_CHANGES:-50}
CORPUS=${BENCH_CORPUS:-$HOME/.cargo/registry/src}
BIN_DIR=${BENCH_BIN_DIR:-./target/release}
# Longest an export or import request may take before the benchmark gives up on it.
MAX_REQUEST_SECS=${BENCH_DATA_MAX_SECS:-3600}
ensure_tools
if [ -z "${BENCH_BIN_DIR:-}" ]; then
  cargo build --release -p mdz-server --bin mdz --example searchload
fi
stats() { python3 scripts/bench/stats.py "$@"; }

work=$(mktemp -d /tmp/mdz-bench-data.XXXXXX)
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

# Peak RSS of a running process from now on, in MiB: reset, then read.
rss_reset() { echo 5 >"/proc/$1/clear_refs"; }
rss_now_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
rss_peak_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
# Run a command (no shell: `env` for variables), its output to LOG; prints "seconds peak_MiB".
# A failure shows the log and ends the benchmark.
timed_peak() { # log, command…
  local log=$1 start end pid sampler
  shift
  : >"$work/peak"
  start=$(date +%s.%N)
  "$@" >"$log" 2>&1 &
  pid=$!
  (
    peak=0
    while [ -r "/proc/$pid/status" ]; do
      h=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
      if [ -n "$h" ] && [ "$h" -gt "$peak" ]; then peak=$h; echo "$peak" >"$work/peak"; fi
      sleep 0.02
    done
  ) &
  sampler=$!
  if ! wait "$pid"; then
    echo "failed: $*" >&2
    cat "$log" >&2
    return 1
  fi
  end=$(date +%s.%N)
  wait "$sampler" 2>/dev/null || true
  echo "$(python3 -c "print(f'{$end - $start:.2f}')") $(($(cat "$work/peak" 2>/dev/null || echo 0) / 1024))"
}
ratio() { python3 -c "print(f'{$1 / max($2, 1e-9):.${3:-1}f}')"; }
mb() { python3 -c "print(f'{$1 / 1e6:.1f}')"; }
sql() { psql "$1" -tA -c "$2"; }

MDZ_PORT=$(free_port)
MDZ_DATA_DIR="$work/data" MDZ_LISTEN="127.0.0.1:$MDZ_PORT" MDZ_LOG_LEVEL=warn MDZ_WORKERS=2 \
  "$BIN_DIR/mdz" serve >"$work/mdz.log" 2>&1 &
mdz_pid=$!
pids+=("$mdz_pid")
base="http://127.0.0.1:$MDZ_PORT"
wait_ready "$base"
read -r token project < <(user_project "$base" data)

echo "== mdz bench data: $(nproc) cores, loopback, binaries from $BIN_DIR"
print_pg_settings "DATABASE_URL, as started by this script" "$DATABASE_URL"
echo "== the project: $DOCS documents of real Markdown from $CORPUS"
"$BIN_DIR/examples/searchload" seed "$base" "$token" "$project" "$CORPUS" "$DOCS" \
  "$work/queries.tsv" | sed 's/^/  /'
docs=$(sql "$DATABASE_URL" "SELECT count(*) FROM files WHERE project_id = '$project' AND deleted_at IS NULL")
md_bytes=$(sql "$DATABASE_URL" "SELECT coalesce(sum(octet_length(content)), 0) FROM files WHERE project_id = '$project' AND deleted_at IS NULL")
echo "  $docs documents, $(mb "$md_bytes") MB of Markdown; mdz serve RSS now $(rss_now_mib "$mdz_pid") MiB"

echo "== export and import (one run each)"
rss_reset "$mdz_pid"
read -r secs zip_bytes < <(curl -fsS --max-time "$MAX_REQUEST_SECS" -o "$work/export.zip" \
  -w '%{time_total} %{size_download}\n' -H "Authorization: Bearer $token" \
  "$base/api/v1/projects/$project/export")
printf '  export: %s documents in %.2f s: %s docs/s, %s MB/s of Markdown (zip %s MB, %s MB/s); mdz peak RSS %s MiB\n' \
  "$docs" "$secs" "$(ratio "$docs" "$secs" 0)" "$(ratio "$md_bytes / 1e6" "$secs")" \
  "$(mb "$zip_bytes")" "$(ratio "$zip_bytes / 1e6" "$secs")" "$(rss_peak_mib "$mdz_pid")"
rss_reset "$mdz_pid"
secs=$(curl -fsS --max-time "$MAX_REQUEST_SECS" -o "$work/import.json" -w '%{time_total}\n' \
  -X POST -H "Authorization: Bearer $token" -H 'content-type: application/zip' \
  --data-binary @"$work/export.zip" "$base/api/v1/projects/import?name=Imported")
read -r imported copy < <(python3 -c "import json; d = json.load(open('$work/import.json')); print(d['import']['documents'], d['id'])")
printf '  import: %s documents in %.2f s (upload included): %s docs/s, %s MB/s of zip; mdz peak RSS %s MiB\n' \
  "$imported" "$secs" "$(ratio "$imported" "$secs" 0)" "$(ratio "$zip_bytes / 1e6" "$secs")" \
  "$(rss_peak_mib "$mdz_pid")"

echo "== backup and restore of the instance (one run each; $((2 * docs)) documents: the project and its copy)"
db_bytes=$(sql "$DATABASE_URL" "SELECT pg_database_size(current_database())")
read -r secs peak < <(timed_peak "$work/backup.log" env MDZ_DATA_DIR="$work/data" \
  MDZ_LOG_LEVEL=warn "$BIN_DIR/mdz" backup "$work/backup.zip")
backup_bytes=$(stat -c %s "$work/backup.zip")
printf '  mdz backup (while serving): database %s MB -> file %s MB in %.2f s: %s MB/s of file; peak RSS %s MiB\n' \
  "$(mb "$db_bytes")" "$(mb "$backup_bytes")" "$secs" "$(ratio "$backup_bytes / 1e6" "$secs")" "$peak"
psql "$DATABASE_URL" -q -c "CREATE DATABASE restored"
restored_url="postgres://postgres@127.0.0.1:${PG_PORT}/restored"
read -r secs peak < <(timed_peak "$work/restore.log" env DATABASE_URL="$restored_url" \
  MDZ_DATA_DIR="$work/restored" MDZ_LOG_LEVEL=warn "$BIN_DIR/mdz" restore "$work/backup.zip")
printf '  mdz restore (empty database): %s MB file in %.2f s: %s MB/s of file; %s documents restored; peak RSS %s MiB\n' \
  "$(mb "$backup_bytes")" "$secs" "$(ratio "$backup_bytes / 1e6" "$secs")" \
  "$(sql "$restored_url" "SELECT count(*) FROM files")" "$peak"

echo "== mdz sync of the project ($docs documents)"
sync_dir="$work/sync"
read -r secs peak < <(timed_peak "$work/sync-once.log" env MDZ_TOKEN="$token" MDZ_LOG_LEVEL=warn \
  "$BIN_DIR/mdz" sync "$sync_dir" --server "$base" --project "$project" --once)
pulled=$(find "$sync_dir" -name '*.md' -not -path '*/.mdz-sync/*' | wc -l)
# The folder leaves out paths with a segment starting with a dot (.github/…), as sync does.
dotted=$(sql "$DATABASE_URL" "SELECT count(*) FROM files WHERE project_id = '$project' AND deleted_at IS NULL AND path ~ '(^|/)\.'")
printf '  first pull (--once): %s files in %.2f s: %s docs/s; peak RSS %s MiB (%s documents under dot folders not synced)\n' \
  "$pulled" "$secs" "$(ratio "$pulled" "$secs" 0)" "$peak" "$dotted"
MDZ_TOKEN="$token" MDZ_LOG_LEVEL=warn "$BIN_DIR/mdz" sync "$sync_dir" --server "$base" \
  --project "$project" >"$work/sync.log" 2>&1 &
sync_pid=$!
pids+=("$sync_pid")
sleep 3 # its first round: the folder is already in step
IFS=$'\t' read -r file_id file_path < <(psql "$DATABASE_URL" -tA -F $'\t' -c \
  "SELECT id, path FROM files WHERE project_id = '$project' AND deleted_at IS NULL ORDER BY path LIMIT 1")
echo "  watch mode: $CHANGES REST saves of $file_path reaching the folder and $CHANGES edits of its file reaching the server, one at a time, per run"
: >"$work/sync-remote"
: >"$work/sync-local"
for r in $(seq "$RUNS"); do
  out=$(python3 scripts/bench/sync_latency.py "$base" "$token" "$file_id" "$sync_dir/$file_path" "$CHANGES")
  echo " run $r"
  sed 's/^/  /' <<<"$out"
  remote=$(grep '^remote->local' <<<"$out")
  local_=$(grep '^local->remote' <<<"$out")
  echo "$(stats field p50 <<<"$remote") $(stats field p99 <<<"$remote")" >>"$work/sync-remote"
  echo "$(stats field p50 <<<"$local_") $(stats field p99 <<<"$local_")" >>"$work/sync-local"
done
stats runs "sync, REST save -> local file, p50" $(awk '{print $1}' "$work/sync-remote")
stats runs "sync, REST save -> local file, p99" $(awk '{print $2}' "$work/sync-remote")
stats runs "sync, local edit -> server,    p50" $(awk '{print $1}' "$work/sync-local")
stats runs "sync, local edit -> server,    p99" $(awk '{print $2}' "$work/sync-local")
echo "  mdz sync (watch) peak RSS $(rss_peak_mib "$sync_pid") MiB"
