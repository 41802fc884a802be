"""The Helium (MVE) micro-kernels (dot_mve.py) against numpy on cortex-m55 under QEMU (7.2 emulates
MVE): the int8 kernels on test_dot_kernels.py's cases (every depth remainder mod 16 and 8, row
counts 0..13 and 34, odd channel counts, unaligned pointers, row strides other than the depth),
the packed 4-bit kernels on test_dot_s4.py's (every remainder mod 32, odd first channels,
weights at the nibbles' extremes); the disassembly shows that the MVE code is what ran (VLDRB,
VMLADAV, VCTP, the low-overhead loop's LE) and the instruction counts of the inner loops.
has_mve: which cflags select the kernels; the generated C of a target without MVE is unchanged."""
import shutil
import subprocess

import numpy as np
import pytest

import test_dot_kernels
import test_dot_s4
from pqcompile.compiler.dot_intrin import MICRO_KERNEL_C
from pqcompile.compiler.dot_mve import MVE_KERNEL_C, MVE_PACKED_KERNEL_C, has_mve
from pqcompile.compiler.dot_s4 import PACKED_KERNEL_C
from pqcompile.emulator import build_program
from pqcompile.targets import load_target

from disasm import loops, run_harness

OBJDUMP = ["arm-none-eabi-objdump", "-d", "-marmv8.1-m.main"]   # decodes MVE (plain -d shows ldc/cdp)


def _needs(target_name: str):
    target = load_target(target_name)
    if shutil.which(target.compiler) is None or shutil.which(target.emulator) is None:
        pytest.skip(f"{target.compiler} or {target.emulator} missing")
    return target


def _mve_ops(exe) -> str:
    return subprocess.run([*OBJDUMP, str(exe)], capture_output=True, text=True).stdout


def test_has_mve():
    assert has_mve(load_target("cortex-m55").cflags)
    for name in ("cortex-m7", "cortex-m4", "cortex-a53", "cortex-a7", "host", "stm32f405"):
        assert not has_mve(load_target(name).cflags), name
    assert not has_mve(["-mcpu=cortex-m55+nomve"]) and not has_mve(["-mcpu=cortex-m33"])
    assert has_mve(["-march=armv8.1-m.main+mve"]) and not has_mve(["-march=armv8.1-m.main+dsp"])
    assert has_mve(["-mcpu=cortex-m7", "-mcpu=cortex-m55"]) and not has_mve(["-mcpu=cortex-m55", "-mcpu=cortex-m7"])


def test_mve_kernels_only_where_selected():
    """compile_onnx adds the MVE kernels only with mve (a target whose cflags select Helium): the
    kernels file is then the one without them plus those blocks, before the generated kernels"""
    from pqcompile.compiler.compile import compile_onnx
    from pqcompile.export import build_onnx
    from test_int4_firmware import int4_model

    onnx_model = build_onnx(int4_model())
    plain, helium = (compile_onnx(onnx_model, mve=m).files["pq_kernels.c"] for m in (False, True))
    assert "Helium" not in plain and "_mve" not in plain
    blocks = MVE_KERNEL_C + MVE_PACKED_KERNEL_C
    at = helium.index(blocks)
    assert helium.replace(blocks, "", 1) == plain and at > helium.index(PACKED_KERNEL_C)
    assert helium.index("pq_dot2r_s4((&(") > at
    assert compile_onnx(onnx_model, micro_kernels=False, mve=True).files["pq_kernels.c"].count("_mve") == 0


def test_int8_mve_kernels_equal_numpy(tmp_path):
    _needs("cortex-m55")
    src, expected = test_dot_kernels.harness(np.random.default_rng(5))
    assert src.count(MICRO_KERNEL_C) == 1
    src = src.replace(MICRO_KERNEL_C, MICRO_KERNEL_C + MVE_KERNEL_C)
    got = run_harness("cortex-m55", src, len(test_dot_kernels.CASES), tmp_path, dsp=False)
    for case, g, e in zip(test_dot_kernels.CASES, got, expected):
        np.testing.assert_array_equal(g, e, err_msg=str(case))
    dis = _mve_ops(tmp_path / "dots.elf")
    for op in ("vldrb.u8", "vmlava.s8", "dlstp.8", "letp"):
        assert op in dis, op


def test_packed_mve_kernels_equal_numpy(tmp_path):
    _needs("cortex-m55")
    src, expected = test_dot_s4.harness(np.random.default_rng(7))
    assert src.count(PACKED_KERNEL_C) == 1
    src = src.replace(PACKED_KERNEL_C, PACKED_KERNEL_C + MVE_KERNEL_C + MVE_PACKED_KERNEL_C)
    got = run_harness("cortex-m55", src, len(test_dot_s4.CASES), tmp_path, dsp=False)
    for case, g, e in zip(test_dot_s4.CASES, got, expected):
        np.testing.assert_array_equal(g, e, err_msg=str(case))
    dis = _mve_ops(tmp_path / "dots.elf")
    for op in ("vldrb.u8", "vmlava.s8", "dlstp.8", "letp", "vshl.i8", "vshr.s8", "vadd.i8"):
        assert op in dis, op


def test_mve_kernel_loops(tmp_path):
    """The inner loops (depths and strides as in the bundled model's kernels): 3 rows x 2 channels,
    int8 (slot head, 136 deep): 12 instructions per 6 VMLADAVA (96 MACs); packed 4-bit (QRNN gates,
    336 deep): 12 per 6 (one weight load and a VSHL for both channels); the last 2 rows: 9 per
    4; rows times one vector, 4 rows (attention, intent head): 10 per 4 (64 MACs)."""
    target = _needs("cortex-m55")
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C, PACKED_KERNEL_C,
        MVE_KERNEL_C, MVE_PACKED_KERNEL_C,
        "static int8_t A[13 * 338], W[113 * 136];", "static uint8_t P[2 * 336];",
        "__attribute__((noinline)) void k8(int32_t *c, int32_t rows) { pq_dot2r_s8(c, A, W, 136, 136, rows); }",
        "__attribute__((noinline)) void k4(int32_t *c, int32_t j, int32_t rows)",
        "{ pq_dot2r_s4(c, A, (int8_t *)P, j, 336, 338, rows); }",
        "__attribute__((noinline)) void kvec(int32_t *c) { pq_dotn_s8(c, A, W, 136, 113); }",
        "__attribute__((noinline)) void katt(int32_t *c, int32_t rows) { pq_dot1r_s8(c, A, W, 136, 136, rows); }",
        "int main(void)", "{", "    int32_t c[120];", "    pq_platform_init();",
        "    k8(c, 13); k4(c, 2, 13); kvec(c); katt(c, 13);", "    return (int)c[0];", "}", ""])
    (tmp_path / "loops.c").write_text(src)
    exe = build_program(target, [tmp_path / "loops.c"], tmp_path / "loops.elf")
    dis = _mve_ops(exe)
    found = {f: [(n, s) for _, n, s in loops(dis, f, mac="vmlava.s8")] for f in ("k8", "k4", "kvec", "katt")}
    assert (12, 6) in found["k8"] and (9, 4) in found["k8"], found
    assert (12, 6) in found["k4"] and (9, 4) in found["k4"], found
    assert (10, 4) in found["kvec"] and (10, 4) in found["katt"], found
