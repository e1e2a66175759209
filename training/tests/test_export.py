"""The exporter against torch: same hidden states on padded batches, a rewritable RoPE base, a valid
lance-e5.json with the right special tokens per family, fp16/int8 close to fp32, clear errors on bad input.

Weights are random (tests/conftest.py), so only numerical agreement is tested, never retrieval quality.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, numpy_helper
from transformers import AutoConfig, AutoModel

from lance_e5_train.export import SCHEMA_PATH, ExportError, ExportOptions, export_checkpoint
from lance_e5_train.export import main as export_main
from lance_e5_train.kv_cache import PAST_INPUT, PRESENT_OUTPUT, empty_past_feeds
from lance_e5_train.onnx_rope import (
    ROPE_INITIALIZER,
    RopeInitializerError,
    inverse_frequencies,
    name_rope_initializer,
    set_rope_base,
)

FAMILIES = ("mistral", "qwen2", "qwen3")
TOLERANCE = 1e-4
TRAINING_DIR = Path(__file__).resolve().parents[1]


def padded_batch(lengths: list[int], side: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random ids (valid in both tokenizers' vocabularies) padded on `side`; positions 0..n-1 on real tokens."""
    rng = np.random.default_rng(seed)
    width = max(lengths)
    input_ids = np.zeros((len(lengths), width), dtype=np.int64)
    attention_mask = np.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        span = slice(0, length) if side == "right" else slice(width - length, width)
        input_ids[row, span] = rng.integers(3, 31999, length)
        attention_mask[row, span] = 1
    position_ids = np.maximum(attention_mask.cumsum(-1) - 1, 0)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "position_ids": position_ids}


def run_onnx(model: Path | bytes, feeds: dict[str, np.ndarray]) -> np.ndarray:
    source = model if isinstance(model, bytes) else str(model)
    session = ort.InferenceSession(source, providers=["CPUExecutionProvider"])
    # Graphs with a key-value cache (GroupQueryAttention exports) take empty pasts for a whole-batch run.
    return session.run(["last_hidden_state"], {**feeds, **empty_past_feeds(session, len(feeds["input_ids"]))})[0]


def run_torch(checkpoint: Path, feeds: dict[str, np.ndarray], **config_changes: object) -> np.ndarray:
    config = AutoConfig.from_pretrained(checkpoint)
    for key, value in config_changes.items():
        setattr(config, key, value)
    model = AutoModel.from_pretrained(checkpoint, config=config, dtype=torch.float32, attn_implementation="eager")
    with torch.no_grad():
        out = model.eval()(**{name: torch.from_numpy(value) for name, value in feeds.items()}, use_cache=False)
    return out.last_hidden_state.numpy()


