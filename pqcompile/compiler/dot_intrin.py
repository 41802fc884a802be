"""The int8 dot product as C micro-kernels that the matmul kernels call: every matmul reduction
becomes one call of `pq_dot_s8(a, w, n)` (one output channel), `pq_dot{2,4}_s8(c, a, w, n)`
(2 or 4 output channels, rows of w n apart, sharing each activation load) or
`pq_dotn_s8(c, a, w, n, m)` (all m channels of a row, 4 at a time, when 4 does not divide m):
a tensorization, done in TVM's IR. A matmul over the token rows ([1, T, K] x [N, K]: bottleneck,
QRNN gates, attention score, slot head) instead calls a row kernel once per group of G output
channels, `pq_dot{G}r_s8(c, a, w, n, lda, rows)` (G = 2, or 1 when N is odd: importer.py pads an
odd N > 1 with a zero channel, so only N = 1 takes G = 1), which computes
that group for every token row: register blocking, several rows x 2 channels (G = 2) or rows x 1
channel (G = 1) per inner loop, so each weight load (and sign extension) serves several rows and
each activation load 2 channels; the rows left over go through smaller blocks. Its last argument,
T here, becomes the run-time `rows` (rows.py). pq_dot1r_s8 and pq_dotn_s8 (a matmul of one row:
its weight rows times the row) are rows times one vector.

Three implementations, chosen by the preprocessor, all computing the exact int32 sum (int8 x int8
products of at most 2^14, far from overflowing), so every target stays bit-exact:
  - NEON (`__ARM_NEON`: Cortex-A7 with -mfpu=neon-*, ARMv7-A; Cortex-A53, AArch64, ARMv8.0 without
    SDOT): one set of routines that compiles for both (PQ_NEON: pq_neon_rows2, up to 4 rows x 2
    channels, and pq_neon_vec, up to 4 rows x 1 vector, 32 deep per step with VLD2 / LD2; VMULL.S8
    int8 x int8 -> int16, VPADAL.S16 into int32 lanes; packed 4-bit weights summed in int16 first)
    for the row kernels, pq_dotn_s8 and the per-row kernels, int8 and packed 4-bit (dot_s4.py);
    pq_dot2rw_s8 (int16_weights) keeps its DSP version on ARMv7-A. Per 256 MACs of a 4-row step on
    ARMv7: 75 instructions (int8), 54 (4-bit), 45 (4-bit, depth at most 248).
  - the DSP extension without NEON (Cortex-M4/M7/M33/M55, ARMv7-A built without NEON:
    __ARM_FEATURE_DSP): 4 int8 of each operand in one load, sign-extended to two int16 pairs
    (SXTB16, and SXTB16 with ROR #8 for the odd bytes), multiply-accumulated with SMLAD, 2 products
    per instruction; the row kernels 3 rows x 2 channels (the last 2 or 4 rows 2 x 2) and, with
    constant sizes, in inline assembly; rows times one vector up to 8 rows per inner loop sharing
    the vector's words (PQ_ASM_VEC). Cortex-M55 with Helium takes dot_mve.py's kernels instead.
  - plain C loops elsewhere (the host; gcc -O2 vectorised them on AArch64 only when the depth was a
    multiple of 16: a depth of 184 stayed scalar, 4.9 instructions per MAC, hence PQ_NEON).

Weights stored as 4-bit integers packed two per byte (a model with 4-bit encoder weights) are read
by the pq_dot*_s4 counterparts of these kernels (dot_s4.py); use_dot_kernel emits those for the
weight buffers it is told are packed.

How: the schedule blockizes the reduction loop, or the channel-group loop around it, or the
token-row loop around those (`mark_dot`), and, once scheduled, `use_dot_kernel` replaces each
such block's body `[for t:] [for j:] for k: C[.., t, j] += int32(A[.., t, k]) * int32(W[j, k])`
by the call on the addresses of its first elements (checking how every index moves). Not `Schedule.tensorize` with a TensorIntrin: in TVM 0.27 (apache-tvm
0.27.0.post1) tensorize segfaults, even with an intrinsic whose implementation is its own
description."""
from __future__ import annotations

import numpy as np
import tvm
from tvm import s_tir, tirx
from tvm.ir.expr import TensorLoad   # what tirx.BufferLoad() builds
from tvm.sym import Analyzer

from .dot_s4 import PACKED
from .gemm_x86 import MIN_CHANNELS as GEMM_MIN_CHANNELS, OFFSETS as GEMM_OFFSETS, SYMBOL as GEMM_SYMBOL
from .requant_x86 import SYMBOLS as REQUANT_HOST_SYMBOLS
from .simd_wrappers import mat_vec, rows_pair
from .tir_rebuild import extern_name, rebuild, walk

DOT_MARK = "pq_dot_s8"   # annotation on a blockized reduction for use_dot_kernel
CHANNELS = (4, 2)         # output channels per micro-kernel call, first that divides the count
ROW_CHANNELS = (2, 1)     # output channels per row-kernel call (pq_dot2r_s8, pq_dot1r_s8)
ROWS_FORM = 2             # DOT_MARK value of a block for a row kernel
EXPLICIT_WRITE_REGION = "explicit_write_region"   # TVM's block annotation for CompactBufferAllocation
# micro-kernels whose last argument is the number of token rows they compute (rows.py: `rows`)
WIDE_KERNEL = "pq_dot2rw_s8"   # pq_dot2r_s8 on weights pre-extended to int16 (int16_weights)
ROW_KERNELS = (tuple(f"pq_dot{g}r_s8" for g in ROW_CHANNELS) + (WIDE_KERNEL,)
               + tuple(PACKED[f"pq_dot{g}r_s8"] for g in ROW_CHANNELS)   # and on packed 4-bit weights
               + (GEMM_SYMBOL,) + REQUANT_HOST_SYMBOLS)                    # the host's (gemm_x86.py, requant_x86.py)

