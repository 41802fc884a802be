"""The micro-kernels on 4-bit weights packed two per byte (dot_s4.py: pack_s4, pq_dot2r_s4,
pq_dot1r_s4, pq_dot_s4, pq_dot{2,4}_s4, pq_dotn_s4) against numpy: every row count 0..9 and more,
every depth remainder mod 32, channel groups at odd channel indices, activation row strides other
than the depth, unaligned activations, weights at the nibble's extremes (-8, 7) and activations at
-128. The DSP path (SXTB16 / SMLAD on the ANDed nibbles; the row kernel's assembly on Thumb-2) on
cortex-m7, cortex-m4, cortex-m55 and cortex-a7 without NEON (-mfpu=vfpv4) under QEMU, the NEON
routines (dot_intrin.py, 4-bit modes) on cortex-a7 (Thumb-2 and A32) and cortex-a53, with rows
1..5 at random odd depths, depths around the int16 sums' limit (248) and the extreme products;
the SSE2 kernels (dot_x86.py) on an x86-64 host and its portable C (-DPQ_NO_X86_SIMD); the
assembly and NEON loops' instruction counts."""
import shutil
import subprocess

import numpy as np
import pytest

from pqcompile.compiler.dot_intrin import MICRO_KERNEL_C
from pqcompile.compiler.dot_s4 import PACKED_KERNEL_C, pack_s4, packed_bytes, pair_bytes, unpack_s4
from pqcompile.compiler.dot_x86 import X86_KERNEL_C, X86_PACKED_KERNEL_C
from pqcompile.emulator import build_program
from pqcompile.targets import load_target

from disasm import harness_main, loops, run_harness

DEPTHS = tuple(range(1, 34)) + (63, 95, 136, 339, 1024)   # every remainder mod 32 (the loop's depth)
# (kernel, channels m, depth n, token rows)
CASES = ([("dot2r", 2, n, rows) for rows in range(10)
          for n in (DEPTHS if rows in (2, 5) else DEPTHS[(3 * rows) % len(DEPTHS):][:4])]
         + [("dot2r", 2, n, rows) for rows in (13, 32) for n in (8, 17, 95, 184)]
         + [("dot2r_var", 2, n, rows) for rows in (1, 4, 5) for n in (5, 24, 37)]
         + [("dot1r", 1, n, rows) for rows in (0, 1, 2, 3, 7) for n in (1, 8, 13, 40)]
         + [("dot", 1, n, 1) for n in (1, 5, 8, 13, 64, 71)]
         + [("dot2", 2, n, 1) for n in (3, 8, 33)] + [("dot4", 4, n, 1) for n in (2, 16, 45)]
         + [("dotn", m, n, 1) for m in (1, 3, 5, 7, 9) for n in (4, 9, 24, 31)])
# the NEON routines (32, 16 and 8 deep, the last n % 8 in C; 4 rows at a time, then 3, 2 or 1; int16
# sums throughout up to a depth of 248, per 32-deep step beyond: 255 = 7 x 32 + 16 + 8 + 7, 264, 280):
# rows 1..5 at random odd depths
_RNG = np.random.default_rng(13)
CASES += ([(k, g, int(n), rows) for k, g in (("dot2r", 2), ("dot1r", 1)) for rows in range(1, 6)
           for n in (63, 248, 255, 264, 280, *(2 * _RNG.integers(12, 200, 2) + 1))]
          + [("dot", 1, int(n), 1) for n in (63, 95, 2 * _RNG.integers(12, 200) + 1)]
          # the extremes, where the int16 sums come closest to overflowing: activations -128, the
          # even channel's weights -8, the odd one's 7 (products 1024 and -896)
          + [("dot2r_ext", 2, n, rows) for rows in (1, 4, 5) for n in (248, 249, 255, 1024)])
ROW_KERNELS = ("dot2r", "dot2r_var", "dot1r", "dot2r_ext")
NO_X86 = "-DPQ_NO_X86_SIMD"   # the host's portable C instead of dot_x86.py's SSE2 kernels
NO_AVX2 = "-DPQ_NO_X86_AVX2"   # the SSE2 kernels only (not the run-time selected AVX2 row kernels)


