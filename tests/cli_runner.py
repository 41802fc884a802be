"""Run `pqcompile ARGS` through the CLI's entry function in this process: a subprocess would pay
torch's and TVM's imports each time. Exit codes, stdout and stderr are the real ones."""
from __future__ import annotations

import contextlib
import io
from typing import NamedTuple

from pqcompile.cli import main as cli_main


class CliResult(NamedTuple):
    returncode: int
    stdout: str
    stderr: str


def run_cli(*args, ok: bool = True) -> CliResult:
    """With ok=True (the default) the command must exit 0."""
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")    # `run` writes bytes to stdout.buffer
    err, code = io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            cli_main([str(a) for a in args])
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
    out.flush()
    result = CliResult(code, out.buffer.getvalue().decode("utf-8"), err.getvalue())
    if ok:
        assert code == 0, (result.stderr, result.stdout[:3000])
    return result
