"""Build C programs for a target, run them under QEMU (or natively), and size them.

    exe = build_program(target, ["app.c"], "build/cortex-m7/app.elf")
    result = run_program(target, exe, input=b"hello\\n")   # RunResult(stdout=b"...", returncode=0)
    section_sizes(target, exe)                              # {"text": ..., "flash": ..., "ram": ...}

A program is the caller's sources plus the platform layer in firmware/ named by the target
(start-up code, I/O back end, instruction counter), all compiled and linked in one compiler
call with the target's flags. Programs talk to the world only through pq_platform.h:

- baremetal (qemu-system-arm): input is written to a file in a fresh temporary directory and
  named on the semihosting command line; the program reads it with SYS_READ (every byte value,
  exact end of file) and writes to the semihosting console, which is QEMU's stdout. QEMU runs
  with `-icount shift=0` (one instruction per virtual nanosecond) so pq_counter_read() counts
  instructions deterministically. The exit status comes back through SYS_EXIT_EXTENDED.
- baremetal boards with `[run] console = "uart"` (stm32f405 on netduinoplus2): no semihosting;
  the input goes through the board's serial0 (QEMU's stdin/stdout, `-chardev stdio`), framed
  so that end of input and the exit status travel too (pqcompile/uart.py); the program ends
  with a system reset, on which QEMU (-no-reboot) exits. Also `-icount shift=0`.
- linux-user (qemu-aarch64 / qemu-arm) and host: stdin/stdout and the process exit status.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from . import uart
from .errors import PqError, ToolMissing
from .targets import FIRMWARE_DIR, Target

# Compiler output kept in an error message: enough to see the first errors.
_MAX_ERROR_LINES = 40

# qemu-system-arm prints this on every MPS board (its Ethernet controller has no network
# attached, and no option turns the controller off); it says nothing about the program.
_QEMU_NOISE = b"qemu-system-arm: warning: nic lan9118.0 has no peer\n"


@dataclass(frozen=True)
class RunResult:
    """What one run of a program produced."""

    stdout: bytes
    stderr: bytes        # the program's and the emulator's diagnostics
    returncode: int      # the program's exit status (negative: killed by that signal)
    command: tuple[str, ...]
    wall_s: float        # host wall time; noisy, never a performance measure


def require_tool(tool: str, packages: Iterable[str], target: Target) -> str:
    """The absolute path of `tool`, or ToolMissing naming the Debian package(s) to install."""
    found = shutil.which(tool)
    if found is None:
        pkgs = " ".join(packages) or "(unknown)"
        raise ToolMissing(f"{tool} not found (needed for target {target.name}): install the Debian "
                          f"package(s) {pkgs} (apt-get install --no-install-recommends {pkgs})")
    return found


def compile_command(target: Target, sources: Iterable[str | Path], out_path: str | Path,
                    include_dirs: Iterable[str | Path] = (), defines: Mapping[str, object] | None = None,
                    extra_cflags: Iterable[str] = ()) -> list[str]:
    """The single compile-and-link command build_program runs (the compiler by name)."""
    cmd = [target.compiler, *target.cflags,
           f"-I{FIRMWARE_DIR / 'include'}", f"-I{FIRMWARE_DIR / 'common'}"]
    cmd += [f"-I{Path(d)}" for d in include_dirs]
    all_defines = dict(target.defines)
    all_defines.update(defines or {})
    cmd += [f"-D{k}" if v is None else f"-D{k}={v}" for k, v in all_defines.items()]
    cmd += list(extra_cflags)
    cmd += [str(s) for s in sources]
    cmd += [str(FIRMWARE_DIR / rel) for rel in target.firmware]
    cmd += list(target.ldflags) + ["-Wl,--gc-sections"]
    if target.linker_script:
        cmd += [f"-L{FIRMWARE_DIR / 'ld'}", f"-T{FIRMWARE_DIR / target.linker_script}"]
    cmd += ["-o", str(out_path)]
    return cmd


def build_program(target: Target, sources: Iterable[str | Path], out_path: str | Path,
                  include_dirs: Iterable[str | Path] = (), defines: Mapping[str, object] | None = None,
                  extra_cflags: Iterable[str] = ()) -> Path:
    """Compile `sources` with the target's platform layer and link the executable at out_path.

    `defines` maps macro names to values (None: just -DNAME). The executable appears complete
    or not at all. Compiler errors (warnings are errors) raise PqError with the compiler's
    message; a missing compiler raises ToolMissing."""
    sources = [Path(s) for s in sources]
    for s in sources:
        if not s.is_file():
            raise PqError(f"source file not found: {s}")
    require_tool(target.compiler, target.compiler_packages, target)
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    cmd = compile_command(target, sources, tmp, include_dirs, defines, extra_cflags)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        if proc.returncode != 0:
            lines = (proc.stderr or proc.stdout).strip().splitlines()
            shown = "\n".join(lines[:_MAX_ERROR_LINES])
            more = f"\n... ({len(lines) - _MAX_ERROR_LINES} more lines)" if len(lines) > _MAX_ERROR_LINES else ""
            raise PqError(f"building {out.name} for {target.name} failed:\n{shown}{more}")
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def _semihosting_arg(arg: str) -> str:
    """One semihosting command-line word in QEMU's option syntax (commas are doubled)."""
    if not arg or any(c.isspace() for c in arg):
        raise PqError(f"semihosting arguments must be non-empty and without spaces: {arg!r}")
    return arg.replace(",", ",,")


