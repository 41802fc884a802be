"""The host target's matmul and requantisation (gemm_x86.py, requant_x86.py): every path (AVX-512
VNNI, AVX2, SSE2, portable C; the -D flags leave the faster ones out) equals numpy exactly on
random shapes and extreme values, the CPU takes the path it should, and a model compiled for the
host (compile_onnx(host_gemm=True)) calls them and equals the integer reference at every length
in every path. Fixtures built here: random matrices and two small random models (4-bit encoder,
int8)."""
import ctypes
import re
from pathlib import Path

import numpy as np
import pytest

from pqcompile.compiler.compile import compile_onnx
from pqcompile.compiler.gemm_x86 import gemm_c, gemm_layout, gemm_reference
from pqcompile.compiler.requant import REQUANT_C
from pqcompile.compiler.requant_x86 import REQUANT_HOST_C
from pqcompile.export import build_onnx
from pqcompile.host_library import cached_library
from pqcompile.quant.qmodel import random_quantized_model

from test_int4_firmware import SPEC, assert_host_exact, int4_model

# build -> its cflags (expected_level: the path pq_gemm_level() should then report)
BUILDS = {"best": (), "no-vnni": ("-DPQ_NO_X86_VNNI",), "sse2": ("-DPQ_NO_X86_AVX2",), "portable": ("-DPQ_NO_X86_SIMD",)}

WRAPPER = r"""
#include <stdbool.h>
#include <stdint.h>
#include <math.h>
{kernels}
int pq_test_level(void)
{{
#if defined(PQ_GEMM_SSE2)
    return pq_gemm_level();
#else
    return -1;
#endif
}}
void pq_test_gemm(int32_t *c, int8_t *x, int8_t *w, int32_t offset, int32_t n, int32_t k, int32_t lda, int32_t rows)
{{
    pq_gemm_host(c, x, w, offset, n, k, lda, rows);
}}
void pq_test_requant(int8_t *out, int32_t *acc, int32_t *bias, float *scale, bool *mask, int32_t fill, int32_t lo,
                     int32_t hi, int32_t n, int32_t ldo, int32_t lda, int32_t rows)
{{
    if (mask) {{
        pq_requant_host_masked(out, acc, bias, scale, mask, fill, lo, hi, n, ldo, lda, rows);
    }} else {{
        pq_requant_host(out, acc, bias, scale, lo, hi, n, ldo, lda, rows);
    }}
}}
"""


def cpu_flags() -> set[str]:
    try:
        return {f for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")
                for f in line.split(":", 1)[1].split()}
    except OSError:
        return set()


def expected_level(build: str) -> int:
    flags = cpu_flags()
    vnni = {"avx512f", "avx512bw", "avx512_vnni"} <= flags
    return {"best": 2 if vnni else int("avx2" in flags), "no-vnni": int("avx2" in flags), "sse2": 0,
            "portable": -1}[build]


@pytest.fixture(scope="module", params=list(BUILDS))
def lib(request):
    so = ctypes.CDLL(str(cached_library(
        "test-gemm-x86", WRAPPER.format(kernels=REQUANT_C + gemm_c() + REQUANT_HOST_C), "gcc",
        ["-O2", "-ffp-contract=off", "-std=c99", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC",
         *BUILDS[request.param]], ("-lm",))))
    so.pq_test_gemm.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int32] * 5
    so.pq_test_requant.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_int32] * 7
    return request.param, so


def test_the_cpu_takes_its_path(lib):
    build, so = lib
    assert so.pq_test_level() == expected_level(build)


def test_layout_bytes_and_refusals():
    w = np.array([[-8, 7, 0, 1, 2], [3, -1, -8, 7, 5]], np.int8)
    lay = gemm_layout(w, 8)
    assert lay.dtype == np.uint8 and lay.size == 16 * 8   # one block of 16 channels x 2 depth groups of 4
    assert list(lay[:4]) == [0, 15, 8, 9] and list(lay[4:8]) == [11, 7, 0, 15]   # channel 0 then 1, depths 0..3
    assert lay[64] == 10 and lay[65:68].tolist() == [0, 0, 0] and lay[68] == 13   # depth 4, then the padding
    assert not lay[8:64].any()   # channels 2..15 are padding
    x = np.arange(-10, 10, dtype=np.int8).reshape(4, 5)
    np.testing.assert_array_equal(gemm_reference(x, lay, 2, 5, 8), x.astype(np.int32) @ w.T.astype(np.int32))
    with pytest.raises(ValueError, match="outside"):
        gemm_layout(np.array([[8]], np.int8), 8)
    with pytest.raises(ValueError, match=r"\[N, K\]"):
        gemm_layout(np.zeros(3, np.int8), 128)


