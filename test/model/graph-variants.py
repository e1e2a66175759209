"""Derives graph variants of a fixture model for test/model/graph-variants.test.ts.

pooled: last-token pooling inside the graph (output `sentence_embedding` [batch, hidden]), right padding:
        index = sum(mask) - 1 per row, GatherElements along the sequence axis.
fp16:   the same graph with `last_hidden_state` cast to float16 at the end (what an fp16 export hands back).
external: the unchanged graph with its weights in an external data file `external.onnx.data` (as large exports
        are stored); the small RoPE initializer stays inline.
Usage: python graph-variants.py SRC_MODEL_ONNX OUT_DIR
"""

import sys

import onnx
from onnx import TensorProto, helper

src, out = sys.argv[1], sys.argv[2]


def pooled() -> None:
    model = onnx.load(src)
    g = model.graph
    hidden = "last_hidden_state"

    def const(name: str, values: list[int]) -> onnx.NodeProto:
        return helper.make_node(
            "Constant", [], [name], value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values)
        )

    g.node.extend(
        [
            const("pool_zero", [0]),
            const("pool_one", [1]),
            const("pool_two", [2]),
            helper.make_node("Cast", ["attention_mask"], ["pool_mask"], to=TensorProto.INT64),
            helper.make_node("ReduceSum", ["pool_mask", "pool_one"], ["pool_len"], keepdims=1),  # [B, 1]
            helper.make_node("Sub", ["pool_len", "pool_one"], ["pool_last"]),  # [B, 1]: index of the EOS
            helper.make_node("Unsqueeze", ["pool_last", "pool_one"], ["pool_last3"]),  # [B, 1, 1]
            helper.make_node("Shape", [hidden], ["pool_shape"]),
            helper.make_node("Gather", ["pool_shape", "pool_zero"], ["pool_b"]),
            helper.make_node("Gather", ["pool_shape", "pool_two"], ["pool_h"]),
            helper.make_node("Concat", ["pool_b", "pool_one", "pool_h"], ["pool_index_shape"], axis=0),
            helper.make_node("Expand", ["pool_last3", "pool_index_shape"], ["pool_index"]),  # [B, 1, H]
            helper.make_node("GatherElements", [hidden, "pool_index"], ["pool_gathered"], axis=1),  # [B, 1, H]
            helper.make_node("Squeeze", ["pool_gathered", "pool_one"], ["sentence_embedding"]),  # [B, H]
        ]
    )
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", "hidden"]))
    onnx.checker.check_model(model)
    onnx.save(model, f"{out}/pooled.onnx")


def fp16() -> None:
    model = onnx.load(src)
    g = model.graph
    for node in g.node:
        node.output[:] = ["last_hidden_state_f32" if o == "last_hidden_state" else o for o in node.output]
    g.node.append(helper.make_node("Cast", ["last_hidden_state_f32"], ["last_hidden_state"], to=TensorProto.FLOAT16))
    del g.output[:]
    g.output.append(
        helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT16, ["batch", "sequence", "hidden"])
    )
    onnx.save(model, f"{out}/fp16.onnx")


def external() -> None:
    model = onnx.load(src)
    onnx.save(
        model, f"{out}/external.onnx", save_as_external_data=True, location="external.onnx.data", size_threshold=1024
    )


pooled()
fp16()
external()
