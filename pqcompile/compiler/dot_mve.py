"""Helium (the Armv8.1-M Vector Extension, MVE) versions of the dot-product micro-kernels, for
cores that have it (Cortex-M55 with -mcpu=cortex-m55 and a hard or softfp float ABI: gcc then
defines __ARM_FEATURE_MVE; with the soft float ABI, or -mcpu=cortex-m55+nomve, it does not).

The generated kernels call the micro-kernels by the names dot_intrin.py and dot_s4.py define
(pq_dot2r_s8, pq_dot2r_s4, ...). For a target whose cflags select Helium (has_mve), compile.py
appends MVE_KERNEL_C (and MVE_PACKED_KERNEL_C when the model has packed 4-bit weights) after those
definitions and before the generated kernels: under `#if defined(__ARM_FEATURE_MVE)` it defines
pq_dot*_mve functions and `#define`s each kernel name to its MVE version, so the generated
kernels' calls, which come later in the file, take the vector code while the DSP definitions above
are left unused (static inline: no code). Every other target's generated C is unchanged, byte for
byte; a compiler that does not define __ARM_FEATURE_MVE compiles the DSP kernels as before.

How: inline assembly (the inner loops only; gcc allocates the registers): 16 int8 lanes per
VLDRB.8 load and one VMLADAVA.S8 per 16 products (the exact int32 sum of the lanes' int8 x int8
products added to a general register, which must be an even one: constraint "Te"), in
tail-predicated low-overhead loops: DLSTP.8 lr, n ... LETP runs ceil(n / 16) iterations and
predicates the last one to the n % 16 valid lanes, loads and multiply-accumulates alike, so every
depth is exact with no tail code. Register blocking as in the DSP path:
  - the row kernels (a matmul over the token rows, 2 output channels per call): 3 rows x 2
    channels per 16-deep step, the last 2 or 1 rows alone: 2 weight loads (int8), 3 activation
    loads and 6 VMLADAVA make 96 MACs, 12 instructions with the LETP (the DSP path: 111 per 96);
  - rows times one vector (the attention score's token rows, the intent head's weight rows, the
    per-row fallback kernels): 4 rows per step sharing the vector's load, then 2, then 1:
    10 instructions per 64 MACs.
(ACLE intrinsics, arm_mve.h, were the first try: gcc 12 makes DLS/LE loops of them but no
DLSTP/LETP, so a depth that 16 does not divide needs a VCTP-predicated tail step with a VPST per
load, and its induction-variable pass rewrote the row pointers as one pointer plus offsets that
VLDRB's 7-bit immediate cannot take: 16 instructions per 96 MACs.)
Packed 4-bit weights (dot_s4.py's layout: byte k of pair p is the int8 16 w[2p][k] + w[2p + 1][k]):
one load gives 16 k of both channels of the pair; the bytes themselves multiply into
A = 16 D0 + D1 and VSHL.I8 #4 of them (16 w[2p + 1][k], exact in int8) into B = 16 D1, so
D1 = B >> 4 and D0 = (A - D1) >> 4 exactly (the DSP path's identity), one extra instruction per
16-deep step shared by all rows. A single channel of a pair is unpacked exactly instead: the odd
one VSHR.S8 #4 of VSHL.I8 #4 (its low nibble, sign-extended), the even one VSHR.S8 #4 of
VADD.I8 #8 (b + 8 <= 127 for every packable byte).

All sums are exact int32 (|products| <= 2^14 per lane), so the MVE kernels equal the DSP and C
kernels bit for bit. pq_dot2rw_s8 (the int16_weights build option) keeps its DSP version.
"""
from __future__ import annotations

import re

from .simd_wrappers import int8_kernels, packed_kernels


def has_mve(cflags) -> bool:
    """Whether a target's cflags select a core with Helium (so compile.py emits the MVE kernels):
    the last -mcpu is cortex-m55 or cortex-m85 without +nomve, or the last -march is
    armv8.1-m.main with +mve (or +mve.fp). The C is still guarded by __ARM_FEATURE_MVE, which gcc
    defines only when the float ABI is not soft: the text is harmless where it is not."""
    cpus = [f.split("=", 1)[1] for f in cflags if f.startswith("-mcpu=")]
    arches = [f.split("=", 1)[1] for f in cflags if f.startswith("-march=")]
    if cpus:
        name, *ext = cpus[-1].split("+")
        return name in ("cortex-m55", "cortex-m85") and not any(e.startswith("nomve") for e in ext)
    if arches:
        name, *ext = arches[-1].split("+")
        return name.startswith("armv8.1-m") and any(re.fullmatch(r"mve(\.fp)?", e) for e in ext)
    return False


