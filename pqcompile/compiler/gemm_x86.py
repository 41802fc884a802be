"""The host's matmul over the token rows: one call for all rows and all output channels, on weights
stored in a layout made for it (the host target only; Arm builds never see it).

The row kernels of the device targets (dot_intrin.py, dot_s4.py, dot_x86.py) take two output
channels per call and reduce each (row, channel) accumulator across its vector lanes at the end:
on a 2-core server CPU with AVX-512 that per-call work (the reductions, the weight split, the call
itself) cost more than the multiplies. pq_gemm_host computes C[r, j] = sum_i x[r, i] * W[j, i] for
every row r < rows and channel j < n in one call, in the broadcast form: the weights of 16
channels x 4 depths sit in 64 consecutive bytes, and one VPDPBUSD multiplies them by 4 bytes of a
row broadcast to all lanes, adding into 16 channel accumulators: no reduction across lanes ever,
each weight load shared by up to 16 rows. Measured on the bundled model (docs/compiler.md): the
host network 3.1x faster than the 2-channel build, 216x the MiniLM teacher's latency.

Layout (`gemm_layout`): for channel block b (channels 16b .. 16b + 15) and depth group q (depths
4q .. 4q + 3), byte ((b * Q + q) * 16 + j) * 4 + i holds W[16b + j, 4q + i] + offset as an unsigned
byte, Q = ceil(K / 4); a channel or depth past the matrix holds 0 (it adds nothing). offset is 8
for 4-bit weights (every byte 0..15) and 128 for int8 weights (0..255): VPDPBUSD multiplies
unsigned by signed bytes, so the weights take the unsigned side (the activations, signed int8, are
the broadcast operand), and the offset's share, offset * (the row's sum of x), is subtracted at
the end. Exact in every path: products and sums are integers far inside int32.

Paths, chosen at run time (the program still runs on any x86-64; none needs an -m flag):
  - AVX-512 VNNI (`avx512f,avx512bw,avx512vnni`): 16 channels per ZMM register, up to 16 rows per
    pass (16 accumulators; the rows split into passes of equal size, each streaming the weights
    once), one VPDPBUSD with a broadcast operand per row and 4 depths: 64 MACs an instruction;
    -DPQ_NO_X86_VNNI leaves it out;
  - AVX2: 8 channels per YMM half of a block; with offset 8 (4 rows per pass) VPMADDUBSW (the
    products' pair sums at most 2 * 15 * 128, exact in int16) summed in int16 over 8 depth groups,
    then VPMADDWD by 1 into int32; with offset 128 (2 rows per pass; a pair sum could reach
    2 * 255 * 128, past int16) both sides extended to int16 and VPMADDWD; -DPQ_NO_X86_AVX2 leaves
    it out;
  - SSE2: the weights zero-extended to int16, the row's 4 bytes sign-extended, PMADDWD, pair sums
    added at the end; one row at a time (slower than the 2-channel SSE2 kernels: not tuned, only
    CPUs without AVX2 take it);
  - portable C (and -DPQ_NO_X86_SIMD): the same sums in loops.
The last k % 4 depths of a row are read byte by byte (never past the row).
"""
from __future__ import annotations

import numpy as np

SYMBOL = "pq_gemm_host"
BLOCK = 16          # output channels per block of the layout
GROUP = 4           # depths per group
OFFSETS = {4: 8, 8: 128}   # weight bits -> the unsigned offset the layout adds
MIN_CHANNELS = 8    # a matmul with fewer output channels keeps the row kernels (mostly idle lanes)


