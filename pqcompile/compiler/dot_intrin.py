"""The int8 dot product as C micro-kernels that the matmul kernels call: every matmul reduction
becomes one call of `pq_dot_s8(a, w, n)` (one output channel), `pq_dot{2,4}_s8(c, a, w, n)`
(2 or 4 output channels, rows of w n apart, sharing each activation load) or
`pq_dotn_s8(c, a, w, n, m)` (all m channels of a row, 4 at a time, when 4 does not divide m):
a tensorization, done in TVM's IR.

On cores with the DSP extension (Cortex-M4/M7/M33/M55, ARMv7-A: __ARM_FEATURE_DSP) they read 4
int8 of each operand in one load, sign-extend them to two int16 pairs (SXTB16, and SXTB16 with
ROR #8 for the odd bytes) and multiply-accumulate each pair with SMLAD: 2 products per
instruction; elsewhere they are plain C loops. Both compute the exact int32 sum (int8 x int8
products of at most 2^14, far from overflowing), so every target stays bit-exact.

How: the schedule blockizes the reduction loop, or the channel-group loop around it
(`mark_dot`), and, once scheduled, `use_dot_kernel` replaces each such block's body
`[for j:] for k: C[.., j] += int32(A[.., k]) * int32(W[j, k])` by the call on the addresses of
its first elements. Not `Schedule.tensorize` with a TensorIntrin: in TVM 0.27 (apache-tvm
0.27.0.post1) tensorize segfaults, even with an intrinsic whose implementation is its own
description."""
from __future__ import annotations

from tvm import s_tir, tirx
from tvm.ir.expr import TensorLoad   # what tirx.BufferLoad() builds
from tvm.sym import Analyzer

from .tir_rebuild import rebuild

DOT_MARK = "pq_dot_s8"   # annotation on a blockized reduction for use_dot_kernel
CHANNELS = (4, 2)         # output channels per micro-kernel call, first that divides the count

