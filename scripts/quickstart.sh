#!/usr/bin/env bash
# The README's first command (`npm run quickstart`): install, ingest the bundled public-domain sample corpus
# (examples/corpus/sotu: State of the Union excerpts) into ./data/lancedb table "docs" with the resolved model,
# then run a few instructed searches and print the ranked results. Offline; safe to re-run (ingest is idempotent).
set -euo pipefail
cd "$(dirname "$0")/.."
export ONNXRUNTIME_NODE_INSTALL=skip
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "install (npm ci)"
if [[ ! -d node_modules/@lancedb/lancedb || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  echo "node_modules is up to date"
fi

# The model: --model/LANCE_E5_MODEL, else the shipped default (models/default). Until the default model is
# committed, fall back to the bench-mistral test fixture (built offline from the repo) and say so loudly:
# its weights are random, so rankings are meaningless, but every step of the product runs for real.
model="${LANCE_E5_MODEL:-models/default}"
if [[ ! -f "$model/lance-e5.json" ]]; then
  if [[ -n "${LANCE_E5_MODEL:-}" ]]; then
    echo "quickstart: LANCE_E5_MODEL=$model is not a model directory (no lance-e5.json)" >&2
    exit 2
  fi
  say "no shipped model in models/default yet: building the test fixtures instead"
  bash scripts/setup-training.sh
  bash scripts/build-fixtures.sh
  model=test/fixtures/models/bench-mistral
  echo "WARNING: using $model, a RANDOM-WEIGHT stand-in model; results below show the pipeline, not quality." >&2
fi
export LANCE_E5_MODEL="$model"
cli() { node bin/lance-e5.js "$@"; }

say "ingest examples/corpus/sotu → ./data/lancedb (table docs) with $model"
# --reembed: if ./data/lancedb/docs was built with another model earlier, re-embed it with this one.
cli ingest examples/corpus/sotu --db ./data/lancedb --table docs --reembed

# Hybrid (vector + full-text, fused by RRF) is the default shown: the small default model is much weaker than
# BM25 alone on its own (see models/default/lance-e5.json "card"), and hybrid keeps its help where it has any.
run_search() {
  local mode=$1 task=$2 query=$3
  say "search --mode $mode --task $task: \"$query\""
  cli search "$query" --db ./data/lancedb --table docs --task "$task" --mode "$mode" --k 3
}
run_search hybrid question "What are the four essential human freedoms?"
run_search hybrid web_search "purchase of Alaska from Russia"
run_search hybrid claim "The era of big government is over."
run_search vector question "What are the four essential human freedoms?"

say "done"
echo "Try your own: node bin/lance-e5.js search \"your question\" --task question"
echo "Plain LanceDB with the plugin: LANCE_E5_MODEL=$model node --import tsx examples/plugin.ts \"your question\""
