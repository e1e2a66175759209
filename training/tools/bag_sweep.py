"""Choose the token table's training settings on a training-side slice, over several seeds — never on a benchmark.

Why: the bag's settings (epochs, temperature, how much the man-page pairs count) were first chosen by looking at the
man-page benchmark, and the chosen setting's margin over BM25 was within seed noise. This tool holds out a slice of one
synthetic source's *training-split* documents (by a hash of the positive; every example sharing a text with them or made
from the same page, `meta.doc_ids[0]`, leaves training too), trains the table exactly as `init-lexical` does (same code
path, same seeded initialisation) on the rest, and scores each setting by nDCG@10 of the held-out queries (each with its
own synthetic instruction) against all held-out documents, for every seed. It prints one row per setting: the mean, the
spread and each seed.

    training/.venv/bin/python training/tools/bag_sweep.py --data data/train-default/default/synth.jsonl \
        --text data/train-default/default/pretrain.txt --glove GLOVE.json --seeds 0 1 2 \
        --setting shipped:epochs=3,temperature=0.1,upweight=offline:man=5 --setting plain:epochs=3,temperature=0.1

Setting keys: epochs, temperature, lr, batch, upweight (SOURCE=TIMES joined by +), max_length (tokens per text while
training, init-lexical's --bag-max-length) and average. A setting with average=N trains N tables from the same initial
table in N batch orders (seed, seed+1, ...) and averages them (a "model soup"). Trained tables are cached under --cache,
so soups and reruns reuse their members. `--benchmark DIR` also scores each run on a benchmark, for the record only: a
column printed after selection. `--percent 0` holds nothing out: the table trains on all the data, as the shipped one
does, and only the benchmark is scored (seed noise of the full recipe).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from lexical_ceiling import load, ndcg_at_10  # this tool's neighbour: BEIR loading and nDCG@10
from tokenizers import Tokenizer
from transformers import MistralForCausalLM

from lance_e5_train.bag import BagEncoder, InstructionGate, average_tables, encode_texts
from lance_e5_train.data import Example, read_examples
from lance_e5_train.lexical_init import (
    add_arguments,
    instruction_documents,
    inverse_document_frequencies,
    query_marker,
    special_ids,
    trained_table,
    upweights,
)
from lance_e5_train.model import E5_TEMPLATE, format_query
from lance_e5_train.pretrain import mistral_config, read_documents

SETTING_KEYS = {"epochs", "temperature", "lr", "batch", "upweight", "average", "max_length"}


def validation_split(
    examples: list[Example],
    source: str,
    task_prefix: str,
    percent: float,
    page_of: Callable[[Example], str | None] = lambda e: None,
) -> tuple[list[Example], list[Example]]:
    """-> (train, validation): retrieval examples of `source` (instruction starting with `task_prefix`) whose positive
    hashes into the first `percent`% are held out, and every example sharing a query or a text with them leaves
    training (e.g. the same page's description used as another task's query), as does every example `page_of`
    derives from a held-out example's page (e.g. a sentence of that page -> the rest of it)."""

    def held(e: Example) -> bool:
        digest = hashlib.sha256(e.positive.encode()).digest()
        return (
            e.source == source
            and e.instruction.startswith(task_prefix)
            and int.from_bytes(digest[:4], "big") % 10000 < percent * 100
        )

    validation = [e for e in examples if held(e)]
    texts = {e.query for e in validation} | {e.positive for e in validation}
    pages = {page_of(e) for e in validation} - {None}
    train = [
        e
        for e in examples
        if not held(e) and e.query not in texts and e.positive not in texts and page_of(e) not in pages
    ]
    return train, validation


def source_pages(path: str) -> Callable[[Example], str | None]:
    """The page an example was made from (`meta.doc_ids[0]` of `lance-e5 synth --offline`), keyed by its texts."""
    pages: dict[tuple[str, str, str], str] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                record = json.loads(line)
                ids = (record.get("meta") or {}).get("doc_ids") or []
                if ids:
                    pages[(record["instruction"], record["query"], record["positive"])] = f"{record['source']}/{ids[0]}"
    return lambda e: pages.get((e.instruction, e.query, e.positive))


