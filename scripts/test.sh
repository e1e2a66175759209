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
# mypy itself crashed once in CI ("INTERNAL ERROR", no type error reported). A crash of the
# checker is retried once with a fresh cache and mypy's older parser; a type error fails.
typecheck_python() {
  local out
  if out=$(.venv/bin/mypy lance_e5_train 2>&1); then echo "$out"; return 0; fi
  echo "$out"
  grep -q "INTERNAL ERROR" <<<"$out" || return 1
  echo "mypy crashed (above): retrying once with a fresh cache and --no-native-parser"
  rm -rf .mypy_cache
  .venv/bin/mypy --no-native-parser lance_e5_train
}
step "python lint"; (cd training && .venv/bin/ruff check . && typecheck_python)
step "python tests"; (cd training && .venv/bin/pytest -q)
step "typescript tests"
# Node 20's --test does not expand globs itself: let bash list the files.
shopt -s globstar
node --import tsx --test --test-concurrency=1 --test-reporter=spec test/**/*.test.ts
step "examples/rag (typecheck, API and headless-Chromium tests)"; (cd examples/rag && npm test)
