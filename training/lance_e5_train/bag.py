"""The lexical base's token table, trained contrastively before it is written into Mistral weights.

Why: `init-lexical` makes the EOS position of a Mistral hold a weighted bag of token content vectors. With random
content vectors and IDF weights that bag is TF-IDF cosine squeezed into 254 dimensions (man-page nDCG@10 0.56 against
BM25's 0.83). What a bag can learn from the synthetic pairs is far more than that: which pieces matter for which
task (the weights) and which pieces mean the same (the content vectors). Training those through the full Mistral
is slow on 2 cores and, at the learning rates the embedding table needs, unstable; training them here, with the
same arithmetic as the Mistral's first layer, takes minutes. `lexical_weights` then writes the trained table into
the Mistral, and the contrastive stage of the paper's recipe continues from that base.

The arithmetic (one token embedding e = [content (C dims), EOS marker, importance], hidden H = C + 2):
    rms_t = sqrt((|content_t|^2 + importance_t^2) / H)         the input RMSNorm (the marker is 0 on non-EOS tokens)
    score_t = sharpness * importance_t / rms_t                 EOS query (marker) . key (importance), see lexical_init
    bag = sum_t softmax(score)_t * content_t / rms_t           what v/o copy into the EOS position
Content vectors are kept at unit RMS (norm sqrt(C)), as the Mistral's RMSNorm would make them anyway.

With an InstructionGate (init-lexical --gate-instruction) the query template's marker token ("Query" after the
newline) and every token after it get `bonus` added to their score: a bag alone cannot tell an instruction's words
from the query's, and an instruction full of in-domain words ("command", "manual page") otherwise pulls every query
towards the documents that contain them. Documents have no marker, so their scores are unchanged (softmax ignores a
shared shift). The Mistral computes the gate in its first layer, with three more reserved dims per token: a constant
1 (the gate's query), the marker indicator (its key and value) and the gate's output, 1 from the marker on; they
enter the RMSNorm:
    rms_t = sqrt((|content_t|^2 + importance_t^2 + 1 + marker_value^2 [t = marker] + 1 [t >= marker]) / H)
    score_t = (sharpness * importance_t + bonus [t >= marker]) / rms_t
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from .data import Example, make_batches, split_eval
from .loss import contrastive_loss
from .model import E5_TEMPLATE, TrainConfig, format_query
from .pretrain import glove_word_vectors


@dataclass(frozen=True)
class InstructionGate:
    """Tokens from `token` (the template's query marker) on weigh exp(bonus) times more in the bag."""

    token: int
    bonus: float = 40.0  # exp(-40): the instruction's words drop out of a query's bag (scores are < 2 sqrt(H))
    marker_value: float = 8.0  # the marker token's indicator dim: the key that layer 0's gate head finds


class BagEncoder(torch.nn.Module):
    """Token ids -> unit vectors, exactly the weighted bag the lexical Mistral's EOS position computes."""

    def __init__(
        self,
        content: torch.Tensor,
        importance: torch.Tensor,
        hidden: int,
        sharpness: float,
        gate: InstructionGate | None = None,
    ) -> None:
        super().__init__()
        self.content = torch.nn.Parameter(content.clone())  # (V, C)
        self.importance = torch.nn.Parameter(importance.clone())  # (V,)
        self.hidden = hidden
        self.sharpness = sharpness
        self.gate = gate

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids, mask: (B, L) -> (B, C) unit vectors."""
        # Unit RMS per token, as lexical_weights writes them (and the Mistral's RMSNorm would make them anyway).
        content = F.normalize(self.content[ids], dim=-1) * math.sqrt(self.content.shape[1])  # (B, L, C)
        importance = self.importance[ids]  # (B, L)
        square = self.content.shape[1] + importance.square()  # (B, L) summed squares of the token's input dims
        score = self.sharpness * importance  # (B, L) before the RMSNorm
        if self.gate is not None:
            is_marker = ids == self.gate.token  # (B, L)
            after = (is_marker.cumsum(dim=-1) > 0).float()  # (B, L) the marker and what follows it
            square = square + 1 + is_marker.float() * self.gate.marker_value**2 + after
            score = score + self.gate.bonus * after
        rms = torch.sqrt(square / self.hidden)  # (B, L)
        score = (score / rms).masked_fill(~mask, float("-inf"))  # (B, L)
        weights = torch.softmax(score, dim=-1)  # (B, L)
        bag = torch.einsum("bl,blc->bc", weights, content / rms.unsqueeze(-1))  # (B, C)
        return F.normalize(bag, dim=-1)


@dataclass
class BagTraining:
    epochs: int = 2
    batch_size: int = 64
    lr: float = 0.01
    temperature: float = 0.05
    max_length: int = 128
    seed: int = 0
    # (source, times): that source's training examples count `times` over, e.g. ("offline:man", 3)
    upweight: tuple[tuple[str, int], ...] = ()


def piece_ids(tokenizer: Tokenizer, texts: list[str], excluded: set[int], max_length: int) -> list[list[int]]:
    """Each text's token ids without specials (they never enter the bag), at most max_length of them."""
    rows = []
    for encoding in tokenizer.encode_batch([t[: max_length * 32] for t in texts], add_special_tokens=False):
        # An empty text keeps one (special, weightless) token so that its softmax has something to weigh.
        rows.append([i for i in encoding.ids if i not in excluded][:max_length] or [0])
    return rows


def padded(rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)  # (B, L)
    mask = torch.zeros((len(rows), width), dtype=torch.bool)  # (B, L)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = True
    return ids, mask


def encode_texts(bag: BagEncoder, tokenizer: Tokenizer, texts: list[str], excluded: set[int], max_length: int):
    """(N, C) unit vectors of `texts`, in batches."""
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 128):
            out.append(bag(*padded(piece_ids(tokenizer, texts[start : start + 128], excluded, max_length))))
    return torch.cat(out)


