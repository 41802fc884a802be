"""4-bit weights packed two per byte, and the micro-kernels that read them.

A model with 4-bit encoder weights (QuantizedModel.encoder_weight_bits = 4: integers in [-7, 7]
in the bottleneck and QRNN gate matmuls) has them stored on the device packed, half a byte each.
Layout of an [N, K] weight matrix (row j: output channel j, as the matmul kernels read it):
every row is `PQ_S4_ROW_BYTES(K) = 4 * ceil(K / 8)` bytes (K padded to a multiple of 8 with zero
weights), in groups of 8 consecutive k: byte i (0..3) of group g holds w[8g + i] in its low nibble
and w[8g + 4 + i] in its high nibble, both two's complement. Rows are a multiple of 4 bytes apart,
so every group is one aligned 32-bit word.

Why this layout: with the DSP extension (SXTB16 / SMLAD, dot_intrin.py) one 32-bit load gives 8
weights, and two ANDs with 0xF0F0F0F0 (`(y << 4) & mask`, `y & mask`) give the bytes 16 w[8g..8g+3]
and 16 w[8g+4..8g+7], each in the byte the activation word of the same k has: the int8 kernels'
SXTB16 / SXTB16 ROR #8 + SMLAD then multiply them with the activation words x[8g..8g+3] and
x[8g+4..8g+7] unchanged. Every product is then 16 times the true one, so the accumulated sum is 16
times the dot product, and an arithmetic shift right by 4 of it is exact. Range: |16 w x| <= 16 * 8
* 128 = 2^14 per product, so any depth up to 2^17 sums without overflow (the model's depths are at
most a few thousand).

The kernels mirror dot_intrin.py's, with the channel's index j as an extra argument (the packed
matrix's first byte w, so row j starts at w + j * PQ_S4_ROW_BYTES(n)):
  pq_dot2r_s4(c, a, w, j, n, lda, rows)   the row kernel, 2 channels (pq_dot2r_s8)
  pq_dot1r_s4(c, a, w, j, n, lda, rows)   the row kernel, 1 channel (pq_dot1r_s8)
  pq_dot_s4(a, w, j, n), pq_dot{2,4}_s4(c, a, w, j, n), pq_dotn_s4(c, a, w, j, n, m)
                                          the per-row micro-kernels (schedule.py's fallback)
They compute the same exact int32 sums as the int8 kernels on the unpacked weights, on every
target: the DSP path where __ARM_FEATURE_DSP is defined (the row triples and pairs in inline
assembly on Thumb-2 with constant sizes), plain C elsewhere.

Also here, for compile.py: which initializers are 4-bit (int4_initializers: the ONNX metadata
`pqcompile.int4_weights` that the export writes, checked) and which kernel parameters receive
them (int4_params).
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import tvm
from onnx import numpy_helper
from tvm import relax

from ..errors import PqError
from ..export.onnx_export import INT4_WEIGHTS
from .importer import const_key

# the micro-kernels reading packed weights, by the int8 kernel they replace (dot_intrin.py)
PACKED = {"pq_dot_s8": "pq_dot_s4", "pq_dot2_s8": "pq_dot2_s4", "pq_dot4_s8": "pq_dot4_s4",
          "pq_dotn_s8": "pq_dotn_s4", "pq_dot2r_s8": "pq_dot2r_s4", "pq_dot1r_s8": "pq_dot1r_s4"}
LIMIT = 7   # 4-bit weights are integers in [-7, 7] (docs/integer-semantics.md)


def row_bytes(k: int) -> int:
    """Bytes of one packed row of depth k (PQ_S4_ROW_BYTES)."""
    return 4 * ((k + 7) // 8)


def pack_s4(w: np.ndarray) -> np.ndarray:
    """An [N, K] matrix of integers in [-8, 7] as the packed kernels read it: uint8 [N, row_bytes(K)]
    (the layout in the module docstring)."""
    if w.ndim != 2:
        raise ValueError(f"pack_s4: a 2-D weight matrix, not shape {w.shape}")
    n_out, k = w.shape
    if w.size and (int(w.min()) < -8 or int(w.max()) > 7):
        raise ValueError(f"pack_s4: weights in [{int(w.min())}, {int(w.max())}] do not fit 4 bits")
    padded = np.zeros((n_out, 8 * ((k + 7) // 8)), np.int64)
    padded[:, :k] = w
    groups = (padded & 0xF).reshape(n_out, -1, 2, 4)   # [N, groups, low/high half, i]
    return (groups[:, :, 0, :] | (groups[:, :, 1, :] << 4)).reshape(n_out, row_bytes(k)).astype(np.uint8)


def unpack_s4(packed: np.ndarray, k: int) -> np.ndarray:
    """The inverse of pack_s4: int8 [N, k]."""
    n_out = packed.shape[0]
    b = packed.astype(np.int64).reshape(n_out, -1, 1, 4)
    nibbles = np.concatenate([b & 0xF, b >> 4], axis=2).reshape(n_out, -1)[:, :k]
    return ((nibbles ^ 8) - 8).astype(np.int8)


def int4_initializers(model: onnx.ModelProto) -> set[str]:
    """The initializers the model's metadata declares 4-bit (`pqcompile.int4_weights`, a JSON list
    of names; absent: none), checked: each a 2-D int8 weight matrix with every value in [-7, 7]."""
    props = {p.key: p.value for p in model.metadata_props}
    if INT4_WEIGHTS not in props:
        return set()
    try:
        names = json.loads(props[INT4_WEIGHTS])
    except ValueError:
        names = None
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise PqError(f"ONNX model has unusable pqcompile metadata {INT4_WEIGHTS!r}: not a list of initializer names")
    inits = {t.name: t for t in model.graph.initializer}
    for name in names:
        if name not in inits:
            raise PqError(f"ONNX metadata {INT4_WEIGHTS!r} names {name!r}, which is not an initializer of the graph")
        arr = numpy_helper.to_array(inits[name])
        if arr.dtype != np.int8 or arr.ndim != 2:
            raise PqError(f"ONNX initializer {name!r} is declared 4-bit but is {arr.dtype} {list(arr.shape)}, "
                          "not a 2-D int8 weight matrix")
        if arr.size and int(np.abs(arr.astype(np.int16)).max()) > LIMIT:
            raise PqError(f"ONNX initializer {name!r} is declared 4-bit but has weights outside "
                          f"[-{LIMIT}, {LIMIT}] (max |w| = {int(np.abs(arr.astype(np.int16)).max())})")
    return set(names)


def int4_params(mod: tvm.IRModule, const_names: dict[tuple, str], int4: set[str]) -> dict[str, frozenset]:
    """PrimFunc name -> names of its buffer parameters that every call_tir of it in `main` passes a
    4-bit weight constant (an initializer in int4; const_names: importer.Imported.const_names)."""
    call_tir = tvm.ir.Op.get("relax.call_tir")
    per: dict[str, dict[int, bool]] = {}
    for block in mod["main"].body.blocks:
        for binding in block.bindings:
            v = binding.value
            if not (isinstance(v, relax.Call) and v.op.same_as(call_tir)):
                continue
            seen = per.setdefault(v.args[0].name_hint, {})
            for i, arg in enumerate(v.args[1].fields):
                is4 = (isinstance(arg, tvm.ir.expr.Constant)
                       and const_names.get(const_key(arg.value.numpy())) in int4)
                seen[i] = seen.get(i, True) and is4
    funcs = {gv.name_hint: f for gv, f in mod.functions.items()}
    out = {}
    for name, seen in per.items():
        names = frozenset(funcs[name].params[i].name for i, ok in seen.items() if ok)
        if names:
            out[name] = names
    return out


PACKED_KERNEL_C = r"""
/* ---- 4-bit weights packed two per byte (dot_s4.py): row j at w + j * PQ_S4_ROW_BYTES(n); group g
   of 8 weights = bytes 4g..4g+3: byte i holds w[8g + i] (low nibble), w[8g + 4 + i] (high) ---- */
