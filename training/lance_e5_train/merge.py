"""`python -m lance_e5_train merge`: fold a LoRA adapter into its base -> a plain HF checkpoint for `export`.

W' = W + (alpha / r) * B @ A for every adapted projection (PEFT's merge_and_unload), saved as the bare decoder
(AutoModel: no LM head, which an embedding model never uses) with the base's tokenizer files. The adapter's
training_card.json (data, steps, scores) is carried over, extended with what was merged, so the exporter can write
the model card. tests/test_merge.py checks that embeddings change by <= 1e-5.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import torch

from .model import load_encoder_model

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", required=True, help="the HF checkpoint the adapter was trained on")
    parser.add_argument("--adapter", required=True, help="`train` output dir (adapter_config.json + weights)")
    parser.add_argument("--out", required=True, help="merged HF checkpoint dir")
    parser.add_argument(
        "--dtype",
        choices=["float32", "float16", "bfloat16"],
        default="float32",
        help="dtype of the saved weights (merging always happens in float32)",
    )


def merge(base: str | Path, adapter: str | Path) -> Any:
    from peft import PeftModel

    adapter = Path(adapter)
    if not (adapter / "adapter_config.json").is_file():
        raise SystemExit(
            f"merge: {adapter} has no adapter_config.json (was it trained with --full? then it needs "
            "no merge: export it directly)"
        )
    model = load_encoder_model(base, dtype=torch.float32)
    return PeftModel.from_pretrained(model, adapter).merge_and_unload()


def main(args: argparse.Namespace) -> int:
    out = Path(args.out)
    merged = merge(args.base, args.adapter).to(getattr(torch, args.dtype))
    merged.save_pretrained(out)
    for name in TOKENIZER_FILES:
        source = Path(args.adapter) / name if (Path(args.adapter) / name).is_file() else Path(args.base) / name
        if source.is_file():
            shutil.copy(source, out / name)
    card_path = Path(args.adapter) / "training_card.json"
    card = json.loads(card_path.read_text()) if card_path.is_file() else {}
    card["merged"] = {
        "base": str(Path(args.base).resolve()),
        "adapter": str(Path(args.adapter).resolve()),
        "dtype": args.dtype,
    }
    (out / "training_card.json").write_text(json.dumps(card, indent=2))
    print(f"merged {args.adapter} into {args.base} -> {out}")
    return 0
