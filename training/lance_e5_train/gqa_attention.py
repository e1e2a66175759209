"""Export-time attention that becomes onnxruntime's fused `com.microsoft::GroupQueryAttention` operator.

Why: a plain export materialises heads x L x L attention scores (4 GiB per head per layer at 32k tokens in fp32),
so long-context inference runs out of memory. onnxruntime's GroupQueryAttention CPU kernel is fused but still keeps
a float32 score buffer of heads x new tokens x total tokens (onnxruntime 1.30: a 32k-token text with 8 heads asked
for 32 GiB in one run), so the exporter also gives the graph a key-value cache (kv_cache.py) and the runtime feeds
long texts in chunks: the buffer is then heads x chunk x total (256 MiB by default).

How: transformers lets a model use a registered attention function. Ours receives q/k/v *after* RoPE (and after
Qwen3's q/k norms), so the rotary stays in the graph, computed from the `rope_inv_freq` initializer that the
runtime rewrites for another base; the operator runs with `do_rotary=0`. The function is a
`torch.autograd.Function` whose `symbolic` emits the operator; its eager forward is a reference implementation
(causal attention over right-padded rows) so the patched model can be checked against the stock one in torch.

Contract the graph then has: right padding only (the kernel derives each row's length from `seqlens_k`), which the
TypeScript runtime honours for graphs exported this way (`lance-e5.json` `padding_side: "right"`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.onnx._internal.torchscript_exporter.symbolic_helper import (
    _optional_input_placeholder_tensor as _absent_input,
)
from transformers import AttentionInterface
from transformers.masking_utils import AttentionMaskInterface

ATTENTION_NAME = "lance_e5_gqa"


class _RowLengths:
    """Per-forward inputs of the operator, set by the export wrapper before calling the model."""

    seqlens_k: torch.Tensor | None = None  # (batch,) int32: real tokens per row - 1
    total_length: torch.Tensor | None = None  # () int32: padded sequence length


ROW_LENGTHS = _RowLengths()


def set_row_lengths(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> None:
    ROW_LENGTHS.seqlens_k = (attention_mask.sum(-1) - 1).to(torch.int32)
    # `_shape_as_tensor` keeps the length dynamic in the traced graph (a Python int would be baked in).
    ROW_LENGTHS.total_length = torch._shape_as_tensor(input_ids)[1].to(torch.int32)


class GroupQueryAttentionOp(torch.autograd.Function):
    @staticmethod
    def forward(  # type: ignore[override]
        ctx: object,
        query: torch.Tensor,  # (B, S, H*D)
        key: torch.Tensor,  # (B, S, KVH*D)
        value: torch.Tensor,  # (B, S, KVH*D)
        seqlens_k: torch.Tensor,  # (B,) int32
        total_length: torch.Tensor,  # () int32
        num_heads: int,
        kv_heads: int,
        scale: float,
    ) -> torch.Tensor:
        if torch.jit.is_tracing():
            # Only the symbolic matters while exporting; tensors created here would not be in the trace.
            return query.clone()
        batch, seq, _ = query.shape
        head_dim = query.shape[-1] // num_heads
        q = query.view(batch, seq, num_heads, head_dim).transpose(1, 2)  # (B, H, S, D)
        k = key.view(batch, seq, kv_heads, head_dim).transpose(1, 2).repeat_interleave(num_heads // kv_heads, 1)
        v = value.view(batch, seq, kv_heads, head_dim).transpose(1, 2).repeat_interleave(num_heads // kv_heads, 1)
        lengths = seqlens_k.long() + 1
        real_key = torch.arange(seq, device=query.device)[None, :] < lengths[:, None]  # (B, S)
        causal = torch.ones(seq, seq, dtype=torch.bool, device=query.device).tril()  # (S, S)
        mask = causal[None, None] & real_key[:, None, None, :]  # (B, 1, S, S)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale)
        return out.transpose(1, 2).reshape(batch, seq, num_heads * head_dim)

    @staticmethod
    def symbolic(g, query, key, value, seqlens_k, total_length, num_heads, kv_heads, scale):  # type: ignore[no-untyped-def]
        outputs = g.op(
            "com.microsoft::GroupQueryAttention",
            query,
            key,
            value,
            _absent_input(g),  # past_key
            _absent_input(g),  # past_value
            seqlens_k,
            total_length,
            num_heads_i=num_heads,
            kv_num_heads_i=kv_heads,
            scale_f=scale,
            do_rotary_i=0,
            outputs=3,
        )
        return outputs[0]


def gqa_attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,  # (B, H, S, D), RoPE applied
    key: torch.Tensor,  # (B, KVH, S, D)
    value: torch.Tensor,  # (B, KVH, S, D)
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    **kwargs: object,
) -> tuple[torch.Tensor, None]:
    if ROW_LENGTHS.seqlens_k is None or ROW_LENGTHS.total_length is None:
        raise RuntimeError("gqa_attention_forward needs set_row_lengths() to be called before the model")
    # transformers attention modules carry their config and head_dim; typed loosely on nn.Module.
    layer: Any = module
    num_heads = int(layer.config.num_attention_heads)
    kv_heads = int(layer.config.num_key_value_heads)
    head_dim = int(layer.head_dim)
    scale = float(scaling) if scaling is not None else head_dim**-0.5
    out = GroupQueryAttentionOp.apply(
        query.transpose(1, 2).flatten(2),
        key.transpose(1, 2).flatten(2),
        value.transpose(1, 2).flatten(2),
        ROW_LENGTHS.seqlens_k,
        ROW_LENGTHS.total_length,
        num_heads,
        kv_heads,
        scale,
    )  # (B, S, H*D)
    return out.unflatten(-1, (num_heads, head_dim)), None


def _no_mask(*args: object, **kwargs: object) -> None:
    # The operator builds causality and padding itself; skipping the 4-D mask keeps L x L tensors out of the graph.
    return None


AttentionInterface.register(ATTENTION_NAME, gqa_attention_forward)
AttentionMaskInterface.register(ATTENTION_NAME, _no_mask)
