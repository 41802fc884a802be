"""Helpers for the micro-kernel tests: loops in `objdump -d` output (instruction counts of compiled
inner loops), and building and running a C harness on a target."""
import re


def loops(disassembly: str, function: str | None = None, mac: str = "smlad") -> list[tuple[str, int, int]]:
    """(function, instructions, SMLADs, or the instructions named `mac`) of every loop (a backward
    branch, or a low-overhead loop's LE, to an address inside the same function) in objdump -d
    output, of `function` only when given"""
    insns, current = [], None
    for line in disassembly.splitlines():
        head = re.match(r"^[0-9a-f]+ <([^>]+)>:$", line)
        if head:
            current = head.group(1)
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(?:[0-9a-f]{4}\s?)+\s+(\S+)\s*(.*)$", line)
        if m and current is not None and function in (None, current):
            insns.append((current, int(m.group(1), 16), m.group(2), m.group(3)))
    out = []
    for name, addr, op, arg in insns:
        target = re.match(r"(?:lr, )?([0-9a-f]+) <", arg)
        branch = (op.startswith("b") and not op.startswith("bl")) or op in ("le", "letp")
        if branch and target and int(target.group(1), 16) < addr:
            body = [i for i in insns if i[0] == name and int(target.group(1), 16) <= i[1] <= addr]
            out.append((name, len(body), sum(i[2] == mac for i in body)))
    return out


def neon_ops(dis: str) -> bool:
    """Whether objdump -d output has the NEON routines' multiply-accumulates: AArch64 SMULL, SMULL2
    or SMLAL2, SADALP and LD2, or ARMv7 VMULL.S8, VPADAL.S16 and VLD2.8"""
    a64 = (all(op in dis for op in ("smull\tv", "sadalp\tv", "ld2\t"))
           and ("smull2\tv" in dis or "smlal2\tv" in dis))
    a32 = all(op in dis for op in ("vmull.s8", "vpadal.s16", "vld2.8"))
    return a64 or a32


def run_harness(target_name: str, src: str, n_cases: int, tmp_path, flags=(), dsp: bool = True,
                neon: bool = False, x86: bool = False, avx2: bool = False) -> list:
    """Compile a C harness (one line of integers per case on stdout) for the target, check with
    objdump that its DSP path (SXTB16 + SMLAD) is what was compiled when `dsp`, its NEON
    routines (neon_ops) when `neon`, and on an x86-64 host that the SSE2 kernels (PMADDWD) are
    there exactly when `x86` and the run-time selected AVX2 ones (VPMADDWD) exactly when `avx2`,
    run it (QEMU for the Arm targets) and return one int64 array per case."""
    import platform
    import shutil
    import subprocess

    import numpy as np
    import pytest

    from pqcompile.emulator import build_program, run_program
    from pqcompile.targets import load_target

    target = load_target(target_name)
    if shutil.which(target.compiler) is None or (target.emulator and shutil.which(target.emulator) is None):
        pytest.skip(f"{target.compiler} or {target.emulator} missing")
    (tmp_path / "dots.c").write_text(src)
    exe = build_program(target, [tmp_path / "dots.c"], tmp_path / ("dots.elf" if target.kind == "baremetal" else "dots"),
                        extra_cflags=flags)
    x86_host = target.kind == "host" and platform.machine() in ("x86_64", "AMD64")
    if dsp or neon or x86_host:
        objdump = target.size_tool.replace("size", "objdump")
        dis = subprocess.run([objdump, "-d", str(exe)], capture_output=True, text=True).stdout
        assert not dsp or ("smlad" in dis and "sxtb16" in dis)
        assert not neon or neon_ops(dis)
        assert not x86_host or (("pmaddwd" in dis) == x86 and ("vpmaddwd" in dis) == avx2)
    res = run_program(target, exe)
    assert res.returncode == 0, res.stderr
    got = [np.array(line.split(), np.int64) for line in res.stdout.decode().splitlines()]
    assert len(got) == n_cases
    return got


def harness_main(cases: list[str], c_size: int) -> list[str]:
    """The C lines after a harness's data: put() (one line of integers per case) and a main()
    that runs case0 .. caseN-1 (the `cases` functions' source) on an int32 c[c_size]."""
    return ["static void put(const int32_t *c, int m)", "{", "    int j;",
            "    for (j = 0; j < m; j++) {",
            "        if (c[j] < 0) { pq_write_str(\"-\"); pq_write_uint((uint32_t)0u - (uint32_t)c[j]); }",
            "        else { pq_write_uint((uint32_t)c[j]); }",
            "        pq_write_str(j + 1 < m ? \" \" : \"\\n\");", "    }", "}",
            *cases, "int main(void)", "{", f"    int32_t c[{c_size}];", "    pq_platform_init();",
            *(f"    case{i}(c);" for i in range(len(cases))), "    return 0;", "}", ""]
