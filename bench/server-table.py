"""Embeds the bench:server corpus on a GPU with the e5 model-card recipe (the one the parity fixtures check the
ONNX runtime against to 1e-6): tokenise with the tokenizer's own special tokens, truncate to max_len - 1, append
EOS, right-pad, last-token pool by the attention mask, L2-normalise. Writes float16 vectors in row order, split
into files of at most 16 MiB (what a device run can hand back), plus meta.json.

  python3 bench/server-table.py --checkpoint DIR --texts texts.jsonl.gz --max-length 512 --out OUTDIR

Only for building the ≥100k-row benchmark table when a GPU is at hand; bench/server.ts embeds on CPU otherwise.
"""

import argparse
import gzip
import json
import time
from pathlib import Path

import torch
from transformers import AutoModel, AutoTokenizer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--texts", required=True)
    parser.add_argument("--max-length", type=int, default=512)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    with gzip.open(args.texts, "rt", encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    started = time.time()
    tokenizer = AutoTokenizer.from_pretrained(args.checkpoint)
    eos = tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = AutoModel.from_pretrained(args.checkpoint, dtype=torch.float32).to(device).eval()
    ids = tokenizer(texts, max_length=args.max_length - 1, truncation=True, padding=False)["input_ids"]
    ids = [list(row) + [eos] for row in ids]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    out = torch.empty((len(ids), model.config.hidden_size), dtype=torch.float16)
    with torch.no_grad():
        for start in range(0, len(order), args.batch):
            rows = order[start : start + args.batch]
            width = max(len(ids[i]) for i in rows)
            input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for j, i in enumerate(rows):
                input_ids[j, : len(ids[i])] = torch.tensor(ids[i])
                mask[j, : len(ids[i])] = 1
            hidden = model(input_ids=input_ids.to(device), attention_mask=mask.to(device)).last_hidden_state
            last = mask.sum(dim=1).to(device) - 1
            pooled = hidden[torch.arange(len(rows), device=hidden.device), last]
            out[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).half().cpu()
    data = out.numpy().tobytes()
    target = Path(args.out)
    target.mkdir(parents=True, exist_ok=True)
    part = 16 * 1024 * 1024 - 4096
    files = []
    for n, offset in enumerate(range(0, len(data), part)):
        name = f"vectors-{n}.f16"
        (target / name).write_bytes(data[offset : offset + part])
        files.append(name)
    meta = {
        "rows": len(ids),
        "dim": model.config.hidden_size,
        "dtype": "float16",
        "files": files,
        "tokens": sum(len(r) for r in ids),
        "seconds": round(time.time() - started, 1),
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
    }
    (target / "meta.json").write_text(json.dumps(meta))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
