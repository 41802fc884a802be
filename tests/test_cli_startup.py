"""The CLI starts without torch, TVM or onnx: --help, --version, `train --help` and `predict` on
an integer model import only what they use (each checked in a fresh interpreter)."""
import json
import subprocess
import sys

import numpy as np
import pytest

from pqcompile.commands.predict import load_model, predict_lines
from pqcompile.commands.train import MODEL_KINDS, SIZE_NAMES
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model

HEAVY = ("torch", "tvm", "onnx", "onnxruntime", "transformers", "matplotlib")


def heavy_modules_after(args: list[str], cwd=None) -> tuple[int, list[str], str]:
    """(exit status, heavy modules imported, stdout) of `pqcompile ARGS` in a fresh interpreter."""
    code = ("import json, sys\n"
            "from pqcompile.cli import main\n"
            "try:\n"
            f"    main({args!r})\n"
            "    status = 0\n"
            "except SystemExit as e:\n"
            "    status = e.code or 0\n"
            f"print(json.dumps([status, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=cwd)
    status, heavy = json.loads(r.stdout.strip().splitlines()[-1])
    return status, heavy, r.stdout


@pytest.mark.parametrize("args", [["--help"], ["--version"], ["train", "--help"], ["evaluate", "--help"],
                                  ["build", "--help"], ["run", "--help"], ["teacher", "--help"], ["targets"],
                                  ["project", "hello world"]])
def test_help_and_light_commands_import_no_heavy_library(args):
    status, heavy, out = heavy_modules_after(args)
    assert status == 0, out
    assert heavy == [], f"pqcompile {' '.join(args)} imported {heavy}"


def test_predict_on_an_integer_model_imports_no_heavy_library(tmp_path):
    random_quantized_model(DEFAULT_SPEC.replace(feature_size=64, max_tokens=8), seed=3).save(tmp_path / "m")
    status, heavy, out = heavy_modules_after(["predict", "-m", str(tmp_path / "m"), "--json", "set an alarm"])
    assert status == 0, out
    assert json.loads(out.splitlines()[0])["predictions"][0]["text"] == "set an alarm"
    assert heavy == []


def test_train_help_names_the_registry_kinds_and_sizes():
    from pqcompile.model.registry import CONFIGS, KINDS
    assert MODEL_KINDS == list(KINDS)
    assert all(SIZE_NAMES == list(sizes) for sizes in CONFIGS.values())


def test_predict_integer_path_equals_the_predictor(tmp_path):
    """predict's torch-free integer path decodes exactly as train.inference.Predictor does."""
    from pqcompile.datasets import Example
    from pqcompile.projection import tokenize
    from pqcompile.train.data import EncodedSet
    from pqcompile.train.inference import Predictor
    spec = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)
    qm = random_quantized_model(spec, seed=5)
    qm.save(tmp_path / "m")
    texts = ["set an alarm for 7 am", "", "call anna now please and then play some jazz in paris",
             "caf\udce9 \udcff x", "x " * 40]
    lines = [t.encode("utf-8", "surrogateescape") for t in texts]
    model, int8, _ = load_model(str(tmp_path / "m"), int8=False)
    assert int8
    fast = predict_lines(model, lines)
    seen = [line[: spec.max_input_bytes].decode("utf-8", "replace") for line in lines]
    data = EncodedSet([Example(t, "", (), "und") for t in seen], [tokenize(line, spec) for line in lines],
                      np.zeros(len(lines), dtype=np.int64), [None] * len(lines))
    slow = Predictor.from_quantized(qm).decode(data)
    assert [{k: f[k] for k in ("intent", "slots", "tags")} for f in fast] == \
        [{k: d.to_dict(t)[k] for k in ("intent", "slots", "tags")} for t, d in zip(seen, slow)]
    assert any(f["slots"] for f in fast) or len({f["intent"] for f in fast}) > 1   # not a degenerate model
