"""The int8 dot-product micro-kernels (dot_intrin.py: pq_dot_s8, pq_dot2_s8, pq_dot4_s8, the
whole-row pq_dotn_s8, the row kernels pq_dot2r_s8 / pq_dot1r_s8 and pq_dot2rw_s8 with weights
pre-extended to int16 by preextend_pairs) against numpy, on random shapes
with odd sizes, odd row counts, activation row strides other than the depth and unaligned pointers:
the SXTB16/SMLAD path on cortex-m7 and cortex-m4 (QEMU) and the portable C loops on the host."""
import shutil
import subprocess

import numpy as np
import pytest

from pqcompile.compiler.dot_intrin import MICRO_KERNEL_C, preextend_pairs
from pqcompile.emulator import build_program, run_program
from pqcompile.targets import load_target

# (kernel, channels m, depth n, token rows): every tail of the 4-at-a-time, 2 and 1 loops, short and
# long depths; the row kernels with every row count 0..9 (pairs and an odd last row; groups of 4 and
# 1-3 rows left) and depths with every remainder mod 8
DEPTHS = tuple(range(1, 25)) + (136, 384)
CASES = ([("dotn", m, n, 1) for m in (1, 2, 3, 4, 5, 6, 7, 9, 11, 13) for n in (1, 3, 4, 7, 8, 9, 37, 128)]
         + [("dot", 1, n, 1) for n in (1, 5, 8, 13, 64)] + [("dot2", 2, n, 1) for n in (3, 4, 6, 33)]
         + [("dot4", 4, n, 1) for n in (2, 4, 11, 144)]
         + [(k, g, n, rows) for k, g in (("dot2r", 2), ("dot1r", 1), ("dot2rw", 2)) for rows in range(10)
            for n in (DEPTHS if rows in (2, 5) else DEPTHS[(3 * rows) % len(DEPTHS):][:3])])


ROW_KERNELS = ("dot2r", "dot1r", "dot2rw")


def harness(rng) -> tuple[str, list[np.ndarray]]:
    body, expected, a_all, w_all, v_all = [], [], [], [], []
    a_pos = w_pos = v_pos = 0
    for kernel, m, n, rows in CASES:
        a_off, w_off = int(rng.integers(0, 4)), int(rng.integers(0, 4))   # unaligned starts
        lda = n + int(rng.integers(0, 3)) if kernel in ROW_KERNELS else n  # row stride of a
        a = rng.integers(-128, 128, rows * lda + a_off + (rows == 0), dtype=np.int64)
        w = rng.integers(-128, 128, m * n + w_off, dtype=np.int64)
        a[a_off:][rng.random(len(a) - a_off) < 0.1] = -128               # extremes
        w[-m * n:][rng.random(m * n) < 0.1] = -128
        c0 = rng.integers(-10**6, 10**6, max(m * rows, 1), dtype=np.int64)
        rows_a = a[a_off:a_off + rows * lda].reshape(rows, lda)[:, :n]
        dots = (rows_a @ w[w_off:].reshape(m, n).T).reshape(-1)           # row-major [rows, m]
        if kernel == "dot2rw":     # pre-extended weights: the second pair of a 4-channel matrix
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
                "dot2rw": f"pq_dot2rw_s8(c, {pa}, (int8_t *)(V + {v_pos}), 1, {n}, {lda}, {rows});"}[kernel]
        body.append(f"    {init} {call} put(c, {len(c0)});")
        a_pos += len(a)
        w_pos += len(w)
        v_pos += len(v) if kernel == "dot2rw" else 0
    arr = lambda ty, name, x: f"static {ty} {name}[{len(x)}] = {{{', '.join(map(str, x))}}};"  # noqa: E731
    src = "\n".join([
        "#include <stdint.h>", '#include "pq_platform.h"', MICRO_KERNEL_C,
        arr("int8_t", "A", np.concatenate(a_all)), arr("int8_t", "W", np.concatenate(w_all)),
        arr("const int32_t", "V", np.concatenate(v_all)),
        "static void put(const int32_t *c, int m)", "{", "    int j;",
        "    for (j = 0; j < m; j++) {",
        "        if (c[j] < 0) { pq_write_str(\"-\"); pq_write_uint((uint32_t)0u - (uint32_t)c[j]); }",
        "        else { pq_write_uint((uint32_t)c[j]); }",
        "        pq_write_str(j + 1 < m ? \" \" : \"\\n\");", "    }", "}",
        "int main(void)", "{", "    int32_t c[32];", "    pq_platform_init();", *body, "    return 0;", "}", ""])
    return src, expected


@pytest.mark.parametrize("target_name", ["host", "cortex-m7", "cortex-m4"])
def test_micro_kernels_equal_numpy(target_name, tmp_path):
    target = load_target(target_name)
    if shutil.which(target.compiler) is None or (target.emulator and shutil.which(target.emulator) is None):
        pytest.skip(f"{target.compiler} or {target.emulator} missing")
    src, expected = harness(np.random.default_rng(5))
    (tmp_path / "dots.c").write_text(src)
    exe = build_program(target, [tmp_path / "dots.c"], tmp_path / ("dots.elf" if target.kind == "baremetal" else "dots"))
    if target_name != "host":   # the DSP path is the one under test there
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(exe)], capture_output=True, text=True).stdout
        assert "smlad" in dis and "sxtb16" in dis
    res = run_program(target, exe)
    assert res.returncode == 0, res.stderr
    got = [np.array(line.split(), np.int64) for line in res.stdout.decode().splitlines()]
    assert len(got) == len(CASES)
    for case, g, e in zip(CASES, got, expected):
        np.testing.assert_array_equal(g, e, err_msg=str(case))
