"""build_program / run_program / section_sizes with the real cross compilers and QEMU.

The platform self-test app (firmware/apps/echo.c) is built for every target and fed arbitrary
bytes; its output must match the echo protocol computed here in Python, byte for byte."""
import random
import re

import pytest

from pqcompile.emulator import build_program, run_program, section_sizes
from pqcompile.errors import PqError, ToolMissing
from pqcompile.targets import FIRMWARE_DIR, list_targets, load_target

ECHO = FIRMWARE_DIR / "apps" / "echo.c"
CAP = 64  # the echo app's line buffer (PQ_ECHO_CAP)
ALL = list_targets()
RUNNABLE = [n for n in ALL if load_target(n).runnable]
COUNTING = [n for n in ALL if load_target(n).counts_instructions]
ELF_MACHINE = {"arm-none-eabi-gcc": 40, "arm-linux-gnueabihf-gcc": 40, "aarch64-linux-gnu-gcc": 183}


@pytest.fixture(scope="session")
def echo_exe(tmp_path_factory):
    """echo.c built once per target (lazily), with the target's -Werror flags."""
    built = {}
    root = tmp_path_factory.mktemp("echo")

    def get(name):
        if name not in built:
            built[name] = build_program(load_target(name), [ECHO], root / name / "echo.elf")
        return built[name]
    return get


def expected_echo(data: bytes) -> bytes:
    """What echo.c prints for input without commands, up to (not including) the "eof" line."""
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # input ending in '\n' (or empty input) has no extra last line
    out = b""
    for line in lines:
        out += b"%d %d:" % (min(len(line), CAP), max(0, len(line) - CAP)) + line[:CAP] + b"\n"
    return out


def split_eof(stdout: bytes) -> tuple[bytes, int, int]:
    """(echoed part, lines reported, instructions reported) from the echo app's output."""
    m = re.search(rb"eof (\d+) insns (\d+)\n\Z", stdout)
    assert m, stdout[-200:]
    return stdout[:m.start()], int(m.group(1)), int(m.group(2))


def awkward_input() -> bytes:
    rng = random.Random(3)
    no_nl = bytes(b for b in range(256) if b != 0x0A)
    lines = [no_nl[i:i + 50] for i in range(0, len(no_nl), 50)]   # every byte value, stored
    lines += [b"", b"\x00", b"\r", b"crlf\r", b"\xff" * 1000, b"x" * CAP, b"y" * (CAP + 1)]
    lines += [bytes(rng.choice(no_nl) for _ in range(rng.randrange(0, 3 * CAP))) for _ in range(200)]
    lines += [bytes(rng.choice(no_nl) for _ in range(100_000))]      # far longer than any buffer
    return b"\n".join(lines) + b"\n" + b"tail without newline \x00\xff"


@pytest.mark.parametrize("name", ALL)
def test_echo_builds_warning_free_for_every_target(echo_exe, name):
    target = load_target(name)
    exe = echo_exe(name)
    header = exe.read_bytes()[:20]
    assert header[:4] == b"\x7fELF"
    if target.compiler in ELF_MACHINE:
        assert int.from_bytes(header[18:20], "little") == ELF_MACHINE[target.compiler]
    sizes = section_sizes(target, exe)
    assert sizes["flash"] == sizes["text"] + sizes["data"] > 0
    assert sizes["ram"] == sizes["data"] + sizes["bss"] > 0
    assert sizes["flash"] <= target.flash_budget and sizes["ram"] <= target.ram_budget
    if target.kind == "baremetal":
        assert sizes["text"] < 16 * 1024          # the platform layer stays small
        assert sizes["ram"] >= 16 * 1024          # the reserved stack is counted as RAM


@pytest.mark.qemu
@pytest.mark.parametrize("name", RUNNABLE)
def test_echo_passes_arbitrary_bytes_exactly(echo_exe, name):
    data = awkward_input()
    result = run_program(load_target(name), echo_exe(name), input=data)
    assert result.returncode == 0, result.stderr
    echoed, lines, _ = split_eof(result.stdout)
    assert echoed == expected_echo(data)
    assert lines == data.count(b"\n") + 1


@pytest.mark.qemu
@pytest.mark.parametrize("name", RUNNABLE)
def test_empty_input_and_exit_status(echo_exe, name):
    target, exe = load_target(name), echo_exe(name)
    empty = run_program(target, exe, input=b"")
    assert empty.returncode == 0 and split_eof(empty.stdout)[:2] == (b"", 0)
    for code in (7, 255):
        r = run_program(target, exe, input=b"first\n!exit %d\nnot reached\n" % code)
        assert r.returncode == code
        assert r.stdout == b"5 0:first\n"   # output before pq_exit is flushed, nothing after


@pytest.mark.qemu
@pytest.mark.parametrize("name", RUNNABLE)
def test_instruction_counter(echo_exe, name):
    target, exe = load_target(name), echo_exe(name)
    cmds = b"!work 1000\n!work 3000\n"
    first = run_program(target, exe, input=cmds)
    second = run_program(target, exe, input=cmds)
    work = [tuple(map(int, m)) for m in re.findall(rb"work (\d+) insns (\d+) avail (\d)", first.stdout)]
    assert [w[0] for w in work] == [1000, 3000]
    if target.counts_instructions:
        assert first.stdout == second.stdout              # deterministic, to the instruction
        assert all(avail == 1 for _, _, avail in work)
        assert 0 < work[0][1] < work[1][1]                # grows with the work done
        # The echo itself is counted too: more input, more instructions, same each time.
        small = split_eof(run_program(target, exe, input=b"a" * 50 + b"\n").stdout)[2]
        big = split_eof(run_program(target, exe, input=(b"a" * 50 + b"\n") * 100).stdout)[2]
        assert 0 < small < big
    else:
        assert all(insns == 0 and avail == 0 for _, insns, avail in work)


