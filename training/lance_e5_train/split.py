"""The held-out split rule shared with src/data/split.ts: never train on a held-out document."""

import hashlib

HELD_OUT_PERCENT = 20


def split_bucket(corpus: str, doc_id: str) -> int:
    digest = hashlib.sha256(f"{corpus}:{doc_id}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100


def is_held_out(corpus: str, doc_id: str) -> bool:
    return split_bucket(corpus, doc_id) < HELD_OUT_PERCENT
