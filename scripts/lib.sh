# Shared by scripts/test.sh and the benchmark scripts: tools and throwaway services.

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

pg_bin_dir() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_tools() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  local bin
  bin=$(pg_bin_dir)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then missing+=(postgresql); fi
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
  if ! command -v s3s-fs >/dev/null 2>&1; then
    echo "installing s3s-fs (an S3-compatible server for the attachment tests)" >&2
    cargo install s3s-fs@0.14.1 --locked --features binary
  fi
  if ! cargo nextest --version >/dev/null 2>&1; then
    echo "installing cargo-nextest" >&2
    cargo install cargo-nextest --locked
  fi
}

# The stock yjs + y-websocket client the collab tests drive (pinned by package-lock.json).
ensure_js_client() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/collab-js"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.mdz-lock"; then
    echo "installing the npm yjs/y-websocket client for the collab tests" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$dir/node_modules/.mdz-lock"
  fi
}

# The real OpenID Connect provider of the single sign-on tests: oidc-provider (pinned by
# tests/oidc-js/package-lock.json), run by Node.
ensure_oidc_provider() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/oidc-js"
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.mdz-lock"; then
    echo "installing the npm oidc-provider for the single sign-on tests" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$dir/node_modules/.mdz-lock"
  fi
}

# The browser tests of the web app: playwright-core (pinned by tests/web-js/package-lock.json)
# driving the OS chromium, never a browser downloaded at test time.
ensure_web_tests() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/web-js"
  if ! command -v chromium >/dev/null 2>&1; then
    echo "installing chromium for the browser tests" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
    ! cmp -s "$dir/package-lock.json" "$dir/node_modules/.mdz-lock"; then
    echo "installing playwright-core and axe-core for the browser tests" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    cp "$dir/package-lock.json" "$dir/node_modules/.mdz-lock"
  fi
}

# A Python virtualenv in tests/$1/.venv with tests/$1/requirements.txt installed, (re)made when
# the requirements change.
ensure_venv() {
  local dir
  dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/$1"
  if [ ! -x "$dir/.venv/bin/python" ] || ! cmp -s "$dir/requirements.txt" "$dir/.venv/.mdz-requirements"; then
    echo "installing $2" >&2
    command -v python3 >/dev/null 2>&1 || { as_root apt-get update -qq; as_root apt-get install -y -qq python3 python3-venv >/dev/null; }
    python3 -m venv "$dir/.venv" 2>/dev/null || {
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
      python3 -m venv "$dir/.venv"
    }
    "$dir/.venv/bin/pip" install -q --disable-pip-version-check -r "$dir/requirements.txt"
    cp "$dir/requirements.txt" "$dir/.venv/.mdz-requirements"
  fi
}

# The official MCP Python SDK the MCP tests drive (pinned in tests/mcp-py/requirements.txt).
ensure_py_client() {
  ensure_venv mcp-py "the MCP Python SDK for the MCP tests"
}

# schemathesis for the schema fuzzing test (pinned in tests/fuzz-py/requirements.txt).
ensure_fuzzer() {
  ensure_venv fuzz-py "schemathesis for the schema fuzzing test"
}

# What tests/e2e/deploy.rs validates deploy/ with: promtool (Debian `prometheus`), kubectl
# with kustomize 4.1+ (the machine image has it; Debian's `kubernetes-client` is the fallback,
# but its kustomize is too old for deploy/k8s), and the pinned Python tools: checkov and
# kubernetes-validate in tests/deploy-py, python-hcl2 in tests/hcl-py (checkov's own fork
# installs the same `hcl2` module, so they cannot share a venv).
ensure_deploy_tools() {
  local missing=()
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v kubectl >/dev/null 2>&1 || missing+=(kubernetes-client)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]} (deploy checks)" >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  ensure_venv deploy-py "checkov and kubernetes-validate for the deploy checks"
  ensure_venv hcl-py "python-hcl2 for the deploy checks"
}

# aiosmtpd, the real SMTP server of the mail tests (pinned in tests/mail-py/requirements.txt).
ensure_mail_sink() {
  ensure_venv mail-py "aiosmtpd for the mail tests"
}