def harness(rng) -> tuple[str, list[np.ndarray]]:
    """A C program printing every case's c, and the expected lines."""
    body, expected, a_all, w_all = [], [], [], []
    a_pos = w_pos = 0
    for kernel, m, n, rows in CASES:
        a_off = int(rng.integers(0, 4))                                   # unaligned activations
        lda = n + int(rng.integers(0, 3)) if kernel in ROW_KERNELS else n
        j = int(rng.integers(0, 3))                                       # first channel of the call
        j -= j % 2 if kernel.startswith("dot2r") else 0                   # (a channel pair's)
        a = rng.integers(-128, 128, rows * lda + a_off + (rows == 0), dtype=np.int64)
        a[a_off:][rng.random(len(a) - a_off) < 0.1] = -128
        w = rng.integers(-8, 8, (j + m + 1, n), dtype=np.int64)             # a matrix with more channels
        w[rng.random(w.shape) < 0.1] = -8
        w[rng.random(w.shape) < 0.05] = 7
        ev, od = w[0:len(w) // 2 * 2:2], w[1::2]                          # (views) 16 w[2p] + w[2p + 1]
        ev[(ev == -8) & (od < 0)] = -7                                    # must be an int8 (pack_s4)
        if kernel == "dot2r_ext":
            a[:], ev[:], od[:] = -128, -8, 7
        packed = pack_s4(w)
        assert np.array_equal(unpack_s4(packed, len(w), n), w) and packed.size == packed_bytes(len(w), n)
        c0 = rng.integers(-10**6, 10**6, max(m * rows, 1), dtype=np.int64)
        rows_a = a[a_off:a_off + rows * lda].reshape(rows, lda)[:, :n]
        dots = (rows_a @ w[j:j + m].T).reshape(-1)                         # row-major [rows, m]
        expected.append(np.concatenate([dots, c0[rows * m:]]) if kernel in ROW_KERNELS else c0 + dots)
        a_all.append(a)
        w_all.append(packed.reshape(-1))
        init = " ".join(f"c[{i}] = {int(v)};" for i, v in enumerate(c0))
        pa, pw = f"A + {a_pos + a_off}", f"(int8_t *)(W + {w_pos})"
        call = {"dot2r": f"pq_dot2r_s4(c, {pa}, {pw}, {j}, {n}, {lda}, {rows});",
                "dot2r_ext": f"pq_dot2r_s4(c, {pa}, {pw}, {j}, {n}, {lda}, {rows});",
                "dot2r_var": f"{{ volatile int32_t n_ = {n}, lda_ = {lda}; "
                             f"pq_dot2r_s4(c, {pa}, {pw}, {j}, n_, lda_, {rows}); }}",
                "dot1r": f"pq_dot1r_s4(c, {pa}, {pw}, {j}, {n}, {lda}, {rows});",
                "dot": f"c[0] += pq_dot_s4({pa}, {pw}, {j}, {n});",
                "dot2": f"pq_dot2_s4(c, {pa}, {pw}, {j}, {n});",
                "dot4": f"pq_dot4_s4(c, {pa}, {pw}, {j}, {n});",
                "dotn": f"pq_dotn_s4(c, {pa}, {pw}, {j}, {n}, {m});"}[kernel]
        body.append(f"static __attribute__((noinline)) void case{len(body)}(int32_t *c) "
                    f"{{ {init} {call} put(c, {len(c0)}); }}")
        a_pos += len(a)
        w_pos += packed.size
    arr = lambda ty, name, x, align="": f"static {ty} {name}[{len(x)}]{align} = {{{', '.join(map(str, x))}}};"  # noqa: E731
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C, PACKED_KERNEL_C, X86_KERNEL_C,
        X86_PACKED_KERNEL_C, arr("int8_t", "A", np.concatenate(a_all)),
        arr("const uint8_t", "W", np.concatenate(w_all), " __attribute__((aligned(8)))"),
        *harness_main(body, 80)])
    return src, expected