def real_token_diff(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Max |a - b| over real (unmasked) tokens: pad positions carry no meaning."""
    return float(np.abs(a - b)[mask.astype(bool)].max())


def last_token_vectors(hidden: np.ndarray, lengths: list[int]) -> np.ndarray:
    """Right-padded rows: the hidden state at each row's last real token, L2-normalised."""
    vectors = hidden[np.arange(len(lengths)), np.array(lengths) - 1].astype(np.float64)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def rope_initializers(path: Path) -> list[onnx.TensorProto]:
    return [t for t in onnx.load(str(path)).graph.initializer if t.name == ROPE_INITIALIZER]


# ---------------------------------------------------------------------------------------------- numerics


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("side", ["right", "left"])
def test_onnx_matches_torch_on_padded_batches(family, side, checkpoints, exported) -> None:
    feeds = padded_batch([3, 17, 40, 9], side)
    onnx_hidden = run_onnx(exported[family] / "model.onnx", feeds)
    torch_hidden = run_torch(checkpoints[family], feeds)
    assert onnx_hidden.shape == (4, 40, 64)
    assert real_token_diff(onnx_hidden, torch_hidden, feeds["attention_mask"]) <= TOLERANCE


@pytest.mark.parametrize("family", FAMILIES)
def test_rope_inv_freq_rewrite_matches_torch_at_another_base(family, checkpoints, exported) -> None:
    descriptor = json.loads((exported[family] / "lance-e5.json").read_text())
    proto = onnx.load(str(exported[family] / "model.onnx"))
    set_rope_base(proto, 1e5, descriptor["rope"]["dim"])
    feeds = padded_batch([30, 12], "right", seed=1)
    rewritten = run_onnx(proto.SerializeToString(), feeds)
    at_1e5 = run_torch(checkpoints[family], feeds, rope_parameters={"rope_type": "default", "rope_theta": 1e5})
    native = run_torch(checkpoints[family], feeds)
    assert real_token_diff(rewritten, at_1e5, feeds["attention_mask"]) <= TOLERANCE
    # The base must matter for this test to mean anything.
    assert real_token_diff(native, at_1e5, feeds["attention_mask"]) > 100 * TOLERANCE


@pytest.mark.parametrize("family", FAMILIES)
def test_graph_holds_inverse_frequencies_once_as_float32(family, exported) -> None:
    descriptor = json.loads((exported[family] / "lance-e5.json").read_text())
    (tensor,) = rope_initializers(exported[family] / "model.onnx")
    assert tensor.data_type == TensorProto.FLOAT
    values = numpy_helper.to_array(tensor).reshape(-1)
    expected = inverse_frequencies(descriptor["rope"]["base"], descriptor["rope"]["dim"])
    np.testing.assert_allclose(values, expected, rtol=1e-6)
    assert descriptor["rope"]["inv_freq_initializer"] == ROPE_INITIALIZER


def test_export_has_no_sliding_window(tmp_path, checkpoints) -> None:
    """A checkpoint with a 16-token window exports a graph that attends over all 40 tokens (long context)."""
    checkpoint = tmp_path / "windowed"
    shutil.copytree(checkpoints["mistral"], checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["sliding_window"] = 16
    (checkpoint / "config.json").write_text(json.dumps(config))
    export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"), log=lambda _m: None)
    feeds = padded_batch([40], "right")
    onnx_hidden = run_onnx(tmp_path / "out/model.onnx", feeds)
    full = run_torch(checkpoint, feeds, sliding_window=None)
    windowed = run_torch(checkpoint, feeds)
    assert real_token_diff(onnx_hidden, full, feeds["attention_mask"]) <= TOLERANCE
    assert real_token_diff(windowed, full, feeds["attention_mask"]) > 100 * TOLERANCE


def test_rope_base_flag_exports_at_that_base(tmp_path, checkpoints) -> None:
    result = export_checkpoint(
        ExportOptions(checkpoint=checkpoints["mistral"], out=tmp_path / "out", rope_base=1e5), log=lambda _m: None
    )
    assert result.config["rope"]["base"] == 1e5
    (tensor,) = rope_initializers(tmp_path / "out/model.onnx")
    np.testing.assert_allclose(numpy_helper.to_array(tensor).reshape(-1), inverse_frequencies(1e5, 16), rtol=1e-6)
    feeds = padded_batch([20], "right")
    at_1e5 = run_torch(checkpoints["mistral"], feeds, rope_parameters={"rope_type": "default", "rope_theta": 1e5})
    assert real_token_diff(run_onnx(tmp_path / "out/model.onnx", feeds), at_1e5, feeds["attention_mask"]) <= TOLERANCE


def test_large_models_use_external_data_with_rope_inline(tmp_path, checkpoints, monkeypatch) -> None:
    """Models over ~1.8 GB (e5-mistral-7b) go to model.onnx + model.onnx.data; the small rope_inv_freq tensor
    stays inside model.onnx so the runtime can rewrite it without touching the data file."""
    import lance_e5_train.export as export_module

    monkeypatch.setattr(export_module, "EXTERNAL_DATA_THRESHOLD", 0)
    export_checkpoint(ExportOptions(checkpoint=checkpoints["mistral"], out=tmp_path / "out"), log=lambda _m: None)
    assert (tmp_path / "out/model.onnx.data").stat().st_size > (tmp_path / "out/model.onnx").stat().st_size
    graph = onnx.load(str(tmp_path / "out/model.onnx"), load_external_data=False).graph
    (rope,) = [t for t in graph.initializer if t.name == ROPE_INITIALIZER]
    assert rope.data_location == TensorProto.DEFAULT
    feeds = padded_batch([9, 4], "right")
    reference = run_torch(checkpoints["mistral"], feeds)
    assert (
        real_token_diff(run_onnx(tmp_path / "out/model.onnx", feeds), reference, feeds["attention_mask"]) <= TOLERANCE
    )


@pytest.mark.parametrize("family", FAMILIES)
def test_gqa_attention_export_matches_torch_with_right_padding(tmp_path, family, checkpoints) -> None:
    """--attention gqa: onnxruntime's fused GroupQueryAttention (no L x L scores in the graph) in every layer, no
    materialised L x L softmax, same hidden states as torch's eager attention; the RoPE rewrite still applies."""
    out = tmp_path / "gqa"
    result = export_checkpoint(
        ExportOptions(checkpoint=checkpoints[family], out=out, attention="gqa"), log=lambda _m: None
    )
    assert result.config["padding_side"] == "right"
    assert result.config["card"]["exported_with"]["attention"] == "GroupQueryAttention (right padding only)"
    ops = [node.op_type for node in onnx.load(str(out / "model.onnx")).graph.node]
    assert ops.count("GroupQueryAttention") == 2 and "Softmax" not in ops

    feeds = padded_batch([3, 17, 40, 9], "right")
    hidden = run_onnx(out / "model.onnx", feeds)
    assert real_token_diff(hidden, run_torch(checkpoints[family], feeds), feeds["attention_mask"]) <= TOLERANCE

    proto = onnx.load(str(out / "model.onnx"))
    set_rope_base(proto, 1e5, result.config["rope"]["dim"])
    long_feeds = padded_batch([1200, 500], "right", seed=3)
    at_1e5 = run_torch(checkpoints[family], long_feeds, rope_parameters={"rope_type": "default", "rope_theta": 1e5})
    rewritten = run_onnx(proto.SerializeToString(), long_feeds)
    # Over 1,500 tokens fp32 summation order alone moves raw hidden values (|h| up to ~4) by ~2e-4 -- the plain
    # export does the same -- so compare what the runtime returns: normalised last-token vectors.
    assert (
        np.abs(last_token_vectors(rewritten, [1200, 500]) - last_token_vectors(at_1e5, [1200, 500])).max() <= TOLERANCE
    )


def test_gqa_export_runs_long_texts_in_chunks_through_its_key_value_cache(tmp_path, checkpoints) -> None:
    """The GroupQueryAttention graph takes past keys/values and returns present ones: a text fed in chunks, each
    with the cache of the earlier ones (mask spanning past + new tokens, positions continuing), ends with the
    hidden state of one whole run. This is what bounds the runtime's attention memory at 32k tokens."""
    out = tmp_path / "gqa"
    result = export_checkpoint(
        ExportOptions(checkpoint=checkpoints["mistral"], out=out, attention="gqa"), log=lambda _m: None
    )
    cache = result.config["onnx"]["kv_cache"]
    assert cache == {
        "past": PAST_INPUT,
        "present": PRESENT_OUTPUT,
        "layers": 2,
        "kv_heads": 2,
        "head_dim": 16,
        "query_heads": 4,
    }
    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    pasts = [PAST_INPUT.format(layer=layer, kind=kind) for layer in range(2) for kind in ("key", "value")]
    presents = [PRESENT_OUTPUT.format(layer=layer, kind=kind) for layer in range(2) for kind in ("key", "value")]
    assert pasts == [i.name for i in session.get_inputs()][3:]
    assert set(presents) <= {o.name for o in session.get_outputs()}

    whole = padded_batch([700], "right", seed=4)
    expected = run_onnx(out / "model.onnx", whole)[0, -1]
    feeds: dict[str, np.ndarray] = empty_past_feeds(session, 1)
    for start in range(0, 700, 96):
        end = min(700, start + 96)
        outputs = session.run(
            ["last_hidden_state", *presents],
            {
                **feeds,
                "input_ids": whole["input_ids"][:, start:end],
                "attention_mask": np.ones((1, end), dtype=np.int64),
                "position_ids": whole["position_ids"][:, start:end],
            },
        )
        assert outputs[1].shape == (1, 2, end, 16)
        feeds = dict(zip(pasts, outputs[1:], strict=True))
    np.testing.assert_allclose(outputs[0][0, -1], expected, atol=1e-5)
    assert np.abs(outputs[0][0, -1] - run_torch(checkpoints["mistral"], whole)[0, -1]).max() <= TOLERANCE


def test_unknown_attention_is_refused(tmp_path, checkpoints) -> None:
    with pytest.raises(ExportError, match="--attention must be one of eager, gqa"):
        export_checkpoint(ExportOptions(checkpoint=checkpoints["mistral"], out=tmp_path / "o", attention="flash"))


# ---------------------------------------------------------------------------------------------- lance-e5.json


EXPECTED_TOKENS = {
    "mistral": {"bos_id": 1, "eos_id": 2, "pad_id": None},
    "qwen2": {"bos_id": None, "eos_id": 151643, "pad_id": 151643},
    "qwen3": {"bos_id": None, "eos_id": 151643, "pad_id": 151643},
}


@pytest.mark.parametrize("family", FAMILIES)
def test_descriptor_validates_and_names_the_family_tokens(family, exported) -> None:
    import jsonschema

    directory = exported[family]
    descriptor = json.loads((directory / "lance-e5.json").read_text())
    jsonschema.validate(descriptor, json.loads(SCHEMA_PATH.read_text()))
    assert descriptor["family"] == family
    assert descriptor["tokens"] == EXPECTED_TOKENS[family]
    assert descriptor["hidden_size"] == descriptor["output_dim"] == 64
    assert descriptor["rope"]["dim"] == 16
    assert descriptor["rope"]["base"] == (1e4 if family == "mistral" else 1e6)
    assert descriptor["max_length"] == 512
    assert descriptor["padding_side"] == "right"
    assert descriptor["default_task"] == "web_search"
    assert descriptor["matryoshka_dims"] is None
    assert descriptor["onnx"] == {
        "file": "model.onnx",
        "inputs": {"input_ids": "input_ids", "attention_mask": "attention_mask", "position_ids": "position_ids"},
        "output": "last_hidden_state",
        "pooling_in_graph": False,
    }
    space = "" if family == "qwen3" else " "
    assert descriptor["instruction_template"] == "Instruct: {task}\nQuery:" + space + "{query}"
    for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json", "config.json"):
        assert (directory / name).is_file(), name


def test_optional_blocks_and_name(tmp_path, checkpoints) -> None:
    result = export_checkpoint(
        ExportOptions(
            checkpoint=checkpoints["qwen3"],
            out=tmp_path / "out",
            name="my-model",
            max_length=1024,
            default_task="question",
            long_context_base=1e7,
            long_context_length=32768,
            matryoshka_dims=[32, 64],
        ),
        log=lambda _m: None,
    )
    written = json.loads((tmp_path / "out/lance-e5.json").read_text())
    assert written == result.config
    assert written["name"] == "my-model"
    assert written["max_length"] == 1024
    assert written["default_task"] == "question"
    assert written["long_context"] == {"rope_base": 1e7, "max_length": 32768}
    assert written["matryoshka_dims"] == [32, 64]


# ---------------------------------------------------------------------------------------------- fp16 / int8


@pytest.mark.parametrize(("dtype", "quantize", "floor"), [("fp16", None, 0.999), ("fp32", "int8", 0.98)])
def test_converted_weights_stay_close_and_keep_rope_float32(tmp_path, checkpoints, dtype, quantize, floor) -> None:
    # Measured on these random-weight checkpoints (min cosine of last-token vectors vs fp32): fp16 >= 0.99999;
    # int8 (dynamic, per-channel MatMul weights) 0.985-0.998 -- random weights at init range 0.2 are a harsh case.
    out = tmp_path / "out"
    result = export_checkpoint(
        ExportOptions(checkpoint=checkpoints["mistral"], out=out, dtype=dtype, quantize=quantize),
        log=lambda _m: None,
    )
    assert result.cosine_vs_fp32 is not None and result.cosine_vs_fp32 >= floor
    (tensor,) = rope_initializers(out / "model.onnx")
    assert tensor.data_type == TensorProto.FLOAT
    feeds = padded_batch([12, 5], "right")
    hidden = run_onnx(out / "model.onnx", feeds)
    assert hidden.dtype == np.float32 and np.isfinite(hidden).all()
    assert result.config["card"]["exported_with"]["cosine_vs_fp32"] == round(result.cosine_vs_fp32, 6)


# ---------------------------------------------------------------------------------------------- rope contract


def test_rope_initializer_missing_or_duplicated_fails_loudly(exported) -> None:
    proto = onnx.load(str(exported["mistral"] / "model.onnx"))
    with pytest.raises(RopeInitializerError, match="no float32 initializer"):
        name_rope_initializer(proto, inverse_frequencies(12345.0, 16))
    duplicate = numpy_helper.to_array(rope_initializers(exported["mistral"] / "model.onnx")[0])
    proto.graph.initializer.append(numpy_helper.from_array(duplicate.copy(), "a_copy"))
    with pytest.raises(RopeInitializerError, match="appear 2 times"):
        name_rope_initializer(proto, inverse_frequencies(1e4, 16))


# ---------------------------------------------------------------------------------------------- bad input


def broken_copy(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def test_missing_directory(tmp_path) -> None:
    with pytest.raises(ExportError, match="checkpoint directory not found"):
        export_checkpoint(ExportOptions(checkpoint=tmp_path / "nope", out=tmp_path / "out"))


@pytest.mark.parametrize("missing", ["tokenizer.json", "tokenizer_config.json", "config.json"])
def test_missing_file_is_named(tmp_path, checkpoints, missing) -> None:
    checkpoint = broken_copy(checkpoints["mistral"], tmp_path / "ck")
    (checkpoint / missing).unlink()
    with pytest.raises(ExportError, match=f"lacks {missing}"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_missing_weights(tmp_path, checkpoints) -> None:
    checkpoint = broken_copy(checkpoints["mistral"], tmp_path / "ck")
    for weights in checkpoint.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ExportError, match="no \\*.safetensors"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))


def test_unsupported_model_type_names_the_supported_ones(tmp_path, checkpoints) -> None:
    checkpoint = broken_copy(checkpoints["mistral"], tmp_path / "ck")
    config = json.loads((checkpoint / "config.json").read_text())
    config["model_type"] = "bert"
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(ExportError, match="unsupported model_type 'bert'.*supported: mistral, qwen2, qwen3"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))


def test_corrupt_config_json(tmp_path, checkpoints) -> None:
    checkpoint = broken_copy(checkpoints["mistral"], tmp_path / "ck")
    (checkpoint / "config.json").write_text("{not json")
    with pytest.raises(ExportError, match="cannot read .*config.json"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))


