"""The RoPE-override contract of an exported graph: exactly one float32 initializer named `rope_inv_freq`.

The exporter's constant folding turns the rotary `inv_freq` buffer into an initializer of whatever shape the
folded ops left (e.g. [1, dim/2, 1]) under a generated name. We find it by value and rename it, so the runtime
can rewrite `base^(-2i/dim)` for another base at load time (REFERENCE.md §5: base 1e4 -> 1e5 without retraining).
"""

from __future__ import annotations

from typing import Any

import numpy as np

ROPE_INITIALIZER = "rope_inv_freq"


class RopeInitializerError(Exception):
    """The graph does not hold the inverse frequencies exactly once as a float32 initializer."""


def inverse_frequencies(base: float, dim: int) -> np.ndarray:
    """The default RoPE inverse frequencies, computed as transformers does (float32 exponent, then 1/base^x)."""
    exponent = np.arange(0, dim, 2, dtype=np.int64).astype(np.float32) / np.float32(dim)
    return (1.0 / (np.float64(base) ** exponent.astype(np.float64))).astype(np.float32)


def _float32_matches(graph: Any, inv_freq: np.ndarray) -> list[Any]:
    from onnx import TensorProto, numpy_helper

    matches = []
    for tensor in graph.initializer:
        if tensor.data_type != TensorProto.FLOAT or int(np.prod(tensor.dims)) != inv_freq.size:
            continue
        values = numpy_helper.to_array(tensor).reshape(-1)
        if np.allclose(values, inv_freq, rtol=1e-6, atol=0.0):
            matches.append(tensor)
    return matches


def _constants_to_initializers(graph: Any, inv_freq: np.ndarray) -> None:
    """Moves a `Constant` node holding the values into an initializer (some exporter paths emit Constants)."""
    from onnx import TensorProto, numpy_helper

    for node in list(graph.node):
        if node.op_type != "Constant":
            continue
        value = next((attr.t for attr in node.attribute if attr.name == "value"), None)
        if value is None or value.data_type != TensorProto.FLOAT or int(np.prod(value.dims)) != inv_freq.size:
            continue
        if np.allclose(numpy_helper.to_array(value).reshape(-1), inv_freq, rtol=1e-6, atol=0.0):
            tensor = numpy_helper.from_array(numpy_helper.to_array(value), node.output[0])
            graph.initializer.append(tensor)
            graph.node.remove(node)


def name_rope_initializer(model: Any, inv_freq: np.ndarray) -> str:
    """Renames the one float32 initializer equal to `inv_freq` to `rope_inv_freq` (in place); idempotent."""
    graph = model.graph
    inv_freq = np.asarray(inv_freq, dtype=np.float32).reshape(-1)
    _constants_to_initializers(graph, inv_freq)
    matches = _float32_matches(graph, inv_freq)
    if not matches:
        named = [t for t in graph.initializer if t.name == ROPE_INITIALIZER]
        detail = f" ({ROPE_INITIALIZER} exists but is not float32 with those values)" if named else ""
        raise RopeInitializerError(
            f"no float32 initializer holds the {inv_freq.size} rotary inverse frequencies{detail}"
        )
    if len(matches) > 1:
        names = ", ".join(t.name for t in matches)
        raise RopeInitializerError(
            f"the rotary inverse frequencies appear {len(matches)} times ({names}); expected once"
        )
    tensor = matches[0]
    old = tensor.name
    if old != ROPE_INITIALIZER:
        if any(t.name == ROPE_INITIALIZER for t in graph.initializer):
            raise RopeInitializerError(f"another initializer is already named {ROPE_INITIALIZER}")
        tensor.name = ROPE_INITIALIZER
        for node in graph.node:
            for index, name in enumerate(node.input):
                if name == old:
                    node.input[index] = ROPE_INITIALIZER
        for graph_input in graph.input:  # opset < 9 style: initializers also listed as inputs
            if graph_input.name == old:
                graph_input.name = ROPE_INITIALIZER
    return ROPE_INITIALIZER


def set_rope_base(model: Any, base: float, dim: int) -> None:
    """Rewrites `rope_inv_freq` for another base, keeping its shape (what the TypeScript runtime does)."""
    from onnx import numpy_helper

    for index, tensor in enumerate(model.graph.initializer):
        if tensor.name == ROPE_INITIALIZER:
            shape = tuple(tensor.dims)
            replacement = numpy_helper.from_array(inverse_frequencies(base, dim).reshape(shape), ROPE_INITIALIZER)
            model.graph.initializer[index].CopyFrom(replacement)
            return
    raise RopeInitializerError(f"the graph has no initializer named {ROPE_INITIALIZER}")