def uart_qemu_command(target: Target, exe: str | Path) -> list[str]:
    """QEMU running `exe` on a board whose console is its first UART, on QEMU's stdin/stdout
    (no monitor on it, so every byte is the program's, Ctrl-A included; signal=off passes
    Ctrl-C as a byte). -no-reboot: the reset the program requests at its end stops QEMU."""
    return [target.emulator, "-M", target.machine, "-nodefaults", "-display", "none",
            "-monitor", "none", "-chardev", "stdio,id=console,signal=off", "-serial", "chardev:console",
            "-no-reboot", "-icount", "shift=0", "-kernel", str(Path(exe).resolve())]


def _user_mode_options(target: Target, options: Iterable[str]) -> list[str]:
    """Emulator options as strings; only a Linux user-mode QEMU takes any."""
    options = [str(o) for o in options]
    if options and target.kind != "linux-user":
        raise PqError(f"target {target.name}: emulator options are for the Linux user-mode targets")
    return options


def run_command(target: Target, exe: str | Path, args: Iterable[str] = (),
                input_file: str | None = None, emulator_options: Iterable[str] = ()) -> list[str]:
    """The command that runs `exe` on the target (emulator by name), reading stdin. For
    semihosting boards `input_file` is the semihosting input path, relative to the directory
    QEMU runs in. For UART-console boards it is pqcompile.uart (this Python) around QEMU, which
    frames stdin and unframes the output (`input_file` is not used). `emulator_options` go to
    a user-mode QEMU before the program (e.g. `-plugin LIB,...`, pqcompile/qemu_plugin.py)."""
    exe = Path(exe).resolve()
    args = [str(a) for a in args]
    options = _user_mode_options(target, emulator_options)
    if target.kind == "host":
        return [str(exe), *args]
    if target.kind == "linux-user":
        cpu = ["-cpu", target.emulator_cpu] if target.emulator_cpu else []
        return [target.emulator, *cpu, *options, str(exe), *args]
    if target.console == "uart":
        if args:
            raise PqError(f"programs on {target.name} take no arguments (its console is a UART)")
        return [sys.executable, "-m", "pqcompile.uart", *uart_qemu_command(target, exe)]
    words = [exe.name] + ([input_file] if input_file else []) + args
    semihosting = "enable=on,target=native," + ",".join(f"arg={_semihosting_arg(w)}" for w in words)
    return [target.emulator, "-M", target.machine, "-nodefaults", "-display", "none",
            "-monitor", "none", "-serial", "none", "-icount", "shift=0",
            "-semihosting-config", semihosting, "-kernel", str(exe)]


