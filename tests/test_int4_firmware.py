"""A model with 4-bit encoder weights (encoder_weight_bits 4) on the device: the export names its
encoder's weight initializers (pqcompile.int4_weights), the compiler stores them packed two per
byte (dot_s4.py) and the bottleneck's and gates' kernels read them with pq_dot2r_s4; the report
counts the packed bytes; the program is bit-exact against onnxruntime and the integer reference
on the host, on cortex-m7 and on cortex-m55 (Helium kernels, dot_mve.py). An int8 model's build
has none of it. Fixtures built here: a
random integer model (odd channel counts 11 and 21: a zero channel padded; depths 64, 33 and 14:
the 16-deep loop, an 8-deep group, and remainders mod 8 of 0, 1 and 6)."""
import dataclasses
import re
import subprocess

import numpy as np
import pytest

from pqcompile.compiler.compile import compile_onnx
from pqcompile.compiler.dot_s4 import int4_initializers, packed_bytes
from pqcompile.compiler.firmware import build
from pqcompile.compiler.host import HostModel
from pqcompile.compiler.verify import verify
from pqcompile.errors import PqError
from pqcompile.export import build_onnx
from pqcompile.export.onnx_export import INT4_WEIGHTS
from pqcompile.projection import DEFAULT_SPEC, project
from pqcompile.quant.integer_reference import run_integer
from pqcompile.quant.qmodel import random_quantized_model
from pqcompile.targets import load_target

from disasm import loops
from test_firmware_model import utterances

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8, max_input_bytes=48)
ENCODER = ("bottleneck", "qrnn0.fwd", "qrnn0.bwd", "qrnn1.fwd", "qrnn1.bwd")


def int4_model(seed: int = 31):
    """A random model whose encoder weights are integers in [-7, 7] (scales raised to match)."""
    qm = random_quantized_model(SPEC, bottleneck=11, hidden=7, n_layers=2, kernel_width=[3, 1], n_intents=5,
                                n_slot_tags=7, seed=seed)
    rng = np.random.default_rng(seed)

    def four(q):
        w = rng.integers(-7, 8, q.weight.shape)
        w[0, :] = -7   # the extremes
        w[1, :] = 7
        return dataclasses.replace(q, weight=w.astype(q.weight.dtype), scale=(q.scale * 127 / 7).astype(np.float32))

    qm = dataclasses.replace(qm, bottleneck=four(qm.bottleneck), encoder_weight_bits=4,
                             layers=[dataclasses.replace(l, fwd=four(l.fwd), bwd=four(l.bwd)) for l in qm.layers])
    qm.check_encoder_weight_bits()
    return qm


@pytest.fixture(scope="module")
def model():
    qm = int4_model()
    return qm, build_onnx(qm)


def expected_layer_bytes(qm) -> dict[str, tuple[int, int]]:
    """Encoder layer -> (bytes with the weights packed, bytes with them int8): the [N, K] matrix
    (N padded to even as the importer does) plus the int32 bias and float32 scale per channel"""
    out = {}
    mats = {"bottleneck": qm.bottleneck, **{f"qrnn{i}.{d}": getattr(l, d) for i, l in enumerate(qm.layers)
                                            for d in ("fwd", "bwd")}}
    for name, q in mats.items():
        k, n = q.weight.shape
        n_pad = n + (n % 2)
        out[name] = (packed_bytes(n_pad, k) + 8 * n, n_pad * k + 8 * n)
    return out


def test_export_names_the_encoder_weights(model):
    qm, onnx_model = model
    names = int4_initializers(onnx_model)
    assert len(names) == 5 and all(n.startswith(ENCODER) for n in names)
    int8 = build_onnx(dataclasses.replace(qm, encoder_weight_bits=8))
    assert INT4_WEIGHTS not in {p.key for p in int8.metadata_props} and int4_initializers(int8) == set()