def gemm_layout(w: np.ndarray, offset: int) -> np.ndarray:
    """uint8 bytes of the layout above for int8 weights w [N, K] (each within what offset allows:
    -8..7 for 8, any int8 for 128)."""
    w = np.asarray(w)
    if w.ndim != 2:
        raise ValueError(f"gemm_layout: weights must be [N, K], got shape {w.shape}")
    lo, hi = (-8, 7) if offset == 8 else (-128, 127)
    if w.size and (int(w.min()) < lo or int(w.max()) > hi):
        raise ValueError(f"gemm_layout: weights outside {lo}..{hi} cannot take offset {offset}")
    n, k = w.shape
    blocks, groups = -(-n // BLOCK), -(-k // GROUP)
    out = np.zeros((blocks * BLOCK, groups * GROUP), np.int32)
    out[:n, :k] = w.astype(np.int32) + offset
    # [b, j, q, i] -> [b, q, j, i]
    out = out.reshape(blocks, BLOCK, groups, GROUP).transpose(0, 2, 1, 3)
    return np.ascontiguousarray(out).astype(np.uint8).reshape(-1)


def gemm_reference(x: np.ndarray, layout: np.ndarray, n: int, k: int, offset: int) -> np.ndarray:
    """What pq_gemm_host computes, from the layout bytes (for tests): int32 [rows, n]."""
    blocks, groups = -(-n // BLOCK), -(-k // GROUP)
    w = layout.reshape(blocks, groups, BLOCK, GROUP).transpose(0, 2, 1, 3).reshape(blocks * BLOCK, groups * GROUP)
    w = w[:n, :k].astype(np.int64) - offset
    return (np.asarray(x, np.int64)[:, :k] @ w.T).astype(np.int32)


GEMM_C = r"""
/* ---- the host's matmul over the token rows (gemm_x86.py): all rows x all channels per call ---- */
#include <string.h>
/* 4 bytes of a row as one int32 (memcpy: any alignment) */
static inline int32_t pq_gemm_ld4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}
/* the last k % 4 bytes of a row (at p), zero-padded to 4, as one int32 */
static inline int32_t pq_gemm_tail4(const int8_t *p, int32_t left)
{
    int8_t b[4] = {0, 0, 0, 0};
    memcpy(b, p, (size_t)left);
    return pq_gemm_ld4(b);
}
#if !(defined(__SSE2__) && defined(__x86_64__) && !defined(PQ_NO_X86_SIMD))   /* no vector path */
static inline void pq_gemm_portable(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k,
                                    int32_t lda, int32_t rows, int32_t offset)
{
    const int32_t Q = (k + 3) >> 2, full = k >> 2, blocks = (n + 15) >> 4;
    int32_t r, b, q, j, i;
    for (r = 0; r < rows; r++, x += lda, c += n) {
        int32_t s = 0;
        for (i = 0; i < k; i++) {
            s += x[i];
        }
        for (b = 0; b < blocks; b++) {
            const uint8_t *wb = w + (size_t)b * Q * 64;
            int32_t acc[16] = {0};
            for (q = 0; q < Q; q++) {   /* the block's 16 channels x 4 depths: 64 consecutive bytes */
                int8_t xs[4] = {0, 0, 0, 0};
                const uint8_t *wq = wb + 64 * q;
                memcpy(xs, x + 4 * q, (size_t)(q < full ? 4 : k - 4 * q));
                for (j = 0; j < 16; j++) {
                    acc[j] += xs[0] * wq[4 * j] + xs[1] * wq[4 * j + 1] + xs[2] * wq[4 * j + 2] + xs[3] * wq[4 * j + 3];
                }
            }
            for (j = 0; j < 16 && 16 * b + j < n; j++) {
                c[16 * b + j] = acc[j] - offset * s;
            }
        }
    }
}

#endif

#if defined(__SSE2__) && defined(__x86_64__) && !defined(PQ_NO_X86_SIMD)
#include <emmintrin.h>
/* the sum of a row's k bytes */
static inline int32_t pq_gemm_rowsum_sse2(const int8_t *x, int32_t k)
{
    __m128i acc = _mm_setzero_si128(), t;
    int32_t i = 0, s;
    for (; i + 16 <= k; i += 16) {   /* PSADBW of x + 128 against 0: 2 partial sums of 8 bytes */
        t = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(x + i)), _mm_set1_epi8((char)0x80));
        acc = _mm_add_epi64(acc, _mm_sad_epu8(t, _mm_setzero_si128()));
    }
    s = _mm_cvtsi128_si32(acc) + _mm_cvtsi128_si32(_mm_srli_si128(acc, 8)) - 128 * i;
    for (; i < k; i++) {
        s += x[i];
    }
    return s;
}

/* SSE2: one row at a time, a channel block's 64 bytes per depth group as 4 x (4 channels x 4
   depths): bytes zero-extended to int16, the row's 4 bytes sign-extended and repeated, PMADDWD:
   {ch0: d0 + d1, ch0: d2 + d3, ch1: .., ch1: ..}; the pairs are added at the end. */
static void pq_gemm_sse2(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k, int32_t lda,
                         int32_t rows, int32_t offset)
{
    const int32_t Q = (k + 3) >> 2, full = k >> 2, blocks = (n + 15) >> 4;
    const __m128i zero = _mm_setzero_si128();
    int32_t r, b, q, j;
    for (r = 0; r < rows; r++, x += lda, c += n) {
        const int32_t off = offset * pq_gemm_rowsum_sse2(x, k);
        for (b = 0; b < blocks; b++) {
            const uint8_t *wb = w + (size_t)b * Q * 64;
            __m128i a[8], xr, y, out[4];
            int32_t res[16];
            for (j = 0; j < 8; j++) {
                a[j] = zero;
            }
            for (q = 0; q < Q; q++) {
                int32_t v = q < full ? pq_gemm_ld4(x + 4 * q) : pq_gemm_tail4(x + 4 * q, k - 4 * q);
                xr = _mm_cvtsi32_si128(v);
                xr = _mm_srai_epi16(_mm_unpacklo_epi8(xr, xr), 8);   /* int16 x0 x1 x2 x3 0 0 0 0 */
                xr = _mm_unpacklo_epi64(xr, xr);                      /* x0 x1 x2 x3 x0 x1 x2 x3 */
                for (j = 0; j < 4; j++) {
                    y = _mm_loadu_si128((const __m128i *)(const void *)(wb + q * 64 + 16 * j));
                    a[2 * j] = _mm_add_epi32(a[2 * j], _mm_madd_epi16(_mm_unpacklo_epi8(y, zero), xr));
                    a[2 * j + 1] = _mm_add_epi32(a[2 * j + 1], _mm_madd_epi16(_mm_unpackhi_epi8(y, zero), xr));
                }
            }
            for (j = 0; j < 4; j++) {   /* {c0a, c0b, c1a, c1b} + {c2a, c2b, c3a, c3b} -> c0..c3 */
                __m128i lo = a[2 * j], hi = a[2 * j + 1];
                __m128i e = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(lo), _mm_castsi128_ps(hi), 0x88));
                __m128i o = _mm_castps_si128(_mm_shuffle_ps(_mm_castsi128_ps(lo), _mm_castsi128_ps(hi), 0xDD));
                out[j] = _mm_sub_epi32(_mm_add_epi32(e, o), _mm_set1_epi32(off));
            }
            if (n - 16 * b >= 16) {
                for (j = 0; j < 4; j++) {
                    _mm_storeu_si128((__m128i *)(void *)(c + 16 * b + 4 * j), out[j]);
                }
            } else {
                for (j = 0; j < 4; j++) {
                    _mm_storeu_si128((__m128i *)(void *)(res + 4 * j), out[j]);
                }
                memcpy(c + 16 * b, res, sizeof(int32_t) * (size_t)(n - 16 * b));
            }
        }
    }
}
#define PQ_GEMM_SSE2 1

#if !defined(PQ_NO_X86_AVX2) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6))
#include <immintrin.h>
#define PQ_GEMM_AVX2 1
#define PQ_GEMM_AVX2_FN __attribute__((target("avx2")))
/* block b's channels (those < n) of R rows into c, each row's offset share subtracted */
static inline void pq_gemm_avx2_out(int32_t *c, int32_t (*res)[16], int32_t n, int32_t b, const int32_t *off,
                                    const int R)
{
    int32_t r, j;
    for (r = 0; r < R; r++) {
        for (j = 0; j < 16 && 16 * b + j < n; j++) {
            c[r * n + 16 * b + j] = res[r][j] - off[r];
        }
    }
}

/* AVX2, 4-bit weights (offset 8): up to 4 rows x one channel block per pass, the block's two
   halves (channels 0..7, 8..15: 32 bytes each per depth group) in two registers; per row and
   group one broadcast, 2 VPMADDUBSW (unsigned weights x signed bytes: each pair sum within
   2 * 15 * 128 = 3840) and 2 VPADDW into int16 accumulators, which 8 groups cannot overflow
   (<= 30720); every 8 groups VPMADDWD by 1 adds them into the int32 accumulators. */
#define PQ_GEMM_AVX2_SPAN 8   /* depth groups summed in int16 before widening */
PQ_GEMM_AVX2_FN __attribute__((always_inline))
static inline void pq_gemm_avx2_rows(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k,
                                     int32_t lda, const int32_t *off, const int R)
{
    const int32_t Q = (k + 3) >> 2, full = k >> 2, blocks = (n + 15) >> 4;
    const __m256i ones = _mm256_set1_epi16(1);
    int32_t b, q, q0;
    for (b = 0; b < blocks; b++) {
        const uint8_t *wb = w + (size_t)b * Q * 64;
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
                a31 = a00, s00, s01, s10, s11, s20, s21, s30, s31, w0, w1, xb;
        int32_t res[4][16];
#define PQ_GEMM_AVX2_ROW(v, acc0, acc1)                                                    \
        xb = _mm256_set1_epi32(v);                                                         \
        acc0 = _mm256_add_epi16(acc0, _mm256_maddubs_epi16(w0, xb));                       \
        acc1 = _mm256_add_epi16(acc1, _mm256_maddubs_epi16(w1, xb));
#define PQ_GEMM_AVX2_STEP(LD)                                                              \
        w0 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 64 * q));             \
        w1 = _mm256_loadu_si256((const __m256i *)(const void *)(wb + 64 * q + 32));        \
        PQ_GEMM_AVX2_ROW(LD(x, 4 * q), s00, s01)                                           \
        if (R > 1) { PQ_GEMM_AVX2_ROW(LD(x + lda, 4 * q), s10, s11) }                      \
        if (R > 2) { PQ_GEMM_AVX2_ROW(LD(x + 2 * lda, 4 * q), s20, s21) }                  \
        if (R > 3) { PQ_GEMM_AVX2_ROW(LD(x + 3 * lda, 4 * q), s30, s31) }
#define PQ_GEMM_AVX2_WIDEN(acc, s) acc = _mm256_add_epi32(acc, _mm256_madd_epi16(s, ones));
#define PQ_GEMM_FULL4(p, i) pq_gemm_ld4((p) + (i))
#define PQ_GEMM_TAIL4(p, i) pq_gemm_tail4((p) + (i), k - (i))
        for (q0 = 0; q0 < Q; q0 += PQ_GEMM_AVX2_SPAN) {
            const int32_t end = Q - q0 < PQ_GEMM_AVX2_SPAN ? Q : q0 + PQ_GEMM_AVX2_SPAN;
            s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00, s31 = s00;
            for (q = q0; q < end && q < full; q++) {
                PQ_GEMM_AVX2_STEP(PQ_GEMM_FULL4)
            }
            if (q < end) {   /* the last group, k % 4 deep */
                PQ_GEMM_AVX2_STEP(PQ_GEMM_TAIL4)
            }
            PQ_GEMM_AVX2_WIDEN(a00, s00) PQ_GEMM_AVX2_WIDEN(a01, s01)
            if (R > 1) { PQ_GEMM_AVX2_WIDEN(a10, s10) PQ_GEMM_AVX2_WIDEN(a11, s11) }
            if (R > 2) { PQ_GEMM_AVX2_WIDEN(a20, s20) PQ_GEMM_AVX2_WIDEN(a21, s21) }
            if (R > 3) { PQ_GEMM_AVX2_WIDEN(a30, s30) PQ_GEMM_AVX2_WIDEN(a31, s31) }
        }
        _mm256_storeu_si256((__m256i *)(void *)res[0], a00);
        _mm256_storeu_si256((__m256i *)(void *)(res[0] + 8), a01);
        _mm256_storeu_si256((__m256i *)(void *)res[1], a10);
        _mm256_storeu_si256((__m256i *)(void *)(res[1] + 8), a11);
        _mm256_storeu_si256((__m256i *)(void *)res[2], a20);
        _mm256_storeu_si256((__m256i *)(void *)(res[2] + 8), a21);
        _mm256_storeu_si256((__m256i *)(void *)res[3], a30);
        _mm256_storeu_si256((__m256i *)(void *)(res[3] + 8), a31);
        pq_gemm_avx2_out(c, res, n, b, off, R);
    }
}

/* AVX2, int8 weights (offset 128: a VPMADDUBSW pair sum could reach 2 * 255 * 128, past int16):
   up to 2 rows per pass; per depth group the block's 64 bytes zero-extended to int16 in 4
   registers (4 channels x 4 depths each, shared by the rows), per row its 4 bytes sign-extended
   and repeated, 4 VPMADDWD ({ch0: d0 + d1, ch0: d2 + d3, ch1: ..}) and 4 VPADDD; the pairs are
   added at the end (VPHADDD, VPERMQ). */
PQ_GEMM_AVX2_FN __attribute__((always_inline))
static inline void pq_gemm_avx2_w8_rows(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k,
                                        int32_t lda, const int32_t *off, const int R)
{
    const int32_t Q = (k + 3) >> 2, full = k >> 2, blocks = (n + 15) >> 4;
    int32_t b, q;
    for (b = 0; b < blocks; b++) {
        const uint8_t *wb = w + (size_t)b * Q * 64;
        __m256i a00 = _mm256_setzero_si256(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00,
                a13 = a00, w0, w1, w2, w3, xb;
        int32_t res[2][16];
#define PQ_GEMM_AVX2_X16(v) _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(v)))
#define PQ_GEMM_AVX2_W8ROW(v, c0, c1, c2, c3)                                              \
        xb = PQ_GEMM_AVX2_X16(v);                                                          \
        c0 = _mm256_add_epi32(c0, _mm256_madd_epi16(w0, xb));                              \
        c1 = _mm256_add_epi32(c1, _mm256_madd_epi16(w1, xb));                              \
        c2 = _mm256_add_epi32(c2, _mm256_madd_epi16(w2, xb));                              \
        c3 = _mm256_add_epi32(c3, _mm256_madd_epi16(w3, xb));
#define PQ_GEMM_AVX2_W8STEP(LD)                                                            \
        w0 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb + 64 * q)));       \
        w1 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb + 64 * q + 16)));  \
        w2 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb + 64 * q + 32)));  \
        w3 = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)(const void *)(wb + 64 * q + 48)));  \
        PQ_GEMM_AVX2_W8ROW(LD(x, 4 * q), a00, a01, a02, a03)                               \
        if (R > 1) { PQ_GEMM_AVX2_W8ROW(LD(x + lda, 4 * q), a10, a11, a12, a13) }
        for (q = 0; q < full; q++) {
            PQ_GEMM_AVX2_W8STEP(PQ_GEMM_FULL4)
        }
        if (full < Q) {
            q = full;
            PQ_GEMM_AVX2_W8STEP(PQ_GEMM_TAIL4)
        }
        /* {c0a, c0b, c1a, c1b | c2a, .., c3b} + {c4a .. | ..c7b} -> {c0 c1 c4 c5 | c2 c3 c6 c7} -> c0..c7 */
#define PQ_GEMM_AVX2_PAIRS(lo, hi) _mm256_permute4x64_epi64(_mm256_hadd_epi32(lo, hi), 0xD8)
        _mm256_storeu_si256((__m256i *)(void *)res[0], PQ_GEMM_AVX2_PAIRS(a00, a01));
        _mm256_storeu_si256((__m256i *)(void *)(res[0] + 8), PQ_GEMM_AVX2_PAIRS(a02, a03));
        _mm256_storeu_si256((__m256i *)(void *)res[1], PQ_GEMM_AVX2_PAIRS(a10, a11));
        _mm256_storeu_si256((__m256i *)(void *)(res[1] + 8), PQ_GEMM_AVX2_PAIRS(a12, a13));
        pq_gemm_avx2_out(c, res, n, b, off, R);
    }
}

PQ_GEMM_AVX2_FN __attribute__((noinline))
static void pq_gemm_avx2(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k, int32_t lda,
                         int32_t rows, int32_t offset)
{
    const int32_t step = offset == 8 ? 4 : 2;   /* rows per pass */
    int32_t r = 0, off[4], i;
    for (; r < rows; r += step, x += step * lda, c += step * n) {
        const int32_t R = rows - r < step ? rows - r : step;
        for (i = 0; i < R; i++) {
            off[i] = offset * pq_gemm_rowsum_sse2(x + i * lda, k);
        }
        if (offset != 8) {
            if (R == 2) {
                pq_gemm_avx2_w8_rows(c, x, w, n, k, lda, off, 2);
            } else {
                pq_gemm_avx2_w8_rows(c, x, w, n, k, lda, off, 1);
            }
        } else if (R == 4) {
            pq_gemm_avx2_rows(c, x, w, n, k, lda, off, 4);
        } else if (R == 3) {
            pq_gemm_avx2_rows(c, x, w, n, k, lda, off, 3);
        } else if (R == 2) {
            pq_gemm_avx2_rows(c, x, w, n, k, lda, off, 2);
        } else {
            pq_gemm_avx2_rows(c, x, w, n, k, lda, off, 1);
        }
    }
}
#endif

#if !defined(PQ_NO_X86_VNNI) && defined(PQ_GEMM_AVX2) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 8))
#define PQ_GEMM_V512 1
#define PQ_GEMM_V512_FN __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define PQ_GEMM_V512_ROWS 16   /* rows per pass at most: 16 accumulators of the 32 ZMM registers */
/* AVX-512 VNNI: R (1..16) rows x one channel block (16 channels, one ZMM) at a time; per row and
   depth group one VPDPBUSD (the block's 64 weight bytes x the row's 4 bytes broadcast). */
PQ_GEMM_V512_FN __attribute__((always_inline))
static inline void pq_gemm_v512_rows(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k,
                                     int32_t lda, const int32_t *off, const int R)
{
    const int32_t Q = (k + 3) >> 2, full = k >> 2, blocks = (n + 15) >> 4;
    int32_t b, q;
    for (b = 0; b < blocks; b++) {
        const uint8_t *wb = w + (size_t)b * Q * 64;
        const __mmask16 m = n - 16 * b >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - 16 * b)) - 1u);
        __m512i a0 = _mm512_setzero_si512(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0,
                a9 = a0, a10 = a0, a11 = a0, a12 = a0, a13 = a0, a14 = a0, a15 = a0, wv;
#define PQ_GEMM_V512_ROW(r, LD, acc)                                                       \
        if (R > (r)) { acc = _mm512_dpbusd_epi32(acc, wv, _mm512_set1_epi32(LD(x + (r) * lda, 4 * q))); }
#define PQ_GEMM_V512_STEP(LD)                                                              \
        wv = _mm512_loadu_si512((const void *)(wb + 64 * q));                              \
        PQ_GEMM_V512_ROW(0, LD, a0) PQ_GEMM_V512_ROW(1, LD, a1) PQ_GEMM_V512_ROW(2, LD, a2) \
        PQ_GEMM_V512_ROW(3, LD, a3) PQ_GEMM_V512_ROW(4, LD, a4) PQ_GEMM_V512_ROW(5, LD, a5) \
        PQ_GEMM_V512_ROW(6, LD, a6) PQ_GEMM_V512_ROW(7, LD, a7) PQ_GEMM_V512_ROW(8, LD, a8) \
        PQ_GEMM_V512_ROW(9, LD, a9) PQ_GEMM_V512_ROW(10, LD, a10) PQ_GEMM_V512_ROW(11, LD, a11) \
        PQ_GEMM_V512_ROW(12, LD, a12) PQ_GEMM_V512_ROW(13, LD, a13) PQ_GEMM_V512_ROW(14, LD, a14) \
        PQ_GEMM_V512_ROW(15, LD, a15)
        for (q = 0; q < full; q++) {
            PQ_GEMM_V512_STEP(PQ_GEMM_FULL4)
        }
        if (full < Q) {
            q = full;
            PQ_GEMM_V512_STEP(PQ_GEMM_TAIL4)
        }
#define PQ_GEMM_V512_OUT(r, acc)                                                           \
        if (R > (r)) {                                                                     \
            _mm512_mask_storeu_epi32(c + (r) * n + 16 * b, m, _mm512_sub_epi32(acc, _mm512_set1_epi32(off[r]))); \
        }
        PQ_GEMM_V512_OUT(0, a0) PQ_GEMM_V512_OUT(1, a1) PQ_GEMM_V512_OUT(2, a2) PQ_GEMM_V512_OUT(3, a3)
        PQ_GEMM_V512_OUT(4, a4) PQ_GEMM_V512_OUT(5, a5) PQ_GEMM_V512_OUT(6, a6) PQ_GEMM_V512_OUT(7, a7)
        PQ_GEMM_V512_OUT(8, a8) PQ_GEMM_V512_OUT(9, a9) PQ_GEMM_V512_OUT(10, a10) PQ_GEMM_V512_OUT(11, a11)
        PQ_GEMM_V512_OUT(12, a12) PQ_GEMM_V512_OUT(13, a13) PQ_GEMM_V512_OUT(14, a14) PQ_GEMM_V512_OUT(15, a15)
    }
}

/* the sum of a row's k bytes: VPSADBW of x + 128 against 0, 64 bytes a step */
PQ_GEMM_V512_FN static inline int32_t pq_gemm_rowsum_v512(const int8_t *x, int32_t k)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i acc = _mm512_setzero_si512();
    int32_t i = 0, s;
    for (; i + 64 <= k; i += 64) {
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(_mm512_xor_si512(_mm512_loadu_si512((const void *)(x + i)), flip),
                                                    _mm512_setzero_si512()));
    }
    s = (int32_t)_mm512_reduce_add_epi64(acc) - 128 * i;
    for (; i < k; i++) {
        s += x[i];
    }
    return s;
}

PQ_GEMM_V512_FN __attribute__((noinline))
static void pq_gemm_v512(int32_t *c, const int8_t *x, const uint8_t *w, int32_t n, int32_t k, int32_t lda,
                         int32_t rows, int32_t offset)
{
    /* the rows in passes of equal size (at most 16): each pass streams all the weights once */
    const int32_t passes = (rows + PQ_GEMM_V512_ROWS - 1) / PQ_GEMM_V512_ROWS;
    const int32_t per = passes ? (rows + passes - 1) / passes : 0;
    int32_t r = 0, off[PQ_GEMM_V512_ROWS], i;
    for (; r < rows; r += per, x += per * lda, c += per * n) {
        const int32_t R = rows - r < per ? rows - r : per;
        for (i = 0; i < R; i++) {
            off[i] = offset * pq_gemm_rowsum_v512(x + i * lda, k);
        }
        switch (R) {
#define PQ_GEMM_V512_CASE(r) case r: pq_gemm_v512_rows(c, x, w, n, k, lda, off, r); break;
        PQ_GEMM_V512_CASE(16) PQ_GEMM_V512_CASE(15) PQ_GEMM_V512_CASE(14) PQ_GEMM_V512_CASE(13)
        PQ_GEMM_V512_CASE(12) PQ_GEMM_V512_CASE(11) PQ_GEMM_V512_CASE(10) PQ_GEMM_V512_CASE(9)
        PQ_GEMM_V512_CASE(8) PQ_GEMM_V512_CASE(7) PQ_GEMM_V512_CASE(6) PQ_GEMM_V512_CASE(5)
        PQ_GEMM_V512_CASE(4) PQ_GEMM_V512_CASE(3) PQ_GEMM_V512_CASE(2)
        default: pq_gemm_v512_rows(c, x, w, n, k, lda, off, 1); break;
        }
    }
}
#endif

/* which path this CPU takes: 2 AVX-512 VNNI, 1 AVX2, 0 neither (asked once; __builtin_cpu_supports
   also checks that the OS saves the vector state) */
static int pq_gemm_level_known = -1;
static inline int pq_gemm_level(void)
{
    if (pq_gemm_level_known < 0) {
        int level = 0;
#if defined(PQ_GEMM_AVX2)
        __builtin_cpu_init();
        level = __builtin_cpu_supports("avx2") ? 1 : 0;
#if defined(PQ_GEMM_V512)
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
            && __builtin_cpu_supports("avx512vnni")) {
            level = 2;
        }
#endif
#endif
        pq_gemm_level_known = level;
    }
    return pq_gemm_level_known;
}
#endif

/* C[r * n + j] = sum over i < k of x[r * lda + i] * W[j][i], r < rows, j < n, W in the layout of
   gemm_x86.py with `offset` (8: 4-bit weights, 128: int8); the row count last, as for the row
   kernels (rows.py makes it the kernel's run-time `rows`) */
static inline void pq_gemm_host(int32_t *c, int8_t *x, int8_t *w, int32_t offset, int32_t n, int32_t k,
                                int32_t lda, int32_t rows)
{
    const uint8_t *wu = (const uint8_t *)w;
#if defined(PQ_GEMM_SSE2)
    const int level = pq_gemm_level();
#if defined(PQ_GEMM_V512)
    if (level == 2) {
        pq_gemm_v512(c, x, wu, n, k, lda, rows, offset);
        return;
    }
#endif
#if defined(PQ_GEMM_AVX2)
    if (level >= 1) {
        pq_gemm_avx2(c, x, wu, n, k, lda, rows, offset);
        return;
    }
#endif
    (void)level;
    pq_gemm_sse2(c, x, wu, n, k, lda, rows, offset);
#else
    pq_gemm_portable(c, x, wu, n, k, lda, rows, offset);
#endif
}
"""


def gemm_c() -> str:
    """The C text of pq_gemm_host and its paths (appended to the host's pq_kernels.c)."""
    return GEMM_C
