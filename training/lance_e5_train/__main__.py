"""`python -m lance_e5_train <command> ...`: each command is a module with `add_arguments(parser)` and `main(args)`.

Modules are imported lazily so `export --help` does not pay for importing the trainer (and vice versa).
"""

import argparse
import importlib
import sys

COMMANDS = {
    "export": ("lance_e5_train.export", "HF checkpoint -> lance-e5 model directory (ONNX + tokenizer + lance-e5.json)"),
    "train": ("lance_e5_train.train", "contrastive (InfoNCE) fine-tuning on synthetic JSONL, LoRA or full"),
    "pretrain": ("lance_e5_train.pretrain", "causal-LM pretraining of a small base on a text corpus"),
    "init-lexical": (
        "lance_e5_train.lexical_init",
        "a small Mistral base whose weights start as an IDF-weighted bag-of-words encoder (no LM pretraining)",
    ),
    "merge": ("lance_e5_train.merge", "merge a LoRA adapter into its base checkpoint"),
    "build-fixtures": ("lance_e5_train.fixtures", "tiny random Mistral/Qwen2/Qwen3 parity fixtures"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        print("usage: python -m lance_e5_train {" + ",".join(COMMANDS) + "} ...\n")
        for name, (_, help_text) in COMMANDS.items():
            print(f"  {name:15s} {help_text}")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    parser = argparse.ArgumentParser(prog=f"python -m lance_e5_train {argv[0]}", description=COMMANDS[argv[0]][1])
    module.add_arguments(parser)
    args = parser.parse_args(argv[1:])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