def test_eos_token_missing_from_vocabulary(tmp_path, checkpoints) -> None:
    checkpoint = broken_copy(checkpoints["qwen3"], tmp_path / "ck")
    tokenizer_config = json.loads((checkpoint / "tokenizer_config.json").read_text())
    tokenizer_config["eos_token"] = "<|no_such_token|>"
    (checkpoint / "tokenizer_config.json").write_text(json.dumps(tokenizer_config))
    with pytest.raises(ExportError, match="eos_token '<\\|no_such_token\\|>'.*not in tokenizer.json"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))


def test_corrupt_weights(tmp_path, checkpoints) -> None:
    checkpoint = broken_copy(checkpoints["mistral"], tmp_path / "ck")
    next(checkpoint.glob("*.safetensors")).write_bytes(b"garbage")
    with pytest.raises(ExportError, match="cannot load model weights"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))


def test_weights_lacking_tensors_are_refused(tmp_path, checkpoints) -> None:
    """transformers would fill a missing tensor with random values and only warn."""
    from safetensors.torch import load_file, save_file

    checkpoint = broken_copy(checkpoints["mistral"], tmp_path / "ck")
    weights = next(checkpoint.glob("*.safetensors"))
    tensors = load_file(weights)
    dropped = next(name for name in tensors if name.endswith("layers.1.mlp.down_proj.weight"))
    del tensors[dropped]
    save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(ExportError, match="lack 1 tensors of the model: .*layers.1.mlp.down_proj.weight"):
        export_checkpoint(ExportOptions(checkpoint=checkpoint, out=tmp_path / "out"))


