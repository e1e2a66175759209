"""`lance-e5 synth` JSONL -> validated examples -> batches (global, deterministic from seed and step).

Every line is checked against schemas/synth-example.schema.json. A bad line is reported with its file and line
number and skipped; the caller prints the count, so nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "synth-example.schema.json"


@dataclass(frozen=True)
class Example:
    task_family: str
    instruction: str  # query side only, for symmetric families too (REFERENCE.md §1, training)
    query: str
    positive: str
    negative: str | None  # hard negative; None for families without one
    language: str
    source: str


@dataclass(frozen=True)
class BadLine:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


def load_validator(schema_path: Path = SCHEMA_PATH) -> Draft202012Validator:
    if not schema_path.is_file():
        raise FileNotFoundError(f"synthetic-example schema not found at {schema_path}")
    return Draft202012Validator(json.loads(schema_path.read_text()))


def read_examples(paths: Iterable[str | Path], validator: Draft202012Validator | None = None):
    """-> (examples, bad_lines). Blank lines are ignored; every other unusable line is a BadLine."""
    validator = validator or load_validator()
    examples: list[Example] = []
    bad: list[BadLine] = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as e:
                    bad.append(BadLine(str(path), number, f"invalid JSON ({e.msg} at column {e.colno})"))
                    continue
                error = best_match(validator.iter_errors(record))
                if error is not None:
                    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
                    bad.append(BadLine(str(path), number, f"schema: {where}: {error.message}"))
                    continue
                examples.append(
                    Example(
                        task_family=record["task_family"],
                        instruction=record["instruction"],
                        query=record["query"],
                        positive=record["positive"],
                        negative=record.get("negative"),
                        language=record["language"],
                        source=record["source"],
                    )
                )
    return examples, bad


def report_bad_lines(bad: list[BadLine], limit: int = 50, stream=None) -> None:
    stream = stream or sys.stderr  # looked up at call time, so redirected stderr is honoured
    for item in bad[:limit]:
        print(f"skipped {item}", file=stream)
    if len(bad) > limit:
        print(f"... and {len(bad) - limit} more bad lines", file=stream)
    if bad:
        print(f"skipped {len(bad)} bad line(s) in total", file=stream)


def is_eval_example(example: Example, percent: float) -> bool:
    """Held-out slice for the training-time metric: a hash of the query, so the slice is stable across runs."""
    digest = hashlib.sha256(f"train-eval:{example.query}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000 < percent * 100


def split_eval(examples: list[Example], percent: float, cap: int) -> tuple[list[Example], list[Example]]:
    """-> (train, eval). Examples whose query or positive appears in the eval slice are kept out of training."""
    held = [e for e in examples if is_eval_example(e, percent)][:cap] if percent > 0 else []
    held_texts = {e.query for e in held} | {e.positive for e in held}
    train = [e for e in examples if e.query not in held_texts and e.positive not in held_texts]
    return train, held


def make_batches(
    families: list[str], batch_size: int, epochs: int, seed: int, group_by_family: bool, multiple_of: int = 1
) -> list[list[int]]:
    """All global batches of the run, as example indices, in order. Deterministic from the seed, so a resumed run
    and every process see the same sequence.

    A short final batch (per family when grouping) is kept, trimmed to a multiple of `multiple_of` (the number of
    processes, which must split every batch evenly); a batch of fewer than two examples has no negatives and is
    dropped.
    """
    minimum = max(2, multiple_of)
    batches: list[list[int]] = []
    for epoch in range(epochs):
        rng = random.Random(seed * 1_000_003 + epoch)
        order = list(range(len(families)))
        rng.shuffle(order)
        if group_by_family:
            groups: dict[str, list[int]] = {}
            for i in order:
                groups.setdefault(families[i], []).append(i)
            pools = [groups[name] for name in sorted(groups)]
        else:
            pools = [order]
        epoch_batches = []
        for pool in pools:
            for start in range(0, len(pool), batch_size):
                batch = pool[start : start + batch_size]
                batch = batch[: len(batch) - len(batch) % multiple_of]
                if len(batch) >= minimum:
                    epoch_batches.append(batch)
        if group_by_family:
            rng.shuffle(epoch_batches)  # interleave families over the epoch
        batches.extend(epoch_batches)
    return batches
