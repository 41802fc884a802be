"""TVM's own log lines (written by its C++ logger to file descriptor 2) stay out of pqcompile's
output; anything else written to stderr meanwhile still comes through."""
import gc
import os

import onnx
from cli_runner import run_cli
from onnx import TensorProto, helper

from pqcompile.compiler import compile_onnx
from pqcompile.compiler.tvm_log import SHOW_ALL_ENV, kept_lines, tvm_log_captured
from pqcompile.export import build_onnx
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)
FAST_MODE = "Fast mode segfaults"


def test_compile_shows_no_tvm_warning(capfd, monkeypatch):
    model = build_onnx(random_quantized_model(SPEC, seed=2))
    compile_onnx(model)
    assert "Warning" not in capfd.readouterr().err
    # Gather compiles to take(mode="wrap"), so TVM's "Fast mode segfaults" warning is gone at its
    # source, not only held back: it stays away with every TVM line shown
    monkeypatch.setenv(SHOW_ALL_ENV, "1")
    compile_onnx(model)
    assert FAST_MODE not in capfd.readouterr().err


def foreign_model_with_an_unsupported_operator() -> onnx.ModelProto:
    """The right inputs and outputs, so the import fails inside TVM's BlockBuilder function."""
    inputs = [helper.make_tensor_value_info("features", TensorProto.INT8, [1, 8, 16]),
              helper.make_tensor_value_info("length", TensorProto.INT32, [1])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 8, 16]) for n in ("intent_logits", "slot_logits")]
    nodes = [helper.make_node("Cast", ["features"], ["c"], to=TensorProto.FLOAT),
             helper.make_node("Sin", ["c"], ["intent_logits"]), helper.make_node("Cos", ["c"], ["slot_logits"])]
    return helper.make_model(helper.make_graph(nodes, "foreign", inputs, outputs))


def test_a_failed_import_is_one_line_without_tvm_noise(tmp_path, capfd):
    onnx.save(foreign_model_with_an_unsupported_operator(), tmp_path / "foreign.onnx")
    r = run_cli("build", "-t", "host", "-m", tmp_path / "foreign.onnx", "-o", tmp_path / "b", ok=False)
    gc.collect()          # a BlockBuilder left alive would warn when it is destroyed
    err = capfd.readouterr().err
    assert r.returncode != 0
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and "unsupported operator Sin" in r.stderr
    assert "BlockBuilder" not in err and "Warning" not in err, err


def test_other_stderr_output_is_passed_on(capfd):
    with tvm_log_captured():
        os.write(2, b"[10:20:30] /src/relax/x.cc:5: Warning: noise\na real message\n"
                    b"[10:20:30] /src/relax/x.cc:6: Error: kept\n[10:20:30] x.cc:7: info noise\n")
    assert capfd.readouterr().err == "a real message\n[10:20:30] /src/relax/x.cc:6: Error: kept\n"


def test_kept_lines_drops_only_tvm_log_lines():
    assert kept_lines(b"[05:29:36] /project/include/tvm/topi/transform.h:1261: Warning: Fast mode\n") == b""
    assert kept_lines(b"Warning: not TVM's format\n") == b"Warning: not TVM's format\n"
