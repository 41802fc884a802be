"""Fused PrimFuncs -> plain C kernels with pointer arguments and no TVM runtime.

TVM 0.27 has no unpacked C API any more; this gets one with its own IR (see
../shared/notes/tvm-0.27-bare-metal.md):
  * each buffer parameter becomes a raw pointer parameter plus a DeclBuffer over it;
  * whole-kernel scratch buffers (allocations left at the root block once TVM has moved every
    allocation to where it is used) become extra pointer parameters, so the driver can place
    them in its arena: no workspace allocator, no big stack arrays;
  * calling_conv=1 makes MakePackedAPI leave the functions alone; LowerTVMBuiltin is skipped.
The C printer is then TVM's own (`target.build.c`)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import tvm
from tvm import s_tir, tirx

from ..errors import PqError
from .rows import limit_rows, rows_var

C_TARGET = tvm.target.Target({"kind": "c"})
CALLING_CONV_UNPACKED = 1   # anything but kDefault (0): MakePackedAPI skips the function


@dataclass
class KernelParam:
    name: str
    dtype: str
    n_elems: int


@dataclass
class Kernel:
    """One C kernel: `args` match the call_tir arguments then outputs; `scratch` follow them;
    with `rows`, a trailing `int32_t rows` (rows.py: its token loops stop there)."""

    symbol: str
    args: list[KernelParam]
    scratch: list[KernelParam]
    func: tirx.PrimFunc
    rows: bool = False


def _buffer_param(buf) -> KernelParam:
    ty = buf.ty
    return KernelParam(buf.name, str(ty.dtype), int(np.prod([int(s) for s in ty.shape])))


_PLAN = tvm.ir.transform.Sequential([
    s_tir.transform.CanonicalizeLoop(),
    s_tir.transform.LowerInitBlock(),
    s_tir.transform.PlanAndUpdateBufferAllocationLocation(),
])

_LOWER = tvm.ir.transform.Sequential([
    s_tir.transform.ConvertBlocksToOpaque(), s_tir.transform.CompactBufferAllocation(),
    s_tir.transform.LowerMatchBuffer(), s_tir.transform.StmtSimplify(), s_tir.transform.LowerOpaqueBlock(),
    tirx.transform.FlattenBuffer(), tirx.transform.NarrowDataType(32), tirx.transform.ForceNarrowIndexToInt32(),
    tirx.transform.StorageRewrite(),
    tirx.transform.StmtSimplify(), tirx.transform.RemoveNoOp(),
])


def to_pointer_kernel(func: tirx.PrimFunc, symbol: str, max_tokens: int | None = None) -> Kernel:
    """A PrimFunc with Buffer parameters -> one with pointer parameters (scratch lifted).
    With max_tokens, its token loops run to a trailing `rows` parameter (rows.py); a PrimFunc
    may also bring its own scalar int32 `rows` parameter (the fo-pool kernel)."""
    func = _PLAN(tvm.IRModule({symbol: func.with_attr("global_symbol", symbol)}))[symbol]
    params = [p for p in func.params if not isinstance(p.ty, tvm.ir.PrimType)]
    scalars = [p for p in func.params if isinstance(p.ty, tvm.ir.PrimType)]
    if [(p.name, str(p.ty.dtype)) for p in scalars] not in ([], [("rows", "int32")]):
        raise PqError(f"internal: kernel {symbol} has scalar parameters other than int32 rows")
    body, scratch = func.body, []
    if isinstance(body, s_tir.SBlockRealize) and len(body.block.alloc_buffers):
        blk = body.block
        scratch = list(blk.alloc_buffers)
        blk = s_tir.SBlock(blk.iter_vars, blk.reads, blk.writes, blk.name_hint, blk.body, blk.init, [],
                           blk.match_buffers, blk.annotations)
        body = s_tir.SBlockRealize(body.iter_values, body.predicate, blk)
    if max_tokens is not None and not scalars:
        rows = rows_var()
        body, n_limited = limit_rows(body, max_tokens, rows)
        scalars = [rows] if n_limited else []
    buffers = params + scratch
    ptrs = [tirx.Var(f"{b.name}_ptr", tvm.ir.PointerType(tvm.ir.PrimType(str(b.ty.dtype)))) for b in buffers]
    for buf, ptr in zip(reversed(buffers), reversed(ptrs)):
        body = tirx.DeclBuffer(buf, body, data=ptr)
    new = tirx.PrimFunc(ptrs + scalars, body, attrs=func.attrs)
    new = new.with_attr("global_symbol", symbol).with_attr("calling_conv", CALLING_CONV_UNPACKED)
    return Kernel(symbol, [_buffer_param(b) for b in params], [_buffer_param(b) for b in scratch], new,
                  rows=bool(scalars))


# The only float immediates a pqcompile graph puts in kernels are 0.5 and clamp bounds; TVM's C
# printer writes floats with 7 significant digits, exact for those values and only for such.
_FLOAT_LITERAL = re.compile(r"(?<![\w.])-?\d+\.\d+e[+-]\d+f")
# Lines of TVM's C output that belong to its runtime, not to the kernels.
_RUNTIME_LINE = re.compile(r'^(#include "tvm/|#define TVM_EXPORTS|void\* __tvm_ffi__library_ctx)')


def _check_float_literals(src: str) -> None:
    for lit in set(_FLOAT_LITERAL.findall(src)):
        v = float(lit[:-1])
        if not (float(np.float32(v)) == v and (2 * v).is_integer() and abs(v) < 2**23):
            raise PqError(f"generated C has a float literal {lit} that TVM may have printed inexactly; "
                          f"scalar float constants other than 0.5 and clamp bounds are not supported")


def kernels_to_c(kernels: list[Kernel]) -> str:
    """C source of all kernels: TVM's printer, without the runtime lines and entry wrapper."""
    mod = tvm.IRModule({k.symbol: k.func for k in kernels})
    mod = _LOWER(mod)
    mod = tirx.transform.BindTarget(C_TARGET.with_host(C_TARGET))(mod)
    pipeline, _, _ = tvm.tirx.get_tir_pipeline("default")
    # _LOWER has compacted every buffer; a second compaction would size a row kernel's accumulators
    # (dot_intrin.py: written by a call, read by a loop to `rows`) by `rows`, not a constant
    with tvm.transform.PassContext(disabled_pass=["s_tir.CompactBufferAllocation"]):
        mod = tirx.transform.LowerIntrin()(pipeline(mod))
    src = tvm.get_global_func("target.build.c")(mod, C_TARGET).inspect_source()
    src = src.split("// CodegenC: NOTE: Auto-generated entry function")[0]
    lines = [line for line in src.splitlines() if not _RUNTIME_LINE.match(line)]
    src = "\n".join(lines) + "\n"
    if "TVMFFI" in src or "TVMBackend" in src or "__tvm" in src:
        raise PqError("internal: TVM runtime calls left in the generated kernels")
    _check_float_literals(src)
    return src