# standardwebhooks, the reference library the webhook tests verify signatures with (pinned in
# tests/webhooks-py/requirements.txt).
ensure_webhook_verifier() {
  ensure_venv webhooks-py "standardwebhooks for the webhook tests"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Run a PostgreSQL binary as the postgres user when we are root (PostgreSQL refuses root).
pg_run() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start_services() {
  local work=$1 bin
  bin=$(pg_bin_dir)
  PG_PORT=$(free_port)
  REDIS_PORT=$(free_port)
  mkdir -p "$work/pg"
  if [ "$(id -u)" = 0 ]; then chown postgres "$work/pg"; fi
  pg_run "$bin/initdb" -D "$work/pg" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  # Throwaway clusters skip fsync; PG_DURABLE=1 keeps it (benchmarks that claim durability).
  local safety="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  if [ "${PG_DURABLE:-0}" = 1 ]; then safety=""; fi
  pg_run "$bin/pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w start -o \
    "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $work/pg $safety -c max_connections=400 ${PG_OPTIONS:-}" >/dev/null
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
  S3_PORT=$(free_port)
  S3_ACCESS_KEY=mdz-test
  S3_SECRET_KEY=mdz-test-secret
  mkdir -p "$work/s3"
  s3s-fs --host 127.0.0.1 --port "$S3_PORT" --access-key "$S3_ACCESS_KEY" \
    --secret-key "$S3_SECRET_KEY" "$work/s3" >"$work/s3.log" 2>&1 &
  echo $! >"$work/s3.pid"
  for _ in $(seq 50); do
    redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$S3_PORT") 2>/dev/null && break
    sleep 0.1
  done
  echo "services: PostgreSQL on $PG_PORT, Redis on $REDIS_PORT, S3 on $S3_PORT ($work)" >&2
}

stop_services() {
  local work=$1 bin
  bin=$(pg_bin_dir)
  if [ -f "$work/pg/postmaster.pid" ]; then
    pg_run "$bin/pg_ctl" -D "$work/pg" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -f "$work/redis.pid" ]; then
    kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  fi
  if [ -f "$work/s3.pid" ]; then
    kill "$(cat "$work/s3.pid")" 2>/dev/null || true
  fi
}

# The settings a benchmark's PostgreSQL runs with, asked of the server itself (SHOW), on one
# line: what makes a commit durable first.
print_pg_settings() { # label, url
  local label=$1 url=$2 line=""
  for name in server_version fsync synchronous_commit full_page_writes wal_sync_method \
    shared_buffers max_wal_size checkpoint_timeout; do
    line+="$name=$(psql "$url" -tAc "SHOW $name" | awk '{print $1}') "
  done
  echo "PostgreSQL ($label): $line"
}

# The raw PostgreSQL floor of a save: pgbench, 16 clients at 160 transactions/s in all (each
# every 100 ms on average, Poisson arrivals), each UPDATE rewriting its own 20 KB text row by
# id (new text each time, as a save does). Prints "p50 p99 transactions" in ms, timed from each
# transaction's start.
pg_floor() { # url, seconds, scratch dir
  local url=$1 seconds=$2 dir=$3 bin
  bin=$(pg_bin_dir)
  mkdir -p "$dir"
  rm -f "$dir"/floor.*
  psql "$url" -q -v ON_ERROR_STOP=1 \
    -c "CREATE TABLE IF NOT EXISTS bench_floor (id int PRIMARY KEY, body text NOT NULL)" \
    -c "INSERT INTO bench_floor SELECT i, left((SELECT string_agg(left(md5((random() * 3000)::int::text), 3 + (random() * 7)::int), ' ') FROM generate_series(1, 3000)), 20000) FROM generate_series(1, 16) i ON CONFLICT DO NOTHING"
  echo "UPDATE bench_floor SET body = overlay(body placing md5(random()::text) from 1 + (random() * 19000)::int for 32) WHERE id = :client_id + 1;" >"$dir/update.sql"
  (cd "$dir" && "$bin/pgbench" -n -c 16 -j 2 -R 160 -T "$seconds" -f update.sql -l \
    --log-prefix=floor "$url" >pgbench.out 2>&1) || { cat "$dir/pgbench.out" >&2; return 1; }
  python3 "$(dirname "${BASH_SOURCE[0]}")/bench/stats.py" pgbench "$dir"/floor.*
}

# ---- benchmark helpers (scripts/bench*.sh) ----

wait_ready() { for _ in $(seq 300); do curl -fs "$1/health/ready" >/dev/null 2>&1 && return; sleep 0.1; done; }
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
# A user (the email names it) and a project on the server at $1; prints "token project".
user_project() {
  local token project
  token=$(curl -fs -X POST "$1/api/v1/auth/register" -H 'content-type: application/json' \
    -d "{\"email\":\"$2@example.com\",\"password\":\"violet-harbour-42\",\"display_name\":\"Bench\"}" | json access_token)
  # A personal access token: the benchmark outlasts an access token (15 min).
  token=$(curl -fs -X POST "$1/api/v1/auth/tokens" -H 'content-type: application/json' \
    -H "Authorization: Bearer $token" -d '{"name":"bench","expires_in_days":1}' | json token)
  project=$(curl -fs -X POST "$1/api/v1/projects" -H 'content-type: application/json' \
    -H "Authorization: Bearer $token" -d "{\"name\":\"$2\"}" | json id)
  echo "$token $project"
}
