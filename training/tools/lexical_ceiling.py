"""What a bag-of-words encoder can reach on the man-page benchmark, with no dense-vector noise at all.

The default model's base (`init-lexical`) pools an IDF^s-weighted bag of near-orthogonal token vectors, i.e. a
TF-IDF cosine squeezed into 254 dimensions. This scores the same benchmark with the *exact* sparse versions of that
cosine (and BM25) over the model's own Mistral token ids, so the gap between the model and BM25 can be split into
"dense noise" (sparse cosine vs model) and "the scoring function itself" (sparse cosine vs BM25). IDF is computed
on the benchmark corpus itself, which flatters these figures (the model's IDF comes from training text).

    training/.venv/bin/python training/tools/lexical_ceiling.py [data/benchmarks/man] [models/default/tokenizer.json]

Measured 2026-11-27 (988 documents, 500 queries): BM25 over Mistral pieces 0.786 (LanceDB's word-level BM25 on
the same benchmark: 0.829); sparse cosine idf^1 0.707 (sqrt tf 0.739, binary 0.675), idf^2 0.682 (sqrt tf 0.694,
binary 0.643); the default model (dense, 256-d, idf^2) 0.551.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


def load(bench: Path) -> tuple[list[dict], list[dict], dict[str, dict[str, int]]]:
    corpus = [json.loads(line) for line in open(bench / "corpus.jsonl")]
    queries = [json.loads(line) for line in open(bench / "queries.jsonl")]
    qrels: dict[str, dict[str, int]] = {}
    for line in list(open(bench / "qrels/test.tsv"))[1:]:
        query, doc, score = line.rstrip("\n").split("\t")
        qrels.setdefault(query, {})[doc] = int(score)
    return corpus, [q for q in queries if q["_id"] in qrels], qrels


def ndcg_at_10(scores: np.ndarray, queries: list[dict], corpus: list[dict], qrels: dict[str, dict[str, int]]) -> float:
    total = 0.0
    for i, query in enumerate(queries):
        relevant = qrels[query["_id"]]
        top = np.argsort(-scores[i])[:10]
        dcg = sum(relevant.get(corpus[j]["_id"], 0) / math.log2(rank + 2) for rank, j in enumerate(top))
        ideal = sorted(relevant.values(), reverse=True)[:10]
        total += dcg / sum(g / math.log2(rank + 2) for rank, g in enumerate(ideal))
    return total / len(queries)


def main() -> None:
    bench = Path(sys.argv[1] if len(sys.argv) > 1 else "data/benchmarks/man")
    tokenizer = Tokenizer.from_file(sys.argv[2] if len(sys.argv) > 2 else "models/default/tokenizer.json")
    corpus, queries, qrels = load(bench)

    def bag(text: str) -> Counter[int]:
        return Counter(tokenizer.encode(text, add_special_tokens=False).ids[:511])  # the model's 512-token window

    docs, qs = [bag(c["text"]) for c in corpus], [bag(q["text"]) for q in queries]
    n = len(docs)
    df = Counter(t for d in docs for t in d)
    idf = {t: math.log((n + 1) / (df[t] + 0.5)) for t in df}
    avg_len = sum(sum(d.values()) for d in docs) / n

    def bm25(k1: float = 1.2, b: float = 0.75) -> np.ndarray:
        scores = np.zeros((len(qs), n))
        for j, d in enumerate(docs):
            norm = k1 * (1 - b + b * sum(d.values()) / avg_len)
            for i, q in enumerate(qs):
                scores[i, j] = sum(idf[t] * d[t] * (k1 + 1) / (d[t] + norm) for t in q if t in d)
        return scores

    def cosine(power: float, tf: Callable[[int], float]) -> np.ndarray:
        def unit(counts: Counter[int]) -> dict[int, float]:
            v = {t: tf(c) * idf.get(t, 0.0) ** power for t, c in counts.items()}
            norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
            return {t: x / norm for t, x in v.items()}

        dv, qv = [unit(d) for d in docs], [unit(q) for q in qs]
        return np.array([[sum(x * d.get(t, 0.0) for t, x in q.items()) for d in dv] for q in qv])

    score = lambda s: round(ndcg_at_10(s, queries, corpus, qrels), 4)  # noqa: E731
    print(f"BM25 over the model's token ids: {score(bm25())}")
    for power in (1, 2):
        for name, tf in (("linear tf", float), ("sqrt tf", math.sqrt), ("binary", lambda _: 1.0)):
            print(f"sparse cosine, idf^{power}, {name}: {score(cosine(power, tf))}")


if __name__ == "__main__":
    main()
