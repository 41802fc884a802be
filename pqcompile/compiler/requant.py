"""The requantisation's floor, clamp and int8 conversion as one inline C function.

Every requantisation in a pqcompile graph ends `Floor -> Clip(lo, hi) -> Cast(int8)`
(docs/integer-semantics.md: q = floor(p + 0.5f), then clamp), which TVM prints as a float
`floorf`, two float ternaries and a float-to-int8 conversion: on Cortex-M7 VRINTM, two compare
-and-branch pairs and a conversion through the stack (~23 instructions per output with the loads
and the multiply), on Cortex-M4 a libm `floorf` call (FPv4 has no rounding instruction).
`fuse_floor_clamp` replaces each `int(max(min(floor(x), hi), lo))` in a scheduled kernel by
`pq_floor_clamp(x, lo, hi)` (x computed as before: the float32 multiply and add are untouched),
an int32 function in the kernels file:

- FPv5 (Cortex-M7 with its double- or single-precision FPU, Armv8-M and Armv8-A AArch32): VCVTM
  (convert rounding toward minus infinity, saturating to int32), then SSAT/USAT: 3 instructions.
  gcc's macros do not tell FPv5-SP (-mfpu=fpv5-sp-d16) from FPv4: such a target gets the define
  PQ_FPV5 from its cflags (targets.py);
- other VFP cores (Cortex-M4's FPv4, ARMv7-A): VCVT (toward zero, saturating), VCVT back, a
  compare, SSAT #16 (so the correction below cannot overflow), minus 1 when x is below its
  truncation (a negative non-integer), SSAT/USAT: 9 instructions;
- anywhere else (host, AArch64): portable C: clamp in float first (so the int32 conversion is
  defined), truncate, minus 1 when below.

All three equal clamp(floor(x), lo, hi) exactly for every float x but NaN, the clamp bounds being
integers: floor is monotonic and floor(lo) = lo, floor(hi) = hi, so clamping before or after the
floor is the same, and a saturated conversion of a value beyond the bounds still clamps to the
bound (tests/test_floor_clamp.py sweeps them against floorf on host, cortex-m7 and cortex-m4). x
cannot be NaN in a requantisation: float32(int32 accumulator) is finite, its scale is a finite
constant (compile.py refuses a graph whose float constants are not all finite), so p is finite or
+-inf, and the attention pooling divides by Z >= 32768. (With a NaN the portable C gives hi, as
the ternaries did; the ARM paths give a value in [lo, hi].)"""
from __future__ import annotations

import numpy as np
import tvm
from tvm import tirx

from .tir_rebuild import rebuild

SYMBOL = "pq_floor_clamp"
MIN_BOUND, MAX_BOUND = -32768, 32767   # the bounds the FPv4 path handles (its SSAT #16)

REQUANT_C = r"""
/* pq_floor_clamp(x, lo, hi) = clamp(floor(x), lo, hi) as int32 for float x (not NaN) and integer
   bounds -32768 <= lo <= hi <= 32767: the requantisation's floorf, clamps and conversion in one
   (requant.py; same result as the float floorf and ternaries for every x but NaN) */
#if defined(__ARM_FEATURE_SAT)
#include <arm_acle.h>
#endif
static inline int32_t pq_clamp_s32(int32_t i, int32_t lo, int32_t hi)
{
#if defined(__ARM_FEATURE_SAT)
    if (lo == -128 && hi == 127) {
        return __ssat(i, 8);
    }
    if (lo == 0 && hi == 127) {
        return (int32_t)__usat(i, 7);
    }
#endif
    return i < lo ? lo : (i > hi ? hi : i);
}

#if defined(__ARM_FP) && (__ARM_FP & 4) && !defined(__aarch64__) && defined(__ARM_FEATURE_SAT) &&       \
    (defined(__ARM_FEATURE_DIRECTED_ROUNDING) || (defined(PQ_FPV5) && PQ_FPV5) ||                     \
     (defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M' && ((__ARM_FP & 8) || __ARM_ARCH >= 8)))
/* FPv5: VCVTM rounds toward minus infinity and saturates to int32 (+-inf, huge values included);
   PQ_FPV5 (targets.py, from -mfpu=fpv5*): FPv5-SP, which gcc's macros do not tell from FPv4 */
static inline int32_t pq_floor_clamp(float x, int32_t lo, int32_t hi)
{
    float t;
    int32_t i;
    __asm__("vcvtm.s32.f32 %0, %1" : "=t"(t) : "t"(x));
    memcpy(&i, &t, 4);
    return pq_clamp_s32(i, lo, hi);
}
#elif defined(__ARM_FP) && (__ARM_FP & 4) && !defined(__aarch64__) && defined(__ARM_FEATURE_SAT)
/* VFP without directed rounding: VCVT truncates toward zero and saturates to int32; below its
   truncation (a negative non-integer) x's floor is one less. SSAT #16 first: the decrement then
   cannot wrap (INT32_MIN - 1), and any value it clamps is beyond every bound anyway. */
static inline int32_t pq_floor_clamp(float x, int32_t lo, int32_t hi)
{
    float t, u;
    int32_t i;
    __asm__("vcvt.s32.f32 %0, %1" : "=t"(t) : "t"(x));
    __asm__("vcvt.f32.s32 %0, %1" : "=t"(u) : "t"(t));
    memcpy(&i, &t, 4);
    i = __ssat(i, 16);
    __asm__("vcmp.f32 %1, %2\n\t"
            "vmrs APSR_nzcv, fpscr\n\t"
            "it mi\n\t"
            "submi %0, %0, #1"
            : "+r"(i) : "t"(x), "t"(u) : "cc");
    return pq_clamp_s32(i, lo, hi);
}
#else
/* portable: clamp in float first (the ternaries' order: NaN gives hi), so the conversion is defined */
static inline int32_t pq_floor_clamp(float x, int32_t lo, int32_t hi)
{
    float c = x < (float)hi ? x : (float)hi;
    int32_t i;
    c = c > (float)lo ? c : (float)lo;
    i = (int32_t)c;
    return i - (c < (float)i);
}
#endif
"""

