"""The instruction-counting TCG plugin (firmware/qemu-plugin/pq_icount.c, pqcompile/qemu_plugin.py)
on a tiny C program whose loop has a known instruction count, under qemu-aarch64 (cortex-a53) and
qemu-arm (cortex-a7, Thumb-2): exact counts between two labelled points, every execution of a point
logged in order, identical numbers on a second run, and one-line errors when QEMU cannot load it."""
import shutil
import subprocess

import pytest

from pqcompile import qemu_plugin
from pqcompile.emulator import build_program
from pqcompile.errors import PqError
from pqcompile.qemu_plugin import plugin_library, run_counted, symbol_addresses
from pqcompile.targets import load_target

TARGETS = ["cortex-a53", "cortex-a7"]

# Between pq_point_a and pq_point_b: the nop at a, the mov, then n iterations of 3 instructions.
PROGRAM = r"""
#include <stdint.h>
#include <stdlib.h>
#include "pq_platform.h"

#ifdef __aarch64__
#define BNE "b.ne"
#else
#define BNE "bne"
#endif

__attribute__((noinline)) static void loop(uint32_t n)
{
    uint32_t t;
    __asm__ volatile("pq_point_a:\n\tnop\n\tmov %0, %1\n1:\n\tnop\n\tsubs %0, %0, #1\n\t" BNE " 1b\n"
                     "pq_point_b:\n\tnop" : "=&r"(t) : "r"(n) : "cc", "memory");
}

int main(void)
{
    uint8_t line[32];
    size_t len, dropped;

    pq_platform_init();
    while (pq_read_line(line, sizeof line - 1, &len, &dropped)) {
        line[len] = 0;
        loop((uint32_t)atoi((const char *)line));
        pq_write_str("done\n");
    }
    return 0;
}
"""


def tools_missing(target):
    return shutil.which(target.compiler) is None or shutil.which(target.emulator) is None or shutil.which("gcc") is None


@pytest.fixture(scope="module", params=TARGETS)
def program(request, tmp_path_factory):
    target = load_target(request.param)
    if tools_missing(target):
        pytest.skip(f"needs {target.compiler}, {target.emulator} and gcc")
    d = tmp_path_factory.mktemp(request.param)
    (d / "loop.c").write_text(PROGRAM)
    exe = build_program(target, [d / "loop.c"], d / "loop")
    return target, exe


def test_counts_between_two_points_are_exact(program):
    target, exe = program
    marks = symbol_addresses(target, exe, r"pq_point_\w+")
    assert set(marks) == {"pq_point_a", "pq_point_b"}
    ns = [1, 7, 1000, 123457, 2]
    got = run_counted(target, exe, marks, input=b"".join(b"%d\n" % n for n in ns))
    assert got.result.returncode == 0 and got.result.stdout == b"done\n" * len(ns)
    assert [h[0] for h in got.hits] == ["pq_point_a", "pq_point_b"] * len(ns)
    counts = [h[1] for h in got.hits]
    assert [b - a for a, b in zip(counts[::2], counts[1::2])] == [2 + 3 * n for n in ns]
    assert counts == sorted(counts) and got.total > counts[-1] > 0
    # deterministic: a second run gives the same numbers, start-up included
    again = run_counted(target, exe, marks, input=b"".join(b"%d\n" % n for n in ns))
    assert again.hits == got.hits and again.total == got.total


def test_no_marks_counts_the_whole_run(program):
    target, exe = program
    few = run_counted(target, exe, {}, input=b"1010\n")   # as many digits for atoi
    many = run_counted(target, exe, {}, input=b"2010\n")
    assert few.hits == [] and many.total - few.total == 3 * 1000


def test_a_plugin_qemu_refuses_is_one_line_error(program, tmp_path, monkeypatch):
    target, exe = program
    bad = tmp_path / "v99.so"
    subprocess.run(["gcc", *qemu_plugin.FLAGS, "-DPQ_API_VERSION=99", "-o", str(bad),
                    str(qemu_plugin.PLUGIN_SOURCE)], check=True)
    monkeypatch.setattr(qemu_plugin, "plugin_library", lambda: bad)
    with pytest.raises(PqError) as e:
        run_counted(target, exe, {}, input=b"1\n")
    msg = str(e.value)
    assert "\n" not in msg and "could not run the instruction-counting plugin" in msg and "version 99" in msg


def test_plugin_is_built_once_and_cached(tmp_path, monkeypatch):
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    lib = plugin_library()
    assert lib.is_file() and lib.parent == tmp_path / "pqcompile" / "host"
    stamp = lib.stat().st_mtime_ns
    assert plugin_library() == lib and lib.stat().st_mtime_ns == stamp


def test_targets_without_a_user_mode_qemu_cannot_take_the_plugin(tmp_path):
    with pytest.raises(PqError, match="qemu-aarch64 or qemu-arm user mode"):
        run_counted(load_target("cortex-m7"), tmp_path / "x.elf", {})