# MVE_KERNEL_C's own part: the guard, the Helium routines (pq_mve_rows2, pq_mve_vec) and their rows
# loops (pq_mve_mat_vec: 4 rows at a time, then 2, then 1; pq_mve_rows_pair: 3, then 2 or 1); the
# kernels on them are simd_wrappers.py's
_MVE_ROUTINES_C = r"""
/* ---- Helium (MVE) micro-kernels (dot_mve.py): the names above, #defined to these ---- */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
/* weights: int8 rows (PQ_MVE_W8), a packed 4-bit pair (PQ_MVE_W4: both channels, A = 16 D0 + D1
   and B = 16 D1), or one channel of a pair unpacked exactly (PQ_MVE_W4_EVEN: high nibble,
   PQ_MVE_W4_ODD: low nibble) */
#define PQ_MVE_W8 0
#define PQ_MVE_W4 1
#define PQ_MVE_W4_EVEN 2
#define PQ_MVE_W4_ODD 3

/* R (1..3) rows x 2 channels: c[2r + j] = sum of x[r * lda + i] * (weight i of channel j), i < n,
   r < R (written, not accumulated). mode PQ_MVE_W8: channel j's int8 weights at w0, w1; PQ_MVE_W4:
   the packed pair at w0 (w1 unused). One asm loop, tail-predicated (DLSTP.8 / LETP: ceil(n / 16)
   iterations, the last on the n % 16 valid lanes only, loads included), per 16-deep step: the two
   channels' weights in q0, q1 (W4: one load and VSHL.I8 #4), the rows' activations in q2, q3, and
   2R VMLADAVA.S8 into the accumulators (even registers: constraint Te); R = 3: 12 instructions per
   96 MACs. The loop counter is lr. Always inlined: R and mode are constants. */
__attribute__((always_inline))
static inline void pq_mve_rows2(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0,
                                const int8_t *w1, int32_t n, const int R, const int mode)
{
    /* row k's pointer only when there is a row k (x + 2 lda past a 2-row array: -Warray-bounds) */
    const int8_t *p0 = x, *p1 = R > 1 ? x + lda : x, *p2 = R > 2 ? x + 2 * lda : x;
    int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, c20 = 0, c21 = 0;
    register int32_t cnt __asm__("lr") = n;

    if (n > 0) {
        /* the accumulators are zeroed in the asm (outputs): as in-out operands all starting at 0,
           gcc's allocator found "impossible constraints" in some callers (a call after the kernel) */
        __asm__ volatile(
            "mov %[c00], #0\n\t" "mov %[c01], #0\n\t" "mov %[c10], #0\n\t"
            "mov %[c11], #0\n\t" "mov %[c20], #0\n\t" "mov %[c21], #0\n\t"
            "dlstp.8 lr, lr\n\t"
            "1:\n\t"
            "vldrb.u8 q0, [%[w0]], #16\n\t"
            ".if %c[mode] == 1\n\t" "vshl.i8 q1, q0, #4\n\t"
            ".else\n\t" "vldrb.u8 q1, [%[w1]], #16\n\t" ".endif\n\t"
            "vldrb.u8 q2, [%[p0]], #16\n\t"
            ".if %c[R] > 1\n\t" "vldrb.u8 q3, [%[p1]], #16\n\t" ".endif\n\t"
            "vmladava.s8 %[c00], q2, q0\n\t"
            "vmladava.s8 %[c01], q2, q1\n\t"
            ".if %c[R] > 2\n\t" "vldrb.u8 q2, [%[p2]], #16\n\t" ".endif\n\t"
            ".if %c[R] > 1\n\t" "vmladava.s8 %[c10], q3, q0\n\t" "vmladava.s8 %[c11], q3, q1\n\t" ".endif\n\t"
            ".if %c[R] > 2\n\t" "vmladava.s8 %[c20], q2, q0\n\t" "vmladava.s8 %[c21], q2, q1\n\t" ".endif\n\t"
            "letp lr, 1b\n\t"
            : [c00] "=&Te"(c00), [c01] "=&Te"(c01), [c10] "=&Te"(c10), [c11] "=&Te"(c11), [c20] "=&Te"(c20),
              [c21] "=&Te"(c21), [p0] "+r"(p0), [p1] "+r"(p1), [p2] "+r"(p2), [w0] "+r"(w0), [w1] "+r"(w1),
              [n] "+r"(cnt)
            : [R] "i"(R), [mode] "i"(mode)
            : "q0", "q1", "q2", "q3", "memory");
    }
    if (mode == PQ_MVE_W4) {   /* (A, B) = (16 D0 + D1, 16 D1) -> (D0, D1), exact shifts */
        c01 >>= 4;
        c00 = (c00 - c01) >> 4;
        c11 >>= 4;
        c10 = (c10 - c11) >> 4;
        c21 >>= 4;
        c20 = (c20 - c21) >> 4;
    }
    c[0] = c00;
    c[1] = c01;
    if (R > 1) {
        c[2] = c10;
        c[3] = c11;
    }
    if (R > 2) {
        c[4] = c20;
        c[5] = c21;
    }
}

/* R (1, 2 or 4) rows times one vector: c[r] = (acc: c[r] +) sum of x[r * lda + i] * v[i], i < n,
   r < R; v int8 (PQ_MVE_W8) or one channel of a packed pair (PQ_MVE_W4_EVEN / _ODD: v is the pair's
   first byte, its nibbles unpacked in q0: VADD.I8 of 8s held in q3 or VSHL.I8 #4, then VSHR.S8 #4).
   Tail-predicated asm loop like pq_mve_rows2: per 16-deep step R + 1 loads and R VMLADAVA.S8;
   R = 4: 10 instructions per 64 MACs. Always inlined. */
__attribute__((always_inline))
static inline void pq_mve_vec(int32_t *c, const int8_t *x, int32_t lda, const int8_t *v, int32_t n,
                              const int R, const int acc, const int mode)
{
    const int8_t *p0 = x, *p1 = R > 1 ? x + lda : x, *p2 = R > 2 ? x + 2 * lda : x, *p3 = R > 2 ? x + 3 * lda : x;
    int32_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    register int32_t cnt __asm__("lr") = n;

    if (acc) {
        c0 = c[0];
        if (R > 1) {
            c1 = c[1];
        }
        if (R > 2) {
            c2 = c[2];
            c3 = c[3];
        }
    }
    if (n > 0) {
        __asm__ volatile(
            ".if %c[mode] == 2\n\t" "vmov.i8 q3, #8\n\t" ".endif\n\t"
            "dlstp.8 lr, lr\n\t"
            "1:\n\t"
            "vldrb.u8 q0, [%[v]], #16\n\t"
            ".if %c[mode] == 2\n\t" "vadd.i8 q0, q0, q3\n\t" "vshr.s8 q0, q0, #4\n\t"
            ".elseif %c[mode] == 3\n\t" "vshl.i8 q0, q0, #4\n\t" "vshr.s8 q0, q0, #4\n\t" ".endif\n\t"
            "vldrb.u8 q1, [%[p0]], #16\n\t"
            ".if %c[R] > 1\n\t" "vldrb.u8 q2, [%[p1]], #16\n\t" ".endif\n\t"
            "vmladava.s8 %[c0], q1, q0\n\t"
            ".if %c[R] > 2\n\t" "vldrb.u8 q1, [%[p2]], #16\n\t" ".endif\n\t"
            ".if %c[R] > 1\n\t" "vmladava.s8 %[c1], q2, q0\n\t" ".endif\n\t"
            ".if %c[R] > 2\n\t" "vldrb.u8 q2, [%[p3]], #16\n\t" "vmladava.s8 %[c2], q1, q0\n\t"
            "vmladava.s8 %[c3], q2, q0\n\t" ".endif\n\t"
            "letp lr, 1b\n\t"
            : [c0] "+Te"(c0), [c1] "+Te"(c1), [c2] "+Te"(c2), [c3] "+Te"(c3), [p0] "+r"(p0), [p1] "+r"(p1),
              [p2] "+r"(p2), [p3] "+r"(p3), [v] "+r"(v), [n] "+r"(cnt)
            : [R] "i"(R), [mode] "i"(mode)
            : "q0", "q1", "q2", "q3", "memory");
    }
    c[0] = c0;
    if (R > 1) {
        c[1] = c1;
    }
    if (R > 2) {
        c[2] = c2;
        c[3] = c3;
    }
}

/* rows r < m of x (stride lda) times v: 4 at a time, then 2, then 1 */
__attribute__((always_inline))
static inline void pq_mve_mat_vec(int32_t *c, const int8_t *x, int32_t lda, const int8_t *v, int32_t n,
                                  int32_t m, const int acc, const int mode)
{
    int32_t r = 0;
    for (; r + 4 <= m; r += 4, x += 4 * lda, c += 4) {
        pq_mve_vec(c, x, lda, v, n, 4, acc, mode);
    }
    if (r + 2 <= m) {
        pq_mve_vec(c, x, lda, v, n, 2, acc, mode);
        r += 2;
        x += 2 * lda;
        c += 2;
    }
    if (r < m) {
        pq_mve_vec(c, x, lda, v, n, 1, acc, mode);
    }
}

/* token rows r < rows of x (stride lda) times a channel pair, 3 rows at a time, then 2 or 1 */
__attribute__((always_inline))
static inline void pq_mve_rows_pair(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w0,
                                    const int8_t *w1, int32_t n, int32_t rows, const int mode)
{
    int32_t r = 0;
    for (; r + 3 <= rows; r += 3, x += 3 * lda, c += 6) {
        pq_mve_rows2(c, x, lda, w0, w1, n, 3, mode);
    }
    if (r + 2 == rows) {
        pq_mve_rows2(c, x, lda, w0, w1, n, 2, mode);
    } else if (r + 1 == rows) {
        pq_mve_rows2(c, x, lda, w0, w1, n, 1, mode);
    }
}
"""

MVE_KERNEL_C = (_MVE_ROUTINES_C + "\n"
                + int8_kernels("mve", sum_name="c0", dot2_comment="", dotn_shares="loads")
                + "#endif\n")

MVE_PACKED_KERNEL_C = (r"""
/* ---- Helium (MVE) micro-kernels on packed 4-bit weights (dot_mve.py, dot_s4.py's layout) ---- */
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
""" + packed_kernels("mve") + "#endif\n")