#define PQ_S4_ROW_BYTES(n) (4 * (((n) + 7) >> 3))

/* a two's complement nibble (0..15) as an int */
#define PQ_S4_NIB(v) ((int32_t)(((v) & 15) ^ 8) - 8)

/* weight i of a packed row */
static inline int32_t pq_s4_at(const uint8_t *row, int32_t i)
{
    int32_t b = row[((i >> 3) << 2) + (i & 3)];
    return PQ_S4_NIB((i & 4) ? b >> 4 : b);
}

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* 16 * the weights 8g..8g+3 (LO) and 8g+4..8g+7 (HI) of a group's word y, one per byte, in the
   bytes the activations of the same k have: one AND each (the mask in a register, LO's shift an
   operand shift) */
#define PQ_S4_LO(y) ((int32_t)(((uint32_t)(y) << 4) & 0xF0F0F0F0u))
#define PQ_S4_HI(y) ((int32_t)((uint32_t)(y) & 0xF0F0F0F0u))
/* c += 4 products of the activation word at p and the 4 bytes (16 w) in v */
#define PQ_S4_STEP_1X1(p, v, c) do {                                                       \
        int32_t x_, v_ = (v);                                                              \
        memcpy(&x_, (p), 4);                                                               \
        c = __smlad(pq_sxtb16_ror8(x_), pq_sxtb16_ror8(v_), __smlad(__sxtb16(x_), __sxtb16(v_), c)); \
    } while (0)
