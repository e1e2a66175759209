"""`python -m lance_e5_train export`: a Hugging Face Mistral/Qwen2/Qwen3 checkpoint -> a lance-e5 model directory.

The directory (ARCHITECTURE.md "The model directory"): `model.onnx` (inputs input_ids, attention_mask, position_ids;
output last_hidden_state [batch, seq, hidden]; pooling is done by the runtime), `tokenizer.json`,
`tokenizer_config.json`, `config.json` and `lance-e5.json` (validated against schemas/lance-e5.schema.json).

Why each choice:
- The bare model cannot be exported (ENVIRONMENT.md); a thin wrapper calling it with keywords and use_cache=False
  exports with the legacy (TorchScript) exporter at opset 17 in well under a second for small models.
- Sliding-window attention is switched off so inputs longer than the window work (long context, REFERENCE.md §5).
- The rotary inverse frequencies become one float32 initializer named `rope_inv_freq`, found by value after
  constant folding; the TypeScript runtime rewrites it to apply another RoPE base at load time.
- `--attention gqa` swaps the attention for onnxruntime's fused GroupQueryAttention (gqa_attention.py) and adds a
  key-value cache (kv_cache.py), so the runtime runs long texts in chunks with memory bounded by the chunk, at
  the price of right padding only. The default ("eager") graph works with either padding side.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lance_e5_train.kv_cache import add_kv_cache, empty_past_feeds, kv_cache_descriptor
from lance_e5_train.onnx_rope import ROPE_INITIALIZER, name_rope_initializer

SUPPORTED_FAMILIES = ("mistral", "qwen2", "qwen3")
ATTENTIONS = ("eager", "gqa")
REQUIRED_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json")
OPSET = 17
FORMAT_VERSION = 1
# Above this the protobuf limit (2 GiB) is near: weights go to an external-data file beside model.onnx.
EXTERNAL_DATA_THRESHOLD = 1_800_000_000
DEFAULT_TEMPLATE = "Instruct: {task}\nQuery: {query}"
# Qwen3-Embedding's own prompt format has no space after "Query:".
TEMPLATES = {"qwen3": "Instruct: {task}\nQuery:{query}"}
SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "lance-e5.schema.json"


class ExportError(Exception):
    """A problem with the user's input (checkpoint directory, flags): reported as one line, exit status 2."""


@dataclass
class ExportOptions:
    checkpoint: Path
    out: Path
    rope_base: float | None = None
    dtype: str = "fp32"
    quantize: str | None = None
    attention: str = "eager"
    max_length: int = 512
    name: str | None = None
    default_task: str = "web_search"
    long_context_base: float | None = None
    long_context_length: int | None = None
    matryoshka_dims: list[int] | None = None
    card: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExportResult:
    out: Path
    config: dict[str, Any]
    # Cosine similarity of the converted model's pooled outputs against the fp32 export (fp16/int8 only).
    cosine_vs_fp32: float | None = None


# ---------------------------------------------------------------------------------------------- checks & tokens


def check_checkpoint(checkpoint: Path) -> dict[str, Any]:
    """Fails with an ExportError naming the first problem; returns config.json."""
    if not checkpoint.is_dir():
        raise ExportError(f"checkpoint directory not found: {checkpoint}")
    missing = [name for name in REQUIRED_FILES if not (checkpoint / name).is_file()]
    if missing:
        raise ExportError(f"checkpoint {checkpoint} lacks {', '.join(missing)}")
    if not any(checkpoint.glob("*.safetensors")):
        raise ExportError(f"checkpoint {checkpoint} has no *.safetensors weights")
    config = _read_json(checkpoint / "config.json")
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_FAMILIES:
        raise ExportError(
            f"unsupported model_type {model_type!r} in {checkpoint / 'config.json'}; "
            f"supported: {', '.join(SUPPORTED_FAMILIES)}"
        )
    _read_json(checkpoint / "tokenizer_config.json")
    return config


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ExportError(f"cannot read {path}: {error}") from error
    if not isinstance(data, dict):
        raise ExportError(f"{path} is not a JSON object")
    return data


def _token_text(value: Any) -> str | None:
    # tokenizer_config.json writes special tokens either as strings or as AddedToken dicts.
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else None


