"""The int8 dot-product micro-kernels (dot_intrin.py: pq_dot_s8, pq_dot2_s8, pq_dot4_s8 and the
whole-row pq_dotn_s8) against numpy, on random shapes with odd sizes and unaligned pointers: the
SXTB16/SMLAD path on cortex-m7 (QEMU) and the portable C loops on the host."""
import shutil
import subprocess

import numpy as np
import pytest

from pqcompile.compiler.dot_intrin import MICRO_KERNEL_C
from pqcompile.emulator import build_program, run_program
from pqcompile.targets import load_target

# (kernel, channels m, depth n): every tail of the 4-at-a-time, 2 and 1 loops, short and long depths
CASES = ([("dotn", m, n) for m in (1, 2, 3, 4, 5, 6, 7, 9, 11, 13) for n in (1, 3, 4, 7, 8, 9, 37, 128)]
         + [("dot", 1, n) for n in (1, 5, 8, 13, 64)] + [("dot2", 2, n) for n in (3, 4, 6, 33)]
         + [("dot4", 4, n) for n in (2, 4, 11, 144)])


def harness(rng) -> tuple[str, list[np.ndarray]]:
    body, expected, a_all, w_all = [], [], [], []
    a_pos = w_pos = 0
    for kernel, m, n in CASES:
        a_off, w_off = int(rng.integers(0, 4)), int(rng.integers(0, 4))   # unaligned starts
        a = rng.integers(-128, 128, n + a_off, dtype=np.int64)
        w = rng.integers(-128, 128, m * n + w_off, dtype=np.int64)
        a[-n:][rng.random(n) < 0.1] = -128                                # extremes
        w[-m * n:][rng.random(m * n) < 0.1] = -128
        c0 = rng.integers(-10**6, 10**6, m, dtype=np.int64)
        expected.append(c0 + w[w_off:].reshape(m, n) @ a[a_off:])
        a_all.append(a)
        w_all.append(w)
        init = " ".join(f"c[{j}] = {int(v)};" for j, v in enumerate(c0))
        pa, pw = f"A + {a_pos + a_off}", f"W + {w_pos + w_off}"
        call = {"dotn": f"pq_dotn_s8(c, {pa}, {pw}, {n}, {m});",
                "dot": f"c[0] += pq_dot_s8({pa}, {pw}, {n});",
                "dot2": f"pq_dot2_s8(c, {pa}, {pw}, {n});",
                "dot4": f"pq_dot4_s8(c, {pa}, {pw}, {n});"}[kernel]
        body.append(f"    {init} {call} put(c, {m});")
        a_pos += len(a)
        w_pos += len(w)
    arr = lambda name, x: f"static int8_t {name}[{len(x)}] = {{{', '.join(map(str, x))}}};"  # noqa: E731
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C,
        arr("A", np.concatenate(a_all)), arr("W", np.concatenate(w_all)),
        "static void put(const int32_t *c, int m)", "{", "    int j;",
        "    for (j = 0; j < m; j++) {",
        "        if (c[j] < 0) { pq_write_str(\"-\"); pq_write_uint((uint32_t)0u - (uint32_t)c[j]); }",
        "        else { pq_write_uint((uint32_t)c[j]); }",
        "        pq_write_str(j + 1 < m ? \" \" : \"\\n\");", "    }", "}",
        "int main(void)", "{", "    int32_t c[16];", "    pq_platform_init();", *body, "    return 0;", "}", ""])
    return src, expected


@pytest.mark.parametrize("target_name", ["host", "cortex-m7"])
def test_micro_kernels_equal_numpy(target_name, tmp_path):
    target = load_target(target_name)
    if shutil.which(target.compiler) is None or (target.emulator and shutil.which(target.emulator) is None):
        pytest.skip(f"{target.compiler} or {target.emulator} missing")
    src, expected = harness(np.random.default_rng(5))
    (tmp_path / "dots.c").write_text(src)
    exe = build_program(target, [tmp_path / "dots.c"], tmp_path / ("dots.elf" if target.kind == "baremetal" else "dots"))
    if target_name == "cortex-m7":   # the DSP path is the one under test there
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(exe)], capture_output=True, text=True).stdout
        assert "smlad" in dis and "sxtb16" in dis
    res = run_program(target, exe)
    assert res.returncode == 0, res.stderr
    got = [np.array(line.split(), np.int64) for line in res.stdout.decode().splitlines()]
    assert len(got) == len(CASES)
    for case, g, e in zip(CASES, got, expected):
        np.testing.assert_array_equal(g, e, err_msg=str(case))
