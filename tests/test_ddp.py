"""`pqcompile train` under torchrun (2 processes, DDP over gloo on this CPU) against the same
training in one process.

Why the runs can be compared at all: each process takes half of the same global batch (the
DistributedSampler deals the permutation round-robin), character distortion is seeded per
example, the loss is a plain mean over examples, DDP averages gradients, and the moving-average
activation ranges are max-reduced after every step. Zoneout and dropout are switched off: their
masks are drawn per process and cannot match.

Tolerance: the only remaining difference is float summation order (a batch's gradient is summed
in two halves and averaged), about 1e-7 relative per step. So the per-epoch training losses must
agree to 1e-5 relative and the dev predictions must be identical. Weights are compared loosely
(0.05 absolute): Adam divides each gradient coordinate by its running RMS, so a coordinate whose
gradient is ~0 in both runs can step by up to the learning rate (0.01) in different directions
from differences of 1e-9; that moves weights without changing what the model computes.
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from test_train import ROOT, run_cli, write_fixtures

pytestmark = pytest.mark.slow


def _torchrun(args, env_extra=None):
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           "-m", "pqcompile.cli", *map(str, args)],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


def _compare(tmp_path, model_args):
    src = write_fixtures(tmp_path / "data")
    args = ["train", "--data", src["en_train"], "--data", src["es_train"], "--dev", src["en_dev"],
            "--dev", src["es_dev"], *model_args, "--epochs", 3, "--batch-size", 8, "--lr", 0.01,
            "--seed", 5, "--quiet", "--json"]
    p = _torchrun([*args, "--out", tmp_path / "ddp"])
    assert p.returncode == 0, p.stderr[-3000:]
    ddp = json.loads(p.stdout)            # only the main process prints
    single = json.loads(run_cli(*args, "--out", tmp_path / "one").stdout)
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    l1 = np.array([r["loss"] for r in single["epochs"]])
    l2 = np.array([r["loss"] for r in ddp["epochs"]])
    np.testing.assert_allclose(l2, l1, rtol=1e-5)
    # the same examples were seen: the losses moved, and by the same amounts
    assert l1[-1] < l1[0]
    a = load_file(str(tmp_path / "one/checkpoint/model.safetensors"))
    b = load_file(str(tmp_path / "ddp/checkpoint/model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=0.05, err_msg=k)
    preds = []
    for run in ("one", "ddp"):
        r = run_cli("predict", "-m", tmp_path / run, "set an alarm for 7 am", "qué tiempo hace en quito",
                    "play some rock please", "--json")
        preds.append(json.loads(r.stdout)["predictions"])
    assert preds[0] == preds[1]
    m1 = json.loads((tmp_path / "one/metrics.json").read_text())
    m2 = json.loads((tmp_path / "ddp/metrics.json").read_text())
    assert [r["dev"] for r in m1["epochs"]] == [r["dev"] for r in m2["epochs"]]


def test_ddp_matches_single_process_bilstm(tmp_path):
    """The DDP plumbing itself, on a model with no activation ranges (pure float)."""
    _compare(tmp_path, ["--model", "bilstm", "--config", "tiny", "--set", "dropout=0"])


def test_ddp_matches_single_process_pqrnn_qat(tmp_path):
    """The pQRNN with QAT from the start: its activation ranges are learned per batch."""
    _compare(tmp_path, ["--config", "tiny", "--set", "hidden=16", "--set", "bottleneck=16",
                        "--set", "feature_size=64", "--set", "zoneout=0", "--set", "float_epochs=0"])