def test_declared_4bit_weights_outside_the_range_are_refused(model):
    _, onnx_model = model
    bad = type(onnx_model)()
    bad.CopyFrom(onnx_model)
    name = sorted(int4_initializers(onnx_model))[0]
    t = next(t for t in bad.graph.initializer if t.name == name)
    t.raw_data = bytes([8]) + t.raw_data[1:]
    with pytest.raises(PqError, match=r"declared 4-bit but has weights outside \[-7, 7\]"):
        compile_onnx(bad)
    prop = next(p for p in bad.metadata_props if p.key == INT4_WEIGHTS)
    prop.value = '["no_such_tensor"]'
    with pytest.raises(PqError, match="not an initializer"):
        compile_onnx(bad)


def test_packed_kernels_and_bytes(model):
    """Every encoder matmul reads its weights packed; the heads and an int8 model's matmuls do not;
    the packed constants are what the layer byte counts show; the plain-TVM build stores int8."""
    qm, onnx_model = model
    cm = compile_onnx(onnx_model)
    assert sorted(cm.int4_weights) == sorted(int4_initializers(onnx_model)) and cm.int4_unpacked == []
    kernels = cm.files["pq_kernels.c"]
    # bottleneck, layer 0 and layer 1 gates (fwd and bwd share a kernel); the slot head stays int8
    assert kernels.count("pq_dot2r_s4((&(") == 3 and "pq_dot2r_s8((&(" in kernels
    # each computes the utterance's token rows only (rows.py): its last argument is `rows`
    assert len(re.findall(r"pq_dot2r_s4\(\(&\([^;]*, rows\);", kernels)) == 3
    for layer, (packed, _) in expected_layer_bytes(qm).items():
        assert cm.const_bytes_by_layer[layer] == packed, layer
    int8_cm = compile_onnx(build_onnx(dataclasses.replace(qm, encoder_weight_bits=8)))
    assert "PQ_S4" not in int8_cm.files["pq_kernels.c"] and int8_cm.int4_weights == []
    saved = sum(i - p for p, i in expected_layer_bytes(qm).values())
    assert int8_cm.const_bytes - cm.const_bytes == saved > 0
    plain = compile_onnx(onnx_model, micro_kernels=False)   # no micro-kernels: nothing reads packed weights
    assert plain.int4_weights == [] and "pq_s4" not in plain.files["pq_kernels.c"]


def assert_host_exact(qm, cm, seed: int = 4, cflags: tuple[str, ...] = (), per_length: int = 1) -> None:
    """The compiled C on this machine (built with cflags) equals the integer reference at every
    length, per_length random utterances each."""
    host = HostModel(cm.files, cm.max_tokens, cm.feature_size, cm.n_intents, cm.n_slots, extra_cflags=cflags)
    rng = np.random.default_rng(seed)
    lengths = np.repeat(np.arange(1, cm.max_tokens + 1, dtype=np.int32), per_length)
    feats = rng.integers(-1, 2, (len(lengths), cm.max_tokens, cm.feature_size)).astype(np.int8)
    feats[np.arange(cm.max_tokens)[None, :] >= lengths[:, None]] = 0
    ref = run_integer(qm, feats, lengths)
    for i, n in enumerate(lengths):
        intent, slots = host.run(feats[i], n)
        np.testing.assert_array_equal(intent, ref.intent_logits[i])
        np.testing.assert_array_equal(slots[:n], ref.slot_logits[i][:n])


def test_fallbacks_read_packed_weights_or_keep_int8(model, monkeypatch):
    """A matmul the row kernels do not take (simulated: the matcher refuses every block) uses the
    per-row kernels on packed weights (pq_dot4_s4 / pq_dotn_s4 ...); one no micro-kernel takes
    (the per-row matcher refuses too) keeps its weights int8, and the report says so. Both exact."""
    import pqcompile.compiler.dot_intrin as dot_intrin
    qm, onnx_model = model
    monkeypatch.setattr(dot_intrin, "_row_dot_stmt",
                        lambda block, int16_weights=False, packed=frozenset(), gemm=False: None)
    cm = compile_onnx(onnx_model)
    kernels = cm.files["pq_kernels.c"]
    assert "pq_dot2r_s4((&(" not in kernels and re.search(r"pq_dot[n24]?_s4\(\(&\(", kernels)
    assert len(cm.int4_weights) == 5 and cm.int4_unpacked == []
    assert_host_exact(qm, cm)
    monkeypatch.setattr(dot_intrin, "_dot_stmt", lambda block, packed=frozenset(): None)
    cm = compile_onnx(onnx_model)
    assert cm.int4_weights == [] and sorted(cm.int4_unpacked) == sorted(int4_initializers(onnx_model))
    assert "pq_s4" not in cm.files["pq_kernels.c"]
    for layer, (_, int8) in expected_layer_bytes(qm).items():
        assert cm.const_bytes_by_layer[layer] == int8, layer
    assert_host_exact(qm, cm)