def special_token_ids(checkpoint: Path, config: dict[str, Any]) -> dict[str, int | None]:
    """BOS from what the tokenizer's post-processor does; EOS/pad from tokenizer_config.json (config.json fallback)."""
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(checkpoint / "tokenizer.json"))
    except Exception as error:  # tokenizers raises a bare Exception on malformed files
        raise ExportError(f"cannot load {checkpoint / 'tokenizer.json'}: {error}") from error
    tokenizer_config = _read_json(checkpoint / "tokenizer_config.json")

    probe = "a"
    plain = tokenizer.encode(probe, add_special_tokens=False).ids
    special = tokenizer.encode(probe, add_special_tokens=True).ids
    # A post-processor that prepends a token (Mistral/Llama `<s>`) makes `special` start before `plain`.
    bos_id = special[0] if len(special) > len(plain) and special[1 : 1 + len(plain)] == plain else None

    eos_text = _token_text(tokenizer_config.get("eos_token"))
    eos_id: Any = tokenizer.token_to_id(eos_text) if eos_text is not None else None
    if eos_text is not None and eos_id is None:
        raise ExportError(f"eos_token {eos_text!r} of tokenizer_config.json is not in tokenizer.json")
    if eos_id is None:
        config_eos = config.get("eos_token_id")
        eos_id = config_eos[0] if isinstance(config_eos, list) and config_eos else config_eos
    if not isinstance(eos_id, int) or isinstance(eos_id, bool):
        raise ExportError(
            f"no EOS token: neither tokenizer_config.json eos_token nor config.json eos_token_id in {checkpoint}"
        )

    pad_text = _token_text(tokenizer_config.get("pad_token"))
    pad_id = tokenizer.token_to_id(pad_text) if pad_text is not None else None
    if pad_text is not None and pad_id is None:
        raise ExportError(f"pad_token {pad_text!r} of tokenizer_config.json is not in tokenizer.json")
    vocab_size = int(config.get("vocab_size", 0))
    for label, token_id in (("bos", bos_id), ("eos", eos_id), ("pad", pad_id)):
        if token_id is not None and vocab_size and token_id >= vocab_size:
            raise ExportError(f"{label} id {token_id} is outside the model's vocab_size {vocab_size}")
    return {"bos_id": bos_id, "eos_id": eos_id, "pad_id": pad_id}


# ---------------------------------------------------------------------------------------------- torch -> onnx


def load_model(checkpoint: Path, rope_base: float | None = None, attention: str = "eager") -> Any:
    """The base model (no LM head) in fp32 with the sliding window off and, optionally, another RoPE base."""
    import torch
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(checkpoint)
    config.sliding_window = None
    if hasattr(config, "use_sliding_window"):
        config.use_sliding_window = False
    if hasattr(config, "layer_types") and config.layer_types is not None:
        config.layer_types = ["full_attention"] * len(config.layer_types)
    if rope_base is not None:
        config.rope_parameters = {**(config.rope_parameters or {}), "rope_theta": float(rope_base)}
    from safetensors import SafetensorError

    try:
        model, loading = AutoModel.from_pretrained(
            checkpoint,
            config=config,
            dtype=torch.float32,
            attn_implementation=_attention_implementation(attention),
            output_loading_info=True,
        )
    except (OSError, ValueError, RuntimeError, SafetensorError) as error:
        raise ExportError(f"cannot load model weights from {checkpoint}: {error}") from error
    # transformers fills missing tensors with random values and only warns: that would export a broken model.
    missing = sorted(loading.get("missing_keys") or [])
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ExportError(f"weights in {checkpoint} lack {len(missing)} tensors of the model: {shown}")
    return model.eval()


def rotary_inv_freq(model: Any) -> np.ndarray:
    inv_freq = getattr(getattr(model, "rotary_emb", None), "inv_freq", None)
    if inv_freq is None:
        raise ExportError(f"{type(model).__name__} has no rotary_emb.inv_freq: not a RoPE model this exporter knows")
    return inv_freq.detach().cpu().numpy().astype(np.float32)


def _attention_implementation(attention: str) -> str:
    if attention == "gqa":
        from lance_e5_train import gqa_attention  # registers the attention function with transformers

        return gqa_attention.ATTENTION_NAME
    return "eager"


def _wrapper(model: Any, attention: str) -> Any:
    import torch

    set_row_lengths: Any = None
    if attention == "gqa":
        from lance_e5_train.gqa_attention import set_row_lengths

    class LastHiddenState(torch.nn.Module):
        """Keyword call with use_cache=False: the form both torch exporters accept (ENVIRONMENT.md)."""

        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, position_ids):  # type: ignore[no-untyped-def]
            if set_row_lengths is not None:  # the fused operator takes per-row lengths instead of a mask
                set_row_lengths(input_ids, attention_mask)
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, use_cache=False
            )
            return out.last_hidden_state  # (batch, seq, hidden)

    return LastHiddenState().eval()


