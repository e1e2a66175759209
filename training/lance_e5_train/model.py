"""The contrastive trainer's config, and everything about turning text into an embedding with a HF decoder.

Text -> ids follows REFERENCE.md §1 to the letter, because the TypeScript runtime does the same at inference time
and any difference (a missing EOS, a different pooled position) silently produces different vectors:
tokenise with the tokenizer's own special tokens (BOS for Mistral/Llama, none for Qwen), truncate on the right to
max_length - 1, append the EOS id unless the post-processor already ended the row with it, pad with the pad id
(falling back to EOS), and pool the last real token found from the attention mask.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from transformers import AutoConfig, AutoModel, PreTrainedModel

from .pooling import last_token_pool, position_ids_from_mask

# Query-side formats per model family. Qwen3-Embedding was trained with no space after "Query:"; everything else
# (e5-mistral, SFR, Llama bases, Qwen2) uses the e5 format. Documents never get an instruction.
E5_TEMPLATE = "Instruct: {task}\nQuery: {query}"
QWEN3_TEMPLATE = "Instruct: {task}\nQuery:{query}"
LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass
class TrainConfig:
    """Every knob of `train`; defaults are the paper's values (REFERENCE.md §2). Saved whole in every checkpoint."""

    base: str = ""  # HF checkpoint dir (config.json + weights + tokenizer.json)
    data: list[str] = field(default_factory=list)  # `lance-e5 synth` JSONL files
    out: str = ""
    batch_size: int = 0  # global batch (all processes); the paper used 2048 on 32 GPUs, so there is no safe default
    # objective
    temperature: float = 0.02  # tau; logits = cos / tau. From random weights this is too sharp (ENVIRONMENT.md)
    max_length: int = 512  # tokens including BOS and the appended EOS
    instruction_template: str = ""  # "" = pick by model family (E5_TEMPLATE / QWEN3_TEMPLATE)
    # what is trained
    full: bool = False  # all parameters instead of LoRA
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.1
    lora_targets: tuple[str, ...] = LORA_TARGETS
    # optimiser: AdamW, linear warm-up then linear decay to 0 at the last step
    lr: float = 1e-4
    warmup_steps: int = 100
    weight_decay: float = 0.1  # not applied to norms and biases
    max_grad_norm: float = 1.0  # HF Trainer's default, which the official e5 code used
    epochs: int = 1
    max_steps: int = 0  # > 0 caps the run (smoke tests); 0 = epochs over the data
    # memory / precision
    gradient_checkpointing: bool = True
    base_dtype: str = "float32"  # weights as loaded; bfloat16 halves a frozen 7B base under LoRA (autocast still on)
    precision: str = "auto"  # auto = bf16 on a GPU that has it, else fp16 on GPU, fp32 on CPU; or no|fp16|bf16
    # batching and evaluation
    group_by_family: bool = False  # every batch from one task family, so in-batch negatives are of the same kind
    eval_percent: float = 5.0  # held-out slice of the input (by a hash of the query), never trained on
    eval_max: int = 500  # cap on held-out examples (the metric embeds them all each time)
    eval_every: int = 50  # steps; also evaluated before the first and after the last step
    # bookkeeping
    save_every: int = 100  # steps between checkpoints (0 = only at the end)
    keep_checkpoints: int = 2
    log_every: int = 10
    seed: int = 0
    threads: int = 0  # torch intra-op threads on CPU; 0 = torch's default

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        known = {k: v for k, v in values.items() if k in cls.__dataclass_fields__}
        if "lora_targets" in known:
            known["lora_targets"] = tuple(known["lora_targets"])
        return cls(**known)


def template_for(model_type: str) -> str:
    return QWEN3_TEMPLATE if model_type == "qwen3" else E5_TEMPLATE


def format_query(template: str, instruction: str, query: str) -> str:
    # Two replaces (not str.format) so braces in user text are kept as they are.
    return template.replace("{task}", instruction).replace("{query}", query)


