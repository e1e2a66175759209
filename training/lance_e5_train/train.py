"""`python -m lance_e5_train train`: contrastive fine-tuning with the paper's recipe (REFERENCE.md §2).

One loop, run the same way by 1 process, by `torchrun --nproc_per_node N` (DDP, gloo on CPU / nccl on GPU) and by
`accelerate launch --config_file configs/accelerate_zero3.yaml` (DeepSpeed ZeRO-3 for 7B bases). Each global batch
is sliced evenly over the processes; documents are all-gathered with gradient flow, so every query is scored against
the whole global batch and N processes train exactly like one (tests/test_ddp.py).

Output (`--out DIR`): the LoRA adapter (adapter_config.json + weights; `merge` folds it into the base) or, with
`--full`, a complete HF checkpoint; plus tokenizer files, train_config.json, log.jsonl (loss + held-out metric) and
training_card.json (base, data sources with counts, steps, hardware, scores) for the exporter's model card.
Checkpoints go to DIR/checkpoints/step-N; `--resume` continues from the latest one on the same loss curve.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import time
from collections import Counter
from dataclasses import fields
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from transformers import get_linear_schedule_with_warmup

from .data import Example, make_batches, read_examples, report_bad_lines, split_eval
from .loss import contrastive_loss
from .model import TextEncoder, TrainConfig, embed, embed_texts, format_query, load_encoder_model, template_for

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")
HELP = {
    "base": "HF checkpoint dir of the base decoder (Mistral/Llama/Qwen2/Qwen3 with tokenizer.json)",
    "data": "one or more `lance-e5 synth` JSONL files",
    "out": "output dir (adapter or full checkpoint, logs, checkpoints)",
    "batch_size": "global batch size over all processes (paper: 2048 on 32 GPUs)",
    "full": "train all parameters instead of a LoRA adapter",
    "precision": "auto|no|fp16|bf16 (auto: bf16 on a GPU that supports it, fp16 on other GPUs, fp32 on CPU)",
    "group_by_family": "draw each batch from one task family",
    "config": "JSON file of TrainConfig values (flags given on the command line win)",
    "resume": "continue from the latest checkpoint in OUT/checkpoints",
}
REQUIRED = ("base", "data", "out", "batch_size")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help=HELP["config"])
    parser.add_argument("--resume", action="store_true", help=HELP["resume"])
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        default = getattr(defaults, f.name)
        text = HELP.get(f.name, "") + (f" (default {default!r})" if f.name not in REQUIRED else " (required)")
        kwargs: dict = {"dest": f.name, "default": argparse.SUPPRESS, "help": text.strip()}
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, **kwargs)
        elif isinstance(default, list | tuple):
            parser.add_argument(flag, nargs="+", **kwargs)
        else:
            parser.add_argument(flag, type=type(default), **kwargs)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values: dict = json.loads(Path(args.config).read_text()) if getattr(args, "config", None) else {}
    unknown = [k for k in values if k not in TrainConfig.__dataclass_fields__ and not k.startswith("_")]
    if unknown:  # a typo in a config file must not silently fall back to a default
        raise SystemExit(f"train: unknown setting(s) in {args.config}: {', '.join(unknown)}")
    values.update({f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)})
    config = TrainConfig.from_dict(values)
    missing = [name for name in REQUIRED if not getattr(config, name)]
    if missing:
        raise SystemExit(
            f"train: missing required setting(s): {', '.join('--' + m.replace('_', '-') for m in missing)}"
        )
    return config


def mixed_precision(config: TrainConfig) -> str | None:
    if config.precision != "auto":
        return config.precision
    if not torch.cuda.is_available():
        return "no"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def build_model(config: TrainConfig) -> torch.nn.Module:
    if config.base_dtype not in ("float32", "bfloat16", "float16"):
        raise SystemExit(f"train: --base-dtype must be float32, bfloat16 or float16, got {config.base_dtype!r}")
    model = load_encoder_model(config.base, dtype=getattr(torch, config.base_dtype))
    if config.gradient_checkpointing:
        # Non-reentrant checkpointing works with frozen inputs (LoRA) and with DDP without extra hooks.
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if config.full:
        return model
    from peft import LoraConfig, get_peft_model

    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [t for t in config.lora_targets if t in present]
    if not targets:
        raise SystemExit(f"train: none of the LoRA targets {config.lora_targets} exist in {config.base}")
    lora = LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=targets,
        bias="none",
    )
    return get_peft_model(model, lora)


def optimizer_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for _, param in model.named_parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)  # norms and biases are 1-D: no decay
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@torch.no_grad()
def evaluate(model: torch.nn.Module, encoder: TextEncoder, template: str, held: list[Example]) -> dict[str, float]:
    """Retrieval over the held-out slice: each query against every held-out positive and hard negative."""
    if not held:
        return {}
    was_training = model.training
    model.eval()
    corpus = sorted({e.positive for e in held} | {e.negative for e in held if e.negative})
    index = {text: i for i, text in enumerate(corpus)}
    queries = embed_texts(model, encoder, [format_query(template, e.instruction, e.query) for e in held])  # (Q, H)
    documents = embed_texts(model, encoder, corpus)  # (D, H)
    scores = queries @ documents.T  # (Q, D)
    target = torch.tensor([index[e.positive] for e in held], device=scores.device)  # (Q,)
    own = scores.gather(1, target[:, None])  # (Q, 1)
    rank = (scores > own).sum(dim=1) + 1  # (Q,) 1 = best
    model.train(was_training)
    return {
        "recall@1": float((rank == 1).float().mean()),
        "mrr": float((1.0 / rank.float()).mean()),
        "queries": len(held),
        "documents": len(corpus),
    }


def latest_checkpoint(out: Path) -> Path | None:
    steps = sorted((int(p.name.split("-")[1]), p) for p in (out / "checkpoints").glob("step-*") if p.is_dir())
    return steps[-1][1] if steps else None


def check_resumable(saved: TrainConfig, config: TrainConfig) -> None:
    for name in (
        "base",
        "data",
        "batch_size",
        "seed",
        "full",
        "epochs",
        "max_steps",
        "group_by_family",
        "eval_percent",
    ):
        if getattr(saved, name) != getattr(config, name):
            raise SystemExit(f"train --resume: {name} was {getattr(saved, name)!r}, now {getattr(config, name)!r}")


def main(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    missing = [p for p in config.data if not Path(p).is_file()]
    if missing:
        raise SystemExit(f"train: data file(s) not found: {', '.join(missing)}")
    if not (Path(config.base) / "config.json").is_file():
        raise SystemExit(f"train: --base {config.base} is not a Hugging Face checkpoint (no config.json)")
    if config.threads > 0:
        torch.set_num_threads(config.threads)
    out = Path(config.out)
    # cpu=True on CPU-only machines: without it accelerate does not detect a torchrun launch as multi-process.
    accelerator = Accelerator(mixed_precision=mixed_precision(config), cpu=not torch.cuda.is_available())
    world, rank = accelerator.num_processes, accelerator.process_index
    if config.batch_size % world:
        raise SystemExit(f"train: --batch-size {config.batch_size} is not divisible by {world} processes")
    resume_from = latest_checkpoint(out) if out.exists() else None
    if resume_from and not args.resume:
        raise SystemExit(f"train: {out} already has checkpoints; pass --resume to continue or choose another --out")
    if args.resume and not resume_from and accelerator.is_main_process:
        print(f"train --resume: no checkpoint in {out}/checkpoints yet, starting from step 0", flush=True)
    if resume_from:
        check_resumable(TrainConfig.from_dict(json.loads((resume_from / "train_config.json").read_text())), config)
    set_seed(config.seed)

    # ---- data: validated, held-out slice split off, every global batch of the run fixed up front
    examples, bad = read_examples(config.data)
    if accelerator.is_main_process:
        report_bad_lines(bad)
    train_set, held = split_eval(examples, config.eval_percent, config.eval_max)
    if len(train_set) < 2:
        raise SystemExit(f"train: only {len(train_set)} usable training example(s) in {config.data}")
    families = [e.task_family for e in train_set]
    one_epoch = make_batches(families, config.batch_size, 1, config.seed, config.group_by_family, world)
    if not one_epoch:
        raise SystemExit(f"train: no batch of at least two examples can be formed from {len(train_set)} examples")
    epochs = math.ceil(config.max_steps / len(one_epoch)) if config.max_steps else config.epochs
    batches = make_batches(families, config.batch_size, epochs, config.seed, config.group_by_family, world)
    total_steps = min(config.max_steps, len(batches)) if config.max_steps else len(batches)

    # ---- model, optimiser, schedule
    model = build_model(config)
    encoder = TextEncoder.from_dir(config.base, config.max_length)
    template = config.instruction_template or template_for(str(getattr(model.config, "model_type", "")))
    optimizer = torch.optim.AdamW(optimizer_groups(model, config.weight_decay), lr=config.lr)
    # Not prepared by accelerate: its scheduler wrapper steps once per process, which would warp the schedule.
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, total_steps)
    model, optimizer = accelerator.prepare(model, optimizer)
    accelerator.register_for_checkpointing(scheduler)
    start_step = 0
    if resume_from:
        accelerator.load_state(str(resume_from))  # weights, optimiser, schedule, RNG states of every process
        start_step = json.loads((resume_from / "trainer.json").read_text())["step"]
    log = open_log(out, start_step) if accelerator.is_main_process else None

    def record(entry: dict) -> None:
        if log is not None:
            log.write(json.dumps(entry) + "\n")
            log.flush()
            print(json.dumps(entry), flush=True)

    if accelerator.is_main_process:
        (out / "train_config.json").write_text(config.to_json())
        record(
            {
                "event": "start",
                "step": start_step,
                "total_steps": total_steps,
                "train_examples": len(train_set),
                "eval_examples": len(held),
                "bad_lines": len(bad),
                "processes": world,
                "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            }
        )
    first_eval: dict | None
    if start_step == 0:
        first_eval = evaluate(model, encoder, template, held)
        if first_eval:
            record({"step": 0, "eval": first_eval})
    else:
        first_eval = next((e["eval"] for e in read_log(out) if e.get("step") == 0 and "eval" in e), None)

    # ---- the training loop: one forward over queries + documents, InfoNCE against the global batch, one update
    model.train()
    started = time.time()
    last_eval = first_eval
    for step in range(start_step, total_steps):
        global_batch = batches[step]
        local = len(global_batch) // world
        batch = [train_set[i] for i in global_batch[rank * local : (rank + 1) * local]]
        negatives = [e.negative for e in batch if e.negative]
        texts = (
            [format_query(template, e.instruction, e.query) for e in batch] + [e.positive for e in batch] + negatives
        )
        tokens = encoder.batch(texts)
        with accelerator.autocast():
            vectors = embed(
                model, tokens["input_ids"].to(accelerator.device), tokens["attention_mask"].to(accelerator.device)
            )  # (2b + n, H)
        queries, positives = vectors[:local], vectors[local : 2 * local]  # (b, H) each
        has_negative = torch.tensor([e.negative is not None for e in batch], device=vectors.device)  # (b,)
        negative_vectors = torch.zeros_like(positives)  # (b, H); rows without a hard negative stay masked
        negative_vectors[has_negative] = vectors[2 * local :]
        loss = contrastive_loss(queries, positives, negative_vectors, has_negative, config.temperature)
        accelerator.backward(loss)
        if config.max_grad_norm > 0:
            accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

        done = step + 1
        mean_loss = accelerator.reduce(loss.detach(), reduction="mean").item()
        if done % config.log_every == 0 or done == total_steps or done == start_step + 1:
            record(
                {
                    "step": done,
                    "loss": mean_loss,
                    "lr": scheduler.get_last_lr()[0],
                    "seconds": round(time.time() - started, 2),
                }
            )
        if (config.eval_every and done % config.eval_every == 0) or done == total_steps:
            last_eval = evaluate(model, encoder, template, held)
            if last_eval:
                record({"step": done, "eval": last_eval})
        if (config.save_every and done % config.save_every == 0) or done == total_steps:
            save_checkpoint(accelerator, out, done, config)

    accelerator.wait_for_everyone()
    save_final(accelerator, model, out, config, train_set, total_steps, first_eval, last_eval, len(bad))
    if log is not None:
        log.close()
    return 0


def read_log(out: Path) -> list[dict]:
    path = out / "log.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def open_log(out: Path, start_step: int):
    """log.jsonl, with entries after the resumed checkpoint dropped so the file shows one continuous curve."""
    out.mkdir(parents=True, exist_ok=True)
    kept = [e for e in read_log(out) if e.get("step", 0) <= start_step] if start_step else []
    path = out / "log.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in kept))
    return open(path, "a")


def save_checkpoint(accelerator: Accelerator, out: Path, step: int, config: TrainConfig) -> None:
    path = out / "checkpoints" / f"step-{step}"
    accelerator.save_state(str(path))
    if accelerator.is_main_process:
        (path / "train_config.json").write_text(config.to_json())
        (path / "trainer.json").write_text(json.dumps({"step": step}))
        kept = sorted((int(p.name.split("-")[1]), p) for p in (out / "checkpoints").glob("step-*"))
        for _, old in kept[: -max(1, config.keep_checkpoints)]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def save_final(
    accelerator: Accelerator,
    model: torch.nn.Module,
    out: Path,
    config: TrainConfig,
    train_set: list[Example],
    steps: int,
    first_eval: dict | None,
    last_eval: dict | None,
    bad_lines: int,
) -> None:
    state = accelerator.get_state_dict(model)  # gathers ZeRO-3 shards; a no-op copy otherwise
    if not accelerator.is_main_process:
        return
    accelerator.unwrap_model(model).save_pretrained(out, state_dict=state)
    for name in TOKENIZER_FILES:
        if (Path(config.base) / name).is_file():
            shutil.copy(Path(config.base) / name, out / name)
    sources = Counter(e.source for e in train_set)
    card = {
        "base": str(Path(config.base).resolve()),
        "method": "full fine-tune" if config.full else f"LoRA r{config.lora_r}/alpha{config.lora_alpha}",
        "objective": f"InfoNCE, in-batch + hard negatives, tau={config.temperature}",
        "trained_on": [{"source": s, "examples": n} for s, n in sorted(sources.items())],
        "families": dict(sorted(Counter(e.task_family for e in train_set).items())),
        "skipped_bad_lines": bad_lines,
        "steps": steps,
        "batch_size": config.batch_size,
        "hardware": hardware(accelerator),
        "scores": {"held_out_before": first_eval, "held_out_after": last_eval},
    }
    (out / "training_card.json").write_text(json.dumps(card, indent=2))


def hardware(accelerator: Accelerator) -> str:
    if torch.cuda.is_available():
        return f"{accelerator.num_processes} x {torch.cuda.get_device_name(0)}"
    return (
        f"{accelerator.num_processes} process(es) on CPU ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads)"
    )
