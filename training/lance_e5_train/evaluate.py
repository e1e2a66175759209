"""`python -m lance_e5_train.evaluate held-out`: the exact held-out slice a `train` run scored itself on.

The trainer's held-out metric (log.jsonl, the model card's `held_out_before/after`) is computed on a slice of its
input chosen by a hash of the query (data.split_eval). Anything tuned for a trained model without touching the
benchmarks — e.g. the hybrid-search fusion weight (`lance-e5 tune-fusion`) — should use that same slice, since
none of its queries or positives was trained on. This writes it as JSONL in the synthetic-example shape:

    python -m lance_e5_train.evaluate held-out --data synth.jsonl --train-config OUT/train_config.json --out held.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from .data import read_examples, report_bad_lines, split_eval
from .model import TrainConfig


def held_out_slice(data: list[str], eval_percent: float, eval_max: int) -> list[dict]:
    """-> the held-out examples of a run with these settings, in the trainer's order, as dicts."""
    examples, bad = read_examples(data)
    report_bad_lines(bad)
    _, held = split_eval(examples, eval_percent, eval_max)
    return [asdict(example) for example in held]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lance_e5_train.evaluate")
    commands = parser.add_subparsers(dest="command", required=True)
    held = commands.add_parser("held-out", help="write the trainer's held-out slice as JSONL")
    held.add_argument("--data", nargs="+", required=True, help="the `lance-e5 synth` JSONL file(s) the run trained on")
    held.add_argument("--train-config", help="the run's train_config.json (eval_percent/eval_max; data is --data)")
    held.add_argument("--eval-percent", type=float, help="override (default: the run's, else the trainer default)")
    held.add_argument("--eval-max", type=int, help="override (default: the run's, else the trainer default)")
    held.add_argument("--out", required=True, help="output JSONL")
    args = parser.parse_args(argv)

    config = TrainConfig()
    if args.train_config:
        config = TrainConfig.from_dict(json.loads(Path(args.train_config).read_text()))
    percent = args.eval_percent if args.eval_percent is not None else config.eval_percent
    cap = args.eval_max if args.eval_max is not None else config.eval_max
    missing = [p for p in args.data if not Path(p).is_file()]
    if missing:
        print(f"evaluate held-out: data file(s) not found: {', '.join(missing)}", file=sys.stderr)
        return 2
    rows = held_out_slice(args.data, percent, cap)
    with open(args.out, "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(rows)} held-out examples (eval_percent {percent}, eval_max {cap}) -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
