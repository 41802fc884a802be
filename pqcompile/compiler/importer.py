"""ONNX (as `pqcompile export` writes it) -> a TVM Relax module, op by op.

Why not TVM's own from_onnx: it has no Scan, it imports MatMulInteger as int32 x int32 (whole
int32 copies of weights and activations) and wraps Clip in NaN guards. The pqcompile graph uses a
small set of ops; each maps to one Relax op here, and anything else is a clear PqError naming the
op and node. A recognised fo-pooling Scan becomes a call_tir of the fo-pool kernel."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper, numpy_helper
from tvm import relax

from ..errors import PqError
from ..export.fo_pool import is_fo_pool_scan
from .fo_pool_kernel import fo_pool_primfunc, static_rows

DTYPES = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.INT32: "int32", onnx.TensorProto.FLOAT: "float32",
          onnx.TensorProto.BOOL: "bool", onnx.TensorProto.INT64: "int64"}
INPUTS = {"features": "int8", "length": "int32"}
OUTPUTS = ("intent_logits", "slot_logits")


@dataclass
class Imported:
    """The Relax module plus what the driver and the report need to know about the graph."""

    mod: object
    input_shapes: dict[str, list[int]]
    output_shapes: dict[str, list[int]]
    const_names: dict[tuple, str] = field(default_factory=dict)  # const_key(array) -> initializer name
    macs: dict[str, int] = field(default_factory=dict)          # weight initializer -> MACs per utterance
    row_halo: int = 0          # farthest a Slice along the token axis shifts rows (rows.py)
    row_kernels: dict[str, object] = field(default_factory=dict)  # kernel name -> its PrimFunc with `rows`


def const_key(arr: np.ndarray) -> tuple:
    """Identity of a constant by value (Relax passes copy constants, so ids do not survive)."""
    return (arr.dtype.str, arr.shape, hashlib.sha1(arr.tobytes()).hexdigest())


def _static_shape(vi: onnx.ValueInfoProto) -> list[int]:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        raise PqError(f"graph input/output {vi.name!r} has no shape (static shapes are required)")
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value") or d.dim_value <= 0:
            raise PqError(f"graph input/output {vi.name!r} has a dynamic dimension "
                          f"{d.dim_param or '?'!r}; pqcompile compiles static shapes only (re-export with fixed shapes)")
        dims.append(int(d.dim_value))
    return dims


class _Importer:
    def __init__(self, model: onnx.ModelProto, pad_channels: bool = False):
        self.graph = model.graph
        self.pad_channels = pad_channels
        self.bb = relax.BlockBuilder()
        self.values: dict[str, object] = {}   # name -> relax expr or numpy array (initializers)
        self.result = Imported(None, {}, {})
        self.kernels: dict[tuple, object] = {}

    # -- values ----------------------------------------------------------------------------
    def tensor(self, name: str):
        v = self.values.get(name)
        if v is None:
            raise PqError(f"ONNX value {name!r} is used before it is defined")
        if isinstance(v, np.ndarray):
            self.result.const_names.setdefault(const_key(v), name)
            return relax.const(v, str(v.dtype))
        return v

    def array(self, name: str, node: onnx.NodeProto) -> np.ndarray:
        v = self.values.get(name)
        if not isinstance(v, np.ndarray):
            raise PqError(f"{node.op_type} node {node.name!r}: input {name!r} must be a constant initializer")
        return v

    @staticmethod
    def dtype(expr) -> str:
        return str(expr.ty.dtype)

    @staticmethod
    def shape(expr) -> list[int]:
        return [int(s) for s in expr.ty.shape]

    # -- ops --------------------------------------------------------------------------------
    def convert(self, node: onnx.NodeProto):
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        op = node.op_type
        ins = list(node.input)
        R = relax.op
        binary = {"Add": R.add, "Sub": R.subtract, "Mul": R.multiply, "Less": R.less}
        if node.domain not in ("", "ai.onnx"):
            raise PqError(f"unsupported operator {node.domain}.{op} (node {node.name!r})")
        if op in binary:
            return binary[op](self.tensor(ins[0]), self.tensor(ins[1]))
        if op == "Div":
            a, b = self.tensor(ins[0]), self.tensor(ins[1])
            if self.dtype(a) != "float32":
                raise PqError(f"Div node {node.name!r} on {self.dtype(a)}: only float32 division is supported")
            return R.divide(a, b)
        if op == "MatMulInteger":
            if len([i for i in ins if i]) != 2:
                raise PqError(f"MatMulInteger node {node.name!r} has zero points; only symmetric int8 is supported")
            a, b = self.tensor(ins[0]), self.tensor(ins[1])
            if (self.dtype(a), self.dtype(b)) != ("int8", "int8"):
                raise PqError(f"MatMulInteger node {node.name!r}: only int8 x int8 is supported")
            sa, sb = self.shape(a), self.shape(b)
            self.result.macs[ins[1]] = int(np.prod(sa[:-1])) * sb[0] * sb[1]
            w = self.values[ins[1]]
            pad = False
            if isinstance(w, np.ndarray) and w.ndim == 2:
                # weights stored [out, in] so the reduction reads both operands contiguously;
                # the transpose fuses into the matmul kernel as an index change
                wt = np.ascontiguousarray(w.T)
                # an odd channel count (> 1) over the token rows gets a zero channel, sliced off
                # again right after the matmul (the slice fuses into its epilogue): the matmul
                # then takes the 2-channel row kernels (schedule.py), not the 1-channel one
                pad = self.pad_channels and len(sa) == 3 and sa[1] >= 2 and wt.shape[0] % 2 == 1 and wt.shape[0] > 1
                if pad:
                    wt = np.concatenate([wt, np.zeros((1, wt.shape[1]), np.int8)])
                self.result.const_names.setdefault(const_key(wt), ins[1])
                b = R.permute_dims(relax.const(wt, "int8"))
            out = R.matmul(a, b, out_dtype="int32")
            if pad:
                out = R.strided_slice(self.bb.emit(out), [len(sa) - 1], [0], [sb[1]])
            return out
        if op == "Cast":
            to = DTYPES.get(attrs["to"])
            if to is None:
                raise PqError(f"Cast node {node.name!r} to an unsupported type")
            return R.astype(self.tensor(ins[0]), to)
        if op == "Floor":
            return R.floor(self.tensor(ins[0]))
        if op == "Clip":
            lo, hi = (float(self.array(n, node)) for n in ins[1:3])
            return R.clip(self.tensor(ins[0]), lo, hi)
        if op == "Gather":
            # "wrap": ONNX's negative indices count from the end, and no index, whatever a foreign
            # graph computes, reads outside the table (TVM's default "fast" mode indexes unchecked).
            # pqcompile's own one Gather (the softmax's exp table, 32 lookups) pays ~10 instructions each.
            return R.take(self.tensor(ins[0]), self.tensor(ins[1]), axis=int(attrs.get("axis", 0)), mode="wrap")
        if op == "Where":
            return R.where(self.tensor(ins[0]), self.tensor(ins[1]), self.tensor(ins[2]))
        if op == "Concat":
            return R.concat([self.tensor(i) for i in ins], axis=int(attrs["axis"]))
        if op == "Slice":
            if len(ins) > 4 and ins[4] and np.any(self.array(ins[4], node) != 1):
                raise PqError(f"Slice node {node.name!r} with steps is not supported")
            starts, ends, axes = (self.array(n, node).tolist() for n in ins[1:4])
            shape = self.shape(self.tensor(ins[0]))
            for start, end, axis in zip(starts, ends, axes):
                if len(shape) == 3 and axis in (1, -2):   # the token axis: a window shifts rows
                    dim = shape[1]
                    start, end = (min(max(v + dim if v < 0 else v, 0), dim) for v in (start, end))
                    self.result.row_halo = max(self.result.row_halo, start, dim - end)
            return R.strided_slice(self.tensor(ins[0]), axes, starts, ends)
        if op in ("ReduceMax", "ReduceSum"):
            axes = attrs.get("axes") if op == "ReduceMax" else self.array(ins[1], node).tolist()
            fn = R.max if op == "ReduceMax" else R.sum
            return fn(self.tensor(ins[0]), axis=list(axes), keepdims=bool(attrs.get("keepdims", 1)))
        if op == "Identity":
            return self.tensor(ins[0])
        if op == "Scan":
            return self.scan(node)
        raise PqError(f"unsupported operator {op} (node {node.name!r}); pqcompile compiles the integer "
                      f"graphs that `pqcompile export` writes")

    def scan(self, node: onnx.NodeProto):
        found = is_fo_pool_scan(node)
        if found is None:
            raise PqError(f"Scan node {node.name!r} is not an fo-pooling recurrence pqcompile can compile")
        hidden, backward, lut = found
        pre, valid = self.tensor(node.input[1]), self.tensor(node.input[2])
        n_steps = self.shape(pre)[1]
        key = (n_steps, hidden, backward)
        if key not in self.kernels:
            name = f"fo_pool_{'bwd' if backward else 'fwd'}_t{n_steps}_h{hidden}"
            func = fo_pool_primfunc(n_steps, hidden, backward)
            self.kernels[key] = self.bb.add_func(static_rows(func, n_steps), name)
            self.result.row_kernels[name] = func
        self.result.const_names.setdefault(const_key(lut), "gate_lut")
        h = relax.call_tir(self.kernels[key], [pre, valid, relax.const(lut, "int8")],
                           relax.TensorType((1, n_steps, hidden), "int8"))
        return [None, h]   # the final state output is never used

    # -- graph ------------------------------------------------------------------------------
    def run(self) -> Imported:
        g = self.graph
        for t in g.initializer:
            self.values[t.name] = numpy_helper.to_array(t)
        params = []
        for vi in g.input:
            if vi.name in self.values:
                continue
            if vi.name not in INPUTS:
                raise PqError(f"unexpected graph input {vi.name!r} (expected {', '.join(INPUTS)})")
            dtype = DTYPES.get(vi.type.tensor_type.elem_type)
            if dtype != INPUTS[vi.name]:
                raise PqError(f"graph input {vi.name!r} is {dtype}, expected {INPUTS[vi.name]}")
            shape = _static_shape(vi)
            self.result.input_shapes[vi.name] = shape
            var = relax.Var(vi.name, relax.TensorType(shape, dtype))
            self.values[vi.name] = var
            params.append(var)
        if sorted(self.result.input_shapes) != sorted(INPUTS):
            raise PqError(f"graph inputs must be {', '.join(INPUTS)}; got {', '.join(self.result.input_shapes)}")
        if tuple(o.name for o in g.output) != OUTPUTS:
            raise PqError(f"graph outputs must be {', '.join(OUTPUTS)}")
        for o in g.output:
            self.result.output_shapes[o.name] = _static_shape(o)
        with self.bb.function("main", params):
            with self.bb.dataflow():
                for node in g.node:
                    if node.op_type == "Constant":
                        self.values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
                        continue
                    out = self.convert(node)
                    outs = out if isinstance(out, list) else [out]
                    for name, expr in zip(node.output, outs):
                        if expr is not None and name:
                            self.values[name] = self.bb.emit(expr) if not isinstance(expr, relax.Var) else expr
                results = []
                for o in g.output:
                    r = self.tensor(o.name)
                    if self.shape(r) != self.result.output_shapes[o.name]:
                        raise PqError(f"output {o.name!r} has shape {self.shape(r)}, the graph declares "
                                      f"{self.result.output_shapes[o.name]}")
                    results.append(r)
                out = self.bb.emit_output(relax.Tuple(results))
            self.bb.emit_func_output(out)
        self.result.mod = self.bb.get()
        return self.result


def load_onnx(path) -> onnx.ModelProto:
    """Read and check an ONNX file; PqError when it is not a usable model."""
    try:
        model = onnx.load(str(path))
    except FileNotFoundError:
        raise PqError(f"no such ONNX file: {path}") from None
    except Exception as e:  # noqa: BLE001 - protobuf raises several decode error types
        raise PqError(f"cannot parse ONNX file {path}: {type(e).__name__}: {e}".splitlines()[0]) from None
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise PqError(f"invalid ONNX model {path}: {str(e).splitlines()[0]}") from None
    return model


def import_onnx(model: onnx.ModelProto, pad_channels: bool = False) -> Imported:
    """The Relax module of an exported pqcompile graph (static shapes, supported ops only).
    pad_channels: a matmul over the token rows with an odd number (> 1) of output channels
    multiplies by its weights with a zero channel appended and drops that channel right after
    (for the 2-channel row kernels)."""
    try:
        return _Importer(model, pad_channels).run()
    except PqError:
        raise
    except Exception as e:  # noqa: BLE001 - a TVM type-inference failure means an ill-formed graph
        raise PqError(f"cannot import ONNX graph into TVM: {type(e).__name__}: {str(e).splitlines()[-1]}") from None
