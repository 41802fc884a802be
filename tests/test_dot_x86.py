"""The x86-64 micro-kernels (dot_x86.py: SSE2, and AVX2 row kernels chosen at run time) in the
generated C: compile_onnx adds them by default (the host's C, HostModel), a build for a target that
is not the host leaves them out (its C is what it always was); the host network equals the integer
reference at every length with them (AVX2 where this CPU has it), with SSE2 only (-DPQ_NO_X86_AVX2)
and with the portable C (-DPQ_NO_X86_SIMD), on a random 4-bit model and on the bundled model. The
kernels themselves against numpy: test_dot_kernels.py and test_dot_s4.py (host, all three)."""
import platform
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from pqcompile.compiler.compile import compile_onnx
from pqcompile.compiler.dot_s4 import PACKED_KERNEL_C
from pqcompile.compiler.dot_x86 import X86_KERNEL_C, X86_PACKED_KERNEL_C
from pqcompile.compiler.host import HostModel
from pqcompile.export import build_onnx
from pqcompile.quant.integer_reference import run_integer

from test_int4_firmware import int4_model

X86_HOST = platform.machine() in ("x86_64", "AMD64")
NO_X86 = "-DPQ_NO_X86_SIMD"
NO_AVX2 = "-DPQ_NO_X86_AVX2"


@pytest.fixture(scope="module")
def model():
    qm = int4_model()
    return qm, build_onnx(qm)


def test_x86_kernels_in_the_host_c_only(model):
    """the default kernels file is the one without the x86 blocks plus those blocks, after the
    portable packed kernels and before the generated kernels; x86=False and the plain TVM kernels
    have none"""
    _, onnx_model = model
    plain, sse2 = (compile_onnx(onnx_model, x86=x).files["pq_kernels.c"] for x in (False, True))
    assert "_x86" not in plain and "emmintrin" not in plain
    blocks = X86_KERNEL_C + X86_PACKED_KERNEL_C
    at = sse2.index(blocks)
    assert sse2.replace(blocks, "", 1) == plain and at > sse2.index(PACKED_KERNEL_C)
    assert sse2.index("pq_dot2r_s4((&(") > at
    assert compile_onnx(onnx_model).files["pq_kernels.c"] == sse2
    assert "_x86" not in compile_onnx(onnx_model, micro_kernels=False).files["pq_kernels.c"]


@pytest.mark.parametrize("target_name, x86", [("host", True), ("cortex-m7", False), ("cortex-a53", False),
                                              ("cortex-m55", False)])
def test_builds_pass_x86_for_the_host_only(model, target_name, x86, monkeypatch, tmp_path):
    """pqcompile build (firmware.build) compiles with x86 for the host target and without it for
    the Arm targets (whose sources stay byte for byte as before); so does pqcompile bench (which
    refuses the host: it counts instructions in QEMU)"""
    import pqcompile.compiler.bench as bench
    import pqcompile.compiler.firmware as firmware
    from pqcompile.targets import load_target

    seen = []

    class Stop(Exception):
        pass

    def fake(*args, **kwargs):
        seen.append(kwargs.get("x86"))
        raise Stop

    _, onnx_model = model
    target = load_target(target_name)
    monkeypatch.setattr(bench, "counter_of", lambda t: None)
    for module, call in ((firmware, lambda: firmware.build(onnx_model, target, tmp_path / "out")),
                         (bench, lambda: bench.bench(onnx_model, target))):
        monkeypatch.setattr(module, "compile_onnx", fake)
        with pytest.raises(Stop):
            call()
    assert seen == [x86, x86]


def _host_exact(qm, cm, flags, lengths, feats) -> HostModel:
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots, extra_cflags=flags)
    ref = run_integer(qm, feats, lengths)
    for i, n in enumerate(lengths):
        intent, slots = host.run(feats[i], n)
        np.testing.assert_array_equal(intent, ref.intent_logits[i])
        np.testing.assert_array_equal(slots[:n], ref.slot_logits[i][:n])
    return host


def _ops(host: HostModel) -> str:
    lib = Path(host._dir.name) / "libpqmodel.so"
    return subprocess.run(["objdump", "-d", str(lib)], capture_output=True, text=True).stdout


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs the host gcc")
@pytest.mark.parametrize("flags", [(), (NO_AVX2,), (NO_X86,)])
def test_host_network_exact_with_every_kernel_path(model, flags):
    """a 4-bit model (odd channel counts, depths 64, 33, 14) at every length, each kernel path;
    the library has the AVX2 row kernels (VPMADDUBSW for 4-bit, VPMADDWD for int8), the SSE2
    ones (PMADDWD) or neither"""
    qm, onnx_model = model
    cm = compile_onnx(onnx_model)
    rng = np.random.default_rng(8)
    lengths = np.arange(1, cm.max_tokens + 1, dtype=np.int32)
    feats = rng.integers(-1, 2, (len(lengths), cm.max_tokens, cm.feature_size)).astype(np.int8)
    feats[np.arange(cm.max_tokens)[None, :] >= lengths[:, None]] = 0
    host = _host_exact(qm, cm, flags, lengths, feats)
    if X86_HOST and shutil.which("objdump"):
        ops = _ops(host)
        assert ("pmaddwd" in ops) == (NO_X86 not in flags)
        assert ("vpmaddubsw" in ops and "vpmaddwd" in ops) == (flags == ())


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs the host gcc")
@pytest.mark.parametrize("flags", [(), (NO_AVX2,)])
def test_bundled_model_on_the_host_x86_kernels(flags):
    """the bundled model (4-bit bottleneck 1024 deep and QRNN gates 336 and 184 deep, int8 slot and
    intent heads) on projected sentences of 1..32 tokens: the host build (AVX2 where this CPU has
    it) and the SSE2 one equal the integer reference"""
    from pqcompile.bundled import resolve_model
    from pqcompile.commands.demo import UTTERANCES
    from pqcompile.projection import project

    qm = resolve_model(None).load_qmodel()
    cm = compile_onnx(build_onnx(qm))
    texts = UTTERANCES + ["a " * k for k in (1, 3, 17, 31, 40)]
    p = project(texts, qm.spec)
    _host_exact(qm, cm, flags, p.lengths.astype(np.int32), p.features)
