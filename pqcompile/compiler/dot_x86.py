"""x86-64 versions of the dot-product micro-kernels: SSE2 intrinsics (part of every x86-64 CPU, so
the host target keeps building without any -march flag and runs the same on any x86-64), and AVX2
versions of the 2-channel row kernels that the program selects at run time when the CPU has AVX2
(functions with the target("avx2") attribute; -DPQ_NO_X86_AVX2 leaves them out).

The generated kernels call the micro-kernels by the names dot_intrin.py and dot_s4.py define
(pq_dot2r_s8, pq_dot2r_s4, ...); on the host those are the portable C loops. compile.py appends
X86_KERNEL_C (and X86_PACKED_KERNEL_C when the model has packed 4-bit weights) after those
definitions and before the generated kernels, for the host target only (`x86`; firmware.py and
bench.py pass it for targets of kind "host"): under
`#if defined(__SSE2__) && defined(__x86_64__) && !defined(PQ_NO_X86_SIMD)` it defines pq_dot*_x86
functions and `#define`s each kernel name to its x86 version, as dot_mve.py does for Helium, so the
generated kernels' calls take the vector code and the portable definitions above are left unused
(static inline: no code). Another host (AArch64, where the NEON routines apply) compiles the
portable and NEON code as before; -DPQ_NO_X86_SIMD selects the portable C on x86-64 too
(scripts/bench_host.py measures both). The Arm targets' generated C does not contain these blocks:
their sources are unchanged byte for byte.

How: int8 lanes become int16 lanes by shifts within each 16-bit lane (the odd bytes: PSRAW #8; the
even ones: PSLLW #8 then PSRAW #8, 3 instructions per 16 bytes instead of 4 for unpacking), both
operands split the same way, and PMADDWD (_mm_madd_epi16) multiplies 8 int16 pairs and adds
adjacent products into 4 int32 lanes: the exact sum (|product| <= 2^14), only the order of
summation differs from the C loops, so every result is bit-identical. Register blocking as in the
NEON path: the row kernels compute 4 token rows x 2 channels per 16-deep step (the two channels'
extended weights in 4 registers, shared by the 4 rows; 8 accumulators; 15 of the 16 XMM registers),
then 3, 2 or 1 rows; rows times one vector (the attention score, the intent head's weight rows,
the per-row fallback kernels) 4 rows per step sharing the vector. The depth goes 16 deep, then 8
(MOVQ loads: the upper lanes are zero on both sides), the last n % 8 products in C.

Packed 4-bit weights (dot_s4.py's layout: byte k of pair p is the int8 b = 16 w[2p][k] +
w[2p + 1][k]) are split exactly in the int16 lanes: the even channel's weight (b + 8) >> 4 (PADDW
0x0800 + PSRAW #12 on the byte in the lane's top half: b <= 119 for every packable byte, so no lane
overflows, and for the odd bytes the even byte below, < 256, never carries into bit 12), the odd
channel's the low nibble sign-extended (PSLLW + PSRAW #12): 9 instructions per 16 deep and channel
pair, shared by the rows, and the weights' loads halve.

AVX2 (the row kernels: bottleneck, QRNN gates, slot head): see the comment in X86_KERNEL_C; 4-bit
pairs by VPMADDUBSW on activations offset to unsigned (exact: no pair sum comes near its
saturation), int8 weights by VPMOVSXBW + VPMADDWD. All paths give the same exact int32 sums.

pq_dot2rw_s8 (the int16_weights build option, for the DSP extension) keeps its portable version.
"""
from __future__ import annotations

from .simd_wrappers import int8_kernels, mat_vec, packed_kernels, rows_pair