MICRO_KERNEL_C = r"""
#include <string.h>
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#include <arm_acle.h>
/* bytes 1 and 3 of x, sign-extended to int16 (gcc does not fold a rotate into SXTB16) */
static inline int32_t pq_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#endif

/* sum of a[i] * b[i], i < n, as int32 (the int8 matmuls' reduction); the signature is the one TVM
   declares for the call it emits */
static inline int32_t pq_dot_s8(int8_t *a, int8_t *b, int32_t n)
{
    int32_t acc = 0, i = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    for (; i + 8 <= n; i += 8) {
        int32_t x0, y0, x1, y1;
        memcpy(&x0, a + i, 4);   /* unaligned 32-bit loads (LDR) */
        memcpy(&y0, b + i, 4);
        memcpy(&x1, a + i + 4, 4);
        memcpy(&y1, b + i + 4, 4);
        acc = __smlad(__sxtb16(x0), __sxtb16(y0), acc);
        acc = __smlad(pq_sxtb16_ror8(x0), pq_sxtb16_ror8(y0), acc);
        acc = __smlad(__sxtb16(x1), __sxtb16(y1), acc);
        acc = __smlad(pq_sxtb16_ror8(x1), pq_sxtb16_ror8(y1), acc);
    }
#endif
    for (; i < n; i++) {
        acc += (int32_t)a[i] * (int32_t)b[i];
    }
    return acc;
}

/* c[j] += sum of a[i] * w[j * n + i], i < n, for j = 0, 1: two output channels share each load
   and sign extension of the activations */
static inline void pq_dot2_s8(int32_t *c, int8_t *a, int8_t *w, int32_t n)
{
    int32_t acc0 = c[0], acc1 = c[1], i = 0;
    const int8_t *w1 = w + n;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    for (; i + 4 <= n; i += 4) {
        int32_t x, y0, y1, xe, xo;
        memcpy(&x, a + i, 4);
        memcpy(&y0, w + i, 4);
        memcpy(&y1, w1 + i, 4);
        xe = __sxtb16(x);
        xo = pq_sxtb16_ror8(x);
        acc0 = __smlad(xe, __sxtb16(y0), acc0);
        acc0 = __smlad(xo, pq_sxtb16_ror8(y0), acc0);
        acc1 = __smlad(xe, __sxtb16(y1), acc1);
        acc1 = __smlad(xo, pq_sxtb16_ror8(y1), acc1);
    }
#endif
    for (; i < n; i++) {
        acc0 += (int32_t)a[i] * (int32_t)w[i];
        acc1 += (int32_t)a[i] * (int32_t)w1[i];
    }
    c[0] = acc0;
    c[1] = acc1;
}

/* the same for four output channels, j = 0..3 */
static inline void pq_dot4_s8(int32_t *c, int8_t *a, int8_t *w, int32_t n)
{
    int32_t acc0 = c[0], acc1 = c[1], acc2 = c[2], acc3 = c[3], i = 0;
    const int8_t *w1 = w + n, *w2 = w + 2 * n, *w3 = w + 3 * n;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    for (; i + 4 <= n; i += 4) {
        int32_t x, y, xe, xo;
        memcpy(&x, a + i, 4);
        xe = __sxtb16(x);
        xo = pq_sxtb16_ror8(x);
        memcpy(&y, w + i, 4);
        acc0 = __smlad(xo, pq_sxtb16_ror8(y), __smlad(xe, __sxtb16(y), acc0));
        memcpy(&y, w1 + i, 4);
        acc1 = __smlad(xo, pq_sxtb16_ror8(y), __smlad(xe, __sxtb16(y), acc1));
        memcpy(&y, w2 + i, 4);
        acc2 = __smlad(xo, pq_sxtb16_ror8(y), __smlad(xe, __sxtb16(y), acc2));
        memcpy(&y, w3 + i, 4);
        acc3 = __smlad(xo, pq_sxtb16_ror8(y), __smlad(xe, __sxtb16(y), acc3));
    }
#endif
    for (; i < n; i++) {
        acc0 += (int32_t)a[i] * (int32_t)w[i];
        acc1 += (int32_t)a[i] * (int32_t)w1[i];
        acc2 += (int32_t)a[i] * (int32_t)w2[i];
        acc3 += (int32_t)a[i] * (int32_t)w3[i];
    }
    c[0] = acc0;
    c[1] = acc1;
    c[2] = acc2;
    c[3] = acc3;
}

/* c[j] += sum of a[i] * w[j * n + i], i < n, for j < m (any m): 4 channels at a time, then 2, then 1 */
static inline void pq_dotn_s8(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t m)
{
    int32_t j = 0;

    for (; j + 4 <= m; j += 4) {
        pq_dot4_s8(c + j, a, w + j * n, n);
    }
    if (j + 2 <= m) {
        pq_dot2_s8(c + j, a, w + j * n, n);
        j += 2;
    }
    if (j < m) {
        c[j] += pq_dot_s8(a, w + j * n, n);
    }
}
"""


def mark_dot(sch: s_tir.Schedule, loop) -> bool:
    """Blockize the subtree of `loop` (a matmul's reduction loop, or the 2-channel loop around
    it, after decompose_reduction) for use_dot_kernel."""
    try:
        outer = sch.blockize(loop)
        sch.annotate(outer, DOT_MARK, 1)
    except s_tir.ScheduleError:
        return False
    return True