def export_onnx(model: Any, path: Path, attention: str = "eager") -> None:
    """Legacy TorchScript export at opset 17 with dynamic batch and sequence axes."""
    import torch

    # A padded dummy batch so the padding-mask path is traced (not specialised away).
    input_ids = torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 0, 0, 0]], dtype=torch.long)
    attention_mask = torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]], dtype=torch.long)
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    axes = {0: "batch", 1: "sequence"}
    # The tracer warns about Python-level branches in transformers' mask code; they are constant for
    # use_cache=False (no past length), and the padded dummy batch keeps the mask path in the graph.
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            _wrapper(model, attention),
            (input_ids, attention_mask, position_ids),
            str(path),
            input_names=["input_ids", "attention_mask", "position_ids"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "position_ids": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )


def gqa_kv_cache(proto: Any, config: Any) -> dict[str, Any]:
    """Adds past/present key-value tensors to a GroupQueryAttention graph; returns lance-e5.json's kv_cache block."""
    query_heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or query_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // query_heads)
    layers = add_kv_cache(proto, kv_heads, head_dim)
    return kv_cache_descriptor(layers, kv_heads, head_dim, query_heads)


def save_onnx(model_proto: Any, path: Path) -> None:
    import onnx

    external = model_proto.ByteSize() > EXTERNAL_DATA_THRESHOLD
    for stale in (path, path.with_name(path.name + ".data")):
        stale.unlink(missing_ok=True)
    onnx.save_model(
        model_proto,
        str(path),
        save_as_external_data=external,
        all_tensors_to_one_file=True,
        location=path.name + ".data",
    )


# ---------------------------------------------------------------------------------------------- fp16 / int8


def to_fp16(model_proto: Any) -> Any:
    """fp16 weights, float32 I/O, and the rotary subgraph (inv_freq -> Cos/Sin) kept in float32: positions times
    inverse frequencies lose whole radians in fp16 beyond a few hundred tokens."""
    from onnxruntime.transformers.float16 import convert_float_to_float16

    rotary_nodes = _nodes_between(model_proto.graph, ROPE_INITIALIZER, stop_ops={"Cos", "Sin"})
    converted = convert_float_to_float16(model_proto, keep_io_types=True, node_block_list=rotary_nodes)
    # The converter inserts one identical Cast per blocked consumer of a tensor (same name, same output),
    # which onnxruntime rejects ("two nodes with same node name"): keep the first of each.
    seen: set[bytes] = set()
    for node in list(converted.graph.node):
        key = node.SerializeToString()
        if key in seen:
            converted.graph.node.remove(node)
        seen.add(key)
    return converted


def _nodes_between(graph: Any, start: str, stop_ops: set[str]) -> list[str]:
    consumers: dict[str, list[Any]] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    blocked: list[str] = []
    frontier = [start]
    seen: set[str] = set()
    while frontier:
        for node in consumers.get(frontier.pop(), []):
            if node.name in seen:
                continue
            seen.add(node.name)
            blocked.append(node.name)
            if node.op_type not in stop_ops:
                frontier.extend(node.output)
    return blocked


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantization of MatMul weights; the rotary MatMul has no constant weight input, so
    rope_inv_freq stays a float32 initializer (checked by the caller)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source), str(target), weight_type=QuantType.QInt8, op_types_to_quantize=["MatMul"], per_channel=True
    )


