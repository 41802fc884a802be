"""The int8 dot-product micro-kernels (dot_intrin.py: pq_dot_s8, pq_dot2_s8, pq_dot4_s8, the
whole-row pq_dotn_s8, the row kernels pq_dot2r_s8 / pq_dot1r_s8 and pq_dot2rw_s8 with weights
pre-extended to int16 by preextend_pairs) against numpy, on random shapes
with odd sizes, odd row counts, activation row strides other than the depth and unaligned pointers:
the SXTB16/SMLAD path on cortex-m7, cortex-m4 and cortex-a7 without NEON (QEMU), the NEON
routines on cortex-a7 (Thumb-2, A32) and cortex-a53 (rows 1..5 at random odd depths too), the
SSE2 kernels (dot_x86.py) on an x86-64 host and the portable C loops there with -DPQ_NO_X86_SIMD
(the harness has the x86 block, as the host's generated C has; it is inert on Arm).
The 2-channel row kernels take their inline-assembly steps (3 rows x 2 channels, then 2 x 2) when
depth and row stride are compile-time constants that fit LDR's immediate, C loops otherwise: both
are tested (`_var`: the sizes through volatile variables; `_far`: a row stride past the immediate),
and the instructions of the assembly loops are counted in the disassembly."""
import shutil
import subprocess

import numpy as np
import pytest

from pqcompile.compiler.dot_intrin import MICRO_KERNEL_C, preextend_pairs
from pqcompile.compiler.dot_x86 import X86_KERNEL_C
from pqcompile.emulator import build_program
from pqcompile.targets import load_target

from disasm import harness_main, loops, run_harness

# (kernel, channels m, depth n, token rows): every tail of the 4-at-a-time, 2 and 1 loops, short and
# long depths; the row kernels with every row count 0..9 (pairs and an odd last row; groups of 4 and
# 1-3 rows left) and depths with every remainder mod 8
DEPTHS = tuple(range(1, 25)) + (136, 384)
CASES = ([("dotn", m, n, 1) for m in (1, 2, 3, 4, 5, 6, 7, 9, 11, 13) for n in (1, 3, 4, 7, 8, 9, 37, 128)]
         + [("dotn", m, n, 1) for m in (8, 10, 12, 14, 15, 16, 17, 23) for n in (2, 12, 16, 21, 30, 136)]
         + [(k, m, n, 1) for k in ("dotn_var", "dotn_far") for m in (3, 9, 17) for n in (13, 600)]
         + [(k, 1, n, rows) for k in ("dot1r_var", "dot1r_far") for rows in (1, 3, 4, 5, 7) for n in (5, 24, 37)]
         + [("dot1r", 1, n, rows) for rows in (10, 11, 12, 13, 34) for n in (17, 40, 136)]
         + [("dot", 1, n, 1) for n in (1, 5, 8, 13, 64)] + [("dot2", 2, n, 1) for n in (3, 4, 6, 33)]
         + [("dot4", 4, n, 1) for n in (2, 4, 11, 144)]
         + [(k, g, n, rows) for k, g in (("dot2r", 2), ("dot1r", 1), ("dot2rw", 2)) for rows in range(10)
            for n in (DEPTHS if rows in (2, 5) else DEPTHS[(3 * rows) % len(DEPTHS):][:3])]
         + [(k, 2, n, rows) for k in ("dot2r_var", "dot2rw_var", "dot2r_far", "dot2rw_far")
            for rows in (1, 3, 4, 5, 7) for n in (5, 24, 37)]
         + [(k, 2, n, rows) for k in ("dot2r", "dot2rw") for rows in (10, 13) for n in (17, 40)])
# the NEON routines (32, 16 and 8 deep, the last n % 8 in C; 4 rows at a time, then 3, 2 or 1): rows
# 1..5 at random odd depths that take every step (31 = 16 + 8 + 7, 63 = 32 + 16 + 8 + 7, ...)
_RNG = np.random.default_rng(11)
CASES += ([(k, g, int(n), rows) for k, g in (("dot2r", 2), ("dot1r", 1)) for rows in range(1, 6)
           for n in (31, 63, *(2 * _RNG.integers(12, 200, 2) + 1))]
          + [("dotn", m, int(n), 1) for m in range(1, 10) for n in (63, 2 * _RNG.integers(12, 120) + 1)]
          + [(k, g, int(n), 1) for k, g in (("dot", 1), ("dot2", 2), ("dot4", 4)) for n in (63, 95, 185)])


ROW_KERNELS = ("dot2r", "dot1r", "dot2rw", "dot2r_var", "dot2rw_var", "dot2r_far", "dot2rw_far", "dot1r_var",
               "dot1r_far")
NO_X86 = "-DPQ_NO_X86_SIMD"   # the host's portable C loops instead of dot_x86.py's SSE2 kernels
NO_AVX2 = "-DPQ_NO_X86_AVX2"   # the SSE2 kernels only (not the run-time selected AVX2 row kernels)
FAR = 2050   # a row stride whose 2 x (row offset) LDR's 12-bit immediate cannot take