/* 4 deep, 2 rows (at p, p + lda) x 2 channels (bytes 16 w in v0, v1) into c00..c11 */
#define PQ_S4_STEP_2X2(p, lda, v0, v1) do {                                                \
        int32_t x0_, x1_, x0e_, x0o_, x1e_, x1o_, ye_, yo_, v_;                            \
        memcpy(&x0_, (p), 4);                                                              \
        memcpy(&x1_, (p) + (lda), 4);                                                      \
        x0e_ = __sxtb16(x0_); x0o_ = pq_sxtb16_ror8(x0_);                                  \
        x1e_ = __sxtb16(x1_); x1o_ = pq_sxtb16_ror8(x1_);                                  \
        v_ = (v0);                                                                         \
        ye_ = __sxtb16(v_); yo_ = pq_sxtb16_ror8(v_);                                      \
        c00 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c00));                                 \
        c10 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c10));                                 \
        v_ = (v1);                                                                         \
        ye_ = __sxtb16(v_); yo_ = pq_sxtb16_ror8(v_);                                      \
        c01 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c01));                                 \
        c11 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c11));                                 \
    } while (0)
#endif

/* sum of a[i] * w[i], i < n, w one packed row: the exact int32 dot product */
static inline int32_t pq_s4_dot(const int8_t *a, const uint8_t *w, int32_t n)
{
    int32_t acc = 0, i = n & ~7, g;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    const uint8_t *q = w, *end = w + (i >> 1);
    for (; q != end; a += 8, q += 4) {
        int32_t y;
        memcpy(&y, q, 4);
        PQ_S4_STEP_1X1(a, PQ_S4_LO(y), acc);
        PQ_S4_STEP_1X1(a + 4, PQ_S4_HI(y), acc);
    }
    acc >>= 4;   /* exact: a multiple of 16 (GCC's >> of a negative int is arithmetic) */
    w = q;
#else
    int32_t k;
    for (g = 0; g < (i >> 3); g++, a += 8, w += 4) {
        for (k = 0; k < 4; k++) {
            acc += (int32_t)a[k] * PQ_S4_NIB(w[k]) + (int32_t)a[k + 4] * PQ_S4_NIB(w[k] >> 4);
        }
    }
#endif
    for (g = 0; g < (n & 7); g++) {   /* the last n % 8: the group at w, a */
        acc += (int32_t)a[g] * pq_s4_at(w, g);
    }
    return acc;
}

/* c[0], c[1] = one activation row times two packed rows w0, w1 (each activation word extended
   once for both channels): a row kernel's odd last row */
