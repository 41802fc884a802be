"""The exported ONNX graph under onnxruntime equals the integer reference bit for bit."""
import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from pqcompile.cli import main
from pqcompile.errors import PqError
from pqcompile.export import build_onnx, read_metadata
from pqcompile.export.fo_pool import is_fo_pool_scan
from pqcompile.projection import DEFAULT_SPEC, project
from pqcompile.quant.integer_reference import run_integer
from pqcompile.quant.qmodel import random_quantized_model

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def random_inputs(rng, n, T, F):
    """Ternary features with zero rows past each length (lengths 1..T)."""
    lengths = rng.integers(1, T + 1, n).astype(np.int32)
    feats = rng.integers(-1, 2, (n, T, F)).astype(np.int8)
    feats[np.arange(T)[None, :] >= lengths[:, None]] = 0
    return feats, lengths


def assert_ort_matches_reference(qm, feats, lengths):
    s = session(build_onnx(qm))
    ref = run_integer(qm, feats, lengths)
    for i in range(len(lengths)):
        intent, slots = s.run(None, {"features": feats[i:i + 1], "length": lengths[i:i + 1]})
        assert intent.dtype == np.int8 and slots.dtype == np.int8
        np.testing.assert_array_equal(intent[0], ref.intent_logits[i])
        np.testing.assert_array_equal(slots[0], ref.slot_logits[i])


@pytest.mark.parametrize("seed,k,layers,hidden", [(0, 2, 2, 8), (1, 1, 1, 4), (2, 3, 2, 6), (3, 9, 1, 5)])
def test_onnxruntime_equals_integer_reference_on_random_models(seed, k, layers, hidden):
    qm = random_quantized_model(SPEC, bottleneck=12, hidden=hidden, n_layers=layers, kernel_width=k, seed=seed)
    rng = np.random.default_rng(100 + seed)
    feats, lengths = random_inputs(rng, 24, SPEC.max_tokens, SPEC.feature_size)
    lengths[:2] = [1, SPEC.max_tokens]
    assert_ort_matches_reference(qm, feats, lengths)


def test_onnxruntime_equals_reference_on_projected_text():
    spec = DEFAULT_SPEC.replace(feature_size=128, max_tokens=12)
    qm = random_quantized_model(spec, seed=7)
    texts = ["wake me up at 7 am", "", "¿qué tiempo hace?", "a " * 40, "x\udcff".encode("utf-8", "surrogateescape")]
    p = project(texts, spec)
    assert_ort_matches_reference(qm, p.features, p.lengths)


def test_scans_are_recognised_and_metadata_round_trips():
    qm = random_quantized_model(SPEC, n_layers=2, hidden=8, seed=3)
    model = build_onnx(qm)
    scans = [is_fo_pool_scan(n) for n in model.graph.node if n.op_type == "Scan"]
    assert [(h, b) for h, b, _ in scans] == [(8, False), (8, True)] * 2
    meta = read_metadata(model)
    assert meta.spec == SPEC and meta.intent_labels == qm.intent_labels and meta.slot_labels == qm.slot_labels
    inputs = {i.name: [d.dim_value for d in i.type.tensor_type.shape.dim] for i in model.graph.input}
    assert inputs == {"features": [1, 8, 64], "length": [1]}
    ops = {n.op_type for n in model.graph.node}
    assert "MatMulInteger" in ops and not ops & {"QuantizeLinear", "DequantizeLinear", "MatMul"}


def test_tampered_scan_is_not_recognised():
    model = build_onnx(random_quantized_model(SPEC, seed=4))
    scan = next(n for n in model.graph.node if n.op_type == "Scan")
    body = next(a.g for a in scan.attribute if a.name == "body")
    next(n for n in body.node if n.op_type == "Div").op_type = "Mul"
    assert is_fo_pool_scan(scan) is None


def test_metadata_missing_is_a_clear_error():
    model = build_onnx(random_quantized_model(SPEC, seed=5))
    del model.metadata_props[:]
    with pytest.raises(PqError, match="metadata"):
        read_metadata(model)


def test_export_cli_writes_a_model(tmp_path, capsys):
    qm = random_quantized_model(SPEC, seed=6)
    qm.save(tmp_path / "run")
    out = tmp_path / "m.onnx"
    main(["export", str(tmp_path / "run"), "-o", str(out), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert info["macs"] == qm.n_macs() and out.stat().st_size == info["bytes"]
    feats, lengths = random_inputs(np.random.default_rng(0), 3, 8, 64)
    s = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])  # default optimisations on
    ref = run_integer(qm, feats, lengths)
    for i in range(3):
        intent, slots = s.run(None, {"features": feats[i:i + 1], "length": lengths[i:i + 1]})
        np.testing.assert_array_equal(intent[0], ref.intent_logits[i])
        np.testing.assert_array_equal(slots[0], ref.slot_logits[i])


def test_export_cli_bad_run_folder_is_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["export", str(tmp_path), "-o", str(tmp_path / "m.onnx")])
    assert e.value.code != 0
    err = capsys.readouterr().err
    assert err.startswith("error:") and "qmodel" in err and err.count("\n") == 1
    assert not (tmp_path / "m.onnx").exists()