FPU_AND_FAULT = r"""
#include "pq_platform.h"
int main(void)
{
    volatile float x = 1.5f;
    volatile double d = 0.25;
    float y = x * 3.0f;               /* floating point before anything else */
    double e = d * d;
    uint8_t buf[8];
    size_t len, dropped;

    pq_platform_init();
    pq_write_str(y == 4.5f && e == 0.0625 ? "fpu ok\n" : "fpu wrong\n");
    if (pq_read_line(buf, sizeof buf, &len, &dropped) && len == 5) {
        __asm__ volatile("udf #0");   /* an undefined instruction: a fault */
    }
    return 3;
}
"""


def _build_source(tmp_path, name: str, source: str):
    """(target, executable) of one C source file built for target `name`."""
    target = load_target(name)
    src = tmp_path / "program.c"
    src.write_text(source)
    return target, build_program(target, [src], tmp_path / "program.elf")


@pytest.mark.qemu
@pytest.mark.parametrize("name", COUNTING)
def test_cortex_m_fpu_is_on_at_reset_and_faults_end_the_program(tmp_path, name):
    target, exe = _build_source(tmp_path, name, FPU_AND_FAULT)
    ok = run_program(target, exe, input=b"no\n")
    assert (ok.returncode, ok.stdout) == (3, b"fpu ok\n")
    fault = run_program(target, exe, input=b"fault\n")
    assert fault.returncode == 134
    assert fault.stdout == b"fpu ok\n\npq: fatal HardFault\n"


STACK_OVERFLOW = r"""
#include "pq_platform.h"
static uint32_t depth(volatile uint32_t n)
{
    volatile uint8_t pad[64];
    pad[0] = (uint8_t)n;
    return n == 0 ? pad[0] : depth(n - 1) + pad[0];
}
int main(void)
{
    uint8_t buf[12];
    size_t len, dropped, i;
    uint32_t n = 0;

    pq_platform_init();
    if (pq_read_line(buf, sizeof buf, &len, &dropped)) {
        for (i = 0; i < len; i++) {
            n = n * 10u + (uint32_t)(buf[i] - '0');
        }
    }
    pq_write_str(depth(n) == 55u ? "sum ok\n" : "sum wrong\n");
    return 0;
}
"""


@pytest.mark.qemu
@pytest.mark.parametrize("name", COUNTING)
def test_cortex_m_stack_overflow_faults_instead_of_corrupting(tmp_path, name):
    target, exe = _build_source(tmp_path, name, STACK_OVERFLOW)
    shallow = run_program(target, exe, input=b"10\n")
    assert (shallow.returncode, shallow.stdout) == (0, b"sum ok\n")
    deep = run_program(target, exe, input=b"100000\n")   # ~7 MB of stack frames
    assert (deep.returncode, deep.stdout) == (134, b"\npq: fatal HardFault\n")


@pytest.mark.parametrize("name", ["host", "cortex-m7"])
def test_compiler_errors_are_reported(tmp_path, name):
    src = tmp_path / "bad.c"
    src.write_text("#include \"pq_platform.h\"\nint main(void)\n{\n    int unused;\n    return 0;\n}\n")
    out = tmp_path / "bad.elf"
    with pytest.raises(PqError) as e:
        build_program(load_target(name), [src], out)
    assert "unused variable" in str(e.value) and "bad.c" in str(e.value)
    assert list(tmp_path.iterdir()) == [src]     # no executable, no temporary left behind


def test_missing_source_is_reported(tmp_path):
    with pytest.raises(PqError, match="source file not found"):
        build_program(load_target("host"), [tmp_path / "nope.c"], tmp_path / "x")


def test_missing_tools_name_the_debian_package(tmp_path, monkeypatch, echo_exe):
    exe = echo_exe("cortex-m7")
    src = tmp_path / "ok.c"
    src.write_text("#include \"pq_platform.h\"\nint main(void)\n{\n    return 0;\n}\n")
    monkeypatch.setenv("PATH", str(tmp_path))   # really nothing installed on this PATH
    m7 = load_target("cortex-m7")
    with pytest.raises(ToolMissing) as e:
        build_program(m7, [src], tmp_path / "ok.elf")
    assert "arm-none-eabi-gcc" in str(e.value) and "gcc-arm-none-eabi" in str(e.value)
    with pytest.raises(ToolMissing) as e:
        run_program(m7, exe, input=b"x\n")
    assert "qemu-system-arm" in str(e.value) and "apt-get install" in str(e.value)
    with pytest.raises(ToolMissing, match="qemu-aarch64.*qemu-user"):
        run_program(load_target("cortex-a53"), exe)


def test_hardware_only_board_builds_but_does_not_run(echo_exe):
    board = load_target("stm32f746g-disco")
    with pytest.raises(PqError) as e:
        run_program(board, echo_exe("stm32f746g-disco"), input=b"x\n")
    assert "hardware-only" in str(e.value) and "pyocd" in str(e.value)


def test_host_timeout(tmp_path):
    src = tmp_path / "spin.c"
    src.write_text("#include \"pq_platform.h\"\nint main(void)\n{\n    pq_platform_init();\n"
                   "    for (;;) {\n    }\n}\n")
    host = load_target("host")
    exe = build_program(host, [src], tmp_path / "spin")
    with pytest.raises(PqError, match="did not finish within 1 s"):
        run_program(host, exe, timeout=1)


@pytest.mark.qemu
def test_qemu_timeout(echo_exe):
    with pytest.raises(PqError, match="echo.elf on cortex-m7 did not finish within 1 s"):
        run_program(load_target("cortex-m7"), echo_exe("cortex-m7"), input=b"!work 999999999\n", timeout=1)