static inline void pq_s4_dot2(int32_t *c, const int8_t *a, const uint8_t *w0, const uint8_t *w1, int32_t n)
{
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    int32_t c0 = 0, c1 = 0, i, g = n >> 3;
    for (i = 0; i < g; i++, a += 8, w0 += 4, w1 += 4) {
        int32_t x, xe, xo, y0, y1, v;
        memcpy(&y0, w0, 4);
        memcpy(&y1, w1, 4);
        memcpy(&x, a, 4);
        xe = __sxtb16(x);
        xo = pq_sxtb16_ror8(x);
        v = PQ_S4_LO(y0);
        c0 = __smlad(xo, pq_sxtb16_ror8(v), __smlad(xe, __sxtb16(v), c0));
        v = PQ_S4_LO(y1);
        c1 = __smlad(xo, pq_sxtb16_ror8(v), __smlad(xe, __sxtb16(v), c1));
        memcpy(&x, a + 4, 4);
        xe = __sxtb16(x);
        xo = pq_sxtb16_ror8(x);
        v = PQ_S4_HI(y0);
        c0 = __smlad(xo, pq_sxtb16_ror8(v), __smlad(xe, __sxtb16(v), c0));
        v = PQ_S4_HI(y1);
        c1 = __smlad(xo, pq_sxtb16_ror8(v), __smlad(xe, __sxtb16(v), c1));
    }
    c0 >>= 4;   /* exact: multiples of 16 */
    c1 >>= 4;
    for (i = 0; i < (n & 7); i++) {
        c0 += (int32_t)a[i] * pq_s4_at(w0, i);
        c1 += (int32_t)a[i] * pq_s4_at(w1, i);
    }
    c[0] = c0;
    c[1] = c1;
#else
    c[0] = pq_s4_dot(a, w0, n);
    c[1] = pq_s4_dot(a, w1, n);
#endif
}

/* Thumb-2 with the DSP extension: dot_intrin.py's row routine (PQ_ASM_ROWS: 3 rows x 2 channels on
   fixed registers, accumulators r3-r8, the channels' extended weights r9-r12, the row word in lr)
   on packed weights. Per 8-deep group the two channels' words are loaded twice, once per 4-deep
   half: for the low nibbles LSL #4 and AND #0xF0F0F0F0 (a Thumb-2 immediate; the 14 registers are
   all taken, none is left for the mask), for the high nibbles the AND alone, then the 4 SXTB16 and
   the rows' steps of the int8 routine (PQ_ASM_ROW_X2). 3 x 2: 60 instructions per 48 MACs (int8:
   54). The accumulators (16 x the sums) are shifted right by 4 before the STM. Needs constant n
   and lda with PQ_S4_ROW_BYTES(n) and 2 lda within LDR's immediate (PQ_IMM_OFFSETS). */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__thumb2__)
#define PQ_S4_ASM 1
#define PQ_S4_ASM_LOAD(lo, post)                                                           \
    "ldr r11, [%[q], %[nb]]\n\t"                                                           \
    "ldr r9, [%[q]]" post "\n\t"                                                           \
    ".if " #lo "\n\t" "lsl r11, r11, #4\n\t" "lsl r9, r9, #4\n\t" ".endif\n\t"              \
    "and r11, r11, #0xF0F0F0F0\n\t"                                                        \
    "and r9, r9, #0xF0F0F0F0\n\t"                                                          \
    "sxtb16 r12, r11, ror #8\n\t"                                                          \
    "sxtb16 r11, r11\n\t"                                                                  \
    "sxtb16 r10, r9, ror #8\n\t"                                                           \
    "sxtb16 r9, r9\n\t"
/* one 8-deep group: the low half (q stays), then the high half (q += 4) */
#define PQ_S4_ASM_STEP_3X2                                                                 \
    PQ_ASM_STEP_3X2(PQ_S4_ASM_LOAD(1, ""))                                                 \
    PQ_ASM_STEP_3X2(PQ_S4_ASM_LOAD(0, ", #4"))
#define PQ_S4_ASM_STEP_2X2                                                                 \
    PQ_ASM_STEP_2X2(PQ_S4_ASM_LOAD(1, ""))                                                 \
    PQ_ASM_STEP_2X2(PQ_S4_ASM_LOAD(0, ", #4"))
