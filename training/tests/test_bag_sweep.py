"""training/tools/bag_sweep.py: nothing derived from a validation page is trained on; bad flags are refused."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

from bag_sweep import main, source_pages, validation_split  # noqa: E402

from lance_e5_train.data import read_examples  # noqa: E402

SUMMARY = "Given a one-line summary of a user command, retrieve the manual page text that describes it"
CLOZE = "Given a sentence quoted from the documentation of a user command, retrieve the rest of that manual page"


def line(instruction: str, query: str, positive: str, page: str, source: str = "offline:man") -> str:
    return json.dumps(
        {
            "task_family": "short-long",
            "instruction": instruction,
            "query": query,
            "positive": positive,
            "language": "en",
            "source": source,
            "meta": {"corpus": source.split(":")[1], "doc_ids": [page, "1/other"], "template": "t"},
        }
    )


def test_a_validation_pages_other_pairs_leave_training(tmp_path: Path) -> None:
    data = tmp_path / "synth.jsonl"
    data.write_text(
        "\n".join(
            [
                line(SUMMARY, "archive files", "tar saves files. It restores them.", "1/tar"),
                line(CLOZE, "It restores them.", "tar saves files.", "1/tar"),  # same page, other texts
                line(CLOZE, "It lists files.", "ls prints names.", "1/tar", source="offline:docs"),  # other corpus
                line(CLOZE, "It copies files.", "cp duplicates.", "1/cp"),
            ]
        )
        + "\n"
    )
    examples, bad = read_examples([data])
    assert not bad
    # Every summary pair is held out at 100%: the tar page is a validation page.
    train, validation = validation_split(examples, "offline:man", "Given a one-line summary of", 100.0)
    assert [e.query for e in validation] == ["archive files"]
    assert [e.query for e in train] == ["It restores them.", "It lists files.", "It copies files."]  # texts differ
    train, _ = validation_split(examples, "offline:man", "Given a one-line summary of", 100.0, source_pages(str(data)))
    assert [e.query for e in train] == ["It lists files.", "It copies files."]


def test_percent_zero_without_a_benchmark_is_refused_before_any_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    argv = ["bag_sweep", "--data", "missing.jsonl", "--text", "missing.txt", "--setting", "a:epochs=1"]
    monkeypatch.setattr(sys, "argv", argv + ["--percent", "0", "--cache", str(cache)])
    with pytest.raises(SystemExit, match="--percent 0 holds nothing out, so it needs --benchmark"):
        main()
    assert not cache.exists()
