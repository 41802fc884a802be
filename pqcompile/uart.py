"""The host side of the framed serial console of boards whose program talks over a UART
(firmware/boards/stm32f4/usart_console.c; targets with `[run] console = "uart"`).

A serial line carries bytes but no end of file and no exit status, so both ends frame it
(DLE = 0x10; every byte value stays data):

    board -> host   DLE STX                once the board's receiver is on: send input only now
                    DLE DLE                a data byte 0x10; any other byte is itself
                    DLE ETX <status>       the program ended with this status (0..255)
    host -> board   DLE DLE                a data byte 0x10; any other byte is itself
                    DLE EOT                end of input

Under QEMU the board's UART is QEMU's serial0 on a pipe (`-chardev stdio`); the board requests a
system reset after its exit frame and QEMU, run with -no-reboot, exits. QEMU's STM32 USART takes
the next byte only once the program has read the previous one, so no byte is lost however fast
the host writes; a real board has no such flow control (see docs/hardware.md).

`python -m pqcompile.uart QEMU-COMMAND...` runs one program interactively: stdin is sent as it
arrives (end of stdin = end of input), the program's output goes to stdout as it comes, and the
exit status is the program's. The build folders' `make run` uses it.
"""
from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence

from .errors import PqError

DLE, STX, ETX, EOT = 0x10, 0x02, 0x03, 0x04
END_OF_INPUT = bytes([DLE, EOT])
_CHUNK = 64 * 1024


class Timeout(PqError):
    """The program ran past its time limit (it was stopped)."""


def frame_input(data: bytes) -> bytes:
    """Input bytes as sent to the board (without the end-of-input mark)."""
    return data.replace(b"\x10", b"\x10\x10")


class Unframer:
    """Splits what the board sends into data bytes, the ready mark and the exit status; feed it
    chunks as they arrive (a frame may be split between chunks)."""

    def __init__(self) -> None:
        self.ready = False
        self.status: int | None = None   # set by the exit frame; later bytes are ignored
        self._dle = False                # the last byte was an unpaired DLE
        self._want_status = False        # DLE ETX seen, the status byte is next

    def feed(self, chunk: bytes) -> bytes:
        """The data bytes in chunk."""
        out = bytearray()
        i, n = 0, len(chunk)
        while i < n and self.status is None:
            if self._want_status:
                self.status = chunk[i]
                self._want_status = False
                break
            if self._dle:
                b = chunk[i]
                i += 1
                self._dle = False
                if b == STX:
                    self.ready = True
                elif b == ETX:
                    self._want_status = True
                else:
                    out.append(b)        # DLE DLE (and, leniently, DLE x) is the byte
                continue
            j = chunk.find(b"\x10", i)
            if j < 0:
                out += chunk[i:]
                break
            out += chunk[i:j]
            self._dle = True
            i = j + 1
        return bytes(out)


@dataclass(frozen=True)
class Session:
    """One run of a program over its console."""

    status: int | None     # the program's exit status (None: it sent none)
    stderr: bytes          # the emulator's diagnostics
    returncode: int        # the emulator's own exit status
    ready: bool            # whether the board said it was ready


def _nonblocking(fd: int) -> None:
    os.set_blocking(fd, False)


def talk(cmd: Sequence[str], on_output: Callable[[bytes], None], input: bytes | None = None,
         input_fd: int | None = None, timeout: float | None = None, cwd: str | None = None) -> Session:
    """Run cmd (an emulator whose stdin/stdout are the board's UART), send it `input` (or what
    arrives on input_fd until its end) once the board is ready, then end of input; pass the
    program's output to on_output as it arrives. PqError when it runs past `timeout` seconds."""
    deadline = None if timeout is None else time.monotonic() + timeout
    proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd)
    unframer = Unframer()
    stderr = bytearray()
    pending = bytearray()
    source_done = input_fd is None
    if input is not None:
        pending += frame_input(input)
    if input_fd is None:
        pending += END_OF_INPUT
    sel = selectors.DefaultSelector()
    stdin_fd, stdout_fd, stderr_fd = proc.stdin.fileno(), proc.stdout.fileno(), proc.stderr.fileno()
    for fd in (stdin_fd, stdout_fd, stderr_fd):
        _nonblocking(fd)
    sel.register(stdout_fd, selectors.EVENT_READ)
    sel.register(stderr_fd, selectors.EVENT_READ)
    open_outputs = 2
    writing = reading_source = False
    stdin_open = True

    def close_stdin() -> None:
        nonlocal stdin_open, writing
        if writing:
            sel.unregister(stdin_fd)
            writing = False
        if stdin_open:
            try:
                proc.stdin.close()
            except OSError:
                pass
            stdin_open = False

    source_pollable = True

    def read_source() -> None:
        nonlocal source_done
        chunk = os.read(input_fd, _CHUNK)
        if chunk:
            pending.extend(frame_input(chunk))
        else:
            pending.extend(END_OF_INPUT)
            source_done = True

    try:
        while open_outputs:
            # send only after the ready mark; read the source only when what it gave is sent
            if unframer.ready and stdin_open:
                if pending and not writing:
                    sel.register(stdin_fd, selectors.EVENT_WRITE)
                    writing = True
                elif not pending and source_done:
                    close_stdin()
                if not source_done and not pending and not reading_source:
                    if source_pollable:
                        try:
                            sel.register(input_fd, selectors.EVENT_READ)
                            reading_source = True
                        except PermissionError:     # a regular file or /dev/null: always readable
                            source_pollable = False
                    if not source_pollable:
                        read_source()
                        continue
            wait = None if deadline is None else deadline - time.monotonic()
            if wait is not None and wait <= 0:
                raise TimeoutError
            for key, _ in sel.select(wait):
                fd = key.fd
                if fd == stdout_fd or fd == stderr_fd:
                    try:
                        chunk = os.read(fd, _CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        sel.unregister(fd)
                        open_outputs -= 1
                    elif fd == stderr_fd:
                        stderr += chunk
                    else:
                        data = unframer.feed(chunk)
                        if data:
                            on_output(data)
                elif fd == stdin_fd:
                    try:
                        n = os.write(stdin_fd, pending[:_CHUNK])
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        pending.clear()
                        source_done = True
                        close_stdin()
                        continue
                    del pending[:n]
                    if not pending:
                        sel.unregister(stdin_fd)
                        writing = False
                else:   # the input source
                    sel.unregister(fd)
                    reading_source = False
                    read_source()
        wait = None if deadline is None else max(0.0, deadline - time.monotonic())
        proc.wait(wait)
    except (TimeoutError, subprocess.TimeoutExpired):
        raise Timeout(f"the program did not finish within {timeout:g} s") from None
    finally:
        sel.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass
    return Session(status=unframer.status, stderr=bytes(stderr), returncode=proc.returncode,
                   ready=unframer.ready)


def main(argv: list[str] | None = None) -> int:
    """`python -m pqcompile.uart EMULATOR-COMMAND...`: stdin to the program, its output to
    stdout, its exit status as ours; emulator diagnostics on stderr."""
    cmd = sys.argv[1:] if argv is None else argv
    if not cmd:
        print("usage: python -m pqcompile.uart EMULATOR-COMMAND...", file=sys.stderr)
        return 2

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(1, view):]

    try:
        session = talk(cmd, write, input_fd=0)
    except (PqError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    sys.stderr.buffer.write(session.stderr)
    if session.status is None:
        print(f"error: {cmd[0]} ended (status {session.returncode}) without the program's exit status",
              file=sys.stderr)
        return session.returncode or 2
    return session.status


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
