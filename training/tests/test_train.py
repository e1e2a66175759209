import argparse
import json
from pathlib import Path

import pytest
import torch
from tiny_base import evals, pretrained_base, read_log, run_cli, save_random_base, toy_examples, write_jsonl
from transformers import AutoModel

from lance_e5_train import train
from lance_e5_train.data import make_batches
from lance_e5_train.model import QWEN3_TEMPLATE, TrainConfig, format_query, template_for

torch.set_num_threads(1)
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# Tiny-run settings: the paper's lr (1e-4) and 100 warm-up steps are sized for a 7B model and ~1k steps; a 60-step
# run of a 130k-parameter model needs a larger rate. Everything else stays at the CLI defaults (tau 0.02, LoRA r16).
TINY = [
    "--batch-size",
    32,
    "--lr",
    1e-3,
    "--warmup-steps",
    10,
    "--eval-percent",
    15,
    "--threads",
    1,
    "--no-gradient-checkpointing",
]


def test_cli_defaults_are_the_papers_values():
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    config = train.config_from_args(
        parser.parse_args(["--base", "b", "--data", "d.jsonl", "--out", "o", "--batch-size", "8"])
    )
    assert (config.temperature, config.lr, config.warmup_steps, config.weight_decay, config.max_length) == (
        0.02,
        1e-4,
        100,
        0.1,
        512,
    )
    assert (config.lora_r, config.lora_alpha, config.lora_dropout, config.full) == (16, 32, 0.1, False)
    assert set(config.lora_targets) == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    assert config.gradient_checkpointing and config.precision == "auto" and config.epochs == 1


def test_batch_size_is_required():
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    with pytest.raises(SystemExit, match="--batch-size"):
        train.config_from_args(parser.parse_args(["--base", "b", "--data", "d.jsonl", "--out", "o"]))


def test_query_templates_per_family():
    assert format_query(template_for("mistral"), "Find {x}", "q") == "Instruct: Find {x}\nQuery: q"
    assert template_for("qwen3") == QWEN3_TEMPLATE == "Instruct: {task}\nQuery:{query}"


def test_lora_on_a_pretrained_base_raises_held_out_recall_by_at_least_0_3(tmp_path):
    """The end-to-end claim: pretrain (full, causal LM) -> LoRA + InfoNCE at tau 0.02 -> held-out recall@1 rises.

    Held-out slice: 15% of 1200 toy examples (by a hash of the query), ~300 candidate documents. Measured: 0.04 ->
    0.57 recall@1 in 60 steps; the same run on a random base reaches ~0.19, which is why the base is pretrained.
    """
    data = write_jsonl(tmp_path / "train.jsonl", toy_examples(1200, seed=2))
    out = tmp_path / "lora"
    assert (
        run_cli(
            "train",
            "--base",
            pretrained_base(),
            "--data",
            data,
            "--out",
            out,
            "--max-steps",
            60,
            "--eval-every",
            30,
            *TINY,
        )
        == 0
    )
    scores = evals(out)
    before, after = scores[0]["recall@1"], scores[60]["recall@1"]
    assert scores[0]["queries"] >= 100
    assert after - before >= 0.3, scores
    assert scores[60]["mrr"] > scores[0]["mrr"] + 0.3
    # The output is a LoRA adapter plus what `merge` and `export` need.
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "train_config.json",
        "training_card.json",
    ):
        assert (out / name).is_file(), name
    card = json.loads((out / "training_card.json").read_text())
    assert card["steps"] == 60 and card["trained_on"][0]["source"] == "offline:toy"
    assert card["scores"]["held_out_after"]["recall@1"] == after

    random_out = tmp_path / "lora-random"
    run_cli(
        "train",
        "--base",
        save_random_base(tmp_path / "random"),
        "--data",
        data,
        "--out",
        random_out,
        "--max-steps",
        60,
        "--eval-every",
        0,
        *TINY,
    )
    assert after - evals(random_out)[60]["recall@1"] >= 0.15


