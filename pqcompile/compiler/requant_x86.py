"""The host's requantisation epilogue as one vectorised call per matmul (the host target only).

After pq_gemm_host (gemm_x86.py) has written a matmul's int32 accumulators for all token rows and
channels, TVM's epilogue requantises them one output at a time:

    out[r, j] = int8(pq_floor_clamp(float32(acc[r, j] + bias[j]) * scale[j] + 0.5f, lo, hi))

(the bottleneck's with a row mask: masked rows take a fill value). About a quarter of the host's
time went there once the matmuls were fast. `vectorise_requant` replaces such an epilogue, when it
has exactly this form, by one call of pq_requant_host (pq_requant_host_masked) over all its rows
and channels, which computes the same float32 operations in vector registers (AVX-512: 16 outputs
per step, SSE2: 16 per 4 registers; the C's rounding: int32 -> float32 to nearest, the multiply
and the add each rounded once, no FMA; min/max in float before the truncating conversion, minus
1 below it: pq_floor_clamp's steps, requant.py), so every output is bit-identical. Any other
epilogue keeps TVM's loop.
"""
from __future__ import annotations

import tvm
from tvm import s_tir, tirx
from tvm.ir.expr import TensorLoad   # what tirx.BufferLoad() builds

from .requant import SYMBOL as FLOOR_CLAMP
from .tir_rebuild import extern_name, rebuild

SYMBOL = "pq_requant_host"
MASKED_SYMBOL = "pq_requant_host_masked"
SYMBOLS = (SYMBOL, MASKED_SYMBOL)

def _is_load(expr, dtype: str, ndim: int):
    return (isinstance(expr, TensorLoad) and str(expr.source.ty.dtype) == dtype
            and len(expr.indices) == ndim)


def _same(a, b) -> bool:
    return isinstance(a, tirx.Var) and a.same_as(b)


def _is_int(expr, value: int) -> bool:
    return isinstance(expr, tirx.IntImm) and int(expr) == value


def _channel(expr, v_ch, n: int, kind) -> bool:
    """expr is v_ch (kind None), or v_ch // m (kind FloorDiv) / v_ch % m (kind FloorMod) with
    m >= n, i.e. 0 / v_ch for v_ch < n (an accumulator of padded channels, [N / M, T, M])"""
    if kind is None:
        return _same(expr, v_ch)
    return (isinstance(expr, kind) and _same(expr.a, v_ch) and isinstance(expr.b, tirx.IntImm)
            and int(expr.b) >= n)


def _requant(value, v_row, v_ch, n: int):
    """(acc, bias, scale, lo, hi) of `int8(pq_floor_clamp(float32(acc[0, r, j] + bias[j]) *
    scale[j] + 0.5f, lo, hi))` over block iterators (v_row, v_ch < n), else None."""
    if not (isinstance(value, tirx.Cast) and str(value.ty.dtype) == "int8"
            and extern_name(value.value) == FLOOR_CLAMP):
        return None
    x, lo, hi = value.value.args[1:]
    if not (isinstance(lo, tirx.IntImm) and isinstance(hi, tirx.IntImm) and -128 <= int(lo) <= int(hi) <= 127):
        return None
    if not (isinstance(x, tirx.Add) and isinstance(x.b, tirx.FloatImm) and float(x.b.value) == 0.5
            and isinstance(x.a, tirx.Mul) and isinstance(x.a.a, tirx.Cast) and str(x.a.a.ty.dtype) == "float32"):
        return None
    total, scale = x.a.a.value, x.a.b
    if not (isinstance(total, tirx.Add) and _is_load(total.a, "int32", 3) and _is_load(total.b, "int32", 1)
            and _is_load(scale, "float32", 1)):
        return None
    acc, bias = total.a, total.b
    first, last = acc.indices[0], acc.indices[2]
    if not (((_is_int(first, 0) and _channel(last, v_ch, n, None))
             or (_channel(first, v_ch, n, tirx.FloorDiv) and _channel(last, v_ch, n, tirx.FloorMod)))
            and _same(acc.indices[1], v_row) and _same(bias.indices[0], v_ch) and _same(scale.indices[0], v_ch)):
        return None
    return acc, bias, scale, int(lo), int(hi)


def _region(buf):
    return tirx.BufferRegion(buf, [tvm.ir.Range.from_min_extent(0, d) for d in buf.ty.shape])