def pooled_cosine(reference: Path, candidate: Path, vocab_size: int, eos_id: int) -> float:
    """Smallest cosine between the two models' last-token vectors over a fixed random right-padded batch."""
    import onnxruntime as ort

    rng = np.random.default_rng(0)
    lengths = [5, 17, 40, 64]
    input_ids = np.full((len(lengths), max(lengths)), eos_id, dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        input_ids[row, : length - 1] = rng.integers(3, min(vocab_size, 30000), length - 1)
        input_ids[row, length - 1] = eos_id
        attention_mask[row, :length] = 1
    position_ids = np.maximum(attention_mask.cumsum(-1) - 1, 0)
    feeds = {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}
    vectors = []
    for path in (reference, candidate):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        run_feeds = {**feeds, **empty_past_feeds(session, len(lengths))}
        hidden = session.run(["last_hidden_state"], run_feeds)[0].astype(np.float64)
        pooled = hidden[np.arange(len(lengths)), np.array(lengths) - 1]
        vectors.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    return float(np.min(np.sum(vectors[0] * vectors[1], axis=1)))


# ---------------------------------------------------------------------------------------------- lance-e5.json


def build_descriptor(
    options: ExportOptions, hf_config: dict[str, Any], tokens: dict[str, int | None], inv_freq: np.ndarray, base: float
) -> dict[str, Any]:
    import onnx
    import torch
    import transformers

    family = hf_config["model_type"]
    hidden = int(hf_config["hidden_size"])
    descriptor: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "name": options.name or options.checkpoint.resolve().name,
        "family": family,
        "hidden_size": hidden,
        "output_dim": hidden,
        "pooling": "last_token",
        "normalize": True,
        "tokens": tokens,
        # The runtime handles both sides; right keeps positions 0..n-1 without needing position_ids tricks.
        "padding_side": "right",
        "max_length": options.max_length,
        "rope": {"base": base, "dim": int(inv_freq.size * 2), "inv_freq_initializer": ROPE_INITIALIZER},
        "long_context": None,
        "instruction_template": TEMPLATES.get(family, DEFAULT_TEMPLATE),
        "default_task": options.default_task,
        "matryoshka_dims": options.matryoshka_dims,
        "onnx": {
            "file": "model.onnx",
            "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids"},
            "output": "last_hidden_state",
            "pooling_in_graph": False,
        },
        "card": {
            "base": hf_config.get("_name_or_path") or options.checkpoint.resolve().name,
            "exported_with": {
                "tool": "lance_e5_train export",
                "torch": torch.__version__,
                "transformers": transformers.__version__,
                "onnx": onnx.__version__,
                "opset": OPSET,
                "dtype": options.dtype,
                "quantize": options.quantize,
                "sliding_window": None,
                "attention": "GroupQueryAttention (right padding only)" if options.attention == "gqa" else "eager",
            },
            **options.card,
        },
    }
    if options.long_context_base is not None:
        descriptor["long_context"] = {
            "rope_base": options.long_context_base,
            "max_length": options.long_context_length,
        }
    validate_descriptor(descriptor)
    return descriptor


