"""Keep Apache TVM's own log lines out of pqcompile's output.

TVM's C++ logger writes straight to file descriptor 2 (std::cerr): the released wheels are built
without TVM_LOG_CUSTOMIZE, and TVM_LOG_DEBUG only switches DLOG/VLOG on, so nothing turns its
warnings off at run time. `tvm_log_captured()` points descriptor 2 at a temporary file while the
compiler runs, then drops TVM's warning, info and debug lines ("[12:00:00] file.cc:12: Warning:
...") and passes everything else written meanwhile (an "Error:" line, a Python warning, another
library's message) on to the real stderr. PQCOMPILE_TVM_LOG=1 passes everything.

The warnings a pqcompile build used to show:
- "topi/transform.h:1261: Warning: Fast mode segfaults when there are out-of-bounds indices":
  topi.take warns on every take in "fast" mode (relax.op.take's default; the importer maps ONNX
  Gather to it), whatever the indices. The kernel indexes the table unchecked. In pqcompile's own
  graphs the one such Gather is the attention softmax's exp table (256 entries) indexed by
  score - max + 255 with scores clipped to [-128, 127] and masked rows set to -128, so the index
  is in [0, 255] by construction (the fo-pool gate tables are read by their own kernel, index
  int8 + 128 or + 384 in a 512-entry table). A foreign ONNX Gather with negative (ONNX allows
  [-n, -1]) or unbounded indices would read outside its table with "fast" take, so the importer
  asks for mode="wrap" (ONNX's meaning of negative indices; nothing out of bounds), and the
  warning, printed only in fast mode, no longer appears.
- "block_builder.cc:67: Warning: BlockBuilder destroyed with remaining blocks!": an import that
  fails half-way (an unsupported operator) leaves the builder's function open; harmless.
"""
from __future__ import annotations

import gc
import os
import re
import sys
import tempfile
import traceback
from contextlib import contextmanager

# "[HH:MM:SS] file:line: " then "Warning: ", "Debug: " or nothing (info); "Error: " lines are kept.
_TVM_LOG_LINE = re.compile(rb"^\[\d\d:\d\d:\d\d\] \S+:\d+: (?!Error: )")

SHOW_ALL_ENV = "PQCOMPILE_TVM_LOG"


def _release_frames(exc: BaseException | None) -> None:
    """Drop the local variables of the finished frames an exception (and its cause and context)
    holds, so TVM objects in them (a BlockBuilder) are destroyed, and log, while captured."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        traceback.clear_frames(exc.__traceback__)
        exc = exc.__cause__ or exc.__context__
    gc.collect()


def kept_lines(captured: bytes) -> bytes:
    """What of the captured stderr output is not TVM's own logging."""
    return b"".join(line for line in captured.splitlines(keepends=True) if not _TVM_LOG_LINE.match(line))


@contextmanager
def tvm_log_captured():
    """Run the body with TVM's log lines held back (module docstring)."""
    if os.environ.get(SHOW_ALL_ENV) == "1":
        yield
        return
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:          # no stderr at all: nothing to keep clean
        yield
        return
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            except BaseException as e:
                _release_frames(e)
                raise
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                sink.seek(0)
                rest = kept_lines(sink.read())
                if rest:
                    os.write(2, rest)
    finally:
        os.close(saved)
