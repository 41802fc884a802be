"""The fo-pooling recurrence as one hand-written TIR kernel (what a recognised Scan compiles to).

One kernel per direction: for each hidden unit the state U lives in a register while t walks the
sequence, so the whole recurrence is H x rows steps of a few integer ops, with the gate lookups
(TANH_Q7 / SIGMOID_Q7, taken from the Scan body) fused in. docs/integer-semantics.md, step 2.

The kernel walks the first `rows` steps (forward: t = 0..rows-1, backward: t = rows-1..0); rows
>= L is all the semantics needs (the state is reset at t >= L, so the backward direction may
start anywhere at or past L - 1), see rows.py. Relax sees it specialised to rows = T."""
from __future__ import annotations

from tvm.script import tirx as T

from ..quant.tables import STATE_OFFSET

OPAQUE = 8  # relax OpPatternKind.kOpaque: FuseOps must not merge anything into this kernel


def fo_pool_primfunc(n_steps: int, hidden: int, backward: bool):
    """PrimFunc(pre int8 [1, T, 3H], valid bool [1, T], lut int8 [512], h int8 [1, T, H], rows int32)."""
    H, TT = hidden, n_steps
    step, last = (-1, 1) if backward else (1, 0)   # t = s * step + (rows - 1) * last

    @T.prim_func(private=True)
    def fo_pool(pre: T.Buffer((1, TT, 3 * H), "int8"), valid: T.Buffer((1, TT), "bool"),
                lut: T.Buffer((512,), "int8"), h: T.Buffer((1, TT, H), "int8"), rows: T.int32):
        T.func_attr({"op_pattern": OPAQUE, "tirx.noalias": True})
        state = T.alloc_buffer((1,), "int32")
        for j in range(H):
            state[0] = STATE_OFFSET
            for s in range(rows):
                # z = TANH_Q7[pre_z], f = SIGMOID_Q7[pre_f], o = SIGMOID_Q7[pre_o] (written inline: TVMScript
                # would turn named temporaries into local-scope buffers, which the C printer rejects)
                if valid[0, s * step + (rows - 1) * last]:
                    state[0] = T.shift_right(
                        T.Cast("int32", lut[T.Cast("int32", pre[0, s * step + (rows - 1) * last, H + j]) + 384])
                        * state[0]
                        + (128 - T.Cast("int32", lut[T.Cast("int32", pre[0, s * step + (rows - 1) * last, H + j]) + 384]))
                        * (T.Cast("int32", lut[T.Cast("int32", pre[0, s * step + (rows - 1) * last, j]) + 128]) * 256
                           + STATE_OFFSET)
                        + 64, 7)
                else:
                    state[0] = STATE_OFFSET
                h[0, s * step + (rows - 1) * last, j] = T.Cast("int8", T.shift_right(
                    T.Cast("int32", lut[T.Cast("int32", pre[0, s * step + (rows - 1) * last, 2 * H + j]) + 384])
                    * state[0] + 16384, 15)
                    - T.Cast("int32", lut[T.Cast("int32", pre[0, s * step + (rows - 1) * last, 2 * H + j]) + 384]))

    return fo_pool


def static_rows(func, n_steps: int):
    """The kernel with rows = T (no scalar parameter): the form Relax's call_tir calls."""
    return func.specialize({func.params[-1]: n_steps})
