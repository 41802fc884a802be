"""`pqcompile run`: lines on stdin are answered as they arrive (interactive use), on the host and
under QEMU; --json gives one object; a build that replaces another model's says so on stderr.
The line batching itself (pqcompile/commands/line_batches.py) on a real pipe."""
import json
import os
import select
import subprocess
import sys
import threading

import pytest
from cli_runner import run_cli

from pqcompile.commands.line_batches import MAX_LINE_BYTES, fd_batches
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model

SPEC = DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)
TEXTS = ["set an alarm for 7 am", "play jazz in paris", "", "caf\udce9 call anna now", "x" * 3000]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("run-models")
    for seed in (1, 2):
        random_quantized_model(SPEC, seed=seed).save(d / f"model{seed}")
    return d


def start_run(args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pqcompile.cli", "run", *map(str, args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def answer_of(proc: subprocess.Popen, line: bytes) -> bytes:
    """Send one line and wait for its answer while stdin stays open."""
    proc.stdin.write(line + b"\n")
    proc.stdin.flush()
    ready, _, _ = select.select([proc.stdout], [], [], 300)
    assert ready, "no answer while the input was still open"
    return proc.stdout.readline()


@pytest.mark.slow
@pytest.mark.parametrize("target", ["host", "cortex-m7"])
def test_each_stdin_line_is_answered_as_it_arrives(models, tmp_path, target):
    out = tmp_path / "b"
    expected = run_cli("run", "-t", target, "-m", models / "model1", "-o", out, *TEXTS).stdout.splitlines(True)
    assert len(expected) == len(TEXTS)
    proc = start_run(["-t", target, "-m", models / "model1", "-o", out])
    try:
        got = [answer_of(proc, t.encode("utf-8", "surrogateescape")).decode() for t in TEXTS]
    finally:
        proc.stdin.close()
        rest, err = proc.stdout.read(), proc.stderr.read()
        proc.wait(timeout=120)
    assert proc.returncode == 0 and rest == b"" and b"building" not in err, err
    assert got == expected


@pytest.mark.slow
def test_run_json_and_the_building_message(models, tmp_path):
    out = tmp_path / "b"
    first = run_cli("run", "-t", "host", "-m", models / "model1", "-o", out, *TEXTS)
    assert first.stderr.startswith(f"building {out}/ for host from {models / 'model1'} ...")
    again = run_cli("run", "-t", "host", "-m", models / "model1", "-o", out, "--json", *TEXTS)
    assert again.stderr == ""                                          # the build is current: no rebuild
    d = json.loads(again.stdout)
    assert d["target"] == "host" and d["model"] == str(models / "model1") and d["build_dir"] == str(out)
    assert d["frames"] == [json.loads(line) for line in first.stdout.splitlines()]
    other = run_cli("verify", "-t", "host", "-m", models / "model2", "-o", out, "--json", "--texts",
                    _texts_file(tmp_path))
    assert f"replacing its build of {models / 'model1'}" in other.stderr
    assert json.loads(other.stdout)["model"] == str(models / "model2")


def _texts_file(tmp_path):
    p = tmp_path / "texts.txt"
    p.write_text("set an alarm\nplay jazz\n")
    return p


def batches_of(chunks: list[bytes]) -> list[bytes]:
    """fd_batches of a pipe written chunk by chunk by another thread, which waits after a chunk
    that completes a line until a batch came out (as a person typing would)."""
    r, w = os.pipe()
    gate = threading.Semaphore(0)

    def writer():
        for c in chunks:
            os.write(w, c)
            if b"\n" in c:
                gate.acquire()           # the next chunk only once this one's lines came out
        os.close(w)
    t = threading.Thread(target=writer)
    t.start()
    out = []
    try:
        for b in fd_batches(r):
            out.append(b)
            gate.release()
    finally:
        t.join()
        os.close(r)
    return out


def test_batches_end_at_line_ends_and_come_as_lines_arrive():
    got = batches_of([b"one\ntw", b"o\n", b"three\nfour\nfi", b"ve"])
    assert got == [b"one\n", b"two\n", b"three\nfour\n", b"five"]


def test_a_long_line_is_cut_where_the_device_would_ignore_it():
    long = b"y" * (3 * MAX_LINE_BYTES)
    got = b"".join(batches_of([b"a\n" + long[:1000], long[1000:] + b"\nb\n"]))
    assert got == b"a\n" + long[:MAX_LINE_BYTES] + b"\nb\n"
    assert MAX_LINE_BYTES > 65535              # the largest max_input_bytes a spec allows