def test_pack_layout():
    """Byte k of pair p: the int8 16 w[2p][k] + w[2p + 1][k] (channel 2p + 1's w[k] the low nibble);
    pairs of 4 * ceil(K / 4) bytes; an odd channel count padded with a zero channel; every pair of
    4-bit weights that fits round-trips, the one that does not is refused."""
    w = np.array([[1, 2, -3, 7, -8], [-1, 0, 5, -7, 4], [3, -2, 0, 0, 1]], np.int8)
    p = pack_s4(w)
    assert p.shape == (2, 8) and pair_bytes(5) == 8 and pair_bytes(4) == 4 and pair_bytes(0) == 0
    assert list(p[0]) == [0x0F, 0x20, 0xD5, 0x69, 0x84, 0, 0, 0]   # 16 w[0] + w[1] (mod 256)
    assert list(p[1]) == [0x30, 0xE0, 0, 0, 0x10, 0, 0, 0]
    assert np.array_equal(unpack_s4(p, 3, 5), w) and packed_bytes(3, 5) == 16
    with pytest.raises(ValueError, match="do not fit 4 bits"):
        pack_s4(np.array([[8]], np.int8))
    with pytest.raises(ValueError, match="does not fit 4 bits"):                 # 16 * -8 - 1 < -128
        pack_s4(np.array([[-8], [-1]], np.int8))
    # every pair that fits: -8 in the even channel beside 0..7, the rest of [-8, 7] x [-8, 7]
    e, o = np.meshgrid(np.arange(-8, 8), np.arange(-8, 8), indexing="ij")
    ok = 16 * e + o >= -128
    both = np.stack([e[ok], o[ok]]).astype(np.int8)                              # [2, 248]
    assert ok.sum() == 248 and np.array_equal(unpack_s4(pack_s4(both), 2, both.shape[1]), both)


@pytest.mark.parametrize("target_name, flags", [("host", ()), ("host", (NO_AVX2,)), ("host", (NO_X86,)),
                                                ("cortex-m7", ()),
                                                ("cortex-m4", ()),
                                                ("cortex-a7", ()), ("cortex-a7", ("-marm",)),
                                                ("cortex-a7", ("-mfpu=vfpv4",)), ("cortex-a53", ()),
                                                ("cortex-m55", ())])
def test_packed_kernels_equal_numpy(target_name, flags, tmp_path):
    """the NEON routines on cortex-a7 (Thumb-2 and A32) and cortex-a53; the DSP path on the cores
    that have it and no NEON (cortex-a7 with -mfpu=vfpv4: its Thumb-2 assembly); on an x86-64 host
    the SSE2 kernels (dot_x86.py), and the portable C with -DPQ_NO_X86_SIMD"""
    src, expected = harness(np.random.default_rng(7))
    neon = target_name == "cortex-a53" or (target_name == "cortex-a7" and "-mfpu=vfpv4" not in flags)
    got = run_harness(target_name, src, len(CASES), tmp_path, flags,
                      dsp=target_name in ("cortex-m7", "cortex-m4", "cortex-a7", "cortex-m55") and not neon,
                      neon=neon, x86=target_name == "host" and NO_X86 not in flags,
                      avx2=target_name == "host" and not {NO_X86, NO_AVX2} & set(flags))
    for case, g, e in zip(CASES, got, expected):
        np.testing.assert_array_equal(g, e, err_msg=str(case))


@pytest.mark.parametrize("target_name", ["cortex-m7", "cortex-m4"])
def test_packed_row_kernel_loops(target_name, tmp_path):
    """The inner loops pq_dot2r_s4 compiles to (depth 336, row stride 338: constants as in the
    generated gate kernels): 3 rows x 2 channels 32 deep in assembly, 227 instructions per 96
    SMLADs (192 MACs; 16 deep: 115 per 96 MACs, int8 weights 111, the first packed layout 119),
    2 x 2: 162 per 64 (16 deep: 82 per 32, int8's count; was 90); an odd last row in C
    (pq_s4_dot2), 16 per 4 SMLADs (8 MACs; was 17). Deterministic counts of the instructions gcc
    emits."""
    target = load_target(target_name)
    if shutil.which(target.compiler) is None or shutil.which("arm-none-eabi-objdump") is None:
        pytest.skip(f"{target.compiler} or arm-none-eabi-objdump missing")
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C, PACKED_KERNEL_C,
        "static int8_t A[13 * 338];", "static uint8_t W[2 * 336] __attribute__((aligned(8)));",
        "__attribute__((noinline)) void k4(int32_t *c, int32_t j, int32_t rows)",
        "{ pq_dot2r_s4(c, A, (int8_t *)W, j, 336, 338, rows); }",
        "int main(void)", "{", "    int32_t c[40];", "    pq_platform_init();",
        "    k4(c, 2, 13);", "    return (int)c[0];", "}", ""])
    (tmp_path / "loops.c").write_text(src)
    exe = build_program(target, [tmp_path / "loops.c"], tmp_path / "loops.elf")
    dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(exe)], capture_output=True, text=True).stdout
    k4 = [(n, s) for _, n, s in loops(dis, "k4")]
    assert (227, 96) in k4 and (162, 64) in k4 and (16, 4) in k4, k4


