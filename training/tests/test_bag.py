"""`init-lexical --train-data`: the token table is trained as a bag (bag.py), then written into the Mistral, whose
own forward pass must compute that same bag."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest
import torch
from tiny_base import (
    INSTRUCTION,
    TINY_SIZE_FLAGS,
    TOPICS,
    WORDS_PER_TOPIC,
    build_base,
    build_tokenizer,
    toy_corpus,
    word,
    write_jsonl,
)

from lance_e5_train.bag import BagEncoder, InstructionGate, average_tables, glove_content
from lance_e5_train.lexical_init import token_dims
from lance_e5_train.model import E5_TEMPLATE, TextEncoder, embed_texts, format_query, load_encoder_model

SHARPNESS = 2.0
BAG_FLAGS = ("--bag-epochs", 3, "--bag-batch-size", 16, "--bag-lr", 0.03, "--bag-max-length", 64)


def synonym_examples(count: int, seed: int) -> list[dict]:
    """Queries made of a topic's words that the positive does NOT contain: no word is shared, so a bag of random
    codes cannot match them, and only training that groups each topic's words can."""
    rng = random.Random(seed)
    examples = []
    for _ in range(count):
        a, b = rng.sample(range(TOPICS), 2)
        topic_words = {t: rng.sample([word(t, k) for k in range(WORDS_PER_TOPIC)], WORDS_PER_TOPIC) for t in (a, b)}
        document = topic_words[a][:7] + topic_words[b][:7]
        rng.shuffle(document)
        query = topic_words[a][7:9] + topic_words[b][7:9]
        examples.append(
            {
                "task_family": "short-long",
                "instruction": INSTRUCTION,
                "query": " ".join(query),
                "positive": " ".join(document),
                "language": "en",
                "source": "offline:toy",
            }
        )
    return examples


@pytest.fixture(scope="module")
def trained_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bag")
    toy_corpus(root / "corpus.txt", 400, seed=3)
    write_jsonl(root / "synth.jsonl", synonym_examples(1200, seed=5), extra_lines=["{not json"])
    flags = ("--train-data", root / "synth.jsonl", *BAG_FLAGS)
    assert build_base("init-lexical", root, *TINY_SIZE_FLAGS, "--sharpness", SHARPNESS, *flags) == 0
    return root / "base"


def test_training_the_table_raises_held_out_recall_by_at_least_0_3(trained_base: Path) -> None:
    report = json.loads((trained_base / "pretrain_config.json").read_text())["bag"]
    assert report["bad_lines"] == 1, "the broken line is reported and skipped"
    assert report["held_out"] >= 30
    before, after = report["recall@1_before"], report["recall@1_after"]
    assert after >= before + 0.3, f"held-out recall@1 {before:.3f} -> {after:.3f}"


def test_the_mistral_computes_the_trained_bag(trained_base: Path) -> None:
    """The written weights reproduce BagEncoder's arithmetic (cosine > 0.98), queries with instructions included,
    and carry what the table learnt: the Mistral itself retrieves by topic where no word is shared."""
    model = load_encoder_model(trained_base).eval()
    encoder = TextEncoder.from_dir(trained_base, 128)
    fresh = synonym_examples(40, seed=11)
    queries = [format_query(E5_TEMPLATE, INSTRUCTION, e["query"]) for e in fresh]
    scores = embed_texts(model, encoder, queries) @ embed_texts(model, encoder, [e["positive"] for e in fresh]).T
    top1 = (scores.argmax(dim=1) == torch.arange(40)).float().mean().item()
    assert top1 >= 0.4, f"top-1 {top1:.2f} over 40 (chance 0.025)"
    assert_mistral_computes_its_bag(trained_base, None, 0.98)


def assert_mistral_computes_its_bag(base: Path, gate: InstructionGate | None, minimum: float) -> None:
    """The Mistral's embeddings of documents and of a query with its instruction = BagEncoder's (cosine > minimum;
    without the gate's BOS sink, positions other than EOS add their prefix's mean and shift later layers a bit)."""
    model = load_encoder_model(base).eval()
    encoder = TextEncoder.from_dir(base, 128)
    table = model.get_input_embeddings().weight.detach()  # (V, H)
    dims = token_dims(table.shape[1], gate)
    content_dims = dims.content
    bag = BagEncoder(table[:, :content_dims], table[:, dims.importance], table.shape[1], SHARPNESS, gate)
    texts = [e["positive"] for e in synonym_examples(3, seed=9)]
    texts.append(format_query(E5_TEMPLATE, INSTRUCTION, synonym_examples(1, seed=9)[0]["query"]))
    vectors = embed_texts(model, encoder, texts)  # (4, H)
    for text, vector in zip(texts, vectors, strict=True):
        ids = [i for i in encoder.ids(text) if i not in (0, 1, 2)]  # specials never enter the bag
        expected = bag(torch.tensor([ids]), torch.ones(1, len(ids), dtype=torch.bool))[0]
        cosine = torch.dot(torch.nn.functional.normalize(vector[:content_dims], dim=0), expected).item()
        assert cosine > minimum, f"{text!r}: cosine with the bag {cosine:.6f}"