def harness(rng) -> tuple[str, list[np.ndarray]]:
    body, expected, a_all, w_all, v_all = [], [], [], [], []
    a_pos = w_pos = v_pos = 0
    for kernel, m, n, rows in CASES:
        a_off, w_off = int(rng.integers(0, 4)), int(rng.integers(0, 4))   # unaligned starts
        lda = n + int(rng.integers(0, 3)) if kernel in ROW_KERNELS else n  # row stride of a
        lda = FAR if kernel.endswith("_far") else lda
        a = rng.integers(-128, 128, rows * lda + a_off + (rows == 0), dtype=np.int64)
        w = rng.integers(-128, 128, m * n + w_off, dtype=np.int64)
        a[a_off:][rng.random(len(a) - a_off) < 0.1] = -128               # extremes
        w[-m * n:][rng.random(m * n) < 0.1] = -128
        c0 = rng.integers(-10**6, 10**6, max(m * rows, 1), dtype=np.int64)
        rows_a = a[a_off:a_off + rows * lda].reshape(rows, lda)[:, :n]
        dots = (rows_a @ w[w_off:].reshape(m, n).T).reshape(-1)           # row-major [rows, m]
        if kernel.startswith("dot2rw"):   # pre-extended weights: the second pair of a 4-channel matrix
            matrix = np.concatenate([rng.integers(-128, 128, (2, n)), w[w_off:].reshape(m, n)]).astype(np.int8)
            matrix[0, :1] = -128
            v = preextend_pairs(matrix)
            v_all.append(v)
        if kernel in ROW_KERNELS:  # the row kernels write c[:rows * m] and leave the rest alone
            expected.append(np.concatenate([dots, c0[rows * m:]]))
        else:
            expected.append(c0 + dots)
        a_all.append(a)
        w_all.append(w)
        init = " ".join(f"c[{j}] = {int(v)};" for j, v in enumerate(c0))
        pa, pw = f"A + {a_pos + a_off}", f"W + {w_pos + w_off}"
        call = {"dotn": f"pq_dotn_s8(c, {pa}, {pw}, {n}, {m});",
                "dot": f"c[0] += pq_dot_s8({pa}, {pw}, {n});",
                "dot2": f"pq_dot2_s8(c, {pa}, {pw}, {n});",
                "dot4": f"pq_dot4_s8(c, {pa}, {pw}, {n});",
                "dot2r": f"pq_dot2r_s8(c, {pa}, {pw}, {n}, {lda}, {rows});",
                "dot1r": f"pq_dot1r_s8(c, {pa}, {pw}, {n}, {lda}, {rows});",
                "dot2rw": f"pq_dot2rw_s8(c, {pa}, (int8_t *)(V + {v_pos}), 1, {n}, {lda}, {rows});",
                "dot2r_far": f"pq_dot2r_s8(c, {pa}, {pw}, {n}, {lda}, {rows});",
                "dot2rw_far": f"pq_dot2rw_s8(c, {pa}, (int8_t *)(V + {v_pos}), 1, {n}, {lda}, {rows});",
                "dotn_var": f"{{ volatile int32_t n_ = {n}, m_ = {m}; pq_dotn_s8(c, {pa}, {pw}, n_, m_); }}",
                "dotn_far": f"pq_dotn_s8(c, {pa}, {pw}, {n}, {m});",
                "dot1r_far": f"pq_dot1r_s8(c, {pa}, {pw}, {n}, {lda}, {rows});",
                "dot1r_var": f"{{ volatile int32_t n_ = {n}, lda_ = {lda}; "
                             f"pq_dot1r_s8(c, {pa}, {pw}, n_, lda_, {rows}); }}",
                "dot2r_var": f"{{ volatile int32_t n_ = {n}, lda_ = {lda}; "
                             f"pq_dot2r_s8(c, {pa}, {pw}, n_, lda_, {rows}); }}",
                "dot2rw_var": f"{{ volatile int32_t n_ = {n}, lda_ = {lda}; "
                              f"pq_dot2rw_s8(c, {pa}, (int8_t *)(V + {v_pos}), 1, n_, lda_, {rows}); }}"}[kernel]
        # one small function per case, as the generated kernels call them (the row kernels' assembly
        # takes all 14 registers: one main() with every call inlined has frames gcc cannot address then)
        body.append(f"static __attribute__((noinline)) void case{len(body)}(int32_t *c) {{ {init} {call} put(c, {len(c0)}); }}")
        a_pos += len(a)
        w_pos += len(w)
        v_pos += len(v) if kernel.startswith("dot2rw") else 0
    arr = lambda ty, name, x: f"static {ty} {name}[{len(x)}] = {{{', '.join(map(str, x))}}};"  # noqa: E731
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C, X86_KERNEL_C,
        arr("int8_t", "A", np.concatenate(a_all)), arr("int8_t", "W", np.concatenate(w_all)),
        arr("const int32_t", "V", np.concatenate(v_all)),
        *harness_main(body, 40)])
    return src, expected