@pytest.mark.parametrize("target_name", ["cortex-a7", "cortex-a53"])
def test_neon_row_kernel_loops(target_name, tmp_path):
    """The NEON routines' inner loops at the bundled model's depths (shared by the int8 and the
    packed 4-bit kernels: dot_intrin.py's pq_neon_rows2 / pq_neon_vec), 4 rows per step, 32 deep:
    int8 2 channels (slot head, depth 184): 75 instructions per 32 VPADAL (256 MACs) on ARMv7,
    78 on AArch64; 4-bit 2 channels (QRNN0, depth 336): 54 per 8 VPADAL, 57; 4-bit at a depth of
    at most 248 (QRNN1, 184; int16 sums throughout): 45 per 32 VMLAL and no VPADAL, 45 on AArch64
    (16 SMLAL, 16 SMLAL2); int8 rows times one vector (attention, intent head): 39 per 16 VPADAL
    (128 MACs), 46.
    Deterministic counts of the instructions gcc emits."""
    target = load_target(target_name)
    objdump = target.size_tool.replace("size", "objdump")
    if shutil.which(target.compiler) is None or shutil.which(objdump) is None:
        pytest.skip(f"{target.compiler} or {objdump} missing")
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C, PACKED_KERNEL_C,
        "static int8_t A[13 * 338], W[113 * 184];", "static uint8_t P[2 * 336];",
        "__attribute__((noinline)) void k8(int32_t *c, int32_t rows) { pq_dot2r_s8(c, A, W, 184, 184, rows); }",
        "__attribute__((noinline)) void k4(int32_t *c, int32_t j, int32_t rows)",
        "{ pq_dot2r_s4(c, A, (int8_t *)P, j, 336, 338, rows); }",
        "__attribute__((noinline)) void k4s(int32_t *c, int32_t j, int32_t rows)",
        "{ pq_dot2r_s4(c, A, (int8_t *)P, j, 184, 184, rows); }",
        "__attribute__((noinline)) void kvec(int32_t *c) { pq_dotn_s8(c, A, W, 184, 113); }",
        "__attribute__((noinline)) void katt(int32_t *c, int32_t rows) { pq_dot1r_s8(c, A, W, 184, 184, rows); }",
        "int main(void)", "{", "    int32_t c[240];", "    pq_platform_init();",
        "    k8(c, 13); k4(c, 2, 13); k4s(c, 2, 13); kvec(c); katt(c, 13);", "    return (int)c[0];", "}", ""])
    (tmp_path / "loops.c").write_text(src)
    exe = build_program(target, [tmp_path / "loops.c"], tmp_path / "loops")
    dis = subprocess.run([objdump, "-d", str(exe)], capture_output=True, text=True).stdout
    padal, mlal = ("vpadal.s16", "vmlal.s8") if target_name == "cortex-a7" else ("sadalp", "smlal")
    found = {f: [(n, s) for _, n, s in loops(dis, f, mac=padal)] for f in ("k8", "k4", "kvec", "katt")}
    found["k4s"] = [(n, s) for _, n, s in loops(dis, "k4s", mac=mlal)]
    want = {"cortex-a7": {"k8": (75, 32), "k4": (54, 8), "k4s": (45, 32), "kvec": (39, 16), "katt": (39, 16)},
            "cortex-a53": {"k8": (78, 32), "k4": (57, 8), "k4s": (45, 16), "kvec": (46, 16), "katt": (46, 16)}}
    for f, loop in want[target_name].items():
        assert loop in found[f], (f, found[f])