def test_causal_lm_checkpoint_exports_the_base_model(tmp_path) -> None:
    """Released embedding checkpoints are often saved as *ForCausalLM; the LM head is ignored, nothing is missing."""
    from transformers import MistralConfig, MistralForCausalLM

    from lance_e5_train.fixtures import FIXTURES, write_tokenizer

    spec = next(s for s in FIXTURES if s.name == "tiny-mistral")
    config = MistralConfig(
        vocab_size=32000,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        intermediate_size=64,
    )
    MistralForCausalLM(config).save_pretrained(tmp_path / "ck")
    write_tokenizer(spec, tmp_path / "ck")
    result = export_checkpoint(ExportOptions(checkpoint=tmp_path / "ck", out=tmp_path / "out"), log=lambda _m: None)
    assert result.config["hidden_size"] == 32
    hidden = run_onnx(tmp_path / "out/model.onnx", padded_batch([4], "right"))
    assert hidden.shape == (1, 4, 32)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"dtype": "bf16"}, "--dtype must be fp32 or fp16"),
        ({"quantize": "int4"}, "--quantize must be int8"),
        ({"dtype": "fp16", "quantize": "int8"}, "do not combine"),
        ({"max_length": 1}, "--max-length must be at least 2"),
        ({"long_context_base": 1e5}, "go together"),
        ({"matryoshka_dims": [128]}, "exceed the hidden size"),
    ],
)
def test_bad_options(tmp_path, checkpoints, changes, message) -> None:
    with pytest.raises(ExportError, match=message):
        export_checkpoint(ExportOptions(checkpoint=checkpoints["mistral"], out=tmp_path / "out", **changes))


