#!/usr/bin/env bash
# The one test command (README, .ci/run): performs every install it needs, then runs
# type-check, linters, the TypeScript tests and the Python tests.
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip
step() { printf '\n== %s\n' "$*"; }

step "npm ci"
if [[ ! -d node_modules/@lancedb/lancedb || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi
step "training venv"; bash scripts/setup-training.sh
for s in scripts/setup.d/*.sh; do step "setup: $s"; bash "$s"; done
step "parity fixtures"; bash scripts/build-fixtures.sh
step "typecheck"; npx tsc --noEmit
step "lint"; npx biome check .
step "python lint"; (cd training && .venv/bin/ruff check . && .venv/bin/mypy lance_e5_train)
step "python tests"; (cd training && .venv/bin/pytest -q)
step "typescript tests"
# Node 20's --test does not expand globs itself: let bash list the files.
shopt -s globstar
node --import tsx --test --test-concurrency=1 --test-reporter=spec test/**/*.test.ts
step "examples/rag (typecheck, API and headless-Chromium tests)"; (cd examples/rag && npm test)
