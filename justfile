# The everyday commands. CI runs `.ci/run`, which runs the same scripts.

# Run mdz on embedded defaults (its own PostgreSQL under ./.mdz) at http://127.0.0.1:8080
run:
    cargo run --release

# The whole test suite on real PostgreSQL and Redis (installs what is missing)
test *ARGS:
    scripts/test.sh {{ARGS}}

# Formatting and lints, as CI checks them
lint:
    cargo fmt --all -- --check
    cargo clippy --workspace --all-targets -- -D warnings

# Benchmarks: `just bench` (HTTP, documents, chat), `just bench collab` (live editing),
# `just bench chat` (chat first byte only), `just bench ai` (AI edit and completion first
# byte, accept to visible), `just bench web` (the web app in chromium), `just bench data`
# (export, import, backup, restore, folder sync), `just bench all`
bench WHAT="http":
    #!/usr/bin/env bash
    set -euo pipefail
    case "{{WHAT}}" in
      http) scripts/bench.sh ;;
      collab) scripts/bench-collab.sh ;;
      chat) scripts/bench-chat.sh ;;
      ai) BENCH_CHAT_WHAT="edit complete" scripts/bench-chat.sh && BENCH_ONLY=accept scripts/bench-collab.sh ;;
      web) scripts/bench-web.sh ;;
      data) scripts/bench-data.sh ;;
      all) scripts/bench.sh && scripts/bench-collab.sh && scripts/bench-web.sh && scripts/bench-data.sh ;;
      *) echo "just bench [http|collab|chat|ai|web|data|all]" >&2; exit 2 ;;
    esac

# What CI runs
ci:
    .ci/run

# Print the OpenAPI document
openapi:
    cargo run --quiet -- openapi