@dataclass
class TextEncoder:
    """Tokenizer + the special-token ids the runtime uses. Pads on the right (pooling handles either side)."""

    tokenizer: Tokenizer
    eos_id: int
    pad_id: int
    max_length: int

    @classmethod
    def from_dir(cls, model_dir: str | Path, max_length: int) -> TextEncoder:
        model_dir = Path(model_dir)
        tokenizer_file = model_dir / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise FileNotFoundError(f"{model_dir} has no tokenizer.json (the runtime needs one, so training does too)")
        config = AutoConfig.from_pretrained(model_dir)
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # Same precedence as the exporter: tokenizer_config.json's eos_token, then config.json's eos_token_id.
        eos = eos_from_tokenizer_config(model_dir, tokenizer)
        if eos is None:
            eos = config.eos_token_id
            eos = eos[0] if isinstance(eos, list) else eos
        if eos is None:
            raise ValueError(f"{model_dir}/config.json has no eos_token_id; last-token pooling needs one")
        pad = config.pad_token_id if config.pad_token_id is not None else eos  # Mistral has no pad token
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(tokenizer, int(eos), int(pad), max_length)

    def ids(self, text: str) -> list[int]:
        # Cut very long texts before encoding (SentencePiece-style tokenizers are super-linear on huge strings);
        # 32 characters per token is far more than any real token covers, so the token-level cut below decides.
        ids = self.tokenizer.encode(text[: self.max_length * 32], add_special_tokens=True).ids
        if ids and ids[-1] == self.eos_id:  # the post-processor already appended EOS: never twice
            ids = ids[:-1]
        return ids[: self.max_length - 1] + [self.eos_id]

    def batch(self, texts: list[str]) -> dict[str, torch.Tensor]:
        rows = [self.ids(t) for t in texts]
        width = max(len(r) for r in rows)
        input_ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)  # (B, S)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)  # (B, S)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row)
            attention_mask[i, : len(row)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}


def eos_from_tokenizer_config(model_dir: Path, tokenizer: Tokenizer) -> int | None:
    path = model_dir / "tokenizer_config.json"
    if not path.is_file():
        return None
    eos = json.loads(path.read_text()).get("eos_token")
    eos = eos.get("content") if isinstance(eos, dict) else eos  # a string or an AddedToken dict
    return tokenizer.token_to_id(eos) if isinstance(eos, str) else None


def load_encoder_model(model_dir: str | Path, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """The decoder without its LM head (AutoModel strips a CausalLM checkpoint's `model.` prefix)."""
    # sdpa is exact and fast on CPU; the eager path materialises the same math more slowly.
    return AutoModel.from_pretrained(model_dir, dtype=dtype, attn_implementation="sdpa")


def embed(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, S) ids + mask -> (B, H) L2-normalised last-token embeddings, in float32."""
    out = model(
        input_ids=input_ids,
        attention_mask=attention_mask,
        position_ids=position_ids_from_mask(attention_mask),  # exact for left padding too
        use_cache=False,
    )
    pooled = last_token_pool(out.last_hidden_state, attention_mask)  # (B, H)
    return F.normalize(pooled.float(), dim=-1)  # (B, H)


@torch.no_grad()
def embed_texts(model: torch.nn.Module, encoder: TextEncoder, texts: list[str], batch_size: int = 32) -> torch.Tensor:
    """Inference helper for evaluation: (N,) texts -> (N, H). Sorted by length so batches pad little."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    device = next(model.parameters()).device
    chunks = []
    for start in range(0, len(order), batch_size):
        batch = encoder.batch([texts[i] for i in order[start : start + batch_size]])
        chunks.append(embed(model, batch["input_ids"].to(device), batch["attention_mask"].to(device)))
    vectors = torch.cat(chunks)  # (N, H) in length order
    result = torch.empty_like(vectors)
    result[torch.tensor(order, device=vectors.device)] = vectors
    return result