@pytest.mark.parametrize("target_name, flags", [("host", ()), ("host", (NO_AVX2,)), ("host", (NO_X86,)),
                                                ("cortex-m7", ()),
                                                ("cortex-m4", ()), ("cortex-a7", ()), ("cortex-a7", ("-marm",)),
                                                ("cortex-a7", ("-mfpu=vfpv4",)), ("cortex-a53", ())])
def test_micro_kernels_equal_numpy(target_name, flags, tmp_path):
    """the host: the SSE2 kernels on x86-64 (dot_x86.py), the portable C with -DPQ_NO_X86_SIMD;
    cortex-a7 in Thumb-2 (its compiler's default) and in A32 (-marm: no LDRD of any two registers,
    the int16 triples load their weight words with 4 LDRs): the NEON routines, and pq_dot2rw_s8's
    SMLAD; cortex-a7 without NEON (-mfpu=vfpv4): the DSP path throughout, as on Cortex-M;
    cortex-a53: the NEON routines (AArch64)"""
    src, expected = harness(np.random.default_rng(5))
    neon = target_name == "cortex-a53" or (target_name == "cortex-a7" and "-mfpu=vfpv4" not in flags)
    got = run_harness(target_name, src, len(CASES), tmp_path, flags, dsp=target_name not in ("host", "cortex-a53"),
                      neon=neon, x86=target_name == "host" and NO_X86 not in flags,
                      avx2=target_name == "host" and not {NO_X86, NO_AVX2} & set(flags))
    for case, g, e in zip(CASES, got, expected):
        np.testing.assert_array_equal(g, e, err_msg=str(case))



@pytest.mark.parametrize("target_name", ["cortex-m7", "cortex-m4"])
def test_row_kernel_loops(target_name, tmp_path):
    """The inner loops the row kernels compile to (depth 216, row stride 218, constants as in the
    generated kernels): 3 rows x 2 channels 16 deep, 111 instructions per 48 SMLADs (96 MACs),
    2 x 2: 82 per 32; int16 weights, 3 x 2: 95 per 48; with the sizes unknown to the compiler
    the C loops (no 3 x 2 loop); the rows-times-one-vector routine (pq_dotn_s8, pq_dot1r_s8).
    Deterministic counts of the instructions gcc emits."""
    target = load_target(target_name)
    if shutil.which(target.compiler) is None or shutil.which("arm-none-eabi-objdump") is None:
        pytest.skip(f"{target.compiler} or arm-none-eabi-objdump missing")
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C,
        "static int8_t A[13 * 218], W[113 * 136];", "static int32_t V[2 * 216 / 2];",
        "volatile int32_t sizes[2] = {216, 218};",
        "__attribute__((noinline)) void k8(int32_t *c, int32_t rows) { pq_dot2r_s8(c, A, W, 216, 218, rows); }",
        "__attribute__((noinline)) void k16(int32_t *c, int32_t rows)",
        "{ pq_dot2rw_s8(c, A, (int8_t *)V, 0, 216, 218, rows); }",
        "__attribute__((noinline)) void kvar(int32_t *c, int32_t rows)",
        "{ pq_dot2r_s8(c, A, W, sizes[0], sizes[1], rows); }",
        "__attribute__((noinline)) void kvec(int32_t *c) { pq_dotn_s8(c, A, W, 136, 113); }",
        "__attribute__((noinline)) void katt(int32_t *c, int32_t rows) { pq_dot1r_s8(c, A, W, 136, 136, rows); }",
        "__attribute__((noinline)) void kvecvar(int32_t *c) { pq_dotn_s8(c, A, W, sizes[0], 113); }",
        "int main(void)", "{", "    int32_t c[120];", "    pq_platform_init();",
        "    k8(c, 13); k16(c, 13); kvar(c, 13); kvec(c); katt(c, 13); kvecvar(c);", "    return (int)c[0];", "}", ""])
    (tmp_path / "loops.c").write_text(src)
    exe = build_program(target, [tmp_path / "loops.c"], tmp_path / "loops.elf")
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(exe)], capture_output=True, text=True).stdout
    k8, k16, kvar, kvec, katt, kvecvar = ([(n, s) for _, n, s in loops(dis, f)]
                                          for f in ("k8", "k16", "kvar", "kvec", "katt", "kvecvar"))
    assert (111, 48) in k8 and (82, 32) in k8, k8
    assert (95, 48) in k16, k16
    assert kvar and not any(smlad == 48 for _, smlad in kvar), kvar
    # rows times one vector (PQ_ASM_VEC), 16 deep: 8 weight rows of a one-row matmul (the intent
    # head) 175 instructions per 64 SMLADs (128 MACs), 4 token rows of the attention score 94 per 32,
    # the last 2 rows 54 per 16, a single row 34 per 8; unknown sizes: pq_dot4_s8's C loop
    assert (175, 64) in kvec and (34, 8) in kvec, kvec
    assert (94, 32) in katt and (54, 16) in katt and (34, 8) in katt, katt
    assert kvecvar and not any(smlad in (32, 64) for _, smlad in kvecvar), kvecvar
