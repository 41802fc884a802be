"""Export a QuantizedModel as an ONNX graph of integer math (docs/integer-semantics.md).

Static shapes: batch 1, T = spec.max_tokens. Inputs `features` int8 [1, T, F] and `length` int32 [1];
outputs `intent_logits` int8 [1, n_intents] and `slot_logits` int8 [1, T, n_slots]. Matmuls are
MatMulInteger (int8 x int8 -> int32), requantisation is the explicit float32 chain Cast, Mul,
Add 0.5, Floor, Clip, Cast; lookup tables are Gathers; the recurrence is one Scan per direction
(export/fo_pool.py). onnxruntime runs it bit-exactly against quant.integer_reference; the compiler
reads the same graph. The projection spec, labels and semantics version travel in metadata_props.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from ..atomic import atomic_file
from ..errors import PqError
from ..projection import ProjectionSpec
from ..quant.qmodel import SEMANTICS_VERSION, QLinear, QuantizedModel, check_intent_slots
from ..quant.tables import exp_q15
from .fo_pool import add_fo_pool
from .graph import GraphBuilder, value_info

OPSET = 17
META_PREFIX = "pqcompile."
# the 4-bit weight initializers (encoder_weight_bits 4): a JSON list of names; the compiler stores
# them packed two per byte (compiler/dot_s4.py). Absent in int8 models.
INT4_WEIGHTS = META_PREFIX + "int4_weights"


def _requant(g: GraphBuilder, acc: str, scale: np.ndarray, lo: int, hi: int, hint: str) -> str:
    """int32 acc -> clamp(floor(float32(acc) * scale + 0.5f), lo, hi) as int8."""
    p = g.op("Mul", [g.op("Cast", [acc], to=onnx.TensorProto.FLOAT), g.const(f"{hint}_scale", scale, np.float32)])
    q = g.op("Floor", [g.op("Add", [p, g.const("half", np.float32(0.5))])])
    c = g.op("Clip", [q, g.const("lo", np.float32(lo)), g.const("hi", np.float32(hi))])
    return g.op("Cast", [c], hint=hint, to=onnx.TensorProto.INT8)


def _linear(g: GraphBuilder, x: str, q: QLinear, lo: int, hi: int, hint: str, int4: list | None = None) -> str:
    """requant(x @ W + b); with int4 (a list), W's initializer name is appended to it"""
    weight = g.const(f"{hint}_weight", q.weight, np.int8)
    if int4 is not None:
        int4.append(weight)
    acc = g.op("MatMulInteger", [x, weight])
    acc = g.op("Add", [acc, g.const(f"{hint}_bias", q.bias, np.int32)])
    return _requant(g, acc, q.scale, lo, hi, hint)


def _window(g: GraphBuilder, u: str, T: int, D: int, k: int, backward: bool) -> str:
    """[1, T, D] -> [1, T, k*D]: rows u[t], u[t-1].. (fwd) or u[t], u[t+1].. (bwd), zero outside."""
    parts = [u]
    axis = g.const("axis1", [1], np.int64)
    for j in range(1, k):
        if j >= T:
            parts.append(g.const("zeros", np.zeros((1, T, D), np.int8)))
            continue
        zeros = g.const("zeros", np.zeros((1, j, D), np.int8))
        if backward:
            rest = g.op("Slice", [u, g.const("start", [j], np.int64), g.const("end", [T], np.int64), axis])
            parts.append(g.op("Concat", [rest, zeros], axis=1))
        else:
            rest = g.op("Slice", [u, g.const("start", [0], np.int64), g.const("end", [T - j], np.int64), axis])
            parts.append(g.op("Concat", [zeros, rest], axis=1))
    return parts[0] if k == 1 else g.op("Concat", parts, hint="window", axis=2)


def _attention_pool(g: GraphBuilder, E: str, mask3: str, att: QLinear) -> str:
    """E int8 [1, T, C] -> pooled int8 [1, C] (integer softmax over the valid positions)."""
    score = g.op("Cast", [_linear(g, E, att, -128, 127, "attention")], to=onnx.TensorProto.INT32)
    score = g.op("Where", [mask3, score, g.const("m128", np.int32(-128))])
    m = g.op("ReduceMax", [score], axes=[1], keepdims=1)
    idx = g.op("Add", [g.op("Sub", [score, m]), g.const("c255", np.int32(255))])
    e = g.op("Gather", [g.const("exp_q15", exp_q15().astype(np.int32)), idx], axis=0)
    e = g.op("Where", [mask3, e, g.const("zero_i32", np.int32(0))], hint="attn_weight")
    axes = g.const("axes1", [1], np.int64)
    Z = g.op("ReduceSum", [e, axes], keepdims=0)                       # [1, 1]
    P = g.op("ReduceSum", [g.op("Mul", [e, g.op("Cast", [E], to=onnx.TensorProto.INT32)]), axes], keepdims=0)
    ratio = g.op("Div", [g.op("Cast", [P], to=onnx.TensorProto.FLOAT), g.op("Cast", [Z], to=onnx.TensorProto.FLOAT)])
    q = g.op("Floor", [g.op("Add", [ratio, g.const("half", np.float32(0.5))])])
    c = g.op("Clip", [q, g.const("lo", np.float32(-127)), g.const("hi", np.float32(127))])
    return g.op("Cast", [c], hint="pooled", to=onnx.TensorProto.INT8)


