"""lance_e5_train.split must agree with src/data/split.ts: the held-out rule is shared by the synthetic-data
generator and the benchmarks, so a disagreement would leak evaluation documents into training.

Expected values were computed with node (`splitBucket`/`isHeldOut` from src/data/split.ts, 2026-11-27) and are
hard-coded so that a change on either side fails here. Includes the 19/20 boundary and non-ASCII ids.
"""

import pytest

from lance_e5_train.split import HELD_OUT_PERCENT, is_held_out, split_bucket

FROM_TYPESCRIPT = [
    ("manpages", "ls.1", 69, False),
    ("manpages", "grep.1", 6, True),
    ("wordnet", "dog.n.01", 54, False),
    ("sotu", "1790-washington", 59, False),
    ("debian", "0", 23, False),
    ("x", "", 52, False),
    ("日本語", "文書-1", 9, True),
    ("corpus:with:colons", "id with spaces", 94, False),
    ("boundary", "doc-169", 0, True),
    ("boundary", "doc-159", 19, True),
    ("boundary", "doc-150", 20, False),
    ("boundary", "doc-134", 99, False),
]


@pytest.mark.parametrize(("corpus", "doc_id", "bucket", "held_out"), FROM_TYPESCRIPT)
def test_split_agrees_with_typescript(corpus: str, doc_id: str, bucket: int, held_out: bool) -> None:
    assert split_bucket(corpus, doc_id) == bucket
    assert is_held_out(corpus, doc_id) is held_out


def test_held_out_share_is_the_documented_percent() -> None:
    assert HELD_OUT_PERCENT == 20
    share = sum(is_held_out("share", f"doc-{i}") for i in range(5000)) / 5000
    assert 0.18 < share < 0.22
