"""Cross-check of `lance-e5 passkey` with torch: the pools lance-e5 builds (exact token ids, dumped by
dump-pools.ts), embedded by the default model's own weights (read from its model.onnx), top-1 by cosine.
Optional `phase`: rotates each head's query on the slowest rotary pair by that angle (an init experiment)."""

import json
import sys
import time

import numpy as np
import onnx_weights
import torch

dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
pools = np.load(sys.argv[1])
configs = json.loads(sys.argv[2])  # [{"variant":..., "base":..., "phase":...}, ...]
lengths = [int(x) for x in sys.argv[3].split(",")] if len(sys.argv) > 3 and sys.argv[3] else None
out = open(sys.argv[4] if len(sys.argv) > 4 else "/dev/null", "w")


def rotate_queries(model, phase):
    cfg = model.config
    D = cfg.head_dim
    slow = D // 2 - 1
    c, s = np.cos(phase), np.sin(phase)
    with torch.no_grad():
        for layer in model.layers:
            w = layer.self_attn.q_proj.weight
            for h in range(cfg.num_attention_heads):
                a, b = h * D + slow, h * D + slow + D // 2
                wa, wb = w[a].clone(), w[b].clone()
                w[a] = c * wa - s * wb
                w[b] = s * wa + c * wb


@torch.no_grad()
def embed(model, ids, lens):
    if not (lens == ids.shape[1]).all():  # queries: one at a time, unpadded (the attention assumes no padding)
        return torch.cat([embed(model, ids[i : i + 1, : lens[i]], lens[i : i + 1]) for i in range(len(ids))])
    vecs = []
    budget = 1 << 19
    step = max(1, budget // ids.shape[1])
    for i in range(0, len(ids), step):
        x = torch.from_numpy(ids[i : i + step].astype(np.int64)).to(dev)
        # Unpadded rows: no mask, so SDPA takes its causal memory-efficient kernel instead of materialising L x L;
        # the last position is each row's EOS.
        v = model(input_ids=x).last_hidden_state[:, -1]
        vecs.append(torch.nn.functional.normalize(v.float(), dim=-1))
    return torch.cat(vecs)


for cfg in configs:
    model = onnx_weights.load("models/default", cfg["base"]).to(dev)
    if cfg.get("phase"):
        rotate_queries(model, cfg["phase"])
    for key in sorted(
        {k.rsplit("_", 1)[0] for k in pools.files}, key=lambda k: (k.split("_")[0], int(k.split("_")[1]))
    ):
        variant, length = key.split("_")
        length = int(length)
        if variant != cfg["variant"] or (lengths and length not in lengths):
            continue
        t0 = time.time()
        docs = pools[f"{key}_docs"]
        d = embed(model, docs, np.full(len(docs), docs.shape[1]))
        q = embed(model, pools[f"{key}_queries"], pools[f"{key}_qlens"])
        top = (q @ d.T).argmax(-1).cpu().numpy()
        acc = float((top == pools[f"{key}_answers"]).mean())
        row = dict(
            cfg,
            length=length,
            accuracy=round(acc, 3),
            queries=len(q),
            candidates=len(d),
            seconds=round(time.time() - t0, 1),
        )
        print(json.dumps(row), flush=True)
        out.write(json.dumps(row) + "\n")
        out.flush()