def test_bad_lines_are_reported_with_line_numbers_and_skipped(tmp_path, capsys):
    good = toy_examples(40, seed=3)
    bad = [
        "{not json",
        json.dumps({**good[0], "task_family": "poetry"}),
        json.dumps({k: v for k, v in good[1].items() if k != "positive"}),
    ]
    data = write_jsonl(tmp_path / "mixed.jsonl", good, bad)
    out = tmp_path / "out"
    assert (
        run_cli(
            "train",
            "--base",
            pretrained_base(),
            "--data",
            data,
            "--out",
            out,
            "--max-steps",
            2,
            "--eval-percent",
            0,
            "--batch-size",
            8,
            "--threads",
            1,
        )
        == 0
    )
    err = capsys.readouterr().err
    assert f"{data}:41: invalid JSON" in err
    assert f"{data}:42: schema: task_family:" in err and "'poetry' is not one of" in err
    assert f"{data}:43: schema: (top level): 'positive' is a required property" in err
    assert "skipped 3 bad line(s)" in err
    start = read_log(out)[0]
    assert start["bad_lines"] == 3 and start["train_examples"] == 40


def test_missing_inputs_are_clear_errors(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", toy_examples(8, seed=1))
    with pytest.raises(SystemExit, match="data file.*not found: .*nope.jsonl"):
        run_cli(
            "train",
            "--base",
            pretrained_base(),
            "--data",
            tmp_path / "nope.jsonl",
            "--out",
            tmp_path / "o",
            "--batch-size",
            4,
        )
    with pytest.raises(SystemExit, match="not a Hugging Face checkpoint"):
        run_cli("train", "--base", tmp_path, "--data", data, "--out", tmp_path / "o", "--batch-size", 4)


def test_no_usable_examples_is_a_clear_error(tmp_path):
    data = write_jsonl(tmp_path / "bad.jsonl", [], ["[]", "{}"])
    with pytest.raises(SystemExit, match="only 0 usable training example"):
        run_cli("train", "--base", pretrained_base(), "--data", data, "--out", tmp_path / "o", "--batch-size", 4)


def test_full_training_writes_a_complete_checkpoint_and_changes_every_weight_kind(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", toy_examples(64, seed=4))
    out = tmp_path / "full"
    assert (
        run_cli(
            "train",
            "--base",
            pretrained_base(),
            "--data",
            data,
            "--out",
            out,
            "--full",
            "--max-steps",
            3,
            "--batch-size",
            16,
            "--lr",
            1e-3,
            "--warmup-steps",
            1,
            "--eval-percent",
            0,
            "--threads",
            1,
        )
        == 0
    )
    assert not (out / "adapter_config.json").exists()
    before = AutoModel.from_pretrained(pretrained_base()).state_dict()
    after = AutoModel.from_pretrained(out).state_dict()
    assert before.keys() == after.keys()
    for name in ("embed_tokens.weight", "layers.0.self_attn.q_proj.weight", "norm.weight"):
        assert not torch.equal(before[name], after[name]), name


def test_existing_checkpoints_need_resume(tmp_path):
    data = write_jsonl(tmp_path / "d.jsonl", toy_examples(32, seed=5))
    args = [
        "train",
        "--base",
        pretrained_base(),
        "--data",
        data,
        "--out",
        tmp_path / "o",
        "--max-steps",
        1,
        "--batch-size",
        8,
        "--eval-percent",
        0,
        "--threads",
        1,
    ]
    run_cli(*args)
    with pytest.raises(SystemExit, match="pass --resume"):
        run_cli(*args)


def test_group_by_family_batches_hold_one_family_and_cover_each_example_once():
    families = ["sts"] * 10 + ["short-long"] * 7 + ["short-short"] * 5
    batches = make_batches(families, 4, epochs=1, seed=0, group_by_family=True)
    assert all(len({families[i] for i in b}) == 1 for b in batches)
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen)) and len(seen) == 10 + 7 + 5 - 1  # the lone short-long leftover is dropped
    mixed = make_batches(families, 4, epochs=1, seed=0, group_by_family=False)
    assert any(len({families[i] for i in b}) > 1 for b in mixed)
    assert make_batches(families, 4, 2, 7, True) == make_batches(families, 4, 2, 7, True)  # deterministic