/* c[0..5] (3 rows) or c[0..3] (2 rows) = the row block's sums over the first 8 (n / 8) products;
   the loop 16 deep (its end, q + 8 (n / 16), on the stack for 3 rows, in r8 for 2), then one group */
#define PQ_S4_ASM_ROWS(rows3, step, n, lda, p, q, c) do {                                 \
        int32_t *c_ = (c);                                                                 \
        __asm__ volatile(                                                                  \
            "str %[c], [sp, #-8]!\n\t"                                                     \
            "mov r3, #0\n\t" "mov r4, #0\n\t" "mov r5, #0\n\t" "mov r6, #0\n\t"            \
            ".if %c[three]\n\t" "mov r7, #0\n\t" "mov r8, #0\n\t" ".endif\n\t"             \
            ".if %c[k16]\n\t"                                                              \
            "movw %[c], #%c[k16]\n\t"                                                      \
            "add %[c], %[c], %[q]\n\t"                                                     \
            ".if %c[three]\n\t" "str %[c], [sp, #4]\n\t" ".else\n\t" "mov r8, %[c]\n\t" ".endif\n\t" \
            "1:\n\t" step step                                                             \
            ".if %c[three]\n\t" "ldr lr, [sp, #4]\n\t" "cmp %[q], lr\n\t"                  \
            ".else\n\t" "cmp %[q], r8\n\t" ".endif\n\t"                                    \
            "bne 1b\n\t"                                                                   \
            ".endif\n\t"                                                                   \
            ".if %c[has8]\n\t" step ".endif\n\t"                                           \
            "asr r3, r3, #4\n\t" "asr r4, r4, #4\n\t" "asr r5, r5, #4\n\t" "asr r6, r6, #4\n\t" \
            "ldr lr, [sp], #8\n\t"                                                         \
            ".if %c[three]\n\t" "asr r7, r7, #4\n\t" "asr r8, r8, #4\n\t" "stm lr, {r3-r8}\n\t" \
            ".else\n\t" "stm lr, {r3-r6}\n\t" ".endif\n\t"                                 \
            : [p] "+r"(p), [q] "+r"(q), [c] "+r"(c_)                                       \
            : [nb] "J"(PQ_S4_ROW_BYTES(n)), [lda] "J"(lda), [lda2] "J"(2 * (lda)),         \
              [three] "i"(rows3), [k16] "i"(((n) >> 4) * 8), [has8] "i"(((n) >> 3) & 1)    \
            : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"); \
    } while (0)
#endif

/* the per-row micro-kernels (pq_dot_s8 & co.) on the packed matrix's channels j, j + 1, .. */
static inline int32_t pq_dot_s4(int8_t *a, int8_t *w, int32_t j, int32_t n)
{
    return pq_s4_dot(a, (const uint8_t *)w + j * PQ_S4_ROW_BYTES(n), n);
}

static inline void pq_dotn_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t m)
{
    int32_t k;
    for (k = 0; k < m; k++) {
        c[k] += pq_s4_dot(a, (const uint8_t *)w + (j + k) * PQ_S4_ROW_BYTES(n), n);
    }
}

static inline void pq_dot2_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n)
{
    pq_dotn_s4(c, a, w, j, n, 2);
}

static inline void pq_dot4_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n)
{
    pq_dotn_s4(c, a, w, j, n, 4);
}

/* Row kernel, 2 channels: c[r * 2 + k] = sum of a[r * lda + i] * (weight i of channel j + k),
   i < n, for r < rows, k < 2; c is written. Thumb-2 with the DSP extension and immediate offsets:
   three rows at a time, the last 2 (or 4) two at a time (PQ_S4_ASM_ROWS, 16 deep), like
   pq_dot2r_s8; otherwise two rows at a time in C (per 8-deep group the two channels' packed
   words, loaded again for the second half, ANDed, and per 4-deep half pq_dot2r_s8's 2 x 2 step
   with the DSP extension); an odd last row alone (pq_s4_dot2). */