@pytest.fixture(scope="module")
def gated_base(trained_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same data and flags plus --gate-instruction (one layer more: the gate takes layer 0)."""
    root = tmp_path_factory.mktemp("gated")
    shutil.copy(trained_base.parent / "corpus.txt", root / "corpus.txt")
    flags = ("--train-data", trained_base.parent / "synth.jsonl", *BAG_FLAGS, "--gate-instruction", "--layers", 3)
    assert build_base("init-lexical", root, *TINY_SIZE_FLAGS, "--sharpness", SHARPNESS, *flags) == 0
    return root / "base"


def instruction_drift(base: Path) -> float:
    """Lowest cosine between a query embedded under the task's instruction and under an instruction made of
    another topic's words (in-domain words that an ungated bag mixes into every query)."""
    model = load_encoder_model(base).eval()
    encoder = TextEncoder.from_dir(base, 128)
    queries = [e["query"] for e in synonym_examples(10, seed=13)]
    foreign = " ".join(word(0, k) for k in range(WORDS_PER_TOPIC))
    a = embed_texts(model, encoder, [format_query(E5_TEMPLATE, INSTRUCTION, q) for q in queries])
    b = embed_texts(model, encoder, [format_query(E5_TEMPLATE, foreign, q) for q in queries])
    return torch.nn.functional.cosine_similarity(a, b).min().item()


def test_the_instruction_gate_drops_the_instruction_from_queries(trained_base: Path, gated_base: Path) -> None:
    config = json.loads((gated_base / "pretrain_config.json").read_text())
    gate = InstructionGate(config["instruction_gate"]["token"])
    assert config["instruction_gate"]["piece"] == "Query:", "the tiny tokenizer's marker"
    assert_mistral_computes_its_bag(gated_base, gate, 0.9999)
    gated, ungated = instruction_drift(gated_base), instruction_drift(trained_base)
    assert gated > 0.999, f"gated: a query moved to cosine {gated:.4f} under another instruction"
    assert ungated < 0.95, f"without the gate the instruction should move queries (cosine {ungated:.4f})"


def test_bag_average_trains_members_in_their_own_orders_and_writes_their_soup(tmp_path: Path) -> None:
    """--bag-average 2: two tables from one start (seeds 0 and 1 order the batches), averaged into the base."""
    toy_corpus(tmp_path / "corpus.txt", 400, seed=3)
    write_jsonl(tmp_path / "synth.jsonl", synonym_examples(1200, seed=5))
    flags = ("--train-data", tmp_path / "synth.jsonl", *BAG_FLAGS, "--bag-average", 2)
    assert build_base("init-lexical", tmp_path, *TINY_SIZE_FLAGS, "--sharpness", SHARPNESS, *flags) == 0
    report = json.loads((tmp_path / "base" / "pretrain_config.json").read_text())["bag"]
    assert report["average"] == 2
    assert [m["seed"] for m in report["members"]] == [0, 1]
    # The soup is a table in its own right: it still finds the no-shared-word documents its members learnt.
    assert report["recall@1_after"] >= report["recall@1_before"] + 0.3, report
    # Members that agree average to themselves; opposite directions cancel (the soup is per-token directions).
    content = torch.randn(5, 4)
    same, _ = average_tables([(content, torch.zeros(5)), (3 * content, torch.ones(5))])
    assert torch.allclose(same, torch.nn.functional.normalize(content, dim=-1), atol=1e-6)
    opposite, importance = average_tables([(content, torch.zeros(5)), (-content, torch.ones(5))])
    assert torch.allclose(opposite, torch.zeros(5, 4), atol=1e-6) and torch.allclose(importance, torch.full((5,), 0.5))


def test_glove_vectors_seed_whole_word_pieces_only(tmp_path: Path) -> None:
    tokenizer = build_tokenizer()
    glove = {"dimensions": 4, "vectors": {"given": [1.0, 0.0, 0.0, 0.0, 1.0, 0], "passage": [0, 2.0, 0, 0, 2.0, 1]}}
    (tmp_path / "glove.json").write_text(json.dumps(glove))
    content = torch.randn(tokenizer.get_vocab_size(), 12)
    assert glove_content(tokenizer, tmp_path / "glove.json", content) == 2
    given, passage = tokenizer.token_to_id("Given"), tokenizer.token_to_id("passage")
    for token, direction in ((given, [1.0, 0, 0, 0]), (passage, [0, 1.0, 0, 0])):
        assert torch.allclose(content[token, :4], torch.tensor(direction)), "the GloVe vector, at unit norm"
        assert torch.isclose(content[token, 4:].norm(), torch.tensor(1.0)), "beside a random code of the same norm"
    assert not torch.allclose(content[0, :4], torch.zeros(4)), "other pieces keep their random code"


def test_glove_without_training_data_and_too_few_examples_are_refused(tmp_path: Path) -> None:
    toy_corpus(tmp_path / "corpus.txt", 20, seed=1)
    with pytest.raises(SystemExit, match="--glove seeds the token-table training: give --train-data too"):
        build_base("init-lexical", tmp_path, *TINY_SIZE_FLAGS, "--glove", tmp_path / "glove.json")
    write_jsonl(tmp_path / "synth.jsonl", synonym_examples(20, seed=1))
    with pytest.raises(SystemExit, match="20 usable examples in --train-data; need 32"):
        build_base("init-lexical", tmp_path, *TINY_SIZE_FLAGS, "--train-data", tmp_path / "synth.jsonl", *BAG_FLAGS)
    with pytest.raises(SystemExit, match="--bag-upweight 'offline:toy=0': expected SOURCE=TIMES"):
        build_base(
            "init-lexical",
            tmp_path,
            *TINY_SIZE_FLAGS,
            "--train-data",
            tmp_path / "synth.jsonl",
            "--bag-upweight",
            "offline:toy=0",
        )
    with pytest.raises(SystemExit, match="--bag-average 0: expected a whole number >= 1"):
        build_base(
            "init-lexical", tmp_path, *TINY_SIZE_FLAGS, "--train-data", tmp_path / "synth.jsonl", "--bag-average", 0
        )
    assert not (tmp_path / "base").exists(), "nothing is written"
