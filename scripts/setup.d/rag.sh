#!/usr/bin/env bash
# The RAG example app (examples/rag) and its browser test: Debian chromium (driven by npm playwright-core with
# executablePath, since `npx playwright install` cannot download offline) and the example's own node_modules.
# Idempotent: apt only when chromium is missing; npm ci only when node_modules is missing or older than the lock.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v chromium >/dev/null 2>&1; then
  echo "rag: installing chromium (apt)"
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
    --no-install-recommends chromium
else
  echo "rag: chromium present ($(command -v chromium))"
fi

# examples/rag links lance-e5 (file:../..), so the repo's own node_modules must exist first (scripts/test.sh runs
# `npm ci` at the root before this script).
cd examples/rag
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "rag: npm ci in examples/rag"
  ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
else
  echo "rag: examples/rag/node_modules is up to date"
fi