def validate_descriptor(descriptor: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    try:
        jsonschema.validate(descriptor, schema)
    except jsonschema.ValidationError as error:
        where = "/".join(str(part) for part in error.absolute_path) or "(root)"
        raise ExportError(f"lance-e5.json would be invalid at {where}: {error.message}") from error


# ---------------------------------------------------------------------------------------------- the command


def check_options(options: ExportOptions) -> None:
    if options.dtype not in ("fp32", "fp16"):
        raise ExportError(f"--dtype must be fp32 or fp16, got {options.dtype!r}")
    if options.quantize not in (None, "int8"):
        raise ExportError(f"--quantize must be int8, got {options.quantize!r}")
    if options.attention not in ATTENTIONS:
        raise ExportError(f"--attention must be one of {', '.join(ATTENTIONS)}, got {options.attention!r}")
    if options.quantize and options.dtype != "fp32":
        raise ExportError("--quantize int8 works on fp32 weights; do not combine it with --dtype fp16")
    if options.max_length < 2:
        raise ExportError(f"--max-length must be at least 2, got {options.max_length}")
    if (options.long_context_base is None) != (options.long_context_length is None):
        raise ExportError("--long-context-base and --long-context-length go together")
    if options.rope_base is not None and options.rope_base <= 1:
        raise ExportError(f"--rope-base must be > 1, got {options.rope_base}")
    if options.matryoshka_dims is not None:
        if not options.matryoshka_dims or any(dim < 1 for dim in options.matryoshka_dims):
            raise ExportError("--matryoshka-dims must be positive integers")


def export_checkpoint(options: ExportOptions, log: Any = print) -> ExportResult:
    import onnx

    check_options(options)
    hf_config = check_checkpoint(options.checkpoint)
    if options.out.resolve() == options.checkpoint.resolve():
        raise ExportError("--out must differ from --checkpoint (the export would overwrite its own config.json)")
    tokens = special_token_ids(options.checkpoint, hf_config)
    if options.matryoshka_dims and max(options.matryoshka_dims) > int(hf_config["hidden_size"]):
        raise ExportError(f"--matryoshka-dims exceed the hidden size {hf_config['hidden_size']}")
    model = load_model(options.checkpoint, options.rope_base, options.attention)
    inv_freq = rotary_inv_freq(model)
    base = float(model.config.rope_parameters["rope_theta"])

    options.out.mkdir(parents=True, exist_ok=True)
    target = options.out / "model.onnx"
    with tempfile.TemporaryDirectory(prefix="lance-e5-export-") as work:
        fp32_path = Path(work) / "model.fp32.onnx"
        export_onnx(model, fp32_path, options.attention)
        proto = onnx.load(str(fp32_path))
        kv_cache = None
        if options.attention == "gqa":
            kv_cache = gqa_kv_cache(proto, model.config)
        name_rope_initializer(proto, inv_freq)
        save_onnx(proto, fp32_path)
        cosine = None
        if options.dtype == "fp16":
            converted = Path(work) / "model.fp16.onnx"
            save_onnx(to_fp16(proto), converted)
        elif options.quantize == "int8":
            converted = Path(work) / "model.int8.onnx"
            quantize_int8(fp32_path, converted)
        else:
            converted = fp32_path
        if converted != fp32_path:
            check = onnx.load(str(converted))
            name_rope_initializer(check, inv_freq)  # fails loudly if the conversion lost or retyped it
            cosine = pooled_cosine(fp32_path, converted, int(hf_config["vocab_size"]), int(tokens["eos_id"]))  # type: ignore[arg-type]
            kind = "fp16" if options.dtype == "fp16" else "int8"
            log(f"{kind} vs fp32: min cosine {cosine:.6f} (last-token vectors of 4 random rows)")
        save_onnx(onnx.load(str(converted)), target)

    descriptor = build_descriptor(options, hf_config, tokens, inv_freq, base)
    if kv_cache is not None:
        descriptor["onnx"]["kv_cache"] = kv_cache
        validate_descriptor(descriptor)
    if cosine is not None:
        descriptor["card"]["exported_with"]["cosine_vs_fp32"] = round(cosine, 6)
    for name in REQUIRED_FILES:
        shutil.copyfile(options.checkpoint / name, options.out / name)
    (options.out / "lance-e5.json").write_text(json.dumps(descriptor, indent=2) + "\n", encoding="utf-8")
    log(f"exported {descriptor['name']} ({descriptor['family']}, dim {descriptor['output_dim']}) to {options.out}")
    return ExportResult(out=options.out, config=descriptor, cosine_vs_fp32=cosine)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, type=Path, help="Hugging Face checkpoint directory")
    parser.add_argument("--out", required=True, type=Path, help="model directory to write")
    parser.add_argument("--rope-base", type=float, help="native RoPE base to export with (default: the checkpoint's)")
    parser.add_argument("--dtype", default="fp32", help="fp32 (default) or fp16 weights")
    parser.add_argument("--quantize", help="int8: dynamic int8 quantization of MatMul weights")
    parser.add_argument("--max-length", type=int, default=512, help="max tokens incl. special tokens (default 512)")
    parser.add_argument(
        "--attention",
        default="eager",
        help="eager (default: plain graph, either padding side) or gqa (onnxruntime GroupQueryAttention: "
        "key-value cache so long texts run in chunks with bounded memory; right padding only)",
    )
    parser.add_argument("--name", help="model name (default: the checkpoint directory's name)")
    parser.add_argument("--default-task", default="web_search", help="task used when a query names none")
    parser.add_argument("--long-context-base", type=float, help="RoPE base for long-context mode (e.g. 1e5)")
    parser.add_argument("--long-context-length", type=int, help="max tokens in long-context mode")
    parser.add_argument(
        "--matryoshka-dims",
        type=lambda text: [int(part) for part in text.split(",")],
        help="comma-separated output dims the model was trained for",
    )


def main(args: argparse.Namespace) -> int:
    options = ExportOptions(
        checkpoint=args.checkpoint,
        out=args.out,
        rope_base=args.rope_base,
        dtype=args.dtype,
        quantize=args.quantize,
        attention=args.attention,
        max_length=args.max_length,
        name=args.name,
        default_task=args.default_task,
        long_context_base=args.long_context_base,
        long_context_length=args.long_context_length,
        matryoshka_dims=args.matryoshka_dims,
    )
    try:
        export_checkpoint(options)
    except ExportError as error:
        print(f"export: {error}", file=sys.stderr)
        return 2
    return 0
