"""Length-aware kernels: loops over the token axis run to a run-time `rows`, not to T.

By the integer semantics (docs/integer-semantics.md) the outputs at t < L do not depend on T
once T >= L: padding rows are zero, the backward state is reset at t >= L and attention pools
only valid rows. So every kernel may stop its token loop at `rows = min(T, L + halo)`, where
`halo` is the farthest any window (an ONNX Slice along the token axis) shifts rows: each
tensor's rows below `rows` are then exactly what the static graph computes (the bwd window of
row L-1 reads rows up to L + halo - 1, computed and zero), and rows >= `rows` are never read
for a row below L. Rows >= `rows` of every buffer, the slot logits included, are not written.

A token loop is found in the scheduled TIR (blocks still present) as a serial loop of extent T
whose variable is bound to a block iterator that indexes axis 1 of a [1, T, C] buffer exactly:
in a pqcompile graph every rank-3 tensor is [1, tokens, channels]. Its extent becomes the
kernel's trailing `int32_t rows` parameter. Kernels without such a loop are left as they are
(computing all T rows is always correct: only cheaper to skip).

A row micro-kernel (dot_intrin.py: pq_dot{1,2}r_s8) takes the token loop inside its call: its
last argument, the number of token rows (T), becomes `rows` too."""
from __future__ import annotations

import tvm
from tvm import s_tir, tirx

from .dot_intrin import ROW_KERNELS
from .tir_rebuild import rebuild, walk

_CALL_EXTERN = tvm.ir.Op.get("tirx.call_extern")


def _is_token_axis_access(region, var, T: int) -> bool:
    shape = region.source.ty.shape
    if len(shape) != 3 or not all(isinstance(s, tirx.IntImm) for s in shape):
        return False
    if int(shape[0]) != 1 or int(shape[1]) != T:
        return False
    rng = region.region[1]
    return rng.min.same_as(var) and isinstance(rng.extent, tirx.IntImm) and int(rng.extent) == 1


def token_loops(body, T: int) -> list:
    """Loop variables of the token loops in `body` (see the module docstring)."""
    found: list = []

    def visit(stmt):
        if isinstance(stmt, s_tir.SBlockRealize):
            blk = stmt.block
            for iv, value in zip(blk.iter_vars, stmt.iter_values):
                if isinstance(value, tirx.Var) and any(
                        _is_token_axis_access(r, iv.var, T) for r in list(blk.reads) + list(blk.writes)):
                    if not any(value.same_as(v) for v in found):
                        found.append(value)

    walk(body, visit)
    return found


def _row_kernel_call(stmt):
    """The call of a row micro-kernel that `stmt` is, or None."""
    if not (isinstance(stmt, tirx.Evaluate) and isinstance(stmt.value, tvm.ir.Call)
            and stmt.value.op.same_as(_CALL_EXTERN)):
        return None
    name = stmt.value.args[0]
    return stmt.value if isinstance(name, tvm.ir.StringImm) and name.value in ROW_KERNELS else None


def limit_rows(body, T: int, rows: tirx.Var):
    """(body with every token loop's extent, and every row kernel's row count, replaced by `rows`,
    number of loops and calls replaced)."""
    loops = token_loops(body, T)
    calls: list = []
    walk(body, lambda stmt: calls.append(_row_kernel_call(stmt)))
    count = 0

    def limit(stmt):
        nonlocal count
        if (isinstance(stmt, tirx.For) and any(stmt.loop_var.same_as(v) for v in loops)
                and isinstance(stmt.extent, tirx.IntImm) and int(stmt.extent) == T
                and stmt.kind == tirx.ForKind.SERIAL):
            count += 1
            dtype = str(stmt.loop_var.ty.dtype)
            extent = rows if dtype == "int32" else tirx.Cast(dtype, rows)
            return tirx.For(stmt.loop_var, stmt.min, extent, stmt.kind, stmt.body, stmt.thread_binding,
                            stmt.annotations)
        call = _row_kernel_call(stmt)
        if call is not None and isinstance(call.args[-1], tirx.IntImm) and int(call.args[-1]) == T:
            count += 1
            return tirx.Evaluate(tirx.call_extern("void", call.args[0].value, *call.args[1:-1], rows))
        return stmt

    return (rebuild(body, limit), count) if loops or any(c is not None for c in calls) else (body, 0)


def rows_var() -> tirx.Var:
    return tirx.Var("rows", tvm.ir.PrimType("int32"))
