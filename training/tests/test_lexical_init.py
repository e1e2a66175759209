"""`init-lexical`: the base's own Mistral forward pass must compute an IDF-weighted bag of words at the EOS token."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from tiny_base import (
    INSTRUCTION,
    TINY_SIZE_FLAGS,
    build_base,
    build_tokenizer,
    toy_corpus,
    toy_document,
    toy_examples,
    write_jsonl,
)
from tokenizers import Tokenizer, models, pre_tokenizers

from lance_e5_train.lexical_init import EXCLUDED_IMPORTANCE, pooling_phase, query_marker
from lance_e5_train.model import E5_TEMPLATE, TextEncoder, embed_texts, format_query, load_encoder_model

SHARPNESS = 2.0


@pytest.fixture(scope="module")
def lexical_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("lexical")
    toy_corpus(root / "corpus.txt", 400, seed=3)
    write_jsonl(root / "synth.jsonl", toy_examples(400, seed=4))  # as many instructions as documents
    code = init_lexical(root, "--instructions", root / "synth.jsonl", *TINY_SIZE_FLAGS, "--sharpness", SHARPNESS)
    assert code == 0
    return root / "base"


def init_lexical(root: Path, *flags: object) -> int:
    return build_base("init-lexical", root, *flags)


def hand_bag(model: torch.nn.Module, ids: list[int], theta: float = 0.0, phase: float = 0.0) -> torch.Tensor:
    """What the weights are built to compute: sum_i IDF_i^s * content_i / sum_i IDF_i^s, over non-special tokens.
    With `theta` (the slow rotary pair's frequency) the exponent carries RoPE's position factor for a key at
    distance d from the EOS: cos(theta * d - phase) / cos(phase)."""
    table = model.get_input_embeddings().weight.detach()  # (V, H)
    rows = table[torch.tensor(ids)]  # (S, H)
    distance = torch.arange(len(ids) - 1, -1, -1, dtype=torch.float32)  # (S,)
    factor = torch.cos(theta * distance - phase) / math.cos(phase)
    weights = torch.exp(SHARPNESS * rows[:, -1] * factor)  # (S,) importance dim holds log IDF; specials ~0
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


def test_a_long_context_phase_centres_the_position_factor_on_the_window(tmp_path: Path) -> None:
    """--long-context-base/--long-context-length turn q so that RoPE's factor on a key's IDF weight,
    cos(theta * distance - phase) / cos(phase), is centred on the window: the forward pass over ~3,000 tokens must
    follow that formula, and not the phase-0 one (the factors differ by up to ~3x at this length)."""
    toy_corpus(tmp_path / "corpus.txt", 400, seed=3)
    base, length = 10_000.0, 6_400  # head width 16: theta = 1e4 ** (-14 / 16); phase ~1.0 rad
    code = init_lexical(
        tmp_path,
        *TINY_SIZE_FLAGS,
        "--sharpness",
        SHARPNESS,
        "--long-context-base",
        base,
        "--long-context-length",
        length,
    )
    assert code == 0
    phase = pooling_phase(16, base, length)
    assert 0.9 < phase < 1.1
    model = load_encoder_model(tmp_path / "base").eval()
    encoder = TextEncoder.from_dir(tmp_path / "base", 4096)
    rng = random.Random(5)
    text = " ".join(toy_document(rng, t % 40, (t + 7) % 40)[0] for t in range(160))
    ids = encoder.ids(text)
    assert 2000 < len(ids) < 4096
    (vector,) = embed_texts(model, encoder, [text])
    got = F.normalize(vector[:-2], dim=0)
    theta = base ** (-14 / 16)
    centred = torch.dot(got, F.normalize(hand_bag(model, ids, theta, phase), dim=0)).item()
    unturned = torch.dot(got, F.normalize(hand_bag(model, ids, theta, 0.0), dim=0)).item()
    assert centred > 0.98, f"cosine with the centred formula {centred:.4f}"
    assert centred - unturned > 0.01, f"centred {centred:.4f} vs phase-0 formula {unturned:.4f}"


def test_too_few_layers_to_pool_every_dim_is_refused(tmp_path: Path) -> None:
    toy_corpus(tmp_path / "corpus.txt", 20, seed=1)
    with pytest.raises(ValueError, match="cannot pool"):
        init_lexical(
            tmp_path,
            "--layers",
            1,
            "--hidden",
            64,
            "--heads",
            4,
            "--kv-heads",
            2,
        )


def test_the_instruction_gate_needs_a_layer_of_its_own(tmp_path: Path) -> None:
    toy_corpus(tmp_path / "corpus.txt", 20, seed=1)
    flags = ("--layers", 2, "--hidden", 64, "--heads", 4, "--kv-heads", 2, "--gate-instruction")
    with pytest.raises(ValueError, match=r"1 pooling layers .* cannot pool 59 content dims.*takes layer 0"):
        init_lexical(tmp_path, *flags)
    assert not (tmp_path / "base").exists(), "refused before anything is written"


def test_the_gate_finds_the_query_marker_or_refuses_a_tokenizer_without_one() -> None:
    tokenizer = build_tokenizer()
    assert query_marker(tokenizer) == tokenizer.token_to_id("Query:")
    no_marker = Tokenizer(models.WordLevel({"<unk>": 0, "<s>": 1, "</s>": 2}, unk_token="<unk>"))
    no_marker.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    with pytest.raises(SystemExit, match="--gate-instruction: no token of .* holds 'Query'"):
        query_marker(no_marker)


def test_no_documents_is_refused_naming_the_inputs(tmp_path: Path) -> None:
    (tmp_path / "corpus.txt").write_text("\n\n")
    with pytest.raises(SystemExit, match="no documents in --text / --instructions"):
        init_lexical(tmp_path, *TINY_SIZE_FLAGS)
    assert not (tmp_path / "base").exists(), "nothing is written"


def test_an_eos_token_missing_from_the_tokenizer_is_refused_naming_it(tmp_path: Path) -> None:
    toy_corpus(tmp_path / "corpus.txt", 20, seed=1)
    with pytest.raises(SystemExit, match="EOS token '<eos-nowhere>' is not in"):
        init_lexical(tmp_path, *TINY_SIZE_FLAGS, "--eos-token", "<eos-nowhere>")
    assert not (tmp_path / "base").exists(), "nothing is written"


def test_long_context_flags_go_together_and_a_window_past_a_quarter_turn_is_refused(tmp_path: Path) -> None:
    toy_corpus(tmp_path / "corpus.txt", 20, seed=1)
    with pytest.raises(SystemExit, match="go together"):
        init_lexical(tmp_path, *TINY_SIZE_FLAGS, "--long-context-base", 1e5)
    # head width 16 at base 1e4: theta ~3.2e-4, so 20,000 tokens would need a phase of ~3.2 rad.
    with pytest.raises(SystemExit, match="too long"):
        init_lexical(tmp_path, *TINY_SIZE_FLAGS, "--long-context-base", 1e4, "--long-context-length", 20_000)
    assert not (tmp_path / "base").exists(), "nothing is written"
