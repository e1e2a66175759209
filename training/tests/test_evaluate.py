"""`evaluate held-out` writes exactly the slice `train` held out (same hash rule, same cap, same order)."""

import json

from tiny_base import toy_examples, write_jsonl

from lance_e5_train import evaluate
from lance_e5_train.data import read_examples, split_eval


def test_held_out_slice_is_the_trainers(tmp_path):
    data = write_jsonl(tmp_path / "synth.jsonl", toy_examples(400, seed=3))
    config = tmp_path / "train_config.json"
    config.write_text(json.dumps({"eval_percent": 10.0, "eval_max": 25, "data": ["/elsewhere/synth.jsonl"]}))
    out = tmp_path / "held.jsonl"
    assert evaluate.main(["held-out", "--data", str(data), "--train-config", str(config), "--out", str(out)]) == 0

    written = [json.loads(line) for line in out.read_text().splitlines()]
    examples, _ = read_examples([data])
    train, held = split_eval(examples, 10.0, 25)
    assert [row["query"] for row in written] == [e.query for e in held]
    assert 0 < len(written) <= 25
    # Nothing in the slice was trained on: neither its queries nor its positives occur in the training part.
    trained_texts = {e.query for e in train} | {e.positive for e in train}
    assert not any(row["query"] in trained_texts or row["positive"] in trained_texts for row in written)
    assert set(written[0]) >= {"task_family", "instruction", "query", "positive", "negative", "source"}


def test_missing_data_file_is_a_clear_error(tmp_path, capsys):
    code = evaluate.main(["held-out", "--data", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "o.jsonl")])
    assert code == 2
    assert "nope.jsonl" in capsys.readouterr().err
