"""The fo-pooling recurrence as one ONNX `Scan` per direction (docs/integer-semantics.md, step 2).

onnxruntime runs the Scan as written. The compiler recognises it by rebuilding the body with
`scan_body` from the hidden size, direction and lookup table it reads off the node, and comparing
the two structurally (`is_fo_pool_scan`); a match is compiled to one fo-pool kernel.

Per step the body maps state U int32 [1, H] and scan inputs pre int8 [1, 3H], valid bool [1] to
the new state and h int8 [1, H]."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..quant.tables import STATE_OFFSET, sigmoid_q7, tanh_q7
from .graph import GraphBuilder, canonical_form, value_info

DOMAIN_ATTR = "pqcompile_fo_pool"   # doc_string marker on the Scan node (informative only)


def gate_lut() -> np.ndarray:
    """int8 [512]: TANH_Q7 then SIGMOID_Q7; z columns index the first half, f/o the second."""
    return np.concatenate([tanh_q7(), sigmoid_q7()]).astype(np.int8)


def gate_offsets(hidden: int) -> np.ndarray:
    """int32 [3H]: 128 for z columns, 256 + 128 for f and o columns (table index = pre + offset)."""
    return np.array([128] * hidden + [384] * (2 * hidden), dtype=np.int32)


def scan_body(prefix: str, hidden: int, lut: np.ndarray, offsets: np.ndarray) -> onnx.GraphProto:
    g = GraphBuilder(prefix)
    H = hidden
    u_in, pre_in, valid_in = f"{prefix}U", f"{prefix}pre", f"{prefix}valid"
    idx = g.op("Add", [g.op("Cast", [pre_in], to=onnx.TensorProto.INT32), g.const("offsets", offsets)])
    zfo = g.op("Cast", [g.op("Gather", [g.const("lut", lut), idx], axis=0)], to=onnx.TensorProto.INT32)
    axis = g.const("axis", [1], np.int64)

    def part(i: int) -> str:
        return g.op("Slice", [zfo, g.const("start", [i * H], np.int64), g.const("end", [(i + 1) * H], np.int64), axis])

    z, f, o = part(0), part(1), part(2)
    i32 = lambda hint, v: g.const(hint, np.int32(v))  # noqa: E731 - scalar int32 constants
    v = g.op("Add", [g.op("Mul", [z, i32("c256", 256)]), i32("offset", STATE_OFFSET)])
    mix = g.op("Add", [g.op("Mul", [f, u_in]), g.op("Mul", [g.op("Sub", [i32("c128", 128), f]), v])])
    u_new = g.op("Div", [g.op("Add", [mix, i32("c64", 64)]), i32("c128", 128)])
    u_out = g.op("Where", [valid_in, u_new, i32("offset", STATE_OFFSET)], hint="U_next")
    oc = g.op("Div", [g.op("Add", [g.op("Mul", [o, u_out]), i32("c16384", 16384)]), i32("c32768", 32768)])
    h = g.op("Cast", [g.op("Sub", [oc, o])], hint="h", to=onnx.TensorProto.INT8)
    return helper.make_graph(
        g.nodes, f"{prefix}body",
        [value_info(u_in, "int32", [1, H]), value_info(pre_in, "int8", [1, 3 * H]), value_info(valid_in, "bool", [1])],
        [value_info(u_out, "int32", [1, H]), value_info(h, "int8", [1, H])],
        initializer=g.initializers)


def add_fo_pool(g: GraphBuilder, pre: str, valid: str, hidden: int, backward: bool) -> str:
    """Append a Scan over pre int8 [1, T, 3H] and valid bool [1, T]; returns h int8 [1, T, H]."""
    init = g.const("U0", np.full((1, hidden), STATE_OFFSET, np.int32))
    body = scan_body(g.fresh("fopool") + "/", hidden, gate_lut(), gate_offsets(hidden))
    d = int(backward)
    _, h = g.op("Scan", [init, pre, valid], hint="fopool", n_out=2, body=body, num_scan_inputs=2,
                scan_input_axes=[1, 1], scan_input_directions=[d, d], scan_output_axes=[1],
                scan_output_directions=[d])
    g.nodes[-1].doc_string = DOMAIN_ATTR
    return h


def is_fo_pool_scan(node: onnx.NodeProto) -> tuple[int, bool, np.ndarray] | None:
    """(hidden, backward, lut int8 [512]) when `node` is an fo-pooling Scan as add_fo_pool writes it."""
    if node.op_type != "Scan" or node.domain not in ("", "ai.onnx"):
        return None
    attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
    body = attrs.get("body")
    if body is None or len(body.input) != 3 or len(node.input) != 3 or len(node.output) != 2:
        return None
    dirs = list(attrs.get("scan_input_directions", [0, 0]))
    if dirs not in ([0, 0], [1, 1]) or list(attrs.get("scan_output_directions", [0])) != dirs[:1]:
        return None
    if list(attrs.get("scan_input_axes", [0, 0])) != [1, 1] or list(attrs.get("scan_output_axes", [0])) != [1]:
        return None
    dims = body.input[0].type.tensor_type.shape.dim
    if len(dims) != 2 or dims[1].dim_value < 1:
        return None
    hidden = dims[1].dim_value
    inits = {t.name: numpy_helper.to_array(t) for t in body.initializer}
    luts = [a for a in inits.values() if a.dtype == np.int8 and a.shape == (512,)]
    if len(luts) != 1:
        return None
    prefix = body.name[: -len("body")] if body.name.endswith("body") else body.name
    expected = scan_body(prefix, hidden, luts[0], gate_offsets(hidden))
    if canonical_form(expected) != canonical_form(body):
        return None
    return hidden, bool(dirs[0]), luts[0]
