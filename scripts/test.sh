#!/usr/bin/env bash
# The whole test suite on real services: installs what is missing (Debian packages, s3s-fs,
# cargo-nextest), starts a throwaway PostgreSQL cluster, a redis-server and an S3-compatible
# server (s3s-fs) on free ports, (chromium and the npm packages of the browser tests, the npm
# OpenID Connect provider of the single sign-on tests; promtool,
# kubectl, checkov, kubernetes-validate, python-hcl2 for the deploy checks), runs every test with
# nextest, and stops them.
# Extra arguments go to `cargo nextest run` (e.g. `scripts/test.sh -E 'test(login)'`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_tools
ensure_js_client
ensure_oidc_provider
ensure_web_tests
ensure_py_client
ensure_fuzzer
ensure_deploy_tools
ensure_mail_sink
ensure_webhook_verifier
work=$(mktemp -d /tmp/mdz-test.XXXXXX)
chmod 755 "$work"
cleanup() {
  stop_services "$work"
  rm -rf "$work"
}
trap cleanup EXIT
start_services "$work"

export DATABASE_URL="postgres://postgres@127.0.0.1:${PG_PORT}/postgres"
export REDIS_URL="redis://127.0.0.1:${REDIS_PORT}"
export TEST_REDIS_SERVER="$(command -v redis-server)"
export TEST_PG_BIN="$(pg_bin_dir)"
export TEST_S3_ENDPOINT="http://127.0.0.1:${S3_PORT}"
export TEST_S3_ACCESS_KEY="$S3_ACCESS_KEY" TEST_S3_SECRET_KEY="$S3_SECRET_KEY"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

# The reconnect storm opens 1,000 sockets on each side.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
cargo nextest run --workspace --no-fail-fast "$@"