def _epilogue_call(loop):
    """The pq_requant_host[_masked] block for `for r < T: for j < N: block {out[0, r, j] = ...}`,
    else None."""
    inner = loop.body
    if not (isinstance(loop.extent, tirx.IntImm) and isinstance(inner, tirx.For)
            and isinstance(inner.extent, tirx.IntImm) and isinstance(inner.body, s_tir.SBlockRealize)):
        return None
    realize = inner.body
    block = realize.block
    if len(block.iter_vars) != 3 or not (_is_int(realize.iter_values[0], 0) and _same(realize.iter_values[1], loop.loop_var)
                                         and _same(realize.iter_values[2], inner.loop_var)):
        return None
    v0, v_row, v_ch = (iv.var for iv in block.iter_vars)
    store = block.body
    if not (isinstance(store, tirx.BufferStore) and str(store.buffer.ty.dtype) == "int8" and len(store.indices) == 3
            and _same(store.indices[0], v0) and _same(store.indices[1], v_row) and _same(store.indices[2], v_ch)):
        return None
    T, N = int(loop.extent), int(inner.extent)
    out = store.buffer
    value, mask, fill = store.value, None, None
    if isinstance(value, tirx.Select):   # where(mask[0, r, 0] > 0, requant, fill[()])
        cond = value.condition
        if not (isinstance(cond, tirx.LT) and _is_int(cond.a, 0) and isinstance(cond.b, tirx.Cast)
                and _is_load(cond.b.value, "bool", 3) and _same(cond.b.value.indices[0], v0)
                and _same(cond.b.value.indices[1], v_row) and _is_int(cond.b.value.indices[2], 0)
                and isinstance(value.false_value, TensorLoad) and str(value.false_value.ty.dtype) == "int8"
                and len(value.false_value.indices) == 0):
            return None
        mask, fill, value = cond.b.value, value.false_value, value.true_value
    parts = _requant(value, v_row, v_ch, N)
    if parts is None:
        return None
    acc, bias, scale, lo, hi = parts
    shapes = [[int(d) for d in b.ty.shape] for b in (out, acc.source, bias.source, scale.source)]
    if (shapes[0][:2] != [1, T] or shapes[0][2] < N or shapes[1][:2] != [1, T] or shapes[1][2] < N
            or shapes[2][0] < N or shapes[3][0] < N
            or (mask is not None and [int(d) for d in mask.source.ty.shape] != [1, T, 1])):
        return None
    i32 = lambda v: tirx.IntImm("int32", v)  # noqa: E731
    zero3 = [tirx.IntImm("int64", 0)] * 3

    def ptr(buf, ndim):
        return tirx.address_of(tirx.BufferLoad(buf, zero3[:ndim]))

    args = [ptr(out, 3), ptr(acc.source, 3), ptr(bias.source, 1), ptr(scale.source, 1)]
    reads = [acc.source, bias.source, scale.source]
    if mask is not None:
        args += [ptr(mask.source, 3), tirx.Cast("int32", fill)]
        reads += [mask.source, fill.source]
    args += [i32(lo), i32(hi), i32(N), i32(shapes[0][2]), i32(shapes[1][2]), i32(T)]
    call = tirx.call_extern("void", MASKED_SYMBOL if mask is not None else SYMBOL, *args)
    new = s_tir.SBlock([], [_region(b) for b in reads], [_region(out)], block.name_hint + "_host",
                       tirx.Evaluate(call), None, [], [], {})
    return s_tir.SBlockRealize([], tirx.const(True, "bool"), new)


def vectorise_requant(func: tirx.PrimFunc) -> tuple[tirx.PrimFunc, int]:
    """(func with each requantisation epilogue of the form above one pq_requant_host[_masked]
    call, number replaced). The call's last argument is the row count T, which rows.py then
    makes the kernel's run-time `rows`, as for the row kernels."""
    count = 0

    def visit(stmt):
        nonlocal count
        if isinstance(stmt, tirx.For):
            new = _epilogue_call(stmt)
            if new is not None:
                count += 1
                return new
        return stmt

    return func.with_body(rebuild(func.body, visit)), count


