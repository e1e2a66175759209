"""Rebuilds the HF MistralModel of a lance-e5 model directory from its ONNX initializers (fp16 -> fp32)."""

import onnx
import torch
from onnx import numpy_helper
from transformers import AttentionInterface, MistralConfig, MistralModel
from transformers.masking_utils import AttentionMaskInterface


def _causal(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Unpadded rows only: causal SDPA without a materialised mask (memory-efficient kernel at 32k tokens)."""
    groups = query.shape[1] // key.shape[1]
    key, value = key.repeat_interleave(groups, 1), value.repeat_interleave(groups, 1)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scaling)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register("lance_causal", _causal)
AttentionMaskInterface.register("lance_causal", lambda *a, **k: None)


def load(model_dir: str, rope_base: float) -> MistralModel:
    cfg = MistralConfig.from_pretrained(model_dir)
    cfg.rope_parameters = {"rope_type": "default", "rope_theta": float(rope_base)}
    cfg._attn_implementation = "lance_causal"
    model = MistralModel(cfg).eval()
    graph = onnx.load(f"{model_dir}/model.onnx").graph
    inits = {i.name: torch.from_numpy(numpy_helper.to_array(i).astype("float32")) for i in graph.initializer}
    sd = {"embed_tokens.weight": inits["model.embed_tokens.weight"], "norm.weight": inits["model.norm.weight"]}
    mats = [i.name for i in graph.initializer if i.name.startswith("onnx::MatMul")]
    assert len(mats) == 7 * cfg.num_hidden_layers, len(mats)
    names = [
        "self_attn.q_proj",
        "self_attn.k_proj",
        "self_attn.v_proj",
        "self_attn.o_proj",
        "mlp.gate_proj",
        "mlp.up_proj",
        "mlp.down_proj",
    ]
    for layer in range(cfg.num_hidden_layers):
        for norm in ("input_layernorm", "post_attention_layernorm"):
            sd[f"layers.{layer}.{norm}.weight"] = inits[f"model.layers.{layer}.{norm}.weight"]
        for j, name in enumerate(names):
            sd[f"layers.{layer}.{name}.weight"] = inits[mats[layer * 7 + j]].T.contiguous()
    missing, unexpected = model.load_state_dict(sd, strict=False)
    assert not unexpected and all("rotary" in k for k in missing), (missing, unexpected)
    return model