# MICRO_KERNEL_C's first part: the nibble macros and the NEON routines pq_neon_rows2 and pq_neon_vec
# (their rows loops, pq_neon_rows_pair and pq_neon_mat_vec, are simd_wrappers.py's)
_NEON_ROUTINES_C = r"""
#include <string.h>
/* a byte of packed 4-bit weights (dot_s4.py's layout): the odd channel's weight (its low nibble, two's
   complement), the even one's */
#define PQ_NIB_LO(b) ((int32_t)(((b) & 15) ^ 8) - 8)
#define PQ_NIB_HI(b) (((int32_t)(int8_t)(uint8_t)(b) + 8) >> 4)
#if defined(__ARM_NEON)
/* NEON (Cortex-A7: ARMv7-A with -mfpu=neon-*; Cortex-A53: AArch64, no SDOT): the row kernels, rows
   times one vector and the per-row kernels, on int8 weights and on packed 4-bit ones (dot_s4.py),
   in one set of routines that compile for both (ARMv7 has no SMULL2 / ADDV: vget_high_s8 + VMULL,
   pairwise adds at the end). Register blocking: up to 4 rows x 2 channels (pq_neon_rows2) or 4
   rows x 1 vector (pq_neon_vec) per step, the rows' and weights' bytes loaded 32 at a time with
   VLD2 / LD2 (even bytes in one register, odd in the other, the same for both operands: the
   products pair up as before, only their order of summation changes). int8 x int8 products
   (|p| <= 2^14) go VMULL.S8 (8 int16 products) + VPADAL.S16 (pairwise into 4 int32 lanes);
   with 4-bit weights (|p| <= 2^10) each int16 lane first sums 4 products (VMULL + 3 VMLAL), then
   one VPADAL, or in pq_neon_rows2 up to a depth of 248 all of them (at most 31, |sum| < 2^15):
   exact int32 sums either way, like every other path. A packed pair's bytes
   y = 16 w0 + w1 split exactly: w0 = VRSHR.S8 #4 of y ((y + 8) >> 4, computed without overflow),
   w1 = VSHR.S8 #4 of VSHL.I8 #4 of y. The depth goes 32, then 16 and 8 deep, the last n % 8
   products in C. gcc would treat the rows as one pointer plus offsets (VLD has no immediate
   offset: an ADD per load) and hoist the next row's loads above the current row's arithmetic (out
   of registers on ARMv7's 16 q registers): an empty asm makes each row pointer opaque, another
   with a memory clobber separates the rows. Row k's pointer is formed only when there is a row
   k (x + 3 lda past a 3-row array is out of bounds: -Warray-bounds). */
#include <arm_neon.h>
#define PQ_NEON 1
#define PQ_NEON_W8 0        /* int8 weight rows (rows2: channel 0's at w0, channel 1's at w1) */
#define PQ_NEON_W4 1        /* a packed 4-bit pair at w0: both channels (rows2) */
#define PQ_NEON_W4_EVEN 2   /* one channel of a packed pair at w0: the even one, high nibbles (vec) */
#define PQ_NEON_W4_ODD 3    /* the odd one, low nibbles (vec) */
#define PQ_NEON_OPAQUE(p) __asm__("" : "+r"(p))
#define PQ_NEON_BARRIER() __asm__ volatile("" ::: "memory")
/* weight i of channel ch (0, 1) of a routine's weights, for the last n % 8 products */
#define PQ_NEON_WAT(mode, w0, w1, ch, i)                                                   \
    ((mode) == PQ_NEON_W8 ? (int32_t)((ch) ? (w1)[i] : (w0)[i])                           \
     : ((mode) == PQ_NEON_W4 ? !(ch) : (mode) == PQ_NEON_W4_EVEN)                          \
     ? PQ_NIB_HI((uint8_t)(w0)[i]) : PQ_NIB_LO((uint8_t)(w0)[i]))
#define PQ_NEON_HIQ(y) vrshrq_n_s8((y), 4)
#define PQ_NEON_LOQ(y) vshrq_n_s8(vshlq_n_s8((y), 4), 4)
#define PQ_NEON_HID(y) vrshr_n_s8((y), 4)
#define PQ_NEON_LOD(y) vshr_n_s8(vshl_n_s8((y), 4), 4)
/* the weights a vec mode reads from 16 (8) bytes y */
#define PQ_NEON_VQ(mode, y) ((mode) == PQ_NEON_W4_EVEN ? PQ_NEON_HIQ(y) : (mode) == PQ_NEON_W4_ODD ? PQ_NEON_LOQ(y) : (y))
#define PQ_NEON_VD(mode, y) ((mode) == PQ_NEON_W4_EVEN ? PQ_NEON_HID(y) : (mode) == PQ_NEON_W4_ODD ? PQ_NEON_LOD(y) : (y))
#if defined(__aarch64__)
#define PQ_NEON_MULL_HI(x, y) vmull_high_s8((x), (y))
#define PQ_NEON_MLAL_HI(t, x, y) vmlal_high_s8((t), (x), (y))
#else
#define PQ_NEON_MULL_HI(x, y) vmull_s8(vget_high_s8(x), vget_high_s8(y))
#define PQ_NEON_MLAL_HI(t, x, y) vmlal_s8((t), vget_high_s8(x), vget_high_s8(y))
#endif
/* acc + x . y over 16 int8 lanes (8: MAC8), into acc's 4 int32 lanes */
#define PQ_NEON_MAC16(acc, x, y) do {                                                      \
        acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(x), vget_low_s8(y)));                  \
        acc = vpadalq_s16(acc, PQ_NEON_MULL_HI(x, y));                                     \
    } while (0)
#define PQ_NEON_MAC8(acc, x, y) acc = vpadalq_s16(acc, vmull_s8((x), (y)))
/* 4-bit weights: 32 lanes (xa . ya + xb . yb: 4 products per int16 lane) or 16 */
#define PQ_NEON_MAC32_W4(acc, xa, xb, ya, yb) do {                                         \
        int16x8_t t_ = vmull_s8(vget_low_s8(xa), vget_low_s8(ya));                         \
        t_ = PQ_NEON_MLAL_HI(t_, xa, ya);                                                  \
        t_ = vmlal_s8(t_, vget_low_s8(xb), vget_low_s8(yb));                               \
        t_ = PQ_NEON_MLAL_HI(t_, xb, yb);                                                  \
        acc = vpadalq_s16(acc, t_);                                                        \
    } while (0)
/* int16 lanes s + the 16 products of x and 4-bit weights y (2 per lane) */
#define PQ_NEON_MLA16_W4(s, x, y) PQ_NEON_MLAL_HI(vmlal_s8((s), vget_low_s8(x), vget_low_s8(y)), x, y)
#define PQ_NEON_MAC16_W4(acc, x, y)                                                        \
    acc = vpadalq_s16(acc, PQ_NEON_MLAL_HI(vmull_s8(vget_low_s8(x), vget_low_s8(y)), x, y))
/* 32 lanes of x (VLD2 halves) times weights u (VLD2 halves) */
#define PQ_NEON_MAC32(acc, x, u, w4) do {                                                  \
        if (w4) {                                                                          \
            PQ_NEON_MAC32_W4(acc, (x).val[0], (x).val[1], (u).val[0], (u).val[1]);         \
        } else {                                                                           \
            PQ_NEON_MAC16(acc, (x).val[0], (u).val[0]);                                    \
            PQ_NEON_MAC16(acc, (x).val[1], (u).val[1]);                                    \
        }                                                                                  \
    } while (0)
#define PQ_NEON_MAC16X(acc, x, u, w4) do {                                                 \
        if (w4) { PQ_NEON_MAC16_W4(acc, x, u); } else { PQ_NEON_MAC16(acc, x, u); }       \
    } while (0)
/* {sum of a's lanes, sum of b's} */
static inline int32x2_t pq_neon_sum2(int32x4_t a, int32x4_t b)
{
    return vpadd_s32(vadd_s32(vget_low_s32(a), vget_high_s32(a)), vadd_s32(vget_low_s32(b), vget_high_s32(b)));
}
/* one row's step in a routine's loop: `body` on row k's pointer p and accumulators, when R > k */
#define PQ_NEON_ROWS(R, body) PQ_NEON_ROWS_ON(R, body, a)
/* the same on the accumulators named A00, A01, .. A31 */
#define PQ_NEON_ROWS_ON(R, body, A)                                                        \
    body(p0, A##00, A##01)                                                                 \
    if ((R) > 1) { PQ_NEON_BARRIER(); body(p1, A##10, A##11) }                             \
    if ((R) > 2) { PQ_NEON_BARRIER(); body(p2, A##20, A##21) }                             \
    if ((R) > 3) { PQ_NEON_BARRIER(); body(p3, A##30, A##31) }
/* the R (1..4) rows' pointers and accumulators (two per row) */
#define PQ_NEON_SETUP(R, x, lda)                                                           \
    const int8_t *p0 = (x), *p1 = (R) > 1 ? (x) + (lda) : (x), *p2 = (R) > 2 ? (x) + 2 * (lda) : (x), \
                 *p3 = (R) > 3 ? (x) + 3 * (lda) : (x);                                    \
    int32x4_t a00 = vdupq_n_s32(0), a01 = a00, a10 = a00, a11 = a00, a20 = a00, a21 = a00, \
              a30 = a00, a31 = a00;                                                        \
    PQ_NEON_OPAQUE(p0); PQ_NEON_OPAQUE(p1); PQ_NEON_OPAQUE(p2); PQ_NEON_OPAQUE(p3)

/* R (1..4) rows x 2 channels: c[2r + j] = sum of x[r * lda + i] * (weight i of channel j), i < n,
   r < R (written). mode PQ_NEON_W8: channel j's int8 weights at w0, w1; PQ_NEON_W4: the packed
   pair at w0 (w1 unused). int8: per 32-deep step 2 VLD2 of weights, then per row one VLD2, 8 VMULL
   and 8 VPADAL; 4 rows: 75 instructions per 256 MACs on ARMv7. 4-bit: per 32-deep step one VLD2
   of the pair and 6 instructions to split it, then per row one VLD2, 2 x (VMULL + 3 VMLAL) into
   int16 lanes (4 products of at most 2^10 each) and 2 VPADAL; 4 rows: 54 per 256. A depth of at
   most 248 (the QRNN's second layer, 184) keeps int16 sums throughout instead (at most 31
   products per lane, |sum| < 2^15): 8 VMLAL and no VPADAL per row and step, 45 per 256. The last
   8..31 products of a 4-bit row go into one int16 sum per row and channel (16 and 8 deep, VMLAL),
   the last n % 8 in C. Always inlined: R and mode must be constants. */
__attribute__((always_inline))
static inline void pq_neon_rows2(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0, const int8_t *w1,
                                 int32_t n, const int R, const int mode)
{
    const int8_t *q = w0, *q1 = w1;
    int32_t i = 0, k;
    PQ_NEON_SETUP(R, x, lda);
    PQ_NEON_OPAQUE(q1);

    if (mode == PQ_NEON_W4 && n <= 248) {
        int16x8_t s00 = vdupq_n_s16(0), s01 = s00, s10 = s00, s11 = s00, s20 = s00, s21 = s00, s30 = s00,
                  s31 = s00;
        for (; i + 32 <= n; i += 32) {
            int8x16x2_t u, v, xv, y = vld2q_s8(q);
            u.val[0] = PQ_NEON_HIQ(y.val[0]);
            u.val[1] = PQ_NEON_HIQ(y.val[1]);
            v.val[0] = PQ_NEON_LOQ(y.val[0]);
            v.val[1] = PQ_NEON_LOQ(y.val[1]);
            q += 32;
#define PQ_NEON_S2_32(p, s0, s1)                                                           \
            xv = vld2q_s8(p);                                                              \
            p += 32;                                                                       \
            s0 = PQ_NEON_MLA16_W4(PQ_NEON_MLA16_W4(s0, xv.val[0], u.val[0]), xv.val[1], u.val[1]); \
            s1 = PQ_NEON_MLA16_W4(PQ_NEON_MLA16_W4(s1, xv.val[0], v.val[0]), xv.val[1], v.val[1]);
            PQ_NEON_ROWS_ON(R, PQ_NEON_S2_32, s)
        }
        PQ_NEON_OPAQUE(p0); PQ_NEON_OPAQUE(p1); PQ_NEON_OPAQUE(p2); PQ_NEON_OPAQUE(p3);   /* (their increments) */
        if (i + 16 <= n) {
            int8x16_t y = vld1q_s8(q), u = PQ_NEON_HIQ(y), v = PQ_NEON_LOQ(y), xv;
            q += 16;
#define PQ_NEON_S2_16(p, s0, s1)                                                           \
            xv = vld1q_s8(p);                                                              \
            p += 16;                                                                       \
            s0 = PQ_NEON_MLA16_W4(s0, xv, u);                                              \
            s1 = PQ_NEON_MLA16_W4(s1, xv, v);
            PQ_NEON_ROWS_ON(R, PQ_NEON_S2_16, s)
            i += 16;
        }
        if (i + 8 <= n) {
            int8x8_t y = vld1_s8(q), u = PQ_NEON_HID(y), v = PQ_NEON_LOD(y), xv;
            q += 8;
#define PQ_NEON_S2_8(p, s0, s1)                                                            \
            xv = vld1_s8(p);                                                               \
            p += 8;                                                                        \
            s0 = vmlal_s8(s0, xv, u);                                                      \
            s1 = vmlal_s8(s1, xv, v);
            PQ_NEON_ROWS_ON(R, PQ_NEON_S2_8, s)
            i += 8;
        }
        a00 = vpaddlq_s16(s00);
        a01 = vpaddlq_s16(s01);
        a10 = vpaddlq_s16(s10);
        a11 = vpaddlq_s16(s11);
        a20 = vpaddlq_s16(s20);
        a21 = vpaddlq_s16(s21);
        a30 = vpaddlq_s16(s30);
        a31 = vpaddlq_s16(s31);
    } else if (mode == PQ_NEON_W4) {
        for (; i + 32 <= n; i += 32) {
            int8x16x2_t u, v, xv, y = vld2q_s8(q);
            u.val[0] = PQ_NEON_HIQ(y.val[0]);
            u.val[1] = PQ_NEON_HIQ(y.val[1]);
            v.val[0] = PQ_NEON_LOQ(y.val[0]);
            v.val[1] = PQ_NEON_LOQ(y.val[1]);
            q += 32;
#define PQ_NEON_R4_32(p, acc0, acc1)                                                       \
            xv = vld2q_s8(p);                                                              \
            p += 32;                                                                       \
            PQ_NEON_MAC32_W4(acc0, xv.val[0], xv.val[1], u.val[0], u.val[1]);              \
            PQ_NEON_MAC32_W4(acc1, xv.val[0], xv.val[1], v.val[0], v.val[1]);
            PQ_NEON_ROWS(R, PQ_NEON_R4_32)
        }
        PQ_NEON_OPAQUE(p0); PQ_NEON_OPAQUE(p1); PQ_NEON_OPAQUE(p2); PQ_NEON_OPAQUE(p3);
        if (i + 8 <= n) {   /* the last 8..31: 16 and / or 8 deep, one int16 sum per row and channel */
            const int h16 = i + 16 <= n, h8 = ((n - i) & 8) != 0;
            int8x16_t u = vdupq_n_s8(0), v = u, xv;
            int8x8_t ud = vget_low_s8(u), vd = ud, xd;
            int16x8_t t0 = vdupq_n_s16(0), t1 = t0;
            if (h16) {
                xv = vld1q_s8(q);
                u = PQ_NEON_HIQ(xv);
                v = PQ_NEON_LOQ(xv);
                q += 16;
            }
            if (h8) {
                xd = vld1_s8(q);
                ud = PQ_NEON_HID(xd);
                vd = PQ_NEON_LOD(xd);
                q += 8;
            }
#define PQ_NEON_R4_T(p, acc0, acc1)                                                        \
            if (h16) {                                                                     \
                xv = vld1q_s8(p);                                                          \
                p += 16;                                                                   \
                t0 = PQ_NEON_MLAL_HI(vmull_s8(vget_low_s8(xv), vget_low_s8(u)), xv, u);    \
                t1 = PQ_NEON_MLAL_HI(vmull_s8(vget_low_s8(xv), vget_low_s8(v)), xv, v);    \
            }                                                                              \
            if (h8) {                                                                      \
                xd = vld1_s8(p);                                                           \
                p += 8;                                                                    \
                t0 = h16 ? vmlal_s8(t0, xd, ud) : vmull_s8(xd, ud);                        \
                t1 = h16 ? vmlal_s8(t1, xd, vd) : vmull_s8(xd, vd);                        \
            }                                                                              \
            acc0 = vpadalq_s16(acc0, t0);                                                  \
            acc1 = vpadalq_s16(acc1, t1);
            PQ_NEON_ROWS(R, PQ_NEON_R4_T)
            i += 16 * h16 + 8 * h8;
        }
    } else {
        for (; i + 32 <= n; i += 32) {
            int8x16x2_t u = vld2q_s8(q), v = vld2q_s8(q1), xv;
            q += 32;
            q1 += 32;
#define PQ_NEON_R2_32(p, acc0, acc1)                                                       \
            xv = vld2q_s8(p);                                                              \
            p += 32;                                                                       \
            PQ_NEON_MAC16(acc0, xv.val[0], u.val[0]);                                      \
            PQ_NEON_MAC16(acc0, xv.val[1], u.val[1]);                                      \
            PQ_NEON_MAC16(acc1, xv.val[0], v.val[0]);                                      \
            PQ_NEON_MAC16(acc1, xv.val[1], v.val[1]);
            PQ_NEON_ROWS(R, PQ_NEON_R2_32)
        }
        PQ_NEON_OPAQUE(p0); PQ_NEON_OPAQUE(p1); PQ_NEON_OPAQUE(p2); PQ_NEON_OPAQUE(p3);
        if (i + 16 <= n) {
            int8x16_t u = vld1q_s8(q), v = vld1q_s8(q1), xv;
            q += 16;
            q1 += 16;
#define PQ_NEON_R2_16(p, acc0, acc1)                                                       \
            xv = vld1q_s8(p);                                                              \
            p += 16;                                                                       \
            PQ_NEON_MAC16(acc0, xv, u);                                                    \
            PQ_NEON_MAC16(acc1, xv, v);
            PQ_NEON_ROWS(R, PQ_NEON_R2_16)
            i += 16;
        }
        if (i + 8 <= n) {
            int8x8_t u = vld1_s8(q), v = vld1_s8(q1), xv;
            q += 8;
            q1 += 8;
#define PQ_NEON_R2_8(p, acc0, acc1)                                                        \
            xv = vld1_s8(p);                                                               \
            p += 8;                                                                        \
            PQ_NEON_MAC8(acc0, xv, u);                                                     \
            PQ_NEON_MAC8(acc1, xv, v);
            PQ_NEON_ROWS(R, PQ_NEON_R2_8)
            i += 8;
        }
    }
    vst1_s32(c, pq_neon_sum2(a00, a01));
    if (R > 1) {
        vst1_s32(c + 2, pq_neon_sum2(a10, a11));
    }
    if (R > 2) {
        vst1_s32(c + 4, pq_neon_sum2(a20, a21));
    }
    if (R > 3) {
        vst1_s32(c + 6, pq_neon_sum2(a30, a31));
    }
    for (k = 0; k < n - i; k++) {   /* the last n % 8 products */
        int32_t y0 = PQ_NEON_WAT(mode, q, q1, 0, k), y1 = PQ_NEON_WAT(mode, q, q1, 1, k);
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
}

/* R (1..4) rows times one vector: c[r] = (acc: c[r] +) sum of x[r * lda + i] * v[i], i < n, r < R;
   v int8 (PQ_NEON_W8) or one channel of a packed pair (PQ_NEON_W4_EVEN / _ODD: v is the pair's
   first byte). Always inlined. */
__attribute__((always_inline))
static inline void pq_neon_vec(int32_t *c, const int8_t *x, int32_t lda, const int8_t *v, int32_t n,
                               const int R, const int acc, const int mode)
{
    const int w4 = mode != PQ_NEON_W8;
    int32_t i = 0, k;
    int32x2_t s;
    PQ_NEON_SETUP(R, x, lda);
    (void)a01, (void)a11, (void)a21, (void)a31;   /* one accumulator per row */

    for (; i + 32 <= n; i += 32) {
        int8x16x2_t u = vld2q_s8(v), xv;
        u.val[0] = PQ_NEON_VQ(mode, u.val[0]);
        u.val[1] = PQ_NEON_VQ(mode, u.val[1]);
        v += 32;
#define PQ_NEON_V_32(p, acc0, acc1)                                                        \
        xv = vld2q_s8(p);                                                                  \
        p += 32;                                                                           \
        PQ_NEON_MAC32(acc0, xv, u, w4);
        PQ_NEON_ROWS(R, PQ_NEON_V_32)
    }
    PQ_NEON_OPAQUE(p0); PQ_NEON_OPAQUE(p1); PQ_NEON_OPAQUE(p2); PQ_NEON_OPAQUE(p3);   /* (their increments) */
    if (i + 16 <= n) {
        int8x16_t u = PQ_NEON_VQ(mode, vld1q_s8(v)), xv;
        v += 16;
#define PQ_NEON_V_16(p, acc0, acc1)                                                        \
        xv = vld1q_s8(p);                                                                  \
        p += 16;                                                                           \
        PQ_NEON_MAC16X(acc0, xv, u, w4);
        PQ_NEON_ROWS(R, PQ_NEON_V_16)
        i += 16;
    }
    if (i + 8 <= n) {
        int8x8_t u = PQ_NEON_VD(mode, vld1_s8(v)), xv;
        v += 8;
#define PQ_NEON_V_8(p, acc0, acc1)                                                         \
        xv = vld1_s8(p);                                                                   \
        p += 8;                                                                            \
        PQ_NEON_MAC8(acc0, xv, u);
        PQ_NEON_ROWS(R, PQ_NEON_V_8)
        i += 8;
    }
    if (R > 1) {
        s = pq_neon_sum2(a00, a10);
        vst1_s32(c, acc ? vadd_s32(s, vld1_s32(c)) : s);
    } else {
        s = pq_neon_sum2(a00, a00);
        c[0] = acc ? c[0] + vget_lane_s32(s, 0) : vget_lane_s32(s, 0);
    }
    if (R > 3) {
        s = pq_neon_sum2(a20, a30);
        vst1_s32(c + 2, acc ? vadd_s32(s, vld1_s32(c + 2)) : s);
    } else if (R > 2) {
        s = pq_neon_sum2(a20, a20);
        c[2] = acc ? c[2] + vget_lane_s32(s, 0) : vget_lane_s32(s, 0);
    }
    for (k = 0; k < n - i; k++) {   /* the last n % 8 products */
        int32_t y = PQ_NEON_WAT(mode, v, v, 0, k);
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

"""