def build_onnx(qmodel: QuantizedModel) -> onnx.ModelProto:
    """The integer network of `qmodel` as an in-memory ONNX model (checked)."""
    T, F = qmodel.max_tokens, qmodel.feature_size
    g = GraphBuilder()
    mask = g.op("Less", [g.const("positions", np.arange(T, dtype=np.int32)[None, :]), "length"], hint="mask")
    mask3 = g.op("Less", [g.const("positions3", np.arange(T, dtype=np.int32)[None, :, None]), "length"], hint="mask3")
    zero8 = g.const("zero_i8", np.int8(0))
    int4 = [] if qmodel.encoder_weight_bits == 4 else None   # the encoder's weight initializers
    y = _linear(g, "features", qmodel.bottleneck, 0, 127, "bottleneck", int4)
    u = g.op("Where", [mask3, y, zero8], hint="bottleneck_masked")
    D = qmodel.bottleneck.n_out
    for i, layer in enumerate(qmodel.layers):
        hs = []
        for q, backward in ((layer.fwd, False), (layer.bwd, True)):
            name = f"qrnn{i}.{'bwd' if backward else 'fwd'}"
            x = _window(g, u, T, D, layer.kernel_width, backward)
            pre = _linear(g, x, q, -128, 127, f"{name}.gates", int4)
            hs.append(add_fo_pool(g, pre, mask, layer.hidden, backward))
        u = g.op("Concat", hs, hint=f"qrnn{i}", axis=2)
        D = 2 * layer.hidden
    pooled = _attention_pool(g, u, mask3, qmodel.attention)
    intent = _linear(g, pooled, qmodel.intent, -128, 127, "intent")
    slots = _linear(g, u, qmodel.slot, -128, 127, "slot")
    g.nodes.append(helper.make_node("Identity", [intent], ["intent_logits"], name="out_intent"))
    g.nodes.append(helper.make_node("Identity", [slots], ["slot_logits"], name="out_slot"))
    graph = helper.make_graph(
        g.nodes, "pqrnn",
        [value_info("features", "int8", [1, T, F]), value_info("length", "int32", [1])],
        [value_info("intent_logits", "int8", [1, len(qmodel.intent_labels)]),
         value_info("slot_logits", "int8", [1, T, len(qmodel.slot_labels)])],
        initializer=g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="pqcompile")
    model.ir_version = 8
    helper.set_model_props(model, {
        META_PREFIX + "semantics_version": str(SEMANTICS_VERSION),
        META_PREFIX + "spec": qmodel.spec.to_json(),
        META_PREFIX + "intent_labels": json.dumps(qmodel.intent_labels, ensure_ascii=False),
        META_PREFIX + "slot_labels": json.dumps(qmodel.slot_labels, ensure_ascii=False),
        META_PREFIX + "layers": json.dumps([{"kernel_width": l.kernel_width, "hidden": l.hidden}
                                             for l in qmodel.layers]),
        META_PREFIX + "meta": json.dumps(qmodel.meta, ensure_ascii=False, default=str),
        **({META_PREFIX + "intent_slots": json.dumps(qmodel.intent_slots, ensure_ascii=False)}
           if qmodel.intent_slots is not None else {}),
        **({INT4_WEIGHTS: json.dumps(int4)} if int4 else {}),
    })
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(qmodel: QuantizedModel, path: str | os.PathLike) -> onnx.ModelProto:
    """Write the integer network of `qmodel` to `path` atomically; returns the model."""
    model = build_onnx(qmodel)
    with atomic_file(path) as f:
        f.write(model.SerializeToString())
    return model


@dataclass
class ModelMetadata:
    """What the device program needs besides the graph: projection spec, label inventories and
    the slot labels allowed per intent (None: no constraint; QuantizedModel.intent_slots)."""

    spec: ProjectionSpec
    intent_labels: list[str]
    slot_labels: list[str]
    intent_slots: list[list[str]] | None = None


def read_metadata(model: onnx.ModelProto) -> ModelMetadata:
    """The pqcompile metadata_props of an exported model; PqError when missing or unusable."""
    props = {p.key: p.value for p in model.metadata_props}
    try:
        version = props[META_PREFIX + "semantics_version"]
        if version != str(SEMANTICS_VERSION):
            raise PqError(f"ONNX model uses integer semantics v{version}, this pqcompile implements "
                          f"v{SEMANTICS_VERSION}")
        meta = ModelMetadata(ProjectionSpec.from_json(props[META_PREFIX + "spec"]),
                             list(json.loads(props[META_PREFIX + "intent_labels"])),
                             list(json.loads(props[META_PREFIX + "slot_labels"])))
        intent_slots = props.get(META_PREFIX + "intent_slots")   # absent in models without the constraint
        if intent_slots is not None:
            try:
                meta.intent_slots = check_intent_slots(json.loads(intent_slots), meta.intent_labels,
                                                       meta.slot_labels)
            except PqError as e:
                raise PqError(f"ONNX model has unusable pqcompile metadata: {e}") from None
        return meta
    except KeyError as e:
        raise PqError(f"ONNX model lacks pqcompile metadata {e.args[0]!r} (not exported by pqcompile export?)") from None
    except (ValueError, TypeError) as e:
        raise PqError(f"ONNX model has unusable pqcompile metadata: {e}") from None