__attribute__((always_inline))
static inline void pq_dot2r_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
                               int32_t rows)
{
    const uint8_t *w0 = (const uint8_t *)w + j * PQ_S4_ROW_BYTES(n), *w1 = w0 + PQ_S4_ROW_BYTES(n);
    int32_t r = 0;

#if defined(PQ_S4_ASM)
    if (PQ_IMM_OFFSETS(n, lda)) {
        while (r + 2 <= rows) {   /* rows 3k, 3k + 2 = 3k + 2, 3k + 1 = 3(k - 1) + 2 + 2 */
            const int8_t *p = a;
            const uint8_t *q = w0;
            int32_t i, k, g = r + 3 <= rows && rows - r != 4 ? 3 : 2;
            if (g == 3) {
                PQ_S4_ASM_ROWS(1, PQ_S4_ASM_STEP_3X2, n, lda, p, q, c);
            } else {
                PQ_S4_ASM_ROWS(0, PQ_S4_ASM_STEP_2X2, n, lda, p, q, c);
            }
            for (i = 0; i < (n & 7); i++) {   /* the last n % 8 products */
                int32_t y0 = pq_s4_at(q, i), y1 = pq_s4_at(q + PQ_S4_ROW_BYTES(n), i);
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
        const int8_t *p = a;
        const uint8_t *q = w0;
        int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, i;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
        const uint8_t *end = w0 + ((n >> 3) << 2);
        for (; q != end; p += 8, q += 4) {
            int32_t y0, y1;
            memcpy(&y0, q, 4);
            memcpy(&y1, q + PQ_S4_ROW_BYTES(n), 4);
            PQ_S4_STEP_2X2(p, lda, PQ_S4_LO(y0), PQ_S4_LO(y1));
            PQ_SCHED_BARRIER();
            memcpy(&y0, q, 4);   /* again: fewer live registers than keeping them */
            memcpy(&y1, q + PQ_S4_ROW_BYTES(n), 4);
            PQ_S4_STEP_2X2(p + 4, lda, PQ_S4_HI(y0), PQ_S4_HI(y1));
            PQ_SCHED_BARRIER();
        }
        c00 >>= 4;   /* exact: multiples of 16 */
        c01 >>= 4;
        c10 >>= 4;
        c11 >>= 4;
#else
        for (; q != w0 + ((n >> 3) << 2); p += 8, q += 4) {
            int32_t k;
            for (k = 0; k < 8; k++) {
                int32_t b0 = q[k & 3] >> (k & 4), b1 = q[PQ_S4_ROW_BYTES(n) + (k & 3)] >> (k & 4);
                int32_t y0 = PQ_S4_NIB(b0), y1 = PQ_S4_NIB(b1), x0 = p[k], x1 = p[lda + k];
                c00 += x0 * y0;
                c01 += x0 * y1;
                c10 += x1 * y0;
                c11 += x1 * y1;
            }
        }
#endif
        for (i = 0; i < (n & 7); i++) {   /* the last n % 8 */
            int32_t y0 = pq_s4_at(q, i), y1 = pq_s4_at(q + PQ_S4_ROW_BYTES(n), i);
            c00 += (int32_t)p[i] * y0;
            c01 += (int32_t)p[i] * y1;
            c10 += (int32_t)p[lda + i] * y0;
            c11 += (int32_t)p[lda + i] * y1;
        }
        c[0] = c00;
        c[1] = c01;
        c[2] = c10;
        c[3] = c11;
    }
    if (r < rows) {
        pq_s4_dot2(c, a, w0, w1, n);
    }
}

/* Row kernel, 1 channel: c[r] = sum of a[r * lda + i] * (weight i of channel j), r < rows */
__attribute__((always_inline))
static inline void pq_dot1r_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
                               int32_t rows)
{
    const uint8_t *w0 = (const uint8_t *)w + j * PQ_S4_ROW_BYTES(n);
    int32_t r;
    for (r = 0; r < rows; r++, a += lda) {
        c[r] = pq_s4_dot(a, w0, n);
    }
}
"""
