"""Outputs pqcompile writes: atomically, with the umask's permissions, and never over a folder of
the user's (pqcompile/atomic.py; `build -o DIR`, also `-o .`)."""
import os
import stat
from pathlib import Path

import pytest
from cli_runner import run_cli

from pqcompile.atomic import MANIFEST, atomic_dir, atomic_file
from pqcompile.errors import PqError
from pqcompile.projection import DEFAULT_SPEC
from pqcompile.quant.qmodel import random_quantized_model


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def listing(folder: Path) -> list[str]:
    """The folder's entries, less the manifest of what pqcompile wrote."""
    return sorted(n for n in os.listdir(folder) if n != MANIFEST)


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    saved = os.umask(0o022)
    yield lambda m: os.umask(m)
    os.umask(saved)


@pytest.mark.parametrize("mask,dir_mode,file_mode", [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640),
                                                    (0o002, 0o775, 0o664)])
def test_outputs_get_the_umasks_permissions(tmp_path, umask, mask, dir_mode, file_mode):
    umask(mask)
    with atomic_dir(tmp_path / "out", marker="report.json") as tmp:
        (tmp / "report.json").write_text("{}")
    with atomic_file(tmp_path / "model.onnx") as f:
        f.write(b"onnx")
    assert mode(tmp_path / "out") == dir_mode
    assert mode(tmp_path / "out" / "report.json") == file_mode
    assert mode(tmp_path / "model.onnx") == file_mode


def test_export_writes_a_file_the_group_can_read(tmp_path, umask, monkeypatch):
    umask(0o022)
    random_quantized_model(DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)).save(tmp_path / "m")
    run_cli("export", "-m", tmp_path / "m", "-o", tmp_path / "m.onnx")
    assert mode(tmp_path / "m.onnx") == 0o644
    assert listing(tmp_path) == ["m", "m.onnx"]


def test_a_folder_with_the_marker_is_replaced_whole(tmp_path):
    out = tmp_path / "b"
    with atomic_dir(out, marker="report.json") as tmp:
        (tmp / "report.json").write_text("1")
        (tmp / "old.elf").write_text("old")
    with atomic_dir(out, marker="report.json") as tmp:
        (tmp / "report.json").write_text("2")
    assert listing(out) == ["report.json"] and (out / "report.json").read_text() == "2"
    assert listing(tmp_path) == ["b"]           # no temporary or old folder left
    assert (out / MANIFEST).read_text() == "report.json\n"


@pytest.mark.parametrize("in_place", [False, True])
def test_a_rebuild_keeps_the_files_the_user_added(tmp_path, monkeypatch, in_place):
    """Files the user put into a build folder later survive a rebuild (also inside its subfolders
    and for `-o .`); a rebuild that would write over one of them is refused and changes nothing."""
    out = tmp_path / "b"
    out.mkdir()
    monkeypatch.chdir(out if in_place else tmp_path)
    target = "." if in_place else out

    def build(files):
        with atomic_dir(target, marker="report.json") as tmp:
            for rel, text in files.items():
                (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
                (tmp / rel).write_text(text)

    build({"report.json": "1", "gen/model.c": "v1", "old.elf": "old"})
    (out / "notes.txt").write_text("mine")
    (out / "gen" / "tweak.h").write_text("mine too")
    (out / "mine").mkdir()
    (out / "mine" / "a.txt").write_text("a")
    build({"report.json": "2", "gen/model.c": "v2"})
    assert listing(out) == ["gen", "mine", "notes.txt", "report.json"]
    assert sorted(os.listdir(out / "gen")) == ["model.c", "tweak.h"] and (out / "gen" / "model.c").read_text() == "v2"
    assert (out / "notes.txt").read_text() == "mine" and (out / "mine" / "a.txt").read_text() == "a"
    assert (out / MANIFEST).read_text() == "gen\ngen/model.c\nreport.json\n"   # only pqcompile's
    assert not [n for n in os.listdir(tmp_path) + os.listdir(out) if n.startswith(".") and n != MANIFEST]

    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(PqError, match="holds notes.txt, which pqcompile did not write"):
        build({"report.json": "3", "notes.txt": "generated"})
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


@pytest.mark.parametrize("make", ["user files", "a file"])
def test_a_folder_of_the_users_is_refused_and_kept(tmp_path, make):
    out = tmp_path / "b"
    if make == "a file":
        out.write_text("mine")
    else:
        out.mkdir()
        (out / "thesis.tex").write_text("mine")
    with pytest.raises(PqError, match="not empty and was not written by pqcompile|exists and is not a folder"):
        with atomic_dir(out, marker="report.json") as tmp:
            (tmp / "report.json").write_text("{}")
    assert (out / "thesis.tex" if make == "user files" else out).read_text() == "mine"
    assert listing(tmp_path) == ["b"]


def test_a_failure_inside_leaves_the_previous_output(tmp_path):
    out = tmp_path / "b"
    with atomic_dir(out, marker="report.json") as tmp:
        (tmp / "report.json").write_text("1")
    with pytest.raises(RuntimeError):
        with atomic_dir(out, marker="report.json") as tmp:
            (tmp / "report.json").write_text("2")
            raise RuntimeError("compiler crashed")
    assert (out / "report.json").read_text() == "1" and listing(tmp_path) == ["b"]


def test_the_current_folder_is_filled_in_place(tmp_path, monkeypatch):
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    with atomic_dir(".", marker="report.json") as tmp:
        (tmp / "report.json").write_text("1")
        (tmp / "gen").mkdir()
        (tmp / "gen" / "a.c").write_text("int a;")
    assert listing(here) == ["gen", "report.json"] and Path.cwd() == here
    with atomic_dir(".", marker="report.json") as tmp:   # a build folder: replaced
        (tmp / "report.json").write_text("2")
    assert listing(here) == ["report.json"] and (here / "report.json").read_text() == "2"
    (here / "report.json").unlink()
    (here / "mine.txt").write_text("mine")
    with pytest.raises(PqError, match="not empty"):
        with atomic_dir(".", marker="report.json"):
            pass
    assert listing(here) == ["mine.txt"]
    with pytest.raises(PqError, match="contains the current folder"):
        with atomic_dir(tmp_path, marker=None):
            pass


@pytest.mark.slow
def test_build_into_the_current_folder(tmp_path, monkeypatch, umask):
    """`pqcompile build -o .`: in an empty folder it builds there; with the user's files it refuses."""
    umask(0o022)
    random_quantized_model(DEFAULT_SPEC.replace(feature_size=64, max_tokens=8)).save(tmp_path / "m")
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    run_cli("build", "-t", "host", "-m", tmp_path / "m", "-o", ".")
    assert {"report.json", "Makefile", "gen", "pqrnn", "model.onnx"} <= set(listing(here))
    assert not [n for n in listing(here) + listing(tmp_path) if n.startswith(".")]   # no temporary folder
    assert (here / MANIFEST).is_file()
    assert mode(here / "report.json") == 0o644 and mode(here / "gen") == 0o755 and mode(here / "pqrnn") == 0o755
    (here / "report.json").unlink()
    (here / "notes.txt").write_text("mine")
    before = {n: (here / n).stat().st_mtime_ns for n in listing(here)}
    r = run_cli("build", "-t", "host", "-m", tmp_path / "m", "-o", ".", ok=False)
    assert r.returncode != 0 and r.stderr.startswith("error: . is not empty") and r.stderr.count("\n") == 1
    assert {n: (here / n).stat().st_mtime_ns for n in listing(here)} == before
