"""4-bit weights packed two per byte, and the micro-kernels that read them.

A model with 4-bit encoder weights (QuantizedModel.encoder_weight_bits = 4: integers in [-7, 7]
in the bottleneck and QRNN gate matmuls) has them stored on the device packed, half a byte each.
Layout of an [N, K] weight matrix (row j: output channel j, as the matmul kernels read it): the
channels in pairs (2p, 2p + 1; an odd N gets a zero channel), pair p `PQ_S4_PAIR_BYTES(K) =
4 * ceil(K / 4)` bytes from the first (K padded to a multiple of 4 with zero weights), and byte k
of a pair is the int8 `16 w[2p, k] + w[2p + 1, k]` (mod 256): its low nibble is channel 2p + 1's
w[k] in two's complement, its high nibble channel 2p's w[k] minus the borrow of a negative low
nibble (w[2p, k] = (b + 8) >> 4 for the byte b as int8, w[2p + 1, k] = the low nibble
sign-extended). Every pair (w[2p], w[2p + 1]) of 4-bit weights fits but w[2p] = -8 beside a
negative w[2p + 1]: the models' weights lie in [-7, 7].

Why this layout: the row kernels compute two channels at a time (dot_intrin.py: pq_dot2r_s8), and
with the DSP extension one 32-bit load then gives both channels' weights for 4 consecutive k, in
the byte positions of the activations of the same k: the word y itself is the bytes
16 w[2p, k] + w[2p + 1, k], `(y << 4) & 0xF0F0F0F0` the bytes 16 w[2p + 1, k], so the int8 kernels'
SXTB16 / SXTB16 ROR #8 + SMLAD multiply both with the activation word unchanged, into sums
A = 16 D0 + D1 and B = 16 D1 (D0, D1 the two channels' dot products): D1 = B >> 4 and
D0 = (A - D1) >> 4, both exact. Per 4 deep and channel pair that is 1 load and 2 ALU
instructions (LSL, AND; a single AND with a shifted operand where a register holds 0xF0F0F0F0, as
in the row pairs: the row triples have none left) where int8 weights take 2 loads. (The first
layout, `(w[2p] << 4) | (w[2p + 1] & 15)`, needed an AND for the even channel too: the high
nibbles of y are not 16 w[2p] there.) A single channel alone: the odd one as above, the even one
16 w[2p, k] = UADD8(y, 0x08080808) & 0xF0F0F0F0 per byte. Range: every weight byte is in
[-128, 127], so |product| <= 2^14 and any depth up to 2^17 sums without overflow (the model's
depths are at most a few thousand).

The kernels mirror dot_intrin.py's, with the channel's index j as an extra argument after the
packed matrix's first byte w (channel j: pair j / 2 at w + (j / 2) * PQ_S4_PAIR_BYTES(n), the high
nibbles for an even j, the low for an odd one):
  pq_dot2r_s4(c, a, w, j, n, lda, rows)   the row kernel, channels j, j + 1, j even (pq_dot2r_s8)
  pq_dot1r_s4(c, a, w, j, n, lda, rows)   the row kernel, 1 channel (pq_dot1r_s8)
  pq_dot_s4(a, w, j, n), pq_dot{2,4}_s4(c, a, w, j, n), pq_dotn_s4(c, a, w, j, n, m)
                                          the per-row micro-kernels (schedule.py's fallback)
They compute the same exact int32 sums as the int8 kernels on the unpacked weights, on every
target: with NEON (Cortex-A7, Cortex-A53) dot_intrin.py's NEON routines (pq_neon_rows2 /
pq_neon_vec in their 4-bit modes: the pair's bytes split exactly into the two channels' int8
weights, w0 = VRSHR.S8 #4 and w1 = VSHR.S8 #4 of VSHL.I8 #4, products summed in int16 first);
the DSP path where __ARM_FEATURE_DSP is defined and NEON is not (the row triples and pairs in
inline assembly on Thumb-2 with constant sizes); plain C elsewhere.

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


def pair_bytes(k: int) -> int:
    """Bytes of one packed channel pair of depth k (PQ_S4_PAIR_BYTES)."""
    return 4 * ((k + 3) // 4)


def packed_bytes(n: int, k: int) -> int:
    """Bytes of a packed [n, k] matrix."""
    return (n + 1) // 2 * pair_bytes(k)


def pack_s4(w: np.ndarray) -> np.ndarray:
    """An [N, K] matrix of integers in [-8, 7] as the packed kernels read it: uint8
    [ceil(N / 2), pair_bytes(K)], byte k of pair p the int8 16 w[2p, k] + w[2p + 1, k] (the layout
    in the module docstring; an even channel's -8 fits only beside an odd channel's w >= 0)."""
    if w.ndim != 2:
        raise ValueError(f"pack_s4: a 2-D weight matrix, not shape {w.shape}")
    n_out, k = w.shape
    if w.size and (int(w.min()) < -8 or int(w.max()) > 7):
        raise ValueError(f"pack_s4: weights in [{int(w.min())}, {int(w.max())}] do not fit 4 bits")
    padded = np.zeros((n_out + n_out % 2, pair_bytes(k)), np.int64)
    padded[:n_out, :k] = w
    b = 16 * padded[0::2] + padded[1::2]
    if b.size and int(b.min()) < -128:
        raise ValueError("pack_s4: an even channel's weight -8 beside a negative odd channel's weight "
                         "does not fit 4 bits in this layout (16 w[2p] + w[2p + 1] < -128)")
    return (b & 0xFF).astype(np.uint8)


def unpack_s4(packed: np.ndarray, n_out: int, k: int) -> np.ndarray:
    """The inverse of pack_s4: int8 [n_out, k]."""
    b = packed.astype(np.int8).astype(np.int64)
    odd = ((b & 0xF) ^ 8) - 8
    even = (b - odd) >> 4                                     # exact: b - odd = 16 w[2p]
    return np.stack([even, odd], axis=1).reshape(-1, b.shape[1])[:n_out, :k].astype(np.int8)


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
/* ---- 4-bit weights packed two per byte (dot_s4.py): channels in pairs, pair p at
   w + p * PQ_S4_PAIR_BYTES(n); byte k of a pair = the int8 16 w[2p][k] + w[2p + 1][k] ---- */
#define PQ_S4_PAIR_BYTES(n) (4 * (((n) + 3) >> 2))

/* weight k of a pair's channel: sh = 4 for the even channel, 0 for the odd */
static inline int32_t pq_s4_at(const uint8_t *pair, int32_t sh, int32_t k)
{
    return sh ? PQ_NIB_HI(pair[k]) : PQ_NIB_LO(pair[k]);
}

#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
/* 16 * the 4 weights of a pair's word y, one per byte in the activations' byte positions: the
   odd channel's (ODD), the even channel's (EVEN: + 8 per byte, no carry between bytes, drops the
   odd channel's nibble); the pair kernels use y itself (16 w[2p] + w[2p + 1]) and ODD instead */
#define PQ_S4_ODD(y) ((int32_t)(((uint32_t)(y) << 4) & 0xF0F0F0F0u))
#define PQ_S4_EVEN(y) ((int32_t)(__uadd8((uint32_t)(y), 0x08080808u) & 0xF0F0F0F0u))
/* c += 4 products of the activation word at p and the 4 bytes (16 w) in v */
#define PQ_S4_STEP_1X1(p, v, c) do {                                                       \
        int32_t x_, v_ = (v);                                                              \
        memcpy(&x_, (p), 4);                                                               \
        c = __smlad(pq_sxtb16_ror8(x_), pq_sxtb16_ror8(v_), __smlad(__sxtb16(x_), __sxtb16(v_), c)); \
    } while (0)
/* 4 deep, 2 rows (at p, p + lda) x the pair word at q, into c00..c11 (c00, c10: 16 D0 + D1,
   c01, c11: 16 D1) */
#define PQ_S4_STEP_2X2(p, q, lda) do {                                                     \
        int32_t x0_, x1_, x0e_, x0o_, x1e_, x1o_, ye_, yo_, y_, v_;                        \
        memcpy(&y_, (q), 4);                                                               \
        memcpy(&x0_, (p), 4);                                                              \
        memcpy(&x1_, (p) + (lda), 4);                                                      \
        x0e_ = __sxtb16(x0_); x0o_ = pq_sxtb16_ror8(x0_);                                  \
        x1e_ = __sxtb16(x1_); x1o_ = pq_sxtb16_ror8(x1_);                                  \
        ye_ = __sxtb16(y_); yo_ = pq_sxtb16_ror8(y_);                                      \
        c00 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c00));                                 \
        c10 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c10));                                 \
        v_ = PQ_S4_ODD(y_);                                                                \
        ye_ = __sxtb16(v_); yo_ = pq_sxtb16_ror8(v_);                                      \
        c01 = __smlad(x0o_, yo_, __smlad(x0e_, ye_, c01));                                 \
        c11 = __smlad(x1o_, yo_, __smlad(x1e_, ye_, c11));                                 \
    } while (0)
#endif

/* sum of a[k] * (weight k of one channel of the pair at w; sh as in pq_s4_at), k < n: exact */
static inline int32_t pq_s4_dot(const int8_t *a, const uint8_t *w, int32_t sh, int32_t n)
{
    int32_t acc = 0, k = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    int32_t y;
    for (; k + 4 <= n; k += 4) {
        memcpy(&y, w + k, 4);
        PQ_S4_STEP_1X1(a + k, sh ? PQ_S4_EVEN(y) : PQ_S4_ODD(y), acc);
    }
    acc >>= 4;   /* exact: a multiple of 16 (GCC's >> of a negative int is arithmetic) */
#endif
    for (; k < n; k++) {
        acc += (int32_t)a[k] * pq_s4_at(w, sh, k);
    }
    return acc;
}

/* c[0], c[1] = one activation row times both channels of the pair at w (each activation word
   extended once for both): a row kernel's odd last row (without NEON) */
static inline void pq_s4_dot2(int32_t *c, const int8_t *a, const uint8_t *w, int32_t n)
{
    int32_t c0 = 0, c1 = 0, k = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
    for (; k + 4 <= n; k += 4) {
        int32_t x, xe, xo, y, v;
        memcpy(&y, w + k, 4);
        memcpy(&x, a + k, 4);
        xe = __sxtb16(x);
        xo = pq_sxtb16_ror8(x);
        c0 = __smlad(xo, pq_sxtb16_ror8(y), __smlad(xe, __sxtb16(y), c0));
        v = PQ_S4_ODD(y);
        c1 = __smlad(xo, pq_sxtb16_ror8(v), __smlad(xe, __sxtb16(v), c1));
    }
    c1 >>= 4;   /* exact: 16 D1 */
    c0 = (c0 - c1) >> 4;   /* exact: 16 D0 + D1 - D1 */
#endif
    for (; k < n; k++) {
        c0 += (int32_t)a[k] * pq_s4_at(w, 4, k);
        c1 += (int32_t)a[k] * pq_s4_at(w, 0, k);
    }
    c[0] = c0;
    c[1] = c1;
}

/* Thumb-2 with the DSP extension: dot_intrin.py's row routine (PQ_ASM_ROWS: 3 rows x 2 channels on
   fixed registers, accumulators r3-r8, the channels' extended weights r9-r12, the row word in lr)
   on a pair's packed words: per 4-deep step one LDR of the pair word y, SXTB16 / SXTB16 ROR #8 of
   y itself into r9, r10 (the bytes 16 w[2p] + w[2p + 1]) and of (y << 4) & 0xF0F0F0F0 into r11,
   r12 (16 w[2p + 1]), then the int8 routine's rows (PQ_ASM_STEP_3X2 / _2X2). Row triples: LSL #4
   and AND #0xF0F0F0F0 (a Thumb-2 immediate: the 14 registers are all taken), 28 instructions per
   24 MACs (int8: 27); row pairs: r7 is free and holds the mask, one AND with a shifted operand,
   20 per 16 (int8's count). The loop goes 32 deep (the int8 routine's 16): 227 instructions per
   192 MACs in triples, 162 per 128 in pairs, for ~1.3 KB more code per kernel. Each row's
   accumulators (A, B) become (D0, D1) = ((A - (B >> 4)) >> 4, B >> 4) before the STM. Needs
   constant n and lda with 2 lda within LDR's immediate (PQ_IMM_OFFSETS). */
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32) && defined(__thumb2__)
#define PQ_S4_ASM 1
#define PQ_S4_ASM_LOAD3                                                                    \
    "ldr r11, [%[q]], #4\n\t"                                                              \
    "sxtb16 r10, r11, ror #8\n\t"                                                          \
    "sxtb16 r9, r11\n\t"                                                                   \
    "lsl r11, r11, #4\n\t"                                                                 \
    "and r11, r11, #0xF0F0F0F0\n\t"                                                        \
    "sxtb16 r12, r11, ror #8\n\t"                                                          \
    "sxtb16 r11, r11\n\t"
#define PQ_S4_ASM_LOAD2                                                                    \
    "ldr r11, [%[q]], #4\n\t"                                                              \
    "sxtb16 r10, r11, ror #8\n\t"                                                          \
    "sxtb16 r9, r11\n\t"                                                                   \
    "and r11, r7, r11, lsl #4\n\t"                                                         \
    "sxtb16 r12, r11, ror #8\n\t"                                                          \
    "sxtb16 r11, r11\n\t"
/* (A, B) in (a, b) -> ((A - (B >> 4)) >> 4, B >> 4) */
#define PQ_S4_ASM_FIX(a, b) "asr " b ", " b ", #4\n\t" "sub " a ", " a ", " b "\n\t" "asr " a ", " a ", #4\n\t"
/* c[0..5] (3 rows) or c[0..3] (2 rows) = the row block's sums over the first 4 (n / 4) products:
   PQ_ASM_ROWS's loop but 32 deep (its end on the stack for 3 rows, in r8 for 2), 16-, 8- and
   4-deep blocks, then the fix-up */
#define PQ_S4_ASM_ROWS(rows3, step, n, lda, p, q, c) do {                                 \
        int32_t *c_ = (c);                                                                 \
        __asm__ volatile(                                                                  \
            "str %[c], [sp, #-8]!\n\t"                                                     \
            "mov r3, #0\n\t" "mov r4, #0\n\t" "mov r5, #0\n\t" "mov r6, #0\n\t"            \
            ".if %c[three]\n\t" "mov r7, #0\n\t" "mov r8, #0\n\t"                          \
            ".else\n\t" "mov r7, #0xF0F0F0F0\n\t" ".endif\n\t"                             \
            ".if %c[k32]\n\t"                                                              \
            "movw %[c], #%c[k32]\n\t"                                                      \
            "add %[c], %[c], %[q]\n\t"                                                     \
            ".if %c[three]\n\t" "str %[c], [sp, #4]\n\t" ".else\n\t" "mov r8, %[c]\n\t" ".endif\n\t" \
            "1:\n\t" step step step step step step step step                               \
            ".if %c[three]\n\t" "ldr lr, [sp, #4]\n\t" "cmp %[q], lr\n\t"                  \
            ".else\n\t" "cmp %[q], r8\n\t" ".endif\n\t"                                    \
            "bne 1b\n\t"                                                                   \
            ".endif\n\t"                                                                   \
            ".if %c[has16]\n\t" step step step step ".endif\n\t"                           \
            ".if %c[has8]\n\t" step step ".endif\n\t"                                      \
            ".if %c[has4]\n\t" step ".endif\n\t"                                           \
            PQ_S4_ASM_FIX("r3", "r4") PQ_S4_ASM_FIX("r5", "r6")                            \
            "ldr lr, [sp], #8\n\t"                                                         \
            ".if %c[three]\n\t" PQ_S4_ASM_FIX("r7", "r8") "stm lr, {r3-r8}\n\t"            \
            ".else\n\t" "stm lr, {r3-r6}\n\t" ".endif\n\t"                                 \
            : [p] "+r"(p), [q] "+r"(q), [c] "+r"(c_)                                       \
            : [lda] "J"(lda), [lda2] "J"(2 * (lda)), [three] "i"(rows3),                   \
              [k32] "i"(((n) >> 5) * 32), [has16] "i"(((n) >> 4) & 1),                    \
              [has8] "i"(((n) >> 3) & 1), [has4] "i"(((n) >> 2) & 1)                       \
            : "r3", "r4", "r5", "r6", "r7", "r8", "r9", "r10", "r11", "r12", "lr", "cc", "memory"); \
    } while (0)
#endif

#if defined(PQ_NEON)
/* rows r < m of x (stride lda) times channel j of the packed matrix w (written) */
__attribute__((always_inline))
static inline void pq_neon_s4_mat_vec(int32_t *c, const int8_t *x, int32_t lda, const int8_t *w, int32_t j,
                                      int32_t n, int32_t m)
{
    const int8_t *pair = w + (j >> 1) * PQ_S4_PAIR_BYTES(n);
    if (j & 1) {
        pq_neon_mat_vec(c, x, lda, pair, n, m, 0, PQ_NEON_W4_ODD);
    } else {
        pq_neon_mat_vec(c, x, lda, pair, n, m, 0, PQ_NEON_W4_EVEN);
    }
}
#endif

/* the per-row micro-kernels (pq_dot_s8 & co.) on the packed matrix's channels j, j + 1, .. */
static inline int32_t pq_dot_s4(int8_t *a, int8_t *w, int32_t j, int32_t n)
{
#if defined(PQ_NEON)
    int32_t c0;
    pq_neon_s4_mat_vec(&c0, a, 0, w, j, n, 1);
    return c0;
#else
    return pq_s4_dot(a, (const uint8_t *)w + (j >> 1) * PQ_S4_PAIR_BYTES(n), (j & 1) ? 0 : 4, n);
#endif
}

static inline void pq_dotn_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t m)
{
    int32_t k;
    for (k = 0; k < m; k++) {
        c[k] += pq_dot_s4(a, w, j + k, n);
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
   i < n, for r < rows, k < 2, j even (one pair); c is written. With NEON: pq_neon_rows2 in its
   4-bit mode, four rows at a time, then the last 3, 2 or 1. Thumb-2 with the DSP extension and
   immediate offsets: three rows at a time, the last 2 (or 4) two at a time (PQ_S4_ASM_ROWS, 32
   deep), like pq_dot2r_s8; otherwise two rows at a time in C (PQ_S4_STEP_2X2 with the DSP
   extension, 8 deep); an odd last row alone (pq_s4_dot2). */
__attribute__((always_inline))
static inline void pq_dot2r_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
                               int32_t rows)
{
#if defined(PQ_NEON)
    const int8_t *pair = w + (j >> 1) * PQ_S4_PAIR_BYTES(n);
    pq_neon_rows_pair(c, a, lda, pair, pair, n, rows, PQ_NEON_W4);
#else
    const uint8_t *w0 = (const uint8_t *)w + (j >> 1) * PQ_S4_PAIR_BYTES(n);
    int32_t r = 0;

#if defined(PQ_S4_ASM)
    if (PQ_IMM_OFFSETS(n, lda)) {
        while (r + 2 <= rows) {   /* rows 3k, 3k + 2 = 3k + 2, 3k + 1 = 3(k - 1) + 2 + 2 */
            const int8_t *p = a;
            const uint8_t *q = w0;
            int32_t i, k, g = r + 3 <= rows && rows - r != 4 ? 3 : 2;
            if (g == 3) {
                PQ_S4_ASM_ROWS(1, PQ_ASM_STEP_3X2(PQ_S4_ASM_LOAD3), n, lda, p, q, c);
            } else {
                PQ_S4_ASM_ROWS(0, PQ_ASM_STEP_2X2(PQ_S4_ASM_LOAD2), n, lda, p, q, c);
            }
            for (i = 0; i < (n & 3); i++) {   /* the last n % 4 products */
                int32_t y0 = pq_s4_at(q, 4, i), y1 = pq_s4_at(q, 0, i);
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
        int32_t c00 = 0, c01 = 0, c10 = 0, c11 = 0, i = 0;
#if defined(__ARM_FEATURE_DSP) && defined(__ARM_FEATURE_SIMD32)
        const uint8_t *end = w0 + (n & ~7);
        for (; q != end; p += 8, q += 8) {
            PQ_S4_STEP_2X2(p, q, lda);
            PQ_SCHED_BARRIER();
            PQ_S4_STEP_2X2(p + 4, q + 4, lda);
            PQ_SCHED_BARRIER();
        }
        if (n & 4) {
            PQ_S4_STEP_2X2(p, q, lda);
            p += 4;
            q += 4;
        }
        c01 >>= 4;   /* exact: 16 D1 */
        c00 = (c00 - c01) >> 4;   /* exact: 16 D0 + D1 - D1 */
        c11 >>= 4;
        c10 = (c10 - c11) >> 4;
        i = n & ~3;
#endif
        for (; i < n; i++, p++, q++) {
            int32_t y0 = PQ_NIB_HI(q[0]), y1 = PQ_NIB_LO(q[0]), x0 = p[0], x1 = p[lda];
            c00 += x0 * y0;
            c01 += x0 * y1;
            c10 += x1 * y0;
            c11 += x1 * y1;
        }
        c[0] = c00;
        c[1] = c01;
        c[2] = c10;
        c[3] = c11;
    }
    if (r < rows) {
        pq_s4_dot2(c, a, w0, n);
    }
#endif
}

/* Row kernel, 1 channel: c[r] = sum of a[r * lda + i] * (weight i of channel j), r < rows (with
   NEON: pq_neon_vec on the channel's nibbles, four rows at a time) */
__attribute__((always_inline))
static inline void pq_dot1r_s4(int32_t *c, int8_t *a, int8_t *w, int32_t j, int32_t n, int32_t lda,
                               int32_t rows)
{
#if defined(PQ_NEON)
    pq_neon_s4_mat_vec(c, a, lda, w, j, n, rows);
#else
    int32_t r;
    for (r = 0; r < rows; r++, a += lda) {
        c[r] = pq_dot_s4(a, w, j, n);
    }
#endif
}
"""