REQUANT_HOST_C = r"""
/* ---- the host's requantisation epilogue (requant_x86.py): all rows x channels of a matmul ---- */
/* out[r * ldo + j] = int8(pq_floor_clamp(float(acc[r * lda + j] + bias[j]) * scale[j] + 0.5f, lo, hi)),
   j < n, r < rows; with mask: rows whose mask is false take `fill` instead */
static inline void pq_requant_row_c(int8_t *out, const int32_t *acc, const int32_t *bias, const float *scale,
                                    int32_t lo, int32_t hi, int32_t j, int32_t n)
{
    for (; j < n; j++) {
        out[j] = (int8_t)pq_floor_clamp(((float)(acc[j] + bias[j])) * scale[j] + 5.000000e-01f, lo, hi);
    }
}

#if defined(__SSE2__) && defined(__x86_64__) && !defined(PQ_NO_X86_SIMD)
#include <emmintrin.h>
/* 4 outputs: float(acc + bias) * scale + 0.5 clamped to [lo, hi] in float (MINPS/MAXPS: x < hi ? x
   : hi, then c > lo ? c : lo, the C's order), truncated, minus 1 below the truncation */
static inline __m128i pq_requant4_sse2(const int32_t *acc, const int32_t *bias, const float *scale, __m128 flo,
                                       __m128 fhi)
{
    __m128i a = _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)acc),
                              _mm_loadu_si128((const __m128i *)(const void *)bias));
    __m128 f = _mm_add_ps(_mm_mul_ps(_mm_cvtepi32_ps(a), _mm_loadu_ps(scale)), _mm_set1_ps(0.5f));
    __m128i i;
    f = _mm_max_ps(_mm_min_ps(f, fhi), flo);
    i = _mm_cvttps_epi32(f);
    return _mm_add_epi32(i, _mm_castps_si128(_mm_cmplt_ps(f, _mm_cvtepi32_ps(i))));   /* + (-1) where below */
}

static inline void pq_requant_row_sse2(int8_t *out, const int32_t *acc, const int32_t *bias, const float *scale,
                                       int32_t lo, int32_t hi, int32_t n)
{
    const __m128 flo = _mm_set1_ps((float)lo), fhi = _mm_set1_ps((float)hi);
    int32_t j = 0;
    for (; j + 16 <= n; j += 16) {
        __m128i a = pq_requant4_sse2(acc + j, bias + j, scale + j, flo, fhi);
        __m128i b = pq_requant4_sse2(acc + j + 4, bias + j + 4, scale + j + 4, flo, fhi);
        __m128i c = pq_requant4_sse2(acc + j + 8, bias + j + 8, scale + j + 8, flo, fhi);
        __m128i d = pq_requant4_sse2(acc + j + 12, bias + j + 12, scale + j + 12, flo, fhi);
        _mm_storeu_si128((__m128i *)(void *)(out + j), _mm_packs_epi16(_mm_packs_epi32(a, b), _mm_packs_epi32(c, d)));
    }
    pq_requant_row_c(out, acc, bias, scale, lo, hi, j, n);
}
#define PQ_REQUANT_SSE2 1

#if defined(PQ_GEMM_V512)
/* AVX-512: 16 outputs a step, the last n % 16 under a mask */
PQ_GEMM_V512_FN __attribute__((noinline))
static void pq_requant_row_v512(int8_t *out, const int32_t *acc, const int32_t *bias, const float *scale,
                                int32_t lo, int32_t hi, int32_t n)
{
    const __m512 flo = _mm512_set1_ps((float)lo), fhi = _mm512_set1_ps((float)hi), half = _mm512_set1_ps(0.5f);
    const __m512i one = _mm512_set1_epi32(1);
    int32_t j;
    for (j = 0; j < n; j += 16) {
        const __mmask16 m = n - j >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - j)) - 1u);
        __m512i a = _mm512_add_epi32(_mm512_maskz_loadu_epi32(m, acc + j), _mm512_maskz_loadu_epi32(m, bias + j));
        __m512 f = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_maskz_loadu_ps(m, scale + j)), half);
        __m512i i;
        f = _mm512_max_ps(_mm512_min_ps(f, fhi), flo);
        i = _mm512_cvttps_epi32(f);
        i = _mm512_mask_sub_epi32(i, _mm512_cmp_ps_mask(f, _mm512_cvtepi32_ps(i), _CMP_LT_OQ), i, one);
        _mm512_mask_cvtepi32_storeu_epi8(out + j, m, i);
    }
}
#endif
#endif

static inline void pq_requant_row_host(int8_t *out, const int32_t *acc, const int32_t *bias, const float *scale,
                                       int32_t lo, int32_t hi, int32_t n)
{
#if defined(PQ_REQUANT_SSE2)
#if defined(PQ_GEMM_V512)
    if (pq_gemm_level() == 2) {
        pq_requant_row_v512(out, acc, bias, scale, lo, hi, n);
        return;
    }
#endif
    pq_requant_row_sse2(out, acc, bias, scale, lo, hi, n);
#else
    pq_requant_row_c(out, acc, bias, scale, lo, hi, 0, n);
#endif
}

static inline void pq_requant_host(int8_t *out, int32_t *acc, int32_t *bias, float *scale, int32_t lo, int32_t hi,
                                   int32_t n, int32_t ldo, int32_t lda, int32_t rows)
{
    int32_t r;
    for (r = 0; r < rows; r++) {
        pq_requant_row_host(out + r * ldo, acc + r * lda, bias, scale, lo, hi, n);
    }
}

static inline void pq_requant_host_masked(int8_t *out, int32_t *acc, int32_t *bias, float *scale, bool *mask,
                                          int32_t fill, int32_t lo, int32_t hi, int32_t n, int32_t ldo,
                                          int32_t lda, int32_t rows)
{
    int32_t r;
    for (r = 0; r < rows; r++) {
        if (mask[r]) {
            pq_requant_row_host(out + r * ldo, acc + r * lda, bias, scale, lo, hi, n);
        } else {
            memset(out + r * ldo, (int8_t)fill, (size_t)n);
        }
    }
}
"""
