#!/usr/bin/env bash
# Rebuild the web app's bundle (web/dist/, committed and embedded in the binary) from web/src
# with the npm packages pinned by web/package-lock.json. Deterministic: same sources, same
# bytes, after a type check (tsc). `--check` fails when the committed bundle differs from a fresh build (CI runs it).
set -euo pipefail
cd "$(dirname "$0")/../web"
if [ ! -f node_modules/.package-lock.json ] || ! cmp -s package-lock.json node_modules/.mdz-lock; then
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  cp package-lock.json node_modules/.mdz-lock
fi
node_modules/.bin/tsc -p .
node build.mjs
if [ "${1:-}" = --check ]; then
  if [ -n "$(git status --porcelain -- dist)" ]; then
    echo "web/dist differs from a fresh build of web/src: run scripts/web-build.sh and commit" >&2
    git status --short -- dist >&2
    exit 1
  fi
fi