# X86_KERNEL_C's own part: the guard, the SSE2 routines (pq_x86_rows2, pq_x86_vec) and the AVX2
# ones; the rows loops and the kernels on them are simd_wrappers.py's
_X86_ROUTINES_C = r"""
/* ---- x86-64 SSE2 micro-kernels (dot_x86.py): the names above, #defined to these ---- */
#if defined(__SSE2__) && defined(__x86_64__) && !defined(PQ_NO_X86_SIMD)
#include <emmintrin.h>
#define PQ_X86 1
/* weights: int8 rows (PQ_X86_W8), a packed 4-bit pair (PQ_X86_W4: both channels), or one channel
   of a pair (PQ_X86_W4_EVEN: the high nibbles' weights, PQ_X86_W4_ODD: the low nibbles') */
#define PQ_X86_W8 0
#define PQ_X86_W4 1
#define PQ_X86_W4_EVEN 2
#define PQ_X86_W4_ODD 3
#define PQ_X86_LD16(p) _mm_loadu_si128((const __m128i *)(const void *)(p))
#define PQ_X86_LD8(p) _mm_loadl_epi64((const __m128i *)(const void *)(p))
/* int16 lanes of 16 int8 x: the even bytes sign-extended (E), the odd bytes (O) */
#define PQ_X86_E(x) _mm_srai_epi16(_mm_slli_epi16((x), 8), 8)
#define PQ_X86_O(x) _mm_srai_epi16((x), 8)
/* int16 lanes of 16 packed bytes y: the even channel's weights (b + 8) >> 4 of the even bytes
   (HI_E) and of the odd bytes (HI_O), the odd channel's (the low nibble) likewise (LO_E, LO_O) */
#define PQ_X86_HI_E(y) _mm_srai_epi16(_mm_add_epi16(_mm_slli_epi16((y), 8), _mm_set1_epi16(0x0800)), 12)
#define PQ_X86_HI_O(y) _mm_srai_epi16(_mm_add_epi16((y), _mm_set1_epi16(0x0800)), 12)
#define PQ_X86_LO_E(y) _mm_srai_epi16(_mm_slli_epi16((y), 12), 12)
#define PQ_X86_LO_O(y) _mm_srai_epi16(_mm_slli_epi16((y), 4), 12)
/* the weights of a one-channel mode from the bytes y: even-k lanes (VE), odd-k lanes (VO) */
#define PQ_X86_VE(mode, y) ((mode) == PQ_X86_W4_EVEN ? PQ_X86_HI_E(y) : (mode) == PQ_X86_W4_ODD ? PQ_X86_LO_E(y) \
                            : PQ_X86_E(y))
#define PQ_X86_VO(mode, y) ((mode) == PQ_X86_W4_EVEN ? PQ_X86_HI_O(y) : (mode) == PQ_X86_W4_ODD ? PQ_X86_LO_O(y) \
                            : PQ_X86_O(y))
/* weight i of channel ch (0, 1) of a routine's weights, for the last n % 8 products */
#define PQ_X86_WAT(mode, w0, w1, ch, i)                                                    \
    ((mode) == PQ_X86_W8 ? (int32_t)((ch) ? (w1)[i] : (w0)[i])                             \
     : ((mode) == PQ_X86_W4 ? !(ch) : (mode) == PQ_X86_W4_EVEN)                            \
     ? PQ_NIB_HI((uint8_t)(w0)[i]) : PQ_NIB_LO((uint8_t)(w0)[i]))
/* acc + the products of the int16 lanes (xe, xo) and (ye, yo), in 4 int32 lanes */
#define PQ_X86_MAC(acc, xe, xo, ye, yo)                                                    \
    _mm_add_epi32((acc), _mm_add_epi32(_mm_madd_epi16((xe), (ye)), _mm_madd_epi16((xo), (yo))))

/* {sum of a's lanes, sum of b's, ., .} */
static inline __m128i pq_x86_sum2(__m128i a, __m128i b)
{
    __m128i t = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
    return _mm_add_epi32(t, _mm_srli_si128(t, 8));
}

/* c[2r + j] += row r's product at depth k with channel j's weight yj, r < R (1..4): the last
   n % 8 products of the 2-channel row kernels, in C */
__attribute__((always_inline))
static inline void pq_x86_tail_pair(int32_t *c, const int8_t *p0, const int8_t *p1, const int8_t *p2,
                                    const int8_t *p3, int32_t k, int32_t y0, int32_t y1, const int R)
{
    c[0] += p0[k] * y0;
    c[1] += p0[k] * y1;
    if (R > 1) {
        c[2] += p1[k] * y0;
        c[3] += p1[k] * y1;
    }
    if (R > 2) {
        c[4] += p2[k] * y0;
        c[5] += p2[k] * y1;
    }
    if (R > 3) {
        c[6] += p3[k] * y0;
        c[7] += p3[k] * y1;
    }
}

/* {sum of a's lanes, b's, c's, d's} */
static inline __m128i pq_x86_sum4(__m128i a, __m128i b, __m128i c, __m128i d)
{
    __m128i s = _mm_add_epi32(_mm_unpacklo_epi32(a, b), _mm_unpackhi_epi32(a, b));
    __m128i t = _mm_add_epi32(_mm_unpacklo_epi32(c, d), _mm_unpackhi_epi32(c, d));
    return _mm_add_epi32(_mm_unpacklo_epi64(s, t), _mm_unpackhi_epi64(s, t));
}

/* one row's step in a routine: `body` on row k's pointer and accumulators, when R > k */
#define PQ_X86_ROWS(R, body)                                                               \
    body(p0, a00, a01)                                                                     \
    if ((R) > 1) { body(p1, a10, a11) }                                                    \
    if ((R) > 2) { body(p2, a20, a21) }                                                    \
    if ((R) > 3) { body(p3, a30, a31) }
/* the R (1..4) rows' pointers (row k's formed only when there is a row k: -Warray-bounds) and
   accumulators (two per row) */
#define PQ_X86_SETUP(R, x, lda)                                                            \
    const int8_t *p0 = (x), *p1 = (R) > 1 ? (x) + (lda) : (x), *p2 = (R) > 2 ? (x) + 2 * (lda) : (x), \
                 *p3 = (R) > 3 ? (x) + 3 * (lda) : (x);                                    \
    __m128i a00 = _mm_setzero_si128(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, \
            a30 = a00, a31 = a00

/* R (1..4) rows x 2 channels: c[2r + j] = sum of x[r * lda + i] * (weight i of channel j), i < n,
   r < R (written). mode PQ_X86_W8: channel j's int8 weights at w0, w1; PQ_X86_W4: the packed pair
   at w0 (w1 unused). Per 16-deep step: the two channels' weights extended once into 4 registers
   (int8: 2 loads, 6 shifts; 4-bit: 1 load, 9 instructions), then per row 1 load, 3 shifts,
   4 PMADDWD and 4 PADDD (32 MACs). Always inlined: R and mode must be constants. */
__attribute__((always_inline))
static inline void pq_x86_rows2(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0, const int8_t *w1,
                                int32_t n, const int R, const int mode)
{
    int32_t i = 0, k;
    __m128i ue, uo, ve, vo, xv, xe, xo;
    PQ_X86_SETUP(R, x, lda);

#define PQ_X86_WEIGHTS2(LD)                                                                \
    if (mode == PQ_X86_W4) {                                                               \
        __m128i y_ = LD(w0 + i);                                                           \
        ue = PQ_X86_HI_E(y_);                                                              \
        uo = PQ_X86_HI_O(y_);                                                              \
        ve = PQ_X86_LO_E(y_);                                                              \
        vo = PQ_X86_LO_O(y_);                                                              \
    } else {                                                                               \
        __m128i y_ = LD(w0 + i), z_ = LD(w1 + i);                                          \
        ue = PQ_X86_E(y_);                                                                 \
        uo = PQ_X86_O(y_);                                                                 \
        ve = PQ_X86_E(z_);                                                                 \
        vo = PQ_X86_O(z_);                                                                 \
    }
#define PQ_X86_R2_16(p, acc0, acc1)                                                        \
    xv = PQ_X86_LD16((p) + i);                                                             \
    xe = PQ_X86_E(xv);                                                                     \
    xo = PQ_X86_O(xv);                                                                     \
    acc0 = PQ_X86_MAC(acc0, xe, xo, ue, uo);                                               \
    acc1 = PQ_X86_MAC(acc1, xe, xo, ve, vo);
#define PQ_X86_R2_8(p, acc0, acc1)                                                         \
    xv = PQ_X86_LD8((p) + i);                                                              \
    xe = PQ_X86_E(xv);                                                                     \
    xo = PQ_X86_O(xv);                                                                     \
    acc0 = PQ_X86_MAC(acc0, xe, xo, ue, uo);                                               \
    acc1 = PQ_X86_MAC(acc1, xe, xo, ve, vo);
    for (; i < (n & ~15); i += 16) {
        PQ_X86_WEIGHTS2(PQ_X86_LD16)
        PQ_X86_ROWS(R, PQ_X86_R2_16)
    }
    if (n & 8) {   /* MOVQ: the upper 8 bytes of both operands are zero */
        PQ_X86_WEIGHTS2(PQ_X86_LD8)
        PQ_X86_ROWS(R, PQ_X86_R2_8)
    }
    _mm_storel_epi64((__m128i *)(void *)c, pq_x86_sum2(a00, a01));
    if (R > 1) {
        _mm_storel_epi64((__m128i *)(void *)(c + 2), pq_x86_sum2(a10, a11));
    }
    if (R > 2) {
        _mm_storel_epi64((__m128i *)(void *)(c + 4), pq_x86_sum2(a20, a21));
    }
    if (R > 3) {
        _mm_storel_epi64((__m128i *)(void *)(c + 6), pq_x86_sum2(a30, a31));
    }
    for (k = n & ~7; k < n; k++) {   /* the last n % 8 products (n & ~7: gcc knows the count) */
        int32_t y0 = PQ_X86_WAT(mode, w0, w1, 0, k), y1 = PQ_X86_WAT(mode, w0, w1, 1, k);
        pq_x86_tail_pair(c, p0, p1, p2, p3, k, y0, y1, R);
    }
}

/* R (1..4) rows times one vector: c[r] = (acc: c[r] +) sum of x[r * lda + i] * v[i], i < n, r < R;
   v int8 (PQ_X86_W8) or one channel of a packed pair (PQ_X86_W4_EVEN / _ODD: v is the pair's
   first byte). Per 16-deep step the vector extended once (2 registers), then per row 1 load,
   3 shifts, 2 PMADDWD, 2 PADDD. Always inlined. */
__attribute__((always_inline))
static inline void pq_x86_vec(int32_t *c, const int8_t *x, int32_t lda, const int8_t *v, int32_t n,
                              const int R, const int acc, const int mode)
{
    int32_t i = 0, k, s[4];
    __m128i ue, uo, xv, xe, xo, sum;
    PQ_X86_SETUP(R, x, lda);
    (void)a01, (void)a11, (void)a21, (void)a31;   /* one accumulator per row */

#define PQ_X86_V_16(p, acc0, acc1)                                                         \
    xv = PQ_X86_LD16((p) + i);                                                             \
    xe = PQ_X86_E(xv);                                                                     \
    xo = PQ_X86_O(xv);                                                                     \
    acc0 = PQ_X86_MAC(acc0, xe, xo, ue, uo);
#define PQ_X86_V_8(p, acc0, acc1)                                                          \
    xv = PQ_X86_LD8((p) + i);                                                              \
    xe = PQ_X86_E(xv);                                                                     \
    xo = PQ_X86_O(xv);                                                                     \
    acc0 = PQ_X86_MAC(acc0, xe, xo, ue, uo);
    for (; i < (n & ~15); i += 16) {
        __m128i y = PQ_X86_LD16(v + i);
        ue = PQ_X86_VE(mode, y);
        uo = PQ_X86_VO(mode, y);
        PQ_X86_ROWS(R, PQ_X86_V_16)
    }
    if (n & 8) {
        __m128i y = PQ_X86_LD8(v + i);
        ue = PQ_X86_VE(mode, y);
        uo = PQ_X86_VO(mode, y);
        PQ_X86_ROWS(R, PQ_X86_V_8)
    }
    sum = pq_x86_sum4(a00, a10, a20, a30);
    if (R == 4) {
        if (acc) {
            sum = _mm_add_epi32(sum, PQ_X86_LD16(c));
        }
        _mm_storeu_si128((__m128i *)(void *)c, sum);
    } else {
        _mm_storeu_si128((__m128i *)(void *)s, sum);
        for (k = 0; k < R; k++) {
            c[k] = acc ? c[k] + s[k] : s[k];
        }
    }
    for (k = n & ~7; k < n; k++) {   /* the last n % 8 products */
        int32_t y = PQ_X86_WAT(mode, v, v, 0, k);
        c[0] += p0[k] * y;
        if (R > 1) {
            c[1] += p1[k] * y;
        }
        if (R > 2) {
            c[2] += p2[k] * y;
        }
        if (R > 3) {
            c[3] += p3[k] * y;
        }
    }
}

/* AVX2, selected at run time (the program still runs on any x86-64: the CPU is asked once, by
   __builtin_cpu_supports, which also checks that the OS saves the YMM state), for the 2-channel
   row kernels (bottleneck, QRNN gates, slot head: nearly all of the network's MACs); compiled
   without any -m flag, in functions with the target("avx2") attribute. -DPQ_NO_X86_AVX2 leaves
   it out (the SSE2 kernels alone). Exact like every other path:
   - 4-bit weights (pq_avx2_pair_w4): the depth in chunks of up to 256; per chunk the pair's bytes
     are split once into the two channels' int8 weights (w0 = the high nibble of b + 8 as a 4-bit
     two's complement number, w1 = the low nibble), stored on the stack and shared by all the
     token rows; each row's activations are offset to unsigned (x + 128: one VPXOR per 32) and
     multiplied with VPMADDUBSW (u8 x s8, adjacent pairs summed into int16 lanes: |pair sum| <=
     2 * 255 * 8 = 4080, far from its saturation) and summed in int16 lanes over the chunk (8 steps
     of 32: |sum| <= 32640, no overflow), then widened (VPMADDWD by 1) and reduced across lanes
     (VPHADDD) into c. The offset's share, 128 * (the channel's weight sum), is subtracted at the
     end. Per row and 32 deep: 1 VPXOR (the load folded), 2 VPMADDUBSW, 2 VPADDW (64 MACs); 4 rows
     x 2 channels per step, then 3, 2 or 1 rows.
   - int8 weights (pq_avx2_rows2; |product| <= 2^14 would saturate VPMADDUBSW): per 16-deep step
     VPMOVSXBW of 16 bytes into int16 lanes and VPMADDWD, per row 1 VPMOVSXBW, 2 VPMADDWD,
     2 VPADDD (32 MACs), 4 rows x 2 channels per step.
   The last 8..31 of a depth go through zero-extended loads (the extra lanes' weights are 0), the
   last n % 8 products in C. */
#if !defined(PQ_NO_X86_AVX2) && (defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 6))
#include <immintrin.h>
#define PQ_X86_AVX2 1
static int pq_x86_avx2_known;   /* 0: not asked yet; 1: the CPU has AVX2; -1: it has not */

static inline int pq_x86_has_avx2(void)
{
    if (pq_x86_avx2_known == 0) {
        __builtin_cpu_init();
        pq_x86_avx2_known = __builtin_cpu_supports("avx2") ? 1 : -1;
    }
    return pq_x86_avx2_known > 0;
}

#define PQ_AVX2_FN __attribute__((target("avx2")))
#define PQ_AVX2_LD32(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
/* 16 or 8 bytes at p in the low lanes of a 256-bit register, the rest zero */
#define PQ_AVX2_LD16Z(p) _mm256_inserti128_si256(_mm256_setzero_si256(), PQ_X86_LD16(p), 0)
#define PQ_AVX2_LD8Z(p) _mm256_inserti128_si256(_mm256_setzero_si256(), PQ_X86_LD8(p), 0)
/* the first `bytes` (8, 16, 24 or 32) bytes at p, the rest zero */
PQ_AVX2_FN __attribute__((always_inline))
static inline __m256i pq_avx2_load_part(const int8_t *p, int32_t bytes)
{
    if (bytes == 32) {
        return PQ_AVX2_LD32(p);
    }
    if (bytes == 24) {
        return _mm256_inserti128_si256(_mm256_castsi128_si256(PQ_X86_LD16(p)), PQ_X86_LD8(p + 16), 1);
    }
    return bytes == 16 ? PQ_AVX2_LD16Z(p) : PQ_AVX2_LD8Z(p);
}

/* the int32 sum of a's 8 lanes */
PQ_AVX2_FN static inline int32_t pq_avx2_sum(__m256i a)
{
    __m128i t = _mm_add_epi32(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    t = _mm_add_epi32(t, _mm_srli_si128(t, 8));
    return _mm_cvtsi128_si32(_mm_add_epi32(t, _mm_srli_si128(t, 4)));
}

/* {sum of a's lanes, b's, c's, d's} (32-bit lanes) */
PQ_AVX2_FN static inline __m128i pq_avx2_sum4(__m256i a, __m256i b, __m256i c, __m256i d)
{
    __m256i g = _mm256_hadd_epi32(_mm256_hadd_epi32(a, b), _mm256_hadd_epi32(c, d));
    return _mm_add_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
}

/* R (1..4) token rows from x (stride lda) times a chunk's two channels of split 4-bit weights
   (u, v: 32-byte aligned, zero past len; len a multiple of 8, at most 256): c[2r + j] += the
   row's dot product with channel j, plus 128 * the channel's weight sum (the offset). */
PQ_AVX2_FN __attribute__((always_inline))
static inline void pq_avx2_w4_block(int32_t *c, const int8_t *x, int32_t lda, const int8_t *u, const int8_t *v,
                                    int32_t len, const int R)
{
    const int8_t *p0 = x, *p1 = R > 1 ? x + lda : x, *p2 = R > 2 ? x + 2 * lda : x, *p3 = R > 3 ? x + 3 * lda : x;
    const __m256i flip = _mm256_set1_epi8((char)0x80), ones = _mm256_set1_epi16(1);
    __m256i s00 = _mm256_setzero_si256(), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00,
            s31 = s00, wu, wv, xv;
    int32_t i = 0, k, t[8], tail = len & 31;

#define PQ_AVX2_W4ROW(xload, acc0, acc1)                                                   \
    xv = _mm256_xor_si256(xload, flip);                                                    \
    acc0 = _mm256_add_epi16(acc0, _mm256_maddubs_epi16(xv, wu));                           \
    acc1 = _mm256_add_epi16(acc1, _mm256_maddubs_epi16(xv, wv));
#define PQ_AVX2_W4STEP(LD)                                                                 \
    wu = _mm256_load_si256((const __m256i *)(const void *)(u + i));                        \
    wv = _mm256_load_si256((const __m256i *)(const void *)(v + i));                        \
    PQ_AVX2_W4ROW(LD(p0 + i), s00, s01)                                                    \
    if (R > 1) { PQ_AVX2_W4ROW(LD(p1 + i), s10, s11) }                                     \
    if (R > 2) { PQ_AVX2_W4ROW(LD(p2 + i), s20, s21) }                                     \
    if (R > 3) { PQ_AVX2_W4ROW(LD(p3 + i), s30, s31) }
#define PQ_AVX2_PART(p) pq_avx2_load_part((p), tail)
    for (; i < len - tail; i += 32) {
        PQ_AVX2_W4STEP(PQ_AVX2_LD32)
    }
    if (tail) {
        PQ_AVX2_W4STEP(PQ_AVX2_PART)
    }
    _mm_storeu_si128((__m128i *)(void *)t,
                     pq_avx2_sum4(_mm256_madd_epi16(s00, ones), _mm256_madd_epi16(s01, ones),
                                  _mm256_madd_epi16(s10, ones), _mm256_madd_epi16(s11, ones)));
    if (R > 2) {
        _mm_storeu_si128((__m128i *)(void *)(t + 4),
                         pq_avx2_sum4(_mm256_madd_epi16(s20, ones), _mm256_madd_epi16(s21, ones),
                                      _mm256_madd_epi16(s30, ones), _mm256_madd_epi16(s31, ones)));
    }
    for (k = 0; k < 2 * R; k++) {
        c[k] += t[k];
    }
}

/* pq_dot2r_s4's work in AVX2: token rows r < rows of x (stride lda) times the packed pair at w
   (channels 2p, 2p + 1), c[2r + j] written. Called, not inlined (its code is AVX2). */
PQ_AVX2_FN __attribute__((noinline))
static void pq_avx2_pair_w4(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w, int32_t n, int32_t rows)
{
    int8_t u[256] __attribute__((aligned(32))), v[256] __attribute__((aligned(32)));
    const __m256i b8 = _mm256_set1_epi8(8), lo4 = _mm256_set1_epi8(0x0F), flip = _mm256_set1_epi8((char)0x80);
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i ku = _mm256_setzero_si256(), kv = ku;
    const int32_t n8 = n & ~7;
    int32_t base, r, k, k0, k1;

    for (r = 0; r < 2 * rows; r++) {
        c[r] = 0;
    }
    for (base = 0; base < n8; base += 256) {
        const int32_t len = n8 - base < 256 ? n8 - base : 256;
        const int8_t *xb = x + base;
        for (k = 0; k < len; k += 32) {   /* split the chunk's pair bytes, zero past len */
            __m256i y = pq_avx2_load_part(w + base + k, len - k < 32 ? len - k : 32), a, b;
            a = _mm256_and_si256(_mm256_srli_epi16(_mm256_add_epi8(y, b8), 4), lo4);
            a = _mm256_sub_epi8(_mm256_xor_si256(a, b8), b8);
            b = _mm256_sub_epi8(_mm256_xor_si256(_mm256_and_si256(y, lo4), b8), b8);
            _mm256_store_si256((__m256i *)(void *)(u + k), a);
            _mm256_store_si256((__m256i *)(void *)(v + k), b);
            ku = _mm256_add_epi32(ku, _mm256_madd_epi16(_mm256_maddubs_epi16(flip, a), ones));
            kv = _mm256_add_epi32(kv, _mm256_madd_epi16(_mm256_maddubs_epi16(flip, b), ones));
        }
        for (r = 0; r + 4 <= rows; r += 4) {
            pq_avx2_w4_block(c + 2 * r, xb + r * lda, lda, u, v, len, 4);
        }
        if (rows - r == 3) {
            pq_avx2_w4_block(c + 2 * r, xb + r * lda, lda, u, v, len, 3);
        } else if (rows - r == 2) {
            pq_avx2_w4_block(c + 2 * r, xb + r * lda, lda, u, v, len, 2);
        } else if (rows - r == 1) {
            pq_avx2_w4_block(c + 2 * r, xb + r * lda, lda, u, v, len, 1);
        }
    }
    k0 = pq_avx2_sum(ku);   /* 128 * the weight sums over the first n8 */
    k1 = pq_avx2_sum(kv);
    for (r = 0; r < rows; r++, x += lda) {
        c[2 * r] -= k0;
        c[2 * r + 1] -= k1;
        for (k = n8; k < n; k++) {   /* the last n % 8 products */
            c[2 * r] += x[k] * PQ_NIB_HI((uint8_t)w[k]);
            c[2 * r + 1] += x[k] * PQ_NIB_LO((uint8_t)w[k]);
        }
    }
}

/* pq_x86_rows2 in AVX2 for int8 weights (R rows 1..4; c written) */
PQ_AVX2_FN __attribute__((always_inline))
static inline void pq_avx2_rows2(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0, const int8_t *w1,
                                 int32_t n, const int R)
{
    const int8_t *p0 = x, *p1 = R > 1 ? x + lda : x, *p2 = R > 2 ? x + 2 * lda : x, *p3 = R > 3 ? x + 3 * lda : x;
    __m256i a00 = _mm256_setzero_si256(), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, a30 = a00,
            a31 = a00, u, v, xv;
    int32_t i = 0, k, t[8];

#define PQ_AVX2_SX16(p) _mm256_cvtepi8_epi16(PQ_X86_LD16(p))
#define PQ_AVX2_SX8(p) _mm256_cvtepi8_epi16(PQ_X86_LD8(p))
#define PQ_AVX2_W8ROW(xload, acc0, acc1)                                                   \
    xv = xload;                                                                            \
    acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(xv, u));                               \
    acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(xv, v));
#define PQ_AVX2_W8STEP(SX)                                                                 \
    u = SX(w0 + i);                                                                        \
    v = SX(w1 + i);                                                                        \
    PQ_AVX2_W8ROW(SX(p0 + i), a00, a01)                                                    \
    if (R > 1) { PQ_AVX2_W8ROW(SX(p1 + i), a10, a11) }                                     \
    if (R > 2) { PQ_AVX2_W8ROW(SX(p2 + i), a20, a21) }                                     \
    if (R > 3) { PQ_AVX2_W8ROW(SX(p3 + i), a30, a31) }
    for (; i < (n & ~15); i += 16) {
        PQ_AVX2_W8STEP(PQ_AVX2_SX16)
    }
    if (n & 8) {
        PQ_AVX2_W8STEP(PQ_AVX2_SX8)
    }
    _mm_storeu_si128((__m128i *)(void *)t, pq_avx2_sum4(a00, a01, a10, a11));
    if (R > 2) {
        _mm_storeu_si128((__m128i *)(void *)(t + 4), pq_avx2_sum4(a20, a21, a30, a31));
    }
    for (k = 0; k < 2 * R; k++) {
        c[k] = t[k];
    }
    for (k = n & ~7; k < n; k++) {   /* the last n % 8 products */
        int32_t y0 = w0[k], y1 = w1[k];
        pq_x86_tail_pair(c, p0, p1, p2, p3, k, y0, y1, R);
    }
}

/* pq_dot2r_s8's work in AVX2 (called, not inlined) */
PQ_AVX2_FN __attribute__((noinline))
static void pq_avx2_pair_w8(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0, const int8_t *w1,
                            int32_t n, int32_t rows)
{
    int32_t r = 0;
    for (; r + 4 <= rows; r += 4, x += 4 * lda, c += 8) {
        pq_avx2_rows2(c, x, lda, w0, w1, n, 4);
    }
    if (rows - r == 3) {
        pq_avx2_rows2(c, x, lda, w0, w1, n, 3);
    } else if (rows - r == 2) {
        pq_avx2_rows2(c, x, lda, w0, w1, n, 2);
    } else if (rows - r == 1) {
        pq_avx2_rows2(c, x, lda, w0, w1, n, 1);
    }
}
#endif
"""