def test_int16_weights_leave_the_packed_encoder_alone(model):
    """--int16-weights on a 4-bit model: the encoder stays packed, the slot head is pre-extended."""
    qm, onnx_model = model
    cm = compile_onnx(onnx_model, int16_weights=True)
    kernels = cm.files["pq_kernels.c"]
    assert len(cm.int4_weights) == 5 and kernels.count("pq_dot2r_s4((&(") == 3 and "pq_dot2rw_s8((&(" in kernels
    assert_host_exact(qm, cm, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize("target_name", ["host", pytest.param("cortex-m7", marks=pytest.mark.qemu),
                                         pytest.param("cortex-m55", marks=pytest.mark.qemu)])
def test_int4_device_is_bit_exact(model, target_name, tmp_path):
    qm, onnx_model = model
    target = load_target(target_name)
    report = build(onnx_model, target, tmp_path / "b", "random int4")
    if target.kind == "host":   # the host's matmuls read every weight as one byte (gemm_x86.py)
        assert set(int4_initializers(onnx_model)) <= set(report["gemm_weights"]) and "int4_weights" not in report
        assert "weights in the host GEMM layout" in (tmp_path / "b" / "report.txt").read_text()
    else:
        assert sorted(report["int4_weights"]) == sorted(int4_initializers(onnx_model))
        expected = expected_layer_bytes(qm)
        for layer, (packed, int8) in expected.items():
            assert report["weights_by_layer"][layer] == packed < int8, layer
        assert "4-bit weights stored two per byte" in (tmp_path / "b" / "report.txt").read_text()
    assert report["components"]["weights"] == sum(report["weights_by_layer"].values())
    lines = utterances(seed=9, n=40)
    result = verify(onnx_model, qm, target, tmp_path / "b", report, lines)
    assert result.mismatches == [] and result.ok
    assert result.device_vs_onnxruntime == result.reference_vs_onnxruntime == result.frames_equal == 40
    if target.counts_instructions:   # the network stops at the utterance's length (deterministic counts)
        n_tokens = project(lines, SPEC).lengths
        insns = np.array(result.insns_network)
        assert 2 * max(insns[n_tokens == 1]) < min(insns[n_tokens == SPEC.max_tokens])
    if target.cpu == "cortex-m7":
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", str(tmp_path / "b" / report["image"])],
                             capture_output=True, text=True).stdout
        # the bottleneck (depth 64) on packed weights, 32 deep: row triples 227 instructions per 192
        # MACs, row pairs 162 per 128 (tests/test_dot_s4.py)
        assert any(n == 227 and s == 96 for _, n, s in loops(dis)), loops(dis)
        assert any(n == 162 and s == 64 for _, n, s in loops(dis)), loops(dis)
    if target.cpu == "cortex-m55":   # Helium (dot_mve.py): no SMLAD left, tail-predicated VMLADAV loops
        dis = subprocess.run(["arm-none-eabi-objdump", "-d", "-marmv8.1-m.main", str(tmp_path / "b" / report["image"])],
                             capture_output=True, text=True).stdout
        found = loops(dis, mac="vmlava.s8")
        assert "smlad" not in dis and "dlstp.8" in dis and "vshl.i8" in dis
        # packed row triples 12 instructions per 6 VMLADAVA (96 MACs), int8 pairs (slot head) and
        # rows times a vector (intent head, attention)
        assert (12, 6) in [(n, s) for _, n, s in found] and (9, 4) in [(n, s) for _, n, s in found], found