# the rest: the DSP extension's routines and the micro-kernels pq_dot_s8 .. pq_dotn_s8
_KERNELS_C = r"""#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
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
   declares for the call it emits. pq_dot_s8, pq_dot2_s8 and pq_dot4_s8 with NEON: pq_neon_vec (the
   weight rows times a) */
static inline int32_t pq_dot_s8(int8_t *a, int8_t *b, int32_t n)
{
    int32_t acc = 0, i = 0;
#if defined(PQ_NEON)
    pq_neon_vec(&acc, a, 0, b, n, 1, 0, PQ_NEON_W8);
    i = n;
#elif defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
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
#if defined(PQ_NEON)
    pq_neon_vec(c, w, n, a, n, 2, 1, PQ_NEON_W8);
    return;
#elif defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
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
#if defined(PQ_NEON)
    pq_neon_vec(c, w, n, a, n, 4, 1, PQ_NEON_W8);
    return;
#elif defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
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

/* Row kernels: one call computes a group of output channels for every token row (rows < 32 or
   so), so that each sign-extended weight word serves several rows. c[r * G + j] = sum of
   a[r * lda + i] * w[j * n + i], i < n, for r < rows and j < G (G = 2 or 1); c is written, not
   accumulated. With the DSP extension, per 4-deep step: 2 rows x 2 channels load 4 words, sign-
   extend them with 8 SXTB16 and multiply-accumulate with 8 SMLAD (16 MACs); 4 rows x 1 channel
   load 5 words, 10 SXTB16, 8 SMLAD. The inner loops go 8 deep; the empty asm with a memory
   clobber between the two 4-deep halves keeps gcc's first scheduling pass from hoisting the
   second half's loads above the first half, which ran out of registers on cortex-m4 (54 instead
   of 44 instructions per 32 MACs). */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define PQ_STEP_2X2(p, q, lda, n) do {                                                     \
        int32_t x0_, x1_, y0_, y1_, x0e_, x0o_, x1e_, x1o_, ye_, yo_;                      \
        memcpy(&y0_, (q), 4);                                                              \
        memcpy(&y1_, (q) + (n), 4);                                                        \
        memcpy(&x0_, (p), 4);                                                              \
        memcpy(&x1_, (p) + (lda), 4);                                                      \
        x0e_ = __sxtb16(x0_); x0o_ = pq_sxtb16_ror8(x0_);                                  \
        x1e_ = __sxtb16(x1_); x1o_ = pq_sxtb16_ror8(x1_);                                  \
        ye_ = __sxtb16(y0_); yo_ = pq_sxtb16_ror8(y0_);                                    \
        c00 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c00));                                 \
        c10 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c10));                                 \
        ye_ = __sxtb16(y1_); yo_ = pq_sxtb16_ror8(y1_);                                    \
        c01 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c01));                                 \
        c11 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c11));                                 \
    } while (0)
#define PQ_STEP_4X1(p, q, lda) do {                                                        \
        int32_t x_, y_, ye_, yo_;                                                          \
        memcpy(&y_, (q), 4);                                                               \
        ye_ = __sxtb16(y_); yo_ = pq_sxtb16_ror8(y_);                                      \
        memcpy(&x_, (p), 4);                                                               \
        c0 = __smlad(pq_sxtb16_ror8(x_), yo_, __smlad(__sxtb16(x_), ye_, c0));             \
        memcpy(&x_, (p) + (lda), 4);                                                       \
        c1 = __smlad(pq_sxtb16_ror8(x_), yo_, __smlad(__sxtb16(x_), ye_, c1));             \
        memcpy(&x_, (p) + 2 * (lda), 4);                                                   \
        c2 = __smlad(pq_sxtb16_ror8(x_), yo_, __smlad(__sxtb16(x_), ye_, c2));             \
        memcpy(&x_, (p) + 3 * (lda), 4);                                                   \
        c3 = __smlad(pq_sxtb16_ror8(x_), yo_, __smlad(__sxtb16(x_), ye_, c3));             \
    } while (0)
#define PQ_SCHED_BARRIER() __asm__ volatile("" ::: "memory")
#endif

/* Three rows x two channels (pq_dot2r_s8's row triples): per 4-deep step 5 LDRs, 10 SXTB16, 12
   SMLADs make 24 MACs, the two channels' sign-extended weights held in 4 registers while the rows
   stream through 2. With the 6 accumulators and the 2 pointers that is 14 live registers, all of
   Thumb-2's (r0-r12, lr): gcc's allocator spills accumulators at that pressure (the same steps in
   C, 8 deep: 71 instead of 57 instructions per 48 MACs on cortex-m7), and an asm statement with
   14 register operands is beyond it too ("impossible constraints", "unable to find a register to
   spill", depending on the code around it). So each row block is one asm routine on fixed
   registers, which gcc sees like a call: three operands (p: row 0, q: channel 0, c: the
   accumulators' destination) in the registers it keeps (r0-r2), r3-r12 and lr clobbered.
   Accumulators r3-r8 (c00, c01, c10, c11, c20, c21), the channels' words r9, r10 (channel 0's
   even and odd bytes) and r11, r12 (channel 1's), the row word in lr, its even bytes in c's
   register (c itself is pushed first and popped into lr to store the accumulators, STM). The
   loop runs 16 deep, its end on the stack (ldr, cmp, bne), then an 8- and a 4-deep block
   (`.if` on the constants); the last n % 4 products are C. Offsets are immediates: the depth n
   and row stride lda must be constants (the generated kernels' calls are; the row kernels are
   always inlined), 2 lda and n at most 4095 (LDR's 12-bit offset): PQ_IMM_OFFSETS, otherwise the
   C loops. r7 is clobbered: a function with a frame pointer in r7 (Thumb-2 with
   -fno-omit-frame-pointer) cannot have it; define PQ_NO_ROW_ASM there. */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* one row of a step: its word (loaded by `ld` into lr) times the two channels' into acc0, acc1 */
#define PQ_ASM_ROW_X2(ld, acc0, acc1)                                                      \
    ld "\n\t"                                                                              \
    "sxtb16 %[c], lr\n\t"                                                                  \
    "sxtb16 lr, lr, ror #8\n\t"                                                            \
    "smlad " acc0 ", %[c], r9, " acc0 "\n\t"                                               \
    "smlad " acc1 ", %[c], r11, " acc1 "\n\t"                                              \
    "smlad " acc0 ", lr, r10, " acc0 "\n\t"                                                \
    "smlad " acc1 ", lr, r12, " acc1 "\n\t"
/* the two channels' words at q + n and q (q += 4), sign-extended */
#define PQ_ASM_LOAD_W8                                                                     \
    "ldr r11, [%[q], %[n]]\n\t"                                                            \
    "ldr r9, [%[q]], #4\n\t"                                                               \
    "sxtb16 r12, r11, ror #8\n\t"                                                          \
    "sxtb16 r11, r11\n\t"                                                                  \
    "sxtb16 r10, r9, ror #8\n\t"                                                           \
    "sxtb16 r9, r9\n\t"
/* one 4-deep step: rows 1, 2 at p + lda, p + 2 lda, row 0 at p (p += 4) */
#define PQ_ASM_STEP_3X2(load)                                                              \
    load                                                                                   \
    PQ_ASM_ROW_X2("ldr lr, [%[p], %[lda]]", "r5", "r6")                                    \
    PQ_ASM_ROW_X2("ldr lr, [%[p], %[lda2]]", "r7", "r8")                                   \
    PQ_ASM_ROW_X2("ldr lr, [%[p]], #4", "r3", "r4")
#define PQ_ASM_STEP_2X2(load)                                                              \
    load                                                                                   \
    PQ_ASM_ROW_X2("ldr lr, [%[p], %[lda]]", "r5", "r6")                                    \
    PQ_ASM_ROW_X2("ldr lr, [%[p]], #4", "r3", "r4")
/* The routine: c[0..5] (3 rows) or c[0..3] (2 rows) = the row block's sums over the first 4
   (n / 4) products; `step` one 4-deep step, `loop` how many bytes q moves per 16 deep (0: no
   loop). The pairs (2 rows) keep the loop's end in r8. */
#define PQ_ASM_ROWS(rows3, step, qbytes16, n, lda, p, q, c) do {                          \
        int32_t *c_ = (c);                                                                 \
        __asm__ volatile(                                                                  \
            "str %[c], [sp, #-8]!\n\t"                                                     \
            "mov r3, #0\n\t" "mov r4, #0\n\t" "mov r5, #0\n\t" "mov r6, #0\n\t"            \
            ".if %c[three]\n\t" "mov r7, #0\n\t" "mov r8, #0\n\t" ".endif\n\t"             \
            ".if %c[k16]\n\t"                                                              \
            "movw %[c], #%c[k16]\n\t"                                                      \
            "add %[c], %[c], %[q]\n\t"                                                     \
            ".if %c[three]\n\t" "str %[c], [sp, #4]\n\t" ".else\n\t" "mov r8, %[c]\n\t" ".endif\n\t" \
            "1:\n\t" step step step step                                                   \
            ".if %c[three]\n\t" "ldr lr, [sp, #4]\n\t" "cmp %[q], lr\n\t"                  \
            ".else\n\t" "cmp %[q], r8\n\t" ".endif\n\t"                                    \
            "bne 1b\n\t"                                                                   \
            ".endif\n\t"                                                                   \
            ".if %c[has8]\n\t" step step ".endif\n\t"                                      \
            ".if %c[has4]\n\t" step ".endif\n\t"                                           \
            "ldr lr, [sp], #8\n\t"                                                         \
            ".if %c[three]\n\t" "stm lr, {r3-r8}\n\t" ".else\n\t" "stm lr, {r3-r6}\n\t" ".endif\n\t" \
            : [p] "+r"(p), [q] "+r"(q), [c] "+r"(c_)                                       \
            : [n] "J"(n), [lda] "J"(lda), [lda2] "J"(2 * (lda)), [three] "i"(rows3),       \
              [k16] "i"(((n) >> 4) * (qbytes16)), [has8] "i"(((n) >> 3) & 1),              \
              [has4] "i"(((n) >> 2) & 1)                                                   \
            : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"); \
    } while (0)
/* whether the offsets fit LDR's immediate (0..4095) and are known to the compiler */
#if defined(PQ_NO_ROW_ASM)
#define PQ_IMM_OFFSETS(n, lda) 0
#else
#define PQ_IMM_OFFSETS(n, lda) (__builtin_constant_p(n) && __builtin_constant_p(lda)     \
                                && (n) >= 0 && (n) <= 4095 && (lda) >= 0 && (lda) <= 2047)
#endif
#endif

/* Rows times one vector: c[k] = (or +=) sum of x[k * lda + i] * v[i], i < n, k < R, R <= 8 rows of
   x at a time sharing each sign-extended word of v: the attention score (the token rows times its
   one weight channel, pq_dot1r_s8) and a matmul of one row (the intent head: its weight rows times
   the pooled row, pq_dotn_s8). Per 4-deep step 1 + R LDRs, 2 + 2R SXTB16 and 2R SMLADs make 4R
   MACs: 43 instructions per 32 MACs for R = 8 (where pq_dot4_s8's C loop takes 27 per 16). One asm
   routine on fixed registers like PQ_ASM_ROWS: operands p (row 0), q (v), c; accumulators r3-r8,
   r11, r12 (rows 0..7, in STM order), v's even and odd bytes in r9, r10, the row word in lr, its
   even bytes in c's register (c pushed first, popped into lr for the STM). The 16-deep loop's end
   is in r12 for R < 8, on the stack for R = 8. Rows are `.if`s on R; row k's offset k lda is an
   immediate: PQ_VEC_OFFSETS. acc: 1 loads the accumulators from c (c +=), 0 zeroes them (c =). */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define PQ_ASM_VROW(k, ld, acc)                                                            \
    ".if %c[R] > " #k "\n\t"                                                               \
    ld "\n\t"                                                                              \
    "sxtb16 %[c], lr\n\t"                                                                  \
    "sxtb16 lr, lr, ror #8\n\t"                                                            \
    "smlad " acc ", %[c], r9, " acc "\n\t"                                                 \
    "smlad " acc ", lr, r10, " acc "\n\t"                                                  \
    ".endif\n\t"
#define PQ_ASM_VOFF(k) "ldr lr, [%[p], #(" #k " * %c[lda])]"
#define PQ_ASM_VSTEP                                                                       \
    "ldr r9, [%[q]], #4\n\t"                                                               \
    "sxtb16 r10, r9, ror #8\n\t"                                                           \
    "sxtb16 r9, r9\n\t"                                                                    \
    PQ_ASM_VROW(7, PQ_ASM_VOFF(7), "r12")                                                  \
    PQ_ASM_VROW(6, PQ_ASM_VOFF(6), "r11")                                                  \
    PQ_ASM_VROW(5, PQ_ASM_VOFF(5), "r8")                                                   \
    PQ_ASM_VROW(4, PQ_ASM_VOFF(4), "r7")                                                   \
    PQ_ASM_VROW(3, PQ_ASM_VOFF(3), "r6")                                                   \
    PQ_ASM_VROW(2, PQ_ASM_VOFF(2), "r5")                                                   \
    PQ_ASM_VROW(1, PQ_ASM_VOFF(1), "r4")                                                   \
    PQ_ASM_VROW(0, "ldr lr, [%[p]], #4", "r3")
/* `op base, {the R accumulators}` (LDM / STM) */
#define PQ_ASM_VREGS(op, base)                                                             \
    ".if %c[R] == 1\n\t" op " " base ", {r3}\n\t"                                          \
    ".elseif %c[R] == 2\n\t" op " " base ", {r3, r4}\n\t"                                  \
    ".elseif %c[R] == 3\n\t" op " " base ", {r3-r5}\n\t"                                   \
    ".elseif %c[R] == 4\n\t" op " " base ", {r3-r6}\n\t"                                   \
    ".elseif %c[R] == 5\n\t" op " " base ", {r3-r7}\n\t"                                   \
    ".elseif %c[R] == 6\n\t" op " " base ", {r3-r8}\n\t"                                   \
    ".elseif %c[R] == 7\n\t" op " " base ", {r3-r8, r11}\n\t"                              \
    ".else\n\t" op " " base ", {r3-r8, r11, r12}\n\t"                                      \
    ".endif\n\t"
#define PQ_ASM_VZERO(k, reg) ".if %c[R] > " #k "\n\t" "mov " reg ", #0\n\t" ".endif\n\t"
#define PQ_ASM_VEC(R_, acc_, n_, lda_, p_, q_, c_) do {                                           \
        int32_t *cv_ = (c_);                                                               \
        __asm__ volatile(                                                                  \
            "str %[c], [sp, #-8]!\n\t"                                                     \
            ".if %c[acc]\n\t"                                                              \
            PQ_ASM_VREGS("ldm", "%[c]")                                                    \
            ".else\n\t"                                                                    \
            PQ_ASM_VZERO(0, "r3") PQ_ASM_VZERO(1, "r4") PQ_ASM_VZERO(2, "r5")              \
            PQ_ASM_VZERO(3, "r6") PQ_ASM_VZERO(4, "r7") PQ_ASM_VZERO(5, "r8")              \
            PQ_ASM_VZERO(6, "r11") PQ_ASM_VZERO(7, "r12")                                  \
            ".endif\n\t"                                                                   \
            ".if %c[k16]\n\t"                                                              \
            "movw %[c], #%c[k16]\n\t"                                                      \
            "add %[c], %[c], %[q]\n\t"                                                     \
            ".if %c[R] == 8\n\t" "str %[c], [sp, #4]\n\t" ".else\n\t" "mov r12, %[c]\n\t" ".endif\n\t" \
            "1:\n\t" PQ_ASM_VSTEP PQ_ASM_VSTEP PQ_ASM_VSTEP PQ_ASM_VSTEP                   \
            ".if %c[R] == 8\n\t" "ldr lr, [sp, #4]\n\t" "cmp %[q], lr\n\t"                 \
            ".else\n\t" "cmp %[q], r12\n\t" ".endif\n\t"                                   \
            "bne 1b\n\t"                                                                   \
            ".endif\n\t"                                                                   \
            ".if %c[has8]\n\t" PQ_ASM_VSTEP PQ_ASM_VSTEP ".endif\n\t"                      \
            ".if %c[has4]\n\t" PQ_ASM_VSTEP ".endif\n\t"                                   \
            "ldr lr, [sp], #8\n\t"                                                         \
            PQ_ASM_VREGS("stm", "lr")                                                      \
            : [p] "+r"(p_), [q] "+r"(q_), [c] "+r"(cv_)                                   \
            : [R] "i"(R_), [acc] "i"(acc_), [lda] "i"(lda_), [k16] "i"(((n_) >> 4) * 16),  \
              [has8] "i"(((n_) >> 3) & 1), [has4] "i"(((n_) >> 2) & 1)                   \
            : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"); \
    } while (0)
/* whether R rows' offsets (up to (R - 1) lda) fit LDR's immediate and n, lda are constants */
#if defined(PQ_NO_ROW_ASM)
#define PQ_VEC_OFFSETS(n, lda, R) 0
#else
#define PQ_VEC_OFFSETS(n, lda, R) (__builtin_constant_p(n) && __builtin_constant_p(lda)   \
                                   && (n) >= 0 && (n) <= 65535 && (lda) >= 0          \
                                   && ((R) - 1) * (lda) <= 4095)
#endif
/* R rows from x (stride lda) times v into c[0..R-1], the last n % 4 products in C */
#define PQ_VEC_BLOCK(R, acc, n, lda, x, v, c) do {                                         \
        const int8_t *px_ = (x), *qv_ = (v);                                               \
        int32_t i_, k_;                                                                    \
        PQ_ASM_VEC(R, acc, n, lda, px_, qv_, (c));                                         \
        for (i_ = 0; i_ < ((n) & 3); i_++) {                                               \
            for (k_ = 0; k_ < (R); k_++) {                                                 \
                (c)[k_] += (int32_t)px_[k_ * (lda) + i_] * (int32_t)qv_[i_];               \
            }                                                                              \
        }                                                                                  \
    } while (0)
#endif

/* G = 2: with NEON, pq_neon_rows2 four rows at a time, then the last 3, 2 or 1 (pq_neon_rows_pair);
   with the DSP extension and immediate offsets, three rows x two channels at a time, the
   last 2 (or 4) rows two at a time (PQ_ASM_STEP_3X2 / _2X2, 16 deep); otherwise two rows x two
   channels in C (PQ_STEP_2X2, 8 deep); an odd last row through pq_dot2_s8 (one row only: 3k + 1
   rows are 3(k - 1) + 2 + 2). Always inlined: the offsets must be the call's constants. */
__attribute__((always_inline))
static inline void pq_dot2r_s8(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t lda, int32_t rows)
{
#if defined(PQ_NEON)
    pq_neon_rows_pair(c, a, lda, w, w + n, n, rows, PQ_NEON_W8);
#else
    const int8_t *w1 = w + n;
    int32_t r = 0;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (PQ_IMM_OFFSETS(n, lda)) {
        while (r + 2 <= rows) {   /* rows 3k, 3k + 2 = 3k + 2, 3k + 1 = 3(k - 1) + 2 + 2 */
            const int8_t *p = a, *q = w;
            int32_t i, g = r + 3 <= rows && rows - r != 4 ? 3 : 2;
            if (g == 3) {
                PQ_ASM_ROWS(1, PQ_ASM_STEP_3X2(PQ_ASM_LOAD_W8), 16, n, lda, p, q, c);
            } else {
                PQ_ASM_ROWS(0, PQ_ASM_STEP_2X2(PQ_ASM_LOAD_W8), 16, n, lda, p, q, c);
            }
            for (i = 0; i < (n & 3); i++) {   /* the last n % 4 products */
                int32_t y0 = q[i], y1 = q[n + i], k;
                for (k = 0; k < g; k++) {
                    c[2 * k] += (int32_t)p[k * lda + i] * y0;
                    c[2 * k + 1] += (int32_t)p[k * lda + i] * y1;
                }
            }
            r += g;
            a += g * lda;
            c += 2 * g;
        }
    }
#endif
    for (; r + 2 <= rows; r += 2, a += 2 * lda, c += 4) {
        const int8_t *a1 = a + lda;
        int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, i = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
        const int8_t *p = a, *q = w, *end = w + (n & ~7);
        for (; q != end; p += 8, q += 8) {
            PQ_STEP_2X2(p, q, lda, n);
            PQ_SCHED_BARRIER();
            PQ_STEP_2X2(p + 4, q + 4, lda, n);
            PQ_SCHED_BARRIER();
        }
        i = n & ~7;
        if (n & 4) {
            PQ_STEP_2X2(p, q, lda, n);
            i += 4;
        }
#endif
        for (; i < n; i++) {
            c00 += (int32_t)a[i] * (int32_t)w[i];
            c01 += (int32_t)a[i] * (int32_t)w1[i];
            c10 += (int32_t)a1[i] * (int32_t)w[i];
            c11 += (int32_t)a1[i] * (int32_t)w1[i];
        }
        c[0] = c00;
        c[1] = c01;
        c[2] = c10;
        c[3] = c11;
    }
    if (r < rows) {
        c[0] = 0;
        c[1] = 0;
        pq_dot2_s8(c, a, w, n);
    }
#endif
}

/* G = 1: with NEON, pq_neon_vec four rows at a time, then the last 3, 2 or 1 (pq_neon_mat_vec);
   with the DSP extension and immediate offsets, PQ_ASM_VEC four rows at a time, then 2,
   then 1; otherwise four rows x one channel in C (PQ_STEP_4X1), the last rows (fewer than 4)
   through pq_dot_s8. Always inlined: the offsets must be the call's constants. */
__attribute__((always_inline))
static inline void pq_dot1r_s8(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t lda, int32_t rows)
{
#if defined(PQ_NEON)
    pq_neon_mat_vec(c, a, lda, w, n, rows, 0, PQ_NEON_W8);
#else
    int32_t r = 0;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (PQ_VEC_OFFSETS(n, lda, 4)) {
        for (; r + 4 <= rows; r += 4, a += 4 * lda, c += 4) {
            PQ_VEC_BLOCK(4, 0, n, lda, a, w, c);
        }
        if (r + 2 <= rows) {
            PQ_VEC_BLOCK(2, 0, n, lda, a, w, c);
            r += 2;
            a += 2 * lda;
            c += 2;
        }
        if (r < rows) {
            PQ_VEC_BLOCK(1, 0, n, lda, a, w, c);
            return;
        }
    }
#endif
    for (; r + 4 <= rows; r += 4, a += 4 * lda, c += 4) {
        int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0, i = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
        const int8_t *p = a, *q = w, *end = w + (n & ~7);
        for (; q != end; p += 8, q += 8) {
            PQ_STEP_4X1(p, q, lda);
            PQ_SCHED_BARRIER();
            PQ_STEP_4X1(p + 4, q + 4, lda);
            PQ_SCHED_BARRIER();
        }
        i = n & ~7;
        if (n & 4) {
            PQ_STEP_4X1(p, q, lda);
            i += 4;
        }
#endif
        for (; i < n; i++) {
            c0 += (int32_t)a[i] * (int32_t)w[i];
            c1 += (int32_t)a[lda + i] * (int32_t)w[i];
            c2 += (int32_t)a[2 * lda + i] * (int32_t)w[i];
            c3 += (int32_t)a[3 * lda + i] * (int32_t)w[i];
        }
        c[0] = c0;
        c[1] = c1;
        c[2] = c2;
        c[3] = c3;
    }
    for (; r < rows; r++, a += lda, c++) {
        c[0] = pq_dot_s8(a, w, n);
    }
#endif
}

/* The weights pre-extended to int16 (the build option int16_weights): pq_dot2r_s8 without the
   weights' SXTB16s. w is the whole weight matrix as int32 words, each two int16 in the form SXTB16
   gives (low half, high half); channel pair j starts at word j * PQ_W16_PAIR_WORDS(n): for every
   4-deep block i..i+3, the words (w[i], w[i+2]) and (w[i+1], w[i+3]) of channel 2j, then those of
   channel 2j + 1; then the last n % 4 weights of channel 2j, then of channel 2j + 1, one word each
   (dot_intrin.preextend_pairs writes it; the array is word-aligned). Per 4-deep step for 2 rows
   x 2 channels: 2 activation words, 4 SXTB16, 2 LDRDs of weight words, 8 SMLAD. */
#define PQ_W16_PAIR_WORDS(n) (4 * ((n) >> 2) + 2 * ((n) & 3))

static inline int32_t pq_lo16(int32_t v)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)v & 0xFFFFu);
}

static inline int32_t pq_hi16(int32_t v)
{
    return (int32_t)(int16_t)(uint16_t)((uint32_t)v >> 16);
}

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* lo, hi = the two words at byte offset off (a literal) from q (word-aligned): one LDRD on
   Thumb-2, where gcc's cortex-m7 tuning would load them with two LDRs (40 instead of 36
   instructions per 32 MACs); the "m" operand tells gcc which memory it reads */
#if defined(__thumb2__)
#define PQ_LDRD(lo, hi, q, off)                                                            \
    __asm__("ldrd %0, %1, [%2, #" #off "]" : "=&r"(lo), "=&r"(hi)                          \
            : "r"(q), "m"(*(const int32_t (*)[2])(const void *)((const char *)(q) + (off))))
#else
#define PQ_LDRD(lo, hi, q, off) do { (lo) = (q)[(off) / 4]; (hi) = (q)[(off) / 4 + 1]; } while (0)
#endif
/* 4 deep, 2 rows x 2 channels; the channels' words at byte offsets o0 and o1 from q */
#define PQ_STEP_2X2W(p, q, lda, o0, o1) do {                                              \
        int32_t x0_, x1_, x0e_, x0o_, x1e_, x1o_, ye_, yo_;                                \
        memcpy(&x0_, (p), 4);                                                              \
        memcpy(&x1_, (p) + (lda), 4);                                                      \
        x0e_ = __sxtb16(x0_); x0o_ = pq_sxtb16_ror8(x0_);                                  \
        x1e_ = __sxtb16(x1_); x1o_ = pq_sxtb16_ror8(x1_);                                  \
        PQ_LDRD(ye_, yo_, q, o0);                                                          \
        c00 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c00));                                 \
        c10 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c10));                                 \
        PQ_LDRD(ye_, yo_, q, o1);                                                          \
        c01 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c01));                                 \
        c11 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c11));                                 \
    } while (0)
#endif

/* pq_dot2rw_s8's row triples: PQ_ASM_ROWS with the pre-extended words (channel 0's at q, channel
   1's at q + 8 bytes; q += 16 per step): 2 LDRDs, 3 LDRs, 6 SXTB16, 12 SMLADs per 24 MACs (A32 has
   no LDRD of any two registers: 4 LDRs there) */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#if defined(__thumb2__)
#define PQ_ASM_LOAD_W16                                                                    \
    "ldrd r11, r12, [%[q], #8]\n\t"                                                        \
    "ldrd r9, r10, [%[q]], #16\n\t"
#else
#define PQ_ASM_LOAD_W16                                                                    \
    "ldr r11, [%[q], #8]\n\t"                                                              \
    "ldr r12, [%[q], #12]\n\t"                                                             \
    "ldr r10, [%[q], #4]\n\t"                                                              \
    "ldr r9, [%[q]], #16\n\t"
#endif
#endif

/* one row of pq_dot2rw_s8: c[0..1] = the two channels' sums (v: the pair's words). With the DSP
   extension 8 deep per loop (an LDRD per channel and 4-deep block): 21 instructions per 16 MACs
   where the 4-deep loop took 13 per 8 (an odd row count's last row: every kernel at 3 tokens) */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
#define PQ_STEP_1X2W(p, q, o0, o1) do {                                                    \
        int32_t x_, xe_, xo_, w0_, w1_;                                                    \
        memcpy(&x_, (p), 4);                                                               \
        xe_ = __sxtb16(x_); xo_ = pq_sxtb16_ror8(x_);                                      \
        PQ_LDRD(w0_, w1_, q, o0);                                                          \
        c0 = __smlad(xo_, w1_, __smlad(xe_, w0_, c0));                                     \
        PQ_LDRD(w0_, w1_, q, o1);                                                          \
        c1 = __smlad(xo_, w1_, __smlad(xe_, w0_, c1));                                     \
    } while (0)
#endif
static inline void pq_dot2w_row(int32_t *c, const int8_t *a, const int32_t *v, int32_t n)
{
    int32_t c0 = 0, c1 = 0, b, tail = n & 3;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    const int32_t *end = v + 8 * (n >> 3);
    for (; v != end; a += 8, v += 8) {
        PQ_STEP_1X2W(a, v, 0, 8);
        PQ_STEP_1X2W(a + 4, v, 16, 24);
    }
    if (n & 4) {
        PQ_STEP_1X2W(a, v, 0, 8);
        a += 4;
        v += 4;
    }
#else
    for (b = 0; b < (n >> 2); b++, a += 4, v += 4) {
        c0 += a[0] * pq_lo16(v[0]) + a[2] * pq_hi16(v[0]) + a[1] * pq_lo16(v[1]) + a[3] * pq_hi16(v[1]);
        c1 += a[0] * pq_lo16(v[2]) + a[2] * pq_hi16(v[2]) + a[1] * pq_lo16(v[3]) + a[3] * pq_hi16(v[3]);
    }
#endif
    for (b = 0; b < tail; b++) {
        c0 += (int32_t)a[b] * v[b];
        c1 += (int32_t)a[b] * v[tail + b];
    }
    c[0] = c0;
    c[1] = c1;
}

/* c[r * 2 + k] = sum of a[r * lda + i] * (weight i of channel 2j + k), i < n, for r < rows, k < 2,
   w pre-extended (above); c is written. Three rows at a time (with the DSP extension and immediate
   offsets, PQ_ASM_ROWS, 16 deep), then two, an odd last row alone. */
__attribute__((always_inline))
static inline void pq_dot2rw_s8(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
                                int32_t rows)
{
    const int32_t *v = (const int32_t *)(const void *)w + j * PQ_W16_PAIR_WORDS(n);
    int32_t r = 0;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (PQ_IMM_OFFSETS(n, lda)) {
        for (; r + 3 <= rows; r += 3, a += 3 * lda, c += 6) {
            const int8_t *p = a;
            const int32_t *q = v;
            int32_t i, k, tail = n & 3;
            PQ_ASM_ROWS(1, PQ_ASM_STEP_3X2(PQ_ASM_LOAD_W16), 64, n, lda, p, q, c);
            for (i = 0; i < tail; i++) {   /* the last n % 4 products */
                for (k = 0; k < 3; k++) {
                    c[2 * k] += (int32_t)p[k * lda + i] * q[i];
                    c[2 * k + 1] += (int32_t)p[k * lda + i] * q[tail + i];
                }
            }
        }
    }
    for (; r + 2 <= rows; r += 2, a += 2 * lda, c += 4) {
        const int8_t *p = a;
        const int32_t *q = v, *end = v + 8 * (n >> 3);
        int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, i, tail = n & 3;
        for (; q != end; p += 8, q += 8) {
            PQ_STEP_2X2W(p, q, lda, 0, 8);
            PQ_SCHED_BARRIER();
            PQ_STEP_2X2W(p + 4, q, lda, 16, 24);
            PQ_SCHED_BARRIER();
        }
        if (n & 4) {
            PQ_STEP_2X2W(p, q, lda, 0, 8);
            p += 4;
            q += 4;
        }
        for (i = 0; i < tail; i++) {
            c00 += (int32_t)p[i] * q[i];
            c01 += (int32_t)p[i] * q[tail + i];
            c10 += (int32_t)p[lda + i] * q[i];
            c11 += (int32_t)p[lda + i] * q[tail + i];
        }
        c[0] = c00;
        c[1] = c01;
        c[2] = c10;
        c[3] = c11;
    }
#endif
    for (; r < rows; r++, a += lda, c += 2) {
        pq_dot2w_row(c, a, v, n);
    }
}

/* c[j] += sum of a[i] * w[j * n + i], i < n, for j < m (any m): with NEON, pq_neon_mat_vec on the
   weight rows times a, 4 channels at a time, then 3, 2 or 1; with the DSP extension and n a
   constant (7 n <= 4095), PQ_ASM_VEC on the weight rows times a, 8 channels at a time, then 4, 2,
   1; otherwise 4 channels at a time (pq_dot4_s8), then 2, then 1. Always inlined (constants). */
__attribute__((always_inline))
static inline void pq_dotn_s8(int32_t *c, int8_t *a, int8_t *w, int32_t n, int32_t m)
{
#if defined(PQ_NEON)
    pq_neon_mat_vec(c, w, n, a, n, m, 1, PQ_NEON_W8);
#else
    int32_t j = 0;

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    if (PQ_VEC_OFFSETS(n, n, 8)) {
        for (; j + 8 <= m; j += 8) {
            PQ_VEC_BLOCK(8, 1, n, n, w + j * n, a, c + j);
        }
        if (j + 4 <= m) {
            PQ_VEC_BLOCK(4, 1, n, n, w + j * n, a, c + j);
            j += 4;
        }
        if (j + 2 <= m) {
            PQ_VEC_BLOCK(2, 1, n, n, w + j * n, a, c + j);
            j += 2;
        }
        if (j < m) {
            PQ_VEC_BLOCK(1, 1, n, n, w + j * n, a, c + j);
        }
        return;
    }
#endif
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
#endif
}
"""