def test_out_must_differ_from_checkpoint(checkpoints) -> None:
    with pytest.raises(ExportError, match="--out must differ from --checkpoint"):
        export_checkpoint(ExportOptions(checkpoint=checkpoints["mistral"], out=checkpoints["mistral"]))


def test_main_reports_errors_with_exit_2(tmp_path, capsys) -> None:
    import argparse

    from lance_e5_train.export import add_arguments

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    status = export_main(parser.parse_args(["--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]))
    assert status == 2
    assert "checkpoint directory not found" in capsys.readouterr().err


def test_cli_exit_status(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "lance_e5_train", "export", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "o")],
        cwd=TRAINING_DIR,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 2
    assert "lacks config.json, tokenizer.json, tokenizer_config.json" in completed.stderr


# ---------------------------------------------------------------------------------------------- parity fixtures

# First ids of "Instruct: Given a web search query, ..." as written by hand from the tokenizers (BOS only for
# Mistral), so a fixture builder that dropped BOS or EOS could not pass.
QUERY_WEB_PREFIX = {
    "tiny-mistral": [1, 560, 1356, 28747, 12628, 264, 4686, 3472, 5709],
    "tiny-qwen3": [641, 1235, 25, 16246, 264, 3482, 2711, 3239],
}


@pytest.mark.parametrize("name", ["tiny-mistral", "tiny-qwen3"])
def test_fixture_reference_matches_the_export(tmp_path, name) -> None:
    """build-fixtures end to end for one model: the model-card reference (transformers) agrees with the ONNX export
    alone and in padded batches, left and right, and with the rewritten RoPE base at 1e5."""
    from lance_e5_train.fixtures import FIXTURES, build_fixture

    spec = next(s for s in FIXTURES if s.name == name)
    model_dir = build_fixture(spec, tmp_path / "models", tmp_path / "checkpoints", log=lambda _m: None)
    reference = json.loads((model_dir / "reference.json").read_text())
    cases = {case["id"]: case for case in reference["cases"]}
    eos = reference["eos_id"]

    query_ids = cases["query-web"]["ids"]
    assert query_ids[: len(QUERY_WEB_PREFIX[name])] == QUERY_WEB_PREFIX[name]
    for case in reference["cases"]:
        assert case["ids"][-1] == eos and case["ids"][-2] != eos, case["id"]
        assert len(case["ids"]) <= case["max_length"]
    assert cases["doc-truncated"]["truncated"] and len(cases["doc-truncated"]["ids"]) == 64
    assert not cases["doc-long"]["truncated"] and len(cases["doc-long"]["ids"]) > 150

    def pooled(model: Path | bytes, ids_list: list[list[int]], side: str) -> np.ndarray:
        width = max(map(len, ids_list))
        feeds = padded_batch([len(ids) for ids in ids_list], side)
        for row, ids in enumerate(ids_list):
            span = slice(0, len(ids)) if side == "right" else slice(width - len(ids), width)
            feeds["input_ids"][row] = reference["pad_id"]
            feeds["input_ids"][row, span] = ids
        hidden = run_onnx(model, feeds)
        last = [len(ids) - 1 if side == "right" else width - 1 for ids in ids_list]
        vectors = hidden[np.arange(len(ids_list)), last]
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    expected = np.array([case["embedding"] for case in reference["cases"]])
    all_ids = [case["ids"] for case in reference["cases"]]
    for batch in reference["batches"]:
        assert np.abs(np.array(batch["embeddings"]) - expected).max() <= 1e-5
        assert np.abs(pooled(model_dir / "model.onnx", all_ids, batch["padding_side"]) - expected).max() <= TOLERANCE

    proto = onnx.load(str(model_dir / "model.onnx"))
    set_rope_base(proto, reference["rope_override"]["base"], 16)
    at_base = np.array([case["embedding"] for case in reference["rope_override"]["cases"]])
    assert np.abs(pooled(proto.SerializeToString(), all_ids, "right") - at_base).max() <= TOLERANCE
    assert np.abs(at_base - expected).max(axis=1).min() > 1e-3  # every case moves with the base

    lines = reference["tokenizer_parity"]["lines"]
    assert len(lines) >= 20
    if name == "tiny-mistral":
        assert all(line["ids_with_special"] == [1, *line["ids_without_special"]] for line in lines)
    else:
        assert all(line["ids_with_special"] == line["ids_without_special"] for line in lines)