def test_a_family_without_hard_negatives_trains(tmp_path):
    records = [{k: v for k, v in r.items() if k != "negative"} for r in toy_examples(48, seed=6, family="short-short")]
    data = write_jsonl(tmp_path / "ss.jsonl", records + toy_examples(48, seed=7, family="sts"))
    out = tmp_path / "o"
    assert (
        run_cli(
            "train",
            "--base",
            pretrained_base(),
            "--data",
            data,
            "--out",
            out,
            "--group-by-family",
            "--max-steps",
            4,
            "--batch-size",
            16,
            "--eval-percent",
            0,
            "--threads",
            1,
        )
        == 0
    )
    card = json.loads((out / "training_card.json").read_text())
    assert card["families"] == {"short-short": 48, "sts": 48}
    assert all(e["loss"] == e["loss"] and e["loss"] > 0 for e in read_log(out) if "loss" in e)  # finite, not NaN


def test_resume_config_mismatch_is_refused(tmp_path):
    saved, now = TrainConfig(batch_size=8, seed=1), TrainConfig(batch_size=16, seed=1)
    with pytest.raises(SystemExit, match="batch_size was 8, now 16"):
        train.check_resumable(saved, now)


def test_shipped_config_files_load_and_typos_are_refused(tmp_path):
    parser = argparse.ArgumentParser()
    train.add_arguments(parser)
    required = ["--base", "b", "--data", "d.jsonl", "--out", "o"]
    paper = train.config_from_args(parser.parse_args(["--config", str(CONFIGS / "e5-mistral-7b.json"), *required]))
    assert (paper.batch_size, paper.lora_r, paper.temperature, paper.lr) == (2048, 16, 0.02, 1e-4)
    smoke = train.config_from_args(
        parser.parse_args(["--config", str(CONFIGS / "smoke.json"), *required, "--max-steps", "3"])
    )
    assert smoke.max_steps == 3 and smoke.batch_size == 16  # the command line wins over the file
    (tmp_path / "typo.json").write_text(json.dumps({"batch_size": 8, "temprature": 0.05}))
    with pytest.raises(SystemExit, match="unknown setting.*temprature"):
        train.config_from_args(parser.parse_args(["--config", str(tmp_path / "typo.json"), *required]))


def test_glove_init_copies_whole_word_vectors_through_an_orthonormal_projection(tmp_path):
    from tokenizers import Tokenizer, models
    from transformers import MistralConfig, MistralForCausalLM

    from lance_e5_train.pretrain import glove_init

    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "▁river": 3, "▁Stone": 4, "▁x1": 5, "ing": 6}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    river, stone, ing = [1.0, 2.0, 0.5, -1.0], [0.0, 1.0, 3.0, 1.0], [9.0, 9.0, 9.0, 9.0]
    table = {"dimensions": 4, "vectors": {"river": river + [2.6, 0], "stone": stone + [3.3, 1], "ing": ing + [18, 2]}}
    (tmp_path / "glove.json").write_text(json.dumps(table))
    config = MistralConfig(
        vocab_size=7,
        hidden_size=8,
        intermediate_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
    )
    model = MistralForCausalLM(config)
    before = model.get_input_embeddings().weight.detach().clone()
    report = glove_init(model, tokenizer, str(tmp_path / "glove.json"), seed=0)
    after = model.get_input_embeddings().weight.detach()
    assert report == {"glove_tokens": 2, "vocab": 7}  # "ing" is not a word start, "x1" not a word
    assert torch.equal(after[[0, 1, 2, 5, 6]], before[[0, 1, 2, 5, 6]])
    cosine = torch.nn.functional.cosine_similarity
    assert abs(cosine(after[3], after[4], dim=0) - cosine(torch.tensor(river), torch.tensor(stone), dim=0)) < 1e-5
    assert abs(after[3].std().item() / before.std().item() - 1) < 0.6  # on the scale of the random init
