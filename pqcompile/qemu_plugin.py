"""Exact instruction counts on the Linux user-mode targets (qemu-aarch64, qemu-arm): QEMU's user
mode has no -icount, so the program runs with pqcompile's own TCG plugin
(firmware/qemu-plugin/pq_icount.c), which counts every executed guest instruction and logs the
running count each time the program reaches one of the addresses it is given (marks).

    counted = run_counted(target, exe, input=b"...", marks={"pq_point_a": 0x40054c, ...})
    counted.hits        # [("pq_point_a", 21141), ("pq_point_b", 27146), ...] in execution order
    counted.total       # all instructions of the run

A hit's count is the instructions executed before that execution of the mark instruction, so the
difference of two hits is exact to the instruction, and the same on every run (QEMU's TCG
translates deterministically; the count does not depend on host time).

The plugin is built with the host C compiler (gcc, or $CC) at first use and cached by the hash of
its source and flags under $XDG_CACHE_HOME/pqcompile/host (~/.cache/pqcompile/host; host_library.py). No QEMU header is
needed: the plugin declares the few API functions it calls (API version 1, QEMU 6.0 to 8.2;
Debian 12's QEMU 7.2 ships no qemu-plugin.h). A plugin that cannot be built or loaded is a
one-line PqError."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from .emulator import RunResult, require_tool, run_program
from .errors import PqError
from .host_library import HostBuildError, cached_library
from .targets import FIRMWARE_DIR, Target

PLUGIN_SOURCE = FIRMWARE_DIR / "qemu-plugin" / "pq_icount.c"
FLAGS = ["-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared"]
PLUGIN_EMULATORS = ("qemu-aarch64", "qemu-arm")


@dataclass(frozen=True)
class CountedRun:
    """A run under the counting plugin: the program's result, the marks reached in order, and
    the instructions of the whole run."""

    result: RunResult
    hits: list[tuple[str, int]]
    total: int


def can_count(target: Target) -> bool:
    """True for the Linux user-mode targets whose emulator takes the plugin."""
    return target.kind == "linux-user" and target.emulator in PLUGIN_EMULATORS


def plugin_library() -> Path:
    """The built plugin (a shared library), built now if the cache has none for this source."""
    cc = os.environ.get("CC") or "gcc"
    if shutil.which(cc) is None:
        raise PqError(f"the instruction-counting QEMU plugin needs a host C compiler: {cc} not found "
                      f"(apt-get install --no-install-recommends gcc)")
    try:
        return cached_library("pq_icount", PLUGIN_SOURCE.read_text(), cc, FLAGS)
    except HostBuildError as e:
        raise PqError(f"building the QEMU plugin {PLUGIN_SOURCE.name} with {cc} failed: {e}") from None


def symbol_addresses(target: Target, exe: str | Path, pattern: str) -> dict[str, int]:
    """Addresses of the symbols of `exe` whose names match `pattern` (the target's nm)."""
    tool = require_tool(re.sub(r"size$", "nm", target.size_tool), target.compiler_packages, target)
    proc = subprocess.run([tool, str(exe)], capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        raise PqError(f"{tool} failed on {exe}: {proc.stderr.strip()[:300]}")
    found: dict[str, int] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(pattern, parts[2]):
            if parts[2] in found:
                raise PqError(f"{Path(exe).name}: the mark {parts[2]} is defined twice")
            found[parts[2]] = int(parts[0], 16)
    return found


def _option(path: Path) -> str:
    return str(path).replace(",", ",,")    # QEMU's option syntax doubles a comma


def run_counted(target: Target, exe: str | Path, marks: Mapping[str, int], input: bytes = b"",
                args=(), timeout: float = 300) -> CountedRun:
    """Run `exe` on `target` under the plugin; `marks` maps names to instruction addresses.
    PqError when the target cannot take the plugin, or QEMU cannot load it, or the plugin left no
    complete log (the program was killed before QEMU's exit)."""
    if not can_count(target):
        raise PqError(f"target {target.name}: the counting plugin runs under qemu-aarch64 or qemu-arm user mode")
    lib = plugin_library()
    names = list(marks)
    with tempfile.TemporaryDirectory(prefix="pq-icount-") as tmp:
        marks_file, log = Path(tmp) / "marks.txt", Path(tmp) / "counts.txt"
        marks_file.write_text("".join(f"{marks[n]:x}\n" for n in names))
        plugin = f"{_option(lib)},marks={_option(marks_file)},out={_option(log)}"
        res = run_program(target, exe, input=input, args=args, timeout=timeout,
                          emulator_options=["-plugin", plugin])
        err = res.stderr.decode("utf-8", "replace")
        m = re.search(r"^(?:qemu-\w+: )?(Could not load plugin.*|pq_icount: .*)$", err, re.M)
        if m:
            raise PqError(f"{target.emulator} could not run the instruction-counting plugin: {m.group(1).strip()}")
        text = log.read_text() if log.is_file() else ""
    hits: list[tuple[str, int]] = []
    total = None
    for line in text.splitlines():
        key, value = line.split()
        if key == "total":
            total = int(value)
        else:
            hits.append((names[int(key)], int(value)))
    if total is None:
        raise PqError(f"{Path(exe).name} on {target.name}: the counting plugin wrote no final count "
                      f"(exit status {res.returncode})")
    return CountedRun(res, hits, total)
