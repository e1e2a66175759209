"""Helpers shared by the trainer tests: a word-level tokenizer, a tiny Mistral, and a toy retrieval task.

Nothing here downloads anything. The tokenizer mimics Mistral's special-token handling (BOS prepended by the
post-processor, no EOS: the trainer appends it), so the real code paths run on a model small enough for 2 cores.

The toy task has structure a small decoder can learn: 30 "topics" of 10 words each; a document mixes 8 words from
two topics; its query is 2 words from each; its hard negative shares one topic. Retrieval needs the query's words
matched against the document's, which random weights do not do.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import MistralConfig, MistralForCausalLM

TOPICS, WORDS_PER_TOPIC = 30, 10
SPECIALS = ["<unk>", "<s>", "</s>"]
INSTRUCTION = "Given keywords, retrieve the passage that contains them"


# `pretrain` / `init-lexical` flags for the tiny Mistral of these tests (same sizes as tiny_config()).
TINY_SIZE_FLAGS = ("--layers", 2, "--hidden", 64, "--heads", 4, "--kv-heads", 2)


def word(topic: int, k: int) -> str:
    return f"t{topic}w{k}"


def build_tokenizer() -> Tokenizer:
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for extra in ["Instruct:", "Query:", *INSTRUCTION.split()]:
        vocab.setdefault(extra, len(vocab))
    for t in range(TOPICS):
        for k in range(WORDS_PER_TOPIC):
            vocab[word(t, k)] = len(vocab)
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return tokenizer


def tiny_config(vocab_size: int, layers: int = 2, hidden: int = 64) -> MistralConfig:
    return MistralConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=hidden * 2,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        sliding_window=None,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=None,
        tie_word_embeddings=True,
    )


def save_random_base(directory: Path, seed: int = 0) -> Path:
    """A random-weight tiny Mistral checkpoint with its tokenizer.json (a valid `--base`)."""
    torch.manual_seed(seed)
    tokenizer = build_tokenizer()
    model = MistralForCausalLM(tiny_config(tokenizer.get_vocab_size()))
    model.save_pretrained(directory)
    tokenizer.save(str(directory / "tokenizer.json"))
    return directory


def toy_document(rng: random.Random, a: int, b: int) -> tuple[str, list[str], list[str]]:
    words_a = rng.sample([word(a, k) for k in range(WORDS_PER_TOPIC)], 8)
    words_b = rng.sample([word(b, k) for k in range(WORDS_PER_TOPIC)], 8)
    words = words_a + words_b
    rng.shuffle(words)
    return " ".join(words), words_a, words_b


def toy_examples(count: int, seed: int, family: str = "short-long") -> list[dict]:
    """Synthetic examples in the `lance-e5 synth` JSONL format; every 4th has no hard negative."""
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        a, b = rng.sample(range(TOPICS), 2)
        doc, words_a, words_b = toy_document(rng, a, b)
        query = " ".join(rng.sample(words_a, 2) + rng.sample(words_b, 2))
        record = {
            "task_family": family,
            "instruction": INSTRUCTION,
            "query": query,
            "positive": doc,
            "language": "en",
            "source": "offline:toy",
        }
        if i % 4:
            other = rng.choice([t for t in range(TOPICS) if t not in (a, b)])
            record["negative"] = toy_document(rng, a, other)[0]
        examples.append(record)
    return examples


def write_jsonl(path: Path, records: list[dict], extra_lines: list[str] = ()) -> Path:
    lines = [json.dumps(r) for r in records] + list(extra_lines)
    path.write_text("\n".join(lines) + "\n")
    return path


def toy_corpus(path: Path, documents: int, seed: int) -> Path:
    """Plain text for `pretrain`: documents separated by blank lines."""
    rng = random.Random(seed)
    docs = [toy_document(rng, *rng.sample(range(TOPICS), 2))[0] for _ in range(documents)]
    path.write_text("\n\n".join(docs) + "\n")
    return path


def read_log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines() if line.strip()]


def losses(out: Path) -> dict[int, float]:
    return {e["step"]: e["loss"] for e in read_log(out) if "loss" in e}


def evals(out: Path) -> dict[int, dict]:
    return {e["step"]: e["eval"] for e in read_log(out) if "eval" in e}


def run_cli(*argv: str) -> int:
    """Runs `python -m lance_e5_train ...` in-process (imports are paid once per test session)."""
    from lance_e5_train.__main__ import main

    return main([str(a) for a in argv])


def build_base(command: str, root: Path, *flags: object) -> int:
    """`pretrain` or `init-lexical` over root/corpus.txt with a fresh toy tokenizer, writing root/base."""
    build_tokenizer().save(str(root / "tokenizer.json"))
    return run_cli(
        command,
        "--out",
        root / "base",
        "--text",
        root / "corpus.txt",
        "--tokenizer",
        root / "tokenizer.json",
        *flags,
    )


_PRETRAINED: dict[str, Path] = {}


def pretrained_base() -> Path:
    """A tiny Mistral pretrained by our own `pretrain` on the toy corpus (~5 s, once per session): the "fully
    trained base" the LoRA stage needs (ENVIRONMENT.md: LoRA on a random base barely learns)."""
    if "dir" not in _PRETRAINED:
        import atexit
        import shutil
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="lance-e5-base-"))
        atexit.register(shutil.rmtree, root, True)
        toy_corpus(root / "corpus.txt", 3000, seed=1)
        build_base(
            "pretrain",
            root,
            *TINY_SIZE_FLAGS,
            "--seq-len",
            64,
            "--batch-size",
            16,
            "--steps",
            200,
            "--lr",
            3e-3,
            "--warmup-steps",
            20,
            "--log-every",
            50,
            "--max-positions",
            256,
            "--threads",
            1,
        )
        _PRETRAINED["dir"] = root / "base"
    return _PRETRAINED["dir"]