_INT_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767), "int32": (-2**31, 2**31 - 1)}
_BINARY = (tirx.Add, tirx.Sub, tirx.Mul, tirx.Div, tirx.Min, tirx.Max, tirx.FloorDiv, tirx.FloorMod,
           tirx.LT, tirx.LE, tirx.GT, tirx.GE, tirx.EQ, tirx.NE, tirx.And, tirx.Or)


def _bound(e) -> int | None:
    """An integer-valued float32 immediate as an int, else None."""
    if not isinstance(e, tirx.FloatImm) or str(e.ty.dtype) != "float32":
        return None
    v = float(e.value)
    return int(v) if v.is_integer() and MIN_BOUND <= v <= MAX_BOUND else None


def _floor_clamp(e):
    """pq_floor_clamp for `int(max(min(floor(x), hi), lo))` (x float32, integer bounds inside the
    int type and [-32768, 32767], lo <= hi), else None."""
    if not isinstance(e, tirx.Cast) or str(e.ty.dtype) not in _INT_RANGE:
        return None
    v = e.value
    if not (isinstance(v, tirx.Max) and isinstance(v.a, tirx.Min)):
        return None
    f, hi, lo = v.a.a, _bound(v.a.b), _bound(v.b)
    if not (isinstance(f, tvm.ir.Call) and isinstance(f.op, tvm.ir.Op) and f.op.name == "tirx.floor"
            and len(f.args) == 1 and str(f.args[0].ty.dtype) == "float32"):
        return None
    dmin, dmax = _INT_RANGE[str(e.ty.dtype)]
    if lo is None or hi is None or not dmin <= lo <= hi <= dmax:
        return None
    call = tirx.call_extern("int32", SYMBOL, f.args[0], tirx.IntImm("int32", lo), tirx.IntImm("int32", hi))
    return call if str(e.ty.dtype) == "int32" else tirx.Cast(str(e.ty.dtype), call)


def _rewrite(e, count: list[int]):
    """e with every floor-clamp-convert replaced, through Cast, Select and binary operators (other
    expressions are left as they are: correct, just not rewritten)."""
    new = _floor_clamp(e)
    if new is not None:
        count[0] += 1
        return new
    if isinstance(e, tirx.Cast):
        v = _rewrite(e.value, count)
        return e if v.same_as(e.value) else tirx.Cast(str(e.ty.dtype), v)
    if isinstance(e, tirx.Select):
        parts = [_rewrite(x, count) for x in (e.condition, e.true_value, e.false_value)]
        same = all(p.same_as(x) for p, x in zip(parts, (e.condition, e.true_value, e.false_value)))
        return e if same else tirx.Select(*parts)
    if isinstance(e, _BINARY):
        a, b = _rewrite(e.a, count), _rewrite(e.b, count)
        return e if a.same_as(e.a) and b.same_as(e.b) else type(e)(a, b)
    return e


def fuse_floor_clamp(func: tirx.PrimFunc) -> tuple[tirx.PrimFunc, int]:
    """(func with each `int(clamp(floor(x), lo, hi))` stored by a BufferStore computed by
    pq_floor_clamp, how many were replaced)."""
    count = [0]

    def visit(stmt):
        if isinstance(stmt, tirx.BufferStore):
            value = _rewrite(stmt.value, count)
            if not value.same_as(stmt.value):
                return tirx.BufferStore(stmt.buffer, value, stmt.indices)
        return stmt

    return func.with_body(rebuild(func.body, visit)), count[0]


def not_finite_constants(consts, sources) -> list[str]:
    """The sources of the float constants holding a NaN or an infinity (compile.py refuses them:
    requantisation scales must be finite, pq_floor_clamp assumes no NaN)."""
    return [src for (_, arr), src in zip(consts, sources)
            if np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all()]
