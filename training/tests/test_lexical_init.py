"""`init-lexical`: the base's own Mistral forward pass must compute an IDF-weighted bag of words at the EOS token."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tiny_base import (
    INSTRUCTION,
    TINY_SIZE_FLAGS,
    build_tokenizer,
    run_cli,
    toy_corpus,
    toy_document,
    toy_examples,
    write_jsonl,
)

from lance_e5_train.lexical_init import EXCLUDED_IMPORTANCE
from lance_e5_train.model import E5_TEMPLATE, TextEncoder, embed_texts, format_query, load_encoder_model

SHARPNESS = 2.0


@pytest.fixture(scope="module")
def lexical_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lexical")
    build_tokenizer().save(str(root / "tokenizer.json"))
    toy_corpus(root / "corpus.txt", 400, seed=3)
    write_jsonl(root / "synth.jsonl", toy_examples(400, seed=4))  # as many instructions as documents
    code = run_cli(
        "init-lexical",
        "--out",
        root / "base",
        "--text",
        root / "corpus.txt",
        "--instructions",
        root / "synth.jsonl",
        "--tokenizer",
        root / "tokenizer.json",
        *TINY_SIZE_FLAGS,
        "--sharpness",
        SHARPNESS,
    )
    assert code == 0
    return root / "base"


def hand_bag(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    """What the weights are built to compute: sum_i IDF_i^s * content_i / sum_i IDF_i^s, over non-special tokens."""
    table = model.get_input_embeddings().weight.detach()  # (V, H)
    rows = table[torch.tensor(ids)]  # (S, H)
    weights = torch.exp(SHARPNESS * rows[:, -1])  # (S,) importance dim holds log IDF; specials ~0
    return (weights[:, None] * rows[:, :-2]).sum(0) / weights.sum()  # (H-2,)


def test_the_eos_embedding_is_the_idf_weighted_bag_of_content_vectors(lexical_base: Path) -> None:
    model = load_encoder_model(lexical_base).eval()
    encoder = TextEncoder.from_dir(lexical_base, 128)
    rng = random.Random(7)
    texts = [toy_document(rng, 1, 2)[0], "t3w1 t3w2 t4w5", format_query(E5_TEMPLATE, INSTRUCTION, "t9w1 t9w2 t11w3")]
    vectors = embed_texts(model, encoder, texts)  # (3, H)
    for text, vector in zip(texts, vectors, strict=True):
        expected = F.normalize(hand_bag(model, encoder.ids(text)), dim=0)
        assert vector[-2:].abs().max() < 1e-6, "marker and importance dims are cut by the final norm"
        cosine = torch.dot(F.normalize(vector[:-2], dim=0), expected).item()
        assert cosine > 0.98, f"{text!r}: cosine with the hand-computed bag {cosine:.4f}"


def test_rare_shared_words_retrieve_and_instruction_words_weigh_little(lexical_base: Path) -> None:
    model = load_encoder_model(lexical_base).eval()
    encoder = TextEncoder.from_dir(lexical_base, 128)
    rng = random.Random(11)
    docs = [toy_document(rng, 2 * i, 2 * i + 1)[0] for i in range(15)]  # no two documents share a word
    queries = [format_query(E5_TEMPLATE, INSTRUCTION, " ".join(d.split()[:4])) for d in docs]
    scores = embed_texts(model, encoder, queries) @ embed_texts(model, encoder, docs).T  # (15, 15)
    top1 = (scores.argmax(dim=1) == torch.arange(15)).float().mean().item()
    assert top1 >= 0.9, f"top-1 {top1:.2f}: four of a document's words should find it"
    table = model.get_input_embeddings().weight.detach()
    instruction_ids = [encoder.tokenizer.token_to_id(w) for w in INSTRUCTION.split()]
    content_ids = [encoder.tokenizer.token_to_id(w) for w in docs[0].split()]
    assert table[instruction_ids, -1].max() < table[content_ids, -1].min(), "instruction words count as common"
    assert table[[1, 2], -1].max() == EXCLUDED_IMPORTANCE, "BOS and EOS never enter the bag"


def test_too_few_layers_to_pool_every_dim_is_refused(tmp_path: Path) -> None:
    build_tokenizer().save(str(tmp_path / "tokenizer.json"))
    toy_corpus(tmp_path / "corpus.txt", 20, seed=1)
    with pytest.raises(ValueError, match="cannot pool"):
        run_cli(
            "init-lexical",
            "--out",
            tmp_path / "base",
            "--text",
            tmp_path / "corpus.txt",
            "--tokenizer",
            tmp_path / "tokenizer.json",
            "--layers",
            1,
            "--hidden",
            64,
            "--heads",
            4,
            "--kv-heads",
            2,
        )


def test_no_documents_is_refused_naming_the_inputs(tmp_path: Path) -> None:
    build_tokenizer().save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "empty.txt").write_text("\n\n")
    with pytest.raises(SystemExit, match="no documents in --text / --instructions"):
        run_cli(
            "init-lexical",
            "--out",
            tmp_path / "base",
            "--text",
            tmp_path / "empty.txt",
            "--tokenizer",
            tmp_path / "tokenizer.json",
            *TINY_SIZE_FLAGS,
        )
    assert not (tmp_path / "base").exists(), "nothing is written"