def held_out_recall(bag: BagEncoder, tokenizer: Tokenizer, held: list[Example], excluded: set[int], max_length: int):
    """Recall@1 of each held-out query against all held-out positives (the trainer's metric)."""
    if not held:
        return None
    queries = [format_query(E5_TEMPLATE, e.instruction, e.query) for e in held]
    documents = sorted({e.positive for e in held})
    index = {d: i for i, d in enumerate(documents)}
    q = encode_texts(bag, tokenizer, queries, excluded, max_length)
    d = encode_texts(bag, tokenizer, documents, excluded, max_length)
    top = (q @ d.T).argmax(dim=1)
    gold = torch.tensor([index[e.positive] for e in held])
    return float((top == gold).float().mean())


def table_split(examples: list[Example]) -> tuple[list[Example], list[Example]]:
    """-> (train, held): the trainer's held-out slice (its defaults), so that its metric never sees what the table
    learnt."""
    defaults = TrainConfig()
    return split_eval(examples, defaults.eval_percent, defaults.eval_max)


def average_tables(members: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(content (V, C), importance (V,)) tables trained from one start -> their "soup". Content is normalised per
    token downstream (BagEncoder, lexical_weights), so the soup averages each token's direction."""
    content = torch.stack([F.normalize(c, dim=-1) for c, _ in members]).mean(dim=0)
    importance = torch.stack([i for _, i in members]).mean(dim=0)
    return content, importance


def train_bag(
    bag: BagEncoder,
    tokenizer: Tokenizer,
    examples: list[Example],
    excluded: set[int],
    settings: BagTraining,
    log=print,
) -> dict:
    """InfoNCE over in-batch and hard negatives (instruction on the query side), Adam on the table. -> report."""
    # The table's gradient is a scatter-add over repeated token ids, summed in a thread-dependent order unless
    # deterministic algorithms are on; then the same seed gives the same bytes (measured: no slower on 2 cores).
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        return _train_bag(bag, tokenizer, examples, excluded, settings, log)
    finally:
        torch.use_deterministic_algorithms(previous)


def _train_bag(
    bag: BagEncoder, tokenizer: Tokenizer, examples: list[Example], excluded: set[int], settings: BagTraining, log
) -> dict:
    train, held = table_split(examples)
    for source, times in settings.upweight:  # after the split: no copy of a held-out example is trained on
        train += [e for e in train if e.source == source] * (times - 1)
    optimizer = torch.optim.Adam(bag.parameters(), lr=settings.lr)
    # One task family per batch (as the trainer's --group-by-family): then the instruction, shared by the whole
    # batch, cannot tell a positive from the negatives, and its words learn to weigh little. Mixed batches teach
    # the opposite (the instruction's words pick the family), which ruins queries with an unseen instruction.
    batches = make_batches([e.task_family for e in train], settings.batch_size, settings.epochs, settings.seed, True)
    total = len(batches)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / max(total, 1)))
    report: dict = {"examples": len(train), "held_out": len(held), "steps": total, **asdict(settings)}
    report["recall@1_before"] = held_out_recall(bag, tokenizer, held, excluded, settings.max_length)
    started = time.time()
    for step, indices in enumerate(batches, start=1):
        batch = [train[i] for i in indices]
        queries = [format_query(E5_TEMPLATE, e.instruction, e.query) for e in batch]
        negatives = [e.negative for e in batch if e.negative]
        rows = piece_ids(tokenizer, queries + [e.positive for e in batch] + negatives, excluded, settings.max_length)
        vectors = bag(*padded(rows))  # (B + B + N, C)
        b = len(batch)
        has_negative = torch.tensor([e.negative is not None for e in batch])
        negative_vectors = torch.zeros_like(vectors[:b])
        negative_vectors[has_negative] = vectors[2 * b :]
        loss = contrastive_loss(vectors[:b], vectors[b : 2 * b], negative_vectors, has_negative, settings.temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % 50 == 0 or step == total:
            log(
                json.dumps(
                    {
                        "event": "bag",
                        "step": step,
                        "of": total,
                        "loss": round(loss.item(), 4),
                        "seconds": round(time.time() - started),
                    }
                )
            )
    report["recall@1_after"] = held_out_recall(bag, tokenizer, held, excluded, settings.max_length)
    report["seconds"] = round(time.time() - started)
    return report


def glove_content(tokenizer: Tokenizer, glove_path: str | Path, content: torch.Tensor) -> int:
    """Give each whole-word piece its GloVe vector in the first dims of its content vector, beside the rest of its
    random code at the same norm, so that pieces with related meanings start close while staying distinct. Content
    is normalised per token later (BagEncoder, lexical_weights), so only directions matter. -> pieces covered."""
    words = glove_word_vectors(tokenizer, glove_path)
    width = content.shape[1]
    dims = next(iter(words.values())).shape[0] if words else 0
    if dims >= width:
        raise ValueError(f"GloVe has {dims} dims; the content vectors only {width}")
    with torch.no_grad():
        for token_id, v in words.items():
            code = content[token_id, dims:]
            content[token_id, dims:] = code / code.norm()
            content[token_id, :dims] = v / v.norm()
    return len(words)