MICRO_KERNEL_C = (_NEON_ROUTINES_C + rows_pair("neon") + "\n" + mat_vec("neon") + "#endif\n"
                  + _KERNELS_C)


def preextend_pairs(w: np.ndarray) -> np.ndarray:
    """An int8 weight matrix [N, K] (N even; row j: output channel j) as pq_dot2rw_s8 reads it:
    int32 words, each two int16 in the SXTB16 form (w[i] | w[i + 2] << 16, w[i + 1] | w[i + 3] << 16
    for every 4-deep block, channel 2j then 2j + 1, the pair's blocks in order), then the last K % 4
    weights of each channel of the pair a word each: N * K / 2 words (2 bytes a weight) when 4
    divides K."""
    n_out, k = w.shape
    if n_out % 2 or w.dtype != np.int8:
        raise ValueError(f"preextend_pairs: an int8 matrix with an even number of rows, not {w.dtype} {w.shape}")
    blocks, tail = k // 4, k % 4
    pairs = w.astype(np.int64).reshape(n_out // 2, 2, k)
    quads = pairs[:, :, :4 * blocks].reshape(n_out // 2, 2, blocks, 4)
    even = (quads[..., 0] & 0xFFFF) | (quads[..., 2] << 16)
    odd = (quads[..., 1] & 0xFFFF) | (quads[..., 3] << 16)
    words = np.stack([even, odd], axis=-1).transpose(0, 2, 1, 3).reshape(n_out // 2, 4 * blocks)
    ends = pairs[:, :, 4 * blocks:].reshape(n_out // 2, 2 * tail)
    return np.concatenate([words, ends], axis=1).reshape(-1).astype(np.int32)


def mark_dot(sch: s_tir.Schedule, loop, rows: bool = False, must: bool = False) -> bool:
    """Blockize the subtree of `loop` for use_dot_kernel: a matmul's reduction loop, or the
    2-channel loop around it, after decompose_reduction; with rows, the token-row loop around
    [the channel loop and] the reduction loop, the reduction's init kept (pq_dot{1,2}r_s8).
    False when blockize refuses, or with must, its ScheduleError."""
    try:
        outer = sch.blockize(loop)
        sch.annotate(outer, DOT_MARK, ROWS_FORM if rows else 1)
    except s_tir.ScheduleError:
        if must:
            raise
        return False
    return True


def _parse(block):
    """(loops, iterator vars, store, accumulator load, the two int8 loads) of a marked block whose
    body is `for ..: for k < K: C[..] = C[..] + int32(X[.., k]) * int32(Y[.., k])`, or None."""
    loops, stmt = [], block.body
    while isinstance(stmt, tirx.For):
        if not (isinstance(stmt.min, tirx.IntImm) and int(stmt.min) == 0 and isinstance(stmt.extent, tirx.IntImm)):
            return None
        loops.append(stmt)
        stmt = stmt.body
    if not isinstance(stmt, s_tir.SBlockRealize) or not 1 <= len(loops) <= 3:
        return None
    inner, store = stmt.block, stmt.block.body
    if len(inner.iter_vars) != len(loops) or not all(v.same_as(l.loop_var) for v, l in zip(stmt.iter_values, loops)):
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
    return loops, ivars, store, acc, loads


def _at(indices, ivars, values) -> list:
    """indices with the block iterators at `values` (ints)"""
    ana = Analyzer()
    for v, value in zip(ivars, values):
        ana.bind(v, tirx.IntImm(str(v.ty.dtype), value))
    return [ana.simplify(i) for i in indices]


def _moves(indices, ivars, which: int) -> list | None:
    """how each index moves when iterator `which` goes from 0 to 1 (the others at 0); None unless
    every move is a constant"""
    zero = [0] * len(ivars)
    one = [int(i == which) for i in range(len(ivars))]
    d = [Analyzer().simplify(b - a) for a, b in zip(_at(indices, ivars, zero), _at(indices, ivars, one))]
    return [int(x) for x in d] if all(isinstance(x, tirx.IntImm) for x in d) else None


def _flat(moves: list, buf) -> int:
    """a per-index move as an element offset in the row-major buffer"""
    shape = [int(d) for d in buf.ty.shape]
    stride, out = 1, 0
    for m, n in zip(reversed(moves), reversed(shape)):
        out += m * stride
        stride *= n
    return out


def _ptr(buf, idx):
    return tirx.address_of(tirx.BufferLoad(buf, idx))


def _packed_args(w, w_idx, K: int, packed: frozenset) -> list | None:
    """[the packed matrix's first byte, the channel index] for a call of a dot_s4.py kernel when
    the weight load w reads a buffer in `packed` ([N, K] rows, at w_idx = [j, 0]), else None"""
    shape = [int(d) for d in w.source.ty.shape]
    if w.source.name not in packed or len(shape) != 2 or shape[1] != K or not _is_zero(w_idx[1]):
        return None
    return [_ptr(w.source, [tirx.IntImm(str(i.ty.dtype), 0) for i in w_idx]), tirx.Cast("int32", w_idx[0])]


def _dot_stmt(block, packed: frozenset = frozenset()):
    """The pq_dot_s8 / pq_dot{2,4}_s8 / pq_dotn_s8 statement for a marked block, or None when its
    body is not `[for j < m:] for k < K: C[.., j] += int32(A[.., k]) * int32(W[j, k])` (m >= 2).
    A W in `packed` (4-bit weights, dot_s4.py): their pq_dot*_s4 counterparts."""
    parsed = _parse(block)
    if parsed is None or len(parsed[0]) > 2:
        return None
    loops, ivars, store, acc, loads = parsed
    K = int(loops[-1].extent)
    if len(loops) == 2 and int(loops[0].extent) < 2:
        return None
    base = [0] * len(ivars)
    if len(loops) == 1:
        a, w = loads[::-1] if loads[0].source.name in packed else loads
        a_ptr, w_idx = _ptr(a.source, _at(a.indices, ivars, base)), _at(w.indices, ivars, base)
        if w.source.name in packed:
            args = _packed_args(w, w_idx, K, packed)
            if args is None:
                return None
            call = tirx.call_extern("int32", PACKED["pq_dot_s8"], a_ptr, *args, tirx.IntImm("int32", K))
        else:
            call = tirx.call_extern("int32", "pq_dot_s8", a_ptr, _ptr(w.source, w_idx), tirx.IntImm("int32", K))
        return tirx.BufferStore(store.buffer, acc + call, store.indices)
    moves = [_moves(l.indices, ivars, 0) for l in loads]
    if None in moves:
        return None
    if [0] * len(moves[0]) == moves[0]:
        a, w = loads            # the activation is the same for both channels, W moves one row
    else:
        (w, a), moves = loads, moves[::-1]
    shape = [int(d) for d in w.source.ty.shape]
    if (moves[0] != [0] * len(moves[0]) or moves[1] != [0] * (len(moves[1]) - 2) + [1, 0] or shape[-1] != K
            or _moves(store.indices, ivars, 0) != [0] * (len(store.indices) - 1) + [1]):
        return None
    m = int(loops[0].extent)
    name = f"pq_dot{m}_s8" if m in CHANNELS else "pq_dotn_s8"
    w_idx = _at(w.indices, ivars, base)
    w_args = [_ptr(w.source, w_idx)]
    if a.source.name in packed:
        return None
    if w.source.name in packed:
        name, w_args = PACKED[name], _packed_args(w, w_idx, K, packed)
        if w_args is None:
            return None
    args = [_ptr(store.buffer, _at(store.indices, ivars, base)), _ptr(a.source, _at(a.indices, ivars, base)),
            *w_args, tirx.IntImm("int32", K)]
    if m in CHANNELS:
        return tirx.Evaluate(tirx.call_extern("void", name, *args))
    return tirx.Evaluate(tirx.call_extern("void", name, *args, tirx.IntImm("int32", m)))


def _zero_init(init, buf) -> bool:
    """whether a block's init only stores 0 into `buf`"""
    stores = []

    def visit(stmt):
        if isinstance(stmt, tirx.BufferStore):
            stores.append(stmt)
        elif not isinstance(stmt, (tirx.For, tirx.SeqStmt, s_tir.SBlockRealize)):
            stores.append(None)

    walk(init, visit)
    return bool(stores) and all(st is not None and st.buffer.same_as(buf) and isinstance(st.value, tirx.IntImm)
                                and int(st.value) == 0 for st in stores)


def _row_dot_stmt(block, int16_weights: bool = False, packed: frozenset = frozenset(), gemm: bool = False):
    """The pq_dot{1,2}r_s8 statement for a block marked with the rows form, or None when its body is
    not `for t < T: [for j < 2:] for k < K: C[.., t, j] += int32(A[0, t, k]) * int32(W[j, k])` with
    A a [1, T', K'] token tensor (t moves its token axis), C's rows G = (2 or 1) elements apart and
    its channels 1 apart, and an init that zeroes C (the call writes C instead). With
    int16_weights and G = 2: pq_dot2rw_s8 on W's first element and the channel pair's index (W
    then holds the weights pre-extended by preextend_pairs: compile.py converts the constant).
    A W in `packed` (4-bit weights): pq_dot{G}r_s4 on W's first byte and the group's first channel
    (dot_s4.py; compile.py packs the constant); packed comes first, int16_weights does not apply.
    gemm and G = N >= gemm_x86.MIN_CHANNELS (all of W's channels): pq_gemm_host on W's first
    element with the offset of its layout (8 when W is in `packed`, else 128; compile.py converts
    the constant)."""
    parsed = _parse(block)
    if parsed is None or len(parsed[0]) < 2 or block.init is None:
        return None
    loops, ivars, store, _, loads = parsed
    K, T = int(loops[-1].extent), int(loops[0].extent)
    G = int(loops[1].extent) if len(loops) == 3 else 1
    whole = gemm and G >= GEMM_MIN_CHANNELS
    if (G not in ROW_CHANNELS and not whole) or not _zero_init(block.init, store.buffer):
        return None
    row = [_moves(l.indices, ivars, 0) for l in loads]
    if None in row:
        return None
    if row[0] == [0] * len(row[0]):
        w, a = loads            # the weights are the same for every row, A moves one token
    else:
        a, w = loads
    a_shape, w_shape = [int(d) for d in a.source.ty.shape], [int(d) for d in w.source.ty.shape]
    c_row, c_k = _moves(store.indices, ivars, 0), _moves(store.indices, ivars, len(ivars) - 1)
    if (_moves(w.indices, ivars, 0) != [0] * len(w.indices) or len(a_shape) != 3 or a_shape[0] != 1
            or _moves(a.indices, ivars, 0) != [0, 1, 0] or c_row is None or _flat(c_row, store.buffer) != G
            or c_k != [0] * len(store.indices)):
        return None
    if G == 2 or whole:
        c_ch, a_ch, w_ch = (_moves(x, ivars, 1) for x in (store.indices, a.indices, w.indices))
        if (c_ch is None or _flat(c_ch, store.buffer) != 1 or a_ch != [0] * len(a.indices)
                or w_ch != [0] * (len(w.indices) - 2) + [1, 0] or w_shape[-1] != K):
            return None
    base = [0] * len(ivars)
    c_ptr, a_ptr = _ptr(store.buffer, _at(store.indices, ivars, base)), _ptr(a.source, _at(a.indices, ivars, base))
    sizes = [tirx.IntImm("int32", K), tirx.IntImm("int32", a_shape[2]), tirx.IntImm("int32", T)]
    w_idx = _at(w.indices, ivars, base)
    if whole:
        if len(w_shape) != 2 or w_shape[0] != G or not all(_is_zero(i) for i in w_idx):
            return None
        offset = GEMM_OFFSETS[4 if w.source.name in packed else 8]
        return tirx.Evaluate(tirx.call_extern("void", GEMM_SYMBOL, c_ptr, a_ptr, _ptr(w.source, w_idx),
                                              tirx.IntImm("int32", offset), tirx.IntImm("int32", G), *sizes))
    if w.source.name in packed:
        args = _packed_args(w, w_idx, K, packed)
        if args is None or (G == 2 and not _is_zero(tirx.floormod(w_idx[0], 2))):   # one channel pair
            return None
        return tirx.Evaluate(tirx.call_extern("void", PACKED[f"pq_dot{G}r_s8"], c_ptr, a_ptr, *args, *sizes))
    if int16_weights and G == 2 and len(w_shape) == 2 and w_shape[0] % 2 == 0:
        pair = Analyzer().simplify(tirx.floordiv(w_idx[0], 2))
        if not _is_zero(w_idx[0] - pair * 2):   # the group starts at an even channel
            return None
        w0 = _ptr(w.source, [tirx.IntImm(str(i.ty.dtype), 0) for i in w_idx])
        return tirx.Evaluate(tirx.call_extern("void", WIDE_KERNEL, c_ptr, a_ptr, w0, tirx.Cast("int32", pair), *sizes))
    return tirx.Evaluate(tirx.call_extern("void", f"pq_dot{G}r_s8", c_ptr, a_ptr, _ptr(w.source, w_idx), *sizes))


def _is_zero(expr) -> bool:
    e = Analyzer().simplify(expr)
    return isinstance(e, tirx.IntImm) and int(e) == 0


class RowKernelMismatch(Exception):
    """A block scheduled for a row kernel whose body the row kernels do not compute."""


def use_dot_kernel(func: tirx.PrimFunc, int16_weights: bool = False,
                   packed: frozenset = frozenset(), gemm: bool = False) -> tuple[tirx.PrimFunc, int]:
    """(func with every marked block's dot products replaced by a micro-kernel call, number
    replaced). A marked block that does not match keeps its loops (correct, just slower), except
    one scheduled for a row kernel: RowKernelMismatch (its accumulators, sized by the run-time
    row count, would not compile; schedule.py schedules the kernel again without row kernels). A
    row kernel writes its accumulators, so its block loses the init that zeroed them.
    int16_weights: the 2-channel row kernels read weights pre-extended to int16 (pq_dot2rw_s8).
    packed: names of weight buffers holding 4-bit weights packed two per byte (dot_s4.py): their
    matmuls call the pq_dot*_s4 kernels (packed_reads_only says whether every read of them does).
    gemm: a row-form block over all of a matmul's channels calls pq_gemm_host (gemm_x86.py)."""
    count = 0

    def replace(stmt):
        nonlocal count
        if isinstance(stmt, s_tir.SBlockRealize) and DOT_MARK in stmt.block.annotations:
            b = stmt.block
            rows = int(b.annotations[DOT_MARK]) == ROWS_FORM
            body = _row_dot_stmt(b, int16_weights, packed, gemm) if rows else _dot_stmt(b, packed)
            if rows and body is None:
                raise RowKernelMismatch(b.name_hint)
            annotations = {k: v for k, v in b.annotations.items() if k != DOT_MARK}
            count += body is not None
            init = None if rows and body is not None else b.init
            if rows and body is not None:
                # TVM's buffer compaction sizes the accumulators by this block's declared write
                # region (all T rows of the group), not by the call's address_of (one element):
                # the epilogue reads `rows` of them, a size known at run time only
                annotations[EXPLICIT_WRITE_REGION] = [i for i, r in enumerate(b.writes)
                                                      if r.source.same_as(body.value.args[1].args[0].source)]
            blk = s_tir.SBlock(b.iter_vars, b.reads, b.writes, b.name_hint, body if body is not None else b.body,
                               init, b.alloc_buffers, b.match_buffers, annotations)
            return s_tir.SBlockRealize(stmt.iter_values, stmt.predicate, blk)
        return stmt

    return func.with_body(rebuild(func.body, replace)), count


def _packed_call(stmt):
    """the dot_s4.py kernel call of a statement (`call;` or `C[..] = C[..] + call`), else None"""
    expr = stmt.value if isinstance(stmt, (tirx.Evaluate, tirx.BufferStore)) else None
    if isinstance(expr, tirx.Add):
        expr = expr.b
    return expr if extern_name(expr) in PACKED.values() else None


def packed_params(func: tirx.PrimFunc) -> list[str]:
    """Names of the buffers that func's pq_dot*_s4 calls read as packed 4-bit weights."""
    names: list[str] = []

    def visit(stmt):
        call = _packed_call(stmt)
        if call is not None:
            at = 2 if extern_name(call) == PACKED["pq_dot_s8"] else 3   # (name, [c,] a, &W[0, 0], j, ..)
            name = call.args[at].args[0].source.name
            if name not in names:
                names.append(name)

    walk(func.body, visit)
    return names


def packed_reads_only(func: tirx.PrimFunc, packed: frozenset) -> bool:
    """Whether every block that reads a buffer in `packed` is a pq_dot*_s4 call (so no plain loop
    reads those weights as int8: their constants can be stored packed) or, on the host, a
    pq_gemm_host call (its own layout: gemm_reads_only)."""
    ok = True

    def visit(stmt):
        nonlocal ok
        if isinstance(stmt, s_tir.SBlockRealize) and any(r.source.name in packed for r in stmt.block.reads):
            ok = ok and (_packed_call(stmt.block.body) is not None or _gemm_call(stmt.block.body) is not None)

    walk(func.body, visit)
    return ok


def _gemm_call(stmt):
    """the pq_gemm_host call of a statement, else None"""
    expr = stmt.value if isinstance(stmt, tirx.Evaluate) else None
    return expr if extern_name(expr) == GEMM_SYMBOL else None


def gemm_params(func: tirx.PrimFunc) -> dict[str, int]:
    """The buffers that func's pq_gemm_host calls read as weights in gemm_x86.py's layout, with
    the layout's offset: {name: offset}."""
    out: dict[str, int] = {}

    def visit(stmt):
        call = _gemm_call(stmt)
        if call is not None:   # (name, c, a, &W[0, 0], offset, N, K, lda, rows)
            out[call.args[3].args[0].source.name] = int(call.args[4])

    walk(func.body, visit)
    return out


def gemm_reads_only(func: tirx.PrimFunc) -> bool:
    """Whether every block that reads a buffer of gemm_params is a pq_gemm_host call (so their
    constants can be stored in its layout)."""
    names, ok = gemm_params(func), True

    def visit(stmt):
        nonlocal ok
        if isinstance(stmt, s_tir.SBlockRealize) and any(r.source.name in names for r in stmt.block.reads):
            ok = ok and _gemm_call(stmt.block.body) is not None

    walk(func.body, visit)
    return ok


def preextended_params(func: tirx.PrimFunc) -> list[str]:
    """Names of the buffers that func's pq_dot2rw_s8 calls read as pre-extended weights."""
    names: list[str] = []

    def visit(stmt):
        if (isinstance(stmt, tirx.Evaluate) and isinstance(stmt.value, tvm.ir.Call)
                and isinstance(stmt.value.args[0], tvm.ir.StringImm) and stmt.value.args[0].value == WIDE_KERNEL):
            name = stmt.value.args[3].args[0].source.name
            if name not in names:
                names.append(name)

    walk(func.body, visit)
    return names