# pq_x86_rows_pair's first lines: the AVX2 kernels, where the CPU has AVX2
_AVX2_DISPATCH = r"""#if defined(PQ_X86_AVX2)
    if (pq_x86_has_avx2()) {
        if (mode == PQ_X86_W4) {
            pq_avx2_pair_w4(c, x, lda, w0, n, rows);
        } else {
            pq_avx2_pair_w8(c, x, lda, w0, w1, n, rows);
        }
        return;
    }
#endif
"""

_DOT2_COMMENT = "/* c[j] += w row j . a, j < 2 or 4 (the weight rows n apart times a) */\n"

X86_KERNEL_C = (_X86_ROUTINES_C + "\n" + rows_pair("x86", _AVX2_DISPATCH) + "\n" + mat_vec("x86") + "\n"
                + int8_kernels("x86", sum_name="acc", dot2_comment=_DOT2_COMMENT, dotn_shares="extension")
                + "#endif\n")

X86_PACKED_KERNEL_C = (r"""
/* ---- x86-64 SSE2 micro-kernels on packed 4-bit weights (dot_x86.py, dot_s4.py's layout) ---- */
#if defined(PQ_X86)
""" + packed_kernels("x86", mat_vec_note=" (acc: c +=, else c =)") + "#endif\n")