def parse_setting(spec: str) -> tuple[str, dict[str, str]]:
    name, _, body = spec.partition(":")
    values = dict(item.split("=", 1) for item in body.split(",") if item)
    unknown = set(values) - SETTING_KEYS
    if not name or unknown:
        raise SystemExit(f"bag_sweep: --setting {spec!r}: NAME:key=value,... with keys {sorted(SETTING_KEYS)}")
    return name, values


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--text", required=True, help="init-lexical's --text (document frequencies)")
    parser.add_argument("--glove", default="")
    parser.add_argument("--tokenizer", default="models/default/tokenizer.json")
    parser.add_argument("--source", default="offline:man", help="the source whose documents are held out")
    parser.add_argument(
        "--task-prefix",
        default="Given a one-line summary of",
        help="held-out tasks: instructions starting with this (man: summary -> page text, as the man benchmark; "
        "classification tasks, whose positives are shared labels, would hold out whole labels)",
    )
    parser.add_argument("--percent", type=float, default=20.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--setting", action="append", required=True, help="NAME:key=value,...")
    parser.add_argument("--cache", default="data/bag-sweep")
    parser.add_argument("--benchmark", help="also score each run on this benchmark dir, for the record only")
    parser.add_argument("--threads", type=int, default=1)
    sweep = parser.parse_args()
    if sweep.percent == 0 and not sweep.benchmark:
        raise SystemExit("bag_sweep: --percent 0 holds nothing out, so it needs --benchmark to score anything")
    torch.set_num_threads(sweep.threads)

    # The product's own flags (lexical_init.add_arguments) at the shipped architecture: trained_table reads them.
    product = argparse.ArgumentParser()
    add_arguments(product)
    base_flags = ["--out", "-", "--text", sweep.text, "--layers", "4", "--hidden", "256", "--heads", "8"]
    base_flags += ["--kv-heads", "4", "--sharpness", "2", "--gate-instruction", "--tokenizer", sweep.tokenizer]
    base_flags += ["--threads", str(sweep.threads)] + (["--glove", sweep.glove] if sweep.glove else [])

    tokenizer = Tokenizer.from_file(sweep.tokenizer)
    examples, _ = read_examples([sweep.data])
    train, validation = validation_split(
        examples, sweep.source, sweep.task_prefix, sweep.percent, source_pages(sweep.data)
    )
    data_digest = hashlib.sha256(Path(sweep.data).read_bytes()).hexdigest()[:16]
    documents = sorted({e.positive for e in validation})
    queries = [format_query(E5_TEMPLATE, e.instruction, e.query) for e in validation]
    held_out = (queries, documents, [{documents.index(e.positive): 1} for e in validation])
    print(
        f"{len(train)} training examples; validation: {len(validation)} {sweep.source} queries, "
        f"{len(documents)} documents",
        file=sys.stderr,
    )
    docs = read_documents([sweep.text]) + instruction_documents([sweep.data])
    idf = inverse_document_frequencies(tokenizer, docs)
    gate = InstructionGate(query_marker(tokenizer))
    names = product.parse_args(base_flags)
    bos, eos = tokenizer.token_to_id(names.bos_token), tokenizer.token_to_id(names.eos_token)
    specials = special_ids(tokenizer, bos, eos)
    bench = load_benchmark(Path(sweep.benchmark)) if sweep.benchmark else None
    cache = Path(sweep.cache)
    cache.mkdir(parents=True, exist_ok=True)

    def member(values: dict[str, str], init: int, order: int) -> tuple[torch.Tensor, torch.Tensor]:
        key = {k: values.get(k) for k in ("epochs", "temperature", "lr", "batch", "upweight", "max_length")}
        key |= {
            "init": init,
            "order": order,
            "percent": sweep.percent,
            "source": sweep.source,
            "task": sweep.task_prefix,
            "data": data_digest,  # another synth.jsonl trains another table
        }
        name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
        path = cache / f"{name}.pt"
        if path.exists():
            return torch.load(path)
        flags = base_flags + ["--seed", str(order), "--bag-epochs", values.get("epochs", "3")]
        flags += ["--bag-temperature", values.get("temperature", "0.1"), "--bag-lr", values.get("lr", "0.01")]
        flags += ["--bag-batch-size", values.get("batch", "64"), "--bag-max-length", values.get("max_length", "128")]
        flags += ["--bag-upweight", *values["upweight"].split("+")] if values.get("upweight") else []
        args = product.parse_args(flags)
        torch.manual_seed(init)  # as init-lexical's main: the seed, then the model's own init, then the table's
        MistralForCausalLM(mistral_config(args, tokenizer.get_vocab_size(), bos, eos, tie_embeddings=True))
        (content, importance), report = trained_table(
            args, train, tokenizer, idf, specials, 256, gate, upweights(args.bag_upweight)
        )
        print(json.dumps({"member": key, "recall@1": report["recall@1_after"]}), file=sys.stderr)
        torch.save((content, importance), path)
        return content, importance

    rows = []
    for spec in sweep.setting:
        name, values = parse_setting(spec)
        scores, bench_scores = [], []
        for seed in sweep.seeds:
            members = [member(values, seed, seed + k) for k in range(int(values.get("average", "1")))]
            content, importance = average_tables(members)  # as init-lexical --bag-average
            bag = BagEncoder(content, importance, 256, 2.0, gate)
            if validation:  # --percent 0: the whole data trains, only --benchmark is scored
                scores.append(ranked_ndcg(bag, tokenizer, set(specials), held_out))
            if bench is not None:
                bench_scores.append(ranked_ndcg(bag, tokenizer, set(specials), bench))
            print(
                json.dumps(
                    {
                        "setting": name,
                        "seed": seed,
                        **({"validation": round(scores[-1], 4)} if scores else {}),
                        **({"benchmark": round(bench_scores[-1], 4)} if bench_scores else {}),
                    }
                ),
                file=sys.stderr,
            )
        rows.append((name, scores, bench_scores))

    print(
        f"| setting | validation nDCG@10 mean (sd) | seeds {' / '.join(map(str, sweep.seeds))} |"
        + (" benchmark mean (sd), record only |" if bench else "")
    )
    for name, scores, bench_scores in rows:
        line = (
            f"| {name} | {mean(scores):.4f} ({spread(scores):.4f}) | " + " / ".join(f"{s:.4f}" for s in scores) + " |"
        )
        if bench_scores:
            line += (
                f" {mean(bench_scores):.4f} ({spread(bench_scores):.4f}) "
                + " / ".join(f"{s:.4f}" for s in bench_scores)
                + " |"
            )
        print(line)
    return 0


def mean(values: list[float]) -> float:
    return statistics.mean(values) if values else float("nan")


def spread(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def load_benchmark(bench: Path) -> tuple[list[str], list[str], list[dict[int, int]]]:
    """A BEIR-style benchmark dir -> (query texts with the manifest's instruction, documents, relevance per query)."""
    instruction = json.loads((bench.parent / "manifest.json").read_text())["benchmarks"][bench.name]["instruction"]
    corpus, queries, qrels = load(bench)
    index = {c["_id"]: i for i, c in enumerate(corpus)}
    texts = [format_query(E5_TEMPLATE, instruction, q["text"]) for q in queries]
    # BEIR's rule, as `lance-e5 eval` and `ingest`: title and text joined by a newline when the title is non-blank.
    documents = [f"{c['title']}\n{c['text']}" if (c.get("title") or "").strip() else c["text"] for c in corpus]
    return texts, documents, [{index[d]: g for d, g in qrels[q["_id"]].items()} for q in queries]


def ranked_ndcg(bag: BagEncoder, tokenizer: Tokenizer, excluded: set[int], judged) -> float:
    """nDCG@10 of (queries, documents, relevance by document index) as the bag ranks them."""
    texts, documents, relevance = judged
    q, d = (encode_texts(bag, tokenizer, t, excluded, 512) for t in (texts, documents))
    qrels = {str(i): r for i, r in enumerate(relevance)}  # ndcg_at_10's shapes: ids, and relevance by document id
    queries, corpus = [{"_id": str(i)} for i in range(len(texts))], [{"_id": j} for j in range(len(documents))]
    return ndcg_at_10((q @ d.T).numpy(), queries, corpus, qrels)


if __name__ == "__main__":
    sys.exit(main())
