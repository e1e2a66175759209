"""Past/present key-value inputs for GroupQueryAttention graphs, so long texts can be run in chunks.

Why: onnxruntime's GroupQueryAttention CPU kernel keeps a float32 score buffer of heads x new tokens x total tokens
(measured: a 32,768-token text asked it for 32 GiB with 8 heads and failed; 8,192 tokens peaked at 2.5 GB). With a
key-value cache in the graph the runtime feeds a long text in chunks (chunked prefill): each run sees C new tokens
and the cached keys/values of the earlier ones, so the buffer is heads x C x total tokens, and the triangle above
the diagonal is skipped chunk by chunk.

The graph then follows the optimum/Hugging Face decoder convention, which transformers.js also feeds:
- inputs `past_key_values.{layer}.key|value`, float32 [batch_size, kv_heads, past_sequence_length, head_dim]
  (empty, past_sequence_length = 0, for a normal run; transformers.js resolves the symbolic `batch_size` and feeds
  such empty pasts itself);
- outputs `present.{layer}.key|value`, [batch_size, kv_heads, past + new tokens, head_dim];
- `attention_mask` spans past and new tokens, so the operator's total length is the mask's width (its per-row
  `seqlens_k` already came from the mask's sum); `input_ids` and `position_ids` hold only the new tokens.
"""

from __future__ import annotations

from typing import Any

PAST_INPUT = "past_key_values.{layer}.{kind}"
PRESENT_OUTPUT = "present.{layer}.{kind}"
KINDS = ("key", "value")
TOTAL_LENGTH = "kv_cache_total_length"


def add_kv_cache(proto: Any, kv_heads: int, head_dim: int, attention_mask: str = "attention_mask") -> int:
    """Rewires every GroupQueryAttention node of an exported fp32 graph to take a past and expose its present.
    Returns the number of layers; raises ValueError when the graph has no such nodes."""
    from onnx import TensorProto, helper

    graph = proto.graph
    nodes = [node for node in graph.node if node.op_type == "GroupQueryAttention"]
    if not nodes:
        raise ValueError("the graph has no GroupQueryAttention nodes (export with --attention gqa)")
    # total_sequence_length (a scalar int32) = width of the attention mask = past + new tokens.
    width = TOTAL_LENGTH + "_1d"
    prefix = [
        helper.make_node("Shape", [attention_mask], [width + "_i64"], start=1, end=2, name="KvCacheMaskWidth"),
        helper.make_node("Cast", [width + "_i64"], [width], to=TensorProto.INT32, name="KvCacheMaskWidthInt32"),
        helper.make_node("Reshape", [width, TOTAL_LENGTH + "_scalar_shape"], [TOTAL_LENGTH], name="KvCacheTotalLength"),
    ]
    graph.initializer.append(helper.make_tensor(TOTAL_LENGTH + "_scalar_shape", TensorProto.INT64, [0], []))
    for node in reversed(prefix):
        graph.node.insert(0, node)

    def cache_tensor(name: str, length: str) -> Any:
        return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch_size", kv_heads, length, head_dim])

    for layer, node in enumerate(nodes):
        while len(node.input) < 7:
            node.input.append("")
        for slot, kind in ((3, "key"), (4, "value")):
            node.input[slot] = PAST_INPUT.format(layer=layer, kind=kind)
            graph.input.append(cache_tensor(node.input[slot], "past_sequence_length"))
        node.input[6] = TOTAL_LENGTH
        for slot, kind in ((1, "key"), (2, "value")):
            node.output[slot] = PRESENT_OUTPUT.format(layer=layer, kind=kind)
            graph.output.append(cache_tensor(node.output[slot], "total_sequence_length"))
    return len(nodes)


def empty_past_feeds(session: Any, batch: int) -> dict[str, Any]:
    """Zero-length past tensors for every past input of an onnxruntime session (a normal, unchunked run)."""
    import numpy as np

    feeds: dict[str, Any] = {}
    for graph_input in session.get_inputs():
        if graph_input.name.startswith("past_key_values."):
            _, kv_heads, _, head_dim = graph_input.shape
            feeds[graph_input.name] = np.zeros((batch, kv_heads, 0, head_dim), dtype=np.float32)
    return feeds


def kv_cache_descriptor(layers: int, kv_heads: int, head_dim: int, query_heads: int) -> dict[str, Any]:
    """The `onnx.kv_cache` block of lance-e5.json (schemas/lance-e5.schema.json)."""
    return {
        "past": PAST_INPUT,
        "present": PRESENT_OUTPUT,
        "layers": layers,
        "kv_heads": kv_heads,
        "head_dim": head_dim,
        "query_heads": query_heads,
    }
