"""A tiny ONNX graph builder: unique names, initializers from numpy, one call per node.

The exporter and the fo-pooling Scan body both build graphs with it, so the compiler can rebuild
a Scan body exactly and compare it structurally with the one it finds in a model."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

ONNX_DTYPE = {
    np.dtype("int8"): onnx.TensorProto.INT8,
    np.dtype("int32"): onnx.TensorProto.INT32,
    np.dtype("float32"): onnx.TensorProto.FLOAT,
    np.dtype("bool"): onnx.TensorProto.BOOL,
}


class GraphBuilder:
    """Collects nodes and initializers; every name gets `prefix` so subgraphs never clash."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0
        self._consts: dict[tuple, str] = {}

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.prefix}{hint}_{self._count}"

    def const(self, hint: str, value, dtype=None) -> str:
        """An initializer (shared when the same small value is asked for twice)."""
        arr = np.asarray(value, dtype=dtype)
        key = (arr.dtype.str, arr.shape, arr.tobytes()) if arr.size <= 16 else None
        if key is not None and key in self._consts:
            return self._consts[key]
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(arr.copy(order="C"), name))
        if key is not None:
            self._consts[key] = name
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, n_out: int = 1, **attrs):
        """Add a node; returns its output name (or a list of names when n_out > 1)."""
        outs = [self.fresh(hint or op_type.lower()) for _ in range(n_out)]
        self.nodes.append(helper.make_node(op_type, inputs, outs, name=self.fresh("n_" + op_type), **attrs))
        return outs[0] if n_out == 1 else outs


def value_info(name: str, dtype, shape) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, ONNX_DTYPE[np.dtype(dtype)], list(shape))


def canonical_form(graph: onnx.GraphProto) -> list:
    """The structure of a graph with value names replaced by first-use order: two graphs built
    the same way with different name prefixes have equal canonical forms."""
    ids: dict[str, int] = {}

    def nid(name: str) -> int:
        return ids.setdefault(name, len(ids)) if name else -1

    form: list = [("in", nid(v.name), v.type.SerializeToString()) for v in graph.input]
    for t in sorted(graph.initializer, key=lambda t: t.name):
        form.append(("init", nid(t.name), t.data_type, tuple(t.dims), numpy_helper.to_array(t).tobytes()))
    for n in graph.node:
        attrs = tuple((a.name, helper.get_attribute_value(a).__repr__()) for a in n.attribute)
        form.append((n.op_type, n.domain, tuple(nid(i) for i in n.input), tuple(nid(o) for o in n.output), attrs))
    form += [("out", nid(v.name), v.type.SerializeToString()) for v in graph.output]
    return form
