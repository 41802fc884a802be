"""Every command x every class of bad input: exit status != 0, one line on stderr that names the
problem, no traceback, and the user's files exactly as they were (nothing changed, nothing added).

The classes: missing, empty, a directory, corrupt, the wrong kind of file, not UTF-8, an output
that cannot be written, a non-empty output folder of the user's, a huge argument. Everything runs
in this process (tests/cli_runner.py) and fails before any QEMU or C compiler run.
"""
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from cli_runner import run_cli
from onnx import TensorProto, helper

from pqcompile.export import build_onnx
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)
HUGE = "x" * 300_000          # a TEXT far over any file-name limit (255 bytes a name, 4096 a path)
GOOD_TSV = "0\tIN:0\t5:9:SL:0\tcall anna now\tcalling\ten_XX\t[IN:0 ]\t{}\n"


def write_workspace(ws: Path) -> None:
    """A user's folder holding valid files and one broken file of each kind."""
    qm = random_quantized_model(SPEC, seed=1)
    qm.save(ws / "model")
    onnx.save(build_onnx(qm), ws / "model.onnx")
    (ws / "user").mkdir()
    (ws / "user" / "notes.txt").write_text("the user's own notes\n")
    (ws / "file.txt").write_text("a file, not a folder\n")
    (ws / "texts.txt").write_text("set an alarm\n")
    (ws / "empty.txt").write_bytes(b"")
    (ws / "good.tsv").write_text(GOOD_TSV)
    (ws / "empty.tsv").write_bytes(b"")
    (ws / "corrupt.tsv").write_text("0\tIN:0\n")
    (ws / "utf16.tsv").write_bytes(GOOD_TSV.encode("utf-16"))
    (ws / "spec_empty.json").write_bytes(b"")
    (ws / "spec_corrupt.json").write_text('{"feature_size": ')
    (ws / "spec_list.json").write_text("[64, 8]")
    (ws / "spec_utf16.json").write_bytes(json.dumps({"feature_size": 64}).encode("utf-16"))
    (ws / "empty.onnx").write_bytes(b"")
    (ws / "garbage.onnx").write_bytes(b"\x08\x07garbage" * 10)
    foreign = helper.make_model(helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]))
    onnx.save(foreign, ws / "foreign.onnx")
    npz = (ws / "model" / "qmodel.npz").read_bytes()
    for name in ("empty_model", "truncated_model", "bad_shape_model", "utf16_model"):
        (ws / name).mkdir()
        (ws / name / "qmodel.json").write_text((ws / "model" / "qmodel.json").read_text())
        (ws / name / "qmodel.npz").write_bytes(npz)
    (ws / "empty_model" / "qmodel.json").write_bytes(b"")
    (ws / "empty_model" / "qmodel.npz").write_bytes(b"")
    (ws / "truncated_model" / "qmodel.npz").write_bytes(npz[: len(npz) // 2])
    tensors = dict(np.load(ws / "model" / "qmodel.npz"))
    tensors["qrnn0.fwd.weight"] = tensors["qrnn0.fwd.weight"][:-1]
    np.savez(ws / "bad_shape_model" / "qmodel.npz", **tensors)
    (ws / "utf16_model" / "qmodel.json").write_bytes((ws / "model" / "qmodel.json").read_text().encode("utf-16"))
    (ws / "broken_run").mkdir()
    (ws / "broken_run" / "config.json").write_text('{"spec": ')


def snapshot(root: Path) -> dict:
    """Every path under root with its mode and content: what a failed command must not touch."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            out[str(p.relative_to(root))] = (stat.S_IMODE(st.st_mode), p.read_bytes() if p.is_file() else None)
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("user-folder")
    write_workspace(ws)
    return ws


TEXTS = ["--texts", "texts.txt"]
DATA = ["--data", "mtop:good.tsv"]
TRAIN = ["train", "--data", "mtop:good.tsv", "--config", "tiny", "--epochs", "1", "--quiet"]

# (class, arguments (run in the user's folder), words the one-line message must contain)
CASES = [
    # missing
    ("missing", ["predict", "-m", "nope", "hi"], "nope not found"),
    ("missing", ["run", "-t", "host", "-m", "nope/model.onnx", "hi"], "nope/model.onnx not found"),
    ("missing", ["verify", "-t", "host", "-m", "nope", *TEXTS], "nope not found"),
    ("missing", ["evaluate", "-m", "nope", *DATA], "nope not found"),
    ("missing", ["build", "-t", "host", "-m", "nope"], "nope not found"),
    ("missing", ["export", "-m", "nope", "-o", "m.onnx"], "nope not found"),
    ("missing", ["demo", "-t", "cortex-m7", "-m", "nope"], "nope not found"),
    ("missing", ["verify", "-t", "host", "--texts", "nope.txt"], "nope.txt"),
    ("missing", ["evaluate", "--data", "mtop:nope.tsv"], "not found: nope.tsv"),
    ("missing", ["data-report", "mtop:nope.tsv"], "not found: nope.tsv"),
    ("missing", [*TRAIN, "--data", "mtop:nope.tsv", "--out", "run"], "not found: nope.tsv"),
    ("missing", ["project", "--spec", "nope.json", "hi"], "nope.json"),
    ("missing", ["verify-projection", "--target", "host", "--spec", "nope.json"], "nope.json"),
    ("missing", ["verify-projection", "--target", "host", "--corpus", "nope.txt"], "nope.txt"),
    ("missing", ["teacher", "evaluate", "nope", *DATA], "nope"),
    ("missing", ["teacher", "label", "nope", *DATA, "--out", "labels"], "nope"),
    # empty
    ("empty", ["predict", "-m", "empty_model", "hi"], "qmodel.json"),
    ("empty", ["export", "-m", "empty_model", "-o", "m.onnx"], "qmodel.json"),
    ("empty", ["build", "-t", "host", "-m", "empty.onnx"], "empty.onnx"),
    ("empty", ["predict", "-m", "", "hi"], "empty model path"),
    ("empty", ["evaluate", "-m", "model", "--data", "mtop:empty.tsv"], "no examples in empty.tsv"),
    ("empty", ["data-report", "mtop:empty.tsv"], "no examples in empty.tsv"),
    ("empty", [*TRAIN, "--data", "mtop:empty.tsv", "--out", "run"], "no examples in empty.tsv"),
    ("empty", ["verify", "-t", "host", "-m", "model", "--texts", "empty.txt"], "no utterances"),
    ("empty", ["verify-projection", "--target", "host", "--corpus", "empty.txt"], "empty.txt"),
    ("empty", ["project", "--spec", "spec_empty.json", "hi"], "not valid JSON"),
    # a directory where a file is expected, or a folder that is not a model
    ("directory", ["predict", "-m", "user", "hi"], "user is not a run folder"),
    ("directory", ["run", "-t", "host", "-m", "user", "hi"], "user is not a run folder"),
    ("directory", ["build", "-t", "host", "-m", "user"], "user is not a run folder"),
    ("directory", ["evaluate", "-m", "user", *DATA], "user is not a run folder"),
    ("directory", ["verify", "-t", "host", "-m", "model", "--texts", "user"], "'user' is a directory"),
    ("directory", ["export", "-m", "model", "-o", "user"], "'user' is a directory"),
    ("directory", ["project", "--spec", "user", "hi"], "'user' is a directory"),
    ("directory", ["data-report", "mtop:user"], "no train file in user"),
    ("directory", ["verify-projection", "--target", "host", "--corpus", "user"], "'user' is a directory"),
    # corrupt
    ("corrupt", ["predict", "-m", "truncated_model", "hi"], "truncated_model/qmodel.npz"),
    ("corrupt", ["export", "-m", "truncated_model", "-o", "m.onnx"], "truncated_model/qmodel.npz"),
    ("corrupt", ["build", "-t", "host", "-m", "bad_shape_model"], "bad_shape_model/qmodel.npz"),
    ("corrupt", ["evaluate", "-m", "bad_shape_model", *DATA], "qrnn0.fwd.weight has shape"),
    ("corrupt", ["predict", "-m", "broken_run", "hi"], "broken_run/config.json"),
    ("corrupt", ["run", "-t", "host", "-m", "garbage.onnx", "hi"], "cannot parse ONNX file"),
    ("corrupt", ["verify", "-t", "host", "-m", "garbage.onnx", *TEXTS], "cannot parse ONNX file"),
    ("corrupt", ["data-report", "mtop:corrupt.tsv"], "corrupt.tsv:1"),
    ("corrupt", [*TRAIN, "--data", "mtop:corrupt.tsv", "--out", "run"], "corrupt.tsv:1"),
    ("corrupt", ["project", "--spec", "spec_corrupt.json", "hi"], "not valid JSON"),
    # the wrong kind of file
    ("wrong kind", ["predict", "-m", "model.onnx", "hi"], "model.onnx is not a run folder"),
    ("wrong kind", ["export", "-m", "good.tsv", "-o", "m.onnx"], "good.tsv is not a run folder"),
    ("wrong kind", ["build", "-t", "host", "-m", "foreign.onnx"], "unexpected graph input 'x'"),
    ("wrong kind", ["teacher", "label", "model", *DATA, "--out", "labels"], "model is not a teacher folder"),
    ("wrong kind", ["build", "-t", "cortex-m99"], "unknown target 'cortex-m99'"),
    ("wrong kind", ["project", "--spec", "spec_list.json", "hi"], "JSON object"),
    ("wrong kind", ["evaluate", "--data", "nosuch:good.tsv"], "nosuch"),
    ("wrong kind", ["predict", "model", "hi"], "-m model"),                  # the old MODEL TEXT form
    ("wrong kind", ["run", "-t", "host", "typo/model.onnx", "hi"], "-m typo/model.onnx"),
    ("wrong kind", ["build", "-t", "host", "-m", "model", "model.onnx"], "two models given"),
    # not UTF-8
    ("not UTF-8", ["project", "--spec", "spec_utf16.json", "hi"], "spec_utf16.json is not UTF-8"),
    ("not UTF-8", [*TRAIN, "--spec", "spec_utf16.json", "--out", "run"], "spec_utf16.json is not UTF-8"),
    ("not UTF-8", ["verify-projection", "--target", "host", "--spec", "spec_utf16.json"], "not UTF-8"),
    ("not UTF-8", ["data-report", "mtop:utf16.tsv"], "utf16.tsv:1: not valid utf-8"),
    ("not UTF-8", ["evaluate", "--data", "mtop:utf16.tsv"], "utf16.tsv:1: not valid utf-8"),
    ("not UTF-8", ["predict", "-m", "utf16_model", "hi"], "utf16_model/qmodel.json"),
    # an output that cannot be written
    ("unwritable", ["build", "-t", "host", "-o", "/dev/null/x"], "/dev/null is not a folder"),
    ("unwritable", ["run", "-t", "host", "-o", "/dev/null/x", "hi"], "/dev/null is not a folder"),
    ("unwritable", ["verify", "-t", "host", *TEXTS, "-o", "/dev/null/x"], "/dev/null is not a folder"),
    ("unwritable", ["demo", "-t", "cortex-m7", "-o", "/dev/null/x"], "/dev/null is not a folder"),
    ("unwritable", ["export", "-o", "/dev/null/x/m.onnx"], "/dev/null is not a folder"),
    ("unwritable", ["export", "-o", "file.txt/m.onnx"], "file.txt is not a folder"),
    ("unwritable", ["build", "-t", "host", "-o", "file.txt"], "'file.txt' is a file"),
    ("unwritable", ["build", "-t", "host", "-o", "file.txt/x"], "file.txt is not a folder"),
    ("unwritable", [*TRAIN, "--out", "/dev/null/x"], "/dev/null"),
    # a non-empty output folder of the user's
    ("non-empty output", ["build", "-t", "host", "-o", "user"], "user is not empty"),
    ("non-empty output", ["build", "-t", "host", "-o", "."], ". is not empty"),
    ("non-empty output", ["run", "-t", "host", "-o", "user", "hi"], "user is not empty"),
    ("non-empty output", ["verify", "-t", "host", *TEXTS, "-o", "user"], "user is not empty"),
    ("non-empty output", ["demo", "-t", "cortex-m7", "-o", "user"], "user is not empty"),
    ("non-empty output", [*TRAIN, "--out", "user"], "user already exists"),
    # a huge argument where a path is expected
    ("huge", ["predict", "-m", HUGE, "hi"], "cannot use this path"),
    ("huge", ["build", "-t", "host", "-m", HUGE], "cannot use this path"),
    ("huge", ["build", "-t", "host", "-o", HUGE], "File name too long"),
    ("huge", ["export", "-o", HUGE], "File name too long"),
    ("huge", ["project", "--spec", HUGE, "hi"], "File name too long"),
]


def case_id(case) -> str:
    kind, args, _ = case
    return f"{kind}:{' '.join(a if len(a) < 40 else 'HUGE' for a in args)}"


@pytest.mark.parametrize("kind,args,message", CASES, ids=[case_id(c) for c in CASES])
def test_bad_input_is_one_line_and_changes_nothing(workspace, monkeypatch, kind, args, message):
    monkeypatch.chdir(workspace)
    before = snapshot(workspace)
    r = run_cli(*args, ok=False)
    lines = [l for l in r.stderr.strip().splitlines() if not l.startswith("[demo]")]   # demo's progress
    assert r.returncode != 0, r
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr[:2000]
    assert message in lines[0], lines[0]
    assert snapshot(workspace) == before


def test_every_command_is_covered():
    """The table names every command that reads a user's file or writes an output."""
    covered = {args[0] for _, args, _ in CASES}
    assert covered >= {"predict", "run", "verify", "evaluate", "build", "export", "demo", "project",
                       "verify-projection", "train", "data-report", "teacher"}
    kinds = {kind for kind, _, _ in CASES}
    assert kinds == {"missing", "empty", "directory", "corrupt", "wrong kind", "not UTF-8", "unwritable",
                     "non-empty output", "huge"}


def test_a_huge_text_is_answered_not_taken_for_a_path(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    texts = [HUGE, "call " * 2000, "\udcff\udcfe set an alarm"]   # the last: invalid UTF-8 bytes
    r = run_cli("predict", "-m", "model", *texts, "--json")
    p = json.loads(r.stdout)["predictions"]
    assert len(p) == 3 and p[0]["text"] == HUGE
    assert p[2]["text"] == "\ufffd\ufffd set an alarm"
    r = run_cli("project", "--json", HUGE, "\udcff")
    u = json.loads(r.stdout)["utterances"]
    assert len(u) == 2 and u[1]["text"] == "\ufffd"


def test_ctrl_c_while_the_commands_load_is_one_line():
    """A KeyboardInterrupt while pqcompile.cli imports its commands (torch, TVM: seconds)."""
    code = ("import sys, types\n"
            "m = types.ModuleType('pqcompile.commands.projection')\n"
            "def interrupt(name):\n"
            "    raise KeyboardInterrupt\n"
            "m.__getattr__ = interrupt\n"
            "sys.modules['pqcompile.commands.projection'] = m\n"
            "from pqcompile.cli import main\n"
            "main(['targets'])\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 130 and r.stderr.strip() == "interrupted", r.stderr


def test_ctrl_c_during_a_command_is_one_line(monkeypatch):
    import pqcompile.commands.projection as projection_cmd

    def interrupted(*a, **k):
        raise KeyboardInterrupt
    monkeypatch.setattr(projection_cmd, "project", interrupted)
    r = run_cli("project", "hi", ok=False)
    assert r.returncode == 130 and r.stderr.strip() == "interrupted"


@pytest.mark.slow
def test_predict_shows_what_the_device_prints_for_invalid_utf8_and_huge_texts(workspace, tmp_path, monkeypatch):
    """Texts with invalid UTF-8 before slots, and a 300 KB one: `predict` (Python) and `run` (the
    device program, host target) give the same intents, spans and slot texts."""
    monkeypatch.chdir(workspace)
    texts = ["\udcff\udcfe set an alarm for 7 am", "caf\udce9 call anna now please", "x\udcc3 play jazz in paris",
             "straße \udce2\udc80 wake me up at noon", HUGE]
    device = run_cli("run", "-t", "host", "-o", tmp_path / "b", "-m", "model", *texts).stdout.splitlines()
    python = json.loads(run_cli("predict", "-m", "model", "--json", *texts).stdout)["predictions"]
    assert len(device) == len(python) == len(texts)
    for line, p in zip(device, python):
        d = json.loads(line)
        assert d == {"intent": p["intent"], "slots": p["slots"]}
    assert any(p["slots"] for p in python)     # the comparison covers slot texts
