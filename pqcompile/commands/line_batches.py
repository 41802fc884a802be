"""Input lines for `pqcompile run`, in batches as they arrive, so a person typing lines gets each
answer at once and a large file still runs the device program on many lines at a time.

Lines end at b"\\n" only, like the device program's; at end of input an unterminated last line
counts as a line. Memory stays bounded: a batch holds about BATCH_BYTES of complete lines, and a
line keeps only its first MAX_LINE_BYTES bytes. The device reads at most the spec's
max_input_bytes (at most 65535) of a line and ignores the rest, so the cut changes no answer.
"""
from __future__ import annotations

import io
import os
import select
from typing import BinaryIO, Iterator

BATCH_BYTES = 64 * 1024
MAX_LINE_BYTES = 65536
_READ_BYTES = 64 * 1024


def _ready(fd: int) -> bool:
    """Whether reading fd now would not wait."""
    try:
        return bool(select.select([fd], [], [], 0)[0])
    except (OSError, ValueError):
        return False


class _Lines:
    """Complete lines collected from chunks, each cut to MAX_LINE_BYTES."""

    def __init__(self) -> None:
        self.done = bytearray()      # complete lines, each ending in b"\n"
        self.line = bytearray()      # the line still being read

    def add(self, chunk: bytes) -> None:
        *complete, rest = chunk.split(b"\n")
        for piece in complete:
            self._extend(piece)
            self.done += self.line + b"\n"
            self.line.clear()
        self._extend(rest)

    def _extend(self, piece: bytes) -> None:
        room = MAX_LINE_BYTES - len(self.line)
        if room > 0:
            self.line += piece[:room]

    def take(self) -> bytes:
        out = bytes(self.done)
        self.done.clear()
        return out


def fd_batches(fd: int) -> Iterator[bytes]:
    """Batches of complete lines read from fd: each is every line available without waiting
    (at least one, about BATCH_BYTES at most); the last may be an unterminated line."""
    lines = _Lines()
    while True:
        chunk = os.read(fd, _READ_BYTES)          # waits for the next input
        eof = not chunk
        lines.add(chunk)
        while not eof and len(lines.done) < BATCH_BYTES and _ready(fd):
            chunk = os.read(fd, _READ_BYTES)
            eof = not chunk
            lines.add(chunk)
        if lines.done:
            yield lines.take()
        if eof:
            break
    if lines.line:
        yield bytes(lines.line)


def input_batches(stream: BinaryIO) -> Iterator[bytes]:
    """fd_batches of a binary stream (stdin); a stream without a file descriptor is read whole."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        lines = _Lines()
        lines.add(stream.read())
        data = lines.take() + bytes(lines.line)
        if data:
            yield data
        return
    yield from fd_batches(fd)