def test_gemm_equals_numpy(lib):
    """Random shapes: channels 1..70 (whole and part blocks), depths 1..300 (k % 4 tails), rows
    1..40 (several passes), row strides past k, extreme weights and activations."""
    _, so = lib
    rng = np.random.default_rng(7)
    for trial in range(160):
        offset = (8, 128)[trial % 2]
        n, k, rows = int(rng.integers(1, 71)), int(rng.integers(1, 301)), int(rng.integers(1, 41))
        lda = k + int(rng.integers(0, 6))
        lo, hi = (-8, 8) if offset == 8 else (-128, 128)
        w = rng.integers(lo, hi, (n, k))
        if trial % 7 == 0:
            w[:] = lo
        x = rng.integers(-128, 128, (rows, lda)).astype(np.int8)
        if trial % 5 == 0:
            x[:] = -128
        lay = gemm_layout(w.astype(np.int8), offset)
        c = np.zeros((rows, n), np.int32)
        so.pq_test_gemm(c.ctypes.data, x.ctypes.data, lay.ctypes.data, offset, n, k, lda, rows)
        np.testing.assert_array_equal(c, x[:, :k].astype(np.int64) @ w.T.astype(np.int64), err_msg=f"{n} {k} {rows}")


def requant_reference(acc, bias, scale, lo, hi):
    """int8(clamp(floor(float32(acc + bias) * scale + 0.5), lo, hi)) in float32, as the C"""
    f = (acc + bias).astype(np.float32) * scale.astype(np.float32) + np.float32(0.5)
    return np.clip(np.floor(f), lo, hi).astype(np.int8)


def test_requant_equals_the_float32_steps(lib):
    """Random accumulators and scales, values that land on and next to integers (the floor's
    correction below a negative truncation), beyond the bounds, row strides of out and acc past
    n, and a row mask with a fill value."""
    _, so = lib
    rng = np.random.default_rng(11)
    for trial in range(60):
        n, rows = int(rng.integers(1, 60)), int(rng.integers(1, 12))
        lda, ldo = n + int(rng.integers(0, 3)), n + int(rng.integers(0, 3))
        lo, hi = ((-128, 127), (0, 127), (-5, 5))[trial % 3]
        acc = rng.integers(-40000, 40000, (rows, lda)).astype(np.int32)
        bias = rng.integers(-3000, 3000, n).astype(np.int32)
        scale = (rng.random(n) * 0.01).astype(np.float32)
        if trial % 4 == 0:   # exact halves and integers after the multiply
            scale[:] = np.float32(0.5)
            acc[:, :n] = rng.integers(-300, 300, (rows, n))
            bias[:] = 0
        mask = (rng.random(rows) < 0.7) if trial % 2 else None
        fill = int(rng.integers(-128, 128))
        out = np.full((rows, ldo), 99, np.int8)
        so.pq_test_requant(out.ctypes.data, acc.ctypes.data, bias.ctypes.data, scale.ctypes.data,
                           None if mask is None else mask.ctypes.data, fill, lo, hi, n, ldo, lda, rows)
        want = requant_reference(acc[:, :n], bias, scale, lo, hi)
        if mask is not None:
            want[~mask] = fill
        np.testing.assert_array_equal(out[:, :n], want)
        assert (out[:, n:] == 99).all()   # nothing past n in a row


@pytest.fixture(scope="module", params=["int4", "int8"])
def host_model(request):
    if request.param == "int4":
        qm = int4_model()
    else:
        qm = random_quantized_model(SPEC, bottleneck=12, hidden=9, n_layers=2, kernel_width=[3, 1], n_intents=5,
                                    n_slot_tags=9, seed=3)
    return qm, compile_onnx(build_onnx(qm), host_gemm=True)


def test_host_build_calls_them(host_model):
    """Every matmul over the token rows with >= 8 channels is one pq_gemm_host call and its
    requantisation one pq_requant_host call (the bottleneck's with its row mask); the row count
    is the kernel's run-time `rows`."""
    qm, cm = host_model
    kernels = cm.files["pq_kernels.c"]
    calls = re.findall(r"  pq_gemm_host\(.*\);", kernels)
    # kernels: bottleneck, the layers' gates (fwd and bwd share one), slots; six weight matrices
    assert len(calls) == 4 and all(c.endswith(", rows);") for c in calls)
    assert len(re.findall(r"  pq_requant_host\(.*, rows\);", kernels)) == 3
    assert len(re.findall(r"  pq_requant_host_masked\(.*, rows\);", kernels)) == 1
    assert "pq_dot2r_s" not in "".join(line for line in kernels.splitlines() if line.startswith("  pq_"))
    assert len(cm.gemm_weights) == 6 and cm.int4_weights == []


@pytest.mark.parametrize("build", list(BUILDS))
def test_host_build_is_exact_at_every_length(host_model, build):
    qm, cm = host_model
    assert_host_exact(qm, cm, seed=5, cflags=BUILDS[build], per_length=3)
