"""The `pqcompile` command line: thin click commands, one module per stage in pqcompile/commands/.

Every command prints a readable report by default and one JSON object on stdout with --json.
Errors the user can fix (PqError) are one line on stderr and a non-zero exit, never a traceback;
so are operating-system errors (OSError) and Ctrl-C ("interrupted", exit 130), even during start-up.
"""
from __future__ import annotations

import importlib
import sys

import click

from . import __version__
from .errors import PqError

# Each module defines `COMMANDS`, a list of click commands (or groups) to register.
COMMAND_MODULES = [
    "pqcompile.commands.projection",
    "pqcompile.commands.data_report",
    "pqcompile.commands.export",
    "pqcompile.commands.build",
    "pqcompile.commands.bench",
    "pqcompile.commands.targets",
    "pqcompile.commands.verify_projection",
    "pqcompile.commands.train",
    "pqcompile.commands.evaluate",
    "pqcompile.commands.predict",
    "pqcompile.commands.teacher",
    "pqcompile.commands.demo",
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pqcompile")
def cli() -> None:
    """pqcompile: tiny embedding-free pQRNN text models -> bit-exact ARM firmware.

    The flow: text -> projection -> int8 network -> intent + slots, trained in PyTorch,
    exported to ONNX, compiled with Apache TVM into a static C program for Cortex-M/A.
    """


def _interrupted() -> None:
    click.echo("interrupted", err=True)
    sys.exit(130)


def _register_commands() -> None:
    for name in COMMAND_MODULES:
        for cmd in importlib.import_module(name).COMMANDS:
            cli.add_command(cmd)


try:      # cheap: the command modules import torch, TVM and onnx only inside the commands that use them
    _register_commands()
except KeyboardInterrupt:
    _interrupted()


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="pqcompile", standalone_mode=False)
    except PqError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(e.exit_code)
    except click.exceptions.Abort as e:   # click turns KeyboardInterrupt and EOFError into Abort
        if isinstance(e.__cause__, EOFError):
            click.echo(f"error: unexpected end of file{_detail(e.__cause__)}", err=True)
            sys.exit(1)
        _interrupted()
    except click.UsageError as e:     # one line too, not click's usage block
        hint = f" (see `{e.ctx.command_path} --help`)" if e.ctx is not None else ""
        click.echo(f"error: {e.format_message()}{hint}", err=True)
        sys.exit(e.exit_code)
    except click.ClickException as e:
        click.echo(f"error: {e.format_message()}", err=True)
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        _interrupted()
    except BrokenPipeError:
        sys.exit(0)
    except OSError as e:   # the environment, not pqcompile: a full disk, a permission, a vanished file
        where = f": {e.filename}" if e.filename else ""
        click.echo(f"error: {e.strerror or e}{where}", err=True)
        sys.exit(1)


def _detail(e: BaseException) -> str:
    return f" ({e})" if str(e) else ""


if __name__ == "__main__":
    main()