def _dot_stmt(block):
    """The pq_dot_s8 / pq_dot{2,4}_s8 / pq_dotn_s8 statement for a marked block, or None when its
    body is not `[for j < m:] for k < K: C[.., j] += int32(A[.., k]) * int32(W[j, k])` (m >= 2)."""
    loops, stmt = [], block.body
    while isinstance(stmt, tirx.For):
        if not (isinstance(stmt.min, tirx.IntImm) and int(stmt.min) == 0 and isinstance(stmt.extent, tirx.IntImm)):
            return None
        loops.append(stmt)
        stmt = stmt.body
    if not isinstance(stmt, s_tir.SBlockRealize) or len(loops) not in (1, 2):
        return None
    inner, store = stmt.block, stmt.block.body
    if len(inner.iter_vars) != len(loops) or not all(v.same_as(l.loop_var) for v, l in zip(stmt.iter_values, loops)):
        return None
    K = int(loops[-1].extent)
    if len(loops) == 2 and int(loops[0].extent) < 2:
        return None
    ivars = [iv.var for iv in inner.iter_vars]
    if not (isinstance(store, tirx.BufferStore) and isinstance(store.value, tirx.Add)
            and isinstance(store.value.b, tirx.Mul)):
        return None
    acc, mul = store.value.a, store.value.b
    loads = [c.value if isinstance(c, tirx.Cast) and str(c.ty.dtype) == "int32" else None for c in (mul.a, mul.b)]
    if not (isinstance(acc, TensorLoad) and acc.source.same_as(store.buffer)
            and all(isinstance(l, TensorLoad) and str(l.ty.dtype) == "int8" and l.indices[-1].same_as(ivars[-1])
                    for l in loads)):
        return None

    def at(indices, j: int) -> list:
        """indices with the channel iterator at j and the reduction iterator at 0"""
        ana = Analyzer()
        for v, value in zip(ivars, [j, 0][-len(ivars):]):
            ana.bind(v, tirx.IntImm(str(v.ty.dtype), value))
        return [ana.simplify(i) for i in indices]

    def step(indices) -> list:
        """how each index moves from channel 0 to channel 1"""
        return [Analyzer().simplify(b - a) for a, b in zip(at(indices, 0), at(indices, 1))]

    ptr = lambda buf, idx: tirx.address_of(tirx.BufferLoad(buf, idx))  # noqa: E731
    if len(loops) == 1:
        a, w = loads
        call = tirx.call_extern("int32", "pq_dot_s8", ptr(a.source, at(a.indices, 0)), ptr(w.source, at(w.indices, 0)),
                                tirx.IntImm("int32", K))
        return tirx.BufferStore(store.buffer, acc + call, store.indices)
    moves = [[int(d) if isinstance(d, tirx.IntImm) else None for d in step(l.indices)] for l in loads]
    if [0] * len(moves[0]) == moves[0]:
        a, w = loads            # the activation is the same for both channels, W moves one row
    else:
        (w, a), moves = loads, moves[::-1]
    shape = [int(d) for d in w.source.ty.shape]
    if (moves[0] != [0] * len(moves[0]) or moves[1] != [0] * (len(moves[1]) - 2) + [1, 0] or shape[-1] != K
            or step(store.indices)[-1] is None or [int(d) for d in step(store.indices)] != [0] * (len(store.indices) - 1) + [1]):
        return None
    m = int(loops[0].extent)
    args = [ptr(store.buffer, at(store.indices, 0)), ptr(a.source, at(a.indices, 0)), ptr(w.source, at(w.indices, 0)),
            tirx.IntImm("int32", K)]
    if m in CHANNELS:
        return tirx.Evaluate(tirx.call_extern("void", f"pq_dot{m}_s8", *args))
    return tirx.Evaluate(tirx.call_extern("void", "pq_dotn_s8", *args, tirx.IntImm("int32", m)))


def use_dot_kernel(func: tirx.PrimFunc) -> tuple[tirx.PrimFunc, int]:
    """(func with every marked block's dot products replaced by a micro-kernel call, number
    replaced). A marked block that does not match keeps its loops (correct, just slower)."""
    count = 0

    def replace(stmt):
        nonlocal count
        if isinstance(stmt, s_tir.SBlockRealize) and DOT_MARK in stmt.block.annotations:
            b = stmt.block
            body = _dot_stmt(b)
            annotations = {k: v for k, v in b.annotations.items() if k != DOT_MARK}
            count += body is not None
            blk = s_tir.SBlock(b.iter_vars, b.reads, b.writes, b.name_hint, body if body is not None else b.body,
                               b.init, b.alloc_buffers, b.match_buffers, annotations)
            return s_tir.SBlockRealize(stmt.iter_values, stmt.predicate, blk)
        return stmt

    return func.with_body(rebuild(func.body, replace)), count