def run_program(target: Target, exe: str | Path, input: bytes = b"", args: Iterable[str] = (),
                timeout: float = 120, emulator_options: Iterable[str] = ()) -> RunResult:
    """Run `exe` (built by build_program for this target) with `input` as its input bytes.

    Returns its output and exit status whatever the status; raises PqError when it runs longer
    than `timeout` seconds or the target has no emulator (hardware-only boards), ToolMissing
    when the emulator is not installed."""
    exe = Path(exe)
    if not exe.is_file():
        raise PqError(f"executable not found: {exe}")
    if not target.runnable:
        how = f"; flash it with: {target.flash_command}" if target.flash_command else ""
        raise PqError(f"target {target.name} is hardware-only: pqcompile cannot run it{how}")
    if target.emulator is not None:
        require_tool(target.emulator, target.emulator_packages, target)
    emulator_options = _user_mode_options(target, emulator_options)
    if target.console == "uart":
        return _run_uart(target, exe, input, list(args), timeout)
    with tempfile.TemporaryDirectory(prefix="pq-run-") as workdir:
        if target.kind == "baremetal":
            (Path(workdir) / "input.bin").write_bytes(input)
            cmd = run_command(target, exe, args, input_file="input.bin")
            stdin = None
        else:
            cmd = run_command(target, exe, args, emulator_options=emulator_options)
            stdin = input
        start = time.monotonic()
        try:
            proc = subprocess.run(cmd, input=stdin, capture_output=True, cwd=workdir,
                                  stdin=subprocess.DEVNULL if stdin is None else None,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            raise PqError(f"{exe.name} on {target.name} did not finish within {timeout:g} s") from None
        wall = time.monotonic() - start
    return RunResult(stdout=proc.stdout, stderr=proc.stderr.replace(_QEMU_NOISE, b""), returncode=proc.returncode,
                     command=tuple(cmd), wall_s=wall)


def _run_uart(target: Target, exe: Path, input: bytes, args: list[str], timeout: float) -> RunResult:
    if args:
        raise PqError(f"programs on {target.name} take no arguments (its console is a UART)")
    cmd = uart_qemu_command(target, exe)
    out = bytearray()
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pq-run-") as workdir:
        try:
            session = uart.talk(cmd, out.extend, input=input, timeout=timeout, cwd=workdir)
        except uart.Timeout:
            raise PqError(f"{exe.name} on {target.name} did not finish within {timeout:g} s") from None
    wall = time.monotonic() - start
    status = session.status
    if status is None:
        if session.returncode == 0:
            what = "without sending an exit status" if session.ready else "without ever saying it was ready"
            raise PqError(f"{exe.name} on {target.name} stopped {what} (is it a program for this board's "
                          f"UART console?)")
        status = session.returncode    # QEMU itself failed (e.g. a bad image): its message is on stderr
    return RunResult(stdout=bytes(out), stderr=session.stderr, returncode=status, command=tuple(cmd), wall_s=wall)


def section_sizes(target: Target, exe: str | Path) -> dict[str, int]:
    """text/data/bss of an executable (the target's `size` tool, Berkeley format), plus
    flash = text + data (what is stored) and ram = data + bss (bss includes the reserved stack
    on Cortex-M boards), for comparison with target.flash_budget / target.ram_budget."""
    exe = Path(exe)
    if not exe.is_file():
        raise PqError(f"executable not found: {exe}")
    tool = require_tool(target.size_tool, target.compiler_packages, target)
    proc = subprocess.run([tool, "-B", str(exe)], capture_output=True, text=True, errors="replace")
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or len(lines) < 2:
        raise PqError(f"{target.size_tool} failed on {exe}: {proc.stderr.strip() or proc.stdout.strip()}")
    fields = lines[1].split()
    try:
        text, data, bss = (int(v) for v in fields[:3])
    except ValueError:
        raise PqError(f"unexpected {target.size_tool} output: {lines[1]!r}") from None
    return {"text": text, "data": data, "bss": bss, "flash": text + data, "ram": data + bss}
